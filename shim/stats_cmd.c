/* zcopy stats [--watch N] [--json | --prometheus] [PID...]: what running
 * processes under zcopy have done so far, read from their live stats files
 * (live_file.h, written by the library's live.c), for the given processes
 * or for every one this user may read (root: everyone's).
 *
 * A file whose process is gone (killed by a signal it did not handle) is
 * shown once as gone, with its last counts, and removed.  A process is gone
 * when /proc/<pid>/stat is missing or shows another start time (the pid was
 * reused); a file from another pid namespace, or whose process cannot be
 * looked at, is never judged.  The command only reads the files it shows:
 * a live process's file is never changed.  Part of the zcopy command;
 * stats_show.c prints what this file reads. */
#define _GNU_SOURCE
#include "command.h"
#include "stats_cmd.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_DIRS 64
#define STALE_UNFINISHED_S 10  /* a file never finished, of a dead pid, after this long */

enum format { TEXT, JSON, PROMETHEUS };

static struct stats_proc *procs;
static size_t nprocs, procs_cap;
static uint64_t our_pid_ns;

/* ---- small helpers ---- */

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static bool parse_uint(const char *s, uint64_t *out)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    *out = strtoull(s, &end, 10);
    return !errno && !*end;
}

/* "<pid>.<start>" after the prefix. */
static bool parse_name(const char *name, int *pid, uint64_t *start)
{
    size_t plen = sizeof ZC_LIVE_PREFIX - 1;
    if (strncmp(name, ZC_LIVE_PREFIX, plen))
        return false;
    char pid_text[24];
    const char *dot = strchr(name + plen, '.');
    uint64_t p;
    if (!dot || dot - (name + plen) >= (long)sizeof pid_text)
        return false;
    memcpy(pid_text, name + plen, (size_t)(dot - (name + plen)));
    pid_text[dot - (name + plen)] = 0;
    if (!parse_uint(pid_text, &p) || p == 0 || p > INT_MAX || !parse_uint(dot + 1, start))
        return false;
    *pid = (int)p;
    return true;
}

/* Field 22 of /proc/<pid>/stat.  1: found; 0: no such process; -1: cannot tell. */
static int proc_start(int pid, uint64_t *start)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT || errno == ESRCH ? 0 : -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    int err = errno;
    close(fd);
    if (n <= 0)
        return err == ESRCH || n == 0 ? 0 : -1;  /* it ended between open and read */
    buf[n] = 0;
    const char *p = strrchr(buf, ')');
    for (int field = 2; p && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (!p)
        return -1;
    *start = strtoull(p + 1, NULL, 10);
    return 1;
}

static uint64_t pid_ns_of(const char *link_path)
{
    char link[64];
    ssize_t n = readlink(link_path, link, sizeof link - 1);
    if (n <= 0)
        return 0;
    link[n] = 0;
    const char *p = strchr(link, '[');
    return p ? strtoull(p + 1, NULL, 10) : 0;
}

/* ---- finding the files ---- */

struct dir_list {
    char paths[MAX_DIRS][PATH_MAX];
    dev_t dev[MAX_DIRS];
    ino_t ino[MAX_DIRS];
    int n;
};

