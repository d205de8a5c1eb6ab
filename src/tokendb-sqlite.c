/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The SQLite engine of the token database, behind the table of
 * tokendb-engine.h.  A row is one token: its id in clear, the SHA-256 of
 * its secret (never the secret), the user it stands for and its limits
 * (expiry, uses left, revoked).  The file is created on first use, in WAL
 * mode so that tokenreviewctl writes while daemons read, and carries a
 * schema version that lite_migrate() brings forward.  One connection, with its
 * prepared statements, belongs to one thread.
 */

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "tokenreviewd.h"
#include "tokendb.h"
#include "tokendb-engine.h"

/*
 * Map up to this much of the file: a lookup then reads pages from memory
 * instead of with a system call per page.
 */
#define LITE_MMAP		"268435456"

/*
 * Migrations, in order: lite_migrations[i] takes the schema from version
 * i to i + 1.  Never edit one that has shipped; add the next.
 */
static const char *const lite_migrations[TOKENDB_SCHEMA_VERSION] = {
	"CREATE TABLE tokens ("
	"  id TEXT PRIMARY KEY NOT NULL,"
	"  secret_hash BLOB NOT NULL,"
	"  username TEXT NOT NULL,"
	"  uid TEXT,"
	"  groups TEXT NOT NULL DEFAULT '[]',"		/* JSON array */
	"  extra TEXT NOT NULL DEFAULT '{}',"		/* JSON {k: [v]} */
	"  description TEXT NOT NULL DEFAULT '',"
	"  usages TEXT NOT NULL DEFAULT 'authentication',"
	"  bootstrap INTEGER NOT NULL DEFAULT 0,"
	"  revoked INTEGER NOT NULL DEFAULT 0,"
	"  created INTEGER NOT NULL,"
	"  expires INTEGER,"				/* NULL: never */
	"  uses_left INTEGER,"				/* NULL: unlimited */
	"  last_used INTEGER,"
	"  use_count INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;"
	"CREATE INDEX tokens_expires ON tokens (expires)"
	"  WHERE expires IS NOT NULL;",
	/* 2: the sessions of /login, one row per token it signed. */
	"CREATE TABLE sessions ("
	"  jti TEXT PRIMARY KEY NOT NULL,"
	"  username TEXT NOT NULL,"
	"  issued INTEGER NOT NULL,"
	"  expires INTEGER NOT NULL,"
	"  client TEXT NOT NULL DEFAULT '',"
	"  revoked INTEGER NOT NULL DEFAULT 0"
	") WITHOUT ROWID;"
	"CREATE INDEX sessions_username ON sessions (username);"
	"CREATE INDEX sessions_expires ON sessions (expires);",
};

enum lite_stmt {
	LITE_GET,
	LITE_INSERT,
	LITE_REVOKE,
	LITE_DELETE,
	LITE_CONSUME,
	LITE_PRUNE,
	LITE_LIST,
	LITE_USE,
	LITE_SESS_ADD,
	LITE_SESS_GET,
	LITE_SESS_LIST,
	LITE_SESS_REVOKE,
	LITE_SESS_REVOKE_USER,
	LITE_SESS_PRUNE,
	LITE_VERSION,
	LITE_READ_BEGIN,
	LITE_READ_END,
	LITE_MAX,
};

#define LITE_COLUMNS "id, secret_hash, username, uid, groups, extra, " \
	"description, usages, bootstrap, revoked, created, expires, " \
	"uses_left, last_used, use_count"

#define LITE_SESS_COLUMNS "jti, username, issued, expires, client, revoked"

