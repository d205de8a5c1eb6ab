/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * A few asynchronous PostgreSQL connections driven by one worker's event
 * loop, so that a lookup never blocks the worker.  Connections open
 * lazily with PQconnectStart()/PQconnectPoll() while libevent watches
 * their socket, then run in libpq's pipeline mode: the queries queued
 * while the loop was busy go to an idle connection together, in one
 * write, and their results come back in order from
 * PQconsumeInput()/PQisBusy()/PQgetResult() on read events.  A batch
 * costs the server one wake-up and a read instead of one per query.
 * Every connection attempt and every batch has a timeout; a connection
 * whose batch outlives it is closed, which also ends its queries on the
 * server.
 *
 * Each write is a transaction of its own (a Sync before and after it),
 * and the last query of its batch: a write may wait for row locks (the
 * use counts of another worker or replica, a revoke), and the reads
 * queued behind it go to another connection rather than wait as long.
 * The reads between two writes share one Sync, which makes them one
 * implicit transaction: it changes nothing, each statement still takes
 * its own snapshot, but an error in one read aborts the reads after it,
 * and those (which never ran) are queued again.
 *
 * A query with parameters is a prepared statement of its connection,
 * prepared on first use there (the Parse goes just ahead of the query, in
 * the same batch): the server then skips parsing and planning a lookup,
 * which halves its cost.  A statement's name is made from its
 * text, so that on a session shared with other clients a name never means
 * another statement.  Behind a connection pooler that hands each
 * transaction some server session, a prepared statement may vanish (the
 * session was reset, or is another one) or already exist (another client
 * prepared it there): the query is then sent unprepared, and the pool
 * prepares nothing from then on.
 *
 * When a connection attempt fails, the queued queries fail at once and new
 * ones are refused without waiting until a retry time that doubles with
 * each failure (up to PGPOOL_BACKOFF_MAX): an unreachable database costs
 * the reviews nothing but a quick error.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <libpq-fe.h>

#include "tokenreviewd.h"
#include "pgpool.h"
#include "tokendb-pg.h"

#define PGPOOL_BACKOFF_MIN	250	/* ms */
#define PGPOOL_BACKOFF_MAX	4000	/* ms */
#define PGPOOL_MAX_QUEUE	1024
#define PGPOOL_MAX_BATCH	64	/* queries sent together */
#define PGPOOL_MAX_STMTS	16	/* distinct prepared statements */
#define PG_UNDEFINED_PSTATEMENT	"26000"
#define PG_DUPLICATE_PSTATEMENT	"42P05"

enum pgconn_state {
	PC_DOWN,
	PC_CONNECTING,
	PC_IDLE,
	PC_BUSY,	/* a batch is out */
};

struct pgpool_query {
	TAILQ_ENTRY(pgpool_query) entry;	/* the queue, or a batch */
	struct pgpool	*pool;
	const char	*sql;		/* own, or the pool's statement */
	char		*own;
	enum pgpool_mode mode;
	int		 n;
	char		**params;	/* in the same allocation */
	pgpool_cb	 cb;
	void		*arg;
	int		 stmt;		/* prepared statement, or -1 */
	int		 preparing;	/* its Parse's result comes first */
	int		 running;
	int		 abandoned;
	unsigned long long seq;		/* order of arrival */
	PGresult	*res;
};
TAILQ_HEAD(pgpool_queue, pgpool_query);

struct pgconn {
	struct pgpool		*pool;
	PGconn			*conn;
	enum pgconn_state	 state;
	struct event		*ev;
	short			 watching;
	struct event		*timer;
	struct pgpool_queue	 batch;		/* sent, in order */
	int			 syncs;		/* Syncs sent, not yet back */
	unsigned		 prepared;	/* bit i: stmts[i] is */
};

