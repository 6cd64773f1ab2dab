/*
 * control: the control directory (see include/canonfs/control.h): names
 * and numbers of its files, their contents made at each lookup from the
 * state of the mount, and what reading a trace file does.
 */
#include "canonfs/control.h"

#include "canonfs/canon.h"
#include "canonfs/ccwrap.h"
#include "canonfs/dir.h"
#include "canonfs/goenv.h"
#include "canonfs/invalidate.h"
#include "canonfs/ops_internal.h"
#include "canonfs/stats.h"
#include "canonfs/trace.h"

#include <dirent.h>
#include <openssl/sha.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *const names[CONTROL_COUNT] = {
	[CONTROL_DIR] = CONTROL_DIR_NAME,
	[CONTROL_STATS] = "stats",
	[CONTROL_BARRIER] = "barrier",
	[CONTROL_ENV] = "env",
	[CONTROL_TOOLCHAIN] = "toolchain.cmake",
	[CONTROL_BIN] = "bin",
	[CONTROL_BIN_CC] = "cc",
	[CONTROL_BIN_GCC] = "gcc",
	[CONTROL_BIN_CXX] = "c++",
	[CONTROL_BIN_GXX] = "g++",
	[CONTROL_TRACE_START] = "trace-start",
	[CONTROL_TRACE_STOP] = "trace-stop",
	[CONTROL_TRACE_FLUSH] = "trace-flush",
};

static bool is_compiler(int node)
{
	return node >= CONTROL_BIN_CC && node <= CONTROL_BIN_GXX;
}

static bool is_trace(int node)
{
	return node >= CONTROL_TRACE_START && node <= CONTROL_TRACE_FLUSH;
}

int control_parent(int node)
{
	return is_compiler(node) ? CONTROL_BIN : CONTROL_DIR;
}

enum control_node control_file_by_name(int dir, const char *name)
{
	for (int i = CONTROL_DIR + 1; i < CONTROL_COUNT; i++)
		if (control_parent(i) == dir && strcmp(name, names[i]) == 0)
			return (enum control_node)i;
	return CONTROL_NONE;
}

const char *control_name(int node)
{
	return names[node];
}

uint64_t control_canon_ino(int node)
{
	if (node == CONTROL_DIR)
		return canon_child_ino(CANON_ROOT_INO, CONTROL_DIR_NAME);
	return canon_child_ino(control_canon_ino(control_parent(node)),
			       names[node]);
}

/*
 * The compilers' scripts are made once and kept, so that the kernel may
 * cache their names, attributes and pages: a build looks a compiler up
 * several times per compile (ccache's PATH search, realpath and stat), and
 * each lookup of an uncached name is a round trip. What a script depends
 * on (the PATH directories searched, those of the compiler and its
 * symlinks: ccwrap_watch_fn) is watched; a change there bumps
 * fs->compiler_gen and has the kernel forget what it holds
 * (invalidate.c), and the next use makes the script again. Without
 * watches (-o nowatch, no inotify, a watch that failed) they are what
 * they were before: a new inode at every lookup, with a zero timeout, as
 * for the other control files (the kernel would keep a kept inode's pages
 * with no OPEN to tell it otherwise).
 */
static pthread_mutex_t compiler_lock = PTHREAD_MUTEX_INITIALIZER;

static int watch_entry(const char *dir, const char *name, void *arg)
{
	struct canonfs_fs *fs = arg;

	return invalidator_watch_compiler_entry(fs->inv, dir, name);
}

/* Whether the compilers are watched, and so kept. */
static bool compilers_kept(const struct canonfs_fs *fs)
{
	return fs->inv && fs->inv->compiler_fd >= 0 &&
	       !__atomic_load_n(&fs->compiler_watch_failed, __ATOMIC_ACQUIRE);
}

/* Make inode's script again if the host may have changed it since; with
 * compiler_lock held. Its control_err: 0, or ENOENT when not served. */
