/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The review result cache, shared by all worker threads.  Keys are
 * SHA-256 digests of the token and the request's audiences, so the cache
 * never holds a token.  It is split into 64 shards by the first key byte,
 * each with its own mutex, so workers rarely wait for each other.  Stored
 * results are immutable and reference-counted: a lookup takes a reference
 * under the lock and hands the review the entry's strings as they are,
 * with no allocation, until the review's result is cleared; a store
 * builds its copy before taking the lock, so no allocation or free happens
 * while a shard is locked.  A full shard evicts an expired entry, else the
 * one closest to expiry among a few it samples, which bounds the work.
 * Shards start empty and double as they fill, up to their share of
 * max_entries, so an idle cache costs next to no memory.
 */

#include <sys/types.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tokenreviewd.h"

#define CACHE_SHARDS		64
#define CACHE_SAMPLE		8	/* entries looked at for a victim */
#define CACHE_MAX_SHARD		(1U << 30)

/* A stored result; freed by whoever drops the last reference. */
struct cache_val {
	int			refs;
	struct auth_result	res;
};

struct cache_entry {
	uint8_t			 key[TR_SHA256_LEN];
	uint64_t		 expiry;	/* monotonic_ms() */
	struct cache_val	*val;
};

/*
 * Entries are dense in [0, n); removing one moves the last into its place.
 * slots is an open-addressing index (linear probing, backward-shift
 * deletion, no tombstones) holding 1 + entry index, 0 for empty; it has at
 * least twice as many slots as the shard may hold entries.
 */
struct cache_shard {
	pthread_mutex_t		 lock;
	struct cache_entry	*entries;
	size_t			 n;
	size_t			 cap;		/* entries allocated */
	size_t			 max;
	uint32_t		*slots;
	size_t			 mask;
	size_t			 hand;		/* next eviction sample */
	char			 pad[64];	/* keep shards' locks apart */
};

struct cache {
	struct cache_shard	shards[CACHE_SHARDS];
};

/* Byte 0 picks the shard; the digest is uniform, so bytes 8-15 hash. */
static inline size_t
cache_home(const uint8_t *key)
{
	uint64_t	h;

	memcpy(&h, key + 8, sizeof(h));
	return (size_t)h;
}