struct pgpool {
	struct event_base	*base;
	char			*url;
	long long		 timeout_ms;
	struct pgconn		*conns;
	int			 nconns;
	struct pgpool_queue	 queue;
	int			 nqueued;
	unsigned long long	 seq;		/* of the last query queued */
	struct event		*kick;
	double			 retry_at;
	struct backoff		 backoff;
	void			 (*up)(int, void *);
	void			*up_arg;
	char			*stmts[PGPOOL_MAX_STMTS];
	char			 names[PGPOOL_MAX_STMTS][24];
	int			 nstmts;
	int			 unprepared;	/* prepare nothing */
};

static void	conn_io_cb(evutil_socket_t, short, void *);
static void	dispatch(struct pgpool *);

static void
query_free(struct pgpool_query *q)
{
	if (q == NULL)
		return;
	free(q->own);
	PQclear(q->res);
	free(q);
}

/* Hand the query its answer (unless abandoned) and free it. */
static void
query_done(struct pgpool_query *q, const char *err)
{
	if (!q->abandoned)
		q->cb(err == NULL ? (struct pg_result *)q->res : NULL, err,
		    q->arg);
	query_free(q);
}

/*
 * A query that did not run goes back into the queue where its arrival put
 * it: ahead of every later one, so the queries of a batch that failed go
 * out again in their order and before anything newer.
 */
static void
query_requeue(struct pgpool_query *q)
{
	struct pgpool_query	*at;

	if (q->abandoned) {
		query_free(q);
		return;
	}
	PQclear(q->res);
	q->res = NULL;
	q->running = 0;
	q->preparing = 0;
	TAILQ_FOREACH(at, &q->pool->queue, entry) {
		if (at->seq > q->seq)
			break;
	}
	if (at != NULL)
		TAILQ_INSERT_BEFORE(at, q, entry);
	else
		TAILQ_INSERT_TAIL(&q->pool->queue, q, entry);
	q->pool->nqueued++;
}

/* Watch the connection's socket for what; 0, or -1 without a socket. */
static int
conn_watch(struct pgconn *c, short what)
{
	int	fd = PQsocket(c->conn);

	if (c->ev != NULL && (event_get_fd(c->ev) != fd ||
	    c->watching != what)) {
		event_free(c->ev);
		c->ev = NULL;
	}
	if (fd < 0)
		return -1;
	if (c->ev == NULL) {
		c->ev = event_new(c->pool->base, fd, what | EV_PERSIST,
		    conn_io_cb, c);
		c->watching = what;
		event_add(c->ev, NULL);
	}
	return 0;
}

static void
conn_timer(struct pgconn *c, int on)
{
	struct timeval	tv;

	if (!on) {
		evtimer_del(c->timer);
		return;
	}
	ms_to_timeval(c->pool->timeout_ms, &tv);
	evtimer_add(c->timer, &tv);
}

/* Close the connection; the queries of its batch fail with err. */
static void
conn_close(struct pgconn *c, const char *err)
{
	struct pgpool_query	*q;

	if (c->ev != NULL)
		event_free(c->ev);
	c->ev = NULL;
	conn_timer(c, 0);
	PQfinish(c->conn);
	c->conn = NULL;
	c->state = PC_DOWN;
	c->syncs = 0;
	c->prepared = 0;
	while ((q = TAILQ_FIRST(&c->batch)) != NULL) {
		TAILQ_REMOVE(&c->batch, q, entry);
		query_done(q, err);
	}
}

/* A connection broke: close it; the queue goes on from the loop. */
static void
conn_lost(struct pgconn *c, const char *what)
{
	char	err[TR_ERRLEN];

	tokendb_pg_message(PQerrorMessage(c->conn), what, err, sizeof(err));
	conn_close(c, err);
	event_active(c->pool->kick, 0, 0);
}

static int
pool_live(struct pgpool *p)
{
	int	i;

	for (i = 0; i < p->nconns; i++) {
		if (p->conns[i].state != PC_DOWN)
			return 1;
	}
	return 0;
}

