/* The hooks that move bytes.  Reads from files are remembered after the real
 * read; writes ask rewrite.c first and otherwise make the plain call.
 * Before the real functions are known (a call from inside dlsym, or from a
 * signal handler interrupting it) the raw syscall serves. */
#include "zcopy.h"

#include <limits.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static ssize_t counted_plain(ssize_t r)
{
    zc_calibrate_plain_end(r);  /* when calibration measures this call */
    zc_stats_add(ZC_PLAIN, r);
    return r;
}

/* Rewrite.c's first check, made here before anything else: most of a
 * server's writes are a few hundred bytes, and each hook instruction is
 * paid on every one of them (make bench's W5).  With zcopy off, every
 * write is plain here (limit SIZE_MAX).  zc_depth is not read here: a
 * thread-local is two more pages (ZC_HOT), and a small write is plain
 * whether or not it comes from inside zcopy (a handler interrupting a hook),
 * only counted as below ZCOPY_MIN_BYTES too.
 * The write is counted before it is made, by the bytes it asks for, and
 * the real call is the hook's last act (a tail call): on this project's VM
 * kind, any work of the hook's after the call returns costs 25 ns or more
 * a write, where the same work before it is nearly free (W5, paired).  So
 * a small write that fails or comes back short is counted in full. */
static inline bool too_small_to_rewrite(size_t n, size_t limit)
{
    return n < limit;
}

/* ---- sources ---- */

EXPORT ssize_t read(int fd, void *buf, size_t n)
{
    if (!zc_ready())
        return syscall(SYS_read, fd, buf, n);
    ssize_t r = real_read(fd, buf, n);
    zc_note_read(fd, buf, r, -1);
    return r;
}

EXPORT ssize_t __read_chk(int fd, void *buf, size_t n, size_t buflen)
{
    if (!zc_ready())
        return syscall(SYS_read, fd, buf, n);
    ssize_t r = real___read_chk(fd, buf, n, buflen);  /* keeps glibc's overflow check */
    zc_note_read(fd, buf, r, -1);
    return r;
}

EXPORT ssize_t pread64(int fd, void *buf, size_t n, off64_t off)
{
    if (!zc_ready())
        return syscall(SYS_pread64, fd, buf, n, off);
    ssize_t r = real_pread64(fd, buf, n, off);
    zc_note_read(fd, buf, r, off);
    return r;
}

EXPORT ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    return pread64(fd, buf, n, off);
}

EXPORT ssize_t __pread64_chk(int fd, void *buf, size_t n, off64_t off, size_t buflen)
{
    if (!zc_ready())
        return syscall(SYS_pread64, fd, buf, n, off);
    ssize_t r = real___pread64_chk(fd, buf, n, off, buflen);
    zc_note_read(fd, buf, r, off);
    return r;
}

EXPORT ssize_t __pread_chk(int fd, void *buf, size_t n, off_t off, size_t buflen)
{
    return __pread64_chk(fd, buf, n, off, buflen);
}

EXPORT ssize_t readv(int fd, const struct iovec *iov, int iovcnt)
{
    if (!zc_ready())
        return syscall(SYS_readv, fd, iov, iovcnt);
    ssize_t r = real_readv(fd, iov, iovcnt);
    zc_note_readv(fd, iov, iovcnt, r, -1);
    return r;
}

EXPORT ssize_t preadv64(int fd, const struct iovec *iov, int iovcnt, off64_t off)
{
    if (!zc_ready())
        return syscall(SYS_preadv, fd, iov, iovcnt, off, 0);
    ssize_t r = real_preadv64(fd, iov, iovcnt, off);
    zc_note_readv(fd, iov, iovcnt, r, off);
    return r;
}

EXPORT ssize_t preadv(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    return preadv64(fd, iov, iovcnt, off);
}

EXPORT ssize_t preadv64v2(int fd, const struct iovec *iov, int iovcnt, off64_t off, int flags)
{
    if (!zc_ready())
        return syscall(SYS_preadv2, fd, iov, iovcnt, off, 0, flags);
    ssize_t r = real_preadv64v2(fd, iov, iovcnt, off, flags);
    zc_note_readv(fd, iov, iovcnt, r, off);  /* off -1: the fd's own offset */
    return r;
}

EXPORT ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
    return preadv64v2(fd, iov, iovcnt, off, flags);
}

