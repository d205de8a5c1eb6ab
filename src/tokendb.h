/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The storage API of the token database, for the daemon's tokendb source,
 * tokenreviewctl and the tests: the rows, the calls on an open database
 * (whichever engine holds it: tokendb.c picks it from the path or URL),
 * the rules of the token shape and the import of a token file.  Include
 * after tokenreviewd.h.
 */

#ifndef TOKENDB_H
#define TOKENDB_H

#define TOKENDB_ID_LEN		6
#define TOKENDB_SECRET_LEN	16
#define TOKENDB_TOKEN_LEN	(TOKENDB_ID_LEN + 1 + TOKENDB_SECRET_LEN)
#define TOKENDB_SCHEMA_VERSION	2
#define TOKENDB_JTI_MAX		128	/* longest session id accepted */

/*
 * One row of the token database.  Strings and arrays are owned by the
 * struct and released by tokendb_token_clear().  groups and extra_keys are
 * NULL-terminated; extra_values[i] (NULL-terminated) pairs with
 * extra_keys[i].  Times are Unix seconds.
 */
struct tokendb_token {
	char		  id[TOKENDB_ID_LEN + 1];
	uint8_t		  secret_hash[TR_SHA256_LEN];
	char		 *username;
	char		 *uid;		/* NULL: none */
	char		**groups;
	char		**extra_keys;
	char		***extra_values;
	char		 *description;
	char		 *usages;	/* "authentication,signing" */
	int		  bootstrap;
	int		  revoked;
	long long	  created;
	long long	  expires;	/* 0: never */
	long long	  uses_left;	/* -1: unlimited */
	long long	  last_used;	/* 0: never */
	long long	  use_count;
};

/* Uses of one token not yet written to the database. */
struct tokendb_use {
	char		 id[TOKENDB_ID_LEN + 1];
	long long	 count;
	long long	 last_used;
};

/*
 * One login session (a row of the sessions table): the jti of the token
 * /login signed, who logged in, when, from where, and whether it was
 * revoked.  Times are Unix seconds.  Strings are owned by the struct when
 * it comes from tokendb_session_get() or tokendb_session_list().
 */
struct tokendb_session {
	char		*jti;
	char		*username;
	int64_t		 issued, expires;
	char		*client;
	int		 revoked;
};

/* tokendb.c */
struct tokendb;
#define TOKENDB_CREATE	0x1	/* create the file and schema if missing */
/* 1 for a postgresql:// or postgres:// URL. */
int		 tokendb_is_url(const char *);
/*
 * Open (and migrate) the SQLite database at path, or the PostgreSQL one
 * when path is a postgresql:// URL.  busy_ms bounds how long a call waits
 * for a lock held by another connection (PostgreSQL: to connect).  NULL
 * and err set on failure.  One connection belongs to one thread.
 */
struct tokendb	*tokendb_open(const char *path, int flags, long long busy_ms,
		    char *err, size_t errlen);
void		 tokendb_close(struct tokendb *);
/*
 * tokendb_open() with TOKENDB_CREATE for a daemon's database: a SQLite
 * file that is missing is made mode 0600 and, when running as root with
 * owner set (the [server] user), given to owner with its -wal and -shm,
 * so that the daemon may write after dropping privileges.  An existing
 * file keeps its owner.  *created says whether the file was made here.
 */
struct tokendb	*tokendb_create(const char *path, const char *owner,
		    long long busy_ms, int *created, char *err,
		    size_t errlen);
/*
 * The calls below return 1 when done (found), 0 when the id is unknown
 * (or, for insert, already taken) and -1 with err set on a database error.
 */
int		 tokendb_get(struct tokendb *, const char *id,
		    struct tokendb_token *, char *err, size_t errlen);
int		 tokendb_insert(struct tokendb *, const struct tokendb_token *,
		    char *err, size_t errlen);
/*
 * tokendb_insert() of toks[0 .. n - 1] in order, inside tokendb_begin()
 * (import): 1 when all were added, 0 when toks[*failed] was not because
 * its id is taken (also by an earlier row of toks), -1 with err set on a
 * database error.  Rows after a failed one may have been added: the
 * caller rolls back.
 */
int		 tokendb_insert_many(struct tokendb *,
		    const struct tokendb_token *toks, size_t n, size_t *failed,
		    char *err, size_t errlen);
int		 tokendb_revoke(struct tokendb *, const char *id, char *err,
		    size_t errlen);
int		 tokendb_delete(struct tokendb *, const char *id, char *err,
		    size_t errlen);
/* Take one use of a usage-limited token, atomically across processes. */
int		 tokendb_consume(struct tokendb *, const char *id, char *err,
		    size_t errlen);
/*
 * A number that changes whenever another connection, in this process or
 * another, commits to the database; this connection's own writes may not
 * change it.  Rows read while it keeps its value are still current.  -1
 * on error or when the engine cannot tell (err empty then).
 */
long long	 tokendb_data_version(struct tokendb *, char *err,
		    size_t errlen);
/*
 * One read transaction around the reads up to tokendb_read_end(), which
 * must come before any write: they see one state of the database and
 * take its read lock once, not once each.  A no-op for an engine whose
 * reads need none.
 */
int		 tokendb_read_begin(struct tokendb *, char *err,
		    size_t errlen);
