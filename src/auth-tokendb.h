/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * What the files of the tokendb source share: the loaded [tokendb] of a
 * generation (struct tdsrc_shared) with its writer thread, one worker's
 * instance (struct tdsrc_inst), and the calls between the review
 * lifecycle (auth-tokendb.c), the writer of use counts
 * (auth-tokendb-writer.c) and the asynchronous PostgreSQL path
 * (auth-tokendb-pg.c), and the login sessions kept beside the tokens
 * (auth-tokendb-session.c).  Private to those files; include after
 * tokenreviewd.h and tokendb.h.
 */

#ifndef AUTH_TOKENDB_H
#define AUTH_TOKENDB_H

#include <pthread.h>

#define TDSRC_MAX_PENDING	4096	/* slots for uses per flush (2^n) */
#define TDSRC_BOOTSTRAPPERS	"system:bootstrappers"
#define TDSRC_BOOTSTRAP_USER	"system:bootstrap:"

#define TDSRC_SCHEMA_RETRY_MIN	250	/* ms between schema check attempts */
#define TDSRC_SCHEMA_RETRY_MAX	4000	/* ms, at most */
#define TDSRC_PARK_POLL		10	/* ms: parked reviews look again */
#define TDSRC_PRUNE_MAX		1000	/* expired sessions deleted a pass */
#define TDSRC_READ_MAX_AGE	0.001	/* s a shared SQLite read may last */

/* Where the schema check of a PostgreSQL generation stands. */
enum tdsrc_schema {
	TDSRC_SCHEMA_UNKNOWN,	/* not checked yet, or the last try failed */
	TDSRC_SCHEMA_CHECKING,	/* one worker is at it */
	TDSRC_SCHEMA_OK,
	TDSRC_SCHEMA_NEWER,	/* written by a newer program: not ours */
};

/* The statement of the schema check a worker waits for. */
enum tdsrc_schema_step {
	TDSRC_STEP_MIGRATE,	/* the migration, as one statement */
	TDSRC_STEP_VERSION,	/* then the version it left */
};

#define TDSRC_WRITER_SLOTS	8192	/* uses the writer holds (2^n) */
#define TDSRC_WRITER_BUSY	1000	/* ms the writer waits for the lock */
#define TDSRC_EXIT_WAIT		5	/* s the process waits for writers */

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
 * data and exits (see tdsrc_unload()).
 */
struct tdsrc_writer {
	pthread_mutex_t		 mtx;
	pthread_cond_t		 cv;
	int			 started;
	int			 stop;
	struct tokendb_use	*pending;	/* under mtx */
	size_t			 npending;
	int			 prune;		/* expired sessions due */
	struct tokendb_use	*writing;	/* the thread's own */
	struct tokendb		*db;		/* the thread's own */
};

/* One loaded [tokendb], shared by the workers of a generation. */
struct tdsrc_shared {
	char		*path;
	char		*url;		/* PostgreSQL instead of path */
	int		 pool_size;
	long long	 query_timeout;
	long long	 ready_grace;
	int64_t		 down_since;	/* ms, monotonic; 0 while reachable */
	int64_t		 loaded;	/* ms, monotonic */
	char		*migrate_sql;
	enum tdsrc_schema schema;	/* atomic */
	int		 schema_found;	/* the newer version, for messages */
	long long	 cache_ttl;
	long long	 busy_timeout;
	long long	 flush_interval;
	int		 sessions_used;	/* atomic: prune expired ones */
	int64_t		 prune_next;	/* atomic, ms monotonic */

	/* metrics, updated with relaxed atomics by every worker */
	uint64_t	 lookups;
	uint64_t	 errors;
	uint64_t	 lookup_us;	/* total time of lookups */
	uint64_t	 flushes;
	uint64_t	 flush_us;	/* total time of flushes */
	uint64_t	 uses_dropped;	/* not counted: the batch was full */
	int		 failing;	/* the last lookup failed */
	int		 implied_logged;	/* a row's group was dropped */

