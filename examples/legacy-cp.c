/*
 * legacy-cp: copy one file, written the old way.
 *
 * Stands for the copy loop of old cp(1) and install(1) (4.4BSD copy_file(),
 * busybox bb_copyfd), and the many build and packaging tools that carry
 * their own copy of it: open SRC, create DST with SRC's permission bits,
 * then a read()/write() loop through one buffer.  Nothing else (owner,
 * times, ACLs) is preserved, and DST is not fsync()ed.
 *
 * Copy pattern: read(src, buf, BUFSIZE) then write(dst, buf, n), looping on
 * a short write and retrying on EINTR.  Between two regular files zcopy
 * turns the pair into copy_file_range() without changing the program.
 *
 * Usage: legacy-cp [-b BUFSIZE] SRC DST        (DST may be a directory)
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *prog = "legacy-cp";

static int fail(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	size_t bufsize = 65536;
	char *end, *buf, target[4096];
	const char *src, *dst;
	struct stat sst, dst_st;
	int opt, in, out;
	ssize_t n;

	while ((opt = getopt(argc, argv, "b:")) != -1) {
		if (opt != 'b')
			goto usage;
		bufsize = strtoul(optarg, &end, 10);
		if (*end || bufsize == 0 || bufsize > 64 << 20) {
			fprintf(stderr, "%s: bad buffer size: %s\n", prog, optarg);
			goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	src = argv[optind];
	dst = argv[optind + 1];

	if ((in = open(src, O_RDONLY)) < 0 || fstat(in, &sst) < 0)
		return fail(src);
	if (S_ISDIR(sst.st_mode)) {
		fprintf(stderr, "%s: %s: is a directory (not copied)\n", prog, src);
		return 1;
	}
	if (stat(dst, &dst_st) == 0 && S_ISDIR(dst_st.st_mode)) {   /* cp f dir/ -> dir/f */
		char tmp[4096];
		snprintf(tmp, sizeof(tmp), "%s", src);
		snprintf(target, sizeof(target), "%s/%s", dst, basename(tmp));
		dst = target;
	}
	/* Truncating a file onto itself would destroy it before the first read. */
	if (stat(dst, &dst_st) == 0 && dst_st.st_dev == sst.st_dev && dst_st.st_ino == sst.st_ino) {
		fprintf(stderr, "%s: %s and %s are the same file\n", prog, src, dst);
		return 1;
	}
	/* Permission bits only: set-id bits are not carried over, as old cp did. */
	if ((out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, sst.st_mode & 0777)) < 0)
		return fail(dst);
	if (!(buf = malloc(bufsize))) {
		fprintf(stderr, "%s: out of memory\n", prog);
		return 1;
	}

	while ((n = read(in, buf, bufsize)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail(src);
		for (char *p = buf; n > 0; ) {
			ssize_t w = write(out, p, (size_t)n);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return fail(dst);
			p += w;     /* short write (disk full, signal): go on from there */
			n -= w;
		}
	}

	free(buf);
	close(in);
	if (close(out) < 0)     /* NFS may only report a failed write here */
		return fail(dst);
	return 0;

usage:
	fprintf(stderr, "usage: %s [-b BUFSIZE] SRC DST\n", prog);
	return 1;
}
