/*
 * inode: the inode table (see include/canonfs/inode.h).
 */
#include "canonfs/inode.h"

#include "canonfs/canon.h"
#include "canonfs/prune.h"

#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "canonfs/passthrough.h"

static struct inode *new_inode(void)
{
	struct inode *inode = calloc(1, sizeof(*inode));

	if (inode) {
		inode->host_fd = -1;
		inode->read_fd = -1;
		inode->write_fd = -1;
		inode->watch = -1;
		inode->outran_off = -1;
		inode->zero_fill = ZERO_FILL_NONE;
	}
	return inode;
}

/* Watch a host directory inode for changes made outside the mount, or a
 * file with several links (nlink) for changes made through any of its
 * names. Called with the lock held. Without a watch (inotify limits
 * reached) a directory's children get short cache timeouts instead. */
static void watch_add(struct inode_table *table, struct inode *inode,
		      nlink_t nlink)
{
	bool dir = S_ISDIR(inode->host_type);
	struct inode_watch *watch;
	char path[32];
	int wd;

	if (table->inotify_fd < 0 || inode->watch >= 0 ||
	    !(dir || (S_ISREG(inode->host_type) && nlink > 1)))
		return;
	/* inotify wants a path: the magic link names exactly this inode. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", inode->host_fd);
	wd = inotify_add_watch(table->inotify_fd, path,
			       dir ? INODE_WATCH_EVENTS
				   : INODE_FILE_WATCH_EVENTS);
	if (wd < 0) {
		uint64_t one = 1;

		if (table->watch_failures++ == 0 && table->sweep_wake_fd >= 0 &&
		    write(table->sweep_wake_fd, &one, sizeof(one)) < 0)
			table->watch_failures = 0; /* the next one wakes it */
		return;
	}
	HASH_FIND_INT(table->watches, &wd, watch);
	if (!watch) {
		watch = calloc(1, sizeof(*watch));
		if (!watch) {
			inotify_rm_watch(table->inotify_fd, wd);
			return;
		}
		watch->wd = wd;
		HASH_ADD_INT(table->watches, wd, watch);
	}
	inode->watch = wd;
	inode->watched = dir;
	inode->watch_next = watch->first;
	watch->first = inode;
}

/* Unchain an inode from its watch; the last one removes the watch. Called
 * with the lock held. */
static void watch_remove(struct inode_table *table, struct inode *inode)
{
	struct inode_watch *watch;
	struct inode **link;

	if (inode->watch < 0)
		return;
	HASH_FIND_INT(table->watches, &inode->watch, watch);
	if (!watch)
		return;
	for (link = &watch->first; *link; link = &(*link)->watch_next) {
		if (*link == inode) {
			*link = inode->watch_next;
			break;
		}
	}
	if (!watch->first) {
		inotify_rm_watch(table->inotify_fd, watch->wd);
		HASH_DEL(table->watches, watch);
		free(watch);
	}
	inode->watch = -1;
}

uint64_t inode_clock_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

void inode_mark_handed(struct inode *inode)
{
	__atomic_store_n(&inode->handed_ns, inode_clock_ns(), __ATOMIC_RELAXED);
}

/* A control node that lives as long as the mount: the control directory,
 * its bin directory and the compilers in it (control.c). */
static struct inode *new_control_node(int control)
{
	struct inode *inode = new_inode();

	if (!inode)
		return NULL;
	inode->synthetic = true;
	inode->pinned = true;
	inode->control = (unsigned char)control;
	inode->host_type = control == CONTROL_DIR || control == CONTROL_BIN
				   ? S_IFDIR
				   : S_IFREG;
	inode->canon_ino = control_canon_ino(control);
	inode->parent_canon_ino =
		control == CONTROL_DIR
			? CANON_ROOT_INO
			: control_canon_ino(control_parent(control));
	inode->parent_watched = true;
	return inode;
}

