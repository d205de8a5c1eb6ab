/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the per-client limit on failed reviews: the client part of
 * a peer, the token bucket (burst, refill, the rate), clients kept apart,
 * and the bound on the table keeping the clients that are over the limit;
 * then the per-name lockout of failed logins: names as a directory
 * compares them, the limit within a window, the lockout's end, binds in
 * flight, success, sources kept apart, and the bound on that table.
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
	struct limit_conf	lc = { 1, 3, LIMIT_REVIEWS };	/* 1/s, 3 */
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
	struct limit_conf	lc = { 0, 1, LIMIT_REVIEWS };
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
	struct limit_conf	lc = { 1, 2, LIMIT_REVIEWS };
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

/* Failed logins are a table apart; limit_retry_ms() says how long. */
static void
test_scope(void)
{
	struct limit_conf	reviews = { 1, 2, LIMIT_REVIEWS };
	struct limit_conf	logins = { 0.5, 2, LIMIT_LOGINS };
	uint64_t		t = 1000000;

	limit_reset();
	limit_failed(&logins, "d", t);
	limit_failed(&logins, "d", t);
	ok(!limit_allowed(&logins, "d", t), "logins: d over the limit");
	ok(limit_allowed(&reviews, "d", t), "reviews: d untouched");
	is_int(limit_retry_ms(&logins, "d", t), 2001, "logins: one more "
	    "try in 2 s at 0.5 a second");
	is_int(limit_retry_ms(&logins, "d", t + 1500), 501,
	    "... 0.5 s once 1.5 s passed");
	is_int(limit_retry_ms(&logins, "d", t + 2000), 0, "... none after 2 s");
	is_int(limit_retry_ms(&reviews, "d", t), 0, "reviews: no wait");
	limit_failed(&reviews, "e", t);
	limit_failed(&reviews, "e", t);
	ok(limit_allowed(&logins, "e", t), "failed reviews do not limit "
	    "logins");
}

static void
test_name(void)
{
	static const struct {
		const char	*in, *out;
	} cases[] = {
		{ "Alice", "alice" },
		{ "  ALICE  ", "alice" },
		{ "alice", "alice" },
		{ "Jean  Paul", "jean paul" },
		{ " a   b  c ", "a b c" },
		{ "\xc3\x89mile", "\xc3\x89mile" },	/* non-ASCII kept */
		{ "", "" },
		{ "   ", "" },
	};
	char	out[LOCKOUT_NAME_MAX];
	size_t	i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		lockout_name(cases[i].in, out, sizeof(out));
		is_str(out, cases[i].out, "name \"%s\"", cases[i].in);
	}
	lockout_name("ABCDEF", out, 4);
	is_str(out, "abc", "a short buffer truncates");
	lockout_name("ab    cd", out, 4);
	is_str(out, "ab", "truncated inside a run of spaces: no trailing "
	    "space");
}

/* A failed bind as the backend does it: begin, then end failed. */
static int
fail_once(const struct lockout_conf *lc, const char *scope, const char *name,
    uint64_t now)
{
	if (lockout_begin(lc, scope, name, now) != 0)
		return -1;
	return lockout_end(lc, scope, name, 1, LO_FAILED, now);
}

static void
test_lockout(void)
{
	struct lockout_conf	lc = { 3, 10000, 60000 };	/* 3 in 10 s */
	uint64_t		t = 5000000;

	lockout_reset();
	ok(lockout_check(&lc, "corp", "alice", t) == 0, "unknown name: "
	    "not locked");
	ok(fail_once(&lc, "corp", "alice", t) == 0, "1st failure");
	ok(fail_once(&lc, "corp", " ALICE", t + 1) == 0, "2nd failure, "
	    "name in another case and spaced");
	ok(lockout_check(&lc, "corp", "alice", t + 2) == 0, "2 of 3: "
	    "not locked");
	ok(fail_once(&lc, "corp", "Alice ", t + 2) == 1, "3rd failure locks "
	    "out, and says so");
	ok(lockout_check(&lc, "corp", "alice", t + 2) == 60000, "locked out "
	    "for the whole lockout");
	ok(lockout_begin(&lc, "corp", "aLiCe", t + 3) > 0, "no bind while "
	    "locked out, in any case");
	ok(lockout_check(&lc, "corp", "bob", t + 3) == 0 &&
	    fail_once(&lc, "corp", "bob", t + 3) == 0, "another name is "
	    "not affected");
	ok(lockout_check(&lc, "other", "alice", t + 3) == 0, "the same name "
	    "in another source is not affected");
	ok(lockout_end(&lc, "corp", "alice", 0, LO_FAILED, t + 4) == 0,
	    "a failure while locked out: no second episode");
	ok(lockout_check(&lc, "corp", "alice", t + 2 + 59999) == 1,
	    "still locked 1 ms before the end");
	ok(lockout_check(&lc, "corp", "alice", t + 2 + 60000) == 0,
	    "the lockout ends after its time");
	ok(fail_once(&lc, "corp", "alice", t + 60002) == 0 &&
	    fail_once(&lc, "corp", "alice", t + 60002) == 0,
	    "after the lockout the count starts again");
	ok(lockout_check(&lc, "corp", "alice", t + 60002) == 0,
	    "2 of 3 after the lockout: not locked");
}

