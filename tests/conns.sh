#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Connection slots under attack.  An attacker at 127.0.0.2 (tests/connflood)
# holds thousands of silent connections to the health port and to the
# review port, plain TCP that never sends a ClientHello or TLS sessions
# that never send a request, and reopens what the daemon closes, while the
# API server (127.0.0.1, client certificate or bearer token) keeps getting
# its reviews answered at once (curl's own time_total, under 2 s each).
# Checked: the attacker's connections are closed after handshake_timeout,
# one address cannot hold more than max_connections_per_client of them
# and is refused beyond (counted, logged once), each listener has its own
# cap (the health port full does not stop the review port), a full
# listener closes its oldest idle connections to make room, and the API
# server, once authenticated, is not held to the per-client limit when it
# opens many connections at once.  Conformance cases 1 and 19 (20 at once
# here) must hold under the attack, and 21's bearer mode is attacked too.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq setsid timeout
tr_need_binaries
FLOOD=${CONNFLOOD:-$top_builddir/tests/connflood}
[ -x "$FLOOD" ] || tr_skip_all "no $FLOOD (make check builds it)"
ATTACKER=127.0.0.2
# The attacker and the daemon each hold thousands of sockets.
hard=$(ulimit -Hn)
if [ "$hard" = unlimited ] || [ "$hard" -ge 16384 ]; then
	ulimit -n 16384
else
	ulimit -n "$hard"
fi
[ "$(ulimit -n)" -ge 6000 ] ||
    tr_skip_all "open files limited to $(ulimit -n) (6000 needed)"
tr_tmpdir
tr_certs
TR_CURL_TIMEOUT=6	# a review stuck behind the attacker fails, not hangs
TR_CODE= TR_BODY= TR_HDRS= TR_TIME=	# tr_metrics may come first

tokens()
{
	tr_tokens 'tokA,alice,1001,"ops,dev"'
}

health_port()
{
	sed -n 2p "$TR_DIR/port"
}

declare -A FLOOD_PID

# flood NAME PORT N SECONDS [CONNFLOOD-ARG...]: the attacker, in the
# background, holding N connections to PORT for SECONDS.
flood()
{
	local name=$1 port=$2 n=$3 secs=$4
	shift 4
	rm -f "$TR_TMP/$name.status"
	tr_bg "$FLOOD" -b "$ATTACKER" -p "$port" -n "$n" -d "$secs" \
	    -s "$TR_TMP/$name.status" "$@"
	FLOOD_PID[$name]=$TR_BGPID
}

# fstat NAME KEY: one figure of the attacker's last status.
fstat()
{
	sed -n "s/.*\\b$2=\\([0-9.]*\\).*/\\1/p" "$TR_TMP/$1.status" 2>/dev/null
}

# opened NAME N: the attacker has made N connections (or been refused).
opened()
{
	local o f
	o=$(fstat "$1" opened)
	f=$(fstat "$1" fast)
	[ -n "$o" ] && [ "$o" -ge "$2" ] || { [ -n "$f" ] && [ "$f" -ge "$2" ]; }
}

# slow NAME N: the daemon has closed N of the attacker's connections that
# it had let in (after a second or more).
slow()
{
	local n
	n=$(fstat "$1" slow)
	[ -n "$n" ] && [ "$n" -ge "$2" ]
}

# flood_stop NAME: end the attacker; its final figures stay in its status.
flood_stop()
{
	kill -TERM "${FLOOD_PID[$1]}" 2>/dev/null
	tr_wait_exit "${FLOOD_PID[$1]}" 10 >/dev/null
	diag "attacker $1: $(cat "$TR_TMP/$1.status" 2>/dev/null)"
}

# api_reviews N [CURL-ARG...]: N reviews of tokA as the API server, one
# connection each; stops at the first that is not answered in time.  Sets
# good, worst (the longest time_total) and bad (what went wrong).
api_reviews()
{
	local n=$1 i
	shift
	good=0 worst=0 bad=
	for i in $(seq "$n"); do
		tr_review v1 tokA '' "$@" >/dev/null
		if [ "$TR_CODE" = 200 ] &&
		    tr_jq '.status.authenticated == true' &&
		    tr_between "$TR_TIME" 0 2; then
			good=$((good + 1))
		else
			bad="review $i: HTTP $TR_CODE, curl exit $TR_CURL_RC, $TR_TIME s"
			break
		fi
		worst=$(awk -v a="$worst" -v b="$TR_TIME" \
		    'BEGIN { print (b + 0 > a + 0) ? b : a }')
	done
}

