/* copyloop: the copy loops that legacy programs use, one option per variant.
 *
 *   copyloop [options] SRC OUT
 *
 * Copies SRC to a destination of the chosen kind with read()/pread()/readv()
 * into a buffer followed by write()/send()/writev()/sendmsg()/pwrite() of that
 * buffer: the pattern zcopy rewrites.  For socket and pipe destinations a
 * receiver child, forked before SRC is opened, reads its end and writes what
 * arrives to OUT with plain write(); for file destinations OUT is opened here.
 * Other options show what zcopy must refuse: a changed buffer (-M), a source
 * rewritten between read and write (-R), an fd reused behind the library's
 * back (-F, -D).  Every failing call prints "copyloop: <call>: <strerror>"
 * and exits 1; a usage error exits 2.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_GATHER 16
#define RECV_BUF   65536
#define UDP_MAX    60000
/* A receiver that hears nothing for this long gives up (UDP only). */
#define UDP_TIMEOUT_S 5

enum dst_kind { D_FILE, D_APPEND, D_STDOUT, D_TCP, D_UNIX, D_PIPE, D_UDP };
enum rd_call { R_READ, R_PREAD, R_READV };
enum wr_call { W_WRITE, W_SEND, W_SENDNOSIG, W_WRITEV, W_SENDMSG, W_PWRITE };

static const char *const dst_names[] = { "file", "append", "stdout", "tcp", "unix", "pipe", "udp" };
static const char *const rd_names[] = { "read", "pread", "readv" };
static const char *const wr_names[] = { "write", "send", "sendnosig", "writev", "sendmsg", "pwrite" };

static struct {
	enum dst_kind dst;
	enum rd_call rd;
	enum wr_call wr;
	size_t chunk;
	size_t skip;            /* -k */
	int gather;             /* -g, 0 = off */
	int twobufs;            /* -2 */
	int mutate;             /* -M: 0 none, 1 all, 2 one */
	const char *rewrite;    /* -R */
	const char *reuse;      /* -F */
	const char *dup;        /* -D */
	int nonblock;           /* -N */
	int sndbuf;             /* -S */
	long sleep_us;          /* -z */
	long first_sleep_us;    /* -Z */
	int offsets;            /* -P */
	int after;              /* -A */
	const char *after_how;  /* -H */
	int fork_copy;          /* -X */
	int null_dest;          /* -Y */
	int close_dest;         /* -C */
} opt = { .dst = D_FILE, .rd = R_READ, .wr = W_WRITE, .chunk = 65536 };

static int src_fd = -1, dst_fd = -1, rewrite_fd = -1;
static off_t src_off, dst_off;  /* bytes read from SRC; dest offset for pwrite */
static char *scratch;           /* -R: the different bytes written over SRC */

static void die(const char *call)
{
	fprintf(stderr, "copyloop: %s: %s\n", call, strerror(errno));
	exit(1);
}

static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "copyloop: %s\n", why);
	fprintf(stderr,
		"usage: copyloop [options] SRC OUT\n"
		"  -d tcp|unix|pipe|udp|file|append|stdout  destination (default file; stdout: OUT is -)\n"
		"  -r read|pread|readv       source call (default read)\n"
		"  -w write|send|sendnosig|writev|sendmsg|pwrite  sink call (default write)\n"
		"  -c BYTES   chunk size (default 65536)\n"
		"  -k BYTES   write each chunk without its first BYTES bytes\n"
		"  -g N       read N chunks into N buffers, send them with one writev/sendmsg\n"
		"  -2         two buffers: read the next chunk before writing the current one\n"
		"  -M all|one change the buffer between read and write\n"
		"  -R PATH    overwrite the range just read through PATH (= SRC) before the write\n"
		"  -F PATH    after the first read: fdopen+fclose the source fd, fopen PATH, write, stop\n"
		"  -D PATH    after the first read: dup2 PATH over the source fd, write, stop\n"
		"  -N         non-blocking destination; poll and resume inside the buffer\n"
		"  -S BYTES   SO_SNDBUF of the sending socket\n"
		"  -z USEC    the receiver sleeps USEC between its reads\n"
		"  -Z USEC    the receiver sleeps USEC before its first read\n"
		"  -P         print \"offsets src=N dst=N\" to stderr at the end\n"
		"  -A         after the copy, overwrite all of SRC in place (its bytes may still\n"
		"             be in the pipe or socket: the receiver must get the old ones)\n"
		"  -H HOW     how -A overwrites: pwrite (default), pwritev, pwritev2, fallocate\n"
		"             (zeroes the range), otrunc (open O_TRUNC, then write), fwrite\n"
		"  -X         the copy runs in a forked child; this process waits for it, then\n"
		"             goes on (-A: the parent overwrites what its child sent)\n"
		"  -Y         after the copy, dup2 /dev/null over the destination fd (before -A)\n"
		"  -C         after the copy, close() the destination fd (before -A)\n");
	exit(2);
}

