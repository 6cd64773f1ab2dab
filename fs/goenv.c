/*
 * goenv: the canonical Go environment of a mount (see
 * include/canonfs/goenv.h).
 */
#include "canonfs/goenv.h"

#include "canonfs/ccwrap.h"
#include "canonfs/control.h"
#include "canonfs/headers.h"
#include "canonfs/hostpath.h"
#include "canonfs/mounts.h"
#include "canonfs/path.h"
#include "canonfs/report.h"
#include "canonfs/text.h"
#include "canonfs/times.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#define FUSE_SUPER_MAGIC 0x65735546

/* The first entry of a GOPATH list ("a:b" -> "a"), if absolute. */
static bool first_gopath(char *out, size_t out_size)
{
	const char *gopath = getenv("GOPATH");
	size_t len;

	if (!gopath || gopath[0] != '/')
		return false;
	len = strcspn(gopath, ":");
	if (len + 1 > out_size)
		return false;
	memcpy(out, gopath, len);
	out[len] = '\0';
	return true;
}

static bool fits(int n, size_t size)
{
	return n >= 0 && (size_t)n < size;
}

/* An environment value that names the mountpoint (resolved) or a place
 * inside or above it, also through a symlink; it may not exist yet. */
static bool clashes(const char *dir, const char *mountpoint)
{
	char resolved[PATH_MAX];

	if (hostpath_resolve(dir, resolved, sizeof(resolved)))
		return false;
	return path_under(resolved, mountpoint) ||
	       path_under(mountpoint, resolved);
}

bool goenv_modcache_dir(const struct canonfs_options *opts,
			const char *mountpoint, char *out, size_t out_size,
			bool *chosen)
{
	const char *env = getenv("GOMODCACHE"), *home = getenv("HOME");
	char gopath[PATH_MAX];

	*chosen = opts->gomodcache_arg != NULL;
	if (opts->gomodcache_arg)
		return strcmp(opts->gomodcache_arg, "none") != 0 &&
		       fits(snprintf(out, out_size, "%s", opts->gomodcache_arg),
			    out_size);
	if (env && env[0] == '/' && !clashes(env, mountpoint))
		return fits(snprintf(out, out_size, "%s", env), out_size);
	if (first_gopath(gopath, sizeof(gopath)) &&
	    !clashes(gopath, mountpoint))
		return fits(snprintf(out, out_size, "%s/pkg/mod", gopath),
			    out_size);
	if (home && home[0] == '/' &&
	    fits(snprintf(out, out_size, "%s/go/pkg/mod",
			  strcmp(home, "/") ? home : ""),
		 out_size))
		return !clashes(out, mountpoint);
	return false;
}

bool goenv_gopath_dir(const struct canonfs_options *opts,
		      const char *mountpoint, char *out, size_t out_size,
		      bool *chosen)
{
	*chosen = opts->gopath_arg != NULL;
	if (opts->gopath_arg)
		return strcmp(opts->gopath_arg, "none") != 0 &&
		       fits(snprintf(out, out_size, "%s", opts->gopath_arg),
			    out_size);
	return first_gopath(out, out_size) && !clashes(out, mountpoint);
}

/* Whether dir is a Go toolchain's root (as the go command finds its own:
 * pkg/tool or src/runtime in it). */
static bool is_goroot(const char *dir)
{
	char probe[PATH_MAX];
	struct stat st;

	return (fits(snprintf(probe, sizeof(probe), "%s/pkg/tool", dir),
		     sizeof(probe)) &&
		stat(probe, &st) == 0 && S_ISDIR(st.st_mode)) ||
	       (fits(snprintf(probe, sizeof(probe), "%s/src/runtime", dir),
		     sizeof(probe)) &&
		stat(probe, &st) == 0 && S_ISDIR(st.st_mode));
}

