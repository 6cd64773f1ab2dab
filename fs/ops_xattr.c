/*
 * ops_xattr: extended attributes (see include/canonfs/ops_internal.h).
 */
#include "canonfs/ops_internal.h"

#include "canonfs/stats.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/xattr.h>

/*
 * Extended attributes. Hidden by default: ENOSYS tells the kernel once
 * and for all that there are none, so it stops asking (no round trips).
 * With -o xattr they pass through for files and directories.
 */
static int xattr_path(fuse_req_t req, fuse_ino_t ino, char path[static 32])
{
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);

	if (!fs->opts->xattr)
		return ENOSYS;
	if (inode->synthetic || S_ISLNK(inode->host_type))
		return ENOTSUP;
	ops_proc_path(inode->host_fd, path);
	return 0;
}

static void reply_xattr_result(fuse_req_t req, ssize_t len, size_t size,
			       const char *buf)
{
	if (len < 0)
		fuse_reply_err(req, errno);
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)len);
	else
		fuse_reply_buf(req, buf, (size_t)len);
}

void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	stats_add(&fs_of(req)->stats, STAT_GETXATTR);
	char path[32];
	char *buf = NULL;
	int err = xattr_path(req, ino, path);

	if (!err && size && !(buf = malloc(size)))
		err = ENOMEM;
	if (err)
		fuse_reply_err(req, err);
	else
		reply_xattr_result(req, getxattr(path, name, buf, size), size,
				   buf);
	free(buf);
}

void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	stats_add(&fs_of(req)->stats, STAT_LISTXATTR);
	char path[32];
	char *buf = NULL;
	int err = xattr_path(req, ino, path);

	if (!err && size && !(buf = malloc(size)))
		err = ENOMEM;
	if (err)
		fuse_reply_err(req, err);
	else
		reply_xattr_result(req, listxattr(path, buf, size), size, buf);
	free(buf);
}

void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags)
{
	stats_add(&fs_of(req)->stats, STAT_SETXATTR);
	char path[32];
	int err = xattr_path(req, ino, path);

	if (!err)
		err = ops_check_writable(req, inode_of(req, ino));
	if (!err && setxattr(path, name, value, size, flags) == -1)
		err = errno;
	fuse_reply_err(req, err);
}

void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	stats_add(&fs_of(req)->stats, STAT_REMOVEXATTR);
	char path[32];
	int err = xattr_path(req, ino, path);

	if (!err)
		err = ops_check_writable(req, inode_of(req, ino));
	if (!err && removexattr(path, name) == -1)
		err = errno;
	fuse_reply_err(req, err);
}
