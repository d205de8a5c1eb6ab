/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the TokenReview codec (src/review.c): every request-shape
 * case of spec/conformance-cases.md (4 to 12) at the decoder, the answer
 * and Status encoders parsed back with jansson, and a randomised loop that
 * mutates a valid body and checks the decoder fails cleanly or succeeds.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tokenreviewd.h"
#include "tap.h"

#define V1	"authentication.k8s.io/v1"
#define V1BETA1	"authentication.k8s.io/v1beta1"
#define HEAD	"{\"apiVersion\":\"" V1 "\",\"kind\":\"TokenReview\","
#define SECRET	"s3cr3t-T0KEN"

struct decode_case {
	const char	*desc;
	const char	*body;
	size_t		 len;		/* 0: strlen(body) */
	int		 ok;
	const char	*token;		/* expected on success */
	size_t		 token_len;	/* 0: strlen(token) */
	int		 version;
	size_t		 naud;
	const char	*aud0;
	const char	*err;		/* substring of the message */
};

static const struct decode_case decode_cases[] = {
	{ "case 1: plain v1 request",
	  HEAD "\"spec\":{\"token\":\"tokA\"}}",
	  0, 1, "tokA", 0, REVIEW_V1, 0, NULL, NULL },
	{ "case 2: v1beta1 request",
	  "{\"apiVersion\":\"" V1BETA1 "\",\"kind\":\"TokenReview\","
	  "\"spec\":{\"token\":\"tokA\"}}",
	  0, 1, "tokA", 0, REVIEW_V1BETA1, 0, NULL, NULL },
	{ "case 4: empty token decodes to \"\"",
	  HEAD "\"spec\":{\"token\":\"\"}}",
	  0, 1, "", 0, REVIEW_V1, 0, NULL, NULL },
	{ "case 4: no spec decodes to an empty token",
	  HEAD "\"metadata\":{}}",
	  0, 1, "", 0, REVIEW_V1, 0, NULL, NULL },
	{ "case 4: spec null decodes to an empty token",
	  HEAD "\"spec\":null}",
	  0, 1, "", 0, REVIEW_V1, 0, NULL, NULL },
	{ "case 4: spec without token decodes to an empty token",
	  HEAD "\"spec\":{\"audiences\":[\"a\"]}}",
	  0, 1, "", 0, REVIEW_V1, 1, "a", NULL },
	{ "case 5: body exactly as kube-apiserver < 1.34 sends it",
	  "{\"kind\":\"TokenReview\",\"apiVersion\":\"" V1 "\","
	  "\"metadata\":{\"creationTimestamp\":null},\"spec\":{\"token\":"
	  "\"tokA\",\"audiences\":[\"https://kubernetes.default.svc."
	  "cluster.local\"]},\"status\":{\"user\":{}}}\n",
	  0, 1, "tokA", 0, REVIEW_V1, 1,
	  "https://kubernetes.default.svc.cluster.local", NULL },
	{ "case 5: body exactly as kube-apiserver >= 1.34 sends it",
	  "{\"kind\":\"TokenReview\",\"apiVersion\":\"" V1 "\","
	  "\"metadata\":{},\"spec\":{\"token\":\"k3rn3l.s4nders\","
	  "\"audiences\":[\"https://kubernetes.default.svc.cluster.local\"]},"
	  "\"status\":{\"user\":{}}}\n",
	  0, 1, "k3rn3l.s4nders", 0, REVIEW_V1, 1,
	  "https://kubernetes.default.svc.cluster.local", NULL },
	{ "case 5: unknown fields everywhere are ignored",
	  "{\"future\":[1,{\"x\":null}],\"kind\":\"TokenReview\",\"spec\":"
	  "{\"extra\":true,\"token\":\"tokA\",\"more\":{\"a\":[]}},"
	  "\"apiVersion\":\"" V1 "\",\"status\":{\"authenticated\":true,"
	  "\"user\":{\"username\":\"admin\"}}}",
	  0, 1, "tokA", 0, REVIEW_V1, 0, NULL, NULL },
	{ "case 7: apiVersion authentication.k8s.io/v2 is refused",
	  "{\"apiVersion\":\"authentication.k8s.io/v2\",\"kind\":"
	  "\"TokenReview\",\"spec\":{\"token\":\"" SECRET "\"}}",
	  0, 0, NULL, 0, 0, 0, NULL,
	  "unsupported apiVersion \"authentication.k8s.io/v2\"" },
	{ "case 7: missing apiVersion is refused",
	  "{\"kind\":\"TokenReview\",\"spec\":{\"token\":\"" SECRET "\"}}",
	  0, 0, NULL, 0, 0, 0, NULL, "apiVersion is required" },
	{ "case 7: apiVersion null is refused",
	  "{\"apiVersion\":null,\"kind\":\"TokenReview\"}",
	  0, 0, NULL, 0, 0, 0, NULL, "apiVersion is required" },
	{ "case 7: apiVersion \"v1\" is refused",
	  "{\"apiVersion\":\"v1\",\"kind\":\"TokenReview\"}",
	  0, 0, NULL, 0, 0, 0, NULL, "unsupported apiVersion \"v1\"" },
	{ "case 7: apiVersion with another case is refused",
	  "{\"apiVersion\":\"Authentication.k8s.io/v1\",\"kind\":"
	  "\"TokenReview\"}",
	  0, 0, NULL, 0, 0, 0, NULL, "unsupported apiVersion" },
	{ "case 7: empty apiVersion is refused",
	  "{\"apiVersion\":\"\",\"kind\":\"\"}",
	  0, 0, NULL, 0, 0, 0, NULL, "unsupported apiVersion \"\"" },
	{ "case 11: two empty keys, in an array (no text stored at all)",
	  "[{\"\":{},\"\":{}}]",
	  0, 0, NULL, 0, 0, 0, NULL, "duplicate key" },
	{ "case 7: apiVersion number is refused",
	  "{\"apiVersion\":1,\"kind\":\"TokenReview\"}",
	  0, 0, NULL, 0, 0, 0, NULL, "apiVersion must be a string" },
	{ "case 8: kind SubjectAccessReview is refused",
	  "{\"apiVersion\":\"" V1 "\",\"kind\":\"SubjectAccessReview\","
	  "\"spec\":{\"token\":\"" SECRET "\"}}",
	  0, 0, NULL, 0, 0, 0, NULL,
	  "unsupported kind \"SubjectAccessReview\"" },
	{ "case 8: missing kind is refused",
	  "{\"apiVersion\":\"" V1 "\",\"spec\":{\"token\":\"tokA\"}}",
	  0, 0, NULL, 0, 0, 0, NULL, "kind is required" },
	{ "case 8: kind as a list is refused",
	  "{\"apiVersion\":\"" V1 "\",\"kind\":[\"TokenReview\"]}",
	  0, 0, NULL, 0, 0, 0, NULL, "kind must be a string" },
	{ "case 9: truncated body",
	  "{\"apiVersion\":",
	  0, 0, NULL, 0, 0, 0, NULL, "not valid JSON" },
	{ "case 9: truncated inside the token",
	  HEAD "\"spec\":{\"token\":\"" SECRET,
	  0, 0, NULL, 0, 0, 0, NULL, "not valid JSON" },
	{ "case 9: a JSON array",
	  "[" HEAD "\"spec\":{\"token\":\"tokA\"}}]",
	  0, 0, NULL, 0, 0, 0, NULL, "must be a JSON object" },
	{ "case 9: an empty array",
	  "[]",
	  0, 0, NULL, 0, 0, 0, NULL, "must be a JSON object" },
	{ "case 9: null",
	  "null",
	  0, 0, NULL, 0, 0, 0, NULL, "must be a JSON object" },
	{ "case 9: a bare string",
	  "\"" SECRET "\"",
	  0, 0, NULL, 0, 0, 0, NULL, "must be a JSON object" },
	{ "case 9: an empty body",
	  "",
	  0, 0, NULL, 0, 0, 0, NULL, "not valid JSON" },
	{ "case 9: trailing garbage after the object",
	  HEAD "\"spec\":{\"token\":\"tokA\"}} x",
	  0, 0, NULL, 0, 0, 0, NULL, "not valid JSON" },
	{ "case 9: two objects",
	  HEAD "\"spec\":{}}{}",
	  0, 0, NULL, 0, 0, 0, NULL, "not valid JSON" },
	{ "case 10: spec.token is a number",
	  HEAD "\"spec\":{\"token\":12345}}",
	  0, 0, NULL, 0, 0, 0, NULL, "spec.token must be a string" },
	{ "case 10: spec.token is true",
	  HEAD "\"spec\":{\"token\":true}}",
	  0, 0, NULL, 0, 0, 0, NULL, "spec.token must be a string" },
	{ "case 10: spec.token is a list",
	  HEAD "\"spec\":{\"token\":[\"" SECRET "\"]}}",
	  0, 0, NULL, 0, 0, 0, NULL, "spec.token must be a string" },
	{ "case 10: spec.audiences is \"x\"",
	  HEAD "\"spec\":{\"token\":\"" SECRET "\",\"audiences\":\"x\"}}",
	  0, 0, NULL, 0, 0, 0, NULL, "spec.audiences must be a list" },
	{ "case 10: spec.audiences holds a number",
	  HEAD "\"spec\":{\"token\":\"tokA\",\"audiences\":[\"a\",1]}}",
	  0, 0, NULL, 0, 0, 0, NULL, "spec.audiences[1] must be a string" },
	{ "case 10: spec.audiences is an object",
	  HEAD "\"spec\":{\"token\":\"tokA\",\"audiences\":{\"a\":\"b\"}}}",
	  0, 0, NULL, 0, 0, 0, NULL, "spec.audiences must be a list" },
	{ "case 10: spec is a string",
	  HEAD "\"spec\":\"" SECRET "\"}",
	  0, 0, NULL, 0, 0, 0, NULL, "spec must be an object" },
	{ "case 10: spec is a list",
	  HEAD "\"spec\":[]}",
	  0, 0, NULL, 0, 0, 0, NULL, "spec must be an object" },
	{ "case 10: empty audiences list is no audiences",
	  HEAD "\"spec\":{\"token\":\"tokA\",\"audiences\":[]}}",
	  0, 1, "tokA", 0, REVIEW_V1, 0, NULL, NULL },
	{ "case 10: audiences null is no audiences",
	  HEAD "\"spec\":{\"token\":\"tokA\",\"audiences\":null}}",
	  0, 1, "tokA", 0, REVIEW_V1, 0, NULL, NULL },
	{ "case 11: two token keys in spec",
	  HEAD "\"spec\":{\"token\":\"tokA\",\"token\":\"" SECRET "\"}}",
	  0, 0, NULL, 0, 0, 0, NULL, "duplicate key" },
	{ "case 11: two apiVersion keys",
	  HEAD "\"apiVersion\":\"" V1 "\",\"spec\":{\"token\":\"tokA\"}}",
	  0, 0, NULL, 0, 0, 0, NULL, "duplicate key" },
	{ "case 11: duplicate key in ignored metadata",
	  HEAD "\"metadata\":{\"a\":1,\"a\":2},\"spec\":{\"token\":\"tokA\"}}",
	  0, 0, NULL, 0, 0, 0, NULL, "duplicate key" },
	{ "case 11: duplicate key among ten in ignored metadata (sorted)",
	  HEAD "\"metadata\":{\"j\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,"
	  "\"f\":1,\"g\":1,\"h\":1,\"i\":1,\"j\":2},\"spec\":{\"token\":\"tokA\"}}",
	  0, 0, NULL, 0, 0, 0, NULL, "duplicate key" },
	{ "case 11: the last of eight keys twice (pairwise)",
	  HEAD "\"metadata\":{\"b\":1,\"c\":1,\"d\":1,\"e\":1,"
	  "\"f\":1,\"g\":1,\"h\":1,\"h\":2},\"spec\":{\"token\":\"tokA\"}}",
	  0, 0, NULL, 0, 0, 0, NULL, "duplicate key" },
	{ "ten distinct keys in ignored metadata are no duplicate",
	  HEAD "\"metadata\":{\"a\":1,\"b\":1,\"c\":1,\"d\":1,\"e\":1,"
	  "\"f\":1,\"g\":1,\"h\":1,\"i\":1,\"j\":2},\"spec\":{\"token\":\"tokA\"}}",
	  0, 1, "tokA", 0, REVIEW_V1, 0, NULL, NULL },
	{ "case 12: Go's HTML-safe escapes decode to a&b<c>",
	  HEAD "\"spec\":{\"token\":\"a\\u0026b\\u003cc\\u003e\"}}",
	  0, 1, "a&b<c>", 0, REVIEW_V1, 0, NULL, NULL },
	{ "case 12: escaped slash and quote decode",
	  HEAD "\"spec\":{\"token\":\"a\\/b\\\"c\\\\d\"}}",
	  0, 1, "a/b\"c\\d", 0, REVIEW_V1, 0, NULL, NULL },
	{ "case 12: unicode escapes decode to UTF-8",
	  HEAD "\"spec\":{\"token\":\"\\u00e9\\u2028\\ud83d\\ude00\"}}",
	  0, 1, "\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80", 0, REVIEW_V1, 0,
	  NULL, NULL },
	{ "case 12: U+FFFD from Go's invalid UTF-8 replacement is kept",
	  HEAD "\"spec\":{\"token\":\"a\xef\xbf\xbd\"}}",
	  0, 1, "a\xef\xbf\xbd", 0, REVIEW_V1, 0, NULL, NULL },
	{ "NUL escaped inside the token is refused",
	  HEAD "\"spec\":{\"token\":\"" SECRET "\\u0000x\"}}",
	  0, 0, NULL, 0, 0, 0, NULL, "not valid JSON" },
	{ "raw NUL byte inside the token is refused",
	  HEAD "\"spec\":{\"token\":\"" SECRET "\0x\"}}",
	  sizeof(HEAD "\"spec\":{\"token\":\"" SECRET "\0x\"}}") - 1,
	  0, NULL, 0, 0, 0, NULL, NULL },
	{ "raw control character inside the token is refused",
	  HEAD "\"spec\":{\"token\":\"" SECRET "\nx\"}}",
	  0, 0, NULL, 0, 0, 0, NULL, "not valid JSON" },
	{ "invalid UTF-8 inside the token is refused",
	  HEAD "\"spec\":{\"token\":\"" SECRET "\xff\"}}",
	  0, 0, NULL, 0, 0, 0, NULL, "not valid JSON" },
};

