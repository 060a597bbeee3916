/*
 * legacy-httpd: a static-file HTTP/1.1 server written the old way.
 *
 * Stands for thttpd, mini_httpd, boa and the other single-process poll()
 * servers of their era: one process, non-blocking sockets, one poll() loop.
 *
 * Copy pattern: each connection owns a CHUNK-byte buffer.  The server
 * read()s a chunk of the file into it, then write()s it to the socket.  On
 * a short write or EAGAIN it keeps the rest, waits for POLLOUT and write()s
 * from a pointer inside the same buffer.  zcopy turns these read()+write()
 * pairs into sendfile() without changing the program.
 *
 * Usage: legacy-httpd [-b ADDR] [-p PORT] [-c CHUNK] [-P PORTFILE] DOCROOT
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONN  64
#define REQ_MAX   8192  /* request head, bytes */
#define IDLE_SECS 60

enum state { ST_FREE, ST_READ, ST_SEND };

struct conn {
	enum state st;
	int fd, file;               /* socket; file being sent or -1 */
	char req[REQ_MAX];          /* bytes received; may hold a pipelined next request */
	size_t req_len;
	char head[512];             /* response head, plus the body of an error page */
	size_t head_len, head_off;
	char *buf;                  /* CHUNK bytes: the body copy buffer */
	size_t buf_len, buf_off;
	off_t left;                 /* file bytes not yet read */
	long long sent;             /* file bytes written, for the log */
	int keep_alive, status;
	char method[8], path[1024];
	time_t last;
};

static struct conn conns[MAX_CONN];
static size_t chunk = 65536;
static int docroot_fd;
static volatile sig_atomic_t stop;

static void on_signal(int sig) { (void)sig; stop = 1; }

static const char *mime_type(const char *path)
{
	static const char *const table[][2] = {
		{ ".html", "text/html" }, { ".htm", "text/html" }, { ".txt", "text/plain" },
		{ ".css", "text/css" }, { ".js", "application/javascript" },
		{ ".json", "application/json" }, { ".png", "image/png" }, { ".gif", "image/gif" },
		{ ".jpg", "image/jpeg" }, { ".jpeg", "image/jpeg" }, { ".pdf", "application/pdf" },
	};
	const char *dot = strrchr(path, '.');
	for (size_t i = 0; dot && i < sizeof(table) / sizeof(table[0]); i++)
		if (strcasecmp(dot, table[i][0]) == 0)
			return table[i][1];
	return "application/octet-stream";
}

static void log_request(struct conn *c)
{
	fprintf(stderr, "%s %s %d %lld\n", c->method, c->path, c->status, c->sent);
}

static void close_conn(struct conn *c)
{
	if (c->st == ST_SEND)       /* cut off mid-response: log what got out */
		log_request(c);
	if (c->file >= 0)
		close(c->file);
	close(c->fd);
	free(c->buf);
	c->st = ST_FREE;
}

/* Prepare the response head; an error page's short body rides along in it. */
static void respond(struct conn *c, int status, const char *reason, off_t size, const char *type)
{
	char body[64] = "";
	if (status != 200) {
		snprintf(body, sizeof(body), "%d %s\n", status, reason);
		size = (off_t)strlen(body);
		type = "text/plain";
	}
	c->head_len = (size_t)snprintf(c->head, sizeof(c->head),
		"HTTP/1.1 %d %s\r\nServer: legacy-httpd\r\nContent-Type: %s\r\n"
		"Content-Length: %lld\r\nConnection: %s\r\n\r\n%s",
		status, reason, type, (long long)size, c->keep_alive ? "keep-alive" : "close",
		strcmp(c->method, "HEAD") == 0 ? "" : body);
	c->status = status;
	c->head_off = 0;
	c->sent = 0;
	c->left = 0;
	c->st = ST_SEND;
}

