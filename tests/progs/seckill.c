/* seckill CALL[,CALL...] CMD [ARGS...]: runs CMD under a seccomp filter
 * that kills the process at any of the named calls, as systemd's
 * SystemCallFilter=~CALL does by default.  The filter is inherited by
 * everything CMD starts.  CALL: sendfile, splice, copy_file_range, fstatfs.
 * Exits 125 on its own errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "killfilter.h"

static const struct { const char *name; int nr; } calls[] = {
	{ "sendfile", SYS_sendfile },
	{ "splice", SYS_splice },
	{ "copy_file_range", SYS_copy_file_range },
	{ "fstatfs", SYS_fstatfs },
};
#define NCALLS (int)(sizeof calls / sizeof calls[0])

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: seckill CALL[,CALL...] CMD [ARGS...]\n");
		return 125;
	}
	int nrs[NCALLS], count = 0;
	for (char *save, *name = strtok_r(argv[1], ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		int i = 0;
		while (i < NCALLS && strcmp(calls[i].name, name))
			i++;
		if (i == NCALLS || count == NCALLS) {
			fprintf(stderr, "seckill: unknown or repeated call %s\n", name);
			return 125;
		}
		nrs[count++] = calls[i].nr;
	}
	if (install_kill_filter(nrs, count) < 0) {
		fprintf(stderr, "seckill: seccomp: %s\n", strerror(errno));
		return 125;
	}
	execvp(argv[2], argv + 2);
	fprintf(stderr, "seckill: %s: %s\n", argv[2], strerror(errno));
	return 125;
}
