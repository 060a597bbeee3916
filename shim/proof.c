/* Safe mode's proof that a buffer still holds the file's bytes: memcmp
 * against a read-only shared mapping of the file, i.e. its page cache.
 *
 * Hazards:
 * - The file may shrink between our size check and the memcmp (another
 *   process truncates it); touching a mapped page past EOF raises SIGBUS.
 *   A SIGBUS handler, installed at the first proof, jumps out of a guarded
 *   memcmp and forwards every other SIGBUS to what was there before.  If
 *   the program later installs its own SIGBUS handler we stop mapping.
 * - Mapping per call costs more than it saves, so each thread keeps one
 *   window of the last file it proved (1 GiB of address space, no memory).
 *   It is unmapped at thread exit, when the thread moves to another file,
 *   or on close of that file in this thread once the file is deleted. */
#include "zcopy.h"

#include <pthread.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define WINDOW_BYTES ((off_t)1 << 30)

struct proof_window {
    const unsigned char *base;  /* NULL: none */
    size_t len;
    off_t start;
    dev_t dev;
    ino_t ino;
};

static ZC_TLS struct proof_window window;
static ZC_TLS sigjmp_buf sigbus_jump;
static ZC_TLS volatile int sigbus_armed;
static pthread_key_t window_key;
static bool window_key_ok;
static struct sigaction previous_sigbus;
static int sigbus_state;  /* 0 none, 1 installing, 2 installed */

static void window_drop(void)
{
    if (window.base)
        munmap((void *)window.base, window.len);
    window.base = NULL;
}

static void window_drop_at_thread_exit(void *unused)
{
    (void)unused;
    window_drop();
}

static void on_sigbus(int sig, siginfo_t *info, void *context)
{
    if (sigbus_armed) {
        sigbus_armed = 0;
        siglongjmp(sigbus_jump, 1);
    }
    /* Not ours: act as if we had never been installed. */
    if (previous_sigbus.sa_flags & SA_SIGINFO) {
        previous_sigbus.sa_sigaction(sig, info, context);
    } else if (previous_sigbus.sa_handler == SIG_IGN) {
        if (info->si_code > 0) {  /* a fault cannot be ignored: die as before */
            signal(SIGBUS, SIG_DFL);
        }
    } else if (previous_sigbus.sa_handler == SIG_DFL) {
        signal(SIGBUS, SIG_DFL);
        if (info->si_code <= 0)
            raise(SIGBUS);       /* sent by kill(): deliver it again */
        /* a fault re-executes and now gets the default action */
    } else {
        previous_sigbus.sa_handler(sig);
    }
}

void zc_proof_init(void)
{
    window_key_ok = pthread_key_create(&window_key, window_drop_at_thread_exit) == 0;
}

/* In a fork child, an install another thread of the parent had begun
 * (state 1) never ends: the child takes the handler it inherited as it
 * is, or installs its own at its first proof. */
void zc_proof_after_fork(void)
{
    struct sigaction now;
    if (__atomic_load_n(&sigbus_state, __ATOMIC_RELAXED) != 1)
        return;
    bool ours = sigaction(SIGBUS, NULL, &now) == 0 && (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_sigbus;
    __atomic_store_n(&sigbus_state, ours ? 2 : 0, __ATOMIC_RELEASE);
}

static bool sigbus_guard_ready(void)
{
    struct sigaction now;
    int state = __atomic_load_n(&sigbus_state, __ATOMIC_ACQUIRE);
    if (state == 0) {
        if (!__atomic_compare_exchange_n(&sigbus_state, &state, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return false;
        struct sigaction ours = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK };
        sigemptyset(&ours.sa_mask);
        bool ok = sigaction(SIGBUS, &ours, &previous_sigbus) == 0;
        __atomic_store_n(&sigbus_state, ok ? 2 : 3, __ATOMIC_RELEASE);
        return ok;
    }
    if (state != 2)
        return false;
    /* The program may have replaced our handler since. */
    return sigaction(SIGBUS, NULL, &now) == 0 && (now.sa_flags & SA_SIGINFO) && now.sa_sigaction == on_sigbus;
}

/* The window's size: halved, for the whole process, each time a mapping
 * fails for want of address space (RLIMIT_AS: vsftpd allows 200 MiB). */
static off_t window_bytes = WINDOW_BYTES;

static bool window_map(int fd, const struct stat *st, off_t off, size_t n)
{
    off_t page = sysconf(_SC_PAGESIZE);
    if (window.base && window.dev == st->st_dev && window.ino == st->st_ino && window.start <= off &&
        off + (off_t)n <= window.start + (off_t)window.len)
        return true;
    window_drop();
    for (;;) {
        off_t size = __atomic_load_n(&window_bytes, __ATOMIC_RELAXED);
        off_t start = off & ~(size - 1);
        size_t len = (size_t)size;
        if (off + (off_t)n > start + size) {  /* straddles windows */
            start = off & ~(page - 1);
            len = (size_t)(off - start) + n;
        }
        void *base = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, start);
        if (base != MAP_FAILED) {
            window = (struct proof_window){ base, len, start, st->st_dev, st->st_ino };
            break;
        }
        if (errno != ENOMEM || size <= 1024 * 1024)
            return false;
        __atomic_compare_exchange_n(&window_bytes, &size, size / 2, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
    }
    if (window_key_ok)
        pthread_setspecific(window_key, (void *)1);  /* so the destructor runs */
    return true;
}

static __attribute__((noinline)) int guarded_memcmp(const void *a, const void *b, size_t n)
{
    if (sigsetjmp(sigbus_jump, 0))
        return -2;  /* the file shrank under us */
    sigbus_armed = 1;
    int r = memcmp(a, b, n) != 0;
    sigbus_armed = 0;
    return r;
}

enum zc_skip zc_prove_unchanged(int fd, const struct stat *st, off_t off, const void *buf, size_t n)
{
    if (off < 0 || off + (off_t)n > st->st_size)
        return ZC_SKIP_BYTES_CHANGED;  /* the file no longer holds these bytes */
    if (!sigbus_guard_ready() || !window_map(fd, st, off, n))
        return ZC_SKIP_PROOF_UNAVAILABLE;
    int r = guarded_memcmp(window.base + (off - window.start), buf, n);
    if (r == -2) {
        window_drop();
        return ZC_SKIP_BYTES_CHANGED;
    }
    return r ? ZC_SKIP_BYTES_CHANGED : ZC_SKIP_NONE;
}

/* Called before the program closes fd.  A server closes the file after
 * every response and sends it again at the next request, so the window
 * stays; but a file already deleted must not be kept alive by us.  Stores
 * nothing unless it drops the window (see close in fd_hooks.c). */
void zc_proof_forget_file(int fd)
{
    struct stat st;
    if (window.base && zc_fstat(fd, &st) == 0 && st.st_dev == window.dev && st.st_ino == window.ino &&
        st.st_nlink == 0) {
        zc_depth++;  /* the munmap is ours, not the program's */
        window_drop();
        zc_depth--;
    }
}
