/*
 * gitindex: a git checkout's index, read (see include/canonfs/gitindex.h).
 *
 * The format is git's Documentation/gitformat-index.txt: a 12-byte header
 * ("DIRC", version, entry count), the entries sorted by path, extensions,
 * and a checksum. Integers are big-endian.
 */
#include "canonfs/gitindex.h"

#include <openssl/evp.h>
#include <uthash.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The fixed part of an entry, up to and including the 16-bit flags. */
#define ENTRY_FIXED (40 + GITINDEX_OID_SIZE + 2)
#define FLAG_EXTENDED 0x4000
#define FLAG_ASSUME_VALID 0x8000
#define FLAG_STAGE 0x3000
#define FLAG_NAME_MASK 0x0fff
#define XFLAG_SKIP_WORKTREE 0x4000

struct index_entry {
	char *path; /* relative to the work tree; owned; the hash key */
	uint32_t ctime_s, ctime_ns, mtime_s, mtime_ns;
	uint32_t ino, mode, size;
	unsigned char oid[GITINDEX_OID_SIZE];
	bool stat_trusted; /* neither assume-valid nor skip-worktree */
	bool conflict;	   /* an unmerged path */
	UT_hash_handle hh;
};

struct gitindex {
	char *work_tree; /* resolved; owned */
	size_t work_tree_len;
	/* A filter other than Git LFS's is set for some path: what its
	 * smudge wrote may differ from the blob (per machine, at the same
	 * size), so no stat match vouches for the bytes. LFS's is kept: its
	 * pointer blob names the content's SHA-256. */
	bool filtered;
	struct timespec index_mtime;
	struct index_entry *entries; /* uthash by path */
	size_t count;
};

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

