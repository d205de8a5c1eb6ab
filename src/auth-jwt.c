/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The JWT backend: tokens signed by OIDC identity providers and
 * service-account tokens of other Kubernetes clusters.  Each [jwt "NAME"]
 * section is one issuer (jwt-conf.c).  A token is routed by the iss claim
 * of its unverified payload to the one issuer with exactly that URL; a
 * token that is not a JWT, or names an issuer we do not know, is not ours
 * (AUTH_DENY) and costs no signature check.  For a known issuer the token
 * is verified and mapped to a user by jwt-verify.c; a recognised token
 * that fails a check is an error with a short reason (NO+err), never a
 * silent "no".
 *
 * This file is the source itself: the backend's entry points, the review
 * path that brings verification the issuer's keys and counts and logs
 * its outcome, the wait of a review for a key fetch, and the metrics.
 * Keys come from files read at load (jwt-keys.c), or from the issuer's
 * discovery document and JWKS, fetched by one thread off the request
 * path (jwt-fetch.c) that wakes the workers waiting for it through each
 * worker's struct wake (wake.c).  The tokens of the login flow are those
 * of a built-in issuer whose valid tokens take one more step, in
 * jwt-login.c.
 */

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "tokenreviewd.h"
#include "jwt-int.h"

/* A review waiting for a key fetch, in its worker. */
struct jwt_wait {
	TAILQ_ENTRY(jwt_wait)	 entry;
	struct jwt_inst		*ji;
	struct auth_req		*req;
	struct auth_result	*res;
	auth_done_cb		 done;
	struct jwt_source	*src;
	uint64_t		 gen;		/* fetches done when it began */
	struct event		*timer;
};

/* Whom to tell of names of the system: namespace kept out of answers. */
struct jwt_names {
	const struct jwt_issuer	*is;
	const char		*token_fp;
};

static void	jwt_wait_timeout_cb(evutil_socket_t, short, void *);

/* ---------------------------------------------------------------- review */

/* The keys to check a token with (a reference), or NULL. */
static struct jwt_keyset *
jwt_issuer_keys(const struct jwt_issuer *is)
{
	if (is->src != NULL)
		return jwt_fetch_keys(is->src);
	return jwt_keys_ref(is->keys);
}

/* A name of the system: namespace left out: counted, logged once. */
static void
jwt_names_cb(enum jwt_name_role role, const char *name,
    enum names_kind kind, void *arg)
{
	struct jwt_names	*jn = arg;
	const struct jwt_issuer	*is = jn->is;
	char			 src[128];

	snprintf(src, sizeof(src), "[jwt \"%s\"]", is->name);
	if (role == JWT_NAME_GROUP) {
		__atomic_fetch_add((uint64_t *)&is->n_system_groups, 1,
		    __ATOMIC_RELAXED);
		names_log(is->system_logged, src, "group", name, kind,
		    "groups_prefix", jn->token_fp);
		return;
	}
	__atomic_fetch_add((uint64_t *)&is->n_system_users, 1,
	    __ATOMIC_RELAXED);
	names_log(is->system_logged, src, "user name", name, kind,
	    is->username_template != NULL ? "username_template" :
	    "username_prefix", jn->token_fp);
}

/* Verify a routed token with the issuer's keys at hand, now. */
static void
jwt_check_token(const struct jwt_issuer *is, const struct jwt_token *t,
    const struct auth_req *req, struct jwt_verdict *v)
{
	struct jwt_names	 jn = { is, req->token_fp };
	struct jwt_keyset	*ks = jwt_issuer_keys(is);
	struct jwt_check	 c;

	memset(&c, 0, sizeof(c));
	c.is = is;
	c.ks = ks;
	c.audiences = req->audiences;
	c.naudiences = req->naudiences;
	c.now = (double)time(NULL);
	c.names_cb = jwt_names_cb;
	c.arg = &jn;
	jwt_verify(&c, t, v);
	jwt_keys_unref(ks);
}

