/*
 * manifest: deterministic tree descriptions (see include/canonfs/manifest.h).
 */
#include "canonfs/manifest.h"

#include "canonfs/canon.h"
#include "canonfs/hostpath.h"
#include "canonfs/path.h"
#include "canonfs/progress.h"
#include "canonfs/symlink.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void set_err(char *err, size_t err_size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, err_size, fmt, ap);
	va_end(ap);
}

static bool plain_byte(unsigned char c)
{
	return c >= '!' && c <= '~' && c != '\\';
}

char *manifest_escape(const char *s)
{
	size_t len = strlen(s);
	char *out = malloc(4 * len + 1), *p = out;

	if (!out)
		return NULL;
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		if (plain_byte(*c))
			*p++ = (char)*c;
		else
			p += sprintf(p, "\\x%02x", *c);
	}
	*p = '\0';
	return out;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

char *manifest_unescape(const char *s)
{
	char *out = malloc(strlen(s) + 1), *p = out;

	if (!out)
		return NULL;
	while (*s) {
		if (*s != '\\') {
			if (!plain_byte((unsigned char)*s))
				goto malformed;
			*p++ = *s++;
			continue;
		}
		if (s[1] != 'x' || hex_value(s[2]) < 0 || hex_value(s[3]) < 0 ||
		    (hex_value(s[2]) == 0 && hex_value(s[3]) == 0))
			goto malformed;
		*p++ = (char)(hex_value(s[2]) * 16 + hex_value(s[3]));
		s += 4;
	}
	*p = '\0';
	return out;

malformed:
	free(out);
	return NULL;
}

static void hex(const unsigned char *bytes, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", bytes[i]);
}

char *manifest_format_entry(const struct manifest_entry *e)
{
	char digest[65] = "-", *path, *target = NULL, *line = NULL;

	if (e->type == 'f')
		hex(e->sha256, sizeof(e->sha256), digest);
	path = manifest_escape(e->path);
	if (e->target)
		target = manifest_escape(e->target);
	if (path && (!e->target || target) &&
	    asprintf(&line, "%c %04o %llu %s %s%s%s", e->type,
		     (unsigned)e->mode, (unsigned long long)e->size, digest,
		     path, target ? " " : "", target ? target : "") < 0)
		line = NULL;
	free(path);
	free(target);
	return line;
}

/* SHA-256 over every entry line with its newline. */
static int root_digest(const struct manifest *m, unsigned char out[32])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	int rc = -1;

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL))
		goto out;
	for (size_t i = 0; i < m->n_entries; i++) {
		char *line = manifest_format_entry(&m->entries[i]);

		if (!line || !EVP_DigestUpdate(ctx, line, strlen(line)) ||
		    !EVP_DigestUpdate(ctx, "\n", 1)) {
			free(line);
			goto out;
		}
		free(line);
	}
	rc = EVP_DigestFinal_ex(ctx, out, NULL) ? 0 : -1;
out:
	EVP_MD_CTX_free(ctx);
	return rc;
}

void manifest_free(struct manifest *m)
{
	for (size_t i = 0; i < m->n_entries; i++) {
		free(m->entries[i].path);
		free(m->entries[i].target);
	}
	free(m->entries);
	memset(m, 0, sizeof(*m));
}

bool manifest_path_is_valid(const char *path)
{
	const char *end;

	if (strcmp(path, ".") == 0)
		return true;
	if (path[0] == '/')
		return false;
	for (;; path = end + 1) {
		size_t len;

		end = strchrnul(path, '/');
		len = (size_t)(end - path);
		if (len == 0 || (len == 1 && path[0] == '.') ||
		    (len == 2 && path[0] == '.' && path[1] == '.'))
			return false;
		if (!*end)
			return true;
	}
}

/* ---- building: walk, hash, sort ---- */

/*
 * A tree that changes while it is described (a build still running, a
 * cache being pruned) can lose an entry between the directory walk and
 * the hashing. Such an entry is left out, as if the walk had come just
 * after the removal, and manifest_build names it in a warning: every
 * entry stays a state the tree really had, and a live tree does not make
 * the whole manifest fail. (rsync and tar do the same: "file has
 * vanished", "File removed before we read it".)
 */
