/*
 * canon: the canonical view of metadata. Pure functions.
 *
 * Whatever the host says, a file is shown with: mode 0644 (0755 when any
 * execute bit is set), directories 0755, symlinks 0777, no setuid, setgid
 * or sticky bits; one owner; link count 1; timestamps by the time mode;
 * directory sizes 0; block counts derived from the size; and an inode
 * number derived from the virtual path, the same on every machine.
 */
#ifndef CANONFS_CANON_H
#define CANONFS_CANON_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

enum canon_time_mode {
	CANON_TIME_BASELINE,	/* the default: content times for what is
				   unchanged since the tree's baseline, host
				   times for every change (times.h) */
	CANON_TIME_ZERO,	/* atime, mtime, ctime all 0 */
	CANON_TIME_FIXED,	/* all three at a fixed epoch second */
	CANON_TIME_PASSTHROUGH, /* the host's times */
	CANON_TIME_CONTENT,	/* from the blob id: canon_content_time */
};

/* 1990-01-01 00:00:00 UTC: the time of directories in CANON_TIME_CONTENT
 * (and of unchanged ones in CANON_TIME_BASELINE), and the base that files
 * add their digest bits to. */
#define CANON_CONTENT_EPOCH 631152000

struct canon_rules {
	enum canon_time_mode time_mode;
	int64_t fixed_time; /* seconds, for CANON_TIME_FIXED */
	uid_t uid;	    /* owner shown for everything */
	gid_t gid;
};

/* Directory-order audit modes (like disorderfs): a build that depends on
 * readdir order shows it when listings come reversed or shuffled. */
enum dir_order {
	DIR_ORDER_SORTED, /* byte order: the canonical view */
	DIR_ORDER_REVERSE,
	DIR_ORDER_SHUFFLE, /* seeded: the same seed, the same order */
};

/* The inode number of the root of the mount. */
#define CANON_ROOT_INO 1

/* The inode number of `name` inside the directory whose number is parent. */
uint64_t canon_child_ino(uint64_t parent_ino, const char *name);

/* Regular files, directories and symlinks are shown; devices, FIFOs and
 * sockets are not (they are host-specific and useless to a build). */
bool canon_is_shown(mode_t host_mode);

/* File type plus normalized permission bits. */
mode_t canon_mode(mode_t host_mode);

/*
 * The attributes to show for a host object. ino is its canonical number;
 * symlink_size is the length of the target as shown (symlinks only).
 */
void canon_attr(const struct canon_rules *rules, const struct stat *host,
		uint64_t ino, off_t symlink_size, struct stat *out);

/*
 * The content time of an object whose bytes (a file's contents, a
 * symlink's shown target) have this digest (its first 8 bytes are used;
 * the modes pass the git blob id): the epoch plus 28 bits of seconds (up
 * to mid-1998) and a nanosecond part, both from the digest. Equal bytes,
 * equal times on every machine; different bytes, different times but for
 * a 1 in 2^57 chance.
 */
void canon_content_time(const unsigned char *digest, struct timespec *out);

/* A timestamp in nanoseconds since 1970 (host file times, the clock). */
static inline int64_t canon_ns_of(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

/* The attributes of an object with no host twin (the root, intermediate
 * directories, control files): mode is the full st_mode to show. */
void canon_synthetic_attr(const struct canon_rules *rules, uint64_t ino,
			  mode_t mode, struct stat *out);

#endif
