/* Calibration: whether a rewrite pays, measured on the machine it runs on.
 *
 * What a rewrite saves (one copy of each chunk) and what it costs (the
 * checks' syscalls, safe mode's proof, remembering each read) differ from
 * machine to machine by more than ten times: on a paravirtualized VM a
 * bare syscall costs twenty times what it costs on bare metal.  So for
 * each call site and size class, the first calls alternate between the
 * fast call and the plain one, the thread's CPU time of each is measured
 * (a reader that makes either wait costs no CPU, so blocking cannot fool
 * it), and the cheaper one is kept (the fast call only when two
 * measurements in a row find it cheaper).  Each verdict is measured again after
 * a second, since workloads change.  Both paths give the same bytes: a
 * verdict only ever changes speed.
 *
 * While every site that copies has chosen the plain call, reads are not
 * remembered either (their fstat and lseek are the rewrite's cost too),
 * until the next verdict is due.
 *
 * The table is shared with every process forked from this one, so that a
 * fork-per-connection server learns once, not in each connection.  Fixed
 * size, lock-free: two threads measuring the same site at once only blur
 * a verdict, never a byte. */
#include "zcopy.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

#define SITES 64
#define WARMUP 6                         /* first calls of a site, not measured */
#define SAMPLES 7                        /* of each path, before a verdict */
#define EARLY_SAMPLES 3                  /* of each, enough to see a fast call 1.5 times as dear */
#define WATCH_EVERY 32                   /* once the fast call is chosen, one call in this many is measured, */
#define WATCH_SAMPLES 5                  /* and the last this many must still find it cheaper */
#define FIRST_RECHECK_NS 250000000LL     /* a site's first verdict is measured again after this */
#define RECHECK_NS 1000000000LL          /* and every later one after this */
#define TRACK_SAMPLE_EVERY 32            /* remembered reads whose cost is measured */
#define REST_CLOCK_EVERY 16              /* while reads rest, one check in this many reads the clock */
#define LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)
#define STORE(field, value) __atomic_store_n(&(field), (value), __ATOMIC_RELAXED)

/* REFUSED: the destination refused the rewrite for a reason that holds
 * for the next calls too (zc_calibrate_refused): plain, as PLAIN. */
enum verdict { LEARNING, FAST, PLAIN, REFUSED };
enum path { PATH_FAST, PATH_PLAIN };

struct site_entry {
    uint64_t key;              /* 0: free */
    const void *site;
    uint32_t size_class;       /* log2 of the bytes written */
    uint32_t verdict;
    uint32_t turn;             /* learning: even calls fast, odd plain */
    uint32_t taken[2];         /* samples taken of each path */
    uint32_t ns_per_kib[2][SAMPLES];
    uint32_t chosen_ns_per_kib[2];  /* the estimates of the last verdict */
    uint32_t method;           /* enum zc_method of the fast samples */
    uint32_t verdicts;         /* how many it has had */
    uint32_t fast_wins_in_a_row;
    uint32_t last_verdict;     /* FAST or PLAIN: the last one decide() made */
    uint32_t watch_calls;      /* FAST: calls since the verdict, */
    uint32_t watch_taken;      /* how many of them were measured, */
    uint32_t watched[WATCH_SAMPLES];  /* and the last ones' ns per KiB */
    uint32_t refused_why;      /* REFUSED: the enum zc_skip to report, */
    int32_t refused_fd;        /* for writes to this fd, */
    uint32_t refused_gen;      /* while fdcache.c sees it unchanged */
    int64_t recheck_at_ns;
};

struct site_table {
    uint32_t undecided_or_fast;  /* sites that want reads remembered */
    uint32_t sites;
    int64_t track_ns;            /* what remembering one read costs */
    int64_t reads_resume_at_ns;  /* every site chose plain: reads wait till then */
    uint32_t rest_checks;        /* checks made while reads rest */
    int64_t clock_seen_ns;       /* the latest time one of them read */
    struct site_entry entries[SITES];
};

static struct site_table private_table;
static struct site_table *table = &private_table;

/* Deadlines use CLOCK_MONOTONIC_COARSE: a tick (1-10 ms) late is nothing
 * to a verdict due in a second, and it is read at every write of a site
 * that has a verdict without the cost of the precise clock. */
