/*
 * cmd_run: the CI entrypoint (see include/canonfs/cmd_run.h).
 */
#include "canonfs/cmd_run.h"

#include "canonfs/envmerge.h"
#include "canonfs/goenv.h"
#include "canonfs/hostpath.h"
#include "canonfs/mounts.h"
#include "canonfs/path.h"
#include "canonfs/report.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_MOUNTPOINT "/build"
#define MAX_MOUNT_OPTIONS 32

struct run_args {
	const char *mountpoint;
	const char *src_dir;
	const char *mount_options[MAX_MOUNT_OPTIONS]; /* each after "-o" */
	int n_mount_options;
	char **command; /* NULL-terminated, from argv */
};

static void run_usage(FILE *out)
{
	fprintf(out,
		"usage: canonfs run [options] SRCDIR -- COMMAND [ARG...]\n"
		"\n"
		"Mount SRCDIR at MOUNTPOINT/src, run COMMAND there (in the "
		"same\n"
		"relative directory when started inside SRCDIR), unmount, and\n"
		"exit with COMMAND's status (128+N if signal N ended it; 1 if\n"
		"it returned 0 but the daemon died or failed under it).\n"
		"SIGINT, SIGTERM, SIGHUP and SIGQUIT are forwarded to COMMAND\n"
		"(not a second time when a terminal sent them).\n"
		"\n"
		"options:\n"
		"    -m, --mountpoint DIR  where to mount (default %s; "
		"created\n"
		"                          if missing, a stale mount is "
		"cleaned)\n"
		"    -o OPTIONS            mount options, as for canonfs "
		"itself\n"
		"    -h, --help            print this help\n",
		DEFAULT_MOUNTPOINT);
}

/* Returns 0, 1 when help was printed, or -1 on bad input. */
static int parse_run_args(int argc, char **argv, struct run_args *args)
{
	int i;

	memset(args, 0, sizeof(*args));
	args->mountpoint = DEFAULT_MOUNTPOINT;
	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
			run_usage(stdout);
			return 1;
		} else if (strcmp(arg, "-m") == 0 ||
			   strcmp(arg, "--mountpoint") == 0) {
			if (++i >= argc) {
				report_error("run: %s needs a directory (see "
					     "canonfs run --help)",
					     arg);
				return -1;
			}
			args->mountpoint = argv[i];
		} else if (strncmp(arg, "--mountpoint=", 13) == 0) {
			args->mountpoint = arg + 13;
		} else if (strcmp(arg, "-o") == 0) {
			if (++i >= argc ||
			    args->n_mount_options == MAX_MOUNT_OPTIONS) {
				report_error("run: -o needs mount options (see "
					     "canonfs --help)");
				return -1;
			}
			args->mount_options[args->n_mount_options++] = argv[i];
		} else if (arg[0] == '-') {
			report_error("run: unknown option '%s' (see canonfs "
				     "run --help)",
				     arg);
			return -1;
		} else if (!args->src_dir) {
			args->src_dir = arg;
		} else {
			report_error("run: unexpected argument '%s' before -- "
				     "(usage: canonfs run [options] SRCDIR -- "
				     "COMMAND...)",
				     arg);
			return -1;
		}
	}
	if (!args->src_dir) {
		report_error("run: missing SRCDIR (usage: canonfs run "
			     "[options] SRCDIR -- COMMAND...)");
		return -1;
	}
	if (i >= argc || i + 1 >= argc) {
		report_error("run: missing -- COMMAND (usage: canonfs run "
			     "[options] SRCDIR -- COMMAND...)");
		return -1;
	}
	args->command = &argv[i + 1];
	return 0;
}

/* Create the mountpoint, or clean a mount a killed daemon left behind. A
 * live mount there is refused: the build would run in it, and the
 * unmount at the end would take it away from its owner. */
static int prepare_mountpoint(const char *mountpoint,
			      struct hostpath_made *made)
{
	char resolved[PATH_MAX];
	struct stat st;
	int err = 0;

