/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of json_parse_object() (src/json.c), the reader of a JWT's
 * header and claims: every text here is also read by jansson's
 * json_loadb() with JSON_REJECT_DUPLICATES, and the two must agree, on
 * the values when both accept and on refusing; then the cases where the
 * rules go further than jansson's (nesting depth, a NUL after a number).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tokenreviewd.h"
#include "json.h"
#include "tap.h"

struct json_case {
	const char	*text;
	size_t		 len;		/* 0: strlen(text) */
	int		 ok;
};

static const struct json_case cases[] = {
	{ "{}", 0, 1 },
	{ " \t\r\n{ } \n", 0, 1 },
	{ "{\"sub\":\"alice\",\"exp\":1796571006,\"iat\":-12,\"f\":1.5e3,"
	  "\"t\":true,\"n\":null,\"no\":false,\"a\":[1,\"x\",[],{}],"
	  "\"o\":{\"k\":{\"k\":\"v\"},\"w\":\"after a nested key\"}}", 0, 1 },
	{ "{\"e\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00\"}",
	  0, 1 },
	{ "{\"caf\xc3\xa9\":\"\xf0\x9f\x98\x80\"}", 0, 1 },
	{ "{\"\\u0041\":1,\"A\":2}", 0, 0 },	/* the same key twice */
	{ "{\"a\":1,\"a\":1}", 0, 0 },
	{ "{\"a\":{\"b\":1,\"b\":2}}", 0, 0 },
	{ "{\"a\":[{\"b\":1},{\"b\":2}]}", 0, 1 },
	{ "{\"a\":0,\"b\":-0,\"c\":0.0,\"d\":1E+2,\"e\":2e-2}", 0, 1 },
	{ "{\"a\":9223372036854775807,\"b\":-9223372036854775808}", 0, 1 },
	{ "{\"a\":9223372036854775808}", 0, 0 },
	{ "{\"a\":-9223372036854775809}", 0, 0 },
	{ "{\"a\":1e400}", 0, 0 },
	{ "{\"a\":-1e400}", 0, 0 },
	{ "{\"a\":1e-400}", 0, 1 },
	{ "{\"a\":01}", 0, 0 },
	{ "{\"a\":1.}", 0, 0 },
	{ "{\"a\":.5}", 0, 0 },
	{ "{\"a\":-}", 0, 0 },
	{ "{\"a\":1e}", 0, 0 },
	{ "{\"a\":+1}", 0, 0 },
	{ "{\"a\":tru}", 0, 0 },
	{ "{\"a\":nul}", 0, 0 },
	{ "{\"a\":True}", 0, 0 },
	{ "{\"a\":1,}", 0, 0 },
	{ "{\"a\":[1,]}", 0, 0 },
	{ "{\"a\" 1}", 0, 0 },
	{ "{a:1}", 0, 0 },
	{ "{'a':1}", 0, 0 },
	{ "{\"a\":1}}", 0, 0 },
	{ "{\"a\":1} x", 0, 0 },
	{ "{\"a\":1", 0, 0 },
	{ "{\"a", 0, 0 },
	{ "", 0, 0 },
	{ "[1]", 0, 0 },			/* not an object */
	{ "\"s\"", 0, 0 },
	{ "{\"a\":\"\\u0000\"}", 0, 0 },	/* NUL */
	{ "{\"a\":\"x\0y\"}", 11, 0 },
	{ "{\"a\":1}\0", 8, 0 },
	{ "{\"a\":\"\\ud83d\"}", 0, 0 },	/* lone surrogates */
	{ "{\"a\":\"\\ude00\"}", 0, 0 },
	{ "{\"a\":\"\\ud83d\\u0041\"}", 0, 0 },
	{ "{\"a\":\"\\x41\"}", 0, 0 },
	{ "{\"a\":\"\\u12\"}", 0, 0 },
	{ "{\"a\":\"\\u12G4\"}", 0, 0 },
	{ "{\"a\":\"tab\there\"}", 0, 0 },	/* raw control character */
	{ "{\"a\":\"\xc3\"}", 0, 0 },		/* truncated UTF-8 */
	{ "{\"a\":\"\xc0\xaf\"}", 0, 0 },	/* overlong */
	{ "{\"a\":\"\xed\xa0\x80\"}", 0, 0 },	/* encoded surrogate */
	{ "{\"a\":\"\xf4\x90\x80\x80\"}", 0, 0 },	/* past U+10FFFF */
	{ "{\"a\":\"\xff\"}", 0, 0 },
	{ "{\"\xff\":1}", 0, 0 },
	{ "\xef\xbb\xbf{}", 0, 0 },		/* a byte order mark */
};

/* Nesting depth n: n - 1 arrays in an object. */
static char *
nested(int n)
{
	char	*s = malloc((size_t)n * 2 + 16), *p = s;
	int	 i;

	p += sprintf(p, "{\"a\":");
	for (i = 1; i < n; i++)
		*p++ = '[';
	for (i = 1; i < n; i++)
		*p++ = ']';
	strcpy(p, "}");
	return s;
}

