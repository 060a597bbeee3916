/* Internal interfaces between the files of libzcopy.so.  Nothing here is
 * exported: the library is built with -fvisibility=hidden and only the
 * hooks carry EXPORT. */
#ifndef ZCOPY_ZCOPY_H
#define ZCOPY_ZCOPY_H

#define _GNU_SOURCE
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <stdio.h>
/* glibc defines these as macros when optimizing; we need the functions. */
#undef fread_unlocked
#undef fwrite_unlocked

#include "common.h"

#define EXPORT __attribute__((visibility("default")))
/* initial-exec: no allocation, no lock on first access, safe in handlers. */
#define ZC_TLS __thread __attribute__((tls_model("initial-exec")))
#define ZC_UNLIKELY(x) __builtin_expect(!!(x), 0)
/* The path of a write too small to rewrite, which every program pays on
 * every such write (make bench's W5): its code in one page (.text.hot, where
 * the linker puts it together) and the data it reads in another (hot.c).
 * This VM kind's syscalls flush the TLB (PTI, no PCID), so each further
 * page the hook touches costs a page walk on every call: about 5 ns, as
 * much as all the rest of the hook's instructions. */
#define ZC_HOT __attribute__((section(".text.hot.zcopy")))

/* ---- symbols.c: real functions and the per-thread guard ---- */
#define HOOK(ret, name, params) extern ret (*real_##name) params;
#include "hooks.def"
#undef HOOK

/* zc_symbols_state: READY, MISSING (a mandatory symbol: zcopy stays off),
 * 0 (not resolved yet) or the pid of a process resolving. */
#define ZC_SYMBOLS_READY (-1)
#define ZC_SYMBOLS_MISSING (-2)
extern int zc_symbols_state;
bool zc_resolve_symbols(void);
/* True once every real_<fn> is usable.  False while resolving (a call from
 * inside dlsym, from a signal handler interrupting it, or from another
 * thread meanwhile) and for ever if a mandatory symbol is missing: use a raw
 * syscall.  Acquire: pairs with the release that publishes the pointers. */
static inline bool zc_ready(void)
{
    return __builtin_expect(__atomic_load_n(&zc_symbols_state, __ATOMIC_ACQUIRE) == ZC_SYMBOLS_READY, 1) ||
           zc_resolve_symbols();
}

/* Non-zero while this thread runs zcopy code: a signal handler that calls a
 * hook then, or our own calls into libc, get the plain call only. */
extern ZC_TLS int zc_depth;

/* ---- hot.c: the one page a write too small to rewrite reads ---- */
struct zc_hot_values {
    size_t small_limit;  /* zc_small_write_limit() */
    ssize_t (*write)(int fd, const void *buf, size_t n);
    ssize_t (*sendto)(int fd, const void *buf, size_t n, int flags, const struct sockaddr *addr, socklen_t addrlen);
    const int *in_flight;           /* inflight.c: non-zero while it has entries */
    const char *single_threaded;    /* glibc's __libc_single_threaded */
    bool counting;                  /* zc_stats_counting() */
};
struct zc_hot {
    int ready;  /* 0 before the constructor ends, and in a forked child until its first write */
    struct zc_hot_values v;
    uint64_t small_calls, small_bytes;  /* live.c: small writes not in a stripe yet */
} __attribute__((aligned(4096)));
extern struct zc_hot zc_hot;
/* Adds in one instruction, which a signal handler cannot split: a handler
 * that counts or moves the pending counts meanwhile loses nothing. */
static inline void zc_hot_add(uint64_t *counter, uint64_t by)
{
#if defined(__x86_64__)
    __asm__ volatile("addq %1, %0" : "+m"(*counter) : "er"(by));
#else
    __atomic_add_fetch(counter, by, __ATOMIC_RELAXED);
#endif
}
void zc_hot_init(void);    /* the constructor's last step */
/* Counts a small write on the page, before it is made (io_hooks.c says
 * why); false where live.c must count it instead: the process has more
 * than one thread, or enough are pending to move (then the caller takes
 * the general path, which counts it there).  Inline and without a call, so
 * that the hook saves no register. */
#define ZC_HOT_BATCH 64
static inline bool zc_hot_count_small(size_t asked)
{
    if (ZC_UNLIKELY(!*zc_hot.v.single_threaded) ||
        ZC_UNLIKELY(__atomic_load_n(&zc_hot.small_calls, __ATOMIC_RELAXED) >= ZC_HOT_BATCH))
        return false;
    if (zc_hot.v.counting) {
        zc_hot_add(&zc_hot.small_calls, 1);
        zc_hot_add(&zc_hot.small_bytes, asked);
    }
    return true;
}
void zc_hot_refill(void);  /* the general path of a write: a forked child's first */

