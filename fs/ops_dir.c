/*
 * ops_dir: listings (see include/canonfs/ops_internal.h): OPENDIR,
 * READDIR, READDIRPLUS, RELEASEDIR and FSYNCDIR, served from snapshots
 * (dir.h): one per open directory, or per pass without handles.
 */
#include "canonfs/ops_internal.h"

#include "canonfs/canon.h"
#include "canonfs/control.h"
#include "canonfs/dir.h"
#include "canonfs/prune.h"
#include "canonfs/stats.h"
#include "canonfs/trace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh listing of directory inode, with one reference. */
static int snapshot_new(struct canonfs_fs *fs, struct inode *inode,
			struct dir_snapshot **out)
{
	struct dir_snapshot *snap = calloc(1, sizeof(*snap));
	int err;

	if (!snap)
		return ENOMEM;
	if (inode->control)
		err = control_listing(fs, inode->control, &snap->listing);
	else if (inode->synthetic)
		err = dir_listing_from_layout(
			&fs->layout.dirs[inode->synth_dir], &snap->listing);
	else
		err = dir_listing_read_host(inode->host_fd, &snap->listing);
	/* Out of descriptors: as in prune_open_with_room(). */
	for (int round = 0; !inode->synthetic &&
			    prune_room_made(&fs->inodes, inode, err, round);
	     round++)
		err = dir_listing_read_host(inode->host_fd, &snap->listing);
	if (err) {
		free(snap);
		return err;
	}
	if (!inode->control)
		dir_listing_reorder(&snap->listing, fs->opts->order,
				    fs->opts->order_seed, inode->canon_ino);
	if (snap->listing.n_hidden && trace_active(&fs->trace)) {
		char path[PATH_MAX];

		if (ops_virt_path_of(fs, inode, path, sizeof(path)) == 0)
			trace_warn(&fs->trace, "hidden-devices-in", path, NULL);
	}
	snap->refs = 1;
	__atomic_add_fetch(&fs->inodes.n_listings, 1, __ATOMIC_RELAXED);
	*out = snap;
	return 0;
}

static void snapshot_put(struct canonfs_fs *fs, struct dir_snapshot *snap)
{
	if (inode_snapshot_unhold(&fs->inodes, snap)) {
		__atomic_sub_fetch(&fs->inodes.n_listings, 1, __ATOMIC_RELAXED);
		dir_listing_free(&snap->listing);
		free(snap);
	}
}

/*
 * The listing for a READDIR without a handle (no OPENDIR): a pass starts
 * at offset 0 with a fresh snapshot, kept in the inode for the requests
 * that continue it. Its generation rides in the offsets' high 32 bits, so
 * a pass goes on in its own snapshot even when another one started since.
 */
static int snapshot_for_pass(struct canonfs_fs *fs, struct inode *inode,
			     off_t offset, struct dir_snapshot **out)
{
	uint32_t gen = (uint32_t)((uint64_t)offset >> 32);
	struct dir_snapshot *fresh = NULL, *gone[2] = {NULL, NULL}, *kept;
	uint64_t now = inode_clock_ns();
	int err;

	kept = offset > 0 ? inode_pass_find(&fs->inodes, inode, gen, now)
			  : NULL;
	if (kept) {
		*out = kept;
		return 0;
	}

	/* A new pass, or one whose snapshot is gone (given way to newer
	 * ones, or idle too long): a fresh snapshot. */
	if ((err = snapshot_new(fs, inode, &fresh)))
		return err;
	err = inode_pass_keep(&fs->inodes, inode, fresh, now, gone);
	for (int i = 0; i < 2; i++)
		if (gone[i])
			snapshot_put(fs, gone[i]);
	if (err) /* not kept: this request is served, the pass restarts */
		snapshot_put(fs, fresh);
	*out = fresh;
	return 0;
}

/*
 * A handleless pass asked past its last entry: it is over, and the inode
 * lets go of its snapshot. Kept, snapshots would hold the names of every
 * directory the kernel still knows, which on a large tree is most of the
 * daemon's memory. A late request of the pass (seekdir) gets a fresh one.
 */
static void snapshot_retire(struct canonfs_fs *fs, struct inode *inode,
			    struct dir_snapshot *snap)
{
	if (inode_pass_drop(&fs->inodes, inode, snap))
		snapshot_put(fs, snap);
}

