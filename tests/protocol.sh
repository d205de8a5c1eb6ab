#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# The webhook protocol seen from kube-apiserver's side: the numbered cases
# 1-21 and 23-30 of the conformance list (spec/conformance-cases.md) against
# a daemon serving a static token file, plus malformed input, the health
# and metrics endpoints and the audit log.  Each description names the
# case it covers.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq setsid timeout sha256sum
tr_need_binaries
tr_tmpdir
tr_certs

# A secret that must never reach a log, and a token only rejected clients
# ever send (so no audit line may carry its fingerprint).
SECRET=s$(openssl rand -hex 16)
UNSEEN=u$(openssl rand -hex 16)

# expect_status DESC CODE: an HTTP error with a Status body.
expect_status()
{
	if tr_is_status "$2"; then
		pass "$1"
	else
		fail "$1" "want $2 with a JSON Status body" \
		    "got $TR_CODE (curl $TR_CURL_RC): $(head -c 400 <<<"$TR_BODY")"
	fi
}

# post DESC-less raw POST of a body to the review path.
post()
{
	tr_req POST "${2:-$TR_REVIEW_PATH}" "$1"
}

v1()
{
	printf '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":%s}' "$1"
}

alive()
{
	tr_req GET /healthz
	[ "$TR_CODE" = 200 ]
}

# ---------------------------------------------------------------- setup

# Fixture F of the conformance list, then the lines of cases 25, 26, 29 and
# 30 (an empty line, CRLF ends), quoting, the secret token, and on line 14
# the groups only the API server may give.
# read_timeout: case 19's 500 handshakes at once on a loaded machine (the
# sanitizers, other tests in parallel) may outlast the 10 s default;
# handshake_timeout: its curl may send a ClientHello seconds after the
# connect (tests/conns.sh tests the deadline).
tr_config proto cache.ttl=60s cache.negative_ttl=10s \
    server.health_listen=127.0.0.1:0 server.read_timeout=60s \
    server.handshake_timeout=60s
{
	printf '%s\n' 'tokA,alice,1001,"ops,dev"' 'tokB,bob,1002' \
	    'dup,first,1' 'dup,second,2' 'a&b<c>,eve,1005' \
	    'tokC,carol,1003,ops,dev' 'tokD,dan,1004,' ' tokF,frank,1006' ''
	printf 'tokG,gina,1007\r\n\r\n'
	printf '%s\n' "$SECRET,sam,1008,\"a \"\"q\"\" b\""
	printf 'tokH,"hank, jr",1009\r\n'
	printf '%s\n' 'tokS,sue,1010,"system:authenticated,system:masters,system:unauthenticated,ops"'
} | tr_write "$TR_DIR/tokens.csv"

tid "daemon with mTLS and the static token file"
expect_start proto "daemon starts and writes its port file"

# ---------------------------------------------------------------- cases 1-6

tid "basic reviews"
expect_user -t tokA -V v1 -S -n alice -u 1001 -g '["ops","dev"]' \
    "case 1: v1 tokA -> OK(alice, uid 1001, groups [ops,dev])"
unlike "$(jq -c '.status.audiences' <<<"$TR_BODY" 2>&1)" '^\[' \
    "case 1: audience-agnostic answer has no status.audiences"
expect_user -t tokA -V v1beta1 -S -n alice -u 1001 -g '["ops","dev"]' \
    "case 2: v1beta1 tokA -> OK(alice) with apiVersion v1beta1"
expect_no -t unknown-token -V v1 \
    "case 3: unknown token -> NO (no user, no error)"
expect_no -t unknown-token -V v1beta1 "case 3: unknown token, v1beta1 -> NO"

