/* Unit tests: the manifest's line format and escaping (fs/manifest.c). */
#include "canonfs/manifest.h"
#include "check.h"

#include <stdlib.h>

static void check_round_trip(const char *s)
{
	char *escaped = manifest_escape(s);
	char *back = escaped ? manifest_unescape(escaped) : NULL;

	CHECK(escaped && back && strcmp(back, s) == 0);
	/* Escaped text is one field: no space, no control byte. */
	for (const char *p = escaped; p && *p; p++)
		CHECK(*p > ' ' && *p <= '~');
	free(escaped);
	free(back);
}

int main(void)
{
	char every_byte[256];
	struct manifest_entry e = {0};
	char *line, *s;

	for (int i = 1; i < 256; i++)
		every_byte[i - 1] = (char)i;
	every_byte[255] = '\0';
	check_round_trip(every_byte);
	check_round_trip("plain/path.go");
	check_round_trip("");

	s = manifest_escape("a b\\c\n");
	CHECK_STR(s, "a\\x20b\\x5cc\\x0a");
	free(s);
	CHECK(manifest_unescape("bad\\x2") == NULL);
	CHECK(manifest_unescape("bad\\q20") == NULL);
	CHECK(manifest_unescape("nul\\x00") == NULL);
	CHECK(manifest_unescape("raw space") == NULL);

	e.path = "dir/f.go";
	e.type = 'f';
	e.mode = 0644;
	e.size = 3;
	memset(e.sha256, 0xab, sizeof(e.sha256));
	line = manifest_format_entry(&e);
	CHECK_STR(
		line,
		"f 0644 3 "
		"abababababababababababababababababababababababababababababababab"
		" dir/f.go");
	free(line);

	e.type = 'l';
	e.mode = 0777;
	e.size = 8;
	e.path = "link name";
	e.target = "../x y";
	line = manifest_format_entry(&e);
	CHECK_STR(line, "l 0777 8 - link\\x20name ../x\\x20y");
	free(line);

	e.type = 'd';
	e.mode = 0755;
	e.size = 0;
	e.path = ".";
	e.target = NULL;
	line = manifest_format_entry(&e);
	CHECK_STR(line, "d 0755 0 - .");
	free(line);
	return check_summary("manifest");
}