/* A connection attempt failed: back off, and fail the waiting queries. */
static void
conn_failed(struct pgconn *c, const char *msg)
{
	struct pgpool		*p = c->pool;
	struct pgpool_query	*q;
	char			 err[TR_ERRLEN];
	double			 pause;

	tokendb_pg_message(msg, "token database unreachable", err,
	    sizeof(err));
	conn_close(c, err);
	pause = (double)backoff_next(&p->backoff) / 1000;
	p->retry_at = monotonic_sec() + pause;
	log_msg(LL_WARN, "pgpool_connect", "%s; retrying in %.2f s", err,
	    pause);
	if (p->up != NULL)
		p->up(0, p->up_arg);
	if (pool_live(p))
		return;
	while ((q = TAILQ_FIRST(&p->queue)) != NULL) {
		TAILQ_REMOVE(&p->queue, q, entry);
		p->nqueued--;
		query_done(q, err);
	}
}

static void
conn_poll(struct pgconn *c)
{
	switch (PQconnectPoll(c->conn)) {
	case PGRES_POLLING_READING:
		if (conn_watch(c, EV_READ) != 0)
			conn_failed(c, "no socket");
		return;
	case PGRES_POLLING_WRITING:
		if (conn_watch(c, EV_WRITE) != 0)
			conn_failed(c, "no socket");
		return;
	case PGRES_POLLING_OK:
		if (!PQenterPipelineMode(c->conn)) {
			conn_failed(c, PQerrorMessage(c->conn));
			return;
		}
		conn_timer(c, 0);
		c->state = PC_IDLE;
		backoff_reset(&c->pool->backoff);
		c->pool->retry_at = 0;
		if (c->pool->up != NULL)
			c->pool->up(1, c->pool->up_arg);
		/* Idle, it is watched for the server closing it. */
		conn_watch(c, EV_READ);
		dispatch(c->pool);
		return;
	default:
		conn_failed(c, PQerrorMessage(c->conn));
		return;
	}
}

static void
conn_start(struct pgconn *c)
{
	const char	*keys[] = { "dbname", NULL };
	const char	*values[] = { c->pool->url, NULL };

	c->conn = PQconnectStartParams(keys, values, 1);
	c->state = PC_CONNECTING;
	if (c->conn == NULL || PQstatus(c->conn) == CONNECTION_BAD) {
		conn_failed(c, c->conn != NULL ? PQerrorMessage(c->conn) :
		    "out of memory");
		return;
	}
	PQsetnonblocking(c->conn, 1);
	conn_timer(c, 1);
	if (conn_watch(c, EV_WRITE) != 0)
		conn_failed(c, "no socket");
}

/*
 * Queue q on the connection's pipeline, its statement's Parse first when
 * the connection has not prepared it yet; 0, or -1 when libpq refuses.
 */
static int
conn_put(struct pgconn *c, struct pgpool_query *q)
{
	const char	*name;

	if (c->pool->unprepared)
		q->stmt = -1;
	name = q->stmt >= 0 ? c->pool->names[q->stmt] : NULL;
	q->preparing = q->stmt >= 0 && !(c->prepared & (1U << q->stmt));
	if (q->preparing) {
		if (!PQsendPrepare(c->conn, name, q->sql, q->n, NULL))
			return -1;
		/* The queries behind it use it; undone if it fails. */
		c->prepared |= 1U << q->stmt;
	}
	if (q->stmt >= 0)
		return PQsendQueryPrepared(c->conn, name, q->n,
		    (const char *const *)q->params, NULL, NULL, 0) ? 0 : -1;
	return PQsendQueryParams(c->conn, q->sql, q->n, NULL,
	    (const char *const *)q->params, NULL, NULL, 0) ? 0 : -1;
}

static int
conn_sync(struct pgconn *c)
{
	if (!PQpipelineSync(c->conn))
		return -1;
	c->syncs++;
	return 0;
}

/*
 * Send the head of the queue as one batch: the reads in a row share a
 * Sync, a write has one on each side and ends the batch.
 * PQpipelineSync() flushes, so a batch of reads is one write to the
 * socket.
 */
