/*
 * main: the command line. A first argument naming a subcommand (run, env,
 * manifest, diff) runs it; anything else is `canonfs [options] SRCDIR
 * MOUNTPOINT`, the mount itself (daemon.c).
 *
 * Every user-facing error is one line: "canonfs: <what>: <why> (<fix>)".
 */
#include "canonfs/cmd_diff.h"
#include "canonfs/cmd_env.h"
#include "canonfs/cmd_manifest.h"
#include "canonfs/cmd_run.h"
#include "canonfs/daemon.h"
#include "canonfs/options.h"
#include "canonfs/report.h"
#include "canonfs/version.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/*
 * Process set-up that the file handles rely on: descriptors 0-2 open (a
 * file handle of 0 then always means "none"), and the descriptor limit
 * raised as far as allowed, since every inode the kernel holds keeps an
 * O_PATH descriptor (a tree of a million files needs a million).
 */
static void prepare_process(void)
{
	struct rlimit files;
	int fd;

	do {
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
	} while (fd >= 0 && fd <= 2);
	if (fd > 2)
		close(fd);
	if (getrlimit(RLIMIT_NOFILE, &files) != 0)
		return;
	/* As root, up to the kernel's ceiling (fs.nr_open); else the hard
	 * limit. Either may fail: canonfs then runs with what it has. */
	files.rlim_cur = files.rlim_max;
	if (geteuid() == 0) {
		FILE *nr_open = fopen("/proc/sys/fs/nr_open", "re");
		unsigned long ceiling;

		if (nr_open && fscanf(nr_open, "%lu", &ceiling) == 1 &&
		    ceiling > files.rlim_max)
			files.rlim_cur = files.rlim_max = ceiling;
		if (nr_open)
			fclose(nr_open);
	}
	if (setrlimit(RLIMIT_NOFILE, &files) != 0) {
		getrlimit(RLIMIT_NOFILE, &files);
		files.rlim_cur = files.rlim_max;
		setrlimit(RLIMIT_NOFILE, &files);
	}
}

/* What went to stdout (help, env, a manifest) reached it: one line and a
 * failing status when it did not, as for `canonfs --help >/dev/full`. */
static int check_stdout(int status)
{
	int err = fflush(stdout) == 0 ? 0 : errno;

	if (!err && !ferror(stdout))
		return status;
	/* A write that failed earlier left only the error flag behind. */
	if (err)
		report_error("cannot write the output: %s", strerror(err));
	else
		report_error("cannot write the output");
	return status ? status : 2;
}

/* A first argument naming a subcommand is the subcommand ("./run" names a
 * directory). Returns its exit status, or -1 when there is none. */
static int run_subcommand(int argc, char **argv)
{
	if (argc < 2)
		return -1;
	if (strcmp(argv[1], "run") == 0)
		return cmd_run_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "manifest") == 0)
		return cmd_manifest_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "diff") == 0)
		return cmd_diff_main(argc - 1, argv + 1);
	if (strcmp(argv[1], "env") == 0)
		return cmd_env_main(argc - 1, argv + 1);
	return -1;
}

int main(int argc, char **argv)
{
	struct canonfs_options opts;
	struct fuse_args args;
	int status;

	prepare_process();
	status = run_subcommand(argc, argv);
	if (status >= 0)
		return check_stdout(status);

	daemon_keep_libfuse_messages();
	if (options_parse(argc, argv, &opts, &args)) {
		report_error("%s", opts.error);
		status = 2;
	} else if (opts.show_help) {
		options_print_help("canonfs");
		status = check_stdout(0);
	} else if (opts.show_version) {
		printf("canonfs %s (libfuse %s)\n", CANONFS_VERSION,
		       fuse_pkgversion());
		status = check_stdout(0);
	} else {
		status = daemon_mount_and_serve(&opts, &args);
	}
	fuse_opt_free_args(&args);
	options_free(&opts);
	return status;
}
