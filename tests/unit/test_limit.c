/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the per-client limit on failed reviews: the client part of
 * a peer, the token bucket (burst, refill, the rate), clients kept apart,
 * and the bound on the table keeping the clients that are over the limit.
 */

#include <netinet/in.h>

#include <stdio.h>
#include <string.h>

#include "tokenreviewd.h"
#include "tap.h"

static void
test_client(void)
{
	static const struct {
		const char	*peer, *client;
	} cases[] = {
		{ "192.0.2.1:5000", "192.0.2.1" },
		{ "[2001:db8::1]:443", "2001:db8::1" },
		{ "[::ffff:192.0.2.7]:1", "::ffff:192.0.2.7" },
		{ "unknown", "unknown" },
	};
	char	out[INET6_ADDRSTRLEN];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		limit_client(cases[i].peer, out, sizeof(out));
		is_str(out, cases[i].client, "client of %s", cases[i].peer);
	}
	limit_client("[2001:db8::1]:443", out, 5);
	is_str(out, "2001", "a short buffer truncates");
}

static void
test_bucket(void)
{
	struct limit_conf	lc = { 1, 3 };	/* 1 a second, 3 in a row */
	uint64_t		t = 1000000;

	limit_reset();
	ok(limit_allowed(&lc, "a", t), "an unknown client is allowed");
	ok(!limit_failed(&lc, "a", t), "1st failure: not over");
	ok(!limit_failed(&lc, "a", t), "2nd failure: not over");
	ok(limit_allowed(&lc, "a", t), "allowed after 2 of 3");
	ok(limit_failed(&lc, "a", t), "3rd failure uses the burst up");
	ok(!limit_allowed(&lc, "a", t), "refused with the burst used up");
	ok(limit_allowed(&lc, "b", t), "another client is still allowed");
	ok(!limit_allowed(&lc, "a", t + 999), "refused 999 ms later");
	ok(limit_allowed(&lc, "a", t + 1000), "allowed 1 s later (rate 1/s)");
	ok(!limit_failed(&lc, "a", t + 1000), "over again at once, but "
	    "not told twice in one episode");
	ok(!limit_allowed(&lc, "a", t + 1000), "refused again");
	ok(limit_allowed(&lc, "a", t + 60000), "a minute later: allowed");
	ok(!limit_failed(&lc, "a", t + 60000), "the bucket filled to burst");
	ok(!limit_failed(&lc, "a", t + 60000), "2 of 3 again");
	ok(limit_failed(&lc, "a", t + 60000), "not beyond burst; told again "
	    "after the bucket was full");
	ok(!limit_allowed(&lc, "a", t + 59000), "a clock going back does "
	    "not refill nor crash");
}

static void
test_off(void)
{
	struct limit_conf	lc = { 0, 1 };
	int			i, over = 0;

	limit_reset();
	for (i = 0; i < 100; i++)
		over |= limit_failed(&lc, "c", 5);
	ok(!over && limit_allowed(&lc, "c", 5), "rate 0: no limit");
}

/* The table is bounded; clients over the limit are the last to go. */
static void
test_bound(void)
{
	struct limit_conf	lc = { 1, 2 };
	char			name[32];
	int			i, kept = 1;

	limit_reset();
	limit_failed(&lc, "guesser", 1000);
	limit_failed(&lc, "guesser", 1000);
	ok(!limit_allowed(&lc, "guesser", 1000), "guesser over the limit");
	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "10.%d.%d.%d", i >> 16,
		    (i >> 8) & 255, i & 255);
		limit_failed(&lc, name, 1000);
		if (limit_allowed(&lc, "guesser", 1000))
			kept = 0;
	}
	ok(kept, "20000 other clients did not push the guesser out");
}

int
main(void)
{
	test_client();
	test_bucket();
	test_off();
	test_bound();
	return done_testing();
}
