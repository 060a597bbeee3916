/* stallwrite: one big write to a peer that reads nothing yet, cut short by a signal.
 *
 *   stallwrite [-d pipe|unix|tcp] [-c write|writev|send] [-s alarm|itimer|timer|kill]
 *              [-r | -R] [-n BYTES] [-t DELAY_MS] [-g GRACE_MS] SRC OUT
 *
 * It reads BYTES (default 1 MiB) of SRC into a buffer with one read(), then
 * makes ONE call to a peer that does not read yet:
 *   write   write(fd, buf, BYTES)
 *   writev  writev(fd, {HEADER, buf}, 2): HEADER is "X-Stallwrite: header\r\n\r\n"
 *   send    send(fd, buf, BYTES, 0)            (sockets only)
 * The destination (-d) is a pipe, a unix stream socketpair, or a TCP
 * connection over 127.0.0.1.  Before the call it arms one SIGALRM, DELAY_MS
 * later (default 1000; -s alarm rounds it up to whole seconds):
 *   alarm   alarm()
 *   itimer  setitimer(ITIMER_REAL)
 *   timer   timer_create(CLOCK_MONOTONIC, SIGEV_SIGNAL)
 *   kill    kill() from a forked child
 * The handler counts, and saves and restores errno.  -r installs it with
 * SA_RESTART (what glibc's signal() does, the default), -R without.
 *
 * The plain call returns a short count when the signal lands after some
 * bytes went through.  Then, in order:
 *   write: ret=N total=T errno=E signals=K
 *           E: errno after the call, set to 1234 before it (1234: untouched)
 *   first: got=N hash=H expect=H2 extra=X ok|MISMATCH
 *           the peer reads exactly N bytes (saved in OUT.first), and then
 *           counts the bytes beyond them that had arrived (X: FIONREAD,
 *           after a TCP send queue emptied)
 *   final: received=T hash=H expect=H2 ok|MISMATCH
 *           the program sends the rest with write() calls and closes; the
 *           peer saves everything it received in OUT
 * Hashes are FNV-1a 64 of the stream (HEADER first for writev).
 *
 * It never waits forever: if the call has not returned GRACE_MS after the
 * signal (default 4000), the peer prints "HUNG: ..." on stderr and starts
 * reading, so that the call can end; the program then prints its lines and
 * exits 3.  Exit 1: a MISMATCH or a peer that failed; 2: usage; 0 otherwise. */
#define _GNU_SOURCE
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <linux/sockios.h>
#include <time.h>
/* sink.h's channels, without its receiver (sink_open, sink_wait): this
 * program's peer must not read until told. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include "sink.h"
#pragma GCC diagnostic pop

#define HEADER "X-Stallwrite: header\r\n\r\n"
#define ERRNO_SENTINEL 1234
#define STEP_MS 10000  /* longest wait for one reply between the two processes */

enum { SIG_ALARM, SIG_ITIMER, SIG_TIMER, SIG_KILL };
enum { CALL_WRITE, CALL_WRITEV, CALL_SEND };
enum { MSG_FIRST = 1, MSG_EXTRA, MSG_FINISH };

struct ctl {
	int type;
	int64_t n;
};
struct rep {
	int hung;
	int64_t n;
	uint64_t hash;
};

static volatile sig_atomic_t signals;

static void on_alarm(int sig)
{
	int saved = errno;
	(void)sig;
	signals++;
	errno = saved;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	for (size_t i = 0; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h;
}
#define FNV_INIT 0xcbf29ce484222325ULL

static long ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* poll one fd for POLLIN, up to ms (EINTR restarts with what is left). */
static int wait_in(int fd, long ms)
{
	struct timespec t0;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		long left = ms - ms_since(&t0);
		struct pollfd p = { fd, POLLIN, 0 };
		int r = poll(&p, 1, left > 0 ? (int)left : 0);
		if (r >= 0 || errno != EINTR)
			return r;
	}
}

static void put(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			sink_die("write");
		c += w;
		n -= (size_t)w;
	}
}

/* One message of a fixed size, or -1 (timeout, EOF). */
static int get(int fd, void *p, size_t n, long ms)
{
	if (wait_in(fd, ms) <= 0)
		return -1;
	ssize_t r;
	while ((r = read(fd, p, n)) < 0 && errno == EINTR)
		;
	return r == (ssize_t)n ? 0 : -1;
}

