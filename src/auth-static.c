/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The static token backend.  It reads a token file in kube-apiserver's
 * --token-auth-file format and answers from an in-memory table.  The file
 * is CSV read with the rules of Go's encoding/csv as kube-apiserver uses it
 * (strict quotes, whitespace kept, no comments, any number of fields), so
 * a file either works the same here and there or is refused here with the
 * file and line named.  Two differences are on purpose: empty group names
 * are dropped, and the user fields must be valid UTF-8 without NUL bytes,
 * since they are sent as JSON.  The table keeps only SHA-256 of each token,
 * never the token itself, and is immutable once built: a reload builds a
 * new one.  The file is read through a window of a few pages that grows
 * only for a longer line, never held whole: loading a large file costs
 * little more memory than the table it makes.
 */

#include <sys/types.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/crypto.h>

#include "tokenreviewd.h"

#define STATIC_MAX_FILE		(64 * 1024 * 1024)
#define STATIC_MIN_SLOTS	1024
#define STATIC_WINDOW		(64 * 1024)	/* first read window */
/*
 * Bytes of SHA-256 kept per token.  128 bits: finding another token that
 * matches a stored one still takes about 2^128 hashes, and a 100,000-token
 * table is 1.6 MB smaller than with the whole digest.
 */
#define STATIC_DIGEST_LEN	16
#define STATIC_FIELDS		4	/* token,username,uid,groups */
#define STATIC_MAX_WARNINGS	50	/* logged per load; then a count */

/*
 * One token: the first STATIC_DIGEST_LEN bytes of its SHA-256 and the
 * offset in the arena of its user record (see table_add_record()); the
 * arena also holds each distinct group list once (static_group_list()).  An
 * offset rather than a pointer keeps an entry at 20 bytes and lets the
 * arena be one allocation that grows by realloc.
 */
struct static_entry {
	uint8_t		digest[STATIC_DIGEST_LEN];
	uint32_t	off;
};

/*
 * While the file is read, entries are dense in file order and slots is an
 * open-addressing index (linear probing) holding 1 + entry index, 0 for
 * an empty slot, at most half full: it finds the duplicates.  The digests
 * are uniform, so their first bytes serve as the hash.  Once the file is
 * read, the entries are sorted by digest and the index gives way to a
 * directory, a quarter of its size at most: dir[b] is the first entry whose
 * top dir_bits bits are b or more, so a lookup reads one word of it and
 * then the few entries of its bucket: two cache misses (table_find()).
 */
struct static_table {
	struct static_entry	*entries;
	size_t			 nentries;
	size_t			 entries_cap;
	uint32_t		*slots;
	size_t			 nslots;	/* a power of two */
	uint32_t		*dir;		/* 2^dir_bits + 1 bucket starts */
	unsigned int		 dir_bits;
	char			*arena;
	size_t			 arena_len;
	size_t			 arena_cap;
};

struct csv_field {
	size_t	off;		/* in the record buffer; NUL-terminated */
	size_t	len;
};

/*
 * Parser state: the input, the current line and the current record.  The
 * input is a buffer given whole (fd -1), or a file read into the window:
 * [p, end) are the bytes read and not parsed yet, and the current line
 * stays valid until the next csv_read_line().
 */
struct static_parse {
	const char		*name;
	const char		*p;		/* next unread byte */
	const char		*end;
	int			 fd;
	int			 eof;		/* no more input behind end */
	char			*win;
	size_t			 wincap;
	size_t			 nread;		/* bytes read from fd */
	size_t			 max;
	const char		*line;		/* without its line end */
	size_t			 linelen;
	int			 has_nl;	/* it ended in \n or \r\n */
	size_t			 lineno;
	size_t			 recline;	/* first line of the record */

	/*
	 * The first STATIC_FIELDS fields of the record; later ones are only
	 * counted, so a line of a million commas costs nothing.
	 */
	char			*buf;
	size_t			 len;
	size_t			 cap;
	struct csv_field	 fields[STATIC_FIELDS];
	size_t			 nfields;
	int			 discard;	/* in a field past the 4th */
	char			**groups;	/* NULL-terminated */
	size_t			 groups_cap;
	uint32_t		*lines;		/* line of each entry */
	size_t			 lines_cap;
	uint32_t		*lslots;	/* index of the group lists */
	size_t			 nlslots;
	uint32_t		*loffs;		/* each list's arena offset */
	uint32_t		*lhash;		/* and its hash */
	size_t			 nlists;
	size_t			 loffs_cap;

