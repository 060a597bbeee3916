/* Recent reads from regular files, and mappings of them, remembered by
 * buffer address.
 *
 * One process-wide table, because servers read in one thread and write the
 * same buffer from another, double-buffer, and gather many reads into one
 * writev.  Fixed size, no malloc, no lock: each slot is a seqlock whose
 * writer claims it with a compare-and-swap, so signal handlers and threads
 * never wait.  A reader that races a writer simply misses the slot: a missed
 * rewrite, never a wrong byte (and in safe mode every hit is proven anyway).
 * The fields are relaxed atomics ordered by the sequence's fences (the C11
 * seqlock): a reader that saw any store of a writer sees its odd sequence
 * too, on every architecture, not only on x86's strong ordering. */
#include "zcopy.h"

#include <errno.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define READ_SLOTS 64  /* a ring: the newest reads */
#define MAP_SLOTS 32   /* live file mappings, until munmap */
#define TRACK_SLOTS (READ_SLOTS + MAP_SLOTS)

#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)
#define STORE(field, value) __atomic_store_n(&(field), (value), __ATOMIC_RELAXED)

struct track_slot {
    unsigned seq;  /* odd while a writer owns the slot */
    uintptr_t start;
    size_t len;    /* 0 = empty */
    int fd;
    dev_t dev;
    ino_t ino;
    off_t file_off;
    uint64_t stamp; /* newer reads win over older ones for the same bytes */
    uint8_t origin; /* enum zc_origin */
    uint8_t looked_up; /* a write has found it: the first to give way */
    int64_t changed_ns; /* the file's ctime when read; 0: it may change unseen */
};

static struct track_slot slots[TRACK_SLOTS];
static uint64_t track_clock;
/* How many slots hold an entry, never fewer: raised before a slot is
 * filled, lowered after it is emptied.  Zero lets the reads and writes of
 * a program that never read a file skip the scan of every slot. */
static unsigned filled_slots;

