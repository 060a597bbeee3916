/* Seccomp: zcopy must never make a system call that kills the program.
 *
 * zcopy makes calls the program never asked for (fstat, lseek, poll,
 * sendfile, splice, ...).  Under a seccomp filter that kills for one of
 * them, zcopy's call would kill the program.
 * - A filter in force at start (inherited: systemd's SystemCallFilter=, a
 *   container's profile): each call zcopy may make is made once, in a
 *   child, with arguments that fail harmlessly.  If the filter kills the
 *   child, zcopy stays off in this process, and says so in one line.  A
 *   filter that refuses with an errno (Docker's default) is no danger: zcopy
 *   falls back to the plain call.
 * - A filter the program installs later with prctl(PR_SET_SECCOMP) (vsftpd's
 *   seccomp_sandbox): zcopy turns itself off before it is installed.  One
 *   installed with syscall(SYS_seccomp) directly (libseccomp) is not seen:
 *   README, Limits. */
#include "zcopy.h"

#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/seccomp.h>
#include <linux/sock_diag.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22
#endif

/* Whether a seccomp filter is in force: "Seccomp:\t2" in /proc/self/status. */
static bool filter_in_force(void)
{
    char buf[4096];
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/status", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = syscall(SYS_read, fd, buf, sizeof buf - 1);
    syscall(SYS_close, fd);
    buf[n > 0 ? n : 0] = 0;
    const char *line = strstr(buf, "\nSeccomp:");
    if (!line)
        return false;
    line += strlen("\nSeccomp:");
    while (*line == ' ' || *line == '\t')
        line++;
    return *line == '2';
}

/* The calls zcopy may make, each with arguments that fail harmlessly (or,
 * for socket and openat, make an fd the child drops at exit). */
static const char *const probe_names[] = {
    "fstat", "newfstatat", "lseek", "fcntl", "getsockopt", "setsockopt", "sendfile", "splice",
    "copy_file_range", "poll", "ioctl", "fstatfs", "madvise", "mmap", "munmap", "clock_gettime",
    "getpid", "kill", "nanosleep", "socket", "sendto", "recvfrom", "getsockname", "getpeername",
    "openat", "pread64", "read", "close", "rt_sigprocmask", "rt_sigpending", "rt_sigtimedwait",
    "prlimit64", "rt_sigaction", "fallocate", "ftruncate", "unlinkat", "readlinkat", "readlink",
};

static void probe(int step)
{
    struct stat st;
    struct timespec ts = { 0, 0 };
    sigset_t set;
    char buf[64] = { 0 };
    sigemptyset(&set);
    switch (step) {
    case 0: syscall(SYS_fstat, -1, &st); break;
    case 1: syscall(SYS_newfstatat, -1, "", &st, AT_EMPTY_PATH); break;
    case 2: syscall(SYS_lseek, -1, 0, SEEK_CUR); break;
    case 3: syscall(SYS_fcntl, -1, F_GETFL); break;
    case 4: syscall(SYS_getsockopt, -1, SOL_SOCKET, SO_TYPE, buf, &(socklen_t){ sizeof(int) }); break;
    case 5: syscall(SYS_setsockopt, -1, SOL_SOCKET, SO_TYPE, buf, sizeof(int)); break;
    case 6: syscall(SYS_sendfile, -1, -1, NULL, 0); break;
    case 7: syscall(SYS_splice, -1, NULL, -1, NULL, 0, 0); break;
    case 8: syscall(SYS_copy_file_range, -1, NULL, -1, NULL, 0, 0); break;
#ifdef SYS_poll
    case 9: syscall(SYS_poll, NULL, 0, 0); break;
#else
    case 9: syscall(SYS_ppoll, NULL, 0, &ts, NULL, 0); break;
#endif
    case 10: syscall(SYS_ioctl, -1, 0x541B /* FIONREAD */, buf); break;
    case 11: syscall(SYS_fstatfs, -1, buf); break;
    case 12: syscall(SYS_madvise, NULL, 0, MADV_POPULATE_READ); break;
    case 13: syscall(SYS_mmap, NULL, 0, PROT_READ, MAP_SHARED, -1, 0); break;
    case 14: syscall(SYS_munmap, NULL, 0); break;
    case 15: syscall(SYS_clock_gettime, CLOCK_THREAD_CPUTIME_ID, &ts); break;
    case 16: syscall(SYS_getpid); break;
    case 17: syscall(SYS_kill, syscall(SYS_getpid), 0); break;
    case 18: syscall(SYS_nanosleep, &ts, NULL); break;
    case 19: syscall(SYS_socket, AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG); break;
    case 20: syscall(SYS_sendto, -1, buf, 0, 0, NULL, 0); break;
    case 21: syscall(SYS_recvfrom, -1, buf, 0, 0, NULL, NULL); break;
    case 22: syscall(SYS_getsockname, -1, buf, &(socklen_t){ 0 }); break;
    case 23: syscall(SYS_getpeername, -1, buf, &(socklen_t){ 0 }); break;
    case 24: syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC); break;
    case 25: syscall(SYS_pread64, -1, buf, 0, 0); break;
    case 26: syscall(SYS_read, -1, buf, 0); break;
    case 27: syscall(SYS_close, -1); break;
    case 28: syscall(SYS_rt_sigprocmask, SIG_BLOCK, NULL, &set, sizeof(long)); break;
    case 29: syscall(SYS_rt_sigpending, &set, sizeof(long)); break;
    case 30: syscall(SYS_rt_sigtimedwait, &set, NULL, &ts, sizeof(long)); break;
    case 31: syscall(SYS_prlimit64, 0, RLIMIT_FSIZE, NULL, buf); break;
    case 32: syscall(SYS_rt_sigaction, SIGBUS, NULL, buf, sizeof(long)); break;
    case 33: syscall(SYS_fallocate, -1, 0, 0, 0); break;
    case 34: syscall(SYS_ftruncate, -1, 0); break;
    case 35: syscall(SYS_unlinkat, -1, "", 0); break;
    case 36: syscall(SYS_readlinkat, -1, "", buf, sizeof buf); break;
#ifdef SYS_readlink
    case 37: syscall(SYS_readlink, "", buf, sizeof buf); break;  /* glibc's readlink on x86_64 */
#endif
    }
}

