/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: token files for tokenreviewctl token import, split
 * into lines as the import does.  A line either gives a row of the
 * database's shape or a reason; a row carries a valid id, a user and an
 * empty-name-free group list.
 */

#include <stdlib.h>
#include <string.h>

#include "tokenreviewd.h"
#include "tokendb.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static void
check_row(const struct tokendb_token *tok)
{
	size_t	i;

	if (!tokendb_valid_id(tok->id) || tok->username == NULL ||
	    tok->groups == NULL || tok->extra_keys == NULL ||
	    tok->extra_keys[0] != NULL || tok->uses_left != -1 ||
	    !tokendb_usage_auth(tok->usages))
		abort();
	for (i = 0; tok->groups[i] != NULL; i++) {
		if (tok->groups[i][0] == '\0' ||
		    strchr(tok->groups[i], ',') != NULL)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct tokendb_token	 tok;
	const char		*bad;
	char			*text, *line, *next;
	size_t			 l, i;

	text = xmalloc(len + 1);
	memcpy(text, data, len);
	text[len] = '\0';
	for (line = text; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		l = strlen(line);
		if (l > 0 && line[l - 1] == '\r')
			line[--l] = '\0';
		if (l == 0)
			continue;
		bad = tokendb_csv_parse(line, 1700000000, &tok);
		if (bad == NULL)
			check_row(&tok);
		else if (*bad == '\0')
			abort();
		for (i = 0; i < l; i++) {
			if (line[i] != '\0')
				abort();	/* the secret was not wiped */
		}
		tokendb_token_clear(&tok);
	}
	free(text);
	return 0;
}
