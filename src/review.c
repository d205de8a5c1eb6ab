/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The TokenReview codec: decoding the request kube-apiserver sends
 * (strictly: duplicate keys, wrong types and unknown versions are refused)
 * and encoding the answer and Kubernetes Status error bodies.
 * Encoding is on the path of every request, so answers are assembled from
 * pieces into one exactly sized buffer rather than through a JSON tree;
 * the user object comes from the backend already serialised.  No I/O here,
 * and no message this file produces ever contains the token.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tokenreviewd.h"
#include "json.h"

#define REVIEW_API_V1		"authentication.k8s.io/v1"
#define REVIEW_API_V1BETA1	"authentication.k8s.io/v1beta1"
#define REVIEW_KIND		"TokenReview"

/* How much of a client's apiVersion or kind is quoted back in an error. */
#define REVIEW_QUOTE_MAX	64

const char *
review_api_version(enum review_version v)
{
	if (v == REVIEW_V1BETA1)
		return REVIEW_API_V1BETA1;
	return REVIEW_API_V1;
}

/*
 * The request decoder.  A small strict JSON parser rather than jansson:
 * it runs for every review, and it needs no allocation per value.  It
 * reads the whole body as RFC 8259 JSON (strings must be valid UTF-8 and
 * may not hold NUL; a duplicate key anywhere is refused, so that no two
 * parsers can read different tokens out of one body), keeping only the
 * values a review needs: apiVersion, kind, spec.token, spec.audiences.
 * Decoded strings go to one arena that is wiped afterwards (it holds the
 * token); the lexical layer is json.c's.  The checks on those values run
 * only once the body has parsed.
 */

enum jtype {
	JV_ABSENT,
	JV_NULL,
	JV_OTHER,		/* number or boolean */
	JV_STRING,
	JV_ARRAY,
	JV_OBJECT,
};

/* What a value is to the decoder, by where it sits. */
enum jwhere {
	JW_SKIP,		/* validate only */
	JW_KEEP,		/* keep it if it is a string */
	JW_ROOT,		/* the TokenReview */
	JW_SPEC,		/* its spec */
	JW_AUDS,		/* spec.audiences */
};

struct jval {
	enum jtype	type;
	struct jspan	s;		/* JV_STRING */
};

struct jparse {
	struct jscan	 js;
	struct jspan	*keys;		/* of the objects being read */
	size_t		 nkeys;
	size_t		 kcap;
	int		 duplicate;

	struct jval	 api;
	struct jval	 kind;
	struct jval	 spec;
	struct jval	 token;
	struct jval	 auds;
	struct jspan	 aud[TR_MAX_AUDIENCES];
	size_t		 naud;		/* elements seen */
	long		 aud_bad;	/* first element not a string, or -1 */
};

static int	jp_value(struct jparse *, enum jwhere, struct jval *);

static int
span_cmp(const void *a, const void *b, void *arena)
{
	const struct jspan	*x = a, *y = b;
	size_t			 n = x->len < y->len ? x->len : y->len;
	int			 r;

	r = memcmp((char *)arena + x->off, (char *)arena + y->off, n);
	if (r != 0)
		return r;
	return x->len < y->len ? -1 : x->len > y->len;
}

/*
 * Flag a key that stands twice among the keys of the object just read: a
 * few keys (a TokenReview's objects have two to four) each against those
 * before it, more of them sorted.
 */
static void
jp_check_keys(struct jparse *jp, size_t first)
{
	struct jspan	*k = jp->keys + first;
	size_t		 n = jp->nkeys - first, i, j;

	if (n <= 8) {
		for (i = 1; i < n; i++) {
			for (j = 0; j < i; j++) {
				if (span_cmp(&k[j], &k[i], jp->js.arena) == 0)
					jp->duplicate = 1;
			}
		}
	} else {
		qsort_r(k, n, sizeof(*k), span_cmp, jp->js.arena);
		for (i = 1; i < n; i++) {
			if (span_cmp(&k[i - 1], &k[i], jp->js.arena) == 0)
				jp->duplicate = 1;
		}
	}
	jp->nkeys = first;
}

static int
key_is(struct jparse *jp, const struct jspan *k, const char *name)
{
	return k->len == strlen(name) &&
	    memcmp(jp->js.arena + k->off, name, k->len) == 0;
}

/* The value of key k of an object at where: where it goes, how it counts. */
static enum jwhere
jp_member(struct jparse *jp, enum jwhere where, const struct jspan *k,
    struct jval **slot)
{
	*slot = NULL;
	if (where == JW_ROOT) {
		if (key_is(jp, k, "apiVersion"))
			*slot = &jp->api;
		else if (key_is(jp, k, "kind"))
			*slot = &jp->kind;
		else if (key_is(jp, k, "spec")) {
			*slot = &jp->spec;
			return JW_SPEC;
		}
	} else if (where == JW_SPEC) {
		if (key_is(jp, k, "token"))
			*slot = &jp->token;
		else if (key_is(jp, k, "audiences")) {
			*slot = &jp->auds;
			return JW_AUDS;
		}
	}
	return *slot != NULL ? JW_KEEP : JW_SKIP;
}

