/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The rows of a token file being imported into the token database
 * (tokenreviewctl token import): kube-apiserver's static token file,
 * "token,user,uid[,groups]" per line, where only tokens of the database's
 * shape ([a-z0-9]{6}.[a-z0-9]{16}) can move.  The line comes from a file
 * an operator hands over and may hold anything: every bad line gets a
 * reason, and the secret is wiped from it, keeping only its hash.  Apart
 * from the database so that it can be tested and fuzzed alone.
 */

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tokenreviewd.h"
#include "tokendb.h"

/*
 * The fields of one CSV line, with the quoting of kube-apiserver's token
 * file ("a,b" holds a comma, "" a quote).  A quoted field spanning lines
 * is not supported here.  NULL on a quote error.
 */
static char **
csv_fields(const char *line, size_t *n)
{
	struct strvec	 f = STRVEC_INITIALIZER;
	char		*buf;
	size_t		 len = 0;
	int		 quoted;

	*n = 0;
	buf = xmalloc(strlen(line) + 1);
	for (;;) {
		len = 0;
		if ((quoted = (*line == '"')))
			line++;
		while (*line != '\0') {
			if (quoted && *line == '"' && line[1] == '"') {
				buf[len++] = '"';
				line += 2;
			} else if (quoted && *line == '"') {
				quoted = 0;
				if (*++line != ',' && *line != '\0')
					goto bad;
			} else if (!quoted && *line == ',')
				break;
			else if (!quoted && *line == '"')
				goto bad;
			else
				buf[len++] = *line++;
		}
		if (quoted)
			goto bad;
		buf[len] = '\0';
		strvec_add(&f, buf);
		if (*line++ != ',')
			break;
	}
	OPENSSL_cleanse(buf, len);
	free(buf);
	*n = strvec_count(&f);
	return strvec_take(&f);
bad:
	OPENSSL_cleanse(buf, len);
	free(buf);
	if (strvec_count(&f) > 0)
		OPENSSL_cleanse(f.v[0], strlen(f.v[0]));
	strvec_free(&f);
	return NULL;
}

/* Column 4 of a token file: groups split on ",", empty names dropped. */
static char **
csv_split_groups(const char *s)
{
	struct strvec	 list = STRVEC_INITIALIZER;
	size_t		 len;

	for (;;) {
		len = strcspn(s, ",");
		if (len > 0)
			strvec_add_take(&list, xstrndup(s, len));
		if (s[len] == '\0')
			break;
		s += len + 1;
	}
	return strvec_take(&list);
}

const char *
tokendb_csv_parse(char *line, long long now, struct tokendb_token *tok)
{
	char		 secret[TOKENDB_SECRET_LEN + 1], **f;
	const char	*bad = NULL;
	size_t		 n;

	memset(tok, 0, sizeof(*tok));
	memset(secret, 0, sizeof(secret));
	if ((f = csv_fields(line, &n)) == NULL || n < 3) {
		bad = f == NULL ? "bad quoting" : "fewer than 3 fields";
		goto out;
	}
	if (tokendb_parse_token(f[0], strlen(f[0]), tok->id, secret) != 0) {
		bad = "the token is not of the form [a-z0-9]{6}.[a-z0-9]{16}; "
		    "keep it in the static token file";
		goto out;
	}
	tokendb_hash_secret(secret, tok->secret_hash);
	tok->username = xstrdup(f[1]);
	tok->uid = *f[2] != '\0' ? xstrdup(f[2]) : NULL;
	tok->groups = csv_split_groups(n > 3 ? f[3] : "");
	tok->extra_keys = xcalloc(1, sizeof(char *));
	tok->extra_values = xcalloc(1, sizeof(char **));
	tok->usages = xstrdup("authentication");
	tok->description = xstrdup("imported");
	tok->created = now;
	tok->uses_left = -1;
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	if (f != NULL)
		OPENSSL_cleanse(f[0], strlen(f[0]));
	free_words(f);
	OPENSSL_cleanse(line, strlen(line));
	return bad;
}