bool goenv_goroot_dir(const struct canonfs_options *opts,
		      const char *mountpoint, char *out, size_t out_size,
		      bool *chosen)
{
	const char *env = getenv("GOROOT");
	char go[PATH_MAX], resolved[PATH_MAX], bin[PATH_MAX];

	*chosen = opts->goroot_arg != NULL;
	if (opts->goroot_arg)
		return strcmp(opts->goroot_arg, "none") != 0 &&
		       fits(snprintf(out, out_size, "%s", opts->goroot_arg),
			    out_size);
	if (env && env[0] == '/')
		return !clashes(env, mountpoint) && is_goroot(env) &&
		       fits(snprintf(out, out_size, "%s", env), out_size);
	/* The go on PATH, through its symlinks (/usr/bin/go ->
	 * /usr/lib/go-1.19/bin/go): GOROOT is above its bin. */
	if (!hostpath_find_command("go", NULL, go, sizeof(go)) ||
	    !realpath(go, resolved) ||
	    path_dirname(resolved, bin, sizeof(bin)) ||
	    path_dirname(bin, out, out_size))
		return false;
	return is_goroot(out) && !clashes(out, mountpoint);
}

bool goenv_goroot_links_dir(const char *goroot, char *out, size_t out_size)
{
	char path[PATH_MAX], target[PATH_MAX], parent[PATH_MAX], root[PATH_MAX];
	struct dirent *entry;
	struct stat st;
	bool found = false, one = true;
	DIR *d;

	if (!realpath(goroot, root) || !(d = opendir(root)))
		return false;
	while (one && (entry = readdir(d))) {
		if (entry->d_name[0] == '.' ||
		    !fits(snprintf(path, sizeof(path), "%s/%s", root,
				   entry->d_name),
			  sizeof(path)) ||
		    lstat(path, &st) || !S_ISLNK(st.st_mode) ||
		    !realpath(path, target) || path_under(target, root) ||
		    stat(target, &st) || !S_ISDIR(st.st_mode) ||
		    path_dirname(target, parent, sizeof(parent)))
			continue;
		/* All of them into one directory, or none is mirrored. */
		one = !found || strcmp(parent, out) == 0;
		if (!found)
			found = fits(snprintf(out, out_size, "%s", parent),
				     out_size);
	}
	closedir(d);
	return found && one && !path_under(root, out);
}

/* ---- the variables ---- */

/* MNT/rest as one field of a value Go splits at blanks: a field that
 * starts with ' or " runs to the same quote, with no escapes, so a
 * mountpoint with blanks is quoted with one it does not hold. */
static void add_mount_path(struct text *t, const struct layout *layout,
			   const char *rest)
{
	char q = strchr(layout->mountpoint, '\'') ? '"' : '\'';

	if (strpbrk(layout->mountpoint, " \t"))
		text_add(t, "%c%s/%s%c", q, layout->mountpoint, rest, q);
	else
		text_add(t, "%s/%s", layout->mountpoint, rest);
}

/* -isystem for each directory of one language, in its search order. */
static void add_isystem(struct text *t, const struct layout *layout,
			const struct sysinc_list *sys, unsigned lang)
{
	char rest[PATH_MAX];

	for (const struct sysinc_dir *d = sysinc_next(sys, lang, NULL); d;
	     d = sysinc_next(sys, lang, d)) {
		snprintf(rest, sizeof(rest), "sys/%s", d->name);
		text_add(t, " -isystem ");
		add_mount_path(t, layout, rest);
	}
}

static bool has_kind(const struct layout *layout, enum layout_kind kind)
{
	for (size_t i = 0; i < layout->n_mirrors; i++)
		if (layout->mirrors[i].kind == kind)
			return true;
	return false;
}

int goenv_format(const struct layout *layout, const struct sysinc_list *sys,
		 const struct canonfs_options *opts,
		 struct digest_cache *digests, char **text, size_t *len)
{
	struct text t = {0};
	unsigned char sha[32];
	bool served = ccwrap_served(layout, sys);
	int err;

