/*
 * libFuzzer target: the mount's command line (fs/options.c over libfuse's
 * fuse_opt_parse).
 *
 * Input: arguments separated by NUL bytes, up to MAX_ARGS of them, after
 * argv[0] "canonfs". Each is its own heap block of exactly its length, so
 * ASan sees any read past its end. options_parse, options_free and
 * fuse_opt_free_args must never crash or leak (LeakSanitizer runs after
 * every input), and the result must be coherent:
 *   -1 comes with a one-line error; 0 comes with SRCDIR and MOUNTPOINT
 *   (unless --help or --version); every mirror's virtual path is clean,
 *   absolute, not "/", not below /src and overlaps no other; ro and rw
 *   are never both accepted; argv is left untouched.
 *
 * libfuse prints some complaints ("missing argument after `-o'") on
 * stderr: they are sent to /dev/null while options_parse runs (set
 * CANONFS_FUZZ_VERBOSE=1 to see them). Sanitizer reports go to the real
 * stderr all the same.
 */
#include "canonfs/options.h"
#include "canonfs/path.h"
#include "fuzz_common.h"

#include <fcntl.h>
#include <limits.h>
#include <sanitizer/common_interface_defs.h>
#include <stdbool.h>
#include <unistd.h>

#define MAX_ARGS 16

static int devnull_fd = -1, stderr_fd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (getenv("CANONFS_FUZZ_VERBOSE"))
		return 0;
	devnull_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
	stderr_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
	if (devnull_fd < 0 || stderr_fd < 0) {
		devnull_fd = stderr_fd = -1;
		return 0;
	}
	__sanitizer_set_report_fd((void *)(intptr_t)stderr_fd);
	return 0;
}

static void quiet(bool on)
{
	if (devnull_fd < 0)
		return;
	fflush(stderr);
	dup2(on ? devnull_fd : stderr_fd, 2);
}

static void check_result(int rc, const struct canonfs_options *o,
			 const struct fuse_args *fa)
{
	FUZZ_CHECK(rc == 0 || rc == -1, "options_parse returned %d", rc);
	FUZZ_CHECK(memchr(o->error, '\0', sizeof(o->error)) != NULL,
		   "opts.error is not NUL-terminated");
	if (rc == -1) {
		FUZZ_CHECK(o->error[0] != '\0', "failed without an error line");
		return;
	}
	FUZZ_CHECK(fa->argc >= 1 && fa->argv && fa->argv[0],
		   "fuse_args has no argv[0] (argc %d)", fa->argc);
	for (int i = 0; i < fa->argc; i++)
		FUZZ_CHECK(fa->argv[i] != NULL, "fuse_args argv[%d] is NULL",
			   i);
	if (o->show_help || o->show_version)
		return;
	FUZZ_CHECK(o->src_dir && o->mountpoint, "accepted without %s",
		   o->src_dir ? "MOUNTPOINT" : "SRCDIR");
	FUZZ_CHECK(!(o->saw_ro && o->saw_rw), "accepted both ro and rw");
	FUZZ_CHECK(o->read_only == o->saw_ro, "read_only %d but saw_ro %d",
		   o->read_only, o->saw_ro);
	FUZZ_CHECK(o->n_mirrors == 0 || o->mirrors, "n_mirrors %zu, no array",
		   o->n_mirrors);
	for (size_t i = 0; i < o->n_mirrors; i++) {
		const char *v = o->mirrors[i].virt_path;
		char clean[PATH_MAX];

		FUZZ_CHECK(v && o->mirrors[i].host_dir, "mirror %zu: NULL", i);
		FUZZ_CHECK(o->mirrors[i].host_dir[0] != '\0',
			   "mirror %zu (%s): empty host dir", i, v);
		FUZZ_CHECK(v[0] == '/' && strcmp(v, "/") != 0,
			   "mirror virtual path '%s'", v);
		FUZZ_CHECK(path_clean(v, clean, sizeof(clean)) == 0 &&
				   strcmp(clean, v) == 0,
			   "mirror virtual path '%s' is not clean", v);
		FUZZ_CHECK(!path_under(v, "/src"),
			   "mirror virtual path '%s' is below /src", v);
		for (size_t j = 0; j < i; j++) {
			const char *w = o->mirrors[j].virt_path;

			FUZZ_CHECK(!path_under(v, w) && !path_under(w, v),
				   "mirrors '%s' and '%s' overlap", v, w);
		}
	}
	if (o->rules.time_mode == CANON_TIME_FIXED)
		FUZZ_CHECK(o->rules.fixed_time > 0 &&
				   o->rules.fixed_time <= 253402300799LL,
			   "fixed time %lld", (long long)o->rules.fixed_time);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *argv[MAX_ARGS + 2], *saved[MAX_ARGS + 2], *copies[MAX_ARGS + 2];
	struct canonfs_options opts;
	struct fuse_args fargs;
	int argc = 0, rc;

	argv[argc++] = fuzz_strndup((const uint8_t *)"canonfs", 7);
	while (argc < MAX_ARGS + 1) {
		const uint8_t *nul = memchr(data, '\0', size);
		size_t len = nul ? (size_t)(nul - data) : size;

		argv[argc++] = fuzz_strndup(data, len);
		if (!nul)
			break;
		data = nul + 1;
		size -= len + 1;
	}
	argv[argc] = NULL;
	for (int i = 0; i <= argc; i++) {
		saved[i] = argv[i];
		copies[i] = argv[i] ? strdup(argv[i]) : NULL;
	}

	quiet(true);
	rc = options_parse(argc, argv, &opts, &fargs);
	quiet(false);

	check_result(rc, &opts, &fargs);
	for (int i = 0; i <= argc; i++) {
		FUZZ_CHECK(argv[i] == saved[i], "argv[%d] was replaced", i);
		FUZZ_CHECK(!argv[i] || strcmp(argv[i], copies[i]) == 0,
			   "argv[%d] was modified", i);
	}

	options_free(&opts);
	fuse_opt_free_args(&fargs);
	for (int i = 0; i < argc; i++) {
		free(argv[i]);
		free(copies[i]);
	}
	return 0;
}