/* ---- the peer --------------------------------------------------------------- */

static int peer_out, peer_first;
static uint64_t peer_hash = FNV_INIT;
static int64_t peer_total;

/* One read of what is there; 0 at EOF. */
static ssize_t peer_take(int data, size_t max, int also_first)
{
	static char buf[65536];
	if (max > sizeof buf)
		max = sizeof buf;
	ssize_t r;
	while ((r = read(data, buf, max)) < 0 && errno == EINTR)
		;
	if (r < 0)
		sink_die("peer read");
	if (r > 0) {
		put(peer_out, buf, (size_t)r);
		if (also_first)
			put(peer_first, buf, (size_t)r);
		peer_hash = fnv(peer_hash, buf, (size_t)r);
		peer_total += r;
	}
	return r;
}

static void peer(int data, int ctl_r, int rep_w, const char *out, long stall_ms)
{
	char path[4096];
	struct timespec t0;
	struct ctl m;
	int hung = 0;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	snprintf(path, sizeof path, "%s.first", out);
	peer_out = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	peer_first = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (peer_out < 0 || peer_first < 0)
		sink_die("open OUT");
	/* Read nothing until told how many bytes the call returned. */
	if (wait_in(ctl_r, stall_ms - ms_since(&t0)) == 0) {
		fprintf(stderr, "HUNG: the call had not returned %ld ms after it started: the peer reads now\n",
			stall_ms);
		hung = 1;
		/* Read until the writer speaks (its call returns once we read). */
		for (;;) {
			struct pollfd p[2] = { { data, POLLIN, 0 }, { ctl_r, POLLIN, 0 } };
			int pr = poll(p, 2, STEP_MS);
			if (pr < 0 && errno == EINTR)
				continue;
			if (pr <= 0)
				_exit(1);
			if (p[1].revents)
				break;
			if (p[0].revents && peer_take(data, 65536, 0) == 0)
				break;
		}
	}
	if (get(ctl_r, &m, sizeof m, STEP_MS) < 0 || m.type != MSG_FIRST)
		_exit(1);
	if (hung) {
		struct rep r = { 1, peer_total, peer_hash };
		put(rep_w, &r, sizeof r);
		while (wait_in(data, STEP_MS) > 0 && peer_take(data, 65536, 0) > 0)
			;
		_exit(3);
	}
	/* Exactly the first N bytes; fewer if they never come. */
	while (peer_total < m.n && wait_in(data, 5000) > 0)
		if (peer_take(data, (size_t)(m.n - peer_total), 1) == 0)
			break;
	struct rep r = { 0, peer_total, peer_hash };
	put(rep_w, &r, sizeof r);
	/* What had arrived beyond them (the writer waited for TCP's queue). */
	if (get(ctl_r, &m, sizeof m, STEP_MS) < 0 || m.type != MSG_EXTRA)
		_exit(1);
	int q = -1;
	if (ioctl(data, FIONREAD, &q) < 0)
		q = -1;
	r = (struct rep){ 0, q, 0 };
	put(rep_w, &r, sizeof r);
	/* The rest, to EOF. */
	if (get(ctl_r, &m, sizeof m, STEP_MS) < 0 || m.type != MSG_FINISH)
		_exit(1);
	while (wait_in(data, STEP_MS) > 0 && peer_take(data, 65536, 0) > 0)
		;
	if (close(peer_out) < 0)
		sink_die("close OUT");
	r = (struct rep){ 0, peer_total, peer_hash };
	put(rep_w, &r, sizeof r);
	_exit(0);
}

