/* The counters (per method, per skip reason, per call site) and the live
 * stats file that holds them while the process runs, for `zcopy stats`
 * (layout: live_file.h).  The exit summary (stats.c) reads them too.
 *
 * Hazards:
 * - The hooks count on every read and write of the program, in any thread
 *   and in signal handlers: no syscall, lock or malloc on that path.  Each
 *   thread counts into a stripe of its own with plain stores (stripe 0, for
 *   threads beyond the first seven, with atomic adds).  A signal handler
 *   that counts between its thread's load and store loses that one count.
 * - A forked child must never count into its parent's file, however it was
 *   forked (a raw clone runs no atfork handler): where this process counts
 *   lives in memory that the kernel gives a child zeroed (MADV_WIPEONFORK).
 *   Without that (Linux before 4.14) there is no live file.
 * - While the process has one thread (glibc's __libc_single_threaded), a
 *   small write is counted on hot.c's page, and moved to its stripe
 *   ZC_HOT_BATCH at a time, at its next other count, and at every close():
 *   the stripe and the thread's stripe number are three more pages for the
 *   hook to touch (ZC_HOT).  So the live file may lag by ZC_HOT_BATCH - 1
 *   small writes until then; the summary adds the ones still pending.
 * - A forked child makes its own file once it has counted CHILD_COUNTS
 *   times and a second more: a fork-per-connection server would otherwise
 *   pay the file's syscalls on every connection.  Until then it counts in
 *   its own memory, and does not even read the clock before CHILD_COUNTS:
 *   the first clock_gettime in a process faults in three pages (libc's
 *   code, the vDSO's, its data).
 * - zcopy's own file operations are raw syscalls, which the hooks do not
 *   see, and no fd stays open after the mapping (daemons close every fd).
 * - The file's pages are allocated when it is made (fallocate): a store to
 *   a page that a full tmpfs could not give would raise SIGBUS.
 * - errno is the program's: saved and restored around our syscalls. */
#include "zcopy.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

#define CHILD_COUNTS 64  /* a copy loop's, not a short connection's few writes */
#define CHILD_FILE_AFTER_NS 1000000000LL

_Static_assert(ZC_METHODS <= ZC_LIVE_METHODS, "live_file.h: room for every method");
_Static_assert(ZC_SKIP_COUNT <= ZC_LIVE_SKIPS, "live_file.h: room for every skip reason");

/* Where this process counts.  A forked child finds its copy zeroed. */
struct live_local {
    struct zc_live_counts *stripes;  /* NULL: live_attach() decides */
    struct zc_live_file *file;       /* this process's own file */
    unsigned child_counts;           /* a forked child: counts without a file, up to CHILD_COUNTS */
    int64_t first_count_ns;          /* and when it reached CHILD_COUNTS */
    int making;                      /* a thread is making the file */
    struct zc_live_counts own[ZC_LIVE_STRIPES];  /* the counts while there is no file */
};

/* Before the constructor, and where the kernel cannot wipe memory on fork
 * (the atfork handler then clears it: zc_live_forked). */
static struct live_local fallback_local;
static struct live_local *local = &fallback_local;
static bool counting;      /* a summary or a live file is wanted */
static bool file_wanted;   /* and a process of this family could make its file */
static char file_dir[128];
static char file_path[sizeof file_dir + 64];
static ZC_TLS uint8_t thread_stripe;  /* this thread's stripe + 1; 0: none yet */
static unsigned threads_seen;

/* ---- counting: the hot path ---- */

static __attribute__((noinline)) struct zc_live_counts *live_attach(void);

static __attribute__((noinline)) unsigned pick_stripe(void)
{
    unsigned n = __atomic_add_fetch(&threads_seen, 1, __ATOMIC_RELAXED);
    unsigned stripe = n < ZC_LIVE_STRIPES ? n : 0;
    thread_stripe = (uint8_t)(stripe + 1);
    return stripe + 1;
}

/* This thread's counters; *shared: other threads count there too. */
static inline struct zc_live_counts *counts_here(bool *shared)
{
    struct live_local *l = __atomic_load_n(&local, __ATOMIC_ACQUIRE);
    struct zc_live_counts *stripes = __atomic_load_n(&l->stripes, __ATOMIC_ACQUIRE);
    if (ZC_UNLIKELY(!stripes) && !(stripes = live_attach()))
        return NULL;
    unsigned s = thread_stripe;
    if (ZC_UNLIKELY(!s))
        s = pick_stripe();
    *shared = s == 1;
    return &stripes[s - 1];
}

