/*
 * libFuzzer target: canonical symlink targets (fs/symlink.c).
 *
 * Input: four control bytes, then a target T and a link directory L
 * separated by the first NUL.
 *   byte 0  output size selector for symlink_to_view
 *   byte 1  output size selector for symlink_to_host
 *   byte 2  the link's mirror (low bits: 0..3, or 7 = no such mirror) and
 *           the mountpoint (high bit)
 *   byte 3  odd: L is clean("/" + L); even: L is clean(mirror root + "/" +
 *           L), so the link usually lives in the mirror it claims
 *
 * Checked: no crash, output NUL-terminated within out_size, the documented
 * rules (compared with a reference model over fuzz_ref.h), a target inside
 * a mirror never shown as an absolute host path, ENAMETOOLONG exactly when
 * out_size is short; and, for links created through the mount, that what
 * is stored on the host resolves on the host to the place the target names
 * in the view, and reads back through symlink_to_view to that place.
 */
#include "canonfs/symlink.h"
#include "fuzz_common.h"
#include "fuzz_ref.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>

/*
 * SRCDIR under two spellings (resolved first), tools, a module cache, and
 * a mirror whose host directory lies inside SRCDIR's. Short host paths so
 * that the fuzzer finds them (tests/unit/test_symlink.c has realistic ones).
 */
static const struct symlink_mirror mirrors[] = {
	{"/src", "/d/p", 0}, {"/extra/tools", "/o/t", 1}, {"/src", "/h/p", 0},
	{"/gomod", "/g", 2}, {"/vendor", "/d/p/v", 3},
};
#define N_MIRRORS (sizeof(mirrors) / sizeof(mirrors[0]))
#define N_MIRROR_IDS 4

static const char *const mountpoints[] = {"/m", "/mnt/build"};

/* ---- reference model of the mirror table ------------------------------ */

/* The rest of clean absolute path below root ("" or "/..."), or NULL. */
static const char *under(const char *path, const char *root)
{
	size_t len = strlen(root);

	if (strcmp(root, "/") == 0)
		return strcmp(path, "/") == 0 ? path + 1 : path;
	if (strncmp(path, root, len) == 0 &&
	    (path[len] == '\0' || path[len] == '/'))
		return path + len;
	return NULL;
}

/* The spelling whose host path holds host most closely. */
static const struct symlink_mirror *by_host(const char *host, const char **rest)
{
	const struct symlink_mirror *best = NULL;

	for (size_t i = 0; i < N_MIRRORS; i++) {
		const char *r = under(host, mirrors[i].host_path);

		if (r && (!best || strlen(mirrors[i].host_path) >
					   strlen(best->host_path))) {
			best = &mirrors[i];
			*rest = r;
		}
	}
	return best;
}

/* The first spelling whose virtual path holds virt. */
static const struct symlink_mirror *by_virt(const char *virt, const char **rest)
{
	for (size_t i = 0; i < N_MIRRORS; i++) {
		const char *r = under(virt, mirrors[i].virt_path);

		if (r) {
			*rest = r;
			return &mirrors[i];
		}
	}
	return NULL;
}

/* The first spelling of mirror id. */
static const struct symlink_mirror *by_id(unsigned id)
{
	for (size_t i = 0; i < N_MIRRORS; i++)
		if (mirrors[i].mirror_id == id)
			return &mirrors[i];
	return NULL;
}

/*
 * One name for every host path that denotes the same place through the
 * mirrors: "/h/p/x" and "/d/p/x" are both "/d/p/x" (two spellings of
 * SRCDIR). Caller frees.
 */
static char *canon_host(const char *host)
{
	char *cur = ref_clean(host);

	for (int i = 0; i < 4; i++) {
		const char *rest;
		const struct symlink_mirror *m = by_host(cur, &rest);
		char *next;

		if (!m)
			break;
		next = concat3(by_id(m->mirror_id)->host_path, rest, "");
		if (strcmp(next, cur) == 0) {
			free(next);
			break;
		}
		free(cur);
		cur = next;
	}
	return cur;
}

/* Whether walking relative target from dir, one component at a time,
 * is ever outside root: such targets are stored as the view's relative
 * path, since above the mirror host and view differ. */
