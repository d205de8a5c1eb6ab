/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The asynchronous PostgreSQL path of the tokendb source.  With [tokendb]
 * url the rows are a network away: each worker looks tokens up through
 * its own small pool of connections (pgpool.c), answers AUTH_PENDING and
 * calls done() from its event loop when the row arrives.  The use of a
 * usage-limited token is a second, conditional UPDATE on the same path,
 * and the batch of use counts goes out as one asynchronous statement.
 * Session checks and adds of the login flow take the same path
 * (tdsrc_pg_session()), as do the prunes of expired sessions.
 * Load does not connect: the schema is created or checked by one worker
 * on the first connection of each generation, and reviews wait for that
 * check, parked, or fail at once while the database cannot be reached.
 * Every libpq call of the source is here.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>

#include "tokenreviewd.h"
#include "tokendb.h"
#include "tokendb-pg.h"
#include "pgpool.h"
#include "auth-tokendb.h"

/* A review waiting for PostgreSQL. */
struct tdsrc_pend {
	TAILQ_ENTRY(tdsrc_pend) entry;
	struct tdsrc_inst	*ti;
	struct auth_req		*req;
	struct auth_result	*res;
	auth_done_cb		 done;
	struct pgpool_query	*q;
	char			 id[TOKENDB_ID_LEN + 1];
	uint8_t			 hash[TR_SHA256_LEN];
	long long		 now;
	double			 t0;
	int			 parked;	/* waits for the schema check */
};

static void	tdsrc_pg_pend_free(struct tdsrc_pend *);
static void	tdsrc_pg_schema_stop(struct tdsrc_inst *);
static void	tdsrc_pg_schema_ev_cb(evutil_socket_t, short, void *);
static void	tdsrc_pg_park_cb(evutil_socket_t, short, void *);
static int	tdsrc_pg_sess_unpark(struct tdsrc_inst *, enum tdsrc_schema);

/*
 * The database answered or not.  Shared by all workers: readiness follows
 * the time since the first failure that no success has cleared.
 */
static void
tdsrc_pg_up(int up, void *arg)
{
	struct tdsrc_inst	*ti = arg;
	int64_t			 now = (int64_t)(monotonic_sec() * 1000);
	int64_t			 zero = 0;

	if (up)
		SET(ti->ts->down_since, 0);
	else
		__atomic_compare_exchange_n(&ti->ts->down_since, &zero,
		    now > 0 ? now : 1, 0, __ATOMIC_RELAXED,
		    __ATOMIC_RELAXED);
}

void
tdsrc_pg_init(struct tdsrc_inst *ti, struct event_base *base)
{
	struct tdsrc_shared	*ts = ti->ts;

	ti->pool = pgpool_new(base, ts->url, ts->pool_size,
	    ts->query_timeout, tdsrc_pg_up, ti);
	backoff_init(&ti->schema_backoff, TDSRC_SCHEMA_RETRY_MIN,
	    TDSRC_SCHEMA_RETRY_MAX, 0);
	ti->schema_ev = evtimer_new(base, tdsrc_pg_schema_ev_cb, ti);
	ti->park_ev = evtimer_new(base, tdsrc_pg_park_cb, ti);
	/* The first worker to run checks the schema. */
	event_active(ti->schema_ev, 0, 0);
}

static void
tdsrc_pg_flushed_cb(const struct pg_result *res, const char *err, void *arg)
{
	struct tdsrc_inst	*ti = arg;
	struct tokendb_use	*u;

	ti->flushing = NULL;
	if (err != NULL) {
		/* Put the counts back for the next flush. */
		log_msg(LL_WARN, "tokendb_flush", "%s", err);
		ADD(ti->ts->errors, 1);
		for (u = ti->flushed; u->count != 0; u++)
			tdsrc_note_use(ti, u->id, u->last_used, u->count);
	} else
		ADD(ti->ts->flushes, 1);
	free(ti->flushed);
	ti->flushed = NULL;
}

