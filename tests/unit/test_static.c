/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the static token backend: the token file parser against
 * the rules kube-apiserver applies to --token-auth-file (the static-token
 * conformance cases among them), the lookup table, a large file read
 * through the parser's window, the backend's load and authenticate, and a
 * randomised loop that feeds the parser garbage.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <jansson.h>

#include "tokenreviewd.h"
#include "tap.h"

#define NAME	"tokens.csv"

/* Warnings collected from the parser. */
struct warnings {
	int	count;
	char	text[8192];
};

static void
collect_warn(const char *msg, void *arg)
{
	struct warnings	*w = arg;
	size_t		 len = strlen(w->text);

	w->count++;
	snprintf(w->text + len, sizeof(w->text) - len, "%s\n", msg);
}

static char	errbuf[TR_ERRLEN];
static struct warnings warns;

static struct static_table *
parse(const char *data)
{
	memset(&warns, 0, sizeof(warns));
	errbuf[0] = '\0';
	return static_table_parse(data, strlen(data), NAME, collect_warn,
	    &warns, errbuf, sizeof(errbuf));
}

static struct static_table *
parse_len(const char *data, size_t len)
{
	memset(&warns, 0, sizeof(warns));
	errbuf[0] = '\0';
	return static_table_parse(data, len, NAME, collect_warn, &warns,
	    errbuf, sizeof(errbuf));
}

/* "a,b" for a JSON array of strings, "" for none, NULL if not an array. */
static char *
join_groups(json_t *groups)
{
	char	*out = xstrdup(""), *next;
	size_t	 i;
	json_t	*g;

	json_array_foreach(groups, i, g) {
		xasprintf(&next, "%s%s%s", out, i == 0 ? "" : "|",
		    json_string_value(g));
		free(out);
		out = next;
	}
	return out;
}

/*
 * Look a token up and compare the user: uid NULL means no uid, groups are
 * '|'-separated, "" for none (the groups key must then be absent).
 */
static void
check_user(struct static_table *t, const char *token, size_t len,
    const char *username, const char *uid, const char *groups,
    const char *what)
{
	const char	*u = NULL;
	json_t		*root, *v;
	char		*g, *j;
	int		 found;

	found = static_table_lookup(t, token, len, &u);
	if (!ok(found, "%s: found", what)) {
		skip(4, "not found");
		return;
	}
	j = static_record_json(u);
	is_str(u, username, "%s: username", what);
	root = json_loads(j, 0, NULL);
	ok(root != NULL && json_is_string(json_object_get(root, "username")) &&
	    strcmp(json_string_value(json_object_get(root, "username")),
	    username) == 0, "%s: user_json username", what);
	v = json_object_get(root, "uid");
	is_str(v == NULL ? NULL : json_string_value(v), uid, "%s: uid", what);
	v = json_object_get(root, "groups");
	if (*groups == '\0')
		ok(v == NULL, "%s: no groups key", what);
	else {
		g = join_groups(v);
		is_str(g, groups, "%s: groups", what);
		free(g);
	}
	json_decref(root);
	free(j);
}

static int
lookup(struct static_table *t, const char *token)
{
	return static_table_lookup(t, token, strlen(token), NULL);
}