static size_t parse_size(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		usage(what);
	return (size_t)v;
}

static int pick(const char *s, const char *const *names, int n, const char *what)
{
	for (int i = 0; i < n; i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	usage(what);
	return -1;
}

/* -X: the copy loop runs in a child, which exits when done. */
static void copy_loop(char **bufs);
static void copy_in_child(char **bufs)
{
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		copy_loop(bufs);
		_exit(0);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "copyloop: the copying child failed (status %d)\n", st);
		exit(1);
	}
}

/* -A: the program changes its own file right after sending it, while the
 * receiver (slowed by -z) has not read everything yet. */
static void overwrite_source(const char *src, char *buf)
{
	const char *how = opt.after_how ? opt.after_how : "pwrite";
	off_t size = lseek(src_fd, 0, SEEK_END);
	int otrunc = strcmp(how, "otrunc") == 0;
	int fd = open(src, O_WRONLY | (otrunc ? O_TRUNC : 0));
	if (fd < 0)
		die("open -A");
	memset(buf, 'Z', opt.chunk);
	if (strcmp(how, "fallocate") == 0) {
		if (fallocate(fd, FALLOC_FL_ZERO_RANGE, 0, size) < 0)
			die("fallocate -A");
		close(fd);
		return;
	}
	FILE *stream = strcmp(how, "fwrite") == 0 ? fdopen(fd, "w") : NULL;
	for (off_t off = 0; off < size;) {
		size_t n = size - off < (off_t)opt.chunk ? (size_t)(size - off) : opt.chunk;
		struct iovec iov = { buf, n };
		ssize_t w;
		if (strcmp(how, "pwrite") == 0)
			w = pwrite(fd, buf, n, off);
		else if (strcmp(how, "pwritev") == 0)
			w = pwritev(fd, &iov, 1, off);
		else if (strcmp(how, "pwritev2") == 0)
			w = pwritev2(fd, &iov, 1, off, 0);
		else if (otrunc)
			w = write(fd, buf, n);
		else if (stream)
			w = fwrite(buf, 1, n, stream) == n ? (ssize_t)n : -1;
		else
			usage("bad -H");
		if (w < 0)
			die("write -A");
		off += w;
	}
	if (stream)
		fclose(stream);
	else
		close(fd);
}

/* ---- destinations and the receiver child -------------------------------- */

static int is_socket_kind(void)
{
	return opt.dst == D_TCP || opt.dst == D_UNIX || opt.dst == D_UDP;
}

static int is_file_kind(void)
{
	return opt.dst == D_FILE || opt.dst == D_APPEND || opt.dst == D_STDOUT;
}

static void set_sndbuf(int fd)
{
	if (opt.sndbuf && setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &opt.sndbuf, sizeof opt.sndbuf) < 0)
		die("setsockopt SO_SNDBUF");
}