/* ---- the writer ------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: stallwrite [-d pipe|unix|tcp] [-c write|writev|send] [-s alarm|itimer|timer|kill]\n"
			"                  [-r | -R] [-n BYTES] [-t DELAY_MS] [-g GRACE_MS] SRC OUT\n");
	exit(2);
}

static int index_of(const char *name, const char *const *names, int n)
{
	for (int i = 0; i < n; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	usage();
	return -1;
}

/* Arms one SIGALRM delay_ms from now; returns the killer child's pid or -1. */
static pid_t arm(int source, long delay_ms, timer_t *timer)
{
	struct itimerval it = { { 0, 0 }, { delay_ms / 1000, (delay_ms % 1000) * 1000 } };
	struct itimerspec ts = { { 0, 0 }, { delay_ms / 1000, (delay_ms % 1000) * 1000000 } };
	struct sigevent ev;
	pid_t pid = -1, writer = getpid();

	switch (source) {
	case SIG_ALARM:
		alarm((unsigned)((delay_ms + 999) / 1000));
		break;
	case SIG_ITIMER:
		if (setitimer(ITIMER_REAL, &it, NULL) < 0)
			sink_die("setitimer");
		break;
	case SIG_TIMER:
		memset(&ev, 0, sizeof ev);
		ev.sigev_notify = SIGEV_SIGNAL;
		ev.sigev_signo = SIGALRM;
		if (timer_create(CLOCK_MONOTONIC, &ev, timer) < 0 || timer_settime(*timer, 0, &ts, NULL) < 0)
			sink_die("timer_create");
		break;
	default:
		if ((pid = fork()) < 0)
			sink_die("fork");
		if (pid == 0) {
			struct timespec d = { delay_ms / 1000, (delay_ms % 1000) * 1000000 };
			while (nanosleep(&d, &d) < 0 && errno == EINTR)
				;
			kill(writer, SIGALRM);
			_exit(0);
		}
	}
	return pid;
}

static void disarm(int source, timer_t timer, pid_t killer)
{
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	if (source == SIG_ALARM)
		alarm(0);
	else if (source == SIG_ITIMER)
		setitimer(ITIMER_REAL, &off, NULL);
	else if (source == SIG_TIMER)
		timer_delete(timer);
	else if (killer > 0)
		while (waitpid(killer, NULL, 0) < 0 && errno == EINTR)
			;
}

