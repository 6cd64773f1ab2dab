/*
 * cmd_env: `canonfs env` (see include/canonfs/cmd_env.h).
 */
#include "canonfs/cmd_env.h"

#include "canonfs/envmerge.h"
#include "canonfs/goenv.h"
#include "canonfs/report.h"

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

int cmd_env_main(int argc, char **argv)
{
	const char *mountpoint = NULL;
	char err[PATH_MAX + 256], *data, *line, *save = NULL;
	bool json = false, first = true;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "-h") == 0 ||
			   strcmp(argv[i], "--help") == 0) {
			printf("usage: canonfs env MOUNTPOINT [--json]\n"
			       "Print the environment for a build inside the "
			       "canonfs mount at MOUNTPOINT:\nshell exports "
			       "(eval \"$(canonfs env MNT)\"), or one JSON "
			       "object.\n");
			return 0;
		} else if (!mountpoint && argv[i][0] != '-') {
			mountpoint = argv[i];
		} else {
			report_error("env: unexpected argument '%s' (usage: "
				     "canonfs env MOUNTPOINT [--json])",
				     argv[i]);
			return 2;
		}
	}
	if (!mountpoint) {
		report_error("env: missing MOUNTPOINT (usage: canonfs env "
			     "MOUNTPOINT [--json])");
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
		const char *value;

		if (!eq)
			continue;
		*eq = '\0';
		/* GODEBUG and GOFLAGS get one setting each from the mount,
		 * PATH its toolchain first: what the shell had is kept
		 * beside it. The flags variables are the mount's as they are
		 * (canonfs(1): add yours after). */
		if ((strcmp(line, "GODEBUG") == 0 ||
		     strcmp(line, "GOFLAGS") == 0 ||
		     strcmp(line, "PATH") == 0) &&
		    envmerge_value(line, eq + 1, getenv(line), mountpoint,
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
	return fflush(stdout) == 0 ? 0 : 1;
}
