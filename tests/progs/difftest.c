/* difftest: a differential tester for zcopy, driven by a seed.
 *
 *   difftest --seed S [--trust] [--exclude CLASS,...] [--ops I,J,...]
 *            [--dir DIR] [--outdir DIR] [--out FILE]
 *   difftest --seed S [--trust] [--exclude ...] [--ops ...] --list | --count | --selected
 *
 * For a seed it builds a small world and a list of 5-40 operations drawn at
 * random, runs them in a child (the runner), and writes a transcript of
 * everything the program or its peers can observe: each call's return value
 * and errno (errno is set to 1234 before each call, so a success that
 * changes errno shows), the offset and file flags of every fd of the world
 * after each op, SIGPIPE's disposition, mask, pending state and a count of
 * deliveries (and of SIGXFSZ), the runner's exit status, and at the end
 * the open fds, the length and hash of every destination's bytes (with
 * message boundaries for datagrams and packet pipes), source file and
 * buffer.
 * tests/fuzz/run runs each seed without zcopy, with ZCOPY_MODE=safe and with
 * ZCOPY_MODE=trust, compares the transcripts and shrinks any difference to
 * the shortest op list that shows it (--ops).
 *
 * The world (DIR is the cwd; output files go to OUTDIR, by default DIR):
 *   sources: src0..src3 (random bytes, sizes around 16 KiB and pages),
 *     /proc/kallsyms, /proc/sys/kernel/ostype, a sysfs file, a pipe and a
 *     unix stream socket (both O_NONBLOCK), fed on request by helper
 *     children;
 *   destinations: TCP, unix stream, unix datagram and a pipe, each drained
 *     by a receiver child into recv.* (some slowly, some non-blocking, some
 *     with a small SO_SNDBUF or pipe, the pipe sometimes in packet mode),
 *     out.file (sometimes O_DIRECT), out.append (O_APPEND), /dev/null, and
 *     src0 opened for writing (srcfile); src0..src3 are opened read-write
 *     (unless selfmod and selfsync are both excluded), so that the program
 *     can change a file through the fd it reads it from;
 *   buffers: three static ones and a mapped one whose protection ops change.
 * Reads: read, pread, readv, preadv, recv, recvmsg, preadv2, fread.  Writes:
 * write, send, sendto, writev, sendmsg (sometimes with SCM_RIGHTS), pwrite,
 * of what a read returned, a sub-range, gathered reads, header and trailer
 * pieces, or more iovecs than zcopy takes.
 * The program changes its own sources with pwrite on the fd it reads from
 * or on a second fd, lseek+write or writev through a second fd, truncate,
 * ftruncate on either fd, copy_file_range into the file, and writes of its
 * buffers to srcfile or to a source slot, between a read and the write of
 * what it read (the bytes read must go, never the file's new ones) and
 * after such a write (bytes may still be in flight).
 * A write may go to a receiver that has stopped reading, cut short by a
 * SIGALRM from setitimer, timer_create, alarm(1) or kill() from a helper,
 * with or without SA_RESTART, as old servers time out a stuck client.
 * Every fd of the world is a "slot"; ops name slots, so that after a
 * close/open/dup2 the same slot may name another file, as fd numbers do.
 *
 * Determinism: a plain run gives the same transcript every time.
 *   - Pipe and socket sources are fed synchronously (the feeder acks after
 *     its write) and are non-blocking: a read returns what was fed, or EAGAIN.
 *   - A write to a non-blocking fd (or with MSG_DONTWAIT) is retried with
 *     poll until done; only the total delivered and a final error are
 *     recorded, never the short counts.
 *   - A peer closes only when told, after it has drained what was sent
 *     (a TCP peer closes with SO_LINGER 0: a reset, not a timing race).
 *   - Before another process truncates or rewrites a source file, every
 *     destination is drained (the barrier): bytes still in a pipe or socket
 *     would otherwise be changed legitimately (README "Bytes in flight").
 *     When the program itself changes a source file there is no barrier:
 *     zcopy must handle that case (DESIGN.md rule 7).
 *   - A write to a stalled receiver (alarm) records that it returned and
 *     its errno, then the total delivered once the receiver reads again and
 *     the rest is written: never the short count, which depends on timing
 *     and on how the kernel fills a pipe or socket.  The receiver drains
 *     first, so the call always moves bytes before it blocks; SIGALRM is
 *     blocked in the runner except around that call.  A receiver stalled
 *     for STALL_LIMIT_MS reads again on its own, and says so.
 *
 * Op classes (--exclude; --trust excludes bufchange and srcchange, the
 * changes trust mode is documented not to see; it must see the program's
 * own, which go through its hooks):
 *   bufchange  the buffer changes between read and write
 *   srcchange  another process truncates, extends or rewrites a source
 *   selfmod    the program writes or truncates a source file (its bytes
 *              may still be in a pipe or socket: DESIGN.md rule 7), also
 *              between reading a range and sending it
 *   selfsync   the same, after waiting until every peer read everything
 *   fork, thread  the next op runs in a fork child, or in a new thread
 *   peerclose  a peer closes, or the program shuts its socket down
 *   fdreuse    close, fclose, open, fopen, dup2, close_range
 *   unhooked   reads into a buffer that zcopy does not hook: recvmsg,
 *              preadv2, fread (glibc reads with its internal read)
 *   badptr     the mapped buffer becomes PROT_NONE: writes from it fail
 *   fsize      RLIMIT_FSIZE is lowered (SIGXFSZ counted or ignored)
 *   odirect    (world) the destination pipe is a pipe2(O_DIRECT) packet pipe,
 *              or out.file is opened O_DIRECT: excluding it turns both off
 *   alarm      a write to a receiver that stopped reading, cut short by a
 *              signal (issue 16)
 * Excluding selfmod opens out.file write-only (never read back); excluding
 * both selfmod and selfsync opens srcfile as /dev/null and the sources
 * read-only.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_OPS        64
#define MAX_SEG        160   /* > 64: writevs zcopy leaves whole */
#define NBUF           3
#define BUF_SIZE       (1280 * 1024)
#define HDR_SIZE       8192
#define PAT_SIZE       65536
#define RBUF           (256 * 1024)
#define ERRNO_SENTINEL 1234
#define TFD            700    /* the transcript: a pipe to the writer child */
#define HIGH_FD        600    /* world and helper fds wait here, above the op fds */
#define MAX_FD         4096
#define WAIT_MS        20000  /* a helper silent this long is hung */
#define FEED_CAP_PIPE  131072 /* the source pipe holds 1 MiB: never fill it */
#define FEED_CAP_SOCK  65536

/* ---- the world ------------------------------------------------------------ */

#define SRC_FILES 4
enum slot {
	S_F0, S_F1, S_F2, S_F3, S_PROC, S_PROCSMALL, S_SYS, S_PIPE, S_SOCK,
	D_TCP, D_UNIX, D_DGRAM, D_PIPE, D_FILE, D_APPEND, D_NULL, D_SRCFILE,
	NSLOT
};
static const char *const slot_name[NSLOT] = {
	"src0", "src1", "src2", "src3", "kallsyms", "ostype", "sysfs", "spipe", "ssock",
	"tcp", "unix", "dgram", "pipe", "file", "append", "null", "srcfile",
};

/* Helper children: four receivers, two feeders, one mutator. */
enum helper { H_TCP, H_UNIX, H_DGRAM, H_PIPE, H_FEED_PIPE, H_FEED_SOCK, H_MUTATOR, NHELPER };
#define NRECV 4
static const int recv_slot[NRECV] = { D_TCP, D_UNIX, D_DGRAM, D_PIPE };
static const char *const helper_name[NHELPER] = { "tcp", "unix", "dgram", "pipe", "spipe", "ssock", "mutator" };

/* M_STALL: a receiver stops reading until M_RESUME; M_KILL: the mutator
 * sends SIGALRM to process a after b ms, then replies. */
enum { M_SYNC = 1, M_CLOSE, M_FEED, M_TRUNC, M_PWRITE, M_STALL, M_RESUME, M_KILL };
struct msg {
	int type, file;
	int64_t a, b;
};
struct reply {
	int result, err;
	int64_t n;
};

/* Files an op can open by name; 0..3 are src0..src3. */
enum { T_OUTFILE = 4, T_APPEND, T_NULL, NTARGET };
static const char *const target_name[NTARGET] = { "src0", "src1", "src2", "src3", "out.file", "out.append", "/dev/null" };

static struct {
	size_t src_size[SRC_FILES];
	int nonblock[NSLOT], small[NSLOT], slow[NSLOT];
	int packet;  /* the destination pipe is a pipe2(O_DIRECT) packet pipe */
	int direct;  /* out.file is opened O_DIRECT (where the filesystem allows it) */
} world;

/* ---- operations ----------------------------------------------------------- */

enum opkind {
	OP_READ, OP_WRITE, OP_MUTATE, OP_LSEEK, OP_CLOSE, OP_FCLOSE, OP_OPEN, OP_DUP2,
	OP_OTHER_TRUNC, OP_OTHER_PWRITE, OP_SELF_PWRITE, OP_SELF_TRUNC, OP_PEER_CLOSE,
	OP_SIGPIPE, OP_FORK, OP_THREAD, OP_CLOSE_RANGE, OP_SHUTDOWN, OP_NONBLOCK, OP_MEM, OP_BARRIER, OP_FSIZE,
	OP_STALL,
};
/* recv, recvmsg, preadv2 and fread (unbuffered: glibc reads straight into
 * the buffer with its internal read) also fill buffers; zcopy hooks only
 * recv of these, so the others overwrite a buffer it may remember. */
enum { R_READ, R_PREAD, R_READV, R_PREADV, R_RECV, R_RECVMSG, R_PREADV2, R_FREAD };
enum { W_WRITE, W_SEND, W_SENDTO, W_WRITEV, W_SENDMSG, W_PWRITE };
static const char *const rcall_name[] = { "read", "pread", "readv", "preadv", "recv", "recvmsg", "preadv2", "fread" };
static const char *const wcall_name[] = { "write", "send", "sendto", "writev", "sendmsg", "pwrite" };
static const char *const mutate_name[] = { "same", "xor-all", "flip-one", "flip-first" };
static const char *const sigpipe_name[] = { "default", "ignore", "count", "block", "unblock" };
/* How the program changes a source file itself: OP_SELF_PWRITE's and
 * OP_SELF_TRUNC's call.  "same" is the fd the program reads the file from
 * (the source slot, opened O_RDWR when these ops can run). */
enum { SW_PWRITE_OTHER, SW_PWRITE_SAME, SW_WRITE_OTHER, SW_WRITEV_OTHER, SW_COPY_RANGE, NSELFW };
static const char *const selfw_name[] = { "pwrite", "pwrite on the fd it reads from:", "lseek+write on a second fd:",
					  "lseek+writev on a second fd:", "copy_file_range from the next src into" };
enum { ST_TRUNCATE, ST_FTRUNCATE_SAME, ST_FTRUNCATE_OTHER, NSELFT };
static const char *const selft_name[] = { "truncate", "ftruncate on the fd it reads from:", "ftruncate on a second fd:" };
/* OP_STALL: what raises the SIGALRM that cuts the write short (how & 3;
 * how & 4: the handler has SA_RESTART). */
enum { AL_ITIMER, AL_TIMER, AL_KILL, AL_ALARM };
static const char *const alarm_name[] = { "setitimer", "timer_create", "kill from another process", "alarm(1)" };
#define STALL_DELAY_MS 100   /* the signal's delay, but alarm(1)'s */
#define STALL_LIMIT_MS 5000  /* a stalled receiver reads again on its own after this */
#define C_BUFCHANGE 1
#define C_SRCCHANGE 2
#define C_SELFMOD   4
#define C_FORK      8
#define C_PEERCLOSE 16
#define C_FDREUSE   32
#define C_UNHOOKED  64  /* recvmsg, preadv2, fread: fills zcopy does not see */
#define C_THREAD    128
#define C_BADPTR    256 /* writes from memory the program cannot read: EFAULT */
#define C_SELFSYNC  512 /* as selfmod, after waiting until every peer read everything */
#define C_FSIZE     1024 /* RLIMIT_FSIZE: short writes, EFBIG and SIGXFSZ */
#define C_ODIRECT   2048 /* not an op: excluding it opens no destination with O_DIRECT */
#define C_ALARM     4096 /* a signal cuts a write to a stalled receiver short */
/* What trust mode is documented not to see: the buffer changing, and other
 * processes changing a source.  The program's own changes go through
 * zcopy's hooks, so trust mode must handle them (issue 16). */
#define C_TRUST_UNSAFE (C_BUFCHANGE | C_SRCCHANGE)
static const char *const class_name[] = { "bufchange", "srcchange", "selfmod", "fork", "peerclose", "fdreuse",
					   "unhooked", "thread", "badptr", "selfsync", "fsize", "odirect", "alarm" };
#define NCLASS 13
static const int64_t fsize_limit[] = { 65536, 100000, 1 << 20, -1 };
static const char *const mem_name[] = { "PROT_NONE", "PROT_READ", "PROT_READ|PROT_WRITE", "MADV_DONTNEED" };

