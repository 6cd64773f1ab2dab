/*
 * mounts: the mount table, shared by the mount itself (daemon.c) and
 * `canonfs run` (cmd_run.c).
 */
#ifndef CANONFS_MOUNTS_H
#define CANONFS_MOUNTS_H

#include <stdbool.h>
#include <stddef.h>

/* Whether the resolved path is a mount point in this mount namespace. */
bool mounts_is_mount_point(const char *resolved);

/* Whether a mount of type fstype ("fuse.canonfs") with this source (its
 * fsname) is in this mount namespace at another mount point than except
 * (may be NULL): true with that mount point in found. */
bool mounts_find_source(const char *fstype, const char *source,
			const char *except, char *found, size_t found_size);

/*
 * Open and close the stats file of the canonfs mount at mountpoint: true
 * when it answered. The mount command does it before it returns: the
 * kernel stops sending OPEN, and the RELEASE of each file it got from
 * CREATE, only once an OPEN was answered ENOSYS, so a fresh mount only
 * written to (tar x, cp -r into it) paid a RELEASE a file until something
 * opened a file that exists. (From a thread of the daemon, it could still
 * be under way when the caller unmounts: EBUSY. `canonfs run` opens the
 * control files for the command's environment anyway.)
 */
bool mounts_open_stats(const char *mountpoint);

/* A FUSE mount whose daemon is gone (statfs asks the daemon; stat of the
 * root may be answered from the kernel's cache). */
bool mounts_is_stale(const char *mountpoint);

/* Unmount with umount2 (root), else fusermount3, which a user's FUSE mount
 * needs; lazy detaches a busy or dead mount. Returns 0 or -1. */
int mounts_unmount(const char *mountpoint, bool lazy);

/* The mount point as the kernel names it (in /proc/PID/cwd, and as the
 * daemon resolved it): realpath, but the root of a stale mount cannot be
 * resolved (ENOTCONN), only its parent, nor a directory removed since.
 * 0, or -1. */
int mounts_resolve(const char *mountpoint, char *out, size_t out_size);

/* How many holders mounts_holders names. */
#define MOUNTS_HOLDERS_SHOWN 3

/*
 * The processes that keep the mount at mountpoint busy (an unmount then
 * fails with "Device or resource busy"): those whose working directory,
 * root or an open file lies in it, this process left out. "pid 12 (bash),
 * pid 40 (sleep) and 2 more" (malloc'd, the caller frees it), or NULL
 * when none is seen. Only processes whose /proc entries this user may
 * read are seen (fuser -vm sees the same).
 */
char *mounts_holders(const char *mountpoint);

/* What a message tells the user to run to unmount mountpoint: "fusermount3
 * -u MNT", and when processes hold it (mounts_holders), which ones to cd
 * out of or end first, since fusermount3 only says "Device or resource
 * busy". malloc'd (the caller frees it), NULL when out of memory. */
char *mounts_unmount_advice(const char *mountpoint);

#endif
