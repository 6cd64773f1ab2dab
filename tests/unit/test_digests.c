/* Unit tests: the digest cache and its file (fs/digests.c). */
#include "canonfs/digests.h"
#include "canonfs/gitindex.h"
#include "canonfs/hostpath.h"
#include "canonfs/manifest.h"
#include "check.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[] = "/tmp/canonfs-digests-XXXXXX";

static void path_in(char *out, const char *name)
{
	snprintf(out, 256, "%s/%s", dir, name);
}

static off_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? st.st_size : -1;
}

/* The check of a record of format 3, as digests.h says. */
static uint32_t check_v3(const unsigned char *rec)
{
	uint64_t h = 0xcbf29ce484222325ull, w;
	uint32_t tail;

	for (int i = 0; i < 104; i += 8) {
		memcpy(&w, rec + i, 8);
		w ^= h;
		h = (w << 29 | w >> 35) * 0x9e3779b97f4a7c15ull;
	}
	memcpy(&tail, rec + 104, 4);
	h = (h ^ tail) * 0x9e3779b97f4a7c15ull;
	return (uint32_t)(h ^ h >> 32);
}

/* A record as the file format says (digests.h), for a forged entry; of
 * format 2 (FNV-1a check) when old. */
static void forge_record_of(const struct stat *st, unsigned char sha_byte,
			    bool old, unsigned char rec[112])
{
	int64_t fields[7] = {(int64_t)st->st_dev, (int64_t)st->st_ino,
			     st->st_size,	  st->st_mtim.tv_sec,
			     st->st_mtim.tv_nsec, st->st_ctim.tv_sec,
			     st->st_ctim.tv_nsec};
	uint32_t h = 2166136261u;

	memcpy(rec, fields, 56);
	memset(rec + 56, sha_byte, 32);
	memset(rec + 88, sha_byte, 20); /* the blob id */
	if (old)
		for (int i = 0; i < 108; i++)
			h = (h ^ rec[i]) * 16777619u;
	else
		h = check_v3(rec);
	memcpy(rec + 108, &h, 4);
}

static void forge_record(const struct stat *st, unsigned char sha_byte,
			 unsigned char rec[112])
{
	forge_record_of(st, sha_byte, false, rec);
}

/* A version of a file that does not exist: only the cache can answer
 * for it (a miss would hash whatever fd is). */
static struct stat fake_version(uint64_t ino, off_t size)
{
	struct stat st = {.st_dev = 7, .st_ino = ino, .st_size = size};

	st.st_mtim.tv_sec = st.st_ctim.tv_sec = 1000000000;
	return st;
}

/* count records of fake versions: inodes from first_ino, the given size,
 * the sums' bytes from byte0 up; of format 2 when old. */
static void write_fakes(FILE *f, uint64_t first_ino, int count, off_t size,
			int byte0, bool old)
{
	unsigned char rec[112];

	for (int i = 0; i < count; i++) {
		struct stat st = fake_version(first_ino + (uint64_t)i, size);

		forge_record_of(&st, (unsigned char)(byte0 + i), old, rec);
		fwrite(rec, 1, sizeof(rec), f);
	}
}

/* Tens of thousands of entries, across the loader's chunks, with a torn
 * append in the middle and later records replacing earlier ones: each
 * version is found, and only the last record of a file counts. */