	if (mounts_is_stale(mountpoint)) {
		if (mounts_unmount(mountpoint, true) == 0 &&
		    !mounts_is_stale(mountpoint))
			return 0;
		report_error("run: MOUNTPOINT '%s' is a stale mount that could "
			     "not be cleaned (run: fusermount3 -uz %s)",
			     mountpoint, mountpoint);
		return -1;
	}
	if (stat(mountpoint, &st) == 0) {
		if (realpath(mountpoint, resolved) &&
		    mounts_is_mount_point(resolved)) {
			char *advice = mounts_unmount_advice(mountpoint);

			report_error("run: MOUNTPOINT '%s' is already a mount "
				     "point (unmount it: %s; or choose another "
				     "with -m)",
				     mountpoint,
				     advice ? advice : "fusermount3 -u");
			free(advice);
			return -1;
		}
		return 0;
	}
	if (errno == ENOENT &&
	    (err = hostpath_make_dirs(mountpoint, made)) == 0)
		return 0;
	report_error("run: MOUNTPOINT '%s': %s (give a directory with -m)",
		     mountpoint, strerror(errno == ENOENT ? err : errno));
	hostpath_unmake_dirs(made);
	return -1;
}

/* The daemon: this program, in the foreground, as our child. */
static pid_t start_daemon(const struct run_args *args, const char *mountpoint)
{
	char *argv[4 + 2 * MAX_MOUNT_OPTIONS + 3];
	pid_t pid, parent = getpid();
	int n = 0;

	argv[n++] = "canonfs";
	argv[n++] = "-f";
	for (int i = 0; i < args->n_mount_options; i++) {
		argv[n++] = "-o";
		argv[n++] = (char *)args->mount_options[i];
	}
	argv[n++] = (char *)args->src_dir;
	argv[n++] = (char *)mountpoint;
	argv[n] = NULL;

	pid = fork();
	if (pid == 0) {
		/* When we die, even by SIGKILL, the daemon unmounts and goes
		 * (a CI runner's next job would find the old tree here). The
		 * signals forwarded to the command stay blocked in it: the
		 * command may still be cleaning up in the mount. */
		prctl(PR_SET_PDEATHSIG, SIGUSR2);
		if (getppid() != parent)
			_exit(1);
		/* Out of the terminal's reach: Ctrl-\ or Ctrl-Z meant for
		 * the command must not kill or stop the mount under it. */
		setpgid(0, 0);
		execv("/proc/self/exe", argv);
		report_error("run: cannot start the daemon: %s",
			     strerror(errno));
		_exit(127);
	}
	return pid;
}

/* End the daemon: SIGUSR2 (the others stay blocked in it, see
 * start_daemon), SIGKILL if it has not gone within 5 s. Returns whether
 * it finished well (a trace it was to write is then written). */
