/* forkmid: fork() while another thread is halfway through zcopy's own
 * bookkeeping, and a copy in the child.
 *   forkmid proof SRC
 * Needs libforkmid.so preloaded before libzcopy.so, which holds the other
 * thread at the point named (see libforkmid.c):
 *   proof  the thread read()s 64 KiB of SRC and write()s it to a pipe, and
 *          is held while zcopy installs its SIGBUS handler, at the first
 *          proof in the process.
 * (A track slot left half filled, which zc_track_after_fork undoes, can no
 * longer be held from outside: zcopy makes no libc call while it fills
 * one.)
 * The main thread forks while the other is held, then lets it go.  The
 * child read()s the first 4 MiB of SRC into 64 buffers of 64 KiB, as many
 * reads as zcopy remembers at once (READ_SLOTS in shim/track.c), then
 * write()s them to stdout in order: each write can be rewritten only if its
 * read is still remembered and, in safe mode, proven.  Prints
 * "forkmid: child=PID" on stderr, and exits with the child's status. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536
#define CHUNKS 64

static char tbuf[CHUNK];
static char bufs[CHUNKS][CHUNK];
static int src, pipefd[2];

static void *other_thread(void *unused)
{
	(void)unused;
	if (read(src, tbuf, CHUNK) != CHUNK) {
		perror("forkmid: thread read");
		exit(1);
	}
	if (write(pipefd[1], tbuf, CHUNK) != CHUNK) {
		perror("forkmid: thread write");
		exit(1);
	}
	return NULL;
}

static void child(const char *path)
{
	int in = open(path, O_RDONLY);

	if (in < 0) {
		perror("forkmid: child open");
		_exit(1);
	}
	for (int i = 0; i < CHUNKS; i++)
		if (read(in, bufs[i], CHUNK) != CHUNK) {
			perror("forkmid: child read");
			_exit(1);
		}
	for (int i = 0; i < CHUNKS; i++)
		for (ssize_t done = 0; done < CHUNK;) {
			ssize_t w = write(1, bufs[i] + done, CHUNK - done);
			if (w < 0) {
				perror("forkmid: child write");
				_exit(1);
			}
			done += w;
		}
	_exit(0);
}

int main(int argc, char **argv)
{
	int *hold, *held, *go, status;
	pthread_t t;
	pid_t pid;

	if (argc != 3 || strcmp(argv[1], "proof")) {
		fprintf(stderr, "usage: forkmid proof SRC\n");
		return 2;
	}
	hold = dlsym(RTLD_DEFAULT, "forkmid_hold");
	held = dlsym(RTLD_DEFAULT, "forkmid_held");
	go = dlsym(RTLD_DEFAULT, "forkmid_go");
	if (!hold || !held || !go) {
		fprintf(stderr, "forkmid: libforkmid.so is not preloaded\n");
		return 2;
	}
	src = open(argv[2], O_RDONLY);
	if (src < 0 || pipe(pipefd) < 0) {
		perror("forkmid: open");
		return 2;
	}
	fcntl(pipefd[1], F_SETPIPE_SZ, 2 * CHUNK);  /* the thread's write never waits */
	__atomic_store_n(hold, 2, __ATOMIC_RELEASE);
	if (pthread_create(&t, NULL, other_thread, NULL)) {
		fprintf(stderr, "forkmid: pthread_create failed\n");
		return 2;
	}
	for (int ms = 0; !__atomic_load_n(held, __ATOMIC_ACQUIRE); ms++) {
		/* zcopy no longer makes that call there: the test must change. */
		if (ms == 5000) {
			fprintf(stderr, "forkmid: the thread was never held (%s)\n", argv[1]);
			return 3;
		}
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	}
	pid = fork();
	if (pid < 0) {
		perror("forkmid: fork");
		return 2;
	}
	if (pid == 0)
		child(argv[2]);
	__atomic_store_n(go, 1, __ATOMIC_RELEASE);
	fprintf(stderr, "forkmid: child=%d\n", (int)pid);
	pthread_join(t, NULL);
	if (waitpid(pid, &status, 0) != pid) {
		perror("forkmid: waitpid");
		return 2;
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
