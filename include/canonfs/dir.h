/*
 * dir: directory listings in canonical order.
 *
 * A listing is a snapshot of one directory taken when it is opened:
 * entries sorted by the bytes of their names, whatever order the host
 * filesystem keeps, devices, FIFOs and sockets left out. Offsets handed to
 * the kernel are positions in the snapshot, so they stay valid (telldir,
 * seekdir) for as long as the directory is open.
 */
#ifndef CANONFS_DIR_H
#define CANONFS_DIR_H

#include <stddef.h>
#include <stdint.h>

#include "canonfs/canon.h"
#include "canonfs/layout.h"

struct dir_entry {
	char *name;	      /* owned by the listing */
	unsigned char d_type; /* DT_REG, DT_DIR or DT_LNK */
};

struct dir_listing {
	struct dir_entry *entries; /* sorted by name bytes; owned */
	size_t n_entries;
	size_t n_hidden; /* devices, FIFOs and sockets left out */
};

/* Read the host directory behind an O_PATH descriptor. Returns 0 or an
 * errno value. */
int dir_listing_read_host(int dir_fd, struct dir_listing *out);

/* Into byte order of the names (strcmp), the order every listing starts
 * from. */
void dir_listing_sort(struct dir_listing *listing);

/* The listing of a synthetic directory of the layout. */
int dir_listing_from_layout(const struct layout_dir *dir,
			    struct dir_listing *out);

void dir_listing_free(struct dir_listing *listing);

/* Put a sorted listing in `order`. A shuffle depends only on seed and the
 * directory's inode number (so each directory differs, reproducibly). */
void dir_listing_reorder(struct dir_listing *listing, enum dir_order order,
			 uint64_t seed, uint64_t dir_ino);

/* A listing shared by everyone reading one pass over a directory. */
struct dir_snapshot {
	struct dir_listing listing;
	unsigned refs; /* protected by the owner's lock */
	uint32_t gen;  /* const; in the high bits of the offsets it hands out */
	uint64_t used_ns; /* protected by the owner's lock: last request */
};

#endif