int inode_table_init(struct inode_table *table, const struct layout *layout,
		     int inotify_fd)
{
	pthread_condattr_t monotonic;

	memset(table, 0, sizeof(*table));
	pthread_mutex_init(&table->lock, NULL);
	/* Waits for room are timed: a wall clock step must not stretch them. */
	pthread_condattr_init(&monotonic);
	pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC);
	pthread_cond_init(&table->room, &monotonic);
	pthread_condattr_destroy(&monotonic);
	table->inotify_fd = inotify_fd;
	table->sweep_wake_fd = -1;
	table->backing_dev_fd = -1;
	prune_budget_init(table);
	table->synthetic = calloc(layout->n_dirs, sizeof(*table->synthetic));
	table->mirror_roots =
		calloc(layout->n_mirrors, sizeof(*table->mirror_roots));
	if (!table->synthetic || !table->mirror_roots)
		return ENOMEM;

	for (size_t i = 0; i < layout->n_dirs; i++) {
		struct inode *inode = new_inode();

		if (!inode)
			return ENOMEM;
		inode->synthetic = true;
		inode->pinned = true;
		inode->synth_dir = (unsigned)i;
		inode->host_type = S_IFDIR;
		inode->canon_ino = layout->dirs[i].canon_ino;
		inode->parent_canon_ino = layout->dirs[i].parent_canon_ino;
		inode->parent_watched = true; /* never changes */
		table->synthetic[table->n_synthetic++] = inode;
	}

	if (!(table->control_dir = new_control_node(CONTROL_DIR)) ||
	    !(table->control_bin = new_control_node(CONTROL_BIN)))
		return ENOMEM;
	for (int i = 0; i < CONTROL_N_COMPILERS; i++)
		if (!(table->compilers[i] =
			      new_control_node(CONTROL_BIN_CC + i)))
			return ENOMEM;

	for (size_t i = 0; i < layout->n_mirrors; i++) {
		const struct layout_mirror *m = &layout->mirrors[i];
		struct inode *inode = new_inode();
		struct stat st;

		if (!inode)
			return ENOMEM;
		table->mirror_roots[table->n_mirrors++] = inode;
		if (fstat(m->root_fd, &st) == -1)
			return errno;
		/* The table owns its own descriptor; the layout keeps its. */
		inode->host_fd = fcntl(m->root_fd, F_DUPFD_CLOEXEC, 0);
		if (inode->host_fd < 0)
			return errno;
		inode->pinned = true;
		inode->host_type = S_IFDIR;
		inode->access_sig = inode_access_sig(&st);
		inode->canon_ino = m->canon_ino;
		inode->parent_canon_ino = m->parent_canon_ino;
		/* Its parent is synthetic; its own watch reports its changes.
		 */
		inode->parent_watched = true;
		inode->key = (struct inode_key){.dev = st.st_dev,
						.ino = st.st_ino,
						.mirror = (uint32_t)i};
		HASH_ADD(hh, table->by_key, key, sizeof(inode->key), inode);
		HASH_ADD(canon_hh, table->by_canon, canon_ino,
			 sizeof(inode->canon_ino), inode);
		watch_add(table, inode, 1);
	}
	return 0;
}

static void free_inode(struct inode_table *table, struct inode *inode)
{
	/* FORGET: the kernel's inode, and every open file that used the id,
	 * are gone. */
	passthrough_forget(table->backing_dev_fd, inode);
	if (inode->host_fd >= 0)
		close(inode->host_fd);
	for (int i = 0; i < 2; i++) {
		int fd = i ? inode->write_fd : inode->read_fd;

		if (fd >= 0) {
			close(fd);
			prune_io_fd_give(table);
		}
	}
	/* Readers of a pass hold their own reference. */
	for (uint32_t i = 0; i < inode->n_passes; i++) {
		struct dir_snapshot *snap = inode->passes[i];

		if (--snap->refs == 0) {
			__atomic_sub_fetch(&table->n_listings, 1,
					   __ATOMIC_RELAXED);
			dir_listing_free(&snap->listing);
			free(snap);
		}
	}
	free(inode->passes);
	for (uint32_t i = 0; i < inode->n_link_names; i++)
		free(inode->link_names[i]);
	free(inode->link_names);
	free(inode->link_target);
	free(inode->control_data);
	free(inode);
}

void inode_table_destroy(struct inode_table *table)
{
	struct inode *inode, *tmp;

	HASH_CLEAR(canon_hh, table->by_canon);
	HASH_ITER (hh, table->by_key, inode, tmp) {
		HASH_DEL(table->by_key, inode);
		watch_remove(table, inode);
		free_inode(table, inode);
	}
	for (size_t i = 0; i < table->n_synthetic; i++)
		free_inode(table, table->synthetic[i]);
	if (table->control_dir)
		free_inode(table, table->control_dir);
	if (table->control_bin)
		free_inode(table, table->control_bin);
	for (int i = 0; i < CONTROL_N_COMPILERS; i++)
		if (table->compilers[i])
			free_inode(table, table->compilers[i]);
	free(table->synthetic);
	free(table->mirror_roots);
	prune_budget_destroy(table);
	pthread_cond_destroy(&table->room);
	pthread_mutex_destroy(&table->lock);
	memset(table, 0, sizeof(*table));
}

