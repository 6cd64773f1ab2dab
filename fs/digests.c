/*
 * digests: the SHA-256 cache keyed by host file version (see
 * include/canonfs/digests.h).
 */
#include "canonfs/digests.h"

#include "canonfs/canon.h"
#include "canonfs/hostpath.h"

#include <openssl/evp.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define RECORD_SIZE 112
#define CHECKED_SIZE (RECORD_SIZE - 4)
#define FLUSH_BYTES (64 * 1024)
#define PENDING_MAX (FLUSH_BYTES / RECORD_SIZE)
/* Entries made room for before a load, at most: a file that is mostly
 * garbage (a broken disk, someone else's data) must not cost memory by
 * its size; the valid records beyond this grow the arrays as usual. */
#define LOAD_RESERVE_MAX ((size_t)1 << 20)

/* What identifies one version of a host file. */
struct file_version {
	uint64_t dev, ino;
	int64_t size;
	int64_t mtime_s, mtime_ns, ctime_s, ctime_ns;
};

struct digest_entry {
	struct file_version version;
	struct digests_pair sums;
};

struct digest_cache {
	pthread_mutex_t lock;
	/* The entries in one array, found through open-addressing slots on
	 * dev+ino: a cache of hundreds of thousands of files (every tree
	 * ever mounted here) loads in milliseconds, with no allocation per
	 * entry. It is loaded at a mount's first digest, under the lock,
	 * while the first walk waits. */
	struct digest_entry *entries;
	size_t n_entries, entries_cap;
	uint64_t *slots;   /* hash << 32 | entry index + 1; 0: free */
	size_t slots_mask; /* slot count - 1, a power of two */
	char *path;	   /* NULL: memory only; symlinks resolved */
	int fd;		   /* the file, O_APPEND; -1 when none */
	int format;	   /* of the records appended: 3, or 2 for a
			      format 2 file this daemon may not rewrite */
	bool loaded;	   /* records read (lazily, at first use) */
	struct digest_entry *pending; /* not yet written */
	size_t n_pending;
	unsigned long hashed, cached; /* counters, under the lock */
};

/* The check of a format 2 record: FNV-1a, a byte at a time (50 ms for a
 * cache of 290,000 records: read only to carry a file over). */
static uint32_t fnv1a(const unsigned char *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

/* The check of a record now: the same bytes taken 64 bits at a time. */
static uint32_t record_check(const unsigned char *rec)
{
	uint64_t h = 0xcbf29ce484222325ull, word;
	uint32_t tail;

	for (size_t i = 0; i + 8 <= CHECKED_SIZE; i += 8) {
		memcpy(&word, rec + i, 8);
		h = ((h ^ word) << 29 | (h ^ word) >> 35) *
		    0x9e3779b97f4a7c15ull;
	}
	memcpy(&tail, rec + CHECKED_SIZE - 4, 4);
	h = (h ^ tail) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h ^ h >> 32);
}

static void version_of(const struct stat *st, struct file_version *v)
{
	*v = (struct file_version){
		.dev = st->st_dev,
		.ino = st->st_ino,
		.size = st->st_size,
		.mtime_s = st->st_mtim.tv_sec,
		.mtime_ns = st->st_mtim.tv_nsec,
		.ctime_s = st->st_ctim.tv_sec,
		.ctime_ns = st->st_ctim.tv_nsec,
	};
}

/* A record of the given format (2 or 3). */
static void encode(const struct digest_entry *e, int format, unsigned char *rec)
{
	uint32_t check;

	memcpy(rec, &e->version, sizeof(e->version));
	memcpy(rec + 56, e->sums.sha256, 32);
	memcpy(rec + 88, e->sums.blob_id, 20);
	check = format == 2 ? fnv1a(rec, CHECKED_SIZE) : record_check(rec);
	memcpy(rec + CHECKED_SIZE, &check, 4);
}

