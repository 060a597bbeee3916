/* zcopy doctor [--] cmd: can preloading work for cmd?  Reads cmd's ELF
 * headers (static? Go? the loader libzcopy.so needs?), its privileges
 * (setuid, setgid, capabilities), the environment (already preloaded?) and
 * the kernel (the fast calls).  Part of the zcopy command, not the library. */
#define _GNU_SOURCE
#include "command.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

/* ---- doctor: what the loader will do with cmd ---- */

/* One finding per line: "ok", "FAIL" (zcopy cannot work: exit 1), "note". */
static int doctor_failures;

static void finding(const char *tag, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void finding(const char *tag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    printf("  %-6s", tag);
    vprintf(fmt, ap);
    putchar('\n');
    va_end(ap);
    doctor_failures += !strcmp(tag, "FAIL");
}

#define verdict(ok, ...) finding((ok) ? "ok" : "FAIL", __VA_ARGS__)

/* execvp's lookup: a name with a '/' as is, else the first executable
 * regular file in PATH. */
static bool resolve_command(const char *name, char *out, size_t size)
{
    struct stat st;
    if (strchr(name, '/')) {
        snprintf(out, size, "%s", name);
        return stat(out, &st) == 0;
    }
    const char *path = getenv("PATH");
    if (!path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (const char *p = path;; p++) {
        size_t n = strcspn(p, ":");
        snprintf(out, size, "%.*s%s%s", (int)n, p, n ? "/" : "", name);
        if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
            return true;
        p += n;
        if (!*p)
            return false;
    }
}

struct elf_file {
    const unsigned char *data;
    size_t size;
};

static bool in_file(const struct elf_file *f, uint64_t off, uint64_t len)
{
    return off <= f->size && len <= f->size - off;
}

/* The ELF header of the library (else of zcopy itself): the class and
 * machine a program needs for the loader to accept libzcopy.so. */
static bool native_elf(Elf64_Half *machine, unsigned char *class)
{
    char lib[PATH_MAX + 32];
    find_beside(ZCOPY_LIB_NAME, lib, sizeof lib);
    Elf64_Ehdr eh;
    int fd = open(lib, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        fd = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
    bool ok = fd >= 0 && read(fd, &eh, sizeof eh) == (ssize_t)sizeof eh;
    if (fd >= 0)
        close(fd);
    *machine = ok ? eh.e_machine : 0;
    *class = ok ? eh.e_ident[EI_CLASS] : 0;
    return ok;
}

/* Go's build ID: an ELF note named "Go" of type 4 (cmd/internal/buildid). */
static bool has_go_note(const struct elf_file *f, uint64_t off, uint64_t size)
{
    while (size >= sizeof(Elf64_Nhdr) && in_file(f, off, size)) {
        const Elf64_Nhdr *nh = (const Elf64_Nhdr *)(f->data + off);
        uint64_t name = (nh->n_namesz + 3) & ~3ull, desc = (nh->n_descsz + 3) & ~3ull;
        if (nh->n_type == 4 && nh->n_namesz == 3 && in_file(f, off + sizeof *nh, 3) &&
            !memcmp(f->data + off + sizeof *nh, "Go", 3))
            return true;
        if (sizeof *nh + name + desc > size)
            break;
        off += sizeof *nh + name + desc;
        size -= sizeof *nh + name + desc;
    }
    return false;
}

/* Section names and the undefined dynamic symbols zcopy hooks. */
static void scan_sections(const struct elf_file *f, const Elf64_Ehdr *eh, bool *go, char *imports, size_t isize)
{
    static const char *const hooked[] = {
#define HOOK(ret, name, params) #name,
#include "hooks.def"
#undef HOOK
        NULL,
    };
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(f->data + eh->e_shoff);
    if (!eh->e_shoff || !in_file(f, eh->e_shoff, (uint64_t)eh->e_shnum * sizeof *sh) ||
        eh->e_shstrndx >= eh->e_shnum)
        return;
    const Elf64_Shdr *names = &sh[eh->e_shstrndx];
    for (int i = 0; i < eh->e_shnum; i++) {
        uint64_t name = names->sh_offset + sh[i].sh_name;
        const char *section = (const char *)f->data + name;
        if (in_file(f, name, 1) && memchr(section, 0, f->size - name) &&
            (!strcmp(section, ".go.buildinfo") || !strcmp(section, ".note.go.buildid")))
            *go = true;
        if (sh[i].sh_type == SHT_NOTE && has_go_note(f, sh[i].sh_offset, sh[i].sh_size))
            *go = true;
        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
            continue;
        const Elf64_Shdr *str = &sh[sh[i].sh_link];
        if (!in_file(f, sh[i].sh_offset, sh[i].sh_size) || !in_file(f, str->sh_offset, str->sh_size))
            continue;
        const Elf64_Sym *sym = (const Elf64_Sym *)(f->data + sh[i].sh_offset);
        for (size_t k = 0; k < sh[i].sh_size / sizeof *sym; k++) {
            if (sym[k].st_shndx != SHN_UNDEF || sym[k].st_name >= str->sh_size)
                continue;
            const char *name = (const char *)f->data + str->sh_offset + sym[k].st_name;
            if (!memchr(name, 0, str->sh_size - sym[k].st_name) || !one_of(name, hooked))
                continue;
            if (*imports)
                strncat(imports, " ", isize - strlen(imports) - 1);
            strncat(imports, name, isize - strlen(imports) - 1);
        }
    }
}

/* What the loader will do with the binary: class, machine, interpreter, Go. */
static void doctor_elf(const char *path, const struct elf_file *f)
{
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)f->data;
    Elf64_Half machine;
    unsigned char class;
    if (!in_file(f, 0, EI_NIDENT) || memcmp(eh->e_ident, ELFMAG, SELFMAG)) {
        verdict(false, "%s is neither an ELF binary nor a #! script", path);
        return;
    }
    if (native_elf(&machine, &class) &&
        (eh->e_ident[EI_CLASS] != class || !in_file(f, 0, sizeof *eh) || eh->e_machine != machine)) {
        verdict(false, "built for another class or machine (ELF%s, machine %d): the loader skips %s",
                eh->e_ident[EI_CLASS] == ELFCLASS32 ? "32" : "64", eh->e_machine, ZCOPY_LIB_NAME);
        return;
    }
    char interp[PATH_MAX] = "";
    const Elf64_Phdr *ph = (const Elf64_Phdr *)(f->data + eh->e_phoff);
    bool go = false;
    if (!in_file(f, eh->e_phoff, (uint64_t)eh->e_phnum * sizeof *ph)) {
        verdict(false, "truncated ELF file");
        return;
    }
    for (int i = 0; i < eh->e_phnum; i++) {
        if (ph[i].p_type == PT_INTERP && in_file(f, ph[i].p_offset, ph[i].p_filesz) && ph[i].p_filesz < sizeof interp)
            snprintf(interp, sizeof interp, "%.*s", (int)ph[i].p_filesz, (const char *)f->data + ph[i].p_offset);
        if (ph[i].p_type == PT_NOTE && has_go_note(f, ph[i].p_offset, ph[i].p_filesz))
            go = true;
    }
    char imports[1024] = "";
    scan_sections(f, eh, &go, imports, sizeof imports);

    if (!interp[0]) {
        verdict(false, "static binary (no PT_INTERP): no dynamic loader runs, so nothing reads LD_PRELOAD");
        return;
    }
    const char *base = strrchr(interp, '/') ? strrchr(interp, '/') + 1 : interp;
    /* ld64.so.*: glibc's loader name on ppc64 and s390x. */
    bool glibc = !strncmp(base, "ld-linux", 8) || !strncmp(base, "ld64.so.", 8);
    verdict(glibc, glibc ? "dynamic, glibc's loader %s" : "loader %s is not glibc's: libzcopy.so is built for glibc",
            interp);
    verdict(!go, go ? "Go binary: Go makes its system calls without libc, so no hook sees them"
                    : "not a Go binary");
    if (*imports)
        finding("note", "calls these hooked functions itself: %s", imports);
    else
        finding("note", "calls none of zcopy's hooks itself (copies through stdio or its libraries are not seen)");
}

/* setuid, setgid and file capabilities put the loader in secure-execution
 * mode (AT_SECURE), where it ignores an LD_PRELOAD path, when they change
 * the caller's ids or raise its capabilities (security/commoncap.c). */
static void doctor_privileges(const char *path, const struct stat *st)
{
    struct statvfs vfs;
    if (statvfs(path, &vfs) == 0 && (vfs.f_flag & ST_NOSUID)) {
        verdict(true, "on a nosuid filesystem: setuid, setgid and capabilities do not apply");
        return;
    }
    bool setuid_other = (st->st_mode & S_ISUID) && st->st_uid != getuid();
    bool setgid_other = (st->st_mode & S_ISGID) && st->st_gid != getgid();
    bool caps = getxattr(path, "security.capability", NULL, 0) > 0;
    if (setuid_other || setgid_other)
        verdict(false, "set%sid to %s %u: the loader ignores LD_PRELOAD (secure-execution mode)",
                setuid_other ? "u" : "g", setuid_other ? "uid" : "gid",
                setuid_other ? (unsigned)st->st_uid : (unsigned)st->st_gid);
    else if (caps && getuid() != 0)
        verdict(false, "file capabilities (security.capability): the loader ignores LD_PRELOAD");
    else if (st->st_mode & (S_ISUID | S_ISGID) || caps)
        verdict(true, "%s, but run by you it gains nothing: preloading works for you, not for other users",
                caps ? "file capabilities" : st->st_mode & S_ISUID ? "setuid" : "setgid");
    else
        verdict(true, "no setuid, setgid or file capabilities");
}

static void doctor_preloaded(void)
{
    const char *env = getenv("LD_PRELOAD");
    char global[4096] = "";
    int fd = open("/etc/ld.so.preload", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t n = read(fd, global, sizeof global - 1);
        global[n > 0 ? n : 0] = 0;
        close(fd);
    }
    if (zc_preload_names_zcopy(env))
        verdict(false, "already preloaded: LD_PRELOAD=%s", env);
    else if (zc_preload_names_zcopy(global))
        verdict(false, "already preloaded into every program by /etc/ld.so.preload");
    else
        verdict(true, "not preloaded yet (LD_PRELOAD, /etc/ld.so.preload)");
}

/* Bad fds: a kernel with the call says EBADF, one without says ENOSYS.
 * splice returns 0 for a zero length before it looks at the fds. */
static void doctor_kernel(void)
{
    static const struct { const char *name; long nr; } calls[] = {
        { "sendfile", SYS_sendfile },
        { "splice", SYS_splice },
        { "copy_file_range", SYS_copy_file_range },
    };
    int missing = 0;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        long r = calls[i].nr == SYS_sendfile ? syscall(SYS_sendfile, -1, -1, NULL, 1)
                                             : syscall(calls[i].nr, -1, NULL, -1, NULL, 1, 0);
        int err = r < 0 ? errno : 0;
        if (err == ENOSYS)
            missing++;
        if (err == EBADF)
            finding("ok", "kernel has %s", calls[i].name);
        else  /* ENOSYS, or EPERM from a seccomp filter: the plain call is kept */
            finding("note", "kernel: %s: %s (zcopy falls back to the plain call)", calls[i].name,
                    err ? strerror(err) : "accepted bad fds");
    }
    if (missing == 3)
        verdict(false, "this kernel has none of the calls zcopy rewrites into");
}

/* ---- doctor: seccomp ---- */

/* The system calls zcopy makes that a program that copies with read and
 * write may never make itself, with arguments that do nothing: each is
 * expected to fail with EBADF (or succeed, want 0).  A seccomp filter
 * (systemd's SystemCallFilter=, a container's profile) is inherited by the
 * command: one that refuses these calls with an errno only makes zcopy
 * fall back, one that kills would kill the command at zcopy's call. */
static const struct {
    const char *name;
    long nr, a[6];
    int want;
} zcopy_calls[] = {
    { "sendfile", SYS_sendfile, { -1, -1, 0, 1 }, EBADF },
    { "splice", SYS_splice, { -1, 0, -1, 0, 1, 0 }, EBADF },
    { "copy_file_range", SYS_copy_file_range, { -1, 0, -1, 0, 1, 0 }, EBADF },
    { "fstat", SYS_fstat, { -1, 0 }, EBADF },
    { "fstatfs", SYS_fstatfs, { -1, 0 }, EBADF },
    { "lseek", SYS_lseek, { -1, 0, SEEK_CUR }, EBADF },
    { "fcntl", SYS_fcntl, { -1, F_GETFL }, EBADF },
    { "getsockopt", SYS_getsockopt, { -1, SOL_SOCKET, SO_TYPE, 0, 0 }, EBADF },
    { "setsockopt", SYS_setsockopt, { -1, 0, 0, 0, 0 }, EBADF },
    { "ioctl", SYS_ioctl, { -1, 0x541B /* FIONREAD */, 0 }, EBADF },
    { "mmap", SYS_mmap, { 0, 4096, PROT_READ, MAP_SHARED, -1, 0 }, EBADF },
    { "poll", SYS_poll, { 0, 0, 0 }, 0 },
    { "rt_sigprocmask", SYS_rt_sigprocmask, { SIG_BLOCK, 0, 0, 8 }, 0 },
    { "clock_gettime", SYS_clock_gettime, { CLOCK_THREAD_CPUTIME_ID, 0 }, EFAULT },
    { "getpid", SYS_getpid, { 0 }, 0 },
    /* sock_diag: how much a TCP peer still holds (inflight.c) */
    { "socket(AF_NETLINK)", SYS_socket, { AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, 4 /* NETLINK_SOCK_DIAG */ }, 0 },
};

/* Seccomp mode from /proc/self/status: 0 none, 1 strict, 2 filter; -1 unknown. */
static int seccomp_mode(void)
{
    char text[8192];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
    if (fd >= 0)
        close(fd);
    text[n > 0 ? n : 0] = 0;
    const char *line = strstr(text, "\nSeccomp:");
    return line ? atoi(line + strlen("\nSeccomp:")) : -1;
}

/* Makes one call in a child, which has the same filter: 0 allowed, -1
 * killed by it (SIGSYS or SIGKILL), else the errno it answered instead. */
static int probe_call(size_t i)
{
    pid_t pid = fork();
    if (pid == 0) {
        long r = syscall(zcopy_calls[i].nr, zcopy_calls[i].a[0], zcopy_calls[i].a[1], zcopy_calls[i].a[2],
                         zcopy_calls[i].a[3], zcopy_calls[i].a[4], zcopy_calls[i].a[5]);
        _exit(r < 0 ? (errno & 0xff) : 0);
    }
    int status;
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 0;  /* cannot tell */
    if (WIFSIGNALED(status))
        return -1;
    int err = WEXITSTATUS(status);
    return err == zcopy_calls[i].want || (err == 0 && zcopy_calls[i].want == EFAULT) ? 0 : err;
}

/* Whether zcopy's own calls survive the filter in force here, which the
 * command inherits; and whether the program may install one of its own
 * (the binary names seccomp, or links libseccomp).  Returns true when a
 * filter is in force: the kernel check below must not make its calls here. */
static bool doctor_seccomp(const struct elf_file *f)
{
    static const char word[] = "seccomp";
    bool own = false;
    for (size_t i = 0; !own && f->size >= sizeof word - 1 && i <= f->size - (sizeof word - 1); i++)
        own = f->data[i] == 's' && !memcmp(f->data + i, word, sizeof word - 1);
    if (own)
        finding("note", "the program names seccomp: it may install a seccomp filter of its own; "
                "if that filter refuses zcopy's calls, zcopy falls back, and if it kills, the program dies "
                "(vsftpd: seccomp_sandbox)");
    int mode = seccomp_mode();
    if (mode <= 0) {
        finding("ok", "no seccomp filter in force here (Seccomp: %d in /proc/self/status)", mode < 0 ? 0 : mode);
        return false;
    }
    if (mode == 1) {
        verdict(false, "seccomp strict mode in force here: only read, write and exit are allowed");
        return true;
    }
    int killed = 0, refused = 0;
    char kills[512] = "", refuses[512] = "";
    for (size_t i = 0; i < sizeof zcopy_calls / sizeof zcopy_calls[0]; i++) {
        int r = probe_call(i);
        if (!r)
            continue;
        char *list = r < 0 ? kills : refuses;
        size_t len = strlen(list);
        snprintf(list + len, 512 - len, "%s%s%s%s", len ? ", " : "", zcopy_calls[i].name, r > 0 ? ": " : "",
                 r > 0 ? strerror(r) : "");
        killed += r < 0;
        refused += r > 0;
    }
    if (killed)
        verdict(false, "a seccomp filter is in force here (Seccomp: 2) and kills a process at %s: "
                "zcopy would make these calls and the program would die", kills);
    else
        finding("ok", "a seccomp filter is in force here (Seccomp: 2); it lets zcopy's calls through%s%s%s",
                refused ? ", but refuses " : "", refuses, refused ? " (zcopy does without them)" : "");
    return true;
}

/* "#!interp arg" as the kernel reads it: interp, or arg for "/usr/bin/env
 * prog" (env finds prog through PATH).  False for anything not a script. */
static bool script_interpreter(const char *path, char *out, size_t size)
{
    char line[PATH_MAX];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, line, sizeof line - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n < 2 || line[0] != '#' || line[1] != '!')
        return false;
    line[n] = 0;
    line[strcspn(line, "\n")] = 0;
    char *word = strtok(line + 2, " \t"), *arg = strtok(NULL, " \t");
    if (word && arg && !strcmp(basename(word), "env") && arg[0] != '-')
        word = arg;
    snprintf(out, size, "%s", word ? word : "");
    return true;
}