static void
test_fixture_f(void)
{
	struct static_table	*t;

	t = parse("tokA,alice,1001,\"ops,dev\"\n"
	    "tokB,bob,1002\n"
	    "dup,first,1\n"
	    "dup,second,2\n"
	    "a&b<c>,eve,1005\n");
	ok(t != NULL, "fixture F parses: %s", errbuf);
	is_int(static_table_count(t), 4, "fixture F: 4 distinct tokens");
	check_user(t, "tokA", 4, "alice", "1001", "ops|dev", "case 1");
	check_user(t, "tokB", 4, "bob", "1002", "", "case 23");
	check_user(t, "dup", 3, "second", "2", "", "case 24 last wins");
	is_int(warns.count, 1, "case 24: one warning");
	ok(strstr(warns.text, NAME ":4:") != NULL &&
	    strstr(warns.text, "duplicate") != NULL &&
	    strstr(warns.text, "line 3") != NULL,
	    "case 24: warning names file, both lines: %s", warns.text);
	check_user(t, "a&b<c>", 6, "eve", "1005", "", "case 12");
	ok(!lookup(t, "unknown-token"), "case 3: unknown token");
	ok(!lookup(t, "toka"), "lookup is case-sensitive");
	ok(!lookup(t, "tokA "), "lookup is exact");
	ok(!lookup(t, ""), "empty token is never found");
	static_table_free(t);
}

static void
test_columns(void)
{
	struct static_table	*t;
	char			*data;

	t = parse("tokC,carol,1003,ops,dev\n");
	check_user(t, "tokC", 4, "carol", "1003", "ops", "case 25");
	is_int(warns.count, 1, "case 25: one warning");
	ok(strstr(warns.text, NAME ":1:") != NULL &&
	    strstr(warns.text, "ignored") != NULL,
	    "case 25: warning text: %s", warns.text);
	static_table_free(t);

	data = xmalloc(200032);
	memcpy(data, "tokW,wide,1,g", 13);
	memset(data + 13, ',', 200000);
	memcpy(data + 200013, "\"x\"\n", 5);
	t = parse(data);
	check_user(t, "tokW", 4, "wide", "1", "g", "200000 extra fields");
	ok(strstr(warns.text, "200000 fields after the 4th") != NULL,
	    "extra fields counted: %s", warns.text);
	static_table_free(t);
	free(data);

	t = parse("tokD,dan,1004,\n");
	ok(t != NULL, "case 26: file loads");
	check_user(t, "tokD", 4, "dan", "1004", "", "case 26 no groups");
	static_table_free(t);

	t = parse("t1,u1,1,\",ops,,dev,\"\nt2,u2,2,\"ops, dev\"\n"
	    "t3,u3,,\nt4,,4\n");
	ok(t != NULL, "groups variants parse: %s", errbuf);
	check_user(t, "t1", 2, "u1", "1", "ops|dev",
	    "empty group names dropped");
	check_user(t, "t2", 2, "u2", "2", "ops| dev", "groups not trimmed");
	check_user(t, "t3", 2, "u3", NULL, "", "empty uid left out");
	check_user(t, "t4", 2, "", "4", "", "empty username allowed");
	ok(strstr(warns.text, "empty username") != NULL,
	    "empty username warned");
	static_table_free(t);
}

/* A file that must be refused with an error naming line. */
static void
check_error(const char *data, int line, const char *what)
{
	struct static_table	*t;
	char			 want[64];

	t = parse(data);
	ok(t == NULL, "%s: refused", what);
	snprintf(want, sizeof(want), NAME ":%d: ", line);
	ok(strncmp(errbuf, want, strlen(want)) == 0,
	    "%s: error names line %d: %s", what, line, errbuf);
	static_table_free(t);
}

