/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The built-in issuer of the login flow: the tokens tokenreviewd signs
 * itself at POST /login are reviewed by the JWT source as those of one
 * more issuer, named "login", whose settings come from [login] rather
 * than from a [jwt] section: its issuer URL and audience, the algorithms
 * and public parts of its keys (the signing key and previous_keys, local
 * files, never fetched), the user in "sub", "groups", "uid" and "extra"
 * as the signer wrote them.
 *
 * What only this issuer does follows a valid signature and valid claims:
 * with sessions, the token's jti must name a session of the token
 * database that is neither revoked nor expired (tdsrc_session_check()),
 * and the answer is then cached no longer than that database's
 * cache_ttl, so that `tokenreviewctl session revoke` shows within it;
 * with recheck, the user is looked up again in the directory that
 * checked the password (auth_ldap_recheck(), without a bind), and the
 * answer is the user as the directory has it now, so that a removed
 * group, a deleted or a locked account shows within the cache's TTL
 * rather than at the token's exp.  Each is one more asynchronous step of
 * the review (the session first), which the chain's cancel ends like the
 * first.
 */

#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "tokenreviewd.h"
#include "jwt-int.h"
#include "login.h"

#define JWT_LOGIN_NAME	"login"

/* What a review of a login token waits for. */
enum jwt_login_step {
	JWT_LOGIN_RECHECK,	/* the directory: the user now */
	JWT_LOGIN_SESSION,	/* the token database: the session */
};

/* A review of a login token waiting for the directory or its session. */
struct jwt_recheck {
	TAILQ_ENTRY(jwt_recheck) entry;
	struct jwt_inst		*ji;
	const struct jwt_issuer	*is;
	struct auth_req		*req;
	struct auth_result	*res;		/* the token's user, then ours */
	auth_done_cb		 done;
	enum jwt_login_step	 step;
	void			*ldap;		/* the LDAP source's instance */
	struct auth_result	 now;		/* the directory's answer */
	void			*tokendb;	/* the tokendb source's */
	struct tdsrc_sess_op	*sop;		/* the session check waiting */
	int			 calling;	/* in tdsrc_session_check() */
	int			 answered;	/* ... which answered at once */
	enum tdsrc_session_rv	 srv;		/* the session's verdict */
	char			*why;
};

/* ---------------------------------------------------------------- config */

void
jwt_login_free(struct jwt_login *jl)
{
	if (jl == NULL)
		return;
	free(jl->ldap);
	free(jl);
}

/* The algorithms of the keys, as the algorithms key lists them. */
static char *
jwt_login_algs(const struct login_conf *lc)
{
	char	*s = xstrdup(""), *t;
	size_t	 i;

	for (i = 0; i < lc->nkeys; i++) {
		if (strstr(s, lc->keys[i].alg) != NULL)
			continue;
		xasprintf(&t, "%s%s%s", s, *s != '\0' ? " " : "",
		    lc->keys[i].alg);
		free(s);
		s = t;
	}
	return s;
}

/*
 * The issuer's settings, read by the [jwt] table from a section made
 * here: what [login] gives, and the mappings of its tokens' claims.
 */
static struct jwt_issuer *
jwt_login_read(const struct config *conf, const struct login_conf *lc,
    char *err, size_t errlen)
{
	struct conf_kv		 kv[] = {
		{ "issuer", lc->issuer, lc->line, 0 },
		{ "audiences", lc->audience, lc->line, 0 },
		{ "algorithms", NULL, lc->line, 0 },
		{ "max_token_size", "16k", lc->line, 0 },
		{ "username_claim", "sub", lc->line, 0 },
		{ "username_prefix", "-", lc->line, 0 },
		{ "groups_claim", "groups", lc->line, 0 },
		/* The directory's rules made the names: ours to give. */
		{ "allow_system_names", "yes", lc->line, 0 },
	};
	struct conf_section	 sec;
	struct jwt_issuer	*is;
	char			*algs;

	kv[2].value = algs = jwt_login_algs(lc);
	memset(&sec, 0, sizeof(sec));
	sec.type = "jwt";
	sec.label = JWT_LOGIN_NAME;
	sec.line = lc->line;
	sec.kv = kv;
	sec.nkv = JWT_NITEMS(kv);
	is = jwt_conf_issuer_read(conf, &sec, err, errlen);
	free(algs);
	return is;
}

