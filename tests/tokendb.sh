#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# The token database end to end, once per storage engine: SQLite (this
# script) and PostgreSQL (tokendb-pg.sh runs it with TR_TOKENDB_ENGINE=
# postgresql and a real server started here by initdb and pg_ctl as the
# user postgres, on a free loopback port).  tokenreviewctl token creates,
# revokes, imports and prunes rows while a running daemon answers reviews
# from them.  Covers create -> authenticate -> revoke ->
# refused within the cache bound, expiry, a one-use token reviewed
# concurrently (exactly one success), the bootstrap-token conformance
# cases 31-36, import of a kube-apiserver token CSV (also one of 5000
# lines, with a taken id or a bad line late in it), the tool's errors
# (bad id, unknown id, bad TTL, locked database), writes by the tool while
# wrk keeps a second daemon busy (no failed review), the lookup latency
# histogram, and exact use counts written at reload and at SIGTERM.  With
# PostgreSQL also: the server stopped while the daemon runs (quick errors,
# readiness lost after the grace period) and started again (reviews work
# without a restart), racing schema creation, a newer schema, and lookups
# through pgbouncer that resets sessions (prepared statements vanish) and
# through one that shares a session between two daemons, and a lookup
# that fails in a pipelined batch (the lookups it aborted are sent again
# and answered), a batch of use counts that locks its rows in the order
# of their ids (no deadlock between batches), and a read queued behind a
# write that does not wait for it.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

ENGINE=${TR_TOKENDB_ENGINE:-sqlite}
tr_need curl openssl jq setsid timeout sha256sum wrk
tr_need_binaries
"$TOKENREVIEWCTL" -h | grep -q 'token create' ||
    tr_skip_all "tokenreviewctl built without the token database"
tr_tmpdir
tr_certs

. "$(dirname "$0")/pg-lib.sh"

if [ "$ENGINE" = postgresql ]; then
	pg_setup
	DBKEYS=("tokendb.url=$DBURL" tokendb.ready_grace=1s
	    tokendb.query_timeout=1s)
	sql()
	{
		psql -X -q -A -t -v ON_ERROR_STOP=1 "$DBURL" -c "$1"
	}
	# psql_open NAME URL: a psql session in the background that runs
	# what is written to the descriptor $lockfd (a fifo), until that is
	# closed; locker is its pid.
	psql_open()
	{
		mkfifo "$TR_TMP/$1.sql"
		tr_bg sh -c 'exec psql -X -q "$1" <"$2" >/dev/null 2>&1' sh \
		    "$2" "$TR_TMP/$1.sql"
		locker=$TR_BGPID
		exec {lockfd}>"$TR_TMP/$1.sql"
	}
	HEX="encode(secret_hash, 'hex')"
	NOW="extract(epoch from now())::bigint"
else
	tr_need sqlite3
	DBKEYS=("tokendb.path=$TR_TMP/tdb/tokens.db")
	# Even in WAL mode a reader may meet a lock for a moment (a writer
	# committing as it opens the file): wait for it, as the daemon does.
	lite()
	{
		sqlite3 -cmd '.timeout 5000' "$@"
	}
	sql()
	{
		lite "$DB" "$1"
	}
	HEX="lower(hex(secret_hash))"
	NOW="CAST(strftime('%s','now') AS INTEGER)"
fi


# The positive cache TTL is long on purpose: the backend's bound
# ([tokendb] cache_ttl, 1 s by default) must win over it.
tr_config tdb server.chain="static tokendb" server.workers=4 \
    cache.ttl=60s cache.negative_ttl=10s "${DBKEYS[@]}" \
    tokendb.flush_interval=1s
tr_tokens 'static1,sam,1'
DB=$TR_DIR/tokens.db

# ---------------------------------------------------------------- create

tid "create before the daemon runs"
ALICE=$(tr_tokenctl create --user alice --uid 1001 --group ops --group dev \
    --extra example.org/team=blue --description "alice's laptop" 2>"$TR_TMP/err")
like "$ALICE" '^[a-z0-9]{6}\.[a-z0-9]{16}$' \
    "create prints one token of the bootstrap shape"
if [ "$ENGINE" = sqlite ]; then
	ok "the database file is created on first use" test -s "$DB"
	is "$(sql 'PRAGMA journal_mode')" wal "the database is in WAL mode"
	DUMP=(lite "$DB" .dump)
else
	is "$(sql 'SELECT count(*) FROM tokens')" 1 \
	    "the schema is created on first use"
	DUMP=(sql "SELECT * FROM tokens")
fi
is "$(sql 'SELECT version FROM schema_version')" 2 \
    "schema version table"
ALICE_ID=${ALICE%%.*}
ALICE_SECRET=${ALICE#*.}
unlike "$(tr_tokenctl list; tr_tokenctl list -o json; tr_tokenctl export
    tr_tokenctl show "$ALICE_ID";
    "${DUMP[@]}")" "$ALICE_SECRET" \
    "the secret is in no listing, export or the database"
is "$(sql "SELECT $HEX FROM tokens WHERE id = '$ALICE_ID'")" \
    "$(printf '%s' "$ALICE_SECRET" | sha256sum | cut -c1-64)" \
    "the database keeps SHA-256 of the secret"

tid "daemon"
expect_start tdb "daemon starts with the token database in the chain"

# ---------------------------------------------------------------- reviews

tid "create -> authenticate -> revoke"
expect_user -t "$ALICE" -n alice -u 1001 -g '["ops","dev"]' \
    -x '{"example.org/team": ["blue"]}' \
    "token from ctl create authenticates with its user"
expect_user -t "$ALICE" -n alice "again (from the cache)"
expect_user -t static1 -n sam "the static backend still answers"
ok "ctl revoke" tr_tokenctl revoke "$ALICE_ID"
# The answer cached just before may live 1 s ([tokendb] cache_ttl), no more.
sleep 1.05
expect_no -t "$ALICE" \
    "revoked token refused 1.05 s after the revoke (cache bound 1 s)"
tr_req GET /readyz
is "$TR_CODE" 200 "/readyz is 200 with the database reachable"

tid "expiry"
# Expiry is kept in whole seconds: a 3 s lifetime is at least 2 s.
SHORT=$(tr_tokenctl create --user shorty --ttl 3s 2>/dev/null)
ok "token with a 3 s lifetime works at first" tr_is_user -t "$SHORT"
sleep 3.1
expect_no -t "$SHORT" "and is refused once it expired"
is "$(tr_tokenctl show "${SHORT%%.*}" | jq -r .status)" expired "show says expired"

tid "one-use token, concurrent reviews"
ONCE=$(tr_tokenctl create --user once --uses 1 2>/dev/null)
body=$(tr_review_body v1 "$ONCE")
tr_tls_args
pids=()
for i in $(seq 1 16); do
	curl -sS --max-time 10 "${TR_TLS[@]}" -H 'Content-Type: application/json' \
	    --data-binary "$body" "$TR_URL/tokenreview" >"$TR_TMP/once.$i" &
	pids+=($!)
done
wait "${pids[@]}"
n_ok=$(cat "$TR_TMP"/once.* | jq -s '[.[] | select(.status.authenticated == true)] | length')
n_no=$(cat "$TR_TMP"/once.* | jq -s '[.[] | select(.status.authenticated == false and (.status.error // "") == "")] | length')
is "$n_ok/$n_no" 1/15 "exactly one of 16 concurrent reviews succeeds, 15 are refused"
expect_no -t "$ONCE" "the used-up token stays refused"
is "$(tr_tokenctl show "${ONCE%%.*}" | jq -r '.status + " " + (.uses_left | tostring)')" \
    "used-up 0" "show says used-up"

# ---------------------------------------------------------------- bootstrap

tid "bootstrap tokens (cases 31-36)"
ok "create the fixture token from standard input" \
    sh -c "echo q8z1xk.4m0vaqgd7l2n9s1e | '$TOKENREVIEWCTL' -c '$TR_CONF' \
    token create --bootstrap --group system:bootstrappers:worker-pool-a \
    --token-stdin"
is "$(tr_tokenctl show q8z1xk | jq -r '.expires != null and .bootstrap')" true \
    "bootstrap token: 24 h lifetime by default"