/* A record of the given format (2 or 3): false if its check fails. */
static bool decode(const unsigned char *rec, int format, struct digest_entry *e)
{
	uint32_t check;

	memcpy(&check, rec + CHECKED_SIZE, 4);
	if (check !=
	    (format == 2 ? fnv1a(rec, CHECKED_SIZE) : record_check(rec)))
		return false;
	memcpy(&e->version, rec, sizeof(e->version));
	memcpy(e->sums.sha256, rec + 56, 32);
	memcpy(e->sums.blob_id, rec + 88, 20);
	return true;
}

static uint64_t hash_of(const struct file_version *v)
{
	uint64_t h = (v->ino ^ v->dev * 0x9e3779b97f4a7c15ull) *
		     0xbf58476d1ce4e5b9ull;

	return h ^ h >> 31;
}

/* The slot of v's dev+ino, or the free slot where it goes. The slots are
 * at most half full, so a free one is always found. The hash's upper half
 * kept in the slot spares most visits to other entries. */
static uint64_t *find_slot(struct digest_cache *c, const struct file_version *v)
{
	uint64_t h = hash_of(v), tag = h & 0xffffffff00000000ull;

	for (size_t i = (size_t)h & c->slots_mask;;
	     i = (i + 1) & c->slots_mask) {
		uint64_t *slot = &c->slots[i];
		const struct file_version *had;

		if (*slot == 0)
			return slot;
		if ((*slot & 0xffffffff00000000ull) != tag)
			continue;
		had = &c->entries[(uint32_t)*slot - 1].version;
		if (had->dev == v->dev && had->ino == v->ino)
			return slot;
	}
}

/* Point slot at entry i (of version v). */
static void fill_slot(uint64_t *slot, const struct file_version *v, size_t i)
{
	*slot = (hash_of(v) & 0xffffffff00000000ull) | ((uint64_t)i + 1);
}

/*
 * The entries and the slots take tens of MB for a machine's cache, and
 * taking the faults of fresh memory 4 KiB at a time cost more than the
 * load itself (150 ms for 36 MB on a 2-core VM): they are mapped, in huge
 * pages where the kernel allows, and a new mapping (the load's, sized to
 * the file, or new slots, all written at once) populated in one call. A
 * grown one is not: only its first half is in use.
 */
static void *map_memory(void *old, size_t old_bytes, size_t bytes)
{
	void *p = old ? mremap(old, old_bytes, bytes, MREMAP_MAYMOVE)
		      : mmap(NULL, bytes, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	/* Advice only: without either, the pages come at first touch. */
	madvise(p, bytes, MADV_HUGEPAGE);
	if (!old)
		madvise(p, bytes, MADV_POPULATE_WRITE);
	return p;
}

static void unmap_memory(void *p, size_t bytes)
{
	if (p)
		munmap(p, bytes);
}

/* Room for n entries, slots at most half full: false when out of memory
 * (the entry is then not cached, no harm). Holds the lock. */
static bool reserve(struct digest_cache *c, size_t n)
{
	size_t count = 1024;
	uint64_t *slots;

	if (n >= UINT32_MAX / 2)
		return false;
	if (n > c->entries_cap) {
		size_t cap = c->entries_cap * 2 > n ? c->entries_cap * 2 : n;
		struct digest_entry *grown =
			map_memory(c->entries, c->entries_cap * sizeof(*grown),
				   cap * sizeof(*grown));

		if (!grown)
			return false;
		c->entries = grown;
		c->entries_cap = cap;
	}
	if (c->slots && 2 * n <= c->slots_mask + 1)
		return true;
	while (count < 2 * n)
		count *= 2;
	if (!(slots = map_memory(NULL, 0, count * sizeof(*slots))))
		return false;
	unmap_memory(c->slots, (c->slots_mask + 1) * sizeof(*slots));
	c->slots = slots;
	c->slots_mask = count - 1;
	for (size_t i = 0; i < c->n_entries; i++)
		fill_slot(find_slot(c, &c->entries[i].version),
			  &c->entries[i].version, i);
	return true;
}

/* The entry of exactly version v, or NULL. Holds the lock. */
static const struct digest_entry *lookup(struct digest_cache *c,
					 const struct file_version *v)
{
	const struct digest_entry *e;
	uint64_t slot;

	if (!c->slots || !(slot = *find_slot(c, v)))
		return NULL;
	e = &c->entries[(uint32_t)slot - 1];
	return memcmp(&e->version, v, sizeof(*v)) == 0 ? e : NULL;
}

/* Insert or replace; the caller holds the lock. */
static void remember(struct digest_cache *c, const struct file_version *v,
		     const struct digests_pair *sums)
{
	uint64_t *slot;

	if (!reserve(c, c->n_entries + 1))
		return;
	slot = find_slot(c, v);
	if (*slot == 0)
		fill_slot(slot, v, c->n_entries++);
	c->entries[(uint32_t)*slot - 1] = (struct digest_entry){*v, *sums};
}

/* The file's format from its first bytes: 3, 2, or 0 (not ours). */
static int format_of(const char *head, size_t len)
{
	size_t magic_len = strlen(DIGESTS_MAGIC);

	if (len < magic_len)
		return 0;
	if (memcmp(head, DIGESTS_MAGIC, magic_len) == 0)
		return 3;
	return memcmp(head, DIGESTS_MAGIC_V2, magic_len) == 0 ? 2 : 0;
}

/* The cache file at path, opened to append (not created): the descriptor
 * and its format, or -1 when it is not there or not a cache of ours. */
static int open_appender(const char *path, int *format)
{
	char head[32];
	ssize_t got;
	int fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);

	if (fd < 0)
		return -1;
	got = pread(fd, head, strlen(DIGESTS_MAGIC), 0);
	if ((*format = format_of(head, got > 0 ? (size_t)got : 0)))
		return fd;
	close(fd);
	return -1;
}