static void many_entries(int fd)
{
	enum { N = 30000, TORN_AT = 9361 };
	char path[256], err[512];
	unsigned char got[32];
	unsigned long hashed, cached;
	struct digest_cache *cache;
	struct stat st;
	bool all_found = true;
	FILE *f;

	path_in(path, "many");
	f = fopen(path, "w");
	fputs(DIGESTS_MAGIC, f);
	write_fakes(f, 1000, TORN_AT, 1, 0, false);
	fwrite("torn", 1, 4, f); /* about the end of the loader's first MiB */
	write_fakes(f, 1000 + TORN_AT, N - TORN_AT, 1, TORN_AT, false);
	/* A new version of the first 100 (size 2), with new sums. */
	write_fakes(f, 1000, 100, 2, 1, false);
	fclose(f);

	cache = digests_open(path, err, sizeof(err));
	CHECK(cache != NULL);
	if (!cache)
		return;
	for (int i = 0; i < N; i++) {
		off_t size = i < 100 ? 2 : 1;
		unsigned char byte = (unsigned char)(i < 100 ? i + 1 : i);

		st = fake_version(1000 + (uint64_t)i, size);
		if (digests_get(cache, fd, &st, got) != 0 || got[0] != byte ||
		    got[31] != byte)
			all_found = false;
	}
	CHECK(all_found);
	digests_counts(cache, &hashed, &cached);
	CHECK(hashed == 0 && cached == N);
	/* The replaced version is gone: asking for it reads the file. */
	st = fake_version(1000, 1);
	CHECK(digests_get(cache, fd, &st, got) == 0);
	digests_counts(cache, &hashed, &cached);
	CHECK(hashed == 1);
	digests_close(cache);
	unlink(path);
}

/* A file of mostly superseded records is rewritten with one per entry
 * at its next load, and still answers. */
static void compaction(int fd)
{
	enum { FILES = 100, ROUNDS = 60, LAST = ROUNDS - 1 + FILES - 1 };
	struct stat st = fake_version(50 + FILES - 1, ROUNDS);
	char path[256], err[512];
	unsigned char got[32];
	struct digest_cache *cache;
	FILE *f;

	path_in(path, "superseded");
	f = fopen(path, "w");
	fputs(DIGESTS_MAGIC, f);
	for (int r = 0; r < ROUNDS; r++)
		write_fakes(f, 50, FILES, r + 1, r, false);
	fclose(f);
	for (int round = 0; round < 2; round++) {
		cache = digests_open(path, err, sizeof(err));
		CHECK(cache && digests_get(cache, fd, &st, got) == 0 &&
		      got[0] == (unsigned char)LAST);
		digests_close(cache);
		CHECK(file_size(path) ==
		      (off_t)strlen(DIGESTS_MAGIC) + FILES * 112);
	}
	unlink(path);
}

/* A file of format 2 answers at its first load, and is then rewritten
 * in format 3, with the same entries. */
static void format_2_is_carried_over(int fd)
{
	char path[256], err[512], head[32] = "";
	unsigned char got[32];
	unsigned long hashed, cached;
	struct digest_cache *cache;
	struct stat st;
	FILE *f;

	path_in(path, "format-2");
	f = fopen(path, "w");
	fputs(DIGESTS_MAGIC_V2, f);
	write_fakes(f, 500, 10, 1, 0x40, true);
	fclose(f);
	for (int round = 0; round < 2; round++) {
		cache = digests_open(path, err, sizeof(err));
		CHECK(cache != NULL);
		if (!cache)
			return;
		for (int i = 0; i < 10; i++) {
			st = fake_version(500 + (uint64_t)i, 1);
			CHECK(digests_get(cache, fd, &st, got) == 0 &&
			      got[0] == 0x40 + i);
		}
		digests_counts(cache, &hashed, &cached);
		CHECK(hashed == 0 && cached == 10);
		digests_close(cache);
		f = fopen(path, "r");
		CHECK(fread(head, 1, strlen(DIGESTS_MAGIC), f) ==
		      strlen(DIGESTS_MAGIC));
		fclose(f);
		CHECK(memcmp(head, DIGESTS_MAGIC, strlen(DIGESTS_MAGIC)) == 0);
		CHECK(file_size(path) ==
		      (off_t)strlen(DIGESTS_MAGIC) + 10 * 112);
	}
	unlink(path);
}

/* An empty file's sums are those of no bytes, given without reading it
 * or keeping an entry. */
