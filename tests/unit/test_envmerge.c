/*
 * Unit tests: a mount's Go environment merged with the caller's
 * (fs/envmerge.c), as `canonfs run` and `canonfs env` do it.
 */
#include "canonfs/envmerge.h"
#include "check.h"

#include <errno.h>
#include <stdlib.h>

#define MNT "/build"
#define CFLAGS "-g -O2 -nostdinc -isystem /build/sys/cc -isystem /build/sys/usr"

/* The merged value as a string: "<NULL>" for none (the mount's value
 * replaces the caller's), "<ENOMEM>" for a failure. Leaks nothing: the
 * last result is freed on the next call. */
static const char *merged(const char *name, const char *canonical,
			  const char *user, const char *mountpoint)
{
	static char *last;
	int rc;

	free(last);
	last = NULL;
	rc = envmerge_value(name, canonical, user, mountpoint, &last);
	if (rc)
		return rc == ENOMEM ? "<ENOMEM>" : "<error>";
	return last ? last : "<NULL>";
}

static void test_cgo_flags(void)
{
	/* The mount's flags, then the caller's. */
	CHECK_STR(merged("CGO_CFLAGS", CFLAGS, "-I/opt/dep/include -O0", MNT),
		  CFLAGS " -I/opt/dep/include -O0");
	CHECK_STR(merged("CGO_CXXFLAGS", "-g -O2 -nostdinc -nostdinc++",
			 "-std=c++17", MNT),
		  "-g -O2 -nostdinc -nostdinc++ -std=c++17");
	CHECK_STR(merged("CGO_CPPFLAGS", "-DCANONFS_SYSHEADERS=abc",
			 "-I/opt/dep/include", MNT),
		  "-DCANONFS_SYSHEADERS=abc -I/opt/dep/include");

	/* An eval'd canonfs env: the leading run of the mount's own flags,
	 * -isystem directories of an earlier list included, is not
	 * repeated; what the caller added after it is kept. */
	CHECK_STR(merged("CGO_CFLAGS", CFLAGS, CFLAGS, MNT), CFLAGS);
	CHECK_STR(merged("CGO_CFLAGS", CFLAGS,
			 "-g -O2 -nostdinc -isystem /build/sys/old -I/x", MNT),
		  CFLAGS " -I/x");
	/* Only at the start: an -isystem of the mount after the caller's
	 * own flags is the caller's, and kept. */
	CHECK_STR(merged("CGO_CFLAGS", CFLAGS, "-I/x -isystem /build/sys/cc",
			 MNT),
		  CFLAGS " -I/x -isystem /build/sys/cc");
	/* Another mount's directories are not this one's. */
	CHECK_STR(merged("CGO_CFLAGS", CFLAGS, "-isystem /other/sys/cc", MNT),
		  CFLAGS " -isystem /other/sys/cc");
	CHECK_STR(merged("CGO_CFLAGS", CFLAGS, "-isystem /build/sys/", MNT),
		  CFLAGS " -isystem /build/sys/");
	/* A mountpoint with a blank is quoted as canonfs env quotes it. */
	CHECK_STR(merged("CGO_CFLAGS",
			 "-g -O2 -nostdinc -isystem '/my build/sys/cc'",
			 "-nostdinc -isystem '/my build/sys/cc' -DX",
			 "/my build"),
		  "-g -O2 -nostdinc -isystem '/my build/sys/cc' -DX");
	CHECK_STR(merged("CGO_CFLAGS", "-g", "-isystem \"/my build/sys/cc\"",
			 "/my build"),
		  "-g");

	/* CGO_CPPFLAGS: the header define of an earlier mount goes, being
	 * the mount's now; -g and friends are the caller's there. */
	CHECK_STR(merged("CGO_CPPFLAGS", "-DCANONFS_SYSHEADERS=abc",
			 "-DCANONFS_SYSHEADERS=old -DFOO -g", MNT),
		  "-DCANONFS_SYSHEADERS=abc -DFOO -g");
	CHECK_STR(merged("CGO_CPPFLAGS", "-DCANONFS_SYSHEADERS=abc",
			 "-isystem /build/sys/cc", MNT),
		  "-DCANONFS_SYSHEADERS=abc -isystem /build/sys/cc");
	/* The define is dropped wherever it stands, also in C flags. */
	CHECK_STR(merged("CGO_CFLAGS", "-g", "-I/x -DCANONFS_SYSHEADERS=old",
			 MNT),
		  "-g -I/x");

	/* Blanks between the caller's flags become one space. */
	CHECK_STR(merged("CGO_CPPFLAGS", "-DA", "  -DB\t-DC  ", MNT),
		  "-DA -DB -DC");
	/* Only blanks: the mount's value, as a merged copy. */
	CHECK_STR(merged("CGO_CPPFLAGS", "-DA", " ", MNT), "-DA");
}

