/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * What the login listener answers: POST /login, where a person trades a
 * directory password (HTTP Basic) for a short-lived JWT in an
 * ExecCredential, and the issuer's public documents.  Nothing else is
 * served there: no reviews, no metrics.
 *
 * The password is checked by the LDAP source exactly as bind mode checks a
 * token, in the [ldap "NAME"] that [login] names (auth_ldap_login()), with
 * its per-user-name lockout.  Here come the limits that belong to the
 * listener: failed logins per client address (limit.c, a table apart from
 * failed reviews), and a floor on the time a refusal takes
 * (failure_delay), the same whether the user exists or not.  Every POST
 * /login ends in one audit line (never the password) and one count of
 * tokenreviewd_logins_total.  When sessions are on, the token is told
 * only once its session row is in the token database (tdsrc_session_add()
 * on the view's tokendb source), so that every token given out can be
 * listed and revoked; a login whose row cannot be written fails (503).  A
 * login in flight holds the view it started with, like a review, and is
 * dropped if its client leaves.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <netinet/in.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "tokenreviewd.h"
#include "http.h"
#include "server.h"
#ifdef HAVE_TOKENDB
#include "tokendb.h"
#endif
#include "login.h"

#define LOGIN_MAX_CRED		1024	/* base64 text of user:password */
#define LOGIN_MAX_USER		256	/* bytes of a user name logged */

/* One POST /login in progress. */
struct login_req {
	struct server_conn	*sc;
	struct server_view	*view;
	const struct login_conf	*lc;
	void			*inst;		/* the LDAP source's */
	struct auth_req		 areq;
	struct auth_result	 res;
	char			*cred;		/* the Basic credential, wiped */
	size_t			 credlen;
	char			 user[LOGIN_MAX_USER + 1];
	uint64_t		 start;		/* ms */
	struct event		*timer;		/* deadline, then the delay */
	int			 pending;	/* the directory is asked */
	enum metrics_login	 outcome;	/* held back: a refusal */
	char			*jwt;		/* signed, not told yet */
	char			 jti[LOGIN_JTI_LEN + 1];
	int64_t			 iat;		/* unix s */
	struct tdsrc_sess_op	*sop;		/* its session row, being
						   written */
};

static const char *const login_outcomes[ML_MAX] = {
	"success", "failure", "locked_out", "limited", "error", "bad_request"
};

static void
login_reply_status(struct server_conn *sc, int code, const char *reason,
    const char *message, const char *extra)
{
	char	*body;
	size_t	 len;

	body = review_status_encode(code, reason, message, &len);
	metrics_request(sc->w->m, MP_LOGIN, code);
	http_reply(sc->hc, code, "application/json", body, len, extra);
	free(body);
}

static void
login_audit(struct login_req *lq, const char *jti)
{
	struct log_line	l;

	if (!lq->view->rt->conf->log_audit ||
	    !log_line_begin(&l, LL_INFO | LL_ALWAYS, "login"))
		return;
	log_line_str(&l, "outcome", login_outcomes[lq->outcome]);
	log_line_str(&l, "user", lq->user);
	if (lq->outcome == ML_SUCCESS)
		log_line_str(&l, "username", lq->res.username);
	log_line_str(&l, "client", http_peer(lq->sc->hc));
	log_line_double(&l, "latency_ms",
	    (double)(monotonic_ms() - lq->start));
	if (jti != NULL)
		log_line_str(&l, "jti", jti);
	if (lq->outcome == ML_ERROR && lq->res.error != NULL)
		log_line_str(&l, "error", lq->res.error);
	log_line_end(&l);
}

static void
login_free(struct login_req *lq)
{
	if (lq == NULL)
		return;
	if (lq->timer != NULL)
		event_free(lq->timer);
	auth_result_clear(&lq->res);
	if (lq->jwt != NULL) {
		OPENSSL_cleanse(lq->jwt, strlen(lq->jwt));
		free(lq->jwt);
	}
	if (lq->cred != NULL) {
		OPENSSL_cleanse(lq->cred, lq->credlen);
		free(lq->cred);
	}
	OPENSSL_cleanse(lq->user, sizeof(lq->user));
	server_view_unref(lq->sc->w, lq->view);
	free(lq);
}

/* The end of a login: counted, audited, freed. */
static void
login_end(struct login_req *lq, const char *jti)
{
	lq->sc->login = NULL;
	metrics_login(lq->sc->w->m, lq->outcome);
	login_audit(lq, jti);
	login_free(lq);
}

/* The client's failed logins, for the per-address limit. */
static void
login_limit(const struct login_conf *lc, struct limit_conf *llc)
{
	llc->rate = lc->failure_rate;
	llc->burst = lc->failure_burst;
	llc->scope = LIMIT_LOGINS;
}

static void
login_count_failure(struct login_req *lq)
{
	struct limit_conf	llc;

	login_limit(lq->lc, &llc);
	if (limit_failed(&llc, lq->sc->client, monotonic_ms()))
		log_msg(LL_WARN, "login_limit", "%s: failed logins over the "
		    "limit (%g a second, %g in a row); its logins are refused "
		    "until it slows down", lq->sc->client, lq->lc->failure_rate,
		    lq->lc->failure_burst);
}

/* 429 with the seconds to wait. */
static void
login_too_many(struct login_req *lq, long long ms)
{
	char	extra[64];

	snprintf(extra, sizeof(extra), "Retry-After: %lld\r\n",
	    ms > 0 ? (ms + 999) / 1000 : 1);
	login_reply_status(lq->sc, 429, "TooManyRequests", "too many failed "
	    "logins; retry later", extra);
}

static void
login_unauthorized(struct login_req *lq)
{
	login_reply_status(lq->sc, 401, "Unauthorized", "invalid user name "
	    "or password", "WWW-Authenticate: Basic realm=\"tokenreviewd\"\r\n");
	login_end(lq, NULL);
}

/* The signed token, told in an ExecCredential. */
static void
login_answer(struct login_req *lq)
{
	char	*body;
	size_t	 len;

	body = login_exec_credential(lq->jwt, lq->iat +
	    lq->lc->token_ttl / 1000, &len);
	lq->outcome = ML_SUCCESS;
	metrics_request(lq->sc->w->m, MP_LOGIN, 200);
	http_reply(lq->sc->hc, 200, "application/json", body, len,
	    "Cache-Control: no-store\r\n");
	OPENSSL_cleanse(body, len);
	free(body);
	login_end(lq, lq->jti);
}

/* No session row: no token. */
static void
login_session_failed(struct login_req *lq, const char *why)
{
	lq->outcome = ML_ERROR;
	free(lq->res.error);
	xasprintf(&lq->res.error, "cannot record the session: %s",
	    why != NULL ? why : "failed");
	login_reply_status(lq->sc, 503, "ServiceUnavailable", "the token "
	    "database cannot record the session now; retry later", NULL);
	login_end(lq, NULL);
}

#ifdef HAVE_TOKENDB
/* The token database wrote the session row, or could not. */
static void
login_session_cb(void *arg, enum tdsrc_session_rv rv, const char *why)
{
	struct login_req	*lq = arg;

	lq->sop = NULL;
	if (rv == TDSESS_ACTIVE)
		login_answer(lq);
	else
		login_session_failed(lq, why);
}

/*
 * Write the session row; the answer follows from login_session_cb(), maybe
 * before this returns (lq is then gone).
 */
static void
login_session_add(struct login_req *lq)
{
	struct tokendb_session	 s;
	struct tdsrc_sess_op	*op;
	void			*tokendb;

	if ((tokendb = auth_chain_instance(lq->view->chain,
	    "tokendb")) == NULL) {
		login_session_failed(lq, "the tokendb source is not running");
		return;
	}
	memset(&s, 0, sizeof(s));
	s.jti = lq->jti;
	s.username = lq->res.username;
	s.issued = lq->iat;
	s.expires = lq->iat + lq->lc->token_ttl / 1000;
	s.client = lq->sc->client;
	if ((op = tdsrc_session_add(tokendb, &s, login_session_cb, lq)) !=
	    NULL)
		lq->sop = op;
}
#else
static void
login_session_add(struct login_req *lq)
{
	login_session_failed(lq, "built without the token database");
}
#endif

/* The directory accepted the password: sign, then the session, answer. */
static void
login_success(struct login_req *lq)
{
	lq->iat = (int64_t)time(NULL);
	lq->jwt = login_sign(lq->lc, lq->res.user_json, lq->iat, lq->jti);
	if (lq->jwt == NULL) {
		log_msg(LL_ERROR, "login", "cannot sign a token");
		lq->outcome = ML_ERROR;
		login_reply_status(lq->sc, 500, "InternalError", "cannot sign "
		    "a token", NULL);
		login_end(lq, NULL);
	} else if (lq->lc->sessions == LOGIN_SESSIONS_YES)
		login_session_add(lq);
	else
		login_answer(lq);
}

/* A refusal waits for failure_delay after the request came in. */
static void
login_refuse(struct login_req *lq)
{
	struct timeval	tv;
	uint64_t	due = lq->start + (uint64_t)lq->lc->failure_delay;
	uint64_t	now = monotonic_ms();

	lq->outcome = ML_FAILURE;
	login_count_failure(lq);
	if (now >= due) {
		login_unauthorized(lq);
		return;
	}
	ms_to_timeval((long long)(due - now), &tv);
	evtimer_add(lq->timer, &tv);
}

/* The directory's verdict. */
static void
login_checked(struct login_req *lq, enum auth_rv rv)
{
	lq->pending = 0;
	evtimer_del(lq->timer);
	if (rv == AUTH_OK) {
		login_success(lq);
	} else if (rv == AUTH_DENY && lq->res.max_ttl > 0) {
		lq->outcome = ML_LOCKED_OUT;
		login_count_failure(lq);
		login_too_many(lq, lq->res.max_ttl);
		login_end(lq, NULL);
	} else if (rv == AUTH_DENY) {
		login_refuse(lq);
	} else {
		lq->outcome = ML_ERROR;
		login_reply_status(lq->sc, 503, "ServiceUnavailable", "the "
		    "directory cannot check passwords now; retry later", NULL);
		login_end(lq, NULL);
	}
}

#ifdef HAVE_LDAP
static void
login_done_cb(struct auth_req *areq, enum auth_rv rv)
{
	struct login_req	*lq = (struct login_req *)(void *)((char *)areq -
	    offsetof(struct login_req, areq));

	login_checked(lq, rv);
}
#endif

/* The deadline while the directory is asked; else the delay is over. */
static void
login_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct login_req	*lq = arg;

	if (!lq->pending) {
		login_unauthorized(lq);
		return;
	}
	auth_backend_find("ldap")->cancel(lq->inst, &lq->areq);
	auth_result_clear(&lq->res);
	lq->res.error = xstrdup("the directory did not answer in time");
	login_checked(lq, AUTH_ERROR);
}

