/* Unit tests: the digest cache and its file (fs/digests.c). */
#include "canonfs/digests.h"
#include "canonfs/gitindex.h"
#include "canonfs/hostpath.h"
#include "canonfs/manifest.h"
#include "check.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/stat.h>
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

/* A record as the file format says (digests.h), for a forged entry. */
static void forge_record(const struct stat *st, unsigned char sha_byte,
			 unsigned char rec[112])
{
	int64_t fields[7] = {(int64_t)st->st_dev, (int64_t)st->st_ino,
			     st->st_size,	  st->st_mtim.tv_sec,
			     st->st_mtim.tv_nsec, st->st_ctim.tv_sec,
			     st->st_ctim.tv_nsec};
	uint32_t h = 2166136261u;

	memcpy(rec, fields, 56);
	memset(rec + 56, sha_byte, 32);
	memset(rec + 88, sha_byte, 20); /* the blob id */
	for (int i = 0; i < 108; i++)
		h = (h ^ rec[i]) * 16777619u;
	memcpy(rec + 108, &h, 4);
}

int main(void)
{
	char file[256], cache_path[256], other[256], err[512];
	unsigned char got[32], want[32], rec[112];
	struct digest_cache *cache;
	struct stat st;
	int fd, afd;
	FILE *f;

	CHECK(mkdtemp(dir) != NULL);
	path_in(file, "data.txt");
	path_in(cache_path, "cache/sub/digests");
	f = fopen(file, "w");
	fputs("some bytes\n", f);
	fclose(f);
	fd = open(file, O_PATH);
	CHECK(fd >= 0 && fstat(fd, &st) == 0);
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
