/* Bytes in flight: a receiver must get the bytes the plain write sent,
 * even if the program then changes the file.  After sendfile/splice into a
 * pipe or socket, the reader holds references to page-cache pages until it reads
 * them: the plain write() had sent a snapshot.  So before the program itself
 * changes a file whose bytes zcopy sent and which may still be queued
 * (write, pwrite and pwritev, fwrite, ftruncate, truncate, fallocate,
 * open with O_TRUNC, copy_file_range, sendfile or splice into it: the
 * hooks call settle), wait until that destination has drained (FIONREAD
 * on a pipe, SIOCOUTQ on a socket, and through sockdiag.c the queues of a
 * TCP peer on this host or of a unix socket's peer), for at most a second
 * in all.  Changes by unrelated processes cannot be seen: README.
 *
 * A small lock-free table: a missed entry means a missed wait, so every
 * slot is claimed with a compare-and-swap, and readers skip busy slots.
 * The table is shared with every process forked from this one (a child
 * sends the file, its parent then rewrites it), so its atomics work across
 * processes; a TCP entry is found by addresses and a unix socket's peer by
 * inode from any process, a pipe only through its fd (or, once the sender
 * closed it with bytes unread, by the time of that close). */
#include "zcopy.h"

#include <errno.h>
#include <linux/sockios.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#define INFLIGHT_SLOTS 16
#define DRAIN_WAIT_MS 1000
#define SWEEP_EVERY_MS 100

/* A slot's state word: the state in its low bits, above them a count of
 * the times it was claimed, so that a reader comparing fields without
 * claiming the slot can tell whether it was refilled meanwhile (a seqlock,
 * with the fences of track.c's). */
enum { SLOT_FREE, SLOT_BUSY, SLOT_USED };
#define STATE_BITS 3u
#define CLAIMED_ONCE 4u
#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)
#define STORE(field, value) __atomic_store_n(&(field), (value), __ATOMIC_RELAXED)

struct inflight {
    unsigned state;  /* SLOT_* | claims * CLAIMED_ONCE */
    dev_t src_dev;
    ino_t src_ino;
    int dst_fd;
    dev_t dst_dev;
    ino_t dst_ino;
    bool dst_is_pipe;
    pid_t owner;  /* the process whose dst_fd it is */
    struct zc_tcp_ends tcp;
    uint32_t unix_peer_ino;  /* unix stream socket: the receiving end, 0 unknown */
    int64_t pipe_closed_ns;  /* a pipe closed with bytes unread: when (CLOCK_MONOTONIC) */
};

static unsigned state_of(unsigned word)
{
    return word & STATE_BITS;
}

