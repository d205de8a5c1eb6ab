/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Connections per client address that have not proven who their caller
 * is: still in their TLS handshake, or waiting for a first request that
 * authenticates the caller (on the health listener, which has no way to
 * authenticate anyone, every connection counts).  [server]
 * max_connections_per_client bounds them, so one address cannot take a
 * listener's slots with idle sockets.
 *
 * Every review comes from the API server's few addresses, and under load
 * it opens many connections at once.  An address whose connection proved
 * itself (an accepted client certificate, the right bearer token) is
 * trusted while it has such a connection open and for CL_TRUST_MS after
 * the last one closed: its new connections on the review listener are
 * counted but never refused.  Only a caller with a valid credential earns
 * trust, and a listener that is full still closes its oldest unproven
 * connections first (server.c), so trust does not let anyone hold slots.
 *
 * A burst of new connections (an API server that just started, or a
 * daemon that just did) is not an attack: its connections prove
 * themselves within milliseconds.  So an address is refused only once it
 * has been at its limit for CL_GRACE_MS without any of its connections
 * proving itself meanwhile; during that grace the listener's cap (and its
 * closing of silent connections) still bounds what it can take.  An
 * address refused once is remembered for CL_MEMORY_MS: it gets no new
 * grace each time its connections time out together.
 *
 * An IPv6 client is its /64: whoever has one address of a subnet usually
 * has the whole of it.
 *
 * The table is shared by the workers (SO_REUSEPORT spreads one client's
 * connections over all of them) and split into shards, each a small hash
 * table under its own lock; it is consulted when a connection is accepted,
 * proves itself or closes, never per request.  An entry lives while its
 * address has a counted connection or is trusted, so the table is bounded
 * by the listeners' caps and the callers that hold a credential.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#include "tokenreviewd.h"

#define CL_SHARDS	16
#define CL_BUCKETS	64		/* per shard */
#define CL_TRUST_MS	(10 * 60 * 1000)
#define CL_GRACE_MS	1000
#define CL_MEMORY_MS	(60 * 1000)

struct cl_entry {
	struct connlimit_addr	 addr;
	int			 unproven[LISTENER_MAX];
	uint64_t		 full_since[LISTENER_MAX]; /* ms, at max */
	uint64_t		 proved_at;	/* ms, last connection proved */
	int			 proven;	/* open and authenticated */
	uint64_t		 trusted_until;	/* ms, after the last one */
	uint64_t		 refused_at;	/* ms, last refusal, 0: none */
	LIST_ENTRY(cl_entry)	 link;
};
LIST_HEAD(cl_list, cl_entry);

struct cl_shard {
	pthread_mutex_t		 lock;
	struct cl_list		 b[CL_BUCKETS];
	size_t			 n;
};

static struct cl_shard	 cl_shards[CL_SHARDS];
static uint64_t		 cl_seed[2];
static pthread_once_t	 cl_once = PTHREAD_ONCE_INIT;

static void
cl_init(void)
{
	size_t	i, j;

	/* Keyed, so nobody can aim many addresses at one bucket. */
	if (RAND_bytes((unsigned char *)cl_seed, sizeof(cl_seed)) != 1)
		fatalx("RAND_bytes failed");
	for (i = 0; i < CL_SHARDS; i++) {
		pthread_mutex_init(&cl_shards[i].lock, NULL);
		for (j = 0; j < CL_BUCKETS; j++)
			LIST_INIT(&cl_shards[i].b[j]);
	}
}

