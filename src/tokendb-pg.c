/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The PostgreSQL engine of the token database, for several daemons
 * sharing one database.  Same rows and schema version as the SQLite
 * engine, in PostgreSQL types; the schema is created on first use under an
 * advisory lock so that two processes starting at once do not both create
 * it.  This file holds the synchronous operations of the engine table
 * (tokendb-engine.h: used by tokenreviewctl and for a worker's last use
 * counts), the pipelined inserts of an import, and the statements and row
 * decoding that the daemon's asynchronous lookups and schema check share
 * with them (tokendb-pg.h).
 */

#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <libpq-fe.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "tokenreviewd.h"
#include "tokendb.h"
#include "tokendb-engine.h"
#include "tokendb-pg.h"

/* Any constant: the key of the advisory lock taken while migrating. */
#define TOKENDB_PG_LOCK		"7263206"

/* migrations[i] takes the schema from version i to i + 1, as in SQLite. */
static const char *const pg_migrations[TOKENDB_SCHEMA_VERSION] = {
	"CREATE TABLE tokens ("
	"  id text PRIMARY KEY NOT NULL,"
	"  secret_hash bytea NOT NULL,"
	"  username text NOT NULL,"
	"  uid text,"
	"  groups text NOT NULL DEFAULT '[]',"
	"  extra text NOT NULL DEFAULT '{}',"
	"  description text NOT NULL DEFAULT '',"
	"  usages text NOT NULL DEFAULT 'authentication',"
	"  bootstrap integer NOT NULL DEFAULT 0,"
	"  revoked integer NOT NULL DEFAULT 0,"
	"  created bigint NOT NULL,"
	"  expires bigint,"
	"  uses_left bigint,"
	"  last_used bigint,"
	"  use_count bigint NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX tokens_expires ON tokens (expires)"
	"  WHERE expires IS NOT NULL;",
	/* 2: the sessions of /login, one row per token it signed. */
	"CREATE TABLE sessions ("
	"  jti text PRIMARY KEY NOT NULL,"
	"  username text NOT NULL,"
	"  issued bigint NOT NULL,"
	"  expires bigint NOT NULL,"
	"  client text NOT NULL DEFAULT '',"
	"  revoked integer NOT NULL DEFAULT 0"
	");"
	"CREATE INDEX sessions_username ON sessions (username);"
	"CREATE INDEX sessions_expires ON sessions (expires);",
};

#define PG_COLUMNS "id, encode(secret_hash, 'hex'), username, uid, " \
	"groups, extra, description, usages, bootstrap, revoked, created, " \
	"expires, uses_left, last_used, use_count"

const char *const tokendb_pg_sql_get =
    "SELECT " PG_COLUMNS " FROM tokens WHERE id = $1";
/* The condition makes the decrement atomic across all daemons. */
const char *const tokendb_pg_sql_consume =
    "UPDATE tokens SET uses_left = uses_left - 1 WHERE id = $1 AND "
    "uses_left > 0 AND revoked = 0 RETURNING uses_left";
/*
 * A whole batch of use counts in one statement.  The batches of two
 * workers or two replicas often hold the same tokens.  An UPDATE ... FROM
 * the unnest locks each row as it reaches it, in the batch's own order,
 * so two batches could each wait for a row the other holds until the
 * server's deadlock_timeout (1 s) fails one of them.  Here the rows are
 * locked first, sorted by id (the sort is below the lock in the plan), so
 * batches only wait for each other in turn.
 */
const char *const tokendb_pg_sql_uses =
    "UPDATE tokens AS t SET use_count = t.use_count + u.n, last_used = "
    "greatest(coalesce(t.last_used, 0), u.at) FROM (SELECT id FROM tokens "
    "WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE) AS l JOIN "
    "unnest($1::text[], $2::bigint[], $3::bigint[]) AS u(id, n, at) ON "
    "u.id = l.id WHERE t.id = u.id";

#define PG_SESS_COLUMNS "jti, username, issued, expires, client, revoked"
const char *const tokendb_pg_sql_session_get =
    "SELECT " PG_SESS_COLUMNS " FROM sessions WHERE jti = $1";
/* A jti already taken changes nothing ("INSERT 0 0"). */
const char *const tokendb_pg_sql_session_add =
    "INSERT INTO sessions (" PG_SESS_COLUMNS ") VALUES ($1, $2, $3, $4, $5, "
    "$6) ON CONFLICT (jti) DO NOTHING";
