/* Unit tests: the manifest's line format and escaping (fs/manifest.c). */
#include "canonfs/manifest.h"
#include "check.h"

#include <openssl/evp.h>
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

/* manifest_read of a manifest with these entry lines and the root digest
 * that matches them: what is refused is refused for its entries. Returns
 * manifest_read's result; err gets its message. */
static int read_lines(const char *const *lines, char *err, size_t err_size)
{
	unsigned char root[32];
	char *text = NULL, hex_root[65];
	size_t text_size = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	struct manifest m;
	FILE *out = open_memstream(&text, &text_size), *in;
	int rc;

	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	fprintf(out, "canonfs-manifest 1\n");
	for (; *lines; lines++) {
		fprintf(out, "%s\n", *lines);
		EVP_DigestUpdate(ctx, *lines, strlen(*lines));
		EVP_DigestUpdate(ctx, "\n", 1);
	}
	EVP_DigestFinal_ex(ctx, root, NULL);
	EVP_MD_CTX_free(ctx);
	for (int i = 0; i < 32; i++)
		sprintf(hex_root + 2 * i, "%02x", root[i]);
	fprintf(out, "root %s\n", hex_root);
	fclose(out);

	in = fmemopen(text, text_size, "r");
	err[0] = '\0';
	rc = manifest_read(in, "m", &m, err, err_size);
	fclose(in);
	free(text);
	if (rc == 0)
		manifest_free(&m);
	return rc;
}

#define EMPTY_SHA                                                              \
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static void check_entries_are_validated(void)
{
	static const char *const sorted[] = {
		"d 0755 0 - .", "f 0644 0 " EMPTY_SHA " a", "d 0755 0 - b",
		"f 0644 0 " EMPTY_SHA " b/c", NULL};
	static const char *const unsorted[] = {
		"f 0644 0 " EMPTY_SHA " b", "f 0644 0 " EMPTY_SHA " a", NULL};
	static const char *const repeated[] = {
		"f 0644 0 " EMPTY_SHA " a", "f 0644 0 " EMPTY_SHA " a", NULL};
	static const char *const absolute[] = {
		"f 0644 0 " EMPTY_SHA " /etc/hostname", NULL};
	static const char *const climbing[] = {
		"f 0644 0 " EMPTY_SHA " ../../etc/hostname", NULL};
	char err[512];

	CHECK(read_lines(sorted, err, sizeof(err)) == 0);
	CHECK(read_lines(unsorted, err, sizeof(err)) == -1 &&
	      strstr(err, "line 3: 'a' is out of order or repeated"));
	CHECK(read_lines(repeated, err, sizeof(err)) == -1 &&
	      strstr(err, "line 3: 'a' is out of order or repeated"));
	CHECK(read_lines(absolute, err, sizeof(err)) == -1 &&
	      strstr(err, "'/etc/hostname' is not a path inside the tree"));
	CHECK(read_lines(climbing, err, sizeof(err)) == -1 &&
	      strstr(err, "'../../etc/hostname' is not a path inside"));
}

static void check_paths(void)
{
	static const char *const good[] = {".",	  "a",	       "a/b",	"..a",
					   "a..", ".hidden/x", "a/...", "a b"};
	static const char *const bad[] = {"",	  "/",	 "/a",	 "..",
					  "./a",  "a/.", "a/..", "a/../b",
					  "a//b", "a/",	 "../a", "a/./b"};

	for (size_t i = 0; i < sizeof(good) / sizeof(*good); i++)
		CHECK(manifest_path_is_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
		if (manifest_path_is_valid(bad[i]))
			fprintf(stderr, "accepted '%s'\n", bad[i]);
		CHECK(!manifest_path_is_valid(bad[i]));
	}
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

	check_paths();
	check_entries_are_validated();
	return check_summary("manifest");
}
