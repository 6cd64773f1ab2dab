/*
 * cmd_env: `canonfs env MOUNTPOINT [--json]`, the canonical Go
 * environment of a running mount (goenv.h) as shell exports or JSON: the
 * mount's values, which replace the shell's (the user adds flags after
 * them by hand), except GODEBUG and GOFLAGS, merged with the shell's
 * (envmerge.h).
 */
#ifndef CANONFS_CMD_ENV_H
#define CANONFS_CMD_ENV_H

/* argv[0] is "env". Returns the exit status. */
int cmd_env_main(int argc, char **argv);

#endif
