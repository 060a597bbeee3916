/* Fd lifecycle hooks.  A new or closed fd number makes any remembered read
 * on that number stale, and what fdcache.c knows of it.  Forgetting reads
 * is only housekeeping, since rewrite.c re-checks st_dev/st_ino at every
 * use (closes inside libc other than fclose's and pclose's never reach
 * these hooks).  Also: the program's own fast calls, passed through and
 * counted.  fork is not hooked: the child's reset is
 * registered with pthread_atfork (symbols.c), which also sees daemon() and
 * other forks inside libc. */
#include "zcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <signal.h>
#include <stdio.h>
#include <stdarg.h>
#include <sys/sendfile.h>
#include <sys/syscall.h>
#include <unistd.h>

static int fresh_fd(int fd)
{
    if (fd >= 0)
        zc_fd_changed((unsigned)fd, (unsigned)fd);  /* after a close no hook saw */
    if (fd >= 0 && zc_active()) {
        zc_track_forget_fd(fd);  /* touches no errno */
        zc_inflight_fd_changed((unsigned)fd, (unsigned)fd);
    }
    return fd;
}

static int fresh_fd_pair(int r, const int fds[2])
{
    if (r == 0) {
        fresh_fd(fds[0]);
        fresh_fd(fds[1]);
    }
    return r;
}

/* open's mode argument exists only with O_CREAT or O_TMPFILE. */
#define NEEDS_MODE(flags) (((flags) & O_CREAT) || ((flags) & O_TMPFILE) == O_TMPFILE)
#define MODE_ARG(flags, mode)                \
    do {                                     \
        if (NEEDS_MODE(flags)) {             \
            va_list ap;                      \
            va_start(ap, flags);             \
            mode = va_arg(ap, mode_t);       \
            va_end(ap);                      \
        }                                    \
    } while (0)

EXPORT int openat64(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    if (!zc_ready())
        return (int)syscall(SYS_openat, dirfd, path, flags, mode);
    if (flags & O_TRUNC)
        zc_inflight_settle_path(dirfd, path);
    return fresh_fd(real_openat64(dirfd, path, flags, mode));
}

EXPORT int openat(int dirfd, const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    return openat64(dirfd, path, flags, mode);
}

EXPORT int open64(const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    return openat64(AT_FDCWD, path, flags, mode);
}

EXPORT int open(const char *path, int flags, ...)
{
    mode_t mode = 0;
    MODE_ARG(flags, mode);
    return openat64(AT_FDCWD, path, flags, mode);
}

/* The fortified forms reject O_CREAT without a mode: keep that check. */
EXPORT int __openat64_2(int dirfd, const char *path, int flags)
{
    if (!zc_ready())
        return (int)syscall(SYS_openat, dirfd, path, flags, 0);
    if (flags & O_TRUNC)
        zc_inflight_settle_path(dirfd, path);
    return fresh_fd(real___openat64_2(dirfd, path, flags));
}

EXPORT int __openat_2(int dirfd, const char *path, int flags)
{
    return __openat64_2(dirfd, path, flags);
}

EXPORT int __open64_2(const char *path, int flags)
{
    return __openat64_2(AT_FDCWD, path, flags);
}

EXPORT int __open_2(const char *path, int flags)
{
    return __openat64_2(AT_FDCWD, path, flags);
}

EXPORT int creat64(const char *path, mode_t mode)
{
    return openat64(AT_FDCWD, path, O_CREAT | O_WRONLY | O_TRUNC, mode);
}

EXPORT int creat(const char *path, mode_t mode)
{
    return creat64(path, mode);
}

/* FIRST..LAST are about to be closed or replaced (close, close_range,
 * dup2 over them): before the numbers can be reused. */
static void fds_releasing(unsigned first, unsigned last)
{
    int saved_errno = errno;
    zc_track_forget_fds(first, last);
    zc_log_fd_released(first, last);
    zc_inflight_fds_closing(first, last);  /* a pipe's queue: asked while its fd is there */
    zc_inflight_fd_changed(first, last);
    errno = saved_errno;
}

/* Whether fds_releasing would find anything to do for fd: one test per
 * step above, so a step added there needs its test here.  Each test only
 * reads: the accepting process of a fork-per-connection server closes each
 * connection just after forking, and a store there (zc_depth, errno) would
 * copy a page the child still shares, on every connection. */
static bool may_know_fd(int fd)
{
    return zc_track_knows_fd(fd) || zc_logging() || zc_inflight_may_know_fd(fd);
}

