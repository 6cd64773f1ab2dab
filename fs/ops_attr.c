/*
 * ops_attr: attributes (see include/canonfs/ops_internal.h): GETATTR,
 * SETATTR, READLINK, ACCESS and STATFS, and the attributes shown for an
 * inode (canon.h), times included.
 */
#include "canonfs/ops_internal.h"

#include "canonfs/control.h"

#include "canonfs/canon.h"
#include "canonfs/digests.h"
#include "canonfs/hostpath.h"
#include "canonfs/layout.h"
#include "canonfs/own.h"
#include "canonfs/path.h"
#include "canonfs/stats.h"
#include "canonfs/symlink.h"
#include "canonfs/trace.h"

#include <openssl/evp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

static int host_stat(const struct inode *inode, struct stat *st)
{
	if (fstatat(inode->host_fd, "", st,
		    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1)
		return errno;
	return 0;
}

/* The target of host symlink inode, read once: a link's target never
 * changes (another is another inode), and each read of it costs a mount
 * clone (hostpath_readlink). -1 with errno, or its length. */
static ssize_t host_link_target(struct inode *inode, char *out, size_t size)
{
	char *kept = __atomic_load_n(&inode->link_target, __ATOMIC_ACQUIRE);
	char *copy, *none = NULL;
	ssize_t len;

	if (!kept) {
		len = hostpath_readlink(inode->host_fd, "", out, size - 1);
		if (len < 0)
			return -1;
		out[len] = '\0';
		copy = strdup(out);
		if (copy && !__atomic_compare_exchange_n(
				    &inode->link_target, &none, copy, false,
				    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			free(copy);
		return len;
	}
	len = (ssize_t)strlen(kept);
	if ((size_t)len >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(out, kept, (size_t)len + 1);
	return len;
}

/* The target of a host symlink as the canonical view shows it. */
static int shown_link_target(struct canonfs_fs *fs, struct inode *inode,
			     char *out, size_t out_size)
{
	char target[PATH_MAX], virt_path[PATH_MAX], virt_dir[PATH_MAX];
	ssize_t len;
	int err;

	len = host_link_target(inode, target, sizeof(target));
	if (len < 0)
		return errno;

	if (layout_virt_path_of_fd(&fs->layout, inode->key.mirror,
				   inode->host_fd, virt_path,
				   sizeof(virt_path)) ||
	    path_dirname(virt_path, virt_dir, sizeof(virt_dir))) {
		/* The link has left its mirror: nothing to rewrite against. */
		if ((size_t)len + 1 > out_size)
			return ENAMETOOLONG;
		memcpy(out, target, (size_t)len + 1);
		return 0;
	}
	err = symlink_to_view(target, virt_dir, fs->layout.spellings,
			      fs->layout.n_spellings, out, out_size);
	/* Still absolute, it leaves every mirror; relative, it may climb out
	 * of its own: the build depends on the host there. */
	if (!err && trace_active(&fs->trace) &&
	    (out[0] == '/' ||
	     symlink_climbs_out(
		     virt_dir, out,
		     fs->layout.mirrors[inode->key.mirror].virt_path)))
		trace_warn(&fs->trace, "symlink-escapes", virt_path, out);
	return err;
}

/* The attributes to show for inode whose host object was just stat'ed
 * into host (NULL: stat it now). */
int ops_inode_attr_from(struct canonfs_fs *fs, struct inode *inode,
			const struct stat *fresh, struct stat *out)
{
	char target[PATH_MAX];
	struct stat host;
	off_t link_size = 0;
	int err;

	if (inode->synthetic) {
		canon_synthetic_attr(&fs->opts->rules, inode->canon_ino,
				     S_ISDIR(inode->host_type) ? S_IFDIR | 0755
							       : S_IFREG | 0444,
				     out);
		if (inode->control)
			control_fix_attr(fs, inode, out);
		return 0;
	}
	if (fresh)
		host = *fresh;
	else if ((err = host_stat(inode, &host)))
		return err;
	if (S_ISLNK(host.st_mode)) {
		if ((err = shown_link_target(fs, inode, target,
					     sizeof(target))))
			return err;
		link_size = (off_t)strlen(target);
	}
	canon_attr(&fs->opts->rules, &host, inode->canon_ino, link_size, out);
	if (S_ISREG(host.st_mode))
		ops_zero_fill_forget(fs, inode, host.st_size);
	times_apply(&fs->times, inode->key.mirror, inode->host_fd, &host,
		    target, out);
	return 0;
}

int ops_inode_attr(struct canonfs_fs *fs, struct inode *inode, struct stat *out)
{
	return ops_inode_attr_from(fs, inode, NULL, out);
}

/* How long the kernel may cache what it knows of inode. */
double ops_cache_timeout(const struct canonfs_fs *fs, const struct inode *inode)
{
	if (inode->control)
		return control_timeout(fs, inode);
	return inode->parent_watched ? fs->watched_timeout
				     : fs->unwatched_timeout;
}

void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_GETATTR);
	struct canonfs_fs *fs = fs_of(req);
	struct stat attr;
	int err;

	(void)fi;
	struct inode *inode = inode_of(req, ino);
	struct stat host;

	if (inode->synthetic) {
		err = ops_inode_attr(fs, inode, &attr);
	} else if (!(err = host_stat(inode, &host))) {
		/* Linked since it was looked up: watch it itself. */
		if (S_ISREG(host.st_mode) && host.st_nlink > 1)
			inode_watch_links(&fs->inodes, inode, host.st_nlink);
		err = ops_inode_attr_from(fs, inode, &host, &attr);
	}
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &attr, ops_cache_timeout(fs, inode));
}

static int apply_setattr(struct inode *inode, const struct stat *attr,
			 int to_set, const struct fuse_file_info *fi)
{
	/* A handle of 0 is none: the kernel sends no OPEN in handle-less
	 * mode. */
	int fd = fi && fi->fh ? (int)fi->fh : -1;
	char path[32];

	ops_proc_path(inode->host_fd, path);
	if (to_set & FUSE_SET_ATTR_MODE) {
		int rc = fd >= 0 ? fchmod(fd, attr->st_mode)
				 : fchmodat(AT_FDCWD, path, attr->st_mode, 0);

		if (rc == -1)
			return errno;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		/* Without a handle, the descriptor CREATE kept may be the only
		 * way to write a 0444 file its creator still holds open. */
		int write_fd =
			__atomic_load_n(&inode->write_fd, __ATOMIC_ACQUIRE);
		int size_fd = fd >= 0 ? fd : write_fd;
		int rc = size_fd >= 0 ? ftruncate(size_fd, attr->st_size)
				      : truncate(path, attr->st_size);

		if (rc == -1)
			return errno;
		ops_zero_fill_moved(inode, attr->st_size, true);
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec times[2] = {
			{.tv_nsec = UTIME_OMIT},
			{.tv_nsec = UTIME_OMIT},
		};
		int rc;

		if (to_set & FUSE_SET_ATTR_ATIME_NOW)
			times[0].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_ATIME)
			times[0] = attr->st_atim;
		if (to_set & FUSE_SET_ATTR_MTIME_NOW)
			times[1].tv_nsec = UTIME_NOW;
		else if (to_set & FUSE_SET_ATTR_MTIME)
			times[1] = attr->st_mtim;
		/* The O_PATH descriptor itself (a symlink is then the link,
		 * as touch -h wants), at a third of the cost of the walk
		 * through /proc: go install touches every target it keeps. */
		rc = fd >= 0 ? futimens(fd, times)
			     : utimensat(inode->host_fd, "", times,
					 AT_EMPTY_PATH);
		/* Older kernels refuse AT_EMPTY_PATH here with EINVAL (as
		 * they do bad times, which then fail again): the /proc link. */
		if (rc == -1 && errno == EINVAL && fd < 0)
			rc = utimensat(AT_FDCWD, path, times, 0);
		if (rc == -1)
			return errno;
	}
	/* FUSE_SET_ATTR_UID/GID: ownership is canonical, a chown is
	 * accepted and changes nothing (tar and cp -a would fail on it). */
	return 0;
}

