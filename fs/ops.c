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
#include "canonfs/goenv.h"
#include "canonfs/hostpath.h"
#include "canonfs/invalidate.h"
#include "canonfs/path.h"
#include "canonfs/prune.h"
#include "canonfs/symlink.h"

#include <openssl/evp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <sys/inotify.h>
#include <sys/xattr.h>
#include <unistd.h>

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

/* open(proc_path(fd), flags), resolving one component instead of four
 * from the daemon's fd directory held open. The first read of each file
 * reopens it: in a first build after mounting, reopens were 16% of the
 * daemon's time, and this saves 2-3 us of about 6 per reopen. */
static int reopen(const struct canonfs_fs *fs, int fd, int flags)
{
	char name[32];

	if (fs->proc_fd_dir < 0) {
		proc_path(fd, name);
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
static int open_checked(const struct canonfs_fs *fs, const struct inode *inode,
			int flags)
{
	char path[PATH_MAX];
	struct stat st;
	int fd, err;

	if (!fs->host_checks ||
	    hostpath_of_fd(inode->host_fd, path, sizeof(path)) ||
	    path[0] != '/')
		return reopen(fs, inode->host_fd, flags);
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
	return reopen(fs, inode->host_fd, flags);
}

/* Where inode is in the mount ("/src/pkg/a.go"). Returns 0 or an errno
 * value (ENOENT when it has left its mirror). */
static int virt_path_of(struct canonfs_fs *fs, const struct inode *inode,
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
static int child_virt_path(struct canonfs_fs *fs, const struct inode *dir,
			   const char *name, char *out, size_t out_size)
{
	char dir_path[PATH_MAX];
	int err = virt_path_of(fs, dir, dir_path, sizeof(dir_path));

	if (err)
		return err;
	if ((size_t)snprintf(out, out_size, "%s/%s",
			     strcmp(dir_path, "/") ? dir_path : "",
			     name) >= out_size)
		return ENAMETOOLONG;
	return 0;
}

/* Trace an output (created, written, removed) of name in dir, or of the
 * inode itself when name is NULL. */
static void trace_change(struct canonfs_fs *fs, const struct inode *inode,
			 const char *name, const char *what)
{
	char path[PATH_MAX];

	if (!trace_active(&fs->trace))
		return;
	if ((name ? child_virt_path(fs, inode, name, path, sizeof(path))
		  : virt_path_of(fs, inode, path, sizeof(path))) == 0)
		trace_output(&fs->trace, what, path);
}

/* The mark of the trace's current epoch in an inode's *_traced fields. */
static uint64_t trace_mark(const struct trace *t)
{
	return __atomic_load_n(&t->epoch, __ATOMIC_RELAXED) + 1;
}

/* The file was created, written or truncated through the mount: what is
 * read of it from now on is the build's own output, not an input. */
static void trace_made(struct canonfs_fs *fs, struct inode *inode)
{
	if (inode && trace_active(&fs->trace))
		inode->made_traced = trace_mark(&fs->trace);
}

/* The first read of a file since the trace started: record it with its
 * digest (fd -1: an empty one). Later reads of it may come from the page
 * cache, never to us. */
static void trace_first_read(struct canonfs_fs *fs, struct inode *inode, int fd)
{
	struct trace *t = &fs->trace;
	uint64_t mark = trace_mark(t);
	const char *all[INODE_LINK_NAMES + 1];
	char path[PATH_MAX], **names = NULL;
	size_t n = 0, k = 0;
	struct stat host;

	if (!trace_active(t) || inode->read_traced == mark ||
	    inode->made_traced == mark)
		return;
	inode->read_traced = mark;
	if (fstat(inode->host_fd, &host) == -1)
		return;
	if (virt_path_of(fs, inode, path, sizeof(path)) == 0)
		all[k++] = path;
	/* Through which name, the kernel hides: under each, hashed once. */
	if (host.st_nlink > 1)
		names = inode_copy_link_names(&fs->inodes, inode, &n);
	for (size_t i = 0; i < n; i++)
		all[k++] = names[i];
	trace_read(t, all, k, fd, canon_mode(host.st_mode) & 07777);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* While tracing, a file with several links looked up by dir/name: one
 * more name its reads are recorded under, now if it was read already. */
static void trace_link_name(struct canonfs_fs *fs, struct inode *inode,
			    const struct inode *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat host;
	int fd;

	if (child_virt_path(fs, dir, name, path, sizeof(path)) ||
	    !inode_add_link_name(&fs->inodes, inode, path) ||
	    inode->read_traced != trace_mark(&fs->trace) ||
	    inode->made_traced == trace_mark(&fs->trace))
		return;
	fd = reopen(fs, inode->host_fd, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &host) == 0)
		trace_read(&fs->trace, (const char *const[]){path}, 1,
			   host.st_size ? fd : -1,
			   canon_mode(host.st_mode) & 07777);
	if (fd >= 0)
		close(fd);
}

static int host_stat(const struct inode *inode, struct stat *st)
{
	if (fstatat(inode->host_fd, "", st,
		    AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) == -1)
		return errno;
	return 0;
}

/* The target of a host symlink as the canonical view shows it. */
static int shown_link_target(struct canonfs_fs *fs, const struct inode *inode,
			     char *out, size_t out_size)
{
	char target[PATH_MAX], virt_path[PATH_MAX], virt_dir[PATH_MAX];
	ssize_t len;
	int err;

	len = readlinkat(inode->host_fd, "", target, sizeof(target) - 1);
	if (len < 0)
		return errno;
	target[len] = '\0';

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

/*
 * -o mtime=content: times from the digest of a file's bytes or of a
 * symlink's shown target; directories keep the epoch canon_attr gave them.
 * A file that cannot be read keeps it too (a build cannot read it either).
 */
static void content_times(struct canonfs_fs *fs, const struct inode *inode,
			  const struct stat *host, const char *link_target,
			  struct stat *out)
{
	unsigned char digest[32];
	int err = -1;

	if (S_ISREG(host->st_mode))
		err = digests_get(fs->digests, inode->host_fd, host, digest);
	else if (S_ISLNK(host->st_mode))
		err = EVP_Digest(link_target, strlen(link_target), digest,
				 NULL, EVP_sha256(), NULL)
			      ? 0
			      : ENOMEM;
	if (err)
		return;
	canon_content_time(digest, &out->st_mtim);
	out->st_atim = out->st_mtim;
	out->st_ctim = out->st_mtim;
}

/* The attributes to show for inode whose host object was just stat'ed
 * into host (NULL: stat it now). */
static int inode_attr_from(struct canonfs_fs *fs, const struct inode *inode,
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
		out->st_size = (off_t)inode->control_len;
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
	if (fs->opts->rules.time_mode == CANON_TIME_CONTENT)
		content_times(fs, inode, &host, target, out);
	return 0;
}

static int inode_attr(struct canonfs_fs *fs, const struct inode *inode,
		      struct stat *out)
{
	return inode_attr_from(fs, inode, NULL, out);
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
	inode_mark_handed(inode);
	e->ino = inode_nodeid(&fs->inodes, inode);
	e->attr_timeout = cache_timeout(fs, inode);
	e->entry_timeout = e->attr_timeout;
}

/* What a control file says, made now. Returns 0 or an errno value. */
static int control_contents(struct canonfs_fs *fs, enum control_node node,
			    char **data, size_t *len)
{
	char text[4096];
	size_t used = 0, host_inodes, watches, listings;
	uint64_t watches_failed;
	unsigned long hashed, cached;

	switch (node) {
	case CONTROL_STATS:
		used = stats_format(&fs->stats, text, sizeof(text));
		pthread_mutex_lock(&fs->inodes.lock);
		host_inodes = fs->inodes.n_host;
		watches = HASH_COUNT(fs->inodes.watches);
		watches_failed = fs->inodes.watch_failures;
		listings = __atomic_load_n(&fs->inodes.n_listings,
					   __ATOMIC_RELAXED);
		pthread_mutex_unlock(&fs->inodes.lock);
		digests_counts(fs->digests, &hashed, &cached);
		snprintf(text + used, sizeof(text) - used,
			 "inodes %zu\nwatches %zu\nwatches-failed %llu\n"
			 "listings %zu\ndigests-hashed %lu\n"
			 "digests-cached %lu\n",
			 host_inodes, watches,
			 (unsigned long long)watches_failed, listings, hashed,
			 cached);
		break;
	case CONTROL_BARRIER:
		invalidator_barrier(fs->inv);
		snprintf(text, sizeof(text), "applied\n");
		break;
	case CONTROL_ENV:
		/* Made fresh each time: the header digest follows the host. */
		return goenv_format(&fs->layout, &fs->sys, fs->opts,
				    fs->digests, data, len);
	/* The trace files act when read (control_act), not here: a stat,
	 * or `ls -l` of the directory, must not start or stop anything. */
	case CONTROL_TRACE_START:
		if (!fs->trace.base)
			return ENOENT; /* not a tracing mount */
		snprintf(text, sizeof(text), "started\n");
		break;
	case CONTROL_TRACE_STOP:
		if (!fs->trace.base)
			return ENOENT;
		snprintf(text, sizeof(text), "stopped\n");
		break;
	case CONTROL_TRACE_FLUSH:
		if (!fs->trace.base)
			return ENOENT;
		snprintf(text, sizeof(text), "flushed %s\n", fs->trace.base);
		break;
	default:
		return ENOENT;
	}
	*len = strlen(text);
	*data = strdup(text);
	return *data ? 0 : ENOMEM;
}

static pthread_mutex_t control_act_lock = PTHREAD_MUTEX_INITIALIZER;

/* What reading a trace file does, at the first read of the inode a lookup
 * made (each `cat` looks the file up again). Returns 0 or an errno value. */
static int control_act(struct canonfs_fs *fs, struct inode *inode)
{
	int err = 0;

	/* Once per inode; every read gets the outcome (the kernel reads
	 * again after an error, which must not then pass for success). A
	 * lock of its own: the trace takes its own within. */
	pthread_mutex_lock(&control_act_lock);
	if (inode->control_acted) {
		err = inode->control_err;
		pthread_mutex_unlock(&control_act_lock);
		return err;
	}
	inode->control_acted = true;
	switch (inode->control) {
	case CONTROL_TRACE_START:
		trace_start(&fs->trace);
		break;
	case CONTROL_TRACE_STOP:
		trace_stop(&fs->trace);
		break;
	case CONTROL_TRACE_FLUSH:
		err = trace_flush(&fs->trace) ? EIO : 0;
		break;
	default:
		break;
	}
	inode->control_err = err;
	pthread_mutex_unlock(&control_act_lock);
	/* Reads served from the kernel's cache would go unseen. */
	if (inode->control == CONTROL_TRACE_START)
		invalidator_forget_all(fs->inv);
	return err;
}

/*
 * A control file is a new inode at every lookup, with its contents made
 * then and a zero timeout: the kernel can cache nothing stale, with or
 * without OPEN requests, and a lookup of "barrier" is the barrier. The
 * trace files act at their first read instead (control_act).
 */
static int lookup_control_file(struct canonfs_fs *fs, const char *name,
			       struct fuse_entry_param *e)
{
	enum control_node node = control_file_by_name(name);
	struct inode *inode;
	size_t len;
	char *data;
	int err;

	if (node == CONTROL_NONE)
		return ENOENT;
	if ((err = control_contents(fs, node, &data, &len)))
		return err;
	inode = inode_new_control_file(&fs->inodes, node, data, len);
	if (!inode)
		return ENOMEM;
	inode_attr(fs, inode, &e->attr);
	e->ino = inode_nodeid(&fs->inodes, inode);
	e->attr_timeout = 0;
	e->entry_timeout = 0;
	return 0;
}

/* The child of a synthetic directory: a synthetic directory, a mirror
 * root, the control directory or a control file. */
static int lookup_synthetic(struct canonfs_fs *fs, struct inode *parent,
			    const char *name, struct fuse_entry_param *e)
{
	const struct layout_entry *entry;
	struct inode *inode;
	int err;

	if (parent->control == CONTROL_DIR)
		return lookup_control_file(fs, name, e);
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
	if ((err = inode_attr(fs, inode, &e->attr)))
		return err;
	fill_entry(fs, inode, e);
	return 0;
}

/* How often a lookup stats again while host events keep arriving in its
 * directory (each one a reason to doubt the last stat). */
#define LOOKUP_RESTATS 8

/* Look `name` up in `parent` and take one lookup on the result. Out of
 * descriptors, wait for the pruner if may_wait (listings do not). */
static int lookup_entry(struct canonfs_fs *fs, struct inode *parent,
			const char *name, struct fuse_entry_param *e,
			bool may_wait)
{
	const int flags = O_PATH | O_NOFOLLOW | O_CLOEXEC;
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
	fd = may_wait ? prune_open_with_room(&fs->inodes, parent, name, flags)
		      : openat(parent->host_fd, name, flags);
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
	if ((err = inode_attr_from(fs, inode, &host, &e->attr))) {
		inode_forget(&fs->inodes, inode, 1);
		return err;
	}
	if (S_ISREG(host.st_mode) && host.st_nlink > 1 &&
	    trace_active(&fs->trace))
		trace_link_name(fs, inode, parent, name);
	fill_entry(fs, inode, e);
	return 0;
}

/* Nothing is ever read from an empty file (the kernel knows its size): a
 * build that opens one shows only when the kernel looks it up. */
static void trace_empty_file(struct canonfs_fs *fs,
			     const struct fuse_entry_param *e)
{
	if (trace_active(&fs->trace) && S_ISREG(e->attr.st_mode) &&
	    e->attr.st_size == 0)
		trace_first_read(fs, inode_from_nodeid(&fs->inodes, e->ino),
				 -1);
}

static int do_lookup(struct canonfs_fs *fs, struct inode *parent,
		     const char *name, struct fuse_entry_param *e)
{
	return lookup_entry(fs, parent, name, e, true);
}

static void reply_entry_or_err(fuse_req_t req, int err,
			       const struct fuse_entry_param *e)
{
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, e);
}

/* Before the daemon changes an entry of dir: the watcher may see the
 * event before the call returns, so it must know first (see own.h). */
static void expect_own(struct canonfs_fs *fs, const struct inode *dir,
		       const char *name, uint32_t kind)
{
	if (dir->watched)
		own_record(&fs->own, dir->key.dev, dir->key.ino, name, kind);
}

/* The change failed: there will be no event. */
static void cancel_own(struct canonfs_fs *fs, const struct inode *dir,
		       const char *name, uint32_t kind)
{
	if (dir->watched)
		own_cancel(&fs->own, dir->key.dev, dir->key.ino, name, kind);
}

/*
 * After an entry change the daemon made (expect_own was called before the
 * call): rc is the call's result. A failure takes the record back and
 * gives errno; a success is traced as `traced` ("created", "removed").
 */
static int settle_own(struct canonfs_fs *fs, const struct inode *dir,
		      const char *name, uint32_t kind, int rc,
		      const char *traced)
{
	int err = rc == -1 ? errno : 0;

	if (err)
		cancel_own(fs, dir, name, kind);
	else
		trace_change(fs, dir, name, traced);
	return err;
}

/* Writes need a host directory and a read-write mount. */
static int check_writable(fuse_req_t req, const struct inode *inode)
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
	if (fs->opts->max_read)
		conn->max_read = fs->opts->max_read;
	/* Here, not before: /proc/self is the process that serves. */
	fs->proc_fd_dir =
		open("/proc/self/fd", O_PATH | O_DIRECTORY | O_CLOEXEC);
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	stats_add(&fs_of(req)->stats, STAT_LOOKUP);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	struct fuse_entry_param e;
	int err;

	err = do_lookup(fs, dir, name, &e);
	if (!err)
		trace_empty_file(fs, &e);
	if (err == ENOENT && trace_active(&fs->trace) && !dir->control) {
		char path[PATH_MAX];

		if (child_virt_path(fs, dir, name, path, sizeof(path)) == 0)
			trace_probe(&fs->trace, path);
	}
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
	inode_table_trim(&fs_of(req)->inodes);
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count,
			    struct fuse_forget_data *forgets)
{
	stats_add(&fs_of(req)->stats, STAT_FORGET);
	for (size_t i = 0; i < count; i++)
		inode_forget(&fs_of(req)->inodes, inode_of(req, forgets[i].ino),
			     forgets[i].nlookup);
	inode_table_trim(&fs_of(req)->inodes);
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
	struct stat host;

	if (inode->synthetic) {
		err = inode_attr(fs, inode, &attr);
	} else if (!(err = host_stat(inode, &host))) {
		/* Linked since it was looked up: watch it itself. */
		if (S_ISREG(host.st_mode) && host.st_nlink > 1)
			inode_watch_links(&fs->inodes, inode, host.st_nlink);
		err = inode_attr_from(fs, inode, &host, &attr);
	}
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &attr, cache_timeout(fs, inode));
}

static int apply_setattr(struct inode *inode, const struct stat *attr,
			 int to_set, const struct fuse_file_info *fi)
{
	/* A handle of 0 is none: the kernel sends no OPEN in handle-less
	 * mode. */
	int fd = fi && fi->fh ? (int)fi->fh : -1;
	char path[32];

	proc_path(inode->host_fd, path);
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

/* A stat taken just before a write can predate another write of ours that
 * finishes first; own_write_before then asks for a fresh one. */
#define OWN_WRITE_STAT_TRIES 4

/* Before a write or truncate of ours through fd (own.h; an O_PATH
 * descriptor will do): true when it is recorded, and own_write_end is then
 * due. The stat it took goes to *host. */
static bool own_write_begin(struct canonfs_fs *fs, struct inode *inode, int fd,
			    struct stat *host)
{
	for (int tries = 1;; tries++) {
		if (fstat(fd, host) == -1)
			return false;
		if (own_write_before(&fs->own, &inode->own_write, host,
				     tries == OWN_WRITE_STAT_TRIES))
			return true;
	}
}

static void own_write_end(struct canonfs_fs *fs, struct inode *inode, int fd)
{
	struct stat host;

	own_write_after(&fs->own, &inode->own_write,
			fstat(fd, &host) == 0 ? &host : NULL);
}

static int do_setattr(struct canonfs_fs *fs, struct inode *inode,
		      const struct stat *attr, int to_set,
		      const struct fuse_file_info *fi)
{
	/* A truncate is a modification of ours, like a write. */
	struct stat host;
	bool sized = (to_set & FUSE_SET_ATTR_SIZE) &&
		     own_write_begin(fs, inode, inode->host_fd, &host);
	int err = apply_setattr(inode, attr, to_set, fi);

	if (sized)
		own_write_end(fs, inode, inode->host_fd);
	return err;
}

/*
 * chmod and utimes cause IN_ATTRIB, which the watcher may read before the
 * call returns: record first the canonical mode and size the change will
 * leave (the reply gives them to the kernel). A wrong guess or a failed
 * call costs nothing: a record only ever skips an event that leaves the
 * view as it is. Host times are shown in passthrough mode, where every
 * event counts.
 */
static void expect_own_attr(struct canonfs_fs *fs, const struct inode *inode,
			    const struct stat *attr, int to_set)
{
	struct stat host;
	mode_t mode;

	if ((to_set & FUSE_SET_ATTR_SIZE) || !inode->parent_watched ||
	    fs->opts->rules.time_mode == CANON_TIME_PASSTHROUGH ||
	    host_stat(inode, &host))
		return;
	mode = to_set & FUSE_SET_ATTR_MODE
		       ? (host.st_mode & S_IFMT) | (attr->st_mode & 07777)
		       : host.st_mode;
	own_record_attr(&fs->own, inode->key.dev, inode->key.ino,
			canon_mode(mode),
			S_ISREG(host.st_mode) ? host.st_size : 0);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_SETATTR);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	struct stat out;
	int err;

	err = check_writable(req, inode);
	if (!err)
		expect_own_attr(fs, inode, attr, to_set);
	if (!err)
		err = do_setattr(fs, inode, attr, to_set, fi);
	/* A chmod of ours is not seen by the watcher (own.h): the kept
	 * descriptors are checked again here. */
	if (!err && (to_set & FUSE_SET_ATTR_MODE) && fs->host_checks)
		inode_mark_access_changed(inode);
	if (!err)
		err = inode_attr(fs, inode, &out);
	if (!err && (to_set & FUSE_SET_ATTR_SIZE)) {
		trace_made(fs, inode);
		trace_change(fs, inode, NULL, "written");
	}
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

	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	char path[PATH_MAX];

	err = shown_link_target(fs, inode, target, sizeof(target));
	/* Once per epoch: the kernel keeps the target until a change. */
	if (!err && trace_active(&fs->trace) &&
	    inode->read_traced != trace_mark(&fs->trace)) {
		inode->read_traced = trace_mark(&fs->trace);
		if (virt_path_of(fs, inode, path, sizeof(path)) == 0)
			trace_readlink(&fs->trace, path, target);
	}
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
	err = check_writable(req, dir);
	/* Devices, FIFOs and sockets could never be shown. */
	if (!err && !S_ISREG(mode))
		err = EPERM;
	if (!err) {
		expect_own(fs, dir, name, IN_CREATE);
		err = settle_own(fs, dir, name, IN_CREATE,
				 mknodat(dir->host_fd, name, mode, 0),
				 "created");
	}
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

	err = check_writable(req, dir);
	if (!err) {
		expect_own(fs, dir, name, IN_CREATE);
		err = settle_own(fs, dir, name, IN_CREATE,
				 mkdirat(dir->host_fd, name, mode), "created");
	}
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

	err = check_writable(req, dir);
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
		expect_own(fs, dir, name, IN_CREATE);
		err = settle_own(fs, dir, name, IN_CREATE,
				 symlinkat(stored, dir->host_fd, name),
				 "created");
	}
	if (!err)
		err = do_lookup(fs, dir, name, &e);
	reply_entry_or_err(req, err, &e);
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
	proc_path(inode->host_fd, path);
	return linkat(AT_FDCWD, path, dir->host_fd, newname, AT_SYMLINK_FOLLOW);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	stats_add(&fs_of(req)->stats, STAT_LINK);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	struct inode *dir = inode_of(req, newparent);
	struct fuse_entry_param e;
	int err;

	err = check_writable(req, dir);
	if (!err && inode->key.mirror != dir->key.mirror)
		err = EXDEV;
	if (!err) {
		expect_own(fs, dir, newname, IN_CREATE);
		err = settle_own(fs, dir, newname, IN_CREATE,
				 link_host(inode, dir, newname), "created");
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

	err = check_writable(req, dir);
	if (!err) {
		expect_own(fs, dir, name, IN_DELETE);
		err = settle_own(fs, dir, name, IN_DELETE,
				 unlinkat(dir->host_fd, name, flags),
				 "removed");
	}
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

/* The events of a rename: from/to, both ways for an exchange; with
 * cancel, take them back. */
static void expect_rename(struct canonfs_fs *fs, const struct inode *dir,
			  const char *name, const struct inode *newdir,
			  const char *newname, unsigned int flags, bool cancel)
{
	void (*note)(struct canonfs_fs *, const struct inode *, const char *,
		     uint32_t) = cancel ? cancel_own : expect_own;

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

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	stats_add(&fs_of(req)->stats, STAT_RENAME);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	struct inode *newdir = inode_of(req, newparent);
	int err;

	err = check_writable(req, dir);
	if (!err)
		err = check_writable(req, newdir);
	/* An inode belongs to one mirror; moving it to another is a copy. */
	if (!err && dir->key.mirror != newdir->key.mirror)
		err = EXDEV;
	if (!err) {
		expect_rename(fs, dir, name, newdir, newname, flags, false);
		if (renameat2(dir->host_fd, name, newdir->host_fd, newname,
			      flags) == -1) {
			err = errno;
			expect_rename(fs, dir, name, newdir, newname, flags,
				      true);
		}
	}
	if (!err)
		forget_moved_link_targets(fs, newdir, newname, dir, name,
					  flags);
	if (!err && trace_active(&fs->trace)) {
		char from[PATH_MAX], to[PATH_MAX];

		if (child_virt_path(fs, dir, name, from, sizeof(from)) == 0 &&
		    child_virt_path(fs, newdir, newname, to, sizeof(to)) == 0)
			trace_rename(&fs->trace, from, to);
	}
	fuse_reply_err(req, err);
}

/* The control files; the trace ones only on a tracing mount. */
static int control_listing(struct dir_listing *listing, bool tracing)
{
	listing->n_entries = 0;
	listing->entries = calloc(CONTROL_COUNT, sizeof(*listing->entries));
	if (!listing->entries)
		return ENOMEM;
	for (int i = CONTROL_DIR + 1; i < CONTROL_COUNT; i++) {
		struct dir_entry *entry = &listing->entries[listing->n_entries];

		if (!tracing && i >= CONTROL_TRACE_START)
			continue;
		entry->name = strdup(control_name(i));
		if (!entry->name) {
			dir_listing_free(listing);
			return ENOMEM;
		}
		entry->d_type = DT_REG;
		listing->n_entries++;
	}
	dir_listing_sort(listing); /* like every listing of the view */
	return 0;
}

static int open_flags_allowed(struct canonfs_fs *fs,
			      const struct inode *inode, int flags)
{
	if ((fs->opts->read_only ||
	     (!inode->synthetic &&
	      fs->layout.mirrors[inode->key.mirror].read_only)) &&
	    ((flags & O_ACCMODE) != O_RDONLY || (flags & O_TRUNC)))
		return EROFS;
	return 0;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_OPEN);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	int err, fd;

	if (fs->handleless) {
		/* The kernel takes this as "never send OPEN again". */
		fuse_reply_err(req, ENOSYS);
		return;
	}
	if ((err = open_flags_allowed(fs, inode, fi->flags))) {
		fuse_reply_err(req, err);
		return;
	}
	if (inode->synthetic) {
		fi->fh = 0;
		fi->direct_io = 1; /* contents live in the inode */
		fuse_reply_open(req, fi);
		return;
	}
	/* O_NOFOLLOW would refuse the magic link itself. */
	fd = open_checked(fs, inode,
			  (fi->flags & ~(O_NOFOLLOW | O_CREAT | O_EXCL)) |
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
	int fresh =
		open_checked(fs, inode, (slot ? O_RDWR : O_RDONLY) | O_CLOEXEC);

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
 * allows, even when the daemon could not reopen it. The flags that would
 * bend other writers are cleared first: O_APPEND (every write at the end)
 * and O_DIRECT (libfuse's buffers are not aligned for it).
 */
static void keep_as_write_fd(struct canonfs_fs *fs, struct inode *inode, int fd,
			     int flags)
{
	int fl = fcntl(fd, F_GETFL);

	if ((flags & O_ACCMODE) == O_RDONLY || fl == -1 ||
	    fcntl(fd, F_SETFL, fl & ~(O_APPEND | O_DIRECT | O_NONBLOCK)) ==
		    -1 ||
	    install_io_fd(fs, &inode->write_fd, fd) != fd)
		close(fd);
	/* Checked as of now (the creation was): an earlier change of a
	 * directory's access must not take the creator's rights away. */
	else if (fs->host_checks)
		take_access_change(fs, inode, 1);
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_CREATE);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *dir = inode_of(req, parent);
	struct fuse_entry_param e;
	int err, fd = -1;

	err = check_writable(req, dir);
	if (!err && !path_is_name(name))
		err = EINVAL;
	if (!err) {
		/* O_EXCL first, to know whether this created the file: only
		 * a creation causes an event to skip. */
		for (int tries = 0; tries < 3; tries++) {
			expect_own(fs, dir, name, IN_CREATE);
			fd = openat(dir->host_fd, name,
				    fi->flags | O_CREAT | O_EXCL | O_NOFOLLOW |
					    O_CLOEXEC,
				    mode);
			if (fd >= 0)
				break;
			cancel_own(fs, dir, name, IN_CREATE);
			if (errno != EEXIST || (fi->flags & O_EXCL))
				break;
			fd = openat(dir->host_fd, name,
				    (fi->flags & ~O_CREAT) | O_NOFOLLOW |
					    O_CLOEXEC);
			/* Deleted in between: create it after all. */
			if (fd >= 0 || errno != ENOENT)
				break;
		}
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
	if (fs->handleless) {
		/* Once OPEN is answered ENOSYS the kernel sends no RELEASE,
		 * not even for files it got from CREATE: no handle then. */
		keep_as_write_fd(fs, inode_from_nodeid(&fs->inodes, e.ino), fd,
				 fi->flags);
		fi->fh = 0;
	} else {
		fi->fh = (uint64_t)fd;
	}
	fi->keep_cache = dir->watched;
	trace_made(fs, inode_from_nodeid(&fs->inodes, e.ino));
	trace_change(fs, dir, name, "created");
	fuse_reply_create(req, &e, fi);
}

/*
 * The descriptor for I/O on inode: the request's file handle when the
 * kernel opened one (fh 0 never is one: fds 0-2 stay open), else one of
 * the inode's own, opened on first use. A descriptor opened just for this
 * request (the per-process limit reached) is returned in *temp_fd.
 */
static int io_fd(struct canonfs_fs *fs, const struct fuse_file_info *fi,
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
	opened = open_checked(fs, inode,
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

/* io_fd for a write: first, a read-only mount or mirror says EROFS. */
static int writable_io_fd(fuse_req_t req, const struct fuse_file_info *fi,
			  struct inode *inode, int *fd, int *temp_fd)
{
	int err = check_writable(req, inode);

	return err ? err : io_fd(fs_of(req), fi, inode, true, fd, temp_fd);
}

/*
 * Whether a read that got `got` of `size` bytes must fail because the host
 * file shrank under the kernel's idea of its size. The kernel asks only for
 * pages that begin before the end it knows, so a requested page wholly past
 * the data shows that end is stale. A short reply makes the kernel zero the
 * rest of its pages and take the end of the data as the new size, unless
 * the file's attributes changed while the read was out (the invalidation of
 * that very shrink, a concurrent stat): then the zeros stay cached under
 * the old size and are read as contents. So:
 *  - a read of several pages with one wholly past the data fails; the
 *    kernel then reads the reader's page alone (the same read repeated by
 *    the same thread is let through, so that a kernel whose retry is no
 *    smaller never gets stuck on errors);
 *  - a one-page read that ends short is let through: at the end of the
 *    file that is the usual last page;
 *  - a one-page read that begins past the end fails: its reader is past
 *    the new end, and gets EIO until the file is stat'ed again (a host
 *    read would see the end there).
 */
static bool read_outran_host(struct inode *inode, pid_t reader, int fd,
			     off_t off, size_t size, size_t got, int flags)
{
	const size_t page = (size_t)sysconf(_SC_PAGESIZE);
	struct stat host;

	/* O_DIRECT reads bypass the pages: a short one is the truth. */
	if ((flags & O_DIRECT) || got >= size)
		return false;
	if (size <= page)
		return got == 0 && fstat(fd, &host) == 0 && host.st_size < off;
	if (got > size - page)
		return false;
	/* Racy on purpose: a torn pair only lets one read through. */
	if (__atomic_load_n(&inode->outran_reader, __ATOMIC_RELAXED) ==
		    reader &&
	    __atomic_load_n(&inode->outran_off, __ATOMIC_RELAXED) == off)
		return false;
	__atomic_store_n(&inode->outran_reader, reader, __ATOMIC_RELAXED);
	__atomic_store_n(&inode->outran_off, (int64_t)off, __ATOMIC_RELAXED);
	return true;
}

/* Up to size bytes at off, short only at the end of the file: the count,
 * or -errno. */
static ssize_t pread_full(int fd, char *buf, size_t size, off_t off)
{
	size_t done = 0;

	while (done < size) {
		ssize_t n = pread(fd, buf + done, size - done,
				  off + (off_t)done);

		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return done ? (ssize_t)done : -errno;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_READ);
	struct inode *inode = inode_of(req, ino);
	ssize_t got;
	char *data;
	int fd, temp_fd, err;

	if (inode->synthetic) {
		size_t len = inode->control_len;

		if (inode->control && (err = control_act(fs_of(req), inode))) {
			fuse_reply_err(req, err);
			return;
		}
		if (off < 0 || (size_t)off >= len)
			fuse_reply_buf(req, NULL, 0);
		else
			fuse_reply_buf(req, inode->control_data + off,
				       len - (size_t)off < size
					       ? len - (size_t)off
					       : size);
		return;
	}
	if ((err = io_fd(fs_of(req), fi, inode, false, &fd, &temp_fd))) {
		fuse_reply_err(req, err);
		return;
	}
	/*
	 * Copied, not spliced: a splice passes the host's pages by reference,
	 * and a host truncate zeroes their tails in place before the kernel
	 * copies them, so a read could bring back zeros as data.
	 */
	data = malloc(size ? size : 1);
	got = data ? pread_full(fd, data, size, off) : -ENOMEM;
	if (got >= 0 &&
	    read_outran_host(inode, fuse_req_ctx(req)->pid, fd, off, size,
			     (size_t)got, fi->flags)) {
		stats_add(&fs_of(req)->stats, STAT_READ_OUTRAN);
		got = -EIO;
	}
	if (got >= 0)
		trace_first_read(fs_of(req), inode, fd);
	if (temp_fd >= 0)
		close(temp_fd);
	if (got < 0)
		fuse_reply_err(req, (int)-got);
	else
		fuse_reply_buf(req, data, (size_t)got);
	free(data);
}

/* Append the request's bytes at the host file's end, atomically as
 * O_APPEND does (the shared write descriptor has no O_APPEND: pwrite
 * would ignore the offset with it). Returns the count or -errno. */
static ssize_t append_to_host(int fd, struct fuse_bufvec *in)
{
	size_t size = fuse_buf_size(in);
	struct fuse_bufvec mem = FUSE_BUFVEC_INIT(size);
	struct iovec iov;
	struct stat host;
	ssize_t got;

	if (!(mem.buf[0].mem = malloc(size ? size : 1)))
		return -ENOMEM;
	got = fuse_buf_copy(&mem, in, 0);
	if (got >= 0) {
		iov = (struct iovec){.iov_base = mem.buf[0].mem,
				     .iov_len = (size_t)got};
		got = pwritev2(fd, &iov, 1, 0, RWF_APPEND);
		/* Kernels before 4.16 lack RWF_APPEND: the end as of now. */
		if (got == -1 && errno == EOPNOTSUPP)
			got = fstat(fd, &host) == 0
				      ? pwrite(fd, iov.iov_base, iov.iov_len,
					       host.st_size)
				      : -1;
		if (got == -1)
			got = -errno;
	}
	free(mem.buf[0].mem);
	return got;
}

static void op_write_buf(fuse_req_t req, fuse_ino_t ino, struct fuse_bufvec *in,
			 off_t off, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_WRITE);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	struct fuse_bufvec out = FUSE_BUFVEC_INIT(fuse_buf_size(in));
	bool append = (fi->flags & O_APPEND) && !fi->writepage;
	struct stat host;
	ssize_t written;
	bool recorded;
	int fd, temp_fd, err;

	err = writable_io_fd(req, fi, inode, &fd, &temp_fd);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	out.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	out.buf[0].fd = fd;
	out.buf[0].pos = off;
	/* Tell our IN_MODIFY from the host's (own.h): the kernel's pages
	 * already hold these bytes and must not be dropped for them.
	 * Except after a host append: an O_APPEND write comes at the end the
	 * kernel knows, which a host append it has not stat'ed since may have
	 * moved, and written there it would overwrite the host's bytes. It
	 * goes to the host's end (the stat just taken); when that is
	 * elsewhere, the kernel's size and pages are wrong, and the write's
	 * IN_MODIFY must drop them. */
	recorded = own_write_begin(fs, inode, fd, &host);
	if (append && recorded && host.st_size != off)
		own_write_foreign(&fs->own, &inode->own_write);
	written = append ? append_to_host(fd, in) : fuse_buf_copy(&out, in, 0);
	if (recorded)
		own_write_end(fs, inode, fd);
	if (written >= 0 && trace_active(&fs->trace)) {
		uint64_t mark = trace_mark(&fs->trace);

		inode->made_traced = mark;
		if (inode->write_traced != mark) {
			inode->write_traced = mark;
			trace_change(fs, inode, NULL, "written");
		}
	}
	if (temp_fd >= 0)
		close(temp_fd);
	if (written < 0)
		fuse_reply_err(req, (int)-written);
	else
		fuse_reply_write(req, (size_t)written);
}

/* posix_fallocate, and what the kernel passes on: keep size, punch a
 * hole, zero a range. A change of the file like a write (own.h); the
 * kernel drops the pages of a punched or zeroed range itself. */
static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off,
			 off_t len, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_FALLOCATE);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	struct stat host;
	int fd, temp_fd, err;
	bool recorded;

	err = writable_io_fd(req, fi, inode, &fd, &temp_fd);
	if (err) {
		fuse_reply_err(req, err);
		return;
	}
	recorded = own_write_begin(fs, inode, fd, &host);
	if (fallocate(fd, mode, off, len) == -1)
		err = errno;
	if (recorded)
		own_write_end(fs, inode, fd);
	if (temp_fd >= 0)
		close(temp_fd);
	fuse_reply_err(req, err);
}

/* SEEK_DATA and SEEK_HOLE, so that cp and tar keep sparse files sparse
 * (the kernel answers the other kinds itself). */
static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_LSEEK);
	struct canonfs_fs *fs = fs_of(req);
	struct inode *inode = inode_of(req, ino);
	int fd, temp_fd, err;
	off_t found = -1;

	if (inode->synthetic) { /* a control file: all data */
		off_t size = (off_t)inode->control_len;

		if (off >= size)
			fuse_reply_err(req, ENXIO);
		else
			fuse_reply_lseek(req, whence == SEEK_DATA ? off : size);
		return;
	}
	if ((err = io_fd(fs, fi, inode, false, &fd, &temp_fd))) {
		fuse_reply_err(req, err);
		return;
	}
	/* The shared descriptor's own offset is never used (pread). */
	if ((found = lseek(fd, off, whence)) == -1)
		err = errno;
	if (temp_fd >= 0)
		close(temp_fd);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_lseek(req, found);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_FLUSH);
	(void)ino;
	(void)fi;
	/* Nothing to do at close: ENOSYS stops the kernel sending FLUSH. */
	fuse_reply_err(req, ENOSYS);
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_RELEASE);
	(void)ino;
	if (fi->fh)
		close((int)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync,
		     struct fuse_file_info *fi)
{
	stats_add(&fs_of(req)->stats, STAT_FSYNC);
	struct inode *inode = inode_of(req, ino);
	int fd, temp_fd, err;