/* A buffer range.  buf 0..2 are the read buffers, 3 the header buffer.
 * ref >= 0: the length comes from the return value of op #ref (a read):
 * min(len, ret - base), as a copy loop writes what its read returned; then
 * tf bytes are dropped at the front and tb at the back (sub-range writes). */
struct seg {
	int8_t buf;
	int16_t ref;
	uint32_t off, len, base, tf, tb;
};

struct op {
	uint8_t kind, slot, slot2, call, how;
	uint16_t cls;
	int flags;
	int64_t a, b;
	int nseg;
	struct seg seg[MAX_SEG];
};

static struct op ops[MAX_OPS];
static int nops;
static int selected[MAX_OPS], nsel;
static int ro_outfile;    /* out.file is never readable */
static int srcfile_null; /* srcfile is /dev/null and src0..3 are read-only: no op writes a source file */

/* ---- deterministic randomness --------------------------------------------- */

static uint64_t rng;

static uint64_t mix64(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint32_t rnd(uint32_t n)
{
	return n ? (uint32_t)(mix64(&rng) % n) : 0;
}

static int chance(int pct)
{
	return (int)rnd(100) < pct;
}

struct wpick {
	int64_t v;
	int w;
};

static int64_t pick(const struct wpick *t, int n)
{
	int sum = 0;
	for (int i = 0; i < n; i++)
		sum += t[i].w;
	int r = (int)rnd((uint32_t)sum);
	for (int i = 0; i < n; i++) {
		if (r < t[i].w)
			return t[i].v;
		r -= t[i].w;
	}
	return t[n - 1].v;
}
#define PICK(t) pick(t, (int)(sizeof t / sizeof t[0]))

static void fill_random(char *p, size_t n, uint64_t seed)
{
	uint64_t s = seed;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = mix64(&s);
		memcpy(p + i, &v, 8);
	}
	if (i < n) {
		uint64_t v = mix64(&s);
		memcpy(p + i, &v, n - i);
	}
}

/* Not cryptographic, only quick: 8 bytes a step, each mixed by a multiply. */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *c = p;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, c + i, 8);
		h = (h ^ v) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	for (; i < n; i++)
		h = (h ^ c[i]) * 0x100000001b3ULL;
	return h ^ n;
}

/* ---- the generator -------------------------------------------------------- */

static const struct wpick size_w[] = {
	{ 0, 3 }, { 1, 3 }, { 4095, 4 }, { 4096, 4 }, { 16383, 6 }, { 16384, 8 }, { 16385, 6 },
	{ 65536, 12 }, { 65537, 6 }, { 200003, 10 }, { 1048577, 12 }, { 2500000, 3 },
};
/* -1: random 1..200000 */
static const struct wpick len_w[] = {
	{ 0, 1 }, { 1, 2 }, { 100, 2 }, { 4095, 3 }, { 4096, 4 }, { 4097, 2 }, { 8192, 3 },
	{ 16383, 6 }, { 16384, 10 }, { 16385, 6 }, { 32768, 6 }, { 65536, 12 }, { 65537, 4 },
	{ 131072, 6 }, { 262144, 4 }, { 1048577, 3 }, { -1, 6 },
};
static const struct wpick boff_w[] = {
	{ 0, 60 }, { 1, 5 }, { 7, 5 }, { 4095, 5 }, { 4096, 10 }, { 8192, 5 }, { -1, 10 },
};
static const struct wpick src_w[] = {
	{ S_F0, 18 }, { S_F1, 18 }, { S_F2, 18 }, { S_F3, 18 }, { S_PROC, 5 }, { S_PROCSMALL, 3 },
	{ S_SYS, 3 }, { S_PIPE, 8 }, { S_SOCK, 9 },
};
static const struct wpick dst_w[] = {
	{ D_TCP, 18 }, { D_UNIX, 18 }, { D_PIPE, 18 }, { D_FILE, 14 }, { D_APPEND, 7 },
	{ D_DGRAM, 7 }, { D_NULL, 5 }, { D_SRCFILE, 5 }, { S_F1, 1 }, { S_PIPE, 1 },
};
static const struct wpick flags_w[] = {
	{ 0, 50 }, { MSG_NOSIGNAL, 35 }, { MSG_MORE, 4 }, { MSG_DONTWAIT, 5 },
	{ MSG_NOSIGNAL | MSG_DONTWAIT, 6 },
};
static const struct wpick feed_w[] = {
	{ 0, 2 }, { 1, 1 }, { 4096, 2 }, { 16384, 3 }, { 32768, 2 }, { 65536, 2 }, { -1, 2 },
};
static const struct wpick trim_w[] = {
	{ 1, 3 }, { 7, 2 }, { 4095, 2 }, { 4096, 3 }, { 16384, 2 }, { -1, 3 },
};

static struct op scratch_op;
static int last_read = -1;

/* 0-2: the read buffers (static); 4: the mapped one, whose protection ops
 * change (MBUF); 3 is the header buffer, never read into. */
#define MBUF 4
static int pick_buf(void)
{
	return chance(8) ? MBUF : (int)rnd(NBUF);
}

static struct op *emit(int kind, int cls)
{
	if (nops >= MAX_OPS) {
		memset(&scratch_op, 0, sizeof scratch_op);
		return &scratch_op;
	}
	struct op *o = &ops[nops++];
	memset(o, 0, sizeof *o);
	o->kind = (uint8_t)kind;
	o->cls = (uint16_t)cls;
	return o;
}

static int op_index(const struct op *o)
{
	return o == &scratch_op ? -1 : (int)(o - ops);
}

static uint32_t pick_len(void)
{
	int64_t v = PICK(len_w);
	return v < 0 ? 1 + rnd(200000) : (uint32_t)v;
}

static uint32_t pick_boff(void)
{
	int64_t v = PICK(boff_w);
	return v < 0 ? rnd(65536) : (uint32_t)v;
}

static size_t src_size(int slot)
{
	return slot < SRC_FILES ? world.src_size[slot] : 65536;
}

static int64_t pick_file_off(size_t size, uint32_t len)
{
	int r = (int)rnd(100);
	if (r < 30)
		return 0;
	if (r < 50)
		return 4096 * (int64_t)rnd((uint32_t)(size / 4096 + 1));
	if (r < 80)
		return rnd((uint32_t)size + 1);
	if (r < 90)
		return (int64_t)size - (int64_t)(size < len / 2 ? size : len / 2);
	if (r < 98)
		return (int64_t)size + rnd(100);
	return -1;
}

static int pick_rcall(int src)
{
	int r = (int)rnd(100);
	if (src == S_SOCK && r < 40)
		return r < 20 ? R_RECV : R_RECVMSG;
	return r < 40 ? R_READ : r < 60 ? R_PREAD : r < 74 ? R_READV : r < 84 ? R_PREADV : r < 92 ? R_FREAD : R_PREADV2;
}

static int is_sock_slot(int s)
{
	return s == D_TCP || s == D_UNIX || s == D_DGRAM;
}

static int gen_read(int src, int buf, uint32_t boff, uint32_t len, int call)
{
	struct op *o = emit(OP_READ, call == R_RECVMSG || call == R_PREADV2 || call == R_FREAD ? C_UNHOOKED : 0);
	o->slot = (uint8_t)src;
	o->call = (uint8_t)call;
	if (call == R_READV || call == R_PREADV || call == R_RECVMSG || call == R_PREADV2) {
		int k = 1 + (int)rnd(4), scattered = chance(30);
		uint32_t left = len, off = boff;
		for (int j = 0; j < k; j++) {
			uint32_t part = j == k - 1 ? left : rnd(left + 1);
			left -= part;
			struct seg *s = &o->seg[o->nseg++];
			s->ref = -1;
			if (scattered) {
				s->buf = (int8_t)pick_buf();
				s->off = pick_boff();
			} else {
				s->buf = (int8_t)buf;
				s->off = off;
				off += part;
			}
			s->len = part;
		}
	} else {
		o->nseg = 1;
		o->seg[0] = (struct seg){ .buf = (int8_t)buf, .ref = -1, .off = boff, .len = len };
	}
	o->a = pick_file_off(src_size(src), len);
	int64_t feed = PICK(feed_w);
	o->b = feed < 0 ? 1 + rnd(65536) : feed;
	int i = op_index(o);
	if (i >= 0)
		last_read = i;
	return i;
}

static int pick_wcall(int dst, int multi)
{
	int r = (int)rnd(100);
	if (multi)
		return is_sock_slot(dst) && r < 50 ? W_SENDMSG : W_WRITEV;
	if (is_sock_slot(dst))
		return r < 35 ? W_WRITE : r < 55 ? W_SEND : r < 60 ? W_SENDTO : r < 80 ? W_WRITEV : W_SENDMSG;
	if (r < 60)
		return W_WRITE;
	if (r < 85)
		return W_WRITEV;
	if (r < 97)
		return dst == D_FILE || dst == D_APPEND || dst == D_SRCFILE ? W_PWRITE : W_WRITE;
	return W_SEND;  /* ENOTSOCK */
}

static uint32_t pick_trim(uint32_t len)
{
	int64_t v = PICK(trim_w);
	return v < 0 ? rnd(len + 1) : (uint32_t)v;
}

/* A write of segs[0..n) to dst; header/trailer pieces for gathered calls. */
static struct op *gen_write(int dst, const struct seg *segs, int n)
{
	int cls = 0;
	if (dst == D_SRCFILE || dst < SRC_FILES) {
		/* Writing a source file: half the time after draining the peers. */
		cls = C_SELFMOD;
		if (chance(50)) {
			emit(OP_BARRIER, 0);
			cls = C_SELFSYNC;
		}
	}
	struct op *o = emit(OP_WRITE, cls);
	o->slot = (uint8_t)dst;
	int hdr = chance(20), trailer = chance(8);
	o->call = (uint8_t)pick_wcall(dst, n > 1 || hdr || trailer);
	if (o->call != W_WRITEV && o->call != W_SENDMSG)
		hdr = trailer = 0;
	if (hdr) {
		static const struct wpick hl[] = { { 5, 3 }, { 100, 3 }, { 4096, 1 }, { -1, 2 } };
		int64_t l = PICK(hl);
		o->seg[o->nseg++] = (struct seg){ .buf = 3, .ref = -1, .off = rnd(100),
						  .len = l < 0 ? rnd(4096) : (uint32_t)l };
	}
	for (int j = 0; j < n && o->nseg < MAX_SEG - 1; j++)
		o->seg[o->nseg++] = segs[j];
	if (trailer)
		o->seg[o->nseg++] = (struct seg){ .buf = 3, .ref = -1, .off = 4096 + rnd(100), .len = 2 + rnd(10) };
	if (o->call == W_SEND || o->call == W_SENDTO || o->call == W_SENDMSG)
		o->flags = (int)PICK(flags_w);
	if (o->call == W_SENDMSG && (dst == D_UNIX || dst == D_DGRAM) && chance(8))
		o->how = 1;  /* SCM_RIGHTS: must travel with the bytes */
	if (o->call == W_PWRITE) {
		int r = (int)rnd(100);
		o->a = r < 40 ? 0 : r < 70 ? 4096 * (int64_t)rnd(64) : rnd(2 << 20);
	}
	return o;
}

/* The write a copy loop makes after read #ri: the bytes the read returned,
 * sometimes without a few at either end. */
static void gen_write_from(int ri, int dst)
{
	if (ri < 0)
		return;
	static struct seg segs[MAX_SEG];
	int n = 0;
	uint32_t base = 0;
	for (int j = 0; j < ops[ri].nseg; j++) {
		segs[n] = ops[ri].seg[j];
		segs[n].ref = (int16_t)ri;
		segs[n].base = base;
		base += segs[n].len;
		n++;
	}
	if (n && chance(25))
		segs[0].tf = pick_trim(segs[0].len);
	if (n && chance(20))
		segs[n - 1].tb = pick_trim(segs[n - 1].len);
	if (n == 1 && chance(4)) {
		/* One read written as many iovecs: contiguous in memory and in
		 * the file, or more than zcopy's 64. */
		struct seg whole = segs[0];
		uint32_t k = chance(70) ? 2 + rnd(63) : 65 + rnd(MAX_SEG - 70);
		uint32_t q = whole.len / k;
		if (q) {
			for (uint32_t j = 0; j < k; j++) {
				segs[j] = whole;
				segs[j].tf = segs[j].tb = 0;
				segs[j].off = whole.off + j * q;
				segs[j].base = whole.base + j * q;
				segs[j].len = j == k - 1 ? whole.len - j * q : q;
			}
			n = (int)k;
		}
	}
	gen_write(dst, segs, n);
}

static int pick_src(void)
{
	return (int)PICK(src_w);
}

static int pick_dst(void)
{
	return (int)PICK(dst_w);
}

static void gen_mutate(int ri)
{
	if (ri < 0)
		return;
	int how = (int)rnd(4);
	struct op *o = emit(OP_MUTATE, how ? C_BUFCHANGE : 0);
	o->how = (uint8_t)how;
	o->nseg = 1;
	o->seg[0] = ops[ri].seg[0];
	o->seg[0].ref = (int16_t)ri;
	o->seg[0].base = 0;
}