static uint16_t be16(const unsigned char *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

void gitindex_free(struct gitindex *index)
{
	struct index_entry *e, *next;

	if (!index)
		return;
	HASH_ITER (hh, index->entries, e, next) {
		HASH_DEL(index->entries, e);
		free(e->path);
		free(e);
	}
	free(index->work_tree);
	free(index);
}

/* Version 4's path prefix length: git's offset varint (each continuation
 * adds one before shifting, so every value has one encoding). */
static bool read_varint(const unsigned char **p, const unsigned char *end,
			size_t *out)
{
	size_t val;
	unsigned char c;

	if (*p >= end)
		return false;
	c = *(*p)++;
	val = c & 127;
	while (c & 128) {
		if (*p >= end || val > (SIZE_MAX >> 8))
			return false;
		c = *(*p)++;
		val = ((val + 1) << 7) | (c & 127);
	}
	*out = val;
	return true;
}

/* Add one entry; an unmerged path is kept once, as a conflict. */
static bool add_entry(struct gitindex *index, const unsigned char *fixed,
		      const char *path, size_t path_len, uint16_t xflags)
{
	uint16_t flags = be16(fixed + 40 + GITINDEX_OID_SIZE);
	struct index_entry *e;

	HASH_FIND(hh, index->entries, path, path_len, e);
	if (e) {
		e->conflict = true;
		return true;
	}
	if (!(e = calloc(1, sizeof(*e))) ||
	    !(e->path = strndup(path, path_len))) {
		free(e);
		return false;
	}
	e->ctime_s = be32(fixed);
	e->ctime_ns = be32(fixed + 4);
	e->mtime_s = be32(fixed + 8);
	e->mtime_ns = be32(fixed + 12);
	e->ino = be32(fixed + 20);
	e->mode = be32(fixed + 24);
	e->size = be32(fixed + 36);
	memcpy(e->oid, fixed + 40, GITINDEX_OID_SIZE);
	e->stat_trusted =
		!(flags & FLAG_ASSUME_VALID) && !(xflags & XFLAG_SKIP_WORKTREE);
	e->conflict = (flags & FLAG_STAGE) != 0;
	HASH_ADD_KEYPTR(hh, index->entries, e->path, path_len, e);
	index->count++;
	return true;
}

/* The entries of a version 2-4 index; *pos ends after the last one. */
static bool parse_entries(struct gitindex *index, const unsigned char *data,
			  size_t len, uint32_t version, uint32_t count,
			  const char *prefix, size_t *pos)
{
	size_t prefix_len = strlen(prefix);

	const unsigned char *p = data + 12, *end = data + len;
	char *prev = NULL, *path = NULL;
	size_t prev_len = 0;
	bool ok = false;

	for (uint32_t i = 0; i < count; i++) {
		const unsigned char *fixed = p, *name;
		uint16_t flags, xflags = 0;
		size_t name_len, strip = 0;

		if ((size_t)(end - p) < ENTRY_FIXED)
			goto out;
		flags = be16(p + 40 + GITINDEX_OID_SIZE);
		p += ENTRY_FIXED;
		if (flags & FLAG_EXTENDED) {
			if (version < 3 || end - p < 2)
				goto out;
			xflags = be16(p);
			p += 2;
		}
		if (version == 4 && !read_varint(&p, end, &strip))
			goto out;
		name = p;
		while (p < end && *p)
			p++;
		if (p >= end)
			goto out;
		name_len = (size_t)(p - name);
		p++; /* the NUL */
		if (version == 4) {
			if (strip > prev_len)
				goto out;
			free(path);
			if (!(path = malloc(prev_len - strip + name_len + 1)))
				goto out;
			memcpy(path, prev ? prev : "", prev_len - strip);
			memcpy(path + prev_len - strip, name, name_len);
			name_len += prev_len - strip;
			path[name_len] = '\0';
			free(prev);
			prev = path;
			path = NULL;
			prev_len = name_len;
			name = (const unsigned char *)prev;
		} else {
			/* Padded with 1-8 NULs to a multiple of 8 bytes. */
			size_t entry_len = (size_t)(p - fixed);

			entry_len = (entry_len + 7) & ~(size_t)7;
			if (entry_len > (size_t)(end - fixed))
				goto out;
			p = fixed + entry_len;
		}
		/* The flags' 12-bit length, saturated: a check of the
		 * parse. */
		if ((flags & FLAG_NAME_MASK) == FLAG_NAME_MASK
			    ? name_len < FLAG_NAME_MASK
			    : (flags & FLAG_NAME_MASK) != name_len)
			goto out;
		/* Only what is under the mirror is kept: the index of a
		 * monorepo may hold millions of other paths. */
		if (prefix_len && (name_len <= prefix_len ||
				   memcmp(name, prefix, prefix_len) != 0 ||
				   name[prefix_len] != '/'))
			continue;
		if (!add_entry(index, fixed, (const char *)name, name_len,
			       xflags))
			goto out;
	}
	*pos = (size_t)(p - data);
	ok = true;
out:
	free(prev);
	free(path);
	return ok;
}

/* A split index keeps most entries in another file: not read. */
static bool has_split_index(const unsigned char *data, size_t len, size_t pos)
{
	while (pos + 8 + GITINDEX_OID_SIZE <= len) {
		uint32_t size = be32(data + pos + 4);

		if (memcmp(data + pos, "link", 4) == 0)
			return true;
		if (size > len - pos - 8)
			break;
		pos += 8 + size;
	}
	return false;
}

struct gitindex *gitindex_parse(const unsigned char *data, size_t len,
				const char *work_tree, const char *prefix,
				const struct timespec *index_mtime)
{
	struct gitindex *index;
	uint32_t version, count;
	size_t pos;

	if (len < 12 + GITINDEX_OID_SIZE || memcmp(data, "DIRC", 4) != 0)
		return NULL;
	version = be32(data + 4);
	count = be32(data + 8);
	if (version < 2 || version > 4)
		return NULL;
	if (!(index = calloc(1, sizeof(*index))) ||
	    !(index->work_tree = strdup(work_tree))) {
		free(index);
		return NULL;
	}
	index->work_tree_len = strlen(work_tree);
	index->index_mtime = *index_mtime;
	if (!parse_entries(index, data, len, version, count, prefix, &pos) ||
	    has_split_index(data, len, pos)) {
		gitindex_free(index);
		return NULL;
	}
	return index;
}

/* The bytes of a file (malloc'd), up to max. */
static unsigned char *read_all(int fd, size_t max, size_t *len)
{
	struct stat st;
	unsigned char *data;
	size_t got = 0;
	ssize_t n;

	if (fstat(fd, &st) || !S_ISREG(st.st_mode) || st.st_size < 0 ||
	    (size_t)st.st_size > max ||
	    !(data = malloc((size_t)st.st_size + 1)))
		return NULL;
	while (got < (size_t)st.st_size &&
	       (n = read(fd, data + got, (size_t)st.st_size - got)) > 0)
		got += (size_t)n;
	*len = got;
	return data;
}

static bool owner_trusted(const struct stat *git, const struct stat *dir)
{
	return git->st_uid == 0 || git->st_uid == geteuid() ||
	       git->st_uid == dir->st_uid;
}

/* "gitdir: PATH" of a .git file, made absolute against its directory. */
static bool gitdir_of_file(const char *dot_git, const char *work_tree,
			   char *out, size_t out_size)
{
	char line[PATH_MAX + 16];
	size_t len;
	FILE *f = fopen(dot_git, "re");
	bool ok;

	if (!f)
		return false;
	ok = fgets(line, sizeof(line), f) && strncmp(line, "gitdir: ", 8) == 0;
	fclose(f);
	if (!ok)
		return false;
	len = strcspn(line + 8, "\n");
	line[8 + len] = '\0';
	if (line[8] == '/')
		return (size_t)snprintf(out, out_size, "%s", line + 8) <
		       out_size;
	return (size_t)snprintf(out, out_size, "%s/%s", work_tree, line + 8) <
	       out_size;
}

/* The directory holding the repository's config and info/ (a linked
 * worktree's common directory), in out. */
static void common_dir(const char *git_dir, char *out, size_t out_size)
{
	char path[2 * PATH_MAX], line[PATH_MAX];
	FILE *f;

	snprintf(out, out_size, "%s", git_dir);
	snprintf(path, sizeof(path), "%s/commondir", git_dir);
	if (!(f = fopen(path, "re")))
		return;
	if (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		snprintf(out, out_size, "%s%s%s", line[0] == '/' ? "" : git_dir,
			 line[0] == '/' ? "" : "/", line);
	}
	fclose(f);
}

/* Whether the repository's objects are named by SHA-256
 * (extensions.objectFormat), whose blob ids are not the ones canonical
 * times are made of. */
static bool uses_sha256(const char *git_dir)
{
	char path[2 * PATH_MAX], common[2 * PATH_MAX], line[PATH_MAX];
	bool found = false;
	FILE *f;

	common_dir(git_dir, common, sizeof(common));
	git_dir = common;
	if ((size_t)snprintf(path, sizeof(path), "%s/config", git_dir) >=
		    sizeof(path) ||
	    !(f = fopen(path, "re")))
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = strcasestr(line, "objectformat") &&
			strcasestr(line, "sha256");
	fclose(f);
	return found;
}

/* The work tree holding dir (resolved) and its git directory. */
static bool find_repository(const char *dir, char *work_tree, char *git_dir,
			    size_t size)
{
	char dot_git[PATH_MAX + 8];
	struct stat dir_st, git_st;

	if (strlen(dir) >= PATH_MAX || stat(dir, &dir_st))
		return false;
	strcpy(work_tree, dir);
	for (;;) {
		snprintf(dot_git, sizeof(dot_git), "%s/.git",
			 strcmp(work_tree, "/") ? work_tree : "");
		if (lstat(dot_git, &git_st) == 0 &&
		    owner_trusted(&git_st, &dir_st)) {
			if (S_ISDIR(git_st.st_mode))
				return (size_t)snprintf(git_dir, size, "%s",
							dot_git) < size;
			if (S_ISREG(git_st.st_mode))
				return gitdir_of_file(dot_git, work_tree,
						      git_dir, size);
		}
		if (strcmp(work_tree, "/") == 0)
			return false;
		*strrchr(work_tree, '/') = '\0';
		if (!work_tree[0])
			strcpy(work_tree, "/");
	}
}

/* Large enough for the index of a tree of millions of files. */
#define INDEX_MAX_BYTES (1ull << 30)

/* Whether the attributes file at path sets a filter other than lfs. */
static bool file_sets_filter(const char *path)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen(path, "re");

	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f)) {
		for (char *p = line; !found && (p = strstr(p, "filter="));
		     p += strlen("filter=")) {
			const char *value = p + strlen("filter=");
			size_t len = strcspn(value, " \t\r\n");

			found = (p == line || strchr(" \t", p[-1])) &&
				line[0] != '#' &&
				!(len == 3 && strncmp(value, "lfs", 3) == 0);
		}
	}
	fclose(f);
	return found;
}