	if (inode->synthetic) {
		fuse_reply_err(req, 0);
		return;
	}
	err = io_fd(fs_of(req), fi, inode, false, &fd, &temp_fd);
	if (!err && (datasync ? fdatasync(fd) : fsync(fd)) == -1)
		err = errno;
	if (!err && temp_fd >= 0)
		close(temp_fd);
	else if (temp_fd >= 0)
		close(temp_fd);
	fuse_reply_err(req, err);
}

/* A fresh listing of directory inode, with one reference. */
static int snapshot_new(struct canonfs_fs *fs, struct inode *inode,
			struct dir_snapshot **out)
{
	struct dir_snapshot *snap = calloc(1, sizeof(*snap));
	int err;

	if (!snap)
		return ENOMEM;
	if (inode->control)
		err = control_listing(&snap->listing, fs->trace.base != NULL);
	else if (inode->synthetic)
		err = dir_listing_from_layout(
			&fs->layout.dirs[inode->synth_dir], &snap->listing);
	else
		err = dir_listing_read_host(inode->host_fd, &snap->listing);
	/* Out of descriptors: as in prune_open_with_room(). */
	for (int round = 0;
	     !inode->synthetic && prune_room_made(&fs->inodes, inode, err, round);
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

		if (virt_path_of(fs, inode, path, sizeof(path)) == 0)
			trace_warn(&fs->trace, "hidden-devices-in", path, NULL);
	}
	snap->refs = 1;
	__atomic_add_fetch(&fs->inodes.n_listings, 1, __ATOMIC_RELAXED);
	*out = snap;
	return 0;
}

