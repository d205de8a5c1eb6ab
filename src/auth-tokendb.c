/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The token database source: its [tokendb] config, the load and unload
 * of a generation, a worker's instance and the review of one token.
 * Tokens have the bootstrap-token shape <id>.<secret>; anything else is
 * not ours and is refused without touching the database.  The id finds
 * the row by primary key, the secret's SHA-256 is compared in constant
 * time with the stored hash, and expired, revoked, used-up or
 * wrongly-scoped tokens are refused.  Bootstrap rows answer as
 * kube-apiserver does for bootstrap tokens.
 *
 * Each worker has its own SQLite connection and reads synchronously: in
 * WAL mode a read never waits for a writer and a lookup by primary key
 * takes microseconds, far less than handing it to another thread would.
 * A row the worker accepted before is not read again while the file's
 * data version stays the same (auth-tokendb-memo.c): the review then
 * costs a read transaction, the hash and the checks of secret and time.
 * Writes are kept off the hot path: use counts and last-used times are
 * gathered per worker and, every flush_interval, handed to the one writer
 * thread of the loaded [tokendb] (auth-tokendb-writer.c), which writes
 * them in one transaction while the worker goes on answering.  The
 * exception is a usage-limited token, whose use must be taken atomically
 * before it is accepted; that write waits at most busy_timeout for the
 * lock.
 *
 * Accepted results may stay in the shared result cache for cache_ttl at
 * most (usage-limited ones not at all), which bounds how long a revoked
 * token keeps working.
 *
 * With [tokendb] url the rows are in PostgreSQL, a network away, and a
 * worker looks them up asynchronously (auth-tokendb-pg.c).  While the
 * database is unreachable reviews get a quick error instead of waiting,
 * and readiness turns false after ready_grace.  Load does not connect, so
 * that the daemon starts and reloads while the database is down.
 */

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "tokenreviewd.h"
#include "tokendb.h"
#ifdef HAVE_TOKENDB_PG
#include "tokendb-pg.h"
#endif
#include "auth-tokendb.h"

/* Set by the daemon: a check of the config creates no file. */
static int	tdsrc_may_create;

/* [tokendb] url: a PostgreSQL URL, in a build that has PostgreSQL. */
static int
tdsrc_conf_url(void *obj, const struct config *conf,
    const struct conf_section *sec, const struct conf_kv *kv, char *err,
    size_t errlen)
{
#ifdef HAVE_TOKENDB_PG
	if (tokendb_is_url(kv->value))
		return 0;
	conf_error(conf, sec, kv, err, errlen, "not a postgresql:// URL");
#else
	conf_error(conf, sec, kv, err, errlen, "PostgreSQL is not "
	    "supported by this build; use path (SQLite)");
#endif
	return -1;
}

#define TDSRC_DAY	(24LL * 3600 * 1000)	/* ms: the longest duration */

/* [tokendb]: key, type, field, count, min, max, default, flags, ... */
#define F(field)	offsetof(struct tdsrc_shared, field)
static const struct conf_option tdsrc_options[] = {
	{ "path", CONF_PATH, F(path), 0, 0, 0, NULL, CONF_EMPTY_OK, NULL,
	  NULL },
	{ "url", CONF_STRING, F(url), 0, 0, 0, NULL, CONF_EMPTY_OK, NULL,
	  tdsrc_conf_url },
	{ "pool_size", CONF_INT, F(pool_size), 0, 1, 64, "4", 0, NULL, NULL },
	{ "query_timeout", CONF_DURATION, F(query_timeout), 0, 1, TDSRC_DAY,
	  "2s", 0, NULL, NULL },
	{ "ready_grace", CONF_DURATION, F(ready_grace), 0, 0, TDSRC_DAY, "5s",
	  0, NULL, NULL },
	{ "cache_ttl", CONF_DURATION, F(cache_ttl), 0, 0, TDSRC_DAY, "1s", 0,
	  NULL, NULL },
	{ "busy_timeout", CONF_DURATION, F(busy_timeout), 0, 0, TDSRC_DAY,
	  "50ms", 0, NULL, NULL },
	{ "flush_interval", CONF_DURATION, F(flush_interval), 0, 1, TDSRC_DAY,
	  "10s", 0, NULL, NULL },
};
#undef F

