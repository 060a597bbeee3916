/*
 * mmap-httpd: a static-file HTTP/1.1 server that sends files by mmap() and
 * write(), without ever read()ing them.
 *
 * Stands for Apache httpd with "EnableMMAP On" and "EnableSendfile Off"
 * (apr_mmap of the file in 4 MiB segments, each written from the mapping),
 * and for the mmap()+write() server of the Linux Journal article "Zero Copy
 * I: User-Mode Perspective", which saves one copy over read()+write().
 *
 * Copy pattern: one process serves one connection at a time.  For each
 * response it write()s the head, then maps the file MAP_SHARED, PROT_READ,
 * one segment at a time, and write()s each segment straight from the
 * mapping (resuming after a short count).  The file stays open while its
 * segments are sent.  zcopy turns each write() from the mapping into
 * sendfile() at the segment's file offset.
 *
 * If another process truncates a file while it is sent, write() from the
 * vanished pages fails with EFAULT (the kernel does the copy, so there is no
 * SIGBUS); the server then closes the connection.
 *
 * Usage: mmap-httpd [-b ADDR] [-p PORT] [-s SEGMENT] [-P PORTFILE] DOCROOT
 * PORTFILE receives the port once the server listens (-p 0: any free port).
 * SIGTERM or SIGINT: finish the current request, exit 0.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define REQ_MAX   8192  /* request head, bytes */
#define IDLE_SECS 10    /* one connection at a time: do not let one idle client block the rest */

static size_t segment = 4 << 20;  /* APR_MMAP_LIMIT */
static int docroot_fd;
static volatile sig_atomic_t stop;

static void on_signal(int sig) { (void)sig; stop = 1; }

static const char *mime_type(const char *path)
{
	static const char *const table[][2] = {
		{ ".html", "text/html" }, { ".htm", "text/html" }, { ".txt", "text/plain" },
		{ ".css", "text/css" }, { ".js", "application/javascript" }, { ".png", "image/png" },
		{ ".jpg", "image/jpeg" }, { ".pdf", "application/pdf" },
	};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof(table) / sizeof(table[0]); i++)
		if (strcasecmp(dot, table[i][0]) == 0)
			return table[i][1];
	return "application/octet-stream";
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* The body, segment by segment from mappings; 0 when all of it went out. */
static int send_mapped(int fd, int file, off_t size, off_t *sent)
{
	for (off_t off = 0; off < size; off += (off_t)segment) {
		size_t len = size - off < (off_t)segment ? (size_t)(size - off) : segment;
		char *map = mmap(NULL, len, PROT_READ, MAP_SHARED, file, off);
		if (map == MAP_FAILED)
			return -1;
		int r = write_all(fd, map, len);
		munmap(map, len);
		if (r < 0)
			return -1;
		*sent += (off_t)len;
	}
	return 0;
}

/* One response.  Returns 0 to keep the connection, -1 to close it. */
static int respond(int fd, const char *method, const char *path, int keep_alive)
{
	char head[512], rel[1100], body[64] = "";
	int status = 200, file = -1;
	const char *reason = "OK", *type = "text/plain";
	struct stat st;
	off_t size = 0, sent = 0;

	snprintf(rel, sizeof(rel), "%.*s%s", (int)strcspn(path + 1, "?"), path + 1,
		 path[strcspn(path, "?") - 1] == '/' ? "index.html" : "");
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
		status = 501, reason = "Not Implemented", keep_alive = 0;
	} else if ((file = openat(docroot_fd, rel, O_RDONLY)) < 0 || fstat(file, &st) < 0 ||
		   !S_ISREG(st.st_mode)) {
		status = 404, reason = "Not Found";
	} else {
		size = st.st_size;
		type = mime_type(rel);
	}
	if (status != 200) {
		if (file >= 0)
			close(file);
		file = -1;
		size = snprintf(body, sizeof(body), "%d %s\n", status, reason);
	}
	int is_head = strcmp(method, "HEAD") == 0;
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nServer: mmap-httpd\r\nContent-Type: %s\r\n"
			 "Content-Length: %lld\r\nConnection: %s\r\n\r\n%s",
			 status, reason, type, (long long)size, keep_alive ? "keep-alive" : "close",
			 is_head ? "" : body);
	if (write_all(fd, head, (size_t)n) < 0 ||
	    (file >= 0 && !is_head && send_mapped(fd, file, size, &sent) < 0))
		keep_alive = 0;
	if (file >= 0)
		close(file);
	fprintf(stderr, "%s %s %d %lld\n", method, path, status, (long long)sent);
	return keep_alive ? 0 : -1;
}

