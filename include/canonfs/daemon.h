/*
 * daemon: the life of a mount, `canonfs [options] SRCDIR MOUNTPOINT`.
 *
 * Checks everything it can before mounting (so bad input never leaves a
 * half-mounted state), mounts, goes to the background once the mount
 * answers (unless -f), serves requests until unmounted or signalled
 * (SIGINT, SIGTERM, SIGHUP, and SIGUSR2 from `canonfs run`), unmounts,
 * and writes the -o trace. What libfuse says is kept and folded into the
 * one error line; once detached, errors also go to syslog.
 */
#ifndef CANONFS_DAEMON_H
#define CANONFS_DAEMON_H

#include "canonfs/options.h"

/* Keep libfuse's messages for canonfs's own error line (printed as they
 * come with -d): call before libfuse parses anything. */
void daemon_keep_libfuse_messages(void);

/* Mount opts->mountpoint with args (libfuse's options, to which the fixed
 * ones are added) and serve it. Returns the exit status: 0 after a clean
 * unmount, 1 on any failure (said on stderr, or syslog once detached). In
 * the background, the parent exits from here once the mount answers. */
int daemon_mount_and_serve(const struct canonfs_options *opts,
			   struct fuse_args *args);

#endif
