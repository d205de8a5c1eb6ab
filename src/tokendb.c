/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Storage of the token database in SQLite, shared by the daemon's tokendb
 * backend and by tokenreviewctl.  A row is one token: its id in clear, the
 * SHA-256 of its secret (never the secret), the user it stands for and its
 * limits (expiry, uses left, revoked).  The file is created on first use,
 * in WAL mode so that tokenreviewctl writes while daemons read, and carries
 * a schema version that open() migrates forward.  Also here: the pure rules
 * of the token shape, lifetimes and bootstrap groups, and the generation
 * of new tokens.
 *
 * Opened with a postgresql:// URL instead of a path, the same calls go to
 * the PostgreSQL engine in tokendb-pg.c, so that tokenreviewctl need not
 * know which engine holds the rows.
 */

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <sqlite3.h>

#include "tokenreviewd.h"

#define TOKENDB_ALPHABET	"0123456789abcdefghijklmnopqrstuvwxyz"
#define TOKENDB_MAX_TTL		(100LL * 366 * 86400)	/* 100 years */
/*
 * Map up to this much of the file: a lookup then reads pages from memory
 * instead of with a system call per page.
 */
#define TOKENDB_MMAP		"268435456"

/*
 * Migrations, in order: migrations[i] takes the schema from version i to
 * i + 1.  Never edit one that has shipped; add the next.
 */
static const char *const migrations[TOKENDB_SCHEMA_VERSION] = {
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
};

enum tokendb_stmt {
	ST_GET,
	ST_INSERT,
	ST_REVOKE,
	ST_DELETE,
	ST_CONSUME,
	ST_PRUNE,
	ST_LIST,
	ST_USE,
	ST_MAX,
};

#define ROW_COLUMNS "id, secret_hash, username, uid, groups, extra, " \
	"description, usages, bootstrap, revoked, created, expires, " \
	"uses_left, last_used, use_count"

static const char *const stmt_sql[ST_MAX] = {
	"SELECT " ROW_COLUMNS " FROM tokens WHERE id = ?1",
	"INSERT INTO tokens (" ROW_COLUMNS ") VALUES (?1, ?2, ?3, ?4, ?5, "
	    "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15) "
	    "ON CONFLICT (id) DO NOTHING",
	"UPDATE tokens SET revoked = 1 WHERE id = ?1",
	"DELETE FROM tokens WHERE id = ?1",
	/* The condition makes the decrement atomic: see tokendb_consume(). */
	"UPDATE tokens SET uses_left = uses_left - 1 WHERE id = ?1 AND "
	    "uses_left > 0 AND revoked = 0",
	"DELETE FROM tokens WHERE expires IS NOT NULL AND expires <= ?1",
	"SELECT " ROW_COLUMNS " FROM tokens ORDER BY id",
	"UPDATE tokens SET use_count = use_count + ?2, last_used = "
	    "max(coalesce(last_used, 0), ?3) WHERE id = ?1",
};

struct tokendb {
	struct tokendb_pg *pg;		/* PostgreSQL instead of the file */
	sqlite3		*db;
	sqlite3_stmt	*stmt[ST_MAX];
};

const char *
tokendb_error_cause(const char *err)
{
	static const char *const causes[] = {
		TOKENDB_ERR_FULL, TOKENDB_ERR_READONLY, TOKENDB_ERR_IO,
		TOKENDB_ERR_BUSY
	};
	size_t	i;

	for (i = 0; i < sizeof(causes) / sizeof(causes[0]); i++) {
		if (strstr(err, causes[i]) != NULL)
			return causes[i];
	}
	return NULL;
}

static void
db_error(struct tokendb *t, const char *what, char *err, size_t errlen)
{
	const char	*cause = NULL;

	switch (sqlite3_extended_errcode(t->db) & 0xff) {
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
		    sqlite3_errmsg(t->db));
	else
		snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(t->db));
}

