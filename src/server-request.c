/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * What a connection of a worker asks for, answered: TokenReviews on the
 * review paths (the caller's bearer token, method and media type checked,
 * the review decoded and handed to the auth chain, and the answer sent
 * when the chain calls back, now or later), /healthz, /livez, /readyz
 * and /metrics.  A review in flight holds the view it started with, so a
 * reload never changes the sources under it, and a client that leaves
 * before its answer cancels it (sreq_drop()).  Failed reviews count
 * against the client's limit here, and each review ends in one audit
 * line.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <netinet/in.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "tokenreviewd.h"
#include "http.h"
#include "server.h"

#define SREQ_API_PATH		"/apis/authentication.k8s.io/"
#define SREQ_PATH_V1		SREQ_API_PATH "v1/tokenreviews"
#define SREQ_PATH_V1BETA1	SREQ_API_PATH "v1beta1/tokenreviews"

static void
sreq_reply(struct server_conn *sc, enum metrics_path mp, int code,
    const char *ctype, const char *body, size_t len, const char *extra)
{
	metrics_request(sc->w->m, mp, code);
	http_reply(sc->hc, code, ctype, body, len, extra);
}

static void
sreq_reply_status(struct server_conn *sc, enum metrics_path mp, int code,
    const char *reason, const char *message, const char *extra)
{
	char	*body;
	size_t	 len;

	body = review_status_encode(code, reason, message, &len);
	sreq_reply(sc, mp, code, "application/json", body, len, extra);
	free(body);
}

static void
sreq_review_free(struct sreq_review *rv)
{
	auth_req_clear(&rv->areq);
	review_request_clear(&rv->rr);
	server_view_unref(rv->sc->w, rv->view);
	free(rv);
}

static int
sreq_backend_index(struct runtime *rt, const char *name)
{
	size_t	i;

	for (i = 0; name != NULL && i < rt->nbackends; i++) {
		if (rt->backends[i]->name == name)
			return (int)i;
	}
	return -1;
}

static void
sreq_audit(struct sreq_review *rv, enum review_outcome outcome, double secs)
{
	static const char *const outcomes[] = {
		"authenticated", "unauthenticated", "error"
	};
	struct auth_result	*res = &rv->areq.result;
	struct log_line		 l;

	if (!rv->view->rt->conf->log_audit ||
	    !log_line_begin(&l, LL_INFO | LL_ALWAYS, "review"))
		return;
	log_line_str(&l, "outcome", outcomes[outcome]);
	log_line_str(&l, "backend", res->backend);
	if (res->rv == AUTH_OK)
		log_line_str(&l, "username", res->username);
	log_line_str(&l, "client", http_peer(rv->sc->hc));
	log_line_double(&l, "latency_ms", secs * 1000);
	log_line_str(&l, "token_fp", rv->areq.token_fp);
	log_line_int(&l, "cached", rv->areq.cached);
	log_line_str(&l, "api_version", review_api_version(rv->rr.version));
	if (res->rv == AUTH_ERROR)
		log_line_str(&l, "error", res->error);
	log_line_end(&l);
}

/*
 * The limit on failed reviews per client address, for callers that do not
 * authenticate.  With mTLS or a client token only the API server calls,
 * and every review comes from its one address: counting there would let
 * anyone who can send the API server bogus tokens lock every user out.
 * Guessing behind an authenticated caller is limited where it is real,
 * per user name by the sources that check passwords.
 */
static int
sreq_limit(const struct config *conf, struct limit_conf *lc)
{
	lc->rate = conf->failed_review_rate;
	lc->burst = conf->failed_review_burst;
	lc->scope = LIMIT_REVIEWS;
	return conf->client_ca == NULL && conf->client_token_file == NULL &&
	    lc->rate > 0;
}

/* A token no source knows: one more guess from this client. */
static void
sreq_failed(struct sreq_review *rv)
{
	const struct config	*conf = rv->view->rt->conf;
	struct limit_conf	 lc;

	if (!sreq_limit(conf, &lc))
		return;
	if (limit_failed(&lc, rv->sc->client, monotonic_ms()))
		log_msg(LL_WARN, "review_limit", "%s: failed reviews over "
		    "the limit (%d a second, %d in a row); its reviews are "
		    "refused until it slows down", rv->sc->client,
		    conf->failed_review_rate, conf->failed_review_burst);
}

