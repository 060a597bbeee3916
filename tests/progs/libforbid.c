/* libforbid.so: preloaded before libzcopy.so, it stands in for libc
 * functions that are not async-signal-safe, and kills the process if one
 * is called.  zcopy may write its first log line for a call site from
 * inside a signal handler, which may have interrupted the loader or malloc
 * in the same thread: none of these may be called on that path. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <unistd.h>

static void forbidden(const char *name)
{
	static const char msg[] = "libforbid: called a function that is not async-signal-safe: ";
	write(2, msg, sizeof msg - 1);
	for (const char *p = name; *p; p++)
		write(2, p, 1);
	write(2, "\n", 1);
	kill(getpid(), SIGKILL);
}

int dladdr(const void *addr, Dl_info *info)
{
	(void)addr, (void)info;
	forbidden("dladdr");
	return 0;
}

const char *inet_ntop(int af, const void *src, char *dst, unsigned size)
{
	(void)af, (void)src, (void)dst, (void)size;
	forbidden("inet_ntop");
	return 0;
}
