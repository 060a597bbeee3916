/* Moves pieces to the destination: file pieces with sendfile, splice or
 * copy_file_range, plain pieces with the plain call.  The program's buffer
 * holds the same bytes as every file piece (proven, or trusted), so it is
 * always the fallback: whatever the fast call cannot do, write() does from
 * the buffer.
 *
 * The result must be one the plain call could have returned:
 * - EINTR, EAGAIN, EPIPE, ECONNRESET, ENOTCONN, EFBIG: report what was done so far
 *   (or -1 with that errno), like a plain write interrupted at that point.
 *   Retrying would swallow an EINTR or raise a second SIGPIPE or SIGXFSZ.
 * - Any other failure of a fast call (EINVAL, ENOSYS, EXDEV, EOPNOTSUPP,
 *   EIO from the source, ...) or a 0 return (file truncated): the plain call
 *   sends the rest, and its result is the program's result. */
#include "zcopy.h"

#include <errno.h>
#include <signal.h>
#include <sys/sendfile.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/time.h>
#include <unistd.h>

#define SENDFILE_MAX 0x7ffff000  /* the kernel's cap per call */

/* The errno that stopped this thread's last transfer early, or 0. */
static ZC_TLS int zc_transfer_stopped_by;

enum zc_method zc_method_for(enum zc_dest_kind kind)
{
    return kind == ZC_DEST_SOCKET ? ZC_SENDFILE : kind == ZC_DEST_PIPE ? ZC_SPLICE : ZC_COPY_FILE_RANGE;
}

/* EFBIG: past RLIMIT_FSIZE the call raised SIGXFSZ; a plain retry would
 * raise it again. */
static bool stop_errno(int e)
{
    return e == EINTR || e == EAGAIN || e == EWOULDBLOCK || e == EPIPE || e == ECONNRESET || e == ENOTCONN ||
           e == EFBIG;
}

/* A plain write() to a file stops short, with no signal, at RLIMIT_FSIZE;
 * the next one fails EFBIG with SIGXFSZ.  After a short copy_file_range,
 * stop where write() would have stopped. */
static bool at_file_size_limit(int fd, const off_t *dst_off)
{
    struct rlimit limit;
    if (getrlimit(RLIMIT_FSIZE, &limit) < 0 || limit.rlim_cur == RLIM_INFINITY)
        return false;
    off_t pos = dst_off ? *dst_off : lseek(fd, 0, SEEK_CUR);
    return pos >= 0 && (rlim_t)pos >= limit.rlim_cur;
}

static ssize_t fast_call(int fd, enum zc_dest_kind kind, int src_fd, off_t src_off, size_t n, off_t *dst_off)
{
    off64_t in = src_off;
    if (n > SENDFILE_MAX)
        n = SENDFILE_MAX;
    switch (kind) {
    case ZC_DEST_SOCKET: return real_sendfile(fd, src_fd, &in, n);
    case ZC_DEST_PIPE: return real_splice(src_fd, &in, fd, NULL, n, 0);
    default: return real_copy_file_range(src_fd, &in, fd, dst_off, n, 0);
    }
}

/* The plain call for bytes of the program's buffer. */
static ssize_t plain_call(int fd, const struct zc_dest *dest, const char *p, size_t n, off_t *dst_off,
                          int send_flags)
{
    if (dst_off)
        return real_pwrite64(fd, p, n, *dst_off);
    if (dest->kind == ZC_DEST_SOCKET)
        return real_send(fd, p, n, send_flags);
    return real_write(fd, p, n);
}

/* Sends pieces[i].ptr[skip..] with the plain call; returns bytes done or -1. */
/* One plain call, not a loop: where it stops short (a signal, a full
 * non-blocking fd, RLIMIT_FSIZE) the program's own call would have too, and
 * calling again could raise a signal it never raised (SIGXFSZ). */
static ssize_t send_plain(int fd, const struct zc_dest *dest, const struct zc_piece *piece, size_t skip,
                          off_t *dst_off, int send_flags)
{
    ssize_t r = plain_call(fd, dest, piece->ptr + skip, piece->len - skip, dst_off, send_flags);
    if (r > 0 && dst_off)
        *dst_off += r;
    zc_stats_add(ZC_PLAIN, r);
    return r;
}

/* Once some bytes of the call have gone, the plain call returns that
 * partial count when a signal handler runs while it waits for room, with
 * SA_RESTART or without.  A fast call that waited instead would be
 * restarted by the kernel after an SA_RESTART handler, and wait on (for
 * ever, if the peer never reads).  So every call after the first waits
 * here first: poll() returns EINTR whenever a handler ran, whatever
 * SA_RESTART says.  True: room now, go on.  False: the plain call would
 * have returned its partial count here (a handler ran, the fd is
 * non-blocking and full, or a socket's SO_SNDTIMEO ran out). */