static int64_t now_ns(clockid_t clock)
{
    struct timespec t;
    if (clock_gettime(clock, &t) < 0)
        return 0;
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

void zc_calibrate_init(void)
{
    void *shared = zc_shared_alloc(sizeof *table);
    if (shared)
        __atomic_store_n(&table, (struct site_table *)shared, __ATOMIC_RELEASE);
}

static bool calibrating(void)
{
    return zc_cfg.calibrate && zc_cfg.mode != ZC_MODE_DIAG;
}

static uint32_t size_class_of(size_t bytes)
{
    return bytes ? 63 - (uint32_t)__builtin_clzll(bytes) : 0;
}

/* SITE's entry for writes of BYTES; a new one if CLAIM, else NULL. */
static struct site_entry *find_entry(const void *site, size_t bytes, bool claim)
{
    struct site_table *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    uint32_t size_class = size_class_of(bytes);
    uint64_t key = ((uint64_t)(uintptr_t)site << 6 | size_class) | 1;
    uint64_t h = key * 0x9e3779b97f4a7c15ull;
    for (int probe = 0; probe < SITES; probe++) {
        struct site_entry *e = &t->entries[(h + (uint64_t)probe) % SITES];
        uint64_t k = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);
        if (k == key)
            return e;
        if (k)
            continue;
        if (!claim)
            return NULL;
        /* A free entry: claim it.  Its other fields are zero: LEARNING. */
        if (__atomic_compare_exchange_n(&e->key, &k, key, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
            STORE(e->site, site);
            STORE(e->size_class, size_class);
            __atomic_add_fetch(&t->undecided_or_fast, 1, __ATOMIC_RELAXED);
            __atomic_add_fetch(&t->sites, 1, __ATOMIC_RELAXED);
            return e;
        }
        if (k == key)
            return e;
    }
    return NULL;  /* full: those sites are rewritten, uncalibrated */
}

static struct site_entry *entry_for(const void *site, size_t bytes)
{
    return find_entry(site, bytes, true);
}

static uint32_t fake_ns_per_kib(enum path path, bool watching)
{
    if (watching)
        return zc_cfg.calibrate_fast_later_ns;
    return path == PATH_FAST ? zc_cfg.calibrate_fast_ns : zc_cfg.calibrate_plain_ns;
}

static bool fake_costs(void)
{
    return zc_cfg.calibrate_fast_ns || zc_cfg.calibrate_plain_ns;
}

/* The second smallest of the first N samples: CPU time only ever errs
 * upwards (a page fault, a cache miss, an interrupt), so the low end is
 * the path's own cost; the second, not the first, so one odd sample
 * cannot decide. */
static uint32_t low_estimate(const uint32_t *v, int n)
{
    uint32_t s[SAMPLES];
    memcpy(s, v, (size_t)n * sizeof *s);
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && s[j] < s[j - 1]; j--) {
            uint32_t x = s[j];
            s[j] = s[j - 1];
            s[j - 1] = x;
        }
    return s[1];
}

static bool plain_verdict(uint32_t v)
{
    return v == PLAIN || v == REFUSED;
}

static void set_verdict(struct site_entry *e, enum verdict v)
{
    struct site_table *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    uint32_t was = __atomic_exchange_n(&e->verdict, v, __ATOMIC_RELAXED);
    if (plain_verdict(was) != plain_verdict(v))
        __atomic_add_fetch(&t->undecided_or_fast, plain_verdict(v) ? (uint32_t)-1 : 1u, __ATOMIC_RELAXED);
}

/* Reads may rest until the first plain verdict is due again. */
static void reads_may_rest_until(int64_t recheck, int64_t now)
{
    struct site_table *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    int64_t resume = LOAD(t->reads_resume_at_ns);
    if (resume <= now || recheck < resume)
        STORE(t->reads_resume_at_ns, recheck);
}

/* What remembering the read adds to a fast call, per KiB of this size class. */
static uint32_t track_ns_per_kib(const struct site_entry *e)
{
    struct site_table *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    uint64_t kib = ((uint64_t)1 << LOAD(e->size_class)) / 1024 + 1;
    return (uint32_t)((uint64_t)LOAD(t->track_ns) / kib);
}