static void snapshot_put(struct canonfs_fs *fs, struct dir_snapshot *snap)
{
	bool last;

	pthread_mutex_lock(&fs->inodes.lock);
	last = --snap->refs == 0;
	pthread_mutex_unlock(&fs->inodes.lock);
	if (last) {
		__atomic_sub_fetch(&fs->inodes.n_listings, 1, __ATOMIC_RELAXED);
		dir_listing_free(&snap->listing);
		free(snap);
	}
}

/* Remove pass i of inode (order does not matter); returns it. */
static struct dir_snapshot *drop_pass(struct inode *inode, uint32_t i)
{
	struct dir_snapshot *snap = inode->passes[i];

	inode->passes[i] = inode->passes[--inode->n_passes];
	return snap;
}

/*
 * Keep snapshot fresh among inode's passes. Room is made by letting go of
 * one pass idle for INODE_PASS_IDLE_NS (an abandoned `ls | head`), and at
 * INODE_PASSES_MAX of the least recently used. What is let go lands in
 * gone[], for snapshot_put once the lock is released. Called with the
 * lock held. Returns 0 or ENOMEM.
 */
static int keep_pass(struct inode *inode, struct dir_snapshot *fresh,
		     uint64_t now, struct dir_snapshot *gone[2])
{
	uint32_t lru = 0;

	for (uint32_t i = 0; i < inode->n_passes; i++) {
		if (now - inode->passes[i]->used_ns > INODE_PASS_IDLE_NS) {
			gone[0] = drop_pass(inode, i);
			break;
		}
	}
	for (uint32_t i = 1; i < inode->n_passes; i++)
		if (inode->passes[i]->used_ns < inode->passes[lru]->used_ns)
			lru = i;
	if (inode->n_passes == INODE_PASSES_MAX)
		gone[1] = drop_pass(inode, lru);
	if (inode->n_passes % 4 == 0) { /* grown four at a time */
		size_t room = inode->n_passes + 4;
		struct dir_snapshot **grown =
			realloc(inode->passes, room * sizeof(*grown));

		if (!grown)
			return ENOMEM;
		inode->passes = grown;
	}
	inode->passes[inode->n_passes++] = fresh;
	return 0;
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
	struct dir_snapshot *fresh = NULL, *gone[2] = {NULL, NULL};
	uint64_t now = inode_clock_ns();
	int err;

	pthread_mutex_lock(&fs->inodes.lock);
	for (uint32_t i = 0; offset > 0 && i < inode->n_passes; i++) {
		struct dir_snapshot *kept = inode->passes[i];

		if (kept->gen == gen) {
			kept->refs++;
			kept->used_ns = now;
			*out = kept;
			pthread_mutex_unlock(&fs->inodes.lock);
			return 0;
		}
	}
	pthread_mutex_unlock(&fs->inodes.lock);

	/* A new pass, or one whose snapshot is gone (given way to newer
	 * ones, or idle too long): a fresh snapshot. */
	if ((err = snapshot_new(fs, inode, &fresh)))
		return err;
	pthread_mutex_lock(&fs->inodes.lock);
	/* 31 bits: offsets are signed. 0 is the handles' generation. */
	inode->listing_gen = (inode->listing_gen + 1) & 0x7fffffff;
	if (inode->listing_gen == 0)
		inode->listing_gen = 1;
	fresh->gen = inode->listing_gen;
	fresh->used_ns = now;
	fresh->refs++; /* the inode's and the caller's */
	err = keep_pass(inode, fresh, now, gone);
	pthread_mutex_unlock(&fs->inodes.lock);
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
	bool held = false;

	pthread_mutex_lock(&fs->inodes.lock);
	for (uint32_t i = 0; i < inode->n_passes; i++) {
		if (inode->passes[i] == snap) {
			drop_pass(inode, i);
			held = true;
			break;
		}
	}
	pthread_mutex_unlock(&fs->inodes.lock);
	if (held)
		snapshot_put(fs, snap);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
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
		pthread_mutex_lock(&fs->inodes.lock);
		snap->refs++;
		pthread_mutex_unlock(&fs->inodes.lock);
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
				err = lookup_entry(fs, dir, name, &e,
						   used == 0);
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
	(void)ino;
	if (fi->fh)
		snapshot_put(fs_of(req),
			     (struct dir_snapshot *)(uintptr_t)fi->fh);
	fuse_reply_err(req, 0);
}