/* The program a shell script hands itself over to: the last line whose
 * command is exec (after any VAR=value words), its options (-a NAME, -c,
 * -l) and redirections skipped, quotes taken off.  A launcher (a pyenv or
 * rbenv shim, a container entrypoint) runs its interpreter only to exec
 * the program that does the work.  Returns the line number, 0 if none,
 * and in *word the program as written there ("$prog": only the script
 * knows which). */
static int script_exec_target(const char *path, char *word, size_t size)
{
    static char text[65536];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    text[n] = 0;
    int found = 0, number = 0;
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        number++;
        char *save, *w = strtok_r(line, " \t", &save);
        while (w && strchr(w, '=') && w[0] != '=' && w[0] != '-')  /* VAR=value exec ... */
            w = strtok_r(NULL, " \t", &save);
        if (!w || strcmp(w, "exec"))
            continue;
        while ((w = strtok_r(NULL, " \t", &save))) {
            if (!strcmp(w, "-a"))
                w = strtok_r(NULL, " \t", &save);  /* exec -a NAME: argv[0] */
            else if (w[0] == '-' || strpbrk(w, "<>"))
                continue;  /* -c, -l, --, and redirections (2>&1, >file) */
            else
                break;
        }
        if (!w || w[0] == '#' || w[0] == ';')
            continue;  /* exec with redirections only: not a program */
        size_t len = strcspn(w, ";&|");
        if ((w[0] == '"' || w[0] == '\'') && len > 1 && w[len - 1] == w[0]) {
            w++;
            len -= 2;
        }
        snprintf(word, size, "%.*s", (int)len, w);
        found = number;
    }
    return found;
}

