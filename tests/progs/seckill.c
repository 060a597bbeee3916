/* seckill CALL[,CALL...] CMD [ARGS...]: runs CMD under a seccomp filter
 * that kills the process at any of the named calls, as systemd's
 * SystemCallFilter=~CALL does by default.  The filter is inherited by
 * everything CMD starts.  CALL: sendfile, splice, copy_file_range, fstatfs.
 * Exits 125 on its own errors. */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp_arch.h"

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
	/* arch check, load nr, then per call: equal -> kill */
	struct sock_filter prog[4 + 2 * NCALLS + 1];
	int n = 0;
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (char *save, *name = strtok_r(argv[1], ",", &save); name; name = strtok_r(NULL, ",", &save)) {
		int i = 0;
		while (i < NCALLS && strcmp(calls[i].name, name))
			i++;
		if (i == NCALLS || n > (int)(sizeof prog / sizeof prog[0]) - 3) {
			fprintf(stderr, "seckill: unknown or repeated call %s\n", name);
			return 125;
		}
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, calls[i].nr, 0, 1);
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	}
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog fprog = { .len = (unsigned short)n, .filter = prog };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog) < 0) {
		fprintf(stderr, "seckill: seccomp: %s\n", strerror(errno));
		return 125;
	}
	execvp(argv[2], argv + 2);
	fprintf(stderr, "seckill: %s: %s\n", argv[2], strerror(errno));
	return 125;
}