/* Write the batch with one asynchronous statement. */
void
tdsrc_pg_flush(struct tdsrc_inst *ti)
{
	char	*params[3], err[TR_ERRLEN];
	size_t	 i, n = 0;
	int	 k;

	if (ti->flushing != NULL)
		return;
	ti->flushed = xcalloc(ti->nuses + 1, sizeof(*ti->flushed));
	for (i = 0; i < TDSRC_MAX_PENDING; i++) {
		if (ti->uses[i].count != 0)
			ti->flushed[n++] = ti->uses[i];
	}
	tokendb_pg_uses_params(ti->flushed, n, params);
	memset(ti->uses, 0, sizeof(ti->uses));
	ti->nuses = 0;
	ti->flushing = pgpool_exec(ti->pool, PGPOOL_WRITE, tokendb_pg_sql_uses,
	    3, (const char *const *)params, tdsrc_pg_flushed_cb, ti, err,
	    sizeof(err));
	if (ti->flushing == NULL)
		tdsrc_pg_flushed_cb(NULL, err, ti);
	for (k = 0; k < 3; k++)
		free(params[k]);
}

/*
 * The pool goes with the generation; the counts it has not written,
 * those of a flush in flight included, go to the writer thread.
 */
void
tdsrc_pg_free(struct tdsrc_inst *ti)
{
	struct tokendb_use	*u;

	if (ti->pool == NULL)
		return;
	if (ti->flushed != NULL) {
		for (u = ti->flushed; u->count != 0; u++)
			tdsrc_note_use(ti, u->id, u->last_used, u->count);
	}
	tdsrc_pg_schema_stop(ti);
	/* Reviews still waiting are the chain's to forget, not to answer. */
	pgpool_free(ti->pool);
	ti->pool = NULL;
	ti->pruning = NULL;
	while (!TAILQ_EMPTY(&ti->pending))
		tdsrc_pg_pend_free(TAILQ_FIRST(&ti->pending));
	while (!TAILQ_EMPTY(&ti->sess_ops))
		tdsrc_sess_op_free(TAILQ_FIRST(&ti->sess_ops));
	free(ti->flushed);
	ti->flushed = NULL;
	ti->flushing = NULL;
}

static void
tdsrc_pg_pend_free(struct tdsrc_pend *p)
{
	TAILQ_REMOVE(&p->ti->pending, p, entry);
	OPENSSL_cleanse(p, sizeof(*p));
	free(p);
}

/*
 * status.error for a failure: its kind ("token database unreachable"),
 * without the server's address or message, which go to the log.
 */
static void
tdsrc_pg_words(const char *err, char *buf, size_t len)
{
	const char	*cause;
	size_t		 n = strcspn(err, ":(");

	/* A known cause, else the words before the engine's message. */
	if ((cause = tokendb_error_cause(err)) != NULL) {
		err = cause;
		n = strlen(cause);
	}
	while (n > 0 && err[n - 1] == ' ')
		n--;
	snprintf(buf, len, "%.*s", (int)n, err);
}

static void
tdsrc_pg_error(struct tdsrc_inst *ti, struct auth_result *res,
    const char *err)
{
	char	words[TR_ERRLEN];

	tdsrc_pg_words(err, words, sizeof(words));
	ADD(ti->ts->errors, 1);
	free(res->error);
	res->error = xstrdup(words);
}

static void
tdsrc_pg_pend_done(struct tdsrc_pend *p, enum auth_rv rv)
{
	struct auth_req	*req = p->req;
	auth_done_cb	 done = p->done;

	tdsrc_answer(p->ti, p->id, p->now, p->res, rv);
	tdsrc_pg_pend_free(p);
	done(req, rv);
}

static void
tdsrc_pg_used_cb(const struct pg_result *r, const char *err, void *arg)
{
	struct tdsrc_pend	*p = arg;

	p->q = NULL;
	if (err != NULL) {
		log_msg(LL_WARN, "tokendb_use", "%s", err);
		tdsrc_pg_error(p->ti, p->res, err);
		tdsrc_pg_pend_done(p, AUTH_ERROR);
		return;
	}
	tdsrc_pg_pend_done(p, PQntuples((const PGresult *)r) == 1 ? AUTH_OK :
	    AUTH_DENY);
}

