#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# LDAP review throughput: starts one slapd with --users extra users
# (default 10,000) on loopback, and measures with wrk tokenreviewd in
# bind mode (StartTLS, service bind, user search, user bind, group
# search) and in attribute mode (user search by token hash, group
# search), each with the result cache off (every review goes to slapd,
# tokens drawn from all users), on with the same draw (misses dominate
# while the cache fills), and on for a burst of --hot users (hits), and
# the static backend serving the bind tokens as the yardstick.  Prints
# one line per case: requests per second, p50 and p99 latency in ms,
# non-2xx answers, the daemon's peak RSS; on stderr the mean time of each
# kind of LDAP operation and the operations per review.  slapd needs its
# equality indexes (tests/slapd-lib.sh sets them): without, every user
# search is a scan of the whole directory.
#
# The uncached case of each mode runs --rounds times, each time followed
# by ldapload (ldapload.c, built here with cc), which sends the same
# operations straight to the same slapd, as many reviews in flight as wrk
# has connections.  The last lines give, per mode, the daemon's rate and
# the directory's (means over the rounds) and the mean of the rounds'
# ratios, each round's daemon rate against the directory's right after
# it: the machine's speed moves by a third within minutes.
#
#   TOKENREVIEWD=build/tokenreviewd contrib/bench/ldap.sh \
#       [--users N] [--duration 10s] [--connections 64] [--workers 2] \
#       [--pool 4] [--hot 100] [--mode both|bind|attribute] [--rounds 3]
#
# Needs slapd, ldap-utils, libldap's headers, cc, wrk, jq, curl, openssl.
# Everything listens on 127.0.0.1 and is stopped at the end.

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
USERS=10000
DURATION=10s
CONNECTIONS=64
WORKERS=2
POOL=4
HOT=100
MODE=both
ROUNDS=3
while [ $# -gt 0 ]; do
	case $1 in
	--users) USERS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--connections) CONNECTIONS=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--pool) POOL=$2; shift 2 ;;
	--hot) HOT=$2; shift 2 ;;
	--mode) MODE=$2; shift 2 ;;
	--rounds) ROUNDS=$2; shift 2 ;;
	*) echo "usage: $0 [--users N] [--duration D] [--connections N]" \
	    "[--workers N] [--pool N] [--hot N] [--mode both|bind|attribute]" \
	    "[--rounds N]" >&2; exit 2 ;;
	esac
done
case $MODE in
both|bind|attribute) ;;
*) echo "$0: --mode is both, bind or attribute" >&2; exit 2 ;;
esac
: "${TOKENREVIEWD:=$(command -v tokenreviewd || echo ./tokenreviewd)}"
export TOKENREVIEWD
. "$TOP/tests/lib.sh"
for t in wrk jq curl openssl /usr/sbin/slapd ldapwhoami; do
	command -v "$t" >/dev/null 2>&1 || { echo "$0: $t not found" >&2; exit 1; }
done
tr_tmpdir
tr_certs
${CC:-cc} -O2 -o "$TR_TMP/ldapload" "$HERE/ldapload.c" -lldap -llber ||
    { echo "$0: could not build ldapload.c (libldap headers?)" >&2; exit 1; }
. "$TOP/tests/slapd-lib.sh"

echo "# $USERS users, $DURATION per case, $CONNECTIONS connections," \
    "$WORKERS workers, pool_size $POOL" >&2
slapd_data "$USERS"
t0=$(tr_now)
slapd_start s1
echo "# slapadd and slapd start: $(tr_elapsed "$t0") s" >&2
printf '%s\n' "$READER_PW" | tr_write "$TR_TMP/reader.pw"
seq 0 $((USERS - 1)) | sed 's/.*/bench&:bench-pw/' | jq -Rr @base64 \
    >"$TR_TMP/tokens.txt"
paste -d, "$TR_TMP/tokens.txt" <(seq 0 $((USERS - 1)) | sed 's/^/bench/') \
    <(seq 10000 $((USERS + 9999))) | tr_write "$TR_TMP/tokens.csv"

# daemon NAME MODE KEY=VALUE...: a daemon without client authentication
# whose directory works in MODE (bind or attribute).
daemon()
{
	local name=$1 mode=$2
	shift 2
	tr_config "$name" server.client_ca= server.client_names= \
	    server.workers="$WORKERS" log.level=warn \
	    static.file="$TR_TMP/tokens.csv" "$@"
	cat >>"$TR_CONF" <<EOC

[ldap "bench"]
uri = $s1_LDAP
ca = $TR_CERTS/ca.crt
bind_dn = cn=reader,$BASE
bind_password_file = $TR_TMP/reader.pw
mode = $mode
token_attribute = kubeTokenHash
user_base = ou=people,$BASE
uid_attribute = uidNumber
group_base = ou=groups,$BASE
group_filter = (&(objectClass=posixGroup)(memberUid=%u))
pool_size = $POOL
EOC
	tr_start "$name" || { echo "$0: daemon $name did not start" >&2; exit 1; }
}

# load NAME TOKENS: wrk against the current daemon; one result line.
load()
{
	local out=$TR_TMP/wrk-$1.txt toks=$2
	TR_CLIENT=none
	tr_review v1 "$(head -n 1 "$toks")" >/dev/null
	tr_jq '.status.authenticated == true' ||
	    { echo "$0: $1: a bench token is not accepted: $TR_BODY" >&2; exit 1; }
	wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency \
	    -s "$HERE/review.lua" "$TR_URL/tokenreview" -- \
	    "$toks" >"$out" 2>&1
	awk -v n="$1" '
	function ms(v,   x, u) {
		x = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		return u == "us" ? x / 1000 : u == "s" ? x * 1000 : x
	}
	/^Requests\/sec:/ { rps = $2 }
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/Non-2xx/ { bad = $NF }
	END { printf "%-20s %10.0f req/s  p50 %7.2f ms  p99 %7.2f ms  non-2xx %d",
	    n, rps, p50, p99, bad + 0 }' "$out"
	awk '/^VmHWM:/ { printf "  peak RSS %.1f MiB\n", $2 / 1024 }' \
	    "/proc/$TR_PID/status"
}

