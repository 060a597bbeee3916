/* nosignal: send(..., MSG_NOSIGNAL) to a peer that has gone away returns
 * -1/EPIPE and raises no SIGPIPE.  SIGPIPE keeps its default disposition, so
 * a stray signal kills the process.
 *   nosignal unix|tcp send SRC
 * connects a stream socket pair, sends the first 64 KiB chunk of SRC with
 * send(MSG_NOSIGNAL) while a thread reads it (a rewrite the library can
 * make: the trace shows sendfile), the thread closes the peer, then sends
 * further chunks until one fails and prints that failure.
 *   nosignal unix|tcp write SRC
 * does the same with write() and no flag: there the plain call raises
 * SIGPIPE, and so must the rewrite (the process dies of it).
 *   nosignal unix|tcp pending SRC
 * blocks SIGPIPE, makes a plain 1-byte write() to the closed peer (its
 * SIGPIPE stays pending), then a send(MSG_NOSIGNAL) of a file chunk: that
 * send must fail with EPIPE and leave the program's own SIGPIPE pending. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 65536

static int peer;
static size_t peer_got;

/* Reads exactly the first chunk, then closes the peer with nothing unread
 * (so TCP sends a FIN, not a reset). */
static void *drain(void *arg)
{
	static char sink[CHUNK];
	size_t got = 0;
	ssize_t n;

	(void)arg;
	while (got < CHUNK && (n = read(peer, sink, CHUNK - got)) > 0)
		got += n;
	peer_got = got;
	close(peer);
	return NULL;
}

static const char *pending(void)
{
	sigset_t set;

	sigpending(&set);
	return sigismember(&set, SIGPIPE) ? "SIGPIPE pending" : "nothing pending";
}

/* The "pending" case, once the peer is gone. */
static int keep_pending(int s, int src, char *buf)
{
	sigset_t pipe_set;
	ssize_t r = 0;

	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &pipe_set, NULL);
	for (int i = 0; i < 1000 && r >= 0; i++)
		r = write(s, "x", 1);
	printf("write: %zd %s, %s\n", r, strerrorname_np(errno), pending());
	if (read(src, buf, CHUNK) != CHUNK)
		return 2;
	r = send(s, buf, CHUNK, MSG_NOSIGNAL);
	printf("send: %zd %s, %s\n", r, strerrorname_np(errno), pending());
	return 0;
}

static int tcp_pair(int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t len = sizeof sa;
	int l = socket(AF_INET, SOCK_STREAM, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	*a = socket(AF_INET, SOCK_STREAM, 0);
	if (*a < 0 || connect(*a, (struct sockaddr *)&sa, sizeof sa) < 0)
		return -1;
	*b = accept(l, NULL, NULL);
	close(l);
	return *b < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
	static char buf[CHUNK];
	int sv[2], src, use_write;
	pthread_t t;
	ssize_t n, r;

	if (argc != 4) {
		fprintf(stderr, "usage: nosignal unix|tcp send|write|pending SRC\n");
		return 2;
	}
	use_write = strcmp(argv[2], "write") == 0;
	if (strcmp(argv[1], "tcp") == 0 ? tcp_pair(&sv[0], &sv[1]) < 0
					: socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
		perror("nosignal: socket");
		return 2;
	}
	src = open(argv[3], O_RDONLY);
	if (src < 0 || read(src, buf, CHUNK) != CHUNK) {
		perror("nosignal: read");
		return 2;
	}
	peer = sv[1];
	pthread_create(&t, NULL, drain, NULL);
	r = use_write ? write(sv[0], buf, CHUNK) : send(sv[0], buf, CHUNK, MSG_NOSIGNAL);
	pthread_join(t, NULL);
	printf("first: %zd, peer read %zu and closed\n", r, peer_got);
	fflush(stdout);
	if (strcmp(argv[2], "pending") == 0)
		return keep_pending(sv[0], src, buf);

	/* TCP may accept a send or two before the peer's reset arrives, so
	 * only the failure is printed, never the count of sends before it. */
	for (int i = 0; i < 1000; i++) {
		n = read(src, buf, CHUNK);
		if (n < CHUNK) {	/* wrap round: every send is a full chunk */
			lseek(src, 0, SEEK_SET);
			n = read(src, buf, CHUNK);
		}
		r = use_write ? write(sv[0], buf, n) : send(sv[0], buf, n, MSG_NOSIGNAL);
		if (r < 0) {
			printf("then: %zd %s\n", r, strerrorname_np(errno));
			printf("alive\n");
			return 0;
		}
	}
	printf("then: no error after 1000 sends\n");
	return 1;
}
