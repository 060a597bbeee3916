/* zcopy: the command.
 *
 *   zcopy run [options] -- cmd [args...]   run cmd with libzcopy.so preloaded
 *   zcopy [options] [--] cmd [args...]     the same, exec'd in place
 *   zcopy report [--json] LOG...           merge decision logs (zcopy-report)
 *   zcopy doctor [--] cmd                  can preloading work for cmd?
 *
 * Options only become ZCOPY_* environment variables; the library does the
 * rest.  To add an option: one line in `run_options`, one in usage() and a
 * case in parse_run_options().  One function per subcommand: cmd_run(),
 * cmd_report(), cmd_doctor(). */
#define _GNU_SOURCE
#include "common.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#ifndef ZCOPY_LIBDIR
#define ZCOPY_LIBDIR "/usr/local/lib/zcopy"
#endif
#define REPORT_NAME "zcopy-report"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: zcopy run [options] [--] command [args...]\n"
            "       zcopy [options] [--] command [args...]\n"
            "       zcopy report [--json] LOG...\n"
            "       zcopy doctor [--] command\n"
            "\n"
            "run: runs command with libzcopy.so preloaded: its read/write copy loops become\n"
            "sendfile, splice or copy_file_range where that changes nothing it can see.\n"
            "zcopy waits for it and exits with its status (128+N if signal N killed it);\n"
            "signals sent to zcopy go to the command.  Without `run`, zcopy execs it.\n"
            "\n"
            "  -m, --mode=MODE        safe (default: prove bytes unchanged), trust, off,\n"
            "                         diag (change nothing, report every copy pattern)\n"
            "  -b, --min-bytes=N      leave writes smaller than N bytes alone (default 16384)\n"
            "  -s, --stats[=DEST]     print a summary at exit to stderr, or to file DEST\n"
            "  -l, --log=DEST         log decisions per call site to DEST (stderr or a file)\n"
            "  -j, --json             write that log as JSON, one object per line\n"
            "      --log-level=LEVEL  summary, decisions (default) or debug\n"
            "      --backtrace=N      frames kept per call site, 0-16\n"
            "  -n, --no-children      preload into command only, not into what it starts\n"
            "  -h, --help             this text\n"
            "      --version          print the version\n"
            "  (%%p in a file name becomes the pid of each process)\n"
            "\n"
            "report: merges the logs of several processes into one table per call site,\n"
            "largest first, with a suggested action.  --json prints a JSON array.\n"
            "\n"
            "doctor: says whether preloading can work for command, and why not\n"
            "(static, Go, setuid/setcap, not glibc, already preloaded), and whether this\n"
            "kernel has sendfile, splice and copy_file_range.  Exit 0 if it can work.\n"
            "\n"
            "Exit status: 2 for a usage error, 127 when the command is not found.\n");
}

/* Prints "zcopy: <what>" and where to read more on stderr; returns 2. */
static int usage_error(const char *fmt, const char *arg)
{
    fputs("zcopy: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nzcopy: see zcopy --help\n", stderr);
    return 2;
}

/* A file of zcopy's: beside this binary (the build tree), else in
 * ../lib/zcopy from it (an install whose PREFIX the binary was not built
 * with), else in LIBDIR. */
static void find_beside(const char *name, char *buf, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        const char *dir = dirname(exe);
        snprintf(buf, size, "%s/%s", dir, name);
        if (access(buf, R_OK) == 0)
            return;
        char installed[PATH_MAX + 32];
        snprintf(installed, sizeof installed, "%s/../lib/zcopy/%s", dir, name);
        if (access(installed, R_OK) == 0 && realpath(installed, exe) && strlen(exe) < size) {
            strcpy(buf, exe);
            return;
        }
    }
    snprintf(buf, size, "%s/%s", ZCOPY_LIBDIR, name);
}

/* An LD_PRELOAD-style list (':' or ' ' separated) names a libzcopy.so, at
 * whatever path: a second copy from another path would interpose twice. */
static bool names_zcopy(const char *list)
{
    size_t len = strlen(ZCOPY_LIB_NAME);
    for (const char *p = list; p && *p;) {
        size_t n = strcspn(p, ": \t\n");
        if (n >= len && !strncmp(p + n - len, ZCOPY_LIB_NAME, len) && (n == len || p[n - len - 1] == '/'))
            return true;
        p += n;
        p += strspn(p, ": \t\n");
    }
    return false;
}

/* Prepends lib to LD_PRELOAD unless a libzcopy.so is already there. */
static int add_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    if (!old || !*old)
        return setenv("LD_PRELOAD", lib, 1);
    if (names_zcopy(old))
        return 0;
    char *joined;
    if (asprintf(&joined, "%s:%s", lib, old) < 0)
        return -1;
    return setenv("LD_PRELOAD", joined, 1);
}

