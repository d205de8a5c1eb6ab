/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of login sessions in the token database: the synchronous
 * calls (add, get, list, revoke, revoke by user, prune) on a SQLite file,
 * the upgrade of a file of schema version 1 in place, and a worker's
 * session check and add through the tokendb source on an event loop.
 * With TR_TEST_PGURL set (tests/session.sh sets it to a server of its
 * own), the same on PostgreSQL, where the worker's calls are
 * asynchronous.
 */

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <sqlite3.h>

#include "tokenreviewd.h"
#include "tokendb.h"
#include "tap.h"

static char	dir[] = "/tmp/test_session.XXXXXX";

static int
sess_add(struct tokendb *db, const char *jti, const char *user,
    int64_t issued, int64_t expires)
{
	struct tokendb_session	s;
	char			err[TR_ERRLEN];
	int			r;

	memset(&s, 0, sizeof(s));
	s.jti = (char *)jti;
	s.username = (char *)user;
	s.issued = issued;
	s.expires = expires;
	s.client = "192.0.2.7";
	if ((r = tokendb_session_add(db, &s, err, sizeof(err))) < 0)
		diag("add %s: %s", jti, err);
	return r;
}

/* The revoked flag of jti: 0 or 1, -1 when absent. */
static int
sess_revoked(struct tokendb *db, const char *jti)
{
	struct tokendb_session	s;
	char			err[TR_ERRLEN];
	int			r = -1;

	if (tokendb_session_get(db, jti, &s, err, sizeof(err)) == 1)
		r = s.revoked;
	tokendb_session_clear(&s);
	return r;
}

static void
test_rows(struct tokendb *db, const char *engine)
{
	struct tokendb_session	*v, s;
	char			 err[TR_ERRLEN];
	size_t			 n;
	int64_t			 now = (int64_t)time(NULL);

	is_int(sess_add(db, "jti-a1_x", "alice", now - 10, now + 3600), 1,
	    "%s: add", engine);
	is_int(sess_add(db, "jti-a1_x", "bob", now, now + 3600), 0,
	    "%s: a taken jti is refused", engine);
	sess_add(db, "jti-a2", "alice", now - 5, now + 3600);
	sess_add(db, "jti-b1", "bob", now - 7, now + 3600);
	sess_add(db, "jti-old", "carol", now - 7200, now - 3600);
	is_int(tokendb_session_get(db, "jti-a1_x", &s, err, sizeof(err)), 1,
	    "%s: get", engine);
	ok(s.jti != NULL && strcmp(s.jti, "jti-a1_x") == 0 &&
	    strcmp(s.username, "alice") == 0 && s.issued == now - 10 &&
	    s.expires == now + 3600 && strcmp(s.client, "192.0.2.7") == 0 &&
	    !s.revoked, "%s: every column stored", engine);
	tokendb_session_clear(&s);
	is_int(tokendb_session_get(db, "nosuch", &s, err, sizeof(err)), 0,
	    "%s: unknown jti", engine);
	ok(tokendb_session_list(db, NULL, &v, &n, err, sizeof(err)) == 0 &&
	    n == 4 && strcmp(v[0].jti, "jti-old") == 0 &&
	    strcmp(v[1].jti, "jti-a1_x") == 0 && strcmp(v[2].jti, "jti-b1")
	    == 0, "%s: list all, by issue time", engine);
	tokendb_sessions_free(v, n);
	ok(tokendb_session_list(db, "alice", &v, &n, err, sizeof(err)) == 0 &&
	    n == 2 && strcmp(v[0].username, "alice") == 0 &&
	    strcmp(v[1].username, "alice") == 0, "%s: list one user", engine);
	tokendb_sessions_free(v, n);
	ok(tokendb_session_list(db, "nobody", &v, &n, err, sizeof(err)) == 0 &&
	    n == 0 && v == NULL, "%s: list a user without sessions", engine);
	is_int(tokendb_session_revoke(db, "jti-b1", err, sizeof(err)), 1,
	    "%s: revoke one", engine);
	is_int(sess_revoked(db, "jti-b1"), 1, "%s: revoked stored", engine);
	is_int(tokendb_session_revoke(db, "jti-b1", err, sizeof(err)), 0,
	    "%s: revoking again ends nothing", engine);
	is_int(tokendb_session_revoke(db, "nosuch", err, sizeof(err)), 0,
	    "%s: revoke unknown", engine);
	is_int(tokendb_session_revoke_user(db, "alice", err, sizeof(err)), 2,
	    "%s: revoke a user's sessions", engine);
	ok(sess_revoked(db, "jti-a1_x") == 1 && sess_revoked(db, "jti-a2") ==
	    1 && sess_revoked(db, "jti-old") == 0, "%s: only that user's",
	    engine);
	is_int(tokendb_session_revoke_user(db, "alice", err, sizeof(err)), 0,
	    "%s: again: none left", engine);
	is_int(tokendb_session_prune(db, now, err, sizeof(err)), 1,
	    "%s: prune deletes the expired row", engine);
	is_int(sess_revoked(db, "jti-old"), -1, "%s: it is gone", engine);
	is_int(tokendb_session_prune(db, now + 7200, err, sizeof(err)), 3,
	    "%s: prune later: revoked rows go once expired", engine);
}

