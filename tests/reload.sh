#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Reloading without dropping a request: SIGHUP and file watching pick up a
# changed token file (new tokens work, removed ones stop working at once,
# cached or not), a broken file keeps the old state and says why, twenty
# reloads under steady traffic lose no request, a replaced certificate is
# served after a reload, and SIGTERM lets a request in flight finish.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq setsid timeout
tr_need_binaries
tr_tmpdir
tr_certs

# The SHA-256 fingerprint of the certificate the daemon serves now.
served_fp()
{
	timeout 10 openssl s_client -connect "127.0.0.1:$TR_PORT" \
	    -servername localhost -CAfile "$TR_CERTS/ca.crt" \
	    -cert "$TR_CERTS/client.crt" -key "$TR_CERTS/client.key" \
	    </dev/null 2>/dev/null |
	    openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/.*=//'
}

served_fp_is()
{
	[ "$(served_fp)" = "$1" ]
}

# ---------------------------------------------------------------- SIGHUP

tid "SIGHUP reloads the token file"
tr_config hup server.watch_interval=0 "server.tls_cert=$TR_TMP/hup/tls.crt" \
    "server.tls_key=$TR_TMP/hup/tls.key" cache.ttl=60s cache.negative_ttl=10s
cp "$TR_CERTS/server.crt" "$TR_DIR/tls.crt"
cp "$TR_CERTS/server.key" "$TR_DIR/tls.key"
tr_tokens 'tokA,alice,1' 'tokB,bob,2'
tr_start hup || bail "the daemon does not start"

expect_user -t tokA -n alice "before: tokA -> alice"
expect_no -E -t tokN "before: tokN -> not authenticated"
expect_user -t tokA -n alice "before: tokA again (now cached) -> alice"
tr_tokens 'tokB,bob,2' 'tokN,nina,3'
expect_user -t tokA -n alice \
    "with watching off and no signal, the old table still serves tokA"
expect_reload "SIGHUP: reloads_total{result=\"success\"} goes up within 5 s"
expect_user -t tokN -n nina "SIGHUP: the new token tokN -> nina"
expect_no -E -t tokA \
    "SIGHUP: the removed token tokA is refused at once, though it was cached"
expect_user -t tokB -n bob "SIGHUP: an unchanged token tokB -> bob"

tid "a broken token file on reload keeps the old state"
tr_tokens 'tokB,bob,2' 'broken,line' 'tokQ,quinn,4'
ok1=$(tr_reloads success)
expect_reload -f "broken file: reloads_total{result=\"failure\"} goes up within 5 s"
is "$(tr_reloads success)" "$ok1" "broken file: no successful reload counted"
expect_user -t tokN -n nina \
    "broken file: the old table still serves tokN -> nina"
expect_no -E -t tokQ "broken file: tokQ from the broken file is not loaded"
ok "broken file: the daemon is still alive" tr_alive "$TR_PID"
like "$(grep -v '"event":"review"' "$TR_LOG")" 'tokens\.csv:2' \
    "broken file: the log says why (names tokens.csv:2)"
tr_tokens 'tokB,bob,2' 'tokN,nina,3' 'tokZ,zoe,5'
expect_reload "fixed file: the next SIGHUP reloads"
expect_user -t tokZ -n zoe "fixed file: tokZ -> zoe"

# ---------------------------------------------------------------- certificate

tid "a replaced certificate is served after SIGHUP"
old=$(tr_cert_fp "$TR_DIR/tls.crt")
is "$(served_fp)" "$old" "the daemon serves the first certificate"
tr_server_cert "$TR_CERTS" server2 || bail "openssl failed"
new=$(tr_cert_fp "$TR_CERTS/server2.crt")
tr_write "$TR_DIR/tls.key" <"$TR_CERTS/server2.key"
tr_write "$TR_DIR/tls.crt" <"$TR_CERTS/server2.crt"
expect_reload "new certificate: a reload succeeds"
ok "new certificate: new connections get it (SHA-256 fingerprint)" \
    tr_wait_until 5 served_fp_is "$new"
expect_user -t tokZ -n zoe "new certificate: reviews still verify and work"

# ---------------------------------------------------------------- traffic

