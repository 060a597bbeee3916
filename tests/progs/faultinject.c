/* faultinject: makes sendfile, splice and copy_file_range fail or fall short
 * in a program, through a seccomp filter, to show that zcopy falls back.
 *
 *   faultinject [-s CALLS] [-l LOG] -f FAULT[@WHICH]... -- CMD [ARGS...]
 *
 * A child sets PR_SET_NO_NEW_PRIVS, installs the filter and execs CMD; the
 * filter is inherited by everything CMD starts (strace, then the program).
 *   -s CALLS   comma-separated: sendfile,splice,copy_file_range (default all)
 *   -f FAULT   einval, enosys, eagain, eintr, exdev, eopnotsupp (an errno);
 *              short:N (the call moves at most N bytes); zero (returns 0,
 *              moves nothing).  @WHICH picks the calls, counted over every
 *              trapped call of every process from 1: N, N-M, N- or all
 *              (the default).  Several -f may be given; the first that
 *              matches a call wins.
 *   -l LOG     append one line per trapped call to LOG
 *
 * One errno fault for all calls is a plain SECCOMP_RET_ERRNO filter.
 * Anything else needs a count or a partial transfer, which BPF cannot do:
 * the filter returns SECCOMP_RET_USER_NOTIF and this process, the parent,
 * decides per call.  Untouched calls continue in the kernel
 * (SECCOMP_USER_NOTIF_FLAG_CONTINUE).  A short count is done here, for the
 * target: its fds are copied in with pidfd_getfd (they share the target's
 * open file descriptions, so the file positions move as the target's own
 * call would move them), the offset arguments are read from and written back
 * to its memory with process_vm_readv/writev, and the reply carries the
 * count.  Exits with CMD's status; 125 on its own errors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include "seccomp_arch.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

#define MAX_FAULTS 16

enum kind { K_ERRNO, K_SHORT, K_ZERO };

struct fault {
	enum kind kind;
	int err;              /* K_ERRNO */
	unsigned long bytes;  /* K_SHORT */
	unsigned long first, last;  /* calls first..last, counted from 1 */
};

static const struct { const char *name; int nr; } calls[] = {
	{ "sendfile", SYS_sendfile },
	{ "splice", SYS_splice },
	{ "copy_file_range", SYS_copy_file_range },
};
#define NCALLS (int)(sizeof calls / sizeof calls[0])

static const struct { const char *name; int err; } errnos[] = {
	{ "einval", EINVAL }, { "enosys", ENOSYS }, { "eagain", EAGAIN },
	{ "eintr", EINTR }, { "exdev", EXDEV }, { "eopnotsupp", EOPNOTSUPP },
};

static struct fault faults[MAX_FAULTS];
static int nfaults;
static int trapped[NCALLS];
static FILE *logf;

static void die(const char *what)
{
	fprintf(stderr, "faultinject: %s: %s\n", what, strerror(errno));
	exit(125);
}

static void usage(const char *why)
{
	if (why)
		fprintf(stderr, "faultinject: %s\n", why);
	fprintf(stderr, "usage: faultinject [-s sendfile,splice,copy_file_range] [-l LOG]\n"
			"                   -f FAULT[@N|@N-M|@N-|@all]... -- CMD [ARGS...]\n"
			"  FAULT: einval enosys eagain eintr exdev eopnotsupp short:BYTES zero\n");
	exit(125);
}

static unsigned long number(const char *s, char **end)
{
	errno = 0;
	unsigned long v = strtoul(s, end, 10);
	if (errno || *end == s || *s == '-')
		usage("bad number in -f");
	return v;
}

