/*
 * progress: the status line of a long `canonfs manifest` (or `canonfs
 * diff` of a tree) on a terminal: what was listed, then the files and
 * bytes hashed so far, redrawn in place by a thread of its own at most
 * four times a second, and wiped at the end. A run shorter than a quarter
 * of a second draws nothing.
 *
 * The workers only count (atomics, no lock): the counters are the
 * progress's, updated by the walk and the hashing threads between
 * progress_start and progress_stop. The line is only drawn when out is a
 * terminal (the caller decides: audit.c passes stderr when isatty).
 */
#ifndef CANONFS_PROGRESS_H
#define CANONFS_PROGRESS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct progress {
	atomic_size_t entries;		  /* listed so far */
	atomic_bool hashing;		  /* set once the listing is done */
	atomic_size_t files_done;	  /* files hashed */
	atomic_size_t files;		  /* to hash */
	atomic_uint_least64_t bytes_done; /* read by the hashers */
	atomic_uint_least64_t bytes;	  /* the files' sizes when listed */

	/* The drawing thread's; stop, protected by lock. */
	FILE *out; /* NULL: nothing is drawn, no thread */
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop;
	int drawn; /* length of the line on screen, 0 for none */
};

/* Zero the counters and, when out is not NULL, start drawing to it.
 * Without a thread (it could not start) the counters still work. */
void progress_start(struct progress *p, FILE *out);

/* Stop drawing and wipe the line. */
void progress_stop(struct progress *p);

#endif
