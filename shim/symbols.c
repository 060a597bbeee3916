/* The real functions behind every hook, and the library's start and end.
 *
 * Hazards handled here:
 * - A hook may run before our constructor (another library's constructor
 *   calls write): real_<fn> pointers are resolved on first use too.
 * - dlsym may call malloc, which another preload may hook and which may come
 *   back into us: a thread that is already resolving gets "not ready" and its
 *   hooks use the raw syscall instead.
 * - dlsym returning our own hook would loop forever: treated as missing. */
#include "zcopy.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#define HOOK(ret, name, params) ret (*real_##name) params;
#include "hooks.def"
#undef HOOK

volatile int zc_symbols_ready;
ZC_TLS int zc_depth;
static ZC_TLS int resolving_here;

static void *load_symbol(const char *name, void *our_hook)
{
    void *fn = dlsym(RTLD_NEXT, name);
    if (fn == our_hook)
        return NULL;
    return fn;
}

bool zc_resolve_symbols(void)
{
    if (zc_symbols_ready)
        return true;
    if (resolving_here)
        return false;
    resolving_here = 1;
    /* Two threads may both get here: they store the same values. */
#define HOOK(ret, name, params)                                            \
    {                                                                      \
        extern ret name params;                                            \
        void *fn = load_symbol(#name, (void *)name);                       \
        __atomic_store_n((void **)&real_##name, fn, __ATOMIC_RELAXED);     \
    }
#include "hooks.def"
#undef HOOK
    resolving_here = 0;
    __atomic_store_n(&zc_symbols_ready, 1, __ATOMIC_RELEASE);
    return true;
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
    zc_resolve_symbols();
    zc_proof_init();
    zc_inflight_init();
    zc_settings_load();
    zc_log_init();
    pthread_atfork(NULL, NULL, zc_after_fork_in_child);
    zc_depth--;
}

__attribute__((destructor)) static void zc_end(void)
{
    zc_depth++;  /* our own writes are never rewritten */
    zc_log_finish();
    zc_stats_report();
    zc_depth--;
}
