/* maptrunc: the file under a MAP_SHARED mapping is truncated by another
 * process while the program write()s from the mapping.
 *
 *   maptrunc [-d pipe|tcp|unix] [-c BYTES] [-k K] [-t SIZE] [-z USEC] SRC OUT
 *
 * Maps all of SRC and writes it to the destination in -c byte write() calls
 * (default 65536).  Once chunk K (counting from 0, default 3) is written, a
 * child process truncates SRC to SIZE bytes (default: the end of chunk K) and
 * says so through a pipe; only then is chunk K+1 written.  The receiver reads
 * 4096 bytes at a time and sleeps -z USEC (default 200) after each read, so
 * earlier chunks are still in flight when the file shrinks.
 *
 * Writing from mapped pages past the new end of file fails inside the kernel
 * (EFAULT, or a short count up to the last readable page); the program
 * itself never touches the mapping, so it gets no SIGBUS.  Every write() is
 * reported on stdout as "write OFF LEN = RET[ ERRNO]"; the first failure
 * stops the copy ("stopped at OFF") and the exit status is 3.  Exit 0 when
 * everything was written, 1 on any other failure. */
#include "sink.h"

#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>

static void usage(void)
{
	fprintf(stderr, "usage: maptrunc [-d pipe|tcp|unix] [-c BYTES] [-k K] [-t SIZE] [-z USEC] SRC OUT\n");
	exit(2);
}

static const char *errno_name(int e)
{
	switch (e) {
	case EFAULT: return "EFAULT";
	case EIO: return "EIO";
	case EPIPE: return "EPIPE";
	case EINVAL: return "EINVAL";
	case ENODATA: return "ENODATA";
	default: return "other";
	}
}

/* The truncating child: waits for a byte on go, truncates, answers on done. */
static pid_t start_truncator(const char *path, off_t size, int *go, int *done)
{
	int a[2], b[2];
	char x;
	if (pipe(a) < 0 || pipe(b) < 0)
		sink_die("pipe");
	pid_t pid = fork();
	if (pid < 0)
		sink_die("fork");
	if (pid == 0) {
		close(a[1]);
		close(b[0]);
		if (read(a[0], &x, 1) != 1)
			_exit(0);  /* the copy ended before chunk K */
		if (truncate(path, size) < 0)
			sink_die("truncate");
		if (write(b[1], "t", 1) != 1)
			sink_die("write");
		_exit(0);
	}
	close(a[0]);
	close(b[1]);
	*go = a[1];
	*done = b[0];
	return pid;
}

int main(int argc, char **argv)
{
	struct sink_opts so = { .read_size = 4096, .sleep_us = 200 };
	int kind = SINK_PIPE, c;
	size_t chunk = 65536;
	long k = 3;
	long long new_size = -1;

	while ((c = getopt(argc, argv, "d:c:k:t:z:")) != -1) {
		switch (c) {
		case 'd': if ((kind = sink_kind_of(optarg)) < 0 || kind == SINK_FILE) usage(); break;
		case 'c': chunk = strtoul(optarg, NULL, 10); break;
		case 'k': k = atol(optarg); break;
		case 't': new_size = atoll(optarg); break;
		case 'z': so.sleep_us = atol(optarg); break;
		default: usage();
		}
	}
	if (argc - optind != 2 || chunk == 0 || k < 0)
		usage();
	if (new_size < 0)
		new_size = (long long)chunk * (k + 1);
	signal(SIGPIPE, SIG_IGN);  /* a receiver that died shows as EPIPE */

	pid_t receiver;
	int dst = sink_open(kind, argv[optind + 1], &so, &receiver);
	int src = open(argv[optind], O_RDONLY);
	struct stat st;
	if (src < 0 || fstat(src, &st) < 0)
		sink_die("open SRC");
	size_t len = (size_t)st.st_size;
	const char *map = mmap(NULL, len, PROT_READ, MAP_SHARED, src, 0);
	if (map == MAP_FAILED)
		sink_die("mmap");
	int go, done;
	pid_t truncator = start_truncator(argv[optind], (off_t)new_size, &go, &done);

	int status = 0;
	size_t off = 0;
	for (long i = 0; off < len && !status; i++) {
		size_t end = off + chunk < len ? off + chunk : len;
		while (off < end) {
			ssize_t r = write(dst, map + off, end - off);
			if (r < 0 && errno == EINTR)
				continue;
			printf("write %zu %zu = %zd%s%s\n", off, end - off, r, r < 0 ? " " : "",
			       r < 0 ? errno_name(errno) : "");
			if (r <= 0) {
				printf("stopped at %zu\n", off);
				status = 3;
				break;
			}
			off += (size_t)r;
		}
		if (i == k && !status) {
			char x;
			if (write(go, "g", 1) != 1 || read(done, &x, 1) != 1)
				sink_die("truncator");
			printf("truncated to %lld\n", new_size);
		}
	}
	close(go);
	close(done);
	if (close(dst) < 0)
		sink_die("close");
	printf("sent %zu\n", off);
	fflush(stdout);
	int rs = sink_wait(receiver);
	int ts;
	waitpid(truncator, &ts, 0);
	if (rs || !WIFEXITED(ts) || WEXITSTATUS(ts))
		return 1;
	return status;
}