/* $1 now, $2 the most rows to delete (NULL: all). */
const char *const tokendb_pg_sql_session_prune =
    "DELETE FROM sessions WHERE jti IN (SELECT jti FROM sessions WHERE "
    "expires <= $1 LIMIT $2)";

/* The schema version the database holds, after tokendb_pg_migrate_sql(). */
const char *const tokendb_pg_sql_version =
    "SELECT max(version) FROM schema_version";

/*
 * A new row.  For one row, an id already taken changes nothing ("INSERT 0
 * 0").  An import does without ON CONFLICT, which costs the server a fifth
 * of its time per row: a taken id fails with unique_violation instead (the
 * primary key is the only unique constraint), and the import rolls back.
 */
#define PG_INSERT_PARAMS	15
#define PG_INSERT "INSERT INTO tokens (id, secret_hash, username, uid, " \
	"groups, extra, description, usages, bootstrap, revoked, created, " \
	"expires, uses_left, last_used, use_count) VALUES ($1, " \
	"decode($2, 'hex'), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, " \
	"$14, $15)"
#define PG_UNIQUE_VIOLATION	"23505"
static const char *const pg_sql_insert =
    PG_INSERT " ON CONFLICT (id) DO NOTHING";

struct tokendb_pg {
	PGconn	*conn;
	int	 insert_prepared;	/* PG_INSERT as insert_name */
	char	 insert_name[48];
};

/* The first line of libpq's message: they end in newlines. */
void
tokendb_pg_message(const char *msg, const char *what, char *err,
    size_t errlen)
{
	size_t	n = strcspn(msg, "\n");

	snprintf(err, errlen, "%s: %.*s", what, (int)n, msg);
}

/*
 * SQLSTATEs (PostgreSQL's appendix A) that say why a write failed:
 * disk_full, read_only_sql_transaction (a standby), io_error.
 */
const char *
tokendb_pg_state_cause(const char *sqlstate)
{
	if (sqlstate == NULL)
		return NULL;
	if (strcmp(sqlstate, "53100") == 0)
		return TOKENDB_ERR_FULL;
	if (strcmp(sqlstate, "25006") == 0)
		return TOKENDB_ERR_READONLY;
	if (strcmp(sqlstate, "58030") == 0)
		return TOKENDB_ERR_IO;
	return NULL;
}

/* err for a failed call: res is its result, or NULL. */
static void
pg_error(struct tokendb_pg *p, const PGresult *res, const char *what,
    char *err, size_t errlen)
{
	const char	*cause = NULL;
	char		 buf[TR_ERRLEN];

	if (PQstatus(p->conn) == CONNECTION_BAD) {
		tokendb_pg_message(PQerrorMessage(p->conn), "the token "
		    "database is unreachable", err, errlen);
		return;
	}
	if (res != NULL)
		cause = tokendb_pg_state_cause(PQresultErrorField(res,
		    PG_DIAG_SQLSTATE));
	if (cause != NULL) {
		snprintf(buf, sizeof(buf), "%s: %s", what, cause);
		what = buf;
	}
	tokendb_pg_message(res != NULL ? PQresultErrorMessage(res) :
	    PQerrorMessage(p->conn), what, err, errlen);
}

static PGresult *
pg_exec(struct tokendb_pg *p, const char *sql, int n,
    const char *const *params, const char *what, char *err, size_t errlen)
{
	PGresult	*res;

	/* Without parameters, a string may hold several statements. */
	if (n == 0)
		res = PQexec(p->conn, sql);
	else
		res = PQexecParams(p->conn, sql, n, NULL, params, NULL, NULL,
		    0);
	if (res != NULL && (PQresultStatus(res) == PGRES_COMMAND_OK ||
	    PQresultStatus(res) == PGRES_TUPLES_OK))
		return res;
	pg_error(p, res, what, err, errlen);
	PQclear(res);
	return NULL;
}

static int
pg_simple(struct tokendb_pg *p, const char *sql, const char *what,
    char *err, size_t errlen)
{
	PGresult	*res;

	if ((res = pg_exec(p, sql, 0, NULL, what, err, errlen)) == NULL)
		return -1;
	PQclear(res);
	return 0;
}

/*
 * Create or upgrade the schema with the daemon's statement (below); only
 * a command that may create the database finds none and makes it.
 */
