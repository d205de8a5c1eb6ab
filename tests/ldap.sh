#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# The LDAP token source against real slapd servers started here on
# loopback (ldap:// with StartTLS, ldaps://, ldapi://) from a generated
# slapd.conf, the Debian schema files and data loaded with slapadd: users
# (one with a non-ASCII name, one locked by ppolicy, two holding the same
# token hash, one in more groups than slapd returns to a search that is
# not paged), groupOfNames with nested groups and a cycle, a posixGroup.
# It drives tokenreviewd with curl: bind and attribute modes, wrong
# passwords, unknown users, filter injection, paged group searches and
# the max_groups limit, failover when the first server stops mid-run and
# the return to it once it answers again (seen in the connections per
# URI), conformance case 22 (no server: NO+err within 1 s), a server
# that accepts connections but never answers (timeout; also across a
# reload, with reviews waiting), a CA that does not match, 1,000
# concurrent reviews; the lockout of failed binds per user name: it
# stops concurrent guessers before slapd's ppolicy lockout, refuses
# without a search or a bind, spares other users and cached tokens, counts
# names without an entry and names of one entry together, and ends
# after bind_lockout; and groups and user names in Kubernetes' system:
# namespace made by the directory's administrators: dropped or refused,
# logged once, counted, kept under a group_prefix or with
# allow_system_names, but never system:authenticated or
# system:unauthenticated.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need curl openssl jq setsid timeout sha256sum base64
[ -x /usr/sbin/slapd ] || tr_skip_all "slapd not installed"
[ -x /usr/sbin/slapadd ] || tr_skip_all "slapadd not installed"
tr_need_binaries
tr_tmpdir
tr_certs

. "$(dirname "$0")/slapd-lib.sh"
slapd_data

tid "two slapd servers with the same data"
slapd_start s1
slapd_start s2
pass "slapd s1 and s2 answer a StartTLS bind as the reader"

printf '%s\n' "$READER_PW" | tr_write "$TR_TMP/reader.pw"

# ldap_section NAME KEY=VALUE...: an [ldap "NAME"] section on stdout.
ldap_section()
{
	local kv
	printf '\n[ldap "%s"]\n' "$1"
	shift
	for kv in "$@"; do
		printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"
	done
}

# The sections of the main daemon: bind mode over StartTLS with failover
# from s1 to s2 and nested groupOfNames, then attribute mode over ldaps
# with a posixGroup search.  corp's timeouts are generous: its 1,000
# concurrent reviews queue for 3 connections per worker, which under the
# sanitizers on a busy machine took more than 2 s for some of them, and
# a connection opened meanwhile (TLS, StartTLS and the service bind) once
# took more than 1 s, so that 151 reviews found no server.
corp=(uri="$s1_LDAP $s2_LDAP" ca="$TR_CERTS/ca.crt"
    bind_dn="cn=reader,$BASE" bind_password_file="$TR_TMP/reader.pw"
    mode=bind user_base="ou=people,$BASE"
    user_filter="(&(objectClass=inetOrgPerson)(uid=%s))"
    uid_attribute=uidNumber group_base="ou=groups,$BASE"
    group_filter="(&(objectClass=groupOfNames)(member=%s))"
    group_prefix=ldap: nested_depth=5 timeout=10s connect_timeout=5s
    pool_size=3 page_size=25 backoff_max=1s)
tokens=(uri="$s1_LDAPS" ca="$TR_CERTS/ca.crt"
    bind_dn="cn=reader,$BASE" bind_password_file="$TR_TMP/reader.pw"
    mode=attribute token_attribute=kubeTokenHash
    user_base="ou=people,$BASE" username_prefix=tok:
    group_base="ou=groups,$BASE"
    group_filter="(&(objectClass=posixGroup)(memberUid=%u))")

# read_timeout: a thousand handshakes at once on a loaded machine (the
# sanitizers, other tests in parallel) may take longer than the 10 s
# default, and the test is about reviews, not about slow clients.
tr_config main server.chain=ldap static.file= cache.ttl=0 \
    cache.negative_ttl=0 server.read_timeout=60s
{
	cat "$TR_CONF"
	ldap_section corp "${corp[@]}"
	ldap_section tokens "${tokens[@]}"
} | tr_write "$TR_CONF.new"
mv "$TR_CONF.new" "$TR_CONF"

tid "configuration check"
ok "tokenreviewd -n accepts the LDAP config" "$TOKENREVIEWD" -c "$TR_CONF" -n

tid "daemon with two LDAP directories"
expect_start main "daemon starts"

bind_tok()
{
	b64 "$1:$2"
}

ALICE_GROUPS='["ldap:all","ldap:cyc-a","ldap:cyc-b","ldap:dev","ldap:ops"]'

tid "bind mode"
expect_user -t "$(bind_tok alice "$ALICE_PW")" -n alice -u 1001 \
    "alice with her password -> OK(alice, uid 1001)"
expect_user -f "(.groups | sort) == $ALICE_GROUPS" \
    "... groups: direct, nested to depth 2, and the cycle once"
expect_no -t "$(bind_tok alice wrong)" "alice with a wrong password -> NO"
expect_no -t "$(bind_tok nobody "$ALICE_PW")" "unknown user -> NO"
expect_user -t "$(bind_tok "$JUERGEN" "$JUERGEN_PW")" \
    -f ".username == \"$JUERGEN\" and (.groups | sort) == [\"ldap:all\",\"ldap:dev\",\"ldap:ops\"]" \
    "non-ASCII user name -> OK(j\u00fcrgen)"
expect_user -t "$(bind_tok mallory "$MALLORY_PW")" \
    -f '(.groups | sort) == ["ldap:all","ldap:dev","ldap:ops","ldap:system:authenticated","ldap:system:masters","ldap:system:unauthenticated"]' \
    "group_prefix ldap: puts the directory's system: groups outside the namespace"
expect_no -t "$(bind_tok carol carol-pw)" \
    "account locked by ppolicy -> NO without an error"
# slapd itself refuses an unauthenticated bind (a name without a password)
# with the same answer: only the source's operation counters show that
# nothing was sent at all (but the attribute-mode directory's search for
# the token's hash).  Binds that did not succeed are counted: the
# service account's own binds, as a pool opens connections, may come at
# any time and succeed.
ldap_ops()
{
	tr_metrics
	echo "bind $(tr_metric tokenreviewd_ldap_operations_total \
	    'directory="corp",op="bind",result="(rejected|error|timeout)"')" \
	    "search $(tr_metric tokenreviewd_ldap_operations_total \
	    'directory="corp",op="search"')"
}
ops0=$(ldap_ops)
expect_no -t "$(bind_tok alice "")" \
    "empty password -> NO (never an unauthenticated bind)"
