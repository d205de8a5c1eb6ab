/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * A worker's memo of the SQLite rows it accepted, so that a review of a
 * token seen before reads no row and builds no user again.  It is not a
 * result cache and bounds nothing by time: every review still opens a
 * read transaction on the file and asks its data version, which changes
 * with every commit of another connection (tokenreviewctl, the writer of
 * use counts, another daemon).  The memo holds rows of one data version;
 * a new version empties it, so an entry answers only while the row it
 * came from is unchanged in the file.  What varies per review, the
 * secret and the time, is checked on every review with the same rule as
 * a row read from the file (tokendb_token_usable()).
 *
 * Only rows that let their token in are kept, and never usage-limited
 * ones: each use of those must reach the file, and this connection's own
 * writes do not change the data version.  The table is open addressing
 * by id; when three quarters full it is emptied and filled again.
 */

#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tokenreviewd.h"
#include "tokendb.h"
#include "auth-tokendb.h"

#define TDSRC_MEMO_SLOTS	2048	/* rows a worker keeps (2^n) */

/* What a review needs of an accepted, unlimited row. */
struct tdsrc_memo_row {
	char		 id[TOKENDB_ID_LEN + 1];	/* "": a free slot */
	uint8_t		 secret_hash[TR_SHA256_LEN];
	long long	 expires;	/* 0: never */
	char		*username;
	char		*user_json;
};

struct tdsrc_memo {
	long long		 version;	/* of every row held; -1: none */
	size_t			 n;
	struct tdsrc_memo_row	 rows[TDSRC_MEMO_SLOTS];
};

struct tdsrc_memo *
tdsrc_memo_new(void)
{
	struct tdsrc_memo	*m;

	m = xcalloc(1, sizeof(*m));
	m->version = -1;
	return m;
}

/* Forget every row, wiping the hashes. */
static void
tdsrc_memo_clear(struct tdsrc_memo *m)
{
	struct tdsrc_memo_row	*r;
	size_t			 i;

	for (i = 0; i < TDSRC_MEMO_SLOTS && m->n > 0; i++) {
		r = &m->rows[i];
		if (r->id[0] == '\0')
			continue;
		free(r->username);
		free(r->user_json);
		OPENSSL_cleanse(r, sizeof(*r));
		m->n--;
	}
	m->n = 0;
}

void
tdsrc_memo_free(struct tdsrc_memo *m)
{
	if (m == NULL)
		return;
	tdsrc_memo_clear(m);
	free(m);
}

/* The slot of id: its row, or the free slot where it would go. */
static struct tdsrc_memo_row *
tdsrc_memo_slot(struct tdsrc_memo *m, const char *id)
{
	uint32_t	h = 2166136261u;
	size_t		i;

	for (i = 0; id[i] != '\0'; i++)
		h = (h ^ (unsigned char)id[i]) * 16777619u;
	for (i = h & (TDSRC_MEMO_SLOTS - 1);; i = (i + 1) &
	    (TDSRC_MEMO_SLOTS - 1)) {
		if (m->rows[i].id[0] == '\0' ||
		    strcmp(m->rows[i].id, id) == 0)
			return &m->rows[i];
	}
}

enum tdsrc_memo_answer
tdsrc_memo_review(struct tdsrc_memo *m, long long version, const char *id,
    const uint8_t *hash, long long now, long long max_ttl,
    struct auth_result *res)
{
	struct tdsrc_memo_row	*r;
	struct tokendb_token	 tok;

	if (version < 0 || version != m->version) {
		tdsrc_memo_clear(m);
		m->version = version;
		return TDSRC_MEMO_MISS;
	}
	if ((r = tdsrc_memo_slot(m, id))->id[0] == '\0')
		return TDSRC_MEMO_MISS;
	/* The row as it was read: only secret and time are left to check. */
	memset(&tok, 0, sizeof(tok));
	memcpy(tok.secret_hash, r->secret_hash, TR_SHA256_LEN);
	tok.expires = r->expires;
	tok.usages = (char *)"authentication";
	tok.uses_left = -1;
	if (!tokendb_token_usable(&tok, hash, now)) {
		OPENSSL_cleanse(tok.secret_hash, sizeof(tok.secret_hash));
		return TDSRC_MEMO_DENY;
	}
	OPENSSL_cleanse(tok.secret_hash, sizeof(tok.secret_hash));
	res->username = xstrdup(r->username);
	res->user_json = xstrdup(r->user_json);
	res->max_ttl = max_ttl;
	return TDSRC_MEMO_OK;
}

void
tdsrc_memo_put(struct tdsrc_memo *m, long long version,
    const struct tokendb_token *tok, const struct auth_result *res)
{
	struct tdsrc_memo_row	*r;

	if (version < 0 || version != m->version || tok->uses_left >= 0 ||
	    res->username == NULL || res->user_json == NULL)
		return;
	if (m->n >= TDSRC_MEMO_SLOTS / 4 * 3)
		tdsrc_memo_clear(m);
	if ((r = tdsrc_memo_slot(m, tok->id))->id[0] != '\0')
		return;
	strlcpy(r->id, tok->id, sizeof(r->id));
	memcpy(r->secret_hash, tok->secret_hash, TR_SHA256_LEN);
	r->expires = tok->expires;
	r->username = xstrdup(res->username);
	r->user_json = xstrdup(res->user_json);
	m->n++;
}