static void gen_lseek(int slot)
{
	struct op *o = emit(OP_LSEEK, 0);
	o->slot = (uint8_t)slot;
	int r = (int)rnd(100);
	if (r < 40) {
		o->how = SEEK_SET;
		o->a = pick_file_off(src_size(slot), 0);
	} else if (r < 70) {
		o->how = SEEK_CUR;
		o->a = (int64_t)rnd(70000) - 35000;
	} else {
		o->how = SEEK_END;
		o->a = -(int64_t)rnd(70000);
	}
}

static void gen_open(int slot)
{
	struct op *o = emit(OP_OPEN, C_FDREUSE);
	o->slot = (uint8_t)slot;
	o->slot2 = (uint8_t)(chance(70) ? rnd(SRC_FILES) : SRC_FILES + rnd(NTARGET - SRC_FILES));
	o->how = (uint8_t)chance(50);  /* 1: fopen, whose open() no preload sees */
}

static void gen_close(int slot, int with_fclose)
{
	struct op *o = emit(with_fclose ? OP_FCLOSE : OP_CLOSE, C_FDREUSE);
	o->slot = (uint8_t)slot;
}

static void gen_dup2(int from, int to)
{
	/* A source slot never receives a socket or the source pipe's peer: a
	 * blocking read there would wait forever.  A destination slot never
	 * receives the source socket: nobody would read what is written. */
	int writes_source = from == D_SRCFILE || (from < SRC_FILES && to >= D_TCP);
	struct op *o = emit(OP_DUP2, C_FDREUSE | (writes_source ? C_SELFMOD : 0));
	o->slot = (uint8_t)from;
	o->slot2 = (uint8_t)to;
}

static int random_dup_from(int to)
{
	static const int for_src[] = { S_F0, S_F1, S_F2, S_F3, S_PROC, S_PIPE, D_FILE, D_NULL, D_PIPE };
	static const int for_dst[] = { D_TCP, D_UNIX, D_DGRAM, D_PIPE, D_FILE, D_APPEND, D_NULL, D_SRCFILE,
				       S_F0, S_F2, S_PIPE };
	if (to < D_TCP)
		return for_src[rnd(sizeof for_src / sizeof for_src[0])];
	return for_dst[rnd(sizeof for_dst / sizeof for_dst[0])];
}

static void gen_other_change(int file)
{
	size_t size = world.src_size[file];
	if (chance(50)) {
		struct op *o = emit(OP_OTHER_TRUNC, C_SRCCHANGE);
		o->slot = (uint8_t)file;
		o->a = chance(60) ? rnd((uint32_t)size + 1) : (int64_t)size + 1 + rnd(70000);
	} else {
		struct op *o = emit(OP_OTHER_PWRITE, C_SRCCHANGE);
		o->slot = (uint8_t)file;
		o->a = chance(50) ? 0 : rnd((uint32_t)size + 1);
		o->b = 1 + rnd(PAT_SIZE);
	}
}

/* Where read #ri started in its file, and how much it asked for (-1: not
 * a read of a known offset). */
static int64_t read_start(int ri, uint32_t *len)
{
	const struct op *r = &ops[ri];
	*len = 0;
	for (int j = 0; j < r->nseg; j++)
		*len += r->seg[j].len;
	if (r->call == R_PREAD || r->call == R_PREADV || r->call == R_PREADV2)
		return r->a;
	return r->call == R_READ || r->call == R_READV ? 0 : -1;  /* often the first read */
}

/* The program changes a source file itself, through a call zcopy hooks
 * (selfw_name, selft_name); sync_pct of the time only after its peers have
 * read everything (then no byte is in flight).  ri >= 0: a read of this
 * file the change aims into half the time. */
static void gen_self_change(int file, int sync_pct, int ri)
{
	size_t size = world.src_size[file];
	int sync = chance(sync_pct);
	struct op *o;
	if (chance(65)) {
		o = emit(OP_SELF_PWRITE, sync ? C_SELFSYNC : C_SELFMOD);
		o->a = chance(50) ? 0 : chance(50) ? 4096 * (int64_t)rnd(16) : rnd((uint32_t)size + 1);
		o->b = chance(30) ? 1 : 1 + rnd(PAT_SIZE);
		o->call = (uint8_t)rnd(NSELFW);
	} else {
		o = emit(OP_SELF_TRUNC, sync ? C_SELFSYNC : C_SELFMOD);
		o->a = chance(70) ? rnd((uint32_t)size + 1) : (int64_t)size + rnd(70000);
		o->call = (uint8_t)rnd(NSELFT);
	}
	uint32_t len;
	int64_t start = ri >= 0 && ops[ri].kind == OP_READ && ops[ri].slot == file ? read_start(ri, &len) : -1;
	if (start >= 0 && chance(50))
		o->a = start + rnd(len + 1);
	o->slot = (uint8_t)file;
	o->how = (uint8_t)sync;
}

static void gen_mem(void)
{
	int how = (int)rnd(4);
	emit(OP_MEM, how == 0 ? C_BADPTR : how == 3 ? C_BUFCHANGE : 0)->how = (uint8_t)how;
}

static void gen_misc_fd(void)
{
	int r = (int)rnd(100);
	if (r < 35) {
		struct op *o = emit(OP_CLOSE_RANGE, C_FDREUSE);
		o->slot = (uint8_t)pick_src();
		o->slot2 = (uint8_t)pick_dst();
		o->how = (uint8_t)chance(25);  /* CLOSE_RANGE_CLOEXEC */
	} else if (r < 60) {
		struct op *o = emit(OP_SHUTDOWN, C_PEERCLOSE);
		o->slot = (uint8_t)pick_dst();
		o->how = (uint8_t)(chance(70) ? SHUT_WR : SHUT_RDWR);
	} else {
		struct op *o = emit(OP_NONBLOCK, 0);
		o->slot = (uint8_t)pick_dst();
		o->how = (uint8_t)chance(50);
	}
}

/* A file size limit, with SIGXFSZ counted (how & 4: ignored). */
static void gen_fsize(void)
{
	emit(OP_FSIZE, C_FSIZE)->how = (uint8_t)(rnd(4) | (chance(30) ? 4 : 0));
}

static void gen_sigpipe(int how)
{
	struct op *o = emit(OP_SIGPIPE, 0);
	o->how = (uint8_t)how;
}

static void gen_peer_close(void)
{
	if (chance(50))
		gen_sigpipe(1 + (int)rnd(3));
	struct op *o = emit(OP_PEER_CLOSE, C_PEERCLOSE);
	o->slot2 = (uint8_t)rnd(NRECV);
}

static int file_of(int src)
{
	return src < SRC_FILES ? src : (int)rnd(SRC_FILES);
}

/* What may happen between a read and its write. */
static void gen_between(int ri, int src, int dst)
{
	int r = (int)rnd(100);
	if (r < 45)
		return;
	if (r < 53)
		gen_mutate(ri);
	else if (r < 59)
		gen_lseek(chance(60) ? src : dst);
	else if (r < 64) {
		gen_close(src, 0);
		gen_open(src);
	} else if (r < 69) {
		gen_close(src, 1);
		gen_open(src);
		ops[nops - 1].how = (uint8_t)chance(70);
	} else if (r < 73)
		gen_dup2(random_dup_from(src), src);
	else if (r < 78)
		gen_other_change(file_of(src));
	else if (r < 81)
		gen_self_change(file_of(src), 50, ri);
	else if (r < 85)
		emit(OP_FORK, C_FORK);  /* the child makes the write */
	else if (r < 88)
		chance(50) ? (void)emit(OP_THREAD, C_THREAD) : chance(70) ? gen_mem() : gen_fsize();
	else if (r < 91)
		gen_sigpipe((int)rnd(5));
	else if (r < 94)
		gen_peer_close();
	else
		gen_dup2(random_dup_from(dst), dst);
}

/* What may happen right after a write: changes to the source while its
 * bytes may still sit in a pipe or socket. */
static void gen_after(int ri, int src)
{
	int r = (int)rnd(100);
	if (r < 9)
		gen_self_change(file_of(src), 20, ri);
	else if (r < 13)
		gen_other_change(file_of(src));
	else if (r < 17)
		gen_mutate(ri);
}

static void pat_copy(void)
{
	int src = pick_src(), dst = pick_dst();
	int ri = gen_read(src, pick_buf(), pick_boff(), pick_len(), pick_rcall(src));
	gen_between(ri, src, dst);
	gen_write_from(ri, dst);
	gen_after(ri, src);
}

static void pat_loop(void)
{
	int src = pick_src(), dst = pick_dst(), buf = pick_buf(), call = pick_rcall(src);
	uint32_t boff = pick_boff(), len = pick_len();
	for (int n = 2 + (int)rnd(3); n > 0; n--) {
		if (chance(30))
			call = pick_rcall(src);  /* another call into the same buffer */
		gen_write_from(gen_read(src, buf, boff, len, call), dst);
		if (chance(10))
			gen_after(last_read, src);
	}
}

/* Several reads, one writev/sendmsg of all of them (Apache's pattern). */
static void pat_gather(void)
{
	int src = pick_src(), dst = pick_dst(), same = chance(70), buf = pick_buf();
	int k = 2 + (int)rnd(3);
	uint32_t off = pick_boff();
	struct seg segs[MAX_SEG];
	int n = 0;
	for (int j = 0; j < k; j++) {
		static const struct wpick gl[] = { { 4096, 2 }, { 8000, 3 }, { 16384, 4 }, { 65536, 4 }, { -1, 2 } };
		int64_t l = PICK(gl);
		uint32_t len = l < 0 ? 1 + rnd(100000) : (uint32_t)l;
		if (!same)
			buf = pick_buf(), off = pick_boff();
		if (off + len > BUF_SIZE)
			off = 0;
		int ri = gen_read(same ? src : pick_src(), buf, off, len, chance(80) ? R_READ : R_PREAD);
		if (ri < 0)
			break;
		uint32_t base = 0;
		for (int s = 0; s < ops[ri].nseg && n < MAX_SEG - 2; s++) {
			segs[n] = ops[ri].seg[s];
			segs[n].ref = (int16_t)ri;
			segs[n].base = base;
			base += segs[n].len;
			n++;
		}
		off += len;
	}
	if (chance(15))
		gen_between(last_read, src, dst);
	if (n)
		gen_write(dst, segs, n);
}

/* Read ahead into the other buffer before writing this one. */
static void pat_double(void)
{
	int src = pick_src(), dst = pick_dst();
	uint32_t len = pick_len();
	int a = gen_read(src, 0, 0, len, R_READ);
	int b = gen_read(src, 1, 0, len, R_READ);
	gen_write_from(a, dst);
	gen_write_from(b, dst);
}

/* A partial write, then one carrying the rest. */
static void pat_partial(void)
{
	int src = pick_src(), dst = pick_dst();
	uint32_t len = pick_len();
	int ri = gen_read(src, pick_buf(), pick_boff(), len, R_READ);
	if (ri < 0)
		return;
	uint32_t p = rnd(len + 1);
	struct seg s = ops[ri].seg[0];
	s.ref = (int16_t)ri;
	s.len = p;
	gen_write(dst, &s, 1);
	s = ops[ri].seg[0];
	s.ref = (int16_t)ri;
	s.tf = p;
	gen_write(dst, &s, 1);
}

static const int stream_dst[] = { D_TCP, D_UNIX, D_PIPE };

/* Read a range of a source file, change it through one of the program's
 * own calls, then send the buffer to a stream peer: the bytes read must
 * go, not the file's new ones (issue 16, section 2). */
static void pat_selfchange(void)
{
	int file = (int)rnd(SRC_FILES), dst = stream_dst[rnd(3)];
	int ri = gen_read(file, pick_buf(), pick_boff(), pick_len(), chance(50) ? R_READ : R_PREAD);
	if (ri < 0)
		return;
	gen_self_change(file, 25, ri);
	gen_write_from(ri, dst);
	if (chance(30))
		gen_after(ri, file);
}

/* Read up to the buffer's size, then one write of it to a receiver that
 * stops reading, cut short by a SIGALRM, as old servers time out a stuck
 * client; then the receiver reads again and the rest follows (issue 16,
 * section 1). */
