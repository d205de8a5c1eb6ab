/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the result cache: store and fetch, expiry, keys that
 * depend on the audiences, the size bound and eviction order, the index
 * against a model under heavy collisions, and threads hammering it (run
 * it under -fsanitize=thread to check the locking).
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "tokenreviewd.h"
#include "tap.h"

static void
sleep_ms(long ms)
{
	struct timespec	ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) == -1)
		;
}

static void
make_result(struct auth_result *r, const char *username)
{
	memset(r, 0, sizeof(*r));
	r->rv = AUTH_OK;
	r->backend = "static";
	r->username = xstrdup(username);
	xasprintf(&r->user_json, "{\"username\":\"%s\"}", username);
	r->audiences_json = xstrdup("[\"a\"]");
}

/* A key with a chosen shard byte and hash bytes, the rest from n. */
static void
make_key(uint8_t key[TR_SHA256_LEN], uint8_t shard, uint8_t home,
    uint32_t n)
{
	memset(key, 0, TR_SHA256_LEN);
	key[0] = shard;
	key[8] = home;
	memcpy(key + 20, &n, sizeof(n));
}

static void
test_basic(void)
{
	struct cache		*c = cache_new(1000);
	struct auth_result	 r, out, out2;
	uint8_t			 k1[TR_SHA256_LEN], k2[TR_SHA256_LEN];

	memset(&out2, 0, sizeof(out2));
	cache_key("tok1", 4, NULL, 0, k1);
	cache_key("tok2", 4, NULL, 0, k2);
	make_result(&r, "alice");
	r.max_ttl = 0;
	cache_put(c, k1, &r, 60000);
	is_int(cache_count(c), 1, "one entry after put");
	memset(&out, 0, sizeof(out));
	ok(cache_get(c, k1, &out) == 1, "hit");
	is_str(out.username, "alice", "username copied");
	is_str(out.user_json, "{\"username\":\"alice\"}", "user_json copied");
	is_str(out.audiences_json, "[\"a\"]", "audiences copied");
	is_str(out.backend, "static", "backend kept");
	is_int(out.rv, AUTH_OK, "rv kept");
	ok(out.username != r.username, "a deep copy");
	auth_result_clear(&out);
	ok(cache_get(c, k2, &out) == 0 && out.username == NULL, "miss");

	/* The cache keeps its own copy. */
	auth_result_clear(&r);
	ok(cache_get(c, k1, &out) == 1 && strcmp(out.username, "alice") == 0,
	    "stored copy outlives the caller's");
	auth_result_clear(&out);

	/* A hit shares the entry's strings; a reference keeps them alive. */
	ok(cache_get(c, k1, &out) == 1 && cache_get(c, k1, &out2) == 1 &&
	    out.username == out2.username && out.cache_ref != NULL,
	    "hits share the stored strings, no copy");
	auth_result_clear(&out2);
	make_result(&r, "bob");
	cache_put(c, k1, &r, 60000);
	is_str(out.username, "alice", "a replaced entry lives on while a hit "
	    "holds it");
	auth_result_clear(&out);
	ok(out.cache_ref == NULL && out.username == NULL, "clearing a hit "
	    "drops its reference");
	is_int(cache_count(c), 1, "replace keeps one entry");
	ok(cache_get(c, k1, &out) == 1 && strcmp(out.username, "bob") == 0,
	    "replaced value");
	auth_result_clear(&out);
	cache_put(c, k2, &r, 0);
	cache_put(c, k2, &r, -5);
	ok(cache_get(c, k2, &out) == 0 && cache_count(c) == 1,
	    "ttl <= 0 stores nothing");
	auth_result_clear(&r);

	memset(&r, 0, sizeof(r));
	r.rv = AUTH_DENY;
	cache_put(c, k2, &r, 60000);
	ok(cache_get(c, k2, &out) == 1 && out.rv == AUTH_DENY &&
	    out.username == NULL, "negative result with no strings");
	auth_result_clear(&out);
	cache_free(c);
	/* A crash here ends the program before its plan: a failure. */
	cache_free(NULL);
}

static void
test_expiry(void)
{
	struct cache		*c = cache_new(1000);
	struct auth_result	 r, out;
	uint8_t			 k1[TR_SHA256_LEN], k2[TR_SHA256_LEN];

	memset(&out, 0, sizeof(out));
	cache_key("tok1", 4, NULL, 0, k1);
	cache_key("tok2", 4, NULL, 0, k2);
	make_result(&r, "carol");
	cache_put(c, k1, &r, 1);
	r.max_ttl = 1;
	cache_put(c, k2, &r, 60000);
	is_int(cache_count(c), 2, "two entries");
	sleep_ms(20);
	ok(cache_get(c, k1, &out) == 0, "ttl 1 ms: expired");
	ok(cache_get(c, k2, &out) == 0, "max_ttl caps the ttl");
	is_int(cache_count(c), 0, "expired entries removed by get");
	auth_result_clear(&r);
	cache_free(c);
}

