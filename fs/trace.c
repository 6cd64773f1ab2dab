/*
 * trace: what a build read and wrote (see include/canonfs/trace.h).
 */
#include "canonfs/trace.h"

#include "canonfs/hostpath.h"

#include "canonfs/manifest.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>

enum item_kind {
	ITEM_READ,
	ITEM_OUTPUT,
	ITEM_PROBE,
	ITEM_WARNING,
};

/* One recorded fact, kept once: the key is the kind plus the text. */
struct trace_item {
	char *key; /* owned: "<kind>\t<text>" */
	enum item_kind kind;
	char *text;		     /* points into key: the line to write */
	struct manifest_entry entry; /* ITEM_READ: path owned here */
	UT_hash_handle hh;
};

int trace_init(struct trace *t, const char *base)
{
	memset(t, 0, sizeof(*t));
	pthread_mutex_init(&t->lock, NULL);
	if (!base)
		return 0;
	if (!(t->base = strdup(base)))
		return ENOMEM;
	t->active = true;
	return 0;
}

static void free_items(struct trace *t)
{
	struct trace_item *item, *tmp;

	HASH_ITER (hh, t->items, item, tmp) {
		HASH_DEL(t->items, item);
		free(item->entry.path);
		free(item->entry.target);
		free(item->key);
		free(item);
	}
}

void trace_destroy(struct trace *t)
{
	free_items(t);
	free(t->base);
	pthread_mutex_destroy(&t->lock);
}

/* Add "<kind>\t<text>" unless recorded already; called with the lock. */
static struct trace_item *add_locked(struct trace *t, enum item_kind kind,
				     const char *text)
{
	struct trace_item *item;
	char *key;

	if (asprintf(&key, "%d\t%s", (int)kind, text) < 0)
		return NULL;
	HASH_FIND_STR(t->items, key, item);
	if (item) {
		free(key);
		return NULL; /* seen: once each */
	}
	if (!(item = calloc(1, sizeof(*item)))) {
		free(key);
		return NULL;
	}
	item->key = key;
	item->kind = kind;
	item->text = strchr(key, '\t') + 1;
	HASH_ADD_KEYPTR(hh, t->items, item->key, strlen(item->key), item);
	return item;
}

static void add_line(struct trace *t, enum item_kind kind, const char *fmt,
		     const char *a, const char *b)
{
	char *ea = manifest_escape(a), *eb = b ? manifest_escape(b) : NULL;
	char *text = NULL;

	if (ea && (!b || eb) && asprintf(&text, fmt, ea, eb ? eb : "") >= 0) {
		pthread_mutex_lock(&t->lock);
		if (t->active)
			add_locked(t, kind, text);
		pthread_mutex_unlock(&t->lock);
	}
	free(text);
	free(ea);
	free(eb);
}

/* Virtual paths start with '/'; recorded paths do not. */
static const char *relative(const char *virt_path)
{
	return virt_path[0] == '/' ? virt_path + 1 : virt_path;
}

/* SHA-256 of no bytes. */
static const unsigned char empty_sha256[32] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
	0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
	0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};

/* Record an input; the entry is filled from e, its path and target
 * copied. */
static void add_input(struct trace *t, const char *virt_path,
		      const struct manifest_entry *e)
{
	struct trace_item *item;

	pthread_mutex_lock(&t->lock);
	if (t->active &&
	    (item = add_locked(t, ITEM_READ, relative(virt_path)))) {
		item->entry = *e;
		item->entry.path = strdup(relative(virt_path));
		item->entry.target = e->target ? strdup(e->target) : NULL;
	}
	pthread_mutex_unlock(&t->lock);
}

void trace_read(struct trace *t, const char *const *virt_paths, size_t n,
		int fd, unsigned mode)
{
	struct manifest_entry e = {.type = 'f', .mode = mode};
	off_t size;

	if (n == 0)
		return;
	/* Hashed once, before taking the lock: files can be large. */
	size = fd < 0 ? 0 : lseek(fd, 0, SEEK_END);
	if (fd < 0)
		memcpy(e.sha256, empty_sha256, sizeof(e.sha256));
	else if (size < 0 || manifest_hash_fd(fd, e.sha256))
		return;
	e.size = (uint64_t)size;
	for (size_t i = 0; i < n; i++)
		add_input(t, virt_paths[i], &e);
}

void trace_readlink(struct trace *t, const char *virt_path, const char *target)
{
	struct manifest_entry e = {.type = 'l',
				   .mode = 0777,
				   .size = strlen(target),
				   .target = (char *)target};

	add_input(t, virt_path, &e);
}

