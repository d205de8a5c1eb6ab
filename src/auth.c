/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The authenticator chain.  A review first asks the in-memory sources at
 * the head of the chain (the static file), then looks in the shared result
 * cache, then asks each other backend in turn, the way kube-apiserver
 * unions its authenticators: the first that authenticates wins, a backend
 * that fails does not stop the others, and when none accepts the answer is
 * "not authenticated", carrying the failures (if any) in status.error.
 * Backends may answer later (AUTH_PENDING); the whole review runs under one
 * deadline so that every request is answered.
 *
 * The in-memory head answers before the cache and its answers are never
 * stored: its lookup costs less than the cache's, and storing them would
 * only crowd out the answers worth keeping.  A chain of in-memory sources
 * alone never touches the cache.  The token is hashed once; the cache key
 * is derived from that digest.
 *
 * A caller over its limit on failed reviews (server.c) still gets the
 * answers of the cache and of in-memory backends (the static file); the
 * backends behind them never see its guesses, and a review that no
 * in-memory backend accepts fails with an error saying why.
 *
 * A review that has to wait on a backend is a "flight".  Identical reviews
 * (same token, same audiences) arriving at the same worker meanwhile join
 * it instead of asking the backend again, so a burst of requests for one
 * user costs one directory round trip.  If the leader's client goes away,
 * the first waiter takes over and starts the lookup again.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "tokenreviewd.h"

/* Every backend this build knows; the chain in the config picks from it. */
static const struct auth_backend *const backend_table[] = {
	&auth_static_backend,
#ifdef HAVE_TOKENDB
	&auth_tokendb_backend,
#endif
#ifdef HAVE_LDAP
	&auth_ldap_backend,
#endif
#ifdef HAVE_JWT
	&auth_jwt_backend,
#endif
};

#define NBACKENDS (sizeof(backend_table) / sizeof(backend_table[0]))

struct auth_chain {
	struct runtime		*rt;
	struct event_base	*base;
	void			**inst;		/* per backend, NULL if init failed */
	size_t			 nmemory;	/* in-memory backends at the head */
	TAILQ_HEAD(, auth_req)	 flights;	/* reviews waiting on a backend */
};

static void	chain_run(struct auth_req *);
static void	chain_finish(struct auth_req *);

const struct auth_backend *
auth_backend_find(const char *name)
{
	size_t	i;

	for (i = 0; i < NBACKENDS; i++) {
		if (strcmp(backend_table[i]->name, name) == 0)
			return backend_table[i];
	}
	return NULL;
}

const struct auth_backend *const *
auth_backends(size_t *n)
{
	*n = NBACKENDS;
	return backend_table;
}

struct auth_chain *
auth_chain_new(struct runtime *rt, struct event_base *base)
{
	struct auth_chain	*chain;
	size_t			 i;

	chain = xcalloc(1, sizeof(*chain));
	chain->rt = rt;
	chain->base = base;
	chain->inst = xcalloc(rt->nbackends, sizeof(*chain->inst));
	TAILQ_INIT(&chain->flights);
	while (chain->nmemory < rt->nbackends &&
	    rt->backends[chain->nmemory]->in_memory)
		chain->nmemory++;
	for (i = 0; i < rt->nbackends; i++) {
		if (rt->backends[i]->init(rt->shared[i], base,
		    &chain->inst[i]) != 0) {
			log_msg(LL_ERROR, "backend_init", "backend %s could "
			    "not start in this worker", rt->backends[i]->name);
			chain->inst[i] = NULL;
		}
	}
	runtime_ref(rt);
	return chain;
}

void *
auth_chain_instance(struct auth_chain *chain, const char *name)
{
	size_t	i;

	for (i = 0; i < chain->rt->nbackends; i++) {
		if (strcmp(chain->rt->backends[i]->name, name) == 0)
			return chain->inst[i];
	}
	return NULL;
}

