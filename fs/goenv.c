/*
 * goenv: the canonical Go environment of a mount (see
 * include/canonfs/goenv.h).
 */
#include "canonfs/goenv.h"

#include "canonfs/canon.h"
#include "canonfs/control.h"
#include "canonfs/hostpath.h"
#include "canonfs/path.h"
#include "canonfs/report.h"
#include "canonfs/symlink.h"
#include "canonfs/text.h"

#include <openssl/evp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
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

/* ---- the system header digest ---- */

struct header_walk {
	EVP_MD_CTX *ctx;
	struct digest_cache *digests;
	const struct layout *layout;
};

static int name_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One entry's record: "PATH\0TYPE MODE\0" then its digest or target. */
static void hash_record(struct header_walk *w, const char *virt_path,
			const struct stat *st, const void *data, size_t len)
{
	char head[32];
	int n = snprintf(head, sizeof(head), "%c %o",
			 S_ISDIR(st->st_mode)	? 'd'
			 : S_ISLNK(st->st_mode) ? 'l'
						: 'f',
			 (unsigned)(canon_mode(st->st_mode) & 07777));

	EVP_DigestUpdate(w->ctx, virt_path, strlen(virt_path) + 1);
	EVP_DigestUpdate(w->ctx, head, (size_t)n + 1);
	if (data)
		EVP_DigestUpdate(w->ctx, data, len);
}

static int walk_headers(struct header_walk *w, int dir_fd, const char *virt_dir,
			int depth);

static void hash_entry(struct header_walk *w, int dir_fd, const char *name,
		       const char *virt_dir, int depth)
{
	char virt_path[PATH_MAX], target[PATH_MAX], shown[PATH_MAX];
	unsigned char sha[32];
	struct stat st;
	ssize_t len;
	int fd;

	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !canon_is_shown(st.st_mode) ||
	    !fits(snprintf(virt_path, sizeof(virt_path), "%s/%s", virt_dir,
			   name),
		  sizeof(virt_path)))
		return;
	if (S_ISREG(st.st_mode)) {
		fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		/* An unreadable header is recorded as such: what the build
		 * would see too. */
		if (fd < 0 || digests_get(w->digests, fd, &st, sha))
			memset(sha, 0, sizeof(sha));
		if (fd >= 0)
			close(fd);
		hash_record(w, virt_path, &st, sha, sizeof(sha));
	} else if (S_ISLNK(st.st_mode)) {
		len = readlinkat(dir_fd, name, target, sizeof(target) - 1);
		target[len < 0 ? 0 : len] = '\0';
		if (symlink_to_view(target, virt_dir, w->layout->spellings,
				    w->layout->n_spellings, shown,
				    sizeof(shown)))
			snprintf(shown, sizeof(shown), "%s", target);
		hash_record(w, virt_path, &st, shown, strlen(shown));
	} else {
		hash_record(w, virt_path, &st, NULL, 0);
		fd = openat(dir_fd, name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			walk_headers(w, fd, virt_path, depth + 1);
	}
}

/* Hash the tree behind dir_fd (consumed) in byte order of names. */
static int walk_headers(struct header_walk *w, int dir_fd, const char *virt_dir,
			int depth)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;
	int err = 0;

	/* Include trees are shallow; a loop of bind mounts is not. */
	if (depth > 64 || !(dir = fdopendir(dir_fd))) {
		close(dir_fd);
		return depth > 64 ? ELOOP : errno;
	}
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **grown =
				realloc(names, (cap = cap ? 2 * cap : 64) *
						       sizeof(*names));
			if (!grown) {
				err = ENOMEM;
				break;
			}
			names = grown;
		}
		if (!(names[n] = strdup(de->d_name))) {
			err = ENOMEM;
			break;
		}
		n++;
	}
	if (!err && n > 0) {
		qsort(names, n, sizeof(*names), name_compare);
		for (size_t i = 0; i < n; i++)
			hash_entry(w, dirfd(dir), names[i], virt_dir, depth);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return err;
}

/*
 * The SHA-256 over every mirrored system include directory (the layout's
 * sys mirrors, in the search list's order), walked in byte order: each
 * entry's virtual path, type, canonical mode and content digest (files)
 * or shown target (symlinks). Returns 0 or an errno value.
 */
static int headers_digest(const struct layout *layout,
			  struct digest_cache *digests, unsigned char out[32])
{
	struct header_walk w = {.digests = digests, .layout = layout};
	int err = 0;

