/*
 * invalidate: host changes -> kernel cache invalidations (see
 * include/canonfs/invalidate.h).
 */
#include "canonfs/invalidate.h"

#include "canonfs/canon.h"
#include "canonfs/dir.h"
#include "canonfs/inode.h"
#include "canonfs/prune.h"
#include "canonfs/fs.h"
#include "canonfs/ops_internal.h"
#include "canonfs/passthrough.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* An invalidation of an inode handed to the kernel less than this long
 * ago that finds no inode there is sent again: the reply may still be on
 * its way to becoming the kernel's inode, with attributes from before the
 * host change. That takes microseconds, a few milliseconds under load;
 * an inode the kernel made and dropped again keeps the barrier waiting
 * this long, so it is short. */
#define RETRY_WINDOW_NS (200u * 1000u * 1000u)
#define RETRY_FIRST_GAP_NS (1000u * 1000u)

/* What one event asks of the kernel, collected under the table lock and
 * sent after it is released: a notification can wait for a request that
 * itself waits for the lock. */
enum inval_kind {
	INVAL_ENTRY, /* forget the name `name` in directory nodeid */
	INVAL_INODE, /* forget attributes and pages of nodeid */
	INVAL_ATTR,  /* forget only its attributes: contents are unchanged */
};

struct inval_action {
	uint64_t nodeid;
	enum inval_kind kind;
	bool fresh; /* just handed to the kernel, which may not have made
		       its inode yet (INVAL_INODE, INVAL_ATTR) */
	/* INVAL_INODE: the inode's key and the zeros a short read left in
	 * its pages (ops_zero_fill_forget), gone with them once sent. */
	struct inode_key key;
	uint64_t zero_fill;
};

struct inval_batch {
	struct canonfs_fs *fs;
	struct inode_table *table;
	struct own_changes *own;
	const struct inotify_event *event;
	bool own_checked; /* whether the event was the daemon's own */
	bool is_own;
	bool dir_access_changed; /* note_access_change met a directory */
	size_t n_views; /* inodes on the watch: mirrors showing the dir */
	struct inval_action actions[16];
	size_t n_actions;
};

/* inode may be NULL for INVAL_ENTRY: the kernel orders those itself (a
 * lookup holds the directory's lock, which the notification takes). */
static void batch_add(struct inval_batch *batch, uint64_t nodeid,
		      enum inval_kind kind, const struct inode *inode)
{
	struct inode_key key = {0};
	uint64_t zero_fill = ZERO_FILL_NONE;
	uint64_t handed =
		inode ? __atomic_load_n(&inode->handed_ns, __ATOMIC_RELAXED)
		      : 0;

	if (inode && kind == INVAL_INODE) {
		key = inode->key;
		zero_fill =
			__atomic_load_n(&inode->zero_fill, __ATOMIC_ACQUIRE);
	}
	if (batch->n_actions <
	    sizeof(batch->actions) / sizeof(batch->actions[0]))
		batch->actions[batch->n_actions++] = (struct inval_action){
			.nodeid = nodeid,
			.kind = kind,
			.fresh = handed != 0 &&
				 inode_clock_ns() - handed < RETRY_WINDOW_NS,
			.key = key,
			.zero_fill = zero_fill};
}

/* The inode the table holds for `name` in directory dir, if any. */
static struct inode *child_locked(struct inode_table *table,
				  const struct inode *dir, const char *name,
				  struct stat *st)
{
	struct inode_key key = {0};

	if (fstatat(dir->host_fd, name, st, AT_SYMLINK_NOFOLLOW) == -1)
		return NULL;
	key.dev = st->st_dev;
	key.ino = st->st_ino;
	key.mirror = dir->key.mirror;
	return inode_find_locked(table, &key);
}

/* A host write to a file the traced build has read: its digest may not be
 * what the build saw. */
static void note_changed_while_read(struct inval_batch *batch,
				    const struct inode *child)
{
	struct canonfs_fs *fs = batch->fs;
	char path[PATH_MAX];

	if (!trace_active(&fs->trace) || !child->read_traced ||
	    layout_virt_path_of_fd(&fs->layout, child->key.mirror,
				   child->host_fd, path, sizeof(path)))
		return;
	if (trace_was_read(&fs->trace, path))
		trace_warn(&fs->trace, "changed-while-read", path, NULL);
}

/*
 * Where the host's permission checks apply to the daemon, a host chmod or
 * chown of inode (st: its stat now) may take away access the daemon holds
 * descriptors for: they are checked again before their next use (iofd.c,
 * iofd_get). A directory's reaches everything below it: see
 * dir_access_changed. Returns whether it was one (utimes is not).
 */