static void
cache_val_unref(struct cache_val *v)
{
	if (v == NULL)
		return;
	if (__atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	auth_result_clear(&v->res);
	free(v);
}

struct cache *
cache_new(size_t max_entries)
{
	struct cache		*c;
	struct cache_shard	*s;
	size_t			 i;

	c = xcalloc(1, sizeof(*c));
	for (i = 0; i < CACHE_SHARDS; i++) {
		s = &c->shards[i];
		if (pthread_mutex_init(&s->lock, NULL) != 0)
			fatalx("pthread_mutex_init failed");
		/* Spread the remainder so the shards add up to max_entries. */
		s->max = max_entries / CACHE_SHARDS +
		    (i < max_entries % CACHE_SHARDS);
		if (s->max > CACHE_MAX_SHARD)
			s->max = CACHE_MAX_SHARD;
	}
	return c;
}

void
cache_free(struct cache *c)
{
	struct cache_shard	*s;
	size_t			 i, j;

	if (c == NULL)
		return;
	for (i = 0; i < CACHE_SHARDS; i++) {
		s = &c->shards[i];
		for (j = 0; j < s->n; j++)
			cache_val_unref(s->entries[j].val);
		free(s->entries);
		free(s->slots);
		pthread_mutex_destroy(&s->lock);
	}
	free(c);
}

/*
 * The entry index for key, or SIZE_MAX; *slot gets the slot that holds it
 * or the empty slot where it would go.  Keys are digests, not secrets, so
 * a plain memcmp is fine here.
 */
static size_t
shard_find(const struct cache_shard *s, const uint8_t *key, size_t *slot)
{
	size_t		i;
	uint32_t	v;

	if (s->slots == NULL) {		/* nothing stored yet */
		*slot = 0;
		return SIZE_MAX;
	}
	for (i = cache_home(key) & s->mask; (v = s->slots[i]) != 0;
	    i = (i + 1) & s->mask) {
		if (ct_equal(s->entries[v - 1].key, key, TR_SHA256_LEN)) {
			*slot = i;
			return v - 1;
		}
	}
	*slot = i;
	return SIZE_MAX;
}

/*
 * Make room for more entries: twice as many, up to the shard's share, and
 * an index rebuilt for them.  Rare (log2 of the share times), so done
 * under the lock.
 */
static void
shard_grow(struct cache_shard *s)
{
	size_t	cap, nslots, i, j;

	cap = s->cap == 0 ? 16 : s->cap * 2;
	if (cap > s->max)
		cap = s->max;
	for (nslots = 4; nslots < 2 * cap; nslots *= 2)
		;
	s->entries = xreallocarray(s->entries, cap, sizeof(*s->entries));
	free(s->slots);
	s->slots = xcalloc(nslots, sizeof(*s->slots));
	s->mask = nslots - 1;
	s->cap = cap;
	for (i = 0; i < s->n; i++) {
		for (j = cache_home(s->entries[i].key) & s->mask;
		    s->slots[j] != 0; j = (j + 1) & s->mask)
			;
		s->slots[j] = (uint32_t)(i + 1);
	}
}

/* Empty a slot and pull later members of its probe run back into it. */
static void
shard_unlink(struct cache_shard *s, size_t hole)
{
	size_t	j = hole, home;

	for (;;) {
		j = (j + 1) & s->mask;
		if (s->slots[j] == 0)
			break;
		home = cache_home(s->entries[s->slots[j] - 1].key) & s->mask;
		/* An entry whose home lies in (hole, j] must stay. */
		if (((j - home) & s->mask) < ((j - hole) & s->mask))
			continue;
		s->slots[hole] = s->slots[j];
		hole = j;
	}
	s->slots[hole] = 0;
}

/* Remove the entry in slot; returns its value for the caller to unref. */
static struct cache_val *
shard_remove(struct cache_shard *s, size_t slot)
{
	size_t			 idx = s->slots[slot] - 1, last = s->n - 1, j;
	struct cache_val	*val = s->entries[idx].val;

	shard_unlink(s, slot);
	if (idx != last) {
		(void)shard_find(s, s->entries[last].key, &j);
		s->slots[j] = (uint32_t)(idx + 1);
		s->entries[idx] = s->entries[last];
	}
	s->n--;
	return val;
}

/*
 * Pick an entry to evict from a full shard: the first expired one among
 * CACHE_SAMPLE entries from a moving hand, else the one of those closest
 * to expiry.  Returns its slot.
 */
static size_t
shard_victim(struct cache_shard *s, uint64_t now)
{
	size_t	k, i, best = 0, slot;

	for (k = 0; k < CACHE_SAMPLE && k < s->n; k++) {
		i = (s->hand + k) % s->n;
		if (k == 0 || s->entries[i].expiry < s->entries[best].expiry)
			best = i;
		if (s->entries[i].expiry <= now)
			break;
	}
	s->hand = (s->hand + k + 1) % s->n;
	(void)shard_find(s, s->entries[best].key, &slot);
	return slot;
}

void
cache_put(struct cache *c, const uint8_t key[TR_SHA256_LEN],
    const struct auth_result *res, long long ttl)
{
	struct cache_shard	*s;
	struct cache_entry	*e;
	struct cache_val	*val, *old = NULL;
	uint64_t		 now;
	size_t			 idx, slot;

	if (c == NULL || ttl <= 0)
		return;
	if (res->max_ttl > 0 && res->max_ttl < ttl)
		ttl = res->max_ttl;
	s = &c->shards[key[0] % CACHE_SHARDS];
	if (s->max == 0)
		return;
	val = xcalloc(1, sizeof(*val));
	val->refs = 1;
	auth_result_copy(&val->res, res);
	now = monotonic_ms();

	pthread_mutex_lock(&s->lock);
	if ((idx = shard_find(s, key, &slot)) != SIZE_MAX) {
		e = &s->entries[idx];
		old = e->val;
	} else {
		if (s->n == s->max) {
			old = shard_remove(s, shard_victim(s, now));
			/* The removal may have shifted the free slot. */
			(void)shard_find(s, key, &slot);
		} else if (s->n == s->cap) {
			shard_grow(s);
			(void)shard_find(s, key, &slot);
		}
		e = &s->entries[s->n++];
		memcpy(e->key, key, TR_SHA256_LEN);
		s->slots[slot] = (uint32_t)s->n;
	}
	e->expiry = now + (uint64_t)ttl;
	e->val = val;
	pthread_mutex_unlock(&s->lock);

	cache_val_unref(old);
}

int
cache_get(struct cache *c, const uint8_t key[TR_SHA256_LEN],
    struct auth_result *out)
{
	struct cache_shard	*s;
	struct cache_entry	*e;
	struct cache_val	*hit = NULL, *dead = NULL;
	uint64_t		 now;
	size_t			 idx, slot;

	if (c == NULL)
		return 0;
	s = &c->shards[key[0] % CACHE_SHARDS];
	if (s->max == 0)
		return 0;
	now = monotonic_ms();

	pthread_mutex_lock(&s->lock);
	if ((idx = shard_find(s, key, &slot)) != SIZE_MAX) {
		e = &s->entries[idx];
		if (e->expiry <= now)
			dead = shard_remove(s, slot);
		else {
			hit = e->val;
			__atomic_add_fetch(&hit->refs, 1, __ATOMIC_RELAXED);
		}
	}
	pthread_mutex_unlock(&s->lock);

	cache_val_unref(dead);
	if (hit == NULL)
		return 0;
	*out = hit->res;
	out->cache_ref = hit;
	return 1;
}

void
cache_ref_drop(void *ref)
{
	cache_val_unref(ref);
}

size_t
cache_count(struct cache *c)
{
	struct cache_shard	*s;
	size_t			 i, n = 0;

	if (c == NULL)
		return 0;
	for (i = 0; i < CACHE_SHARDS; i++) {
		s = &c->shards[i];
		pthread_mutex_lock(&s->lock);
		n += s->n;
		pthread_mutex_unlock(&s->lock);
	}
	return n;
}

/*
 * The key is SHA-256 over the token's own SHA-256, which the review has
 * already (auth.c), and the audiences, each after a NUL: a separator that
 * cannot be confused with audience bytes, as audiences are C strings, and
 * the digest has a fixed length.
 */
void
cache_key_digest(const uint8_t token_hash[TR_SHA256_LEN], char *const *auds,
    size_t naud, uint8_t out[TR_SHA256_LEN])
{
	void	*ctx;
	size_t	 i;

	ctx = sha256_begin();
	sha256_update(ctx, token_hash, TR_SHA256_LEN);
	for (i = 0; auds != NULL && i < naud && auds[i] != NULL; i++) {
		sha256_update(ctx, "", 1);
		sha256_update(ctx, auds[i], strlen(auds[i]));
	}
	sha256_end(ctx, out);
}

void
cache_key(const char *token, size_t len, char *const *auds, size_t naud,
    uint8_t out[TR_SHA256_LEN])
{
	uint8_t	md[TR_SHA256_LEN];

	sha256(token, len, md);
	cache_key_digest(md, auds, naud, out);
	OPENSSL_cleanse(md, sizeof(md));
}
