/*
 * trace_ops: what the FUSE operations record in the trace (trace.h): the
 * glue between an inode and the virtual paths the trace keeps. trace.c
 * itself knows nothing of inodes or requests.
 */
#include "canonfs/ops_internal.h"

#include "canonfs/canon.h"
#include "canonfs/trace.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* Trace an output (created, written, removed) of name in dir, or of the
 * inode itself when name is NULL. */
void trace_change(struct canonfs_fs *fs, const struct inode *inode,
		  const char *name, const char *what)
{
	char path[PATH_MAX];

	if (!trace_active(&fs->trace))
		return;
	if ((name ? ops_child_virt_path(fs, inode, name, path, sizeof(path))
		  : ops_virt_path_of(fs, inode, path, sizeof(path))) == 0)
		trace_output(&fs->trace, what, path);
}

/* The mark of the trace's current epoch in an inode's *_traced fields. */
uint64_t trace_mark(const struct trace *t)
{
	return __atomic_load_n(&t->epoch, __ATOMIC_RELAXED) + 1;
}

/* The file was created, written or truncated through the mount: what is
 * read of it from now on is the build's own output, not an input. */
void trace_made(struct canonfs_fs *fs, struct inode *inode)
{
	if (inode && trace_active(&fs->trace))
		inode->made_traced = trace_mark(&fs->trace);
}

/* The first read of a file since the trace started: record it with its
 * digest (fd -1: an empty one). Later reads of it may come from the page
 * cache, never to us. */
void trace_first_read(struct canonfs_fs *fs, struct inode *inode, int fd)
{
	struct trace *t = &fs->trace;
	uint64_t mark = trace_mark(t);
	const char *all[INODE_LINK_NAMES + 1];
	char path[PATH_MAX], **names = NULL;
	size_t n = 0, k = 0;
	struct stat host;

	if (!trace_active(t) || inode->read_traced == mark ||
	    inode->made_traced == mark)
		return;
	inode->read_traced = mark;
	if (fstat(inode->host_fd, &host) == -1)
		return;
	if (ops_virt_path_of(fs, inode, path, sizeof(path)) == 0)
		all[k++] = path;
	/* Through which name, the kernel hides: under each, hashed once. */
	if (host.st_nlink > 1)
		names = inode_copy_link_names(&fs->inodes, inode, &n);
	for (size_t i = 0; i < n; i++)
		all[k++] = names[i];
	trace_read(t, all, k, fd, canon_mode(host.st_mode) & 07777);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* While tracing, a file with several links looked up by dir/name: one
 * more name its reads are recorded under, now if it was read already. */
void trace_link_name(struct canonfs_fs *fs, struct inode *inode,
		     const struct inode *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat host;
	int fd;

	if (ops_child_virt_path(fs, dir, name, path, sizeof(path)) ||
	    !inode_add_link_name(&fs->inodes, inode, path) ||
	    inode->read_traced != trace_mark(&fs->trace) ||
	    inode->made_traced == trace_mark(&fs->trace))
		return;
	fd = iofd_reopen(fs, inode->host_fd, O_RDONLY | O_CLOEXEC);
	if (fd >= 0 && fstat(fd, &host) == 0)
		trace_read(&fs->trace, (const char *const[]){path}, 1,
			   host.st_size ? fd : -1,
			   canon_mode(host.st_mode) & 07777);
	if (fd >= 0)
		close(fd);
}

/* Nothing is ever read from an empty file (the kernel knows its size): a
 * build that opens one shows only when the kernel looks it up. */
void trace_empty_file(struct canonfs_fs *fs, const struct fuse_entry_param *e)
{
	if (trace_active(&fs->trace) && S_ISREG(e->attr.st_mode) &&
	    e->attr.st_size == 0)
		trace_first_read(fs, inode_from_nodeid(&fs->inodes, e->ino),
				 -1);
}
