/*
 * Unit tests: telling the daemon's own writes from the host's (fs/own.c).
 * An IN_MODIFY judged foreign drops the file's pages; under writes still
 * in flight that lets a concurrent read cache old bytes over new ones, so
 * every "ours" below is a page cache that stays right.
 */
#include "canonfs/own.h"
#include "check.h"

#include <sys/stat.h>

/* A host stat with this ctime and size. */
static struct stat at(long sec, long nsec, long size)
{
	struct stat st = {0};

	st.st_ctim.tv_sec = sec;
	st.st_ctim.tv_nsec = nsec;
	st.st_size = size;
	return st;
}

/* One write of ours, alone: before, after, then its event. */
static void one_write(struct own_changes *own, struct own_write_state *w,
		      struct stat before, struct stat after)
{
	CHECK(own_write_before(own, w, &before, false));
	own_write_after(own, w, &after);
}

int main(void)
{
	struct own_changes own;
	struct own_write_state w;
	struct stat s0 = at(100, 0, 4096), s1 = at(100, 10, 4096),
		    s2 = at(100, 20, 4096), s3 = at(100, 30, 4096);

	own_init(&own);

	/* A write of ours, then its event: ours. */
	own_write_init(&w, &s0);
	one_write(&own, &w, s0, s1);
	CHECK(own_consume_write(&own, &w, &s1));

	/* A host change, then its event: foreign, and the new state is
	 * known from then on. */
	CHECK(!own_consume_write(&own, &w, &s2));
	one_write(&own, &w, s2, s3);
	CHECK(own_consume_write(&own, &w, &s3));

	/* A host change just before one of our writes: the write sees it,
	 * and the merged event drops the pages. */
	own_write_init(&w, &s0);
	one_write(&own, &w, s1, s2);
	CHECK(!own_consume_write(&own, &w, &s2));

	/* An event read while one of our writes is in flight: ours. */
	own_write_init(&w, &s0);
	CHECK(own_write_before(&own, &w, &s0, false));
	CHECK(own_consume_write(&own, &w, &s1));
	own_write_after(&own, &w, &s1);

	/*
	 * Two concurrent writes whose after-stats arrive in the other order:
	 * A stats s1, C stats s2, C records first, then A. The known state
	 * must stay the newest, s2, or the next write (which finds s2) looks
	 * foreign with no write in flight to excuse it.
	 */
	own_write_init(&w, &s0);
	CHECK(own_write_before(&own, &w, &s0, false)); /* A */
	CHECK(own_write_before(&own, &w, &s0, false)); /* C */
	own_write_after(&own, &w, &s2);		       /* C, the newer */
	own_write_after(&own, &w, &s1);		       /* A, the older */
	CHECK(own_consume_write(&own, &w, &s2));
	one_write(&own, &w, s2, s3);
	CHECK(own_consume_write(&own, &w, &s3));

	/* The same, with coarse ctimes: two appends in one tick share the
	 * ctime, and the larger size is the later state. */
	{
		struct stat a = at(200, 0, 100), c = at(200, 0, 200),
			    next = at(200, 0, 300);

		own_write_init(&w, &s0);
		CHECK(own_write_before(&own, &w, &s0, false));
		CHECK(own_write_before(&own, &w, &s0, false));
		own_write_after(&own, &w, &c);
		own_write_after(&own, &w, &a);
		CHECK(own_consume_write(&own, &w, &c));
		one_write(&own, &w, c, next);
		CHECK(own_consume_write(&own, &w, &next));
	}

	/*
	 * B takes its stat (s0) before A, then A finishes (s1) before B gets
	 * the lock: B's stat is stale, not a host change. B is asked for a
	 * fresh one, and nothing is marked foreign.
	 */
	own_write_init(&w, &s0);
	one_write(&own, &w, s0, s1); /* A */
	CHECK(!own_write_before(&own, &w, &s0, false));
	CHECK(own_write_before(&own, &w, &s1, false));
	own_write_after(&own, &w, &s2);
	CHECK(own_consume_write(&own, &w, &s1));
	CHECK(own_consume_write(&own, &w, &s2));
	/* A stale stat on the last try is taken as ours. */
	CHECK(own_write_before(&own, &w, &s1, true));
	own_write_after(&own, &w, &s3);
	CHECK(own_consume_write(&own, &w, &s3));

	/* A's fresh stat shows a host change after B: foreign. */
	own_write_init(&w, &s0);
	one_write(&own, &w, s0, s1);
	CHECK(own_write_before(&own, &w, &s2, false));
	own_write_after(&own, &w, &s3);
	CHECK(!own_consume_write(&own, &w, &s3));

	/*
	 * The watcher stats the file for A's event (s1), then B runs whole
	 * (s1 to s2) before the event is judged: the stat predates B, whose
	 * own event follows. Both are ours, and the known state stays s2.
	 */
	own_write_init(&w, &s0);
	one_write(&own, &w, s0, s1); /* A */
	one_write(&own, &w, s1, s2); /* B */
	CHECK(own_consume_write(&own, &w, &s1));
	CHECK(own_consume_write(&own, &w, &s2));
	one_write(&own, &w, s2, s3);
	CHECK(own_consume_write(&own, &w, &s3));

	/* A failed stat after a write keeps the state it had. */
	own_write_init(&w, &s0);
	CHECK(own_write_before(&own, &w, &s0, false));
	own_write_after(&own, &w, NULL);
	CHECK(own_consume_write(&own, &w, &s0));

	/* Attribute records: with times (host times shown), an event is ours
	 * only while every time is still the one recorded. */
	{
		struct stat after = {0}, later;

		after.st_mtim.tv_sec = 2000;
		after.st_ctim.tv_sec = 3000;
		own_record_attr(&own, 1, 7, 0100644, 5, &after);
		CHECK(own_consume_attr(&own, 1, 7, 0100644, 5, &after));
		CHECK(!own_consume_attr(&own, 1, 7, 0100644, 5, &after));
		own_record_attr(&own, 1, 7, 0100644, 5, &after);
		later = after;
		later.st_ctim.tv_nsec = 1; /* a host change behind ours */
		CHECK(!own_consume_attr(&own, 1, 7, 0100644, 5, &later));
		later = after;
		later.st_mtim.tv_sec = 2001;
		CHECK(!own_consume_attr(&own, 1, 7, 0100644, 5, &later));
		CHECK(!own_consume_attr(&own, 1, 7, 0100755, 5, &after));
		CHECK(own_consume_attr(&own, 1, 7, 0100644, 5, &after));
		/* Without times (constant views), mode and size decide. */
		own_record_attr(&own, 1, 8, 0100644, 5, NULL);
		CHECK(own_consume_attr(&own, 1, 8, 0100644, 5, &later));
	}

	/* A link or unlink of ours moves only the ctime: its event is ours.
	 * A host touch or write merged into the same IN_ATTRIB (inotify
	 * merges identical events not yet read) moves the mtime or atime:
	 * not ours, or make would miss the edit. */
	{
		struct stat before = {0}, linked, touched;

		before.st_size = 5;
		before.st_atim.tv_sec = 1000;
		before.st_mtim.tv_sec = 2000;
		before.st_ctim.tv_sec = 3000;
		linked = before;
		linked.st_ctim.tv_sec = 3001;
		own_record_link_count(&own, 1, 9, 0100644, &before);
		CHECK(own_consume_attr(&own, 1, 9, 0100644, 5, &linked));
		touched = linked;
		touched.st_mtim.tv_sec = 2001;
		own_record_link_count(&own, 1, 9, 0100644, &before);
		CHECK(!own_consume_attr(&own, 1, 9, 0100644, 5, &touched));
		touched = linked;
		touched.st_atim.tv_sec = 1001;
		own_record_link_count(&own, 1, 9, 0100644, &before);
		CHECK(!own_consume_attr(&own, 1, 9, 0100644, 5, &touched));
	}

	own_destroy(&own);
	return check_summary("own");
}