/* Before fd is closed, and after (see fdcache.c). */
static void before_close(int fd)
{
    if (zc_active() && !zc_depth && fd >= 0) {
        zc_proof_forget_file(fd);  /* stores only if it drops its mapping */
        if (may_know_fd(fd)) {
            zc_depth++;
            fds_releasing((unsigned)fd, (unsigned)fd);
            zc_depth--;
        }
    }
}

static void after_close(int fd)
{
    if (fd >= 0)
        zc_fd_changed((unsigned)fd, (unsigned)fd);
    /* A server closes a connection when it is done with it: the live file
     * is then exact, whatever small writes made the reply (live.c). */
    zc_stats_flush_small();
}

EXPORT int close(int fd)
{
    if (!zc_ready())
        return (int)syscall(SYS_close, fd);
    before_close(fd);
    int r = real_close(fd);
    after_close(fd);
    return r;
}

/* fclose and pclose close their fd inside libc, where the close hook
 * cannot see it; a program that reads with read(fileno(f)) and reopens
 * files with fopen would otherwise reuse the fd number unseen
 * (tests/fdcache.bats).  glibc's pclose is its fclose. */
extern int _IO_fclose(FILE *f);
static int stream_close(int (*real)(FILE *), FILE *f)
{
    int fd = fileno_unlocked(f);  /* -1 for a stream with no fd (fmemopen) */
    before_close(fd);
    int r = real(f);
    after_close(fd);
    return r;
}

/* Ready first: real_<fn> may be resolved by zc_ready() itself. */
EXPORT int fclose(FILE *f)
{
    if (!zc_ready() || !f)
        return _IO_fclose(f);
    return stream_close(real_fclose, f);
}

EXPORT int pclose(FILE *f)
{
    if (!zc_ready() || !f)
        return _IO_fclose(f);
    return stream_close(real_pclose, f);
}

EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
    if (!zc_ready())
        return (int)syscall(SYS_close_range, first, last, flags);
    if (zc_active() && !(flags & CLOSE_RANGE_CLOEXEC))
        fds_releasing(first, last);
    int r = real_close_range(first, last, flags);
    if (!(flags & CLOSE_RANGE_CLOEXEC) && first <= last)
        zc_fd_changed(first, last);
    return r;
}

EXPORT int dup(int fd)
{
    if (!zc_ready())
        return (int)syscall(SYS_dup, fd);
    return fresh_fd(real_dup(fd));
}

EXPORT int dup3(int fd, int newfd, int flags)
{
    if (!zc_ready())
        return (int)syscall(SYS_dup3, fd, newfd, flags);
    if (fd != newfd && newfd >= 0 && zc_active())
        fds_releasing((unsigned)newfd, (unsigned)newfd);  /* newfd now names another file */
    return fresh_fd(real_dup3(fd, newfd, flags));
}

EXPORT int dup2(int fd, int newfd)
{
    if (!zc_ready())
        return fd == newfd ? (int)syscall(SYS_fcntl, fd, F_GETFD) < 0 ? -1 : fd
                           : (int)syscall(SYS_dup3, fd, newfd, 0);
    if (fd != newfd && newfd >= 0 && zc_active())
        fds_releasing((unsigned)newfd, (unsigned)newfd);  /* newfd now names another file */
    return fresh_fd(real_dup2(fd, newfd));
}

/* fcntl's third argument is an int or a pointer; glibc itself passes it on
 * as a pointer-sized value, and so do we. */