static bool ref_climbs_out(const char *dir, const char *target,
			   const char *root)
{
	char *here = strdup(dir);
	const char *p = target;
	bool out = false;

	while (here && !out && *p) {
		size_t len = strcspn(p, "/");

		if (len > 0) {
			char *comp = strndup(p, len);
			char *joined = comp ? concat3(here, "/", comp) : NULL;

			free(here);
			here = joined ? ref_clean(joined) : NULL;
			free(joined);
			free(comp);
			out = !here || !under(here, root);
		}
		p += len;
		p += strspn(p, "/");
	}
	free(here);
	return out;
}

/* The host path of virtual path virt, or NULL outside every mirror. */
static char *virt_to_host(const char *virt)
{
	const char *rest;
	const struct symlink_mirror *m = by_virt(virt, &rest);

	return m ? concat3(m->host_path, rest, "") : NULL;
}

/* Whether walking relative path rel from dir (a clean path below a
 * mirror root, "" for the root) ever climbs above that root. */
static bool walk_leaves(const char *dir, const char *rel)
{
	struct comps d, r;
	long depth;
	bool leaves = false;

	split(dir, &d);
	split(rel, &r);
	depth = (long)d.n;
	for (size_t i = 0; i < r.n && !leaves; i++) {
		depth += is_dotdot(r.s[i], r.len[i]) ? -1 : 1;
		leaves = depth < 0;
	}
	comps_free(&d);
	comps_free(&r);
	return leaves;
}

/* ---- symlink_to_view ----------------------------------------------------- */

/* An absolute target tidied and split where its first ".." starts: head
 * ("/" and the components before), tail (from the ".." to the end of the
 * tidied target, NULL when none), and whether it asks for a directory. */
struct split {
	char *head, *tail;
	bool dir;
};

static struct split ref_split(const char *target)
{
	char *tidy = ref_tidy(target);
	struct split sp = {.dir = false};
	struct comps c;
	size_t first = 0, tlen = strlen(tidy);

	sp.dir = tlen > 0 && tidy[tlen - 1] == '/';
	split(tidy, &c);
	while (first < c.n && !is_dotdot(c.s[first], c.len[first]))
		first++;
	sp.head = malloc(tlen + 2);
	if (!sp.head)
		abort();
	sp.head[0] = '/';
	sp.head[1] = '\0';
	for (size_t i = 0, used = 1; i < first; i++) {
		if (used > 1)
			sp.head[used++] = '/';
		memcpy(sp.head + used, c.s[i], c.len[i]);
		used += c.len[i];
		sp.head[used] = '\0';
	}
	sp.tail = first < c.n ? strdup(c.s[first]) : NULL;
	if (sp.tail)
		sp.dir = false;
	comps_free(&c);
	free(tidy);
	return sp;
}

/* placed (the head's place, caller's) followed by the split's rest. */
static char *ref_append_rest(const char *placed, const struct split *sp)
{
	size_t pl = strlen(placed);

	if (sp->tail)
		return strcmp(placed, ".") == 0
			       ? strdup(sp->tail)
			       : concat3(placed, "/", sp->tail);
	if (sp->dir && strcmp(placed, ".") != 0 &&
	    !(pl >= 2 && strcmp(placed + pl - 2, "..") == 0))
		return concat3(placed, "/", "");
	return strdup(placed);
}

/*
 * What an absolute target inside a mirror shows, by the rule "tidied, the
 * part before the first '..' placed, the rest as it is", or NULL when the
 * old rule (cleaned lexically, then placed) applies: no mirror holds that
 * part, or the rest climbs above the mirror's root. Caller frees.
 */
static char *ref_view_absolute(const char *target, const char *link_dir)
{
	struct split sp = ref_split(target);
	const char *rest = NULL;
	const struct symlink_mirror *m = by_host(sp.head, &rest);
	char *want = NULL;

	/* A rest that climbs above the mirror's root: the old rule. */
	if (m && sp.tail && walk_leaves(rest, sp.tail))
		m = NULL;
	if (m) {
		char *virt = concat3(m->virt_path, rest, "");
		char *rel = ref_relative(link_dir, virt);

		want = ref_append_rest(rel, &sp);
		free(rel);
		free(virt);
	}
	free(sp.head);
	free(sp.tail);
	return want;
}