static void
jwt_count(const struct jwt_issuer *is, enum auth_rv rv)
{
	uint64_t	*c;

	c = rv == AUTH_OK ? (uint64_t *)&is->n_ok : rv == AUTH_DENY ?
	    (uint64_t *)&is->n_rejected : (uint64_t *)&is->n_invalid;
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

/* Wait for a fetch of the issuer's keys; -1 if none may be made now. */
static int
jwt_wait_keys(struct jwt_inst *ji, const struct jwt_issuer *is,
    struct auth_req *req, struct auth_result *res, auth_done_cb done)
{
	struct jwt_wait	*w;
	struct timeval	 tv;
	uint64_t	 gen;

	if (is->src == NULL || ji->wake == NULL || done == NULL ||
	    jwt_fetch_request(is->src, ji->wake, &gen) != 0)
		return -1;
	w = xcalloc(1, sizeof(*w));
	w->ji = ji;
	w->req = req;
	w->res = res;
	w->done = done;
	w->src = is->src;
	w->gen = gen;
	/* Discovery and JWKS, each within fetch_timeout, and some slack. */
	ms_to_timeval(2 * is->src->lim.timeout + 1000, &tv);
	w->timer = evtimer_new(ji->base, jwt_wait_timeout_cb, w);
	evtimer_add(w->timer, &tv);
	TAILQ_INSERT_TAIL(&ji->waits, w, entry);
	return 0;
}

/* Turn the verdict into the result (taking its user) and the log line. */
static enum auth_rv
jwt_review_end(const struct jwt_issuer *is, struct auth_req *req,
    struct auth_result *res, struct jwt_verdict *v)
{
	enum auth_rv	rv;

	rv = v->rv == JWT_VERIFY_OK ? AUTH_OK : v->rv == JWT_VERIFY_AUDIENCE ?
	    AUTH_DENY : AUTH_ERROR;
	jwt_count(is, rv);
	if (rv == AUTH_ERROR) {
		auth_result_clear(res);
		xasprintf(&res->error, "%s: %s", is->name, v->why);
	} else if (rv == AUTH_DENY) {
		auth_result_clear(res);
		log_msg(LL_INFO, "jwt_deny", "token %s: issuer %s: %s",
		    req->token_fp, is->name, v->why);
	} else {
		res->username = v->username;
		res->user_json = v->user_json;
		res->audiences_json = v->audiences_json;
		res->max_ttl = v->max_ttl;
		v->username = v->user_json = v->audiences_json = NULL;
		res->backend = "jwt";
	}
	return rv;
}

/*
 * Review a token; with done set, a token that needs keys not at hand may
 * wait for a fetch (AUTH_PENDING).
 */
static enum auth_rv
jwt_review(struct jwt_inst *ji, struct auth_req *req,
    struct auth_result *res, auth_done_cb done)
{
	const struct jwt_issuer	*is;
	struct jwt_token	 t;
	struct jwt_verdict	 v;
	enum auth_rv		 rv;

	if (req->token_len > TR_MAX_TOKEN ||
	    jwt_verify_split(&t, req->token, req->token_len) != 0)
		return AUTH_DENY;
	if ((is = jwt_conf_issuer(ji->js, jwt_json_str(t.unverified,
	    "iss"))) == NULL) {
		__atomic_fetch_add(&ji->js->n_foreign, 1, __ATOMIC_RELAXED);
		log_msg(LL_VERBOSE, "jwt_deny", "token %s: JWT of an issuer "
		    "not configured", req->token_fp);
		jwt_verify_token_clear(&t);
		return AUTH_DENY;
	}
	jwt_check_token(is, &t, req, &v);
	jwt_verify_token_clear(&t);
	if (v.rv == JWT_VERIFY_NO_KEY &&
	    jwt_wait_keys(ji, is, req, res, done) == 0) {
		jwt_verify_verdict_clear(&v);
		auth_result_clear(res);
		return AUTH_PENDING;
	}
	rv = jwt_review_end(is, req, res, &v);
	jwt_verify_verdict_clear(&v);
	if (rv == AUTH_OK && is->login != NULL)
		rv = jwt_login_review(ji, is, req, res, done);
	return rv;
}

static void
jwt_wait_free(struct jwt_wait *w)
{
	TAILQ_REMOVE(&w->ji->waits, w, entry);
	event_free(w->timer);
	free(w);
}

/* The fetch ended: check the token again with what it brought. */
static void
jwt_wait_finish(struct jwt_wait *w)
{
	struct auth_req		*req = w->req;
	struct auth_result	*res = w->res;
	auth_done_cb		 done = w->done;
	enum auth_rv		 rv;

	rv = jwt_review(w->ji, req, res, NULL);
	jwt_wait_free(w);
	done(req, rv);
}

static void
jwt_wait_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct jwt_wait		*w = arg;
	struct auth_req		*req = w->req;
	struct auth_result	*res = w->res;
	auth_done_cb		 done = w->done;

	auth_result_clear(res);
	xasprintf(&res->error, "%s: key fetch did not finish in time",
	    w->src->name);
	jwt_wait_free(w);
	done(req, AUTH_ERROR);
}

