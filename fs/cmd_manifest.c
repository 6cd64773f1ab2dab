/*
 * cmd_manifest: `canonfs manifest` (see include/canonfs/cmd_manifest.h).
 */
#include "canonfs/cmd_manifest.h"

#include "canonfs/audit.h"
#include "canonfs/report.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

int cmd_manifest_main(int argc, char **argv)
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
	if (audit_load(path, &m))
		return 2;
	if (json)
		manifest_write_json(&m, stdout);
	else
		manifest_write_text(&m, stdout);
	manifest_free(&m);
	return fflush(stdout) == 0 ? 0 : 2;
}
