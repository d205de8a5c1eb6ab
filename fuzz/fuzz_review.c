/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: TokenReview request bodies, as a client sends them.
 * Whatever decodes must encode again into an answer.
 */

#include <stdlib.h>
#include <string.h>

#include "tokenreviewd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

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
	free(out);
	free(res.user_json);
	review_request_clear(&req);
	return 0;
}