expect_user -t q8z1xk.4m0vaqgd7l2n9s1e -f \
    '. == {"username": "system:bootstrap:q8z1xk", "groups":
    ["system:bootstrappers", "system:bootstrappers:worker-pool-a"]}' \
    "case 31: OK(system:bootstrap:q8z1xk, bootstrappers groups, no uid, no extra)"
expect_no -t q8z1xk.4m0vaqgd7l2n9s1x "case 32: same id, wrong secret -> NO"
echo past01.4m0vaqgd7l2n9s1e | tr_tokenctl create --bootstrap --token-stdin >/dev/null 2>&1
sql "UPDATE tokens SET expires = $NOW - 1 WHERE id = 'past01'"
expect_no -t past01.4m0vaqgd7l2n9s1e "case 33: expired a second ago -> NO"
echo sign01.4m0vaqgd7l2n9s1e | tr_tokenctl create --bootstrap --usages signing \
    --token-stdin >/dev/null 2>&1
expect_no -t sign01.4m0vaqgd7l2n9s1e \
    "case 34: not usable for authentication -> NO"
err=$(tr_tokenctl create --bootstrap --group system:masters 2>&1)
like "$err" 'bad bootstrap group "system:masters"' \
    "case 35: ctl refuses system:masters as a bootstrap group"
echo mast01.4m0vaqgd7l2n9s1e | tr_tokenctl create --bootstrap --token-stdin >/dev/null 2>&1
sql "UPDATE tokens SET groups = '[\"system:bootstrappers:a\",\"system:masters\"]' WHERE id = 'mast01'"
expect_no -t mast01.4m0vaqgd7l2n9s1e \
    "case 35: a row with system:masters is rejected whole -> NO"
tr_metrics
before=$(tr_metric tokenreviewd_tokendb_lookups_total)
expect_no -t Q8Z1XK.4m0vaqgd7l2n9s1e "case 36: uppercase token -> NO"
expect_no -t q8z1xk.4m0vaqgd7l2n9s1 "case 36: 15-character secret -> NO"
tr_metrics
is "$(tr_metric tokenreviewd_tokendb_lookups_total)" "$before" \
    "case 36: no database lookup for either"

# ---------------------------------------------------------------- import

tid "import a token CSV"
{
	printf '%s\n' 'imp001.aaaaaaaaaaaaaaaa,ivan,2001,"ops,dev"' \
	    'imp002.bbbbbbbbbbbbbbbb,"jo, jr",2002' ''
	printf 'imp003.cccccccccccccccc,kim,2003\r\n'
} | tr_write "$TR_TMP/import.csv"
is "$(tr_tokenctl import "$TR_TMP/import.csv" 2>&1)" "3 tokens imported" "import"
expect_user -t imp001.aaaaaaaaaaaaaaaa -n ivan -u 2001 -g '["ops","dev"]' \
    "imported token: user, uid and quoted groups"
expect_user -t imp002.bbbbbbbbbbbbbbbb -n 'jo, jr' \
    "imported token: quoted user name"
ok "imported token with CRLF line end" tr_is_user -t imp003.cccccccccccccccc
printf 'imp004.dddddddddddddddd,lee,1\nnot-a-db-token,max,2\n' |
    tr_write "$TR_TMP/bad.csv"
err=$(tr_tokenctl import "$TR_TMP/bad.csv" 2>&1)
like "$err" "bad.csv:2: the token is not of the form" \
    "import names the line of a token of another shape"
is "$(sql "SELECT count(*) FROM tokens WHERE id = 'imp004'")" 0 \
    "a failed import adds nothing"
err=$(tr_tokenctl import "$TR_TMP/import.csv" 2>&1)
like "$err" "import.csv:1: token id imp001 already exists" \
    "import refuses ids that exist"

# Only the API server gives system:authenticated and system:unauthenticated:
# the tool refuses them, and a row that has them (an import, a hand edit)
# answers without them, saying so once in the log.
err=$(tr_tokenctl create --user x --group system:authenticated 2>&1); rc=$?
like "$rc $err" '^1 .*--group system:authenticated: only the API server gives' \
    "create refuses the group system:authenticated"
err=$(tr_tokenctl create --user x --group system:unauthenticated 2>&1); rc=$?
like "$rc $err" '^1 .*--group system:unauthenticated: only the API server gives' \
    "create refuses the group system:unauthenticated"
printf '%s\n' 'imp005.eeeeeeeeeeeeeeee,ivy,2005,"system:authenticated,ops,system:unauthenticated,system:masters"' |
    tr_write "$TR_TMP/implied.csv"
is "$(tr_tokenctl import "$TR_TMP/implied.csv" 2>&1)" "1 token imported" \
    "import a row naming the API server's own groups"
for i in 1 2; do
	expect_user -t imp005.eeeeeeeeeeeeeeee -n ivy -g '["ops","system:masters"]' \
	    "review $i: system:authenticated and system:unauthenticated dropped, the rest as written"
done
is "$(grep -c '"tokendb_group".*group system:authenticated dropped' "$TR_LOG")" 1 \
    "one log line says the group was dropped"

# A file of several thousand lines goes to the database in batches (with
# PostgreSQL, pipelined): a row refused late in it must still be named by
# its own line, and still leave nothing behind.
tid "import a big token file"
awk 'BEGIN { for (i = 1; i <= 5000; i++)
	printf "bk%04d.%016d,bulk%d,%d,\"g1,g2\"\n", i, i * 7919, i, i }' |
    tr_write "$TR_TMP/big.csv"
# bulk_rows: the rows added since here.  Counted against all the rows
# before: a random id of an earlier test may start with "bk" too.
rows_before=$(sql "SELECT count(*) FROM tokens")
bulk_rows()
{
	echo $(($(sql "SELECT count(*) FROM tokens") - rows_before))
}
# big_with N LINE: big.csv with line N replaced by LINE.
big_with()
{
	awk -v n="$1" -v l="$2" 'NR == n { print l; next } { print }' \
	    "$TR_TMP/big.csv"
}
big_with 4321 bk0010.9999999999999999,dup,1 | tr_write "$TR_TMP/big-dup.csv"
err=$(tr_tokenctl import "$TR_TMP/big-dup.csv" 2>&1)
like "$err" "big-dup.csv:4321: token id bk0010 already exists" \
    "an id twice in a big file: the line of the second"
is "$(bulk_rows)" 0 "a big file with an id twice adds nothing"
big_with 4999 imp002.9999999999999999,taken,1 |
    tr_write "$TR_TMP/big-taken.csv"
err=$(tr_tokenctl import "$TR_TMP/big-taken.csv" 2>&1)
like "$err" "big-taken.csv:4999: token id imp002 already exists" \
    "an id already in the database, late in a big file: its line"
is "$(bulk_rows)" 0 "a big file with a taken id adds nothing"
{ big_with 4321 bk0010.9999999999999999,dup,1 | head -n 4499
  echo 'not-a-db-token,x,1'; } | tr_write "$TR_TMP/big-two.csv"
err=$(tr_tokenctl import "$TR_TMP/big-two.csv" 2>&1)
like "$err" "big-two.csv:4321: token id bk0010 already exists" \
    "of a taken id and a bad line after it, the first is told"
unlike "$err" "big-two.csv:4500" "and only the first"
big_with 4900 'not-a-db-token,x,1' | tr_write "$TR_TMP/big-bad.csv"
err=$(tr_tokenctl import "$TR_TMP/big-bad.csv" 2>&1)
like "$err" "big-bad.csv:4900: the token is not of the form" \
    "a bad line late in a big file: its line"
is "$(bulk_rows)" 0 "a big file with a bad line adds nothing"
is "$(tr_tokenctl import "$TR_TMP/big.csv" 2>&1)" "5000 tokens imported" \
    "import a big file"
is "$(bulk_rows)" 5000 "every line of the big file is a row"
expect_user -t bk2500.0000000019797500 -n bulk2500 -u 2500 -g '["g1","g2"]' \
    "a token from the middle of the big file"
expect_user -t bk5000.0000000039595000 -n bulk5000 \
    "the last token of the big file"

# ---------------------------------------------------------------- ctl errors

