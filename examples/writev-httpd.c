/*
 * writev-httpd: a static-file HTTP/1.1 server that forks a process per
 * connection and sends each response with writev().
 *
 * Stands for Apache httpd's prefork MPM with EnableSendfile Off (its core
 * output filter gathers the response head and the first file bucket into one
 * writev) and for thttpd and boa, which writev() the head together with the
 * first piece of the file.
 *
 * Copy pattern: the child read()s a chunk of the file into its buffer, then
 * sends it with one writev() per chunk.  The first writev carries two
 * iovecs, the response head and the first chunk; the others carry one
 * chunk.  A short writev is resumed inside whichever iovec it stopped in.
 * zcopy sends the head with the plain call and the chunk with sendfile(),
 * corking the socket between the two.
 *
 * Usage: writev-httpd [-b ADDR] [-p PORT] [-c CHUNK] [-P PORTFILE] DOCROOT
 * PORTFILE receives the port once the server listens (-p 0: any free port).
 * SIGTERM or SIGINT: stop accepting, let children finish, exit 0.
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define REQ_MAX   8192  /* request head, bytes */
#define IDLE_SECS 30    /* a keep-alive connection that stays silent is closed */

static size_t chunk = 65536;
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

/* Sends iov[0..cnt) in full; 0 on success, -1 when the client is gone. */
static int writev_all(int fd, struct iovec *iov, int cnt)
{
	while (cnt > 0) {
		ssize_t n = writev(fd, iov, cnt);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		while (cnt > 0 && (size_t)n >= iov->iov_len) {
			n -= (ssize_t)iov->iov_len;
			iov++, cnt--;
		}
		if (cnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

/* One response.  Returns 0 to keep the connection, -1 to close it. */
static int respond(int fd, char *buf, const char *method, const char *path, int keep_alive)
{
	char head[512], rel[1100], body[64] = "";
	int status = 200, file = -1;
	const char *reason = "OK", *type = "text/plain";
	struct stat st;
	off_t size = 0;

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
	size_t head_len = (size_t)snprintf(head, sizeof(head),
		"HTTP/1.1 %d %s\r\nServer: writev-httpd\r\nContent-Type: %s\r\n"
		"Content-Length: %lld\r\nConnection: %s\r\n\r\n%s",
		status, reason, type, (long long)size, keep_alive ? "keep-alive" : "close",
		is_head ? "" : body);
	off_t left = file >= 0 && !is_head ? size : 0, sent = 0;
	int first = 1;
	do {
		struct iovec iov[2];
		size_t body_len = 0;
		int cnt = 0;
		if (first)
			iov[cnt++] = (struct iovec){ head, head_len };
		if (left > 0) {
			ssize_t n = read(file, buf, left < (off_t)chunk ? (size_t)left : chunk);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {   /* the file shrank: Content-Length is now a lie */
				fprintf(stderr, "writev-httpd: %s: read failed\n", path);
				keep_alive = 0;
				break;
			}
			body_len = (size_t)n;
			iov[cnt++] = (struct iovec){ buf, body_len };
			left -= n;
		}
		if (writev_all(fd, iov, cnt) < 0) {
			keep_alive = 0;
			break;
		}
		sent += (off_t)body_len;
		first = 0;  /* the head went out with the first chunk */
	} while (left > 0);
	if (file >= 0)
		close(file);
	fprintf(stderr, "%s %s %d %lld\n", method, path, status, (long long)sent);
	return keep_alive ? 0 : -1;
}

/* The child: answers requests on fd until the client closes or asks to. */
static void serve(int fd)
{
	char req[REQ_MAX], *buf = malloc(chunk);
	size_t len = 0;
	struct timeval idle = { .tv_sec = IDLE_SECS };

	if (!buf)
		_exit(1);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle));
	for (;;) {
		char *end;
		req[len] = '\0';
		while (!(end = strstr(req, "\r\n\r\n"))) {
			if (len == sizeof(req) - 1)
				_exit(0);
			ssize_t n = read(fd, req + len, sizeof(req) - 1 - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				_exit(0);
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
			_exit(write(fd, bad, sizeof(bad) - 1) < 0);
		}
		keep_alive = minor >= 1;
		if (strcasestr(req, "\nConnection: close\r"))
			keep_alive = 0;
		else if (strcasestr(req, "\nConnection: keep-alive\r"))
			keep_alive = 1;
		if (respond(fd, buf, method, path, keep_alive) < 0)
			_exit(0);
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
		fprintf(stderr, "writev-httpd: bad address %s\n", addr);
		return -1;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 128) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		perror("writev-httpd: listen");
		return -1;
	}
	if (portfile) {             /* write, then rename: a reader never sees half a number */
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.%d.tmp", portfile, (int)getpid());
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", ntohs(sin.sin_port)) < 0 || fclose(f) != 0 ||
		    rename(tmp, portfile) < 0) {
			perror("writev-httpd: port file");
			return -1;
		}
	}
	fprintf(stderr, "writev-httpd: listening on %s:%d\n", addr, ntohs(sin.sin_port));
	return fd;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *portfile = NULL;
	char *end;
	long port = 8080;
	int opt, lfd, bad = 0;
	struct sigaction sa = { .sa_handler = on_signal };  /* no SA_RESTART: accept() must wake */

	while ((opt = getopt(argc, argv, "b:p:c:P:")) != -1) {
		switch (opt) {
		case 'b': addr = optarg; break;
		case 'p': port = strtol(optarg, &end, 10); bad |= *end != '\0'; break;
		case 'c': chunk = strtoul(optarg, &end, 10); bad |= *end != '\0'; break;
		case 'P': portfile = optarg; break;
		default: bad = 1;
		}
	}
	if (bad || optind != argc - 1 || port < 0 || port > 65535 || chunk < 4096 || chunk > (1 << 24)) {
		fprintf(stderr, "usage: writev-httpd [-b ADDR] [-p PORT] [-c CHUNK] [-P PORTFILE] DOCROOT\n");
		return 2;
	}
	if ((docroot_fd = open(argv[optind], O_RDONLY | O_DIRECTORY)) < 0) {
		perror(argv[optind]);
		return 1;
	}
	signal(SIGPIPE, SIG_IGN);   /* a vanished client must be EPIPE, not death */
	signal(SIGCHLD, SIG_IGN);   /* children are reaped by the kernel */
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	if ((lfd = listen_on(addr, (int)port, portfile)) < 0)
		return 1;

	while (!stop) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno != EINTR && errno != ECONNABORTED)
				perror("writev-httpd: accept");
			continue;
		}
		pid_t pid = fork();
		if (pid == 0) {
			signal(SIGTERM, SIG_DFL);
			signal(SIGINT, SIG_DFL);
			close(lfd);
			serve(fd);
		}
		if (pid < 0)
			perror("writev-httpd: fork");
		close(fd);
	}
	close(lfd);
	close(docroot_fd);
	fprintf(stderr, "writev-httpd: shutting down\n");
	return 0;
}
