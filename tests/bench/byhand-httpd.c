/*
 * byhand-httpd: examples/legacy-httpd, unchanged, with its body write()s
 * made sendfile() by hand: the same poll loop, the same read() of each
 * chunk, one call per POLLOUT wakeup.  W4 runs it beside zcopy trust to
 * tell what sendfile costs in this loop from what zcopy's checks cost.
 */
#define _GNU_SOURCE
#include <sys/sendfile.h>
#include <unistd.h>

static ssize_t body_write(int fd, const void *p, size_t n);
#define write body_write
#include "../../examples/legacy-httpd.c"
#undef write

/* A write from a connection's chunk buffer becomes sendfile() of the same
 * bytes from its file: the chunk starts buf_len bytes before the file
 * offset its read() left.  Any other write (the head) stays write(). */
static ssize_t body_write(int fd, const void *p, size_t n)
{
	for (int i = 0; i < MAX_CONN; i++) {
		struct conn *c = &conns[i];
		if (c->st != ST_FREE && c->fd == fd && c->file >= 0 && (const char *)p >= c->buf &&
		    (const char *)p < c->buf + c->buf_len) {
			off_t at = lseek(c->file, 0, SEEK_CUR) - (off_t)c->buf_len + ((const char *)p - c->buf);
			return sendfile(fd, c->file, &at, n);
		}
	}
	return write(fd, p, n);
}