/* ---- settings.c ---- */
/* In the order of zc_mode_words and zc_log_level_words (common.h). */
enum zc_mode { ZC_MODE_OFF, ZC_MODE_SAFE, ZC_MODE_TRUST, ZC_MODE_DIAG };
enum zc_log_level { ZC_LOG_SUMMARY, ZC_LOG_DECISIONS, ZC_LOG_DEBUG };
struct zc_settings {
    enum zc_mode mode;
    size_t min_bytes;
    bool file_to_file_always;  /* copy_file_range also where it copies blocks */
    char stats_dest[256];  /* "" = no summary, "-" = stderr, else a path */
    bool stats_live;       /* counters in a file `zcopy stats` reads (live.c) */
    char log_dest[256];    /* "" = no decision log, "-" = stderr, else a path */
    bool log_json;
    enum zc_log_level log_level;
    int backtrace_depth;   /* frames kept per call site; 0 = caller only */
    bool calibrate;        /* measure per site whether rewriting pays (calibrate.c) */
    uint32_t calibrate_fast_ns, calibrate_plain_ns;  /* fixed costs per KiB (tests) */
    uint32_t calibrate_fast_later_ns;                 /* the fast call's, once chosen */
};
extern struct zc_settings zc_cfg;
extern int zc_settings_loaded;  /* with acquire: zc_settings_ready() */
void zc_settings_load(void);
const char *zc_mode_name(enum zc_mode mode);
const char *zc_printable(const char *s, char *out, size_t size);
/* Acquire: pairs with the release after zc_cfg is filled in (a thread that
 * a library's constructor started may call hooks meanwhile). */
static inline bool zc_settings_ready(void)
{
    return __atomic_load_n(&zc_settings_loaded, __ATOMIC_ACQUIRE);
}
/* Watch calls only after the constructor read the settings and mode != off
 * (diag watches and decides, but never changes a call). */
static inline bool zc_active(void)
{
    return zc_settings_ready() && zc_cfg.mode != ZC_MODE_OFF;
}

/* ---- stats.c: lock-free counters and the exit summary ---- */
enum zc_method { ZC_SENDFILE, ZC_SPLICE, ZC_COPY_FILE_RANGE, ZC_PLAIN, ZC_PROGRAM_FAST, ZC_METHODS };
/* Why a write stayed plain: one line each in skip_reasons.def. */
enum zc_skip {
    ZC_SKIP_NONE = 0,
#define SKIP(id, name, sentence, action) ZC_SKIP_##id,
#include "skip_reasons.def"
#undef SKIP
    ZC_SKIP_COUNT
};
/* names.c: what the summary and the log print for each */
const char *zc_method_label(enum zc_method method);  /* the summary's */
const char *zc_method_name(enum zc_method method);   /* the log's: "none" for plain */
const char *zc_skip_name(enum zc_skip reason);
const char *zc_skip_text(enum zc_skip reason);
void zc_stats_add(enum zc_method method, ssize_t bytes);
void zc_stats_skip(enum zc_skip reason);
/* A write below ZCOPY_MIN_BYTES made plain: skip and plain counts at once. */
void zc_stats_small_write(size_t asked);  /* before the plain call: io_hooks.c */
void zc_stats_flush_small(void);         /* the small writes still pending, into the live file */
void zc_stats_reset(void);
struct zc_verdict;  /* calibrate.c: what it measured per site */
void zc_stats_report(const struct zc_verdict *verdicts, int nverdicts);

/* ---- live.c: the counters, in a file `zcopy stats` reads while the
 * process runs (zc_stats_add and zc_stats_skip count there) ---- */
#include "live_file.h"
void zc_live_init(void);
void zc_live_forked(void);
void zc_live_finish(void);
void zc_live_sum(struct zc_live_counts *sum);
bool zc_stats_counting(void);  /* a summary or a live file wants counts */
bool zc_stats_settled(void);   /* and this process's counts go where they stay */
/* Calibration's verdict for a call site and size class, for zcopy stats. */
void zc_stats_verdict(const void *site, size_t bytes, enum zc_method method, uint32_t fast_ns_per_kib,
                      uint32_t plain_ns_per_kib, bool fast_chosen);

