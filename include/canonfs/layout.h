/*
 * layout: the virtual namespace. Which virtual path shows which host
 * directory (the mirrors), and the synthetic read-only directories above
 * them (the root, and "extra" in "extra/tools").
 *
 * Built once before mounting and immutable afterwards, so every thread
 * reads it without a lock. The layout owns all its strings and the O_PATH
 * descriptors of the mirror roots.
 */
#ifndef CANONFS_LAYOUT_H
#define CANONFS_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "canonfs/options.h"
#include "canonfs/symlink.h"
#include "canonfs/sysinc.h"

/* What a mirror is for; fixed virtual paths for all but EXTRA. */
enum layout_kind {
	LAYOUT_SRC,	   /* SRCDIR at /src */
	LAYOUT_EXTRA,	   /* -o mirror=VIRT:DIR at /VIRT */
	LAYOUT_SYS,	   /* a system include directory at /sys/NAME */
	LAYOUT_GOMODCACHE, /* Go's module cache at /gomodcache */
	LAYOUT_GOPATH,	   /* GOPATH at /gopath */
	LAYOUT_GOROOT,	   /* the Go toolchain at /goroot (and the place
			      its top-level links lead, /goroot-links) */
};

/* Mirror 0 is always SRCDIR at "/src". */
struct layout_mirror {
	enum layout_kind kind;
	bool read_only;	  /* system headers: a build never writes them */
	char *virt_path;  /* "/src", "/extra/tools" */
	char *host_root;  /* the host directory, resolved (realpath) */
	char *host_given; /* absolute and clean, as the user spelled it */
	int root_fd;	  /* O_PATH|O_DIRECTORY of host_root */
	uint64_t canon_ino;
	uint64_t parent_canon_ino;
};

/* One child of a synthetic directory: a synthetic directory or a mirror. */
struct layout_entry {
	char *name;
	int synth_dir; /* index into layout.dirs, or -1 */
	int mirror;    /* index into layout.mirrors, or -1 */
};

struct layout_dir {
	char *virt_path;
	uint64_t canon_ino;
	uint64_t parent_canon_ino;
	struct layout_entry *entries; /* sorted by name bytes */
	size_t n_entries;
};

struct layout {
	struct layout_mirror *mirrors;
	size_t n_mirrors;
	struct layout_dir *dirs; /* dirs[0] is the root "/" */
	size_t n_dirs;
	/* Every host spelling of every mirror, for symlink rewriting. */
	struct symlink_mirror *spellings;
	size_t n_spellings;
	char *mountpoint; /* resolved mount path */
};

/*
 * Build the layout from the options and the system include list: resolves
 * and opens every mirror's host directory (creating Go's module cache when
 * missing, as Go would) and checks that none of them holds the mountpoint
 * (a mount that loops into itself deadlocks). Returns 0, or -1 with one
 * line in err. layout_free() is safe after a failure.
 */
int layout_build(struct layout *layout, const struct canonfs_options *opts,
		 const struct sysinc_list *sys, const char *mountpoint,
		 char *err, size_t err_size);

void layout_free(struct layout *layout);

/* The child `name` of a synthetic directory, or NULL. */
const struct layout_entry *layout_dir_find(const struct layout_dir *dir,
					   const char *name);

/*
 * The virtual path of the host object behind fd (any descriptor, O_PATH
 * included) that belongs to mirror `mirror`, found from where the kernel
 * says the object is now. Returns 0, or ENOENT when it has left the mirror.
 */
int layout_virt_path_of_fd(const struct layout *layout, unsigned mirror, int fd,
			   char *out, size_t out_size);

#endif
