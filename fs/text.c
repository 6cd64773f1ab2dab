/*
 * text: a growing string (see include/canonfs/text.h).
 */
#include "canonfs/text.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

void text_add(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->data ? t->data + t->len : NULL,
			      t->data ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if (t->data && t->len + (size_t)n < t->cap) {
			t->len += (size_t)n;
			return;
		}
		char *grown = realloc(t->data, t->cap + (size_t)n + 4096);

		if (!grown) {
			t->failed = true;
			return;
		}
		t->data = grown;
		t->cap += (size_t)n + 4096;
	}
}

char *text_take(struct text *t)
{
	if (t->failed) {
		free(t->data);
		t->data = NULL;
	}
	return t->data;
}
