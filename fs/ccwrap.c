/*
 * ccwrap: C and C++ compilers for plain builds inside a mount (see
 * include/canonfs/ccwrap.h).
 */
#include "canonfs/ccwrap.h"

#include "canonfs/hostpath.h"
#include "canonfs/path.h"
#include "canonfs/text.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const tool_names[CCWRAP_COUNT] = {
	[CCWRAP_CC] = "cc",
	[CCWRAP_GCC] = "gcc",
	[CCWRAP_CXX] = "c++",
	[CCWRAP_GXX] = "g++",
};

const char *ccwrap_name(enum ccwrap_tool tool)
{
	return tool_names[tool];
}

static bool is_cxx(enum ccwrap_tool tool)
{
	return tool == CCWRAP_CXX || tool == CCWRAP_GXX;
}

/* The compiler the headers were discovered from, split at blanks as the
 * discovery (and Go) split $CC: its name, after any launcher in front of
 * it ("ccache gcc": the mount's compilers go behind the launcher, never
 * in front), and the flags after it ("gcc -m32": the headers are those
 * of that target, so the compiler runs with them). */
#define COMPILER_MAX_FLAGS 32
struct compiler_words {
	char words[PATH_MAX];
	const char *name; /* NULL: none */
	const char *flags[COMPILER_MAX_FLAGS];
	size_t n_flags;
};

static void split_compiler(const char *cc, struct compiler_words *w)
{
	char *save = NULL;

	w->name = NULL;
	w->n_flags = 0;
	if (!cc || snprintf(w->words, sizeof(w->words), "%s", cc) >=
			   (int)sizeof(w->words))
		return;
	for (char *word = strtok_r(w->words, " \t", &save); word;
	     word = strtok_r(NULL, " \t", &save)) {
		if (!w->name && hostpath_names_launcher(word))
			continue;
		if (!w->name)
			w->name = word;
		else if (w->n_flags < COMPILER_MAX_FLAGS)
			w->flags[w->n_flags++] = word;
	}
}

/* The host compiler a tool runs, found on the daemon's PATH (never the
 * mount's own wrappers): the compiler the headers were discovered from,
 * or for C++ its partner. 0 or ENOENT. */
static int host_compiler(const struct layout *layout,
			 const struct sysinc_list *sys, enum ccwrap_tool tool,
			 char *out, size_t out_size)
{
	struct compiler_words w;
	char cxx[PATH_MAX];
	const char *name;

	split_compiler(sys->compiler, &w);
	if (!(name = w.name) ||
	    !sysinc_has_lang(sys, is_cxx(tool) ? SYSINC_CXX : SYSINC_C))
		return ENOENT;
	if (is_cxx(tool)) {
		if (sysinc_cxx_of(name, cxx, sizeof(cxx)))
			return ENOENT;
		name = cxx;
	}
	return hostpath_find_compiler(name, layout->mountpoint, out, out_size)
		       ? 0
		       : ENOENT;
}

/* Tell watch each entry a resolution of absolute path goes through,
 * following symlinks, up to the file it names or its first missing part.
 * A path that leads into the mount (skip_under) cannot be watched: a
 * request handler must not wait for the mount itself. */
