/*
 * times: the timestamps shown (see include/canonfs/times.h).
 */
#include "canonfs/times.h"

#include "canonfs/hostpath.h"
#include "canonfs/report.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *times_mode_name(enum canon_time_mode mode)
{
	switch (mode) {
	case CANON_TIME_ZERO:
		return "zero";
	case CANON_TIME_FIXED:
		return "SECONDS";
	case CANON_TIME_PASSTHROUGH:
		return "passthrough";
	case CANON_TIME_CONTENT:
		return "content";
	case CANON_TIME_BASELINE:
		return "baseline";
	}
	return "?";
}

/*
 * The blob id of a regular file, from the index where valid, else from
 * its bytes. Returns 0, or an errno value (unreadable), or EEXIST when
 * it is not what the checkout brought: a tracked file whose content is
 * not its index entry's, or an unmerged one (blob_id is still the
 * content's).
 */
static int file_blob_id(struct times *t, enum gitindex_answer answer,
			const unsigned char index_oid[GITINDEX_OID_SIZE],
			int host_fd, const struct stat *host,
			unsigned char blob_id[GITINDEX_OID_SIZE])
{
	struct digests_pair sums;
	int err;

	if (answer == GITINDEX_CLEAN) {
		memcpy(blob_id, index_oid, GITINDEX_OID_SIZE);
		return 0;
	}
	if ((err = digests_get_pair(t->digests, host_fd, host, &sums)))
		return err;
	memcpy(blob_id, sums.blob_id, GITINDEX_OID_SIZE);
	if (answer == GITINDEX_CONFLICT ||
	    (answer == GITINDEX_UNKNOWN &&
	     memcmp(index_oid, blob_id, GITINDEX_OID_SIZE) != 0))
		return EEXIST;
	return 0;
}

/*
 * A new baseline takes everything in the tree for what the checkout
 * brought. In a worktree that already holds a build's outputs (a CI
 * workspace kept between jobs in fresh containers, a renamed checkout, a
 * first mount), a source the checkout changed after that build would then
 * show its content time, older than the outputs, and make would skip the
 * rebuild. So a new baseline moves back to the oldest time of what the
 * checkout did not bring: an untracked file's mtime (an output must stay
 * newer than any source changed after it), and the ctime of a tracked file
 * whose content is not the index's, or that is unmerged (edited before the
 * mount: still a change after a later `git add`). Files of nested
 * repositories (submodules) are not this index's and are left out. The
 * scan hashes the tracked files whose stat no longer matches the index
 * (all of them in a copied tree): work the first walk would do anyway,
 * kept in the digest cache.
 */
struct scan {
	struct times *t;
	const struct gitindex *git;
	bool outputs; /* a build directory: every file an output */
	int64_t oldest;
	char path[PATH_MAX]; /* the entry's resolved host path */
};

