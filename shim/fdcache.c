/* What an fd was found to be, kept until a hook sees that fd change, so
 * that a steady copy loop does not fstat the same two fds at every chunk.
 *
 * Each fd number falls in one of FD_SLOTS slots, and each slot has a
 * generation.  The hooks that create, close, replace or re-flag an fd
 * (fd_hooks.c: open, socket, accept, pipe, dup*, close, close_range,
 * fcntl F_SETFL) bump its slot's generation once the call is done.  An
 * answer holds only while its slot's generation is the one read before the
 * syscall that gave the answer: a close racing that syscall bumps after it,
 * so the answer is dropped, never kept too long.
 *
 * What no hook sees (a raw syscall(2), io_uring, a close inside libc such
 * as fclose) bumps nothing.  So an answer is used only where something else
 * still catches a stale one:
 *   - a read's source: only when the read starts exactly where the last
 *     read on that fd ended; the write's own fstat of the source still
 *     checks the inode and its ctime, and safe mode proves the bytes.
 *   - a destination's kind and flags: in trust mode only, whose user
 *     promises the program does not change fds behind libc's back while
 *     bytes it read are on their way (README, "Modes"). */
#include "zcopy.h"

#define FD_SLOTS 64
static unsigned generation[FD_SLOTS];
/* Whether an answer may be held for the slot: a close in a slot nobody
 * watches stores nothing, so the accepting parent of a fork-per-connection
 * server does not copy a page its children share on each connection.
 * Never cleared: a clear racing a new watcher could hide a later change. */
static unsigned char watched[FD_SLOTS];

static unsigned slot_of(unsigned fd)
{
    return fd % FD_SLOTS;
}

unsigned zc_fd_watch(int fd)
{
    unsigned s = slot_of((unsigned)fd);
    if (!__atomic_load_n(&watched[s], __ATOMIC_RELAXED))
        __atomic_store_n(&watched[s], 1, __ATOMIC_SEQ_CST);
    return __atomic_load_n(&generation[s], __ATOMIC_SEQ_CST);
}

bool zc_fd_unchanged(int fd, unsigned gen)
{
    return __atomic_load_n(&generation[slot_of((unsigned)fd)], __ATOMIC_SEQ_CST) == gen;
}

void zc_fd_changed(unsigned first, unsigned last)
{
    if (last - first >= FD_SLOTS - 1) {
        first = 0;
        last = FD_SLOTS - 1;
    }
    for (unsigned fd = first;; fd++) {
        unsigned s = slot_of(fd);
        if (__atomic_load_n(&watched[s], __ATOMIC_SEQ_CST))
            __atomic_add_fetch(&generation[s], 1, __ATOMIC_SEQ_CST);
        if (fd == last)
            break;
    }
}

/* ---- sources: the file a read came from ---- */

struct source_seen {
    int fd;  /* -1: empty */
    unsigned gen;
    off_t end;  /* where the last read on fd ended; -1: unknown */
    struct zc_source_id id;
};
#define SOURCES_SEEN 8  /* by fd: a server reads several files in turn */
static ZC_TLS struct source_seen sources_seen[SOURCES_SEEN] = { [0 ... SOURCES_SEEN - 1] = { .fd = -1 } };

static struct source_seen *source_entry(int fd)
{
    return &sources_seen[(unsigned)fd % SOURCES_SEEN];
}

/* Whether fd was a source, unchanged since: an lseek on it is no waste. */
bool zc_source_recent(int fd)
{
    struct source_seen *seen = source_entry(fd);
    return seen->fd == fd && zc_fd_unchanged(fd, seen->gen);
}

/* Whether fd's last read ended at START, with fd unchanged since: then the
 * file it names is still the one ID describes; this read of GOT bytes
 * becomes its last. */
bool zc_source_continues(int fd, off_t start, size_t got, struct zc_source_id *id)
{
    struct source_seen *seen = source_entry(fd);
    if (seen->fd != fd || seen->end != start || start < 0 || !zc_fd_unchanged(fd, seen->gen))
        return false;
    *id = seen->id;
    seen->end = start + (off_t)got;
    return true;
}

/* What fstat just found fd to be (GEN read before it).  END: where a read
 * ended; -1 when a write's check found it, which keeps the last read's end
 * if the file is the same. */
void zc_source_seen(int fd, unsigned gen, const struct zc_source_id *id, off_t end)
{
    struct source_seen *seen = source_entry(fd);
    if (end < 0 && seen->fd == fd && seen->id.dev == id->dev && seen->id.ino == id->ino)
        end = seen->end;
    *seen = (struct source_seen){ fd, gen, end, *id };
}

/* ---- destinations, in trust mode ---- */

static ZC_TLS struct {
    int fd;  /* -1: empty */
    unsigned gen;
    struct zc_dest dest;
} last_dest = { .fd = -1 };

bool zc_dest_known(int fd, struct zc_dest *dest)
{
    if (zc_cfg.mode != ZC_MODE_TRUST || last_dest.fd != fd || !zc_fd_unchanged(fd, last_dest.gen))
        return false;
    *dest = last_dest.dest;
    dest->known = true;
    return true;
}

/* A socket or pipe zc_classify_dest and zc_dest_open_flags accepted. */
void zc_dest_seen(int fd, const struct zc_dest *dest)
{
    if (zc_cfg.mode != ZC_MODE_TRUST || dest->kind == ZC_DEST_FILE)
        return;  /* files: rare, and O_APPEND/O_DIRECT per open, not per inode */
    last_dest.fd = fd;
    last_dest.gen = dest->gen;
    last_dest.dest = *dest;
}
