/*
 * control: the control directory (see include/canonfs/control.h): names
 * and numbers of its files, their contents made at each lookup from the
 * state of the mount, and what reading a trace file does.
 */
#include "canonfs/control.h"

#include "canonfs/canon.h"
#include "canonfs/dir.h"
#include "canonfs/goenv.h"
#include "canonfs/invalidate.h"
#include "canonfs/ops_internal.h"
#include "canonfs/stats.h"
#include "canonfs/trace.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

/* What a control file says, made now. Returns 0 or an errno value. */
static int control_contents(struct canonfs_fs *fs, enum control_node node,
			    char **data, size_t *len)
{
	char text[4096];
	size_t used = 0, host_inodes, watches, listings;
	uint64_t watches_failed;
	unsigned long hashed, cached;

	switch (node) {
	case CONTROL_STATS:
		used = stats_format(&fs->stats, text, sizeof(text));
		inode_table_counts(&fs->inodes, &host_inodes, &watches,
				   &watches_failed, &listings);
		digests_counts(fs->digests, &hashed, &cached);
		snprintf(text + used, sizeof(text) - used,
			 "inodes %zu\nwatches %zu\nwatches-failed %llu\n"
			 "listings %zu\ndigests-hashed %lu\n"
			 "digests-cached %lu\n",
			 host_inodes, watches,
			 (unsigned long long)watches_failed, listings, hashed,
			 cached);
		break;
	case CONTROL_BARRIER:
		invalidator_barrier(fs->inv);
		snprintf(text, sizeof(text), "applied\n");
		break;
	case CONTROL_ENV:
		/* Made fresh each time: the header digest follows the host. */
		return goenv_format(&fs->layout, &fs->sys, fs->opts,
				    fs->digests, data, len);
	/* The trace files act when read (control_act), not here: a stat,
	 * or `ls -l` of the directory, must not start or stop anything. */
	case CONTROL_TRACE_START:
		if (!fs->trace.base)
			return ENOENT; /* not a tracing mount */
		snprintf(text, sizeof(text), "started\n");
		break;
	case CONTROL_TRACE_STOP:
		if (!fs->trace.base)
			return ENOENT;
		snprintf(text, sizeof(text), "stopped\n");
		break;
	case CONTROL_TRACE_FLUSH:
		if (!fs->trace.base)
			return ENOENT;
		snprintf(text, sizeof(text), "flushed %s\n", fs->trace.base);
		break;
	default:
		return ENOENT;
	}
	*len = strlen(text);
	*data = strdup(text);
	return *data ? 0 : ENOMEM;
}

static pthread_mutex_t control_act_lock = PTHREAD_MUTEX_INITIALIZER;

/* What reading a trace file does, at the first read of the inode a lookup
 * made (each `cat` looks the file up again). Returns 0 or an errno value. */
int control_act(struct canonfs_fs *fs, struct inode *inode)
{
	int err = 0;

	/* Once per inode; every read gets the outcome (the kernel reads
	 * again after an error, which must not then pass for success). A
	 * lock of its own: the trace takes its own within. */
	pthread_mutex_lock(&control_act_lock);
	if (inode->control_acted) {
		err = inode->control_err;
		pthread_mutex_unlock(&control_act_lock);
		return err;
	}
	inode->control_acted = true;
	switch (inode->control) {
	case CONTROL_TRACE_START:
		trace_start(&fs->trace);
		break;
	case CONTROL_TRACE_STOP:
		trace_stop(&fs->trace);
		break;
	case CONTROL_TRACE_FLUSH:
		err = trace_flush(&fs->trace) ? EIO : 0;
		break;
	default:
		break;
	}
	inode->control_err = err;
	pthread_mutex_unlock(&control_act_lock);
	/* Reads served from the kernel's cache would go unseen. */
	if (inode->control == CONTROL_TRACE_START)
		invalidator_forget_all(fs->inv);
	return err;
}

/*
 * A control file is a new inode at every lookup, with its contents made
 * then and a zero timeout: the kernel can cache nothing stale, with or
 * without OPEN requests, and a lookup of "barrier" is the barrier. The
 * trace files act at their first read instead (control_act).
 */
int control_lookup_file(struct canonfs_fs *fs, const char *name,
			struct fuse_entry_param *e)
{
	enum control_node node = control_file_by_name(name);
	struct inode *inode;
	size_t len;
	char *data;
	int err;

	if (node == CONTROL_NONE)
		return ENOENT;
	if ((err = control_contents(fs, node, &data, &len)))
		return err;
	inode = inode_new_control_file(&fs->inodes, node, data, len);
	if (!inode)
		return ENOMEM;
	ops_inode_attr(fs, inode, &e->attr);
	e->ino = inode_nodeid(&fs->inodes, inode);
	e->attr_timeout = 0;
	e->entry_timeout = 0;
	return 0;
}

/* The control files; the trace ones only on a tracing mount. */
int control_listing(struct dir_listing *listing, bool tracing)
{
	listing->n_entries = 0;
	listing->entries = calloc(CONTROL_COUNT, sizeof(*listing->entries));
	if (!listing->entries)
		return ENOMEM;
	for (int i = CONTROL_DIR + 1; i < CONTROL_COUNT; i++) {
		struct dir_entry *entry = &listing->entries[listing->n_entries];

		if (!tracing && i >= CONTROL_TRACE_START)
			continue;
		entry->name = strdup(control_name(i));
		if (!entry->name) {
			dir_listing_free(listing);
			return ENOMEM;
		}
		entry->d_type = DT_REG;
		listing->n_entries++;
	}
	dir_listing_sort(listing); /* like every listing of the view */
	return 0;
}
