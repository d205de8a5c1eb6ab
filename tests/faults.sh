#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Upstream faults under load.  One daemon with every source that talks to
# a server (the token database on PostgreSQL, an LDAP directory in bind
# mode, an OpenID Connect issuer) and a static token file, the caches off,
# is kept busy by wrk reviewing a valid token of each source in turn while
# the servers are stalled (SIGSTOP) and killed, one after the other:
#
#   - no request waits past its deadline: wrk's slowest answer is within
#     review_timeout and a margin, and none timed out;
#   - every answer is either a success or "no" with status.error: never
#     another status, never a plain "no" for a valid token;
#   - the static token, which needs no server, is answered throughout (a
#     probe of its own, timed with curl's clock);
#   - afterwards each source authenticates again without a restart (the
#     issuer comes back with new keys, picked up by an unknown kid);
#   - file descriptors and RSS come back to their level from before the
#     faults, measured after the same load.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

REVIEW_TIMEOUT_MS=3000
# The slowest answer allowed: the review deadline and what a loaded,
# sanitized build on two CPUs may add to writing the answer.
MAX_MS=$((REVIEW_TIMEOUT_MS + 2500))

tr_need curl openssl jq setsid timeout wrk node npm sha256sum base64
[ -x /usr/sbin/slapd ] || tr_skip_all "slapd not installed"
tr_need_binaries
tr_tmpdir
tr_certs
. "$(dirname "$0")/upstreams-lib.sh"
upstreams_setup server.workers=2 || done_testing

tid "baseline: all sources up"
load_start 4
load_wait
check_load "baseline load: $W_REQUESTS reviews, slowest $W_MAX_MS ms"
is "$W_ERROR" 0 "baseline load: no source reports an error"
# Connections to the servers are pooled and may grow after a fault up to
# what the pools hold; every other descriptor comes back to its level.
POOLED="postgresql ldap issuer"
FDS0=$(fds)
OTHER0=$(fd_count -v $POOLED)
RSS0=$(rss_kib)
diag "before the faults: $FDS0 fds ($(fd_kinds)), RSS $RSS0 KiB"

# A probe of the static token for as long as the faults last: one review
# every 0.2 s, each line "TIME AUTHENTICATED" in curl's own time.
probe()
{
	while :; do
		curl -sS --max-time 20 --cacert "$TR_CERTS/ca.crt" \
		    -H "Authorization: Bearer $BEARER" \
		    -H 'Content-Type: application/json' \
		    -d "$(tr_review_body v1 "$STATIC")" \
		    -w '\n%{time_total}\n' "$TR_URL/tokenreview" 2>/dev/null |
		    jq -Rrs 'split("\n") | "\(.[-2]) \(.[0] | fromjson? |
		    .status.authenticated)"'
		sleep 0.2
	done
}

tid "faults under load"
load_start 600
tr_bg bash -c "$(declare -f probe tr_review_body); $(declare -p BEARER \
    STATIC TR_CERTS TR_URL); probe" >"$TR_TMP/probe.out"
PROBE_PID=$TR_BGPID
sleep 2

diag "slapd stalled for 3 s"
kill -STOP "$s1_PID"
sleep 3
kill -CONT "$s1_PID"
diag "slapd killed, started again 2 s later"
kill -KILL "$s1_PID"
wait "$s1_PID" 2>/dev/null
sleep 2
slapd_start s1

diag "PostgreSQL stalled for 3 s"
mapfile -t PG_PIDS < <(pg_pids)
kill -STOP "${PG_PIDS[@]}"
sleep 3
kill -CONT "${PG_PIDS[@]}"
diag "PostgreSQL stopped at once (immediate), started again 2 s later"
pg_ctl_run -m immediate -w stop >/dev/null 2>&1
sleep 2
pg_start || bail "PostgreSQL did not start again"

diag "the issuer stalled for 3 s"
kill -STOP -- "-$IDP_PID"
sleep 3
kill -CONT -- "-$IDP_PID"
diag "the issuer killed, started again with new keys"
kill -KILL -- "-$IDP_PID"
tr_wait_exit "$IDP_PID" 10 || true
idp_start "$TR_TMP/rotated.keys" || bail "the issuer did not start again"

# Each source answers again, the issuer's new key included, without a
# restart of the daemon.
if tr_wait_until 30 all_accepted "$ROTATED" rotated@test; then
	pass "each source authenticates again after the faults, the issuer's new key too"
else
	fail "each source authenticates again after the faults" "last: $TR_BODY"
fi
kill -INT "$WRK_PID" 2>/dev/null
load_wait
tr_bg_kill "$PROBE_PID"
check_load "under faults: $W_REQUESTS reviews, none wrong or refused, slowest $W_MAX_MS ms"
ok "under faults: the failures were seen and reported as status.error ($W_ERROR)" \
    [ "${W_ERROR:-0}" -gt 0 ]
ok "the daemon was never restarted" tr_alive "$DAEMON"

n=$(wc -l <"$TR_TMP/probe.out")
bad=$(awk '$2 != "true"' "$TR_TMP/probe.out" | wc -l)
slow=$(awk '$1 + 0 > 2.5' "$TR_TMP/probe.out" | wc -l)
if [ "$n" -ge 10 ] && [ "$bad" = 0 ] && [ "$slow" = 0 ]; then
	pass "the static token was answered throughout ($n reviews, slowest $(sort -n "$TR_TMP/probe.out" | tail -n 1 | cut -d' ' -f1) s)"
else
	fail "the static token was answered throughout" \
	    "$n reviews, $bad not authenticated, $slow over 2.5 s" \
	    "$(sort -n "$TR_TMP/probe.out" | tail -n 3)"
fi

tid "after the faults"
printf '%s\n' "$STATIC" "$DBTOK" "$LDAPTOK" "$ROTATED" >"$TR_TMP/tokens.txt"
load_start 4
load_wait
check_load "after the faults: $W_REQUESTS reviews"
is "$W_ERROR" 0 "after the faults: no source reports an error"
# wrk's connections close as the daemon reads their end, and a pool's
# connection to a restarted server as it is next used: wait for that.
others_back()
{
	[ "$(fd_count -v $POOLED)" -le "$OTHER0" ]
}
tr_wait_until 10 others_back
FDS1=$(fds)
RSS1=$(rss_kib)
diag "after the faults: $FDS1 fds ($(fd_kinds)), RSS $RSS1 KiB"
ok "descriptors other than pooled connections back to their level\
 ($OTHER0 -> $(fd_count -v $POOLED))" others_back
# Two workers: PostgreSQL's pool_size 4 each and the use-count writer;
# LDAP's pool_size 2 each for searches and as many for binds; the key
# fetcher's connection and one being replaced.
pools_bounded()
{
	[ "$(fd_count postgresql)" -le 9 ] && [ "$(fd_count ldap)" -le 8 ] &&
	    [ "$(fd_count issuer)" -le 2 ]
}
ok "pooled connections within the pools' sizes ($(fd_count $POOLED))" \
    pools_bounded
if is_sanitized; then
	skip "RSS back to its level" "AddressSanitizer's quarantine holds freed memory"
else
	ok "RSS back to its level ($RSS0 -> $RSS1 KiB)" \
	    [ "$RSS1" -le $((RSS0 + RSS0 / 4 + 8192)) ]
fi

done_testing
