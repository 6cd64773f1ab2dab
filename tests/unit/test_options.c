/* Unit tests: the mount's command line (fs/options.c). */
#include "canonfs/options.h"
#include "check.h"

#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static struct canonfs_options opts;
static struct fuse_args args;

/* Parse a NULL-terminated argv; returns options_parse's result. */
static int parse(const char **argv)
{
	int argc = 0;

	fuse_opt_free_args(&args);
	options_free(&opts);
	while (argv[argc])
		argc++;
	return options_parse(argc, (char **)argv, &opts, &args);
}

static int has_arg(const char *want)
{
	for (int i = 0; i < args.argc; i++)
		if (strstr(args.argv[i], want))
			return 1;
	return 0;
}

int main(void)
{
	CHECK(parse((const char *[]){"canonfs", "src", "mnt", NULL}) == 0);
	CHECK_STR(opts.src_dir, "src");
	CHECK_STR(opts.mountpoint, "mnt");
	/* The default: canonical for the checkout, true for every change. */
	CHECK(opts.rules.time_mode == CANON_TIME_BASELINE);
	CHECK(opts.baseline_arg == NULL);
	CHECK(opts.rules.uid == getuid() && opts.rules.gid == getgid());
	CHECK(!opts.read_only && !opts.foreground);

	CHECK(parse((const char *[]){"canonfs", "-f", "-o",
				     "ro,uid=12,gid=34,mtime=1700000000", "-o",
				     "allow_other,noatime", "s", "m", NULL}) ==
	      0);
	CHECK(opts.read_only && opts.foreground);
	CHECK(opts.rules.uid == 12 && opts.rules.gid == 34);
	CHECK(opts.rules.time_mode == CANON_TIME_FIXED);
	CHECK(opts.rules.fixed_time == 1700000000);
	/* Generic mount options reach libfuse; ours do not. */
	CHECK(has_arg("allow_other") && has_arg("noatime") && has_arg("ro"));
	CHECK(!has_arg("uid=") && !has_arg("mtime="));

	CHECK(parse((const char *[]){"canonfs", "-o", "mtime=passthrough", "s",
				     "m", NULL}) == 0);
	CHECK(opts.rules.time_mode == CANON_TIME_PASSTHROUGH);

	/* fstab bookkeeping options are accepted and dropped. */
	CHECK(parse((const char *[]){
		      "canonfs", "s", "m", "-o",
		      "defaults,noauto,_netdev,x-systemd.automount", NULL}) ==
	      0);
	CHECK(!has_arg("noauto"));
	/* So are access-time variants libfuse refuses (an fstab line may
	 * carry relatime), and the empty elements of ",,ro,"; options that
	 * need a block device are unknown. */
	CHECK(parse((const char *[]){"canonfs", "s", "m", "-o",
				     ",,relatime,lazytime,ro,", NULL}) == 0);
	CHECK(opts.read_only && !has_arg("relatime") && !has_arg("lazytime"));
	CHECK(parse((const char *[]){"canonfs", "s", "m", "-o", "blksize=4096",
				     NULL}) == -1);
	/* max_read is kept for INIT as well as handed on. */
	CHECK(parse((const char *[]){"canonfs", "s", "m", "-o", "max_read=8192",
				     NULL}) == 0);
	CHECK(opts.max_read == 8192 && has_arg("max_read=8192"));
	CHECK(parse((const char *[]){"canonfs", "s", "m", "-o", "max_read=-1",
				     NULL}) == -1);

	CHECK(parse((const char *[]){
		      "canonfs", "-o",
		      "mirror=extra/tools:/opt/t,mirror=gomod:/g", "s", "m",
		      NULL}) == 0);
	CHECK(opts.n_mirrors == 2);
	CHECK_STR(opts.mirrors[0].virt_path, "/extra/tools");
	CHECK_STR(opts.mirrors[0].host_dir, "/opt/t");
	CHECK_STR(opts.mirrors[1].virt_path, "/gomod");

	/* Build directories outside the mount: absolute, in order. */
	CHECK(parse((const char *[]){"canonfs", "-o",
				     "outputs=/b/one/,outputs=two/../three",
				     "s", "m", NULL}) == 0);
	CHECK(opts.n_outputs == 2);
	CHECK_STR(opts.outputs[0], "/b/one");
	{
		char cwd[PATH_MAX], want[PATH_MAX + 8];

		CHECK(getcwd(cwd, sizeof(cwd)) != NULL);
		snprintf(want, sizeof(want), "%s/three",
			 strcmp(cwd, "/") ? cwd : "");
		CHECK_STR(opts.outputs[1], want);
	}
	CHECK(parse((const char *[]){"canonfs", "-o", "outputs=", "s", "m",
				     NULL}) == -1);
	CHECK(strstr(opts.error, "-o outputs=: expected a directory") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-o", "outputs=/b,mtime=zero",
				     "s", "m", NULL}) == -1);
	CHECK(strstr(opts.error, "conflicting options: -o outputs=") != NULL);

	CHECK(parse((const char *[]){"canonfs", "-o", "order=shuffle:42", "s",
				     "m", NULL}) == 0);
	CHECK(opts.order == DIR_ORDER_SHUFFLE && opts.order_seed == 42);
	CHECK(parse((const char *[]){"canonfs", "-o", "order=reverse", "s", "m",
				     NULL}) == 0);
	CHECK(opts.order == DIR_ORDER_REVERSE);
	CHECK(parse((const char *[]){"canonfs", "-o", "order=shuffle:x", "s",
				     "m", NULL}) == -1);

	/* The Go/C integration options. */
	CHECK(parse((const char *[]){"canonfs", "-o",
				     "mtime=content,cc=clang,gomodcache=none,"
				     "gopath=/g,digests=/tmp/d",
				     "s", "m", NULL}) == 0);
	CHECK(opts.rules.time_mode == CANON_TIME_CONTENT);
	CHECK_STR(opts.cc_arg, "clang");
	CHECK_STR(opts.gomodcache_arg, "none");
	CHECK_STR(opts.gopath_arg, "/g");
	CHECK_STR(opts.digests_arg, "/tmp/d");
	CHECK(!has_arg("cc=") && !has_arg("digests="));
	CHECK(parse((const char *[]){"canonfs", "-o",
				     "sys=none,sys=cc:/a/inc,sys=c++:/b", "s",
				     "m", NULL}) == 0);
	CHECK(opts.n_sys_specs == 3);
	CHECK(opts.sys_specs[0].name == NULL);
	CHECK_STR(opts.sys_specs[1].name, "cc");
	CHECK_STR(opts.sys_specs[1].host_dir, "/a/inc");
	CHECK_STR(opts.sys_specs[2].name, "c++");
	CHECK(parse((const char *[]){"canonfs", "-o", "sys=a/b:/x", "s", "m",
				     NULL}) == -1);
	CHECK(strstr(opts.error, "'a/b' is not a usable name") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-o", "sys=..:/x", "s", "m",
				     NULL}) == -1);
	CHECK(parse((const char *[]){"canonfs", "-o", "sys=usr", "s", "m",
				     NULL}) == -1);
	CHECK(strstr(opts.error, "NAME:HOSTDIR") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-o", "sys=u:/a,sys=u:/b", "s",
				     "m", NULL}) == -1);
	CHECK(strstr(opts.error, "sys/u twice") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-o", "cc=", "s", "m", NULL}) ==
	      -1);
	CHECK(strstr(opts.error, "-o cc=: empty") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-o", "mirror=sys/x:/x", "s",
				     "m", NULL}) == -1);
	CHECK(strstr(opts.error, "'sys'") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-o", "mirror=gomodcache:/x",
				     "s", "m", NULL}) == -1);

	/* Bad input: each gives one message naming the problem. */
	CHECK(parse((const char *[]){"canonfs", "-o", "frobnicate", "s", "m",
				     NULL}) == -1);
	CHECK(strstr(opts.error, "unknown option '-o frobnicate'") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-z", "s", "m", NULL}) == -1);
	CHECK(strstr(opts.error, "'-z'") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-o", "ro,rw", "s", "m",
				     NULL}) == -1);
	CHECK(strstr(opts.error, "conflicting") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-o", "mirror=src:/tmp", "s",
				     "m", NULL}) == -1);
	CHECK(strstr(opts.error, "src") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-o",
				     "mirror=a:/x,mirror=a/b:/y", "s", "m",
				     NULL}) == -1);
	CHECK(strstr(opts.error, "overlaps") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-o", "mirror=../x:/x", "s",
				     "m", NULL}) == -1);
	CHECK(parse((const char *[]){"canonfs", "-o", "mirror=nocolon", "s",
				     "m", NULL}) == -1);
	CHECK(parse((const char *[]){"canonfs", "-o", "mtime=zero", "s", "m",
				     NULL}) == 0);
	CHECK(opts.rules.time_mode == CANON_TIME_ZERO);
	CHECK(parse((const char *[]){"canonfs", "-o",
				     "mtime=baseline,baseline=now", "s", "m",
				     NULL}) == 0);
	CHECK(opts.rules.time_mode == CANON_TIME_BASELINE);
	CHECK_STR(opts.baseline_arg, "now");
	CHECK(parse((const char *[]){"canonfs", "-o", "baseline=1700000000",
				     "s", "m", NULL}) == 0);
	CHECK(parse((const char *[]){"canonfs", "-o", "baseline=soon", "s", "m",
				     NULL}) != 0);
	CHECK(strstr(opts.error, "baseline=soon") != NULL);
	/* A baseline means nothing to the constant modes: said, not lost. */
	CHECK(parse((const char *[]){"canonfs", "-o", "mtime=zero,baseline=now",
				     "s", "m", NULL}) != 0);
	CHECK(strstr(opts.error, "conflicting") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-o", "mtime=yesterday", "s",
				     "m", NULL}) == -1);
	CHECK(strstr(opts.error, "mtime=yesterday") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-o", "mtime=-5", "s", "m",
				     NULL}) == -1);
	CHECK(parse((const char *[]){"canonfs", "-o", "uid=nosuchuser_x", "s",
				     "m", NULL}) == -1);
	CHECK(strstr(opts.error, "uid=nosuchuser_x") != NULL);
	CHECK(parse((const char *[]){"canonfs", "-o", "uid=root", "s", "m",
				     NULL}) == 0);
	CHECK(opts.rules.uid == 0);
	/* Digits only: strtoul would take a blank or a sign before them. */
	CHECK(parse((const char *[]){"canonfs", "-o", "uid= 5", "s", "m",
				     NULL}) == -1);
	CHECK(parse((const char *[]){"canonfs", "-o", "gid=+5", "s", "m",
				     NULL}) == -1);
	CHECK(parse((const char *[]){"canonfs", "-o", "max_read=+8192", "s",
				     "m", NULL}) == -1);
	CHECK(parse((const char *[]){"canonfs", "s", NULL}) == -1);
	CHECK(strstr(opts.error, "MOUNTPOINT") != NULL);
	CHECK(parse((const char *[]){"canonfs", NULL}) == -1);
	CHECK(parse((const char *[]){"canonfs", "a", "b", "c", NULL}) == -1);
	CHECK(strstr(opts.error, "'c'") != NULL);
	CHECK(parse((const char *[]){"canonfs", "--help", NULL}) == 0);
	CHECK(opts.show_help);

	fuse_opt_free_args(&args);
	options_free(&opts);
	return check_summary("options");
}
