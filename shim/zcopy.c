/* zcopy: the command.
 *
 *   zcopy run [options] -- cmd [args...]   run cmd with libzcopy.so preloaded
 *   zcopy [options] [--] cmd [args...]     the same, exec'd in place
 *   zcopy report [--json] LOG...           merge decision logs (zcopy-report)
 *   zcopy doctor [--] cmd                  can preloading work for cmd?
 *   zcopy stats [--watch N] [--json|--prometheus] [PID...]
 *                                          counters of running processes
 *
 * Options only become ZCOPY_* environment variables; the library does the
 * rest.  To add an option: one line in `run_options`, one in usage() and a
 * case in parse_run_options().  One function per subcommand: cmd_run(),
 * cmd_report(), cmd_doctor() in doctor.c and cmd_stats() in stats_cmd.c. */
#define _GNU_SOURCE
#include "command.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPORT_NAME "zcopy-report"

void usage(FILE *out)
{
    fprintf(out,
            "usage: zcopy run [options] [--] command [args...]\n"
            "       zcopy [options] [--] command [args...]\n"
            "       zcopy report [--json] LOG...\n"
            "       zcopy doctor [--] command\n"
            "       zcopy stats [--watch N] [--json | --prometheus] [PID...]\n"
            "\n"
            "run: runs command with libzcopy.so preloaded: its read/write copy loops become\n"
            "sendfile, splice or copy_file_range where that changes nothing it can see.\n"
            "zcopy waits for it and exits with its status (128+N if signal N killed it);\n"
            "signals sent to zcopy go to the command.  Without `run`, zcopy execs it.\n"
            "\n"
            "  -m, --mode=MODE        safe (default: prove bytes unchanged), trust, off,\n"
            "                         diag (change nothing, report every copy pattern)\n"
            "  -b, --min-bytes=N      leave writes smaller than N bytes alone (default 8192)\n"
            "      --calibrate=on|off on (default): per call site, rewrite only where the\n"
            "                         fast call measured cheaper; off: every eligible write\n"
            "      --file-to-file=HOW clone (default: only where copy_file_range shares\n"
            "                         blocks: xfs, btrfs, zfs) or always\n"
            "  -s, --stats[=DEST]     print a summary at exit to stderr, or to file DEST\n"
            "  -l, --log=DEST         log decisions per call site to DEST (stderr or a file)\n"
            "  -j, --json             write that log as JSON, one object per line\n"
            "      --log-level=LEVEL  summary, decisions (default) or debug\n"
            "      --backtrace=N      frames kept per call site, 0-16\n"
            "  -n, --no-children      preload into command only, not into what it starts\n"
            "  -h, --help             this text\n"
            "  -V, --version          print the version\n"
            "  (%%p in a file name becomes the pid of each process)\n"
            "\n"
            "report: merges the logs of several processes into one table per call site,\n"
            "largest first, with a suggested action.  --json prints a JSON array.\n"
            "\n"
            "doctor: says whether preloading can work for command, and why not\n"
            "(static, Go, setuid/setcap, not glibc, already preloaded), and whether this\n"
            "kernel has sendfile, splice and copy_file_range.  Exit 0 if it can work.\n"
            "\n"
            "stats: what running processes under zcopy have done so far, as the summary\n"
            "prints it (all of your processes, or root: everyone's, without PIDs).\n"
            "--watch N refreshes every N seconds with bytes/s; --json prints one object a\n"
            "process a line; --prometheus, node_exporter's textfile format.  Processes\n"
            "that died without exiting are shown as gone, and their files removed.\n"
            "\n"
            "Exit status: 2 for a usage error, 127 when the command is not found.\n");
}

/* Prints "zcopy: <what>" and where to read more on stderr; returns 2. */
int usage_error(const char *fmt, const char *arg)
{
    fputs("zcopy: ", stderr);
    fprintf(stderr, fmt, arg);
    fputs("\nzcopy: see zcopy --help\n", stderr);
    return 2;
}

/* A file of zcopy's: beside this binary (the build tree), else in
 * ../lib/zcopy from it (an install whose PREFIX the binary was not built
 * with), else in LIBDIR. */
void find_beside(const char *name, char *buf, size_t size)
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

