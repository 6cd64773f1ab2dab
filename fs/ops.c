/*
 * ops: the FUSE low-level operations (see include/canonfs/ops.h).
 *
 * Host objects are only ever reached through the O_PATH descriptors of the
 * inode table: names are resolved one component at a time with openat(...,
 * O_NOFOLLOW), and an inode's own object is reopened through
 * /proc/self/fd/N, which names that exact object rather than a path.
 */
#include "canonfs/ops.h"

#include "canonfs/canon.h"
#include "canonfs/control.h"
#include "canonfs/dir.h"
#include "canonfs/path.h"
#include "canonfs/symlink.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/xattr.h>
#include <unistd.h>

struct dir_handle {
	struct dir_listing listing; /* snapshot taken at opendir */
};

static struct canonfs_fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct inode *inode_of(fuse_req_t req, fuse_ino_t ino)
{
	return inode_from_nodeid(&fs_of(req)->inodes, ino);
}

/* "/proc/self/fd/N": reopens exactly the object behind an O_PATH fd. */
static void proc_path(int fd, char buf[static 32])
{
	snprintf(buf, 32, "/proc/self/fd/%d", fd);
}

static int host_stat(const struct inode *inode, struct stat *st)
{
	if (fstatat(inode->host_fd, "", st,
		    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1)
		return errno;
	return 0;
}

/* The target of a host symlink as the canonical view shows it. */
static int shown_link_target(struct canonfs_fs *fs,
			     const struct inode *inode, char *out,
			     size_t out_size)
{
	char target[PATH_MAX], virt_path[PATH_MAX], virt_dir[PATH_MAX];
	ssize_t len;

	len = readlinkat(inode->host_fd, "", target, sizeof(target) - 1);
	if (len < 0)
		return errno;
	target[len] = '\0';

	if (layout_virt_path_of_fd(&fs->layout, inode->mirror, inode->host_fd,
				   virt_path, sizeof(virt_path)) ||
	    path_dirname(virt_path, virt_dir, sizeof(virt_dir))) {
		/* The link has left its mirror: nothing to rewrite against. */
		if ((size_t)len + 1 > out_size)
			return ENAMETOOLONG;
		memcpy(out, target, (size_t)len + 1);
		return 0;
	}
	return symlink_to_view(target, virt_dir, fs->layout.spellings,
			       fs->layout.n_spellings, out, out_size);
}

static int inode_attr(struct canonfs_fs *fs, const struct inode *inode,
		      struct stat *out)
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
		return 0;
	}
	if ((err = host_stat(inode, &host)))
		return err;
	if (S_ISLNK(host.st_mode)) {
		if ((err = shown_link_target(fs, inode, target,
					     sizeof(target))))
			return err;
		link_size = (off_t)strlen(target);
	}
	canon_attr(&fs->opts->rules, &host, inode->canon_ino, link_size, out);
	return 0;
}

/* How long the kernel may cache what it knows of inode. */
static double cache_timeout(const struct canonfs_fs *fs,
			    const struct inode *inode)
{
	return inode->parent_watched ? fs->watched_timeout
				     : fs->unwatched_timeout;
}

static void fill_entry(struct canonfs_fs *fs, struct inode *inode,
		       struct fuse_entry_param *e)
{
	e->ino = inode_nodeid(&fs->inodes, inode);
	e->attr_timeout = cache_timeout(fs, inode);
	e->entry_timeout = e->attr_timeout;
}

/* The child of a synthetic directory: a synthetic dir or a mirror root. */
static int lookup_synthetic(struct canonfs_fs *fs, struct inode *parent,
			    const char *name, struct fuse_entry_param *e)
{
	const struct layout_entry *entry = NULL;
	struct inode *inode;
	int err;

	if (parent->control == CONTROL_DIR) {
		enum control_node node = control_file_by_name(name);

		if (node == CONTROL_NONE)
			return ENOENT;
		inode = fs->inodes.control[node];
	} else if (parent == fs->inodes.synthetic[0] &&
		   strcmp(name, CONTROL_DIR_NAME) == 0) {
		inode = fs->inodes.control[CONTROL_DIR];
	} else if (parent->control) {
		return ENOTDIR;
	} else {
		entry = layout_dir_find(&fs->layout.dirs[parent->synth_dir],
					name);
		if (!entry)
			return ENOENT;
	}
	if (!entry) {
		/* control nodes: pinned, nothing to count */
	} else if (entry->synth_dir >= 0) {
		inode = fs->inodes.synthetic[entry->synth_dir];
	} else {
		inode = fs->inodes.mirror_roots[entry->mirror];
		pthread_mutex_lock(&fs->inodes.lock);
		inode->lookup_count++;
		pthread_mutex_unlock(&fs->inodes.lock);
	}
	if ((err = inode_attr(fs, inode, &e->attr))) {
		inode_forget(&fs->inodes, inode, 1);
		return err;
	}
	fill_entry(fs, inode, e);
	return 0;
}