static void
tdsrc_pg_got_cb(const struct pg_result *r, const char *err, void *arg)
{
	struct tdsrc_pend	*p = arg;
	struct tokendb_token	 tok;
	const char		*param = p->id;
	char			 why[TR_ERRLEN];
	enum auth_rv		 rv = AUTH_DENY;

	p->q = NULL;
	tdsrc_timed(p->ti, p->t0);
	if (err != NULL) {
		log_msg(LL_WARN, "tokendb_lookup", "%s", err);
		tdsrc_pg_error(p->ti, p->res, err);
		tdsrc_pg_pend_done(p, AUTH_ERROR);
		return;
	}
	if (PQntuples((const PGresult *)r) != 1) {
		tdsrc_pg_pend_done(p, AUTH_DENY);
		return;
	}
	tokendb_pg_row(r, 0, &tok);
	if (tdsrc_accept(p->ti, &tok, p->hash, p->now, p->res) == 0) {
		rv = AUTH_OK;
		/* Take the use: the conditional UPDATE, asynchronously too. */
		if (tok.uses_left > 0 && (p->q = pgpool_exec(p->ti->pool,
		    PGPOOL_WRITE, tokendb_pg_sql_consume, 1, &param,
		    tdsrc_pg_used_cb, p, why, sizeof(why))) == NULL) {
			tdsrc_pg_error(p->ti, p->res, why);
			rv = AUTH_ERROR;
		}
	}
	tokendb_token_clear(&tok);
	if (p->q == NULL)
		tdsrc_pg_pend_done(p, rv);
}

/* Send the lookup of a review; -1 with err set when the pool refuses. */
static int
tdsrc_pg_pend_send(struct tdsrc_pend *p, char *err, size_t errlen)
{
	const char	*param = p->id;

	p->parked = 0;
	p->t0 = monotonic_sec();
	p->q = pgpool_exec(p->ti->pool, PGPOOL_READ, tokendb_pg_sql_get, 1,
	    &param, tdsrc_pg_got_cb, p, err, errlen);
	if (p->q == NULL) {
		tdsrc_timed(p->ti, p->t0);
		return -1;
	}
	return 0;
}

/*
 * The schema check: the first successful connection of a generation runs
 * the migration (under the advisory lock, so that workers of other
 * generations and other daemons may race it) and reads the version it
 * left.  One worker at a time holds the check (TDSRC_SCHEMA_CHECKING);
 * reviews wait for it parked, and a failure is tried again after a
 * backoff.
 */
static void
tdsrc_pg_schema_error(struct tdsrc_shared *ts, enum tdsrc_schema state,
    char *err, size_t errlen)
{
	if (state == TDSRC_SCHEMA_NEWER)
		snprintf(err, errlen, "token database schema version %d is "
		    "newer than this program knows (%d)",
		    GET(ts->schema_found), TOKENDB_SCHEMA_VERSION);
	else
		snprintf(err, errlen, "token database unreachable (schema not "
		    "checked yet)");
}

static void
tdsrc_pg_schema_set(struct tdsrc_inst *ti, enum tdsrc_schema state)
{
	__atomic_store_n(&ti->ts->schema, state, __ATOMIC_RELEASE);
	/* Parked reviews hear of it from the loop, not from here. */
	event_active(ti->park_ev, 0, 0);
}

/* The attempt failed: say so if it reached the pool, and try again later. */
static void
tdsrc_pg_schema_failed(struct tdsrc_inst *ti, const char *err, int tried)
{
	struct timeval	tv;
	long long	ms;

	ti->schema_q = NULL;
	ms = backoff_next(&ti->schema_backoff);
	if (tried)
		log_msg(LL_WARN, "tokendb_schema", "checking the token "
		    "database schema: %s; trying again in %.2f s", err,
		    (double)ms / 1000);
	ms_to_timeval(ms, &tv);
	evtimer_add(ti->schema_ev, &tv);
	tdsrc_pg_schema_set(ti, TDSRC_SCHEMA_UNKNOWN);
}

