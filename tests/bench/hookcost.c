/* hookcost devnull N | hookcost pingpong N: the cost of calls zcopy sees
 * but never rewrites, for make bench's W5.  Prints nanoseconds per unit:
 *   devnull   N write()s of 1 byte to /dev/null, ns per write;
 *   pingpong  N round trips of 1 byte over a unix socketpair between two
 *             processes (write, read on each side), ns per round trip.
 * Run it plain and preloaded: the difference is what the hooks add. */
#define _GNU_SOURCE
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
    fprintf(stderr, "usage: hookcost devnull|pingpong N\n");
    return 2;
}