static void
test_keys(void)
{
	char	*a[] = { (char *)"a", NULL }, *b[] = { (char *)"b", NULL };
	char	*ab[] = { (char *)"a", (char *)"b", NULL };
	char	*ba[] = { (char *)"b", (char *)"a", NULL };
	char	*cat[] = { (char *)"ab", NULL };
	char	*empty[] = { (char *)"", NULL };
	uint8_t	 k0[32], ka[32], kb[32], kab[32], kba[32], kcat[32], ke[32];
	uint8_t	 k2[32], want[32], md[32], in[36];

	cache_key("tok", 3, NULL, 0, k0);
	cache_key("tok", 3, a, 1, ka);
	cache_key("tok", 3, b, 1, kb);
	cache_key("tok", 3, ab, 2, kab);
	cache_key("tok", 3, ba, 2, kba);
	cache_key("tok", 3, cat, 1, kcat);
	cache_key("tok", 3, empty, 1, ke);
	ok(memcmp(k0, ka, 32) != 0 && memcmp(ka, kb, 32) != 0 &&
	    memcmp(ka, kab, 32) != 0 && memcmp(kab, kba, 32) != 0 &&
	    memcmp(kab, kcat, 32) != 0 && memcmp(k0, ke, 32) != 0,
	    "audiences change the key");
	SHA256((const unsigned char *)"tok", 3, md);
	memcpy(in, md, 32);
	memcpy(in + 32, "\0a\0b", 4);
	SHA256(in, 36, want);
	ok(memcmp(kab, want, 32) == 0,
	    "key = SHA-256(SHA-256(tok) NUL a NUL b)");
	SHA256(md, 32, want);
	ok(memcmp(k0, want, 32) == 0, "no audiences: SHA-256(SHA-256(tok))");
	cache_key_digest(md, ab, 2, k2);
	ok(memcmp(k2, kab, 32) == 0, "the key from the token's digest is the "
	    "same");
	cache_key("tok", 3, ab, 1, k2);
	ok(memcmp(k2, ka, 32) == 0, "naud limits the audiences used");
	cache_key("tok", 3, NULL, 0, k2);
	ok(memcmp(k2, k0, 32) == 0, "same input, same key");
	cache_key("toK", 3, NULL, 0, k2);
	ok(memcmp(k2, k0, 32) != 0, "token changes the key");
}

static void
test_bound(void)
{
	struct cache		*c;
	struct auth_result	 r, out;
	uint8_t			 k[TR_SHA256_LEN];
	char			 tok[32];
	size_t			 i, max_seen = 0;

	memset(&out, 0, sizeof(out));
	make_result(&r, "dave");
	c = cache_new(100);
	for (i = 0; i < 20000; i++) {
		snprintf(tok, sizeof(tok), "t%zu", i);
		cache_key(tok, strlen(tok), NULL, 0, k);
		cache_put(c, k, &r, 60000);
		if (i % 100 == 0 && cache_count(c) > max_seen)
			max_seen = cache_count(c);
	}
	ok(max_seen <= 100 && cache_count(c) <= 100,
	    "max_entries respected (%zu)", cache_count(c));
	is_int(cache_count(c), 100, "and the cache fills up to it");
	ok(cache_get(c, k, &out) == 1, "the newest entry is there");
	auth_result_clear(&out);
	cache_free(c);

	c = cache_new(10);
	for (i = 0; i < 5000; i++) {
		snprintf(tok, sizeof(tok), "s%zu", i);
		cache_key(tok, strlen(tok), NULL, 0, k);
		cache_put(c, k, &r, 60000);
	}
	is_int(cache_count(c), 10, "fewer entries than shards: exact bound");
	cache_free(c);

	c = cache_new(0);
	cache_put(c, k, &r, 60000);
	ok(cache_count(c) == 0 && cache_get(c, k, &out) == 0,
	    "max_entries 0 stores nothing");
	cache_free(c);
	auth_result_clear(&r);
}

static void
test_evict_order(void)
{
	struct cache		*c;
	struct auth_result	 r, out;
	uint8_t			 k1[TR_SHA256_LEN], k2[TR_SHA256_LEN];
	uint8_t			 k3[TR_SHA256_LEN];

	memset(&out, 0, sizeof(out));
	make_result(&r, "erin");
	/* Two entries per shard: an expired one goes before a live one. */
	c = cache_new(128);
	make_key(k1, 5, 1, 1);
	make_key(k2, 5, 1, 2);
	make_key(k3, 5, 1, 3);
	cache_put(c, k1, &r, 1);
	cache_put(c, k2, &r, 60000);
	sleep_ms(10);
	cache_put(c, k3, &r, 60000);
	ok(cache_get(c, k2, &out) == 1, "live entry kept");
	auth_result_clear(&out);
	ok(cache_get(c, k3, &out) == 1, "new entry stored");
	auth_result_clear(&out);
	ok(cache_get(c, k1, &out) == 0 && cache_count(c) == 2,
	    "expired entry evicted first");
	/* None expired: the one closest to expiry (k2, older) goes. */
	cache_put(c, k1, &r, 120000);
	ok(cache_get(c, k2, &out) == 0, "entry closest to expiry evicted");
	ok(cache_get(c, k3, &out) == 1, "later entry kept");
	auth_result_clear(&out);
	ok(cache_get(c, k1, &out) == 1, "new entry stored");
	auth_result_clear(&out);
	cache_free(c);
	auth_result_clear(&r);
}

