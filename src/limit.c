/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Per-client limit on failed reviews, to blunt token guessing.  Each client
 * address has a token bucket of [server] failed_review_burst failures,
 * refilled at failed_review_rate a second; a review whose token no source
 * knows takes one.  While a client's bucket is empty its reviews are
 * answered with an error without asking any source.  The login listener
 * counts failed logins per client address the same way, in a table of its
 * own (a scope), so that neither kind of failure uses up the other's.
 *
 * The table is shared by the workers (a client's connections land on any of
 * them) and by the runtimes (a reload keeps what clients did).  It is split
 * into shards, each a small array under its own lock: a review costs one
 * uncontended lock and a scan of at most LIMIT_SLOTS hashes.  The table is
 * bounded: when a shard is full, the client closest to a full bucket (the
 * one least worth remembering) makes room.
 *
 * The second table here counts failed logins per user name for a source
 * that checks passwords against a directory (LDAP bind mode).  A name with
 * bind_failure_limit failures within bind_failure_window is locked out for
 * bind_lockout: its reviews are refused without asking the directory, so
 * that a guesser never reaches the directory's own account lockout.  A
 * bind in flight holds a place among the failures until its answer comes,
 * so that concurrent guesses cannot overshoot the limit.  Names are kept
 * as a SHA-256 of the source's name and the name as the directory compares
 * it, in shards like the first table; when a shard is full, the entry with
 * the fewest failures goes, locked-out names last.
 */

#include <sys/types.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tokenreviewd.h"

#define LIMIT_SHARDS	16
#define LIMIT_SLOTS	64	/* clients per shard */
#define LIMIT_KEY_LEN	48	/* an IPv6 address and then some */
#define LOCKOUT_SHARDS	32
#define LOCKOUT_SLOTS	128	/* names per shard */

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

struct lockout_entry {
	uint8_t		 id[TR_SHA256_LEN];
	int		 used;
	unsigned	 failures;	/* within the window */
	unsigned	 inflight;	/* binds sent, answer not in yet */
	uint64_t	 first;		/* ms, first failure of the window */
	uint64_t	 until;		/* ms, locked out until then; 0: not */
};

struct lockout_shard {
	pthread_mutex_t		 lock;
	struct lockout_entry	 e[LOCKOUT_SLOTS];
};

static struct limit_shard	 limit_shards[LIMIT_NSCOPES][LIMIT_SHARDS];
static struct lockout_shard	 lockout_shards[LOCKOUT_SHARDS];
static pthread_once_t		 limit_once = PTHREAD_ONCE_INIT;

/* The locks of both tables, made by whichever is used first. */
static void
limit_init(void)
{
	size_t	i;

	for (i = 0; i < LIMIT_NSCOPES * LIMIT_SHARDS; i++)
		pthread_mutex_init(&limit_shards[i / LIMIT_SHARDS]
		    [i % LIMIT_SHARDS].lock, NULL);
	for (i = 0; i < LOCKOUT_SHARDS; i++)
		pthread_mutex_init(&lockout_shards[i].lock, NULL);
}

/*
 * Forget every entry of a table of n shards of size bytes each.  Both
 * shard types are their lock and then their entries, from offset off.
 */
