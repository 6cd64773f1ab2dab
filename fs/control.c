/*
 * control: names and numbers of the control directory (see
 * include/canonfs/control.h). The contents are made in ops.c, which owns
 * the state they report.
 */
#include "canonfs/control.h"

#include "canonfs/canon.h"

#include <string.h>

static const char *const names[CONTROL_COUNT] = {
	[CONTROL_DIR] = CONTROL_DIR_NAME,
	[CONTROL_STATS] = "stats",
	[CONTROL_BARRIER] = "barrier",
	[CONTROL_ENV] = "env",
	[CONTROL_TRACE_START] = "trace-start",
	[CONTROL_TRACE_STOP] = "trace-stop",
	[CONTROL_TRACE_FLUSH] = "trace-flush",
};

enum control_node control_file_by_name(const char *name)
{
	for (int i = CONTROL_DIR + 1; i < CONTROL_COUNT; i++)
		if (strcmp(name, names[i]) == 0)
			return (enum control_node)i;
	return CONTROL_NONE;
}

const char *control_name(int node)
{
	return names[node];
}

uint64_t control_canon_ino(int node)
{
	uint64_t dir = canon_child_ino(CANON_ROOT_INO, CONTROL_DIR_NAME);

	return node == CONTROL_DIR ? dir : canon_child_ino(dir, names[node]);
}
