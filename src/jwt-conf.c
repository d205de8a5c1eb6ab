/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The [jwt "NAME"] config reader of the JWT source: each section is one
 * issuer, read whole at load (and at -n) so that every mistake is an
 * error with its line before the first review: identity (type, issuer,
 * audiences), limits (algorithms, clock skew, token size, required
 * claims), claim mappings (with names.c's rules on the system:
 * namespace), and keys, read from files now or fetched later from the
 * issuer's discovery document (jwt-fetch.c).  The keys are read through
 * the core's option table (conf_read_section()); the checks that tie
 * keys together come after it.  The built-in issuer of [login] is read
 * by the same table (jwt-login.c) and added after the sections.  The
 * issuers are immutable once loaded; a reload loads a new set.
 */

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenreviewd.h"
#include "jwt-int.h"

/* Where the keys of a key file are: a JWKS document or PEM keys. */
enum jwt_conf_key_format {
	JWT_CONF_JWKS,
	JWT_CONF_PEM,
};

static conf_check_cb	jwt_conf_check_type;
static conf_check_cb	jwt_conf_check_algorithms;
static conf_check_cb	jwt_conf_check_required;
static conf_check_cb	jwt_conf_check_template;
static conf_check_cb	jwt_conf_check_extra;

/*
 * The keys of a [jwt "NAME"] section.  Every value may be empty, as
 * before the table: an empty one gets the message its check or its type
 * gives.  Key files and network URLs are read after the table (their
 * errors depend on the other keys); the checks that depend on type come
 * after the table too.
 */
#define F(f)	offsetof(struct jwt_issuer, f)
#define E	CONF_EMPTY_OK
static const struct conf_option jwt_conf_options[] = {
	{ "type", CONF_RAW, 0, 0, 0, 0, "oidc", E, NULL,
	  jwt_conf_check_type },
	{ "issuer", CONF_STRING, F(issuer), 0, 0, 0, NULL,
	  CONF_REQUIRED | E, NULL, NULL },
	{ "audiences", CONF_LIST, F(audiences), F(naudiences), 0, 0, NULL,
	  CONF_REQUIRED | E, NULL, NULL },
	{ "audience_aware", CONF_BOOL, F(audience_aware), 0, 0, 0, "no", E,
	  NULL, NULL },
	{ "algorithms", CONF_RAW, 0, 0, 0, 0, "RS256 ES256", E, NULL,
	  jwt_conf_check_algorithms },
	{ "clock_skew", CONF_DURATION, F(skew), 0, 0, 3600 * 1000, "60s", E,
	  NULL, NULL },
	{ "max_token_size", CONF_SIZE, F(max_token), 0, 64, TR_MAX_TOKEN,
	  "8k", E, NULL, NULL },
	{ "required_claims", CONF_LIST, F(required), F(nrequired), 0, 0, NULL,
	  E, NULL, jwt_conf_check_required },
	{ "username_claim", CONF_STRING, F(username_claim), 0, 0, 0, "sub", E,
	  NULL, NULL },
	{ "username_prefix", CONF_STRING, F(username_prefix), 0, 0, 0, NULL,
	  E, NULL, NULL },
	{ "username_template", CONF_STRING, F(username_template), 0, 0, 0,
	  NULL, E, NULL, jwt_conf_check_template },
	{ "groups_claim", CONF_STRING, F(groups_claim), 0, 0, 0, NULL, E,
	  NULL, NULL },
	{ "groups_prefix", CONF_STRING, F(groups_prefix), 0, 0, 0, "", E,
	  NULL, NULL },
	{ "uid_claim", CONF_STRING, F(uid_claim), 0, 0, 0, NULL, E, NULL,
	  NULL },
	{ "allow_system_names", CONF_BOOL, F(allow_system_names), 0, 0, 0,
	  "no", E, NULL, NULL },
	{ "extra.", CONF_RAW, 0, 0, 0, 0, NULL, CONF_PREFIX | E, NULL,
	  jwt_conf_check_extra },
	{ "jwks_file", CONF_RAW, 0, 0, 0, 0, NULL, E, NULL, NULL },
	{ "public_key_file", CONF_RAW, 0, 0, 0, 0, NULL, E, NULL, NULL },
	{ "discovery_url", CONF_RAW, 0, 0, 0, 0, NULL, E, NULL, NULL },
	{ "jwks_url", CONF_RAW, 0, 0, 0, 0, NULL, E, NULL, NULL },
	{ "ca", CONF_RAW, 0, 0, 0, 0, NULL, E, NULL, NULL },
	{ "refresh_interval", CONF_DURATION, F(fetch.refresh), 0, 1000,
	  24 * 3600 * 1000, "1h", E, NULL, NULL },
	{ "retry_interval", CONF_DURATION, F(fetch.retry), 0, 100,
	  3600 * 1000, "10s", E, NULL, NULL },
	{ "refetch_interval", CONF_DURATION, F(fetch.refetch), 0, 100,
	  3600 * 1000, "10s", E, NULL, NULL },
	{ "fetch_timeout", CONF_DURATION, F(fetch.timeout), 0, 100,
	  120 * 1000, "10s", E, NULL, NULL },
	{ "max_response", CONF_SIZE, F(fetch.max_response), 0, 1024,
	  16 * 1024 * 1024, "1m", E, NULL, NULL },
};
#undef E
#undef F

