/* zcopy stats, between stats_cmd.c (which finds and reads the live stats
 * files) and stats_show.c (which prints them).  Part of the zcopy command,
 * not of libzcopy.so. */
#ifndef ZCOPY_STATS_CMD_H
#define ZCOPY_STATS_CMD_H

#include "live_file.h"

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum stats_state { STATS_LIVE, STATS_GONE };

/* One process's file, copied out of the mapping word by word. */
struct stats_proc {
    char path[PATH_MAX];
    int pid;
    uint64_t start;
    enum stats_state state;
    struct zc_live_file file;
    struct zc_live_counts sum;
    double when;                 /* CLOCK_MONOTONIC seconds of the copy */
    struct zc_live_counts prev;  /* --watch: the previous copy */
    double prev_when;            /* 0: none */
    bool seen;                   /* read this time round */
};

void stats_print_text(const struct stats_proc *p);
void stats_print_json(const struct stats_proc *p);
/* Every live process seen, each metric's samples together. */
void stats_print_prometheus(const struct stats_proc *procs, size_t nprocs);

#endif
