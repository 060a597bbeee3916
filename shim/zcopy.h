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
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "common.h"

#define EXPORT __attribute__((visibility("default")))
/* initial-exec: no allocation, no lock on first access, safe in handlers. */
#define ZC_TLS __thread __attribute__((tls_model("initial-exec")))
#define ZC_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* ---- symbols.c: real functions and the per-thread guard ---- */
#define HOOK(ret, name, params) extern ret (*real_##name) params;
#include "hooks.def"
#undef HOOK

extern volatile int zc_symbols_ready;
bool zc_resolve_symbols(void);
/* True once every real_<fn> is usable; false only while resolving (a call
 * from inside dlsym, or a signal handler interrupting it): use a raw syscall. */
static inline bool zc_ready(void)
{
    return __builtin_expect(zc_symbols_ready, 1) || zc_resolve_symbols();
}

/* Non-zero while this thread runs zcopy code: a signal handler that calls a
 * hook then, or our own calls into libc, get the plain call only. */
extern ZC_TLS int zc_depth;

/* ---- settings.c ---- */
enum zc_mode { ZC_MODE_OFF, ZC_MODE_SAFE, ZC_MODE_TRUST };
struct zc_settings {
    enum zc_mode mode;
    size_t min_bytes;
    char stats_dest[256];  /* "" = no summary, "-" = stderr, else a path */
};
extern struct zc_settings zc_cfg;
extern volatile int zc_settings_loaded;
void zc_settings_load(void);
const char *zc_mode_name(enum zc_mode mode);
/* Accelerate only after the constructor read the settings and mode != off. */
static inline bool zc_active(void)
{
    return zc_settings_loaded && zc_cfg.mode != ZC_MODE_OFF;
}

/* ---- stats.c: lock-free counters and the exit summary ---- */
enum zc_method { ZC_SENDFILE, ZC_SPLICE, ZC_COPY_FILE_RANGE, ZC_PLAIN, ZC_PROGRAM_FAST, ZC_METHODS };
#define ZC_SKIP_REASONS(X)                                                              \
    X(BELOW_MIN_BYTES, "below_min_bytes")     /* smaller than ZCOPY_MIN_BYTES */          \
    X(NOT_FROM_FILE, "not_from_file")         /* bytes not from a remembered read */      \
    X(DEST_NOT_STREAM, "dest_not_stream")     /* datagram or seqpacket socket */          \
    X(DEST_APPEND, "dest_append")             /* O_APPEND file */                          \
    X(DEST_CHAR_DEVICE, "dest_char_device")   /* tty, /dev/null, ... */                   \
    X(DEST_OTHER, "dest_other")               /* bad fd, read-only, other kinds */         \
    X(PIPE_ATOMIC, "pipe_atomic_write")       /* <= PIPE_BUF to a pipe must stay atomic */ \
    X(CALL_FLAGS, "call_flags")               /* send flags, an address, control data */  \
    X(SOURCE_GONE, "source_fd_changed")       /* closed, reused or dup2'd over */         \
    X(SOURCE_SYNTHETIC, "source_synthetic_fs") /* procfs, sysfs, ... */                   \
    X(BYTES_CHANGED, "bytes_changed")         /* buffer differs from the file */         \
    X(PROOF_UNAVAILABLE, "proof_unavailable") /* could not map the file safely */        \
    X(TOO_COMPLEX, "too_many_pieces")         /* more iovecs or pieces than handled */    \
    X(FAST_CALL_FAILED, "fast_call_fallback") /* EINVAL, EXDEV, ... or a short source */

enum zc_skip {
    ZC_SKIP_NONE = 0,
#define X(id, name) ZC_SKIP_##id,
    ZC_SKIP_REASONS(X)
#undef X
    ZC_SKIP_COUNT
};
void zc_stats_add(enum zc_method method, ssize_t bytes);
void zc_stats_skip(enum zc_skip reason);
void zc_stats_reset(void);
void zc_stats_report(void);

/* ---- fdclass.c: what an fd is, checked at the moment of use ---- */
enum zc_dest_kind { ZC_DEST_SOCKET, ZC_DEST_PIPE, ZC_DEST_FILE };
struct zc_dest {
    enum zc_dest_kind kind;
    bool inet;  /* TCP: worth MSG_MORE between a plain piece and a file piece */
};
enum zc_skip zc_classify_dest(int fd, struct zc_dest *dest);
/* A source fd still names the remembered file, on a real filesystem. */
enum zc_skip zc_check_source(int fd, dev_t dev, ino_t ino, struct stat *st);
/* Worth remembering a read from: a non-empty regular file. */
bool zc_is_trackable_file(int fd, struct stat *st);

/* ---- track.c: recent reads from files, matched by address ---- */
struct zc_hit {
    int fd;          /* -1: not from a remembered read */
    dev_t dev;
    ino_t ino;
    off_t file_off;  /* file offset of the first byte asked for */
    size_t len;      /* how many of the asked bytes this read covers */
};
void zc_track_read(const void *buf, size_t len, int fd, const struct stat *st, off_t file_off);
void zc_track_forget_range(const void *buf, size_t len);
void zc_track_forget_fd(int fd);
void zc_track_forget_fds(unsigned first, unsigned last);
void zc_track_lookup(const char *p, size_t n, struct zc_hit *hit);
void zc_note_read(int fd, const void *buf, ssize_t got, off_t file_off);
void zc_note_readv(int fd, const struct iovec *iov, int iovcnt, ssize_t got, off_t file_off);
void zc_note_overwrite(const void *buf, ssize_t got);

/* ---- proof.c: the buffer still holds the file's bytes ---- */
enum zc_skip zc_prove_unchanged(int fd, const struct stat *st, off_t off, const void *buf, size_t n);
void zc_proof_forget_file(int fd);
void zc_proof_init(void);

/* ---- rewrite.c: deciding and doing a rewrite ---- */
enum zc_sink { ZC_SINK_WRITE, ZC_SINK_SEND };
/* Returns true when it handled the call and stored its result in *result;
 * false means: do the plain call.  dst_off is non-NULL for pwrite. */
bool zc_rewrite(int fd, const struct iovec *iov, int iovcnt, const off_t *dst_off,
                enum zc_sink sink, int flags, ssize_t *result);

/* ---- transfer.c: one in-kernel transfer with its fallbacks ---- */
struct zc_piece {
    const char *ptr;  /* the program's bytes: always the truth */
    size_t len;
    int src_fd;       /* -1 for a piece sent with the plain call */
    off_t src_off;
    dev_t dev;        /* the file src_fd named when it was read */
    ino_t ino;
};
ssize_t zc_transfer(int fd, const struct zc_dest *dest, const struct zc_piece *pieces, int npieces,
                    const off_t *dst_off, int send_flags);

#endif