/* ---- output.c: the summary's and the log's files, and stderr ---- */
struct zc_output {
    dev_t dev;  /* the file an fd was opened on */
    ino_t ino;
};
/* DEST: "-" for stderr (as the program had it at start), else a path in
 * which %p becomes the pid.  Returns the fd, or -1 with errno set. */
int zc_output_open(const char *dest, struct zc_output *out);
bool zc_output_still_open(int fd, const struct zc_output *out);
void zc_output_path(const char *dest, char *path, size_t size);
void zc_output_keep_stderr(void);  /* in the constructor, before the program runs */
int zc_output_stderr(void);  /* for messages: the stderr the program had at start */
void zc_output_forked(void);

/* ---- callsite.c: where a hook was called from ---- */
#define ZC_MAX_FRAMES 16
struct line;  /* logline.h */
struct zc_callsite {
    const void *site;       /* return address in the caller of the hook */
    int nframes;
    uintptr_t frames[ZC_MAX_FRAMES];
    char name[64];          /* the site's function, from the symbol table */
    uintptr_t name_off;
};
void zc_callsite_init(void);  /* constructor: opens libunwind */
void zc_callsite_capture(struct zc_callsite *cs, int depth);
void zc_callsite_put(struct line *l, const struct zc_callsite *cs);
void zc_callsite_put_frames(struct line *l, const struct zc_callsite *cs, const char *between);

/* ---- log.c: the decision log, per call site ---- */
enum zc_action { ZC_ACT_REWRITE, ZC_ACT_WOULD_REWRITE, ZC_ACT_SKIP, ZC_ACT_FALLBACK, ZC_ACTIONS };
struct zc_decision {
    enum zc_action action;
    enum zc_method method;  /* ZC_PLAIN when no fast call applies */
    enum zc_skip reason;
    int dst_fd;
    int src_fd;             /* -1 when no byte came from a file */
    off_t src_off;
    size_t bytes;
    const void *site;       /* return address in the caller of the hook */
};
void zc_log_init(void);
void zc_log_decision(const struct zc_decision *d);
void zc_log_finish(void);
void zc_log_diag_report(int fd);
/* In a fork child: its own counts, and its own file if the path has %p. */
void zc_log_forked(void);
/* The program is about to close or reuse fds [first, last]. */
void zc_log_fd_released(unsigned first, unsigned last);
static inline bool zc_logging(void)
{
    return zc_cfg.log_dest[0] || zc_cfg.mode == ZC_MODE_DIAG;
}
/* symbols.c: zc_small_write_limit's answer, set once by the constructor
 * from the settings; 0 before. */
extern size_t zc_small_limit;
/* Writes shorter than this are plain without a look (rewrite.c's check 1):
 * min_bytes, or every write (SIZE_MAX) while zcopy is off; 0 before the
 * settings are read, or while a log wants to see every write.  One load:
 * each hook instruction is paid on every write (make bench's W5).  Not
 * changed when zcopy turns itself off before a seccomp filter (seccomp.c):
 * the plain call is the same, only its count differs, and nothing reads
 * the counts after that (the live file goes, and no summary is printed). */
static inline size_t zc_small_write_limit(void)
{
    return __atomic_load_n(&zc_small_limit, __ATOMIC_ACQUIRE);
}

/* ---- fdclass.c: what an fd is, checked at the moment of use ---- */
enum zc_dest_kind { ZC_DEST_SOCKET, ZC_DEST_PIPE, ZC_DEST_FILE };
struct zc_dest {
    enum zc_dest_kind kind;
    dev_t dev;   /* the destination's inode */
    ino_t ino;
    int domain;  /* sockets: AF_INET, AF_INET6 or AF_UNIX */
    bool inet;  /* TCP: corked while one call becomes several sends */
    int fl;     /* pipes: the file status flags (O_NONBLOCK) */
    bool clones;  /* files: copy_file_range shares blocks there (reflink) */
    bool known;   /* from fdcache.c, not asked now: fl may be stale */
    unsigned gen; /* fdcache.c's generation of fd, read before the fstat */
};
enum zc_skip zc_classify_dest(int fd, struct zc_dest *dest);
enum zc_skip zc_dest_open_flags(int fd, struct zc_dest *dest);
/* fstat(2) itself, for zcopy's own checks. */
int zc_fstat(int fd, struct stat *st);
/* A source fd still names the remembered file, on a real filesystem. */
enum zc_skip zc_check_source(int fd, dev_t dev, ino_t ino, struct stat *st);
/* Worth remembering a read from: a non-empty regular file. */
bool zc_is_trackable_file(int fd, struct stat *st);
/* The file a read came from, as a write will check it. */
struct zc_source_id {
    dev_t dev;
    ino_t ino;
    int64_t changed_ns;  /* its ctime then; 0: it may change unseen */
};
int64_t zc_change_stamp(const struct stat *st);
/* The regular file a read of GOT bytes came from, and (*file_off < 0: asked
 * with lseek) where it started; false: not a source. */