/* When the verdict being taken is measured again: the first one soon,
 * since early calls pay costs that later ones do not (fresh pages, cold
 * caches). */
static int64_t schedule_recheck(struct site_entry *e, int64_t now)
{
    bool first = __atomic_fetch_add(&e->verdicts, 1, __ATOMIC_RELAXED) == 0 && !fake_costs();
    int64_t recheck = now + (first ? FIRST_RECHECK_NS : RECHECK_NS);
    STORE(e->recheck_at_ns, recheck);
    return recheck;
}

/* The verdict, and what the summary shows of it: the last one taken, not
 * a first win that still waits for its second. */
static void record_verdict(struct site_entry *e, uint32_t fast, uint32_t plain, bool fast_wins)
{
    if (fast_wins) {
        STORE(e->watch_calls, 0);
        STORE(e->watch_taken, 0);
    }
    STORE(e->chosen_ns_per_kib[PATH_FAST], fast);
    STORE(e->chosen_ns_per_kib[PATH_PLAIN], plain);
    STORE(e->last_verdict, fast_wins ? FAST : PLAIN);
    set_verdict(e, fast_wins ? FAST : PLAIN);
    zc_stats_verdict(LOAD(e->site), (size_t)1 << LOAD(e->size_class), (enum zc_method)LOAD(e->method), fast, plain,
                     fast_wins);  /* for zcopy stats */
}

/* A plain verdict: reads rest until it is due again. */
static void go_plain(struct site_entry *e, uint32_t fast, uint32_t plain, int64_t now, int64_t recheck)
{
    STORE(e->fast_wins_in_a_row, 0);
    reads_may_rest_until(recheck, now);
    record_verdict(e, fast, plain, false);
}

/* Both paths sampled: the fast path's cost also has the remembered read's.
 * It must be 5% cheaper to be kept: where the two are close, the plain
 * call risks nothing. */
static void decide(struct site_entry *e)
{
    uint32_t fast = low_estimate(e->ns_per_kib[PATH_FAST], SAMPLES) + track_ns_per_kib(e);
    uint32_t plain = low_estimate(e->ns_per_kib[PATH_PLAIN], SAMPLES);
    int64_t now = now_ns(CLOCK_MONOTONIC_COARSE), recheck = schedule_recheck(e, now);
    if ((uint64_t)fast * 20 >= (uint64_t)plain * 19) {
        go_plain(e, fast, plain, now, recheck);
        return;
    }
    uint32_t in_a_row = LOAD(e->fast_wins_in_a_row) + 1;
    STORE(e->fast_wins_in_a_row, in_a_row);
    if (in_a_row < 2 && !fake_costs()) {
        /* Only the fast call can lose, so it is kept only once two
         * measurements in a row agree: one unlucky set of plain samples
         * (a preempted vCPU, a burst of interrupts) then costs 14 more
         * calls instead of a second of the slower path. */
        STORE(e->taken[PATH_FAST], 0);
        STORE(e->taken[PATH_PLAIN], 0);
        return;
    }
    record_verdict(e, fast, plain, true);
}

/* After EARLY_SAMPLES of each: whether even the cheapest fast call cost
 * over 1.5 times the dearest plain one.  The plain verdict is then taken
 * at once, since every fast call learning makes is paid at the fast
 * path's price (make bench's W1, 1 MiB into a pipe: 667 µs against 232 µs
 * a MiB in one run, 10 fast calls a learning).  CPU time only errs
 * upwards, so three fast samples all that much too dear are no accident;
 * and a plain verdict is measured again soon. */
static bool fast_clearly_dearer(const struct site_entry *e)
{
    uint32_t cheapest_fast = UINT32_MAX, dearest_plain = 0;
    for (int i = 0; i < EARLY_SAMPLES; i++) {
        uint32_t f = LOAD(e->ns_per_kib[PATH_FAST][i]), p = LOAD(e->ns_per_kib[PATH_PLAIN][i]);
        cheapest_fast = f < cheapest_fast ? f : cheapest_fast;
        dearest_plain = p > dearest_plain ? p : dearest_plain;
    }
    return ((uint64_t)cheapest_fast + track_ns_per_kib(e)) * 2 > (uint64_t)dearest_plain * 3;
}

