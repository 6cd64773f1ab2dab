/*
 * headers: the digest of the mirrored system headers (see
 * include/canonfs/headers.h).
 */
#include "canonfs/headers.h"

#include "canonfs/canon.h"
#include "canonfs/hostpath.h"
#include "canonfs/symlink.h"

#include <openssl/evp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static bool fits(int n, size_t size)
{
	return n >= 0 && (size_t)n < size;
}

struct header_walk {
	EVP_MD_CTX *ctx;
	struct digest_cache *digests;
	const struct layout *layout;
};

static int name_compare(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* One entry's record: "PATH\0TYPE MODE\0" then its digest or target. */
static void hash_record(struct header_walk *w, const char *virt_path,
			const struct stat *st, const void *data, size_t len)
{
	char head[32];
	int n = snprintf(head, sizeof(head), "%c %o",
			 S_ISDIR(st->st_mode)	? 'd'
			 : S_ISLNK(st->st_mode) ? 'l'
						: 'f',
			 (unsigned)(canon_mode(st->st_mode) & 07777));

	EVP_DigestUpdate(w->ctx, virt_path, strlen(virt_path) + 1);
	EVP_DigestUpdate(w->ctx, head, (size_t)n + 1);
	if (data)
		EVP_DigestUpdate(w->ctx, data, len);
}

static int walk_headers(struct header_walk *w, int dir_fd, const char *virt_dir,
			int depth);

static void hash_entry(struct header_walk *w, int dir_fd, const char *name,
		       const char *virt_dir, int depth)
{
	char virt_path[PATH_MAX], target[PATH_MAX], shown[PATH_MAX];
	unsigned char sha[32];
	struct stat st;
	ssize_t len;
	int fd;

	if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) == -1 ||
	    !canon_is_shown(st.st_mode) ||
	    !fits(snprintf(virt_path, sizeof(virt_path), "%s/%s", virt_dir,
			   name),
		  sizeof(virt_path)))
		return;
	if (S_ISREG(st.st_mode)) {
		fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		/* An unreadable header is recorded as such: what the build
		 * would see too. */
		if (fd < 0 || digests_get(w->digests, fd, &st, sha))
			memset(sha, 0, sizeof(sha));
		if (fd >= 0)
			close(fd);
		hash_record(w, virt_path, &st, sha, sizeof(sha));
	} else if (S_ISLNK(st.st_mode)) {
		len = hostpath_readlink(dir_fd, name, target,
					sizeof(target) - 1);
		target[len < 0 ? 0 : len] = '\0';
		if (symlink_to_view(target, virt_dir, w->layout->spellings,
				    w->layout->n_spellings, shown,
				    sizeof(shown)))
			snprintf(shown, sizeof(shown), "%s", target);
		hash_record(w, virt_path, &st, shown, strlen(shown));
	} else {
		hash_record(w, virt_path, &st, NULL, 0);
		fd = openat(dir_fd, name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd >= 0)
			walk_headers(w, fd, virt_path, depth + 1);
	}
}

/* Hash the tree behind dir_fd (consumed) in byte order of names. */
static int walk_headers(struct header_walk *w, int dir_fd, const char *virt_dir,
			int depth)
{
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *dir;
	int err = 0;

	/* Include trees are shallow; a loop of bind mounts is not. */
	if (depth > 64 || !(dir = fdopendir(dir_fd))) {
		close(dir_fd);
		return depth > 64 ? ELOOP : errno;
	}
	while ((de = readdir(dir))) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			char **grown =
				realloc(names, (cap = cap ? 2 * cap : 64) *
						       sizeof(*names));
			if (!grown) {
				err = ENOMEM;
				break;
			}
			names = grown;
		}
		if (!(names[n] = strdup(de->d_name))) {
			err = ENOMEM;
			break;
		}
		n++;
	}
	if (!err && n > 0) {
		qsort(names, n, sizeof(*names), name_compare);
		for (size_t i = 0; i < n; i++)
			hash_entry(w, dirfd(dir), names[i], virt_dir, depth);
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	closedir(dir);
	return err;
}

int headers_digest(const struct layout *layout, struct digest_cache *digests,
		   unsigned char out[32])
{
	struct header_walk w = {.digests = digests, .layout = layout};
	int err = 0;

	if (!(w.ctx = EVP_MD_CTX_new()) ||
	    !EVP_DigestInit_ex(w.ctx, EVP_sha256(), NULL)) {
		EVP_MD_CTX_free(w.ctx);
		return ENOMEM;
	}
	for (size_t i = 0; i < layout->n_mirrors && !err; i++) {
		const struct layout_mirror *m = &layout->mirrors[i];
		int fd;

		if (m->kind != LAYOUT_SYS)
			continue;
		EVP_DigestUpdate(w.ctx, m->virt_path, strlen(m->virt_path) + 1);
		fd = openat(m->root_fd, ".",
			    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		err = fd < 0 ? errno : walk_headers(&w, fd, m->virt_path, 0);
	}
	if (!err)
		EVP_DigestFinal_ex(w.ctx, out, NULL);
	EVP_MD_CTX_free(w.ctx);
	return err;
}
