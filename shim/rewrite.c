/* Decides whether one write-like call may become an in-kernel transfer
 * without changing a byte or a result the program sees, cheapest checks
 * first, so that the writes zcopy cannot help pay almost nothing:
 *   1. size against ZCOPY_MIN_BYTES                       (no syscall)
 *   2. do the bytes come from remembered file reads?     (no syscall)
 *   3. call flags; calibration: does rewriting pay here? (no syscall)
 *   4. the destination's kind                             (fstat)
 *      file to file: where copy_file_range shares blocks (fstatfs, cached)
 *      its open flags                                     (fcntl; not sockets)
 *   5. each source fd still names that file, on a real fs (fstat, fstatfs)
 *   6. safe mode, or trust where the file changed since:
 *      the buffer still equals the file                  (memcmp)
 *   7. plain pieces after file bytes can be read         (madvise)
 * Any "no" means the plain call, counted under its reason. */
#include "zcopy.h"

#include <errno.h>
#include <limits.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MAX_IOVECS 64
#define MAX_PIECES 128

struct plan {
    struct zc_piece pieces[MAX_PIECES];
    int npieces;
    size_t file_bytes;
};

static bool add_piece(struct plan *plan, const char *p, const struct zc_hit *hit)
{
    struct zc_piece *last = plan->npieces ? &plan->pieces[plan->npieces - 1] : NULL;
    /* Merge what is contiguous in memory and in the same file (or both plain). */
    /* Reads are proven in safe mode; a private mapping made writable in
     * every mode; shared and never-writable mappings are the file itself. */
    bool must_prove = hit->fd >= 0 && (hit->origin == ZC_FROM_PRIVATE_MAP_WRITABLE ||
                                       (hit->origin == ZC_FROM_READ && zc_cfg.mode != ZC_MODE_TRUST));
    if (last && last->ptr + last->len == p && last->src_fd == hit->fd && last->origin == hit->origin &&
        (hit->fd < 0 || (last->dev == hit->dev && last->ino == hit->ino && last->changed_ns == hit->changed_ns &&
                         last->src_off + (off_t)last->len == hit->file_off))) {
        last->len += hit->len;
        last->must_prove |= must_prove;
    } else {
        if (plan->npieces == MAX_PIECES)
            return false;
        plan->pieces[plan->npieces++] = (struct zc_piece){
            .ptr = p, .len = hit->len, .src_fd = hit->fd, .src_off = hit->file_off, .dev = hit->dev,
            .ino = hit->ino, .must_prove = must_prove, .origin = (uint8_t)hit->origin, .changed_ns = hit->changed_ns
        };
    }
    if (hit->fd >= 0)
        plan->file_bytes += hit->len;
    return true;
}

/* Splits the iovecs into file pieces and plain pieces; no syscall. */
static enum zc_skip make_plan(const struct iovec *iov, int iovcnt, struct plan *plan)
{
    if (iovcnt > MAX_IOVECS)
        return ZC_SKIP_TOO_COMPLEX;
    for (int i = 0; i < iovcnt; i++) {
        const char *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left) {
            struct zc_hit hit;
            zc_track_lookup(p, left, &hit);
            if (!add_piece(plan, p, &hit))
                return ZC_SKIP_TOO_COMPLEX;
            p += hit.len;
            left -= hit.len;
        }
    }
    return plan->file_bytes ? ZC_SKIP_NONE : ZC_SKIP_NOT_FROM_FILE;
}

/* A mapping piece reaching into the last, partial page of its file: the
 * fast call would stop at end of file, where a plain write from the mapping
 * goes on to the page's end (zeros) or fails there.  The fast call takes the
 * whole pages; the rest of the piece becomes plain. */
static bool split_at_last_page(struct plan *plan, int i, off_t file_size)
{
    struct zc_piece *piece = &plan->pieces[i];
    off_t whole_pages = file_size & ~((off_t)sysconf(_SC_PAGESIZE) - 1);
    if (piece->origin == ZC_FROM_READ || piece->src_off + (off_t)piece->len <= whole_pages)
        return true;
    if (piece->src_off >= whole_pages) {
        plan->file_bytes -= piece->len;
        piece->src_fd = -1;
        return true;
    }
    if (plan->npieces == MAX_PIECES)
        return false;
    size_t keep = (size_t)(whole_pages - piece->src_off);
    memmove(piece + 2, piece + 1, (size_t)(plan->npieces - i - 1) * sizeof *piece);
    plan->npieces++;
    piece[1] = (struct zc_piece){ .ptr = piece->ptr + keep, .len = piece->len - keep, .src_fd = -1 };
    plan->file_bytes -= piece->len - keep;
    piece->len = keep;
    return true;
}