#define MODEL_KEYS	60

/*
 * Drive one shard with many keys that share four home slots, so deletion
 * has to shift long probe runs, and check every key against a model.
 */
static void
test_model(void)
{
	struct cache		*c = cache_new(64 * 64);
	struct auth_result	 r, out;
	uint8_t			 keys[MODEL_KEYS][TR_SHA256_LEN];
	int			 model[MODEL_KEYS], doomed[MODEL_KEYS];
	char			 name[32];
	int			 round, i, bad = 0, n;

	memset(&out, 0, sizeof(out));
	srandom(99);
	for (i = 0; i < MODEL_KEYS; i++) {
		make_key(keys[i], 9, (uint8_t)(random() % 4), (uint32_t)i);
		model[i] = -1;
	}
	for (round = 0; round < 60; round++) {
		for (i = 0; i < MODEL_KEYS; i++) {
			doomed[i] = 0;
			if (random() % 3 != 0)
				continue;
			n = (int)(random() % 1000);
			snprintf(name, sizeof(name), "u%d", n);
			make_result(&r, name);
			doomed[i] = random() % 2;
			cache_put(c, keys[i], &r, doomed[i] ? 1 : 600000);
			model[i] = doomed[i] ? -1 : n;
			auth_result_clear(&r);
		}
		sleep_ms(3);
		for (i = 0; i < MODEL_KEYS; i++) {
			if (model[i] == -1) {
				if (cache_get(c, keys[i], &out) != 0)
					bad++;
			} else {
				snprintf(name, sizeof(name), "u%d", model[i]);
				if (cache_get(c, keys[i], &out) != 1 ||
				    strcmp(out.username, name) != 0)
					bad++;
			}
			auth_result_clear(&out);
		}
		for (n = 0, i = 0; i < MODEL_KEYS; i++)
			n += model[i] != -1;
		if (cache_count(c) != (size_t)n)
			bad++;
	}
	is_int(bad, 0, "index agrees with the model under collisions");
	cache_free(c);
}

#define THREADS		4
#define THREAD_OPS	100000
#define POOL		3000

struct hammer {
	struct cache	*cache;
	uint8_t		 (*keys)[TR_SHA256_LEN];
	unsigned int	 seed;
	long		 hits;
	long		 wrong;
};

static void *
hammer_main(void *arg)
{
	struct hammer		*h = arg;
	struct auth_result	 r, out;
	char			 name[32];
	int			 i, k;

	memset(&out, 0, sizeof(out));
	for (i = 0; i < THREAD_OPS; i++) {
		k = (int)(rand_r(&h->seed) % POOL);
		snprintf(name, sizeof(name), "user%d", k);
		if (rand_r(&h->seed) % 2 == 0) {
			make_result(&r, name);
			cache_put(h->cache, h->keys[k], &r,
			    rand_r(&h->seed) % 4 == 0 ? 1 : 60000);
			auth_result_clear(&r);
		} else if (cache_get(h->cache, h->keys[k], &out)) {
			h->hits++;
			if (strcmp(out.username, name) != 0)
				h->wrong++;
			auth_result_clear(&out);
		}
	}
	return NULL;
}

static void
test_threads(void)
{
	struct hammer	 h[THREADS];
	pthread_t	 tid[THREADS];
	uint8_t		(*keys)[TR_SHA256_LEN];
	char		 tok[32];
	long		 hits = 0, wrong = 0;
	int		 i;
	struct cache	*c = cache_new(1000);

	keys = xcalloc(POOL, TR_SHA256_LEN);
	for (i = 0; i < POOL; i++) {
		snprintf(tok, sizeof(tok), "token-%d", i);
		cache_key(tok, strlen(tok), NULL, 0, keys[i]);
	}
	for (i = 0; i < THREADS; i++) {
		h[i].cache = c;
		h[i].keys = keys;
		h[i].seed = (unsigned int)i * 7919 + 1;
		h[i].hits = h[i].wrong = 0;
		if (pthread_create(&tid[i], NULL, hammer_main, &h[i]) != 0)
			fatalx("pthread_create");
	}
	for (i = 0; i < THREADS; i++) {
		pthread_join(tid[i], NULL);
		hits += h[i].hits;
		wrong += h[i].wrong;
	}
	ok(hits > 0, "%d threads x %d ops: %ld hits", THREADS, THREAD_OPS,
	    hits);
	is_int(wrong, 0, "every hit had the right user");
	ok(cache_count(c) <= 1000, "bound holds under concurrency (%zu)",
	    cache_count(c));
	cache_free(c);
	free(keys);
}

int
main(void)
{
	log_init(LL_ERROR);
	test_basic();
	test_expiry();
	test_keys();
	test_bound();
	test_evict_order();
	test_model();
	test_threads();
	return done_testing();
}
