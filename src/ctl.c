/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * tokenreviewctl: the operator's tool.  check-config loads a configuration
 * exactly as the daemon would (certificates, token files and all) and says
 * what is wrong; review runs one token through the same chain the daemon
 * uses and prints the TokenReview it would answer.  token manages the
 * token database (when built with it); session, its login sessions
 * (ctl-session.c).
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "tokenreviewd.h"
#include "ctl.h"
#include "tokendb.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: tokenreviewctl [-c config] check-config\n"
	    "       tokenreviewctl [-c config] review [-a audience]... "
	    "[--v1beta1] TOKEN|-\n"
	    "       tokenreviewctl init [--name DNS]... [--ip ADDR]... "
	    "[options] DIR\n"
#ifdef HAVE_TOKENDB
	    "       tokenreviewctl [-c config] token create|list|show|revoke|"
	    "delete|prune|import|export ...\n"
	    "       tokenreviewctl [-c config] session list|revoke|prune ...\n"
#endif
	    "  review exits 0 if the token is authenticated, 1 if not, "
	    "2 on error;\n"
	    "  '-' reads the token from standard input, keeping it out of "
	    "ps(1).\n");
}

static int
cmd_check_config(const char *path)
{
	struct runtime	*rt;
	char		 err[TR_ERRLEN];
	size_t		 i;

	if ((rt = runtime_load(path, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("%s: configuration OK; token sources:", path);
	for (i = 0; i < rt->nbackends; i++)
		printf(" %s", rt->backends[i]->name);
	printf("\n");
	runtime_unref(rt);
	return 0;
}

/* The token from stdin: one line, without its line end. */
static char *
read_token_stdin(size_t *len)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;

	if ((n = getline(&line, &cap, stdin)) < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	*len = (size_t)n;
	return line;
}

static void
review_finish(struct auth_req *req, void *arg)
{
	*(int *)arg = 1;
}

/*
 * The answer on standard output, a line on standard error; the exit
 * status: 0 authenticated, 1 not, 2 error.
 */
static int
review_report(struct auth_req *req, enum review_version version)
{
	char	*out;
	size_t	 len;

	out = review_encode(version, &req->result, &len);
	printf("%s\n", out);
	free(out);
	fprintf(stderr, "token %s: %s%s%s\n", req->token_fp,
	    req->result.rv == AUTH_OK ? "authenticated by " :
	    req->result.rv == AUTH_ERROR ? "error: " : "not authenticated",
	    req->result.rv == AUTH_OK ? req->result.backend : "",
	    req->result.rv == AUTH_ERROR ? req->result.error : "");
	if (req->result.rv == AUTH_OK)
		return 0;
	return req->result.rv == AUTH_ERROR ? 2 : 1;
}

static int
cmd_review(const char *path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "audience", required_argument, NULL, 'a' },
		{ "v1beta1", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 }
	};
	struct runtime		*rt = NULL;
	struct event_base	*base = NULL;
	struct auth_chain	*chain = NULL;
	struct auth_req		 req;
	enum review_version	 version = REVIEW_V1;
	char			*auds[TR_MAX_AUDIENCES + 1], *token = NULL;
	char			 err[TR_ERRLEN];
	size_t			 naud = 0, len = 0;
	int			 ch, done = 0, r = 2;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "a:", longopts, NULL)) != -1) {
		if (ch == 'a' && naud < TR_MAX_AUDIENCES)
			auds[naud++] = optarg;
		else if (ch == 'b')
			version = REVIEW_V1BETA1;
		else {
			usage(stderr);
			return 2;
		}
	}
	auds[naud] = NULL;
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[optind], "-") == 0)
		token = read_token_stdin(&len);
	else {
		token = xstrdup(argv[optind]);
		len = strlen(token);
	}
	if (token == NULL || len == 0) {
		fprintf(stderr, "tokenreviewctl: empty token\n");
		goto out;
	}
	if ((rt = runtime_load(path, RUNTIME_NO_TLS, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	/* The fingerprint printed below matches the daemon's log lines. */
	fingerprint_set_key(rt->fp_key, rt->fp_key_len);
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	chain = auth_chain_new(rt, base);
	memset(&req, 0, sizeof(req));
	req.token = token;
	req.token_len = len;
	req.audiences = naud > 0 ? auds : NULL;
	req.naudiences = naud;
	req.base = base;
	auth_review(chain, &req, review_finish, &done);
	while (!done && event_base_loop(base, EVLOOP_ONCE) == 0)
		;
	r = review_report(&req, version);
	auth_req_clear(&req);
out:
	auth_chain_free(chain);
	if (base != NULL)
		event_base_free(base);
	runtime_unref(rt);
	if (token != NULL) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	return r;
}

#ifdef HAVE_TOKENDB
/*
 * tokenreviewctl token: manage the token database named by the [tokendb]
 * section of the config.  Secrets are printed once, by create, and never
 * stored: the database keeps their SHA-256 only.
 */

#define CTL_BUSY_MS		2000	/* wait this long for a locked DB */
#define CTL_MAX_IMPORT		(64 * 1024 * 1024)
#define CTL_BOOTSTRAP_TTL	(24 * 3600)

struct token_opts {
	struct tokendb_token	 tok;
	const char		*ttl;
	int			 token_stdin;
	int			 json;
	/* --group and --extra, until token_opts_take() moves them to tok */
	struct strvec		 groups;
	struct strvec		 extra_keys;
	struct strvec		*extra_values;	/* one a key */
};

static void
token_usage(FILE *f)
{
	fprintf(f, "usage: tokenreviewctl [-c config] token create "
	    "[--user NAME] [--uid UID]\n"
	    "           [--group G]... [--extra KEY=VALUE]... [--ttl 24h|7d|"
	    "never]\n"
	    "           [--uses N] [--description TEXT] [--usages LIST] "
	    "[--bootstrap]\n"
	    "           [--token-stdin]\n"
	    "       tokenreviewctl [-c config] token list [-o json]\n"
	    "       tokenreviewctl [-c config] token show|revoke|delete ID\n"
	    "       tokenreviewctl [-c config] token prune|export\n"
	    "       tokenreviewctl [-c config] token import FILE\n");
}

/*
 * The database of the config's [tokendb] section, created if missing
 * (run as root, for the [server] user, as the daemon does).
 */
struct tokendb *
ctl_tokendb_open(const char *path)
{
	struct config		*conf;
	struct conf_section	*sec;
	struct conf_kv		*kv;
	struct tokendb		*db = NULL;
	char			 err[TR_ERRLEN];
	int			 created;

	if ((conf = config_load(path, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return NULL;
	}
	if ((sec = config_find_section(conf, "tokendb", NULL)) == NULL)
		fprintf(stderr, "%s: no [tokendb] section\n", path);
#ifndef HAVE_TOKENDB_PG
	else if (conf_get(sec, "url") != NULL)
		fprintf(stderr, "%s: [tokendb] url: PostgreSQL is not "
		    "supported by this build\n", path);
#endif
	else if ((kv = conf_get(sec, "url")) == NULL &&
	    (kv = conf_get(sec, "path")) == NULL)
		fprintf(stderr, "%s: [tokendb] path or url is required\n",
		    path);
	else if ((db = tokendb_create(kv->value, conf->user, CTL_BUSY_MS,
	    &created, err, sizeof(err))) == NULL)
		fprintf(stderr, "tokenreviewctl: %s\n", err);
	config_free(conf);
	return db;
}

static int
token_check_id(const char *id)
{
	if (tokendb_valid_id(id))
		return 0;
	fprintf(stderr, "tokenreviewctl: bad token id \"%s\": an id is 6 "
	    "characters a-z and 0-9\n", id);
	return -1;
}

/* "2026-05-01T12:00:00Z" into buf; "-" for 0. */
const char *
ctl_time(long long t, char *buf, size_t len)
{
	time_t		 tt = (time_t)t;
	struct tm	 tm;

	if (t == 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		return "-";
	return buf;
}

static const char *
token_status(const struct tokendb_token *tok, long long now)
{
	if (tok->revoked)
		return "revoked";
	if (tok->expires != 0 && now >= tok->expires)
		return "expired";
	if (tok->uses_left == 0)
		return "used-up";
	return "active";
}

/* JSON text of the database layer's (groups, extra) as a value. */
static json_t *
token_json_load(char *text)
{
	json_t	*j;

	if ((j = json_loads(text, 0, NULL)) == NULL)
		fatalx("json_loads failed");
	free(text);
	return j;
}

static json_t *
token_json_time(long long t)
{
	char	buf[32];

	return t == 0 ? json_null() : json_string(ctl_time(t, buf,
	    sizeof(buf)));
}

/* A row's metadata (never the secret or its hash) as a JSON object. */
static json_t *
token_json(const struct tokendb_token *tok)
{
	json_t	*o;

	o = json_pack("{s:s, s:s, s:o, s:o, s:o, s:s, s:s, s:b, s:s, s:o, "
	    "s:o, s:o, s:o, s:I}",
	    "id", tok->id, "username", tok->username,
	    "uid", tok->uid != NULL ? json_string(tok->uid) : json_null(),
	    "groups", token_json_load(tokendb_groups_json(tok)),
	    "extra", token_json_load(tokendb_extra_json(tok)),
	    "description", tok->description, "usages", tok->usages,
	    "bootstrap", tok->bootstrap,
	    "status", token_status(tok, (long long)time(NULL)),
	    "created", token_json_time(tok->created),
	    "expires", token_json_time(tok->expires),
	    "uses_left", tok->uses_left < 0 ? json_null() :
	    json_integer(tok->uses_left),
	    "last_used", token_json_time(tok->last_used),
	    "use_count", (json_int_t)tok->use_count);
	if (o == NULL)
		fatalx("json_pack failed");
	return o;
}

static int
token_collect_cb(const struct tokendb_token *tok, void *arg)
{
	json_array_append_new(arg, token_json(tok));
	return 0;
}

static int
token_table_cb(const struct tokendb_token *tok, void *arg)
{
	char	 exp[32], used[32], uses[24], *groups;

	groups = tokendb_groups_json(tok);
	if (tok->uses_left < 0)
		strlcpy(uses, "-", sizeof(uses));
	else
		snprintf(uses, sizeof(uses), "%lld", tok->uses_left);
	printf("%-6s  %-7s  %-20s  %-20s  %-9s  %s %s\n", tok->id,
	    token_status(tok, (long long)time(NULL)),
	    ctl_time(tok->expires, exp, sizeof(exp)),
	    ctl_time(tok->last_used, used, sizeof(used)), uses,
	    tok->username, groups);
	free(groups);
	return 0;
}

static int
token_print_json(json_t *j)
{
	if (json_dumpf(j, stdout, JSON_INDENT(2)) != 0)
		return 1;
	printf("\n");
	return 0;
}

static int
token_list(struct tokendb *db, int json)
{
	json_t	*a = NULL;
	char	 err[TR_ERRLEN];
	int	 r = 1;

	if (json)
		a = json_array();
	else
		printf("%-6s  %-7s  %-20s  %-20s  %-9s  %s\n", "ID", "STATUS",
		    "EXPIRES", "LAST USED", "USES LEFT", "USER GROUPS");
	if (tokendb_list(db, json ? token_collect_cb : token_table_cb, a,
	    err, sizeof(err)) != 0)
		fprintf(stderr, "tokenreviewctl: %s\n", err);
	else
		r = json ? token_print_json(a) : 0;
	json_decref(a);
	return r;
}

static int
token_show(struct tokendb *db, const char *id)
{
	struct tokendb_token	 tok;
	json_t			*j;
	char			 err[TR_ERRLEN];
	int			 found, r = 1;

	if (token_check_id(id) != 0)
		return 1;
	if ((found = tokendb_get(db, id, &tok, err, sizeof(err))) < 0)
		fprintf(stderr, "tokenreviewctl: %s\n", err);
	else if (found == 0)
		fprintf(stderr, "tokenreviewctl: no token with id %s\n", id);
	else {
		j = token_json(&tok);
		r = token_print_json(j);
		json_decref(j);
	}
	tokendb_token_clear(&tok);
	return r;
}

/* revoke or delete one id. */
static int
token_by_id(struct tokendb *db, const char *cmd, const char *id)
{
	char	err[TR_ERRLEN];
	int	r;

	if (token_check_id(id) != 0)
		return 1;
	if (strcmp(cmd, "revoke") == 0)
		r = tokendb_revoke(db, id, err, sizeof(err));
	else
		r = tokendb_delete(db, id, err, sizeof(err));
	if (r < 0) {
		fprintf(stderr, "tokenreviewctl: %s\n", err);
		return 1;
	}
	if (r == 0) {
		fprintf(stderr, "tokenreviewctl: no token with id %s\n", id);
		return 1;
	}
	printf("token %s %s\n", id, strcmp(cmd, "revoke") == 0 ? "revoked" :
	    "deleted");
	return 0;
}

static int
token_prune(struct tokendb *db)
{
	char		err[TR_ERRLEN];
	long long	n;

	if ((n = tokendb_prune(db, (long long)time(NULL), err,
	    sizeof(err))) < 0) {
		fprintf(stderr, "tokenreviewctl: %s\n", err);
		return 1;
	}
	printf("%lld expired token%s deleted\n", n, n == 1 ? "" : "s");
	return 0;
}

/* --extra KEY=VALUE: a value for KEY, which may be given again. */
static int
token_add_extra(struct token_opts *o, const char *arg)
{
	const char	*eq = strchr(arg, '=');
	char		*key;
	size_t		 i;

	if (eq == NULL || eq == arg) {
		fprintf(stderr, "tokenreviewctl: --extra needs KEY=VALUE\n");
		return -1;
	}
	key = xstrndup(arg, (size_t)(eq - arg));
	for (i = 0; i < o->extra_keys.n; i++) {
		if (strcmp(o->extra_keys.v[i], key) == 0)
			break;
	}
	if (i == o->extra_keys.n) {
		strvec_add_take(&o->extra_keys, key);
		o->extra_values = xreallocarray(o->extra_values,
		    o->extra_keys.n, sizeof(*o->extra_values));
		memset(&o->extra_values[i], 0, sizeof(*o->extra_values));
	} else
		free(key);
	strvec_add(&o->extra_values[i], eq + 1);
	return 0;
}

/* Hand the groups and extra of the options over to the token. */
static void
token_opts_take(struct token_opts *o)
{
	struct tokendb_token	*tok = &o->tok;
	size_t			 i, n = o->extra_keys.n;

	tok->groups = strvec_take(&o->groups);
	tok->extra_values = xcalloc(n + 1, sizeof(*tok->extra_values));
	for (i = 0; i < n; i++)
		tok->extra_values[i] = strvec_take(&o->extra_values[i]);
	tok->extra_keys = strvec_take(&o->extra_keys);
	free(o->extra_values);
	o->extra_values = NULL;
}

/* Free the options and the token, taken or not. */
static void
token_opts_clear(struct token_opts *o)
{
	size_t	i;

	for (i = 0; i < o->extra_keys.n; i++)
		strvec_free(&o->extra_values[i]);
	free(o->extra_values);
	o->extra_values = NULL;
	strvec_free(&o->extra_keys);
	strvec_free(&o->groups);
	tokendb_token_clear(&o->tok);
}

static int
token_create_opt(struct token_opts *o, int ch, const char *arg)
{
	struct tokendb_token	*tok = &o->tok;
	long long		 n;

	switch (ch) {
	case 'u':
		free(tok->username);
		tok->username = xstrdup(arg);
		break;
	case 'i':
		free(tok->uid);
		tok->uid = xstrdup(arg);
		break;
	case 'g':
		if (auth_group_implied(arg)) {
			fprintf(stderr, "tokenreviewctl: --group %s: only the "
			    "API server gives this group\n", arg);
			return -1;
		}
		strvec_add(&o->groups, arg);
		break;
	case 'e':
		return token_add_extra(o, arg);
	case 't':
		o->ttl = arg;
		break;
	case 'n':
		if (parse_number(arg, 1, 1000000000, &n) != 0) {
			fprintf(stderr, "tokenreviewctl: bad --uses \"%s\": "
			    "a number from 1\n", arg);
			return -1;
		}
		tok->uses_left = n;
		break;
	case 'd':
		free(tok->description);
		tok->description = xstrdup(arg);
		break;
	case 'U':
		free(tok->usages);
		tok->usages = xstrdup(arg);
		break;
	case 'b':
		tok->bootstrap = 1;
		break;
	case 's':
		o->token_stdin = 1;
		break;
	default:
		return -1;
	}
	return 0;
}

/* The groups of a bootstrap token and its user; -1 if a group is bad. */
static int
token_bootstrap(struct token_opts *o)
{
	struct tokendb_token	*tok = &o->tok;
	size_t			 i;

	if (tok->username != NULL || tok->uid != NULL ||
	    o->extra_keys.n > 0) {
		fprintf(stderr, "tokenreviewctl: a bootstrap token has no "
		    "--user, --uid or --extra\n");
		return -1;
	}
	for (i = 0; i < o->groups.n; i++) {
		if (strcmp(o->groups.v[i], "system:bootstrappers") != 0 &&
		    !tokendb_bootstrap_group(o->groups.v[i])) {
			fprintf(stderr, "tokenreviewctl: bad bootstrap group "
			    "\"%s\": it must match system:bootstrappers:"
			    "[a-z0-9:-]{0,255}[a-z0-9]\n", o->groups.v[i]);
			return -1;
		}
	}
	if (o->ttl == NULL)
		o->ttl = "24h";
	return 0;
}

/* Check the options and fill in what they leave out. */
static int
token_create_check(struct token_opts *o)
{
	struct tokendb_token	*tok = &o->tok;
	long long		 ttl;

	if (tok->bootstrap && token_bootstrap(o) != 0)
		return -1;
	if (!tok->bootstrap && (tok->username == NULL ||
	    *tok->username == '\0')) {
		fprintf(stderr, "tokenreviewctl: --user is required (or "
		    "--bootstrap)\n");
		return -1;
	}
	if (o->ttl != NULL && strcmp(o->ttl, "never") != 0) {
		if (tokendb_parse_ttl(o->ttl, &ttl) != 0) {
			fprintf(stderr, "tokenreviewctl: bad --ttl \"%s\": a "
			    "number with s, m, h or d, or never\n", o->ttl);
			return -1;
		}
		tok->expires = tok->created + ttl;
	}
	if (tok->usages == NULL)
		tok->usages = xstrdup("authentication");
	token_opts_take(o);
	return 0;
}

/* The token to store: read from stdin, or new from the CSPRNG. */
static int
token_secret(struct token_opts *o, char *id, char *secret)
{
	char	*line;
	size_t	 len = 0;
	int	 r = -1;

	if (!o->token_stdin) {
		if (tokendb_generate(id, secret) != 0)
			fprintf(stderr, "tokenreviewctl: no random bytes\n");
		else
			r = 0;
		return r;
	}
	if ((line = read_token_stdin(&len)) == NULL ||
	    tokendb_parse_token(line, len, id, secret) != 0)
		fprintf(stderr, "tokenreviewctl: the token on standard input "
		    "is not of the form [a-z0-9]{6}.[a-z0-9]{16}\n");
	else
		r = 0;
	if (line != NULL) {
		OPENSSL_cleanse(line, len);
		free(line);
	}
	return r;
}

/* Store the token under a fresh id; a taken id is drawn again. */
static int
token_store(struct tokendb *db, struct token_opts *o, char *secret)
{
	struct tokendb_token	*tok = &o->tok;
	char			 err[TR_ERRLEN], user[64];
	int			 tries, r = 0;

	for (tries = 0; tries < 10 && r == 0; tries++) {
		if (tries > 0 && (o->token_stdin ||
		    token_secret(o, tok->id, secret) != 0))
			break;
		sha256(secret, TOKENDB_SECRET_LEN, tok->secret_hash);
		if (tok->bootstrap) {
			snprintf(user, sizeof(user), "system:bootstrap:%s",
			    tok->id);
			free(tok->username);
			tok->username = xstrdup(user);
		}
		if ((r = tokendb_insert(db, tok, err, sizeof(err))) < 0)
			fprintf(stderr, "tokenreviewctl: %s\n", err);
	}
	if (r == 0)
		fprintf(stderr, "tokenreviewctl: token id %s is taken\n",
		    tok->id);
	return r == 1 ? 0 : -1;
}

static int
token_create(struct tokendb *db, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "user", required_argument, NULL, 'u' },
		{ "uid", required_argument, NULL, 'i' },
		{ "group", required_argument, NULL, 'g' },
		{ "extra", required_argument, NULL, 'e' },
		{ "ttl", required_argument, NULL, 't' },
		{ "uses", required_argument, NULL, 'n' },
		{ "description", required_argument, NULL, 'd' },
		{ "usages", required_argument, NULL, 'U' },
		{ "bootstrap", no_argument, NULL, 'b' },
		{ "token-stdin", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 }
	};
	struct token_opts	 o;
	char			 secret[TOKENDB_SECRET_LEN + 1], exp[32];
	int			 ch, r = 1;

	memset(&o, 0, sizeof(o));
	o.tok.uses_left = -1;
	o.tok.created = (long long)time(NULL);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		if (token_create_opt(&o, ch, optarg) != 0)
			goto out;
	}
	if (optind != argc) {
		token_usage(stderr);
		goto out;
	}
	if (token_create_check(&o) != 0 ||
	    token_secret(&o, o.tok.id, secret) != 0 ||
	    token_store(db, &o, secret) != 0)
		goto out;
	/* The only time the secret is ever shown. */
	printf("%s.%s\n", o.tok.id, secret);
	fprintf(stderr, "token %s for %s created, expires %s\n", o.tok.id,
	    o.tok.username, ctl_time(o.tok.expires, exp, sizeof(exp)));
	r = 0;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	token_opts_clear(&o);
	return r;
}

/*
 * An import in progress: rows parsed and not yet sent, with their line
 * numbers.  They go to the database a batch at a time, so that a server
 * over the network is not waited on once per row.
 */
#define CTL_IMPORT_BATCH	4096

struct token_import {
	struct tokendb		*db;
	const char		*file;
	long long		 now;
	struct tokendb_token	*toks;		/* CTL_IMPORT_BATCH */
	size_t			*lines;
	size_t			 n;
	size_t			 imported;
};

/* Send the parsed rows; -1 with a message naming the line refused. */
static int
token_import_flush(struct token_import *imp)
{
	char	err[TR_ERRLEN];
	size_t	i, failed = 0;
	int	r;

	r = tokendb_insert_many(imp->db, imp->toks, imp->n, &failed, err,
	    sizeof(err));
	if (r == 0)
		fprintf(stderr, "%s:%zu: token id %s already exists\n",
		    imp->file, imp->lines[failed], imp->toks[failed].id);
	else if (r < 0)
		fprintf(stderr, "tokenreviewctl: %s\n", err);
	else
		imp->imported += imp->n;
	for (i = 0; i < imp->n; i++)
		tokendb_token_clear(&imp->toks[i]);
	imp->n = 0;
	return r == 1 ? 0 : -1;
}

static int
token_import_line(struct token_import *imp, size_t lineno, char *line)
{
	const char	*bad;

	if ((bad = tokendb_csv_parse(line, imp->now,
	    &imp->toks[imp->n])) != NULL) {
		/* The rows above it first: the first error is the one told. */
		if (token_import_flush(imp) == 0)
			fprintf(stderr, "%s:%zu: %s\n", imp->file, lineno, bad);
		return -1;
	}
	imp->lines[imp->n++] = lineno;
	if (imp->n == CTL_IMPORT_BATCH)
		return token_import_flush(imp);
	return 0;
}

/* Import a token file in one transaction: every line, or none. */
static int
token_import(struct tokendb *db, const char *file)
{
	struct token_import	 imp = { .db = db, .file = file };
	char			*data, *line, *next, err[TR_ERRLEN];
	size_t			 len = 0, lineno = 0, l;
	int			 ok = 1;

	if ((data = read_file(file, CTL_MAX_IMPORT, 0, &len, err,
	    sizeof(err))) == NULL) {
		fprintf(stderr, "tokenreviewctl: %s\n", err);
		return 1;
	}
	imp.now = (long long)time(NULL);
	imp.toks = xcalloc(CTL_IMPORT_BATCH, sizeof(*imp.toks));
	imp.lines = xcalloc(CTL_IMPORT_BATCH, sizeof(*imp.lines));
	if (tokendb_begin(db, err, sizeof(err)) != 0) {
		fprintf(stderr, "tokenreviewctl: %s\n", err);
		ok = 0;
	}
	for (line = data; ok && line != NULL && *line != '\0'; line = next) {
		lineno++;
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		l = strlen(line);
		if (l > 0 && line[l - 1] == '\r')
			line[--l] = '\0';
		if (l > 0 && token_import_line(&imp, lineno, line) != 0)
			ok = 0;
	}
	if (ok && token_import_flush(&imp) != 0)
		ok = 0;
	if (tokendb_commit(db, ok, err, sizeof(err)) != 0) {
		fprintf(stderr, "tokenreviewctl: %s\n", err);
		ok = 0;
	}
	OPENSSL_cleanse(data, len);
	free(data);
	free(imp.toks);
	free(imp.lines);
	if (ok)
		printf("%zu token%s imported\n", imp.imported,
		    imp.imported == 1 ? "" : "s");
	else
		fprintf(stderr, "tokenreviewctl: nothing imported\n");
	return ok ? 0 : 1;
}

static int
cmd_token(const char *path, int argc, char **argv)
{
	struct tokendb	*db = NULL;
	const char	*cmd = argc > 1 ? argv[1] : "";
	int		 r = 2, json = 0;

	if (strcmp(cmd, "list") == 0 && argc == 4 &&
	    strcmp(argv[2], "-o") == 0 && strcmp(argv[3], "json") == 0)
		json = 1;
	else if (strcmp(cmd, "list") == 0 || strcmp(cmd, "prune") == 0 ||
	    strcmp(cmd, "export") == 0) {
		if (argc != 2)
			goto usage;
	} else if (strcmp(cmd, "show") == 0 || strcmp(cmd, "revoke") == 0 ||
	    strcmp(cmd, "delete") == 0 || strcmp(cmd, "import") == 0) {
		if (argc != 3)
			goto usage;
	} else if (strcmp(cmd, "create") != 0)
		goto usage;
	if ((db = ctl_tokendb_open(path)) == NULL)
		return 1;
	if (strcmp(cmd, "create") == 0)
		r = token_create(db, argc - 1, argv + 1);
	else if (strcmp(cmd, "list") == 0 || strcmp(cmd, "export") == 0)
		r = token_list(db, json || strcmp(cmd, "export") == 0);
	else if (strcmp(cmd, "show") == 0)
		r = token_show(db, argv[2]);
	else if (strcmp(cmd, "prune") == 0)
		r = token_prune(db);
	else if (strcmp(cmd, "import") == 0)
		r = token_import(db, argv[2]);
	else
		r = token_by_id(db, cmd, argv[2]);
	tokendb_close(db);
	return r;
usage:
	token_usage(stderr);
	return 2;
}
#endif /* HAVE_TOKENDB */

int
main(int argc, char **argv)
{
	const char	*path = SYSCONFDIR "/tokenreviewd/tokenreviewd.conf";
	int		 ch;

	/* Tokens and secrets pass through here too; see wipe.c. */
	wipe_install();
	wipe_core_off();
	log_init(LL_WARN);
	while ((ch = getopt(argc, argv, "+c:hv")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'v':
			printf("tokenreviewctl %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[0], "check-config") == 0 && argc == 1)
		return cmd_check_config(path);
	if (strcmp(argv[0], "review") == 0)
		return cmd_review(path, argc, argv);
	if (strcmp(argv[0], "init") == 0)
		return ctl_init(argc, argv);
#ifdef HAVE_TOKENDB
	if (strcmp(argv[0], "token") == 0)
		return cmd_token(path, argc, argv);
	if (strcmp(argv[0], "session") == 0)
		return ctl_session(path, argc, argv);
#endif
	usage(stderr);
	return 2;
}
