/* sigalrm: a signal handler that calls write() while the main loop copies.
 *   sigalrm small|big SRC TICKS [USEC]
 * An ITIMER_REAL fires every USEC microseconds (default 1000; SA_RESTART).  The main loop
 * copies SRC to stdout with read()/write() in 64 KiB chunks, so most
 * ticks land inside a hooked call.  The handler appends to TICKS:
 *   small  one byte from a static buffer
 *   big    the first 64 KiB of SRC, pread() into a static buffer and
 *          write()n: a copy the library may itself rewrite, from inside
 *          the handler.  Only the first MAX_COPIES ticks copy (later ones
 *          just count), or a slow run under strace would fill the disk.
 * After the loop, main stops the timer and waits in sigsuspend() for one
 * last tick, which copies even past MAX_COPIES: a handler that interrupts a
 * hooked call does nothing in zcopy (the library is already in use in this
 * thread), and at a short USEC the handler runs back to back (the next tick
 * is due before it returns), so all its copies can land while main sits in
 * one hook and none of them is logged.  This last one runs with main outside
 * every hook, and is logged with its backtrace.
 * At the end it prints on stderr how many times the handler ran and how
 * many chunks it appended to TICKS. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#define CHUNK 65536
#define MAX_COPIES 256

static volatile sig_atomic_t ticks, copies, failed, last_tick;
static int tick_fd, tick_src, big;

static void on_alarm(int sig)
{
	static char hbuf[CHUNK];
	int saved = errno;	/* the handler must not disturb the main loop */
	ssize_t want = 1;

	(void)sig;
	ticks++;
	if (big && copies >= MAX_COPIES && !last_tick)
		return;
	if (big)
		want = pread(tick_src, hbuf, CHUNK, 0);
	else
		hbuf[0] = 'x';
	if (want <= 0 || write(tick_fd, hbuf, want) != want)
		failed = 1;
	copies++;
	errno = saved;
}

int main(int argc, char **argv)
{
	static char buf[CHUNK];
	struct sigaction sa;
	struct itimerval it = { { 0, 1000 }, { 0, 1000 } }, off = { { 0, 0 }, { 0, 0 } };
	ssize_t n;
	int in;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: sigalrm small|big SRC TICKS [USEC]\n");
		return 2;
	}
	if (argc == 5)
		it.it_interval.tv_usec = it.it_value.tv_usec = atoi(argv[4]);
	big = strcmp(argv[1], "big") == 0;
	in = open(argv[2], O_RDONLY);
	tick_src = open(argv[2], O_RDONLY);
	tick_fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (in < 0 || tick_src < 0 || tick_fd < 0) {
		perror("sigalrm: open");
		return 2;
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);

	while ((n = read(in, buf, CHUNK)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("sigalrm: read");
			return 1;
		}
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(1, buf + done, n - done);
			if (w < 0) {
				if (errno == EINTR)
					continue;
				perror("sigalrm: write");
				return 1;
			}
			done += w;
		}
	}
	setitimer(ITIMER_REAL, &off, NULL);
	/* The last tick, with main outside zcopy: SIGALRM is blocked except
	 * inside sigsuspend, so a tick still pending from the loop is taken
	 * there too.  One handler run is enough either way. */
	sigset_t alrm, unblocked;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	sigprocmask(SIG_BLOCK, &alrm, &unblocked);
	sigdelset(&unblocked, SIGALRM);
	struct itimerval once = { { 0, 0 }, it.it_value };
	last_tick = 1;
	setitimer(ITIMER_REAL, &once, NULL);
	sigsuspend(&unblocked);
	/* A tick already pending must not land after the counts are printed
	 * (valgrind delivers signals late): SIGALRM stays blocked. */
	setitimer(ITIMER_REAL, &off, NULL);
	fprintf(stderr, "ticks=%d copies=%d failed=%d\n", (int)ticks, (int)copies, (int)failed);
	return failed;
}