static void refresh_locked(struct canonfs_fs *fs, struct inode *inode)
{
	uint64_t gen = __atomic_load_n(&fs->compiler_gen, __ATOMIC_ACQUIRE);
	enum ccwrap_tool tool =
		(enum ccwrap_tool)(inode->control - CONTROL_BIN_CC);
	char *data;
	size_t len;
	int err;

	if (inode->control_gen == gen)
		return;
	inode->control_timed = compilers_kept(fs);
	err = ccwrap_script(&fs->layout, &fs->sys, tool,
			    inode->control_timed ? watch_entry : NULL, fs,
			    &data, &len);
	if (err != 0 && err != ENOENT && inode->control_timed) {
		/* A watch failed: no compiler is kept from now on. */
		__atomic_store_n(&fs->compiler_watch_failed, true,
				 __ATOMIC_RELEASE);
		inode->control_timed = false;
		err = ccwrap_script(&fs->layout, &fs->sys, tool, NULL, NULL,
				    &data, &len);
	}
	/* The generation read before the making: a change meanwhile makes it
	 * again at the next use. Untimed: at every use. */
	inode->control_gen = inode->control_timed ? gen : 0;
	inode->control_err = err == ENOENT ? ENOENT : 0;
	if (err)
		return; /* not served; or out of memory: the old script */
	if (inode->control_data && inode->control_len == len &&
	    memcmp(inode->control_data, data, len) == 0) {
		free(data);
		return;
	}
	free(inode->control_data);
	inode->control_data = data;
	inode->control_len = len;
}

/* For a kept compiler: take compiler_lock and make its script current;
 * true when taken (control_release gives it back). The contents of any
 * other control file are fixed at its lookup. */
static bool control_hold(struct canonfs_fs *fs, struct inode *inode)
{
	if (!is_compiler(inode->control) || !inode->pinned)
		return false;
	pthread_mutex_lock(&compiler_lock);
	refresh_locked(fs, inode);
	return true;
}

static void control_release(bool held)
{
	if (held)
		pthread_mutex_unlock(&compiler_lock);
}

/* Whether the compiler `node` is served now (its script made fresh). */
static bool compiler_served(struct canonfs_fs *fs, int node)
{
	struct inode *inode = fs->inodes.compilers[node - CONTROL_BIN_CC];
	bool held = control_hold(fs, inode);
	bool served = inode->control_err == 0 && inode->control_data;

	control_release(held);
	return served;
}

/* Whether node is there to be listed or looked up on this mount. */
static bool present(struct canonfs_fs *fs, int node)
{
	if (is_trace(node))
		return fs->trace.base != NULL;
	if (node == CONTROL_TOOLCHAIN || node == CONTROL_BIN)
		return compiler_served(fs, CONTROL_BIN_CC);
	if (is_compiler(node)) /* no C++ partner, say */
		return compiler_served(fs, node);
	return true;
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
			 "digests-cached %lu\npassthrough %s\n",
			 host_inodes, watches,
			 (unsigned long long)watches_failed, listings, hashed,
			 cached, passthrough_describe(fs));
		break;
	case CONTROL_BARRIER:
		invalidator_barrier(fs->inv);
		snprintf(text, sizeof(text), "applied\n");
		break;
	case CONTROL_ENV:
		/* Made fresh each time: the header digest follows the host. */
		return goenv_format(&fs->layout, &fs->sys, fs->opts,
				    fs->digests, data, len);
	case CONTROL_TOOLCHAIN:
		return ccwrap_cmake(&fs->layout, &fs->sys, data, len);
	case CONTROL_BIN: /* a directory, when the compilers are not kept */
		text[0] = '\0';
		break;
	case CONTROL_BIN_CC:
	case CONTROL_BIN_GCC:
	case CONTROL_BIN_CXX:
	case CONTROL_BIN_GXX:
		return ccwrap_script(&fs->layout, &fs->sys,
				     (enum ccwrap_tool)(node - CONTROL_BIN_CC),
				     NULL, NULL, data, len);
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
 * made (each `cat` looks the file up again); every read gets the outcome.
 * Returns 0 or an errno value. */
static int control_act(struct canonfs_fs *fs, struct inode *inode)
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
 * trace files act at their first read instead (control_act). The bin
 * directory and its compilers are the table's own, kept (see
 * compiler_lock).
 */
