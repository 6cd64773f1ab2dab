/*
 * options: the `-o` table, the mount's command line and its validation
 * (see include/canonfs/options.h).
 */
#include "canonfs/options.h"

#include "canonfs/baseline.h"

#include "canonfs/path.h"
#include "canonfs/version.h"

#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
	KEY_HELP,
	KEY_VERSION,
	KEY_FOREGROUND,
	KEY_DEBUG,
	KEY_SINGLE_THREAD,
	KEY_RO,
	KEY_RW,
	KEY_MIRROR,
	KEY_OUTPUTS,
	KEY_SYS,
};

#define CANONFS_OPT(templ, field, value)                                       \
	{                                                                      \
		templ, offsetof(struct canonfs_options, field), value          \
	}

static const struct fuse_opt option_table[] = {
	CANONFS_OPT("uid=%s", uid_arg, 0),
	CANONFS_OPT("gid=%s", gid_arg, 0),
	CANONFS_OPT("mtime=%s", mtime_arg, 0),
	CANONFS_OPT("baseline=%s", baseline_arg, 0),
	CANONFS_OPT("nonempty", nonempty, 1),
	CANONFS_OPT("xattr", xattr, 1),
	CANONFS_OPT("nowatch", nowatch, 1),
	CANONFS_OPT("passthrough", passthrough_reads, 1),
	CANONFS_OPT("passthrough=create", passthrough_create, 1),
	CANONFS_OPT("order=%s", order_arg, 0),
	CANONFS_OPT("trace=%s", trace_path, 0),
	CANONFS_OPT("cc=%s", cc_arg, 0),
	CANONFS_OPT("sysroot=%s", sysroot_arg, 0),
	CANONFS_OPT("gomodcache=%s", gomodcache_arg, 0),
	CANONFS_OPT("gopath=%s", gopath_arg, 0),
	CANONFS_OPT("goroot=%s", goroot_arg, 0),
	CANONFS_OPT("digests=%s", digests_arg, 0),
	FUSE_OPT_KEY("mirror=", KEY_MIRROR),
	FUSE_OPT_KEY("outputs=", KEY_OUTPUTS),
	FUSE_OPT_KEY("sys=", KEY_SYS),
	FUSE_OPT_KEY("ro", KEY_RO),
	FUSE_OPT_KEY("rw", KEY_RW),
	FUSE_OPT_KEY("-h", KEY_HELP),
	FUSE_OPT_KEY("--help", KEY_HELP),
	FUSE_OPT_KEY("-V", KEY_VERSION),
	FUSE_OPT_KEY("--version", KEY_VERSION),
	FUSE_OPT_KEY("-f", KEY_FOREGROUND),
	FUSE_OPT_KEY("-d", KEY_DEBUG),
	FUSE_OPT_KEY("debug", KEY_DEBUG),
	FUSE_OPT_KEY("-s", KEY_SINGLE_THREAD),
	FUSE_OPT_END};

/* Options that libfuse or the kernel understand: handed on untouched. A
 * trailing '=' takes any value. */
static const char *const fuse_passthrough_options[] = {"allow_other",
						       "allow_root",
						       "auto_unmount",
						       "default_permissions",
						       "fsname=",
						       "subtype=",
						       "max_read=",
						       "suid",
						       "nosuid",
						       "dev",
						       "nodev",
						       "exec",
						       "noexec",
						       "async",
						       "sync",
						       "dirsync",
						       "atime",
						       "noatime",
						       "context=",
						       "fscontext=",
						       "defcontext=",
						       "rootcontext=",
						       NULL};

/* What fstab and mount(8) add for their own bookkeeping, and access-time
 * variants libfuse does not take (times are canonical anyway): accepted
 * and dropped, so an /etc/fstab line never fails on them. */
static const char *const fstab_noise_options[] = {
	"defaults", "user",	  "users",	 "nouser",
	"auto",	    "noauto",	  "_netdev",	 "nofail",
	"x-",	    "comment=",	  "diratime",	 "nodiratime",
	"relatime", "norelatime", "strictatime", "nostrictatime",
	"lazytime", "nolazytime", NULL};