static void pat_stall(void)
{
	static const struct wpick len[] = { { 65537, 2 }, { 262144, 3 }, { 1048577, 3 }, { BUF_SIZE, 1 } };
	static const struct wpick src[] = { { AL_ITIMER, 3 }, { AL_TIMER, 3 }, { AL_KILL, 3 }, { AL_ALARM, 1 } };
	int file = (int)rnd(SRC_FILES), dst = stream_dst[rnd(3)];
	if (chance(70))  /* the largest file: enough bytes to fill a pipe or socket */
		for (int f = 0; f < SRC_FILES; f++)
			if (world.src_size[f] > world.src_size[file])
				file = f;
	int ri = gen_read(file, pick_buf(), 0, (uint32_t)PICK(len), chance(30) ? R_READ : R_PREAD);
	if (ri < 0)
		return;
	if (ops[ri].call == R_PREAD && chance(70))
		ops[ri].a = 0;
	if (chance(15))
		gen_self_change(file, 0, ri);
	struct op *o = emit(OP_STALL, C_ALARM);
	int r = (int)rnd(100);
	o->slot = (uint8_t)dst;
	o->call = (uint8_t)(r < 50 ? W_WRITE : r < 80 ? W_WRITEV : dst == D_PIPE ? W_WRITE : W_SEND);
	o->how = (uint8_t)(PICK(src) | (chance(50) ? 4 : 0));
	if (o->call == W_WRITEV)
		o->seg[o->nseg++] = (struct seg){ .buf = 3, .ref = -1, .off = rnd(100), .len = 1 + rnd(200) };
	struct seg body = ops[ri].seg[0];
	body.ref = (int16_t)ri;
	body.base = 0;
	o->seg[o->nseg++] = body;
}

static void pat_misc(void)
{
	int r = (int)rnd(100);
	if (r < 18)
		gen_lseek(chance(50) ? pick_src() : pick_dst());
	else if (r < 26)
		gen_close(chance(70) ? pick_src() : pick_dst(), chance(40));
	else if (r < 36)
		gen_open(chance(70) ? pick_src() : pick_dst());
	else if (r < 46) {
		int to = chance(60) ? pick_src() : pick_dst();
		if (to >= S_PROC && to < D_TCP)
			to = S_F0;
		gen_dup2(random_dup_from(to), to);
	} else if (r < 56)
		gen_sigpipe((int)rnd(5));
	else if (r < 61)
		gen_peer_close();
	else if (r < 64)
		emit(OP_FORK, C_FORK);
	else if (r < 67)
		chance(50) ? (void)emit(OP_THREAD, C_THREAD) : chance(50) ? gen_mem() : chance(70) ? gen_misc_fd() : gen_fsize();
	else if (r < 72)
		gen_mutate(last_read);
	else if (r < 78)
		gen_other_change((int)rnd(SRC_FILES));
	else if (r < 84)
		gen_self_change((int)rnd(SRC_FILES), 50, -1);
	else {
		/* any range of a buffer, read or not */
		struct seg s = { .buf = (int8_t)pick_buf(), .ref = -1, .off = pick_boff(), .len = pick_len() };
		gen_write(pick_dst(), &s, 1);
	}
}

static void generate(uint64_t seed)
{
	rng = seed * 0x2545f4914f6cdd1dULL + 0x1234567;
	for (int i = 0; i < SRC_FILES; i++)
		world.src_size[i] = (size_t)PICK(size_w);
	for (int s = D_TCP; s <= D_PIPE; s++) {
		world.nonblock[s] = s != D_DGRAM && chance(20);
		world.small[s] = s != D_DGRAM && chance(20);
		world.slow[s] = chance(30);
	}
	world.packet = chance(15);
	world.direct = chance(15);
	int target = 5 + (int)rnd(36);
	while (nops < target) {
		int r = (int)rnd(100);
		if (r < 40)
			pat_copy();
		else if (r < 52)
			pat_loop();
		else if (r < 64)
			pat_gather();
		else if (r < 72)
			pat_double();
		else if (r < 78)
			pat_partial();
		else if (r < 82)
			pat_selfchange();
		else if (r < 85)
			pat_stall();
		else
			pat_misc();
	}
	nops = target;
}

/* ---- describing ops ------------------------------------------------------- */

static int describe_segs(char *d, size_t size, const struct op *o)
{
	int n = 0;
	for (int j = 0; j < o->nseg && (size_t)n < size; j++) {
		const struct seg *s = &o->seg[j];
		n += snprintf(d + n, size - (size_t)n, "%s%s%d+%u:%u", j ? "," : "",
			      s->buf == 3 ? "h" : s->buf == MBUF ? "m" : "b", s->buf >= 3 ? 0 : s->buf, s->off, s->len);
		if (s->ref >= 0 && (size_t)n < size)
			n += snprintf(d + n, size - (size_t)n, "@#%d+%u", s->ref, s->base);
		if ((s->tf || s->tb) && (size_t)n < size)
			n += snprintf(d + n, size - (size_t)n, "-%u-%u", s->tf, s->tb);
	}
	return n;
}

static void describe(char *d, size_t size, const struct op *o)
{
	char segs[1024] = "";
	describe_segs(segs, sizeof segs, o);
	switch (o->kind) {
	case OP_READ: {
		char at[32] = "";
		if (o->call == R_PREAD || o->call == R_PREADV || o->call == R_PREADV2)
			snprintf(at, sizeof at, " at=%lld", (long long)o->a);
		snprintf(d, size, "%s %s [%s]%s feed=%lld", rcall_name[o->call], slot_name[o->slot], segs, at,
			 (long long)o->b);
		break;
	}
	case OP_WRITE: {
		char at[32] = "";
		if (o->call == W_PWRITE)
			snprintf(at, sizeof at, " at=%lld", (long long)o->a);
		snprintf(d, size, "%s %s [%s] flags=%#x%s%s", wcall_name[o->call], slot_name[o->slot], segs,
			 o->flags, o->how ? " scm_rights" : "", at);
		break;
	}
	case OP_MUTATE:
		snprintf(d, size, "mutate %s [%s]", mutate_name[o->how], segs);
		break;
	case OP_LSEEK:
		snprintf(d, size, "lseek %s %lld %s", slot_name[o->slot], (long long)o->a,
			 o->how == SEEK_SET ? "SET" : o->how == SEEK_CUR ? "CUR" : "END");
		break;
	case OP_CLOSE:
		snprintf(d, size, "close %s", slot_name[o->slot]);
		break;
	case OP_FCLOSE:
		snprintf(d, size, "fdopen+fclose %s", slot_name[o->slot]);
		break;
	case OP_OPEN:
		snprintf(d, size, "%s %s into %s", o->how ? "fopen" : "open", target_name[o->slot2], slot_name[o->slot]);
		break;
	case OP_DUP2:
		snprintf(d, size, "dup2 %s over %s", slot_name[o->slot], slot_name[o->slot2]);
		break;
	case OP_OTHER_TRUNC:
		snprintf(d, size, "other process: truncate src%d to %lld", o->slot, (long long)o->a);
		break;
	case OP_OTHER_PWRITE:
		snprintf(d, size, "other process: pwrite src%d at %lld len %lld", o->slot, (long long)o->a,
			 (long long)o->b);
		break;
	case OP_SELF_PWRITE:
		snprintf(d, size, "self: %s%s src%d at %lld len %lld", o->how ? "drain, then " : "", selfw_name[o->call],
			 o->slot, (long long)o->a, (long long)o->b);
		break;
	case OP_SELF_TRUNC:
		snprintf(d, size, "self: %s%s src%d to %lld", o->how ? "drain, then " : "", selft_name[o->call], o->slot,
			 (long long)o->a);
		break;
	case OP_STALL:
		snprintf(d, size, "stall: %s %s [%s] to a receiver that stopped reading (TCP: SO_SNDBUF 64 KiB), cut short by %s%s", wcall_name[o->call],
			 slot_name[o->slot], segs, alarm_name[o->how & 3], o->how & 4 ? " (SA_RESTART)" : "");
		break;
	case OP_BARRIER:
		snprintf(d, size, "drain: wait until every peer has read everything");
		break;
	case OP_FSIZE:
		if (fsize_limit[o->how & 3] < 0)
			snprintf(d, size, "RLIMIT_FSIZE unlimited, SIGXFSZ %s", o->how & 4 ? "ignored" : "counted");
		else
			snprintf(d, size, "RLIMIT_FSIZE %lld, SIGXFSZ %s", (long long)fsize_limit[o->how & 3],
				 o->how & 4 ? "ignored" : "counted");
		break;
	case OP_PEER_CLOSE:
		snprintf(d, size, "peer of %s closes", helper_name[o->slot2]);
		break;
	case OP_SIGPIPE:
		snprintf(d, size, "sigpipe %s", sigpipe_name[o->how]);
		break;
	case OP_FORK:
		snprintf(d, size, "fork: the child makes the next op");
		break;
	case OP_THREAD:
		snprintf(d, size, "thread: a new thread makes the next op");
		break;
	case OP_CLOSE_RANGE:
		snprintf(d, size, "close_range from %s to %s%s", slot_name[o->slot], slot_name[o->slot2],
			 o->how ? " CLOEXEC" : "");
		break;
	case OP_SHUTDOWN:
		snprintf(d, size, "shutdown %s %s", slot_name[o->slot], o->how == SHUT_WR ? "SHUT_WR" : "SHUT_RDWR");
		break;
	case OP_NONBLOCK:
		snprintf(d, size, "fcntl %s O_NONBLOCK %s", slot_name[o->slot], o->how ? "on" : "off");
		break;
	case OP_MEM:
		snprintf(d, size, "mbuf %s", mem_name[o->how]);
		break;
	}
}

/* ---- the runner ----------------------------------------------------------- */

static const char *dir_out = ".";
static int slot_fd[NSLOT], hidden[NSLOT];
static int cmd_w[NHELPER], ack_r[NHELPER];
static signed char obj_of[MAX_FD];   /* which world object an fd number names, by the runner's books */
static ssize_t ret_of[MAX_OPS];
static char done_op[MAX_OPS];
static long buffered[NSLOT];
static int in_child;
static volatile sig_atomic_t sigpipe_count, sigxfsz_count;
static char bufs[NBUF][BUF_SIZE] __attribute__((aligned(4096)));
static char hdr[HDR_SIZE], pat[PAT_SIZE];
static char *mbuf;          /* mmap'd: OP_MEM changes its protection */
static int mbuf_readable = 1;

static void write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n > 0) {
		ssize_t r = write(fd, c, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return;
		c += r;
		n -= (size_t)r;
	}
}

static void tlog(const char *fmt, ...)
{
	char line[4096];
	int saved = errno;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	if (n > (int)sizeof line - 1)
		n = (int)sizeof line - 1;
	write_all(TFD, line, (size_t)n);
	errno = saved;
}

static void die(const char *what)
{
	fprintf(stderr, "difftest: %s: %s\n", what, strerror(errno));
	exit(3);
}

/* Every fd of the world after each op: offset (or errno) and file flags;
 * then SIGPIPE: disposition, blocked, pending, deliveries counted. */
static void state(void)
{
	char line[2048];
	int n = snprintf(line, sizeof line, "   fds");
	for (int i = 0; i < NSLOT; i++) {
		int fd = slot_fd[i];
		errno = 0;
		off_t off = lseek(fd, 0, SEEK_CUR);
		int e = errno;
		int fl = fcntl(fd, F_GETFL);
		if (off < 0)
			n += snprintf(line + n, sizeof line - (size_t)n, " %d:E%d", fd, e);
		else
			n += snprintf(line + n, sizeof line - (size_t)n, " %d:%lld", fd, (long long)off);
		n += snprintf(line + n, sizeof line - (size_t)n, fl < 0 ? "/-" : "/%x", fl);
	}
	struct sigaction sa;
	sigset_t mask, pend;
	sigaction(SIGPIPE, NULL, &sa);
	sigprocmask(SIG_BLOCK, NULL, &mask);
	sigpending(&pend);
	const char *disp = sa.sa_handler == SIG_DFL ? "dfl" : sa.sa_handler == SIG_IGN ? "ign" : "fn";
	tlog("%s\n   sigpipe %s blocked=%d pending=%d count=%d sigxfsz=%d\n", line, disp, sigismember(&mask, SIGPIPE),
	     sigismember(&pend, SIGPIPE), (int)sigpipe_count, (int)sigxfsz_count);
}

static int obj(int fd)
{
	return fd >= 0 && fd < MAX_FD ? obj_of[fd] : -1;
}

static void set_obj(int fd, int o)
{
	if (fd >= 0 && fd < MAX_FD)
		obj_of[fd] = (signed char)o;
}

/* One request to a helper and its reply; -1 when the helper is gone or hung. */
static int helper_send(int h, int type, int file, int64_t a, int64_t b)
{
	struct msg m = { type, file, a, b };
	return write(cmd_w[h], &m, sizeof m) == (ssize_t)sizeof m ? 0 : -1;
}

static int helper_reply(int h, struct reply *rep)
{
	memset(rep, 0, sizeof *rep);
	struct pollfd p = { ack_r[h], POLLIN, 0 };
	int r;
	while ((r = poll(&p, 1, WAIT_MS)) < 0 && errno == EINTR)
		;
	if (r <= 0)
		return -1;
	return read(ack_r[h], rep, sizeof *rep) == (ssize_t)sizeof *rep ? 0 : -1;
}

static int helper_call(int h, int type, int file, int64_t a, int64_t b, struct reply *rep)
{
	memset(rep, 0, sizeof *rep);
	if (helper_send(h, type, file, a, b) < 0)
		return -1;
	return helper_reply(h, rep);
}

/* Waits until the receiver behind helper h has read every byte written so
 * far, so that no page of a source file is still referenced by a pipe or
 * socket buffer.  Quiet unless it fails: a failure shows in the transcript. */
