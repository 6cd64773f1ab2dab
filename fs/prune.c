/*
 * prune: the descriptor budget of the inode table (see
 * include/canonfs/prune.h).
 */
#include "canonfs/prune.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

void prune_budget_init(struct inode_table *table)
{
	struct rlimit files;

	for (int i = 0; i < INODE_SPARE_FDS; i++)
		table->spare_fds[i] = -1;
	table->prune_reserve_fd = -1;
	/* An eighth of the descriptors, at most 4096, may stay open for
	 * I/O; the rest are for the O_PATH descriptors of the inodes. */
	table->max_io_fds = 256;
	table->prune_high = SIZE_MAX;
	table->prune_low = SIZE_MAX;
	table->prune_hard = SIZE_MAX;
	table->prune_wake_fd = -1;
	if (getrlimit(RLIMIT_NOFILE, &files) == 0) {
		size_t limit = files.rlim_cur == RLIM_INFINITY
				       ? SIZE_MAX / 2
				       : (size_t)files.rlim_cur;
		size_t for_inodes;

		if (limit / 8 > table->max_io_fds)
			table->max_io_fds = limit / 8 < 4096 ? limit / 8 : 4096;
		/* What is left after I/O descriptors and 256 for libfuse,
		 * inotify, pipes and the layout. */
		for_inodes = limit > table->max_io_fds + 512
				     ? limit - table->max_io_fds - 256
				     : 256;
		table->prune_hard = for_inodes;
		table->prune_high = for_inodes / 10 * 9;
		table->prune_low = for_inodes / 10 * 7;
	}
	prune_refill_spares(table);
}

void prune_budget_destroy(struct inode_table *table)
{
	for (int i = 0; i < INODE_SPARE_FDS; i++)
		if (table->spare_fds[i] >= 0)
			close(table->spare_fds[i]);
	if (table->prune_reserve_fd >= 0)
		close(table->prune_reserve_fd);
}

bool prune_io_fd_take(struct inode_table *table)
{
	if (__atomic_add_fetch(&table->n_io_fds, 1, __ATOMIC_RELAXED) >
	    table->max_io_fds) {
		__atomic_sub_fetch(&table->n_io_fds, 1, __ATOMIC_RELAXED);
		return false;
	}
	return true;
}

void prune_io_fd_give(struct inode_table *table)
{
	__atomic_sub_fetch(&table->n_io_fds, 1, __ATOMIC_RELAXED);
}

/* Called with the lock held. */
void prune_request_locked(struct inode_table *table)
{
	uint64_t one = 1;
	ssize_t rc;

	if (table->prune_pending || table->prune_wake_fd < 0)
		return;
	table->prune_pending = true;
	rc = write(table->prune_wake_fd, &one, sizeof(one));
	(void)rc;
}

struct inode *prune_begin(struct inode_table *table,
			  const struct inode_key *key)
{
	struct inode *inode;

	pthread_mutex_lock(&table->lock);
	HASH_FIND(hh, table->by_key, key, sizeof(*key), inode);
	if (inode && inode->waiting == 0) {
		inode->pruning = true;
		inode->lookup_count++; /* held until inode_prune_end */
	} else {
		inode = NULL;
	}
	pthread_mutex_unlock(&table->lock);
	return inode;
}

void prune_end(struct inode_table *table, struct inode *dir)
{
	pthread_mutex_lock(&table->lock);
	dir->pruning = false;
	dir->last_used = 0;
	pthread_mutex_unlock(&table->lock);
	inode_forget(table, dir, 1);
}

/* How long a request waits for room in a directory being pruned. */
#define PRUNING_WAIT_MS 50

static void add_ms(struct timespec *t, long ms)
{
	t->tv_sec += ms / 1000;
	t->tv_nsec += (ms % 1000) * 1000000L;
	if (t->tv_nsec >= 1000000000L) {
		t->tv_sec++;
		t->tv_nsec -= 1000000000L;
	}
}

static bool reached(const struct timespec *now, const struct timespec *when)
{
	return now->tv_sec > when->tv_sec ||
	       (now->tv_sec == when->tv_sec && now->tv_nsec >= when->tv_nsec);
}

/* What ends a wait for room early, besides an inode freed or the time. */
enum room_wait {
	/* Two pruner runs that freed nothing, below the hard mark. */
	FOR_THE_PRUNER,
	/* The pruner starting on the waiter's directory. */
	FOR_ANY_FORGET,
};

