/* The decision log (ZCOPY_LOG) and diag mode's report, per call site.
 *
 * A copy loop makes the same decision at the same place thousands of times,
 * so decisions are aggregated in a fixed table keyed by (call site, action,
 * method, reason).  The first occurrence writes one line with the details and
 * a backtrace; later ones only add to counters, written every 10 s and at
 * exit.  Never data contents.
 *
 * Below stats.c, which prints diag's report after the summary; calls down
 * only: call sites (callsite.c), the log's file (output.c), the line
 * formatter (logline.c) and the names (names.c).
 *
 * Hazards:
 * - Hooks run in signal handlers and any thread: no malloc, no lock, no stdio.
 *   Lines are formatted into a stack buffer and written with one write().
 * - The program may close our log fd (daemons close everything) or dup2 over
 *   it: the close hooks tell us, and every write first checks that the fd
 *   still names our file; if not we reopen it. */
#include "zcopy.h"
#include "logline.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SITE_SLOTS 512
#define FLUSH_EVERY_NS 10000000000LL

static const char *const action_names[ZC_ACTIONS] = {
    [ZC_ACT_REWRITE] = "rewrite",
    [ZC_ACT_WOULD_REWRITE] = "would_rewrite",
    [ZC_ACT_SKIP] = "skip",
    [ZC_ACT_FALLBACK] = "fallback",
};

struct site_slot {
    uint64_t key;    /* 0: free; claimed with a compare-and-swap */
    int ready;       /* the fields below are filled */
    struct zc_callsite where;
    uint8_t action, method, reason, dst_kind;
    uint64_t calls, bytes;
    uint64_t flushed_calls;
};

static struct site_slot sites[SITE_SLOTS];
static unsigned sites_claimed;  /* slots ever claimed: 0 spares a forked child the clearing */
static uint64_t sites_dropped;  /* decisions that found the table full */
static int log_fd = -1;
static struct zc_output log_file;  /* the file log_fd was opened on */
static int64_t last_flush_ns;

/* ---- the log file ---- */

/* The log's file (a path, %p the pid; or stderr), at a high fd. */
static int log_open(void)
{
    return zc_output_open(zc_cfg.log_dest, &log_file);
}

