/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: token files.  A file that loads is read again here by
 * a second, deliberately plain CSV reader written from the rules of Go's
 * encoding/csv (as kube-apiserver reads the file): every record it finds
 * must agree with the table, token by token, on the user, the uid and the
 * groups, and the table must hold no other token.  A file this reader
 * finds malformed must not have loaded.
 */

#include <stdlib.h>
#include <string.h>

#include "tokenreviewd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

struct field {
	char	*s;		/* decoded, NUL-terminated */
	size_t	 len;
};

struct record {
	struct field	 f[4];	/* token, user, uid, groups; rest ignored */
	size_t		 n;	/* fields on the line */
};

static void
quiet(const char *msg, void *arg)
{
}

/* \r\n is \n everywhere, and a \r that ends the data is dropped. */
static char *
normalise(const uint8_t *data, size_t len, size_t *outlen)
{
	char	*out = xmalloc(len + 1);
	size_t	 i, n = 0;

	for (i = 0; i < len; i++) {
		if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
			continue;
		if (data[i] == '\r' && i + 1 == len)
			continue;
		out[n++] = (char)data[i];
	}
	out[n] = '\0';
	*outlen = n;
	return out;
}

/* One field at *pos; -1 if it breaks the quoting rules. */
static int
read_field(const char *b, size_t n, size_t *pos, struct field *f)
{
	size_t	i = *pos, k = 0;

	f->s = xmalloc(n - i + 1);
	if (i < n && b[i] == '"') {
		for (i++;; i++) {
			if (i == n)
				return -1;	/* no closing quote */
			if (b[i] == '"' && i + 1 < n && b[i + 1] == '"')
				f->s[k++] = b[i++];
			else if (b[i] == '"')
				break;
			else
				f->s[k++] = b[i];
		}
		i++;
		if (i < n && b[i] != ',' && b[i] != '\n')
			return -1;	/* text after the closing quote */
	} else {
		for (; i < n && b[i] != ',' && b[i] != '\n'; i++) {
			if (b[i] == '"')
				return -1;	/* quote in a bare field */
			f->s[k++] = b[i];
		}
	}
	f->s[k] = '\0';
	f->len = k;
	*pos = i;
	return 0;
}

static void
record_clear(struct record *r)
{
	size_t	i;

	for (i = 0; i < 4; i++)
		free(r->f[i].s);
	memset(r, 0, sizeof(*r));
}

/* The next record from *pos; 1, 0 at the end, -1 if malformed. */
static int
read_record(const char *b, size_t n, size_t *pos, struct record *r)
{
	struct field	f;

	memset(r, 0, sizeof(*r));
	while (*pos < n && b[*pos] == '\n')
		(*pos)++;			/* empty lines */
	if (*pos == n)
		return 0;
	for (;;) {
		memset(&f, 0, sizeof(f));
		if (read_field(b, n, pos, &f) != 0) {
			free(f.s);
			return -1;
		}
		if (r->n < 4)
			r->f[r->n] = f;
		else
			free(f.s);
		r->n++;
		if (*pos < n && b[*pos] == ',') {
			(*pos)++;
			continue;
		}
		if (*pos < n)
			(*pos)++;		/* the '\n' */
		return 1;
	}
}

/*
 * The answer r must give, built from the fields this reader found: the
 * table's own layout (shared group lists, offsets) is not assumed.
 */
static char *
expected(const struct record *r)
{
	char	**groups, *g, *p, *json;
	size_t	  n = 0;

	groups = xcalloc(r->f[3].len / 2 + 2, sizeof(*groups));
	for (g = r->n > 3 ? r->f[3].s : NULL; g != NULL; g = p) {
		if ((p = strchr(g, ',')) != NULL)
			*p++ = '\0';
		if (*g != '\0' && !auth_group_implied(g))
			groups[n++] = g;
	}
	json = auth_user_json(r->f[1].s, r->f[2].len > 0 ? r->f[2].s : NULL,
	    groups, NULL, NULL);
	free(groups);
	return json;
}

/* Check every record (the last of a repeated token wins) against t. */
static void
check(const struct static_table *t, struct record *recs, size_t nrecs)
{
	const char	*rec;
	char		*want, *json;
	size_t		 i, j, distinct = 0;

	for (i = 0; i < nrecs; i++) {
		if (recs[i].f[0].len == 0)
			continue;		/* empty token: skipped */
		for (j = i + 1; j < nrecs; j++) {
			if (recs[j].f[0].len == recs[i].f[0].len &&
			    memcmp(recs[j].f[0].s, recs[i].f[0].s,
			    recs[i].f[0].len) == 0)
				break;
		}
		if (j < nrecs)
			continue;		/* a later line wins */
		distinct++;
		if (!static_table_lookup(t, recs[i].f[0].s, recs[i].f[0].len,
		    &rec))
			abort();
		want = expected(&recs[i]);
		json = static_record_json(rec);
		if (strcmp(json, want) != 0)
			abort();
		free(want);
		free(json);
	}
	if (static_table_count(t) != distinct)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct static_table	*t;
	struct record		*recs = NULL;
	char			 err[TR_ERRLEN], *b;
	size_t			 n, pos = 0, nrecs = 0, i;
	int			 r;

	t = static_table_parse((const char *)data, len, "fuzz", quiet, NULL,
	    err, sizeof(err));
	if (t == NULL)
		return 0;
	b = normalise(data, len, &n);
	for (;;) {
		recs = xreallocarray(recs, nrecs + 1, sizeof(*recs));
		if ((r = read_record(b, n, &pos, &recs[nrecs])) != 1)
			break;
		/* A short line would have refused the whole file. */
		if (recs[nrecs].n < 3)
			abort();
		nrecs++;
	}
	if (r < 0)
		abort();		/* loaded, yet malformed here */
	check(t, recs, nrecs);
	for (i = 0; i <= nrecs; i++)
		record_clear(&recs[i]);
	free(recs);
	free(b);
	static_table_free(t);
	return 0;
}
