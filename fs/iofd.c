/*
 * iofd: the descriptors I/O goes through (see
 * include/canonfs/ops_internal.h). Without OPEN requests (handle-less
 * mode) each inode keeps one for reading and one for writing, opened on
 * first use; where the host's permission checks apply to the daemon, each
 * is opened as the host would open it and checked again when the host's
 * answer may have changed (inode.access_changed). An inode's own object is
 * reopened through /proc/self/fd/N, which names that exact object rather
 * than a path.
 */
#include "canonfs/ops_internal.h"

#include "canonfs/hostpath.h"
#include "canonfs/prune.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* open(ops_proc_path(fd), flags), resolving one component instead of four
 * from the daemon's fd directory held open. The first read of each file
 * reopens it: in a first build after mounting, reopens were 16% of the
 * daemon's time, and this saves 2-3 us of about 6 per iofd_reopen. */
int iofd_reopen(const struct canonfs_fs *fs, int fd, int flags)
{
	char name[32];

	if (fs->proc_fd_dir < 0) {
		ops_proc_path(fd, name);
		return open(name, flags);
	}
	snprintf(name, sizeof(name), "%d", fd);
	return openat(fs->proc_fd_dir, name, flags);
}

/* Whether st describes the object behind fd. */
static bool is_object_of(const struct stat *st, int fd)
{
	struct stat behind;

	return fstat(fd, &behind) == 0 && st->st_dev == behind.st_dev &&
	       st->st_ino == behind.st_ino;
}

/*
 * Open inode's host object for I/O as the host lets the daemon open it.
 * Where the host's permission checks apply to the daemon (not root), that
 * is by its path: reopening the object itself checks the object alone,
 * never the search permission of the directories above it. An object with
 * no path of its own any more (unlinked, or another object at the path by
 * now) is reopened as itself. Returns the descriptor, or -1 with errno.
 */
int iofd_open_checked(const struct canonfs_fs *fs, const struct inode *inode,
		      int flags)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, err;

	if (!fs->host_checks ||
	    hostpath_of_fd(inode->host_fd, path, sizeof(path)) ||
	    path[0] != '/')
		return iofd_reopen(fs, inode->host_fd, flags);
	fd = open(path, flags | O_NOFOLLOW);
	if (fd >= 0 && fstat(fd, &st) == 0 && is_object_of(&st, inode->host_fd))
		return fd;
	if (fd >= 0) {
		close(fd);
	} else if (errno == EACCES || errno == EPERM) {
		/* The host's answer when the path still names this object,
		 * or when a directory above it refuses even a stat. */
		err = errno;
		if (stat(path, &st) == -1 ? errno == EACCES
					  : is_object_of(&st, inode->host_fd)) {
			errno = err;
			return -1;
		}
	}
	return iofd_reopen(fs, inode->host_fd, flags);
}

/*
 * Make fd one of the inode's own I/O descriptors (slot is read_fd or
 * write_fd). Returns fd when kept; the descriptor another thread installed
 * first (fd is then the caller's to close); or -1 when the process may not
 * keep more (fd is then the caller's, for one request).
 */
