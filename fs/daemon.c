/*
 * daemon: the mount's life (see include/canonfs/daemon.h): every check
 * before mounting (so bad input never leaves a half-mounted state), the
 * mount, going to the background once the mount is usable, serving until
 * unmounted, and undoing it all in one place.
 *
 * Every user-facing error is one line: "canonfs: <what>: <why> (<fix>)".
 */
#include "canonfs/daemon.h"

#include "canonfs/digests.h"
#include "canonfs/hostpath.h"
#include "canonfs/inode.h"
#include "canonfs/invalidate.h"
#include "canonfs/layout.h"
#include "canonfs/mounts.h"
#include "canonfs/ops.h"
#include "canonfs/passthrough.h"
#include "canonfs/path.h"
#include "canonfs/report.h"

#include <fuse_log.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/vfs.h>
#include <unistd.h>

/*
 * How long the kernel may trust a name or attributes without asking: long
 * where inotify reports host changes (they are invalidated at once), short
 * where it cannot (inotify missing or out of watches).
 */
#define WATCHED_TIMEOUT 3600.0
#define UNWATCHED_TIMEOUT 0.5

#define FUSE_DEVICE "/dev/fuse"

/*
 * libfuse's own messages ("fuse: mount failed: ..."), kept rather than
 * printed, so that a failure still gives one line: ours, with libfuse's
 * reason in it. With -d they are printed as they come.
 */
static char libfuse_message[512];
static bool libfuse_verbose;

static void keep_libfuse_message(enum fuse_log_level level, const char *fmt,
				 va_list ap)
{
	size_t len;

	if (libfuse_verbose) {
		vfprintf(stderr, fmt, ap);
		return;
	}
	if (level > FUSE_LOG_ERR)
		return;
	vsnprintf(libfuse_message, sizeof(libfuse_message), fmt, ap);
	len = strlen(libfuse_message);
	while (len > 0 && libfuse_message[len - 1] == '\n')
		libfuse_message[--len] = '\0';
}

void daemon_keep_libfuse_messages(void)
{
	fuse_set_log_func(keep_libfuse_message);
}

static void report_stale(const char *mountpoint)
{
	char *advice = mounts_unmount_advice(mountpoint);

	report_error("MOUNTPOINT '%s': a stale FUSE mount, its daemon is gone "
		     "(run: %s)",
		     mountpoint, advice ? advice : "fusermount3 -u");
	free(advice);
}

/* Whether a MOUNTPOINT that does not exist yet would lie inside SRCDIR:
 * then the advice to create it would lead straight into the refusal of a
 * mountpoint inside its own source (layout.c), which is said instead. */
static bool missing_mountpoint_inside_src(const char *mountpoint,
					  const char *src_dir)
{
	char mnt[PATH_MAX], src[PATH_MAX];

	if (hostpath_resolve(mountpoint, mnt, sizeof(mnt)) ||
	    !realpath(src_dir, src) || !path_under(mnt, src))
		return false;
	report_error("MOUNTPOINT '%s' does not exist, and is inside SRCDIR "
		     "'%s' (a mount inside its own source loops into itself; "
		     "choose a mountpoint outside it)",
		     mountpoint, src_dir);
	return true;
}

static int check_mountpoint_exists(const char *mountpoint, const char *src_dir,
				   char *resolved)
{
	struct stat st;

	if (stat(mountpoint, &st) == -1) {
		int err = errno;

		if (err == ENOTCONN)
			report_stale(mountpoint);
		else if (err == ENOENT &&
			 missing_mountpoint_inside_src(mountpoint, src_dir))
			return -1;
		else if (err == ENOENT)
			report_error(
				"MOUNTPOINT '%s': %s (create it: mkdir -p %s)",
				mountpoint, strerror(err), mountpoint);
		else
			report_error("MOUNTPOINT '%s': %s (give a directory "
				     "you may reach)",
				     mountpoint, strerror(err));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		report_error(
			"MOUNTPOINT '%s' is not a directory (give an empty "
			"directory)",
			mountpoint);
		return -1;
	}
	if (!realpath(mountpoint, resolved)) {
		report_error("MOUNTPOINT '%s': %s", mountpoint,
			     strerror(errno));
		return -1;
	}
	return 0;
}

