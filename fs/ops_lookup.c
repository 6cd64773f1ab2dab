/*
 * ops_lookup: names (see include/canonfs/ops_internal.h): LOOKUP and
 * FORGET, and where an inode is in the mount.
 */
#include "canonfs/ops_internal.h"

#include "canonfs/canon.h"
#include "canonfs/control.h"
#include "canonfs/layout.h"
#include "canonfs/path.h"
#include "canonfs/prune.h"
#include "canonfs/stats.h"
#include "canonfs/trace.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where inode is in the mount ("/src/pkg/a.go"). Returns 0 or an errno
 * value (ENOENT when it has left its mirror). */
int ops_virt_path_of(struct canonfs_fs *fs, const struct inode *inode,
		     char *out, size_t out_size)
{
	const char *fixed = NULL;

	if (inode->control)
		fixed = "/" CONTROL_DIR_NAME;
	else if (inode->synthetic)
		fixed = fs->layout.dirs[inode->synth_dir].virt_path;
	if (!fixed)
		return layout_virt_path_of_fd(&fs->layout, inode->key.mirror,
					      inode->host_fd, out, out_size);
	if ((size_t)snprintf(out, out_size, "%s", fixed) >= out_size)
		return ENAMETOOLONG;
	return 0;
}

/* Where `name` in directory dir is in the mount. */
int ops_child_virt_path(struct canonfs_fs *fs, const struct inode *dir,
			const char *name, char *out, size_t out_size)
{
	char dir_path[PATH_MAX];
	int err = ops_virt_path_of(fs, dir, dir_path, sizeof(dir_path));

	if (err)
		return err;
	if ((size_t)snprintf(out, out_size, "%s/%s",
			     strcmp(dir_path, "/") ? dir_path : "",
			     name) >= out_size)
		return ENAMETOOLONG;
	return 0;
}

static void fill_entry(struct canonfs_fs *fs, struct inode *inode,
		       struct fuse_entry_param *e, unsigned flags)
{
	inode_mark_handed(inode);
	e->ino = inode_nodeid(&fs->inodes, inode);
	e->attr_timeout = ops_cache_timeout(fs, inode);
	e->entry_timeout = e->attr_timeout;
	/* Past the hard mark a file's name is dropped once used, and its
	 * inode with it (prune.h); directories stay, as in pruning. */
	if (!S_ISDIR(inode->host_type) && !prune_keeps_names(&fs->inodes))
		e->entry_timeout = 0;
	if (flags & OPS_LOOKUP_UNTIMED)
		e->entry_timeout = 0;
}

/* fill_entry for `name` in parent, remembering a timed name of a file
 * (inode.timed_name). */
static void fill_named_entry(struct canonfs_fs *fs, struct inode *parent,
			     const char *name, struct inode *inode,
			     struct fuse_entry_param *e, unsigned flags)
{
	fill_entry(fs, inode, e, flags);
	if (S_ISREG(inode->host_type) && e->entry_timeout > 0)
		inode_note_timed_name(inode,
				      canon_child_ino(parent->canon_ino, name));
}

/* The child of a synthetic directory: a synthetic directory, a mirror
 * root, the control directory or a control file. */
static int lookup_synthetic(struct canonfs_fs *fs, struct inode *parent,
			    const char *name, struct fuse_entry_param *e)
{
	const struct layout_entry *entry;
	struct inode *inode;
	int err;

	if (parent->control == CONTROL_DIR || parent->control == CONTROL_BIN)
		return control_lookup_file(fs, parent->control, name, e);
	if (parent->control)
		return ENOTDIR;

	if (parent == fs->inodes.synthetic[0] &&
	    strcmp(name, CONTROL_DIR_NAME) == 0) {
		inode = fs->inodes.control_dir;
	} else {
		entry = layout_dir_find(&fs->layout.dirs[parent->synth_dir],
					name);
		if (!entry)
			return ENOENT;
		if (entry->synth_dir >= 0)
			inode = fs->inodes.synthetic[entry->synth_dir];
		else
			inode = fs->inodes.mirror_roots[entry->mirror];
	}
	/* All pinned: no lookup to count. */
	if ((err = ops_inode_attr(fs, inode, &e->attr)))
		return err;
	fill_entry(fs, inode, e, 0);
	return 0;
}

