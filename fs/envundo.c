/*
 * envundo: taking back what canonfs env exported (see
 * include/canonfs/envundo.h).
 */
#include "canonfs/envundo.h"

#include "canonfs/envmerge.h"
#include "canonfs/goenv.h"
#include "canonfs/text.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const envundo_names[] = {
	"GOMODCACHE", "GOPATH",	      "GOROOT", "GOTOOLCHAIN",
	"CC",	      "CXX",	      "PATH",	"CGO_CPPFLAGS",
	"CGO_CFLAGS", "CGO_CXXFLAGS", "TZ",	"CANONFS_MTIME",
	"GODEBUG",    "GOFLAGS",      NULL,
};

/* Whether path (len bytes) is mountpoint or lies below it. */
static bool in_mount(const char *path, size_t len, const char *mountpoint)
{
	size_t mnt_len = strlen(mountpoint);

	return len >= mnt_len && memcmp(path, mountpoint, mnt_len) == 0 &&
	       (len == mnt_len || path[mnt_len] == '/');
}

/* A compiler value as canonfs env writes it: quoted when the mountpoint
 * has blanks (Go, make and CMake split CC at blanks). */
static bool names_path_in_mount(const char *value, const char *mountpoint)
{
	size_t len = strlen(value);

	if (len >= 2 && (value[0] == '\'' || value[0] == '"') &&
	    value[len - 1] == value[0])
		return in_mount(value + 1, len - 2, mountpoint);
	return in_mount(value, len, mountpoint);
}

/* A ':' list without its entries in the mount. */
static enum envundo_action drop_entries(const char *value,
					const char *mountpoint, bool may_unset,
					char **out)
{
	struct text t = {0};
	bool dropped = false;

	while (*value) {
		size_t len = strcspn(value, ":");

		if (in_mount(value, len, mountpoint))
			dropped = true;
		else
			text_add(&t, "%s%.*s", t.len ? ":" : "", (int)len,
				 value);
		value += len + (value[len] == ':');
	}
	if (!dropped) {
		free(t.data);
		return ENVUNDO_KEEP;
	}
	if (!t.len && may_unset) {
		free(t.data);
		return ENVUNDO_UNSET;
	}
	if (!t.len)
		text_add(&t, "%s", "");
	return (*out = text_take(&t)) ? ENVUNDO_SET : ENVUNDO_NOMEM;
}

/* rest (malloc'd, or NULL when out of memory) as the new value: unset
 * when nothing is left. Leading blanks are dropped. */
static enum envundo_action set_or_unset(char *rest, char **out)
{
	size_t skip;

	if (!rest)
		return ENVUNDO_NOMEM;
	skip = strspn(rest, " ");
	if (!rest[skip]) {
		free(rest);
		return ENVUNDO_UNSET;
	}
	memmove(rest, rest + skip, strlen(rest + skip) + 1);
	*out = rest;
	return ENVUNDO_SET;
}

/* The cgo flags without what canonfs env wrote: envmerge's rule for an
 * earlier eval, with nothing of the mount's put back. */
static enum envundo_action undo_cgo_flags(const char *name, const char *value,
					  const char *mountpoint, char **out)
{
	char sys_dir[PATH_MAX + 8];
	bool cpp = strcmp(name, "CGO_CPPFLAGS") == 0;

	snprintf(sys_dir, sizeof(sys_dir), "%s/sys/", mountpoint);
	if (cpp ? !strstr(value, "-D" GOENV_HEADER_DEFINE "=")
		: !strstr(value, sys_dir))
		return ENVUNDO_KEEP;
	return set_or_unset(envmerge_cgo_flags("", value, mountpoint, !cpp),
			    out);
}

/* Whether the time mode named by CANONFS_MTIME makes canonfs env set
 * GODEBUG=goindex=0 (zero, or a fixed epoch in seconds) or, zero alone,
 * GOFLAGS=-buildvcs=false (goenv.c). */
static bool constant_times(const char *mtime)
{
	return strcmp(mtime, "zero") == 0 ||
	       (mtime[0] && strspn(mtime, "0123456789") == strlen(mtime));
}

/* GODEBUG without the goindex=0 the mount added. */
static enum envundo_action undo_godebug(const char *value, char **out)
{
	const char *own = envmerge_godebug_find(value, "goindex", 7);
	struct text t = {0};

	if (!own || strncmp(own, "goindex=0", 9) != 0 ||
	    (own[9] && own[9] != ','))
		return ENVUNDO_KEEP;
	text_add(&t, "%.*s%s", (int)(own - value), value,
		 own[9] ? own + 10 : "");
	if (t.len && t.data[t.len - 1] == ',')
		t.data[--t.len] = '\0';
	return set_or_unset(text_take(&t), out);
}

/* GOFLAGS without the leading -buildvcs=false the mount put first. */
static enum envundo_action undo_goflags(const char *value, char **out)
{
	const char *rest = value,
		   *field = envmerge_next_field(&rest, &(size_t){0});

	if (!field || strncmp(field, "-buildvcs=false", 15) != 0 ||
	    (field[15] && field[15] != ' ' && field[15] != '\t'))
		return ENVUNDO_KEEP;
	return set_or_unset(strdup(rest), out);
}