static void empty_file(const char *cache_path)
{
	char path[256], err[512];
	unsigned char want[32];
	unsigned char blob[20];
	unsigned long hashed, cached;
	struct digests_pair sums;
	struct digest_cache *cache;
	off_t size_before = file_size(cache_path);
	struct stat st;
	int fd;

	path_in(path, "empty");
	close(open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644));
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && manifest_hash_fd(fd, want) == 0);
	close(fd);
	gitindex_blob_id("", 0, blob);
	fd = open(path, O_PATH);
	CHECK(fstat(fd, &st) == 0 && st.st_size == 0);
	cache = digests_open(cache_path, err, sizeof(err));
	CHECK(cache && digests_get_pair(cache, fd, &st, &sums) == 0);
	CHECK(memcmp(sums.sha256, want, 32) == 0);
	CHECK(memcmp(sums.blob_id, blob, 20) == 0);
	digests_counts(cache, &hashed, &cached);
	CHECK(hashed == 0);
	digests_close(cache);
	CHECK(file_size(cache_path) == size_before);
	close(fd);
	unlink(path);
}

/* A new file holding text: an O_PATH descriptor, and its stat in st. */
static int new_file(const char *path, const char *text, struct stat *st)
{
	FILE *f = fopen(path, "w");
	int fd;

	fputs(text, f);
	fclose(f);
	fd = open(path, O_PATH);
	CHECK(fd >= 0 && fstat(fd, st) == 0);
	return fd;
}

/* Whether a new cache over path answers for (fd, st) without hashing. */
static bool kept_in(const char *path, int fd, const struct stat *st)
{
	char err[512];
	unsigned char got[32];
	unsigned long hashed = 1, cached = 0;
	struct digest_cache *cache = digests_open(path, err, sizeof(err));

	if (!cache)
		return false;
	digests_get(cache, fd, st, got);
	digests_counts(cache, &hashed, &cached);
	digests_close(cache);
	return hashed == 0 && cached == 1;
}

/* The first bytes of path are magic. */
static bool starts_with(const char *path, const char *magic)
{
	char head[32] = "";
	FILE *f = fopen(path, "r");
	bool same;

	if (!f)
		return false;
	same = fread(head, 1, strlen(magic), f) == strlen(magic) &&
	       memcmp(head, magic, strlen(magic)) == 0;
	fclose(f);
	return same;
}

/* Another daemon rewrote the file (a compaction) while this one had it
 * open: what this one learns afterwards lands in the new file, not in
 * the unlinked old one. fd, st: a file old enough to be remembered. */
static void rewritten_underneath(int fd, const struct stat *st)
{
	struct stat other = fake_version(900, 1);
	char path[256], fresh[256], err[512];
	unsigned char got[32];
	struct digest_cache *cache;
	FILE *f;

	path_in(path, "shared");
	path_in(fresh, "shared.rewritten");
	cache = digests_open(path, err, sizeof(err));
	CHECK(cache != NULL);
	if (!cache)
		return;
	CHECK(digests_get(cache, fd, &other, got) == 0); /* loads */
	f = fopen(fresh, "w");
	fputs(DIGESTS_MAGIC, f);
	write_fakes(f, 900, 1, 1, 0x21, false);
	fclose(f);
	CHECK(rename(fresh, path) == 0);
	CHECK(digests_get(cache, fd, st, got) == 0); /* hashed, queued */
	digests_close(cache);
	CHECK(kept_in(path, fd, st));
	CHECK(kept_in(path, fd, &other));
	unlink(path);
}

/* A format 2 cache reached through a symlink is rewritten where the link
 * points, keeping the link, the file's mode and (by root) its owner. */
