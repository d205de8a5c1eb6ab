/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The token database backend.  Tokens have the bootstrap-token shape
 * <id>.<secret>; anything else is not ours and is refused without touching
 * the database.  The id finds the row by primary key, the secret's SHA-256
 * is compared in constant time with the stored hash, and expired, revoked,
 * used-up or wrongly-scoped tokens are refused.  Bootstrap rows answer as
 * kube-apiserver does for bootstrap tokens.
 *
 * Each worker has its own SQLite connection and reads synchronously: in
 * WAL mode a read never waits for a writer and a lookup by primary key
 * takes microseconds, far less than handing it to another thread would.
 * Writes are kept off the hot path: use counts and last-used times are
 * gathered per worker and, every flush_interval, handed to the one writer
 * thread of the loaded [tokendb], which writes them in one transaction
 * while the worker goes on answering.  The exception is a usage-limited
 * token, whose use must be taken atomically before it is accepted; that
 * write waits at most busy_timeout for the lock.
 *
 * Accepted results may stay in the shared result cache for cache_ttl at
 * most (usage-limited ones not at all), which bounds how long a revoked
 * token keeps working.
 *
 * With [tokendb] url the rows are in PostgreSQL, a network away: each
 * worker then looks tokens up asynchronously through its own small pool
 * of connections (pgpool.c), answers AUTH_PENDING and calls done() from
 * its event loop when the row arrives.  The use of a usage-limited token
 * is a second, conditional UPDATE on the same path, and the batch of use
 * counts goes out as one asynchronous statement.  While the database is
 * unreachable the pool refuses at once, so reviews get a quick error
 * instead of waiting, and readiness turns false after ready_grace.
 * Load does not connect, so that the daemon starts and reloads while the
 * database is down: the schema is created or checked by one worker on the
 * first connection of each generation, and reviews wait for that check
 * (or fail at once while the database cannot be reached).
 */

#include <sys/stat.h>
#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#ifdef HAVE_TOKENDB_PG
#include <libpq-fe.h>
#endif

#include "tokenreviewd.h"
#include "tokendb.h"
#include "tokendb-pg.h"
#include "pgpool.h"

#define TOKENDB_MAX_PENDING	4096	/* slots for uses per flush (2^n) */
#define TOKENDB_BOOTSTRAPPERS	"system:bootstrappers"
#define TOKENDB_BOOTSTRAP_USER	"system:bootstrap:"

/* Defaults of the [tokendb] keys. */
#define TOKENDB_CACHE_TTL	1000	/* ms */
#define TOKENDB_BUSY_TIMEOUT	50	/* ms */
#define TOKENDB_FLUSH_INTERVAL	10000	/* ms */
#define TOKENDB_POOL_SIZE	4	/* PostgreSQL connections per worker */
#define TOKENDB_QUERY_TIMEOUT	2000	/* ms */
#define TOKENDB_READY_GRACE	5000	/* ms */
#define TOKENDB_SCHEMA_RETRY_MAX 4.0	/* s between schema check attempts */
#define TOKENDB_PARK_POLL	10	/* ms: parked reviews look again */

/* Where the schema check of a PostgreSQL generation stands. */
enum tokendb_schema {
	SCHEMA_UNKNOWN,		/* not checked yet, or the last try failed */
	SCHEMA_CHECKING,	/* one worker is at it */
	SCHEMA_OK,
	SCHEMA_NEWER,		/* written by a newer program: not ours */
};

#define TOKENDB_WRITER_SLOTS	8192	/* uses the writer holds (2^n) */
#define TOKENDB_WRITER_BUSY	1000	/* ms the writer waits for the lock */
#define TOKENDB_EXIT_WAIT	5	/* s the process waits for writers */

/*
 * The writer of one loaded [tokendb]: a thread that writes the batches of
 * use counts the workers hand over, so that no worker waits for the
 * database lock or the disk (with PostgreSQL, only the last batch of each
 * worker, which its pool, gone with the generation, can no longer send).
 * Workers merge their batch into pending under mtx and signal; the thread
 * swaps pending with writing and writes the latter without the lock.  A
 * failed write merges its counts back into pending for the next try.  The
 * thread starts with the first batch and outlives its generation: unload
 * only tells it to stop, it writes what it was given, frees the shared
 * data and exits (see tokendb_unload()).
 */
struct tokendb_writer {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	int			 started;
	int			 stop;
	struct tokendb_use	*pending;	/* under mtx */
	size_t			 npending;
	struct tokendb_use	*writing;	/* the thread's own */
	struct tokendb		*db;		/* the thread's own */
};

struct tokendb_shared {
	char		*path;
	char		*url;		/* PostgreSQL instead of path */
	int		 pool_size;
	long long	 query_timeout;
	long long	 ready_grace;
	int64_t		 down_since;	/* ms, monotonic; 0 while reachable */
	int64_t		 loaded;	/* ms, monotonic */
	char		*migrate_sql;
	int		 schema;	/* enum tokendb_schema, atomic */
	int		 schema_found;	/* the newer version, for messages */
	long long	 cache_ttl;
	long long	 busy_timeout;
	long long	 flush_interval;

	/* metrics, updated with relaxed atomics by every worker */
	uint64_t	 lookups;
	uint64_t	 errors;
	uint64_t	 lookup_us;	/* total time of lookups */
	uint64_t	 lookup_bucket[METRICS_NBUCKETS];	/* histogram */
	uint64_t	 flushes;
	uint64_t	 flush_us;	/* total time of flushes */
	uint64_t	 uses_dropped;	/* not counted: the batch was full */
	int		 failing;	/* the last lookup failed */
	int		 implied_logged;	/* a row's group was dropped */

	struct tokendb_writer writer;
};

struct tokendb_pend;

struct tokendb_inst {
	struct tokendb_shared	*ts;
	struct tokendb		*db;
	struct pgpool		*pool;	/* PostgreSQL: lookups go here */
	TAILQ_HEAD(, tokendb_pend) pending;
	struct pgpool_query	*flushing;
	struct tokendb_use	*flushed;	/* the batch being written */
	struct event		*flush_ev;
	struct pgpool_query	*schema_q;	/* this worker checks */
	int			 schema_step;	/* 0 migrate, 1 version */
	double			 schema_backoff;	/* s */
	struct event		*schema_ev;	/* next attempt */
	struct event		*park_ev;	/* parked reviews look again */
	struct tokendb_use	 uses[TOKENDB_MAX_PENDING];
	size_t			 nuses;
};

