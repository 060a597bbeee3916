/* ownwrite: the program changes the file it read, then sends what it read.
 *   ownwrite HOW FILE
 * reads the first 256 KiB of FILE (opened read-write) into a buffer, then
 * changes bytes inside that range by HOW, then write()s the buffer to
 * stdout: those are the bytes read, not the file's new ones.  Then it
 * reads the next 256 KiB, which nothing changes, and writes them too.
 * HOW:
 *   pwrite-same   pwrite() on the fd it read from
 *   pwrite-other  pwrite() on a second fd of the same file
 *   write-other   write() through a second fd
 *   writev-other  writev() through a second fd
 *   ftruncate     ftruncate() to 100 bytes (the second read then gets 0)
 *   copy-range    copy_file_range() into it from /proc/self/exe
 *   fork-pwrite   a fork child pwrite()s, the parent waits for it */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define CHUNK (256 * 1024)

static char buf[CHUNK], other[4096];

static int second_fd(const char *path)
{
	int fd = open(path, O_WRONLY);
	if (fd < 0) {
		perror("ownwrite: open");
		exit(1);
	}
	return fd;
}

static void change(const char *how, const char *path, int fd)
{
	struct iovec iov = { other, sizeof other };
	int fd2;

	memset(other, 'X', sizeof other);
	if (!strcmp(how, "pwrite-same")) {
		pwrite(fd, other, sizeof other, 1000);
	} else if (!strcmp(how, "pwrite-other")) {
		fd2 = second_fd(path);
		pwrite(fd2, other, sizeof other, 5000);
		close(fd2);
	} else if (!strcmp(how, "write-other")) {
		fd2 = second_fd(path);
		write(fd2, other, sizeof other);
		close(fd2);
	} else if (!strcmp(how, "writev-other")) {
		fd2 = second_fd(path);
		writev(fd2, &iov, 1);
		close(fd2);
	} else if (!strcmp(how, "ftruncate")) {
		ftruncate(fd, 100);
	} else if (!strcmp(how, "copy-range")) {
		int exe = open("/proc/self/exe", O_RDONLY);
		loff_t in = 0, out = 0;
		fd2 = second_fd(path);
		copy_file_range(exe, &in, fd2, &out, 8192, 0);
		close(fd2);
		close(exe);
	} else if (!strcmp(how, "fork-pwrite")) {
		pid_t child = fork();
		if (child == 0) {
			pwrite(fd, other, sizeof other, 3000);
			_exit(0);
		}
		waitpid(child, NULL, 0);
	} else {
		fprintf(stderr, "ownwrite: unknown HOW %s\n", how);
		exit(2);
	}
}

static void send_all(const char *p, ssize_t n)
{
	while (n > 0) {
		ssize_t w = write(1, p, (size_t)n);
		if (w < 0) {
			perror("ownwrite: write");
			exit(1);
		}
		p += w;
		n -= w;
	}
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: ownwrite HOW FILE\n");
		return 2;
	}
	int fd = open(argv[2], O_RDWR);
	if (fd < 0) {
		perror("ownwrite: open");
		return 1;
	}
	ssize_t n = read(fd, buf, CHUNK);
	change(argv[1], argv[2], fd);
	send_all(buf, n);
	n = pread(fd, buf, CHUNK, CHUNK);
	send_all(buf, n);
	return 0;
}
