/*
 * stats: per-opcode request counters (see include/canonfs/stats.h).
 */
#include "canonfs/stats.h"

#include <inttypes.h>
#include <stdio.h>

static const char *const counter_names[STAT_COUNT] = {
	[STAT_LOOKUP] = "lookup",
	[STAT_FORGET] = "forget",
	[STAT_GETATTR] = "getattr",
	[STAT_SETATTR] = "setattr",
	[STAT_READLINK] = "readlink",
	[STAT_MKNOD] = "mknod",
	[STAT_MKDIR] = "mkdir",
	[STAT_UNLINK] = "unlink",
	[STAT_RMDIR] = "rmdir",
	[STAT_SYMLINK] = "symlink",
	[STAT_RENAME] = "rename",
	[STAT_LINK] = "link",
	[STAT_OPEN] = "open",
	[STAT_CREATE] = "create",
	[STAT_READ] = "read",
	[STAT_WRITE] = "write",
	[STAT_FLUSH] = "flush",
	[STAT_RELEASE] = "release",
	[STAT_FSYNC] = "fsync",
	[STAT_OPENDIR] = "opendir",
	[STAT_READDIR] = "readdir",
	[STAT_READDIRPLUS] = "readdirplus",
	[STAT_RELEASEDIR] = "releasedir",
	[STAT_FSYNCDIR] = "fsyncdir",
	[STAT_STATFS] = "statfs",
	[STAT_GETXATTR] = "getxattr",
	[STAT_LISTXATTR] = "listxattr",
	[STAT_SETXATTR] = "setxattr",
	[STAT_REMOVEXATTR] = "removexattr",
	[STAT_ACCESS] = "access",
	[STAT_FALLOCATE] = "fallocate",
	[STAT_LSEEK] = "lseek",
	[STAT_HOST_EVENTS] = "host_events",
	[STAT_INVAL_ENTRY] = "inval_entry",
	[STAT_INVAL_INODE] = "inval_inode",
	[STAT_EXPIRE_NAMES] = "expire_names",
	[STAT_PRUNE_RUNS] = "prune_runs",
	[STAT_PRUNE_ENTRY] = "prune_entry",
	[STAT_READ_OUTRAN] = "read_shrunk",
	[STAT_READ_OUTGROWN] = "read_outgrown",
	[STAT_ZERO_FILL_DROPPED] = "zero_fill_dropped",
	[STAT_OVERFLOWS] = "queue_overflows",
	[STAT_PASSTHROUGH_OPEN] = "passthrough_opens",
	[STAT_PASSTHROUGH_OWN] = "passthrough_own_events",
};

size_t stats_format(const struct stats *stats, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (int i = 0; i < STAT_COUNT; i++) {
		uint64_t value = atomic_load_explicit(&stats->counts[i],
						      memory_order_relaxed);
		int n = snprintf(buf + used, size - used, "%s %" PRIu64 "\n",
				 counter_names[i], value);

		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
	return used;
}