	struct static_table	*table;
	static_warn_cb		 warn;
	void			*warn_arg;
	char			*err;
	size_t			 errlen;
};

/* What the backend shares between workers. */
struct static_shared {
	struct static_table	*table;
	char			*path;
};

static void __attribute__((format(printf, 3, 4)))
parse_error(struct static_parse *sp, size_t line, const char *fmt, ...)
{
	char	msg[TR_ERRLEN];
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(sp->err, sp->errlen, "%s:%zu: %s", sp->name, line, msg);
}

static void __attribute__((format(printf, 3, 4)))
parse_warn(struct static_parse *sp, size_t line, const char *fmt, ...)
{
	char	msg[TR_ERRLEN], full[TR_ERRLEN + 256];
	va_list	ap;

	if (sp->warn == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(full, sizeof(full), "%s:%zu: %s", sp->name, line, msg);
	sp->warn(full, sp->warn_arg);
}

/*
 * Keep the unread bytes at the start of the window, doubled if they fill
 * it, and read more of the file behind them.  0, or -1 with the error set.
 */
static int
csv_fill(struct static_parse *sp)
{
	size_t	 keep = (size_t)(sp->end - sp->p);
	char	*w;
	ssize_t	 n;

	if (keep == sp->wincap) {
		w = xmalloc(sp->wincap == 0 ? STATIC_WINDOW : 2 * sp->wincap);
		if (keep > 0)
			memcpy(w, sp->p, keep);
		if (sp->win != NULL)
			OPENSSL_cleanse(sp->win, sp->wincap);
		free(sp->win);
		sp->win = w;
		sp->wincap = sp->wincap == 0 ? STATIC_WINDOW : 2 * sp->wincap;
	} else if (keep > 0)
		memmove(sp->win, sp->p, keep);
	while ((n = read(sp->fd, sp->win + keep, sp->wincap - keep)) == -1 &&
	    errno == EINTR)
		;
	if (n == -1) {
		snprintf(sp->err, sp->errlen, "%s: %s", sp->name,
		    strerror(errno));
		return -1;
	}
	sp->eof = n == 0;
	sp->nread += (size_t)n;
	if (sp->nread > sp->max) {
		snprintf(sp->err, sp->errlen, "%s: larger than %zu bytes",
		    sp->name, sp->max);
		return -1;
	}
	sp->p = sp->win;
	sp->end = sp->win + keep + (size_t)n;
	return 0;
}

/*
 * Next physical line.  Like Go's csv reader, \r\n counts as \n, and a \r
 * that ends the data is dropped; any other \r is data.  1 for a line, 0 at
 * the end, -1 on a read error.
 */
static int
csv_read_line(struct static_parse *sp)
{
	const char	*nl = NULL;
	size_t		 n;

	/* p is NULL before the first read: no memchr() on it. */
	while ((sp->p >= sp->end || (nl = memchr(sp->p, '\n',
	    (size_t)(sp->end - sp->p))) == NULL) && !sp->eof) {
		if (csv_fill(sp) != 0)
			return -1;
	}
	if (sp->p >= sp->end)
		return 0;
	n = (size_t)(sp->end - sp->p);
	sp->line = sp->p;
	if (nl != NULL) {
		sp->linelen = (size_t)(nl - sp->p);
		sp->has_nl = 1;
		sp->p = nl + 1;
	} else {
		sp->linelen = n;
		sp->has_nl = 0;
		sp->p = sp->end;
	}
	if (sp->linelen > 0 && sp->line[sp->linelen - 1] == '\r')
		sp->linelen--;
	sp->lineno++;
	return 1;
}

static void
csv_append(struct static_parse *sp, const char *s, size_t n)
{
	size_t	want;

	if (sp->discard)
		return;
	want = sp->len + n + 1;
	if (want > sp->cap) {
		if (want < 2 * sp->cap)
			want = 2 * sp->cap;
		if (want < 256)
			want = 256;
		sp->buf = xreallocarray(sp->buf, want, 1);
		sp->cap = want;
	}
	memcpy(sp->buf + sp->len, s, n);
	sp->len += n;
}

static void
csv_field_begin(struct static_parse *sp)
{
	sp->discard = sp->nfields >= STATIC_FIELDS;
	if (!sp->discard)
		sp->fields[sp->nfields].off = sp->len;
}

/* Close the open field; the NUL lets fields be used as C strings. */
static void
csv_field_end(struct static_parse *sp)
{
	struct csv_field	*f;

	if (!sp->discard) {
		f = &sp->fields[sp->nfields];
		f->len = sp->len - f->off;
		csv_append(sp, "", 1);
	}
	sp->nfields++;
	sp->discard = 0;
}

/*
 * A field that does not start with a quote runs to the next comma or the
 * end of the line and may not contain a quote at all.  Returns 1 if a
 * comma follows, 0 at the end of the record, -1 on error.
 */
static int
csv_unquoted(struct static_parse *sp, size_t *pos)
{
	const char	*s = sp->line + *pos, *comma, *quote;
	size_t		 n = sp->linelen - *pos, flen;

	comma = memchr(s, ',', n);
	flen = comma != NULL ? (size_t)(comma - s) : n;
	if ((quote = memchr(s, '"', flen)) != NULL) {
		parse_error(sp, sp->lineno, "column %zu: bare \" in a field "
		    "that is not quoted", *pos + (size_t)(quote - s) + 1);
		return -1;
	}
	csv_field_begin(sp);
	csv_append(sp, s, flen);
	csv_field_end(sp);
	if (comma == NULL)
		return 0;
	*pos += flen + 1;
	return 1;
}

/*
 * A quoted field: "" is a quote, commas and line ends are data, and the
 * closing quote must be followed by a comma or the end of the line.
 * Returns as csv_unquoted().
 */
static int
csv_quoted(struct static_parse *sp, size_t *pos)
{
	const char	*s, *quote;
	size_t		 i = *pos + 1, n;
	int		 r;

	csv_field_begin(sp);
	for (;;) {
		s = sp->line + i;
		n = sp->linelen - i;
		if ((quote = memchr(s, '"', n)) == NULL) {
			csv_append(sp, s, n);
			if (sp->has_nl)
				csv_append(sp, "\n", 1);
			if ((r = csv_read_line(sp)) != 1) {
				if (r == 0)
					parse_error(sp, sp->recline, "quoted "
					    "field not closed before the end "
					    "of the file");
				return -1;
			}
			i = 0;
			continue;
		}
		csv_append(sp, s, (size_t)(quote - s));
		i += (size_t)(quote - s) + 1;
		if (i < sp->linelen && sp->line[i] == '"') {
			csv_append(sp, "\"", 1);
			i++;
			continue;
		}
		break;
	}
	csv_field_end(sp);
	*pos = i + 1;
	if (i == sp->linelen)
		return 0;
	if (sp->line[i] == ',')
		return 1;
	parse_error(sp, sp->lineno, "column %zu: text after the closing \" "
	    "of a quoted field", i + 1);
	return -1;
}

/* Read one record into sp->fields.  1 if read, 0 at the end, -1 on error. */
static int
csv_read_record(struct static_parse *sp)
{
	size_t	pos = 0;
	int	r;

	do {
		if ((r = csv_read_line(sp)) != 1)
			return r;
	} while (sp->linelen == 0);
	sp->recline = sp->lineno;
	sp->len = 0;
	sp->nfields = 0;
	do {
		if (pos < sp->linelen && sp->line[pos] == '"')
			r = csv_quoted(sp, &pos);
		else
			r = csv_unquoted(sp, &pos);
	} while (r == 1);
	return r == 0 ? 1 : -1;
}

static inline uint64_t
static_home(const uint8_t *digest)
{
	uint64_t	h;

	memcpy(&h, digest, sizeof(h));
	return h;
}

/* The bucket of the directory that key falls in. */
static inline size_t
table_bucket(const struct static_table *t, uint64_t key)
{
	return t->dir_bits == 0 ? 0 : (size_t)(key >> (64 - t->dir_bits));
}

/* Double the index and put every entry back in it. */
static void
table_grow(struct static_table *t)
{
	size_t	i, j, mask;

	free(t->slots);
	t->nslots = t->nslots == 0 ? STATIC_MIN_SLOTS : 2 * t->nslots;
	t->slots = xcalloc(t->nslots, sizeof(*t->slots));
	mask = t->nslots - 1;
	for (i = 0; i < t->nentries; i++) {
		j = static_home(t->entries[i].digest) & mask;
		while (t->slots[j] != 0)
			j = (j + 1) & mask;
		t->slots[j] = (uint32_t)(i + 1);
	}
}

/*
 * Add a token, or replace the one with the same digest: the last line
 * wins, as in kube-apiserver.  *idx gets the entry's index; returns 1 if
 * it replaced one.
 */
static int
table_insert(struct static_table *t, const uint8_t digest[TR_SHA256_LEN],
    uint32_t off, size_t *idx)
{
	struct static_entry	*e;
	size_t			 i, mask;

	if (2 * (t->nentries + 1) > t->nslots)
		table_grow(t);
	mask = t->nslots - 1;
	for (i = static_home(digest) & mask; t->slots[i] != 0;
	    i = (i + 1) & mask) {
		e = &t->entries[t->slots[i] - 1];
		if (ct_equal(e->digest, digest, STATIC_DIGEST_LEN)) {
			e->off = off;
			*idx = t->slots[i] - 1;
			return 1;
		}
	}
	if (t->nentries == t->entries_cap) {
		t->entries_cap = t->entries_cap == 0 ? 256 : 2 * t->entries_cap;
		t->entries = xreallocarray(t->entries, t->entries_cap,
		    sizeof(*t->entries));
	}
	e = &t->entries[t->nentries++];
	memcpy(e->digest, digest, STATIC_DIGEST_LEN);
	e->off = off;
	t->slots[i] = (uint32_t)t->nentries;
	*idx = t->nentries - 1;
	return 0;
}

/* Room for want more bytes in the arena; -1 if it would pass 4 GiB. */
static int
table_reserve(struct static_table *t, size_t want)
{
	if (t->arena_len + want > UINT32_MAX)
		return -1;
	if (t->arena_len + want > t->arena_cap) {
		t->arena_cap = t->arena_cap == 0 ? 4096 : t->arena_cap;
		while (t->arena_cap < t->arena_len + want)
			t->arena_cap *= 2;
		t->arena = xreallocarray(t->arena, t->arena_cap, 1);
	}
	return 0;
}

/*
 * The group list "group\0...group\0\0" (just "\0" for none) in the
 * arena, stored once for all the users who have it: files give most users
 * one of a few lists.  The index of lists (1 + offset, 0 for empty) lives
 * only while the file is read.  The offset, or -1 if the arena is full.
 */
static int64_t
static_group_list(struct static_parse *sp, char *const *groups)
{
	struct static_table	*t = sp->table;
	uint32_t		 h = 2166136261U, *old;
	size_t			 len = 1, i, j, n, oldn;
	char			*p;

	for (i = 0; groups != NULL && groups[i] != NULL; i++)
		len += strlen(groups[i]) + 1;
	if (table_reserve(t, len) != 0)
		return -1;
	p = t->arena + t->arena_len;
	for (i = 0; groups != NULL && groups[i] != NULL; i++) {
		n = strlen(groups[i]) + 1;
		memcpy(p, groups[i], n);
		p += n;
	}
	*p = '\0';
	p = t->arena + t->arena_len;
	for (i = 0; i < len; i++)
		h = (h ^ (uint8_t)p[i]) * 16777619U;
	if (2 * (sp->nlists + 1) > sp->nlslots) {
		old = sp->lslots;
		oldn = sp->nlslots;
		sp->nlslots = oldn == 0 ? 64 : 2 * oldn;
		sp->lslots = xcalloc(sp->nlslots, sizeof(*sp->lslots));
		for (i = 0; i < oldn; i++) {
			if (old[i] == 0)
				continue;
			for (j = sp->lhash[old[i] - 1] & (sp->nlslots - 1);
			    sp->lslots[j] != 0; j = (j + 1) & (sp->nlslots - 1))
				;
			sp->lslots[j] = old[i];
		}
		free(old);
	}
	for (j = h & (sp->nlslots - 1); sp->lslots[j] != 0;
	    j = (j + 1) & (sp->nlslots - 1)) {
		n = sp->loffs[sp->lslots[j] - 1];
		if (sp->lhash[sp->lslots[j] - 1] == h &&
		    memcmp(t->arena + n, p, len) == 0)
			return (int64_t)n;
	}
	if (sp->nlists == sp->loffs_cap) {
		sp->loffs_cap = sp->loffs_cap == 0 ? 64 : 2 * sp->loffs_cap;
		sp->loffs = xreallocarray(sp->loffs, sp->loffs_cap,
		    sizeof(*sp->loffs));
		sp->lhash = xreallocarray(sp->lhash, sp->loffs_cap,
		    sizeof(*sp->lhash));
	}
	sp->lhash[sp->nlists] = h;
	sp->loffs[sp->nlists++] = (uint32_t)t->arena_len;
	sp->lslots[j] = (uint32_t)sp->nlists;
	t->arena_len += len;
	return (int64_t)(t->arena_len - len);
}

/*
 * Append the record "username\0uid\0" and 4 bytes: how far back in the
 * arena its group list starts (an empty uid means none).  The JSON answer
 * is built from it per review, which keeps a large file's table small.
 * -1 if the arena would pass 4 GiB.
 */
static int
table_add_record(struct static_parse *sp, const char *username,
    const char *uid, char *const *groups, uint32_t *off)
{
	struct static_table	*t = sp->table;
	size_t			 ulen = strlen(username) + 1;
	size_t			 ilen = strlen(uid) + 1;
	uint32_t		 back;
	int64_t			 glist;

	if ((glist = static_group_list(sp, groups)) < 0 ||
	    table_reserve(t, ulen + ilen + sizeof(back)) != 0)
		return -1;
	*off = (uint32_t)t->arena_len;
	back = *off - (uint32_t)glist;
	memcpy(t->arena + t->arena_len, username, ulen);
	memcpy(t->arena + t->arena_len + ulen, uid, ilen);
	memcpy(t->arena + t->arena_len + ulen + ilen, &back, sizeof(back));
	t->arena_len += ulen + ilen + sizeof(back);
	return 0;
}

char *
static_record_json(const char *rec)
{
	const char	*uid, *list, *p, *stack[16];
	char		*json, **groups;
	size_t		 n = 0, i;
	uint32_t	 back;

	uid = rec + strlen(rec) + 1;
	memcpy(&back, uid + strlen(uid) + 1, sizeof(back));
	list = rec - back;
	for (p = list; *p != '\0'; p += strlen(p) + 1)
		n++;
	groups = (char **)(n < 16 ? stack : xcalloc(n + 1, sizeof(*groups)));
	for (i = 0, p = list; i < n; p += strlen(p) + 1)
		groups[i++] = (char *)p;
	groups[n] = NULL;
	json = auth_user_json(rec, *uid != '\0' ? uid : NULL, groups, NULL,
	    NULL);
	if (n >= 16)
		free(groups);
	return json;
}

/*
 * Split the groups field in place on ',' into sp->groups.  Empty names
 * are dropped (kube-apiserver would keep them as "" groups, which no
 * authorizer can mean), and so are the groups only the API server may
 * give, with a warning.  Names are not trimmed.
 */
static void
static_split_groups(struct static_parse *sp, char *field, size_t len)
{
	size_t	n = 0, i, start = 0;

	if (sp->groups_cap < len / 2 + 2) {
		sp->groups_cap = len / 2 + 2;
		sp->groups = xreallocarray(sp->groups, sp->groups_cap,
		    sizeof(*sp->groups));
	}
	for (i = 0; i <= len; i++) {
		if (i < len && field[i] != ',')
			continue;
		field[i] = '\0';
		if (i > start && auth_group_implied(field + start))
			parse_warn(sp, sp->recline, "group %s dropped: only "
			    "the API server gives it", field + start);
		else if (i > start)
			sp->groups[n++] = field + start;
		start = i + 1;
	}
	sp->groups[n] = NULL;
}

/* Check the fields of a record; 1 to use it, 0 to skip it, -1 on error. */
static int
static_check_record(struct static_parse *sp)
{
	static const char *const what[] = { "token", "username", "uid",
	    "groups" };
	struct csv_field	*f = sp->fields;
	size_t			 i;

	if (sp->nfields < 3) {
		parse_error(sp, sp->recline, "%zu field%s, need at least 3: "
		    "token,username,uid[,groups]", sp->nfields,
		    sp->nfields == 1 ? "" : "s");
		return -1;
	}
	if (f[0].len == 0) {
		parse_warn(sp, sp->recline, "empty token, line skipped");
		return 0;
	}
	if (f[0].len > TR_MAX_TOKEN) {
		parse_error(sp, sp->recline, "token longer than %d bytes",
		    TR_MAX_TOKEN);
		return -1;
	}
	for (i = 1; i < sp->nfields && i < STATIC_FIELDS; i++) {
		if (!utf8_text_valid(sp->buf + f[i].off, f[i].len)) {
			parse_error(sp, sp->recline, "%s is not valid UTF-8 "
			    "or contains a NUL byte", what[i]);
			return -1;
		}
	}
	if (sp->nfields > STATIC_FIELDS)
		parse_warn(sp, sp->recline, "%zu field%s after the 4th "
		    "ignored; to give several groups, quote them: \"a,b\"",
		    sp->nfields - STATIC_FIELDS,
		    sp->nfields == STATIC_FIELDS + 1 ? "" : "s");
	if (f[1].len == 0)
		parse_warn(sp, sp->recline, "empty username");
	return 1;
}

/* Turn the record just read into a table entry.  0 or -1 on error. */
static int
static_add_record(struct static_parse *sp)
{
	struct csv_field	*f = sp->fields;
	uint8_t			 digest[TR_SHA256_LEN];
	uint32_t		 off;
	size_t			 idx;
	int			 r;

	if ((r = static_check_record(sp)) != 1)
		return r;
	if (sp->nfields > 3)
		static_split_groups(sp, sp->buf + f[3].off, f[3].len);
	if (table_add_record(sp, sp->buf + f[1].off, sp->buf + f[2].off,
	    sp->nfields > 3 ? sp->groups : NULL, &off) != 0) {
		parse_error(sp, sp->recline, "token file too large");
		return -1;
	}
	sha256(sp->buf + f[0].off, f[0].len, digest);
	if (table_insert(sp->table, digest, off, &idx)) {
		parse_warn(sp, sp->recline, "duplicate token (previous one "
		    "on line %u); the last one wins", sp->lines[idx]);
	} else if (idx == sp->lines_cap) {
		sp->lines_cap = sp->lines_cap == 0 ? 256 : 2 * sp->lines_cap;
		sp->lines = xreallocarray(sp->lines, sp->lines_cap,
		    sizeof(*sp->lines));
	}
	sp->lines[idx] = (uint32_t)sp->recline;
	return 0;
}

/*
 * Entries in the order of their 64-bit keys.  Entries with one key need
 * no order among them: a lookup compares each with ct_equal().
 */
static int
table_entry_less(const struct static_entry *x, const struct static_entry *y)
{
	return static_home(x->digest) < static_home(y->digest);
}

static void
table_sift(struct static_entry *e, size_t root, size_t n)
{
	struct static_entry	tmp;
	size_t			child;

	while ((child = 2 * root + 1) < n) {
		if (child + 1 < n && table_entry_less(&e[child], &e[child + 1]))
			child++;
		if (!table_entry_less(&e[root], &e[child]))
			return;
		tmp = e[root];
		e[root] = e[child];
		e[child] = tmp;
		root = child;
	}
}

/*
 * Heapsort, in place: qsort() may take a copy of the array, which would
 * be the largest allocation of the whole load.
 */
static void
table_sort(struct static_entry *e, size_t n)
{
	struct static_entry	tmp;
	size_t			i;

	for (i = n / 2; i > 0; i--)
		table_sift(e, i - 1, n);
	for (i = n; i > 1; i--) {
		tmp = e[0];
		e[0] = e[i - 1];
		e[i - 1] = tmp;
		table_sift(e, 0, i - 1);
	}
}

/* Build the bucket directory of the sorted entries: about 4 a bucket. */
static void
table_directory(struct static_table *t)
{
	size_t		b, i, nb;
	unsigned int	bits = 0;

	while (bits < 30 && ((size_t)4 << bits) < t->nentries)
		bits++;
	nb = (size_t)1 << bits;
	t->dir_bits = bits;
	t->dir = xreallocarray(NULL, nb + 1, sizeof(*t->dir));
	for (b = 0, i = 0; b < nb; b++) {
		while (i < t->nentries &&
		    table_bucket(t, static_home(t->entries[i].digest)) < b)
			i++;
		t->dir[b] = (uint32_t)i;
	}
	t->dir[nb] = (uint32_t)t->nentries;
}

/*
 * Give back the slack of the growing arrays, sort the entries and replace
 * the index by the directory: the table is final now.
 */
static void
table_finish(struct static_table *t)
{
	if (t->nentries > 0 && t->nentries < t->entries_cap) {
		t->entries = xreallocarray(t->entries, t->nentries,
		    sizeof(*t->entries));
		t->entries_cap = t->nentries;
	}
	if (t->arena_len > 0 && t->arena_len < t->arena_cap) {
		t->arena = xreallocarray(t->arena, t->arena_len, 1);
		t->arena_cap = t->arena_len;
	}
	table_sort(t->entries, t->nentries);
	free(t->slots);
	t->slots = NULL;
	t->nslots = 0;
	table_directory(t);
}

/* Parse the input sp was set up with into a table; NULL on error. */
static struct static_table *
static_parse_run(struct static_parse *sp)
{
	struct static_table	*t = NULL;
	int			 r;

	sp->table = xcalloc(1, sizeof(*sp->table));
	while ((r = csv_read_record(sp)) == 1) {
		if (static_add_record(sp) != 0) {
			r = -1;
			break;
		}
	}
	if (r == 0) {
		table_finish(sp->table);
		t = sp->table;
		sp->table = NULL;
	}
	/* The record buffer and the window held tokens. */
	if (sp->buf != NULL)
		OPENSSL_cleanse(sp->buf, sp->cap);
	free(sp->buf);
	if (sp->win != NULL)
		OPENSSL_cleanse(sp->win, sp->wincap);
	free(sp->win);
	free(sp->groups);
	free(sp->lines);
	free(sp->lslots);
	free(sp->loffs);
	free(sp->lhash);
	static_table_free(sp->table);
	return t;
}

static void
static_parse_init(struct static_parse *sp, const char *name,
    static_warn_cb warn, void *arg, char *err, size_t errlen)
{
	memset(sp, 0, sizeof(*sp));
	sp->name = name != NULL ? name : "token file";
	sp->fd = -1;
	sp->warn = warn;
	sp->warn_arg = arg;
	sp->err = err;
	sp->errlen = errlen;
}

struct static_table *
static_table_parse(const char *data, size_t len, const char *name,
    static_warn_cb warn, void *arg, char *err, size_t errlen)
{
	struct static_parse	sp;

	static_parse_init(&sp, name, warn, arg, err, errlen);
	sp.p = data;
	sp.end = data + len;
	sp.eof = 1;
	return static_parse_run(&sp);
}

struct static_table *
static_table_read(int fd, size_t max, const char *name, static_warn_cb warn,
    void *arg, char *err, size_t errlen)
{
	struct static_parse	sp;

	static_parse_init(&sp, name, warn, arg, err, errlen);
	sp.fd = fd;
	sp.max = max;
	return static_parse_run(&sp);
}

void
static_table_free(struct static_table *t)
{
	if (t == NULL)
		return;
	free(t->entries);
	free(t->slots);
	free(t->dir);
	free(t->arena);
	free(t);
}

size_t
static_table_count(const struct static_table *t)
{
	return t == NULL ? 0 : t->nentries;
}

/*
 * The first entry whose key (first 8 digest bytes) is key, or nentries.
 * The comparisons order digests of the token under review, never reveal a
 * stored token: a digest is all the table has.
 */
static size_t
table_find(const struct static_table *t, uint64_t key)
{
	size_t	b = table_bucket(t, key), i, end;

	for (i = t->dir[b], end = t->dir[b + 1]; i < end; i++)
		if (static_home(t->entries[i].digest) >= key)
			return static_home(t->entries[i].digest) == key ? i :
			    t->nentries;
	return t->nentries;
}

int
static_table_lookup_digest(const struct static_table *t,
    const uint8_t digest[TR_SHA256_LEN], const char **record)
{
	const struct static_entry	*e;
	uint64_t			 key = static_home(digest);
	size_t				 i;

	if (t == NULL || t->nentries == 0)
		return 0;
	for (i = table_find(t, key); i < t->nentries &&
	    static_home(t->entries[i].digest) == key; i++) {
		e = &t->entries[i];
		if (!ct_equal(e->digest, digest, STATIC_DIGEST_LEN))
			continue;
		if (record != NULL)
			*record = t->arena + e->off;
		return 1;
	}
	return 0;
}

int
static_table_lookup(const struct static_table *t, const char *token,
    size_t len, const char **record)
{
	uint8_t	digest[TR_SHA256_LEN];

	if (len == 0 || len > TR_MAX_TOKEN)
		return 0;
	sha256(token, len, digest);
	return static_table_lookup_digest(t, digest, record);
}

/* Log the first warnings of a load; a file of junk must not flood. */
static void
static_warn_log(const char *msg, void *arg)
{
	size_t	*n = arg;

	if ((*n)++ < STATIC_MAX_WARNINGS)
		log_msg(LL_WARN, "static_token_file", "%s", msg);
}

/* [static]: key, type, field, count, min, max, default, flags, ... */
static const struct conf_option static_options[] = {
	{ "file", CONF_PATH, offsetof(struct static_shared, path), 0, 0, 0,
	  NULL, CONF_REQUIRED, NULL, NULL },
};

/* Read [static] into ss; -1 with err set if it is missing or wrong. */
static int
static_conf(const struct config *conf, struct static_shared *ss,
    struct conf_section **secp, char *err, size_t errlen)
{
	if ((*secp = config_find_section(conf, "static", NULL)) == NULL) {
		snprintf(err, errlen, "%s: the chain names \"static\" but "
		    "there is no [static] section", conf->path);
		return -1;
	}
	return conf_read_section(static_options,
	    CONF_NOPTIONS(static_options), ss, conf, *secp, err, errlen);
}

static int
static_load(const struct config *conf, void **shared, char *err,
    size_t errlen)
{
	struct static_shared	*ss;
	struct static_table	*t = NULL;
	struct conf_section	*sec;
	char			 why[TR_ERRLEN];
	size_t			 nwarn = 0;
	int			 fd, r = -1;

	*shared = NULL;
	ss = xcalloc(1, sizeof(*ss));
	if (static_conf(conf, ss, &sec, err, errlen) != 0)
		goto out;
	fd = open_file(ss->path, STATIC_MAX_FILE, 1, why, sizeof(why));
	if (fd == -1) {
		conf_error(conf, sec, conf_get(sec, "file"), err, errlen, "%s",
		    why);
		goto out;
	}
	t = static_table_read(fd, STATIC_MAX_FILE, ss->path, static_warn_log,
	    &nwarn, err, errlen);
	close(fd);
	if (nwarn > STATIC_MAX_WARNINGS)
		log_msg(LL_WARN, "static_token_file", "%s: %zu more warnings "
		    "not shown", ss->path, nwarn - STATIC_MAX_WARNINGS);
	if (t == NULL)
		goto out;
	ss->table = t;
	log_msg(LL_INFO, "static_token_file", "loaded %zu token%s from %s",
	    static_table_count(t), static_table_count(t) == 1 ? "" : "s",
	    ss->path);
	*shared = ss;
	ss = NULL;
	r = 0;
out:
	if (ss != NULL) {
		conf_table_free(static_options, CONF_NOPTIONS(static_options),
		    ss);
		free(ss);
	}
	return r;
}

static void
static_unload(void *shared)
{
	struct static_shared	*ss = shared;

	if (ss == NULL)
		return;
	static_table_free(ss->table);
	free(ss->path);
	free(ss);
}

/* The table is immutable: every worker uses the shared data as is. */
static int
static_init(void *shared, struct event_base *base, void **inst)
{
	*inst = shared;
	return 0;
}

static enum auth_rv
static_authenticate(void *inst, struct auth_req *req,
    struct auth_result *res, auth_done_cb done)
{
	struct static_shared	*ss = inst;
	const char		*rec;

	/* auth_review() has hashed the token already. */
	if (ss == NULL || req->token_len > TR_MAX_TOKEN ||
	    !static_table_lookup_digest(ss->table, req->token_hash, &rec))
		return AUTH_DENY;
	res->rv = AUTH_OK;
	res->backend = "static";
	res->username = xstrdup(rec);
	res->user_json = static_record_json(rec);
	return AUTH_OK;
}

/* Nothing is ever pending and instances are the shared data. */
static void
static_cancel(void *inst, struct auth_req *req)
{
}

static void
static_free(void *inst)
{
}

static int
static_ready(void *shared)
{
	return 1;
}

static void
static_metrics(void *shared, struct evbuffer *out)
{
	struct static_shared	*ss = shared;

	if (ss == NULL)
		return;
	metrics_family(out, "tokenreviewd_static_tokens", "gauge",
	    "Tokens loaded from the static token file.");
	evbuffer_add_printf(out, "tokenreviewd_static_tokens{file=\"");
	metrics_escape(out, ss->path);
	evbuffer_add_printf(out, "\"} %zu\n", static_table_count(ss->table));
}

static size_t
static_watch(void *shared, const char **paths, size_t max)
{
	struct static_shared	*ss = shared;

	if (ss == NULL || max == 0)
		return 0;
	paths[0] = ss->path;
	return 1;
}

const struct auth_backend auth_static_backend = {
	.name = "static",
	.load = static_load,
	.unload = static_unload,
	.init = static_init,
	.authenticate = static_authenticate,
	.cancel = static_cancel,
	.free = static_free,
	.ready = static_ready,
	.metrics = static_metrics,
	.watch = static_watch,
	.in_memory = 1,
};