struct walk {
	struct manifest *m;
	size_t capacity;
	char root_path[PATH_MAX]; /* resolved, for symlink rewriting */
	const char *root_arg; /* the tree as given, to name paths in errors */
	char *err;
	size_t err_size;
	size_t n_vanished;	       /* entries left out: gone meanwhile */
	char first_vanished[PATH_MAX]; /* the first of them in path order */
	struct progress *progress;     /* NULL: nobody counts */
};

/* One line in w->err about the entry at path (relative to the tree),
 * named as the user can find it: under the tree they gave. */
static void fail_at(struct walk *w, const char *path, const char *why)
{
	bool root = strcmp(path, ".") == 0;

	set_err(w->err, w->err_size, "'%s%s%s': %s", w->root_arg,
		root ? "" : "/", root ? "" : path, why);
}

static struct manifest_entry *add_entry(struct walk *w, const char *path)
{
	struct manifest_entry *e;

	if (w->m->n_entries == w->capacity) {
		size_t capacity = w->capacity ? 2 * w->capacity : 256;
		struct manifest_entry *grown =
			realloc(w->m->entries, capacity * sizeof(*grown));

		if (!grown)
			return NULL;
		w->m->entries = grown;
		w->capacity = capacity;
	}
	e = &w->m->entries[w->m->n_entries];
	memset(e, 0, sizeof(*e));
	if (!(e->path = strdup(path)))
		return NULL;
	w->m->n_entries++;
	if (w->progress)
		atomic_store(&w->progress->entries, w->m->n_entries);
	return e;
}

/* Take back the entry add_entry gave last. */
static void drop_last_entry(struct walk *w)
{
	struct manifest_entry *e = &w->m->entries[--w->m->n_entries];

	free(e->path);
	free(e->target);
	memset(e, 0, sizeof(*e));
}

/* Record that `path` vanished while the tree was described. */
static void note_vanished(struct walk *w, const char *path)
{
	if (w->n_vanished++ == 0 || strcmp(path, w->first_vanished) < 0)
		snprintf(w->first_vanished, sizeof(w->first_vanished), "%s",
			 path);
}

/* The warning naming what vanished, in w->err; empty when nothing did. */
static void warn_vanished(struct walk *w)
{
	char *shown;

	w->err[0] = '\0';
	if (w->n_vanished == 0)
		return;
	shown = manifest_escape(w->first_vanished);
	if (w->n_vanished == 1)
		set_err(w->err, w->err_size,
			"warning: '%s' vanished while the tree was described: left out of the manifest",
			shown ? shown : w->first_vanished);
	else
		set_err(w->err, w->err_size,
			"warning: '%s' and %zu more vanished while the tree was described: left out of the manifest",
			shown ? shown : w->first_vanished, w->n_vanished - 1);
	free(shown);
}

/* The target as the mount would show it, the tree playing the mirror. */
static int canonical_target(struct walk *w, const char *rel_path,
			    const char *raw, char *out, size_t out_size)
{
	const struct symlink_mirror tree = {.virt_path = "/t",
					    .host_path = w->root_path};
	char virt[PATH_MAX + 4], virt_dir[PATH_MAX + 4];

	if ((size_t)snprintf(virt, sizeof(virt), "/t/%s", rel_path) >=
		    sizeof(virt) ||
	    path_dirname(virt, virt_dir, sizeof(virt_dir)))
		return ENAMETOOLONG;
	return symlink_to_view(raw, virt_dir, &tree, 1, out, out_size);
}

/* Type, mode, size and target of the entry `name` of dir_fd (at `path` in
 * the tree), stat'ed into st; files are hashed later (hash_file takes
 * their mode and size again, from what it reads). Returns 0, 1 when the
 * entry is gone, or -1 with one line in w->err. */
static int describe(struct walk *w, int dir_fd, const char *name,
		    const char *path, const struct stat *st,
		    struct manifest_entry *e)
{
	char raw[PATH_MAX], shown[PATH_MAX];
	ssize_t len;

	e->mode = canon_mode(st->st_mode) & 07777;
	if (S_ISREG(st->st_mode)) {
		e->type = 'f';
		e->size = (uint64_t)st->st_size;
	} else if (S_ISLNK(st->st_mode)) {
		e->type = 'l';
		len = hostpath_readlink(dir_fd, name, raw, sizeof(raw) - 1);
		if (len < 0 && errno == ENOENT)
			return 1;
		if (len < 0) {
			fail_at(w, path, strerror(errno));
			return -1;
		}
		raw[len] = '\0';
		if (canonical_target(w, path, raw, shown, sizeof(shown)) ||
		    !(e->target = strdup(shown))) {
			fail_at(w, path, "cannot record its target");
			return -1;
		}
		e->size = strlen(shown);
	} else {
		e->type = 'd';
	}
	return 0;
}

