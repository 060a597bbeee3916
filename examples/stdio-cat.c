/*
 * stdio-cat: cat written with stdio, fread() into a buffer and fwrite() it.
 *
 * Stands for the fread()/fwrite() copy loops of small C tools: the
 * filecopy() of K&R-style cat clones, CGI programs that send a download to
 * stdout after printing their headers, and build helpers that concatenate
 * files.  glibc does the read() and write() calls inside fread and fwrite.
 *
 * Copy pattern: fread(buf, 1, 64 KiB, in), then fwrite(buf, 1, n, stdout).
 * glibc writes a block that large straight from buf, bypassing stdout's
 * 4 KiB buffer, so zcopy can send it with sendfile (socket), splice (pipe) or
 * copy_file_range (file) instead, after flushing whatever -H put in the
 * buffer first.
 *
 * Usage: stdio-cat [-H TEXT] [FILE...]
 * "-" or no FILE reads stdin.  -H prints TEXT (with \r and \n escapes) to
 * stdout first, as a CGI header.  Exit 1 if any file failed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK 65536

static char buf[CHUNK];

/* The loop every such tool has: 0 on success. */
static int filecopy(FILE *in, FILE *out)
{
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
		if (fwrite(buf, 1, n, out) != n)
			return -1;
	return ferror(in) ? -1 : 0;
}

/* -H TEXT: \r, \n and \\ escapes, like printf(1). */
static void put_header(const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			putchar(*s == 'r' ? '\r' : *s == 'n' ? '\n' : *s);
		} else {
			putchar(*s);
		}
	}
}

int main(int argc, char **argv)
{
	int opt, status = 0;

	while ((opt = getopt(argc, argv, "H:")) != -1) {
		if (opt != 'H') {
			fprintf(stderr, "usage: stdio-cat [-H TEXT] [FILE...]\n");
			return 2;
		}
		put_header(optarg);
	}
	static char *just_stdin[] = { "-" };
	char **files = optind < argc ? argv + optind : just_stdin;
	int nfiles = optind < argc ? argc - optind : 1;
	for (int i = 0; i < nfiles; i++) {
		int is_stdin = strcmp(files[i], "-") == 0;
		FILE *in = is_stdin ? stdin : fopen(files[i], "r");
		if (!in) {
			fprintf(stderr, "stdio-cat: %s: %s\n", files[i], strerror(errno));
			status = 1;
			continue;
		}
		if (filecopy(in, stdout) < 0) {
			fprintf(stderr, "stdio-cat: %s: %s\n", ferror(stdout) ? "write error" : files[i],
				strerror(errno));
			status = 1;
		}
		if (!is_stdin)
			fclose(in);
		if (ferror(stdout))
			break;
	}
	if (fclose(stdout) != 0 && !status) {
		fprintf(stderr, "stdio-cat: write error: %s\n", strerror(errno));
		status = 1;
	}
	return status;
}
