/* Unit tests: resolving and creating host directories (fs/hostpath.c). */
#include "canonfs/hostpath.h"
#include "check.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[] = "/tmp/canonfs-hostpath-XXXXXX";
static char real_root[PATH_MAX];

/* root/NAME, in out. */
static const char *at(char *out, const char *name)
{
	snprintf(out, PATH_MAX, "%s/%s", root, name);
	return out;
}

/* The resolution of root/NAME, minus the resolved root: "" when it fails
 * or leaves the root. */
static const char *resolved_tail(const char *name)
{
	static char out[PATH_MAX];
	char path[PATH_MAX];
	size_t n = strlen(real_root);

	if (hostpath_resolve(at(path, name), out, sizeof(out)) ||
	    strncmp(out, real_root, n) != 0)
		return "";
	return out + n;
}

static void test_resolve(void)
{
	char path[PATH_MAX], out[PATH_MAX];

	mkdir(at(path, "mnt"), 0755);
	mkdir(at(path, "a"), 0755);
	CHECK(symlink(at(out, "mnt"), at(path, "a/to-mnt")) == 0);
	CHECK(symlink("mnt", at(path, "rel")) == 0);

	/* Existing, missing tails, through symlinks, with "." and "//". */
	CHECK_STR(resolved_tail("mnt"), "/mnt");
	CHECK_STR(resolved_tail("mnt/x/y"), "/mnt/x/y");
	CHECK_STR(resolved_tail("a/to-mnt/gomodcache"), "/mnt/gomodcache");
	CHECK_STR(resolved_tail("a/to-mnt"), "/mnt");
	CHECK_STR(resolved_tail("rel/./x//y/"), "/mnt/x/y");
	CHECK_STR(resolved_tail("missing/a/b"), "/missing/a/b");
	/* ".." is lexical: it removes the symlink's name, not its target's. */
	CHECK_STR(resolved_tail("a/to-mnt/../b"), "/a/b");

	/* Relative paths are taken from the working directory. */
	CHECK(chdir(at(path, "a")) == 0);
	CHECK(hostpath_resolve("to-mnt/pkg/mod", out, sizeof(out)) == 0);
	CHECK_STR(out + strlen(real_root), "/mnt/pkg/mod");
	CHECK(chdir("/") == 0);

	CHECK(hostpath_resolve("/", out, sizeof(out)) == 0);
	CHECK_STR(out, "/");

	/* A file on the way is an error, not a missing directory. */
	CHECK(close(creat(at(path, "file"), 0644)) == 0);
	CHECK(hostpath_resolve(at(path, "file/x"), out, sizeof(out)) ==
	      ENOTDIR);
}

static void test_make_dirs(void)
{
	struct hostpath_made made;
	char path[PATH_MAX];
	struct stat st;

	CHECK(hostpath_make_dirs(at(path, "deep/er/still"), &made) == 0);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(made.first == strlen(at(path, "deep")));
	/* Again, over what exists: nothing changes, nothing fails, nothing
	 * is recorded as made. */
	CHECK(hostpath_make_dirs(at(path, "deep/er/still"), &made) == 0);
	CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(made.first == 0);
	CHECK(hostpath_make_dirs(at(path, "deep/er/"), NULL) == 0);
	CHECK(stat(at(path, "deep/er"), &st) == 0 && S_ISDIR(st.st_mode));

	/* Taking back removes what was made, innermost first, and only
	 * that: "deep" existed before. */
	CHECK(hostpath_make_dirs(at(path, "deep/new//er/still/"), &made) == 0);
	CHECK(stat(at(path, "deep/new/er/still"), &st) == 0);
	hostpath_unmake_dirs(&made);
	CHECK(stat(at(path, "deep/new"), &st) == -1 && errno == ENOENT);
	CHECK(stat(at(path, "deep/er/still"), &st) == 0);
	hostpath_unmake_dirs(&made); /* twice: nothing more */
	CHECK(stat(at(path, "deep"), &st) == 0);

	/* A file on the way: its errno, and nothing left made. */
	CHECK(close(creat(at(path, "plain"), 0644)) == 0);
	CHECK(hostpath_make_dirs(at(path, "plain/sub"), &made) == ENOTDIR);
	CHECK(made.first == 0);
}

int main(void)
{
	char cmd[PATH_MAX + 16];
	int rc;

	if (!mkdtemp(root) || !realpath(root, real_root)) {
		perror("mkdtemp");
		return 1;
	}
	test_resolve();
	test_make_dirs();
	rc = check_summary("hostpath");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return rc;
}