/*
 * Another daemon sharing the file may have rewritten it (compaction, a
 * format 2 carry-over): the path then names a new file, and appends to
 * the old descriptor would go to an unlinked one, lost for the rest of
 * this daemon's life. So the descriptor follows the path. Holds the lock.
 */
static void follow_rewrite(struct digest_cache *c)
{
	struct stat named, held;

	if (c->fd < 0 || stat(c->path, &named) != 0 ||
	    fstat(c->fd, &held) != 0 ||
	    (named.st_dev == held.st_dev && named.st_ino == held.st_ino))
		return;
	close(c->fd);
	c->fd = open_appender(c->path, &c->format);
}

/* Whether this daemon may rewrite the file (whose stat is file) in its
 * place: its owner may, and root, who keeps the owner. Another user's
 * file, in a shared directory, would otherwise become this user's, which
 * its owner's daemons could no longer append to. */
static bool may_rewrite(const struct stat *file)
{
	return file->st_uid == geteuid() || geteuid() == 0;
}

/* Rewrite the file (whose stat is was) with one record per live entry:
 * temporary + rename, so a crash leaves the old file or the new one; the
 * new one with the old one's mode and owner. False if it could not be.
 * Records another daemon appends to the old file meanwhile are lost (they
 * are hashed again when next needed). Holds the lock. */
static bool compact(struct digest_cache *c, const struct stat *was)
{
	char tmp[PATH_MAX];
	unsigned char rec[RECORD_SIZE];
	FILE *out;
	int fd, format;

	if (!(out = hostpath_create_temp(c->path, tmp, sizeof(tmp))))
		return false;
	if (fchmod(fileno(out), was->st_mode & 07777) != 0 ||
	    (was->st_uid != geteuid() &&
	     fchown(fileno(out), was->st_uid, was->st_gid) != 0)) {
		fclose(out);
		unlink(tmp);
		return false;
	}
	fputs(DIGESTS_MAGIC, out);
	for (size_t i = 0; i < c->n_entries; i++) {
		encode(&c->entries[i], 3, rec);
		fwrite(rec, 1, sizeof(rec), out);
	}
	if (hostpath_commit(out, tmp, c->path))
		return false;
	fd = open_appender(c->path, &format);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = fd;
	c->format = format;
	return true;
}

/* Read every record of the file, a chunk at a time. A file of format 2
 * is rewritten in the current one, or else appended to in its own. Holds
 * the lock. */