void
jwt_conf_issuer_free(struct jwt_issuer *is)
{
	size_t	i;

	if (is == NULL)
		return;
	conf_table_free(jwt_conf_options, CONF_NOPTIONS(jwt_conf_options), is);
	free(is->name);
	names_once_free(is->system_logged);
	for (i = 0; i < is->nextra; i++) {
		free(is->extra[i].key);
		free(is->extra[i].claim);
	}
	free(is->extra);
	free_words(is->key_files);
	jwt_keys_unref(is->keys);
	jwt_fetch_unref(is->src);
	jwt_login_free(is->login);
	free(is);
}

/* What the reads after the table need to report errors. */
struct jwt_conf {
	const struct config	*conf;
	struct conf_section	*sec;
	struct jwt_issuer	*is;
	char			*err;
	size_t			 errlen;
};

static int
jwt_conf_check_type(void *obj, const struct config *conf,
    const struct conf_section *sec, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct jwt_issuer	*is = obj;

	if (strcmp(kv->value, "oidc") == 0)
		is->type = JWT_OIDC;
	else if (strcmp(kv->value, "serviceaccount") == 0)
		is->type = JWT_SERVICEACCOUNT;
	else {
		conf_error(conf, sec, kv, err, errlen,
		    "want oidc or serviceaccount");
		return -1;
	}
	return 0;
}

static int
jwt_conf_check_algorithms(void *obj, const struct config *conf,
    const struct conf_section *sec, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct jwt_issuer	 *is = obj;
	char			**w;
	size_t			  n, i, a;
	int			  r = -1;

	w = split_words(kv->value, &n);
	is->algs = 0;
	for (i = 0; i < n; i++) {
		for (a = 0; a < JWT_NALGS; a++) {
			if (strcmp(w[i], jwt_algs[a].name) == 0)
				break;
		}
		if (a == JWT_NALGS) {
			conf_error(conf, sec, kv, err, errlen, "\"%s\" is not "
			    "allowed (RS256 RS384 RS512 PS256 PS384 PS512 "
			    "ES256 ES384 ES512)", w[i]);
			goto out;
		}
		is->algs |= 1u << a;
	}
	if (is->algs == 0) {
		conf_error(conf, sec, kv, err, errlen, "no algorithm listed");
		goto out;
	}
	r = 0;
out:
	free_words(w);
	return r;
}

/* "claim=value" words, both sides non-empty. */
static int
jwt_conf_check_required(void *obj, const struct config *conf,
    const struct conf_section *sec, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct jwt_issuer	*is = obj;
	char			*eq;
	size_t			 i;

	for (i = 0; i < is->nrequired; i++) {
		eq = strchr(is->required[i], '=');
		if (eq == NULL || eq == is->required[i]) {
			conf_error(conf, sec, kv, err, errlen,
			    "\"%s\": want claim=value", is->required[i]);
			return -1;
		}
	}
	return 0;
}

/* 1 if the path's domain is kubernetes.io or k8s.io, or under one. */
static int
jwt_conf_extra_reserved(const char *key, const char *slash)
{
	size_t	dlen = (size_t)(slash - key);

	return (dlen >= 14 && memcmp(slash - 14, "kubernetes.io", 13) == 0 &&
	    (dlen == 13 || slash[-14] == '.')) || (dlen == 13 &&
	    memcmp(key, "kubernetes.io", 13) == 0) || (dlen == 7 &&
	    memcmp(key, "k8s.io", 6) == 0) || (dlen > 7 &&
	    memcmp(slash - 7, ".k8s.io", 7) == 0);
}

