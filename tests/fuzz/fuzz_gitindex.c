/*
 * libFuzzer target: reading a git index (fs/gitindex.c), the one file the
 * daemon parses that anyone who can write into a checkout controls.
 *
 * Input: one selector byte (which prefix a mirror keeps), then the bytes
 * of an index file, in a heap block of exactly their length so that ASan
 * sees any read past its end. gitindex_parse must never crash, read out
 * of bounds or leak; when it accepts the file, it keeps no more paths than
 * the header counts, and finding any path (those the input spells among
 * them) answers one of the documented values.
 */
#include "canonfs/gitindex.h"
#include "fuzz_common.h"

#include <stdlib.h>
#include <sys/stat.h>

static const char *const prefixes[] = {"", "dir", "a/b", "sub"};

/* Look up the NUL-terminated strings the input holds, as paths under the
 * work tree: some of them are the entries' names. */
static void find_spelled(const struct gitindex *index, const uint8_t *data,
			 size_t len)
{
	unsigned char oid[GITINDEX_OID_SIZE];
	struct stat st = {0};
	char path[300];
	size_t start = 0;

	st.st_mode = S_IFREG | 0644;
	for (size_t i = 0; i < len && start < len; i++) {
		if (data[i] != 0)
			continue;
		if (i > start && i - start < 200) {
			enum gitindex_answer a;

			snprintf(path, sizeof(path), "/w/%.*s",
				 (int)(i - start), (const char *)data + start);
			a = gitindex_find(index, path, &st, oid);
			FUZZ_CHECK(a == GITINDEX_UNTRACKED ||
					   a == GITINDEX_CLEAN ||
					   a == GITINDEX_UNKNOWN ||
					   a == GITINDEX_CONFLICT,
				   "gitindex_find(%s): answer %d", path,
				   (int)a);
		}
		start = i + 1;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct timespec mtime = {.tv_sec = 1700000000, .tv_nsec = 5};
	struct gitindex *index;
	uint32_t declared;
	uint8_t *copy;
	size_t len;

	if (size < 1)
		return 0;
	len = size - 1;
	copy = malloc(len ? len : 1);
	if (!copy)
		return 0;
	memcpy(copy, data + 1, len);
	index = gitindex_parse(copy, len, "/w", prefixes[data[0] % 4], &mtime);
	if (index) {
		declared = (uint32_t)copy[8] << 24 | (uint32_t)copy[9] << 16 |
			   (uint32_t)copy[10] << 8 | copy[11];
		FUZZ_CHECK(gitindex_count(index) <= declared,
			   "%zu paths kept of %u declared",
			   gitindex_count(index), declared);
		find_spelled(index, copy, len);
		gitindex_free(index);
	}
	free(copy);
	return 0;
}
