/* zcopy stats [--watch N] [--json | --prometheus] [PID...]: what running
 * processes under zcopy have done so far, read from their live stats files
 * (live_file.h, written by the library's live.c), for the given processes
 * or for every one this user may read (root: everyone's).
 *
 * A file whose process is gone (SIGKILL, or an exit without destructors) is
 * shown once as gone, with its last counts, and removed.  A process is gone
 * when /proc/<pid>/stat is missing or shows another start time (the pid was
 * reused); a file from another pid namespace, or whose process cannot be
 * looked at, is never judged.  The command only reads the files it shows:
 * a live process's file is never changed.  Part of the zcopy command. */
#define _GNU_SOURCE
#include "command.h"
#include "live_file.h"

#include <dirent.h>
#include <elf.h>
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
#define MAX_SHOWN_SITES 10  /* in the table; --json lists every one */
#define STALE_UNFINISHED_S 10  /* a file never finished, of a dead pid, after this long */

enum format { TEXT, JSON, PROMETHEUS };
enum state { LIVE, GONE };

/* One process's file, copied out of the mapping word by word. */
struct proc {
    char path[PATH_MAX];
    int pid;
    uint64_t start;
    enum state state;
    struct zc_live_file file;
    struct zc_live_counts sum;
    double when;             /* CLOCK_MONOTONIC seconds of the copy */
    struct zc_live_counts prev;  /* --watch: the previous copy */
    double prev_when;        /* 0: none */
    bool seen;
};

static struct proc *procs;
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

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash ? slash + 1 : path;
}

/* A name from the file: at most its field's size, printable. */
static void name_from(const char *field, size_t size, char *out)
{
    size_t i = 0;
    for (; i < size - 1 && field[i]; i++)
        out[i] = field[i] >= 0x20 && field[i] < 0x7f ? field[i] : '?';
    out[i] = 0;
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

static struct proc *proc_for(int pid, uint64_t start)
{
    for (size_t i = 0; i < nprocs; i++)
        if (procs[i].pid == pid && procs[i].start == start)
            return &procs[i];
    if (nprocs == procs_cap) {
        size_t cap = procs_cap ? procs_cap * 2 : 16;
        struct proc *more = realloc(procs, cap * sizeof *more);
        if (!more)
            return NULL;
        procs = more;
        procs_cap = cap;
    }
    struct proc *p = &procs[nprocs++];
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
                "child in its first second)\n",
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

/* Reads one file into its struct proc.  Returns the proc to show, or NULL
 * (nothing to show: unreadable, unfinished, another namespace's).  Whether
 * its process lives is judged by the file's name alone. */
static struct proc *read_file(const char *path, int pid, uint64_t start, bool asked)
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
    struct proc *p = NULL;
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
        p->state = dead ? GONE : LIVE;
        p->prev = p->sum;
        p->prev_when = p->when;
        sum_stripes(&p->file, &p->sum);
        p->when = now_s();
        p->seen = true;
    }
    munmap((void *)map, sizeof *map);
    if (p && p->state == GONE)
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
            struct proc *p = read_file(path, pid, start, npids > 0 && !quiet);
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

/* ---- call sites: module+offset, from the process's maps ---- */

/* addr2line's offset: from the module's load address, but for a non-PIE
 * executable (ET_EXEC) the address itself. */
static void site_name(int pid, uint64_t addr, char *out, size_t size)
{
    uint64_t pc = addr - 1;  /* a return address points after its call */
    char maps_path[64], line[PATH_MAX + 128], module[PATH_MAX] = "";
    uint64_t base = UINT64_MAX;
    snprintf(out, size, "0x%llx", (unsigned long long)pc);
    snprintf(maps_path, sizeof maps_path, "/proc/%d/maps", pid);
    FILE *maps = fopen(maps_path, "re");
    if (!maps)
        return;
    /* First the module that holds pc, then its lowest mapping. */
    for (int pass = 0; pass < 2; pass++) {
        rewind(maps);
        while (fgets(line, sizeof line, maps)) {
            unsigned long long lo, hi, off;
            int path_at = 0;
            if (sscanf(line, "%llx-%llx %*s %llx %*s %*s %n", &lo, &hi, &off, &path_at) < 3 || !path_at ||
                line[path_at] != '/')
                continue;
            line[strcspn(line, "\n")] = 0;
            if (pass == 0 && pc >= lo && pc < hi)
                snprintf(module, sizeof module, "%s", line + path_at);
            if (pass == 1 && !strcmp(line + path_at, module) && lo - off < base)
                base = lo - off;
        }
        if (!module[0])
            break;
    }
    fclose(maps);
    if (!module[0] || base == UINT64_MAX)
        return;
    int fd = open(module, O_RDONLY | O_CLOEXEC);
    Elf64_Ehdr eh;
    if (fd >= 0 && read(fd, &eh, sizeof eh) == (ssize_t)sizeof eh && eh.e_type == ET_EXEC)
        base = 0;
    if (fd >= 0)
        close(fd);
    snprintf(out, size, "%s+0x%llx", base_name(module), (unsigned long long)(pc - base));
}

static const char *method_name(const struct zc_live_file *f, unsigned m, char *buf)
{
    if (m >= f->methods || m >= ZC_LIVE_METHODS)
        return "?";
    name_from(f->method_names[m], ZC_LIVE_NAME, buf);
    return buf;
}

static const char *skip_name(const struct zc_live_file *f, unsigned r, char *buf)
{
    if (r >= f->skips || r >= ZC_LIVE_SKIPS)
        return "?";
    name_from(f->skip_names[r], ZC_LIVE_NAME, buf);
    return buf;
}

/* As the decision log names them. */
static const char *site_action(const struct zc_live_file *f, const struct zc_live_site *s)
{
    if (s->diag)
        return "would_rewrite";
    if (!s->reason)
        return "rewrite";
    return s->method == f->plain_method ? "skip" : "fallback";
}

/* Sites largest first (by bytes). */
static int ready_sites(const struct zc_live_file *f, int *order)
{
    int n = 0;
    for (int i = 0; i < ZC_LIVE_SITES; i++)
        if (f->sites[i].key && f->sites[i].ready)
            order[n++] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && f->sites[order[j]].bytes > f->sites[order[j - 1]].bytes; j--) {
            int t = order[j];
            order[j] = order[j - 1];
            order[j - 1] = t;
        }
    return n;
}

