/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: TokenReview request bodies, as a client sends them.
 * Whatever decodes must encode again into an answer that is JSON (read
 * back by jansson, with no key twice): a TokenReview of the request's
 * version that says the user is authenticated.
 */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tokenreviewd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_answer(const char *out, size_t n, enum review_version version)
{
	json_t		*j, *user;
	json_error_t	 e;

	if ((j = json_loadb(out, n, JSON_REJECT_DUPLICATES, &e)) == NULL)
		abort();
	user = json_object_get(json_object_get(j, "status"), "user");
	if (!json_is_object(j) ||
	    !json_is_string(json_object_get(j, "apiVersion")) ||
	    strcmp(json_string_value(json_object_get(j, "apiVersion")),
	    review_api_version(version)) != 0 ||
	    !json_is_string(json_object_get(j, "kind")) ||
	    strcmp(json_string_value(json_object_get(j, "kind")),
	    "TokenReview") != 0 ||
	    !json_is_true(json_object_get(json_object_get(j, "status"),
	    "authenticated")) ||
	    !json_is_string(json_object_get(user, "username")))
		abort();
	json_decref(j);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct review_request	 req;
	struct auth_result	 res;
	char			 err[TR_ERRLEN], *out;
	size_t			 n;

	if (review_decode((const char *)data, len, &req, err,
	    sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return 0;
	}
	memset(&res, 0, sizeof(res));
	res.rv = AUTH_OK;
	res.username = req.token;
	res.user_json = auth_user_json(req.token, req.token, req.audiences,
	    NULL, NULL);
	out = review_encode(req.version, &res, &n);
	if (strlen(out) != n)
		abort();
	check_answer(out, n, req.version);
	free(out);
	free(res.user_json);
	review_request_clear(&req);
	return 0;
}
