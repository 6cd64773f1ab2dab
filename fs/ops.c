/*
 * ops: the table of FUSE low-level operations and INIT (see
 * include/canonfs/ops.h; the operations are in the ops_*.c files by
 * concern, see include/canonfs/ops_internal.h).
 *
 * Host objects are only ever reached through the O_PATH descriptors of the
 * inode table: names are resolved one component at a time with openat(...,
 * O_NOFOLLOW), and an inode's own object is reopened through
 * /proc/self/fd/N, which names that exact object rather than a path.
 */
#include "canonfs/ops.h"

#include "canonfs/ops_internal.h"

#include <fcntl.h>

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct canonfs_fs *fs = userdata;
	const unsigned handleless =
		FUSE_CAP_NO_OPEN_SUPPORT | FUSE_CAP_NO_OPENDIR_SUPPORT;
	bool watching = fs->inodes.inotify_fd >= 0;

	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* Always plus: a build stats every entry it lists. */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	/* The kernel would judge staleness by mtime, which canonical times
	 * hide; host changes are invalidated explicitly instead. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	if (watching && (conn->capable & FUSE_CAP_EXPLICIT_INVAL_DATA))
		conn->want |= FUSE_CAP_EXPLICIT_INVAL_DATA;
	fs->explicit_inval = conn->want & FUSE_CAP_EXPLICIT_INVAL_DATA;
	/* O_TRUNC must reach us as a SETATTR: without OPEN requests an
	 * "atomic" truncate in OPEN would be lost. */
	conn->want &= ~FUSE_CAP_ATOMIC_O_TRUNC;
	/* With writeback caching the kernel owns mtime and size. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	/* Replies are never spliced (see op_read); requests may be. */
	conn->want &= ~(FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
	/* What is watched is invalidated exactly: the kernel may then keep
	 * symlink targets, and needs no OPEN/RELEASE round trips at all. */
	if (watching && (conn->capable & FUSE_CAP_CACHE_SYMLINKS))
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	fs->handleless = watching && (conn->capable & handleless) == handleless;
	passthrough_init(fs, conn);
	/* -o passthrough needs OPEN requests: only their replies can make a
	 * file passthrough (listings stay handle-less). */
	fs->no_open = fs->handleless && !passthrough_wants_open(fs);
	if (fs->opts->max_read)
		conn->max_read = fs->opts->max_read;
	/* Here, not before: /proc/self is the process that serves. */
	fs->proc_fd_dir =
		open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

const struct fuse_lowlevel_ops canonfs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readlink = op_readlink,
	.mknod = op_mknod,
	.mkdir = op_mkdir,
	.unlink = op_unlink,
	.rmdir = op_rmdir,
	.symlink = op_symlink,
	.rename = op_rename,
	.link = op_link,
	.open = op_open,
	.create = op_create,
	.read = op_read,
	.write_buf = op_write_buf,
	.fallocate = op_fallocate,
	.lseek = op_lseek,
	.flush = op_flush,
	.release = op_release,
	.fsync = op_fsync,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.fsyncdir = op_fsyncdir,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.setxattr = op_setxattr,
	.removexattr = op_removexattr,
	.access = op_access,
};
