#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Hostile HTTP framing against the real daemon, on both ports: raw bytes
# over TLS (openssl s_client) to the review port and over plain TCP to the
# health port, with NUL and control bytes, a bare CR, conflicting
# Content-Lengths, Content-Length with Transfer-Encoding, an unsupported
# transfer coding and broken chunks.  Each must get its status and a
# closed connection, and the daemon must go on serving health checks and
# reviews afterwards.  Case 13 of the conformance list (an over-limit
# chunked body) is among them.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq setsid timeout python3
tr_need_binaries
tr_tmpdir
tr_certs

SECRET=s$(openssl rand -hex 16)

tr_config http server.health_listen=127.0.0.1:0 log.level=verbose \
    server.write_timeout=2s
tr_tokens 'tokA,alice,1001,ops'
tid "daemon with a review port and a health port"
expect_start http "daemon starts and writes its port file"
HPORT=$(sed -n 2p "$TR_DIR/port")

# plain OUT: stdin to the health port over TCP; what comes back, until the
# daemon closes, to OUT.
plain()
{
	timeout 10 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
	    cat >&3; cat <&3' _ "$HPORT" >"$1" 2>/dev/null
}

# tls OUT: the same over TLS to the review port, with the client
# certificate (s_client -quiet ignores the end of its input and reads
# until the daemon closes).
tls()
{
	tr_sclient "$1" 0
}

CASES=()
# send NAME PORT-FUNCTION WANT FORMAT [ARG...]: printf the bytes to the
# port in the background; checked by check_all.
send()
{
	local name=$1 via=$2 want=$3
	shift 3
	# shellcheck disable=SC2059	# the format is the request
	printf "$@" | "$via" "$TR_TMP/case.$name" &
	CASES+=("$name $! $want $via")
}

REQ='POST /tokenreview HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
BODY=$(tr_review_body v1 tokA)

tid "hostile requests, all sent at once"
# Issue 9 defect 1: a NUL before the CRLF killed every worker.
send h-nul-line plain 400 'GET /healthz\0 HTTP/1.1\r\n\r\n'
send h-nul-value plain 400 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n'
send h-nul-name plain 400 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-\0A: b\r\n\r\n'
send h-ctl-target plain 400 'GET /heal\001thz HTTP/1.1\r\nHost: x\r\n\r\n'
send h-bare-cr plain 400 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n'
send h-obs-fold plain 400 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n'
send h-two-cl plain 400 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'
send t-nul-line tls 400 'GET /healthz\0 HTTP/1.1\r\n\r\n'
send t-nul-auth tls 400 "${REQ}Authorization: Bearer $SECRET\\0x\\r\\nContent-Length: ${#BODY}\\r\\n\\r\\n%s" "$BODY"
# Issue 9 defect 6: conflicting Content-Lengths and a bare CR.
send t-two-cl tls 400 "${REQ}Content-Length: ${#BODY}\\r\\nContent-Length: 5\\r\\n\\r\\n%s" "$BODY"
send t-same-cl tls 400 "${REQ}Content-Length: ${#BODY}\\r\\nContent-Length: ${#BODY}\\r\\n\\r\\n%s" "$BODY"
send t-bare-cr tls 400 "${REQ}X-A: a\\rb\\r\\nContent-Length: ${#BODY}\\r\\n\\r\\n%s" "$BODY"
# Issue 14: framing branches that had no test.
send t-cl-te tls 400 "${REQ}Content-Length: ${#BODY}\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n%x\\r\\n%s\\r\\n0\\r\\n\\r\\n" "${#BODY}" "$BODY"
send t-te-gzip tls 501 "${REQ}Transfer-Encoding: gzip\\r\\n\\r\\n"
send t-te-gzip-chunked tls 501 "${REQ}Transfer-Encoding: gzip, chunked\\r\\n\\r\\n"
send t-cl-minus tls 400 "${REQ}Content-Length: -1\\r\\n\\r\\n"
send t-cl-plus tls 400 "${REQ}Content-Length: +5\\r\\n\\r\\n"
send t-cl-overflow tls 400 "${REQ}Content-Length: 99999999999999999999\\r\\n\\r\\n"
send t-chunk-hex tls 400 "${REQ}Transfer-Encoding: chunked\\r\\n\\r\\nzz\\r\\n"
send t-chunk-0x tls 400 "${REQ}Transfer-Encoding: chunked\\r\\n\\r\\n0x5\\r\\nhello\\r\\n0\\r\\n\\r\\n"
send t-chunk-no-crlf tls 400 "${REQ}Transfer-Encoding: chunked\\r\\n\\r\\n5\\r\\nhelloXX0\\r\\n\\r\\n"
send t-chunk-ext-ctl tls 400 "${REQ}Transfer-Encoding: chunked\\r\\n\\r\\n5;a\\001\\r\\nhello\\r\\n0\\r\\n\\r\\n"
send t-chunk-big tls 413 "${REQ}Transfer-Encoding: chunked\\r\\n\\r\\n10001\\r\\n"
# A valid chunked review with an extension and a trailer, for contrast.
send t-chunk-ok tls 200 "${REQ}Connection: close\\r\\nTransfer-Encoding: chunked\\r\\n\\r\\n%x;x=\"y\"\\r\\n%s\\r\\n0\\r\\nX-T: v\\r\\n\\r\\n" "${#BODY}" "$BODY"

