/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The PostgreSQL pool of the daemon (src/pgpool.c) driven alone, for
 * tests/tokendb.sh: a pool of two connections is handed, in one turn of
 * the loop, a write that takes SECONDS (pg_sleep) and a read behind it.
 * Each answer is printed as it comes, with the milliseconds since the
 * start, or as "write error TEXT":
 *
 *	read 25
 *	write 2012
 *
 * A read must not wait for a write that went before it: it is answered
 * on the other connection, so "read" comes first.  The process ends when
 * both are answered, or after SECONDS + 10.
 *
 * usage: pgprobe URL SECONDS
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>

#include <event2/event.h>

#include "tokenreviewd.h"
#include "pgpool.h"

static struct event_base	*base;
static uint64_t			 t0;
static int			 left = 2;

static void
answered(const struct pg_result *res, const char *err, void *arg)
{
	(void)res;
	if (err != NULL)
		printf("%s error %s\n", (const char *)arg, err);
	else
		printf("%s %llu\n", (const char *)arg,
		    (unsigned long long)(monotonic_ms() - t0));
	fflush(stdout);
	if (--left == 0)
		event_base_loopbreak(base);
}

int
main(int argc, char *argv[])
{
	struct pgpool	*pool;
	struct timeval	 limit = { 0, 0 };
	char		 sql[64], err[TR_ERRLEN];
	int		 secs;

	if (argc != 3 || (secs = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: pgprobe URL SECONDS\n");
		return 2;
	}
	t0 = monotonic_ms();
	if ((base = event_base_new()) == NULL ||
	    (pool = pgpool_new(base, argv[1], 2, (secs + 10) * 1000LL, NULL,
	    NULL)) == NULL) {
		fprintf(stderr, "pgprobe: cannot make the pool\n");
		return 1;
	}
	snprintf(sql, sizeof(sql), "SELECT pg_sleep(%d)", secs);
	if (pgpool_exec(pool, PGPOOL_WRITE, sql, 0, NULL, answered, "write",
	    err, sizeof(err)) == NULL ||
	    pgpool_exec(pool, PGPOOL_READ, "SELECT 1", 0, NULL, answered,
	    "read", err, sizeof(err)) == NULL) {
		fprintf(stderr, "pgprobe: %s\n", err);
		return 1;
	}
	limit.tv_sec = secs + 10;
	event_base_loopexit(base, &limit);
	event_base_dispatch(base);
	pgpool_free(pool);
	event_base_free(base);
	return left == 0 ? 0 : 1;
}
