/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of login sessions in the token database: the synchronous
 * calls (add, get, list, revoke, revoke by user, prune) on a SQLite file,
 * the upgrade of a file of schema version 1 in place, and a worker's
 * session check and add through the tokendb source on an event loop
 * (revocation seen at once, expiry, unknown and malformed ids, a taken
 * id, the lookup metric, the daemon's prune of expired rows).  With
 * TR_TEST_PGURL set (tests/session.sh sets it to a server of its own),
 * the same on PostgreSQL, where the worker's calls are asynchronous and
 * may be cancelled; an unreachable server answers errors.
 */

#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
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

/* ------------------------------------------------------------ worker */

struct wk {
	struct event_base	*base;
	void			*shared;
	void			*inst;
	struct config		*conf;
	struct tokendb		*db;		/* the test's own connection */
	const char		*engine;
};

struct answer {
	int			 called;
	enum tdsrc_session_rv	 rv;
	char			 why[128];
};

static void
answer_cb(void *arg, enum tdsrc_session_rv rv, const char *why)
{
	struct answer	*a = arg;

	a->called++;
	a->rv = rv;
	strlcpy(a->why, why != NULL ? why : "", sizeof(a->why));
}

/* Run the loop until a is answered, 5 s at most. */
static void
wait_answer(struct wk *w, struct tdsrc_sess_op *op, struct answer *a)
{
	struct timeval	tv = { 0, 10000 };
	int		i;

	if (op == NULL)
		return;
	for (i = 0; i < 500 && a->called == 0; i++) {
		event_base_loopexit(w->base, &tv);
		event_base_dispatch(w->base);
	}
}

static enum tdsrc_session_rv
check_at(struct wk *w, const char *jti, int64_t now, struct answer *a)
{
	memset(a, 0, sizeof(*a));
	wait_answer(w, tdsrc_session_check(w->inst, jti, now, answer_cb, a),
	    a);
	if (a->called != 1)
		diag("%s: called %d times", jti, a->called);
	return a->called == 1 ? a->rv : (enum tdsrc_session_rv)-1;
}

static enum tdsrc_session_rv
check(struct wk *w, const char *jti, struct answer *a)
{
	return check_at(w, jti, (int64_t)time(NULL), a);
}

static enum tdsrc_session_rv
add_via(struct wk *w, const char *jti, int64_t expires, struct answer *a)
{
	struct tokendb_session	s;

	memset(&s, 0, sizeof(s));
	memset(a, 0, sizeof(*a));
	s.jti = (char *)jti;
	s.username = "frank";
	s.issued = (int64_t)time(NULL);
	s.expires = expires;
	s.client = "2001:db8::5";
	wait_answer(w, tdsrc_session_add(w->inst, &s, answer_cb, a), a);
	return a->called == 1 ? a->rv : (enum tdsrc_session_rv)-1;
}

static long long
lookups(struct wk *w)
{
	struct evbuffer	*ev = evbuffer_new();
	char		 text[4096], *p;
	size_t		 n;
	long long	 v = -1;

	auth_tokendb_backend.metrics(w->shared, ev);
	n = evbuffer_remove(ev, text, sizeof(text) - 1);
	text[n] = '\0';
	if ((p = strstr(text, "\ntokenreviewd_tokendb_lookups_total ")) !=
	    NULL)
		v = strtoll(p + 36, NULL, 10);
	evbuffer_free(ev);
	return v;
}

static int
wk_start(struct wk *w, const char *engine, const char *key,
    const char *where)
{
	char	path[300], err[TR_ERRLEN];
	FILE	*f;

	memset(w, 0, sizeof(*w));
	w->engine = engine;
	w->base = event_base_new();
	snprintf(path, sizeof(path), "%s/%s.conf", dir, engine);
	if ((f = fopen(path, "w")) == NULL)
		fatal("fopen");
	fprintf(f, "[server]\ntls_cert = x\ntls_key = x\nchain = tokendb\n"
	    "[tokendb]\n%s = %s\nflush_interval = 100ms\n", key, where);
	fclose(f);
	err[0] = '\0';
	auth_tokendb_may_create(1);
	if ((w->conf = config_load(path, err, sizeof(err))) == NULL ||
	    auth_tokendb_backend.load(w->conf, &w->shared, err,
	    sizeof(err)) != 0 || auth_tokendb_backend.init(w->shared, w->base,
	    &w->inst) != 0) {
		diag("%s: %s", engine, err);
		return -1;
	}
	w->db = tokendb_open(where, 0, 2000, err, sizeof(err));
	return 0;
}

static void
wk_stop(struct wk *w)
{
	auth_tokendb_backend.free(w->inst);
	auth_tokendb_backend.unload(w->shared);
	tokendb_close(w->db);
	config_free(w->conf);
	event_base_free(w->base);
}

static void
test_worker_checks(struct wk *w)
{
	struct answer	a;
	const char	*e = w->engine;
	int64_t		now = (int64_t)time(NULL);
	long long	n0;
	char		err[TR_ERRLEN];

	is_int(add_via(w, "wk-1", now + 600, &a), TDSESS_ACTIVE,
	    "%s: the worker adds a session %s", e, a.why);
	ok(add_via(w, "wk-1", now + 600, &a) == TDSESS_ERROR &&
	    strcmp(a.why, "session id already taken") == 0,
	    "%s: a taken jti is an error: %s", e, a.why);
	is_int(sess_revoked(w->db, "wk-1"), 0, "%s: the row is there", e);
	n0 = lookups(w);
	is_int(check(w, "wk-1", &a), TDSESS_ACTIVE, "%s: active", e);
	is_int(lookups(w), n0 + 1, "%s: a check is a lookup in the metrics",
	    e);
	tokendb_session_revoke(w->db, "wk-1", err, sizeof(err));
	ok(check(w, "wk-1", &a) == TDSESS_ENDED &&
	    strcmp(a.why, "session revoked") == 0,
	    "%s: revoked by another connection: ended at once (%s)", e, a.why);
	/* Not expired yet in the table, or the daemon's prune may take it. */
	sess_add(w->db, "wk-exp", "frank", now - 60, now + 300);
	ok(check_at(w, "wk-exp", now + 299, &a) == TDSESS_ACTIVE,
	    "%s: active a second before it expires", e);
	ok(check_at(w, "wk-exp", now + 300, &a) == TDSESS_ENDED &&
	    strcmp(a.why, "session expired") == 0, "%s: expired at now: %s",
	    e, a.why);
	ok(check(w, "wk-none", &a) == TDSESS_ENDED &&
	    strcmp(a.why, "unknown session") == 0, "%s: unknown: %s", e,
	    a.why);
	ok(check(w, "no'such", &a) == TDSESS_ENDED, "%s: a malformed jti "
	    "is no session", e);
	ok(add_via(w, "bad jti", now + 600, &a) == TDSESS_ERROR,
	    "%s: a malformed jti is not added", e);
}

/* The cb of a cancelled op never runs; SQLite has answered already. */
static void
test_worker_cancel(struct wk *w)
{
	struct tdsrc_sess_op	*op;
	struct answer		 a;
	struct timeval		 tv = { 0, 200000 };

	memset(&a, 0, sizeof(a));
	op = tdsrc_session_check(w->inst, "wk-none", (int64_t)time(NULL),
	    answer_cb, &a);
	if (strcmp(w->engine, "sqlite") == 0) {
		ok(op == NULL && a.called == 1, "sqlite: answered before the "
		    "call returns");
		tdsrc_session_cancel(op);
		return;
	}
	ok(op != NULL && a.called == 0, "%s: a pending op", w->engine);
	tdsrc_session_cancel(op);
	event_base_loopexit(w->base, &tv);
	event_base_dispatch(w->base);
	is_int(a.called, 0, "%s: cancelled: never answered", w->engine);
}

/* Expired rows go within a few flush intervals once sessions are used. */
static void
test_worker_prune(struct wk *w)
{
	struct tokendb_session	*v;
	struct timeval		 tv = { 0, 50000 };
	char			 jti[32], err[TR_ERRLEN];
	int64_t			 now = (int64_t)time(NULL);
	size_t			 n = 0;
	int			 i;

	for (i = 0; i < 5; i++) {
		snprintf(jti, sizeof(jti), "old%d", i);
		sess_add(w->db, jti, "grace", now - 100, now - 10);
	}
	sess_add(w->db, "live", "grace", now, now + 600);
	for (i = 0; i < 100; i++) {
		event_base_loopexit(w->base, &tv);
		event_base_dispatch(w->base);
		if (tokendb_session_list(w->db, "grace", &v, &n, err,
		    sizeof(err)) != 0)
			n = 0;
		tokendb_sessions_free(v, n);
		if (n == 1)
			break;
	}
	is_int((int)n, 1, "%s: the daemon pruned the expired rows, not the "
	    "live one", w->engine);
}

static void
test_worker(const char *engine, const char *key, const char *where)
{
	struct wk	w;

	if (wk_start(&w, engine, key, where) != 0 || w.db == NULL) {
		ok(0, "%s: a worker", engine);
		return;
	}
	test_worker_checks(&w);
	test_worker_cancel(&w);
	test_worker_prune(&w);
	wk_stop(&w);
}

#ifdef HAVE_TOKENDB_PG
/* A server that is not there: errors, answered from the loop. */
static void
test_worker_down(void)
{
	struct wk	w;
	struct answer	a;

	if (wk_start(&w, "down", "url", "postgresql://127.0.0.1:1/x") != 0) {
		ok(0, "down: a worker");
		return;
	}
	ok(check(&w, "wk-1", &a) == TDSESS_ERROR &&
	    strstr(a.why, "unreachable") != NULL,
	    "an unreachable database: an error: %s", a.why);
	ok(add_via(&w, "wk-1", (int64_t)time(NULL) + 60, &a) ==
	    TDSESS_ERROR, "and no session added: %s", a.why);
	wk_stop(&w);
}
#endif

int
main(void)
{
	const char	*url = getenv("TR_TEST_PGURL");
	char		 cmd[400], path[300];

	log_init(LL_FATAL);
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	test_jti();
	test_sqlite();
	test_upgrade();
	snprintf(path, sizeof(path), "%s/worker.db", dir);
	test_worker("sqlite", "path", path);
#ifdef HAVE_TOKENDB_PG
	test_worker_down();
#endif
	if (url != NULL && *url != '\0') {
		test_pg(url);
		test_worker("postgresql", "url", url);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
