# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Sourced by mkroot.sh, build.sh and tests/container.sh: points podman at a
# private store under one directory ($TR_CONTAINER_STORAGE, or the first
# argument) so that builds are cached there and leave nothing elsewhere,
# and writes the containers.conf that works on hosts like the CI machines:
# runc (crun cannot create containers on a mixed cgroup v1/v2 host),
# cgroupfs, file events, and ulimits no higher than this shell's own hard
# limits (podman's default nofile of 1048576 fails without
# CAP_SYS_RESOURCE).

tr_container_env()
{
	local dir=$1 nofile

	mkdir -p "$dir/graph" "$dir/run" "$dir/tmp" || return 1
	dir=$(cd "$dir" && pwd)
	nofile=$(ulimit -Hn)
	[ "$nofile" = unlimited ] && nofile=1048576
	cat >"$dir/storage.conf" <<EOS
[storage]
driver = "overlay"
graphroot = "$dir/graph"
runroot = "$dir/run"
EOS
	cat >"$dir/containers.conf" <<EOS
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
EOS
	export CONTAINERS_STORAGE_CONF="$dir/storage.conf"
	export CONTAINERS_CONF="$dir/containers.conf"
	export TMPDIR="$dir/tmp"
	TR_CONTAINER_STORAGE=$dir
}

# The version in configure.ac names the image: localhost/tokenreviewd:VERSION.
tr_container_version()
{
	sed -n 's/^AC_INIT(\[tokenreviewd\], \[\([^]]*\)\].*/\1/p' \
	    "$1/configure.ac"
}
