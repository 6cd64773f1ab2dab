#ifndef GREET_H
#define GREET_H

#include <stddef.h>
#include <stdint.h>

/* Writes "Hello, NAME!" into buf (NUL-terminated, truncated to fit).
 * Returns the length the full greeting would have. */
size_t greet_format(char *buf, size_t cap, const char *name);

/* A small, stable checksum (FNV-1a, 32 bits) of a NUL-terminated string. */
uint32_t greet_checksum(const char *s);

#endif