/* The same rule for a link created through the mount: what is stored on
 * the host, or NULL when the old rule applies. Caller frees. */
static char *ref_host_absolute(const char *target, const char *link_dir,
			       unsigned link_mirror, const char *mountpoint)
{
	struct split sp = ref_split(target);
	const char *in_mount = under(sp.head, mountpoint), *rest = NULL;
	const struct symlink_mirror *m =
		in_mount ? by_virt(*in_mount ? in_mount : "/", &rest) : NULL;
	char *want = NULL;

	if (m && sp.tail && walk_leaves(rest, sp.tail))
		m = NULL;
	if (m) {
		char *placed = m->mirror_id == link_mirror
				       ? ref_relative(link_dir, in_mount)
				       : concat3(m->host_path, rest, "");

		want = ref_append_rest(placed, &sp);
		free(placed);
	}
	free(sp.head);
	free(sp.tail);
	return want;
}

/* Returns the result (caller frees), or NULL on ENAMETOOLONG. */
static char *check_view(const char *target, const char *link_dir, uint8_t sel)
{
	size_t tlen = strlen(target);
	size_t big = tlen + 3 * strlen(link_dir) + 2 * PATH_MAX;
	char *out = fuzz_outbuf(big), *ct = ref_clean(target), *want, *small;
	const struct symlink_mirror *m = NULL;
	const char *rest = NULL;
	char *virt = NULL, *placed = NULL;
	int err =
		symlink_to_view(target, link_dir, mirrors, N_MIRRORS, out, big);
	size_t n;

	if (target[0] == '/')
		m = by_host(ct, &rest);
	if (m)
		virt = concat3(m->virt_path, rest, "");

	if (err) {
		FUZZ_CHECK(err == ENAMETOOLONG, "symlink_to_view(%s, %s): %d",
			   show(target), show(link_dir), err);
		/* Only the internal PATH_MAX buffers may be short. */
		FUZZ_CHECK(tlen + 2 > PATH_MAX ||
				   (virt && strlen(virt) + 1 > PATH_MAX),
			   "symlink_to_view(%s, %s): ENAMETOOLONG with room",
			   show(target), show(link_dir));
		free(virt);
		free(ct);
		fuzz_outfree(out, big);
		return NULL;
	}
	FUZZ_CHECK(fuzz_terminated(out, big), "symlink_to_view(%s, %s): no NUL",
		   show(target), show(link_dir));

	if (target[0] != '/') {
		/* Relative: tidied ("." and "//" out, ".." kept), still
		 * relative. */
		char *tidy = ref_tidy(target);

		FUZZ_CHECK(strcmp(out, tidy) == 0 && out[0] != '/',
			   "symlink_to_view(%s, %s) = %s, want %s",
			   show(target), show(link_dir), show(out), show(tidy));
		free(tidy);
	} else if ((placed = ref_view_absolute(target, link_dir)) || m) {
		char *rel = placed ? placed : ref_relative(link_dir, virt);
		char *joined = concat3(link_dir, "/", out);
		char *back = ref_clean(joined);
		char *back_host = virt_to_host(back);
		char *a = back_host ? canon_host(back_host) : NULL;
		char *b = canon_host(ct);

		FUZZ_CHECK(out[0] != '/',
			   "symlink_to_view(%s, %s) = %s: a target inside "
			   "a mirror shown absolute",
			   show(target), show(link_dir), show(out));
		FUZZ_CHECK(strcmp(out, rel) == 0,
			   "symlink_to_view(%s, %s) = %s, want %s",
			   show(target), show(link_dir), show(out), show(rel));
		/* Taken lexically, it names the target's host place (through
		 * either of two mirrors that show one host directory). */
		FUZZ_CHECK(a && strcmp(a, b) == 0,
			   "symlink_to_view(%s, %s) = %s leads to %s, not %s",
			   show(target), show(link_dir), show(out), show(back),
			   show(ct));
		free(b);
		free(a);
		free(back_host);
		free(back);
		free(joined);
		free(rel);
	} else {
		/* Escapes every mirror: shown exactly as it is. */
		FUZZ_CHECK(strcmp(out, target) == 0,
			   "symlink_to_view(%s, %s) = %s, want it untouched",
			   show(target), show(link_dir), show(out));
	}

	/* Any out_size: the same, or ENAMETOOLONG exactly when short. */
	n = fuzz_pick_size(sel, strlen(out) + 1, PATH_MAX);
	small = fuzz_outbuf(n);
	err = symlink_to_view(target, link_dir, mirrors, N_MIRRORS, small, n);
	if (n > strlen(out))
		FUZZ_CHECK(err == 0 && fuzz_terminated(small, n) &&
				   strcmp(small, out) == 0,
			   "symlink_to_view(%s, %s) size %zu: err %d",
			   show(target), show(link_dir), n, err);
	else
		FUZZ_CHECK(
			err == ENAMETOOLONG,
			"symlink_to_view(%s, %s) size %zu, needs %zu: err %d",
			show(target), show(link_dir), n, strlen(out) + 1, err);
	fuzz_outfree(small, n);

	want = strdup(out);
	free(virt);
	free(ct);
	fuzz_outfree(out, big);
	return want;
}