void
auth_chain_free(struct auth_chain *chain)
{
	size_t	i;

	if (chain == NULL)
		return;
	for (i = 0; i < chain->rt->nbackends; i++) {
		if (chain->inst[i] != NULL)
			chain->rt->backends[i]->free(chain->inst[i]);
	}
	free(chain->inst);
	runtime_unref(chain->rt);
	free(chain);
}

void
auth_result_clear(struct auth_result *res)
{
	if (res->cache_ref != NULL)
		cache_ref_drop(res->cache_ref);
	else {
		free(res->username);
		free(res->user_json);
		free(res->audiences_json);
		free(res->error);
	}
	memset(res, 0, sizeof(*res));
}

void
auth_result_move(struct auth_result *dst, struct auth_result *src)
{
	auth_result_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

static char *
strdup_or_null(const char *s)
{
	return s == NULL ? NULL : xstrdup(s);
}

void
auth_result_copy(struct auth_result *dst, const struct auth_result *src)
{
	dst->rv = src->rv;
	dst->backend = src->backend;
	dst->username = strdup_or_null(src->username);
	dst->user_json = strdup_or_null(src->user_json);
	dst->audiences_json = strdup_or_null(src->audiences_json);
	dst->error = strdup_or_null(src->error);
	dst->max_ttl = src->max_ttl;
	dst->quiet = src->quiet;
	dst->cache_ref = NULL;
}

/* Add "backend: reason" to the errors of this review. */
static void
note_error(struct auth_req *req, const char *backend, const char *reason)
{
	char	*s;

	if (reason == NULL || *reason == '\0')
		reason = "failed";
	if (req->errors == NULL)
		xasprintf(&s, "%s: %s", backend, reason);
	else
		xasprintf(&s, "%s; %s: %s", req->errors, backend, reason);
	free(req->errors);
	req->errors = s;
}

static void
deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	struct auth_req			*req = arg;
	const struct auth_backend	*be;
	char				 why[64];

	be = req->chain->rt->backends[req->cursor];
	if (req->pending) {
		be->cancel(req->chain->inst[req->cursor], req);
		req->pending = 0;
	}
	auth_result_clear(&req->cur);
	snprintf(why, sizeof(why), "timed out after %lld ms",
	    req->chain->rt->conf->review_timeout);
	note_error(req, be->name, why);
	log_msg(LL_WARN, "review_timeout", "backend %s did not answer in "
	    "time (token %s)", be->name, req->token_fp);
	req->cursor = req->chain->rt->nbackends;
	chain_finish(req);
}

/*
 * The review's key in the cache and among the reviews in flight: made
 * when one of them needs it, so that a review without a cache that is
 * answered at once costs no second hash.
 */
static const uint8_t *
chain_key(struct auth_req *req)
{
	if (!req->keyed) {
		cache_key_digest(req->token_hash, req->audiences,
		    req->naudiences, req->cache_key);
		req->keyed = 1;
	}
	return req->cache_key;
}

/* A backend's verdict: keep it, or remember why and move on. */
static int
chain_take(struct auth_req *req, enum auth_rv rv)
{
	const struct auth_backend	*be;

	be = req->chain->rt->backends[req->cursor];
	switch (rv) {
	case AUTH_OK:
		req->cur.rv = AUTH_OK;
		req->cur.backend = be->name;
		if (req->cur.username == NULL || req->cur.user_json == NULL) {
			log_msg(LL_ERROR, "backend_bug", "backend %s accepted "
			    "without a user", be->name);
			auth_result_clear(&req->cur);
			note_error(req, be->name, "internal error");
			break;
		}
		auth_result_move(&req->result, &req->cur);
		return 1;
	case AUTH_ERROR:
		note_error(req, be->name, req->cur.error);
		if (!req->cur.quiet)
			log_msg(LL_WARN, "backend_error", "backend %s: %s "
			    "(token %s)", be->name, req->cur.error ?
			    req->cur.error : "failed", req->token_fp);
		break;
	case AUTH_DENY:
	case AUTH_PENDING:
		break;
	}
	auth_result_clear(&req->cur);
	req->cursor++;
	return 0;
}

