/* forkclose: what an accepting process costs itself when it closes a
 * connection right after forking its handler, as fork-per-connection
 * servers do.
 *   forkclose FILE
 * First sends 64 KiB of FILE into a unix stream socketpair with read() +
 * write() (under zcopy, a sendfile that leaves an entry in flight).  Then
 * opens a TCP socket, forks a child that waits, closes the socket, and
 * prints "close faults N": the minor page faults the close took.  While
 * the child lives every page is shared with it, so any store the close
 * makes outside the kernel copies a page. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char buf[65536];

static void die(const char *what)
{
	perror(what);
	exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: forkclose FILE\n");
		return 2;
	}
	int file = open(argv[1], O_RDONLY), pair[2];
	if (file < 0)
		die(argv[1]);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) < 0)
		die("socketpair");
	ssize_t n = read(file, buf, sizeof buf);
	if (n <= 0 || write(pair[0], buf, (size_t)n) != n)
		die("copy");
	int conn = socket(AF_INET, SOCK_STREAM, 0);
	if (conn < 0)
		die("socket");

	/* A close before the fork maps the code a close runs. */
	int spare = dup(conn);
	if (spare < 0 || close(spare) < 0)
		die("dup and close");

	static struct rusage usage[3];  /* one page: warm, before, after */
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		pause();
		_exit(0);
	}
	/* The first call copies the page the results land on. */
	getrusage(RUSAGE_SELF, &usage[0]);
	getrusage(RUSAGE_SELF, &usage[1]);
	int r = close(conn);
	getrusage(RUSAGE_SELF, &usage[2]);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	if (r < 0)
		die("close");
	printf("close faults %ld\n", usage[2].ru_minflt - usage[1].ru_minflt);
	return 0;
}
