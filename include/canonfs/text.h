/*
 * text: a growing string built by printf-style appends, for the lines
 * canonfs composes (the env file, merged environment values).
 *
 * Ownership: start from `struct text t = {0}`; data is malloc'd and
 * belongs to the caller, who frees it (also after a failure). An append
 * that fails (out of memory) sets failed and leaves data as it was; later
 * appends go on, so one check of failed at the end covers them all.
 */
#ifndef CANONFS_TEXT_H
#define CANONFS_TEXT_H

#include <stdbool.h>
#include <stddef.h>

struct text {
	char *data; /* NUL-terminated once anything was appended */
	size_t len, cap;
	bool failed;
};

/* Append the formatted text. */
void text_add(struct text *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The composed string, now the caller's, or NULL when an append failed
 * (the partial text is freed then). t->len stays valid. */
char *text_take(struct text *t);

#endif
