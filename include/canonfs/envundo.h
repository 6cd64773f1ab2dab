/*
 * envundo: what takes back, in a shell, what `eval "$(canonfs env MNT)"`
 * exported (goenv.h, envmerge.h), for `canonfs env --unset [MNT]`.
 *
 * It works from the environment alone: the mount may be gone (unmounted,
 * or its daemon dead), and its env file with it. What names the mount is
 * taken out: variables whose value is a path in it are unset (GOROOT,
 * GOMODCACHE, CC, CXX), lists lose their entries in it (PATH, GOPATH), and
 * the cgo flags lose the leading run canonfs env wrote (-g -O2 -nostdinc
 * -isystem MNT/sys/...) and the header digest define; what the user added
 * after them stays. The settings without a path in them are taken back
 * only when CANONFS_MTIME says the shell evaluated canonfs env: TZ=UTC,
 * GOTOOLCHAIN=local (with GOROOT in the mount), GODEBUG's goindex=0 and
 * GOFLAGS' leading -buildvcs=false (under the time modes that set them),
 * and CANONFS_MTIME itself. What canonfs env replaced (a GOROOT, CC or
 * CGO_CFLAGS of the user's own) is not known any more: it is unset, and Go
 * and the compilers fall back to their defaults.
 *
 * Values come through a lookup function (getenv for the command, a table
 * for the unit tests); every string returned is malloc'd and the
 * caller's.
 */
#ifndef CANONFS_ENVUNDO_H
#define CANONFS_ENVUNDO_H

#include <stddef.h>

typedef const char *(*envundo_lookup)(const char *name);

enum envundo_action {
	ENVUNDO_KEEP,  /* as it is: canonfs env left nothing in it */
	ENVUNDO_UNSET, /* unset it */
	ENVUNDO_SET,   /* set it to *value */
	ENVUNDO_NOMEM,
};

/* The variables canonfs env may export, in its order, NULL-terminated. */
extern const char *const envundo_names[];

/* What undoes variable name for the mount at mountpoint (clean, absolute
 * and resolved, as the daemon wrote it into the values). */
enum envundo_action envundo_value(const char *name, envundo_lookup lookup,
				  const char *mountpoint, char **value);

/*
 * The mountpoint the environment's canonfs values point at: by the
 * mount's own compilers (MNT/.canonfs/bin on PATH, CC, CXX), and, once
 * CANONFS_MTIME is set, its toolchain (GOROOT=MNT/goroot with
 * MNT/goroot/bin on PATH), GOMODCACHE=MNT/gomodcache or GOPATH=MNT/gopath.
 * Returns 0 with it in out; ENOENT when there is none; EEXIST when there
 * are several (out then lists two, "A' and 'B").
 */
int envundo_find_mount(envundo_lookup lookup, char *out, size_t out_size);

#endif