/* How often a lookup stats again while host events keep arriving in its
 * directory (each one a reason to doubt the last stat). */
#define LOOKUP_RESTATS 8

/* Look `name` up in `parent` and take one lookup on the result. Out of
 * descriptors, wait for the pruner if may_wait (listings do not). */
int ops_lookup_entry(struct canonfs_fs *fs, struct inode *parent,
		     const char *name, struct fuse_entry_param *e,
		     unsigned flags)
{
	const int open_flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
	struct inode *inode;
	struct stat host;
	uint32_t seq;
	int fd, err;

	memset(e, 0, sizeof(*e));
	if (!path_is_name(name))
		return ENOENT; /* never climb out through ".." */
	if (parent->synthetic)
		return lookup_synthetic(fs, parent, name, e);

	seq = inode_change_seq(&fs->inodes, parent);
	fd = flags & OPS_LOOKUP_WAIT
		     ? prune_open_with_room(&fs->inodes, parent, name,
					    open_flags)
		     : openat(parent->host_fd, name, open_flags);
	if (fd == -1)
		return errno;
	if (fstatat(fd, "", &host, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1) {
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
	/* A host event in parent read since the stat may have been about
	 * this object, looked for before it was in the table and so never
	 * invalidated (the stat may predate a host write): stat again until
	 * no event came between. From here on the watcher finds it. */
	for (int tries = 0; tries < LOOKUP_RESTATS; tries++) {
		uint32_t now = inode_change_seq(&fs->inodes, parent);

		if (now == seq)
			break;
		seq = now;
		if (fstatat(inode->host_fd, "", &host,
			    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1)
			break;
	}
	/* The stat just taken is the object's: no second one. */
	if ((err = ops_inode_attr_from(fs, inode, &host, &e->attr))) {
		inode_forget(&fs->inodes, inode, 1);
		return err;
	}
	if (S_ISREG(host.st_mode) && host.st_nlink > 1 &&
	    trace_active(&fs->trace))
		trace_link_name(fs, inode, parent, name);
	fill_named_entry(fs, parent, name, inode, e, flags);
	return 0;
}

int ops_do_lookup(struct canonfs_fs *fs, struct inode *parent, const char *name,
		  struct fuse_entry_param *e)
{
	return ops_lookup_entry(fs, parent, name, e, OPS_LOOKUP_WAIT);
}

void ops_reply_entry_or_err(fuse_req_t req, int err,
			    const struct fuse_entry_param *e)
{
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, e);
}

void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	stats_add(&fs_of(req)->stats, STAT_LOOKUP);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	struct fuse_entry_param e;
	int err;

	err = ops_do_lookup(fs, dir, name, &e);
	if (!err)
		trace_empty_file(fs, &e);
	if (err == ENOENT && trace_active(&fs->trace) && !dir->control) {
		char path[PATH_MAX];

		if (ops_child_virt_path(fs, dir, name, path, sizeof(path)) == 0)
			trace_probe(&fs->trace, path);
	}
	if (err == ENOENT && (dir->synthetic || dir->watched) &&
	    !dir->control) {
		/* A negative entry the kernel may keep: a creation in a
		 * watched directory invalidates it. Compilers probe many
		 * absent headers. Not in the control directories: bin comes
		 * with a compiler, and the watcher never invalidates names
		 * in .canonfs (a barrier's lookup holds it). */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->watched_timeout;
		err = 0;
	}
	ops_reply_entry_or_err(req, err, &e);
}

void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	stats_add(&fs_of(req)->stats, STAT_FORGET);
	inode_forget(&fs_of(req)->inodes, inode_of(req, ino), nlookup);
	inode_table_trim(&fs_of(req)->inodes);
	fuse_reply_none(req);
}

void op_forget_multi(fuse_req_t req, size_t count,
		     struct fuse_forget_data *forgets)
{
	stats_add(&fs_of(req)->stats, STAT_FORGET);
	for (size_t i = 0; i < count; i++)
		inode_forget(&fs_of(req)->inodes, inode_of(req, forgets[i].ino),
			     forgets[i].nlookup);
	inode_table_trim(&fs_of(req)->inodes);
	fuse_reply_none(req);
}
