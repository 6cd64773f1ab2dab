#!/usr/bin/env bash
# canonfs demo (`make demo`): one Go build cache, two checkouts.
#
# examples/hello-cgo is copied to two host directories with different
# timestamps and permissions, as if checked out on two machines. Each copy
# is built with one shared GOCACHE:
#   - through canonfs, mounted at one fixed mountpoint: the second build
#     compiles nothing and the two binaries are bit-identical;
#   - at the host paths, without canonfs: everything is recompiled and the
#     binaries differ.
# Exits non-zero when that is not what happens.
#
# Usage: scripts/demo.sh [PATH/TO/canonfs]   (default: build/canonfs)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CANONFS=${1:-$ROOT/build/canonfs}
case $CANONFS in /*) ;; */*) CANONFS=$PWD/$CANONFS ;; esac
EXAMPLE=$ROOT/examples/hello-cgo

die() { echo "demo: $*" >&2; exit 1; }

command -v "$CANONFS" >/dev/null 2>&1 ||
    die "canonfs binary not found at $CANONFS (run make first)"
for tool in go gcc fusermount3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required but not on PATH"
done
[ -e /dev/fuse ] || die "/dev/fuse is missing: FUSE is not available here"
[ -d "$EXAMPLE" ] || die "example module $EXAMPLE is missing"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/canonfs-demo.XXXXXX")
MNT=$WORK/mnt
DAEMON_PID=

is_mounted() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/self/mounts; }

unmount() {
    if is_mounted "$MNT"; then
        fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT" 2>/dev/null || true
    fi
    if [ -n "$DAEMON_PID" ]; then
        # The daemon exits once unmounted; give it a moment, then insist.
        for _ in $(seq 50); do
            kill -0 "$DAEMON_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$DAEMON_PID" 2>/dev/null; then
            kill "$DAEMON_PID" 2>/dev/null || true
        fi
        wait "$DAEMON_PID" 2>/dev/null || true
        DAEMON_PID=
    fi
}

cleanup() {
    status=$?
    trap - EXIT INT TERM HUP
    cd /
    unmount
    chmod -R u+rwX "$WORK" 2>/dev/null || true
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# mount SRC: canonfs in the foreground as our own background child, so that
# cleanup can always find and reap it; returns once MNT is mounted.
mount_canonfs() {
    mkdir -p "$MNT"
    "$CANONFS" -f "$1" "$MNT" </dev/null >"$WORK/canonfs.log" 2>&1 &
    DAEMON_PID=$!
    for _ in $(seq 300); do
        is_mounted "$MNT" && return 0
        kill -0 "$DAEMON_PID" 2>/dev/null || break
        sleep 0.05
    done
    cat "$WORK/canonfs.log" >&2
    die "canonfs did not mount $1 at $MNT"
}

# checkout DIR DATE FILEMODE DIRMODE: a copy of the example as another
# machine would have it (other mtimes, other umask).
checkout() {
    mkdir -p "$(dirname "$1")"
    cp -R "$EXAMPLE" "$1"
    find "$1" -type f -exec chmod "$3" {} +
    find "$1" -type d -exec chmod "$4" {} +
    find "$1" -exec touch -h -d "$2" {} +
}

# A hermetic Go environment: offline, no user config, one shared GOCACHE.
mkdir -p "$WORK/home"
export HOME=$WORK/home GOPATH=$WORK/home/go GOFLAGS=-buildvcs=false \
    GOPROXY=off GO111MODULE=on GOWORK=off GOTOOLCHAIN=local CGO_ENABLED=1 \
    TZ=UTC LC_ALL=C

# Compile steps in a `go build -x` log: the Go compiler, cgo, the assembler
# and the C compiler (not gcc's "|| true" feature probes).
count_steps() {
    sed -E "s/^([A-Za-z_][A-Za-z0-9_]*=('[^']*'|[^ ]*)[[:space:]]+)*//" "$1" |
        grep -v '|| true$' |
        grep -cE '^([^ ]*/pkg/tool/[^ ]+/(compile|cgo|asm)|([^ ]*/)?(gcc|cc|clang)) ' ||
        true
}

# build NAME DIR [MNT]: go build -x ./... in DIR (with the canonical
# environment of the mount at MNT: module cache, system headers from the
# mount); sets STEPS and SUM.
build() {
    local log=$WORK/$1.log out=$WORK/out/$1
    mkdir -p "$out"
    if ! (if [ -n "${3:-}" ]; then eval "$("$CANONFS" env "$3")"; fi &&
          cd "$2" && PWD=$2 go build -x -o "$out/" ./... 2>"$log"); then
        tail -n 20 "$log" >&2
        die "go build failed in $2"
    fi
    STEPS=$(count_steps "$log")
    SUM=$(sha256sum "$out/hello" | cut -d' ' -f1)
}

ALICE=$WORK/alice/work/hello
BOB=$WORK/bob/x/y/hello
checkout "$ALICE" "2001-09-09 01:46:40 UTC" 644 755
checkout "$BOB" "2023-11-14 22:13:20 UTC" 664 2775

echo "Two checkouts of examples/hello-cgo (Go + cgo), one shared GOCACHE:"
echo "  alice: $ALICE"
echo "  bob:   $BOB"

ok=1
export GOCACHE=$WORK/gocache-canonfs
echo "With canonfs, each mounted in turn at $MNT:"
mount_canonfs "$ALICE"
build alice-canonfs "$MNT/src" "$MNT"
steps_a=$STEPS sum_a=$SUM
unmount
mount_canonfs "$BOB"
build bob-canonfs "$MNT/src" "$MNT"
steps_b=$STEPS sum_b=$SUM
unmount
printf '  alice: %3d compile steps   sha256 %s\n' "$steps_a" "$sum_a"
printf '  bob:   %3d compile steps   sha256 %s\n' "$steps_b" "$sum_b"
if [ "$steps_b" -eq 0 ] && [ "$sum_a" = "$sum_b" ]; then
    echo "  => the second build compiled nothing; the binaries are identical"
else
    [ "$steps_b" -eq 0 ] || echo "  => FAILED: the second build recompiled ($steps_b steps, see -x logs)"
    [ "$sum_a" = "$sum_b" ] || echo "  => FAILED: the binaries differ"
    ok=0
fi

export GOCACHE=$WORK/gocache-plain
echo "Without canonfs, built at the host paths:"
build alice-plain "$ALICE"
steps_a=$STEPS sum_a=$SUM
build bob-plain "$BOB"
steps_b=$STEPS sum_b=$SUM
printf '  alice: %3d compile steps   sha256 %s\n' "$steps_a" "$sum_a"
printf '  bob:   %3d compile steps   sha256 %s\n' "$steps_b" "$sum_b"
if [ "$steps_b" -gt 0 ] && [ "$sum_a" != "$sum_b" ]; then
    echo "  => the shared cache did not help: everything recompiled; the binaries differ"
else
    echo "  => unexpected: without canonfs the second build should recompile and differ"
    ok=0
fi

[ "$ok" = 1 ] || die "the demo did not show the expected result"
