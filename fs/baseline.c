/*
 * baseline: when a mirrored tree was first seen here (see
 * include/canonfs/baseline.h).
 */
#include "canonfs/baseline.h"

#include "canonfs/canon.h"
#include "canonfs/digests.h"
#include "canonfs/hostpath.h"
#include "canonfs/path.h"

#include <openssl/evp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NS ((int64_t)1000000000)

static int write_state(const char *path, int64_t since_ns,
		       const char *host_root);

static int64_t coarse_now_ns(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME_COARSE, &now);
	return canon_ns_of(&now);
}

bool baseline_ctime_is_change(int64_t since_ns, const struct timespec *ctime)
{
	int64_t c = canon_ns_of(ctime);

	/* A whole-second stamp stands for any moment of the (up to two)
	 * seconds after it, the baseline's among them. */
	if (ctime->tv_nsec == 0)
		return c > since_ns - BASELINE_COARSE_NS;
	return c >= since_ns;
}

void baseline_move_back(struct baseline *b, int64_t ns)
{
	/* 1, not 0: 0 is read back as a clock that went back. Kept: the
	 * next mount must not move forward again. */
	if (ns < b->since_ns) {
		b->since_ns = ns > 0 ? ns : 1;
		b->to_keep = true;
	}
}

void baseline_distrust(struct baseline *b)
{
	b->since_ns = 0;
	b->to_keep = false;
}

bool baseline_changed(struct baseline *b, const struct stat *st)
{
	int64_t since = __atomic_load_n(&b->since_ns, __ATOMIC_RELAXED);

	/* The clock went back during the mount: ctimes can no longer tell
	 * (a second of slack: the coarse clock may lag the fine one). */
	if (since > 0 && coarse_now_ns() < since - NS &&
	    __atomic_exchange_n(&b->since_ns, 0, __ATOMIC_RELAXED)) {
		/* Kept, so that the next mount does not trust it either. */
		if (b->state_path)
			write_state(b->state_path, 0, b->host_root);
		since = 0;
	}
	return since == 0 || baseline_ctime_is_change(since, &st->st_ctim);
}

int baseline_default_dir(char *out, size_t out_size)
{
	char digests[PATH_MAX], dir[PATH_MAX];

	/* Beside the digest cache: the same cache directory. */
	if (digests_default_path(digests, sizeof(digests)) ||
	    path_dirname(digests, dir, sizeof(dir)))
		return -1;
	return (size_t)snprintf(out, out_size, "%s/%s", dir, BASELINE_DIR) <
			       out_size
		       ? 0
		       : -1;
}

int baseline_parse_arg(const char *arg, bool *now, int64_t *seconds)
{
	char *end;
	long long value;

	*now = strcmp(arg, "now") == 0;
	if (*now)
		return 0;
	if (arg[0] < '0' || arg[0] > '9')
		return EINVAL;
	errno = 0;
	value = strtoll(arg, &end, 10);
	if (errno || *end || value <= 0 || value > INT64_MAX / NS)
		return EINVAL;
	*seconds = value;
	return 0;
}

/* The file name of a tree's baseline: what makes the tree this one. A
 * directory removed and made again (a fresh clone at the same path) has
 * another birth time, and mostly another inode number. */
