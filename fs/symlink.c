/*
 * symlink: canonical symlink targets (see include/canonfs/symlink.h).
 */
#include "canonfs/symlink.h"

#include "canonfs/path.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdbool.h>
#include <string.h>

static int copy_out(const char *s, char *out, size_t out_size)
{
	size_t len = strlen(s);

	if (len + 1 > out_size)
		return ENAMETOOLONG;
	memcpy(out, s, len + 1);
	return 0;
}

/* The mirror spelling whose host path holds host_path most closely. */
static const struct symlink_mirror *
mirror_by_host(const char *host_path, const struct symlink_mirror *mirrors,
	       size_t n_mirrors, const char **rest)
{
	const struct symlink_mirror *best = NULL;
	size_t best_len = 0;

	for (size_t i = 0; i < n_mirrors; i++) {
		const char *r = path_under(host_path, mirrors[i].host_path);
		size_t len = strlen(mirrors[i].host_path);

		if (r && (!best || len > best_len)) {
			best = &mirrors[i];
			best_len = len;
			*rest = r;
		}
	}
	return best;
}

/* The first mirror spelling whose virtual path holds virt_path. */
static const struct symlink_mirror *
mirror_by_virt(const char *virt_path, const struct symlink_mirror *mirrors,
	       size_t n_mirrors, const char **rest)
{
	for (size_t i = 0; i < n_mirrors; i++) {
		const char *r = path_under(virt_path, mirrors[i].virt_path);

		if (r) {
			*rest = r;
			return &mirrors[i];
		}
	}
	return NULL;
}

/*
 * A relative target tidied without changing where it leads: "." and empty
 * components go, ".." stays. Taking "x/.." away (path_clean) would be
 * wrong when x is a symlink: "sl/../f" leads to the parent of sl's
 * target, not to "f" beside the link.
 */
static int tidy_relative(const char *target, char *out, size_t out_size)
{
	size_t used = 0, last = 0, tlen = strlen(target);
	/* A trailing "/" or "." asks for a directory ("f/" of a file fails):
	 * that stays, as a trailing slash. */
	bool dir = tlen > 0 && (target[tlen - 1] == '/' ||
				(target[tlen - 1] == '.' &&
				 (tlen == 1 || target[tlen - 2] == '/')));

	for (const char *p = target; *p;) {
		size_t len = strcspn(p, "/");

		if (len > 0 && !(len == 1 && p[0] == '.')) {
			if (used + (used > 0) + len + 1 > out_size)
				return ENAMETOOLONG;
			if (used > 0)
				out[used++] = '/';
			last = used;
			memcpy(out + used, p, len);
			used += len;
		}
		p += len;
		while (*p == '/')
			p++;
	}
	if (used == 0) {
		if (out_size < 2)
			return ENAMETOOLONG;
		out[used++] = '.';
	} else if (dir && !(used - last == 2 && out[last] == '.' &&
			    out[last + 1] == '.')) {
		if (used + 2 > out_size)
			return ENAMETOOLONG;
		out[used++] = '/';
	}
	out[used] = '\0';
	return 0;
}

/* Where the first ".." component of clean-but-for-".." path p starts, or
 * NULL. */
static const char *first_dotdot(const char *p)
{
	for (;;) {
		size_t len;

		while (*p == '/')
			p++;
		len = strcspn(p, "/");
		if (len == 0)
			return NULL;
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return p;
		p += len;
	}
}

/* Whether walking the components of rel down from a depth of `depth`
 * below a root ever goes above it, lexically. */
static bool rises_above(size_t depth, const char *rel)
{
	long d = (long)depth;

	for (const char *p = rel; *p;) {
		size_t len = strcspn(p, "/");

		if (len == 2 && p[0] == '.' && p[1] == '.')
			d--;
		else if (len > 0)
			d++;
		if (d < 0)
			return true;
		p += len;
		while (*p == '/')
			p++;
	}
	return false;
}

static size_t count_components(const char *p)
{
	size_t n = 0;

	for (; *p; p++)
		n += *p != '/' && (p[1] == '/' || p[1] == '\0');
	return n;
}

/* Whether a target placed in mirror (rest: its path below the mirror's
 * root) keeps inside that mirror while its tail is walked. */
static bool stays_in_mirror(const struct symlink_mirror *mirror,
			    const char *rest, const char *tail)
{
	return mirror &&
	       !(tail[0] && rises_above(count_components(rest), tail));
}

/* The old rule, for absolute targets whose ".." undo part of a mirror's
 * own path: cleaned lexically, then placed. */
static int view_of_cleaned(const char *target, const char *link_virt_dir,
			   const struct symlink_mirror *mirrors,
			   size_t n_mirrors, char *out, size_t out_size)
{
	char clean[PATH_MAX], virt[PATH_MAX];
	const struct symlink_mirror *mirror;
	const char *rest = NULL;
	int err;

	if ((err = path_clean(target, clean, sizeof(clean))))
		return err;
	mirror = mirror_by_host(clean, mirrors, n_mirrors, &rest);
	if (!mirror) /* escapes every mirror: shown as it is */
		return copy_out(target, out, out_size);
	if ((size_t)snprintf(virt, sizeof(virt), "%s%s", mirror->virt_path,
			     rest) >= sizeof(virt))
		return ENAMETOOLONG;
	return path_relative(link_virt_dir, virt, out, out_size);
}