static void
conn_send(struct pgconn *c)
{
	struct pgpool		*p = c->pool;
	struct pgpool_query	*q;
	int			 f = 0, n = 0, open = 0;

	c->state = PC_BUSY;
	conn_timer(c, 1);
	while ((q = TAILQ_FIRST(&p->queue)) != NULL && n++ < PGPOOL_MAX_BATCH) {
		TAILQ_REMOVE(&p->queue, q, entry);
		p->nqueued--;
		q->running = 1;
		TAILQ_INSERT_TAIL(&c->batch, q, entry);
		if (q->mode == PGPOOL_WRITE && open && conn_sync(c) != 0)
			goto lost;
		if (conn_put(c, q) != 0)
			goto lost;
		open = q->mode == PGPOOL_READ;
		if (!open) {
			if (conn_sync(c) != 0)
				goto lost;
			break;
		}
	}
	if ((open && conn_sync(c) != 0) || (f = PQflush(c->conn)) < 0)
		goto lost;
	conn_watch(c, f == 1 ? EV_READ | EV_WRITE : EV_READ);
	return;
lost:
	conn_lost(c, "token database query failed");
}

/* err for a query that failed: its SQLSTATE's cause, if known. */
static void
query_error(struct pgpool_query *q, char *err, size_t errlen)
{
	const char	*cause = NULL;

	if (q->res != NULL)
		cause = tokendb_pg_state_cause(PQresultErrorField(q->res,
		    PG_DIAG_SQLSTATE));
	tokendb_pg_message(q->res != NULL ? PQresultErrorMessage(q->res) :
	    "no result", cause != NULL ? cause : "token database query failed",
	    err, errlen);
}

/*
 * 1 when q's statement was not where it should be: the session lost the
 * statement we prepared there, or already had the one we prepare.  A
 * pooler hands out sessions: from now on queries go unprepared.
 */
static int
query_unprepared(struct pgpool_query *q)
{
	const char	*state;

	if (q->stmt < 0 || q->res == NULL ||
	    (state = PQresultErrorField(q->res, PG_DIAG_SQLSTATE)) == NULL ||
	    (strcmp(state, PG_UNDEFINED_PSTATEMENT) != 0 &&
	    strcmp(state, PG_DUPLICATE_PSTATEMENT) != 0))
		return 0;
	if (!q->pool->unprepared)
		log_msg(LL_WARN, "pgpool_prepare", "a prepared statement %s "
		    "its session (a pooler in front of the database?); "
		    "sending queries unprepared from now on",
		    strcmp(state, PG_DUPLICATE_PSTATEMENT) == 0 ?
		    "was already in" : "vanished from");
	q->pool->unprepared = 1;
	q->stmt = -1;
	return 1;
}

/*
 * The results of q are in: answer it, or queue it again when it did not
 * run (an earlier read of its transaction failed) or needs to go
 * unprepared.
 */
static void
query_finish(struct pgpool_query *q)
{
	char		err[TR_ERRLEN];
	ExecStatusType	st;

	st = q->res != NULL ? PQresultStatus(q->res) : PGRES_FATAL_ERROR;
	if (st == PGRES_TUPLES_OK || st == PGRES_COMMAND_OK)
		query_done(q, NULL);
	else if (st == PGRES_PIPELINE_ABORTED || query_unprepared(q))
		query_requeue(q);
	else {
		query_error(q, err, sizeof(err));
		query_done(q, err);
	}
}

/* The end (a NULL result) of the head's Parse, or of the head query. */
static void
conn_item_end(struct pgconn *c)
{
	struct pgpool_query	*q = TAILQ_FIRST(&c->batch);
	ExecStatusType		 st;

	if (q->preparing) {
		q->preparing = 0;
		st = q->res != NULL ? PQresultStatus(q->res) :
		    PGRES_FATAL_ERROR;
		if (st == PGRES_COMMAND_OK) {
			PQclear(q->res);
			q->res = NULL;
		} else	/* q answers with the Parse's failure */
			c->prepared &= ~(1U << q->stmt);
		return;
	}
	TAILQ_REMOVE(&c->batch, q, entry);
	query_finish(q);
}

/* The batch is over: the connection takes the next one. */
static void
conn_idle(struct pgconn *c)
{
	conn_timer(c, 0);
	c->state = PC_IDLE;
	conn_watch(c, EV_READ);
	dispatch(c->pool);
}

