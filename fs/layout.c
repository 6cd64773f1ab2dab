/*
 * layout: the virtual namespace (see include/canonfs/layout.h).
 */
#include "canonfs/layout.h"

#include "canonfs/canon.h"
#include "canonfs/goenv.h"
#include "canonfs/hostpath.h"
#include "canonfs/path.h"
#include "canonfs/report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int entry_compare(const void *a, const void *b)
{
	const struct layout_entry *ea = a, *eb = b;

	return strcmp(ea->name, eb->name); /* byte order: strcmp is unsigned */
}

static int add_entry(struct layout_dir *dir, const char *name, int synth_dir,
		     int mirror)
{
	struct layout_entry *grown;

	grown = realloc(dir->entries, (dir->n_entries + 1) * sizeof(*grown));
	if (!grown)
		return ENOMEM;
	dir->entries = grown;
	grown[dir->n_entries] = (struct layout_entry){
		.name = strdup(name), .synth_dir = synth_dir, .mirror = mirror};
	if (!grown[dir->n_entries].name)
		return ENOMEM;
	dir->n_entries++;
	return 0;
}

/* The index of synthetic directory virt_path, created with its parents. */
static int ensure_dir(struct layout *layout, const char *virt_path, int *index)
{
	char parent_path[PATH_MAX];
	struct layout_dir *grown, *dir;
	int parent, err;

	for (size_t i = 0; i < layout->n_dirs; i++) {
		if (strcmp(layout->dirs[i].virt_path, virt_path) == 0) {
			*index = (int)i;
			return 0;
		}
	}

	parent = -1;
	if (strcmp(virt_path, "/") != 0) {
		if ((err = path_dirname(virt_path, parent_path,
					sizeof(parent_path))) ||
		    (err = ensure_dir(layout, parent_path, &parent)))
			return err;
	}

	grown = realloc(layout->dirs, (layout->n_dirs + 1) * sizeof(*grown));
	if (!grown)
		return ENOMEM;
	layout->dirs = grown;
	dir = &grown[layout->n_dirs];
	memset(dir, 0, sizeof(*dir));
	if (!(dir->virt_path = strdup(virt_path)))
		return ENOMEM;
	if (parent < 0) {
		dir->canon_ino = CANON_ROOT_INO;
		dir->parent_canon_ino = CANON_ROOT_INO;
	} else {
		const char *name = strrchr(virt_path, '/') + 1;

		dir->parent_canon_ino = layout->dirs[parent].canon_ino;
		dir->canon_ino = canon_child_ino(dir->parent_canon_ino, name);
		if ((err = add_entry(&layout->dirs[parent], name,
				     (int)layout->n_dirs, -1)))
			return err;
	}
	*index = (int)layout->n_dirs++;
	return 0;
}

/* Resolve, open and place one mirror; `what` names it in messages. */
static int add_mirror(struct layout *layout, enum layout_kind kind,
		      const char *virt_path, const char *host_dir,
		      const char *what, char *err, size_t err_size)
{
	char given[PATH_MAX], cwd[PATH_MAX], parent_path[PATH_MAX];
	struct layout_mirror *mirror, *grown;
	int parent, rc;
	char *resolved;

	if (host_dir[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)) ||
		    path_join_clean(cwd, host_dir, given, sizeof(given)))
			goto too_long;
	} else if (path_clean(host_dir, given, sizeof(given))) {
		goto too_long;
	}

	resolved = realpath(host_dir, NULL);
	if (!resolved) {
		snprintf(err, err_size,
			 "%s '%s': %s (give an existing directory)", what,
			 host_dir, strerror(errno));
		return -1;
	}

	grown = realloc(layout->mirrors,
			(layout->n_mirrors + 1) * sizeof(*grown));
	if (!grown) {
		free(resolved);
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	layout->mirrors = grown;
	mirror = &grown[layout->n_mirrors++];
	memset(mirror, 0, sizeof(*mirror));
	mirror->kind = kind;
	/* A build never writes system headers or its toolchain. */
	mirror->read_only = kind == LAYOUT_SYS || kind == LAYOUT_GOROOT;
	mirror->host_root = resolved;
	mirror->root_fd = open(resolved, O_PATH | O_DIRECTORY | O_CLOEXEC);
	mirror->virt_path = strdup(virt_path);
	mirror->host_given = strdup(given);
	if (mirror->root_fd < 0) {
		snprintf(err, err_size, "%s '%s': %s (give a directory)", what,
			 host_dir, strerror(errno));
		return -1;
	}
	/* An O_PATH open needs no access to the directory itself: one the
	 * daemon may not list would mount, and fail at every look inside. */
	if (access(resolved, R_OK | X_OK) == -1) {
		snprintf(err, err_size,
			 "%s '%s': %s (give a directory you may read)", what,
			 host_dir, strerror(errno));
		return -1;
	}
	if (!mirror->virt_path || !mirror->host_given) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}

	if ((rc = path_dirname(virt_path, parent_path, sizeof(parent_path))) ||
	    (rc = ensure_dir(layout, parent_path, &parent)) ||
	    (rc = add_entry(&layout->dirs[parent], strrchr(virt_path, '/') + 1,
			    -1, (int)layout->n_mirrors - 1))) {
		snprintf(err, err_size, "cannot build the layout: %s",
			 strerror(rc));
		return -1;
	}
	mirror->parent_canon_ino = layout->dirs[parent].canon_ino;
	mirror->canon_ino = canon_child_ino(mirror->parent_canon_ino,
					    strrchr(virt_path, '/') + 1);
	return 0;