/* Look `name` up in `parent` and take one lookup on the result. */
static int do_lookup(struct canonfs_fs *fs, struct inode *parent,
		     const char *name, struct fuse_entry_param *e)
{
	struct inode *inode;
	struct stat host;
	int fd, err;

	memset(e, 0, sizeof(*e));
	if (!path_is_name(name))
		return ENOENT; /* never climb out through ".." */
	if (parent->synthetic)
		return lookup_synthetic(fs, parent, name, e);

	fd = openat(parent->host_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1)
		return errno;
	if (fstatat(fd, "", &host, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) ==
	    -1) {
		err = errno;
		close(fd);
		return err;
	}
	if (!canon_is_shown(host.st_mode)) {
		close(fd);
		return ENOENT;
	}

	inode = inode_get(&fs->inodes, parent, &host, fd,
			  canon_child_ino(parent->canon_ino, name));
	if (!inode)
		return ENOMEM;
	if ((err = inode_attr(fs, inode, &e->attr))) {
		inode_forget(&fs->inodes, inode, 1);
		return err;
	}
	fill_entry(fs, inode, e);
	return 0;
}

static void reply_entry_or_err(fuse_req_t req, int err,
			       const struct fuse_entry_param *e)
{
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, e);
}

/* Writes need a host directory and a read-write mount. */
static int check_writable(struct canonfs_fs *fs, const struct inode *inode)
{
	if (fs->opts->read_only || inode->synthetic)
		return EROFS;
	return 0;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* Always plus: a build stats every entry it lists. */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	/* The kernel would judge staleness by mtime, which canonical times
	 * hide; host changes are invalidated explicitly instead. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	/* With writeback caching the kernel owns mtime and size. */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE;
	if (conn->capable & FUSE_CAP_SPLICE_READ)
		conn->want |= FUSE_CAP_SPLICE_READ;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	stats_add(&fs_of(req)->stats, STAT_LOOKUP);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	struct fuse_entry_param e;
	int err;

	err = do_lookup(fs, dir, name, &e);
	if (err == ENOENT && (dir->synthetic || dir->watched)) {
		/* A negative entry the kernel may keep: a creation in a
		 * watched directory invalidates it. Compilers probe many
		 * absent headers. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->watched_timeout;
		err = 0;
	}
	reply_entry_or_err(req, err, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	stats_add(&fs_of(req)->stats, STAT_FORGET);
	inode_forget(&fs_of(req)->inodes, inode_of(req, ino), nlookup);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	stats_add(&fs_of(req)->stats, STAT_FORGET);
	for (size_t i = 0; i < count; i++)
		inode_forget(&fs_of(req)->inodes,
			     inode_of(req, forgets[i].ino), forgets[i].nlookup);
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_GETATTR);
	struct canonfs_fs *fs = fs_of(req);
	struct stat attr;
	int err;

	(void)fi;
	struct inode *inode = inode_of(req, ino);

	err = inode_attr(fs, inode, &attr);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &attr, cache_timeout(fs, inode));
}

static int do_setattr(struct inode *inode, const struct stat *attr,
		      int to_set, const struct fuse_file_info *fi)
{
	char path[32];

	proc_path(inode->host_fd, path);
	if (to_set & FUSE_SET_ATTR_MODE) {
		int rc = fi ? fchmod((int)fi->fh, attr->st_mode)
			    : fchmodat(AT_FDCWD, path, attr->st_mode, 0);

		if (rc == -1)
			return errno;
	}
	if (to_set & FUSE_SET_ATTR_SIZE) {
		int rc = fi ? ftruncate((int)fi->fh, attr->st_size)
			    : truncate(path, attr->st_size);

		if (rc == -1)
			return errno;
	}
	if (to_set & (FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME)) {
		struct timespec times[2] = {
			{ .tv_nsec = UTIME_OMIT },
			{ .tv_nsec = UTIME_OMIT },
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
		rc = fi ? futimens((int)fi->fh, times)
			: utimensat(AT_FDCWD, path, times, 0);
		if (rc == -1)
			return errno;
	}
	/* FUSE_SET_ATTR_UID/GID: ownership is canonical, a chown is
	 * accepted and changes nothing (tar and cp -a would fail on it). */
	return 0;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_SETATTR);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	struct stat out;
	int err;

	err = check_writable(fs, inode);
	if (!err)
		err = do_setattr(inode, attr, to_set, fi);
	if (!err)
		err = inode_attr(fs, inode, &out);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &out, cache_timeout(fs, inode));
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	stats_add(&fs_of(req)->stats, STAT_READLINK);
	char target[PATH_MAX];
	int err;

	err = shown_link_target(fs_of(req), inode_of(req, ino), target,
				sizeof(target));
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_readlink(req, target);
}