expect_no -t "" -V v1 -e . 'case 4: token "" -> NO+err'
post '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview"}'
expect_no -V v1 -e . "case 4: body without spec -> NO+err"
post '{"apiVersion":"authentication.k8s.io/v1beta1","kind":"TokenReview","spec":null}'
expect_no -V v1beta1 -e . "case 4: spec null -> NO+err (v1beta1)"
post "$(v1 '{}')"
expect_no -V v1 -e . "case 4: spec without token -> NO+err"

post '{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1","metadata":{"creationTimestamp":null},"spec":{"token":"tokA","audiences":["https://kubernetes.default.svc.cluster.local"]},"status":{"user":{}}}
'
expect_user -V v1 -S -n alice -u 1001 \
    "case 5: body exactly as kube-apiserver < 1.34 sends it -> OK(alice)"
post '{"kind":"TokenReview","apiVersion":"authentication.k8s.io/v1beta1","metadata":{},"spec":{"token":"tokA","audiences":["https://kubernetes.default.svc.cluster.local"]},"status":{"user":{}}}
'
expect_user -V v1beta1 -S -n alice \
    "case 5: body as kube-apiserver >= 1.34 sends it (v1beta1) -> OK(alice)"
post '{"spec":{"future":{"x":[1,2]},"token":"tokA","zz":null},"kind":"TokenReview","extra":true,"apiVersion":"authentication.k8s.io/v1"}'
expect_user -V v1 -S -n alice \
    "case 5: unknown fields anywhere and any key order are ignored"
expect_user -t tokA -V v1 -a '["https://kubernetes.default.svc"]' -S -n alice \
    "case 5/47: request audiences on an agnostic backend -> OK"
ok "case 5/47: ... and no status.audiences in the answer" \
    tr_jq '.status.audiences == null'
expect_user -t tokA -V v1 -a '[]' -S -n alice \
    "case 5: empty audiences list -> OK(alice)"

TR_REVIEW_PATH='/tokenreview?timeout=30s' expect_user -t tokA -V v1 -S -n alice \
    "case 6: path /tokenreview?timeout=30s -> OK(alice)"
TR_REVIEW_PATH=/apis/authentication.k8s.io/v1/tokenreviews \
    expect_user -t tokA -V v1 -S -n alice \
        "path /apis/authentication.k8s.io/v1/tokenreviews -> OK(alice)"
TR_REVIEW_PATH=/apis/authentication.k8s.io/v1beta1/tokenreviews \
    expect_user -t tokB -V v1beta1 -S -n bob \
        "path /apis/authentication.k8s.io/v1beta1/tokenreviews -> OK(bob)"

# ---------------------------------------------------------------- cases 7-12

tid "malformed reviews"
post '{"apiVersion":"authentication.k8s.io/v2","kind":"TokenReview","spec":{"token":"tokA"}}'
expect_status "case 7: apiVersion authentication.k8s.io/v2 -> 400" 400
post '{"kind":"TokenReview","spec":{"token":"tokA"}}'
expect_status "case 7: no apiVersion -> 400" 400
post '{"apiVersion":"authentication.k8s.io/v1","kind":"SubjectAccessReview","spec":{"token":"tokA"}}'
expect_status "case 8: kind SubjectAccessReview -> 400" 400
post '{"apiVersion":'
expect_status "case 9: truncated JSON -> 400" 400
post '[{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview"}]'
expect_status "case 9: a JSON array -> 400" 400
post 'null'
expect_status "case 9: null -> 400" 400
post ''
expect_status "case 9: empty body -> 400" 400
post 'token=tokA'
expect_status "case 9: not JSON at all -> 400" 400
post "$(v1 '{"token":"tokA"}') trailing"
expect_status "case 9: garbage after the JSON object -> 400" 400
post "$(v1 '{"token":7}')"
expect_status "case 10: spec.token is a number -> 400" 400
post "$(v1 '{"token":"tokA","audiences":"x"}')"
expect_status 'case 10: spec.audiences is "x" -> 400' 400
post "$(v1 '{"token":"tokA","audiences":["x",1]}')"
expect_status "case 10: spec.audiences holds a number -> 400" 400
post "$(v1 '"tokA"')"
expect_status "case 10: spec is a string -> 400" 400
post "$(v1 '{"token":"tokB","token":"tokA"}')"
expect_status "case 11: two token keys in spec -> 400" 400
post "$(v1 '{"token":"a\u0026b\u003cc\u003e"}')"
expect_user -V v1 -S -n eve -u 1005 \
    'case 12: token "a\u0026b\u003cc\u003e" (Go escaping) -> OK(eve)'