/* tidy as tidy_relative, absolute: "/head" and, from its first "..", the
 * rest in tail ("" when none). *dir: a trailing "/" asked for a directory
 * (taken off head). Returns 0 or ENAMETOOLONG. */
static int split_absolute(const char *target, char *tidy, size_t tidy_size,
			  char *tail, bool *dir)
{
	const char *dotdot;
	size_t len;
	int err;

	tidy[0] = '/';
	if ((err = tidy_relative(target + 1, tidy + 1, tidy_size - 1)))
		return err;
	if (strcmp(tidy, "/.") == 0)
		tidy[1] = '\0';
	tail[0] = '\0';
	if ((dotdot = first_dotdot(tidy))) {
		size_t head_len = (size_t)(dotdot - tidy) - 1;

		memcpy(tail, dotdot, strlen(dotdot) + 1);
		tidy[head_len > 0 ? head_len : 1] = '\0';
	}
	len = strlen(tidy);
	*dir = !tail[0] && len > 1 && tidy[len - 1] == '/';
	if (*dir)
		tidy[len - 1] = '\0';
	return 0;
}

/* out (holding the place of a target's head) followed by the rest of the
 * target: tail, or the trailing "/" of a directory. */
static int append_rest(char *out, size_t out_size, const char *tail, bool dir)
{
	size_t len = strlen(out);

	if (tail[0]) {
		if (strcmp(out, ".") == 0) /* "." then the rest: the rest */
			len = 0;
		else if (len + 1 < out_size)
			out[len++] = '/';
		else
			return ENAMETOOLONG;
		if (len + strlen(tail) + 1 > out_size)
			return ENAMETOOLONG;
		memcpy(out + len, tail, strlen(tail) + 1);
	} else if (dir && strcmp(out, ".") != 0 &&
		   !(len >= 2 && strcmp(out + len - 2, "..") == 0)) {
		if (len + 2 > out_size)
			return ENAMETOOLONG;
		out[len++] = '/';
		out[len] = '\0';
	}
	return 0;
}

static bool climbs_out(const char *dir, const char *target, const char *root);

/*
 * A relative target (tidied) that climbs out of its mirror names a place
 * on the host, lexically from the link's host directory: when that place
 * is inside a mirror (Debian's GOROOT, /usr/lib/go-1.23/src ->
 * ../../share/go-1.23/src, with the share directory mirrored too), it is
 * shown as the way there through the mount; elsewhere it stays as it is.
 */
static int view_of_climbing(const char *tidied, const char *link_virt_dir,
			    const struct symlink_mirror *mirrors,
			    size_t n_mirrors, char *out, size_t out_size)
{
	char host_dir[PATH_MAX], host_target[PATH_MAX], shown[PATH_MAX];
	const char *below = NULL;
	/* The first spelling is the resolved one: ".." is taken lexically. */
	const struct symlink_mirror *mirror =
		mirror_by_virt(link_virt_dir, mirrors, n_mirrors, &below);

	if (!mirror || !climbs_out(link_virt_dir, tidied, mirror->virt_path))
		return 0;
	if ((size_t)snprintf(host_dir, sizeof(host_dir), "%s%s",
			     mirror->host_path, below) >= sizeof(host_dir) ||
	    path_join_clean(host_dir, tidied, host_target,
			    sizeof(host_target)) ||
	    symlink_to_view(host_target, link_virt_dir, mirrors, n_mirrors,
			    shown, sizeof(shown)) ||
	    shown[0] == '/' || strlen(shown) >= out_size)
		return 0; /* outside every mirror: as it is */
	memcpy(out, shown, strlen(shown) + 1);
	return 0;
}

/*
 * An absolute target inside a mirror is shown relative to the link. It is
 * tidied as a relative one is, so its ".." stay: "/m/sl/../f" with sl a
 * symlink leads to the parent of sl's target, and shown as "sl/../f" it
 * still does. The part before the first ".." is placed in the view; the
 * rest follows as it is. A trailing "/" stays (it asks for a directory).
 */
int symlink_to_view(const char *target, const char *link_virt_dir,
		    const struct symlink_mirror *mirrors, size_t n_mirrors,
		    char *out, size_t out_size)
{
	char tidy[PATH_MAX], virt[PATH_MAX], tail[PATH_MAX];
	const struct symlink_mirror *mirror;
	const char *rest = NULL;
	bool dir;
	int err;

	if (target[0] != '/') {
		if ((err = tidy_relative(target, out, out_size)))
			return err;
		return view_of_climbing(out, link_virt_dir, mirrors, n_mirrors,
					out, out_size);
	}
	if ((err = split_absolute(target, tidy, sizeof(tidy), tail, &dir)))
		return err;
	mirror = mirror_by_host(tidy, mirrors, n_mirrors, &rest);
	if (!stays_in_mirror(mirror, rest, tail))
		return view_of_cleaned(target, link_virt_dir, mirrors,
				       n_mirrors, out, out_size);
	if ((size_t)snprintf(virt, sizeof(virt), "%s%s", mirror->virt_path,
			     rest) >= sizeof(virt))
		return ENAMETOOLONG;
	if ((err = path_relative(link_virt_dir, virt, out, out_size)))
		return err;
	return append_rest(out, out_size, tail, dir);
}