static bool room_to_go_on(int fd, const struct zc_dest *dest)
{
    if (dest->kind == ZC_DEST_FILE)
        return true;  /* a regular file never waits for a reader */
    struct pollfd want = { fd, POLLOUT, 0 };
    int ready = poll(&want, 1, 0);
    if (ready != 0)
        return ready > 0 || errno != EINTR;  /* POLLERR, POLLHUP: the call reports them */
    /* A flag from fdcache.c may be stale: FIONBIO reaches no hook. */
    int fl = dest->kind == ZC_DEST_PIPE && !dest->known ? dest->fl : real_fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_NONBLOCK)) {
        zc_transfer_stopped_by = EAGAIN;
        return false;
    }
    int timeout_ms = -1;
    struct timeval limit;
    socklen_t len = sizeof limit;
    if (dest->kind == ZC_DEST_SOCKET && getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, &len) == 0 &&
        (limit.tv_sec || limit.tv_usec))
        timeout_ms = (int)(limit.tv_sec * 1000 + (limit.tv_usec + 999) / 1000);
    ready = poll(&want, 1, timeout_ms);
    if (ready > 0)
        return true;
    zc_transfer_stopped_by = ready == 0 ? EAGAIN : errno;
    return false;
}

/* A socket's sendfile stops short where write() would have stopped: a
 * signal handler ran while it waited for room, or SO_SNDTIMEO ran out, or
 * a non-blocking socket filled; the socket is then full.  Or it returns
 * early for reasons of its own, or the source ended (the next call returns
 * 0): then there is room, and the loop goes on.  (A pipe's splice stops
 * short whenever the pipe fills: room_to_go_on waits for that.) */
static bool socket_stopped_short(int fd, const struct zc_dest *dest)
{
    struct pollfd want = { fd, POLLOUT, 0 };
    return dest->kind == ZC_DEST_SOCKET && poll(&want, 1, 0) == 0;
}

/* One file piece; SENT_BEFORE bytes of this call have gone already.
 * Returns bytes done or -1 with errno. */
static ssize_t send_file_piece(int fd, const struct zc_dest *dest, const struct zc_piece *piece, off_t *dst_off,
                               int send_flags, size_t sent_before, bool *fell_back)
{
    size_t done = 0;
    while (done < piece->len) {
        if (sent_before + done && !room_to_go_on(fd, dest))
            return (ssize_t)done;
        size_t asked = piece->len - done < SENDFILE_MAX ? piece->len - done : SENDFILE_MAX;
        ssize_t r = fast_call(fd, dest->kind, piece->src_fd, piece->src_off + (off_t)done, asked, dst_off);
        if (r > 0) {
            zc_stats_add(zc_method_for(dest->kind), r);
            if (dest->kind != ZC_DEST_FILE)
                zc_inflight_note(piece->dev, piece->ino, fd, dest);
            done += (size_t)r;
            if (dest->kind == ZC_DEST_FILE && done < piece->len && at_file_size_limit(fd, dst_off))
                return (ssize_t)done;
            if ((size_t)r < asked && socket_stopped_short(fd, dest))
                return (ssize_t)done;
            continue;
        }
        if (r < 0 && stop_errno(errno)) {
            zc_transfer_stopped_by = errno;  /* a short count hides it otherwise */
            return done ? (ssize_t)done : -1;
        }
        /* 0: the source shrank; other errors: this fd or fs refuses. */
        zc_stats_skip(ZC_SKIP_FAST_CALL_FAILED);
        *fell_back = true;
        if (sent_before + done && !room_to_go_on(fd, dest))
            return (ssize_t)done;
        ssize_t rest = send_plain(fd, dest, piece, done, dst_off, send_flags);
        if (rest < 0)
            return done ? (ssize_t)done : -1;
        return (ssize_t)(done + (size_t)rest);
    }
    return (ssize_t)done;
}

