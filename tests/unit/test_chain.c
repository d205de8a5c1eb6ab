/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The authenticator chain with two fake backends, one of which answers
 * from the event loop: order and union of verdicts, errors, the cache,
 * the review deadline, identical reviews joining one lookup (including
 * the leader's client going away), a caller over its limit, whom only
 * the cache and in-memory backends answer, and in-memory backends at the
 * head of the chain, which answer before the cache and never through it.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "tokenreviewd.h"
#include "tap.h"

/* One pending lookup of the fake asynchronous backend. */
struct fake_op {
	struct auth_req		*req;
	struct auth_result	*res;
	auth_done_cb		 done;
	struct event		*ev;
};

static struct event_base *base;
static int	calls_a, calls_b, cancels;
static struct fake_op *ops[64];

static void
fake_fire(evutil_socket_t fd, short what, void *arg)
{
	struct fake_op	*op = arg;
	size_t		 i;

	for (i = 0; i < 64; i++) {
		if (ops[i] == op)
			ops[i] = NULL;
	}
	op->res->username = xstrdup("carol");
	op->res->user_json = auth_user_json("carol", NULL, NULL, NULL, NULL);
	/* A use of a usage-limited token: never shared or cached. */
	if (strncmp(op->req->token, "once-", 5) == 0)
		op->res->max_ttl = -1;
	event_free(op->ev);
	op->done(op->req, AUTH_OK);
	free(op);
}

static int
fake_load(const struct config *conf, void **shared, char *err, size_t len)
{
	*shared = NULL;
	return 0;
}

static void
fake_unload(void *shared)
{
}

static int
fake_init(void *shared, struct event_base *b, void **inst)
{
	*inst = b;
	return 0;
}

/* Backend "a": sync-* accepted, err-* fails, async-* later, hang-* never. */
static enum auth_rv
fake_a(void *inst, struct auth_req *req, struct auth_result *res,
    auth_done_cb done)
{
	struct timeval	 tv = { 0, 20000 };
	struct fake_op	*op;
	size_t		 i;

	calls_a++;
	if (strncmp(req->token, "sync-", 5) == 0) {
		res->username = xstrdup("alice");
		res->user_json = auth_user_json("alice", "1", NULL, NULL,
		    NULL);
		return AUTH_OK;
	}
	if (strncmp(req->token, "err-", 4) == 0) {
		res->error = xstrdup("directory down");
		return AUTH_ERROR;
	}
	if (strncmp(req->token, "async-", 6) != 0 &&
	    strncmp(req->token, "once-", 5) != 0 &&
	    strncmp(req->token, "hang-", 5) != 0)
		return AUTH_DENY;
	op = xcalloc(1, sizeof(*op));
	op->req = req;
	op->res = res;
	op->done = done;
	op->ev = evtimer_new(base, fake_fire, op);
	if (strncmp(req->token, "hang-", 5) != 0)
		evtimer_add(op->ev, &tv);
	for (i = 0; i < 64 && ops[i] != NULL; i++)
		;
	ops[i] = op;
	return AUTH_PENDING;
}

static void
fake_cancel(void *inst, struct auth_req *req)
{
	size_t	i;

	cancels++;
	for (i = 0; i < 64; i++) {
		if (ops[i] != NULL && ops[i]->req == req) {
			event_free(ops[i]->ev);
			free(ops[i]);
			ops[i] = NULL;
		}
	}
}

static void
fake_free(void *inst)
{
}

/* Backend "b": err-* fails too, b-* accepted; counts its calls. */
static enum auth_rv
fake_b(void *inst, struct auth_req *req, struct auth_result *res,
    auth_done_cb done)
{
	calls_b++;
	if (strncmp(req->token, "err-", 4) == 0) {
		res->error = xstrdup("db locked");
		return AUTH_ERROR;
	}
	if (strncmp(req->token, "b-", 2) != 0)
		return AUTH_DENY;
	res->username = xstrdup("bob");
	res->user_json = auth_user_json("bob", NULL, NULL, NULL, NULL);
	return AUTH_OK;
}

static const struct auth_backend be_a = {
	"a", fake_load, fake_unload, fake_init, fake_a, fake_cancel,
	fake_free, NULL, NULL, NULL, 0
};
/* In memory, as the static file: asked even for a caller over its limit. */
static const struct auth_backend be_b = {
	"b", fake_load, fake_unload, fake_init, fake_b, fake_cancel,
	fake_free, NULL, NULL, NULL, 1
};

struct probe {
	struct auth_req	req;
	int		finished;
};

static void
probe_finish(struct auth_req *req, void *arg)
{
	((struct probe *)arg)->finished++;
}

static void
start(struct auth_chain *chain, struct probe *p, const char *token)
{
	memset(p, 0, sizeof(*p));
	p->req.token = token;
	p->req.token_len = strlen(token);
	p->req.base = base;
	auth_review(chain, &p->req, probe_finish, p);
}

static void
start_limited(struct auth_chain *chain, struct probe *p, const char *token)
{
	memset(p, 0, sizeof(*p));
	p->req.token = token;
	p->req.token_len = strlen(token);
	p->req.base = base;
	p->req.limited = 1;
	auth_review(chain, &p->req, probe_finish, p);
}

static void
run_until(struct probe *p, size_t n)
{
	size_t	i, done;
	int	rounds;

	for (rounds = 0; rounds < 200; rounds++) {
		for (i = done = 0; i < n; i++)
			done += p[i].finished != 0;
		if (done == n)
			return;
		event_base_loop(base, EVLOOP_ONCE);
	}
}

static void
test_order_and_errors(struct auth_chain *chain)
{
	struct probe	p;

	calls_a = calls_b = 0;
	start(chain, &p, "sync-1");
	ok(p.finished == 1 && p.req.result.rv == AUTH_OK &&
	    strcmp(p.req.result.backend, "a") == 0, "synchronous accept "
	    "finishes at once, by backend a");
	is_int(calls_b, 0, "the chain stops at the first that accepts");
	auth_req_clear(&p.req);

	start(chain, &p, "b-1");
	ok(p.finished == 1 && p.req.result.rv == AUTH_OK &&
	    strcmp(p.req.result.username, "bob") == 0, "a denies, b accepts");
	auth_req_clear(&p.req);

	start(chain, &p, "err-1");
	ok(p.req.result.rv == AUTH_ERROR && p.req.result.error != NULL &&
	    strcmp(p.req.result.error, "a: directory down; b: db locked") == 0,
	    "both fail: NO+err with both reasons (%s)", p.req.result.error);
	auth_req_clear(&p.req);
	calls_a = 0;
	start(chain, &p, "err-1");
	is_int(calls_a, 1, "errors are not cached");
	auth_req_clear(&p.req);

	calls_a = 0;
	start(chain, &p, "nobody");
	ok(p.req.result.rv == AUTH_DENY && p.req.result.error == NULL,
	    "nobody accepts, nobody fails: NO without error");
	auth_req_clear(&p.req);
	start(chain, &p, "nobody");
	ok(calls_a == 1 && p.req.cached, "a refusal is cached");
	auth_req_clear(&p.req);
}

static void
test_join(struct auth_chain *chain)
{
	struct probe	p[5];
	size_t		i, ok_n = 0, joined = 0;

	calls_a = 0;
	for (i = 0; i < 5; i++)
		start(chain, &p[i], "async-1");
	is_int(calls_a, 1, "five identical reviews: one backend lookup");
	run_until(p, 5);
	for (i = 0; i < 5; i++) {
		ok_n += p[i].finished == 1 && p[i].req.result.rv == AUTH_OK &&
		    strcmp(p[i].req.result.username, "carol") == 0;
		joined += p[i].req.joined;
	}
	is_int(ok_n, 5, "all five answered as carol, once each");
	is_int(joined, 4, "four of them joined the first");
	for (i = 0; i < 5; i++)
		auth_req_clear(&p[i].req);
	start(chain, &p[0], "async-1");
	ok(p[0].finished && p[0].req.cached && calls_a == 1,
	    "the next identical review comes from the cache");
	auth_req_clear(&p[0].req);
}

static void
test_not_shared(struct auth_chain *chain)
{
	struct probe	p[3];
	size_t		i, ok_n = 0;

	calls_a = 0;
	for (i = 0; i < 3; i++)
		start(chain, &p[i], "once-1");
	run_until(p, 3);
	for (i = 0; i < 3; i++) {
		ok_n += p[i].finished == 1 && p[i].req.result.rv == AUTH_OK;
		auth_req_clear(&p[i].req);
	}
	ok(calls_a == 3 && ok_n == 3, "a result not to be cached is not "
	    "shared: three identical reviews, three lookups (%d)", calls_a);
	start(chain, &p[0], "once-1");
	ok(!p[0].req.cached && calls_a == 4, "... nor cached");
	run_until(p, 1);
	auth_req_clear(&p[0].req);
}

static void
test_leader_leaves(struct auth_chain *chain)
{
	struct probe	p[3];

	calls_a = cancels = 0;
	start(chain, &p[0], "async-2");
	start(chain, &p[1], "async-2");
	start(chain, &p[2], "async-2");
	auth_cancel(&p[0].req);
	ok(cancels == 1 && calls_a == 2, "the leader's client leaves: its "
	    "lookup is cancelled and a waiter starts it again");
	run_until(p + 1, 2);
	ok(p[0].finished == 0 && p[1].finished == 1 && p[2].finished == 1 &&
	    p[1].req.result.rv == AUTH_OK && p[2].req.result.rv == AUTH_OK,
	    "the others are answered, the leaver is not");
	auth_req_clear(&p[1].req);
	auth_req_clear(&p[2].req);

	calls_a = 0;
	start(chain, &p[0], "async-3");
	start(chain, &p[1], "async-3");
	auth_cancel(&p[1].req);
	run_until(p, 1);
	ok(calls_a == 1 && p[0].finished == 1 && p[1].finished == 0,
	    "a waiter that leaves does not disturb the lookup");
	auth_req_clear(&p[0].req);
}

static void
test_deadline(struct auth_chain *chain)
{
	struct probe	p[2];

	cancels = 0;
	start(chain, &p[0], "hang-1");
	start(chain, &p[1], "hang-1");
	run_until(p, 2);
	ok(p[0].finished == 1 && p[0].req.result.rv == AUTH_ERROR &&
	    strstr(p[0].req.result.error, "timed out") != NULL,
	    "a backend that never answers: NO+err at the deadline (%s)",
	    p[0].req.result.error);
	ok(p[1].finished == 1 && p[1].req.result.rv == AUTH_ERROR,
	    "the review that joined it gets the same answer");
	is_int(cancels, 1, "the hung lookup was cancelled");
	auth_req_clear(&p[0].req);
	auth_req_clear(&p[1].req);
}

static void
test_limited(struct auth_chain *chain)
{
	struct probe	p;

	calls_a = calls_b = 0;
	start_limited(chain, &p, "b-limited");
	ok(p.finished == 1 && p.req.result.rv == AUTH_OK &&
	    strcmp(p.req.result.backend, "b") == 0 && !p.req.refused,
	    "over the limit: the in-memory backend still accepts");
	is_int(calls_a, 0, "... and the other backend is not asked");
	auth_req_clear(&p.req);

	start_limited(chain, &p, "sync-limited");
	ok(p.finished == 1 && p.req.result.rv == AUTH_ERROR &&
	    p.req.refused && p.req.result.error != NULL &&
	    strstr(p.req.result.error, "too many failed reviews") != NULL,
	    "a token only backend a knows: NO+err, refused (%s)",
	    p.req.result.error);
	is_int(calls_a, 0, "... unseen by backend a");
	auth_req_clear(&p.req);
	start(chain, &p, "sync-limited");
	ok(calls_a == 1 && !p.req.cached && p.req.result.rv == AUTH_OK,
	    "the refusal was not cached: under the limit, a accepts");
	auth_req_clear(&p.req);
	start_limited(chain, &p, "sync-limited");
	ok(p.req.cached && p.req.result.rv == AUTH_OK && !p.req.refused &&
	    calls_a == 1, "over the limit again: the cache answers first");
	auth_req_clear(&p.req);
}

/* A runtime over the given backends, with a cache of max entries. */
static struct runtime *
rt_new(struct config *conf, const struct auth_backend *const *list,
    size_t n, size_t max)
{
	struct runtime	*rt;

	rt = xcalloc(1, sizeof(*rt));
	rt->refs = 1;
	rt->conf = conf;
	rt->backends = xcalloc(n, sizeof(*rt->backends));
	memcpy(rt->backends, list, n * sizeof(*list));
	rt->shared = xcalloc(n, sizeof(*rt->shared));
	rt->nbackends = n;
	rt->cache = cache_new(max);
	return rt;
}

/* The runtime is the test's: take it apart by hand. */
static void
rt_free(struct runtime *rt, struct auth_chain *chain)
{
	rt->refs++;
	auth_chain_free(chain);
	cache_free(rt->cache);
	free(rt->backends);
	free(rt->shared);
	free(rt);
}

/* Chain "b a" (b in memory), cache max entries; "b" alone if !with_a. */
static void
test_memory_head(struct config *conf, size_t max, int with_a)
{
	const struct auth_backend	*list[2] = { &be_b, &be_a };
	struct runtime			*rt;
	struct auth_chain		*chain;
	struct probe			 p;
	const char			*what = !with_a ? "all in memory" :
					    max == 0 ? "cache disabled" : "cache full";
	char				 tok[32];
	size_t				 i;

	rt = rt_new(conf, list, with_a ? 2 : 1, max);
	chain = auth_chain_new(rt, base);
	calls_a = calls_b = 0;
	/* Fill the cache with answers of backend a. */
	for (i = 0; with_a && max > 0 && i < 2000; i++) {
		snprintf(tok, sizeof(tok), "sync-fill-%zu", i);
		start(chain, &p, tok);
		auth_req_clear(&p.req);
	}
	ok(!with_a || max == 0 || cache_count(rt->cache) == max,
	    "%s: %zu entries", what, cache_count(rt->cache));
	start(chain, &p, "b-head");
	ok(p.finished == 1 && p.req.result.rv == AUTH_OK && !p.req.cached &&
	    strcmp(p.req.result.backend, "b") == 0, "%s: the in-memory head "
	    "answers", what);
	auth_req_clear(&p.req);
	start(chain, &p, "b-head");
	ok(p.finished == 1 && p.req.result.rv == AUTH_OK && !p.req.cached,
	    "%s: and again, not from the cache", what);
	auth_req_clear(&p.req);
	if (with_a) {
		calls_a = 0;
		start(chain, &p, "sync-behind");
		auth_req_clear(&p.req);
		start(chain, &p, "sync-behind");
		ok(p.req.cached == (max > 0) && calls_a == (max == 0 ? 2 : 1),
		    "%s: a backend behind the head still goes through the "
		    "cache", what);
		auth_req_clear(&p.req);
	} else {
		start(chain, &p, "nobody");
		ok(p.finished == 1 && p.req.result.rv == AUTH_DENY &&
		    !p.req.cached && cache_count(rt->cache) == 0,
		    "a chain all in memory: a refusal is not stored");
		auth_req_clear(&p.req);
		start(chain, &p, "b-head");
		ok(cache_count(rt->cache) == 0, "... nor an answer");
		auth_req_clear(&p.req);
	}
	rt_free(rt, chain);
}

int
main(void)
{
	const struct auth_backend	*list[2] = { &be_a, &be_b };
	struct config			 conf;
	struct runtime			*rt;
	struct auth_chain		*chain;

	base = event_base_new();
	memset(&conf, 0, sizeof(conf));
	conf.review_timeout = 150;
	conf.cache_ttl = 60000;
	conf.cache_negative_ttl = 10000;
	rt = rt_new(&conf, list, 2, 1000);
	chain = auth_chain_new(rt, base);

	test_order_and_errors(chain);
	test_join(chain);
	test_not_shared(chain);
	test_leader_leaves(chain);
	test_deadline(chain);
	test_limited(chain);
	rt_free(rt, chain);

	test_memory_head(&conf, 64, 1);
	test_memory_head(&conf, 0, 1);
	test_memory_head(&conf, 1000, 0);
	event_base_free(base);
	return done_testing();
}