static void
test_decode_case(const struct decode_case *c)
{
	struct review_request	 req;
	char			 err[TR_ERRLEN] = "";
	size_t			 len = c->len ? c->len : strlen(c->body);
	size_t			 tlen;
	int			 r;

	r = review_decode(c->body, len, &req, err, sizeof(err));
	if (!c->ok) {
		ok(r == -1, "%s: refused", c->desc);
		ok(err[0] != '\0' && strstr(err, SECRET) == NULL,
		    "%s: message \"%s\" set, without the token", c->desc, err);
		if (c->err != NULL)
			ok(strstr(err, c->err) != NULL,
			    "%s: message has \"%s\"", c->desc, c->err);
		ok(req.token == NULL && req.audiences == NULL,
		    "%s: nothing left allocated", c->desc);
		return;
	}
	if (!ok(r == 0, "%s: accepted", c->desc)) {
		diag("error: %s", err);
		return;
	}
	tlen = c->token_len ? c->token_len : strlen(c->token);
	ok(req.token != NULL && req.token_len == tlen &&
	    memcmp(req.token, c->token, tlen) == 0 && req.token[tlen] == '\0',
	    "%s: token", c->desc);
	is_int(req.version, c->version, "%s: version", c->desc);
	is_int(req.naudiences, c->naud, "%s: audience count", c->desc);
	if (c->naud == 0)
		ok(req.audiences == NULL, "%s: no audience list", c->desc);
	else {
		is_str(req.audiences[0], c->aud0, "%s: first audience",
		    c->desc);
		ok(req.audiences[c->naud] == NULL, "%s: list ends in NULL",
		    c->desc);
	}
	review_request_clear(&req);
	ok(req.token == NULL && req.audiences == NULL && req.token_len == 0,
	    "%s: cleared", c->desc);
}

