/* syscost: what this machine charges for the kernel work a rewrite trades
 * (DESIGN.md, "Physical limits": the same build wins on one machine and
 * loses on another).  make bench records it in BENCHMARKS.md's header.
 * Prints one "NAME NANOSECONDS" line each, the median of ROUNDS rounds:
 *   getppid         syscall(SYS_getppid): a bare syscall (glibc's getppid
 *                   wrapper has no cache, but a raw syscall cannot have one)
 *   fstat           fstat of a regular file: zcopy's checks make this call
 *   thread_cputime  clock_gettime(CLOCK_THREAD_CPUTIME_ID): calibration's clock
 *   monotonic       clock_gettime(CLOCK_MONOTONIC): the vDSO, for scale
 *   fault_anon      first write to a page of a fresh anonymous mapping
 *   fault_cow       first write after fork to a page the child still shares
 *   page_bytes      the page size the two faults are counted in
 * Each round is timed in the thread's CPU time, not the wall clock: the
 * machine is shared, and another program's turn on the CPU is not a cost
 * of these calls (the kernel charges a fault to the thread that took it). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 7
#define CALLS 20000               /* per round of a syscall or clock read */
#define FAULT_BYTES (8 << 20)     /* per round of faults: 2048 pages of 4 KiB */

static long page_bytes;
static int file_fd;

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A fresh mapping of FAULT_BYTES, in small pages: a huge page would fault
 * 512 pages' worth at once. */
static volatile char *fresh_mapping(void)
{
    void *p = mmap(NULL, FAULT_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("syscost: mmap");
        exit(1);
    }
    madvise(p, FAULT_BYTES, MADV_NOHUGEPAGE);
    return p;
}

/* Each one returns nanoseconds per unit for one round. */
static double round_getppid(void)
{
    double t0 = cpu_ns();
    for (int i = 0; i < CALLS; i++)
        syscall(SYS_getppid);
    return (cpu_ns() - t0) / CALLS;
}

static double round_fstat(void)
{
    struct stat st;
    double t0 = cpu_ns();
    for (int i = 0; i < CALLS; i++)
        fstat(file_fd, &st);
    return (cpu_ns() - t0) / CALLS;
}

static double round_clock(clockid_t clock)
{
    struct timespec ts;
    double t0 = cpu_ns();
    for (int i = 0; i < CALLS; i++)
        clock_gettime(clock, &ts);
    return (cpu_ns() - t0) / CALLS;
}
static double round_thread_cputime(void) { return round_clock(CLOCK_THREAD_CPUTIME_ID); }
static double round_monotonic(void) { return round_clock(CLOCK_MONOTONIC); }

static double touch_pages(volatile char *p)
{
    long pages = FAULT_BYTES / page_bytes;
    double t0 = cpu_ns();
    for (long i = 0; i < pages; i++)
        p[i * page_bytes] = 1;
    return (cpu_ns() - t0) / pages;
}

static double round_fault_anon(void)
{
    volatile char *p = fresh_mapping();
    double ns = touch_pages(p);
    munmap((void *)p, FAULT_BYTES);
    return ns;
}

/* The child holds every page until the parent has written to all of them,
 * so each write copies: it waits for EOF on a pipe. */
static double round_fault_cow(void)
{
    volatile char *p = fresh_mapping();
    touch_pages(p);
    int gate[2];
    if (pipe(gate) < 0) {
        perror("syscost: pipe");
        exit(1);
    }
    pid_t child = fork();
    if (child < 0) {
        perror("syscost: fork");
        exit(1);
    }
    if (child == 0) {
        char c;
        close(gate[1]);
        while (read(gate[0], &c, 1) > 0)
            ;
        _exit(0);
    }
    close(gate[0]);
    double ns = touch_pages(p);
    close(gate[1]);
    waitpid(child, NULL, 0);
    munmap((void *)p, FAULT_BYTES);
    return ns;
}

static void report(const char *name, double (*one_round)(void))
{
    double v[ROUNDS];
    one_round();  /* warm-up: first calls pay for lazy binding and cold caches */
    for (int i = 0; i < ROUNDS; i++)
        v[i] = one_round();
    qsort(v, ROUNDS, sizeof v[0], by_value);
    printf("%s %.1f\n", name, v[ROUNDS / 2]);
}

int main(int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: syscost\n");
        return 2;
    }
    page_bytes = sysconf(_SC_PAGESIZE);
    file_fd = open("/proc/self/exe", O_RDONLY);
    if (file_fd < 0) {
        perror("syscost: /proc/self/exe");
        return 1;
    }
    report("getppid", round_getppid);
    report("fstat", round_fstat);
    report("thread_cputime", round_thread_cputime);
    report("monotonic", round_monotonic);
    report("fault_anon", round_fault_anon);
    report("fault_cow", round_fault_cow);
    printf("page_bytes %ld\n", page_bytes);
    return 0;
}