static int
pg_migrate(void *arg, int flags, char *err, size_t errlen)
{
	struct tokendb_pg	*p = arg;
	PGresult		*res;
	char			*sql;
	int			 v, r;

	if (!(flags & TOKENDB_CREATE)) {
		if ((res = pg_exec(p, "SELECT to_regclass('schema_version') "
		    "IS NULL", 0, NULL, "opening", err, errlen)) == NULL)
			return -1;
		r = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (r) {
			snprintf(err, errlen, "not a token database (no "
			    "schema)");
			return -1;
		}
	}
	sql = tokendb_pg_migrate_sql();
	r = pg_simple(p, sql, "migrating the schema", err, errlen);
	free(sql);
	if (r != 0 || (res = pg_exec(p, tokendb_pg_sql_version, 0, NULL,
	    "reading the schema version", err, errlen)) == NULL)
		return -1;
	v = atoi(PQgetvalue(res, 0, 0));
	PQclear(res);
	if (v > TOKENDB_SCHEMA_VERSION) {
		snprintf(err, errlen, "schema version %d is newer than this "
		    "program knows (%d)", v, TOKENDB_SCHEMA_VERSION);
		return -1;
	}
	return 0;
}

/*
 * The schema check as one statement, for a pool that gives no
 * connection to a transaction of several: a DO block that creates or
 * upgrades the schema under an advisory lock (replicas and
 * tokenreviewctl may start at once).  A schema newer than ours is left
 * alone; the caller reads the version afterwards with
 * tokendb_pg_sql_version.  to_regclass()
 * instead of IF NOT EXISTS: no notice reaches the client.
 */
char *
tokendb_pg_migrate_sql(void)
{
	struct evbuffer	*b;
	char		*sql;
	int		 v;

	b = evbuffer_new();
	evbuffer_add_printf(b, "DO $tokenreviewd$ DECLARE v integer; BEGIN "
	    "PERFORM pg_advisory_xact_lock(" TOKENDB_PG_LOCK "); "
	    "IF to_regclass('schema_version') IS NULL THEN "
	    "CREATE TABLE schema_version (version integer NOT NULL); "
	    "END IF; "
	    "SELECT max(version) INTO v FROM schema_version; "
	    "IF v IS NULL THEN INSERT INTO schema_version VALUES (0); "
	    "v := 0; END IF; ");
	for (v = 0; v < TOKENDB_SCHEMA_VERSION; v++)
		evbuffer_add_printf(b, "IF v < %d THEN EXECUTE $m$%s$m$; "
		    "END IF; ", v + 1, pg_migrations[v]);
	evbuffer_add_printf(b, "IF v < %d THEN UPDATE schema_version SET "
	    "version = %d; END IF; END $tokenreviewd$",
	    TOKENDB_SCHEMA_VERSION, TOKENDB_SCHEMA_VERSION);
	evbuffer_add(b, "", 1);
	sql = xstrdup((char *)evbuffer_pullup(b, -1));
	evbuffer_free(b);
	return sql;
}

/*
 * The URL parses as libpq connection parameters; nothing is contacted.
 * libpq quotes the URL, or the part it could not parse, after ': "' in
 * its message; that part may hold a password and is left out.
 */
int
tokendb_pg_check_url(const char *url, char *err, size_t errlen)
{
	PQconninfoOption	*opts;
	char			*msg = NULL, *q;

	if ((opts = PQconninfoParse(url, &msg)) == NULL) {
		if (msg != NULL && (q = strstr(msg, ": \"")) != NULL)
			*q = '\0';
		tokendb_pg_message(msg != NULL ? msg : "out of memory",
		    "bad URL", err, errlen);
		PQfreemem(msg);
		return -1;
	}
	PQconninfoFree(opts);
	return 0;
}

static void
pg_close(void *arg)
{
	struct tokendb_pg	*p = arg;

	if (p == NULL)
		return;
	PQfinish(p->conn);
	free(p);
}

static void *
pg_open(const char *url, int flags, long long timeout_ms, char *err,
    size_t errlen)
{
	struct tokendb_pg	*p;
	const char		*keys[] = { "connect_timeout", "dbname",
				    NULL };
	const char		*values[] = { NULL, url, NULL };
	char			 secs[32];

	/* libpq counts whole seconds; it treats 1 as 2. */
	snprintf(secs, sizeof(secs), "%lld", timeout_ms < 2000 ? 2 :
	    timeout_ms / 1000);
	values[0] = secs;
	p = xcalloc(1, sizeof(*p));
	p->conn = PQconnectdbParams(keys, values, 1);
	if (p->conn == NULL || PQstatus(p->conn) != CONNECTION_OK) {
		tokendb_pg_message(p->conn != NULL ? PQerrorMessage(p->conn) :
		    "out of memory", "the token database is unreachable", err,
		    errlen);
		goto fail;
	}
	if (pg_simple(p, "SET client_min_messages = warning", "opening",
	    err, errlen) != 0)
		goto fail;
	return p;
fail:
	pg_close(p);
	return NULL;
}

