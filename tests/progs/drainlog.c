/* drainlog: a server's copy, then its access log.
 *   drainlog SRC LOG
 * reads 256 KiB of SRC and write()s it to stdout (a pipe its reader
 * drains), waits 300 ms, then: getppid(), a write to LOG, getppid(), two
 * writes to LOG, getppid().  The getppid() calls mark the phases in an
 * strace log. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

static char buf[262144];

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: drainlog SRC LOG\n");
		return 2;
	}
	int src = open(argv[1], O_RDONLY);
	int log = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (src < 0 || log < 0) {
		perror("drainlog: open");
		return 1;
	}
	ssize_t n = read(src, buf, sizeof buf);
	for (ssize_t off = 0; off < n;) {
		ssize_t w = write(1, buf + off, (size_t)(n - off));
		if (w < 0) {
			perror("drainlog: write");
			return 1;
		}
		off += w;
	}
	usleep(300000);
	getppid();
	write(log, "GET /\n", 6);
	getppid();
	write(log, "GET /\n", 6);
	write(log, "GET /\n", 6);
	getppid();
	return 0;
}