static int fail(struct canonfs_options *opts, const char *fmt, ...);

/* A plain decimal number up to max: digits only (strtoul alone takes
 * blanks and a sign before them, so "uid= 5" was uid 5). */
static bool parse_decimal(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	if (s[0] < '0' || s[0] > '9')
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return errno == 0 && *end == '\0' && *out <= max;
}

static int parse_max_read(struct canonfs_options *opts, const char *value)
{
	unsigned long n;

	if (!parse_decimal(value, UINT32_MAX, &n) || n < 4096)
		return fail(opts,
			    "-o max_read='%s': give a number of bytes, at "
			    "least 4096",
			    value);
	opts->max_read = (unsigned)n;
	return 0;
}

static bool option_in(const char *arg, const char *const *list)
{
	for (size_t i = 0; list[i]; i++) {
		size_t len = strlen(list[i]);
		bool prefix =
			list[i][len - 1] == '=' || list[i][len - 1] == '-';

		if (prefix ? strncmp(arg, list[i], len) == 0
			   : strcmp(arg, list[i]) == 0)
			return true;
	}
	return false;
}

static int fail(struct canonfs_options *opts, const char *fmt, ...)
{
	va_list ap;

	if (opts->error[0]) /* keep the first problem */
		return -1;
	va_start(ap, fmt);
	vsnprintf(opts->error, sizeof(opts->error), fmt, ap);
	va_end(ap);
	return -1;
}

/* Virtual paths with a fixed meaning (layout.h). */
static const struct {
	const char *virt;
	const char *owner;
} reserved[] = {
	{"/src", "SRCDIR"},
	{"/sys", "the system include directories (-o sys=NAME:DIR)"},
	{"/gomodcache", "Go's module cache (-o gomodcache=DIR)"},
	{"/gopath", "GOPATH (-o gopath=DIR)"},
	{"/.canonfs", "the control directory"},
};

/* -o outputs=DIR: one more build directory outside the mount. */
static int add_outputs(struct canonfs_options *opts, const char *dir)
{
	char **grown, cwd[PATH_MAX], resolved[PATH_MAX];

	if (!dir[0])
		return fail(opts, "-o outputs=: expected a directory (e.g. -o "
				  "outputs=$HOME/build/myapp)");
	grown = realloc(opts->outputs, (opts->n_outputs + 1) * sizeof(*grown));
	if (!grown)
		return fail(opts, "out of memory");
	opts->outputs = grown;
	/* Absolute now: the daemon leaves this working directory. */
	if (dir[0] == '/' ? path_clean(dir, resolved, sizeof(resolved))
			  : !getcwd(cwd, sizeof(cwd)) ||
				    path_join_clean(cwd, dir, resolved,
						    sizeof(resolved)))
		return fail(opts, "-o outputs=%s: not a usable path", dir);
	if (!(grown[opts->n_outputs] = strdup(resolved)))
		return fail(opts, "out of memory");
	opts->n_outputs++;
	return 0;
}

