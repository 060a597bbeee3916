/* idlerss NFDS FILE: opens FILE NFDS times (raising RLIMIT_NOFILE to fit),
 * reads its first 4 KiB through every fd, then prints its own VmRSS in KiB.
 * make bench's W6 runs it with and without zcopy: the difference is the
 * memory the library adds, idle and with many fds it has seen. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: idlerss NFDS FILE\n");
        return 2;
    }
    long nfds = atol(argv[1]);
    struct rlimit rl = { .rlim_cur = nfds + 64, .rlim_max = nfds + 64 };
    if (nfds > 0 && setrlimit(RLIMIT_NOFILE, &rl) < 0) {
        getrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_max < (rlim_t)nfds + 64) {
            perror("idlerss: RLIMIT_NOFILE");
            return 1;
        }
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    static char buf[4096];
    for (long i = 0; i < nfds; i++) {
        int fd = open(argv[2], O_RDONLY);
        if (fd < 0 || read(fd, buf, sizeof buf) < 0) {
            perror(argv[2]);
            return 1;
        }
    }
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) {
            printf("%ld\n", strtol(line + 6, NULL, 10));
            return 0;
        }
    fprintf(stderr, "idlerss: no VmRSS in /proc/self/status\n");
    return 1;
}