/*
 * The fetcher woke us.  done() may start other reviews on this
 * instance, so the list is searched afresh after each one.
 */
static void
jwt_wake_cb(void *arg)
{
	struct jwt_inst	*ji = arg;
	struct jwt_wait	*w;

	for (;;) {
		TAILQ_FOREACH(w, &ji->waits, entry) {
			if (jwt_fetch_gen(w->src) != w->gen)
				break;
		}
		if (w == NULL)
			break;
		jwt_wait_finish(w);
	}
}

/* ---------------------------------------------------------------- backend */

static enum auth_rv
jwt_authenticate(void *inst, struct auth_req *req, struct auth_result *res,
    auth_done_cb done)
{
	if (inst == NULL)
		return AUTH_DENY;
	return jwt_review(inst, req, res, done);
}

static int
jwt_has_sources(const struct jwt_shared *js)
{
	size_t	i;

	for (i = 0; i < js->nissuers; i++) {
		if (js->issuers[i]->src != NULL)
			return 1;
	}
	return 0;
}

/*
 * Per worker: the wake-up, when some issuer fetches its keys.  The
 * first worker starts the fetcher thread.
 */
static int
jwt_init(void *shared, struct event_base *base, void **inst)
{
	struct jwt_inst	*ji;

	ji = xcalloc(1, sizeof(*ji));
	ji->js = shared;
	ji->base = base;
	TAILQ_INIT(&ji->waits);
	TAILQ_INIT(&ji->rechecks);
	if (base != NULL && jwt_has_sources(ji->js)) {
		ji->wake = wake_new(base, jwt_wake_cb, ji);
		jwt_fetch_start();
	}
	*inst = ji;
	return 0;
}

static void
jwt_cancel(void *inst, struct auth_req *req)
{
	struct jwt_inst	*ji = inst;
	struct jwt_wait	*w;

	TAILQ_FOREACH(w, &ji->waits, entry) {
		if (w->req == req) {
			jwt_wait_free(w);
			return;
		}
	}
	jwt_login_cancel(ji, req);
}

static void
jwt_free(void *inst)
{
	struct jwt_inst	*ji = inst;

	if (ji == NULL)
		return;
	if (ji->wake != NULL)
		jwt_fetch_forget(ji->wake);
	while (!TAILQ_EMPTY(&ji->waits))
		jwt_wait_free(TAILQ_FIRST(&ji->waits));
	jwt_login_forget(ji);
	wake_free(ji->wake);
	free(ji);
}

static int
jwt_ready(void *shared)
{
	struct jwt_shared	*js = shared;
	struct jwt_keyset	*ks;
	size_t			 i;
	int			 ok;

	for (i = 0; js != NULL && i < js->nissuers; i++) {
		ks = jwt_issuer_keys(js->issuers[i]);
		ok = ks != NULL && ks->nkeys > 0;
		jwt_keys_unref(ks);
		if (!ok)
			return 0;
	}
	return 1;
}

static size_t
jwt_watch(void *shared, const char **paths, size_t max)
{
	struct jwt_shared	*js = shared;
	size_t			 i, j, n = 0;

	for (i = 0; js != NULL && i < js->nissuers; i++) {
		for (j = 0; j < js->issuers[i]->nkey_files && n < max; j++)
			paths[n++] = js->issuers[i]->key_files[j];
	}
	return n;
}

/* ---------------------------------------------------------------- metrics */

/*
 * name{issuer="NAME"<labels>} value, a counter or (gauge set) a gauge;
 * the issuer name escaped by metrics_escape().
 */
static void
jwt_metrics_line(struct evbuffer *out, const char *name, const char *issuer,
    const char *labels, unsigned long long v, int gauge)
{
	struct evbuffer	*b;
	char		*l;

	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	evbuffer_add_printf(b, "issuer=\"");
	metrics_escape(b, issuer);
	evbuffer_add_printf(b, "\"%s", labels);
	evbuffer_add(b, "", 1);
	l = (char *)evbuffer_pullup(b, -1);
	if (gauge)
		metrics_gauge(out, name, l, (long long)v);
	else
		metrics_counter(out, name, l, v);
	evbuffer_free(b);
}

