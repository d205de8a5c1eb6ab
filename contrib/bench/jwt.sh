#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# JWT review throughput against its bound.  wrk posts TokenReviews of RS256
# and ES256 tokens (signed here with the openssl CLI, verified against
# public key files) to tokenreviewd on 127.0.0.1, with the result cache off
# (every review verifies a signature) and on.  In the same run it measures
# what a JWT review is made of: the static token file's path under the same
# wrk settings (TLS, HTTP and a review, without a signature), with tokens
# as long as each algorithm's JWTs, and openssl speed's verify rate on one
# core for rsa2048 and ecdsap256.  An uncached JWT review cannot go faster
# than
#
#   bound = 1 / (1/static + 1/(workers x openssl verify rate))
#
# and the script prints, for RS256 and ES256, that bound and the ratio of
# the uncached rate to it.  The daemons stay up for the whole run; the
# measured runs alternate (openssl speed, static, RS256, ES256, cached
# RS256 and ES256) for --rounds rounds.  A virtual machine's speed moves
# by a third within minutes, so each round's ratio is taken against the
# bound of that round (its own openssl speed and static rate), and the
# ratio printed is the mean of the rounds' ratios.  The load average is
# printed at the start and at the end.  Everything lives in a temporary
# directory.
#
# The verify rate is what OpenSSL's general path reaches; the daemon
# checks RS256 and ES256 with less work (src/jwt-sig.c), so a ratio above
# 1 means a check cheaper than openssl speed's.
#
# The bound adds the two costs as if nothing else happened.  What the
# machine lets such a review reach is measured too, when a C compiler is
# at hand: in each round a static-file daemon (cache off) runs with
# burn.c preloaded, which makes every reply first burn one verification's
# CPU time as that round's openssl speed measured it.  Its rate is the
# co-located ceiling: a review made of a static review and a signature
# check with no cost of its own beyond openssl speed's, served with wrk on
# the same cores.  The script prints it against the bound and the
# uncached rate against it.
#
#   jwt.sh [--duration 5s] [--connections 16] [--workers 2] [--tokens 100]
#          [--rounds 3] [--speed-seconds 2]
#
# The daemon is $TOKENREVIEWD, else ./tokenreviewd.

set -eu

DURATION=5s
CONNECTIONS=16
WORKERS=2
TOKENS=100
ROUNDS=3
SPEED_S=2
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) DURATION=$2; shift ;;
	--connections) CONNECTIONS=$2; shift ;;
	--workers) WORKERS=$2; shift ;;
	--tokens) TOKENS=$2; shift ;;
	--rounds) ROUNDS=$2; shift ;;
	--speed-seconds) SPEED_S=$2; shift ;;
	*) echo "usage: jwt.sh [--duration D] [--connections N]" \
	    "[--workers N] [--tokens N] [--rounds N] [--speed-seconds N]" >&2
	    exit 2 ;;
	esac
	shift
done
HERE=$(cd "$(dirname "$0")" && pwd)
DAEMON=${TOKENREVIEWD:-./tokenreviewd}
for t in wrk openssl curl xxd od; do
	command -v "$t" >/dev/null || { echo "jwt.sh: $t not found" >&2; exit 1; }
done
[ -x "$DAEMON" ] || { echo "jwt.sh: no daemon at $DAEMON" >&2; exit 1; }

D=$(mktemp -d "${TMPDIR:-/tmp}/tokenreviewd-jwt-bench.XXXXXX")
declare -A PID PORT
cleanup()
{
	local p
	for p in "${PID[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$D"
}
trap cleanup EXIT
umask 077

die()
{
	echo "jwt.sh: $*" >&2
	exit 1
}

b64url()
{
	base64 -w0 | tr '+/' '-_' | tr -d '='
}

# An ECDSA DER signature on stdin as JWS wants it: r||s, 32 bytes each.
ecdsa_raw()
{
	openssl asn1parse -inform DER | awk -F: '/INTEGER/ { print $NF }' |
	    while read -r h; do
		# 33 bytes with a sign byte, or fewer than 32 ("${h: -64}"
		# of a shorter string is empty: one token in 128 was bad).
		[ "${#h}" -gt 64 ] && h=${h: -64}
		printf '%064s' "$h" | tr ' ' 0
	    done | xxd -r -p
}

# token ALG KEY N: a JWT for user bench-N valid for an hour.
token()
{
	local now h p s
	now=$(date +%s)
	h=$(printf '{"alg":"%s","typ":"JWT"}' "$1" | b64url)
	p=$(printf '{"iss":"https://bench.test","aud":"kubernetes","sub":"bench-%s","jti":"%s","groups":["bench"],"iat":%s,"exp":%s}' \
	    "$3" "$3" "$now" $((now + 3600)) | b64url)
	if [ "$1" = RS256 ]; then
		s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$2" |
		    b64url)
	else
		s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$2" |
		    ecdsa_raw | b64url)
	fi
	printf '%s.%s.%s\n' "$h" "$p" "$s"
}