static void rewrite_keeps_link_mode_owner(int fd)
{
	struct stat st = fake_version(700, 1), after;
	char real[256], link[256], err[512];
	unsigned char got[32];
	struct digest_cache *cache;
	FILE *f;

	path_in(real, "volume-digests");
	path_in(link, "linked-digests");
	f = fopen(real, "w");
	fputs(DIGESTS_MAGIC_V2, f);
	write_fakes(f, 700, 3, 1, 0x30, true);
	fclose(f);
	CHECK(chmod(real, 0640) == 0);
	if (geteuid() == 0)
		CHECK(chown(real, 65534, 65534) == 0);
	CHECK(symlink("volume-digests", link) == 0);
	cache = digests_open(link, err, sizeof(err));
	CHECK(cache && digests_get(cache, fd, &st, got) == 0 && got[0] == 0x30);
	digests_close(cache);
	CHECK(lstat(link, &after) == 0 && S_ISLNK(after.st_mode));
	CHECK(starts_with(real, DIGESTS_MAGIC));
	CHECK(stat(real, &after) == 0 && (after.st_mode & 07777) == 0640);
	if (geteuid() == 0)
		CHECK(after.st_uid == 65534 && after.st_gid == 65534);
	CHECK(kept_in(link, fd, &st));
	unlink(link);
	unlink(real);
}

/* A format 2 file of another user (root's, shared with everyone) is not
 * rewritten by a daemon of this user, who keeps appending to it in its
 * format: nothing learnt is lost. Needs root, to be another user. */
static void format_2_of_another_user(int fd, const struct stat *st)
{
	char path[256], err[512];
	unsigned char got[32];
	pid_t child;
	int status = -1;
	FILE *f;

	if (geteuid() != 0)
		return;
	path_in(path, "root-format-2");
	f = fopen(path, "w");
	fputs(DIGESTS_MAGIC_V2, f);
	fclose(f);
	CHECK(chmod(path, 0666) == 0 && chmod(dir, 0755) == 0);
	child = fork();
	if (child == 0) {
		struct digest_cache *cache;

		/* Non-dumpable after setuid, /proc/self/fd would be
		 * root's: the hash reopens the file through it. */
		if (setgid(65534) || setuid(65534) ||
		    prctl(PR_SET_DUMPABLE, 1) ||
		    !(cache = digests_open(path, err, sizeof(err))) ||
		    digests_get(cache, fd, st, got))
			_exit(1);
		digests_close(cache);
		_exit(0);
	}
	CHECK(child > 0 && waitpid(child, &status, 0) == child && status == 0);
	CHECK(chmod(dir, 0700) == 0);
	CHECK(starts_with(path, DIGESTS_MAGIC_V2));
	CHECK(file_size(path) == (off_t)strlen(DIGESTS_MAGIC) + 112);
	CHECK(kept_in(path, fd, st));
	unlink(path);
}