static bool note_access_change(struct inval_batch *batch, struct inode *inode,
			       const struct stat *st)
{
	uint64_t sig = inode_access_sig(st);

	if (!batch->fs->host_checks ||
	    __atomic_exchange_n(&inode->access_sig, sig, __ATOMIC_RELAXED) ==
		    sig)
		return false;
	if (S_ISDIR(st->st_mode))
		batch->dir_access_changed = true;
	else
		inode_mark_access_changed(inode);
	return true;
}

/* What a content event needs, for passthrough_inval. */
enum passthrough_verdict {
	PT_HOSTS,   /* not passthrough's: the host's change */
	PT_NOTHING, /* passthrough's, and the kernel knows already */
	PT_ATTR,    /* passthrough's: attributes only */
	PT_INODE,   /* passthrough's: attributes and pages */
};

/*
 * A content event of file inode (st: its stat now), which the kernel's own
 * passthrough writes may explain (passthrough.h). After a write(2) the
 * kernel has updated the size and dropped the attributes itself; its
 * pages are not what the writes went through, so they stay, unless a
 * short read left zeros in them (the kernel's new size would show them
 * as data). The writer's close (IN_CLOSE_WRITE) drops the attributes: a
 * shared mmap writes with no event before it and no word to the kernel.
 * A traced write is recorded here, since the daemon never sees it.
 */
static enum passthrough_verdict passthrough_inval(struct inval_batch *batch,
						  struct inode *inode,
						  const struct stat *st)
{
	struct canonfs_fs *fs = batch->fs;
	uint64_t mark;

	if (!passthrough_own_event(inode, batch->event->mask))
		return PT_HOSTS;
	stats_add(&fs->stats, STAT_PASSTHROUGH_OWN);
	own_write_known(batch->own, &inode->own_write, st);
	if (trace_active(&fs->trace) &&
	    inode->write_traced != (mark = trace_mark(&fs->trace))) {
		inode->made_traced = inode->write_traced = mark;
		trace_change(fs, inode, NULL, "written");
	}
	if (zero_fill_at(__atomic_load_n(&inode->zero_fill,
					 __ATOMIC_ACQUIRE)) != ZERO_FILL_NONE)
		return PT_INODE;
	return batch->event->mask & IN_CLOSE_WRITE ? PT_ATTR : PT_NOTHING;
}

/* The invalidation for a content event of inode (changed: INVAL_INODE):
 * false when none is needed. */
static bool content_inval(struct inval_batch *batch, struct inode *inode,
			  const struct stat *st, enum inval_kind *changed)
{
	switch (passthrough_inval(batch, inode, st)) {
	case PT_NOTHING:
		return false;
	case PT_ATTR:
		*changed = INVAL_ATTR;
		return true;
	case PT_INODE:
		return true;
	case PT_HOSTS:
		break;
	}
	/* Our own write or truncate: the kernel's pages hold it, and it has
	 * dropped the size and times it had (after a WRITE,
	 * fuse_write_update_attr; after a SETATTR, from the reply). */
	if (own_consume_write(batch->own, &inode->own_write, st))
		return false;
	if (batch->event->len)
		note_changed_while_read(batch, inode);
	return true;
}

static void count_view(struct inode *inode, void *arg)
{
	(void)inode;
	++*(size_t *)arg;
}

