/*
 * Unit tests: taking back what canonfs env exported (fs/envundo.c), as
 * `canonfs env --unset` does, from the environment alone.
 */
#include "canonfs/envundo.h"
#include "check.h"

#include <errno.h>
#include <stdlib.h>

#define MNT "/build"
#define CFLAGS "-g -O2 -nostdinc -isystem /build/sys/cc -isystem /build/sys/usr"

/* The environment the lookup reads: NAME=VALUE strings, NULL-ended. */
static const char *const *environment;

static const char *lookup(const char *name)
{
	size_t len = strlen(name);

	for (const char *const *e = environment; *e; e++)
		if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
			return *e + len + 1;
	return NULL;
}

/* What undoes name as a string: "<keep>", "<unset>", the new value, or
 * "<nomem>". The last value is freed on the next call. */
static const char *undo(const char *name)
{
	static char *last;

	free(last);
	last = NULL;
	switch (envundo_value(name, lookup, MNT, &last)) {
	case ENVUNDO_KEEP:
		return "<keep>";
	case ENVUNDO_UNSET:
		return "<unset>";
	case ENVUNDO_SET:
		return last;
	case ENVUNDO_NOMEM:
		break;
	}
	return "<nomem>";
}

static void test_paths(void)
{
	static const char *const env[] = {
		"GOROOT=/build/goroot",
		"GOMODCACHE=/home/me/go/pkg/mod",
		"CC='/build/.canonfs/bin/cc'",
		"CXX=/usr/bin/g++",
		"PATH=/build/goroot/bin:/build/.canonfs/bin:/usr/bin:/bin",
		"GOPATH=/build/gopath:/home/me/other",
		NULL};

	environment = env;
	CHECK_STR(undo("GOROOT"), "<unset>");
	/* Not the mount's: the user's own, kept. */
	CHECK_STR(undo("GOMODCACHE"), "<keep>");
	/* Quoted as canonfs env quotes a mountpoint with blanks. */
	CHECK_STR(undo("CC"), "<unset>");
	CHECK_STR(undo("CXX"), "<keep>");
	CHECK_STR(undo("PATH"), "/usr/bin:/bin");
	CHECK_STR(undo("GOPATH"), "/home/me/other");
	/* A name that only starts like the mountpoint is not in it. */
	environment = (const char *const[]){"GOROOT=/buildx/goroot",
					    "PATH=/buildx/bin:/bin", NULL};
	CHECK_STR(undo("GOROOT"), "<keep>");
	CHECK_STR(undo("PATH"), "<keep>");
	environment = (const char *const[]){"GOPATH=/build/gopath", NULL};
	CHECK_STR(undo("GOPATH"), "<unset>");
	CHECK_STR(undo("TZ"), "<keep>"); /* not set at all */
}

static void test_cgo_flags(void)
{
	environment = (const char *const[]){
		"CGO_CFLAGS=" CFLAGS " -I/opt/dep/include",
		"CGO_CXXFLAGS=-g -O2 -nostdinc -nostdinc++ -isystem /build/sys/c++",
		"CGO_CPPFLAGS=-DCANONFS_SYSHEADERS=abc -DX=1", NULL};
	/* What the user added after the mount's flags stays. */
	CHECK_STR(undo("CGO_CFLAGS"), "-I/opt/dep/include");
	CHECK_STR(undo("CGO_CXXFLAGS"), "<unset>");
	CHECK_STR(undo("CGO_CPPFLAGS"), "-DX=1");
	/* Flags of the user's own, without the mount's: left alone, -g -O2
	 * included. */
	environment = (const char *const[]){"CGO_CFLAGS=-g -O2 -Wall",
					    "CGO_CPPFLAGS=-I/x", NULL};
	CHECK_STR(undo("CGO_CFLAGS"), "<keep>");
	CHECK_STR(undo("CGO_CPPFLAGS"), "<keep>");
}

/* The settings with no path in them: what undoes name=value, with
 * CANONFS_MTIME=mtime (NULL: unset) and GOROOT=goroot. */
