/* Call sites: where in the program a hook was called from, its backtrace,
 * and how both are named in a log line (module+offset, function+offset).
 * Below log.c, which keeps one per aggregated decision; calls only libc,
 * libunwind and the line formatter.
 *
 * Hazards:
 * - Captured from hooks, which run in signal handlers and any thread: no
 *   malloc, no lock, no stdio.
 * - A first decision can be logged from a signal handler, which may have
 *   interrupted the loader or malloc in this very thread: nothing here
 *   takes their locks.  Backtraces come from libunwind's unw_step, which
 *   neither allocates nor locks with caching off (its unw_get_proc_name
 *   allocates: not used).  Addresses become module+offset from
 *   /proc/self/maps, and functions are named from the module's ELF symbol
 *   table, both read with plain system calls (dladdr takes the loader's
 *   lock).
 * - libunwind is opened (dlopen) only when a log is kept, from the
 *   constructor: each library in a process is copied by every fork(),
 *   which a fork-per-connection server pays on every connection. */
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
    if (!set_caching_policy || !local_space || !getcontext || !init_local || !step || !get_reg)
        return;
    /* No cache: nothing shared between threads, nothing to lock. */
    set_caching_policy(*local_space, UNW_CACHE_NONE);
    unwind.getcontext = getcontext;
    unwind.init_local = init_local;
    unwind.get_reg = get_reg;
    __atomic_store_n(&unwind.step, step, __ATOMIC_RELEASE);  /* last: the others are set */
}

void zc_callsite_init(void)
{
    unwind_open();
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

static int open_raw(const char *path)
{
    return (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
}

static bool read_at(int fd, void *buf, size_t n, uint64_t off)
{
    return syscall(SYS_pread64, fd, buf, n, (off_t)off) == (ssize_t)n;
}

/* The ELF header of the file at path, read from the file: memory mapped
 * at its offset 0 may be unreadable, or past the end of a truncated file. */
static bool elf_header(int fd, Elf64_Ehdr *eh)
{
    return read_at(fd, eh, sizeof *eh, 0) && !memcmp(eh->e_ident, ELFMAG, SELFMAG) &&
           eh->e_ident[EI_CLASS] == ELFCLASS64 && eh->e_shentsize == sizeof(Elf64_Shdr);
}

/* Fills refs[i] for each of pcs[0..n), in one read of /proc/self/maps.  A
 * module's addresses count from its first mapping (file offset 0), unless
 * it is a non-PIE executable, linked at its load address. */
static void modules_of(const uintptr_t *pcs, int n, struct module_ref *refs)
{
    uintptr_t base_of[ZC_MAX_FRAMES + 1];
    for (int i = 0; i < n; i++)
        refs[i].path[0] = 0;
    int fd = open_raw("/proc/self/maps");
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
                    base = m.start;
                }
                for (int i = 0; i < n && i <= ZC_MAX_FRAMES; i++) {
                    if (pcs[i] < m.start || pcs[i] >= m.end || strlen(m.path) >= sizeof refs[i].path)
                        continue;
                    strcpy(refs[i].path, m.path);
                    bool from_base = !strcmp(m.path, base_path);
                    base_of[i] = from_base ? base : 0;
                    refs[i].offset = from_base ? pcs[i] - base : pcs[i] - m.start + m.offset;
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
    /* A non-PIE executable's addresses are its own. */
    for (int i = 0; i < n && i <= ZC_MAX_FRAMES; i++) {
        Elf64_Ehdr eh;
        if (!refs[i].path[0] || !base_of[i] || (fd = open_raw(refs[i].path)) < 0)
            continue;
        if (elf_header(fd, &eh) && eh.e_type == ET_EXEC)
            refs[i].offset = pcs[i];
        syscall(SYS_close, fd);
    }
}

/* The function of the ELF file fd that holds addr (in the file's own
 * addresses), from its symbol table (static functions too), else from its
 * dynamic one: its name, and addr's offset in it. */
static bool elf_function(int fd, uintptr_t addr, char *name, size_t size, uintptr_t *name_off)
{
    Elf64_Ehdr eh;
    Elf64_Shdr sh, symtab = { 0 }, strtab;
    if (!elf_header(fd, &eh))
        return false;
    for (unsigned i = 0; i < eh.e_shnum; i++) {
        if (!read_at(fd, &sh, sizeof sh, eh.e_shoff + (uint64_t)i * sizeof sh))
            return false;
        if (sh.sh_type == SHT_SYMTAB || (sh.sh_type == SHT_DYNSYM && symtab.sh_type != SHT_SYMTAB))
            symtab = sh;
    }
    if (!symtab.sh_type || !read_at(fd, &strtab, sizeof strtab, eh.e_shoff + (uint64_t)symtab.sh_link * sizeof sh))
        return false;
    Elf64_Sym syms[64];
    for (uint64_t off = 0; off < symtab.sh_size; off += sizeof syms) {
        size_t chunk = symtab.sh_size - off < sizeof syms ? (size_t)(symtab.sh_size - off) : sizeof syms;
        if (!read_at(fd, syms, chunk, symtab.sh_offset + off))
            return false;
        for (size_t i = 0; i < chunk / sizeof syms[0]; i++) {
            const Elf64_Sym *sym = &syms[i];
            if (ELF64_ST_TYPE(sym->st_info) != STT_FUNC || sym->st_shndx == SHN_UNDEF || addr < sym->st_value ||
                addr >= sym->st_value + sym->st_size)
                continue;
            ssize_t got = syscall(SYS_pread64, fd, name, size - 1, (off_t)(strtab.sh_offset + sym->st_name));
            name[got > 0 ? got : 0] = 0;
            *name_off = addr - sym->st_value;
            return name[0] != 0;
        }
    }
    return false;
}

/* module+offset, then (function+offset) when the symbol table names it. */
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

/* The site's function, from its module's symbol table (libunwind's own
 * lookup allocates, and this may run in a signal handler). */
static void name_site(struct zc_callsite *cs)
{
    uintptr_t pc = (uintptr_t)cs->site - 1;
    struct module_ref ref;
    cs->name[0] = 0;
    modules_of(&pc, 1, &ref);
    int fd = ref.path[0] ? open_raw(ref.path) : -1;
    if (fd < 0)
        return;
    if (!elf_function(fd, ref.offset, cs->name, sizeof cs->name, &cs->name_off))
        cs->name[0] = 0;
    syscall(SYS_close, fd);
}

/* The site's function, and frames from the caller of the hook outwards. */
void zc_callsite_capture(struct zc_callsite *cs, int depth)
{
    uintptr_t raw[ZC_MAX_FRAMES + 8];
    name_site(cs);
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
        unw_word_t ip = 0;
        unwind.get_reg(&cursor, UNW_REG_IP, &ip);
        if (start < 0 && ip == (uintptr_t)cs->site)
            start = n;
        raw[n++] = ip;
    }
    if (start < 0)
        start = 0;  /* site not found (tail call): keep all we have */
    for (int i = start; i < n && cs->nframes < depth; i++)
        cs->frames[cs->nframes++] = raw[i];
}