# held LISTENER N: the daemon has at most N connections open on LISTENER.
held()
{
	tr_metrics
	grep -q "^tokenreviewd_listener_connections_open{listener=\"$1\"}" \
	    <<<"$TR_METRICS" &&
	    tr_between "$(tr_metric tokenreviewd_listener_connections_open \
	    "listener=\"$1\"")" 0 "$2"
}

# per_client_refused: the review listener's per-client refusals in
# TR_METRICS.
per_client_refused()
{
	tr_metric tokenreviewd_connections_refused_total \
	    'listener="review",reason="per_client"'
}

# probe: GET /healthz on the health port from 127.0.0.1, as kubelet does.
probe()
{
	local out
	out=$(curl -sS --max-time "$TR_CURL_TIMEOUT" -o /dev/null \
	    -w '%{http_code} %{time_total}' \
	    "http://127.0.0.1:$(health_port)/healthz" 2>/dev/null)
	probe_code=${out%% *} probe_time=${out##* }
}

# ---------------------------------------------------------------- defaults

# The attack as it was measured: thousands of idle sockets from one
# address on the health port and on the review port, default settings.
tid "defaults: 127.0.0.2 holds 2500 silent sockets on each port"
tr_config def server.health_listen=127.0.0.1:0
tokens
tr_start def || bail "the daemon does not start"
ok "the attacker's address can be used" \
    "$FLOOD" -b "$ATTACKER" -p "$TR_PORT" -n 1 -d 0.2
flood defh "$(health_port)" 2500 60 -r 300
flood defr "$TR_PORT" 2500 60 -r 300
tr_wait_until 15 opened defh 2500
tr_wait_until 15 opened defr 2500
diag "attacker: health $(cat "$TR_TMP/defh.status" 2>/dev/null)"
diag "attacker: review $(cat "$TR_TMP/defr.status" 2>/dev/null)"
api_reviews 3
is "$good" 3 "at the height of the flood, the API server's reviews are answered, each under 2 s (longest $worst s) $bad"
probe
ok "... and /healthz from 127.0.0.1 on the health port answers under 2 s (HTTP $probe_code, $probe_time s)" \
    eval '[ "$probe_code" = 200 ] && tr_between "$probe_time" 0 2'
# The first wave ends at the handshake deadline; from then on 127.0.0.2
# gets only its 64 slots a listener, however fast it reconnects.
tr_wait_until 20 slow defh 1
tr_wait_until 20 slow defr 1
tr_wait_until 10 held health 65
tr_wait_until 10 held review 65
# ... and keeps it so while the attacker tries 300 more on each.
o=$(fstat defh opened) p=$(fstat defr opened)
tr_wait_until 15 opened defh $((o + 300))
tr_wait_until 15 opened defr $((p + 300))
for l in health review; do
	ok "after the deadline the daemon holds at most max_connections_per_client = 64 of them on the $l listener (+1: the scrape)" \
	    held "$l" 65
	diag "$l listener: $(tr_metric tokenreviewd_listener_connections_open "listener=\"$l\"") open"
done
api_reviews 10
is "$good" 10 "while 127.0.0.2 keeps reconnecting, 10 reviews from the API server answered, each under 2 s (longest $worst s) $bad"
probe
ok "... and /healthz answers under 2 s (HTTP $probe_code, $probe_time s)" \
    eval '[ "$probe_code" = 200 ] && tr_between "$probe_time" 0 2'
flood_stop defh
flood_stop defr
for f in defh defr; do
	case $f in defh) what="health port (plain TCP)" ;;
	*) what="review port (no ClientHello)" ;; esac
	slow=$(fstat $f slow) life=$(fstat $f life_max)
	ok "$what: the attacker's connections are closed after handshake_timeout = 5s ($slow closed, the longest after $life s)" \
	    eval '[ "${slow:-0}" -gt 0 ] && tr_between "$life" 4 8'
done
tr_metrics
for l in health review; do
	n=$(tr_metric tokenreviewd_connections_refused_total "listener=\"$l\",reason=\"per_client\"")
	ok "per-client refusals on the $l listener are counted ($n)" \
	    tr_between "$n" 100 1000000
done
n=$(grep -c '"conn_limit".*127\.0\.0\.2: 64 connections not yet authenticated.*refusing more' "$TR_LOG")
ok "one log line for the episode, not one per refusal ($n)" tr_between "$n" 1 2
tr_stop
is "$?" 0 "the daemon exits 0 on SIGTERM"

# ---------------------------------------------------------------- caps

# Without the per-client limit (many attacking addresses look the same):
# the health port full does not touch the review port, and a full
# listener closes the attacker's silent connections to let others in.
tid "health_max_connections = 16, max_connections = 32, no per-client limit"
tr_config cap server.health_listen=127.0.0.1:0 server.workers=1 \
    server.max_connections=32 server.health_max_connections=16 \
    server.max_connections_per_client=0 server.handshake_timeout=3s
