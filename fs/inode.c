/*
 * inode: the inode table (see include/canonfs/inode.h).
 */
#include "canonfs/inode.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FUSE_USE_VERSION 314
#include <fuse_lowlevel.h>

static struct inode *new_inode(void)
{
	struct inode *inode = calloc(1, sizeof(*inode));

	if (inode)
		inode->host_fd = -1;
	return inode;
}

int inode_table_init(struct inode_table *table, const struct layout *layout)
{
	memset(table, 0, sizeof(*table));
	pthread_mutex_init(&table->lock, NULL);
	table->synthetic = calloc(layout->n_dirs, sizeof(*table->synthetic));
	table->mirror_roots = calloc(layout->n_mirrors,
				     sizeof(*table->mirror_roots));
	if (!table->synthetic || !table->mirror_roots)
		return ENOMEM;

	for (size_t i = 0; i < layout->n_dirs; i++) {
		struct inode *inode = new_inode();

		if (!inode)
			return ENOMEM;
		inode->synthetic = true;
		inode->pinned = true;
		inode->synth_dir = (unsigned)i;
		inode->host_type = S_IFDIR;
		inode->canon_ino = layout->dirs[i].canon_ino;
		inode->parent_canon_ino = layout->dirs[i].parent_canon_ino;
		table->synthetic[table->n_synthetic++] = inode;
	}

	for (size_t i = 0; i < layout->n_mirrors; i++) {
		const struct layout_mirror *m = &layout->mirrors[i];
		struct inode *inode = new_inode();
		struct stat st;

		if (!inode)
			return ENOMEM;
		table->mirror_roots[table->n_mirrors++] = inode;
		if (fstat(m->root_fd, &st) == -1)
			return errno;
		/* The table owns its own descriptor; the layout keeps its. */
		inode->host_fd = fcntl(m->root_fd, F_DUPFD_CLOEXEC, 0);
		if (inode->host_fd < 0)
			return errno;
		inode->pinned = true;
		inode->mirror = (unsigned)i;
		inode->host_type = S_IFDIR;
		inode->canon_ino = m->canon_ino;
		inode->parent_canon_ino = m->parent_canon_ino;
		inode->key = (struct inode_key){ .dev = st.st_dev,
						 .ino = st.st_ino,
						 .mirror = (uint32_t)i };
		HASH_ADD(hh, table->by_key, key, sizeof(inode->key), inode);
	}
	return 0;
}

static void free_inode(struct inode *inode)
{
	if (inode->host_fd >= 0)
		close(inode->host_fd);
	free(inode);
}

void inode_table_destroy(struct inode_table *table)
{
	struct inode *inode, *tmp;

	HASH_ITER(hh, table->by_key, inode, tmp)
	{
		HASH_DEL(table->by_key, inode);
		free_inode(inode);
	}
	for (size_t i = 0; i < table->n_synthetic; i++)
		free_inode(table->synthetic[i]);
	free(table->synthetic);
	free(table->mirror_roots);
	pthread_mutex_destroy(&table->lock);
	memset(table, 0, sizeof(*table));
}

struct inode *inode_from_nodeid(struct inode_table *table, uint64_t nodeid)
{
	if (nodeid == FUSE_ROOT_ID)
		return table->synthetic[0];
	return (struct inode *)(uintptr_t)nodeid;
}

uint64_t inode_nodeid(const struct inode_table *table,
		      const struct inode *inode)
{
	if (inode == table->synthetic[0])
		return FUSE_ROOT_ID;
	return (uint64_t)(uintptr_t)inode;
}

struct inode *inode_get(struct inode_table *table, unsigned mirror,
			const struct stat *host, int host_fd,
			uint64_t canon_ino, uint64_t parent_canon_ino)
{
	struct inode_key key = { .dev = host->st_dev,
				 .ino = host->st_ino,
				 .mirror = mirror };
	struct inode *inode;

	pthread_mutex_lock(&table->lock);
	HASH_FIND(hh, table->by_key, &key, sizeof(key), inode);
	if (inode) {
		inode->lookup_count++;
		pthread_mutex_unlock(&table->lock);
		close(host_fd);
		return inode;
	}

	inode = new_inode();
	if (!inode) {
		pthread_mutex_unlock(&table->lock);
		close(host_fd);
		return NULL;
	}
	inode->key = key;
	inode->mirror = mirror;
	inode->host_fd = host_fd;
	inode->host_type = host->st_mode & S_IFMT;
	inode->canon_ino = canon_ino;
	inode->parent_canon_ino = parent_canon_ino;
	inode->lookup_count = 1;
	HASH_ADD(hh, table->by_key, key, sizeof(inode->key), inode);
	table->n_host++;
	pthread_mutex_unlock(&table->lock);
	return inode;
}

void inode_forget(struct inode_table *table, struct inode *inode,
		  uint64_t nlookup)
{
	if (inode->synthetic)
		return;
	pthread_mutex_lock(&table->lock);
	inode->lookup_count -= nlookup < inode->lookup_count
				       ? nlookup
				       : inode->lookup_count;
	if (inode->lookup_count == 0 && !inode->pinned) {
		HASH_DEL(table->by_key, inode);
		table->n_host--;
		pthread_mutex_unlock(&table->lock);
		free_inode(inode);
		return;
	}
	pthread_mutex_unlock(&table->lock);
}