static int
exec_sql(struct tokendb *t, const char *sql, const char *what, char *err,
    size_t errlen)
{
	if (sqlite3_exec(t->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		db_error(t, what, err, errlen);
		return -1;
	}
	return 0;
}

/* The schema version, 0 for a new file; -1 on error. */
static int
schema_version(struct tokendb *t, char *err, size_t errlen)
{
	sqlite3_stmt	*st = NULL;
	int		 v = -1, rc;

	if (sqlite3_prepare_v2(t->db, "SELECT count(*) FROM sqlite_master "
	    "WHERE name = 'schema_version'", -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto fail;
	if (sqlite3_column_int(st, 0) == 0) {
		v = 0;
		goto out;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(t->db, "SELECT version FROM schema_version",
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
	db_error(t, "reading the schema version", err, errlen);
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
migrate(struct tokendb *t, int flags, char *err, size_t errlen)
{
	char	 sql[64];
	int	 v, r = -1;

	if ((v = schema_version(t, err, errlen)) < 0)
		return -1;
	if (v == TOKENDB_SCHEMA_VERSION)
		return 0;
	if (exec_sql(t, "BEGIN IMMEDIATE", "opening", err, errlen) != 0)
		return -1;
	if ((v = schema_version(t, err, errlen)) < 0)
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
	if (v == 0 && exec_sql(t, "CREATE TABLE schema_version (version "
	    "INTEGER NOT NULL); INSERT INTO schema_version VALUES (0)",
	    "creating the schema", err, errlen) != 0)
		goto out;
	for (; v < TOKENDB_SCHEMA_VERSION; v++) {
		if (exec_sql(t, migrations[v], "migrating the schema", err,
		    errlen) != 0)
			goto out;
	}
	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d",
	    TOKENDB_SCHEMA_VERSION);
	if (exec_sql(t, sql, "migrating the schema", err, errlen) != 0)
		goto out;
	r = 0;
out:
	if (r == 0 && exec_sql(t, "COMMIT", "opening", err, errlen) != 0)
		r = -1;
	if (r != 0)
		sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
	return r;
}

struct tokendb *
tokendb_open(const char *path, int flags, long long busy_ms, char *err,
    size_t errlen)
{
	struct tokendb	*t;
	char		 why[TR_ERRLEN];
	int		 oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;

	t = xcalloc(1, sizeof(*t));
#ifdef HAVE_TOKENDB_PG
	if (tokendb_is_url(path)) {
		if ((t->pg = tokendb_pg_open(path, flags, busy_ms, err,
		    errlen)) == NULL)
			goto fail;
		return t;
	}
#endif
	if (flags & TOKENDB_CREATE)
		oflags |= SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &t->db, oflags, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", path, t->db != NULL ?
		    sqlite3_errmsg(t->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(t->db, (int)busy_ms);
	sqlite3_extended_result_codes(t->db, 1);
	/*
	 * WAL: readers never wait for the writer.  synchronous=NORMAL is
	 * durable across process crashes; only a power loss may forget the
	 * last usage counts.
	 */
	if (exec_sql(t, "PRAGMA journal_mode = WAL; PRAGMA synchronous = "
	    "NORMAL; PRAGMA mmap_size = " TOKENDB_MMAP, "opening", why,
	    sizeof(why)) != 0 || migrate(t, flags, why, sizeof(why)) != 0) {
		snprintf(err, errlen, "%s: %s", path, why);
		goto fail;
	}
	return t;
fail:
	tokendb_close(t);
	return NULL;
}

/* Give a file this process made (not a symbolic link) to uid:gid. */
static int
chown_made(const char *path, const char *suffix, uid_t uid, gid_t gid,
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
create_file(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen)
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

struct tokendb *
tokendb_create(const char *path, const char *owner, long long busy_ms,
    int *created, char *err, size_t errlen)
{
	struct tokendb	*t;
	struct passwd	*pw;
	uid_t		 uid = (uid_t)-1;
	gid_t		 gid = (gid_t)-1;

	*created = 0;
#ifdef HAVE_TOKENDB_PG
	if (tokendb_is_url(path))
		return tokendb_open(path, TOKENDB_CREATE, busy_ms, err, errlen);
#endif
	if (owner != NULL && geteuid() == 0) {
		if ((pw = getpwnam(owner)) == NULL) {
			snprintf(err, errlen, "%s: no such user %s (the owner "
			    "of a new file)", path, owner);
			return NULL;
		}
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if ((*created = create_file(path, uid, gid, err, errlen)) < 0) {
		*created = 0;
		return NULL;
	}
	if ((t = tokendb_open(path, TOKENDB_CREATE, busy_ms, err,
	    errlen)) == NULL || !*created || uid == (uid_t)-1)
		return t;
	/* SQLite gives them the file's owner too; make sure of it. */
	if (chown_made(path, "-wal", uid, gid, err, errlen) != 0 ||
	    chown_made(path, "-shm", uid, gid, err, errlen) != 0) {
		tokendb_close(t);
		return NULL;
	}
	return t;
}

void
tokendb_close(struct tokendb *t)
{
	size_t	i;

	if (t == NULL)
		return;
#ifdef HAVE_TOKENDB_PG
	tokendb_pg_close(t->pg);
#endif
	for (i = 0; i < ST_MAX; i++)
		sqlite3_finalize(t->stmt[i]);
	sqlite3_close(t->db);
	free(t);
}

/* The prepared statement, reset and ready to bind; NULL on error. */
static sqlite3_stmt *
stmt(struct tokendb *t, enum tokendb_stmt which, char *err, size_t errlen)
{
	if (t->stmt[which] == NULL && sqlite3_prepare_v2(t->db,
	    stmt_sql[which], -1, &t->stmt[which], NULL) != SQLITE_OK) {
		db_error(t, "preparing a statement", err, errlen);
		return NULL;
	}
	sqlite3_reset(t->stmt[which]);
	sqlite3_clear_bindings(t->stmt[which]);
	return t->stmt[which];
}

/* ------------------------------------------------------------ JSON fields */

static char **
json_to_list(json_t *a)
{
	char	**list;
	size_t	  i, n = 0;
	json_t	 *v;

	list = xcalloc(json_array_size(a) + 1, sizeof(*list));
	json_array_foreach(a, i, v) {
		if (json_is_string(v))
			list[n++] = xstrdup(json_string_value(v));
	}
	return list;
}

static json_t *
list_to_json(char *const *list)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; list != NULL && list[i] != NULL; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

static char *
dump(json_t *j)
{
	char	*s, *r;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("json_dumps failed");
	r = xstrdup(s);
	free(s);
	json_decref(j);
	return r;
}

static void
parse_groups(struct tokendb_token *tok, const char *text)
{
	json_t	*a;

	a = json_loads(text != NULL ? text : "[]", 0, NULL);
	if (!json_is_array(a)) {
		json_decref(a);
		a = json_array();
	}
	tok->groups = json_to_list(a);
	json_decref(a);
}

static void
parse_extra(struct tokendb_token *tok, const char *text)
{
	json_t		*o, *v;
	const char	*k;
	size_t		 n = 0;

	o = json_loads(text != NULL ? text : "{}", 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		o = json_object();
	}
	tok->extra_keys = xcalloc(json_object_size(o) + 1, sizeof(char *));
	tok->extra_values = xcalloc(json_object_size(o) + 1,
	    sizeof(char **));
	json_object_foreach(o, k, v) {
		if (!json_is_array(v))
			continue;
		tok->extra_keys[n] = xstrdup(k);
		tok->extra_values[n++] = json_to_list(v);
	}
	json_decref(o);
}

static char *
extra_json(const struct tokendb_token *tok)
{
	json_t	*o = json_object();
	size_t	 i;

	for (i = 0; tok->extra_keys != NULL && tok->extra_keys[i] != NULL; i++)
		json_object_set_new(o, tok->extra_keys[i],
		    list_to_json(tok->extra_values[i]));
	return dump(o);
}

void
tokendb_token_set_json(struct tokendb_token *tok, const char *groups,
    const char *extra)
{
	parse_groups(tok, groups);
	parse_extra(tok, extra);
}

char *
tokendb_groups_json(const struct tokendb_token *tok)
{
	return dump(list_to_json(tok->groups));
}

char *
tokendb_extra_json(const struct tokendb_token *tok)
{
	return extra_json(tok);
}

/* ------------------------------------------------------------ rows */

static const char *
col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static char *
col_strdup(sqlite3_stmt *st, int i)
{
	const char	*s = col_text(st, i);

	return s == NULL ? NULL : xstrdup(s);
}

static void
read_row(sqlite3_stmt *st, struct tokendb_token *tok)
{
	const void	*h;

	memset(tok, 0, sizeof(*tok));
	strlcpy(tok->id, col_text(st, 0) ? col_text(st, 0) : "",
	    sizeof(tok->id));
	h = sqlite3_column_blob(st, 1);
	/* A hash of another size never matches: it stays all zero. */
	if (h != NULL && sqlite3_column_bytes(st, 1) == TR_SHA256_LEN)
		memcpy(tok->secret_hash, h, TR_SHA256_LEN);
	tok->username = xstrdup(col_text(st, 2) ? col_text(st, 2) : "");
	tok->uid = col_strdup(st, 3);
	parse_groups(tok, col_text(st, 4));
	parse_extra(tok, col_text(st, 5));
	tok->description = xstrdup(col_text(st, 6) ? col_text(st, 6) : "");
	tok->usages = xstrdup(col_text(st, 7) ? col_text(st, 7) : "");
	tok->bootstrap = sqlite3_column_int(st, 8);
	tok->revoked = sqlite3_column_int(st, 9);
	tok->created = sqlite3_column_int64(st, 10);
	tok->expires = sqlite3_column_int64(st, 11);
	tok->uses_left = sqlite3_column_type(st, 12) == SQLITE_NULL ? -1 :
	    sqlite3_column_int64(st, 12);
	tok->last_used = sqlite3_column_int64(st, 13);
	tok->use_count = sqlite3_column_int64(st, 14);
}

void
tokendb_token_clear(struct tokendb_token *tok)
{
	size_t	i, j;

	free(tok->username);
	free(tok->uid);
	free_words(tok->groups);
	for (i = 0; tok->extra_keys != NULL && tok->extra_keys[i] != NULL;
	    i++) {
		free(tok->extra_keys[i]);
		for (j = 0; tok->extra_values[i][j] != NULL; j++)
			free(tok->extra_values[i][j]);
		free(tok->extra_values[i]);
	}
	free(tok->extra_keys);
	free(tok->extra_values);
	free(tok->description);
	free(tok->usages);
	OPENSSL_cleanse(tok, sizeof(*tok));
}

int
tokendb_get(struct tokendb *t, const char *id, struct tokendb_token *tok,
    char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	int		 rc, r = -1;
#ifdef HAVE_TOKENDB_PG
	if (t->pg != NULL)
		return tokendb_pg_get(t->pg, id, tok, err, errlen);
#endif

	memset(tok, 0, sizeof(*tok));
	if ((st = stmt(t, ST_GET, err, errlen)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		read_row(st, tok);
		r = 1;
	} else if (rc == SQLITE_DONE)
		r = 0;
	else
		db_error(t, "looking up a token", err, errlen);
	sqlite3_reset(st);
	return r;
}

static void
bind_optional(sqlite3_stmt *st, int i, long long v, long long none)
{
	if (v == none)
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_int64(st, i, v);
}

int
tokendb_insert(struct tokendb *t, const struct tokendb_token *tok,
    char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	char		*groups, *extra;
	int		 r = -1;
#ifdef HAVE_TOKENDB_PG
	if (t->pg != NULL)
		return tokendb_pg_insert(t->pg, tok, err, errlen);
#endif

	if ((st = stmt(t, ST_INSERT, err, errlen)) == NULL)
		return -1;
	groups = dump(list_to_json(tok->groups));
	extra = extra_json(tok);
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
	bind_optional(st, 12, tok->expires, 0);
	bind_optional(st, 13, tok->uses_left, -1);
	bind_optional(st, 14, tok->last_used, 0);
	sqlite3_bind_int64(st, 15, tok->use_count);
	if (sqlite3_step(st) == SQLITE_DONE)
		r = sqlite3_changes(t->db) == 1;
	else
		db_error(t, "adding a token", err, errlen);
	sqlite3_reset(st);
	free(groups);
	free(extra);
	return r;
}

int
tokendb_insert_many(struct tokendb *t, const struct tokendb_token *toks,
    size_t n, size_t *failed, char *err, size_t errlen)
{
	size_t	i;
	int	r;
#ifdef HAVE_TOKENDB_PG
	/* Over the network, one round trip per row would dominate. */
	if (t->pg != NULL)
		return tokendb_pg_insert_many(t->pg, toks, n, failed, err,
		    errlen);
#endif

	for (i = 0; i < n; i++) {
		if ((r = tokendb_insert(t, &toks[i], err, errlen)) != 1) {
			*failed = i;
			return r;
		}
	}
	return 1;
}

/* Run a statement that takes the id as ?1: 1 if a row changed. */
static int
by_id(struct tokendb *t, enum tokendb_stmt which, const char *id,
    const char *what, char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	int		 r = -1;

	if ((st = stmt(t, which, err, errlen)) == NULL)
		return -1;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_DONE)
		r = sqlite3_changes(t->db) > 0;
	else
		db_error(t, what, err, errlen);
	sqlite3_reset(st);
	return r;
}

int
tokendb_revoke(struct tokendb *t, const char *id, char *err, size_t errlen)
{
#ifdef HAVE_TOKENDB_PG
	if (t->pg != NULL)
		return tokendb_pg_revoke(t->pg, id, err, errlen);
#endif
	return by_id(t, ST_REVOKE, id, "revoking a token", err, errlen);
}

int
tokendb_delete(struct tokendb *t, const char *id, char *err, size_t errlen)
{
#ifdef HAVE_TOKENDB_PG
	if (t->pg != NULL)
		return tokendb_pg_delete(t->pg, id, err, errlen);
#endif
	return by_id(t, ST_DELETE, id, "deleting a token", err, errlen);
}

/*
 * One statement checks and decrements: SQLite runs it under the database
 * write lock, so of N concurrent reviews of a one-use token, in any number
 * of processes, exactly one sees a changed row.
 */
int
tokendb_consume(struct tokendb *t, const char *id, char *err, size_t errlen)
{
#ifdef HAVE_TOKENDB_PG
	if (t->pg != NULL)
		return tokendb_pg_consume(t->pg, id, err, errlen);
#endif
	return by_id(t, ST_CONSUME, id, "using a token", err, errlen);
}

long long
tokendb_prune(struct tokendb *t, long long now, char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	long long	 r = -1;
#ifdef HAVE_TOKENDB_PG
	if (t->pg != NULL)
		return tokendb_pg_prune(t->pg, now, err, errlen);
#endif

	if ((st = stmt(t, ST_PRUNE, err, errlen)) == NULL)
		return -1;
	sqlite3_bind_int64(st, 1, now);
	if (sqlite3_step(st) == SQLITE_DONE)
		r = sqlite3_changes(t->db);
	else
		db_error(t, "pruning tokens", err, errlen);
	sqlite3_reset(st);
	return r;
}

int
tokendb_list(struct tokendb *t,
    int (*cb)(const struct tokendb_token *, void *), void *arg, char *err,
    size_t errlen)
{
	struct tokendb_token	 tok;
	sqlite3_stmt		*st;
	int			 rc, r = -1;
#ifdef HAVE_TOKENDB_PG
	if (t->pg != NULL)
		return tokendb_pg_list(t->pg, cb, arg, err, errlen);
#endif

	if ((st = stmt(t, ST_LIST, err, errlen)) == NULL)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		read_row(st, &tok);
		rc = cb(&tok, arg);
		tokendb_token_clear(&tok);
		if (rc == -1)
			break;
	}
	if (rc == SQLITE_DONE || rc == -1)
		r = 0;
	else
		db_error(t, "listing tokens", err, errlen);
	sqlite3_reset(st);
	return r;
}

int
tokendb_begin(struct tokendb *t, char *err, size_t errlen)
{
#ifdef HAVE_TOKENDB_PG
	if (t->pg != NULL)
		return tokendb_pg_begin(t->pg, err, errlen);
#endif
	return exec_sql(t, "BEGIN IMMEDIATE", "starting a transaction", err,
	    errlen);
}

int
tokendb_commit(struct tokendb *t, int ok, char *err, size_t errlen)
{
#ifdef HAVE_TOKENDB_PG
	if (t->pg != NULL)
		return tokendb_pg_commit(t->pg, ok, err, errlen);
#endif
	if (ok && exec_sql(t, "COMMIT", "committing", err, errlen) == 0)
		return 0;
	/* A failed COMMIT may leave the transaction, and the lock, open. */
	if (!sqlite3_get_autocommit(t->db))
		sqlite3_exec(t->db, "ROLLBACK", NULL, NULL, NULL);
	return ok ? -1 : 0;
}

int
tokendb_record_uses(struct tokendb *t, const struct tokendb_use *uses,
    size_t n, char *err, size_t errlen)
{
	sqlite3_stmt	*st;
	size_t		 i;
	int		 ok = 1;
#ifdef HAVE_TOKENDB_PG
	if (t->pg != NULL)
		return tokendb_pg_record_uses(t->pg, uses, n, err, errlen);
#endif

	if (tokendb_begin(t, err, errlen) != 0)
		return -1;
	for (i = 0; i < n && ok; i++) {
		if (uses[i].count == 0)
			continue;	/* an empty slot */
		if ((st = stmt(t, ST_USE, err, errlen)) == NULL) {
			ok = 0;
			break;
		}
		sqlite3_bind_text(st, 1, uses[i].id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, uses[i].count);
		sqlite3_bind_int64(st, 3, uses[i].last_used);
		if (sqlite3_step(st) != SQLITE_DONE) {
			db_error(t, "recording token use", err, errlen);
			ok = 0;
		}
		sqlite3_reset(st);
	}
	if (tokendb_commit(t, ok, err, errlen) != 0)
		ok = 0;
	return ok ? 1 : -1;
}

/* ------------------------------------------------------------ pure rules */

static int
token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int
tokendb_valid_id(const char *id)
{
	size_t	i;

	for (i = 0; i < TOKENDB_ID_LEN; i++) {
		if (!token_char(id[i]))
			return 0;
	}
	return id[i] == '\0';
}

int
tokendb_parse_token(const char *s, size_t len, char *id, char *secret)
{
	size_t	i;

	if (len != TOKENDB_TOKEN_LEN || s[TOKENDB_ID_LEN] != '.')
		return -1;
	for (i = 0; i < len; i++) {
		if (i != TOKENDB_ID_LEN && !token_char(s[i]))
			return -1;
	}
	memcpy(id, s, TOKENDB_ID_LEN);
	id[TOKENDB_ID_LEN] = '\0';
	memcpy(secret, s + TOKENDB_ID_LEN + 1, TOKENDB_SECRET_LEN);
	secret[TOKENDB_SECRET_LEN] = '\0';
	return 0;
}

/*
 * Uniform characters from 0-9a-z: bytes of 252 and above are thrown away,
 * since 252 = 7 * 36 is the largest multiple of 36 a byte holds.
 */
static int
random_chars(char *out, size_t n)
{
	unsigned char	buf[64];
	size_t		i, got = 0;

	while (got < n) {
		if (RAND_bytes(buf, sizeof(buf)) != 1)
			return -1;
		for (i = 0; i < sizeof(buf) && got < n; i++) {
			if (buf[i] < 252)
				out[got++] = TOKENDB_ALPHABET[buf[i] % 36];
		}
	}
	out[n] = '\0';
	OPENSSL_cleanse(buf, sizeof(buf));
	return 0;
}

int
tokendb_generate(char *id, char *secret)
{
	if (random_chars(id, TOKENDB_ID_LEN) != 0 ||
	    random_chars(secret, TOKENDB_SECRET_LEN) != 0)
		return -1;
	return 0;
}

int
tokendb_parse_ttl(const char *s, long long *seconds)
{
	static const struct {
		const char	*suffix;
		long long	 scale;
	} units[] = {
		{ "s", 1 }, { "m", 60 }, { "h", 3600 }, { "d", 86400 },
		{ "", 1 },
	};
	char		 num[32];
	size_t		 i, n, sl;
	long long	 v;

	n = strlen(s);
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		sl = strlen(units[i].suffix);
		if (n <= sl || n - sl >= sizeof(num) ||
		    strcmp(s + n - sl, units[i].suffix) != 0)
			continue;
		memcpy(num, s, n - sl);
		num[n - sl] = '\0';
		if (parse_number(num, 1, TOKENDB_MAX_TTL / units[i].scale,
		    &v) != 0)
			return -1;
		*seconds = v * units[i].scale;
		return 0;
	}
	return -1;
}

int
tokendb_bootstrap_group(const char *g)
{
	static const char	prefix[] = "system:bootstrappers:";
	size_t			i, n;

	if (strncmp(g, prefix, sizeof(prefix) - 1) != 0)
		return 0;
	g += sizeof(prefix) - 1;
	n = strlen(g);
	if (n < 1 || n > 256 || !token_char(g[n - 1]))
		return 0;
	for (i = 0; i < n; i++) {
		if (!token_char(g[i]) && g[i] != ':' && g[i] != '-')
			return 0;
	}
	return 1;
}

int
tokendb_usage_auth(const char *usages)
{
	const char	*p = usages, *end;
	size_t		 n;

	while (p != NULL && *p != '\0') {
		end = strchr(p, ',');
		n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n == strlen("authentication") &&
		    strncmp(p, "authentication", n) == 0)
			return 1;
		p = end != NULL ? end + 1 : NULL;
	}
	return 0;
}