static int install_io_fd(struct canonfs_fs *fs, int *slot, int fd)
{
	int expected = -1;

	if (!prune_io_fd_take(&fs->inodes))
		return -1;
	if (__atomic_compare_exchange_n(slot, &expected, fd, false,
					__ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return fd;
	prune_io_fd_give(&fs->inodes);
	return expected;
}

/*
 * Whether the descriptor in slot (0 read_fd, 1 write_fd) must be checked
 * again before it is used: the host's answer may have changed since it
 * was opened (inode.h). Marks it checked as of now, so that a change that
 * comes while it is checked asks again.
 */
static bool take_access_change(struct canonfs_fs *fs, struct inode *inode,
			       int slot)
{
	uint32_t epoch =
		__atomic_load_n(&fs->dir_access_epoch, __ATOMIC_ACQUIRE);
	bool due =
		__atomic_fetch_and(&inode->access_changed,
				   (uint8_t) ~(1u << slot), __ATOMIC_ACQ_REL) &
		(1u << slot);

	return __atomic_exchange_n(&inode->io_checked_epoch[slot], epoch,
				   __ATOMIC_ACQ_REL) != epoch ||
	       due;
}

/*
 * A kept descriptor whose access may have been taken away on the host: the
 * file is opened anew as the host would open it. Refused, the request
 * fails and the next one asks again. Allowed, the new open file takes the
 * descriptor's number (dup3): requests that hold the number go on with
 * either open file of the same object, and none ever sees it closed.
 */
static int recheck_io_fd(struct canonfs_fs *fs, struct inode *inode, int slot,
			 int kept)
{
	int fresh = iofd_open_checked(fs, inode,
				      (slot ? O_RDWR : O_RDONLY) | O_CLOEXEC);

	if (fresh == -1 || dup3(fresh, kept, O_CLOEXEC) == -1) {
		int err = errno;

		if (fresh >= 0)
			close(fresh);
		__atomic_fetch_or(&inode->access_changed, (uint8_t)(1u << slot),
				  __ATOMIC_ACQ_REL);
		return err;
	}
	close(fresh);
	return 0;
}

/*
 * A descriptor from CREATE becomes the inode's write descriptor when there
 * is room; otherwise it is closed. Keeping it lets a file created read-only
 * (mode 0444) still be written and truncated by its creator, as POSIX
 * allows, even when the daemon could not iofd_reopen it. The flags that would
 * bend other writers are cleared first: O_APPEND (every write at the end)
 * and O_DIRECT (libfuse's buffers are not aligned for it).
 */
void iofd_keep_as_write_fd(struct canonfs_fs *fs, struct inode *inode, int fd,
			   int flags)
{
	const int per_open = O_APPEND | O_DIRECT | O_NONBLOCK;
	/* Opened with flags: none of the per-open ones, nothing to clear
	 * (two system calls a created file). */
	int fl = (flags & per_open) ? fcntl(fd, F_GETFL) : 0;

	if ((flags & O_ACCMODE) == O_RDONLY || fl == -1 ||
	    ((fl & per_open) && fcntl(fd, F_SETFL, fl & ~per_open) == -1) ||
	    install_io_fd(fs, &inode->write_fd, fd) != fd)
		close(fd);
	/* Checked as of now (the creation was): an earlier change of a
	 * directory's access must not take the creator's rights away. */
	else if (fs->host_checks)
		take_access_change(fs, inode, 1);
}

/*
 * The descriptor for I/O on inode: the request's file handle when the
 * kernel opened one (fh 0 never is one: fds 0-2 stay open), else one of
 * the inode's own, opened on first use. A descriptor opened just for this
 * request (the per-process limit reached) is returned in *temp_fd.
 */
int iofd_get(struct canonfs_fs *fs, const struct fuse_file_info *fi,
	     struct inode *inode, bool write, int *fd, int *temp_fd)
{
	int *slot = write ? &inode->write_fd : &inode->read_fd;
	int opened;

	*temp_fd = -1;
	if (fi && fi->fh) {
		*fd = (int)fi->fh;
		return 0;
	}
	/* Reads never borrow the write descriptor: it may be O_WRONLY. */
	*fd = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (*fd >= 0)
		return fs->host_checks && take_access_change(fs, inode, write)
			       ? recheck_io_fd(fs, inode, write, *fd)
			       : 0;

	if (fs->host_checks)
		take_access_change(fs, inode, write);
	opened = iofd_open_checked(fs, inode,
				   (write ? O_RDWR : O_RDONLY) | O_CLOEXEC);
	if (opened == -1)
		return errno;
	*fd = install_io_fd(fs, slot, opened);
	if (*fd < 0) /* not kept: for this request only */
		*fd = *temp_fd = opened;
	else if (*fd != opened)
		close(opened);
	return 0;
}

/* iofd_get for a write: first, a read-only mount or mirror says EROFS. */
int iofd_get_writable(fuse_req_t req, const struct fuse_file_info *fi,
		      struct inode *inode, int *fd, int *temp_fd)
{
	int err = ops_check_writable(req, inode);

	return err ? err : iofd_get(fs_of(req), fi, inode, true, fd, temp_fd);
}