/* The keys only a PostgreSQL database takes: unknown without url. */
static const char *const tdsrc_pg_keys[] = {
	"pool_size", "query_timeout", "ready_grace", NULL
};

/* What the table cannot say: one of path and url, and who takes what. */
static int
tdsrc_conf_check(const struct config *conf, struct conf_section *sec,
    const struct tdsrc_shared *ts, char *err, size_t errlen)
{
	struct conf_kv	*kv;
	size_t		 i;

	if (ts->url != NULL) {
		if ((kv = conf_get(sec, "path")) == NULL)
			return 0;
		conf_error(conf, sec, kv, err, errlen, "path and url exclude "
		    "each other");
		return -1;
	}
	if (ts->path == NULL || *ts->path == '\0') {
		conf_error(conf, sec, NULL, err, errlen, "path or url is "
		    "required");
		return -1;
	}
	for (i = 0; tdsrc_pg_keys[i] != NULL; i++) {
		if ((kv = conf_get(sec, tdsrc_pg_keys[i])) != NULL) {
			conf_error(conf, sec, kv, err, errlen, "unknown key");
			return -1;
		}
	}
	return 0;
}

static int
tdsrc_conf(const struct config *conf, struct tdsrc_shared *ts,
    char *err, size_t errlen)
{
	struct conf_section	*sec;

	if ((sec = config_find_section(conf, "tokendb", NULL)) == NULL) {
		snprintf(err, errlen, "%s: the chain names \"tokendb\" but "
		    "there is no [tokendb] section", conf->path);
		return -1;
	}
	if (conf_read_section(tdsrc_options, CONF_NOPTIONS(tdsrc_options),
	    ts, conf, sec, err, errlen) != 0)
		return -1;
	return tdsrc_conf_check(conf, sec, ts, err, errlen);
}

static void
tdsrc_unload(void *shared)
{
	struct tdsrc_shared	*ts = shared;

	if (ts == NULL)
		return;
	if (tdsrc_writer_retire(ts))
		return;
	tdsrc_shared_free(ts);
}

/* err for the key of the [tokendb] section that names the database. */
static void
tdsrc_load_error(const struct config *conf, const struct tdsrc_shared *ts,
    const char *why, char *err, size_t errlen)
{
	struct conf_section	*sec;

	sec = config_find_section(conf, "tokendb", NULL);
	conf_error(conf, sec, conf_get(sec, ts->url != NULL ? "url" : "path"),
	    err, errlen, "%s", why);
}

/*
 * PostgreSQL is a network away and may be down while the daemon starts or
 * reloads: only the URL is checked here.  A worker checks the schema on
 * the first connection (tdsrc_pg_schema_start()).
 */
static int
tdsrc_load_pg(const struct config *conf, struct tdsrc_shared *ts,
    char *err, size_t errlen)
{
#ifdef HAVE_TOKENDB_PG
	char	why[TR_ERRLEN];

	if (tokendb_pg_check_url(ts->url, why, sizeof(why)) != 0) {
		tdsrc_load_error(conf, ts, why, err, errlen);
		return -1;
	}
	ts->migrate_sql = tokendb_pg_migrate_sql();
	ts->loaded = (int64_t)(monotonic_sec() * 1000);
	return 0;
#else
	tdsrc_load_error(conf, ts, "PostgreSQL is not supported by this "
	    "build", err, errlen);
	return -1;
#endif
}

void
auth_tokendb_may_create(int on)
{
	tdsrc_may_create = on;
}

/*
 * A check of the config finds the file missing: it is made on the
 * daemon's first start, in a directory that must exist by then.
 */
static int
tdsrc_check_missing(const struct config *conf, struct tdsrc_shared *ts,
    char *err, size_t errlen)
{
	struct stat	 st;
	char		*copy, *dir, why[TR_ERRLEN];
	int		 r = 0;

	copy = xstrdup(ts->path);
	dir = dirname(copy);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(why, sizeof(why), "%s: no such directory", dir);
		tdsrc_load_error(conf, ts, why, err, errlen);
		r = -1;
	} else
		log_msg(LL_INFO | LL_ALWAYS, "tokendb_missing", "%s does not "
		    "exist yet: it will be created on first start",
		    ts->path);
	free(copy);
	return r;
}

