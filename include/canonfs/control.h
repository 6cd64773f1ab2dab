/*
 * control: the hidden control directory MOUNTPOINT/.canonfs.
 *
 * It is never listed (the root of every mount looks the same) but can be
 * looked up by name. Its files are read-only and generated when opened:
 *   stats    per-opcode request counters and invalidations (stats.h)
 *   barrier  opening it waits until every host change made before the
 *            open has been applied to the kernel's caches; scripts run
 *            `cat MNT/.canonfs/barrier` between a checkout and a build.
 *   env      the canonical Go environment for builds inside (goenv.h)
 *   trace-start, trace-stop, trace-flush  control -o trace (trace.h);
 *            they act when read, never at a mere stat.
 */
#ifndef CANONFS_CONTROL_H
#define CANONFS_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct canonfs_fs;
struct dir_listing;
struct fuse_entry_param;
struct inode;

#define CONTROL_DIR_NAME ".canonfs"

enum control_node {
	CONTROL_NONE,
	CONTROL_DIR,
	CONTROL_STATS,
	CONTROL_BARRIER,
	CONTROL_ENV,
	CONTROL_TRACE_START,
	CONTROL_TRACE_STOP,
	CONTROL_TRACE_FLUSH,
	CONTROL_COUNT
};

/* The file `name` of the control directory, or CONTROL_NONE. */
enum control_node control_file_by_name(const char *name);

/* The name of a control node. */
const char *control_name(int node);

/* Its canonical inode number: derived from its virtual path like any. */
uint64_t control_canon_ino(int node);

/* Look up the control file `name`: a new inode with its contents made
 * now, and a zero timeout. Returns 0 or an errno value. */
int control_lookup_file(struct canonfs_fs *fs, const char *name,
			struct fuse_entry_param *e);

/* What reading a trace file does, once per inode a lookup made; every
 * read gets the outcome. Returns 0 or an errno value. */
int control_act(struct canonfs_fs *fs, struct inode *inode);

/* The listing of the control directory: its files, the trace ones only
 * when tracing. Returns 0 or ENOMEM. */
int control_listing(struct dir_listing *listing, bool tracing);

#endif
