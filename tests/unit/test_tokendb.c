/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the token database: the token shape, lifetimes, bootstrap
 * groups and token generation; the SQLite storage on a temporary file
 * (schema, insert, lookup, revoke, atomic use, batched counts, prune); and
 * the backend itself, with the bootstrap-token conformance cases 31 to 36;
 * and, when built, the pure parts of the PostgreSQL engine.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <sqlite3.h>

#include "tokenreviewd.h"
#include "tokendb.h"
#include "tokendb-engine.h"
#include "tokendb-pg.h"
#include "tap.h"

static char	dir[] = "/tmp/test_tokendb.XXXXXX";
static char	dbpath[256];

static void
test_shape(void)
{
	char	id[TOKENDB_ID_LEN + 1], sec[TOKENDB_SECRET_LEN + 1];
	static const char *const bad[] = {
		"Q8Z1XK.4m0vaqgd7l2n9s1e",	/* case 36: uppercase */
		"q8z1xk.4m0vaqgd7l2n9s1",	/* case 36: 15-char secret */
		"q8z1xk.4m0vaqgd7l2n9s1ee",
		"q8z1xk4m0vaqgd7l2n9s1e",
		"q8z1x.k4m0vaqgd7l2n9s1e",
		"q8z1xk:4m0vaqgd7l2n9s1e",
		"q8z1xk.4m0vaqgd7l2n9s1E",
		"q8z-xk.4m0vaqgd7l2n9s1e",
		"",
	};
	size_t	i;

	ok(tokendb_parse_token("q8z1xk.4m0vaqgd7l2n9s1e", 23, id, sec) == 0,
	    "bootstrap shape parses");
	is_str(id, "q8z1xk", "id");
	is_str(sec, "4m0vaqgd7l2n9s1e", "secret");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(tokendb_parse_token(bad[i], strlen(bad[i]), id, sec) != 0,
		    "refused: \"%s\"", bad[i]);
	ok(tokendb_parse_token("q8z1xk.4m0vaqgd7l2n9s\0e", 23, id, sec) != 0,
	    "refused: NUL inside");
	ok(tokendb_valid_id("abc123"), "valid id");
	ok(!tokendb_valid_id("abc12"), "short id");
	ok(!tokendb_valid_id("abc1234"), "long id");
	ok(!tokendb_valid_id("ABC123"), "uppercase id");
}

static void
test_ttl(void)
{
	static const struct {
		const char	*s;
		long long	 want;	/* -1: refused */
	} cases[] = {
		{ "90s", 90 }, { "30m", 1800 }, { "24h", 86400 },
		{ "7d", 604800 }, { "5", 5 }, { "3x", -1 }, { "0", -1 },
		{ "0h", -1 }, { "", -1 }, { "h", -1 }, { "-1h", -1 },
		{ "1ms", -1 }, { "1 h", -1 }, { "99999999999d", -1 },
	};
	long long	v;
	size_t		i;
	int		r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		v = -1;
		r = tokendb_parse_ttl(cases[i].s, &v);
		if (cases[i].want < 0)
			ok(r != 0, "ttl \"%s\" refused", cases[i].s);
		else
			ok(r == 0 && v == cases[i].want, "ttl \"%s\" = %lld",
			    cases[i].s, cases[i].want);
	}
}

static void
test_rules(void)
{
	char	g[300];

	ok(tokendb_bootstrap_group("system:bootstrappers:worker-pool-a"),
	    "bootstrap group");
	ok(tokendb_bootstrap_group("system:bootstrappers:a:b-1"),
	    "bootstrap group with : and -");
	ok(!tokendb_bootstrap_group("system:bootstrappers:"), "empty suffix");
	ok(!tokendb_bootstrap_group("system:bootstrappers"), "no suffix");
	ok(!tokendb_bootstrap_group("system:masters"), "case 35 group");
	ok(!tokendb_bootstrap_group("system:bootstrappers:x-"), "ends in -");
	ok(!tokendb_bootstrap_group("system:bootstrappers:X"), "uppercase");
	memset(g, 'a', sizeof(g));
	memcpy(g, "system:bootstrappers:", 21);
	g[21 + 256] = '\0';
	ok(tokendb_bootstrap_group(g), "256 characters after the prefix");
	g[21 + 256] = 'a';
	g[21 + 257] = '\0';
	ok(!tokendb_bootstrap_group(g), "257 characters refused");

	ok(tokendb_usage_auth("authentication"), "usage authentication");
	ok(tokendb_usage_auth("signing,authentication"), "usage in a list");
	ok(!tokendb_usage_auth("signing"), "signing only");
	ok(!tokendb_usage_auth("authenticationx"), "no prefix match");
	ok(!tokendb_usage_auth(""), "empty usages");
}

/* The groups of tok as "n:a|b", for a table of expectations. */
static void
json_groups_text(const struct tokendb_token *tok, char *out, size_t len)
{
	size_t	i, n = 0;

	while (tok->groups[n] != NULL)
		n++;
	snprintf(out, len, "%zu:", n);
	for (i = 0; i < n; i++) {
		if (i > 0)
			strlcat(out, "|", len);
		strlcat(out, tok->groups[i], len);
	}
}

