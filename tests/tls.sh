#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# The review port's TLS: which protocol versions and cipher suites the
# daemon itself refuses (conformance case 20), the tls_ciphers and
# tls_ciphersuites keys, and client certificates (case 21): each refused
# certificate, or none, with TLS 1.3 and 1.2, gives a client_auth log line
# naming the caller's address and one more client_auth failure in
# /metrics, and names that only resemble an allowed one are refused.
#
# The clients lower their own security level (@SECLEVEL=0) so that only
# the daemon can be what refuses an old protocol or a weak suite.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq setsid timeout
tr_need_binaries
tr_tmpdir
tr_certs

# Client certificates from the trusted client CA whose names only look
# like the allowed kube-apiserver, and one whose DNS name is exactly it.
cu="keyUsage=critical,digitalSignature"
ca="extendedKeyUsage=clientAuth"
tr_leaf "$TR_CERTS" client-ca prefix kube "$cu" "$ca" &&
tr_leaf "$TR_CERTS" client-ca longer kube-apiserver-x "$cu" "$ca" &&
tr_leaf "$TR_CERTS" client-ca upper Kube-Apiserver "$cu" "$ca" &&
tr_leaf "$TR_CERTS" client-ca sanpre other "$cu" "$ca" \
    subjectAltName=DNS:xkube-apiserver &&
tr_leaf "$TR_CERTS" client-ca sansuf other "$cu" "$ca" \
    subjectAltName=DNS:kube-apiserver.evil &&
tr_leaf "$TR_CERTS" client-ca sanok other "$cu" "$ca" \
    subjectAltName=DNS:kube-apiserver ||
    bail "could not make test certificates with openssl"

CBC=ECDHE-ECDSA-AES128-SHA	# the server key is ECDSA (P-256)
WIDE="$CBC:ECDHE+AESGCM:ECDHE+CHACHA20@SECLEVEL=0"

tr_config d
tr_tokens 'tokA,alice,1'
tr_start d || bail "the daemon did not start"
tr_config w server.tls_ciphers="$WIDE" \
    server.tls_ciphersuites=TLS_CHACHA20_POLY1305_SHA256
tr_tokens 'tokA,alice,1'
tr_start w || bail "the daemon with wider cipher lists did not start"
tr_use d
TR_CODE= TR_BODY= TR_HDRS= TR_TIME=	# tr_metrics saves them

# The protocol a handshake in OUT ended with, or why it failed.
hs_diag()
{
	grep -E '^(New,|    Protocol|.*:error:)' "$1" | cut -c1-200
}

# curl's options for TLS version 1.2 or 1.3 only.
tls_version_args()
{
	case $1 in
	1.2) TR_VARGS=(--tlsv1.2 --tls-max 1.2) ;;
	1.3) TR_VARGS=(--tlsv1.3) ;;
	esac
}

# A client_auth line of the current daemon's log naming 127.0.0.1:$1.
auth_logged()
{
	grep -F '"event":"client_auth"' "$TR_LOG" |
	    grep -qF "\"msg\":\"127.0.0.1:$1: client certificate"
}

# ---------------------------------------------------------------- case 21

# client_refused WHO VERSION WHAT: the client certificate WHO (or none)
# over TLS VERSION gets no HTTP answer, a client_auth line with the
# address it connected from, and exactly one more client_auth failure.
client_refused()
{
	local who=$1 ver=$2 what=$3 port before after
	tr_metrics
	before=$(tr_metric tokenreviewd_client_auth_failures_total)
	port=$(tr_free_port)
	tls_version_args "$ver"
	TR_CLIENT=$who tr_req GET /healthz "" --local-port "$port" \
	    "${TR_VARGS[@]}"
	is "$TR_CODE" 000 "case 21: TLS $ver, $what -> no HTTP answer"
	if tr_wait_until 10 auth_logged "$port"; then
		pass "case 21: TLS $ver, $what -> client_auth log line for 127.0.0.1:$port"
	else
		fail "case 21: TLS $ver, $what -> client_auth log line for 127.0.0.1:$port" \
		    "$(tail -n 3 "$TR_LOG")"
	fi
	tr_metrics
	after=$(tr_metric tokenreviewd_client_auth_failures_total)
	is "$((after - before))" 1 \
	    "case 21: TLS $ver, $what -> client_auth_failures_total + 1"
}

