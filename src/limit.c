/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Per-client limit on failed reviews, to blunt token guessing.  Each client
 * address has a token bucket of [server] failed_review_burst failures,
 * refilled at failed_review_rate a second; a review whose token no source
 * knows takes one.  While a client's bucket is empty its reviews are
 * answered with an error without asking any source.
 *
 * The table is shared by the workers (a client's connections land on any of
 * them) and by the runtimes (a reload keeps what clients did).  It is split
 * into shards, each a small array under its own lock: a review costs one
 * uncontended lock and a scan of at most LIMIT_SLOTS hashes.  The table is
 * bounded: when a shard is full, the client closest to a full bucket (the
 * one least worth remembering) makes room.
 */

#include <sys/types.h>

#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "tokenreviewd.h"

#define LIMIT_SHARDS	16
#define LIMIT_SLOTS	64	/* clients per shard */
#define LIMIT_KEY_LEN	48	/* an IPv6 address and then some */

struct limit_entry {
	uint64_t	 hash;		/* 0: free slot */
	char		 key[LIMIT_KEY_LEN];
	double		 tokens;	/* failures still allowed */
	uint64_t	 stamp;		/* ms, when tokens was computed */
	int		 over;		/* emptied since it was last full */
};

struct limit_shard {
	pthread_mutex_t		 lock;
	struct limit_entry	 e[LIMIT_SLOTS];
};

static struct limit_shard limit_shards[LIMIT_SHARDS];
static pthread_once_t	 limit_once = PTHREAD_ONCE_INIT;

static void
limit_init(void)
{
	size_t	i;

	for (i = 0; i < LIMIT_SHARDS; i++)
		pthread_mutex_init(&limit_shards[i].lock, NULL);
}

/*
 * The client part of a peer as http_peer() writes it: "192.0.2.1:5000" ->
 * "192.0.2.1", "[2001:db8::1]:5000" -> "2001:db8::1".  Connections of one
 * client come from many ports; the address is what identifies it.
 */
void
limit_client(const char *peer, char *out, size_t outlen)
{
	const char	*end;
	size_t		 n;

	if (*peer == '[') {
		peer++;
		end = strchr(peer, ']');
	} else
		end = strrchr(peer, ':');
	n = end != NULL ? (size_t)(end - peer) : strlen(peer);
	if (n >= outlen)
		n = outlen - 1;
	memcpy(out, peer, n);
	out[n] = '\0';
}

/* Never 0, which marks a free slot. */
static uint64_t
limit_hash(const char *s)
{
	uint64_t	h = fnv1a64(s);

	return h != 0 ? h : 1;
}

static void
limit_refill(struct limit_entry *e, const struct limit_conf *lc,
    uint64_t now)
{
	/* Workers read the clock before they lock: now may lag a little. */
	if (now <= e->stamp)
		return;
	e->tokens += (double)(now - e->stamp) * lc->rate / 1000.0;
	if (e->tokens >= lc->burst) {
		e->tokens = lc->burst;
		e->over = 0;
	}
	e->stamp = now;
}

static struct limit_entry *
limit_find(struct limit_shard *s, uint64_t h, const char *key)
{
	size_t	i;

	for (i = 0; i < LIMIT_SLOTS; i++) {
		if (s->e[i].hash == h && strcmp(s->e[i].key, key) == 0)
			return &s->e[i];
	}
	return NULL;
}

/* A slot for a new client: a free one, else the fullest bucket's. */
static struct limit_entry *
limit_slot(struct limit_shard *s, const struct limit_conf *lc, uint64_t now)
{
	struct limit_entry	*best = NULL;
	size_t			 i;

	for (i = 0; i < LIMIT_SLOTS; i++) {
		if (s->e[i].hash == 0)
			return &s->e[i];
		limit_refill(&s->e[i], lc, now);
		if (best == NULL || s->e[i].tokens > best->tokens)
			best = &s->e[i];
	}
	return best;
}

static struct limit_shard *
limit_shard(const char *key, uint64_t *h)
{
	pthread_once(&limit_once, limit_init);
	*h = limit_hash(key);
	return &limit_shards[(*h >> 32) % LIMIT_SHARDS];
}

int
limit_allowed(const struct limit_conf *lc, const char *client, uint64_t now)
{
	struct limit_shard	*s;
	struct limit_entry	*e;
	uint64_t		 h;
	int			 ok = 1;

	if (lc->rate <= 0)
		return 1;
	s = limit_shard(client, &h);
	pthread_mutex_lock(&s->lock);
	if ((e = limit_find(s, h, client)) != NULL) {
		limit_refill(e, lc, now);
		ok = e->tokens >= 1;
	}
	pthread_mutex_unlock(&s->lock);
	return ok;
}

int
limit_failed(const struct limit_conf *lc, const char *client, uint64_t now)
{
	struct limit_shard	*s;
	struct limit_entry	*e;
	uint64_t		 h;
	int			 empty = 0;

	if (lc->rate <= 0)
		return 0;
	s = limit_shard(client, &h);
	pthread_mutex_lock(&s->lock);
	if ((e = limit_find(s, h, client)) == NULL) {
		e = limit_slot(s, lc, now);
		e->hash = h;
		strlcpy(e->key, client, sizeof(e->key));
		e->tokens = lc->burst;
		e->stamp = now;
		e->over = 0;
	}
	limit_refill(e, lc, now);
	if (e->tokens >= 1)
		e->tokens -= 1;
	/* Tell once per episode, not at each refill of a steady guesser. */
	if (e->tokens < 1 && !e->over)
		empty = e->over = 1;
	pthread_mutex_unlock(&s->lock);
	return empty;
}

void
limit_reset(void)
{
	size_t	i;

	pthread_once(&limit_once, limit_init);
	for (i = 0; i < LIMIT_SHARDS; i++) {
		pthread_mutex_lock(&limit_shards[i].lock);
		memset(limit_shards[i].e, 0, sizeof(limit_shards[i].e));
		pthread_mutex_unlock(&limit_shards[i].lock);
	}
}