static int
jp_object(struct jparse *jp, enum jwhere where)
{
	struct jspan	 key;
	struct jval	 skipped, *slot;
	enum jwhere	 child;
	size_t		 first = jp->nkeys;

	jp->js.p++;
	json_scan_ws(&jp->js);
	if (jp->js.p < jp->js.end && *jp->js.p == '}') {
		jp->js.p++;
		return 0;
	}
	for (;;) {
		json_scan_ws(&jp->js);
		if (jp->js.p == jp->js.end || *jp->js.p != '"' ||
		    json_scan_string(&jp->js, &key) != 0)
			return -1;
		if (jp->nkeys == jp->kcap) {
			jp->kcap = jp->kcap == 0 ? 16 : jp->kcap * 2;
			jp->keys = xreallocarray(jp->keys, jp->kcap,
			    sizeof(*jp->keys));
		}
		jp->keys[jp->nkeys++] = key;
		json_scan_ws(&jp->js);
		if (jp->js.p == jp->js.end || *jp->js.p++ != ':')
			return -1;
		child = jp_member(jp, where, &key, &slot);
		if (jp_value(jp, child, slot != NULL ? slot : &skipped) != 0)
			return -1;
		json_scan_ws(&jp->js);
		if (jp->js.p < jp->js.end && *jp->js.p == ',') {
			jp->js.p++;
			continue;
		}
		if (jp->js.p < jp->js.end && *jp->js.p++ == '}')
			break;
		return -1;
	}
	jp_check_keys(jp, first);
	return 0;
}

static int
jp_array(struct jparse *jp, enum jwhere where)
{
	struct jval	v;

	jp->js.p++;
	json_scan_ws(&jp->js);
	if (jp->js.p < jp->js.end && *jp->js.p == ']') {
		jp->js.p++;
		return 0;
	}
	for (;;) {
		if (jp_value(jp, where == JW_AUDS ? JW_KEEP : JW_SKIP, &v) != 0)
			return -1;
		if (where == JW_AUDS) {
			if (v.type != JV_STRING && jp->aud_bad < 0)
				jp->aud_bad = (long)jp->naud;
			else if (v.type == JV_STRING &&
			    jp->naud < TR_MAX_AUDIENCES)
				jp->aud[jp->naud] = v.s;
			jp->naud++;
		}
		json_scan_ws(&jp->js);
		if (jp->js.p < jp->js.end && *jp->js.p == ',') {
			jp->js.p++;
			continue;
		}
		if (jp->js.p < jp->js.end && *jp->js.p++ == ']')
			return 0;
		return -1;
	}
}

static int
jp_value(struct jparse *jp, enum jwhere where, struct jval *v)
{
	int	r, real;

	json_scan_ws(&jp->js);
	if (jp->js.p == jp->js.end)
		return -1;
	switch (*jp->js.p) {
	case '{':
	case '[':
		if (++jp->js.depth > JSON_MAX_DEPTH)
			return -1;
		v->type = *jp->js.p == '{' ? JV_OBJECT : JV_ARRAY;
		if (v->type == JV_OBJECT)
			r = jp_object(jp, where == JW_ROOT || where == JW_SPEC ?
			    where : JW_SKIP);
		else
			r = jp_array(jp, where);
		jp->js.depth--;
		return r;
	case '"':
		v->type = JV_STRING;
		return json_scan_string(&jp->js, &v->s);
	case 't':
	case 'f':
		v->type = JV_OTHER;
		return json_scan_literal(&jp->js, *jp->js.p == 't' ? "true" : "false");
	case 'n':
		v->type = JV_NULL;
		return json_scan_literal(&jp->js, "null");
	default:
		v->type = JV_OTHER;
		return json_scan_number(&jp->js, &real);
	}
}

/* Where parsing stopped, for the message (never the text around it). */
static void
jp_error(struct jparse *jp, char *err, size_t errlen)
{
	const unsigned char	*q;
	int			 line = 1, col = 1;

	for (q = jp->js.start; q < jp->js.p && q < jp->js.end; q++) {
		if (*q == '\n') {
			line++;
			col = 1;
		} else
			col++;
	}
	snprintf(err, errlen, "request body is not valid JSON (line %d, "
	    "column %d)", line, col);
}

static char *
jp_strdup(struct jparse *jp, const struct jspan *s)
{
	return xstrndup(jp->js.arena + s->off, s->len);
}

