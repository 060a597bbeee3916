/* Names shared by the zcopy command and libzcopy.so, and the one validator
 * of each setting's value: the command refuses a bad option with it, the
 * library reads the variable with it, so both accept the same values. */
#ifndef ZCOPY_COMMON_H
#define ZCOPY_COMMON_H

#define ZCOPY_VERSION "0.1.0"

#define ZCOPY_ENV_MODE      "ZCOPY_MODE"       /* safe | trust | off | diag */
#define ZCOPY_ENV_MIN_BYTES "ZCOPY_MIN_BYTES"  /* smallest write worth rewriting */
#define ZCOPY_ENV_STATS     "ZCOPY_STATS"      /* 1 | stderr | path (%p = pid) */
#define ZCOPY_ENV_STATS_LIVE "ZCOPY_STATS_LIVE" /* 1 (default) | 0: no file for zcopy stats */
#define ZCOPY_ENV_LOG       "ZCOPY_LOG"        /* stderr | path (%p = pid) */
#define ZCOPY_ENV_LOG_FORMAT "ZCOPY_LOG_FORMAT" /* text | json */
#define ZCOPY_ENV_LOG_LEVEL "ZCOPY_LOG_LEVEL"  /* summary | decisions | debug */
#define ZCOPY_ENV_BACKTRACE "ZCOPY_BACKTRACE"  /* frames per call site, 0-16 */
#define ZCOPY_ENV_FILE_TO_FILE "ZCOPY_FILE_TO_FILE" /* clone | always */
#define ZCOPY_ENV_CALIBRATE "ZCOPY_CALIBRATE"  /* on (default) | off: rewrite every eligible write */
#define ZCOPY_ENV_CALIBRATE_COSTS "ZCOPY_CALIBRATE_COSTS" /* FAST,PLAIN[,FAST_LATER] ns per KiB instead of measuring (tests) */
#define ZCOPY_ENV_NO_CHILDREN "ZCOPY_NO_CHILDREN" /* 1: programs it starts run without zcopy */
#define ZCOPY_LIB_NAME      "libzcopy.so"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- values of the settings ---- */

/* The words each setting takes, in the order of the library's enums
 * (zcopy.h: zc_mode, zc_log_level; false/true for the others). */
static const char *const zc_mode_words[] = { "off", "safe", "trust", "diag", NULL };
static const char *const zc_log_level_words[] = { "summary", "decisions", "debug", NULL };
static const char *const zc_log_format_words[] = { "text", "json", NULL };
static const char *const zc_file_to_file_words[] = { "clone", "always", NULL };
static const char *const zc_calibrate_words[] = { "off", "on", NULL };
static const char *const zc_stats_live_words[] = { "0", "1", NULL };
#define ZCOPY_BACKTRACE_MAX 16

/* s's index in words (NULL-terminated), or -1. */
static inline int zc_word_index(const char *s, const char *const *words)
{
    for (int i = 0; words[i]; i++)
        if (!strcmp(s, words[i]))
            return i;
    return -1;
}

/* A size: digits, then an optional k or m (KiB, MiB).  False for anything
 * else, and for a value a suffix would wrap round to a small one.  No
 * malloc, no stdio: the library calls it in its constructor. */
static inline bool zc_parse_size(const char *s, size_t *out)
{
    if (*s < '0' || *s > '9')
        return false;
    char *end;
    int saved_errno = errno;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    bool overflow = errno != 0;
    errno = saved_errno;
    int shift = 0;
    if (*end == 'k' || *end == 'K')
        shift = 10, end++;
    else if (*end == 'm' || *end == 'M')
        shift = 20, end++;
    if (overflow || *end || v > (SIZE_MAX >> shift))
        return false;
    *out = (size_t)(v << shift);
    return true;
}

/* ---- LD_PRELOAD ---- */

/* The loader splits LD_PRELOAD at spaces and colons, and
 * /etc/ld.so.preload at any white space too. */
#define ZCOPY_PRELOAD_SEPARATORS ": \t\n"

/* One entry of such a list (len bytes) is a libzcopy.so, at whatever path:
 * a second copy from another path would interpose twice. */
static inline bool zc_preload_entry_is_ours(const char *entry, size_t len)
{
    size_t name_len = strlen(ZCOPY_LIB_NAME);
    return len >= name_len && !strncmp(entry + len - name_len, ZCOPY_LIB_NAME, name_len) &&
           (len == name_len || entry[len - name_len - 1] == '/');
}

static inline bool zc_preload_names_zcopy(const char *list)
{
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ZCOPY_PRELOAD_SEPARATORS);
        if (zc_preload_entry_is_ours(p, n))
            return true;
        p += n;
        p += strspn(p, ZCOPY_PRELOAD_SEPARATORS);
    }
    return false;
}

#endif