/* ---- run: options ---- */

enum { OPT_VERSION = 256, OPT_LOG_LEVEL, OPT_BACKTRACE };

static const struct option run_options[] = {
    { "mode", required_argument, NULL, 'm' },
    { "min-bytes", required_argument, NULL, 'b' },
    { "stats", optional_argument, NULL, 's' },
    { "log", required_argument, NULL, 'l' },
    { "json", no_argument, NULL, 'j' },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "backtrace", required_argument, NULL, OPT_BACKTRACE },
    { "no-children", no_argument, NULL, 'n' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, OPT_VERSION },
    { 0 },
};

static bool one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (!strcmp(s, *words))
            return true;
    return false;
}

/* The library's own syntax (settings.c): digits, then an optional k or m. */
static bool is_size(const char *s, unsigned long long max)
{
    char *end;
    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end == 'k' || *end == 'K' || *end == 'm' || *end == 'M')
        end++;
    return !errno && !*end && v <= max;
}

/* ZCOPY_STATS and ZCOPY_LOG: a relative path made absolute here, because
 * the library opens it from wherever the program has gone by then
 * (daemons chdir to /). */
static void set_dest(const char *name, const char *dest)
{
    char cwd[PATH_MAX], *path = NULL;
    if (dest[0] != '/' && !one_of(dest, (const char *const[]){ "0", "1", "-", "stderr", NULL }) &&
        getcwd(cwd, sizeof cwd) && asprintf(&path, "%s/%s", cwd, dest) > 0)
        dest = path;
    setenv(name, dest, 1);
    free(path);
}

/* Sets ZCOPY_* from argv's options.  Returns argv's index of the command,
 * or 0 when zcopy is done: *status is 0 after --help or --version, 2 after a
 * usage error (already told). */