bool trace_was_read(struct trace *t, const char *virt_path)
{
	struct trace_item *item;
	char *key;

	if (asprintf(&key, "%d\t%s", (int)ITEM_READ, relative(virt_path)) < 0)
		return false;
	pthread_mutex_lock(&t->lock);
	HASH_FIND_STR(t->items, key, item);
	pthread_mutex_unlock(&t->lock);
	free(key);
	return item != NULL;
}

void trace_output(struct trace *t, const char *what, const char *virt_path)
{
	char fmt[32];

	snprintf(fmt, sizeof(fmt), "%s %%s%%s", what);
	add_line(t, ITEM_OUTPUT, fmt, relative(virt_path), NULL);
}

void trace_rename(struct trace *t, const char *from, const char *to)
{
	add_line(t, ITEM_OUTPUT, "renamed %s %s", relative(from), relative(to));
}

void trace_probe(struct trace *t, const char *virt_path)
{
	add_line(t, ITEM_PROBE, "%s%s", relative(virt_path), NULL);
}

void trace_warn(struct trace *t, const char *kind, const char *virt_path,
		const char *detail)
{
	char fmt[48];

	snprintf(fmt, sizeof(fmt), "%s %%s%s", kind, detail ? " %s" : "%s");
	add_line(t, ITEM_WARNING, fmt, relative(virt_path), detail);
}

static int compare_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * A trace file is written beside its place and renamed over it when
 * complete: a script reading it while the daemon writes it (the unmount
 * returns before the daemon has written) sees the old one or the new one,
 * never half of one. One writer at a time: trace_flush holds the lock.
 */
static char temp_path[PATH_MAX + 16];

/* The lines of one kind, sorted, into base + suffix. */
static int write_lines(struct trace *t, enum item_kind kind, const char *suffix)
{
	size_t n = 0, i = 0;
	struct trace_item *item, *tmp;
	char *path = NULL, **lines;
	FILE *out;
	int err = 0;

	HASH_ITER (hh, t->items, item, tmp)
		n += item->kind == kind;
	lines = calloc(n + 1, sizeof(*lines));
	if (!lines || asprintf(&path, "%s%s", t->base, suffix) < 0) {
		free(lines);
		return ENOMEM;
	}
	HASH_ITER (hh, t->items, item, tmp)
		if (item->kind == kind)
			lines[i++] = item->text;
	if (n > 0)
		qsort(lines, n, sizeof(*lines), compare_text);
	out = hostpath_create_temp(path, temp_path, sizeof(temp_path));
	if (!out) {
		err = errno;
	} else {
		for (i = 0; i < n; i++)
			fprintf(out, "%s\n", lines[i]);
		err = hostpath_commit(out, temp_path, path);
	}
	free(lines);
	free(path);
	return err;
}

static int write_inputs(struct trace *t)
{
	struct manifest m = {0};
	struct trace_item *item, *tmp;
	size_t n = 0;
	FILE *out;
	int err = 0;

	HASH_ITER (hh, t->items, item, tmp)
		n += item->kind == ITEM_READ;
	m.entries = calloc(n + 1, sizeof(*m.entries));
	if (!m.entries)
		return ENOMEM;
	HASH_ITER (hh, t->items, item, tmp)
		if (item->kind == ITEM_READ)
			m.entries[m.n_entries++] = item->entry; /* borrowed */
	if (manifest_finish(&m) == 0 &&
	    (out = hostpath_create_temp(t->base, temp_path,
					sizeof(temp_path)))) {
		manifest_write_text(&m, out);
		err = hostpath_commit(out, temp_path, t->base);
	} else {
		err = errno ? errno : ENOMEM;
	}
	free(m.entries);
	return err;
}

int trace_flush(struct trace *t)
{
	int err;

	if (!t->base)
		return 0;
	pthread_mutex_lock(&t->lock);
	err = write_inputs(t);
	if (!err)
		err = write_lines(t, ITEM_OUTPUT, ".outputs");
	if (!err)
		err = write_lines(t, ITEM_PROBE, ".probes");
	if (!err)
		err = write_lines(t, ITEM_WARNING, ".warnings");
	pthread_mutex_unlock(&t->lock);
	return err;
}

void trace_stop(struct trace *t)
{
	pthread_mutex_lock(&t->lock);
	t->active = false;
	pthread_mutex_unlock(&t->lock);
}

void trace_start(struct trace *t)
{
	if (!t->base)
		return;
	pthread_mutex_lock(&t->lock);
	free_items(t);
	t->epoch++;
	t->active = true;
	pthread_mutex_unlock(&t->lock);
}
