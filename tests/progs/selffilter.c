/* selffilter: a program that installs its own seccomp filter while it runs,
 * as vsftpd's seccomp_sandbox does.
 *   selffilter SRC
 * copies SRC to stdout with read()/write() in 64 KiB chunks; after the
 * first chunk it installs, with prctl(PR_SET_SECCOMP), a filter that kills
 * the process at sendfile, splice, copy_file_range or unlinkat, calls it
 * never makes itself (zcopy would: the fast calls, and unlinkat to remove
 * its live stats file at exit).  Exits 0 when the copy is done. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "seccomp_arch.h"

#define CHUNK 65536

static char buf[CHUNK];

static int install_filter(void)
{
	static const int killed[] = { SYS_sendfile, SYS_splice, SYS_copy_file_range, SYS_unlinkat };
	struct sock_filter prog[4 + 2 * 4 + 1];
	int n = 0;
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 1, 0);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (int i = 0; i < 4; i++) {
		prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, killed[i], 0, 1);
		prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	}
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	struct sock_fprog fprog = { .len = (unsigned short)n, .filter = prog };
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? -1 : prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &fprog);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: selffilter SRC\n");
		return 2;
	}
	int in = open(argv[1], O_RDONLY);
	if (in < 0) {
		perror("selffilter: open");
		return 1;
	}
	for (int chunk = 0;; chunk++) {
		if (chunk == 1 && install_filter() < 0) {
			fprintf(stderr, "selffilter: seccomp: %s\n", strerror(errno));
			return 1;
		}
		ssize_t n = read(in, buf, CHUNK);
		if (n < 0) {
			perror("selffilter: read");
			return 1;
		}
		if (n == 0)
			return 0;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(1, buf + off, (size_t)(n - off));
			if (w < 0) {
				perror("selffilter: write");
				return 1;
			}
			off += w;
		}
	}
}