post "$(v1 '{"token":"\u0074okA"}')"
expect_user -V v1 -S -n alice \
    'case 12: token "\u0074okA" is decoded before lookup -> OK(alice)'
deep=$(printf '%*s' 20000 '' | tr ' ' '[')
post "$(v1 "{\"token\":\"tokA\",\"x\":$deep}")"
expect_status "malformed: 20000 nested arrays -> 400" 400
post "$(v1 "{\"token\":\"$(printf '%*s' 20000 '' | tr ' ' x)\"}")"
like "$TR_CODE" '^(200|400)$' "malformed: a 20000-byte token -> 200 or 400, no fault"
ok "malformed: the daemon still answers after all of the above" alive

# ---------------------------------------------------------------- case 13

tid "body limit (default 64k)"
# Had the daemon waited for the body, only read_timeout (60 s here) would
# end the request.
tr_req POST /tokenreview '' -H 'Content-Length: 1048576'
expect_status "case 13: Content-Length 1 MiB, no body sent -> 413 with a JSON Status body" 413
ok "case 13: ... at once (${TR_TIME} s by curl's clock, under 5 s; read_timeout is 60 s)" \
    tr_between "$TR_TIME" 0 5
big=$(printf '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"tokA"},"pad":"%s"}' \
    "$(printf '%*s' 70000 '' | tr ' ' x)")
post "$big"
expect_status "case 13: 70 kB body with Content-Length -> 413" 413
TR_CURL_TIMEOUT=10 tr_req POST /tokenreview "$big" -H 'Transfer-Encoding: chunked'
expect_status "case 13: 70 kB chunked body -> 413" 413
TR_CURL_TIMEOUT=10 tr_req POST /tokenreview "$big" -H 'Transfer-Encoding: chunked' -H 'Expect:'
expect_status "case 13: 70 kB chunked body without Expect: 100-continue -> 413" 413
tr_req POST /tokenreview "$(v1 '{"token":"tokA"}')" -H 'Transfer-Encoding: chunked'
expect_user -V v1 -S -n alice \
    "case 13: a small chunked body is accepted -> OK(alice)"

# ---------------------------------------------------------------- cases 14-17

tid "content type, methods, paths"
TR_CTYPE=text/plain post "$(v1 '{"token":"tokA"}')"
expect_status "case 14: Content-Type text/plain -> 415" 415
TR_CTYPE='application/x-www-form-urlencoded' post "$(v1 '{"token":"tokA"}')"
expect_status "case 14: Content-Type application/x-www-form-urlencoded -> 415" 415
TR_CTYPE='application/json; charset=utf-8' post "$(v1 '{"token":"tokA"}')"
expect_user -V v1 -S -n alice \
    "case 14: application/json; charset=utf-8 -> accepted"
TR_CTYPE='Application/JSON' post "$(v1 '{"token":"tokA"}')"
expect_user -V v1 -S -n alice \
    "case 14: media type is case-insensitive (Application/JSON)"
TR_CTYPE='' post "$(v1 '{"token":"tokA"}')"
expect_user -V v1 -S -n alice "case 14: no Content-Type -> parsed as JSON"

for m in GET PUT DELETE; do
	if [ "$m" = GET ]; then
		tr_req GET /tokenreview
	else
		tr_req "$m" /tokenreview "$(v1 '{"token":"tokA"}')"
	fi
	expect_status "case 15: $m /tokenreview -> 405" 405
	like "$(tr_header allow)" '^POST$' "case 15: $m /tokenreview has Allow: POST"