int main(void)
{
	char file[256], steady[256], cache_path[256], other[256], err[512];
	struct stat steady_st;
	int steady_fd;
	unsigned char got[32], want[32], rec[112];
	struct digest_cache *cache;
	struct stat st;
	int fd, afd;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	path_in(file, "data.txt");
	path_in(cache_path, "cache/sub/digests");
	fd = new_file(file, "some bytes\n", &st);
	/* Never changed: old enough to be remembered after the sleep. */
	path_in(steady, "steady.txt");
	steady_fd = new_file(steady, "steady bytes\n", &steady_st);
	{
		int rfd = open(file, O_RDONLY);

		CHECK(manifest_hash_fd(rfd, want) == 0);
		close(rfd);
	}

	/* Not where its directory is missing (the caller makes the
	 * default's); then created. A fresh file is hashed every time and
	 * never written down (it may still change within its tick). */
	CHECK(digests_open(cache_path, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "cache/sub/digests") != NULL);
	{
		char sub[256];

		path_in(sub, "cache/sub");
		hostpath_make_dirs(sub, NULL);
	}
	cache = digests_open(cache_path, err, sizeof(err));
	CHECK(cache != NULL);
	if (!cache)
		return check_summary("digests");
	CHECK(digests_get(cache, fd, &st, got) == 0);
	CHECK(memcmp(got, want, 32) == 0);
	digests_close(cache);
	CHECK(file_size(cache_path) == (off_t)strlen(DIGESTS_MAGIC));

	/* Once it is old enough, it is remembered and lands in the file. */
	sleep(DIGESTS_RACY_SECONDS + 1);
	cache = digests_open(cache_path, err, sizeof(err));
	CHECK(digests_get(cache, fd, &st, got) == 0);
	CHECK(memcmp(got, want, 32) == 0);
	digests_close(cache);
	CHECK(file_size(cache_path) == (off_t)strlen(DIGESTS_MAGIC) + 112);

	/* A later mount answers from the file: a forged record for the same
	 * version, appended after junk (a torn write), is what it returns. */
	afd = open(cache_path, O_WRONLY | O_APPEND);
	CHECK(write(afd, "junkjunk", 8) == 8);
	forge_record(&st, 0xab, rec);
	CHECK(write(afd, rec, sizeof(rec)) == (ssize_t)sizeof(rec));
	close(afd);
	cache = digests_open(cache_path, err, sizeof(err));
	CHECK(digests_get(cache, fd, &st, got) == 0);
	CHECK(got[0] == 0xab && got[31] == 0xab);
	digests_close(cache);

	/* Another version of the file (new size, new ctime) is hashed. */
	f = fopen(file, "a");
	fputs("more\n", f);
	fclose(f);
	CHECK(fstat(fd, &st) == 0);
	cache = digests_open(cache_path, err, sizeof(err));
	CHECK(digests_get(cache, fd, &st, got) == 0);
	{
		int rfd = open(file, O_RDONLY);

		CHECK(manifest_hash_fd(rfd, want) == 0);
		close(rfd);
	}
	CHECK(memcmp(got, want, 32) == 0);
	digests_close(cache);

	/* Memory only: works, writes nothing. The blob id comes from the
	 * same read, and is git's (`git hash-object`). */
	cache = digests_open(NULL, err, sizeof(err));
	CHECK(cache && digests_get(cache, fd, &st, got) == 0);
	{
		struct digests_pair sums;
		unsigned char blob[20];

		CHECK(digests_get_pair(cache, fd, &st, &sums) == 0);
		gitindex_blob_id("some bytes\nmore\n", 16, blob);
		CHECK(memcmp(sums.blob_id, blob, 20) == 0);
		CHECK(memcmp(sums.sha256, want, 32) == 0);
	}
	digests_close(cache);

	/* A cache of the first format (SHA-256 only) is ours: started anew,
	 * never refused. */
	path_in(other, "old-digests");
	f = fopen(other, "w");
	fputs(DIGESTS_MAGIC_V1, f);
	fputs("records of the first format", f);
	fclose(f);
	cache = digests_open(other, err, sizeof(err));
	CHECK(cache != NULL);
	digests_close(cache);
	CHECK(file_size(other) == (off_t)strlen(DIGESTS_MAGIC));

	/* A file that is not a digest cache is refused and left alone. */
	path_in(other, "notes.txt");
	f = fopen(other, "w");
	fputs("precious\n", f);
	fclose(f);
	CHECK(digests_open(other, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "not a canonfs digest cache") != NULL);
	CHECK(file_size(other) == 9);

	empty_file(cache_path);
	many_entries(fd);
	compaction(fd);
	format_2_is_carried_over(fd);
	rewritten_underneath(steady_fd, &steady_st);
	rewrite_keeps_link_mode_owner(fd);
	format_2_of_another_user(steady_fd, &steady_st);
	close(steady_fd);
	unlink(steady);

	close(fd);
	unlink(file);
	unlink(other);
	unlink(cache_path);
	path_in(other, "cache/sub");
	rmdir(other);
	path_in(other, "cache");
	rmdir(other);
	rmdir(dir);
	return check_summary("digests");
}
