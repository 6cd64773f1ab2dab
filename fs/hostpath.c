/*
 * hostpath: host directories the mount is set up from (see
 * include/canonfs/hostpath.h).
 */
#include "canonfs/hostpath.h"

#include "canonfs/path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

void hostpath_make_dirs(const char *dir)
{
	char walk[PATH_MAX];

	if (snprintf(walk, sizeof(walk), "%s", dir) >= (int)sizeof(walk))
		return;
	for (char *p = walk + 1;; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			mkdir(walk, 0755);
			*p = c;
		}
		if (!*p)
			break;
	}
}

FILE *hostpath_create(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	FILE *f;

	if (fd < 0)
		return NULL;
	if (!(f = fdopen(fd, "w")))
		close(fd);
	return f;
}
