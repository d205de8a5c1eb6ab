/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: token files.  Every token of a file that loads must
 * be found again and give a user.
 */

#include <stdlib.h>
#include <string.h>

#include "tokenreviewd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
quiet(const char *msg, void *arg)
{
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct static_table	*t;
	const char		*rec, *line;
	char			 err[TR_ERRLEN], *json;
	size_t			 n;

	t = static_table_parse((const char *)data, len, "fuzz", quiet, NULL,
	    err, sizeof(err));
	if (t == NULL)
		return 0;
	/* The first field of a plain first line is a token. */
	line = (const char *)data;
	for (n = 0; n < len && strchr(",\"\r\n", line[n]) == NULL; n++)
		;
	if (n < len && n > 0 && line[n] == ',') {
		if (!static_table_lookup(t, line, n, &rec))
			abort();
		json = static_record_json(rec);
		free(json);
	}
	static_table_free(t);
	return 0;
}
