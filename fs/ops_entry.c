/*
 * ops_entry: entry changes (see include/canonfs/ops_internal.h): MKNOD,
 * MKDIR, SYMLINK, LINK, UNLINK, RMDIR and RENAME, each recorded as the
 * daemon's own before it is made (own.h).
 */
#include "canonfs/ops_internal.h"

#include "canonfs/invalidate.h"
#include "canonfs/layout.h"
#include "canonfs/own.h"
#include "canonfs/stats.h"
#include "canonfs/symlink.h"
#include "canonfs/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

/* Before the daemon changes an entry of dir: the watcher may see the
 * event before the call returns, so it must know first (see own.h). */
void ops_expect_own(struct canonfs_fs *fs, const struct inode *dir,
		    const char *name, uint32_t kind)
{
	if (dir->watched)
		own_record(&fs->own, dir->key.dev, dir->key.ino, name, kind);
}

/* The change failed: there will be no event. */
void ops_cancel_own(struct canonfs_fs *fs, const struct inode *dir,
		    const char *name, uint32_t kind)
{
	if (dir->watched)
		own_cancel(&fs->own, dir->key.dev, dir->key.ino, name, kind);
}

/*
 * After an entry change the daemon made (ops_expect_own was called before the
 * call): rc is the call's result. A failure takes the record back and
 * gives errno; a success is traced as `traced` ("created", "removed").
 */
static int settle_own(struct canonfs_fs *fs, const struct inode *dir,
		      const char *name, uint32_t kind, int rc,
		      const char *traced)
{
	int err = rc == -1 ? errno : 0;

	if (err)
		ops_cancel_own(fs, dir, name, kind);
	else
		trace_change(fs, dir, name, traced);
	return err;
}

/* Writes need a host directory and a read-write mount. */
int ops_check_writable(fuse_req_t req, const struct inode *inode)
{
	struct canonfs_fs *fs = fs_of(req);
	uid_t caller = fuse_req_ctx(req)->uid;

	if (fs->opts->read_only || inode->synthetic ||
	    fs->layout.mirrors[inode->key.mirror].read_only)
		return EROFS;
	/* Where other users reach the mount (allow_other, allow_root), the
	 * kernel checks them against the shown modes, which say nothing of
	 * the host's; and the daemon writes with its own rights. Those are
	 * the mounting user's to use, and root's: anyone else shown as the
	 * owner (-o uid=) would write what the host forbids them. */
	if (fs->opts->shared && caller != 0 && caller != geteuid())
		return EACCES;
	return 0;
}

void op_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
	      dev_t rdev)
{
	stats_add(&fs_of(req)->stats, STAT_MKNOD);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	struct fuse_entry_param e;
	int err;

	(void)rdev;
	err = ops_check_writable(req, dir);
	/* Devices, FIFOs and sockets could never be shown. */
	if (!err && !S_ISREG(mode))
		err = EPERM;
	if (!err) {
		ops_expect_own(fs, dir, name, IN_CREATE);
		err = settle_own(fs, dir, name, IN_CREATE,
				 mknodat(dir->host_fd, name, mode, 0),
				 "created");
	}
	if (!err)
		err = ops_do_lookup(fs, dir, name, &e);
	ops_reply_entry_or_err(req, err, &e);
}

void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	stats_add(&fs_of(req)->stats, STAT_MKDIR);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	struct fuse_entry_param e;
	int err;

	err = ops_check_writable(req, dir);
	if (!err) {
		ops_expect_own(fs, dir, name, IN_CREATE);
		err = settle_own(fs, dir, name, IN_CREATE,
				 mkdirat(dir->host_fd, name, mode), "created");
	}
	if (!err)
		err = ops_do_lookup(fs, dir, name, &e);
	ops_reply_entry_or_err(req, err, &e);
}

void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		const char *name)
{
	stats_add(&fs_of(req)->stats, STAT_SYMLINK);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	char dir_virt[PATH_MAX], stored[PATH_MAX];
	struct fuse_entry_param e;
	int err;

	err = ops_check_writable(req, dir);
	if (!err)
		err = layout_virt_path_of_fd(&fs->layout, dir->key.mirror,
					     dir->host_fd, dir_virt,
					     sizeof(dir_virt));
	if (!err)
		err = symlink_to_host(
			link, dir_virt, dir->key.mirror, fs->layout.mountpoint,
			fs->layout.spellings, fs->layout.n_spellings, stored,
			sizeof(stored));
	if (!err) {
		ops_expect_own(fs, dir, name, IN_CREATE);
		err = settle_own(fs, dir, name, IN_CREATE,
				 symlinkat(stored, dir->host_fd, name),
				 "created");
	}
	if (!err)
		err = ops_do_lookup(fs, dir, name, &e);
	ops_reply_entry_or_err(req, err, &e);
}