static void collect(struct inode *dir, void *arg)
{
	struct inval_batch *batch = arg;
	const struct inotify_event *event = batch->event;
	uint64_t dir_nodeid = inode_nodeid(batch->table, dir);
	struct inode *child;
	struct stat st;

	/* IN_ATTRIB alone (chmod, utimes, link count) leaves contents as
	 * they are: the pages stay cached. */
	enum inval_kind changed =
		(event->mask & INODE_CONTENT_EVENTS) ? INVAL_INODE : INVAL_ATTR;

	/* A lookup in dir racing this event stats again (ops_lookup_entry). */
	dir->change_seq++;
	if (event->len == 0) { /* the watched inode itself */
		/* A file with several links: our own write, which the kernel
		 * knows (see below). */
		if (S_ISREG(dir->host_type) && changed == INVAL_INODE &&
		    fstat(dir->host_fd, &st) == 0 &&
		    !content_inval(batch, dir, &st, &changed))
			return;
		/* Pages it may no longer read are forgotten: reads of them
		 * then come to the daemon, which checks. */
		bool stated = (event->mask & IN_ATTRIB) &&
			      fstat(dir->host_fd, &st) == 0;

		if (stated && note_access_change(batch, dir, &st) &&
		    !S_ISDIR(st.st_mode))
			changed = INVAL_INODE;
		/* Its last name is gone: nothing shown of it changes now,
		 * and an invalidation sent late could reach the next file
		 * given its node id (the freed inode's address), and drop
		 * the attributes of a lookup of it under way. */
		else if (stated && changed == INVAL_ATTR &&
			 S_ISREG(st.st_mode) && st.st_nlink == 0)
			return;
		/* Its link count, changed through the mount (ops_entry.c):
		 * the kernel knows. */
		else if (stated && changed == INVAL_ATTR &&
			 S_ISREG(st.st_mode) &&
			 own_consume_attr(batch->own, st.st_dev, st.st_ino,
					  canon_mode(st.st_mode), st.st_size,
					  &st))
			return;
		batch_add(batch, dir_nodeid, changed, dir);
		return;
	}
	/* The daemon's own change: the kernel knows already. Inodes
	 * sharing the watch are one host directory: one check. Seen through
	 * two mirrors (a module cache inside SRCDIR), the kernel knows the
	 * change only in the view it came through: both are told. */
	if (!batch->own_checked) {
		batch->own_checked = true;
		batch->is_own =
			own_consume(batch->own, dir->key.dev, dir->key.ino,
				    event->name, event->mask);
	}
	if (batch->is_own && batch->n_views == 1)
		return;
	if (event->mask &
	    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)) {
		batch_add(batch, dir_nodeid, INVAL_ENTRY, NULL);
		/* Its listing (the directory's pages) changed too. */
		batch_add(batch, dir_nodeid, INVAL_INODE, dir);
	}
	/* An object the kernel has cached arriving under a new name (a
	 * rename, a link) may have been written just before, with an event
	 * that named the old name, gone by the time it was read. */
	if ((event->mask & (IN_CREATE | IN_MOVED_TO)) &&
	    (child = child_locked(batch->table, dir, event->name, &st)))
		batch_add(batch, inode_nodeid(batch->table, child), INVAL_INODE,
			  child);
	if (event->mask & (INODE_CONTENT_EVENTS | IN_ATTRIB)) {
		child = child_locked(batch->table, dir, event->name, &st);
		/* Our own chmod or utimes, with the view still as the kernel
		 * was told: nothing to forget. */
		if (child && changed == INVAL_ATTR && !S_ISLNK(st.st_mode) &&
		    own_consume_attr(batch->own, st.st_dev, st.st_ino,
				     canon_mode(st.st_mode),
				     S_ISREG(st.st_mode) ? st.st_size : 0, &st))
			return;
		if (child && changed == INVAL_INODE) {
			if (!content_inval(batch, child, &st, &changed))
				return;
		} else if (child && (event->mask & IN_ATTRIB) &&
			   note_access_change(batch, child, &st) &&
			   !S_ISDIR(st.st_mode)) {
			changed = INVAL_INODE;
		}
		if (child)
			batch_add(batch, inode_nodeid(batch->table, child),
				  changed, child);
	}
}

static void notify_every_name(struct invalidator *inv, uint64_t dir_nodeid,
			      int dir_fd)
{
	struct dir_listing listing;

	if (dir_listing_read_host(dir_fd, &listing))
		return;
	for (size_t i = 0; i < listing.n_entries; i++)
		fuse_lowlevel_notify_inval_entry(
			inv->se, dir_nodeid, listing.entries[i].name,
			strlen(listing.entries[i].name));
	dir_listing_free(&listing);
}

struct overflow_list {
	uint64_t *nodeids;
	int *dir_fds; /* dup of each watched directory's O_PATH fd, or -1 */
	size_t n, capacity;
	struct inode_table *table;
};

static void collect_all(struct inode *inode, void *arg)
{
	struct overflow_list *list = arg;

	/* Control files change with no host event, and each lookup makes a
	 * new one; the one being read (trace-start) holds a page lock. */
	if (inode->synthetic)
		return;
	if (list->n == list->capacity) {
		size_t capacity = list->capacity ? list->capacity * 2 : 256;
		uint64_t *nodeids =
			realloc(list->nodeids, capacity * sizeof(*nodeids));
		int *fds;

		if (!nodeids)
			return;
		list->nodeids = nodeids;
		fds = realloc(list->dir_fds, capacity * sizeof(*fds));
		if (!fds)
			return;
		list->dir_fds = fds;
		list->capacity = capacity;
	}
	list->nodeids[list->n] = inode_nodeid(list->table, inode);
	list->dir_fds[list->n] =
		inode->watched ? fcntl(inode->host_fd, F_DUPFD_CLOEXEC, 0) : -1;
	list->n++;
}

/* After lost events: every mirror's name in its synthetic parent ("src"
 * in "/"). The kernel then forgets what it holds below, names deleted
 * meanwhile too, which notify_every_name cannot name (a directory inside
 * a mirror is forgotten that way, by its own name in its parent). Only
 * then: a process whose working directory is in the mirror's top finds
 * getcwd failing until the next lookup there. */
