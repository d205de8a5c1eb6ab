#!/bin/sh
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# quickstart.sh        install what is missing, build, and run tokenreviewd
#                      on 127.0.0.1:8443 with a self-signed certificate and
#                      a demo token; prints a curl command to try it.
# quickstart.sh test   install what is missing (test servers too), build,
#                      and run the whole test suite (make check).
#
# Builds out of tree in ./build; the demo lives in ./build/demo.
set -eu

top=$(cd "$(dirname "$0")" && pwd)
build="$top/build"
mode=${1:-run}

build_deps="build-essential autoconf automake pkg-config libevent-dev
libssl-dev libjansson-dev libinih-dev libsqlite3-dev libpq-dev openssl curl
ca-certificates libldap2-dev libcjose-dev libcurl4-openssl-dev"
test_deps="jq sqlite3 postgresql pgbouncer slapd ldap-utils wrk valgrind python3-yaml"

say() { printf '%s\n' "quickstart: $*" >&2; }

install_missing() {
	missing=
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		    grep -q "install ok installed" || missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	say "installing:$missing"
	sudo=
	if [ "$(id -u)" != 0 ]; then
		command -v sudo >/dev/null 2>&1 ||
		    { say "run as root to install:$missing"; exit 1; }
		sudo=sudo
	fi
	$sudo apt-get update -qq
	# shellcheck disable=SC2086
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
	    --no-install-recommends $missing >/dev/null
}

build() {
	cd "$top"
	[ -x configure ] && [ configure -nt configure.ac ] || autoreconf -fi
	mkdir -p "$build"
	cd "$build"
	[ -f Makefile ] || "$top/configure" --enable-werror >/dev/null
	make -j"$(nproc)" >/dev/null
	cd "$top"
}

demo() {
	d="$build/demo"
	mkdir -p "$d"
	umask 077
	if [ ! -f "$d/tls.key" ]; then
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		    -nodes -days 30 -subj /CN=tokenreviewd-demo \
		    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		    -keyout "$d/tls.key" -out "$d/tls.crt" 2>/dev/null
	fi
	if [ ! -f "$d/tokens.csv" ]; then
		token=$(openssl rand -hex 16)
		printf '%s,demo-user,1000,"demo-group,viewers"\n' "$token" \
		    >"$d/tokens.csv"
	fi
	token=$(cut -d, -f1 "$d/tokens.csv" | head -n 1)
	cat >"$d/tokenreviewd.conf" <<EOF
; Demo configuration written by quickstart.sh.  No client authentication:
; for a real cluster set client_ca (see README).
[server]
listen = 127.0.0.1:8443
tls_cert = $d/tls.crt
tls_key = $d/tls.key

[static]
file = $d/tokens.csv
EOF
	cat >&2 <<EOF

tokenreviewd is starting on https://127.0.0.1:8443 (Ctrl-C stops it).
Try it from another terminal:

  curl --cacert $d/tls.crt https://127.0.0.1:8443/tokenreview \\
    -H 'Content-Type: application/json' \\
    -d '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"$token"}}'

EOF
	exec "$build/tokenreviewd" -c "$d/tokenreviewd.conf"
}

case "$mode" in
run)
	# shellcheck disable=SC2086
	install_missing $build_deps
	build
	demo
	;;
test)
	# shellcheck disable=SC2086
	install_missing $build_deps $test_deps
	build
	cd "$build"
	make -j"$(nproc)" check
	;;
*)
	echo "usage: $0 [run|test]" >&2
	exit 2
	;;
esac
