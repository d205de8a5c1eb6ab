/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The strict JSON reader of the request path.  jansson's parser reads a
 * character at a time through a stream (a JWT's header and claims cost
 * some 33,000 instructions that way); this one reads runs of plain bytes,
 * and the TokenReview decoder (review.c) shares its lexical layer.  RFC 8259
 * throughout: strings valid UTF-8 without NUL, no leading zeros, nothing
 * after the value.
 */

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tokenreviewd.h"
#include "json.h"

void
json_scan_init(struct jscan *js, const void *text, size_t len)
{
	memset(js, 0, sizeof(*js));
	js->p = js->start = text;
	js->end = js->p + len;
	/* Never NULL: spans of empty strings point into it too. */
	js->acap = 256;
	js->arena = xmalloc(js->acap);
}

void
json_scan_clear(struct jscan *js)
{
	/* Strings reused the arena's start: wipe all of it. */
	OPENSSL_cleanse(js->arena, js->acap);
	free(js->arena);
	memset(js, 0, sizeof(*js));
}

void
json_scan_ws(struct jscan *js)
{
	while (js->p < js->end && (*js->p == ' ' || *js->p == '\t' ||
	    *js->p == '\n' || *js->p == '\r'))
		js->p++;
}

static void
scan_put(struct jscan *js, const void *data, size_t n)
{
	size_t	 cap = js->acap == 0 ? 256 : js->acap;

	/* The arena holds the token: it grows by a copy, the old one wiped. */
	if (js->alen + n > js->acap) {
		while (cap < js->alen + n)
			cap *= 2;
		if ((js->arena = wipe_realloc(js->arena, cap)) == NULL)
			fatal("out of memory");
		js->acap = cap;
	}
	memcpy(js->arena + js->alen, data, n);
	js->alen += n;
}

