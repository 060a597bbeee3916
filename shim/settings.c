/* Reads ZCOPY_* from the environment once, in the constructor.
 * A bad value gets one "zcopy:" line on stderr and turns zcopy off: the
 * program must still run, unaccelerated. */
#include "zcopy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

/* Below 64 KiB a rewrite does not pay in both modes: on these 2-core VMs
 * 16 KiB chunks ran no faster in trust mode and 25% slower in safe mode
 * (file -> pipe), and cost the TCP sender 10% (trust) to 30% (safe) more
 * CPU; 32 KiB paid in trust mode only (README, "Writes smaller than"). */
#define ZC_DEFAULT_MIN_BYTES 65536

struct zc_settings zc_cfg = { .mode = ZC_MODE_OFF, .min_bytes = ZC_DEFAULT_MIN_BYTES };
int zc_settings_loaded;

const char *zc_mode_name(enum zc_mode mode)
{
    switch (mode) {
    case ZC_MODE_SAFE: return "safe";
    case ZC_MODE_TRUST: return "trust";
    case ZC_MODE_DIAG: return "diag";
    default: return "off";
    }
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

static bool parse_mode(const char *s, enum zc_mode *mode)
{
    if (!s || !*s || !strcmp(s, "safe")) *mode = ZC_MODE_SAFE;
    else if (!strcmp(s, "trust")) *mode = ZC_MODE_TRUST;
    else if (!strcmp(s, "off")) *mode = ZC_MODE_OFF;
    else if (!strcmp(s, "diag")) *mode = ZC_MODE_DIAG;
    else return false;
    return true;
}

static bool parse_file_to_file(const char *s, bool *always)
{
    if (!s || !*s || !strcmp(s, "clone")) *always = false;
    else if (!strcmp(s, "always")) *always = true;
    else return false;
    return true;
}

static bool parse_size(const char *s, size_t *out)
{
    if (!s || !*s) return true;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || end == s || *s == '-') return false;
    int shift = 0;
    if (*end == 'k' || *end == 'K') { shift = 10; end++; }
    else if (*end == 'm' || *end == 'M') { shift = 20; end++; }
    if (v > (SIZE_MAX >> shift)) return false;  /* a suffix must not wrap to a small value */
    v <<= shift;
    if (*end) return false;
    *out = (size_t)v;
    return true;
}

static bool parse_level(const char *s, enum zc_log_level *level)
{
    if (!s || !*s || !strcmp(s, "decisions")) *level = ZC_LOG_DECISIONS;
    else if (!strcmp(s, "summary")) *level = ZC_LOG_SUMMARY;
    else if (!strcmp(s, "debug")) *level = ZC_LOG_DEBUG;
    else return false;
    return true;
}

static bool parse_format(const char *s, bool *json)
{
    if (!s || !*s || !strcmp(s, "text")) *json = false;
    else if (!strcmp(s, "json")) *json = true;
    else return false;
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
        size_t len = strcspn(p, ": ");
        size_t name_len = strlen(ZCOPY_LIB_NAME);
        bool ours = len >= name_len && !strncmp(p + len - name_len, ZCOPY_LIB_NAME, name_len) &&
                    (len == name_len || p[len - name_len - 1] == '/');
        if (!ours && len && o + len + 2 < sizeof kept) {
            if (o)
                kept[o++] = ':';
            memcpy(kept + o, p, len);
            o += len;
        }
        p += len;
        while (*p == ':' || *p == ' ')
            p++;
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
    struct zc_settings cfg = { .mode = ZC_MODE_SAFE, .min_bytes = ZC_DEFAULT_MIN_BYTES };
    /* secure_getenv: a setuid program never takes a log path from its caller. */
    const char *mode = secure_getenv(ZCOPY_ENV_MODE);
    const char *min = secure_getenv(ZCOPY_ENV_MIN_BYTES);
    const char *stats = secure_getenv(ZCOPY_ENV_STATS);
    const char *log = secure_getenv(ZCOPY_ENV_LOG);
    const char *format = secure_getenv(ZCOPY_ENV_LOG_FORMAT);
    const char *level = secure_getenv(ZCOPY_ENV_LOG_LEVEL);
    const char *depth = secure_getenv(ZCOPY_ENV_BACKTRACE);
    const char *file_to_file = secure_getenv(ZCOPY_ENV_FILE_TO_FILE);
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
    CHECK(parse_size(depth, &depth_value) && depth_value <= 16, ZCOPY_ENV_BACKTRACE, depth);
    CHECK(parse_file_to_file(file_to_file, &cfg.file_to_file_always), ZCOPY_ENV_FILE_TO_FILE, file_to_file);
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
    /* Stderr as the program has it now: the summary, or the line saying
     * why it could not be written, must reach it at exit even if the
     * program closes fd 2 first (output.c). */
    if (cfg.stats_dest[0])
        zc_output_keep_stderr();
    zc_cfg = cfg;
    /* Release: a thread that sees it loaded sees all of zc_cfg. */
    __atomic_store_n(&zc_settings_loaded, 1, __ATOMIC_RELEASE);
    errno = saved_errno;
}
