#!/bin/sh
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Run in the Containerfile's build stage: assembles the runtime root of
# the image in ROOT from the installed tree in DESTDIR (make install
# DESTDIR=...): the programs, every shared library ldd finds for them
# (with merged /usr, as Debian 12 lays it out), the copyright files of
# the packages they come from, CA certificates, and passwd and group
# files naming uid and gid 65532.  Nothing else: no shell, no coreutils.
#
# usage: rootfs.sh DESTDIR ROOT

set -eu
dest=$1
root=$2
bins="usr/sbin/tokenreviewd usr/bin/tokenreviewctl"

mkdir -p "$root/usr/bin" "$root/usr/sbin" "$root/usr/lib" "$root/usr/lib64" \
    "$root/etc/ssl/certs" "$root/etc/tokenreviewd" "$root/tmp" \
    "$root/usr/share/doc"
for d in bin sbin lib lib64; do
	ln -sfn "usr/$d" "$root/$d"
done
chmod 1777 "$root/tmp"
for b in $bins; do
	cp "$dest/$b" "$root/$b"
done

# Each library at its real directory, under the name ldd printed (the
# soname the loader looks for), as a file rather than a link.
pkgs=
for lib in $(for b in $bins; do ldd "$dest/$b"; done |
    awk '/=> \// { print $3 } /^\t\// { print $1 }' | sort -u); do
	dir=$(readlink -f "$(dirname "$lib")")
	mkdir -p "$root$dir"
	cp -L "$lib" "$root$dir/$(basename "$lib")"
	pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | sed 's/:.*//' |
	    head -n 1) || pkg=
	pkgs="$pkgs $pkg"
done
for p in $(echo $pkgs | tr ' ' '\n' | sort -u) ca-certificates; do
	if [ -f "/usr/share/doc/$p/copyright" ]; then
		mkdir -p "$root/usr/share/doc/$p"
		cp "/usr/share/doc/$p/copyright" "$root/usr/share/doc/$p/"
	fi
done
cp /src/COPYING "$root/usr/share/doc/tokenreviewd.COPYING"

# libcurl and OpenSSL look for the system's CA bundle here (LDAP and OIDC
# sources without a ca key).
cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
mkdir -p "$root/usr/lib/ssl"
ln -sfn /etc/ssl/certs "$root/usr/lib/ssl/certs"
printf 'root:x:0:0:root:/root:/nonexistent\ntokenreviewd:x:65532:65532:tokenreviewd:/nonexistent:/nonexistent\n' \
    >"$root/etc/passwd"
printf 'root:x:0:\ntokenreviewd:x:65532:\n' >"$root/etc/group"
chmod 0644 "$root/etc/passwd" "$root/etc/group"