/* Set by the daemon: a check of the config creates no file. */
static int	tokendb_may_create;

#define ADD(field, n)	__atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)
#define GET(field)	__atomic_load_n(&(field), __ATOMIC_RELAXED)
#define SET(field, v)	__atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

/* The [tokendb] durations: from min (0 or 1 ms) to a day. */
static int
conf_ms(const struct config *conf, struct conf_section *sec, const char *key,
    long long def, long long min, long long *out, char *err, size_t errlen)
{
	return conf_get_duration(conf, sec, key, def, min, 24LL * 3600 * 1000,
	    out, err, errlen);
}

/* [tokendb] url and the keys that only PostgreSQL has. */
static int
tokendb_conf_pg(const struct config *conf, struct conf_section *sec,
    struct conf_kv *url, struct tokendb_shared *ts, char *err, size_t errlen)
{
#ifdef HAVE_TOKENDB_PG
	struct conf_kv	*kv;

	if (!tokendb_is_url(url->value)) {
		conf_error(conf, sec, url, err, errlen, "not a postgresql:// "
		    "URL");
		return -1;
	}
	if ((kv = conf_get(sec, "path")) != NULL) {
		conf_error(conf, sec, kv, err, errlen, "path and url exclude "
		    "each other");
		return -1;
	}
	ts->url = xstrdup(url->value);
	if (conf_get_int(conf, sec, "pool_size", TOKENDB_POOL_SIZE, 1, 64,
	    &ts->pool_size, err, errlen) != 0 ||
	    conf_ms(conf, sec, "query_timeout", TOKENDB_QUERY_TIMEOUT, 1,
	    &ts->query_timeout, err, errlen) != 0 ||
	    conf_ms(conf, sec, "ready_grace", TOKENDB_READY_GRACE, 0,
	    &ts->ready_grace, err, errlen) != 0)
		return -1;
	return 0;
#else
	conf_error(conf, sec, url, err, errlen, "PostgreSQL is not "
	    "supported by this build; use path (SQLite)");
	return -1;
#endif
}

static int
tokendb_conf(const struct config *conf, struct tokendb_shared *ts,
    char *err, size_t errlen)
{
	struct conf_section	*sec;
	struct conf_kv		*kv;

	if ((sec = config_find_section(conf, "tokendb", NULL)) == NULL) {
		snprintf(err, errlen, "%s: the chain names \"tokendb\" but "
		    "there is no [tokendb] section", conf->path);
		return -1;
	}
	if ((kv = conf_get(sec, "url")) != NULL) {
		if (tokendb_conf_pg(conf, sec, kv, ts, err, errlen) != 0)
			return -1;
	} else if ((kv = conf_get(sec, "path")) == NULL ||
	    *kv->value == '\0') {
		conf_error(conf, sec, NULL, err, errlen, "path or url is "
		    "required");
		return -1;
	} else
		ts->path = xstrdup(kv->value);
	if (conf_ms(conf, sec, "cache_ttl", TOKENDB_CACHE_TTL, 0,
	    &ts->cache_ttl, err, errlen) != 0 ||
	    conf_ms(conf, sec, "busy_timeout", TOKENDB_BUSY_TIMEOUT, 0,
	    &ts->busy_timeout, err, errlen) != 0 ||
	    conf_ms(conf, sec, "flush_interval", TOKENDB_FLUSH_INTERVAL, 1,
	    &ts->flush_interval, err, errlen) != 0)
		return -1;
	if ((kv = conf_unused(sec)) != NULL) {
		conf_error(conf, sec, kv, err, errlen, "unknown key");
		return -1;
	}
	return 0;
}

/*
 * Add count uses of id, the last at time last, to the open-addressing
 * table tab of size slots (a power of two) holding *n ids.  -1 when the id
 * is new and the table three-quarters full: the use is not counted.
 */
static int
tokendb_uses_add(struct tokendb_use *tab, size_t size, size_t *n,
    const char *id, long long last, long long count)
{
	struct tokendb_use	*u;
	uint32_t		 h = 2166136261u;
	size_t			 i;

	for (i = 0; id[i] != '\0'; i++)
		h = (h ^ (uint8_t)id[i]) * 16777619u;
	for (i = h & (size - 1);; i = (i + 1) & (size - 1)) {
		u = &tab[i];
		if (u->count == 0 || strcmp(u->id, id) == 0)
			break;
	}
	if (u->count == 0) {
		if (*n >= size / 4 * 3)
			return -1;
		strlcpy(u->id, id, sizeof(u->id));
		(*n)++;
	}
	u->count += count;
	if (last > u->last_used)
		u->last_used = last;
	return 0;
}

/* Merge the size slots of from into the writer's pending table; mtx held. */
static void
tokendb_writer_merge(struct tokendb_shared *ts, const struct tokendb_use *from,
    size_t size)
{
	struct tokendb_writer	*w = &ts->writer;
	size_t			 i;

	for (i = 0; i < size; i++) {
		if (from[i].count != 0 && tokendb_uses_add(w->pending,
		    TOKENDB_WRITER_SLOTS, &w->npending, from[i].id,
		    from[i].last_used, from[i].count) != 0)
			ADD(ts->uses_dropped, (uint64_t)from[i].count);
	}
}

/* Writers told to stop that have not finished; the process waits for them. */
static pthread_mutex_t	tokendb_exit_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	tokendb_exit_cv = PTHREAD_COND_INITIALIZER;
static int		tokendb_retiring;
static pthread_once_t	tokendb_exit_once = PTHREAD_ONCE_INIT;

/*
 * At exit, give the writers of unloaded generations the time to write
 * their last batch: main() returns right after dropping the last runtime.
 * Only stopping writers are waited for, so a fatal exit never hangs here.
 */