/*
 * extra.KEY = claim.  Keys follow kube-apiserver's rules for extra: a
 * lower-case, domain-prefixed path, not under kubernetes.io or k8s.io.
 */
static int
jwt_conf_check_extra(void *obj, const struct config *conf,
    const struct conf_section *sec, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct jwt_issuer	*is = obj;
	const char		*key = kv->key + strlen("extra."), *slash, *p;

	slash = strchr(key, '/');
	for (p = key; *p != '\0'; p++) {
		if (isupper((unsigned char)*p) || isspace((unsigned char)*p))
			break;
	}
	if (slash == NULL || slash == key || slash[1] == '\0' || *p != '\0') {
		conf_error(conf, sec, kv, err, errlen, "the extra key must be "
		    "a lower-case, domain-prefixed path such as "
		    "example.org/tenant");
		return -1;
	}
	if (jwt_conf_extra_reserved(key, slash)) {
		conf_error(conf, sec, kv, err, errlen,
		    "extra keys under kubernetes.io and k8s.io are reserved");
		return -1;
	}
	is->extra = xreallocarray(is->extra, is->nextra + 1,
	    sizeof(*is->extra));
	is->extra[is->nextra].key = xstrdup(key);
	is->extra[is->nextra++].claim = xstrdup(kv->value);
	return 0;
}

/* "{claim}" placeholders must be closed and name a claim. */
static int
jwt_conf_check_template(void *obj, const struct config *conf,
    const struct conf_section *sec, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	const char	*p = kv->value, *close;

	for (; (p = strchr(p, '{')) != NULL; p = close + 1) {
		close = strchr(p, '}');
		if (close == NULL || close == p + 1 ||
		    memchr(p + 1, '{', (size_t)(close - p - 1)) != NULL) {
			conf_error(conf, sec, kv, err, errlen, "want text with "
			    "{claim} placeholders, as in oidc:{email}");
			return -1;
		}
	}
	if (strchr(kv->value, '{') == NULL) {
		conf_error(conf, sec, kv, err, errlen,
		    "no {claim} placeholder");
		return -1;
	}
	return 0;
}

/* Read one key file into the issuer's key set. */
static int
jwt_conf_key_file(struct jwt_conf *jc, struct conf_kv *kv, const char *path,
    enum jwt_conf_key_format format)
{
	char	*data, why[TR_ERRLEN];
	size_t	 len;
	int	 r;

	if ((data = read_file(path, JWT_MAX_KEYFILE, 0, &len, why,
	    sizeof(why))) == NULL) {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen, "%s",
		    why);
		return -1;
	}
	if (format == JWT_CONF_JWKS)
		r = jwt_keys_add_jwks(jc->is->keys, data, len, why,
		    sizeof(why));
	else
		r = jwt_keys_add_pem(jc->is->keys, data, len, why, sizeof(why));
	free(data);
	if (r != 0) {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen, "%s: %s",
		    path, why);
		return -1;
	}
	jc->is->key_files = xreallocarray(jc->is->key_files,
	    jc->is->nkey_files + 2, sizeof(*jc->is->key_files));
	jc->is->key_files[jc->is->nkey_files++] = xstrdup(path);
	jc->is->key_files[jc->is->nkey_files] = NULL;
	return 0;
}

static int
jwt_conf_url(struct jwt_conf *jc, const char *key, char **out)
{
	struct conf_kv	*kv;

	if ((kv = conf_get(jc->sec, key)) == NULL)
		return 0;
	if (strncmp(kv->value, "https://", 8) != 0 || kv->value[8] == '\0') {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
		    "want an https:// URL");
		return -1;
	}
	*out = xstrdup(kv->value);
	return 0;
}