static int do_setattr(struct canonfs_fs *fs, struct inode *inode,
		      const struct stat *attr, int to_set,
		      const struct fuse_file_info *fi)
{
	/* A truncate is a modification of ours, like a write. */
	struct stat host;
	bool sized = (to_set & FUSE_SET_ATTR_SIZE) &&
		     ops_own_write_begin(fs, inode, inode->host_fd, &host);
	int err = apply_setattr(inode, attr, to_set, fi);

	if (sized)
		ops_own_write_end(fs, inode, inode->host_fd);
	return err;
}

/*
 * chmod and utimes cause IN_ATTRIB, which the watcher may read before the
 * call returns: record first the canonical mode and size the change will
 * leave (the reply gives them to the kernel). A wrong guess or a failed
 * call costs nothing: a record only ever skips an event that leaves the
 * view as it is. Where host times are shown, see record_own_times.
 */
static bool shows_host_times(const struct canonfs_fs *fs)
{
	return fs->opts->rules.time_mode == CANON_TIME_PASSTHROUGH ||
	       fs->opts->rules.time_mode == CANON_TIME_BASELINE;
}

static void expect_own_attr(struct canonfs_fs *fs, const struct inode *inode,
			    const struct stat *attr, int to_set)
{
	struct stat host;
	mode_t mode;

	if ((to_set & FUSE_SET_ATTR_SIZE) || !inode->parent_watched ||
	    shows_host_times(fs) || host_stat(inode, &host))
		return;
	mode = to_set & FUSE_SET_ATTR_MODE
		       ? (host.st_mode & S_IFMT) | (attr->st_mode & 07777)
		       : host.st_mode;
	own_record_attr(&fs->own, inode->key.dev, inode->key.ino,
			canon_mode(mode),
			S_ISREG(host.st_mode) ? host.st_size : 0, NULL);
}

