#!/bin/sh
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Makes the base image of contrib/container/Containerfile without any
# container registry: a minimal Debian 12 root built by mmdebstrap from
# this machine's own apt sources, imported into podman as
# localhost/tokenreviewd-base:bookworm.  Documentation, manual pages and
# locales are left out, and merged /usr is made by mmdebstrap's hook rather
# than by the usrmerge package (which would pull in perl).
#
# usage: mkroot.sh [-s STORAGE] [-f]
#   -s STORAGE  podman store to use (default $TR_CONTAINER_STORAGE, else
#               /var/tmp/tokenreviewd-container)
#   -f          rebuild even when the image exists
# Needs root, mmdebstrap and podman.

set -eu
here=$(cd "$(dirname "$0")" && pwd)
. "$here/env.sh"
storage=${TR_CONTAINER_STORAGE:-/var/tmp/tokenreviewd-container}
force=no
while getopts s:f opt; do
	case $opt in
	s) storage=$OPTARG ;;
	f) force=yes ;;
	*) sed -n 's/^# \{0,1\}//; /^usage:/,/^Needs/p' "$0" >&2; exit 2 ;;
	esac
done
base=localhost/tokenreviewd-base:bookworm
tr_container_env "$storage"

if [ "$force" = no ] && podman image exists "$base"; then
	echo "mkroot.sh: $base exists"
	exit 0
fi
sources=/etc/apt/sources.list.d/debian.sources
[ -f "$sources" ] || sources=/etc/apt/sources.list
tar="$TR_CONTAINER_STORAGE/tmp/base.$$.tar"
trap 'rm -f "$tar"' EXIT
mmdebstrap --variant=minbase --mode=root --format=tar \
    --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
    --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-include=/usr/share/doc/*/copyright' \
    --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' \
    --dpkgopt='path-exclude=/usr/share/info/*' \
    --aptopt='Acquire::Retries "3"' \
    bookworm "$tar" "$sources"
podman import --change 'CMD ["/bin/bash"]' "$tar" "$base"
echo "mkroot.sh: imported $base"