/* A body with a token of n 'x' characters; the caller frees it. */
static char *
body_with_token(size_t n)
{
	char	*tok, *body;

	tok = xmalloc(n + 1);
	memset(tok, 'x', n);
	tok[n] = '\0';
	xasprintf(&body, HEAD "\"spec\":{\"token\":\"%s\"}}", tok);
	free(tok);
	return body;
}

static void
test_decode_limits(void)
{
	struct review_request	 req;
	char			 err[TR_ERRLEN], *body, *p;
	size_t			 i, len;
	int			 r;

	body = body_with_token(TR_MAX_TOKEN);
	r = review_decode(body, strlen(body), &req, err, sizeof(err));
	ok(r == 0 && req.token_len == TR_MAX_TOKEN,
	    "token of exactly TR_MAX_TOKEN bytes is accepted");
	review_request_clear(&req);
	free(body);

	body = body_with_token(TR_MAX_TOKEN + 1);
	r = review_decode(body, strlen(body), &req, err, sizeof(err));
	ok(r == -1 && strstr(err, "longer than") != NULL &&
	    strstr(err, "xxxxxxxx") == NULL,
	    "token of TR_MAX_TOKEN + 1 bytes is refused (%s)", err);
	free(body);

	/* Nesting far deeper than any request must fail, not recurse away. */
	len = 40000;
	body = xmalloc(len);
	i = strlen(HEAD "\"x\":");
	memcpy(body, HEAD "\"x\":", i);
	memset(body + i, '[', len - i);
	r = review_decode(body, len, &req, err, sizeof(err));
	ok(r == -1, "deeply nested unknown field is refused (%s)", err);
	free(body);

	/* TR_MAX_AUDIENCES entries pass, one more fails. */
	for (i = TR_MAX_AUDIENCES; i <= TR_MAX_AUDIENCES + 1; i++) {
		len = 4096;
		body = xmalloc(len);
		p = body + snprintf(body, len, "%s",
		    HEAD "\"spec\":{\"token\":\"t\",\"audiences\":[\"a0\"");
		for (r = 1; (size_t)r < i; r++)
			p += snprintf(p, len - (size_t)(p - body),
			    ",\"a%d\"", r);
		snprintf(p, len - (size_t)(p - body), "]}}");
		r = review_decode(body, strlen(body), &req, err, sizeof(err));
		if (i == TR_MAX_AUDIENCES) {
			ok(r == 0 && req.naudiences == i &&
			    req.audiences[i] == NULL &&
			    strcmp(req.audiences[i - 1], "a63") == 0,
			    "%zu audiences are accepted", i);
		} else
			ok(r == -1 && strstr(err, "more than") != NULL,
			    "%zu audiences are refused (%s)", i, err);
		review_request_clear(&req);
		free(body);
	}
}

