/*
 * envmerge: a mount's environment values combined with the caller's (see
 * include/canonfs/envmerge.h).
 */
#include "canonfs/envmerge.h"

#include "canonfs/goenv.h"
#include "canonfs/report.h"
#include "canonfs/text.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The next field of a cgo flags value, split as Go splits it
 * (cmd/internal/quoted): blanks separate fields, and one that starts with
 * ' or " runs to the same quote. Returns its raw text (quotes kept, *len
 * bytes) and moves *s past it, or NULL at the end. */
const char *envmerge_next_field(const char **s, size_t *len)
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
 * man page tells `canonfs env` users to write them by hand. Canonical first
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
char *envmerge_cgo_flags(const char *canonical, const char *user,
			 const char *mountpoint, bool c_flags)
{
	struct text t = {0};
	bool leading = c_flags;
	const char *field;
	size_t len;

	text_add(&t, "%s", canonical);
	while ((field = envmerge_next_field(&user, &len))) {
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

			dir = envmerge_next_field(&after, &dir_len);
			if (dir && is_own_sys_dir(dir, dir_len, mountpoint)) {
				user = after;
				continue;
			}
		}
		leading = false;
		text_add(&t, " %.*s", (int)len, field);
	}
	return text_take(&t);
}

/* The entry of key (key_len bytes) in a GODEBUG list, or NULL. */
const char *envmerge_godebug_find(const char *list, const char *key,
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
char *envmerge_godebug(const char *canonical, const char *user)
{
	struct text t = {0};

	while (*user) {
		size_t len = strcspn(user, ","), key_len = strcspn(user, "=,");
		const char *own =
			envmerge_godebug_find(canonical, user, key_len);

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
	return text_take(&t);
}

/*
 * GOFLAGS: the mount's -buildvcs=false before the caller's flags, unless
 * those set -buildvcs themselves: a caller who asks for the stamp gets it
 * (canonfs(1) says when it can be wrong). Nothing is repeated, so an
 * eval'd canonfs env leaves GOFLAGS as it was.
 */
char *envmerge_goflags(const char *canonical, const char *user)
{
	struct text t = {0};
	const char *rest = user, *field;
	size_t len;

	while ((field = envmerge_next_field(&rest, &len)))
		if (field_starts(field, len, "-buildvcs") ||
		    field_starts(field, len, "--buildvcs"))
			return strdup(user);
	text_add(&t, "%s %s", canonical, user);
	return text_take(&t);
}

/*
 * PATH: the mount's directories (its Go toolchain's bin) first, then the
 * caller's entries that are not among them, so that `go` is the mount's
 * and everything else is still found. An eval'd canonfs env leaves PATH
 * as it was.
 */
char *envmerge_path(const char *canonical, const char *user)
{
	struct text t = {0};

	text_add(&t, "%s", canonical);
	while (*user) {
		size_t len = strcspn(user, ":");
		bool own = false;

		for (const char *c = canonical; *c && !own;) {
			size_t c_len = strcspn(c, ":");

			own = c_len == len && memcmp(c, user, len) == 0;
			c += c_len + (c[c_len] == ':');
		}
		if (!own)
			text_add(&t, "%s%.*s", t.len ? ":" : "", (int)len,
				 user);
		user += len + (user[len] == ':');
	}
	return text_take(&t);
}

/* The value for name: the mount's, combined with the caller's where both
 * count (*merged malloc'd, else NULL: the mount's replaces the caller's).
 * Returns 0 or ENOMEM. */
int envmerge_value(const char *name, const char *canonical, const char *user,
		   const char *mountpoint, char **merged)
{
	*merged = NULL;
	if (!user || !user[0])
		return 0;
	if (strcmp(name, "GODEBUG") == 0)
		*merged = envmerge_godebug(canonical, user);
	else if (strcmp(name, "GOFLAGS") == 0)
		*merged = envmerge_goflags(canonical, user);
	else if (strcmp(name, "PATH") == 0)
		*merged = envmerge_path(canonical, user);
	else if (strcmp(name, "CGO_CPPFLAGS") == 0)
		*merged =
			envmerge_cgo_flags(canonical, user, mountpoint, false);
	else if (strcmp(name, "CGO_CFLAGS") == 0 ||
		 strcmp(name, "CGO_CXXFLAGS") == 0)
		*merged = envmerge_cgo_flags(canonical, user, mountpoint, true);
	else
		return 0;
	return *merged ? 0 : ENOMEM;
}