static void load(struct digest_cache *c)
{
	size_t magic_len = strlen(DIGESTS_MAGIC), len = 0, pos = magic_len;
	size_t records = 0, chunk = 1 << 20;
	unsigned char *data;
	struct digest_entry e;
	struct stat st;
	int rfd, format = 0;
	ssize_t got = 0;

	c->loaded = true;
	if (c->fd < 0 || (rfd = open(c->path, O_RDONLY | O_CLOEXEC)) < 0)
		return;
	if (fstat(rfd, &st) != 0 || !(data = malloc(chunk))) {
		close(rfd);
		return;
	}
	/* Rewritten since this daemon opened it: read and append the same. */
	follow_rewrite(c);
	/* One allocation for all the entries the file can hold. */
	if (st.st_size > 0)
		reserve(c, (size_t)st.st_size / RECORD_SIZE < LOAD_RESERVE_MAX
				   ? (size_t)st.st_size / RECORD_SIZE
				   : LOAD_RESERVE_MAX);
	while ((got = read(rfd, data + len, chunk - len)) > 0) {
		len += (size_t)got;
		if (!format && len >= magic_len)
			format =
				format_of((const char *)data, len) == 2 ? 2 : 3;
		/* A bad record (a torn append) is skipped byte by byte until
		 * the records line up again. */
		while (pos + RECORD_SIZE <= len) {
			if (decode(data + pos, format, &e)) {
				remember(c, &e.version, &e.sums);
				records++;
				pos += RECORD_SIZE;
			} else {
				pos++;
			}
		}
		if (pos > len)
			pos = len; /* the magic is longer than a short file */
		memmove(data, data + pos, len - pos);
		len -= pos;
		pos = 0;
	}
	close(rfd);
	free(data);
	/* A rewrite from a partial read would drop the rest. */
	if (got < 0 || !may_rewrite(&st))
		return;
	/* Carried over from format 2, or rid of superseded records. */
	if (c->format == 2 || (records > 4096 && records > 2 * c->n_entries))
		compact(c, &st);
}

int digests_default_path(char *out, size_t out_size)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int n;

	if (xdg && xdg[0] == '/')
		n = snprintf(out, out_size, "%s/canonfs/digests", xdg);
	else if (home && home[0] == '/')
		n = snprintf(out, out_size, "%s/.cache/canonfs/digests", home);
	else
		return -1;
	return n < 0 || (size_t)n >= out_size ? -1 : 0;
}

/* Write the magic of a new (or restarted) file at its start. Two
 * daemons may race here: both write the same bytes at offset 0, which an
 * O_APPEND descriptor would instead add at the end. */
static bool write_magic(int fd)
{
	size_t magic_len = strlen(DIGESTS_MAGIC);
	int flags = fcntl(fd, F_GETFL);
	bool done;

	if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_APPEND) != 0)
		return false;
	done = pwrite(fd, DIGESTS_MAGIC, magic_len, 0) == (ssize_t)magic_len;
	return fcntl(fd, F_SETFL, flags) == 0 && done;
}

/* Open (or create) the file and check it is ours. Returns the descriptor
 * and the file's format, or -1 with one line in err. */
static int open_file(const char *path, int *format, char *err, size_t err_size)
{
	size_t magic_len = strlen(DIGESTS_MAGIC);
	char head[32];
	ssize_t got;
	int fd;

	fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, err_size,
			 "digest cache '%s': %s (give another file with -o "
			 "digests=FILE, or -o digests=none)",
			 path, strerror(errno));
		return -1;
	}
	got = pread(fd, head, magic_len, 0);
	*format = 3;
	if (got == 0) {
		if (write_magic(fd))
			return fd;
	} else if (got > 0 && (*format = format_of(head, (size_t)got))) {
		return fd; /* format 2 is carried over at the load */
	} else if (got == (ssize_t)magic_len &&
		   memcmp(head, DIGESTS_MAGIC_V1, magic_len) == 0) {
		/* Ours, from before blob ids: started anew. */
		*format = 3;
		if (ftruncate(fd, 0) == 0 && write_magic(fd))
			return fd;
	}
	close(fd);
	snprintf(err, err_size,
		 "digest cache '%s' is not a canonfs digest cache (left "
		 "untouched; give another file with -o digests=FILE)",
		 path);
	return -1;
}

