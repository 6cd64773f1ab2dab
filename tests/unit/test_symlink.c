/* Unit tests: canonical symlink targets (fs/symlink.c). */
#include "canonfs/symlink.h"
#include "check.h"

#include <errno.h>
#include <limits.h>

/* Two mirrors: SRCDIR reached through a symlinked /home, and tools. */
static const struct symlink_mirror mirrors[] = {
	{"/src", "/data/alice/proj", 0},
	{"/extra/tools", "/opt/tools", 1},
	{"/src", "/home/alice/proj", 0},
};
#define N_MIRRORS (sizeof(mirrors) / sizeof(mirrors[0]))

static const char *view(const char *target, const char *link_dir)
{
	static char out[PATH_MAX];

	if (symlink_to_view(target, link_dir, mirrors, N_MIRRORS, out,
			    sizeof(out)))
		return "<error>";
	return out;
}

static const char *host(const char *target, const char *link_dir,
			unsigned mirror)
{
	static char out[PATH_MAX];

	if (symlink_to_host(target, link_dir, mirror, "/mnt/build", mirrors,
			    N_MIRRORS, out, sizeof(out)))
		return "<error>";
	return out;
}

int main(void)
{
	char guard[2] = {'x', 'x'};

	CHECK(symlink_to_view("/data/alice/proj/b/f", "/src/a", mirrors,
			      N_MIRRORS, guard, 0) == ENAMETOOLONG);
	CHECK(guard[0] == 'x');

	/* A relative target that climbs out of its mirror into another one
	 * (/opt/tools is beside /opt/lib...; here: from the tools mirror to
	 * SRCDIR's host path) is shown as the way there through the mount;
	 * one that lands outside every mirror stays as it is. */
	CHECK_STR(view("../../data/alice/proj/b/f", "/extra/tools"),
		  "../../src/b/f");
	CHECK_STR(view("../../../data/alice/proj", "/extra/tools/bin"),
		  "../../../src");
	CHECK_STR(view("../../etc/passwd", "/extra/tools"), "../../etc/passwd");
	CHECK_STR(view("../x", "/src/a"), "../x");
	CHECK_STR(view("../../../up", "/src/a"), "../../../up");

	/* Absolute targets inside a mirror become relative virtual paths. */
	CHECK_STR(view("/data/alice/proj/b/f", "/src/a"), "../b/f");
	CHECK_STR(view("/home/alice/proj/b/f", "/src/a"), "../b/f");
	CHECK_STR(view("/data/alice/proj", "/src/a"), "..");
	CHECK_STR(view("/data/alice/proj//b/./f", "/src"), "b/f");
	CHECK_STR(view("/opt/tools/bin/go", "/src/a"),
		  "../../extra/tools/bin/go");
	/* Their ".." stay, as in relative targets: "sl/.." is the parent of
	 * sl's target when sl is a symlink. Only the part before the first
	 * ".." is placed; the rest follows. */
	CHECK_STR(view("/data/alice/proj/a/sl/../f", "/src/a"), "sl/../f");
	CHECK_STR(view("/data/alice/proj/a/sl/../f", "/src/b"), "../a/sl/../f");
	CHECK_STR(view("/data/alice/proj/a/../f", "/src/a"), "../f");
	CHECK_STR(view("/data/alice/proj/./a/x/../../f", "/src"),
		  "a/x/../../f");
	CHECK_STR(view("/opt/tools/bin/../lib/x", "/src"),
		  "../extra/tools/bin/../lib/x");
	/* ".." that climb above the mirror's root undo the mirror's own host
	 * path, which has no symlink in it: cleaned, as before. */
	CHECK_STR(view("/data/alice/proj/../proj/b", "/src/a"), "../b");
	CHECK_STR(view("/data/alice/proj/a/../../proj/f", "/src"), "f");
	CHECK_STR(view("/data/alice/x/../proj/f", "/src"), "f");
	CHECK_STR(view("/data/alice/proj/../other", "/src"),
		  "/data/alice/proj/../other");
	/* A trailing "/" asks for a directory: it stays ("f/" fails). */
	CHECK_STR(view("/data/alice/proj/b/f/", "/src/a"), "../b/f/");
	CHECK_STR(view("/data/alice/proj/b/.", "/src/a"), "../b/");
	CHECK_STR(view("/data/alice/proj/a/", "/src/a"), ".");
	CHECK_STR(view("/data/alice/proj/", "/src/a/b"), "../..");
	CHECK_STR(view("/data/alice/proj/a/sl/../", "/src/a"), "sl/..");
	/* The longest host root wins. */
	CHECK_STR(view("/opt/tools/x", "/extra/tools"), "x");
	/* Escaping targets are shown untouched, even when messy. */
	CHECK_STR(view("/etc/hostname", "/src"), "/etc/hostname");
	CHECK_STR(view("/etc//hostname", "/src"), "/etc//hostname");
	CHECK_STR(view("/data/alice/projx/f", "/src"), "/data/alice/projx/f");
	/* Relative targets lose "." and empty components; ".." stays, since
	 * what it undoes may be a symlink ("sl/../f" is not "f"). */
	CHECK_STR(view("./dir//../dir/file", "/src"), "dir/../dir/file");
	CHECK_STR(view("sl/../f", "/src"), "sl/../f");
	CHECK_STR(view("../../outside", "/src/a"), "../../outside");
	CHECK_STR(view("./", "/src"), ".");
	CHECK_STR(view("a/./b//c", "/src"), "a/b/c");
	/* A trailing "/" or "." asks for a directory, and stays a "/". */
	CHECK_STR(view("f/", "/src"), "f/");
	CHECK_STR(view("a/.", "/src"), "a/");
	CHECK_STR(view("a//", "/src"), "a/");
	CHECK_STR(view("a/..", "/src"), "a/..");
	CHECK_STR(view("../", "/src/a"), "..");
	CHECK_STR(view("x.", "/src"), "x.");
	CHECK_STR(view("a/", "/src"), "a/");

	/* Creating links through the mount. */
	CHECK_STR(host("/mnt/build/src/b/f", "/src/a", 0), "../b/f");
	CHECK_STR(host("/mnt/build/extra/tools/bin", "/src/a", 0),
		  "/opt/tools/bin");
	CHECK_STR(host("../b/f", "/src/a", 0), "../b/f");
	CHECK_STR(host("../../extra/tools/x", "/src/a", 0), "/opt/tools/x");
	CHECK_STR(host("/usr/bin/env", "/src", 0), "/usr/bin/env");
	/* Absolute ones keep their ".." as the view shows them: the part
	 * before the first is placed, the rest follows. */
	CHECK_STR(host("/mnt/build/src/a/sl/../f", "/src/a", 0), "sl/../f");
	CHECK_STR(host("/mnt/build/extra/tools/bin/../lib", "/src", 0),
		  "/opt/tools/bin/../lib");
	CHECK_STR(host("/mnt/build/src/b/", "/src/a", 0), "../b/");
	CHECK_STR(host("/mnt/build/src/a/", "/src/a", 0), ".");
	/* ".." above the mirror's root undo the mount's own path: cleaned. */
	CHECK_STR(host("/mnt/build/src/../extra/tools/x", "/src", 0),
		  "/opt/tools/x");
	/* Relative targets that climb out of the mirror and back in: above
	 * the mirror the host differs (found by fuzz_symlink). */
	CHECK_STR(host("../src/b", "/src", 0), "b");
	CHECK_STR(host("../../src/b/f", "/src/a", 0), "../b/f");
	CHECK_STR(host("../../extra/../src/b", "/src/a", 0), "../b");
	CHECK_STR(host("a/../b", "/src", 0), "a/../b");
	{
		/* The longest target Linux takes: stored as given. */
		static char longest[4096];

		memset(longest, 'x', 4095);
		longest[4095] = '\0';
		CHECK_STR(host(longest, "/src/a", 0), longest);
	}
	/* A synthetic place has no host twin: stored as given. */
	CHECK_STR(host("/mnt/build/extra", "/src", 0), "/mnt/build/extra");
	CHECK_STR(host("/mnt/buildx/src/f", "/src", 0), "/mnt/buildx/src/f");
	return check_summary("symlink");
}