static const struct {
	const char *mtime, *goroot, *var, *want;
} settings[] = {
	/* Without CANONFS_MTIME nobody evaluated canonfs env: TZ=UTC and
	 * the rest are the user's. */
	{NULL, "/build/goroot", "TZ=UTC", "<keep>"},
	{NULL, "/build/goroot", "GOTOOLCHAIN=local", "<keep>"},
	/* Under mtime=zero each of them is the mount's. */
	{"zero", "/build/goroot", "CANONFS_MTIME=zero", "<unset>"},
	{"zero", "/build/goroot", "TZ=UTC", "<unset>"},
	{"zero", "/build/goroot", "GOTOOLCHAIN=local", "<unset>"},
	{"zero", "/build/goroot", "GODEBUG=http2debug=1,goindex=0",
	 "http2debug=1"},
	{"zero", "/build/goroot", "GOFLAGS=-buildvcs=false -mod=mod",
	 "-mod=mod"},
	/* The baseline mode sets neither GODEBUG nor GOFLAGS; a TZ other
	 * than UTC and a toolchain outside the mount are the user's. */
	{"baseline", "/build/goroot", "TZ=Europe/Paris", "<keep>"},
	{"baseline", "/build/goroot", "GODEBUG=goindex=0", "<keep>"},
	{"baseline", "/build/goroot", "GOFLAGS=-buildvcs=false", "<keep>"},
	{"baseline", "/usr/lib/go", "GOTOOLCHAIN=local", "<keep>"},
	/* A fixed epoch sets GODEBUG alone. */
	{"1700000000", "/build/goroot", "GODEBUG=goindex=0", "<unset>"},
	{"1700000000", "/build/goroot", "GOFLAGS=-buildvcs=false", "<keep>"},
};

static void test_settings(void)
{
	for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
		char mtime[64], goroot[64], name[64];
		const char *env[] = {settings[i].var, goroot,
				     settings[i].mtime ? mtime : NULL, NULL};

		snprintf(mtime, sizeof(mtime), "CANONFS_MTIME=%s",
			 settings[i].mtime ? settings[i].mtime : "");
		snprintf(goroot, sizeof(goroot), "GOROOT=%s",
			 settings[i].goroot);
		snprintf(name, sizeof(name), "%.*s",
			 (int)strcspn(settings[i].var, "="), settings[i].var);
		environment = env;
		CHECK_STR(undo(name), settings[i].want);
	}
}

static void test_find_mount(void)
{
	char mnt[4096];

	environment = (const char *const[]){
		"PATH=/b/goroot/bin:/b/.canonfs/bin:/usr/bin",
		"GOROOT=/b/goroot", "CC=/b/.canonfs/bin/cc", NULL};
	CHECK(envundo_find_mount(lookup, mnt, sizeof(mnt)) == 0);
	CHECK_STR(mnt, "/b");
	/* Quoted, with a blank. */
	environment = (const char *const[]){"CC='/my b/.canonfs/bin/cc'", NULL};
	CHECK(envundo_find_mount(lookup, mnt, sizeof(mnt)) == 0);
	CHECK_STR(mnt, "/my b");
	/* A GOROOT of the user's called goroot is no mount, unless canonfs
	 * env was evaluated. */
	environment = (const char *const[]){
		"GOROOT=/opt/goroot", "PATH=/opt/goroot/bin:/usr/bin", NULL};
	CHECK(envundo_find_mount(lookup, mnt, sizeof(mnt)) == ENOENT);
	environment = (const char *const[]){"GOROOT=/b/goroot",
					    "PATH=/b/goroot/bin:/usr/bin",
					    "CANONFS_MTIME=baseline", NULL};
	CHECK(envundo_find_mount(lookup, mnt, sizeof(mnt)) == 0);
	CHECK_STR(mnt, "/b");
	/* The caches count once canonfs env was evaluated. */
	environment = (const char *const[]){"GOMODCACHE=/c/gomodcache", NULL};
	CHECK(envundo_find_mount(lookup, mnt, sizeof(mnt)) == ENOENT);
	environment = (const char *const[]){"GOMODCACHE=/c/gomodcache",
					    "CANONFS_MTIME=baseline", NULL};
	CHECK(envundo_find_mount(lookup, mnt, sizeof(mnt)) == 0);
	CHECK_STR(mnt, "/c");
	/* Two mounts: which one is for the user to say. */
	environment = (const char *const[]){
		"PATH=/a/.canonfs/bin:/b/.canonfs/bin", NULL};
	CHECK(envundo_find_mount(lookup, mnt, sizeof(mnt)) == EEXIST);
	CHECK_STR(mnt, "/a' and '/b");
}

int main(void)
{
	test_paths();
	test_cgo_flags();
	test_settings();
	test_find_mount();
	environment = (const char *const[]){NULL};
	undo("TZ"); /* frees the last result */
	return check_summary("envundo");
}
