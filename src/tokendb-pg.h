/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * What the PostgreSQL engine (tokendb-pg.c) shares with the daemon's
 * asynchronous lookups (auth-tokendb-pg.c), which send their statements
 * through a pgpool instead of the engine's own connection: the SQL, the
 * decoding of a row, the schema check as one statement, and the words of
 * an error.  The pool (pgpool.c) words its errors with the latter.
 * Include after tokenreviewd.h.
 */

#ifndef TOKENDB_PG_H
#define TOKENDB_PG_H

struct pg_result;
struct tokendb_token;
struct tokendb_use;
struct tokendb_session;

#define TOKENDB_PG_NUMLEN	24	/* the text of an int64_t */

/* The TOKENDB_ERR_ cause a SQLSTATE means, or NULL (also for NULL). */
const char	*tokendb_pg_state_cause(const char *sqlstate);
/* Statements for the asynchronous lookups (one parameter: the id). */
extern const char *const tokendb_pg_sql_get;
extern const char *const tokendb_pg_sql_consume;
/* A batch of uses: three parameters from tokendb_pg_uses_params(). */
extern const char *const tokendb_pg_sql_uses;
int		 tokendb_pg_uses_params(const struct tokendb_use *, size_t n,
		    char *params[3]);
/*
 * The daemon's asynchronous schema check: the migration as one statement
 * (the caller frees it), then the version it left.  Load only parses the
 * URL: 0, or -1 with err set.
 */
char		*tokendb_pg_migrate_sql(void);
extern const char *const tokendb_pg_sql_version;
int		 tokendb_pg_check_url(const char *, char *err, size_t errlen);
/* Row row of a result of tokendb_pg_sql_get into tok. */
void		 tokendb_pg_row(const struct pg_result *, int row,
		    struct tokendb_token *);
/*
 * Sessions: get ($1 the jti), add (six parameters from
 * tokendb_pg_session_params()) and the daemon's bounded prune ($1 now,
 * $2 the most rows).
 */
extern const char *const tokendb_pg_sql_session_get;
extern const char *const tokendb_pg_sql_session_add;
extern const char *const tokendb_pg_sql_session_prune;
void		 tokendb_pg_session_params(const struct tokendb_session *,
		    char nums[3][TOKENDB_PG_NUMLEN], const char *v[6]);
/* Row row of a result of tokendb_pg_sql_session_get; clear it after. */
void		 tokendb_pg_session_row(const struct pg_result *, int row,
		    struct tokendb_session *);
/* err = "what: " and the first line of a libpq message. */
void		 tokendb_pg_message(const char *msg, const char *what,
		    char *err, size_t errlen);

#endif /* TOKENDB_PG_H */