static const char *const lite_sql[LITE_MAX] = {
	"SELECT " LITE_COLUMNS " FROM tokens WHERE id = ?1",
	"INSERT INTO tokens (" LITE_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, "
	    "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
	    "ON CONFLICT (id) DO NOTHING",
	"UPDATE tokens SET revoked = 1 WHERE id = ?1",
	"DELETE FROM tokens WHERE id = ?1",
	/* The condition makes the decrement atomic: see lite_consume(). */
	"UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ?1 AND "
	    "uses_left > 0 AND revoked = 0",
	"DELETE FROM tokens WHERE expires IS NOT NULL AND expires <= ?1",
	"SELECT " LITE_COLUMNS " FROM tokens ORDER BY id",
	"UPDATE tokens SET use_count = use_count + ?2, last_used = "
	    "max(coalesce(last_used, 0), ?3) WHERE id = ?1",
	"INSERT INTO sessions (" LITE_SESS_COLUMNS ") VALUES (?1, ?2, ?3, ?4, "
	    "?5, ?6) ON CONFLICT (jti) DO NOTHING",
	"SELECT " LITE_SESS_COLUMNS " FROM sessions WHERE jti = ?1",
	/* ?1 NULL: every user's. */
	"SELECT " LITE_SESS_COLUMNS " FROM sessions WHERE ?1 IS NULL OR "
	    "username = ?1 ORDER BY issued, jti",
	"UPDATE sessions SET revoked = 1 WHERE jti = ?1 AND revoked = 0",
	"UPDATE sessions SET revoked = 1 WHERE username = ?1 AND revoked = 0",
	/* A negative LIMIT is none. */
	"DELETE FROM sessions WHERE jti IN (SELECT jti FROM sessions WHERE "
	    "expires <= ?1 LIMIT ?2)",
	/* Changes with every commit of another connection, not our own. */
	"PRAGMA data_version",
	/* Deferred: the read lock is taken by the first read. */
	"BEGIN",
	"COMMIT",
};

struct lite_conn {
	char		*path;		/* for messages */
	sqlite3		*db;
	sqlite3_stmt	*stmt[LITE_MAX];
};

static void
lite_error(struct lite_conn *c, const char *what, char *err, size_t errlen)
{
	const char	*cause = NULL;

	switch (sqlite3_extended_errcode(c->db) & 0xff) {
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		snprintf(err, errlen, "%s: %s: locked by another process",
		    what, TOKENDB_ERR_BUSY);
		return;
	case SQLITE_FULL:
		cause = TOKENDB_ERR_FULL;
		break;
	case SQLITE_READONLY:
		cause = TOKENDB_ERR_READONLY;
		break;
	case SQLITE_IOERR:
		cause = TOKENDB_ERR_IO;
		break;
	}
	if (cause != NULL)
		snprintf(err, errlen, "%s: %s (%s)", what, cause,
		    sqlite3_errmsg(c->db));
	else
		snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(c->db));
}