static void forget_mirror_roots(struct invalidator *inv)
{
	const struct layout *layout = &inv->fs->layout;
	struct inode_table *table = &inv->fs->inodes;

	for (size_t d = 0; d < layout->n_dirs; d++) {
		uint64_t parent = inode_nodeid(table, table->synthetic[d]);

		for (size_t i = 0; i < layout->dirs[d].n_entries; i++) {
			const struct layout_entry *e =
				&layout->dirs[d].entries[i];

			if (e->mirror >= 0)
				fuse_lowlevel_notify_inval_entry(
					inv->se, parent, e->name,
					strlen(e->name));
		}
	}
}

/*
 * Forget the attributes and pages of every inode, and every name that
 * exists now in a watched directory (which covers creations): after an
 * overflow of the event queue (with forget_mirror_roots for the names
 * gone), a trace start, a directory's access changed.
 */
static void forget_everything(struct invalidator *inv)
{
	struct overflow_list list = {.table = &inv->fs->inodes};

	inode_visit_watch(&inv->fs->inodes, -1, collect_all, &list);
	for (size_t i = 0; i < list.n; i++) {
		fuse_lowlevel_notify_inval_inode(inv->se, list.nodeids[i], 0,
						 0);
		if (list.dir_fds[i] < 0)
			continue;
		notify_every_name(inv, list.nodeids[i], list.dir_fds[i]);
		close(list.dir_fds[i]);
	}
	free(list.nodeids);
	free(list.dir_fds);
}

/* Keep an invalidation to send again (the watcher thread only). When the
 * list is full the oldest is given up. */
static void retry_add(struct invalidator *inv, uint64_t nodeid, int64_t off)
{
	uint64_t now = inode_clock_ns();

	if (inv->n_retries == INVALIDATOR_RETRIES) {
		memmove(&inv->retries[0], &inv->retries[1],
			(INVALIDATOR_RETRIES - 1) * sizeof(inv->retries[0]));
		inv->n_retries--;
	}
	inv->retries[inv->n_retries++] =
		(struct inval_retry){.nodeid = nodeid,
				     .off = off,
				     .gap_ns = RETRY_FIRST_GAP_NS,
				     .due_ns = now + RETRY_FIRST_GAP_NS,
				     .until_ns = now + RETRY_WINDOW_NS};
}

/* Send the retries that are due; returns poll's timeout for the next one
 * (-1: none left). */
static int run_retries(struct invalidator *inv)
{
	uint64_t now = inode_clock_ns(), next = UINT64_MAX;
	size_t kept = 0;

	for (size_t i = 0; i < inv->n_retries; i++) {
		struct inval_retry r = inv->retries[i];

		if (r.due_ns <= now) {
			stats_add(&inv->fs->stats, STAT_INVAL_INODE);
			if (fuse_lowlevel_notify_inval_inode(
				    inv->se, r.nodeid, r.off, 0) != -ENOENT ||
			    now >= r.until_ns)
				continue;
			r.gap_ns *= 2;
			r.due_ns = now + r.gap_ns;
		}
		if (r.due_ns < next)
			next = r.due_ns;
		inv->retries[kept++] = r;
	}
	inv->n_retries = kept;
	if (kept == 0)
		return -1;
	return (int)((next - now) / 1000000u) + 1;
}

/* How often what no watch covers is compared with the host: the
 * half-second fallback of doc/freshness.md for directories without a watch. */
#define UNWATCHED_SWEEP_NS (500u * 1000u * 1000u)

/*
 * Where watches could not be added, the kernel forgets the pages and
 * listings of what changed on the host since the last sweep, every
 * UNWATCHED_SWEEP_NS. Returns the milliseconds until the next one, or -1
 * when every watch was added.
 */
static int sweep_unwatched(struct invalidator *inv)
{
	uint64_t now = inode_clock_ns(), *nodeids;
	size_t n;

	if (now < inv->next_sweep_ns)
		return (int)((inv->next_sweep_ns - now) / 1000000u) + 1;
	if (!inode_unwatched_changes(&inv->fs->inodes, &nodeids, &n))
		return -1;
	for (size_t i = 0; i < n; i++) {
		stats_add(&inv->fs->stats, STAT_INVAL_INODE);
		fuse_lowlevel_notify_inval_inode(inv->se, nodeids[i], 0, 0);
	}
	free(nodeids);
	inv->next_sweep_ns = now + UNWATCHED_SWEEP_NS;
	return UNWATCHED_SWEEP_NS / 1000000u;
}