/* A verdict that copy_verdict could copy whole. */
static bool verdict_at(const struct zc_live_file *f, int i)
{
    const struct zc_live_verdict *v = &f->verdicts[i];
    return v->key && v->seq && !(v->seq & 1);
}

static double uptime_of(const struct proc *p)
{
    double since_boot = 0;
    FILE *up = fopen("/proc/uptime", "re");
    if (up) {
        if (fscanf(up, "%lf", &since_boot) != 1)
            since_boot = 0;
        fclose(up);
    }
    long ticks = sysconf(_SC_CLK_TCK);
    double up_s = since_boot - (double)p->start / (double)(ticks > 0 ? ticks : 100);
    return up_s > 0 ? up_s : 0;
}

/* Bytes per second since the previous copy, or -1 without one. */
static double rate(const struct proc *p, int m)
{
    double dt = p->when - p->prev_when;
    if (!p->prev_when || dt <= 0)
        return -1;
    return (double)(p->sum.method_bytes[m] - p->prev.method_bytes[m]) / dt;
}

/* ---- text: the exit summary's lines ---- */

static void print_text(const struct proc *p)
{
    const struct zc_live_file *f = &p->file;
    char exe[sizeof f->exe], mode[sizeof f->mode], version[sizeof f->lib_version], name[ZC_LIVE_NAME];
    name_from(f->exe, sizeof f->exe, exe);
    name_from(f->mode, sizeof f->mode, mode);
    name_from(f->lib_version, sizeof f->lib_version, version);
    printf("zcopy: stats pid=%d exe=%s version=%s mode=%s min_bytes=%llu state=%s", p->pid, base_name(exe),
           version, mode, (unsigned long long)f->min_bytes, p->state == LIVE ? "live" : "gone");
    if (p->state == LIVE)
        printf(" up=%.0fs\n", uptime_of(p));
    else
        printf(" (its file is removed; these were its last counts)\n");
    for (unsigned m = 0; m < f->methods && m < ZC_LIVE_METHODS; m++) {
        printf("zcopy:   %s %llu bytes %llu calls", method_name(f, m, name),
               (unsigned long long)p->sum.method_bytes[m], (unsigned long long)p->sum.method_calls[m]);
        double r = rate(p, (int)m);
        if (r >= 0)
            printf(" %.0f bytes/s", r);
        putchar('\n');
    }
    for (unsigned r = 1; r < f->skips && r < ZC_LIVE_SKIPS; r++)
        if (p->sum.skips[r])
            printf("zcopy:   skip %s %llu\n", skip_name(f, r, name), (unsigned long long)p->sum.skips[r]);
    int order[ZC_LIVE_SITES];
    int n = ready_sites(f, order);
    for (int k = 0; k < n && k < MAX_SHOWN_SITES; k++) {
        const struct zc_live_site *s = &f->sites[order[k]];
        char site[PATH_MAX + 32];
        const char *action = site_action(f, s);
        if (p->state == LIVE)
            site_name(p->pid, s->addr, site, sizeof site);
        else
            snprintf(site, sizeof site, "0x%llx", (unsigned long long)s->addr - 1);
        printf("zcopy:   site %s %s %s %llu bytes %llu calls\n", site, action,
               !strcmp(action, "skip") ? skip_name(f, s->reason, name) : method_name(f, s->method, name),
               (unsigned long long)s->bytes, (unsigned long long)s->calls);
    }
    if (n > MAX_SHOWN_SITES || f->sites_dropped)
        printf("zcopy:   (%d more call sites; %llu decisions at sites beyond the table's %d)\n",
               n > MAX_SHOWN_SITES ? n - MAX_SHOWN_SITES : 0, (unsigned long long)f->sites_dropped, ZC_LIVE_SITES);
    /* As the summary prints calibration's verdicts. */
    for (int i = 0; i < ZC_LIVE_VERDICTS; i++) {
        const struct zc_live_verdict *v = &f->verdicts[i];
        char site[PATH_MAX + 32];
        if (!verdict_at(f, i))
            continue;
        site_name(p->pid, v->addr, site, sizeof site);
        unsigned long long kib = v->bytes / 1024 ? v->bytes / 1024 : 1;
        unsigned long long fast_ns = v->fast_ns_per_kib * kib, plain_ns = v->plain_ns_per_kib * kib;
        printf("zcopy:   calibrated %s writes of %llu KiB or more: %s %llu.%llu us, plain %llu.%llu us per %llu KiB: "
               "%s\n",
               site, kib, method_name(f, v->method, name), fast_ns / 1000, fast_ns / 100 % 10, plain_ns / 1000,
               plain_ns / 100 % 10, kib, v->fast_chosen ? "rewritten" : "left plain");
    }
}