static int fcntl_hook(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
    if (!zc_ready())
        return (int)syscall(SYS_fcntl, fd, cmd, arg);
    int r = real(fd, cmd, arg);
    if (cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC)
        fresh_fd(r);
    else if (cmd == F_SETFL && fd >= 0)
        zc_fd_changed((unsigned)fd, (unsigned)fd);  /* O_APPEND, O_DIRECT: fdcache.c */
    return r;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_hook(real_fcntl, fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
    va_list ap;
    va_start(ap, cmd);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    return fcntl_hook(real_fcntl64, fd, cmd, arg);
}

EXPORT int socket(int domain, int type, int protocol)
{
    if (!zc_ready())
        return (int)syscall(SYS_socket, domain, type, protocol);
    return fresh_fd(real_socket(domain, type, protocol));
}

EXPORT int socketpair(int domain, int type, int protocol, int sv[2])
{
    if (!zc_ready())
        return (int)syscall(SYS_socketpair, domain, type, protocol, sv);
    return fresh_fd_pair(real_socketpair(domain, type, protocol, sv), sv);
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *addrlen, int flags)
{
    if (!zc_ready())
        return (int)syscall(SYS_accept4, fd, addr, addrlen, flags);
    return fresh_fd(real_accept4(fd, addr, addrlen, flags));
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *addrlen)
{
    if (!zc_ready())
        return (int)syscall(SYS_accept4, fd, addr, addrlen, 0);
    return fresh_fd(real_accept(fd, addr, addrlen));
}

EXPORT int pipe2(int fds[2], int flags)
{
    if (!zc_ready())
        return (int)syscall(SYS_pipe2, fds, flags);
    return fresh_fd_pair(real_pipe2(fds, flags), fds);
}

EXPORT int pipe(int fds[2])
{
    return pipe2(fds, 0);
}

/* A process that ends with _exit runs no destructor: without this its live
 * stats file would stay behind (dash ends every shell so).  Nothing else of
 * zcopy's runs here, as before.  The raw syscall until glibc's is known. */
static __attribute__((noreturn)) void exit_now(void (**real)(int), int status)
{
    if (!zc_seccomp_installed())  /* the program's own filter may kill unlinkat */
        zc_live_finish();
    void (*found)(int) = __atomic_load_n(real, __ATOMIC_RELAXED);
    if (found)
        found(status);
    syscall(SYS_exit_group, status);
    __builtin_unreachable();
}

EXPORT void _exit(int status)
{
    exit_now(&real__exit, status);
}

EXPORT void _Exit(int status)
{
    exit_now(&real__Exit, status);
}

/* ---- the program's own fast calls ---- */

static ssize_t counted_fast(ssize_t r)
{
    zc_stats_add(ZC_PROGRAM_FAST, r);
    return r;
}

EXPORT ssize_t sendfile64(int out_fd, int in_fd, off64_t *off, size_t n)
{
    if (!zc_ready())
        return syscall(SYS_sendfile, out_fd, in_fd, off, n);
    zc_inflight_settle_fd(out_fd);  /* it may write into a file */
    return counted_fast(real_sendfile64(out_fd, in_fd, off, n));
}

EXPORT ssize_t sendfile(int out_fd, int in_fd, off_t *off, size_t n)
{
    return sendfile64(out_fd, in_fd, off, n);
}

EXPORT ssize_t splice(int fd_in, off64_t *off_in, int fd_out, off64_t *off_out, size_t n, unsigned int flags)
{
    if (!zc_ready())
        return syscall(SYS_splice, fd_in, off_in, fd_out, off_out, n, flags);
    zc_inflight_settle_fd(fd_out);
    return counted_fast(real_splice(fd_in, off_in, fd_out, off_out, n, flags));
}

EXPORT ssize_t copy_file_range(int fd_in, off64_t *off_in, int fd_out, off64_t *off_out, size_t n,
                               unsigned int flags)
{
    if (!zc_ready())
        return syscall(SYS_copy_file_range, fd_in, off_in, fd_out, off_out, n, flags);
    zc_inflight_settle_fd(fd_out);
    return counted_fast(real_copy_file_range(fd_in, off_in, fd_out, off_out, n, flags));
}

/* ---- changes to a file whose bytes may still be in flight (inflight.c) ---- */

EXPORT int ftruncate64(int fd, off64_t len)
{
    if (!zc_ready())
        return (int)syscall(SYS_ftruncate, fd, len);
    zc_inflight_settle_fd(fd);
    return real_ftruncate64(fd, len);
}

EXPORT int ftruncate(int fd, off_t len)
{
    return ftruncate64(fd, len);
}

EXPORT int truncate64(const char *path, off64_t len)
{
    if (!zc_ready())
        return (int)syscall(SYS_truncate, path, len);
    zc_inflight_settle_path(AT_FDCWD, path);
    return real_truncate64(path, len);
}

EXPORT int truncate(const char *path, off_t len)
{
    return truncate64(path, len);
}

EXPORT int fallocate64(int fd, int mode, off64_t off, off64_t len)
{
    if (!zc_ready())
        return (int)syscall(SYS_fallocate, fd, mode, off, len);
    zc_inflight_settle_fd(fd);  /* punching or zeroing a range changes its bytes */
    return real_fallocate64(fd, mode, off, len);
}

EXPORT int fallocate(int fd, int mode, off_t off, off_t len)
{
    return fallocate64(fd, mode, off, len);
}
