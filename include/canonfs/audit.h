/*
 * audit: the `canonfs manifest` and `canonfs diff` subcommands, which
 * answer "is what machine A compiled the same as what machine B
 * compiled?" without mounting anything.
 */
#ifndef CANONFS_AUDIT_H
#define CANONFS_AUDIT_H

/* `canonfs manifest PATH [--json]`; argv[0] is "manifest". Exit status:
 * 0, or 2 on trouble. */
int manifest_main(int argc, char **argv);

/* `canonfs diff A B`, each a manifest file or a directory; argv[0] is
 * "diff". Exit status as diff(1): 0 same, 1 different, 2 trouble. */
int diff_main(int argc, char **argv);

#endif
