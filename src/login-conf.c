/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The [login] section and its keys.  The keys are read through the core's
 * option table (conf_read_section()); the checks that tie the section to
 * the rest of the file ([ldap "NAME"], [tokendb], [server] listen) and the
 * key files come after it, so that every mistake is an error with its
 * line at load (and at -n), never at the first login.  Each key gets here
 * what both its signer (login-sign.c) and its verifiers need: the
 * algorithm its type implies, its RFC 7638 thumbprint as kid, and its
 * public JWK for the JWKS document.  The result is immutable; a reload
 * loads a new one.
 */

#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tokenreviewd.h"
#include "login.h"

static conf_check_cb	login_conf_check_listen;
static conf_check_cb	login_conf_check_issuer;
static conf_check_cb	login_conf_check_rate;
static conf_check_cb	login_conf_check_burst;

static const char *const login_conf_sessions[] = { "auto", "yes", "no",
    NULL };

#define F(f)	offsetof(struct login_conf, f)
#define DAY	(24LL * 3600 * 1000)
static const struct conf_option login_conf_options[] = {
	{ "listen", CONF_LIST, F(listen), F(nlisten), 0, 0, NULL,
	  CONF_REQUIRED, NULL, login_conf_check_listen },
	{ "issuer", CONF_STRING, F(issuer), 0, 0, 0, NULL, CONF_REQUIRED,
	  NULL, login_conf_check_issuer },
	{ "audience", CONF_STRING, F(audience), 0, 0, 0, "kubernetes", 0,
	  NULL, NULL },
	{ "ldap", CONF_STRING, F(ldap), 0, 0, 0, NULL, CONF_REQUIRED, NULL,
	  NULL },
	{ "signing_key", CONF_PATH, F(signing_key), 0, 0, 0, NULL,
	  CONF_REQUIRED, NULL, NULL },
	{ "previous_keys", CONF_LIST, F(previous_keys), F(nprevious), 0, 0,
	  NULL, CONF_EMPTY_OK, NULL, NULL },
	{ "token_ttl", CONF_DURATION, F(token_ttl), 0, 60 * 1000, 7 * DAY,
	  "8h", 0, NULL, NULL },
	{ "recheck", CONF_BOOL, F(recheck), 0, 0, 0, "yes", 0, NULL, NULL },
	{ "sessions", CONF_CHOICE, F(sessions), 0, 0, 0, "auto", 0,
	  login_conf_sessions, NULL },
	{ "failure_rate", CONF_RAW, 0, 0, 0, 0, "0.1", 0, NULL,
	  login_conf_check_rate },
	{ "failure_burst", CONF_RAW, 0, 0, 0, 0, "10", 0, NULL,
	  login_conf_check_burst },
	{ "failure_delay", CONF_DURATION, F(failure_delay), 0, 0, 60 * 1000,
	  "1s", 0, NULL, NULL },
	{ "max_connections", CONF_INT, F(max_connections), 0, 1, 1000000,
	  "256", 0, NULL, NULL },
};
#undef DAY
#undef F

/* What the reads after the table need to report errors. */
struct login_conf_ctx {
	const struct config	*conf;
	struct conf_section	*sec;
	struct login_conf	*lc;
	char			*err;
	size_t			 errlen;
};

/*
 * The addresses, and none that [server] listens on too: with
 * SO_REUSEPORT the two listeners would share the port and split its
 * connections between them.  Port 0 (any free port) never clashes.
 */
static int
login_conf_check_listen(void *obj, const struct config *conf,
    const struct conf_section *sec, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct login_conf	*lc = obj;
	const char		*a, *p;
	size_t			 i, j;

	if (conf_check_addresses(conf, sec, kv, lc->listen, lc->nlisten, err,
	    errlen) != 0)
		return -1;
	for (i = 0; i < lc->nlisten; i++) {
		a = lc->listen[i];
		if ((p = strrchr(a, ':')) != NULL && strcmp(p, ":0") == 0)
			continue;
		for (j = 0; j < conf->nlisten; j++) {
			if (strcmp(a, conf->listen[j]) == 0)
				break;
		}
		if (j < conf->nlisten) {
			conf_error(conf, sec, kv, err, errlen, "\"%s\" is a "
			    "[server] listen address too", a);
			return -1;
		}
	}
	return 0;
}