static int check_mountpoint_free(const char *mountpoint, const char *resolved,
				 bool allow_nonempty)
{
	struct dirent *entry;
	bool empty = true;
	DIR *dir;

	if (mounts_is_mount_point(resolved)) {
		char *advice = mounts_unmount_advice(mountpoint);

		report_error(
			"MOUNTPOINT '%s' is already a mount point (unmount "
			"it first: %s)",
			mountpoint, advice ? advice : "fusermount3 -u");
		free(advice);
		return -1;
	}
	if (allow_nonempty)
		return 0;
	dir = opendir(resolved);
	if (!dir) {
		report_error("MOUNTPOINT '%s': %s (%s)", mountpoint,
			     strerror(errno),
			     errno == EACCES ? "mount on a directory you own "
					       "and may read"
					     : "give an empty directory");
		return -1;
	}
	while (empty && (entry = readdir(dir)))
		empty = strcmp(entry->d_name, ".") == 0 ||
			strcmp(entry->d_name, "..") == 0;
	closedir(dir);
	if (!empty) {
		report_error("MOUNTPOINT '%s' is not empty (use an empty "
			     "directory, or -o nonempty to hide what is there)",
			     mountpoint);
		return -1;
	}
	return 0;
}

static int check_fuse_device(void)
{
	if (access(FUSE_DEVICE, R_OK | W_OK) == 0)
		return 0;
	if (errno == EACCES)
		report_error("%s: %s (this user needs read and write access "
			     "to it: most systems give it mode 0666; or mount "
			     "as root)",
			     FUSE_DEVICE, strerror(errno));
	else
		report_error("%s: %s (load the fuse module with modprobe fuse; "
			     "in a container, run it with --device /dev/fuse "
			     "--cap-add SYS_ADMIN)",
			     FUSE_DEVICE, strerror(errno));
	return -1;
}

/* A warning when SRCDIR (the fsname, add_fixed_fuse_options) is mounted
 * elsewhere too: file locks are local to a mount (README, "Locks"), so
 * builds in both at once do not exclude each other, in Go's module cache
 * and in the tree they share. Said once the mount works, before the
 * daemon leaves the terminal. */
static void warn_mounted_twice(const struct layout *layout,
			       const char *mountpoint)
{
	char other[PATH_MAX];

	if (mounts_find_source("fuse.canonfs", layout->mirrors[0].host_root,
			       mountpoint, other, sizeof(other)))
		report_error("warning: SRCDIR '%s' is mounted at '%s' too: "
			     "locks are not shared between mounts, so do not "
			     "build in both at once (Go's module cache and "
			     "the tree itself)",
			     layout->mirrors[0].host_root, other);
}

/* Options canonfs always gives libfuse, before the user's so theirs win. */
static int add_fixed_fuse_options(struct fuse_args *args,
				  const struct layout *layout, bool shared)
{
	char *fsname = NULL;
	char option[PATH_MAX + 16];
	int rc;

	snprintf(option, sizeof(option), "fsname=%s",
		 layout->mirrors[0].host_root);
	rc = fuse_opt_add_opt_escaped(&fsname, option);
	rc = rc ?: fuse_opt_add_opt(&fsname, "subtype=canonfs");
	/*
	 * Only the mounting user reaches a mount without allow_other or
	 * allow_root, and the daemon is that user: the host's own checks on
	 * each call are theirs, and access(2) asks the host (op_access). The
	 * kernel's checks against the shown modes cost a few percent on a
	 * warm build (fuse_permission at every path component), so they are
	 * on only when other users share the mount.
	 */
	if (shared)
		rc = rc ?: fuse_opt_add_opt(&fsname, "default_permissions");
	rc = rc ?: fuse_opt_insert_arg(args, 1, "-o");
	rc = rc ?: fuse_opt_insert_arg(args, 2, fsname);
	free(fsname);
	return rc;
}

