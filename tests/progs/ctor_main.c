/* ctor_main: the main program for libctor_write's constructor test.
 * By the time main() runs, the library's constructor has already written
 * to stdout (and copied CTOR_SRC there).  main() prints how many bytes the
 * constructor copied, then copies CTOR_SRC to stdout again, with read()
 * and write() in 64 KiB chunks. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#define CHUNK 65536

long ctor_write_copied(void);

int main(void)
{
	char buf[CHUNK];
	const char *src = getenv("CTOR_SRC");
	ssize_t n;
	int fd;

	dprintf(1, "main: constructor copied %ld bytes\n", ctor_write_copied());
	if (src == NULL)
		return 0;
	fd = open(src, O_RDONLY);
	if (fd < 0) {
		perror("ctor_main: open");
		return 2;
	}
	while ((n = read(fd, buf, CHUNK)) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(1, buf + off, n - off);
			if (w < 0) {
				perror("ctor_main: write");
				return 1;
			}
			off += w;
		}
	}
	return n < 0;
}
