/*
 * manifest: a deterministic description of a tree under the canonical
 * rules, for reproducibility audits.
 *
 * Text format, version 1 (one entry per line, sorted by path bytes):
 *
 *   canonfs-manifest 1
 *   TYPE MODE SIZE SHA256 PATH [TARGET]
 *   ...
 *   root SHA256
 *
 * TYPE is f (file), d (directory) or l (symlink); MODE the canonical mode
 * in octal (0644, 0755, 0777); SIZE the file size, the target's length
 * for a symlink, 0 for a directory; SHA256 the file's digest, "-"
 * otherwise; PATH relative to the tree ("." is the tree itself); TARGET
 * the symlink's target as the canonical view shows it. PATH and TARGET
 * escape every byte outside '!'..'~' and the backslash as \xHH. The root
 * digest is the SHA-256 of all entry lines, each with its newline.
 * Devices, FIFOs and sockets are left out, as the mount leaves them out.
 */
#ifndef CANONFS_MANIFEST_H
#define CANONFS_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define MANIFEST_MAGIC "canonfs-manifest"
#define MANIFEST_VERSION 1

struct manifest_entry {
	char *path;  /* owned; relative, "." for the root */
	char type;   /* 'f', 'd' or 'l' */
	mode_t mode; /* canonical permission bits */
	uint64_t size;
	unsigned char sha256[32]; /* files only */
	char *target;		  /* owned; symlinks only, else NULL */
};

struct manifest {
	struct manifest_entry *entries; /* owned; sorted by path bytes */
	size_t n_entries;
	unsigned char root[32];
};

/*
 * Describe the tree at `dir`: walk it, hash its files on `threads`
 * threads, sort, and compute the root digest. progress, when not NULL
 * (a terminal), gets a status line while it works, wiped at the end
 * (progress.h). Each entry is one state its
 * file had (a file is read again when it changes while it is hashed); an
 * entry removed while the tree is described is left out. Returns 0 with
 * err empty, or with one warning line in err naming what was left out;
 * or -1 with one line in err (an unreadable entry, a file that changed
 * each time it was read).
 */
int manifest_build(const char *dir, int threads, FILE *progress,
		   struct manifest *out, char *err, size_t err_size);

/*
 * Describe, in the tree at `dir`, just the paths of manifest `wanted` (the
 * inputs a trace recorded), files hashed: a path that is gone is left
 * out. Returns 0, or -1 with one line in err.
 */
int manifest_describe_paths(const char *dir, const struct manifest *wanted,
			    struct manifest *out, char *err, size_t err_size);

/* Read a text manifest. Returns 0, or -1 with one line in err (unknown
 * format or version, a malformed or truncated manifest, entries out of
 * order, repeated, or with a path that manifest_path_is_valid refuses, a
 * root digest that does not match). */
int manifest_read(FILE *in, const char *name, struct manifest *out, char *err,
		  size_t err_size);

/* Sort the entries and compute the root digest of a manifest put together
 * by hand (the trace does). Returns 0 or -1 when out of memory. */
int manifest_finish(struct manifest *m);

/* Whether `path` can name an entry: "." (the tree itself), or names
 * joined by single '/', none of them "." or "..", not starting with '/'.
 * Any other path could lead out of the tree or name an entry twice. */
bool manifest_path_is_valid(const char *path);

/* The SHA-256 of the file behind fd, read from its start. Returns 0 or an
 * errno value. */
int manifest_hash_fd(int fd, unsigned char out[32]);

void manifest_write_text(const struct manifest *m, FILE *out);
void manifest_write_json(const struct manifest *m, FILE *out);
void manifest_free(struct manifest *m);

/* One entry line, without newline, into a malloc'd string. */
char *manifest_format_entry(const struct manifest_entry *e);

/* \xHH escaping of a path or target (malloc'd), and its inverse (returns
 * NULL on a malformed escape). */
char *manifest_escape(const char *s);
char *manifest_unescape(const char *s);

#endif