static void test_godebug(void)
{
	/* The caller's settings, then the mount's. */
	CHECK_STR(merged("GODEBUG", "goindex=0", "http2client=0", MNT),
		  "http2client=0,goindex=0");
	/* Each key once; on a clash the mount's wins (said on stderr: the
	 * one warning line in the output of this test). */
	CHECK_STR(
		merged("GODEBUG", "goindex=0", "http2client=0,goindex=1", MNT),
		"http2client=0,goindex=0");
	/* An eval'd canonfs env is not repeated. */
	CHECK_STR(merged("GODEBUG", "goindex=0", "goindex=0", MNT),
		  "goindex=0");
	CHECK_STR(merged("GODEBUG", "goindex=0", "goindex=0,x=1", MNT),
		  "x=1,goindex=0");
	/* Empty entries are dropped; a key is a whole key. */
	CHECK_STR(merged("GODEBUG", "goindex=0", "a=1,,b=2,", MNT),
		  "a=1,b=2,goindex=0");
	CHECK_STR(merged("GODEBUG", "goindex=0", "goindexx=1", MNT),
		  "goindexx=1,goindex=0");

	const char *list = "a=1,bb=2,b=3";

	CHECK(envmerge_godebug_find(list, "b", 1) == list + 9);
	CHECK(envmerge_godebug_find(list, "bb", 2) == list + 4);
	CHECK(envmerge_godebug_find(list, "a", 1) == list);
	CHECK(envmerge_godebug_find(list, "c", 1) == NULL);
	CHECK(envmerge_godebug_find("", "a", 1) == NULL);
}

static void test_goflags(void)
{
	/* The mount's flag, then the caller's. */
	CHECK_STR(merged("GOFLAGS", "-buildvcs=false", "-mod=vendor", MNT),
		  "-buildvcs=false -mod=vendor");
	/* A caller who sets -buildvcs gets theirs alone. */
	CHECK_STR(merged("GOFLAGS", "-buildvcs=false",
			 "-mod=vendor -buildvcs=true", MNT),
		  "-mod=vendor -buildvcs=true");
	CHECK_STR(merged("GOFLAGS", "-buildvcs=false", "--buildvcs=auto", MNT),
		  "--buildvcs=auto");
	CHECK_STR(merged("GOFLAGS", "-buildvcs=false", "-buildvcs", MNT),
		  "-buildvcs");
	/* An eval'd canonfs env is left as it was. */
	CHECK_STR(merged("GOFLAGS", "-buildvcs=false", "-buildvcs=false", MNT),
		  "-buildvcs=false");
}

static void test_path(void)
{
	/* The mount's toolchain first, then everything the caller had. */
	CHECK_STR(merged("PATH", "/build/goroot/bin", "/usr/local/bin:/usr/bin",
			 MNT),
		  "/build/goroot/bin:/usr/local/bin:/usr/bin");
	/* An eval'd canonfs env (the mount's already first) or the mount's
	 * directory anywhere in it: not repeated. */
	CHECK_STR(merged("PATH", "/build/goroot/bin",
			 "/build/goroot/bin:/usr/bin", MNT),
		  "/build/goroot/bin:/usr/bin");
	CHECK_STR(merged("PATH", "/build/goroot/bin",
			 "/usr/bin:/build/goroot/bin:/bin", MNT),
		  "/build/goroot/bin:/usr/bin:/bin");
	/* A prefix of the mount's directory is another directory. */
	CHECK_STR(merged("PATH", "/build/goroot/bin", "/build/goroot", MNT),
		  "/build/goroot/bin:/build/goroot");
	/* Empty entries (the current directory, to the shell) are kept. */
	CHECK_STR(merged("PATH", "/build/goroot/bin", "/usr/bin::/bin", MNT),
		  "/build/goroot/bin:/usr/bin::/bin");
	CHECK_STR(merged("PATH", "/build/goroot/bin", NULL, MNT), "<NULL>");
}

static void test_empty_and_other(void)
{
	/* No value of the caller's, or an empty one: the mount's alone. */
	CHECK_STR(merged("GODEBUG", "goindex=0", NULL, MNT), "<NULL>");
	CHECK_STR(merged("GODEBUG", "goindex=0", "", MNT), "<NULL>");
	CHECK_STR(merged("GOFLAGS", "-buildvcs=false", NULL, MNT), "<NULL>");
	CHECK_STR(merged("GOFLAGS", "-buildvcs=false", "", MNT), "<NULL>");
	CHECK_STR(merged("CGO_CFLAGS", CFLAGS, NULL, MNT), "<NULL>");
	CHECK_STR(merged("CGO_CPPFLAGS", "-DA", "", MNT), "<NULL>");
	/* Every other variable is the mount's, whatever the caller had. */
	CHECK_STR(merged("TZ", "UTC", "Europe/Paris", MNT), "<NULL>");
	CHECK_STR(merged("GOMODCACHE", "/build/gomodcache", "/root/go/pkg/mod",
			 MNT),
		  "<NULL>");
	CHECK_STR(merged("CC", "clang", "gcc", MNT), "<NULL>");
	CHECK_STR(merged("cgo_cflags", "-g", "-DX", MNT), "<NULL>");
}

static void test_fields(void)
{
	const char *s = "  -a\t'b c' \"d' e\" 'open";
	const char *field;
	size_t len;

	field = envmerge_next_field(&s, &len);
	CHECK(field && len == 2 && memcmp(field, "-a", 2) == 0);
	field = envmerge_next_field(&s, &len);
	CHECK(field && len == 5 && memcmp(field, "'b c'", 5) == 0);
	field = envmerge_next_field(&s, &len);
	CHECK(field && len == 6 && memcmp(field, "\"d' e\"", 6) == 0);
	/* An unclosed quote runs to the end. */
	field = envmerge_next_field(&s, &len);
	CHECK(field && len == 5 && memcmp(field, "'open", 5) == 0);
	CHECK(envmerge_next_field(&s, &len) == NULL);
	s = " \t\n";
	CHECK(envmerge_next_field(&s, &len) == NULL);
}

int main(void)
{
	test_cgo_flags();
	test_godebug();
	test_goflags();
	test_path();
	test_empty_and_other();
	test_fields();
	merged("TZ", "", NULL, MNT); /* frees the last result */
	return check_summary("envmerge");
}
