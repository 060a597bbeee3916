/* cpuwrap OUTFILE CMD [ARGS...]: runs CMD and, once it has ended, writes
 * the CPU time it used as "USER_SECONDS SYSTEM_SECONDS" to OUTFILE
 * (getrusage(RUSAGE_CHILDREN): every thread, and any child CMD waited for).
 * SIGTERM and SIGINT sent to cpuwrap go to CMD, so a server can be stopped
 * the way it expects.  Exits with CMD's status. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile pid_t child;

static void forward(int sig) { kill(child, sig); }

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: cpuwrap OUTFILE CMD [ARGS...]\n");
        return 2;
    }
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    /* Blocked until the handler knows the child's pid. */
    sigprocmask(SIG_BLOCK, &block, &old);
    child = fork();
    if (child < 0) {
        perror("cpuwrap: fork");
        return 1;
    }
    if (child == 0) {
        /* A background job of a non-interactive shell starts with SIGINT
         * ignored; the command gets the default dispositions back. */
        signal(SIGINT, SIG_DFL);
        signal(SIGTERM, SIG_DFL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        execvp(argv[2], argv + 2);
        perror(argv[2]);
        _exit(127);
    }
    struct sigaction sa = { .sa_handler = forward };
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigprocmask(SIG_SETMASK, &old, NULL);

    int status;
    while (waitpid(child, &status, 0) < 0)
        if (errno != EINTR) {
            perror("cpuwrap: waitpid");
            return 1;
        }
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    FILE *f = fopen(argv[1], "w");
    if (!f || fprintf(f, "%ld.%06ld %ld.%06ld\n", (long)ru.ru_utime.tv_sec,
                      (long)ru.ru_utime.tv_usec, (long)ru.ru_stime.tv_sec,
                      (long)ru.ru_stime.tv_usec) < 0 || fclose(f) != 0) {
        perror(argv[1]);
        return 1;
    }
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return WEXITSTATUS(status);
}