void		 tokendb_read_end(struct tokendb *);
/* Rows expired at now deleted: their count, or -1. */
long long	 tokendb_prune(struct tokendb *, long long now, char *err,
		    size_t errlen);
/* Call cb for every row in id order; stops early when cb returns -1. */
int		 tokendb_list(struct tokendb *,
		    int (*cb)(const struct tokendb_token *, void *), void *arg,
		    char *err, size_t errlen);
/* Add counts and last-used times of a batch, in one transaction; entries
   with a zero count are skipped. */
int		 tokendb_record_uses(struct tokendb *,
		    const struct tokendb_use *, size_t n, char *err,
		    size_t errlen);
/*
 * Sessions.  add: 1, 0 when the jti is taken, -1.  get: 1 found, 0 not, -1
 * (release with tokendb_session_clear()).  list: the rows of user (NULL:
 * all) by issue time into *out, freed with tokendb_sessions_free().
 * revoke, revoke_user: the sessions ended (rows not yet revoked), or -1.
 * prune: rows expired before now deleted, or -1; prune_some deletes at
 * most limit of them (for the daemon: bounded work per pass).
 */
int		 tokendb_session_add(struct tokendb *,
		    const struct tokendb_session *, char *err, size_t errlen);
int		 tokendb_session_get(struct tokendb *, const char *jti,
		    struct tokendb_session *, char *err, size_t errlen);
int		 tokendb_session_list(struct tokendb *, const char *user,
		    struct tokendb_session **out, size_t *n, char *err,
		    size_t errlen);
void		 tokendb_session_clear(struct tokendb_session *);
void		 tokendb_sessions_free(struct tokendb_session *, size_t n);
int		 tokendb_session_revoke(struct tokendb *, const char *jti,
		    char *err, size_t errlen);
int		 tokendb_session_revoke_user(struct tokendb *,
		    const char *user, char *err, size_t errlen);
int		 tokendb_session_prune(struct tokendb *, int64_t now,
		    char *err, size_t errlen);
int		 tokendb_session_prune_some(struct tokendb *, int64_t now,
		    int limit, char *err, size_t errlen);
/* 1 for a session id of 1 to TOKENDB_JTI_MAX base64url characters. */
int		 tokendb_valid_jti(const char *);
/* One write transaction around several calls: all or nothing (import). */
int		 tokendb_begin(struct tokendb *, char *err, size_t errlen);
int		 tokendb_commit(struct tokendb *, int ok, char *err,
		    size_t errlen);

/* tokendb-rules.c */
/*
 * Why a call failed, as a review's status.error may say it: err of a
 * failed call holds one of these when the engine said so (SQLite's
 * result code, PostgreSQL's SQLSTATE), followed by the engine's message.
 */
#define TOKENDB_ERR_FULL	"token database cannot write: disk full"
#define TOKENDB_ERR_READONLY	"token database cannot write: read-only"
#define TOKENDB_ERR_IO		"token database I/O error"
#define TOKENDB_ERR_BUSY	"token database busy"
/* The TOKENDB_ERR_ cause named in err, or NULL. */
const char	*tokendb_error_cause(const char *err);
void		 tokendb_token_clear(struct tokendb_token *);
/*
 * Split a token of the exact shape [a-z0-9]{6}.[a-z0-9]{16} into id and
 * secret (NUL-terminated).  -1 for any other string.
 */
int		 tokendb_parse_token(const char *, size_t, char *id,
		    char *secret);
int		 tokendb_valid_id(const char *);
/* The SHA-256 of a secret, as a row stores it. */
void		 tokendb_hash_secret(const char *secret,
		    uint8_t hash[TR_SHA256_LEN]);
/* A new random id and secret from the OS CSPRNG.  -1 if it failed. */
int		 tokendb_generate(char *id, char *secret);
/* A token lifetime: "90s", "30m", "24h", "7d" (> 0) in seconds; -1 if bad. */
int		 tokendb_parse_ttl(const char *, long long *seconds);
/* A valid extra bootstrap group: system:bootstrappers:[a-z0-9:-]*[a-z0-9]. */
int		 tokendb_bootstrap_group(const char *);
/* 1 if the comma-separated usages list holds "authentication". */
int		 tokendb_usage_auth(const char *usages);
/*
 * 1 if the row lets in a token whose secret has the SHA-256 hash at now:
 * the right secret (compared in constant time), not revoked, expired,
 * used up or scoped to other usages.
 */
int		 tokendb_token_usable(const struct tokendb_token *,
		    const uint8_t hash[TR_SHA256_LEN], long long now);
/* groups and extra of a row from their stored JSON text, and back. */
void		 tokendb_token_set_json(struct tokendb_token *,
		    const char *groups, const char *extra);
char		*tokendb_groups_json(const struct tokendb_token *);
char		*tokendb_extra_json(const struct tokendb_token *);

/* tokendb-csv.c */
/*
 * One line of a token file to import ("token,user,uid[,groups]") as a row
 * in tok, created at now: NULL, or what is wrong with the line.  The line
 * is wiped; tok is cleared first and always left for tokendb_token_clear().
 */
const char	*tokendb_csv_parse(char *line, long long now,
		    struct tokendb_token *tok);

#endif /* TOKENDB_H */
