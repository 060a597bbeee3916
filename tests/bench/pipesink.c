/* pipesink [-s PIPE_SIZE]: the reader end of make bench's W1 pipe.
 * Moves everything from stdin (a pipe) to /dev/null with splice, so the
 * reader costs almost nothing and the writer under test sets the pace.
 * -s enlarges the pipe first (F_SETPIPE_SZ), as a tuned consumer would. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long pipe_size = 0;
    int opt;

    while ((opt = getopt(argc, argv, "s:")) != -1) {
        if (opt != 's')
            goto usage;
        pipe_size = strtol(optarg, NULL, 0);
    }
    if (optind != argc)
        goto usage;
    if (pipe_size > 0 && fcntl(0, F_SETPIPE_SZ, (int)pipe_size) < 0) {
        perror("pipesink: F_SETPIPE_SZ");
        return 1;
    }
    int null = open("/dev/null", O_WRONLY);
    if (null < 0) {
        perror("pipesink: /dev/null");
        return 1;
    }
    for (;;) {
        ssize_t n = splice(0, NULL, null, NULL, 1 << 20, SPLICE_F_MOVE);
        if (n == 0)
            return 0;
        if (n < 0 && errno != EINTR) {
            perror("pipesink: splice");
            return 1;
        }
    }
usage:
    fprintf(stderr, "usage: pipesink [-s PIPE_SIZE] < pipe\n");
    return 2;
}
