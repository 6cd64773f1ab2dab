/*
 * prune: the descriptor budget of the inode table.
 *
 * Every host inode holds an O_PATH descriptor, so the number of inodes the
 * kernel may keep is bounded by the descriptor limit. This module sets the
 * budget from RLIMIT_NOFILE at start, asks the pruner to make the kernel
 * forget names when the table grows past it, runs the pruner, and lets a
 * request that finds no descriptor free wait for room or take a spare.
 *
 * Invariants:
 *  - prune_low < prune_high < prune_hard (all const after start): past
 *    prune_high the pruner is asked (prune_wake_fd) to make the kernel
 *    forget the cached files of the least recently used directories until
 *    about prune_low host inodes are left; past prune_hard listings give
 *    names without attributes, which take no descriptor, and lookups give
 *    names the kernel drops once used (prune_keeps_names).
 *  - A name the pruner had the kernel forget is not sent again until the
 *    kernel looks it up again (inode.prune_deleted): the notification
 *    would free nothing and yet count towards the run's target.
 *  - At most max_io_fds descriptors for I/O are kept by inodes (read_fd,
 *    write_fd; n_io_fds counts them): prune_io_fd_take before keeping one,
 *    prune_io_fd_give when it is closed.
 *  - INODE_SPARE_FDS spare descriptors (on /dev/null) wait for requests
 *    that run out and for which waiting did not help, and one reserve for
 *    the pruner's own listing of a directory, its only need: released when
 *    out, refilled after each run, the pruner's first.
 *  - A directory is never pruned while a request in it waits for room
 *    (inode.waiting) and a request there waits only briefly while it is
 *    being pruned (inode.pruning): telling the kernel to forget a name
 *    takes the directory's lock, which the kernel holds while the request
 *    is at work.
 *  - A directory is a candidate when used since it was last pruned
 *    (inode.last_used, from the table's lookup clock; 0: pruned since).
 *
 * Locks: the budget's mutable state (spare_fds, prune_reserve_fd,
 * prune_pending, prune_runs_done, clock, and each inode's waiting, pruning
 * and last_used) is protected by inode_table.lock; n_io_fds is atomic.
 * prune_request_locked is called with that lock held; every other function
 * takes it itself and must be called without it. Nothing here waits for
 * the kernel with the lock held: prune_run collects under it, then sends
 * its notifications. prune_run is the pruner thread's alone (invalidate.c
 * runs it), one run at a time, each ended with prune_done; the room
 * condition (inode_table.room) is signalled when inodes are freed
 * (inode_forget) and when a run ends.
 */
#ifndef CANONFS_PRUNE_H
#define CANONFS_PRUNE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "canonfs/inode.h"
#include "canonfs/stats.h"

struct fuse_session;

/* Set the budget from the descriptor limit and open the spares (at
 * inode_table_init). */
void prune_budget_init(struct inode_table *table);

/* Close the spares (at inode_table_destroy). */
void prune_budget_destroy(struct inode_table *table);

/* Count one more I/O descriptor kept by an inode: false (nothing counted)
 * when max_io_fds are kept already. */
bool prune_io_fd_take(struct inode_table *table);

/* One I/O descriptor counted by prune_io_fd_take is closed. */
void prune_io_fd_give(struct inode_table *table);

/* Wake the pruner unless a run is asked for already. Called with the
 * table lock held. */
void prune_request_locked(struct inode_table *table);

/* One directory the pruner may empty of cached names. */
struct prune_candidate {
	struct inode_key key; /* to find it again: it may be freed meanwhile */
	uint64_t nodeid;
	uint64_t last_used;
};

/* The host directories of the table used since they were last pruned, in
 * *out (the caller frees it). Returns the count; 0 when out of memory. */
size_t prune_candidates(struct inode_table *table,
			struct prune_candidate **out);

/* Start pruning the directory with this key: the inode, held (one more
 * lookup) until prune_end, or NULL when it is gone or a request in
 * it waits for room. Holding it takes no descriptor: the pruner runs when
 * there are none to spare. */
struct inode *prune_begin(struct inode_table *table,
			  const struct inode_key *key);

/* Done pruning directory dir: it is no candidate again until a lookup in
 * it uses it, and the hold is let go. */
void prune_end(struct inode_table *table, struct inode *dir);

/*
 * Out of descriptors while working in directory dir: ask for pruning and
 * wait until an inode is freed (true), or until waiting cannot help
 * (false): timeout_ms passed, or two pruner runs ended without freeing
 * anything while the table is below prune_hard (past it, names go out
 * with no entry timeout, and their FORGETs are due with no run). The
 * caller may then take a spare descriptor.
 *
 * Telling the kernel to forget a name takes its directory's lock, which
 * the kernel holds while this request is at work: so the pruner passes
 * over directories with a waiting request, and a request in a directory
 * the pruner is already working on waits only briefly (the pruner may be
 * blocked on its lock; only what it did before can free anything).
 */
bool prune_wait_for_room(struct inode_table *table, struct inode *dir,
			 int timeout_ms);

/* Close one of the table's spare descriptors, so that the caller's next
 * open (in directory dir) finds room; false when none is left to it. The
 * last few are kept for requests in the directory being pruned, which
 * hold the lock the pruner waits for. The pruner refills them. */
bool prune_release_spare(struct inode_table *table, struct inode *dir);

/* Close the descriptor kept for the pruner's own listing of a directory
 * (its only need), when it finds none free; false when none is left. */
bool prune_release_reserve(struct inode_table *table);

/* Reopen released spare descriptors, the pruner's first (the pruner,
 * after a run). */
void prune_refill_spares(struct inode_table *table);

/* Whether names handed to the kernel now may stay cached: not past
 * prune_hard, where a lookup tells the kernel to drop the name once used
 * (an entry timeout of 0). That frees the descriptor without the pruner,
 * which needs the directory's lock the lookup's request holds. */
bool prune_keeps_names(const struct inode_table *table);

/* Whether the table is past prune_hard (and, if so, wake the pruner):
 * listings then give names without attributes. */
bool prune_table_full(struct inode_table *table);

/* The pruner is done, having had `forgotten` names forgotten: a new
 * request may wake it again. */
void prune_done(struct inode_table *table, size_t forgotten);

/* Whether the table asked for a pruner run (the eventfd also wakes the
 * pruner thread for other work). */
bool prune_asked(struct inode_table *table);

/* One pruner run: the kernel forgets the cached files of the least
 * recently used directories (notifications through se, counted in stats)
 * until about prune_low host inodes are left. */
void prune_run(struct inode_table *table, struct stats *stats,
	       struct fuse_session *se);

/*
 * After an open in dir failed with err, in retry `round`: whether to try
 * again, once the kernel has forgotten old names (the pruner asks it to)
 * or, when waiting cannot help, a spare descriptor was released.
 */
bool prune_room_made(struct inode_table *table, struct inode *dir, int err,
		     int round);

/* openat() in dir, making room when out of descriptors. Returns the
 * descriptor, or -1 with errno. */
int prune_open_with_room(struct inode_table *table, struct inode *dir,
			 const char *name, int flags);

#endif