static void parse_fault(char *arg)
{
	if (nfaults == MAX_FAULTS)
		usage("too many -f");
	struct fault *f = &faults[nfaults++];
	f->first = 1;
	f->last = ULONG_MAX;
	char *at = strchr(arg, '@'), *end;
	if (at) {
		*at++ = 0;
		if (strcmp(at, "all") != 0) {
			f->first = f->last = number(at, &end);
			if (*end == '-')
				f->last = end[1] ? number(end + 1, &end) : ULONG_MAX;
			if (*end || f->first == 0 || f->last < f->first)
				usage("bad @WHICH in -f");
		}
	}
	if (strncmp(arg, "short:", 6) == 0) {
		f->kind = K_SHORT;
		f->bytes = number(arg + 6, &end);
		if (*end || f->bytes == 0)
			usage("short:BYTES needs BYTES > 0");
		return;
	}
	if (strcmp(arg, "zero") == 0) {
		f->kind = K_ZERO;
		return;
	}
	for (size_t i = 0; i < sizeof errnos / sizeof errnos[0]; i++)
		if (strcmp(arg, errnos[i].name) == 0) {
			f->kind = K_ERRNO;
			f->err = errnos[i].err;
			return;
		}
	usage("unknown fault");
}

static void parse_calls(char *arg)
{
	memset(trapped, 0, sizeof trapped);
	for (char *tok = strtok(arg, ","); tok; tok = strtok(NULL, ",")) {
		int i;
		for (i = 0; i < NCALLS && strcmp(tok, calls[i].name) != 0; i++)
			;
		if (i == NCALLS)
			usage("unknown call in -s");
		trapped[i] = 1;
	}
}

/* ---- the filter ---------------------------------------------------------- */

/* arch check, then one jump per trapped call to the action. */
static int install_filter(unsigned int action)
{
	struct sock_filter prog[4 + NCALLS + 2];
	int n = 0, ntrapped = 0;
	for (int i = 0; i < NCALLS; i++)
		ntrapped += trapped[i];
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	/* Another ABI: allow, its numbers mean other calls. */
	prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NATIVE_ARCH, 0, (__u8)(ntrapped + 1));
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	int left = ntrapped;
	for (int i = 0; i < NCALLS; i++)
		if (trapped[i]) {
			left--;
			/* match: skip the remaining tests and the ALLOW */
			prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (__u32)calls[i].nr,
								 (__u8)(left + 1), 0);
		}
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, action);
	struct sock_fprog fprog = { .len = (unsigned short)n, .filter = prog };

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("prctl PR_SET_NO_NEW_PRIVS");
	unsigned int flags = action == SECCOMP_RET_USER_NOTIF ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
	int r = (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
	if (r < 0)
		die("seccomp SECCOMP_SET_MODE_FILTER");
	return r;  /* the listener fd, or 0 */
}

/* ---- the supervisor ------------------------------------------------------ */

static int target_fd(int pidfd, int fd)
{
	return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
}

static int mem_io(pid_t pid, uint64_t addr, void *buf, size_t n, int write)
{
	struct iovec local = { buf, n }, remote = { (void *)(uintptr_t)addr, n };
	ssize_t r = write ? process_vm_writev(pid, &local, 1, &remote, 1, 0)
			  : process_vm_readv(pid, &local, 1, &remote, 1, 0);
	return r == (ssize_t)n ? 0 : -1;
}

/* The trapped call, for at most `most` bytes, done here on the target's
 * behalf.  Returns its result, or -errno. */
