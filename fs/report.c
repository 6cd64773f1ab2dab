/*
 * report: the user-facing error line (see include/canonfs/report.h).
 */
#include "canonfs/report.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <syslog.h>

/* Set once a daemon has detached: its stderr is /dev/null from then on. */
static bool to_syslog;

void report_to_syslog(void)
{
	openlog("canonfs", LOG_PID, LOG_DAEMON);
	to_syslog = true;
}

void report_error(const char *fmt, ...)
{
	va_list ap;

	fputs("canonfs: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (to_syslog) {
		va_start(ap, fmt);
		vsyslog(LOG_ERR, fmt, ap);
		va_end(ap);
	}
}
