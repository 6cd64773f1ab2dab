/*
 * report: the user-facing error line, "canonfs: <what>: <why> (<fix>)",
 * shared by the mount, the daemon it becomes and every subcommand.
 */
#ifndef CANONFS_REPORT_H
#define CANONFS_REPORT_H

/* Print "canonfs: <message>" as one line on stderr. */
void report_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* From now on report_error also goes to syslog: for a daemon that has
 * left its terminal, where stderr is /dev/null. */
void report_to_syslog(void);

#endif