/*
 * SQLite: create (as the daemon) or migrate the file once, here, where
 * the daemon may still be root: a file it makes is given to [server]
 * user, who must write use counts to it.
 */
static int
tdsrc_load_file(const struct config *conf, struct tdsrc_shared *ts,
    char *err, size_t errlen)
{
	struct tokendb	*db;
	struct stat	 st;
	char		 why[TR_ERRLEN];
	int		 created = 0;

	if (!tdsrc_may_create && lstat(ts->path, &st) != 0 &&
	    errno == ENOENT)
		return tdsrc_check_missing(conf, ts, err, errlen);
	if (tdsrc_may_create)
		db = tokendb_create(ts->path, conf->user, 1000, &created, why,
		    sizeof(why));
	else
		db = tokendb_open(ts->path, 0, 1000, why, sizeof(why));
	if (db == NULL) {
		tdsrc_load_error(conf, ts, why, err, errlen);
		return -1;
	}
	tokendb_close(db);
	if (created)
		log_msg(LL_INFO, "tokendb_created", "created the token "
		    "database %s%s%s", ts->path, conf->user != NULL &&
		    geteuid() == 0 ? " for user " : "", conf->user != NULL &&
		    geteuid() == 0 ? conf->user : "");
	return 0;
}

static int
tdsrc_load(const struct config *conf, void **shared, char *err,
    size_t errlen)
{
	struct tdsrc_shared	*ts;

	*shared = NULL;
	ts = xcalloc(1, sizeof(*ts));
	tdsrc_writer_init(&ts->writer);
	pthread_mutex_init(&ts->hist_mtx, NULL);
	LIST_INIT(&ts->insts);
	metrics_hist_init(&ts->lookup_done);
	if (tdsrc_conf(conf, ts, err, errlen) != 0)
		goto fail;
	if ((ts->url != NULL ? tdsrc_load_pg(conf, ts, err, errlen) :
	    tdsrc_load_file(conf, ts, err, errlen)) != 0)
		goto fail;
	*shared = ts;
	return 0;
fail:
	tdsrc_unload(ts);
	return -1;
}

static void
tdsrc_flush(struct tdsrc_inst *ti)
{
	if (ti->nuses == 0)
		return;
#ifdef HAVE_TOKENDB_PG
	if (ti->pool != NULL) {
		tdsrc_pg_flush(ti);
		return;
	}
#endif
	tdsrc_hand_over(ti);
}

static void
tdsrc_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	tdsrc_flush(arg);
	tdsrc_session_tick(arg);
}

/*
 * The reviews that one pass of the worker's event loop answers share one
 * SQLite read transaction: the read lock (two fcntl calls and an fstat on
 * the WAL) and the data version are taken once for all of them, not once
 * each.  read_end_ev, made active when the read begins, runs after the
 * pass's other ready callbacks and ends it, so the loop never waits for
 * input with a read open.  A pass that runs longer than
 * TDSRC_READ_MAX_AGE begins a fresh one: a review sees the file as it was
 * at most that long before the review began.
 */
static long long
tdsrc_read_open(struct tdsrc_inst *ti, double now)
{
	char	err[TR_ERRLEN];

	if (ti->reading && now - ti->read_since <= TDSRC_READ_MAX_AGE)
		return ti->read_version;
	tdsrc_read_close(ti);
	/* A failure shows again, and is reported, in the row's read. */
	if (tokendb_read_begin(ti->db, err, sizeof(err)) != 0)
		return -1;
	/* An error (-1) empties the memo; reading the row reports it. */
	if ((ti->read_version = tokendb_data_version(ti->db, err,
	    sizeof(err))) < 0) {
		tokendb_read_end(ti->db);
		return -1;
	}
	ti->reading = 1;
	ti->read_since = now;
	event_active(ti->read_end_ev, EV_TIMEOUT, 1);
	return ti->read_version;
}

void
tdsrc_read_close(struct tdsrc_inst *ti)
{
	if (!ti->reading)
		return;
	tokendb_read_end(ti->db);
	ti->reading = 0;
}