/* Relaxed: a count publishes nothing; readers only add them up. */
static inline void bump(uint64_t *counter, uint64_t by, bool shared)
{
    if (shared)
        __atomic_add_fetch(counter, by, __ATOMIC_RELAXED);
    else
        __atomic_store_n(counter, __atomic_load_n(counter, __ATOMIC_RELAXED) + by, __ATOMIC_RELAXED);
}

/* ---- small writes, counted apart while single-threaded ---- */

/* Below ZCOPY_MIN_BYTES too, unless zcopy is off (limit SIZE_MAX). */
static void add_small(struct zc_live_counts *c, uint64_t calls, uint64_t bytes, bool shared)
{
    if (zc_small_write_limit() != SIZE_MAX)
        bump(&c->skips[ZC_SKIP_BELOW_MIN_BYTES], calls, shared);
    bump(&c->method_calls[ZC_PLAIN], calls, shared);
    if (bytes)
        bump(&c->method_bytes[ZC_PLAIN], bytes, shared);
}

static __attribute__((noinline)) void move_small_pending(void)
{
    uint64_t calls = __atomic_exchange_n(&zc_hot.small_calls, 0, __ATOMIC_RELAXED);
    uint64_t bytes = __atomic_exchange_n(&zc_hot.small_bytes, 0, __ATOMIC_RELAXED);
    if (!calls && !bytes)
        return;
    bool shared;
    struct zc_live_counts *c = counts_here(&shared);
    if (c)
        add_small(c, calls, bytes, shared);
}

static inline void move_small_if_pending(void)
{
    if (ZC_UNLIKELY(__atomic_load_n(&zc_hot.small_calls, __ATOMIC_RELAXED) ||
                    __atomic_load_n(&zc_hot.small_bytes, __ATOMIC_RELAXED)))
        move_small_pending();
}

void zc_stats_flush_small(void)
{
    move_small_if_pending();
}

static __attribute__((noinline)) void small_write_elsewhere(size_t asked)
{
    move_small_if_pending();  /* counted while the process had one thread */
    bool shared;
    struct zc_live_counts *c = counts_here(&shared);
    if (c)
        add_small(c, 1, asked, shared);
}

/* A write below ZCOPY_MIN_BYTES (or any while zcopy is off), counted
 * before it is made (io_hooks.c says why): on hot.c's page where the hook's
 * own path would have, else here, after the pending ones. */
void zc_stats_small_write(size_t asked)
{
    if (!__atomic_load_n(&zc_hot.ready, __ATOMIC_ACQUIRE) || !zc_hot_count_small(asked))
        small_write_elsewhere(asked);
}

/* ---- every other count ---- */

/* The stripe of this thread alone, or NULL: counts_here() finds the place.
 * Apart so that zc_stats_add, which counts every write rewrite.c decides,
 * saves no register and makes no call. */
static inline struct zc_live_counts *own_stripe(void)
{
    struct live_local *l = __atomic_load_n(&local, __ATOMIC_ACQUIRE);
    struct zc_live_counts *stripes = __atomic_load_n(&l->stripes, __ATOMIC_ACQUIRE);
    unsigned s = thread_stripe;
    return ZC_UNLIKELY(!stripes || s <= 1) ? NULL : stripes + s - 1;
}

static inline void add_calls(struct zc_live_counts *c, enum zc_method method, ssize_t bytes, bool shared)
{
    bump(&c->method_calls[method], 1, shared);
    if (bytes > 0)
        bump(&c->method_bytes[method], (uint64_t)bytes, shared);
}

static __attribute__((noinline)) void add_calls_elsewhere(enum zc_method method, ssize_t bytes)
{
    bool shared;
    struct zc_live_counts *c = counts_here(&shared);
    if (c)
        add_calls(c, method, bytes, shared);
}

void zc_stats_add(enum zc_method method, ssize_t bytes)
{
    move_small_if_pending();
    struct zc_live_counts *c = own_stripe();
    if (c)
        add_calls(c, method, bytes, false);
    else
        add_calls_elsewhere(method, bytes);
}