/* "VIRT:HOSTDIR" -> a mirror_spec with a clean absolute virtual path. */
static int add_mirror(struct canonfs_options *opts, const char *value)
{
	const char *colon = strchr(value, ':');
	char virt[PATH_MAX], clean[PATH_MAX];
	struct mirror_spec *grown;
	size_t virt_len;

	if (!colon || colon == value || colon[1] == '\0')
		return fail(opts,
			    "-o mirror=%s: expected VIRT:HOSTDIR (e.g. -o "
			    "mirror=gomod:/home/me/go/pkg/mod)",
			    value);
	virt_len = (size_t)(colon - value);
	if (virt_len + 2 > sizeof(virt))
		return fail(opts, "-o mirror=%s: virtual path too long", value);
	virt[0] = '/';
	memcpy(virt + 1, value, virt_len);
	virt[virt_len + 1] = '\0';

	/* The virtual path must already be clean: no "..", ".", "//". */
	if (value[0] == '/' || path_clean(virt, clean, sizeof(clean)) ||
	    strcmp(clean, virt) != 0 || strcmp(clean, "/") == 0)
		return fail(opts,
			    "-o mirror=%s: '%.*s' is not a clean relative "
			    "virtual path "
			    "(use names like gomod or extra/tools)",
			    value, (int)virt_len, value);
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (path_under(clean, reserved[i].virt))
			return fail(opts,
				    "-o mirror=%s: the virtual path '%s' "
				    "belongs to %s (choose another name)",
				    value, reserved[i].virt + 1,
				    reserved[i].owner);
	for (size_t i = 0; i < opts->n_mirrors; i++) {
		const char *other = opts->mirrors[i].virt_path;

		if (path_under(clean, other) || path_under(other, clean))
			return fail(opts,
				    "conflicting options: -o mirror=%s "
				    "overlaps the mirror at '%s' (give each "
				    "mirror its own, non-nested name)",
				    value, other + 1);
	}

	grown = realloc(opts->mirrors, (opts->n_mirrors + 1) * sizeof(*grown));
	if (!grown)
		return fail(opts, "out of memory");
	opts->mirrors = grown;
	grown[opts->n_mirrors].virt_path = strdup(clean);
	grown[opts->n_mirrors].host_dir = strdup(colon + 1);
	opts->n_mirrors++;
	if (!grown[opts->n_mirrors - 1].virt_path ||
	    !grown[opts->n_mirrors - 1].host_dir)
		return fail(opts, "out of memory");
	return 0;
}

/* "none" or "NAME:HOSTDIR" -> one more sysinc_spec. */
static int add_sys(struct canonfs_options *opts, const char *value)
{
	const char *colon = strchr(value, ':');
	struct sysinc_spec *grown;
	char name[NAME_MAX + 1];
	size_t name_len;

	if (strcmp(value, "none") == 0) {
		name_len = 0;
	} else {
		name_len = colon ? (size_t)(colon - value) : 0;
		if (!colon || colon[1] == '\0' || name_len > NAME_MAX)
			return fail(
				opts,
				"-o sys=%s: expected NAME:HOSTDIR or none "
				"(e.g. -o sys=usr:/opt/sysroot/usr/include)",
				value);
		memcpy(name, value, name_len);
		name[name_len] = '\0';
		if (!sysinc_valid_name(name))
			return fail(opts,
				    "-o sys=%s: '%s' is not a usable name (one "
				    "component of letters, digits, '.', '_', "
				    "'+', '-')",
				    value, name);
		for (size_t i = 0; i < opts->n_sys_specs; i++)
			if (opts->sys_specs[i].name &&
			    strcmp(opts->sys_specs[i].name, name) == 0)
				return fail(opts,
					    "conflicting options: -o sys=%s "
					    "names sys/%s twice (give each "
					    "directory its own name)",
					    value, name);
	}
	grown = realloc(opts->sys_specs,
			(opts->n_sys_specs + 1) * sizeof(*grown));
	if (!grown)
		return fail(opts, "out of memory");
	opts->sys_specs = grown;
	grown[opts->n_sys_specs] = (struct sysinc_spec){0};
	opts->n_sys_specs++;
	if (name_len == 0)
		return 0;
	grown[opts->n_sys_specs - 1].name = strdup(name);
	grown[opts->n_sys_specs - 1].host_dir = strdup(colon + 1);
	if (!grown[opts->n_sys_specs - 1].name ||
	    !grown[opts->n_sys_specs - 1].host_dir)
		return fail(opts, "out of memory");
	return 0;
}

static int process_arg(void *data, const char *arg, int key,
		       struct fuse_args *outargs)
{
	struct canonfs_options *opts = data;