struct inode *inode_from_nodeid(struct inode_table *table, uint64_t nodeid)
{
	if (nodeid == FUSE_ROOT_ID)
		return table->synthetic[0];
	return (struct inode *)(uintptr_t)nodeid;
}

uint64_t inode_nodeid(const struct inode_table *table,
		      const struct inode *inode)
{
	if (inode == table->synthetic[0])
		return FUSE_ROOT_ID;
	return (uint64_t)(uintptr_t)inode;
}

/*
 * The number to show for a new host object whose path gives `ino`. An
 * object renamed keeps the number of its old path until the kernel forgets
 * it, so a new one made at that path (write tmp; mv tmp out; write tmp)
 * would show the same number: tools then take two live files for one (mv:
 * "are the same file", du counts one). Such a newcomer gets the next
 * number of a fixed chain instead. Called with the lock held.
 */
static uint64_t unused_canon_ino(struct inode_table *table, uint64_t ino)
{
	struct inode *holder;

	for (;;) {
		HASH_FIND(canon_hh, table->by_canon, &ino, sizeof(ino), holder);
		if (!holder)
			return ino;
		ino = canon_child_ino(ino, "");
	}
}

/* What a change of the host object's contents changes: its times and
 * size. */
static uint64_t content_sig(const struct stat *st)
{
	uint64_t h = 1469598103934665603ull;
	const uint64_t parts[5] = {
		(uint64_t)st->st_mtim.tv_sec, (uint64_t)st->st_mtim.tv_nsec,
		(uint64_t)st->st_ctim.tv_sec, (uint64_t)st->st_ctim.tv_nsec,
		(uint64_t)st->st_size};

	for (int i = 0; i < 5; i++)
		h = (h ^ parts[i]) * 1099511628211ull;
	return h;
}

/* Whether no watch reports changes to what the kernel keeps of inode. */
static bool unwatched(const struct inode *inode)
{
	if (inode->synthetic)
		return false;
	if (S_ISDIR(inode->host_type))
		return !inode->watched || !inode->parent_watched;
	return !inode->parent_watched && inode->watch < 0;
}

bool inode_unwatched_changes(struct inode_table *table, uint64_t **out,
			     size_t *n)
{
	struct inode *inode, *tmp;
	size_t capacity = 0;
	struct stat st;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&table->lock);
	if (table->watch_failures == 0) {
		pthread_mutex_unlock(&table->lock);
		return false;
	}
	HASH_ITER (hh, table->by_key, inode, tmp)
		capacity += unwatched(inode);
	*out = calloc(capacity + 1, sizeof(**out));
	HASH_ITER (hh, table->by_key, inode, tmp) {
		uint64_t sig;

		if (!*out || *n == capacity)
			break;
		if (!unwatched(inode) || fstat(inode->host_fd, &st) != 0 ||
		    (sig = content_sig(&st)) == inode->content_sig)
			continue;
		inode->content_sig = sig;
		(*out)[(*n)++] = inode_nodeid(table, inode);
	}
	pthread_mutex_unlock(&table->lock);
	return true;
}

void inode_zero_fill_dropped(struct inode_table *table,
			     const struct inode_key *key, uint64_t nodeid,
			     uint64_t was)
{
	struct inode *inode;

	pthread_mutex_lock(&table->lock);
	inode = inode_find_locked(table, key);
	if (inode && inode_nodeid(table, inode) == nodeid)
		__atomic_compare_exchange_n(&inode->zero_fill, &was,
					    zero_fill_none(was), false,
					    __ATOMIC_ACQ_REL, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&table->lock);
}

void inode_mark_access_changed(struct inode *inode)
{
	__atomic_store_n(&inode->access_changed, 3, __ATOMIC_RELEASE);
}

uint64_t inode_access_sig(const struct stat *st)
{
	return ((uint64_t)st->st_uid << 32 | st->st_gid) ^
	       ((uint64_t)(st->st_mode & 07777) << 20);
}