static void
test_window(void)
{
	struct lockout_conf	lc = { 3, 10000, 60000 };
	uint64_t		t = 7000000;

	lockout_reset();
	fail_once(&lc, "corp", "carol", t);
	fail_once(&lc, "corp", "carol", t + 5000);
	ok(fail_once(&lc, "corp", "carol", t + 10000) == 0 &&
	    lockout_check(&lc, "corp", "carol", t + 10000) == 0,
	    "failures older than the window do not count");
	ok(fail_once(&lc, "corp", "carol", t + 10001) == 0, "a new window "
	    "began with the 3rd failure: 2 of 3");
	ok(fail_once(&lc, "corp", "carol", t + 10002) == 1, "3 in the new "
	    "window lock out");
	ok(fail_once(&lc, "corp", "carol", t + 9000) == -1, "a clock going "
	    "back neither unlocks nor crashes");

	lockout_reset();
	fail_once(&lc, "corp", "dave", t);
	fail_once(&lc, "corp", "dave", t);
	ok(lockout_begin(&lc, "corp", "dave", t) == 0, "a right password "
	    "may be tried at 2 of 3");
	lockout_end(&lc, "corp", "dave", 1, LO_SUCCEEDED, t);
	ok(fail_once(&lc, "corp", "dave", t) == 0 &&
	    fail_once(&lc, "corp", "dave", t) == 0, "a success forgets the "
	    "failures, as the directory does");
	ok(lockout_begin(&lc, "corp", "dave", t) == 0, "the 3rd may be "
	    "tried");
	lockout_end(&lc, "corp", "dave", 1, LO_UNKNOWN, t);
	ok(lockout_check(&lc, "corp", "dave", t) == 0 &&
	    lockout_begin(&lc, "corp", "dave", t) == 0,
	    "a bind without an answer is not counted");
	lockout_end(&lc, "corp", "dave", 1, LO_UNKNOWN, t);
}

/* Binds in flight hold their place: concurrent guesses cannot overshoot. */
static void
test_inflight(void)
{
	struct lockout_conf	lc = { 3, 10000, 60000 };
	uint64_t		t = 9000000;
	int			i, sent = 0, locks = 0;

	lockout_reset();
	for (i = 0; i < 50; i++)
		if (lockout_begin(&lc, "corp", "erin", t) == 0)
			sent++;
	ok(sent == 3, "50 concurrent binds: 3 sent (%d)", sent);
	for (i = 0; i < sent; i++)
		locks += lockout_end(&lc, "corp", "erin", 1, LO_FAILED, t);
	ok(locks == 1 && lockout_check(&lc, "corp", "erin", t) > 0,
	    "their failures lock out once");
}

static void
test_lockout_off(void)
{
	struct lockout_conf	lc = { 0, 10000, 60000 };
	int			i, any = 0;

	lockout_reset();
	for (i = 0; i < 100; i++)
		any |= fail_once(&lc, "corp", "frank", 1000) != 0;
	ok(!any && lockout_check(&lc, "corp", "frank", 1000) == 0,
	    "bind_failure_limit 0: never locked out");
}

/* The table is bounded; locked-out names are the last to go. */
static void
test_lockout_bound(void)
{
	struct lockout_conf	lc = { 2, 600000, 600000 };
	char			name[32];
	int			i, kept = 1, locked = 0;

	lockout_reset();
	fail_once(&lc, "corp", "victim", 1000);
	fail_once(&lc, "corp", "victim", 1000);
	ok(lockout_check(&lc, "corp", "victim", 1000) > 0, "victim locked "
	    "out");
	for (i = 0; i < 50000; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		fail_once(&lc, "corp", name, 1000);
		if (lockout_check(&lc, "corp", "victim", 1000) == 0)
			kept = 0;
	}
	ok(kept, "50000 other names did not push the locked-out name out");
	for (i = 0; i < 50000; i++) {
		snprintf(name, sizeof(name), "user%d", i);
		if (lockout_check(&lc, "corp", name, 1000) == 0)
			continue;
		locked++;
	}
	ok(locked == 0, "names with one failure were dropped, none "
	    "locked (%d)", locked);
}

int
main(void)
{
	test_name();
	test_lockout();
	test_window();
	test_inflight();
	test_lockout_off();
	test_lockout_bound();
	test_client();
	test_bucket();
	test_off();
	test_bound();
	test_scope();
	return done_testing();
}