/* Claims a slot that is not busy; *word is then its state before. */
static bool slot_claim(struct inflight *s, unsigned *word)
{
    unsigned before = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
    if (state_of(before) == SLOT_BUSY ||
        !__atomic_compare_exchange_n(&s->state, &before, (before & ~STATE_BITS) + CLAIMED_ONCE + SLOT_BUSY, false,
                                     __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return false;
    __atomic_thread_fence(__ATOMIC_RELEASE);  /* busy is seen before any field we store */
    *word = before;
    return true;
}

static void slot_release(struct inflight *s, unsigned state)
{
    unsigned claimed = __atomic_load_n(&s->state, __ATOMIC_RELAXED) & ~STATE_BITS;
    __atomic_store_n(&s->state, claimed | state, __ATOMIC_RELEASE);
}

static bool slot_used(const struct inflight *s)
{
    return state_of(__atomic_load_n(&s->state, __ATOMIC_ACQUIRE)) == SLOT_USED;
}

struct inflight_table {
    int live;  /* used slots: zero keeps every check free of syscalls */
    unsigned cursor;
    int64_t next_sweep_ns;  /* shared, so that forked children do not each sweep */
    struct inflight slots[INFLIGHT_SLOTS];
};

/* Until the constructor maps the shared table (or if it cannot). */
static struct inflight_table private_table;
static struct inflight_table *table = &private_table;

void zc_inflight_init(void)
{
    void *shared = zc_shared_alloc(sizeof *table);
    if (!shared)
        return;
    memcpy(shared, &private_table, sizeof private_table);  /* sends made before the constructor */
    __atomic_store_n(&table, (struct inflight_table *)shared, __ATOMIC_RELEASE);
}

/* Fds fstat showed are not regular files, so that a program streaming to a
 * socket does not pay an fstat per write while entries are live.  Cleared
 * by every fd lifecycle hook.  A pipe fd closed inside libc (fclose of a
 * popen stream) and reused by an unseen open could skip a wait: rare. */
#define KNOWN_FDS 1024
static uint64_t not_a_file[KNOWN_FDS / 64];
static ZC_TLS int last_non_file = -1;  /* this thread's last fstat that said so */

void zc_inflight_fd_changed(unsigned first, unsigned last)
{
    if (first >= KNOWN_FDS)
        return;
    if (last >= KNOWN_FDS)
        last = KNOWN_FDS - 1;
    /* Read before clearing: a store to a page shared with a fork parent
     * copies it, and a fork-per-connection server closes fds in both. */
    for (unsigned fd = first; fd <= last; fd++)
        if (__atomic_load_n(&not_a_file[fd / 64], __ATOMIC_RELAXED) & (1ull << (fd % 64)))
            __atomic_and_fetch(&not_a_file[fd / 64], ~(1ull << (fd % 64)), __ATOMIC_RELAXED);
}

void zc_inflight_note(dev_t src_dev, ino_t src_ino, int dst_fd, const struct zc_dest *dest)
{
    /* Every rewritten write comes here: a known pair returns before any
     * syscall, whichever process noted it.  The same inode is the same
     * pipe or socket, found the same way from any process that has it. */
    struct inflight_table *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    for (int i = 0; i < INFLIGHT_SLOTS; i++) {
        struct inflight *s = &t->slots[i];
        unsigned word = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);
        if (state_of(word) != SLOT_USED)
            continue;
        bool same = LOAD(s->src_ino) == src_ino && LOAD(s->src_dev) == src_dev && LOAD(s->dst_fd) == dst_fd &&
                    LOAD(s->dst_ino) == dest->ino && LOAD(s->dst_dev) == dest->dev;
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (same && __atomic_load_n(&s->state, __ATOMIC_RELAXED) == word)
            return;  /* not refilled while we compared */
    }
    pid_t me = getpid();
    struct inflight *s = &t->slots[__atomic_fetch_add(&t->cursor, 1, __ATOMIC_RELAXED) % INFLIGHT_SLOTS];
    unsigned before;
    if (!slot_claim(s, &before))
        return;
    /* Overwriting an older entry loses its wait: rare, with 16 slots. */
    STORE(s->src_dev, src_dev);
    STORE(s->src_ino, src_ino);
    STORE(s->dst_fd, dst_fd);
    STORE(s->dst_dev, dest->dev);
    STORE(s->dst_ino, dest->ino);
    STORE(s->dst_is_pipe, dest->kind == ZC_DEST_PIPE);
    STORE(s->pipe_closed_ns, 0);
    STORE(s->owner, me);
    s->tcp.family = 0;
    s->unix_peer_ino = 0;
    if (dest->inet)
        zc_sockdiag_tcp_ends(dst_fd, &s->tcp);
    else if (dest->kind == ZC_DEST_SOCKET && dest->ino == (uint32_t)dest->ino) {
        /* Its peer's queue still holds our pages after we close the fd. */
        long peer = zc_sockdiag_unix_peer((uint32_t)dest->ino);
        s->unix_peer_ino = peer > 0 ? (uint32_t)peer : 0;
    }
    if (state_of(before) == SLOT_FREE)
        __atomic_add_fetch(&t->live, 1, __ATOMIC_RELAXED);
    slot_release(s, SLOT_USED);
}

static int64_t now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec * 1000000000LL + now.tv_nsec;
}

static bool any_in_flight(void)
{
    return __atomic_load_n(&__atomic_load_n(&table, __ATOMIC_ACQUIRE)->live, __ATOMIC_RELAXED) != 0;
}