static void barrier_one(int h)
{
	struct reply rep;
	if (helper_call(h, M_SYNC, 0, 0, 0, &rep) < 0) {
		tlog("   barrier %s: helper hung\n", helper_name[h]);
		return;
	}
	if (!rep.result || h != H_TCP)
		return;  /* closed, or every byte written is already in the receiver's queue */
	/* TCP: bytes may wait in our send queue (small SO_SNDBUF, MSG_MORE). */
	int fd = hidden[D_TCP], one = 1, zero = 0;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  /* pushes corked bytes */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &zero, sizeof zero);
	for (int waited = 0;; waited++) {
		int q = 0;
		if (ioctl(fd, SIOCOUTQ, &q) < 0 || q == 0)
			break;
		if (waited > WAIT_MS * 5) {
			tlog("   barrier tcp: send queue stuck at %d\n", q);
			return;
		}
		usleep(200);
	}
	if (helper_call(h, M_SYNC, 0, 0, 0, &rep) < 0)
		tlog("   barrier %s: helper hung\n", helper_name[h]);
}

static void barrier_all(void)
{
	for (int h = 0; h < NRECV; h++)
		barrier_one(h);
}

static char *seg_ptr(const struct seg *s)
{
	return s->buf == 3 ? hdr + s->off : s->buf == MBUF ? mbuf + s->off : bufs[s->buf] + s->off;
}

static void resolve(const struct seg *s, struct iovec *v)
{
	size_t len = s->len;
	if (s->ref >= 0 && done_op[s->ref]) {
		ssize_t avail = ret_of[s->ref] - (ssize_t)s->base;
		if (avail < 0)
			avail = 0;
		if ((size_t)avail < len)
			len = (size_t)avail;
	}
	size_t tf = s->tf < len ? s->tf : len;
	len -= tf;
	size_t tb = s->tb < len ? s->tb : len;
	len -= tb;
	v->iov_base = seg_ptr(s) + tf;
	v->iov_len = len;
}

/* fread through an unbuffered FILE on a dup of fd: the bytes go straight
 * into the buffer, through glibc's internal read. */
static ssize_t fread_fd(int fd, void *buf, size_t len)
{
	int d = dup(fd);
	if (d < 0)
		return -1;
	FILE *f = fdopen(d, "r");
	if (!f) {
		int e = errno;
		close(d);
		errno = e;
		return -1;
	}
	setvbuf(f, NULL, _IONBF, 0);
	size_t got = fread(buf, 1, len, f);
	int failed = got < len && ferror(f), e = errno;
	fclose(f);
	errno = e;
	return failed && got == 0 ? -1 : (ssize_t)got;
}

/* Fd numbers are reused, so an op's slot may name any fd by now.  A read
 * from a blocking socket or pipe that holds nothing would wait forever:
 * the state decides, so the answer is the same in every run. */
static int would_block_reading(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !(S_ISSOCK(st.st_mode) || S_ISFIFO(st.st_mode)))
		return 0;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (fl & O_NONBLOCK))
		return 0;
	struct pollfd p = { fd, POLLIN, 0 };
	return poll(&p, 1, 0) == 0;
}

/* Writing to the source socket fills a queue nobody reads. */
static int nobody_reads(int fd)
{
	struct stat a, b;
	return fstat(fd, &a) == 0 && fstat(hidden[S_SOCK], &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void do_read(int i, const struct op *o)
{
	int fd = slot_fd[o->slot], ch = obj(fd);
	if (would_block_reading(fd)) {
		ret_of[i] = -1;
		done_op[i] = 1;
		tlog("   not read: would block\n");
		return;
	}
	long fed = 0;
	/* Fork children never feed: the parent's books then only over-count
	 * what is buffered, and a feeder can never block. */
	if ((ch == S_PIPE || ch == S_SOCK) && o->b > 0 && !in_child) {
		long cap = (ch == S_PIPE ? FEED_CAP_PIPE : FEED_CAP_SOCK) - buffered[ch];
		long want = o->b < cap ? (long)o->b : cap;
		struct reply rep;
		if (want > 0) {
			if (helper_call(ch == S_PIPE ? H_FEED_PIPE : H_FEED_SOCK, M_FEED, 0, want, 0, &rep) < 0)
				tlog("   feeder hung\n");
			fed = want;
			buffered[ch] += want;
		}
	}
	struct iovec iov[MAX_SEG];
	for (int j = 0; j < o->nseg; j++)
		resolve(&o->seg[j], &iov[j]);
	errno = ERRNO_SENTINEL;
	ssize_t r;
	switch (o->call) {
	case R_READ: r = read(fd, iov[0].iov_base, iov[0].iov_len); break;
	case R_PREAD: r = pread(fd, iov[0].iov_base, iov[0].iov_len, (off_t)o->a); break;
	case R_PREADV: r = preadv(fd, iov, o->nseg, (off_t)o->a); break;
	case R_PREADV2: r = preadv2(fd, iov, o->nseg, (off_t)o->a, 0); break;
	case R_RECV: r = recv(fd, iov[0].iov_base, iov[0].iov_len, 0); break;
	case R_RECVMSG: {
		struct msghdr m;
		memset(&m, 0, sizeof m);
		m.msg_iov = iov;
		m.msg_iovlen = (size_t)o->nseg;
		r = recvmsg(fd, &m, 0);
		break;
	}
	case R_FREAD: r = fread_fd(fd, iov[0].iov_base, iov[0].iov_len); break;
	default: r = readv(fd, iov, o->nseg); break;
	}
	int e = errno;
	if (r > 0 && (ch == S_PIPE || ch == S_SOCK)) {
		buffered[ch] -= r;
		if (buffered[ch] < 0)
			buffered[ch] = 0;
	}
	ret_of[i] = r;
	done_op[i] = 1;
	tlog("   fed=%ld -> %zd errno=%d\n", fed, r, e);
}

static ssize_t write_once(const struct op *o, int fd, struct iovec *iov, int cnt, off_t at)
{
	struct msghdr m;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	switch (o->call) {
	case W_WRITE: return write(fd, iov[0].iov_base, iov[0].iov_len);
	case W_SEND: return send(fd, iov[0].iov_base, iov[0].iov_len, o->flags);
	case W_SENDTO: return sendto(fd, iov[0].iov_base, iov[0].iov_len, o->flags, NULL, 0);
	case W_WRITEV: return writev(fd, iov, cnt);
	case W_PWRITE: return pwrite(fd, iov[0].iov_base, iov[0].iov_len, at);
	default:
		memset(&m, 0, sizeof m);
		m.msg_iov = iov;
		m.msg_iovlen = (size_t)cnt;
		if (o->how) {
			memset(&u, 0, sizeof u);
			m.msg_control = u.buf;
			m.msg_controllen = sizeof u.buf;
			struct cmsghdr *c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			int zero = 0;
			memcpy(CMSG_DATA(c), &zero, sizeof zero);
		}
		return sendmsg(fd, &m, o->flags);
	}
}

static void do_write(const struct op *o)
{
	struct iovec iov[MAX_SEG];
	size_t total = 0;
	for (int j = 0; j < o->nseg; j++) {
		resolve(&o->seg[j], &iov[j]);
		total += iov[j].iov_len;
	}
	int cnt = o->nseg;
	if (o->call != W_WRITEV && o->call != W_SENDMSG)
		cnt = 1;
	int fd = slot_fd[o->slot];
	if (nobody_reads(fd)) {
		tlog("   not written: nobody reads there\n");
		return;
	}
	int fl = fcntl(fd, F_GETFL);
	int nonblock = (fl >= 0 && (fl & O_NONBLOCK)) || (o->flags & MSG_DONTWAIT);
	if (!nonblock) {
		errno = ERRNO_SENTINEL;
		ssize_t r = write_once(o, fd, iov, cnt, (off_t)o->a);
		int e = errno;
		tlog("   total=%zu -> %zd errno=%d\n", total, r, e);
		return;
	}
	/* Non-blocking: how the bytes are split between calls depends on timing,
	 * so only what was delivered in the end and how it ended are recorded.
	 * Each retry starts inside the buffer where the last call stopped. */
	struct iovec *v = iov;
	size_t done = 0;
	int e = 0, stalled = 0, calls = 0;
	ssize_t last = 0;
	off_t at = (off_t)o->a;
	for (;;) {
		while (cnt > 1 && v[0].iov_len == 0)
			v++, cnt--;
		errno = ERRNO_SENTINEL;
		ssize_t r = write_once(o, fd, v, cnt, at);
		calls++;
		last = r;
		if (r < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				struct pollfd p = { fd, POLLOUT, 0 };
				int pr;
				while ((pr = poll(&p, 1, 10000)) < 0 && errno == EINTR)
					;
				if (pr == 0) {
					stalled = 1;
					break;
				}
				continue;
			}
			e = errno;
			break;
		}
		if (r == 0 && done < total)
			break;
		done += (size_t)r;
		at += r;
		for (size_t left = (size_t)r; left > 0;) {
			if (left >= v[0].iov_len) {
				left -= v[0].iov_len;
				v[0].iov_len = 0;
				if (cnt > 1)
					v++, cnt--;
			} else {
				v[0].iov_base = (char *)v[0].iov_base + left;
				v[0].iov_len -= left;
				left = 0;
			}
		}
		if (done >= total)
			break;
	}
	/* A zero-byte write succeeds or fails on its own: that is deterministic. */
	if (total == 0)
		tlog("   total=0 nonblocking -> %zd errno=%d\n", last, last < 0 ? e : ERRNO_SENTINEL);
	else
		tlog("   total=%zu nonblocking: delivered=%zu errno=%d%s\n", total, done, e,
		     stalled ? " STALLED" : "");
	(void)calls;
}

static void do_mutate(const struct op *o)
{
	struct iovec v;
	resolve(&o->seg[0], &v);
	unsigned char *p = v.iov_base;
	if (o->seg[0].buf == MBUF && mbuf_readable != 2) {
		tlog("   mbuf not writable\n");
		return;
	}
	if (!v.iov_len) {
		tlog("   nothing\n");
		return;
	}
	switch (o->how) {
	case 0: memmove(p, p, v.iov_len); break;  /* a store of the same bytes */
	case 1: for (size_t k = 0; k < v.iov_len; k++) p[k] ^= 0x5a; break;
	case 2: p[v.iov_len / 2] ^= 0xff; break;
	default: p[0] ^= 0x01; break;
	}
	tlog("   changed %zu bytes\n", v.iov_len);
}

static const char *target_path(int t, char *path, size_t size)
{
	if (t < SRC_FILES)
		snprintf(path, size, "src%d", t);
	else if (t == T_OUTFILE)
		snprintf(path, size, "%s/out.file", dir_out);
	else if (t == T_APPEND)
		snprintf(path, size, "%s/out.append", dir_out);
	else
		snprintf(path, size, "/dev/null");
	return path;
}

static void do_open(const struct op *o)
{
	char path[4096];
	int t = o->slot2;
	if (t == T_OUTFILE && ro_outfile)
		t = T_APPEND;  /* out.file must never be read back */
	target_path(t, path, sizeof path);
	int flags = t < SRC_FILES ? O_RDONLY : t == T_OUTFILE ? O_RDWR : t == T_APPEND ? O_WRONLY | O_APPEND : O_RDWR;
	const char *mode = t < SRC_FILES ? "r" : t == T_APPEND ? "a" : "r+";
	errno = ERRNO_SENTINEL;
	int fd;
	if (o->how) {
		FILE *f = fopen(path, mode);
		fd = f ? fileno(f) : -1;  /* the FILE stays open to the end */
	} else {
		fd = open(path, flags);
	}
	int e = errno;
	tlog("   -> fd %d errno=%d\n", fd, e);
	if (fd >= 0) {
		slot_fd[o->slot] = fd;
		set_obj(fd, NSLOT);  /* a plain file: nothing to feed */
	}
}

static void do_fclose(const struct op *o)
{
	int fd = slot_fd[o->slot];
	int fl = fcntl(fd, F_GETFL);
	int acc = fl < 0 ? O_RDONLY : fl & O_ACCMODE;
	errno = ERRNO_SENTINEL;
	FILE *f = fdopen(fd, acc == O_RDONLY ? "r" : acc == O_WRONLY ? "w" : "r+");
	if (!f) {
		tlog("   fdopen -> NULL errno=%d\n", errno);
		return;
	}
	/* glibc closes the fd inside fclose: no preload sees this close. */
	int r = fclose(f);
	int e = errno;
	set_obj(fd, -1);
	tlog("   -> %d errno=%d\n", r, e);
}

/* A second fd of srcN for writing (the file may be truncated or changed,
 * never replaced); -1 with the failure logged. */
static int open_second(int file)
{
	char path[64];
	snprintf(path, sizeof path, "src%d", file);
	errno = ERRNO_SENTINEL;
	int fd = open(path, O_WRONLY);
	if (fd < 0)
		tlog("   open -> %d errno=%d\n", fd, errno);
	return fd;
}

static void do_self_pwrite(const struct op *o)
{
	int same = o->call == SW_PWRITE_SAME;
	int fd = same ? slot_fd[o->slot] : open_second(o->slot), from = -1;
	if (fd < 0)
		return;
	size_t n = (size_t)o->b;
	ssize_t r;
	int e;
	if (o->call == SW_COPY_RANGE) {
		char path[64];
		snprintf(path, sizeof path, "src%d", (o->slot + 1) % SRC_FILES);
		from = open(path, O_RDONLY);
	}
	errno = ERRNO_SENTINEL;
	switch (o->call) {
	case SW_WRITE_OTHER:
		r = lseek(fd, (off_t)o->a, SEEK_SET) < 0 ? -1 : write(fd, pat, n);
		break;
	case SW_WRITEV_OTHER: {
		struct iovec v[2] = { { pat, n / 2 }, { pat + n / 2, n - n / 2 } };
		r = lseek(fd, (off_t)o->a, SEEK_SET) < 0 ? -1 : writev(fd, v, 2);
		break;
	}
	case SW_COPY_RANGE: {
		loff_t in = 0, at = (loff_t)o->a;
		r = from < 0 ? -1 : copy_file_range(from, &in, fd, &at, n, 0);
		break;
	}
	default:
		r = pwrite(fd, pat, n, (off_t)o->a);
	}
	e = errno;
	if (from >= 0)
		close(from);
	if (!same)
		close(fd);
	tlog("   -> %zd errno=%d\n", r, e);
}

static void do_self_trunc(const struct op *o)
{
	char path[64];
	int r;
	snprintf(path, sizeof path, "src%d", o->slot);
	if (o->call == ST_TRUNCATE) {
		errno = ERRNO_SENTINEL;
		r = truncate(path, (off_t)o->a);
		tlog("   -> %d errno=%d\n", r, errno);
		return;
	}
	int same = o->call == ST_FTRUNCATE_SAME;
	int fd = same ? slot_fd[o->slot] : open_second(o->slot);
	if (fd < 0)
		return;
	errno = ERRNO_SENTINEL;
	r = ftruncate(fd, (off_t)o->a);
	int e = errno;
	if (!same)
		close(fd);
	tlog("   -> %d errno=%d\n", r, e);
}

/* ---- a write to a stalled receiver, cut short by a signal ----------------- */

static volatile sig_atomic_t alarm_count;  /* not in the transcript: timing decides it */

static void on_alarm(int sig)
{
	(void)sig;
	alarm_count++;
}

static long ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Drops the first n bytes of an iovec array. */
static void iov_advance(struct iovec **v, int *cnt, size_t n)
{
	while (n > 0 && *cnt > 0) {
		if (n < (*v)[0].iov_len) {
			(*v)[0].iov_base = (char *)(*v)[0].iov_base + n;
			(*v)[0].iov_len -= n;
			return;
		}
		n -= (*v)[0].iov_len;
		(*v)[0].iov_len = 0;
		if (*cnt > 1)
			(*v)++, (*cnt)--;
		else
			return;
	}
}

/* The receiver stops reading (after it read everything so far, so the call
 * always moves some bytes before it blocks), a SIGALRM comes STALL_DELAY_MS
 * later, and the call must return.  How many bytes it moved depends on
 * timing and on how the kernel fills a pipe or socket, so the transcript
 * records only that it returned (and its errno), then the total delivered
 * once the receiver reads again and the rest is written.  SIGALRM is
 * blocked in the runner except around this call, so a process-wide signal
 * lands in the thread that makes it.  A receiver that had to read again on
 * its own (the call did not return) shows. */
static void do_stall(const struct op *o)
{
	int fd = slot_fd[o->slot], ob = obj(fd), fl = fcntl(fd, F_GETFL);
	int h = ob == D_TCP ? H_TCP : ob == D_UNIX ? H_UNIX : ob == D_PIPE ? H_PIPE : -1;
	if (h < 0 || fl < 0) {
		tlog("   not an fd to a receiver: not written\n");
		return;
	}
	struct reply rep;
	barrier_one(h);
	if (helper_call(h, M_STALL, 0, 0, 0, &rep) < 0) {
		tlog("   receiver hung\n");
		return;
	}
	if (!rep.result) {
		tlog("   receiver closed: not written\n");
		return;
	}
	if (fl & O_NONBLOCK)
		fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);  /* for this op only: it must block */
	/* Loopback TCP takes megabytes before it blocks, more than a buffer
	 * holds: a server that sizes its send buffer (from here on). */
	int sndbuf = 65536;
	if (ob == D_TCP)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
	struct iovec iov[MAX_SEG], *v = iov;
	int cnt = o->call == W_WRITEV ? o->nseg : 1;
	size_t total = 0;
	for (int j = 0; j < o->nseg; j++)
		resolve(&o->seg[j], &iov[j]);
	for (int j = 0; j < cnt; j++)
		total += iov[j].iov_len;

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm;
	sa.sa_flags = o->how & 4 ? SA_RESTART : 0;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
	sigset_t alrm;
	sigemptyset(&alrm);
	sigaddset(&alrm, SIGALRM);
	int source = o->how & 3, killer = 0;
	timer_t timer;
	struct itimerval it = { { 0, 0 }, { 0, STALL_DELAY_MS * 1000 } }, off = { { 0, 0 }, { 0, 0 } };
	struct itimerspec ts = { { 0, 0 }, { 0, STALL_DELAY_MS * 1000000L } };
	struct sigevent ev;
	memset(&ev, 0, sizeof ev);
	ev.sigev_notify = SIGEV_SIGNAL;
	ev.sigev_signo = SIGALRM;
	int armed = source == AL_ALARM ? (alarm(1), 1)
		  : source == AL_ITIMER ? setitimer(ITIMER_REAL, &it, NULL) == 0
		  : source == AL_TIMER ? timer_create(CLOCK_MONOTONIC, &ev, &timer) == 0 &&
					 timer_settime(timer, 0, &ts, NULL) == 0
				       : (killer = helper_send(H_MUTATOR, M_KILL, 0, getpid(), STALL_DELAY_MS) == 0);
	if (!armed)
		tlog("   the signal could not be armed\n");

	pthread_sigmask(SIG_UNBLOCK, &alrm, NULL);
	errno = ERRNO_SENTINEL;
	ssize_t r = write_once(o, fd, iov, cnt, 0);
	int e = errno;
	pthread_sigmask(SIG_BLOCK, &alrm, NULL);

	if (source == AL_ALARM)
		alarm(0);
	else if (source == AL_ITIMER)
		setitimer(ITIMER_REAL, &off, NULL);
	else if (source == AL_TIMER && armed)
		timer_delete(timer);
	else if (killer && helper_reply(H_MUTATOR, &rep) < 0)
		tlog("   mutator hung\n");
	struct timespec none = { 0, 0 };
	while (sigtimedwait(&alrm, NULL, &none) > 0)
		;  /* one that came after the call stays out of the next */
	if (r < 0)
		tlog("   total=%zu -> -1 errno=%d\n", total, e);
	else
		tlog("   total=%zu -> returned errno=%d\n", total, e);

	if (helper_call(h, M_RESUME, 0, 0, 0, &rep) < 0)
		tlog("   receiver hung\n");
	else if (rep.n)
		tlog("   the receiver had to read again on its own: the call did not return\n");
	size_t done = r > 0 ? (size_t)r : 0;
	e = 0;
	iov_advance(&v, &cnt, done);
	while (r >= 0 && done < total) {
		ssize_t w = write_once(o, fd, v, cnt, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			e = w < 0 ? errno : 0;
			break;
		}
		done += (size_t)w;
		iov_advance(&v, &cnt, (size_t)w);
	}
	if (fl & O_NONBLOCK)
		fcntl(fd, F_SETFL, fl);
	tlog("   delivered=%zu errno=%d\n", done, e);
}

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipe_count++;
}

