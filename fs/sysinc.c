/*
 * sysinc: discovery and naming of the system include directories (see
 * include/canonfs/sysinc.h).
 */
#include "canonfs/sysinc.h"

#include "canonfs/hostpath.h"
#include "canonfs/path.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SYSINC_MAX_DIRS 64
#define COMPILER_MAX_ARGS 32

size_t sysinc_parse_search_list(const char *output, char **dirs, size_t max)
{
	const char *start =
		strstr(output, "#include <...> search starts here:");
	const char *line, *end;
	char raw[PATH_MAX], clean[PATH_MAX];
	size_t n = 0;

	if (!start)
		return 0;
	line = strchr(start, '\n');
	while (line && n < max) {
		line++;
		end = strchr(line, '\n');
		if (!end)
			end = line + strlen(line);
		/* Entries are indented by one space; anything else ends it. */
		if (*line != ' ')
			break;
		while (line < end && *line == ' ')
			line++;
		/* clang marks framework directories; none on Linux. */
		if ((size_t)(end - line) < sizeof(raw) && line < end &&
		    *line == '/') {
			memcpy(raw, line, (size_t)(end - line));
			raw[end - line] = '\0';
			if (path_clean(raw, clean, sizeof(clean)) == 0 &&
			    (dirs[n] = strdup(clean)))
				n++;
		}
		line = *end ? end : NULL;
	}
	return n;
}

/* "x86_64-linux-gnu", "arm-linux-gnueabihf": a target triplet. */
static bool is_triplet(const char *component, size_t len)
{
	size_t dashes = 0;

	for (size_t i = 0; i < len; i++)
		dashes += component[i] == '-';
	return dashes >= 2 && component[0] != '-';
}

/* Does clean path dir have a component equal to name? */
static bool has_component(const char *dir, const char *name)
{
	size_t len = strlen(name);

	for (const char *p = dir; (p = strstr(p, name)); p++)
		if (p > dir && p[-1] == '/' &&
		    (p[len] == '/' || p[len] == '\0'))
			return true;
	return false;
}

static bool has_triplet_component(const char *dir)
{
	const char *p = dir;

	while (*p == '/') {
		const char *next = strchr(p + 1, '/');
		size_t len = next ? (size_t)(next - p - 1) : strlen(p + 1);

		if (is_triplet(p + 1, len))
			return true;
		if (!next)
			break;
		p = next;
	}
	return false;
}

/* A sysroot keeps the same tree deeper: /opt/sysroot/usr/include. */
static bool ends_with(const char *dir, const char *suffix)
{
	size_t len = strlen(dir), slen = strlen(suffix);

	return len >= slen && strcmp(dir + len - slen, suffix) == 0;
}

/* Does the directory holding `last` (dir's final component) end in
 * suffix? */
static bool parent_ends_with(const char *dir, const char *last,
			     const char *suffix)
{
	size_t parent_len = (size_t)(last - dir) - 1, slen = strlen(suffix);

	return parent_len >= slen &&
	       strncmp(dir + parent_len - slen, suffix, slen) == 0;
}

void sysinc_name_for(const char *dir, unsigned pos, char *out, size_t out_size)
{
	const char *last = strrchr(dir, '/');
	const char *name = NULL;

	last = last ? last + 1 : dir;
	if (strcmp(last, "include-fixed") == 0)
		name = "cc-fixed";
	else if (has_component(dir, "c++"))
		name = strcmp(last, "backward") == 0 ? "c++-backward"
		       : has_triplet_component(dir)  ? "c++-target"
						     : "c++";
	else if (strcmp(last, "include") == 0 &&
		 (has_component(dir, "gcc") || has_component(dir, "clang")))
		name = "cc";
	else if (ends_with(dir, "/usr/local/include"))
		name = "local";
	else if (is_triplet(last, strlen(last)) &&
		 parent_ends_with(dir, last, "/usr/local/include"))
		name = "local-target";
	else if (ends_with(dir, "/usr/include"))
		name = "usr";
	else if (is_triplet(last, strlen(last)) &&
		 parent_ends_with(dir, last, "/usr/include"))
		name = "target";
	if (name)
		snprintf(out, out_size, "%s", name);
	else
		snprintf(out, out_size, "dir%u", pos);
}

