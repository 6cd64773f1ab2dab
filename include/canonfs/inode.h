/*
 * inode: the table of inodes the kernel knows about.
 *
 * A host inode is keyed by (mirror, st_dev, st_ino) and holds an O_PATH
 * descriptor opened with O_NOFOLLOW relative to its parent's descriptor;
 * every host access goes through these descriptors with the *at() calls,
 * so a path swapped underneath (a directory replaced by a symlink to /etc)
 * is never followed out of the mirror.
 *
 * The FUSE node id of an inode is its address (the root is FUSE_ROOT_ID).
 * An inode lives while the kernel holds lookups on it: each entry reply
 * adds one, FORGET takes them back, and at zero the inode and its
 * descriptor are freed, so memory stays bounded on huge trees. Synthetic
 * directories and mirror roots are pinned: created at start, never freed.
 *
 * When the table has an inotify descriptor, every host directory inode is
 * watched for as long as it lives (see invalidate.c), and so is every file
 * seen with several links; inodes of the same host object share one watch
 * descriptor and are chained on it.
 */
#ifndef CANONFS_INODE_H
#define CANONFS_INODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/inotify.h>
#include <uthash.h>

#include "canonfs/control.h"
#include "canonfs/dir.h"
#include "canonfs/layout.h"
#include "canonfs/own.h"

/* Listings kept per directory for passes under way: as many as that, the
 * least recently used giving way; one idle that long goes anyway. */
#define INODE_PASSES_MAX 64
#define INODE_PASS_IDLE_NS (30 * 1000000000ull)
/* Names of one hard-linked file the trace keeps. */
#define INODE_LINK_NAMES 32
/* Descriptors kept in reserve for requests that waiting did not help. */
#define INODE_SPARE_FDS 16

struct inode_key {
	uint64_t dev;
	uint64_t ino;
	uint32_t mirror;
	uint32_t zero; /* padding, always 0 so the key hashes as bytes */
};

/*
 * One inode per host object (per mirror): every name of a hard-linked file
 * is the same kernel inode, so writes through one name are seen through the
 * other (two inodes would cache two copies of the pages and lose appends).
 * It shows the number derived from the first name it was looked up by.
 */
struct inode {
	struct inode_key key; /* const; key.mirror: index in layout.mirrors */
	uint64_t canon_ino;   /* const; st_ino shown, from the virtual path of
				 the name it was first looked up by, unless
				 a live inode already shows that number */
	UT_hash_handle hh;    /* protected by inode_table.lock */
	UT_hash_handle canon_hh; /* by_canon: host inodes; under the lock */
	bool synthetic;		 /* const; no host object: a synthetic directory
				    of the layout or a control node */
	unsigned char control;	 /* const; CONTROL_* of a control node, or 0 */
	bool pinned;		 /* const; never freed */
	unsigned synth_dir;	 /* const; synthetic: index in layout.dirs */
	int host_fd;		 /* const; host: O_PATH|O_NOFOLLOW, owned */
	mode_t host_type;	 /* const; S_IFMT bits when first looked up */
	uint64_t parent_canon_ino; /* const; shown for ".." */
	bool watched;		   /* const; a watched dir: host changes inside
				      it are reported */
	bool parent_watched;	   /* const; host changes to it are reported */
	uint64_t lookup_count;	   /* protected by inode_table.lock */
	uint64_t last_used; /* protected by lock; clock of the last lookup
			       in this directory, for pruning */
	/* Requests in this directory waiting for room, and whether the
	 * pruner is making the kernel forget names in it: the two exclude
	 * each other, see prune_wait_for_room(). */
	unsigned waiting; /* protected by lock */
	bool pruning;	  /* protected by lock */
	/* The pruner had the kernel forget this file's name, and its FORGET
	 * is due: the next run passes over it. */
	bool prune_deleted; /* protected by lock */
	int watch; /* protected by lock; inotify wd of a dir (or of a file
		      with several links), or -1 */
	struct inode *watch_next; /* protected by lock; next on the same wd */
	/* Host events read for this directory: a lookup in it compares the
	 * count before and after its stat (inode_change_seq). */
	uint32_t change_seq; /* protected by lock */
	/* When an entry reply last handed this inode to the kernel
	 * (CLOCK_MONOTONIC ns): until the kernel has made its inode from
	 * the reply, an invalidation of it finds nothing. Atomic. */
	uint64_t handed_ns;

