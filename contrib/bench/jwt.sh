#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# JWT review throughput: wrk posts TokenReviews of RS256 and ES256 tokens
# (signed here with the openssl CLI, verified against public key files)
# to tokenreviewd on 127.0.0.1, with the result cache off (every review
# verifies a signature) and on.  Prints requests per second for each, and
# for comparison openssl's own verify rate for rsa2048 and ecdsap256 times
# the number of workers.  Everything lives in a temporary directory.
#
#   jwt.sh [--duration 5s] [--connections 16] [--workers 2] [--tokens 100]
#
# The daemon is $TOKENREVIEWD, else ./tokenreviewd.

set -eu

DURATION=5s
CONNECTIONS=16
WORKERS=2
TOKENS=100
while [ $# -gt 0 ]; do
	case "$1" in
	--duration) DURATION=$2; shift ;;
	--connections) CONNECTIONS=$2; shift ;;
	--workers) WORKERS=$2; shift ;;
	--tokens) TOKENS=$2; shift ;;
	*) echo "usage: jwt.sh [--duration D] [--connections N]" \
	    "[--workers N] [--tokens N]" >&2; exit 2 ;;
	esac
	shift
done
HERE=$(cd "$(dirname "$0")" && pwd)
DAEMON=${TOKENREVIEWD:-./tokenreviewd}
for t in wrk openssl curl xxd; do
	command -v "$t" >/dev/null || { echo "jwt.sh: $t not found" >&2; exit 1; }
done
[ -x "$DAEMON" ] || { echo "jwt.sh: no daemon at $DAEMON" >&2; exit 1; }

D=$(mktemp -d "${TMPDIR:-/tmp}/tokenreviewd-jwt-bench.XXXXXX")
PID=
cleanup()
{
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$D"
}
trap cleanup EXIT
umask 077

b64url()
{
	base64 -w0 | tr '+/' '-_' | tr -d '='
}

# An ECDSA DER signature on stdin as JWS wants it: r||s, 32 bytes each.
ecdsa_raw()
{
	openssl asn1parse -inform DER | awk -F: '/INTEGER/ { print $NF }' |
	    while read -r h; do
		printf '%064s' "${h: -64}" | tr ' ' 0
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

# run CACHE(0|1) ALG: requests per second.
run()
{
	local n=100000 rps
	[ "$1" = 1 ] || n=0
	cat >"$D/tokenreviewd.conf" <<EOF
[server]
listen = 127.0.0.1:0
port_file = $D/port
tls_cert = $D/tls.crt
tls_key = $D/tls.key
workers = $WORKERS
chain = jwt
[cache]
max_entries = $n
[log]
level = warn
audit = no
[jwt "bench"]
issuer = https://bench.test
audiences = kubernetes
username_prefix = -
groups_claim = groups
public_key_file = $D/rsa.pub $D/ec.pub
EOF
	rm -f "$D/port"
	# Not on our stdout: that is the caller's $(...).
	"$DAEMON" -c "$D/tokenreviewd.conf" >/dev/null 2>>"$D/log" &
	PID=$!
	for _ in $(seq 100); do
		[ -s "$D/port" ] && break
		sleep 0.05
	done
	local url=https://127.0.0.1:$(cat "$D/port")/tokenreview
	curl -sk -H 'Content-Type: application/json' -d "{\"apiVersion\":\"authentication.k8s.io/v1\",\"kind\":\"TokenReview\",\"spec\":{\"token\":\"$(head -n 1 "$D/$2.tokens")\"}}" \
	    "$url" | grep -q '"authenticated":true' ||
	    { echo "jwt.sh: the daemon refused a $2 token" >&2; kill "$PID";
	    exit 1; }
	wrk -t1 -c"$CONNECTIONS" -d1s -s "$HERE/review.lua" "$url" -- \
	    "$D/$2.tokens" >/dev/null
	rps=$(wrk -t1 -c"$CONNECTIONS" -d"$DURATION" -s "$HERE/review.lua" \
	    "$url" -- "$D/$2.tokens" | awk '/^Requests\/sec/ { print $2 }')
	kill "$PID"
	wait "$PID" 2>/dev/null || true
	PID=
	echo "$rps"
}

speed=$(openssl speed -seconds 3 rsa2048 ecdsap256 2>/dev/null)
rsa_v=$(awk '/^rsa 2048 bits/ { print $7 }' <<<"$speed")
ec_v=$(awk '/256 bits ecdsa \(nistp256\)/ { print $7 }' <<<"$speed")
for alg in rs256 es256; do
	off=$(run 0 "$alg")
	on=$(run 1 "$alg")
	ref=$rsa_v
	[ "$alg" = es256 ] && ref=$ec_v
	awk -v a="$alg" -v off="$off" -v on="$on" -v ref="$ref" -v w="$WORKERS" \
	    'BEGIN { printf "%s: cache off %.0f req/s, cache on %.0f req/s; " \
	    "openssl verify %.0f/s x %d workers = %.0f/s; cache off / that = %.2f\n",
	    a, off, on, ref, w, ref * w, off / (ref * w) }'
done
