#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Secrets in memory and in core files.  After a daemon has answered
# reviews of tokens it holds in no table (unknown tokens, an LDAP-shaped
# base64 "user:password" token) and checked the caller's bearer secret,
# none of those bytes may be left anywhere in its memory, read whole from
# /proc/PID/mem: the buffers that held them are wiped when freed.  Core
# dumps are off by default (/proc/PID/limits shows a core file size of 0)
# and [server] core_dumps = yes turns them back on.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq perl base64
tr_need_binaries
tr_tmpdir
tr_certs

# mem_scan PID NEEDLE-FILE: print each needle (by its line number) found in
# the readable memory of PID with the region it is in; exit 0 when none
# is, 1 when one is, 2 when the memory cannot be read.  Regions larger
# than 4 GiB are reserved space (sanitizer shadow memory), not data.
mem_scan()
{
	perl -e '
	    use strict;
	    my ($pid, $nf) = @ARGV;
	    open(my $n, "<", $nf) or exit 2;
	    my @needles = map { chomp; $_ } <$n>;
	    open(my $maps, "<", "/proc/$pid/maps") or exit 2;
	    open(my $mem, "<:raw", "/proc/$pid/mem") or exit 2;
	    my ($found, $read) = (0, 0);
	    while (my $l = <$maps>) {
		my ($lo, $hi, $perm, $name) =
		    $l =~ /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/
		    or next;
		next if substr($perm, 0, 1) ne "r";
		next if $name =~ /^\[(vvar|vsyscall|vvar_vclock)\]$/;
		($lo, $hi) = (hex($lo), hex($hi));
		next if $hi - $lo > 4 << 30;
		for (my $a = $lo; $a < $hi; $a += 1 << 24) {
			my $len = $hi - $a < (1 << 24) + 4096 ?
			    $hi - $a : (1 << 24) + 4096;
			my $buf;
			sysseek($mem, $a, 0) or next;
			defined(sysread($mem, $buf, $len)) or next;
			$read += length($buf);
			for my $i (0 .. $#needles) {
				my $at = index($buf, $needles[$i]);
				next if $at < 0;
				# Where, and the bytes before it (what held it).
				my $from = $at > 96 ? $at - 96 : 0;
				(my $before = substr($buf, $from, $at - $from)) =~
				    s/([^\x20-\x7e])/sprintf("\\x%02x", ord($1))/ge;
				printf("needle %d at 0x%x, region 0x%x %s, " .
				    "after: %s\n", $i + 1, $a + $at, $lo,
				    $name eq "" ? "anonymous" : $name, $before);
				$found = 1;
			}
		}
	    }
	    exit 2 if $read == 0;
	    exit $found;
	' "$1" "$2"
}

# The daemon's health port (second line of the port file): plain HTTP.
health_get()
{
	local hp
	hp=$(sed -n 2p "$TR_DIR/port")
	curl -sS --max-time 10 "http://127.0.0.1:$hp$1"
}

# No connection but the scrape itself is open: every answer is out and
# every client connection has been closed and freed.
connections_closed()
{
	local n
	n=$(health_get /metrics | awk '$1 == "tokenreviewd_connections_open" {
	    print $2 }')
	[ -n "$n" ] && [ "$n" -le 1 ]
}

# ---------------------------------------------------------------- memory

tid "no token or bearer secret left in memory after the reviews"
BEARER=b$(openssl rand -hex 24)
# With a character JSON escapes, the review parser copies it unescaped
# into its arena (256 bytes at first); an escaped audience after it makes
# the arena grow, which must not leave the old one unwiped.
UNKNOWN="u$(openssl rand -hex 60)\\$(openssl rand -hex 4)"
AUD_ESC=$(jq -nc --arg a "a$(openssl rand -hex 120)\\b" '[$a]')
LDAPISH=$(printf 'carol:pw-%s' "$(openssl rand -hex 16)" | base64 -w0)
KNOWN=k$(openssl rand -hex 24)
KNOWN_USER=user-$(openssl rand -hex 12)
opts=()
# Reading the memory of a process that is not dumpable takes root.
[ "$(id -u)" = 0 ] || opts+=(server.core_dumps=yes)
tr_config mem server.client_ca= server.client_names= \
    "server.client_token_file=$TR_TMP/mem/bearer" \
    server.health_listen=127.0.0.1:0 "${opts[@]}"