/* Whether a filter other than lfs is set: in the repository's own
 * attributes, the user's or the system's, a .gitattributes from the top
 * of the work tree down to dir (the mirror, whose entries alone are
 * kept), or any tracked one. */
static bool sets_filter(const struct gitindex *index, const char *git_dir,
			const char *dir)
{
	const char *config = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char path[3 * PATH_MAX], common[2 * PATH_MAX];
	struct index_entry *e, *tmp;

	common_dir(git_dir, common, sizeof(common));
	snprintf(path, sizeof(path), "%s/info/attributes", common);
	if (file_sets_filter(path) || file_sets_filter("/etc/gitattributes"))
		return true;
	if (config && config[0] == '/')
		snprintf(path, sizeof(path), "%s/git/attributes", config);
	else
		snprintf(path, sizeof(path), "%s/.config/git/attributes",
			 home ? home : "");
	if (file_sets_filter(path))
		return true;
	for (size_t len = index->work_tree_len;;) {
		snprintf(path, sizeof(path), "%.*s/.gitattributes", (int)len,
			 dir);
		if (file_sets_filter(path))
			return true;
		if (!dir[len])
			break;
		len += 1 + strcspn(dir + len + 1, "/");
	}
	HASH_ITER (hh, index->entries, e, tmp) {
		const char *base = strrchr(e->path, '/');

		if (strcmp(base ? base + 1 : e->path, ".gitattributes") == 0 &&
		    snprintf(path, sizeof(path), "%s/%s", index->work_tree,
			     e->path) < (int)sizeof(path) &&
		    file_sets_filter(path))
			return true;
	}
	return false;
}