static struct sockaddr_in loopback(void)
{
	struct sockaddr_in a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* Fills end[0] (sender) and end[1] (receiver). */
static void make_channel(int end[2])
{
	struct sockaddr_in a = loopback(), b = loopback();
	socklen_t len = sizeof a;
	int l;

	switch (opt.dst) {
	case D_TCP:
		if ((l = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			die("socket");
		if (bind(l, (struct sockaddr *)&a, sizeof a) < 0)
			die("bind");
		if (listen(l, 1) < 0)
			die("listen");
		if (getsockname(l, (struct sockaddr *)&a, &len) < 0)
			die("getsockname");
		if ((end[0] = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			die("socket");
		set_sndbuf(end[0]);
		/* The backlog completes the handshake, so accept after connect. */
		if (connect(end[0], (struct sockaddr *)&a, sizeof a) < 0)
			die("connect");
		if ((end[1] = accept(l, NULL, NULL)) < 0)
			die("accept");
		close(l);
		break;
	case D_UNIX:
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, end) < 0)
			die("socketpair");
		set_sndbuf(end[0]);
		break;
	case D_PIPE: {
		int p[2];
		if (pipe(p) < 0)
			die("pipe");
		end[0] = p[1];
		end[1] = p[0];
		break;
	}
	case D_UDP:
		if ((end[0] = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
		    (end[1] = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
			die("socket");
		if (bind(end[0], (struct sockaddr *)&a, sizeof a) < 0 ||
		    bind(end[1], (struct sockaddr *)&b, sizeof b) < 0)
			die("bind");
		if (getsockname(end[0], (struct sockaddr *)&a, &len) < 0 ||
		    (len = sizeof b, getsockname(end[1], (struct sockaddr *)&b, &len) < 0))
			die("getsockname");
		if (connect(end[0], (struct sockaddr *)&b, sizeof b) < 0 ||
		    connect(end[1], (struct sockaddr *)&a, sizeof a) < 0)
			die("connect");
		set_sndbuf(end[0]);
		break;
	default:
		abort();
	}
}

static void write_plain(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = write(fd, p, n);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			die("write");
		}
		p += r;
		n -= (size_t)r;
	}
}

/* The child: everything from its end of the channel goes to OUT.  For UDP
 * it acknowledges each datagram (TFTP-style lockstep, so no datagram is
 * dropped by a full receive queue) and stops at an empty datagram. */
static void receiver(int fd, const char *out)
{
	int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char *buf = malloc(RECV_BUF);
	if (ofd < 0)
		die("open OUT");
	if (!buf)
		die("malloc");
	if (opt.dst == D_UDP) {
		struct timeval tv = { .tv_sec = UDP_TIMEOUT_S };
		if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
			die("setsockopt SO_RCVTIMEO");
	}
	if (opt.first_sleep_us)
		usleep((useconds_t)opt.first_sleep_us);
	for (;;) {
		ssize_t n = opt.dst == D_UDP ? recv(fd, buf, RECV_BUF, 0) : read(fd, buf, RECV_BUF);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (opt.dst == D_UDP && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;  /* timeout: the terminator never came */
			die(opt.dst == D_UDP ? "recv" : "read");
		}
		if (n == 0)
			break;
		write_plain(ofd, buf, (size_t)n);
		if (opt.dst == D_UDP && send(fd, "a", 1, 0) < 0)
			die("send ack");
		if (opt.sleep_us)
			usleep((useconds_t)opt.sleep_us);
	}
	if (close(ofd) < 0)
		die("close OUT");
	_exit(0);
}

static pid_t start_receiver(const char *out)
{
	int end[2];
	make_channel(end);
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		close(end[0]);
		receiver(end[1], out);
	}
	close(end[1]);
	dst_fd = end[0];
	return pid;
}

/* ---- the copy loop ------------------------------------------------------- */

static size_t src_read(char *b, size_t len)
{
	ssize_t n;
	struct iovec iov[2] = {
		{ b, len / 2 },
		{ b + len / 2, len - len / 2 },
	};
	do {
		switch (opt.rd) {
		case R_READ:  n = read(src_fd, b, len); break;
		case R_PREAD: n = pread(src_fd, b, len, src_off); break;
		default:      n = readv(src_fd, iov, 2); break;
		}
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		die(rd_names[opt.rd]);
	return (size_t)n;
}

/* What happens between a read of [off, off+n) into b and its write. */
static void after_read(char *b, size_t n, off_t off)
{
	if (opt.rewrite && n > 0) {
		for (size_t i = 0; i < n; i++)
			scratch[i] = (char)~b[i];
		for (size_t done = 0; done < n;) {
			ssize_t r = pwrite(rewrite_fd, scratch + done, n - done, off + (off_t)done);
			if (r < 0) {
				if (errno == EINTR)
					continue;
				die("pwrite");
			}
			done += (size_t)r;
		}
	}
	if (opt.mutate == 1)
		for (size_t i = 0; i < n; i++)
			b[i] ^= 0x5a;
	else if (opt.mutate == 2 && n > 0)
		b[n / 2] ^= (char)0xff;
}

static ssize_t sink_once(struct iovec *iov, int cnt)
{
	struct msghdr m;
	switch (opt.wr) {
	case W_WRITE:     return write(dst_fd, iov[0].iov_base, iov[0].iov_len);
	case W_SEND:      return send(dst_fd, iov[0].iov_base, iov[0].iov_len, 0);
	case W_SENDNOSIG: return send(dst_fd, iov[0].iov_base, iov[0].iov_len, MSG_NOSIGNAL);
	case W_WRITEV:    return writev(dst_fd, iov, cnt);
	case W_SENDMSG:
		memset(&m, 0, sizeof m);
		m.msg_iov = iov;
		m.msg_iovlen = (size_t)cnt;
		return sendmsg(dst_fd, &m, 0);
	default:          return pwrite(dst_fd, iov[0].iov_base, iov[0].iov_len, dst_off);
	}
}

static void wait_writable(void)
{
	struct pollfd p = { .fd = dst_fd, .events = POLLOUT };
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			die("poll");
}

/* Sends iov[0..cnt) in full.  After a short count the next call starts inside
 * the buffer where the last one stopped, as real servers do. */
static void send_all(struct iovec *iov, int cnt)
{
	int any = 0;
	while (cnt > 0 && iov[0].iov_len == 0)
		iov++, cnt--;
	while (cnt > 0) {
		any = 1;
		ssize_t r = sink_once(iov, cnt);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (opt.nonblock && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				wait_writable();
				continue;
			}
			die(wr_names[opt.wr]);
		}
		if (r == 0) {
			errno = EIO;
			die(wr_names[opt.wr]);
		}
		dst_off += r;
		for (size_t left = (size_t)r; left > 0;) {
			if (left >= iov[0].iov_len) {
				left -= iov[0].iov_len;
				iov++, cnt--;
			} else {
				iov[0].iov_base = (char *)iov[0].iov_base + left;
				iov[0].iov_len -= left;
				left = 0;
			}
		}
		while (cnt > 0 && iov[0].iov_len == 0)
			iov++, cnt--;
		if (cnt > 0 && opt.nonblock)
			wait_writable();
	}
	if (any && opt.dst == D_UDP) {
		char ack;
		while (recv(dst_fd, &ack, 1, 0) < 0)
			if (errno != EINTR)
				die("recv ack");
	}
}

/* The part of a chunk that is written: all of it after the first -k bytes. */
static struct iovec part(char *b, size_t n)
{
	struct iovec v = { b, 0 };
	if (n > opt.skip) {
		v.iov_base = b + opt.skip;
		v.iov_len = n - opt.skip;
	}
	return v;
}

static size_t read_chunk(char *b)
{
	off_t off = src_off;
	size_t n = src_read(b, opt.chunk);
	src_off += (off_t)n;
	after_read(b, n, off);
	return n;
}

static void send_chunk(char *b, size_t n)
{
	struct iovec v = part(b, n);
	send_all(&v, 1);
}

/* -F / -D: the source fd changes file after the first read; only the first
 * chunk is written. */
static FILE *first_chunk_then_swap(char *b)
{
	FILE *reopened = NULL;
	size_t n = read_chunk(b);
	if (opt.reuse) {
		FILE *f = fdopen(src_fd, "r");
		if (!f)
			die("fdopen");
		/* glibc closes the fd internally: no preload sees this close. */
		if (fclose(f) != 0)
			die("fclose");
		if (!(reopened = fopen(opt.reuse, "r")))
			die("fopen");
		if (fileno(reopened) != src_fd) {
			fprintf(stderr, "copyloop: fopen: got fd %d, not the reused fd %d\n",
				fileno(reopened), src_fd);
			exit(1);
		}
	} else {
		int t = open(opt.dup, O_RDONLY);
		if (t < 0)
			die("open");
		if (dup2(t, src_fd) < 0)
			die("dup2");
		close(t);
	}
	send_chunk(b, n);
	return reopened;
}

static void copy_loop(char **bufs)
{
	if (opt.gather) {
		size_t n[MAX_GATHER];
		struct iovec iov[MAX_GATHER];
		for (int eof = 0; !eof;) {
			int cnt = 0;
			for (int i = 0; i < opt.gather; i++) {
				if ((n[i] = read_chunk(bufs[i])) == 0) {
					eof = 1;
					break;
				}
				iov[cnt++] = part(bufs[i], n[i]);
			}
			send_all(iov, cnt);
		}
	} else if (opt.twobufs) {
		int cur = 0;
		size_t n = read_chunk(bufs[0]);
		while (n > 0) {
			/* Read ahead into the other buffer, then write this one. */
			size_t next = read_chunk(bufs[1 - cur]);
			send_chunk(bufs[cur], n);
			cur = 1 - cur;
			n = next;
		}
	} else {
		size_t n;
		while ((n = read_chunk(bufs[0])) > 0)
			send_chunk(bufs[0], n);
	}
}

int main(int argc, char **argv)
{
	int c;
	while ((c = getopt(argc, argv, "d:r:w:c:k:g:2M:R:F:D:NS:z:Z:PAH:XYC")) != -1) {
		switch (c) {
		case 'd': opt.dst = pick(optarg, dst_names, 7, "bad -d"); break;
		case 'r': opt.rd = pick(optarg, rd_names, 3, "bad -r"); break;
		case 'w': opt.wr = pick(optarg, wr_names, 6, "bad -w"); break;
		case 'c': opt.chunk = parse_size(optarg, "bad -c"); break;
		case 'k': opt.skip = parse_size(optarg, "bad -k"); break;
		case 'g': opt.gather = (int)parse_size(optarg, "bad -g"); break;
		case '2': opt.twobufs = 1; break;
		case 'M':
			if (strcmp(optarg, "all") == 0)
				opt.mutate = 1;
			else if (strcmp(optarg, "one") == 0)
				opt.mutate = 2;
			else
				usage("bad -M");
			break;
		case 'R': opt.rewrite = optarg; break;
		case 'F': opt.reuse = optarg; break;
		case 'D': opt.dup = optarg; break;
		case 'N': opt.nonblock = 1; break;
		case 'S': opt.sndbuf = (int)parse_size(optarg, "bad -S"); break;
		case 'z': opt.sleep_us = (long)parse_size(optarg, "bad -z"); break;
		case 'Z': opt.first_sleep_us = (long)parse_size(optarg, "bad -Z"); break;
		case 'P': opt.offsets = 1; break;
		case 'A': opt.after = 1; break;
		case 'H': opt.after_how = optarg; break;
		case 'X': opt.fork_copy = 1; break;
		case 'Y': opt.null_dest = 1; break;
		case 'C': opt.close_dest = 1; break;
		default: usage(NULL);
		}
	}
	if (argc - optind != 2)
		usage(NULL);
	const char *src = argv[optind], *out = argv[optind + 1];

	if (opt.chunk == 0)
		usage("-c must be > 0");
	if (opt.skip >= opt.chunk)
		usage("-k must be smaller than -c");
	if (opt.gather < 0 || opt.gather > MAX_GATHER)
		usage("-g takes 1..16");
	if (opt.gather && opt.wr != W_WRITEV && opt.wr != W_SENDMSG)
		usage("-g needs -w writev (or sendmsg)");
	if (!!opt.gather + opt.twobufs + !!opt.reuse + !!opt.dup > 1)
		usage("-g, -2, -F and -D exclude each other");
	if (opt.wr == W_PWRITE && !is_file_kind())
		usage("-w pwrite needs a file destination");
	if ((opt.wr == W_SEND || opt.wr == W_SENDNOSIG || opt.wr == W_SENDMSG) && !is_socket_kind())
		usage("-w send/sendnosig/sendmsg need a socket destination");
	if ((opt.sndbuf || opt.sleep_us || opt.first_sleep_us) && !is_socket_kind() && opt.dst != D_PIPE)
		usage("-S, -z and -Z need a socket or pipe destination");
	if (opt.sndbuf && !is_socket_kind())
		usage("-S needs a socket destination");
	if (opt.dst == D_UDP && opt.chunk * (size_t)(opt.gather ? opt.gather : 1) > UDP_MAX)
		usage("-d udp sends datagrams of at most 60000 bytes: lower -c");

	/* The receiver is forked before SRC is opened, so it holds no file fd. */
	pid_t child = -1;
	switch (opt.dst) {
	case D_FILE:
		dst_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		break;
	case D_APPEND:
		dst_fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
		break;
	case D_STDOUT:
		dst_fd = STDOUT_FILENO;
		break;
	default:
		child = start_receiver(out);
	}
	if (dst_fd < 0)
		die("open OUT");
	if (opt.nonblock) {
		int fl = fcntl(dst_fd, F_GETFL);
		if (fl < 0 || fcntl(dst_fd, F_SETFL, fl | O_NONBLOCK) < 0)
			die("fcntl O_NONBLOCK");
	}

	if ((src_fd = open(src, O_RDONLY)) < 0)
		die("open SRC");
	if (opt.rewrite && (rewrite_fd = open(opt.rewrite, O_WRONLY)) < 0)
		die("open -R");

	int nbufs = opt.gather ? opt.gather : opt.twobufs ? 2 : 1;
	char *bufs[MAX_GATHER];
	for (int i = 0; i < nbufs; i++)
		if (!(bufs[i] = malloc(opt.chunk)))
			die("malloc");
	if (opt.rewrite && !(scratch = malloc(opt.chunk)))
		die("malloc");

	FILE *reopened = NULL;
	if (opt.reuse || opt.dup)
		reopened = first_chunk_then_swap(bufs[0]);
	else if (opt.fork_copy)
		copy_in_child(bufs);
	else
		copy_loop(bufs);

	if (opt.dst == D_UDP && send(dst_fd, "", 0, 0) < 0)
		die("send");
	if (opt.null_dest) {
		int null = open("/dev/null", O_WRONLY);
		if (null < 0 || dup2(null, dst_fd) < 0)
			die("dup2 /dev/null");
		close(null);
	}
	if (opt.close_dest) {
		if (close(dst_fd) < 0)
			die("close");
		dst_fd = -1;
	}
	if (opt.after)
		overwrite_source(src, bufs[0]);
	if (opt.offsets)
		fprintf(stderr, "offsets src=%lld dst=%lld\n",
			(long long)lseek(src_fd, 0, SEEK_CUR),
			(long long)lseek(dst_fd, 0, SEEK_CUR));

	for (int i = 0; i < nbufs; i++)
		free(bufs[i]);
	free(scratch);
	if (reopened)
		fclose(reopened);
	else
		close(src_fd);
	if (dst_fd >= 0 && dst_fd != STDOUT_FILENO && close(dst_fd) < 0)
		die("close");
	if (child > 0) {
		int st;
		while (waitpid(child, &st, 0) < 0)
			if (errno != EINTR)
				die("waitpid");
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "copyloop: receiver: failed (status %d)\n", st);
			return 1;
		}
	}
	return 0;
}