done
tr_req GET /apis/authentication.k8s.io/v1/tokenreviews
expect_status "case 15: GET /apis/authentication.k8s.io/v1/tokenreviews -> 405" 405

post "$(v1 '{"token":"tokA"}')" /other
expect_status "case 16: POST /other -> 404" 404
tr_req GET /other
expect_status "case 16: GET /other -> 404" 404
post "$(v1 '{"token":"tokA"}')" /tokenreview/extra
expect_status "case 16: POST /tokenreview/extra -> 404" 404

# ---------------------------------------------------------------- cases 23-30

tid "static token file"
expect_user -t tokB -V v1 -S -n bob -u 1002 -g '[]' \
    "case 23: tokB -> OK(bob, uid 1002, no groups)"
expect_user -t dup -V v1 -S -n second -u 2 \
    "case 24: duplicate token -> the last line wins (second, uid 2)"
like "$(grep -i 'warn' "$TR_LOG")" 'tokens\.csv:4' \
    "case 24: a warning names the duplicate's file and line"
expect_user -t tokC -V v1 -S -n carol -g '["ops"]' \
    "case 25: tokC,carol,1003,ops,dev -> groups [ops] only"
like "$(grep -i 'warn' "$TR_LOG")" 'tokens\.csv:6' \
    "case 25: a warning names the line with ignored columns"
expect_user -t tokD -V v1 -S -n dan -g '[]' \
    "case 26: tokD,dan,1004, -> no groups (no empty-string group)"
expect_no -t tokF -V v1 'case 29: " tokF" keeps its leading space: tokF -> NO'
expect_user -t " tokF" -V v1 -S -n frank 'case 29: " tokF" -> OK(frank)'
expect_user -t tokG -V v1 -S -n gina -u 1007 \
    "case 30: CRLF line and empty lines -> tokG OK(gina, uid 1007 without CR)"
expect_user -t tokH -V v1 -S -n 'hank, jr' -u 1009 \
    'case 30: a quoted field with a comma and a CRLF end -> "hank, jr"'
expect_user -t tokS -V v1 -S -n sue -g '["system:masters","ops"]' \
    'static: system:authenticated and system:unauthenticated dropped, system:masters kept as written'
for g in system:authenticated system:unauthenticated; do
	is "$(grep -c "tokens\.csv:14: group $g dropped" "$TR_LOG")" 1 \
	    "static: one warning names tokens.csv:14 and the dropped $g"
done
expect_user -t "$SECRET" -V v1 -S -n sam -g '["a \"q\" b"]' \
    'static: "" inside a quoted group is a literal quote'
expect_no -t tokA, -V v1 \
    "static: a prefix or extension of a token is not the token"

# Cases 27 and 28: the file is rejected as a whole, by file and line.
n=0
for bad in 'two,fields' '# comment' 'tokE,"ed"x,1' 'tokE, "ed",1' \
    'tokE,"ed,1'; do
	n=$((n + 1))
	printf 'tokA,alice,1001\n%s\ntokB,bob,1002\n' "$bad" |
	    tr_write "$TR_TMP/bad$n.csv"
	tr_config "bad$n" "static.file=$TR_TMP/bad$n.csv"
	"$TOKENREVIEWD" -c "$TR_CONF" -n >/dev/null 2>"$TR_TMP/bad$n.err"
	rc=$?
	case $n in
	1 | 2) c=27 ;;
	*) c=28 ;;
	esac
	if [ "$rc" -ne 0 ] && grep -q "bad$n\.csv:2" "$TR_TMP/bad$n.err"; then
		pass "case $c: line '$bad' -> file rejected, error names bad$n.csv:2"
	else
		fail "case $c: line '$bad' -> file rejected, error names bad$n.csv:2" \
		    "exit $rc" "stderr: $(head -c 500 "$TR_TMP/bad$n.err")"
	fi