static int
lite_exec(struct lite_conn *c, const char *sql, const char *what, char *err,
    size_t errlen)
{
	if (sqlite3_exec(c->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		lite_error(c, what, err, errlen);
		return -1;
	}
	return 0;
}

/* The schema version, 0 for a new file; -1 on error. */
static int
lite_schema_version(struct lite_conn *c, char *err, size_t errlen)
{
	sqlite3_stmt	*st = NULL;
	int		 v = -1, rc;

	if (sqlite3_prepare_v2(c->db, "SELECT count(*) FROM sqlite_master "
	    "WHERE name = 'schema_version'", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto fail;
	if (sqlite3_column_int(st, 0) == 0) {
		v = 0;
		goto out;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(c->db, "SELECT version FROM schema_version",
	    -1, &st, NULL) != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	else if (rc == SQLITE_DONE)
		v = 0;
	else
		goto fail;
	goto out;
fail:
	lite_error(c, "reading the schema version", err, errlen);
out:
	sqlite3_finalize(st);
	return v;
}

/*
 * Bring the schema to TOKENDB_SCHEMA_VERSION in one write transaction, so
 * that two processes opening a new file at once do not both create it.  A
 * file already up to date is only read: opening it never waits for the
 * write lock, which a long import may hold.
 */
static int
lite_schema_migrate(struct lite_conn *c, int flags, char *err,
    size_t errlen)
{
	char	 sql[64];
	int	 v, r = -1;

	if ((v = lite_schema_version(c, err, errlen)) < 0)
		return -1;
	if (v == TOKENDB_SCHEMA_VERSION)
		return 0;
	if (lite_exec(c, "BEGIN IMMEDIATE", "opening", err, errlen) != 0)
		return -1;
	if ((v = lite_schema_version(c, err, errlen)) < 0)
		goto out;
	if (v > TOKENDB_SCHEMA_VERSION) {
		snprintf(err, errlen, "schema version %d is newer than this "
		    "program knows (%d)", v, TOKENDB_SCHEMA_VERSION);
		goto out;
	}
	if (v == 0 && !(flags & TOKENDB_CREATE)) {
		snprintf(err, errlen, "not a token database (no schema)");
		goto out;
	}
	if (v == 0 && lite_exec(c, "CREATE TABLE schema_version (version "
	    "INTEGER NOT NULL); INSERT INTO schema_version VALUES (0)",
	    "creating the schema", err, errlen) != 0)
		goto out;
	for (; v < TOKENDB_SCHEMA_VERSION; v++) {
		if (lite_exec(c, lite_migrations[v], "migrating the schema",
		    err, errlen) != 0)
			goto out;
	}
	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d",
	    TOKENDB_SCHEMA_VERSION);
	if (lite_exec(c, sql, "migrating the schema", err, errlen) != 0)
		goto out;
	r = 0;
out:
	if (r == 0 && lite_exec(c, "COMMIT", "opening", err, errlen) != 0)
		r = -1;
	if (r != 0)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

static void
lite_close(void *arg)
{
	struct lite_conn	*c = arg;
	size_t			 i;

	if (c == NULL)
		return;
	for (i = 0; i < LITE_MAX; i++)
		sqlite3_finalize(c->stmt[i]);
	sqlite3_close(c->db);
	free(c->path);
	free(c);
}

/*
 * Before the library's first use in the process: no memory statistics.
 * They cost a global mutex around every allocation SQLite makes, a dozen
 * on each lookup, which the workers would take in turn; nothing here
 * reads them.  Fails harmlessly when SQLite was already initialised.
 */
static void
lite_global_init(void)
{
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
}

static void *
lite_open(const char *path, int flags, long long busy_ms, char *err,
    size_t errlen)
{
	static pthread_once_t	 once = PTHREAD_ONCE_INIT;
	struct lite_conn	*c;
	char			 why[TR_ERRLEN];
	int			 oflags = SQLITE_OPEN_READWRITE |
				    SQLITE_OPEN_NOMUTEX;

	pthread_once(&once, lite_global_init);
	c = xcalloc(1, sizeof(*c));
	c->path = xstrdup(path);
	if (flags & TOKENDB_CREATE)
		oflags |= SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &c->db, oflags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, c->db != NULL ?
		    sqlite3_errmsg(c->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(c->db, (int)busy_ms);
	sqlite3_extended_result_codes(c->db, 1);
	/*
	 * WAL: readers never wait for the writer.  synchronous=NORMAL is
	 * durable across process crashes; only a power loss may forget the
	 * last usage counts.
	 */
	if (lite_exec(c, "PRAGMA journal_mode = WAL; PRAGMA synchronous = "
	    "NORMAL; PRAGMA mmap_size = " LITE_MMAP, "opening", why,
	    sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto fail;
	}
	return c;
fail:
	lite_close(c);
	return NULL;
}

static int
lite_migrate(void *arg, int flags, char *err, size_t errlen)
{
	struct lite_conn	*c = arg;
	char			 why[TR_ERRLEN];

	if (lite_schema_migrate(c, flags, why, sizeof(why)) == 0)
		return 0;
	snprintf(err, errlen, "%s: %s", c->path, why);
	return -1;
}

/* Give a file this process made (not a symbolic link) to uid:gid. */
static int
lite_chown_made(const char *path, const char *suffix, uid_t uid, gid_t gid,
    char *err, size_t errlen)
{
	char	name[4096];

	snprintf(name, sizeof(name), "%s%s", path, suffix);
	if (lchown(name, uid, gid) == 0 || errno == ENOENT)
		return 0;
	snprintf(err, errlen, "%s: chown: %s", name, strerror(errno));
	return -1;
}

/*
 * Make the missing file ourselves (O_EXCL: we know it is ours), mode
 * 0600, owned by uid:gid unless uid is -1.  1 if made, 0 if it existed.
 */
static int
lite_create_file(const char *path, uid_t uid, gid_t gid, char *err,
    size_t errlen)
{
	int	fd;

	if ((fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0600)) == -1) {
		if (errno == EEXIST)
			return 0;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (uid != (uid_t)-1 && fchown(fd, uid, gid) == -1) {
		snprintf(err, errlen, "%s: chown: %s", path, strerror(errno));
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 1;
}

/* The owner of a new file: uid -1 when it stays ours. */
static int
lite_owner(const char *path, const char *owner, uid_t *uid, gid_t *gid,
    char *err, size_t errlen)
{
	struct passwd	*pw;

	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (owner == NULL || geteuid() != 0)
		return 0;
	if ((pw = getpwnam(owner)) == NULL) {
		snprintf(err, errlen, "%s: no such user %s (the owner of a "
		    "new file)", path, owner);
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static void *
lite_create(const char *path, const char *owner, long long busy_ms,
    int *created, char *err, size_t errlen)
{
	struct lite_conn	*c;
	uid_t			 uid;
	gid_t			 gid;

	*created = 0;
	if (lite_owner(path, owner, &uid, &gid, err, errlen) != 0)
		return NULL;
	if ((*created = lite_create_file(path, uid, gid, err, errlen)) < 0) {
		*created = 0;
		return NULL;
	}
	if ((c = lite_open(path, TOKENDB_CREATE, busy_ms, err,
	    errlen)) == NULL)
		return NULL;
	if (lite_migrate(c, TOKENDB_CREATE, err, errlen) != 0) {
		lite_close(c);
		return NULL;
	}
	if (!*created || uid == (uid_t)-1)
		return c;
	/* SQLite gives them the file's owner too; make sure of it. */
	if (lite_chown_made(path, "-wal", uid, gid, err, errlen) != 0 ||
	    lite_chown_made(path, "-shm", uid, gid, err, errlen) != 0) {
		lite_close(c);
		return NULL;
	}
	return c;
}

/* The prepared statement, reset and ready to bind; NULL on error. */
static sqlite3_stmt *
lite_stmt(struct lite_conn *c, enum lite_stmt which, char *err,
    size_t errlen)
{
	if (c->stmt[which] == NULL && sqlite3_prepare_v2(c->db,
	    lite_sql[which], -1, &c->stmt[which], NULL) != SQLITE_OK) {
		lite_error(c, "preparing a statement", err, errlen);
		return NULL;
	}
	sqlite3_reset(c->stmt[which]);
	sqlite3_clear_bindings(c->stmt[which]);
	return c->stmt[which];
}

/* ------------------------------------------------------------ rows */

static const char *
lite_col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* A copy of column i, or of none (if not NULL) when it is NULL. */
static char *
lite_col_strdup(sqlite3_stmt *st, int i, const char *none)
{
	const char	*s = lite_col_text(st, i);

	if (s == NULL)
		s = none;
	return s == NULL ? NULL : xstrdup(s);
}

static void
lite_read_row(sqlite3_stmt *st, struct tokendb_token *tok)
{
	const void	*h;

	memset(tok, 0, sizeof(*tok));
	strlcpy(tok->id, lite_col_text(st, 0) ? lite_col_text(st, 0) : "",
	    sizeof(tok->id));
	h = sqlite3_column_blob(st, 1);
	/* A hash of another size never matches: it stays all zero. */
	if (h != NULL && sqlite3_column_bytes(st, 1) == TR_SHA256_LEN)
		memcpy(tok->secret_hash, h, TR_SHA256_LEN);
	tok->username = lite_col_strdup(st, 2, "");
	tok->uid = lite_col_strdup(st, 3, NULL);
	tokendb_token_set_json(tok, lite_col_text(st, 4),
	    lite_col_text(st, 5));
	tok->description = lite_col_strdup(st, 6, "");
	tok->usages = lite_col_strdup(st, 7, "");
	tok->bootstrap = sqlite3_column_int(st, 8);
	tok->revoked = sqlite3_column_int(st, 9);
	tok->created = sqlite3_column_int64(st, 10);
	tok->expires = sqlite3_column_int64(st, 11);
	tok->uses_left = sqlite3_column_type(st, 12) == SQLITE_NULL ? -1 :
	    sqlite3_column_int64(st, 12);
	tok->last_used = sqlite3_column_int64(st, 13);
	tok->use_count = sqlite3_column_int64(st, 14);
}

static int
lite_get(void *arg, const char *id, struct tokendb_token *tok,
    char *err, size_t errlen)
{
	struct lite_conn	*c = arg;
	sqlite3_stmt		*st;
	int			 rc, r = -1;

	memset(tok, 0, sizeof(*tok));
	if ((st = lite_stmt(c, LITE_GET, err, errlen)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		lite_read_row(st, tok);
		r = 1;
	} else if (rc == SQLITE_DONE)
		r = 0;
	else
		lite_error(c, "looking up a token", err, errlen);
	sqlite3_reset(st);
	return r;
}

/*
 * What another connection committed last, as of the read transaction this
 * runs in: its own, unless lite_read_begin() opened one.
 */
static long long
lite_data_version(void *arg, char *err, size_t errlen)
{
	struct lite_conn	*c = arg;
	sqlite3_stmt		*st;
	long long		 v = -1;

	if ((st = lite_stmt(c, LITE_VERSION, err, errlen)) == NULL)
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	else
		lite_error(c, "reading the data version", err, errlen);
	sqlite3_reset(st);
	return v;
}

static int
lite_read_begin(void *arg, char *err, size_t errlen)
{
	struct lite_conn	*c = arg;
	sqlite3_stmt		*st;
	int			 r = 0;

	if ((st = lite_stmt(c, LITE_READ_BEGIN, err, errlen)) == NULL)
		return -1;
	if (sqlite3_step(st) != SQLITE_DONE) {
		lite_error(c, "starting a read", err, errlen);
		r = -1;
	}
	sqlite3_reset(st);
	return r;
}

/* A read-only transaction commits nothing: this only drops its lock. */
static void
lite_read_end(void *arg)
{
	struct lite_conn	*c = arg;
	sqlite3_stmt		*st;
	char			 err[TR_ERRLEN];

	if (sqlite3_get_autocommit(c->db))
		return;
	if ((st = lite_stmt(c, LITE_READ_END, err, sizeof(err))) != NULL) {
		sqlite3_step(st);
		sqlite3_reset(st);
	}
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
}

static void
lite_bind_optional(sqlite3_stmt *st, int i, long long v, long long none)
{
	if (v == none)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

static int
lite_insert(void *arg, const struct tokendb_token *tok,
    char *err, size_t errlen)
{
	struct lite_conn	*c = arg;
	sqlite3_stmt		*st;
	char			*groups, *extra;
	int			 r = -1;

	if ((st = lite_stmt(c, LITE_INSERT, err, errlen)) == NULL)
		return -1;
	groups = tokendb_groups_json(tok);
	extra = tokendb_extra_json(tok);
	sqlite3_bind_text(st, 1, tok->id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 2, tok->secret_hash, TR_SHA256_LEN,
	    SQLITE_STATIC);
	sqlite3_bind_text(st, 3, tok->username, -1, SQLITE_STATIC);
	if (tok->uid != NULL)
		sqlite3_bind_text(st, 4, tok->uid, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, groups, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, extra, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, tok->description ? tok->description : "",
	    -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, tok->usages ? tok->usages : "authentication",
	    -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 9, tok->bootstrap);
	sqlite3_bind_int(st, 10, tok->revoked);
	sqlite3_bind_int64(st, 11, tok->created);
	lite_bind_optional(st, 12, tok->expires, 0);
	lite_bind_optional(st, 13, tok->uses_left, -1);
	lite_bind_optional(st, 14, tok->last_used, 0);
	sqlite3_bind_int64(st, 15, tok->use_count);
	if (sqlite3_step(st) == SQLITE_DONE)
		r = sqlite3_changes(c->db) == 1;
	else
		lite_error(c, "adding a token", err, errlen);
	sqlite3_reset(st);
	free(groups);
	free(extra);
	return r;
}

static int
lite_insert_many(void *arg, const struct tokendb_token *toks,
    size_t n, size_t *failed, char *err, size_t errlen)
{
	struct lite_conn	*c = arg;
	size_t			 i;
	int			 r;

	for (i = 0; i < n; i++) {
		if ((r = lite_insert(c, &toks[i], err, errlen)) != 1) {
			*failed = i;
			return r;
		}
	}
	return 1;
}

/* Run a statement that takes the id as ?1: 1 if a row changed. */
static int
lite_by_id(struct lite_conn *c, enum lite_stmt which, const char *id,
    const char *what, char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	int		 r = -1;

	if ((st = lite_stmt(c, which, err, errlen)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		r = sqlite3_changes(c->db) > 0;
	else
		lite_error(c, what, err, errlen);
	sqlite3_reset(st);
	return r;
}

static int
lite_revoke(void *arg, const char *id, char *err, size_t errlen)
{
	return lite_by_id(arg, LITE_REVOKE, id, "revoking a token", err,
	    errlen);
}

static int
lite_delete(void *arg, const char *id, char *err, size_t errlen)
{
	return lite_by_id(arg, LITE_DELETE, id, "deleting a token", err,
	    errlen);
}

/*
 * One statement checks and decrements: SQLite runs it under the database
 * write lock, so of N concurrent reviews of a one-use token, in any number
 * of processes, exactly one sees a changed row.
 */
static int
lite_consume(void *arg, const char *id, char *err, size_t errlen)
{
	return lite_by_id(arg, LITE_CONSUME, id, "using a token", err, errlen);
}

static long long
lite_prune(void *arg, long long now, char *err, size_t errlen)
{
	struct lite_conn	*c = arg;
	sqlite3_stmt		*st;
	long long		 r = -1;

	if ((st = lite_stmt(c, LITE_PRUNE, err, errlen)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) == SQLITE_DONE)
		r = sqlite3_changes(c->db);
	else
		lite_error(c, "pruning tokens", err, errlen);
	sqlite3_reset(st);
	return r;
}

static int
lite_list(void *conn, int (*cb)(const struct tokendb_token *, void *),
    void *arg, char *err, size_t errlen)
{
	struct lite_conn	*c = conn;
	struct tokendb_token	 tok;
	sqlite3_stmt		*st;
	int			 rc, r = -1;

	if ((st = lite_stmt(c, LITE_LIST, err, errlen)) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		lite_read_row(st, &tok);
		rc = cb(&tok, arg);
		tokendb_token_clear(&tok);
		if (rc == -1)
			break;
	}
	if (rc == SQLITE_DONE || rc == -1)
		r = 0;
	else
		lite_error(c, "listing tokens", err, errlen);
	sqlite3_reset(st);
	return r;
}

static int
lite_begin(void *arg, char *err, size_t errlen)
{
	return lite_exec(arg, "BEGIN IMMEDIATE", "starting a transaction", err,
	    errlen);
}

static int
lite_commit(void *arg, int ok, char *err, size_t errlen)
{
	struct lite_conn	*c = arg;

	if (ok && lite_exec(c, "COMMIT", "committing", err, errlen) == 0)
		return 0;
	/* A failed COMMIT may leave the transaction, and the lock, open. */
	if (!sqlite3_get_autocommit(c->db))
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return ok ? -1 : 0;
}

static int
lite_record_uses(void *arg, const struct tokendb_use *uses,
    size_t n, char *err, size_t errlen)
{
	struct lite_conn	*c = arg;
	sqlite3_stmt		*st;
	size_t			 i;
	int			 ok = 1;

	if (lite_begin(c, err, errlen) != 0)
		return -1;
	for (i = 0; i < n && ok; i++) {
		if (uses[i].count == 0)
			continue;	/* an empty slot */
		if ((st = lite_stmt(c, LITE_USE, err, errlen)) == NULL) {
			ok = 0;
			break;
		}
		sqlite3_bind_text(st, 1, uses[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, uses[i].count);
		sqlite3_bind_int64(st, 3, uses[i].last_used);
		if (sqlite3_step(st) != SQLITE_DONE) {
			lite_error(c, "recording token use", err, errlen);
			ok = 0;
		}
		sqlite3_reset(st);
	}
	if (lite_commit(c, ok, err, errlen) != 0)
		ok = 0;
	return ok ? 1 : -1;
}

/* ------------------------------------------------------------ sessions */

static int
lite_session_add(void *arg, const struct tokendb_session *sess, char *err,
    size_t errlen)
{
	struct lite_conn	*c = arg;
	sqlite3_stmt		*st;
	int			 r = -1;

	if ((st = lite_stmt(c, LITE_SESS_ADD, err, errlen)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, sess->jti, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sess->username, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, sess->issued);
	sqlite3_bind_int64(st, 4, sess->expires);
	sqlite3_bind_text(st, 5, sess->client != NULL ? sess->client : "", -1,
	    SQLITE_STATIC);
	sqlite3_bind_int(st, 6, sess->revoked != 0);
	if (sqlite3_step(st) == SQLITE_DONE)
		r = sqlite3_changes(c->db) == 1;
	else
		lite_error(c, "adding a session", err, errlen);
	sqlite3_reset(st);
	return r;
}

/* The columns of LITE_SESS_COLUMNS, borrowed from the statement. */
static void
lite_session_row(sqlite3_stmt *st, struct tokendb_session *sess)
{
	sess->jti = (char *)lite_col_text(st, 0);
	sess->username = (char *)lite_col_text(st, 1);
	sess->issued = sqlite3_column_int64(st, 2);
	sess->expires = sqlite3_column_int64(st, 3);
	sess->client = (char *)lite_col_text(st, 4);
	sess->revoked = sqlite3_column_int(st, 5);
}

static int
lite_session_get(void *arg, const char *jti, struct tokendb_session *sess,
    char *err, size_t errlen)
{
	struct lite_conn	*c = arg;
	struct tokendb_session	 row;
	sqlite3_stmt		*st;
	int			 rc, r = -1;

	memset(sess, 0, sizeof(*sess));
	if ((st = lite_stmt(c, LITE_SESS_GET, err, errlen)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, jti, -1, SQLITE_STATIC);
	if ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		lite_session_row(st, &row);
		*sess = row;
		sess->jti = xstrdup(row.jti != NULL ? row.jti : "");
		sess->username = xstrdup(row.username != NULL ?
		    row.username : "");
		sess->client = xstrdup(row.client != NULL ? row.client : "");
		r = 1;
	} else if (rc == SQLITE_DONE)
		r = 0;
	else
		lite_error(c, "looking up a session", err, errlen);
	sqlite3_reset(st);
	return r;
}

static int
lite_session_list(void *conn, const char *user,
    int (*cb)(const struct tokendb_session *, void *), void *arg,
    char *err, size_t errlen)
{
	struct lite_conn	*c = conn;
	struct tokendb_session	 row;
	sqlite3_stmt		*st;
	int			 rc;

	if ((st = lite_stmt(c, LITE_SESS_LIST, err, errlen)) == NULL)
		return -1;
	if (user != NULL)
		sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		lite_session_row(st, &row);
		if (row.jti == NULL || row.username == NULL)
			continue;
		if ((rc = cb(&row, arg)) == -1)
			break;
	}
	if (rc != SQLITE_DONE && rc != -1)
		lite_error(c, "listing sessions", err, errlen);
	sqlite3_reset(st);
	return rc == SQLITE_DONE || rc == -1 ? 0 : -1;
}

/* Run a statement that takes a text as ?1: the rows it changed, or -1. */
static int
lite_changes(struct lite_conn *c, enum lite_stmt which, const char *text,
    const char *what, char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	int		 r = -1;

	if ((st = lite_stmt(c, which, err, errlen)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, text, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		r = sqlite3_changes(c->db);
	else
		lite_error(c, what, err, errlen);
	sqlite3_reset(st);
	return r;
}

static int
lite_session_revoke(void *arg, const char *jti, const char *user, char *err,
    size_t errlen)
{
	if (jti != NULL)
		return lite_changes(arg, LITE_SESS_REVOKE, jti,
		    "revoking a session", err, errlen);
	return lite_changes(arg, LITE_SESS_REVOKE_USER, user,
	    "revoking sessions", err, errlen);
}

static int
lite_session_prune(void *arg, int64_t now, int limit, char *err,
    size_t errlen)
{
	struct lite_conn	*c = arg;
	sqlite3_stmt		*st;
	int			 r = -1;

	if ((st = lite_stmt(c, LITE_SESS_PRUNE, err, errlen)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, limit > 0 ? limit : -1);
	if (sqlite3_step(st) == SQLITE_DONE)
		r = sqlite3_changes(c->db);
	else
		lite_error(c, "pruning sessions", err, errlen);
	sqlite3_reset(st);
	return r;
}

const struct tokendb_engine tokendb_sqlite_engine = {
	.name = "sqlite",
	.prefixes = NULL,
	.open = lite_open,
	.migrate = lite_migrate,
	.create = lite_create,
	.close = lite_close,
	.get = lite_get,
	.insert = lite_insert,
	.insert_many = lite_insert_many,
	.revoke = lite_revoke,
	.delete = lite_delete,
	.consume = lite_consume,
	.prune = lite_prune,
	.list = lite_list,
	.record_uses = lite_record_uses,
	.session_add = lite_session_add,
	.session_get = lite_session_get,
	.session_list = lite_session_list,
	.session_revoke = lite_session_revoke,
	.session_prune = lite_session_prune,
	.begin = lite_begin,
	.commit = lite_commit,
	.data_version = lite_data_version,
	.read_begin = lite_read_begin,
	.read_end = lite_read_end,
};