static int watch_path(const char *path, const char *skip_under,
		      ccwrap_watch_fn watch, void *arg)
{
	char dir[PATH_MAX] = "", rest[PATH_MAX], next[PATH_MAX],
	     target[PATH_MAX];
	int err, hops = 0;

	if (path[0] != '/' ||
	    snprintf(rest, sizeof(rest), "%s", path) >= (int)sizeof(rest))
		return ENOTSUP; /* relative to the daemon's directory */
	/* dir: the real directory reached ("" for the root); rest: what is
	 * left to resolve. */
	for (;;) {
		char *name = rest + strspn(rest, "/"), *after;
		ssize_t n;

		after = name + strcspn(name, "/");
		if (after == name)
			return 0; /* resolved */
		if (*after)
			*after++ = '\0';
		if (strcmp(name, "..") == 0) {
			char *slash = strrchr(dir, '/');

			if (slash)
				*slash = '\0';
		} else if (strcmp(name, ".") != 0) {
			if ((err = watch(dir[0] ? dir : "/", name, arg)))
				return err;
			if (snprintf(next, sizeof(next), "%s/%s", dir, name) >=
			    (int)sizeof(next))
				return ENAMETOOLONG;
			if (path_under(next, skip_under))
				return ENOTSUP;
			n = readlink(next, target, sizeof(target) - 1);
			if (n >= 0) {
				if (++hops > 40)
					return 0; /* a loop: ELOOP for all */
				target[n] = '\0';
				if (target[0] == '/')
					dir[0] = '\0';
				if (snprintf(next, sizeof(next), "%s/%s",
					     target,
					     after) >= (int)sizeof(next))
					return ENAMETOOLONG;
				memcpy(rest, next, sizeof(rest));
				continue;
			}
			if (errno != EINVAL)
				return 0; /* missing: watched in dir */
			memcpy(dir, next, sizeof(dir));
		}
		memmove(rest, after, strlen(after) + 1);
	}
}

struct watch_place {
	const char *skip_under;
	ccwrap_watch_fn watch;
	void *arg;
};

/* hostpath_each_place visitor: watch_path of one place. */
static int watch_place(const char *place, void *arg)
{
	struct watch_place *w = arg;

	return watch_path(place, w->skip_under, w->watch, w->arg);
}

/* watch_path of each place a PATH search for command looks (a compiler
 * installed earlier in PATH would be found instead), or of command
 * itself when it names a path. */
static int watch_search(const char *command, const char *skip_under,
			ccwrap_watch_fn watch, void *arg)
{
	struct watch_place w = {skip_under, watch, arg};

	return hostpath_each_place(command, skip_under, watch_place, &w);
}

/* s as one shell word: in single quotes, each ' written as '\''. */
static void add_quoted(struct text *t, const char *s)
{
	text_add(t, "'");
	for (; *s; s++)
		text_add(t, *s == '\'' ? "'\\''" : "%c", *s);
	text_add(t, "'");
}

/* watch_search for the compiler tool runs, found or not. */
static int watch_inputs(const struct layout *layout,
			const struct sysinc_list *sys, enum ccwrap_tool tool,
			ccwrap_watch_fn watch, void *arg)
{
	struct compiler_words w;
	char cxx[PATH_MAX];
	const char *name;

	split_compiler(sys->compiler, &w);
	if (!(name = w.name) ||
	    !sysinc_has_lang(sys, is_cxx(tool) ? SYSINC_CXX : SYSINC_C))
		return 0;
	if (is_cxx(tool)) {
		if (sysinc_cxx_name(name, cxx, sizeof(cxx)))
			return 0;
		name = cxx;
	}
	return watch_search(name, layout->mountpoint, watch, arg);
}

/* The suffixes gcc compiles as C++ (a case pattern), and C++ headers. */
#define CXX_SOURCES                                                            \
	"*.cc|*.cp|*.cxx|*.cpp|*.CPP|*.c++|*.C|*.ii|*.hh|*.H|*.hp|*.hxx|"      \
	"*.hpp|*.HPP|*.h++|*.tcc"

/* "exec COMPILER FLAGS", FLAGS those $CC gave the compiler. */
static void add_run(struct text *t, const struct sysinc_list *sys,
		    const char *compiler)
{
	struct compiler_words w;

	split_compiler(sys->compiler, &w);
	text_add(t, "exec ");
	add_quoted(t, compiler);
	for (size_t i = 0; i < w.n_flags; i++) {
		text_add(t, " ");
		add_quoted(t, w.flags[i]);
	}
}

/* The line that runs compiler with lang's search list from the mount
 * only, and the arguments. */
static void add_exec(struct text *t, const struct layout *layout,
		     const struct sysinc_list *sys, const char *compiler,
		     unsigned lang)
{
	char dir[PATH_MAX];

	add_run(t, sys, compiler);
	text_add(t,
		 lang == SYSINC_CXX ? " -nostdinc -nostdinc++" : " -nostdinc");
	for (const struct sysinc_dir *d = sysinc_next(sys, lang, NULL); d;
	     d = sysinc_next(sys, lang, d)) {
		snprintf(dir, sizeof(dir), "%s/sys/%s", layout->mountpoint,
			 d->name);
		text_add(t, " -isystem ");
		add_quoted(t, dir);
	}
	text_add(t, " \"$@\"\n");
}