/*
 * Where host times are shown, a chmod or utimes of ours changes them (the
 * ctime at least), which cannot be known before the call: the record is
 * made after it, from the stat the reply is made of, and the watcher skips
 * the event only while the file still has exactly those times (own.h).
 * Go's chtimes of every target `go install` finds up to date would
 * otherwise each cost an invalidation and a GETATTR.
 */
static void record_own_times(struct canonfs_fs *fs, const struct inode *inode,
			     int to_set, const struct stat *host)
{
	if ((to_set & FUSE_SET_ATTR_SIZE) || !inode->parent_watched ||
	    !shows_host_times(fs))
		return;
	own_record_attr(&fs->own, inode->key.dev, inode->key.ino,
			canon_mode(host->st_mode),
			S_ISREG(host->st_mode) ? host->st_size : 0, host);
}

void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_SETATTR);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	struct stat out, host;
	int err;

	err = ops_check_writable(req, inode);
	if (!err)
		expect_own_attr(fs, inode, attr, to_set);
	if (!err)
		err = do_setattr(fs, inode, attr, to_set, fi);
	/* A chmod of ours is not seen by the watcher (own.h): the kept
	 * descriptors are checked again here. */
	if (!err && (to_set & FUSE_SET_ATTR_MODE) && fs->host_checks)
		inode_mark_access_changed(inode);
	if (!err)
		err = host_stat(inode, &host);
	if (!err) {
		record_own_times(fs, inode, to_set, &host);
		err = ops_inode_attr_from(fs, inode, &host, &out);
	}
	if (!err && (to_set & FUSE_SET_ATTR_SIZE)) {
		trace_made(fs, inode);
		trace_change(fs, inode, NULL, "written");
	}
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &out, ops_cache_timeout(fs, inode));
}

void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	stats_add(&fs_of(req)->stats, STAT_READLINK);
	char target[PATH_MAX];
	int err;

	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	char path[PATH_MAX];

	err = shown_link_target(fs, inode, target, sizeof(target));
	/* Once per epoch: the kernel keeps the target until a change. */
	if (!err && trace_active(&fs->trace) &&
	    inode->read_traced != trace_mark(&fs->trace)) {
		inode->read_traced = trace_mark(&fs->trace);
		if (ops_virt_path_of(fs, inode, path, sizeof(path)) == 0)
			trace_readlink(&fs->trace, path, target);
	}
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_readlink(req, target);
}

void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	stats_add(&fs_of(req)->stats, STAT_STATFS);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	int fd = inode->synthetic ? fs->layout.mirrors[0].root_fd
				  : inode->host_fd;
	struct statvfs st;

	if (fstatvfs(fd, &st) == -1)
		fuse_reply_err(req, errno);
	else
		fuse_reply_statfs(req, &st);
}

/*
 * access(2) and chdir. The kernel asks only when it does not check
 * permissions itself, that is when the mount is the mounting user's alone
 * (main.c): the answer is the host's for the daemon, which is that user,
 * and a write is refused on a read-only mount or mirror as the write
 * itself would be.
 */
void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	stats_add(&fs_of(req)->stats, STAT_ACCESS);
	struct inode *inode = inode_of(req, ino);
	int err = 0;

	if (mask & W_OK)
		err = ops_check_writable(req, inode);
	/* Symlinks are 0777: nothing to ask. */
	if (err || mask == F_OK || S_ISLNK(inode->host_type))
		goto reply;
	if (inode->synthetic) { /* 0755 directories, 0444 or 0555 files */
		struct stat shown;

		if ((mask & X_OK) &&
		    (ops_inode_attr(fs_of(req), inode, &shown) ||
		     !(shown.st_mode & S_IXUSR)))
			err = EACCES;
	} else {
		char path[32];

		/* Through the descriptor's /proc link: plain access(2), which
		 * every kernel and seccomp profile allows (faccessat2, for
		 * AT_EMPTY_PATH, is newer). The daemon is not setuid, so its
		 * real ids are its effective ones. */
		ops_proc_path(inode->host_fd, path);
		if (access(path, mask) == -1)
			err = errno;
	}
reply:
	fuse_reply_err(req, err);
}