/* Send stderr to fd around a libfuse call that prints there. Returns the
 * saved stderr for restore_stderr, or -1 (nothing was changed). The copy
 * is close-on-exec: libfuse's auto_unmount helper, started during the
 * mount, kept the caller's stderr open until the unmount. */
static int redirect_stderr(int fd)
{
	int saved;

	fflush(stderr);
	saved = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 0);
	if (saved >= 0)
		dup2(fd, STDERR_FILENO);
	return saved;
}

static void restore_stderr(int saved)
{
	if (saved < 0)
		return;
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
}

/* fusermount3's complaint when /etc/mtab is missing: it counts the
 * user's FUSE mounts in it before mounting, goes on without, and cannot
 * unmount at all without it. */
#define MTAB_COMPLAINT "failed to open /etc/mtab"

static bool line_says(const char *line, const char *text)
{
	const char *hit = strstr(line, text);

	return hit && hit < line + strcspn(line, "\n");
}

/* Whether a user's FUSE mount will need /etc/mtab and it is missing
 * (a dangling link too): fusermount3 reads it to unmount, root does not
 * need fusermount3. */
static bool user_lacks_mtab(void)
{
	struct stat st;

	return getuid() != 0 && stat("/etc/mtab", &st) == -1 && errno == ENOENT;
}

/* A warning when the mount works but cannot be taken away again. */
static void warn_no_mtab(const char *mountpoint)
{
	if (user_lacks_mtab())
		report_error("warning: /etc/mtab is missing: fusermount3 -u "
			     "cannot unmount '%s' (as root: ln -s "
			     "/proc/self/mounts /etc/mtab)",
			     mountpoint);
}

/* Why fusermount3 refused, from what it printed: its first line, but
 * not the complaint about /etc/mtab when another line follows (the mount
 * went on after it; mount_failure_remedy adds its remedy). */
static void keep_helper_reason(char *helper)
{
	char *reason = helper, *next;

	while (line_says(reason, MTAB_COMPLAINT) &&
	       (next = strchr(reason, '\n')) && next[1])
		reason = next + 1;
	reason[strcspn(reason, "\n")] = '\0';
	snprintf(libfuse_message, sizeof(libfuse_message), "%s", reason);
}

/*
 * fuse_session_mount, with what fusermount3 (which libfuse runs when
 * mount(2) is refused) prints on stderr caught into libfuse_message, so
 * that a failure is still one line. Printed as it comes with -d, or when
 * the mount works.
 */
static int mount_quietly(struct fuse_session *se, const char *mountpoint,
			 bool verbose)
{
	int pipe_fds[2], saved_stderr, rc;
	char helper[sizeof(libfuse_message)];
	ssize_t len;

	if (verbose || pipe2(pipe_fds, O_CLOEXEC | O_NONBLOCK) == -1)
		return fuse_session_mount(se, mountpoint);
	saved_stderr = redirect_stderr(pipe_fds[1]);
	close(pipe_fds[1]);
	rc = fuse_session_mount(se, mountpoint);
	restore_stderr(saved_stderr);

	len = read(pipe_fds[0], helper, sizeof(helper) - 1);
	close(pipe_fds[0]);
	if (len > 0) {
		helper[len] = '\0';
		if (rc == 0)
			fputs(helper, stderr);
		else if (!libfuse_message[0])
			keep_helper_reason(helper);
	}
	return rc;
}

static struct fuse_session *volatile exiting_session;

static void exit_session(int sig)
{
	(void)sig;
	if (exiting_session)
		fuse_session_exit(exiting_session);
}

/* SIGUSR2 ends the session like SIGTERM: `canonfs run` has its daemon
 * sent it when run itself dies (PR_SET_PDEATHSIG), while it keeps the
 * daemon deaf to the SIGINT, SIGTERM and SIGHUP meant for the command. */
static int exit_on_sigusr2(struct fuse_session *se)
{
	struct sigaction sa = {.sa_handler = exit_session};

	exiting_session = se;
	sigemptyset(&sa.sa_mask);
	return sigaction(SIGUSR2, &sa, NULL);
}

