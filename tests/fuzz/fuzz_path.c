/*
 * libFuzzer target: lexical path arithmetic (fs/path.c).
 *
 * Input: two selector bytes (output buffer sizes), then two strings A and
 * B separated by the first NUL. Every path_* function is run on them (or on
 * their clean absolute forms where the contract asks for clean absolute
 * paths) and checked against a small reference implementation written
 * independently of fs/path.c, with output buffers of every size from 0 to
 * big, exactly at the boundary included.
 */
#include "canonfs/path.h"
#include "fuzz_common.h"
#include "fuzz_ref.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>

/* ---- checks ------------------------------------------------------------- */

/* path_clean(in) with a buffer of n bytes agrees with the full result
 * `want` or fails with ENAMETOOLONG, and fails when want cannot fit. */
static void clean_sized(const char *in, size_t n, const char *want)
{
	char *out = fuzz_outbuf(n);
	int err = path_clean(in, out, n);

	if (err == 0) {
		FUZZ_CHECK(fuzz_terminated(out, n),
			   "path_clean(%s) size %zu: not NUL-terminated",
			   show(in), n);
		FUZZ_CHECK(strcmp(out, want) == 0,
			   "path_clean(%s) size %zu gave %s, size big %s",
			   show(in), n, show(out), show(want));
	} else {
		FUZZ_CHECK(err == ENAMETOOLONG,
			   "path_clean(%s) size %zu: error %d", show(in), n,
			   err);
		FUZZ_CHECK(n < strlen(in) + 2,
			   "path_clean(%s) size %zu: ENAMETOOLONG though the "
			   "input fits",
			   show(in), n);
	}
	if (n <= strlen(want))
		FUZZ_CHECK(err == ENAMETOOLONG,
			   "path_clean(%s) size %zu: %s does not fit, yet %d",
			   show(in), n, show(want), err);
	fuzz_outfree(out, n);
}

/* Cleans in; returns the result (caller frees). */
static char *check_clean(const char *in, uint8_t sel)
{
	size_t len = strlen(in), big = len + 2, rlen;
	char *copy = fuzz_strndup((const uint8_t *)in, len);
	char *out = fuzz_outbuf(big), *ref, *again;
	int err = path_clean(in, out, big);

	/* The result is never longer than the input, "" -> "." aside. */
	FUZZ_CHECK(err == 0, "path_clean(%s) size %zu: error %d", show(in), big,
		   err);
	FUZZ_CHECK(fuzz_terminated(out, big), "path_clean(%s): no NUL",
		   show(in));
	FUZZ_CHECK(strcmp(in, copy) == 0, "path_clean modified its input");
	rlen = strlen(out);
	FUZZ_CHECK(rlen > 0, "path_clean(%s) is empty", show(in));
	FUZZ_CHECK((out[0] == '/') == (in[0] == '/'),
		   "path_clean(%s) = %s: absoluteness changed", show(in),
		   show(out));
	FUZZ_CHECK(!strstr(out, "//"), "path_clean(%s) = %s has //", show(in),
		   show(out));
	FUZZ_CHECK(!strstr(out, "/./"), "path_clean(%s) = %s has /./", show(in),
		   show(out));
	FUZZ_CHECK(strcmp(out, "/") == 0 || out[rlen - 1] != '/',
		   "path_clean(%s) = %s ends in /", show(in), show(out));
	FUZZ_CHECK(rlen < 2 || strcmp(out + rlen - 2, "/.") != 0,
		   "path_clean(%s) = %s ends in /.", show(in), show(out));
	FUZZ_CHECK(strcmp(out, ".") == 0 || strncmp(out, "./", 2) != 0,
		   "path_clean(%s) = %s starts with ./", show(in), show(out));
	FUZZ_CHECK(out[0] != '/' || !strstr(out, "/../"),
		   "path_clean(%s) = %s: '..' left in an absolute path",
		   show(in), show(out));

	ref = ref_clean(in);
	FUZZ_CHECK(strcmp(out, ref) == 0,
		   "path_clean(%s) = %s, reference (Go Clean) %s", show(in),
		   show(out), show(ref));

	/* Idempotent, and the output fits a buffer of its own size. */
	again = fuzz_outbuf(rlen + 1);
	err = path_clean(out, again, rlen + 1);
	FUZZ_CHECK(err == 0 && strcmp(again, out) == 0,
		   "path_clean(path_clean(%s)) = %s (err %d), want %s",
		   show(in), err ? "<error>" : show(again), err, show(out));

	clean_sized(in, fuzz_pick_size(sel, rlen + 1, PATH_MAX), out);
	clean_sized(in, (size_t)(sel % 4), out);

	free(again);
	free(ref);
	free(copy);
	return out;
}

