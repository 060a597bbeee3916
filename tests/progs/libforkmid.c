/* libforkmid.so: preloaded before libzcopy.so by tests/fork_reset.bats, it
 * holds one libc call that zcopy makes, from a thread other than the main
 * one, while zcopy is halfway through a change that a fork child must
 * undo; tests/progs/forkmid forks meanwhile.  A thread preempted at that
 * point does the same, for a time nobody chooses.  The program sets:
 *   forkmid_hold  which call to hold, once:
 *                 2  sigaction(SIGBUS, handler): proof.c's install of its
 *                    SIGBUS handler, between its state "installing" and
 *                    "installed" (the handler is not in place yet).
 *                 (1 held clock_gettime(CLOCK_REALTIME_COARSE), which
 *                 track.c once read while it filled a slot; it reads it
 *                 before now, and makes no libc call inside the slot's
 *                 seqlock, so that case cannot be held from here.)
 *   forkmid_go    set once it has forked: the held call goes on.
 * and reads forkmid_held, set while the call is held.  The hold ends after
 * 10 s whatever happens, so that a broken test fails instead of hanging.
 * If zcopy no longer makes the call, forkmid says the thread was never
 * held; if it makes it outside the half-done change, the test passes
 * without the reset too: keep this in step with track.c and proof.c. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int forkmid_hold, forkmid_held, forkmid_go;

static void hold_here(int which)
{
	int want = which;

	/* Only in another thread: the forking thread must run on. */
	if (__atomic_load_n(&forkmid_hold, __ATOMIC_ACQUIRE) != which || syscall(SYS_gettid) == getpid())
		return;
	if (!__atomic_compare_exchange_n(&forkmid_hold, &want, 0, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	__atomic_store_n(&forkmid_held, 1, __ATOMIC_RELEASE);
	for (int ms = 0; ms < 10000 && !__atomic_load_n(&forkmid_go, __ATOMIC_ACQUIRE); ms++)
		nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
	__atomic_store_n(&forkmid_held, 0, __ATOMIC_RELEASE);
}

int sigaction(int sig, const struct sigaction *act, struct sigaction *old)
{
	static int (*real)(int, const struct sigaction *, struct sigaction *);

	if (!real)
		real = (int (*)(int, const struct sigaction *, struct sigaction *))dlsym(RTLD_NEXT, "sigaction");
	if (sig == SIGBUS && act)
		hold_here(2);
	return real(sig, act, old);
}