	(void)outargs;
	switch (key) {
	case KEY_HELP:
		opts->show_help = true;
		return 0;
	case KEY_VERSION:
		opts->show_version = true;
		return 0;
	case KEY_FOREGROUND:
		opts->foreground = true;
		return 0;
	case KEY_DEBUG:
		opts->foreground = true;
		opts->debug = true;
		return 1; /* libfuse prints the request log */
	case KEY_SINGLE_THREAD:
		opts->single_thread = true;
		return 0;
	case KEY_RO:
		opts->saw_ro = true;
		return 1; /* the kernel enforces it too */
	case KEY_RW:
		opts->saw_rw = true;
		return 1;
	case KEY_MIRROR:
		if (add_mirror(opts, arg + strlen("mirror=")))
			return -1;
		return 0;
	case KEY_OUTPUTS:
		if (add_outputs(opts, arg + strlen("outputs=")))
			return -1;
		return 0;
	case KEY_SYS:
		if (add_sys(opts, arg + strlen("sys=")))
			return -1;
		return 0;
	case FUSE_OPT_KEY_NONOPT:
		if (!opts->src_dir)
			return (opts->src_dir = strdup(arg)) ? 0 : -1;
		if (!opts->mountpoint)
			return (opts->mountpoint = strdup(arg)) ? 0 : -1;
		fail(opts,
		     "unexpected argument '%s' (usage: canonfs [options] "
		     "SRCDIR MOUNTPOINT)",
		     arg);
		return -1;
	case FUSE_OPT_KEY_OPT:
		if (option_in(arg, fuse_passthrough_options)) {
			const char *eq = strchr(arg, '=');

			/* The kernel would refuse an empty one with a bare
			 * EINVAL that names no option. */
			if (eq && eq[1] == '\0')
				return fail(opts,
					    "-o %s: give a value after the '='",
					    arg);
			if (strcmp(arg, "allow_other") == 0 ||
			    strcmp(arg, "allow_root") == 0)
				opts->shared = true;
			/* libfuse refuses INIT unless the filesystem asks the
			 * kernel for the same maximum (op_init does). */
			if (strncmp(arg, "max_read=", 9) == 0 &&
			    parse_max_read(opts, arg + 9))
				return -1;
			return 1;
		}
		/* "-o ,,ro," has empty ones, which mount(8) takes too. */
		if (!arg[0] || option_in(arg, fstab_noise_options))
			return 0;
		if (arg[0] == '-')
			fail(opts, "unknown option '%s' (see canonfs --help)",
			     arg);
		else
			fail(opts,
			     "unknown option '-o %s' (see canonfs --help)",
			     arg);
		return -1;
	}
	return 1;
}

/* A user or group: a number, or a name looked up in the system database. */
static int parse_id(struct canonfs_options *opts, const char *what,
		    const char *value, unsigned *out)
{
	unsigned long number;

	if (parse_decimal(value, UINT32_MAX - 1, &number)) {
		*out = (unsigned)number;
		return 0;
	}
	if (strcmp(what, "uid") == 0) {
		struct passwd *pw = getpwnam(value);

		if (pw) {
			*out = pw->pw_uid;
			return 0;
		}
	} else {
		struct group *gr = getgrnam(value);

		if (gr) {
			*out = gr->gr_gid;
			return 0;
		}
	}
	return fail(
		opts, "-o %s=%s: not a number or a known %s (e.g. -o %s=1000)",
		what, value, strcmp(what, "uid") == 0 ? "user" : "group", what);
}

static int parse_mtime(struct canonfs_options *opts, const char *value)
{
	char *end;
	long long seconds;

	if (strcmp(value, "baseline") == 0) {
		opts->rules.time_mode = CANON_TIME_BASELINE;
		return 0;
	}
	if (strcmp(value, "zero") == 0) {
		opts->rules.time_mode = CANON_TIME_ZERO;
		return 0;
	}
	if (strcmp(value, "passthrough") == 0) {
		opts->rules.time_mode = CANON_TIME_PASSTHROUGH;
		return 0;
	}
	if (strcmp(value, "content") == 0) {
		opts->rules.time_mode = CANON_TIME_CONTENT;
		return 0;
	}
	errno = 0;
	seconds = strtoll(value, &end, 10);
	/* Up to year 9999, the range every tool can print. */
	if (value[0] < '0' || value[0] > '9' || *end != '\0' || errno != 0 ||
	    seconds > 253402300799LL)
		return fail(opts,
			    "-o mtime=%s: expected baseline, zero, content, "
			    "passthrough or seconds since 1970 (e.g. -o "
			    "mtime=$SOURCE_DATE_EPOCH)",
			    value);
	opts->rules.time_mode = seconds ? CANON_TIME_FIXED : CANON_TIME_ZERO;
	opts->rules.fixed_time = seconds;
	return 0;
}

