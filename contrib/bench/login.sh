#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Login flow throughput ([login], issue 12): starts one slapd with --users
# users (default 1,000) on loopback and measures with wrk, in one run:
#
#   login          POST /login on the login listener with the Basic
#                  credentials of every user in turn (login.lua): a
#                  service bind, user search, user bind and group search
#                  on the directory, then an ES256 signature.  All
#                  succeed: any answer but 200 is counted as an error.
#   review-recheck TokenReviews of tokens minted by /login (--tokens
#                  users' tokens, fetched first with curl), cache off,
#                  recheck = yes: a signature check and a user and group
#                  search on the directory per review.
#   review-norecheck  the same tokens, recheck = no: the signature only.
#   static         the static token file's path under the same wrk
#                  settings: TLS, HTTP and a review, no directory and no
#                  signature.
#
# Prints one line per case (requests per second, p50 and p99 in ms,
# non-2xx answers) and then each rate's ratio to the static one, with the
# load average at the start and at the end.  Each case has its own daemon,
# started for it and stopped after it; everything lives in a temporary
# directory and listens on 127.0.0.1.
#
#   TOKENREVIEWD=build/tokenreviewd contrib/bench/login.sh \
#       [--users N] [--duration 10s] [--connections 64] [--workers 2] \
#       [--pool 4] [--tokens 300]
#
# Needs slapd, ldap-utils, wrk, jq, curl, openssl.

set -u
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
USERS=1000
DURATION=10s
CONNECTIONS=64
WORKERS=2
POOL=4
TOKENS=300
while [ $# -gt 0 ]; do
	case $1 in
	--users) USERS=$2; shift 2 ;;
	--duration) DURATION=$2; shift 2 ;;
	--connections) CONNECTIONS=$2; shift 2 ;;
	--workers) WORKERS=$2; shift 2 ;;
	--pool) POOL=$2; shift 2 ;;
	--tokens) TOKENS=$2; shift 2 ;;
	*) echo "usage: $0 [--users N] [--duration D] [--connections N]" \
	    "[--workers N] [--pool N] [--tokens N]" >&2; exit 2 ;;
	esac
done
[ "$TOKENS" -le "$USERS" ] || TOKENS=$USERS
: "${TOKENREVIEWD:=$(command -v tokenreviewd || echo ./tokenreviewd)}"
export TOKENREVIEWD
. "$TOP/tests/lib.sh"
for t in wrk jq curl openssl /usr/sbin/slapd ldapwhoami; do
	command -v "$t" >/dev/null 2>&1 || { echo "$0: $t not found" >&2; exit 1; }
done
tr_tmpdir
tr_certs
. "$TOP/tests/slapd-lib.sh"

LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# $USERS users, $DURATION per case, wrk -t2 -c$CONNECTIONS," \
    "$WORKERS workers, pool_size $POOL, $TOKENS minted tokens"
echo "# load average at the start: $LOAD0"
slapd_data "$USERS"
slapd_start s1
printf '%s\n' "$READER_PW" | tr_write "$TR_TMP/reader.pw"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$TR_TMP/login.key" 2>/dev/null ||
    { echo "$0: cannot make the login key" >&2; exit 1; }
chmod 600 "$TR_TMP/login.key"
# The credentials of every user (base64, as in the Authorization header),
# and the static token file: the same bench users, for the yardstick.
seq 0 $((USERS - 1)) | sed 's/.*/bench&:bench-pw/' | jq -Rr @base64 \
    >"$TR_TMP/creds.txt"
seq 0 $((USERS - 1)) | sed 's/.*/st&-static-bench/' >"$TR_TMP/static.txt"
paste -d, "$TR_TMP/static.txt" <(seq 0 $((USERS - 1)) | sed 's/^/bench/') \
    <(seq 10000 $((USERS + 9999))) | tr_write "$TR_TMP/static.csv"

# daemon NAME RECHECK: a daemon whose login listener and JWT source use
# the bench directory, reviews without client certificate, cache off.
daemon()
{
	tr_config "$1" server.client_ca= server.client_names= \
	    server.workers="$WORKERS" server.chain="jwt ldap" static.file= \
	    log.level=warn log.audit=no cache.ttl=0 cache.negative_ttl=0 \
	    login.listen=127.0.0.1:0 login.issuer=https://login.bench.test \
	    login.ldap=bench login.signing_key="$TR_TMP/login.key" \
	    login.token_ttl=8h login.recheck="$2" login.failure_rate=0 \
	    login.max_connections=$((CONNECTIONS + 16))
	cat >>"$TR_CONF" <<EOC

[ldap "bench"]
uri = $s1_LDAP
ca = $TR_CERTS/ca.crt
bind_dn = cn=reader,$BASE
bind_password_file = $TR_TMP/reader.pw
mode = bind
reviews = no
user_base = ou=people,$BASE
uid_attribute = uidNumber
group_base = ou=groups,$BASE
group_filter = (&(objectClass=posixGroup)(memberUid=%u))
pool_size = $POOL
EOC
	tr_start "$1" || { echo "$0: daemon $1 did not start" >&2; exit 1; }
	LOGIN_URL=https://127.0.0.1:$(sed -n 3p "$TR_DIR/port")
}

