/* sink.h: the destinations that the pattern programs (vecsend, mapwrite,
 * maptrunc, stdiocopy) write to.  Header-only, included by each.
 *
 * sink_open() gives the sending end of a regular file, a pipe, a TCP
 * connection over loopback or a unix stream socketpair.  For a pipe or a
 * socket a receiver child, forked before the caller opens its source, reads
 * the other end and saves every byte to OUT with plain write().  It can read
 * slowly (READ bytes at a time, sleeping USEC after each read) so that the
 * sender's buffers fill up and its writes come back short.
 *
 * Every failure prints "<program>: <call>: <strerror>" and exits 1. */
#ifndef SINK_H
#define SINK_H

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

enum sink_kind { SINK_FILE, SINK_PIPE, SINK_TCP, SINK_UNIX };

struct sink_opts {
	int sndbuf;        /* SO_SNDBUF of the sending socket, 0 = default */
	size_t read_size;  /* receiver's read size, 0 = 65536 */
	long sleep_us;     /* receiver's pause after each read */
};

static void sink_die(const char *call)
{
	fprintf(stderr, "%s: %s: %s\n", program_invocation_short_name, call, strerror(errno));
	exit(1);
}

/* -1 for an unknown name. */
static int sink_kind_of(const char *name)
{
	static const char *const names[] = { "file", "pipe", "tcp", "unix" };
	for (int i = 0; i < 4; i++)
		if (strcmp(name, names[i]) == 0)
			return i;
	return -1;
}

/* end[0]: the sender's; end[1]: the receiver's. */
static void sink_channel(enum sink_kind kind, const struct sink_opts *o, int end[2])
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	int l, p[2];

	switch (kind) {
	case SINK_TCP:
		memset(&a, 0, sizeof a);
		a.sin_family = AF_INET;
		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if ((l = socket(AF_INET, SOCK_STREAM, 0)) < 0 || (end[0] = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			sink_die("socket");
		if (bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
		    getsockname(l, (struct sockaddr *)&a, &len) < 0)
			sink_die("listen");
		/* SO_SNDBUF before connect: the window is sized at the handshake. */
		if (o->sndbuf && setsockopt(end[0], SOL_SOCKET, SO_SNDBUF, &o->sndbuf, sizeof o->sndbuf) < 0)
			sink_die("setsockopt SO_SNDBUF");
		if (connect(end[0], (struct sockaddr *)&a, sizeof a) < 0)
			sink_die("connect");
		if ((end[1] = accept(l, NULL, NULL)) < 0)
			sink_die("accept");
		close(l);
		break;
	case SINK_UNIX:
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, end) < 0)
			sink_die("socketpair");
		if (o->sndbuf && setsockopt(end[0], SOL_SOCKET, SO_SNDBUF, &o->sndbuf, sizeof o->sndbuf) < 0)
			sink_die("setsockopt SO_SNDBUF");
		break;
	default:
		if (pipe(p) < 0)
			sink_die("pipe");
		end[0] = p[1];
		end[1] = p[0];
	}
}

static void sink_receiver(int fd, const char *out, const struct sink_opts *o)
{
	size_t size = o->read_size ? o->read_size : 65536;
	char *buf = malloc(size);
	int ofd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (!buf)
		sink_die("malloc");
	if (ofd < 0)
		sink_die("open OUT");
	for (;;) {
		ssize_t n = read(fd, buf, size);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			sink_die("receiver read");
		if (n == 0)
			break;
		for (ssize_t done = 0; done < n;) {
			ssize_t w = write(ofd, buf + done, (size_t)(n - done));
			if (w < 0 && errno != EINTR)
				sink_die("receiver write");
			done += w > 0 ? w : 0;
		}
		if (o->sleep_us)
			usleep((useconds_t)o->sleep_us);
	}
	if (close(ofd) < 0)
		sink_die("receiver close");
	_exit(0);
}

/* Returns the fd to write to; *child is the receiver's pid, or -1. */
static int sink_open(enum sink_kind kind, const char *out, const struct sink_opts *o, pid_t *child)
{
	int end[2];
	*child = -1;
	if (kind == SINK_FILE) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			sink_die("open OUT");
		return fd;
	}
	sink_channel(kind, o, end);
	if ((*child = fork()) < 0)
		sink_die("fork");
	if (*child == 0) {
		close(end[0]);
		sink_receiver(end[1], out, o);
	}
	close(end[1]);
	return end[0];
}

/* After the sender closed its end: 0 when the receiver saved everything. */
static int sink_wait(pid_t child)
{
	int st;
	if (child < 0)
		return 0;
	while (waitpid(child, &st, 0) < 0)
		if (errno != EINTR)
			sink_die("waitpid");
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return 0;
	fprintf(stderr, "%s: receiver failed (status %d)\n", program_invocation_short_name, st);
	return 1;
}

#endif