done
tr_use proto

# ---------------------------------------------------------------- case 18

tid "200 requests on one keep-alive connection"
tr_tls_args
tr_review_body v1 tokA >"$TR_TMP/body-tokA"
mkdir -p "$TR_TMP/c18"
t0=$(tr_now)
curl -sS --max-time 60 "${TR_TLS[@]}" -H 'Content-Type: application/json' \
    --data-binary "@$TR_TMP/body-tokA" -o "$TR_TMP/c18/r#1" \
    -w '%{http_code} %{num_connects}\n' "$TR_URL/tokenreview?n=[1-200]" \
    >"$TR_TMP/c18.w" 2>"$TR_TMP/c18.err"
diag "200 sequential requests took $(tr_elapsed "$t0") s"
is "$(grep -c '^200 ' "$TR_TMP/c18.w")" 200 "case 18: 200 sequential requests all answered 200"
is "$(awk '{ n += $2 } END { print n + 0 }' "$TR_TMP/c18.w")" 1 \
    "case 18: ... over one connection (curl num_connects sums to 1)"
is "$(cat "$TR_TMP"/c18/r* | jq -s 'map(select(.status.user.username == "alice")) | length')" 200 \
    "case 18: ... and every answer is OK(alice)"

# Pipelining: two requests in one write are answered in order.
b1=$(v1 '{"token":"tokA"}')
b2=$(v1 '{"token":"tokB"}')
printf 'POST /tokenreview HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%sPOST /tokenreview HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
    "${#b1}" "$b1" "${#b2}" "$b2" | tr_sclient "$TR_TMP/pipe" 1
is "$(tr_raw_codes "$TR_TMP/pipe")" "200 200" "pipelined: two requests in one write -> two 200s"
is "$(grep -o '"username": *"[a-z]*"' "$TR_TMP/pipe" | tr -d ' ' | tr '\n' ' ')" \
    '"username":"alice" "username":"bob" ' "pipelined: ... answered in order (alice, then bob)"

# ---------------------------------------------------------------- case 19

# Each client sends its 40 kB body at 4 kB/s, so that every connection
# stays open about 10 s; meanwhile the gauge connections_open, read on the
# health port, shows that all 500 were open at the same time.
tid "500 concurrent connections"
mkdir -p "$TR_TMP/c19"
printf '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"tokA"},"pad":"%s"}' \
    "$(printf '%*s' 40000 '' | tr ' ' x)" >"$TR_TMP/body-slow"
c19_scrape()
{
	curl -s --max-time 5 "http://127.0.0.1:$(sed -n 2p "$TR_TMP/proto/port")/metrics" |
	    awk '$1 == "tokenreviewd_connections_open" { print $2 }'
}
c19_base=$(c19_scrape)
c19_peak=0
t0=$(tr_now)
for half in a b; do
	curl -sS --max-time 90 "${TR_TLS[@]}" -H 'Content-Type: application/json' \
	    --data-binary "@$TR_TMP/body-slow" --limit-rate 4K \
	    --parallel --parallel-immediate \
	    --parallel-max 250 -o "$TR_TMP/c19/$half#1" -w '%{http_code}\n' \
	    "$TR_URL/tokenreview?n=[1-250]" >"$TR_TMP/c19.$half" \
	    2>"$TR_TMP/c19.$half.err" &
	TR_PIDS+=("$!")
	eval "c19_$half=\$!"
done
# shellcheck disable=SC2154
while tr_alive "$c19_a" || tr_alive "$c19_b"; do
	n=$(c19_scrape)
	[ "${n:-0}" -gt "$c19_peak" ] && c19_peak=$n
	sleep 0.2