/* A noted pipe that fd may still be the sending end of, unstamped. */
static bool pipe_entry_for(const struct inflight *s, unsigned first, unsigned last)
{
    return slot_used(s) && LOAD(s->dst_is_pipe) && (unsigned)LOAD(s->dst_fd) >= first &&
           (unsigned)LOAD(s->dst_fd) <= last && !LOAD(s->pipe_closed_ns);
}

const int *zc_inflight_count_word(void)
{
    return &__atomic_load_n(&table, __ATOMIC_ACQUIRE)->live;
}

/* Whether closing fd has anything to stamp or clear here; reads only. */
bool zc_inflight_may_know_fd(int fd)
{
    if (fd < KNOWN_FDS && (__atomic_load_n(&not_a_file[fd / 64], __ATOMIC_RELAXED) & (1ull << (fd % 64))))
        return true;
    if (!any_in_flight())
        return false;
    struct inflight_table *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    for (int i = 0; i < INFLIGHT_SLOTS; i++)
        if (pipe_entry_for(&t->slots[i], (unsigned)fd, (unsigned)fd))
            return true;
    return false;
}

/* What the destination fd still holds (FIONREAD on a pipe, SIOCOUTQ on a
 * socket; 0 when the kernel will not say), or -1 when the fd no longer
 * names the destination: closed, reused, or another process's number. */
static long fd_queue(const struct inflight *s)
{
    struct stat st;
    int n = 0;
    if (zc_fstat(s->dst_fd, &st) < 0 || st.st_ino != s->dst_ino || st.st_dev != s->dst_dev)
        return -1;
    if (ioctl(s->dst_fd, s->dst_is_pipe ? FIONREAD : SIOCOUTQ, &n) < 0)
        return 0;
    return n > 0 ? n : 0;
}

/* The program is about to close (or dup2 over) fds FIRST..LAST.  Nothing
 * can ask a pipe's queue once its fd is gone (pipes have no sock_diag), so
 * a noted pipe that still holds unread bytes is stamped here: from then on
 * it counts as drained one second after this close. */
void zc_inflight_fds_closing(unsigned first, unsigned last)
{
    if (!any_in_flight())
        return;
    struct inflight_table *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    for (int i = 0; i < INFLIGHT_SLOTS; i++) {
        struct inflight *s = &t->slots[i];
        unsigned before;
        if (!pipe_entry_for(s, first, last) || !slot_claim(s, &before))
            continue;
        if (state_of(before) == SLOT_USED && fd_queue(s) > 0)
            STORE(s->pipe_closed_ns, now_ns());
        slot_release(s, state_of(before));
    }
}

/* The destination's unread bytes; -1: this process cannot tell (the entry
 * is another process's, and its fd is not here). */
static long queued_bytes(struct inflight *s, pid_t me)
{
    long unread = s->tcp.family ? zc_sockdiag_tcp_unread(&s->tcp) : -1;
    if (unread >= 0)
        return unread;
    /* A pipe, a unix socket, or TCP without sock_diag: ask the fd, while it
     * is still the one we sent to. */
    unread = fd_queue(s);
    if (unread >= 0)
        return unread;
    /* The fd is closed, reused or not this process's.  A unix socket's
     * peer is found by inode; a pipe closed with bytes unread is given a
     * second from its close (README). */
    if (s->unix_peer_ino) {
        long unread = zc_sockdiag_unix_unread(s->unix_peer_ino);
        if (unread >= 0)
            return unread;
    }
    if (s->dst_is_pipe && !s->pipe_closed_ns && s->owner != me && kill(s->owner, 0) < 0 && errno == ESRCH)
        STORE(s->pipe_closed_ns, now_ns());  /* its sender died: its fds closed then, or before */
    if (s->pipe_closed_ns)
        return now_ns() - s->pipe_closed_ns < DRAIN_WAIT_MS * 1000000LL;
    return s->owner == me ? 0 : -1;
}