bool zc_read_source(int fd, off_t *file_off, size_t got, struct zc_source_id *id);

/* ---- fdcache.c: what fds were found to be, until a hook sees a change ---- */
unsigned zc_fd_watch(int fd);
bool zc_fd_unchanged(int fd, unsigned gen);
void zc_fd_changed(unsigned first, unsigned last);
bool zc_source_continues(int fd, off_t start, size_t got, struct zc_source_id *id);
void zc_source_seen(int fd, unsigned gen, const struct zc_source_id *id, off_t end);
bool zc_source_recent(int fd);
bool zc_dest_known(int fd, struct zc_dest *dest);
void zc_dest_seen(int fd, const struct zc_dest *dest);

/* live.c again, here because it takes the enums above: one decision at a
 * call site, for writes that carried file bytes (shown by zcopy stats). */
void zc_stats_site(const void *site, enum zc_action action, enum zc_method method, enum zc_skip reason,
                   size_t bytes);

/* ---- track.c: recent reads from files, matched by address ---- */
enum zc_origin {
    ZC_FROM_READ,                 /* a read: proven in safe mode */
    ZC_FROM_SHARED_MAP,           /* MAP_SHARED: is the page cache itself */
    ZC_FROM_SHARED_MAP_WRITABLE,  /* ...and stores into it change bytes in flight */
    ZC_FROM_PRIVATE_MAP,          /* private, never writable: cannot differ */
    ZC_FROM_PRIVATE_MAP_WRITABLE, /* private and writable: proven in every mode */
};
struct zc_hit {
    enum zc_origin origin;
    int fd;          /* -1: not from a remembered read */
    dev_t dev;
    ino_t ino;
    off_t file_off;  /* file offset of the first byte asked for */
    size_t len;      /* how many of the asked bytes this read covers */
    int64_t changed_ns;  /* reads: the file's ctime then; 0: could change unseen */
};
void zc_note_protect(const void *addr, size_t len, int prot);
void zc_note_mmap(const void *addr, size_t len, int prot, int flags, int fd, off_t off);
bool zc_track_knows_fd(int fd);  /* a remembered read from fd */
bool zc_track_mapped_writable(dev_t dev, ino_t ino);
void zc_track_after_fork(void);
void zc_track_forget_fd(int fd);
void zc_track_forget_fds(unsigned first, unsigned last);
void zc_track_lookup(const char *p, size_t n, struct zc_hit *hit);
bool zc_track_empty(void);  /* no read or mapping remembered */
void zc_note_read(int fd, const void *buf, ssize_t got, off_t file_off);
void zc_note_readv(int fd, const struct iovec *iov, int iovcnt, ssize_t got, off_t file_off);
void zc_note_overwrite(const void *buf, ssize_t got);
size_t zc_track_floor(void);

/* ---- proof.c: the buffer still holds the file's bytes ---- */
enum zc_skip zc_prove_unchanged(int fd, const struct stat *st, off_t off, const void *buf, size_t n);
void zc_proof_forget_file(int fd);
void zc_proof_init(void);
void zc_proof_after_fork(void);

/* ---- seccomp.c: no call of zcopy's may be one a filter kills for ---- */
/* After the settings: under a filter that kills one of zcopy's calls,
 * zcopy stays off, with one line. */
void zc_seccomp_check(void);
/* The program installed a filter of its own: zcopy makes no call of its
 * own from then on, not even at exit. */
bool zc_seccomp_installed(void);

/* ---- shared.c: memory shared with forked children, carved at start ---- */
/* NULL: no mapping, or no room; the caller keeps a private table. */
void *zc_shared_alloc(size_t bytes);

/* ---- calibrate.c: whether a rewrite pays here, measured ---- */
struct zc_calibration {
    void *entry;  /* NULL: this call is not measured */
    bool fast;
    bool watching;  /* a fast call measured after the fast verdict */
    int64_t cpu_ns;
    int refused_why;  /* zc_calibrate_fast false: the enum zc_skip, if not calibrated_plain */
};
void zc_calibrate_init(void);
/* Whether a rewritable write at SITE should take the fast call; *c is
 * set when the call is measured: pass it to zc_calibrate_end after it. */