/*
 * fuse_session_unmount, which also frees the session's mountpoint. When
 * the mount is gone already (detached lazily by `canonfs run` because a
 * process the command left still sat in it), libfuse's own unmount fails
 * and prints "failed to unmount ...: Invalid argument", which in a CI log
 * reads as a failure: that line is dropped.
 */
static void unmount_session(struct fuse_session *se, const char *mountpoint)
{
	int saved_stderr, null_fd;

	if (mounts_is_mount_point(mountpoint) ||
	    (null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC)) < 0) {
		fuse_session_unmount(se);
		return;
	}
	saved_stderr = redirect_stderr(null_fd);
	close(null_fd);
	fuse_session_unmount(se);
	restore_stderr(saved_stderr);
}

/*
 * Detach as fuse_daemonize does, but the parent returns only once the mount
 * answers: libfuse reports a failed INIT handshake (an option the kernel
 * refuses) only when the loop runs, which left a parent that said 0 over a
 * mount that was gone. It asks by opening the stats file
 * (mounts_open_stats), else by a statfs. Returns 0 in the child, with the
 * pipe it writes libfuse's reason into should serving fail; the parent
 * exits.
 */
static int go_to_background(struct fuse_session *se, const char *mountpoint,
			    int *report_fd)
{
	int pipe_fds[2], null;
	pid_t pid;

	if (pipe2(pipe_fds, O_CLOEXEC) == -1)
		return -1;
	pid = fork();
	if (pid == -1) {
		close(pipe_fds[0]);
		close(pipe_fds[1]);
		return -1;
	}
	if (pid > 0) {
		char reason[sizeof(libfuse_message)];
		struct statfs st;
		ssize_t got = 0, n;
		int err;

		close(pipe_fds[1]);
		/* Only the child may hold the connection: if it dies, the
		 * open and statfs below must fail rather than wait forever. */
		close(fuse_session_fd(se));
		if (mounts_open_stats(mountpoint) ||
		    statfs(mountpoint, &st) == 0)
			_exit(0);
		err = errno;
		while ((size_t)got < sizeof(reason) - 1 &&
		       (n = read(pipe_fds[0], reason + got,
				 sizeof(reason) - 1 - (size_t)got)) > 0)
			got += n;
		reason[got] = '\0';
		report_error("the mount at '%s' failed as it started: %s",
			     mountpoint, got ? reason : strerror(err));
		_exit(1);
	}
	close(pipe_fds[0]);
	if (setsid() == -1 || chdir("/") == -1)
		return -1;
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0) {
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		if (null > STDERR_FILENO)
			close(null);
	}
	report_to_syslog();
	*report_fd = pipe_fds[1];
	return 0;
}

/* What to do about a mount that failed, by what libfuse's message says:
 * fusermount3's own refusals for a user who is not root, and EINVAL, an
 * option the kernel does not take (an SELinux context on a system without
 * it). Anything else is taken for a missing privilege. */
static const struct {
	const char *says, *remedy;
} mount_remedies[] = {
	{"user_allow_other", "add user_allow_other to /etc/fuse.conf, or "
			     "leave out -o allow_other and allow_root"},
	{"access to mountpoint", "mount on a directory you own, or give "
				 "yourself write access to it"},
	{"determine username", "fusermount3 needs the user in the password "
			       "database (/etc/passwd)"},
	{"Invalid argument", "the kernel refused the mount options: check "
			     "the -o options passed on to it"},
	{MTAB_COMPLAINT, "fusermount3 needs /etc/mtab: as root, ln -s "
			 "/proc/self/mounts /etc/mtab"},
};

/* Docker and Podman leave a marker file; systemd-nspawn, LXC and Podman
 * set $container. */
static bool in_container(void)
{
	return access("/.dockerenv", F_OK) == 0 ||
	       access("/run/.containerenv", F_OK) == 0 || getenv("container");
}

/* Refused (EACCES, or EPERM from fusermount3) in a container that has
 * what a mount needs, /dev/fuse (checked before) and SYS_ADMIN in its
 * bounding set: what is left is its security profile. Docker's default
 * AppArmor profile denies mount(2) whatever the capabilities. */
