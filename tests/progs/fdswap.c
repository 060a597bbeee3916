/* Changes what an fd number names between a read and the write of its
 * bytes, or between two writes, through calls zcopy's hooks see: what
 * zcopy learnt about that fd (shim/fdcache.c) must not outlive the change.
 *   fdswap src A B   reads A's first chunk at fd F and writes it to stdout;
 *                    closes F and opens B at F, seeks B to where A's read
 *                    ended and reads a chunk there (the read "continues");
 *                    closes F, opens A at F again, writes B's chunk.
 *                    stdout must be A[0, 64K) then B[64K, 128K).
 *   fdswap stdio A B the same with fopen and fclose, which close inside
 *                    libc, and read(fileno(f)).
 *   fdswap dgram A   writes a chunk of A to a stream socket at fd F, then
 *                    dup2()s a datagram socket onto F and writes the next
 *                    128 KiB: they must arrive as one datagram (a
 *                    sendfile sends one datagram per 64 KiB).
 *   fdswap packet A  writes a chunk of A to a pipe, then makes the pipe a
 *                    packet pipe with fcntl(F_SETFL, O_DIRECT) and writes
 *                    the next chunk: it must read back as 4 KiB packets.
 * Exit 0 when what arrived is right (src: the caller compares stdout). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CHUNK 65536

static char chunk1[CHUNK], chunk2[2 * CHUNK], got[4 * CHUNK];

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static void read_full(int fd, char *buf, size_t n)
{
    if (read(fd, buf, n) != (ssize_t)n)
        die("read");
}

static void write_full(int fd, const char *buf, size_t n)
{
    if (write(fd, buf, n) != (ssize_t)n)
        die("write");
}

static int open_at(const char *path, int want)
{
    int fd = open(path, O_RDONLY);
    if (fd != want) {
        fprintf(stderr, "fdswap: %s opened at %d, not %d\n", path, fd, want);
        exit(2);
    }
    return fd;
}

static int swap_source(const char *a, const char *b)
{
    int fd = open(a, O_RDONLY);
    if (fd < 0)
        die(a);
    read_full(fd, chunk1, CHUNK);
    write_full(1, chunk1, CHUNK);
    close(fd);
    open_at(b, fd);
    if (lseek(fd, CHUNK, SEEK_SET) != CHUNK)
        die("lseek");
    read_full(fd, chunk2, CHUNK);  /* starts where A's read ended */
    close(fd);
    open_at(a, fd);
    write_full(1, chunk2, CHUNK);
    return 0;
}

static FILE *fopen_at(const char *path, int want)
{
    FILE *f = fopen(path, "r");
    if (!f || fileno(f) != want) {
        fprintf(stderr, "fdswap: %s opened at %d, not %d\n", path, f ? fileno(f) : -1, want);
        exit(2);
    }
    return f;
}

static int swap_source_stdio(const char *a, const char *b)
{
    FILE *f = fopen(a, "r");
    if (!f)
        die(a);
    int fd = fileno(f);
    read_full(fd, chunk1, CHUNK);
    write_full(1, chunk1, CHUNK);
    fclose(f);
    f = fopen_at(b, fd);
    if (lseek(fd, CHUNK, SEEK_SET) != CHUNK)
        die("lseek");
    read_full(fd, chunk2, CHUNK);  /* starts where A's read ended */
    fclose(f);
    f = fopen_at(a, fd);
    write_full(1, chunk2, CHUNK);
    return 0;
}

static int swap_to_datagram(const char *a)
{
    int stream[2], dgram[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, stream) < 0 || socketpair(AF_UNIX, SOCK_DGRAM, 0, dgram) < 0)
        die("socketpair");
    int size = 6 * CHUNK;
    setsockopt(dgram[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    setsockopt(dgram[1], SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    int src = open(a, O_RDONLY);
    if (src < 0)
        die(a);
    read_full(src, chunk1, CHUNK);
    write_full(stream[0], chunk1, CHUNK);
    ssize_t n = recv(stream[1], got, CHUNK, MSG_WAITALL);
    if (n != CHUNK || memcmp(got, chunk1, CHUNK))
        return fprintf(stderr, "fdswap: stream chunk wrong (%zd)\n", n), 1;
    if (dup2(dgram[0], stream[0]) != stream[0])
        die("dup2");
    read_full(src, chunk2, 2 * CHUNK);
    write_full(stream[0], chunk2, 2 * CHUNK);
    n = recv(dgram[1], got, sizeof got, MSG_DONTWAIT);
    if (n != 2 * CHUNK || memcmp(got, chunk2, 2 * CHUNK))
        return fprintf(stderr, "fdswap: first datagram has %zd bytes, not one of %d\n", n, 2 * CHUNK), 1;
    return 0;
}

static int swap_to_packets(const char *a)
{
    int p[2];
    if (pipe(p) < 0)
        die("pipe");
    if (fcntl(p[1], F_SETPIPE_SZ, 4 * CHUNK) < 0)
        die("F_SETPIPE_SZ");
    int src = open(a, O_RDONLY);
    if (src < 0)
        die(a);
    read_full(src, chunk1, CHUNK);
    write_full(p[1], chunk1, CHUNK);
    if (fcntl(p[1], F_SETFL, O_DIRECT) < 0)
        die("F_SETFL O_DIRECT");
    read_full(src, chunk2, CHUNK);
    write_full(p[1], chunk2, CHUNK);
    ssize_t n = read(p[0], got, CHUNK);
    if (n != CHUNK || memcmp(got, chunk1, CHUNK))
        return fprintf(stderr, "fdswap: first chunk wrong (%zd)\n", n), 1;
    n = read(p[0], got, CHUNK);
    if (n != 4096 || memcmp(got, chunk2, 4096))
        return fprintf(stderr, "fdswap: first packet has %zd bytes, not 4096\n", n), 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "src"))
        return swap_source(argv[2], argv[3]);
    if (argc == 4 && !strcmp(argv[1], "stdio"))
        return swap_source_stdio(argv[2], argv[3]);
    if (argc == 3 && !strcmp(argv[1], "dgram"))
        return swap_to_datagram(argv[2]);
    if (argc == 3 && !strcmp(argv[1], "packet"))
        return swap_to_packets(argv[2]);
    fprintf(stderr, "usage: fdswap src|stdio A B | dgram A | packet A\n");
    return 2;
}