	/* Descriptors for I/O that comes without a file handle (the kernel
	 * was told to stop sending OPEN): opened on first use, set once by
	 * compare-and-swap, closed when the inode is freed. */
	int read_fd;
	int write_fd;
	/* Where the host's permission checks apply to the daemon, whether
	 * they may answer otherwise now than when those were opened: its
	 * mode or owner changed since (bit 0 for read_fd, bit 1 for
	 * write_fd), or a directory's did since io_checked_epoch[slot]
	 * (canonfs_fs.dir_access_epoch). Atomic. */
	uint8_t access_changed;
	uint32_t io_checked_epoch[2];
	/* inode_access_sig of the host object when last seen by the
	 * watcher, to tell a chmod or chown from utimes. Atomic. */
	uint64_t access_sig;
	/* Its host times and size when last looked at: where no watch
	 * reports its changes, inode_unwatched_changes compares. Protected
	 * by lock. */
	uint64_t content_sig;
	/* Its last known modification, to tell our writes' IN_MODIFY from
	 * the host's (own.h). */
	struct own_write_state own_write;
	/* Passthrough (passthrough.h), decided once for the inode's life: 0
	 * not yet, -1 its I/O goes through the daemon, else the kernel's
	 * backing id for it, given back when the inode is freed. Atomic. */
	int32_t backing;
	/* A passthrough open that may write was handed out, and no writer's
	 * close seen since: the host's content events for the file are the
	 * kernel's writes (passthrough_own_event). Atomic. */
	bool passthrough_writing;
	/* The listings served to handle-less READDIR (no OPENDIR): a pass
	 * starts a new one at offset 0, kept while it is under way, so that
	 * it goes on in its own snapshot (offsets carry its gen) however
	 * many others start meanwhile. Protected by lock. */
	struct dir_snapshot **passes;
	uint32_t n_passes;
	uint32_t listing_gen; /* protected by lock; last gen handed out */

	/* The last read refused for a shrunk host file: where it began and
	 * the thread that asked (atomic; -1 none), see op_read. */
	int64_t outran_off;
	pid_t outran_reader;
	/* Where the zeros begin that the kernel may hold past the end of
	 * this file's last page: a short read or a truncate leaves them,
	 * and they are stale once the host file grows past it, see
	 * ops_zero_fill_forget. Packed with a count of its changes
	 * (zero_fill_at, zero_fill_next); atomic. */
	uint64_t zero_fill;

	/* The trace epoch (+1) in which this file's read and write were
	 * recorded: each is recorded once. Racy on purpose: the trace keeps
	 * one record per path anyway. made_traced: the epoch in which it was
	 * created, written or truncated through the mount; what the build
	 * reads of it after that is its own output, not an input. */
	uint64_t read_traced;
	uint64_t write_traced;
	uint64_t made_traced;

	/* The names a file with several links was looked up by while
	 * tracing (virtual paths, owned; at most INODE_LINK_NAMES): the
	 * kernel does not say through which name a read came, so the trace
	 * records it under each. Protected by lock. */
	char **link_names;
	uint32_t n_link_names;

	/* The name of this regular file that the kernel may keep with a
	 * timeout (canon_child_ino of its place, LINK_NAME_*): the kernel
	 * counts the links we show, 1, down when a name goes, and refuses
	 * link(2) on the inode while it holds the 0 (see ops_entry.c). A
	 * name it caches with no timeout gives the count back when used.
	 * Atomic. */
	uint64_t timed_name;

	/* A symlink's host target, once read (owned; set once, by
	 * compare-and-swap). */
	char *link_target;

	/* Contents of a control file (owned): const, but for a compiler's,
	 * which control.c replaces under its lock when the host compiler
	 * changes (control_gen: the generation they were made for). */
	char *control_data;
	size_t control_len;
	uint64_t control_gen;
	bool control_timed; /* a compiler's: watched, the kernel may cache it */
	bool control_acted; /* a trace file acted (control_act_lock) */
	/* Its outcome; or ENOENT for a kept compiler not served now. An
	 * errno value or 0. */
	int control_err;
};