/*
 * The stored JSON of a row's groups and extra, read back: the compact
 * shape is read without a parser, every other text as jansson reads it.
 */
static void
test_json_fields(void)
{
	static const struct {
		const char	*text, *want;
	} cases[] = {
		{ "[\"group-a\",\"group-b\"]", "2:group-a|group-b" },
		{ "[]", "0:" },
		{ "[\"\"]", "1:" },
		{ "[\"a b\",\"system:masters\"]", "2:a b|system:masters" },
		{ "[\"a\", \"b\"]", "2:a|b" },
		{ " [\"a\"]", "1:a" },
		{ "[\"a\\\"b\"]", "1:a\"b" },
		{ "[\"a\\u0041\"]", "1:aA" },
		{ "[\"\xc3\xa9\"]", "1:\xc3\xa9" },
		{ "[\"\xc3\"]", "0:" },
		{ "[\"a\tb\"]", "0:" },
		{ "[\"a\",1,\"b\"]", "2:a|b" },
		{ "[\"a\",]", "0:" },
		{ "[\"a\"", "0:" },
		{ "[\"a", "0:" },
		{ "[\"a\"]x", "0:" },
		{ "[\"a\"\"b\"]", "0:" },
		{ "{\"a\":[\"b\"]}", "0:" },
		{ "", "0:" },
		{ NULL, "0:" },
	};
	struct tokendb_token	 tok;
	char			 got[64];
	size_t			 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(&tok, 0, sizeof(tok));
		tokendb_token_set_json(&tok, cases[i].text, "{}");
		json_groups_text(&tok, got, sizeof(got));
		is_str(got, cases[i].want, "groups %s",
		    cases[i].text != NULL ? cases[i].text : "NULL");
		tokendb_token_clear(&tok);
	}
	memset(&tok, 0, sizeof(tok));
	tokendb_token_set_json(&tok, "[]", "{}");
	ok(tok.extra_keys != NULL && tok.extra_keys[0] == NULL &&
	    tok.extra_values != NULL && tok.extra_values[0] == NULL,
	    "extra {}: none");
	tokendb_token_clear(&tok);
	tokendb_token_set_json(&tok, "[]", "{\"k\":[\"v\",\"w\"],\"x\":1}");
	ok(tok.extra_keys[0] != NULL && strcmp(tok.extra_keys[0], "k") == 0 &&
	    tok.extra_values[0][1] != NULL &&
	    strcmp(tok.extra_values[0][1], "w") == 0 &&
	    tok.extra_keys[1] == NULL, "extra with a list and a non-list");
	tokendb_token_clear(&tok);
	tokendb_token_set_json(&tok, "[]", "{ }");
	ok(tok.extra_keys[0] == NULL, "extra { }: none");
	tokendb_token_clear(&tok);
}

static void
test_generate(void)
{
	char	id[TOKENDB_ID_LEN + 1], sec[TOKENDB_SECRET_LEN + 1];
	char	tok[TOKENDB_TOKEN_LEN + 1], id2[8], sec2[20], prev[8] = "";
	int	seen[36] = { 0 }, i, all = 1, shapes = 1, same = 0;
	size_t	j;

	for (i = 0; i < 2000; i++) {
		if (tokendb_generate(id, sec) != 0)
			shapes = 0;
		snprintf(tok, sizeof(tok), "%s.%s", id, sec);
		if (tokendb_parse_token(tok, strlen(tok), id2, sec2) != 0)
			shapes = 0;
		for (j = 0; j < TOKENDB_SECRET_LEN; j++)
			seen[strchr("0123456789abcdefghijklmnopqrstuvwxyz",
			    sec[j]) - "0123456789abcdefghijklmnopqrstuvwxyz"]++;
		if (strcmp(prev, id) == 0)
			same++;
		strlcpy(prev, id, sizeof(prev));
	}
	for (i = 0; i < 36; i++) {
		/* 32000 draws: about 889 each; far outside is a bias. */
		if (seen[i] < 600 || seen[i] > 1200)
			all = 0;
	}
	ok(shapes, "generated tokens have the bootstrap shape");
	ok(all, "every character is drawn about as often");
	ok(same < 2, "ids differ");
}

static void
fill(struct tokendb_token *tok, const char *id, const char *secret)
{
	static char	*groups[] = { "ops", "dev", NULL };
	static char	*keys[] = { "example.org/team", NULL };
	static char	*v0[] = { "blue", "green", NULL };
	static char	**values[] = { v0, NULL };

	memset(tok, 0, sizeof(*tok));
	strlcpy(tok->id, id, sizeof(tok->id));
	sha256(secret, strlen(secret), tok->secret_hash);
	tok->username = "alice";
	tok->uid = "1001";
	tok->groups = groups;
	tok->extra_keys = keys;
	tok->extra_values = values;
	tok->description = "test";
	tok->usages = "authentication";
	tok->created = (long long)time(NULL);
	tok->uses_left = -1;
}