/* ---- other reads into a buffer: forget what it held ---- */

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
    if (!zc_ready())
        return syscall(SYS_recvmsg, fd, msg, flags);
    ssize_t r = real_recvmsg(fd, msg, flags);
    for (size_t i = 0; r > 0 && msg && i < msg->msg_iovlen; i++)
        zc_note_overwrite(msg->msg_iov[i].iov_base, (ssize_t)msg->msg_iov[i].iov_len);
    return r;
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t n, int flags, struct sockaddr *addr, socklen_t *addrlen)
{
    if (!zc_ready())
        return syscall(SYS_recvfrom, fd, buf, n, flags, addr, addrlen);
    ssize_t r = real_recvfrom(fd, buf, n, flags, addr, addrlen);
    zc_note_overwrite(buf, r);
    return r;
}

EXPORT ssize_t recv(int fd, void *buf, size_t n, int flags)
{
    return recvfrom(fd, buf, n, flags, NULL, NULL);
}

EXPORT ssize_t __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags, struct sockaddr *addr,
                              socklen_t *addrlen)
{
    if (!zc_ready())
        return syscall(SYS_recvfrom, fd, buf, n, flags, addr, addrlen);
    ssize_t r = real___recvfrom_chk(fd, buf, n, buflen, flags, addr, addrlen);
    zc_note_overwrite(buf, r);
    return r;
}

EXPORT ssize_t __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
    return __recvfrom_chk(fd, buf, n, buflen, flags, NULL, NULL);
}

/* ---- sinks ---- */

/* The call site is the return address in the hook's caller; hooks that call
 * each other share an inner function so that it stays the program's. */
#define CALL_SITE __builtin_return_address(0)

/* The write zc_rewrite decides, apart from write() so that the small path
 * keeps a small frame. */
static __attribute__((noinline)) ssize_t write_via_rewrite(int fd, const void *buf, size_t n, const void *site)
{
    struct iovec iov = { (void *)buf, n };
    ssize_t r;
    if (zc_rewrite(fd, &iov, 1, NULL, ZC_SINK_WRITE, 0, site, &r))
        return r;
    return counted_plain(real_write(fd, buf, n));
}

/* The small write's path, on hot.c's page alone: ready (the constructor is
 * done and this process has its own copy of the page), small, and nothing
 * in flight that a write could have to wait for (inflight.c). */
static inline bool small_and_nothing_in_flight(size_t n)
{
    return __atomic_load_n(&zc_hot.ready, __ATOMIC_ACQUIRE) && n < zc_hot.v.small_limit &&
           !__atomic_load_n(zc_hot.v.in_flight, __ATOMIC_RELAXED);
}

static __attribute__((noinline)) ssize_t write_general(int fd, const void *buf, size_t n, const void *site)
{
    if (!zc_ready())
        return syscall(SYS_write, fd, buf, n);
    zc_hot_refill();  /* a forked child's first write */
    zc_inflight_settle_fd(fd);
    if (too_small_to_rewrite(n, zc_small_write_limit())) {
        zc_stats_small_write(n);
        return real_write(fd, buf, n);
    }
    return write_via_rewrite(fd, buf, n, site);
}

ZC_HOT EXPORT ssize_t write(int fd, const void *buf, size_t n)
{
    if (small_and_nothing_in_flight(n) && zc_hot_count_small(n))
        return zc_hot.v.write(fd, buf, n);
    return write_general(fd, buf, n, CALL_SITE);
}

static ssize_t pwrite_at(int fd, const void *buf, size_t n, off64_t off, const void *site)
{
    if (!zc_ready())
        return syscall(SYS_pwrite64, fd, buf, n, off);
    zc_inflight_settle_fd(fd);
    struct iovec iov = { (void *)buf, n };
    ssize_t r;
    if (off >= 0 && zc_rewrite(fd, &iov, 1, &off, ZC_SINK_WRITE, 0, site, &r))
        return r;
    return counted_plain(real_pwrite64(fd, buf, n, off));
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
    return pwrite_at(fd, buf, n, off, CALL_SITE);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t n, off_t off)
{
    return pwrite_at(fd, buf, n, off, CALL_SITE);
}

EXPORT ssize_t writev(int fd, const struct iovec *iov, int iovcnt)
{
    if (!zc_ready())
        return syscall(SYS_writev, fd, iov, iovcnt);
    zc_inflight_settle_fd(fd);
    ssize_t r;
    if (zc_rewrite(fd, iov, iovcnt, NULL, ZC_SINK_WRITE, 0, CALL_SITE, &r))
        return r;
    return counted_plain(real_writev(fd, iov, iovcnt));
}

