/*
 * own: what the daemon itself did to directory entries, so that the
 * watcher can skip the inotify events its own writes cause. The kernel
 * already knows about a create, unlink, mkdir or rename made through the
 * mount; invalidating it again would only cost lookups.
 *
 * Exact by construction: an event is skipped only when it names the same
 * directory, the same entry and the same kind of change as a change the
 * daemon made itself, and each record is used once. A host change can
 * never look like one of ours: creating a name we created needs a delete
 * first, which is not ours and is invalidated. Records expire after two
 * seconds, and the ring forgets the oldest when full: a record missed only
 * costs an extra invalidation.
 */
#ifndef CANONFS_OWN_H
#define CANONFS_OWN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <time.h>

#define OWN_RING_SIZE 1024

struct own_change {
	uint64_t dir_dev; /* for IN_ATTRIB: the file's own dev and ino */
	uint64_t dir_ino;
	uint32_t kind;	 /* IN_CREATE, IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO,
			    or IN_ATTRIB */
	uint32_t mode;	 /* IN_ATTRIB: the canonical mode and size the kernel */
	int64_t size;	 /* was given after the change */
	bool with_times; /* IN_ATTRIB: the host times below count too */
	bool any_ctime;	 /* with_times: but not the ctime */
	struct timespec atime, mtime, ctime;
	struct timespec when;
	char *name; /* owned ("" for IN_ATTRIB); NULL for a free slot */
};

struct own_changes {
	pthread_mutex_t lock;
	struct own_change ring[OWN_RING_SIZE]; /* protected by lock */
	unsigned next;			       /* protected by lock */
};

void own_init(struct own_changes *own);
void own_destroy(struct own_changes *own);

/* Record that the daemon is about to make change `kind` to `name` in the
 * directory with host (dev, ino): before the call, since the watcher may
 * read the event before the call returns. */
void own_record(struct own_changes *own, uint64_t dir_dev, uint64_t dir_ino,
		const char *name, uint32_t kind);

/* True, and the record used up, when an event is one of ours. kind is the
 * event's mask; only its entry-change bits count. */
bool own_consume(struct own_changes *own, uint64_t dir_dev, uint64_t dir_ino,
		 const char *name, uint32_t kind);

/*
 * Attribute changes (chmod, utimes through the mount). inotify merges
 * repeated IN_ATTRIB events, so a host change could hide behind one of
 * ours: such an event is skipped only when the file's canonical mode and
 * size are still those the kernel was given, that is when the view did not
 * change whatever happened. So a record may be made before the change,
 * with the values it will leave, and a stale one is harmless.
 *
 * Where the view shows host times (the baseline and passthrough modes),
 * they are part of it: times is then the host's stat right after the
 * change (the record is made after it, so an event read first is simply
 * invalidated), and the event is skipped only when the file's times are
 * still exactly those. Elsewhere times is NULL. st is the file's stat when
 * the event is read.
 */
void own_record_attr(struct own_changes *own, uint64_t dev, uint64_t ino,
		     uint32_t mode, int64_t size, const struct stat *times);
/* A link count change of ours (link, unlink, rename over a name): before
 * is the file's stat before it. The event is skipped only while the
 * file's mode, size, atime and mtime are still those: the change moves
 * the ctime alone, and a host chmod, touch or write that inotify merged
 * into the same event changes one of them. */
void own_record_link_count(struct own_changes *own, uint64_t dev, uint64_t ino,
			   uint32_t mode, const struct stat *before);
bool own_consume_attr(struct own_changes *own, uint64_t dev, uint64_t ino,
		      uint32_t mode, int64_t size, const struct stat *st);

/*
 * Writes and truncates through the mount. The kernel updated its pages as
 * it sent them, so their IN_MODIFY must not drop the pages: dropping them
 * while another write is in flight lets a concurrent read cache the old
 * bytes over the new ones. Attributes are still refreshed.
 *
 * Each file remembers the host (ctime, size) its last known modification
 * left: set when the inode is made, after each of our writes, and when the
 * watcher drops its pages. A write that finds the file already changed
 * from that (a host edit whose event may be merged with ours) marks the
 * file, and its next IN_MODIFY drops the pages as for any host change. An
 * IN_MODIFY is ours when the file is unmarked and either one of our writes
 * is under way (the event may be its own or an earlier one's) or the file
 * is still at the (ctime, size) our last write left (or the watcher's stat
 * was taken before that write: its own event follows). Not covered: a host
 * write landing while one of ours is under way (between the stats taken
 * before and after it), or, on kernels without fine-grained ctimes, within
 * the same clock tick as ours.
 */
struct own_write_state {
	struct timespec ctime; /* protected by own_changes.lock */
	int64_t size;
	unsigned in_flight; /* our writes between their two stats */
	bool known;	    /* ctime and size are set */
	bool foreign;	    /* changed by someone else since they were set */
};

/* The inode was just made from host stat st (no lock needed yet). */
void own_write_init(struct own_write_state *w, const struct stat *st);
/* Around each write or truncate: the file's fstat before and after
 * (after may be NULL when the stat failed). own_write_before returns false
 * when `before` predates a write of ours that finished since: stat again
 * and call it again (with last_try set, it takes the stat as it is). Once
 * it has returned true, own_write_after must be called. */
bool own_write_before(struct own_changes *own, struct own_write_state *w,
		      const struct stat *before, bool last_try);
void own_write_after(struct own_changes *own, struct own_write_state *w,
		     const struct stat *after);
/* A change of ours that did not go through own_write_before/after (the
 * kernel's own passthrough writes) left the file at `now`. */
void own_write_known(struct own_changes *own, struct own_write_state *w,
		     const struct stat *now);
/* The kernel's view of the file is wrong after a write of ours (an append
 * that landed past a host append the kernel has not seen): the next
 * IN_MODIFY counts as foreign, so that the view is dropped. Call before
 * the write. */
void own_write_foreign(struct own_changes *own, struct own_write_state *w);
/* An IN_MODIFY for the file, which is now at `now`: true when it is ours
 * (keep the pages). Otherwise the pages go and `now` becomes the known
 * state. */
bool own_consume_write(struct own_changes *own, struct own_write_state *w,
		       const struct stat *now);

/* Take back a record whose change failed (there will be no event). */
void own_cancel(struct own_changes *own, uint64_t dir_dev, uint64_t dir_ino,
		const char *name, uint32_t kind);

#endif
