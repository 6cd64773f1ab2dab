/*
 * goenv: the canonical Go environment of a mount.
 *
 * Go hashes into its cache keys the directories of GOPATH and of the
 * module cache, the cgo flags, and (through `go test`) the local time
 * zero; never the system headers cgo compiles against. For a mount at MNT
 * the daemon serves, as MNT/.canonfs/env, one NAME=VALUE line per variable
 * a build inside should use:
 *
 *   GOMODCACHE    MNT/gomodcache, when the module cache is mirrored
 *   GOPATH        MNT/gopath, when a GOPATH is mirrored
 *   CC, CXX       MNT/.canonfs/bin/cc and c++, the mount's compilers
 *                 (ccwrap.h); without them, the -o cc= compiler
 *   PATH          MNT/goroot/bin and MNT/.canonfs/bin first
 *   CGO_CPPFLAGS  -DCANONFS_SYSHEADERS=<SHA-256 of every mirrored system
 *                 header>: keys change when the headers do, and only then
 *   CGO_CFLAGS    -g -O2 (Go's default) -nostdinc -isystem MNT/sys/NAME...
 *                 in the compiler's C search order
 *   CGO_CXXFLAGS  the same with -nostdinc++ and the C++ search order
 *   TZ            UTC
 *   GODEBUG       goindex=0 when mtimes are constant: Go's module index
 *                 keys on size+mtime and would keep a same-size edit's
 *                 stale import list
 *   GOFLAGS       -buildvcs=false under mtime=zero: git in the mount
 *                 misses a same-size edit there, and Go's stamp would
 *                 call the edited sources clean
 *
 * -nostdinc plus -isystem rather than --sysroot: a sysroot prefixes only
 * /usr/include-like directories (never the compiler's own include
 * directory) and would need the host's version and triplet names under
 * it; -isystem names exactly the mirrored directories, in the compiler's
 * order, which #include_next needs.
 *
 * `canonfs env MNT [--json]` (cmd_env.c) prints that file, and `canonfs
 * run` (cmd_run.c) adds it to the command's environment, each merging
 * some values with the caller's (envmerge.h).
 */
#ifndef CANONFS_GOENV_H
#define CANONFS_GOENV_H

#include <stdbool.h>
#include <stddef.h>

#include "canonfs/digests.h"
#include "canonfs/layout.h"
#include "canonfs/options.h"
#include "canonfs/sysinc.h"

#define GOENV_CONTROL_FILE "env"
#define GOENV_HEADER_DEFINE "CANONFS_SYSHEADERS"

/*
 * The host directory to mirror at /gomodcache: -o gomodcache=DIR, else
 * $GOMODCACHE, else the first $GOPATH entry + /pkg/mod, else
 * $HOME/go/pkg/mod (Go's own rule). Returns true with out filled, false
 * for -o gomodcache=none or when no default applies. *chosen tells
 * whether the user named it.
 *
 * A value from the environment that lies inside mountpoint (clean and
 * absolute), or holds it, is passed over for the next rule: it is what
 * `canonfs env` exported for builds inside an earlier mount of the same
 * place, not a host directory. A default that clashes gives none.
 */
bool goenv_modcache_dir(const struct canonfs_options *opts,
			const char *mountpoint, char *out, size_t out_size,
			bool *chosen);

/* The same for /goroot (read-only): -o goroot=DIR, else $GOROOT when
 * set, else the root of the toolchain of the go on PATH (through its
 * symlinks), when it is one. */
bool goenv_goroot_dir(const struct canonfs_options *opts,
		      const char *mountpoint, char *out, size_t out_size,
		      bool *chosen);

/* The one directory outside goroot that its top-level symlinks lead into
 * (Debian splits GOROOT: /usr/lib/go-1.23/src -> ../../share/go-1.23/src),
 * mirrored at /goroot-links so that those links resolve in the mount.
 * False when there is none, or several. */
bool goenv_goroot_links_dir(const char *goroot, char *out, size_t out_size);

/* The same for /gopath: -o gopath=DIR, else $GOPATH's first entry when
 * set and clear of mountpoint; no default (Go's $HOME/go is only
 * implied). */
bool goenv_gopath_dir(const struct canonfs_options *opts,
		      const char *mountpoint, char *out, size_t out_size,
		      bool *chosen);

/* The NAME=VALUE lines of MNT/.canonfs/env (malloc'd text). Returns 0 or
 * an errno value. */
int goenv_format(const struct layout *layout, const struct sysinc_list *sys,
		 const struct canonfs_options *opts,
		 struct digest_cache *digests, char **text, size_t *len);

/* The env file of the mount at mountpoint, as the daemon serves it
 * (malloc'd), or NULL with one line in err. */
char *goenv_read_env(const char *mountpoint, char *err, size_t err_size);

/* A warning on stderr when $GOCACHE lies inside the mount at mountpoint,
 * where Go's own cache trim would empty it. */
void goenv_warn_gocache_inside(const char *mountpoint);

/* A setting of Go's own environment file (`go env -w`: $GOENV, else
 * $XDG_CONFIG_HOME/go/env, else ~/.config/go/env), copied to buf; NULL
 * when it has none. Go reads the file under the environment, so a
 * variable the mount exports hides it: the caller's value is the
 * environment's, else the file's. */
const char *goenv_file_value(const char *name, char *buf, size_t size);

/* The caller's value of name: the environment's, else Go's file's. */
const char *goenv_callers_value(const char *name, char *buf, size_t size);

/* Add name to list (", "-separated, in a buffer of size bytes) when the
 * caller's value of it came from Go's file (callers, from
 * goenv_callers_value) and the mount's value replaces it. */
void goenv_note_replaced(char *list, size_t size, const char *name,
			 const char *callers, const char *mounts);

/* Say once, on stderr, which of Go's file's settings the mount's exports
 * replace (the list goenv_note_replaced built; "" for none). */
void goenv_warn_file_replaced(const char *names);

#endif
