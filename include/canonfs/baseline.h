/*
 * baseline: when a mirrored host tree was first seen on this machine, so
 * that what the checkout brought can be told from every change after it.
 *
 * An entry whose host ctime is before the baseline is unchanged since:
 * the default time mode shows it times made of its content. An entry
 * changed since (content or metadata, on the host or through the mount,
 * or created since) has a later ctime, since no tool can set a ctime back
 * (`touch -d`, `cp -p`, `rsync -a`, `tar x` set the mtime only), and is
 * shown with its true host times.
 *
 * A new baseline of a git checkout is moved back to the oldest time of
 * what the checkout did not bring (times.c, baseline_move_back): an
 * earlier build's outputs then stay older than any source changed after
 * them, in a worktree mounted for the first time. The baselines of the
 * project's trees (SRCDIR, -o mirror=), new or stored, are also moved
 * back to the oldest file of the build directories outside the mount that
 * -o outputs= names: no tree can tell those.
 *
 * The baseline of a tree belongs to this machine and survives remounts,
 * so an edit made while unmounted still counts: it is kept in a file of
 * the user's cache directory (BASELINE_DIR under $XDG_CACHE_HOME/canonfs,
 * else ~/.cache/canonfs), named by a digest of the tree's resolved path,
 * device, inode number and birth time, so that a fresh clone (a new
 * directory) or a fresh container starts a new one. File format:
 *
 *   "canonfs-baseline 1\n" SECONDS "." NANOSECONDS "\n" HOST_PATH "\n"
 *
 * A baseline is a point of CLOCK_REALTIME_COARSE, the clock file times
 * are taken from (fine-grained times are never behind it), so anything
 * done after it was taken has a ctime at or after it. Timestamps with no
 * nanoseconds come from filesystems that keep whole seconds (or two, as
 * FAT): those within two seconds before the baseline count as changed.
 *
 * A stored baseline in the future means the clock went back: ctimes then
 * cannot tell a change from the checkout, so every entry counts as
 * changed until the baseline is reset (-o baseline=now), and the file
 * says so (SECONDS 0). The same happens when the clock goes back during
 * a mount.
 *
 * Thread safety: since_ns is atomic; the rest is const after open.
 */
#ifndef CANONFS_BASELINE_H
#define CANONFS_BASELINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#define BASELINE_MAGIC "canonfs-baseline 1\n"
#define BASELINE_DIR "baselines"
/* Whole-second timestamps are trusted this far before the baseline. */
#define BASELINE_COARSE_NS ((int64_t)2000000000)

struct baseline {
	int64_t since_ns; /* atomic; ctimes at or after it are changes;
			     0: every entry counts as changed */
	char *state_path; /* the file it is kept in (owned), or NULL */
	char *host_root;  /* the tree's resolved path (owned) */
	bool created;	  /* started by this mount */
	bool to_keep;	  /* to be written by baseline_keep */
};

/*
 * Open the baseline of the tree at host_root (resolved) from state_dir
 * (the directory of baseline files, made when missing; NULL: the
 * default). arg is -o baseline= (NULL: the stored one, else a new one
 * now; "now": a new one now; SECONDS: that second). Returns 0, or an
 * errno value with one line in err for an arg that cannot be used. A
 * stored baseline in the future still opens, with one line in warn
 * (empty otherwise). Nothing is written: see baseline_keep.
 */
int baseline_open(struct baseline *b, const char *host_root,
		  const char *state_dir, const char *arg, char *err,
		  size_t err_size, char *warn, size_t warn_size);

/* Store a baseline that is new, reset or found in the future, once the
 * mount is up (a refused mount leaves nothing behind). Returns 0 or an
 * errno value: edits made while unmounted then cannot be told at the next
 * mount. */
int baseline_keep(struct baseline *b);

/* The baseline moved back to ns (never forward): everything whose ctime
 * is at or after it counts as changed (a ns of 0 or less: all). A moved
 * baseline is kept so by baseline_keep. */
void baseline_move_back(struct baseline *b, int64_t ns);

/* Every entry counts as changed, and nothing is kept: the next mount
 * decides again. */
void baseline_distrust(struct baseline *b);

/* Whether the entry whose host stat is st changed since the baseline. */
bool baseline_changed(struct baseline *b, const struct stat *st);

/* The pure rule behind baseline_changed (unit tests). */
bool baseline_ctime_is_change(int64_t since_ns, const struct timespec *ctime);

/* The default directory of baseline files. Returns 0, or -1 when neither
 * $XDG_CACHE_HOME nor $HOME is set. */
int baseline_default_dir(char *out, size_t out_size);

/* Parse -o baseline= (now, or seconds since 1970): 0 or EINVAL. */
int baseline_parse_arg(const char *arg, bool *now, int64_t *seconds);

void baseline_close(struct baseline *b);

#endif