/* Answers requests on fd until the client closes or asks to. */
static void serve(int fd)
{
	char req[REQ_MAX];
	size_t len = 0;
	struct timeval idle = { .tv_sec = IDLE_SECS };

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
	while (!stop) {
		char *end;
		req[len] = '\0';
		while (!(end = strstr(req, "\r\n\r\n"))) {
			if (len == sizeof(req) - 1)
				return;
			ssize_t n = read(fd, req + len, sizeof(req) - 1 - len);
			if (n <= 0)
				return;  /* closed, idle, or SIGTERM (EINTR) */
			len += (size_t)n;
			req[len] = '\0';
		}
		size_t used = (size_t)(end + 4 - req);
		end[2] = '\0';
		char method[8], path[1024];
		int major, minor, keep_alive;
		if (sscanf(req, "%7s %1023s HTTP/%d.%d", method, path, &major, &minor) != 4 || major != 1 ||
		    path[0] != '/' || strstr(path, "..")) {
			static const char bad[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n"
						  "Connection: close\r\n\r\n";
			write_all(fd, bad, sizeof(bad) - 1);
			return;
		}
		keep_alive = minor >= 1;
		if (strcasestr(req, "\nConnection: close\r"))
			keep_alive = 0;
		else if (strcasestr(req, "\nConnection: keep-alive\r"))
			keep_alive = 1;
		if (respond(fd, method, path, keep_alive) < 0)
			return;
		memmove(req, req + used, len - used);  /* a pipelined request may follow */
		len -= used;
	}
}

static int listen_on(const char *addr, int port, const char *portfile)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof(sin);
	int one = 1, fd;

	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "mmap-httpd: bad address %s\n", addr);
		return -1;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		perror("mmap-httpd: listen");
		return -1;
	}
	if (portfile) {             /* write, then rename: a reader never sees half a number */
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.%d.tmp", portfile, (int)getpid());
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", ntohs(sin.sin_port)) < 0 || fclose(f) != 0 ||
		    rename(tmp, portfile) < 0) {
			perror("mmap-httpd: port file");
			return -1;
		}
	}
	fprintf(stderr, "mmap-httpd: listening on %s:%d\n", addr, ntohs(sin.sin_port));
	return fd;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *portfile = NULL;
	char *end;
	long port = 8080;
	int opt, lfd, bad = 0;
	struct sigaction sa = { .sa_handler = on_signal };  /* no SA_RESTART: accept() must wake */
	long page = sysconf(_SC_PAGESIZE);

	while ((opt = getopt(argc, argv, "b:p:s:P:")) != -1) {
		switch (opt) {
		case 'b': addr = optarg; break;
		case 'p': port = strtol(optarg, &end, 10); bad |= *end != '\0'; break;
		case 's': segment = strtoul(optarg, &end, 10); bad |= *end != '\0'; break;
		case 'P': portfile = optarg; break;
		default: bad = 1;
		}
	}
	if (bad || optind != argc - 1 || port < 0 || port > 65535 || segment == 0 || segment % (size_t)page) {
		fprintf(stderr, "usage: mmap-httpd [-b ADDR] [-p PORT] [-s SEGMENT (multiple of the page size)]"
				" [-P PORTFILE] DOCROOT\n");
		return 2;
	}
	if ((docroot_fd = open(argv[optind], O_RDONLY | O_DIRECTORY)) < 0) {
		perror(argv[optind]);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);   /* a vanished client must be EPIPE, not death */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if ((lfd = listen_on(addr, (int)port, portfile)) < 0)
		return 1;

	while (!stop) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				perror("mmap-httpd: accept");
			continue;
		}
		serve(fd);
		close(fd);
	}
	close(lfd);
	close(docroot_fd);
	fprintf(stderr, "mmap-httpd: shutting down\n");
	return 0;
}