/* The public part of every key of [login]; the files are watched. */
static int
jwt_login_keys(const struct config *conf, struct jwt_issuer *is,
    const struct login_conf *lc, char *err, size_t errlen)
{
	char	why[TR_ERRLEN];
	size_t	i;

	is->keys = jwt_keys_new();
	for (i = 0; i < lc->nkeys; i++) {
		if (jwt_keys_add_pkey(is->keys, lc->keys[i].pkey,
		    lc->keys[i].kid, lc->keys[i].alg, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "%s:%d: [login]: key %zu: %s",
			    conf->path, lc->line, i + 1, why);
			return -1;
		}
	}
	is->key_files = xcalloc(lc->nprevious + 2, sizeof(*is->key_files));
	is->key_files[is->nkey_files++] = xstrdup(lc->signing_key);
	for (i = 0; i < lc->nprevious; i++)
		is->key_files[is->nkey_files++] = xstrdup(lc->previous_keys[i]);
	return 0;
}

int
jwt_login_issuer(const struct config *conf, struct jwt_issuer **out,
    char *err, size_t errlen)
{
	struct login_conf	*lc = NULL;
	struct jwt_issuer	*is = NULL;
	int			 r = -1;

	*out = NULL;
	if (login_conf_load(conf, &lc, err, errlen) != 0)
		return -1;
	if (lc == NULL)
		return 0;
	if ((is = jwt_login_read(conf, lc, err, errlen)) == NULL ||
	    jwt_login_keys(conf, is, lc, err, errlen) != 0)
		goto out;
	is->login = xcalloc(1, sizeof(*is->login));
	is->login->ldap = xstrdup(lc->ldap);
	is->login->recheck = lc->recheck;
	is->login->sessions = lc->sessions == LOGIN_SESSIONS_YES;
	*out = is;
	is = NULL;
	r = 0;
out:
	jwt_conf_issuer_free(is);
	login_conf_free(lc);
	return r;
}

/* ---------------------------------------------------------------- review */

#if defined(HAVE_LDAP) || defined(HAVE_TOKENDB)
/* A step of a review that waits for another source, on ji's list. */
static struct jwt_recheck *
jwt_login_step_new(struct jwt_inst *ji, const struct jwt_issuer *is,
    struct auth_req *req, struct auth_result *res, auth_done_cb done,
    enum jwt_login_step step)
{
	struct jwt_recheck	*rc;

	rc = xcalloc(1, sizeof(*rc));
	rc->ji = ji;
	rc->is = is;
	rc->req = req;
	rc->res = res;
	rc->done = done;
	rc->step = step;
	TAILQ_INSERT_TAIL(&ji->rechecks, rc, entry);
	return rc;
}

#endif

static void
jwt_login_recheck_free(struct jwt_recheck *rc)
{
	TAILQ_REMOVE(&rc->ji->rechecks, rc, entry);
	auth_result_clear(&rc->now);
	free(rc->why);
	free(rc);
}

#ifdef HAVE_LDAP
/*
 * The directory's user, with the token's credential id (its jti, which
 * names the session in audit logs) kept in its extra.  The caller frees
 * the result.
 */
static char *
jwt_login_user_json(const char *token_user, const char *dir_user)
{
	json_t	*t, *d, *cred, *extra;
	char	*s;

	t = json_loads(token_user, 0, NULL);
	if ((d = json_loads(dir_user, 0, NULL)) == NULL) {
		json_decref(t);
		return xstrdup(dir_user);
	}
	cred = json_object_get(json_object_get(t, "extra"), JWT_CRED_ID);
	if (cred != NULL) {
		if ((extra = json_object_get(d, "extra")) == NULL) {
			extra = json_object();
			json_object_set_new(d, "extra", extra);
		}
		json_object_set(extra, JWT_CRED_ID, cred);
	}
	if ((s = json_dumps(d, JSON_COMPACT)) == NULL)
		fatalx("json_dumps");
	json_decref(t);
	json_decref(d);
	return s;
}

/*
 * The directory's verdict on the token's user becomes the review's:
 * its user as the directory has it now, cached no longer than either
 * allows (the token's exp bounds it already); a user gone or locked is
 * an error with a reason, as every failed check of a token is.
 */
static enum auth_rv
jwt_login_recheck_end(struct jwt_recheck *rc, enum auth_rv rv)
{
	struct auth_result	*res = rc->res, *now = &rc->now;
	char			*user_json;

	if (rv == AUTH_OK) {
		user_json = jwt_login_user_json(res->user_json,
		    now->user_json);
		free(res->username);
		free(res->user_json);
		res->username = now->username;
		res->user_json = user_json;
		now->username = NULL;
		if (now->max_ttl < 0 || (now->max_ttl > 0 &&
		    now->max_ttl < res->max_ttl))
			res->max_ttl = now->max_ttl;
	} else {
		auth_result_clear(res);
		if (rv == AUTH_ERROR)
			xasprintf(&res->error, JWT_LOGIN_NAME ": recheck: %s",
			    now->error != NULL ? now->error : "failed");
		else
			xasprintf(&res->error, JWT_LOGIN_NAME ": the user is no "
			    "longer in the directory, or is locked");
		rv = AUTH_ERROR;
	}
	jwt_login_recheck_free(rc);
	return rv;
}

