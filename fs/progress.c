/*
 * progress: a status line redrawn in place (see include/canonfs/progress.h).
 */
#include "canonfs/progress.h"

#include <string.h>
#include <time.h>

#define REDRAW_MS 250

/* A byte count for people: KiB, MiB or GiB with one decimal. */
static void format_bytes(uint64_t n, char *out, size_t out_size)
{
	static const char *const units[] = {"KiB", "MiB", "GiB", "TiB"};
	double value = (double)n / 1024;
	int unit = 0;

	while (value >= 1024 && unit < 3) {
		value /= 1024;
		unit++;
	}
	snprintf(out, out_size, "%.1f %s", value, units[unit]);
}

static void draw(struct progress *p)
{
	char line[160], done[32], total[32];
	int len;

	if (!atomic_load(&p->hashing)) {
		len = snprintf(line, sizeof(line),
			       "canonfs: listing: %zu entries",
			       atomic_load(&p->entries));
	} else {
		format_bytes(atomic_load(&p->bytes_done), done, sizeof(done));
		format_bytes(atomic_load(&p->bytes), total, sizeof(total));
		len = snprintf(line, sizeof(line),
			       "canonfs: hashing: %zu/%zu files, %s/%s",
			       atomic_load(&p->files_done),
			       atomic_load(&p->files), done, total);
	}
	/* Blanks over what a longer line before left on screen. */
	fprintf(p->out, "\r%s%*s", line, p->drawn > len ? p->drawn - len : 0,
		"");
	fflush(p->out);
	p->drawn = len;
}

static void *draw_thread(void *arg)
{
	struct progress *p = arg;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		next.tv_nsec += REDRAW_MS * 1000000L;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_sec++;
			next.tv_nsec -= 1000000000L;
		}
		while (!p->stop &&
		       pthread_cond_timedwait(&p->wake, &p->lock, &next) == 0)
			;
		if (p->stop)
			break;
		draw(p);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

void progress_start(struct progress *p, FILE *out)
{
	pthread_condattr_t attr;

	memset(p, 0, sizeof(*p));
	if (!out)
		return;
	pthread_mutex_init(&p->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&p->wake, &attr);
	pthread_condattr_destroy(&attr);
	p->out = out;
	if (pthread_create(&p->thread, NULL, draw_thread, p) != 0) {
		pthread_cond_destroy(&p->wake);
		pthread_mutex_destroy(&p->lock);
		p->out = NULL;
	}
}

void progress_stop(struct progress *p)
{
	if (!p->out)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	pthread_cond_destroy(&p->wake);
	pthread_mutex_destroy(&p->lock);
	if (p->drawn) {
		fprintf(p->out, "\r%*s\r", p->drawn, "");
		fflush(p->out);
	}
	p->out = NULL;
}