/* Frees slot s, claimed by us, if its destination has drained: true. */
static bool free_if_drained(struct inflight_table *t, struct inflight *s, pid_t me, int64_t deadline_ns)
{
    struct timespec ms = { 0, 1000000 };
    long queued = queued_bytes(s, me);
    while (queued > 0 && now_ns() < deadline_ns) {
        nanosleep(&ms, NULL);
        queued = queued_bytes(s, me);
    }
    if (queued != 0) {  /* still queued, or another process's: kept */
        slot_release(s, SLOT_USED);
        return false;
    }
    __atomic_sub_fetch(&t->live, 1, __ATOMIC_RELAXED);
    slot_release(s, SLOT_FREE);
    return true;
}

/* Before the program changes the file dev:ino: wait until what was sent
 * from it has drained, one second at most for the whole call. */
static void settle(dev_t dev, ino_t ino)
{
    struct inflight_table *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    struct timespec ms = { 0, 1000000 };
    pid_t me = getpid();
    int64_t deadline = now_ns() + DRAIN_WAIT_MS * 1000000LL;
    for (int i = 0; i < INFLIGHT_SLOTS; i++) {
        struct inflight *s = &t->slots[i];
        for (;;) {
            unsigned word = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE), before;
            if (state_of(word) == SLOT_FREE || LOAD(s->src_ino) != ino || LOAD(s->src_dev) != dev)
                break;
            if (state_of(word) == SLOT_USED && slot_claim(s, &before)) {
                if (state_of(before) == SLOT_USED)
                    free_if_drained(t, s, me, deadline);
                else
                    slot_release(s, state_of(before));
                break;
            }
            /* Busy: another thread or process is asking this entry's queue
             * (or filling it).  Skipping it would skip its wait: try again. */
            if (now_ns() >= deadline)
                break;
            nanosleep(&ms, NULL);
        }
    }
}

/* Entries whose destination has drained leave the table, so that once
 * nothing is in flight a write to a file costs no fstat.  Asked at most
 * every SWEEP_EVERY_MS by the whole process tree, never waiting: a
 * fork-per-connection server's children would otherwise each ask again
 * after every entry the others left. */
static void sweep_drained(void)
{
    struct inflight_table *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    int64_t now = now_ns(), due = __atomic_load_n(&t->next_sweep_ns, __ATOMIC_RELAXED);
    if (now < due ||
        !__atomic_compare_exchange_n(&t->next_sweep_ns, &due, now + SWEEP_EVERY_MS * 1000000LL, false,
                                     __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        return;
    pid_t me = getpid();
    for (int i = 0; i < INFLIGHT_SLOTS; i++) {
        struct inflight *s = &t->slots[i];
        unsigned before;
        /* Only this process's entries, or a dead process's: another live
         * process's fd numbers are not ours to ask. */
        pid_t owner = LOAD(s->owner);
        if (!slot_used(s) || (owner != me && !(kill(owner, 0) < 0 && errno == ESRCH)) || !slot_claim(s, &before))
            continue;
        if (state_of(before) == SLOT_USED)
            free_if_drained(t, s, me, 0);
        else
            slot_release(s, state_of(before));
    }
}

void zc_inflight_settle_fd(int fd)
{
    if (!any_in_flight() || zc_depth || fd < 0)
        return;
    int saved_errno = errno;
    sweep_drained();
    errno = saved_errno;
    if (!any_in_flight())
        return;
    bool known = fd < KNOWN_FDS;
    if (known && (__atomic_load_n(&not_a_file[fd / 64], __ATOMIC_RELAXED) & (1ull << (fd % 64))))
        return;
    struct stat st;
    if (zc_fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        settle(st.st_dev, st.st_ino);
    } else if (known && last_non_file == fd) {
        __atomic_or_fetch(&not_a_file[fd / 64], 1ull << (fd % 64), __ATOMIC_RELAXED);
    } else {
        /* The bit only from the second write on: a process forked to
         * write once would copy the bitmap's page to save nothing. */
        last_non_file = fd;
    }
    errno = saved_errno;
}

/* truncate(), and open() with O_TRUNC: the file by its path. */
void zc_inflight_settle_path(int dirfd, const char *path)
{
    if (!any_in_flight() || zc_depth || !path)
        return;
    int saved_errno = errno;
    struct stat st;
    if (fstatat(dirfd, path, &st, 0) == 0 && S_ISREG(st.st_mode))
        settle(st.st_dev, st.st_ino);
    errno = saved_errno;
}