static int
scan_hex4(struct jscan *js, unsigned int *out)
{
	unsigned int	v = 0;
	int		i, c;

	if (js->end - js->p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		c = *js->p++;
		if (c >= '0' && c <= '9')
			v = v * 16 + (unsigned int)(c - '0');
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v = v * 16 + (unsigned int)((c | 0x20) - 'a' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* \uXXXX, with a surrogate pair when it takes two, as UTF-8. */
static int
scan_unicode(struct jscan *js)
{
	unsigned int	cp, lo;
	unsigned char	u[4];
	size_t		n;

	if (scan_hex4(js, &cp) != 0)
		return -1;
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (js->end - js->p < 6 || js->p[0] != '\\' || js->p[1] != 'u')
			return -1;
		js->p += 2;
		if (scan_hex4(js, &lo) != 0 || lo < 0xdc00 || lo > 0xdfff)
			return -1;
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	} else if ((cp >= 0xdc00 && cp <= 0xdfff) || cp == 0)
		return -1;	/* a lone low surrogate, or NUL */
	if (cp < 0x80) {
		u[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (unsigned char)(0xc0 | cp >> 6);
		u[1] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (unsigned char)(0xe0 | cp >> 12);
		u[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[2] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		u[0] = (unsigned char)(0xf0 | cp >> 18);
		u[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		u[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		u[3] = (unsigned char)(0x80 | (cp & 0x3f));
		n = 4;
	}
	scan_put(js, u, n);
	return 0;
}

static int
scan_escape(struct jscan *js)
{
	static const char	from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	const char		*e;

	if (js->p == js->end)
		return -1;
	if (*js->p == 'u') {
		js->p++;
		return scan_unicode(js);
	}
	if (*js->p == '\0' || (e = strchr(from, *js->p)) == NULL)
		return -1;
	scan_put(js, &to[e - from], 1);
	js->p++;
	return 0;
}

/*
 * Are the eight bytes at p plain ASCII, none a control byte, '"' or '\\'?
 * Each test flags a byte by its high bit: below 0x20 (less 0x20 borrows),
 * '"' and '\\' (xor makes them 0, less 1 borrows), 0x80 and above.  A
 * borrow can flag the bytes after one that is flagged already, never a
 * block of plain bytes.  A JWT in a review is hundreds of such bytes.
 */
static int
scan_plain8(const unsigned char *p)
{
	const uint64_t	ones = 0x0101010101010101ULL;
	const uint64_t	high = 0x8080808080808080ULL;
	uint64_t	v, q, b;

	memcpy(&v, p, sizeof(v));
	q = v ^ (ones * '"');
	b = v ^ (ones * '\\');
	return (((v - ones * 0x20) | (q - ones) | (b - ones) | v) & high) == 0;
}

int
json_scan_string(struct jscan *js, struct jspan *out)
{
	const unsigned char	*run;
	size_t			 n;

	out->off = js->alen;
	js->p++;
	for (;;) {
		/* Copy plain ASCII in runs, eight bytes at a time first. */
		for (run = js->p; js->end - js->p >= 8 && scan_plain8(js->p);
		    js->p += 8)
			;
		for (; js->p < js->end && *js->p >= 0x20 &&
		    *js->p < 0x80 && *js->p != '"' && *js->p != '\\'; js->p++)
			;
		if (js->p > run)
			scan_put(js, run, (size_t)(js->p - run));
		if (js->p == js->end || *js->p < 0x20)
			return -1;
		if (*js->p == '"')
			break;
		if (*js->p == '\\') {
			js->p++;
			if (scan_escape(js) != 0)
				return -1;
			continue;
		}
		if ((n = utf8_seq_len(js->p, (size_t)(js->end - js->p))) == 0)
			return -1;
		scan_put(js, js->p, n);
		js->p += n;
	}
	js->p++;
	out->len = js->alen - out->off;
	return 0;
}

static int
scan_digits(struct jscan *js)
{
	const unsigned char	*s = js->p;

	while (js->p < js->end && *js->p >= '0' && *js->p <= '9')
		js->p++;
	return js->p > s ? 0 : -1;
}

int
json_scan_number(struct jscan *js, int *real)
{
	*real = 0;
	if (js->p < js->end && *js->p == '-')
		js->p++;
	if (js->p < js->end && *js->p == '0')
		js->p++;
	else if (scan_digits(js) != 0)
		return -1;
	if (js->p < js->end && *js->p == '.') {
		js->p++;
		*real = 1;
		if (scan_digits(js) != 0)
			return -1;
	}
	if (js->p < js->end && (*js->p == 'e' || *js->p == 'E')) {
		js->p++;
		*real = 1;
		if (js->p < js->end && (*js->p == '+' || *js->p == '-'))
			js->p++;
		if (scan_digits(js) != 0)
			return -1;
	}
	return 0;
}

int
json_scan_literal(struct jscan *js, const char *word)
{
	size_t	n = strlen(word);

	if ((size_t)(js->end - js->p) < n || memcmp(js->p, word, n) != 0)
		return -1;
	js->p += n;
	return 0;
}


/* ------------------------------------------------------- jansson values */

static json_t	*jv_value(struct jscan *);

/*
 * The arena is a stack: a string is decoded after the keys of the objects
 * it is in, copied into its json_t, and popped.
 */
static json_t *
jv_string(struct jscan *js)
{
	struct jspan	 s;
	json_t		*v = NULL;

	if (json_scan_string(js, &s) == 0)
		v = json_stringn_nocheck(js->arena + s.off, s.len);
	js->alen = s.off;
	return v;
}

/* Integers as json_int_t, reals as double; out of range is refused. */
static json_t *
jv_number(struct jscan *js)
{
	const unsigned char	*from = js->p;
	size_t			 mark = js->alen;
	json_int_t		 n;
	double			 d;
	char			*text;
	int			 real;
	json_t			*v = NULL;

	if (json_scan_number(js, &real) != 0)
		return NULL;
	scan_put(js, from, (size_t)(js->p - from));
	scan_put(js, "", 1);
	text = js->arena + mark;
	errno = 0;
	if (!real) {
		n = strtoll(text, NULL, 10);
		if (errno != ERANGE)
			v = json_integer(n);
	} else {
		d = strtod(text, NULL);
		if (!(errno == ERANGE && isinf(d)))
			v = json_real(d);
	}
	js->alen = mark;
	return v;
}

/* After a member or element: 1 for a comma, 0 for close, -1 otherwise. */
static int
jv_next(struct jscan *js, int close)
{
	json_scan_ws(js);
	if (js->p < js->end && *js->p == ',') {
		js->p++;
		return 1;
	}
	return js->p < js->end && *js->p++ == close ? 0 : -1;
}

static json_t *
jv_object(struct jscan *js)
{
	struct jspan	 key;
	json_t		*o = json_object(), *v;
	int		 r = -1;

	js->p++;
	json_scan_ws(js);
	if (js->p < js->end && *js->p == '}') {
		js->p++;
		return o;
	}
	for (;;) {
		json_scan_ws(js);
		if (js->p == js->end || *js->p != '"' ||
		    json_scan_string(js, &key) != 0)
			break;
		json_scan_ws(js);
		if (js->p == js->end || *js->p++ != ':' ||
		    json_object_getn(o, js->arena + key.off, key.len) != NULL ||
		    (v = jv_value(js)) == NULL)
			break;
		json_object_setn_new_nocheck(o, js->arena + key.off, key.len,
		    v);
		js->alen = key.off;
		if ((r = jv_next(js, '}')) <= 0)
			break;
	}
	if (r == 0)
		return o;
	json_decref(o);
	return NULL;
}

static json_t *
jv_array(struct jscan *js)
{
	json_t	*a = json_array(), *v;
	int	 r = -1;

	js->p++;
	json_scan_ws(js);
	if (js->p < js->end && *js->p == ']') {
		js->p++;
		return a;
	}
	for (;;) {
		if ((v = jv_value(js)) == NULL)
			break;
		json_array_append_new(a, v);
		if ((r = jv_next(js, ']')) <= 0)
			break;
	}
	if (r == 0)
		return a;
	json_decref(a);
	return NULL;
}

static json_t *
jv_value(struct jscan *js)
{
	json_t	*v;

	json_scan_ws(js);
	if (js->p == js->end)
		return NULL;
	switch (*js->p) {
	case '{':
	case '[':
		if (++js->depth > JSON_MAX_DEPTH)
			return NULL;
		v = *js->p == '{' ? jv_object(js) : jv_array(js);
		js->depth--;
		return v;
	case '"':
		return jv_string(js);
	case 't':
		return json_scan_literal(js, "true") == 0 ? json_true() : NULL;
	case 'f':
		return json_scan_literal(js, "false") == 0 ? json_false() :
		    NULL;
	case 'n':
		return json_scan_literal(js, "null") == 0 ? json_null() : NULL;
	default:
		return jv_number(js);
	}
}

json_t *
json_parse_object(const void *text, size_t len)
{
	struct jscan	 js;
	json_t		*v = NULL;

	json_scan_init(&js, text, len);
	json_scan_ws(&js);
	if (js.p < js.end && *js.p == '{' &&
	    (v = jv_value(&js)) != NULL) {
		json_scan_ws(&js);
		if (js.p != js.end) {
			json_decref(v);
			v = NULL;
		}
	}
	json_scan_clear(&js);
	return v;
}