static int check_baseline(struct canonfs_options *opts)
{
	int64_t seconds;
	bool now;

	if (opts->rules.time_mode != CANON_TIME_BASELINE)
		return fail(opts,
			    "conflicting options: -o baseline= applies to "
			    "-o mtime=baseline only (drop one of them)");
	if (baseline_parse_arg(opts->baseline_arg, &now, &seconds))
		return fail(opts,
			    "-o baseline=%s: expected now or seconds since "
			    "1970 (e.g. -o baseline=$(date +%%s))",
			    opts->baseline_arg);
	return 0;
}

static int parse_order(struct canonfs_options *opts, const char *value)
{
	char *end;

	if (strcmp(value, "sorted") == 0) {
		opts->order = DIR_ORDER_SORTED;
	} else if (strcmp(value, "reverse") == 0) {
		opts->order = DIR_ORDER_REVERSE;
	} else if (strcmp(value, "shuffle") == 0) {
		opts->order = DIR_ORDER_SHUFFLE;
		opts->order_seed = 0;
	} else if (strncmp(value, "shuffle:", 8) == 0 && value[8] >= '0' &&
		   value[8] <= '9') {
		errno = 0;
		opts->order_seed = strtoull(value + 8, &end, 10);
		if (*end || errno)
			goto bad;
		opts->order = DIR_ORDER_SHUFFLE;
	} else {
		goto bad;
	}
	return 0;
bad:
	return fail(
		opts,
		"-o order=%s: expected sorted, reverse, shuffle or shuffle:SEED (e.g. -o order=shuffle:42)",
		value);
}

/* `-o NAME=` with nothing after it. */
static int check_not_empty(struct canonfs_options *opts, const char *name,
			   const char *value, const char *example)
{
	if (value && !value[0])
		return fail(opts, "-o %s=: empty value (e.g. -o %s=%s)", name,
			    name, example);
	return 0;
}

int options_parse(int argc, char **argv, struct canonfs_options *opts,
		  struct fuse_args *fuse_args)
{
	unsigned id;

	memset(opts, 0, sizeof(*opts));
	opts->rules.time_mode = CANON_TIME_BASELINE;
	opts->rules.uid = getuid();
	opts->rules.gid = getgid();
	*fuse_args = (struct fuse_args)FUSE_ARGS_INIT(argc, argv);

	if (fuse_opt_parse(fuse_args, opts, option_table, process_arg) == -1)
		return fail(
			opts,
			"cannot parse the command line (see canonfs --help)");
	if (opts->show_help || opts->show_version)
		return 0;

	if (opts->saw_ro && opts->saw_rw)
		return fail(opts, "conflicting options: 'ro' and 'rw' (give "
				  "one of them)");
	opts->read_only = opts->saw_ro;
	if (opts->passthrough_reads && opts->passthrough_create)
		return fail(opts, "conflicting options: 'passthrough' and "
				  "'passthrough=create' (give one of them)");
	if (opts->uid_arg) {
		if (parse_id(opts, "uid", opts->uid_arg, &id))
			return -1;
		opts->rules.uid = id;
	}
	if (opts->gid_arg) {
		if (parse_id(opts, "gid", opts->gid_arg, &id))
			return -1;
		opts->rules.gid = id;
	}
	if (opts->mtime_arg && parse_mtime(opts, opts->mtime_arg))
		return -1;
	if (opts->baseline_arg && check_baseline(opts))
		return -1;
	if (opts->n_outputs && opts->rules.time_mode != CANON_TIME_BASELINE)
		return fail(opts, "conflicting options: -o outputs= applies to "
				  "-o mtime=baseline only (drop one of them)");
	if (opts->order_arg && parse_order(opts, opts->order_arg))
		return -1;
	if (check_not_empty(opts, "cc", opts->cc_arg, "gcc") ||
	    check_not_empty(opts, "sysroot", opts->sysroot_arg,
			    "/opt/hostb-headers") ||
	    check_not_empty(opts, "gomodcache", opts->gomodcache_arg,
			    "/home/me/go/pkg/mod") ||
	    check_not_empty(opts, "gopath", opts->gopath_arg, "/home/me/go") ||
	    check_not_empty(opts, "goroot", opts->goroot_arg,
			    "/usr/lib/go-1.23") ||
	    check_not_empty(opts, "digests", opts->digests_arg,
			    "/var/cache/canonfs/digests") ||
	    check_not_empty(opts, "trace", opts->trace_path,
			    "/tmp/build.trace"))
		return -1;