static void
backend_done(struct auth_req *req, enum auth_rv rv)
{
	req->pending = 0;
	if (chain_take(req, rv))
		chain_finish(req);
	else
		chain_run(req);
}

static void
chain_run(struct auth_req *req)
{
	struct auth_chain		*chain = req->chain;
	const struct auth_backend	*be;
	struct timeval			 tv;
	enum auth_rv			 rv;
	long long			 ms;

	for (; req->cursor < chain->rt->nbackends; ) {
		be = chain->rt->backends[req->cursor];
		if (req->limited && !be->in_memory) {
			req->cursor++;
			continue;
		}
		if (chain->inst[req->cursor] == NULL) {
			note_error(req, be->name, "backend unavailable");
			req->cursor++;
			continue;
		}
		memset(&req->cur, 0, sizeof(req->cur));
		rv = be->authenticate(chain->inst[req->cursor], req, &req->cur,
		    backend_done);
		if (rv == AUTH_PENDING) {
			req->pending = 1;
			if (!req->in_flight) {
				chain_key(req);	/* for those who join it */
				TAILQ_INSERT_TAIL(&chain->flights, req, entry);
				req->in_flight = 1;
			}
			if (req->deadline == NULL) {
				ms = chain->rt->conf->review_timeout;
				ms_to_timeval(ms, &tv);
				req->deadline = evtimer_new(req->base,
				    deadline_cb, req);
				evtimer_add(req->deadline, &tv);
			}
			return;
		}
		if (chain_take(req, rv)) {
			chain_finish(req);
			return;
		}
	}
	chain_finish(req);
}

/* Answer the reviews that waited on this one, then this one. */
static void
chain_answer(struct auth_req *req)
{
	struct auth_req	*w;

	if (req->in_flight) {
		TAILQ_REMOVE(&req->chain->flights, req, entry);
		req->in_flight = 0;
	}
	while ((w = TAILQ_FIRST(&req->waiters)) != NULL) {
		TAILQ_REMOVE(&req->waiters, w, entry);
		w->leader = NULL;
		/* A result not to be cached (a use of a limited token) is
		 * this review's alone: the others ask for themselves. */
		if (req->result.max_ttl < 0) {
			w->joined = 0;
			chain_run(w);
			continue;
		}
		auth_result_copy(&w->result, &req->result);
		w->finish(w, w->finish_arg);
	}
	req->finish(req, req->finish_arg);
}

/*
 * Was a backend behind the in-memory head asked?  An answer of the head
 * (the cursor stops on the backend that accepted) is not, nor is a
 * refusal when the whole chain is in memory.
 */
static int
chain_cacheable(const struct auth_req *req)
{
	const struct auth_chain	*chain = req->chain;

	return req->cursor >= chain->nmemory &&
	    chain->nmemory < chain->rt->nbackends;
}

static void
chain_finish(struct auth_req *req)
{
	const struct config	*conf = req->chain->rt->conf;
	struct cache		*cache = req->chain->rt->cache;
	long long		 ttl;

	if (req->deadline != NULL) {
		event_free(req->deadline);
		req->deadline = NULL;
	}
	if (req->result.rv != AUTH_OK) {
		auth_result_clear(&req->result);
		if (req->limited) {
			/* Not cached: the next review may be under the limit. */
			req->refused = 1;
			req->result.rv = AUTH_ERROR;
			req->result.error = xstrdup("too many failed reviews "
			    "from this client; retry later");
		} else if (req->errors != NULL) {
			req->result.rv = AUTH_ERROR;
			req->result.error = req->errors;
			req->errors = NULL;
		} else
			req->result.rv = AUTH_DENY;
	}
	/*
	 * Errors are never cached: the next review may well succeed.  Nor is
	 * a result its backend marks as such (max_ttl < 0), nor one that
	 * needed no backend behind the in-memory head.
	 */
	if (cache != NULL && req->result.rv != AUTH_ERROR &&
	    req->result.max_ttl >= 0 && chain_cacheable(req)) {
		if (req->result.rv == AUTH_OK) {
			ttl = conf->cache_ttl;
			if (req->result.max_ttl > 0 && req->result.max_ttl < ttl)
				ttl = req->result.max_ttl;
		} else
			ttl = conf->cache_negative_ttl;
		cache_put(cache, chain_key(req), &req->result, ttl);
	}
	chain_answer(req);
}

