#!/usr/bin/env bash
# canonfs benchmark (`make bench`): medians of alternating runs of Go builds
# and file-system workloads on canonfs, a bind mount ("native") and bindfs,
# all showing the same tree at the same path. Prints a markdown table and
# writes it to BUILD/bench.md (next to the binary).
#
# Usage: scripts/bench.sh [PATH/TO/canonfs]     (default: build/canonfs)
#   BENCH_QUICK=1   a few minutes: subset tree, fewer runs, no GOROOT workload
#   BENCH_RUNS=N    runs per figure and variant (default 5; quick 3)
#   The first-after-mount rows add a floor column when floorfs (scripts/floorfs.c;
#   make bench builds it) is next to the canonfs binary.
#   more knobs (BENCH_ONLY, BENCH_WORKDIR, BENCH_CANONFS_OPTS, ...): scripts/bench.py
#
# Needs root (mount namespaces, bind mounts, drop_caches). Installs, only
# when missing, bindfs and the golang-*-dev packages that make up the Go
# source tree in /usr/share/gocode.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CANONFS=${1:-$ROOT/build/canonfs}
case $CANONFS in /*) ;; *) CANONFS=$PWD/$CANONFS ;; esac

die() { echo "bench: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "needs root (mount namespaces, bind mounts, drop_caches)"
[ -x "$CANONFS" ] || die "canonfs binary not found at $CANONFS (run make first)"
[ -e /dev/fuse ] || die "/dev/fuse is missing: FUSE is not available here"

# The Go source tree for the GOPATH workloads (~440 packages, ~80 MB),
# bindfs for comparison, and the tools the workloads run (git for the clone
# workload; gcc, make and ccache for the C project).
PACKAGES="bindfs fuse3 golang-go util-linux tar findutils git gcc make ccache
    golang-golang-x-tools-dev golang-golang-x-net-dev golang-golang-x-text-dev
    golang-golang-x-sys-dev golang-github-google-go-cmp-dev
    golang-gopkg-yaml.v3-dev golang-github-spf13-cobra-dev"
missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" ||
        missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "bench: installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends $missing
fi
[ -d /usr/share/gocode/src/golang.org/x/tools ] ||
    die "/usr/share/gocode/src/golang.org/x/tools is missing after installing the golang-*-dev packages"

exec /usr/bin/python3 "$ROOT/scripts/bench.py" "$CANONFS"