int main(int argc, char **argv)
{
	static const char *const calls[] = { "write", "writev", "send" };
	static const char *const sources[] = { "alarm", "itimer", "timer", "kill" };
	int kind = SINK_PIPE, call = CALL_WRITE, source = SIG_ALARM, restart = 1, opt;
	long delay_ms = 1000, grace_ms = 4000;
	size_t nbytes = 1 << 20;

	while ((opt = getopt(argc, argv, "d:c:s:rRn:t:g:")) != -1) {
		switch (opt) {
		case 'd': if ((kind = sink_kind_of(optarg)) < 0) usage(); break;
		case 'c': call = index_of(optarg, calls, 3); break;
		case 's': source = index_of(optarg, sources, 4); break;
		case 'r': restart = 1; break;
		case 'R': restart = 0; break;
		case 'n': nbytes = strtoul(optarg, NULL, 0); break;
		case 't': delay_ms = strtol(optarg, NULL, 0); break;
		case 'g': grace_ms = strtol(optarg, NULL, 0); break;
		default: usage();
		}
	}
	if (argc - optind != 2 || kind == SINK_FILE || nbytes == 0 || delay_ms <= 0)
		usage();
	const char *src = argv[optind], *out = argv[optind + 1];
	if (source == SIG_ALARM)
		delay_ms = (delay_ms + 999) / 1000 * 1000;

	int in = open(src, O_RDONLY);
	char *buf = malloc(nbytes);
	if (in < 0)
		sink_die("open SRC");
	if (!buf)
		sink_die("malloc");
	ssize_t got = read(in, buf, nbytes);
	if (got != (ssize_t)nbytes) {
		fprintf(stderr, "stallwrite: read %zd of %zu bytes of %s in one read\n", got, nbytes, src);
		return 2;
	}

	/* The stream the peer must receive, and its hash. */
	size_t hlen = call == CALL_WRITEV ? strlen(HEADER) : 0, total = hlen + nbytes;

	struct sink_opts so = { 0 };
	int end[2], ctl[2], rep[2];
	sink_channel((enum sink_kind)kind, &so, end);
	if (pipe(ctl) < 0 || pipe(rep) < 0)
		sink_die("pipe");
	pid_t peer_pid = fork();
	if (peer_pid < 0)
		sink_die("fork");
	if (peer_pid == 0) {
		close(end[0]);
		close(ctl[1]);
		close(rep[0]);
		peer(end[1], ctl[0], rep[1], out, delay_ms + grace_ms);
	}
	close(end[1]);
	close(ctl[0]);
	close(rep[1]);
	int fd = end[0];

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = restart ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGALRM, &sa, NULL) < 0)
		sink_die("sigaction");

	timer_t timer = 0;
	struct iovec iov[2] = { { HEADER, hlen }, { buf, nbytes } };
	pid_t killer = arm(source, delay_ms, &timer);
	errno = ERRNO_SENTINEL;
	ssize_t ret = call == CALL_WRITE ? write(fd, buf, nbytes)
		    : call == CALL_SEND ? send(fd, buf, nbytes, 0)
					: writev(fd, iov, 2);
	int err = errno;
	disarm(source, timer, killer);
	printf("write: ret=%zd total=%zu errno=%d signals=%d\n", ret, total, err, (int)signals);
	fflush(stdout);

	/* The stream as the peer should see it. */
	char *expect = malloc(total);
	if (!expect)
		sink_die("malloc");
	memcpy(expect, HEADER, hlen);
	memcpy(expect + hlen, buf, nbytes);
	size_t sent = ret > 0 ? (size_t)ret : 0;

	struct ctl m = { MSG_FIRST, (int64_t)sent };
	struct rep r;
	put(ctl[1], &m, sizeof m);
	if (get(rep[0], &r, sizeof r, 2 * STEP_MS) < 0) {
		fprintf(stderr, "stallwrite: the peer did not answer\n");
		return 1;
	}
	if (r.hung) {
		/* The peer read while the call was blocked: nothing more to learn. */
		printf("first: HUNG (the peer had to read for the call to return)\n");
		close(fd);
		while (waitpid(peer_pid, NULL, 0) < 0 && errno == EINTR)
			;
		return 3;
	}
	uint64_t want = fnv(FNV_INIT, expect, sent);
	int ok = r.n == (int64_t)sent && r.hash == want;
	/* TCP: bytes the call accepted may still wait in the send queue. */
	if (kind == SINK_TCP) {
		struct timespec t0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		int q = 0;
		while (ioctl(fd, SIOCOUTQ, &q) == 0 && q > 0 && ms_since(&t0) < 5000)
			usleep(1000);
	}
	m = (struct ctl){ MSG_EXTRA, 0 };
	put(ctl[1], &m, sizeof m);
	struct rep x;
	if (get(rep[0], &x, sizeof x, STEP_MS) < 0) {
		fprintf(stderr, "stallwrite: the peer did not answer\n");
		return 1;
	}
	ok = ok && x.n == 0;
	printf("first: got=%lld hash=%016llx expect=%016llx extra=%lld %s\n", (long long)r.n,
	       (unsigned long long)r.hash, (unsigned long long)want, (long long)x.n, ok ? "ok" : "MISMATCH");
	fflush(stdout);

	/* The rest, as a copy loop sends it after a short count: from the
	 * same buffer (so zcopy may rewrite these writes too). */
	m = (struct ctl){ MSG_FINISH, 0 };
	put(ctl[1], &m, sizeof m);
	for (size_t done = sent; done < total;) {
		ssize_t w = done < hlen ? write(fd, HEADER + done, hlen - done)
					: write(fd, buf + (done - hlen), total - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			sink_die("write (the rest)");
		done += (size_t)w;
	}
	close(fd);
	if (get(rep[0], &r, sizeof r, 2 * STEP_MS) < 0) {
		fprintf(stderr, "stallwrite: the peer did not answer\n");
		return 1;
	}
	want = fnv(FNV_INIT, expect, total);
	int fin = r.n == (int64_t)total && r.hash == want;
	printf("final: received=%lld hash=%016llx expect=%016llx %s\n", (long long)r.n, (unsigned long long)r.hash,
	       (unsigned long long)want, fin ? "ok" : "MISMATCH");
	int st;
	while (waitpid(peer_pid, &st, 0) < 0)
		if (errno != EINTR)
			sink_die("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "stallwrite: the peer failed (status %d)\n", st);
		return 1;
	}
	return ok && fin ? 0 : 1;
}
