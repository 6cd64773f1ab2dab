/*
 * cmd_diff: `canonfs diff A B`, each a manifest file or a directory, and
 * `canonfs diff --inputs TRACE DIR`, without mounting anything.
 */
#ifndef CANONFS_CMD_DIFF_H
#define CANONFS_CMD_DIFF_H

/* argv[0] is "diff". Exit status as diff(1): 0 same, 1 different, 2
 * trouble. */
int cmd_diff_main(int argc, char **argv);

#endif