too_long:
	snprintf(err, err_size, "%s '%s': path too long", what, host_dir);
	return -1;
}

/* A mount inside a mirror loops into itself; a mirror inside the mount is
 * hidden by it. Both are refused. */
static int check_overlap(const struct layout *layout, const char *what,
			 const char *host_root, char *err, size_t err_size)
{
	if (path_under(layout->mountpoint, host_root)) {
		snprintf(err, err_size,
			 "MOUNTPOINT '%s' is inside %s '%s' (a mount inside "
			 "its own source loops into itself; choose a "
			 "mountpoint outside it)",
			 layout->mountpoint, what, host_root);
		return -1;
	}
	if (path_under(host_root, layout->mountpoint)) {
		snprintf(err, err_size,
			 "%s '%s' is inside MOUNTPOINT '%s' (the mount would "
			 "hide it; choose a mountpoint outside it)",
			 what, host_root, layout->mountpoint);
		return -1;
	}
	return 0;
}

static int add_spellings(struct layout *layout)
{
	layout->spellings =
		calloc(2 * layout->n_mirrors, sizeof(*layout->spellings));
	if (!layout->spellings)
		return ENOMEM;
	/* Resolved spellings first: they are preferred when storing links. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < layout->n_mirrors; i++) {
			const struct layout_mirror *m = &layout->mirrors[i];
			const char *host =
				pass == 0 ? m->host_root : m->host_given;

			if (pass == 1 &&
			    strcmp(m->host_given, m->host_root) == 0)
				continue;
			layout->spellings[layout->n_spellings++] =
				(struct symlink_mirror){
					.virt_path = m->virt_path,
					.host_path = host,
					.mirror_id = (unsigned)i};
		}
	}
	return 0;
}

/* MOUNTPOINT/sys/NAME for each system include directory. */
static int add_sys_mirrors(struct layout *layout, const struct sysinc_list *sys,
			   char *err, size_t err_size)
{
	char virt[PATH_MAX], what[NAME_MAX + 32];

	for (size_t i = 0; sys && i < sys->n; i++) {
		snprintf(virt, sizeof(virt), "/sys/%s", sys->dirs[i].name);
		snprintf(what, sizeof(what), "-o sys=%s:", sys->dirs[i].name);
		if (add_mirror(layout, LAYOUT_SYS, virt, sys->dirs[i].host_dir,
			       what, err, err_size))
			return -1;
	}
	return 0;
}

/*
 * MOUNTPOINT/goroot: Go 1.20+ writes GOROOT into every link key and into
 * the binaries, and CI machines install Go at paths of their own. Where
 * the toolchain's top-level links lead out of it (Debian's), their one
 * target directory is mirrored at /goroot-links, so they resolve inside.
 */
static int add_goroot(struct layout *layout, const struct canonfs_options *opts,
		      char *err, size_t err_size)
{
	char dir[PATH_MAX], links[PATH_MAX];
	bool chosen;

	if (!goenv_goroot_dir(opts, layout->mountpoint, dir, sizeof(dir),
			      &chosen))
		return 0;
	if (add_mirror(layout, LAYOUT_GOROOT, "/goroot", dir,
		       chosen ? "-o goroot" : "GOROOT", err, err_size))
		return -1;
	if (goenv_goroot_links_dir(dir, links, sizeof(links)) &&
	    add_mirror(layout, LAYOUT_GOROOT, "/goroot-links", links,
		       "GOROOT's links", err, err_size))
		return -1;
	return 0;
}

/* MOUNTPOINT/gomodcache and MOUNTPOINT/gopath. A default that does not
 * exist is skipped (created first for the module cache on a writable
 * mount); one the user named must work. */
static int add_go_mirrors(struct layout *layout,
			  const struct canonfs_options *opts, char *err,
			  size_t err_size)
{
	char dir[PATH_MAX];
	struct stat st;
	bool chosen;

	if (goenv_modcache_dir(opts, layout->mountpoint, dir, sizeof(dir),
			       &chosen)) {
		char resolved[PATH_MAX];

		/* A named one that clashes with the mountpoint is refused
		 * before anything is created: a refused mount leaves the
		 * mountpoint as empty as it found it. (Defaults that clash
		 * are never returned.) */
		if (chosen &&
		    hostpath_resolve(dir, resolved, sizeof(resolved)) == 0 &&
		    check_overlap(layout, "-o gomodcache", resolved, err,
				  err_size))
			return -1;
		/* Created when missing, as `go mod download` would. A
		 * default that cannot be is said: builds in the mount would
		 * then use a cache at a host path, and miss across machines. */
		int unmade =
			opts->read_only ? 0 : hostpath_make_dirs(dir, NULL);

		if (unmade && !chosen)
			report_error("warning: the module cache '%s' cannot be "
				     "made (%s): MOUNTPOINT/gomodcache is left "
				     "out (give one with -o gomodcache=DIR)",
				     dir, strerror(unmade));
		if ((chosen || stat(dir, &st) == 0) &&
		    add_mirror(layout, LAYOUT_GOMODCACHE, "/gomodcache", dir,
			       chosen ? "-o gomodcache" : "GOMODCACHE", err,
			       err_size))
			return -1;
	}
	if (goenv_gopath_dir(opts, layout->mountpoint, dir, sizeof(dir),
			     &chosen) &&
	    (chosen || stat(dir, &st) == 0) &&
	    add_mirror(layout, LAYOUT_GOPATH, "/gopath", dir,
		       chosen ? "-o gopath" : "GOPATH", err, err_size))
		return -1;
	return add_goroot(layout, opts, err, err_size);
}

int layout_build(struct layout *layout, const struct canonfs_options *opts,
		 const struct sysinc_list *sys, const char *mountpoint,
		 char *err, size_t err_size)
{
	char what[PATH_MAX + 32];
	int root;

	memset(layout, 0, sizeof(*layout));
	if (!(layout->mountpoint = strdup(mountpoint)) ||
	    ensure_dir(layout, "/", &root)) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}

	if (add_mirror(layout, LAYOUT_SRC, "/src", opts->src_dir, "SRCDIR", err,
		       err_size))
		return -1;
	for (size_t i = 0; i < opts->n_mirrors; i++) {
		snprintf(what, sizeof(what),
			 "-o mirror=%s:", opts->mirrors[i].virt_path + 1);
		if (add_mirror(layout, LAYOUT_EXTRA, opts->mirrors[i].virt_path,
			       opts->mirrors[i].host_dir, what, err, err_size))
			return -1;
	}
	if (add_sys_mirrors(layout, sys, err, err_size) ||
	    add_go_mirrors(layout, opts, err, err_size))
		return -1;

	for (size_t i = 0; i < layout->n_mirrors; i++) {
		snprintf(what, sizeof(what), i == 0 ? "SRCDIR" : "mirror %s",
			 layout->mirrors[i].virt_path + 1);
		if (check_overlap(layout, what, layout->mirrors[i].host_root,
				  err, err_size))
			return -1;
	}

	for (size_t i = 0; i < layout->n_dirs; i++)
		if (layout->dirs[i].n_entries > 0)
			qsort(layout->dirs[i].entries,
			      layout->dirs[i].n_entries,
			      sizeof(struct layout_entry), entry_compare);
	if (add_spellings(layout)) {
		snprintf(err, err_size, "out of memory");
		return -1;
	}
	return 0;
}