/* Trust mode takes a read's bytes as the file's, unless the file may have
 * changed since that read: the program (or its child, or anyone) wrote or
 * truncated it, and its ctime moved; or it changed in the tick of the read
 * (changed_ns 0); or the program can store into it through a writable
 * shared mapping, which need not move the ctime.  Those pieces are proven
 * as in safe mode.  No syscall: st is the fstat the source check made. */
static bool file_may_have_changed(const struct zc_piece *piece, const struct stat *st)
{
    int64_t changed = st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
    return !piece->changed_ns || changed != piece->changed_ns || zc_track_mapped_writable(piece->dev, piece->ino);
}

/* Rules 2, 3 and 5 for every file piece. */
static enum zc_skip check_sources(struct plan *plan, const struct zc_dest *dest)
{
    struct stat st;
    int checked_fd = -1;
    dev_t checked_dev = 0;
    ino_t checked_ino = 0;
    for (int i = 0; i < plan->npieces; i++) {
        struct zc_piece *piece = &plan->pieces[i];
        if (piece->src_fd < 0)
            continue;
        /* One call writing into its own source: a later piece would copy
         * bytes an earlier piece has just changed. */
        if (dest->kind == ZC_DEST_FILE && piece->dev == dest->dev && piece->ino == dest->ino)
            return ZC_SKIP_DEST_IS_SOURCE;
        if (checked_fd != piece->src_fd || checked_dev != piece->dev || checked_ino != piece->ino) {
            enum zc_skip why = zc_check_source(piece->src_fd, piece->dev, piece->ino, &st);
            if (why)
                return why;
            checked_fd = piece->src_fd;
            checked_dev = piece->dev;
            checked_ino = piece->ino;
        }
        if (!split_at_last_page(plan, i, st.st_size))
            return ZC_SKIP_TOO_COMPLEX;
        if (piece->src_fd < 0)
            continue;
        if (piece->origin == ZC_FROM_READ && !piece->must_prove && file_may_have_changed(piece, &st))
            piece->must_prove = true;
        if (piece->must_prove) {
            enum zc_skip why = zc_prove_unchanged(piece->src_fd, &st, piece->src_off, piece->ptr, piece->len);
            if (why == ZC_SKIP_BYTES_CHANGED && piece->origin == ZC_FROM_PRIVATE_MAP_WRITABLE)
                why = ZC_SKIP_MAP_WRITTEN;
            if (why)
                return why;
        }
    }
    return plan->file_bytes ? ZC_SKIP_NONE : ZC_SKIP_NOT_FROM_FILE;
}

/* File to file: copy_file_range pays only where it shares the blocks.
 * Where it copies them (ext4, tmpfs, or two filesystems) the program's
 * read still happens, so the copy is made as often as with write(), and
 * ran slower; sharing blocks has a cost per call, which exceeds a write's
 * copy for small writes (BENCHMARKS.md: W2, and "File to file"). */
#define CLONE_MIN_BYTES (256 * 1024)
static enum zc_skip file_to_file_pays(const struct plan *plan, const struct zc_dest *dest)
{
    if (zc_cfg.file_to_file_always)
        return ZC_SKIP_NONE;
    if (!dest->clones)
        return ZC_SKIP_DEST_FS_COPIES;
    for (int i = 0; i < plan->npieces; i++)
        if (plan->pieces[i].src_fd >= 0 && plan->pieces[i].dev != dest->dev)
            return ZC_SKIP_DEST_FS_COPIES;
    return plan->file_bytes < CLONE_MIN_BYTES ? ZC_SKIP_BELOW_CLONE_BYTES : ZC_SKIP_NONE;
}

/* Rule 7: after sendfile/splice the reader still refers to the page cache,
 * and the program can store into a writable shared mapping at any time. */
static bool stores_could_reach_bytes_in_flight(const struct plan *plan, const struct zc_dest *dest)
{
    if (dest->kind == ZC_DEST_FILE)
        return false;  /* copy_file_range copies (or shares copy-on-write) */
    for (int i = 0; i < plan->npieces; i++)
        if (plan->pieces[i].src_fd >= 0 && plan->pieces[i].origin == ZC_FROM_SHARED_MAP_WRITABLE)
            return true;
    return false;
}

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22  /* Linux 5.14 */
#endif

/* Plain pieces after a file piece go out once the file bytes have gone.
 * If their memory cannot be read (unmapped, PROT_NONE, past the end of a
 * mapped file), the plain call would have failed, or stopped where the
 * kernel chose: a unix socket sends nothing of a call that faults.  So the
 * kernel checks that memory first, and answers an error where a load
 * would raise SIGSEGV or SIGBUS.  Before Linux 5.14: EINVAL, a plain call. */
