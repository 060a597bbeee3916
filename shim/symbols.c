/* The real functions behind every hook, and the library's start and end.
 *
 * Hazards handled here:
 * - A hook may run before our constructor (another library's constructor
 *   calls write): real_<fn> pointers are resolved on first use too.
 * - dlsym may call malloc, which another preload may hook and which may come
 *   back into us: a thread that is already resolving gets "not ready" and its
 *   hooks use the raw syscall instead.  So does any other thread meanwhile:
 *   waiting could deadlock, on the loader's lock that dlsym takes.
 * - dlsym returning our own hook would loop forever: treated as missing.
 * - A mandatory symbol missing (hooks.def): the state stays "missing", every
 *   hook makes the plain call (the raw syscall, or for fork glibc's own),
 *   and the constructor says so once.  An optional one missing gets a
 *   stand-in that makes the raw syscall: no real_<fn> is ever NULL where
 *   a hook or the layers below call it. */
#include "zcopy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define HOOK(ret, name, params) ret (*real_##name) params;
#define HOOK_OPTIONAL(ret, name, params, raw) HOOK(ret, name, params)
#include "hooks.def"
#undef HOOK_OPTIONAL
#undef HOOK

/* Stand-ins for optional symbols that this libc lacks. */
#define HOOK(ret, name, params)
#define HOOK_OPTIONAL(ret, name, params, raw) \
    static ret raw_##name params { return (ret)syscall raw; }
#include "hooks.def"
#undef HOOK_OPTIONAL
#undef HOOK

/* ZC_SYMBOLS_READY, ZC_SYMBOLS_MISSING, 0 before resolving, or while
 * resolving the pid of the process whose thread does it (a fork child
 * whose parent was resolving in another thread takes over). */
int zc_symbols_state;
size_t zc_small_limit;
static const char *missing_symbol;  /* the first mandatory one dlsym did not find */
ZC_TLS int zc_depth;
static ZC_TLS int resolving_here;

static void *load_symbol(const char *name, void *our_hook)
{
#ifdef ZC_TEST_MISSING
    /* Test builds only (make's build/test-missing/NAME/, tests/symbols.bats):
     * a libc without this function. */
    if (!strcmp(name, ZC_TEST_MISSING))
        return NULL;
#endif
    void *fn = dlsym(RTLD_NEXT, name);
    /* Nothing after us: libc was preloaded before us (LD_PRELOAD="libc.so.6
     * libzcopy.so").  Its functions come first in the global scope then. */
    if (!fn)
        fn = dlsym(RTLD_DEFAULT, name);
    if (fn == our_hook)
        return NULL;
    return fn;
}

bool zc_resolve_symbols(void)
{
    int state = __atomic_load_n(&zc_symbols_state, __ATOMIC_ACQUIRE);
    if (state == ZC_SYMBOLS_READY || state == ZC_SYMBOLS_MISSING)
        return state == ZC_SYMBOLS_READY;
    if (resolving_here)
        return false;
    int pid = (int)syscall(SYS_getpid);
    if (state == pid || !__atomic_compare_exchange_n(&zc_symbols_state, &state, pid, false, __ATOMIC_ACQUIRE,
                                                     __ATOMIC_ACQUIRE))
        return state == ZC_SYMBOLS_READY;  /* another thread resolves, or just did */
    resolving_here = 1;
    const char *missing = NULL;
#define HOOK(ret, name, params)                                            \
    {                                                                      \
        extern ret name params;                                            \
        void *fn = load_symbol(#name, (void *)name);                       \
        if (!fn && !missing)                                               \
            missing = #name;                                               \
        __atomic_store_n((void **)&real_##name, fn, __ATOMIC_RELAXED);     \
    }
#define HOOK_OPTIONAL(ret, name, params, raw)                              \
    {                                                                      \
        extern ret name params;                                            \
        void *fn = load_symbol(#name, (void *)name);                       \
        __atomic_store_n((void **)&real_##name, fn ? fn : (void *)raw_##name, __ATOMIC_RELAXED); \
    }
#include "hooks.def"
#undef HOOK_OPTIONAL
#undef HOOK
    missing_symbol = missing;
    resolving_here = 0;
    /* Release: a thread that sees READY sees every real_<fn> above. */
    __atomic_store_n(&zc_symbols_state, missing ? ZC_SYMBOLS_MISSING : ZC_SYMBOLS_READY, __ATOMIC_RELEASE);
    return !missing;
}

/* A forked child has one thread: what the parent's other threads held
 * half-written stays so for ever unless undone here (these only read,
 * unless there is something to undo: a fork-per-connection server would
 * pay a copied page per connection for a store).  It reports its own work,
 * in its own log file. */
static void zc_after_fork_in_child(void)
{
    zc_track_after_fork();
    zc_proof_after_fork();
    if (zc_cfg.stats_dest[0] || zc_logging()) {
        zc_stats_reset();
        zc_log_forked();
    }
}

__attribute__((constructor)) static void zc_start(void)
{
    zc_depth++;
    if (!zc_resolve_symbols()) {
        /* Settings stay unread, so nothing below runs: zcopy is off. */
        if (missing_symbol)
            dprintf(2, "zcopy: the C library has no %s(); running unaccelerated\n", missing_symbol);
        zc_depth--;
        return;
    }
    zc_proof_init();
    zc_inflight_init();
    zc_calibrate_init();
    zc_settings_load();
    zc_seccomp_check();
    zc_live_init();
    zc_log_init();
    pthread_atfork(NULL, NULL, zc_after_fork_in_child);
    /* Release: a hook that sees the limit sees the settings it came from. */
    size_t small = zc_cfg.mode == ZC_MODE_OFF ? SIZE_MAX : zc_logging() ? 0 : zc_cfg.min_bytes;
    __atomic_store_n(&zc_small_limit, small, __ATOMIC_RELEASE);
    zc_hot_init();
    zc_depth--;
}

__attribute__((destructor)) static void zc_end(void)
{
    if (zc_seccomp_installed())
        return;  /* the program's filter may kill any call of ours */
    zc_depth++;  /* our own writes are never rewritten */
    zc_log_finish();
    struct zc_verdict verdicts[16];
    zc_stats_report(verdicts, zc_calibrate_verdicts(verdicts, 16));
    zc_live_finish();
    zc_depth--;
}