static void
tdsrc_read_end_cb(evutil_socket_t fd, short events, void *arg)
{
	tdsrc_read_close(arg);
}

static void
tdsrc_free(void *inst)
{
	struct tdsrc_inst	*ti = inst;

	if (ti == NULL)
		return;
	if (ti->flush_ev != NULL)
		event_free(ti->flush_ev);
	if (ti->read_end_ev != NULL) {
		tdsrc_read_close(ti);
		event_free(ti->read_end_ev);
	}
#ifdef HAVE_TOKENDB_PG
	tdsrc_pg_free(ti);
#endif
	tdsrc_flush(ti);
	tdsrc_memo_free(ti->memo);
	tokendb_close(ti->db);
	pthread_mutex_lock(&ti->ts->hist_mtx);
	metrics_hist_add(&ti->ts->lookup_done, &ti->lookup_hist);
	LIST_REMOVE(ti, entry);
	pthread_mutex_unlock(&ti->ts->hist_mtx);
	free(ti);
}

static int
tdsrc_init(void *shared, struct event_base *base, void **inst)
{
	struct tdsrc_shared	*ts = shared;
	struct tdsrc_inst	*ti;
	struct timeval		 tv;
	char			 err[TR_ERRLEN];

	*inst = NULL;
	ti = xcalloc(1, sizeof(*ti));
	ti->ts = ts;
	TAILQ_INIT(&ti->pending);
	TAILQ_INIT(&ti->sess_ops);
	metrics_hist_init(&ti->lookup_hist);
	pthread_mutex_lock(&ts->hist_mtx);
	LIST_INSERT_HEAD(&ts->insts, ti, entry);
	pthread_mutex_unlock(&ts->hist_mtx);
#ifdef HAVE_TOKENDB_PG
	if (ts->url != NULL)
		tdsrc_pg_init(ti, base);
#endif
	if (ti->pool == NULL && (ti->db = tokendb_open(ts->path, 0,
	    ts->busy_timeout, err, sizeof(err))) == NULL) {
		log_msg(LL_ERROR, "tokendb_open", "%s", err);
		tdsrc_free(ti);
		return -1;
	}
	if (ti->db != NULL) {
		ti->memo = tdsrc_memo_new();
		ti->read_end_ev = event_new(base, -1, 0, tdsrc_read_end_cb,
		    ti);
	}
	ti->flush_ev = event_new(base, -1, EV_PERSIST, tdsrc_flush_cb, ti);
	ms_to_timeval(ts->flush_interval, &tv);
	event_add(ti->flush_ev, &tv);
	*inst = ti;
	return 0;
}

/*
 * Count a use for the next flush, in an open-addressing table keyed by id.
 * The hot path never writes: when the table is three-quarters full, uses
 * of further ids are not counted until the next flush (and the metric
 * says how many were dropped).
 */
void
tdsrc_note_use(struct tdsrc_inst *ti, const char *id, long long now,
    long long count)
{
	if (tdsrc_uses_add(ti->uses, TDSRC_MAX_PENDING, &ti->nuses, id,
	    now, count) != 0)
		ADD(ti->ts->uses_dropped, (uint64_t)count);
}

static int
tdsrc_str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * The groups of a bootstrap token: system:bootstrappers plus the stored
 * ones, sorted and without duplicates.  NULL when a stored group is not a
 * valid bootstrap group, which rejects the whole token as kube-apiserver
 * does.  The array borrows the strings of tok.
 */
static char **
tdsrc_bootstrap_groups(const struct tokendb_token *tok)
{
	char	**g;
	size_t	  i, n = 0, m = 0;

	while (tok->groups[n] != NULL)
		n++;
	g = xcalloc(n + 2, sizeof(*g));
	g[m++] = (char *)TDSRC_BOOTSTRAPPERS;
	for (i = 0; i < n; i++) {
		if (strcmp(tok->groups[i], TDSRC_BOOTSTRAPPERS) == 0)
			continue;
		if (!tokendb_bootstrap_group(tok->groups[i])) {
			free(g);
			return NULL;
		}
		g[m++] = tok->groups[i];
	}
	qsort(g, m, sizeof(*g), tdsrc_str_cmp);
	for (i = 1, n = 1; i < m; i++) {
		if (strcmp(g[i], g[n - 1]) != 0)
			g[n++] = g[i];
	}
	g[n] = NULL;
	return g;
}

