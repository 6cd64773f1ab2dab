/*
 * sysinc: the system include directories mirrored under MOUNTPOINT/sys.
 *
 * By default they are the C compiler's own search list, read from
 * `$CC -E -Wp,-v -x c /dev/null` (and `-x c++` for the C++ list), each
 * shown at a fixed name that says what it holds rather than where the
 * host keeps it:
 *
 *   cc            the compiler's private headers (stddef.h, stdint.h, ...):
 *                 .../gcc/TRIPLET/VERSION/include, .../clang/VERSION/include
 *   cc-fixed      gcc's include-fixed
 *   c++           the C++ library (/usr/include/c++/12)
 *   c++-target    its target-specific part (/usr/include/TRIPLET/c++/12)
 *   c++-backward  its backward/ headers
 *   local         /usr/local/include (local-target: its TRIPLET/)
 *   target        the target's C headers (/usr/include/TRIPLET)
 *   usr           /usr/include
 * (the last three also below a sysroot: /opt/sysroot/usr/include is usr)
 *   dirN          anything else, N its position in the search list
 *
 * `-o sys=NAME:DIR` replaces the directory of that name or adds one;
 * `-o sys=none` drops every discovered directory. The order of each list
 * is the compiler's search order, which `canonfs env` turns into -isystem
 * flags (#include_next depends on it).
 */
#ifndef CANONFS_SYSINC_H
#define CANONFS_SYSINC_H

#include <stdbool.h>
#include <stddef.h>

/* Which languages search a directory. */
enum {
	SYSINC_C = 1,
	SYSINC_CXX = 2,
};

struct sysinc_dir {
	char *name;	  /* "cc", "usr", ... (owned) */
	char *host_dir;	  /* as the compiler or the user gave it (owned) */
	unsigned langs;	  /* SYSINC_C | SYSINC_CXX */
	unsigned c_pos;	  /* position in the C search list */
	unsigned cxx_pos; /* position in the C++ search list */
	bool given;	  /* from -o sys=NAME:DIR, not discovered */
};

struct sysinc_list {
	struct sysinc_dir *dirs; /* owned */
	size_t n;
	char *compiler;	      /* the compiler asked (owned), NULL when none */
	bool compiler_chosen; /* -o cc= given: `canonfs env` exports CC */
};

/* One `-o sys=` value as the options keep it. */
struct sysinc_spec {
	char *name; /* NULL for "none" */
	char *host_dir;
};

/*
 * The directories of the "#include <...> search starts here:" block of a
 * compiler's -v output, in order, lexically cleaned. Returns the number
 * found (at most max), each a malloc'd string in dirs.
 */
size_t sysinc_parse_search_list(const char *output, char **dirs, size_t max);

/* The fixed name for a directory of the search list (see above) into out;
 * pos is its position, for the dirN fallback. */
void sysinc_name_for(const char *dir, unsigned pos, char *out, size_t out_size);

/* Is name usable under MOUNTPOINT/sys: one component of [A-Za-z0-9._+-],
 * not "." or "..". */
bool sysinc_valid_name(const char *name);

/*
 * Build the list: discover compiler's search lists (compiler NULL: $CC,
 * else gcc; chosen says whether the user named it), then apply the specs
 * in order. A discovery failure is an error only for a chosen compiler.
 * Returns 0, or -1 with one line in err.
 */
int sysinc_build(struct sysinc_list *list, const char *compiler, bool chosen,
		 const struct sysinc_spec *specs, size_t n_specs, char *err,
		 size_t err_size);

void sysinc_free(struct sysinc_list *list);

/*
 * -o sysroot=ROOT: every discovered directory D is mirrored from ROOT/D
 * instead (a sysroot of the native layout, or another machine's copy of
 * the compiler's include directories); the names under MOUNTPOINT/sys stay
 * the same, and directories given with -o sys=NAME:DIR are left as given.
 * Returns 0, or -1 with one line in err when ROOT lacks one of them.
 */
int sysinc_reroot(struct sysinc_list *list, const char *root, char *err,
		  size_t err_size);

/* The name of the C++ partner of C compiler cc (gcc -> g++, clang ->
 * clang++, cc -> c++) into out: 0, or ENOENT when it has none. */
int sysinc_cxx_name(const char *cc, char *out, size_t out_size);

/* sysinc_cxx_name, and ENOENT too when that partner cannot be run. */
int sysinc_cxx_of(const char *cc, char *out, size_t out_size);

/* The directory after prev (NULL: the first) in lang's search order, or
 * NULL after the last. */
const struct sysinc_dir *sysinc_next(const struct sysinc_list *sys,
				     unsigned lang,
				     const struct sysinc_dir *prev);

/* Whether any directory is searched for lang. */
bool sysinc_has_lang(const struct sysinc_list *sys, unsigned lang);

#endif
