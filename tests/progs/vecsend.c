/* vecsend: one writev() or sendmsg() per chunk that mixes plain memory (a
 * header, a trailer) with a buffer just read() from a file (the body), as
 * HTTP servers send a response head and a chunk of the file together.
 *
 *   vecsend [options] SRC OUT
 *
 * Each chunk goes out as the iovecs
 *   "chunk N offset O length L\r\n" | L bytes of SRC | ["\r\nend of chunk N\r\n"]
 * zcopy sends the header and trailer with the plain call and the body with
 * sendfile/splice/copy_file_range, corking TCP around the split.  A short
 * count is resumed from where it stopped, inside whichever iovec that is.
 *
 *   -d file|pipe|tcp|unix  destination (default tcp); OUT receives the bytes
 *   -w writev|sendmsg      the vector call (default writev; sendmsg: sockets)
 *   -t         add the trailer iovec
 *   -c BYTES   body bytes per chunk (default 65536)
 *   -N         non-blocking destination: on EAGAIN, poll() and resume
 *   -S BYTES   SO_SNDBUF of the sending socket
 *   -z USEC    the receiver reads 4096 bytes at a time, sleeping USEC after each
 *   -C         the program corks the TCP socket itself for the whole copy
 *   -B         the trailer iovec is a PROT_NONE page: make one vector call
 *              of the first chunk, print "bad trailer: r=R errno=E" to
 *              stderr, and stop (R and E are the kernel's to choose)
 *
 * At the end it prints to stderr "chunks=N short=S eagain=E": how many
 * vector calls returned a short count or EAGAIN.  Exit 1 on any failure. */
#include "sink.h"

#include <netinet/tcp.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/uio.h>

static int dst_fd;
static int use_sendmsg, nonblocking;
static long shorts, eagains;

static void usage(void)
{
	fprintf(stderr, "usage: vecsend [-d file|pipe|tcp|unix] [-w writev|sendmsg] [-t] [-c BYTES] [-N]"
			" [-S BYTES] [-z USEC] [-C] [-B] SRC OUT\n");
	exit(2);
}

static ssize_t vector_call(struct iovec *iov, int cnt)
{
	if (!use_sendmsg)
		return writev(dst_fd, iov, cnt);
	struct msghdr m;
	memset(&m, 0, sizeof m);
	m.msg_iov = iov;
	m.msg_iovlen = (size_t)cnt;
	return sendmsg(dst_fd, &m, 0);
}

/* All of iov[0..cnt), resuming inside an iovec after a short count. */
static void send_all(struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		size_t want = 0;
		for (int i = 0; i < cnt; i++)
			want += iov[i].iov_len;
		ssize_t r = vector_call(iov, cnt);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && nonblocking && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			eagains++;
			struct pollfd p = { .fd = dst_fd, .events = POLLOUT };
			if (poll(&p, 1, -1) < 0 && errno != EINTR)
				sink_die("poll");
			continue;
		}
		if (r < 0)
			sink_die(use_sendmsg ? "sendmsg" : "writev");
		if (r == 0) {
			errno = EIO;
			sink_die(use_sendmsg ? "sendmsg returned 0" : "writev returned 0");
		}
		if ((size_t)r < want)
			shorts++;
		for (size_t left = (size_t)r; left > 0;) {
			size_t step = left < iov[0].iov_len ? left : iov[0].iov_len;
			iov[0].iov_base = (char *)iov[0].iov_base + step;
			iov[0].iov_len -= step;
			left -= step;
			if (iov[0].iov_len == 0)
				iov++, cnt--;
		}
		while (cnt > 0 && iov[0].iov_len == 0)
			iov++, cnt--;
	}
}

int main(int argc, char **argv)
{
	struct sink_opts so = { 0 };
	int kind = SINK_TCP, trailer = 0, self_cork = 0, bad_trailer = 0, c;
	size_t chunk = 65536;

	while ((c = getopt(argc, argv, "d:w:tc:NS:z:CB")) != -1) {
		switch (c) {
		case 'd': if ((kind = sink_kind_of(optarg)) < 0) usage(); break;
		case 'w':
			if (strcmp(optarg, "sendmsg") == 0)
				use_sendmsg = 1;
			else if (strcmp(optarg, "writev") != 0)
				usage();
			break;
		case 't': trailer = 1; break;
		case 'c': chunk = strtoul(optarg, NULL, 10); break;
		case 'N': nonblocking = 1; break;
		case 'S': so.sndbuf = atoi(optarg); break;
		case 'z': so.sleep_us = atol(optarg); so.read_size = 4096; break;
		case 'C': self_cork = 1; break;
		case 'B': bad_trailer = trailer = 1; break;
		default: usage();
		}
	}
	if (argc - optind != 2 || chunk == 0 || (use_sendmsg && kind != SINK_TCP && kind != SINK_UNIX) ||
	    (self_cork && kind != SINK_TCP))
		usage();

	pid_t child;
	dst_fd = sink_open(kind, argv[optind + 1], &so, &child);
	int src = open(argv[optind], O_RDONLY);
	char *body = malloc(chunk);
	if (src < 0)
		sink_die("open SRC");
	if (!body)
		sink_die("malloc");
	if (nonblocking && fcntl(dst_fd, F_SETFL, fcntl(dst_fd, F_GETFL) | O_NONBLOCK) < 0)
		sink_die("fcntl O_NONBLOCK");
	if (self_cork && setsockopt(dst_fd, IPPROTO_TCP, TCP_CORK, &(int){ 1 }, sizeof(int)) < 0)
		sink_die("setsockopt TCP_CORK");

	char *unreadable = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (unreadable == MAP_FAILED)
		sink_die("mmap");
	long chunks = 0;
	off_t off = 0;
	for (;;) {
		ssize_t n = read(src, body, chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			sink_die("read");
		if (n == 0)
			break;
		char head[96], tail[64];
		struct iovec iov[3] = {
			{ head, (size_t)snprintf(head, sizeof head, "chunk %ld offset %lld length %zd\r\n", chunks,
						 (long long)off, n) },
			{ body, (size_t)n },
			{ tail, (size_t)snprintf(tail, sizeof tail, "\r\nend of chunk %ld\r\n", chunks) },
		};
		if (bad_trailer) {
			iov[2].iov_base = unreadable;
			ssize_t r = vector_call(iov, 3);
			fprintf(stderr, "bad trailer: r=%zd errno=%d\n", r, r < 0 ? errno : 0);
			break;
		}
		send_all(iov, trailer ? 3 : 2);
		off += n;
		chunks++;
	}
	if (self_cork && setsockopt(dst_fd, IPPROTO_TCP, TCP_CORK, &(int){ 0 }, sizeof(int)) < 0)
		sink_die("setsockopt TCP_CORK");
	if (close(dst_fd) < 0)
		sink_die("close");
	fprintf(stderr, "chunks=%ld short=%ld eagain=%ld\n", chunks, shorts, eagains);
	return sink_wait(child);
}
