/* native-cat [-b BUFSIZE] FILE...: what legacy-cat would be if it had been
 * written with the kernel's copy calls, the limit zcopy is measured against.
 * Each call moves at most BUFSIZE bytes, as legacy-cat's write does:
 * splice into a pipe, sendfile into a socket, copy_file_range into a file. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

static ssize_t move(int in, off_t *off, int out, mode_t out_type, size_t n)
{
    if (S_ISFIFO(out_type))
        return splice(in, off, out, NULL, n, SPLICE_F_MOVE);
    if (S_ISREG(out_type))
        return copy_file_range(in, off, out, NULL, n, 0);
    return sendfile(out, in, off, n);
}

int main(int argc, char **argv)
{
    size_t bufsize = 65536;
    struct stat st;
    int opt;

    while ((opt = getopt(argc, argv, "b:")) != -1) {
        if (opt != 'b')
            goto usage;
        bufsize = strtoul(optarg, NULL, 0);
    }
    if (optind >= argc || bufsize == 0)
        goto usage;
    if (fstat(1, &st) < 0) {
        perror("native-cat: stdout");
        return 1;
    }
    for (int i = optind; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            perror(argv[i]);
            return 1;
        }
        off_t off = 0;
        ssize_t n;
        while ((n = move(fd, &off, 1, st.st_mode, bufsize)) != 0) {
            if (n < 0 && errno != EINTR) {
                perror("native-cat");
                return 1;
            }
        }
        close(fd);
    }
    return 0;
usage:
    fprintf(stderr, "usage: native-cat [-b BUFSIZE] FILE...\n");
    return 2;
}