/* Whether walking relative target from dir, one component at a time,
 * ever leaves root. */
static bool climbs_out(const char *dir, const char *target, const char *root)
{
	char here[PATH_MAX], next[PATH_MAX], component[PATH_MAX];
	const char *p = target;

	if (copy_out(dir, here, sizeof(here)))
		return true;
	while (*p) {
		size_t len = strcspn(p, "/");

		if (len > 0) {
			if (len >= sizeof(component))
				return true;
			memcpy(component, p, len);
			component[len] = '\0';
			if (path_join_clean(here, component, next,
					    sizeof(next)) ||
			    !path_under(next, root))
				return true;
			memcpy(here, next, strlen(next) + 1);
		}
		p += len;
		while (*p == '/')
			p++;
	}
	return false;
}

bool symlink_climbs_out(const char *dir, const char *target, const char *root)
{
	return climbs_out(dir, target, root);
}

/*
 * symlink_to_host for an absolute target into the mount, by the rule of
 * symlink_to_view: tidied, its ".." kept (what one undoes may be a
 * symlink), the part before the first ".." placed on the host, the rest
 * as it is. -1 when that rule does not apply (the head is not in a mirror
 * of the mount, or the rest climbs above the mirror's root): the target
 * is then cleaned lexically first.
 */
static int host_of_absolute(const char *target, const char *link_virt_dir,
			    unsigned link_mirror, const char *mountpoint,
			    const struct symlink_mirror *mirrors,
			    size_t n_mirrors, char *out, size_t out_size)
{
	char head[PATH_MAX], tail[PATH_MAX];
	const struct symlink_mirror *mirror;
	const char *in_mount, *rest = NULL;
	bool dir;
	int err;

	if ((err = split_absolute(target, head, sizeof(head), tail, &dir)))
		return err;
	if (!(in_mount = path_under(head, mountpoint)))
		return -1;
	mirror = mirror_by_virt(*in_mount ? in_mount : "/", mirrors, n_mirrors,
				&rest);
	if (!stays_in_mirror(mirror, rest, tail))
		return -1;
	if (mirror->mirror_id == link_mirror)
		err = path_relative(link_virt_dir, in_mount, out, out_size);
	else if ((size_t)snprintf(out, out_size, "%s%s", mirror->host_path,
				  rest) >= out_size)
		err = ENAMETOOLONG;
	return err ? err : append_rest(out, out_size, tail, dir);
}

int symlink_to_host(const char *target, const char *link_virt_dir,
		    unsigned link_mirror, const char *mountpoint,
		    const struct symlink_mirror *mirrors, size_t n_mirrors,
		    char *out, size_t out_size)
{
	char clean[PATH_MAX], virt[PATH_MAX];
	const struct symlink_mirror *mirror;
	const char *rest;
	int err;

	if (target[0] == '/' &&
	    (err = host_of_absolute(target, link_virt_dir, link_mirror,
				    mountpoint, mirrors, n_mirrors, out,
				    out_size)) != -1)
		return err;
	if (target[0] == '/') {
		const char *in_mount;

		if ((err = path_clean(target, clean, sizeof(clean))))
			return err;
		in_mount = path_under(clean, mountpoint);
		if (!in_mount) /* a host path: stored as given */
			return copy_out(target, out, out_size);
		if ((err = copy_out(*in_mount ? in_mount : "/", virt,
				    sizeof(virt))))
			return err;
	} else if ((err = path_join_clean(link_virt_dir, target, virt,
					  sizeof(virt)))) {
		/* Too long to place beside the link's path: nothing to
		 * rewrite, stored as given (a target may be 4095 bytes). */
		return err == ENAMETOOLONG ? copy_out(target, out, out_size)
					   : err;
	}

	mirror = mirror_by_virt(virt, mirrors, n_mirrors, &rest);
	if (!mirror) /* the synthetic part of the mount has no host twin */
		return copy_out(target, out, out_size);

	if (mirror->mirror_id == link_mirror) {
		/* Same tree on both sides: a relative target works in both,
		 * unless it climbs out of the mirror on its way ("../src/b"
		 * from /src): above the mirror, host and view differ. */
		if (target[0] != '/' &&
		    !climbs_out(link_virt_dir, target, mirror->virt_path))
			return copy_out(target, out, out_size);
		return path_relative(link_virt_dir, virt, out, out_size);
	}
	if ((size_t)snprintf(out, out_size, "%s%s", mirror->host_path, rest) >=
	    out_size)
		return ENAMETOOLONG;
	return 0;
}
