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

#include <stddef.h>
#include <stdint.h>

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

#endif
