/*
 * fs: everything a mounted filesystem holds, in one struct: the FUSE
 * session's userdata, which the operations (ops_*.c, ops_internal.h), the
 * control files (control.c), the watcher (invalidate.c) and the pruner
 * (prune.c) share.
 *
 * main.c owns it: it fills it before the session starts, and frees what
 * it holds after the session and the watcher have stopped. Each field
 * says what it owns and which lock, if any, protects it.
 */
#ifndef CANONFS_FS_H
#define CANONFS_FS_H

#include <stdbool.h>
#include <stdint.h>

#include "canonfs/digests.h"
#include "canonfs/inode.h"
#include "canonfs/layout.h"
#include "canonfs/options.h"
#include "canonfs/own.h"
#include "canonfs/passthrough.h"
#include "canonfs/stats.h"
#include "canonfs/times.h"
#include "canonfs/sysinc.h"
#include "canonfs/trace.h"

struct invalidator;

/* Everything a mounted filesystem holds; the session's userdata. */
struct canonfs_fs {
	const struct canonfs_options *opts; /* const after start; not owned */
	struct layout layout;		    /* const after start; owned */
	struct sysinc_list sys;		    /* const after start; owned */
	struct times times; /* the time mode's state; const after start
			       but the baselines' atomics (times.h) */
	struct digest_cache *digests; /* owned; lock inside */
	struct inode_table inodes;    /* owned; locks inside */
	struct stats stats;	      /* atomics inside */
	struct own_changes own;	      /* the daemon's own entry changes; lock
					 inside */
	struct trace trace;	      /* -o trace; lock inside */
	struct invalidator *inv; /* host watcher, for the barrier; not owned
				    (main.c's), lock inside */
	/* Set at INIT: the kernel is told to stop sending OPEN, OPENDIR and
	 * their RELEASEs, and keeps pages and listings until invalidated.
	 * Const after INIT. */
	bool handleless;
	/* Set at INIT: OPEN is answered ENOSYS (handleless, unless -o
	 * passthrough answers it), so the kernel sends no RELEASE, not even
	 * for files it got from CREATE. Const after INIT. */
	bool no_open;
	/* Passthrough's state (passthrough.h). */
	struct passthrough passthrough;
	/* Set at INIT: the kernel keeps a file's pages when its size changes
	 * and drops them only when told to. Const after INIT. */
	bool explicit_inval;
	/* Seconds the kernel may trust a name or attributes: long where host
	 * changes are watched and invalidated, short where they are not.
	 * Const after start. */
	double watched_timeout;
	double unwatched_timeout;
	/* SRCDIR lies on a file system whose changes made elsewhere inotify
	 * never reports (FUSE, NFS, SMB, 9P, Ceph): nothing is watched, as
	 * under -o nowatch. Const after start. */
	bool unwatchable;
	/* O_PATH of the serving process's /proc/self/fd, opened at INIT
	 * (after the daemon detached), or -1: reopens go through it. Owned;
	 * const after INIT. */
	int proc_fd_dir;
	/* Whether the host's file permission checks apply to the daemon
	 * (it is not root, or root without CAP_DAC_OVERRIDE and
	 * CAP_DAC_READ_SEARCH): each open is then made as the host would
	 * check it, and made again after the answer may have changed. */
	bool host_checks; /* const after start */
	/* Bumped when a host directory's mode or owner changes (atomic):
	 * every kept descriptor is then checked again (inode.h). */
	uint32_t dir_access_epoch;
	/* Bumped when a host directory the compilers' scripts depend on
	 * changes (atomic): they are made again at their next use (control.c).
	 * Starts at 1: 0 is "never made". */
	uint64_t compiler_gen;
	/* A watch for the compilers failed (atomic, never reset): they are
	 * made at each lookup from then on (control.c). */
	bool compiler_watch_failed;
};

#endif
