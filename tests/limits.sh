#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Limits and startup checks: slow and silent clients are cut off after
# read_timeout, idle keep-alive connections live until idle_timeout and no
# longer, max_connections holds and the daemon serves again afterwards,
# bodies and headers are bounded at exactly the configured sizes, secret
# files readable by others are refused, config errors name FILE:LINE, and
# tokenreviewctl reviews and checks a config offline.  A worker keeps the
# buffers of at most 128 connections between requests, and none that has
# been idle a second or has answered nothing.  The limit on failed
# reviews per address holds for a caller that does not authenticate, behind
# the cache and the static file, and is not applied behind mTLS or a client
# token: a flood of bogus tokens from the API server refuses no valid one.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq setsid timeout python3
tr_need_binaries
tr_tmpdir
tr_certs

tokens()
{
	tr_tokens 'tokA,alice,1001,"ops,dev"' 'tokB,bob,1002'
}

# slow_client NAME HOLD SCRIPT: run SCRIPT's output into an s_client
# connection held open for at most HOLD seconds; prints how long the
# connection lasted (the server closed it) or "open" when it outlived HOLD.
slow_client()
{
	local name=$1 hold=$2 script=$3 f=$TR_TMP/$1
	cat >"$f.sh" <<EOF
t0=\$EPOCHREALTIME
{ $script; sleep $hold; } | {
	timeout $((hold + 5)) openssl s_client -quiet \
	    -connect 127.0.0.1:$TR_PORT -servername localhost \
	    -CAfile "$TR_CERTS/ca.crt" -cert "$TR_CERTS/client.crt" \
	    -key "$TR_CERTS/client.key" >"$f.out" 2>"$f.err"
	awk -v a="\$t0" -v b="\$EPOCHREALTIME" \
	    'BEGIN { printf "%.2f\n", b - a }' >"$f.time"
}
EOF
	tr_bg bash "$f.sh"
	local pid=$TR_BGPID
	tr_wait_until $((hold + 8)) test -s "$f.time"
	tr_bg_kill "$pid"
	if [ -s "$f.time" ] && tr_between "$(cat "$f.time")" 0 "$((hold - 1))"; then
		cat "$f.time"
	else
		echo open
	fi
}

# A plain TCP connection that sends $1 (may be empty) and then waits up to
# $2 seconds; prints how long until the server closed it, or "open".
tcp_client()
{
	local fd t0 rc
	# The server may close first: a failed write must not end us.
	trap '' PIPE
	exec {fd}<>"/dev/tcp/127.0.0.1/$TR_PORT" || { echo error; return; }
	t0=$(tr_now)
	[ -n "$1" ] && printf '%b' "$1" 1>&"$fd" 2>/dev/null
	while :; do
		# Drain what the server sends (a TLS alert) until EOF or timeout.
		read -r -t "$2" -u "$fd" -N 512 _ 2>/dev/null
		rc=$?
		[ "$rc" -eq 0 ] && continue
		break
	done
	exec {fd}<&-
	if [ "$rc" -gt 128 ]; then
		echo open
	else
		tr_elapsed "$t0"
	fi
}

healthy()
{
	tr_req GET /healthz
	[ "$TR_CODE" = 200 ]
}

none_alive()
{
	local p
	for p in "$@"; do
		tr_alive "$p" && return 1
	done
	return 0
}

few_open()
{
	tr_metrics
	tr_between "$(tr_metric tokenreviewd_connections_open)" 0 2
}

# closed_within WHAT LO HI: like between, "open" fails.
closed_within()
{
	case $1 in
	[0-9]*) tr_between "$1" "$2" "$3" ;;
	*) return 1 ;;
	esac
}