/* A review identical to this one is waiting on a backend: join it. */
static int
chain_join(struct auth_chain *chain, struct auth_req *req)
{
	struct auth_req	*f;

	TAILQ_FOREACH(f, &chain->flights, entry) {
		if (ct_equal(f->cache_key, chain_key(req),
		    sizeof(req->cache_key))) {
			req->leader = f;
			req->joined = 1;
			TAILQ_INSERT_TAIL(&f->waiters, req, entry);
			return 1;
		}
	}
	return 0;
}

/*
 * Ask the in-memory head of the chain, which answers at once; 1 if one
 * of its backends accepted.
 */
static int
chain_run_memory(struct auth_req *req)
{
	struct auth_chain		*chain = req->chain;
	const struct auth_backend	*be;
	enum auth_rv			 rv;

	while (req->cursor < chain->nmemory) {
		be = chain->rt->backends[req->cursor];
		if (chain->inst[req->cursor] == NULL) {
			note_error(req, be->name, "backend unavailable");
			req->cursor++;
			continue;
		}
		memset(&req->cur, 0, sizeof(req->cur));
		rv = be->authenticate(chain->inst[req->cursor], req, &req->cur,
		    backend_done);
		if (rv == AUTH_PENDING)
			fatalx("in-memory backend %s left a review pending",
			    be->name);
		if (chain_take(req, rv))
			return 1;
	}
	return 0;
}

void
auth_review(struct auth_chain *chain, struct auth_req *req,
    void (*finish)(struct auth_req *, void *), void *arg)
{
	struct cache	*cache = chain->rt->cache;

	req->chain = chain;
	req->cursor = 0;
	req->cached = 0;
	req->joined = 0;
	req->refused = 0;
	req->pending = 0;
	req->in_flight = 0;
	req->keyed = 0;
	req->leader = NULL;
	TAILQ_INIT(&req->waiters);
	req->finish = finish;
	req->finish_arg = arg;
	memset(&req->result, 0, sizeof(req->result));
	memset(&req->cur, 0, sizeof(req->cur));
	/* token_hash is looked up, never written out; token_fp is logged. */
	sha256(req->token, req->token_len, req->token_hash);
	fingerprint(req->token, req->token_len, req->token_fp);

	if (chain_run_memory(req) || chain->nmemory == chain->rt->nbackends) {
		chain_finish(req);
		return;
	}
	if (cache != NULL && cache_get(cache, chain_key(req), &req->result)) {
		req->cached = 1;
		finish(req, arg);
		return;
	}
	if (!TAILQ_EMPTY(&chain->flights) && chain_join(chain, req))
		return;
	chain_run(req);
}

void
auth_cancel(struct auth_req *req)
{
	struct auth_req	*heir, *w;

	if (req->leader != NULL) {
		TAILQ_REMOVE(&req->leader->waiters, req, entry);
		req->leader = NULL;
	} else if (req->chain != NULL && req->pending) {
		req->chain->rt->backends[req->cursor]->cancel(
		    req->chain->inst[req->cursor], req);
		req->pending = 0;
	}
	if (req->in_flight) {
		TAILQ_REMOVE(&req->chain->flights, req, entry);
		req->in_flight = 0;
	}
	/* Others wait on this lookup: the first of them does it anew. */
	if (req->chain != NULL && (heir = TAILQ_FIRST(&req->waiters)) != NULL) {
		TAILQ_REMOVE(&req->waiters, heir, entry);
		TAILQ_CONCAT(&heir->waiters, &req->waiters, entry);
		TAILQ_FOREACH(w, &heir->waiters, entry)
			w->leader = heir;
		heir->leader = NULL;
		heir->joined = 0;
		chain_run(heir);
	}
	auth_req_clear(req);
}