	if (has_kind(layout, LAYOUT_GOMODCACHE))
		text_add(&t, "GOMODCACHE=%s/gomodcache\n", layout->mountpoint);
	if (has_kind(layout, LAYOUT_GOPATH)) {
		/* Only $GOPATH's first entry is mirrored; the others stay
		 * where they are, so that Go still finds their packages. */
		const char *env = getenv("GOPATH");
		const char *rest =
			!opts->gopath_arg && env ? strchr(env, ':') : NULL;

		text_add(&t, "GOPATH=%s/gopath%s\n", layout->mountpoint,
			 rest ? rest : "");
	}
	/* The mount's toolchain runs, at the path its keys name. It is
	 * pinned: a go.mod asking for a newer one fails with Go's own
	 * message instead of switching to a toolchain outside the mount. */
	if (has_kind(layout, LAYOUT_GOROOT)) {
		text_add(&t, "GOROOT=%s/goroot\n", layout->mountpoint);
		text_add(&t, "GOTOOLCHAIN=local\n");
	}
	/* The mount's compilers (ccwrap.h) for C and C++ builds, and cgo's;
	 * on PATH too, for makefiles that name gcc themselves. */
	if (served) {
		/* Go, make and CMake split CC at blanks, minding quotes. */
		text_add(&t, "CC=");
		add_mount_path(&t, layout, ".canonfs/bin/cc");
		text_add(&t, "\n");
		if (ccwrap_serves(layout, sys, CCWRAP_CXX)) {
			text_add(&t, "CXX=");
			add_mount_path(&t, layout, ".canonfs/bin/c++");
			text_add(&t, "\n");
		}
	} else if (sys->compiler_chosen && sys->compiler) {
		char cxx[PATH_MAX];

		text_add(&t, "CC=%s\n", sys->compiler);
		if (sysinc_cxx_of(sys->compiler, cxx, sizeof(cxx)) == 0)
			text_add(&t, "CXX=%s\n", cxx);
	}
	if (has_kind(layout, LAYOUT_GOROOT) || served) {
		text_add(&t, "PATH=");
		if (has_kind(layout, LAYOUT_GOROOT))
			text_add(&t, "%s/goroot/bin%s", layout->mountpoint,
				 served ? ":" : "");
		if (served)
			text_add(&t, "%s/.canonfs/bin", layout->mountpoint);
		text_add(&t, "\n");
	}
	if (has_kind(layout, LAYOUT_SYS)) {
		if ((err = headers_digest(layout, digests, sha))) {
			free(t.data);
			return err;
		}
		text_add(&t, "CGO_CPPFLAGS=-D%s=", GOENV_HEADER_DEFINE);
		for (int i = 0; i < 32; i++)
			text_add(&t, "%02x", sha[i]);
		text_add(&t, "\n");
		if (sysinc_has_lang(sys, SYSINC_C)) {
			text_add(&t, "CGO_CFLAGS=-g -O2 -nostdinc");
			add_isystem(&t, layout, sys, SYSINC_C);
			text_add(&t, "\n");
		}
		if (sysinc_has_lang(sys, SYSINC_CXX)) {
			text_add(&t,
				 "CGO_CXXFLAGS=-g -O2 -nostdinc -nostdinc++");
			add_isystem(&t, layout, sys, SYSINC_CXX);
			text_add(&t, "\n");
		}
	}
	text_add(&t, "TZ=UTC\n");
	/* Which times the build sees: what the guards below depend on. */
	text_add(&t, "CANONFS_MTIME=%s\n",
		 times_mode_name(opts->rules.time_mode));
	/* Go's module index trusts a directory whose files' sizes and mtimes
	 * are unchanged: under constant times a same-size edit keeps its
	 * stale import list. The baseline mode shows every edit's true
	 * time, and the content mode a new one, so they keep the index. */
	if (opts->rules.time_mode == CANON_TIME_ZERO ||
	    opts->rules.time_mode == CANON_TIME_FIXED)
		text_add(&t, "GODEBUG=goindex=0\n");
	/* Go stamps vcs.modified from `git status`. git trusts an index
	 * entry whose stat matches, re-reading only entries as new as the
	 * index, a check it skips when the index's mtime is 0: under
	 * all-zero times a same-size edit reads as clean. */
	if (opts->rules.time_mode == CANON_TIME_ZERO)
		text_add(&t, "GOFLAGS=-buildvcs=false\n");
	if (!(*text = text_take(&t)))
		return ENOMEM;
	*len = t.len;
	return 0;
}

/* ---- reading it back: `canonfs env` and `canonfs run` ---- */

