/* Call sites: where in the program a hook was called from, its backtrace,
 * and how both are named in a log line (module+offset, function+offset).
 * Below log.c, which keeps one per aggregated decision; calls only libc,
 * libunwind and the line formatter.
 *
 * Hazards:
 * - Captured from hooks, which run in signal handlers and any thread: no
 *   malloc, no lock, no stdio.
 * - Backtraces come from libunwind, which neither allocates nor locks with
 *   caching off.  It is opened (dlopen) only when a log is kept, from the
 *   constructor: each library in a process is copied by every fork(),
 *   which a fork-per-connection server pays on every connection.
 * - Addresses become module+offset with dladdr, whose loader lock is
 *   recursive, so a handler cannot deadlock on it. */
#include "zcopy.h"
#include "logline.h"

#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <elf.h>
#include <libunwind.h>
#include <limits.h>
#include <unistd.h>

static char exe_path[PATH_MAX];  /* dladdr names the main program by argv[0] */

/* The libunwind calls zc_callsite_capture makes, found by the names its
 * header maps them to (_ULx86_64_step, ...).  All NULL: no log, or no
 * libunwind (the site is then still named by its return address). */
#define NAME_OF(fn) NAME_OF_(fn)
#define NAME_OF_(fn) #fn
static struct {
    int (*getcontext)(unw_context_t *);
    int (*init_local)(unw_cursor_t *, unw_context_t *);
    int (*step)(unw_cursor_t *);
    int (*get_reg)(unw_cursor_t *, unw_regnum_t, unw_word_t *);
    int (*get_proc_name)(unw_cursor_t *, char *, size_t, unw_word_t *);
} unwind;

/* Called from the constructor, where dlopen may allocate and lock. */
static void unwind_open(void)
{
    void *lib = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!lib)
        return;
    int (*set_caching_policy)(unw_addr_space_t, unw_caching_policy_t) = dlsym(lib, NAME_OF(unw_set_caching_policy));
    unw_addr_space_t *local_space = dlsym(lib, NAME_OF(unw_local_addr_space));
    void *getcontext = dlsym(lib, NAME_OF(unw_tdep_getcontext));
    void *init_local = dlsym(lib, NAME_OF(unw_init_local));
    void *step = dlsym(lib, NAME_OF(unw_step));
    void *get_reg = dlsym(lib, NAME_OF(unw_get_reg));
    void *get_proc_name = dlsym(lib, NAME_OF(unw_get_proc_name));
    if (!set_caching_policy || !local_space || !getcontext || !init_local || !step || !get_reg || !get_proc_name)
        return;
    /* No cache: nothing shared between threads, nothing to lock. */
    set_caching_policy(*local_space, UNW_CACHE_NONE);
    unwind.getcontext = getcontext;
    unwind.init_local = init_local;
    unwind.get_reg = get_reg;
    unwind.get_proc_name = get_proc_name;
    __atomic_store_n(&unwind.step, step, __ATOMIC_RELEASE);  /* last: the others are set */
}

void zc_callsite_init(void)
{
    ssize_t n = readlink("/proc/self/exe", exe_path, sizeof exe_path - 1);
    exe_path[n > 0 ? n : 0] = 0;
    unwind_open();
}

/* Frames from the caller of the hook outwards, and the site's function name
 * from the module's symbol table (static functions too, unlike dladdr). */
void zc_callsite_capture(struct zc_callsite *cs, int depth)
{
    uintptr_t raw[ZC_MAX_FRAMES + 8];
    cs->nframes = 0;
    if (depth <= 0 || !__atomic_load_n(&unwind.step, __ATOMIC_ACQUIRE))
        return;
    if (depth > ZC_MAX_FRAMES)
        depth = ZC_MAX_FRAMES;
    unw_context_t context;
    unw_cursor_t cursor;
    if (unwind.getcontext(&context) < 0 || unwind.init_local(&cursor, &context) < 0)
        return;
    int n = 0, start = -1;
    while (n < depth + 8 && unwind.step(&cursor) > 0) {
        unw_word_t ip = 0, off = 0;
        unwind.get_reg(&cursor, UNW_REG_IP, &ip);
        if (start < 0 && ip == (uintptr_t)cs->site) {
            start = n;
            if (unwind.get_proc_name(&cursor, cs->name, sizeof cs->name, &off) == 0)
                cs->name_off = off - 1;
            else
                cs->name[0] = 0;
        }
        raw[n++] = ip;
    }
    if (start < 0)
        start = 0;  /* site not found (tail call): keep all we have */
    for (int i = start; i < n && cs->nframes < depth; i++)
        cs->frames[cs->nframes++] = raw[i];
}

/* module+offset, the offset in the module's own addresses (what addr2line
 * wants), then (function+offset) when a symbol is known. */
static void put_frame_named(struct line *l, uintptr_t pc, const char *name, uintptr_t name_off)
{
    Dl_info info;
    if (!dladdr((void *)pc, &info) || !info.dli_fname) {
        line_put_hex(l, pc);
        return;
    }
    uintptr_t base = (uintptr_t)info.dli_fbase;
    /* A non-PIE executable is linked at its load address. */
    if (base && ((const Elf64_Ehdr *)base)->e_type == ET_EXEC)
        base = 0;
    line_put_value(l, info.dli_fname[0] == '/' || !exe_path[0] ? info.dli_fname : exe_path);
    line_put(l, "+");
    line_put_hex(l, pc - base);
    if (!name || !name[0]) {
        name = info.dli_sname;
        name_off = pc - (uintptr_t)info.dli_saddr;
    }
    if (name) {
        line_put(l, "(");
        line_put_value(l, name);
        line_put(l, "+");
        line_put_hex(l, name_off);
        line_put(l, ")");
    }
}

/* Return addresses point after the call; minus one names the call's line. */
void zc_callsite_put(struct line *l, const struct zc_callsite *cs)
{
    put_frame_named(l, (uintptr_t)cs->site - 1, cs->name, cs->name_off);
}

void zc_callsite_put_frame(struct line *l, const struct zc_callsite *cs, int i)
{
    put_frame_named(l, cs->frames[i] - 1, NULL, 0);
}