done
# shellcheck disable=SC2154
wait "$c19_a" "$c19_b"
diag "500 parallel requests took $(tr_elapsed "$t0") s"
ok "case 19: all 500 connections open at once (connections_open $c19_base before, peak $c19_peak)" \
    test "$c19_peak" -ge "$((${c19_base:-1} + 500))"
is "$(cat "$TR_TMP"/c19.a "$TR_TMP"/c19.b | grep -c '^200$')" 500 \
    "case 19: 500 concurrent connections -> 500 answers 200"
is "$(cat "$TR_TMP"/c19/* | jq -s 'map(select(.status.user.username == "alice")) | length')" 500 \
    "case 19: ... every one OK(alice)"
errs=$(grep -h '^curl:' "$TR_TMP"/c19.?.err | sort | uniq -c | head -n 5)
[ -n "$errs" ] && diag "curl: $errs"

# ---------------------------------------------------------------- case 20

tid "TLS versions and ALPN"
tr_handshake "$TR_TMP/alpn" -alpn h2,http/1.1
ok "case 20: ALPN h2,http/1.1 -> server selects http/1.1" \
    grep -q '^ALPN protocol: http/1.1' "$TR_TMP/alpn"
if tr_handshake "$TR_TMP/tls11" -tls1_1 -cipher DEFAULT@SECLEVEL=0; then
	fail "case 20: TLS 1.1 handshake is refused" "$(grep -E '^(New|    Protocol)' "$TR_TMP/tls11")"
else
	pass "case 20: TLS 1.1 handshake is refused"
fi
if tr_handshake "$TR_TMP/tls10" -tls1 -cipher DEFAULT@SECLEVEL=0; then
	fail "case 20: TLS 1.0 handshake is refused" "$(grep -E '^(New|    Protocol)' "$TR_TMP/tls10")"
else
	pass "case 20: TLS 1.0 handshake is refused"
fi
ok "case 20: TLS 1.2 handshake is accepted" tr_handshake "$TR_TMP/tls12" -tls1_2
ok "case 20: TLS 1.3 handshake is accepted" tr_handshake "$TR_TMP/tls13" -tls1_3

# ---------------------------------------------------------------- case 21

tid "client authentication (mTLS)"
for who in none rogue intruder; do
	TR_CLIENT=$who tr_review v1 "$UNSEEN" >/dev/null
	case $who in
	none) what="no client certificate" ;;
	rogue) what="a client certificate from an untrusted CA" ;;
	intruder) what="CN=intruder from the trusted CA (not in client_names)" ;;
	esac
	if [ "$who" = intruder ]; then
		like "$TR_CODE" '^(000|401|403)$' "case 21: $what -> refused (TLS failure, 401 or 403)"
	else
		is "$TR_CODE" 000 "case 21: $what -> TLS handshake fails, no HTTP answer"
	fi
done
if TR_CLIENT=none tr_handshake "$TR_TMP/nocert12" -tls1_2; then
	fail "case 21: no client certificate, TLS 1.2 -> handshake fails"
else
	pass "case 21: no client certificate, TLS 1.2 -> handshake fails"
fi
if TR_CLIENT=rogue tr_handshake "$TR_TMP/rogue12" -tls1_2; then
	fail "case 21: untrusted client certificate, TLS 1.2 -> handshake fails"
else
	pass "case 21: untrusted client certificate, TLS 1.2 -> handshake fails"
fi
expect_user -t tokA -V v1 -S -n alice \
    "case 21: CN=kube-apiserver from the trusted CA -> OK(alice)"

tid "client authentication (bearer token)"
BEARER=b$(openssl rand -hex 16)
tr_config bearer server.client_ca= server.client_names= \
    "server.client_token_file=$TR_TMP/bearer/client-token"
