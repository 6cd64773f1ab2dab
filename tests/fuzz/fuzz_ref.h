/*
 * fuzz_ref: reference implementations of the lexical path rules, written
 * independently of fs/path.c (component lists, not in-place edits), for
 * the fuzz targets to compare against; and show() for messages.
 */
#ifndef CANONFS_FUZZ_REF_H
#define CANONFS_FUZZ_REF_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A printable, shortened copy of s for messages (16 rotating buffers). */
static inline const char *show(const char *s)
{
	static char bufs[16][320];
	static unsigned next;
	char *b = bufs[next++ % 16];
	size_t used = 0;

	b[used++] = '"';
	for (; *s && used < sizeof(bufs[0]) - 8; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\')
			b[used++] = (char)c;
		else
			used += (size_t)snprintf(b + used, 5, "\\x%02x", c);
	}
	if (*s)
		used += (size_t)snprintf(b + used, 4, "...");
	b[used++] = '"';
	b[used] = '\0';
	return b;
}

struct comps {
	const char **s;
	size_t *len;
	size_t n;
};

/* The non-empty components of p, "." dropped ("" too). */
static inline void split(const char *p, struct comps *c)
{
	size_t max = strlen(p) + 1;

	c->s = malloc(max * sizeof(*c->s));
	c->len = malloc(max * sizeof(*c->len));
	c->n = 0;
	if (!c->s || !c->len)
		abort();
	while (*p) {
		const char *e;

		while (*p == '/')
			p++;
		if (!*p)
			break;
		for (e = p; *e && *e != '/'; e++)
			;
		if (!(e - p == 1 && p[0] == '.')) {
			c->s[c->n] = p;
			c->len[c->n] = (size_t)(e - p);
			c->n++;
		}
		p = e;
	}
}

static inline void comps_free(struct comps *c)
{
	free(c->s);
	free(c->len);
}

static inline bool is_dotdot(const char *s, size_t len)
{
	return len == 2 && s[0] == '.' && s[1] == '.';
}

/* A relative symlink target as the view shows it: "." and empty
 * components dropped, ".." kept (it may undo a symlink), and a trailing
 * "/" where the target ends in "/" or a "." component (it asks for a
 * directory), unless it ends in "..". Caller frees. */
static inline char *ref_tidy(const char *p)
{
	size_t plen = strlen(p);
	bool dir = plen > 0 &&
		   (p[plen - 1] == '/' ||
		    (p[plen - 1] == '.' && (plen == 1 || p[plen - 2] == '/')));
	struct comps in;
	size_t used = 0;
	char *out = malloc(plen + 3);

	if (!out)
		abort();
	split(p, &in);
	for (size_t i = 0; i < in.n; i++) {
		if (used > 0)
			out[used++] = '/';
		memcpy(out + used, in.s[i], in.len[i]);
		used += in.len[i];
	}
	if (used == 0)
		out[used++] = '.';
	else if (dir && !is_dotdot(in.s[in.n - 1], in.len[in.n - 1]))
		out[used++] = '/';
	out[used] = '\0';
	comps_free(&in);
	return out;
}

/* Go's filepath.Clean, by a component stack. Caller frees. */
static inline char *ref_clean(const char *p)
{
	bool rooted = p[0] == '/';
	struct comps in, keep;
	size_t ups = 0, used = 0;
	char *out = malloc(strlen(p) + 3);

	if (!out)
		abort();
	split(p, &in);
	keep.s = malloc((in.n + 1) * sizeof(*keep.s));
	keep.len = malloc((in.n + 1) * sizeof(*keep.len));
	keep.n = 0;
	if (!keep.s || !keep.len)
		abort();
	for (size_t i = 0; i < in.n; i++) {
		if (!is_dotdot(in.s[i], in.len[i])) {
			keep.s[keep.n] = in.s[i];
			keep.len[keep.n++] = in.len[i];
		} else if (keep.n > 0) {
			keep.n--;
		} else if (!rooted) {
			ups++;
		}
	}
	if (rooted)
		out[used++] = '/';
	for (size_t i = 0; i < ups; i++) {
		if (i > 0)
			out[used++] = '/';
		memcpy(out + used, "..", 2);
		used += 2;
	}
	for (size_t i = 0; i < keep.n; i++) {
		if (used > 0 && out[used - 1] != '/')
			out[used++] = '/';
		memcpy(out + used, keep.s[i], keep.len[i]);
		used += keep.len[i];
	}
	if (used == 0)
		out[used++] = '.';
	out[used] = '\0';
	comps_free(&in);
	comps_free(&keep);
	return out;
}

/* Go's filepath.Rel for two clean absolute paths. Caller frees. */
static inline char *ref_relative(const char *from, const char *to)
{
	struct comps a, b;
	size_t common = 0, used = 0;
	char *out = malloc(3 * strlen(from) + strlen(to) + 3);

	if (!out)
		abort();
	split(from, &a);
	split(to, &b);
	while (common < a.n && common < b.n && a.len[common] == b.len[common] &&
	       memcmp(a.s[common], b.s[common], a.len[common]) == 0)
		common++;
	for (size_t i = common; i < a.n; i++) {
		if (used > 0)
			out[used++] = '/';
		memcpy(out + used, "..", 2);
		used += 2;
	}
	for (size_t i = common; i < b.n; i++) {
		if (used > 0)
			out[used++] = '/';
		memcpy(out + used, b.s[i], b.len[i]);
		used += b.len[i];
	}
	if (used == 0)
		out[used++] = '.';
	out[used] = '\0';
	comps_free(&a);
	comps_free(&b);
	return out;
}

static inline char *concat3(const char *a, const char *b, const char *c)
{
	size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
	char *s = malloc(la + lb + lc + 1);

	if (!s)
		abort();
	memcpy(s, a, la);
	memcpy(s + la, b, lb);
	memcpy(s + la + lb, c, lc + 1);
	return s;
}

#endif