/*
 * The groups of an ordinary row, as the operator wrote them, but without
 * the ones only the API server may give: logged the first time, since
 * every review of the row would say it again.  The array borrows the
 * strings of tok.
 */
static char **
tdsrc_row_groups(struct tdsrc_shared *ts, const struct tokendb_token *tok)
{
	char	**g;
	size_t	  i, n = 0, m = 0;

	while (tok->groups[n] != NULL)
		n++;
	g = xcalloc(n + 1, sizeof(*g));
	for (i = 0; i < n; i++) {
		if (!auth_group_implied(tok->groups[i])) {
			g[m++] = tok->groups[i];
			continue;
		}
		if (__atomic_exchange_n(&ts->implied_logged, 1,
		    __ATOMIC_RELAXED) == 0)
			log_msg(LL_WARN, "tokendb_group", "token %s: group %s "
			    "dropped: only the API server gives it (logged "
			    "once)", tok->id, tok->groups[i]);
	}
	return g;
}

/* Fill res with the row's user; 0, or -1 if the row may not log in. */
static int
tdsrc_user(struct tdsrc_shared *ts, const struct tokendb_token *tok,
    struct auth_result *res)
{
	char	**groups;

	if (!tok->bootstrap) {
		groups = tdsrc_row_groups(ts, tok);
		res->username = xstrdup(tok->username);
		res->user_json = auth_user_json(tok->username, tok->uid,
		    groups, tok->extra_keys,
		    (char *const *const *)tok->extra_values);
		free(groups);
		return 0;
	}
	if ((groups = tdsrc_bootstrap_groups(tok)) == NULL)
		return -1;
	xasprintf(&res->username, TDSRC_BOOTSTRAP_USER "%s", tok->id);
	res->user_json = auth_user_json(res->username, NULL, groups, NULL,
	    NULL);
	free(groups);
	return 0;
}

/* Count a lookup that started at t0 (monotonic_sec()) in the metrics. */
void
tdsrc_timed(struct tdsrc_inst *ti, double t0)
{
	double	d = monotonic_sec() - t0;

	if (d < 0)
		d = 0;
	ADD(ti->ts->lookups, 1);
	ADD(ti->ts->lookup_us, (uint64_t)(d * 1e6));
	metrics_hist_observe(&ti->lookup_hist, d);
}

/* Look the id up, timing it for the metrics.  As tokendb_get(). */
static int
tdsrc_lookup(struct tdsrc_inst *ti, const char *id,
    struct tokendb_token *tok, struct auth_result *res)
{
	char	err[TR_ERRLEN];
	double	t0 = monotonic_sec();
	int	found;

	found = tokendb_get(ti->db, id, tok, err, sizeof(err));
	tdsrc_timed(ti, t0);
	SET(ti->ts->failing, found < 0);
	if (found < 0) {
		ADD(ti->ts->errors, 1);
		log_msg(LL_WARN, "tokendb_lookup", "%s", err);
		res->error = xstrdup("token database unavailable");
	}
	return found;
}

/*
 * The row lets the token in (right secret, not revoked, expired, used up
 * or scoped otherwise): res gets the user and its cache bound.  0, or -1.
 */
int
tdsrc_accept(struct tdsrc_inst *ti, const struct tokendb_token *tok,
    const uint8_t *hash, long long now, struct auth_result *res)
{
	if (!tokendb_token_usable(tok, hash, now))
		return -1;
	if (tdsrc_user(ti->ts, tok, res) != 0)
		return -1;
	res->max_ttl = ti->ts->cache_ttl > 0 ? ti->ts->cache_ttl : -1;
	/* Each use of a usage-limited token must reach the database. */
	if (tok->uses_left > 0)
		res->max_ttl = -1;
	return 0;
}

/* Complete res for the answer rv: counted when OK, no user otherwise. */
void
tdsrc_answer(struct tdsrc_inst *ti, const char *id, long long now,
    struct auth_result *res, enum auth_rv rv)
{
	if (rv == AUTH_OK) {
		tdsrc_note_use(ti, id, now, 1);
		res->rv = AUTH_OK;
		res->backend = "tokendb";
		return;
	}
	free(res->username);
	free(res->user_json);
	res->username = res->user_json = NULL;
}