/* https://HOST[/PATH], no query or fragment; trailing slashes dropped. */
static int
login_conf_check_issuer(void *obj, const struct config *conf,
    const struct conf_section *sec, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct login_conf	*lc = obj;
	char			*s = lc->issuer;
	size_t			 n = strlen(s), i;

	while (n > 8 && s[n - 1] == '/')
		s[--n] = '\0';
	for (i = 0; i < n; i++) {
		if ((unsigned char)s[i] <= ' ' || s[i] == 0x7f)
			break;
	}
	if (strncmp(s, "https://", 8) != 0 || n == 8 || s[8] == '/' ||
	    i < n || strpbrk(s, "?#") != NULL) {
		conf_error(conf, sec, kv, err, errlen, "want an https:// URL "
		    "without query or fragment, as in "
		    "https://tokenreviewd.example.org");
		return -1;
	}
	return 0;
}

static int
login_conf_number(const struct config *conf, const struct conf_section *sec,
    const struct conf_kv *kv, double min, double *out, char *err,
    size_t errlen)
{
	char	*end;
	double	 v;

	v = strtod(kv->value, &end);
	if (end == kv->value || *end != '\0' || !isfinite(v) || v < min ||
	    v > 1e6) {
		conf_error(conf, sec, kv, err, errlen, "bad number \"%s\" "
		    "(%g to 1000000)", kv->value, min);
		return -1;
	}
	*out = v;
	return 0;
}

static int
login_conf_check_rate(void *obj, const struct config *conf,
    const struct conf_section *sec, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct login_conf	*lc = obj;

	return login_conf_number(conf, sec, kv, 0, &lc->failure_rate, err,
	    errlen);
}

static int
login_conf_check_burst(void *obj, const struct config *conf,
    const struct conf_section *sec, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct login_conf	*lc = obj;

	return login_conf_number(conf, sec, kv, 1, &lc->failure_burst, err,
	    errlen);
}

/* A big-endian key parameter left-padded to pad bytes (0: its size). */
static char *
login_conf_param(EVP_PKEY *pkey, const char *param, int pad)
{
	unsigned char	 buf[1024];
	BIGNUM		*bn = NULL;
	char		*s = NULL;
	int		 n;

	if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
		return NULL;
	if (pad <= 0)
		pad = BN_num_bytes(bn);
	if (pad <= (int)sizeof(buf) && (n = BN_bn2binpad(bn, buf, pad)) >= 0)
		s = base64url_encode(buf, (size_t)n);
	BN_free(bn);
	return s;
}

json_t *
login_public_jwk(EVP_PKEY *pkey, const char **alg, char *why, size_t len)
{
	char		 group[64], *a = NULL, *b = NULL;
	const char	*crv, *sig;
	json_t		*jwk = NULL;
	int		 size;

	if (EVP_PKEY_is_a(pkey, "RSA")) {
		sig = "RS256";
		a = login_conf_param(pkey, OSSL_PKEY_PARAM_RSA_N, 0);
		b = login_conf_param(pkey, OSSL_PKEY_PARAM_RSA_E, 0);
		if (a != NULL && b != NULL)
			jwk = json_pack("{s:s, s:s, s:s}", "kty", "RSA",
			    "n", a, "e", b);
	} else if (EVP_PKEY_is_a(pkey, "EC")) {
		if (!EVP_PKEY_get_utf8_string_param(pkey,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), NULL))
			group[0] = '\0';
		if (strcmp(group, "prime256v1") == 0)
			crv = "P-256", size = 32, sig = "ES256";
		else if (strcmp(group, "secp384r1") == 0)
			crv = "P-384", size = 48, sig = "ES384";
		else if (strcmp(group, "secp521r1") == 0)
			crv = "P-521", size = 66, sig = "ES512";
		else {
			snprintf(why, len, "an EC key on %s: want P-256, "
			    "P-384 or P-521", group[0] != '\0' ? group :
			    "an unnamed curve");
			return NULL;
		}
		a = login_conf_param(pkey, OSSL_PKEY_PARAM_EC_PUB_X, size);
		b = login_conf_param(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, size);
		if (a != NULL && b != NULL)
			jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC",
			    "crv", crv, "x", a, "y", b);
	} else {
		snprintf(why, len, "a %s key: want EC (P-256, P-384, P-521) "
		    "or RSA", EVP_PKEY_get0_type_name(pkey));
		return NULL;
	}
	free(a);
	free(b);
	if (jwk == NULL)
		snprintf(why, len, "cannot read the public key");
	else if (alg != NULL)
		*alg = sig;
	return jwk;
}

