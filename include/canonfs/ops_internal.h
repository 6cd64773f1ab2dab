/*
 * ops_internal: what the files of the FUSE operations share. Like Linux's
 * fs/fuse, the operations are split by concern:
 *
 *   ops.c         the operation table and INIT
 *   ops_lookup.c  names: LOOKUP, FORGET, where an inode is in the mount
 *   ops_attr.c    attributes: GETATTR, SETATTR, READLINK, ACCESS, STATFS
 *   ops_entry.c   entry changes: MKNOD, MKDIR, SYMLINK, LINK, UNLINK,
 *                 RMDIR, RENAME, and the records of the daemon's own
 *   ops_file.c    file I/O: OPEN, CREATE, READ, WRITE, FALLOCATE, LSEEK,
 *                 FLUSH, RELEASE, FSYNC
 *   iofd.c        the descriptors that I/O goes through, and their
 *                 rechecks where the host's permission checks apply
 *   ops_dir.c     listings: OPENDIR, READDIR(PLUS), RELEASEDIR, FSYNCDIR
 *   ops_xattr.c   extended attributes
 *   control.c     the control files (control.h)
 *   trace_ops.c   what the operations record in the trace (trace.h)
 *
 * Each operation finds its inodes, calls one helper that does the work and
 * returns 0 or an errno value, and replies once. Helpers shared between
 * the files are declared here; all return 0 or an errno value unless said
 * otherwise.
 */
#ifndef CANONFS_OPS_INTERNAL_H
#define CANONFS_OPS_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "canonfs/fs.h"
#include "canonfs/inode.h"
#include "canonfs/ops.h"

static inline struct canonfs_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static inline struct inode *inode_of(fuse_req_t req, fuse_ino_t ino)
{
	return inode_from_nodeid(&fs_of(req)->inodes, ino);
}

/* "/proc/self/fd/N": reopens exactly the object behind an O_PATH fd. */
static inline void ops_proc_path(int fd, char buf[static 32])
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

/* ops_lookup.c */

/* Where inode is in the mount ("/src/pkg/a.go"); ENOENT when it has left
 * its mirror. */
int ops_virt_path_of(struct canonfs_fs *fs, const struct inode *inode,
		     char *out, size_t out_size);
/* Where `name` in directory dir is in the mount. */
int ops_child_virt_path(struct canonfs_fs *fs, const struct inode *dir,
			const char *name, char *out, size_t out_size);
/* How ops_lookup_entry hands a name out. */
enum ops_lookup_flags {
	/* Out of descriptors, wait for the pruner (listings do not). */
	OPS_LOOKUP_WAIT = 1,
	/* With no entry timeout: the kernel asks again at its next use
	 * (the name link(2) made, see ops_entry.c). */
	OPS_LOOKUP_UNTIMED = 2,
};

/* Look `name` up in `parent` and take one lookup on the result; flags:
 * enum ops_lookup_flags. */
int ops_lookup_entry(struct canonfs_fs *fs, struct inode *parent,
		     const char *name, struct fuse_entry_param *e,
		     unsigned flags);
/* ops_lookup_entry for a request, which may wait. */
int ops_do_lookup(struct canonfs_fs *fs, struct inode *parent, const char *name,
		  struct fuse_entry_param *e);
void ops_reply_entry_or_err(fuse_req_t req, int err,
			    const struct fuse_entry_param *e);

/* ops_attr.c */

/* The attributes to show for inode whose host object was just stat'ed
 * into fresh (NULL: stat it now). */
int ops_inode_attr_from(struct canonfs_fs *fs, struct inode *inode,
			const struct stat *fresh, struct stat *out);
int ops_inode_attr(struct canonfs_fs *fs, struct inode *inode,
		   struct stat *out);
/* How long the kernel may cache what it knows of inode. */
double ops_cache_timeout(const struct canonfs_fs *fs,
			 const struct inode *inode);

/* ops_entry.c */

/* Before the daemon changes an entry of dir (own.h), and when the change
 * failed. */
void ops_expect_own(struct canonfs_fs *fs, const struct inode *dir,
		    const char *name, uint32_t kind);