/*
 * A name of a file with other names is going (unlinked or renamed over).
 * The kernel keeps the link count we show, 1, and takes one off when a
 * name goes (fuse_entry_unlinked): the file's inode is left with 0, and
 * link(2) refuses such an inode with ENOENT without asking us (vfs_link)
 * until a reply about it sets the count again. A name the kernel holds
 * with no timeout (the one link(2) made: git's objects, `ln a b && rm a`)
 * is looked up at its next use, which gives the count back. A timed one
 * (inode.timed_name) is not: then the kernel is made to look every name
 * up again (a lookup each for the names used next: 5,000 cost 0.6 s
 * once), before the reply, so that a link(2) right after the removal
 * finds them stale; the notification takes none of the locks the kernel
 * holds now. Kernels before 6.16 refuse it, and keep the old ENOENT.
 */
struct going_name {
	bool linked;	      /* a regular file with other names */
	struct inode_key key; /* its host object */
	uint64_t id;	      /* canon_child_ino of the name */
	struct inode *inode;  /* its inode, when the kernel holds one */
	bool own_change;      /* ops_own_write_end is due for it */
};

/*
 * The link count change of a file with a watch of its own is reported to
 * the watcher (IN_ATTRIB), which would then invalidate the inode: that
 * makes the kernel drop the attributes of a lookup under way, the one that
 * was to give the count back (fuse_reverse_inval_inode moves attr_version
 * on), and a link(2) right after an unlink fails as before, one time in
 * six. The kernel knows of the change already (it set the ctime): the
 * event is recorded as ours, before the call.
 */
static void expect_link_count_change(struct canonfs_fs *fs,
				     const struct inode_key *key,
				     const struct stat *st)
{
	if (inode_file_watched(&fs->inodes, key))
		own_record_link_count(&fs->own, key->dev, key->ino,
				      canon_mode(st->st_mode), st);
}

/*
 * A link or an unlink of ours moves a file's ctime, which is what tells
 * the watcher our writes from the host's (own.h): an event of a write of
 * ours read after it would look foreign, and its invalidation race the
 * lookup that gives the kernel the link count back, as above (1 run of the
 * relink tests in 5 under two CPU hogs). So the change is recorded as ours,
 * as a write is.
 */
static bool own_change_begin(struct canonfs_fs *fs, struct inode *inode)
{
	struct stat before;

	return inode && S_ISREG(inode->host_type) &&
	       ops_own_write_begin(fs, inode, inode->host_fd, &before);
}

/* The name `name` in dir is going: what relink_other_names needs, with
 * the link count change expected. */
static struct going_name going_name(struct canonfs_fs *fs,
				    const struct inode *dir, const char *name)
{
	struct going_name g = {0};
	struct stat st;

	if (fstatat(dir->host_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	    S_ISREG(st.st_mode) && st.st_nlink > 1) {
		g.linked = true;
		g.key = (struct inode_key){.dev = st.st_dev,
					   .ino = st.st_ino,
					   .mirror = dir->key.mirror};
		g.id = canon_child_ino(dir->canon_ino, name);
		expect_link_count_change(fs, &g.key, &st);
		g.inode = inode_find(&fs->inodes, &g.key);
		g.own_change = own_change_begin(fs, g.inode);
	}
	return g;
}

/* The name g is gone: have the kernel give the link count back. */
static void relink_other_names(struct canonfs_fs *fs,
			       const struct going_name *g)
{
	if (!g->linked || !inode_timed_name_gone(&fs->inodes, &g->key, g->id))
		return;
	stats_add(&fs->stats, STAT_EXPIRE_NAMES);
	invalidator_expire_names(fs->inv);
}

/* The removal of g is over (err: how it went). */
static void gone(struct canonfs_fs *fs, const struct going_name *g, int err)
{
	if (g->own_change)
		ops_own_write_end(fs, g->inode, g->inode->host_fd);
	if (!err)
		relink_other_names(fs, g);
}

/* A hard link to inode's object at newname in dir; -1 with errno. */
static int link_host(const struct inode *inode, const struct inode *dir,
		     const char *newname)
{
	char path[32];

	/* AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH; the magic link of /proc
	 * does the same for everyone else. */
	if (linkat(inode->host_fd, "", dir->host_fd, newname, AT_EMPTY_PATH) ==
	    0)
		return 0;
	ops_proc_path(inode->host_fd, path);
	return linkat(AT_FDCWD, path, dir->host_fd, newname, AT_SYMLINK_FOLLOW);
}

void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
	     const char *newname)
{
	stats_add(&fs_of(req)->stats, STAT_LINK);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	struct inode *dir = inode_of(req, newparent);
	struct fuse_entry_param e;
	int err;

	err = ops_check_writable(req, dir);
	if (!err && inode->key.mirror != dir->key.mirror)
		err = EXDEV;
	if (!err) {
		struct stat st;
		bool own_change;

		if (fstat(inode->host_fd, &st) == 0 && S_ISREG(st.st_mode))
			expect_link_count_change(fs, &inode->key, &st);
		own_change = own_change_begin(fs, inode);
		ops_expect_own(fs, dir, newname, IN_CREATE);
		err = settle_own(fs, dir, newname, IN_CREATE,
				 link_host(inode, dir, newname), "created");
		if (own_change)
			ops_own_write_end(fs, inode, inode->host_fd);
	}
	if (!err)
		err = ops_lookup_entry(fs, dir, newname, &e,
				       OPS_LOOKUP_WAIT | OPS_LOOKUP_UNTIMED);
	ops_reply_entry_or_err(req, err, &e);
}