/* The inodes that share one inotify watch descriptor. */
struct inode_watch {
	int wd;
	struct inode *first;
	UT_hash_handle hh;
};

struct inode_table {
	pthread_mutex_t lock;
	struct inode *by_key;	   /* host inodes; protected by lock */
	struct inode *by_canon;	   /* host inodes by canon_ino; lock */
	struct inode **synthetic;  /* one per layout dir; const */
	struct inode *control_dir; /* MNT/.canonfs, pinned; const */
	struct inode *control_bin; /* MNT/.canonfs/bin, pinned; const */
	/* Its compilers (CONTROL_BIN_CC on), pinned; const. */
	struct inode *compilers[CONTROL_N_COMPILERS];
	struct inode **mirror_roots; /* one per mirror; const */
	size_t n_synthetic;
	size_t n_mirrors;
	size_t n_host;	  /* live host inodes; protected by lock */
	uint64_t n_freed; /* host inodes ever freed; protected by lock */
	uint64_t prune_runs_done; /* protected by lock; runs that had
				     nothing forgotten */
	size_t trim_peak; /* most live since memory was last handed back;
			     protected by lock */
	uint64_t n_control_files; /* ever made; protected by lock */
	size_t n_io_fds;	  /* read_fd/write_fd open now; atomic */
	size_t n_listings; /* directory snapshots alive (passes under way,
			      open directories); atomic */
	size_t max_io_fds; /* const; past it, I/O descriptors are not kept */
	uint64_t clock;	   /* protected by lock; counts lookups */

	/* Every host inode holds a descriptor, so their number is bounded by
	 * the descriptor limit: past prune_high, prune_wake_fd (an eventfd,
	 * not owned) asks the pruner to make the kernel forget the least
	 * recently used names until the count is back under prune_low.
	 * The budget is prune.c's: see prune.h for its invariants. */
	size_t prune_high; /* const */
	size_t prune_low;  /* const */
	/* const; past it listings give names without attributes, which
	 * take no descriptor: those left are for lookups, the pruner,
	 * listings and I/O */
	size_t prune_hard;
	/* Descriptors held open for a request that runs out and for which
	 * waiting did not help (prune_wait_for_room); -1 when released.
	 * Protected by lock. */
	int spare_fds[INODE_SPARE_FDS];
	int prune_reserve_fd; /* protected by lock; the pruner's, or -1 */
	int prune_wake_fd;    /* const after start; -1 without a pruner */
	bool prune_pending;   /* protected by lock */
	pthread_cond_t room;  /* signalled when inodes are freed and when a
				 pruner run ends */
	int inotify_fd;	      /* const; -1 when host changes are not watched */
	struct inode_watch *watches; /* by wd; protected by lock */
	/* Directories whose watch could not be added (out of watches):
	 * what lies in them is then compared now and then instead
	 * (inode_unwatched_changes). Protected by lock. The first failure
	 * wakes the watcher through sweep_wake_fd (an eventfd, not owned;
	 * const after start, -1 without a watcher). */
	uint64_t watch_failures;
	int sweep_wake_fd;
	/* The session's /dev/fuse, on which backing ids are given back when
	 * inodes are freed (passthrough.h); -1 without passthrough hooks or
	 * once the session is gone. Const while the session serves. */
	int backing_dev_fd;
};

/* The events that change what the kernel may have cached. */
#define INODE_WATCH_EVENTS                                                     \
	(IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_MODIFY |     \
	 IN_CLOSE_WRITE | IN_ATTRIB | IN_ONLYDIR | IN_EXCL_UNLINK)
/* IN_CLOSE_WRITE counts as a modification: writes through a shared mmap
 * raise no IN_MODIFY, and the writer's close is all inotify reports. */
#define INODE_CONTENT_EVENTS (IN_MODIFY | IN_CLOSE_WRITE)
/* A file with several links is also watched itself: a write through a name
 * in a directory the kernel never looked into reports to no directory watch
 * of ours. */