/* The plain verdict fast_clearly_dearer found, as decide() takes one. */
static void decide_plain_early(struct site_entry *e)
{
    uint32_t fast = low_estimate(e->ns_per_kib[PATH_FAST], EARLY_SAMPLES) + track_ns_per_kib(e);
    uint32_t plain = low_estimate(e->ns_per_kib[PATH_PLAIN], EARLY_SAMPLES);
    int64_t now = now_ns(CLOCK_MONOTONIC_COARSE);
    go_plain(e, fast, plain, now, schedule_recheck(e, now));
}

/* The mean of N samples but the dearest (one preempted vCPU). */
static uint32_t mean_but_dearest(const uint32_t *v, int n)
{
    uint64_t sum = 0;
    uint32_t dearest = 0;
    for (int i = 0; i < n; i++) {
        sum += v[i];
        dearest = v[i] > dearest ? v[i] : dearest;
    }
    return (uint32_t)((sum - dearest) / (uint64_t)(n - 1));
}

/* The fast call's watch.  Learning takes the low end of 7 calls, and in
 * safe mode the fast call's cost is not one figure: the proof's page
 * faults on the file's mapping come and go with the part of the file, so
 * that its calls cost 15 µs in one stretch and 45 µs in the next (64 KiB
 * chunks; a plain write 15 µs).  Learning in a cheap stretch chose the
 * fast call in 2 or 3 runs of 25 of make bench's W1 at 64 KiB into a
 * 1 MiB pipe, where fast calls alone make 0.42x of plain's throughput.  So once
 * chosen, one fast call in WATCH_EVERY is still measured, and when the
 * mean of the last WATCH_SAMPLES of them (but the dearest) is no longer
 * 5% under the plain call's cost, the site goes plain until it is
 * measured again.  A mean, not the low end: here the fast call's cost is
 * what its calls cost on the whole. */
static void watch(struct site_entry *e, uint32_t per_kib)
{
    if (LOAD(e->verdict) != FAST)
        return;  /* another thread's watch turned it already */
    uint32_t i = __atomic_fetch_add(&e->watch_taken, 1, __ATOMIC_RELAXED);
    STORE(e->watched[i % WATCH_SAMPLES], per_kib);
    if (i + 1 < WATCH_SAMPLES)
        return;
    uint32_t watched[WATCH_SAMPLES];
    for (int k = 0; k < WATCH_SAMPLES; k++)
        watched[k] = LOAD(e->watched[k]);
    uint32_t fast = mean_but_dearest(watched, WATCH_SAMPLES) + track_ns_per_kib(e);
    uint32_t plain = LOAD(e->chosen_ns_per_kib[PATH_PLAIN]);
    if ((uint64_t)fast * 20 < (uint64_t)plain * 19)
        return;
    int64_t now = now_ns(CLOCK_MONOTONIC_COARSE);
    go_plain(e, fast, plain, now, schedule_recheck(e, now));
}

static void begin(struct zc_calibration *c, struct site_entry *e, enum path path)
{
    c->entry = e;
    c->fast = path == PATH_FAST;
    c->cpu_ns = fake_costs() ? 0 : now_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* A refusal is the destination's: a write to another fd (or to the same
 * number once it names another file) may be rewritten.  (A process forked
 * from this one, which shares the table, may take another's refusal for
 * its own fd of that number: a plain call, for a second at most.) */
static bool refusal_holds(const struct site_entry *e, int fd)
{
    return LOAD(e->refused_fd) == fd && zc_fd_unchanged(fd, LOAD(e->refused_gen));
}

