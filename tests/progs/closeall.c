/* closeall: a daemon that closes every fd before it does any work.
 *   closeall SRC
 * calls close_range(3, ~0U, 0) (ignoring ENOSYS on old kernels), then, as
 * older daemons do, close()s every fd from 3 up to RLIMIT_NOFILE.  Only
 * then does it open SRC and copy it to stdout with read()/write() in
 * 64 KiB chunks.  Whatever fds the library opened early are gone. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <unistd.h>

#define CHUNK 65536

int main(int argc, char **argv)
{
	static char buf[CHUNK];
	struct rlimit rl;
	ssize_t n;
	int in;

	if (argc != 2) {
		fprintf(stderr, "usage: closeall SRC\n");
		return 2;
	}
	if (close_range(3, ~0U, 0) < 0 && errno != ENOSYS) {
		perror("closeall: close_range");
		return 2;
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0) {
		perror("closeall: getrlimit");
		return 2;
	}
	for (rlim_t fd = 3; fd < rl.rlim_cur && fd < (1u << 20); fd++)
		close((int)fd);

	in = open(argv[1], O_RDONLY);
	if (in < 0) {
		perror("closeall: open");
		return 2;
	}
	while ((n = read(in, buf, CHUNK)) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(1, buf + off, n - off);
			if (w < 0) {
				perror("closeall: write");
				return 1;
			}
			off += w;
		}
	}
	return n < 0;
}
