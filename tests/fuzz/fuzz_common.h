/*
 * fuzz_common: helpers shared by the libFuzzer targets in tests/fuzz/.
 *
 * FUZZ_CHECK aborts with a message when an invariant fails, so libFuzzer
 * reports it as a crash and saves the input. Buffers handed to the code
 * under test are heap blocks of exactly the size announced, so that
 * AddressSanitizer catches a write one byte past out_size.
 */
#ifndef CANONFS_FUZZ_COMMON_H
#define CANONFS_FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FUZZ_CHECK(cond, ...)                                                  \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "\nINVARIANT FAILED %s:%d: %s\n  ",    \
				__FILE__, __LINE__, #cond);                    \
			fprintf(stderr, __VA_ARGS__);                          \
			fputc('\n', stderr);                                   \
			fflush(stderr);                                        \
			abort();                                               \
		}                                                              \
	} while (0)

/* A NUL-terminated heap copy of len bytes (cut at the first NUL, if any,
 * by every C function that reads it). */
static inline char *fuzz_strndup(const uint8_t *data, size_t len)
{
	char *s = malloc(len + 1);

	if (!s)
		abort();
	memcpy(s, data, len);
	s[len] = '\0';
	return s;
}

/*
 * A heap buffer of exactly size bytes, filled with junk so that a missing
 * NUL terminator shows. ASan makes malloc(0) a writable 1-byte block, so a
 * 0-byte buffer is the end of a 1-byte block: any write to it is caught.
 * Free with fuzz_outfree(buf, size).
 */
static inline char *fuzz_outbuf(size_t size)
{
	char *b = malloc(size ? size : 1);

	if (!b)
		abort();
	memset(b, 0xA5, size ? size : 1);
	return size ? b : b + 1;
}

static inline void fuzz_outfree(char *buf, size_t size)
{
	free(size ? buf : buf - 1);
}

/* Whether a buffer of size bytes holds a NUL, i.e. a C string that ends
 * inside it. */
static inline int fuzz_terminated(const char *buf, size_t size)
{
	return size > 0 && memchr(buf, '\0', size) != NULL;
}

/*
 * The smallest output size the targets try. 0 is part of every contract
 * ("returns 0 or ENAMETOOLONG"); build with -DFUZZ_MIN_OUT_SIZE=1 (through
 * FUZZ_CFLAGS of scripts/fuzz.sh) to look past a known out_size 0 bug.
 */
#ifndef FUZZ_MIN_OUT_SIZE
#define FUZZ_MIN_OUT_SIZE 0
#endif

/*
 * An output size chosen from one selector byte, around the size the
 * result needs (needed = strlen(result) + 1): the tiny sizes 0..3, the
 * boundary needed - 1, needed, needed + 1, anything up to 63, or big.
 */
static inline size_t fuzz_pick_size_any(uint8_t sel, size_t needed, size_t big)
{
	switch (sel % 8) {
	case 0:
		return (sel / 8) % 4;
	case 1:
		return needed ? needed - 1 : 0;
	case 2:
		return needed;
	case 3:
		return needed + 1;
	case 4:
		return sel / 8 * 2 % 64;
	default:
		return big;
	}
}

static inline size_t fuzz_pick_size(uint8_t sel, size_t needed, size_t big)
{
	size_t n = fuzz_pick_size_any(sel, needed, big);

	return n < FUZZ_MIN_OUT_SIZE ? FUZZ_MIN_OUT_SIZE : n;
}

#endif
