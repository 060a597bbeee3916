/* threads: copy loops running in several threads at once.
 *   threads own SRC1 DST1 SRC2 DST2
 * two threads, each copying its own file to its own destination (opened
 * O_WRONLY: the tests pass FIFOs) with read()/write() and its own buffer.
 *   threads handoff SRC DST
 * a worker pool: one thread read()s each 64 KiB chunk into one of four
 * buffers and queues it; another thread write()s it to DST and hands the
 * buffer back.  The read and the write of one chunk happen in different
 * threads.
 *   threads wait SRC DST
 * the main thread reads the first chunk of SRC and holds it while another
 * thread reads SRC through its own fd and writes it to /dev/null, 100
 * chunks (a server thread waiting for a lock, or Python's GIL, while the
 * others serve); then it writes that chunk to DST, and the rest of SRC. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK 65536
#define NBUF 4

static void write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			perror("threads: write");
			exit(1);
		}
		p += w;
		n -= w;
	}
}

static int open_or_die(const char *path, int flags)
{
	int fd = open(path, flags);
	if (fd < 0) {
		perror(path);
		exit(2);
	}
	return fd;
}

/* ---- two independent copies ---- */

struct job {
	const char *src, *dst;
};

static void *copy_one(void *arg)
{
	struct job *j = arg;
	char *buf = malloc(CHUNK);
	int in = open_or_die(j->src, O_RDONLY), out = open_or_die(j->dst, O_WRONLY);
	ssize_t n;

	while ((n = read(in, buf, CHUNK)) > 0)
		write_all(out, buf, n);
	if (n < 0) {
		perror("threads: read");
		exit(1);
	}
	close(out);
	close(in);
	free(buf);
	return NULL;
}

/* ---- one reader, one writer ---- */

static char pool[NBUF][CHUNK];
static ssize_t len[NBUF];
static int head, count;	/* ring of filled buffers: pool[head..head+count) */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int in_fd, out_fd;

static void *reader(void *arg)
{
	(void)arg;
	for (int i = 0;; i = (i + 1) % NBUF) {
		pthread_mutex_lock(&mu);
		while (count == NBUF)
			pthread_cond_wait(&cv, &mu);
		pthread_mutex_unlock(&mu);
		/* pool[i] is free: the writer is done with it. */
		ssize_t n = read(in_fd, pool[i], CHUNK);
		if (n < 0) {
			perror("threads: read");
			exit(1);
		}
		pthread_mutex_lock(&mu);
		len[i] = n;
		count++;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
		if (n == 0)
			return NULL;
	}
}

static void *writer(void *arg)
{
	(void)arg;
	for (;;) {
		pthread_mutex_lock(&mu);
		while (count == 0)
			pthread_cond_wait(&cv, &mu);
		int i = head;
		ssize_t n = len[i];
		pthread_mutex_unlock(&mu);
		if (n == 0)
			return NULL;
		write_all(out_fd, pool[i], n);
		pthread_mutex_lock(&mu);
		head = (head + 1) % NBUF;
		count--;
		pthread_cond_broadcast(&cv);
		pthread_mutex_unlock(&mu);
	}
}

/* ---- one chunk held while another thread copies ---- */

static void *copy_to_null(void *arg)
{
	char *buf = malloc(CHUNK);
	int in = open_or_die(arg, O_RDONLY), out = open_or_die("/dev/null", O_WRONLY);
	for (int i = 0; i < 100; i++) {
		ssize_t n = read(in, buf, CHUNK);
		if (n < 0) {
			perror("threads: read");
			exit(1);
		}
		if (n == 0)
			lseek(in, 0, SEEK_SET);
		else
			write_all(out, buf, n);
	}
	close(out);
	close(in);
	free(buf);
	return NULL;
}

static int held_chunk_then_rest(const char *src, const char *dst)
{
	char *buf = malloc(CHUNK);
	int in = open_or_die(src, O_RDONLY), out = open_or_die(dst, O_WRONLY);
	pthread_t other;
	ssize_t n = read(in, buf, CHUNK);
	pthread_create(&other, NULL, copy_to_null, (void *)src);
	pthread_join(other, NULL);
	do {
		if (n < 0) {
			perror("threads: read");
			exit(1);
		}
		write_all(out, buf, n);
	} while ((n = read(in, buf, CHUNK)) != 0);
	close(out);
	close(in);
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	pthread_t a, b;
	struct job j1, j2;  /* here, not in the if: the threads use them until joined */

	if (argc == 6 && strcmp(argv[1], "own") == 0) {
		j1 = (struct job){ argv[2], argv[3] };
		j2 = (struct job){ argv[4], argv[5] };
		pthread_create(&a, NULL, copy_one, &j1);
		pthread_create(&b, NULL, copy_one, &j2);
	} else if (argc == 4 && strcmp(argv[1], "handoff") == 0) {
		in_fd = open_or_die(argv[2], O_RDONLY);
		out_fd = open_or_die(argv[3], O_WRONLY);
		pthread_create(&a, NULL, reader, NULL);
		pthread_create(&b, NULL, writer, NULL);
	} else if (argc == 4 && strcmp(argv[1], "wait") == 0) {
		return held_chunk_then_rest(argv[2], argv[3]);
	} else {
		fprintf(stderr, "usage: threads own SRC1 DST1 SRC2 DST2 | handoff SRC DST | wait SRC DST\n");
		return 2;
	}
	pthread_join(a, NULL);
	pthread_join(b, NULL);
	return 0;
}
