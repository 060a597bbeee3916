/*
 * byhand-writev-httpd: examples/writev-httpd, unchanged, with each writev()
 * of a head and a body chunk made by hand into what zcopy makes of it: the
 * head with send(MSG_MORE), the chunk with sendfile() from its file.  The
 * same fork per connection, the same read() of each chunk.  W4 runs it
 * beside zcopy trust to tell what sendfile costs in this server from what
 * zcopy's checks cost: zcopy makes the same calls, and its checks besides.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

static int body_openat(int dirfd, const char *path, int flags);
static ssize_t body_read(int fd, void *buf, size_t n);
static ssize_t body_writev(int fd, const struct iovec *iov, int cnt);
#define openat body_openat
#define read body_read
#define writev body_writev
#include "../../examples/writev-httpd.c"
#undef openat
#undef read
#undef writev

/* The file being sent, the chunk its last read() filled, and where. */
static int body_file = -1;
static off_t body_file_pos, chunk_off;
static const char *chunk_buf;
static size_t chunk_len;

static int body_openat(int dirfd, const char *path, int flags)
{
	int fd = openat(dirfd, path, flags);
	if (fd >= 0) {
		body_file = fd;
		body_file_pos = 0;
		chunk_len = 0;
	}
	return fd;
}

static ssize_t body_read(int fd, void *buf, size_t n)
{
	ssize_t r = read(fd, buf, n);
	if (fd == body_file && r > 0) {
		chunk_buf = buf;
		chunk_len = (size_t)r;
		chunk_off = body_file_pos;
		body_file_pos += r;
	}
	return r;
}

/* Bytes of the last chunk go by sendfile(), anything else (the head) by
 * send(), with MSG_MORE when more follows.  Stops where a call stops short,
 * as writev() would return a short count there. */
static ssize_t body_writev(int fd, const struct iovec *iov, int cnt)
{
	ssize_t done = 0;
	for (int i = 0; i < cnt; i++) {
		const char *p = iov[i].iov_base;
		ssize_t n;
		if (chunk_len && p >= chunk_buf && p < chunk_buf + chunk_len) {
			off_t at = chunk_off + (p - chunk_buf);
			n = sendfile(fd, body_file, &at, iov[i].iov_len);
		} else {
			n = send(fd, p, iov[i].iov_len, i + 1 < cnt ? MSG_MORE : 0);
		}
		if (n < 0)
			return done ? done : -1;
		done += n;
		if ((size_t)n < iov[i].iov_len)
			break;
	}
	return done;
}