void ops_cancel_own(struct canonfs_fs *fs, const struct inode *dir,
		    const char *name, uint32_t kind);
/* Writes need a host directory and a read-write mount (EROFS), and the
 * mounting user or root where others reach the mount (EACCES). */
int ops_check_writable(fuse_req_t req, const struct inode *inode);

/* ops_file.c */

/* Around a write or truncate of ours through fd (own.h): begin is true
 * when it is recorded, and end is then due; *host gets its stat. */
bool ops_own_write_begin(struct canonfs_fs *fs, struct inode *inode, int fd,
			 struct stat *host);
void ops_own_write_end(struct canonfs_fs *fs, struct inode *inode, int fd);
/* The kernel's zeros past a file's end (inode.h's zero_fill_from): moved
 * to `end` by a write or truncate of ours, and dropped from its pages
 * before an attribute reply shows the file as shown_size, if larger. */
void ops_zero_fill_moved(struct inode *inode, int64_t end, bool truncated);
void ops_zero_fill_forget(struct canonfs_fs *fs, struct inode *inode,
			  off_t shown_size);

/* iofd.c */

/* Reopen the object behind an O_PATH fd through /proc/self/fd; the
 * descriptor, or -1 with errno. */
int iofd_reopen(const struct canonfs_fs *fs, int fd, int flags);
/* Open inode's host object for I/O as the host lets the daemon open it;
 * the descriptor, or -1 with errno. */
int iofd_open_checked(const struct canonfs_fs *fs, const struct inode *inode,
		      int flags);
/* A descriptor from CREATE becomes inode's write descriptor when there is
 * room; otherwise it is closed. */
void iofd_keep_as_write_fd(struct canonfs_fs *fs, struct inode *inode, int fd,
			   int flags);
/* The descriptor for I/O on inode in *fd; one opened for this request
 * alone, to close after it, also in *temp_fd (else -1). */
int iofd_get(struct canonfs_fs *fs, const struct fuse_file_info *fi,
	     struct inode *inode, bool write, int *fd, int *temp_fd);
/* iofd_get for a write, after ops_check_writable. */
int iofd_get_writable(fuse_req_t req, const struct fuse_file_info *fi,
		      struct inode *inode, int *fd, int *temp_fd);

/* trace_ops.c: what the operations record while tracing (trace.h). */

/* An output ("created", "written", "removed") of name in dir, or of the
 * inode itself when name is NULL. */
void trace_change(struct canonfs_fs *fs, const struct inode *inode,
		  const char *name, const char *what);
/* The mark of the trace's current epoch in an inode's *_traced fields. */
uint64_t trace_mark(const struct trace *t);
/* The file was created, written or truncated through the mount. */
void trace_made(struct canonfs_fs *fs, struct inode *inode);
/* The first read of a file since the trace started (fd -1: empty). */
void trace_first_read(struct canonfs_fs *fs, struct inode *inode, int fd);
/* A file with several links looked up by dir/name: one more name. */
void trace_link_name(struct canonfs_fs *fs, struct inode *inode,
		     const struct inode *dir, const char *name);
/* An empty file looked up counts as read. */
void trace_empty_file(struct canonfs_fs *fs, const struct fuse_entry_param *e);

/* The operations, for the table in ops.c. */
void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
void op_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets);
void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		struct fuse_file_info *fi);
void op_readlink(fuse_req_t req, fuse_ino_t ino);
void op_access(fuse_req_t req, fuse_ino_t ino, int mask);
void op_statfs(fuse_req_t req, fuse_ino_t ino);
void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev);
void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode);
void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name);
void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname);
void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name);
void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags);
void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	       struct fuse_file_info *fi);
void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
	     struct fuse_file_info *fi);
void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in,
		  off_t off, struct fuse_file_info *fi);
void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
		  off_t len, struct fuse_file_info *fi);
void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
	      struct fuse_file_info *fi);
void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
	      struct fuse_file_info *fi);
void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		struct fuse_file_info *fi);
void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		    struct fuse_file_info *fi);
void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi);
void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi);
void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size);
void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size);
void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		 const char *value, size_t size, int flags);
void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name);

#endif
