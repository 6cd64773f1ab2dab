/*
 * hostpath: host paths the daemon makes for itself: directories the mount
 * is set up from, before they may exist, and the files it writes (digest
 * cache, trace). Unlike path.h these touch the filesystem.
 */
#ifndef CANONFS_HOSTPATH_H
#define CANONFS_HOSTPATH_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

/*
 * The physical spelling of a path whose tail may not exist yet (a relative
 * one taken from the working directory):
 * its deepest existing ancestor through realpath(3), then the rest. ".."
 * is taken lexically first (path_clean). Symlinks on the way are followed,
 * so the result compares with other resolved paths. 0, or an errno value.
 */
int hostpath_resolve(const char *path, char *out, size_t out_size);

/* What hostpath_make_dirs made, so that a setup that fails afterwards
 * can take it back. */
struct hostpath_made {
	char path[PATH_MAX]; /* the directory asked for */
	size_t first; /* length of its outermost part that was made; 0: none */
};

/* mkdir -p with mode 0755: 0, or the errno value of the first mkdir that
 * failed otherwise than with EEXIST. What it made goes into made (may be
 * NULL). */
int hostpath_make_dirs(const char *dir, struct hostpath_made *made);

/* rmdir what hostpath_make_dirs made, innermost first. */
void hostpath_unmake_dirs(struct hostpath_made *made);

/* fopen(path, "w") with mode 0644 whatever the umask (the daemon serves
 * with umask 0), close-on-exec. */
FILE *hostpath_create(const char *path);

#endif