/* Read what arrived; results come in the order of the batch. */
static void
conn_read(struct pgconn *c)
{
	struct pgpool_query	*q;
	PGresult		*r;

	/* A closed socket is readable forever: it must not stay watched. */
	if (!PQconsumeInput(c->conn) || PQstatus(c->conn) == CONNECTION_BAD) {
		conn_lost(c, "token database connection lost");
		return;
	}
	if (c->state != PC_BUSY) {
		/* Idle: a notice, or the server going away. */
		while (!PQisBusy(c->conn) && (r = PQgetResult(c->conn)) != NULL)
			PQclear(r);
		return;
	}
	while ((q = TAILQ_FIRST(&c->batch)) != NULL || c->syncs > 0) {
		if (PQisBusy(c->conn))
			return;
		r = PQgetResult(c->conn);
		if (r != NULL && PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
			PQclear(r);
			c->syncs--;
		} else if (r == NULL && q == NULL) {
			conn_lost(c, "token database protocol out of step");
			return;
		} else if (r == NULL)
			conn_item_end(c);
		else if (q->res == NULL)
			q->res = r;
		else
			PQclear(r);
	}
	conn_idle(c);
}

static void
conn_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn	*c = arg;
	int		 f;

	if (c->state == PC_CONNECTING) {
		conn_poll(c);
		return;
	}
	if ((what & EV_WRITE) && c->state == PC_BUSY) {
		if ((f = PQflush(c->conn)) < 0) {
			conn_lost(c, "token database connection lost");
			return;
		}
		if (f == 0)
			conn_watch(c, EV_READ);
	}
	if (what & EV_READ)
		conn_read(c);
}

static void
conn_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pgconn	*c = arg;

	if (c->state == PC_CONNECTING) {
		conn_failed(c, "connection timed out");
		return;
	}
	log_msg(LL_WARN, "pgpool_query", "a token database query took "
	    "longer than %lld ms; closing its connection",
	    c->pool->timeout_ms);
	conn_close(c, "token database query timed out");
	dispatch(c->pool);
}

/* Send the queue to idle connections, opening more if allowed. */
static void
dispatch(struct pgpool *p)
{
	struct pgconn		*idle, *down;
	int			 i, connecting;

	while (!TAILQ_EMPTY(&p->queue)) {
		idle = down = NULL;
		connecting = 0;
		for (i = 0; i < p->nconns; i++) {
			if (p->conns[i].state == PC_IDLE && idle == NULL)
				idle = &p->conns[i];
			else if (p->conns[i].state == PC_DOWN && down == NULL)
				down = &p->conns[i];
			else if (p->conns[i].state == PC_CONNECTING)
				connecting++;
		}
		if (idle != NULL) {
			conn_send(idle);
			continue;
		}
		/* One more connection per query waiting beyond those coming. */
		if (down != NULL && connecting < p->nqueued &&
		    monotonic_sec() >= p->retry_at) {
			conn_start(down);
			continue;
		}
		break;
	}
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	dispatch(arg);
}

struct pgpool *
pgpool_new(struct event_base *base, const char *url, int size,
    long long timeout_ms, void (*up)(int, void *), void *arg)
{
	struct pgpool	*p;
	int		 i;

	p = xcalloc(1, sizeof(*p));
	p->base = base;
	p->url = xstrdup(url);
	p->timeout_ms = timeout_ms;
	backoff_init(&p->backoff, PGPOOL_BACKOFF_MIN, PGPOOL_BACKOFF_MAX, 0);
	p->nconns = size;
	p->conns = xcalloc(size, sizeof(*p->conns));
	for (i = 0; i < size; i++) {
		p->conns[i].pool = p;
		TAILQ_INIT(&p->conns[i].batch);
		p->conns[i].timer = evtimer_new(base, conn_timeout_cb,
		    &p->conns[i]);
	}
	TAILQ_INIT(&p->queue);
	p->kick = event_new(base, -1, 0, kick_cb, p);
	p->up = up;
	p->up_arg = arg;
	return p;
}