void
connlimit_addr(const struct sockaddr *sa, struct connlimit_addr *a)
{
	const struct sockaddr_in	*sin;
	const struct sockaddr_in6	*sin6;

	memset(a, 0, sizeof(*a));
	if (sa->sa_family == AF_INET) {
		sin = (const struct sockaddr_in *)sa;
		a->b[10] = a->b[11] = 0xff;
		memcpy(&a->b[12], &sin->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		sin6 = (const struct sockaddr_in6 *)sa;
		if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
			memcpy(a->b, &sin6->sin6_addr, 16);
		else
			memcpy(a->b, &sin6->sin6_addr, 8);
	}
}

static int
cl_is_v4(const struct connlimit_addr *a)
{
	static const uint8_t	prefix[12] = {
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff
	};

	return memcmp(a->b, prefix, sizeof(prefix)) == 0;
}

void
connlimit_format(const struct connlimit_addr *a, char *buf, size_t len)
{
	char	s[INET6_ADDRSTRLEN];

	if (cl_is_v4(a))
		inet_ntop(AF_INET, &a->b[12], s, sizeof(s));
	else
		inet_ntop(AF_INET6, a->b, s, sizeof(s));
	snprintf(buf, len, "%s%s", s, cl_is_v4(a) ? "" : "/64");
}

static uint64_t
cl_mix(uint64_t h, uint64_t v)
{
	h ^= v;
	h *= 0x9e3779b97f4a7c15ULL;
	return h ^ (h >> 31);
}

static struct cl_shard *
cl_shard(const struct connlimit_addr *a, struct cl_list **bucket)
{
	struct cl_shard	*s;
	uint64_t	 w[2], h;

	pthread_once(&cl_once, cl_init);
	memcpy(w, a->b, sizeof(w));
	h = cl_mix(cl_mix(cl_seed[0], w[0] ^ cl_seed[1]), w[1]);
	s = &cl_shards[(h >> 32) % CL_SHARDS];
	*bucket = &s->b[h % CL_BUCKETS];
	return s;
}

static int
cl_idle(const struct cl_entry *e, uint64_t now)
{
	size_t	i;

	for (i = 0; i < LISTENER_MAX; i++) {
		if (e->unproven[i] > 0)
			return 0;
	}
	return e->proven == 0 && now >= e->trusted_until &&
	    (e->refused_at == 0 || now >= e->refused_at + CL_MEMORY_MS);
}

/* The entry of a, else NULL; drops the bucket's forgotten entries. */
static struct cl_entry *
cl_find(struct cl_shard *s, struct cl_list *bucket,
    const struct connlimit_addr *a, uint64_t now)
{
	struct cl_entry	*e, *next, *found = NULL;

	for (e = LIST_FIRST(bucket); e != NULL; e = next) {
		next = LIST_NEXT(e, link);
		if (memcmp(&e->addr, a, sizeof(*a)) == 0)
			found = e;
		else if (cl_idle(e, now)) {
			LIST_REMOVE(e, link);
			free(e);
			s->n--;
		}
	}
	return found;
}

static struct cl_entry *
cl_get(struct cl_shard *s, struct cl_list *bucket,
    const struct connlimit_addr *a, uint64_t now)
{
	struct cl_entry	*e;

	if ((e = cl_find(s, bucket, a, now)) != NULL)
		return e;
	e = xcalloc(1, sizeof(*e));
	e->addr = *a;
	LIST_INSERT_HEAD(bucket, e, link);
	s->n++;
	return e;
}

static void
cl_put(struct cl_shard *s, struct cl_entry *e, uint64_t now)
{
	if (!cl_idle(e, now))
		return;
	LIST_REMOVE(e, link);
	free(e);
	s->n--;
}

/* What cl_lock() does when a has no entry. */
enum cl_lookup {
	CL_FIND,	/* return NULL */
	CL_ADD,		/* add one */
};

/* Lock the shard of a, in *sp, and return a's entry; the caller unlocks. */
static struct cl_entry *
cl_lock(const struct connlimit_addr *a, uint64_t now, enum cl_lookup how,
    struct cl_shard **sp)
{
	struct cl_list	*bucket;

	*sp = cl_shard(a, &bucket);
	pthread_mutex_lock(&(*sp)->lock);
	if (how == CL_ADD)
		return cl_get(*sp, bucket, a, now);
	return cl_find(*sp, bucket, a, now);
}

/*
 * Over the limit, past the grace, and not trusted?  Workers read the clock
 * before they lock, so now may be a little behind the stamps: compare by
 * adding to them, never by subtracting from now.
 */
static int
cl_refuse(struct cl_entry *e, enum listener_kind kind, int max, uint64_t now)
{
	if (max <= 0 || e->unproven[kind] < max)
		return 0;
	if (kind == LISTENER_REVIEW && (e->proven > 0 ||
	    now < e->trusted_until))
		return 0;
	/* Refused lately, and nothing of it has proved itself since. */
	if (e->refused_at != 0 && now < e->refused_at + CL_MEMORY_MS &&
	    e->proved_at < e->refused_at)
		return 1;
	if (e->full_since[kind] == 0 || e->proved_at >= e->full_since[kind]) {
		/* A new episode at the limit: give it its grace. */
		e->full_since[kind] = now > 0 ? now : 1;
		return 0;
	}
	return now >= e->full_since[kind] + CL_GRACE_MS;
}

int
connlimit_take(const struct connlimit_addr *a, enum listener_kind kind,
    int max, uint64_t now, int *first)
{
	struct cl_shard	*s;
	struct cl_entry	*e;
	int		 r = 0;

	*first = 0;
	e = cl_lock(a, now, CL_ADD, &s);
	if (cl_refuse(e, kind, max, now)) {
		*first = e->refused_at == 0 ||
		    now >= e->refused_at + CL_MEMORY_MS;
		e->refused_at = now > 0 ? now : 1;
		r = -1;
	} else
		e->unproven[kind]++;
	pthread_mutex_unlock(&s->lock);
	return r;
}

void
connlimit_release(const struct connlimit_addr *a, enum listener_kind kind,
    int proved, uint64_t now)
{
	struct cl_shard	*s;
	struct cl_entry	*e;

	if ((e = cl_lock(a, now, CL_FIND, &s)) != NULL &&
	    e->unproven[kind] > 0) {
		e->unproven[kind]--;
		if (proved)
			e->proved_at = now;
		if (e->unproven[kind] == 0)
			e->full_since[kind] = 0;
		cl_put(s, e, now);
	}
	pthread_mutex_unlock(&s->lock);
}

void
connlimit_trust(const struct connlimit_addr *a, uint64_t now)
{
	struct cl_shard	*s;
	struct cl_entry	*e;

	e = cl_lock(a, now, CL_ADD, &s);
	e->proven++;
	pthread_mutex_unlock(&s->lock);
}

void
connlimit_untrust(const struct connlimit_addr *a, uint64_t now)
{
	struct cl_shard	*s;
	struct cl_entry	*e;

	if ((e = cl_lock(a, now, CL_FIND, &s)) != NULL && e->proven > 0) {
		e->proven--;
		if (e->proven == 0)
			e->trusted_until = now + CL_TRUST_MS;
		cl_put(s, e, now);
	}
	pthread_mutex_unlock(&s->lock);
}

size_t
connlimit_count(void)
{
	size_t	i, n = 0;

	pthread_once(&cl_once, cl_init);
	for (i = 0; i < CL_SHARDS; i++) {
		pthread_mutex_lock(&cl_shards[i].lock);
		n += cl_shards[i].n;
		pthread_mutex_unlock(&cl_shards[i].lock);
	}
	return n;
}

void
connlimit_reset(void)
{
	struct cl_entry	*e;
	size_t		 i, j;

	pthread_once(&cl_once, cl_init);
	for (i = 0; i < CL_SHARDS; i++) {
		pthread_mutex_lock(&cl_shards[i].lock);
		for (j = 0; j < CL_BUCKETS; j++) {
			while ((e = LIST_FIRST(&cl_shards[i].b[j])) != NULL) {
				LIST_REMOVE(e, link);
				free(e);
			}
		}
		cl_shards[i].n = 0;
		pthread_mutex_unlock(&cl_shards[i].lock);
	}
}