/* ---- --json: one object per process, one per line ---- */

static void json_string(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

static void print_json(const struct proc *p)
{
    const struct zc_live_file *f = &p->file;
    char exe[sizeof f->exe], mode[sizeof f->mode], version[sizeof f->lib_version], name[ZC_LIVE_NAME];
    name_from(f->exe, sizeof f->exe, exe);
    name_from(f->mode, sizeof f->mode, mode);
    name_from(f->lib_version, sizeof f->lib_version, version);
    printf("{\"pid\":%d,\"start_ticks\":%llu,\"state\":\"%s\",\"exe\":", p->pid, (unsigned long long)p->start,
           p->state == LIVE ? "live" : "gone");
    json_string(exe);
    printf(",\"version\":");
    json_string(version);
    printf(",\"mode\":");
    json_string(mode);
    printf(",\"min_bytes\":%llu", (unsigned long long)f->min_bytes);
    if (p->state == LIVE)
        printf(",\"uptime_s\":%.0f", uptime_of(p));
    printf(",\"methods\":{");
    for (unsigned m = 0; m < f->methods && m < ZC_LIVE_METHODS; m++) {
        printf("%s", m ? "," : "");
        json_string(method_name(f, m, name));
        printf(":{\"bytes\":%llu,\"calls\":%llu", (unsigned long long)p->sum.method_bytes[m],
               (unsigned long long)p->sum.method_calls[m]);
        double r = rate(p, (int)m);
        if (r >= 0)
            printf(",\"bytes_per_s\":%.0f", r);
        putchar('}');
    }
    printf("},\"skips\":{");
    bool first = true;
    for (unsigned r = 1; r < f->skips && r < ZC_LIVE_SKIPS; r++)
        if (p->sum.skips[r]) {
            printf("%s", first ? "" : ",");
            json_string(skip_name(f, r, name));
            printf(":%llu", (unsigned long long)p->sum.skips[r]);
            first = false;
        }
    printf("},\"sites\":[");
    int order[ZC_LIVE_SITES];
    int n = ready_sites(f, order);
    for (int k = 0; k < n; k++) {
        const struct zc_live_site *s = &f->sites[order[k]];
        char site[PATH_MAX + 32];
        if (p->state == LIVE)
            site_name(p->pid, s->addr, site, sizeof site);
        else
            snprintf(site, sizeof site, "0x%llx", (unsigned long long)s->addr - 1);
        printf("%s{\"site\":", k ? "," : "");
        json_string(site);
        printf(",\"action\":\"%s\",\"method\":", site_action(f, s));
        json_string(s->method == f->plain_method ? "none" : method_name(f, s->method, name));
        printf(",\"reason\":");
        json_string(skip_name(f, s->reason, name));
        printf(",\"bytes\":%llu,\"calls\":%llu}", (unsigned long long)s->bytes, (unsigned long long)s->calls);
    }
    printf("],\"sites_dropped\":%llu,\"calibration\":[", (unsigned long long)f->sites_dropped);
    first = true;
    for (int i = 0; i < ZC_LIVE_VERDICTS; i++) {
        const struct zc_live_verdict *v = &f->verdicts[i];
        char site[PATH_MAX + 32];
        if (!verdict_at(f, i))
            continue;
        site_name(p->pid, v->addr, site, sizeof site);
        printf("%s{\"site\":", first ? "" : ",");
        json_string(site);
        printf(",\"bytes\":%llu,\"method\":", (unsigned long long)v->bytes);
        json_string(method_name(f, v->method, name));
        printf(",\"fast_ns_per_kib\":%u,\"plain_ns_per_kib\":%u,\"chosen\":\"%s\"}", v->fast_ns_per_kib,
               v->plain_ns_per_kib, v->fast_chosen ? "fast" : "plain");
        first = false;
    }
    printf("]}\n");
}

/* ---- --prometheus: node_exporter's textfile format ---- */

static void label_value(const char *s)
{
    for (; *s; s++) {
        if (*s == '\\' || *s == '"')
            printf("\\%c", *s);
        else if (*s == '\n')
            printf("\\n");
        else
            putchar(*s);
    }
}

static void sample_labels(const struct proc *p)
{
    char exe[sizeof p->file.exe];
    name_from(p->file.exe, sizeof p->file.exe, exe);
    printf("{pid=\"%d\",exe=\"", p->pid);
    label_value(base_name(exe));
    printf("\"");
}

/* Every sample of a metric together, as the format requires.  Processes
 * that are gone are left out: their counts end with them. */
static void print_prometheus(void)
{
    static const struct {
        const char *name, *help;
    } metrics[] = {
        { "zcopy_bytes_total", "Bytes per method: sendfile, splice and copy_file_range moved in the kernel, "
                               "passed_through went with the program's own call, program_fast_calls are its own "
                               "fast calls." },
        { "zcopy_calls_total", "Calls per method." },
        { "zcopy_skips_total", "Writes zcopy left to the program's own call, per reason." },
    };
    char name[ZC_LIVE_NAME];
    for (size_t k = 0; k < sizeof metrics / sizeof metrics[0]; k++) {
        printf("# HELP %s %s\n# TYPE %s counter\n", metrics[k].name, metrics[k].help, metrics[k].name);
        for (size_t i = 0; i < nprocs; i++) {
            const struct proc *p = &procs[i];
            const struct zc_live_file *f = &p->file;
            if (!p->seen || p->state != LIVE)
                continue;
            if (k < 2) {
                for (unsigned m = 0; m < f->methods && m < ZC_LIVE_METHODS; m++) {
                    printf("%s", metrics[k].name);
                    sample_labels(p);
                    printf(",method=\"");
                    label_value(method_name(f, m, name));
                    printf("\"} %llu\n", (unsigned long long)(k == 0 ? p->sum.method_bytes[m] : p->sum.method_calls[m]));
                }
            } else {
                for (unsigned r = 1; r < f->skips && r < ZC_LIVE_SKIPS; r++) {
                    if (!p->sum.skips[r])
                        continue;
                    printf("%s", metrics[k].name);
                    sample_labels(p);
                    printf(",reason=\"");
                    label_value(skip_name(f, r, name));
                    printf("\"} %llu\n", (unsigned long long)p->sum.skips[r]);
                }
            }
        }
    }
}

/* ---- the command ---- */

static int by_pid(const void *a, const void *b)
{
    const struct proc *x = a, *y = b;
    return x->pid != y->pid ? (x->pid > y->pid) - (x->pid < y->pid) : (x->start > y->start) - (x->start < y->start);
}

/* Forgets the processes that were gone or not seen this time. */
static void drop_finished(void)
{
    size_t kept = 0;
    for (size_t i = 0; i < nprocs; i++)
        if (procs[i].seen && procs[i].state == LIVE)
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
            print_prometheus();
        } else {
            for (size_t i = 0; i < nprocs; i++)
                if (procs[i].seen)
                    format == JSON ? print_json(&procs[i]) : print_text(&procs[i]);
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
