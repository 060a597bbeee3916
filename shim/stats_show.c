/* zcopy stats: printing what stats_cmd.c read from the live stats files,
 * as the exit summary's lines, as JSON (one object per process and line),
 * or in node_exporter's textfile format.  Call sites are named as
 * module+offset from the process's /proc/PID/maps.  Part of the zcopy
 * command. */
#define _GNU_SOURCE
#include "stats_cmd.h"

#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define MAX_SHOWN_SITES 10  /* in the table; --json lists every one */

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

static double uptime_of(const struct stats_proc *p)
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
static double rate(const struct stats_proc *p, int m)
{
    double dt = p->when - p->prev_when;
    if (!p->prev_when || dt <= 0)
        return -1;
    return (double)(p->sum.method_bytes[m] - p->prev.method_bytes[m]) / dt;
}

/* ---- text: the exit summary's lines ---- */

void stats_print_text(const struct stats_proc *p)
{
    const struct zc_live_file *f = &p->file;
    char exe[sizeof f->exe], mode[sizeof f->mode], version[sizeof f->lib_version], name[ZC_LIVE_NAME];
    name_from(f->exe, sizeof f->exe, exe);
    name_from(f->mode, sizeof f->mode, mode);
    name_from(f->lib_version, sizeof f->lib_version, version);
    printf("zcopy: stats pid=%d exe=%s version=%s mode=%s min_bytes=%llu state=%s", p->pid, base_name(exe),
           version, mode, (unsigned long long)f->min_bytes, p->state == STATS_LIVE ? "live" : "gone");
    if (p->state == STATS_LIVE)
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
        if (p->state == STATS_LIVE)
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

void stats_print_json(const struct stats_proc *p)
{
    const struct zc_live_file *f = &p->file;
    char exe[sizeof f->exe], mode[sizeof f->mode], version[sizeof f->lib_version], name[ZC_LIVE_NAME];
    name_from(f->exe, sizeof f->exe, exe);
    name_from(f->mode, sizeof f->mode, mode);
    name_from(f->lib_version, sizeof f->lib_version, version);
    printf("{\"pid\":%d,\"start_ticks\":%llu,\"state\":\"%s\",\"exe\":", p->pid, (unsigned long long)p->start,
           p->state == STATS_LIVE ? "live" : "gone");
    json_string(exe);
    printf(",\"version\":");
    json_string(version);
    printf(",\"mode\":");
    json_string(mode);
    printf(",\"min_bytes\":%llu", (unsigned long long)f->min_bytes);
    if (p->state == STATS_LIVE)
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
        if (p->state == STATS_LIVE)
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

static void sample_labels(const struct stats_proc *p)
{
    char exe[sizeof p->file.exe];
    name_from(p->file.exe, sizeof p->file.exe, exe);
    printf("{pid=\"%d\",exe=\"", p->pid);
    label_value(base_name(exe));
    printf("\"");
}

/* Every sample of a metric together, as the format requires.  Processes
 * that are gone are left out: their counts end with them. */
void stats_print_prometheus(const struct stats_proc *procs, size_t nprocs)
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
            const struct stats_proc *p = &procs[i];
            const struct zc_live_file *f = &p->file;
            if (!p->seen || p->state != STATS_LIVE)
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