/*
 * "Basic BASE64": the credential (a copy) and the user name before its
 * colon, for the audit line.  -1 when there is no such header, or its
 * text does not decode to user:password.
 */
static int
login_basic(struct login_req *lq, const char *auth)
{
	unsigned char	*raw;
	const char	*b;
	size_t		 n, rawlen;
	char		*colon;

	if (auth == NULL || strncasecmp(auth, "Basic ", 6) != 0)
		return -1;
	for (b = auth + 6; *b == ' '; b++)
		;
	n = strcspn(b, " \t");
	if (n == 0 || n > LOGIN_MAX_CRED || b[n + strspn(b + n, " \t")] != '\0')
		return -1;
	lq->cred = xstrndup(b, n);
	lq->credlen = n;
	while (n > 0 && b[n - 1] == '=')
		n--;
	if ((raw = base64_decode(b, n, 0, &rawlen)) == NULL)
		return -1;
	if ((colon = memchr(raw, ':', rawlen)) != NULL)
		snprintf(lq->user, sizeof(lq->user), "%.*s",
		    (int)(colon - (char *)raw), raw);
	OPENSSL_cleanse(raw, rawlen);
	free(raw);
	return colon != NULL && lq->user[0] != '\0' ? 0 : -1;
}

/* Ask the directory; the answer comes to login_checked(). */
static void
login_ask(struct login_req *lq)
{
	struct timeval	tv;
	enum auth_rv	rv;

	lq->areq.token = lq->cred;
	lq->areq.token_len = lq->credlen;
	lq->areq.base = lq->sc->w->base;
	sha256(lq->cred, lq->credlen, lq->areq.token_hash);
	fingerprint(lq->cred, lq->credlen, lq->areq.token_fp);
	ms_to_timeval(lq->view->rt->conf->review_timeout, &tv);
	evtimer_add(lq->timer, &tv);
	lq->pending = 1;
#ifdef HAVE_LDAP
	rv = auth_ldap_login(lq->inst, lq->lc->ldap, &lq->areq, &lq->res,
	    login_done_cb);
#else
	rv = AUTH_ERROR;
#endif
	if (rv != AUTH_PENDING)
		login_checked(lq, rv);
}