struct inode *inode_get(struct inode_table *table, struct inode *parent,
			const struct stat *host, int host_fd,
			uint64_t canon_ino)
{
	struct inode_key key = {.dev = host->st_dev,
				.ino = host->st_ino,
				.mirror = parent->key.mirror};
	struct inode *inode;

	pthread_mutex_lock(&table->lock);
	parent->last_used = ++table->clock;
	HASH_FIND(hh, table->by_key, &key, sizeof(key), inode);
	if (inode) {
		inode->lookup_count++;
		/* The kernel holds it under a name again (prune.h). */
		inode->prune_deleted = false;
		watch_add(table, inode, host->st_nlink); /* linked since */
		pthread_mutex_unlock(&table->lock);
		close(host_fd);
		return inode;
	}

	inode = new_inode();
	if (!inode) {
		pthread_mutex_unlock(&table->lock);
		close(host_fd);
		return NULL;
	}
	inode->key = key;
	inode->host_fd = host_fd;
	inode->host_type = host->st_mode & S_IFMT;
	inode->access_sig = inode_access_sig(host);
	inode->content_sig = content_sig(host);
	own_write_init(&inode->own_write, host);
	inode->canon_ino = unused_canon_ino(table, canon_ino);
	HASH_ADD(canon_hh, table->by_canon, canon_ino, sizeof(inode->canon_ino),
		 inode);
	inode->parent_canon_ino = parent->canon_ino;
	inode->parent_watched = parent->synthetic || parent->watched;
	inode->lookup_count = 1;
	HASH_ADD(hh, table->by_key, key, sizeof(inode->key), inode);
	if (++table->n_host > table->trim_peak)
		table->trim_peak = table->n_host;
	if (table->n_host > table->prune_high)
		prune_request_locked(table);
	watch_add(table, inode, host->st_nlink);
	pthread_mutex_unlock(&table->lock);
	return inode;
}

struct inode *inode_new_control_file(struct inode_table *table, int control,
				     char *data, size_t len)
{
	struct inode *inode = new_inode();

	if (!inode) {
		free(data);
		return NULL;
	}
	inode->synthetic = true;
	inode->control = (unsigned char)control;
	inode->host_type = control == CONTROL_BIN ? S_IFDIR : S_IFREG;
	inode->canon_ino = control_canon_ino(control);
	inode->parent_canon_ino = control_canon_ino(control_parent(control));
	inode->control_data = data;
	inode->control_len = len;
	inode->lookup_count = 1;

	/* In the table under a key no host object has, so that the table
	 * frees it at unmount if the kernel never forgets it. */
	pthread_mutex_lock(&table->lock);
	inode->key = (struct inode_key){.ino = ++table->n_control_files,
					.mirror = UINT32_MAX};
	HASH_ADD(hh, table->by_key, key, sizeof(inode->key), inode);
	pthread_mutex_unlock(&table->lock);
	return inode;
}

/* Inodes the kernel must have held before their forgetting is worth
 * handing memory back for. */
#define TRIM_MIN_PEAK 4096

void inode_table_trim(struct inode_table *table)
{
	bool trim;

	pthread_mutex_lock(&table->lock);
	trim = table->trim_peak >= TRIM_MIN_PEAK &&
	       table->n_host <= table->trim_peak / 2;
	if (trim)
		table->trim_peak = table->n_host;
	pthread_mutex_unlock(&table->lock);
	/* glibc keeps freed memory in its arenas for reuse; after a large
	 * forgetting (drop_caches, pruning) it goes back to the system. */
	if (trim)
		malloc_trim(0);
}

void inode_forget(struct inode_table *table, struct inode *inode,
		  uint64_t nlookup)
{
	if (inode->pinned)
		return;
	pthread_mutex_lock(&table->lock);
	inode->lookup_count -=
		nlookup < inode->lookup_count ? nlookup : inode->lookup_count;
	if (inode->lookup_count == 0) {
		bool host = !inode->synthetic;

		HASH_DEL(table->by_key, inode);
		watch_remove(table, inode);
		if (host) {
			HASH_DELETE(canon_hh, table->by_canon, inode);
			table->n_host--;
		}
		pthread_mutex_unlock(&table->lock);
		free_inode(table, inode);
		/* Room is announced once the descriptor is closed: a waiter
		 * woken before would find none and wait again. */
		if (host) {
			pthread_mutex_lock(&table->lock);
			table->n_freed++;
			pthread_cond_broadcast(&table->room);
			pthread_mutex_unlock(&table->lock);
		}
		return;
	}
	pthread_mutex_unlock(&table->lock);
}