# start NAME CHAIN CACHE(0|1) [BURN_NS]: a daemon; with BURN_NS, burn.so
# preloaded, burning that many nanoseconds before each reply.
start()
{
	local n=0 _ pre=()
	[ "$3" = 1 ] && n=100000
	[ $# -ge 4 ] && pre=(env LD_PRELOAD="$D/burn.so" BURN_NS="$4")
	rm -f "$D/$1.port"
	cat >"$D/$1.conf" <<EOF
[server]
listen = 127.0.0.1:0
port_file = $D/$1.port
tls_cert = $D/tls.crt
tls_key = $D/tls.key
workers = $WORKERS
chain = $2
[cache]
max_entries = $n
[log]
level = warn
audit = no
[static]
file = $D/static.csv
[jwt "bench"]
issuer = https://bench.test
audiences = kubernetes
username_prefix = -
groups_claim = groups
public_key_file = $D/rsa.pub $D/ec.pub
EOF
	# Not on our stdout: that is the caller's $(...).
	"${pre[@]}" "$DAEMON" -c "$D/$1.conf" >/dev/null 2>>"$D/$1.log" &
	PID[$1]=$!
	for _ in $(seq 100); do
		[ -s "$D/$1.port" ] && break
		sleep 0.05
	done
	[ -s "$D/$1.port" ] || { cat "$D/$1.log" >&2; die "$1 did not start"; }
	PORT[$1]=$(head -n 1 "$D/$1.port")
	PORT[$1]=${PORT[$1]##*:}
}

# stop NAME: the daemon started as NAME, stopped.
stop()
{
	kill "${PID[$1]}" 2>/dev/null && wait "${PID[$1]}" 2>/dev/null
	unset "PID[$1]"
}

# check NAME LIST: the daemon accepts the first token of the list.
check()
{
	local body
	body="{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"spec\":{\"token\":\"$(head -n 1 "$D/$2.tokens")\"}}"
	curl -sk -H 'Content-Type: application/json' -d "$body" \
	    "https://127.0.0.1:${PORT[$1]}/tokenreview" |
	    grep -q '"authenticated":true' || die "$1 refused a $2 token"
}

# load NAME LIST DURATION: requests per second; errors end the run.
load()
{
	local out=$D/wrk.out
	wrk -t1 -c"$CONNECTIONS" -d"$3" -s "$HERE/review.lua" \
	    "https://127.0.0.1:${PORT[$1]}/tokenreview" -- "$D/$2.tokens" \
	    >"$out" 2>&1 || { cat "$out" >&2; die "wrk failed ($1, $2)"; }
	if grep -qE 'Non-2xx|Socket errors' "$out"; then
		cat "$out" >&2
		die "errors under load ($1, $2)"
	fi
	awk '/^Requests\/sec/ { print $2 }' "$out"
}

# openssl speed's verify/s on one core: "RSA2048 ECDSAP256".  Its lines:
#   rsa 2048 bits 0.000245s 0.000015s 4081.8 65541.7
#   256 bits ecdsa (nistp256) 0.0000s 0.0001s 48661.0 15645.9
# that is time to sign, time to verify, sign/s, verify/s: the last field.
speed()
{
	openssl speed -seconds "$SPEED_S" rsa2048 ecdsap256 2>/dev/null |
	    awk '/^rsa 2048 bits/ { r = $NF }
	    /256 bits ecdsa \(nistp256\)/ { e = $NF }
	    END { if (r == "" || e == "") exit 1; print r, e }'
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$D/tls.key" -out "$D/tls.crt" 2>/dev/null
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -out "$D/rsa.key" 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out "$D/ec.key" 2>/dev/null
openssl pkey -in "$D/rsa.key" -pubout -out "$D/rsa.pub"
openssl pkey -in "$D/ec.key" -pubout -out "$D/ec.pub"
for i in $(seq "$TOKENS"); do
	token RS256 "$D/rsa.key" "$i" >>"$D/rs256.tokens"
	token ES256 "$D/ec.key" "$i" >>"$D/es256.tokens"
done
# The static yardstick of each algorithm: tokens as long as its JWTs, so
# that TLS, HTTP, the JSON scan and the hashes of the token cost what
# they cost for a JWT and the bound leaves out the signature only.
i=0
for alg in rs256 es256; do
	while read -r jwt; do
		i=$((i + 1))
		tok=tok$i-$(od -An -vtx1 -N$((${#jwt} / 2 + 1)) /dev/urandom |
		    tr -d ' \n')
		tok=${tok:0:${#jwt}}
		echo "$tok" >>"$D/static-$alg.tokens"
		echo "$tok,bench-$i,$i,\"bench\"" >>"$D/static.csv"
	done <"$D/$alg.tokens"
done

BURN=0
if command -v cc >/dev/null && cc -O2 -shared -fPIC -o "$D/burn.so" \
    "$HERE/burn.c" -ldl 2>"$D/burn.err"; then
	BURN=1
else
	echo "jwt.sh: no C compiler built burn.c: no co-located ceiling" >&2
fi

echo "tokenreviewd JWT benchmark: $DAEMON, 127.0.0.1 only"
echo "  cpus $(nproc), workers $WORKERS, wrk -t1 -c$CONNECTIONS" \
    "-d$DURATION, $ROUNDS rounds, $TOKENS tokens of each kind," \
    "$(openssl version | awk '{ print $1, $2 }')"
echo "  load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
start static static 0
start jwt-nocache jwt 0
start jwt-cache jwt 1
check static static-rs256
check static static-es256
check jwt-nocache rs256
check jwt-nocache es256
check jwt-cache es256

RUNS="static:static-rs256 static:static-es256 jwt-nocache:rs256"
RUNS="$RUNS jwt-nocache:es256 jwt-cache:rs256"
RUNS="$RUNS jwt-cache:es256"
for r in $RUNS; do
	load "${r%%:*}" "${r#*:}" 1s >/dev/null
done
# results: "ROUND speed RSA EC" and "ROUND NAME:LIST REQ/S" lines.
: >"$D/results"
for round in $(seq "$ROUNDS"); do
	sp=$(speed) || die "openssl speed gave no verify rate"
	printf '  round %d: openssl speed, verify/s on one core: rsa2048 %s, ' \
	    "$round" "${sp% *}"
	printf 'ecdsap256 %s\n' "${sp#* }"
	echo "$round speed $sp" >>"$D/results"
	runs=$RUNS
	if [ "$BURN" = 1 ]; then
		# One verification's CPU time, in ns, from this round's speed.
		start burn-rs256 static 0 "$(awk -v v="${sp% *}" \
		    'BEGIN { printf "%.0f", 1e9 / v }')"
		start burn-es256 static 0 "$(awk -v v="${sp#* }" \
		    'BEGIN { printf "%.0f", 1e9 / v }')"
		check burn-rs256 static-rs256
		check burn-es256 static-es256
		runs="$runs burn-rs256:static-rs256 burn-es256:static-es256"
	fi
	for r in $runs; do
		rps=$(load "${r%%:*}" "${r#*:}" "$DURATION")
		printf '  round %d: %-12s %-12s %8.0f req/s\n' "$round" \
		    "${r%%:*}" "${r#*:}" "$rps"
		echo "$round $r $rps" >>"$D/results"
	done
	if [ "$BURN" = 1 ]; then
		stop burn-rs256
		stop burn-es256
	fi
done
echo "  load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

awk -v w="$WORKERS" '
$2 == "speed" { v[$1, "rs256"] = $3; v[$1, "es256"] = $4; next }
{ rate[$1, $2] = $3; rounds[$1] = 1 }
END {
	split("rs256 es256", algs, " ")
	for (r in rounds) {
		nr++
		for (i = 1; i <= 2; i++) {
			k = algs[i]
			st = rate[r, "static:static-" k]
			sum[k "static"] += st
			bound = 1 / (1 / st + 1 / (w * v[r, k]))
			sum[k "bound"] += bound
			sum[k "speed"] += v[r, k]
			sum[k "off"] += rate[r, "jwt-nocache:" k]
			sum[k "on"] += rate[r, "jwt-cache:" k]
			sum[k "ratio"] += rate[r, "jwt-nocache:" k] / bound
			ceil = rate[r, "burn-" k ":static-" k]
			if (ceil == "")
				continue
			sum[k "ceil"] += ceil
			sum[k "ceilbound"] += ceil / bound
			sum[k "offceil"] += rate[r, "jwt-nocache:" k] / ceil
		}
	}
	printf "static (cache off), tokens as long as the JWTs: %.0f req/s " \
	    "(RS256 length), %.0f req/s (ES256 length)\n",
	    sum["rs256static"] / nr, sum["es256static"] / nr
	for (i = 1; i <= 2; i++) {
		k = algs[i]
		printf "%s: cache off %.0f req/s, cache on %.0f req/s; " \
		    "openssl verify %.0f/s a core; bound 1/(1/static + " \
		    "1/(%d x verify)) %.0f req/s; cache off / bound = %.3f " \
		    "(mean of %d rounds, each against its own bound)\n",
		    toupper(k), sum[k "off"] / nr, sum[k "on"] / nr,
		    sum[k "speed"] / nr, w, sum[k "bound"] / nr,
		    sum[k "ratio"] / nr, nr
		if (sum[k "ceil"] == "")
			continue
		printf "%s co-located ceiling: static with one verify burnt " \
		    "a reply %.0f req/s = %.3f of the bound; cache off / " \
		    "ceiling = %.3f (means of %d rounds)\n", toupper(k),
		    sum[k "ceil"] / nr, sum[k "ceilbound"] / nr,
		    sum[k "offceil"] / nr, nr
	}
}' "$D/results"
