/* Reads ZCOPY_* from the environment once, in the constructor.
 * A bad value gets one "zcopy:" line on stderr and turns zcopy off: the
 * program must still run, unaccelerated. */
#include "zcopy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Below 16 KiB a rewrite costs more than the copy it saves: measured
 * break-even is near 12 KiB on 2-core VMs (BENCHMARKS.md). */
#define ZC_DEFAULT_MIN_BYTES 16384

struct zc_settings zc_cfg = { .mode = ZC_MODE_OFF, .min_bytes = ZC_DEFAULT_MIN_BYTES };
volatile int zc_settings_loaded;

const char *zc_mode_name(enum zc_mode mode)
{
    switch (mode) {
    case ZC_MODE_SAFE: return "safe";
    case ZC_MODE_TRUST: return "trust";
    default: return "off";
    }
}

static bool parse_mode(const char *s, enum zc_mode *mode)
{
    if (!s || !*s || !strcmp(s, "safe")) *mode = ZC_MODE_SAFE;
    else if (!strcmp(s, "trust")) *mode = ZC_MODE_TRUST;
    else if (!strcmp(s, "off")) *mode = ZC_MODE_OFF;
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
    if (*end == 'k' || *end == 'K') { v <<= 10; end++; }
    else if (*end == 'm' || *end == 'M') { v <<= 20; end++; }
    if (*end) return false;
    *out = (size_t)v;
    return true;
}

void zc_settings_load(void)
{
    int saved_errno = errno;
    struct zc_settings cfg = { .mode = ZC_MODE_SAFE, .min_bytes = ZC_DEFAULT_MIN_BYTES };
    const char *mode = getenv(ZCOPY_ENV_MODE);
    const char *min = getenv(ZCOPY_ENV_MIN_BYTES);
    const char *stats = getenv(ZCOPY_ENV_STATS);

    const char *bad = NULL, *value = NULL;
    if (!parse_mode(mode, &cfg.mode)) { bad = ZCOPY_ENV_MODE; value = mode; }
    else if (!parse_size(min, &cfg.min_bytes)) { bad = ZCOPY_ENV_MIN_BYTES; value = min; }

    if (stats && *stats && strcmp(stats, "0")) {
        const char *dest = (!strcmp(stats, "1") || !strcmp(stats, "stderr")) ? "-" : stats;
        if (strlen(dest) >= sizeof cfg.stats_dest) { bad = ZCOPY_ENV_STATS; value = "(too long)"; }
        else strcpy(cfg.stats_dest, dest);
    }
    if (bad) {
        dprintf(2, "zcopy: bad %s=%s (see README.md); running unaccelerated\n", bad, value);
        cfg.mode = ZC_MODE_OFF;
    }
    zc_cfg = cfg;
    zc_settings_loaded = 1;
    errno = saved_errno;
}