static void
tokendb_exit_wait(void)
{
	struct timespec	dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += TOKENDB_EXIT_WAIT;
	pthread_mutex_lock(&tokendb_exit_mtx);
	while (tokendb_retiring > 0 && pthread_cond_timedwait(
	    &tokendb_exit_cv, &tokendb_exit_mtx, &dl) != ETIMEDOUT)
		;
	pthread_mutex_unlock(&tokendb_exit_mtx);
}

static void
tokendb_exit_register(void)
{
	atexit(tokendb_exit_wait);
}

static void
tokendb_shared_free(struct tokendb_shared *ts)
{
	free(ts->path);
	free(ts->url);
	free(ts->migrate_sql);
	tokendb_close(ts->writer.db);
	free(ts->writer.pending);
	free(ts->writer.writing);
	pthread_cond_destroy(&ts->writer.cv);
	pthread_mutex_destroy(&ts->writer.mtx);
	free(ts);
}

/* Write the writing table; 0, or -1 with the counts kept there. */
static int
tokendb_writer_write(struct tokendb_shared *ts)
{
	struct tokendb_writer	*w = &ts->writer;
	char			 err[TR_ERRLEN];
	double			 t0 = monotonic_sec();

	/* Opened here, so that only this thread ever uses it. */
	if (w->db == NULL && (w->db = ts->url != NULL ?
	    tokendb_open(ts->url, 0, ts->query_timeout, err, sizeof(err)) :
	    tokendb_open(ts->path, 0, ts->busy_timeout > TOKENDB_WRITER_BUSY ?
	    ts->busy_timeout : TOKENDB_WRITER_BUSY, err, sizeof(err))) == NULL)
		goto fail;
	if (tokendb_record_uses(w->db, w->writing, TOKENDB_WRITER_SLOTS, err,
	    sizeof(err)) < 0)
		goto fail;
	ADD(ts->flushes, 1);
	ADD(ts->flush_us, (uint64_t)((monotonic_sec() - t0) * 1e6));
	memset(w->writing, 0, TOKENDB_WRITER_SLOTS * sizeof(*w->writing));
	return 0;
fail:
	log_msg(LL_WARN, "tokendb_flush", "%s", err);
	return -1;
}

/* Write what is pending, with mtx held on entry and on return. */
static int
tokendb_writer_pass(struct tokendb_shared *ts)
{
	struct tokendb_writer	*w = &ts->writer;
	struct tokendb_use	*tab;
	int			 r;

	tab = w->writing;
	w->writing = w->pending;
	w->pending = tab;
	w->npending = 0;
	pthread_mutex_unlock(&w->mtx);
	r = tokendb_writer_write(ts);
	pthread_mutex_lock(&w->mtx);
	if (r != 0) {
		/* Merged with what came meanwhile, for the next try. */
		tokendb_writer_merge(ts, w->writing, TOKENDB_WRITER_SLOTS);
		memset(w->writing, 0, TOKENDB_WRITER_SLOTS *
		    sizeof(*w->writing));
	}
	return r;
}

/* After a failed write: wait flush_interval, or less if told to stop. */
static void
tokendb_writer_backoff(struct tokendb_shared *ts)
{
	struct tokendb_writer	*w = &ts->writer;
	struct timespec		 dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += ts->flush_interval / 1000;
	dl.tv_nsec += (ts->flush_interval % 1000) * 1000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	while (!w->stop && pthread_cond_timedwait(&w->cv, &w->mtx,
	    &dl) != ETIMEDOUT)
		;
}

static void *
tokendb_writer_main(void *arg)
{
	struct tokendb_shared	*ts = arg;
	struct tokendb_writer	*w = &ts->writer;
	int			 stop, r = 0;

	pthread_mutex_lock(&w->mtx);
	for (;;) {
		if (r != 0)
			tokendb_writer_backoff(ts);
		while (w->npending == 0 && !w->stop)
			pthread_cond_wait(&w->cv, &w->mtx);
		/* Everything handed over before the stop is written. */
		stop = w->stop;
		r = w->npending > 0 ? tokendb_writer_pass(ts) : 0;
		if (stop)
			break;
	}
	if (w->npending > 0)
		log_msg(LL_WARN, "tokendb_flush", "%zu use counts not written",
		    w->npending);
	pthread_mutex_unlock(&w->mtx);
	tokendb_shared_free(ts);

	pthread_mutex_lock(&tokendb_exit_mtx);
	tokendb_retiring--;
	pthread_cond_broadcast(&tokendb_exit_cv);
	pthread_mutex_unlock(&tokendb_exit_mtx);
	return NULL;
}

/* Start the writer, with mtx held; 0, or -1 if there is no thread. */
static int
tokendb_writer_start(struct tokendb_shared *ts)
{
	struct tokendb_writer	*w = &ts->writer;
	pthread_t		 t;
	int			 e;

	if (w->started)
		return 0;
	if (w->stop)
		return -1;
	if (w->pending == NULL) {
		w->pending = xcalloc(TOKENDB_WRITER_SLOTS,
		    sizeof(*w->pending));
		w->writing = xcalloc(TOKENDB_WRITER_SLOTS,
		    sizeof(*w->writing));
	}
	pthread_once(&tokendb_exit_once, tokendb_exit_register);
	if ((e = pthread_create(&t, NULL, tokendb_writer_main, ts)) != 0) {
		log_msg(LL_ERROR, "tokendb_flush", "no writer thread: %s",
		    strerror(e));
		return -1;
	}
	pthread_detach(t);
	w->started = 1;
	return 0;
}

static void
tokendb_writer_init(struct tokendb_writer *w)
{
	pthread_mutex_init(&w->mtx, NULL);
	pthread_cond_init(&w->cv, NULL);
}

/*
 * Tell a started writer to finish: 1 if it now owns ts and frees it.  The
 * writer is not joined here: the last reference to a generation is often
 * dropped by a worker, which must not wait for a write.
 */
static int
tokendb_writer_retire(struct tokendb_shared *ts)
{
	struct tokendb_writer	*w = &ts->writer;
	int			 started;

	pthread_mutex_lock(&w->mtx);
	started = w->started;
	w->stop = 1;
	if (started) {
		pthread_mutex_lock(&tokendb_exit_mtx);
		tokendb_retiring++;
		pthread_mutex_unlock(&tokendb_exit_mtx);
		pthread_cond_signal(&w->cv);
	}
	pthread_mutex_unlock(&w->mtx);
	return started;
}

