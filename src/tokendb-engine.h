/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The interface between the token database's dispatcher (tokendb.c) and
 * its storage engines (tokendb-sqlite.c, tokendb-pg.c): one const table of
 * operations per engine, on a connection the engine owns.  The dispatcher
 * picks the engine from the path or URL and only forwards; an engine never
 * calls the dispatcher or another engine, and shares only the pure rules
 * of tokendb-rules.c.  Private to those files and their unit test.
 */

#ifndef TOKENDB_ENGINE_H
#define TOKENDB_ENGINE_H

/*
 * Every operation but open and create takes the connection they returned;
 * the results are those of the tokendb_*() call of the same name.
 */
struct tokendb_engine {
	const char	 *name;
	/* Locations the engine claims by prefix; NULL: the default, files. */
	const char *const *prefixes;
	/* Connect or open, without touching the schema; NULL and err set. */
	void		*(*open)(const char *path, int flags, long long busy_ms,
			    char *err, size_t errlen);
	/* Bring the schema to TOKENDB_SCHEMA_VERSION (TOKENDB_CREATE). */
	int		 (*migrate)(void *, int flags, char *err,
			    size_t errlen);
	/* open and migrate for a daemon's database: see tokendb_create(). */
	void		*(*create)(const char *path, const char *owner,
			    long long busy_ms, int *created, char *err,
			    size_t errlen);
	void		 (*close)(void *);
	int		 (*get)(void *, const char *id, struct tokendb_token *,
			    char *err, size_t errlen);
	int		 (*insert)(void *, const struct tokendb_token *,
			    char *err, size_t errlen);
	int		 (*insert_many)(void *, const struct tokendb_token *,
			    size_t n, size_t *failed, char *err,
			    size_t errlen);
	int		 (*revoke)(void *, const char *id, char *err,
			    size_t errlen);
	int		 (*delete)(void *, const char *id, char *err,
			    size_t errlen);
	int		 (*consume)(void *, const char *id, char *err,
			    size_t errlen);
	long long	 (*prune)(void *, long long now, char *err,
			    size_t errlen);
	int		 (*list)(void *,
			    int (*)(const struct tokendb_token *, void *),
			    void *arg, char *err, size_t errlen);
	int		 (*record_uses)(void *, const struct tokendb_use *,
			    size_t n, char *err, size_t errlen);
	int		 (*session_add)(void *,
			    const struct tokendb_session *, char *err,
			    size_t errlen);
	int		 (*session_get)(void *, const char *jti,
			    struct tokendb_session *, char *err,
			    size_t errlen);
	/* Call cb for the sessions of user (NULL: all) by issue time. */
	int		 (*session_list)(void *, const char *user,
			    int (*cb)(const struct tokendb_session *, void *),
			    void *arg, char *err, size_t errlen);
	/* Revoke the session jti, or every one of user when jti is NULL. */
	int		 (*session_revoke)(void *, const char *jti,
			    const char *user, char *err, size_t errlen);
	/* At most limit rows (0: all) expired before now. */
	int		 (*session_prune)(void *, int64_t now, int limit,
			    char *err, size_t errlen);
	int		 (*begin)(void *, char *err, size_t errlen);
	/*
	 * A number that changes whenever another connection commits; NULL
	 * when the engine has none.  As tokendb_data_version().
	 */
	long long	 (*data_version)(void *, char *err, size_t errlen);
	int		 (*commit)(void *, int ok, char *err, size_t errlen);
	/* As tokendb_read_begin() and _end(); NULL: reads need none. */
	int		 (*read_begin)(void *, char *err, size_t errlen);
	void		 (*read_end)(void *);
};

/* tokendb.c */
/* The engine that holds the database at path (a file path or a URL). */
const struct tokendb_engine *tokendb_engine_find(const char *path);

/* tokendb-sqlite.c */
extern const struct tokendb_engine tokendb_sqlite_engine;

/* tokendb-pg.c */
extern const struct tokendb_engine tokendb_pg_engine;

#endif /* TOKENDB_ENGINE_H */