static bool refused_by_container_profile(const char *message)
{
	return (strstr(message, strerror(EACCES)) ||
		strstr(message, strerror(EPERM))) &&
	       prctl(PR_CAPBSET_READ, CAP_SYS_ADMIN, 0, 0, 0) == 1 &&
	       in_container();
}

static const char *mount_failure_remedy(const char *message)
{
	for (size_t i = 0;
	     i < sizeof(mount_remedies) / sizeof(mount_remedies[0]); i++)
		if (strstr(message, mount_remedies[i].says))
			return mount_remedies[i].remedy;
	if (refused_by_container_profile(message))
		return "the container has /dev/fuse and SYS_ADMIN, so its "
		       "security profile refused: Docker's default AppArmor "
		       "profile does, add --security-opt apparmor=unconfined";
	return "mounting needs root or fusermount3; in a container: "
	       "--device /dev/fuse --cap-add SYS_ADMIN, or a privileged "
	       "runner";
}

static int serve(struct fuse_session *se, const struct canonfs_options *opts)
{
	struct fuse_loop_config *config;
	int rc;

	if (opts->single_thread)
		return fuse_session_loop(se);
	config = fuse_loop_cfg_create();
	if (!config)
		return -1;
	fuse_loop_cfg_set_clone_fd(config, 0);
	fuse_loop_cfg_set_idle_threads(config, 8);
	/* Enough that a request waiting for the pruner never starves the
	 * FORGETs it waits for. */
	fuse_loop_cfg_set_max_threads(config, 32);
	rc = fuse_session_loop_mt(se, config);
	fuse_loop_cfg_destroy(config);
	return rc;
}

/* The trace is written at unmount, when nobody may be listening: check
 * now that it can be, by opening it for writing (or making it, and taking
 * it back). Access bits alone pass where root is refused anyway: /proc,
 * a read-only filesystem, a FIFO nobody reads. */
static int check_trace_writable(const char *path)
{
	const int flags = O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
	struct stat st;
	bool made = false;
	int fd;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		report_error("-o trace='%s' is a directory (give a file name)",
			     path);
		return -1;
	}
	fd = open(path, flags);
	if (fd == -1 && errno == ENOENT) {
		fd = open(path, flags | O_CREAT | O_EXCL, 0644);
		made = fd >= 0;
	}
	if (fd == -1) {
		report_error("-o trace='%s': cannot write it: %s (give a file "
			     "in a writable directory)",
			     path, strerror(errno));
		return -1;
	}
	close(fd);
	if (made)
		unlink(path);
	return 0;
}

/* -o trace=FILE, made absolute: the daemon changes to / when it detaches. */
static int start_trace(struct trace *trace, const char *path)
{
	char cwd[PATH_MAX], absolute[2 * PATH_MAX + 2];

	if (path && path[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd))) {
			report_error("trace: %s", strerror(errno));
			return -1;
		}
		snprintf(absolute, sizeof(absolute), "%s/%s", cwd, path);
		path = absolute;
	}
	if (path && check_trace_writable(path))
		return -1;
	if (trace_init(trace, path)) {
		report_error("out of memory");
		return -1;
	}
	return 0;
}

/* The digest cache: the file -o digests= names, none, or the default file;
 * a default that cannot be used (a read-only home) keeps it in memory. */
static struct digest_cache *open_digests(const struct canonfs_options *opts,
					 char *err, size_t err_size)
{
	char path[PATH_MAX], dir[PATH_MAX];
	struct digest_cache *cache;

	if (opts->digests_arg) {
		const char *named = strcmp(opts->digests_arg, "none")
					    ? opts->digests_arg
					    : NULL;

		/* Made absolute: the cache is read back and compacted by
		 * name, after the daemon has changed to / on detaching. */
		if (named && named[0] != '/' &&
		    hostpath_resolve(named, path, sizeof(path)) == 0)
			named = path;
		return digests_open(named, err, err_size);
	}
	/* The default's directory is made, as XDG caches are; a file the
	 * user named must be in a directory that exists. */
	if (digests_default_path(path, sizeof(path)) == 0 &&
	    path_dirname(path, dir, sizeof(dir)) == 0) {
		hostpath_make_dirs(dir, NULL);
		if ((cache = digests_open(path, err, err_size)))
			return cache;
	}
	return digests_open(NULL, err, err_size);
}

