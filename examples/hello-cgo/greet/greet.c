#include <stdio.h>
#include <string.h>

#include "greet.h"

size_t greet_format(char *buf, size_t cap, const char *name)
{
	int n = snprintf(buf, cap, "Hello, %s!", name);
	return n < 0 ? 0 : (size_t)n;
}

uint32_t greet_checksum(const char *s)
{
	uint32_t h = 2166136261u;
	size_t len = strlen(s);
	for (size_t i = 0; i < len; i++) {
		h ^= (unsigned char)s[i];
		h *= 16777619u;
	}
	return h;
}