static void apply(struct invalidator *inv, const struct inotify_event *event)
{
	struct inval_batch batch = {.table = &inv->fs->inodes,
				    .own = &inv->fs->own,
				    .fs = inv->fs,
				    .event = event};

	inode_visit_watch(&inv->fs->inodes, event->wd, count_view,
			  &batch.n_views);
	inode_visit_watch(&inv->fs->inodes, event->wd, collect, &batch);
	inv->dir_access_changed |= batch.dir_access_changed;
	for (size_t i = 0; i < batch.n_actions; i++) {
		const struct inval_action *a = &batch.actions[i];

		/* ENOENT only means the kernel had nothing cached. */
		if (a->kind == INVAL_ENTRY) {
			stats_add(&inv->fs->stats, STAT_INVAL_ENTRY);
			fuse_lowlevel_notify_inval_entry(inv->se, a->nodeid,
							 event->name,
							 strlen(event->name));
		} else {
			/* A negative offset: attributes only. */
			int64_t off = a->kind == INVAL_ATTR ? -1 : 0;

			stats_add(&inv->fs->stats, STAT_INVAL_INODE);
			if (fuse_lowlevel_notify_inval_inode(
				    inv->se, a->nodeid, off, 0) == -ENOENT &&
			    a->fresh)
				retry_add(inv, a->nodeid, off);
			/* Only now: an attribute reply before the pages went
			 * must still drop them itself. */
			if (zero_fill_at(a->zero_fill) != ZERO_FILL_NONE)
				inode_zero_fill_dropped(&inv->fs->inodes,
							&a->key, a->nodeid,
							a->zero_fill);
		}
	}
}

/* The kernel forgets every symlink target it holds (a rename through the
 * mount moved some: see invalidator_forget_links). */
static void forget_links(struct invalidator *inv)
{
	struct inode_table *table = &inv->fs->inodes;

	/* Busy as the request is taken, so that a barrier sees one or the
	 * other; a request after this point is served by the next run. */
	pthread_mutex_lock(&inv->lock);
	inv->busy = true;
	inv->links_pending = false;
	inv->links_started++;
	pthread_mutex_unlock(&inv->lock);
	for (uint32_t m = 0; m < table->n_mirrors; m++) {
		uint64_t *links;
		size_t n = inode_symlinks(table, m, &links);

		for (size_t i = 0; i < n; i++) {
			stats_add(&inv->fs->stats, STAT_INVAL_INODE);
			fuse_lowlevel_notify_inval_inode(inv->se, links[i], 0,
							 0);
		}
		free(links);
	}
	pthread_mutex_lock(&inv->lock);
	inv->busy = false;
	inv->links_done++;
	pthread_cond_broadcast(&inv->idle);
	pthread_mutex_unlock(&inv->lock);
}

/* The pruner: runs when the inode table asks (prune_fd), until stopped. */
static void *prune_loop(void *arg)
{
	struct invalidator *inv = arg;

	for (;;) {
		struct pollfd fds[2] = {
			{.fd = inv->prune_fd, .events = POLLIN},
			{.fd = inv->stop_pipe[0], .events = POLLIN},
		};
		uint64_t requests;

		if (poll(fds, 2, -1) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[1].revents)
			break;
		if (read(inv->prune_fd, &requests, sizeof(requests)) > 0 &&
		    prune_asked(&inv->fs->inodes))
			prune_run(&inv->fs->inodes, &inv->fs->stats, inv->se);
	}
	return NULL;
}

/* Bytes of events waiting in inotify queue fd. */
static int fd_queued_bytes(int fd)
{
	int bytes = 0;

	if (fd < 0 || ioctl(fd, FIONREAD, &bytes) == -1)
		return 0;
	return bytes;
}

/* Bytes of events waiting in the inotify queues. */
static int queued_bytes(const struct invalidator *inv)
{
	return fd_queued_bytes(inv->inotify_fd) +
	       fd_queued_bytes(inv->compiler_fd);
}

/* What a compiler's script depends on changes in a watched directory:
 * a compiler installed, replaced, removed, or a symlink switched. */