void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_OPENDIR);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	struct dir_snapshot *snap;
	int err;

	if (fs->handleless) {
		/* "Never send OPENDIR again": listings are then cached by the
		 * kernel until a host change invalidates them. */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if ((err = snapshot_new(fs, inode, &snap))) {
		fuse_reply_err(req, err);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)snap;
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
	struct dir_snapshot *snap;
	size_t total, start, used = 0;
	char *buf;
	int err = 0;

	if (fi->fh) {
		snap = (struct dir_snapshot *)(uintptr_t)fi->fh;
		inode_snapshot_hold(&fs->inodes, snap);
	} else if ((err = snapshot_for_pass(fs, dir, offset, &snap))) {
		fuse_reply_err(req, err);
		return;
	}
	total = snap->listing.n_entries + 2;
	start = offset < 0 ? 0 : (size_t)(offset & 0xffffffff);
	if (!fi->fh && start >= total) {
		/* Before the reply: after it, a FORGET may free dir. */
		snapshot_retire(fs, dir, snap);
		snapshot_put(fs, snap);
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		snapshot_put(fs, snap);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Offsets: the snapshot's generation, then the position. */
	uint64_t gen_bits = (uint64_t)snap->gen << 32;

	for (size_t pos = start; pos < total; pos++) {
		struct fuse_entry_param e = {0};
		const char *name;
		size_t entry_size;

		if (pos < 2) {
			name = pos == 0 ? "." : "..";
			e.attr.st_ino = pos == 0 ? dir->canon_ino
						 : dir->parent_canon_ino;
			e.attr.st_mode = S_IFDIR;
		} else {
			const struct dir_entry *entry =
				&snap->listing.entries[pos - 2];

			name = entry->name;
			/* With the table full, names without attributes (no
			 * inode, no descriptor): the kernel looks up what it
			 * needs later. */
			if (plus && !dir->control &&
			    !prune_table_full(&fs->inodes)) {
				err = ops_lookup_entry(
					fs, dir, name, &e,
					used == 0 ? OPS_LOOKUP_WAIT : 0);
				if (err ==
				    ENOENT) { /* gone since the snapshot */
					err = 0;
					continue;
				}
				if (!err)
					trace_empty_file(fs, &e);
				/* Out of descriptors with entries to give: a
				 * short listing is fine, the kernel asks on
				 * from the last offset. */
				if ((err == EMFILE || err == ENFILE) &&
				    used > 0) {
					err = 0;
					break;
				}
			}
			/* Any other failure is this entry's alone (a target
			 * too long to show, say): the name goes without
			 * attributes, and its lookup reports the error. */
			if (!plus || dir->control || e.ino == 0) {
				err = 0;
				memset(&e, 0, sizeof(e));
				e.attr.st_ino =
					canon_child_ino(dir->canon_ino, name);
				e.attr.st_mode = (mode_t)DTTOIF(entry->d_type);
			}
		}

		if (plus)
			entry_size = fuse_add_direntry_plus(
				req, buf + used, size - used, name, &e,
				(off_t)(gen_bits | (pos + 1)));
		else
			entry_size = fuse_add_direntry(
				req, buf + used, size - used, name, &e.attr,
				(off_t)(gen_bits | (pos + 1)));
		if (entry_size > size - used) {
			/* Did not fit: the kernel never sees this lookup. */
			if (e.ino)
				inode_forget(
					&fs->inodes,
					inode_from_nodeid(&fs->inodes, e.ino),
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
	snapshot_put(fs, snap);
}

void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_READDIR);
	do_readdir(req, ino, size, offset, fi, false);
}

void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset,
		    struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_READDIRPLUS);
	do_readdir(req, ino, size, offset, fi, true);
}

void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_RELEASEDIR);
	(void)ino;
	if (fi->fh)
		snapshot_put(fs_of(req),
			     (struct dir_snapshot *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
		 struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_FSYNCDIR);
	struct inode *inode = inode_of(req, ino);
	int fd, err = 0;

	(void)fi;
	if (inode->synthetic) {
		fuse_reply_err(req, 0);
		return;
	}
	fd = iofd_reopen(fs_of(req), inode->host_fd,
			 O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1 || (datasync ? fdatasync(fd) : fsync(fd)) == -1)
		err = errno;
	if (fd >= 0)
		close(fd);
	fuse_reply_err(req, err);
}