for c in "${CASES[@]}"; do
	read -r name pid want via <<<"$c"
	wait "$pid"
	f=$TR_TMP/case.$name
	got="$(tr_raw_codes "$f") $(grep -ci '^connection: close' "$f")"
	is "$got" "$want 1" "$name ($via port): $want and the connection closed"
done

tid "a client that sends and does not read"
# It pipelines requests for /metrics without reading the answers, so the
# daemon's writes stop at a full socket: it must wait for the socket, not
# spin, and close the connection after write_timeout.
cat >"$TR_TMP/stall.py" <<'PY'
import os, socket, sys, time
port, n, sent, go = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", port))
s.settimeout(3)
try:
    # Until the daemon stops reading: its input has a bound.
    s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n" * n)
except socket.timeout:
    pass
open(sent, "w").close()
while not os.path.exists(go):
    time.sleep(0.05)
s.settimeout(30)
got = b""
try:
    while True:
        b = s.recv(65536)
        if not b:
            break
        got += b
    print("closed")
except ConnectionResetError:
    # Requests it never read were still queued: the kernel resets.
    print("closed")
except OSError as e:
    print("error", e)
PY
cpu() { awk '{ print $14 + $15 }' "/proc/$TR_PID/stat"; }
python3 "$TR_TMP/stall.py" "$HPORT" 20000 "$TR_TMP/stall.sent" \
    "$TR_TMP/stall.go" >"$TR_TMP/stall.out" 2>&1 &
STALL=$!
ok "the requests are sent" tr_wait_until 30 test -e "$TR_TMP/stall.sent"
cpu0=$(cpu)
ok "write_timeout closes the connection, with a log line" \
    tr_wait_until 30 grep -q 'reply not taken within write_timeout' "$TR_LOG"
ticks=$(( $(cpu) - cpu0 ))
ok "the daemon waited for the socket (CPU $ticks ticks over write_timeout)" \
    test "$ticks" -lt 50
touch "$TR_TMP/stall.go"
wait "$STALL"
is "$(cat "$TR_TMP/stall.out")" closed \
    "the client finds the connection closed"

tid "the daemon after all of them"
ok "the daemon is still running (pid $TR_PID)" tr_alive "$TR_PID"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 \
    "http://127.0.0.1:$HPORT/healthz")
is "$code" 200 "health port: GET /healthz -> 200"
tr_req GET /healthz
is "$TR_CODE" 200 "review port: GET /healthz -> 200"
tr_review v1 tokA >/dev/null
if [ "$TR_CODE" = 200 ] &&
    tr_jq '.status.authenticated == true and .status.user.username == "alice"'; then
	pass "case 1: a valid review -> OK(alice)"
else
	fail "case 1: a valid review -> OK(alice)" "$TR_CODE $TR_BODY"
fi
is "$(grep -c '"event":"http_bad_request".*NUL byte in request' "$TR_LOG")" 5 \
    "each of the 5 NUL requests has its log line"
like "$(grep '"event":"http_bad_request"' "$TR_LOG" | head -n 1)" \
    '127\.0\.0\.1:[0-9]+' "the log line names the peer"
unlike "$(cat "$TR_LOG")" "$SECRET" "the bearer secret sent with a NUL is not logged"
ok "the daemon exits 0 on SIGTERM" tr_stop

done_testing
