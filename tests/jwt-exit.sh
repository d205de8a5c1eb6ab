#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Exit while the JWT key fetcher is busy.  The fetcher thread runs libcurl
# and OpenSSL; the process must stop and join it before OpenSSL's
# exit-time cleanup, or the exit crashes (SIGSEGV in
# CRYPTO_THREAD_write_lock or free under OPENSSL_cleanup, no JSON printed
# by the tool).  An HTTPS issuer on 127.0.0.1 serves ISSUERS [jwt]
# sections whose discovery answers at once with a JWKS without keys, so
# that the fetcher is always in a TLS handshake or a retry.
# tokenreviewctl review runs 2 * CTL_RUNS times (a static token, and a JWT
# whose review waits for a fetch) and the daemon is started and stopped
# DAEMON_RUNS times: no exit status of 128 or more, the JSON printed every
# time, "shutdown", "key fetcher stopped" and "stopped" logged every time.
# Then an issuer path that never answers: SIGTERM in the middle of that
# fetch still ends the daemon at once (the fetch is interrupted, not
# waited for until fetch_timeout), and the tool does not wait for it.
#
# The loop counts are the smallest with which the crash showed every time
# before the fix, on a loaded two-core machine: 1-7 % of the static
# reviews, 20-40 % of the JWT reviews, 12-18 % of the daemon stops.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

CTL_RUNS=${CTL_RUNS:-40}
DAEMON_RUNS=${DAEMON_RUNS:-40}
ISSUERS=${ISSUERS:-32}

tr_need curl openssl jq setsid node
tr_need_binaries
tr_tmpdir
tr_certs

export NO_PROXY=127.0.0.1 no_proxy=127.0.0.1