tokens
tr_start cap || bail "the daemon does not start"
flood caph "$(health_port)" 300 60 -r 200
tr_wait_until 10 opened caph 300
tr_metrics
n=$(tr_metric tokenreviewd_listener_connections_open 'listener="health"')
is "$n" 16 "300 silent sockets on the health port fill its 16 slots"
api_reviews 10
is "$good" 10 "... and the review port answers 10 reviews, each under 2 s (longest $worst s) $bad"
probe
ok "... and a probe on the full health port gets in at once: the oldest silent socket makes room (HTTP $probe_code, $probe_time s)" \
    eval '[ "$probe_code" = 200 ] && tr_between "$probe_time" 0 2'
flood capr "$TR_PORT" 300 60 -r 200
tr_wait_until 10 opened capr 300
tr_metrics
n=$(tr_metric tokenreviewd_listener_connections_open 'listener="review"')
ok "300 silent sockets on the review port fill its 32 slots ($n open)" \
    tr_between "$n" 31 32
api_reviews 10
is "$good" 10 "a full review port still answers the API server: 10 reviews, each under 2 s (longest $worst s) $bad"
tr_metrics
for l in health review; do
	n=$(tr_metric tokenreviewd_connections_evicted_total "listener=\"$l\"")
	ok "connections closed to make room on the $l listener are counted ($n)" \
	    tr_between "$n" 1 1000000
done
like "$(grep '"conn_full"' "$TR_LOG" | head -n 3)" \
    'the review listener is at its cap of 32' "a full listener is logged"
flood_stop caph
flood_stop capr
tr_stop
is "$?" 0 "the daemon exits 0 on SIGTERM"

# ---------------------------------------------------------------- TLS, no request

# With a bearer token instead of client certificates anyone can finish a
# TLS handshake; a connection proves its caller with its first request.
tid "client_token_file: 127.0.0.2 finishes TLS handshakes and sends nothing"
tr_config tok server.client_ca= server.client_names= \
    server.client_token_file="$TR_TMP/tok/client.token" \
    server.max_connections_per_client=4 server.handshake_timeout=2s
printf 'caller-secret-%s\n' "$RANDOM$RANDOM" | tr_write "$TR_DIR/client.token"
bearer="Authorization: Bearer $(cat "$TR_DIR/client.token")"
tokens
tr_start tok || bail "the daemon does not start"
TR_CLIENT=none
flood tokr "$TR_PORT" 300 60 -t -r 100
tr_wait_until 10 eval '[ "$(fstat tokr tls)" -ge 4 ]'
api_reviews 10 -H "$bearer"
is "$good" 10 "the API server's reviews are answered, each under 2 s (longest $worst s) $bad"
# Twenty connections at once from an address never seen before (an API
# server that just started): the burst proves itself within the grace.
tr_tls_args
for i in $(seq 20); do
	tr_review_body v1 tokA >"$TR_TMP/par.$i"
	[ "$i" -eq 1 ] && a=() || a+=(--next)
	a+=(-sS --max-time 10 --interface 127.0.0.3 "${TR_TLS[@]}" -H "$bearer"
	    -H 'Content-Type: application/json' --data-binary "@$TR_TMP/par.$i"
	    -o /dev/null -w '%{http_code}\n' "$TR_URL$TR_REVIEW_PATH")
done
codes=$(curl --parallel --parallel-immediate --parallel-max 20 "${a[@]}" \
    2>/dev/null | sort | uniq -c | awk '{ printf "%s%sx%s", s, $1, $2; s = " " }')
is "$codes" "20x200" "a new address with the bearer token opening 20 connections at once is not refused (max_connections_per_client = 4)"
# Its first burst is let in for the grace; once its connections time out,
# those it reopens beyond 4 are refused.  Wait for both before stopping it.
tr_wait_until 15 slow tokr 4
tr_wait_until 15 eval 'tr_metrics; n=$(per_client_refused); [ "$n" -ge 1 ]'
flood_stop tokr
slow=$(fstat tokr slow) life=$(fstat tokr life_max)
ok "TLS done, no request: the attacker's connections are closed after handshake_timeout = 2s ($slow closed, the longest after $life s)" \
    eval '[ "${slow:-0}" -ge 4 ] && tr_between "$life" 1.5 4'
tr_metrics
n=$(per_client_refused)
ok "its connections beyond 4 are refused and counted ($n)" \
    tr_between "$n" 1 1000000
tr_stop
is "$?" 0 "the daemon exits 0 on SIGTERM"

done_testing
