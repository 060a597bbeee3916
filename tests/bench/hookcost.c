/* hookcost devnull N | pingpong N | paired N: the cost of calls zcopy
 * sees but never rewrites, for make bench's W5.  Prints nanoseconds:
 *   devnull   N write()s of 1 byte to /dev/null, ns per write;
 *   pingpong  N round trips of 1 byte over a unix socketpair between two
 *             processes (write, read on each side), ns per round trip;
 *   paired    N pairs of blocks, 2000 write()s of 1 byte to /dev/null each:
 *             one block through write() (the hook, when preloaded), the
 *             next through libc's own write, found in libc by dlsym; the
 *             median of the blocks' differences, ns per write.
 * Run devnull and pingpong plain and preloaded: the difference is what
 * the hooks add.  paired measures that difference inside one process,
 * where the machine's drift from run to run (tens of ns per syscall on a
 * VM) cancels out; plain, it measures 0. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int devnull(long n)
{
    int fd = open("/dev/null", O_WRONLY);
    if (fd < 0) {
        perror("hookcost: /dev/null");
        return 1;
    }
    char c = 'x';
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (write(fd, &c, 1) != 1) {
            perror("hookcost: write");
            return 1;
        }
    printf("%.1f\n", (now_ns() - t0) / n);
    return 0;
}

static int by_difference(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

#define PAIRED_BLOCK 2000

static int paired(long pairs)
{
    void *libc = dlopen("libc.so.6", RTLD_NOLOAD | RTLD_LAZY);
    ssize_t (*libc_write)(int, const void *, size_t) = libc ? dlsym(libc, "write") : NULL;
    /* Through a volatile pointer, as libc_write is: both are one indirect
     * call from here, whatever the compiler makes of a direct one. */
    ssize_t (*volatile hooked_write)(int, const void *, size_t) = write;
    int fd = open("/dev/null", O_WRONLY);
    double *differences = malloc(sizeof *differences * (size_t)pairs);
    if (!libc_write || fd < 0 || !differences) {
        fprintf(stderr, "hookcost: paired: no libc write, /dev/null or memory\n");
        return 1;
    }
    char c = 'x';
    for (long p = 0; p < pairs; p++) {
        double t0 = now_ns();
        for (int i = 0; i < PAIRED_BLOCK; i++)
            if (hooked_write(fd, &c, 1) != 1)
                return 1;
        double t1 = now_ns();
        for (int i = 0; i < PAIRED_BLOCK; i++)
            if (libc_write(fd, &c, 1) != 1)
                return 1;
        differences[p] = ((t1 - t0) - (now_ns() - t1)) / PAIRED_BLOCK;
    }
    qsort(differences, (size_t)pairs, sizeof *differences, by_difference);
    printf("%.1f\n", differences[pairs / 2]);
    return 0;
}

static int pingpong(long n)
{
    int sv[2];
    char c = 'x';
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0) {
        perror("hookcost: socketpair");
        return 1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        perror("hookcost: fork");
        return 1;
    }
    if (pid == 0) {             /* echo every byte back until EOF */
        close(sv[0]);
        while (read(sv[1], &c, 1) == 1)
            if (write(sv[1], &c, 1) != 1)
                _exit(1);
        _exit(0);
    }
    close(sv[1]);
    double t0 = now_ns();
    for (long i = 0; i < n; i++)
        if (write(sv[0], &c, 1) != 1 || read(sv[0], &c, 1) != 1) {
            perror("hookcost: round trip");
            return 1;
        }
    double t1 = now_ns();
    close(sv[0]);
    waitpid(pid, NULL, 0);
    printf("%.1f\n", (t1 - t0) / n);
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc == 3 ? atol(argv[2]) : 0;
    if (n > 0 && !strcmp(argv[1], "devnull"))
        return devnull(n);
    if (n > 0 && !strcmp(argv[1], "pingpong"))
        return pingpong(n);
    if (n > 0 && !strcmp(argv[1], "paired"))
        return paired(n);
    fprintf(stderr, "usage: hookcost devnull|pingpong|paired N\n");
    return 2;
}
