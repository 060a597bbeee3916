/* native-httpd [-P PORTFILE] DOCROOT: the smallest server that sends files
 * the native way (header with MSG_MORE, then sendfile), for make bench's W3.
 * One connection at a time, blocking, GET only: enough for one curl
 * downloading large files over a kept-alive connection (W3), and for wrk
 * when each request asks for "Connection: close" (W4).  Binds
 * 127.0.0.1 on an ephemeral port and writes the port to PORTFILE. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int docroot;

static int send_all(int fd, const char *p, size_t n, int flags)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, flags);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* One request; returns -1 when the connection is done. */
static int serve_one(int c, char *req, size_t *len)
{
    char *end;
    while (!(end = memmem(req, *len, "\r\n\r\n", 4))) {
        if (*len >= 8191)
            return -1;
        ssize_t r = read(c, req + *len, 8191 - *len);
        if (r <= 0)
            return -1;
        *len += (size_t)r;
    }
    size_t used = (size_t)(end + 4 - req);
    char path[1024] = "";
    sscanf(req, "GET /%1023s", path);
    *end = 0;
    int keep = !strcasestr(req, "\r\nConnection: close");
    memmove(req, req + used, *len - used);      /* a pipelined next request */
    *len -= used;

    char head[256];
    struct stat st;
    int fd = path[0] ? openat(docroot, path, O_RDONLY) : -1;
    if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        int n = snprintf(head, sizeof head, "HTTP/1.1 404 Not Found\r\n"
                         "Content-Length: 0\r\n\r\n");
        if (fd >= 0)
            close(fd);
        return send_all(c, head, (size_t)n, 0) < 0 || !keep ? -1 : 0;
    }
    int n = snprintf(head, sizeof head, "HTTP/1.1 200 OK\r\nContent-Length: %lld\r\n"
                     "Content-Type: application/octet-stream\r\n%s\r\n",
                     (long long)st.st_size, keep ? "" : "Connection: close\r\n");
    int rc = send_all(c, head, (size_t)n, MSG_MORE);
    off_t off = 0;
    while (rc == 0 && off < st.st_size) {
        ssize_t w = sendfile(c, fd, &off, (size_t)(st.st_size - off));
        if (w <= 0 && !(w < 0 && errno == EINTR))
            rc = -1;
    }
    close(fd);
    return keep ? rc : -1;
}

int main(int argc, char **argv)
{
    const char *portfile = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "P:")) != -1) {
        if (opt != 'P')
            goto usage;
        portfile = optarg;
    }
    if (optind != argc - 1)
        goto usage;
    if ((docroot = open(argv[optind], O_RDONLY | O_DIRECTORY)) < 0) {
        perror(argv[optind]);
        return 1;
    }
    struct sockaddr_in sin = { .sin_family = AF_INET };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t slen = sizeof sin;
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&sin, sizeof sin) < 0 || listen(l, 64) < 0
        || getsockname(l, (struct sockaddr *)&sin, &slen) < 0) {
        perror("native-httpd: listen");
        return 1;
    }
    if (portfile) {             /* write, then rename: never half a number */
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", portfile);
        FILE *f = fopen(tmp, "w");
        if (!f || fprintf(f, "%d\n", ntohs(sin.sin_port)) < 0 || fclose(f) != 0
            || rename(tmp, portfile) < 0) {
            perror("native-httpd: port file");
            return 1;
        }
    }
    signal(SIGPIPE, SIG_IGN);
    for (;;) {                  /* SIGTERM's default action ends it */
        int c = accept(l, NULL, NULL);
        if (c < 0)
            continue;
        static char req[8192];
        size_t len = 0;
        while (serve_one(c, req, &len) == 0)
            ;
        close(c);
    }
usage:
    fprintf(stderr, "usage: native-httpd [-P PORTFILE] DOCROOT\n");
    return 2;
}
