/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the per-client limit on unauthenticated connections: the
 * client key (an IPv4 address, an IPv6 /64), the limit after its grace,
 * the memory of a refused address, trust earned by a proven connection
 * and its end, listeners counted apart, and the table forgetting what it
 * no longer needs.
 */

#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <string.h>

#include "tokenreviewd.h"
#include "tap.h"

static struct connlimit_addr
addr_of(const char *s)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	struct connlimit_addr	 a;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, s, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else if (inet_pton(AF_INET6, s, &sin6->sin6_addr) == 1)
		sin6->sin6_family = AF_INET6;
	connlimit_addr((struct sockaddr *)&ss, &a);
	return a;
}

static void
test_key(void)
{
	static const struct {
		const char	*in, *out;
	} cases[] = {
		{ "192.0.2.1", "192.0.2.1" },
		{ "::ffff:192.0.2.7", "192.0.2.7" },
		{ "2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64" },
		{ "::1", "::/64" },
	};
	struct connlimit_addr	a, b;
	char			buf[64];
	size_t			i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		a = addr_of(cases[i].in);
		connlimit_format(&a, buf, sizeof(buf));
		is_str(buf, cases[i].out, "%s is the client %s", cases[i].in,
		    cases[i].out);
	}
	a = addr_of("2001:db8::1");
	b = addr_of("2001:db8::ffff:2");
	ok(memcmp(&a, &b, sizeof(a)) == 0, "one /64 is one client");
	a = addr_of("192.0.2.1");
	b = addr_of("192.0.2.2");
	ok(memcmp(&a, &b, sizeof(a)) != 0, "two IPv4 addresses are two");
}

/* Take n connections of a at t; how many were refused. */
static int
take(const struct connlimit_addr *a, enum listener_kind k, int max, int n,
    uint64_t t, int *firsts)
{
	int	i, first, refused = 0;

	for (i = 0; i < n; i++) {
		if (connlimit_take(a, k, max, t, &first) != 0)
			refused++;
		*firsts += first;
	}
	return refused;
}

static void
test_limit(void)
{
	struct connlimit_addr	a = addr_of("192.0.2.1");
	struct connlimit_addr	b = addr_of("192.0.2.2");
	uint64_t		t = 1000000;
	int			firsts = 0, i;

	connlimit_reset();
	is_int(take(&a, LISTENER_HEALTH, 4, 4, t, &firsts), 0,
	    "4 connections of a client with max 4: none refused");
	is_int(take(&a, LISTENER_HEALTH, 4, 10, t + 500, &firsts), 0,
	    "a burst beyond max within the grace (1 s): none refused");
	is_int(take(&a, LISTENER_HEALTH, 4, 3, t + 1500, &firsts), 3,
	    "at the limit for over a second: refused");
	is_int(firsts, 1, "... and told once");
	is_int(take(&b, LISTENER_HEALTH, 4, 4, t + 1500, &firsts), 0,
	    "another client is not refused");
	is_int(take(&a, LISTENER_REVIEW, 4, 4, t + 1500, &firsts), 0,
	    "the other listener counts apart");
	for (i = 0; i < 14; i++)
		connlimit_release(&a, LISTENER_HEALTH, 0, t + 2000);
	is_int(take(&a, LISTENER_HEALTH, 4, 4, t + 2000, &firsts), 0,
	    "all closed: 4 more taken");
	is_int(take(&a, LISTENER_HEALTH, 4, 1, t + 2000, &firsts), 1,
	    "refused lately: no new grace at the limit");
	is_int(firsts, 1, "... and not told again");
	for (i = 0; i < 4; i++)
		connlimit_release(&a, LISTENER_HEALTH, 0, t + 70000);
	is_int(take(&a, LISTENER_HEALTH, 4, 5, t + 70000, &firsts), 0,
	    "a minute later the grace is back");
	is_int(take(&a, LISTENER_HEALTH, 4, 1, t + 71500, &firsts), 1,
	    "... and the limit after it");
	is_int(firsts, 2, "... told again: a new episode");
	is_int(take(&a, LISTENER_HEALTH, 0, 100, t + 71500, &firsts), 0,
	    "max 0: no limit");
}

