/* The live stats file: what one process under zcopy has done so far, in a
 * small shared-memory file that `zcopy stats` reads while it runs.  Written
 * by libzcopy.so (live.c), read by the zcopy command (stats_cmd.c), so the
 * layout lives here, once.
 *
 * The file is named ZC_LIVE_PREFIX<pid>.<start> (start: field 22 of
 * /proc/<pid>/stat), so that a pid the kernel reuses names another file, and
 * a reader can tell a live process's file from a dead one's.  It sits in the
 * first of /run/zcopy, $XDG_RUNTIME_DIR and /dev/shm where the process could
 * create it.  The file describes itself (the names of methods and skip
 * reasons are in it), so a zcopy command of another version still reads it.
 * Counters only grow; a reader sums the stripes. */
#ifndef ZCOPY_LIVE_FILE_H
#define ZCOPY_LIVE_FILE_H

#include <stdint.h>

#define ZC_LIVE_DIR "/run/zcopy"
#define ZC_LIVE_PREFIX "zcopy-stats."
#define ZC_LIVE_MAGIC 0x31564c59504f435aull  /* "ZCOPYLV1"; written last: until then, being made */
#define ZC_LIVE_VERSION 1

#define ZC_LIVE_METHODS 8
#define ZC_LIVE_SKIPS 48
#define ZC_LIVE_NAME 32
/* Threads count into stripes of their own, so that a busy server's threads
 * do not fight over one cache line: stripe 0 is shared (atomic adds), the
 * others each belong to one thread (plain stores). */
#define ZC_LIVE_STRIPES 8
#define ZC_LIVE_SITES 64
#define ZC_LIVE_VERDICTS 32

struct zc_live_counts {
    uint64_t method_bytes[ZC_LIVE_METHODS];
    uint64_t method_calls[ZC_LIVE_METHODS];
    uint64_t skips[ZC_LIVE_SKIPS];  /* by reason; [0] unused */
} __attribute__((aligned(64)));

/* One call site (the return address in the caller of the hook) and one
 * decision made there: the first ZC_LIVE_SITES of them, in the order met. */
struct zc_live_site {
    uint64_t key;   /* 0: free; claimed with a compare-and-swap */
    uint64_t addr;
    uint8_t method, reason;  /* reason 0 with a fast method: rewritten */
    uint8_t diag;            /* diag mode: would have been rewritten */
    uint8_t ready;           /* the fields above are filled */
    uint32_t unused;
    uint64_t calls, bytes;
};

/* What calibration found at a call site for writes of a size class. */
struct zc_live_verdict {
    uint64_t key;        /* 0: free */
    uint32_t seq;        /* odd while its writer changes the fields below */
    uint8_t method;      /* the fast call it measured */
    uint8_t fast_chosen; /* 1: rewritten; 0: left plain */
    uint8_t unused[2];
    uint64_t addr;
    uint64_t bytes;      /* the size class: writes of bytes or more */
    uint32_t fast_ns_per_kib, plain_ns_per_kib;  /* what each path cost */
};

struct zc_live_file {
    uint64_t magic;
    uint32_t version;
    uint32_t size;          /* sizeof (struct zc_live_file) */
    int32_t pid;
    uint32_t unused;
    uint64_t start_ticks;   /* with pid, names one process */
    uint64_t pid_ns;        /* inode of its pid namespace: pids mean something only there */
    uint64_t min_bytes;
    char mode[16];
    char lib_version[16];
    char exe[256];
    uint32_t methods, skips;  /* entries in use below */
    uint32_t plain_method;    /* the method that is the program's own plain call */
    uint32_t unused2;
    char method_names[ZC_LIVE_METHODS][ZC_LIVE_NAME];
    char skip_names[ZC_LIVE_SKIPS][ZC_LIVE_NAME];
    uint64_t sites_dropped;   /* decisions that found the site table full */
    struct zc_live_counts stripes[ZC_LIVE_STRIPES];
    struct zc_live_site sites[ZC_LIVE_SITES];
    struct zc_live_verdict verdicts[ZC_LIVE_VERDICTS];
};

#endif
