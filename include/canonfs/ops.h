/*
 * ops: the FUSE low-level operations, thin: each finds its inodes, calls
 * one helper that does the work and returns 0 or an errno value, and
 * replies once.
 */
#ifndef CANONFS_OPS_H
#define CANONFS_OPS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "canonfs/digests.h"
#include "canonfs/inode.h"
#include "canonfs/invalidate.h"
#include "canonfs/layout.h"
#include "canonfs/options.h"
#include "canonfs/own.h"
#include "canonfs/stats.h"
#include "canonfs/trace.h"

/* Everything a mounted filesystem holds; the session's userdata. */
struct canonfs_fs {
	const struct canonfs_options *opts; /* const after start */
	struct layout layout;		    /* const after start */
	struct sysinc_list sys;		    /* const after start */
	struct digest_cache *digests;	    /* lock inside */
	struct inode_table inodes;	    /* locks inside */
	struct stats stats;		    /* atomics inside */
	struct own_changes own;		    /* the daemon's own entry changes */
	struct trace trace;		    /* -o trace; lock inside */
	struct invalidator *inv;	    /* host watcher, for the barrier */
	/* Set at INIT: the kernel is told to stop sending OPEN, OPENDIR and
	 * their RELEASEs, and keeps pages and listings until invalidated. */
	bool handleless;
	/* Seconds the kernel may trust a name or attributes: long where host
	 * changes are watched and invalidated, short where they are not. */
	double watched_timeout;
	double unwatched_timeout;
	/* O_PATH of the serving process's /proc/self/fd, opened at INIT
	 * (after the daemon detached), or -1: reopens go through it. */
	int proc_fd_dir;
	/* Whether the host's file permission checks apply to the daemon
	 * (it is not root, or root without CAP_DAC_OVERRIDE and
	 * CAP_DAC_READ_SEARCH): each open is then made as the host would
	 * check it, and made again after the answer may have changed. */
	bool host_checks; /* const after start */
	/* Bumped when a host directory's mode or owner changes (atomic):
	 * every kept descriptor is then checked again (inode.h). */
	uint32_t dir_access_epoch;
};

extern const struct fuse_lowlevel_ops canonfs_ops;

#endif
