#!/bin/sh
# Prints the Debian mirror apt is configured with: the first URI serving
# a bookworm suite that is not the security archive (deb.debian.org when
# there is none). New sources (bookworm-backports, a debootstrap'd base
# image) then come from the mirror this machine already reaches.
set -eu

# deb822 stanzas, blank-line separated: URIs and Suites may come in
# either order.
uri=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
	function pick() {
		if (!found && uris != "" && suites ~ /bookworm/ &&
		    uris !~ /security/) {
			split(uris, u, " "); print u[1]; found = 1; exit
		}
		uris = suites = ""
	}
	/^[[:space:]]*$/ { pick(); next }
	/^URIs:/ { sub(/^URIs:[[:space:]]*/, ""); uris = $0 }
	/^Suites:/ { sub(/^Suites:[[:space:]]*/, ""); suites = $0 }
	END { pick() }')
[ -n "$uri" ] || uri=$(cat /etc/apt/sources.list 2>/dev/null | awk '
	$1 == "deb" && $2 !~ /^\[/ && $3 ~ /^bookworm/ && $2 !~ /security/ {
		print $2; exit
	}')
echo "${uri:-http://deb.debian.org/debian}"