static void on_sigxfsz(int sig)
{
	(void)sig;
	sigxfsz_count++;
}

static void do_fsize(const struct op *o)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = o->how & 4 ? SIG_IGN : on_sigxfsz;
	sa.sa_flags = SA_RESTART;
	sigaction(SIGXFSZ, &sa, NULL);
	struct rlimit rl;
	getrlimit(RLIMIT_FSIZE, &rl);
	int64_t v = fsize_limit[o->how & 3];
	rl.rlim_cur = v < 0 ? rl.rlim_max : (rlim_t)v;
	errno = ERRNO_SENTINEL;
	int r = setrlimit(RLIMIT_FSIZE, &rl);
	tlog("   -> %d errno=%d\n", r, errno);
}

static void do_sigpipe(const struct op *o)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	int r;
	errno = ERRNO_SENTINEL;
	switch (o->how) {
	case 0: sa.sa_handler = SIG_DFL; r = sigaction(SIGPIPE, &sa, NULL); break;
	case 1: sa.sa_handler = SIG_IGN; r = sigaction(SIGPIPE, &sa, NULL); break;
	case 2:
		sa.sa_handler = on_sigpipe;
		sa.sa_flags = SA_RESTART;
		r = sigaction(SIGPIPE, &sa, NULL);
		break;
	case 3: r = sigprocmask(SIG_BLOCK, &set, NULL); break;
	default: r = sigprocmask(SIG_UNBLOCK, &set, NULL); break;
	}
	tlog("   -> %d errno=%d\n", r, errno);
}

static void exec_op(int i)
{
	const struct op *o = &ops[i];
	char d[1400];
	describe(d, sizeof d, o);
	tlog("#%d %s%s\n", i, d, in_child ? " (in the fork child)" : "");
	struct reply rep;
	int fd = slot_fd[o->slot], r, e;
	off_t off;
	switch (o->kind) {
	case OP_READ: do_read(i, o); break;
	case OP_WRITE: do_write(o); break;
	case OP_MUTATE: do_mutate(o); break;
	case OP_LSEEK:
		errno = ERRNO_SENTINEL;
		off = lseek(fd, (off_t)o->a, o->how);
		tlog("   -> %lld errno=%d\n", (long long)off, errno);
		break;
	case OP_CLOSE:
		errno = ERRNO_SENTINEL;
		r = close(fd);
		e = errno;
		set_obj(fd, -1);
		tlog("   -> %d errno=%d\n", r, e);
		break;
	case OP_FCLOSE: do_fclose(o); break;
	case OP_OPEN: do_open(o); break;
	case OP_DUP2: {
		int to = slot_fd[o->slot2];
		errno = ERRNO_SENTINEL;
		r = dup2(fd, to);
		e = errno;
		if (r >= 0)
			set_obj(to, obj(fd));
		tlog("   dup2(%d, %d) -> %d errno=%d\n", fd, to, r, e);
		break;
	}
	case OP_OTHER_TRUNC:
	case OP_OTHER_PWRITE:
		barrier_all();
		if (helper_call(H_MUTATOR, o->kind == OP_OTHER_TRUNC ? M_TRUNC : M_PWRITE, o->slot, o->a, o->b, &rep) < 0)
			tlog("   mutator hung\n");
		tlog("   -> %d errno=%d\n", rep.result, rep.err);
		break;
	case OP_SELF_PWRITE:
		if (o->how)
			barrier_all();
		do_self_pwrite(o);
		break;
	case OP_BARRIER:
		barrier_all();
		tlog("   drained\n");
		break;
	case OP_FSIZE: do_fsize(o); break;
	case OP_SELF_TRUNC:
		if (o->how)
			barrier_all();
		do_self_trunc(o);
		break;
	case OP_STALL: do_stall(o); break;
	case OP_PEER_CLOSE:
		barrier_one(o->slot2);
		if (helper_call(o->slot2, M_CLOSE, 0, 0, 0, &rep) < 0)
			tlog("   receiver hung\n");
		tlog("   -> %s\n", rep.result ? "closed" : "was closed");
		break;
	case OP_SIGPIPE: do_sigpipe(o); break;
	case OP_FORK:
	case OP_THREAD: break;  /* run_ops(): another process or thread makes the next op */
	case OP_CLOSE_RANGE: {
		unsigned a = (unsigned)slot_fd[o->slot], b = (unsigned)slot_fd[o->slot2];
		if (a > b)
			a ^= b, b ^= a, a ^= b;
		if (b >= HIGH_FD)
			b = HIGH_FD - 1;  /* never the tester's own fds */
		errno = ERRNO_SENTINEL;
		r = close_range(a, b, o->how ? CLOSE_RANGE_CLOEXEC : 0);
		e = errno;
		if (r == 0 && !o->how)
			for (unsigned f = a; f <= b; f++)
				set_obj((int)f, -1);
		tlog("   close_range(%u, %u) -> %d errno=%d\n", a, b, r, e);
		break;
	}
	case OP_SHUTDOWN:
		errno = ERRNO_SENTINEL;
		r = shutdown(fd, o->how);
		tlog("   -> %d errno=%d\n", r, errno);
		break;
	case OP_NONBLOCK: {
		int fl = fcntl(fd, F_GETFL);
		errno = ERRNO_SENTINEL;
		r = fl < 0 ? -1 : fcntl(fd, F_SETFL, o->how ? fl | O_NONBLOCK : fl & ~O_NONBLOCK);
		tlog("   -> %d errno=%d\n", r, errno);
		break;
	}
	case OP_MEM:
		errno = ERRNO_SENTINEL;
		if (o->how == 3) {
			r = madvise(mbuf, BUF_SIZE, MADV_DONTNEED);  /* zero pages, as after free + malloc */
		} else {
			int prot = o->how == 0 ? PROT_NONE : o->how == 1 ? PROT_READ : PROT_READ | PROT_WRITE;
			r = mprotect(mbuf, BUF_SIZE, prot);
			if (r == 0)
				mbuf_readable = o->how;
		}
		tlog("   -> %d errno=%d\n", r, errno);
		break;
	}
	state();
}