printf '%s\n' "$BEARER" | tr_write "$TR_DIR/bearer"
tr_tokens "$KNOWN,$KNOWN_USER,1"
if tr_start mem; then
	n200=0
	for i in 1 2 3; do
		for tok in "$UNKNOWN" "$LDAPISH" "$KNOWN"; do
			TR_CLIENT=none tr_review v1 "$tok" \
			    "$([ "$tok" != "$UNKNOWN" ] || echo "$AUD_ESC")" \
			    -H "Authorization: Bearer $BEARER" >/dev/null
			[ "$TR_CODE" = 200 ] && n200=$((n200 + 1))
		done
	done
	is "$n200" 9 "nine reviews with the bearer secret answered"
	tr_jq '.status.authenticated == true' ||
	    diag "the known token was not accepted: $TR_BODY"
	# Then six at once, so that several connections' buffers are in
	# use together and freed, not one reused over and over.
	pids=()
	for i in 1 2 3; do
		for tok in "$UNKNOWN" "$LDAPISH"; do
			TR_CLIENT=none tr_review v1 "$tok" \
			    "$([ "$tok" != "$UNKNOWN" ] || echo "$AUD_ESC")" \
			    -H "Authorization: Bearer $BEARER" >/dev/null &
			pids+=($!)
		done
	done
	wait "${pids[@]}"
	ok "fifteen audit lines: every review answered" tr_wait_until 10 \
	    eval '[ "$(grep -c "\"event\":\"review\"" "$TR_LOG")" -ge 15 ]'
	ok "every client connection closed" \
	    tr_wait_until 10 connections_closed
	printf '%s\n' "$UNKNOWN" "$LDAPISH" "$BEARER" >"$TR_TMP/needles"
	out=$(mem_scan "$TR_PID" "$TR_TMP/needles")
	rc=$?
	if [ "$rc" = 2 ]; then
		skip "no token or bearer secret in the daemon's memory" \
		    "cannot read /proc/$TR_PID/mem here"
	else
		# 1: the unknown token, 2: the LDAP-shaped one, 3: the bearer.
		ok "no unknown token, LDAP-shaped token or bearer secret in \
the daemon's memory" [ "$rc" = 0 ] || diag "$out"
	fi
	# The static table holds the user name of the known token (and the
	# token's SHA-256, not the token): seeing the name shows that the
	# scan reads the heap at all.
	printf '%s\n' "$KNOWN_USER" >"$TR_TMP/needles.known"
	mem_scan "$TR_PID" "$TR_TMP/needles.known" >/dev/null
	rc=$?
	if [ "$rc" = 2 ]; then
		skip "the scan finds the user name the static table holds" \
		    "cannot read /proc/$TR_PID/mem here"
	else
		is "$rc" 1 "the scan finds the user name the static table holds"
	fi
	# Signals go to the main thread only: a signal's frame, with the
	# vector registers that hold the last bytes copied, is written on
	# the stack of the thread it interrupts.  SigBlk is hex; SIGHUP is
	# bit 0, SIGTERM bit 14.
	unblocked=
	for st in /proc/"$TR_PID"/task/*/status; do
		[ "${st%/status}" = "/proc/$TR_PID/task/$TR_PID" ] && continue
		blk=$(awk '$1 == "SigBlk:" { print $2 }' "$st")
		[ $(( (0x$blk >> 0) & (0x$blk >> 14) & 1 )) = 1 ] ||
		    unblocked="$unblocked ${st%/status}"
	done
	is "$unblocked" "" "no thread but the main one takes SIGHUP or SIGTERM"
	tr_stop
else
	fail "the daemon starts in bearer mode with a health port"
fi

# The lazy binding of a symbol's first call saves every vector register
# on the calling thread's stack: with the request just copied, its token.
tid "the daemon's symbols are bound at start"
if command -v readelf >/dev/null; then
	like "$(readelf -d "$TOKENREVIEWD")" 'BIND_NOW|Flags:.* NOW' \
	    "the daemon is linked with -z now"
else
	skip "the daemon is linked with -z now" "no readelf here"
fi

# ---------------------------------------------------------------- core dumps

# core_limit PID: the soft core file size limit of PID.
core_limit()
{
	awk '/^Max core file size/ { print $5 }' "/proc/$1/limits"
}

tid "core dumps are off by default, on with [server] core_dumps = yes"
# Our own limit, raised to the hard one, is what a daemon that allows
# core dumps keeps.
ulimit -S -c "$(ulimit -H -c)" 2>/dev/null
tr_config core
tr_tokens 'tok1,alice,1'
if tr_start core; then
	is "$(core_limit "$TR_PID")" 0 "the default: core file size 0"
	tr_stop
else
	fail "the daemon starts with the default core_dumps"
fi
if [ "$(ulimit -c)" = 0 ]; then
	skip "core_dumps = yes keeps the core file size limit" \
	    "the hard core file size limit here is 0"
else
	tr_config core server.core_dumps=yes
	# AddressSanitizer sets the limit to 0 itself unless told not to.
	if ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}disable_coredump=0 \
	    tr_start core; then
		is "$(core_limit "$TR_PID")" "$(ulimit -c)" \
		    "core_dumps = yes: the core file size limit is left as it was"
		tr_stop
	else
		fail "the daemon starts with core_dumps = yes"
	fi
fi
tr_config core server.core_dumps=maybe
"$TOKENREVIEWD" -n -c "$TR_CONF" >"$TR_TMP/core.out" 2>&1
rc=$?
like "$rc $(cat "$TR_TMP/core.out")" '^1 .*core_dumps' \
    "core_dumps = maybe is a configuration error"

done_testing