	if (!opts->src_dir)
		return fail(opts, "missing SRCDIR and MOUNTPOINT (usage: "
				  "canonfs [options] SRCDIR MOUNTPOINT)");
	if (!opts->mountpoint)
		return fail(opts, "missing MOUNTPOINT (usage: canonfs "
				  "[options] SRCDIR MOUNTPOINT)");
	return 0;
}

void options_free(struct canonfs_options *opts)
{
	for (size_t i = 0; i < opts->n_mirrors; i++) {
		free(opts->mirrors[i].virt_path);
		free(opts->mirrors[i].host_dir);
	}
	free(opts->mirrors);
	for (size_t i = 0; i < opts->n_outputs; i++)
		free(opts->outputs[i]);
	free(opts->outputs);
	for (size_t i = 0; i < opts->n_sys_specs; i++) {
		free(opts->sys_specs[i].name);
		free(opts->sys_specs[i].host_dir);
	}
	free(opts->sys_specs);
	free(opts->cc_arg);
	free(opts->sysroot_arg);
	free(opts->gomodcache_arg);
	free(opts->gopath_arg);
	free(opts->goroot_arg);
	free(opts->digests_arg);
	free(opts->src_dir);
	free(opts->mountpoint);
	free(opts->uid_arg);
	free(opts->gid_arg);
	free(opts->mtime_arg);
	free(opts->baseline_arg);
	free(opts->order_arg);
	free(opts->trace_path);
	memset(opts, 0, sizeof(*opts));
}

