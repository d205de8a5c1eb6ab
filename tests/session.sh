#!/usr/bin/env bash
# Copyright 2026 The tokenreviewd Authors
# SPDX-License-Identifier: Apache-2.0
#
# Login sessions in the token database, on both engines: SQLite, then
# PostgreSQL on a server started here (tests/pg-lib.sh), when it can be.
# Only the daemon adds sessions, so rows are written here with sqlite3
# and psql as /login writes them; tokenreviewctl session lists them (all,
# one user's, as JSON), revokes one or all of a user's, and prunes the
# expired ones, and another process sees a revocation at once.  A
# database of schema version 1 (before sessions) is upgraded in place and
# keeps its tokens (made with the SQL of version 1 or, when
# TR_OLD_TOKENREVIEWCTL names the tokenreviewctl of that version, by it).
# With PostgreSQL, the unit test of sessions
# (tests/unit/test_session) also runs against the server: the worker's
# asynchronous check and add.

[ -n "${BASH_VERSION:-}" ] || exec bash "$0" "$@"
. "$(dirname "$0")/lib.sh"

tr_need jq sqlite3
tr_need_binaries
"$TOKENREVIEWCTL" -h | grep -q 'session list' ||
    tr_skip_all "tokenreviewctl built without the token database"
tr_tmpdir
tr_certs

. "$(dirname "$0")/pg-lib.sh"

NOW=$(date +%s)

session_cmd()
{
	"$TOKENREVIEWCTL" -c "$TR_CONF" session "$@"
}

# The schema of version 1, as the program before sessions made it.
V1_SCHEMA="CREATE TABLE schema_version (version integer NOT NULL);
INSERT INTO schema_version VALUES (1);
CREATE TABLE tokens (id text PRIMARY KEY NOT NULL, secret_hash BYTES NOT NULL,
  username text NOT NULL, uid text, groups text NOT NULL DEFAULT '[]',
  extra text NOT NULL DEFAULT '{}', description text NOT NULL DEFAULT '',
  usages text NOT NULL DEFAULT 'authentication',
  bootstrap integer NOT NULL DEFAULT 0, revoked integer NOT NULL DEFAULT 0,
  created BIG NOT NULL, expires BIG, uses_left BIG, last_used BIG,
  use_count BIG NOT NULL DEFAULT 0) ROWID;
CREATE INDEX tokens_expires ON tokens (expires) WHERE expires IS NOT NULL;"

# The rows /login would have written.
seed()
{
	sql "INSERT INTO sessions (jti, username, issued, expires, client,
	    revoked) VALUES
	    ('jA1-x_Y', 'alice', $((NOW - 100)), $((NOW + 3600)), '192.0.2.1', 0),
	    ('jA2', 'alice', $((NOW - 50)), $((NOW + 3600)), '192.0.2.2', 0),
	    ('jB1', 'bob', $((NOW - 20)), $((NOW + 3600)), '2001:db8::9', 0),
	    ('jOld', 'carol', $((NOW - 7200)), $((NOW - 3600)), '203.0.113.4',
	    0)"
}

test_list()
{
	local e=$1 out
	tid "$e: list"
	out=$(session_cmd list)
	is "$?" 0 "$e: session list on a new database"
	is "$(printf '%s\n' "$out" | wc -l)" 1 "$e: ... only the header"
	like "$out" '^JTI +USER +ISSUED +EXPIRES +CLIENT +STATE$' \
	    "$e: ... naming the columns"
	seed
	out=$(session_cmd list)
	is "$(printf '%s\n' "$out" | sed 1d | awk '{print $1}' | tr '\n' ' ')" \
	    "jOld jA1-x_Y jA2 jB1 " "$e: every session, by issue time"
	like "$out" 'jA1-x_Y +alice +[0-9T:-]+Z +[0-9T:-]+Z +192\.0\.2\.1 +active' \
	    "$e: jti, user, issued, expires, client, state"
	like "$out" "jOld +carol .*$(date -u -d "@$((NOW - 3600))" \
	    +%Y-%m-%dT%H:%M:%SZ) +203\.0\.113\.4 +expired" \
	    "$e: an expired session says so"
	out=$(session_cmd list --user alice)
	is "$(printf '%s\n' "$out" | sed 1d | awk '{print $1 "/" $2}' |
	    tr '\n' ' ')" "jA1-x_Y/alice jA2/alice " "$e: --user: that user's only"
	out=$(session_cmd list --user nobody)
	is "$(printf '%s\n' "$out" | wc -l)" 1 "$e: --user without sessions"
	out=$(session_cmd list -o json)
	is "$(printf '%s' "$out" | jq -c '[.[] | [.jti, .username, .client,
	    .state]] | .[1]')" '["jA1-x_Y","alice","192.0.2.1","active"]' \
	    "$e: -o json"
	is "$(printf '%s' "$out" | jq -r '.[0].expires')" \
	    "$(date -u -d "@$((NOW - 3600))" +%Y-%m-%dT%H:%M:%SZ)" \
	    "$e: -o json: times as in the table"
}

