/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The TokenReview codec: decoding the request kube-apiserver sends (with
 * jansson, strictly: duplicate keys, wrong types and unknown versions are
 * refused) and encoding the answer and Kubernetes Status error bodies.
 * Encoding is on the path of every request, so answers are assembled from
 * pieces into one exactly sized buffer rather than through a JSON tree;
 * the user object comes from the backend already serialised.  No I/O here,
 * and no message this file produces ever contains the token.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "tokenreviewd.h"

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

static int
decode_version(json_t *root, struct review_request *req, char *err,
    size_t errlen)
{
	json_t		*v;
	const char	*s;

	if ((v = json_object_get(root, "apiVersion")) == NULL ||
	    json_is_null(v)) {
		snprintf(err, errlen, "apiVersion is required");
		return -1;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "apiVersion must be a string");
		return -1;
	}
	s = json_string_value(v);
	if (strcmp(s, REVIEW_API_V1) == 0)
		req->version = REVIEW_V1;
	else if (strcmp(s, REVIEW_API_V1BETA1) == 0)
		req->version = REVIEW_V1BETA1;
	else {
		snprintf(err, errlen, "unsupported apiVersion \"%.*s\"",
		    REVIEW_QUOTE_MAX, s);
		return -1;
	}
	return 0;
}

static int
decode_kind(json_t *root, char *err, size_t errlen)
{
	json_t	*v;

	if ((v = json_object_get(root, "kind")) == NULL || json_is_null(v)) {
		snprintf(err, errlen, "kind is required");
		return -1;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "kind must be a string");
		return -1;
	}
	if (strcmp(json_string_value(v), REVIEW_KIND) != 0) {
		snprintf(err, errlen, "unsupported kind \"%.*s\", expected "
		    "\"%s\"", REVIEW_QUOTE_MAX, json_string_value(v),
		    REVIEW_KIND);
		return -1;
	}
	return 0;
}

/*
 * Copy spec.token into req.  The copy jansson made while parsing is wiped
 * here too, since json_decref() would free it as it is.
 */
static int
decode_token(json_t *spec, struct review_request *req, char *err,
    size_t errlen)
{
	json_t	*v;
	char	*s;
	size_t	 len;
	int	 r = -1;

	v = json_object_get(spec, "token");
	if (v == NULL || json_is_null(v)) {
		req->token = xstrdup("");
		req->token_len = 0;
		return 0;
	}
	if (!json_is_string(v)) {
		snprintf(err, errlen, "spec.token must be a string");
		return -1;
	}
	s = (char *)json_string_value(v);
	len = json_string_length(v);
	if (len > TR_MAX_TOKEN)
		snprintf(err, errlen, "spec.token is longer than %d bytes",
		    TR_MAX_TOKEN);
	else if (memchr(s, '\0', len) != NULL)
		snprintf(err, errlen, "spec.token contains a NUL byte");
	else {
		req->token = xmalloc(len + 1);
		memcpy(req->token, s, len);
		req->token[len] = '\0';
		req->token_len = len;
		r = 0;
	}
	OPENSSL_cleanse(s, len);
	return r;
}

static int
decode_audiences(json_t *spec, struct review_request *req, char *err,
    size_t errlen)
{
	json_t	*v, *a;
	size_t	 i, n;

	v = json_object_get(spec, "audiences");
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_array(v)) {
		snprintf(err, errlen, "spec.audiences must be a list of "
		    "strings");
		return -1;
	}
	if ((n = json_array_size(v)) > TR_MAX_AUDIENCES) {
		snprintf(err, errlen, "spec.audiences has more than %d entries",
		    TR_MAX_AUDIENCES);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (!json_is_string(json_array_get(v, i))) {
			snprintf(err, errlen, "spec.audiences[%zu] must be a "
			    "string", i);
			return -1;
		}
	}
	if (n == 0)
		return 0;
	req->audiences = xcalloc(n + 1, sizeof(*req->audiences));
	json_array_foreach(v, i, a)
		req->audiences[i] = xstrdup(json_string_value(a));
	req->naudiences = n;
	return 0;
}

static int
decode_spec(json_t *root, struct review_request *req, char *err,
    size_t errlen)
{
	json_t	*spec;

	/* A missing spec is an empty token, answered but never looked up. */
	spec = json_object_get(root, "spec");
	if (spec == NULL || json_is_null(spec)) {
		req->token = xstrdup("");
		req->token_len = 0;
		return 0;
	}
	if (!json_is_object(spec)) {
		snprintf(err, errlen, "spec must be an object");
		return -1;
	}
	if (decode_token(spec, req, err, errlen) != 0)
		return -1;
	return decode_audiences(spec, req, err, errlen);
}

/*
 * jansson's error text quotes the input near the error, which may be part
 * of the token, so only the position is passed on.
 */
static void
decode_error(const json_error_t *jerr, char *err, size_t errlen)
{
#if JANSSON_VERSION_HEX >= 0x020b00
	if (json_error_code(jerr) == json_error_duplicate_key) {
		snprintf(err, errlen, "request body has a duplicate key "
		    "(line %d, column %d)", jerr->line, jerr->column);
		return;
	}
#endif
	snprintf(err, errlen, "request body is not valid JSON (line %d, "
	    "column %d)", jerr->line, jerr->column);
}

int
review_decode(const char *body, size_t len, struct review_request *req,
    char *err, size_t errlen)
{
	json_t		*root;
	json_error_t	 jerr;
	int		 r = -1;

	memset(req, 0, sizeof(*req));
	/* Parsers that disagree on duplicate keys invite smuggling: refuse. */
	root = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
	    &jerr);
	if (root == NULL) {
		decode_error(&jerr, err, errlen);
		return -1;
	}
	if (!json_is_object(root)) {
		snprintf(err, errlen, "request body must be a JSON object");
		goto out;
	}
	if (decode_version(root, req, err, errlen) != 0 ||
	    decode_kind(root, err, errlen) != 0 ||
	    decode_spec(root, req, err, errlen) != 0)
		goto out;
	r = 0;
out:
	json_decref(root);
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
	static const char	 hex[] = "0123456789abcdef";
	const unsigned char	*p = (const unsigned char *)s;
	char			 e[7];
	const char		*src;
	size_t			 len = 0, n, step;

	if (out != NULL)
		out[len] = '"';
	len++;
	while (*p != '\0') {
		src = (const char *)p;
		n = step = 1;
		if (*p == '"' || *p == '\\') {
			e[0] = '\\';
			e[1] = (char)*p;
			src = e;
			n = 2;
		} else if (*p < 0x20) {
			memcpy(e, "\\u00", 4);
			e[4] = hex[*p >> 4];
			e[5] = hex[*p & 0xf];
			src = e;
			n = 6;
		} else if (*p >= 0x80 && (n = step = utf8_seq_len(p,
		    strnlen((const char *)p, 4))) == 0) {
			src = "\\ufffd";
			n = 6;
			step = 1;
		}
		if (out != NULL)
			memcpy(out + len, src, n);
		len += n;
		p += step;
	}
	if (out != NULL)
		out[len] = '"';
	return len + 1;
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
		len += pc->quote ? review_json_quote(pc->s, NULL) : strlen(pc->s);
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