/* Answer the request head in c->req.  No %XX decoding: such names are just not found. */
static void parse_request(struct conn *c)
{
	char rel[sizeof(c->path) + 16];
	int major, minor;
	struct stat st;

	c->keep_alive = 0;
	snprintf(c->path, sizeof(c->path), "-");
	if (sscanf(c->req, "%7s %1023s HTTP/%d.%d", c->method, c->path, &major, &minor) != 4
	    || major != 1 || c->path[0] != '/' || strstr(c->path, "..")) {
		respond(c, 400, "Bad Request", 0, NULL);
		return;
	}
	c->keep_alive = minor >= 1;         /* HTTP/1.1 keeps alive unless told otherwise */
	if (strcasestr(c->req, "\nConnection: close\r"))
		c->keep_alive = 0;
	else if (strcasestr(c->req, "\nConnection: keep-alive\r"))
		c->keep_alive = 1;
	if (strcmp(c->method, "GET") != 0 && strcmp(c->method, "HEAD") != 0) {
		c->keep_alive = 0;
		respond(c, 501, "Not Implemented", 0, NULL);
		return;
	}
	snprintf(rel, sizeof(rel), "%.*s%s", (int)strcspn(c->path + 1, "?"), c->path + 1,
		 c->path[strcspn(c->path, "?") - 1] == '/' ? "index.html" : "");
	c->file = openat(docroot_fd, rel, O_RDONLY);
	if (c->file >= 0 && (fstat(c->file, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(c->file);
		c->file = -1;
	}
	if (c->file < 0) {
		respond(c, 404, "Not Found", 0, NULL);
		return;
	}
	respond(c, 200, "OK", st.st_size, mime_type(rel));
	if (strcmp(c->method, "HEAD") != 0)
		c->left = st.st_size;
}

static void send_response(struct conn *c);

/* If a whole request head has arrived, answer it. */
static void try_request(struct conn *c)
{
	c->req[c->req_len] = '\0';
	char *end = strstr(c->req, "\r\n\r\n");
	if (end) {
		size_t used = (size_t)(end + 4 - c->req);
		end[2] = '\0';              /* hide a pipelined next request from the parser */
		parse_request(c);
		memmove(c->req, c->req + used, c->req_len - used);
		c->req_len -= used;
	} else if (c->req_len == REQ_MAX - 1) {
		strcpy(c->method, "-");
		strcpy(c->path, "-");
		c->keep_alive = 0;
		respond(c, 400, "Bad Request", 0, NULL);
	} else {
		return;                     /* wait for the rest */
	}
	send_response(c);           /* most responses fit the socket buffer at once */
}

static void finish_response(struct conn *c)
{
	log_request(c);
	if (c->file >= 0)
		close(c->file);
	c->file = -1;
	c->buf_len = c->buf_off = 0;
	c->st = ST_READ;
	if (!c->keep_alive)
		close_conn(c);
	else if (c->req_len > 0)
		try_request(c);     /* a pipelined request is already here */
}

/*
 * One write() per wakeup, as thttpd does: the head, then the body a chunk at
 * a time.  A chunk is read() only once the last one is all out; a short write
 * leaves the rest in the buffer for the next POLLOUT.
 */
static void send_response(struct conn *c)
{
	char *p = c->head;
	size_t *off = &c->head_off, len = c->head_len;
	ssize_t n;

	if (c->head_off == c->head_len) {
		if (c->buf_off == c->buf_len && c->left > 0) {
			n = read(c->file, c->buf, c->left < (off_t)chunk ? (size_t)c->left : chunk);
			if (n < 0 && errno == EINTR)
				return;
			if (n <= 0) {   /* file shrank or failed: Content-Length is now a lie */
				fprintf(stderr, "legacy-httpd: %s: read failed\n", c->path);
				close_conn(c);
				return;
			}
			c->buf_len = (size_t)n;
			c->buf_off = 0;
			c->left -= n;
		}
		p = c->buf;
		off = &c->buf_off;
		len = c->buf_len;
	}
	if (*off < len) {
		n = write(c->fd, p + *off, len - *off);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			close_conn(c);
			return;
		}
		if (n > 0) {
			*off += (size_t)n;
			c->sent += p == c->buf ? n : 0;
			c->last = time(NULL);
		}
	}
	if (c->head_off == c->head_len && c->buf_off == c->buf_len && c->left == 0)
		finish_response(c);
}

static void read_request(struct conn *c)
{
	ssize_t n = read(c->fd, c->req + c->req_len, REQ_MAX - 1 - c->req_len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		close_conn(c);              /* client went away */
		return;
	}
	c->req_len += (size_t)n;
	c->last = time(NULL);
	try_request(c);
}

static void accept_all(int lfd)
{
	for (int i = 0; i < MAX_CONN; i++) {
		if (conns[i].st != ST_FREE)
			continue;
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			return;             /* EAGAIN: nobody else is waiting */
		char *buf = malloc(chunk);
		if (!buf || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0) {
			free(buf);
			close(fd);
			continue;
		}
		conns[i] = (struct conn){ .st = ST_READ, .fd = fd, .file = -1, .buf = buf,
					  .last = time(NULL) };
	}
}

static int listen_on(const char *addr, int port, const char *portfile)
{
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	socklen_t len = sizeof(sin);
	int one = 1, fd = -1;

	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "legacy-httpd: bad address %s\n", addr);
		return -1;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0
	    || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0
	    || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 || listen(fd, 128) < 0
	    || fcntl(fd, F_SETFL, O_NONBLOCK) < 0
	    || getsockname(fd, (struct sockaddr *)&sin, &len) < 0) {
		perror("legacy-httpd: listen");
		return -1;
	}
	if (portfile) {             /* write, then rename: a reader never sees half a number */
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s.%d.tmp", portfile, (int)getpid());
		FILE *f = fopen(tmp, "w");
		if (!f || fprintf(f, "%d\n", ntohs(sin.sin_port)) < 0 || fclose(f) != 0
		    || rename(tmp, portfile) < 0) {
			perror("legacy-httpd: port file");
			return -1;
		}
	}
	fprintf(stderr, "legacy-httpd: listening on %s:%d\n", addr, ntohs(sin.sin_port));
	return fd;
}

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1", *portfile = NULL;
	char *end;
	long port = 8080;
	int opt, lfd, bad = 0;
	struct sigaction sa = { .sa_handler = on_signal };  /* no SA_RESTART: poll() must wake */

	while ((opt = getopt(argc, argv, "b:p:c:P:")) != -1) {
		switch (opt) {
		case 'b': addr = optarg; break;
		case 'p': port = strtol(optarg, &end, 10); bad |= *end != '\0'; break;
		case 'c': chunk = strtoul(optarg, &end, 10); bad |= *end != '\0'; break;
		case 'P': portfile = optarg; break;
		default: bad = 1;
		}
	}
	if (bad || optind != argc - 1 || port < 0 || port > 65535
	    || chunk < 8192 || chunk > 65536) {
		fprintf(stderr, "usage: legacy-httpd [-b ADDR] [-p PORT] [-c CHUNK 8192..65536]"
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
		struct pollfd pfd[MAX_CONN + 1];
		struct conn *who[MAX_CONN + 1];
		nfds_t n = 0;
		time_t now = time(NULL);

		for (int i = 0; i < MAX_CONN; i++) {
			struct conn *c = &conns[i];
			if (c->st != ST_FREE && now - c->last > IDLE_SECS)
				close_conn(c);
			if (c->st == ST_FREE)
				continue;
			who[n] = c;
			pfd[n++] = (struct pollfd){ c->fd, c->st == ST_READ ? POLLIN : POLLOUT, 0 };
		}
		if (n < MAX_CONN) {         /* full house: new clients wait in the backlog */
			who[n] = NULL;      /* listener last, so it cannot reuse a slot still listed */
			pfd[n++] = (struct pollfd){ lfd, POLLIN, 0 };
		}
		if (poll(pfd, n, 1000) < 0 && errno != EINTR) {
			perror("legacy-httpd: poll");
			break;
		}
		for (nfds_t i = 0; i < n && !stop; i++) {
			if (!pfd[i].revents)
				continue;
			if (!who[i])
				accept_all(lfd);
			else if (who[i]->st == ST_READ)
				read_request(who[i]);
			else
				send_response(who[i]);
		}
	}
	for (int i = 0; i < MAX_CONN; i++)
		if (conns[i].st != ST_FREE)
			close_conn(&conns[i]);
	close(lfd);
	close(docroot_fd);
	fprintf(stderr, "legacy-httpd: shutting down\n");
	return 0;
}