bool sysinc_valid_name(const char *name)
{
	if (!name[0] || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 ||
	    strlen(name) > NAME_MAX)
		return false;
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || strchr("._+-", *p)))
			return false;
	return true;
}

/*
 * Run `compiler -E -Wp,-v -x LANG /dev/null -o /dev/null` and return what
 * it printed on stderr (malloc'd), or NULL when it could not run or failed.
 * compiler may carry arguments ("gcc -m32"), split at blanks as Go does.
 */
static char *compiler_search_output(const char *compiler, const char *lang)
{
	char *words = strdup(compiler), *argv[COMPILER_MAX_ARGS + 9];
	char *save = NULL, *output = NULL;
	size_t argc = 0, len = 0, cap = 0;
	int pipe_fds[2], status;
	pid_t pid;

	if (!words)
		return NULL;
	for (char *w = strtok_r(words, " \t", &save);
	     w && argc < COMPILER_MAX_ARGS; w = strtok_r(NULL, " \t", &save))
		argv[argc++] = w;
	if (argc == 0 || pipe2(pipe_fds, O_CLOEXEC) == -1) {
		free(words);
		return NULL;
	}
	const char *tail[] = {"-E",	   "-Wp,-v", "-x",	  lang,
			      "/dev/null", "-o",     "/dev/null", NULL};
	for (size_t i = 0; i < sizeof(tail) / sizeof(tail[0]); i++)
		argv[argc++] = (char *)tail[i];

	pid = fork();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDWR);

		if (devnull < 0 || dup2(devnull, 0) < 0 ||
		    dup2(devnull, 1) < 0 || dup2(pipe_fds[1], 2) < 0)
			_exit(127);
		/* C locale: the marker lines are translated otherwise. */
		setenv("LC_ALL", "C", 1);
		execvp(argv[0], argv);
		_exit(127);
	}
	close(pipe_fds[1]);
	free(words);
	if (pid < 0) {
		close(pipe_fds[0]);
		return NULL;
	}
	for (;;) {
		ssize_t got;

		if (cap - len < 4096) {
			char *grown = realloc(output, cap + 65536);

			if (!grown)
				break;
			output = grown;
			cap += 65536;
		}
		got = read(pipe_fds[0], output + len, cap - len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	close(pipe_fds[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	if (!output || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(output);
		return NULL;
	}
	output[len] = '\0';
	return output;
}

static struct sysinc_dir *find_by(struct sysinc_list *list, const char *name,
				  const char *host_dir)
{
	for (size_t i = 0; i < list->n; i++)
		if ((name && strcmp(list->dirs[i].name, name) == 0) ||
		    (host_dir && strcmp(list->dirs[i].host_dir, host_dir) == 0))
			return &list->dirs[i];
	return NULL;
}

static int append(struct sysinc_list *list, const char *name,
		  const char *host_dir, unsigned langs, unsigned c_pos,
		  unsigned cxx_pos)
{
	struct sysinc_dir *grown;

	grown = realloc(list->dirs, (list->n + 1) * sizeof(*grown));
	if (!grown)
		return ENOMEM;
	list->dirs = grown;
	grown[list->n] = (struct sysinc_dir){.name = strdup(name),
					     .host_dir = strdup(host_dir),
					     .langs = langs,
					     .c_pos = c_pos,
					     .cxx_pos = cxx_pos};
	list->n++;
	if (!grown[list->n - 1].name || !grown[list->n - 1].host_dir)
		return ENOMEM;
	return 0;
}

/* Add the search list of one language, merging directories both have. */
static int add_discovered(struct sysinc_list *list, char **dirs, size_t n,
			  unsigned lang)
{
	char name[64];
	int err;

	for (size_t i = 0; i < n; i++) {
		struct sysinc_dir *have = find_by(list, NULL, dirs[i]);

		if (have) {
			have->langs |= lang;
			if (lang == SYSINC_C)
				have->c_pos = (unsigned)i;
			else
				have->cxx_pos = (unsigned)i;
			continue;
		}
		sysinc_name_for(dirs[i], (unsigned)list->n, name, sizeof(name));
		/* Two directories with one role: the later one is numbered. */
		if (find_by(list, name, NULL))
			snprintf(name, sizeof(name), "dir%zu", list->n);
		if ((err = append(list, name, dirs[i], lang, (unsigned)i,
				  (unsigned)i)))
			return err;
	}
	return 0;
}

static void discover(struct sysinc_list *list, const char *compiler,
		     bool *found)
{
	static const struct {
		const char *lang;
		unsigned flag;
	} langs[] = {{"c++", SYSINC_CXX}, {"c", SYSINC_C}};
	char *dirs[SYSINC_MAX_DIRS];

	*found = false;
	for (size_t l = 0; l < 2; l++) {
		char *output = compiler_search_output(compiler, langs[l].lang);
		size_t n;

		if (!output)
			continue; /* no C++ front end is no error */
		n = sysinc_parse_search_list(output, dirs, SYSINC_MAX_DIRS);
		free(output);
		if (langs[l].flag == SYSINC_C && n > 0)
			*found = true;
		add_discovered(list, dirs, n, langs[l].flag);
		for (size_t i = 0; i < n; i++)
			free(dirs[i]);
	}
}

static void drop_all(struct sysinc_list *list)
{
	for (size_t i = 0; i < list->n; i++) {
		free(list->dirs[i].name);
		free(list->dirs[i].host_dir);
	}
	list->n = 0;
}

int sysinc_build(struct sysinc_list *list, const char *compiler, bool chosen,
		 const struct sysinc_spec *specs, size_t n_specs, char *err,
		 size_t err_size)
{
	const char *env_cc = getenv("CC");
	unsigned next_pos = 0;
	bool found, none = false;

	memset(list, 0, sizeof(*list));
	if (!compiler)
		compiler = env_cc && env_cc[0] ? env_cc : "gcc";
	if (!(list->compiler = strdup(compiler)))
		goto oom;
	list->compiler_chosen = chosen;

	/* "-o sys=none", wherever it stands, drops what the compiler would
	 * say (not the directories named beside it): it is never asked. */
	for (size_t i = 0; i < n_specs; i++)
		none = none || !specs[i].name;
	if (!none) {
		discover(list, compiler, &found);
		if (!found && chosen) {
			snprintf(err, err_size,
				 "-o cc=%s: cannot read its include search "
				 "list (`%s -E -Wp,-v -x c /dev/null` failed; "
				 "name an installed C compiler, or give "
				 "-o sys=none)",
				 compiler, compiler);
			return -1;
		}
	}
	for (size_t i = 0; i < list->n; i++) {
		if (list->dirs[i].c_pos >= next_pos)
			next_pos = list->dirs[i].c_pos + 1;
		if (list->dirs[i].cxx_pos >= next_pos)
			next_pos = list->dirs[i].cxx_pos + 1;
	}

	for (size_t i = 0; i < n_specs; i++) {
		struct sysinc_dir *have;
		char *copy;

		if (!specs[i].name)
			continue; /* sys=none: see above */
		have = find_by(list, specs[i].name, NULL);
		if (have) {
			if (!(copy = strdup(specs[i].host_dir)))
				goto oom;
			free(have->host_dir);
			have->host_dir = copy;
			have->given = true;
			continue;
		}
		/* A C++ directory must not be searched by the C compiler. */
		if (append(list, specs[i].name, specs[i].host_dir,
			   strncmp(specs[i].name, "c++", 3) == 0
				   ? SYSINC_CXX
				   : SYSINC_C | SYSINC_CXX,
			   next_pos, next_pos))
			goto oom;
		list->dirs[list->n - 1].given = true;
		next_pos++;
	}
	return 0;
oom:
	snprintf(err, err_size, "out of memory");
	return -1;
}

void sysinc_free(struct sysinc_list *list)
{
	drop_all(list);
	free(list->dirs);
	free(list->compiler);
	memset(list, 0, sizeof(*list));
}

/*
 * The C++ driver of C compiler cc: gcc-12 -> g++-12, clang -> clang++,
 * cc -> c++, the directory kept. The C++ headers MNT/sys mirrors are cc's
 * own (`cc -x c++`), so C++ must be compiled with its partner: Go left to
 * its default g++ compiled a cgo package's C++ against clang's headers,
 * and failed.
 */
int sysinc_cxx_name(const char *cc, char *out, size_t out_size)
{
	const char *base = strrchr(cc, '/') ? strrchr(cc, '/') + 1 : cc;
	size_t dir_len = (size_t)(base - cc), at, len;
	const char *hit;

	if (strcmp(base, "cc") == 0) {
		at = 0;
		len = 2;
		hit = "c++";
	} else if ((hit = strstr(base, "clang"))) {
		at = (size_t)(hit - base);
		len = 5;
		hit = "clang++";
	} else if ((hit = strstr(base, "gcc"))) {
		at = (size_t)(hit - base);
		len = 3;
		hit = "g++";
	} else {
		return ENOENT;
	}
	if ((size_t)snprintf(out, out_size, "%.*s%.*s%s%s", (int)dir_len, cc,
			     (int)at, base, hit, base + at + len) >= out_size)
		return ENOENT;
	return 0;
}

int sysinc_cxx_of(const char *cc, char *out, size_t out_size)
{
	char full[PATH_MAX];

	if (sysinc_cxx_name(cc, out, out_size) ||
	    !hostpath_find_compiler(out, NULL, full, sizeof(full)))
		return ENOENT;
	return 0;
}

const struct sysinc_dir *sysinc_next(const struct sysinc_list *sys,
				     unsigned lang,
				     const struct sysinc_dir *prev)
{
	const struct sysinc_dir *next = NULL;
	unsigned last = 0;

	if (prev)
		last = lang == SYSINC_C ? prev->c_pos : prev->cxx_pos;
	/* Positions are small and unique per language: select in order. */
	for (size_t i = 0; i < sys->n; i++) {
		const struct sysinc_dir *d = &sys->dirs[i];
		unsigned pos = lang == SYSINC_C ? d->c_pos : d->cxx_pos;

		if (!(d->langs & lang) || (prev && pos <= last))
			continue;
		if (!next ||
		    pos < (lang == SYSINC_C ? next->c_pos : next->cxx_pos))
			next = d;
	}
	return next;
}

bool sysinc_has_lang(const struct sysinc_list *sys, unsigned lang)
{
	for (size_t i = 0; i < sys->n; i++)
		if (sys->dirs[i].langs & lang)
			return true;
	return false;
}

int sysinc_reroot(struct sysinc_list *list, const char *root, char *err,
		  size_t err_size)
{
	char moved[PATH_MAX];
	struct stat st;

	for (size_t i = 0; i < list->n; i++) {
		struct sysinc_dir *d = &list->dirs[i];
		char *copy;

		if (d->given)
			continue;
		if ((size_t)snprintf(moved, sizeof(moved), "%s%s%s", root,
				     d->host_dir[0] == '/' ? "" : "/",
				     d->host_dir) >= sizeof(moved) ||
		    stat(moved, &st) == -1 || !S_ISDIR(st.st_mode)) {
			snprintf(err, err_size,
				 "-o sysroot=%s: no directory %s there (the "
				 "compiler searches %s; name it with -o "
				 "sys=%s:DIR, or drop it with -o sys=none)",
				 root, moved, d->host_dir, d->name);
			return -1;
		}
		if (!(copy = strdup(moved))) {
			snprintf(err, err_size, "out of memory");
			return -1;
		}
		free(d->host_dir);
		d->host_dir = copy;
	}
	return 0;
}
