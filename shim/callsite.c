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
 * - Addresses become module+offset from /proc/self/maps, read with plain
 *   system calls: a first decision can be logged from a signal handler,
 *   which may have interrupted the loader or malloc in this very thread,
 *   so nothing here takes their locks (dladdr takes the loader's). */
#include "zcopy.h"
#include "logline.h"

#define UNW_LOCAL_ONLY
#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <libunwind.h>
#include <limits.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

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

/* Where a code address lies: the file mapped there, and the address in
 * that file's own terms (what addr2line wants). */
struct module_ref {
    char path[192];  /* "": not in a mapped file */
    uintptr_t offset;
};

static uintptr_t parse_hex(const char **p)
{
    uintptr_t v = 0;
    for (;; (*p)++) {
        char c = **p;
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0)
            return v;
        v = v << 4 | (uintptr_t)d;
    }
}

/* One line of /proc/self/maps: "start-end perms offset dev inode path". */
struct map_line {
    uintptr_t start, end, offset;
    const char *path;  /* NUL-terminated; "" for anonymous memory */
};

/* Past the field at p and the spaces after it. */
static const char *next_field(const char *p)
{
    while (*p && *p != ' ')
        p++;
    while (*p == ' ')
        p++;
    return p;
}

static bool parse_map_line(const char *line, struct map_line *m)
{
    const char *p = line;
    m->start = parse_hex(&p);
    if (*p++ != '-')
        return false;
    m->end = parse_hex(&p);
    p = next_field(next_field(p));  /* past end, perms */
    m->offset = parse_hex(&p);
    m->path = next_field(next_field(next_field(p)));  /* past offset, dev, inode */
    return true;
}

/* Fills refs[i] for each of pcs[0..n), in one read of /proc/self/maps.  A
 * module's addresses count from its first mapping (file offset 0), unless
 * it is a non-PIE executable, linked at its load address. */
static void modules_of(const uintptr_t *pcs, int n, struct module_ref *refs)
{
    for (int i = 0; i < n; i++)
        refs[i].path[0] = 0;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, "/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    char buf[4096], base_path[192] = "";
    uintptr_t base = 0;
    size_t have = 0;
    for (;;) {
        ssize_t got = syscall(SYS_read, fd, buf + have, sizeof buf - 1 - have);
        if (got <= 0)
            break;
        have += (size_t)got;
        buf[have] = 0;
        char *line = buf, *nl;
        while ((nl = memchr(line, '\n', have - (size_t)(line - buf)))) {
            *nl = 0;
            struct map_line m;
            if (parse_map_line(line, &m) && m.path[0] == '/') {
                if (m.offset == 0 && strlen(m.path) < sizeof base_path) {
                    strcpy(base_path, m.path);
                    const Elf64_Ehdr *elf = (const Elf64_Ehdr *)m.start;
                    /* Its ELF header is mapped there, readable. */
                    base = !memcmp(elf->e_ident, ELFMAG, SELFMAG) && elf->e_type == ET_EXEC ? 0 : m.start;
                }
                for (int i = 0; i < n; i++) {
                    if (pcs[i] < m.start || pcs[i] >= m.end || strlen(m.path) >= sizeof refs[i].path)
                        continue;
                    strcpy(refs[i].path, m.path);
                    refs[i].offset = !strcmp(m.path, base_path) ? pcs[i] - base : pcs[i] - m.start + m.offset;
                }
            }
            line = nl + 1;
        }
        have -= (size_t)(line - buf);
        memmove(buf, line, have);
        if (have == sizeof buf - 1)
            have = 0;  /* a line longer than the buffer: skipped */
    }
    syscall(SYS_close, fd);
}

/* module+offset, then (function+offset) when libunwind named it. */
static void put_frame_named(struct line *l, uintptr_t pc, const struct module_ref *ref, const char *name,
                            uintptr_t name_off)
{
    if (!ref->path[0]) {
        line_put_hex(l, pc);
        return;
    }
    line_put_value(l, ref->path);
    line_put(l, "+");
    line_put_hex(l, ref->offset);
    if (name && name[0]) {
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
    uintptr_t pc = (uintptr_t)cs->site - 1;
    struct module_ref ref;
    modules_of(&pc, 1, &ref);
    put_frame_named(l, pc, &ref, cs->name, cs->name_off);
}

/* Each frame, BETWEEN between them: one read of the maps for all. */
void zc_callsite_put_frames(struct line *l, const struct zc_callsite *cs, const char *between)
{
    uintptr_t pcs[ZC_MAX_FRAMES];
    struct module_ref refs[ZC_MAX_FRAMES];
    for (int i = 0; i < cs->nframes; i++)
        pcs[i] = cs->frames[i] - 1;
    modules_of(pcs, cs->nframes, refs);
    for (int i = 0; i < cs->nframes; i++) {
        line_put(l, i ? between : "");
        put_frame_named(l, pcs[i], &refs[i], NULL, 0);
    }
}
