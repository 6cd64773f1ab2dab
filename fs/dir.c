/*
 * dir: directory listings in canonical order (see include/canonfs/dir.h).
 */
#include "canonfs/dir.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int entry_compare(const void *a, const void *b)
{
	return strcmp(((const struct dir_entry *)a)->name,
		      ((const struct dir_entry *)b)->name);
}

static int push(struct dir_listing *listing, size_t *capacity, const char *name,
		unsigned char d_type)
{
	if (listing->n_entries == *capacity) {
		size_t grown_capacity = *capacity ? *capacity * 2 : 64;
		struct dir_entry *grown = realloc(
			listing->entries, grown_capacity * sizeof(*grown));

		if (!grown)
			return ENOMEM;
		listing->entries = grown;
		*capacity = grown_capacity;
	}
	listing->entries[listing->n_entries].name = strdup(name);
	if (!listing->entries[listing->n_entries].name)
		return ENOMEM;
	listing->entries[listing->n_entries++].d_type = d_type;
	return 0;
}

/* The d_type to show, or DT_UNKNOWN for an entry that is not shown. */
static unsigned char shown_type(int dir_fd, const struct dirent64 *entry)
{
	struct stat st;
	unsigned char d_type = entry->d_type;

	if (d_type == DT_UNKNOWN) {
		/* Some filesystems (and overlay setups) leave d_type unset. */
		if (fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1)
			return DT_UNKNOWN;
		d_type = IFTODT(st.st_mode);
	}
	if (d_type == DT_REG || d_type == DT_DIR || d_type == DT_LNK)
		return d_type;
	return DT_UNKNOWN;
}

/* Raw getdents64 rather than fdopendir/readdir, which adds an fcntl, an
 * fstat and a 32 KiB allocation to each listing: a first walk lists every
 * directory once, on the path of the request. */
int dir_listing_read_host(int dir_fd, struct dir_listing *out)
{
	char buf[16 * 1024]
		__attribute__((aligned(__alignof__(struct dirent64))));
	size_t capacity = 0;
	ssize_t len;
	int fd, err = 0;

	memset(out, 0, sizeof(*out));
	fd = openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd == -1)
		return errno;
	while (!err && (len = getdents64(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t at = 0; at < len && !err;) {
			const struct dirent64 *entry = (const void *)(buf + at);
			const char *name = entry->d_name;
			unsigned char d_type;

			at += entry->d_reclen;
			if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
				continue;
			d_type = shown_type(fd, entry);
			if (d_type == DT_UNKNOWN)
				out->n_hidden++;
			else
				err = push(out, &capacity, name, d_type);
		}
	}
	if (!err && len == -1)
		err = errno;
	close(fd);

	if (err) {
		dir_listing_free(out);
		return err;
	}
	dir_listing_sort(out);
	return 0;
}

void dir_listing_sort(struct dir_listing *listing)
{
	if (listing->n_entries > 0) /* qsort wants a non-NULL array */
		qsort(listing->entries, listing->n_entries,
		      sizeof(*listing->entries), entry_compare);
}

int dir_listing_from_layout(const struct layout_dir *dir,
			    struct dir_listing *out)
{
	size_t capacity = 0;
	int err;

	memset(out, 0, sizeof(*out));
	/* Layout entries are already sorted. */
	for (size_t i = 0; i < dir->n_entries; i++) {
		if ((err = push(out, &capacity, dir->entries[i].name,
				DT_DIR))) {
			dir_listing_free(out);
			return err;
		}
	}
	return 0;
}

/* splitmix64: small, well mixed, and the same everywhere. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void dir_listing_reorder(struct dir_listing *listing, enum dir_order order,
			 uint64_t seed, uint64_t dir_ino)
{
	struct dir_entry *e = listing->entries;
	size_t n = listing->n_entries;
	uint64_t state = seed ^ dir_ino;

	if (order == DIR_ORDER_REVERSE) {
		for (size_t i = 0; i < n / 2; i++) {
			struct dir_entry tmp = e[i];

			e[i] = e[n - 1 - i];
			e[n - 1 - i] = tmp;
		}
	} else if (order == DIR_ORDER_SHUFFLE) {
		for (size_t i = n; i > 1; i--) { /* Fisher-Yates */
			size_t j = (size_t)(next_random(&state) % i);
			struct dir_entry tmp = e[i - 1];

			e[i - 1] = e[j];
			e[j] = tmp;
		}
	}
}

void dir_listing_free(struct dir_listing *listing)
{
	for (size_t i = 0; i < listing->n_entries; i++)
		free(listing->entries[i].name);
	free(listing->entries);
	memset(listing, 0, sizeof(*listing));
}