struct gitindex *gitindex_load(const char *host_dir, bool *unreadable)
{
	char work_tree[PATH_MAX], git_dir[PATH_MAX], path[PATH_MAX + 8];
	struct gitindex *index = NULL;
	unsigned char *data;
	struct stat st;
	size_t len;
	int fd;

	char dir[PATH_MAX];
	const char *prefix;

	*unreadable = false;
	if (!realpath(host_dir, dir) ||
	    !find_repository(dir, work_tree, git_dir, sizeof(git_dir)))
		return NULL;
	if (uses_sha256(git_dir)) {
		*unreadable = true;
		return NULL;
	}
	/* The mirror's path inside the work tree: "" at its top. */
	prefix = dir + strlen(work_tree);
	if (strcmp(work_tree, "/") && *prefix == '/')
		prefix++;
	else if (!strcmp(work_tree, "/"))
		prefix = dir + 1;
	snprintf(path, sizeof(path), "%s/index", git_dir);
	/* No index yet (git init, nothing added): it tracks nothing. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0) {
		*unreadable = errno != ENOENT;
		return NULL;
	}
	if (fstat(fd, &st) == 0 &&
	    (data = read_all(fd, INDEX_MAX_BYTES, &len))) {
		index = gitindex_parse(data, len, work_tree, prefix,
				       &st.st_mtim);
		free(data);
	}
	close(fd);
	if (!index)
		*unreadable = true;
	if (index)
		index->filtered = sets_filter(index, git_dir, dir);
	/* A repository that tracks nothing here (a home directory kept in
	 * git, around a module cache or an unpacked tarball) says nothing
	 * about this tree. */
	if (index && index->count == 0) {
		gitindex_free(index);
		index = NULL;
	}
	return index;
}

