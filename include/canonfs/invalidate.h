/*
 * invalidate: exact invalidation of the kernel's caches for host changes
 * made outside the mount (an editor, git checkout), and pruning of the
 * kernel's cache when the inode table is full.
 *
 * Every host directory the kernel knows is watched with inotify (the inode
 * table adds and removes the watches). A thread of its own reads the
 * events and tells the kernel what to forget: the cached name for a
 * created, deleted or renamed entry, the attributes and pages of a
 * modified file. That is what lets the kernel cache names, attributes and
 * pages for long without ever serving them stale.
 */
#ifndef CANONFS_INVALIDATE_H
#define CANONFS_INVALIDATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

struct canonfs_fs;

/* Invalidations to send again, kept by the watcher thread. */
#define INVALIDATOR_RETRIES 256

struct inval_retry {
	uint64_t nodeid;
	int64_t off;			   /* -1: attributes only */
	uint64_t due_ns, until_ns, gap_ns; /* CLOCK_MONOTONIC */
};

struct invalidator {
	struct canonfs_fs *fs;	 /* not owned */
	struct fuse_session *se; /* not owned; set by invalidator_start */
	int inotify_fd;		 /* owned; -1 when inotify is unavailable */
	/* Owned inotify descriptor of the host directories the compilers'
	 * scripts depend on (control.c), or -1. Apart from inotify_fd: the
	 * table removes its watches as the kernel forgets inodes, and one
	 * directory would share one watch. */
	int compiler_fd;
	/* What it watches: (watch descriptor, entry name) pairs, the events
	 * that matter (an event of the directory itself always does).
	 * Protected by watches_lock. */
	struct compiler_watch *compiler_watches;
	size_t n_compiler_watches, compiler_watches_cap;
	pthread_mutex_t watches_lock;
	int stop_pipe[2];      /* owned; written to stop the thread */
	int request_fd;	       /* owned eventfd: forget_all, links_pending */
	bool forget_all;       /* atomic; with a request_fd wake: forget all */
	uint64_t forgets_done; /* protected by lock; forget-alls completed */
	pthread_t thread;
	/* Pruning has a thread of its own: it waits for the kernel at each
	 * name it makes it forget, and host events must not wait for it. */
	int prune_fd; /* owned eventfd; the table asks to prune */
	pthread_t prune_thread;
	bool running;
	pthread_mutex_t lock; /* protects busy and retrying */
	pthread_cond_t idle;  /* signalled each time a batch is applied */
	bool busy;	      /* the thread holds events not yet applied */
	/* An inode invalidated just after a reply handed it to the kernel
	 * may not be the kernel's inode yet (it is made when the requester
	 * runs): the invalidation finds nothing and is sent again, with
	 * growing gaps, for up to 200 ms. The thread's own. */
	struct inval_retry retries[INVALIDATOR_RETRIES];
	size_t n_retries;
	bool retrying; /* retries are pending: the barrier waits for them */
	/* Requests to forget symlink targets (with a request_fd wake), and the
	 * runs that served them; protected by lock. */
	bool links_pending;
	uint64_t links_started, links_done;
	/* A host directory's mode or owner changed in the events being
	 * applied (fs->host_checks only): once they are, every kept
	 * descriptor is checked again and every cached page and name is
	 * forgotten. The thread's own. */
	bool dir_access_changed;
	/* When what no watch covers is next compared with the host
	 * (CLOCK_MONOTONIC ns; inode_unwatched_changes). The thread's own. */
	uint64_t next_sweep_ns;
	/* When the last batch of events was read (CLOCK_MONOTONIC ns): events
	 * coming back sooner are a storm, taken in batches. The thread's own.
	 */
	uint64_t last_read_ns;
	/* Barriers waiting (atomic): a storm's events are then read at once. */
	unsigned barrier_waiters;
};

/* Create the inotify descriptor (before the inode table, which adds the
 * watches to it). Without inotify, inotify_fd stays -1 and the mount falls
 * back to short cache timeouts. Returns 0 or an errno value. */
int invalidator_init(struct invalidator *inv, struct canonfs_fs *fs);

/* Start the event thread; call after daemonizing (threads do not survive
 * fork). It also prunes: every host inode holds a descriptor, so when the
 * table nears the descriptor limit, the kernel is told to forget the
 * names of the least recently used directories; it then sends FORGET for
 * what it no longer needs. Returns 0 or an errno value. */
int invalidator_start(struct invalidator *inv, struct fuse_session *se);

/* Wait until every host change made before the call has been applied to
 * the kernel's caches (inotify queues events synchronously, so they are
 * either still queued or being applied). */
void invalidator_barrier(struct invalidator *inv);

/* Have the kernel forget the symlink targets it was shown (a rename
 * through the mount moved symlinks, whose shown targets depend on where
 * they sit). With wait, returns once done (at most a second); the barrier
 * waits for it too. A request handler may wait only when other threads
 * serve requests: a readlink in flight holds a page the invalidation
 * needs until its READLINK is answered. */
void invalidator_forget_links(struct invalidator *inv, bool wait);

/* Empty the kernel's caches (attributes, pages, names) so that every
 * access reaches the daemon again (a trace starting); returns once done.
 * The watcher thread sends the notifications: a request handler must not. */
void invalidator_forget_all(struct invalidator *inv);

/* Have the kernel look every name it holds up again before it next uses
 * it (FUSE_NOTIFY_INC_EPOCH, Linux 6.16): the notification takes no lock
 * in the kernel, so a request handler may send it. Returns 0, or an errno
 * value (EINVAL from an older kernel). */
int invalidator_expire_names(struct invalidator *inv);

/* Watch entry name of host directory dir (created, removed, renamed,
 * written, its mode changed), and dir itself, for the compilers' scripts:
 * such a change has them made again (control.c). Returns 0, or an errno
 * value (ENOSYS without inotify). */
int invalidator_watch_compiler_entry(struct invalidator *inv, const char *dir,
				     const char *name);

/* Stop the thread (before the inode table goes away). */
void invalidator_stop(struct invalidator *inv);

/* Stop the thread if running and close the descriptors (after the inode
 * table is destroyed: it removes its watches from inotify_fd). */
void invalidator_destroy(struct invalidator *inv);

#endif
