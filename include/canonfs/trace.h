/*
 * trace: what a build really read and wrote through the mount.
 *
 * With -o trace=FILE, canonfs records every file read (once, with its
 * SHA-256 at first read; an empty file when looked up, since nothing is
 * read from it; not what the build wrote itself and read back) and every
 * symlink followed (with its target), every file written, created, renamed
 * or removed through the
 * mount, every failed lookup (the header search order a compiler probed),
 * and what makes the tree host-dependent: symlinks leaving every mirror,
 * hidden device nodes, files changed on the host while being read. At
 * unmount, and whenever MNT/.canonfs/trace-flush is looked up, it writes:
 *
 *   FILE           the inputs, as a canonfs manifest (canonfs diff reads it)
 *   FILE.outputs   "created|written|removed PATH", "renamed PATH NEWPATH"
 *   FILE.probes    paths looked up and not found
 *   FILE.warnings  "symlink-escapes PATH TARGET", "hidden-device PATH",
 *                  "changed-while-read PATH"
 *
 * Paths are virtual (src/pkg/a.go) and escaped as in manifests.
 * MNT/.canonfs/trace-stop and trace-start pause and restart recording
 * (a start forgets what was recorded and empties the kernel's caches, so
 * that every read is seen again).
 */
#ifndef CANONFS_TRACE_H
#define CANONFS_TRACE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct trace_item;

struct trace {
	pthread_mutex_t lock;
	char *base;		  /* const; FILE, or NULL when not tracing */
	bool active;		  /* protected by lock */
	uint64_t epoch;		  /* protected by lock; bumped at each start */
	struct trace_item *items; /* protected by lock; by kind and path */
};

/* base NULL: tracing is off for good. Returns 0 or an errno value. */
int trace_init(struct trace *t, const char *base);
void trace_destroy(struct trace *t);

/* Cheap test for the hot paths: lock-free, may be a moment late. */
static inline bool trace_active(const struct trace *t)
{
	return __atomic_load_n(&t->active, __ATOMIC_RELAXED);
}

/* A file read for the first time, under each of its n names (a file with
 * several links): fd reads it (pread, from offset 0), hashed once; fd -1
 * for an empty file, which the kernel never asks to read. */
void trace_read(struct trace *t, const char *const *virt_paths, size_t n,
		int fd, unsigned mode);
/* A symlink followed or read for the first time, with its shown target: a
 * retargeted link changes what the build reads. */
void trace_readlink(struct trace *t, const char *virt_path, const char *target);
/* "created", "written" or "removed". */
void trace_output(struct trace *t, const char *what, const char *virt_path);
void trace_rename(struct trace *t, const char *from, const char *to);
void trace_probe(struct trace *t, const char *virt_path);
/* "symlink-escapes" (detail: the target), "hidden-device",
 * "changed-while-read" (detail NULL). */
void trace_warn(struct trace *t, const char *kind, const char *virt_path,
		const char *detail);

/* Whether virt_path was recorded as read since the last start. */
bool trace_was_read(struct trace *t, const char *virt_path);

/* Write the four files. Returns 0 or an errno value. */
int trace_flush(struct trace *t);
/* Pause; and restart, forgetting what was recorded. */
void trace_stop(struct trace *t);
void trace_start(struct trace *t);

#endif