	if (!(w.ctx = EVP_MD_CTX_new()) ||
	    !EVP_DigestInit_ex(w.ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(w.ctx);
		return ENOMEM;
	}
	for (size_t i = 0; i < layout->n_mirrors && !err; i++) {
		const struct layout_mirror *m = &layout->mirrors[i];
		int fd;

		if (m->kind != LAYOUT_SYS)
			continue;
		EVP_DigestUpdate(w.ctx, m->virt_path, strlen(m->virt_path) + 1);
		fd = openat(m->root_fd, ".",
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		err = fd < 0 ? errno : walk_headers(&w, fd, m->virt_path, 0);
	}
	if (!err)
		EVP_DigestFinal_ex(w.ctx, out, NULL);
	EVP_MD_CTX_free(w.ctx);
	return err;
}

/* ---- the variables ---- */

/* Whether command (a path, or a name looked up in $PATH) can be run. */
static bool runnable(const char *command)
{
	const char *path = getenv("PATH");
	char full[PATH_MAX];

	if (strchr(command, '/'))
		return access(command, X_OK) == 0;
	for (const char *p = path ? path : ""; *p;) {
		size_t len = strcspn(p, ":");

		if (len > 0 &&
		    (size_t)snprintf(full, sizeof(full), "%.*s/%s", (int)len, p,
				     command) < sizeof(full) &&
		    access(full, X_OK) == 0)
			return true;
		p += len + (p[len] == ':');
	}
	return false;
}

/*
 * The C++ driver of C compiler cc: gcc-12 -> g++-12, clang -> clang++,
 * cc -> c++, the directory kept. The C++ headers MNT/sys mirrors are cc's
 * own (`cc -x c++`), so Go must compile .cc files with its partner: left
 * to its default g++, a cgo package's C++ met clang's headers and failed.
 * Returns 0, or ENOENT when there is no such partner to run.
 */
static int cxx_of(const char *cc, char *out, size_t out_size)
{
	const char *base = strrchr(cc, '/') ? strrchr(cc, '/') + 1 : cc;
	size_t dir_len = (size_t)(base - cc), at, len;
	const char *hit;

	if (strcmp(base, "cc") == 0) {
		at = 0;
		len = 2;
		hit = "c++";
	} else if ((hit = strstr(base, "clang"))) {
		at = (size_t)(hit - base);
		len = 5;
		hit = "clang++";
	} else if ((hit = strstr(base, "gcc"))) {
		at = (size_t)(hit - base);
		len = 3;
		hit = "g++";
	} else {
		return ENOENT;
	}
	if ((size_t)snprintf(out, out_size, "%.*s%.*s%s%s", (int)dir_len, cc,
			     (int)at, base, hit, base + at + len) >= out_size ||
	    !runnable(out))
		return ENOENT;
	return 0;
}

/* -isystem for each directory of one language, in its search order. */
static void add_isystem(struct text *t, const struct layout *layout,
			const struct sysinc_list *sys, unsigned lang)
{
	unsigned last = 0;
	bool first = true;

	/* Positions are small and unique per language: select in order. */
	for (;;) {
		const struct sysinc_dir *next = NULL;

		for (size_t i = 0; i < sys->n; i++) {
			const struct sysinc_dir *d = &sys->dirs[i];
			unsigned pos = lang == SYSINC_C ? d->c_pos : d->cxx_pos;

			if (!(d->langs & lang) || (!first && pos <= last))
				continue;
			if (!next || pos < (lang == SYSINC_C ? next->c_pos
							     : next->cxx_pos))
				next = d;
		}
		if (!next)
			return;
		last = lang == SYSINC_C ? next->c_pos : next->cxx_pos;
		first = false;
		/* Go splits cgo flags at blanks, and a field that starts
		 * with ' or " runs to the same quote, with no escapes: quote
		 * with one the path does not hold. */
		if (strpbrk(layout->mountpoint, " \t")) {
			char q = strchr(layout->mountpoint, '\'') ? '"' : '\'';

			text_add(t, " -isystem %c%s/sys/%s%c", q,
				 layout->mountpoint, next->name, q);
		} else {
			text_add(t, " -isystem %s/sys/%s", layout->mountpoint,
				 next->name);
		}
	}
}

static bool has_lang(const struct sysinc_list *sys, unsigned lang)
{
	for (size_t i = 0; i < sys->n; i++)
		if (sys->dirs[i].langs & lang)
			return true;
	return false;
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
	if (sys->compiler_chosen && sys->compiler) {
		char cxx[PATH_MAX];

		text_add(&t, "CC=%s\n", sys->compiler);
		if (cxx_of(sys->compiler, cxx, sizeof(cxx)) == 0)
			text_add(&t, "CXX=%s\n", cxx);
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
		if (has_lang(sys, SYSINC_C)) {
			text_add(&t, "CGO_CFLAGS=-g -O2 -nostdinc");
			add_isystem(&t, layout, sys, SYSINC_C);
			text_add(&t, "\n");
		}
		if (has_lang(sys, SYSINC_CXX)) {
			text_add(&t,
				 "CGO_CXXFLAGS=-g -O2 -nostdinc -nostdinc++");
			add_isystem(&t, layout, sys, SYSINC_CXX);
			text_add(&t, "\n");
		}
	}
	text_add(&t, "TZ=UTC\n");
	if (opts->rules.time_mode == CANON_TIME_ZERO ||
	    opts->rules.time_mode == CANON_TIME_FIXED)
		text_add(&t, "GODEBUG=goindex=0\n");
	/* Go stamps vcs.modified from `git status`. git trusts an index
	 * entry whose stat matches, re-reading only entries as new as the
	 * index, a check it skips when the index's mtime is 0: under
	 * all-zero times a same-size edit reads as clean. */
	if (opts->rules.time_mode == CANON_TIME_ZERO)
		text_add(&t, "GOFLAGS=-buildvcs=false\n");
	if (t.failed) {
		free(t.data);
		return ENOMEM;
	}
	*text = t.data;
	*len = t.len;
	return 0;
}

/* ---- `canonfs env` and `canonfs run` ---- */

/* The env file of the mount at mountpoint (malloc'd), or NULL with one
 * line in err. */
static char *read_env_file(const char *mountpoint, char *err, size_t err_size)
{
	char path[PATH_MAX];
	struct statfs sfs;
	char *data = NULL;
	size_t len = 0;
	FILE *f;

	if (statfs(mountpoint, &sfs) == -1) {
		if (errno == ENOTCONN)
			snprintf(err, err_size,
				 "MOUNTPOINT '%s': a stale mount, its daemon "
				 "is gone (run: fusermount3 -u %s, then mount "
				 "again)",
				 mountpoint, mountpoint);
		else
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

static void print_shell_quoted(const char *s)
{
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

/* Unlike manifest.c's escaping (every byte >= 0x7f as \u00XX, since
 * names need not be UTF-8), a mountpoint's UTF-8 passes through: the
 * values must parse back to the path itself. */
static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* A GOCACHE reached through the mount is emptied by Go itself: its trim
 * deletes entries unused for five days by their mtime, which the
 * canonical view shows as 0 (or a 1990s date). Said on stderr, once. */
static void warn_gocache_inside(const char *mountpoint)
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

static int merge_value(const char *name, const char *canonical,
		       const char *mountpoint, char **merged);

int goenv_main(int argc, char **argv)
{
	const char *mountpoint = NULL;
	char err[PATH_MAX + 256], *data, *line, *save = NULL;
	bool json = false, first = true;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "-h") == 0 ||
			   strcmp(argv[i], "--help") == 0) {
			printf("usage: canonfs env MOUNTPOINT [--json]\n"
			       "Print the environment for a build inside the "
			       "canonfs mount at MOUNTPOINT:\nshell exports "
			       "(eval \"$(canonfs env MNT)\"), or one JSON "
			       "object.\n");
			return 0;
		} else if (!mountpoint && argv[i][0] != '-') {
			mountpoint = argv[i];
		} else {
			report_error("env: unexpected argument '%s' (usage: "
				     "canonfs env MOUNTPOINT [--json])",
				     argv[i]);
			return 2;
		}
	}
	if (!mountpoint) {
		report_error("env: missing MOUNTPOINT (usage: canonfs env "
			     "MOUNTPOINT [--json])");
		return 2;
	}
	if (!(data = read_env_file(mountpoint, err, sizeof(err)))) {
		report_error("env: %s", err);
		return 1;
	}
	warn_gocache_inside(mountpoint);
	if (json)
		putchar('{');
	for (line = strtok_r(data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '='), *merged = NULL;
		const char *value;

		if (!eq)
			continue;
		*eq = '\0';
		/* GODEBUG and GOFLAGS get one setting each from the mount:
		 * what the shell had is kept beside it. The flags variables
		 * are the mount's as they are (README: add yours after). */
		if ((strcmp(line, "GODEBUG") == 0 ||
		     strcmp(line, "GOFLAGS") == 0) &&
		    merge_value(line, eq + 1, mountpoint, &merged)) {
			report_error("env: out of memory");
			free(data);
			return 1;
		}
		value = merged ? merged : eq + 1;
		if (json) {
			printf("%s\n  ", first ? "" : ",");
			print_json_string(line);
			fputs(": ", stdout);
			print_json_string(value);
		} else {
			printf("export %s=", line);
			print_shell_quoted(value);
			putchar('\n');
		}
		free(merged);
		first = false;
	}
	if (json)
		puts("\n}");
	free(data);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- `canonfs run`: the mount's values added to the caller's ---- */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The next field of a cgo flags value, split as Go splits it
 * (cmd/internal/quoted): blanks separate fields, and one that starts with
 * ' or " runs to the same quote. Returns its raw text (quotes kept, *len
 * bytes) and moves *s past it, or NULL at the end. */
static const char *next_field(const char **s, size_t *len)
{
	const char *p = *s, *start;

	while (*p && is_blank(*p))
		p++;
	if (!*p)
		return NULL;
	start = p;
	if (*p == '\'' || *p == '"') {
		const char *end = strchr(p + 1, *p);

		p = end ? end + 1 : p + strlen(p);
	} else {
		while (*p && !is_blank(*p))
			p++;
	}
	*len = (size_t)(p - start);
	*s = p;
	return start;
}

static bool field_is(const char *field, size_t len, const char *text)
{
	return len == strlen(text) && memcmp(field, text, len) == 0;
}

static bool field_starts(const char *field, size_t len, const char *prefix)
{
	return len >= strlen(prefix) &&
	       memcmp(field, prefix, strlen(prefix)) == 0;
}

/* An -isystem argument naming one of this mount's MNT/sys directories
 * (quoted as add_isystem quotes a mountpoint with blanks). */
static bool is_own_sys_dir(const char *field, size_t len,
			   const char *mountpoint)
{
	size_t mnt_len = strlen(mountpoint);

	if (len >= 2 && (field[0] == '\'' || field[0] == '"') &&
	    field[len - 1] == field[0]) {
		field++;
		len -= 2;
	}
	return len > mnt_len + 5 && memcmp(field, mountpoint, mnt_len) == 0 &&
	       memcmp(field + mnt_len, "/sys/", 5) == 0;
}

/*
 * A cgo flags variable: the mount's flags, then the caller's, as the
 * README tells `canonfs env` users to write them by hand. Canonical first
 * because the compiler searches -I and -isystem directories in the order
 * given (the mirrored system headers must be found before any the caller
 * adds) and a later -O or -D overrides an earlier one (the caller's
 * choices still apply).
 *
 * What the caller's value already holds of what canonfs env writes is not
 * repeated: the header define (the current digest is the mount's; one
 * from an earlier mount would redefine it) and, for CGO_CFLAGS and
 * CGO_CXXFLAGS, a leading run of -g, -O2, -nostdinc, -nostdinc++ and
 * -isystem MNT/sys/NAME (the mount's value starts with the same run, so
 * dropping it changes nothing but a stale directory list). A shell that
 * did eval "$(canonfs env MNT)", with or without flags added after, thus
 * gets the same flags as one that did not.
 */
static char *merge_cgo_flags(const char *canonical, const char *user,
			     const char *mountpoint, bool c_flags)
{
	struct text t = {0};
	bool leading = c_flags;
	const char *field;
	size_t len;

	text_add(&t, "%s", canonical);
	while ((field = next_field(&user, &len))) {
		if (field_starts(field, len, "-D" GOENV_HEADER_DEFINE "="))
			continue;
		if (leading && (field_is(field, len, "-g") ||
				field_is(field, len, "-O2") ||
				field_is(field, len, "-nostdinc") ||
				field_is(field, len, "-nostdinc++")))
			continue;
		if (leading && field_is(field, len, "-isystem")) {
			const char *after = user, *dir;
			size_t dir_len;

			dir = next_field(&after, &dir_len);
			if (dir && is_own_sys_dir(dir, dir_len, mountpoint)) {
				user = after;
				continue;
			}
		}
		leading = false;
		text_add(&t, " %.*s", (int)len, field);
	}
	if (t.failed) {
		free(t.data);
		return NULL;
	}
	return t.data;
}

/* The entry of key (key_len bytes) in a GODEBUG list, or NULL. */
static const char *godebug_find(const char *list, const char *key,
				size_t key_len)
{
	while (*list) {
		size_t len = strcspn(list, ",");

		if (len > key_len && list[key_len] == '=' &&
		    memcmp(list, key, key_len) == 0)
			return list;
		list += len + (list[len] == ',');
	}
	return NULL;
}

/*
 * GODEBUG, a comma-separated list of key=value: the caller's settings,
 * then the mount's, each key once. Once, because Go does not agree with
 * itself on a repeated key: 1.19's internal/godebug takes the first, 1.21
 * and later the last.
 *
 * On a clash the mount's setting wins: it is there only to keep builds in
 * the mount correct and the same everywhere (goindex=0: under constant
 * mtimes Go's module index would keep a same-size edit's stale import
 * list), and a GODEBUG inherited from a container or CI job is meant for
 * the programs, not to undo that. A mount whose mtimes are not constant
 * sets no goindex, so -o mtime=content is the way to keep the index. The
 * override is said on stderr.
 */
static char *merge_godebug(const char *canonical, const char *user)
{
	struct text t = {0};

	while (*user) {
		size_t len = strcspn(user, ","), key_len = strcspn(user, "=,");
		const char *own = godebug_find(canonical, user, key_len);

		if (own) {
			size_t own_len = strcspn(own, ",");

			if (own_len != len || memcmp(own, user, len) != 0)
				report_error("warning: GODEBUG setting '%.*s' "
					     "overridden by the mount's '%.*s' "
					     "(it keeps builds in the mount "
					     "correct; see canonfs env)",
					     (int)len, user, (int)own_len, own);
		} else if (len > 0) {
			text_add(&t, "%.*s,", (int)len, user);
		}
		user += len + (user[len] == ',');
	}
	text_add(&t, "%s", canonical);
	if (t.failed) {
		free(t.data);
		return NULL;
	}
	return t.data;
}

/*
 * GOFLAGS: the mount's -buildvcs=false before the caller's flags, unless
 * those set -buildvcs themselves: a caller who asks for the stamp gets it
 * (the README says when it can be wrong). Nothing is repeated, so an
 * eval'd canonfs env leaves GOFLAGS as it was.
 */
static char *merge_goflags(const char *canonical, const char *user)
{
	struct text t = {0};
	const char *rest = user, *field;
	size_t len;

	while ((field = next_field(&rest, &len)))
		if (field_starts(field, len, "-buildvcs") ||
		    field_starts(field, len, "--buildvcs"))
			return strdup(user);
	text_add(&t, "%s %s", canonical, user);
	if (t.failed) {
		free(t.data);
		return NULL;
	}
	return t.data;
}

/* The value for name: the mount's, combined with the caller's where both
 * count (*merged malloc'd, else NULL: the mount's replaces the caller's).
 * Returns 0 or ENOMEM. */
static int merge_value(const char *name, const char *canonical,
		       const char *mountpoint, char **merged)
{
	const char *user = getenv(name);

	*merged = NULL;
	if (!user || !user[0])
		return 0;
	if (strcmp(name, "GODEBUG") == 0)
		*merged = merge_godebug(canonical, user);
	else if (strcmp(name, "GOFLAGS") == 0)
		*merged = merge_goflags(canonical, user);
	else if (strcmp(name, "CGO_CPPFLAGS") == 0)
		*merged = merge_cgo_flags(canonical, user, mountpoint, false);
	else if (strcmp(name, "CGO_CFLAGS") == 0 ||
		 strcmp(name, "CGO_CXXFLAGS") == 0)
		*merged = merge_cgo_flags(canonical, user, mountpoint, true);
	else
		return 0;
	return *merged ? 0 : ENOMEM;
}

int goenv_apply(const char *mountpoint, char *err, size_t err_size)
{
	char *data = read_env_file(mountpoint, err, err_size), *line;
	char resolved[PATH_MAX], *save = NULL;
	int rc = 0;

	if (!data)
		return -1;
	/* As the daemon wrote it into the -isystem flags. */
	if (!realpath(mountpoint, resolved))
		snprintf(resolved, sizeof(resolved), "%s", mountpoint);
	warn_gocache_inside(mountpoint);
	for (line = strtok_r(data, "\n", &save); line && !rc;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '='), *merged;
		int e;

		if (!eq)
			continue;
		*eq = '\0';
		e = merge_value(line, eq + 1, resolved, &merged);
		if (!e && setenv(line, merged ? merged : eq + 1, 1))
			e = errno;
		if (e) {
			snprintf(err, err_size, "cannot set %s: %s", line,
				 strerror(e));
			rc = -1;
		}
		free(merged);
	}
	free(data);
	return rc;
}