printf '%s' "$BEARER" | tr_write "$TR_DIR/client-token"
cp "$TR_TMP/proto/tokens.csv" "$TR_DIR/tokens.csv"
if tr_start bearer; then
	expect_user -t tokA -c none -b "$BEARER" -V v1 -S -n alice \
	    "case 21: bearer mode, right Authorization -> OK(alice)"
	TR_CLIENT=none tr_review v1 "$UNSEEN" '' -H "Authorization: Bearer x$BEARER" >/dev/null
	expect_status "case 21: bearer mode, wrong Authorization -> 401" 401
	TR_CLIENT=none tr_review v1 "$UNSEEN" >/dev/null
	expect_status "case 21: bearer mode, no Authorization -> 401" 401
	TR_CLIENT=none tr_review v1 "$UNSEEN" '' -H "Authorization: Basic $BEARER" >/dev/null
	expect_status "case 21: bearer mode, Basic scheme -> 401" 401
	TR_CLIENT=none tr_review v1 "$UNSEEN" '' -H "Authorization: Bearer ${BEARER%?}" >/dev/null
	expect_status "case 21: bearer mode, a prefix of the token -> 401" 401
	tr_stop
	is "$?" 0 "bearer daemon exits 0 on SIGTERM"
else
	fail "case 21: bearer-mode daemon starts"
fi
tr_use proto
ok "case 21: no rejected client reached a backend (no audit line for its token)" \
    eval "! grep -qF '$(tr_fp "$UNSEEN")' '$TR_TMP/proto/log' '$TR_TMP/bearer/log'"

# ---------------------------------------------------------------- headers

tid "oversized request headers"
tr_req GET /healthz '' -H "X-Big: $(printf '%*s' 100000 '' | tr ' ' a)"
is "$TR_CODE" 431 "a 100 kB header -> 431 (read to the end, then closed)"
ok "... the 431 carries a JSON Status body" tr_is_status 431
hdrs=()
for i in $(seq 1 2000); do
	hdrs+=(-H "X-H$i: $i")
done
tr_req GET /healthz '' "${hdrs[@]}"
is "$TR_CODE" 431 "2000 request headers -> 431"
ok "the daemon still answers after oversized headers" alive

# ---------------------------------------------------------------- endpoints

tid "health, readiness, metrics"
tr_req GET /healthz
is "$TR_CODE $(tr -d '\n' <<<"$TR_BODY")" "200 ok" 'GET /healthz -> 200 "ok"'
tr_req GET /readyz
is "$TR_CODE" 200 "GET /readyz -> 200 when ready"
tr_review v1 tokB >/dev/null
tr_metrics
before=$(tr_metric tokenreviewd_cache_hits_total)
tr_review v1 tokB >/dev/null
tr_req GET /metrics
TR_METRICS=$TR_BODY
is "$TR_CODE" 200 "GET /metrics -> 200"
like "$(tr_header content-type)" '^text/plain' "/metrics is text/plain"
for m in tokenreviewd_http_requests_total tokenreviewd_reviews_total \
    tokenreviewd_review_duration_seconds_bucket \
    tokenreviewd_review_duration_seconds_count tokenreviewd_reloads_total \
    tokenreviewd_connections_open tokenreviewd_cache_hits_total; do
	like "$TR_METRICS" "^$m(\\{| )" "/metrics has $m"
done
bad=$(printf '%s\n' "$TR_METRICS" | grep -v '^#' | grep -v '^$' |
    grep -Ev '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? (-?[0-9.]+([eE][-+]?[0-9]+)?|NaN|[+-]Inf)$' |
    head -n 3)
is "$bad" "" "/metrics: every sample line is valid Prometheus text"
after=$(tr_metric tokenreviewd_cache_hits_total)
is "$after" "$before" \
    "a repeated review of a static token is answered before the cache (cache_hits_total stays $before)"
ok "reviews_total counts the reviews made (>= 200)" \
    tr_between "$(tr_metric tokenreviewd_reviews_total)" 200 1e18

