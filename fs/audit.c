/*
 * audit: what `canonfs manifest` and `canonfs diff` compare (see
 * include/canonfs/audit.h).
 */
#include "canonfs/audit.h"

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
int audit_load(const char *what, struct manifest *m)
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