body_of_size()
{
	local base n
	base=$(tr_review_body v1 tokA)
	n=$(($1 - ${#base}))
	printf '%s%*s' "$base" "$n" ''
}

# ---------------------------------------------------------------- 90 s idle

# Case 18: kube-apiserver keeps idle connections 90 s, so with the default
# settings one must survive that long.  The client runs in the background
# while the rest of the script goes on, and is checked at the end.
tr_config defidle
tokens
tr_start defidle || bail "the daemon does not start"
pid_defidle=$TR_PID
cat >"$TR_TMP/idle90.sh" <<EOF
{
	printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
	sleep 92
	printf 'GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n'
	sleep 8
} | timeout 115 openssl s_client -quiet -no_ign_eof -connect 127.0.0.1:$TR_PORT \
    -servername localhost -CAfile "$TR_CERTS/ca.crt" \
    -cert "$TR_CERTS/client.crt" -key "$TR_CERTS/client.key" \
    >"$TR_TMP/idle90.out" 2>"$TR_TMP/idle90.err"
EOF
tr_bg bash "$TR_TMP/idle90.sh"
pid_idle90=$TR_BGPID
t_idle90=$(tr_now)

# ---------------------------------------------------------------- warm

tid "warm connections: 200 keep-alive connections to one worker"
# A client holds 200 connections, sends a review on each at once, reads
# the answers, and later does it again on the same connections; between
# the steps it reads the gauge of warm connections (keeping their buffers
# between requests) from /metrics, on a connection of its own.
cat >"$TR_TMP/warm.py" <<'PY'
import re, socket, ssl, sys, time
port, n, certs = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=certs + "/ca.crt")
ctx.load_cert_chain(certs + "/client.crt", certs + "/client.key")
body = (b'{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview",'
        b'"spec":{"token":"tokA"}}')
req = (b"POST /tokenreview HTTP/1.1\r\nHost: localhost\r\n"
       b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
       % len(body)) + body

def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    return ctx.wrap_socket(s, server_hostname="localhost")

def answer(c):
    got = b""
    while b"\r\n\r\n" not in got:
        got += c.recv(4096)
    head, rest = got.split(b"\r\n\r\n", 1)
    clen = [int(l.split(b":")[1]) for l in head.split(b"\r\n")
            if l.lower().startswith(b"content-length:")][0]
    while len(rest) < clen:
        rest += c.recv(4096)
    return head.startswith(b"HTTP/1.1 200"), rest

def gauge():
    c = connect()
    c.sendall(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n"
              b"Connection: close\r\n\r\n")
    ok, text = answer(c)
    c.close()
    m = re.search(rb"^tokenreviewd_connections_warm (\d+)", text, re.M)
    return int(m.group(1)) if ok and m else -1

def reviews():
    for c in conns:
        c.sendall(req)
    return sum(1 for c in conns
               if (lambda r: r[0] and b'"authenticated":true' in r[1])(
                   answer(c)))

conns = [connect() for _ in range(n)]
print("open", len(conns))
print("handshakes", gauge())
print("answered", reviews())
print("reviews", gauge())
t0 = time.monotonic()
while gauge() != 0 and time.monotonic() - t0 < 20:
    time.sleep(0.1)
print("idle", gauge())
print("again", reviews())
PY
# Not about the per-client limit: 200 handshakes may all be in flight.
tr_config warm server.workers=1 server.max_connections_per_client=1000
tokens
tr_start warm || bail "the daemon does not start"
timeout 120 python3 "$TR_TMP/warm.py" "$TR_PORT" 200 "$TR_CERTS" \
    >"$TR_TMP/warm.out" 2>"$TR_TMP/warm.err"
warm()
{
	awk -v k="$1" '$1 == k { print $2 }' "$TR_TMP/warm.out"
}
is "$(warm open)" 200 "200 TLS connections opened" ||
    diag "$(tail -n 5 "$TR_TMP/warm.err")"
is "$(warm handshakes)" 0 "none is warm: a handshake alone keeps no buffers"
is "$(warm answered)" 200 "a review on each is answered"
ok "at most 128 of them keep their buffers, the worker's cap ($(warm reviews))" \
    tr_between "$(warm reviews)" 1 128
is "$(warm idle)" 0 "idle for a second, none does"
is "$(warm again)" 200 "the connections stay open: a second review on each is answered"
tr_stop

# ---------------------------------------------------------------- timeouts

tid "read_timeout = 2s, idle_timeout = 4s"
tr_config lim server.read_timeout=2s server.idle_timeout=4s \
    server.max_body=2k server.max_header=4k
tokens
tr_start lim || bail "the daemon does not start"

t=$(slow_client partial 10 "printf 'POST /tokenreview HTTP/1.1\r\nHost: x\r\n'")
ok "a partial request line and then silence is cut off after read_timeout (took $t s)" \
    closed_within "$t" 1.5 7
t=$(slow_client partialbody 10 "printf 'POST /tokenreview HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"apiV'")
ok "a partial body and then silence is cut off after read_timeout (took $t s)" \
    closed_within "$t" 1.5 7
t=$(slow_client trickle 10 "for c in P O S T ' ' / t o k e n r e v i e w; do printf %s \"\$c\"; sleep 0.4; done")
ok "a request trickled one byte per 0.4 s is cut off after read_timeout (took $t s)" \
    closed_within "$t" 1.5 7
t=$(tcp_client '' 10)
ok "a TCP client that never starts a TLS handshake is closed (took $t s)" \
    closed_within "$t" 1.5 7
t=$(tcp_client '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' 10)
ok "a TCP client that stops inside its ClientHello is closed (took $t s)" \
    closed_within "$t" 1.5 7
t=$(tcp_client 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' 10)
ok "plain HTTP on the TLS port is closed at once (took $t s)" \
    closed_within "$t" 0 1.5

t=$(slow_client keep 10 "printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'; sleep 3; printf 'GET /readyz HTTP/1.1\r\nHost: x\r\n\r\n'")
is "$(tr_raw_codes "$TR_TMP/keep.out")" "200 200" \
    "keep-alive: a second request after 3 s idle (> read_timeout, < idle_timeout) is served"
ok "keep-alive: ... and the connection is closed idle_timeout after it (took $t s in all)" \
    closed_within "$t" 6 9.5
t=$(slow_client idle 10 "printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'")
ok "keep-alive: an idle connection is closed after idle_timeout = 4 s (took $t s)" \
    closed_within "$t" 3.5 6.5
ok "the daemon still serves after the timeouts" healthy

# ---------------------------------------------------------------- sizes

tid "max_body = 2k, max_header = 4k"
post_size()
{
	tr_req POST /tokenreview "$(body_of_size "$1")"
}
post_size 2048
is "$TR_CODE $(jq -r '.status.user.username' <<<"$TR_BODY" 2>/dev/null)" \
    "200 alice" "a body of exactly max_body (2048 bytes) is accepted"
post_size 2049
ok "a body of max_body + 1 (2049 bytes) -> 413 with a Status body" tr_is_status 413
tr_req POST /tokenreview "$(body_of_size 2048)" -H 'Transfer-Encoding: chunked'
is "$TR_CODE" 200 "a chunked body of exactly max_body is accepted"
tr_req POST /tokenreview "$(body_of_size 2049)" -H 'Transfer-Encoding: chunked'
is "$TR_CODE" 413 "a chunked body of max_body + 1 -> 413"
tr_req GET /healthz '' -H "X-Pad: $(printf '%*s' 2000 '' | tr ' ' p)"
is "$TR_CODE" 200 "a 2 kB header fits max_header = 4k"
tr_req GET /healthz '' -H "X-Pad: $(printf '%*s' 8000 '' | tr ' ' p)"
like "$TR_CODE" '^(431|000)$' "an 8 kB header -> 431 or the connection closed (got $TR_CODE)"
tr_stop
is "$?" 0 "the daemon exits 0 on SIGTERM"

tid "default max_body = 64k"
tr_config defbody
tokens
tr_start defbody || bail "the daemon does not start"
post_size 65536
is "$TR_CODE" 200 "a body of exactly 64 KiB is accepted by default"
post_size 65537
ok "a body of 64 KiB + 1 -> 413 by default" tr_is_status 413
tr_stop

# ---------------------------------------------------------------- connections

tid "max_connections = 8, workers = 1"
tr_config maxc server.max_connections=8 server.workers=1 \
    server.read_timeout=20s server.idle_timeout=20s
tokens
tr_start maxc || bail "the daemon does not start"
rm -f "$TR_TMP/hold"
mkfifo "$TR_TMP/hold"
# All 20 clients read the FIFO; our end is the only writer, so closing it
# makes every client see EOF and leave.
exec 7<>"$TR_TMP/hold"
cpids=()
for i in $(seq 1 20); do
	timeout 40 openssl s_client -connect "127.0.0.1:$TR_PORT" \
	    -servername localhost -CAfile "$TR_CERTS/ca.crt" \
	    -cert "$TR_CERTS/client.crt" -key "$TR_CERTS/client.key" \
	    <"$TR_TMP/hold" >"$TR_TMP/conn$i.out" 2>&1 7>&- &
	cpids+=("$!")
	TR_PIDS+=("$!")
done
sleep 3
served=0
for i in $(seq 1 20); do
	if tr_alive "${cpids[$((i - 1))]}" && grep -q '^New, TLSv' "$TR_TMP/conn$i.out"; then
		served=$((served + 1))
	fi
done
diag "connections with a completed handshake and still open: $served"
ok "20 idle connections: at most 8 are served at once (got $served)" \
    tr_between "$served" 1 8
ok "the daemon is alive with 20 connections at the door" tr_alive "$TR_PID"
exec 7>&-
ok "the 20 clients leave within 20 s" tr_wait_until 20 none_alive "${cpids[@]}"
for p in "${cpids[@]}"; do
	tr_alive "$p" && kill -TERM "$p" 2>/dev/null
	wait "$p" 2>/dev/null
done
ok "after the 20 clients left, /healthz answers within 10 s" \
    tr_wait_until 10 healthy
tr_review v1 tokA >/dev/null
is "$TR_CODE $(jq -r '.status.user.username' <<<"$TR_BODY" 2>/dev/null)" \
    "200 alice" "... and reviews work again"
ok "connections_open drops back (<= 2) once they are gone" \
    tr_wait_until 5 few_open
tr_stop
is "$?" 0 "the daemon exits 0 on SIGTERM"

# ---------------------------------------------------------------- failed reviews

# NO without error, as an unknown token gets.
plain_no()
{
	tr_review v1 "$1" >/dev/null
	[ "$TR_CODE" = 200 ] &&
	    tr_jq '.status.authenticated == false and (.status | has("error") | not)'
}

BURST_ARGS=()	# more curl arguments for burst(), e.g. a bearer token

# burst TOKEN...: one review of each token, all in one curl run on one
# connection (fast, so the bucket barely refills meanwhile); prints a
# letter an answer: A accepted, P plain NO, L refused by the limit, E
# another error, ? no answer.
burst()
{
	local t f=$TR_TMP/.burst i=0
	local -a a=()
	tr_tls_args
	for t in "$@"; do
		i=$((i + 1))
		tr_review_body v1 "$t" >"$f.$i"
		rm -f "$f.out.$i"
		[ "$i" -eq 1 ] || a+=(--next)
		a+=(-sS --max-time 20 "${TR_TLS[@]}" -H 'Content-Type: application/json'
		    "${BURST_ARGS[@]}" --data-binary "@$f.$i" -o "$f.out.$i"
		    "$TR_URL$TR_REVIEW_PATH")
	done
	curl "${a[@]}" 2>/dev/null
	# One jq for all the answers: a missing one is a JSON string.
	for i in $(seq "$#"); do
		if [ -s "$f.out.$i" ]; then
			cat "$f.out.$i"
			echo
		else
			echo '"?"'
		fi
	done | jq -r 'if type != "object" then "?" else .status |
	    if .authenticated then "A"
	    elif (.error // "") | test("too many failed reviews") then "L"
	    elif has("error") then "E" else "P" end end' 2>/dev/null |
	    tr -d '\n'
}

# timed_burst TOKEN...: burst, leaving the letters in $got and the
# seconds it took in $secs.
timed_burst()
{
	local t0
	t0=$(date +%s.%N)
	got=$(burst "$@")
	secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }')
}

# refilled LETTERS MAX: at most MAX plain NOs pass first, then the client
# is refused; the bucket (rate 1 a second) may have regained one guess for
# every second the burst took (a slow, sanitized build on a busy machine),
# so a guess may pass after a refusal, even the last one; nothing but
# plain NOs and refusals is answered.
refilled()
{
	local p extra
	p=$(printf '%s' "$1" | tr -cd P | wc -c)
	extra=$(awk -v s="$secs" 'BEGIN { printf "%d", s + 1 }')
	[[ $1 =~ ^P{1,$2}L[PL]*$ ]] && [ "$p" -le $(($2 + extra)) ]
}

# guesses N: N unique tokens of the token database's shape (so that it
# would look each up), never valid.
guesses()
{
	local id i
	id=$(openssl rand -hex 3)
	for i in $(seq "$1"); do
		printf '%s.%016d\n' "$id" "$i"
	done
}

# lookups: the token database's lookups so far.
lookups()
{
	tr_metrics
	tr_metric tokenreviewd_tokendb_lookups_total
}

# Each of the words in $1 is absent from the file $2.
none_in()
{
	local w
	for w in $1; do
		grep -Fq -- "$w" "$2" && return 1
	done
	return 0
}

tid "no client_ca, no client_token_file: failed_review_rate = 1, failed_review_burst = 5"
# A caller that does not authenticate may test tokens: its guesses are
# limited per address, behind the cache and the static file.
tr_config lim server.client_ca= server.client_names= \
    server.failed_review_rate=1 server.failed_review_burst=5 \
    server.chain="static tokendb" tokendb.path="$TR_TMP/lim/tokens.db" \
    tokendb.cache_ttl=60s cache.ttl=60s
tokens
CAROL=$(tr_tokenctl create --user carol 2>/dev/null) &&
    DAN=$(tr_tokenctl create --user dan 2>/dev/null) &&
    EVE=$(tr_tokenctl create --user eve 2>/dev/null) ||
    bail "tokenreviewctl token create failed"
TR_CLIENT=none
tr_start lim || bail "the daemon does not start"
tr_review v1 "$CAROL" >/dev/null
ok "carol's token database token is accepted (and now cached)" \
    tr_jq '.status.user.username == "carol"'
G=$(guesses 9)
l0=$(lookups)
# shellcheck disable=SC2086	# one word a token
timed_burst $G tokA "$CAROL" "$DAN"
l1=$(lookups)
diag "12 reviews on one connection in ${secs}s: $got"
ok "5 unknown tokens pass (the burst), then the client is refused" \
    refilled "${got:0:9}" 5
is "${got:9:1}" A "... a static token is still accepted (the file is asked first)"
is "${got:10:1}" A "... a cached token is still accepted (the cache answers first)"
# Audit lines reach the log within [log] flush_interval (100 ms).
ok "carol's answer came from the cache" tr_wait_until 5 \
    grep -q '"username":"carol".*"cached":1' "$TR_LOG"
# The token database saw the guesses that passed and nothing else: dan's
# token, not cached, is refused unseen unless the bucket regained a guess.
p=$(printf '%s' "$got" | tr -cd P | wc -c)
case ${got:11:1} in
L) is "$((l1 - l0))" "$p" "... an unknown token over the limit: refused, and the token database is not asked (lookups = plain NOs)" ;;
A) is "$((l1 - l0))" "$((p + 1))" "... dan's token was asked after the bucket refilled (${secs}s): lookups = plain NOs + 1" ;;
*) fail "... dan's token: refused by the limit or accepted" "got $got" ;;
esac
tr_metrics
n=$(printf '%s' "$got" | tr -cd L | wc -c)
is "$(tr_metric tokenreviewd_reviews_limited_total)" "$n" \
    "tokenreviewd_reviews_limited_total counts the refused reviews"
is "$(tr_metric tokenreviewd_reviews_total '^\\{.*outcome="error"')" "$n" \
    "the refused reviews count as errors"
ok "one warning names the client and the limit" grep -q \
    '"event":"review_limit".*127\.0\.0\.1: .*(1 a second, 5 in a row)' "$TR_LOG"
is "$(grep -c '"review_limit"' "$TR_LOG")" 1 "... only once"
ok "the audit line of a refused review has the error and a fingerprint" \
    tr_wait_until 5 grep -Eq '"token_fp":"([0-9a-f]{12}|id:[a-z0-9]{6})".*too many failed reviews' "$TR_LOG"
ok "no guessed token is written in the log, nor its secret part" \
    none_in "$G $(printf '%s\n' $G | cut -d. -f2) ${DAN#*.}" "$TR_LOG"
sleep 1.1
tr_review v1 "$EVE" >/dev/null
ok "after 1.1 s (rate 1 a second): eve's token is asked and accepted" \
    tr_jq '.status.user.username == "eve"'
# shellcheck disable=SC2046
timed_burst $(guesses 8)
ok "then the guesses the bucket regained pass, and the client is refused again ($got in ${secs}s)" \
    refilled "$got" 5
tr_stop
is "$?" 0 "the daemon exits 0 on SIGTERM"
TR_CLIENT=client

tid "client_token_file, no client_ca: no limit per address"
printf 's3cret-caller\n' | tr_write "$TR_TMP/caller.token"
tr_config ctok server.client_ca= server.client_names= \
    server.client_token_file="$TR_TMP/caller.token" \
    server.failed_review_rate=1 server.failed_review_burst=5
tokens
TR_CLIENT=none
tr_start ctok || bail "the daemon does not start"
BURST_ARGS=(-H "Authorization: Bearer s3cret-caller")
# shellcheck disable=SC2046
timed_burst $(guesses 12) tokA
BURST_ARGS=()
is "$got" PPPPPPPPPPPPA "12 unknown tokens from the authenticated caller: 12 plain NOs, then a valid token accepted"
tr_metrics
is "$(tr_metric tokenreviewd_reviews_limited_total)" 0 "... nothing refused by the limit"
ok "... and no limit warning" eval "! grep -q '\"review_limit\"' '$TR_LOG'"
tr_stop
TR_CLIENT=client

# flood_client TAG OUT: post TokenReviews of unique bogus tokens, with the
# client certificate, batch after batch of 200 on one connection, until
# killed; one HTTP status a line to OUT.
flood_client()
{
	cat >"$TR_TMP/flood-$1.sh" <<EOF
i=0
while :; do
	{
		for _ in \$(seq 1 200); do
			i=\$((i + 1))
			printf 'url = "%s"\n' "$TR_URL$TR_REVIEW_PATH"
			printf 'cacert = "%s"\ncert = "%s"\nkey = "%s"\n' \
			    "$TR_CERTS/ca.crt" "$TR_CERTS/client.crt" \
			    "$TR_CERTS/client.key"
			printf 'header = "Content-Type: application/json"\n'
			printf 'data-binary = "{\\\\"apiVersion\\\\":\\\\"authentication.k8s.io/v1\\\\",\\\\"kind\\\\":\\\\"TokenReview\\\\",\\\\"spec\\\\":{\\\\"token\\\\":\\\\"fl%s%04d.%016d\\\\"}}"\n' \
			    "$1" \$((i % 10000)) "\$i"
			printf 'output = "/dev/null"\nsilent\nmax-time = 10\n'
			printf 'write-out = "%%{http_code}\\\\n"\nnext\n'
		done
	} >"$2.cfg"
	curl -K "$2.cfg" >>"$2" 2>/dev/null
done
EOF
	tr_bg bash "$TR_TMP/flood-$1.sh"
}

# answers FILE...: lines in the files (0 when none exist yet).
answers()
{
	cat "$@" 2>/dev/null | wc -l
}

# Defect: the limit per address, applied behind mTLS, let anyone who can
# make the API server send bogus tokens lock every user out.
tid "client_ca (mTLS): a flood of unique bogus tokens refuses no valid token"
tr_config flood server.failed_review_rate=1 server.failed_review_burst=5 \
    server.chain="static tokendb" tokendb.path="$TR_TMP/flood/tokens.db"
tokens
CAROL=$(tr_tokenctl create --user carol 2>/dev/null) ||
    bail "tokenreviewctl token create failed"
tr_start flood || bail "the daemon does not start"
tr_review v1 tokA >/dev/null
ok "before the flood: tokA accepted (static, answered before the cache)" \
    tr_jq '.status.user.username == "alice"'
tr_review v1 "$CAROL" >/dev/null
ok "before the flood: carol's token accepted (token database, now cached)" \
    tr_jq '.status.user.username == "carol"'
fpids=()
for t in a b c; do
	flood_client "$t" "$TR_TMP/flood.$t.out"
	fpids+=("$TR_BGPID")
done
fouts=("$TR_TMP/flood.a.out" "$TR_TMP/flood.b.out" "$TR_TMP/flood.c.out")
tr_wait_until 20 eval '[ "$(answers "${fouts[@]}")" -ge 50 ]' ||
    diag "the flood is slow to start"
t0=$(tr_now)
f0=$(answers "${fouts[@]}")
# Twice 16 reviews of two valid tokens, each run on one connection.
valid=
for i in 1 2; do
	# shellcheck disable=SC2046
	valid=$valid$(burst $(for _ in $(seq 8); do echo tokA "$CAROL"; done))
done
f1=$(answers "${fouts[@]}")
secs=$(tr_elapsed "$t0")
alive=0
for p in "${fpids[@]}"; do
	tr_alive "$p" && alive=$((alive + 1))
done
for p in "${fpids[@]}"; do
	tr_bg_kill "$p"
done
rate=$(awk -v n="$((f1 - f0))" -v s="$secs" 'BEGIN { printf "%d", n / (s > 0 ? s : 1) }')
diag "flood: $((f1 - f0)) bogus reviews in ${secs}s (${rate}/s) during ${#valid} valid reviews"
is "$valid" AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA "every valid review during the flood is authenticated (static tokA, tokendb carol cached after the first)"
ok "the flood went on through all the valid reviews ($alive of 3 clients)" \
    [ "$alive" -eq 3 ]
ok "the flood sent at least 100 bogus tokens meanwhile (the old limit: 5)" \
    [ "$((f1 - f0))" -ge 100 ]
ok "the flood's answers are all 200" eval \
    "! cat ${fouts[*]} | grep -qv '^200$'"
ok "the token database's valid token was answered from the cache" \
    tr_wait_until 5 grep -q '"username":"carol".*"cached":1' "$TR_LOG"
ok "the static token was answered by the file, never the cache" eval \
    "grep -q '\"username\":\"alice\".*\"cached\":0' '$TR_LOG' &&
    ! grep -q '\"username\":\"alice\".*\"cached\":1' '$TR_LOG'"
tr_metrics
is "$(tr_metric tokenreviewd_reviews_limited_total)" 0 \
    "no review refused by the limit behind mTLS"
ok "no limit warning" eval "! grep -q '\"review_limit\"' '$TR_LOG'"
tr_stop
is "$?" 0 "the daemon exits 0 on SIGTERM"

tid "failed_review_rate = 0: no limit"
tr_config nolim server.client_ca= server.client_names= \
    server.failed_review_rate=0 server.failed_review_burst=1
tokens
TR_CLIENT=none
tr_start nolim || bail "the daemon does not start"
n=0
for i in $(seq 1 20); do
	plain_no "guess-$i" && n=$((n + 1))
done
is "$n" 20 "20 unknown tokens: 20 plain NO"
tr_stop
TR_CLIENT=client

# ---------------------------------------------------------------- privileges

tid "[server] user: privileges dropped after binding"
if [ "$(id -u)" != 0 ] || ! nobody=$(id -u nobody 2>/dev/null); then
	skip "runs as nobody (uid, gid)" "needs root and a user nobody"
else
	# No fingerprint key: root's test copy is not nobody's to read.
	tr_config priv server.user=nobody log.fingerprint_key_file= \
	    server.tls_key="$TR_TMP/priv/server.key" \
	    server.tls_cert="$TR_TMP/priv/server.crt" \
	    server.client_ca="$TR_TMP/priv/client-ca.crt"
	tokens
	for f in server.key server.crt client-ca.crt; do
		cp "$TR_CERTS/$f" "$TR_TMP/priv/$f"
	done
	chmod 600 "$TR_TMP/priv/server.key"
	chmod 644 "$TR_TMP/priv/server.crt" "$TR_TMP/priv/client-ca.crt"
	tr_start priv || bail "the daemon does not start as root with user"
	uids=$(awk '/^Uid:/ { print $2, $3, $4, $5 }' "/proc/$TR_PID/status")
	is "$uids" "$nobody $nobody $nobody $nobody" \
	    "real, effective, saved and file-system uid are nobody's"
	tr_review v1 tokA >/dev/null
	is "$TR_CODE" 200 "reviews work after the drop"
	expect_reload -l -f -w 10 \
	    "a reload that nobody may not read fails and says so"
	tr_review v1 tokA >/dev/null
	is "$TR_CODE" 200 "... and the running configuration keeps serving"
	# What a Kubernetes Secret volume with an fsGroup looks like:
	# root:fsGroup 0440, in directories the pod may enter.
	chmod 711 "$TR_TMP" "$TR_TMP/priv"
	chmod 644 "$TR_TMP/priv/tokenreviewd.conf"
	chown "root:$(id -g nobody)" "$TR_TMP/priv/server.key" \
	    "$TR_TMP/priv/tokens.csv"
	chmod 440 "$TR_TMP/priv/server.key" "$TR_TMP/priv/tokens.csv"
	expect_reload -l -w 10 \
	    "root:nobody's-group 0440 files (a Secret with fsGroup) reload"
	# Checked as root, who is not in that group: the key must be 0600.
	chown root:root "$TR_TMP/priv/server.key"
	chmod 600 "$TR_TMP/priv/server.key"
	chmod 444 "$TR_TMP/priv/tokens.csv"
	out=$("$TOKENREVIEWD" -n -c "$TR_TMP/priv/tokenreviewd.conf" 2>&1)
	like "$out" "tokens.csv: mode 0444" \
	    "... but a token file others may read is still refused"
	tr_review v1 tokA >/dev/null
	is "$TR_CODE" 200 "... and the daemon keeps serving"
	tr_stop
	is "$?" 0 "the daemon exits 0 on SIGTERM"
fi

# ---------------------------------------------------------------- -n checks

tid "tokenreviewd -n: file modes"
tr_config modes
tokens
"$TOKENREVIEWD" -c "$TR_CONF" -n >/dev/null 2>"$TR_TMP/n.err"
is "$?" 0 "-n accepts a good config"
chmod 640 "$TR_DIR/tokens.csv"
"$TOKENREVIEWD" -c "$TR_CONF" -n >/dev/null 2>"$TR_TMP/n.err"
rc=$?
ok "-n refuses a group-readable token file (exit $rc)" test "$rc" -ne 0
like "$(cat "$TR_TMP/n.err")" "$TR_DIR/tokens\\.csv" "... and names the file"
chmod 600 "$TR_DIR/tokens.csv"
cp "$TR_CERTS/server.key" "$TR_DIR/tls.key"
chmod 644 "$TR_DIR/tls.key"
tr_config modes "server.tls_key=$TR_DIR/tls.key"
"$TOKENREVIEWD" -c "$TR_CONF" -n >/dev/null 2>"$TR_TMP/n.err"
rc=$?
ok "-n refuses a world-readable TLS key (exit $rc)" test "$rc" -ne 0
like "$(cat "$TR_TMP/n.err")" "$TR_DIR/tls\\.key" "... and names the file"
printf 'tok' | tr_write "$TR_DIR/bearer"
chmod 640 "$TR_DIR/bearer"
tr_config modes server.client_ca= server.client_names= \
    "server.client_token_file=$TR_DIR/bearer"
"$TOKENREVIEWD" -c "$TR_CONF" -n >/dev/null 2>"$TR_TMP/n.err"
rc=$?
ok "-n refuses a group-readable client_token_file (exit $rc)" test "$rc" -ne 0
like "$(cat "$TR_TMP/n.err")" "$TR_DIR/bearer" "... and names the file"

tid "tokenreviewd -n: config errors name FILE:LINE"
# Lines 1-6 are fine; the case puts its line at 7 (or replaces line 6).
conf_with()
{
	local f=$TR_TMP/cfg/$1.conf chain=${3:-chain = static}
	mkdir -p "$TR_TMP/cfg"
	{
		echo '[server]'
		echo 'listen = 127.0.0.1:0'
		echo "tls_cert = $TR_CERTS/server.crt"
		echo "tls_key = $TR_CERTS/server.key"
		echo "client_ca = $TR_CERTS/client-ca.crt"
		echo "$chain"
		printf '%b\n' "$2"
		echo
		echo '[static]'
		echo "file = $TR_TMP/modes/tokens.csv"
	} | tr_write "$f"
	echo "$f"
}
check_conf_error()
{
	local name=$1 line=$2 text=$3 chain=${4:-} f rc
	f=$(conf_with "$name" "$text" "$chain")
	"$TOKENREVIEWD" -c "$f" -n >/dev/null 2>"$f.err"
	rc=$?
	if [ "$rc" -ne 0 ] && grep -qE "$f:($line):" "$f.err"; then
		pass "-n: $name -> error names $name.conf:$line"
	else
		fail "-n: $name -> error names $name.conf:$line" "exit $rc" \
		    "stderr: $(head -c 400 "$f.err")"
	fi
}
f=$(conf_with good '')
ok "-n: the base config used below is good" "$TOKENREVIEWD" -c "$f" -n
check_conf_error unknown-key 7 'bogus = 1'
check_conf_error bad-duration 7 'read_timeout = 2x'
check_conf_error bad-size 7 'max_body = lots'
check_conf_error small-body 7 'max_body = 100'
check_conf_error bad-workers 7 'workers = -1'
check_conf_error bad-level 8 '[log]\nlevel = loud'
check_conf_error bad-listen 7 'listen = nowhere'
check_conf_error no-equals 7 'this line has no equals sign'
check_conf_error unknown-section '7|8' '[nosuch]\nx = 1'
check_conf_error unknown-backend 6 '' 'chain = static nosuch'
check_conf_error bad-review-path 7 'review_path = no-slash'
f=$(conf_with missing-cert '')
sed -i "s|^tls_cert = .*|tls_cert = $TR_TMP/nonexistent.crt|" "$f"
"$TOKENREVIEWD" -c "$f" -n >/dev/null 2>"$f.err"
rc=$?
ok "-n: a missing certificate file fails (exit $rc)" test "$rc" -ne 0
like "$(cat "$f.err")" 'nonexistent\.crt' "-n: ... and the error names the file"
"$TOKENREVIEWD" -c "$TR_TMP/no-such.conf" -n >/dev/null 2>"$TR_TMP/nc.err"
rc=$?
ok "-n: a config file that does not exist fails (exit $rc)" test "$rc" -ne 0
like "$(cat "$TR_TMP/nc.err")" 'no-such\.conf' "-n: ... and names it"

# ---------------------------------------------------------------- ctl

tid "tokenreviewctl"
f=$(conf_with ctl '')
ctl()
{
	"$TOKENREVIEWCTL" -c "$f" "$@" 2>"$TR_TMP/ctl.err"
}
out=$(ctl review tokA)
rc=$?
is "$rc" 0 "ctl review tokA: exit 0 (authenticated)"
ok "ctl review tokA: prints OK(alice) as a v1 TokenReview" tr_jq \
    '.apiVersion == "authentication.k8s.io/v1" and .kind == "TokenReview" and
    .status.authenticated == true and .status.user.username == "alice" and
    .status.user.groups == ["ops","dev"]' "$out"
out=$(ctl review nope)
rc=$?
is "$rc" 1 "ctl review of an unknown token: exit 1"
ok "ctl review of an unknown token: authenticated false" tr_jq \
    '.status.authenticated == false' "$out"
out=$(ctl review --v1beta1 tokB)
is "$?" 0 "ctl review --v1beta1 tokB: exit 0"
ok "ctl review --v1beta1: apiVersion v1beta1, bob" tr_jq \
    '.apiVersion == "authentication.k8s.io/v1beta1" and .status.user.username == "bob"' "$out"
out=$(ctl review -a https://kubernetes.default.svc -a other tokA)
is "$?" 0 "ctl review -a AUD -a AUD tokA: exit 0"
ok "ctl review -a: agnostic backend, no status.audiences" tr_jq \
    '.status.user.username == "alice" and .status.audiences == null' "$out"
out=$(printf 'tokA' | ctl review -)
is "$?" 0 "ctl review - (token on stdin): exit 0"
ok "ctl review -: OK(alice)" tr_jq '.status.user.username == "alice"' "$out"
out=$(printf 'tokA\n' | ctl review -)
ok "ctl review -: a trailing newline on stdin is not part of the token" tr_jq \
    '.status.user.username == "alice"' "$out"
ok "ctl review: the token does not appear in what it prints" \
    eval "! grep -q tokA <<<'$out'"
ctl check-config >/dev/null
is "$?" 0 "ctl check-config: exit 0 on a good config"
f=$(conf_with ctl-bad 'read_timeout = soon')
ctl check-config >/dev/null
rc=$?
ok "ctl check-config: non-zero on a bad config (exit $rc)" test "$rc" -ne 0
like "$(cat "$TR_TMP/ctl.err")" "ctl-bad\\.conf:7:" "ctl check-config: the error names FILE:LINE"
ctl review tokA >/dev/null
is "$?" 2 "ctl review with a bad config: exit 2"

# ---------------------------------------------------------------- 90 s idle

tid "default idle_timeout: 90 s idle (case 18)"
diag "waiting for the 90 s idle client ($(tr_elapsed "$t_idle90") s so far)"
tr_wait_exit "$pid_idle90" 120
is "$(tr_raw_codes "$TR_TMP/idle90.out")" "200 200" \
    "case 18: with the defaults a connection idle for 92 s still serves a request"
tr_bg_kill "$pid_idle90"
tr_stop "$pid_defidle"
is "$?" 0 "the default-config daemon exits 0 on SIGTERM"

done_testing