	/*
	 * The lookup latency histogram: each worker keeps its own (one
	 * writer each), and a freed instance leaves its counts in done.
	 */
	pthread_mutex_t	 hist_mtx;
	LIST_HEAD(, tdsrc_inst) insts;		/* under hist_mtx */
	struct metrics_hist lookup_done;	/* under hist_mtx */

	struct tdsrc_writer writer;
};

/* A review waiting for PostgreSQL (auth-tokendb-pg.c). */
struct tdsrc_pend;

enum tdsrc_sess_kind {
	TDSRC_SESS_CHECK,
	TDSRC_SESS_ADD,
};

/* A session check or add waiting for PostgreSQL. */
struct tdsrc_sess_op {
	TAILQ_ENTRY(tdsrc_sess_op) entry;	/* in ti->sess_ops */
	struct tdsrc_inst	*ti;
	enum tdsrc_sess_kind	 kind;
	tdsrc_session_cb	 cb;
	void			*arg;
	struct pgpool_query	*q;
	struct tokendb_session	 sess;		/* own copy; check: jti */
	int64_t			 now;
	double			 t0;
	int			 parked;	/* waits for the schema check */
};

/* What the memo of accepted rows says of a review (auth-tokendb-memo.c). */
enum tdsrc_memo_answer {
	TDSRC_MEMO_MISS,	/* not held: read the row */
	TDSRC_MEMO_OK,		/* the row lets the token in */
	TDSRC_MEMO_DENY,	/* it does not (secret or time) */
};

struct tdsrc_memo;

/* One worker's instance: its connection or pool, and its batch of uses. */
struct tdsrc_inst {
	struct tdsrc_shared	*ts;
	LIST_ENTRY(tdsrc_inst)	 entry;		/* in ts->insts */
	struct metrics_hist	 lookup_hist;	/* this worker's lookups */
	struct tokendb		*db;
	struct tdsrc_memo	*memo;	/* SQLite: rows accepted before */
	struct event		*read_end_ev;	/* SQLite: ends the shared read */
	int			 reading;	/* a shared read is open */
	double			 read_since;	/* since then (monotonic_sec) */
	long long		 read_version;	/* the data version it sees */
	struct pgpool		*pool;	/* PostgreSQL: lookups go here */
	TAILQ_HEAD(, tdsrc_pend) pending;
	TAILQ_HEAD(, tdsrc_sess_op) sess_ops;
	struct pgpool_query	*pruning;	/* expired sessions */
	struct pgpool_query	*flushing;
	struct tokendb_use	*flushed;	/* the batch being written */
	struct event		*flush_ev;
	struct pgpool_query	*schema_q;	/* this worker checks */
	enum tdsrc_schema_step	 schema_step;
	struct backoff		 schema_backoff;
	struct event		*schema_ev;	/* next attempt */
	struct event		*park_ev;	/* parked reviews look again */
	struct tokendb_use	 uses[TDSRC_MAX_PENDING];
	size_t			 nuses;
};

/* The shared counters and states, with relaxed atomics. */
#define ADD(field, n)	__atomic_add_fetch(&(field), (n), __ATOMIC_RELAXED)
#define GET(field)	__atomic_load_n(&(field), __ATOMIC_RELAXED)
#define SET(field, v)	__atomic_store_n(&(field), (v), __ATOMIC_RELAXED)

/* auth-tokendb.c */
/* Count uses of id, the last at now, for the worker's next flush. */
void		 tdsrc_note_use(struct tdsrc_inst *, const char *id,
		    long long now, long long count);
/* End the worker's shared SQLite read, if open: before any write. */
void		 tdsrc_read_close(struct tdsrc_inst *);
/* Count a lookup that started at t0 (monotonic_sec()) in the metrics. */
void		 tdsrc_timed(struct tdsrc_inst *, double t0);
/*
 * The row lets the token in (right secret, not revoked, expired, used up
 * or scoped otherwise): res gets the user and its cache bound.  0, or -1.
 */
int		 tdsrc_accept(struct tdsrc_inst *, const struct tokendb_token *,
		    const uint8_t *hash, long long now, struct auth_result *);