static int state_name(const char *host_root, char *out, size_t out_size)
{
	unsigned char digest[32];
	struct statx stx;
	char identity[PATH_MAX + 96];
	int len;

	if (statx(AT_FDCWD, host_root, 0, STATX_INO | STATX_BTIME, &stx))
		return errno;
	len = snprintf(
		identity, sizeof(identity), "%s\n%u:%u %llu %lld.%u", host_root,
		stx.stx_dev_major, stx.stx_dev_minor,
		(unsigned long long)stx.stx_ino,
		(stx.stx_mask & STATX_BTIME) ? (long long)stx.stx_btime.tv_sec
					     : 0LL,
		(stx.stx_mask & STATX_BTIME) ? stx.stx_btime.tv_nsec : 0u);
	if (len < 0 || (size_t)len >= sizeof(identity) ||
	    !EVP_Digest(identity, (size_t)len, digest, NULL, EVP_sha256(),
			NULL))
		return ENAMETOOLONG;
	if (out_size < 33)
		return ENAMETOOLONG;
	for (int i = 0; i < 16; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
	return 0;
}

/* The stored baseline: 0 and since_ns, ENOENT, or EINVAL (not ours). */
static int read_state(const char *path, int64_t *since_ns)
{
	char text[64 + sizeof(BASELINE_MAGIC)];
	long long seconds;
	long nanos;
	size_t len;
	FILE *f = fopen(path, "re");

	if (!f)
		return errno;
	len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[len] = '\0';
	if (strncmp(text, BASELINE_MAGIC, strlen(BASELINE_MAGIC)) != 0 ||
	    sscanf(text + strlen(BASELINE_MAGIC), "%lld.%ld", &seconds,
		   &nanos) != 2 ||
	    seconds < 0 || seconds > INT64_MAX / NS - 1 || nanos < 0 ||
	    nanos >= NS)
		return EINVAL;
	*since_ns = seconds * NS + nanos;
	return 0;
}

/* Write the baseline (temporary file + rename: never half a file). */
static int write_state(const char *path, int64_t since_ns,
		       const char *host_root)
{
	char temp[PATH_MAX];
	FILE *f;

	if (!(f = hostpath_create_temp(path, temp, sizeof(temp))))
		return errno ? errno : EIO;
	fprintf(f, "%s%" PRId64 ".%09" PRId64 "\n%s\n", BASELINE_MAGIC,
		since_ns / NS, since_ns % NS, host_root);
	return hostpath_commit(f, temp, path);
}

static void say_time(int64_t since_ns, char *out, size_t out_size)
{
	time_t t = (time_t)(since_ns / NS);
	struct tm tm;

	if (!gmtime_r(&t, &tm) ||
	    !strftime(out, out_size, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(out, out_size, "%" PRId64, since_ns / NS);
}

/* The stored baseline, or a new one. Sets warn for a future one. */
static int64_t stored_or_new(struct baseline *b, const char *host_root,
			     char *warn, size_t warn_size)
{
	int64_t since_ns = 0, now = coarse_now_ns();
	char when[64];

	if (!b->state_path || read_state(b->state_path, &since_ns)) {
		b->created = true;
		return now;
	}
	if (since_ns > now + NS) {
		say_time(since_ns, when, sizeof(when));
		snprintf(warn, warn_size,
			 "the baseline of %s (%s) is in the future: the clock "
			 "went back, so host ctimes cannot tell changes from "
			 "the checkout; every entry shows its host times (on a "
			 "clean checkout, -o baseline=now starts a new "
			 "baseline)",
			 host_root, when);
		return 0;
	}
	return since_ns;
}

int baseline_open(struct baseline *b, const char *host_root,
		  const char *state_dir, const char *arg, char *err,
		  size_t err_size, char *warn, size_t warn_size)
{
	char dir[PATH_MAX], name[40], path[PATH_MAX + 48];
	int64_t seconds = 0;
	bool now = false;

	memset(b, 0, sizeof(*b));
	warn[0] = '\0';
	if (!(b->host_root = strdup(host_root))) {
		snprintf(err, err_size, "out of memory");
		return ENOMEM;
	}
	if (arg && baseline_parse_arg(arg, &now, &seconds)) {
		snprintf(err, err_size,
			 "-o baseline=%s: expected now or seconds since 1970 "
			 "(e.g. -o baseline=$(date +%%s))",
			 arg);
		return EINVAL;
	}
	if (seconds && seconds * NS > coarse_now_ns() + NS) {
		snprintf(err, err_size,
			 "-o baseline=%s is in the future (the baseline must "
			 "be a moment that has passed; -o baseline=now starts "
			 "one now)",
			 arg);
		return EINVAL;
	}
	if (state_dir)
		snprintf(dir, sizeof(dir), "%s", state_dir);
	if ((state_dir || baseline_default_dir(dir, sizeof(dir)) == 0) &&
	    state_name(host_root, name, sizeof(name)) == 0) {
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		b->state_path = strdup(path);
	}
	if (seconds)
		b->since_ns = seconds * NS;
	else if (now)
		b->since_ns = coarse_now_ns();
	else
		b->since_ns = stored_or_new(b, host_root, warn, warn_size);
	b->to_keep = b->created || arg || !b->since_ns;
	return 0;
}

/* The host path a baseline file names (its third line), or "". */
static void named_tree(int dir_fd, const char *name, char *out, size_t size)
{
	char text[PATH_MAX + 128], *line;
	int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	ssize_t len = fd >= 0 ? read(fd, text, sizeof(text) - 1) : -1;

	out[0] = '\0';
	if (fd >= 0)
		close(fd);
	if (len <= 0)
		return;
	text[len] = '\0';
	if (strncmp(text, BASELINE_MAGIC, strlen(BASELINE_MAGIC)) != 0 ||
	    !(line = strchr(text + strlen(BASELINE_MAGIC), '\n')))
		return;
	line[strcspn(line + 1, "\n") + 1] = '\0';
	snprintf(out, size, "%s", line + 1);
}

/*
 * Remove the baselines of trees that are gone (a CI workspace, a test's
 * temporary clone), so that the directory does not grow for ever: done
 * when a new baseline is made, which is when a new tree appeared. A tree
 * that comes back at the same path gets a new baseline anyway (another
 * birth time). Only files of our format are touched.
 */
static void forget_gone_trees(const char *dir)
{
	char tree[PATH_MAX];
	struct dirent *entry;
	struct stat st;
	DIR *d = opendir(dir);

	if (!d)
		return;
	while ((entry = readdir(d))) {
		if (entry->d_name[0] == '.')
			continue;
		named_tree(dirfd(d), entry->d_name, tree, sizeof(tree));
		if (tree[0] == '/' && stat(tree, &st) && errno == ENOENT)
			unlinkat(dirfd(d), entry->d_name, 0);
	}
	closedir(d);
}

int baseline_keep(struct baseline *b)
{
	char dir[PATH_MAX];
	int err;

	if (!b->to_keep)
		return 0;
	if (!b->state_path)
		return ENOENT;
	/* The directory is made as XDG caches are. */
	if (path_dirname(b->state_path, dir, sizeof(dir)) == 0) {
		if ((err = hostpath_make_dirs(dir, NULL)))
			return err;
		if (b->created)
			forget_gone_trees(dir);
	}
	if ((err = write_state(b->state_path, b->since_ns, b->host_root)))
		return err;
	b->to_keep = false;
	return 0;
}

void baseline_close(struct baseline *b)
{
	free(b->state_path);
	free(b->host_root);
	b->state_path = NULL;
	b->host_root = NULL;
}