void inode_visit_watch(struct inode_table *table, int wd,
		       void (*visit)(struct inode *inode, void *arg), void *arg)
{
	struct inode_watch *watch;
	struct inode *inode, *tmp;

	pthread_mutex_lock(&table->lock);
	if (wd < 0) {
		HASH_ITER (hh, table->by_key, inode, tmp)
			visit(inode, arg);
	} else {
		HASH_FIND_INT(table->watches, &wd, watch);
		for (inode = watch ? watch->first : NULL; inode;
		     inode = inode->watch_next)
			visit(inode, arg);
	}
	pthread_mutex_unlock(&table->lock);
}

size_t inode_symlinks(struct inode_table *table, uint32_t mirror,
		      uint64_t **out)
{
	struct inode *inode, *tmp;
	size_t n = 0, capacity = 0;

	pthread_mutex_lock(&table->lock);
	HASH_ITER (hh, table->by_key, inode, tmp)
		capacity += S_ISLNK(inode->host_type);
	*out = calloc(capacity + 1, sizeof(**out));
	HASH_ITER (hh, table->by_key, inode, tmp) {
		if (!*out || n == capacity)
			break;
		if (S_ISLNK(inode->host_type) && inode->key.mirror == mirror)
			(*out)[n++] = inode_nodeid(table, inode);
	}
	pthread_mutex_unlock(&table->lock);
	return n;
}

uint32_t inode_change_seq(struct inode_table *table, const struct inode *dir)
{
	uint32_t seq;

	pthread_mutex_lock(&table->lock);
	seq = dir->change_seq;
	pthread_mutex_unlock(&table->lock);
	return seq;
}

bool inode_add_link_name(struct inode_table *table, struct inode *inode,
			 const char *virt_path)
{
	bool added = false;
	char **grown, *copy;

	pthread_mutex_lock(&table->lock);
	for (uint32_t i = 0; i < inode->n_link_names; i++)
		if (strcmp(inode->link_names[i], virt_path) == 0)
			goto out;
	if (inode->n_link_names == INODE_LINK_NAMES)
		goto out;
	grown = realloc(inode->link_names,
			(inode->n_link_names + 1) * sizeof(*grown));
	if (!grown)
		goto out;
	inode->link_names = grown;
	if (!(copy = strdup(virt_path)))
		goto out;
	inode->link_names[inode->n_link_names++] = copy;
	added = true;
out:
	pthread_mutex_unlock(&table->lock);
	return added;
}

char **inode_copy_link_names(struct inode_table *table,
			     const struct inode *inode, size_t *n)
{
	char **copy = NULL;

	*n = 0;
	pthread_mutex_lock(&table->lock);
	if (inode->n_link_names > 0 &&
	    (copy = calloc(inode->n_link_names, sizeof(*copy)))) {
		for (uint32_t i = 0; i < inode->n_link_names; i++)
			if ((copy[*n] = strdup(inode->link_names[i])))
				(*n)++;
	}
	pthread_mutex_unlock(&table->lock);
	return copy;
}

void inode_watch_links(struct inode_table *table, struct inode *inode,
		       nlink_t nlink)
{
	pthread_mutex_lock(&table->lock);
	watch_add(table, inode, nlink);
	pthread_mutex_unlock(&table->lock);
}

/* The id a name is kept under: never one of the two markers. */
static uint64_t link_name_id(uint64_t name_id)
{
	return name_id == LINK_NAME_NONE || name_id == LINK_NAME_SEVERAL
		       ? 1
		       : name_id;
}

void inode_note_timed_name(struct inode *inode, uint64_t name_id)
{
	uint64_t id = link_name_id(name_id);
	uint64_t was = __atomic_load_n(&inode->timed_name, __ATOMIC_RELAXED);

	while (was != id && was != LINK_NAME_SEVERAL) {
		uint64_t now = was == LINK_NAME_NONE ? id : LINK_NAME_SEVERAL;

		if (__atomic_compare_exchange_n(&inode->timed_name, &was, now,
						false, __ATOMIC_RELAXED,
						__ATOMIC_RELAXED))
			return;
	}
}