static int parse_run_options(int argc, char **argv, int *status)
{
    static const char *const modes[] = { "safe", "trust", "off", "diag", NULL };
    static const char *const levels[] = { "summary", "decisions", "debug", NULL };
    const char *bad = NULL;
    int c;
    *status = 2;
    optind = 1;
    argv[0] = "zcopy";  /* getopt's messages name it */
    /* '+': stop at the first non-option, so the command keeps its own options. */
    while (!bad && (c = getopt_long(argc, argv, "+m:b:s::l:jnh", run_options, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (!one_of(optarg, modes))
                bad = "bad --mode '%s' (safe, trust, off or diag)";
            setenv(ZCOPY_ENV_MODE, optarg, 1);
            break;
        case 'b':
            if (!is_size(optarg, ~0ull))
                bad = "bad --min-bytes '%s' (bytes, or a number with k or m)";
            setenv(ZCOPY_ENV_MIN_BYTES, optarg, 1);
            break;
        case 's': set_dest(ZCOPY_ENV_STATS, optarg ? optarg : "1"); break;
        case 'l': set_dest(ZCOPY_ENV_LOG, optarg); break;
        case 'j': setenv(ZCOPY_ENV_LOG_FORMAT, "json", 1); break;
        case OPT_LOG_LEVEL:
            if (!one_of(optarg, levels))
                bad = "bad --log-level '%s' (summary, decisions or debug)";
            setenv(ZCOPY_ENV_LOG_LEVEL, optarg, 1);
            break;
        case OPT_BACKTRACE:
            if (!is_size(optarg, 16) || strpbrk(optarg, "kKmM"))
                bad = "bad --backtrace '%s' (0 to 16 frames)";
            setenv(ZCOPY_ENV_BACKTRACE, optarg, 1);
            break;
        case 'n': setenv(ZCOPY_ENV_NO_CHILDREN, "1", 1); break;
        case 'h':
            usage(stdout);
            *status = 0;
            return 0;
        case OPT_VERSION:
            printf("zcopy %s\n", ZCOPY_VERSION);
            *status = 0;
            return 0;
        default:  /* getopt has said what was wrong */
            fputs("zcopy: see zcopy --help\n", stderr);
            return 0;
        }
    }
    if (bad)
        usage_error(bad, optarg);
    else if (optind >= argc)
        usage_error("%s", "no command given");
    else
        return optind;
    return 0;
}

static void preload_library(const char *cmd)
{
    char lib[PATH_MAX + 32];
    find_beside(ZCOPY_LIB_NAME, lib, sizeof lib);
    if (access(lib, R_OK) != 0)
        fprintf(stderr, "zcopy: %s not found; running %s unaccelerated\n", lib, cmd);
    else if (add_preload(lib) != 0)
        fprintf(stderr, "zcopy: cannot set LD_PRELOAD: %s\n", strerror(errno));
}

/* Does not return: the shell's statuses for a command that cannot run. */
static void exec_command(char **argv)
{
    execvp(argv[0], argv);
    int err = errno;
    fprintf(stderr, "zcopy: %s: %s\n", argv[0], strerror(err));
    _exit(err == ENOENT ? 127 : 126);
}

/* ---- run: the child and its signals ---- */

static const int forwarded_signals[] = { SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM, SIGWINCH };
#define N_FORWARDED (sizeof forwarded_signals / sizeof forwarded_signals[0])
static volatile pid_t run_child;

static void forward_signal(int sig, siginfo_t *info, void *context)
{
    (void)context;
    /* A terminal's ^C, ^\ and resize go to its whole foreground process
     * group (si_code SI_KERNEL): the child got its own copy already. */
    if (info->si_code == SI_KERNEL)
        return;
    if (run_child > 0)
        kill(run_child, sig);
}

/* fork, not exec, so that zcopy can say how the child ended. */
static int cmd_run(int argc, char **argv)
{
    int status, first = parse_run_options(argc, argv, &status);
    if (!first)
        return status;
    preload_library(argv[first]);

    /* Blocked until run_child is set: a signal in between is not lost.  An
     * ignored signal stays ignored, for zcopy and the child (nohup, and
     * SIGINT for a background job of a shell without job control). */
    sigset_t forwarded, saved;
    sigemptyset(&forwarded);
    struct sigaction sa = { .sa_sigaction = forward_signal, .sa_flags = SA_SIGINFO | SA_RESTART }, old;
    for (size_t i = 0; i < N_FORWARDED; i++) {
        if (sigaction(forwarded_signals[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
            continue;
        sigaddset(&forwarded, forwarded_signals[i]);
        sigaction(forwarded_signals[i], &sa, NULL);
    }
    sigprocmask(SIG_BLOCK, &forwarded, &saved);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(stderr, "zcopy: fork: %s\n", strerror(errno));
        return 126;
    }
    if (pid == 0) {
        /* Default dispositions before unblocking: a pending SIGTERM must
         * kill the child, not reach a handler with no one to forward to. */
        for (size_t i = 0; i < N_FORWARDED; i++)
            if (sigismember(&forwarded, forwarded_signals[i]))
                signal(forwarded_signals[i], SIG_DFL);
        /* zcopy killed (SIGKILL cannot be forwarded): the child follows. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(128 + SIGTERM);
        sigprocmask(SIG_SETMASK, &saved, NULL);
        exec_command(&argv[first]);
    }
    run_child = pid;
    sigprocmask(SIG_SETMASK, &saved, NULL);
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            fprintf(stderr, "zcopy: waitpid: %s\n", strerror(errno));
            return 126;
        }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}

/* zcopy [options] [--] cmd: the original form; nothing of zcopy stays. */
static int cmd_exec(int argc, char **argv)
{
    int status, first = parse_run_options(argc, argv, &status);
    if (!first)
        return status;
    preload_library(argv[first]);
    exec_command(&argv[first]);
    return 126;
}

/* ---- report: shim/zcopy-report, a Python script ---- */

static int cmd_report(int argc, char **argv)
{
    char script[PATH_MAX + 32];
    find_beside(REPORT_NAME, script, sizeof script);
    argv[0] = REPORT_NAME;
    (void)argc;
    execv(script, argv);
    if (errno == ENOENT && access(script, X_OK) == 0)
        fprintf(stderr, "zcopy: report: %s needs python3\n", script);
    else
        fprintf(stderr, "zcopy: report: %s: %s\n", script, strerror(errno));
    return 127;
}

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
    if (names_zcopy(env))
        verdict(false, "already preloaded: LD_PRELOAD=%s", env);
    else if (names_zcopy(global))
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

static int cmd_doctor(int argc, char **argv)
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
        if (!resolve_command(interp, path, sizeof path)) {
            fprintf(stderr, "zcopy: doctor: script interpreter %s: not found\n", interp);
            return 1;
        }
        printf("runs %s\n", path);
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
    munmap(map, f.size);
    doctor_privileges(path, &st);
    doctor_preloaded();
    doctor_kernel();
    printf("zcopy %s work for %s\n", doctor_failures ? "cannot" : "can", argv[first]);
    return doctor_failures ? 1 : 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "run"))
        return cmd_run(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "report"))
        return cmd_report(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "doctor"))
        return cmd_doctor(argc - 1, argv + 1);
    return cmd_exec(argc, argv);
}
