/* Where zcopy's own output goes: the file of the summary (stats.c) or of
 * the decision log (log.c), or stderr.  Below both; calls only libc.
 *
 * Hazards:
 * - The program owns its fds.  Daemons close every fd, servers dup2 their
 *   own log over stderr, and GNU coreutils close stderr in an atexit
 *   handler (gnulib's close_stdout), which runs before our destructor
 *   writes the summary.  So stderr is copied in the constructor, to a high
 *   fd, and every write first checks that an fd still names the file it was
 *   opened on; if not, the caller opens it again.
 * - High fds (F_DUPFD_CLOEXEC), out of the way of programs that expect low
 *   numbers, and never inherited across exec.
 * - Files are created 0600 and never through a symlink (O_NOFOLLOW): a log
 *   path in /tmp must not let another user read it or point it elsewhere. */
#include "zcopy.h"

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int stderr_copy = -1;  /* the program's stderr as the constructor found it */
static dev_t stderr_dev;
static ino_t stderr_ino;

static bool names(int fd, dev_t dev, ino_t ino)
{
    struct stat st;
    return fd >= 0 && fstat(fd, &st) == 0 && st.st_dev == dev && st.st_ino == ino;
}

/* fd moved to a high number, close-on-exec; fd itself if that fails. */
static int move_high(int fd)
{
    struct rlimit rl;
    int floor = 3;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur >= 256)
        floor = (int)(rl.rlim_cur > 1024 ? 1024 : rl.rlim_cur) - 64;
    int high = real_fcntl(fd, F_DUPFD_CLOEXEC, floor);
    if (high < 0)
        return fd;
    real_close(fd);
    return high;
}

/* "%p" in a destination becomes the pid, so that each process of a forking
 * server keeps its own file.  No stdio: a log is opened again from any hook. */
void zc_output_path(const char *dest, char *path, size_t size)
{
    size_t o = 0;
    for (const char *s = dest; *s && o + 24 < size; s++) {
        if (s[0] == '%' && s[1] == 'p') {
            char digits[24];
            int n = 0;
            for (unsigned long pid = (unsigned long)getpid(); n == 0 || pid; pid /= 10)
                digits[n++] = (char)('0' + pid % 10);
            while (n)
                path[o++] = digits[--n];
            s++;
        } else {
            path[o++] = *s;
        }
    }
    path[o] = 0;
}

void zc_output_keep_stderr(void)
{
    struct stat st;
    if (stderr_copy >= 0 || fstat(2, &st) < 0)
        return;
    int fd = real_fcntl(2, F_DUPFD_CLOEXEC, 3);
    if (fd < 0)
        return;
    stderr_dev = st.st_dev;
    stderr_ino = st.st_ino;
    __atomic_store_n(&stderr_copy, move_high(fd), __ATOMIC_RELEASE);
}

/* The program's stderr as it was at start, even if the program has closed
 * fd 2 or put something else there since; fd 2 when our copy is gone (a
 * daemon closed every fd) or was never made. */
int zc_output_stderr(void)
{
    int fd = __atomic_load_n(&stderr_copy, __ATOMIC_ACQUIRE);
    return names(fd, stderr_dev, stderr_ino) ? fd : 2;
}

/* A forked child writes to the stderr it has: a copy held in a child that
 * daemon() detaches would keep a pipe on the caller's stderr open (a shell
 * pipeline that never ends).  Tested first: a store would copy the page
 * in every child of a fork-per-connection server. */
void zc_output_forked(void)
{
    if (stderr_copy >= 0) {
        real_close(stderr_copy);
        stderr_copy = -1;
    }
}

int zc_output_open(const char *dest, struct zc_output *out)
{
    int fd;
    if (!strcmp(dest, "-")) {
        fd = zc_output_stderr();
    } else {
        char path[PATH_MAX];
        zc_output_path(dest, path, sizeof path);
        fd = real_openat64(AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
            return -1;
        fd = move_high(fd);
    }
    struct stat st;
    if (fstat(fd, &st) < 0)
        return -1;
    out->dev = st.st_dev;
    out->ino = st.st_ino;
    return fd;
}

bool zc_output_still_open(int fd, const struct zc_output *out)
{
    return names(fd, out->dev, out->ino);
}
