/* What an fd is, asked at the moment of use with fstat: fd numbers are
 * reused by closes no preload sees (fclose, SCM_RIGHTS, syscall()), so an
 * answer cached by fd number could describe another file.  What is cached,
 * per thread, is keyed by the inode fstat just returned, and only what can
 * never change for that inode: a socket's type and domain, and the
 * filesystem a file lives on.  That saves three syscalls per rewrite. */
#include "zcopy.h"

#include <fcntl.h>
#include <linux/magic.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* glibc's fstat is fstatat(fd, "", AT_EMPTY_PATH), which the kernel first
 * checks for an empty path: the fstat syscall measured 50 ns (12%) less a
 * call here.  Only where the kernel's struct stat is glibc's: x86_64. */
int zc_fstat(int fd, struct stat *st)
{
#if defined(__x86_64__) && defined(__LP64__) && defined(SYS_fstat)
    return (int)syscall(SYS_fstat, fd, st);
#else
    return fstat(fd, st);
#endif
}

/* Destinations where an in-kernel transfer writes exactly what write()
 * would: a stream socket, a pipe, a regular file without O_APPEND. */
struct known_inode {
    dev_t dev;
    ino_t ino;
    int value;
};
/* Direct-mapped by inode, several per thread: a poll loop serving many
 * connections alternates between their sockets (and files) chunk by chunk,
 * and one entry missed on almost every write. */
#define KNOWN_SOCKETS 16
#define KNOWN_FILES 8
static ZC_TLS struct known_inode stream_sockets_seen[KNOWN_SOCKETS];  /* value: its domain */
static ZC_TLS struct known_inode filesystems_seen[KNOWN_FILES];       /* value: FS_* flags */

static struct known_inode *entry_for(struct known_inode *cache, unsigned entries, const struct stat *st)
{
    return &cache[(st->st_ino ^ st->st_dev) % entries];
}

static bool known(const struct known_inode *k, const struct stat *st)
{
    return k->ino == st->st_ino && k->dev == st->st_dev && k->ino;
}

/* What a file's filesystem is known to do (fs_flags). */
#define FS_REAL 1    /* its page cache holds what read() returned */
#define FS_CLONES 2  /* copy_file_range shares blocks instead of copying them */

/* Filesystems whose page cache holds exactly what read() returned.  An
 * allow-list: procfs, sysfs, debugfs, FUSE and friends generate or may
 * generate content per read, so they stay on the plain path. */
static bool real_filesystem(long type)
{
    switch ((unsigned long)type) {
    case EXT4_SUPER_MAGIC:       /* also ext2, ext3 */
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case TMPFS_MAGIC:
    case RAMFS_MAGIC:
    case OVERLAYFS_SUPER_MAGIC:  /* containers */
    case F2FS_SUPER_MAGIC:
    case 0x2fc12fc1:             /* zfs */
        return true;
    default:
        return false;
    }
}

/* Where copy_file_range within one filesystem shares the blocks (reflink)
 * rather than copying them: elsewhere it copies them as write() would,
 * after the read the program still makes.  xfs has reflink on by default
 * since xfsprogs 5.1 (2019). */
static bool cloning_filesystem(long type)
{
    switch ((unsigned long)type) {
    case XFS_SUPER_MAGIC:
    case BTRFS_SUPER_MAGIC:
    case 0x2fc12fc1:  /* zfs 2.2 and later: block cloning */
        return true;
    default:
        return false;
    }
}

/* FS_* flags for the file fstat described as ST; 0 when fstatfs fails. */
static int fs_flags(int fd, const struct stat *st)
{
    struct known_inode *seen = entry_for(filesystems_seen, KNOWN_FILES, st);
    if (!known(seen, st)) {
        struct statfs sfs;
        if (fstatfs(fd, &sfs) < 0)
            return 0;
        int flags = (real_filesystem(sfs.f_type) ? FS_REAL : 0) | (cloning_filesystem(sfs.f_type) ? FS_CLONES : 0);
        *seen = (struct known_inode){ st->st_dev, st->st_ino, flags };
    }
    return seen->value;
}

/* What fd is, from fstat: a stream socket, fully (its type and domain are
 * cached by inode: they never change); a pipe or a regular file, by kind,
 * with dest->clones for a file.  zc_dest_open_flags must follow for those:
 * between the two, rewrite.c decides whether file to file pays, so that
 * a file it refuses costs no fcntl. */