static void
tdsrc_pg_schema_cb(const struct pg_result *r, const char *err, void *arg)
{
	struct tdsrc_inst	*ti = arg;
	const PGresult		*res = (const PGresult *)r;
	char			 why[TR_ERRLEN];
	int			 v;

	ti->schema_q = NULL;
	if (err != NULL) {
		tdsrc_pg_schema_failed(ti, err, 1);
		return;
	}
	if (ti->schema_step == TDSRC_STEP_MIGRATE) {
		ti->schema_step = TDSRC_STEP_VERSION;
		if ((ti->schema_q = pgpool_exec(ti->pool, PGPOOL_READ,
		    tokendb_pg_sql_version, 0, NULL, tdsrc_pg_schema_cb, ti,
		    why, sizeof(why))) == NULL)
			tdsrc_pg_schema_failed(ti, why, 1);
		return;
	}
	v = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ?
	    atoi(PQgetvalue(res, 0, 0)) : 0;
	if (v < TOKENDB_SCHEMA_VERSION) {
		tdsrc_pg_schema_failed(ti, "the schema was not created", 1);
		return;
	}
	backoff_reset(&ti->schema_backoff);
	if (v > TOKENDB_SCHEMA_VERSION) {
		SET(ti->ts->schema_found, v);
		log_msg(LL_ERROR, "tokendb_schema", "the token database has "
		    "schema version %d, newer than this program knows (%d): "
		    "its tokens are refused with an error until tokenreviewd "
		    "is upgraded", v, TOKENDB_SCHEMA_VERSION);
		tdsrc_pg_schema_set(ti, TDSRC_SCHEMA_NEWER);
		return;
	}
	log_msg(LL_INFO, "tokendb_schema", "token database schema version %d",
	    v);
	tdsrc_pg_schema_set(ti, TDSRC_SCHEMA_OK);
}

/* Take the check if nobody has it and it is not done. */
static void
tdsrc_pg_schema_start(struct tdsrc_inst *ti)
{
	enum tdsrc_schema	expect = TDSRC_SCHEMA_UNKNOWN;
	char			err[TR_ERRLEN];

	if (ti->schema_q != NULL || !__atomic_compare_exchange_n(
	    &ti->ts->schema, &expect, TDSRC_SCHEMA_CHECKING, 0,
	    __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
		return;
	ti->schema_step = TDSRC_STEP_MIGRATE;
	/* Refused at once while the pool backs off: no log line per try. */
	if ((ti->schema_q = pgpool_exec(ti->pool, PGPOOL_WRITE,
	    ti->ts->migrate_sql, 0, NULL, tdsrc_pg_schema_cb, ti, err,
	    sizeof(err))) == NULL)
		tdsrc_pg_schema_failed(ti, err, 0);
}

static void
tdsrc_pg_schema_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	tdsrc_pg_schema_start(arg);
}

/* The worker goes away: a check it holds is free for another one. */
static void
tdsrc_pg_schema_stop(struct tdsrc_inst *ti)
{
	enum tdsrc_schema	expect = TDSRC_SCHEMA_CHECKING;

	if (ti->schema_q != NULL)
		__atomic_compare_exchange_n(&ti->ts->schema, &expect,
		    TDSRC_SCHEMA_UNKNOWN, 0, __ATOMIC_ACQ_REL,
		    __ATOMIC_ACQUIRE);
	ti->schema_q = NULL;
	if (ti->schema_ev != NULL)
		event_free(ti->schema_ev);
	if (ti->park_ev != NULL)
		event_free(ti->park_ev);
	ti->schema_ev = ti->park_ev = NULL;
}

/* Parked reviews go on (or fail) once the check is over. */
static void
tdsrc_pg_park_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tdsrc_inst	*ti = arg;
	struct tdsrc_pend	*p;
	struct timeval		 tv;
	char			 err[TR_ERRLEN];
	enum tdsrc_schema	 state;
	int			 waiting = 0;

	state = __atomic_load_n(&ti->ts->schema, __ATOMIC_ACQUIRE);
again:
	TAILQ_FOREACH(p, &ti->pending, entry) {
		if (!p->parked)
			continue;
		if (state == TDSRC_SCHEMA_CHECKING) {
			waiting = 1;
			continue;
		}
		if (state == TDSRC_SCHEMA_OK && tdsrc_pg_pend_send(p, err,
		    sizeof(err)) == 0)
			continue;
		if (state != TDSRC_SCHEMA_OK)
			tdsrc_pg_schema_error(ti->ts, state, err, sizeof(err));
		tdsrc_pg_error(ti, p->res, err);
		/* done() may end other reviews: start over. */
		tdsrc_pg_pend_done(p, AUTH_ERROR);
		goto again;
	}
	if (tdsrc_pg_sess_unpark(ti, state))
		waiting = 1;
	if (waiting) {
		ms_to_timeval(TDSRC_PARK_POLL, &tv);
		evtimer_add(ti->park_ev, &tv);
	}
}

