/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The strict JSON reader of the request path (json.c): its lexical layer,
 * shared by the TokenReview decoder (review.c), and a parser of one JSON
 * object into jansson values, for the parts of a JWT.
 */

#ifndef TR_JSON_H
#define TR_JSON_H

#include <stddef.h>

#include <jansson.h>

/* Deeper nesting is refused. */
#define JSON_MAX_DEPTH		256

/* A decoded string: where it lies in the arena. */
struct jspan {
	size_t		off;
	size_t		len;
};

/*
 * The text being read and the arena its strings are decoded into.  The
 * arena grows by a copy with the old block wiped, and json_scan_clear()
 * wipes it: it holds tokens and claims.
 */
struct jscan {
	const unsigned char *p;
	const unsigned char *start;
	const unsigned char *end;
	int		 depth;
	char		*arena;		/* never NULL once initialised */
	size_t		 alen;
	size_t		 acap;
};

void	 json_scan_init(struct jscan *, const void *text, size_t len);
void	 json_scan_clear(struct jscan *);
/* Skip the four whitespace characters of RFC 8259. */
void	 json_scan_ws(struct jscan *);
/*
 * The string at p (its opening quote), decoded into the arena: escapes
 * resolved, UTF-8 checked, NUL refused.  0, or -1 if malformed.
 */
int	 json_scan_string(struct jscan *, struct jspan *);
/* A number in the grammar's form; *real tells a fraction or exponent. */
int	 json_scan_number(struct jscan *, int *real);
/* The literal word at p ("true", "false", "null"). */
int	 json_scan_literal(struct jscan *, const char *word);

/*
 * One JSON object (text of len bytes, nothing after it but whitespace)
 * as jansson values, or NULL if the text is not one: the rules above,
 * duplicate keys refused, integers that do not fit json_int_t and reals
 * beyond a double refused, as jansson's json_loadb() with
 * JSON_REJECT_DUPLICATES reads it, at a fraction of its cost.
 */
json_t	*json_parse_object(const void *text, size_t len);

#endif
