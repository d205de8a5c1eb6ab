/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The token database as tokenreviewctl and the daemon see it: one set of
 * calls, whichever engine holds the rows.  The engine is chosen once, when
 * the database is opened, from its location: a postgresql:// URL goes to
 * the PostgreSQL engine (tokendb-pg.c), anything else is a SQLite file
 * (tokendb-sqlite.c).  Every call after that is forwarded through the
 * engine's table of operations; nothing here knows an engine's insides.
 */

#include <stdlib.h>
#include <string.h>

#include "tokenreviewd.h"
#include "tokendb.h"
#include "tokendb-engine.h"

/* Engines that claim a prefix first; the last one takes the rest. */
static const struct tokendb_engine *const tokendb_engines[] = {
#ifdef HAVE_TOKENDB_PG
	&tokendb_pg_engine,
#endif
	&tokendb_sqlite_engine,
};

struct tokendb {
	const struct tokendb_engine	*engine;
	void				*conn;	/* the engine's */
};

/* Whether one of the engine's prefixes starts path. */
static int
tokendb_engine_claims(const struct tokendb_engine *e, const char *path)
{
	size_t	i;

	for (i = 0; e->prefixes != NULL && e->prefixes[i] != NULL; i++) {
		if (strncmp(path, e->prefixes[i], strlen(e->prefixes[i])) == 0)
			return 1;
	}
	return 0;
}

const struct tokendb_engine *
tokendb_engine_find(const char *path)
{
	size_t	i, n;

	n = sizeof(tokendb_engines) / sizeof(tokendb_engines[0]);
	for (i = 0; i < n - 1; i++) {
		if (tokendb_engine_claims(tokendb_engines[i], path))
			return tokendb_engines[i];
	}
	return tokendb_engines[n - 1];
}

int
tokendb_is_url(const char *s)
{
	return tokendb_engine_find(s)->prefixes != NULL;
}

/* A handle around conn, or NULL (with err set by the engine) for none. */
static struct tokendb *
tokendb_wrap(const struct tokendb_engine *e, void *conn)
{
	struct tokendb	*t;

	if (conn == NULL)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->engine = e;
	t->conn = conn;
	return t;
}

struct tokendb *
tokendb_open(const char *path, int flags, long long busy_ms, char *err,
    size_t errlen)
{
	const struct tokendb_engine	*e = tokendb_engine_find(path);
	void				*conn;

	if ((conn = e->open(path, flags, busy_ms, err, errlen)) == NULL)
		return NULL;
	if (e->migrate(conn, flags, err, errlen) != 0) {
		e->close(conn);
		return NULL;
	}
	return tokendb_wrap(e, conn);
}

struct tokendb *
tokendb_create(const char *path, const char *owner, long long busy_ms,
    int *created, char *err, size_t errlen)
{
	const struct tokendb_engine	*e = tokendb_engine_find(path);

	*created = 0;
	return tokendb_wrap(e, e->create(path, owner, busy_ms, created, err,
	    errlen));
}

void
tokendb_close(struct tokendb *t)
{
	if (t == NULL)
		return;
	t->engine->close(t->conn);
	free(t);
}

int
tokendb_get(struct tokendb *t, const char *id, struct tokendb_token *tok,
    char *err, size_t errlen)
{
	return t->engine->get(t->conn, id, tok, err, errlen);
}

long long
tokendb_data_version(struct tokendb *t, char *err, size_t errlen)
{
	if (t->engine->data_version == NULL) {
		if (errlen > 0)
			*err = '\0';
		return -1;
	}
	return t->engine->data_version(t->conn, err, errlen);
}

int
tokendb_read_begin(struct tokendb *t, char *err, size_t errlen)
{
	if (t->engine->read_begin == NULL)
		return 0;
	return t->engine->read_begin(t->conn, err, errlen);
}

void
tokendb_read_end(struct tokendb *t)
{
	if (t->engine->read_end != NULL)
		t->engine->read_end(t->conn);
}

int
tokendb_insert(struct tokendb *t, const struct tokendb_token *tok,
    char *err, size_t errlen)
{
	return t->engine->insert(t->conn, tok, err, errlen);
}

