/* Unit tests: the baseline of a tree and its rule (fs/baseline.c). */
#include "canonfs/baseline.h"
#include "check.h"

#include <inttypes.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define S ((int64_t)1000000000)

static void test_rule(void)
{
	int64_t since = 1700000000 * S + 500000000; /* ...000.5 */
	struct timespec before = {1700000000, 499999999};
	struct timespec at = {1700000000, 500000000};
	struct timespec whole_same = {1700000000, 0};
	struct timespec whole_before = {1699999999, 0};
	struct timespec whole_long_before = {1699999990, 0};

	CHECK(!baseline_ctime_is_change(since, &before));
	CHECK(baseline_ctime_is_change(since, &at));
	/* A whole-second stamp may stand for a moment after the baseline
	 * (a filesystem keeping seconds, or two as FAT). */
	CHECK(baseline_ctime_is_change(since, &whole_same));
	CHECK(baseline_ctime_is_change(since, &whole_before));
	CHECK(!baseline_ctime_is_change(since, &whole_long_before));
}

static void test_args(void)
{
	int64_t seconds = 0;
	bool now = false;

	CHECK(baseline_parse_arg("now", &now, &seconds) == 0 && now);
	CHECK(baseline_parse_arg("1700000000", &now, &seconds) == 0 && !now &&
	      seconds == 1700000000);
	CHECK(baseline_parse_arg("", &now, &seconds) != 0);
	CHECK(baseline_parse_arg("-5", &now, &seconds) != 0);
	CHECK(baseline_parse_arg(" 5", &now, &seconds) != 0);
	CHECK(baseline_parse_arg("5x", &now, &seconds) != 0);
	CHECK(baseline_parse_arg("0", &now, &seconds) != 0);
	CHECK(baseline_parse_arg("99999999999999999999", &now, &seconds) != 0);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_state(void)
{
	char dir[] = "/tmp/canonfs-baseline-XXXXXX", state[300], tree[300];
	char err[512], warn[1024], text[600], cmd[400];
	struct baseline b, again;
	struct stat st = {0};

	CHECK(mkdtemp(dir) != NULL);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(tree, sizeof(tree), "%s/tree", dir);
	CHECK(mkdir(tree, 0755) == 0);

	/* New: taken now, kept, and found again. */
	CHECK(baseline_open(&b, tree, state, NULL, err, sizeof(err), warn,
			    sizeof(warn)) == 0);
	CHECK(b.created && b.state_path && !warn[0]);
	CHECK(baseline_keep(&b) == 0);
	CHECK(b.since_ns > (int64_t)(time(NULL) - 5) * S);
	CHECK(baseline_open(&again, tree, state, NULL, err, sizeof(err), warn,
			    sizeof(warn)) == 0);
	CHECK(!again.created && again.since_ns == b.since_ns);
	st.st_ctim.tv_sec = (time_t)(b.since_ns / S) - 10;
	st.st_ctim.tv_nsec = 1;
	CHECK(!baseline_changed(&again, &st));
	st.st_ctim.tv_sec = (time_t)(b.since_ns / S) + 1;
	CHECK(baseline_changed(&again, &st));
	baseline_close(&again);

	/* Explicit: a past second is taken and kept. */
	CHECK(baseline_open(&again, tree, state, "1700000000", err, sizeof(err),
			    warn, sizeof(warn)) == 0);
	CHECK(again.since_ns == 1700000000 * S);
	CHECK(baseline_keep(&again) == 0);
	baseline_close(&again);
	CHECK(baseline_open(&again, tree, state, NULL, err, sizeof(err), warn,
			    sizeof(warn)) == 0);
	CHECK(again.since_ns == 1700000000 * S);
	baseline_close(&again);

	/* Explicit in the future: refused, with the way out. */
	snprintf(text, sizeof(text), "%lld", (long long)time(NULL) + 3600);
	CHECK(baseline_open(&again, tree, state, text, err, sizeof(err), warn,
			    sizeof(warn)) != 0);
	CHECK(strstr(err, "future") != NULL);
	baseline_close(&again);

	/* Stored in the future (the clock went back): every entry is a
	 * change, said once, and kept so. */
	snprintf(text, sizeof(text), "%s%lld.000000000\n%s\n", BASELINE_MAGIC,
		 (long long)time(NULL) + 3600, tree);
	write_file(b.state_path, text);
	CHECK(baseline_open(&again, tree, state, NULL, err, sizeof(err), warn,
			    sizeof(warn)) == 0);
	CHECK(again.since_ns == 0 && strstr(warn, "future") != NULL);
	st.st_ctim.tv_sec = 1000;
	CHECK(baseline_changed(&again, &st));
	CHECK(baseline_keep(&again) == 0);
	baseline_close(&again);
	CHECK(baseline_open(&again, tree, state, NULL, err, sizeof(err), warn,
			    sizeof(warn)) == 0);
	CHECK(again.since_ns == 0);
	baseline_close(&again);
	/* ... until reset. */
	CHECK(baseline_open(&again, tree, state, "now", err, sizeof(err), warn,
			    sizeof(warn)) == 0);
	CHECK(again.since_ns > 0 && !warn[0]);
	CHECK(baseline_keep(&again) == 0);
	baseline_close(&again);

	/* The clock goes back during a mount: from then on every entry is a
	 * change, and the file says so for the next mount. */
	CHECK(baseline_open(&again, tree, state, NULL, err, sizeof(err), warn,
			    sizeof(warn)) == 0);
	again.since_ns = ((int64_t)time(NULL) + 3600) * S;
	st.st_ctim.tv_sec = 1000;
	CHECK(baseline_changed(&again, &st));
	CHECK(again.since_ns == 0);
	baseline_close(&again);
	CHECK(baseline_open(&again, tree, state, NULL, err, sizeof(err), warn,
			    sizeof(warn)) == 0);
	CHECK(again.since_ns == 0 && !again.created);
	baseline_close(&again);

	/* Garbage in the file: a new baseline, never a crash. */
	write_file(b.state_path, "canonfs-baseline 1\nnonsense\n");
	CHECK(baseline_open(&again, tree, state, NULL, err, sizeof(err), warn,
			    sizeof(warn)) == 0);
	CHECK(again.created && again.since_ns > 0);
	baseline_close(&again);

	/* A state directory that cannot be made: works, says what is lost. */
	snprintf(state, sizeof(state), "%s/tree-file", dir);
	write_file(state, "x");
	snprintf(state, sizeof(state), "%s/tree-file/state", dir);
	CHECK(baseline_open(&again, tree, state, NULL, err, sizeof(err), warn,
			    sizeof(warn)) == 0);
	CHECK(again.since_ns > 0 && baseline_keep(&again) != 0);
	baseline_close(&again);

	/* Another tree, another baseline file. */
	snprintf(state, sizeof(state), "%s/state", dir);
	CHECK(baseline_open(&again, dir, state, NULL, err, sizeof(err), warn,
			    sizeof(warn)) == 0);
	CHECK(again.created && strcmp(again.state_path, b.state_path) != 0);
	CHECK(baseline_keep(&again) == 0);
	baseline_close(&again);

	/* A tree that is gone loses its baseline when a new one is made;
	 * files that are not baselines stay. */
	CHECK(baseline_open(&again, tree, state, "now", err, sizeof(err), warn,
			    sizeof(warn)) == 0);
	CHECK(baseline_keep(&again) == 0);
	baseline_close(&again);
	CHECK(access(b.state_path, F_OK) == 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tree);
	CHECK(system(cmd) == 0);
	snprintf(text, sizeof(text), "%s/notes", state);
	write_file(text, "not a baseline\n");
	snprintf(tree, sizeof(tree), "%s/another", dir);
	CHECK(mkdir(tree, 0755) == 0);
	CHECK(baseline_open(&again, tree, state, NULL, err, sizeof(err), warn,
			    sizeof(warn)) == 0);
	CHECK(baseline_keep(&again) == 0);
	CHECK(access(b.state_path, F_OK) != 0);
	CHECK(access(text, F_OK) == 0);
	CHECK(access(again.state_path, F_OK) == 0);
	baseline_close(&again);
	baseline_close(&b);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	test_rule();
	test_args();
	test_state();
	return check_summary("test_baseline");
}