char *goenv_read_env(const char *mountpoint, char *err, size_t err_size)
{
	char path[PATH_MAX];
	struct statfs sfs;
	char *data = NULL;
	size_t len = 0;
	FILE *f;

	if (statfs(mountpoint, &sfs) == -1) {
		if (errno == ENOTCONN) {
			char *advice = mounts_unmount_advice(mountpoint);

			snprintf(err, err_size,
				 "MOUNTPOINT '%s': a stale mount, its daemon "
				 "is gone (run: %s; then mount again)",
				 mountpoint,
				 advice ? advice : "fusermount3 -u");
			free(advice);
		} else
			snprintf(err, err_size,
				 "MOUNTPOINT '%s': %s (give the directory "
				 "canonfs is mounted on)",
				 mountpoint, strerror(errno));
		return NULL;
	}
	snprintf(path, sizeof(path), "%s/%s/%s", mountpoint, CONTROL_DIR_NAME,
		 GOENV_CONTROL_FILE);
	f = sfs.f_type == FUSE_SUPER_MAGIC ? fopen(path, "re") : NULL;
	if (!f) {
		snprintf(err, err_size,
			 "'%s' is not the root of a canonfs mount (give the "
			 "MOUNTPOINT of a running canonfs)",
			 mountpoint);
		return NULL;
	}
	if (getdelim(&data, &len, '\0', f) < 0) {
		free(data);
		data = NULL;
		snprintf(err, err_size, "cannot read '%s': %s", path,
			 strerror(ferror(f) ? errno : EIO));
	}
	fclose(f);
	return data;
}

const char *goenv_file_value(const char *name, char *buf, size_t size)
{
	const char *goenv = getenv("GOENV"),
		   *config = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char path[PATH_MAX], line[8192];
	size_t len = strlen(name);
	const char *found = NULL;
	FILE *f;

	/* As Go finds it: os.UserConfigDir refuses a relative one. */
	if (goenv && goenv[0])
		snprintf(path, sizeof(path), "%s", goenv);
	else if (config && config[0] && config[0] != '/')
		return NULL;
	else if (config && config[0])
		snprintf(path, sizeof(path), "%s/go/env", config);
	else if (home && home[0])
		snprintf(path, sizeof(path), "%s/.config/go/env", home);
	else
		return NULL;
	if (strcmp(path, "off") == 0 || !(f = fopen(path, "re")))
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, name, len) == 0 && line[len] == '=') {
			snprintf(buf, size, "%s", line + len + 1);
			found = buf; /* the last one counts, as for Go */
		}
	}
	fclose(f);
	return found;
}

const char *goenv_callers_value(const char *name, char *buf, size_t size)
{
	const char *env = getenv(name);

	/* Go takes an empty variable for an unset one. */
	return env && env[0] ? env : goenv_file_value(name, buf, size);
}

void goenv_note_replaced(char *list, size_t size, const char *name,
			 const char *callers, const char *mounts)
{
	const char *env = getenv(name);
	size_t len = strlen(list);

	if (callers && !(env && env[0]) && strcmp(callers, mounts) != 0)
		snprintf(list + len, size - len, "%s%s", len ? ", " : "", name);
}

void goenv_warn_file_replaced(const char *names)
{
	if (names[0])
		report_error("warning: the mount's %s replace%s what `go env "
			     "-w` set (Go's env file); set %s in the "
			     "environment instead, after the mount's",
			     names, strchr(names, ',') ? "" : "s",
			     strchr(names, ',') ? "them" : "it");
}

/* A GOCACHE reached through the mount is emptied by Go itself: its trim
 * deletes entries unused for five days by their mtime, which the
 * canonical view shows as 0 (or a 1990s date). Said on stderr, once. */
void goenv_warn_gocache_inside(const char *mountpoint)
{
	const char *gocache = getenv("GOCACHE");
	char mnt[PATH_MAX], cache[PATH_MAX];

	if (!gocache || !gocache[0] || !realpath(mountpoint, mnt) ||
	    hostpath_resolve(gocache, cache, sizeof(cache)) ||
	    !path_under(cache, mnt))
		return;
	report_error("warning: GOCACHE '%s' is inside the mount, whose "
		     "canonical mtimes make Go's cache trim delete every "
		     "entry; keep GOCACHE outside MOUNTPOINT (or mount with "
		     "-o mtime=passthrough)",
		     gocache);
}
