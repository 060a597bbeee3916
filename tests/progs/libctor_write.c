/* libctor_write: a library whose constructor writes before main(), and
 * possibly before libzcopy's own constructor has run.  It write()s a text
 * line to fd 1, then, if CTOR_SRC names a file, copies that file to fd 1
 * with read()/write() in 64 KiB chunks.  ctor_main links against it. */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK 65536

static long copied = -1;

/* Bytes the constructor copied, or -1 when CTOR_SRC was unset. */
long ctor_write_copied(void)
{
	return copied;
}

static int write_all(const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, n);
		if (w < 0)
			return -1;
		p += w;
		n -= w;
	}
	return 0;
}

__attribute__((constructor)) static void ctor_write(void)
{
	static const char line[] = "ctor: before main\n";
	static char buf[CHUNK];
	const char *src = getenv("CTOR_SRC");
	ssize_t n;
	int fd;

	if (write_all(line, strlen(line)) < 0 || src == NULL)
		return;
	fd = open(src, O_RDONLY);
	if (fd < 0)
		return;
	copied = 0;
	while ((n = read(fd, buf, CHUNK)) > 0) {
		if (write_all(buf, n) < 0)
			break;
		copied += n;
	}
	close(fd);
}
