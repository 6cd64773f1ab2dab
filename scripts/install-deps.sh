#!/bin/sh
# Installs the Debian packages canonfs needs to build, test, fuzz and demo
# (make included: on a minimal Debian 12 with only git, run this first,
# as root: sh scripts/install-deps.sh). Only what is missing; idempotent.
#
# The test suite also builds with Go 1.23, from bookworm-backports: on
# Debian 12 that suite is added, from the mirror apt already uses.
set -eu
cd "$(dirname "$0")"

PACKAGES="build-essential pkg-config fuse3 libfuse3-dev libssl-dev
uthash-dev python3 python3-pytest golang-go git ca-certificates ninja-build
cmake ccache clang libclang-rt-14-dev e2fsprogs"
# shellcheck disable=SC1091
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}") || codename=
if [ "$codename" = bookworm ]; then
	PACKAGES="$PACKAGES golang-1.23-go"
fi

missing=""
for pkg in $PACKAGES; do
	if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $pkg"
	fi
done

if [ -z "$missing" ]; then
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "canonfs: missing packages:$missing (as root: sh scripts/install-deps.sh)" >&2
	exit 1
fi
echo "installing:$missing"
case $missing in *golang-1.23-go*)
	if ! grep -rqs bookworm-backports /etc/apt/sources.list /etc/apt/sources.list.d; then
		printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
			"$(sh ./debian-mirror.sh)" > /etc/apt/sources.list.d/canonfs-backports.sources
	fi
esac
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