void zc_stats_skip(enum zc_skip reason)
{
    move_small_if_pending();
    bool shared;
    struct zc_live_counts *c = counts_here(&shared);
    if (c)
        bump(&c->skips[reason], 1, shared);
}

bool zc_stats_counting(void)
{
    return counting;
}

/* Whether counts made now go where they stay: nowhere, or this process's
 * own file or summary.  Not in a forked child that has no file yet, whose
 * every count decides when to make one (live_attach): hot.c does not batch
 * its small writes until then. */
bool zc_stats_settled(void)
{
    struct live_local *l = __atomic_load_n(&local, __ATOMIC_ACQUIRE);
    return !__atomic_load_n(&counting, __ATOMIC_ACQUIRE) || __atomic_load_n(&l->stripes, __ATOMIC_ACQUIRE);
}

void zc_live_sum(struct zc_live_counts *sum)
{
    memset(sum, 0, sizeof *sum);
    struct live_local *l = __atomic_load_n(&local, __ATOMIC_ACQUIRE);
    struct zc_live_counts *stripes = __atomic_load_n(&l->stripes, __ATOMIC_ACQUIRE);
    if (!stripes && l != &fallback_local)
        stripes = l->own;  /* a forked child that has no file yet */
    for (int s = 0; stripes && s < ZC_LIVE_STRIPES; s++) {
        const uint64_t *from = (const uint64_t *)&stripes[s];
        uint64_t *to = (uint64_t *)sum;
        for (size_t i = 0; i < sizeof *sum / sizeof *to; i++)
            to[i] += __atomic_load_n(&from[i], __ATOMIC_RELAXED);
    }
    if (stripes)
        add_small(sum, __atomic_load_n(&zc_hot.small_calls, __ATOMIC_RELAXED),
                  __atomic_load_n(&zc_hot.small_bytes, __ATOMIC_RELAXED), false);
}

/* ---- the file ---- */

static size_t put_u64(char *out, uint64_t v)
{
    char digits[20];
    size_t n = 0, o = 0;
    do
        digits[n++] = (char)('0' + v % 10);
    while ((v /= 10));
    while (n)
        out[o++] = digits[--n];
    return o;
}

static uint64_t parse_u64(const char *s)
{
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    return v;
}

static void copy_name(char *out, size_t size, const char *name)
{
    size_t n = strlen(name);
    if (n >= size)
        n = size - 1;
    memcpy(out, name, n);
    out[n] = 0;
}

/* Field 22 of /proc/self/stat, after the command's name (which may hold
 * spaces and parentheses): the start time that, with the pid, names this
 * process for good.  0 if unknown. */
static uint64_t own_start_ticks(void)
{
    char buf[1024];
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = syscall(SYS_read, fd, buf, sizeof buf - 1);
    syscall(SYS_close, fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    return p ? parse_u64(p + 1) : 0;
}

/* "pid:[4026531836]" */
static uint64_t own_pid_ns(void)
{
    char link[64];
    ssize_t n = syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/ns/pid", link, sizeof link - 1);
    if (n <= 0)
        return 0;
    link[n] = 0;
    const char *p = strchr(link, '[');
    return p ? parse_u64(p + 1) : 0;
}

/* A file that only this process may have made: O_EXCL, never through a
 * symlink.  One that exists already is its own from before an exec (same
 * pid, same start time): replaced.  -1 if this directory will not do. */
static int create_in(const char *dir, int pid, uint64_t start, char *path, size_t size)
{
    size_t dir_len = strlen(dir), o = dir_len;
    if (dir_len + 1 + sizeof ZC_LIVE_PREFIX + 42 > size)
        return -1;
    memcpy(path, dir, dir_len);
    path[o++] = '/';
    memcpy(path + o, ZC_LIVE_PREFIX, sizeof ZC_LIVE_PREFIX - 1);
    o += sizeof ZC_LIVE_PREFIX - 1;
    o += put_u64(path + o, (uint64_t)pid);
    path[o++] = '.';
    o += put_u64(path + o, start);
    path[o] = 0;
    int flags = O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, flags, 0600);
    if (fd < 0 && errno == EEXIST && syscall(SYS_unlinkat, AT_FDCWD, path, 0) == 0)
        fd = (int)syscall(SYS_openat, AT_FDCWD, path, flags, 0600);
    if (fd < 0)
        return -1;
    if (syscall(SYS_fallocate, fd, 0, (off_t)0, (off_t)sizeof(struct zc_live_file)) != 0) {
        syscall(SYS_close, fd);
        syscall(SYS_unlinkat, AT_FDCWD, path, 0);
        return -1;
    }
    return fd;
}

