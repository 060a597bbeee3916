/* pipecopy: the plainest copy loop.  Copies FILE to stdout with read() and
 * write() in 64 KiB chunks; what the settings tests run under each
 * ZCOPY_* value.  Prints nothing else. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

#define CHUNK 65536

int main(int argc, char **argv)
{
	static char buf[CHUNK];
	ssize_t n;
	int fd;

	if (argc != 2 || (fd = open(argv[1], O_RDONLY)) < 0) {
		perror("pipecopy: open");
		return 2;
	}
	while ((n = read(fd, buf, sizeof buf)) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(1, buf + off, n - off);
			if (w < 0) {
				perror("pipecopy: write");
				return 1;
			}
			off += w;
		}
	}
	if (n < 0) {
		perror("pipecopy: read");
		return 1;
	}
	return 0;
}
