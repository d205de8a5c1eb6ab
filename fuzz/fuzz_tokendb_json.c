/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: the stored JSON of a token row's groups, as the
 * lookup reads it back.  The compact shape is read without a parser;
 * every text must give the same list as jansson gives, which is how all
 * texts were read before (a list of the string elements of an array,
 * nothing for anything else).
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tokenreviewd.h"
#include "tokendb.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The groups as jansson reads text: the strings of an array. */
static void
check_groups(const char *text, char *const *groups)
{
	json_t	*a, *v;
	size_t	 i, n = 0;

	a = json_loads(text, 0, NULL);
	if (json_is_array(a)) {
		json_array_foreach(a, i, v) {
			if (!json_is_string(v))
				continue;
			if (groups[n] == NULL ||
			    strcmp(groups[n], json_string_value(v)) != 0)
				abort();
			n++;
		}
	}
	if (groups[n] != NULL)
		abort();
	json_decref(a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct tokendb_token	 tok;
	char			*text;

	text = xmalloc(len + 1);
	memcpy(text, data, len);
	text[len] = '\0';
	memset(&tok, 0, sizeof(tok));
	tokendb_token_set_json(&tok, text, text);
	if (tok.groups == NULL || tok.extra_keys == NULL ||
	    tok.extra_values == NULL)
		abort();
	check_groups(text, tok.groups);
	tokendb_token_clear(&tok);
	free(text);
	return 0;
}