tid "refused client certificates, TLS 1.3 and 1.2"
for v in 1.3 1.2; do
	client_refused none "$v" "no client certificate"
	client_refused rogue "$v" "a certificate from an untrusted CA"
	client_refused intruder "$v" "CN=intruder (not in client_names)"
done

tid "client names that only resemble an allowed one"
client_refused prefix 1.3 "CN=kube (a prefix of kube-apiserver)"
client_refused longer 1.3 "CN=kube-apiserver-x (an extension)"
client_refused upper 1.3 "CN=Kube-Apiserver (another case)"
client_refused sanpre 1.3 "DNS:xkube-apiserver (contains the name)"
client_refused sansuf 1.3 "DNS:kube-apiserver.evil (starts with the name)"

tid "accepted client certificates"
for who in client sanok; do
	port=$(tr_free_port)
	TR_CLIENT=$who tr_req GET /healthz "" --local-port "$port"
	is "$TR_CODE" 200 "case 21: client certificate $who (kube-apiserver) -> 200"
	if auth_logged "$port"; then
		fail "case 21: client certificate $who -> no client_auth line"
	else
		pass "case 21: client certificate $who -> no client_auth line"
	fi
done

# A failure that is not the client certificate's stays a handshake
# failure: plain HTTP sent to the TLS port.
tid "other handshake failures are not client_auth failures"
tr_metrics
hs0=$(tr_metric tokenreviewd_tls_handshake_failures_total)
ca0=$(tr_metric tokenreviewd_client_auth_failures_total)
hs_grew()
{
	tr_metrics
	[ "$(tr_metric tokenreviewd_tls_handshake_failures_total)" -gt "$hs0" ]
}
port=$(tr_free_port)
curl -sS --max-time 10 --local-port "$port" \
    "http://127.0.0.1:$TR_PORT/healthz" >/dev/null 2>&1
ok "plain HTTP on the TLS port -> tls_handshake_failures_total grows" \
    tr_wait_until 10 hs_grew
tr_metrics
is "$(tr_metric tokenreviewd_client_auth_failures_total)" "$ca0" \
    "plain HTTP on the TLS port -> client_auth_failures_total unchanged"
if auth_logged "$port"; then
	fail "plain HTTP on the TLS port -> no client_auth line"
else
	pass "plain HTTP on the TLS port -> no client_auth line"
fi

# ---------------------------------------------------------------- case 20

# The client allows TLS 1.0 and 1.1 (security level 0): the daemon must
# answer with a protocol_version alert (70), not its own security level's
# internal error, and refuse them as well when tls_ciphers lowers that
# level, where only the minimum protocol version is left to refuse.
tid "TLS 1.0 and 1.1 refused by the daemon"
for p in tls1:1.0 tls1_1:1.1; do
	tr_use d
	if tr_handshake "$TR_TMP/old" "-${p%%:*}" -cipher DEFAULT@SECLEVEL=0; then
		fail "case 20: TLS ${p#*:} -> refused" "$(hs_diag "$TR_TMP/old")"
	else
		like "$(hs_diag "$TR_TMP/old")" 'alert protocol version' \
		    "case 20: TLS ${p#*:} -> refused with a protocol_version alert"
	fi
	tr_use w
	if tr_handshake "$TR_TMP/old" "-${p%%:*}" -cipher DEFAULT@SECLEVEL=0; then
		fail "case 20: TLS ${p#*:}, tls_ciphers at @SECLEVEL=0 -> still refused" \
		    "$(hs_diag "$TR_TMP/old")"
	else
		pass "case 20: TLS ${p#*:}, tls_ciphers at @SECLEVEL=0 -> still refused"
	fi
