#!/bin/sh
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Builds the tokenreviewd image from this source tree with podman and
# exports it as an OCI archive, without any container registry: the base
# image is made by mkroot.sh when it is missing.  The podman store (layers,
# build cache) lives under one directory, so that CI can keep it between
# runs: a build with nothing changed takes seconds.
#
# usage: build.sh [-s STORAGE] [-t TAG] [-o ARCHIVE] [-n]
#   -s STORAGE  podman store (default $TR_CONTAINER_STORAGE, else
#               /var/tmp/tokenreviewd-container)
#   -t TAG      image name (default localhost/tokenreviewd:VERSION, the
#               version of configure.ac; contrib/kubernetes uses it)
#   -o ARCHIVE  the OCI archive to write (default STORAGE/tokenreviewd.oci.tar)
#   -n          no archive
# Needs root, podman and (for the base image) mmdebstrap.
#
# Load the archive elsewhere with "podman load -i ARCHIVE", or copy it to
# a registry with "skopeo copy oci-archive:ARCHIVE docker://REGISTRY/...".

set -eu
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
. "$here/env.sh"
storage=${TR_CONTAINER_STORAGE:-/var/tmp/tokenreviewd-container}
tag=localhost/tokenreviewd:$(tr_container_version "$src")
out=
export_archive=yes
while getopts s:t:o:n opt; do
	case $opt in
	s) storage=$OPTARG ;;
	t) tag=$OPTARG ;;
	o) out=$OPTARG ;;
	n) export_archive=no ;;
	*) sed -n 's/^# \{0,1\}//; /^usage:/,/^Needs/p' "$0" >&2; exit 2 ;;
	esac
done
tr_container_env "$storage"
: "${out:=$TR_CONTAINER_STORAGE/tokenreviewd.oci.tar}"

# One build at a time per store: a second one (CI's background build and
# the test) waits, then finds the layers cached.
exec 9>"$TR_CONTAINER_STORAGE/build.lock"
flock 9

sh "$here/mkroot.sh" -s "$TR_CONTAINER_STORAGE"

# The build context: the source files only, never a build directory (one
# holding config.status) or an in-tree build.
if [ -f "$src/config.status" ]; then
	echo "build.sh: $src is configured in the tree; run make distclean" >&2
	exit 1
fi
ctx=$TR_CONTAINER_STORAGE/context
rm -rf "$ctx"
mkdir -p "$ctx"
(
	cd "$src"
	if [ -d .git ] || [ -f .git ]; then
		git ls-files -z --cached --others --exclude-standard
	else
		find . -type f ! -path './.git/*' -print0
	fi
) | (
	cd "$src"
	skip=$(for d in */; do
		{ [ -f "$d/config.status" ] || [ -f "$d/config.log" ]; } &&
		    printf '%s\n' "${d%/}"
	done; true)
	tr '\0' '\n' | sed 's|^\./||' | while IFS= read -r f; do
		case " $(echo $skip) " in *" ${f%%/*} "*) continue ;; esac
		[ -f "$f" ] && printf '%s\0' "$f"
	done
) | (cd "$src" && tar --null -T - -cf -) | tar -xf - -C "$ctx"

start=$(date +%s)
podman build --network host --jobs 2 --layers \
    -f "$here/Containerfile" -t "$tag" "$ctx"
echo "build.sh: built $tag in $(( $(date +%s) - start )) s"
podman image inspect --format '{{.Size}}' "$tag" |
    awk '{ printf "build.sh: image size %.1f MB\n", $1 / 1e6 }'
if [ "$export_archive" = yes ]; then
	rm -f "$out"
	podman save --format oci-archive -o "$out" "$tag"
	echo "build.sh: wrote $out ($(du -k "$out" | cut -f1) kB)"
fi