/* Descriptor-table slots made ready before the first thread starts. The
 * kernel grows a process's table by doubling, and while threads share it
 * each growth waits for an RCU grace period (synchronize_rcu in
 * expand_fdtable): 3-5 ms, five times over in a traced first walk of a
 * few thousand files. A single-threaded process grows it without waiting,
 * and the table never shrinks. 65,536 slots cost 512 KiB of kernel memory;
 * larger trees pay the few remaining growths. */
#define PREGROWN_FD_SLOTS 65536

static void pregrow_descriptor_table(void)
{
	struct rlimit files;
	rlim_t top = PREGROWN_FD_SLOTS - 1;

	if (getrlimit(RLIMIT_NOFILE, &files) != 0)
		return;
	if (files.rlim_cur != RLIM_INFINITY && files.rlim_cur <= top)
		top = files.rlim_cur - 1;
	/* Any open descriptor will do (stdin is /dev/null at worst); F_DUPFD
	 * takes the first free slot from top on, so nothing inherited there
	 * is closed. */
	int fd = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, (int)top);

	if (fd >= 0)
		close(fd);
}

/* Whether the file -o `option` names lies inside MOUNTPOINT (said on
 * stderr): the daemon would read or write it through its own mount, and
 * wait on itself for ever. */
static bool inside_mountpoint(const char *option, const char *path,
			      const char *given, const char *mountpoint)
{
	char resolved[PATH_MAX];

	if (hostpath_resolve(path, resolved, sizeof(resolved)) ||
	    !path_under(resolved, mountpoint))
		return false;
	report_error("-o %s='%s' is inside MOUNTPOINT '%s' (the daemon would "
		     "use it through itself; give a file outside)",
		     option, path, given);
	return true;
}

/* The compiler whose headers MOUNTPOINT/sys mirrors: -o cc=, else $CC,
 * else NULL (sysinc's default). A $CC inside MOUNTPOINT is the mount's
 * own served compiler, exported by `canonfs env` into the shell that
 * mounts again: it cannot run before the mount is up, so it is passed
 * over, as the Go directories inside MOUNTPOINT are. */
static const char *compiler_asked(const struct canonfs_options *opts,
				  const char *mountpoint)
{
	const char *cc = getenv("CC");
	char first[PATH_MAX], resolved[PATH_MAX];

	if (opts->cc_arg || !cc || !cc[0])
		return opts->cc_arg;
	cc += strspn(cc, " \t");
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(cc, " \t"), cc);
	if (strchr(first, '/') &&
	    hostpath_resolve(first, resolved, sizeof(resolved)) == 0 &&
	    path_under(resolved, mountpoint))
		return "gcc";
	return NULL;
}

/* The kind of file system path lies on when inotify cannot see the
 * changes made to it elsewhere (on the server, on the other side of a VM
 * share, under another FUSE daemon), else NULL. */
static const char *unwatchable_fs(const char *path)
{
	static const struct {
		long magic;
		const char *name;
	} kinds[] = {
		{0x65735546, "FUSE (sshfs, virtiofs, another canonfs...)"},
		{0x6969, "NFS"},
		{(long)0xFF534D42, "SMB"},
		{(long)0xFE534D42, "SMB"},
		{0x01021997, "9P"},
		{0x00c36400, "Ceph"},
	};
	struct statfs sfs;

	if (statfs(path, &sfs) == -1)
		return NULL;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		if ((long)sfs.f_type == kinds[i].magic)
			return kinds[i].name;
	return NULL;
}

/* Whether the host's file permission checks apply to this process: not
 * when it may override them (root, as a rule). */
static bool permission_checks_apply(void)
{
	struct __user_cap_header_struct head = {
		.version = _LINUX_CAPABILITY_VERSION_3};
	struct __user_cap_data_struct caps[_LINUX_CAPABILITY_U32S_3];
	const uint32_t override =
		(1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH);

	if (syscall(SYS_capget, &head, caps) != 0)
		return geteuid() != 0;
	return (caps[0].effective & override) != override;
}