/* The directory answered a recheck that waited (AUTH_PENDING). */
static void
jwt_login_recheck_cb(struct auth_req *req, enum auth_rv rv)
{
	struct jwt_inst		*ji;
	struct jwt_recheck	*rc = NULL;
	auth_done_cb		 done;

	if ((ji = auth_chain_instance(req->chain, "jwt")) != NULL) {
		TAILQ_FOREACH(rc, &ji->rechecks, entry) {
			if (rc->req == req)
				break;
		}
	}
	if (rc == NULL) {
		log_msg(LL_ERROR, "jwt_recheck", "an answer for no recheck "
		    "(token %s)", req->token_fp);
		return;
	}
	done = rc->done;
	rv = jwt_login_recheck_end(rc, rv);
	done(req, rv);
}

/* Ask the directory for the token's user now. */
static enum auth_rv
jwt_login_recheck(struct jwt_inst *ji, const struct jwt_issuer *is,
    struct auth_req *req, struct auth_result *res, auth_done_cb done)
{
	struct jwt_recheck	*rc;
	void			*ldap;
	enum auth_rv		 rv;

	if (done == NULL || req->chain == NULL ||
	    (ldap = auth_chain_instance(req->chain, "ldap")) == NULL) {
		auth_result_clear(res);
		xasprintf(&res->error, JWT_LOGIN_NAME ": recheck: the ldap "
		    "source does not run here");
		return AUTH_ERROR;
	}
	rc = jwt_login_step_new(ji, is, req, res, done, JWT_LOGIN_RECHECK);
	rc->ldap = ldap;
	rv = auth_ldap_recheck(ldap, is->login->ldap, res->username, req,
	    &rc->now, jwt_login_recheck_cb);
	if (rv == AUTH_PENDING)
		return AUTH_PENDING;
	return jwt_login_recheck_end(rc, rv);
}
#else
static enum auth_rv
jwt_login_recheck(struct jwt_inst *ji, const struct jwt_issuer *is,
    struct auth_req *req, struct auth_result *res, auth_done_cb done)
{
	(void)ji;
	(void)is;
	(void)req;
	(void)done;
	auth_result_clear(res);
	xasprintf(&res->error, JWT_LOGIN_NAME ": recheck: built without LDAP");
	return AUTH_ERROR;
}
#endif

/* After the session, if any: the recheck, if on. */
static enum auth_rv
jwt_login_after_session(struct jwt_inst *ji, const struct jwt_issuer *is,
    struct auth_req *req, struct auth_result *res, auth_done_cb done)
{
	if (!is->login->recheck)
		return AUTH_OK;
	return jwt_login_recheck(ji, is, req, res, done);
}

/* ------------------------------------------------------------ sessions */

#ifdef HAVE_TOKENDB

/* The jti of a verified token, from its user's credential id, or NULL. */
static char *
jwt_login_jti(const char *user_json)
{
	json_t		*u, *cred;
	const char	*s = NULL;
	char		*jti = NULL;

	if ((u = json_loads(user_json, 0, NULL)) == NULL)
		return NULL;
	cred = json_object_get(json_object_get(u, "extra"), JWT_CRED_ID);
	if (json_is_array(cred))
		cred = json_array_get(cred, 0);
	if (json_is_string(cred))
		s = json_string_value(cred);
	if (s != NULL && strncmp(s, "JTI=", 4) == 0 && s[4] != '\0')
		jti = xstrdup(s + 4);
	json_decref(u);
	return jti;
}

/* A revocation must show within the token database's cache_ttl. */
static void
jwt_login_session_cap(struct auth_result *res, long long ttl)
{
	if (ttl <= 0)
		res->max_ttl = -1;
	else if (res->max_ttl == 0 || res->max_ttl > ttl)
		res->max_ttl = ttl;
}

/*
 * The session's verdict becomes the review's: an open session goes on to
 * the recheck, capped to the cache_ttl; an ended one and a database that
 * cannot say are errors with a reason (never cached).  rc is freed.
 */
