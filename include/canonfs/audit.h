/*
 * audit: what the `canonfs manifest` and `canonfs diff` subcommands
 * (cmd_manifest.c, cmd_diff.c) compare, which answer "is what machine A
 * compiled the same as what machine B compiled?" without mounting
 * anything.
 */
#ifndef CANONFS_AUDIT_H
#define CANONFS_AUDIT_H

#include "canonfs/manifest.h"

/* The manifest of what: a directory described now (hashed on all
 * cores), or a manifest file read back. Returns 0 with m filled
 * (manifest_free it), or non-zero with one line on stderr. */
int audit_load(const char *what, struct manifest *m);

#endif