/* Says which program a script execs, when the script names it. */
static void doctor_script_exec(const char *script, const char *interp)
{
    char word[PATH_MAX], target[PATH_MAX];
    int line = script_exec_target(script, word, sizeof word);
    if (!line)
        return;
    if (strchr(word, '$') || strchr(word, '`')) {
        finding("note", "%s execs %s (line %d), which only the script knows: that program, not %s, "
                "does the work; run zcopy doctor on it", script, word, line, interp);
        return;
    }
    if (!resolve_command(word, target, sizeof target))
        snprintf(target, sizeof target, "%s", word);
    finding("note", "%s execs %s (line %d): that program, not %s, does the work; "
            "see zcopy doctor %s", script, target, line, interp, target);
}

int cmd_doctor(int argc, char **argv)
{
    int first = argc > 1 && !strcmp(argv[1], "--") ? 2 : 1;
    if (first == 1 && argc > 1 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
        usage(stdout);
        return 0;
    }
    if (first >= argc)
        return usage_error("%s", "doctor: no command given");
    if (argv[first][0] == '-')
        return usage_error("doctor: unknown option '%s'", argv[first]);
    char path[PATH_MAX], interp[PATH_MAX];
    if (!resolve_command(argv[first], path, sizeof path)) {
        fprintf(stderr, "zcopy: doctor: %s: not found\n", argv[first]);
        return 127;
    }
    printf("%s\n", path);
    /* A #! script runs its interpreter: that is what gets preloaded. */
    for (int depth = 0; depth < 4 && script_interpreter(path, interp, sizeof interp); depth++) {
        char script[PATH_MAX];
        snprintf(script, sizeof script, "%s", path);
        if (!resolve_command(interp, path, sizeof path)) {
            fprintf(stderr, "zcopy: doctor: script interpreter %s: not found\n", interp);
            return 1;
        }
        printf("runs %s\n", path);
        doctor_script_exec(script, path);
    }
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0) {
        fprintf(stderr, "zcopy: doctor: %s: %s\n", path, strerror(errno));
        return 1;
    }
    struct elf_file f = { .size = (size_t)st.st_size };
    void *map = f.size ? mmap(NULL, f.size, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
    close(fd);
    if (map == MAP_FAILED) {
        fprintf(stderr, "zcopy: doctor: %s: cannot read it\n", path);
        return 1;
    }
    f.data = map;
    char lib[PATH_MAX + 32];
    find_beside(ZCOPY_LIB_NAME, lib, sizeof lib);
    verdict(access(lib, R_OK) == 0, "library %s%s", lib, access(lib, R_OK) ? ": not found" : "");
    doctor_elf(path, &f);
    bool filtered = doctor_seccomp(&f);
    munmap(map, f.size);
    doctor_privileges(path, &st);
    doctor_preloaded();
    if (!filtered)
        doctor_kernel();  /* under a filter, doctor_seccomp made these calls in children */
    printf("zcopy %s work for %s\n", doctor_failures ? "cannot" : "can", argv[first]);
    return doctor_failures ? 1 : 0;
}
