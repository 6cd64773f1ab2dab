/*
 * path: lexical path arithmetic (see include/canonfs/path.h).
 */
#include "canonfs/path.h"

#include <errno.h>
#include <string.h>

/* Appends len bytes of s to out at *used, keeping room for the NUL. */
static int append(char *out, size_t out_size, size_t *used, const char *s,
		  size_t len)
{
	if (*used + len + 1 > out_size)
		return ENAMETOOLONG;
	memcpy(out + *used, s, len);
	*used += len;
	out[*used] = '\0';
	return 0;
}

/* Length of the last component of out[0..used), which holds a clean path. */
static size_t last_component_start(const char *out, size_t used)
{
	size_t start = used;

	while (start > 0 && out[start - 1] != '/')
		start--;
	return start;
}

int path_clean(const char *path, char *out, size_t out_size)
{
	bool rooted = path[0] == '/';
	size_t used = 0;
	size_t floor; /* out[0..floor) can never be removed by ".." */
	const char *p = path;
	int err;

	if (out_size < 2)
		return ENAMETOOLONG;
	out[0] = '\0';
	if (rooted && (err = append(out, out_size, &used, "/", 1)))
		return err;
	floor = used;

	while (*p) {
		const char *end;
		size_t len;

		while (*p == '/')
			p++;
		end = strchr(p, '/');
		len = end ? (size_t)(end - p) : strlen(p);
		if (len == 0)
			break;

		if (len == 1 && p[0] == '.') {
			/* "." names the current directory: nothing to add. */
		} else if (len == 2 && p[0] == '.' && p[1] == '.') {
			if (used > floor) {
				/* Drop the last component and its slash. */
				size_t start = last_component_start(out, used);

				used = start > floor ? start - 1 : floor;
				out[used] = '\0';
			} else if (!rooted) {
				/* Leading ".." of a relative path stays. */
				if (used > 0 && (err = append(out, out_size,
							      &used, "/", 1)))
					return err;
				if ((err = append(out, out_size, &used, "..",
						  2)))
					return err;
				floor = used;
			}
			/* ".." at the root of an absolute path is the root. */
		} else {
			if (used > 0 && out[used - 1] != '/' &&
			    (err = append(out, out_size, &used, "/", 1)))
				return err;
			if ((err = append(out, out_size, &used, p, len)))
				return err;
		}
		p += len;
	}

	if (used == 0)
		return append(out, out_size, &used, ".", 1);
	return 0;
}

const char *path_under(const char *path, const char *root)
{
	size_t root_len = strlen(root);

	if (strcmp(root, "/") == 0)
		return strcmp(path, "/") == 0 ? path + 1
					      : (path[0] == '/' ? path : NULL);
	if (strncmp(path, root, root_len) != 0)
		return NULL;
	if (path[root_len] == '\0' || path[root_len] == '/')
		return path + root_len;
	return NULL;
}

int path_relative(const char *from_dir, const char *target, char *out,
		  size_t out_size)
{
	size_t common = 0; /* length of the shared leading components */
	size_t i = 0;
	size_t used = 0;
	const char *rest;
	int err;

	if (out_size == 0) /* not even room for the terminator */
		return ENAMETOOLONG;
	/* Walk both paths while whole components agree. */
	for (;;) {
		char a = from_dir[i], b = target[i];

		if ((a == '/' || a == '\0') && (b == '/' || b == '\0'))
			common = i;
		if (a == '\0' || b == '\0' || a != b)
			break;
		i++;
	}

	out[0] = '\0';
	/* One ".." for every component of from_dir past the common part. */
	for (const char *p = from_dir + common; *p; p++) {
		if (*p == '/' && p[1] != '\0' && p[1] != '/') {
			if (used > 0 &&
			    (err = append(out, out_size, &used, "/", 1)))
				return err;
			if ((err = append(out, out_size, &used, "..", 2)))
				return err;
		}
	}

	rest = target + common;
	while (*rest == '/')
		rest++;
	if (*rest) {
		if (used > 0 && (err = append(out, out_size, &used, "/", 1)))
			return err;
		if ((err = append(out, out_size, &used, rest, strlen(rest))))
			return err;
	}
	if (used == 0)
		return append(out, out_size, &used, ".", 1);
	return 0;
}

int path_join_clean(const char *dir, const char *name, char *out,
		    size_t out_size)
{
	size_t dir_len = strlen(dir), name_len = strlen(name);
	char joined[dir_len + name_len + 2];

	memcpy(joined, dir, dir_len);
	joined[dir_len] = '/';
	memcpy(joined + dir_len + 1, name, name_len + 1);
	return path_clean(joined, out, out_size);
}

int path_dirname(const char *path, char *out, size_t out_size)
{
	const char *slash = strrchr(path, '/');
	size_t len;

	if (!slash)
		len = 0;
	else
		len = slash == path ? 1 : (size_t)(slash - path);
	/* "." needs two bytes too. */
	if ((len ? len : 1) + 1 > out_size)
		return ENAMETOOLONG;
	if (len == 0) {
		out[0] = '.';
		out[1] = '\0';
		return 0;
	}
	memcpy(out, path, len);
	out[len] = '\0';
	return 0;
}

bool path_is_name(const char *name)
{
	return name[0] != '\0' && strcmp(name, ".") != 0 &&
	       strcmp(name, "..") != 0 && strchr(name, '/') == NULL;
}