static bool stop_daemon(pid_t daemon)
{
	struct timespec tick = {0, 20 * 1000 * 1000};
	int status = 0;

	kill(daemon, SIGUSR2);
	for (int waited = 0; waitpid(daemon, &status, WNOHANG) != daemon;
	     waited++) {
		if (waited == 250)
			kill(daemon, SIGKILL);
		nanosleep(&tick, NULL);
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/*
 * Wait until the mount is up (0), or the daemon gave up: it said why, and
 * its exit status is ours (2 for a bad -o, as from canonfs itself). A
 * signal to stop (docker stop during a slow start) ends the daemon and
 * gives 128+N.
 */
static int wait_mounted(pid_t daemon, const char *mountpoint,
			const sigset_t *forwarded)
{
	struct timespec tick = {0, 10 * 1000 * 1000};
	int rc = 1;

	for (int waited = 0; waited < 3000; waited++) {
		siginfo_t info;
		int status, sig;

		if (mounts_is_mount_point(mountpoint))
			return 0;
		if (waitpid(daemon, &status, WNOHANG) == daemon)
			return WIFEXITED(status) && WEXITSTATUS(status) > 0
				       ? WEXITSTATUS(status)
				       : 1;
		sig = sigtimedwait(forwarded, &info, &tick);
		if (sig > 0 && sig != SIGCHLD) {
			rc = 128 + sig;
			break;
		}
	}
	if (rc == 1)
		report_error("run: the mount at '%s' did not come up within "
			     "30 s",
			     mountpoint);
	stop_daemon(daemon);
	/* It may have mounted at last, or left the mount stale. */
	if (mounts_is_mount_point(mountpoint))
		mounts_unmount(mountpoint, true);
	return rc;
}

/* MOUNTPOINT/src plus where we are inside SRCDIR, if we are. */
static void command_dir(const char *src_dir, const char *mountpoint, char *out,
			size_t out_size)
{
	char cwd[PATH_MAX], src[PATH_MAX];
	const char *rest = NULL;

	if (getcwd(cwd, sizeof(cwd)) && realpath(src_dir, src))
		rest = path_under(cwd, src);
	snprintf(out, out_size, "%s/src%s", mountpoint, rest ? rest : "");
}

/*
 * Add the environment of the mount at mountpoint to this process's. The
 * mount's value replaces the caller's, except GODEBUG, GOFLAGS and the
 * cgo flags, merged with the caller's (envmerge.h). Returns 0, or -1 with
 * one line in err.
 */
static int apply_mount_env(const char *mountpoint, char *err, size_t err_size)
{
	char *data = goenv_read_env(mountpoint, err, err_size), *line;
	char resolved[PATH_MAX], *save = NULL, replaced[512] = "";
	char file_value[8192];
	int rc = 0;

	if (!data)
		return -1;
	/* As the daemon wrote it into the -isystem flags. */
	if (!realpath(mountpoint, resolved))
		snprintf(resolved, sizeof(resolved), "%s", mountpoint);
	goenv_warn_gocache_inside(mountpoint);
	for (line = strtok_r(data, "\n", &save); line && !rc;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '='), *merged;
		const char *callers;
		int e;

		if (!eq)
			continue;
		*eq = '\0';
		callers = goenv_callers_value(line, file_value,
					      sizeof(file_value));
		e = envmerge_value(line, eq + 1, callers, resolved, &merged);
		if (!e && !merged)
			goenv_note_replaced(replaced, sizeof(replaced), line,
					    callers, eq + 1);
		if (!e && setenv(line, merged ? merged : eq + 1, 1))
			e = errno;
		if (e) {
			snprintf(err, err_size, "cannot set %s: %s", line,
				 strerror(e));
			rc = -1;
		}
		free(merged);
	}
	free(data);
	goenv_warn_file_replaced(replaced);
	return rc;
}

static pid_t start_command(char **command, const char *mountpoint,
			   const char *dir, const sigset_t *old_mask)
{
	char err[PATH_MAX + 256];
	pid_t pid, parent = getpid();

	pid = fork();
	if (pid == 0) {
		/* When we die, even by SIGKILL, the mount goes (start_daemon):
		 * the command is told to end too, not left to work on in a
		 * mount that is gone. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(128 + SIGTERM);
		sigprocmask(SIG_SETMASK, old_mask, NULL);
		/* The canonical Go environment of the mount (goenv.h). */
		if (apply_mount_env(mountpoint, err, sizeof(err))) {
			report_error("run: %s", err);
			_exit(126);
		}
		if (chdir(dir) == -1) {
			report_error("run: cannot enter '%s': %s", dir,
				     strerror(errno));
			_exit(126);
		}
		setenv("PWD", dir, 1);
		execvp(command[0], command);
		report_error("run: cannot run '%s': %s", command[0],
			     strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	return pid;
}

/*
 * Wait for the command, forwarding the signals a container runtime or a
 * CI runner sends. As PID 1 of a container we also reap the orphans that
 * are reparented to us. The daemon may die meanwhile: the command then
 * sees ENOTCONN and ends on its own.
 */
static int supervise(pid_t command, pid_t daemon, const sigset_t *forwarded,
		     bool *daemon_alive)
{
	struct timespec tick = {0, 50 * 1000 * 1000};

	for (;;) {
		siginfo_t info;
		int status, sig;
		pid_t pid;

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			if (pid == daemon)
				*daemon_alive = false;
			if (pid != command)
				continue;
			if (WIFSIGNALED(status))
				return 128 + WTERMSIG(status);
			return WEXITSTATUS(status);
		}
		sig = sigtimedwait(forwarded, &info, &tick);
		/* A signal from the terminal (Ctrl-C) went to its whole
		 * foreground group, the command included: passed on, it
		 * would arrive twice. */
		if (sig > 0 && sig != SIGCHLD && info.si_code != SI_KERNEL)
			kill(command, sig);
	}
}

/* Hold MOUNTPOINT for this run: two runs at one mountpoint would build
 * each other's tree and unmount each other. Returns the descriptor that
 * holds the lock, or -1 (said why). */
static int lock_mountpoint(const char *mountpoint)
{
	int fd = open(mountpoint, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd == -1) {
		report_error("run: MOUNTPOINT '%s': %s", mountpoint,
			     strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		report_error("run: MOUNTPOINT '%s' is in use by another "
			     "canonfs run (give each its own with -m)",
			     mountpoint);
		close(fd);
		return -1;
	}
	return fd;
}

int cmd_run_main(int argc, char **argv)
{
	char mountpoint[PATH_MAX], dir[PATH_MAX + 8];
	struct hostpath_made made = {.first = 0};
	struct run_args args;
	sigset_t forwarded, old_mask;
	bool daemon_alive = true;
	pid_t daemon, command;
	int rc, status, lock_fd;

	rc = parse_run_args(argc, argv, &args);
	if (rc)
		return rc > 0 ? 0 : 2;
	if (prepare_mountpoint(args.mountpoint, &made))
		return 1;
	if (!realpath(args.mountpoint, mountpoint)) {
		report_error("run: MOUNTPOINT '%s': %s", args.mountpoint,
			     strerror(errno));
		hostpath_unmake_dirs(&made);
		return 1;
	}
	if ((lock_fd = lock_mountpoint(mountpoint)) < 0) {
		hostpath_unmake_dirs(&made);
		return 1;
	}

	/* Blocked from here on: delivered through sigtimedwait and passed
	 * on, never acted upon by us. SIGCHLD wakes the wait early. */
	sigemptyset(&forwarded);
	sigaddset(&forwarded, SIGINT);
	sigaddset(&forwarded, SIGTERM);
	sigaddset(&forwarded, SIGHUP);
	sigaddset(&forwarded, SIGQUIT);
	sigaddset(&forwarded, SIGCHLD);
	sigprocmask(SIG_BLOCK, &forwarded, &old_mask);

	daemon = start_daemon(&args, mountpoint);
	if (daemon < 0 || (rc = wait_mounted(daemon, mountpoint, &forwarded))) {
		close(lock_fd);
		hostpath_unmake_dirs(&made);
		return daemon < 0 ? 1 : rc;
	}

	command_dir(args.src_dir, mountpoint, dir, sizeof(dir));
	command = start_command(args.command, mountpoint, dir, &old_mask);
	if (command < 0) {
		report_error("run: cannot start '%s': %s", args.command[0],
			     strerror(errno));
		status = 126;
	} else {
		status = supervise(command, daemon, &forwarded, &daemon_alive);
		/* The command may still have ended well on what the kernel
		 * had cached, or on errors it ignored: a failure of its own
		 * stands, a success does not (a CI step must fail). */
		if (!daemon_alive) {
			report_error("run: the canonfs daemon died while '%s' "
				     "ran; what it read or wrote after that "
				     "failed%s",
				     args.command[0],
				     status == 0 ? " (exit status 1, though it "
						   "returned 0)"
						 : "");
			if (status == 0)
				status = 1;
		}
	}

	/* Always unmount: cleanly, or lazily if something still holds it
	 * (a process the command left behind in it) or the daemon is gone.
	 * A lazily unmounted daemon would serve on: told to finish, it
	 * writes the trace and goes. */
	if (mounts_unmount(mountpoint, false) != 0)
		mounts_unmount(mountpoint, true);
	/* The daemon said what went wrong (a trace it could not write): a
	 * command that succeeded does not make the run a success. */
	if (daemon_alive && !stop_daemon(daemon) && status == 0)
		status = 1;
	close(lock_fd);
	return status;
}