void layout_free(struct layout *layout)
{
	for (size_t i = 0; i < layout->n_mirrors; i++) {
		struct layout_mirror *m = &layout->mirrors[i];

		if (m->root_fd >= 0)
			close(m->root_fd);
		free(m->virt_path);
		free(m->host_root);
		free(m->host_given);
	}
	for (size_t i = 0; i < layout->n_dirs; i++) {
		for (size_t j = 0; j < layout->dirs[i].n_entries; j++)
			free(layout->dirs[i].entries[j].name);
		free(layout->dirs[i].entries);
		free(layout->dirs[i].virt_path);
	}
	free(layout->mirrors);
	free(layout->dirs);
	free(layout->spellings);
	free(layout->mountpoint);
	memset(layout, 0, sizeof(*layout));
}

const struct layout_entry *layout_dir_find(const struct layout_dir *dir,
					   const char *name)
{
	struct layout_entry key = {.name = (char *)name};

	return bsearch(&key, dir->entries, dir->n_entries,
		       sizeof(struct layout_entry), entry_compare);
}

int layout_virt_path_of_fd(const struct layout *layout, unsigned mirror, int fd,
			   char *out, size_t out_size)
{
	const struct layout_mirror *m = &layout->mirrors[mirror];
	char host_path[PATH_MAX];
	const char *rest;
	struct stat st;
	int err;

	if ((err = hostpath_of_fd(fd, host_path, sizeof(host_path))))
		return err;
	/* An unlinked object has no place now. The kernel's name for it
	 * ends in " (deleted)", but so may a real name: ask the inode. */
	if (fstat(fd, &st) == -1)
		return errno;
	if (st.st_nlink == 0)
		return ENOENT;
	rest = path_under(host_path, m->host_root);
	if (!rest)
		return ENOENT;
	if ((size_t)snprintf(out, out_size, "%s%s", m->virt_path, rest) >=
	    out_size)
		return ENAMETOOLONG;
	return 0;
}