/* Prepends lib to LD_PRELOAD unless a libzcopy.so is already there. */
static int add_preload(const char *lib)
{
    const char *old = getenv("LD_PRELOAD");
    if (!old || !*old)
        return setenv("LD_PRELOAD", lib, 1);
    if (zc_preload_names_zcopy(old))
        return 0;
    char *joined;
    if (asprintf(&joined, "%s:%s", lib, old) < 0)
        return -1;
    return setenv("LD_PRELOAD", joined, 1);
}

/* ---- run: options ---- */

enum { OPT_LOG_LEVEL = 256, OPT_BACKTRACE, OPT_FILE_TO_FILE, OPT_CALIBRATE };

static const struct option run_options[] = {
    { "mode", required_argument, NULL, 'm' },
    { "min-bytes", required_argument, NULL, 'b' },
    { "file-to-file", required_argument, NULL, OPT_FILE_TO_FILE },
    { "calibrate", required_argument, NULL, OPT_CALIBRATE },
    { "stats", optional_argument, NULL, 's' },
    { "log", required_argument, NULL, 'l' },
    { "json", no_argument, NULL, 'j' },
    { "log-level", required_argument, NULL, OPT_LOG_LEVEL },
    { "backtrace", required_argument, NULL, OPT_BACKTRACE },
    { "no-children", no_argument, NULL, 'n' },
    { "help", no_argument, NULL, 'h' },
    { "version", no_argument, NULL, 'V' },
    { 0 },
};

bool one_of(const char *s, const char *const *words)
{
    for (; *words; words++)
        if (!strcmp(s, *words))
            return true;
    return false;
}

/* A size as the library reads it (common.h), at most max. */
static bool is_size(const char *s, size_t max)
{
    size_t v;
    return zc_parse_size(s, &v) && v <= max;
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
    const char *bad = NULL;
    int c;
    *status = 2;
    optind = 1;
    argv[0] = "zcopy";  /* getopt's messages name it */
    /* '+': stop at the first non-option, so the command keeps its own options. */
    while (!bad && (c = getopt_long(argc, argv, "+m:b:s::l:jnhV", run_options, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (!one_of(optarg, zc_mode_words))
                bad = "bad --mode '%s' (safe, trust, off or diag)";
            setenv(ZCOPY_ENV_MODE, optarg, 1);
            break;
        case 'b':
            if (!is_size(optarg, SIZE_MAX))
                bad = "bad --min-bytes '%s' (bytes, or a number with k or m)";
            setenv(ZCOPY_ENV_MIN_BYTES, optarg, 1);
            break;
        case OPT_FILE_TO_FILE:
            if (!one_of(optarg, zc_file_to_file_words))
                bad = "bad --file-to-file '%s' (clone or always)";
            setenv(ZCOPY_ENV_FILE_TO_FILE, optarg, 1);
            break;
        case OPT_CALIBRATE:
            if (!one_of(optarg, zc_calibrate_words))
                bad = "bad --calibrate '%s' (on or off)";
            setenv(ZCOPY_ENV_CALIBRATE, optarg, 1);
            break;
        case 's': set_dest(ZCOPY_ENV_STATS, optarg ? optarg : "1"); break;
        case 'l': set_dest(ZCOPY_ENV_LOG, optarg); break;
        case 'j': setenv(ZCOPY_ENV_LOG_FORMAT, "json", 1); break;
        case OPT_LOG_LEVEL:
            if (!one_of(optarg, zc_log_level_words))
                bad = "bad --log-level '%s' (summary, decisions or debug)";
            setenv(ZCOPY_ENV_LOG_LEVEL, optarg, 1);
            break;
        case OPT_BACKTRACE:
            if (!is_size(optarg, ZCOPY_BACKTRACE_MAX))
                bad = "bad --backtrace '%s' (0 to 16 frames)";
            setenv(ZCOPY_ENV_BACKTRACE, optarg, 1);
            break;
        case 'n': setenv(ZCOPY_ENV_NO_CHILDREN, "1", 1); break;
        case 'h':
            usage(stdout);
            *status = 0;
            return 0;
        case 'V':
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

int main(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "run"))
        return cmd_run(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "report"))
        return cmd_report(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "doctor"))
        return cmd_doctor(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "stats"))
        return cmd_stats(argc - 1, argv + 1);
    return cmd_exec(argc, argv);
}