/*
 * The API server adds system:authenticated to every user a webhook
 * accepts, unless the groups already hold it or system:unauthenticated;
 * no source may decide either (a user in system:unauthenticated would lose
 * every permission bound to system:authenticated).
 */
int
auth_group_implied(const char *g)
{
	return strcmp(g, "system:authenticated") == 0 ||
	    strcmp(g, "system:unauthenticated") == 0;
}

void
auth_req_clear(struct auth_req *req)
{
	if (req->deadline != NULL) {
		event_free(req->deadline);
		req->deadline = NULL;
	}
	auth_result_clear(&req->result);
	auth_result_clear(&req->cur);
	free(req->errors);
	req->errors = NULL;
	OPENSSL_cleanse(req->cache_key, sizeof(req->cache_key));
	OPENSSL_cleanse(req->token_hash, sizeof(req->token_hash));
}

/*
 * A growing JSON text for auth_user_json(): first a pass that only counts
 * (buf NULL), then one that writes into a buffer of that size.
 */
struct jtext {
	char	*buf;
	size_t	 len;
};

static void
jt_raw(struct jtext *jt, const char *s)
{
	size_t	n = strlen(s);

	if (jt->buf != NULL)
		memcpy(jt->buf + jt->len, s, n);
	jt->len += n;
}

static void
jt_str(struct jtext *jt, const char *s)
{
	jt->len += review_json_quote(s, jt->buf == NULL ? NULL :
	    jt->buf + jt->len);
}

/* ["a","b"]: empty names are dropped, NULL is an empty list. */
static void
jt_list(struct jtext *jt, char *const *list)
{
	size_t	i, n = 0;

	jt_raw(jt, "[");
	for (i = 0; list != NULL && list[i] != NULL; i++) {
		if (*list[i] == '\0')
			continue;
		if (n++ > 0)
			jt_raw(jt, ",");
		jt_str(jt, list[i]);
	}
	jt_raw(jt, "]");
}

static int
has_names(char *const *list)
{
	size_t	i;

	for (i = 0; list != NULL && list[i] != NULL; i++) {
		if (*list[i] != '\0')
			return 1;
	}
	return 0;
}

static void
jt_user(struct jtext *jt, const char *username, const char *uid,
    char *const *groups, char *const *extra_keys,
    char *const *const *extra_values)
{
	size_t	i;

	jt_raw(jt, "{\"username\":");
	jt_str(jt, username);
	if (uid != NULL) {
		jt_raw(jt, ",\"uid\":");
		jt_str(jt, uid);
	}
	if (has_names(groups)) {
		jt_raw(jt, ",\"groups\":");
		jt_list(jt, groups);
	}
	if (extra_keys != NULL && extra_keys[0] != NULL) {
		jt_raw(jt, ",\"extra\":{");
		for (i = 0; extra_keys[i] != NULL; i++) {
			if (i > 0)
				jt_raw(jt, ",");
			jt_str(jt, extra_keys[i]);
			jt_raw(jt, ":");
			jt_list(jt, extra_values[i]);
		}
		jt_raw(jt, "}");
	}
	jt_raw(jt, "}");
}

/*
 * Written by hand rather than with jansson: a token file of 100,000 users
 * is encoded at load, and backends may build users per review.  Invalid
 * UTF-8 becomes U+FFFD, as Go's encoder does.
 */
char *
auth_user_json(const char *username, const char *uid, char *const *groups,
    char *const *extra_keys, char *const *const *extra_values)
{
	struct jtext	jt = { NULL, 0 };

	jt_user(&jt, username, uid, groups, extra_keys, extra_values);
	jt.buf = xmalloc(jt.len + 1);
	jt.len = 0;
	jt_user(&jt, username, uid, groups, extra_keys, extra_values);
	jt.buf[jt.len] = '\0';
	return jt.buf;
}