static void
tokendb_unload(void *shared)
{
	struct tokendb_shared	*ts = shared;

	if (ts == NULL)
		return;
	if (tokendb_writer_retire(ts))
		return;
	tokendb_shared_free(ts);
}

/* err for the key of the [tokendb] section that names the database. */
static void
tokendb_load_error(const struct config *conf, const struct tokendb_shared *ts,
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
 * the first connection (tokendb_schema_start()).
 */
static int
tokendb_load_pg(const struct config *conf, struct tokendb_shared *ts,
    char *err, size_t errlen)
{
#ifdef HAVE_TOKENDB_PG
	char	why[TR_ERRLEN];

	if (tokendb_pg_check_url(ts->url, why, sizeof(why)) != 0) {
		tokendb_load_error(conf, ts, why, err, errlen);
		return -1;
	}
	ts->migrate_sql = tokendb_pg_migrate_sql();
	ts->loaded = (int64_t)(monotonic_sec() * 1000);
	return 0;
#else
	tokendb_load_error(conf, ts, "PostgreSQL is not supported by this "
	    "build", err, errlen);
	return -1;
#endif
}

void
auth_tokendb_may_create(int on)
{
	tokendb_may_create = on;
}

/*
 * A check of the config finds the file missing: it is made on the
 * daemon's first start, in a directory that must exist by then.
 */
static int
tokendb_check_missing(const struct config *conf, struct tokendb_shared *ts,
    char *err, size_t errlen)
{
	struct stat	 st;
	char		*copy, *dir, why[TR_ERRLEN];
	int		 r = 0;

	copy = xstrdup(ts->path);
	dir = dirname(copy);
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		snprintf(why, sizeof(why), "%s: no such directory", dir);
		tokendb_load_error(conf, ts, why, err, errlen);
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
tokendb_load_file(const struct config *conf, struct tokendb_shared *ts,
    char *err, size_t errlen)
{
	struct tokendb	*db;
	struct stat	 st;
	char		 why[TR_ERRLEN];
	int		 created = 0;

	if (!tokendb_may_create && lstat(ts->path, &st) != 0 &&
	    errno == ENOENT)
		return tokendb_check_missing(conf, ts, err, errlen);
	if (tokendb_may_create)
		db = tokendb_create(ts->path, conf->user, 1000, &created, why,
		    sizeof(why));
	else
		db = tokendb_open(ts->path, 0, 1000, why, sizeof(why));
	if (db == NULL) {
		tokendb_load_error(conf, ts, why, err, errlen);
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
tokendb_load(const struct config *conf, void **shared, char *err,
    size_t errlen)
{
	struct tokendb_shared	*ts;

	*shared = NULL;
	ts = xcalloc(1, sizeof(*ts));
	tokendb_writer_init(&ts->writer);
	if (tokendb_conf(conf, ts, err, errlen) != 0)
		goto fail;
	if ((ts->url != NULL ? tokendb_load_pg(conf, ts, err, errlen) :
	    tokendb_load_file(conf, ts, err, errlen)) != 0)
		goto fail;
	*shared = ts;
	return 0;
fail:
	tokendb_unload(ts);
	return -1;
}

static void	tokendb_note_use(struct tokendb_inst *, const char *,
		    long long, long long);
#ifdef HAVE_TOKENDB_PG
static void	tokendb_pend_free(struct tokendb_pend *);
static void	tokendb_schema_stop(struct tokendb_inst *);
static void	tokendb_schema_ev_cb(evutil_socket_t, short, void *);
static void	tokendb_park_cb(evutil_socket_t, short, void *);
#endif

#ifdef HAVE_TOKENDB_PG
/*
 * The database answered or not.  Shared by all workers: readiness follows
 * the time since the first failure that no success has cleared.
 */
static void
tokendb_up(int up, void *arg)
{
	struct tokendb_inst	*ti = arg;
	int64_t			 now = (int64_t)(monotonic_sec() * 1000);
	int64_t			 zero = 0;

	if (up)
		SET(ti->ts->down_since, 0);
	else
		__atomic_compare_exchange_n(&ti->ts->down_since, &zero,
		    now > 0 ? now : 1, 0, __ATOMIC_RELAXED,
		    __ATOMIC_RELAXED);
}

static void
tokendb_flushed_cb(const struct pg_result *res, const char *err, void *arg)
{
	struct tokendb_inst	*ti = arg;
	struct tokendb_use	*u;

	ti->flushing = NULL;
	if (err != NULL) {
		/* Put the counts back for the next flush. */
		log_msg(LL_WARN, "tokendb_flush", "%s", err);
		ADD(ti->ts->errors, 1);
		for (u = ti->flushed; u->count != 0; u++)
			tokendb_note_use(ti, u->id, u->last_used, u->count);
	} else
		ADD(ti->ts->flushes, 1);
	free(ti->flushed);
	ti->flushed = NULL;
}

/* Write the batch with one asynchronous statement. */
static void
tokendb_flush_pg(struct tokendb_inst *ti)
{
	char	*params[3], err[TR_ERRLEN];
	size_t	 i, n = 0;
	int	 k;

	if (ti->flushing != NULL)
		return;
	ti->flushed = xcalloc(ti->nuses + 1, sizeof(*ti->flushed));
	for (i = 0; i < TOKENDB_MAX_PENDING; i++) {
		if (ti->uses[i].count != 0)
			ti->flushed[n++] = ti->uses[i];
	}
	tokendb_pg_uses_params(ti->flushed, n, params);
	memset(ti->uses, 0, sizeof(ti->uses));
	ti->nuses = 0;
	ti->flushing = pgpool_exec(ti->pool, tokendb_pg_sql_uses, 3,
	    (const char *const *)params, tokendb_flushed_cb, ti, err,
	    sizeof(err));
	if (ti->flushing == NULL)
		tokendb_flushed_cb(NULL, err, ti);
	for (k = 0; k < 3; k++)
		free(params[k]);
}
#endif

/*
 * Give the batch to the writer thread and start afresh; the worker never
 * waits for the write.  If there is no writer, the counts stay here.
 */
static void
tokendb_hand_over(struct tokendb_inst *ti)
{
	struct tokendb_writer	*w = &ti->ts->writer;

	pthread_mutex_lock(&w->mtx);
	if (tokendb_writer_start(ti->ts) != 0) {
		pthread_mutex_unlock(&w->mtx);
		return;
	}
	tokendb_writer_merge(ti->ts, ti->uses, TOKENDB_MAX_PENDING);
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mtx);
	memset(ti->uses, 0, sizeof(ti->uses));
	ti->nuses = 0;
}

static void
tokendb_flush(struct tokendb_inst *ti)
{
	if (ti->nuses == 0)
		return;
#ifdef HAVE_TOKENDB_PG
	if (ti->pool != NULL) {
		tokendb_flush_pg(ti);
		return;
	}
#endif
	tokendb_hand_over(ti);
}

static void
tokendb_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	tokendb_flush(arg);
}

#ifdef HAVE_TOKENDB_PG
/*
 * The pool goes with the generation; the counts it has not written,
 * those of a flush in flight included, go to the writer thread.
 */
static void
tokendb_free_pg(struct tokendb_inst *ti)
{
	struct tokendb_use	*u;

	if (ti->pool == NULL)
		return;
	if (ti->flushed != NULL) {
		for (u = ti->flushed; u->count != 0; u++)
			tokendb_note_use(ti, u->id, u->last_used, u->count);
	}
	tokendb_schema_stop(ti);
	/* Reviews still waiting are the chain's to forget, not to answer. */
	pgpool_free(ti->pool);
	ti->pool = NULL;
	while (!TAILQ_EMPTY(&ti->pending))
		tokendb_pend_free(TAILQ_FIRST(&ti->pending));
	free(ti->flushed);
	ti->flushed = NULL;
	ti->flushing = NULL;
}
#endif

static void
tokendb_free(void *inst)
{
	struct tokendb_inst	*ti = inst;

	if (ti == NULL)
		return;
	if (ti->flush_ev != NULL)
		event_free(ti->flush_ev);
#ifdef HAVE_TOKENDB_PG
	tokendb_free_pg(ti);
#endif
	tokendb_flush(ti);
	tokendb_close(ti->db);
	free(ti);
}

static int
tokendb_init(void *shared, struct event_base *base, void **inst)
{
	struct tokendb_shared	*ts = shared;
	struct tokendb_inst	*ti;
	struct timeval		 tv;
	char			 err[TR_ERRLEN];

	*inst = NULL;
	ti = xcalloc(1, sizeof(*ti));
	ti->ts = ts;
	TAILQ_INIT(&ti->pending);
#ifdef HAVE_TOKENDB_PG
	if (ts->url != NULL) {
		ti->pool = pgpool_new(base, ts->url, ts->pool_size,
		    ts->query_timeout, tokendb_up, ti);
		ti->schema_ev = evtimer_new(base, tokendb_schema_ev_cb, ti);
		ti->park_ev = evtimer_new(base, tokendb_park_cb, ti);
		/* The first worker to run checks the schema. */
		event_active(ti->schema_ev, 0, 0);
	}
#endif
	if (ti->pool == NULL && (ti->db = tokendb_open(ts->path, 0,
	    ts->busy_timeout, err, sizeof(err))) == NULL) {
		log_msg(LL_ERROR, "tokendb_open", "%s", err);
		tokendb_free(ti);
		return -1;
	}
	ti->flush_ev = event_new(base, -1, EV_PERSIST, tokendb_flush_cb, ti);
	tv.tv_sec = ts->flush_interval / 1000;
	tv.tv_usec = (ts->flush_interval % 1000) * 1000;
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
static void
tokendb_note_use(struct tokendb_inst *ti, const char *id, long long now,
    long long count)
{
	if (tokendb_uses_add(ti->uses, TOKENDB_MAX_PENDING, &ti->nuses, id,
	    now, count) != 0)
		ADD(ti->ts->uses_dropped, (uint64_t)count);
}

static int
str_cmp(const void *a, const void *b)
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
bootstrap_groups(const struct tokendb_token *tok)
{
	char	**g;
	size_t	  i, n = 0, m = 0;

	while (tok->groups[n] != NULL)
		n++;
	g = xcalloc(n + 2, sizeof(*g));
	g[m++] = (char *)TOKENDB_BOOTSTRAPPERS;
	for (i = 0; i < n; i++) {
		if (strcmp(tok->groups[i], TOKENDB_BOOTSTRAPPERS) == 0)
			continue;
		if (!tokendb_bootstrap_group(tok->groups[i])) {
			free(g);
			return NULL;
		}
		g[m++] = tok->groups[i];
	}
	qsort(g, m, sizeof(*g), str_cmp);
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
tokendb_row_groups(struct tokendb_shared *ts, const struct tokendb_token *tok)
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
tokendb_user(struct tokendb_shared *ts, const struct tokendb_token *tok,
    struct auth_result *res)
{
	char	**groups;

	if (!tok->bootstrap) {
		groups = tokendb_row_groups(ts, tok);
		res->username = xstrdup(tok->username);
		res->user_json = auth_user_json(tok->username, tok->uid,
		    groups, tok->extra_keys,
		    (char *const *const *)tok->extra_values);
		free(groups);
		return 0;
	}
	if ((groups = bootstrap_groups(tok)) == NULL)
		return -1;
	xasprintf(&res->username, TOKENDB_BOOTSTRAP_USER "%s", tok->id);
	res->user_json = auth_user_json(res->username, NULL, groups, NULL,
	    NULL);
	free(groups);
	return 0;
}

/* Count a lookup that started at t0 (monotonic_sec()) in the metrics. */
static void
tokendb_timed(struct tokendb_shared *ts, double t0)
{
	double	d = monotonic_sec() - t0;

	if (d < 0)
		d = 0;
	ADD(ts->lookups, 1);
	ADD(ts->lookup_us, (uint64_t)(d * 1e6));
	ADD(ts->lookup_bucket[metrics_bucket(d)], 1);
}

/* Look the id up, timing it for the metrics.  As tokendb_get(). */
static int
tokendb_lookup(struct tokendb_inst *ti, const char *id,
    struct tokendb_token *tok, struct auth_result *res)
{
	char	err[TR_ERRLEN];
	double	t0 = monotonic_sec();
	int	found;

	found = tokendb_get(ti->db, id, tok, err, sizeof(err));
	tokendb_timed(ti->ts, t0);
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
static int
tokendb_accept(struct tokendb_inst *ti, const struct tokendb_token *tok,
    const uint8_t *hash, long long now, struct auth_result *res)
{
	if (!ct_equal(hash, tok->secret_hash, TR_SHA256_LEN) ||
	    tok->revoked || (tok->expires != 0 && now >= tok->expires) ||
	    !tokendb_usage_auth(tok->usages) || tok->uses_left == 0)
		return -1;
	if (tokendb_user(ti->ts, tok, res) != 0)
		return -1;
	res->max_ttl = ti->ts->cache_ttl > 0 ? ti->ts->cache_ttl : -1;
	/* Each use of a usage-limited token must reach the database. */
	if (tok->uses_left > 0)
		res->max_ttl = -1;
	return 0;
}

/* Complete res for the answer rv: counted when OK, no user otherwise. */
static void
tokendb_answer(struct tokendb_inst *ti, const char *id, long long now,
    struct auth_result *res, enum auth_rv rv)
{
	if (rv == AUTH_OK) {
		tokendb_note_use(ti, id, now, 1);
		res->rv = AUTH_OK;
		res->backend = "tokendb";
		return;
	}
	free(res->username);
	free(res->user_json);
	res->username = res->user_json = NULL;
}

#ifdef HAVE_TOKENDB_PG
/* A review waiting for PostgreSQL. */
struct tokendb_pend {
	TAILQ_ENTRY(tokendb_pend) entry;
	struct tokendb_inst	*ti;
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

static void
tokendb_pend_free(struct tokendb_pend *p)
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
tokendb_pg_error(struct tokendb_inst *ti, struct auth_result *res,
    const char *err)
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
	ADD(ti->ts->errors, 1);
	free(res->error);
	xasprintf(&res->error, "%.*s", (int)n, err);
}

static void
tokendb_pend_done(struct tokendb_pend *p, enum auth_rv rv)
{
	struct auth_req	*req = p->req;
	auth_done_cb	 done = p->done;

	tokendb_answer(p->ti, p->id, p->now, p->res, rv);
	tokendb_pend_free(p);
	done(req, rv);
}

static void
tokendb_used_cb(const struct pg_result *r, const char *err, void *arg)
{
	struct tokendb_pend	*p = arg;

	p->q = NULL;
	if (err != NULL) {
		log_msg(LL_WARN, "tokendb_use", "%s", err);
		tokendb_pg_error(p->ti, p->res, err);
		tokendb_pend_done(p, AUTH_ERROR);
		return;
	}
	tokendb_pend_done(p, PQntuples((const PGresult *)r) == 1 ? AUTH_OK :
	    AUTH_DENY);
}

static void
tokendb_got_cb(const struct pg_result *r, const char *err, void *arg)
{
	struct tokendb_pend	*p = arg;
	struct tokendb_token	 tok;
	const char		*param = p->id;
	char			 why[TR_ERRLEN];
	enum auth_rv		 rv = AUTH_DENY;

	p->q = NULL;
	tokendb_timed(p->ti->ts, p->t0);
	if (err != NULL) {
		log_msg(LL_WARN, "tokendb_lookup", "%s", err);
		tokendb_pg_error(p->ti, p->res, err);
		tokendb_pend_done(p, AUTH_ERROR);
		return;
	}
	if (PQntuples((const PGresult *)r) != 1) {
		tokendb_pend_done(p, AUTH_DENY);
		return;
	}
	tokendb_pg_row(r, 0, &tok);
	if (tokendb_accept(p->ti, &tok, p->hash, p->now, p->res) == 0) {
		rv = AUTH_OK;
		/* Take the use: the conditional UPDATE, asynchronously too. */
		if (tok.uses_left > 0 && (p->q = pgpool_exec(p->ti->pool,
		    tokendb_pg_sql_consume, 1, &param, tokendb_used_cb, p, why,
		    sizeof(why))) == NULL) {
			tokendb_pg_error(p->ti, p->res, why);
			rv = AUTH_ERROR;
		}
	}
	tokendb_token_clear(&tok);
	if (p->q == NULL)
		tokendb_pend_done(p, rv);
}

/* Send the lookup of a review; -1 with err set when the pool refuses. */
static int
tokendb_pend_send(struct tokendb_pend *p, char *err, size_t errlen)
{
	const char	*param = p->id;

	p->parked = 0;
	p->t0 = monotonic_sec();
	p->q = pgpool_exec(p->ti->pool, tokendb_pg_sql_get, 1, &param,
	    tokendb_got_cb, p, err, errlen);
	if (p->q == NULL) {
		tokendb_timed(p->ti->ts, p->t0);
		return -1;
	}
	return 0;
}

/*
 * The schema check: the first successful connection of a generation runs
 * the migration (under the advisory lock, so that workers of other
 * generations and other daemons may race it) and reads the version it
 * left.  One worker at a time holds the check (SCHEMA_CHECKING); reviews
 * wait for it parked, and a failure is tried again after a backoff.
 */
static void
tokendb_schema_error(struct tokendb_shared *ts, int state, char *err,
    size_t errlen)
{
	if (state == SCHEMA_NEWER)
		snprintf(err, errlen, "token database schema version %d is "
		    "newer than this program knows (%d)",
		    GET(ts->schema_found), TOKENDB_SCHEMA_VERSION);
	else
		snprintf(err, errlen, "token database unreachable (schema not "
		    "checked yet)");
}

static void
tokendb_schema_set(struct tokendb_inst *ti, int state)
{
	__atomic_store_n(&ti->ts->schema, state, __ATOMIC_RELEASE);
	/* Parked reviews hear of it from the loop, not from here. */
	event_active(ti->park_ev, 0, 0);
}

/* The attempt failed: say so if it reached the pool, and try again later. */
static void
tokendb_schema_failed(struct tokendb_inst *ti, const char *err, int tried)
{
	struct timeval	tv;
	double		b = ti->schema_backoff;

	ti->schema_q = NULL;
	b = b == 0 ? 0.25 : b * 2 > TOKENDB_SCHEMA_RETRY_MAX ?
	    TOKENDB_SCHEMA_RETRY_MAX : b * 2;
	ti->schema_backoff = b;
	if (tried)
		log_msg(LL_WARN, "tokendb_schema", "checking the token "
		    "database schema: %s; trying again in %.2f s", err, b);
	tv.tv_sec = (time_t)b;
	tv.tv_usec = (suseconds_t)((b - (double)tv.tv_sec) * 1e6);
	evtimer_add(ti->schema_ev, &tv);
	tokendb_schema_set(ti, SCHEMA_UNKNOWN);
}

static void
tokendb_schema_cb(const struct pg_result *r, const char *err, void *arg)
{
	struct tokendb_inst	*ti = arg;
	const PGresult		*res = (const PGresult *)r;
	char			 why[TR_ERRLEN];
	int			 v;

	ti->schema_q = NULL;
	if (err != NULL) {
		tokendb_schema_failed(ti, err, 1);
		return;
	}
	if (ti->schema_step++ == 0) {
		if ((ti->schema_q = pgpool_exec(ti->pool,
		    tokendb_pg_sql_version, 0, NULL, tokendb_schema_cb, ti, why,
		    sizeof(why))) == NULL)
			tokendb_schema_failed(ti, why, 1);
		return;
	}
	v = PQntuples(res) == 1 && !PQgetisnull(res, 0, 0) ?
	    atoi(PQgetvalue(res, 0, 0)) : 0;
	if (v < TOKENDB_SCHEMA_VERSION) {
		tokendb_schema_failed(ti, "the schema was not created", 1);
		return;
	}
	ti->schema_backoff = 0;
	if (v > TOKENDB_SCHEMA_VERSION) {
		SET(ti->ts->schema_found, v);
		log_msg(LL_ERROR, "tokendb_schema", "the token database has "
		    "schema version %d, newer than this program knows (%d): "
		    "its tokens are refused with an error until tokenreviewd "
		    "is upgraded", v, TOKENDB_SCHEMA_VERSION);
		tokendb_schema_set(ti, SCHEMA_NEWER);
		return;
	}
	log_msg(LL_INFO, "tokendb_schema", "token database schema version %d",
	    v);
	tokendb_schema_set(ti, SCHEMA_OK);
}

/* Take the check if nobody has it and it is not done. */
static void
tokendb_schema_start(struct tokendb_inst *ti)
{
	char	err[TR_ERRLEN];
	int	expect = SCHEMA_UNKNOWN;

	if (ti->schema_q != NULL || !__atomic_compare_exchange_n(
	    &ti->ts->schema, &expect, SCHEMA_CHECKING, 0, __ATOMIC_ACQ_REL,
	    __ATOMIC_ACQUIRE))
		return;
	ti->schema_step = 0;
	/* Refused at once while the pool backs off: no log line per try. */
	if ((ti->schema_q = pgpool_exec(ti->pool, ti->ts->migrate_sql, 0,
	    NULL, tokendb_schema_cb, ti, err, sizeof(err))) == NULL)
		tokendb_schema_failed(ti, err, 0);
}

static void
tokendb_schema_ev_cb(evutil_socket_t fd, short what, void *arg)
{
	tokendb_schema_start(arg);
}

/* The worker goes away: a check it holds is free for another one. */
static void
tokendb_schema_stop(struct tokendb_inst *ti)
{
	int	expect = SCHEMA_CHECKING;

	if (ti->schema_q != NULL)
		__atomic_compare_exchange_n(&ti->ts->schema, &expect,
		    SCHEMA_UNKNOWN, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
	ti->schema_q = NULL;
	if (ti->schema_ev != NULL)
		event_free(ti->schema_ev);
	if (ti->park_ev != NULL)
		event_free(ti->park_ev);
	ti->schema_ev = ti->park_ev = NULL;
}

/* Parked reviews go on (or fail) once the check is over. */
static void
tokendb_park_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tokendb_inst	*ti = arg;
	struct tokendb_pend	*p;
	struct timeval		 tv;
	char			 err[TR_ERRLEN];
	int			 state, waiting = 0;

	state = __atomic_load_n(&ti->ts->schema, __ATOMIC_ACQUIRE);
again:
	TAILQ_FOREACH(p, &ti->pending, entry) {
		if (!p->parked)
			continue;
		if (state == SCHEMA_CHECKING) {
			waiting = 1;
			continue;
		}
		if (state == SCHEMA_OK && tokendb_pend_send(p, err,
		    sizeof(err)) == 0)
			continue;
		if (state != SCHEMA_OK)
			tokendb_schema_error(ti->ts, state, err, sizeof(err));
		tokendb_pg_error(ti, p->res, err);
		/* done() may end other reviews: start over. */
		tokendb_pend_done(p, AUTH_ERROR);
		goto again;
	}
	if (waiting) {
		tv.tv_sec = 0;
		tv.tv_usec = TOKENDB_PARK_POLL * 1000;
		evtimer_add(ti->park_ev, &tv);
	}
}

static enum auth_rv
tokendb_authenticate_pg(struct tokendb_inst *ti, struct auth_req *req,
    struct auth_result *res, auth_done_cb done, const char *id,
    const uint8_t *hash, long long now)
{
	struct tokendb_pend	*p;
	char			 err[TR_ERRLEN];
	int			 state;

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
	    __ATOMIC_ACQUIRE)) == SCHEMA_UNKNOWN) {
		tokendb_schema_start(ti);
		state = __atomic_load_n(&ti->ts->schema, __ATOMIC_ACQUIRE);
	}
	if (state == SCHEMA_CHECKING) {
		p->parked = 1;
		event_active(ti->park_ev, 0, 0);
		return AUTH_PENDING;
	}
	if (state == SCHEMA_OK && tokendb_pend_send(p, err, sizeof(err)) == 0)
		return AUTH_PENDING;
	/* Known to be unreachable (or not ours): answer now, no waiting. */
	if (state != SCHEMA_OK)
		tokendb_schema_error(ti->ts, state, err, sizeof(err));
	tokendb_pg_error(ti, res, err);
	tokendb_pend_free(p);
	return AUTH_ERROR;
}
#endif

/* Take one use of a usage-limited token: AUTH_OK, AUTH_DENY or error. */
static enum auth_rv
tokendb_take_use(struct tokendb_inst *ti, const char *id,
    struct auth_result *res)
{
	const char	*cause;
	char		 err[TR_ERRLEN];
	int		 r;

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

static enum auth_rv
tokendb_authenticate(void *inst, struct auth_req *req,
    struct auth_result *res, auth_done_cb done)
{
	struct tokendb_inst	*ti = inst;
	struct tokendb_token	 tok;
	uint8_t			 hash[TR_SHA256_LEN];
	char			 id[TOKENDB_ID_LEN + 1];
	char			 secret[TOKENDB_SECRET_LEN + 1];
	long long		 now = (long long)time(NULL);
	enum auth_rv		 rv = AUTH_DENY;
	int			 found;

	memset(&tok, 0, sizeof(tok));
	/* Any other shape is not ours: no lookup at all. */
	if (tokendb_parse_token(req->token, req->token_len, id, secret) != 0)
		return AUTH_DENY;
	sha256(secret, TOKENDB_SECRET_LEN, hash);
#ifdef HAVE_TOKENDB_PG
	if (ti->pool != NULL) {
		rv = tokendb_authenticate_pg(ti, req, res, done, id, hash, now);
		goto clean;
	}
#endif
	if ((found = tokendb_lookup(ti, id, &tok, res)) <= 0) {
		rv = found < 0 ? AUTH_ERROR : AUTH_DENY;
		goto out;
	}
	if (tokendb_accept(ti, &tok, hash, now, res) != 0)
		goto out;
	if (tok.uses_left > 0 &&
	    (rv = tokendb_take_use(ti, id, res)) != AUTH_OK)
		goto out;
	rv = AUTH_OK;
out:
	tokendb_answer(ti, id, now, res, rv);
	tokendb_token_clear(&tok);
#ifdef HAVE_TOKENDB_PG
clean:
#endif
	OPENSSL_cleanse(secret, sizeof(secret));
	OPENSSL_cleanse(hash, sizeof(hash));
	return rv;
}

/* Only PostgreSQL lookups are ever pending; SQLite answers at once. */
static void
tokendb_cancel(void *inst, struct auth_req *req)
{
#ifdef HAVE_TOKENDB_PG
	struct tokendb_inst	*ti = inst;
	struct tokendb_pend	*p;

	TAILQ_FOREACH(p, &ti->pending, entry) {
		if (p->req == req)
			break;
	}
	if (p == NULL)
		return;
	if (p->q != NULL)
		pgpool_abandon(p->q);
	tokendb_pend_free(p);
#endif
}

static int
tokendb_ready(void *shared)
{
	struct tokendb_shared	*ts = shared;
	int64_t			 since;
	double			 now;
	int			 state;

	if (ts != NULL && ts->url != NULL) {
		now = monotonic_sec() * 1000;
		state = GET(ts->schema);
		if (state == SCHEMA_NEWER)
			return 0;
		/* Not checked yet: ready for the grace after the load. */
		if (state != SCHEMA_OK)
			return now - ts->loaded <= ts->ready_grace;
		since = GET(ts->down_since);
		return since == 0 || now - since <= ts->ready_grace;
	}
	return ts != NULL && !GET(ts->failing);
}

static void
tokendb_metrics(void *shared, struct evbuffer *out)
{
	struct tokendb_shared	*ts = shared;

	if (ts == NULL)
		return;
	evbuffer_add_printf(out,
	    "# HELP tokenreviewd_tokendb_lookups_total Token database "
	    "lookups.\n"
	    "# TYPE tokenreviewd_tokendb_lookups_total counter\n"
	    "tokenreviewd_tokendb_lookups_total %llu\n"
	    "# HELP tokenreviewd_tokendb_lookup_seconds_total Time spent in "
	    "token database lookups.\n"
	    "# TYPE tokenreviewd_tokendb_lookup_seconds_total counter\n"
	    "tokenreviewd_tokendb_lookup_seconds_total %.6f\n"
	    "# HELP tokenreviewd_tokendb_errors_total Failed token database "
	    "operations.\n"
	    "# TYPE tokenreviewd_tokendb_errors_total counter\n"
	    "tokenreviewd_tokendb_errors_total %llu\n"
	    "# HELP tokenreviewd_tokendb_flushes_total Batches of usage "
	    "counts written.\n"
	    "# TYPE tokenreviewd_tokendb_flushes_total counter\n"
	    "tokenreviewd_tokendb_flushes_total %llu\n"
	    "# HELP tokenreviewd_tokendb_flush_seconds_total Time spent "
	    "writing usage counts.\n"
	    "# TYPE tokenreviewd_tokendb_flush_seconds_total counter\n"
	    "tokenreviewd_tokendb_flush_seconds_total %.6f\n"
	    "# HELP tokenreviewd_tokendb_uses_dropped_total Uses not "
	    "counted because the batch was full.\n"
	    "# TYPE tokenreviewd_tokendb_uses_dropped_total counter\n"
	    "tokenreviewd_tokendb_uses_dropped_total %llu\n",
	    (unsigned long long)GET(ts->lookups),
	    (double)GET(ts->lookup_us) / 1e6,
	    (unsigned long long)GET(ts->errors),
	    (unsigned long long)GET(ts->flushes),
	    (double)GET(ts->flush_us) / 1e6,
	    (unsigned long long)GET(ts->uses_dropped));
	/* Every lookup counted above is in it: _count is lookups_total. */
	metrics_histogram(out, "tokenreviewd_tokendb_lookup_duration_seconds",
	    "Time of token database lookups, from the query to the row.",
	    ts->lookup_bucket, (double)GET(ts->lookup_us) / 1e6);
}

const struct auth_backend auth_tokendb_backend = {
	.name = "tokendb",
	.load = tokendb_load,
	.unload = tokendb_unload,
	.init = tokendb_init,
	.authenticate = tokendb_authenticate,
	.cancel = tokendb_cancel,
	.free = tokendb_free,
	.ready = tokendb_ready,
	.metrics = tokendb_metrics,
};