/*
 * The key's alg, kid and public JWK.  The kid is the RFC 7638 thumbprint:
 * SHA-256 of the required members, sorted, without white space.
 */
static int
login_conf_describe(struct login_key *k, char *why, size_t len)
{
	uint8_t	 digest[TR_SHA256_LEN];
	json_t	*jwk;
	char	*s;

	if (EVP_PKEY_is_a(k->pkey, "RSA") &&
	    EVP_PKEY_get_bits(k->pkey) < 2048) {
		snprintf(why, len, "an RSA key of %d bits: want 2048 or more",
		    EVP_PKEY_get_bits(k->pkey));
		return -1;
	}
	if ((jwk = login_public_jwk(k->pkey, &k->alg, why, len)) == NULL)
		return -1;
	s = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
	sha256(s, strlen(s), digest);
	free(s);
	k->kid = base64url_encode(digest, sizeof(digest));
	json_object_set_new(jwk, "kid", json_string(k->kid));
	json_object_set_new(jwk, "alg", json_string(k->alg));
	json_object_set_new(jwk, "use", json_string("sig"));
	k->jwk_json = json_dumps(jwk, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(jwk);
	return 0;
}

/* Never ask a terminal for the pass phrase of an encrypted key. */
static int
login_conf_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return -1;
}

/*
 * The first PEM key of path.  A file with a private key must be private
 * (read_file() checks the open descriptor); a public key may be read by
 * anyone, and is taken only when may_public (a previous key).
 */
static EVP_PKEY *
login_conf_read_pem(const char *path, int may_public, char *why, size_t len)
{
	EVP_PKEY	*pkey = NULL;
	BIO		*bio;
	char		*data;
	size_t		 n;
	int		 private_key;

	if ((data = read_file(path, LOGIN_MAX_KEYFILE, 0, &n, why,
	    len)) == NULL)
		return NULL;
	if ((private_key = strstr(data, "PRIVATE KEY-----") != NULL)) {
		OPENSSL_cleanse(data, n);
		free(data);
		if ((data = read_file(path, LOGIN_MAX_KEYFILE, 1, &n, why,
		    len)) == NULL)
			return NULL;
	}
	bio = BIO_new_mem_buf(data, (int)n);
	if (private_key)
		pkey = PEM_read_bio_PrivateKey(bio, NULL,
		    login_conf_no_passphrase, NULL);
	else if (may_public)
		pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	OPENSSL_cleanse(data, n);
	free(data);
	if (pkey == NULL)
		snprintf(why, len, "%s: no %s in it (an unencrypted PEM key)",
		    path, may_public ? "private or public key" :
		    "private key");
	return pkey;
}

/* One key file into the next of lc->keys; kv names it in messages. */
static int
login_conf_key(struct login_conf_ctx *c, const struct conf_kv *kv,
    const char *path, int may_public)
{
	struct login_key	*k;
	char			 why[TR_ERRLEN], what[256];
	size_t			 i;

	k = &c->lc->keys[c->lc->nkeys];
	if ((k->pkey = login_conf_read_pem(path, may_public, why,
	    sizeof(why))) == NULL)
		goto fail;
	c->lc->nkeys++;
	if (login_conf_describe(k, what, sizeof(what)) != 0) {
		snprintf(why, sizeof(why), "%s: %s", path, what);
		goto fail;
	}
	for (i = 0; i + 1 < c->lc->nkeys; i++) {
		if (strcmp(c->lc->keys[i].kid, k->kid) == 0) {
			snprintf(why, sizeof(why), "%s: the same key is "
			    "listed twice", path);
			goto fail;
		}
	}
	return 0;
fail:
	conf_error(c->conf, c->sec, kv, c->err, c->errlen, "%s", why);
	return -1;
}

