/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Login sessions on a worker's instance of the tokendb source: the login
 * flow writes a row for each token it signs, and a review of such a
 * token checks that its row is still there, not revoked and not expired.
 * A check is a lookup by primary key, like a token's, and is timed with
 * them.  With SQLite both run on the worker's own connection before the
 * call returns (a lookup takes microseconds; an add waits at most
 * busy_timeout for the write lock, and logins are rare); with PostgreSQL
 * they go through the worker's pool (auth-tokendb-pg.c) and answer from
 * the loop.  Expired rows are pruned, a bounded number a pass, once a
 * generation has used sessions: every flush_interval by one worker, by
 * the writer thread (SQLite) or the pool (PostgreSQL).
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "tokenreviewd.h"
#include "tokendb.h"
#ifdef HAVE_TOKENDB_PG
#include "pgpool.h"
#endif
#include "auth-tokendb.h"

enum tdsrc_session_rv
tdsrc_session_verdict(const struct tokendb_session *s, int found,
    int64_t now, const char **why)
{
	*why = NULL;
	if (!found)
		*why = "unknown session";
	else if (s->revoked)
		*why = "session revoked";
	else if (s->expires <= now)
		*why = "session expired";
	return *why == NULL ? TDSESS_ACTIVE : TDSESS_ENDED;
}

void
tdsrc_sess_op_free(struct tdsrc_sess_op *op)
{
	if (op == NULL)
		return;
	if (op->ti != NULL)
		TAILQ_REMOVE(&op->ti->sess_ops, op, entry);
	tokendb_session_clear(&op->sess);
	free(op);
}

void
tdsrc_sess_op_done(struct tdsrc_sess_op *op, enum tdsrc_session_rv rv,
    const char *why)
{
	tdsrc_session_cb	 cb = op->cb;
	void			*arg = op->arg;

	tdsrc_sess_op_free(op);
	cb(arg, rv, why);
}

/* The words of a failure for why: the cause, not the engine's message. */
static const char *
tdsrc_session_error(struct tdsrc_inst *ti, const char *what,
    const char *err)
{
	const char	*cause;

	ADD(ti->ts->errors, 1);
	log_msg(LL_WARN, what, "%s", err);
	cause = tokendb_error_cause(err);
	return cause != NULL ? cause : "token database unavailable";
}

static void
tdsrc_session_check_file(struct tdsrc_inst *ti, const char *jti,
    int64_t now, tdsrc_session_cb cb, void *arg)
{
	struct tokendb_session	 s;
	const char		*why = NULL;
	char			 err[TR_ERRLEN];
	double			 t0 = monotonic_sec();
	enum tdsrc_session_rv	 rv;
	int			 found;

	tdsrc_read_close(ti);
	found = tokendb_session_get(ti->db, jti, &s, err, sizeof(err));
	tdsrc_timed(ti, t0);
	SET(ti->ts->failing, found < 0);
	if (found < 0)
		cb(arg, TDSESS_ERROR, tdsrc_session_error(ti,
		    "tokendb_session", err));
	else {
		rv = tdsrc_session_verdict(&s, found, now, &why);
		cb(arg, rv, why);
	}
	tokendb_session_clear(&s);
}

static void
tdsrc_session_add_file(struct tdsrc_inst *ti,
    const struct tokendb_session *s, tdsrc_session_cb cb, void *arg)
{
	char	err[TR_ERRLEN];
	int	r;

	tdsrc_read_close(ti);
	if ((r = tokendb_session_add(ti->db, s, err, sizeof(err))) < 0)
		cb(arg, TDSESS_ERROR, tdsrc_session_error(ti,
		    "tokendb_session", err));
	else if (r == 0)
		cb(arg, TDSESS_ERROR, "session id already taken");
	else
		cb(arg, TDSESS_ACTIVE, NULL);
}

#ifdef HAVE_TOKENDB_PG
/* A PostgreSQL op, queued on the worker, with its own copy of the row. */
static struct tdsrc_sess_op *
tdsrc_session_op(struct tdsrc_inst *ti, enum tdsrc_sess_kind kind,
    const struct tokendb_session *s, int64_t now, tdsrc_session_cb cb,
    void *arg)
{
	struct tdsrc_sess_op	*op;

	op = xcalloc(1, sizeof(*op));
	op->ti = ti;
	op->kind = kind;
	op->cb = cb;
	op->arg = arg;
	op->now = now;
	op->sess = *s;
	op->sess.jti = xstrdup(s->jti);
	op->sess.username = s->username != NULL ? xstrdup(s->username) : NULL;
	op->sess.client = s->client != NULL ? xstrdup(s->client) : NULL;
	TAILQ_INSERT_TAIL(&ti->sess_ops, op, entry);
	return tdsrc_pg_session(op);
}
#endif

struct tdsrc_sess_op *
tdsrc_session_check(void *inst, const char *jti, int64_t now,
    tdsrc_session_cb cb, void *arg)
{
	struct tdsrc_inst	*ti = inst;
#ifdef HAVE_TOKENDB_PG
	struct tokendb_session	 s;
#endif

	SET(ti->ts->sessions_used, 1);
	if (!tokendb_valid_jti(jti)) {
		cb(arg, TDSESS_ENDED, "unknown session");
		return NULL;
	}
#ifdef HAVE_TOKENDB_PG
	if (ti->pool != NULL) {
		memset(&s, 0, sizeof(s));
		s.jti = (char *)jti;
		return tdsrc_session_op(ti, TDSRC_SESS_CHECK, &s, now, cb,
		    arg);
	}
#endif
	tdsrc_session_check_file(ti, jti, now, cb, arg);
	return NULL;
}

struct tdsrc_sess_op *
tdsrc_session_add(void *inst, const struct tokendb_session *s,
    tdsrc_session_cb cb, void *arg)
{
	struct tdsrc_inst	*ti = inst;

	SET(ti->ts->sessions_used, 1);
	if (s->jti == NULL || !tokendb_valid_jti(s->jti) ||
	    s->username == NULL) {
		cb(arg, TDSESS_ERROR, "invalid session");
		return NULL;
	}
#ifdef HAVE_TOKENDB_PG
	if (ti->pool != NULL)
		return tdsrc_session_op(ti, TDSRC_SESS_ADD, s, 0, cb, arg);
#endif
	tdsrc_session_add_file(ti, s, cb, arg);
	return NULL;
}

void
tdsrc_session_cancel(struct tdsrc_sess_op *op)
{
	if (op == NULL)
		return;
#ifdef HAVE_TOKENDB_PG
	if (op->q != NULL)
		pgpool_abandon(op->q);
#endif
	tdsrc_sess_op_free(op);
}

long long
tdsrc_session_cache_ttl(void *inst)
{
	const struct tdsrc_inst	*ti = inst;

	return ti->ts->cache_ttl;
}

/*
 * Once a flush_interval per generation, by whichever worker's timer
 * comes first, and only once sessions are in use here.
 */
void
tdsrc_session_tick(struct tdsrc_inst *ti)
{
	struct tdsrc_shared	*ts = ti->ts;
	int64_t			 now = (int64_t)monotonic_ms();
	int64_t			 next = GET(ts->prune_next);

	if (!GET(ts->sessions_used) || now < next ||
	    !__atomic_compare_exchange_n(&ts->prune_next, &next,
	    now + ts->flush_interval, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return;
#ifdef HAVE_TOKENDB_PG
	if (ti->pool != NULL) {
		tdsrc_pg_session_prune(ti, (int64_t)time(NULL));
		return;
	}
#endif
	tdsrc_writer_prune(ts);
}