static void
test_errors(void)
{
	struct static_table	*t;

	check_error("tokA,alice,1\ntokX,xavier\n", 2, "case 27 two fields");
	check_error("tokA,alice,1\n# comment\ntokB,bob,2\n", 2,
	    "case 27 comment line");
	ok(strstr(errbuf, "1 field") != NULL, "comment: says 1 field: %s",
	    errbuf);
	check_error("tokE,\"ed\"x,1\n", 1, "case 28 text after quote");
	ok(strstr(errbuf, "column 10") != NULL, "column is named: %s", errbuf);
	check_error("ok,a,1\ntokE, \"ed\",1\n", 2, "case 28 quote after space");
	check_error("tokE,e\"d,1\n", 1, "bare quote in field");
	check_error("a,b,c\n   \n", 2, "line of spaces is one field");
	check_error("a,b,c\r\n\r\nx\r\n", 3, "CRLF lines are counted");
	check_error("a,b,c\n\"open,b,c\nd,e,f\n", 2, "unclosed quote");
	ok(strstr(errbuf, "not closed") != NULL, "unclosed quote text: %s",
	    errbuf);
	check_error("\"multi\nline\",u,1\n\"x\"y,u,1\n", 3,
	    "lines inside quoted fields are counted");
	check_error("a,b,c\n\"x\ny\"z,u,1\n", 3,
	    "quote error on the field's last line");
	check_error("a,\"b\"\"\",c\nd\n", 2, "short record after escapes");
	check_error("tok,\xff\xfe,1\n", 1, "username not UTF-8");
	t = parse_len("tok,\"a\0b\",1\n", 12);
	ok(t == NULL && strncmp(errbuf, NAME ":1: ", strlen(NAME ":1: ")) == 0,
	    "NUL byte in username refused: %s", errbuf);

	/* A quote error must not echo the line, which holds the token. */
	parse("SECRETTOKEN,\"ed\"x,1\n");
	ok(strstr(errbuf, "SECRET") == NULL, "error hides the token: %s",
	    errbuf);
	parse("SECRETTOKEN,u\n");
	ok(strstr(errbuf, "SECRET") == NULL, "short record hides the token");
}

static void
test_long_token(void)
{
	struct static_table	*t;
	char			*data;
	size_t			 n = TR_MAX_TOKEN + 1;

	data = xmalloc(n + 32);
	memset(data, 'k', n);
	memcpy(data + n, ",u,1\n", 6);
	t = parse(data);
	ok(t == NULL, "token longer than TR_MAX_TOKEN refused");
	ok(strncmp(errbuf, NAME ":1: ", strlen(NAME ":1: ")) == 0 &&
	    strstr(errbuf, "kkkk") == NULL, "error: %s", errbuf);
	static_table_free(t);

	memcpy(data + TR_MAX_TOKEN, ",u,1\n", 6);
	t = parse(data);
	ok(t != NULL, "token of exactly TR_MAX_TOKEN bytes accepted");
	ok(static_table_lookup(t, data, TR_MAX_TOKEN, NULL),
	    "and found");
	static_table_free(t);
	free(data);
}

static void
test_whitespace_lines(void)
{
	struct static_table	*t;
	const char		*u;

	t = parse(" tokF,frank,1006\n");
	check_user(t, " tokF", 5, "frank", "1006", "", "case 29 space kept");
	ok(!lookup(t, "tokF"), "case 29: tokF without the space is not found");
	static_table_free(t);

	t = parse("\n\r\ntokG,gina,1\r\n\r\n\ntokH,hank,2,\"a,b\"\r\n\n");
	ok(t != NULL && warns.count == 0, "case 30: empty lines, CRLF: %s",
	    errbuf);
	check_user(t, "tokG", 4, "gina", "1", "", "case 30 CRLF");
	check_user(t, "tokH", 4, "hank", "2", "a|b", "case 30 quoted+CRLF");
	static_table_free(t);

	t = parse("tokI,ivy,1\r");
	check_user(t, "tokI", 4, "ivy", "1", "", "final \\r dropped");
	static_table_free(t);

	t = parse("tokJ,j\rk,1\n");
	ok(t != NULL && static_table_lookup(t, "tokJ", 4, &u) &&
	    strcmp(u, "j\rk") == 0, "lone \\r inside a line is data");
	static_table_free(t);

	t = parse("");
	ok(t != NULL && static_table_count(t) == 0, "empty file: no tokens");
	ok(!lookup(t, "x"), "empty table lookup");
	static_table_free(t);

	t = parse("\n\n\r\n");
	ok(t != NULL && static_table_count(t) == 0, "blank file: no tokens");
	static_table_free(t);
}