#define PROBES (int)(sizeof probe_names / sizeof probe_names[0])

/* Makes every probe in a child; -1 if the filter let them all through,
 * else the index of the one it killed the child at. */
static int probe_in_child(void)
{
    int progress[2];
    if (syscall(SYS_pipe2, progress, O_CLOEXEC) < 0)
        return PROBES;  /* cannot tell: count it as killed */
    /* Exit signal 0: no SIGCHLD for the program to see, and the child is
     * not reaped by a SIGCHLD set to SIG_IGN. */
    long pid = syscall(SYS_clone, 0L, 0L, 0L, 0L, 0L);
    if (pid == 0) {
        syscall(SYS_close, progress[0]);
        for (unsigned char step = 0; step < PROBES; step++) {
            syscall(SYS_write, progress[1], &step, 1);
            probe(step);
        }
        syscall(SYS_exit_group, 0);
    }
    syscall(SYS_close, progress[1]);
    int status = 0, last = -1;
    unsigned char step;
    while (pid > 0 && syscall(SYS_read, progress[0], &step, 1) == 1)
        last = step;
    syscall(SYS_close, progress[0]);
    if (pid < 0 || syscall(SYS_wait4, pid, &status, __WALL, NULL) != pid)
        return PROBES;
    /* Killed: by the filter (SIGSYS), or a signal the filter's trap raised. */
    return WIFSIGNALED(status) ? last : -1;
}

/* Set by a prctl(PR_SET_SECCOMP): before the settings were read (another
 * library's constructor), which they would otherwise undo, or after. */
static int installed_before_settings;

bool zc_seccomp_installed(void)
{
    return __atomic_load_n(&installed_before_settings, __ATOMIC_ACQUIRE);
}

void zc_seccomp_check(void)
{
    if (__atomic_load_n(&installed_before_settings, __ATOMIC_ACQUIRE)) {
        zc_cfg.mode = ZC_MODE_OFF;
        zc_cfg.stats_live = false;
        return;
    }
    if (zc_cfg.mode == ZC_MODE_OFF || !filter_in_force())
        return;
    int killed = probe_in_child();
    if (killed < 0)
        return;
    dprintf(2, "zcopy: a seccomp filter in force here kills %s(), which zcopy calls; running unaccelerated\n",
            killed < PROBES ? probe_names[killed] : "one of the calls");
    zc_cfg.mode = ZC_MODE_OFF;
    zc_cfg.stats_live = false;
}

/* Before the program installs a filter: from then on zcopy makes no call
 * of its own.  Calls already under way in other threads may still be
 * made (a filter is installed at start, before a server serves). */
static void turn_off_before_filter(void)
{
    /* The live stats file goes now, while unlink is still allowed: at exit
     * zcopy makes no call of its own any more (symbols.c, _exit). */
    zc_live_finish();
    __atomic_store_n(&installed_before_settings, 1, __ATOMIC_RELEASE);
    __atomic_store_n(&zc_cfg.mode, ZC_MODE_OFF, __ATOMIC_SEQ_CST);
}

EXPORT int prctl(int option, ...)
{
    va_list ap;
    va_start(ap, option);
    unsigned long a2 = va_arg(ap, unsigned long), a3 = va_arg(ap, unsigned long);
    unsigned long a4 = va_arg(ap, unsigned long), a5 = va_arg(ap, unsigned long);
    va_end(ap);
    if (option == PR_SET_SECCOMP)
        turn_off_before_filter();
    if (!zc_ready())
        return (int)syscall(SYS_prctl, option, a2, a3, a4, a5);
    return real_prctl(option, a2, a3, a4, a5);
}