static int
login_conf_keys(struct login_conf_ctx *c)
{
	struct login_conf	*lc = c->lc;
	const struct conf_kv	*kv;
	size_t			 i;

	if (lc->nprevious + 1 > LOGIN_MAX_KEYS) {
		conf_error(c->conf, c->sec, conf_get(c->sec, "previous_keys"),
		    c->err, c->errlen, "more than %d keys", LOGIN_MAX_KEYS - 1);
		return -1;
	}
	lc->keys = xcalloc(lc->nprevious + 1, sizeof(*lc->keys));
	kv = conf_get(c->sec, "signing_key");
	if (login_conf_key(c, kv, lc->signing_key, 0) != 0)
		return -1;
	kv = conf_get(c->sec, "previous_keys");
	for (i = 0; i < lc->nprevious; i++) {
		if (login_conf_key(c, kv, lc->previous_keys[i], 1) != 0)
			return -1;
	}
	return 0;
}

/* [ldap "<ldap>"] must exist; sessions need a [tokendb]. */
static int
login_conf_refs(struct login_conf_ctx *c)
{
	const struct conf_section	*s;
	struct login_conf		*lc = c->lc;
	size_t				 i;
	int				 tokendb = 0, ldap = 0;

	for (i = 0; i < c->conf->nsections; i++) {
		s = &c->conf->sections[i];
		if (strcmp(s->type, "tokendb") == 0)
			tokendb = 1;
		if (strcmp(s->type, "ldap") == 0 && strcmp(lc->ldap,
		    s->label != NULL ? s->label : "ldap") == 0)
			ldap = 1;
	}
	if (!ldap) {
		conf_error(c->conf, c->sec, conf_get(c->sec, "ldap"), c->err,
		    c->errlen, "there is no [ldap \"%s\"] section", lc->ldap);
		return -1;
	}
	for (i = 0; i < c->conf->nchain; i++) {
		if (strcmp(c->conf->chain[i], "ldap") == 0)
			break;
	}
	if (c->conf->nchain > 0 && i == c->conf->nchain) {
		conf_error(c->conf, c->sec, conf_get(c->sec, "ldap"), c->err,
		    c->errlen, "logins are checked by the LDAP source: add "
		    "ldap to [server] chain");
		return -1;
	}
	if (lc->sessions == LOGIN_SESSIONS_YES && !tokendb) {
		conf_error(c->conf, c->sec, conf_get(c->sec, "sessions"),
		    c->err, c->errlen, "sessions are kept in the token "
		    "database: add a [tokendb] section, or say auto or no");
		return -1;
	}
	if (lc->sessions == LOGIN_SESSIONS_AUTO)
		lc->sessions = tokendb ? LOGIN_SESSIONS_YES : LOGIN_SESSIONS_NO;
	return 0;
}

int
login_conf_load(const struct config *conf, struct login_conf **out,
    char *err, size_t errlen)
{
	struct login_conf_ctx	 c;
	struct conf_section	*sec;

	*out = NULL;
	if ((sec = config_find_section(conf, "login", NULL)) == NULL)
		return 0;
	memset(&c, 0, sizeof(c));
	c.conf = conf;
	c.sec = sec;
	c.err = err;
	c.errlen = errlen;
	c.lc = xcalloc(1, sizeof(*c.lc));
	c.lc->line = sec->line;
	if (conf_read_section(login_conf_options,
	    CONF_NOPTIONS(login_conf_options), c.lc, conf, sec, err,
	    errlen) != 0 || login_conf_refs(&c) != 0 ||
	    login_conf_keys(&c) != 0) {
		login_conf_free(c.lc);
		return -1;
	}
	*out = c.lc;
	return 0;
}

void
login_conf_free(struct login_conf *lc)
{
	size_t	i;

	if (lc == NULL)
		return;
	for (i = 0; i < lc->nkeys; i++) {
		EVP_PKEY_free(lc->keys[i].pkey);
		free(lc->keys[i].kid);
		free(lc->keys[i].jwk_json);
	}
	free(lc->keys);
	conf_table_free(login_conf_options,
	    CONF_NOPTIONS(login_conf_options), lc);
	free(lc);
}