static int
count_cb(const struct tokendb_token *tok, void *arg)
{
	(*(int *)arg)++;
	return 0;
}

static void
test_storage_rows(struct tokendb *db)
{
	struct tokendb_token	 tok, got;
	struct tokendb_use	 use = { "aaaaaa", 5, 1000 };
	char			 err[TR_ERRLEN];
	int			 n = 0;

	fill(&tok, "aaaaaa", "0123456789abcdef");
	is_int(tokendb_insert(db, &tok, err, sizeof(err)), 1, "insert");
	is_int(tokendb_insert(db, &tok, err, sizeof(err)), 0,
	    "duplicate id refused");
	is_int(tokendb_get(db, "aaaaaa", &got, err, sizeof(err)), 1, "get");
	is_str(got.username, "alice", "username stored");
	is_str(got.uid, "1001", "uid stored");
	ok(got.groups[0] && strcmp(got.groups[1], "dev") == 0 &&
	    got.groups[2] == NULL, "groups stored");
	ok(strcmp(got.extra_keys[0], "example.org/team") == 0 &&
	    strcmp(got.extra_values[0][1], "green") == 0, "extra stored");
	ok(memcmp(got.secret_hash, tok.secret_hash, TR_SHA256_LEN) == 0,
	    "hash stored");
	ok(got.expires == 0 && got.uses_left == -1 && !got.revoked,
	    "no expiry, no limit, not revoked");
	tokendb_token_clear(&got);
	is_int(tokendb_get(db, "zzzzzz", &got, err, sizeof(err)), 0,
	    "unknown id");
	is_int(tokendb_record_uses(db, &use, 1, err, sizeof(err)), 1,
	    "record uses");
	is_int(tokendb_record_uses(db, &use, 1, err, sizeof(err)), 1,
	    "record uses again");
	tokendb_get(db, "aaaaaa", &got, err, sizeof(err));
	ok(got.use_count == 10 && got.last_used == 1000, "counts added");
	tokendb_token_clear(&got);
	is_int(tokendb_revoke(db, "aaaaaa", err, sizeof(err)), 1, "revoke");
	is_int(tokendb_revoke(db, "zzzzzz", err, sizeof(err)), 0,
	    "revoke unknown");
	tokendb_get(db, "aaaaaa", &got, err, sizeof(err));
	ok(got.revoked, "revoked stored");
	tokendb_token_clear(&got);
	tokendb_list(db, count_cb, &n, err, sizeof(err));
	is_int(n, 1, "list");
	is_int(tokendb_delete(db, "aaaaaa", err, sizeof(err)), 1, "delete");
	is_int(tokendb_delete(db, "aaaaaa", err, sizeof(err)), 0,
	    "delete again");
}

static void
test_storage_limits(struct tokendb *db)
{
	struct tokendb_token	 tok;
	char			 err[TR_ERRLEN];

	fill(&tok, "bbbbbb", "0123456789abcdef");
	tok.uses_left = 2;
	tokendb_insert(db, &tok, err, sizeof(err));
	is_int(tokendb_consume(db, "bbbbbb", err, sizeof(err)), 1, "use 1");
	is_int(tokendb_consume(db, "bbbbbb", err, sizeof(err)), 1, "use 2");
	is_int(tokendb_consume(db, "bbbbbb", err, sizeof(err)), 0,
	    "no use left");
	fill(&tok, "cccccc", "0123456789abcdef");
	tok.expires = 100;
	tokendb_insert(db, &tok, err, sizeof(err));
	fill(&tok, "dddddd", "0123456789abcdef");
	tok.expires = 300;
	tokendb_insert(db, &tok, err, sizeof(err));
	is_int(tokendb_prune(db, 200, err, sizeof(err)), 1,
	    "prune deletes the expired row");
	is_int(tokendb_prune(db, 200, err, sizeof(err)), 0, "prune again");
	is_int(tokendb_prune(db, 300, err, sizeof(err)), 1,
	    "expired at the second it expires");
}

/* A batch stops at the first id taken, in the table or earlier in it. */
static void
test_storage_many(struct tokendb *db)
{
	struct tokendb_token	 toks[3];
	char			 err[TR_ERRLEN];
	size_t			 failed = 99;
	int			 n = 0;

	fill(&toks[0], "mmmmm1", "0123456789abcdef");
	fill(&toks[1], "mmmmm2", "0123456789abcdef");
	fill(&toks[2], "mmmmm1", "fedcba9876543210");
	tokendb_begin(db, err, sizeof(err));
	is_int(tokendb_insert_many(db, toks, 3, &failed, err, sizeof(err)),
	    0, "a batch with an id twice is refused");
	is_int((int)failed, 2, "at the second use of the id");
	tokendb_commit(db, 0, err, sizeof(err));
	tokendb_begin(db, err, sizeof(err));
	is_int(tokendb_insert_many(db, toks, 2, &failed, err, sizeof(err)),
	    1, "a batch of distinct ids");
	tokendb_commit(db, 1, err, sizeof(err));
	fill(&toks[0], "mmmmm3", "0123456789abcdef");
	tokendb_begin(db, err, sizeof(err));
	is_int(tokendb_insert_many(db, toks, 3, &failed, err, sizeof(err)),
	    0, "a batch with an id in the table is refused");
	is_int((int)failed, 1, "at the row that has it");
	tokendb_commit(db, 0, err, sizeof(err));
	tokendb_list(db, count_cb, &n, err, sizeof(err));
	is_int(n, 2, "only the batch that passed is stored");
	tokendb_delete(db, "mmmmm1", err, sizeof(err));
	tokendb_delete(db, "mmmmm2", err, sizeof(err));
}