static void
test_quoting(void)
{
	struct static_table	*t;
	const char		*u;

	t = parse("\"multi\nline\",mona,1\n"
	    "tokK,\"first\r\nsecond\",2\n"
	    "\"a\"\"b\",\"say \"\"hi\"\"\",3\n"
	    "\"x,y\",xy,4\n"
	    "\"\"\"\",q,5\n"
	    "tokL,\"\",\"\",\"\"\n");
	ok(t != NULL, "quoted fields parse: %s", errbuf);
	check_user(t, "multi\nline", 10, "mona", "1", "", "newline in token");
	ok(static_table_lookup(t, "tokK", 4, &u) &&
	    strcmp(u, "first\nsecond") == 0, "CRLF in quoted field is \\n");
	check_user(t, "a\"b", 3, "say \"hi\"", "3", "", "\"\" escapes");
	check_user(t, "x,y", 3, "xy", "4", "", "comma in quoted token");
	check_user(t, "\"", 1, "q", "5", "", "token of one quote");
	check_user(t, "tokL", 4, "", NULL, "", "empty quoted fields");
	is_int(static_table_count(t), 6, "six tokens");
	static_table_free(t);

	t = parse("#x,y,z\n");
	check_user(t, "#x", 2, "y", "z", "", "# is not a comment");
	static_table_free(t);

	t = parse("\xef\xbb\xbftokB,bob,1\n");
	ok(t != NULL && !lookup(t, "tokB") && lookup(t, "\xef\xbb\xbftokB"),
	    "BOM is part of the first token");
	static_table_free(t);

	t = parse(",nobody,1\ntokM,m,1\n");
	ok(t != NULL && static_table_count(t) == 1, "empty token skipped");
	ok(warns.count == 1 && strstr(warns.text, NAME ":1:") != NULL &&
	    strstr(warns.text, "empty token") != NULL,
	    "empty token warned: %s", warns.text);
	static_table_free(t);

	t = parse_len("to\0k,nul,1\n", 11);
	ok(t != NULL && static_table_lookup(t, "to\0k", 4, NULL),
	    "NUL in the token is data");
	static_table_free(t);
}

static void
test_many(void)
{
	struct static_table	*t;
	char			*data, tok[64], want[64];
	const char		*u;
	size_t			 cap = 100000 * 64, len = 0, i;
	int			 good = 1;

	data = xmalloc(cap);
	for (i = 0; i < 100000; i++) {
		len += (size_t)snprintf(data + len, cap - len,
		    "token-%06zu-abcdefghij,user%zu,%zu,\"g%zu,all\"\n",
		    i, i, 1000 + i, i % 10);
	}
	t = parse_len(data, len);
	ok(t != NULL, "100000 tokens parse: %s", errbuf);
	is_int(static_table_count(t), 100000, "100000 entries");
	is_int(warns.count, 0, "no warnings");
	for (i = 0; i < 100000 && t != NULL; i += 997) {
		snprintf(tok, sizeof(tok), "token-%06zu-abcdefghij", i);
		snprintf(want, sizeof(want), "user%zu", i);
		if (!static_table_lookup(t, tok, strlen(tok), &u) ||
		    strcmp(u, want) != 0)
			good = 0;
	}
	ok(good, "sampled lookups find the right users");
	check_user(t, "token-099999-abcdefghij", 23, "user99999", "100999",
	    "g9|all", "last entry");
	ok(!lookup(t, "token-100000-abcdefghij"), "absent token");
	static_table_free(t);
	free(data);
}

/*
 * Line i of the streamed file: every 1000th has a token with a line end
 * in quotes (the record spans two lines), and one has 200,000 extra
 * fields, a line longer than the first window.
 */