#define INODE_FILE_WATCH_EVENTS (INODE_CONTENT_EVENTS | IN_ATTRIB)

/*
 * Creates the pinned inodes of the layout. With inotify_fd >= 0 (which the
 * table does not own) every host directory is watched. Returns 0 or an
 * errno value.
 */
int inode_table_init(struct inode_table *table, const struct layout *layout,
		     int inotify_fd);

/* Frees every inode and closes every descriptor the table owns. */
void inode_table_destroy(struct inode_table *table);

struct inode *inode_from_nodeid(struct inode_table *table, uint64_t nodeid);
uint64_t inode_nodeid(const struct inode_table *table,
		      const struct inode *inode);

/* The clock of handed_ns: CLOCK_MONOTONIC in nanoseconds. */
uint64_t inode_clock_ns(void);

/* The inode goes to the kernel in an entry reply now (handed_ns). */
void inode_mark_handed(struct inode *inode);

/*
 * Where a watch could not be added, host changes come with no event, yet
 * the kernel keeps pages and listings until told (the mount is handle-
 * less): the inodes no watch covers (a file in an unwatched directory, an
 * unwatched directory's listing) whose host times or size changed since
 * the last call. Their node ids go into *out (malloc'd, or NULL), their
 * number into *n. Returns false, with nothing to do, while every watch
 * was added.
 */
bool inode_unwatched_changes(struct inode_table *table, uint64_t **out,
			     size_t *n);

/* The host may answer otherwise now for both of inode's kept I/O
 * descriptors (access_changed): each is checked again before its next
 * use. */
void inode_mark_access_changed(struct inode *inode);

/* The host's permission bits and owner of st in one value: what the
 * host's permission checks look at (see inode.access_changed). */
uint64_t inode_access_sig(const struct stat *st);

/*
 * The inode for a host object freshly opened in directory parent, with
 * one more lookup. When
 * the table already knows the key, host_fd is closed and the
 * known inode returned; otherwise a new one takes ownership of host_fd.
 * Returns NULL (host_fd closed) when out of memory.
 */
struct inode *inode_get(struct inode_table *table, struct inode *parent,
			const struct stat *host, int host_fd,
			uint64_t canon_ino);

/* The node ids of the symlinks of mirror that the table holds, in *out
 * (the caller frees it). Returns the count; 0 when out of memory. */
size_t inode_symlinks(struct inode_table *table, uint32_t mirror,
		      uint64_t **out);

/* How many host events the watcher has read for directory dir so far. */
uint32_t inode_change_seq(struct inode_table *table, const struct inode *dir);

/* Remember virt_path as a name of inode (a file with several links):
 * true when it is new. */
bool inode_add_link_name(struct inode_table *table, struct inode *inode,
			 const char *virt_path);

/* A copy of the names inode_add_link_name kept (each and the array
 * malloc'd; NULL with *n 0 when none, or out of memory). */
char **inode_copy_link_names(struct inode_table *table,
			     const struct inode *inode, size_t *n);

/* A file seen with several links (st_nlink from a fresh stat) gets a
 * watch of its own, if it has none yet. */
void inode_watch_links(struct inode_table *table, struct inode *inode,
		       nlink_t nlink);

/* A new unpinned synthetic inode with one lookup, owning `data` (a
 * control file's contents). Returns NULL (data freed) when out of memory. */
struct inode *inode_new_control_file(struct inode_table *table, int control,
				     char *data, size_t len);

/* Take back nlookup lookups; at zero an unpinned inode is freed. */
void inode_forget(struct inode_table *table, struct inode *inode,
		  uint64_t nlookup);

/* After the kernel forgot half the inodes it once held (and thousands),
 * hand freed memory back to the system. Call outside the lock. */
void inode_table_trim(struct inode_table *table);

/*
 * Call visit(inode, arg) for every inode on watch wd (all inodes when wd
 * is -1), holding the table lock: visit may look inodes up with
 * inode_find_locked() but must not wait for the kernel.
 */
void inode_visit_watch(struct inode_table *table, int wd,
		       void (*visit)(struct inode *inode, void *arg),
		       void *arg);