enum auth_rv
tdsrc_pg_authenticate(struct tdsrc_inst *ti, struct auth_req *req,
    struct auth_result *res, auth_done_cb done, const char *id,
    const uint8_t *hash, long long now)
{
	struct tdsrc_pend	*p;
	char			 err[TR_ERRLEN];
	enum tdsrc_schema	 state;

	p = xcalloc(1, sizeof(*p));
	p->ti = ti;
	p->req = req;
	p->res = res;
	p->done = done;
	strlcpy(p->id, id, sizeof(p->id));
	memcpy(p->hash, hash, sizeof(p->hash));
	p->now = now;
	TAILQ_INSERT_TAIL(&ti->pending, p, entry);
	if ((state = __atomic_load_n(&ti->ts->schema,
	    __ATOMIC_ACQUIRE)) == TDSRC_SCHEMA_UNKNOWN) {
		tdsrc_pg_schema_start(ti);
		state = __atomic_load_n(&ti->ts->schema, __ATOMIC_ACQUIRE);
	}
	if (state == TDSRC_SCHEMA_CHECKING) {
		p->parked = 1;
		event_active(ti->park_ev, 0, 0);
		return AUTH_PENDING;
	}
	if (state == TDSRC_SCHEMA_OK && tdsrc_pg_pend_send(p, err,
	    sizeof(err)) == 0)
		return AUTH_PENDING;
	/* Known to be unreachable (or not ours): answer now, no waiting. */
	if (state != TDSRC_SCHEMA_OK)
		tdsrc_pg_schema_error(ti->ts, state, err, sizeof(err));
	tdsrc_pg_error(ti, res, err);
	tdsrc_pg_pend_free(p);
	return AUTH_ERROR;
}

void
tdsrc_pg_cancel(struct tdsrc_inst *ti, struct auth_req *req)
{
	struct tdsrc_pend	*p;

	TAILQ_FOREACH(p, &ti->pending, entry) {
		if (p->req == req)
			break;
	}
	if (p == NULL)
		return;
	if (p->q != NULL)
		pgpool_abandon(p->q);
	tdsrc_pg_pend_free(p);
}

/* ------------------------------------------------------------ sessions */

/* Answer a session op with the error err (logged when logged is 0). */
static void
tdsrc_pg_sess_error(struct tdsrc_sess_op *op, const char *err, int log)
{
	char	words[TR_ERRLEN];

	if (log)
		log_msg(LL_WARN, "tokendb_session", "%s", err);
	ADD(op->ti->ts->errors, 1);
	tdsrc_pg_words(err, words, sizeof(words));
	tdsrc_sess_op_done(op, TDSESS_ERROR, words);
}

static void
tdsrc_pg_sess_cb(const struct pg_result *r, const char *err, void *arg)
{
	struct tdsrc_sess_op	*op = arg;
	struct tokendb_session	 s;
	const char		*why;
	enum tdsrc_session_rv	 rv;
	int			 found;

	op->q = NULL;
	if (op->kind == TDSRC_SESS_CHECK)
		tdsrc_timed(op->ti, op->t0);
	if (err != NULL) {
		tdsrc_pg_sess_error(op, err, 1);
		return;
	}
	if (op->kind == TDSRC_SESS_ADD) {
		if (atoi(PQcmdTuples((PGresult *)r)) == 1)
			tdsrc_sess_op_done(op, TDSESS_ACTIVE, NULL);
		else
			tdsrc_sess_op_done(op, TDSESS_ERROR,
			    "session id already taken");
		return;
	}
	memset(&s, 0, sizeof(s));
	if ((found = PQntuples((const PGresult *)r) == 1))
		tokendb_pg_session_row(r, 0, &s);
	rv = tdsrc_session_verdict(&s, found, op->now, &why);
	tokendb_session_clear(&s);
	tdsrc_sess_op_done(op, rv, why);
}

