/*
 * cmd_env: `canonfs env` (see include/canonfs/cmd_env.h).
 */
#include "canonfs/cmd_env.h"

#include "canonfs/envmerge.h"
#include "canonfs/envundo.h"
#include "canonfs/goenv.h"
#include "canonfs/mounts.h"
#include "canonfs/path.h"
#include "canonfs/report.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_shell_quoted(const char *s)
{
	putchar('\'');
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", stdout);
		else
			putchar(*s);
	}
	putchar('\'');
}

/* Unlike manifest.c's escaping (every byte >= 0x7f as \u00XX, since
 * names need not be UTF-8), a mountpoint's UTF-8 passes through: the
 * values must parse back to the path itself. */
static void print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

static const char *lookup_env(const char *name)
{
	return getenv(name);
}

#define ENV_USAGE                                                              \
	"usage: canonfs env MOUNTPOINT [--json], or canonfs env --unset "      \
	"[MOUNTPOINT]"

/* The mount whose exports to take back: the one named (as the daemon
 * resolved it, also once unmounted or gone), else the one the
 * environment points at. Returns 0, 1 when there is nothing to undo, or
 * an exit status. */
static int unset_mountpoint(const char *given, char *out, size_t out_size)
{
	char absolute[PATH_MAX];
	int rc;

	if (given) {
		if (mounts_resolve(given, out, out_size) == 0)
			return 0;
		if (given[0] == '/' &&
		    path_clean(given, absolute, sizeof(absolute)) == 0) {
			snprintf(out, out_size, "%s", absolute);
			return 0;
		}
		report_error("env --unset: MOUNTPOINT '%s': %s (give it as "
			     "canonfs env was given it, or leave it out)",
			     given, strerror(errno));
		return 2;
	}
	rc = envundo_find_mount(lookup_env, out, out_size);
	if (rc == EEXIST) {
		report_error("env --unset: this environment holds the exports "
			     "of more than one mount ('%s'): name one (canonfs "
			     "env --unset MOUNTPOINT)",
			     out);
		return 2;
	}
	if (rc == ENOENT && getenv("CANONFS_MTIME")) {
		report_error("env --unset: cannot tell from this environment "
			     "which mount it was for (give its MOUNTPOINT: "
			     "canonfs env --unset MOUNTPOINT)");
		return 2;
	}
	return rc == ENOENT ? 1 : 0;
}

/*
 * `canonfs env --unset [MOUNTPOINT]`: the shell commands that take back
 * what eval "$(canonfs env MOUNTPOINT)" exported (envundo.h), from the
 * environment alone, since the mount may be gone. Nothing to take back
 * prints nothing: evaluating it twice is harmless.
 */
static int print_unset(const char *given)
{
	char mountpoint[PATH_MAX];
	int rc = unset_mountpoint(given, mountpoint, sizeof(mountpoint));

	if (rc)
		return rc == 1 ? 0 : rc;
	for (int i = 0; envundo_names[i]; i++) {
		char *value = NULL;

		switch (envundo_value(envundo_names[i], lookup_env, mountpoint,
				      &value)) {
		case ENVUNDO_KEEP:
			break;
		case ENVUNDO_UNSET:
			printf("unset %s\n", envundo_names[i]);
			break;
		case ENVUNDO_SET:
			printf("export %s=", envundo_names[i]);
			print_shell_quoted(value);
			putchar('\n');
			free(value);
			break;
		case ENVUNDO_NOMEM:
			report_error("env --unset: out of memory");
			return 1;
		}
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

int cmd_env_main(int argc, char **argv)
{
	const char *mountpoint = NULL;
	char err[PATH_MAX + 256], *data, *line, *save = NULL;
	char replaced[512] = "", file_value[8192];
	bool json = false, first = true, unset = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--unset") == 0) {
			unset = true;
		} else if (strcmp(argv[i], "-h") == 0 ||
			   strcmp(argv[i], "--help") == 0) {
			printf(ENV_USAGE
			       "\n"
			       "Print the environment for a build inside the "
			       "canonfs mount at MOUNTPOINT:\nshell exports "
			       "(eval \"$(canonfs env MNT)\"), or one JSON "
			       "object.\nWith --unset, the shell commands that "
			       "take those exports back\n(eval \"$(canonfs env "
			       "--unset)\"), also once the mount is gone.\n");
			return 0;
		} else if (!mountpoint && argv[i][0] != '-') {
			mountpoint = argv[i];
		} else {
			report_error("env: unexpected argument '%s' (" ENV_USAGE
				     ")",
				     argv[i]);
			return 2;
		}
	}
	if (unset && json) {
		report_error("env: --unset prints shell commands, not JSON "
			     "(" ENV_USAGE ")");
		return 2;
	}
	if (unset)
		return print_unset(mountpoint);
	if (!mountpoint) {
		report_error("env: missing MOUNTPOINT (" ENV_USAGE ")");
		return 2;
	}
	if (!(data = goenv_read_env(mountpoint, err, sizeof(err)))) {
		report_error("env: %s", err);
		return 1;
	}
	goenv_warn_gocache_inside(mountpoint);
	if (json)
		putchar('{');
	for (line = strtok_r(data, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *eq = strchr(line, '='), *merged = NULL;
		const char *value, *callers;
		bool kept;

		if (!eq)
			continue;
		*eq = '\0';
		/* GODEBUG and GOFLAGS get one setting each from the mount,
		 * PATH its toolchain first: what the shell (or Go's env
		 * file) had is kept beside it. The flags variables are the
		 * mount's as they are (canonfs(1): add yours after). */
		kept = strcmp(line, "GODEBUG") == 0 ||
		       strcmp(line, "GOFLAGS") == 0 ||
		       strcmp(line, "PATH") == 0;
		callers = goenv_callers_value(line, file_value,
					      sizeof(file_value));
		if (!kept)
			goenv_note_replaced(replaced, sizeof(replaced), line,
					    callers, eq + 1);
		if (kept && envmerge_value(line, eq + 1, callers, mountpoint,
					   &merged)) {
			report_error("env: out of memory");
			free(data);
			return 1;
		}
		value = merged ? merged : eq + 1;
		if (json) {
			printf("%s\n  ", first ? "" : ",");
			print_json_string(line);
			fputs(": ", stdout);
			print_json_string(value);
		} else {
			printf("export %s=", line);
			print_shell_quoted(value);
			putchar('\n');
		}
		free(merged);
		first = false;
	}
	if (json)
		puts("\n}");
	free(data);
	goenv_warn_file_replaced(replaced);
	return fflush(stdout) == 0 ? 0 : 1;
}
