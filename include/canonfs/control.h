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
 *   bin/     cc, gcc, c++, g++: the host's compilers with the mount's
 *            system headers only (ccwrap.h)
 *   toolchain.cmake  a CMake toolchain file naming them
 *   trace-start, trace-stop, trace-flush  control -o trace (trace.h);
 *            they act when read, never at a mere stat.
 */
#ifndef CANONFS_CONTROL_H
#define CANONFS_CONTROL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct canonfs_fs;
struct dir_listing;
struct fuse_entry_param;
struct inode;
struct stat;

#define CONTROL_DIR_NAME ".canonfs"

enum control_node {
	CONTROL_NONE,
	CONTROL_DIR,
	CONTROL_STATS,
	CONTROL_BARRIER,
	CONTROL_ENV,
	CONTROL_TOOLCHAIN,
	CONTROL_BIN, /* a directory */
	CONTROL_BIN_CC,
	CONTROL_BIN_GCC,
	CONTROL_BIN_CXX,
	CONTROL_BIN_GXX,
	CONTROL_TRACE_START,
	CONTROL_TRACE_STOP,
	CONTROL_TRACE_FLUSH,
	CONTROL_COUNT
};

#define CONTROL_N_COMPILERS (CONTROL_BIN_GXX - CONTROL_BIN_CC + 1)

/* The file `name` in control directory dir (CONTROL_DIR or CONTROL_BIN),
 * or CONTROL_NONE. */
enum control_node control_file_by_name(int dir, const char *name);

/* The control directory a node is in. */
int control_parent(int node);

/* The name of a control node. */
const char *control_name(int node);

/* Its canonical inode number: derived from its virtual path like any. */
uint64_t control_canon_ino(int node);

/* Look up the control file `name` in control directory dir: a new inode
 * with its contents made now, and a zero timeout. Returns 0 or an errno
 * value. */
int control_lookup_file(struct canonfs_fs *fs, int dir, const char *name,
			struct fuse_entry_param *e);

/* The mode, size and times a control node shows, over canonical
 * attributes: the compilers are executable (their scripts made again
 * first if the host may have changed them), and their time follows their
 * contents (as ccache's compiler check needs). */
void control_fix_attr(struct canonfs_fs *fs, struct inode *inode,
		      struct stat *out);

/* How long the kernel may cache a control node's name and attributes:
 * long for the directories and the watched compilers, 0 for the rest. */
double control_timeout(const struct canonfs_fs *fs, const struct inode *inode);

/* Bytes [off, off + size) of a control file, copied to *data (malloc'd,
 * *len bytes; NULL past the end). Reading a trace file acts, once per
 * inode a lookup made; every read gets the outcome. Returns 0 or an errno
 * value. */
int control_read(struct canonfs_fs *fs, struct inode *inode, off_t off,
		 size_t size, char **data, size_t *len);

/* A control file's size now. */
off_t control_size(struct canonfs_fs *fs, struct inode *inode);

/* The listing of control directory dir: its files, the trace ones only
 * when tracing, the compilers only where served. Returns 0 or ENOMEM. */
int control_listing(struct canonfs_fs *fs, int dir,
		    struct dir_listing *listing);

#endif