int daemon_mount_and_serve(const struct canonfs_options *opts,
			   struct fuse_args *args)
{
	struct canonfs_fs fs = {.opts = opts,
				.watched_timeout = WATCHED_TIMEOUT,
				.unwatched_timeout = UNWATCHED_TIMEOUT,
				.proc_fd_dir = -1,
				.host_checks = permission_checks_apply(),
				.compiler_gen = 1};
	struct invalidator inv = {.inotify_fd = -1,
				  .compiler_fd = -1,
				  .stop_pipe = {-1, -1},
				  .prune_fd = -1,
				  .request_fd = -1};
	struct fuse_session *se = NULL;
	char mountpoint[PATH_MAX], err[2 * PATH_MAX + 256];
	const char *remote;
	bool mounted = false;
	int status = 1, rc, trace_err, report_fd = -1;

	libfuse_verbose = opts->debug;
	fs.inv = &inv;
	own_init(&fs.own);
	if (start_trace(&fs.trace, opts->trace_path))
		goto out_own;
	if (check_mountpoint_exists(opts->mountpoint, opts->src_dir,
				    mountpoint))
		goto out_trace;
	if (fs.trace.base && inside_mountpoint("trace", fs.trace.base,
					       opts->mountpoint, mountpoint))
		goto out_trace;
	if (opts->digests_arg && strcmp(opts->digests_arg, "none") &&
	    inside_mountpoint("digests", opts->digests_arg, opts->mountpoint,
			      mountpoint))
		goto out_trace;
	/* Before anything is made on the host (the module cache directory,
	 * the digest cache): a refused mount leaves nothing behind. */
	if (check_mountpoint_free(opts->mountpoint, mountpoint,
				  opts->nonempty) ||
	    check_fuse_device())
		goto out_trace;
	/* A failed build may have kept part of what it made: freed below
	 * as a whole (both free what is zero). */
	if (sysinc_build(&fs.sys, compiler_asked(opts, mountpoint),
			 opts->cc_arg != NULL, opts->sys_specs,
			 opts->n_sys_specs, err, sizeof(err)) ||
	    (opts->sysroot_arg &&
	     sysinc_reroot(&fs.sys, opts->sysroot_arg, err, sizeof(err))) ||
	    layout_build(&fs.layout, opts, &fs.sys, mountpoint, err,
			 sizeof(err)) ||
	    !(fs.digests = open_digests(opts, err, sizeof(err))) ||
	    times_open(&fs.times, &fs.layout, opts, fs.digests, err,
		       sizeof(err))) {
		report_error("%s", err);
		goto out_layout;
	}
	if (!opts->nowatch &&
	    (remote = unwatchable_fs(fs.layout.mirrors[0].host_root))) {
		fs.unwatchable = true;
		report_error("warning: SRCDIR '%s' is on %s, where inotify "
			     "does not see changes made elsewhere: nothing is "
			     "watched, as with -o nowatch (names and "
			     "attributes cached for %g s)",
			     opts->src_dir, remote, fs.unwatched_timeout);
	}
	if ((rc = invalidator_init(&inv, &fs))) {
		report_error("cannot set up the host watcher: %s",
			     strerror(rc));
		goto out_watcher;
	}
	if ((rc = inode_table_init(&fs.inodes, &fs.layout, inv.inotify_fd))) {
		report_error("cannot set up the inode table: %s", strerror(rc));
		goto out_watcher;
	}
	if (add_fixed_fuse_options(args, &fs.layout, opts->shared)) {
		report_error("out of memory");
		goto out_table;
	}