enum zc_skip zc_classify_dest(int fd, struct zc_dest *dest)
{
    if (zc_dest_known(fd, dest))
        return ZC_SKIP_NONE;  /* trust mode: fd unchanged since it was asked */
    dest->known = false;
    dest->gen = zc_cfg.mode == ZC_MODE_TRUST ? zc_fd_watch(fd) : 0;
    struct stat st;
    if (zc_fstat(fd, &st) < 0)
        return ZC_SKIP_DEST_OTHER;  /* the plain call reports the errno */
    dest->inet = false;
    dest->dev = st.st_dev;
    dest->ino = st.st_ino;
    struct known_inode *seen = entry_for(stream_sockets_seen, KNOWN_SOCKETS, &st);
    if (S_ISSOCK(st.st_mode) && known(seen, &st)) {
        /* A socket's type and domain never change. */
        dest->kind = ZC_DEST_SOCKET;
        dest->domain = seen->value;
        dest->inet = dest->domain != AF_UNIX;
        zc_dest_seen(fd, dest);
        return ZC_SKIP_NONE;
    }
    /* A socket is always open read-write, and never O_DIRECT: no fcntl. */
    if (S_ISSOCK(st.st_mode)) {
        int type = 0, domain = 0;
        socklen_t len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) < 0 || type != SOCK_STREAM)
            return ZC_SKIP_DEST_NOT_STREAM;  /* message boundaries would change */
        len = sizeof domain;
        if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
            return ZC_SKIP_DEST_OTHER;
        if (domain != AF_INET && domain != AF_INET6 && domain != AF_UNIX)
            return ZC_SKIP_DEST_OTHER;      /* vsock, AF_ALG...: not proven equal */
        dest->kind = ZC_DEST_SOCKET;
        dest->domain = domain;
        dest->inet = domain != AF_UNIX;
        *seen = (struct known_inode){ st.st_dev, st.st_ino, domain };
        zc_dest_seen(fd, dest);
        return ZC_SKIP_NONE;
    }
    if (S_ISFIFO(st.st_mode)) {
        dest->kind = ZC_DEST_PIPE;
        return ZC_SKIP_NONE;
    }
    if (S_ISREG(st.st_mode)) {
        dest->kind = ZC_DEST_FILE;
        dest->clones = (fs_flags(fd, &st) & FS_CLONES) != 0;
        return ZC_SKIP_NONE;
    }
    if (S_ISCHR(st.st_mode))
        return ZC_SKIP_DEST_CHAR_DEVICE;
    return ZC_SKIP_DEST_OTHER;
}

/* A pipe's or a file's open flags, after zc_classify_dest. */
enum zc_skip zc_dest_open_flags(int fd, struct zc_dest *dest)
{
    if (dest->kind == ZC_DEST_SOCKET || dest->known)
        return ZC_SKIP_NONE;
    int fl = real_fcntl(fd, F_GETFL);
    if (fl < 0 || (fl & O_ACCMODE) == O_RDONLY)
        return ZC_SKIP_DEST_OTHER;
    /* A packet pipe cuts write() into PIPE_BUF packets, splice does not;
     * an O_DIRECT file rejects unaligned writes that copy_file_range takes. */
    if (fl & O_DIRECT)
        return ZC_SKIP_DEST_DIRECT;
    if (dest->kind == ZC_DEST_FILE && (fl & O_APPEND))
        return ZC_SKIP_DEST_APPEND;  /* sendfile/copy_file_range refuse or misplace */
    dest->fl = fl;
    zc_dest_seen(fd, dest);
    return ZC_SKIP_NONE;
}

bool zc_is_trackable_file(int fd, struct stat *st)
{
    /* st_size 0 with data returned means a synthetic file (procfs). */
    return zc_fstat(fd, st) == 0 && S_ISREG(st->st_mode) && st->st_size > 0;
}

/* The file's change time, as a stamp a later change is sure to alter:
 * 0 when the file changed in this very clock tick, since a coarse
 * timestamp (kernels before 6.13, other filesystems) could then be set to
 * the same value by a change still to come. */
int64_t zc_change_stamp(const struct stat *st)
{
    struct timespec now;
    int64_t changed = st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
    if (clock_gettime(CLOCK_REALTIME_COARSE, &now) < 0 || changed >= now.tv_sec * 1000000000LL + now.tv_nsec)
        return 0;
    return changed;
}

enum zc_skip zc_check_source(int fd, dev_t dev, ino_t ino, struct stat *st)
{
    unsigned gen = zc_fd_watch(fd);
    if (zc_fstat(fd, st) < 0 || st->st_dev != dev || st->st_ino != ino || !S_ISREG(st->st_mode))
        return ZC_SKIP_SOURCE_GONE;
    if (!(fs_flags(fd, st) & FS_REAL))
        return ZC_SKIP_SOURCE_SYNTHETIC;
    /* The next read on fd may take this as its own fstat (fdcache.c). */
    zc_source_seen(fd, gen, &(struct zc_source_id){ dev, ino, zc_change_stamp(st) }, -1);
    return ZC_SKIP_NONE;
}

/* Where a read() of GOT bytes started: the fd's offset now, less GOT. */
static off_t read_start(int fd, size_t got)
{
    off_t end = lseek(fd, 0, SEEK_CUR);
    return end < 0 ? -1 : end - (off_t)got;
}

/* A read that starts where the last one on fd ended, with no hook having
 * seen fd change since, is from the same file: no fstat (fdcache.c says
 * what covers a change no hook sees).  Else fstat, and lseek only a file. */
bool zc_read_source(int fd, off_t *file_off, size_t got, struct zc_source_id *id)
{
    unsigned gen = zc_fd_watch(fd);
    if (zc_source_recent(fd)) {
        if (*file_off < 0 && (*file_off = read_start(fd, got)) < 0)
            return false;
        if (zc_source_continues(fd, *file_off, got, id))
            return true;
    }
    struct stat st;
    if (!zc_is_trackable_file(fd, &st))
        return false;
    if (*file_off < 0 && (*file_off = read_start(fd, got)) < 0)
        return false;
    *id = (struct zc_source_id){ st.st_dev, st.st_ino, zc_change_stamp(&st) };
    zc_source_seen(fd, gen, id, *file_off + (off_t)got);
    return true;
}
