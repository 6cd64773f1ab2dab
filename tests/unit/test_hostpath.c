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

/* hostpath_each_place visitor: the places, joined by '|', into arg; stops
 * (returns 7) at a place ending in "/stop". */
static int collect_place(const char *place, void *arg)
{
	char *seen = arg;
	size_t n = strlen(seen);

	snprintf(seen + n, PATH_MAX - n, "%s%s", n ? "|" : "", place);
	n = strlen(place);
	return n >= 5 && strcmp(place + n - 5, "/stop") == 0 ? 7 : 0;
}

static void test_each_place(void)
{
	char seen[PATH_MAX], path[PATH_MAX], run[PATH_MAX],
		search[3 * PATH_MAX + 8];
	const char *saved = getenv("PATH");
	char *old = saved ? strdup(saved) : NULL;

	/* In PATH's order; empty entries and those under the skipped
	 * directory passed over (its own prefix elsewhere is not under it). */
	setenv("PATH", "/a::/mnt/x/bin:/mnt/xy:/b/", 1);
	seen[0] = '\0';
	CHECK(hostpath_each_place("cc", "/mnt/x", collect_place, seen) == 0);
	CHECK_STR(seen, "/a/cc|/mnt/xy/cc|/b//cc");
	seen[0] = '\0';
	CHECK(hostpath_each_place("cc", NULL, collect_place, seen) == 0);
	CHECK_STR(seen, "/a/cc|/mnt/x/bin/cc|/mnt/xy/cc|/b//cc");

	/* A name with a slash is the one place, whatever PATH says. */
	seen[0] = '\0';
	CHECK(hostpath_each_place("./tool", "/mnt/x", collect_place, seen) ==
	      0);
	CHECK_STR(seen, "./tool");

	/* The visitor's first non-zero return ends the walk. */
	setenv("PATH", "/a:/stop:/b", 1);
	seen[0] = '\0';
	CHECK(hostpath_each_place("x", NULL, collect_place, seen) == 0);
	CHECK_STR(seen, "/a/x|/stop/x|/b/x");
	setenv("PATH", "/a:/b", 1);
	seen[0] = '\0';
	CHECK(hostpath_each_place("stop", NULL, collect_place, seen) == 7);
	CHECK_STR(seen, "/a/stop");

	/* Finding a command: the first place that can be run. */
	CHECK(close(creat(at(path, "tool"), 0644)) == 0);
	CHECK(mkdir(at(path, "bin"), 0755) == 0);
	CHECK(close(creat(at(path, "bin/tool"), 0755)) == 0);
	snprintf(search, sizeof(search), "%s:%s:%s/bin", at(run, "none"), root,
		 root);
	setenv("PATH", search, 1);
	CHECK(hostpath_find_command("tool", NULL, run, sizeof(run)));
	CHECK_STR(run, at(path, "bin/tool"));
	CHECK(!hostpath_find_command("tool", at(path, "bin"), run,
				     sizeof(run)));
	CHECK(!hostpath_find_command("missing", NULL, run, sizeof(run)));

	if (old) {
		setenv("PATH", old, 1);
		free(old);
	} else {
		unsetenv("PATH");
	}
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
	test_each_place();
	rc = check_summary("hostpath");
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", root);
	return rc;
}