static void op_fsyncdir(fuse_req_t req, fuse_ino_t ino, int datasync,
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
	fd = reopen(fs_of(req), inode->host_fd,
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
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

	if (!err)
		err = check_writable(req, inode_of(req, ino));
	if (!err && setxattr(path, name, value, size, flags) == -1)
		err = errno;
	fuse_reply_err(req, err);
}

static void op_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	stats_add(&fs_of(req)->stats, STAT_REMOVEXATTR);
	char path[32];
	int err = xattr_path(req, ino, path);

	if (!err)
		err = check_writable(req, inode_of(req, ino));
	if (!err && removexattr(path, name) == -1)
		err = errno;
	fuse_reply_err(req, err);
}

/*
 * access(2) and chdir. The kernel asks only when it does not check
 * permissions itself, that is when the mount is the mounting user's alone
 * (main.c): the answer is the host's for the daemon, which is that user,
 * and a write is refused on a read-only mount or mirror as the write
 * itself would be.
 */
static void op_access(fuse_req_t req, fuse_ino_t ino, int mask)
{
	stats_add(&fs_of(req)->stats, STAT_ACCESS);
	struct inode *inode = inode_of(req, ino);
	int err = 0;

	if (mask & W_OK)
		err = check_writable(req, inode);
	/* Symlinks are 0777: nothing to ask. */
	if (err || mask == F_OK || S_ISLNK(inode->host_type))
		goto reply;
	if (inode->synthetic) { /* 0755 directories, 0444 files */
		if ((mask & X_OK) && !S_ISDIR(inode->host_type))
			err = EACCES;
	} else {
		char path[32];

		/* Through the descriptor's /proc link: plain access(2), which
		 * every kernel and seccomp profile allows (faccessat2, for
		 * AT_EMPTY_PATH, is newer). The daemon is not setuid, so its
		 * real ids are its effective ones. */
		proc_path(inode->host_fd, path);
		if (access(path, mask) == -1)
			err = errno;
	}
reply:
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