static void
test_clear(void)
{
	struct review_request	req;

	memset(&req, 0, sizeof(req));
	review_request_clear(&req);
	review_request_clear(&req);
	ok(req.token == NULL, "review_request_clear on a zeroed request");
}

/* Parse an answer back; NULL (and a failed test) if it is not JSON. */
static json_t *
parse_back(const char *what, const char *s, size_t len)
{
	json_error_t	 jerr;
	json_t		*j;

	j = json_loadb(s, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!ok(j != NULL && strlen(s) == len, "%s: output parses", what))
		diag("output: %s\nerror: %s", s, j ? "length" : jerr.text);
	return j;
}

/* The string value of key in obj, or NULL if absent or not a string. */
static const char *
jstr(json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

static void
test_encode_ok(void)
{
	struct auth_result	 res;
	json_t			*j, *st;
	char			*out;
	size_t			 len;

	memset(&res, 0, sizeof(res));
	res.rv = AUTH_OK;
	res.user_json = "{\"username\":\"alice\",\"uid\":\"1001\","
	    "\"groups\":[\"ops\",\"dev\"]}";
	out = review_encode(REVIEW_V1, &res, &len);
	if ((j = parse_back("case 1 answer", out, len)) != NULL) {
		is_str(jstr(j, "apiVersion"), V1, "case 1: apiVersion");
		is_str(jstr(j, "kind"), "TokenReview", "case 1: kind");
		st = json_object_get(j, "status");
		ok(json_is_true(json_object_get(st, "authenticated")),
		    "case 1: authenticated true");
		is_str(json_string_value(json_object_get(json_object_get(st,
		    "user"), "username")), "alice", "case 1: username");
		is_int(json_array_size(json_object_get(json_object_get(st,
		    "user"), "groups")), 2, "case 1: two groups");
		ok(json_object_get(st, "audiences") == NULL,
		    "case 1: no audiences when the backend gave none");
		ok(json_object_get(st, "error") == NULL, "case 1: no error");
		json_decref(j);
	}
	free(out);

	res.audiences_json = "[\"y\"]";
	out = review_encode(REVIEW_V1BETA1, &res, &len);
	if ((j = parse_back("case 2/50 answer", out, len)) != NULL) {
		is_str(jstr(j, "apiVersion"), V1BETA1,
		    "case 2: v1beta1 answer to a v1beta1 request");
		is_str(json_string_value(json_array_get(json_object_get(
		    json_object_get(j, "status"), "audiences"), 0)), "y",
		    "case 50: audiences passed through");
		json_decref(j);
	}
	free(out);
}

static void
test_encode_no(void)
{
	struct auth_result	 res;
	json_t			*j, *st;
	char			*out;
	size_t			 len;

	memset(&res, 0, sizeof(res));
	res.rv = AUTH_DENY;
	/* A user left behind by a backend must never leak into a NO. */
	res.user_json = "{\"username\":\"mallory\"}";
	res.audiences_json = "[\"a\"]";
	out = review_encode(REVIEW_V1, &res, &len);
	if ((j = parse_back("case 3 answer", out, len)) != NULL) {
		st = json_object_get(j, "status");
		ok(json_is_false(json_object_get(st, "authenticated")),
		    "case 3: authenticated false");
		ok(json_object_get(st, "user") == NULL &&
		    json_object_get(st, "audiences") == NULL &&
		    json_object_get(st, "error") == NULL,
		    "case 3: no user, audiences or error");
		ok(strstr(out, "mallory") == NULL, "case 3: user not sent");
		json_decref(j);
	}
	free(out);

	out = review_encode(REVIEW_V1BETA1, NULL, &len);
	if ((j = parse_back("NULL result answer", out, len)) != NULL) {
		ok(json_is_false(json_object_get(json_object_get(j, "status"),
		    "authenticated")), "NULL result: authenticated false");
		is_str(jstr(j, "apiVersion"), V1BETA1, "NULL result: v1beta1");
		json_decref(j);
	}
	free(out);

	res.rv = AUTH_OK;
	res.user_json = NULL;
	out = review_encode(REVIEW_V1, &res, &len);
	ok(strstr(out, "\"authenticated\":false") != NULL,
	    "AUTH_OK without a user is not authenticated");
	free(out);

	res.rv = AUTH_ERROR;
	res.error = "";
	out = review_encode(REVIEW_V1, &res, &len);
	ok(strstr(out, "error") == NULL, "empty error text is left out");
	free(out);
}

static const struct {
	const char	*desc;
	const char	*in;
	const char	*want;		/* after a round trip */
} error_cases[] = {
	{ "case 4: plain error", "token is required", "token is required" },
	{ "quotes and backslashes", "say \"no\" \\ now",
	  "say \"no\" \\ now" },
	{ "control characters", "a\nb\tc\rd\x01" "e\x1f" "f\x7f",
	  "a\nb\tc\rd\x01" "e\x1f" "f\x7f" },
	{ "non-ASCII passes through", "caf\xc3\xa9 \xe2\x98\x83 "
	  "\xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x98\x83 \xf0\x9f\x98\x80" },
	{ "invalid UTF-8 becomes U+FFFD", "a\xff" "b\xc3",
	  "a\xef\xbf\xbd" "b\xef\xbf\xbd" },
	{ "overlong and surrogate forms become U+FFFD", "\xc0\xaf\xed\xa0\x80",
	  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
	{ "HTML characters", "<a href='x'>&amp;</a>",
	  "<a href='x'>&amp;</a>" },
};

static void
test_encode_errors(void)
{
	struct auth_result	 res;
	json_t			*j, *st;
	char			*out;
	size_t			 i, len;

	memset(&res, 0, sizeof(res));
	res.rv = AUTH_ERROR;
	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		res.error = (char *)error_cases[i].in;
		out = review_encode(REVIEW_V1, &res, &len);
		if ((j = parse_back(error_cases[i].desc, out, len)) != NULL) {
			st = json_object_get(j, "status");
			ok(json_is_false(json_object_get(st,
			    "authenticated")) &&
			    json_object_get(st, "user") == NULL,
			    "%s: NO+err", error_cases[i].desc);
			is_str(jstr(st, "error"), error_cases[i].want,
			    "%s: error text round-trips", error_cases[i].desc);
			json_decref(j);
		}
		free(out);
	}
}

static void
test_status(void)
{
	json_t	*j;
	char	*out;
	size_t	 len;

	out = review_status_encode(400, "BadRequest",
	    "unsupported apiVersion \"authentication.k8s.io/v2\"", &len);
	is_str(out, "{\"kind\":\"Status\",\"apiVersion\":\"v1\","
	    "\"metadata\":{},\"status\":\"Failure\",\"message\":"
	    "\"unsupported apiVersion \\\"authentication.k8s.io/v2\\\"\","
	    "\"reason\":\"BadRequest\","
	    "\"code\":400}", "case 7: Status body as in the spec");
	if ((j = parse_back("case 7 Status", out, len)) != NULL) {
		is_int(json_integer_value(json_object_get(j, "code")), 400,
		    "case 7: Status code");
		json_decref(j);
	}
	free(out);

	out = review_status_encode(413, NULL, "body\n\"too\" big\x01", &len);
	if ((j = parse_back("case 13 Status", out, len)) != NULL) {
		is_str(jstr(j, "reason"), "RequestEntityTooLarge",
		    "case 13: reason derived from the code");
		is_str(jstr(j, "message"), "body\n\"too\" big\x01",
		    "case 13: message escaped");
		json_decref(j);
	}
	free(out);

	out = review_status_encode(499, NULL, NULL, &len);
	if ((j = parse_back("unknown code Status", out, len)) != NULL) {
		ok(json_object_get(j, "reason") == NULL &&
		    json_object_get(j, "message") == NULL,
		    "unknown code: no reason, no message");
		is_str(jstr(j, "status"), "Failure", "unknown code: Failure");
		json_decref(j);
	}
	free(out);
}

/* Decode then answer, as the server does, for case 12's token. */
static void
test_round_trip(void)
{
	const char		*body = HEAD "\"spec\":{\"token\":"
				    "\"a\\u0026b\\u003cc\\u003e\"}}";
	struct review_request	 req;
	struct auth_result	 res;
	char			 err[TR_ERRLEN], *out;
	size_t			 len;

	memset(&res, 0, sizeof(res));
	if (review_decode(body, strlen(body), &req, err, sizeof(err)) != 0) {
		ok(0, "case 12: round trip decodes (%s)", err);
		return;
	}
	res.rv = AUTH_OK;
	if (strcmp(req.token, "a&b<c>") == 0)
		res.user_json = "{\"username\":\"eve\",\"uid\":\"1005\"}";
	out = review_encode(req.version, &res, &len);
	ok(strstr(out, "\"username\":\"eve\"") != NULL,
	    "case 12: round trip answers eve");
	free(out);
	review_request_clear(&req);
}

static unsigned int
test_seed(void)
{
	const char	*s;

	if ((s = getenv("TR_TEST_SEED")) != NULL)
		return (unsigned int)strtoul(s, NULL, 10);
	return 20260101u;
}

/* One random edit of buf (len bytes, room for cap): flip, insert, cut. */
static size_t
mutate(char *buf, size_t len, size_t cap)
{
	static const char	 interesting[] = "{}[]\",:\\0 \x00\xff\xc3u";
	size_t			 at = len ? (size_t)rand() % len : 0;

	switch (rand() % 5) {
	case 0:
		buf[at] ^= (char)(1 << (rand() % 8));
		break;
	case 1:
		if (len < cap) {
			memmove(buf + at + 1, buf + at, len - at);
			buf[at] = interesting[rand() %
			    (int)(sizeof(interesting) - 1)];
			len++;
		}
		break;
	case 2:
		if (len > 0) {
			memmove(buf + at, buf + at + 1, len - at - 1);
			len--;
		}
		break;
	case 3:
		len = at;
		break;
	default:
		buf[at] = (char)(rand() % 256);
		break;
	}
	return len;
}

static void
test_random_decode(unsigned int seed)
{
	const char		*base = "{\"kind\":\"TokenReview\","
				    "\"apiVersion\":\"" V1 "\",\"metadata\":"
				    "{\"creationTimestamp\":null},\"spec\":"
				    "{\"token\":\"a\\u0026b.c\",\"audiences\":"
				    "[\"x\",\"y\"]},\"status\":{\"user\":{}}}";
	struct review_request	 req;
	char			 buf[512], err[TR_ERRLEN];
	size_t			 len;
	int			 i, j, n, r, bad = 0, decoded = 0;

	srand(seed);
	for (i = 0; i < 2000; i++) {
		len = strlen(base);
		memcpy(buf, base, len);
		n = 1 + rand() % 4;
		for (j = 0; j < n; j++)
			len = mutate(buf, len, sizeof(buf));
		err[0] = '\0';
		r = review_decode(buf, len, &req, err, sizeof(err));
		if (r == 0) {
			decoded++;
			if (req.token == NULL ||
			    strlen(req.token) != req.token_len ||
			    (req.naudiences > 0 &&
			    req.audiences[req.naudiences] != NULL))
				bad++;
		} else if (r != -1 || err[0] == '\0' || req.token != NULL ||
		    req.audiences != NULL)
			bad++;
		review_request_clear(&req);
	}
	ok(bad == 0, "2000 random mutations decode or fail cleanly "
	    "(%d decoded, seed %u)", decoded, seed);
}

static void
test_random_encode(unsigned int seed)
{
	struct auth_result	 res;
	json_t			*j;
	json_error_t		 jerr;
	char			 msg[64], *out;
	size_t			 k, len;
	int			 i, bad = 0;

	srand(seed);
	memset(&res, 0, sizeof(res));
	res.rv = AUTH_ERROR;
	res.error = msg;
	for (i = 0; i < 2000; i++) {
		for (k = 0; k < sizeof(msg) - 1; k++)
			msg[k] = (char)(1 + rand() % 255);
		msg[rand() % (int)sizeof(msg)] = '\0';
		msg[sizeof(msg) - 1] = '\0';
		out = review_encode(REVIEW_V1, &res, &len);
		j = json_loadb(out, len, 0, &jerr);
		if (j == NULL || strlen(out) != len)
			bad++;
		json_decref(j);
		free(out);
	}
	ok(bad == 0, "2000 random error texts encode to valid JSON "
	    "(seed %u)", seed);
}

int
main(void)
{
	size_t	i;

	log_init(LL_ERROR);
	for (i = 0; i < sizeof(decode_cases) / sizeof(decode_cases[0]); i++)
		test_decode_case(&decode_cases[i]);
	test_decode_limits();
	test_clear();
	test_encode_ok();
	test_encode_no();
	test_encode_errors();
	test_status();
	test_round_trip();
	is_str(review_api_version(REVIEW_V1), V1, "review_api_version v1");
	is_str(review_api_version(REVIEW_V1BETA1), V1BETA1,
	    "review_api_version v1beta1");
	test_random_decode(test_seed());
	test_random_encode(test_seed());
	return done_testing();
}
