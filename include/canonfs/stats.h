/*
 * stats: per-opcode request counters, so that speed is explainable. Read
 * them from MOUNTPOINT/.canonfs/stats. Counters are relaxed atomics: any
 * thread adds, readers see a recent value.
 */
#ifndef CANONFS_STATS_H
#define CANONFS_STATS_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum stats_counter {
	STAT_LOOKUP,
	STAT_FORGET,
	STAT_GETATTR,
	STAT_SETATTR,
	STAT_READLINK,
	STAT_MKNOD,
	STAT_MKDIR,
	STAT_UNLINK,
	STAT_RMDIR,
	STAT_SYMLINK,
	STAT_RENAME,
	STAT_LINK,
	STAT_OPEN,
	STAT_CREATE,
	STAT_READ,
	STAT_WRITE,
	STAT_FLUSH,
	STAT_RELEASE,
	STAT_FSYNC,
	STAT_OPENDIR,
	STAT_READDIR,
	STAT_READDIRPLUS,
	STAT_RELEASEDIR,
	STAT_FSYNCDIR,
	STAT_STATFS,
	STAT_GETXATTR,
	STAT_LISTXATTR,
	STAT_SETXATTR,
	STAT_REMOVEXATTR,
	STAT_ACCESS,
	STAT_FALLOCATE,
	STAT_LSEEK,
	STAT_HOST_EVENTS,   /* inotify events read */
	STAT_INVAL_ENTRY,   /* names the kernel was told to forget */
	STAT_INVAL_INODE,   /* inodes whose attributes and pages were dropped */
	STAT_EXPIRE_NAMES,  /* times every name was to be looked up again: a
			       name of a file with others went */
	STAT_PRUNE_RUNS,    /* times the table was full and names were pruned */
	STAT_PRUNE_ENTRY,   /* names the kernel was asked to forget to prune */
	STAT_READ_OUTRAN,   /* reads failed: the host file shrank under them */
	STAT_READ_OUTGROWN, /* short reads the host file kept growing past */
	STAT_ZERO_FILL_DROPPED, /* pages dropped: the host file grew past a
				   short read's zeros */
	STAT_OVERFLOWS, /* inotify queue overflows: everything forgotten */
	STAT_PASSTHROUGH_OPEN, /* opens and creates the kernel serves itself */
	STAT_PASSTHROUGH_OWN,  /* host events that were passthrough writes */
	STAT_COUNT
};

struct stats {
	_Atomic uint64_t counts[STAT_COUNT];
};

static inline void stats_add(struct stats *stats, enum stats_counter counter)
{
	atomic_fetch_add_explicit(&stats->counts[counter], 1,
				  memory_order_relaxed);
}

/* "name value" lines, one per counter. Returns the length written (at
 * most size - 1, NUL-terminated). */
size_t stats_format(const struct stats *stats, char *buf, size_t size);

#endif