static enum zc_skip plain_after_file_readable(const struct plan *plan)
{
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    bool after_file = false;
    for (int i = 0; i < plan->npieces; i++) {
        const struct zc_piece *piece = &plan->pieces[i];
        after_file |= piece->src_fd >= 0;
        if (!after_file || piece->src_fd >= 0)
            continue;
        uintptr_t start = (uintptr_t)piece->ptr & ~(page - 1);
        uintptr_t end = ((uintptr_t)piece->ptr + piece->len + page - 1) & ~(page - 1);
        if (madvise((void *)start, end - start, MADV_POPULATE_READ) < 0)
            return ZC_SKIP_PLAIN_UNREADABLE;
    }
    return ZC_SKIP_NONE;
}

/* What the destination will refuse at the next call too: calibration then
 * keeps the site plain without asking again for a while.  Not
 * dest_other: an fd that is not open yet, or not any more. */
static bool refused_again_next_time(enum zc_skip why)
{
    switch (why) {
    case ZC_SKIP_DEST_NOT_STREAM:
    case ZC_SKIP_DEST_CHAR_DEVICE:
    case ZC_SKIP_DEST_APPEND:
    case ZC_SKIP_DEST_DIRECT:
    case ZC_SKIP_DEST_FS_COPIES:
    case ZC_SKIP_BELOW_CLONE_BYTES:
        return true;
    default:
        return false;
    }
}

static enum zc_skip decide(int fd, const struct iovec *iov, int iovcnt, size_t total, const off_t *dst_off,
                           enum zc_sink sink, int flags, const void *site, struct plan *plan, struct zc_dest *dest,
                           struct zc_calibration *cal)
{
    /* Small writes get here only with a log (or diag): they are looked at
     * to tell copy loops below the threshold from other writes. */
    bool small = total < zc_cfg.min_bytes || total == 0;
    enum zc_skip why = make_plan(iov, iovcnt, plan);
    int resting;
    if (why == ZC_SKIP_NOT_FROM_FILE && !small && (resting = zc_calibrate_resting_reason(site, total, fd)))
        return (enum zc_skip)resting;
    if (why)
        return why;
    if (small || plan->file_bytes < zc_cfg.min_bytes)
        return ZC_SKIP_BELOW_MIN_BYTES;
    /* MSG_NOSIGNAL is emulated; MSG_DONTWAIT, MSG_OOB, MSG_MORE... are not. */
    if (sink == ZC_SINK_SEND && (flags & ~MSG_NOSIGNAL))
        return ZC_SKIP_CALL_FLAGS;
    /* Never slower: whether rewriting pays at this site, as measured on
     * this machine.  Asked before the checks' syscalls: they are part of
     * what a rewrite costs. */
    if (!zc_calibrate_fast(site, total, fd, cal))
        return cal->refused_why ? (enum zc_skip)cal->refused_why : ZC_SKIP_CALIBRATED_PLAIN;
    unsigned dest_gen = zc_fd_watch(fd);  /* before the fstat: fdcache.c */
    /* Before the fcntl of the open flags: a file refused here costs none. */
    if ((why = zc_classify_dest(fd, dest)) || (dest->kind == ZC_DEST_FILE && (why = file_to_file_pays(plan, dest))) ||
        (why = zc_dest_open_flags(fd, dest))) {
        if (refused_again_next_time(why))
            zc_calibrate_refused(cal, site, total, why, fd, dest_gen);
        return why;
    }
    if (dst_off && dest->kind != ZC_DEST_FILE)
        return ZC_SKIP_DEST_OTHER;  /* pwrite on a pipe or socket: ESPIPE */
    if (sink == ZC_SINK_SEND && dest->kind != ZC_DEST_SOCKET)
        return ZC_SKIP_DEST_OTHER;  /* send on a file or pipe: ENOTSOCK */
    if (dest->kind == ZC_DEST_PIPE && total <= PIPE_BUF)
        return ZC_SKIP_PIPE_ATOMIC;
    if (stores_could_reach_bytes_in_flight(plan, dest))
        return ZC_SKIP_SHARED_MAP_WRITABLE;
    if ((why = check_sources(plan, dest)))
        return why;
    return plain_after_file_readable(plan);
}

/* One line in the decision log's table; only writes that carry file bytes
 * are copy patterns worth reporting. */