static long partial_call(int listener, const struct seccomp_notif *req, unsigned long most)
{
	const __u64 *a = req->data.args;
	int nr = req->data.nr;
	long ret;
	int pidfd = (int)syscall(SYS_pidfd_open, req->pid, 0);
	if (pidfd < 0 && errno == EINVAL)  /* not a thread-group leader */
		pidfd = (int)syscall(SYS_pidfd_open, req->pid, PIDFD_THREAD);
	if (pidfd < 0)
		return -errno;
	/* fd arguments: sendfile(out, in, ...), splice/copy_file_range(in, _, out, ...) */
	int in_arg = nr == SYS_sendfile ? 1 : 0, out_arg = nr == SYS_sendfile ? 0 : 2;
	int in = target_fd(pidfd, (int)a[in_arg]), out = target_fd(pidfd, (int)a[out_arg]);
	close(pidfd);
	if (in < 0 || out < 0) {
		ret = -EBADF;
		goto out;
	}
	/* Offset pointers: sendfile's a[2]; splice/copy_file_range's a[1], a[3]. */
	__u64 in_ptr = nr == SYS_sendfile ? a[2] : a[1], out_ptr = nr == SYS_sendfile ? 0 : a[3];
	loff_t in_off = 0, out_off = 0;
	if ((in_ptr && mem_io(req->pid, in_ptr, &in_off, sizeof in_off, 0) < 0) ||
	    (out_ptr && mem_io(req->pid, out_ptr, &out_off, sizeof out_off, 0) < 0)) {
		ret = -EFAULT;
		goto out;
	}
	/* What was read must still belong to this call (the target may have died
	 * and its pid been reused). */
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &req->id) < 0) {
		ret = -ESRCH;
		goto out;
	}
	size_t n = a[nr == SYS_sendfile ? 3 : 4];
	if (n > most)
		n = most;
	if (nr == SYS_sendfile)
		ret = sendfile(out, in, in_ptr ? &in_off : NULL, n);
	else if (nr == SYS_splice)
		ret = splice(in, in_ptr ? &in_off : NULL, out, out_ptr ? &out_off : NULL, n, (unsigned)a[5]);
	else
		ret = copy_file_range(in, in_ptr ? &in_off : NULL, out, out_ptr ? &out_off : NULL, n,
				      (unsigned)a[5]);
	if (ret < 0) {
		ret = -errno;
		goto out;
	}
	if ((in_ptr && mem_io(req->pid, in_ptr, &in_off, sizeof in_off, 1) < 0) ||
	    (out_ptr && mem_io(req->pid, out_ptr, &out_off, sizeof out_off, 1) < 0))
		ret = -EFAULT;
out:
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return ret;
}

static const char *call_name(int nr)
{
	for (int i = 0; i < NCALLS; i++)
		if (calls[i].nr == nr)
			return calls[i].name;
	return "?";
}

static void handle(int listener, struct seccomp_notif *req, struct seccomp_notif_resp *resp,
		   unsigned long count)
{
	const struct fault *f = NULL;
	for (int i = 0; i < nfaults && !f; i++)
		if (count >= faults[i].first && count <= faults[i].last)
			f = &faults[i];
	memset(resp, 0, sizeof *resp);
	resp->id = req->id;
	long ret = 0;
	if (!f) {
		resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
	} else if (f->kind == K_ERRNO) {
		ret = -f->err;
	} else if (f->kind == K_SHORT) {
		ret = partial_call(listener, req, f->bytes);
	}
	if (ret < 0)
		resp->error = (int)ret;
	else
		resp->val = ret;
	if (logf)
		fprintf(logf, "faultinject: call %lu pid %d %s: %s %ld\n", count, (int)req->pid,
			call_name(req->data.nr), !f ? "pass" : f->kind == K_ERRNO ? "errno" :
			f->kind == K_SHORT ? "short" : "zero", f ? ret : 0L);
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT)
		die("SECCOMP_IOCTL_NOTIF_SEND");
}

/* Answers every trapped call until the child has exited and nothing else
 * runs under the filter. */