	passthrough_setup(&fs);
	se = fuse_session_new(args, &canonfs_ops, sizeof(canonfs_ops), &fs);
	if (!se) {
		report_error(
			"libfuse refused the options: %s (see canonfs --help)",
			libfuse_message);
		goto out_table;
	}
	if (fuse_set_signal_handlers(se) || exit_on_sigusr2(se)) {
		report_error("cannot install signal handlers");
		goto out_session;
	}
	if (mount_quietly(se, mountpoint, opts->debug)) {
		/* A missing /etc/mtab is one more thing to fix, whatever
		 * else fusermount3 refused. */
		bool and_mtab = user_lacks_mtab() &&
				!strstr(libfuse_message, MTAB_COMPLAINT);

		report_error("cannot mount at '%s': %s (%s%s)",
			     opts->mountpoint, libfuse_message,
			     mount_failure_remedy(libfuse_message),
			     and_mtab ? "; and fusermount3 needs /etc/mtab: "
					"as root, ln -s /proc/self/mounts "
					"/etc/mtab"
				      : "");
		goto out_handlers;
	}
	mounted = true;
	/* Passthrough's hooks see the INIT request, which the kernel sends
	 * only once the serving loop reads. */
	if ((rc = passthrough_attach(&fs, se))) {
		report_error("cannot hook the FUSE session: %s", strerror(rc));
		goto out_unmount;
	}
	warn_no_mtab(opts->mountpoint);
	warn_mounted_twice(&fs.layout, mountpoint);
	/* Only now: a refused mount leaves no baseline behind. */
	times_keep(&fs.times);
	if (!opts->foreground && go_to_background(se, mountpoint, &report_fd)) {
		report_error("cannot go to the background: %s",
			     strerror(errno));
		goto out_unmount;
	}
	/* After the fork (the child's table is sized to what is open) and
	 * before the watcher and request threads exist. */
	pregrow_descriptor_table();
	/* The kernel applies the caller's umask to the mode of a create,
	 * mknod or mkdir before it asks: ours must not mask it again. What
	 * the daemon writes for itself (the trace, the digest cache) keeps
	 * the user's. */
	hostpath_set_umask(umask(0));
	if (invalidator_start(&inv, se)) {
		report_error("cannot start the host watcher thread");
		goto out_unmount;
	}
	rc = serve(se, opts);
	/* libfuse returns the signal that ended the loop: a clean unmount.
	 * Anything else failed, most likely the kernel's INIT handshake
	 * (seen with -f only: in the background nobody listens). */
	status = rc == 0 || rc == SIGINT || rc == SIGTERM || rc == SIGHUP ? 0
									  : 1;
	if (status && libfuse_message[0])
		report_error("the mount stopped serving: %s", libfuse_message);
	/* The parent waits for a word while the mount never answered. */
	if (report_fd >= 0) {
		if (status && libfuse_message[0] &&
		    write(report_fd, libfuse_message, strlen(libfuse_message)) <
			    0)
			status = 1;
		close(report_fd);
	}
	invalidator_stop(&inv);

	/* Undone in the reverse order of the set-up above. */
out_unmount:
	unmount_session(se, mountpoint);
out_handlers:
	fuse_remove_signal_handlers(se);
out_session:
	/* SIGUSR2 stays caught, and now does nothing: a late one (run's,
	 * after a lazy unmount) must neither touch the freed session nor
	 * kill the trace being written. */
	exiting_session = NULL;
	/* The session's descriptor closes with it: no backing id is given
	 * back on a number that may be reused (the kernel drops them all). */
	fs.inodes.backing_dev_fd = -1;
	fuse_session_destroy(se);
	/* Opened at INIT, by the session's first request. */
	if (fs.proc_fd_dir >= 0)
		close(fs.proc_fd_dir);
out_table:
	inode_table_destroy(&fs.inodes);
out_watcher:
	invalidator_destroy(&inv);
out_layout:
	times_close(&fs.times);
	digests_close(fs.digests);
	layout_free(&fs.layout);
	sysinc_free(&fs.sys);
out_trace:
	/* A build's only record of its inputs: losing it fails the run. */
	if (mounted && fs.trace.base && (trace_err = trace_flush(&fs.trace))) {
		report_error("trace '%s': %s (the trace of this mount is lost)",
			     fs.trace.base, strerror(trace_err));
		status = 1;
	}
	trace_destroy(&fs.trace);
out_own:
	own_destroy(&fs.own);
	return status;
}
