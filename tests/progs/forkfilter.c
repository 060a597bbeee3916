/* forkfilter: a program that installs its own seccomp filter, then forks a
 * child that keeps writing, as a sandboxed server forks its workers.
 * The filter kills the process at openat and fallocate, which the program
 * never calls after it (zcopy must not either: a live stats file for the
 * child would need both).  The child makes 100 one-byte writes to
 * /dev/null three times, 0.6 s apart (a live file is made once a process
 * has counted 64 times and a second has passed), then exits.  Exits 0
 * when the child did; else says how the child ended. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "killfilter.h"

static int install_filter(void)
{
	static const int killed[] = { SYS_openat, SYS_fallocate };
	return install_kill_filter(killed, (int)(sizeof killed / sizeof killed[0]));
}

int main(void)
{
	int null = open("/dev/null", O_WRONLY);
	if (null < 0 || install_filter() < 0) {
		fprintf(stderr, "forkfilter: %s\n", strerror(errno));
		return 2;
	}
	pid_t child = fork();
	if (child < 0)
		return 2;
	if (child == 0) {
		for (int round = 0; round < 3; round++) {
			for (int i = 0; i < 100; i++)
				if (write(null, "x", 1) != 1)
					_exit(3);
			usleep(600000);
		}
		_exit(0);
	}
	int status;
	if (waitpid(child, &status, 0) != child)
		return 2;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		fprintf(stderr, "forkfilter: the child was killed by signal %d\n", WTERMSIG(status));
	else
		fprintf(stderr, "forkfilter: the child exited %d\n", WEXITSTATUS(status));
	return 1;
}