bool inode_timed_name_gone(struct inode_table *table,
			   const struct inode_key *key, uint64_t name_id)
{
	uint64_t id = link_name_id(name_id);
	struct inode *inode;
	bool others = false;

	pthread_mutex_lock(&table->lock);
	inode = inode_find_locked(table, key);
	if (inode) {
		uint64_t was = id;

		/* The one timed name went with it: none is left. */
		if (!__atomic_compare_exchange_n(
			    &inode->timed_name, &was, LINK_NAME_NONE, false,
			    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
			others = was != LINK_NAME_NONE;
	}
	pthread_mutex_unlock(&table->lock);
	return others;
}

struct inode *inode_find(struct inode_table *table, const struct inode_key *key)
{
	struct inode *inode;

	pthread_mutex_lock(&table->lock);
	inode = inode_find_locked(table, key);
	pthread_mutex_unlock(&table->lock);
	return inode;
}

bool inode_file_watched(struct inode_table *table, const struct inode_key *key)
{
	struct inode *inode;
	bool watched;

	pthread_mutex_lock(&table->lock);
	inode = inode_find_locked(table, key);
	watched = inode && inode->watch >= 0 && !S_ISDIR(inode->host_type);
	pthread_mutex_unlock(&table->lock);
	return watched;
}

struct inode *inode_find_locked(struct inode_table *table,
				const struct inode_key *key)
{
	struct inode *inode;

	HASH_FIND(hh, table->by_key, key, sizeof(*key), inode);
	return inode;
}

void inode_table_counts(struct inode_table *table, size_t *host_inodes,
			size_t *watches, uint64_t *watches_failed,
			size_t *listings)
{
	pthread_mutex_lock(&table->lock);
	*host_inodes = table->n_host;
	*watches = HASH_COUNT(table->watches);
	*watches_failed = table->watch_failures;
	*listings = __atomic_load_n(&table->n_listings, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&table->lock);
}

void inode_snapshot_hold(struct inode_table *table, struct dir_snapshot *snap)
{
	pthread_mutex_lock(&table->lock);
	snap->refs++;
	pthread_mutex_unlock(&table->lock);
}

bool inode_snapshot_unhold(struct inode_table *table, struct dir_snapshot *snap)
{
	bool last;

	pthread_mutex_lock(&table->lock);
	last = --snap->refs == 0;
	pthread_mutex_unlock(&table->lock);
	return last;
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
 * gone[], for the caller to let go of once the lock is released. Called with
 * the lock held. Returns 0 or ENOMEM.
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

struct dir_snapshot *inode_pass_find(struct inode_table *table,
				     struct inode *inode, uint32_t gen,
				     uint64_t now)
{
	struct dir_snapshot *found = NULL;

	pthread_mutex_lock(&table->lock);
	for (uint32_t i = 0; i < inode->n_passes; i++) {
		struct dir_snapshot *kept = inode->passes[i];

		if (kept->gen == gen) {
			kept->refs++;
			kept->used_ns = now;
			found = kept;
			break;
		}
	}
	pthread_mutex_unlock(&table->lock);
	return found;
}

int inode_pass_keep(struct inode_table *table, struct inode *inode,
		    struct dir_snapshot *fresh, uint64_t now,
		    struct dir_snapshot *gone[2])
{
	int err;

	pthread_mutex_lock(&table->lock);
	/* 31 bits: offsets are signed. 0 is the handles' generation. */
	inode->listing_gen = (inode->listing_gen + 1) & 0x7fffffff;
	if (inode->listing_gen == 0)
		inode->listing_gen = 1;
	fresh->gen = inode->listing_gen;
	fresh->used_ns = now;
	fresh->refs++; /* the inode's and the caller's */
	err = keep_pass(inode, fresh, now, gone);
	pthread_mutex_unlock(&table->lock);
	return err;
}

bool inode_pass_drop(struct inode_table *table, struct inode *inode,
		     struct dir_snapshot *snap)
{
	bool held = false;

	pthread_mutex_lock(&table->lock);
	for (uint32_t i = 0; i < inode->n_passes; i++) {
		if (inode->passes[i] == snap) {
			drop_pass(inode, i);
			held = true;
			break;
		}
	}
	pthread_mutex_unlock(&table->lock);
	return held;
}