# wrkrun NAME SCRIPT URL LIST: wrk with the bench settings; one line.
wrkrun()
{
	local out=$TR_TMP/wrk-$1.txt
	wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s "$HERE/$2" \
	    "$3" -- "$4" >"$out" 2>&1 ||
	    { cat "$out" >&2; echo "$0: wrk failed ($1)" >&2; exit 1; }
	awk -v n="$1" '
	function ms(v,   x, u) {
		x = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		return u == "us" ? x / 1000 : u == "s" ? x * 1000 : x
	}
	/^Requests\/sec:/ { rps = $2 }
	$1 == "50%" { p50 = ms($2) }
	$1 == "99%" { p99 = ms($2) }
	/Non-2xx/ { bad = $NF }
	/Socket errors/ { err = $0 }
	END { printf "%-18s %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  " \
	    "non-2xx %d%s\n", n, rps, p50, p99, bad + 0,
	    (err != "" ? "  (" err ")" : "") }' "$out"
}

# reviewed NAME: the first minted token is authenticated.
reviewed()
{
	TR_CLIENT=none
	tr_review v1 "$(head -n 1 "$TR_TMP/$1")" >/dev/null
	tr_jq '.status.authenticated == true' ||
	    { echo "$0: a bench token is refused: $TR_BODY" >&2; exit 1; }
}

# mint N: the tokens of the first N users, from /login, in tokens.txt.
mint()
{
	local c code
	: >"$TR_TMP/tokens.txt"
	head -n "$1" "$TR_TMP/creds.txt" | while read -r c; do
		code=$(curl -sS --cacert "$TR_CERTS/ca.crt" -o "$TR_TMP/ec.json" \
		    -w '%{http_code}' -X POST -H "Authorization: Basic $c" \
		    "$LOGIN_URL/login") && [ "$code" = 200 ] ||
		    { echo "$0: a bench login failed ($code)" >&2; exit 1; }
		jq -r .status.token "$TR_TMP/ec.json" >>"$TR_TMP/tokens.txt"
	done || exit 1
	rm -f "$TR_TMP/ec.json"
}

daemon login-recheck yes
t0=$(tr_now)
mint "$TOKENS"
echo "# $TOKENS tokens minted one by one with curl in $(tr_elapsed "$t0") s"
wrkrun login login.lua "$LOGIN_URL/login" "$TR_TMP/creds.txt"
reviewed tokens.txt
wrkrun review-recheck review.lua "$TR_URL/tokenreview" "$TR_TMP/tokens.txt"
tr_stop "$TR_PID"
daemon login-norecheck no
reviewed tokens.txt
wrkrun review-norecheck review.lua "$TR_URL/tokenreview" \
    "$TR_TMP/tokens.txt"
tr_stop "$TR_PID"
tr_config static server.client_ca= server.client_names= \
    server.workers="$WORKERS" server.chain=static log.level=warn \
    log.audit=no cache.ttl=0 cache.negative_ttl=0 \
    static.file="$TR_TMP/static.csv"
tr_start static || { echo "$0: daemon static did not start" >&2; exit 1; }
reviewed static.txt
wrkrun static review.lua "$TR_URL/tokenreview" "$TR_TMP/static.txt"
tr_stop "$TR_PID"
slapd_stop s1

echo "# load average at the start: $LOAD0, at the end:" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
for n in login review-recheck review-norecheck static; do
	awk -v n="$n" '/^Requests\/sec:/ { print n, $2 }' "$TR_TMP/wrk-$n.txt"
done | awk '
{ r[$1] = $2; o[++k] = $1 }
END {
	for (i = 1; i <= k; i++)
		printf "ratio %-18s %9.0f req/s / static %9.0f req/s = %.3f\n",
		    o[i], r[o[i]], r["static"],
		    (r["static"] > 0 ? r[o[i]] / r["static"] : 0)
}'
