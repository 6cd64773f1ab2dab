/*
 * hostpath: host paths the daemon makes for itself: directories the mount
 * is set up from, before they may exist, and the files it writes (digest
 * cache, trace), and host links read without touching them. Unlike
 * path.h these touch the filesystem.
 */
#ifndef CANONFS_HOSTPATH_H
#define CANONFS_HOSTPATH_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

/*
 * The physical spelling of a path whose tail may not exist yet (a relative
 * one taken from the working directory):
 * its deepest existing ancestor through realpath(3), then the rest. ".."
 * is taken lexically first (path_clean). Symlinks on the way are followed,
 * so the result compares with other resolved paths. 0, or an errno value.
 */
int hostpath_resolve(const char *path, char *out, size_t out_size);

/* Calls visit with each place a PATH search for command looks, in order:
 * DIR/command for each non-empty DIR of $PATH that fits in PATH_MAX and
 * is not under skip_under (a mountpoint, or NULL), or command alone when
 * it holds a slash. Stops at the first non-zero return of visit and
 * returns it; 0 when every place was visited. */
int hostpath_each_place(const char *command, const char *skip_under,
			int (*visit)(const char *place, void *arg), void *arg);

/* Where command (a path, or a name looked up in $PATH) can be run from:
 * true with its path in full. PATH entries under skip_under (a
 * mountpoint, or NULL) are passed over: the mount's own wrappers must not
 * find themselves. */
bool hostpath_find_command(const char *command, const char *skip_under,
			   char *full, size_t full_size);

/* hostpath_find_command for a compiler the mount serves. It passes over
 * a compiler launcher's masquerade link (a gcc that is ccache, distcc,
 * icecc or sccache, as /usr/lib/ccache/gcc is): a launcher runs the next
 * compiler of its name on PATH, and from inside the mount that is the
 * mount's own, which would run the launcher again, forever. A command
 * that names such a link itself stands for the compiler of its name. */
bool hostpath_find_compiler(const char *command, const char *skip_under,
			    char *full, size_t full_size);

/* Whether the file name at the end of path is a compiler launcher's
 * (ccache, distcc, icecc, sccache). */
bool hostpath_names_launcher(const char *path);

/* The host path of the object behind fd, as /proc/self/fd/N names it
 * (" (deleted)" after it for an unlinked one). 0, or an errno value. */
int hostpath_of_fd(int fd, char *out, size_t out_size);

/*
 * readlinkat(2) of the symlink `name` in dir_fd ("" for dir_fd itself, an
 * O_PATH descriptor of the link) that leaves its atime alone, so that
 * reading the mount changes nothing on the host: the kernel updates the
 * atime of every link read (touch_atime, under relatime too once the atime
 * is older than the mtime or ctime). Returns the length or -1 with errno.
 */
ssize_t hostpath_readlink(int dir_fd, const char *name, char *buf, size_t size);

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

/* The umask the files below are made with (the user's; the daemon itself
 * serves with umask 0). */
void hostpath_set_umask(mode_t mask);

/*
 * A file to be written and then put in path's place (hostpath_commit), so
 * that a reader sees the old file or the new one, never half of one: made
 * new beside path under a name of its own (its name goes into temp),
 * close-on-exec, with mode 0666 less the umask. NULL with errno set.
 */
FILE *hostpath_create_temp(const char *path, char *temp, size_t temp_size);

/* Flush f (from hostpath_create_temp) to disk, close it and rename temp
 * over path: 0, or an errno value, temp then removed. */
int hostpath_commit(FILE *f, const char *temp, const char *path);

#endif