expect_no -t "$(printf 'alice:' | base64 -w0)" \
    "alice: with nothing after the colon -> NO"
is "$(ldap_ops)" "$ops0" \
    "... and neither sent a bind or a search to the directory (operations_total)"

tid "filter injection in user names"
for u in '*' '*)(uid=*' 'alice)(uid=*' 'al*' '*)(|(uid=*)' 'alice\' \
    'alice)(&' '(uid=alice)'; do
	expect_no -t "$(bind_tok "$u" "$ALICE_PW")" \
	    "user name '$u' with alice's password -> NO"
done

tid "attribute mode"
expect_user -t "$ATTR_TOKEN" -n tok:alice -g '["posix-devs"]' \
    "token whose hash alice holds -> OK(tok:alice, posix group)"
expect_no -t "$DUP_TOKEN" -e . "hash held by two entries -> NO+err"
like "$TR_BODY" 'more than one entry' "... the error says why"
grep -q 'ldap_ambiguous' "$TR_LOG" && pass "... and it is logged" ||
    fail "... and it is logged"
expect_no -t "x$ATTR_TOKEN" "unknown opaque token -> NO"

tid "paged group search"
tr_metrics
s0=$(tr_metric tokenreviewd_ldap_operations_total 'op="search",result="success"')
expect_user -t "$(bind_tok paula "$PAULA_PW")" \
    -f "(.groups | map(select(test(\"^ldap:paged[0-9]+$\"))) | unique | length) == $PAGED_GROUPS and (.groups | length) == $PAGED_GROUPS" \
    "paula in $PAGED_GROUPS groups, slapd gives $SLAPD_SIZELIMIT unpaged, pages of 25 -> all groups"
tr_metrics
s1=$(tr_metric tokenreviewd_ldap_operations_total 'op="search",result="success"')
tr_between $((s1 - s0)) 4 100 &&
    pass "... in several pages ($((s1 - s0)) searches for the review)" ||
    fail "... in several pages" "$s0 -> $s1"

tid "secrets stay out of the logs"
if grep -qF -e "$ALICE_PW" -e "$READER_PW" -e "$JUERGEN_PW" -e "$ATTR_TOKEN" \
    -e "$(bind_tok alice "$ALICE_PW")" "$TR_LOG"; then
	fail "no password or token in the daemon log"
else
	pass "no password or token in the daemon log"
fi

tid "metrics"
tr_metrics
m=$(tr_metric tokenreviewd_ldap_operations_total 'op="bind",result="success"')
tr_between "$m" 1 100000 && pass "bind successes counted ($m)" ||
    fail "bind successes counted" "$m"
m=$(tr_metric tokenreviewd_ldap_operations_total 'op="bind",result="rejected"')
tr_between "$m" 2 100000 && pass "refused binds counted ($m)" ||
    fail "refused binds counted" "$m"

tid "1,000 concurrent reviews, half of them with paged group searches"
tr_review_body v1 "$(bind_tok alice "$ALICE_PW")" >"$TR_TMP/body-alice"
tr_review_body v1 "$(bind_tok paula "$PAULA_PW")" >"$TR_TMP/body-paula"
tr_tls_args
mkdir -p "$TR_TMP/c1k"
t0=$(tr_now)
for half in a b; do
	body=$TR_TMP/body-alice
	[ "$half" = b ] && body=$TR_TMP/body-paula
	curl -sS --max-time 60 "${TR_TLS[@]}" -H 'Content-Type: application/json' \
	    --data-binary "@$body" --parallel --parallel-immediate \
	    --parallel-max 500 -o "$TR_TMP/c1k/$half#1" -w '%{http_code}\n' \
	    "$TR_URL/tokenreview?n=[1-500]" >"$TR_TMP/c1k.$half" \
	    2>"$TR_TMP/c1k.$half.err" &
	TR_PIDS+=("$!")
	eval "c1k_$half=\$!"
done
# shellcheck disable=SC2154
wait "$c1k_a" "$c1k_b"
diag "1,000 parallel reviews (cache off) took $(tr_elapsed "$t0") s"
is "$(cat "$TR_TMP"/c1k.a "$TR_TMP"/c1k.b | grep -c '^200$')" 1000 \
    "1,000 concurrent reviews -> 1,000 answers 200"
# What went wrong, if anything: HTTP codes, curl's and the reviews' errors.
{
	sort "$TR_TMP"/c1k.a "$TR_TMP"/c1k.b | uniq -c | sed 's/^ */HTTP /'
	cat "$TR_TMP"/c1k.a.err "$TR_TMP"/c1k.b.err | tr '\r' '\n' |
	    grep -o 'curl: (.*' | sort | uniq -c
	cat "$TR_TMP"/c1k/* | jq -r '.status.error // empty' 2>/dev/null |
	    sort | uniq -c
} | head -n 12 | while read -r l; do diag "$l"; done
is "$(cat "$TR_TMP"/c1k/a* | jq -s "map(select(.status.user.username == \"alice\" and (.status.user.groups | sort) == $ALICE_GROUPS)) | length")" 500 \
    "... 500 OK(alice) with her groups"
is "$(cat "$TR_TMP"/c1k/b* | jq -s "map(select(.status.user.username == \"paula\" and (.status.user.groups | length) == $PAGED_GROUPS)) | length")" 500 \
    "... 500 OK(paula) with all $PAGED_GROUPS groups (three pages each)"

tid "failover"
# Reviews keep running while s1 stops; none may fail.
(
	i=0
	while [ $i -lt 40 ]; do
		curl -sS --max-time 10 "${TR_TLS[@]}" -H 'Content-Type: application/json' \
		    --data-binary "@$TR_TMP/body-alice" "$TR_URL/tokenreview" |
		    jq -r '.status.authenticated'
		sleep 0.05
		i=$((i + 1))
	done
) >"$TR_TMP/failover.out" 2>&1 &
fo=$!
TR_PIDS+=("$fo")
sleep 0.5
slapd_stop s1
wait "$fo"
is "$(grep -c '^true$' "$TR_TMP/failover.out")" 40 \
    "40 reviews while s1 stops mid-run -> all OK"
expect_user -t "$(bind_tok alice "$ALICE_PW")" -n alice \
    "after s1 stopped: alice served by s2"
tr_metrics
m=$(tr_metric tokenreviewd_ldap_failovers_total)
tr_between "$m" 1 1000 && pass "failovers counted ($m)" ||
    fail "failovers counted" "$m"

tid "return to the first URI"
# uri_conns URI: the daemon's open connections to URI (last tr_metrics).
uri_conns()
{
	tr_metric tokenreviewd_ldap_uri_connections "uri=\"$1\""
}
is "$(uri_conns "$s1_LDAP") $(uri_conns "$s2_LDAP" | sed 's/^[1-9][0-9]*$/N/')" \
    "0 N" "s1 stopped: every connection is to s2"
slapd_start s1
t0=$(tr_now)
back=
bad=0
for i in $(seq 1 40); do
	tr_review v1 "$(bind_tok alice "$ALICE_PW")" >/dev/null
	[ "$TR_CODE" = 200 ] && tr_jq '.status.user.username == "alice"' ||
	    bad=$((bad + 1))
	tr_metrics
	if [ "$(uri_conns "$s1_LDAP")" -gt 0 ] &&
	    [ "$(uri_conns "$s2_LDAP")" -eq 0 ]; then
		back=$(tr_elapsed "$t0")
		break
	fi
	sleep 0.25
done
[ -n "$back" ] && tr_between "$back" 0 10 &&
    pass "s1 answers again -> connections back on s1, none left on s2 ($back s)" ||
    fail "s1 answers again -> connections back on s1, none left on s2" \
    "s1: $(uri_conns "$s1_LDAP"), s2: $(uri_conns "$s2_LDAP")"
is "$bad" 0 "... every review meanwhile OK(alice)"
ok "... logged (ldap_return)" tr_wait_until 5 grep -q ldap_return "$TR_LOG"
f0=$(tr_metric tokenreviewd_ldap_failovers_total)
slapd_stop s2
n=0
for i in $(seq 1 20); do
	tr_review v1 "$(bind_tok alice "$ALICE_PW")" >/dev/null
	[ "$TR_CODE" = 200 ] && tr_jq '.status.user.username == "alice"' &&
	    n=$((n + 1))
done
is "$n" 20 "s2 stopped then: 20 reviews -> all OK(alice)"
tr_metrics
is "$(tr_metric tokenreviewd_ldap_failovers_total)" "$f0" \
    "... and no connection was opened to s2"

tid "case 22: directory unavailable"
slapd_stop s1
tr_review v1 "$(bind_tok alice "$ALICE_PW")" >/dev/null
el=$TR_TIME
expect_no -e . "case 22: all servers stopped -> NO+err, HTTP 200"
tr_between "$el" 0 1 && pass "case 22: ... within 1 s ($el s)" ||
    fail "case 22: ... within 1 s" "took $el s"
like "$TR_BODY" 'unreachable|connection|answer' "... the error names the cause"
[ -z "$(tr_header retry-after)" ] && pass "case 22: ... no Retry-After" ||
    fail "case 22: ... no Retry-After"
tr_req GET /readyz
is "$TR_CODE" 503 "/readyz says not ready while no server answers"
tr_stop "$TR_PID"
is "$?" 0 "daemon exits 0 on SIGTERM"

# ---------------------------------------------------------------- edges

# A daemon whose only directory is s3, with short timeouts.
tid "a server that accepts connections but never answers"
slapd_start s3
tr_config stall server.chain=ldap static.file= server.workers=1 cache.ttl=0 \
    cache.negative_ttl=0
{
	cat "$TR_CONF"
	ldap_section s3 uri="$s3_LDAP" ca="$TR_CERTS/ca.crt" \
	    bind_dn="cn=reader,$BASE" bind_password_file="$TR_TMP/reader.pw" \
	    user_base="ou=people,$BASE" timeout=1s connect_timeout=1s
} | tr_write "$TR_CONF.new"
mv "$TR_CONF.new" "$TR_CONF"
tr_start stall || fail "daemon stall starts"
expect_user -t "$(bind_tok alice "$ALICE_PW")" -n alice \
    "s3 answering -> OK(alice)"
# A stopped process still completes TCP handshakes (the kernel queues
# them) but never reads: a server that hangs.
kill -STOP "$s3_PID"
tr_review v1 "$(bind_tok alice "$ALICE_PW")" >/dev/null
el=$TR_TIME
expect_no -e . "s3 hangs on an open connection -> NO+err"
tr_between "$el" 0.8 3 && pass "... after the 1 s operation timeout ($el s)" ||
    fail "... after the 1 s operation timeout" "took $el s"
like "$TR_BODY" 'did not answer in time' "... error: did not answer in time"
tr_review v1 "$(bind_tok alice "$ALICE_PW")" >/dev/null
el=$TR_TIME
expect_no -e . "s3 hangs on a new connection (StartTLS unanswered) -> NO+err"
tr_between "$el" 0 3 && pass "... within the 1 s connect timeout ($el s)" ||
    fail "... within the 1 s connect timeout" "took $el s"
# Clients that hang up while their review waits on the hung server.
for i in 1 2 3 4 5; do
	TR_CURL_TIMEOUT=0.3 tr_review v1 "$(bind_tok alice "$ALICE_PW")" >/dev/null
done
kill -CONT "$s3_PID"
sleep 1.2
expect_user -t "$(bind_tok alice "$ALICE_PW")" -n alice \
    "clients gone mid-LDAP, s3 resumed -> OK(alice) again"
tr_stop "$TR_PID"
is "$?" 0 "daemon exits 0 after cancelled reviews"

tid "a TLS handshake that hangs does not hold up the worker"
# One worker; s3 stopped: its kernel still accepts connections, but no
# ServerHello ever comes.  The static token must be answered meanwhile.
tr_config hshake "server.chain=static ldap" server.workers=1 cache.ttl=0 \
    cache.negative_ttl=0
tr_tokens 'tokS,sam,2001'
{
	cat "$TR_CONF"
	ldap_section hang uri="$s3_LDAPS" ca="$TR_CERTS/ca.crt" \
	    user_base="ou=people,$BASE" timeout=4s connect_timeout=4s
} | tr_write "$TR_CONF.new"
mv "$TR_CONF.new" "$TR_CONF"
tr_start hshake || fail "daemon hshake starts"
kill -STOP "$s3_PID"
(tr_review v1 "$(bind_tok alice "$ALICE_PW")" >"$TR_TMP/hang.out"
    echo "$TR_TIME" >>"$TR_TMP/hang.out") &
bg=$!
sleep 0.3
tr_review v1 tokS >/dev/null
el=$TR_TIME
expect_user -n sam "static token while an ldaps handshake hangs -> OK(sam)"
tr_between "$el" 0 2 && pass "... answered at once ($el s), not after the 4 s connect timeout" ||
    fail "... answered at once" "took $el s"
wait "$bg"
TR_BODY=$(head -n 1 "$TR_TMP/hang.out") TR_CODE=$(sed -n 2p "$TR_TMP/hang.out")
el=$(sed -n 3p "$TR_TMP/hang.out")
expect_no -e . "the review waiting on the hung handshake -> NO+err"
tr_between "$el" 3.5 7 && pass "... after the 4 s connect timeout ($el s)" ||
    fail "... after the 4 s connect timeout" "took $el s"
kill -CONT "$s3_PID"
tr_metrics
like "$(tr_metric tokenreviewd_ldap_operations_total '^\{.*op="starttls".*result="timeout"')" \
    '^[1-9]' "the hung handshake is counted as a starttls timeout"
tr_stop "$TR_PID"

tid "a reload while a review waits on a directory that never answers"
# The review keeps the old generation, and its answer comes from the
# directory code's own callbacks (the connection's timeout, the queue of
# reviews waiting for a connection), which must not free that generation
# under themselves.  s3 stopped: the service bind is never answered.
tr_config hreload "server.chain=static ldap" server.workers=1 cache.ttl=0 \
    cache.negative_ttl=0
tr_tokens 'tokS,sam,2001'
{
	cat "$TR_CONF"
	ldap_section hang uri="$s3_LDAP" insecure=yes \
	    bind_dn="cn=reader,$BASE" bind_password_file="$TR_TMP/reader.pw" \
	    user_base="ou=people,$BASE" timeout=4s connect_timeout=2s
} | tr_write "$TR_CONF.new"
mv "$TR_CONF.new" "$TR_CONF"
tr_start hreload || fail "daemon hreload starts"
kill -STOP "$s3_PID"
for i in 1 2 3; do
	tr_review v1 "$(bind_tok alice "$ALICE_PW")" >"$TR_TMP/hang$i.out" &
	eval "bg$i=\$!"
done
sleep 0.5
expect_reload -l "a reload while the reviews wait"
n=0
for i in 1 2 3; do
	wait "$(eval "echo \$bg$i")"
	TR_BODY=$(head -n 1 "$TR_TMP/hang$i.out")
	TR_CODE=$(sed -n 2p "$TR_TMP/hang$i.out")
	tr_is_no -e . && n=$((n + 1))
done
is "$n" 3 "... the 3 waiting reviews are answered by the old generation -> NO+err"
kill -CONT "$s3_PID"
expect_user -t tokS -n sam "... and the new one answers next -> OK(sam)"
tr_stop "$TR_PID"
is "$?" 0 "... and the daemon stops cleanly"

tid "TLS: the certificate must name the host of the URI"
# openssl s_server stands in for a directory: the handshake is all that
# is checked here.  One certificate from the trusted CA names another
# host; the right one completes the handshake (the user search then
# goes unanswered).
tr_leaf "$TR_CERTS" ca elsewhere elsewhere.example \
    keyUsage=critical,digitalSignature extendedKeyUsage=serverAuth \
    subjectAltName=DNS:elsewhere.example
# tls_probe CERT [S_SERVER-ARG...] [-- LDAP-KEY=VALUE...]: one review
# through a daemon whose directory is an openssl s_server with CERT; what
# the server received is left in $TR_TMP/probe.out.
tls_probe()
{
	local port pid crt=$1 try
	local -a sargs=() largs=()
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		sargs+=("$1")
		shift
	done
	[ $# -gt 0 ] && shift
	largs=("$@")
	PROBES=$((PROBES + 1))
	# s_server ends a session when its input ends: give it a pipe
	# that stays open while it runs.
	rm -f "$TR_TMP/probe.in"
	mkfifo "$TR_TMP/probe.in"
	exec 9<>"$TR_TMP/probe.in"
	# Another port when something took this one since it was probed.
	for try in 1 2 3 4 5; do
		port=$(tr_free_port)
		openssl s_server -accept "127.0.0.1:$port" \
		    -cert "$TR_CERTS/$crt.crt" -key "$TR_CERTS/$crt.key" \
		    "${sargs[@]}" <"$TR_TMP/probe.in" >"$TR_TMP/probe.out" 2>&1 &
		pid=$!
		tr_wait_until 5 grep -q ACCEPT "$TR_TMP/probe.out" && break
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	tr_config "probe$PROBES" server.chain=ldap static.file=
	{
		cat "$TR_CONF"
		ldap_section probe uri="ldaps://127.0.0.1:$port" \
		    ca="$TR_CERTS/ca.crt" user_base="ou=people,$BASE" \
		    connect_timeout=3s timeout=1s "${largs[@]}"
	} | tr_write "$TR_CONF.new"
	mv "$TR_CONF.new" "$TR_CONF"
	tr_start "probe$PROBES" || fail "daemon probe$PROBES starts"
	tr_review v1 "$(bind_tok alice "$ALICE_PW")" >/dev/null
	tr_stop "$TR_PID"
	kill "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	exec 9>&-
}
PROBES=0
tls_probe elsewhere
expect_no -e . "a certificate for elsewhere.example at 127.0.0.1 -> NO+err"
grep -q 'certificate not accepted: IP address mismatch' "$TR_LOG" &&
    pass "... logged: certificate not accepted: IP address mismatch" ||
    fail "... logged: certificate not accepted: IP address mismatch" \
    "$(grep -v '"review"' "$TR_LOG" | tail -n 5)"
tls_probe server
expect_no -e . \
    "the certificate for 127.0.0.1, a server that never answers -> NO+err"
ok "... the handshake passes (nothing logged about the certificate)" \
    eval "! grep -q 'certificate not accepted' '$TR_LOG'"
ok "... and the user search reaches the server through TLS" \
    grep -aq 'ou=people' "$TR_TMP/probe.out"
# A server that demands a client certificate from client-ca.
tls_probe server -Verify 1 -CAfile "$TR_CERTS/client-ca.crt"
expect_no -e . \
    "a server that wants a client certificate, none configured -> NO+err"
ok "... nothing reaches it" eval "! grep -aq 'ou=people' '$TR_TMP/probe.out'"
tls_probe server -Verify 1 -CAfile "$TR_CERTS/client-ca.crt" -- \
    cert="$TR_CERTS/client.crt" key="$TR_CERTS/client.key"
grep -aq 'ou=people' "$TR_TMP/probe.out" &&
    pass "cert and key set: the client certificate is accepted, the search arrives" ||
    fail "cert and key set: the client certificate is accepted, the search arrives" \
    "$(head -c 300 "$TR_TMP/probe.out" | tr -cd '[:print:]\n')"
chmod 644 "$TR_CERTS/client.key"
tr_config badkey server.chain=ldap static.file=
{
	cat "$TR_CONF"
	ldap_section probe uri="$s3_LDAPS" ca="$TR_CERTS/ca.crt" \
	    user_base="ou=people,$BASE" cert="$TR_CERTS/client.crt" \
	    key="$TR_CERTS/client.key"
} | tr_write "$TR_CONF.new"
mv "$TR_CONF.new" "$TR_CONF"
out=$("$TOKENREVIEWD" -n -c "$TR_CONF" 2>&1); rc=$?
is "$rc" 1 "a client key readable by others: tokenreviewd -n exits 1"
like "$out" 'client\.key' "a client key readable by others is a configuration error ($out)"
chmod 600 "$TR_CERTS/client.key"
printf 'no certificate\n' >"$TR_TMP/junk-ca.pem"
sed -i "s|^ca = .*|ca = $TR_TMP/junk-ca.pem|" "$TR_CONF"
sed -i '/^cert = \|^key = /d' "$TR_CONF"
out=$("$TOKENREVIEWD" -n -c "$TR_CONF" 2>&1); rc=$?
is "$rc" 1 "a CA file without certificates: tokenreviewd -n exits 1"
like "$out" 'junk-ca\.pem: cannot load CA certificates' "a CA file without certificates is a configuration error"
# An empty bind password would make the service account's bind an
# unauthenticated one, which slapd may take as anonymous.
for pw in '' '\n' '\r\n'; do
	printf "$pw" | tr_write "$TR_TMP/empty.pw"
	tr_config emptypw server.chain=ldap static.file=
	{
		cat "$TR_CONF"
		ldap_section probe uri="$s1_LDAP" ca="$TR_CERTS/ca.crt" \
		    user_base="ou=people,$BASE" bind_dn="cn=reader,$BASE" \
		    bind_password_file="$TR_TMP/empty.pw"
	} | tr_write "$TR_CONF.new"
	mv "$TR_CONF.new" "$TR_CONF"
	out=$("$TOKENREVIEWD" -n -c "$TR_CONF" 2>&1); rc=$?
	is "$rc" 1 "a bind password file holding '$pw': tokenreviewd -n exits 1"
	like "$out" 'bind_password_file: the file is empty' "... and says the file is empty ($out)"
done

tid "the directory's CA replaced on disk: reloaded, then trusted"
cp "$TR_CERTS/rogue-ca.crt" "$TR_TMP/rot-ca.pem"
tr_config rot server.chain=ldap static.file= server.watch_interval=300ms \
    cache.ttl=0 cache.negative_ttl=0
{
	cat "$TR_CONF"
	ldap_section rot uri="$s3_LDAPS" ca="$TR_TMP/rot-ca.pem" \
	    bind_dn="cn=reader,$BASE" bind_password_file="$TR_TMP/reader.pw" \
	    user_base="ou=people,$BASE" connect_timeout=2s
} | tr_write "$TR_CONF.new"
mv "$TR_CONF.new" "$TR_CONF"
tr_start rot || fail "daemon rot starts"
expect_no -t "$(bind_tok alice "$ALICE_PW")" -e . \
    "the wrong CA in the file -> NO+err"
cp "$TR_CERTS/ca.crt" "$TR_TMP/rot-ca.pem.new"
mv "$TR_TMP/rot-ca.pem.new" "$TR_TMP/rot-ca.pem"
ok "the changed CA file reloads the daemon" tr_wait_until 10 \
    grep -q '"event":"reloaded"' "$TR_LOG"
expect_user -t "$(bind_tok alice "$ALICE_PW")" -n alice \
    "... and the server's certificate is trusted -> OK(alice)"
tr_stop "$TR_PID"

tid "TLS verification, plain LDAP when allowed, memberOf"
tr_config edge server.chain=ldap static.file=
{
	cat "$TR_CONF"
	ldap_section badca uri="$s3_LDAPS" ca="$TR_CERTS/rogue-ca.crt" \
	    user_base="ou=people,$BASE" connect_timeout=1s
	ldap_section plain uri="$s3_LDAP" insecure=yes \
	    bind_dn="cn=reader,$BASE" bind_password_file="$TR_TMP/reader.pw" \
	    user_base="ou=people,$BASE" memberof_attribute=memberOf \
	    group_base="ou=groups,$BASE" nested_depth=5 group_deny=^cyc- \
	    extra_attributes="cn=example.org/name mail=example.org/mail"
} | tr_write "$TR_CONF.new"
mv "$TR_CONF.new" "$TR_CONF"
tr_start edge || fail "daemon edge starts"
expect_user -t "$(bind_tok alice "$ALICE_PW")" \
    -f '(.groups | sort) == ["all","dev","ops"]' \
    "memberOf and nested groups over plain LDAP (insecure = yes)"
expect_user -x '{"example.org/name":["Alice Liddell"]}' \
    "... group_deny drops cyc-*, extra from cn (mail is absent)"
grep -Eq 'certificate not accepted: (self-signed certificate in|unable to get local issuer)' "$TR_LOG" &&
    pass "ldaps with a CA that did not sign the server: handshake refused" ||
    fail "ldaps with a CA that did not sign the server: handshake refused" \
    "$(grep ldap_connection "$TR_LOG")"
out=$(printf '%s\n' "$(bind_tok alice "$ALICE_PW")" |
    timeout 20 "$TOKENREVIEWCTL" -c "$TR_CONF" review - 2>&1)
like "$out" '"username": *"alice"' "tokenreviewctl review asks the directory too"
tr_stop "$TR_PID"

tid "page_size = 0 meets the server's size limit; max_groups"
tr_config pages server.chain=ldap static.file= cache.ttl=0 \
    cache.negative_ttl=0
common=(uri="$s3_LDAP" ca="$TR_CERTS/ca.crt" bind_dn="cn=reader,$BASE"
    bind_password_file="$TR_TMP/reader.pw" user_base="ou=people,$BASE"
    group_base="ou=groups,$BASE")
{
	cat "$TR_CONF"
	ldap_section mcap uri="$s3_LDAP" ca="$TR_CERTS/ca.crt" \
	    bind_dn="cn=reader,$BASE" bind_password_file="$TR_TMP/reader.pw" \
	    user_base="ou=people,$BASE" user_filter="(&(uid=%s)(uid=alice))" \
	    memberof_attribute=memberOf max_groups=1
	ldap_section unpaged "${common[@]}" page_size=0
	ldap_section capped "${common[@]}" page_size=25 max_groups=50
} | tr_write "$TR_CONF.new"
mv "$TR_CONF.new" "$TR_CONF"
tr_start pages || fail "daemon pages starts"
expect_user -t "$(bind_tok alice "$ALICE_PW")" \
    -f '(.groups | sort) == ["cyc-a","dev"]' \
    "page_size = 0: alice's few groups in one search -> OK"
grep -q 'mcap.*a user has more than 1 groups' "$TR_LOG" &&
    pass "... after two memberOf values over max_groups = 1 -> error" ||
    fail "... after two memberOf values over max_groups = 1 -> error"
expect_no -t "$(bind_tok paula "$PAULA_PW")" -e . \
    "paula: $PAGED_GROUPS groups -> NO+err, never a partial list"
like "$TR_BODY" "unpaged: the group search reached the server's size limit" \
    "... unpaged: the server's size limit"
like "$TR_BODY" 'capped: the user has more than 50 groups \(max_groups\)' \
    "... capped: more than max_groups"
grep -q 'ldap_max_groups' "$TR_LOG" && pass "... max_groups logged" ||
    fail "... max_groups logged"
tr_stop "$TR_PID"

# ---------------------------------------------------------------- lockout

# lk_ops OP [RESULT]: the current daemon's operations of that type on the
# directory lk so far (binds include the reader's own on each new
# connection: count the rejected ones for users).
lk_ops()
{
	tr_metrics
	tr_metric tokenreviewd_ldap_operations_total \
	    "directory=\"lk\",op=\"$1\",result=\"${2:-[a-z]*}\""
}

# lk_ppolicy ATTR: how many values of ATTR lockme's entry has, as slapd
# keeps them (ppolicy's own failure times and lock time).
lk_ppolicy()
{
	LDAPTLS_CACERT=$TR_CERTS/ca.crt ldapsearch -LLL -x -ZZ -H "$lk_LDAP" \
	    -D "cn=reader,$BASE" -w "$READER_PW" \
	    -b "uid=lockme,ou=people,$BASE" -s base "$1" 2>/dev/null |
	    grep -c "^$1:"
}

# lk_locked: the last answer is the lockout's error.
lk_locked()
{
	tr_is_no -e 'too many failed logins'
}

# par_reviews TOKEN...: the reviews at once (20 in parallel); prints a
# letter an answer: A accepted, N plain NO, L locked out, E another error.
par_reviews()
{
	local t f=$TR_TMP/.par i=0
	local -a a=()
	tr_tls_args
	for t in "$@"; do
		i=$((i + 1))
		tr_review_body v1 "$t" >"$f.$i"
		rm -f "$f.out.$i"
		[ "$i" -eq 1 ] || a+=(--next)
		a+=(-sS --max-time 30 "${TR_TLS[@]}" -H 'Content-Type: application/json'
		    --data-binary "@$f.$i" -o "$f.out.$i" "$TR_URL$TR_REVIEW_PATH")
	done
	curl -Z --parallel-max 20 "${a[@]}" 2>/dev/null
	for i in $(seq "$#"); do
		jq -r '.status | if .authenticated then "A"
		    elif (.error // "") | test("too many failed logins") then "L"
		    elif has("error") then "E" else "N" end' "$f.out.$i" \
		    2>/dev/null || echo "?"
	done | tr -d '\n'
}

# guesses_for USER N: N bind-mode tokens of USER with wrong passwords.
guesses_for()
{
	local i
	for i in $(seq "$2"); do
		bind_tok "$1" "guess-$i"
		echo
	done
}

# lk_daemon NAME KEY=VALUE...: a daemon whose one directory is lk, with
# the lockout keys given.
lk_daemon()
{
	local name=$1
	shift
	tr_config "$name" server.chain=ldap static.file= cache.ttl=60s \
	    cache.negative_ttl=0 server.read_timeout=60s
	{
		cat "$TR_CONF"
		ldap_section lk uri="$lk_LDAP" ca="$TR_CERTS/ca.crt" \
		    bind_dn="cn=reader,$BASE" \
		    bind_password_file="$TR_TMP/reader.pw" mode=bind \
		    user_base="ou=people,$BASE" timeout=10s "$@"
	} | tr_write "$TR_CONF.new"
	mv "$TR_CONF.new" "$TR_CONF"
	tr_start "$name" || bail "daemon $name does not start"
}

tid "failed binds per user name: bind_failure_limit = 3, bind_lockout = 5m"
# A directory of its own, so that its ppolicy state is the test's:
# lockme's ppolicy locks the account after 6 failed binds, and the daemon
# must stop guessers well before, however fast they send.
slapd_start lk
lk_daemon lock bind_failure_limit=3 bind_failure_window=5m bind_lockout=5m
LOCKME_TOK=$(bind_tok lockme "$LOCKME_PW")
expect_user -t "$LOCKME_TOK" -n lockme \
    "lockme with the right password -> OK (now cached)"
b0=$(lk_ops bind rejected)
# shellcheck disable=SC2046	# one word a token
got=$(par_reviews $(guesses_for lockme 30))
diag "30 concurrent guesses: $got"
is "$(printf '%s' "$got" | tr -d L)" NNN \
    "30 concurrent guesses for lockme: 3 plain NOs, the rest locked out"
b1=$(lk_ops bind rejected)
is "$((b1 - b0))" 3 "... 3 of them reached the directory as binds (binds in flight hold their place)"
is "$(lk_ppolicy pwdFailureTime)" 3 "... slapd saw 3 failures (ppolicy)"
is "$(lk_ppolicy pwdAccountLockedTime)" 0 "... and did not lock the account (its limit: 6)"
s1=$(lk_ops search)
tr_review v1 "$(bind_tok lockme "${LOCKME_PW}x")" >/dev/null
ok "another wrong password -> NO with the lockout's error" lk_locked
tr_review v1 "$(bind_tok ' LockMe ' "$LOCKME_PW")" >/dev/null
ok "the right password under the name in another case, spaced -> the same lockout" \
    lk_locked
is "$(lk_ops bind rejected) $(lk_ops search)" "$b1 $s1" \
    "... neither asked the directory: no bind, no search"
expect_user -t "$LOCKME_TOK" -n lockme \
    "lockme's token cached as valid still passes"
ok "... from the cache" grep -q '"username":"lockme".*"cached":1' "$TR_LOG"
expect_user -t "$(bind_tok alice "$ALICE_PW")" -n alice \
    "alice is not affected -> OK(alice)"
expect_no -t "$(bind_tok alice wrong)" \
    "... and her wrong password is a plain NO (asked, not locked out)"
b2=$(lk_ops bind rejected) s2=$(lk_ops search)
# shellcheck disable=SC2046
got=$(par_reviews $(guesses_for ' LOCKME' 40))
is "$got" "$(printf 'L%.0s' $(seq 40))" "40 more concurrent guesses: all refused"
is "$(lk_ops bind rejected) $(lk_ops search)" "$b2 $s2" "... without a bind or a search"
tr_metrics
is "$(tr_metric tokenreviewd_ldap_lockouts_total 'directory="lk"')" 1 \
    "tokenreviewd_ldap_lockouts_total: one episode"
is "$(tr_metric tokenreviewd_ldap_lockout_refused_total 'directory="lk"')" 69 \
    "tokenreviewd_ldap_lockout_refused_total counts the 27 + 2 + 40 refused reviews"
is "$(grep -c '"event":"ldap_lockout"' "$TR_LOG")" 1 \
    "one log line for the episode, not one per refused review"
ok "... naming the directory, the user name and the limits" grep -q \
    '"ldap_lockout".*\[ldap \\"lk\\"\] user name \\"lockme\\": 3 failed logins within 300 s.* for 300 s' \
    "$TR_LOG"
ok "no backend_error line for the refused reviews" \
    eval "! grep -q '\"backend_error\"' '$TR_LOG'"
is "$(lk_ppolicy pwdFailureTime) $(lk_ppolicy pwdAccountLockedTime)" "3 0" \
    "slapd still saw 3 failures for lockme, and did not lock the account"
# A name without an entry counts as a wrong password: a lockout tells
# nothing about who exists.
s3=$(lk_ops search) b3=$(lk_ops bind rejected)
for i in 1 2 3; do
	expect_no -t "$(bind_tok nosuchuser "pw-$i")" "no such user, try $i of 3 -> NO"
done
is "$(($(lk_ops search) - s3)) $(lk_ops bind rejected)" "3 $b3" \
    "... each one search, and no bind"
tr_review v1 "$(bind_tok nosuchuser pw-4)" >/dev/null
ok "the 4th try of a name with no entry -> the lockout's error, as for a user" \
    lk_locked
is "$(lk_ops search)" "$((s3 + 3))" "... without a search"
# The directory folds the case of non-ASCII letters, the daemon only of
# ASCII ones: names of one entry that count apart here still count
# together by the entry's DN.
JUERGEN_UP=$(printf 'J\xc3\x9cRGEN')	# JÜRGEN
b5=$(lk_ops bind rejected)
for v in "$JUERGEN_UP" "$JUERGEN_UP" "$JUERGEN"; do
	expect_no -t "$(bind_tok "$v" wrong)" \
	    "a wrong password for $v (the entry of $JUERGEN) -> NO"
done
is "$(($(lk_ops bind rejected) - b5))" 3 "... each one bind refused by the directory"
tr_review v1 "$(bind_tok "$(printf 'J\xc3\xbcrgen')" "$JUERGEN_PW")" >/dev/null
ok "his right password under a name with 1 failure here -> the lockout's error (the entry has 3)" \
    lk_locked
is "$(($(lk_ops bind rejected) - b5))" 3 "... without a bind"
tr_stop

tid "bind_lockout = 3s: the lockout ends after its time"
lk_daemon lockb bind_failure_limit=3 bind_failure_window=1m bind_lockout=3s
b0=$(lk_ops bind rejected)
for i in 1 2 3; do
	# The lockout begins with the 3rd failure: time it from before.
	[ "$i" = 3 ] && t0=$(tr_now)
	expect_no -t "$(bind_tok paula "wrong-$i")" \
	    "wrong password $i of 3 for paula -> NO"
done
is "$(($(lk_ops bind rejected) - b0))" 3 "... each one bind refused by the directory"
tr_review v1 "$(bind_tok paula "$PAULA_PW")" >/dev/null
ok "the right password while locked out -> the lockout's error" lk_locked

# paula_back: paula's right password accepted (not cached: refused before).
paula_back()
{
	tr_review v1 "$(bind_tok paula "$PAULA_PW")" >/dev/null
	[ "$TR_CODE" = 200 ] && tr_jq '.status.user.username == "paula"'
}

# paula_wait SECONDS: paula_back, tried until it holds, for at most
# SECONDS of the client's clock.
paula_wait()
{
	local t
	t=$(tr_now)
	until paula_back; do
		tr_between "$(tr_elapsed "$t")" 0 "$1" || return 1
		sleep 0.2
	done
}
ok "the lockout ends after its time: paula's right password accepted" \
    paula_wait 60
secs=$(tr_elapsed "$t0")
ok "... not before 3 s (${secs}s)" tr_between "$secs" 3 60
tr_stop
slapd_stop lk

tid "bind_failure_limit = 0: no lockout"
slapd_start lk0
tr_config lock0 server.chain=ldap static.file= cache.ttl=0 \
    cache.negative_ttl=0
{
	cat "$TR_CONF"
	ldap_section lk0 uri="$lk0_LDAP" ca="$TR_CERTS/ca.crt" \
	    bind_dn="cn=reader,$BASE" bind_password_file="$TR_TMP/reader.pw" \
	    mode=bind user_base="ou=people,$BASE" bind_failure_limit=0
} | tr_write "$TR_CONF.new"
mv "$TR_CONF.new" "$TR_CONF"
tr_start lock0 || bail "daemon lock0 does not start"
n=0
for i in $(seq 5); do
	tr_review v1 "$(bind_tok paula "wrong-$i")" >/dev/null
	[ "$TR_CODE" = 200 ] && tr_jq '.status.authenticated == false and
	    (.status | has("error") | not)' && n=$((n + 1))
done
is "$n" 5 "5 wrong passwords: 5 plain NOs"
expect_user -t "$(bind_tok paula "$PAULA_PW")" -n paula \
    "... and the right one is accepted"
tr_metrics
is "$(tr_metric tokenreviewd_ldap_lockouts_total 'directory="lk0"')" 0 \
    "no lockout counted"
tr_stop
slapd_stop lk0

tid "lockout keys: checked at -n"
for kv in bind_failure_limit=-1 bind_failure_limit=1001 \
    bind_failure_window=0 bind_lockout=500ms bind_lockout=25h; do
	tr_config "badlk-${kv%%=*}" server.chain=ldap static.file=
	{
		cat "$TR_CONF"
		ldap_section x uri="$s1_LDAP" ca="$TR_CERTS/ca.crt" \
		    mode=bind user_base="ou=people,$BASE" "$kv"
	} | tr_write "$TR_CONF.new"
	mv "$TR_CONF.new" "$TR_CONF"
	out=$("$TOKENREVIEWD" -n -c "$TR_CONF" 2>&1)
	rc=$?
	if [ "$rc" -ne 0 ] && [[ $out == *"${kv%%=*}"* ]]; then
		pass "$kv: refused at -n, naming the key"
	else
		fail "$kv: refused at -n, naming the key" "exit $rc: $out"
	fi
done

tid "ldapi: a local socket, after one that does not exist"
tr_config local server.chain=ldap static.file=
{
	cat "$TR_CONF"
	ldap_section local \
	    uri="ldapi://$(printf '%s' "$TR_TMP/none" | jq -sRr @uri) ldapi://$(printf '%s' "$TR_TMP/s3/ldapi" | jq -sRr @uri)" \
	    bind_dn="cn=reader,$BASE" bind_password_file="$TR_TMP/reader.pw" \
	    user_base="ou=people,$BASE"
} | tr_write "$TR_CONF.new"
mv "$TR_CONF.new" "$TR_CONF"
tr_start local || fail "daemon local starts"
for i in 1 2 3; do
	tr_review v1 "$(bind_tok alice "$ALICE_PW")" >/dev/null
done
expect_user -n alice "ldapi:// after a missing socket -> OK(alice)"
tr_stop "$TR_PID"

tid "groups and user names in the system: namespace"
# No group prefix: "plain" (bind mode, memberOf) drops mallory's system:
# groups and refuses the user whose cn is system:admin; "allowed"
# (attribute mode, group search) lets system:masters and system:admin
# through, and still never system:authenticated nor
# system:unauthenticated (conformance-cases.md: no answer holds
# system:authenticated; tokenreview.md: the API server adds it itself).
tr_config sysnames server.chain=ldap static.file= cache.ttl=0 \
    cache.negative_ttl=0
{
	cat "$TR_CONF"
	ldap_section plain uri="$s3_LDAP" ca="$TR_CERTS/ca.crt" \
	    bind_dn="cn=reader,$BASE" bind_password_file="$TR_TMP/reader.pw" \
	    user_base="ou=people,$BASE" username_attribute=cn \
	    memberof_attribute=memberOf
	ldap_section allowed uri="$s3_LDAP" ca="$TR_CERTS/ca.crt" \
	    bind_dn="cn=reader,$BASE" bind_password_file="$TR_TMP/reader.pw" \
	    mode=attribute token_attribute=kubeTokenHash \
	    user_base="ou=people,$BASE" username_attribute=cn \
	    group_base="ou=groups,$BASE" \
	    group_filter="(&(objectClass=groupOfNames)(member=%s))" \
	    allow_system_names=yes
} | tr_write "$TR_CONF.new"
mv "$TR_CONF.new" "$TR_CONF"
tr_start sysnames || fail "daemon sysnames starts"
# sysn DIRECTORY KIND: the drop counter (last tr_metrics).
sysn()
{
	tr_metric tokenreviewd_ldap_system_names_dropped_total \
	    "directory=\"$1\",kind=\"$2\""
}
tr_metrics
is "$(sysn plain group) $(sysn plain user) $(sysn allowed group)" "0 0 0" \
    "metrics: the drop counters start at 0"
for i in 1 2; do
	expect_user -t "$(bind_tok mallory "$MALLORY_PW")" -n 'Mallory Evil' \
	    -g '["dev"]' \
	    "review $i: mallory's system:masters, system:authenticated, system:unauthenticated dropped; dev kept"
done
tr_metrics
is "$(sysn plain group)" 6 "metrics: 3 groups dropped in each of the 2 reviews"
for g in system:masters system:authenticated system:unauthenticated; do
	is "$(grep -c "system_name_dropped.*ldap .\"plain.\"\] group .\"$g.\" dropped" "$TR_LOG")" 1 \
	    "$g: logged once, not once per review"
done
like "$(grep 'group .\"system:masters' "$TR_LOG")" 'allow_system_names' \
    "... the log line says how to keep it"
expect_no -t "$(bind_tok sysadm "$SYSADM_PW")" -e . \
    "the user whose cn is system:admin -> NO+err, not renamed"
like "$(jq -r .status.error <<<"$TR_BODY")" \
    '^ldap: plain: user name "system:admin" is in the system: namespace$' \
    "... the error names the user name and the rule"
tr_metrics
is "$(sysn plain user)" 1 "metrics: the refused user name counted"
ok "... and logged" grep -q 'system_name_refused.*user name .\"system:admin' "$TR_LOG"
expect_user -t "$MALLORY_TOKEN" \
    -f '(.groups | sort) == ["dev","system:masters"]' \
    "allow_system_names = yes: system:masters kept, system:authenticated and system:unauthenticated never"
tr_metrics
is "$(sysn allowed group)" 2 "metrics: ... those two dropped and counted"
expect_user -t "$SYSADM_TOKEN" -n system:admin \
    "allow_system_names = yes: the user name system:admin is given"
tr_stop "$TR_PID"
sed -i '/^allow_system_names = yes$/d' "$TR_CONF"
printf 'group_prefix = system:ldap:\n' >>"$TR_CONF"
out=$("$TOKENREVIEWD" -n -c "$TR_CONF" 2>&1)
st=$?
[ "$st" != 0 ] && [[ $out =~ group_prefix:\ in\ the\ system:\ namespace ]] &&
    pass "tokenreviewd -n: group_prefix in system: without allow_system_names is a configuration error" ||
    fail "tokenreviewd -n: group_prefix in system: without allow_system_names is a configuration error" \
    "exit $st: $out"
slapd_stop s3

done_testing