static void
test_trust(void)
{
	struct connlimit_addr	a = addr_of("198.51.100.1");
	uint64_t		t = 5000000;
	int			firsts = 0, i;

	connlimit_reset();
	take(&a, LISTENER_REVIEW, 2, 3, t, &firsts);
	is_int(take(&a, LISTENER_REVIEW, 2, 1, t + 1500, &firsts), 1,
	    "a stranger at its limit is refused");
	/* One of its connections shows a client certificate. */
	connlimit_release(&a, LISTENER_REVIEW, 1, t + 1600);
	connlimit_trust(&a, t + 1600);
	is_int(take(&a, LISTENER_REVIEW, 2, 50, t + 1700, &firsts), 0,
	    "trusted: 50 handshakes at once are not refused");
	is_int(take(&a, LISTENER_HEALTH, 2, 3, t + 1700, &firsts), 0,
	    "(health: within its grace)");
	is_int(take(&a, LISTENER_HEALTH, 2, 1, t + 3000, &firsts), 1,
	    "trust does not reach the health listener");
	for (i = 0; i < 52; i++)
		connlimit_release(&a, LISTENER_REVIEW, 0, t + 3000);
	connlimit_untrust(&a, t + 4000);
	is_int(take(&a, LISTENER_REVIEW, 2, 10, t + 5000, &firsts), 0,
	    "the last proven connection closed: still trusted a while");
	for (i = 0; i < 10; i++)
		connlimit_release(&a, LISTENER_REVIEW, 0, t + 5000);
	t += 4000 + 10 * 60 * 1000;
	take(&a, LISTENER_REVIEW, 2, 3, t, &firsts);
	is_int(take(&a, LISTENER_REVIEW, 2, 1, t + 1500, &firsts), 1,
	    "10 minutes later: a stranger again");
}

static void
test_forget(void)
{
	struct connlimit_addr	a;
	char			name[32];
	uint64_t		t = 9000000;
	int			i, firsts = 0;

	connlimit_reset();
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "10.0.%d.%d", i >> 8, i & 255);
		a = addr_of(name);
		take(&a, LISTENER_REVIEW, 8, 1, t, &firsts);
	}
	is_int(connlimit_count(), 5000, "5000 clients with a connection");
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "10.0.%d.%d", i >> 8, i & 255);
		a = addr_of(name);
		connlimit_release(&a, LISTENER_REVIEW, 0, t);
	}
	is_int(connlimit_count(), 0, "... all closed: none left");
	a = addr_of("10.1.0.1");
	take(&a, LISTENER_REVIEW, 1, 2, t, &firsts);
	ok(take(&a, LISTENER_REVIEW, 1, 1, t + 1500, &firsts) == 1,
	    "10.1.0.1 refused");
	connlimit_release(&a, LISTENER_REVIEW, 0, t + 1500);
	connlimit_release(&a, LISTENER_REVIEW, 0, t + 1500);
	is_int(connlimit_count(), 1, "a refused client is remembered");
	a = addr_of("10.1.0.2");
	connlimit_trust(&a, t);
	connlimit_untrust(&a, t);
	is_int(connlimit_count(), 2, "so is a trusted one");
	/* A lookup in a bucket drops the entries that expired there. */
	for (i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "10.2.%d.%d", i >> 8, i & 255);
		a = addr_of(name);
		take(&a, LISTENER_REVIEW, 8, 1, t + 11 * 60 * 1000, &firsts);
		connlimit_release(&a, LISTENER_REVIEW, 0,
		    t + 11 * 60 * 1000);
	}
	is_int(connlimit_count(), 0, "both forgotten once expired");
}

int
main(void)
{
	test_key();
	test_limit();
	test_trust();
	test_forget();
	return done_testing();
}
