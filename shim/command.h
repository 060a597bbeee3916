/* The zcopy command (zcopy.c), shared with its doctor subcommand (doctor.c).
 * Not part of libzcopy.so. */
#ifndef ZCOPY_COMMAND_H
#define ZCOPY_COMMAND_H

#include "common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#ifndef ZCOPY_LIBDIR
#define ZCOPY_LIBDIR "/usr/local/lib/zcopy"
#endif

void usage(FILE *out);
int usage_error(const char *fmt, const char *arg);
void find_beside(const char *name, char *buf, size_t size);
bool one_of(const char *s, const char *const *words);
int cmd_doctor(int argc, char **argv);
int cmd_stats(int argc, char **argv);

#endif
