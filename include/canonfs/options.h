/*
 * options: the command line of the mount (`canonfs [options] SRCDIR MNT`).
 *
 * options_parse() fills a struct canonfs_options from argv and leaves in
 * fuse_args only what libfuse itself must see (generic mount options such as
 * allow_other or noatime). Validation of values and of conflicts between
 * options happens here; checks that need the filesystem (does SRCDIR exist?)
 * happen in daemon.c and layout.c.
 */
#ifndef CANONFS_OPTIONS_H
#define CANONFS_OPTIONS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "canonfs/canon.h"
#include "canonfs/sysinc.h"

/* One `-o mirror=VIRT:HOSTDIR`. Strings owned by the options struct. */
struct mirror_spec {
	char *virt_path; /* clean, absolute: "/extra/one" */
	char *host_dir;	 /* as the user wrote it */
};

struct canonfs_options {
	char *src_dir;	  /* first argument, as given (owned) */
	char *mountpoint; /* second argument, as given (owned) */

	bool foreground;
	bool debug;
	bool single_thread;
	bool show_help;
	bool show_version;
	bool read_only;
	/* int, not bool: fuse_opt_parse stores an int through the offset. */
	int nonempty; /* allow a MOUNTPOINT that has entries */
	int xattr;    /* pass extended attributes through */
	int nowatch;  /* no inotify: short cache timeouts instead */
	/* -o passthrough: the kernel reads and writes every regular host
	 * file itself, OPEN answered; -o passthrough=create: only files it
	 * creates (passthrough.h). */
	int passthrough_reads;
	int passthrough_create;
	/* allow_other or allow_root: other users reach the mount, so the
	 * kernel must check their permissions (default_permissions). */
	bool shared;
	unsigned max_read; /* -o max_read=N, handed on too; 0: none */

	enum dir_order order; /* listing order: sorted, or an audit mode */
	uint64_t order_seed;  /* for DIR_ORDER_SHUFFLE */
	char *order_arg;      /* raw value (owned) */
	char *trace_path;     /* -o trace=FILE (owned), or NULL */

	struct canon_rules rules; /* time mode, owner */

	struct mirror_spec *mirrors; /* owned array */
	size_t n_mirrors;

	/* -o outputs=DIR (repeatable): build directories outside the mount,
	 * as the user wrote them (owned); their oldest file moves each
	 * baseline back (times.c). */
	char **outputs;
	size_t n_outputs;

	/* System include directories (sysinc.h): -o cc=, -o sys=. */
	char *cc_arg;
	char *sysroot_arg; /* -o sysroot=: the discovered headers' new root */
	struct sysinc_spec *sys_specs; /* owned array, in the given order */
	size_t n_sys_specs;

	/* Go's directories: a host path, "none", or NULL for the default. */
	char *gomodcache_arg;
	char *gopath_arg;
	char *goroot_arg; /* the toolchain at /goroot: a path, "none", NULL */
	/* The persistent digest cache: a file, "none", or NULL (default). */
	char *digests_arg;

	/* Raw values as fuse_opt_parse stores them (owned). */
	char *uid_arg;
	char *gid_arg;
	char *mtime_arg;
	/* -o baseline=: "now", seconds since 1970, or NULL (the stored
	 * baseline of each tree, see baseline.h) */
	char *baseline_arg;
	bool saw_ro;
	bool saw_rw;

	char error[512]; /* the first problem found, for one line on stderr */
};

/*
 * Parse argv. On success returns 0 and fuse_args holds the options for
 * fuse_session_new() (the caller frees it with fuse_opt_free_args). On bad
 * input returns -1 with opts->error set. Call options_free() in both cases.
 */
int options_parse(int argc, char **argv, struct canonfs_options *opts,
		  struct fuse_args *fuse_args);

void options_free(struct canonfs_options *opts);

/* Print the manual-style --help text. */
void options_print_help(const char *program);

#endif