static void add_dir(struct dir_list *dirs, const char *path)
{
    struct stat st;
    if (!path || path[0] != '/' || dirs->n == MAX_DIRS || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return;
    for (int i = 0; i < dirs->n; i++)
        if (dirs->dev[i] == st.st_dev && dirs->ino[i] == st.st_ino)
            return;
    snprintf(dirs->paths[dirs->n], PATH_MAX, "%s", path);
    dirs->dev[dirs->n] = st.st_dev;
    dirs->ino[dirs->n] = st.st_ino;
    dirs->n++;
}

/* Where live.c may have put a file: /run/zcopy, a $XDG_RUNTIME_DIR (this
 * user's, or for root every user's), /dev/shm. */
static void find_dirs(struct dir_list *dirs)
{
    char path[PATH_MAX];
    dirs->n = 0;
    add_dir(dirs, ZC_LIVE_DIR);
    add_dir(dirs, getenv("XDG_RUNTIME_DIR"));
    snprintf(path, sizeof path, "/run/user/%u", (unsigned)geteuid());
    add_dir(dirs, path);
    if (geteuid() == 0) {
        DIR *d = opendir("/run/user");
        struct dirent *e;
        while (d && (e = readdir(d)))
            if (e->d_name[0] != '.') {
                snprintf(path, sizeof path, "/run/user/%s", e->d_name);
                add_dir(dirs, path);
            }
        if (d)
            closedir(d);
    }
    add_dir(dirs, "/dev/shm");
}

static bool wanted(int pid, int npids, const int *pids)
{
    if (!npids)
        return true;
    for (int i = 0; i < npids; i++)
        if (pids[i] == pid)
            return true;
    return false;
}

static struct stats_proc *proc_for(int pid, uint64_t start)
{
    for (size_t i = 0; i < nprocs; i++)
        if (procs[i].pid == pid && procs[i].start == start)
            return &procs[i];
    if (nprocs == procs_cap) {
        size_t cap = procs_cap ? procs_cap * 2 : 16;
        struct stats_proc *more = realloc(procs, cap * sizeof *more);
        if (!more)
            return NULL;
        procs = more;
        procs_cap = cap;
    }
    struct stats_proc *p = &procs[nprocs++];
    memset(p, 0, sizeof *p);
    p->pid = pid;
    p->start = start;
    return p;
}

static void sum_stripes(const struct zc_live_file *f, struct zc_live_counts *sum)
{
    memset(sum, 0, sizeof *sum);
    for (int s = 0; s < ZC_LIVE_STRIPES; s++) {
        const uint64_t *from = (const uint64_t *)&f->stripes[s];
        uint64_t *to = (uint64_t *)sum;
        for (size_t i = 0; i < sizeof *sum / sizeof *to; i++)
            to[i] += from[i];
    }
}

/* What a requested pid's missing file means, on stderr. */
static void say_missing(int pid)
{
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d", pid);
    if (stat(path, &st) != 0)
        fprintf(stderr, "zcopy: stats: pid %d: no such process\n", pid);
    else if (geteuid() != 0 && st.st_uid != geteuid())
        fprintf(stderr, "zcopy: stats: pid %d: another user's process; zcopy stats needs root for it\n", pid);
    else
        fprintf(stderr,
                "zcopy: stats: pid %d: no live stats file (not under zcopy, ZCOPY_STATS_LIVE=0, or a forked "
                "child that has no file yet)\n",
                pid);
}

static void remove_gone(const char *path)
{
    if (unlink(path) != 0 && errno != ENOENT)
        fprintf(stderr, "zcopy: stats: cannot remove %s: %s\n", path, strerror(errno));
}

/* One verdict as its writer left it: the fields copied between two equal,
 * even readings of seq (a seqlock), else seq 0 (not shown). */
static void copy_verdict(const struct zc_live_verdict *from, struct zc_live_verdict *to)
{
    for (int tries = 0; tries < 100; tries++) {
        uint32_t seq = __atomic_load_n(&from->seq, __ATOMIC_ACQUIRE);
        if (seq & 1)
            continue;
        to->key = __atomic_load_n(&from->key, __ATOMIC_RELAXED);
        to->addr = __atomic_load_n(&from->addr, __ATOMIC_RELAXED);
        to->bytes = __atomic_load_n(&from->bytes, __ATOMIC_RELAXED);
        to->method = __atomic_load_n(&from->method, __ATOMIC_RELAXED);
        to->fast_chosen = __atomic_load_n(&from->fast_chosen, __ATOMIC_RELAXED);
        to->fast_ns_per_kib = __atomic_load_n(&from->fast_ns_per_kib, __ATOMIC_RELAXED);
        to->plain_ns_per_kib = __atomic_load_n(&from->plain_ns_per_kib, __ATOMIC_RELAXED);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (__atomic_load_n(&from->seq, __ATOMIC_RELAXED) == seq) {
            to->seq = seq;
            return;
        }
    }
    to->seq = 0;
}

/* Reads one file into its struct stats_proc.  Returns the proc to show, or NULL
 * (nothing to show: unreadable, unfinished, another namespace's).  Whether
 * its process lives is judged by the file's name alone. */
static struct stats_proc *read_file(const char *path, int pid, uint64_t start, bool asked)
{
    uint64_t alive_start = 0;
    int alive = proc_start(pid, &alive_start);
    bool dead = alive == 0 || (alive == 1 && alive_start != start);
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return NULL;  /* another user's (say_missing tells) */
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(struct zc_live_file)) {
        close(fd);
        return NULL;
    }
    const struct zc_live_file *map = mmap(NULL, sizeof *map, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return NULL;
    bool finished = __atomic_load_n(&map->magic, __ATOMIC_ACQUIRE) == ZC_LIVE_MAGIC;
    bool same_version = map->version == ZC_LIVE_VERSION && map->size == sizeof *map;
    bool valid = finished && same_version && map->pid == pid && map->start_ticks == start;
    struct stats_proc *p = NULL;
    if (!valid) {
        if (finished && !same_version && asked)
            fprintf(stderr, "zcopy: stats: pid %d: %s was written by another version of zcopy\n", pid, path);
        /* Being made, or left unfinished by a process that died making it. */
        if (dead && time(NULL) - st.st_mtime > STALE_UNFINISHED_S)
            remove_gone(path);
    } else if (map->pid_ns && our_pid_ns && map->pid_ns != our_pid_ns) {
        /* Its pid means another process here: not ours to judge. */
    } else if ((p = proc_for(pid, start))) {
        /* Word by word: the process keeps counting meanwhile. */
        const uint64_t *from = (const uint64_t *)map;
        uint64_t *to = (uint64_t *)&p->file;
        for (size_t i = 0; i < sizeof *map / sizeof *to; i++)
            to[i] = __atomic_load_n(&from[i], __ATOMIC_RELAXED);
        for (int v = 0; v < ZC_LIVE_VERDICTS; v++)
            copy_verdict(&map->verdicts[v], &p->file.verdicts[v]);
        snprintf(p->path, sizeof p->path, "%s", path);
        p->state = dead ? STATS_GONE : STATS_LIVE;
        p->prev = p->sum;
        p->prev_when = p->when;
        sum_stripes(&p->file, &p->sum);
        p->when = now_s();
        p->seen = true;
    }
    munmap((void *)map, sizeof *map);
    if (p && p->state == STATS_GONE)
        remove_gone(path);
    return p;
}

/* Reads every file of the pids asked for (all if none).  Returns how many
 * processes were shown; *missing: asked pids with no file to show, said on
 * stderr unless quiet. */
static size_t collect(int npids, const int *pids, bool quiet, int *missing)
{
    struct dir_list *dirs = malloc(sizeof *dirs);
    bool found[npids > 0 ? npids : 1];
    memset(found, 0, sizeof found);
    size_t shown = 0;
    for (size_t i = 0; i < nprocs; i++)
        procs[i].seen = false;
    if (!dirs)
        return 0;
    find_dirs(dirs);
    for (int d = 0; d < dirs->n; d++) {
        DIR *dir = opendir(dirs->paths[d]);
        struct dirent *e;
        while (dir && (e = readdir(dir))) {
            int pid;
            uint64_t start;
            if (!parse_name(e->d_name, &pid, &start) || !wanted(pid, npids, pids))
                continue;
            char path[PATH_MAX];
            snprintf(path, sizeof path, "%s/%s", dirs->paths[d], e->d_name);
            struct stats_proc *p = read_file(path, pid, start, npids > 0 && !quiet);
            if (!p)
                continue;
            shown++;
            for (int i = 0; i < npids; i++)
                found[i] |= pids[i] == pid;
        }
        if (dir)
            closedir(dir);
    }
    free(dirs);
    *missing = 0;
    for (int i = 0; i < npids; i++)
        if (!found[i]) {
            if (!quiet)
                say_missing(pids[i]);
            (*missing)++;
        }
    return shown;
}

/* ---- the command ---- */

static int by_pid(const void *a, const void *b)
{
    const struct stats_proc *x = a, *y = b;
    return x->pid != y->pid ? (x->pid > y->pid) - (x->pid < y->pid) : (x->start > y->start) - (x->start < y->start);
}

/* Forgets the processes that were gone or not seen this time. */
static void drop_finished(void)
{
    size_t kept = 0;
    for (size_t i = 0; i < nprocs; i++)
        if (procs[i].seen && procs[i].state == STATS_LIVE)
            procs[kept++] = procs[i];
    nprocs = kept;
}

int cmd_stats(int argc, char **argv)
{
    enum format format = TEXT;
    unsigned watch = 0;
    int npids = 0;
    int *pids = calloc((size_t)argc + 1, sizeof *pids);
    if (!pids)
        return 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        uint64_t v;
        if (!strcmp(a, "--json") || !strcmp(a, "-j")) {
            format = JSON;
        } else if (!strcmp(a, "--prometheus") || !strcmp(a, "-p")) {
            format = PROMETHEUS;
        } else if (!strcmp(a, "--watch") || !strcmp(a, "-w") || !strncmp(a, "--watch=", 8)) {
            const char *n = a[7] == '=' ? a + 8 : i + 1 < argc ? argv[++i] : "";
            if (!parse_uint(n, &v) || v == 0 || v > 86400)
                return usage_error("bad --watch '%s' (seconds between refreshes, 1 or more)", n);
            watch = (unsigned)v;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (parse_uint(a, &v) && v > 0 && v <= INT_MAX) {
            pids[npids++] = (int)v;
        } else {
            return usage_error("stats: '%s' is neither an option nor a pid", a);
        }
    }
    our_pid_ns = pid_ns_of("/proc/self/ns/pid");
    bool tty = isatty(STDOUT_FILENO);
    int status = 0;
    for (bool first = true;; first = false) {
        int missing = 0;
        size_t shown = collect(npids, pids, !first, &missing);
        qsort(procs, nprocs, sizeof *procs, by_pid);
        if (watch && tty && format == TEXT)
            printf("\033[H\033[2J");
        if (format == PROMETHEUS) {
            stats_print_prometheus(procs, nprocs);
        } else {
            for (size_t i = 0; i < nprocs; i++)
                if (procs[i].seen)
                    format == JSON ? stats_print_json(&procs[i]) : stats_print_text(&procs[i]);
        }
        if (!shown && !npids && format == TEXT && first)
            fprintf(stderr, "zcopy: stats: no process of %s under zcopy has a live stats file\n",
                    geteuid() == 0 ? "any user" : "yours");
        fflush(stdout);
        if (first)
            status = missing ? 1 : 0;  /* --watch: a process that ends later is no error */
        drop_finished();
        if (!watch || (npids && !nprocs))
            break;
        sleep(watch);
    }
    free(pids);
    return status;
}
