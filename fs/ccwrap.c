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

/* The host compiler a tool runs, found on the daemon's PATH (never the
 * mount's own wrappers): the compiler the headers were discovered from,
 * or for C++ its partner. 0 or ENOENT. */
static int host_compiler(const struct layout *layout,
			 const struct sysinc_list *sys, enum ccwrap_tool tool,
			 char *out, size_t out_size)
{
	char cxx[PATH_MAX];
	const char *name = sys->compiler;

	if (!name ||
	    !sysinc_has_lang(sys, is_cxx(tool) ? SYSINC_CXX : SYSINC_C))
		return ENOENT;
	if (is_cxx(tool)) {
		if (sysinc_cxx_of(name, cxx, sizeof(cxx)))
			return ENOENT;
		name = cxx;
	}
	return hostpath_find_command(name, layout->mountpoint, out, out_size)
		       ? 0
		       : ENOENT;
}

/* Tell watch the directories of the daemon's PATH that a search for
 * command goes through before it stops at found (all of them when not
 * found): a compiler installed earlier in PATH would be found instead. */
static int watch_search(const char *command, const char *found,
			const char *skip_under, ccwrap_watch_fn watch,
			void *arg)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX];
	int err;

	if (strchr(command, '/'))
		return 0;
	for (const char *p = path ? path : ""; *p;) {
		size_t len = strcspn(p, ":");

		if (len > 0 && len < sizeof(dir)) {
			memcpy(dir, p, len);
			dir[len] = '\0';
			if (!(skip_under && path_under(dir, skip_under))) {
				if ((err = watch(dir, arg)))
					return err;
				if (found && strncmp(found, dir, len) == 0 &&
				    found[len] == '/' &&
				    strcmp(found + len + 1, command) == 0)
					return 0;
			}
		}
		p += len + (p[len] == ':');
	}
	return 0;
}

/* Tell watch the directory of path and of each symlink on the way to
 * the file it names (/usr/bin/cc -> /etc/alternatives/cc -> gcc). */
static int watch_links(const char *path, ccwrap_watch_fn watch, void *arg)
{
	char at[PATH_MAX], dir[PATH_MAX], target[PATH_MAX];
	int err;

	if (snprintf(at, sizeof(at), "%s", path) >= (int)sizeof(at))
		return ENAMETOOLONG;
	for (int hops = 0; hops < 40; hops++) {
		const char *slash = strrchr(at, '/');
		ssize_t n;

		snprintf(dir, sizeof(dir), "%.*s",
			 slash ? (int)(slash - at) : 1, slash ? at : ".");
		if (!dir[0])
			strcpy(dir, "/");
		if ((err = watch(dir, arg)))
			return err;
		n = readlink(at, target, sizeof(target) - 1);
		if (n < 0)
			return 0; /* the file itself */
		target[n] = '\0';
		if (target[0] == '/')
			snprintf(at, sizeof(at), "%s", target);
		else if (snprintf(at, sizeof(at), "%s/%s",
				  strcmp(dir, "/") ? dir : "",
				  target) >= (int)sizeof(at))
			return ENAMETOOLONG;
	}
	return 0;
}

/* s as one shell word: in single quotes, each ' written as '\''. */
static void add_quoted(struct text *t, const char *s)
{
	text_add(t, "'");
	for (; *s; s++)
		text_add(t, *s == '\'' ? "'\\''" : "%c", *s);
	text_add(t, "'");
}

/* watch_search and watch_links for tool, found at compiler (NULL: not
 * found), before its script is made: what a change may change. */
static int watch_inputs(const struct layout *layout,
			const struct sysinc_list *sys, enum ccwrap_tool tool,
			const char *compiler, ccwrap_watch_fn watch, void *arg)
{
	char cxx[PATH_MAX];
	const char *name = sys->compiler;
	int err;

	if (!name)
		return 0;
	if (is_cxx(tool)) {
		if (sysinc_cxx_of(name, cxx, sizeof(cxx)))
			return 0;
		name = cxx;
	}
	if ((err = watch_search(name, compiler, layout->mountpoint, watch,
				arg)))
		return err;
	if (compiler)
		return watch_links(compiler, watch, arg);
	return strchr(name, '/') ? watch_links(name, watch, arg) : 0;
}

int ccwrap_script(const struct layout *layout, const struct sysinc_list *sys,
		  enum ccwrap_tool tool, ccwrap_watch_fn watch, void *arg,
		  char **data, size_t *len)
{
	unsigned lang = is_cxx(tool) ? SYSINC_CXX : SYSINC_C;
	char compiler[PATH_MAX], dir[PATH_MAX];
	struct text t = {0};
	struct stat st;
	bool found = host_compiler(layout, sys, tool, compiler,
				   sizeof(compiler)) == 0;
	int err;

	/* Watched first: a change after the watch is seen, and one before
	 * it is in what is read below. */
	if (watch && (err = watch_inputs(layout, sys, tool,
					 found ? compiler : NULL, watch, arg)))
		return err;
	if (!found || stat(compiler, &st) == -1)
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
	text_add(&t, "case \" $* \" in *\" -nostdinc \"*) exec ");
	add_quoted(&t, compiler);
	text_add(&t, " \"$@\" ;; esac\nexec ");
	add_quoted(&t, compiler);
	text_add(&t,
		 lang == SYSINC_CXX ? " -nostdinc -nostdinc++" : " -nostdinc");
	for (const struct sysinc_dir *d = sysinc_next(sys, lang, NULL); d;
	     d = sysinc_next(sys, lang, d)) {
		snprintf(dir, sizeof(dir), "%s/sys/%s", layout->mountpoint,
			 d->name);
		text_add(&t, " -isystem ");
		add_quoted(&t, dir);
	}
	text_add(&t, " \"$@\"\n");
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
