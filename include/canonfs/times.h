/*
 * times: the timestamps shown for host objects, by the time mode
 * (-o mtime=; see canon.h for the modes).
 *
 * Under the default, CANON_TIME_BASELINE, what is unchanged since the
 * tree's baseline (baseline.h) shows times made of canonical facts only:
 * a directory the content epoch, a file or symlink canon_content_time of
 * its git blob id. Whatever changed since shows its true host times, and
 * so does a tracked file whose content is not the blob its checkout's
 * index names (edited before the baseline, or unmerged): a tool then
 * compares real times, as it would outside the mount.
 *
 * One function of the content gives the time wherever it comes from: the
 * blob id is read from the git index where the file's stat still matches
 * its entry (gitindex.h) and computed from the bytes elsewhere (through
 * the digest cache), so a git checkout and an unpacked tarball of one
 * commit show the same times. CANON_TIME_CONTENT uses the same function
 * for everything, changed or not.
 *
 * Ownership: times_open allocates the per-mirror state, times_close frees
 * it. The digest cache is the caller's. Thread safety: see baseline.h;
 * the rest is const after open.
 */
#ifndef CANONFS_TIMES_H
#define CANONFS_TIMES_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>

#include "canonfs/baseline.h"
#include "canonfs/canon.h"
#include "canonfs/digests.h"
#include "canonfs/gitindex.h"
#include "canonfs/layout.h"
#include "canonfs/options.h"

struct times_mirror {
	struct baseline baseline; /* CANON_TIME_BASELINE only */
	struct gitindex *git;	  /* the checkout's index, or NULL */
};

struct times {
	enum canon_time_mode mode;    /* const */
	struct digest_cache *digests; /* not owned */
	struct times_mirror *mirrors; /* one per layout mirror; owned */
	size_t n_mirrors;
	char warning[2 * PATH_MAX]; /* said by times_keep; empty: none */
};

/*
 * Set up the time mode of opts for every mirror of layout. Returns 0, or
 * an errno value with one line in err (a -o baseline= that cannot be
 * used). Nothing is written and nothing said: see times_keep.
 */
int times_open(struct times *t, const struct layout *layout,
	       const struct canonfs_options *opts, struct digest_cache *digests,
	       char *err, size_t err_size);

/* Once mounted: store the baselines that are new, and say on stderr what
 * works but loses something (a baseline that cannot be kept, one in the
 * future), one line each. */
void times_keep(struct times *t);

/*
 * Put the times to show into out (filled by canon_attr) for the object
 * of mirror behind host_fd, whose fstat is host; link_target is a
 * symlink's target as shown.
 */
void times_apply(struct times *t, unsigned mirror, int host_fd,
		 const struct stat *host, const char *link_target,
		 struct stat *out);

/* The name of a time mode, as -o mtime= spells it ("SECONDS" for a
 * fixed epoch). */
const char *times_mode_name(enum canon_time_mode mode);

void times_close(struct times *t);

#endif
