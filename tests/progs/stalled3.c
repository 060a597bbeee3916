/* stalled3: one source sent into three pipes whose readers never read,
 * then the source overwritten.
 *   stalled3 SRC
 * reads SRC (at most 64 KiB) once and write()s it into three pipes, then
 * pwrite()s zeros over SRC.  Nobody reads the pipes: zcopy, having spliced
 * into them, waits before the pwrite for them to drain, and must give up
 * after one second for the whole call.  Exits 0. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char buf[65536];

int main(int argc, char **argv)
{
	int pipes[3][2];
	if (argc != 2) {
		fprintf(stderr, "usage: stalled3 SRC\n");
		return 2;
	}
	int fd = open(argv[1], O_RDWR);
	if (fd < 0) {
		perror("stalled3: open");
		return 1;
	}
	ssize_t n = read(fd, buf, sizeof buf);
	for (int i = 0; i < 3; i++) {
		/* 64 KiB fits in a default pipe: write() does not block. */
		if (pipe(pipes[i]) < 0 || write(pipes[i][1], buf, (size_t)n) != n) {
			perror("stalled3: pipe");
			return 1;
		}
	}
	memset(buf, 0, sizeof buf);
	if (pwrite(fd, buf, (size_t)n, 0) != n) {
		perror("stalled3: pwrite");
		return 1;
	}
	return 0;
}
