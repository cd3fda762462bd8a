#define _GNU_SOURCE
#include "chronik_support.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#if defined(__linux__)
#include <sys/sysmacros.h>
#endif

// Why not fstat(2): on Linux 6.13+ (multigrain timestamps: ext4, xfs,
// btrfs, tmpfs) a stat that returns a file's times marks them as queried,
// and the next write then stamps the file with a fine-grained time, which
// dirties the inode every time. On ext4 an fdatasync then writes the inode
// as well as the data (without a journal, every fsync forces the inode
// block out when it is dirty): two I/Os instead of one. The writer's
// checks of its segment (size before a write, links after a sync) ran an
// fstat per group, so every group's fdatasync paid the second write (stop
// 52). statx(2) asked only for what is needed leaves the times unqueried.

#if defined(__linux__) && defined(STATX_SIZE)
static const unsigned int wanted = STATX_TYPE | STATX_MODE | STATX_NLINK | STATX_INO | STATX_SIZE;

static int from_statx(int dirfd, const char *path, int flags, chronik_file_facts *facts) {
    struct statx sx;
    if (statx(dirfd, path, flags, wanted, &sx) != 0) return errno;
    if ((sx.stx_mask & wanted) != wanted) return ENOTSUP;
    facts->size = (int64_t)sx.stx_size;
    facts->links = sx.stx_nlink;
    facts->device = (uint64_t)makedev(sx.stx_dev_major, sx.stx_dev_minor);
    facts->inode = sx.stx_ino;
    facts->mode = sx.stx_mode;
    return 0;
}
#endif

static void from_stat(const struct stat *st, chronik_file_facts *facts) {
    facts->size = (int64_t)st->st_size;
    facts->links = (uint64_t)st->st_nlink;
    facts->device = (uint64_t)st->st_dev;
    facts->inode = (uint64_t)st->st_ino;
    facts->mode = (uint32_t)st->st_mode;
}

#if defined(__linux__) && defined(STATX_SIZE)
/// Whether statx failed for want of it (kernels before 4.11, a sandbox that
/// refuses the call, a file system that cannot tell): then stat it is.
static int statx_missing(int e) {
    return e == ENOSYS || e == EPERM || e == ENOTSUP || e == EINVAL;
}
#endif

/// The facts of `path`, or of `fd` when `path` is NULL.
static int probe(int fd, const char *path, chronik_file_facts *facts) {
#if defined(__linux__) && defined(STATX_SIZE)
    int e = path ? from_statx(AT_FDCWD, path, 0, facts) : from_statx(fd, "", AT_EMPTY_PATH, facts);
    if (e == 0 || !statx_missing(e)) return e;
#endif
    struct stat st;
    if ((path ? stat(path, &st) : fstat(fd, &st)) != 0) return errno;
    from_stat(&st, facts);
    return 0;
}

int chronik_file_facts_of_fd(int fd, chronik_file_facts *facts) { return probe(fd, NULL, facts); }

int chronik_file_facts_of_path(const char *path, chronik_file_facts *facts) { return probe(-1, path, facts); }
