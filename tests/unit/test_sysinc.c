/* Unit tests: system include discovery and naming (fs/sysinc.c). */
#include "canonfs/sysinc.h"
#include "check.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char gcc_cxx_output[] =
	"ignoring nonexistent directory \"/usr/local/include/x86_64-linux-gnu\"\n"
	"#include \"...\" search starts here:\n"
	"#include <...> search starts here:\n"
	" /usr/lib/gcc/x86_64-linux-gnu/12/../../../../include/c++/12\n"
	" /usr/include/x86_64-linux-gnu/c++/12\n"
	" /usr/include/c++/12/backward\n"
	" /usr/lib/gcc/x86_64-linux-gnu/12/include\n"
	" /usr/local/include\n"
	" /usr/include/x86_64-linux-gnu\n"
	" /usr/include\n"
	"End of search list.\n";

static const char *name_of(const char *dir, unsigned pos)
{
	static char name[64];

	sysinc_name_for(dir, pos, name, sizeof(name));
	return name;
}

static const struct sysinc_dir *find(const struct sysinc_list *l,
				     const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->dirs[i].name, name) == 0)
			return &l->dirs[i];
	return NULL;
}

int main(void)
{
	char *dirs[16], err[512], script[] = "/tmp/canonfs-fakecc-XXXXXX";
	struct sysinc_list list;
	const struct sysinc_dir *d;
	size_t n;
	FILE *f;
	int fd;

	/* The block between the markers, cleaned; nothing else. */
	n = sysinc_parse_search_list(gcc_cxx_output, dirs, 16);
	CHECK(n == 7);
	CHECK_STR(dirs[0], "/usr/include/c++/12");
	CHECK_STR(dirs[6], "/usr/include");
	for (size_t i = 0; i < n; i++)
		free(dirs[i]);
	CHECK(sysinc_parse_search_list("no markers here\n", dirs, 16) == 0);
	CHECK(sysinc_parse_search_list(gcc_cxx_output, dirs, 2) == 2);
	free(dirs[0]);
	free(dirs[1]);

	/* Fixed names by role, never by host location or version. */
	CHECK_STR(name_of("/usr/lib/gcc/x86_64-linux-gnu/12/include", 0), "cc");
	CHECK_STR(name_of("/usr/lib/gcc/aarch64-linux-gnu/13/include", 0),
		  "cc");
	CHECK_STR(name_of("/usr/lib/llvm-14/lib/clang/14.0.6/include", 0),
		  "cc");
	CHECK_STR(name_of("/usr/lib/gcc/x86_64-linux-gnu/12/include-fixed", 0),
		  "cc-fixed");
	CHECK_STR(name_of("/usr/include/c++/12", 0), "c++");
	CHECK_STR(name_of("/usr/include/x86_64-linux-gnu/c++/12", 0),
		  "c++-target");
	CHECK_STR(name_of("/usr/include/c++/12/backward", 0), "c++-backward");
	CHECK_STR(name_of("/usr/local/include", 0), "local");
	CHECK_STR(name_of("/usr/include/x86_64-linux-gnu", 0), "target");
	CHECK_STR(name_of("/usr/include", 0), "usr");
	CHECK_STR(name_of("/opt/vendor/include", 5), "dir5");
	/* Below a sysroot, the same roles. */
	CHECK_STR(name_of("/opt/sr/usr/include", 0), "usr");
	CHECK_STR(name_of("/opt/sr/usr/include/aarch64-linux-gnu", 0),
		  "target");
	CHECK_STR(name_of("/opt/sr/usr/local/include", 0), "local");
	CHECK_STR(name_of("/usr/local/include/x86_64-linux-gnu", 0),
		  "local-target");
	CHECK_STR(name_of("/opt/usr/includes", 3), "dir3");

	CHECK(sysinc_valid_name("c++-target") && sysinc_valid_name("my_inc.2"));
	CHECK(!sysinc_valid_name("") && !sysinc_valid_name("..") &&
	      !sysinc_valid_name("a/b") && !sysinc_valid_name("a b"));

	/* Discovery through a stand-in compiler that prints a C list and a
	 * C++ list: merged, each directory once, both orders kept. */
	fd = mkstemp(script);
	CHECK(fd >= 0);
	f = fdopen(fd, "w");
	fprintf(f, "#!/bin/sh\n"
		   "case \"$*\" in *c++*) cxx=1;; esac\n"
		   "{ echo '#include <...> search starts here:'\n"
		   "  [ -n \"$cxx\" ] && echo ' /usr/include/c++/12'\n"
		   "  echo ' /usr/lib/gcc/x86_64-linux-gnu/12/include'\n"
		   "  echo ' /usr/include'\n"
		   "  echo 'End of search list.'; } >&2\n");
	fclose(f);
	chmod(script, 0755);

	CHECK(sysinc_build(&list, script, true, NULL, 0, err, sizeof(err)) ==
	      0);
	CHECK(list.n == 3 && list.compiler_chosen);
	CHECK((d = find(&list, "c++")) && d->langs == SYSINC_CXX &&
	      d->cxx_pos == 0);
	CHECK((d = find(&list, "cc")) && d->langs == (SYSINC_C | SYSINC_CXX) &&
	      d->c_pos == 0 && d->cxx_pos == 1);
	CHECK((d = find(&list, "usr")) && d->c_pos == 1 && d->cxx_pos == 2);
	sysinc_free(&list);

	/* -o sys=: replace by name, add at the end, "none" drops all. */
	struct sysinc_spec specs[] = {
		{"usr", "/copy/usr/include"},
		{"extra", "/opt/inc"},
	};
	CHECK(sysinc_build(&list, script, false, specs, 2, err, sizeof(err)) ==
	      0);
	CHECK(list.n == 4);
	CHECK((d = find(&list, "usr")) &&
	      strcmp(d->host_dir, "/copy/usr/include") == 0 && d->c_pos == 1);
	CHECK((d = find(&list, "extra")) && d->c_pos == 3 &&
	      d->langs == (SYSINC_C | SYSINC_CXX));
	sysinc_free(&list);
	struct sysinc_spec only[] = {{NULL, NULL}, {"c++", "/x"}, {"cc", "/y"}};
	CHECK(sysinc_build(&list, "/nonexistent/cc", true, only, 3, err,
			   sizeof(err)) == 0);
	CHECK(list.n == 2 && find(&list, "c++")->langs == SYSINC_CXX &&
	      find(&list, "cc")->c_pos == 1);
	sysinc_free(&list);
	/* "none" drops the discovered directories only, even when it comes
	 * after the named ones. */
	struct sysinc_spec late[] = {{"cc", "/y"}, {NULL, NULL}};
	CHECK(sysinc_build(&list, script, true, late, 2, err, sizeof(err)) ==
	      0);
	CHECK(list.n == 1 && find(&list, "cc") &&
	      strcmp(find(&list, "cc")->host_dir, "/y") == 0);
	sysinc_free(&list);

	/* A compiler the user named that cannot run: one line. */
	CHECK(sysinc_build(&list, "/nonexistent/cc", true, NULL, 0, err,
			   sizeof(err)) == -1);
	CHECK(strstr(err, "-o cc=/nonexistent/cc") != NULL);
	sysinc_free(&list);
	/* The default compiler missing is no error: nothing is mirrored. */
	CHECK(sysinc_build(&list, "/nonexistent/cc", false, NULL, 0, err,
			   sizeof(err)) == 0);
	CHECK(list.n == 0);
	sysinc_free(&list);

	unlink(script);
	return check_summary("sysinc");
}