static void
test_storage(void)
{
	struct tokendb	*db, *db2;
	sqlite3		*raw;
	char		 err[TR_ERRLEN], other[300];

	snprintf(other, sizeof(other), "%s/none.db", dir);
	ok(tokendb_open(other, 0, 0, err, sizeof(err)) == NULL,
	    "no file without create: %s", err);
	db = tokendb_open(dbpath, TOKENDB_CREATE, 100, err, sizeof(err));
	ok(db != NULL, "create: %s", db ? "ok" : err);
	if (db == NULL)
		return;
	db2 = tokendb_open(dbpath, 0, 100, err, sizeof(err));
	ok(db2 != NULL, "reopen an existing file");
	tokendb_close(db2);
	test_storage_rows(db);
	test_storage_many(db);
	test_storage_limits(db);
	tokendb_close(db);

	snprintf(other, sizeof(other), "%s/newer.db", dir);
	tokendb_close(tokendb_open(other, TOKENDB_CREATE, 0, err,
	    sizeof(err)));
	sqlite3_open(other, &raw);
	sqlite3_exec(raw, "UPDATE schema_version SET version = 99", NULL,
	    NULL, NULL);
	sqlite3_close(raw);
	ok(tokendb_open(other, 0, 0, err, sizeof(err)) == NULL &&
	    strstr(err, "newer") != NULL, "newer schema refused: %s", err);
	unlink(other);
	snprintf(other, sizeof(other), "%s/newer.db-wal", dir);
	unlink(other);
	snprintf(other, sizeof(other), "%s/newer.db-shm", dir);
	unlink(other);
}

/* ------------------------------------------------------------ backend */

struct bk {
	const struct auth_backend	*be;
	void				*shared;
	void				*inst;
	struct tokendb			*db;
	struct event_base		*base;
};

/* A review in the current pass of the worker's event loop. */
static enum auth_rv
review_in_pass(struct bk *b, const char *token, struct auth_result *res)
{
	struct auth_req	req;

	memset(&req, 0, sizeof(req));
	auth_result_clear(res);
	req.token = token;
	req.token_len = strlen(token);
	sha256(req.token, req.token_len, req.token_hash);
	return b->be->authenticate(b->inst, &req, res, NULL);
}

/* A review in a pass of its own, as one request on a quiet worker. */
static enum auth_rv
review(struct bk *b, const char *token, struct auth_result *res)
{
	enum auth_rv	rv = review_in_pass(b, token, res);

	event_base_loop(b->base, EVLOOP_NONBLOCK);
	return rv;
}

static void
add(struct bk *b, const char *id, const char *secret, int bootstrap,
    char **groups, long long expires, const char *usages)
{
	static char		*none[] = { NULL };
	struct tokendb_token	 tok;
	char			 err[TR_ERRLEN];

	fill(&tok, id, secret);
	tok.bootstrap = bootstrap;
	if (bootstrap) {
		tok.uid = NULL;
		tok.extra_keys = none;
	}
	if (groups != NULL)
		tok.groups = groups;
	tok.expires = expires;
	tok.usages = (char *)usages;
	if (tokendb_insert(b->db, &tok, err, sizeof(err)) != 1)
		diag("insert %s: %s", id, err);
}

static long long
lookups(struct bk *b)
{
	struct evbuffer	*ev = evbuffer_new();
	char		 text[4096], *p;
	size_t		 n;
	long long	 v = -1;

	b->be->metrics(b->shared, ev);
	n = evbuffer_remove(ev, text, sizeof(text) - 1);
	text[n] = '\0';
	p = strstr(text, "\ntokenreviewd_tokendb_lookups_total ");
	if (p != NULL)
		v = strtoll(p + 36, NULL, 10);
	evbuffer_free(ev);
	return v;
}

