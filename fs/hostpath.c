/*
 * hostpath: host directories the mount is set up from (see
 * include/canonfs/hostpath.h).
 */
#include "canonfs/hostpath.h"

#include "canonfs/path.h"

#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

int hostpath_resolve(const char *path, char *out, size_t out_size)
{
	char clean[PATH_MAX], head[PATH_MAX], joined[2 * PATH_MAX];
	size_t cut;

	if (path[0] != '/') {
		if (!getcwd(head, sizeof(head)))
			return errno;
		if (path_join_clean(head, path, clean, sizeof(clean)))
			return ENAMETOOLONG;
	} else if (path_clean(path, clean, sizeof(clean))) {
		return ENAMETOOLONG;
	}
	/* Shorten from the right until what is left exists: "/" always does,
	 * and the part cut off cannot hold a symlink, since none of it exists.
	 */
	for (cut = strlen(clean);; cut--) {
		if (cut > 1 && clean[cut] != '\0' && clean[cut] != '/')
			continue;
		memcpy(head, clean, cut > 0 ? cut : 1);
		head[cut > 0 ? cut : 1] = '\0';
		if (realpath(head, joined))
			break;
		if (errno != ENOENT || cut <= 1)
			return errno;
	}
	if (snprintf(joined + strlen(joined), sizeof(joined) - strlen(joined),
		     "/%s", clean + cut) < 0 ||
	    path_clean(joined, out, out_size))
		return ENAMETOOLONG;
	return 0;
}

int hostpath_of_fd(int fd, char *out, size_t out_size)
{
	char proc[32];
	ssize_t len;

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	len = readlink(proc, out, out_size - 1);
	if (len < 0)
		return errno;
	if ((size_t)len >= out_size - 1)
		return ENAMETOOLONG;
	out[len] = '\0';
	return 0;
}

int hostpath_make_dirs(const char *dir, struct hostpath_made *made)
{
	char walk[PATH_MAX];

	if (made)
		made->first = 0;
	if (snprintf(walk, sizeof(walk), "%s", dir) >= (int)sizeof(walk))
		return ENAMETOOLONG;
	for (char *p = walk + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(walk, 0755) == 0) {
				/* Everything below a directory just made is
				 * made too: the outermost one is enough. */
				if (made && made->first == 0) {
					strcpy(made->path, dir);
					made->first = (size_t)(p - walk);
				}
			} else if (errno != EEXIST) {
				return errno;
			}
			*p = c;
		}
		if (!*p)
			return 0;
	}
}

void hostpath_unmake_dirs(struct hostpath_made *made)
{
	size_t len = made->first > 0 ? strlen(made->path) : 0;

	/* Innermost first, up to and including the outermost one made. */
	while (made->first > 0 && len >= made->first) {
		made->path[len] = '\0';
		rmdir(made->path);
		while (len > 0 && made->path[len] != '/')
			len--;
		while (len > 0 && made->path[len - 1] == '/')
			len--;
	}
	made->first = 0;
}

/* open_tree was refused (no CAP_SYS_ADMIN): links are read in place.
 * Atomic. */
static bool readlink_in_place;

ssize_t hostpath_readlink(int dir_fd, const char *name, char *buf, size_t size)
{
	struct mount_attr read_only = {.attr_set = MOUNT_ATTR_RDONLY};
	int flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC |
		    (name[0] ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH);
	ssize_t len;
	int tree, err;

	/* touch_atime leaves a read-only mount alone: read through a
	 * detached read-only clone of the mount, made of the link itself
	 * (no path is walked again). Cloning a mount takes CAP_SYS_ADMIN:
	 * without it the atime changes as it would for a host readlink. */
	if (__atomic_load_n(&readlink_in_place, __ATOMIC_RELAXED))
		return readlinkat(dir_fd, name, buf, size);
	tree = open_tree(dir_fd, name, flags);
	if (tree == -1) {
		if (errno == EPERM || errno == ENOSYS)
			__atomic_store_n(&readlink_in_place, true,
					 __ATOMIC_RELAXED);
		return readlinkat(dir_fd, name, buf, size);
	}
	if (mount_setattr(tree, "", AT_EMPTY_PATH, &read_only,
			  sizeof(read_only)) == -1) {
		close(tree);
		return readlinkat(dir_fd, name, buf, size);
	}
	len = readlinkat(tree, "", buf, size);
	err = errno;
	close(tree);
	errno = err;
	return len;
}