static struct login_req *
login_req_new(struct server_conn *sc)
{
	struct login_req	*lq;

	lq = xcalloc(1, sizeof(*lq));
	lq->sc = sc;
	lq->view = sc->w->view;
	lq->view->refs++;
	lq->lc = lq->view->rt->login;
	lq->start = monotonic_ms();
	lq->timer = evtimer_new(sc->w->base, login_timer_cb, lq);
	sc->login = lq;
	return lq;
}

static void
login_post(struct server_conn *sc)
{
	struct login_req	*lq = login_req_new(sc);
	struct limit_conf	 llc;
	long long		 wait;

	login_limit(lq->lc, &llc);
	if (login_basic(lq, http_header(sc->hc, "authorization")) != 0) {
		lq->outcome = ML_BAD_REQUEST;
		login_reply_status(sc, 400, "BadRequest", "want an "
		    "Authorization: Basic header with user:password", NULL);
		login_end(lq, NULL);
	} else if ((wait = limit_retry_ms(&llc, sc->client,
	    monotonic_ms())) > 0) {
		lq->outcome = ML_LIMITED;
		login_too_many(lq, wait);
		login_end(lq, NULL);
	} else if ((lq->inst = auth_chain_instance(lq->view->chain,
	    "ldap")) == NULL) {
		lq->outcome = ML_ERROR;
		lq->res.error = xstrdup("the LDAP source is not running");
		login_reply_status(sc, 503, "ServiceUnavailable", "the "
		    "directory cannot check passwords now; retry later", NULL);
		login_end(lq, NULL);
	} else
		login_ask(lq);
}