tid "tokenreviewctl errors"
err=$(tr_tokenctl revoke NOPE 2>&1); rc=$?
like "$rc $err" '^1 .*bad token id "NOPE"' "bad id"
err=$(tr_tokenctl revoke zzzzzz 2>&1); rc=$?
like "$rc $err" '^1 .*no token with id zzzzzz' "unknown id"
err=$(tr_tokenctl show zzzzzz 2>&1); rc=$?
like "$rc $err" '^1 .*no token with id zzzzzz' "show unknown id"
err=$(tr_tokenctl create --user x --ttl 3x 2>&1); rc=$?
like "$rc $err" '^1 .*bad --ttl "3x"' "bad TTL 3x"
err=$(tr_tokenctl create 2>&1); rc=$?
like "$rc $err" '^1 .*--user is required' "create without a user"
err=$(tr_tokenctl frobnicate 2>&1); rc=$?
like "$rc $err" '^2 usage' "unknown subcommand"
if [ "$ENGINE" = sqlite ]; then
	KEPT=$(tr_tokenctl create --user kept 2>/dev/null)
	LATER=$(tr_tokenctl create --user later 2>/dev/null)
	kept_written()
	{
		[ "$(tr_tokenctl show "${KEPT%%.*}" | jq -r .use_count)" = 1 ]
	}
	# A sqlite3 session fed by a FIFO holds the write lock until told.
	mkfifo "$TR_TMP/lock.sql"
	lite "$DB" <"$TR_TMP/lock.sql" >"$TR_TMP/lock.out" 2>&1 &
	locker=$!
	exec {lockfd}>"$TR_TMP/lock.sql"
	printf '%s\n' 'BEGIN IMMEDIATE;' \
	    'UPDATE tokens SET description = description;' "SELECT 'held';" \
	    >&"$lockfd"
	tr_wait_until 10 grep -qx held "$TR_TMP/lock.out" ||
	    diag "the lock was not seen taken: $(cat "$TR_TMP/lock.out")"
	ok "reviews go on while another process holds the write lock" \
	    tr_is_user -t q8z1xk.4m0vaqgd7l2n9s1e
	ok "a token reviewed while the lock is held works" tr_is_user -t "$KEPT"
	err=$(tr_tokenctl revoke "${SHORT%%.*}" 2>&1); rc=$?
	like "$rc $err" '^1 .*locked' "a locked database is reported as such"
	ok "the writer fails to write its use count while the lock is held" \
	    tr_wait_until 10 grep -q '"tokendb_flush".*locked' "$TR_LOG"
	# The new generation's workers open the file while the lock is
	# held (as during a long import): they must not need it.
	expect_reload -w 10 "a reload while the lock is held succeeds"
	expect_user -t "$LATER" -n later "and its workers look tokens up"
	echo 'COMMIT;' >&"$lockfd"
	exec {lockfd}>&-
	wait "$locker"
	ok "the count was kept and is written once the lock is gone" \
	    tr_wait_until 5 kept_written
fi

# ---------------------------------------------------------------- under load

tid "tool writes while the daemon is under wrk load"
# wrk cannot present a client certificate: a second daemon on the same
# database takes a bearer token instead.  cache_ttl 0 makes every review
# a lookup, so each one meets the tool's writes in the database.
BEARER=b$(openssl rand -hex 16)
tr_config tdbl server.chain=tokendb server.workers=2 server.client_ca= \
    server.client_names= "server.client_token_file=$TR_TMP/tdbl/bearer" \
    static.file= log.level=warn "${DBKEYS[@]}" tokendb.cache_ttl=0
printf '%s' "$BEARER" | tr_write "$TR_DIR/bearer"
toks=()
for i in 1 2 3 4; do
	toks+=("$(tr_tokenctl create --user "wrkuser$i" 2>/dev/null)")
