/* livecount: writes whose counts tests/stats_live.bats checks.
 *   livecount fork DIR
 * The parent writes 1000 bytes to /dev/null in 10 writes, forks two
 * children, and writes its pid and theirs to DIR/pids in one write:
 *   - a short one, as a fork-per-connection server's: writes 300 bytes
 *     to /dev/null and ends at once with _exit;
 *   - a long one: writes 100 bytes in 100 writes (as many counts as a copy
 *     loop's before it may make its own file), waits 1.2 s, writes 7777
 *     bytes, creates DIR/ready, and waits until DIR/stop exists.
 * The parent waits for both and exits.
 *   livecount threads N WRITES
 * N threads at once each write 1 byte to /dev/null WRITES times.
 *   livecount small N DIR
 * Writes 1 byte to /dev/null N times, creates DIR/closed (an open and a
 * close), and waits until DIR/stop exists. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char buf[8192];
static int null_fd;
static long writes_per_thread;

static void die(const char *what)
{
	perror(what);
	exit(1);
}

static void write_null(size_t n)
{
	if (write(null_fd, buf, n) != (ssize_t)n)
		die("write");
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000 };
	while (nanosleep(&t, &t) != 0)
		;
}

static void *thread_writes(void *arg)
{
	(void)arg;
	for (long i = 0; i < writes_per_thread; i++)
		write_null(1);
	return NULL;
}

static int forks(const char *dir)
{
	char path[4096];
	for (int i = 0; i < 10; i++)
		write_null(100);
	pid_t short_child = fork();
	if (short_child < 0)
		die("fork");
	if (short_child == 0) {
		write_null(300);
		_exit(0);
	}
	pid_t long_child = fork();
	if (long_child < 0)
		die("fork");
	if (long_child == 0) {
		for (int i = 0; i < 100; i++)
			write_null(1);
		sleep_ms(1200);
		write_null(7777);
		snprintf(path, sizeof path, "%s/ready", dir);
		int fd = open(path, O_WRONLY | O_CREAT, 0644);
		if (fd < 0)
			die(path);
		close(fd);
		snprintf(path, sizeof path, "%s/stop", dir);
		while (access(path, F_OK) != 0)
			sleep_ms(20);
		exit(0);
	}
	char line[64];
	int len = snprintf(line, sizeof line, "%d %d %d\n", (int)getpid(), (int)short_child, (int)long_child);
	snprintf(path, sizeof path, "%s/pids", dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, line, (size_t)len) != len || close(fd) != 0)
		die(path);
	while (wait(NULL) > 0)
		;
	return 0;
}

static int small(long n, const char *dir)
{
	char path[4096];
	for (long i = 0; i < n; i++)
		write_null(1);
	snprintf(path, sizeof path, "%s/closed", dir);
	int fd = open(path, O_WRONLY | O_CREAT, 0644);
	if (fd < 0 || close(fd) != 0)
		die(path);
	snprintf(path, sizeof path, "%s/stop", dir);
	while (access(path, F_OK) != 0)
		sleep_ms(20);
	return 0;
}

static int threads(int n)
{
	pthread_t *t = calloc((size_t)n, sizeof *t);
	if (!t)
		die("calloc");
	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, thread_writes, NULL) != 0)
			die("pthread_create");
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	null_fd = open("/dev/null", O_WRONLY);
	if (null_fd < 0)
		die("/dev/null");
	if (argc == 3 && !strcmp(argv[1], "fork"))
		return forks(argv[2]);
	if (argc == 4 && !strcmp(argv[1], "threads")) {
		writes_per_thread = atol(argv[3]);
		return threads(atoi(argv[2]));
	}
	if (argc == 4 && !strcmp(argv[1], "small"))
		return small(atol(argv[2]), argv[3]);
	fprintf(stderr, "usage: livecount fork DIR | livecount threads N WRITES | livecount small N DIR\n");
	return 2;
}
