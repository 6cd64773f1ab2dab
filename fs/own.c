/*
 * own: the daemon's own directory changes (see include/canonfs/own.h).
 */
#include "canonfs/own.h"

#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>

#define OWN_ENTRY_KINDS (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)
#define OWN_LIFETIME_NS (2 * 1000000000LL)

void own_init(struct own_changes *own)
{
	memset(own, 0, sizeof(*own));
	pthread_mutex_init(&own->lock, NULL);
}

void own_destroy(struct own_changes *own)
{
	for (unsigned i = 0; i < OWN_RING_SIZE; i++)
		free(own->ring[i].name);
	pthread_mutex_destroy(&own->lock);
}

static void record(struct own_changes *own, uint64_t dir_dev, uint64_t dir_ino,
		   const char *name, uint32_t kind, uint32_t mode, int64_t size,
		   const struct stat *times, bool any_ctime)
{
	struct own_change *slot;
	char *copy = strdup(name);

	if (!copy)
		return; /* not recorded: an extra invalidation, nothing more */
	pthread_mutex_lock(&own->lock);
	slot = &own->ring[own->next];
	own->next = (own->next + 1) % OWN_RING_SIZE;
	free(slot->name);
	slot->dir_dev = dir_dev;
	slot->dir_ino = dir_ino;
	slot->kind = kind;
	slot->mode = mode;
	slot->size = size;
	slot->with_times = times != NULL;
	slot->any_ctime = any_ctime;
	if (times) {
		slot->atime = times->st_atim;
		slot->mtime = times->st_mtim;
		slot->ctime = times->st_ctim;
	}
	slot->name = copy;
	clock_gettime(CLOCK_MONOTONIC, &slot->when);
	pthread_mutex_unlock(&own->lock);
}

static int64_t age_ns(const struct timespec *then, const struct timespec *now)
{
	return (int64_t)(now->tv_sec - then->tv_sec) * 1000000000LL +
	       (now->tv_nsec - then->tv_nsec);
}

void own_record(struct own_changes *own, uint64_t dir_dev, uint64_t dir_ino,
		const char *name, uint32_t kind)
{
	record(own, dir_dev, dir_ino, name, kind, 0, 0, NULL, false);
}

void own_record_attr(struct own_changes *own, uint64_t dev, uint64_t ino,
		     uint32_t mode, int64_t size, const struct stat *times)
{
	record(own, dev, ino, "", IN_ATTRIB, mode, size, times, false);
}

void own_record_link_count(struct own_changes *own, uint64_t dev, uint64_t ino,
			   uint32_t mode, const struct stat *before)
{
	record(own, dev, ino, "", IN_ATTRIB, mode, before->st_size, before,
	       true);
}

static bool same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/* Whether record c's times, if it has any, are still st's. */
static bool times_hold(const struct own_change *c, const struct stat *st)
{
	return !c->with_times ||
	       (st && same_time(&c->atime, &st->st_atim) &&
		same_time(&c->mtime, &st->st_mtim) &&
		(c->any_ctime || same_time(&c->ctime, &st->st_ctim)));
}

/* Find, free and report the first matching record; with check_age, an
 * expired one does not count. */
static bool take(struct own_changes *own, uint64_t dir_dev, uint64_t dir_ino,
		 const char *name, uint32_t kind, uint32_t mode, int64_t size,
		 const struct stat *st, bool check_age)
{
	struct timespec now;
	bool found = false;

	kind &= OWN_ENTRY_KINDS | IN_ATTRIB;
	if (!kind)
		return false;
	clock_gettime(CLOCK_MONOTONIC, &now);
	pthread_mutex_lock(&own->lock);
	for (unsigned i = 0; i < OWN_RING_SIZE && !found; i++) {
		struct own_change *c = &own->ring[i];

		if (!c->name || c->kind != kind || c->dir_ino != dir_ino ||
		    c->dir_dev != dir_dev || strcmp(c->name, name) != 0)
			continue;
		if (kind == IN_ATTRIB &&
		    (c->mode != mode || c->size != size || !times_hold(c, st)))
			continue;
		found = !check_age || age_ns(&c->when, &now) < OWN_LIFETIME_NS;
		/* Used up, or expired: either way it goes. */
		free(c->name);
		c->name = NULL;
	}
	pthread_mutex_unlock(&own->lock);
	return found;
}

bool own_consume(struct own_changes *own, uint64_t dir_dev, uint64_t dir_ino,
		 const char *name, uint32_t kind)
{
	if (kind & IN_ATTRIB) /* only through own_consume_attr */
		return false;
	return take(own, dir_dev, dir_ino, name, kind, 0, 0, NULL, true);
}