done
LOAD=${toks[0]}
{
	printf 'local tokens = {'
	printf '"%s", ' "${toks[@]}"
	printf '}\nlocal bearer = "%s"\n' "$BEARER"
	cat <<'LUA'
-- TokenReviews for the tokens above, at random.  response() counts every
-- answer that is not 200 with authenticated true and one of their users;
-- done() sums the counts of all threads (each runs its own Lua state).
local threads = {}
local reqs = {}
answers, bad = 0, 0

function setup(thread)
	table.insert(threads, thread)
end

function init(args)
	local h = { ["Content-Type"] = "application/json",
	    ["Authorization"] = "Bearer " .. bearer }
	for i, t in ipairs(tokens) do
		reqs[i] = wrk.format("POST", nil, h,
		    '{"apiVersion":"authentication.k8s.io/v1",' ..
		    '"kind":"TokenReview","spec":{"token":"' .. t .. '"}}')
	end
end

function request()
	return reqs[math.random(#reqs)]
end

function response(status, headers, body)
	answers = answers + 1
	if status ~= 200 or not body:find('"authenticated":true', 1, true) or
	    not body:find('"username":"wrkuser[1-4]"') then
		bad = bad + 1
	end
end

function done(summary, latency, requests)
	local n, b = 0, 0
	for _, t in ipairs(threads) do
		n = n + t:get("answers")
		b = b + t:get("bad")
	end
	local e = summary.errors
	io.write(string.format("requests %d answers %d bad %d errors %d\n",
	    summary.requests, n, b,
	    e.connect + e.read + e.write + e.status + e.timeout))
end
LUA
} >"$TR_TMP/tdbl/review.lua"
if tr_start tdbl; then
	wrk -t1 -c8 -d4s -s "$TR_TMP/tdbl/review.lua" "$TR_URL$TR_REVIEW_PATH" \
	    >"$TR_TMP/wrk.out" 2>&1 &
	wrkpid=$!
	sleep 0.2
	# Three loops of create, revoke and delete for as long as wrk runs,
	# each write noted "during" the load, "after" it, or "failed".
	note()
	{
		if [ "$1" != 0 ]; then
			echo failed
		elif tr_alive "$wrkpid"; then
			echo during
		else
			echo after
		fi
	}
	ctl_loop()
	{
		local k=0 t
		while tr_alive "$wrkpid" && [ "$k" -lt 20 ]; do
			k=$((k + 1))
			t=$(tr_tokenctl create --user "w$1-$k" --ttl 1h 2>>"$TR_TMP/ctl.err")
			note $?
			tr_tokenctl revoke "${t%%.*}" >/dev/null 2>>"$TR_TMP/ctl.err"
			note $?
			tr_tokenctl delete "${t%%.*}" >/dev/null 2>>"$TR_TMP/ctl.err"
			note $?
		done
	}
	pids=()
	for i in 1 2 3; do
		ctl_loop "$i" >"$TR_TMP/ctl.$i" &
		pids+=($!)
	done
	wait "$wrkpid"
	is "$?" 0 "wrk exits 0"
	wait "${pids[@]}"
	during=$(cat "$TR_TMP"/ctl.[123] | grep -c '^during$')
	failed=$(cat "$TR_TMP"/ctl.[123] | grep -c '^failed$')
	ok "at least 10 writes by tokenreviewctl during the load ($during)" \
	    tr_between "$during" 10 1e9
	is "$failed" 0 "every write by tokenreviewctl exits 0" ||
	    diag "$(cat "$TR_TMP/ctl.err")"
	# "requests N answers N bad N errors N"
	read -r -a W <<<"$(grep '^requests ' "$TR_TMP/wrk.out")"
	ok "over 100 reviews in 4 s (${W[1]:-none})" \
	    tr_between "${W[1]:-0}" 101 1e9
	is "answers ${W[3]:-?} bad ${W[5]:-?} errors ${W[7]:-?}" \
	    "answers ${W[1]:-} bad 0 errors 0" \
	    "every answer 200, authenticated, the right user; no socket error"
	diag "$(grep -E 'Latency|Requests/sec' "$TR_TMP/wrk.out")"
	# Under load the reviews of one pass of a worker's loop share one
	# SQLite read, at most 1 ms old: a token created before a review
	# starts is let in, one revoked before it is refused.  wrk keeps
	# the daemon busy until the three rounds are done.
	wrk -t1 -c8 -d60s -s "$TR_TMP/tdbl/review.lua" \
	    "$TR_URL$TR_REVIEW_PATH" >"$TR_TMP/wrk2.out" 2>&1 &
	wrkpid=$!
	sleep 0.2
	bearer_review()
	{
		TR_CLIENT=none tr_review v1 "$1" '' \
		    -H "Authorization: Bearer $BEARER" >/dev/null
		jq -r '.status.authenticated' <<<"$TR_BODY"
	}
	seen= under=0
	for i in 1 2 3; do
		t=$(tr_tokenctl create --user "rv$i" 2>>"$TR_TMP/ctl.err")
		seen+=$(bearer_review "$t")/
		tr_tokenctl revoke "${t%%.*}" >/dev/null 2>>"$TR_TMP/ctl.err"
		seen+="$(bearer_review "$t") "
		tr_alive "$wrkpid" && under=$((under + 1))
	done
	kill "$wrkpid" 2>/dev/null
	wait "$wrkpid" 2>/dev/null
	is "$seen" "$(printf 'true/false %.0s' 1 2 3)" \
	    "each review sees the create and the revoke before it"
	is "$under" 3 "all three rounds ran under wrk load"
	tr_stop
	is "$?" 0 "the daemon under load stops cleanly"
else
	fail "daemon tdbl starts"
fi
tr_use tdb

# ---------------------------------------------------------------- the rest

tid "usage counts, prune, metrics, logs"
BRIEF=$(tr_tokenctl create --user brief --ttl 1s 2>/dev/null)
sleep 1.3	# one flush interval, and BRIEF expires
# Reviews answered from the result cache never reach the backend.
is "$(tr_tokenctl show "${LOAD%%.*}" | jq -r '.use_count >= 1 and .last_used != null')" \
    true "use count and last use written in batches"
out=$(tr_tokenctl prune)
like "$out" '^[1-9][0-9]* expired tokens? deleted$' "prune deletes expired tokens"
is "$(sql "SELECT count(*) FROM tokens WHERE id IN ('past01', '${SHORT%%.*}', '${BRIEF%%.*}')")" \
    0 "the expired rows are gone"
ok "list -o json is JSON without secrets" sh -c \
    "'$TOKENREVIEWCTL' -c '$TR_CONF' token list -o json |
    jq -e 'length > 5 and all(.[]; has(\"secret\") | not)'"
tr_metrics
ok "lookups are counted" \
    tr_between "$(tr_metric tokenreviewd_tokendb_lookups_total)" 1 1e9
is "$(tr_metric tokenreviewd_tokendb_errors_total)" 0 "no database errors"
# les NAME: "LE COUNT" per bucket of histogram NAME, in order.
les()
{
	printf '%s\n' "$TR_METRICS" |
	    sed -n "s/^$1_bucket{le=\"\([^\"]*\)\"} \([0-9]*\)\$/\1 \2/p"
}
HIST=tokenreviewd_tokendb_lookup_duration_seconds
n=$(tr_metric tokenreviewd_tokendb_lookups_total)
like "$TR_METRICS" "# TYPE $HIST histogram" "lookup latency is a histogram"
is "$(tr_metric ${HIST}_count)" "$n" "its _count equals lookups_total ($n)"
is "$(tr_metric ${HIST}_bucket 'le="[+]Inf"')" "$n" \
    "its +Inf bucket holds every lookup"
is "$(les $HIST | cut -d' ' -f1 | xargs)" \
    "$(les tokenreviewd_review_duration_seconds | cut -d' ' -f1 | xargs)" \
    "its buckets are those of the review latency histogram"
is "$(les $HIST | awk 'p > $2 { bad = 1 } { p = $2 }
    END { print bad ? "no" : "yes" }')" yes "its buckets are cumulative"
is "$(awk -v a="$(tr_metric ${HIST}_sum)" \
    -v b="$(tr_metric tokenreviewd_tokendb_lookup_seconds_total)" \
    'BEGIN { print (a - b < 1e-5 && b - a < 1e-5) }')" 1 \
    "its _sum is lookup_seconds_total"
# This daemon has reviewed ALICE and the bootstrap token; the load test's
# token only the other one so far: it is reviewed here too first.
expect_user -t "$LOAD" -n wrkuser1 \
    "the load test's token authenticates here too"
for f in "$TR_LOG" "$TR_TMP/tdbl/log"; do
	ok "the log $f was written" test -s "$f"
	unlike "$(cat "$f")" "$ALICE_SECRET|4m0vaqgd7l2n9s1e|$(printf %s "$LOAD" | cut -d. -f2)" \
	    "no secret in the daemon log $(basename "$(dirname "$f")")/log"
done
ok "audit lines name the tokendb backend with the token fingerprint" \
    grep -qF "\"token_fp\":\"$(tr_fp "$ALICE")\"" "$TR_LOG"

# ---------------------------------------------------------------- outage

if [ "$ENGINE" = postgresql ]; then
	tid "a query that outlives [tokendb] query_timeout"
	SLOW=$(tr_tokenctl create --user slow 2>/dev/null)
	psql -X -q "$DBURL" -c "BEGIN; LOCK TABLE tokens IN ACCESS EXCLUSIVE
	    MODE; SELECT pg_sleep(4); COMMIT" >/dev/null 2>&1 &
	locker=$!
	tokens_locked()
	{
		[ "$(sql "SELECT count(*) FROM pg_locks WHERE granted AND
		    relation = 'tokens'::regclass AND
		    mode = 'AccessExclusiveLock'")" = 1 ]
	}
	tr_wait_until 5 tokens_locked || diag "the lock was not seen taken"
	tr_review v1 "$SLOW" >/dev/null
	took=$TR_TIME
	expect_no -e 'timed out' "a lookup blocked by a lock ends with an error"
	ok "after query_timeout, 1 s, not the 3.5 s of the lock ($took s)" \
	    tr_between "$took" 0.9 2.5
	wait "$locker"
	ok "its connection was replaced: the token works once the lock is gone" \
	    tr_wait_until 5 tr_is_user -t "$SLOW"

	tid "a reload while a lookup waits on the database"
	# The review holds the old generation; its answer comes inside the
	# pool's callback, which then goes on using the pool: the old chain
	# must outlive that callback (under the sanitizers a use after free
	# is a failure of its own).
	INFL=$(tr_tokenctl create --user inflight 2>/dev/null)
	tr_config inflight server.chain=tokendb static.file= server.workers=1 \
	    "tokendb.url=$DBURL" tokendb.query_timeout=20s cache.ttl=0 \
	    cache.negative_ttl=0
	tr_start inflight || bail "daemon inflight does not start"
	ok "the token works" tr_is_user -t "$INFL"
	psql_open inflight "$DBURL"
	echo 'BEGIN; LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE;' >&"$lockfd"
	tr_wait_until 10 tokens_locked || diag "the lock was not seen taken"
	{ tr_review v1 "$INFL"; } >"$TR_TMP/inflight.out" &
	reviewer=$!
	lookup_waits()
	{
		[ "$(sql "SELECT count(*) FROM pg_locks WHERE NOT granted AND
		    relation = 'tokens'::regclass")" -ge 1 ]
	}
	ok "its lookup waits for the lock" tr_wait_until 10 lookup_waits
	expect_reload -l -w 10 "the daemon reloads meanwhile"
	echo 'COMMIT;' >&"$lockfd"
	exec {lockfd}>&-
	wait "$reviewer"
	tr_wait_exit "$locker" 5
	TR_BODY=$(sed -n 1p "$TR_TMP/inflight.out")
	TR_CODE=$(sed -n 2p "$TR_TMP/inflight.out")
	expect_user -n inflight "the waiting review is answered by the old generation"
	expect_user -t "$INFL" -n inflight "and the next by the new one"
	tr_stop
	is "$?" 0 "that daemon stops cleanly"

	tid "a reload while the database hangs does not hold up the worker"
	# The old generation's last use counts go out from another thread:
	# with the server stopped (connections queue in its backlog and are
	# never answered), the worker answers a static token at once.
	HUNG=$(tr_tokenctl create --user hung 2>/dev/null)
	tr_config stall server.chain="static tokendb" server.workers=1 \
	    "tokendb.url=$DBURL" tokendb.query_timeout=5s \
	    tokendb.flush_interval=1h tokendb.cache_ttl=0
	tr_tokens 'static1,sam,1'
	tr_start stall || bail "daemon stall does not start"
	ok "a token of the database works" tr_is_user -t "$HUNG"
	read -r postmaster <"$PGDIR/data/postmaster.pid"
	kill -STOP "$postmaster"
	tr_reload -l -w 10
	tr_review v1 static1 >/dev/null
	took=$TR_TIME
	kill -CONT "$postmaster"
	expect_user -n sam "a static token meanwhile"
	ok "... answered at once ($took s), not after the 5 s connect timeout" \
	    tr_between "$took" 0 1
	hung_written()
	{
		[ "$(tr_tokenctl show "${HUNG%%.*}" | jq -r .use_count)" = 1 ]
	}
	ok "the old generation's use count is written once the server answers" \
	    tr_wait_until 10 hung_written
	tr_stop
	is "$?" 0 "that daemon stops cleanly"
	tr_use tdb

	tid "a failed lookup in a pipelined batch: the lookups it aborted are sent again"
	# One worker with one connection: a lookup of the user "slow" waits
	# on an advisory lock the test holds, so the lookups that come
	# meanwhile queue and go out together, one batch behind it, once the
	# lock is let go.  A lookup of a user "bad..." raises an error: it
	# aborts the lookups after it in its batch, which must be sent again
	# and answered as if alone.  The table is behind a view that runs a
	# function on the row a lookup finds.
	sql "CREATE DATABASE batch" >/dev/null
	BATCHURL=${DBURL%/*}/batch
	tr_config batch server.chain=tokendb static.file= server.workers=1 \
	    server.review_timeout=60s "tokendb.url=$BATCHURL" \
	    tokendb.pool_size=1 tokendb.query_timeout=60s \
	    tokendb.flush_interval=1h tokendb.cache_ttl=0 cache.ttl=0 \
	    cache.negative_ttl=0
	BGOOD=() BBAD=()
	BSLOW=$(tr_tokenctl create --user slow 2>/dev/null)
	for i in 1 2 3 4 5 6 7 8 9 10; do
		BGOOD+=("$(tr_tokenctl create --user "good$i" 2>/dev/null)")
	done
	for i in 1 2; do
		BBAD+=("$(tr_tokenctl create --user "bad$i" 2>/dev/null)")
	done
	psql -X -q -v ON_ERROR_STOP=1 "$BATCHURL" >/dev/null 2>&1 <<-'SQL' ||
		ALTER TABLE tokens RENAME TO tokens_stored;
		CREATE FUNCTION batch_user(u text) RETURNS text
		    LANGUAGE plpgsql STABLE AS $f$
		BEGIN
			IF u = 'slow' THEN
				PERFORM pg_advisory_xact_lock_shared(4242);
			ELSIF u LIKE 'bad%' THEN
				RAISE EXCEPTION 'the lookup of % fails', u;
			ELSIF u LIKE 'good%' THEN
				RAISE LOG 'batch lookup of %', u;
			END IF;
			RETURN u;
		END $f$;
		CREATE VIEW tokens AS SELECT id, secret_hash,
		    batch_user(username) AS username, uid, groups, extra,
		    description, usages, bootstrap, revoked, created, expires,
		    uses_left, last_used, use_count FROM tokens_stored;
	SQL
	    bail "could not set up the batch database"
	tr_start batch || bail "daemon batch does not start"
	expect_user -t "${BGOOD[0]}" -n good1 "a token behind the view works"
	tr_review v1 "${BBAD[0]}" >/dev/null
	expect_no -e 'token database query failed' \
	    "a lookup that raises an error, alone: not authenticated, status.error"
	psql_open batch "$BATCHURL"
	echo 'SELECT pg_advisory_lock(4242);' >&"$lockfd"
	advisory_waits()
	{
		[ "$(psql -X -A -t "$BATCHURL" -c "SELECT count(*) FROM pg_locks
		    WHERE locktype = 'advisory' AND objid = 4242 AND
		    $1 granted")" -ge 1 ]
	}
	tr_wait_until 10 advisory_waits "" || diag "the lock was not seen taken"
	# batch_review N TOKEN: review TOKEN in the background, its answer
	# in $TR_TMP/batch/N.out and curl's trace in N.trace; the slow one
	# waits as long as the others take to start.
	batch_review()
	{
		{ TR_CURL_TIMEOUT=60 tr_review v1 "$2" "" \
		    --trace-ascii "$TR_TMP/batch/$1.trace"
		} >"$TR_TMP/batch/$1.out" &
		BPIDS+=($!)
	}
	# batch_sent N...: those reviews sent their request bodies.
	batch_sent()
	{
		local n
		for n in "$@"; do
			grep -qs '^=> Send data' "$TR_TMP/batch/$n.trace" ||
			    return 1
		done
	}
	BPIDS=()
	batch_review slow "$BSLOW"
	ok "the lookup of slow waits on the lock" \
	    tr_wait_until 20 advisory_waits NOT
	# One after the other, each sent before the next connects: the
	# worker reads them, and queues their lookups, in this order.
	pglog_at=$(wc -l <"$PGDIR/log")
	sent=1
	for n in bad1 good1 good2 good3 good4 good5 bad2 good6 good7 good8 \
	    good9 good10; do
		case $n in
		bad*) batch_review "$n" "${BBAD[${n#bad} - 1]}" ;;
		*) batch_review "$n" "${BGOOD[${n#good} - 1]}" ;;
		esac
		tr_wait_until 20 batch_sent "$n" || sent=0
	done
	is "$sent" 1 "the reviews are all sent, in turn, while slow's lookup waits"
	# The worker reads each request as it comes, a moment later: they
	# are queued now, behind slow's lookup.
	sleep 2
	echo 'SELECT pg_advisory_unlock(4242);' >&"$lockfd"
	exec {lockfd}>&-
	for i in "${BPIDS[@]}"; do
		wait "$i"
	done
	tr_wait_exit "$locker" 5
	# batch_answer N: TR_BODY and TR_CODE of review N.
	batch_answer()
	{
		TR_BODY=$(sed -n 1p "$TR_TMP/batch/$1.out")
		TR_CODE=$(sed -n 2p "$TR_TMP/batch/$1.out")
	}
	batch_answer slow
	expect_user -n slow "the review that held the connection authenticates"
	n=0 why=()
	for i in 1 2 3 4 5 6 7 8 9 10; do
		batch_answer "good$i"
		if tr_is_user -n "good$i"; then
			n=$((n + 1))
		else
			why+=("good$i:" "${TR_WHY[@]}")
		fi
	done
	is "$n" 10 "10 lookups behind a failed one, aborted by it, sent again: 10 x OK(goodN)" ||
	    diag "${why[@]}"
	# bad1 aborts the 11 lookups after it, bad2 the 5 after it when they
	# go again: each time, those go out again in the order they came.
	is "$(tail -n +"$((pglog_at + 1))" "$PGDIR/log" |
	    sed -n 's/.*batch lookup of \(good[0-9]*\).*/\1/p' | tr '\n' ' ')" \
	    "good1 good2 good3 good4 good5 good6 good7 good8 good9 good10 " \
	    "the aborted lookups are sent again in the order they came"
	for i in 1 2; do
		batch_answer "bad$i"
		expect_no -e 'token database query failed' \
		    "bad$i in the batch: not authenticated, status.error as alone"
	done
	is "$(grep -c '"event":"tokendb_lookup"' "$TR_LOG")" 3 \
	    "only the failed lookups are logged (bad1 alone, bad1 and bad2 in the batch)"
	tr_metrics
	is "$(tr_metric tokenreviewd_tokendb_errors_total)" 3 \
	    "tokenreviewd_tokendb_errors_total counts those 3 and no aborted lookup"
	expect_user -t "${BGOOD[9]}" -n good10 "the connection goes on serving lookups"
	tr_stop
	is "$?" 0 "that daemon stops cleanly"
	tr_use tdb

	tid "PostgreSQL stopped and started under the daemon"
	LATE=$(tr_tokenctl create --user late 2>/dev/null)
	pg_stop
	tr_review v1 "$LATE" >/dev/null
	took=$TR_TIME
	expect_no -e 'token database unreachable' \
	    "database down: HTTP 200, authenticated false, status.error"
	ok "the answer came within 1 s ($took s)" tr_between "$took" 0 1
	tr_review v1 "$LATE" >/dev/null
	took=$TR_TIME
	ok "again, while retrying with backoff, within 1 s ($took s)" \
	    tr_between "$took" 0 1
	ok "and with the error again" \
	    tr_jq '.status.error // "" | test("unreachable")'
	expect_user -t static1 -n sam "static token while the database is down"
	err=$(tr_tokenctl list 2>&1); rc=$?
	like "$rc $err" '^1 .*unreachable' "tokenreviewctl says the database is unreachable"
	sleep 1.2	# [tokendb] ready_grace
	tr_review v1 "$LATE" >/dev/null
	tr_req GET /readyz
	is "$TR_CODE" 503 "/readyz is 503 once the database was down for ready_grace"
	pg_start || bail "PostgreSQL did not start again"
	t0=$(tr_now)
	ok "reviews work again without restarting the daemon" \
	    tr_wait_until 10 tr_is_user -t "$LATE"
	diag "back after $(tr_elapsed "$t0") s"
	tr_req GET /readyz
	is "$TR_CODE" 200 "/readyz is 200 again"

	tid "the daemon starts while PostgreSQL is down"
	pg_stop
	tr_config down server.chain="static tokendb" "${DBKEYS[@]}"
	tr_tokens 'static1,sam,1'
	out=$("$TOKENREVIEWD" -n -c "$TR_CONF" 2>&1)
	like "$out" 'configuration OK' "tokenreviewd -n does not connect"
	tr_config badurl server.chain="static tokendb" \
	    'tokendb.url=postgresql://u:s3cret@[bad'
	tr_tokens 'static1,sam,1'
	out=$("$TOKENREVIEWD" -n -c "$TR_CONF" 2>&1); rc=$?
	is "$rc" 1 "tokenreviewd -n fails on a URL that does not parse"
	like "$out" 'tokenreviewd\.conf:[0-9]+: \[tokendb\] url: bad URL' \
	    "and names the key"
	unlike "$out" s3cret "without the password in it"
	tr_use down
	if tr_start down; then
		pass "the daemon starts with PostgreSQL stopped"
	else
		fail "the daemon starts with PostgreSQL stopped"
		done_testing
	fi
	tr_review v1 abcdef.0123456789abcdef >/dev/null
	took=$TR_TIME
	expect_no -e 'token database unreachable' \
	    "a token-shaped token: status.error \"token database unreachable\""
	ok "at once ($took s)" tr_between "$took" 0 1
	expect_user -t static1 -n sam "a static token is accepted"
	expect_reload -l "a reload with the database down succeeds"
	sleep 1.1	# [tokendb] ready_grace from the reload
	tr_req GET /readyz
	is "$TR_CODE" 503 "/readyz is 503 once ready_grace has passed"
	pg_start || bail "PostgreSQL did not start again"
	FRESH=$(tr_tokenctl create --user fresh 2>/dev/null)
	t0=$(tr_now)
	ok "once PostgreSQL is up, its token is accepted without a restart" \
	    tr_wait_until 10 tr_is_user -t "$FRESH"
	diag "accepted after $(tr_elapsed "$t0") s"
	tr_req GET /readyz
	is "$TR_CODE" 200 "/readyz is 200"
	ok "the schema check is logged" tr_wait_until 5 \
	    grep -q '"event":"tokendb_schema".*schema version 2' "$TR_LOG"
	tr_stop
	is "$?" 0 "that daemon stops cleanly"

	tid "two daemons race to create the schema"
	sql "CREATE DATABASE race" >/dev/null
	RACEURL=${DBURL%/*}/race
	# Hold the migration's advisory lock in a psql session fed by a
	# FIFO: both daemons' checks queue on it, and a review that comes
	# meanwhile waits for the check.  The lock is let go 1.5 s after the
	# review was sent, however long the daemons took to start.
	psql_open race "$RACEURL"
	echo 'SELECT pg_advisory_lock(7263206);' >&"$lockfd"
	advisory_held()
	{
		[ "$(psql -X -A -t "$RACEURL" -c "SELECT count(*) FROM pg_locks
		    WHERE locktype = 'advisory' AND granted")" = 1 ]
	}
	tr_wait_until 10 advisory_held || diag "the lock was not seen taken"
	for n in race1 race2; do
		tr_config "$n" server.chain="static tokendb" server.workers=4 \
		    "tokendb.url=$RACEURL" tokendb.query_timeout=20s
		tr_tokens 'static1,sam,1'
		tr_start "$n" || bail "daemon $n does not start"
	done
	{ tr_review v1 abcdef.0123456789abcdef; echo "$TR_TIME"; } \
	    >"$TR_TMP/race.out" &
	reviewer=$!
	sleep 1.5
	echo 'SELECT pg_advisory_unlock(7263206);' >&"$lockfd"
	exec {lockfd}>&-
	wait "$reviewer"
	TR_BODY=$(sed -n 1p "$TR_TMP/race.out")
	TR_CODE=$(sed -n 2p "$TR_TMP/race.out")
	took=$(sed -n 3p "$TR_TMP/race.out")
	expect_no "a review during the check waits for it, then is refused without error"
	ok "it waited for the lock ($took s)" tr_between "$took" 0.3 15
	tr_wait_exit "$locker" 5
	for n in race1 race2; do
		ok "$n checked the schema" tr_wait_until 5 grep -q \
		    '"event":"tokendb_schema".*schema version 2' "$TR_TMP/$n/log"
	done
	unlike "$(grep -h '"level":"\(warn\|error\)","event":"tokendb_schema"' \
	    "$TR_TMP"/race?/log)" . "with no failed attempt"
	is "$(psql -X -A -t "$RACEURL" -c 'SELECT count(*), max(version)
	    FROM schema_version')" "1|2" "one schema, version 2"
	RACE=$(tr_tokenctl create --user racer 2>/dev/null)
	ok "a token in it is accepted by the one" tr_is_user -t "$RACE"
	tr_use race1
	ok "and by the other" tr_is_user -t "$RACE"
	for n in race1 race2; do
		tr_use "$n"
		tr_stop
		is "$?" 0 "$n stops cleanly"
	done

	tid "a schema newer than ours"
	sql "CREATE DATABASE newer" >/dev/null
	psql -X -q "${DBURL%/*}/newer" -c "CREATE TABLE schema_version
	    (version integer NOT NULL); INSERT INTO schema_version VALUES (3)"
	tr_config newer server.chain="static tokendb" \
	    "tokendb.url=${DBURL%/*}/newer" tokendb.ready_grace=30s
	tr_tokens 'static1,sam,1'
	tr_start newer || bail "the daemon does not start on a newer schema"
	ok "the newer schema is logged as an error" tr_wait_until 5 \
	    grep -q '"level":"error","event":"tokendb_schema".*version 3' "$TR_LOG"
	tr_review v1 abcdef.0123456789abcdef >/dev/null
	ok "reviews answer status.error naming the version" tr_jq \
	    '.status.authenticated == false and (.status.error |
	    test("schema version 3 is newer"))'
	expect_user -t static1 -n sam "a static token is accepted"
	tr_req GET /readyz
	is "$TR_CODE" 503 "/readyz is 503 at once (within ready_grace)"
	ok "the schema was left alone" test "$(psql -X -A -t "${DBURL%/*}/newer" \
	    -c 'SELECT version FROM schema_version')" = 3
	out=$(tr_tokenctl list 2>&1)
	like "$out" 'schema version 3 is newer than this program knows \(2\)' \
	    "tokenreviewctl refuses the newer schema too"
	tr_stop
	is "$?" 0 "that daemon stops cleanly"
	sql "CREATE DATABASE bare" >/dev/null
	tr_config bare "tokendb.url=${DBURL%/*}/bare"
	out=$(tr_tokenctl list 2>&1)
	is "$(printf '%s\n' "$out" | wc -l)" 1 \
	    "tokenreviewctl token list on an empty database: no token"
	is "$(psql -X -A -t "${DBURL%/*}/bare" -c 'SELECT count(*), max(version)
	    FROM schema_version')" "1|2" "... and the schema made (version 2)"
	tr_tokenctl create --user first >/dev/null 2>&1
	out=$(tr_tokenctl list 2>&1)
	like "$out" 'first' "a token created there is listed"

	# bouncer_start NAME SETTING...: a pgbouncer in transaction mode (each
	# transaction gets some server session) in $PGDIR/NAME, run as
	# postgres; sets BPID and BURL.
	bouncer_start()
	{
		local d=$PGDIR/$1 port
		shift
		mkdir -p "$d"
		port=$(tr_free_port)
		printf '"tokenreviewd" ""\n' >"$d/users.txt"
		{
			printf '%s\n' '[databases]' \
			    "postgres = host=127.0.0.1 port=$PGPORT dbname=postgres" \
			    '[pgbouncer]' 'listen_addr = 127.0.0.1' \
			    "listen_port = $port" 'unix_socket_dir =' \
			    'auth_type = trust' "auth_file = $d/users.txt" \
			    'pool_mode = transaction' "logfile = $d/log" "$@"
		} >"$d/pgbouncer.ini"
		chown -R postgres: "$d"
		setpriv --reuid postgres --regid postgres --clear-groups \
		    pgbouncer "$d/pgbouncer.ini" >"$d/out" 2>&1 &
		BPID=$!
		BURL=postgresql://tokenreviewd@127.0.0.1:$port/postgres
		tr_wait_until 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port"
	}
	# pooled_reviews N: N reviews of POOLED by the current daemon, OK ones.
	pooled_reviews()
	{
		local i n=0
		for i in $(seq 1 "$1"); do
			tr_review v1 "$POOLED" >/dev/null
			tr_jq '.status.user.username == "pooled"' && n=$((n + 1))
		done
		echo "$n"
	}

	tid "through a pooler that resets sessions (prepared statements vanish)"
	# pgbouncer in transaction mode hands every transaction a server
	# session and DISCARD ALLs it afterwards: the lookup prepared in
	# one transaction is gone in the next.
	if ! command -v pgbouncer >/dev/null; then
		skip "lookups through pgbouncer" "pgbouncer not installed"
	else
		bouncer_start bouncer 'server_reset_query = DISCARD ALL' \
		    'server_reset_query_always = 1' 'default_pool_size = 2'
		tr_use tdb
		POOLED=$(tr_tokenctl create --user pooled 2>/dev/null)
		tr_config bouncer server.workers=1 server.chain=tokendb \
		    "tokendb.url=$BURL" cache.ttl=0 cache.negative_ttl=0
		tr_start bouncer || bail "the daemon does not start behind pgbouncer"
		is "$(pooled_reviews 5)" 5 "5 reviews through pgbouncer: 5 x OK(pooled)" ||
		    diag "$TR_BODY" "$(tail -n 5 "$PGDIR/bouncer/log" 2>&1)"
		is "$(grep -c '"event":"pgpool_prepare"' "$TR_LOG")" 1 \
		    "... one warning: statements go unprepared from then on"
		tr_stop
		is "$?" 0 "that daemon stops cleanly"
		kill "$BPID" 2>/dev/null
		wait "$BPID" 2>/dev/null

		tid "through a pooler that shares sessions (prepared statements stay)"
		# pgbouncer's default: no reset in transaction mode.  With one
		# server session, the second daemon finds the first one's
		# statement there when it prepares its own.
		bouncer_start shared 'default_pool_size = 1'
		for n in shared1 shared2; do
			tr_config "$n" server.workers=1 server.chain=tokendb \
			    "tokendb.url=$BURL" cache.ttl=0 cache.negative_ttl=0
			tr_start "$n" || bail "daemon $n does not start"
			is "$(pooled_reviews 3)" 3 "$n: 3 reviews through one shared session: 3 x OK(pooled)" ||
			    diag "$TR_BODY"
		done
		tr_use shared1
		is "$(pooled_reviews 3)" 3 "shared1 again: 3 x OK(pooled)" ||
		    diag "$TR_BODY"
		is "$(cat "$TR_TMP"/shared?/log | grep -c '"event":"pgpool_prepare"')" 1 \
		    "one warning, by the daemon that met the other's statement"
		# tokenreviewctl's import prepares its INSERT in its transaction:
		# through the shared session, a second import must not meet the
		# first one's statement.
		for f in 1 2; do
			printf 'shr%03d.%016d,shared%d,%d\n' "$f" "$f" "$f" "$f" |
			    tr_write "$TR_TMP/shared$f.csv"
			is "$("$TOKENREVIEWCTL" -c "$TR_TMP/shared1/tokenreviewd.conf" \
			    token import "$TR_TMP/shared$f.csv" 2>&1)" \
			    "1 token imported" "import $f through the shared session"
		done
		tr_stop
		tr_use shared2
		tr_stop
		kill "$BPID" 2>/dev/null
		wait "$BPID" 2>/dev/null
		tr_use tdb
		is "$(grep -c '"event":"pgpool_prepare"' "$TR_LOG")" 0 \
		    "straight to PostgreSQL, prepared statements stay (no warning)"
	fi
	tr_use tdb
fi

# ---------------------------------------------------------------- the file

# fresh_config: a daemon whose SQLite file is $FRESH_DB, run as nobody
# when the tests run as root.
fresh_config()
{
	tr_config fresh server.chain="static tokendb" ${FRESH_USER:+server.user=nobody} \
	    "tokendb.path=$FRESH_DB" tokendb.flush_interval=200ms
	tr_tokens 'static1,sam,1'
}

if [ "$ENGINE" = sqlite ]; then
	tid "checks do not create the database file; the daemon does"
	tr_stop
	is "$?" 0 "daemon stops cleanly"
	FRESH_DB=$TR_TMP/fresh/db/tokens.db
	FRESH_USER=
	[ "$(id -u)" = 0 ] && id -u nobody >/dev/null 2>&1 && FRESH_USER=nobody
	fresh_config
	mkdir "$TR_DIR/db"
	out=$("$TOKENREVIEWD" -n -c "$TR_CONF" 2>&1); rc=$?
	is "$rc" 0 "tokenreviewd -n accepts a config whose database is missing"
	like "$out" 'tokens\.db does not exist yet: it will be created on first start' \
	    "and says that it will be created on first start"
	out=$("$TOKENREVIEWCTL" -c "$TR_CONF" check-config 2>&1); rc=$?
	is "$rc" 0 "so does tokenreviewctl check-config"
	like "$out" 'created on first start' "and says so too"
	ok "neither made the file" test ! -e "$FRESH_DB"
	tr_config nodir server.chain="static tokendb" \
	    "tokendb.path=$TR_TMP/nodir/none/tokens.db"
	tr_tokens 'static1,sam,1'
	out=$("$TOKENREVIEWD" -n -c "$TR_CONF" 2>&1); rc=$?
	is "$rc" 1 "tokenreviewd -n fails when the file's directory is missing"
	like "$out" '\[tokendb\] path: .*/none: no such directory' \
	    "and says which one"

	if [ -z "$FRESH_USER" ]; then
		skip "a file the daemon makes as root is [server] user's" \
		    "needs root and a user nobody"
	else
		# The directory is the daemon user's, as a state directory is.
		chmod 711 "$TR_TMP" "$TR_TMP/fresh"
		chown nobody "$TR_TMP/fresh/db"
		chmod 700 "$TR_TMP/fresh/db"
		tr_use tdb
		fresh_config
		tr_start fresh || bail "the daemon does not start as root with user"
		is "$(stat -c %U:%a "$FRESH_DB")" nobody:600 \
		    "the daemon started as root makes the file nobody's, mode 0600"
		is "$(stat -c %U "$FRESH_DB-wal" "$FRESH_DB-shm" | sort -u)" nobody \
		    "and its -wal and -shm"
		FRESH=$(tr_tokenctl create --user fresh 2>/dev/null)
		ok "a token created in it (by root) is accepted" tr_is_user -t "$FRESH"
		ok "its use is written by the daemon running as nobody" \
		    tr_wait_until 5 sh -c "'$TOKENREVIEWCTL' -c '$TR_CONF' token show \
		    ${FRESH%%.*} | jq -e '.use_count >= 1'"
		unlike "$(grep tokendb_flush "$TR_LOG")" . "no failed flush in the log"
		is "$(stat -c %U "$FRESH_DB")" nobody "tokenreviewctl left the owner alone"
		tr_stop
		is "$?" 0 "that daemon stops cleanly"

		rm -f "$FRESH_DB" "$FRESH_DB-wal" "$FRESH_DB-shm"
		FRESH=$(tr_tokenctl create --user fresh2 2>/dev/null)
		is "$(stat -c %U "$FRESH_DB")" nobody \
		    "tokenreviewctl token create as root makes the file nobody's too"

		rm -f "$FRESH_DB" "$FRESH_DB-wal" "$FRESH_DB-shm"
		lite "$FRESH_DB" 'CREATE TABLE other (x)'
		tr_start fresh || bail "the daemon does not start on an existing file"
		is "$(stat -c %U "$FRESH_DB")" root "an existing file is never chowned"
		tr_stop
		is "$?" 0 "that daemon stops cleanly"
	fi
else
	tr_stop
	is "$?" 0 "daemon stops cleanly"
fi

# ---------------------------------------------------------------- use counts

# A flush interval of an hour: only a reload (the old generation's last
# batch) and SIGTERM (the last batch of all) can write the counts here.
# cache_ttl 0 makes every review a lookup, so the counts are exact.
tid "use counts: written at reload and at SIGTERM"
tr_config tdbw server.chain="static tokendb" server.workers=2 \
    "${DBKEYS[@]}" tokendb.flush_interval=1h tokendb.cache_ttl=0
tr_tokens 'static1,sam,1'
COUNTED=$(tr_tokenctl create --user counted 2>/dev/null)
use_count()
{
	tr_tokenctl show "${COUNTED%%.*}" | jq -r .use_count
}
count_is()
{
	[ "$(use_count)" = "$1" ]
}
if tr_start tdbw; then
	n=0
	for i in 1 2 3 4 5; do
		tr_is_user -t "$COUNTED" && n=$((n + 1))
	done
	is "$n/$(use_count)" 5/0 "5 reviews, nothing written within the hour"
	expect_reload "SIGHUP reloads"
	ok "the old generation's counts are written after the reload" \
	    tr_wait_until 5 count_is 5
	is "$(use_count)" 5 "use count 5 after the reload"
	for i in 1 2 3; do
		tr_is_user -t "$COUNTED" && n=$((n + 1))
	done
	tr_stop
	is "$?" 0 "daemon stops cleanly on SIGTERM"
	is "$n/$(use_count)" 8/8 "SIGTERM writes the last batch: use count 8"
	unlike "$(cat "$TR_LOG")" "not written|tokendb_flush" \
	    "no failed write of use counts in the log"
else
	fail "daemon tdbw starts"
fi

# Two batches of use counts that hold the same tokens must not each wait
# for a row the other has locked (the server would fail one after its
# deadlock_timeout, 1 s, and the reviews pipelined behind it would wait as
# long).  A batch locks its rows sorted by id before it changes any: with
# the first of 40 rows held elsewhere, it waits there holding none of the
# other 39.  Locked in the batch's own order, it would hold every row it
# had reached first.  The 40 counts go in one batch: the flush interval
# is an hour, and a reload hands them to the writer thread at once.
if [ "$ENGINE" = postgresql ]; then
	tid "a batch of use counts locks its rows in the order of their ids"
	tr_config order server.chain=tokendb server.workers=1 \
	    "tokendb.url=$DBURL" tokendb.query_timeout=20s \
	    tokendb.flush_interval=1h tokendb.cache_ttl=0
	ORDER=()
	for i in $(seq 40); do
		ORDER+=("$(tr_tokenctl create --user "order$i" 2>/dev/null)")
	done
	ids=$(printf "'%s'," "${ORDER[@]%%.*}")
	ids=${ids%,}
	first=$(sql "SELECT min(id) FROM tokens WHERE id IN ($ids)")
	all_counted()
	{
		[ "$(sql "SELECT count(*) FROM tokens WHERE id IN ($ids) AND
		    use_count = 1")" = 40 ]
	}
	if tr_start order; then
		psql_open order "$DBURL"
		echo "BEGIN; SELECT 1 FROM tokens WHERE id = '$first' FOR UPDATE;" \
		    >&"$lockfd"
		row_locked()
		{
			[ "$(sql "SELECT count(*) FROM (SELECT id FROM tokens
			    WHERE id = '$first' FOR UPDATE SKIP LOCKED) s")" = 0 ]
		}
		tr_wait_until 10 row_locked || diag "the row was not seen locked"
		n=0
		for t in "${ORDER[@]}"; do
			tr_is_user -t "$t" && n=$((n + 1))
		done
		is "$n" 40 "40 tokens reviewed once each"
		expect_reload "a reload hands their counts to the writer"
		batch_waits()
		{
			[ "$(sql "SELECT count(*) FROM pg_locks WHERE NOT granted
			    AND locktype = 'transactionid'")" -ge 1 ]
		}
		ok "their batch waits for the first row" \
		    tr_wait_until 10 batch_waits
		is "$(sql "SELECT count(*) FROM (SELECT id FROM tokens WHERE
		    id IN ($ids) FOR UPDATE SKIP LOCKED) s")" 39 \
		    "and holds none of the other 39"
		echo 'COMMIT;' >&"$lockfd"
		exec {lockfd}>&-
		tr_wait_exit "$locker" 5
		ok "once the row is free the batch is written: 40 use counts of 1" \
		    tr_wait_until 10 all_counted
		unlike "$(cat "$TR_LOG")" "not written|tokendb_flush" \
		    "no failed write of use counts in the log"
		tr_stop
		is "$?" 0 "that daemon stops cleanly"
	else
		fail "daemon order starts"
	fi
fi

# The pool alone (tests/pgprobe): a write that takes 2 s and a read
# queued behind it in the same turn of the loop.  A write ends its batch,
# so the read goes to the pool's other connection and is answered first;
# sent in the write's batch, it would wait for the write.
if [ "$ENGINE" = postgresql ]; then
	tid "a read queued behind a write does not wait for it"
	probe=$(timeout 30 "$top_builddir/tests/pgprobe" "$DBURL" 2 2>&1)
	is "$(printf '%s\n' "$probe" | cut -d' ' -f1 | paste -sd' ')" \
	    "read write" "the read is answered before the write"
	unlike "$probe" "error" "and both without error"
fi

# ---------------------------------------------------------------- unusable

# The table a lookup needs is gone from under a running daemon (renamed by
# hand): reviews of database tokens answer with an error, never a guess,
# the other sources go on, and all is well again once it is back.
if [ "$ENGINE" = sqlite ]; then
	tid "the token database stops answering lookups"
	tr_config gone server.chain="static tokendb" \
	    "tokendb.path=$TR_TMP/gone/tokens.db" tokendb.cache_ttl=0
	tr_tokens 'static1,sam,1'
	GONE=$(tr_tokenctl create --user gone 2>/dev/null)
	if tr_start gone; then
		ok "a token of the database authenticates" tr_is_user -t "$GONE"
		lite "$TR_DIR/tokens.db" 'ALTER TABLE tokens RENAME TO tokens_away'
		tr_review v1 "$GONE" >/dev/null
		expect_no -e 'token database unavailable' \
		    "then: not authenticated, status.error says the token database is unavailable"
		like "$(grep '"tokendb_lookup"' "$TR_LOG")" 'no such table' \
		    "a log line says why the lookup failed"
		tr_metrics
		ok "tokenreviewd_tokendb_errors_total counts it" \
		    tr_between "$(tr_metric tokenreviewd_tokendb_errors_total)" 1 1e9
		ok "the static source still answers" tr_is_user -t static1
		lite "$TR_DIR/tokens.db" 'ALTER TABLE tokens_away RENAME TO tokens'
		ok "the token authenticates again once the table is back" \
		    tr_is_user -t "$GONE"
		unlike "$(cat "$TR_LOG")" "${GONE#*.}" "no secret in that daemon's log"
		tr_stop
		is "$?" 0 "that daemon stops cleanly"
	else
		fail "daemon gone starts"
	fi
fi
done_testing
