/* Unit tests: reading a git checkout's index (fs/gitindex.c). */
#include "canonfs/gitindex.h"
#include "check.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static void put32(unsigned char *p, uint32_t v)
{
	p[0] = v >> 24, p[1] = v >> 16, p[2] = v >> 8, p[3] = v;
}

/* One version-2 entry for path with the stat data of st; returns its
 * padded length. */
static size_t entry_v2(unsigned char *out, const char *path,
		       const struct stat *st, unsigned char oid_byte,
		       unsigned stage)
{
	size_t len = strlen(path), total = (62 + len + 8) & ~(size_t)7;

	memset(out, 0, total);
	put32(out, (uint32_t)st->st_ctim.tv_sec);
	put32(out + 4, (uint32_t)st->st_ctim.tv_nsec);
	put32(out + 8, (uint32_t)st->st_mtim.tv_sec);
	put32(out + 12, (uint32_t)st->st_mtim.tv_nsec);
	put32(out + 20, (uint32_t)st->st_ino);
	put32(out + 24, 0100644);
	put32(out + 36, (uint32_t)st->st_size);
	memset(out + 40, oid_byte, 20);
	out[60] = (unsigned char)((stage << 4) | (len >> 8));
	out[61] = (unsigned char)len;
	memcpy(out + 62, path, len);
	return total;
}

static size_t index_v2(unsigned char *buf, const struct stat *st)
{
	size_t pos = 12;

	memcpy(buf, "DIRC", 4);
	put32(buf + 4, 2);
	put32(buf + 8, 4);
	pos += entry_v2(buf + pos, "a.c", st, 0xaa, 0);
	pos += entry_v2(buf + pos, "dir/b.c", st, 0xbb, 0);
	pos += entry_v2(buf + pos, "dir/c.c", st, 0xcc, 1);
	pos += entry_v2(buf + pos, "dir/c.c", st, 0xcd, 2);
	memset(buf + pos, 0, 20); /* the checksum, not checked */
	return pos + 20;
}

static void test_parse_and_find(void)
{
	unsigned char buf[1024], oid[20];
	struct timespec later = {.tv_sec = 2000000000};
	struct stat st = {0}, other;
	struct gitindex *index;
	size_t len;

	st.st_mode = S_IFREG | 0644;
	st.st_ino = 42;
	st.st_size = 7;
	st.st_mtim.tv_sec = 1700000000;
	st.st_ctim.tv_sec = 1700000001;
	st.st_ctim.tv_nsec = 5;
	len = index_v2(buf, &st);

	index = gitindex_parse(buf, len, "/w", "", &later);
	CHECK(index != NULL);
	if (!index)
		return;
	CHECK(gitindex_count(index) == 3);
	CHECK(gitindex_find(index, "/w/a.c", &st, oid) == GITINDEX_CLEAN);
	CHECK(oid[0] == 0xaa && oid[19] == 0xaa);
	CHECK(gitindex_find(index, "/w/dir/b.c", &st, oid) == GITINDEX_CLEAN);
	CHECK(oid[0] == 0xbb);
	CHECK(gitindex_find(index, "/w/dir/c.c", &st, oid) ==
	      GITINDEX_CONFLICT);
	CHECK(gitindex_find(index, "/w/new.c", &st, oid) == GITINDEX_UNTRACKED);
	CHECK(gitindex_find(index, "/wx/a.c", &st, oid) == GITINDEX_UNTRACKED);
	CHECK(gitindex_find(index, "/elsewhere/a.c", &st, oid) ==
	      GITINDEX_UNTRACKED);
	/* Any stat field that differs: the file must be hashed. */
	other = st;
	other.st_ctim.tv_nsec = 6;
	CHECK(gitindex_find(index, "/w/a.c", &other, oid) == GITINDEX_UNKNOWN);
	CHECK(oid[0] == 0xaa);
	other = st;
	other.st_size = 8;
	CHECK(gitindex_find(index, "/w/a.c", &other, oid) == GITINDEX_UNKNOWN);
	gitindex_free(index);

	/* Racy: the index written no later than the file's mtime. */
	later.tv_sec = st.st_mtim.tv_sec;
	index = gitindex_parse(buf, len, "/w", "", &later);
	CHECK(index &&
	      gitindex_find(index, "/w/a.c", &st, oid) == GITINDEX_UNKNOWN);
	gitindex_free(index);
	/* Not racy: written later in the same second (nanoseconds count). */
	later.tv_nsec = 1;
	index = gitindex_parse(buf, len, "/w", "", &later);
	CHECK(index &&
	      gitindex_find(index, "/w/a.c", &st, oid) == GITINDEX_CLEAN);
	gitindex_free(index);
	later.tv_nsec = 0;

	/* A mirror below the work tree keeps its own paths only. */
	later.tv_sec = 2000000000;
	index = gitindex_parse(buf, len, "/w", "dir", &later);
	CHECK(index && gitindex_count(index) == 2);
	CHECK(index &&
	      gitindex_find(index, "/w/a.c", &st, oid) == GITINDEX_UNTRACKED);
	CHECK(index &&
	      gitindex_find(index, "/w/dir/b.c", &st, oid) == GITINDEX_CLEAN);
	gitindex_free(index);

	/* Damage anywhere gives no index, never a wrong answer. */
	CHECK(gitindex_parse(buf, len - 40, "/w", "", &later) == NULL);
	buf[3] = 'X';
	CHECK(gitindex_parse(buf, len, "/w", "", &later) == NULL);
	buf[3] = 'C';
	put32(buf + 4, 5);
	CHECK(gitindex_parse(buf, len, "/w", "", &later) == NULL);
	put32(buf + 4, 2);
	buf[12 + 61] = 9; /* a.c's name length */
	CHECK(gitindex_parse(buf, len, "/w", "", &later) == NULL);
}