/* ---- symlink_to_host ----------------------------------------------------- */

static void check_host(const char *target, const char *link_dir,
		       unsigned link_mirror, const char *mountpoint,
		       uint8_t sel)
{
	size_t tlen = strlen(target), llen = strlen(link_dir);
	size_t big = tlen + 3 * llen + 2 * PATH_MAX, n;
	char *out = fuzz_outbuf(big), *place = NULL, *want, *small;
	const struct symlink_mirror *m = NULL, *home = by_id(link_mirror);
	const char *rest = NULL;
	bool long_input = tlen + llen + 4 > PATH_MAX;
	int err = symlink_to_host(target, link_dir, link_mirror, mountpoint,
				  mirrors, N_MIRRORS, out, big);

	/* The model: where does the target point in the view? */
	if (target[0] == '/') {
		char *ct = ref_clean(target);
		const char *in_mount = under(ct, mountpoint);

		if (in_mount)
			place = strdup(*in_mount ? in_mount : "/");
		free(ct);
	} else {
		char *joined = concat3(link_dir, "/", target);

		place = ref_clean(joined);
		free(joined);
	}
	if (place)
		m = by_virt(place, &rest);
	if (target[0] == '/' &&
	    (want = ref_host_absolute(target, link_dir, link_mirror,
				      mountpoint)))
		; /* by the rule of ".." kept */
	else if (!m)
		want = strdup(target); /* a host path, or synthetic */
	else if (m->mirror_id != link_mirror)
		want = concat3(m->host_path, rest, "");
	else if (target[0] != '/' &&
		 !ref_climbs_out(link_dir, target, m->virt_path))
		want = strdup(target);
	else
		want = ref_relative(link_dir, place);

	if (err) {
		FUZZ_CHECK(err == ENAMETOOLONG && long_input,
			   "symlink_to_host(%s, %s, %u, %s): err %d",
			   show(target), show(link_dir), link_mirror,
			   mountpoint, err);
		goto done;
	}
	FUZZ_CHECK(fuzz_terminated(out, big), "symlink_to_host(%s, %s): no NUL",
		   show(target), show(link_dir));
	FUZZ_CHECK(strcmp(out, want) == 0,
		   "symlink_to_host(%s, %s, mirror %u, mount %s) = %s, want %s",
		   show(target), show(link_dir), link_mirror, mountpoint,
		   show(out), show(want));
	if (m && out[0] == '/') {
		char *co = ref_clean(out);

		FUZZ_CHECK(!under(co, mountpoint),
			   "symlink_to_host(%s, %s) = %s points into the mount",
			   show(target), show(link_dir), show(out));
		free(co);
	}

	n = fuzz_pick_size(sel, strlen(out) + 1, PATH_MAX);
	small = fuzz_outbuf(n);
	err = symlink_to_host(target, link_dir, link_mirror, mountpoint,
			      mirrors, N_MIRRORS, small, n);
	if (n > strlen(out))
		FUZZ_CHECK(err == 0 && fuzz_terminated(small, n) &&
				   strcmp(small, out) == 0,
			   "symlink_to_host(%s, %s) size %zu: err %d",
			   show(target), show(link_dir), n, err);
	else
		FUZZ_CHECK(
			err == ENAMETOOLONG,
			"symlink_to_host(%s, %s) size %zu, needs %zu: err %d",
			show(target), show(link_dir), n, strlen(out) + 1, err);
	fuzz_outfree(small, n);

	/*
	 * Round trip, for a link that lives in its mirror and a target that
	 * names a place in a mirror: the stored target resolves on the host
	 * (lexically, from the link's host directory) to the host twin of
	 * that place, and reading it back shows a target leading there.
	 * -DFUZZ_ALLOW_RELATIVE_ESCAPE skips relative targets whose walk
	 * leaves the mirror on the way ("../src/x" from /src), which are
	 * stored as given.
	 */
	if (m && home && under(link_dir, home->virt_path) && !long_input
#ifdef FUZZ_ALLOW_RELATIVE_ESCAPE
	    && !(target[0] != '/' &&
		 walk_leaves(under(link_dir, home->virt_path), target))
#endif
	) {
		char *host_dir = concat3(home->host_path,
					 under(link_dir, home->virt_path), "");
		char *raw = out[0] == '/' ? strdup(out)
					  : concat3(host_dir, "/", out);
		char *got = canon_host(raw);
		char *twin = virt_to_host(place);
		char *expect = canon_host(twin);
		char *shown;

		FUZZ_CHECK(strcmp(got, expect) == 0,
			   "link in %s (host %s) to %s (view %s) is stored as "
			   "%s, which on the host leads to %s, not to %s",
			   show(link_dir), show(host_dir), show(target),
			   show(place), show(out), show(got), show(expect));

		shown = check_view(out, link_dir, 0xff);
		if (shown) {
			char *virt = shown[0] == '/'
					     ? NULL
					     : concat3(link_dir, "/", shown);
			char *cv = virt ? ref_clean(virt) : NULL;
			char *host = cv ? virt_to_host(cv) : strdup(shown);
			char *back = host ? canon_host(host) : NULL;

			FUZZ_CHECK(back && strcmp(back, expect) == 0,
				   "link in %s to %s (view %s): stored %s, "
				   "read back as %s, which leads to %s on the "
				   "host, not %s",
				   show(link_dir), show(target), show(place),
				   show(out), show(shown),
				   back ? show(back) : "(no host place)",
				   show(expect));
			free(back);
			free(host);
			free(cv);
			free(virt);
			free(shown);
		}
		free(expect);
		free(twin);
		free(got);
		free(raw);
		free(host_dir);
	}
done:
	free(want);
	free(place);
	fuzz_outfree(out, big);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul;
	uint8_t sel_view, sel_host, which, mode;
	unsigned link_mirror;
	const char *mountpoint;
	char *target, *raw_dir, *dir_in, *link_dir;
	size_t len_t;

	if (size < 4)
		return 0;
	sel_view = data[0];
	sel_host = data[1];
	which = data[2];
	mode = data[3];
	data += 4;
	size -= 4;
	link_mirror = (which & 0x7f) % (N_MIRROR_IDS + 1);
	if (link_mirror == N_MIRROR_IDS)
		link_mirror = 7; /* no such mirror */
	mountpoint = mountpoints[which >> 7];

	nul = memchr(data, '\0', size);
	len_t = nul ? (size_t)(nul - data) : size;
	target = fuzz_strndup(data, len_t);
	raw_dir = nul ? fuzz_strndup(nul + 1, size - len_t - 1)
		      : fuzz_strndup(data, 0);

	/* link_virt_dir is clean and absolute by contract. */
	if ((mode & 1) || !by_id(link_mirror))
		dir_in = concat3("/", raw_dir, "");
	else
		dir_in = concat3(by_id(link_mirror)->virt_path, "/", raw_dir);
	link_dir = ref_clean(dir_in);

	free(check_view(target, link_dir, sel_view));
	check_host(target, link_dir, link_mirror, mountpoint, sel_host);

	free(link_dir);
	free(dir_in);
	free(raw_dir);
	free(target);
	return 0;
}