/* Queries still queued or running are dropped without their callbacks. */
void
pgpool_free(struct pgpool *p)
{
	struct pgpool_query	*q;
	int			 i;

	if (p == NULL)
		return;
	while ((q = TAILQ_FIRST(&p->queue)) != NULL) {
		TAILQ_REMOVE(&p->queue, q, entry);
		query_free(q);
	}
	for (i = 0; i < p->nconns; i++) {
		TAILQ_FOREACH(q, &p->conns[i].batch, entry)
			q->abandoned = 1;
		conn_close(&p->conns[i], "shutting down");
		event_free(p->conns[i].timer);
	}
	event_free(p->kick);
	for (i = 0; i < p->nstmts; i++)
		free(p->stmts[i]);
	free(p->conns);
	free(p->url);
	free(p);
}

/* The index of sql among the prepared statements; -1 when they are full. */
static int
pool_stmt(struct pgpool *p, const char *sql)
{
	int	i;

	for (i = 0; i < p->nstmts; i++) {
		if (strcmp(p->stmts[i], sql) == 0)
			return i;
	}
	if (p->nstmts == PGPOOL_MAX_STMTS)
		return -1;
	p->stmts[p->nstmts] = xstrdup(sql);
	snprintf(p->names[p->nstmts], sizeof(p->names[0]), "tr_%016llx",
	    (unsigned long long)fnv1a64(sql));
	return p->nstmts++;
}

/* q with room for the copies of n parameters, in one allocation. */
static struct pgpool_query *
query_new(int n, const char *const *params)
{
	struct pgpool_query	*q;
	size_t			 len = sizeof(*q) + (n + 1) * sizeof(char *);
	char			*s;
	int			 i;

	for (i = 0; i < n; i++)
		len += params[i] != NULL ? strlen(params[i]) + 1 : 0;
	q = xcalloc(1, len);
	q->n = n;
	q->params = (char **)(q + 1);
	s = (char *)(q->params + n + 1);
	for (i = 0; i < n; i++) {
		if (params[i] == NULL)
			continue;
		len = strlen(params[i]) + 1;
		q->params[i] = memcpy(s, params[i], len);
		s += len;
	}
	return q;
}

struct pgpool_query *
pgpool_exec(struct pgpool *p, enum pgpool_mode mode, const char *sql, int n,
    const char *const *params, pgpool_cb cb, void *arg, char *err,
    size_t errlen)
{
	struct pgpool_query	*q;

	if (!pool_live(p) && monotonic_sec() < p->retry_at) {
		snprintf(err, errlen, "token database unreachable (retrying "
		    "in %.2f s)", p->retry_at - monotonic_sec());
		return NULL;
	}
	if (p->nqueued >= PGPOOL_MAX_QUEUE) {
		snprintf(err, errlen, "token database busy: too many queries "
		    "waiting");
		return NULL;
	}
	q = query_new(n, params);
	q->pool = p;
	q->mode = mode;
	/* A statement's text is kept once, by the pool. */
	if ((q->stmt = n > 0 ? pool_stmt(p, sql) : -1) >= 0)
		q->sql = p->stmts[q->stmt];
	else
		q->sql = q->own = xstrdup(sql);
	q->cb = cb;
	q->arg = arg;
	q->seq = ++p->seq;
	TAILQ_INSERT_TAIL(&p->queue, q, entry);
	p->nqueued++;
	/*
	 * From the loop: a callback never runs before this returns, and the
	 * queries of one turn of the loop go out together.
	 */
	event_active(p->kick, 0, 0);
	return q;
}

/*
 * The caller no longer wants the answer: a waiting query is dropped, a
 * running one's answer is discarded when it comes.
 */
void
pgpool_abandon(struct pgpool_query *q)
{
	if (q->running) {
		q->abandoned = 1;
		return;
	}
	TAILQ_REMOVE(&q->pool->queue, q, entry);
	q->pool->nqueued--;
	query_free(q);
}
