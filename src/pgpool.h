/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * A small pool of asynchronous PostgreSQL connections on one event loop,
 * for the tokendb source's lookups (pgpool.c).  Include after
 * tokenreviewd.h.
 */

#ifndef PGPOOL_H
#define PGPOOL_H

/*
 * Connections are opened when first needed; one that fails makes the pool
 * refuse queries at once until a retry time that backs off.  A query's
 * callback runs once from the loop with the result (not to be cleared by
 * the callback) or NULL and an error, unless it was abandoned first.
 */
struct pg_result;
struct pgpool;
struct pgpool_query;
/*
 * A read runs in a transaction with the reads sent with it, and is sent
 * again if one of those fails first; a write runs alone.
 */
enum pgpool_mode {
	PGPOOL_READ,
	PGPOOL_WRITE,
};
typedef void	 (*pgpool_cb)(const struct pg_result *, const char *err,
		    void *arg);
struct pgpool	*pgpool_new(struct event_base *, const char *url, int size,
		    long long timeout_ms, void (*up)(int, void *), void *arg);
void		 pgpool_free(struct pgpool *);
/* NULL with err set when the database is known to be unreachable. */
struct pgpool_query *pgpool_exec(struct pgpool *, enum pgpool_mode,
		    const char *sql, int n, const char *const *params,
		    pgpool_cb, void *arg, char *err, size_t errlen);
void		 pgpool_abandon(struct pgpool_query *);

#endif /* PGPOOL_H */