/* Send the op's statement; -1 with err set when the pool refuses. */
static int
tdsrc_pg_sess_send(struct tdsrc_sess_op *op, char *err, size_t errlen)
{
	struct pgpool		*pool = op->ti->pool;
	char			 nums[3][TOKENDB_PG_NUMLEN];
	const char		*v[6];

	op->parked = 0;
	op->t0 = monotonic_sec();
	if (op->kind == TDSRC_SESS_CHECK) {
		v[0] = op->sess.jti;
		op->q = pgpool_exec(pool, PGPOOL_READ,
		    tokendb_pg_sql_session_get, 1, v, tdsrc_pg_sess_cb, op,
		    err, errlen);
		if (op->q == NULL)
			tdsrc_timed(op->ti, op->t0);
	} else {
		tokendb_pg_session_params(&op->sess, nums, v);
		op->q = pgpool_exec(pool, PGPOOL_WRITE,
		    tokendb_pg_sql_session_add, 6, v, tdsrc_pg_sess_cb, op,
		    err, errlen);
	}
	return op->q != NULL ? 0 : -1;
}

/* As a review: parked during the schema check, refused while down. */
struct tdsrc_sess_op *
tdsrc_pg_session(struct tdsrc_sess_op *op)
{
	struct tdsrc_inst	*ti = op->ti;
	char			 err[TR_ERRLEN];
	enum tdsrc_schema	 state;

	if ((state = __atomic_load_n(&ti->ts->schema,
	    __ATOMIC_ACQUIRE)) == TDSRC_SCHEMA_UNKNOWN) {
		tdsrc_pg_schema_start(ti);
		state = __atomic_load_n(&ti->ts->schema, __ATOMIC_ACQUIRE);
	}
	if (state == TDSRC_SCHEMA_CHECKING) {
		op->parked = 1;
		event_active(ti->park_ev, 0, 0);
		return op;
	}
	if (state == TDSRC_SCHEMA_OK && tdsrc_pg_sess_send(op, err,
	    sizeof(err)) == 0)
		return op;
	if (state != TDSRC_SCHEMA_OK)
		tdsrc_pg_schema_error(ti->ts, state, err, sizeof(err));
	tdsrc_pg_sess_error(op, err, 0);
	return NULL;
}

/* Parked session ops go on or fail; 1 while some still wait. */
static int
tdsrc_pg_sess_unpark(struct tdsrc_inst *ti, enum tdsrc_schema state)
{
	struct tdsrc_sess_op	*op;
	char			 err[TR_ERRLEN];
	int			 waiting = 0;

again:
	TAILQ_FOREACH(op, &ti->sess_ops, entry) {
		if (!op->parked)
			continue;
		if (state == TDSRC_SCHEMA_CHECKING) {
			waiting = 1;
			continue;
		}
		if (state == TDSRC_SCHEMA_OK && tdsrc_pg_sess_send(op, err,
		    sizeof(err)) == 0)
			continue;
		if (state != TDSRC_SCHEMA_OK)
			tdsrc_pg_schema_error(ti->ts, state, err, sizeof(err));
		/* The callback may cancel other ops: start over. */
		tdsrc_pg_sess_error(op, err, 0);
		goto again;
	}
	return waiting;
}

static void
tdsrc_pg_pruned_cb(const struct pg_result *r, const char *err, void *arg)
{
	struct tdsrc_inst	*ti = arg;
	int			 n;

	ti->pruning = NULL;
	if (err != NULL) {
		ADD(ti->ts->errors, 1);
		log_msg(LL_WARN, "tokendb_prune", "%s", err);
	} else if ((n = atoi(PQcmdTuples((PGresult *)r))) > 0)
		log_msg(LL_DEBUG, "tokendb_prune", "%d expired sessions "
		    "deleted", n);
}

/* One prune in flight a worker; none while the schema is unchecked. */
void
tdsrc_pg_session_prune(struct tdsrc_inst *ti, int64_t now)
{
	char		 t[TOKENDB_PG_NUMLEN], l[TOKENDB_PG_NUMLEN];
	char		 err[TR_ERRLEN];
	const char	*v[2] = { t, l };

	if (ti->pruning != NULL || __atomic_load_n(&ti->ts->schema,
	    __ATOMIC_ACQUIRE) != TDSRC_SCHEMA_OK)
		return;
	snprintf(t, sizeof(t), "%lld", (long long)now);
	snprintf(l, sizeof(l), "%d", TDSRC_PRUNE_MAX);
	/* Refused while the database is down: the next tick tries again. */
	ti->pruning = pgpool_exec(ti->pool, PGPOOL_WRITE,
	    tokendb_pg_sql_session_prune, 2, v, tdsrc_pg_pruned_cb, ti, err,
	    sizeof(err));
}
