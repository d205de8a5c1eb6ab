#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# soak.sh [--duration 10m] [--period 20] [--connections 8]
#
# A long, bounded run of one daemon with every source (static file, token
# database on PostgreSQL, LDAP in bind mode, an OpenID Connect issuer),
# the servers on loopback as in tests/faults.sh.  wrk reviews good and bad
# tokens of every source for the whole duration while, every --period
# seconds, the next event of a cycle happens: a SIGHUP reload, a change of
# the token file, a restart of slapd, of PostgreSQL, of the issuer.  At
# the end it prints the requests, the answers by kind, p99 and the
# slowest, and the daemon's RSS and open file descriptors at the start,
# every minute and at the end.
#
# The daemon is $TOKENREVIEWD (and $TOKENREVIEWCTL beside it), else the one
# in ./build of the source tree.  Needs what tests/faults.sh needs (wrk,
# slapd, PostgreSQL, node with oidc-provider in $TR_NODE_DIR) and root for
# PostgreSQL.  The audit log is off: at several thousand reviews a second
# it would fill the disk.  Not part of the test suite.

set -u
src=$(cd "$(dirname "$0")/../.." && pwd)
: "${TOKENREVIEWD:=$src/build/tokenreviewd}"
export TOKENREVIEWD
duration=600
period=20
conns=8

seconds()
{
	case $1 in
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}

while [ $# -gt 0 ]; do
	case $1 in
	--duration) duration=$(seconds "$2"); shift 2 ;;
	--period) period=$(seconds "$2"); shift 2 ;;
	--connections) conns=$2; shift 2 ;;
	*) echo "usage: $0 [--duration 10m] [--period 20] [--connections 8]" >&2
	   exit 2 ;;
	esac
done
[ "$duration" -ge 30 ] && [ "$duration" -le 86400 ] ||
    { echo "soak.sh: --duration between 30s and 24h" >&2; exit 2; }

. "$src/tests/lib.sh"
REVIEW_TIMEOUT_MS=3000
MAX_MS=$((REVIEW_TIMEOUT_MS + 2500))
tr_need curl openssl jq setsid timeout wrk node npm sha256sum base64
[ -x /usr/sbin/slapd ] || tr_skip_all "slapd not installed"
tr_need_binaries
tr_tmpdir
tr_certs
. "$src/tests/upstreams-lib.sh"
upstreams_setup log.audit=no log.level=warn || exit 1

# Bad tokens of every shape: unknown opaque and bootstrap-shaped tokens, a
# wrong LDAP password (of a user the good token does not use, so that
# the per-user bind limit never touches alice), a JWT signed with a key
# the issuer does not publish under that kid, an expired one.
WRONG_PW=$(b64 "paula:wrong-$(openssl rand -hex 4)")
FORGED=$(node "$ISSUER_JS" sign "$TR_TMP/rotated.keys" c-ec ES256 \
    "$(jwt_claims jwt-user@test)" a-ec)
EXPIRED=$(node "$ISSUER_JS" sign "$TR_TMP/idp.keys" a-ec ES256 \
    "$(jwt_claims jwt-user@test | jq -c '.iat -= 7200 | .exp -= 3600')")
printf '%s\n' "$STATIC" "$DBTOK" "$LDAPTOK" "$JWT" \
    "x$(openssl rand -hex 16)" "abcdef.0123456789abcdef" "$WRONG_PW" \
    "$FORGED" "$EXPIRED" >"$TR_TMP/tokens.txt"

sample()
{
	printf '%6s s  rss %6s KiB  fds %4s\n' "$1" "$(rss_kib)" "$(fds)"
}

event()
{
	case $(($1 % 5)) in
	0)	kill -HUP "$DAEMON"
		echo "reload (SIGHUP)" ;;
	1)	printf '%s,static-user,1,static\nx%s,other,2,\n' "$STATIC" \
		    "$(openssl rand -hex 8)" | tr_write "$TR_DIR/tokens.csv"
		echo "token file changed" ;;
	2)	slapd_stop s1 >/dev/null 2>&1
		slapd_start s1
		echo "slapd restarted" ;;
	3)	pg_ctl_run -m immediate -w stop >/dev/null 2>&1
		pg_start || echo "PostgreSQL did not start again"
		echo "PostgreSQL restarted (immediate stop)" ;;
	4)	tr_bg_kill "$IDP_PID"
		idp_start "$TR_TMP/idp.keys" || echo "the issuer did not start"
		echo "issuer restarted" ;;
	esac
}

load_start "$duration"
t0=$SECONDS
sleep 5
echo "soak: $duration s, an event every $period s, $conns connections"
sample 5 | tee "$TR_TMP/samples"
n=0
next=$period
minute=60
while tr_alive "$WRK_PID"; do
	sleep 1
	t=$((SECONDS - t0))
	if [ "$t" -ge "$next" ] && [ "$t" -lt $((duration - 5)) ]; then
		printf '%6s s  ' "$t"
		event "$n"
		n=$((n + 1))
		next=$((next + period))
	fi
	if [ "$t" -ge "$minute" ]; then
		sample "$t" | tee -a "$TR_TMP/samples"
		minute=$((minute + 60))
	fi
	[ "$t" -gt $((duration + 60)) ] && break
done
load_wait
sample end | tee -a "$TR_TMP/samples"
echo "daemon alive: $(tr_alive "$DAEMON" && echo yes || echo NO)"
echo "requests $W_REQUESTS: ok $W_OK, no $W_NO, error $W_ERROR," \
    "other $W_OTHER; p99 $W_P99_MS ms, slowest $W_MAX_MS ms;" \
    "wrk timeouts $W_TIMEOUTS, socket errors $W_SOCKERR"
grep -E '"level":"(error|fatal)"' "$TR_LOG" | cut -c1-200 | sort |
    uniq -c | sort -rn | head -n 10
tr_metrics
printf '%s\n' "$TR_METRICS" | grep -E '^tokenreviewd_reviews_total' | grep -v ' 0$'