static void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, dev_t rdev)
{
	stats_add(&fs_of(req)->stats, STAT_MKNOD);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	struct fuse_entry_param e;
	int err;

	(void)rdev;
	err = check_writable(fs, dir);
	/* Devices, FIFOs and sockets could never be shown. */
	if (!err && !S_ISREG(mode))
		err = EPERM;
	if (!err && mknodat(dir->host_fd, name, mode, 0) == -1)
		err = errno;
	if (!err)
		err = do_lookup(fs, dir, name, &e);
	reply_entry_or_err(req, err, &e);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	stats_add(&fs_of(req)->stats, STAT_MKDIR);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	struct fuse_entry_param e;
	int err;

	err = check_writable(fs, dir);
	if (!err && mkdirat(dir->host_fd, name, mode) == -1)
		err = errno;
	if (!err)
		err = do_lookup(fs, dir, name, &e);
	reply_entry_or_err(req, err, &e);
}

static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	stats_add(&fs_of(req)->stats, STAT_SYMLINK);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	char dir_virt[PATH_MAX], stored[PATH_MAX];
	struct fuse_entry_param e;
	int err;

	err = check_writable(fs, dir);
	if (!err)
		err = layout_virt_path_of_fd(&fs->layout, dir->mirror,
					     dir->host_fd, dir_virt,
					     sizeof(dir_virt));
	if (!err)
		err = symlink_to_host(link, dir_virt, dir->mirror,
				      fs->layout.mountpoint,
				      fs->layout.spellings,
				      fs->layout.n_spellings, stored,
				      sizeof(stored));
	if (!err && symlinkat(stored, dir->host_fd, name) == -1)
		err = errno;
	if (!err)
		err = do_lookup(fs, dir, name, &e);
	reply_entry_or_err(req, err, &e);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	stats_add(&fs_of(req)->stats, STAT_LINK);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	struct inode *dir = inode_of(req, newparent);
	struct fuse_entry_param e;
	char path[32];
	int err;

	err = check_writable(fs, dir);
	if (!err && inode->mirror != dir->mirror)
		err = EXDEV;
	if (!err) {
		/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the magic link
		 * of /proc does the same for everyone else. */
		proc_path(inode->host_fd, path);
		if (linkat(inode->host_fd, "", dir->host_fd, newname,
			   AT_EMPTY_PATH) == -1 &&
		    linkat(AT_FDCWD, path, dir->host_fd, newname,
			   AT_SYMLINK_FOLLOW) == -1)
			err = errno;
	}
	if (!err)
		err = do_lookup(fs, dir, newname, &e);
	reply_entry_or_err(req, err, &e);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name,
			 int flags)
{
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	int err;

	err = check_writable(fs, dir);
	if (!err && unlinkat(dir->host_fd, name, flags) == -1)
		err = errno;
	fuse_reply_err(req, err);
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	stats_add(&fs_of(req)->stats, STAT_UNLINK);
	remove_entry(req, parent, name, 0);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	stats_add(&fs_of(req)->stats, STAT_RMDIR);
	remove_entry(req, parent, name, AT_REMOVEDIR);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	stats_add(&fs_of(req)->stats, STAT_RENAME);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	struct inode *newdir = inode_of(req, newparent);
	int err;

	err = check_writable(fs, dir);
	if (!err)
		err = check_writable(fs, newdir);
	/* An inode belongs to one mirror; moving it to another is a copy. */
	if (!err && dir->mirror != newdir->mirror)
		err = EXDEV;
	if (!err && renameat2(dir->host_fd, name, newdir->host_fd, newname,
			      flags) == -1)
		err = errno;
	fuse_reply_err(req, err);
}

/* The contents of an open control file, made when it was opened. */
struct control_content {
	size_t len;
	char data[];
};

static int control_open(struct canonfs_fs *fs, const struct inode *inode,
			struct fuse_file_info *fi)
{
	struct control_content *content;
	char text[4096];
	size_t len = 0;
	size_t host_inodes, watches;