/* The issuer's keys come from its discovery document and JWKS URL. */
static int
jwt_conf_network(struct jwt_conf *jc)
{
	struct jwt_source	*src;
	struct conf_kv		*kv;
	size_t			 n;

	src = jwt_fetch_source_new(jc->is->name, jc->is->issuer);
	if (strncmp(src->issuer, "https://", 8) != 0) {
		conf_error(jc->conf, jc->sec, conf_get(jc->sec, "issuer"),
		    jc->err, jc->errlen, "keys are fetched from an https:// "
		    "issuer; give jwks_file or public_key_file otherwise");
		goto fail;
	}
	if (jwt_conf_url(jc, "discovery_url", &src->discovery_url) != 0 ||
	    jwt_conf_url(jc, "jwks_url", &src->jwks_url) != 0)
		goto fail;
	src->lim = jc->is->fetch;
	if (src->discovery_url == NULL) {
		n = strlen(src->issuer);
		while (n > 8 && src->issuer[n - 1] == '/')
			n--;
		xasprintf(&src->discovery_url, "%.*s/.well-known/"
		    "openid-configuration", (int)n, src->issuer);
	}
	if ((kv = conf_get(jc->sec, "ca")) != NULL) {
		if (access(kv->value, R_OK) != 0) {
			conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
			    "%s: %s", kv->value, strerror(errno));
			goto fail;
		}
		src->ca = xstrdup(kv->value);
	}
	xasprintf(&src->id, "%s\n%s\n%s\n%s\n%lld %lld %lld %lld %zu",
	    src->issuer, src->discovery_url, src->jwks_url ? src->jwks_url :
	    "", src->ca ? src->ca : "", src->lim.refresh, src->lim.retry,
	    src->lim.refetch, src->lim.timeout, src->lim.max_response);
	jc->is->src = jwt_fetch_share(src);
	return 0;
fail:
	jwt_fetch_source_free(src);
	return -1;
}

/* Whether a section has a key, without marking it used. */
static int
jwt_conf_has(const struct conf_section *sec, const char *key)
{
	size_t	i;

	for (i = 0; i < sec->nkv; i++) {
		if (strcmp(sec->kv[i].key, key) == 0)
			return 1;
	}
	return 0;
}

static int
jwt_conf_is_network_key(const char *key)
{
	static const char *const keys[] = { "discovery_url", "jwks_url", "ca",
	    "refresh_interval", "retry_interval", "refetch_interval",
	    "fetch_timeout", "max_response" };
	size_t	i;

	for (i = 0; i < JWT_NITEMS(keys); i++) {
		if (strcmp(key, keys[i]) == 0)
			return 1;
	}
	return 0;
}

/*
 * Keys from files (jwks_file, public_key_file), read now; or else from
 * the network, fetched by the fetcher thread.
 */
static int
jwt_conf_keys(struct jwt_conf *jc)
{
	/* Indexed by enum jwt_conf_key_format. */
	static const char *const keys[] = { "jwks_file", "public_key_file" };
	struct conf_kv	*kv;
	char		**w;
	size_t		  n, i, k;
	int		  r = 0;

	if (!jwt_conf_has(jc->sec, keys[JWT_CONF_JWKS]) &&
	    !jwt_conf_has(jc->sec, keys[JWT_CONF_PEM]))
		return jwt_conf_network(jc);
	for (i = 0; i < jc->sec->nkv; i++) {
		if (!jwt_conf_is_network_key(jc->sec->kv[i].key))
			continue;
		conf_error(jc->conf, jc->sec, &jc->sec->kv[i], jc->err,
		    jc->errlen, "not used with jwks_file or public_key_file");
		return -1;
	}
	jc->is->keys = jwt_keys_new();
	for (k = 0; k < JWT_NITEMS(keys) && r == 0; k++) {
		if ((kv = conf_get(jc->sec, keys[k])) == NULL)
			continue;
		w = split_words(kv->value, &n);
		for (i = 0; i < n && r == 0; i++)
			r = jwt_conf_key_file(jc, kv, w[i], k);
		free_words(w);
	}
	if (r != 0)
		return -1;
	if (jc->is->keys->nkeys == 0) {
		conf_error(jc->conf, jc->sec, conf_get(jc->sec, "jwks_file"),
		    jc->err, jc->errlen, "no usable signing key");
		return -1;
	}
	return 0;
}

/*
 * issuer and audiences, not empty; audience_aware only for service
 * accounts.
 */
static int
jwt_conf_identity(struct jwt_conf *jc)
{
	struct jwt_issuer	*is = jc->is;

	if (*is->issuer == '\0') {
		conf_error(jc->conf, jc->sec, conf_get(jc->sec, "issuer"),
		    jc->err, jc->errlen, "issuer is required");
		return -1;
	}
	if (is->naudiences == 0) {
		conf_error(jc->conf, jc->sec, conf_get(jc->sec, "audiences"),
		    jc->err, jc->errlen, "audiences is required");
		return -1;
	}
	if (is->audience_aware && is->type != JWT_SERVICEACCOUNT) {
		conf_error(jc->conf, jc->sec, conf_get(jc->sec,
		    "audience_aware"), jc->err, jc->errlen, "only for type = "
		    "serviceaccount");
		return -1;
	}
	return 0;
}

