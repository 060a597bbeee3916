/* The one page that a write too small to rewrite reads (make bench's W5):
 * the values its path needs, copied from their owners once the constructor
 * is done, and the small writes counted while the process has one thread
 * (live.c moves them to the counters).  Every other page a hook touches
 * costs a page walk on each call on this VM kind (zcopy.h, ZC_HOT).
 *
 * Hazards:
 * - The page is in the library's .bss, past its file-backed part, so the
 *   kernel can wipe it for a forked child (MADV_WIPEONFORK), however the
 *   child was forked: it finds the page not ready, and a write refills it
 *   once the child's counts have their own place (live.c makes a child's
 *   file only after a while).  So a child never counts into its parent's
 *   pending writes, and pays a zero-filled page, not a copied one.  Where
 *   the kernel cannot wipe (before 4.14), the page never gets ready and
 *   every write takes the general path.
 * - ready is stored last, with release: a hook that sees it sees the rest.
 *   The values do not change after the constructor. */
#include "zcopy.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_WIPEONFORK
#define MADV_WIPEONFORK 18
#endif

struct zc_hot zc_hot;
static struct zc_hot_values master;
static bool wipes_on_fork;

/* glibc's own flag (2.32 on): true while the process has one thread. */
extern char __libc_single_threaded __attribute__((weak));
static const char never_single;

void zc_hot_refill(void)
{
    if (!__atomic_load_n(&wipes_on_fork, __ATOMIC_ACQUIRE) || __atomic_load_n(&zc_hot.ready, __ATOMIC_ACQUIRE) ||
        !zc_stats_settled())
        return;
    zc_hot.v = master;
    __atomic_store_n(&zc_hot.ready, 1, __ATOMIC_RELEASE);
}

void zc_hot_init(void)
{
    master.small_limit = zc_small_write_limit();
    master.write = real_write;
    master.sendto = real_sendto;
    master.in_flight = zc_inflight_count_word();
    master.single_threaded = &__libc_single_threaded ? &__libc_single_threaded : &never_single;
    master.counting = zc_stats_counting();
    /* The raw syscall: errno is the program's, and a failure only keeps
     * the general path. */
    int saved_errno = errno;
    if (syscall(SYS_madvise, &zc_hot, sizeof zc_hot, MADV_WIPEONFORK) == 0)
        __atomic_store_n(&wipes_on_fork, true, __ATOMIC_RELEASE);
    errno = saved_errno;
    zc_hot_refill();
}