static void log_decision(enum zc_action action, enum zc_method method, enum zc_skip why, int fd,
                         const struct plan *plan, size_t bytes, const void *site)
{
    if (!plan->file_bytes)
        return;
    zc_stats_site(site, action, method, why, bytes);  /* for zcopy stats */
    if (!zc_logging())
        return;
    struct zc_decision d = { action, method, why, fd, -1, 0, bytes, site };
    for (int i = 0; i < plan->npieces; i++)
        if (plan->pieces[i].src_fd >= 0) {
            d.src_fd = plan->pieces[i].src_fd;
            d.src_off = plan->pieces[i].src_off;
            break;
        }
    zc_log_decision(&d);
}

/* Apart from zc_rewrite so that a small write never touches the plan's
 * 7 KiB of stack: a fresh stack page is a page fault in every process a
 * fork-per-connection server starts. */
static __attribute__((noinline)) bool rewrite_planned(int fd, const struct iovec *iov, int iovcnt, size_t total,
                                                      const off_t *dst_off, enum zc_sink sink, int flags,
                                                      const void *site, ssize_t *result)
{
    zc_depth++;
    int saved_errno = errno;
    struct plan plan;
    plan.npieces = 0;
    plan.file_bytes = 0;
    struct zc_dest dest;
    struct zc_calibration cal = { 0 };
    bool handled = false;
    enum zc_skip why = decide(fd, iov, iovcnt, total, dst_off, sink, flags, site, &plan, &dest, &cal);
    if (why == ZC_SKIP_CALIBRATED_PLAIN)
        zc_calibrate_plain_begin(&cal);  /* the hook's plain call ends it */
    if (why) {
        zc_stats_skip(why);
        log_decision(ZC_ACT_SKIP, ZC_PLAIN, why, fd, &plan, total, site);
    } else if (zc_cfg.mode == ZC_MODE_DIAG) {
        log_decision(ZC_ACT_WOULD_REWRITE, zc_method_for(dest.kind), why, fd, &plan, total, site);
    } else {
        bool fell_back = false;
        errno = saved_errno;
        *result = zc_transfer(fd, &dest, plan.pieces, plan.npieces, dst_off, sink == ZC_SINK_SEND ? flags : 0,
                              &fell_back);
        saved_errno = *result < 0 ? errno : saved_errno;
        zc_calibrate_end(&cal, *result, zc_method_for(dest.kind));
        log_decision(fell_back ? ZC_ACT_FALLBACK : ZC_ACT_REWRITE, zc_method_for(dest.kind),
                     fell_back ? ZC_SKIP_FAST_CALL_FAILED : ZC_SKIP_NONE, fd, &plan,
                     *result > 0 ? (size_t)*result : 0, site);
        handled = true;
    }
    errno = saved_errno;
    zc_depth--;
    return handled;
}

bool zc_rewrite(int fd, const struct iovec *iov, int iovcnt, const off_t *dst_off, enum zc_sink sink, int flags,
                const void *site, ssize_t *result)
{
    if (!zc_active() || zc_depth || iovcnt <= 0)
        return false;
    size_t total = 0;
    for (int i = 0; i < iovcnt && i < MAX_IOVECS; i++) {
        if (iov[i].iov_len > SSIZE_MAX - total)
            return false;  /* let the plain call report EINVAL */
        total += iov[i].iov_len;
    }
    if ((total < zc_cfg.min_bytes || total == 0) && !zc_logging()) {
        zc_stats_skip(ZC_SKIP_BELOW_MIN_BYTES);  /* check 1: too small to pay */
        return false;
    }
    /* Check 2 before the plan's 7 KiB of stack: with no read remembered
     * (while calibration rests them, plain paying at every site), no write
     * carries a file's bytes.  Counted as make_plan would have. */
    if (zc_track_empty()) {
        int resting = total >= zc_cfg.min_bytes ? zc_calibrate_resting_reason(site, total, fd) : 0;
        zc_stats_skip(resting ? (enum zc_skip)resting : ZC_SKIP_NOT_FROM_FILE);
        return false;
    }
    return rewrite_planned(fd, iov, iovcnt, total, dst_off, sink, flags, site, result);
}

int zc_rewrite_stop_reason(void)
{
    return zc_transfer_stop_reason();
}

void zc_refuse(int fd, const void *buf, size_t n, enum zc_skip why, const void *site)
{
    if (!zc_active() || zc_depth || (!zc_logging() && !zc_stats_counting()))
        return;
    zc_depth++;
    int saved_errno = errno;
    struct plan plan;
    plan.npieces = 0;
    plan.file_bytes = 0;
    struct iovec iov = { (void *)buf, n };
    if (make_plan(&iov, 1, &plan) == ZC_SKIP_NONE) {
        zc_stats_skip(why);
        log_decision(ZC_ACT_SKIP, ZC_PLAIN, why, fd, &plan, n, site);
    }
    errno = saved_errno;
    zc_depth--;
}