	if ((fi->flags & O_ACCMODE) != O_RDONLY)
		return EROFS;
	switch (inode->control) {
	case CONTROL_STATS:
		len = stats_format(&fs->stats, text, sizeof(text));
		pthread_mutex_lock(&fs->inodes.lock);
		host_inodes = fs->inodes.n_host;
		watches = HASH_COUNT(fs->inodes.watches);
		pthread_mutex_unlock(&fs->inodes.lock);
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"inodes %zu\nwatches %zu\n",
					host_inodes, watches);
		break;
	case CONTROL_BARRIER:
		invalidator_barrier(fs->inv);
		len = (size_t)snprintf(text, sizeof(text), "applied\n");
		break;
	default:
		return EISDIR;
	}
	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	content = malloc(sizeof(*content) + len);
	if (!content)
		return ENOMEM;
	content->len = len;
	memcpy(content->data, text, len);
	fi->fh = (uint64_t)(uintptr_t)content;
	fi->direct_io = 1; /* size 0 in getattr; every read comes here */
	return 0;
}

static void control_read(fuse_req_t req, size_t size, off_t off,
			 const struct fuse_file_info *fi)
{
	const struct control_content *content =
		(const struct control_content *)(uintptr_t)fi->fh;

	if (off < 0 || (size_t)off >= content->len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, content->data + off,
			       content->len - (size_t)off < size
				       ? content->len - (size_t)off
				       : size);
}

static int control_listing(struct dir_listing *listing)
{
	listing->n_entries = 0;
	listing->entries = calloc(CONTROL_COUNT, sizeof(*listing->entries));
	if (!listing->entries)
		return ENOMEM;
	for (int i = CONTROL_DIR + 1; i < CONTROL_COUNT; i++) {
		struct dir_entry *entry = &listing->entries[listing->n_entries];

		entry->name = strdup(control_name(i));
		if (!entry->name) {
			dir_listing_free(listing);
			return ENOMEM;
		}
		entry->d_type = DT_REG;
		listing->n_entries++;
	}
	return 0;
}

static int open_flags_allowed(struct canonfs_fs *fs, int flags)
{
	if (fs->opts->read_only &&
	    ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)))
		return EROFS;
	return 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_OPEN);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	char path[32];
	int err, fd;

	if (inode->synthetic) {
		err = control_open(fs, inode, fi);
		if (err)
			fuse_reply_err(req, err);
		else
			fuse_reply_open(req, fi);
		return;
	}
	if ((err = open_flags_allowed(fs, fi->flags))) {
		fuse_reply_err(req, err);
		return;
	}
	proc_path(inode->host_fd, path);
	/* O_NOFOLLOW would refuse the magic link itself. */
	fd = open(path, (fi->flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL)) |
				O_CLOEXEC);
	if (fd == -1) {
		fuse_reply_err(req, errno);
		return;
	}
	fi->fh = (uint64_t)fd;
	/* Keep pages across opens only where host edits invalidate them. */
	fi->keep_cache = inode->parent_watched;
	fuse_reply_open(req, fi);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_CREATE);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	struct fuse_entry_param e;
	int err, fd = -1;

	err = check_writable(fs, dir);
	if (!err && !path_is_name(name))
		err = EINVAL;
	if (!err) {
		fd = openat(dir->host_fd, name,
			    fi->flags | O_CREAT | O_NOFOLLOW | O_CLOEXEC, mode);
		if (fd == -1)
			err = errno;
	}
	if (!err)
		err = do_lookup(fs, dir, name, &e);
	if (err) {
		if (fd >= 0)
			close(fd);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)fd;
	fi->keep_cache = dir->watched;
	fuse_reply_create(req, &e, fi);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_READ);
	struct fuse_bufvec buf = FUSE_BUFVEC_INIT(size);

	if (inode_of(req, ino)->synthetic) {
		control_read(req, size, off, fi);
		return;
	}
	buf.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	buf.buf[0].fd = (int)fi->fh;
	buf.buf[0].pos = off;
	fuse_reply_data(req, &buf, FUSE_BUF_SPLICE_MOVE);
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino,
			 struct fuse_bufvec *in, off_t off,
			 struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_WRITE);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	ssize_t written;

	(void)ino;
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = (int)fi->fh;
	out.buf[0].pos = off;
	written = fuse_buf_copy(&out, in, 0);
	if (written < 0)
		fuse_reply_err(req, (int)-written);
	else
		fuse_reply_write(req, (size_t)written);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_FLUSH);
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_RELEASE);
	if (inode_of(req, ino)->synthetic)
		free((void *)(uintptr_t)fi->fh);
	else
		close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_FSYNC);
	int rc;

	(void)ino;
	rc = datasync ? fdatasync((int)fi->fh) : fsync((int)fi->fh);
	fuse_reply_err(req, rc == -1 ? errno : 0);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_OPENDIR);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	struct dir_handle *handle = calloc(1, sizeof(*handle));
	int err;

	if (!handle) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (inode->control)
		err = control_listing(&handle->listing);
	else if (inode->synthetic)
		err = dir_listing_from_layout(
			&fs->layout.dirs[inode->synth_dir], &handle->listing);
	else
		err = dir_listing_read_host(inode->host_fd, &handle->listing);
	if (err) {
		free(handle);
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)handle;
	/* The kernel may keep the listing: a change in a watched
	 * directory invalidates it. */
	if (inode->synthetic || inode->watched) {
		fi->cache_readdir = 1;
		fi->keep_cache = 1;
	}
	fuse_reply_open(req, fi);
}