/* The settings with no path in them, taken back only after an eval'd
 * canonfs env (CANONFS_MTIME set). */
static enum envundo_action undo_setting(const char *name, const char *value,
					envundo_lookup lookup,
					const char *mountpoint, char **out)
{
	const char *mtime = lookup("CANONFS_MTIME"), *goroot;

	if (!mtime)
		return ENVUNDO_KEEP;
	if (strcmp(name, "CANONFS_MTIME") == 0)
		return ENVUNDO_UNSET;
	if (strcmp(name, "TZ") == 0)
		return strcmp(value, "UTC") == 0 ? ENVUNDO_UNSET : ENVUNDO_KEEP;
	if (strcmp(name, "GOTOOLCHAIN") == 0) {
		goroot = lookup("GOROOT");
		return strcmp(value, "local") == 0 && goroot &&
				       in_mount(goroot, strlen(goroot),
						mountpoint)
			       ? ENVUNDO_UNSET
			       : ENVUNDO_KEEP;
	}
	if (strcmp(name, "GODEBUG") == 0 && constant_times(mtime))
		return undo_godebug(value, out);
	if (strcmp(name, "GOFLAGS") == 0 && strcmp(mtime, "zero") == 0)
		return undo_goflags(value, out);
	return ENVUNDO_KEEP;
}

enum envundo_action envundo_value(const char *name, envundo_lookup lookup,
				  const char *mountpoint, char **out)
{
	const char *value = lookup(name);

	*out = NULL;
	if (!value)
		return ENVUNDO_KEEP;
	if (strcmp(name, "GOMODCACHE") == 0 || strcmp(name, "GOROOT") == 0 ||
	    strcmp(name, "CC") == 0 || strcmp(name, "CXX") == 0)
		return names_path_in_mount(value, mountpoint) ? ENVUNDO_UNSET
							      : ENVUNDO_KEEP;
	if (strcmp(name, "PATH") == 0 || strcmp(name, "GOPATH") == 0)
		return drop_entries(value, mountpoint,
				    strcmp(name, "GOPATH") == 0, out);
	if (strncmp(name, "CGO_", 4) == 0)
		return undo_cgo_flags(name, value, mountpoint, out);
	return undo_setting(name, value, lookup, mountpoint, out);
}

/* ---- which mount: envundo_find_mount ---- */

struct found {
	char first[PATH_MAX], second[PATH_MAX];
	int n;
};

/* Note the mount at path (len bytes) when it ends in suffix. */
static void note_by_suffix(struct found *f, const char *path, size_t len,
			   const char *suffix)
{
	size_t suffix_len = strlen(suffix), mnt_len;

	if (len >= 2 && (path[0] == '\'' || path[0] == '"') &&
	    path[len - 1] == path[0]) {
		path++;
		len -= 2;
	}
	if (len <= suffix_len || path[0] != '/' ||
	    memcmp(path + len - suffix_len, suffix, suffix_len) != 0)
		return;
	mnt_len = len - suffix_len;
	if (mnt_len >= PATH_MAX)
		return;
	if (f->n > 0 && strlen(f->first) == mnt_len &&
	    memcmp(f->first, path, mnt_len) == 0)
		return;
	if (f->n > 1 && strlen(f->second) == mnt_len &&
	    memcmp(f->second, path, mnt_len) == 0)
		return;
	if (f->n < 2)
		snprintf(f->n ? f->second : f->first, PATH_MAX, "%.*s",
			 (int)mnt_len, path);
	f->n++;
}

static void note_value(struct found *f, const char *value, const char *suffix)
{
	if (value)
		note_by_suffix(f, value, strlen(value), suffix);
}

int envundo_find_mount(envundo_lookup lookup, char *out, size_t out_size)
{
	const char *path = lookup("PATH"), *goroot = lookup("GOROOT");
	const char *gopath = lookup("GOPATH");
	bool evaluated = lookup("CANONFS_MTIME") != NULL;
	struct found f = {.n = 0};

	/* The mount's own compilers are canonfs's alone; a directory called
	 * goroot or gomodcache is not rare, so those count only once
	 * CANONFS_MTIME says canonfs env was evaluated. */
	for (const char *p = path ? path : ""; *p;) {
		size_t len = strcspn(p, ":");

		note_by_suffix(&f, p, len, "/.canonfs/bin");
		if (evaluated && goroot && len == strlen(goroot) + 4 &&
		    memcmp(p, goroot, strlen(goroot)) == 0)
			note_by_suffix(&f, p, len, "/goroot/bin");
		p += len + (p[len] == ':');
	}
	note_value(&f, lookup("CC"), "/.canonfs/bin/cc");
	note_value(&f, lookup("CXX"), "/.canonfs/bin/c++");
	if (evaluated) {
		note_value(&f, lookup("GOMODCACHE"), "/gomodcache");
		if (gopath)
			note_by_suffix(&f, gopath, strcspn(gopath, ":"),
				       "/gopath");
	}
	if (f.n == 0)
		return ENOENT;
	if (f.n > 1) {
		snprintf(out, out_size, "%s' and '%s", f.first, f.second);
		return EEXIST;
	}
	snprintf(out, out_size, "%s", f.first);
	return 0;
}
