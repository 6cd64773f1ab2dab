/*
 * symlink: the canonical rules for symlink targets, as pure functions.
 *
 * Reading (host -> view): an absolute target inside a mirrored host
 * directory is shown as the equivalent virtual path, written relative to
 * the link so it is the same on every machine (its ".." kept, as below;
 * only ".." that undo part of the mirror's own host path are taken out
 * lexically); a relative target is shown
 * with "." and repeated slashes taken out, its ".." kept (what a ".."
 * undoes may be a symlink) and a trailing "/" kept (it asks for a
 * directory); an absolute target outside every mirror is
 * shown as it is (the audit tools report it).
 *
 * Writing (view -> host): a link created through the mount whose target
 * names a place inside the mount is stored so that it still resolves on
 * the host: relative when link and target share a mirror, the absolute
 * host path when they do not.
 */
#ifndef CANONFS_SYMLINK_H
#define CANONFS_SYMLINK_H

#include <stdbool.h>
#include <stddef.h>

/* One spelling of a mirror's host directory. A mirror may appear twice:
 * its resolved path (realpath) and the path as the user gave it. */
struct symlink_mirror {
	const char *virt_path; /* clean absolute virtual path: "/src" */
	const char *host_path; /* clean absolute host path */
	unsigned mirror_id;    /* which mirror this spelling belongs to */
};

/*
 * The target to show for a host symlink whose host target is `target` and
 * which lives in virtual directory link_virt_dir. Returns 0 or ENAMETOOLONG.
 */
int symlink_to_view(const char *target, const char *link_virt_dir,
		    const struct symlink_mirror *mirrors, size_t n_mirrors,
		    char *out, size_t out_size);

/* Whether relative target, walked from virtual directory dir one component
 * at a time, ever leaves root: it then depends on where the host put the
 * tree (lexically: a ".." after a symlink is taken as undoing its name). */
bool symlink_climbs_out(const char *dir, const char *target, const char *root);

/*
 * The target to store on the host for a symlink created through the mount
 * at mount path `mountpoint`, in virtual directory link_virt_dir of mirror
 * link_mirror. Host spellings earlier in `mirrors` are preferred.
 */
int symlink_to_host(const char *target, const char *link_virt_dir,
		    unsigned link_mirror, const char *mountpoint,
		    const struct symlink_mirror *mirrors, size_t n_mirrors,
		    char *out, size_t out_size);

#endif