/* The fd to write to, reopened if the program closed or replaced ours. */
static int log_fd_get(void)
{
    int fd = __atomic_load_n(&log_fd, __ATOMIC_ACQUIRE);
    if (fd >= 0 && zc_output_still_open(fd, &log_file))
        return fd;
    int fresh = log_open();
    if (fresh < 0)
        return -1;
    if (!__atomic_compare_exchange_n(&log_fd, &fd, fresh, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
        if (strcmp(zc_cfg.log_dest, "-"))
            real_close(fresh);  /* another thread reopened it first (stderr is shared: kept) */
        return fd;
    }
    return fresh;
}

static void line_emit(struct line *l)
{
    line_put(l, l->json ? "}\n" : "\n");
    int fd = log_fd_get();
    if (fd >= 0)
        real_write(fd, l->buf, l->len);
}

void zc_log_fd_released(unsigned first, unsigned last)
{
    int fd = __atomic_load_n(&log_fd, __ATOMIC_RELAXED);
    if (fd > 2 && (unsigned)fd >= first && (unsigned)fd <= last)
        __atomic_compare_exchange_n(&log_fd, &fd, -1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
}

void zc_log_init(void)
{
    if (!zc_logging())
        return;
    zc_callsite_init();
    if (!zc_cfg.log_dest[0])
        return;
    log_fd = log_open();
    if (log_fd < 0)
    {
        char shown[80];
        dprintf(2, "zcopy: cannot open ZCOPY_LOG=%s: %s\n", zc_printable(zc_cfg.log_dest, shown, sizeof shown),
                strerror(errno));
    }
}

/* ---- call sites ---- */

/* The call site, and its backtrace when one was taken. */
static void field_site(struct line *l, const struct site_slot *s)
{
    line_field(l, "site");
    if (l->json)
        line_put(l, "\"");
    zc_callsite_put(l, &s->where);
    if (l->json)
        line_put(l, "\"");
    if (s->where.nframes > 1) {
        line_field(l, "frames");
        line_put(l, l->json ? "[\"" : "");
        zc_callsite_put_frames(l, &s->where, l->json ? "\",\"" : ";");
        line_put(l, l->json ? "\"]" : "");
    }
}

static const char *dest_kind_name(int kind)
{
    static const char *const names[] = { "tcp", "tcp6", "unix", "pipe", "file", "other", "none" };
    return names[kind];
}

enum { DK_TCP, DK_TCP6, DK_UNIX, DK_PIPE, DK_FILE, DK_OTHER, DK_NONE };

static void copy_out(char *out, size_t size, struct line *l)
{
    size_t n = l->len < size - 1 ? l->len : size - 1;
    memcpy(out, l->buf, n);
    out[n] = 0;
}

static int dest_kind_of(int fd, char *peer, size_t peer_len)
{
    struct stat st;
    peer[0] = 0;
    if (fd < 0 || zc_fstat(fd, &st) < 0)
        return DK_NONE;
    if (S_ISFIFO(st.st_mode))
        return DK_PIPE;
    if (S_ISREG(st.st_mode))
        return DK_FILE;
    if (!S_ISSOCK(st.st_mode))
        return DK_OTHER;
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int type = 0;
    socklen_t tlen = sizeof type;
    getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen);
    if (getpeername(fd, (struct sockaddr *)&ss, &len) < 0)
        len = 0;
    if (len && ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        struct line l = { .len = 0 };
        const uint8_t *ip = (const uint8_t *)&in->sin_addr;  /* inet_ntop is not async-signal-safe */
        for (int i = 0; i < 4; i++)
            line_put(&l, i ? "." : ""), line_put_u64(&l, ip[i]);
        line_put(&l, ":"), line_put_u64(&l, ntohs(in->sin_port));
        copy_out(peer, peer_len, &l);
    } else if (len && ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
        struct line l = { .len = 0 };
        const uint8_t *ip = (const uint8_t *)&in6->sin6_addr;
        line_put(&l, "[");
        for (int i = 0; i < 16; i += 2)  /* eight groups, uncompressed */
            line_put(&l, i ? ":" : ""), line_put_hexdigits(&l, (uint64_t)(ip[i] << 8 | ip[i + 1]));
        line_put(&l, "]:"), line_put_u64(&l, ntohs(in6->sin6_port));
        copy_out(peer, peer_len, &l);
    } else if (len > offsetof(struct sockaddr_un, sun_path) && ss.ss_family == AF_UNIX) {
        struct sockaddr_un *un = (struct sockaddr_un *)&ss;
        size_t n = len - offsetof(struct sockaddr_un, sun_path);
        if (n >= peer_len)
            n = peer_len - 1;
        memcpy(peer, un->sun_path[0] ? un->sun_path : "@abstract", n);
        peer[n] = 0;
    }
    if (type != SOCK_STREAM)
        return DK_OTHER;
    return ss.ss_family == AF_INET6 ? DK_TCP6 : ss.ss_family == AF_UNIX || !len ? DK_UNIX : DK_TCP;
}

static void fd_path(int fd, char *out, size_t size)
{
    char link[32] = "/proc/self/fd/";
    struct line l = { .len = 0 };
    line_put(&l, link);
    line_put_u64(&l, (uint64_t)fd);
    l.buf[l.len] = 0;
    ssize_t n = fd >= 0 ? readlink(l.buf, out, size - 1) : -1;
    out[n > 0 ? n : 0] = 0;
}

static void log_first_occurrence(const struct site_slot *s, const struct zc_decision *d)
{
    struct line l;
    char src_path[512], peer[128];
    line_begin(&l, "decision", zc_cfg.log_json);
    line_str(&l, "action", action_names[d->action]);
    line_str(&l, "method", zc_method_name(d->method));
    line_str(&l, "reason", zc_skip_name(d->reason));
    line_str(&l, "reason_text", zc_skip_text(d->reason));
    fd_path(d->src_fd, src_path, sizeof src_path);
    line_int(&l, "src_fd", d->src_fd);
    line_str(&l, "src_kind", d->src_fd >= 0 ? "file" : "memory");
    line_str(&l, "src_path", src_path);
    line_int(&l, "src_offset", d->src_fd >= 0 ? (int64_t)d->src_off : -1);
    int kind = dest_kind_of(d->dst_fd, peer, sizeof peer);
    line_int(&l, "dst_fd", d->dst_fd);
    line_str(&l, "dst_kind", dest_kind_name(kind));
    line_str(&l, "dst_peer", peer);
    line_int(&l, "bytes", (int64_t)d->bytes);
    field_site(&l, s);
    line_emit(&l);
}

static void log_counters(struct site_slot *s, bool final)
{
    uint64_t calls = __atomic_load_n(&s->calls, __ATOMIC_RELAXED);
    if (calls == s->flushed_calls && !final)
        return;
    s->flushed_calls = calls;
    struct line l;
    line_begin(&l, "counters", zc_cfg.log_json);
    line_str(&l, "action", action_names[s->action]);
    line_str(&l, "method", zc_method_name(s->method));
    line_str(&l, "reason", zc_skip_name(s->reason));
    line_str(&l, "dst_kind", dest_kind_name(s->dst_kind));
    line_int(&l, "calls", (int64_t)calls);
    line_int(&l, "bytes", (int64_t)__atomic_load_n(&s->bytes, __ATOMIC_RELAXED));
    line_str(&l, "final", final ? "yes" : "no");
    field_site(&l, s);
    line_emit(&l);
}

static void flush_all(bool final)
{
    for (int i = 0; i < SITE_SLOTS; i++)
        if (__atomic_load_n(&sites[i].ready, __ATOMIC_ACQUIRE))
            log_counters(&sites[i], final);
}

static void maybe_flush(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    int64_t last = __atomic_load_n(&last_flush_ns, __ATOMIC_RELAXED);
    if (!last) {
        __atomic_compare_exchange_n(&last_flush_ns, &last, ns, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        return;
    }
    if (ns - last >= FLUSH_EVERY_NS &&
        __atomic_compare_exchange_n(&last_flush_ns, &last, ns, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        flush_all(false);
}

static uint64_t site_key(const struct zc_decision *d)
{
    uint64_t k = (uint64_t)(uintptr_t)d->site * 0x9E3779B97F4A7C15ull;
    k ^= ((uint64_t)d->action << 16) | ((uint64_t)d->method << 8) | d->reason;
    return k ? k : 1;
}

void zc_log_decision(const struct zc_decision *d)
{
    uint64_t key = site_key(d);
    struct site_slot *s = NULL;
    for (unsigned i = 0, h = (unsigned)(key >> 32) % SITE_SLOTS; i < SITE_SLOTS; i++, h = (h + 1) % SITE_SLOTS) {
        struct site_slot *c = &sites[h];
        uint64_t cur = __atomic_load_n(&c->key, __ATOMIC_ACQUIRE);
        if (cur == key) {
            s = c;
            break;
        }
        if (cur == 0) {
            if (__atomic_compare_exchange_n(&c->key, &cur, key, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
                __atomic_add_fetch(&sites_claimed, 1, __ATOMIC_RELAXED);
                char peer[2];
                c->where.site = d->site;
                c->action = (uint8_t)d->action;
                c->method = (uint8_t)d->method;
                c->reason = (uint8_t)d->reason;
                c->dst_kind = (uint8_t)dest_kind_of(d->dst_fd, peer, sizeof peer);
                zc_callsite_capture(&c->where, zc_cfg.backtrace_depth);
                __atomic_store_n(&c->ready, 1, __ATOMIC_RELEASE);
                if (zc_cfg.log_dest[0] && zc_cfg.log_level >= ZC_LOG_DECISIONS)
                    log_first_occurrence(c, d);
                s = c;
                break;
            }
            if (cur == key) {
                s = c;
                break;
            }
        }
    }
    if (!s) {
        __atomic_add_fetch(&sites_dropped, 1, __ATOMIC_RELAXED);
        return;
    }
    __atomic_add_fetch(&s->calls, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->bytes, d->bytes, __ATOMIC_RELAXED);
    if (!zc_cfg.log_dest[0])
        return;
    if (zc_cfg.log_level == ZC_LOG_DEBUG && __atomic_load_n(&s->calls, __ATOMIC_RELAXED) > 1)
        log_first_occurrence(s, d);  /* debug: every decision */
    if (zc_cfg.log_level >= ZC_LOG_DECISIONS)
        maybe_flush();
}

/* ---- fork ---- */

/* The child is one thread, a copy of the one that forked.  Its counters
 * start from zero, so that adding the counters of parent and child counts
 * every call once, and its first decisions go to its own log again. */
void zc_log_forked(void)
{
    /* Only the slots the parent used: the table is 140 KiB, and writing all
     * of it cost a fork-per-connection server a page fault per page in
     * every child (tens of microseconds per connection). */
    if (sites_claimed) {
        for (int i = 0; i < SITE_SLOTS; i++)
            if (sites[i].key)
                memset(&sites[i], 0, sizeof sites[i]);
        sites_claimed = 0;
    }
    if (sites_dropped)  /* tested first: a store would copy the page */
        sites_dropped = 0;
    if (last_flush_ns)
        last_flush_ns = 0;
    if (log_fd > 2 && strstr(zc_cfg.log_dest, "%p")) {
        real_close(log_fd);
        log_fd = -1;  /* log_fd_get() opens the child's file */
    }
}

/* ---- at exit ---- */

/* diag mode's report: per call site, what went through user space and what
 * zcopy would have done, largest first.  Printed where the summary goes. */
void zc_log_diag_report(int fd)
{
    int order[SITE_SLOTS], n = 0;
    for (int i = 0; i < SITE_SLOTS; i++)
        if (__atomic_load_n(&sites[i].ready, __ATOMIC_ACQUIRE))
            order[n++] = i;
    for (int i = 1; i < n; i++)  /* insertion sort by bytes, descending */
        for (int j = i; j > 0 && sites[order[j]].bytes > sites[order[j - 1]].bytes; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    dprintf(fd, "zcopy: diag report pid=%d: nothing was changed; per call site, largest first\n", (int)getpid());
    for (int k = 0; k < n; k++) {
        struct site_slot *s = &sites[order[k]];
        struct line l = { .len = 0, .json = false };
        zc_callsite_put(&l, &s->where);
        l.buf[l.len] = 0;
        if (s->action == ZC_ACT_WOULD_REWRITE)
            dprintf(fd, "zcopy:   %s: %llu bytes in %llu calls through user space; would rewrite all with %s\n",
                    l.buf, (unsigned long long)s->bytes, (unsigned long long)s->calls, zc_method_name(s->method));
        else
            dprintf(fd, "zcopy:   %s: %llu bytes in %llu calls through user space; would not rewrite: %s (%s)\n",
                    l.buf, (unsigned long long)s->bytes, (unsigned long long)s->calls, zc_skip_text(s->reason),
                    zc_skip_name(s->reason));
    }
    if (sites_dropped)
        dprintf(fd, "zcopy:   (%llu decisions not counted: more than %d distinct sites)\n",
                (unsigned long long)sites_dropped, SITE_SLOTS);
}

void zc_log_finish(void)
{
    if (zc_settings_ready() && zc_cfg.log_dest[0])
        flush_all(true);
}