static void remove_entry(fuse_req_t req, fuse_ino_t parent, const char *name,
			 int flags)
{
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	struct going_name going = {0};
	int err;

	err = ops_check_writable(req, dir);
	if (!err) {
		if (!flags)
			going = going_name(fs, dir, name);
		ops_expect_own(fs, dir, name, IN_DELETE);
		err = settle_own(fs, dir, name, IN_DELETE,
				 unlinkat(dir->host_fd, name, flags),
				 "removed");
	}
	gone(fs, &going, err);
	fuse_reply_err(req, err);
}

void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	stats_add(&fs_of(req)->stats, STAT_UNLINK);
	remove_entry(req, parent, name, 0);
}

void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	stats_add(&fs_of(req)->stats, STAT_RMDIR);
	remove_entry(req, parent, name, AT_REMOVEDIR);
}

/* The events of a rename: from/to, both ways for an exchange; with
 * cancel, take them back. */
static void expect_rename(struct canonfs_fs *fs, const struct inode *dir,
			  const char *name, const struct inode *newdir,
			  const char *newname, unsigned int flags, bool cancel)
{
	void (*note)(struct canonfs_fs *, const struct inode *, const char *,
		     uint32_t) = cancel ? ops_cancel_own : ops_expect_own;

	note(fs, dir, name, IN_MOVED_FROM);
	note(fs, newdir, newname, IN_MOVED_TO);
	if (flags & RENAME_EXCHANGE) {
		note(fs, newdir, newname, IN_MOVED_FROM);
		note(fs, dir, name, IN_MOVED_TO);
	}
}

/*
 * A symlink to an absolute host path inside a mirror is shown relative to
 * where it sits, and the kernel keeps what it was shown. After a rename
 * through the mount moved a symlink, or a directory that may hold some,
 * the watcher makes the kernel forget the symlink targets it holds (not
 * this thread: a readlink in flight holds the page the invalidation
 * waits for, and its READLINK may need this thread; single-threaded, the
 * rename does not wait for it either).
 */
static void forget_moved_link_targets(struct canonfs_fs *fs,
				      const struct inode *newdir,
				      const char *newname,
				      const struct inode *dir, const char *name,
				      unsigned int flags)
{
	struct stat st;

	if ((fstatat(newdir->host_fd, newname, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	     (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode))) ||
	    ((flags & RENAME_EXCHANGE) &&
	     fstatat(dir->host_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	     (S_ISDIR(st.st_mode) || S_ISLNK(st.st_mode))))
		invalidator_forget_links(fs->inv, !fs->opts->single_thread);
}

void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
	       fuse_ino_t newparent, const char *newname, unsigned int flags)
{
	stats_add(&fs_of(req)->stats, STAT_RENAME);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	struct inode *newdir = inode_of(req, newparent);
	struct going_name replaced = {0};
	int err;

	err = ops_check_writable(req, dir);
	if (!err)
		err = ops_check_writable(req, newdir);
	/* An inode belongs to one mirror; moving it to another is a copy. */
	if (!err && dir->key.mirror != newdir->key.mirror)
		err = EXDEV;
	if (!err) {
		if (!(flags & RENAME_EXCHANGE))
			replaced = going_name(fs, newdir, newname);
		expect_rename(fs, dir, name, newdir, newname, flags, false);
		if (renameat2(dir->host_fd, name, newdir->host_fd, newname,
			      flags) == -1) {
			err = errno;
			expect_rename(fs, dir, name, newdir, newname, flags,
				      true);
		}
	}
	gone(fs, &replaced, err);
	if (!err)
		forget_moved_link_targets(fs, newdir, newname, dir, name,
					  flags);
	if (!err && trace_active(&fs->trace)) {
		char from[PATH_MAX], to[PATH_MAX];

		if (ops_child_virt_path(fs, dir, name, from, sizeof(from)) ==
			    0 &&
		    ops_child_virt_path(fs, newdir, newname, to, sizeof(to)) ==
			    0)
			trace_rename(&fs->trace, from, to);
	}
	fuse_reply_err(req, err);
}