static void
jwt_metrics_verifications(const struct jwt_shared *js, struct evbuffer *out)
{
	const char		*m = "tokenreviewd_jwt_verifications_total";
	const struct jwt_issuer	*is;
	size_t			 i;

	metrics_family(out, m, "counter", "JWT reviews by issuer and result.");
	for (i = 0; i < js->nissuers; i++) {
		is = js->issuers[i];
		jwt_metrics_line(out, m, is->name, ",result=\"ok\"",
		    __atomic_load_n(&is->n_ok, __ATOMIC_RELAXED), 0);
		jwt_metrics_line(out, m, is->name, ",result=\"invalid\"",
		    __atomic_load_n(&is->n_invalid, __ATOMIC_RELAXED), 0);
		jwt_metrics_line(out, m, is->name, ",result=\"rejected\"",
		    __atomic_load_n(&is->n_rejected, __ATOMIC_RELAXED), 0);
	}
	jwt_metrics_line(out, m, "", ",result=\"unknown_issuer\"",
	    __atomic_load_n(&js->n_foreign, __ATOMIC_RELAXED), 0);
}

/* OIDC names of the system: namespace kept out of answers (names.c). */
static void
jwt_metrics_system_names(const struct jwt_shared *js, struct evbuffer *out)
{
	const char		*m =
	    "tokenreviewd_jwt_system_names_dropped_total";
	const struct jwt_issuer	*is;
	size_t			 i;

	metrics_family(out, m, "counter", "Groups in the system: namespace "
	    "dropped, and tokens refused for such a user name.");
	for (i = 0; i < js->nissuers; i++) {
		is = js->issuers[i];
		if (is->type == JWT_SERVICEACCOUNT)
			continue;
		jwt_metrics_line(out, m, is->name, ",kind=\"group\"",
		    __atomic_load_n(&is->n_system_groups, __ATOMIC_RELAXED), 0);
		jwt_metrics_line(out, m, is->name, ",kind=\"user\"",
		    __atomic_load_n(&is->n_system_users, __ATOMIC_RELAXED), 0);
	}
}

static void
jwt_metrics_fetches(const struct jwt_shared *js, struct evbuffer *out)
{
	const char		*m = "tokenreviewd_jwt_jwks_fetches_total";
	const char		*a =
	    "tokenreviewd_jwt_jwks_last_success_age_seconds";
	struct jwt_source	*src;
	int64_t			 last;
	size_t			 i;

	metrics_family(out, m, "counter", "Key fetches (discovery and JWKS) "
	    "by issuer and result.");
	for (i = 0; i < js->nissuers; i++) {
		if ((src = js->issuers[i]->src) == NULL)
			continue;
		jwt_metrics_line(out, m, js->issuers[i]->name,
		    ",result=\"ok\"", __atomic_load_n(&src->n_fetch_ok,
		    __ATOMIC_RELAXED), 0);
		jwt_metrics_line(out, m, js->issuers[i]->name,
		    ",result=\"error\"", __atomic_load_n(&src->n_fetch_error,
		    __ATOMIC_RELAXED), 0);
	}
	metrics_family(out, a, "gauge", "Seconds since the last successful "
	    "key fetch.");
	for (i = 0; i < js->nissuers; i++) {
		if ((src = js->issuers[i]->src) == NULL ||
		    (last = __atomic_load_n(&src->last_ok,
		    __ATOMIC_RELAXED)) == 0)
			continue;
		jwt_metrics_line(out, a, js->issuers[i]->name, "",
		    (unsigned long long)(time(NULL) > last ?
		    time(NULL) - last : 0), 1);
	}
}

static void
jwt_metrics(void *shared, struct evbuffer *out)
{
	struct jwt_shared	*js = shared;
	struct jwt_keyset	*ks;
	size_t			 i;

	if (js == NULL)
		return;
	jwt_metrics_verifications(js, out);
	jwt_metrics_system_names(js, out);
	jwt_metrics_fetches(js, out);
	metrics_family(out, "tokenreviewd_jwt_keys", "gauge",
	    "Signing keys known per issuer.");
	for (i = 0; i < js->nissuers; i++) {
		ks = jwt_issuer_keys(js->issuers[i]);
		jwt_metrics_line(out, "tokenreviewd_jwt_keys",
		    js->issuers[i]->name, "", ks != NULL ? ks->nkeys : 0, 1);
		jwt_keys_unref(ks);
	}
}

const struct auth_backend auth_jwt_backend = {
	.name = "jwt",
	.load = jwt_conf_load,
	.unload = jwt_conf_unload,
	.init = jwt_init,
	.authenticate = jwt_authenticate,
	.cancel = jwt_cancel,
	.free = jwt_free,
	.ready = jwt_ready,
	.metrics = jwt_metrics,
	.watch = jwt_watch,
};