int control_lookup_file(struct canonfs_fs *fs, int dir, const char *name,
			struct fuse_entry_param *e)
{
	enum control_node node = control_file_by_name(dir, name);
	struct inode *inode;
	size_t len;
	char *data;
	int err;

	if (node == CONTROL_NONE || !present(fs, node))
		return ENOENT;
	if ((node == CONTROL_BIN || is_compiler(node)) && compilers_kept(fs)) {
		inode = node == CONTROL_BIN
				? fs->inodes.control_bin
				: fs->inodes.compilers[node - CONTROL_BIN_CC];
		ops_inode_attr(fs, inode, &e->attr);
		e->ino = inode_nodeid(&fs->inodes, inode);
		e->attr_timeout = control_timeout(fs, inode);
		e->entry_timeout = e->attr_timeout;
		return 0;
	}
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

double control_timeout(const struct canonfs_fs *fs, const struct inode *inode)
{
	bool timed;

	if (!inode->pinned) /* made at a lookup */
		return 0;
	if (inode->control == CONTROL_DIR)
		return fs->watched_timeout;
	if (inode->control == CONTROL_BIN) /* its listing is invalidated */
		return compilers_kept(fs) ? fs->watched_timeout : 0;
	pthread_mutex_lock(&compiler_lock);
	timed = inode->control_timed && compilers_kept(fs);
	pthread_mutex_unlock(&compiler_lock);
	return timed ? fs->watched_timeout : 0;
}

/* Size and times of contents data, len. */
static void content_attr(const char *data, size_t len, struct stat *out)
{
	unsigned char sha[SHA256_DIGEST_LENGTH];

	out->st_size = (off_t)len;
	SHA256((const unsigned char *)data, len, sha);
	canon_content_time(sha, &out->st_mtim);
	out->st_ctim = out->st_mtim;
}

void control_fix_attr(struct canonfs_fs *fs, struct inode *inode,
		      struct stat *out)
{
	bool held = control_hold(fs, inode);

	if (is_compiler(inode->control)) {
		out->st_mode = S_IFREG | 0555;
		content_attr(inode->control_data, inode->control_len, out);
	} else if (inode->control == CONTROL_TOOLCHAIN) {
		content_attr(inode->control_data, inode->control_len, out);
	} else {
		out->st_size = (off_t)inode->control_len;
	}
	control_release(held);
}

int control_read(struct canonfs_fs *fs, struct inode *inode, off_t off,
		 size_t size, char **data, size_t *len)
{
	bool held;
	int err = 0;

	*data = NULL;
	*len = 0;
	if (is_trace(inode->control) && (err = control_act(fs, inode)))
		return err;
	held = control_hold(fs, inode);
	if (off >= 0 && (size_t)off < inode->control_len) {
		*len = inode->control_len - (size_t)off < size
			       ? inode->control_len - (size_t)off
			       : size;
		if ((*data = malloc(*len)))
			memcpy(*data, inode->control_data + off, *len);
		else
			err = ENOMEM;
	}
	control_release(held);
	return err;
}

off_t control_size(struct canonfs_fs *fs, struct inode *inode)
{
	bool held = control_hold(fs, inode);
	off_t size = (off_t)inode->control_len;

	control_release(held);
	return size;
}

/* The files of a control directory; the trace ones only on a tracing
 * mount, the compilers where they are served. */
int control_listing(struct canonfs_fs *fs, int dir, struct dir_listing *listing)
{
	listing->n_entries = 0;
	listing->entries = calloc(CONTROL_COUNT, sizeof(*listing->entries));
	if (!listing->entries)
		return ENOMEM;
	for (int i = CONTROL_DIR + 1; i < CONTROL_COUNT; i++) {
		struct dir_entry *entry = &listing->entries[listing->n_entries];

		if (control_parent(i) != dir || !present(fs, i))
			continue;
		entry->name = strdup(control_name(i));
		if (!entry->name) {
			dir_listing_free(listing);
			return ENOMEM;
		}
		entry->d_type = i == CONTROL_BIN ? DT_DIR : DT_REG;
		listing->n_entries++;
	}
	dir_listing_sort(listing); /* like every listing of the view */
	return 0;
}
