/*
 * hostpath: host paths the daemon makes for itself: directories the mount
 * is set up from, before they may exist, and the files it writes (digest
 * cache, trace). Unlike path.h these touch the filesystem.
 */
#ifndef CANONFS_HOSTPATH_H
#define CANONFS_HOSTPATH_H

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

/* mkdir -p with mode 0755; failures are left for the caller's next step
 * (stat or open) to report. */
void hostpath_make_dirs(const char *dir);

/* fopen(path, "w") with mode 0644 whatever the umask (the daemon serves
 * with umask 0), close-on-exec. */
FILE *hostpath_create(const char *path);

#endif