static void
sreq_review_cb(struct auth_req *areq, void *arg)
{
	struct sreq_review	*rv = arg;
	struct server_conn	*sc = rv->sc;
	enum review_outcome	 outcome;
	char			*body;
	size_t			 len;
	double			 secs;

	body = review_encode(rv->rr.version, &areq->result, &len);
	sc->review = NULL;
	sreq_reply(sc, MP_REVIEW, 200, "application/json", body, len, NULL);
	free(body);
	switch (areq->result.rv) {
	case AUTH_OK:
		outcome = RO_AUTHENTICATED;
		break;
	case AUTH_ERROR:
		outcome = RO_ERROR;
		break;
	default:
		outcome = RO_UNAUTHENTICATED;
		break;
	}
	if (outcome == RO_UNAUTHENTICATED)
		sreq_failed(rv);
	if (areq->refused)
		__atomic_fetch_add(&sc->w->m->reviews_limited, 1,
		    __ATOMIC_RELAXED);
	secs = monotonic_sec() - rv->start;
	metrics_review(sc->w->m, sreq_backend_index(rv->view->rt,
	    areq->result.backend), outcome, secs, areq->cached);
	sreq_audit(rv, outcome, secs);
	sreq_review_free(rv);
}

/* The caller proves itself with the shared bearer token, if one is set. */
int
sreq_client_token_ok(struct server_conn *sc, struct runtime *rt)
{
	const char	*auth;
	uint8_t		 md[TR_SHA256_LEN];
	int		 ok;

	if (!rt->has_client_token)
		return 1;
	auth = http_header(sc->hc, "authorization");
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return 0;
	auth += 7;
	while (*auth == ' ')
		auth++;
	sha256(auth, strlen(auth), md);
	ok = ct_equal(md, rt->client_token_hash, sizeof(md));
	OPENSSL_cleanse(md, sizeof(md));
	return ok;
}

/* Missing Content-Type is taken as JSON, as kube-apiserver does. */
static int
sreq_content_type_ok(const char *ct)
{
	size_t	n;

	if (ct == NULL)
		return 1;
	n = strcspn(ct, "; \t");
	return n == 16 && strncasecmp(ct, "application/json", 16) == 0;
}

/*
 * The caller, the method and the media type of a review request: 0 when
 * one of them is wrong and the request has been answered.
 */
static int
sreq_review_allowed(struct server_conn *sc)
{
	struct server_worker	*w = sc->w;

	if (strcmp(http_method(sc->hc), "POST") != 0) {
		sreq_reply_status(sc, MP_REVIEW, 405, "MethodNotAllowed",
		    "only POST is allowed", "Allow: POST\r\n");
		return 0;
	}
	if (!sreq_client_token_ok(sc, w->view->rt)) {
		__atomic_fetch_add(&w->m->client_auth_failures, 1,
		    __ATOMIC_RELAXED);
		log_msg(LL_WARN, "client_auth", "%s: missing or wrong bearer "
		    "token from the caller", http_peer(sc->hc));
		sreq_reply_status(sc, MP_REVIEW, 401, "Unauthorized",
		    "caller not authenticated",
		    "WWW-Authenticate: Bearer realm=\"tokenreviewd\"\r\n");
		return 0;
	}
	if (!sreq_content_type_ok(http_header(sc->hc, "content-type"))) {
		sreq_reply_status(sc, MP_REVIEW, 415, "UnsupportedMediaType",
		    "Content-Type must be application/json", NULL);
		return 0;
	}
	return 1;
}

/* Hand a decoded review with a token to the auth chain. */
static void
sreq_review_start(struct sreq_review *rv)
{
	struct server_conn	*sc = rv->sc;
	struct limit_conf	 lc;

	/*
	 * Over the limit, the cache and the in-memory sources still answer;
	 * the sources behind them never see the guess (auth.c).
	 */
	if (sreq_limit(rv->view->rt->conf, &lc) &&
	    !limit_allowed(&lc, sc->client, monotonic_ms()))
		rv->areq.limited = 1;
	rv->areq.token = rv->rr.token;
	rv->areq.token_len = rv->rr.token_len;
	rv->areq.audiences = rv->rr.audiences;
	rv->areq.naudiences = rv->rr.naudiences;
	rv->areq.base = sc->w->base;
	sc->review = rv;
	auth_review(rv->view->chain, &rv->areq, sreq_review_cb, rv);
}