struct digest_cache *digests_open(const char *path, char *err, size_t err_size)
{
	struct digest_cache *c = calloc(1, sizeof(*c));
	char *real;

	if (!c) {
		snprintf(err, err_size, "out of memory");
		return NULL;
	}
	pthread_mutex_init(&c->lock, NULL);
	c->fd = -1;
	c->format = 3;
	if (path) {
		if (!(c->path = strdup(path)) ||
		    (c->fd = open_file(path, &c->format, err, err_size)) < 0) {
			if (!c->path)
				snprintf(err, err_size, "out of memory");
			digests_close(c);
			return NULL;
		}
		/* Rewrites replace the file a symlink points to, not the
		 * link (a cache kept on a shared volume stays there). */
		if ((real = realpath(path, NULL))) {
			free(c->path);
			c->path = real;
		}
	}
	return c;
}

/* Write the pending records in one write: O_APPEND keeps concurrent
 * daemons' batches whole. A full disk costs cached entries, nothing
 * else. Holds the lock. */
static void write_pending(struct digest_cache *c)
{
	unsigned char *buf;

	if (c->n_pending == 0)
		return;
	follow_rewrite(c);
	if (c->fd >= 0 && (buf = malloc(c->n_pending * RECORD_SIZE))) {
		for (size_t i = 0; i < c->n_pending; i++)
			encode(&c->pending[i], c->format,
			       buf + i * RECORD_SIZE);
		if (write(c->fd, buf, c->n_pending * RECORD_SIZE) < 0) {
			/* entries lost, no harm */
		}
		free(buf);
	}
	c->n_pending = 0;
}

/* Queue one record, written in FLUSH_BYTES batches. Holds the lock. */
static void queue_record(struct digest_cache *c, const struct file_version *v,
			 const struct digests_pair *sums)
{
	if (c->fd < 0)
		return;
	if (!c->pending &&
	    !(c->pending = malloc(PENDING_MAX * sizeof(*c->pending))))
		return;
	c->pending[c->n_pending++] =
		(struct digest_entry){.version = *v, .sums = *sums};
	if (c->n_pending == PENDING_MAX)
		write_pending(c);
}

#define NS 1000000000LL

static bool is_racy(const struct stat *st)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	/* Nanoseconds: whole seconds would stretch the window to 3 s. */
	return canon_ns_of(&st->st_ctim) >
		       canon_ns_of(&now) - DIGESTS_RACY_SECONDS * NS ||
	       canon_ns_of(&st->st_mtim) >
		       canon_ns_of(&now) - DIGESTS_RACY_SECONDS * NS;
}

/* One pass over the bytes behind fd (from offset 0) for both sums. The
 * blob id's header names the size, taken from fstat first: EAGAIN when
 * the file changed size while it was read. */
static int hash_pass(int fd, EVP_MD_CTX *sha256, EVP_MD_CTX *sha1, char *buf,
		     size_t buf_size, struct digests_pair *out)
{
	char header[32];
	int header_len;
	struct stat st;
	off_t done = 0;
	ssize_t got;

	if (fstat(fd, &st) || lseek(fd, 0, SEEK_SET) < 0)
		return errno;
	header_len = snprintf(header, sizeof(header), "blob %lld",
			      (long long)st.st_size);
	if (!EVP_DigestInit_ex(sha256, EVP_sha256(), NULL) ||
	    !EVP_DigestInit_ex(sha1, EVP_sha1(), NULL) ||
	    !EVP_DigestUpdate(sha1, header, (size_t)header_len + 1))
		return ENOMEM;
	while ((got = read(fd, buf, buf_size)) > 0) {
		EVP_DigestUpdate(sha256, buf, (size_t)got);
		EVP_DigestUpdate(sha1, buf, (size_t)got);
		done += got;
	}
	if (got < 0)
		return errno;
	if (done != st.st_size)
		return EAGAIN;
	if (!EVP_DigestFinal_ex(sha256, out->sha256, NULL) ||
	    !EVP_DigestFinal_ex(sha1, out->blob_id, NULL))
		return ENOMEM;
	return 0;
}

