/*
 * ccwrap: C and C++ compilers for plain builds inside a mount.
 *
 * The mount serves, in its control directory, MNT/.canonfs/bin/cc, gcc,
 * c++ and g++: scripts that run the host's compiler (the one the system
 * headers were discovered from, -o cc=) with -nostdinc and one -isystem
 * MNT/sys/NAME per mirrored directory, in the compiler's search order, and
 * nothing else: a project's own flags stay its own. `canonfs env` puts
 * that directory on PATH (so makefiles that hard-code gcc find it) and
 * exports CC and CXX; MNT/.canonfs/toolchain.cmake names them for CMake.
 *
 * A call that passes -nostdinc itself (cgo, whose CGO_CFLAGS carry the
 * same flags; a kernel-style build) is passed through unchanged. The
 * script names the host compiler's path, size and modification time:
 * a new compiler makes a new script, and so a new shown size and time,
 * which is what ccache's default compiler check compares.
 */
#ifndef CANONFS_CCWRAP_H
#define CANONFS_CCWRAP_H

#include <stdbool.h>
#include <stddef.h>

#include "canonfs/layout.h"
#include "canonfs/sysinc.h"

/* The compilers served, by name. */
enum ccwrap_tool {
	CCWRAP_CC,
	CCWRAP_GCC,
	CCWRAP_CXX,
	CCWRAP_GXX,
	CCWRAP_COUNT
};

/* The name of a tool under MNT/.canonfs/bin. */
const char *ccwrap_name(enum ccwrap_tool tool);

/* Told, before a script is made, each host directory entry it depends
 * on: for every directory of the daemon's PATH, each entry a resolution
 * of DIR/COMPILER goes through (every directory from the root, every
 * symlink followed, the compiler itself, or the first part that is
 * missing). A change to any of them may change the script: a compiler
 * installed, upgraded, switched by update-alternatives, or a toolchain
 * directory swapped. Returns 0, or an errno value that fails the
 * making. */
typedef int (*ccwrap_watch_fn)(const char *dir, const char *name, void *arg);

/* The script for tool, in *data (malloc'd); watch (or NULL) is told what
 * it depends on. Returns 0, ENOENT when the mount mirrors no headers for
 * its language or its compiler cannot be found, ENOMEM, or watch's
 * error. */
int ccwrap_script(const struct layout *layout, const struct sysinc_list *sys,
		  enum ccwrap_tool tool, ccwrap_watch_fn watch, void *arg,
		  char **data, size_t *len);

/* The CMake toolchain file naming the served compilers, in *data
 * (malloc'd). Returns 0, ENOENT when none is served, or ENOMEM. */
int ccwrap_cmake(const struct layout *layout, const struct sysinc_list *sys,
		 char **data, size_t *len);

/* Whether the mount serves tool: headers for its language are mirrored
 * and its host compiler is found. */
bool ccwrap_serves(const struct layout *layout, const struct sysinc_list *sys,
		   enum ccwrap_tool tool);

/* Whether the mount serves compilers at all (`canonfs env` exports them
 * only then): whether it serves cc. */
bool ccwrap_served(const struct layout *layout, const struct sysinc_list *sys);

#endif