bool own_consume_attr(struct own_changes *own, uint64_t dev, uint64_t ino,
		      uint32_t mode, int64_t size, const struct stat *st)
{
	return take(own, dev, ino, "", IN_ATTRIB, mode, size, st, true);
}

void own_cancel(struct own_changes *own, uint64_t dir_dev, uint64_t dir_ino,
		const char *name, uint32_t kind)
{
	take(own, dir_dev, dir_ino, name, kind, 0, 0, NULL, false);
}

static bool same_state(const struct own_write_state *w, const struct stat *st)
{
	return w->known && w->ctime.tv_sec == st->st_ctim.tv_sec &&
	       w->ctime.tv_nsec == st->st_ctim.tv_nsec &&
	       w->size == (int64_t)st->st_size;
}

static void set_state(struct own_write_state *w, const struct stat *st)
{
	w->ctime = st->st_ctim;
	w->size = (int64_t)st->st_size;
	w->known = true;
}

void own_write_init(struct own_write_state *w, const struct stat *st)
{
	set_state(w, st);
	w->foreign = false;
	w->in_flight = 0;
}

/* st's ctime against the one w holds: <0 before, 0 equal, >0 after. */
static int ctime_cmp(const struct stat *st, const struct own_write_state *w)
{
	if (st->st_ctim.tv_sec != w->ctime.tv_sec)
		return st->st_ctim.tv_sec < w->ctime.tv_sec ? -1 : 1;
	if (st->st_ctim.tv_nsec != w->ctime.tv_nsec)
		return st->st_ctim.tv_nsec < w->ctime.tv_nsec ? -1 : 1;
	return 0;
}

/* Whether st's ctime is before the one w holds: st was taken before a
 * write of ours that has recorded its state since. */
static bool stat_predates(const struct stat *st,
			  const struct own_write_state *w)
{
	return w->known && ctime_cmp(st, w) < 0;
}

bool own_write_before(struct own_changes *own, struct own_write_state *w,
		      const struct stat *before, bool last_try)
{
	bool taken = true;

	pthread_mutex_lock(&own->lock);
	/* Another write of ours under way explains a difference; one that
	 * finished between our stat and this lock does too, but a fresh stat
	 * tells it from a host change that may have followed it. */
	if (!same_state(w, before) && w->in_flight == 0) {
		if (!stat_predates(before, w))
			w->foreign = true;
		else if (!last_try)
			taken = false;
	}
	if (taken)
		w->in_flight++;
	pthread_mutex_unlock(&own->lock);
	return taken;
}

/* Whether stat st is older than the state w holds. Within one ctime tick
 * (coarse timestamps, before Linux 6.13) concurrent writes share a ctime:
 * the larger size is taken as the later one, as appends make it. */
static bool older_than(const struct stat *st, const struct own_write_state *w)
{
	int c = ctime_cmp(st, w);

	return c != 0 ? c < 0 : (int64_t)st->st_size < w->size;
}

void own_write_after(struct own_changes *own, struct own_write_state *w,
		     const struct stat *after)
{
	pthread_mutex_lock(&own->lock);
	/* Concurrent writes take their stats in one order and may get here
	 * in the other: the state is the newest (ctimes only grow). An older
	 * one would make the next write look foreign, and its event would
	 * drop the pages under writes still in flight. */
	if (after && !(w->known && older_than(after, w)))
		set_state(w, after);
	if (w->in_flight > 0)
		w->in_flight--;
	pthread_mutex_unlock(&own->lock);
}

void own_write_known(struct own_changes *own, struct own_write_state *w,
		     const struct stat *now)
{
	pthread_mutex_lock(&own->lock);
	if (!(w->known && older_than(now, w)))
		set_state(w, now);
	w->foreign = false;
	pthread_mutex_unlock(&own->lock);
}

void own_write_foreign(struct own_changes *own, struct own_write_state *w)
{
	pthread_mutex_lock(&own->lock);
	w->foreign = true;
	pthread_mutex_unlock(&own->lock);
}

bool own_consume_write(struct own_changes *own, struct own_write_state *w,
		       const struct stat *now)
{
	bool ours;

	pthread_mutex_lock(&own->lock);
	/* A stat from before a write of ours that has finished since: that
	 * write's own event follows and is checked against its state. */
	ours = !w->foreign && (w->in_flight > 0 || same_state(w, now) ||
			       stat_predates(now, w));
	if (!ours) {
		set_state(w, now);
		w->foreign = false;
	}
	pthread_mutex_unlock(&own->lock);
	return ours;
}
