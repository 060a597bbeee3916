/* native-cp [-b BUFSIZE] SRC DST: legacy-cp written with copy_file_range,
 * BUFSIZE bytes a call (the size of the writes zcopy rewrites), the limit
 * make bench's W2 measures zcopy against. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    size_t bufsize = 65536;
    int opt;

    while ((opt = getopt(argc, argv, "b:")) != -1) {
        if (opt != 'b')
            goto usage;
        bufsize = strtoul(optarg, NULL, 0);
    }
    if (argc - optind != 2 || bufsize == 0)
        goto usage;
    int in = open(argv[optind], O_RDONLY);
    if (in < 0) {
        perror(argv[optind]);
        return 1;
    }
    int out = open(argv[optind + 1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        perror(argv[optind + 1]);
        return 1;
    }
    ssize_t n;
    while ((n = copy_file_range(in, NULL, out, NULL, bufsize, 0)) != 0) {
        if (n < 0 && errno != EINTR) {
            perror("native-cp: copy_file_range");
            return 1;
        }
    }
    if (close(out) < 0) {
        perror(argv[optind + 1]);
        return 1;
    }
    return 0;
usage:
    fprintf(stderr, "usage: native-cp [-b BUFSIZE] SRC DST\n");
    return 2;
}
