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
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "killfilter.h"

#define CHUNK 65536

static char buf[CHUNK];

static int install_filter(void)
{
	static const int killed[] = { SYS_sendfile, SYS_splice, SYS_copy_file_range, SYS_unlinkat };
	return install_kill_filter(killed, (int)(sizeof killed / sizeof killed[0]));
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