/*
 * allow_system_names, for OIDC issuers (a service-account issuer builds
 * its system:serviceaccount names itself).  Without it, a prefix in the
 * system: namespace would drop every group or refuse every user: an
 * error now rather than at the first review.
 */
static int
jwt_conf_system_names(struct jwt_conf *jc)
{
	struct jwt_issuer	*is = jc->is;
	struct conf_kv		*kv;
	const char		*key = NULL;

	if ((kv = conf_get(jc->sec, "allow_system_names")) != NULL &&
	    is->type == JWT_SERVICEACCOUNT) {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
		    "not used with type = serviceaccount");
		return -1;
	}
	if (is->allow_system_names || is->type == JWT_SERVICEACCOUNT)
		key = NULL;
	else if (is->username_template != NULL &&
	    names_prefix_reserved(is->username_template))
		key = "username_template";
	else if (is->username_template == NULL &&
	    names_prefix_reserved(is->username_prefix))
		key = "username_prefix";
	else if (names_prefix_reserved(is->groups_prefix))
		key = "groups_prefix";
	if (key != NULL) {
		conf_error(jc->conf, jc->sec, conf_get(jc->sec, key), jc->err,
		    jc->errlen, "in the system: namespace, which an identity "
		    "provider may not give; set allow_system_names = yes to "
		    "mean it");
		return -1;
	}
	is->system_logged = names_once_new();
	return 0;
}

/* Claim mappings; a service-account issuer has fixed ones. */
static int
jwt_conf_mappings(struct jwt_conf *jc)
{
	static const char *const oidc_only[] = { "username_claim",
	    "username_prefix", "username_template", "groups_claim",
	    "groups_prefix", "uid_claim" };
	struct jwt_issuer	*is = jc->is;
	struct conf_kv		*kv;
	size_t			 i;

	for (i = 0; is->type == JWT_SERVICEACCOUNT &&
	    i < JWT_NITEMS(oidc_only); i++) {
		if ((kv = conf_get(jc->sec, oidc_only[i])) != NULL) {
			conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
			    "not used with type = serviceaccount");
			return -1;
		}
	}
	if (is->username_prefix != NULL && strcmp(is->username_prefix,
	    "-") == 0)
		is->username_prefix[0] = '\0';
	else if (is->username_prefix == NULL &&
	    strcmp(is->username_claim, "email") != 0)
		xasprintf(&is->username_prefix, "%s#", is->issuer);
	else if (is->username_prefix == NULL)
		is->username_prefix = xstrdup("");
	if (jwt_conf_system_names(jc) != 0)
		return -1;
	for (i = 0; is->type == JWT_SERVICEACCOUNT && i < jc->sec->nkv;
	    i++) {
		kv = &jc->sec->kv[i];
		if (strncmp(kv->key, "extra.", 6) != 0)
			continue;
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
		    "not used with type = serviceaccount");
		return -1;
	}
	return 0;
}

static void
jwt_conf_init(struct jwt_conf *jc, const struct config *conf,
    struct conf_section *sec, char *err, size_t errlen)
{
	memset(jc, 0, sizeof(*jc));
	jc->conf = conf;
	jc->sec = sec;
	jc->err = err;
	jc->errlen = errlen;
}

struct jwt_issuer *
jwt_conf_issuer_read(const struct config *conf, struct conf_section *sec,
    char *err, size_t errlen)
{
	struct jwt_conf	 jc;

	jwt_conf_init(&jc, conf, sec, err, errlen);
	jc.is = xcalloc(1, sizeof(*jc.is));
	if (sec->label == NULL) {
		conf_error(conf, sec, NULL, err, errlen, "an issuer section "
		    "needs a name: [jwt \"NAME\"]");
		goto fail;
	}
	jc.is->name = xstrdup(sec->label);
	if (conf_read_section(jwt_conf_options,
	    CONF_NOPTIONS(jwt_conf_options), jc.is, conf, sec, err,
	    errlen) != 0)
		goto fail;
	if (jwt_conf_identity(&jc) != 0 || jwt_conf_mappings(&jc) != 0)
		goto fail;
	return jc.is;
fail:
	jwt_conf_issuer_free(jc.is);
	return NULL;
}

static struct jwt_issuer *
jwt_conf_issuer_load(const struct config *conf, struct conf_section *sec,
    char *err, size_t errlen)
{
	struct jwt_conf	 jc;

	jwt_conf_init(&jc, conf, sec, err, errlen);
	if ((jc.is = jwt_conf_issuer_read(conf, sec, err, errlen)) == NULL)
		return NULL;
	if (jwt_conf_keys(&jc) != 0) {
		jwt_conf_issuer_free(jc.is);
		return NULL;
	}
	return jc.is;
}