static void
test_cases(struct bk *b)
{
	struct auth_result	 res;
	long long		 now = (long long)time(NULL), n;

	memset(&res, 0, sizeof(res));
	add(b, "q8z1xk", "4m0vaqgd7l2n9s1e", 1, (char *[]){
	    "system:bootstrappers:worker-pool-a", NULL }, now + 3600,
	    "authentication,signing");
	is_int(review(b, "q8z1xk.4m0vaqgd7l2n9s1e", &res), AUTH_OK, "case 31");
	is_str(res.user_json, "{\"username\":\"system:bootstrap:q8z1xk\","
	    "\"groups\":[\"system:bootstrappers\",\"system:bootstrappers:"
	    "worker-pool-a\"]}", "case 31 user: no uid, no extra");
	ok(res.max_ttl == 1000, "cached for cache_ttl at most");
	is_int(review(b, "q8z1xk.4m0vaqgd7l2n9s1f", &res), AUTH_DENY,
	    "case 32: wrong secret");
	add(b, "past01", "4m0vaqgd7l2n9s1e", 1, NULL, now - 1,
	    "authentication");
	is_int(review(b, "past01.4m0vaqgd7l2n9s1e", &res), AUTH_DENY,
	    "case 33: expired a second ago");
	add(b, "sign01", "4m0vaqgd7l2n9s1e", 1, NULL, 0, "signing");
	is_int(review(b, "sign01.4m0vaqgd7l2n9s1e", &res), AUTH_DENY,
	    "case 34: not for authentication");
	add(b, "mast01", "4m0vaqgd7l2n9s1e", 1, (char *[]){
	    "system:bootstrappers:a", "system:masters", NULL }, 0,
	    "authentication");
	is_int(review(b, "mast01.4m0vaqgd7l2n9s1e", &res), AUTH_DENY,
	    "case 35: system:masters rejects the token");
	/* The five reviews above each looked a row up; -1 is no metric. */
	n = lookups(b);
	ok(n >= 5, "lookups counted so far: %lld", n);
	is_int(review(b, "Q8Z1XK.4m0vaqgd7l2n9s1e", &res), AUTH_DENY,
	    "case 36: uppercase");
	is_int(review(b, "q8z1xk.4m0vaqgd7l2n9s1", &res), AUTH_DENY,
	    "case 36: 15-character secret");
	is_int(review(b, "not-a-db-token", &res), AUTH_DENY, "other shape");
	is_int(lookups(b), n, "case 36: no lookup for other shapes");
	auth_result_clear(&res);
}

static void
test_limits(struct bk *b)
{
	struct tokendb_token	 tok;
	struct auth_result	 res;
	char			 err[TR_ERRLEN];

	memset(&res, 0, sizeof(res));
	fill(&tok, "once01", "0123456789abcdef");
	tok.uses_left = 1;
	tokendb_insert(b->db, &tok, err, sizeof(err));
	is_int(review(b, "once01.0123456789abcdef", &res), AUTH_OK,
	    "one-use token: first use");
	ok(res.max_ttl < 0, "usage-limited result is never cached");
	ok(strstr(res.user_json, "\"uid\":\"1001\"") != NULL &&
	    strstr(res.user_json, "\"extra\":{\"example.org/team\":"
	    "[\"blue\",\"green\"]}") != NULL, "uid and extra in the user");
	is_int(review(b, "once01.0123456789abcdef", &res), AUTH_DENY,
	    "one-use token: second use refused");
	fill(&tok, "rev001", "0123456789abcdef");
	tokendb_insert(b->db, &tok, err, sizeof(err));
	is_int(review(b, "rev001.0123456789abcdef", &res), AUTH_OK,
	    "before revoke");
	tokendb_revoke(b->db, "rev001", err, sizeof(err));
	is_int(review(b, "rev001.0123456789abcdef", &res), AUTH_DENY,
	    "revoked at once");
	is_int(review(b, "nosuch.0123456789abcdef", &res), AUTH_DENY,
	    "unknown id");
	add(b, "impl01", "0123456789abcdef", 0, (char *[]){
	    "system:authenticated", "system:masters", "system:unauthenticated",
	    NULL }, 0, "authentication");
	is_int(review(b, "impl01.0123456789abcdef", &res), AUTH_OK,
	    "a row naming the API server's own groups authenticates");
	ok(res.user_json != NULL && strstr(res.user_json,
	    "\"groups\":[\"system:masters\"]") != NULL,
	    "system:authenticated and system:unauthenticated dropped, "
	    "system:masters kept: %s", res.user_json);
	auth_result_clear(&res);
}

/* The use count of id reaches want within 5 s, with a last-use time. */
static int
use_count_is(struct tokendb *db, const char *id, long long want)
{
	struct tokendb_token	tok;
	char			err[TR_ERRLEN];
	int			i, r = 0;

	for (i = 0; i < 500 && !r; i++) {
		if (i > 0)
			usleep(10000);
		if (tokendb_get(db, id, &tok, err, sizeof(err)) == 1)
			r = tok.use_count == want && tok.last_used > 0;
		tokendb_token_clear(&tok);
	}
	return r;
}

/*
 * Rows a worker accepted answer again from its memo while the file is
 * unchanged: still one lookup each, the secret and the time checked each
 * time, and any commit of another connection seen by the next review.
 */