/* Complete res for the answer rv: counted when OK, no user otherwise. */
void		 tdsrc_answer(struct tdsrc_inst *, const char *id,
		    long long now, struct auth_result *, enum auth_rv);

/* auth-tokendb-session.c */
/* What a row (found: 1, 0) says of its session at now; why for ENDED. */
enum tdsrc_session_rv tdsrc_session_verdict(const struct tokendb_session *,
		    int found, int64_t now, const char **why);
/* Answer an op and free it (the op is gone when cb runs). */
void		 tdsrc_sess_op_done(struct tdsrc_sess_op *,
		    enum tdsrc_session_rv, const char *why);
void		 tdsrc_sess_op_free(struct tdsrc_sess_op *);
/* From the flush timer: prune expired sessions when it is time. */
void		 tdsrc_session_tick(struct tdsrc_inst *);

/* auth-tokendb-memo.c */
struct tdsrc_memo *tdsrc_memo_new(void);
void		 tdsrc_memo_free(struct tdsrc_memo *);
/*
 * The answer to a review of id with the secret's hash at now, from the
 * row held at version (res gets the user and max_ttl when OK).  A
 * version other than the memo's (or -1, unknown) empties it: a miss.
 */
enum tdsrc_memo_answer tdsrc_memo_review(struct tdsrc_memo *,
		    long long version, const char *id, const uint8_t *hash,
		    long long now, long long max_ttl, struct auth_result *);
/*
 * Keep tok, read at version and accepted with the user in res.  Rows of
 * usage-limited tokens, and rows read at another version, are not kept.
 */
void		 tdsrc_memo_put(struct tdsrc_memo *, long long version,
		    const struct tokendb_token *, const struct auth_result *);

/* auth-tokendb-writer.c */
/*
 * Add count uses of id, the last at time last, to the open-addressing
 * table tab of size slots (a power of two) holding *n ids.  -1 when the id
 * is new and the table three-quarters full: the use is not counted.
 */
int		 tdsrc_uses_add(struct tokendb_use *tab, size_t size,
		    size_t *n, const char *id, long long last,
		    long long count);
void		 tdsrc_writer_init(struct tdsrc_writer *);
/* Tell a started writer to finish: 1 if it now owns ts and frees it. */
int		 tdsrc_writer_retire(struct tdsrc_shared *);
/* Give the worker's batch to the writer thread and start afresh. */
void		 tdsrc_hand_over(struct tdsrc_inst *);
/* Ask the writer thread to prune expired sessions (TDSRC_PRUNE_MAX). */
void		 tdsrc_writer_prune(struct tdsrc_shared *);
/* Free the shared data of a generation (its writer's too). */
void		 tdsrc_shared_free(struct tdsrc_shared *);

#ifdef HAVE_TOKENDB_PG
/* auth-tokendb-pg.c */
/* The worker's pool and the events of its schema check. */
void		 tdsrc_pg_init(struct tdsrc_inst *, struct event_base *);
void		 tdsrc_pg_free(struct tdsrc_inst *);
/* Write the worker's batch of use counts with one statement. */
void		 tdsrc_pg_flush(struct tdsrc_inst *);
/* authenticate() once the token has the right shape: id and hash. */
enum auth_rv	 tdsrc_pg_authenticate(struct tdsrc_inst *, struct auth_req *,
		    struct auth_result *, auth_done_cb, const char *id,
		    const uint8_t *hash, long long now);
/* Forget a pending review. */
void		 tdsrc_pg_cancel(struct tdsrc_inst *, struct auth_req *);
/* Send a session op (queued on ti->sess_ops): as tdsrc_session_check(). */
struct tdsrc_sess_op *tdsrc_pg_session(struct tdsrc_sess_op *);
/* Delete up to TDSRC_PRUNE_MAX expired sessions, asynchronously. */
void		 tdsrc_pg_session_prune(struct tdsrc_inst *, int64_t now);
#endif

#endif /* AUTH_TOKENDB_H */