static ssize_t transfer_pieces(int fd, const struct zc_dest *dest, const struct zc_piece *pieces, int npieces,
                               off_t *dst_off, int send_flags, int head_flags, bool *fell_back)
{
    size_t total = 0;
    for (int i = 0; i < npieces; i++) {
        const struct zc_piece *piece = &pieces[i];
        int flags = i < npieces - 1 ? send_flags | head_flags : send_flags;
        ssize_t r;
        if (piece->src_fd >= 0)
            r = send_file_piece(fd, dest, piece, dst_off, flags, total, fell_back);
        else if (total && !room_to_go_on(fd, dest))
            r = 0;
        else
            r = send_plain(fd, dest, piece, 0, dst_off, flags);
        if (r < 0)
            return total ? (ssize_t)total : -1;
        total += (size_t)r;
        if ((size_t)r < piece->len)
            break;  /* a short count: the plain call could stop here too */
    }
    return (ssize_t)total;
}

/* One writev that became several sends must leave TCP as one would: full
 * segments, and no delayed-ACK stall between a header and its body.
 * - Plain pieces, then one file piece last (a header and a body): each
 *   plain send says MSG_MORE, and sendfile pushes at its own end, as the
 *   writev would have.  No syscall more.
 * - Any other shape: TCP_CORK around the sends; uncorking pushes.
 * A socket the program corked itself is left alone. */
enum tcp_join { JOIN_NONE, JOIN_MSG_MORE, JOIN_CORK };

static enum tcp_join tcp_join_for(const struct zc_dest *dest, const struct zc_piece *pieces, int npieces)
{
    if (!dest->inet || npieces < 2)
        return JOIN_NONE;
    for (int i = 0; i < npieces - 1; i++)
        if (pieces[i].src_fd >= 0)
            return JOIN_CORK;
    return pieces[npieces - 1].src_fd >= 0 ? JOIN_MSG_MORE : JOIN_CORK;
}

static bool corked_by_program(int fd)
{
    int saved_errno = errno, corked = 1;
    socklen_t len = sizeof corked;
    bool corked_or_unknown = getsockopt(fd, IPPROTO_TCP, TCP_CORK, &corked, &len) < 0 || corked;
    errno = saved_errno;
    return corked_or_unknown;
}

/* Clearing TCP_CORK also sends what TCP holds back. */
static void uncork(int fd)
{
    int saved_errno = errno;
    setsockopt(fd, IPPROTO_TCP, TCP_CORK, &(int){ 0 }, sizeof(int));
    errno = saved_errno;
}

static size_t total_len(const struct zc_piece *pieces, int npieces)
{
    size_t total = 0;
    for (int i = 0; i < npieces; i++)
        total += pieces[i].len;
    return total;
}

int zc_transfer_stop_reason(void)
{
    return zc_transfer_stopped_by;
}

ssize_t zc_transfer(int fd, const struct zc_dest *dest, const struct zc_piece *pieces, int npieces,
                    const off_t *dst_off_in, int send_flags, bool *fell_back)
{
    zc_transfer_stopped_by = 0;
    off_t dst_off_copy, *dst_off = NULL;
    if (dst_off_in) {
        dst_off_copy = *dst_off_in;
        dst_off = &dst_off_copy;
    }
    /* sendfile raises SIGPIPE even where send(..., MSG_NOSIGNAL) would not:
     * hold it blocked and swallow the one the fast call raised. */
    bool hold_sigpipe = (send_flags & MSG_NOSIGNAL) && dest->kind == ZC_DEST_SOCKET;
    sigset_t pipe_only, old_mask, pending;
    bool pending_before = false;
    if (hold_sigpipe) {
        sigemptyset(&pipe_only);
        sigaddset(&pipe_only, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
        if (sigismember(&old_mask, SIGPIPE) && sigpending(&pending) == 0)
            pending_before = sigismember(&pending, SIGPIPE);
    }
    enum tcp_join join = tcp_join_for(dest, pieces, npieces);
    bool cork = join == JOIN_CORK && !corked_by_program(fd);
    if (cork)
        setsockopt(fd, IPPROTO_TCP, TCP_CORK, &(int){ 1 }, sizeof(int));
    ssize_t r = transfer_pieces(fd, dest, pieces, npieces, dst_off, send_flags,
                                join == JOIN_MSG_MORE ? MSG_MORE : 0, fell_back);
    /* Stopped short after a MSG_MORE send: that send is still held back,
     * where the writev had sent it, and the program may not call again
     * soon.  Push it, as uncorking does. */
    bool held_back = join == JOIN_MSG_MORE && r > 0 && (size_t)r < total_len(pieces, npieces);
    if (cork || (held_back && !corked_by_program(fd)))
        uncork(fd);
    if (hold_sigpipe) {
        int saved_errno = errno;
        if (!pending_before && sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE)) {
            struct timespec zero = { 0, 0 };
            sigtimedwait(&pipe_only, NULL, &zero);
        }
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
        errno = saved_errno;
    }
    return r;
}