static void
test_memo(struct bk *b)
{
	struct tokendb_token	 tok;
	struct auth_result	 res;
	char			 err[TR_ERRLEN];
	long long		 n;
	int			 i;

	memset(&res, 0, sizeof(res));
	add(b, "memo01", "0123456789abcdef", 0, NULL, 0, "authentication");
	add(b, "memo02", "0123456789abcdef", 0, NULL, time(NULL) + 3600,
	    "authentication");
	n = lookups(b);
	for (i = 0; i < 3; i++) {
		is_int(review(b, "memo01.0123456789abcdef", &res), AUTH_OK,
		    "memo: review %d", i + 1);
		ok(res.user_json != NULL && strstr(res.user_json,
		    "\"username\":\"alice\"") != NULL && res.max_ttl > 0,
		    "memo: the same user and cache bound %d", i + 1);
	}
	is_int(lookups(b) - n, 3, "memo: each review counts as a lookup");
	is_int(review(b, "memo01.0123456789abcdeg", &res), AUTH_DENY,
	    "memo: a wrong secret is refused");
	is_int(review(b, "memo02.0123456789abcdef", &res), AUTH_OK,
	    "memo: a token with an expiry");
	tokendb_revoke(b->db, "memo01", err, sizeof(err));
	is_int(review(b, "memo01.0123456789abcdef", &res), AUTH_DENY,
	    "memo: revoked by another connection, refused at once");
	is_int(review(b, "memo02.0123456789abcdef", &res), AUTH_OK,
	    "memo: the other row read again");
	tokendb_delete(b->db, "memo02", err, sizeof(err));
	is_int(review(b, "memo02.0123456789abcdef", &res), AUTH_DENY,
	    "memo: deleted, refused at once");
	fill(&tok, "memo03", "0123456789abcdef");
	tok.uses_left = 2;
	tokendb_insert(b->db, &tok, err, sizeof(err));
	is_int(review(b, "memo03.0123456789abcdef", &res), AUTH_OK,
	    "memo: usage-limited, first use");
	is_int(review(b, "memo03.0123456789abcdef", &res), AUTH_OK,
	    "memo: usage-limited, second use");
	is_int(review(b, "memo03.0123456789abcdef", &res), AUTH_DENY,
	    "memo: usage-limited rows are read each time");
	auth_result_clear(&res);
}

/*
 * The reviews of one pass share one SQLite read: a commit of another
 * connection is seen in the next pass, or in the same pass once the read
 * is older than 1 ms; a use is taken after the read ends, whatever it saw.
 */
static void
test_shared_read(struct bk *b)
{
	struct tokendb_token	 tok;
	struct auth_result	 res;
	char			 err[TR_ERRLEN];

	memset(&res, 0, sizeof(res));
	add(b, "pass01", "0123456789abcdef", 0, NULL, 0, "authentication");
	add(b, "pass03", "0123456789abcdef", 0, NULL, 0, "authentication");
	fill(&tok, "pass02", "0123456789abcdef");
	tok.uses_left = 3;
	tokendb_insert(b->db, &tok, err, sizeof(err));
	is_int(review_in_pass(b, "pass01.0123456789abcdef", &res), AUTH_OK,
	    "shared read: a review opens it");
	tokendb_revoke(b->db, "memo03", err, sizeof(err));
	is_int(review_in_pass(b, "pass02.0123456789abcdef", &res), AUTH_OK,
	    "shared read: a use taken after another connection's commit");
	is_int(review_in_pass(b, "pass03.0123456789abcdef", &res), AUTH_OK,
	    "shared read: the next review opens one again");
	tokendb_revoke(b->db, "pass01", err, sizeof(err));
	usleep(2000);
	is_int(review_in_pass(b, "pass01.0123456789abcdef", &res), AUTH_DENY,
	    "shared read: a revoke seen in the same pass after 1 ms");
	tokendb_revoke(b->db, "pass03", err, sizeof(err));
	event_base_loop(b->base, EVLOOP_NONBLOCK);
	is_int(review_in_pass(b, "pass03.0123456789abcdef", &res), AUTH_DENY,
	    "shared read: a revoke seen in the next pass");
	auth_result_clear(&res);
}