static void test_blob_id(void)
{
	unsigned char oid[20];
	char hex[41];

	/* `printf hello | git hash-object --stdin` */
	gitindex_blob_id("hello", 5, oid);
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", oid[i]);
	CHECK_STR(hex, "b6fc4c620b67d95f953a5c1c1230aaab5db5a1b0");
	gitindex_blob_id("", 0, oid);
	for (int i = 0; i < 20; i++)
		snprintf(hex + 2 * i, 3, "%02x", oid[i]);
	CHECK_STR(hex, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391");
}

/* The index git itself writes, versions 2 and 4, with a file that is
 * clean and one edited since. */
static void test_real_checkout(void)
{
	char dir[] = "/tmp/canonfs-gitindex-XXXXXX", cmd[1024], path[300];
	unsigned char oid[20], want[20];
	struct gitindex *index;
	struct stat st;
	bool unreadable;

	if (system("git --version >/dev/null 2>&1") != 0) {
		fprintf(stderr, "test_gitindex: git not installed\n");
		check_failed++;
		return;
	}
	CHECK(mkdtemp(dir) != NULL);
	for (int version = 2; version <= 4; version += 2) {
		snprintf(cmd, sizeof(cmd),
			 "cd %s && rm -rf .git sub && git init -q && mkdir -p "
			 "sub/deeper && echo one > sub/deeper/one.c && echo "
			 "two > two.c && sleep 1 && git add . && git "
			 "update-index --index-version %d && sleep 1 && "
			 "git update-index --refresh -q",
			 dir, version);
		CHECK(system(cmd) == 0);
		index = gitindex_load(dir, &unreadable);
		CHECK(index != NULL && !unreadable);
		if (!index)
			continue;
		snprintf(path, sizeof(path), "%s/sub/deeper/one.c", dir);
		CHECK(stat(path, &st) == 0);
		gitindex_blob_id("one\n", 4, want);
		CHECK(gitindex_find(index, path, &st, oid) == GITINDEX_CLEAN);
		CHECK(memcmp(oid, want, 20) == 0);
		/* Loaded from a directory below the top: its paths only. */
		gitindex_free(index);
		snprintf(path, sizeof(path), "%s/sub", dir);
		index = gitindex_load(path, &unreadable);
		CHECK(index && gitindex_count(index) == 1);
		gitindex_free(index);
	}
	/* A directory the repository does not track: no index (a home
	 * directory in git, around a module cache). */
	snprintf(path, sizeof(path), "%s/untracked/deeper", dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && echo x > %s/x", path, path);
	CHECK(system(cmd) == 0);
	CHECK(gitindex_load(path, &unreadable) == NULL && !unreadable);
	/* A split index is not read: said, so that the caller does not take
	 * the checkout for a tree without git. */
	snprintf(cmd, sizeof(cmd),
		 "cd %s && git -c core.splitIndex=true update-index "
		 "--split-index && test -n \"$(ls .git/sharedindex.*)\"",
		 dir);
	CHECK(system(cmd) == 0);
	CHECK(gitindex_load(dir, &unreadable) == NULL && unreadable);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	test_parse_and_find();
	test_blob_id();
	test_real_checkout();
	return check_summary("test_gitindex");
}