void options_print_help(const char *program)
{
	static const char *const text[] = {
		"",
		"canonfs %s: a canonical build root. SRCDIR appears at MOUNTPOINT/src",
		"with normalized metadata, so builds on every machine see the same",
		"paths, times, owners, modes, inode numbers, directory order and",
		"symlink targets, and Go's build cache hits across checkouts.",
		"",
		"general options:",
		"    -h, --help             print this help and exit",
		"    -V, --version          print the version and exit",
		"    -f                     stay in the foreground",
		"    -d, -o debug           log every request (implies -f)",
		"    -s                     serve requests on a single thread",
		"",
		"canonfs options:",
		"    -o ro                  read-only: every write fails with EROFS",
		"    -o rw                  read-write, writes go to SRCDIR (default)",
		"    -o mtime=MODE          timestamps shown (atime, mtime and ctime):",
		"                             baseline     (default) what is unchanged since the",
		"                                          tree was first mounted here: a 1990s",
		"                                          date from its git blob id, the same on",
		"                                          every machine; whatever changed since",
		"                                          (host edits, builds' outputs): its true",
		"                                          host times, so make, git and go test",
		"                                          see every change",
		"                             zero         0 (audits of archives; make and git",
		"                                          miss edits: see canonfs(1))",
		"                             SECONDS      a fixed epoch, e.g. $SOURCE_DATE_EPOCH",
		"                             content      the 1990s date from the blob id for",
		"                                          everything, changed or not",
		"                             passthrough  the host's times",
		"    -o baseline=now|SECONDS",
		"                           start each tree's baseline anew, now (on a",
		"                           clean checkout) or at that time; baselines are",
		"                           kept in $XDG_CACHE_HOME/canonfs/baselines",
		"                           (else ~/.cache/canonfs/baselines)",
		"    -o outputs=DIR         a build directory outside the mount",
		"                           (repeatable): each baseline moves back to its",
		"                           oldest file, so that make and ninja there see",
		"                           every source changed after that build",
		"    -o uid=N, -o gid=N     owner shown for everything, a number or a",
		"                           name (default: the user who mounts)",
		"    -o mirror=VIRT:DIR     also mirror host directory DIR at",
		"                           MOUNTPOINT/VIRT (repeatable; VIRT may have",
		"                           several components, e.g. extra/tools)",
		"    -o cc=COMPILER         whose include search list MOUNTPOINT/sys mirrors",
		"                           (default: $CC, else gcc)",
		"    -o sys=NAME:DIR        mirror DIR at MOUNTPOINT/sys/NAME, replacing the",
		"                           discovered directory of that name (repeatable)",
		"    -o sys=none            mirror no discovered include directory",
		"    -o sysroot=ROOT        mirror each discovered directory D from ROOT/D",
		"                           (another copy of the same header layout)",
		"    -o gomodcache=DIR|none Go's module cache at MOUNTPOINT/gomodcache",
		"                           (default: $GOMODCACHE, $GOPATH/pkg/mod or",
		"                           ~/go/pkg/mod, created when missing)",
		"    -o gopath=DIR|none     a GOPATH at MOUNTPOINT/gopath (default: $GOPATH)",
		"    -o goroot=DIR|none     the Go toolchain at MOUNTPOINT/goroot, read-only",
		"                           (default: $GOROOT, else that of the go on PATH);",
		"                           canonfs env puts its bin first on PATH",
		"    -o digests=FILE|none   where file digests are kept across mounts",
		"                           (default: $XDG_CACHE_HOME/canonfs/digests,",
		"                           else ~/.cache/canonfs/digests)",
		"    -o nonempty            allow mounting over a non-empty MOUNTPOINT",
		"    -o xattr               show extended attributes (hidden by default)",
		"    -o nowatch             do not watch the host tree with inotify (for",
		"                           network filesystems, whose remote changes",
		"                           inotify never sees): cache for 0.5 s only",
		"    -o passthrough         the kernel reads and writes host files itself",
		"                           (Linux 6.9+, CAP_SYS_ADMIN): faster data, but",
		"                           about 60 us more per open",
		"    -o passthrough=create  only files the build creates are written that",
		"                           way; another open of such a file while its",
		"                           creator still has it open fails (EIO)",
		"    -o trace=FILE          record what builds read and write through the",
		"                           mount: FILE (a manifest of inputs),",
		"                           FILE.outputs, FILE.probes, FILE.warnings",
		"    -o order=ORDER         directory listings: sorted (default), or, to",
		"                           prove a build does not depend on readdir",
		"                           order, reverse or shuffle[:SEED]",
		"",
		"FUSE and mount options passed on to the kernel:",
		"    allow_other, allow_root, auto_unmount, fsname=, subtype=,",
		"    nosuid, nodev, noexec, noatime and the other generic flags",
		"    (with allow_other or allow_root the kernel checks other users",
		"    against the modes shown)",
		"",
		"subcommands:",
		"    canonfs env MOUNTPOINT [--json]   the Go/cgo environment for builds inside",
		"    canonfs env --unset [MOUNTPOINT]  what takes it back (also once unmounted)",
		"    canonfs run [-m MOUNTPOINT] [-o OPTIONS] SRCDIR -- COMMAND...",
		"    canonfs manifest PATH [--json]",
		"    canonfs diff A B",
		"    canonfs diff --inputs TRACE MOUNTPOINT",
		"",
		"The canonical view: files 0644 (0755 if any x bit), directories",
		"0755, symlinks 0777; link count 1; inode numbers from the virtual",
		"path; listings sorted by byte order; devices, FIFOs and sockets",
		"hidden; absolute symlinks into a mirror shown relative. See",
		"canonfs(1) for the details and what each time mode gets wrong.",
	};

	printf("usage: %s [options] SRCDIR MOUNTPOINT\n", program);
	for (size_t i = 0; i < sizeof(text) / sizeof(text[0]); i++) {
		if (strchr(text[i], '%'))
			printf(text[i], CANONFS_VERSION);
		else
			fputs(text[i], stdout);
		putchar('\n');
	}
}