/* What MNT/.canonfs/stats reports of the table, read under its lock: live
 * host inodes, watch descriptors, watches that could not be added, and
 * directory snapshots alive. */
void inode_table_counts(struct inode_table *table, size_t *host_inodes,
			size_t *watches, uint64_t *watches_failed,
			size_t *listings);

/* One more reference on a directory snapshot (refs is under the table
 * lock); and one less: true when it was the last, the caller then frees
 * the snapshot. */
void inode_snapshot_hold(struct inode_table *table, struct dir_snapshot *snap);
bool inode_snapshot_unhold(struct inode_table *table,
			   struct dir_snapshot *snap);

/* The pass of directory inode with generation gen (inode.passes), held
 * (one more reference) and marked used at now; NULL when it is gone. */
struct dir_snapshot *inode_pass_find(struct inode_table *table,
				     struct inode *inode, uint32_t gen,
				     uint64_t now);

/* Keep fresh (a new snapshot with one reference, the caller's) as a new
 * pass of inode: it gets the next generation and a second reference, the
 * inode's. Passes let go of to make room land in gone[] (the caller drops
 * the inode's reference on each). Returns 0, or ENOMEM when fresh could
 * not be kept: the caller then drops the reference meant for the inode. */
int inode_pass_keep(struct inode_table *table, struct inode *inode,
		    struct dir_snapshot *fresh, uint64_t now,
		    struct dir_snapshot *gone[2]);

/* Stop keeping snap as a pass of inode: true when it was one, the caller
 * then drops the inode's reference. */
bool inode_pass_drop(struct inode_table *table, struct inode *inode,
		     struct dir_snapshot *snap);

/* The kernel dropped the pages of the inode with this key and nodeid: the
 * zeros a short read left in them (zero_fill, then `was`) are gone, unless
 * a read has noted others since (the count in it has changed). */
void inode_zero_fill_dropped(struct inode_table *table,
			     const struct inode_key *key, uint64_t nodeid,
			     uint64_t was);

/* inode.timed_name: no name is timed, or several (or unknown) are. */
#define LINK_NAME_NONE 0
#define LINK_NAME_SEVERAL UINT64_MAX

/* The kernel got `name_id` (canon_child_ino of the place) as a name of
 * inode, a regular file, with an entry timeout. */
void inode_note_timed_name(struct inode *inode, uint64_t name_id);

/* The name `name_id` of the host object `key` is gone: whether the kernel
 * may keep another name of it with a timeout. */
bool inode_timed_name_gone(struct inode_table *table,
			   const struct inode_key *key, uint64_t name_id);

/* The inode of host object `key`, or NULL. Only where the kernel holds it
 * for the request under way (the object of a name it has looked up), so
 * that no FORGET frees it meanwhile. */
struct inode *inode_find(struct inode_table *table,
			 const struct inode_key *key);

/* Whether the host object `key` is in the table with a watch of its own
 * (a file with several links), which reports its link count changes. */
bool inode_file_watched(struct inode_table *table, const struct inode_key *key);

/* The inode with this key, or NULL; only with the table lock held. */
struct inode *inode_find_locked(struct inode_table *table,
				const struct inode_key *key);

/* inode.zero_fill: the offset in the low 48 bits (ZERO_FILL_NONE: no
 * zeros), a count of changes above, so that a reset made from an old value
 * fails once a read has noted new zeros. */
#define ZERO_FILL_NONE ((UINT64_C(1) << 48) - 1)

static inline uint64_t zero_fill_at(uint64_t word)
{
	return word & ZERO_FILL_NONE;
}

/* The word after `old` that says there are no zeros. */
static inline uint64_t zero_fill_none(uint64_t old)
{
	return ((old >> 48) + 1) << 48 | ZERO_FILL_NONE;
}

/* The word after `old` that says `at` (clamped below ZERO_FILL_NONE). */
static inline uint64_t zero_fill_next(uint64_t old, int64_t at)
{
	uint64_t offset = at < 0			   ? 0
			  : (uint64_t)at >= ZERO_FILL_NONE ? ZERO_FILL_NONE - 1
							   : (uint64_t)at;

	return ((old >> 48) + 1) << 48 | offset;
}

#endif