# The issuer: /fastN answers discovery for https://HOST/fastN and an
# empty JWKS at once; /stall never answers.  Each request is a line in
# the requests file, so that the test waits for a fetch to begin.
cat >"$TR_TMP/issuer.mjs" <<'EOF'
import https from 'node:https';
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
const [cert, key, portFile, reqFile] = process.argv.slice(2);
const srv = https.createServer({
	cert: readFileSync(cert), key: readFileSync(key),
}, (req, res) => {
	appendFileSync(reqFile, `${req.url}\n`);
	if (req.url.startsWith('/stall'))
		return;
	const base = `https://127.0.0.1:${srv.address().port}`;
	const m = req.url.match(/^(\/[a-z0-9]+)\/\.well-known\//);
	res.setHeader('content-type', 'application/json');
	res.end(JSON.stringify(m ? { issuer: base + m[1],
	    jwks_uri: `${base}${m[1]}/jwks` } : { keys: [] }));
});
srv.listen(0, '127.0.0.1',
    () => writeFileSync(portFile, `${srv.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
EOF

REQS=$TR_TMP/requests
: >"$REQS"
tr_bg node "$TR_TMP/issuer.mjs" "$TR_CERTS/server.crt" \
    "$TR_CERTS/server.key" "$TR_TMP/issuer.port" "$REQS" \
    2>>"$TR_TMP/issuer.log" >&2
tr_wait_until 10 test -s "$TR_TMP/issuer.port" ||
    bail "the test issuer did not start: $(tail -n 3 "$TR_TMP/issuer.log")"
read -r IP <"$TR_TMP/issuer.port"

# jwt_sections PATH...: one [jwt] section per issuer path.
jwt_sections()
{
	local p
	for p in "$@"; do
		cat <<EOF
[jwt "$p"]
issuer = https://127.0.0.1:$IP/$p
audiences = kubernetes
ca = $TR_CERTS/ca.crt
retry_interval = 100ms
fetch_timeout = 30s

EOF
	done
}

fast=()
for i in $(seq "$ISSUERS"); do
	fast+=("fast$i")
done

# make_conf NAME PATH...: a daemon config with the static token and the
# [jwt] sections of the paths; log level $LOG_LEVEL (info).
make_conf()
{
	local name=$1
	shift
	tr_config "$name" server.chain="static jwt" log.level="${LOG_LEVEL:-info}"
	tr_tokens 'tok-exit-1,alice,u-1,dev'
	jwt_sections "$@" >>"$TR_CONF"
}

# requests: how many requests the issuer has seen.
requests()
{
	wc -l <"$REQS"
}

# more_requests N: the issuer has seen more than N requests.
more_requests()
{
	[ "$(requests)" -gt "$1" ]
}

# ---------------------------------------------------------------- tool

# A JWT of the first issuer: the tool waits for that issuer's fetch, which
# finds no key, prints its answer and exits while the fetcher has gone on
# to the next issuer.  The static token: the tool exits while the fetcher
# starts.
JWT="$(printf '{"alg":"ES256"}' | tr_b64url).$(printf \
    '{"iss":"https://127.0.0.1:%s/fast1","aud":"kubernetes","exp":4102444800}' \
    "$IP" | tr_b64url).c2ln"

tid "tokenreviewctl review while the fetcher works"
make_conf ctl "${fast[@]}"
crashes=0 nojson=0 other=0
for ((i = 0; i < 2 * CTL_RUNS; i++)); do
	if ((i % 2)); then
		token=$JWT want=2 answer='.status.error | test("no signing keys")'
	else
		token=tok-exit-1 want=0 answer='.status.authenticated'
	fi
	out=$("$TOKENREVIEWCTL" -c "$TR_CONF" review "$token" \
	    2>>"$TR_TMP/ctl.err")
	rc=$?
	if [ "$rc" -ge 128 ]; then
		crashes=$((crashes + 1))
	elif [ "$rc" -ne "$want" ]; then
		other=$((other + 1))
	fi
	jq -e "$answer" <<<"$out" >/dev/null 2>&1 || nojson=$((nojson + 1))
done
is "$crashes" 0 "$((2 * CTL_RUNS)) reviews by the tool: none ended by a signal"
is "$nojson" 0 "$((2 * CTL_RUNS)) reviews by the tool: the JSON printed every time"
is "$other" 0 "$((2 * CTL_RUNS)) reviews by the tool: exit 0 (static), 2 (JWT)"
unlike "$(cat "$TR_TMP/ctl.err")" 'did not stop|Sanitizer|runtime error' \
    "the tool stops its fetcher every time"

# ---------------------------------------------------------------- daemon

tid "daemon stopped while the fetcher works"
LOG_LEVEL=verbose make_conf daemon "${fast[@]}"
TR_LOGS+=("$TR_TMP/daemon.logs")
crashes=0 unclean=0 notstarted=0 nofetch=0
for ((i = 0; i < DAEMON_RUNS; i++)); do
	: >"$TR_DIR/log"
	n=$(requests)
	if ! tr_start daemon; then
		notstarted=$((notstarted + 1))
		continue
	fi
	# Stop it while a fetch is under way.
	tr_wait_until 10 more_requests "$n" || nofetch=$((nofetch + 1))
	tr_stop
	rc=$?
	if [ "$rc" -ge 128 ] && [ "$rc" -ne 255 ]; then
		crashes=$((crashes + 1))
		diag "run $i: exit status $rc"
	elif [ "$rc" -ne 0 ] ||
	    ! grep -q '"event":"shutdown"' "$TR_DIR/log" ||
	    ! grep -q '"event":"stopped"' "$TR_DIR/log" ||
	    ! grep -q 'key fetcher stopped' "$TR_DIR/log" ||
	    grep -q 'did not stop' "$TR_DIR/log"; then
		unclean=$((unclean + 1))
		diag "run $i: exit status $rc, log: $(tail -n 3 "$TR_DIR/log")"
	fi
	cat "$TR_DIR/log" >>"$TR_TMP/daemon.logs"
done
is "$notstarted" 0 "$DAEMON_RUNS daemon starts"
is "$nofetch" 0 "$DAEMON_RUNS daemons fetch from the issuer"
is "$crashes" 0 "$DAEMON_RUNS SIGTERMs: none ended by a signal"
is "$unclean" 0 "$DAEMON_RUNS SIGTERMs: exit 0, shutdown, fetcher stopped, stopped logged"

# ---------------------------------------------------------------- stall

tid "a stalled fetch is interrupted at exit"
make_conf stall stall
n=$(requests)
if tr_start stall && tr_wait_until 10 more_requests "$n"; then
	t0=$(tr_now)
	tr_stop
	rc=$?
	took=$(tr_elapsed "$t0")
	is "$rc" 0 "SIGTERM during a stalled fetch: exit 0"
	if tr_between "$took" 0 4; then
		pass "it ended in $took s, not after fetch_timeout (30 s)"
	else
		fail "it ended in $took s, not after fetch_timeout (30 s)"
	fi
	unlike "$(cat "$TR_LOG")" 'did not stop|key fetch failed' \
	    "the interrupted fetch is neither waited for nor logged as failed"
else
	fail "the daemon starts and fetches from the stalled issuer"
fi

t0=$(tr_now)
out=$("$TOKENREVIEWCTL" -c "$TR_CONF" review tok-exit-1 2>"$TR_TMP/ctl2.err")
rc=$?
took=$(tr_elapsed "$t0")
if [ "$rc" = 0 ] && jq -e '.status.authenticated == true' <<<"$out" \
    >/dev/null 2>&1 && tr_between "$took" 0 4; then
	pass "the tool answers and exits in $took s with a stalled issuer"
else
	fail "the tool answers and exits in $took s with a stalled issuer" \
	    "exit $rc, output: $out" "$(tail -n 3 "$TR_TMP/ctl2.err")"
fi

done_testing
