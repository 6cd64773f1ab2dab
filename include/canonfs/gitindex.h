/*
 * gitindex: what a git checkout's index knows of its files, read once at
 * mount time.
 *
 * The index holds, per tracked path, the blob id git computed for its
 * content and the host stat data the file had then. Where the file's stat
 * still matches and the entry is not racy (modified in the same second
 * the index was written, git's own rule), the blob id is the content's,
 * so the daemon can derive canonical times without reading the file: a
 * fresh clone's first walk hashes nothing. Anywhere else the blob id is
 * still what the checkout brought for that path, which tells a tracked
 * file edited before the baseline from one that is clean.
 *
 * Only SHA-1 repositories with versions 2 to 4 of the index are read; a
 * split index, a SHA-256 repository or a malformed file gives no index,
 * and says it could not be read (the caller then shows host times: it
 * cannot tell the checkout's files from outputs).
 *
 * Ownership: gitindex_load allocates; gitindex_free frees all of it. A
 * loaded index is immutable, so readers need no lock.
 */
#ifndef CANONFS_GITINDEX_H
#define CANONFS_GITINDEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define GITINDEX_OID_SIZE 20

enum gitindex_answer {
	GITINDEX_NONE,	    /* no index to ask (not a git checkout) */
	GITINDEX_UNTRACKED, /* no entry for the path */
	GITINDEX_CLEAN,	    /* stat matches a non-racy entry: oid is valid */
	GITINDEX_UNKNOWN,   /* tracked, stat differs: oid is the index's,
			       the file's content must be hashed */
	GITINDEX_CONFLICT,  /* unmerged (stages 1-3): never canonical */
};

struct gitindex;

/*
 * The index of the work tree containing host_dir (host_dir or the nearest
 * ancestor with a .git directory or file), or NULL when there is none,
 * it cannot be read, it is in a form not read (see above), or it tracks
 * nothing under host_dir. A .git not
 * owned by root, the daemon's user or host_dir's owner is ignored, as git
 * ignores a repository of another user. *unreadable: host_dir is in a
 * work tree, but its index could not be read (a form not read, a
 * malformed or unreadable file): its files cannot be told from outputs.
 */
struct gitindex *gitindex_load(const char *host_dir, bool *unreadable);

/* Parse an index file's bytes (pure; for the unit tests and the loader).
 * work_tree is the resolved root the paths are relative to; only paths
 * under prefix (relative to it; "" for all) are kept; index_mtime is the
 * index file's mtime (racy entries). NULL on anything unexpected. */
struct gitindex *gitindex_parse(const unsigned char *data, size_t len,
				const char *work_tree, const char *prefix,
				const struct timespec *index_mtime);

/*
 * What the index says of the file at host_path (resolved, as the kernel
 * names it) whose fstat is st. Fills oid for CLEAN and UNKNOWN.
 */
enum gitindex_answer gitindex_find(const struct gitindex *index,
				   const char *host_path, const struct stat *st,
				   unsigned char oid[GITINDEX_OID_SIZE]);

/* The work tree root the paths are relative to. */
const char *gitindex_work_tree(const struct gitindex *index);

/* Number of entries (stage 0 and unmerged paths, each once). */
size_t gitindex_count(const struct gitindex *index);

void gitindex_free(struct gitindex *index);

/* The git blob id of bytes (SHA-1 of "blob <len>\0" and the bytes). */
void gitindex_blob_id(const void *bytes, size_t len,
		      unsigned char oid[GITINDEX_OID_SIZE]);

#endif