static bool waiting_is_vain(const struct inode_table *table,
			    const struct inode *dir, enum room_wait how,
			    uint64_t runs)
{
	if (how == FOR_ANY_FORGET)
		return dir->pruning;
	/* Two runs that ended without freeing anything cannot help: what
	 * is cached is in directories busy like this one. Unless past the
	 * hard mark: there every file name went out with an entry timeout
	 * of 0, and its FORGET comes, with no run, once its user lets go
	 * (late on a loaded machine, and it is all there is to wait for). */
	return table->n_host < table->prune_hard &&
	       table->prune_runs_done >= runs + 2;
}

/* Wait up to timeout_ms for an inode to be freed: true if one was. */
static bool wait_until_freed(struct inode_table *table, struct inode *dir,
			     int timeout_ms, enum room_wait how)
{
	/* The pruner is asked again every slice while it can help. */
	int slice_ms = how == FOR_THE_PRUNER ? 20 : timeout_ms;
	struct timespec deadline;
	uint64_t freed, runs;
	bool room;

	/* The room condition uses the monotonic clock (inode_table_init). */
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	pthread_mutex_lock(&table->lock);
	if (how == FOR_THE_PRUNER) {
		/* The pruner may be blocked on this directory's lock, which
		 * our request holds: only what it already did can free
		 * anything. */
		if (dir->pruning)
			timeout_ms = PRUNING_WAIT_MS;
		dir->last_used = ++table->clock;
	}
	add_ms(&deadline, timeout_ms);
	dir->waiting++;
	freed = table->n_freed;
	runs = table->prune_runs_done;
	while (table->n_freed == freed &&
	       !waiting_is_vain(table, dir, how, runs)) {
		struct timespec now, slice;

		prune_request_locked(table);
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (reached(&now, &deadline))
			break;
		slice = now;
		add_ms(&slice, slice_ms);
		pthread_cond_timedwait(&table->room, &table->lock,
				       reached(&slice, &deadline) ? &deadline
								  : &slice);
	}
	room = table->n_freed != freed;
	dir->waiting--;
	pthread_mutex_unlock(&table->lock);
	return room;
}

bool prune_wait_for_room(struct inode_table *table, struct inode *dir,
			 int timeout_ms)
{
	return wait_until_freed(table, dir, timeout_ms, FOR_THE_PRUNER);
}

/* Spares only a request in the directory being pruned may take: it holds
 * the directory's lock the pruner is waiting for, and nothing frees room
 * until it finishes. Requests elsewhere wait instead. */
#define SPARES_FOR_THE_PRUNED_DIR (INODE_SPARE_FDS / 2)