/* Take one use of a usage-limited token: AUTH_OK, AUTH_DENY or error. */
static enum auth_rv
tdsrc_take_use(struct tdsrc_inst *ti, const char *id,
    struct auth_result *res)
{
	const char	*cause;
	char		 err[TR_ERRLEN];
	int		 r;

	tdsrc_read_close(ti);
	if ((r = tokendb_consume(ti->db, id, err, sizeof(err))) < 0) {
		ADD(ti->ts->errors, 1);
		log_msg(LL_WARN, "tokendb_use", "%s", err);
		cause = tokendb_error_cause(err);
		res->error = xstrdup(cause != NULL ? cause :
		    "token database error");
		return AUTH_ERROR;
	}
	return r == 1 ? AUTH_OK : AUTH_DENY;
}

/*
 * The memo's answer, timed as a lookup of the file; TDSRC_MEMO_MISS when
 * the row must be read, in the shared read this opens.  *version is the
 * file's data version, which the read row is kept under.
 */
static enum tdsrc_memo_answer
tdsrc_recall(struct tdsrc_inst *ti, const char *id, const uint8_t *hash,
    long long now, long long *version, struct auth_result *res)
{
	enum tdsrc_memo_answer	 a;
	double			 t0 = monotonic_sec();

	*version = tdsrc_read_open(ti, t0);
	a = tdsrc_memo_review(ti->memo, *version, id, hash, now,
	    ti->ts->cache_ttl > 0 ? ti->ts->cache_ttl : -1, res);
	if (a != TDSRC_MEMO_MISS) {
		tdsrc_timed(ti, t0);
		SET(ti->ts->failing, 0);
	}
	return a;
}

/* A review from the SQLite file, as authenticate() once id and hash are. */
static enum auth_rv
tdsrc_review_file(struct tdsrc_inst *ti, const char *id,
    const uint8_t *hash, long long now, struct auth_result *res)
{
	struct tokendb_token	 tok;
	enum auth_rv		 rv = AUTH_DENY;
	enum tdsrc_memo_answer	 a;
	long long		 version;
	int			 found;

	if ((a = tdsrc_recall(ti, id, hash, now, &version, res)) !=
	    TDSRC_MEMO_MISS)
		return a == TDSRC_MEMO_OK ? AUTH_OK : AUTH_DENY;
	memset(&tok, 0, sizeof(tok));
	found = tdsrc_lookup(ti, id, &tok, res);
	if (found <= 0) {
		rv = found < 0 ? AUTH_ERROR : AUTH_DENY;
		goto out;
	}
	if (tdsrc_accept(ti, &tok, hash, now, res) != 0)
		goto out;
	if (tok.uses_left > 0 &&
	    (rv = tdsrc_take_use(ti, id, res)) != AUTH_OK)
		goto out;
	tdsrc_memo_put(ti->memo, version, &tok, res);
	rv = AUTH_OK;
out:
	tokendb_token_clear(&tok);
	return rv;
}

static enum auth_rv
tdsrc_authenticate(void *inst, struct auth_req *req,
    struct auth_result *res, auth_done_cb done)
{
	struct tdsrc_inst	*ti = inst;
	uint8_t			 hash[TR_SHA256_LEN];
	char			 id[TOKENDB_ID_LEN + 1];
	char			 secret[TOKENDB_SECRET_LEN + 1];
	long long		 now = (long long)time(NULL);
	enum auth_rv		 rv;

	/* Any other shape is not ours: no lookup at all. */
	if (tokendb_parse_token(req->token, req->token_len, id, secret) != 0)
		return AUTH_DENY;
	tokendb_hash_secret(secret, hash);
#ifdef HAVE_TOKENDB_PG
	if (ti->pool != NULL) {
		rv = tdsrc_pg_authenticate(ti, req, res, done, id, hash, now);
		goto clean;
	}
#endif
	rv = tdsrc_review_file(ti, id, hash, now, res);
	tdsrc_answer(ti, id, now, res, rv);
#ifdef HAVE_TOKENDB_PG
clean:
#endif
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(hash, sizeof(hash));
	return rv;
}

