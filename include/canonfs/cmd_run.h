/*
 * cmd_run: `canonfs run [options] SRCDIR -- COMMAND...`, the CI entrypoint.
 *
 * Mounts SRCDIR at a fixed mountpoint (default /build) with a canonfs
 * daemon of its own (this same program, in the foreground, as a child),
 * runs COMMAND in the same relative directory inside MOUNTPOINT/src with
 * the mount's canonical Go environment (goenv.h) added to its own,
 * forwards SIGINT, SIGTERM and SIGHUP to it, always unmounts (also when
 * the command is killed or the daemon dies) and exits with the command's
 * status, 128+N when a signal ended it.
 */
#ifndef CANONFS_CMD_RUN_H
#define CANONFS_CMD_RUN_H

/* argv[0] is "run". Returns the exit status. */
int cmd_run_main(int argc, char **argv);

#endif
