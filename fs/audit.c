/*
 * audit: `canonfs manifest` and `canonfs diff` (see include/canonfs/audit.h).
 */
#include "canonfs/audit.h"

#include "canonfs/manifest.h"
#include "canonfs/report.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int hashing_threads(void)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);

	/* One more than the cores: reads wait on the disk now and then. */
	return cpus > 0 ? (int)cpus + 1 : 2;
}

/* A directory is described now; anything else is read as a manifest. A
 * warning from the description (entries that vanished meanwhile) goes to
 * stderr. */
static int load(const char *what, struct manifest *m)
{
	char err[PATH_MAX + 256] = "";
	struct stat st;
	FILE *in;
	int rc;

	if (stat(what, &st) == -1) {
		report_error("'%s': %s (give a directory or a manifest file)",
			     what, strerror(errno));
		return -1;
	}
	if (S_ISDIR(st.st_mode)) {
		rc = manifest_build(what, hashing_threads(),
				    isatty(STDERR_FILENO) ? stderr : NULL, m,
				    err, sizeof(err));
	} else {
		in = fopen(what, "re");
		if (!in) {
			report_error("'%s': %s (cannot read it as a manifest)",
				     what, strerror(errno));
			return -1;
		}
		rc = manifest_read(in, what, m, err, sizeof(err));
		fclose(in);
	}
	if (rc || err[0])
		report_error("%s", err);
	return rc;
}

int manifest_main(int argc, char **argv)
{
	const char *path = NULL;
	struct manifest m;
	bool json = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "-h") == 0 ||
			   strcmp(argv[i], "--help") == 0) {
			printf("usage: canonfs manifest PATH [--json]\n\n"
			       "Describe the tree at PATH under the canonical rules: one\n"
			       "line per entry, sorted by path bytes (type, mode, size,\n"
			       "SHA-256, path, symlink target), then a root digest. The\n"
			       "same content gives the same manifest on every machine.\n");
			return 0;
		} else if (argv[i][0] == '-' || path) {
			report_error(
				"manifest: unexpected argument '%s' (usage: canonfs manifest PATH [--json])",
				argv[i]);
			return 2;
		} else {
			path = argv[i];
		}
	}
	if (!path) {
		report_error(
			"manifest: missing PATH (usage: canonfs manifest PATH [--json])");
		return 2;
	}
	if (load(path, &m))
		return 2;
	if (json)
		manifest_write_json(&m, stdout);
	else
		manifest_write_text(&m, stdout);
	manifest_free(&m);
	return fflush(stdout) == 0 ? 0 : 2;
}

/* What differs between two entries of the same path, as words. */
static void describe_change(const struct manifest_entry *a,
			    const struct manifest_entry *b, char *out,
			    size_t out_size)
{
	out[0] = '\0';
	if (a->type != b->type) {
		snprintf(out, out_size, "type");
		return;
	}
	if (a->mode != b->mode)
		strncat(out, "mode, ", out_size - strlen(out) - 1);
	if (a->type == 'f' &&
	    (a->size != b->size || memcmp(a->sha256, b->sha256, 32) != 0))
		strncat(out, "content, ", out_size - strlen(out) - 1);
	if (a->type == 'l' && strcmp(a->target, b->target) != 0)
		strncat(out, "target, ", out_size - strlen(out) - 1);
	if (out[0])
		out[strlen(out) - 2] = '\0';
}

static void print_path(const char *what, const char *path, const char *detail)
{
	char *escaped = manifest_escape(path);

	printf("%s %s%s%s%s\n", what, escaped ? escaped : path,
	       detail ? " (" : "", detail ? detail : "", detail ? ")" : "");
	free(escaped);
}

#define DIFF_USAGE                                                             \
	"usage: canonfs diff A B         (each a directory or a manifest)\n"   \
	"       canonfs diff --inputs TRACE DIR\n"

/* B for --inputs: just A's paths, described in directory `dir`. */
static int load_inputs(const char *dir, const struct manifest *a,
		       struct manifest *b)
{
	char err[PATH_MAX + 256];
	struct stat st;

	if (stat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		report_error("diff --inputs: '%s' is not a directory (give the "
			     "tree the inputs were read from, e.g. the mount)",
			     dir);
		return -1;
	}
	if (manifest_describe_paths(dir, a, b, err, sizeof(err))) {
		report_error("%s", err);
		return -1;
	}
	return 0;
}

int diff_main(int argc, char **argv)
{
	struct manifest a, b;
	size_t i = 0, j = 0;
	int differences = 0;
	bool inputs = argc > 1 && strcmp(argv[1], "--inputs") == 0;

	if (argc == 2 &&
	    (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		printf(DIFF_USAGE
		       "\nCompare two trees or manifests: added, removed and "
		       "changed paths;\nexit 0 same, 1 different, 2 trouble. "
		       "With --inputs, check only the\npaths of a trace's "
		       "inputs (-o trace=TRACE) in DIR, a tree or mount\n"
		       "with the trace's layout (MNT/src, MNT/sys, ...).\n");
		return 0;
	}
	for (int k = 1 + inputs; k < argc; k++) {
		if (argv[k][0] == '-') {
			report_error("diff: unexpected option '%s' (usage: "
				     "canonfs diff A B, or canonfs diff "
				     "--inputs TRACE DIR)",
				     argv[k]);
			return 2;
		}
	}
	if (argc != (inputs ? 4 : 3)) {
		report_error("diff: expected two arguments%s (usage: canonfs "
			     "diff A B, or canonfs diff --inputs TRACE DIR)",
			     inputs ? " after --inputs" : "");
		return 2;
	}
	argv += inputs;
	if (load(argv[1], &a))
		return 2;
	if (inputs ? load_inputs(argv[2], &a, &b) : load(argv[2], &b)) {
		manifest_free(&a);
		return 2;
	}

	/* Both sorted by path bytes: one merge pass. */
	while (i < a.n_entries || j < b.n_entries) {
		int order = i == a.n_entries   ? 1
			    : j == b.n_entries ? -1
					       : strcmp(a.entries[i].path,
							b.entries[j].path);
		char change[64];

		if (order < 0) {
			print_path("removed", a.entries[i++].path, NULL);
			differences++;
		} else if (order > 0) {
			print_path("added", b.entries[j++].path, NULL);
			differences++;
		} else {
			describe_change(&a.entries[i], &b.entries[j], change,
					sizeof(change));
			if (change[0]) {
				print_path("changed", a.entries[i].path,
					   change);
				differences++;
			}
			i++;
			j++;
		}
	}
	manifest_free(&a);
	manifest_free(&b);
	if (fflush(stdout) != 0)
		return 2;
	return differences ? 1 : 0;
}