static void fill_header(struct zc_live_file *f, int pid, uint64_t start)
{
    f->version = ZC_LIVE_VERSION;
    f->size = sizeof *f;
    f->pid = pid;
    f->start_ticks = start;
    f->pid_ns = own_pid_ns();
    f->min_bytes = zc_cfg.min_bytes;
    copy_name(f->mode, sizeof f->mode, zc_mode_name(zc_cfg.mode));
    copy_name(f->lib_version, sizeof f->lib_version, ZCOPY_VERSION);
    ssize_t n = syscall(SYS_readlinkat, AT_FDCWD, "/proc/self/exe", f->exe, sizeof f->exe - 1);
    f->exe[n > 0 ? n : 0] = 0;
    f->methods = ZC_METHODS;
    f->plain_method = ZC_PLAIN;
    for (int m = 0; m < ZC_METHODS; m++)
        copy_name(f->method_names[m], ZC_LIVE_NAME, zc_method_label(m));
    f->skips = ZC_SKIP_COUNT;
    for (int r = 0; r < ZC_SKIP_COUNT; r++)
        copy_name(f->skip_names[r], ZC_LIVE_NAME, zc_skip_name(r));
    /* Last: a reader trusts nothing above until it sees this. */
    __atomic_store_n(&f->magic, ZC_LIVE_MAGIC, __ATOMIC_RELEASE);
}

/* Makes this process's file in file_dir, or in the first of the places
 * that will do if file_dir is not chosen yet.  NULL if none will. */
static struct zc_live_file *file_make(void)
{
    int saved_errno = errno;
    struct zc_live_file *f = NULL;
    int pid = (int)syscall(SYS_getpid);
    uint64_t start = own_start_ticks();
    /* The constructor chooses; its forked children use its choice.
     * secure_getenv: a setuid program's caller does not choose. */
    const char *places[3] = { file_dir };
    if (!file_dir[0]) {
        places[0] = ZC_LIVE_DIR;
        places[1] = secure_getenv("XDG_RUNTIME_DIR");
        places[2] = "/dev/shm";
    }
    for (size_t i = 0; start && !f && i < sizeof places / sizeof places[0]; i++) {
        if (!places[i] || places[i][0] != '/')
            continue;
        int fd = create_in(places[i], pid, start, file_path, sizeof file_path);
        if (fd < 0)
            continue;
        void *map = (void *)syscall(SYS_mmap, NULL, sizeof *f, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        syscall(SYS_close, fd);
        if (map == MAP_FAILED) {
            syscall(SYS_unlinkat, AT_FDCWD, file_path, 0);
            continue;
        }
        f = map;
        if (places[i] != file_dir)
            copy_name(file_dir, sizeof file_dir, places[i]);
        fill_header(f, pid, start);
    }
    errno = saved_errno;
    return f;
}

/* Adds the counts a forked child made before it had a file into the
 * file's shared stripe.  A count that lands in the old place meanwhile
 * is lost: rare, and only a count. */
static void move_counts(const struct zc_live_counts *from, struct zc_live_counts *to)
{
    for (int s = 0; s < ZC_LIVE_STRIPES; s++) {
        const uint64_t *src = (const uint64_t *)&from[s];
        uint64_t *dst = (uint64_t *)to;
        for (size_t i = 0; i < sizeof *to / sizeof *dst; i++) {
            uint64_t v = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
            if (v)
                __atomic_add_fetch(&dst[i], v, __ATOMIC_RELAXED);
        }
    }
}

static int64_t coarse_now_ns(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &now);  /* the vDSO: no syscall */
    return now.tv_sec * 1000000000LL + now.tv_nsec;
}

/* A count in a forked child that has no file yet (its local state reads
 * zero), or in a process where nobody counts. */
