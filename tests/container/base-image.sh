#!/bin/sh
# base-image.sh TAG: a minimal Debian 12 with git and nothing else, as
# someone who cloned has it (debootstrap --variant=minbase, from the
# mirror apt uses here), imported into docker as TAG, for machines that
# reach a Debian mirror but no image registry. Kept once made: a TAG that
# exists is left as it is.
set -eu
tag=$1
here=$(cd "$(dirname "$0")" && pwd)

if docker image inspect "$tag" >/dev/null 2>&1; then
	exit 0
fi
command -v debootstrap >/dev/null 2>&1 || {
	echo "base-image.sh: debootstrap is not installed (apt-get install debootstrap)" >&2
	exit 1
}
# Not in /tmp, which may be a tmpfs or mounted nodev.
root=$(mktemp -d /var/tmp/canonfs-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include=git bookworm "$root" "$("$here/../../scripts/debian-mirror.sh")" >"$root.log" 2>&1 || {
	tail -n 20 "$root.log" >&2
	rm -f "$root.log"
	echo "base-image.sh: debootstrap failed" >&2
	exit 1
}
rm -f "$root.log"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" -c . | docker import - "$tag" >/dev/null
