/*
 * times: the timestamps shown (see include/canonfs/times.h).
 */
#include "canonfs/times.h"

#include "canonfs/hostpath.h"
#include "canonfs/report.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

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

int times_open(struct times *t, const struct layout *layout,
	       const struct canonfs_options *opts, struct digest_cache *digests,
	       char *err, size_t err_size)
{
	bool by_content = opts->rules.time_mode == CANON_TIME_CONTENT ||
			  opts->rules.time_mode == CANON_TIME_BASELINE;
	char warn[2 * PATH_MAX];
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
	for (size_t i = 0; i < layout->n_mirrors; i++) {
		struct times_mirror *m = &t->mirrors[i];

		m->git = gitindex_load(layout->mirrors[i].host_root);
		if (t->mode != CANON_TIME_BASELINE)
			continue;
		rc = baseline_open(&m->baseline, layout->mirrors[i].host_root,
				   NULL, opts->baseline_arg, err, err_size,
				   warn, sizeof(warn));
		if (rc)
			return rc;
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

void times_apply(struct times *t, unsigned mirror, int host_fd,
		 const struct stat *host, const char *link_target,
		 struct stat *out)
{
	const struct times_mirror *m =
		mirror < t->n_mirrors ? &t->mirrors[mirror] : NULL;
	unsigned char blob_id[GITINDEX_OID_SIZE], index_oid[GITINDEX_OID_SIZE];
	enum gitindex_answer answer;
	bool baseline = t->mode == CANON_TIME_BASELINE;
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
	if (!err || (err == EEXIST && !baseline))
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
