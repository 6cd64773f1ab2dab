/* Unit tests: lexical path arithmetic (fs/path.c). */
#include "canonfs/path.h"
#include "check.h"

#include <errno.h>
#include <limits.h>

static const char *clean(const char *in)
{
	static char out[PATH_MAX];

	if (path_clean(in, out, sizeof(out)))
		return "<error>";
	return out;
}

static const char *relative(const char *from, const char *to)
{
	static char out[PATH_MAX];

	if (path_relative(from, to, out, sizeof(out)))
		return "<error>";
	return out;
}

int main(void)
{
	char small[4], out[PATH_MAX];

	/* The cases of Go's filepath.Clean. */
	CHECK_STR(clean(""), ".");
	CHECK_STR(clean("."), ".");
	CHECK_STR(clean("/"), "/");
	CHECK_STR(clean("//"), "/");
	CHECK_STR(clean("abc"), "abc");
	CHECK_STR(clean("abc/def/"), "abc/def");
	CHECK_STR(clean("a//b//c"), "a/b/c");
	CHECK_STR(clean("./dir//../dir/file"), "dir/file");
	CHECK_STR(clean("abc/./def"), "abc/def");
	CHECK_STR(clean("abc/../def"), "def");
	CHECK_STR(clean("abc/.."), ".");
	CHECK_STR(clean("../abc"), "../abc");
	CHECK_STR(clean("../../abc/../x"), "../../x");
	CHECK_STR(clean("abc/../../x"), "../x");
	CHECK_STR(clean("/../abc"), "/abc");
	CHECK_STR(clean("/abc/../../x"), "/x");
	CHECK_STR(clean("/a/b/c/../../d"), "/a/d");
	CHECK_STR(clean("a/b/../../.."), "..");
	CHECK(path_clean("abcdef", small, sizeof(small)) == ENAMETOOLONG);

	CHECK(path_under("/src/a", "/src") != NULL);
	CHECK_STR(path_under("/src/a", "/src"), "/a");
	CHECK_STR(path_under("/src", "/src"), "");
	CHECK(path_under("/srcx", "/src") == NULL);
	CHECK(path_under("/sr", "/src") == NULL);
	CHECK_STR(path_under("/x/y", "/"), "/x/y");

	CHECK_STR(relative("/src/a", "/src/b/f"), "../b/f");
	CHECK_STR(relative("/src", "/src/b/f"), "b/f");
	CHECK_STR(relative("/src/a/b", "/src"), "../..");
	CHECK_STR(relative("/src", "/src"), ".");
	CHECK_STR(relative("/src/ab", "/src/a"), "../a");
	CHECK_STR(relative("/src/a", "/src/ab"), "../ab");
	CHECK_STR(relative("/", "/src/x"), "src/x");
	CHECK_STR(relative("/src/x", "/sys/y"), "../../sys/y");

	CHECK(path_join_clean("/src/a", "../b/./c", out, sizeof(out)) == 0);
	CHECK_STR(out, "/src/b/c");
	CHECK(path_dirname("/src/a/link", out, sizeof(out)) == 0);
	CHECK_STR(out, "/src/a");
	CHECK(path_dirname("/src", out, sizeof(out)) == 0);
	CHECK_STR(out, "/");

	/* No byte written without room (found by fuzz_path). */
	small[0] = 'x';
	CHECK(path_relative("/src", "/src/a", small, 0) == ENAMETOOLONG);
	CHECK(small[0] == 'x');
	CHECK(path_dirname("a", small, 1) == ENAMETOOLONG);

	CHECK(path_is_name("file"));
	CHECK(path_is_name("..."));
	CHECK(!path_is_name(""));
	CHECK(!path_is_name("."));
	CHECK(!path_is_name(".."));
	CHECK(!path_is_name("a/b"));
	return check_summary("path");
}
