/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: json_parse_object(), the reader of a JWT's header and
 * claims, against jansson's json_loadb() with JSON_REJECT_DUPLICATES,
 * which read them before.  What one accepts the other must accept with
 * the same values, except that nesting deeper than JSON_MAX_DEPTH is
 * refused here and not by jansson, and that jansson takes a NUL byte
 * after a number for the end of its buffer and reads on ({"a":0<NUL>,
 * "b":1} is an object to it): no valid JSON holds a NUL byte, and here
 * it is refused.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tokenreviewd.h"
#include "json.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* The deepest nesting of valid JSON text. */
static int
depth(const uint8_t *p, size_t len)
{
	int	d = 0, max = 0, in = 0;
	size_t	i;

	for (i = 0; i < len; i++) {
		if (in) {
			if (p[i] == '\\')
				i++;
			else if (p[i] == '"')
				in = 0;
		} else if (p[i] == '"')
			in = 1;
		else if (p[i] == '{' || p[i] == '[') {
			if (++d > max)
				max = d;
		} else if (p[i] == '}' || p[i] == ']')
			d--;
	}
	return max;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	json_t	*ours, *theirs;

	ours = json_parse_object(data, len);
	theirs = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES,
	    NULL);
	if (theirs != NULL && !json_is_object(theirs)) {
		json_decref(theirs);
		theirs = NULL;
	}
	if (ours != NULL && (theirs == NULL || !json_equal(ours, theirs)))
		abort();
	if (ours == NULL && theirs != NULL && depth(data, len) <=
	    JSON_MAX_DEPTH && memchr(data, '\0', len) == NULL)
		abort();
	json_decref(ours);
	json_decref(theirs);
	return 0;
}