#define COMPILER_EVENTS                                                        \
	(IN_ATTRIB | IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE | IN_DELETE |      \
	 IN_MOVED_FROM | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

/* An entry a compiler's script depends on: a name in a watched directory. */
struct compiler_watch {
	int wd;
	char *name;
};

int invalidator_watch_compiler_entry(struct invalidator *inv, const char *dir,
				     const char *name)
{
	struct compiler_watch *w;
	int wd, err = 0;

	if (inv->compiler_fd < 0)
		return ENOSYS;
	/* Locked first: an event coming before the entry is listed would
	 * not count. */
	pthread_mutex_lock(&inv->watches_lock);
	if ((wd = inotify_add_watch(inv->compiler_fd, dir, COMPILER_EVENTS)) <
	    0) {
		err = errno;
		goto out;
	}
	for (size_t i = 0; i < inv->n_compiler_watches; i++)
		if (inv->compiler_watches[i].wd == wd &&
		    strcmp(inv->compiler_watches[i].name, name) == 0)
			goto out;
	if (inv->n_compiler_watches == inv->compiler_watches_cap) {
		size_t cap = inv->compiler_watches_cap
				     ? 2 * inv->compiler_watches_cap
				     : 16;

		if (!(w = realloc(inv->compiler_watches, cap * sizeof(*w)))) {
			err = ENOMEM;
			goto out;
		}
		inv->compiler_watches = w;
		inv->compiler_watches_cap = cap;
	}
	w = &inv->compiler_watches[inv->n_compiler_watches];
	if (!(w->name = strdup(name))) {
		err = ENOMEM;
		goto out;
	}
	w->wd = wd;
	inv->n_compiler_watches++;
out:
	pthread_mutex_unlock(&inv->watches_lock);
	return err;
}

/* Whether event, read from compiler_fd, may change a compiler's script:
 * an event of a watched directory itself, or of an entry watched in it.
 * A watch gone (its directory removed) takes its entries with it. */
static bool compiler_event_matters(struct invalidator *inv,
				   const struct inotify_event *event)
{
	bool matters = !event->len || (event->mask & IN_Q_OVERFLOW);

	pthread_mutex_lock(&inv->watches_lock);
	for (size_t i = 0; i < inv->n_compiler_watches;) {
		struct compiler_watch *w = &inv->compiler_watches[i];

		if (w->wd != event->wd) {
			i++;
			continue;
		}
		if (event->len && strcmp(w->name, event->name) == 0)
			matters = true;
		if (event->mask & IN_IGNORED) {
			free(w->name);
			*w = inv->compiler_watches[--inv->n_compiler_watches];
			continue;
		}
		i++;
	}
	pthread_mutex_unlock(&inv->watches_lock);
	return matters;
}

/* The host changed what a compiler's script depends on: make them again
 * at their next use, and have the kernel forget their names, attributes
 * and pages, and the bin directory's listing. */
static void compilers_changed(struct invalidator *inv)
{
	struct canonfs_fs *fs = inv->fs;
	struct inode_table *table = &fs->inodes;
	uint64_t bin = inode_nodeid(table, table->control_bin);

	/* Made again from here on; what the kernel got before is dropped
	 * below (a reply racing this keeps the attributes it carries from
	 * being trusted: the kernel's attribute version moves on). */
	__atomic_add_fetch(&fs->compiler_gen, 1, __ATOMIC_ACQ_REL);
	for (int i = 0; i < CONTROL_N_COMPILERS; i++) {
		uint64_t nodeid = inode_nodeid(table, table->compilers[i]);

		/* No retry when the kernel has no such inode: a lookup reply
		 * making it now is dropped by the name's invalidation below,
		 * which waits for the lookup. */
		stats_add(&fs->stats, STAT_INVAL_INODE);
		fuse_lowlevel_notify_inval_inode(inv->se, nodeid, 0, 0);
		stats_add(&fs->stats, STAT_INVAL_ENTRY);
		fuse_lowlevel_notify_inval_entry(
			inv->se, bin, control_name(CONTROL_BIN_CC + i),
			strlen(control_name(CONTROL_BIN_CC + i)));
	}
	stats_add(&fs->stats, STAT_INVAL_INODE);
	fuse_lowlevel_notify_inval_inode(inv->se, bin, 0, 0);
	/* Never a name in the control directory itself: the kernel would
	 * wait for the directory's lock, which a barrier's lookup holds while
	 * it waits for this thread. Its negative names are not kept. */
}

/* Read every event queued for the compilers' directories. */
static void read_compiler_events(struct invalidator *inv)
{
	char buf[4096]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	bool changed = false;
	ssize_t len;

	while ((len = read(inv->compiler_fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + len;) {
			const struct inotify_event *event = (const void *)p;

			stats_add(&inv->fs->stats, STAT_HOST_EVENTS);
			changed |= compiler_event_matters(inv, event);
			p += sizeof(*event) + event->len;
		}
	}
	if (changed)
		compilers_changed(inv);
}

/*
 * A build writing many files (a create storm, ccache filling objects)
 * sends events every few hundred microseconds, most of them the daemon's
 * own writes; a wake-up of the thread for each one cost more than the
 * events (a process switch is tens of microseconds on a VM). So events
 * that come within STORM_GAP_NS of the last read wait STORM_WAIT_NS and
 * are read together: the first event of a host edit is applied at once,
 * the later ones of a storm at most a millisecond later. Not while a
 * barrier waits (it would wait for every wait), nor for a backlog, which
 * is read as one batch anyway.
 */
#define STORM_GAP_NS (5u * 1000u * 1000u)
#define STORM_WAIT_NS (1000u * 1000u)
#define STORM_BACKLOG_BYTES 4096

static void gather_storm(struct invalidator *inv)
{
	const struct timespec wait = {.tv_nsec = STORM_WAIT_NS};

	if (inode_clock_ns() - inv->last_read_ns < STORM_GAP_NS &&
	    !__atomic_load_n(&inv->barrier_waiters, __ATOMIC_ACQUIRE) &&
	    queued_bytes(inv) < STORM_BACKLOG_BYTES)
		nanosleep(&wait, NULL);
}

static void *event_loop(void *arg)
{
	struct invalidator *inv = arg;
	/* Aligned as the kernel writes struct inotify_event. */
	char buf[64 * 1024]
		__attribute__((aligned(__alignof__(struct inotify_event))));

	for (;;) {
		struct pollfd fds[4] = {
			{.fd = inv->inotify_fd, .events = POLLIN},
			{.fd = inv->stop_pipe[0], .events = POLLIN},
			{.fd = inv->request_fd, .events = POLLIN},
			{.fd = inv->compiler_fd, .events = POLLIN},
		};
		int timeout = run_retries(inv), sweep = sweep_unwatched(inv);
		uint64_t requests;
		ssize_t len;

		if (sweep >= 0 && (timeout < 0 || sweep < timeout))
			timeout = sweep;

		pthread_mutex_lock(&inv->lock);
		inv->retrying = inv->n_retries > 0;
		if (!inv->retrying)
			pthread_cond_broadcast(&inv->idle);
		pthread_mutex_unlock(&inv->lock);
		if (poll(fds, 4, timeout) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (fds[1].revents)
			break;
		if (fds[2].revents &&
		    read(inv->request_fd, &requests, sizeof(requests)) > 0) {
			pthread_mutex_lock(&inv->lock);
			bool links = inv->links_pending;
			pthread_mutex_unlock(&inv->lock);
			if (links)
				forget_links(inv);
			if (__atomic_exchange_n(&inv->forget_all, false,
						__ATOMIC_ACQ_REL)) {
				forget_everything(inv);
				pthread_mutex_lock(&inv->lock);
				inv->forgets_done++;
				pthread_cond_broadcast(&inv->idle);
				pthread_mutex_unlock(&inv->lock);
			}
		}
		if (!fds[0].revents && !fds[3].revents)
			continue;
		/* Busy before the read empties the queue: a barrier then
		 * always sees either queued events or a busy thread. */
		pthread_mutex_lock(&inv->lock);
		inv->busy = true;
		pthread_mutex_unlock(&inv->lock);

		if (fds[3].revents)
			read_compiler_events(inv);
		if (!fds[0].revents)
			goto applied;
		gather_storm(inv);
		len = read(inv->inotify_fd, buf, sizeof(buf));
		inv->last_read_ns = inode_clock_ns();
		for (char *p = buf; len > 0 && p < buf + len;) {
			const struct inotify_event *event = (const void *)p;

			stats_add(&inv->fs->stats, STAT_HOST_EVENTS);
			if (event->mask & IN_Q_OVERFLOW) {
				stats_add(&inv->fs->stats, STAT_OVERFLOWS);
				forget_mirror_roots(inv);
				forget_everything(inv);
			} else if (!(event->mask & IN_IGNORED))
				apply(inv, event);
			p += sizeof(*event) + event->len;
		}
		/* Access to anything below may be gone: new checks for kept
		 * descriptors, and the kernel asks again for every name and
		 * page (a lookup checks the directory, a read the file). */
		if (inv->dir_access_changed) {
			inv->dir_access_changed = false;
			__atomic_add_fetch(&inv->fs->dir_access_epoch, 1,
					   __ATOMIC_RELEASE);
			forget_everything(inv);
		}
	applied:
		pthread_mutex_lock(&inv->lock);
		inv->busy = false;
		inv->retrying = inv->n_retries > 0;
		pthread_cond_broadcast(&inv->idle);
		pthread_mutex_unlock(&inv->lock);
	}
	return NULL;
}

/* Wait for the thread's next "idle" signal, at most 10 ms; with inv->lock
 * held. */
static void wait_for_idle(struct invalidator *inv)
{
	struct timespec deadline;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_nsec += 10 * 1000 * 1000;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&inv->idle, &inv->lock, &deadline);
}

void invalidator_barrier(struct invalidator *inv)
{
	if (!inv->running)
		return;
	__atomic_add_fetch(&inv->barrier_waiters, 1, __ATOMIC_RELEASE);
	pthread_mutex_lock(&inv->lock);
	while (inv->busy || inv->retrying || inv->links_pending ||
	       queued_bytes(inv) > 0) {
		/* Timed: the thread may be between poll() and busy. */
		wait_for_idle(inv);
	}
	pthread_mutex_unlock(&inv->lock);
	__atomic_sub_fetch(&inv->barrier_waiters, 1, __ATOMIC_RELEASE);
}

int invalidator_init(struct invalidator *inv, struct canonfs_fs *fs)
{
	memset(inv, 0, sizeof(*inv));
	pthread_mutex_init(&inv->lock, NULL);
	pthread_mutex_init(&inv->watches_lock, NULL);
	pthread_cond_init(&inv->idle, NULL);
	inv->fs = fs;
	inv->inotify_fd = inv->compiler_fd = -1;
	inv->stop_pipe[0] = inv->stop_pipe[1] = -1;
	inv->prune_fd = inv->request_fd = -1;
	if (pipe2(inv->stop_pipe, O_CLOEXEC) == -1)
		return errno;
	inv->prune_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	inv->request_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (inv->prune_fd < 0 || inv->request_fd < 0)
		return errno;
	if (fs->opts->nowatch || fs->unwatchable)
		return 0;
	/* Without inotify: short timeouts instead (-1 is ignored by poll). */
	inv->inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (inv->inotify_fd >= 0)
		inv->compiler_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	return 0;
}

int invalidator_start(struct invalidator *inv, struct fuse_session *se)
{
	int err;

	inv->se = se;
	err = pthread_create(&inv->thread, NULL, event_loop, inv);
	if (err)
		return err;
	err = pthread_create(&inv->prune_thread, NULL, prune_loop, inv);
	if (err) {
		ssize_t rc = write(inv->stop_pipe[1], "x", 1);

		(void)rc;
		pthread_join(inv->thread, NULL);
		return err;
	}
	inv->running = true;
	inv->fs->inodes.prune_wake_fd = inv->prune_fd;
	inv->fs->inodes.sweep_wake_fd = inv->request_fd;
	return 0;
}

void invalidator_forget_links(struct invalidator *inv, bool wait)
{
	uint64_t one = 1, served_by;
	ssize_t rc;

	if (!inv->running)
		return;
	pthread_mutex_lock(&inv->lock);
	inv->links_pending = true;
	served_by = inv->links_started + 1; /* runs start after the flag */
	pthread_mutex_unlock(&inv->lock);
	rc = write(inv->request_fd, &one, sizeof(one));
	(void)rc;
	pthread_mutex_lock(&inv->lock);
	for (int waited = 0;
	     wait && inv->links_done < served_by && waited < 100; waited++)
		wait_for_idle(inv);
	pthread_mutex_unlock(&inv->lock);
}

void invalidator_forget_all(struct invalidator *inv)
{
	uint64_t one = 1, done;
	ssize_t rc;

	if (!inv->running)
		return;
	pthread_mutex_lock(&inv->lock);
	done = inv->forgets_done;
	pthread_mutex_unlock(&inv->lock);
	__atomic_store_n(&inv->forget_all, true, __ATOMIC_RELEASE);
	rc = write(inv->request_fd, &one, sizeof(one));
	(void)rc;

	pthread_mutex_lock(&inv->lock);
	for (int waited = 0; inv->forgets_done == done && waited < 500;
	     waited++) {
		wait_for_idle(inv);
	}
	pthread_mutex_unlock(&inv->lock);
}

/* Newer than libfuse 3.14 and the headers it ships: the notification's
 * code, and the header every message to the kernel starts with. */
#define NOTIFY_INC_EPOCH 8

struct notify_header {
	uint32_t len;
	int32_t code;	 /* a notification: its code */
	uint64_t unique; /* 0: a notification, not a reply */
};

int invalidator_expire_names(struct invalidator *inv)
{
	struct notify_header msg = {.len = sizeof(msg),
				    .code = NOTIFY_INC_EPOCH};
	ssize_t n;

	if (!inv->se)
		return ENOTCONN;
	n = write(fuse_session_fd(inv->se), &msg, sizeof(msg));
	if (n == -1)
		return errno;
	return n == sizeof(msg) ? 0 : EIO;
}

void invalidator_stop(struct invalidator *inv)
{
	if (inv->running) {
		ssize_t rc = write(inv->stop_pipe[1], "x", 1);

		(void)rc;
		pthread_join(inv->thread, NULL);
		pthread_join(inv->prune_thread, NULL);
		inv->running = false;
	}
}

void invalidator_destroy(struct invalidator *inv)
{
	invalidator_stop(inv);
	for (int i = 0; i < 2; i++)
		if (inv->stop_pipe[i] >= 0)
			close(inv->stop_pipe[i]);
	if (inv->inotify_fd >= 0)
		close(inv->inotify_fd);
	if (inv->compiler_fd >= 0)
		close(inv->compiler_fd);
	if (inv->prune_fd >= 0)
		close(inv->prune_fd);
	if (inv->request_fd >= 0)
		close(inv->request_fd);
	inv->inotify_fd = inv->compiler_fd = -1;
	inv->prune_fd = inv->request_fd = -1;
	for (size_t i = 0; i < inv->n_compiler_watches; i++)
		free(inv->compiler_watches[i].name);
	free(inv->compiler_watches);
	inv->compiler_watches = NULL;
	inv->n_compiler_watches = inv->compiler_watches_cap = 0;
	pthread_cond_destroy(&inv->idle);
	pthread_mutex_destroy(&inv->watches_lock);
	pthread_mutex_destroy(&inv->lock);
}
