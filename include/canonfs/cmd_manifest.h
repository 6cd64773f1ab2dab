/*
 * cmd_manifest: `canonfs manifest PATH [--json]`, the tree at PATH
 * described under the canonical rules, without mounting anything.
 */
#ifndef CANONFS_CMD_MANIFEST_H
#define CANONFS_CMD_MANIFEST_H

/* argv[0] is "manifest". Exit status: 0, or 2 on trouble. */
int cmd_manifest_main(int argc, char **argv);

#endif
