/* Reads ZCOPY_* from the environment once, in the constructor.
 * A bad value gets one "zcopy:" line on stderr and turns zcopy off: the
 * program must still run, unaccelerated. */
#include "zcopy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

/* Below 64 KiB a rewrite does not pay in both modes: its checks cost about
 * as much as the copy it saves, and safe mode's proof more (BENCHMARKS.md,
 * "Writes smaller than ZCOPY_MIN_BYTES"). */
#define ZC_DEFAULT_MIN_BYTES 8192

struct zc_settings zc_cfg = { .mode = ZC_MODE_OFF, .min_bytes = ZC_DEFAULT_MIN_BYTES };
int zc_settings_loaded;

const char *zc_mode_name(enum zc_mode mode)
{
    return mode <= ZC_MODE_DIAG ? zc_mode_words[mode] : "off";
}

/* A setting's value as one printable line: whatever the user's bytes,
 * zcopy's message stays one line that starts with "zcopy:". */
const char *zc_printable(const char *s, char *out, size_t size)
{
    size_t o = 0;
    for (; s && *s && o + 4 < size; s++)
        out[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (s && *s)
        out[o++] = '.', out[o++] = '.', out[o++] = '.';
    out[o] = 0;
    return out;
}

/* The values themselves are checked by common.h's validators, which the
 * command shares; unset or empty means the default. */

/* A word of words (common.h) as its index, or the default. */
static bool parse_word(const char *s, const char *const *words, int fallback, int *out)
{
    int i = s && *s ? zc_word_index(s, words) : fallback;
    if (i < 0)
        return false;
    *out = i;
    return true;
}

static bool parse_mode(const char *s, enum zc_mode *mode)
{
    int i;
    if (!parse_word(s, zc_mode_words, ZC_MODE_SAFE, &i))
        return false;
    *mode = (enum zc_mode)i;
    return true;
}

static bool parse_stats_live(const char *s, bool *on)
{
    int i;
    if (!parse_word(s, zc_stats_live_words, 1, &i))
        return false;
    *on = i == 1;
    return true;
}

static bool parse_calibrate(const char *s, bool *on)
{
    int i;
    if (!parse_word(s, zc_calibrate_words, 1, &i))
        return false;
    *on = i == 1;
    return true;
}

/* "FAST,PLAIN[,FAST_LATER]": what each path costs per KiB, fixed
 * (calibrate.c), so that tests get the same verdicts on every machine;
 * FAST_LATER, what the fast call costs once it has been chosen (the fast
 * call's watch).  Each a positive number. */
static bool parse_costs(const char *s, uint32_t *fast, uint32_t *plain, uint32_t *fast_later)
{
    if (!s || !*s)
        return true;
    unsigned long v[3];
    int n = 0;
    const char *p = s;
    for (;;) {
        char *end;
        v[n] = strtoul(p, &end, 10);
        if (end == p || !v[n] || v[n] > UINT32_MAX)
            return false;
        n++;
        if (!*end)
            break;
        if (*end != ',' || n == 3)
            return false;
        p = end + 1;
    }
    if (n < 2)
        return false;
    *fast = (uint32_t)v[0];
    *plain = (uint32_t)v[1];
    *fast_later = n == 3 ? (uint32_t)v[2] : (uint32_t)v[0];
    return true;
}

static bool parse_file_to_file(const char *s, bool *always)
{
    int i;
    if (!parse_word(s, zc_file_to_file_words, 0, &i))
        return false;
    *always = i == 1;
    return true;
}

static bool parse_size(const char *s, size_t *out)
{
    return !s || !*s || zc_parse_size(s, out);
}

static bool parse_level(const char *s, enum zc_log_level *level)
{
    int i;
    if (!parse_word(s, zc_log_level_words, ZC_LOG_DECISIONS, &i))
        return false;
    *level = (enum zc_log_level)i;
    return true;
}

static bool parse_format(const char *s, bool *json)
{
    int i;
    if (!parse_word(s, zc_log_format_words, 0, &i))
        return false;
    *json = i == 1;
    return true;
}

/* "1"/"stderr" mean stderr ("-"); a path may hold %p. */
static bool parse_dest(const char *s, char *out, size_t size)
{
    if (!s || !*s || !strcmp(s, "0"))
        return true;
    const char *dest = (!strcmp(s, "1") || !strcmp(s, "stderr")) ? "-" : s;
    if (strlen(dest) >= size)
        return false;
    strcpy(out, dest);
    return true;
}

/* ZCOPY_NO_CHILDREN: this process only.  Programs it starts inherit the
 * environment, so take the library out of their LD_PRELOAD now (the loader
 * has already read it for this process). */
static void keep_preload_from_children(void)
{
    const char *preload = getenv("LD_PRELOAD");
    if (!preload)
        return;
    char kept[4096];
    size_t o = 0;
    const char *p = preload;
    while (*p) {
        size_t len = strcspn(p, ZCOPY_PRELOAD_SEPARATORS);
        if (!zc_preload_entry_is_ours(p, len) && len && o + len + 2 < sizeof kept) {
            if (o)
                kept[o++] = ':';
            memcpy(kept + o, p, len);
            o += len;
        }
        p += len;
        p += strspn(p, ZCOPY_PRELOAD_SEPARATORS);
    }
    kept[o] = 0;
    if (o)
        setenv("LD_PRELOAD", kept, 1);
    else
        unsetenv("LD_PRELOAD");
}

void zc_settings_load(void)
{
    int saved_errno = errno;
    struct zc_settings cfg = { .mode = ZC_MODE_SAFE, .min_bytes = ZC_DEFAULT_MIN_BYTES, .stats_live = true };
    /* secure_getenv: a setuid program never takes a log path from its caller. */
    const char *mode = secure_getenv(ZCOPY_ENV_MODE);
    const char *min = secure_getenv(ZCOPY_ENV_MIN_BYTES);
    const char *stats = secure_getenv(ZCOPY_ENV_STATS);
    const char *log = secure_getenv(ZCOPY_ENV_LOG);
    const char *format = secure_getenv(ZCOPY_ENV_LOG_FORMAT);
    const char *level = secure_getenv(ZCOPY_ENV_LOG_LEVEL);
    const char *depth = secure_getenv(ZCOPY_ENV_BACKTRACE);
    const char *file_to_file = secure_getenv(ZCOPY_ENV_FILE_TO_FILE);
    const char *stats_live = secure_getenv(ZCOPY_ENV_STATS_LIVE);
    const char *calibrate = secure_getenv(ZCOPY_ENV_CALIBRATE);
    const char *costs = secure_getenv(ZCOPY_ENV_CALIBRATE_COSTS);
    size_t depth_value = 0;

    const char *bad = NULL, *value = NULL;
#define CHECK(ok, name, text) \
    if (!bad && !(ok)) { bad = name; value = text; }
    CHECK(parse_mode(mode, &cfg.mode), ZCOPY_ENV_MODE, mode);
    CHECK(parse_size(min, &cfg.min_bytes), ZCOPY_ENV_MIN_BYTES, min);
    CHECK(parse_dest(stats, cfg.stats_dest, sizeof cfg.stats_dest), ZCOPY_ENV_STATS, stats);
    CHECK(parse_dest(log, cfg.log_dest, sizeof cfg.log_dest), ZCOPY_ENV_LOG, log);
    CHECK(parse_format(format, &cfg.log_json), ZCOPY_ENV_LOG_FORMAT, format);
    CHECK(parse_level(level, &cfg.log_level), ZCOPY_ENV_LOG_LEVEL, level);
    CHECK(parse_size(depth, &depth_value) && depth_value <= ZCOPY_BACKTRACE_MAX, ZCOPY_ENV_BACKTRACE, depth);
    CHECK(parse_file_to_file(file_to_file, &cfg.file_to_file_always), ZCOPY_ENV_FILE_TO_FILE, file_to_file);
    CHECK(parse_stats_live(stats_live, &cfg.stats_live), ZCOPY_ENV_STATS_LIVE, stats_live);
    CHECK(parse_calibrate(calibrate, &cfg.calibrate), ZCOPY_ENV_CALIBRATE, calibrate);
    CHECK(parse_costs(costs, &cfg.calibrate_fast_ns, &cfg.calibrate_plain_ns, &cfg.calibrate_fast_later_ns),
          ZCOPY_ENV_CALIBRATE_COSTS, costs);
#undef CHECK
    /* Backtraces cost a stack walk per new call site: on by default only
     * where the user asked to see call sites. */
    cfg.backtrace_depth = depth && *depth ? (int)depth_value : cfg.mode == ZC_MODE_DIAG ? 8 : 0;
    if (cfg.mode == ZC_MODE_DIAG && !cfg.stats_dest[0])
        strcpy(cfg.stats_dest, "-");  /* diag exists to print its report */
    if (bad) {
        char shown[80];
        dprintf(2, "zcopy: bad %s=%s (see README.md); running unaccelerated\n", bad,
                zc_printable(value, shown, sizeof shown));
        cfg.mode = ZC_MODE_OFF;
        cfg.log_dest[0] = 0;
    }
    const char *no_children = secure_getenv(ZCOPY_ENV_NO_CHILDREN);
    if (no_children && *no_children && strcmp(no_children, "0"))
        keep_preload_from_children();
    /* Stderr as the program has it now: the summary (or the line saying
     * why it could not be written) and a log on stderr must reach it at
     * exit even if the program closes fd 2 first (output.c). */
    if (cfg.stats_dest[0] || !strcmp(cfg.log_dest, "-"))
        zc_output_keep_stderr();
    zc_cfg = cfg;
    /* Release: a thread that sees it loaded sees all of zc_cfg. */
    __atomic_store_n(&zc_settings_loaded, 1, __ATOMIC_RELEASE);
    errno = saved_errno;
}