/* prune_some takes at most its limit a call. */
static void
test_prune_bound(struct tokendb *db, const char *engine)
{
	char	jti[32], err[TR_ERRLEN];
	int64_t	now = (int64_t)time(NULL);
	int	i;

	for (i = 0; i < 25; i++) {
		snprintf(jti, sizeof(jti), "bound%02d", i);
		sess_add(db, jti, "dave", now - 100, now - 1);
	}
	sess_add(db, "bound-live", "dave", now, now + 60);
	is_int(tokendb_session_prune_some(db, now, 10, err, sizeof(err)), 10,
	    "%s: a bounded prune deletes its limit", engine);
	is_int(tokendb_session_prune_some(db, now, 10, err, sizeof(err)), 10,
	    "%s: and the next pass as many", engine);
	is_int(tokendb_session_prune_some(db, now, 10, err, sizeof(err)), 5,
	    "%s: then the rest", engine);
	is_int(tokendb_session_prune_some(db, now, 10, err, sizeof(err)), 0,
	    "%s: never a live one", engine);
	tokendb_session_revoke_user(db, "dave", err, sizeof(err));
	tokendb_session_prune(db, now + 120, err, sizeof(err));
}

static void
test_jti(void)
{
	char	long_jti[TOKENDB_JTI_MAX + 2];

	ok(tokendb_valid_jti("3q2-7wEXAMPLE_x9Zk0aBc") &&
	    tokendb_valid_jti("a"), "base64url ids are session ids");
	ok(!tokendb_valid_jti("") && !tokendb_valid_jti("a b") &&
	    !tokendb_valid_jti("a'b") && !tokendb_valid_jti("a=") &&
	    !tokendb_valid_jti("a/b"), "other text is not");
	memset(long_jti, 'a', sizeof(long_jti) - 1);
	long_jti[sizeof(long_jti) - 1] = '\0';
	ok(!tokendb_valid_jti(long_jti), "nor a longer one");
	long_jti[TOKENDB_JTI_MAX] = '\0';
	ok(tokendb_valid_jti(long_jti), "the longest one is");
}

/*
 * The schema of version 1, as the program before sessions wrote it: the
 * file keeps its tokens and gains the sessions table when opened.
 */
static void
test_upgrade(void)
{
	struct tokendb_token	 tok;
	struct tokendb		*db;
	sqlite3			*raw;
	char			 path[300], err[TR_ERRLEN];
	int			 rc;

	snprintf(path, sizeof(path), "%s/v1.db", dir);
	sqlite3_open(path, &raw);
	rc = sqlite3_exec(raw, "PRAGMA journal_mode = WAL;"
	    "CREATE TABLE schema_version (version INTEGER NOT NULL);"
	    "INSERT INTO schema_version VALUES (1);"
	    "CREATE TABLE tokens (id TEXT PRIMARY KEY NOT NULL, secret_hash "
	    "BLOB NOT NULL, username TEXT NOT NULL, uid TEXT, groups TEXT NOT "
	    "NULL DEFAULT '[]', extra TEXT NOT NULL DEFAULT '{}', description "
	    "TEXT NOT NULL DEFAULT '', usages TEXT NOT NULL DEFAULT "
	    "'authentication', bootstrap INTEGER NOT NULL DEFAULT 0, revoked "
	    "INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL, expires "
	    "INTEGER, uses_left INTEGER, last_used INTEGER, use_count INTEGER "
	    "NOT NULL DEFAULT 0) WITHOUT ROWID;"
	    "CREATE INDEX tokens_expires ON tokens (expires) WHERE expires IS "
	    "NOT NULL;"
	    "INSERT INTO tokens (id, secret_hash, username, created) VALUES "
	    "('keep01', zeroblob(32), 'erin', 1);", NULL, NULL, NULL);
	sqlite3_close(raw);
	ok(rc == SQLITE_OK, "a database of schema version 1");
	db = tokendb_open(path, 0, 100, err, sizeof(err));
	ok(db != NULL, "opened by this program: %s", db ? "ok" : err);
	if (db == NULL)
		return;
	ok(tokendb_get(db, "keep01", &tok, err, sizeof(err)) == 1 &&
	    strcmp(tok.username, "erin") == 0, "its tokens are kept");
	tokendb_token_clear(&tok);
	is_int(sess_add(db, "up1", "erin", 1, 2), 1, "it takes sessions");
	tokendb_close(db);
	sqlite3_open(path, &raw);
	rc = sqlite3_exec(raw, "SELECT 1 FROM schema_version WHERE version = "
	    "2", NULL, NULL, NULL);
	sqlite3_close(raw);
	ok(rc == SQLITE_OK, "and is at version %d now",
	    TOKENDB_SCHEMA_VERSION);
}

static void
test_sqlite(void)
{
	struct tokendb	*db;
	char		 path[300], err[TR_ERRLEN];

	snprintf(path, sizeof(path), "%s/sessions.db", dir);
	db = tokendb_open(path, TOKENDB_CREATE, 100, err, sizeof(err));
	ok(db != NULL, "sqlite: create: %s", db ? "ok" : err);
	if (db == NULL)
		return;
	test_rows(db, "sqlite");
	test_prune_bound(db, "sqlite");
	tokendb_close(db);
}

static void
test_pg(const char *url)
{
	struct tokendb	*db;
	char		 err[TR_ERRLEN];

	db = tokendb_open(url, TOKENDB_CREATE, 2000, err, sizeof(err));
	ok(db != NULL, "postgresql: open: %s", db ? "ok" : err);
	if (db == NULL)
		return;
	test_rows(db, "postgresql");
	test_prune_bound(db, "postgresql");
	tokendb_close(db);
}

int
main(void)
{
	const char	*url = getenv("TR_TEST_PGURL");
	char		 cmd[400];

	log_init(LL_FATAL);
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	test_jti();
	test_sqlite();
	test_upgrade();
	if (url != NULL && *url != '\0')
		test_pg(url);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