static bool stat_matches(const struct index_entry *e, const struct stat *st)
{
	return e->mtime_s == (uint32_t)st->st_mtim.tv_sec &&
	       e->mtime_ns == (uint32_t)st->st_mtim.tv_nsec &&
	       e->ctime_s == (uint32_t)st->st_ctim.tv_sec &&
	       e->ctime_ns == (uint32_t)st->st_ctim.tv_nsec &&
	       e->ino == (uint32_t)st->st_ino &&
	       e->size == (uint32_t)st->st_size &&
	       (e->mode & S_IFMT) == (st->st_mode & S_IFMT);
}

/* git's racy rule: an entry modified no earlier than the index was
 * written may have changed again, in the same timestamp tick, without
 * its stat showing it. In nanoseconds, as git built with USE_NSEC: a
 * fresh clone writes most of its files in the second it writes the
 * index, and whole seconds made them all look racy (each then hashed at
 * the first walk). Filesystems that keep seconds give 0 nanoseconds, and
 * the rule is git's default again. */
static bool is_racy(const struct gitindex *index, const struct index_entry *e)
{
	int64_t entry_ns = (int64_t)e->mtime_s * 1000000000 + e->mtime_ns;
	int64_t index_ns = (int64_t)index->index_mtime.tv_sec * 1000000000 +
			   index->index_mtime.tv_nsec;

	return entry_ns >= index_ns;
}

enum gitindex_answer gitindex_find(const struct gitindex *index,
				   const char *host_path, const struct stat *st,
				   unsigned char oid[GITINDEX_OID_SIZE])
{
	const char *rel = host_path + index->work_tree_len;
	struct index_entry *e;

	if (strncmp(host_path, index->work_tree, index->work_tree_len) != 0)
		return GITINDEX_UNTRACKED;
	if (index->work_tree_len > 1) {
		if (*rel != '/')
			return GITINDEX_UNTRACKED;
		rel++;
	} else if (*rel == '/') {
		rel++;
	}
	HASH_FIND_STR(index->entries, rel, e);
	if (!e)
		return GITINDEX_UNTRACKED;
	if (e->conflict)
		return GITINDEX_CONFLICT;
	memcpy(oid, e->oid, GITINDEX_OID_SIZE);
	if (!index->filtered && e->stat_trusted && stat_matches(e, st) &&
	    !is_racy(index, e))
		return GITINDEX_CLEAN;
	return GITINDEX_UNKNOWN;
}

const char *gitindex_work_tree(const struct gitindex *index)
{
	return index->work_tree;
}

size_t gitindex_count(const struct gitindex *index)
{
	return index->count;
}

void gitindex_blob_id(const void *bytes, size_t len,
		      unsigned char oid[GITINDEX_OID_SIZE])
{
	char header[32];
	int header_len = snprintf(header, sizeof(header), "blob %zu", len);
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	/* Only allocation can fail here; an all-zero id then matches no
	 * index entry and gives the epoch, never another file's time. */
	memset(oid, 0, GITINDEX_OID_SIZE);
	if (ctx && EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) &&
	    EVP_DigestUpdate(ctx, header, (size_t)header_len + 1) &&
	    EVP_DigestUpdate(ctx, bytes, len))
		EVP_DigestFinal_ex(ctx, oid, NULL);
	EVP_MD_CTX_free(ctx);
}
