/* zcopy [options] [--] cmd [args...]: run cmd with libzcopy.so preloaded.
 * Options only become ZCOPY_* environment variables; the library does the
 * rest.  To add an option: one line in `options` and a case in main(). */
#include "common.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef ZCOPY_LIBDIR
#define ZCOPY_LIBDIR "/usr/local/lib/zcopy"
#endif

static const struct option options[] = {
    { "mode", required_argument, NULL, 'm' },
    { "min-bytes", required_argument, NULL, 'b' },
    { "stats", optional_argument, NULL, 's' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { 0 },
};

static void usage(FILE *out)
{
    fprintf(out,
            "usage: zcopy [options] [--] command [args...]\n"
            "Runs command with libzcopy.so preloaded: its read/write copy loops become\n"
            "sendfile, splice or copy_file_range where that changes nothing it can see.\n"
            "\n"
            "  -m, --mode=MODE        safe (default: prove bytes unchanged), trust, off\n"
            "  -b, --min-bytes=N      leave writes smaller than N bytes alone (default 16384)\n"
            "  -s, --stats[=DEST]     print a summary at exit to stderr, or to file DEST\n"
            "                         (%%p in DEST becomes the pid)\n"
            "  -h, --help             this text\n"
            "      --version          print the version\n");
}

/* The library beside this binary (build tree), else the installed one. */
static const char *library_path(char *buf, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        snprintf(buf, size, "%s/%s", dirname(exe), ZCOPY_LIB_NAME);
        if (access(buf, R_OK) == 0)
            return buf;
    }
    snprintf(buf, size, "%s/%s", ZCOPY_LIBDIR, ZCOPY_LIB_NAME);
    return buf;
}

/* Prepends lib to LD_PRELOAD unless it is already there. */
static int add_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    if (!old || !*old)
        return setenv("LD_PRELOAD", lib, 1);
    size_t len = strlen(lib);
    for (const char *p = old; (p = strstr(p, lib)); p += len)
        if ((p == old || p[-1] == ':' || p[-1] == ' ') && (p[len] == 0 || p[len] == ':' || p[len] == ' '))
            return 0;
    char *joined = malloc(len + strlen(old) + 2);
    if (!joined)
        return -1;
    sprintf(joined, "%s:%s", lib, old);
    return setenv("LD_PRELOAD", joined, 1);
}

int main(int argc, char **argv)
{
    int c;
    /* '+': stop at the first non-option, so the command keeps its own options. */
    while ((c = getopt_long(argc, argv, "+m:b:s::h", options, NULL)) != -1) {
        switch (c) {
        case 'm': setenv(ZCOPY_ENV_MODE, optarg, 1); break;
        case 'b': setenv(ZCOPY_ENV_MIN_BYTES, optarg, 1); break;
        case 's': setenv(ZCOPY_ENV_STATS, optarg ? optarg : "1", 1); break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("zcopy %s\n", ZCOPY_VERSION); return 0;
        default: usage(stderr); return 2;
        }
    }
    if (optind >= argc) {
        fprintf(stderr, "zcopy: no command given\n");
        usage(stderr);
        return 2;
    }
    char lib[PATH_MAX + 32];
    library_path(lib, sizeof lib);
    if (access(lib, R_OK) != 0)
        fprintf(stderr, "zcopy: %s not found; running %s unaccelerated\n", lib, argv[optind]);
    else if (add_preload(lib) != 0)
        fprintf(stderr, "zcopy: cannot set LD_PRELOAD: %s\n", strerror(errno));
    execvp(argv[optind], &argv[optind]);
    fprintf(stderr, "zcopy: %s: %s\n", argv[optind], strerror(errno));
    return errno == ENOENT ? 127 : 126;
}