static void
stream_line(FILE *f, size_t i)
{
	size_t	j;

	if (i % 1000 == 7)
		fprintf(f, "\"tok-%06zu\nx\",user%zu,%zu,\"g%zu,all\"\n", i,
		    i, i, i % 10);
	else if (i == 54321) {
		fprintf(f, "tok-%06zu,user%zu,%zu,\"g%zu,all\"", i, i, i,
		    i % 10);
		for (j = 0; j < 200000; j++)
			fputc(',', f);
		fputc('\n', f);
	} else
		fprintf(f, "tok-%06zu,user%zu,%zu,\"g%zu,all\"\n", i, i, i,
		    i % 10);
}

/* Write n lines to path, line bad (if not 0) broken; then read it. */
static struct static_table *
stream_file(const char *path, size_t n, size_t bad, size_t max)
{
	struct static_table	*t;
	FILE			*f;
	size_t			 i, line = 1;
	int			 fd;

	if ((f = fopen(path, "w")) == NULL)
		fatal("fopen %s", path);
	for (i = 0; i < n; i++) {
		if (bad != 0 && line == bad)
			fprintf(f, "tok-broken,only-two-fields\n");
		else
			stream_line(f, i);
		line += i % 1000 == 7 ? 2 : 1;
	}
	fclose(f);
	if ((fd = open(path, O_RDONLY)) == -1)
		fatal("open %s", path);
	memset(&warns, 0, sizeof(warns));
	errbuf[0] = '\0';
	t = static_table_read(fd, max, NAME, collect_warn, &warns, errbuf,
	    sizeof(errbuf));
	close(fd);
	return t;
}

/* A file of 100,000 tokens read a window at a time: every token found. */
static void
test_stream(void)
{
	struct static_table	*t;
	char			 dir[] = "/tmp/test_static.XXXXXX";
	char			 path[256], tok[64], want[64];
	const char		*u;
	size_t			 i, found = 0;

	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	snprintf(path, sizeof(path), "%s/big.csv", dir);
	t = stream_file(path, 100000, 0, 64 * 1024 * 1024);
	ok(t != NULL, "100000 tokens streamed: %s", errbuf);
	is_int(static_table_count(t), 100000, "streamed: 100000 entries");
	is_int(warns.count, 1, "streamed: one warning (the long line)");
	for (i = 0; i < 100000 && t != NULL; i++) {
		if (i % 1000 == 7)
			snprintf(tok, sizeof(tok), "tok-%06zu\nx", i);
		else
			snprintf(tok, sizeof(tok), "tok-%06zu", i);
		snprintf(want, sizeof(want), "user%zu", i);
		if (static_table_lookup(t, tok, strlen(tok), &u) &&
		    strcmp(u, want) == 0)
			found++;
	}
	is_int(found, 100000, "streamed: every token found, right user");
	check_user(t, "tok-054321", 10, "user54321", "54321", "g1|all",
	    "streamed: the line longer than the window");
	static_table_free(t);

	/* Line 100,099: 100,000 lines, plus one per two-line record. */
	t = stream_file(path, 100000, 100099, 64 * 1024 * 1024);
	ok(t == NULL && strcmp(errbuf, NAME ":100099: 2 fields, need at "
	    "least 3: token,username,uid[,groups]") == 0,
	    "streamed: a bad line is named by its number: %s", errbuf);
	t = stream_file(path, 1000, 0, 1000);
	ok(t == NULL && strcmp(errbuf, NAME ": larger than 1000 bytes") == 0,
	    "streamed: a file that grows past the bound: %s", errbuf);
	unlink(path);
	rmdir(dir);
}

static void
quiet_warn(const char *msg, void *arg)
{
	(*(int *)arg)++;
}