# finish: the current daemon's LDAP operations on stderr; then it stops.
finish()
{
	tr_metrics
	printf '%s\n' "$TR_METRICS" | awk '
	/^tokenreviewd_ldap_operations_total/ && $NF > 0 {
		match($0, /op="[a-z]+"/); op = substr($0, RSTART + 4, RLENGTH - 5)
		n[op] += $NF
	}
	/^tokenreviewd_ldap_operation_seconds_sum/ {
		match($0, /op="[a-z]+"/); op = substr($0, RSTART + 4, RLENGTH - 5)
		s[op] = $NF
	}
	/^tokenreviewd_reviews_total/ { reviews += $NF }
	END {
		for (op in n) printf "#   ldap %-8s %8d ops, mean %.3f ms, " \
		    "%.2f per review\n", op, n[op], 1000 * s[op] / n[op],
		    (reviews > 0 ? n[op] / reviews : 0)
	}' >&2
	tr_stop "$TR_PID"
}

# seconds DURATION: wrk's duration (10s, 2m) in seconds, for ldapload.
seconds()
{
	case $1 in
	*m) echo $((${1%m} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo "$1" ;;
	esac
}

# directory MODE NAME INPUT: ldapload against slapd, the operations of an
# uncached review in MODE, as many in flight as wrk's connections, on as
# many search and bind connections as the daemon's workers may open.
directory()
{
	local mode=$1 name=$2 input=$3 conns=$((WORKERS * POOL)) filter
	filter='(uid=%s)'
	[ "$mode" = bind ] || filter='(kubeTokenHash=%s)'
	LDAPTLS_CACERT=$TR_CERTS/ca.crt "$TR_TMP/ldapload" -H "$s1_LDAP" -Z \
	    -D "cn=reader,$BASE" -y "$TR_TMP/reader.pw" -m "$mode" \
	    -i "$input" -b "ou=people,$BASE" -u "$filter" -a uid,uidNumber \
	    -B "ou=groups,$BASE" -G cn \
	    -g '(&(objectClass=posixGroup)(memberUid=%u))' \
	    -s "$conns" -n "$conns" -c "$CONNECTIONS" -w 1 \
	    -d "$(seconds "$DURATION")" >"$TR_TMP/dir-$name.txt" ||
	    { echo "$0: ldapload $mode failed" >&2; exit 1; }
	awk -v n="$name" '{ printf "%-20s %10.0f reviews/s  (searches/s %.0f," \
	    " binds/s %.0f, errors %d)\n", n, $4, $6, $8, $10 }' \
	    "$TR_TMP/dir-$name.txt"
}

# ratio MODE CASE: the uncached case's rate next to the directory's, the
# means over the rounds and the mean of the rounds' ratios.
ratio()
{
	local k d r
	for k in $(seq "$ROUNDS"); do
		d=$(awk '{ print $4 }' "$TR_TMP/dir-directory-$1-$k.txt")
		r=$(awk '/^Requests\/sec:/ { print $2 }' "$TR_TMP/wrk-$2-$k.txt")
		echo "$r $d"
	done | awk -v m="$1" '
	{ r += $1; d += $2; q += ($2 > 0 ? $1 / $2 : 0); n++ }
	END { printf "ratio %-9s daemon %8.0f req/s  directory %8.0f " \
	    "reviews/s  ratio %.3f  rounds %d\n", m, r / n, d / n, q / n, n }'
}

# cases MODE PREFIX TOKENS INPUT: cache off (then the directory's own
# rate for INPUT, ldapload's lines), on, and on for the hot tokens.
cases()
{
	head -n "$HOT" "$3" >"$TR_TMP/hot-$1.txt"
	daemon "$2-nocache" "$1" server.chain=ldap cache.ttl=0 \
	    cache.negative_ttl=0
	for k in $(seq "$ROUNDS"); do
		load "$2-nocache-$k" "$3"
		directory "$1" "directory-$1-$k" "$4"
	done
	finish
	daemon "$2-cache" "$1" server.chain=ldap cache.ttl=10m
	load "$2-cache" "$3"
	finish
	daemon "$2-cache-hot" "$1" server.chain=ldap cache.ttl=10m
	load "$2-cache-hot" "$TR_TMP/hot-$1.txt"
	finish
}

if [ -z "${BENCH_SKIP_STATIC:-}" ]; then
	daemon static bind server.chain=static
	load static "$TR_TMP/tokens.txt"
	finish
fi
seq 0 $((USERS - 1)) | sed 's/.*/bench&:bench-pw/' >"$TR_TMP/logins.txt"
[ "$MODE" = attribute ] ||
    cases bind ldap "$TR_TMP/tokens.txt" "$TR_TMP/logins.txt"
[ "$MODE" = bind ] || cases attribute ldap-attr "$TR_TMP/bench-tokens.txt" \
    "$TR_TMP/bench-hashes.txt"
slapd_stop s1
echo "# uncached reviews against the directory's own rate, load average" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
[ "$MODE" = attribute ] || ratio bind ldap-nocache
[ "$MODE" = bind ] || ratio attribute ldap-attr-nocache