done

# ---------------------------------------------------------------- ciphers

# handshake DAEMON DESC WANT S_CLIENT-ARG...: WANT is ok or refused.
handshake()
{
	local name=$1 desc=$2 want=$3 got=refused
	shift 3
	tr_use "$name"
	tr_handshake "$TR_TMP/hs" "$@" && got=ok
	if [ "$got" = "$want" ]; then
		pass "$desc"
	else
		fail "$desc" "handshake $got" "$(hs_diag "$TR_TMP/hs")"
	fi
}

tid "TLS 1.2 cipher suites by default"
handshake d "TLS 1.2, CBC-SHA1 suite $CBC only -> refused" refused \
    -tls1_2 -cipher "$CBC@SECLEVEL=0"
handshake d "TLS 1.2, CBC-SHA2 suite ECDHE-ECDSA-AES128-SHA256 only -> refused" \
    refused -tls1_2 -cipher "ECDHE-ECDSA-AES128-SHA256@SECLEVEL=0"
handshake d "TLS 1.2, ECDHE-ECDSA-AES128-GCM-SHA256 -> accepted" ok \
    -tls1_2 -cipher ECDHE-ECDSA-AES128-GCM-SHA256
handshake d "TLS 1.2, ECDHE-ECDSA-CHACHA20-POLY1305 -> accepted" ok \
    -tls1_2 -cipher ECDHE-ECDSA-CHACHA20-POLY1305
handshake d "TLS 1.3, TLS_AES_128_GCM_SHA256 -> accepted" ok \
    -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256
# Everything the client offers: the daemon must still pick an AEAD suite.
tr_use d
tr_handshake "$TR_TMP/all" -tls1_2 -cipher 'ALL@SECLEVEL=0'
like "$(grep '^New,' "$TR_TMP/all")" '^New, TLSv1\.2, Cipher is ECDHE-ECDSA-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$' \
    "TLS 1.2, client offering every suite -> an ECDHE AEAD suite is chosen"

tid "tls_ciphers and tls_ciphersuites widen or narrow the lists"
handshake w "tls_ciphers with $CBC: TLS 1.2, $CBC -> accepted" ok \
    -tls1_2 -cipher "$CBC@SECLEVEL=0"
handshake w "tls_ciphersuites = TLS_CHACHA20_POLY1305_SHA256: TLS_AES_128_GCM_SHA256 only -> refused" \
    refused -tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256
handshake w "tls_ciphersuites = TLS_CHACHA20_POLY1305_SHA256: that suite -> accepted" \
    ok -tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256

# bad_list KEY VALUE WHY: tokenreviewd -n refuses the file and names it,
# the key's line and the key.
bad_list()
{
	local key=$1 val=$2 why=$3 out rc line
	tr_config bad server."$key"="$val"
	line=$(grep -n "^$key = " "$TR_CONF" | cut -d: -f1)
	out=$("$TOKENREVIEWD" -n -c "$TR_CONF" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ]; then
		pass "$key = $val ($why) -> tokenreviewd -n fails"
	else
		fail "$key = $val ($why) -> tokenreviewd -n fails" "$out"
	fi
	like "$out" "^$TR_CONF:$line: \\[server\\] $key: .*not accepted by OpenSSL" \
	    "$key = $val -> the error names the file, line $line and the key"
}

tid "cipher lists OpenSSL refuses are configuration errors"
bad_list tls_ciphers NO-SUCH-CIPHER "an unknown name"
bad_list tls_ciphers TLS_AES_128_GCM_SHA256 "no TLS 1.2 suite"
bad_list tls_ciphersuites "$CBC" "not a TLS 1.3 suite"
tr_config good server.tls_ciphers="$WIDE" \
    server.tls_ciphersuites=TLS_AES_256_GCM_SHA384
tr_tokens 'tokA,alice,1'
ok "valid tls_ciphers and tls_ciphersuites -> tokenreviewd -n succeeds" \
    "$TOKENREVIEWD" -n -c "$TR_CONF"

done_testing