tid "health_listen: plain HTTP, health endpoints only, no client certificate"
hport=$(sed -n 2p "$TR_TMP/proto/port")
like "$hport" '^[0-9]+$' "port_file names the health port on its second line"
for p in healthz readyz metrics; do
	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
	    "http://127.0.0.1:$hport/$p")
	is "$code" 200 "health port: GET /$p -> 200 without TLS or certificate"
done
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    -H 'Content-Type: application/json' \
    -d '{"apiVersion":"authentication.k8s.io/v1","kind":"TokenReview","spec":{"token":"tokA"}}' \
    "http://127.0.0.1:$hport/tokenreview")
is "$code" 404 "health port: POST /tokenreview -> 404 (no reviews there)"

# ---------------------------------------------------------------- audit log

tid "audit log"
fp=$(tr_fp tokA)
line=$(grep -F "\"token_fp\":\"$fp\"" "$TR_LOG" | head -n 1)
if tr_jq '.event == "review" and .outcome != null and .backend == "static" and
    .username == "alice" and has("client") and
    (.latency_ms | type == "number")' "$line"; then
	pass "audit line for tokA: event, outcome, backend, username, client, latency_ms, token_fp"
else
	fail "audit line for tokA: event, outcome, backend, username, client, latency_ms, token_fp" \
	    "line: ${line:-none with token_fp $fp}"
fi
line=$(grep -F "\"token_fp\":\"$(tr_fp unknown-token)\"" "$TR_LOG" | head -n 1)
ok "audit line for an unknown token (fingerprint only)" \
    tr_jq '.event == "review" and .outcome != null' "$line"
ok "no secret in the logs: the secret token is absent" \
    eval "! grep -qF -- '$SECRET' '$TR_TMP/proto/log' '$TR_TMP/bearer/log'"
ok "no secret in the logs: the bearer token is absent" \
    eval "! grep -qF -- '$BEARER' '$TR_TMP/proto/log' '$TR_TMP/bearer/log'"
ok "no secret in the logs: tokA and tokB are absent" \
    eval "! grep -qE -- 'tokA|tokB' '$TR_TMP/proto/log'"
bad=$(jq -rR '. as $l | try (fromjson | if type == "object" then empty
    else $l end) catch $l' "$TR_LOG" | head -n 3)
is "$bad" "" "every daemon log line is a JSON object"

# ---------------------------------------------------------------- case 17

if [ "${#TR_BAD200[@]}" -eq 0 ] && [ "$TR_N200" -gt 20 ]; then
	pass "case 17: all $TR_N200 200 answers had Content-Type application/json and were TokenReviews"
else
	fail "case 17: every 200 answer is a TokenReview with Content-Type application/json" \
	    "$TR_N200 answers seen" "${TR_BAD200[@]}"
fi

tr_stop
is "$?" 0 "daemon exits 0 on SIGTERM"

# ---------------------------------------------------------------- batches

tid "[log] flush_interval: audit lines in batches"
for iv in 10s default; do
	if [ "$iv" = default ]; then
		tr_config "batch-$iv" log.flush_interval=
	else
		tr_config "batch-$iv" log.flush_interval="$iv"
	fi
	cp "$TR_TMP/proto/tokens.csv" "$TR_DIR/tokens.csv"
	tr_start "batch-$iv" || bail "the daemon does not start"
	tr_review v1 tokA >/dev/null
	is "$TR_CODE" 200 "flush_interval $iv: a review is answered"
	if [ "$iv" = default ]; then
		ok "... and its audit line is written within the 100 ms" \
		    tr_wait_until 5 grep -q '"event":"review"' "$TR_LOG"
	else
		is "$(grep -c '"event":"review"' "$TR_LOG")" 0 \
		    "... its audit line waits in the worker's batch"
	fi
	tr_stop
	is "$?" 0 "... the daemon exits 0 on SIGTERM"
	is "$(grep -c '"event":"review".*"username":"alice"' "$TR_LOG")" 1 \
	    "... and the line is in the log once, written by then"
done

done_testing