/* Both sums, a few passes allowed for a file that is being written. */
static int hash_both(int fd, struct digests_pair *out)
{
	EVP_MD_CTX *sha256 = EVP_MD_CTX_new(), *sha1 = EVP_MD_CTX_new();
	size_t buf_size = 1 << 16;
	char *buf = malloc(buf_size);
	int err = ENOMEM;

	for (int pass = 0; pass < 3 && sha256 && sha1 && buf; pass++)
		if ((err = hash_pass(fd, sha256, sha1, buf, buf_size, out)) !=
		    EAGAIN)
			break;
	EVP_MD_CTX_free(sha256);
	EVP_MD_CTX_free(sha1);
	free(buf);
	return err;
}

/* SHA-256 of no bytes, and git's blob id of an empty file. */
static const struct digests_pair empty_sums = {
	.sha256 = {0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
		   0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
		   0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
		   0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55},
	.blob_id = {0xe6, 0x9d, 0xe2, 0x9b, 0xb2, 0xd1, 0xd6, 0x43, 0x4b, 0x8b,
		    0x29, 0xae, 0x77, 0x5a, 0xd8, 0xc2, 0xe4, 0x8c, 0x53, 0x91},
};

int digests_get_pair(struct digest_cache *c, int fd, const struct stat *st,
		     struct digests_pair *out)
{
	struct file_version want, after;
	const struct digest_entry *e;
	char proc[32];
	struct stat now;
	int read_fd, err;

	/* A version of no bytes has known sums: nothing to read or keep
	 * (a tree of many empty files would fill the cache with them). */
	if (st->st_size == 0) {
		*out = empty_sums;
		return 0;
	}
	version_of(st, &want);
	pthread_mutex_lock(&c->lock);
	if (!c->loaded)
		load(c);
	if ((e = lookup(c, &want))) {
		*out = e->sums;
		c->cached++;
		pthread_mutex_unlock(&c->lock);
		return 0;
	}
	c->hashed++;
	pthread_mutex_unlock(&c->lock);

	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	read_fd = open(proc, O_RDONLY | O_CLOEXEC | O_NOATIME);
	if (read_fd < 0 && errno == EPERM)
		read_fd = open(proc, O_RDONLY | O_CLOEXEC);
	if (read_fd < 0)
		return errno;
	err = hash_both(read_fd, out);
	/* Remember only what is known to be the version asked about. */
	if (!err && fstat(read_fd, &now) == 0) {
		version_of(&now, &after);
		if (memcmp(&after, &want, sizeof(want)) == 0 &&
		    !is_racy(&now)) {
			pthread_mutex_lock(&c->lock);
			remember(c, &want, out);
			queue_record(c, &want, out);
			pthread_mutex_unlock(&c->lock);
		}
	}
	close(read_fd);
	return err;
}

int digests_get(struct digest_cache *c, int fd, const struct stat *st,
		unsigned char out[32])
{
	struct digests_pair sums;
	int err = digests_get_pair(c, fd, st, &sums);

	if (!err)
		memcpy(out, sums.sha256, 32);
	return err;
}

void digests_counts(struct digest_cache *c, unsigned long *hashed,
		    unsigned long *cached)
{
	pthread_mutex_lock(&c->lock);
	*hashed = c->hashed;
	*cached = c->cached;
	pthread_mutex_unlock(&c->lock);
}

void digests_close(struct digest_cache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	write_pending(c);
	pthread_mutex_unlock(&c->lock);
	unmap_memory(c->entries, c->entries_cap * sizeof(*c->entries));
	if (c->slots)
		unmap_memory(c->slots, (c->slots_mask + 1) * sizeof(*c->slots));
	if (c->fd >= 0)
		close(c->fd);
	free(c->pending);
	free(c->path);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
