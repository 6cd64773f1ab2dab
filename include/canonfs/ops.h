/*
 * ops: the FUSE low-level operations, thin: each finds its inodes, calls
 * one helper that does the work and returns 0 or an errno value, and
 * replies once. The table is in ops.c, the operations in the ops_*.c
 * files by concern (see ops_internal.h).
 */
#ifndef CANONFS_OPS_H
#define CANONFS_OPS_H

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

#include "canonfs/fs.h"

extern const struct fuse_lowlevel_ops canonfs_ops;

#endif
