/* badfd: a write to a bad destination fails exactly as the plain call would.
 * Before each case it reads the first 64 KiB of SRC afresh into the buffer,
 * so every write below is one the library could try to rewrite.  It writes
 * the chunk to DST (a good write, errno must stay as it was), then to:
 * an fd just close()d, an fd closed behind the library's back by fclose(),
 * fd 9999, the read-only source fd, a regular file through send() (not a
 * socket), and a stream socket shut down for writing (SIGPIPE ignored).
 * Prints one transcript line per call: return value and errno name. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHUNK 65536

static char buf[CHUNK];
static int src;

static void fill(void)
{
	if (lseek(src, 0, SEEK_SET) != 0 || read(src, buf, CHUNK) != CHUNK) {
		perror("badfd: read");
		_exit(2);
	}
}

static void report(const char *what, ssize_t r)
{
	const char *name = strerrorname_np(errno);
	printf("%-28s ret=%zd errno=%s\n", what, r, name ? name : "?");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int dst, fd, sv[2];
	FILE *f;
	ssize_t r;

	if (argc != 4) {
		fprintf(stderr, "usage: badfd SRC DST DST2\n");
		return 2;
	}
	src = open(argv[1], O_RDONLY);
	dst = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (src < 0 || dst < 0) {
		perror("badfd: open");
		return 2;
	}

	/* A good write must succeed and leave errno alone. */
	fill();
	errno = EDOM;
	r = write(dst, buf, CHUNK);
	report("write(dst)", r);

	/* An fd the library has seen in use, then close()d. */
	fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	fill();
	errno = EDOM;
	r = write(fd, buf, CHUNK);
	report("write(dst2)", r);
	close(fd);
	fill();
	r = write(fd, buf, CHUNK);
	report("write(closed fd)", r);
	fill();
	struct iovec iov = { buf, CHUNK };
	r = writev(fd, &iov, 1);
	report("writev(closed fd)", r);

	/* fclose() closes its fd inside libc, where no preload sees it. */
	f = fopen(argv[3], "a");
	fd = fileno(f);
	fclose(f);
	fill();
	r = write(fd, buf, CHUNK);
	report("write(fclosed fd)", r);

	fill();
	r = write(9999, buf, CHUNK);
	report("write(9999)", r);

	fill();
	r = write(src, buf, CHUNK);
	report("write(read-only src)", r);

	fill();
	r = send(dst, buf, CHUNK, 0);
	report("send(regular file)", r);

	signal(SIGPIPE, SIG_IGN);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0 || shutdown(sv[0], SHUT_WR) < 0) {
		perror("badfd: socketpair");
		return 2;
	}
	fill();
	r = write(sv[0], buf, CHUNK);
	report("write(shut-down socket)", r);
	fill();
	r = send(sv[0], buf, CHUNK, 0);
	report("send(shut-down socket)", r);
	return 0;
}