static void
test_backend(void)
{
	struct bk		 b;
	struct config		*conf;
	struct event_base	*base = event_base_new();
	char			 conf_path[300], text[1024], err[TR_ERRLEN];
	FILE			*f;

	memset(&b, 0, sizeof(b));
	b.base = base;
	err[0] = '\0';
	b.be = auth_backend_find("tokendb");
	ok(b.be != NULL, "tokendb is in the backend table");
	snprintf(conf_path, sizeof(conf_path), "%s/test.conf", dir);
	snprintf(text, sizeof(text), "[server]\ntls_cert = x\ntls_key = x\n"
	    "chain = tokendb\n[tokendb]\npath = %s/auth.db\n", dir);
	if ((f = fopen(conf_path, "w")) == NULL)
		fatal("fopen");
	fputs(text, f);
	fclose(f);
	conf = config_load(conf_path, err, sizeof(err));
	ok(conf != NULL, "config: %s", conf ? "ok" : err);
	/* A check of the config leaves no file behind; the daemon makes it. */
	snprintf(text, sizeof(text), "%s/auth.db", dir);
	ok(b.be->load(conf, &b.shared, err, sizeof(err)) == 0 &&
	    access(text, F_OK) == -1, "load as a check creates no file: %s",
	    err);
	b.be->unload(b.shared);
	auth_tokendb_may_create(1);
	ok(b.be->load(conf, &b.shared, err, sizeof(err)) == 0 &&
	    access(text, F_OK) == 0, "load as the daemon creates it: %s",
	    err);
	ok(b.be->init(b.shared, base, &b.inst) == 0, "init");
	b.db = tokendb_open(text, 0, 1000, err, sizeof(err));
	ok(b.db != NULL && b.be->ready(b.shared), "ready");
	test_cases(&b);
	test_limits(&b);
	test_memo(&b);
	test_shared_read(&b);
	b.be->free(b.inst);
	/* The writer thread writes the last batch once told to stop. */
	b.be->unload(b.shared);
	ok(use_count_is(b.db, "q8z1xk", 1),
	    "use count written when the worker stops");
	tokendb_close(b.db);
	config_free(conf);
	event_base_free(base);
}

static void
test_conf_errors(void)
{
	static const struct {
		const char	*body;
		const char	*want;
	} cases[] = {
		{ "", "path or url is required" },
#ifdef HAVE_TOKENDB_PG
		{ "url = postgresql://u:pw@[x\n", ":6: [tokendb] url: bad URL" },
		{ "url = mysql://x\n", "not a postgresql:// URL" },
		{ "url = postgresql://x\npath = /x\n", "exclude each other" },
		{ "url = postgresql://x\npool_size = 0\n", "pool_size: \"0\" is out of range (1 to 64)" },
		{ "url = postgresql://x\nready_grace = 3x\n",
		    "[tokendb] ready_grace: bad duration" },
#else
		{ "url = postgresql://x\n", "PostgreSQL" },
#endif
		{ "path = %s/e.db\ncache_ttl = 3x\n", ":7: [tokendb] cache_ttl" },
		{ "path = %s/e.db\nbogus = 1\n", "bogus: unknown key" },
	};
	struct config	*conf;
	char		 conf_path[300], text[1024], body[512], err[TR_ERRLEN];
	void		*shared;
	size_t		 i;
	FILE		*f;

	snprintf(conf_path, sizeof(conf_path), "%s/bad.conf", dir);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(body, sizeof(body), cases[i].body, dir);
		snprintf(text, sizeof(text), "[server]\ntls_cert = x\n"
		    "tls_key = x\nchain = tokendb\n[tokendb]\n%s", body);
		if ((f = fopen(conf_path, "w")) == NULL)
			fatal("fopen");
		fputs(text, f);
		fclose(f);
		shared = NULL;
		err[0] = '\0';
		conf = config_load(conf_path, err, sizeof(err));
		ok(conf != NULL && auth_tokendb_backend.load(conf, &shared,
		    err, sizeof(err)) != 0 && strstr(err, cases[i].want) !=
		    NULL, "config error %zu: %s", i, err);
		auth_tokendb_backend.unload(shared);
		config_free(conf);
	}
}

#ifdef HAVE_TOKENDB_PG
/* Load does not connect: a database that is down is no config error. */
static void
test_pg_load_offline(void)
{
	struct config	*conf;
	char		 conf_path[300], err[TR_ERRLEN];
	void		*shared = NULL;
	FILE		*f;

	snprintf(conf_path, sizeof(conf_path), "%s/down.conf", dir);
	if ((f = fopen(conf_path, "w")) == NULL)
		fatal("fopen");
	fputs("[server]\ntls_cert = x\ntls_key = x\nchain = tokendb\n"
	    "[tokendb]\nurl = postgresql://127.0.0.1:1/x\n", f);
	fclose(f);
	err[0] = '\0';
	conf = config_load(conf_path, err, sizeof(err));
	ok(conf != NULL && auth_tokendb_backend.load(conf, &shared, err,
	    sizeof(err)) == 0, "an unreachable database loads %s", err);
	ok(shared != NULL && auth_tokendb_backend.ready(shared),
	    "and is ready within ready_grace");
	auth_tokendb_backend.unload(shared);
	config_free(conf);
}
#endif

