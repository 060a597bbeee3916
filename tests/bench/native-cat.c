/* native-cat [-p|-t] [-b BUFSIZE] FILE...: what legacy-cat would be if it had
 * been written with the kernel's copy calls, the limit zcopy is measured
 * against.  Each call moves at most BUFSIZE bytes, as legacy-cat's write
 * does: splice into a pipe, sendfile into a socket, copy_file_range into a
 * file.
 *
 * -p: the proof loop, by hand: what a proven rewrite in zcopy's safe mode
 * does, without zcopy's bookkeeping.  read() BUFSIZE bytes into a buffer,
 * memcmp them against a read-only shared mapping of the whole file (mapped
 * once), then splice the same range from the file, at an explicit offset
 * (the fd's own offset is the one read() moved), into stdout, which must be
 * a pipe.  Aborts if the bytes differ.
 *
 * -t: the trust loop, by hand: the same without the memcmp (and without the
 * mapping), what a rewrite in zcopy's trust mode does: the read copy the
 * program makes, then the splice. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
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

static int copy_native(int fd, size_t bufsize, mode_t out_type)
{
    off_t off = 0;
    ssize_t n;
    while ((n = move(fd, &off, 1, out_type, bufsize)) != 0) {
        if (n < 0 && errno != EINTR) {
            perror("native-cat");
            return -1;
        }
    }
    return 0;
}

/* -p: read, prove against the mapping, splice the range read.
 * -t: read, splice the range read. */
static int copy_read_then_splice(int fd, const char *name, char *buf, size_t bufsize, int prove)
{
    const unsigned char *map = NULL;
    struct stat st;

    if (fstat(fd, &st) < 0) {
        perror(name);
        return -1;
    }
    if (prove && st.st_size > 0) {
        map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED) {
            perror("native-cat: mmap");
            return -1;
        }
    }
    off_t off = 0;
    for (;;) {
        ssize_t n = read(fd, buf, bufsize);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            perror(name);
            return -1;
        }
        if (n == 0)
            break;
        if (prove && (off + n > st.st_size || memcmp(buf, map + off, (size_t)n) != 0)) {
            fprintf(stderr, "native-cat: %s: the %zd bytes read at %lld differ from the file's mapping\n",
                    name, n, (long long)off);
            abort();
        }
        off_t end = off + n;
        while (off < end) {
            ssize_t m = splice(fd, &off, 1, NULL, (size_t)(end - off), SPLICE_F_MOVE);
            if (m < 0 && errno == EINTR)
                continue;
            if (m < 0) {
                perror("native-cat: splice");
                return -1;
            }
            if (m == 0) {
                fprintf(stderr, "native-cat: %s: ended at %lld while splicing\n", name, (long long)off);
                return -1;
            }
        }
    }
    if (map)
        munmap((void *)map, (size_t)st.st_size);
    return 0;
}

int main(int argc, char **argv)
{
    size_t bufsize = 65536;
    int opt, proof = 0, trust = 0;
    char *buf = NULL;
    struct stat st;

    while ((opt = getopt(argc, argv, "b:pt")) != -1) {
        if (opt == 'p')
            proof = 1;
        else if (opt == 't')
            trust = 1;
        else if (opt == 'b')
            bufsize = strtoul(optarg, NULL, 0);
        else
            goto usage;
    }
    if (optind >= argc || bufsize == 0)
        goto usage;
    if (fstat(1, &st) < 0) {
        perror("native-cat: stdout");
        return 1;
    }
    int by_hand = proof || trust;
    if (by_hand && !S_ISFIFO(st.st_mode)) {
        fprintf(stderr, "native-cat: -p and -t need stdout to be a pipe\n");
        return 2;
    }
    if (by_hand && !(buf = malloc(bufsize))) {
        perror("native-cat: malloc");
        return 1;
    }
    for (int i = optind; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            perror(argv[i]);
            return 1;
        }
        if ((by_hand ? copy_read_then_splice(fd, argv[i], buf, bufsize, proof)
                     : copy_native(fd, bufsize, st.st_mode)) < 0)
            return 1;
        close(fd);
    }
    free(buf);
    return 0;
usage:
    fprintf(stderr, "usage: native-cat [-p|-t] [-b BUFSIZE] FILE...\n");
    return 2;
}