/* Only PostgreSQL lookups are ever pending; SQLite answers at once. */
static void
tdsrc_cancel(void *inst, struct auth_req *req)
{
#ifdef HAVE_TOKENDB_PG
	tdsrc_pg_cancel(inst, req);
#endif
}

static int
tdsrc_ready(void *shared)
{
	struct tdsrc_shared	*ts = shared;
	int64_t			 since;
	double			 now;
	enum tdsrc_schema	 state;

	if (ts != NULL && ts->url != NULL) {
		now = monotonic_sec() * 1000;
		state = GET(ts->schema);
		if (state == TDSRC_SCHEMA_NEWER)
			return 0;
		/* Not checked yet: ready for the grace after the load. */
		if (state != TDSRC_SCHEMA_OK)
			return now - ts->loaded <= ts->ready_grace;
		since = GET(ts->down_since);
		return since == 0 || now - since <= ts->ready_grace;
	}
	return ts != NULL && !GET(ts->failing);
}

/* The lookup latency of every worker so far, summed into h. */
static void
tdsrc_lookup_hist(struct tdsrc_shared *ts, struct metrics_hist *h)
{
	struct tdsrc_inst	*ti;

	metrics_hist_init(h);
	pthread_mutex_lock(&ts->hist_mtx);
	metrics_hist_add(h, &ts->lookup_done);
	LIST_FOREACH(ti, &ts->insts, entry)
		metrics_hist_add(h, &ti->lookup_hist);
	pthread_mutex_unlock(&ts->hist_mtx);
}

/* A family with one unlabelled counter in seconds. */
static void
tdsrc_metrics_seconds(struct evbuffer *out, const char *name,
    const char *help, uint64_t us)
{
	metrics_family(out, name, "counter", help);
	evbuffer_add_printf(out, "%s %.6f\n", name, (double)us / 1e6);
}

static void
tdsrc_metrics_counter(struct evbuffer *out, const char *name,
    const char *help, uint64_t value)
{
	metrics_family(out, name, "counter", help);
	metrics_counter(out, name, NULL, value);
}

static void
tdsrc_metrics(void *shared, struct evbuffer *out)
{
	struct tdsrc_shared	*ts = shared;
	struct metrics_hist	 h;
	uint64_t		 us;

	if (ts == NULL)
		return;
	us = GET(ts->lookup_us);
	tdsrc_metrics_counter(out, "tokenreviewd_tokendb_lookups_total",
	    "Token database lookups.", GET(ts->lookups));
	tdsrc_metrics_seconds(out, "tokenreviewd_tokendb_lookup_seconds_total",
	    "Time spent in token database lookups.", us);
	tdsrc_metrics_counter(out, "tokenreviewd_tokendb_errors_total",
	    "Failed token database operations.", GET(ts->errors));
	tdsrc_metrics_counter(out, "tokenreviewd_tokendb_flushes_total",
	    "Batches of usage counts written.", GET(ts->flushes));
	tdsrc_metrics_seconds(out, "tokenreviewd_tokendb_flush_seconds_total",
	    "Time spent writing usage counts.", GET(ts->flush_us));
	tdsrc_metrics_counter(out, "tokenreviewd_tokendb_uses_dropped_total",
	    "Uses not counted because the batch was full.",
	    GET(ts->uses_dropped));
	/*
	 * Every lookup counted above is in it: _count is lookups_total, and
	 * _sum is lookup_seconds_total.
	 */
	tdsrc_lookup_hist(ts, &h);
	h.sum = (double)us / 1e6;
	metrics_hist_print(out, "tokenreviewd_tokendb_lookup_duration_seconds",
	    "Time of token database lookups, from the query to the row.",
	    NULL, &h);
}

const struct auth_backend auth_tokendb_backend = {
	.name = "tokendb",
	.load = tdsrc_load,
	.unload = tdsrc_unload,
	.init = tdsrc_init,
	.authenticate = tdsrc_authenticate,
	.cancel = tdsrc_cancel,
	.free = tdsrc_free,
	.ready = tdsrc_ready,
	.metrics = tdsrc_metrics,
};

