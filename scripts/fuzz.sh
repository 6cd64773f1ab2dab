#!/usr/bin/env bash
# canonfs fuzzing (`make fuzz`): builds the libFuzzer targets of tests/fuzz/
# with clang, AddressSanitizer and UBSan into build/fuzz/, and runs each for
# FUZZ_SECONDS from a copy of its seed corpus (tests/fuzz/corpus/TARGET,
# never grown). Exits non-zero when any target finds a crash, a leak, a
# timeout or a broken invariant; the input is kept in
# build/fuzz/run/TARGET/artifacts/ and its hex printed.
#
# Usage: scripts/fuzz.sh [TARGET...]     (default: every tests/fuzz/fuzz_*.c)
#   FUZZ_SECONDS=N   seconds per target (default 20); 0 only replays the seeds
#   FUZZ_CC=clang-14 the compiler (default clang; needs libclang-rt-dev)
#   FUZZ_CFLAGS=...  extra compiler flags, e.g. -DFUZZ_MIN_OUT_SIZE=1
#   FUZZ_ARGS=...    extra libFuzzer flags, e.g. "-jobs=2 -workers=2"
#
# Reproduce a finding: build/fuzz/TARGET build/fuzz/run/TARGET/artifacts/crash-...
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_CC=${FUZZ_CC:-clang}
FUZZ_CFLAGS=${FUZZ_CFLAGS:-}
FUZZ_ARGS=${FUZZ_ARGS:-}
OUT=build/fuzz

die() { echo "fuzz: $*" >&2; exit 2; }

command -v "$FUZZ_CC" >/dev/null || die "$FUZZ_CC not found (apt-get install clang libclang-rt-dev)"
pkg-config --exists fuse3 || die "pkg-config cannot find fuse3 (apt-get install libfuse3-dev)"
[[ $FUZZ_SECONDS =~ ^[0-9]+$ ]] || die "FUZZ_SECONDS must be a number of seconds"

if [ $# -gt 0 ]; then
	TARGETS=("$@")
else
	TARGETS=()
	for src in tests/fuzz/fuzz_*.c; do
		TARGETS+=("$(basename "$src" .c)")
	done
fi

# shellcheck disable=SC2054,SC2206,SC2207 # commas belong to -fsanitize=;
# pkg-config's output and FUZZ_CFLAGS split into words on purpose
CFLAGS=(-std=c11 -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Werror
	-D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Iinclude
	$(pkg-config --cflags fuse3)
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
	$FUZZ_CFLAGS)

# What each target links, and the longest input it gets (past PATH_MAX
# where the code has PATH_MAX buffers of its own).
target_sources() {
	case $1 in
	fuzz_path) echo "fs/path.c" ;;
	fuzz_symlink) echo "fs/symlink.c fs/path.c" ;;
	fuzz_options) echo "fs/options.c fs/sysinc.c fs/path.c fs/baseline.c fs/digests.c fs/hostpath.c $(pkg-config --libs fuse3 libcrypto)" ;;
	fuzz_gitindex) echo "fs/gitindex.c $(pkg-config --libs libcrypto)" ;;
	*) return 1 ;;
	esac
}
target_max_len() {
	case $1 in
	fuzz_options) echo 4096 ;;
	fuzz_gitindex) echo 65536 ;;
	*) echo 9000 ;;
	esac
}

mkdir -p "$OUT" || exit 2
for t in "${TARGETS[@]}"; do
	srcs=$(target_sources "$t") || die "unknown target $t (add it to target_sources in $0)"
	echo "fuzz: building $OUT/$t"
	# shellcheck disable=SC2086 # the source list splits on purpose
	"$FUZZ_CC" "${CFLAGS[@]}" "tests/fuzz/$t.c" $srcs -o "$OUT/$t" ||
		die "building $t failed"
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

failed=()
summary=()
for t in "${TARGETS[@]}"; do
	run=$OUT/run/$t
	rm -rf "$run"
	mkdir -p "$run/corpus" "$run/artifacts"
	[ -d "tests/fuzz/corpus/$t" ] && cp "tests/fuzz/corpus/$t"/* "$run/corpus/" 2>/dev/null
	limits=(-max_total_time="$FUZZ_SECONDS")
	[ "$FUZZ_SECONDS" -eq 0 ] && limits=(-runs=0)
	dict=()
	[ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")

	echo "fuzz: running $t for ${FUZZ_SECONDS}s (log: $run/log)"
	# shellcheck disable=SC2086 # FUZZ_ARGS splits on purpose
	"$OUT/$t" "${limits[@]}" -max_len="$(target_max_len "$t")" -timeout=10 \
		-rss_limit_mb=4096 -print_final_stats=1 "${dict[@]}" \
		-artifact_prefix="$run/artifacts/" $FUZZ_ARGS "$run/corpus" \
		>"$run/log" 2>&1
	rc=$?

	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$run/log" | tail -1)
	cov=$(grep -o 'cov: [0-9]* ft: [0-9]*' "$run/log" | tail -1)
	corp=$(find "$run/corpus" -type f | wc -l)
	artifacts=$(find "$run/artifacts" -type f | sort)
	if [ $rc -ne 0 ] || [ -n "$artifacts" ]; then
		failed+=("$t")
		summary+=("$t: FAILED (exit $rc) after ${execs:-?} executions, ${cov:-no coverage line}")
		echo "fuzz: $t FAILED (exit $rc); the end of its log:" >&2
		grep -v '^ *0x[0-9a-f]*:\|Shadow\|^  [A-Z].*: *[0-9a-f ]*$' "$run/log" | tail -40 >&2
		for a in $artifacts; do
			echo "fuzz: input $a (reproduce: $OUT/$t $a)" >&2
			od -An -tx1 -v "$a" | head -20 >&2
		done
	else
		summary+=("$t: ok, ${execs:-?} executions, $cov, corpus $corp inputs")
	fi
done

echo
printf 'fuzz: %s\n' "${summary[@]}"
if [ ${#failed[@]} -gt 0 ]; then
	echo "fuzz: findings in: ${failed[*]}" >&2
	exit 1
fi