static void supervise(int listener, pid_t child, int *status)
{
	struct seccomp_notif_sizes sizes;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
		die("SECCOMP_GET_NOTIF_SIZES");
	struct seccomp_notif *req = calloc(1, sizes.seccomp_notif > sizeof *req ? sizes.seccomp_notif : sizeof *req);
	struct seccomp_notif_resp *resp =
		calloc(1, sizes.seccomp_notif_resp > sizeof *resp ? sizes.seccomp_notif_resp : sizeof *resp);
	if (!req || !resp)
		die("calloc");
	unsigned long count = 0;
	int exited = 0;
	for (;;) {
		struct pollfd p = { .fd = listener, .events = POLLIN };
		int r = poll(&p, 1, exited ? 0 : 50);
		if (r < 0 && errno != EINTR)
			die("poll");
		if (r > 0 && (p.revents & POLLIN)) {
			memset(req, 0, sizes.seccomp_notif);
			if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
				if (errno == ENOENT || errno == EINTR)
					continue;  /* the caller went away */
				die("SECCOMP_IOCTL_NOTIF_RECV");
			}
			/* A call on fd -1 is zcopy's own probe of what a filter
			 * allows (shim/seccomp.c), not the program's: it passes,
			 * uncounted, so @WHICH counts the program's calls. */
			if ((int)req->data.args[0] < 0) {
				memset(resp, 0, sizeof *resp);
				resp->id = req->id;
				resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
				if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, resp) < 0 && errno != ENOENT)
					die("SECCOMP_IOCTL_NOTIF_SEND");
				continue;
			}
			handle(listener, req, resp, ++count);
			continue;
		}
		if (r > 0 && (p.revents & (POLLHUP | POLLERR)) && exited)
			break;  /* no process left under the filter */
		if (!exited) {
			pid_t w = waitpid(child, status, WNOHANG);
			if (w < 0)
				die("waitpid");
			exited = w == child;
		} else if (r == 0) {
			break;  /* the child is gone and no call is pending */
		}
	}
	free(req);
	free(resp);
}

int main(int argc, char **argv)
{
	const char *log_path = NULL;
	int c;
	for (int i = 0; i < NCALLS; i++)
		trapped[i] = 1;
	while ((c = getopt(argc, argv, "+s:f:l:")) != -1) {
		switch (c) {
		case 's': parse_calls(optarg); break;
		case 'f': parse_fault(optarg); break;
		case 'l': log_path = optarg; break;
		default: usage(NULL);
		}
	}
	if (optind >= argc || nfaults == 0)
		usage(NULL);
	if (log_path && !(logf = fopen(log_path, "a")))
		die("open -l");
	if (logf)
		setvbuf(logf, NULL, _IOLBF, 0);

	int simple = nfaults == 1 && faults[0].kind == K_ERRNO && faults[0].first == 1 &&
		     faults[0].last == ULONG_MAX;
	int sv[2];
	if (!simple && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		die("socketpair");
	fflush(NULL);
	pid_t child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		if (logf)
			fclose(logf);
		if (simple) {
			install_filter(SECCOMP_RET_ERRNO | (faults[0].err & SECCOMP_RET_DATA));
		} else {
			/* The listener goes to the parent; ours closes at exec. */
			int listener = install_filter(SECCOMP_RET_USER_NOTIF);
			char byte = 0;
			char ctl[CMSG_SPACE(sizeof(int))];
			struct iovec iov = { &byte, 1 };
			struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
					    .msg_controllen = sizeof ctl };
			struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &listener, sizeof listener);
			if (sendmsg(sv[1], &m, 0) != 1)
				die("sendmsg listener");
			close(listener);
		}
		execvp(argv[optind], argv + optind);
		fprintf(stderr, "faultinject: %s: %s\n", argv[optind], strerror(errno));
		_exit(127);
	}
	int status = 0;
	if (simple) {
		while (waitpid(child, &status, 0) < 0)
			if (errno != EINTR)
				die("waitpid");
	} else {
		close(sv[1]);
		char byte, ctl[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { &byte, 1 };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
				    .msg_controllen = sizeof ctl };
		int listener = -1;
		if (recvmsg(sv[0], &m, MSG_CMSG_CLOEXEC) == 1) {
			struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
			if (cm && cm->cmsg_type == SCM_RIGHTS)
				memcpy(&listener, CMSG_DATA(cm), sizeof listener);
		}
		close(sv[0]);
		if (listener < 0) {
			/* The child failed before sending: it reports why. */
			while (waitpid(child, &status, 0) < 0)
				if (errno != EINTR)
					die("waitpid");
		} else {
			supervise(listener, child, &status);
		}
	}
	if (logf)
		fclose(logf);
	if (WIFSIGNALED(status)) {
		signal(WTERMSIG(status), SIG_DFL);
		raise(WTERMSIG(status));
		return 128 + WTERMSIG(status);
	}
	return WEXITSTATUS(status);
}
