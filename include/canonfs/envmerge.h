/*
 * envmerge: the value a build in a mount gets for a variable of the
 * mount's Go environment (goenv.h) when the caller has one too. Pure
 * functions over strings, for `canonfs run` (every variable) and
 * `canonfs env` (GODEBUG, GOFLAGS and PATH). The mount's value replaces the
 * caller's, except:
 *
 *   GODEBUG       the caller's settings, then the mount's, each key once;
 *                 on a clash the mount's wins (said on stderr)
 *   GOFLAGS       the mount's flag, then the caller's; none of the
 *                 mount's when the caller sets -buildvcs
 *   PATH          the mount's directories, then the caller's others
 *   CGO_CPPFLAGS, CGO_CFLAGS, CGO_CXXFLAGS
 *                 the mount's flags, then the caller's
 *
 * What the caller's value already holds of the mount's (an earlier
 * eval "$(canonfs env MNT)") is not repeated.
 *
 * Every char * returned is malloc'd and the caller's to free; NULL means
 * out of memory.
 */
#ifndef CANONFS_ENVMERGE_H
#define CANONFS_ENVMERGE_H

#include <stdbool.h>
#include <stddef.h>

/* The value for name: the mount's (canonical), combined with the
 * caller's (user, which may be NULL) where both count: *merged is set
 * (malloc'd), else NULL when the mount's replaces the caller's. mountpoint
 * is the resolved one the daemon wrote into the -isystem flags. Returns 0
 * or ENOMEM. */
int envmerge_value(const char *name, const char *canonical, const char *user,
		   const char *mountpoint, char **merged);

/* A cgo flags variable: canonical's flags, then user's without what the
 * mount already gives. c_flags: CGO_CFLAGS or CGO_CXXFLAGS (their leading
 * -g -O2 -nostdinc... -isystem MNT/sys/NAME run is dropped from user);
 * false for CGO_CPPFLAGS. */
char *envmerge_cgo_flags(const char *canonical, const char *user,
			 const char *mountpoint, bool c_flags);

/* GODEBUG lists: user's settings, then canonical's, each key once. */
char *envmerge_godebug(const char *canonical, const char *user);

/* GOFLAGS: canonical's then user's, or user's alone when it sets
 * -buildvcs. */
char *envmerge_goflags(const char *canonical, const char *user);

/* PATH: canonical's directories, then user's others, each once. */
char *envmerge_path(const char *canonical, const char *user);

/* The entry of key (key_len bytes) in a GODEBUG list ("a=1,b=2"), or
 * NULL. */
const char *envmerge_godebug_find(const char *list, const char *key,
				  size_t key_len);

/* The next field of a cgo flags value, split as Go splits it; its raw
 * text (quotes kept, *len bytes), *s moved past it; NULL at the end. */
const char *envmerge_next_field(const char **s, size_t *len);

#endif