test_revoke()
{
	local e=$1 out rc
	tid "$e: revoke"
	out=$(session_cmd revoke jB1)
	is "$?:$out" "0:1 session ended" "$e: revoke one jti"
	# Each of these is a process of its own, after the one that revoked.
	is "$(sql "SELECT revoked FROM sessions WHERE jti = 'jB1'")" 1 \
	    "$e: another process sees the revocation at once"
	like "$(session_cmd list --user bob)" 'jB1 +bob .* revoked$' \
	    "$e: ... and tokenreviewctl lists it revoked"
	out=$(session_cmd revoke jB1 2>&1)
	rc=$?
	is "$rc:$out" "1:tokenreviewctl: no active session jB1" \
	    "$e: revoking it again: nothing ended, exit 1"
	out=$(session_cmd revoke nosuch 2>&1)
	is "$?" 1 "$e: an unknown jti: exit 1"
	out=$(session_cmd revoke "a'b" 2>&1)
	rc=$?
	like "$rc:$out" '^1:.*bad session id' "$e: a malformed jti is refused"
	out=$(session_cmd revoke --user alice)
	is "$?:$out" "0:2 sessions ended" "$e: revoke --user"
	is "$(sql "SELECT jti || '=' || revoked FROM sessions ORDER BY jti" |
	    tr '\n' ' ')" "jA1-x_Y=1 jA2=1 jB1=1 jOld=0 " \
	    "$e: ... that user's sessions only"
	out=$(session_cmd revoke --user alice)
	is "$?:$out" "0:0 sessions ended" "$e: again: none left, exit 0"
}

test_prune()
{
	local e=$1 out
	tid "$e: prune"
	out=$(session_cmd prune)
	is "$?:$out" "0:1 expired session deleted" "$e: prune"
	is "$(sql 'SELECT jti FROM sessions ORDER BY jti' | tr '\n' ' ')" \
	    "jA1-x_Y jA2 jB1 " "$e: only the expired row is gone"
	out=$(session_cmd prune)
	is "$out" "0 expired sessions deleted" "$e: prune again: none"
}

test_usage()
{
	local e=$1 a
	tid "$e: usage"
	for a in "" "list --user" "list -o yaml" "revoke" "revoke --user" \
	    "revoke a b" "prune now" "add x"; do
		# shellcheck disable=SC2086
		session_cmd $a >/dev/null 2>&1
		is "$?" 2 "$e: session $a: usage, exit 2"
	done
}

# The database of version 1 of the current config, with a token: made by
# the old program when given, else with the SQL of that version (sql_v1).
make_v1()
{
	if [ -z "${TR_OLD_TOKENREVIEWCTL:-}" ]; then
		sql_v1
		sql "INSERT INTO tokens (id, secret_hash, username, created)
		    VALUES ('keep01', $ZEROS, 'erin', $NOW)"
		return 0
	fi
	echo keep01.0123456789abcdef | "$TR_OLD_TOKENREVIEWCTL" -c "$TR_CONF" \
	    token create --user erin --token-stdin >/dev/null ||
	    bail "the old tokenreviewctl failed"
	is "$(sql 'SELECT max(version) FROM schema_version')" 1 \
	    "the old tokenreviewctl made a database of version 1"
}

# A database of version 1 with a token: opened, it gains the table.
test_upgrade()
{
	local e=$1 out
	tid "$e: upgrade of a version 1 database"
	out=$(tr_tokenctl list)
	like "$out" 'keep01 +active .* erin' "$e: its token is kept"
	is "$(sql 'SELECT max(version) FROM schema_version')" 2 \
	    "$e: the schema is at version 2"
	sql "INSERT INTO sessions (jti, username, issued, expires) VALUES
	    ('up1', 'erin', $NOW, $((NOW + 60)))"
	like "$(session_cmd list)" 'up1 +erin' "$e: sessions work there"
}

# ---------------------------------------------------------------- SQLite

sql()
{
	sqlite3 -cmd '.timeout 5000' "$DB" "$1"
}

tr_config lite server.chain=tokendb "tokendb.path=$TR_TMP/lite/tokens.db"
DB=$TR_TMP/lite/tokens.db
test_list sqlite
test_revoke sqlite
test_prune sqlite
test_usage sqlite

sql_v1()
{
	printf '%s\n' "$V1_SCHEMA" | sed 's/BYTES/BLOB/; s/BIG/INTEGER/g;
	    s/) ROWID;/) WITHOUT ROWID;/' | sqlite3 "$DB"
}
DB=$TR_TMP/v1/tokens.db
ZEROS="zeroblob(32)"
tr_config v1 server.chain=tokendb "tokendb.path=$DB"
make_v1
test_upgrade sqlite

# ---------------------------------------------------------------- PostgreSQL

if [ "$(id -u)" != 0 ] || ! command -v runuser psql >/dev/null 2>&1 ||
    ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	skip "PostgreSQL" "needs root, runuser, psql and a PostgreSQL server"
	done_testing
fi
pg_setup

sql()
{
	psql -X -q -A -t -v ON_ERROR_STOP=1 "$DBURL" -c "$1"
}

tr_config pg server.chain=tokendb "tokendb.url=$DBURL"
test_list postgresql
test_revoke postgresql
test_prune postgresql
test_usage postgresql

tid "postgresql: the worker's session calls"
sql "CREATE DATABASE unit" >/dev/null
out=$(TR_TEST_PGURL=${DBURL%/*}/unit "$top_builddir/tests/unit/test_session" \
    2>&1)
rc=$?
is "$rc" 0 "tests/unit/test_session against the server"
[ "$rc" = 0 ] || diag "$(printf '%s\n' "$out" | grep -A2 '^not ok')"
like "$out" 'postgresql: revoked by another connection: ended at once' \
    "... with the PostgreSQL cases"

sql_v1()
{
	printf '%s\n' "$V1_SCHEMA" | sed 's/BYTES/bytea/; s/BIG/bigint/g;
	    s/) ROWID;/);/' | psql -X -q -v ON_ERROR_STOP=1 "$DBURL" >/dev/null
}
sql "CREATE DATABASE v1" >/dev/null
DBURL=${DBURL%/*}/v1
ZEROS="decode(repeat('00', 32), 'hex')"
tr_config v1pg server.chain=tokendb "tokendb.url=$DBURL"
make_v1
test_upgrade postgresql

done_testing