/* apiVersion or kind: present, a string, and one of the known values. */
static int
check_name(struct jparse *jp, const struct jval *v, const char *what,
    char *err, size_t errlen)
{
	if (v->type == JV_ABSENT || v->type == JV_NULL) {
		snprintf(err, errlen, "%s is required", what);
		return -1;
	}
	if (v->type != JV_STRING) {
		snprintf(err, errlen, "%s must be a string", what);
		return -1;
	}
	return 0;
}

static int
check_version(struct jparse *jp, struct review_request *req, char *err,
    size_t errlen)
{
	const struct jspan	*s = &jp->api.s;

	if (check_name(jp, &jp->api, "apiVersion", err, errlen) != 0)
		return -1;
	if (key_is(jp, s, REVIEW_API_V1))
		req->version = REVIEW_V1;
	else if (key_is(jp, s, REVIEW_API_V1BETA1))
		req->version = REVIEW_V1BETA1;
	else {
		snprintf(err, errlen, "unsupported apiVersion \"%.*s\"",
		    (int)(s->len < REVIEW_QUOTE_MAX ? s->len :
		    REVIEW_QUOTE_MAX), jp->js.arena + s->off);
		return -1;
	}
	if (check_name(jp, &jp->kind, "kind", err, errlen) != 0)
		return -1;
	s = &jp->kind.s;
	if (!key_is(jp, s, REVIEW_KIND)) {
		snprintf(err, errlen, "unsupported kind \"%.*s\", expected "
		    "\"%s\"", (int)(s->len < REVIEW_QUOTE_MAX ? s->len :
		    REVIEW_QUOTE_MAX), jp->js.arena + s->off, REVIEW_KIND);
		return -1;
	}
	return 0;
}

/* A missing spec or token is an empty token, answered, never looked up. */
static int
check_spec(struct jparse *jp, struct review_request *req, char *err,
    size_t errlen)
{
	size_t	i;

	if (jp->spec.type != JV_ABSENT && jp->spec.type != JV_NULL &&
	    jp->spec.type != JV_OBJECT) {
		snprintf(err, errlen, "spec must be an object");
		return -1;
	}
	if (jp->token.type != JV_ABSENT && jp->token.type != JV_NULL &&
	    jp->token.type != JV_STRING) {
		snprintf(err, errlen, "spec.token must be a string");
		return -1;
	}
	if (jp->token.type == JV_STRING && jp->token.s.len > TR_MAX_TOKEN) {
		snprintf(err, errlen, "spec.token is longer than %d bytes",
		    TR_MAX_TOKEN);
		return -1;
	}
	if (jp->auds.type != JV_ABSENT && jp->auds.type != JV_NULL &&
	    jp->auds.type != JV_ARRAY) {
		snprintf(err, errlen, "spec.audiences must be a list of "
		    "strings");
		return -1;
	}
	if (jp->naud > TR_MAX_AUDIENCES) {
		snprintf(err, errlen, "spec.audiences has more than %d entries",
		    TR_MAX_AUDIENCES);
		return -1;
	}
	if (jp->aud_bad >= 0) {
		snprintf(err, errlen, "spec.audiences[%ld] must be a string",
		    jp->aud_bad);
		return -1;
	}
	if (jp->token.type == JV_STRING) {
		req->token = jp_strdup(jp, &jp->token.s);
		req->token_len = jp->token.s.len;
	} else
		req->token = xstrdup("");
	if (jp->naud > 0) {
		req->audiences = xcalloc(jp->naud + 1, sizeof(*req->audiences));
		for (i = 0; i < jp->naud; i++)
			req->audiences[i] = jp_strdup(jp, &jp->aud[i]);
		req->naudiences = jp->naud;
	}
	return 0;
}

static int
jp_parse(struct jparse *jp, char *err, size_t errlen)
{
	struct jval	root;

	if (jp_value(jp, JW_ROOT, &root) != 0 ||
	    (json_scan_ws(&jp->js), jp->js.p != jp->js.end)) {
		jp_error(jp, err, errlen);
		return -1;
	}
	if (jp->duplicate) {
		snprintf(err, errlen, "request body has a duplicate key");
		return -1;
	}
	if (root.type != JV_OBJECT) {
		snprintf(err, errlen, "request body must be a JSON object");
		return -1;
	}
	return 0;
}

int
review_decode(const char *body, size_t len, struct review_request *req,
    char *err, size_t errlen)
{
	struct jparse	jp;
	int		r = -1;

	memset(req, 0, sizeof(*req));
	memset(&jp, 0, sizeof(jp));
	json_scan_init(&jp.js, body, len);
	jp.aud_bad = -1;
	if (jp_parse(&jp, err, errlen) == 0 &&
	    check_version(&jp, req, err, errlen) == 0 &&
	    check_spec(&jp, req, err, errlen) == 0)
		r = 0;
	json_scan_clear(&jp.js);
	free(jp.keys);
	if (r != 0)
		review_request_clear(req);
	return r;
}