/* Whether the tracked entry's bytes are the blob its index entry names. */
static bool is_index_blob(struct scan *s, int dir_fd, const char *name,
			  const struct stat *st,
			  const unsigned char oid[GITINDEX_OID_SIZE])
{
	unsigned char blob_id[GITINDEX_OID_SIZE];
	char target[PATH_MAX];
	ssize_t len;
	int fd, err;

	if (S_ISLNK(st->st_mode)) {
		len = readlinkat(dir_fd, name, target, sizeof(target));
		if (len < 0)
			return false;
		gitindex_blob_id(target, (size_t)len, blob_id);
		return memcmp(blob_id, oid, GITINDEX_OID_SIZE) == 0;
	}
	fd = openat(dir_fd, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	err = file_blob_id(s->t, GITINDEX_UNKNOWN, oid, fd, st, blob_id);
	close(fd);
	return !err;
}

static void scan_entry(struct scan *s, int dir_fd, const char *name,
		       const struct stat *st)
{
	unsigned char oid[GITINDEX_OID_SIZE];
	int64_t when = INT64_MAX;

	switch (s->outputs ? GITINDEX_UNTRACKED
			   : gitindex_find(s->git, s->path, st, oid)) {
	case GITINDEX_UNTRACKED:
		/* Older than every content time (an npm package's 1985, an
		 * archive's 0): every source looks newer to make anyway. */
		if (st->st_mtim.tv_sec >= CANON_CONTENT_EPOCH)
			when = canon_ns_of(&st->st_mtim);
		break;
	case GITINDEX_UNKNOWN:
		if (!is_index_blob(s, dir_fd, name, st, oid))
			when = canon_ns_of(&st->st_ctim);
		break;
	case GITINDEX_CONFLICT:
		when = canon_ns_of(&st->st_ctim);
		break;
	case GITINDEX_NONE:
	case GITINDEX_CLEAN:
		break;
	}
	if (when < s->oldest)
		s->oldest = when;
}

/* Scan the directory dir_fd (taken: closed here), whose path is s->path. */
static void scan_dir(struct scan *s, int dir_fd)
{
	size_t len = strlen(s->path);
	DIR *dir = fdopendir(dir_fd);
	struct dirent *entry;
	struct stat st;
	int sub;

	if (!dir) {
		close(dir_fd);
		return;
	}
	while ((entry = readdir(dir))) {
		const char *name = entry->d_name;

		if (!strcmp(name, ".") || !strcmp(name, "..") ||
		    !strcmp(name, ".git") ||
		    fstatat(dirfd(dir), name, &st, AT_SYMLINK_NOFOLLOW) ||
		    (size_t)snprintf(s->path + len, sizeof(s->path) - len,
				     "%s%s", len > 1 ? "/" : "",
				     name) >= sizeof(s->path) - len)
			continue;
		if (S_ISREG(st.st_mode) || S_ISLNK(st.st_mode)) {
			scan_entry(s, dirfd(dir), name, &st);
		} else if (S_ISDIR(st.st_mode) &&
			   (sub = openat(dirfd(dir), name,
					 O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
						 O_CLOEXEC)) >= 0) {
			if (faccessat(sub, ".git", F_OK, AT_SYMLINK_NOFOLLOW))
				scan_dir(s, sub);
			else
				close(sub); /* a nested repository */
		}
		s->path[len] = '\0';
	}
	closedir(dir);
}

/* The oldest time of what the checkout did not bring under root, or
 * INT64_MAX when it brought everything there is. */
static int64_t oldest_not_brought(struct times *t, const char *root,
				  const struct gitindex *git)
{
	struct scan s = {.t = t, .git = git, .oldest = INT64_MAX};
	int fd;

	if (!realpath(root, s.path) ||
	    (fd = open(s.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return INT64_MAX;
	scan_dir(&s, fd);
	return s.oldest;
}

/*
 * A build directory outside the mount (-o outputs=) is in no tree the
 * daemon sees: a source a fresh checkout (or an edit made while
 * unmounted, under a new baseline) changed after its build would show its
 * content time, older than the objects there, and make would skip the
 * rebuild. So every baseline moves back to the oldest mtime there, each
 * file counted as an untracked one in the tree is. INT64_MAX: none (a
 * directory not made yet has none).
 */
static int64_t oldest_output(struct times *t,
			     const struct canonfs_options *opts)
{
	struct scan s = {.t = t, .outputs = true, .oldest = INT64_MAX};
	int fd;

	for (size_t i = 0; i < opts->n_outputs; i++)
		if (realpath(opts->outputs[i], s.path) &&
		    (fd = open(s.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >=
			    0)
			scan_dir(&s, fd);
	return s.oldest;
}

int times_open(struct times *t, const struct layout *layout,
	       const struct canonfs_options *opts, struct digest_cache *digests,
	       char *err, size_t err_size)
{
	bool by_content = opts->rules.time_mode == CANON_TIME_CONTENT ||
			  opts->rules.time_mode == CANON_TIME_BASELINE;
	char warn[2 * PATH_MAX];
	int64_t outputs = INT64_MAX;
	int rc;

	memset(t, 0, sizeof(*t));
	t->mode = opts->rules.time_mode;
	t->digests = digests;
	if (!by_content)
		return 0;
	if (!(t->mirrors = calloc(layout->n_mirrors, sizeof(*t->mirrors)))) {
		snprintf(err, err_size, "out of memory");
		return ENOMEM;
	}
	t->n_mirrors = layout->n_mirrors;
	/* Not when -o baseline= vouches for the outputs (see below). */
	if (t->mode == CANON_TIME_BASELINE && !opts->baseline_arg)
		outputs = oldest_output(t, opts);
	for (size_t i = 0; i < layout->n_mirrors; i++) {
		struct times_mirror *m = &t->mirrors[i];
		const char *root = layout->mirrors[i].host_root;
		/* -o baseline= vouches for the project's trees only: the
		 * system headers' and Go's directories are every project's,
		 * and a new baseline there would hide their changes from the
		 * others' outputs. */
		enum layout_kind kind = layout->mirrors[i].kind;
		bool project = kind == LAYOUT_SRC || kind == LAYOUT_EXTRA;
		const char *given = project ? opts->baseline_arg : NULL;
		bool unreadable;

		m->git = gitindex_load(root, &unreadable);
		if (t->mode != CANON_TIME_BASELINE)
			continue;
		rc = baseline_open(&m->baseline, root, NULL, given, err,
				   err_size, warn, sizeof(warn));
		if (!rc && !given && opts->baseline_arg &&
		    !m->baseline.since_ns) {
			/* A shared tree's stored baseline in the future (the
			 * clock went back): nothing there can be trusted, and
			 * the warning says -o baseline= starts a new one. */
			baseline_close(&m->baseline);
			rc = baseline_open(&m->baseline, root, NULL,
					   opts->baseline_arg, err, err_size,
					   warn, sizeof(warn));
		}
		if (rc)
			return rc;
		if (unreadable) {
			/* Outputs cannot be told from sources: only host
			 * times are never wrong for a tool. */
			baseline_distrust(&m->baseline);
			snprintf(warn, sizeof(warn),
				 "the git index of %s cannot be read (a split "
				 "index or a SHA-256 repository): its files "
				 "show their host times",
				 root);
		} else if (m->git && m->baseline.created && !given) {
			baseline_move_back(&m->baseline,
					   oldest_not_brought(t, root, m->git));
		}
		/* Given a baseline, the user vouches for the outputs too: a
		 * clean build's. Only the project's trees: a move back is
		 * kept, and the shared ones are every project's. */
		if (project && !given)
			baseline_move_back(&m->baseline, outputs);
		/* The source tree's is said first; one line for all. */
		if (warn[0] && !t->warning[0])
			memcpy(t->warning, warn, sizeof(t->warning));
	}
	return 0;
}

void times_keep(struct times *t)
{
	const char *first = NULL;
	unsigned failed = 0;
	int err = 0, e;

	for (size_t i = 0; i < t->n_mirrors; i++) {
		if (t->mode != CANON_TIME_BASELINE ||
		    !(e = baseline_keep(&t->mirrors[i].baseline)))
			continue;
		if (!failed++) {
			first = t->mirrors[i].baseline.host_root;
			err = e;
		}
	}
	if (t->warning[0])
		report_error("warning: %s", t->warning);
	if (failed)
		report_error("warning: the baseline of %s%s cannot be kept "
			     "(%s): edits made while unmounted will not count "
			     "as changes at the next mount (set XDG_CACHE_HOME "
			     "or HOME to a writable directory)",
			     first, failed > 1 ? " and the other mirrors" : "",
			     strerror(err));
}

static void host_times(const struct stat *host, struct stat *out)
{
	out->st_atim = host->st_atim;
	out->st_mtim = host->st_mtim;
	out->st_ctim = host->st_ctim;
}

static void content_times(const unsigned char *blob_id, struct stat *out)
{
	canon_content_time(blob_id, &out->st_mtim);
	out->st_atim = out->st_mtim;
	out->st_ctim = out->st_mtim;
}

/* What the mirror's git index says of the object behind host_fd. */
static enum gitindex_answer index_answer(const struct times_mirror *m,
					 int host_fd, const struct stat *host,
					 unsigned char oid[GITINDEX_OID_SIZE])
{
	char path[PATH_MAX];

	if (!m || !m->git || hostpath_of_fd(host_fd, path, sizeof(path)))
		return GITINDEX_NONE;
	return gitindex_find(m->git, path, host, oid);
}

void times_apply(struct times *t, unsigned mirror, int host_fd,
		 const struct stat *host, const char *link_target,
		 struct stat *out)
{
	const struct times_mirror *m =
		mirror < t->n_mirrors ? &t->mirrors[mirror] : NULL;
	unsigned char blob_id[GITINDEX_OID_SIZE], index_oid[GITINDEX_OID_SIZE];
	enum gitindex_answer answer;
	bool baseline = t->mode == CANON_TIME_BASELINE;
	/* A tracked file edited before the baseline whose mtime is before
	 * the content times (a tool set it: an archive's 0) shows its
	 * content time, not that time, which is the same whatever the bytes
	 * (go test's result cache keys on size and mtime, and two checkouts
	 * share one path here); to make both are older than any output.
	 * Untracked files keep theirs, even so: an output a build dated 0
	 * must stay older than its sources. (Set since the baseline, a time
	 * reads back as set.) */
	bool tool_set = !S_ISDIR(host->st_mode) &&
			host->st_mtim.tv_sec < CANON_CONTENT_EPOCH;
	int err = 0;

	if (t->mode != CANON_TIME_CONTENT && !baseline)
		return; /* canon_attr's times are final */
	if (baseline &&
	    (!m || baseline_changed(&t->mirrors[mirror].baseline, host))) {
		host_times(host, out);
		return;
	}
	if (S_ISDIR(host->st_mode))
		return; /* the epoch canon_attr gave it */
	answer = index_answer(m, host_fd, host, index_oid);
	/* In a git checkout, a file git does not track was not brought by
	 * the checkout: a build's output from before the baseline (a first
	 * mount of a worktree, a new container) keeps its true time, so it
	 * stays newer than the sources it was made of. */
	if (baseline && answer == GITINDEX_UNTRACKED) {
		host_times(host, out);
		return;
	}
	if (S_ISLNK(host->st_mode))
		gitindex_blob_id(link_target, strlen(link_target), blob_id);
	else
		err = file_blob_id(t, answer, index_oid, host_fd, host,
				   blob_id);
	if (!err || (err == EEXIST && (!baseline || tool_set)))
		content_times(blob_id, out);
	else if (baseline)
		/* Not what the checkout brought, or unreadable: the host's
		 * times are never wrong for a tool. */
		host_times(host, out);
	/* content, unreadable: the epoch (a build cannot read it either) */
}

void times_close(struct times *t)
{
	for (size_t i = 0; i < t->n_mirrors; i++) {
		gitindex_free(t->mirrors[i].git);
		baseline_close(&t->mirrors[i].baseline);
	}
	free(t->mirrors);
	memset(t, 0, sizeof(*t));
}