/* Random bytes and mutated files: never a crash, always a clean answer. */
static void
test_random(void)
{
	static const char	 alphabet[] = "\",\r\n a#\"\",";
	static const char	 seed[] = "tokA,alice,1001,\"ops,dev\"\r\n"
	    "tokB,bob,1002\n\n\"q\"\"t\",\"x\ny\",3,g,h\n";
	struct static_table	*t;
	char			 buf[256], err[TR_ERRLEN];
	size_t			 len, i, j, bad = 0;
	int			 iter, nwarn = 0, n_ok = 0, n_err = 0;

	srandom(4242);
	for (iter = 0; iter < 200000; iter++) {
		if (iter % 2 == 0) {
			len = (size_t)random() % sizeof(buf);
			for (i = 0; i < len; i++) {
				buf[i] = random() % 4 == 0 ?
				    (char)random() : alphabet[random() %
				    (sizeof(alphabet) - 1)];
			}
		} else {
			len = sizeof(seed) - 1;
			memcpy(buf, seed, len);
			for (j = (size_t)random() % 4 + 1; j > 0; j--) {
				i = (size_t)random() % len;
				if (random() % 3 == 0 && len > 1) {
					memmove(buf + i, buf + i + 1,
					    len - i - 1);
					len--;
				} else
					buf[i] = alphabet[random() %
					    (sizeof(alphabet) - 1)];
			}
		}
		err[0] = '\0';
		t = static_table_parse(buf, len, NAME, quiet_warn, &nwarn, err,
		    sizeof(err));
		if (t == NULL) {
			n_err++;
			if (strncmp(err, NAME ":", strlen(NAME ":")) != 0)
				bad++;
		} else {
			n_ok++;
			if (static_table_count(t) > len / 5 + 1)
				bad++;
		}
		static_table_free(t);
	}
	ok(bad == 0, "random input: %d parsed, %d refused, %zu bad", n_ok,
	    n_err, bad);
	ok(n_ok > 1000 && n_err > 1000, "both outcomes were exercised");
}

/* A config holding one [static] section with the given keys. */
struct fake_conf {
	struct config		conf;
	struct conf_section	sec;
	struct conf_kv		kv[2];
};

static void
fake_conf_init(struct fake_conf *fc, const char *file, const char *extra)
{
	memset(fc, 0, sizeof(*fc));
	fc->conf.path = (char *)"test.conf";
	fc->conf.sections = &fc->sec;
	fc->conf.nsections = 1;
	fc->sec.type = (char *)"static";
	fc->sec.line = 7;
	fc->sec.kv = fc->kv;
	if (file != NULL) {
		fc->kv[fc->sec.nkv].key = (char *)"file";
		fc->kv[fc->sec.nkv].value = (char *)file;
		fc->kv[fc->sec.nkv++].line = 8;
	}
	if (extra != NULL) {
		fc->kv[fc->sec.nkv].key = (char *)extra;
		fc->kv[fc->sec.nkv].value = (char *)"x";
		fc->kv[fc->sec.nkv++].line = 9;
	}
}

static void
write_file(const char *path, const char *data, mode_t mode)
{
	int	fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd == -1 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		fatal("write %s", path);
	fchmod(fd, mode);
	close(fd);
}

static void
test_backend_auth(void *shared)
{
	const struct auth_backend	*be = &auth_static_backend;
	struct auth_req			 req;
	struct auth_result		 res;
	void				*inst = NULL;

	ok(be->init(shared, NULL, &inst) == 0, "init");
	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	req.token = "tokA";
	req.token_len = 4;
	/* auth_review() hashes the token before any backend sees it. */
	sha256(req.token, req.token_len, req.token_hash);
	is_int(be->authenticate(inst, &req, &res, NULL), AUTH_OK,
	    "tokA authenticates");
	is_str(res.backend, "static", "backend name in result");
	is_str(res.username, "alice", "username in result");
	ok(res.user_json != NULL && strstr(res.user_json, "\"ops\"") != NULL,
	    "user_json in result");
	free(res.username);
	free(res.user_json);
	memset(&res, 0, sizeof(res));
	req.token = "nope";
	sha256(req.token, req.token_len, req.token_hash);
	is_int(be->authenticate(inst, &req, &res, NULL), AUTH_DENY,
	    "unknown token denied");
	ok(res.username == NULL, "nothing set on deny");
	be->cancel(inst, &req);
	be->free(inst);
}

