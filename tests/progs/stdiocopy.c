/* stdiocopy: a stdio copy loop, fread(buf, 1, N, in) then fwrite(buf, 1, n,
 * out), as in many small tools' fcopy() helpers.
 *
 *   stdiocopy [options] SRC [OUT]
 *
 * Copies SRC to stdout (or -o PATH) in -c byte chunks (default 65536).  zcopy
 * sends an fwrite() at least as large as the stream's buffer with an
 * in-kernel call after flushing what the stream holds; a smaller fwrite stays
 * in stdio's buffer.
 *
 *   -c BYTES   bytes per fread/fwrite (default 65536)
 *   -b BYTES   setvbuf(out, NULL, _IOFBF, BYTES) first
 *   -p         fprintf a line to the same stream before every chunk and at the end
 *   -t         print ftell(out) to stderr after every chunk and at the end
 *   -S         fseek(out, 0, SEEK_CUR) first and after every chunk: stdio
 *              then keeps the offset cached in the stream, and a relative
 *              seek starts from that cached value
 *   -s tcp|unix|closed
 *              stdout becomes a socket whose receiver child saves to OUT, or
 *              (closed) a pipe whose read end is already closed: EPIPE, and
 *              a SIGPIPE handler that counts the signals ("SIGPIPE N" at the end)
 *   -o PATH    write to fopen(PATH, -m MODE) instead of stdout
 *   -m MODE    fopen mode for -o (default "w")
 *
 * Every fwrite that does not write everything is reported on stderr as
 * "fwrite N = GOT ferror=E errno=NAME"; after the first one the copy stops
 * (exit 3).  Exit 0 when all of SRC was copied, 1 on other failures. */
#include "sink.h"

#include <signal.h>

static void usage(void)
{
	fprintf(stderr, "usage: stdiocopy [-c BYTES] [-b BYTES] [-p] [-t] [-S] [-s tcp|unix|closed]"
			" [-o PATH [-m MODE]] SRC [OUT]\n");
	exit(2);
}

static volatile sig_atomic_t sigpipes;

static void count_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

static void report_ftell(FILE *out, const char *when)
{
	fprintf(stderr, "ftell %s %ld\n", when, ftell(out));
}

int main(int argc, char **argv)
{
	struct sink_opts so = { 0 };
	const char *sock = NULL, *path = NULL, *mode = "w";
	size_t chunk = 65536, bufsize = 0;
	int prints = 0, tells = 0, seek = 0, c;

	while ((c = getopt(argc, argv, "c:b:ptSs:o:m:")) != -1) {
		switch (c) {
		case 'c': chunk = strtoul(optarg, NULL, 10); break;
		case 'b': bufsize = strtoul(optarg, NULL, 10); break;
		case 'p': prints = 1; break;
		case 't': tells = 1; break;
		case 'S': seek = 1; break;
		case 's': sock = optarg; break;
		case 'o': path = optarg; break;
		case 'm': mode = optarg; break;
		default: usage();
		}
	}
	if (argc - optind != (sock && strcmp(sock, "closed") != 0 ? 2 : 1) || chunk == 0 || (sock && path))
		usage();

	pid_t child = -1;
	if (sock && strcmp(sock, "closed") == 0) {
		int p[2];
		if (pipe(p) < 0 || close(p[0]) < 0 || dup2(p[1], STDOUT_FILENO) < 0)
			sink_die("pipe");
		close(p[1]);
		signal(SIGPIPE, count_sigpipe);
	} else if (sock) {
		int kind = sink_kind_of(sock);
		if (kind != SINK_TCP && kind != SINK_UNIX)
			usage();
		/* Before stdout is first used: the stream takes whatever fd 1 is. */
		int fd = sink_open(kind, argv[optind + 1], &so, &child);
		if (dup2(fd, STDOUT_FILENO) < 0)
			sink_die("dup2");
		close(fd);
	}
	FILE *out = stdout;
	if (path && !(out = fopen(path, mode)))
		sink_die("fopen OUT");
	FILE *in = fopen(argv[optind], "r");
	char *buf = malloc(chunk);
	if (!in)
		sink_die("fopen SRC");
	if (!buf)
		sink_die("malloc");
	/* glibc ignores the size when it allocates the buffer itself. */
	char *stream_buf = bufsize ? malloc(bufsize) : NULL;
	if (bufsize && (!stream_buf || setvbuf(out, stream_buf, _IOFBF, bufsize) != 0))
		sink_die("setvbuf");
	if (seek && fseek(out, 0, SEEK_CUR) != 0)
		sink_die("fseek");

	int status = 0;
	size_t n;
	for (long i = 0; !status && (n = fread(buf, 1, chunk, in)) > 0; i++) {
		if (prints)
			fprintf(out, "-- chunk %ld, %zu bytes --\n", i, n);
		size_t got = fwrite(buf, 1, n, out);
		if (got != n) {
			int e = errno;
			fprintf(stderr, "fwrite %zu = %zu ferror=%d errno=%s\n", n, got, ferror(out),
				e == EPIPE ? "EPIPE" : strerror(e));
			status = 3;
		}
		if (seek && fseek(out, 0, SEEK_CUR) != 0)
			sink_die("fseek");
		if (tells)
			report_ftell(out, "chunk");
	}
	if (ferror(in))
		sink_die("fread");
	if (prints && !status)
		fprintf(out, "-- end --\n");
	if (tells)
		report_ftell(out, "end");
	if (fclose(out) != 0 && !status)
		sink_die("fclose");
	fclose(in);
	free(stream_buf);
	if (sigpipes)
		fprintf(stderr, "SIGPIPE %d\n", (int)sigpipes);
	if (sink_wait(child))
		return 1;
	return status;
}
