/* stdio copy loops: fread(buf, 1, N, in) then fwrite(buf, 1, n, out).
 * glibc moves the bytes with internal read/write calls no preload sees, so
 * the stream calls themselves are hooked.
 *
 * fread: remembered like a read, at the stream's logical offset (ftello
 * counts what stdio still holds buffered).
 * fwrite: rewritten only where the plain fwrite would bypass the stream's
 * buffer anyway (the write is at least as large as the buffer), on a
 * write-only byte stream.  What is already buffered goes out first
 * (fflush), so the order stays exact; whatever the fast call does not finish
 * is handed to the plain fwrite, which sets the error indicator and errno
 * itself.  Afterwards stdio's cached offset is invalidated, so ftell asks
 * the kernel. */
#include "zcopy.h"

#include <errno.h>

/* libio's flag bits and "offset unknown" (glibc's libio.h, stable ABI). */
#define STDIO_NO_READS 0x0004
#define STDIO_ERR_SEEN 0x0020
#define STDIO_OFFSET_UNKNOWN ((off64_t)-1)

/* Before the real functions are known, glibc's own aliases serve. */
extern size_t _IO_fread(void *buf, size_t size, size_t n, FILE *in);
extern size_t _IO_fwrite(const void *buf, size_t size, size_t n, FILE *out);

static size_t note_fread(FILE *in, void *buf, size_t size, size_t got)
{
    size_t bytes = got * size;
    if (!bytes || !zc_active() || zc_depth)
        return got;
    if (bytes < zc_track_floor()) {
        zc_note_overwrite(buf, (ssize_t)bytes);
        return got;
    }
    int saved_errno = errno;
    off_t end = ftello(in);
    int fd = fileno_unlocked(in);
    if (end >= (off_t)bytes && fd >= 0)
        zc_note_read(fd, buf, (ssize_t)bytes, end - (off_t)bytes);
    else
        zc_note_overwrite(buf, (ssize_t)bytes);
    errno = saved_errno;
    return got;
}

EXPORT size_t fread(void *buf, size_t size, size_t n, FILE *in)
{
    if (!zc_ready())
        return _IO_fread(buf, size, n, in);
    return note_fread(in, buf, size, real_fread(buf, size, n, in));
}

EXPORT size_t fread_unlocked(void *buf, size_t size, size_t n, FILE *in)
{
    if (!zc_ready())
        return _IO_fread(buf, size, n, in);
    return note_fread(in, buf, size, real_fread_unlocked(buf, size, n, in));
}

EXPORT size_t __fread_chk(void *buf, size_t buflen, size_t size, size_t n, FILE *in)
{
    if (!zc_ready())
        return _IO_fread(buf, size, n, in);
    return note_fread(in, buf, size, real___fread_chk(buf, buflen, size, n, in));
}

EXPORT size_t __fread_unlocked_chk(void *buf, size_t buflen, size_t size, size_t n, FILE *in)
{
    if (!zc_ready())
        return _IO_fread(buf, size, n, in);
    return note_fread(in, buf, size, real___fread_unlocked_chk(buf, buflen, size, n, in));
}

/* The caller holds the stream's lock.  Returns items written. */
static size_t fwrite_locked(const void *buf, size_t size, size_t n, FILE *out, const void *site)
{
    size_t total;
    /* Into a file whose bytes may be in flight: glibc writes it later, or
     * now, through its own write, which no hook sees. */
    zc_inflight_settle_fd(fileno_unlocked(out));
    if (__builtin_mul_overflow(size, n, &total) || total < zc_cfg.min_bytes || !zc_active() || zc_depth)
        return real_fwrite_unlocked(buf, size, n, out);
    size_t buffer_size = (size_t)(out->_IO_buf_end - out->_IO_buf_base);
    bool plain_would_bypass_buffer = total >= buffer_size;
    bool byte_stream = out->_mode <= 0;  /* not wide-oriented */
    if (!plain_would_bypass_buffer || !byte_stream || !(out->_flags & STDIO_NO_READS)) {
        zc_refuse(fileno_unlocked(out), buf, total, plain_would_bypass_buffer ? ZC_SKIP_STDIO_STREAM : ZC_SKIP_STDIO_BUFFERED,
                  site);
        return real_fwrite_unlocked(buf, size, n, out);
    }
    int saved_errno = errno;
    /* The plain fwrite would fill the buffer's free space, then flush; if
     * that flush fails it reports the bytes it took into the buffer. */
    size_t buffer_space = (size_t)(out->_IO_buf_end - out->_IO_write_ptr);
    bool pending = out->_IO_write_ptr > out->_IO_write_base;
    if (fflush_unlocked(out) != 0)
        return (pending ? (buffer_space < total ? buffer_space : total) : 0) / size;
    struct iovec iov = { (void *)buf, total };
    ssize_t r;
    if (!zc_rewrite(fileno_unlocked(out), &iov, 1, NULL, ZC_SINK_WRITE, 0, site, &r)) {
        size_t plain = real_fwrite_unlocked(buf, size, n, out);
        zc_calibrate_plain_end((ssize_t)(plain * size));
        return plain;
    }
    size_t done = r > 0 ? (size_t)r : 0;
    if (done)
        out->_offset = STDIO_OFFSET_UNKNOWN;  /* the fd moved behind stdio's back */
    if (done < total) {
        int stopped_by = r < 0 ? errno : zc_rewrite_stop_reason();
        if (stopped_by == EPIPE || stopped_by == ECONNRESET) {
            out->_flags |= STDIO_ERR_SEEN;  /* retrying would raise a second SIGPIPE */
            errno = stopped_by;
            return done / size;
        }
        errno = saved_errno;
        done += real_fwrite_unlocked((const char *)buf + done, 1, total - done, out);
    }
    return done / size;
}

EXPORT size_t fwrite(const void *buf, size_t size, size_t n, FILE *out)
{
    if (!zc_ready())
        return _IO_fwrite(buf, size, n, out);
    flockfile(out);
    size_t r = fwrite_locked(buf, size, n, out, __builtin_return_address(0));
    funlockfile(out);
    return r;
}

EXPORT size_t fwrite_unlocked(const void *buf, size_t size, size_t n, FILE *out)
{
    if (!zc_ready())
        return _IO_fwrite(buf, size, n, out);
    return fwrite_locked(buf, size, n, out, __builtin_return_address(0));
}
