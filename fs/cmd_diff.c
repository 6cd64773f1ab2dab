/*
 * cmd_diff: `canonfs diff` (see include/canonfs/cmd_diff.h).
 */
#include "canonfs/cmd_diff.h"

#include "canonfs/audit.h"
#include "canonfs/report.h"

#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/*
 * Whether dir has the top-level directories the inputs lie in (src, sys,
 * goroot...; said on stderr when not). Without it every input would be
 * reported removed: an unmounted mountpoint, or SRCDIR given for the
 * mount, is a wrong directory, not a changed tree.
 */
static bool has_traced_layout(const char *dir, const struct manifest *a)
{
	char missing[512] = "", path[PATH_MAX + NAME_MAX];
	size_t prev_len = 0, n_missing = 0;
	const char *prev = NULL;
	struct stat st;

	/* Sorted by path bytes: the paths under one top-level name are
	 * together, after the name itself. */
	for (size_t i = 0; i < a->n_entries; i++) {
		const char *p = a->entries[i].path;
		size_t len = strcspn(p, "/");

		if (!p[len] ||
		    (prev && len == prev_len && memcmp(p, prev, len) == 0))
			continue;
		prev = p;
		prev_len = len;
		snprintf(path, sizeof(path), "%s/%.*s", dir, (int)len, p);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
			continue;
		if (n_missing++ < 4)
			snprintf(missing + strlen(missing),
				 sizeof(missing) - strlen(missing), "%s%.*s",
				 n_missing > 1 ? ", " : "", (int)len, p);
	}
	if (n_missing)
		report_error("diff --inputs: '%s' does not have the trace's "
			     "layout: no %s%s in it (give the mount the trace "
			     "was recorded in, mounted again with the same "
			     "options; not its SRCDIR)",
			     dir, missing, n_missing > 4 ? ", ..." : "");
	return n_missing == 0;
}

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
	if (!has_traced_layout(dir, a))
		return -1;
	if (manifest_describe_paths(dir, a, b, err, sizeof(err))) {
		report_error("%s", err);
		return -1;
	}
	return 0;
}

int cmd_diff_main(int argc, char **argv)
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
	if (audit_load(argv[1], &a))
		return 2;
	if (inputs ? load_inputs(argv[2], &a, &b) : audit_load(argv[2], &b)) {
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
