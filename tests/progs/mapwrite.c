/* mapwrite: write() straight from an mmap() of the file, as servers that
 * "EnableMMAP" do: no read() at all, the mapping is the buffer.
 *
 *   mapwrite [options] SRC OUT
 *
 * Maps SRC from offset -o (page-aligned) to its end and writes the mapping,
 * from byte -s on, to the destination in -c byte write() calls.  zcopy may
 * send a shared mapping, or a private one that was never writable, from the
 * file at the matching offset; a private mapping made writable must first be
 * shown equal to the file.
 *
 *   -m shared|private|private-rw|mprotect|pkey|shared-rw
 *         shared:     PROT_READ, MAP_SHARED (default)
 *         private:    PROT_READ, MAP_PRIVATE
 *         private-rw: PROT_READ|PROT_WRITE, MAP_PRIVATE
 *         mprotect:   PROT_READ, MAP_PRIVATE, then mprotect(PROT_READ|PROT_WRITE)
 *         pkey:       the same through pkey_mprotect(..., -1), glibc's other entry
 *         shared-rw:  PROT_READ|PROT_WRITE, MAP_SHARED (SRC opened O_RDWR)
 *   -x OFF     flip the byte at mapping offset OFF before writing (not with
 *              shared or private: those mappings are read-only)
 *   -W         after each write() returns, overwrite the bytes it wrote with
 *              'W' (a buffer reused once sent; shared-rw: the file changes)
 *   -d file|pipe|tcp|unix  destination (default pipe)
 *   -o BYTES   file offset of the mapping (a multiple of the page size)
 *   -s BYTES   start writing at this offset inside the mapping
 *   -c BYTES   bytes per write() (default 65536)
 *   -C         close SRC's fd right after mmap(), as many programs do
 *
 * Exit 1 on any failure, 2 on a usage error. */
#include "sink.h"

#include <sys/mman.h>
#include <sys/stat.h>

static void usage(void)
{
	fprintf(stderr, "usage: mapwrite [-m shared|private|private-rw|mprotect|pkey|shared-rw] [-x OFF] [-W]"
			" [-d file|pipe|tcp|unix] [-o BYTES] [-s BYTES] [-c BYTES] [-C] SRC OUT\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct sink_opts so = { 0 };
	const char *mode = "shared";
	int kind = SINK_PIPE, close_early = 0, reuse = 0, c;
	long long flip = -1;
	size_t map_off = 0, skip = 0, chunk = 65536;

	while ((c = getopt(argc, argv, "m:x:Wd:o:s:c:C")) != -1) {
		switch (c) {
		case 'm': mode = optarg; break;
		case 'x': flip = atoll(optarg); break;
		case 'W': reuse = 1; break;
		case 'd': if ((kind = sink_kind_of(optarg)) < 0) usage(); break;
		case 'o': map_off = strtoul(optarg, NULL, 10); break;
		case 's': skip = strtoul(optarg, NULL, 10); break;
		case 'c': chunk = strtoul(optarg, NULL, 10); break;
		case 'C': close_early = 1; break;
		default: usage();
		}
	}
	int shared_rw = strcmp(mode, "shared-rw") == 0, shared = shared_rw || strcmp(mode, "shared") == 0,
	    rw = shared_rw || strcmp(mode, "private-rw") == 0, pkey = strcmp(mode, "pkey") == 0,
	    later = pkey || strcmp(mode, "mprotect") == 0;
	int writable = rw || later;
	if (argc - optind != 2 || chunk == 0 ||
	    (!shared && !rw && !later && strcmp(mode, "private") != 0) || ((flip >= 0 || reuse) && !writable))
		usage();

	pid_t child;
	int dst = sink_open(kind, argv[optind + 1], &so, &child);
	int src = open(argv[optind], shared_rw ? O_RDWR : O_RDONLY);
	struct stat st;
	if (src < 0 || fstat(src, &st) < 0)
		sink_die("open SRC");
	if ((off_t)map_off >= st.st_size || map_off % (size_t)sysconf(_SC_PAGESIZE))
		usage();
	size_t len = (size_t)st.st_size - map_off;
	if (skip > len || (flip >= 0 && (size_t)flip >= len))
		usage();

	char *map = mmap(NULL, len, PROT_READ | (rw ? PROT_WRITE : 0), shared ? MAP_SHARED : MAP_PRIVATE, src,
			 (off_t)map_off);
	if (map == MAP_FAILED)
		sink_die("mmap");
	if (later && (pkey ? pkey_mprotect(map, len, PROT_READ | PROT_WRITE, -1)
			   : mprotect(map, len, PROT_READ | PROT_WRITE)) < 0)
		sink_die(pkey ? "pkey_mprotect" : "mprotect");
	if (flip >= 0)
		map[flip] ^= (char)0xff;
	if (close_early && close(src) < 0)
		sink_die("close SRC");

	for (size_t done = skip; done < len;) {
		size_t n = len - done < chunk ? len - done : chunk;
		ssize_t r = write(dst, map + done, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			sink_die("write");
		if (reuse)
			memset(map + done, 'W', (size_t)r);
		done += (size_t)r;
	}
	if (munmap(map, len) < 0)
		sink_die("munmap");
	if (close(dst) < 0)
		sink_die("close");
	return sink_wait(child);
}