bool zc_calibrate_fast(const void *site, size_t bytes, int fd, struct zc_calibration *c)
{
    c->entry = NULL;
    c->watching = false;
    c->refused_why = 0;
    if (!calibrating())
        return true;
    struct site_entry *e = entry_for(site, bytes);
    if (!e)
        return true;
    uint32_t verdict = LOAD(e->verdict);
    if (verdict != LEARNING &&
        (now_ns(CLOCK_MONOTONIC_COARSE) >= LOAD(e->recheck_at_ns) || (verdict == REFUSED && !refusal_holds(e, fd)))) {
        /* Measure both again, from new samples. */
        STORE(e->taken[PATH_FAST], 0);
        STORE(e->taken[PATH_PLAIN], 0);
        set_verdict(e, LEARNING);
        verdict = LEARNING;
    }
    if (verdict == FAST) {
        if (__atomic_fetch_add(&e->watch_calls, 1, __ATOMIC_RELAXED) % WATCH_EVERY == 0) {
            begin(c, e, PATH_FAST);
            c->watching = true;
        }
        return true;
    }
    if (verdict == REFUSED)
        c->refused_why = (int)LOAD(e->refused_why);
    if (plain_verdict(verdict))
        return false;
    uint32_t turn = __atomic_fetch_add(&e->turn, 1, __ATOMIC_RELAXED);
    enum path path = turn & 1 ? PATH_PLAIN : PATH_FAST;
    if (turn < WARMUP && !fake_costs())
        return path == PATH_FAST;  /* both paths once warm, unmeasured */
    if (LOAD(e->taken[path]) >= SAMPLES)
        path = path == PATH_FAST ? PATH_PLAIN : PATH_FAST;
    begin(c, e, path);
    return path == PATH_FAST;
}

void zc_calibrate_end(struct zc_calibration *c, ssize_t done, enum zc_method method)
{
    struct site_entry *e = c->entry;
    c->entry = NULL;
    if (!e || done <= 0)
        return;
    enum path path = c->fast ? PATH_FAST : PATH_PLAIN;
    uint64_t spent = fake_costs() ? (uint64_t)fake_ns_per_kib(path, c->watching) * (uint64_t)done / 1024
                                  : (uint64_t)(now_ns(CLOCK_THREAD_CPUTIME_ID) - c->cpu_ns);
    uint64_t per_kib = spent * 1024 / (uint64_t)done;
    if (c->watching) {
        watch(e, per_kib > UINT32_MAX ? UINT32_MAX : (uint32_t)per_kib);
        return;
    }
    uint32_t i = __atomic_fetch_add(&e->taken[path], 1, __ATOMIC_RELAXED);
    if (i >= SAMPLES)
        return;
    STORE(e->ns_per_kib[path][i], per_kib > UINT32_MAX ? UINT32_MAX : (uint32_t)per_kib);
    if (c->fast)
        STORE(e->method, (uint32_t)method);
    uint32_t other = LOAD(e->taken[c->fast ? PATH_PLAIN : PATH_FAST]);
    if (i == SAMPLES - 1 && other >= SAMPLES)
        decide(e);
    else if (i == EARLY_SAMPLES - 1 && other >= EARLY_SAMPLES && other < SAMPLES && fast_clearly_dearer(e))
        decide_plain_early(e);
}

/* The destination refused a rewrite at SITE for WHY, a reason that holds
 * for its next calls too (a file on a filesystem that copies blocks,
 * O_APPEND, a datagram socket...): until the site is due again, its
 * writes stay plain with that reason and no check's syscall, and its
 * reads are not remembered either (a file to file copy on ext4 paid an
 * fstat and an lseek per chunk for nothing).  Any measurement begun for
 * this call is dropped. */
void zc_calibrate_refused(struct zc_calibration *c, const void *site, size_t bytes, int why, int fd, unsigned gen)
{
    c->entry = NULL;
    if (!calibrating())
        return;
    struct site_entry *e = entry_for(site, bytes);
    if (!e)
        return;
    int64_t now = now_ns(CLOCK_MONOTONIC_COARSE), recheck = now + RECHECK_NS;
    STORE(e->refused_why, (uint32_t)why);
    STORE(e->refused_fd, fd);
    STORE(e->refused_gen, gen);
    STORE(e->recheck_at_ns, recheck);
    reads_may_rest_until(recheck, now);
    set_verdict(e, REFUSED);
}

/* While every site rests plain, reads are not remembered, so a write at
 * such a site finds none of its bytes known: its reason is still the
 * verdict's (calibrated_plain, or what the destination refused), not
 * not_from_file.  0: no verdict to report. */
