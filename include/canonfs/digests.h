/*
 * digests: the SHA-256 and the git blob id of host files, cached by what
 * identifies a version of a file on the host: (dev, ino, size, mtime,
 * ctime). A warm stat under the content-derived time modes, and the
 * system-header digest of `canonfs env`, then cost a table lookup instead
 * of reading the file. Both sums come from one read.
 *
 * The cache is kept across mounts in a file of this machine (default
 * $XDG_CACHE_HOME/canonfs/digests, else ~/.cache/canonfs/digests):
 *
 *   "canonfs-digests 3\n", then fixed 112-byte records in host byte order:
 *   dev, ino, size, mtime s, mtime ns, ctime s, ctime ns (7 x 64 bits),
 *   the SHA-256, the blob id (20 bytes), and a 32-bit check of the
 *   preceding 108 bytes (a multiply-rotate hash of 13 64-bit words and
 *   one 32-bit one, folded: see record_check in fs/digests.c).
 *
 * Format 2 had the same records with a byte-wise FNV-1a check, eight
 * times slower to verify: such a file is read and rewritten in format 3
 * at its first load. A file of format 1 (SHA-256 only) is started anew.
 *
 * Records are appended (the last one of a file wins) and the file is
 * rewritten without duplicates when they outnumber the live entries.
 * Records with a bad check are skipped, so a torn append costs entries,
 * never a wrong digest. Daemons share the file: each appends to whatever
 * file the path names (another may have rewritten it). A rewrite goes
 * where a symlink points and keeps the file's mode and owner; another
 * user's file is never rewritten (a format 2 one keeps format 2 records).
 *
 * A file changed less than DIGESTS_RACY_SECONDS ago is hashed every time
 * and never remembered: an edit in the same timestamp tick with the same
 * size would otherwise keep its old digest (git's "racy" rule).
 */
#ifndef CANONFS_DIGESTS_H
#define CANONFS_DIGESTS_H

#include <stddef.h>
#include <sys/stat.h>

#define DIGESTS_MAGIC "canonfs-digests 3\n"
#define DIGESTS_MAGIC_V2 "canonfs-digests 2\n"
#define DIGESTS_MAGIC_V1 "canonfs-digests 1\n"
#define DIGESTS_RACY_SECONDS 2

struct digest_cache;

/*
 * A cache backed by file path (created with its directory when missing),
 * or memory only when path is NULL. Returns NULL with one line in err: the
 * file cannot be created, or exists and is not a digest cache (it is never
 * overwritten then).
 */
struct digest_cache *digests_open(const char *path, char *err, size_t err_size);

/* The default file ($XDG_CACHE_HOME or $HOME/.cache). Returns 0, or -1
 * when neither variable is set. */
int digests_default_path(char *out, size_t out_size);

/* The two sums kept of a file's bytes. */
struct digests_pair {
	unsigned char sha256[32];
	unsigned char blob_id[20]; /* git's: SHA-1 of "blob SIZE\0" BYTES */
};

/*
 * Both sums of the regular file behind fd (any descriptor, O_PATH
 * included), whose fstat is st. Returns 0 or an errno value.
 */
int digests_get_pair(struct digest_cache *cache, int fd, const struct stat *st,
		     struct digests_pair *out);

/*
 * The SHA-256 of the regular file behind fd (any descriptor, O_PATH
 * included: it is reopened for reading), whose fstat is st. Returns 0 or
 * an errno value.
 */
int digests_get(struct digest_cache *cache, int fd, const struct stat *st,
		unsigned char out[32]);

/* How many digests were computed by reading files, and how many were
 * answered from the cache (MNT/.canonfs/stats shows both). */
void digests_counts(struct digest_cache *cache, unsigned long *hashed,
		    unsigned long *cached);

/* Write what is not yet in the file, and free; NULL is fine. */
void digests_close(struct digest_cache *cache);

#endif
