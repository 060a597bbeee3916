/* The exit summary (ZCOPY_STATS), from the counters that live.c keeps. */
#include "zcopy.h"
#include "logline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* A forked child reports its own work, not its parent's, to its own stderr. */
void zc_stats_reset(void)
{
    zc_output_forked();
    zc_live_forked();
}

/* Whether zcopy met anything in this process worth a summary: a fast call
 * (its own or the program's), a write it had to decide about, or at least
 * ZCOPY_MIN_BYTES passed through in all.  With ZCOPY_STATS=1 in the
 * environment, a shell script's every child would print six lines about
 * nothing. */
static bool worth_reporting(const struct zc_live_counts *t)
{
    if (zc_cfg.mode == ZC_MODE_DIAG)
        return true;  /* diag exists to print its report */
    for (int m = 0; m < ZC_METHODS; m++)
        if (m != ZC_PLAIN && t->method_calls[m])
            return true;
    for (int r = 1; r < ZC_SKIP_COUNT; r++)
        if (r != ZC_SKIP_BELOW_MIN_BYTES && t->skips[r])
            return true;
    return t->method_bytes[ZC_PLAIN] >= zc_cfg.min_bytes;
}

/* One site's calibration: what each path cost per write, and the one
 * kept.  "µs" as README writes it. */
static void report_verdict(int fd, const struct zc_verdict *v)
{
    struct line l = { .json = false };
    struct zc_callsite cs = { .site = v->site };
    uint64_t kib = v->bytes / 1024 ? v->bytes / 1024 : 1;
    uint64_t fast_ns = v->fast_ns_per_kib * kib, plain_ns = v->plain_ns_per_kib * kib;
    line_put(&l, "zcopy:   calibrated ");
    zc_callsite_put(&l, &cs);
    dprintf(fd, "%.*s writes of %llu KiB or more: %s %llu.%llu us, plain %llu.%llu us per %llu KiB: %s\n",
            (int)l.len, l.buf, (unsigned long long)kib, zc_method_label(v->method),
            (unsigned long long)(fast_ns / 1000), (unsigned long long)(fast_ns / 100 % 10),
            (unsigned long long)(plain_ns / 1000), (unsigned long long)(plain_ns / 100 % 10), (unsigned long long)kib,
            v->fast_chosen ? "rewritten" : "left plain");
}

void zc_stats_report(const struct zc_verdict *verdicts, int nverdicts)
{
    if (!zc_settings_ready() || !zc_cfg.stats_dest[0])
        return;
    struct zc_live_counts t;
    zc_live_sum(&t);
    /* A file keeps every process's summary: it is a record, not noise. */
    if (!strcmp(zc_cfg.stats_dest, "-") && !worth_reporting(&t))
        return;
    int saved_errno = errno;
    /* A file: created 0600, never through a symlink.  Stderr: the one the
     * program had at start, though it may have closed fd 2 by now (GNU
     * coreutils do, in an atexit handler that runs before us). */
    struct zc_output out;
    int fd = zc_output_open(zc_cfg.stats_dest, &out);
    if (fd < 0) {
        char shown[80];
        if (strcmp(zc_cfg.stats_dest, "-"))  /* else there is no stderr left to say it on */
            dprintf(zc_output_stderr(), "zcopy: cannot write the summary to %s: %s\n",
                    zc_printable(zc_cfg.stats_dest, shown, sizeof shown), strerror(errno));
        errno = saved_errno;
        return;
    }
    char exe[256] = "?";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) exe[n] = 0;
    const char *base = strrchr(exe, '/');
    char shown[80];
    dprintf(fd, "zcopy: summary pid=%d exe=%s version=%s mode=%s min_bytes=%zu calibrate=%s\n", (int)getpid(),
            zc_printable(base ? base + 1 : exe, shown, sizeof shown), ZCOPY_VERSION, zc_mode_name(zc_cfg.mode),
            zc_cfg.min_bytes, zc_cfg.calibrate ? "on" : "off");
    for (int m = 0; m < ZC_METHODS; m++)
        dprintf(fd, "zcopy:   %s %llu bytes %llu calls\n", zc_method_label(m),
                (unsigned long long)t.method_bytes[m], (unsigned long long)t.method_calls[m]);
    for (int r = 1; r < ZC_SKIP_COUNT; r++)
        if (t.skips[r])
            dprintf(fd, "zcopy:   skip %s %llu\n", zc_skip_name(r), (unsigned long long)t.skips[r]);
    for (int i = 0; i < nverdicts; i++)
        report_verdict(fd, &verdicts[i]);
    if (zc_cfg.mode == ZC_MODE_DIAG)
        zc_log_diag_report(fd);
    if (strcmp(zc_cfg.stats_dest, "-"))
        real_close(fd);
    errno = saved_errno;
}