bool prune_release_spare(struct inode_table *table, struct inode *dir)
{
	int fd = -1, left = 0;

	pthread_mutex_lock(&table->lock);
	for (int i = 0; i < INODE_SPARE_FDS; i++)
		left += table->spare_fds[i] >= 0;
	for (int i = 0; i < INODE_SPARE_FDS && fd < 0 &&
			(dir->pruning || left > SPARES_FOR_THE_PRUNED_DIR);
	     i++) {
		fd = table->spare_fds[i];
		table->spare_fds[i] = -1;
	}
	prune_request_locked(table);
	pthread_mutex_unlock(&table->lock);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

bool prune_release_reserve(struct inode_table *table)
{
	int fd;

	pthread_mutex_lock(&table->lock);
	fd = table->prune_reserve_fd;
	table->prune_reserve_fd = -1;
	pthread_mutex_unlock(&table->lock);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

void prune_refill_spares(struct inode_table *table)
{
	pthread_mutex_lock(&table->lock);
	/* The pruner's first: without it nothing frees the others. */
	if (table->prune_reserve_fd < 0)
		table->prune_reserve_fd =
			open("/dev/null", O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < INODE_SPARE_FDS; i++)
		if (table->spare_fds[i] < 0)
			table->spare_fds[i] =
				open("/dev/null", O_RDONLY | O_CLOEXEC);
	pthread_mutex_unlock(&table->lock);
}

bool prune_keeps_names(const struct inode_table *table)
{
	/* A hint, read without the lock. */
	return __atomic_load_n(&table->n_host, __ATOMIC_RELAXED) <
	       table->prune_hard;
}

bool prune_table_full(struct inode_table *table)
{
	bool full;

	pthread_mutex_lock(&table->lock);
	full = table->n_host >= table->prune_hard;
	if (full)
		prune_request_locked(table);
	pthread_mutex_unlock(&table->lock);
	return full;
}

void prune_done(struct inode_table *table, size_t forgotten)
{
	pthread_mutex_lock(&table->lock);
	table->prune_pending = false;
	/* A run that had names forgotten frees inodes as the FORGETs come
	 * back, which may be after it ended: not a run in vain. */
	if (forgotten == 0)
		table->prune_runs_done++;
	pthread_cond_broadcast(&table->room);
	pthread_mutex_unlock(&table->lock);
}

/* A directory used since it was last pruned (last_used 0: pruned, and
 * not used since). */
static bool is_candidate(const struct inode *inode)
{
	return !inode->synthetic && S_ISDIR(inode->host_type) &&
	       inode->last_used != 0;
}

size_t prune_candidates(struct inode_table *table, struct prune_candidate **out)
{
	struct inode *inode, *tmp;
	size_t n = 0, capacity;

	pthread_mutex_lock(&table->lock);
	/* Counted, not guessed from the watches: with -o nowatch there are
	 * none. Directories are few next to files. */
	capacity = 0;
	HASH_ITER (hh, table->by_key, inode, tmp)
		capacity += is_candidate(inode);
	*out = calloc(capacity + 1, sizeof(**out));
	HASH_ITER (hh, table->by_key, inode, tmp) {
		if (!*out || n == capacity)
			break;
		if (!is_candidate(inode))
			continue;
		(*out)[n].key = inode->key;
		(*out)[n].nodeid = inode_nodeid(table, inode);
		(*out)[n].last_used = inode->last_used;
		n++;
	}
	pthread_mutex_unlock(&table->lock);
	return n;
}

/* Whether the table asked for a pruner run (the eventfd also wakes the
 * thread for other work). */
bool prune_asked(struct inode_table *table)
{
	bool asked;

	pthread_mutex_lock(&table->lock);
	asked = table->prune_pending;
	pthread_mutex_unlock(&table->lock);
	return asked;
}

static int by_last_used(const void *a, const void *b)
{
	const struct prune_candidate *pa = a, *pb = b;

	return pa->last_used < pb->last_used ? -1
					     : pa->last_used > pb->last_used;
}

struct prune_child {
	char *name;
	uint64_t nodeid;
	struct inode_key key;
	bool linked; /* a file with other names */
};

/* The cached files of directory `dir`: names with their node ids. */
static size_t cached_files(struct inode_table *table,
			   const struct prune_candidate *dir, int dir_fd,
			   const struct dir_listing *listing,
			   struct prune_child *out)
{
	size_t n = 0;

	pthread_mutex_lock(&table->lock);
	for (size_t i = 0; i < listing->n_entries; i++) {
		const struct dir_entry *entry = &listing->entries[i];
		struct inode_key key = {.mirror = dir->key.mirror};
		struct inode *child;
		struct stat st;

		/* Directories stay: a forgotten one could be someone's
		 * working directory. They are few. */
		if (entry->d_type == DT_DIR ||
		    fstatat(dir_fd, entry->name, &st, AT_SYMLINK_NOFOLLOW) ==
			    -1)
			continue;
		key.dev = st.st_dev;
		key.ino = st.st_ino;
		child = inode_find_locked(table, &key);
		if (child)
			out[n++] = (struct prune_child){
				.name = entry->name,
				.nodeid = inode_nodeid(table, child),
				.key = key,
				.linked =
					S_ISREG(st.st_mode) && st.st_nlink > 1};
	}
	pthread_mutex_unlock(&table->lock);
	return n;
}

/*
 * Have the kernel forget child's name. As deleted: it then takes the link
 * count of the inode to 0, and evicts the inode, FORGET and all, once
 * unused (an inode merely unnamed stays cached, its descriptor held, and
 * the walks that needed room fail with EMFILE). Not so for a file with
 * other names: the kernel would refuse link(2) through them (vfs_link sees
 * 0 links) until a reply about it came. Its descriptor may stay held.
 * Still, a pruned file that is open shows 0 links to fstat until its
 * attributes are next asked for.
 */
static int forget_name(struct fuse_session *se, uint64_t dir_nodeid,
		       const struct prune_child *child)
{
	size_t len = strlen(child->name);

	if (child->linked)
		return fuse_lowlevel_notify_inval_entry(se, dir_nodeid,
							child->name, len);
	return fuse_lowlevel_notify_delete(se, dir_nodeid, child->nodeid,
					   child->name, len);
}

/* Mark (or unmark) child as forgotten by the pruner, its FORGET due:
 * false, when marking, if it is gone or marked already (the kernel then
 * has no name of it left to forget: a notification would free nothing,
 * yet count as done). */
static bool mark_deleted(struct inode_table *table,
			 const struct prune_child *child, bool deleted)
{
	struct inode *inode;
	bool changed = false;

	pthread_mutex_lock(&table->lock);
	inode = inode_find_locked(table, &child->key);
	if (inode && inode_nodeid(table, inode) == child->nodeid &&
	    inode->prune_deleted != deleted) {
		inode->prune_deleted = deleted;
		changed = true;
	}
	pthread_mutex_unlock(&table->lock);
	return changed;
}

/* Spare descriptors are refilled this often within a run (in names
 * forgotten), as the FORGETs bring descriptors back. */
#define PRUNE_REFILL_EVERY 32

/*
 * Make the kernel drop the cached files of the least recently used
 * directories until about enough inodes are released. A name forgotten
 * with inval_entry would leave its inode cached; "deleted" (for the kernel
 * only: the host file is untouched) it is evicted at once, and FORGET
 * comes back. A file in use stays until closed; the next lookup of the
 * name finds it again.
 */
void prune_run(struct inode_table *table, struct stats *stats,
	       struct fuse_session *se)
{
	struct prune_candidate *dirs = NULL;
	size_t n, live, target, forgotten = 0;

	stats_add(stats, STAT_PRUNE_RUNS);
	n = prune_candidates(table, &dirs);
	pthread_mutex_lock(&table->lock);
	live = table->n_host;
	pthread_mutex_unlock(&table->lock);
	target = live > table->prune_low ? live - table->prune_low : 0;

	if (n > 0)
		qsort(dirs, n, sizeof(*dirs), by_last_used);
	for (size_t i = 0; i < n && forgotten < target; i++) {
		struct prune_child *children = NULL;
		struct dir_listing listing;
		size_t n_children = 0;
		uint64_t dir_nodeid;
		struct inode *dir;
		int err;

		/* Skipped while a request in it waits for room: it holds the
		 * lock a notification needs. */
		if (!(dir = prune_begin(table, &dirs[i].key)))
			continue;
		dir_nodeid = inode_nodeid(table, dir);
		/* The listing is the one descriptor a run needs: when the
		 * requests have taken all, the pruner's own reserve. */
		err = dir_listing_read_host(dir->host_fd, &listing);
		if ((err == EMFILE || err == ENFILE) &&
		    prune_release_reserve(table))
			err = dir_listing_read_host(dir->host_fd, &listing);
		if (err) {
			prune_end(table, dir);
			continue;
		}
		children = calloc(listing.n_entries + 1, sizeof(*children));
		if (children)
			n_children = cached_files(table, &dirs[i], dir->host_fd,
						  &listing, children);
		for (size_t j = 0; j < n_children; j++) {
			/* Marked first: its FORGET may come before the
			 * notification returns. */
			if (!mark_deleted(table, &children[j], true))
				continue;
			if (forget_name(se, dir_nodeid, &children[j]) != 0) {
				mark_deleted(table, &children[j], false);
				continue;
			}
			stats_add(stats, STAT_PRUNE_ENTRY);
			if (++forgotten % PRUNE_REFILL_EVERY == 0)
				prune_refill_spares(table);
		}
		free(children);
		dir_listing_free(&listing);
		prune_end(table, dir);
	}
	free(dirs);
	prune_refill_spares(table);
	prune_done(table, forgotten);
}

/* How long a request out of descriptors waits for the pruner to make room
 * before it takes a spare one, how long it waits for any inode to be freed
 * once the spares are gone too, and how often it tries again (others may
 * take what was freed first). */
#define ROOM_WAIT_MS 2000
#define LAST_WAIT_MS 5000
#define ROOM_ROUNDS 64

/*
 * After an open in dir failed with err, in retry `round`: whether to try
 * again, once the kernel has forgotten old names (the pruner asks it to)
 * or, when waiting cannot help, a spare descriptor was released, or, with
 * none left to this request, once anything was freed after all.
 */
bool prune_room_made(struct inode_table *table, struct inode *dir, int err,
		     int round)
{
	return (err == EMFILE || err == ENFILE) && round < ROOM_ROUNDS &&
	       (prune_wait_for_room(table, dir, ROOM_WAIT_MS) ||
		prune_release_spare(table, dir) ||
		/* The last resort before EMFILE, no spare being left to
		 * this request: the pruner goes on elsewhere (it passes
		 * over dir meanwhile), and FORGETs come as the kernel lets
		 * go of names. Not in a directory being pruned: the pruner
		 * may be waiting for the lock this request holds. */
		wait_until_freed(table, dir, LAST_WAIT_MS, FOR_ANY_FORGET));
}

/* openat() in dir, making room when out of descriptors. Returns the
 * descriptor, or -1 with errno. */
int prune_open_with_room(struct inode_table *table, struct inode *dir,
			 const char *name, int flags)
{
	int fd = openat(dir->host_fd, name, flags);
	int err = errno;

	for (int round = 0; fd == -1 && prune_room_made(table, dir, err, round);
	     round++) {
		fd = openat(dir->host_fd, name, flags);
		err = errno;
	}
	errno = err;
	return fd;
}