static int walk_dir(struct walk *w, int dir_fd, const char *rel)
{
	struct dirent *d;
	DIR *dir;
	int fd = dup(dir_fd), rc = 0;

	if (fd < 0 || !(dir = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		fail_at(w, rel, strerror(errno));
		return -1;
	}
	while (rc == 0 && (errno = 0, d = readdir(dir))) {
		char path[PATH_MAX];
		struct manifest_entry *e;
		struct stat st;

		if (strcmp(d->d_name, ".") == 0 || strcmp(d->d_name, "..") == 0)
			continue;
		if ((size_t)snprintf(path, sizeof(path), "%s%s%s",
				     strcmp(rel, ".") ? rel : "",
				     strcmp(rel, ".") ? "/" : "",
				     d->d_name) >= sizeof(path)) {
			fail_at(w, path, strerror(ENAMETOOLONG));
			rc = -1;
			break;
		}
		if (fstatat(dir_fd, d->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1) {
			if (errno == ENOENT) {
				note_vanished(w, path);
				continue;
			}
			fail_at(w, path, strerror(errno));
			rc = -1;
			break;
		}
		if (!canon_is_shown(st.st_mode))
			continue;
		if (!(e = add_entry(w, path))) {
			set_err(w->err, w->err_size, "out of memory");
			rc = -1;
			break;
		}
		if ((rc = describe(w, dir_fd, d->d_name, path, &st, e)) == 1) {
			drop_last_entry(w);
			note_vanished(w, path);
			rc = 0;
			continue;
		}
		if (rc)
			break;
		if (e->type == 'd') {
			int sub = openat(dir_fd, d->d_name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC);

			if (sub < 0 && errno == ENOENT) {
				drop_last_entry(w);
				note_vanished(w, path);
				continue;
			}
			if (sub < 0) {
				fail_at(w, path, strerror(errno));
				rc = -1;
				break;
			}
			rc = walk_dir(w, sub, path);
			close(sub);
		}
	}
	if (rc == 0 && errno) {
		fail_at(w, rel, strerror(errno));
		rc = -1;
	}
	closedir(dir);
	return rc;
}

struct hasher {
	struct manifest *m;
	int root_fd;
	size_t next; /* protected by lock */
	struct progress *progress;
	int failed_errno; /* protected by lock; the first failure */
	size_t failed_at; /* protected by lock */
	pthread_mutex_t lock;
};

/* An entry type the hashers give a file that vanished (drop_vanished). */
#define VANISHED '\0'

/* Reads of a file that keeps changing before hash_file gives up. */
#define HASH_TRIES 8

static int hash_fd_counted(int fd, unsigned char out[32], uint64_t *n_bytes,
			   atomic_uint_least64_t *read_so_far);

/* Whether fstats before and after reading `hashed` bytes show that the
 * read saw one version of the file: all of it, and no write or truncate
 * in between (size, mtime). Not ctime: the file being renamed over or
 * removed changes it, and the descriptor still reads the same bytes. */
static bool read_one_version(const struct stat *before,
			     const struct stat *after, uint64_t hashed)
{
	return (uint64_t)before->st_size == hashed &&
	       after->st_size == before->st_size &&
	       after->st_mtim.tv_sec == before->st_mtim.tv_sec &&
	       after->st_mtim.tv_nsec == before->st_mtim.tv_nsec;
}

/*
 * Hash the file at `path` and take its mode and size from the descriptor
 * read, not from the walk's earlier fstatat: the path may name another
 * file by now (replaced by a rename), and an entry must be one state the
 * file had, not the size of one version and the digest of the next. A
 * file written while it is read is read again, up to HASH_TRIES times.
 * Returns 0; ENOENT or ENOTDIR when it is gone; EAGAIN when it kept
 * changing or is no longer a regular file; or another errno value.
 */
static int hash_file(int root_fd, const char *path, struct manifest_entry *e,
		     atomic_uint_least64_t *read_so_far)
{
	for (int try = 0; try < HASH_TRIES; try++) {
		/* O_NONBLOCK: a FIFO now in the file's place must not block
		 * the open. */
		int fd = openat(root_fd, path,
				O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat before, after;
		uint64_t hashed;
		int err = 0;

		if (fd < 0) /* ELOOP: a symlink is in the file's place now */
			return errno == ELOOP ? EAGAIN : errno;
		if (fstat(fd, &before) == -1)
			err = errno;
		else if (!S_ISREG(before.st_mode))
			err = EAGAIN;
		else if (!(err = hash_fd_counted(fd, e->sha256, &hashed,
						 read_so_far)) &&
			 fstat(fd, &after) == -1)
			err = errno;
		close(fd);
		if (err)
			return err;
		if (read_one_version(&before, &after, hashed)) {
			e->mode = canon_mode(before.st_mode) & 07777;
			e->size = hashed;
			return 0;
		}
	}
	return EAGAIN;
}

/* What a hash_file error means, for a message. */
static const char *hash_error(int err)
{
	if (err == EAGAIN)
		return "it changed while it was read (try again when the tree is quiet)";
	return strerror(err);
}

static void *hash_worker(void *arg)
{
	struct hasher *h = arg;

	for (;;) {
		struct manifest_entry *e;
		size_t i;
		int err;

		pthread_mutex_lock(&h->lock);
		while (h->next < h->m->n_entries &&
		       h->m->entries[h->next].type != 'f')
			h->next++;
		i = h->next++;
		pthread_mutex_unlock(&h->lock);
		if (i >= h->m->n_entries)
			return NULL;

		e = &h->m->entries[i];
		err = hash_file(h->root_fd, e->path, e,
				&h->progress->bytes_done);
		pthread_mutex_lock(&h->lock);
		if (err == ENOENT || err == ENOTDIR) {
			e->type = VANISHED; /* under the lock: read above */
		} else if (err && !h->failed_errno) {
			h->failed_errno = err;
			h->failed_at = i;
		}
		pthread_mutex_unlock(&h->lock);
		atomic_fetch_add(&h->progress->files_done, 1);
	}
}

/* Leave out, in order, the files the hashers found gone. */
static void drop_vanished(struct walk *w)
{
	struct manifest *m = w->m;
	size_t kept = 0;

	for (size_t i = 0; i < m->n_entries; i++) {
		struct manifest_entry *e = &m->entries[i];

		if (e->type != VANISHED) {
			m->entries[kept++] = *e;
			continue;
		}
		note_vanished(w, e->path);
		free(e->path);
		free(e->target);
	}
	m->n_entries = kept;
}

static int entry_compare(const void *a, const void *b)
{
	return strcmp(((const struct manifest_entry *)a)->path,
		      ((const struct manifest_entry *)b)->path);
}

/* Keep one entry per path of sorted m. A name renamed over while its
 * directory is read can be listed twice (POSIX leaves it unspecified),
 * and manifest_read refuses a repeated path. */
static void drop_repeated(struct manifest *m)
{
	size_t kept = 0;

	for (size_t i = 0; i < m->n_entries; i++) {
		struct manifest_entry *e = &m->entries[i];

		if (kept == 0 || strcmp(m->entries[kept - 1].path, e->path)) {
			m->entries[kept++] = *e;
			continue;
		}
		free(e->path);
		free(e->target);
	}
	m->n_entries = kept;
}

/* The tree's root, opened, and its resolved path in w (symlink targets
 * are rewritten against it). Returns the descriptor, or -1 with w->err. */
static int open_tree(struct walk *w, const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || !realpath(dir, w->root_path)) {
		set_err(w->err, w->err_size, "'%s': %s", dir, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

int manifest_build(const char *dir, int threads, FILE *progress,
		   struct manifest *out, char *err, size_t err_size)
{
	struct progress shown;
	struct walk w = {.m = out,
			 .root_arg = dir,
			 .err = err,
			 .err_size = err_size,
			 .progress = &shown};
	struct hasher h = {.m = out, .progress = &shown};
	pthread_t workers[64];
	struct manifest_entry *root;
	int root_fd, started = 0;
	size_t n_files = 0;
	uint64_t n_bytes = 0;

	memset(out, 0, sizeof(*out));
	err[0] = '\0';
	if ((root_fd = open_tree(&w, dir)) < 0)
		return -1;
	if (!(root = add_entry(&w, "."))) {
		close(root_fd);
		set_err(err, err_size, "out of memory");
		return -1;
	}
	root->type = 'd';
	root->mode = 0755;
	progress_start(&shown, progress);
	if (walk_dir(&w, root_fd, ".")) {
		progress_stop(&shown);
		close(root_fd);
		manifest_free(out);
		return -1;
	}

	/* Hash in path order, so that progress and errors are repeatable. */
	qsort(out->entries, out->n_entries, sizeof(*out->entries),
	      entry_compare);
	drop_repeated(out);
	for (size_t i = 0; i < out->n_entries; i++) {
		if (out->entries[i].type != 'f')
			continue;
		n_files++;
		n_bytes += out->entries[i].size;
	}
	atomic_store(&shown.files, n_files);
	atomic_store(&shown.bytes, n_bytes);
	atomic_store(&shown.hashing, true);
	h.root_fd = root_fd;
	pthread_mutex_init(&h.lock, NULL);
	if (threads < 1)
		threads = 1;
	if (threads > 64)
		threads = 64;
	while (started < threads &&
	       pthread_create(&workers[started], NULL, hash_worker, &h) == 0)
		started++;
	if (started == 0)
		hash_worker(&h);
	for (int i = 0; i < started; i++)
		pthread_join(workers[i], NULL);
	pthread_mutex_destroy(&h.lock);
	close(root_fd);
	progress_stop(&shown);

	if (h.failed_errno) {
		fail_at(&w, out->entries[h.failed_at].path,
			hash_error(h.failed_errno));
		manifest_free(out);
		return -1;
	}
	drop_vanished(&w);
	if (root_digest(out, out->root)) {
		set_err(err, err_size, "cannot compute the root digest");
		manifest_free(out);
		return -1;
	}
	warn_vanished(&w);
	return 0;
}

/* Add the entry at `path` of the tree to w->m, file hashed; a path that
 * is gone is left out. Returns 0, or -1 with one line in w->err. */
static int describe_path(struct walk *w, int root_fd, const char *path)
{
	struct manifest_entry *e;
	struct stat st;
	int rc, hashed = 0;

	/* As a build opens it: symlinks on the way are followed. */
	if (fstatat(root_fd, path, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0; /* gone: the diff says removed */
		fail_at(w, path, strerror(errno));
		return -1;
	}
	if (!canon_is_shown(st.st_mode))
		return 0;
	if (!(e = add_entry(w, path))) {
		set_err(w->err, w->err_size, "out of memory");
		return -1;
	}
	if ((rc = describe(w, root_fd, path, path, &st, e)) == -1)
		return -1;
	if (rc == 0 && e->type == 'f')
		hashed = hash_file(root_fd, path, e, NULL);
	if (rc == 1 || hashed == ENOENT || hashed == ENOTDIR) {
		drop_last_entry(w); /* gone since the fstatat */
		return 0;
	}
	if (hashed) {
		fail_at(w, path, hash_error(hashed));
		return -1;
	}
	return 0;
}

int manifest_describe_paths(const char *dir, const struct manifest *wanted,
			    struct manifest *out, char *err, size_t err_size)
{
	struct walk w = {
		.m = out, .root_arg = dir, .err = err, .err_size = err_size};
	int root_fd, rc = 0;

	memset(out, 0, sizeof(*out));
	if ((root_fd = open_tree(&w, dir)) < 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < wanted->n_entries; i++)
		rc = describe_path(&w, root_fd, wanted->entries[i].path);
	close(root_fd);
	if (rc == 0 && manifest_finish(out)) {
		set_err(err, err_size, "out of memory");
		rc = -1;
	}
	if (rc)
		manifest_free(out);
	return rc;
}

int manifest_finish(struct manifest *m)
{
	if (m->n_entries > 0)
		qsort(m->entries, m->n_entries, sizeof(*m->entries),
		      entry_compare);
	return root_digest(m, m->root);
}

int manifest_hash_fd(int fd, unsigned char out[32])
{
	uint64_t n_bytes;

	return hash_fd_counted(fd, out, &n_bytes, NULL);
}

/* manifest_hash_fd, also giving the number of bytes hashed. */
static int hash_fd_counted(int fd, unsigned char out[32], uint64_t *n_bytes,
			   atomic_uint_least64_t *read_so_far)
{
	static const size_t chunk = 1 << 20;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	char *buf = malloc(chunk);
	off_t pos = 0;
	ssize_t n = 0;
	int err = 0;

	if (!ctx || !buf || !EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)) {
		err = ENOMEM;
		goto out;
	}
	while ((n = pread(fd, buf, chunk, pos)) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		pos += n;
		if (read_so_far)
			atomic_fetch_add(read_so_far, (uint64_t)n);
	}
	if (n < 0)
		err = errno;
	else
		EVP_DigestFinal_ex(ctx, out, NULL);
	*n_bytes = (uint64_t)pos;
out:
	EVP_MD_CTX_free(ctx);
	free(buf);
	return err;
}

/* ---- reading ---- */

static int parse_hex(const char *s, unsigned char *out, size_t n)
{
	if (strlen(s) != 2 * n)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int hi = hex_value(s[2 * i]), lo = hex_value(s[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (unsigned char)(hi * 16 + lo);
	}
	return 0;
}

/* "TYPE MODE SIZE SHA256 PATH [TARGET]" into e. */
static int parse_entry(char *line, struct manifest_entry *e)
{
	char *fields[7];
	int n = 0;
	unsigned long long size;
	unsigned mode;
	char *end;

	memset(e, 0, sizeof(*e));
	for (char *tok = strtok(line, " "); tok && n < 7;
	     tok = strtok(NULL, " "))
		fields[n++] = tok;
	if (n < 5 || n > 6 || strlen(fields[0]) != 1)
		return -1;
	e->type = fields[0][0];
	if (!strchr("fdl", e->type) || (e->type == 'l') != (n == 6))
		return -1;
	mode = (unsigned)strtoul(fields[1], &end, 8);
	if (*end || strlen(fields[1]) != 4)
		return -1;
	e->mode = mode;
	size = strtoull(fields[2], &end, 10);
	if (*end || !fields[2][0])
		return -1;
	e->size = size;
	if (e->type == 'f' ? parse_hex(fields[3], e->sha256, 32)
			   : strcmp(fields[3], "-") != 0)
		return -1;
	if (!(e->path = manifest_unescape(fields[4])))
		return -1;
	if (n == 6 && !(e->target = manifest_unescape(fields[5])))
		return -1;
	return 0;
}

/* Why entry e, read after prev (NULL for the first), cannot be in a
 * manifest, or NULL. A diff merges two manifests in path order, and
 * `diff --inputs` opens each path in a directory: an unsorted or repeated
 * path would be reported both added and removed, and one that is
 * absolute or climbs with ".." would be read outside the directory. */
static const char *entry_problem(const struct manifest_entry *prev,
				 const struct manifest_entry *e)
{
	if (!manifest_path_is_valid(e->path))
		return "is not a path inside the tree (it is absolute, or has "
		       "an empty, '.' or '..' component)";
	if (prev && strcmp(prev->path, e->path) >= 0)
		return "is out of order or repeated (entries are sorted by "
		       "path bytes, each path once)";
	return NULL;
}

int manifest_read(FILE *in, const char *name, struct manifest *out, char *err,
		  size_t err_size)
{
	struct walk w = {.m = out};
	unsigned char root[32];
	char *line = NULL;
	const char *problem;
	size_t line_size = 0, line_no = 1;
	ssize_t len;
	bool have_root = false;
	int version;

	memset(out, 0, sizeof(*out));
	len = getline(&line, &line_size, in);
	if (len <= 0 ||
	    strncmp(line, MANIFEST_MAGIC " ", strlen(MANIFEST_MAGIC) + 1)) {
		set_err(err, err_size,
			"'%s' is not a canonfs manifest (it must start with '" MANIFEST_MAGIC
			" %d')",
			name, MANIFEST_VERSION);
		goto fail;
	}
	version = atoi(line + strlen(MANIFEST_MAGIC) + 1);
	if (version != MANIFEST_VERSION) {
		set_err(err, err_size,
			"'%s': manifest version %d is not known (this canonfs reads version %d)",
			name, version, MANIFEST_VERSION);
		goto fail;
	}

	while ((len = getline(&line, &line_size, in)) > 0) {
		struct manifest_entry *e;

		line_no++;
		if (line[len - 1] != '\n' || have_root)
			break; /* an unfinished line, or lines after "root" */
		line[len - 1] = '\0';
		if (strncmp(line, "root ", 5) == 0) {
			if (parse_hex(line + 5, root, 32))
				break;
			have_root = true;
			continue;
		}
		if (!(e = add_entry(&w, "")))
			break;
		free(e->path);
		if (parse_entry(line, e)) {
			free(e->path);
			free(e->target);
			out->n_entries--;
			set_err(err, err_size, "'%s' line %zu: malformed entry",
				name, line_no);
			goto fail;
		}
		if ((problem = entry_problem(out->n_entries > 1 ? e - 1 : NULL,
					     e))) {
			char *shown = manifest_escape(e->path);

			set_err(err, err_size, "'%s' line %zu: '%s' %s", name,
				line_no, shown ? shown : "?", problem);
			free(shown);
			goto fail;
		}
	}
	if (!have_root || len > 0) {
		set_err(err, err_size,
			"'%s' is truncated or damaged near line %zu (a manifest ends with its root line)",
			name, line_no);
		goto fail;
	}
	if (root_digest(out, out->root) ||
	    memcmp(root, out->root, sizeof(root)) != 0) {
		set_err(err, err_size,
			"'%s': the root digest does not match its entries (the manifest was changed)",
			name);
		goto fail;
	}
	free(line);
	return 0;

fail:
	free(line);
	manifest_free(out);
	return -1;
}

/* ---- writing ---- */

void manifest_write_text(const struct manifest *m, FILE *out)
{
	char root[65];

	fprintf(out, "%s %d\n", MANIFEST_MAGIC, MANIFEST_VERSION);
	for (size_t i = 0; i < m->n_entries; i++) {
		char *line = manifest_format_entry(&m->entries[i]);

		fprintf(out, "%s\n", line ? line : "");
		free(line);
	}
	hex(m->root, sizeof(m->root), root);
	fprintf(out, "root %s\n", root);
}

/* The length of the well-formed UTF-8 sequence at p (RFC 3629: no
 * overlong forms, no surrogates, at most U+10FFFF), or 0. */
static size_t utf8_sequence(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (p[0] == 0xe0)
		lo = 0xa0;
	else if (p[0] == 0xed)
		hi = 0x9f;
	else if (p[0] == 0xf0)
		lo = 0x90;
	else if (p[0] == 0xf4)
		hi = 0x8f;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < len; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return len;
}

/* A name as a JSON string: UTF-8 as it is, control characters escaped,
 * and each byte that is not UTF-8 (names need not be) as the lone
 * surrogate U+DC80 + byte - 0x80, as Python's surrogateescape does, so
 * that the bytes can be had back. */
static void json_string(FILE *out, const char *s)
{
	fputc('"', out);
	for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
		size_t len;

		if (*c == '"' || *c == '\\') {
			fprintf(out, "\\%c", *c);
		} else if (*c < 0x20 || *c == 0x7f) {
			fprintf(out, "\\u%04x", *c);
		} else if (*c < 0x80) {
			fputc(*c, out);
		} else if ((len = utf8_sequence(c)) > 0) {
			fwrite(c, 1, len, out);
			c += len - 1;
		} else {
			fprintf(out, "\\udc%02x", *c);
		}
	}
	fputc('"', out);
}

void manifest_write_json(const struct manifest *m, FILE *out)
{
	static const char *const type_names[] = {['f' - 'd'] = "file",
						 ['d' - 'd'] = "dir",
						 ['l' - 'd'] = "symlink"};
	char digest[65];

	hex(m->root, sizeof(m->root), digest);
	fprintf(out,
		"{\"format\": \"%s\", \"version\": %d, \"root\": \"%s\", "
		"\"entries\": [",
		MANIFEST_MAGIC, MANIFEST_VERSION, digest);
	for (size_t i = 0; i < m->n_entries; i++) {
		const struct manifest_entry *e = &m->entries[i];

		fprintf(out, "%s\n  {\"path\": ", i ? "," : "");
		json_string(out, e->path);
		fprintf(out,
			", \"type\": \"%s\", \"mode\": \"%04o\", \"size\": %llu",
			type_names[e->type - 'd'], (unsigned)e->mode,
			(unsigned long long)e->size);
		if (e->type == 'f') {
			hex(e->sha256, sizeof(e->sha256), digest);
			fprintf(out, ", \"sha256\": \"%s\"", digest);
		}
		if (e->target) {
			fprintf(out, ", \"target\": ");
			json_string(out, e->target);
		}
		fputc('}', out);
	}
	fprintf(out, "\n]}\n");
}