const struct jwt_issuer *
jwt_conf_issuer(const struct jwt_shared *js, const char *iss)
{
	size_t	i;

	for (i = 0; iss != NULL && i < js->nissuers; i++) {
		if (strcmp(js->issuers[i]->issuer, iss) == 0)
			return js->issuers[i];
	}
	return NULL;
}

void
jwt_conf_unload(void *shared)
{
	struct jwt_shared	*js = shared;
	size_t			 i;

	if (js == NULL)
		return;
	for (i = 0; i < js->nissuers; i++)
		jwt_conf_issuer_free(js->issuers[i]);
	free(js->issuers);
	free(js);
}

static void
jwt_conf_add(struct jwt_shared *js, struct jwt_issuer *is)
{
	js->issuers = xreallocarray(js->issuers, js->nissuers + 1,
	    sizeof(*js->issuers));
	js->issuers[js->nissuers++] = is;
	if (is->src != NULL)
		log_msg(LL_INFO, "jwt_issuer", "issuer %s (%s): keys from %s",
		    is->name, is->issuer, is->src->jwks_url != NULL ?
		    is->src->jwks_url : is->src->discovery_url);
	else
		log_msg(LL_INFO, "jwt_issuer", "issuer %s (%s): %zu keys from "
		    "files", is->name, is->issuer, is->keys->nkeys);
}

/*
 * The built-in issuer of [login], after the [jwt] sections: its URL and
 * its name ("login", as metrics label it) are its own.
 */
static int
jwt_conf_login(const struct config *conf, struct jwt_shared *js, char *err,
    size_t errlen)
{
	struct jwt_issuer		*is;
	const struct jwt_issuer		*other;
	const struct conf_section	*sec = NULL;
	size_t				 i;

	if (jwt_login_issuer(conf, &is, err, errlen) != 0)
		return -1;
	if (is == NULL)
		return 0;
	other = jwt_conf_issuer(js, is->issuer);
	for (i = 0; other == NULL && i < js->nissuers; i++) {
		if (strcmp(js->issuers[i]->name, is->name) == 0)
			other = js->issuers[i];
	}
	if (other != NULL) {
		for (i = 0; sec == NULL && i < conf->nsections; i++) {
			if (strcmp(conf->sections[i].type, "login") == 0)
				sec = &conf->sections[i];
		}
		conf_error(conf, sec, NULL, err, errlen, "the JWT source's "
		    "issuer \"%s\" (%s) clashes with [jwt \"%s\"]", is->name,
		    is->issuer, other->name);
		jwt_conf_issuer_free(is);
		return -1;
	}
	jwt_conf_add(js, is);
	return 0;
}

int
jwt_conf_load(const struct config *conf, void **shared, char *err,
    size_t errlen)
{
	struct jwt_shared	*js;
	struct jwt_issuer	*is;
	const struct jwt_issuer	*other;
	size_t			 i;

	*shared = NULL;
	js = xcalloc(1, sizeof(*js));
	for (i = 0; i < conf->nsections; i++) {
		if (strcmp(conf->sections[i].type, "jwt") != 0)
			continue;
		if (js->nissuers == JWT_MAX_ISSUERS) {
			conf_error(conf, &conf->sections[i], NULL, err, errlen,
			    "more than %d issuers", JWT_MAX_ISSUERS);
			goto fail;
		}
		if ((is = jwt_conf_issuer_load(conf, &conf->sections[i], err,
		    errlen)) == NULL)
			goto fail;
		if ((other = jwt_conf_issuer(js, is->issuer)) != NULL) {
			conf_error(conf, &conf->sections[i],
			    conf_get(&conf->sections[i], "issuer"), err,
			    errlen, "issuer also used by [jwt \"%s\"]",
			    other->name);
			jwt_conf_issuer_free(is);
			goto fail;
		}
		jwt_conf_add(js, is);
	}
	if (jwt_conf_login(conf, js, err, errlen) != 0)
		goto fail;
	if (js->nissuers == 0) {
		snprintf(err, errlen, "%s: the chain names \"jwt\" but there "
		    "is no [jwt \"NAME\"] section", conf->path);
		goto fail;
	}
	*shared = js;
	return 0;
fail:
	jwt_conf_unload(js);
	return -1;
}