tid "20 reloads under traffic"
# Two clients run until told to stop: one keeps a connection alive for 50
# requests at a time, the other opens a new connection per request.
cat >"$TR_TMP/traffic.sh" <<'EOF'
mode=$1 out=$2 url=$3 certs=$4 body=$5
mkdir -p "$out"
i=0
while [ ! -e "$out/../stop" ] && [ "$i" -lt 2000 ]; do
	i=$((i + 1))
	if [ "$mode" = keepalive ]; then
		set -- "$url/tokenreview?i=$i&n=[1-50]"
	else
		set -- -H 'Connection: close' "$url/tokenreview?i=$i&n=[1-10]"
	fi
	curl -sS --max-time 20 --cacert "$certs/ca.crt" \
	    --cert "$certs/client.crt" --key "$certs/client.key" \
	    -H 'Content-Type: application/json' --data-binary "@$body" \
	    -o "$out/$i-#1" -w '%{http_code}\n' "$@" >>"$out/codes" \
	    2>>"$out/errors"
done
EOF
tr_review_body v1 tokZ >"$TR_TMP/body-tokZ"
mkdir -p "$TR_TMP/traffic"
tr_bg bash "$TR_TMP/traffic.sh" keepalive "$TR_TMP/traffic/ka" "$TR_URL" \
    "$TR_CERTS" "$TR_TMP/body-tokZ"
pid_ka=$TR_BGPID
tr_bg bash "$TR_TMP/traffic.sh" close "$TR_TMP/traffic/close" "$TR_URL" \
    "$TR_CERTS" "$TR_TMP/body-tokZ"
pid_close=$TR_BGPID
sleep 0.5
ok4=$(tr_reloads success)
fail4=$(tr_reloads failure)
for i in $(seq 1 20); do
	tr_tokens 'tokB,bob,2' 'tokZ,zoe,5' "tokX$i,x$i,$i"
	kill -HUP "$TR_PID"
	sleep 0.25
done
sleep 0.5
: >"$TR_TMP/traffic/stop"
if tr_wait_exit "$pid_ka" 30 && tr_wait_exit "$pid_close" 30; then
	pass "traffic: both clients finished"
else
	fail "traffic: both clients finished within 30 s"
	tr_bg_kill "$pid_ka"
	tr_bg_kill "$pid_close"
fi
total=$(cat "$TR_TMP"/traffic/*/codes 2>/dev/null | wc -l)
good=$(cat "$TR_TMP"/traffic/*/codes 2>/dev/null | grep -c '^200$')
diag "traffic: $total requests during the reloads"
ok "traffic: a few hundred requests were made (got $total)" tr_between "$total" 200 1e9
is "$good" "$total" "traffic: every request during 20 reloads answered 200"
is "$(cat "$TR_TMP"/traffic/*/[0-9]* 2>/dev/null |
    jq -s 'map(select(.status.authenticated == true and .status.user.username == "zoe")) | length')" \
    "$total" "traffic: every answer was OK(zoe)"
is "$(cat "$TR_TMP"/traffic/*/errors 2>/dev/null | head -n 3)" "" \
    "traffic: curl saw no transport error"
ok "traffic: reloads succeeded meanwhile" tr_wait_until 5 tr_reloaded success "$ok4"
diag "successful reloads: $ok4 -> $(tr_reloads success)"
is "$(tr_reloads failure)" "$fail4" "traffic: no reload failed"
ok "traffic: the last file is in force (tokX20 -> x20)" \
    tr_wait_until 5 tr_is_user -t tokX20 -n x20
expect_no -E -t tokX19 "traffic: tokX19 (from an earlier file) is refused"

tr_stop
is "$?" 0 "the daemon exits 0 on SIGTERM after the reloads"

# ---------------------------------------------------------------- watching

tid "a changed file is picked up without a signal"
tr_config watch server.watch_interval=1s "server.tls_cert=$TR_TMP/watch/tls.crt" \
    "server.tls_key=$TR_TMP/watch/tls.key" cache.negative_ttl=0