/*
 * As open and migrate with TOKENDB_CREATE.  owner is for a file: the rows
 * belong to the URL's role.
 */
static void *
pg_create(const char *url, const char *owner, long long timeout_ms,
    int *created, char *err, size_t errlen)
{
	void	*p;

	*created = 0;
	if ((p = pg_open(url, TOKENDB_CREATE, timeout_ms, err,
	    errlen)) == NULL)
		return NULL;
	if (pg_migrate(p, TOKENDB_CREATE, err, errlen) != 0) {
		pg_close(p);
		return NULL;
	}
	return p;
}

static long long
col_ll(const PGresult *res, int row, int col, long long none)
{
	if (PQgetisnull(res, row, col))
		return none;
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static char *
col_str(const PGresult *res, int row, int col)
{
	return xstrdup(PQgetvalue(res, row, col));
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void
tokendb_pg_row(const struct pg_result *cres, int row,
    struct tokendb_token *tok)
{
	const PGresult	*res = (const PGresult *)cres;
	const char	*h;
	size_t		 i;
	int		 hi, lo;

	memset(tok, 0, sizeof(*tok));
	strlcpy(tok->id, PQgetvalue(res, row, 0), sizeof(tok->id));
	/* A hash of another size or form never matches: it stays zero. */
	h = PQgetvalue(res, row, 1);
	if (strlen(h) == 2 * TR_SHA256_LEN) {
		for (i = 0; i < TR_SHA256_LEN; i++) {
			if ((hi = hexval(h[2 * i])) < 0 ||
			    (lo = hexval(h[2 * i + 1])) < 0)
				break;
			tok->secret_hash[i] = (uint8_t)(hi << 4 | lo);
		}
		if (i != TR_SHA256_LEN)
			memset(tok->secret_hash, 0, TR_SHA256_LEN);
	}
	tok->username = col_str(res, row, 2);
	tok->uid = PQgetisnull(res, row, 3) ? NULL : col_str(res, row, 3);
	tokendb_token_set_json(tok, PQgetvalue(res, row, 4),
	    PQgetvalue(res, row, 5));
	tok->description = col_str(res, row, 6);
	tok->usages = col_str(res, row, 7);
	tok->bootstrap = (int)col_ll(res, row, 8, 0);
	tok->revoked = (int)col_ll(res, row, 9, 0);
	tok->created = col_ll(res, row, 10, 0);
	tok->expires = col_ll(res, row, 11, 0);
	tok->uses_left = col_ll(res, row, 12, -1);
	tok->last_used = col_ll(res, row, 13, 0);
	tok->use_count = col_ll(res, row, 14, 0);
}

static int
pg_get(void *arg, const char *id, struct tokendb_token *tok, char *err,
    size_t errlen)
{
	struct tokendb_pg	*p = arg;
	PGresult	*res;
	int		 r = 0;

	memset(tok, 0, sizeof(*tok));
	if ((res = pg_exec(p, tokendb_pg_sql_get, 1, &id,
	    "looking up a token", err, errlen)) == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		tokendb_pg_row((struct pg_result *)res, 0, tok);
		r = 1;
	}
	PQclear(res);
	return r;
}

/* Rows changed by a statement: >0 is 1, or -1 on error. */
static int
pg_changed(struct tokendb_pg *p, const char *sql, int n,
    const char *const *params, const char *what, char *err, size_t errlen)
{
	PGresult	*res;
	int		 r;

	if ((res = pg_exec(p, sql, n, params, what, err, errlen)) == NULL)
		return -1;
	r = atoi(PQcmdTuples(res)) > 0;
	PQclear(res);
	return r;
}

static char *
ll_str(long long v, long long none)
{
	char	*s;

	if (v == none)
		return NULL;
	xasprintf(&s, "%lld", v);
	return s;
}

/* The parameters of PG_INSERT for tok; pg_insert_free() frees them. */
static void
pg_insert_params(const struct tokendb_token *tok, char *v[PG_INSERT_PARAMS])
{
	char	hex[2 * TR_SHA256_LEN + 1];

	hex_encode(tok->secret_hash, TR_SHA256_LEN, hex);
	v[0] = xstrdup(tok->id);
	v[1] = xstrdup(hex);
	v[2] = xstrdup(tok->username);
	v[3] = tok->uid != NULL ? xstrdup(tok->uid) : NULL;
	v[4] = tokendb_groups_json(tok);
	v[5] = tokendb_extra_json(tok);
	v[6] = xstrdup(tok->description ? tok->description : "");
	v[7] = xstrdup(tok->usages ? tok->usages : "authentication");
	v[8] = ll_str(tok->bootstrap, -1);
	v[9] = ll_str(tok->revoked, -1);
	v[10] = ll_str(tok->created, -1);
	v[11] = ll_str(tok->expires, 0);
	v[12] = ll_str(tok->uses_left, -1);
	v[13] = ll_str(tok->last_used, 0);
	v[14] = ll_str(tok->use_count, -1);
	OPENSSL_cleanse(hex, sizeof(hex));
}

static void
pg_insert_free(char *v[PG_INSERT_PARAMS])
{
	size_t	i;

	/* The secret's hash. */
	OPENSSL_cleanse(v[1], strlen(v[1]));
	for (i = 0; i < PG_INSERT_PARAMS; i++)
		free(v[i]);
}

static int
pg_insert(void *arg, const struct tokendb_token *tok, char *err,
    size_t errlen)
{
	struct tokendb_pg	*p = arg;
	char			*v[PG_INSERT_PARAMS];
	int			 r;

	pg_insert_params(tok, v);
	r = pg_changed(p, pg_sql_insert, PG_INSERT_PARAMS,
	    (const char *const *)v, "adding a token", err, errlen);
	pg_insert_free(v);
	return r;
}

/*
 * An import sends its rows in libpq's pipeline mode instead of waiting
 * for the answer to each: PG_PIPELINE_ROWS rows and a sync make a group,
 * and the answers to a group are read once the next group is sent.  With
 * at most two groups in flight, neither side can fill the other's socket
 * buffer while itself blocked on writing.  The answers come in the order
 * of the rows, which maps a unique_violation back to its row.
 */
#define PG_PIPELINE_ROWS	256

struct pg_batch {
	struct tokendb_pg		*p;
	const struct tokendb_token	*toks;
	size_t				 n;
	size_t				 sent;		/* rows sent */
	size_t				 read;		/* rows answered */
	size_t				 groups;	/* syncs not yet read */
	size_t				*failed;
	int				 r;		/* as the result */
	char				*err;
	size_t				 errlen;
};

static int
pg_prepare_insert(struct tokendb_pg *p, char *err, size_t errlen)
{
	PGresult	*res;
	unsigned char	 r[8];
	char		 hex[2 * sizeof(r) + 1];

	if (p->insert_prepared)
		return 0;
	/*
	 * A name of this transaction's own: behind a pooler that shares server
	 * sessions, an earlier import's statement may still be on this one.
	 */
	if (RAND_bytes(r, sizeof(r)) != 1)
		fatalx("RAND_bytes failed");
	hex_encode(r, sizeof(r), hex);
	snprintf(p->insert_name, sizeof(p->insert_name),
	    "tokenreviewd_insert_%s", hex);
	res = PQprepare(p->conn, p->insert_name, PG_INSERT, PG_INSERT_PARAMS,
	    NULL);
	if (res == NULL || PQresultStatus(res) != PGRES_COMMAND_OK) {
		pg_error(p, res, "adding a token", err, errlen);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	p->insert_prepared = 1;
	return 0;
}

/*
 * The first error of a batch is the one reported.  A FATAL one ends the
 * session, which libpq notices only later: it is told as pg_exec() tells
 * a lost connection.
 */
static void
pg_batch_fail(struct pg_batch *b, const PGresult *res)
{
	const char	*severity = NULL;

	if (b->r != 1)
		return;
	b->r = -1;
	if (res != NULL)
		severity = PQresultErrorField(res,
		    PG_DIAG_SEVERITY_NONLOCALIZED);
	if (severity != NULL && strcmp(severity, "FATAL") == 0)
		tokendb_pg_message(PQresultErrorMessage(res), "the token "
		    "database is unreachable", b->err, b->errlen);
	else
		pg_error(b->p, res, "adding a token", b->err, b->errlen);
}

/* Send the next group of rows and its sync. */
static int
pg_batch_send(struct pg_batch *b)
{
	char	*v[PG_INSERT_PARAMS];
	size_t	 end;
	int	 ok = 1;

	end = b->n - b->sent < PG_PIPELINE_ROWS ? b->n : b->sent +
	    PG_PIPELINE_ROWS;
	for (; ok && b->sent < end; b->sent++) {
		pg_insert_params(&b->toks[b->sent], v);
		ok = PQsendQueryPrepared(b->p->conn, b->p->insert_name,
		    PG_INSERT_PARAMS, (const char *const *)v, NULL, NULL, 0);
		pg_insert_free(v);
	}
	if (!ok || PQpipelineSync(b->p->conn) != 1) {
		pg_batch_fail(b, NULL);
		return -1;
	}
	b->groups++;
	return 0;
}

/*
 * Read the answers of the oldest group up to its sync.  Each row's result
 * is followed by a NULL; two NULLs in a row mean that nothing more will
 * come.  Rows after the first failure were skipped by the server
 * (PGRES_PIPELINE_ABORTED) or are ignored here.  On a lost connection,
 * reading stops: libpq would only warn about each answer it still holds.
 */
static int
pg_batch_read(struct pg_batch *b)
{
	PGresult	*res;
	const char	*state;
	int		 nulls = 0;

	for (;;) {
		if (PQstatus(b->p->conn) == CONNECTION_BAD) {
			pg_batch_fail(b, NULL);
			return -1;
		}
		if ((res = PQgetResult(b->p->conn)) == NULL) {
			if (nulls++ > 0) {
				pg_batch_fail(b, NULL);
				return -1;
			}
			continue;
		}
		nulls = 0;
		switch (PQresultStatus(res)) {
		case PGRES_PIPELINE_SYNC:
			PQclear(res);
			b->groups--;
			return 0;
		case PGRES_COMMAND_OK:
		case PGRES_PIPELINE_ABORTED:
			break;
		default:
			state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			if (b->r == 1 && state != NULL &&
			    strcmp(state, PG_UNIQUE_VIOLATION) == 0) {
				*b->failed = b->read;
				b->r = 0;
			} else
				pg_batch_fail(b, res);
			break;
		}
		b->read++;
		PQclear(res);
	}
}

static int
pg_insert_many(void *arg, const struct tokendb_token *toks, size_t n,
    size_t *failed, char *err, size_t errlen)
{
	struct tokendb_pg	*p = arg;
	struct pg_batch		 b;

	if (n == 0)
		return 1;
	if (pg_prepare_insert(p, err, errlen) != 0)
		return -1;
	if (PQenterPipelineMode(p->conn) != 1) {
		pg_error(p, NULL, "adding a token", err, errlen);
		return -1;
	}
	memset(&b, 0, sizeof(b));
	b.p = p;
	b.toks = toks;
	b.n = n;
	b.failed = failed;
	b.r = 1;
	b.err = err;
	b.errlen = errlen;
	/* No more rows once one is refused: the caller rolls back. */
	while (b.r == 1 && b.sent < n) {
		if (pg_batch_send(&b) != 0 ||
		    (b.groups > 1 && pg_batch_read(&b) != 0))
			break;
	}
	while (b.groups > 0 && pg_batch_read(&b) == 0)
		;
	if (PQexitPipelineMode(p->conn) != 1)
		pg_batch_fail(&b, NULL);
	return b.r;
}

static int
pg_revoke(void *arg, const char *id, char *err, size_t errlen)
{
	return pg_changed(arg, "UPDATE tokens SET revoked = 1 WHERE id = $1", 1,
	    &id, "revoking a token", err, errlen);
}

static int
pg_delete(void *arg, const char *id, char *err, size_t errlen)
{
	return pg_changed(arg, "DELETE FROM tokens WHERE id = $1", 1, &id,
	    "deleting a token", err, errlen);
}

static int
pg_consume(void *arg, const char *id, char *err, size_t errlen)
{
	return pg_changed(arg, tokendb_pg_sql_consume, 1, &id, "using a token",
	    err, errlen);
}

static long long
pg_prune(void *arg, long long now, char *err, size_t errlen)
{
	struct tokendb_pg	*p = arg;
	PGresult	*res;
	char		 t[32];
	const char	*param = t;
	long long	 n;

	snprintf(t, sizeof(t), "%lld", now);
	if ((res = pg_exec(p, "DELETE FROM tokens WHERE expires IS NOT NULL "
	    "AND expires <= $1", 1, &param, "pruning tokens", err,
	    errlen)) == NULL)
		return -1;
	n = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return n;
}

static int
pg_list(void *conn, int (*cb)(const struct tokendb_token *, void *),
    void *arg, char *err, size_t errlen)
{
	struct tokendb_pg	*p = conn;
	struct tokendb_token	 tok;
	PGresult		*res;
	int			 i;

	if ((res = pg_exec(p, "SELECT " PG_COLUMNS " FROM tokens ORDER BY "
	    "id", 0, NULL, "listing tokens", err, errlen)) == NULL)
		return -1;
	for (i = 0; i < PQntuples(res); i++) {
		tokendb_pg_row((struct pg_result *)res, i, &tok);
		if (cb(&tok, arg) == -1)
			i = PQntuples(res);
		tokendb_token_clear(&tok);
	}
	PQclear(res);
	return 0;
}

static int
pg_begin(void *arg, char *err, size_t errlen)
{
	return pg_simple(arg, "BEGIN", "starting a transaction", err, errlen);
}

/*
 * The statement prepared for an import is dropped after its transaction,
 * where the session allows (behind a pooler the next statement may go to
 * another session: its name is unique, so one left behind is harmless).
 */
static int
pg_commit(void *arg, int ok, char *err, size_t errlen)
{
	struct tokendb_pg	*p = arg;
	char			 sql[64];
	int			 r = 0;

	if (!ok)
		PQclear(PQexec(p->conn, "ROLLBACK"));
	else
		r = pg_simple(p, "COMMIT", "committing", err, errlen);
	if (p->insert_prepared) {
		snprintf(sql, sizeof(sql), "DEALLOCATE %s", p->insert_name);
		PQclear(PQexec(p->conn, sql));
		p->insert_prepared = 0;
	}
	return r;
}

/*
 * The three array parameters of tokendb_pg_sql_uses for a batch; 0 when
 * the batch has no counts.  Ids are [a-z0-9], which need no quoting in an
 * array literal.
 */
int
tokendb_pg_uses_params(const struct tokendb_use *uses, size_t n,
    char *params[3])
{
	struct evbuffer	*b[3];
	size_t		 i, k, m = 0;

	for (k = 0; k < 3; k++) {
		b[k] = evbuffer_new();
		evbuffer_add(b[k], "{", 1);
	}
	for (i = 0; i < n; i++) {
		if (uses[i].count == 0)
			continue;
		evbuffer_add_printf(b[0], "%s%s", m ? "," : "", uses[i].id);
		evbuffer_add_printf(b[1], "%s%lld", m ? "," : "",
		    uses[i].count);
		evbuffer_add_printf(b[2], "%s%lld", m ? "," : "",
		    uses[i].last_used);
		m++;
	}
	for (k = 0; k < 3; k++) {
		evbuffer_add(b[k], "}", 2);	/* with the NUL */
		params[k] = xstrdup((char *)evbuffer_pullup(b[k], -1));
		evbuffer_free(b[k]);
	}
	return m > 0;
}

static int
pg_record_uses(void *arg, const struct tokendb_use *uses, size_t n,
    char *err, size_t errlen)
{
	struct tokendb_pg	*p = arg;
	char			*params[3];
	int			 r = 1, k;

	if (tokendb_pg_uses_params(uses, n, params) && pg_changed(p,
	    tokendb_pg_sql_uses, 3, (const char *const *)params,
	    "recording token use", err, errlen) < 0)
		r = -1;
	for (k = 0; k < 3; k++)
		free(params[k]);
	return r;
}

/* ------------------------------------------------------------ sessions */

/*
 * The parameters of tokendb_pg_sql_session_add; nums holds the text of
 * the numbers (three of TOKENDB_PG_NUMLEN).
 */
void
tokendb_pg_session_params(const struct tokendb_session *sess,
    char nums[3][TOKENDB_PG_NUMLEN], const char *v[6])
{
	snprintf(nums[0], TOKENDB_PG_NUMLEN, "%lld", (long long)sess->issued);
	snprintf(nums[1], TOKENDB_PG_NUMLEN, "%lld",
	    (long long)sess->expires);
	snprintf(nums[2], TOKENDB_PG_NUMLEN, "%d", sess->revoked != 0);
	v[0] = sess->jti;
	v[1] = sess->username;
	v[2] = nums[0];
	v[3] = nums[1];
	v[4] = sess->client != NULL ? sess->client : "";
	v[5] = nums[2];
}

/* Row row of PG_SESS_COLUMNS into sess, which owns its strings. */
void
tokendb_pg_session_row(const struct pg_result *cres, int row,
    struct tokendb_session *sess)
{
	const PGresult	*res = (const PGresult *)cres;

	sess->jti = col_str(res, row, 0);
	sess->username = col_str(res, row, 1);
	sess->issued = col_ll(res, row, 2, 0);
	sess->expires = col_ll(res, row, 3, 0);
	sess->client = col_str(res, row, 4);
	sess->revoked = col_ll(res, row, 5, 0) != 0;
}

static int
pg_session_add(void *arg, const struct tokendb_session *sess, char *err,
    size_t errlen)
{
	char		 nums[3][TOKENDB_PG_NUMLEN];
	const char	*v[6];

	tokendb_pg_session_params(sess, nums, v);
	return pg_changed(arg, tokendb_pg_sql_session_add, 6, v,
	    "adding a session", err, errlen);
}

static int
pg_session_get(void *arg, const char *jti, struct tokendb_session *sess,
    char *err, size_t errlen)
{
	PGresult	*res;
	int		 r = 0;

	memset(sess, 0, sizeof(*sess));
	if ((res = pg_exec(arg, tokendb_pg_sql_session_get, 1, &jti,
	    "looking up a session", err, errlen)) == NULL)
		return -1;
	if (PQntuples(res) == 1) {
		tokendb_pg_session_row((struct pg_result *)res, 0, sess);
		r = 1;
	}
	PQclear(res);
	return r;
}

static int
pg_session_list(void *conn, const char *user,
    int (*cb)(const struct tokendb_session *, void *), void *arg,
    char *err, size_t errlen)
{
	struct tokendb_session	 sess;
	PGresult		*res;
	int			 i, stop = 0;

	if ((res = pg_exec(conn, "SELECT " PG_SESS_COLUMNS " FROM sessions "
	    "WHERE $1::text IS NULL OR username = $1 ORDER BY issued, jti", 1,
	    &user, "listing sessions", err, errlen)) == NULL)
		return -1;
	for (i = 0; i < PQntuples(res) && !stop; i++) {
		tokendb_pg_session_row((struct pg_result *)res, i, &sess);
		stop = cb(&sess, arg) == -1;
		tokendb_session_clear(&sess);
	}
	PQclear(res);
	return 0;
}

/* Rows a statement changed, or -1. */
static int
pg_count(struct tokendb_pg *p, const char *sql, int n,
    const char *const *params, const char *what, char *err, size_t errlen)
{
	PGresult	*res;
	int		 r;

	if ((res = pg_exec(p, sql, n, params, what, err, errlen)) == NULL)
		return -1;
	r = atoi(PQcmdTuples(res));
	PQclear(res);
	return r;
}

static int
pg_session_revoke(void *arg, const char *jti, const char *user, char *err,
    size_t errlen)
{
	if (jti != NULL)
		return pg_count(arg, "UPDATE sessions SET revoked = 1 WHERE "
		    "jti = $1 AND revoked = 0", 1, &jti, "revoking a session",
		    err, errlen);
	return pg_count(arg, "UPDATE sessions SET revoked = 1 WHERE "
	    "username = $1 AND revoked = 0", 1, &user, "revoking sessions",
	    err, errlen);
}

static int
pg_session_prune(void *arg, int64_t now, int limit, char *err,
    size_t errlen)
{
	char		 t[TOKENDB_PG_NUMLEN], l[TOKENDB_PG_NUMLEN];
	const char	*v[2] = { t, limit > 0 ? l : NULL };

	snprintf(t, sizeof(t), "%lld", (long long)now);
	snprintf(l, sizeof(l), "%d", limit);
	return pg_count(arg, tokendb_pg_sql_session_prune, 2, v,
	    "pruning sessions", err, errlen);
}

static const char *const pg_prefixes[] = {
	"postgresql://",
	"postgres://",
	NULL
};

const struct tokendb_engine tokendb_pg_engine = {
	.name = "postgresql",
	.prefixes = pg_prefixes,
	.open = pg_open,
	.migrate = pg_migrate,
	.create = pg_create,
	.close = pg_close,
	.get = pg_get,
	.insert = pg_insert,
	.insert_many = pg_insert_many,
	.revoke = pg_revoke,
	.delete = pg_delete,
	.consume = pg_consume,
	.prune = pg_prune,
	.list = pg_list,
	.record_uses = pg_record_uses,
	.session_add = pg_session_add,
	.session_get = pg_session_get,
	.session_list = pg_session_list,
	.session_revoke = pg_session_revoke,
	.session_prune = pg_session_prune,
	.begin = pg_begin,
	.commit = pg_commit,
};