static void
limit_table_clear(void *table, size_t n, size_t size, size_t off)
{
	char	*p = table;
	size_t	 i;

	pthread_once(&limit_once, limit_init);
	for (i = 0; i < n; i++, p += size) {
		pthread_mutex_lock((pthread_mutex_t *)(void *)p);
		memset(p + off, 0, size - off);
		pthread_mutex_unlock((pthread_mutex_t *)(void *)p);
	}
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
limit_shard(const struct limit_conf *lc, const char *key, uint64_t *h)
{
	pthread_once(&limit_once, limit_init);
	*h = limit_hash(key);
	return &limit_shards[lc->scope == LIMIT_LOGINS][(*h >> 32) %
	    LIMIT_SHARDS];
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
	s = limit_shard(lc, client, &h);
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
	s = limit_shard(lc, client, &h);
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

long long
limit_retry_ms(const struct limit_conf *lc, const char *client, uint64_t now)
{
	struct limit_shard	*s;
	struct limit_entry	*e;
	uint64_t		 h;
	long long		 ms = 0;

	if (lc->rate <= 0)
		return 0;
	s = limit_shard(lc, client, &h);
	pthread_mutex_lock(&s->lock);
	if ((e = limit_find(s, h, client)) != NULL) {
		limit_refill(e, lc, now);
		if (e->tokens < 1)
			ms = (long long)((1 - e->tokens) * 1000.0 / lc->rate) +
			    1;
	}
	pthread_mutex_unlock(&s->lock);
	return ms;
}

void
limit_reset(void)
{
	limit_table_clear(limit_shards, LIMIT_NSCOPES * LIMIT_SHARDS,
	    sizeof(limit_shards[0][0]), offsetof(struct limit_shard, e));
}

/* ------------------------------------------------------------ lockout */

/*
 * A user name as a directory compares it with caseIgnoreMatch (uid,
 * sAMAccountName): surrounding spaces dropped, inner runs of spaces made
 * one, ASCII letters in lower case.  Other bytes are kept: names that
 * differ only in the case of a non-ASCII letter count apart.  Truncated to
 * outlen - 1 bytes.
 */
void
lockout_name(const char *name, char *out, size_t outlen)
{
	size_t	n = 0;
	int	space = 0;

	if (outlen == 0)
		return;
	while (*name == ' ')
		name++;
	for (; *name != '\0' && n + 1 < outlen; name++) {
		if (*name == ' ') {
			space = 1;
			continue;
		}
		if (space) {
			if (n + 2 >= outlen)
				break;	/* no room for what follows it */
			out[n++] = ' ';
			space = 0;
		}
		out[n++] = (char)((*name >= 'A' && *name <= 'Z') ?
		    *name - 'A' + 'a' : *name);
	}
	out[n] = '\0';
}

static struct lockout_shard *
lockout_shard(const char *scope, const char *name, uint8_t id[TR_SHA256_LEN])
{
	char	norm[LOCKOUT_NAME_MAX];
	void	*ctx;

	pthread_once(&limit_once, limit_init);
	lockout_name(name, norm, sizeof(norm));
	ctx = sha256_begin();
	sha256_update(ctx, scope, strlen(scope) + 1);	/* with its NUL */
	sha256_update(ctx, norm, strlen(norm));
	sha256_end(ctx, id);
	OPENSSL_cleanse(norm, sizeof(norm));
	return &lockout_shards[id[0] % LOCKOUT_SHARDS];
}

/* Forget what has aged out: an ended lockout, a window gone by. */
static void
lockout_age(struct lockout_entry *e, const struct lockout_conf *lc,
    uint64_t now)
{
	if (e->until != 0 && now >= e->until) {
		e->until = 0;
		e->failures = 0;
	}
	/* Workers read the clock before they lock: now may lag first. */
	if (e->until == 0 && e->failures > 0 && now > e->first &&
	    now - e->first >= (uint64_t)lc->window)
		e->failures = 0;
}

static struct lockout_entry *
lockout_find(struct lockout_shard *s, const uint8_t id[TR_SHA256_LEN])
{
	size_t	i;

	for (i = 0; i < LOCKOUT_SLOTS; i++) {
		if (s->e[i].used && memcmp(s->e[i].id, id, TR_SHA256_LEN) == 0)
			return &s->e[i];
	}
	return NULL;
}

/* How much an entry is worth keeping: locked out, then by failures. */
static uint64_t
lockout_worth(const struct lockout_entry *e)
{
	if (!e->used)
		return 0;
	if (e->until != 0)
		return UINT64_MAX / 2 + e->until / 2;
	return (uint64_t)e->failures + e->inflight;
}

static struct lockout_entry *
lockout_slot(struct lockout_shard *s, const struct lockout_conf *lc,
    const uint8_t id[TR_SHA256_LEN], uint64_t now)
{
	struct lockout_entry	*e, *best = NULL;
	size_t			 i;

	for (i = 0; i < LOCKOUT_SLOTS; i++) {
		e = &s->e[i];
		if (e->used) {
			lockout_age(e, lc, now);
			if (e->failures == 0 && e->inflight == 0)
				e->used = 0;
		}
		if (best == NULL || lockout_worth(e) < lockout_worth(best))
			best = e;
	}
	memset(best, 0, sizeof(*best));
	best->used = 1;
	memcpy(best->id, id, TR_SHA256_LEN);
	best->first = now;
	return best;
}

/* What lockout_look() does besides looking: lockout_check() or _begin(). */
enum lockout_look_mode {
	LOCKOUT_PEEK,		/* only look */
	LOCKOUT_RESERVE,	/* take a place among the failures */
};

/* How long name is locked out, in ms, or 0; for _begin() see there. */
static long long
lockout_look(const struct lockout_conf *lc, const char *scope,
    const char *name, uint64_t now, enum lockout_look_mode mode)
{
	struct lockout_shard	*s;
	struct lockout_entry	*e;
	uint8_t			 id[TR_SHA256_LEN];
	long long		 left = 0;

	if (lc->limit <= 0)
		return 0;
	s = lockout_shard(scope, name, id);
	pthread_mutex_lock(&s->lock);
	e = lockout_find(s, id);
	if (e == NULL && mode == LOCKOUT_RESERVE)
		e = lockout_slot(s, lc, id, now);
	if (e != NULL) {
		lockout_age(e, lc, now);
		if (e->until != 0)
			left = (long long)(e->until - now);
		else if (mode == LOCKOUT_PEEK)
			left = 0;
		else if (e->failures + e->inflight >= (unsigned)lc->limit)
			left = 1;	/* the binds in flight may use it up */
		else
			e->inflight++;
	}
	pthread_mutex_unlock(&s->lock);
	return left;
}

long long
lockout_check(const struct lockout_conf *lc, const char *scope,
    const char *name, uint64_t now)
{
	return lockout_look(lc, scope, name, now, LOCKOUT_PEEK);
}

long long
lockout_begin(const struct lockout_conf *lc, const char *scope,
    const char *name, uint64_t now)
{
	return lockout_look(lc, scope, name, now, LOCKOUT_RESERVE);
}

/* A failure: 1 when it is the one that locks the name out. */
static int
lockout_count(struct lockout_entry *e, const struct lockout_conf *lc,
    uint64_t now)
{
	if (e->until != 0)
		return 0;
	if (e->failures == 0)
		e->first = now;
	if (++e->failures < (unsigned)lc->limit)
		return 0;
	e->until = now + (uint64_t)lc->duration;
	if (e->until == 0)
		e->until = 1;
	return 1;
}

int
lockout_end(const struct lockout_conf *lc, const char *scope,
    const char *name, int began, enum lockout_outcome outcome, uint64_t now)
{
	struct lockout_shard	*s;
	struct lockout_entry	*e;
	uint8_t			 id[TR_SHA256_LEN];
	int			 locked = 0;

	if (lc->limit <= 0)
		return 0;
	s = lockout_shard(scope, name, id);
	pthread_mutex_lock(&s->lock);
	e = lockout_find(s, id);
	if (e == NULL && outcome == LO_FAILED)
		e = lockout_slot(s, lc, id, now);
	if (e != NULL) {
		if (began && e->inflight > 0)
			e->inflight--;
		lockout_age(e, lc, now);
		if (outcome == LO_FAILED)
			locked = lockout_count(e, lc, now);
		else if (outcome == LO_SUCCEEDED && e->until == 0)
			e->failures = 0;
		if (e->failures == 0 && e->inflight == 0 && e->until == 0)
			e->used = 0;
	}
	pthread_mutex_unlock(&s->lock);
	return locked;
}

void
lockout_reset(void)
{
	limit_table_clear(lockout_shards, LOCKOUT_SHARDS,
	    sizeof(lockout_shards[0]), offsetof(struct lockout_shard, e));
}