cp "$TR_CERTS/server.crt" "$TR_DIR/tls.crt"
cp "$TR_CERTS/server.key" "$TR_DIR/tls.key"
tr_tokens 'tokA,alice,1'
tr_start watch || bail "the watching daemon does not start"
expect_user -t tokA -n alice "watch: tokA -> alice"
expect_no -E -t tokW "watch: tokW -> not authenticated yet"
sleep 1.1	# a new mtime second, for watchers that compare whole seconds
tr_tokens 'tokW,wanda,7'
t0=$(tr_now)
if tr_wait_until 6 tr_is_user -t tokW -n wanda; then
	pass "watch: the new token works without a signal (after $(tr_elapsed "$t0") s)"
	# The daemon's own reload time, not the test's polling, is measured.
	tr_metrics
	el=$(awk -v a="$t0" -v b="$(tr_metric \
	    tokenreviewd_last_reload_success_timestamp_seconds)" \
	    'BEGIN { printf "%.2f", b - a }')
	ok "watch: reloaded within watch_interval (1 s) plus 1 s (took $el s)" \
	    tr_between "$el" 0 2
else
	fail "watch: the new token works within 6 s without a signal"
	skip "watch: ... within watch_interval (1 s) plus 1.5 s" "not picked up"
fi
expect_no -E -t tokA "watch: the removed token tokA is refused"
tr_write "$TR_DIR/tls.key" <"$TR_CERTS/server2.key"
tr_write "$TR_DIR/tls.crt" <"$TR_CERTS/server2.crt"
ok "watch: a replaced certificate is served within 5 s without a signal" \
    tr_wait_until 5 served_fp_is "$new"
tr_stop
is "$?" 0 "the watching daemon exits 0 on SIGTERM"

# ---------------------------------------------------------------- SIGTERM

tid "SIGTERM lets a request in flight finish"
tr_config term server.shutdown_timeout=8s
tr_tokens 'tokA,alice,1'
tr_start term || bail "the daemon does not start"
body=$(tr_review_body v1 tokA)
half=$((${#body} / 2))
# A health check (its answer shows the connection is up), then headers and
# half the body of a review, the rest after 2 s, then wait for the answer;
# meanwhile SIGTERM arrives.
cat >"$TR_TMP/inflight.sh" <<EOF
{
	printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
	printf 'POST /tokenreview HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
	    ${#body} '${body:0:$half}'
	sleep 2
	printf '%s' '${body:$half}'
	sleep 3
} | timeout 15 openssl s_client -quiet -connect 127.0.0.1:$TR_PORT \
    -servername localhost -CAfile "$TR_CERTS/ca.crt" \
    -cert "$TR_CERTS/client.crt" -key "$TR_CERTS/client.key" \
    >"$TR_TMP/inflight.out" 2>"$TR_TMP/inflight.err"
EOF
tr_bg bash "$TR_TMP/inflight.sh"
pid_if=$TR_BGPID
# An idle keep-alive connection must not hold up the exit.
cat >"$TR_TMP/idle.sh" <<EOF
{
	printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'
	sleep 20
} | timeout 25 openssl s_client -quiet -connect 127.0.0.1:$TR_PORT \
    -servername localhost -CAfile "$TR_CERTS/ca.crt" \
    -cert "$TR_CERTS/client.crt" -key "$TR_CERTS/client.key" \
    >"$TR_TMP/idle.out" 2>"$TR_TMP/idle.err"
EOF
tr_bg bash "$TR_TMP/idle.sh"
pid_idle=$TR_BGPID
tr_wait_until 10 grep -q 'HTTP/1.1 200' "$TR_TMP/inflight.out" ||
    diag "the connection in flight is not up yet"
tr_wait_until 10 grep -q 'HTTP/1.1 200' "$TR_TMP/idle.out" ||
    diag "the idle connection is not up yet"
kill -TERM "$TR_PID"
t0=$(tr_now)
draining()
{
	tr_req GET /readyz
	[ "$TR_CODE" = 503 ] || [ "$TR_CODE" = 000 ]
}
ok "draining: /readyz answers 503 or new connections are refused" \
    tr_wait_until 3 draining
tr_wait_exit "$TR_PID" 12
rc=$?
el=$(tr_elapsed "$t0")
is "$rc" 0 "SIGTERM with a request in flight: exit status 0"
ok "SIGTERM: the daemon ended within 6 s, not held by the idle connection (took $el s)" \
    tr_between "$el" 0 6
tr_wait_exit "$pid_if" 10
is "$(tr_raw_codes "$TR_TMP/inflight.out")" "200 200" \
    "SIGTERM: the request in flight was answered 200"
ok "SIGTERM: ... with OK(alice)" grep -q '"username": *"alice"' "$TR_TMP/inflight.out"
tr_bg_kill "$pid_idle"
tr_bg_kill "$pid_if"

done_testing
