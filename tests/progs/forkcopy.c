/* forkcopy: fork() in the middle of a copy loop.
 *   forkcopy SRC DST|-
 * copies SRC to DST (or to stdout for "-") with read()/write() in 64 KiB
 * chunks.  After half the chunks it forks: the child finishes the loop
 * through the shared file offsets and exits; the parent waits for it, then
 * carries on, and its next read() sees EOF.  DST gets the whole file
 * exactly once.  The parent's transcript goes to stderr. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK 65536

static char buf[CHUNK];

/* Copies up to max chunks (all if max < 0); returns how many it copied. */
static long copy(int in, int out, long max)
{
	long chunks = 0;
	ssize_t n;

	while (max < 0 || chunks < max) {
		n = read(in, buf, CHUNK);
		if (n < 0) {
			perror("forkcopy: read");
			_exit(1);
		}
		if (n == 0)
			break;
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(out, buf + off, n - off);
			if (w < 0) {
				perror("forkcopy: write");
				_exit(1);
			}
			off += w;
		}
		chunks++;
	}
	return chunks;
}

int main(int argc, char **argv)
{
	struct stat st;
	int in, out, status;
	long half, rest;
	pid_t pid;

	if (argc != 3) {
		fprintf(stderr, "usage: forkcopy SRC DST|-\n");
		return 2;
	}
	in = open(argv[1], O_RDONLY);
	out = strcmp(argv[2], "-") == 0 ? 1 : open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || out < 0 || fstat(in, &st) < 0) {
		perror("forkcopy: open");
		return 2;
	}
	half = (st.st_size / CHUNK) / 2;
	dprintf(2, "parent: copied %ld chunks before fork\n", copy(in, out, half));

	pid = fork();
	if (pid < 0) {
		perror("forkcopy: fork");
		return 2;
	}
	if (pid == 0) {
		copy(in, out, -1);
		exit(0);	/* exit, not _exit: atexit handlers run as usual */
	}
	if (waitpid(pid, &status, 0) != pid) {
		perror("forkcopy: waitpid");
		return 2;
	}
	dprintf(2, "parent: child exit status %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	rest = copy(in, out, -1);
	dprintf(2, "parent: copied %ld chunks after the child\n", rest);
	dprintf(2, "parent: src offset %jd\n", (intmax_t)lseek(in, 0, SEEK_CUR));
	if (out != 1)
		dprintf(2, "parent: dst offset %jd\n", (intmax_t)lseek(out, 0, SEEK_CUR));
	return status == 0 && rest == 0 ? 0 : 1;
}