static void
sreq_handle_review(struct server_conn *sc)
{
	struct sreq_review	*rv;
	const char		*body;
	char			 err[TR_ERRLEN];
	size_t			 len;

	if (!sreq_review_allowed(sc))
		return;
	rv = xcalloc(1, sizeof(*rv));
	rv->start = monotonic_sec();
	body = http_body(sc->hc, &len);
	if (review_decode(body, len, &rv->rr, err, sizeof(err)) != 0) {
		log_msg(LL_VERBOSE, "bad_review", "%s: %s", http_peer(sc->hc),
		    err);
		sreq_reply_status(sc, MP_REVIEW, 400, "BadRequest", err, NULL);
		review_request_clear(&rv->rr);
		free(rv);
		return;
	}
	rv->sc = sc;
	rv->view = sc->w->view;
	rv->view->refs++;
	if (rv->rr.token_len == 0) {
		/* Nothing to look up: no backend sees it (case 4). */
		rv->areq.result.rv = AUTH_ERROR;
		rv->areq.result.error = xstrdup("token is required");
		strlcpy(rv->areq.token_fp, "-", sizeof(rv->areq.token_fp));
		sc->review = rv;
		sreq_review_cb(&rv->areq, rv);
		return;
	}
	sreq_review_start(rv);
}

static void
sreq_handle_get(struct server_conn *sc, enum metrics_path mp)
{
	struct server_worker	*w = sc->w;
	struct evbuffer		*buf;
	char			 why[256];
	const char		*m = http_method(sc->hc);
	size_t			 len;

	if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
		sreq_reply_status(sc, mp, 405, "MethodNotAllowed",
		    "only GET and HEAD are allowed", "Allow: GET, HEAD\r\n");
		return;
	}
	if (mp == MP_HEALTHZ) {
		sreq_reply(sc, mp, 200, "text/plain", "ok\n", 3, NULL);
		return;
	}
	if (mp == MP_READYZ) {
		if (w->draining)
			strlcpy(why, "shutting down", sizeof(why));
		if (w->draining || !runtime_ready(w->view->rt, why,
		    sizeof(why))) {
			strlcat(why, "\n", sizeof(why));
			sreq_reply(sc, mp, 503, "text/plain", why, strlen(why),
			    NULL);
		} else
			sreq_reply(sc, mp, 200, "text/plain", "ok\n", 3, NULL);
		return;
	}
	if ((buf = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	metrics_render(buf, w->view->rt);
	len = evbuffer_get_length(buf);
	sreq_reply(sc, mp, 200, "text/plain; version=0.0.4",
	    (const char *)evbuffer_pullup(buf, -1), len, NULL);
	evbuffer_free(buf);
}

void
sreq_request_cb(struct http_conn *hc, void *arg)
{
	struct server_conn	*sc = arg;
	const char		*path = http_path(hc);

	sc->nreq++;
	if (sc->standing == SCS_UNPROVEN || sc->standing == SCS_COUNTED)
		server_conn_prove(sc);
	if (sc->kind == LISTENER_LOGIN) {
		login_request(sc);
		return;
	}
	if (sc->kind == LISTENER_REVIEW && (strcmp(path,
	    sc->w->view->rt->conf->review_path) == 0 ||
	    strcmp(path, SREQ_PATH_V1) == 0 ||
	    strcmp(path, SREQ_PATH_V1BETA1) == 0))
		sreq_handle_review(sc);
	else if (strcmp(path, "/healthz") == 0 ||
	    strcmp(path, "/livez") == 0)
		sreq_handle_get(sc, MP_HEALTHZ);
	else if (strcmp(path, "/readyz") == 0)
		sreq_handle_get(sc, MP_READYZ);
	else if (strcmp(path, "/metrics") == 0)
		sreq_handle_get(sc, MP_METRICS);
	else
		sreq_reply_status(sc, MP_OTHER, 404, "NotFound", "no such path",
		    NULL);
}

/* The client left before its answer: drop the review. */
void
sreq_drop(struct server_conn *sc)
{
	login_drop(sc);
	if (sc->review == NULL)
		return;
	auth_cancel(&sc->review->areq);
	sreq_review_free(sc->review);
	sc->review = NULL;
}
