/* The memory zcopy shares with every process forked from this one: the
 * tables whose updates a parent and its children must see (calibrate.c's
 * verdicts, inflight.c's bytes in flight).  One mapping, carved in the
 * constructor, not one each: fork copies no page-table entry of a shared
 * mapping, so a child faults once on each page of it that it touches, and
 * a fork-per-connection server's child touches the head of each table on
 * every connection.  Carved in the order asked, so the small inflight
 * table and the head of calibration's lie on the first page. */
#include "zcopy.h"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SHARED_BYTES (4 * 4096)

static char *shared_next, *shared_end;

/* BYTES of zeroed shared memory, or NULL (no mapping, or no room: the
 * caller keeps a private table, which only its own process sees). */
void *zc_shared_alloc(size_t bytes)
{
    if (!shared_next) {
        /* The raw syscall: our own mmap hook would track the mapping. */
        void *map = (void *)syscall(SYS_mmap, NULL, SHARED_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
                                    -1, 0);
        if (map == MAP_FAILED)
            return NULL;
        shared_next = map;
        shared_end = shared_next + SHARED_BYTES;
    }
    bytes = (bytes + 63) & ~(size_t)63;  /* each table on its own cache lines */
    if (bytes > (size_t)(shared_end - shared_next))
        return NULL;
    void *at = shared_next;
    shared_next += bytes;
    return at;
}