int
main(void)
{
	json_t		*ours, *theirs;
	json_error_t	 jerr;
	char		*text, big[9000], key[40];
	size_t		 i, len;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		len = cases[i].len != 0 ? cases[i].len : strlen(cases[i].text);
		ours = json_parse_object(cases[i].text, len);
		theirs = json_loadb(cases[i].text, len,
		    JSON_REJECT_DUPLICATES, &jerr);
		if (theirs != NULL && !json_is_object(theirs)) {
			json_decref(theirs);
			theirs = NULL;
		}
		is_int(ours != NULL, cases[i].ok, "case %zu %s: %s", i,
		    cases[i].ok ? "accepted" : "refused", cases[i].text);
		is_int(theirs != NULL, cases[i].ok, "case %zu: jansson agrees",
		    i);
		if (ours != NULL && theirs != NULL)
			ok(json_equal(ours, theirs), "case %zu: the same values",
			    i);
		json_decref(ours);
		json_decref(theirs);
	}

	/*
	 * Each byte that is not plain ASCII, at each place of a long string
	 * (the reader tests eight bytes at a time): jansson agrees.
	 */
	{
		static const char *const odd[] = {
			"\x01", "\x1f", "\"", "\\n", "\\u00e9", "\x7f",
			"\xc3\xa9", "\xe2\x82\xac", "\xff", "\xc3", "\\",
		};
		size_t	j, at, bad = 0, n = 0;

		for (j = 0; j < sizeof(odd) / sizeof(odd[0]); j++) {
			for (at = 0; at < 24; at++) {
				len = (size_t)snprintf(big, sizeof(big),
				    "{\"k\":\"%.*s%s%.*s\"}", (int)at,
				    "abcdefghijklmnopqrstuvwxyz", odd[j],
				    (int)(24 - at), "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
				ours = json_parse_object(big, len);
				theirs = json_loadb(big, len,
				    JSON_REJECT_DUPLICATES, &jerr);
				if ((ours != NULL) != (theirs != NULL) ||
				    (ours != NULL && !json_equal(ours, theirs))) {
					diag("byte %zu at %zu: ours %d, jansson "
					    "%d", j, at, ours != NULL,
					    theirs != NULL);
					bad++;
				}
				n += ours != NULL;
				json_decref(ours);
				json_decref(theirs);
			}
		}
		is_int(bad, 0, "11 kinds of byte at 24 places of a string: "
		    "jansson agrees on each");
		is_int(n, 5 * 24, "... and 5 of the kinds are accepted");
	}

	/* Types as jansson gives them: the claims code asks for them. */
	text = "{\"i\":7,\"r\":7.0,\"e\":7e0}";
	ours = json_parse_object(text, strlen(text));
	ok(ours != NULL && json_is_integer(json_object_get(ours, "i")) &&
	    json_is_real(json_object_get(ours, "r")) &&
	    json_is_real(json_object_get(ours, "e")) &&
	    json_integer_value(json_object_get(ours, "i")) == 7,
	    "7 is an integer, 7.0 and 7e0 are reals");
	json_decref(ours);

	/*
	 * A string long enough to move the arena while the keys of the
	 * objects around it are still in it: those keys come out whole.
	 */
	memset(big, 'x', sizeof(big));
	len = (size_t)snprintf(big, sizeof(big), "{\"outer\":{\"inner\":\"");
	memset(big + len, 'x', 8000);
	len += 8000;
	len += (size_t)snprintf(big + len, sizeof(big) - len,
	    "\",\"after\":\"\\u00e9\"},\"last\":1}");
	ours = json_parse_object(big, len);
	ok(ours != NULL && json_object_get(ours, "outer") != NULL &&
	    json_object_get(ours, "last") != NULL &&
	    json_string_length(json_object_get(json_object_get(ours,
	    "outer"), "inner")) == 8000 &&
	    strcmp(json_string_value(json_object_get(json_object_get(ours,
	    "outer"), "after")), "\xc3\xa9") == 0,
	    "keys held while the arena grows come out whole");
	json_decref(ours);

	/* Many keys: each one's value sits after it, then is popped. */
	len = (size_t)snprintf(big, sizeof(big), "{");
	for (i = 0; i < 200; i++)
		len += (size_t)snprintf(big + len, sizeof(big) - len,
		    "%s\"k%zu\":\"v%zu\"", i > 0 ? "," : "", i, i);
	len += (size_t)snprintf(big + len, sizeof(big) - len, "}");
	ours = json_parse_object(big, len);
	snprintf(key, sizeof(key), "k%d", 199);
	ok(ours != NULL && json_object_size(ours) == 200 &&
	    strcmp(json_string_value(json_object_get(ours, key)), "v199") == 0,
	    "200 keys, each with its own value");
	json_decref(ours);

	/* jansson reads on past a NUL after a number; no JSON holds one. */
	ok(json_parse_object("{\"a\":0\0,\"b\":1}", 14) == NULL,
	    "a NUL byte after a number is refused");

	text = nested(JSON_MAX_DEPTH);
	ours = json_parse_object(text, strlen(text));
	ok(ours != NULL, "nesting %d deep is read", JSON_MAX_DEPTH);
	json_decref(ours);
	free(text);
	text = nested(JSON_MAX_DEPTH + 1);
	ok(json_parse_object(text, strlen(text)) == NULL,
	    "nesting %d deep is refused", JSON_MAX_DEPTH + 1);
	free(text);
	return done_testing();
}