#ifdef HAVE_TOKENDB_PG
/* The pure parts of the PostgreSQL engine. */
static void
test_pg(void)
{
	struct tokendb_use	 uses[4];
	char			*p[3];
	int			 k;

	ok(tokendb_is_url("postgresql://u@h:5432/db") &&
	    tokendb_is_url("postgres://h/db") && !tokendb_is_url("/var/x.db")
	    && !tokendb_is_url("postgresql:/h"), "postgresql:// URLs");
	memset(uses, 0, sizeof(uses));
	strlcpy(uses[1].id, "abc123", sizeof(uses[1].id));
	uses[1].count = 3;
	uses[1].last_used = 1700000000;
	strlcpy(uses[3].id, "zz0009", sizeof(uses[3].id));
	uses[3].count = 1;
	uses[3].last_used = 5;
	ok(tokendb_pg_uses_params(uses, 4, p) == 1 &&
	    strcmp(p[0], "{abc123,zz0009}") == 0 &&
	    strcmp(p[1], "{3,1}") == 0 &&
	    strcmp(p[2], "{1700000000,5}") == 0,
	    "a batch of uses as array parameters, empty slots skipped");
	for (k = 0; k < 3; k++)
		free(p[k]);
	memset(uses, 0, sizeof(uses));
	ok(tokendb_pg_uses_params(uses, 4, p) == 0 &&
	    strcmp(p[0], "{}") == 0, "an empty batch");
	for (k = 0; k < 3; k++)
		free(p[k]);
}

/* SQLSTATEs that say why a write failed, through the pool's message. */
static void
test_pg_causes(void)
{
	static const struct {
		const char	*state;
		const char	*cause;
	} t[] = {
		{ "53100", TOKENDB_ERR_FULL },		/* disk_full */
		{ "25006", TOKENDB_ERR_READONLY },	/* read_only_sql_... */
		{ "58030", TOKENDB_ERR_IO },		/* io_error */
		{ "53200", NULL },			/* out_of_memory */
		{ "5310", NULL },
		{ "531000", NULL },
		{ "", NULL },
		{ NULL, NULL },
	};
	const char	*c;
	char		 err[TR_ERRLEN];
	size_t		 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		c = tokendb_pg_state_cause(t[i].state);
		ok(c == t[i].cause || (c != NULL && t[i].cause != NULL &&
		    strcmp(c, t[i].cause) == 0), "SQLSTATE %s -> %s",
		    t[i].state != NULL ? t[i].state : "(none)",
		    t[i].cause != NULL ? t[i].cause : "no cause");
	}
	tokendb_pg_message("ERROR:  could not extend file \"base/5/16384\": "
	    "No space left on device\nHINT:  Check free disk space.\n",
	    tokendb_pg_state_cause("53100"), err, sizeof(err));
	is_str(tokendb_error_cause(err), TOKENDB_ERR_FULL,
	    "a disk_full message names its cause");
}
#endif

/* Every operation of an engine is there. */
static int
engine_complete(const struct tokendb_engine *e)
{
	return e->name != NULL && e->open != NULL && e->migrate != NULL &&
	    e->create != NULL && e->close != NULL && e->get != NULL &&
	    e->insert != NULL && e->insert_many != NULL &&
	    e->revoke != NULL && e->delete != NULL && e->consume != NULL &&
	    e->prune != NULL && e->list != NULL && e->record_uses != NULL &&
	    e->session_add != NULL && e->session_get != NULL &&
	    e->session_list != NULL && e->session_revoke != NULL &&
	    e->session_prune != NULL && e->begin != NULL && e->commit != NULL;
}

/* The dispatcher picks the engine from the location. */
static void
test_engines(void)
{
	ok(tokendb_engine_find("/var/lib/tokenreviewd/tokens.db") ==
	    &tokendb_sqlite_engine && tokendb_engine_find("tokens.db") ==
	    &tokendb_sqlite_engine, "a path is a SQLite file");
	ok(engine_complete(&tokendb_sqlite_engine), "SQLite: all operations");
#ifdef HAVE_TOKENDB_PG
	ok(tokendb_engine_find("postgresql://u@h:5432/db") ==
	    &tokendb_pg_engine && tokendb_engine_find("postgres://h/db") ==
	    &tokendb_pg_engine, "a postgresql:// URL is PostgreSQL");
	ok(tokendb_engine_find("postgresql:/h") == &tokendb_sqlite_engine,
	    "not quite a URL is a path");
	ok(engine_complete(&tokendb_pg_engine), "PostgreSQL: all operations");
#endif
}

/* The causes a failed call's message names, for status.error. */
static void
test_causes(void)
{
	ok(tokendb_error_cause("using a token: " TOKENDB_ERR_FULL
	    " (database or disk is full)") != NULL &&
	    strcmp(tokendb_error_cause("using a token: " TOKENDB_ERR_FULL
	    " (database or disk is full)"), TOKENDB_ERR_FULL) == 0,
	    "SQLite disk full");
	ok(tokendb_error_cause("using a token: " TOKENDB_ERR_BUSY
	    ": locked by another process") != NULL, "SQLite busy");
	ok(tokendb_error_cause("using a token: database disk image is "
	    "malformed") == NULL, "no cause for other errors");
}

int
main(void)
{
	char	cmd[400];

	log_init(LL_FATAL);
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	snprintf(dbpath, sizeof(dbpath), "%s/tokens.db", dir);
	test_shape();
	test_ttl();
	test_rules();
	test_json_fields();
	test_generate();
	test_storage();
	test_backend();
	test_conf_errors();
	test_causes();
	test_engines();
#ifdef HAVE_TOKENDB_PG
	test_pg();
	test_pg_causes();
	test_pg_load_offline();
#endif
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
