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
#include <time.h>

#define OWN_RING_SIZE 1024

struct own_change {
	uint64_t dir_dev; /* for IN_ATTRIB: the file's own dev and ino */
	uint64_t dir_ino;
	uint32_t kind; /* IN_CREATE, IN_DELETE, IN_MOVED_FROM, IN_MOVED_TO,
			  or IN_ATTRIB */
	uint32_t mode; /* IN_ATTRIB: the canonical mode and size the kernel */
	int64_t size;  /* was given after the change */
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
 */
void own_record_attr(struct own_changes *own, uint64_t dev, uint64_t ino,
		     uint32_t mode, int64_t size);
bool own_consume_attr(struct own_changes *own, uint64_t dev, uint64_t ino,
		      uint32_t mode, int64_t size);

/* Take back a record whose change failed (there will be no event). */
void own_cancel(struct own_changes *own, uint64_t dir_dev, uint64_t dir_ino,
		const char *name, uint32_t kind);

#endif