/* Offsets: 0 ".", 1 "..", then entry i at i + 2; each entry's offset is
 * the position of the next one. */
static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t offset, struct fuse_file_info *fi, bool plus)
{
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, ino);
	struct dir_handle *handle = (struct dir_handle *)(uintptr_t)fi->fh;
	size_t total = handle->listing.n_entries + 2;
	size_t used = 0;
	char *buf = malloc(size);
	int err = 0;

	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	for (size_t pos = offset < 0 ? 0 : (size_t)offset; pos < total; pos++) {
		struct fuse_entry_param e = { 0 };
		const char *name;
		size_t entry_size;

		if (pos < 2) {
			name = pos == 0 ? "." : "..";
			e.attr.st_ino = pos == 0 ? dir->canon_ino
						 : dir->parent_canon_ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			const struct dir_entry *entry =
				&handle->listing.entries[pos - 2];

			name = entry->name;
			if (plus) {
				err = do_lookup(fs, dir, name, &e);
				if (err == ENOENT) { /* gone since opendir */
					err = 0;
					continue;
				}
				if (err)
					break;
			} else {
				e.attr.st_ino = canon_child_ino(dir->canon_ino,
								name);
				e.attr.st_mode = (mode_t)DTTOIF(entry->d_type);
			}
		}

		if (plus)
			entry_size = fuse_add_direntry_plus(req, buf + used,
							    size - used, name,
							    &e, (off_t)pos + 1);
		else
			entry_size = fuse_add_direntry(req, buf + used,
						       size - used, name,
						       &e.attr, (off_t)pos + 1);
		if (entry_size > size - used) {
			/* Did not fit: the kernel never sees this lookup. */
			if (e.ino)
				inode_forget(&fs->inodes,
					     inode_from_nodeid(&fs->inodes,
							       e.ino),
					     1);
			break;
		}
		used += entry_size;
	}

	if (err && used == 0)
		fuse_reply_err(req, err);
	else
		fuse_reply_buf(req, buf, used);
	free(buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t offset, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_READDIR);
	do_readdir(req, ino, size, offset, fi, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t offset, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_READDIRPLUS);
	do_readdir(req, ino, size, offset, fi, true);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_RELEASEDIR);
	struct dir_handle *handle = (struct dir_handle *)(uintptr_t)fi->fh;

	(void)ino;
	dir_listing_free(&handle->listing);
	free(handle);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
			struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_FSYNCDIR);
	struct inode *inode = inode_of(req, ino);
	char path[32];
	int fd, err = 0;

	(void)fi;
	if (inode->synthetic) {
		fuse_reply_err(req, 0);
		return;
	}
	proc_path(inode->host_fd, path);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (datasync ? fdatasync(fd) : fsync(fd)) == -1)
		err = errno;
	if (fd >= 0)
		close(fd);
	fuse_reply_err(req, err);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
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
	proc_path(inode->host_fd, path);
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

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
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

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
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

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	stats_add(&fs_of(req)->stats, STAT_SETXATTR);
	char path[32];
	int err = xattr_path(req, ino, path);

	if (!err && fs_of(req)->opts->read_only)
		err = EROFS;
	if (!err && setxattr(path, name, value, size, flags) == -1)
		err = errno;
	fuse_reply_err(req, err);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	stats_add(&fs_of(req)->stats, STAT_REMOVEXATTR);
	char path[32];
	int err = xattr_path(req, ino, path);

	if (!err && fs_of(req)->opts->read_only)
		err = EROFS;
	if (!err && removexattr(path, name) == -1)
		err = errno;
	fuse_reply_err(req, err);
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
};