bool zc_calibrate_fast(const void *site, size_t bytes, int fd, struct zc_calibration *c);
void zc_calibrate_end(struct zc_calibration *c, ssize_t done, enum zc_method method);
/* The destination refused the rewrite, and will refuse the site's next. */
void zc_calibrate_refused(struct zc_calibration *c, const void *site, size_t bytes, int why, int fd, unsigned gen);
/* The verdict's reason for a write whose bytes no resting read holds. */
int zc_calibrate_resting_reason(const void *site, size_t bytes, int fd);
/* A measured plain call, made by the hook after zc_rewrite declined. */
void zc_calibrate_plain_begin(const struct zc_calibration *c);
void zc_calibrate_plain_end(ssize_t done);
bool zc_calibrate_wants_reads(void);
int64_t zc_calibrate_track_begin(void);
void zc_calibrate_track_end(int64_t begun);
struct zc_verdict {
    const void *site;
    size_t bytes;              /* the size class: writes of bytes..2*bytes-1 */
    enum zc_method method;
    uint32_t fast_ns_per_kib, plain_ns_per_kib;
    bool fast_chosen;
};
int zc_calibrate_verdicts(struct zc_verdict *out, int max);

/* ---- rewrite.c: deciding and doing a rewrite ---- */
enum zc_sink { ZC_SINK_WRITE, ZC_SINK_SEND };
/* Returns true when it handled the call and stored its result in *result;
 * false means: do the plain call.  dst_off is non-NULL for pwrite. */
bool zc_rewrite(int fd, const struct iovec *iov, int iovcnt, const off_t *dst_off,
                enum zc_sink sink, int flags, const void *site, ssize_t *result);
/* A write refused before zc_rewrite could judge it: counted and logged if it
 * carried file bytes. */
void zc_refuse(int fd, const void *buf, size_t n, enum zc_skip why, const void *site);
/* Why the last rewritten call of this thread stopped short (EPIPE, EINTR,
 * EAGAIN...), or 0: a short count returns with errno untouched. */
int zc_rewrite_stop_reason(void);

/* ---- sockdiag.c: what a socket still holds, asked of the kernel ---- */
/* A TCP connection by its addresses (family 0: not TCP). */
struct zc_tcp_ends {
    int family;
    uint8_t own_addr[16], peer_addr[16];
    in_port_t own_port, peer_port;
};
void zc_sockdiag_tcp_ends(int fd, struct zc_tcp_ends *ends);
/* Bytes its receiving program has not read; -1: sock_diag does not answer. */
long zc_sockdiag_tcp_unread(const struct zc_tcp_ends *e);
long zc_sockdiag_unix_peer(uint32_t ino);    /* the peer's inode; 0 none; -1 no answer */
long zc_sockdiag_unix_unread(uint32_t ino);  /* its receive queue; 0 also: gone */

/* ---- inflight.c: waiting for sent bytes before the program changes them ---- */
void zc_inflight_init(void);
void zc_inflight_note(dev_t src_dev, ino_t src_ino, int dst_fd, const struct zc_dest *dest);
void zc_inflight_settle_fd(int fd);
void zc_inflight_settle_path(int dirfd, const char *path);
void zc_inflight_fd_changed(unsigned first, unsigned last);
void zc_inflight_fds_closing(unsigned first, unsigned last);  /* before a close or dup2 over them */
bool zc_inflight_may_know_fd(int fd);
const int *zc_inflight_count_word(void);  /* for hot.c */

/* ---- transfer.c: one in-kernel transfer with its fallbacks ---- */
struct zc_piece {
    const char *ptr;  /* the program's bytes: always the truth */
    size_t len;
    int src_fd;       /* -1 for a piece sent with the plain call */
    off_t src_off;
    dev_t dev;        /* the file src_fd named when it was read */
    ino_t ino;
    bool must_prove;  /* compare with the file before sending */
    uint8_t origin;   /* enum zc_origin */
    int64_t changed_ns;  /* reads: the file's ctime when read (zc_hit) */
};
ssize_t zc_transfer(int fd, const struct zc_dest *dest, const struct zc_piece *pieces, int npieces,
                    const off_t *dst_off, int send_flags, bool *fell_back);
enum zc_method zc_method_for(enum zc_dest_kind kind);
/* The errno that stopped the last zc_transfer of this thread early (EPIPE,
 * EINTR...), or 0: a short count returns with errno untouched. */
int zc_transfer_stop_reason(void);

#endif