int ccwrap_script(const struct layout *layout, const struct sysinc_list *sys,
		  enum ccwrap_tool tool, ccwrap_watch_fn watch, void *arg,
		  char **data, size_t *len)
{
	unsigned lang = is_cxx(tool) ? SYSINC_CXX : SYSINC_C;
	char compiler[PATH_MAX];
	struct text t = {0};
	struct stat st;
	int err;

	/* Watched first: a change after the watch is seen, and one before
	 * it is in what is read below. */
	if (watch && (err = watch_inputs(layout, sys, tool, watch, arg)))
		return err;
	if (host_compiler(layout, sys, tool, compiler, sizeof(compiler)) ||
	    stat(compiler, &st) == -1)
		return ENOENT;
	text_add(&t, "#!/bin/sh\n");
	text_add(&t,
		 "# canonfs: %s with the system headers of this mount "
		 "only.\n",
		 compiler);
	/* What names the compiler: a new one makes a new script. */
	text_add(&t, "# %s: %lld bytes, modified %lld.%09ld\n", compiler,
		 (long long)st.st_size, (long long)st.st_mtim.tv_sec,
		 st.st_mtim.tv_nsec);
	/* Passed through: cgo adds the same flags itself. */
	text_add(&t, "case \" $* \" in *\" -nostdinc \"*) ");
	add_run(&t, sys, compiler);
	text_add(&t, " \"$@\" ;; esac\n");
	/* gcc and cc compile C++ too, by suffix or -x c++ ("$(CC) -c
	 * x.cpp"): with the C++ search list then. */
	if (lang == SYSINC_C && sysinc_has_lang(sys, SYSINC_CXX)) {
		/* The language in force for each input: -x LANG (or -xLANG)
		 * until the next -x, else the suffix; -o's file is none. */
		text_add(
			&t,
			"p= x= cxx=\nfor a; do case $p in -o) ;; -x) x=$a "
			";; *) case $a in -x?*) x=${a#-x} ;; -?*) ;; *) "
			"case $x in c++*) cxx=1 ;; ''|none) case $a in " CXX_SOURCES
			") cxx=1 ;; esac ;; esac ;; esac ;; "
			"esac; p=$a; done\n"
			"[ -z \"$cxx\" ] || ");
		add_exec(&t, layout, sys, compiler, SYSINC_CXX);
	}
	add_exec(&t, layout, sys, compiler, lang);
	if (!(*data = text_take(&t)))
		return ENOMEM;
	*len = t.len;
	return 0;
}

bool ccwrap_serves(const struct layout *layout, const struct sysinc_list *sys,
		   enum ccwrap_tool tool)
{
	char compiler[PATH_MAX];

	return host_compiler(layout, sys, tool, compiler, sizeof(compiler)) ==
	       0;
}

bool ccwrap_served(const struct layout *layout, const struct sysinc_list *sys)
{
	return ccwrap_serves(layout, sys, CCWRAP_CC);
}

int ccwrap_cmake(const struct layout *layout, const struct sysinc_list *sys,
		 char **data, size_t *len)
{
	struct text t = {0};

	if (!ccwrap_served(layout, sys))
		return ENOENT;
	text_add(&t, "# canonfs: the compilers of this mount, with its system "
		     "headers only.\n");
	text_add(&t, "set(CMAKE_C_COMPILER \"%s/.canonfs/bin/cc\")\n",
		 layout->mountpoint);
	if (ccwrap_serves(layout, sys, CCWRAP_CXX))
		text_add(&t,
			 "set(CMAKE_CXX_COMPILER \"%s/.canonfs/bin/c++\")\n",
			 layout->mountpoint);
	if (!(*data = text_take(&t)))
		return ENOMEM;
	*len = t.len;
	return 0;
}