/* The umask canonfs was started with: the daemon serves with umask 0 (the
 * kernel has applied the caller's), its own files follow this one. */
static mode_t own_umask = 022;

void hostpath_set_umask(mode_t mask)
{
	own_umask = mask & 0777;
}

FILE *hostpath_create_temp(const char *path, char *temp, size_t temp_size)
{
	FILE *f;
	int fd;

	if ((size_t)snprintf(temp, temp_size, "%s.XXXXXX", path) >= temp_size) {
		errno = ENAMETOOLONG;
		return NULL;
	}
	/* A new name, made with O_EXCL: nothing planted beside path (a
	 * symlink to another file of the user's) is followed or truncated. */
	if ((fd = mkostemp(temp, O_CLOEXEC)) < 0)
		return NULL;
	if (fchmod(fd, 0666 & ~own_umask) == 0 && (f = fdopen(fd, "w")))
		return f;
	close(fd);
	unlink(temp);
	return NULL;
}

int hostpath_commit(FILE *f, const char *temp, const char *path)
{
	int err = 0;

	/* On disk before the rename: a crash then leaves the old file or the
	 * new one, never a new name for data not yet written. */
	if (fflush(f) != 0 || fsync(fileno(f)) != 0)
		err = errno ? errno : EIO;
	if (fclose(f) != 0 && !err)
		err = errno ? errno : EIO;
	if (!err && rename(temp, path) != 0)
		err = errno ? errno : EIO;
	if (err)
		unlink(temp);
	return err;
}

/* A path in out of size out_size: false when it did not fit. */
static bool fits_in(int n, size_t size)
{
	return n >= 0 && (size_t)n < size;
}

int hostpath_each_place(const char *command, const char *skip_under,
			int (*visit)(const char *place, void *arg), void *arg)
{
	const char *path = getenv("PATH");
	char place[PATH_MAX];
	int ret;

	if (strchr(command, '/'))
		return visit(command, arg);
	for (const char *p = path ? path : ""; *p;) {
		size_t len = strcspn(p, ":");

		if (len > 0 &&
		    fits_in(snprintf(place, sizeof(place), "%.*s/%s", (int)len,
				     p, command),
			    sizeof(place)) &&
		    !(skip_under && path_under(place, skip_under)) &&
		    (ret = visit(place, arg)))
			return ret;
		p += len + (p[len] == ':');
	}
	return 0;
}

struct found_command {
	char *full;
	size_t full_size;
};

/* hostpath_each_place visitor: 1 at the first place that can be run. */
static int runnable_place(const char *place, void *arg)
{
	struct found_command *found = arg;

	return access(place, X_OK) == 0 &&
	       fits_in(snprintf(found->full, found->full_size, "%s", place),
		       found->full_size);
}

bool hostpath_find_command(const char *command, const char *skip_under,
			   char *full, size_t full_size)
{
	struct found_command found = {full, full_size};

	return hostpath_each_place(command, skip_under, runnable_place,
				   &found) == 1;
}

bool hostpath_names_launcher(const char *path)
{
	static const char *const launchers[] = {"ccache", "distcc", "icecc",
						"sccache"};
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;

	for (size_t i = 0; i < sizeof(launchers) / sizeof(launchers[0]); i++)
		if (strcmp(base, launchers[i]) == 0)
			return true;
	return false;
}

/* Whether place resolves to a compiler launcher (hostpath_find_compiler). */
static bool is_launcher(const char *place)
{
	char real[PATH_MAX];

	return realpath(place, real) && hostpath_names_launcher(real);
}

/* hostpath_each_place visitor: 1 at the first compiler that can be run
 * and is not a launcher. */
static int compiler_place(const char *place, void *arg)
{
	return !is_launcher(place) && runnable_place(place, arg);
}

bool hostpath_find_compiler(const char *command, const char *skip_under,
			    char *full, size_t full_size)
{
	struct found_command found = {full, full_size};

	/* A launcher's masquerade path named itself (CC=/usr/lib/ccache/gcc):
	 * the compiler of that name it would run. */
	if (strchr(command, '/') && is_launcher(command))
		command = strrchr(command, '/') + 1;
	return hostpath_each_place(command, skip_under, compiler_place,
				   &found) == 1;
}