static bool slot_claim(struct track_slot *s, unsigned *seq)
{
    unsigned cur = __atomic_load_n(&s->seq, __ATOMIC_RELAXED);
    if (cur & 1)
        return false;
    if (!__atomic_compare_exchange_n(&s->seq, &cur, cur + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return false;
    /* The odd sequence is seen before any field this writer stores. */
    __atomic_thread_fence(__ATOMIC_RELEASE);
    *seq = cur + 1;
    return true;
}

static void slot_release(struct track_slot *s, unsigned seq)
{
    __atomic_store_n(&s->seq, seq + 1, __ATOMIC_RELEASE);
}

/* A consistent copy of a slot, or false if a writer was busy with it. */
static bool slot_read(struct track_slot *s, struct track_slot *copy)
{
    unsigned seq = __atomic_load_n(&s->seq, __ATOMIC_ACQUIRE);
    if (seq & 1)
        return false;
    copy->start = LOAD(s->start);
    copy->len = LOAD(s->len);
    copy->fd = LOAD(s->fd);
    copy->dev = LOAD(s->dev);
    copy->ino = LOAD(s->ino);
    copy->file_off = LOAD(s->file_off);
    copy->stamp = LOAD(s->stamp);
    copy->origin = LOAD(s->origin);
    copy->changed_ns = LOAD(s->changed_ns);
    __atomic_thread_fence(__ATOMIC_ACQUIRE);
    return __atomic_load_n(&s->seq, __ATOMIC_RELAXED) == seq && copy->len;
}

static void slot_clear(struct track_slot *s)
{
    unsigned seq;
    /* Keep trying while another writer owns it: an entry that outlives the
     * bytes it describes would matter in trust mode. */
    for (int tries = 0; tries < 1000; tries++) {
        if (!__atomic_load_n(&s->len, __ATOMIC_RELAXED))
            return;
        if (slot_claim(s, &seq)) {
            bool was_filled = LOAD(s->len) != 0;
            STORE(s->len, 0);
            slot_release(s, seq);
            if (was_filled)
                __atomic_sub_fetch(&filled_slots, 1, __ATOMIC_RELEASE);
            return;
        }
    }
}

static void forget_range(const void *buf, size_t len)
{
    if (!__atomic_load_n(&filled_slots, __ATOMIC_ACQUIRE))
        return;
    uintptr_t a = (uintptr_t)buf, b = a + len;
    for (int i = 0; i < TRACK_SLOTS; i++) {
        struct track_slot *s = &slots[i];
        size_t slen = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
        uintptr_t sa = __atomic_load_n(&s->start, __ATOMIC_RELAXED);
        if (slen && sa < b && a < sa + slen)
            slot_clear(s);
    }
}

static bool read_slot_of(const struct track_slot *s, unsigned first, unsigned last)
{
    unsigned fd = (unsigned)__atomic_load_n(&s->fd, __ATOMIC_RELAXED);
    return __atomic_load_n(&s->len, __ATOMIC_RELAXED) && fd >= first && fd <= last;
}

/* Mappings outlive their fd, so only reads are forgotten here.  With no
 * slot filled the slots are not even read: a fork-per-connection server's
 * child would fault their pages in on every close. */
void zc_track_forget_fds(unsigned first, unsigned last)
{
    if (!__atomic_load_n(&filled_slots, __ATOMIC_ACQUIRE))
        return;
    for (int i = 0; i < READ_SLOTS; i++)
        if (read_slot_of(&slots[i], first, last))
            slot_clear(&slots[i]);
}

bool zc_track_knows_fd(int fd)
{
    if (!__atomic_load_n(&filled_slots, __ATOMIC_ACQUIRE))
        return false;
    for (int i = 0; fd >= 0 && i < READ_SLOTS; i++)
        if (read_slot_of(&slots[i], (unsigned)fd, (unsigned)fd))
            return true;
    return false;
}

void zc_track_forget_fd(int fd)
{
    if (fd >= 0)
        zc_track_forget_fds((unsigned)fd, (unsigned)fd);
}

static void slot_fill(struct track_slot *s, unsigned seq, const void *buf, size_t len, int fd,
                      const struct zc_source_id *id, off_t file_off, uint64_t stamp, enum zc_origin origin)
{
    if (!LOAD(s->len))
        __atomic_add_fetch(&filled_slots, 1, __ATOMIC_ACQ_REL);
    STORE(s->start, (uintptr_t)buf);
    STORE(s->len, len);
    STORE(s->fd, fd);
    STORE(s->dev, id->dev);
    STORE(s->ino, id->ino);
    STORE(s->file_off, file_off);
    STORE(s->stamp, stamp);
    STORE(s->origin, (uint8_t)origin);
    STORE(s->looked_up, 0);
    STORE(s->changed_ns, origin == ZC_FROM_READ ? id->changed_ns : 0);
    slot_release(s, seq);
}

/* The ring's next slot, unless it holds a read no write has found yet: a
 * thread may hold a chunk it read for long (waiting for a lock, or for
 * Python's GIL) while other threads read on.  Then the next slot that is
 * empty or was found by a write, a few at most (a program that reads and
 * never writes would scan them all); else the ring's own. */
#define READ_LOOKAHEAD 8
static struct track_slot *read_slot_for(uint64_t stamp)
{
    for (unsigned i = 0; i < READ_LOOKAHEAD; i++) {
        struct track_slot *s = &slots[(stamp + i) % READ_SLOTS];
        if (!__atomic_load_n(&s->len, __ATOMIC_RELAXED) || __atomic_load_n(&s->looked_up, __ATOMIC_RELAXED))
            return s;
    }
    return &slots[stamp % READ_SLOTS];
}

static void remember_read(const void *buf, size_t len, int fd, const struct zc_source_id *id, off_t file_off)
{
    forget_range(buf, len);
    uint64_t stamp = __atomic_add_fetch(&track_clock, 1, __ATOMIC_RELAXED);
    struct track_slot *s = read_slot_for(stamp);
    unsigned seq;
    if (!slot_claim(s, &seq))
        return;  /* another thread is writing this slot: forget this read */
    slot_fill(s, seq, buf, len, fd, id, file_off, stamp, ZC_FROM_READ);
}

static void remember_map(const void *addr, size_t len, int fd, const struct stat *st, off_t file_off,
                  enum zc_origin origin)
{
    forget_range(addr, len);
    uint64_t stamp = __atomic_add_fetch(&track_clock, 1, __ATOMIC_RELAXED);
    /* A free map slot; if none, the oldest mapping is forgotten. */
    struct track_slot *victim = NULL;
    for (int i = READ_SLOTS; i < TRACK_SLOTS; i++) {
        struct track_slot *s = &slots[i];
        if (!__atomic_load_n(&s->len, __ATOMIC_RELAXED)) {
            victim = s;
            break;
        }
        if (!victim || LOAD(s->stamp) < LOAD(victim->stamp))
            victim = s;
    }
    unsigned seq;
    if (slot_claim(victim, &seq))
        slot_fill(victim, seq, addr, len, fd, &(struct zc_source_id){ st->st_dev, st->st_ino, 0 }, file_off, stamp,
                  origin);
}

/* A private mapping made writable may stop matching its file; stores into
 * a shared one change the file under bytes in flight. */
static void mark_writable(const void *addr, size_t len)
{
    uintptr_t a = (uintptr_t)addr, b = a + len;
    for (int i = READ_SLOTS; i < TRACK_SLOTS; i++) {
        struct track_slot *s = &slots[i];
        unsigned seq;
        uint8_t origin = __atomic_load_n(&s->origin, __ATOMIC_RELAXED);
        if (origin != ZC_FROM_PRIVATE_MAP && origin != ZC_FROM_SHARED_MAP)
            continue;
        size_t slen = __atomic_load_n(&s->len, __ATOMIC_RELAXED);
        uintptr_t sa = __atomic_load_n(&s->start, __ATOMIC_RELAXED);
        if (!slen || sa >= b || a >= sa + slen)
            continue;
        if (slot_claim(s, &seq)) {
            STORE(s->origin, origin == ZC_FROM_SHARED_MAP ? ZC_FROM_SHARED_MAP_WRITABLE : ZC_FROM_PRIVATE_MAP_WRITABLE);
            slot_release(s, seq);
        } else {
            slot_clear(s);
        }
    }
}

/* The remembered read holding p, or (hit->fd = -1) how many bytes from p
 * are not remembered at all.  Either way hit->len <= n. */
void zc_track_lookup(const char *p, size_t n, struct zc_hit *hit)
{
    uintptr_t a = (uintptr_t)p, next = a + n;
    /* Nothing remembered (calibration chose plain everywhere, so reads are
     * not noted): every byte is plain, without a look at every slot. */
    if (zc_track_empty()) {
        *hit = (struct zc_hit){ .fd = -1, .len = n };
        return;
    }
    struct track_slot best = { 0 }, copy;
    int best_i = 0;
    for (int i = 0; i < TRACK_SLOTS; i++) {
        /* A relaxed look first: a slot that is empty, or neither holds p
         * nor starts before next, needs no consistent copy.  Racing a
         * writer here is finding the slot busy: a missed rewrite at worst. */
        size_t slen = __atomic_load_n(&slots[i].len, __ATOMIC_RELAXED);
        uintptr_t sa = __atomic_load_n(&slots[i].start, __ATOMIC_RELAXED);
        if (!slen || !((a >= sa && a < sa + slen) || (sa > a && sa < next)))
            continue;
        if (!slot_read(&slots[i], &copy))
            continue;
        if (a >= copy.start && a < copy.start + copy.len) {
            if (copy.stamp > best.stamp) {
                best = copy;
                best_i = i;
            }
        } else if (copy.start > a && copy.start < next) {
            next = copy.start;
        }
    }
    if (!best.len) {
        *hit = (struct zc_hit){ .fd = -1, .len = next - a };
        return;
    }
    /* Unlocked: if the slot was refilled meanwhile, that read only gives
     * way sooner (a missed rewrite at worst). */
    if (!__atomic_load_n(&slots[best_i].looked_up, __ATOMIC_RELAXED))
        __atomic_store_n(&slots[best_i].looked_up, 1, __ATOMIC_RELAXED);
    size_t avail = best.start + best.len - a;
    hit->fd = best.fd;
    hit->dev = best.dev;
    hit->ino = best.ino;
    hit->file_off = best.file_off + (off_t)(a - best.start);
    hit->len = n < avail ? n : avail;
    hit->origin = best.origin;
    hit->changed_ns = best.changed_ns;
}

/* Nothing remembered: no write can carry a file's bytes. */
bool zc_track_empty(void)
{
    return !__atomic_load_n(&filled_slots, __ATOMIC_ACQUIRE);
}

/* Stores into a writable shared mapping of a file change it without
 * always changing its ctime (only the first store after writeback does). */
bool zc_track_mapped_writable(dev_t dev, ino_t ino)
{
    struct track_slot copy;
    for (int i = READ_SLOTS; i < TRACK_SLOTS; i++)
        if (slot_read(&slots[i], &copy) && copy.origin == ZC_FROM_SHARED_MAP_WRITABLE && copy.ino == ino &&
            copy.dev == dev)
            return true;
    return false;
}

/* In a fork child: a slot that a thread of the parent was writing stays
 * odd for ever, and every forget overlapping it would spin.  The child
 * has one thread; what that slot held is dropped.  With none filled, an
 * odd slot is one being filled from empty, its len still 0, which no
 * forget touches (slot_clear): the slots are then not read, so that a
 * fork-per-connection server's children do not fault their pages in. */
void zc_track_after_fork(void)
{
    if (!__atomic_load_n(&filled_slots, __ATOMIC_ACQUIRE))
        return;
    for (int i = 0; i < TRACK_SLOTS; i++) {
        unsigned seq = __atomic_load_n(&slots[i].seq, __ATOMIC_RELAXED);
        if (seq & 1) {
            STORE(slots[i].len, 0);
            __atomic_store_n(&slots[i].seq, seq + 1, __ATOMIC_RELEASE);
        }
    }
}

/* ---- called by the read hooks, after the real read succeeded ---- */

/* Reads smaller than this are not worth two extra syscalls to remember;
 * gathered writes of such pieces stay below the threshold anyway. */
size_t zc_track_floor(void)
{
    return zc_cfg.min_bytes < 4096 ? zc_cfg.min_bytes : 4096;
}

/* file_off < 0: a read() at the fd's own offset, which we ask for. */
void zc_note_read(int fd, const void *buf, ssize_t got, off_t file_off)
{
    if (got <= 0 || !zc_active() || zc_depth)
        return;
    /* A small read (a request line) costs no syscall, and stores nothing
     * outside the slots: a process forked per connection would copy the
     * page of zc_depth and errno for it. */
    /* Nor one that no write would be rewritten from: calibration found
     * the plain call cheaper wherever this program copies. */
    if ((size_t)got < zc_track_floor() || !zc_calibrate_wants_reads()) {
        forget_range(buf, (size_t)got);
        return;
    }
    zc_depth++;
    int saved_errno = errno;
    int64_t measured = zc_calibrate_track_begin();  /* a rewrite's cost starts here */
    struct zc_source_id id;
    if (zc_read_source(fd, &file_off, (size_t)got, &id))
        remember_read(buf, (size_t)got, fd, &id, file_off);
    else
        forget_range(buf, (size_t)got);
    zc_calibrate_track_end(measured);
    errno = saved_errno;
    zc_depth--;
}

void zc_note_readv(int fd, const struct iovec *iov, int iovcnt, ssize_t got, off_t file_off)
{
    if (got <= 0 || !zc_active() || zc_depth)
        return;
    if (file_off < 0) {
        int saved_errno = errno;
        off_t end = lseek(fd, 0, SEEK_CUR);
        errno = saved_errno;
        if (end < 0) {
            for (int i = 0; i < iovcnt; i++)
                zc_note_overwrite(iov[i].iov_base, (ssize_t)iov[i].iov_len);
            return;
        }
        file_off = end - got;
    }
    for (int i = 0; i < iovcnt && got > 0; i++) {
        ssize_t part = (size_t)got < iov[i].iov_len ? got : (ssize_t)iov[i].iov_len;
        zc_note_read(fd, iov[i].iov_base, part, file_off);
        file_off += part;
        got -= part;
    }
}

void zc_note_overwrite(const void *buf, ssize_t got)
{
    if (got > 0 && zc_active())
        forget_range(buf, (size_t)got);
}

/* After a successful mmap: a readable mapping of a regular file is a source
 * like a read; anything else mapped there replaces what was remembered. */
void zc_note_mmap(const void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (!zc_active())
        return;
    int saved_errno = errno;
    struct stat st;
    int type = flags & MAP_TYPE;
    if ((flags & MAP_ANONYMOUS) || fd < 0 || !(prot & PROT_READ) || zc_depth || !zc_is_trackable_file(fd, &st))
        forget_range(addr, len);
    else if (type == MAP_SHARED || type == MAP_SHARED_VALIDATE)
        remember_map(addr, len, fd, &st, off, (prot & PROT_WRITE) ? ZC_FROM_SHARED_MAP_WRITABLE : ZC_FROM_SHARED_MAP);
    else
        remember_map(addr, len, fd, &st, off, (prot & PROT_WRITE) ? ZC_FROM_PRIVATE_MAP_WRITABLE : ZC_FROM_PRIVATE_MAP);
    errno = saved_errno;
}

/* mprotect: memory that cannot be read cannot be sent (the plain write
 * fails EFAULT); a mapping made writable may change. */
void zc_note_protect(const void *addr, size_t len, int prot)
{
    if (!(prot & PROT_READ))
        forget_range(addr, len);
    else if (prot & PROT_WRITE)
        mark_writable(addr, len);
}