void
review_request_clear(struct review_request *req)
{
	size_t	i;

	if (req->token != NULL) {
		OPENSSL_cleanse(req->token, req->token_len);
		free(req->token);
	}
	if (req->audiences != NULL) {
		for (i = 0; req->audiences[i] != NULL; i++)
			free(req->audiences[i]);
		free(req->audiences);
	}
	memset(req, 0, sizeof(*req));
}

/*
 * Escape s as a JSON string with its quotes.  With out NULL only count;
 * returns the length written (or needed).  Invalid UTF-8 becomes U+FFFD so
 * that the answer always parses, whatever a backend's message holds.
 */
size_t
review_json_quote(const char *s, char *out)
{
	return json_quote(s, strlen(s), out);
}

/* Pieces of an answer; a NULL string ends the list, quote marks escaping. */
struct piece {
	const char	*s;
	int		 quote;
};

static char *
join_pieces(const struct piece *pieces, size_t *lenp)
{
	const struct piece	*pc;
	char			*buf;
	size_t			 len = 0, n;

	for (pc = pieces; pc->s != NULL; pc++)
		len += pc->quote ? review_json_quote(pc->s, NULL) :
		    strlen(pc->s);
	buf = xmalloc(len + 1);
	len = 0;
	for (pc = pieces; pc->s != NULL; pc++) {
		if (pc->quote)
			len += review_json_quote(pc->s, buf + len);
		else {
			n = strlen(pc->s);
			memcpy(buf + len, pc->s, n);
			len += n;
		}
	}
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return buf;
}

char *
review_encode(enum review_version version, const struct auth_result *res,
    size_t *len)
{
	struct piece	 p[12];
	size_t		 n = 0;

	p[n++] = (struct piece){ "{\"apiVersion\":\"", 0 };
	p[n++] = (struct piece){ review_api_version(version), 0 };
	p[n++] = (struct piece){ "\",\"kind\":\"" REVIEW_KIND "\","
	    "\"status\":{\"authenticated\":", 0 };
	/* Without a user there is nothing to vouch for: not authenticated. */
	if (res != NULL && res->rv == AUTH_OK && res->user_json != NULL) {
		p[n++] = (struct piece){ "true,\"user\":", 0 };
		p[n++] = (struct piece){ res->user_json, 0 };
		if (res->audiences_json != NULL) {
			p[n++] = (struct piece){ ",\"audiences\":", 0 };
			p[n++] = (struct piece){ res->audiences_json, 0 };
		}
	} else {
		p[n++] = (struct piece){ "false", 0 };
		if (res != NULL && res->error != NULL &&
		    res->error[0] != '\0') {
			p[n++] = (struct piece){ ",\"error\":", 0 };
			p[n++] = (struct piece){ res->error, 1 };
		}
	}
	p[n++] = (struct piece){ "}}", 0 };
	p[n] = (struct piece){ NULL, 0 };
	return join_pieces(p, len);
}

/* The Kubernetes StatusReason for an HTTP status, NULL if there is none. */
static const char *
status_reason(int code)
{
	switch (code) {
	case 400:
	case 431:
		return "BadRequest";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "NotFound";
	case 405:
		return "MethodNotAllowed";
	case 408:
	case 504:
		return "Timeout";
	case 413:
		return "RequestEntityTooLarge";
	case 415:
		return "UnsupportedMediaType";
	case 429:
		return "TooManyRequests";
	case 500:
		return "InternalError";
	case 503:
		return "ServiceUnavailable";
	}
	return NULL;
}

char *
review_status_encode(int code, const char *reason, const char *message,
    size_t *len)
{
	struct piece	 p[10];
	char		 num[32];
	size_t		 n = 0;

	if (reason == NULL)
		reason = status_reason(code);
	snprintf(num, sizeof(num), "%d", code);

	p[n++] = (struct piece){ "{\"kind\":\"Status\",\"apiVersion\":\"v1\","
	    "\"metadata\":{},\"status\":\"Failure\"", 0 };
	if (message != NULL) {
		p[n++] = (struct piece){ ",\"message\":", 0 };
		p[n++] = (struct piece){ message, 1 };
	}
	if (reason != NULL) {
		p[n++] = (struct piece){ ",\"reason\":", 0 };
		p[n++] = (struct piece){ reason, 1 };
	}
	p[n++] = (struct piece){ ",\"code\":", 0 };
	p[n++] = (struct piece){ num, 0 };
	p[n++] = (struct piece){ "}", 0 };
	p[n] = (struct piece){ NULL, 0 };
	return join_pieces(p, len);
}