/* The discovery document or the JWKS. */
static void
login_document(struct server_conn *sc, const struct login_conf *lc,
    int jwks)
{
	char	*body;
	size_t	 len;

	body = jwks ? login_jwks(lc, &len) : login_discovery(lc, &len);
	metrics_request(sc->w->m, MP_LOGIN, 200);
	http_reply(sc->hc, 200, "application/json", body, len,
	    "Cache-Control: max-age=60\r\n");
	free(body);
}

/* 1 when path is the issuer's path followed by suffix. */
static int
login_issuer_route(const struct login_conf *lc, const char *path,
    const char *suffix)
{
	const char	*ip = login_issuer_path(lc);
	size_t		 n = strlen(ip);

	return strncmp(path, ip, n) == 0 && strcmp(path + n, suffix) == 0;
}

void
login_request(struct server_conn *sc)
{
	const struct login_conf	*lc = sc->w->view->rt->login;
	const char		*path = http_path(sc->hc);
	const char		*m = http_method(sc->hc);
	int			 get = strcmp(m, "GET") == 0 ||
				    strcmp(m, "HEAD") == 0;

	if (lc != NULL && strcmp(path, LOGIN_PATH) == 0) {
		if (strcmp(m, "POST") == 0)
			login_post(sc);
		else
			login_reply_status(sc, 405, "MethodNotAllowed",
			    "only POST is allowed", "Allow: POST\r\n");
	} else if (lc != NULL && (login_issuer_route(lc, path,
	    LOGIN_DISCOVERY_PATH) || login_issuer_route(lc, path,
	    LOGIN_JWKS_PATH))) {
		if (get)
			login_document(sc, lc, login_issuer_route(lc, path,
			    LOGIN_JWKS_PATH));
		else
			login_reply_status(sc, 405, "MethodNotAllowed",
			    "only GET and HEAD are allowed",
			    "Allow: GET, HEAD\r\n");
	} else
		login_reply_status(sc, 404, "NotFound", "no such path", NULL);
}

void
login_drop(struct server_conn *sc)
{
	struct login_req	*lq = sc->login;

	if (lq == NULL)
		return;
	if (lq->pending || lq->sop != NULL) {
		if (lq->pending)
			auth_backend_find("ldap")->cancel(lq->inst,
			    &lq->areq);
#ifdef HAVE_TOKENDB
		else
			tdsrc_session_cancel(lq->sop);
#endif
		sc->login = NULL;
		login_free(lq);
		return;
	}
	/* Gone during failure_delay: the refusal is decided, and told. */
	login_end(lq, NULL);
}
