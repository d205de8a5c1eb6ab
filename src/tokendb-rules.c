/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The rules of the token database that hold whatever engine stores the
 * rows: the bootstrap-token shape of ids and secrets and their
 * generation, how a secret is hashed, lifetimes, bootstrap groups and
 * usages, when a row lets a token in, the JSON text of a row's groups and
 * extra, and the causes a failed call's message may name.  Pure code,
 * shared by both engines, the daemon's source and tokenreviewctl; it calls
 * nothing of the dispatcher or of an engine.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "tokenreviewd.h"
#include "tokendb.h"

#define TOKENDB_ALPHABET	"0123456789abcdefghijklmnopqrstuvwxyz"
#define TOKENDB_MAX_TTL		(100LL * 366 * 86400)	/* 100 years */

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

/* ------------------------------------------------------------ JSON fields */

static char **
rules_json_list(json_t *a)
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
rules_list_json(char *const *list)
{
	json_t	*a = json_array();
	size_t	 i;

	for (i = 0; list != NULL && list[i] != NULL; i++)
		json_array_append_new(a, json_string(list[i]));
	return a;
}

static char *
rules_dump(json_t *j)
{
	char	*s, *r;

	if ((s = json_dumps(j, JSON_COMPACT)) == NULL)
		fatalx("json_dumps failed");
	r = xstrdup(s);
	free(s);
	json_decref(j);
	return r;
}

/*
 * The strings of a list in the one shape jansson writes for plain text
 * (JSON_COMPACT): [], or ["a","b"] with printable ASCII and no escapes.
 * Such text reads the same without a JSON parser, which every review of
 * a row would otherwise run; NULL for any other text (spaces, escapes,
 * UTF-8, numbers, junk), which goes through jansson as before.
 */
static char **
rules_plain_list(const char *text)
{
	const char	*p, *end;
	char		**list;
	size_t		  n = 0;

	if (text == NULL || *text != '[')
		return NULL;
	if (strcmp(text, "[]") == 0)
		return xcalloc(1, sizeof(char *));
	for (p = text + 1; *p == '"'; p = end + 2) {
		for (end = p + 1; *end != '"'; end++) {
			if (*end < 0x20 || *end > 0x7e || *end == '\\')
				return NULL;
		}
		n++;
		if (end[1] == ']' && end[2] == '\0')
			break;
		if (end[1] != ',')
			return NULL;
	}
	if (*p != '"')
		return NULL;
	list = xcalloc(n + 1, sizeof(*list));
	for (n = 0, p = text + 1; *p == '"'; p = end + 2) {
		end = strchr(p + 1, '"');
		list[n++] = xstrndup(p + 1, (size_t)(end - p - 1));
	}
	return list;
}

static void
rules_parse_groups(struct tokendb_token *tok, const char *text)
{
	json_t	*a;

	if ((tok->groups = rules_plain_list(text)) != NULL)
		return;
	a = json_loads(text != NULL ? text : "[]", 0, NULL);
	if (!json_is_array(a)) {
		json_decref(a);
		a = json_array();
	}
	tok->groups = rules_json_list(a);
	json_decref(a);
}

static void
rules_parse_extra(struct tokendb_token *tok, const char *text)
{
	json_t		*o, *v;
	const char	*k;
	size_t		 n = 0;

	/* What a row without extra holds: no parser needed. */
	if (text != NULL && strcmp(text, "{}") == 0) {
		tok->extra_keys = xcalloc(1, sizeof(char *));
		tok->extra_values = xcalloc(1, sizeof(char **));
		return;
	}
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
		tok->extra_values[n++] = rules_json_list(v);
	}
	json_decref(o);
}

char *
tokendb_extra_json(const struct tokendb_token *tok)
{
	json_t	*o = json_object();
	size_t	 i;

	for (i = 0; tok->extra_keys != NULL && tok->extra_keys[i] != NULL; i++)
		json_object_set_new(o, tok->extra_keys[i],
		    rules_list_json(tok->extra_values[i]));
	return rules_dump(o);
}

void
tokendb_token_set_json(struct tokendb_token *tok, const char *groups,
    const char *extra)
{
	rules_parse_groups(tok, groups);
	rules_parse_extra(tok, extra);
}

char *
tokendb_groups_json(const struct tokendb_token *tok)
{
	return rules_dump(rules_list_json(tok->groups));
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

/* ------------------------------------------------------------ pure rules */

static int
rules_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int
tokendb_valid_id(const char *id)
{
	size_t	i;

	for (i = 0; i < TOKENDB_ID_LEN; i++) {
		if (!rules_token_char(id[i]))
			return 0;
	}
	return id[i] == '\0';
}

/* A jti is base64url text: what /login mints, and nothing to escape. */
int
tokendb_valid_jti(const char *jti)
{
	size_t	i;

	for (i = 0; jti[i] != '\0'; i++) {
		if (i == TOKENDB_JTI_MAX || !((jti[i] >= 'a' &&
		    jti[i] <= 'z') || (jti[i] >= 'A' && jti[i] <= 'Z') ||
		    (jti[i] >= '0' && jti[i] <= '9') || jti[i] == '-' ||
		    jti[i] == '_'))
			return 0;
	}
	return i > 0;
}

void
tokendb_session_clear(struct tokendb_session *s)
{
	if (s == NULL)
		return;
	free(s->jti);
	free(s->username);
	free(s->client);
	memset(s, 0, sizeof(*s));
}

void
tokendb_sessions_free(struct tokendb_session *s, size_t n)
{
	size_t	i;

	for (i = 0; s != NULL && i < n; i++)
		tokendb_session_clear(&s[i]);
	free(s);
}

int
tokendb_parse_token(const char *s, size_t len, char *id, char *secret)
{
	size_t	i;

	if (len != TOKENDB_TOKEN_LEN || s[TOKENDB_ID_LEN] != '.')
		return -1;
	for (i = 0; i < len; i++) {
		if (i != TOKENDB_ID_LEN && !rules_token_char(s[i]))
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
rules_random_chars(char *out, size_t n)
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

void
tokendb_hash_secret(const char *secret, uint8_t hash[TR_SHA256_LEN])
{
	sha256(secret, TOKENDB_SECRET_LEN, hash);
}

int
tokendb_generate(char *id, char *secret)
{
	if (rules_random_chars(id, TOKENDB_ID_LEN) != 0 ||
	    rules_random_chars(secret, TOKENDB_SECRET_LEN) != 0)
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
	if (n < 1 || n > 256 || !rules_token_char(g[n - 1]))
		return 0;
	for (i = 0; i < n; i++) {
		if (!rules_token_char(g[i]) && g[i] != ':' && g[i] != '-')
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

int
tokendb_token_usable(const struct tokendb_token *tok,
    const uint8_t hash[TR_SHA256_LEN], long long now)
{
	return ct_equal(hash, tok->secret_hash, TR_SHA256_LEN) &&
	    !tok->revoked && (tok->expires == 0 || now < tok->expires) &&
	    tokendb_usage_auth(tok->usages) && tok->uses_left != 0;
}