static void *thread_op(void *arg)
{
	exec_op((int)(intptr_t)arg);
	return NULL;
}

static void run_ops(void)
{
	for (int k = 0; k < nsel; k++) {
		int i = selected[k];
		if (ops[i].kind != OP_FORK && ops[i].kind != OP_THREAD) {
			exec_op(i);
			continue;
		}
		int next = k + 1 < nsel ? selected[k + 1] : -1;
		if (ops[i].kind == OP_THREAD) {
			tlog("#%d thread: a new thread makes #%d\n", i, next);
			pthread_t t;
			int err = next >= 0 ? pthread_create(&t, NULL, thread_op, (void *)(intptr_t)next) : 0;
			if (err)
				tlog("   pthread_create failed %d\n", err);
			else if (next >= 0)
				pthread_join(t, NULL);
			tlog("   joined\n");
			state();
			k++;
			continue;
		}
		tlog("#%d fork: the child makes #%d\n", i, next);
		pid_t pid = fork();
		if (pid < 0) {
			tlog("   fork failed errno=%d\n", errno);
			continue;
		}
		if (pid == 0) {
			in_child = 1;
			if (next >= 0)
				exec_op(next);
			_exit(0);
		}
		int st = 0;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(st))
			tlog("   child killed by signal %d\n", WTERMSIG(st));
		else
			tlog("   child exit %d\n", WEXITSTATUS(st));
		state();
		k++;
	}
}

/* Closes every fd from 3 up except those listed (and TFD when keep_tfd). */
static void keep_only(const int *keep, int n, int keep_tfd)
{
	char want[MAX_FD] = { 0 };
	for (int i = 0; i < n; i++)
		if (keep[i] >= 0 && keep[i] < MAX_FD)
			want[keep[i]] = 1;
	if (keep_tfd)
		want[TFD] = 1;
	int lo = 3;
	for (int fd = 3; fd <= MAX_FD; fd++) {
		if (fd == MAX_FD || want[fd]) {
			if (fd > lo)
				close_range((unsigned)lo, (unsigned)(fd == MAX_FD ? ~0U : (unsigned)fd - 1), 0);
			lo = fd + 1;
		}
	}
}

static void runner(const int *wfd, const int *hcmd_w, const int *hack_r, int go)
{
	int keep[NSLOT + 2 * NHELPER + 1], n = 0;
	keep[n++] = go;
	for (int i = 0; i < NSLOT; i++)
		keep[n++] = wfd[i];
	for (int h = 0; h < NHELPER; h++) {
		keep[n++] = hcmd_w[h];
		keep[n++] = hack_r[h];
	}
	keep_only(keep, n, 1);
	memcpy(cmd_w, hcmd_w, sizeof cmd_w);
	memcpy(ack_r, hack_r, sizeof ack_r);
	/* Start once the supervisor and every helper hold only their own fds. */
	char c;
	while (read(go, &c, 1) < 0 && errno == EINTR)
		;
	close(go);
	for (int h = 0; h < NHELPER; h++) {
		struct reply ready;
		if (read(ack_r[h], &ready, sizeof ready) != (ssize_t)sizeof ready)
			die("helper start");
	}
	memset(obj_of, -1, sizeof obj_of);
	/* The op fds take the lowest numbers, in slot order; the copies above
	 * HIGH_FD stay for the barrier's ioctls and are never used by an op. */
	for (int i = 0; i < NSLOT; i++) {
		hidden[i] = wfd[i];
		slot_fd[i] = dup(wfd[i]);
		set_obj(slot_fd[i], i);
	}
	signal(SIGPIPE, SIG_DFL);
	sigset_t alrm_only;  /* SIGALRM: only around do_stall's call */
	sigemptyset(&alrm_only);
	sigaddset(&alrm_only, SIGALRM);
	sigprocmask(SIG_SETMASK, &alrm_only, NULL);
	for (int b = 0; b < NBUF; b++)
		fill_random(bufs[b], BUF_SIZE, 0xb0f + (uint64_t)b);
	mbuf = mmap(NULL, BUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mbuf == MAP_FAILED)
		die("mmap");
	mbuf_readable = 2;
	fill_random(mbuf, BUF_SIZE, 0xb0f + NBUF);
	for (size_t k = 0; k < HDR_SIZE; k++)
		hdr[k] = (char)('A' + k % 26);
	tlog("start\n");
	state();
	run_ops();
	uint64_t h = 0xcbf29ce484222325ULL;
	for (int b = 0; b < NBUF; b++)
		h = hash_bytes(h, bufs[b], BUF_SIZE);
	if (mbuf_readable)
		h = hash_bytes(h, mbuf, BUF_SIZE);
	tlog("end: buffers %016llx\n   open fds below %d:", (unsigned long long)h, HIGH_FD);
	for (int fd = 0; fd < HIGH_FD; fd++)
		if (fcntl(fd, F_GETFD) >= 0)
			tlog(" %d", fd);
	tlog("\n");
	exit(0);
}

/* ---- helpers: receivers, feeders, the mutator ------------------------------ */

/* What a receiver reads: a byte stream, datagrams, or the packets of a
 * pipe2(O_DIRECT) pipe.  Message and packet boundaries are part of what
 * the peer sees, so they are recorded (a length before each). */
enum { K_STREAM, K_DGRAM, K_PACKET };

/* One read from a destination's far end into out; 0 at EOF or error. */
static int take(int data, int out, char *buf, int kind, size_t max, int flags)
{
	if (kind != K_STREAM)
		max = RBUF;  /* a shorter read would cut the message */
	ssize_t r = recv(data, buf, max, flags);
	if (r < 0 && errno == ENOTSOCK)
		r = read(data, buf, max);  /* a pipe */
	if (r < 0)
		return errno == EINTR || errno == EAGAIN;
	if (r == 0 && kind != K_DGRAM)
		return 0;
	if (kind != K_STREAM) {
		uint32_t len = (uint32_t)r;
		write_all(out, &len, sizeof len);
	}
	write_all(out, buf, (size_t)r);
	return 1;
}

/* Reads everything that is already queued. */
static void drain(int data, int out, char *buf, int kind)
{
	for (;;) {
		if (kind == K_DGRAM) {
			ssize_t r = recv(data, buf, RBUF, MSG_DONTWAIT);
			if (r < 0)
				return;
			uint32_t len = (uint32_t)r;
			write_all(out, &len, sizeof len);
			write_all(out, buf, (size_t)r);
			continue;
		}
		int q = 0;
		if (ioctl(data, FIONREAD, &q) < 0 || q <= 0)
			return;
		if (!take(data, out, buf, kind, RBUF, 0))
			return;
	}
}

static void receiver(int h, int data, int cmd, int ack, int slow)
{
	char name[64];
	snprintf(name, sizeof name, "recv.%s", helper_name[h]);
	int out = open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char *buf = malloc(RBUF);
	if (out < 0 || !buf)
		_exit(4);
	int kind = h == H_DGRAM ? K_DGRAM : h == H_PIPE && world.packet ? K_PACKET : K_STREAM;
	int data_open = 1, cmd_open = 1, stalled = 0, self_resumed = 0, timeout;
	struct timespec stall_t0;
	while (data_open || cmd_open) {
		struct pollfd p[2];
		int n = 0, di = -1, ci = -1;
		/* Stalled (M_STALL): read nothing, but never for ever. */
		timeout = -1;
		if (stalled && ms_since(&stall_t0) >= STALL_LIMIT_MS)
			stalled = 0, self_resumed = 1;
		if (stalled)
			timeout = STALL_LIMIT_MS - (int)ms_since(&stall_t0);
		if (data_open && !stalled)
			di = n, p[n++] = (struct pollfd){ data, POLLIN, 0 };
		if (cmd_open)
			ci = n, p[n++] = (struct pollfd){ cmd, POLLIN, 0 };
		int pr = poll(p, (nfds_t)n, timeout);
		if (pr == 0)
			continue;
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (ci >= 0 && p[ci].revents) {
			struct msg m;
			if (read(cmd, &m, sizeof m) != (ssize_t)sizeof m) {
				/* The runner is gone.  A datagram socket has no EOF:
				 * everything sent is queued already. */
				cmd_open = 0;
				stalled = 0;
				if (kind == K_DGRAM && data_open) {
					drain(data, out, buf, K_DGRAM);
					close(data);
					data_open = 0;
				}
				continue;
			}
			struct reply rep = { data_open, 0, 0 };
			if (data_open)
				drain(data, out, buf, kind);
			if (m.type == M_STALL && data_open) {
				stalled = 1;
				clock_gettime(CLOCK_MONOTONIC, &stall_t0);
			}
			if (m.type == M_RESUME) {
				rep.n = self_resumed;
				stalled = self_resumed = 0;
			}
			if (m.type == M_CLOSE && data_open) {
				if (h == H_TCP) {
					struct linger l = { 1, 0 };  /* a reset, now: no race */
					setsockopt(data, SOL_SOCKET, SO_LINGER, &l, sizeof l);
				}
				close(data);
				data_open = 0;
			}
			write_all(ack, &rep, sizeof rep);
			continue;
		}
		if (di >= 0 && p[di].revents) {
			if (!take(data, out, buf, kind, slow ? 16384 : RBUF, 0)) {
				close(data);
				data_open = 0;
			}
			if (slow)
				usleep(100);  /* slowly but surely: bytes stay in flight a while */
		}
	}
	close(out);
	_exit(0);
}

static void feeder(int h, int data, int cmd, int ack, uint64_t seed)
{
	uint64_t s = seed ^ (0x51ed2701ULL * (uint64_t)(h + 1));
	char *buf = malloc(FEED_CAP_PIPE);
	signal(SIGPIPE, SIG_IGN);
	struct msg m;
	while (buf && read(cmd, &m, sizeof m) == (ssize_t)sizeof m) {
		size_t n = (size_t)m.a;
		for (size_t k = 0; k < n; k += 8) {
			uint64_t v = mix64(&s);
			memcpy(buf + k, &v, n - k < 8 ? n - k : 8);
		}
		write_all(data, buf, n);
		struct reply rep = { (int)n, 0, 0 };
		write_all(ack, &rep, sizeof rep);
	}
	_exit(0);
}

static void mutator(int cmd, int ack)
{
	struct msg m;
	char mpat[PAT_SIZE];
	for (size_t k = 0; k < PAT_SIZE; k++)
		mpat[k] = (char)~(k * 31 + 5);
	while (read(cmd, &m, sizeof m) == (ssize_t)sizeof m) {
		char path[64];
		snprintf(path, sizeof path, "src%d", m.file);
		struct reply rep = { 0, 0, 0 };
		if (m.type == M_KILL) {
			struct timespec d = { m.b / 1000, (m.b % 1000) * 1000000 };
			while (nanosleep(&d, &d) < 0 && errno == EINTR)
				;
			rep.result = kill((pid_t)m.a, SIGALRM);
		} else if (m.type == M_TRUNC) {
			rep.result = truncate(path, (off_t)m.a);
		} else {
			int fd = open(path, O_WRONLY);
			rep.result = fd < 0 ? -1 : (int)pwrite(fd, mpat, (size_t)m.b, (off_t)m.a);
			if (fd >= 0)
				close(fd);
		}
		rep.err = rep.result < 0 ? errno : 0;
		write_all(ack, &rep, sizeof rep);
	}
	_exit(0);
}

/* ---- the supervisor ------------------------------------------------------- */

static int high(int fd, const char *what)
{
	if (fd < 0)
		die(what);
	int h = fcntl(fd, F_DUPFD, HIGH_FD);
	if (h < 0)
		die("F_DUPFD");
	close(fd);
	return h;
}

static void set_flag(int fd, int flag)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | flag) < 0)
		die("F_SETFL");
}

static void make_file(const char *path, size_t size, uint64_t seed)
{
	char *p = malloc(size ? size : 1);
	if (!p)
		die("malloc");
	fill_random(p, size, seed);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		die(path);
	write_all(fd, p, size);
	close(fd);
	free(p);
}

static void tcp_pair(int small, int *client, int *server)
{
	struct sockaddr_in a;
	socklen_t len = sizeof a;
	memset(&a, 0, sizeof a);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof a) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0)
		die("tcp listen");
	int c = socket(AF_INET, SOCK_STREAM, 0);
	int sz = 4096;
	if (c < 0 || (small && setsockopt(c, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz) < 0))
		die("tcp socket");
	if (connect(c, (struct sockaddr *)&a, sizeof a) < 0)
		die("tcp connect");
	int s = accept(l, NULL, NULL);
	if (s < 0)
		die("accept");
	close(l);
	*client = c;
	*server = s;
}