int zc_calibrate_resting_reason(const void *site, size_t bytes, int fd)
{
    if (!calibrating() || zc_calibrate_wants_reads())
        return 0;
    struct site_entry *e = find_entry(site, bytes, false);
    if (!e)
        return 0;
    uint32_t verdict = LOAD(e->verdict);
    if (verdict == REFUSED && !refusal_holds(e, fd)) {
        /* Another destination: learn it, with reads remembered again. */
        STORE(e->taken[PATH_FAST], 0);
        STORE(e->taken[PATH_PLAIN], 0);
        set_verdict(e, LEARNING);
        return 0;
    }
    if (verdict == REFUSED)
        return (int)LOAD(e->refused_why);
    return verdict == PLAIN ? ZC_SKIP_CALIBRATED_PLAIN : 0;
}

/* ---- the plain call a calibration chose, made by the hook ---- */

static ZC_TLS struct zc_calibration plain_pending;

void zc_calibrate_plain_begin(const struct zc_calibration *c)
{
    plain_pending = *c;
}

void zc_calibrate_plain_end(ssize_t done)
{
    if (ZC_UNLIKELY(plain_pending.entry != NULL))
        zc_calibrate_end(&plain_pending, done, ZC_PLAIN);
}

/* ---- remembered reads ---- */

/* Whether the time for reads to resume has come.  Only one check in
 * REST_CLOCK_EVERY, counted across the process tree, reads the clock, and
 * the time it read is shared: the first clock read in a process faults in
 * two pages of the vDSO, which a fork-per-connection server's children
 * paid on every connection.  A verdict due is then seen up to that many
 * checks late; once one check has seen it, every check does. */
static bool rest_over(struct site_table *t)
{
    int64_t resume = LOAD(t->reads_resume_at_ns);
    if (LOAD(t->clock_seen_ns) >= resume)
        return true;
    if (__atomic_fetch_add(&t->rest_checks, 1, __ATOMIC_RELAXED) % REST_CLOCK_EVERY)
        return false;
    int64_t now = now_ns(CLOCK_MONOTONIC_COARSE), seen = LOAD(t->clock_seen_ns);
    while (seen < now &&
           !__atomic_compare_exchange_n(&t->clock_seen_ns, &seen, now, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    return now >= resume;
}

/* Whether reads are worth remembering now: not while every site that
 * copies has measured the plain call cheaper, until one of them is due to
 * be measured again. */
bool zc_calibrate_wants_reads(void)
{
    if (!calibrating())
        return true;
    struct site_table *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    if (LOAD(t->undecided_or_fast) || !LOAD(t->sites))
        return true;
    return rest_over(t);
}

/* The second to the fifth remembered read of each thread are measured,
 * then every TRACK_SAMPLE_EVERY-th (the first is cold: its cost is the
 * program's start, not a read's).  begin returns the CPU time to pass to
 * end, or -1 when this one is not measured. */
int64_t zc_calibrate_track_begin(void)
{
    if (!calibrating() || fake_costs())
        return -1;
    static ZC_TLS unsigned reads_seen;
    unsigned seen = reads_seen++;
    if (seen == 0 || (seen > 4 && seen % TRACK_SAMPLE_EVERY))
        return -1;
    return now_ns(CLOCK_THREAD_CPUTIME_ID);
}

void zc_calibrate_track_end(int64_t begun)
{
    if (begun < 0)
        return;
    struct site_table *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    int64_t spent = now_ns(CLOCK_THREAD_CPUTIME_ID) - begun;
    int64_t was = LOAD(t->track_ns);
    STORE(t->track_ns, was ? (was * 3 + spent) / 4 : spent);
}

/* ---- what calibration found, for the summary ---- */

int zc_calibrate_verdicts(struct zc_verdict *out, int max)
{
    struct site_table *t = __atomic_load_n(&table, __ATOMIC_ACQUIRE);
    int n = 0;
    for (int i = 0; i < SITES && n < max; i++) {
        const struct site_entry *e = &t->entries[i];
        uint32_t fast = LOAD(e->chosen_ns_per_kib[PATH_FAST]);
        if (!LOAD(e->key) || !fast)
            continue;
        out[n++] = (struct zc_verdict){
            .site = LOAD(e->site),
            .bytes = (size_t)1 << LOAD(e->size_class),
            .method = (enum zc_method)LOAD(e->method),
            .fast_ns_per_kib = fast,
            .plain_ns_per_kib = LOAD(e->chosen_ns_per_kib[PATH_PLAIN]),
            .fast_chosen = LOAD(e->last_verdict) == FAST,
        };
    }
    return n;
}
