/*
 * canon: the canonical view of metadata (see include/canonfs/canon.h).
 */
#include "canonfs/canon.h"

#include <string.h>

/* FNV-1a over the parent's number and the name: cheap, stable across
 * machines and releases, and chained so the number is a function of the
 * whole virtual path without keeping the path. */
uint64_t canon_child_ino(uint64_t parent_ino, const char *name)
{
	uint64_t hash = 0xcbf29ce484222325ULL;

	for (int i = 0; i < 8; i++) {
		hash ^= (parent_ino >> (8 * i)) & 0xff;
		hash *= 0x100000001b3ULL;
	}
	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		hash ^= *p;
		hash *= 0x100000001b3ULL;
	}
	/* 0 means "no inode" to many tools; 1 is the root's. */
	if (hash <= CANON_ROOT_INO)
		hash += 2;
	return hash;
}

bool canon_is_shown(mode_t host_mode)
{
	return S_ISREG(host_mode) || S_ISDIR(host_mode) || S_ISLNK(host_mode);
}

mode_t canon_mode(mode_t host_mode)
{
	if (S_ISDIR(host_mode))
		return S_IFDIR | 0755;
	if (S_ISLNK(host_mode))
		return S_IFLNK | 0777;
	/* git's model: only "executable or not" survives. */
	return (host_mode & S_IFMT) | ((host_mode & 0111) ? 0755 : 0644);
}

static void canon_times(const struct canon_rules *rules,
			const struct stat *host, struct stat *out)
{
	struct timespec fixed = {0, 0};

	if (rules->time_mode == CANON_TIME_PASSTHROUGH && host) {
		out->st_atim = host->st_atim;
		out->st_mtim = host->st_mtim;
		out->st_ctim = host->st_ctim;
		return;
	}
	if (rules->time_mode == CANON_TIME_FIXED)
		fixed.tv_sec = (time_t)rules->fixed_time;
	else if (rules->time_mode == CANON_TIME_CONTENT ||
		 rules->time_mode == CANON_TIME_BASELINE)
		fixed.tv_sec = CANON_CONTENT_EPOCH; /* the rest: times.c */
	out->st_atim = fixed;
	out->st_mtim = fixed;
	out->st_ctim = fixed;
}

void canon_attr(const struct canon_rules *rules, const struct stat *host,
		uint64_t ino, off_t symlink_size, struct stat *out)
{
	memset(out, 0, sizeof(*out));
	out->st_ino = ino;
	out->st_mode = canon_mode(host->st_mode);
	out->st_nlink = 1;
	out->st_uid = rules->uid;
	out->st_gid = rules->gid;
	out->st_blksize = 4096;
	if (S_ISREG(host->st_mode)) {
		out->st_size = host->st_size;
		/* Host block counts leak the filesystem type and sparseness. */
		out->st_blocks = (host->st_size + 4095) / 4096 * 8;
	} else if (S_ISLNK(host->st_mode)) {
		out->st_size = symlink_size;
	}
	/* Directories: size 0 (ext4 says 4096, tmpfs counts entries). */
	canon_times(rules, host, out);
}

void canon_content_time(const unsigned char *digest, struct timespec *out)
{
	uint32_t seconds = 0, nanos = 0;

	for (int i = 0; i < 4; i++) {
		seconds = seconds << 8 | digest[i];
		nanos = nanos << 8 | digest[4 + i];
	}
	out->tv_sec = CANON_CONTENT_EPOCH + (time_t)(seconds & 0x0fffffffu);
	out->tv_nsec = (long)(nanos % 1000000000u);
}

void canon_synthetic_attr(const struct canon_rules *rules, uint64_t ino,
			  mode_t mode, struct stat *out)
{
	memset(out, 0, sizeof(*out));
	out->st_ino = ino;
	out->st_mode = mode;
	out->st_nlink = 1;
	out->st_uid = rules->uid;
	out->st_gid = rules->gid;
	out->st_blksize = 4096;
	canon_times(rules, NULL, out);
}