static __attribute__((noinline)) struct zc_live_counts *live_attach(void)
{
    struct live_local *l = __atomic_load_n(&local, __ATOMIC_ACQUIRE);
    if (!__atomic_load_n(&counting, __ATOMIC_ACQUIRE) || l == &fallback_local)
        return NULL;
    /* Once the program has a seccomp filter of its own, zcopy makes no call
     * of its own (seccomp.c): a child forked then counts in memory only. */
    if (!file_wanted || zc_seccomp_installed()) {
        __atomic_store_n(&l->stripes, l->own, __ATOMIC_RELEASE);
        return l->own;
    }
    if (__atomic_load_n(&l->child_counts, __ATOMIC_RELAXED) < CHILD_COUNTS) {
        __atomic_add_fetch(&l->child_counts, 1, __ATOMIC_RELAXED);
        return l->own;
    }
    int64_t now = coarse_now_ns(), first = __atomic_load_n(&l->first_count_ns, __ATOMIC_RELAXED);
    if (!first) {
        __atomic_compare_exchange_n(&l->first_count_ns, &first, now, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
        return l->own;
    }
    int idle = 0;
    if (now - first < CHILD_FILE_AFTER_NS ||
        !__atomic_compare_exchange_n(&l->making, &idle, 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return l->own;
    struct zc_live_file *f = file_make();
    if (!f) {
        __atomic_store_n(&l->stripes, l->own, __ATOMIC_RELEASE);
        return l->own;
    }
    __atomic_store_n(&l->file, f, __ATOMIC_RELEASE);
    __atomic_store_n(&l->stripes, f->stripes, __ATOMIC_RELEASE);
    move_counts(l->own, f->stripes);
    return f->stripes;
}

/* ---- start, fork and exit ---- */

/* In the constructor, after the settings. */
void zc_live_init(void)
{
    bool summary = zc_cfg.stats_dest[0];
    struct live_local *l = &fallback_local;
    struct zc_live_file *f = NULL;
    if (zc_cfg.stats_live) {
        int saved_errno = errno;
        /* The raw syscall: our own mmap hook would track the mapping. */
        void *map = (void *)syscall(SYS_mmap, NULL, sizeof *l, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                                    -1, 0);
        if (map != MAP_FAILED && syscall(SYS_madvise, map, sizeof *l, MADV_WIPEONFORK) == 0)
            l = map;
        else if (map != MAP_FAILED)
            syscall(SYS_munmap, map, sizeof *l);
        errno = saved_errno;
        if (l != &fallback_local)
            f = file_make();
    }
    /* Its children try only where this process could. */
    file_wanted = f != NULL;
    if (f) {
        l->file = f;
        l->stripes = f->stripes;
    } else if (summary) {
        l->stripes = l->own;
    }
    __atomic_store_n(&local, l, __ATOMIC_RELEASE);
    __atomic_store_n(&counting, f || summary, __ATOMIC_RELEASE);
    /* The constructing thread takes its stripe now: the children of a
     * fork-per-connection server inherit it, where each child's first count
     * would store into a page of ours and pay for a copied page. */
    if (f || summary)
        pick_stripe();
}

/* In a forked child (the atfork handler): counts kept where the kernel
 * does not zero them for the child start again from zero.  Zeroes only
 * what is not zero yet: a store copies a page the child shares with its
 * parent, which a fork-per-connection server pays on every connection. */
void zc_live_forked(void)
{
    if (local != &fallback_local || !fallback_local.stripes)
        return;
    uint64_t *counts = (uint64_t *)fallback_local.own;
    size_t n = sizeof(fallback_local.own) / (sizeof counts[0]);
    for (size_t i = 0; i < n; i++)
        if (counts[i])
            counts[i] = 0;
}

/* In the destructor: the file goes with its process.  The pid is checked
 * because a vfork child shares this memory and may run destructors. */
void zc_live_finish(void)
{
    struct zc_live_file *f = __atomic_load_n(&local->file, __ATOMIC_ACQUIRE);
    if (!f || f->pid != (int)syscall(SYS_getpid))
        return;
    int saved_errno = errno;
    syscall(SYS_unlinkat, AT_FDCWD, file_path, 0);
    errno = saved_errno;
}

/* ---- call sites and calibration ---- */

/* Claims or finds the slot of key in a table of n slots whose entries
 * start with their key (0: free).  Sets *fresh when this call claimed it. */
static uint64_t *find_slot(void *table, size_t n, size_t stride, uint64_t key, bool *fresh)
{
    *fresh = false;
    for (size_t i = 0, h = (size_t)(key >> 32) % n; i < n; i++, h = (h + 1) % n) {
        uint64_t *slot = (uint64_t *)((char *)table + h * stride);
        uint64_t cur = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
        if (cur == 0 && __atomic_compare_exchange_n(slot, &cur, key, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            *fresh = true;
            return slot;
        }
        if (cur == key)
            return slot;
    }
    return NULL;
}

/* One decision at a call site, for writes that carried file bytes.  Only
 * into a file: the site table exists for `zcopy stats` alone. */
void zc_stats_site(const void *site, enum zc_action action, enum zc_method method, enum zc_skip reason,
                   size_t bytes)
{
    struct zc_live_file *f = __atomic_load_n(&__atomic_load_n(&local, __ATOMIC_ACQUIRE)->file, __ATOMIC_ACQUIRE);
    if (!f)
        return;
    bool diag = action == ZC_ACT_WOULD_REWRITE;
    uint64_t key = (uint64_t)(uintptr_t)site * 0x9E3779B97F4A7C15ull;
    key ^= ((uint64_t)method << 16) | ((uint64_t)reason << 8) | diag;
    key = key ? key : 1;
    bool fresh;
    struct zc_live_site *s = (struct zc_live_site *)find_slot(f->sites, ZC_LIVE_SITES, sizeof *s, key, &fresh);
    if (!s) {
        __atomic_add_fetch(&f->sites_dropped, 1, __ATOMIC_RELAXED);
        return;
    }
    if (fresh) {
        s->addr = (uint64_t)(uintptr_t)site;
        s->method = (uint8_t)method;
        s->reason = (uint8_t)reason;
        s->diag = diag;
        __atomic_store_n(&s->ready, 1, __ATOMIC_RELEASE);
    }
    __atomic_add_fetch(&s->calls, 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&s->bytes, bytes, __ATOMIC_RELAXED);
}

/* What calibration found at a call site for writes of a size class (its
 * struct zc_verdict, field by field).  A verdict that another thread is
 * writing at the same moment is left to it. */
void zc_stats_verdict(const void *site, size_t bytes, enum zc_method method, uint32_t fast_ns_per_kib,
                      uint32_t plain_ns_per_kib, bool fast_chosen)
{
    struct zc_live_file *f = __atomic_load_n(&__atomic_load_n(&local, __ATOMIC_ACQUIRE)->file, __ATOMIC_ACQUIRE);
    if (!f)
        return;
    uint64_t key = ((uint64_t)(uintptr_t)site * 0x9E3779B97F4A7C15ull) ^ (uint64_t)bytes;
    key = key ? key : 1;
    bool fresh;
    struct zc_live_verdict *v = (struct zc_live_verdict *)find_slot(f->verdicts, ZC_LIVE_VERDICTS, sizeof *v, key,
                                                                    &fresh);
    if (!v)
        return;
    uint32_t seq = __atomic_load_n(&v->seq, __ATOMIC_RELAXED);
    if ((seq & 1) || !__atomic_compare_exchange_n(&v->seq, &seq, seq + 1, false, __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
        return;
    __atomic_thread_fence(__ATOMIC_RELEASE);  /* the odd seq is seen before any field changes */
    __atomic_store_n(&v->addr, (uint64_t)(uintptr_t)site, __ATOMIC_RELAXED);
    __atomic_store_n(&v->bytes, (uint64_t)bytes, __ATOMIC_RELAXED);
    __atomic_store_n(&v->method, (uint8_t)method, __ATOMIC_RELAXED);
    __atomic_store_n(&v->fast_chosen, fast_chosen, __ATOMIC_RELAXED);
    __atomic_store_n(&v->fast_ns_per_kib, fast_ns_per_kib, __ATOMIC_RELAXED);
    __atomic_store_n(&v->plain_ns_per_kib, plain_ns_per_kib, __ATOMIC_RELAXED);
    __atomic_store_n(&v->seq, seq + 2, __ATOMIC_RELEASE);
}