/* SIGCHLD is blocked in the supervisor: it wakes this wait at once. */
static int wait_child(pid_t pid, int ms_limit, int *st)
{
	struct timespec t0, now;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		pid_t r = waitpid(pid, st, WNOHANG);
		if (r == pid)
			return 0;
		if (r < 0 && errno != EINTR)
			return -1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		long ms = (now.tv_sec - t0.tv_sec) * 1000 + (now.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms > ms_limit) {
			kill(pid, SIGKILL);
			waitpid(pid, st, 0);
			return 1;
		}
		struct timespec tick = { 0, 50 * 1000000 };
		sigtimedwait(&chld, NULL, &tick);
	}
}

static void report_file(const char *label, const char *path)
{
	int fd = open(path, O_RDONLY);
	if (fd < 0) {
		tlog("%s: missing\n", label);
		return;
	}
	static char buf[RBUF];
	uint64_t h = 0xcbf29ce484222325ULL;
	size_t total = 0;
	ssize_t r;
	while ((r = read(fd, buf, sizeof buf)) > 0) {
		h = hash_bytes(h, buf, (size_t)r);
		total += (size_t)r;
	}
	close(fd);
	tlog("%s: %zu bytes %016llx\n", label, total, (unsigned long long)h);
}

static void supervise(uint64_t seed, const char *out)
{
	/* The transcript goes through a pipe to a writer child, so that no
	 * RLIMIT_FSIZE of the runner's applies to it.  Lines are written whole
	 * (< PIPE_BUF): the runner's and its fork children's never interleave. */
	int tfd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), tp[2];
	if (tfd < 0 || pipe(tp) < 0)
		die("transcript");
	pid_t wpid = fork();
	if (wpid < 0)
		die("fork");
	if (wpid == 0) {
		int keep[2] = { tp[0], tfd };
		keep_only(keep, 2, 0);
		char buf[65536];
		ssize_t r;
		while ((r = read(tp[0], buf, sizeof buf)) > 0 || (r < 0 && errno == EINTR))
			if (r > 0)
				write_all(tfd, buf, (size_t)r);
		_exit(0);
	}
	close(tp[0]);
	close(tfd);
	if (dup2(tp[1], TFD) < 0)
		die("transcript");
	close(tp[1]);

	char path[4096];
	for (int i = 0; i < SRC_FILES; i++) {
		snprintf(path, sizeof path, "src%d", i);
		make_file(path, world.src_size[i], seed * 31 + (uint64_t)i);
	}
	snprintf(path, sizeof path, "%s/out.file", dir_out);
	make_file(path, 0, 0);
	snprintf(path, sizeof path, "%s/out.append", dir_out);
	make_file(path, 0, 0);

	int wfd[NSLOT], hdata[NHELPER], hcmd_r[NHELPER], hcmd_w[NHELPER], hack_r[NHELPER], hack_w[NHELPER];
	int p[2], sv[2];
	for (int i = 0; i < SRC_FILES; i++) {
		snprintf(path, sizeof path, "src%d", i);
		wfd[i] = high(open(path, srcfile_null ? O_RDONLY : O_RDWR), path);  /* SW_PWRITE_SAME */
	}
	wfd[S_PROC] = high(open("/proc/kallsyms", O_RDONLY), "/proc/kallsyms");
	wfd[S_PROCSMALL] = high(open("/proc/sys/kernel/ostype", O_RDONLY), "ostype");
	wfd[S_SYS] = high(open("/sys/devices/system/cpu/possible", O_RDONLY), "sysfs");
	if (pipe(p) < 0)
		die("pipe");
	fcntl(p[1], F_SETPIPE_SZ, 1 << 20);
	wfd[S_PIPE] = high(p[0], "pipe");
	hdata[H_FEED_PIPE] = high(p[1], "pipe");
	set_flag(wfd[S_PIPE], O_NONBLOCK);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	wfd[S_SOCK] = high(sv[0], "socketpair");
	hdata[H_FEED_SOCK] = high(sv[1], "socketpair");
	set_flag(wfd[S_SOCK], O_NONBLOCK);

	int c, s, sz = 4096;
	tcp_pair(world.small[D_TCP], &c, &s);
	wfd[D_TCP] = high(c, "tcp");
	hdata[H_TCP] = high(s, "tcp");
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
		die("socketpair");
	if (world.small[D_UNIX])
		setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
	wfd[D_UNIX] = high(sv[0], "unix");
	hdata[H_UNIX] = high(sv[1], "unix");
	if (socketpair(AF_UNIX, SOCK_DGRAM, 0, sv) < 0)
		die("socketpair");
	wfd[D_DGRAM] = high(sv[0], "dgram");
	hdata[H_DGRAM] = high(sv[1], "dgram");
	if (pipe2(p, world.packet ? O_DIRECT : 0) < 0)
		die("pipe");
	if (world.small[D_PIPE])
		fcntl(p[1], F_SETPIPE_SZ, 4096);
	wfd[D_PIPE] = high(p[1], "pipe");
	hdata[H_PIPE] = high(p[0], "pipe");
	for (int d = D_TCP; d <= D_PIPE; d++)
		if (world.nonblock[d])
			set_flag(wfd[d], O_NONBLOCK);
	snprintf(path, sizeof path, "%s/out.file", dir_out);
	int dflags = ro_outfile ? O_WRONLY : O_RDWR, dfd = -1;
	if (world.direct)
		dfd = open(path, dflags | O_DIRECT);  /* EINVAL where the filesystem has no O_DIRECT */
	wfd[D_FILE] = high(dfd >= 0 ? dfd : open(path, dflags), path);
	snprintf(path, sizeof path, "%s/out.append", dir_out);
	wfd[D_APPEND] = high(open(path, O_WRONLY | O_APPEND), path);
	wfd[D_NULL] = high(open("/dev/null", O_RDWR), "/dev/null");
	wfd[D_SRCFILE] = high(srcfile_null ? open("/dev/null", O_WRONLY) : open("src0", O_WRONLY), "srcfile");
	hdata[H_MUTATOR] = -1;
	for (int h = 0; h < NHELPER; h++) {
		int cp[2], ap[2];
		if (pipe(cp) < 0 || pipe(ap) < 0)
			die("pipe");
		hcmd_r[h] = high(cp[0], "pipe");
		hcmd_w[h] = high(cp[1], "pipe");
		hack_r[h] = high(ap[0], "pipe");
		hack_w[h] = high(ap[1], "pipe");
	}

	pid_t hpid[NHELPER];
	for (int h = 0; h < NHELPER; h++) {
		hpid[h] = fork();
		if (hpid[h] < 0)
			die("fork");
		if (hpid[h] == 0) {
			int keep[3] = { hdata[h], hcmd_r[h], hack_w[h] };
			keep_only(keep, 3, 0);
			/* Ready only once no other fd is held here: a peer that
			 * closes must really close, with no copy left behind. */
			struct reply ready = { 0, 0, 0 };
			write_all(hack_w[h], &ready, sizeof ready);
			if (h < NRECV)
				receiver(h, hdata[h], hcmd_r[h], hack_w[h], world.slow[recv_slot[h]]);
			else if (h == H_MUTATOR)
				mutator(hcmd_r[h], hack_w[h]);
			else
				feeder(h, hdata[h], hcmd_r[h], hack_w[h], seed);
			_exit(0);
		}
	}
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, NULL);
	int go[2];
	if (pipe(go) < 0)
		die("pipe");
	pid_t rpid = fork();
	if (rpid < 0)
		die("fork");
	if (rpid == 0) {
		close(go[1]);
		runner(wfd, hcmd_w, hack_r, go[0]);
	}
	keep_only(&go[1], 1, 1);
	close(go[1]);  /* the runner's read returns: nothing but the runner holds the world now */

	int st = 0;
	if (wait_child(rpid, 60000, &st) > 0)
		tlog("runner: TIMEOUT\n");
	if (WIFSIGNALED(st))
		tlog("runner: killed by signal %d\n", WTERMSIG(st));
	else
		tlog("runner: exit %d\n", WEXITSTATUS(st));
	for (int h = 0; h < NHELPER; h++) {
		int hs = 0, r = wait_child(hpid[h], 30000, &hs);
		if (r > 0 || !WIFEXITED(hs) || WEXITSTATUS(hs) != 0)
			tlog("helper %s: %s status %d\n", helper_name[h], r > 0 ? "TIMEOUT" : "failed", hs);
	}
	for (int h = 0; h < NRECV; h++) {
		char label[64];
		snprintf(label, sizeof label, "received by %s", helper_name[h]);
		snprintf(path, sizeof path, "recv.%s", helper_name[h]);
		report_file(label, path);
	}
	for (int i = 0; i < SRC_FILES; i++) {
		snprintf(path, sizeof path, "src%d", i);
		report_file(path, path);
	}
	snprintf(path, sizeof path, "%s/out.file", dir_out);
	report_file("out.file", path);
	snprintf(path, sizeof path, "%s/out.append", dir_out);
	report_file("out.append", path);
	close(TFD);
	int ws;
	wait_child(wpid, 30000, &ws);
}

/* ---- main ----------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: difftest --seed S [--trust] [--exclude CLASS,...] [--ops I,J,...]\n"
		"                [--dir DIR] [--outdir DIR] [--out FILE] [--list | --count | --selected]\n"
		"classes: bufchange srcchange selfmod selfsync fork thread peerclose fdreuse unhooked badptr\n"
		"         fsize odirect alarm\n");
	exit(2);
}

int main(int argc, char **argv)
{
	uint64_t seed = 0;
	int have_seed = 0, trust = 0, list = 0, count = 0, show_sel = 0, excl = 0;
	const char *ops_arg = NULL, *dir = NULL, *out = NULL;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--seed") && v)
			seed = strtoull(v, NULL, 0), have_seed = 1, i++;
		else if (!strcmp(a, "--trust"))
			trust = 1;
		else if (!strcmp(a, "--exclude") && v) {
			for (int c = 0; c < NCLASS; c++)
				if (strstr(v, class_name[c]))
					excl |= 1 << c;
			i++;
		} else if (!strcmp(a, "--ops") && v)
			ops_arg = v, i++;
		else if (!strcmp(a, "--dir") && v)
			dir = v, i++;
		else if (!strcmp(a, "--outdir") && v)
			dir_out = v, i++;
		else if (!strcmp(a, "--out") && v)
			out = v, i++;
		else if (!strcmp(a, "--list"))
			list = 1;
		else if (!strcmp(a, "--count"))
			count = 1;
		else if (!strcmp(a, "--selected"))
			show_sel = 1;
		else
			usage();
	}
	if (!have_seed)
		usage();
	if (trust)
		excl |= C_TRUST_UNSAFE;
	ro_outfile = excl & C_SELFMOD;
	srcfile_null = (excl & C_SELFMOD) && (excl & C_SELFSYNC);
	generate(seed);
	if (excl & C_ODIRECT)
		world.packet = world.direct = 0;
	if (count) {
		printf("%d\n", nops);
		return 0;
	}
	char want[MAX_OPS];
	memset(want, !ops_arg, sizeof want);
	for (const char *p = ops_arg; p && *p;) {
		char *end;
		long v = strtol(p, &end, 10);
		if (end == p)
			usage();
		if (v >= 0 && v < MAX_OPS)
			want[v] = 1;
		p = *end == ',' ? end + 1 : end;
	}
	for (int i = 0; i < nops; i++)
		if (want[i] && !(ops[i].cls & excl))
			selected[nsel++] = i;
	if (show_sel) {
		for (int k = 0; k < nsel; k++)
			printf("%s%d", k ? "," : "", selected[k]);
		printf("\n");
		return 0;
	}
	if (list) {
		printf("world: sizes %zu %zu %zu %zu;", world.src_size[0], world.src_size[1], world.src_size[2],
		       world.src_size[3]);
		for (int d = D_TCP; d <= D_PIPE; d++)
			printf(" %s%s%s%s%s", slot_name[d], world.nonblock[d] ? ",nonblock" : "",
			       world.small[d] ? ",small" : "", world.slow[d] ? ",slow" : "",
			       d == D_PIPE && world.packet ? ",packets" : "");
		if (world.direct)
			printf(" file,O_DIRECT");
		printf("%s%s\n", ro_outfile ? "; out.file write-only" : "", srcfile_null ? "; srcfile=/dev/null" : "");
		for (int k = 0; k < nsel; k++) {
			char d[1400];
			describe(d, sizeof d, &ops[selected[k]]);
			printf("#%d %s\n", selected[k], d);
		}
		return 0;
	}
	if (dir && chdir(dir) < 0)
		die(dir);
	supervise(seed, out ? out : "transcript");
	if (!out) {
		int fd = open("transcript", O_RDONLY);
		char buf[65536];
		ssize_t r;
		while (fd >= 0 && (r = read(fd, buf, sizeof buf)) > 0)
			write_all(1, buf, (size_t)r);
	}
	return 0;
}
