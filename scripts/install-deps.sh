#!/bin/sh
# Installs the Debian packages canonfs needs to build, test and demo,
# only when something is missing. Idempotent; needs root to install.
set -eu

PACKAGES="build-essential pkg-config fuse3 libfuse3-dev libssl-dev uthash-dev python3-pytest golang-go git ninja-build cmake ccache"

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
	echo "canonfs: missing packages:$missing (run as root: apt-get install$missing)" >&2
	exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends $missing