static void
test_backend_extras(void *shared, const char *path)
{
	const struct auth_backend	*be = &auth_static_backend;
	struct evbuffer			*ev = evbuffer_new();
	const char			*paths[4];
	char				*text, want[512];
	size_t				 n;

	ok(be->ready(shared) == 1, "ready");
	n = be->watch(shared, paths, 4);
	ok(n == 1 && strcmp(paths[0], path) == 0, "watch gives the file");
	is_int(be->watch(shared, paths, 0), 0, "watch respects max");
	be->metrics(shared, ev);
	n = evbuffer_get_length(ev);
	text = xmalloc(n + 1);
	evbuffer_remove(ev, text, n);
	text[n] = '\0';
	snprintf(want, sizeof(want),
	    "tokenreviewd_static_tokens{file=\"%s\"} 2\n", path);
	ok(strstr(text, want) != NULL &&
	    strstr(text, "# TYPE tokenreviewd_static_tokens gauge\n") != NULL &&
	    strstr(text, "# HELP tokenreviewd_static_tokens ") != NULL,
	    "metrics text has HELP, TYPE and the gauge");
	if (strstr(text, want) == NULL)
		diag("metrics text:\n%s", text);
	free(text);
	evbuffer_free(ev);
}

static void
test_backend(void)
{
	const struct auth_backend	*be = &auth_static_backend;
	struct fake_conf		 fc;
	char				 dir[] = "/tmp/test_static.XXXXXX";
	char				 path[256], err[TR_ERRLEN];
	void				*shared = NULL;

	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	snprintf(path, sizeof(path), "%s/tokens.csv", dir);
	is_str(be->name, "static", "backend name");

	write_file(path, "tokA,alice,1,\"ops,dev\"\ntokB,bob,2\n", 0600);
	fake_conf_init(&fc, path, NULL);
	ok(be->load(&fc.conf, &shared, err, sizeof(err)) == 0,
	    "load: %s", err);
	if (shared != NULL) {
		test_backend_auth(shared);
		test_backend_extras(shared, path);
	} else
		skip(11, "load failed");
	be->unload(shared);
	be->unload(NULL);

	fake_conf_init(&fc, NULL, NULL);
	ok(be->load(&fc.conf, &shared, err, sizeof(err)) != 0 &&
	    strstr(err, "file is required") != NULL && shared == NULL,
	    "missing file key: %s", err);
	fake_conf_init(&fc, path, "flie");
	ok(be->load(&fc.conf, &shared, err, sizeof(err)) != 0 &&
	    strstr(err, "flie") != NULL && strstr(err, "test.conf:9") != NULL,
	    "unknown key: %s", err);

	write_file(path, "tokA,alice,1\n", 0640);
	fake_conf_init(&fc, path, NULL);
	ok(be->load(&fc.conf, &shared, err, sizeof(err)) != 0 &&
	    strstr(err, "test.conf:8") != NULL && strstr(err, "0640") != NULL,
	    "group-readable file refused: %s", err);

	write_file(path, "tokA,alice,1\nbad\n", 0600);
	ok(be->load(&fc.conf, &shared, err, sizeof(err)) != 0 &&
	    strncmp(err, path, strlen(path)) == 0 &&
	    strstr(err, ":2: ") != NULL, "parse error names file: %s", err);

	fc.sec.type = (char *)"other";
	ok(be->load(&fc.conf, &shared, err, sizeof(err)) != 0 &&
	    strstr(err, "[static]") != NULL, "no section: %s", err);

	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	log_init(LL_ERROR);
	test_fixture_f();
	test_columns();
	test_errors();
	test_long_token();
	test_whitespace_lines();
	test_quoting();
	test_many();
	test_stream();
	test_random();
	test_backend();
	return done_testing();
}