static enum auth_rv
jwt_login_session_end(struct jwt_recheck *rc)
{
	struct jwt_inst		*ji = rc->ji;
	const struct jwt_issuer	*is = rc->is;
	struct auth_req		*req = rc->req;
	struct auth_result	*res = rc->res;
	auth_done_cb		 done = rc->done;
	enum tdsrc_session_rv	 srv = rc->srv;

	if (srv == TDSESS_ACTIVE)
		jwt_login_session_cap(res, tdsrc_session_cache_ttl(rc->tokendb));
	else {
		auth_result_clear(res);
		if (srv == TDSESS_ENDED) {
			log_msg(LL_VERBOSE, "jwt_deny", "token %s: issuer %s: "
			    "%s", req->token_fp, is->name, rc->why != NULL ?
			    rc->why : "session ended");
			xasprintf(&res->error, JWT_LOGIN_NAME ": session "
			    "revoked or expired");
		} else
			xasprintf(&res->error, JWT_LOGIN_NAME ": session "
			    "check: %s", rc->why != NULL ? rc->why : "failed");
		res->max_ttl = -1;
	}
	jwt_login_recheck_free(rc);
	if (srv != TDSESS_ACTIVE)
		return AUTH_ERROR;
	return jwt_login_after_session(ji, is, req, res, done);
}

/* The token database answered, at once or later from the loop. */
static void
jwt_login_session_cb(void *arg, enum tdsrc_session_rv srv, const char *why)
{
	struct jwt_recheck	*rc = arg;
	struct auth_req		*req = rc->req;
	auth_done_cb		 done = rc->done;
	enum auth_rv		 rv;

	rc->srv = srv;
	rc->why = why != NULL ? xstrdup(why) : NULL;
	rc->sop = NULL;
	if (rc->calling) {
		rc->answered = 1;
		return;
	}
	if ((rv = jwt_login_session_end(rc)) != AUTH_PENDING)
		done(req, rv);
}

/* Ask the token database whether the token's session is still open. */
static enum auth_rv
jwt_login_session(struct jwt_inst *ji, const struct jwt_issuer *is,
    struct auth_req *req, struct auth_result *res, auth_done_cb done)
{
	struct jwt_recheck	*rc;
	struct tdsrc_sess_op	*op = NULL;
	void			*tokendb;
	char			*jti;

	if (req->chain == NULL ||
	    (tokendb = auth_chain_instance(req->chain, "tokendb")) == NULL) {
		auth_result_clear(res);
		xasprintf(&res->error, JWT_LOGIN_NAME ": session check: the "
		    "tokendb source does not run here");
		return AUTH_ERROR;
	}
	rc = jwt_login_step_new(ji, is, req, res, done, JWT_LOGIN_SESSION);
	rc->tokendb = tokendb;
	rc->calling = 1;
	if ((jti = jwt_login_jti(res->user_json)) == NULL)
		jwt_login_session_cb(rc, TDSESS_ENDED, "no jti");
	else
		op = tdsrc_session_check(tokendb, jti, (int64_t)time(NULL),
		    jwt_login_session_cb, rc);
	free(jti);
	rc->calling = 0;
	if (rc->answered)
		return jwt_login_session_end(rc);
	rc->sop = op;
	if (done != NULL)
		return AUTH_PENDING;
	tdsrc_session_cancel(op);
	jwt_login_recheck_free(rc);
	auth_result_clear(res);
	xasprintf(&res->error, JWT_LOGIN_NAME ": session check: cannot wait");
	return AUTH_ERROR;
}
#else
static enum auth_rv
jwt_login_session(struct jwt_inst *ji, const struct jwt_issuer *is,
    struct auth_req *req, struct auth_result *res, auth_done_cb done)
{
	(void)ji;
	(void)is;
	(void)req;
	(void)done;
	auth_result_clear(res);
	xasprintf(&res->error, JWT_LOGIN_NAME ": session check: built "
	    "without the token database");
	return AUTH_ERROR;
}
#endif

enum auth_rv
jwt_login_review(struct jwt_inst *ji, const struct jwt_issuer *is,
    struct auth_req *req, struct auth_result *res, auth_done_cb done)
{
	if (is->login->sessions)
		return jwt_login_session(ji, is, req, res, done);
	return jwt_login_after_session(ji, is, req, res, done);
}

int
jwt_login_cancel(struct jwt_inst *ji, struct auth_req *req)
{
	const struct auth_backend	*ldap;
	struct jwt_recheck		*rc;

	TAILQ_FOREACH(rc, &ji->rechecks, entry) {
		if (rc->req == req)
			break;
	}
	if (rc == NULL)
		return 0;
	if (rc->step == JWT_LOGIN_SESSION) {
#ifdef HAVE_TOKENDB
		tdsrc_session_cancel(rc->sop);
#endif
	} else if ((ldap = auth_backend_find("ldap")) != NULL)
		ldap->cancel(rc->ldap, req);
	jwt_login_recheck_free(rc);
	return 1;
}

/*
 * The chain cancels every pending review before it frees its sources, in
 * whatever order: none is left here, and the LDAP source, maybe freed
 * already, is not asked.
 */
void
jwt_login_forget(struct jwt_inst *ji)
{
	while (!TAILQ_EMPTY(&ji->rechecks))
		jwt_login_recheck_free(TAILQ_FIRST(&ji->rechecks));
}
