/*
 * path: lexical path arithmetic over strings. Pure functions, no I/O.
 *
 * Every function writes into a caller-owned buffer of PATH_MAX bytes (or
 * the size given) and returns 0 or ENAMETOOLONG. Inputs are never modified.
 * "Lexical" means symlinks are not consulted: "a/../b" is "b" whatever a is.
 */
#ifndef CANONFS_PATH_H
#define CANONFS_PATH_H

#include <stdbool.h>
#include <stddef.h>

/*
 * Clean a path the way Go's filepath.Clean does: collapse repeated slashes,
 * drop "." components, resolve "x/.." pairs, drop ".." at the root of an
 * absolute path, keep leading ".." of a relative one. "" becomes ".".
 */
int path_clean(const char *path, char *out, size_t out_size);

/*
 * When path equals root or lies below it, return the rest of path after
 * root ("" or "/rest"); otherwise NULL. Both must be clean and absolute.
 */
const char *path_under(const char *path, const char *root);

/*
 * The relative path that leads from directory from_dir to target; both
 * clean and absolute. Equal paths give ".".
 */
int path_relative(const char *from_dir, const char *target, char *out,
		  size_t out_size);

/* dir + "/" + name, then cleaned; dir absolute and clean. */
int path_join_clean(const char *dir, const char *name, char *out,
		    size_t out_size);

/* The directory part of a clean absolute path ("/a/b" -> "/a", "/a" -> "/"). */
int path_dirname(const char *path, char *out, size_t out_size);

/* True for a single path component: not empty, ".", "..", no '/'. */
bool path_is_name(const char *name);

#endif
