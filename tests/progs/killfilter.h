/* A seccomp filter that kills the process at any of the given syscalls,
 * as systemd's SystemCallFilter=~CALL does by default, installed with
 * prctl (after PR_SET_NO_NEW_PRIVS).  Other ABIs (x32, ia32) pass. */
#ifndef KILLFILTER_H
#define KILLFILTER_H

#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>

#include "seccomp_arch.h"

#define KILLFILTER_MAX_CALLS 8

/* 0, or -1 with errno (EINVAL: more than KILLFILTER_MAX_CALLS). */
static inline int install_kill_filter(const int *nrs, int count)
{
	struct sock_filter prog[4 + 2 * KILLFILTER_MAX_CALLS + 1];
	int n = 0;
	if (count < 0 || count > KILLFILTER_MAX_CALLS) {
		errno = EINVAL;
		return -1;
	}
	/* arch check, load nr, then per call: equal -> kill */
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (int i = 0; i < count; i++) {
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nrs[i], 0, 1);
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	}
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog fprog = { .len = (unsigned short)n, .filter = prog };
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -1 : prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog);
}

#endif
