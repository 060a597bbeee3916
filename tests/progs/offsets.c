/* offsets: both file offsets after a file-to-file copy loop are what the
 * plain loop leaves.  MODE picks the loop, 64 KiB chunks:
 *   rw      read(src) + write(dst)
 *   rw-hdr  as rw, after a 4-byte header write()n to dst first, so every
 *           copied chunk lands at an unaligned destination offset
 *   pread   pread(src, off) + write(dst): the source offset must stay 0
 *   pwrite  read(src) + pwrite(dst, off): the destination offset must stay 0
 * After every write it prints the return value and both fds' offsets, then
 * the final offsets. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define CHUNK 65536

static void show(const char *what, ssize_t r, int src, int dst)
{
	printf("%s %zd src=%jd dst=%jd\n", what, r,
	       (intmax_t)lseek(src, 0, SEEK_CUR), (intmax_t)lseek(dst, 0, SEEK_CUR));
}

int main(int argc, char **argv)
{
	static char buf[CHUNK];
	const char *mode;
	off_t off = 0;
	ssize_t n, w;
	int src, dst;

	if (argc != 4) {
		fprintf(stderr, "usage: offsets rw|rw-hdr|pread|pwrite SRC DST\n");
		return 2;
	}
	mode = argv[1];
	src = open(argv[2], O_RDONLY);
	dst = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (src < 0 || dst < 0) {
		perror("offsets: open");
		return 2;
	}
	if (strcmp(mode, "rw-hdr") == 0)
		show("header", write(dst, "HDR\n", 4), src, dst);

	for (;;) {
		if (strcmp(mode, "pread") == 0)
			n = pread(src, buf, CHUNK, off);
		else
			n = read(src, buf, CHUNK);
		if (n <= 0)
			break;
		if (strcmp(mode, "pwrite") == 0)
			w = pwrite(dst, buf, n, off);
		else
			w = write(dst, buf, n);
		show("write", w, src, dst);
		if (w != n)
			return 1;
		off += n;
	}
	if (n < 0) {
		perror("offsets: read");
		return 1;
	}
	show("end", 0, src, dst);
	return 0;
}
