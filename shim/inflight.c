/* Bytes in flight (DESIGN.md rule 7).  After sendfile/splice into a pipe
 * or socket, the reader holds references to page-cache pages until it reads
 * them: the plain write() had sent a snapshot.  So before the program itself
 * changes a file (write, pwrite, writev, copy_file_range into it, ftruncate,
 * truncate) whose bytes zcopy sent and which may still be queued, wait until
 * that destination has drained (FIONREAD on a pipe, SIOCOUTQ on a socket),
 * for at most a second.  Changes by other processes cannot be seen: README.
 *
 * A small lock-free table: a missed entry means a missed wait, so every
 * slot is claimed with a compare-and-swap, and readers skip busy slots. */
#include "zcopy.h"

#include <errno.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <time.h>

#define INFLIGHT_SLOTS 16
#define DRAIN_WAIT_MS 1000

enum { SLOT_FREE, SLOT_BUSY, SLOT_USED };

struct inflight {
    int state;
    dev_t src_dev;
    ino_t src_ino;
    int dst_fd;
    dev_t dst_dev;
    ino_t dst_ino;
    bool dst_is_pipe;
};

static struct inflight slots[INFLIGHT_SLOTS];

/* Fds fstat showed are not regular files, so that a program streaming to a
 * socket does not pay an fstat per write while entries are live.  Cleared
 * by every fd lifecycle hook.  A pipe fd closed inside libc (fclose of a
 * popen stream) and reused by an unseen open could skip a wait: rare. */
#define KNOWN_FDS 1024
static uint64_t not_a_file[KNOWN_FDS / 64];

void zc_inflight_fd_changed(unsigned first, unsigned last)
{
    if (first >= KNOWN_FDS)
        return;
    if (last >= KNOWN_FDS)
        last = KNOWN_FDS - 1;
    for (unsigned fd = first; fd <= last; fd++)
        __atomic_and_fetch(&not_a_file[fd / 64], ~(1ull << (fd % 64)), __ATOMIC_RELAXED);
}
static int live;  /* used slots: zero keeps every check free of syscalls */
static unsigned cursor;

void zc_inflight_note(dev_t src_dev, ino_t src_ino, int dst_fd, const struct zc_dest *dest)
{
    for (int i = 0; i < INFLIGHT_SLOTS; i++) {
        struct inflight *s = &slots[i];
        if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) == SLOT_USED && s->src_ino == src_ino &&
            s->src_dev == src_dev && s->dst_fd == dst_fd && s->dst_ino == dest->ino && s->dst_dev == dest->dev)
            return;
    }
    struct inflight *s = &slots[__atomic_fetch_add(&cursor, 1, __ATOMIC_RELAXED) % INFLIGHT_SLOTS];
    int state = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    if (state == SLOT_BUSY || !__atomic_compare_exchange_n(&s->state, &state, SLOT_BUSY, false, __ATOMIC_ACQUIRE,
                                                           __ATOMIC_RELAXED))
        return;
    /* Overwriting an older entry loses its wait: rare, with 16 slots. */
    *s = (struct inflight){ SLOT_BUSY, src_dev, src_ino, dst_fd, dest->dev, dest->ino, dest->kind == ZC_DEST_PIPE };
    if (state == SLOT_FREE)
        __atomic_add_fetch(&live, 1, __ATOMIC_RELAXED);
    __atomic_store_n(&s->state, SLOT_USED, __ATOMIC_RELEASE);
}

static int queued_bytes(const struct inflight *s)
{
    struct stat st;
    int n = 0;
    if (fstat(s->dst_fd, &st) < 0 || st.st_ino != s->dst_ino || st.st_dev != s->dst_dev)
        return 0;  /* closed or reused: its reader has what it has */
    if (ioctl(s->dst_fd, s->dst_is_pipe ? FIONREAD : SIOCOUTQ, &n) < 0)
        return 0;
    return n;
}

static void settle(dev_t dev, ino_t ino)
{
    for (int i = 0; i < INFLIGHT_SLOTS; i++) {
        struct inflight *s = &slots[i];
        int state = SLOT_USED;
        if (__atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != SLOT_USED || s->src_ino != ino || s->src_dev != dev)
            continue;
        if (!__atomic_compare_exchange_n(&s->state, &state, SLOT_BUSY, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
            continue;
        struct timespec ms = { 0, 1000000 };
        for (int waited = 0; waited < DRAIN_WAIT_MS && queued_bytes(s) > 0; waited++)
            nanosleep(&ms, NULL);
        __atomic_sub_fetch(&live, 1, __ATOMIC_RELAXED);
        __atomic_store_n(&s->state, SLOT_FREE, __ATOMIC_RELEASE);
    }
}

void zc_inflight_settle_fd(int fd)
{
    if (!__atomic_load_n(&live, __ATOMIC_RELAXED) || zc_depth || fd < 0)
        return;
    bool known = fd < KNOWN_FDS;
    if (known && (__atomic_load_n(&not_a_file[fd / 64], __ATOMIC_RELAXED) & (1ull << (fd % 64))))
        return;
    int saved_errno = errno;
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        settle(st.st_dev, st.st_ino);
    else if (known)
        __atomic_or_fetch(&not_a_file[fd / 64], 1ull << (fd % 64), __ATOMIC_RELAXED);
    errno = saved_errno;
}

void zc_inflight_settle_path(const char *path)
{
    if (!__atomic_load_n(&live, __ATOMIC_RELAXED) || zc_depth)
        return;
    int saved_errno = errno;
    struct stat st;
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
        settle(st.st_dev, st.st_ino);
    errno = saved_errno;
}