int
tokendb_insert_many(struct tokendb *t, const struct tokendb_token *toks,
    size_t n, size_t *failed, char *err, size_t errlen)
{
	return t->engine->insert_many(t->conn, toks, n, failed, err, errlen);
}

int
tokendb_revoke(struct tokendb *t, const char *id, char *err, size_t errlen)
{
	return t->engine->revoke(t->conn, id, err, errlen);
}

int
tokendb_delete(struct tokendb *t, const char *id, char *err, size_t errlen)
{
	return t->engine->delete(t->conn, id, err, errlen);
}

int
tokendb_consume(struct tokendb *t, const char *id, char *err, size_t errlen)
{
	return t->engine->consume(t->conn, id, err, errlen);
}

long long
tokendb_prune(struct tokendb *t, long long now, char *err, size_t errlen)
{
	return t->engine->prune(t->conn, now, err, errlen);
}

int
tokendb_list(struct tokendb *t,
    int (*cb)(const struct tokendb_token *, void *), void *arg, char *err,
    size_t errlen)
{
	return t->engine->list(t->conn, cb, arg, err, errlen);
}

int
tokendb_begin(struct tokendb *t, char *err, size_t errlen)
{
	return t->engine->begin(t->conn, err, errlen);
}

int
tokendb_commit(struct tokendb *t, int ok, char *err, size_t errlen)
{
	return t->engine->commit(t->conn, ok, err, errlen);
}

int
tokendb_record_uses(struct tokendb *t, const struct tokendb_use *uses,
    size_t n, char *err, size_t errlen)
{
	return t->engine->record_uses(t->conn, uses, n, err, errlen);
}

int
tokendb_session_add(struct tokendb *t, const struct tokendb_session *s,
    char *err, size_t errlen)
{
	return t->engine->session_add(t->conn, s, err, errlen);
}

int
tokendb_session_get(struct tokendb *t, const char *jti,
    struct tokendb_session *s, char *err, size_t errlen)
{
	return t->engine->session_get(t->conn, jti, s, err, errlen);
}

/* The rows a list call gathers, grown as they come. */
struct tokendb_sessions {
	struct tokendb_session	*v;
	size_t			 n, size;
};

static int
tokendb_session_collect_cb(const struct tokendb_session *s, void *arg)
{
	struct tokendb_sessions	*l = arg;
	struct tokendb_session	*d;

	if (l->n == l->size) {
		l->size = l->size == 0 ? 16 : l->size * 2;
		l->v = xreallocarray(l->v, l->size, sizeof(*l->v));
	}
	d = &l->v[l->n++];
	d->jti = xstrdup(s->jti);
	d->username = xstrdup(s->username);
	d->client = xstrdup(s->client != NULL ? s->client : "");
	d->issued = s->issued;
	d->expires = s->expires;
	d->revoked = s->revoked;
	return 0;
}

int
tokendb_session_list(struct tokendb *t, const char *user,
    struct tokendb_session **out, size_t *n, char *err, size_t errlen)
{
	struct tokendb_sessions	l;

	memset(&l, 0, sizeof(l));
	*out = NULL;
	*n = 0;
	if (t->engine->session_list(t->conn, user, tokendb_session_collect_cb,
	    &l, err, errlen) != 0) {
		tokendb_sessions_free(l.v, l.n);
		return -1;
	}
	*out = l.v;
	*n = l.n;
	return 0;
}

int
tokendb_session_revoke(struct tokendb *t, const char *jti, char *err,
    size_t errlen)
{
	return t->engine->session_revoke(t->conn, jti, NULL, err, errlen);
}

int
tokendb_session_revoke_user(struct tokendb *t, const char *user, char *err,
    size_t errlen)
{
	return t->engine->session_revoke(t->conn, NULL, user, err, errlen);
}

int
tokendb_session_prune(struct tokendb *t, int64_t now, char *err,
    size_t errlen)
{
	return t->engine->session_prune(t->conn, now, 0, err, errlen);
}

int
tokendb_session_prune_some(struct tokendb *t, int64_t now, int limit,
    char *err, size_t errlen)
{
	return t->engine->session_prune(t->conn, now, limit, err, errlen);
}