static void check_is_name(const char *s)
{
	bool want = s[0] != '\0' && strcmp(s, ".") != 0 &&
		    strcmp(s, "..") != 0 && strchr(s, '/') == NULL;

	FUZZ_CHECK(path_is_name(s) == want, "path_is_name(%s) != %d", show(s),
		   want);
}

/* path and root clean and absolute. */
static void check_under(const char *path, const char *root)
{
	const char *r = path_under(path, root);
	size_t plen = strlen(path), rlen = strlen(root);
	bool want;

	if (strcmp(root, "/") == 0)
		want = true;
	else
		want = strncmp(path, root, rlen) == 0 &&
		       (path[rlen] == '\0' || path[rlen] == '/');
	FUZZ_CHECK((r != NULL) == want, "path_under(%s, %s): got %s, want %s",
		   show(path), show(root), r ? "under" : "NULL",
		   want ? "under" : "NULL");
	if (!r)
		return;
	FUZZ_CHECK(r >= path && r <= path + plen,
		   "path_under(%s, %s): pointer outside path", show(path),
		   show(root));
	FUZZ_CHECK(*r == '\0' || *r == '/', "path_under(%s, %s) = %s",
		   show(path), show(root), show(r));
	if (strcmp(root, "/") == 0)
		FUZZ_CHECK(strcmp(path, "/") == 0 ? *r == '\0' : r == path,
			   "path_under(%s, \"/\") = %s", show(path), show(r));
	else
		FUZZ_CHECK(r == path + rlen, "path_under(%s, %s) = %s",
			   show(path), show(root), show(r));
}

/* from and to clean and absolute. */
static void check_relative(const char *from, const char *to, uint8_t sel)
{
	char *ref = ref_relative(from, to), *out, *joined, *recleaned;
	size_t need = strlen(ref) + 1, n, jsize;
	int err;

	out = fuzz_outbuf(need);
	err = path_relative(from, to, out, need);
	FUZZ_CHECK(err == 0, "path_relative(%s, %s) size %zu: error %d",
		   show(from), show(to), need, err);
	FUZZ_CHECK(fuzz_terminated(out, need) && strcmp(out, ref) == 0,
		   "path_relative(%s, %s) = %s, reference %s", show(from),
		   show(to), show(out), show(ref));
	FUZZ_CHECK(out[0] != '/', "path_relative(%s, %s) = %s is absolute",
		   show(from), show(to), show(out));

	/* Clean itself, and leads back: join(from, rel) == to. */
	recleaned = ref_clean(out);
	FUZZ_CHECK(strcmp(recleaned, out) == 0,
		   "path_relative(%s, %s) = %s is not clean", show(from),
		   show(to), show(out));
	jsize = strlen(from) + strlen(out) + 3;
	joined = fuzz_outbuf(jsize);
	err = path_join_clean(from, out, joined, jsize);
	FUZZ_CHECK(err == 0 && strcmp(joined, to) == 0,
		   "path_join_clean(%s, path_relative(..) = %s) = %s, want %s",
		   show(from), show(out), err ? "<error>" : show(joined),
		   show(to));
	free(joined);
	free(recleaned);
	free(out);

	/* Any size: the same answer, or ENAMETOOLONG exactly when short. */
	n = fuzz_pick_size(sel, need, PATH_MAX);
	out = fuzz_outbuf(n);
	err = path_relative(from, to, out, n);
	if (n >= need)
		FUZZ_CHECK(err == 0 && fuzz_terminated(out, n) &&
				   strcmp(out, ref) == 0,
			   "path_relative(%s, %s) size %zu (need %zu): err %d",
			   show(from), show(to), n, need, err);
	else
		FUZZ_CHECK(err == ENAMETOOLONG,
			   "path_relative(%s, %s) size %zu (need %zu): err %d",
			   show(from), show(to), n, need, err);
	fuzz_outfree(out, n);
	free(ref);
}

