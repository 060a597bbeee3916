/* twoloops: two copy loops at two call sites, one zcopy can rewrite and one
 * it must not.
 *   twoloops SRC
 * copy_file_to_pipe() copies SRC in 64 KiB read()/write() chunks into a pipe
 * that a thread drains (a splice candidate).  copy_file_to_udp() copies SRC
 * in 32 KiB chunks to a connected UDP socket whose peer never reads
 * (datagrams: never rewritten).  Both are noinline so that each is its own
 * call site, named in zcopy's log and reports. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#define PIPE_CHUNK 65536
#define UDP_CHUNK  32768

static char buf[PIPE_CHUNK];

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void *drain(void *arg)
{
	static char sink[PIPE_CHUNK];
	int fd = *(int *)arg;
	while (read(fd, sink, sizeof sink) > 0)
		;
	return NULL;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0)
			die("twoloops: write");
		p += w;
		n -= (size_t)w;
	}
}

__attribute__((noinline, noclone)) static void copy_file_to_pipe(int in, int out)
{
	ssize_t n;
	while ((n = read(in, buf, PIPE_CHUNK)) > 0)
		write_all(out, buf, (size_t)n);
	if (n < 0)
		die("twoloops: read");
}

/* One write per datagram: a short write would split nothing, but check. */
__attribute__((noinline, noclone)) static void copy_file_to_udp(int in, int out)
{
	ssize_t n;
	while ((n = read(in, buf, UDP_CHUNK)) > 0)
		if (write(out, buf, (size_t)n) != n)
			die("twoloops: write udp");
	if (n < 0)
		die("twoloops: read");
}

static int udp_pair(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
	if (rx < 0 || tx < 0 || bind(rx, (struct sockaddr *)&a, sizeof a) < 0 ||
	    getsockname(rx, (struct sockaddr *)&a, &len) < 0 || connect(tx, (struct sockaddr *)&a, sizeof a) < 0)
		die("twoloops: udp socket");
	return tx;  /* rx stays open and unread: the kernel drops what overflows */
}

int main(int argc, char **argv)
{
	int p[2];
	pthread_t t;

	if (argc != 2) {
		fprintf(stderr, "usage: twoloops SRC\n");
		return 2;
	}
	if (pipe(p) < 0 || pthread_create(&t, NULL, drain, &p[0]) != 0)
		die("twoloops: pipe");
	int in = open(argv[1], O_RDONLY);
	if (in < 0)
		die("twoloops: open");
	copy_file_to_pipe(in, p[1]);
	close(p[1]);
	pthread_join(t, NULL);

	if (lseek(in, 0, SEEK_SET) < 0)
		die("twoloops: lseek");
	copy_file_to_udp(in, udp_pair());
	close(in);
	return 0;
}
