/*
 * legacy-cat: concatenate files to standard output, written the old way.
 *
 * Stands for 4.4BSD cat's raw_cat() and busybox cat: one buffer, a read()
 * from each input, then write()s to stdout until the buffer is all out.
 * stdout may be a terminal, a pipe, a file or a socket.
 *
 * Copy pattern: read(in, buf, BUFSIZE) then write(1, buf, n), looping on a
 * short write from the rest of the buffer and retrying on EINTR.  zcopy
 * turns the pair into copy_file_range() (file to file), splice() (into a
 * pipe) or sendfile() (into a socket) without changing the program.
 *
 * Usage: legacy-cat [-b BUFSIZE] [FILE...]     ("-" or no FILE: stdin)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *prog = "legacy-cat";

/* Write all of buf[0..len) to stdout; -1 on error, with errno set. */
static int write_all(const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(STDOUT_FILENO, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;           /* short write: go on from where it stopped */
		len -= (size_t)n;
	}
	return 0;
}

/* Copy one open file to stdout: 0 on success, 1 on a read error, 2 on a write error. */
static int raw_cat(int fd, const char *name, char *buf, size_t bufsize)
{
	for (;;) {
		ssize_t n = read(fd, buf, bufsize);
		if (n == 0)
			return 0;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, name, strerror(errno));
			return 1;
		}
		if (write_all(buf, (size_t)n) < 0) {
			fprintf(stderr, "%s: write error: %s\n", prog, strerror(errno));
			return 2;
		}
	}
}

int main(int argc, char **argv)
{
	size_t bufsize = 65536;
	int opt, status = 0;
	char *end, *buf;

	while ((opt = getopt(argc, argv, "b:")) != -1) {
		if (opt != 'b')
			goto usage;
		bufsize = strtoul(optarg, &end, 10);
		if (*end || bufsize == 0 || bufsize > 64 << 20) {
			fprintf(stderr, "%s: bad buffer size: %s\n", prog, optarg);
			goto usage;
		}
	}
	if (!(buf = malloc(bufsize))) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}
	/* With no FILE the loop runs once, on "-". */
	for (int i = optind; i < argc || i == optind; i++) {
		const char *name = i < argc ? argv[i] : "-";
		int fd = STDIN_FILENO, r;

		if (strcmp(name, "-") == 0) {
			name = "stdin";
		} else if ((fd = open(name, O_RDONLY)) < 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, name, strerror(errno));
			status = 1;
			continue;
		}
		r = raw_cat(fd, name, buf, bufsize);
		if (fd != STDIN_FILENO)
			close(fd);
		if (r == 2) {                   /* stdout is gone: no point going on */
			free(buf);
			return 1;
		}
		status |= r;
	}
	free(buf);
	if (close(STDOUT_FILENO) < 0) {     /* a file on NFS may only now report ENOSPC */
		fprintf(stderr, "%s: stdout: %s\n", prog, strerror(errno));
		return 1;
	}
	return status;

usage:
	fprintf(stderr, "usage: %s [-b BUFSIZE] [FILE...]\n", prog);
	return 1;
}