static ssize_t sendto_from(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr,
                           socklen_t addrlen, const void *site)
{
    if (!addr && small_and_nothing_in_flight(n) && zc_hot_count_small(n))
        return zc_hot.v.sendto(fd, buf, n, flags, addr, addrlen);
    if (!zc_ready())
        return syscall(SYS_sendto, fd, buf, n, flags, addr, addrlen);
    zc_hot_refill();
    if (!addr && too_small_to_rewrite(n, zc_small_write_limit())) {
        zc_stats_small_write(n);
        return real_sendto(fd, buf, n, flags, addr, addrlen);
    }
    struct iovec iov = { (void *)buf, n };
    ssize_t r;
    if (!addr && zc_rewrite(fd, &iov, 1, NULL, ZC_SINK_SEND, flags, site, &r))
        return r;
    return counted_plain(real_sendto(fd, buf, n, flags, addr, addrlen));
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t addrlen)
{
    return sendto_from(fd, buf, n, flags, addr, addrlen, CALL_SITE);
}

EXPORT ssize_t send(int fd, const void *buf, size_t n, int flags)
{
    return sendto_from(fd, buf, n, flags, NULL, 0, CALL_SITE);
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
    if (!zc_ready())
        return syscall(SYS_sendmsg, fd, msg, flags);
    ssize_t r;
    /* An address or ancillary data (SCM_RIGHTS...) must travel with the bytes. */
    if (msg && !msg->msg_name && !msg->msg_controllen && msg->msg_iovlen <= IOV_MAX &&
        zc_rewrite(fd, msg->msg_iov, (int)msg->msg_iovlen, NULL, ZC_SINK_SEND, flags, CALL_SITE, &r))
        return r;
    return counted_plain(real_sendmsg(fd, msg, flags));
}

/* Not rewritten (copy loops do not use them), but they change a file
 * whose bytes may still be in flight. */
EXPORT ssize_t pwritev64v2(int fd, const struct iovec *iov, int iovcnt, off64_t off, int flags)
{
    if (!zc_ready())
        return syscall(SYS_pwritev2, fd, iov, iovcnt, off, 0, flags);
    zc_inflight_settle_fd(fd);
    return counted_plain(real_pwritev64v2(fd, iov, iovcnt, off, flags));
}

EXPORT ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
    return pwritev64v2(fd, iov, iovcnt, off, flags);
}

EXPORT ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off64_t off)
{
    if (!zc_ready())
        return syscall(SYS_pwritev, fd, iov, iovcnt, off, 0);
    zc_inflight_settle_fd(fd);
    return counted_plain(real_pwritev64(fd, iov, iovcnt, off));
}

EXPORT ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
    return pwritev64(fd, iov, iovcnt, off);
}

/* ---- mappings ---- */

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off)
{
    if (!zc_ready())
        return (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    void *p = real_mmap64(addr, len, prot, flags, fd, off);
    if (p != MAP_FAILED)
        zc_note_mmap(p, len, prot, flags, fd, off);
    return p;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    return mmap64(addr, len, prot, flags, fd, off);
}

EXPORT int munmap(void *addr, size_t len)
{
    if (!zc_ready())
        return (int)syscall(SYS_munmap, addr, len);
    zc_note_overwrite(addr, (ssize_t)len);  /* before: the range may be reused at once */
    return real_munmap(addr, len);
}

/* The moved mapping is forgotten, not followed: a missed rewrite at worst. */
EXPORT void *mremap(void *old_addr, size_t old_len, size_t new_len, int flags, ...)
{
    va_list ap;
    va_start(ap, flags);
    void *new_addr = (flags & MREMAP_FIXED) ? va_arg(ap, void *) : NULL;
    va_end(ap);
    if (!zc_ready())
        return (void *)syscall(SYS_mremap, old_addr, old_len, new_len, flags, new_addr);
    void *p = real_mremap(old_addr, old_len, new_len, flags, new_addr);
    if (p != MAP_FAILED) {
        zc_note_overwrite(old_addr, (ssize_t)old_len);
        zc_note_overwrite(p, (ssize_t)new_len);
    }
    return p;
}

EXPORT int mprotect(void *addr, size_t len, int prot)
{
    if (!zc_ready())
        return (int)syscall(SYS_mprotect, addr, len, prot);
    if (zc_active())
        zc_note_protect(addr, len, prot);  /* before: a write may follow at once */
    return real_mprotect(addr, len, prot);
}

EXPORT int pkey_mprotect(void *addr, size_t len, int prot, int pkey)
{
    if (!zc_ready())
        return (int)syscall(SYS_pkey_mprotect, addr, len, prot, pkey);
    if (zc_active())
        zc_note_protect(addr, len, prot);
    return real_pkey_mprotect(addr, len, prot, pkey);
}