/* dir clean and absolute, name anything. */
static void check_join(const char *dir, const char *name, uint8_t sel)
{
	char *joined = concat3(dir, "/", name), *ref = ref_clean(joined), *out;
	size_t big = strlen(joined) + 2, n;
	int err;

	out = fuzz_outbuf(big);
	err = path_join_clean(dir, name, out, big);
	FUZZ_CHECK(err == 0 && fuzz_terminated(out, big) &&
			   strcmp(out, ref) == 0,
		   "path_join_clean(%s, %s) = %s (err %d), want %s", show(dir),
		   show(name), err ? "<error>" : show(out), err, show(ref));
	FUZZ_CHECK(out[0] == '/', "path_join_clean(%s, %s) = %s: not absolute",
		   show(dir), show(name), show(out));
	free(out);

	n = fuzz_pick_size(sel, strlen(ref) + 1, PATH_MAX);
	out = fuzz_outbuf(n);
	err = path_join_clean(dir, name, out, n);
	if (err == 0)
		FUZZ_CHECK(fuzz_terminated(out, n) && strcmp(out, ref) == 0,
			   "path_join_clean(%s, %s) size %zu = %s, want %s",
			   show(dir), show(name), n, show(out), show(ref));
	else
		FUZZ_CHECK(err == ENAMETOOLONG && n < big,
			   "path_join_clean(%s, %s) size %zu: err %d",
			   show(dir), show(name), n, err);
	if (n <= strlen(ref))
		FUZZ_CHECK(err == ENAMETOOLONG,
			   "path_join_clean(%s, %s) size %zu: no room, err %d",
			   show(dir), show(name), n, err);
	fuzz_outfree(out, n);
	free(ref);
	free(joined);
}

/* path clean and absolute: dirname(p) == clean(p + "/.."). */
static void check_dirname(const char *path, uint8_t sel)
{
	char *up = concat3(path, "/..", ""), *ref = ref_clean(up), *out;
	size_t need = strlen(ref) + 1, n;
	int err;

	out = fuzz_outbuf(need);
	err = path_dirname(path, out, need);
	FUZZ_CHECK(err == 0 && fuzz_terminated(out, need) &&
			   strcmp(out, ref) == 0,
		   "path_dirname(%s) = %s (err %d), want %s", show(path),
		   err ? "<error>" : show(out), err, show(ref));
	free(out);

	n = fuzz_pick_size(sel, need, PATH_MAX);
	out = fuzz_outbuf(n);
	err = path_dirname(path, out, n);
	if (n >= need)
		FUZZ_CHECK(err == 0 && fuzz_terminated(out, n) &&
				   strcmp(out, ref) == 0,
			   "path_dirname(%s) size %zu: err %d", show(path), n,
			   err);
	else
		FUZZ_CHECK(err == ENAMETOOLONG,
			   "path_dirname(%s) size %zu (need %zu): err %d",
			   show(path), n, need, err);
	fuzz_outfree(out, n);
	free(ref);
	free(up);
}

/* The clean absolute form of s: clean("/" + s). */
static char *clean_abs(const char *s)
{
	char *slashed = concat3("/", s, ""), *out = ref_clean(slashed);

	free(slashed);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul;
	uint8_t sel_a, sel_b;
	size_t len_a;
	char *a, *b, *ca, *cb, *out;

	if (size < 2)
		return 0;
	sel_a = data[0];
	sel_b = data[1];
	data += 2;
	size -= 2;
	nul = memchr(data, '\0', size);
	len_a = nul ? (size_t)(nul - data) : size;
	a = fuzz_strndup(data, len_a);
	b = nul ? fuzz_strndup(nul + 1, size - len_a - 1)
		: fuzz_strndup(data, 0);

	free(check_clean(a, sel_a));
	free(check_clean(b, sel_b));
	check_is_name(a);
	check_is_name(b);

	/* The functions whose contract is "clean and absolute". */
	ca = clean_abs(a);
	cb = clean_abs(b);
	check_under(ca, cb);
	check_under(cb, ca);
	check_under(ca, ca);
	check_under(ca, "/");
	check_relative(ca, cb, sel_a);
	check_relative(cb, ca, sel_b);
	check_relative(ca, ca, sel_b);
	check_join(ca, b, sel_b);
	check_join(cb, a, sel_a);
	check_dirname(ca, sel_a);
	check_dirname(cb, sel_b);

	/* Out of contract (not clean, maybe relative): no answer is checked,
	 * but the buffer must hold. */
	{
		size_t n = fuzz_pick_size(sel_b, strlen(a) + strlen(b), 64);

		out = fuzz_outbuf(n);
		if (path_relative(a, b, out, n) == 0)
			FUZZ_CHECK(fuzz_terminated(out, n),
				   "path_relative(%s, %s) size %zu: no NUL",
				   show(a), show(b), n);
		fuzz_outfree(out, n);
		(void)path_under(a, b);
		(void)path_under(b, a);
	}

	free(ca);
	free(cb);
	free(a);
	free(b);
	return 0;
}
