/*
 * headers: one digest of every system header a mount mirrors, so that
 * Go's cache keys (which never hash the headers cgo compiles against)
 * change when the headers do, and only then: goenv.c writes it into
 * CGO_CPPFLAGS as -DCANONFS_SYSHEADERS=<digest>.
 */
#ifndef CANONFS_HEADERS_H
#define CANONFS_HEADERS_H

#include "canonfs/digests.h"
#include "canonfs/layout.h"

/*
 * The SHA-256 over every mirrored system include directory (the layout's
 * sys mirrors, in the search list's order), walked in byte order: each
 * entry's virtual path, type, canonical mode and content digest (files)
 * or shown target (symlinks). Returns 0 or an errno value.
 */
int headers_digest(const struct layout *layout, struct digest_cache *digests,
		   unsigned char out[32]);

#endif
