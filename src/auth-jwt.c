/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The JWT backend: tokens signed by OIDC identity providers and
 * service-account tokens of other Kubernetes clusters.  Each [jwt "NAME"]
 * section is one issuer.  A token is routed by the iss claim of its
 * unverified payload to the one issuer with exactly that URL; a token that
 * is not a JWT, or names an issuer we do not know, is not ours (AUTH_DENY)
 * and costs no signature check.  For a known issuer the token is then
 * checked the way kube-apiserver's OIDC and service-account authenticators
 * check it: algorithm allow-list and key type (libcjose has no policy of
 * its own), signature, iss, aud, exp, nbf, iat and required claims; only
 * after the signature verified are the claims read.  A recognised token
 * that fails a check is an error with a short reason (NO+err), never a
 * silent "no".  Claims are then mapped to a user: username claim, prefix
 * or template, groups, uid and extra for OIDC, and the fixed
 * system:serviceaccount identity for service-account issuers.
 *
 * Keys come from a JWKS file or PEM public key files read at load; the
 * issuer's key set is immutable and reference-counted.
 */

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <cjose/cjose.h>

#include "tokenreviewd.h"

#define JWT_MAX_ISSUERS		64
#define JWT_MAX_KEYFILE		(1024 * 1024)
#define JWT_MAX_KEYS		256
#define JWT_DEFAULT_MAX_TOKEN	(8 * 1024)
#define JWT_DEFAULT_SKEW	60000		/* ms */
#define JWT_REASONLEN		160
#define JWT_CRED_ID		"authentication.kubernetes.io/credential-id"
#define JWT_SA_PREFIX		"system:serviceaccount:"

enum jwt_type {
	JWT_OIDC,
	JWT_SERVICEACCOUNT,
};

enum jwt_kty {
	KTY_RSA,
	KTY_EC,
};

/* Every algorithm an issuer may allow; never "none" nor HMAC. */
static const struct jwt_alg {
	const char	*name;
	enum jwt_kty	 kty;
	const char	*crv;		/* EC: the curve the key must be on */
} jwt_algs[] = {
	{ "RS256", KTY_RSA, NULL },
	{ "RS384", KTY_RSA, NULL },
	{ "RS512", KTY_RSA, NULL },
	{ "PS256", KTY_RSA, NULL },
	{ "PS384", KTY_RSA, NULL },
	{ "PS512", KTY_RSA, NULL },
	{ "ES256", KTY_EC, "P-256" },
	{ "ES384", KTY_EC, "P-384" },
	{ "ES512", KTY_EC, "P-521" },
};
#define JWT_NALGS	(sizeof(jwt_algs) / sizeof(jwt_algs[0]))
#define JWT_DEFAULT_ALGS ((1u << 0) | (1u << 6))	/* RS256 ES256 */

struct jwt_key {
	cjose_jwk_t	*jwk;
	char		*kid;		/* NULL when the key has none */
	enum jwt_kty	 kty;
	char		*crv;		/* EC only */
	char		*alg;		/* the JWK's own alg, or NULL */
};

/* A key set: immutable once built, shared by reference. */
struct jwt_keyset {
	int		 refs;		/* atomic */
	struct jwt_key	*keys;
	size_t		 nkeys;
};

struct jwt_extra {
	char		*key;
	char		*claim;
};

/* One [jwt "NAME"] section, immutable after load. */
struct jwt_issuer {
	char			*name;
	enum jwt_type		 type;
	char			*issuer;
	char			**audiences;
	size_t			 naudiences;
	int			 audience_aware;
	unsigned int		 algs;		/* bits of jwt_algs */
	long long		 skew;		/* ms */
	size_t			 max_token;
	char			*username_claim;
	char			*username_prefix;
	char			*username_template;
	char			*groups_claim;
	char			*groups_prefix;
	char			*uid_claim;
	char			**required;	/* "claim=value" */
	size_t			 nrequired;
	struct jwt_extra	*extra;
	size_t			 nextra;
	char			**key_files;	/* watched for reloads */
	size_t			 nkey_files;
	struct jwt_keyset	*keys;

	/* counters, written with relaxed atomics by any worker */
	uint64_t		 n_ok;
	uint64_t		 n_invalid;
	uint64_t		 n_rejected;	/* valid, other audience */
};

struct jwt_shared {
	struct jwt_issuer	**issuers;
	size_t			 nissuers;
	uint64_t		 n_foreign;	/* JWTs of unknown issuers */
};

/* A growing NULL-terminated list of strings. */
struct strlist {
	char	**v;
	size_t	  n;
	size_t	  cap;
};

static void
strlist_add(struct strlist *l, char *s)
{
	if (l->n + 2 > l->cap) {
		l->cap = l->cap == 0 ? 8 : 2 * l->cap;
		l->v = xreallocarray(l->v, l->cap, sizeof(*l->v));
	}
	l->v[l->n++] = s;
	l->v[l->n] = NULL;
}

static void
strlist_clear(struct strlist *l)
{
	size_t	i;

	for (i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---------------------------------------------------------------- base64url */

static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Whether s is unpadded, canonical base64url: the unused low bits of the
 * last character must be zero, so that one token has one spelling (and a
 * cached answer cannot be reached by a variant).
 */
static int
b64url_valid(const char *s, size_t n)
{
	size_t	i;
	int	v = 0;

	if (n % 4 == 1)
		return 0;
	for (i = 0; i < n; i++) {
		if ((v = b64url_value((unsigned char)s[i])) < 0)
			return 0;
	}
	return n % 4 == 0 || (v & (n % 4 == 2 ? 0xf : 0x3)) == 0;
}

/*
 * Decode unpadded base64url (what JWS uses) into a new NUL-terminated
 * buffer.  NULL if s holds anything else.
 */
static unsigned char *
b64url_decode(const char *s, size_t n, size_t *outlen)
{
	unsigned char	*out;
	unsigned int	 acc = 0;
	size_t		 i, o = 0;
	int		 bits = 0, v;

	if (!b64url_valid(s, n))
		return NULL;
	out = xmalloc(n * 3 / 4 + 1);
	for (i = 0; i < n; i++) {
		if ((v = b64url_value((unsigned char)s[i])) < 0) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned int)v;
		if ((bits += 6) >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

static char *
b64url_encode(const unsigned char *in, size_t n)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	char			*out;
	unsigned int		 acc = 0;
	size_t			 i, o = 0;
	int			 bits = 0;

	out = xmalloc(n * 4 / 3 + 4);
	for (i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			bits -= 6;
			out[o++] = tab[(acc >> bits) & 63];
		}
	}
	if (bits > 0)
		out[o++] = tab[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	return out;
}

/* ---------------------------------------------------------------- keys */

static void
keyset_unref(struct jwt_keyset *ks)
{
	size_t	i;

	if (ks == NULL || __atomic_sub_fetch(&ks->refs, 1,
	    __ATOMIC_ACQ_REL) != 0)
		return;
	for (i = 0; i < ks->nkeys; i++) {
		cjose_jwk_release(ks->keys[i].jwk);
		free(ks->keys[i].kid);
		free(ks->keys[i].crv);
		free(ks->keys[i].alg);
	}
	free(ks->keys);
	free(ks);
}

static const char *
json_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/*
 * Add one JWK (a JSON object) to a key set.  Keys that cannot serve to
 * verify a signature we accept are skipped, not refused: a JWKS may hold
 * encryption keys, symmetric keys or key types newer than this build.
 * Returns 1 if added, 0 if skipped (why in skip), -1 when the set is full.
 */
static int
keyset_add_jwk(struct jwt_keyset *ks, json_t *jwk, const char **skip)
{
	struct jwt_key	*k;
	const char	*kty, *use;
	cjose_jwk_t	*cj;
	cjose_err	 cerr;

	kty = json_str(jwk, "kty");
	use = json_str(jwk, "use");
	if (kty == NULL || (strcmp(kty, "RSA") != 0 && strcmp(kty, "EC") != 0)) {
		*skip = "key type not usable for signatures";
		return 0;
	}
	if (use != NULL && strcmp(use, "sig") != 0) {
		*skip = "key use is not \"sig\"";
		return 0;
	}
	if (ks->nkeys == JWT_MAX_KEYS)
		return -1;
	if ((cj = cjose_jwk_import_json((cjose_header_t *)jwk, &cerr)) ==
	    NULL) {
		*skip = "key does not import";
		return 0;
	}
	ks->keys = xreallocarray(ks->keys, ks->nkeys + 1, sizeof(*ks->keys));
	k = &ks->keys[ks->nkeys++];
	memset(k, 0, sizeof(*k));
	k->jwk = cj;
	k->kty = strcmp(kty, "RSA") == 0 ? KTY_RSA : KTY_EC;
	if (json_str(jwk, "kid") != NULL)
		k->kid = xstrdup(json_str(jwk, "kid"));
	if (k->kty == KTY_EC && json_str(jwk, "crv") != NULL)
		k->crv = xstrdup(json_str(jwk, "crv"));
	if (json_str(jwk, "alg") != NULL)
		k->alg = xstrdup(json_str(jwk, "alg"));
	return 1;
}

/* Add the keys of a JWKS document; -1 with err set if it is not one. */
static int
keyset_add_jwks(struct jwt_keyset *ks, const char *data, size_t len,
    char *err, size_t errlen)
{
	json_t		*doc, *keys, *k;
	json_error_t	 jerr;
	const char	*skip;
	size_t		 i;
	int		 r = -1;

	if ((doc = json_loadb(data, len, JSON_REJECT_DUPLICATES, &jerr)) ==
	    NULL) {
		snprintf(err, errlen, "not JSON: %s (line %d)", jerr.text,
		    jerr.line);
		return -1;
	}
	if (!json_is_array(keys = json_object_get(doc, "keys"))) {
		snprintf(err, errlen, "not a JWKS: no \"keys\" list");
		goto out;
	}
	json_array_foreach(keys, i, k) {
		if (!json_is_object(k))
			continue;
		skip = NULL;
		if (keyset_add_jwk(ks, k, &skip) < 0) {
			snprintf(err, errlen, "more than %d keys",
			    JWT_MAX_KEYS);
			goto out;
		}
		if (skip != NULL)
			log_msg(LL_VERBOSE, "jwt_key_skipped", "JWKS key %zu "
			    "(kid %s) skipped: %s", i, json_str(k, "kid") ?
			    json_str(k, "kid") : "none", skip);
	}
	r = 0;
out:
	json_decref(doc);
	return r;
}

static char *
bn_b64url(const BIGNUM *bn, int pad)
{
	unsigned char	buf[1024];
	int		n;

	if (pad <= 0)
		pad = BN_num_bytes(bn);
	if (pad > (int)sizeof(buf) || (n = BN_bn2binpad(bn, buf, pad)) < 0)
		return NULL;
	return b64url_encode(buf, (size_t)n);
}

static char *
pkey_param_b64(EVP_PKEY *pkey, const char *param, int pad)
{
	BIGNUM	*bn = NULL;
	char	*s;

	if (!EVP_PKEY_get_bn_param(pkey, param, &bn))
		return NULL;
	s = bn_b64url(bn, pad);
	BN_free(bn);
	return s;
}

/* The JWK of an EC public key on P-256, P-384 or P-521, or NULL. */
static json_t *
pkey_ec_jwk(EVP_PKEY *pkey)
{
	char		 group[64], *x, *y;
	const char	*crv;
	json_t		*jwk = NULL;
	int		 size;

	if (!EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME,
	    group, sizeof(group), NULL))
		return NULL;
	if (strcmp(group, "prime256v1") == 0)
		crv = "P-256", size = 32;
	else if (strcmp(group, "secp384r1") == 0)
		crv = "P-384", size = 48;
	else if (strcmp(group, "secp521r1") == 0)
		crv = "P-521", size = 66;
	else
		return NULL;
	x = pkey_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_X, size);
	y = pkey_param_b64(pkey, OSSL_PKEY_PARAM_EC_PUB_Y, size);
	if (x != NULL && y != NULL)
		jwk = json_pack("{s:s, s:s, s:s, s:s}", "kty", "EC",
		    "crv", crv, "x", x, "y", y);
	free(x);
	free(y);
	return jwk;
}

static json_t *
pkey_rsa_jwk(EVP_PKEY *pkey)
{
	char	*n, *e;
	json_t	*jwk = NULL;

	n = pkey_param_b64(pkey, OSSL_PKEY_PARAM_RSA_N, 0);
	e = pkey_param_b64(pkey, OSSL_PKEY_PARAM_RSA_E, 0);
	if (n != NULL && e != NULL)
		jwk = json_pack("{s:s, s:s, s:s}", "kty", "RSA", "n", n,
		    "e", e);
	free(n);
	free(e);
	return jwk;
}

/*
 * A PEM public key as a JWK whose kid is base64url(SHA-256(DER
 * SubjectPublicKeyInfo)), the kid kube-apiserver gives its own keys.
 */
static json_t *
pkey_jwk(EVP_PKEY *pkey)
{
	unsigned char	*der = NULL, digest[TR_SHA256_LEN];
	json_t		*jwk;
	char		*kid;
	int		 len;

	if (EVP_PKEY_is_a(pkey, "RSA"))
		jwk = pkey_rsa_jwk(pkey);
	else if (EVP_PKEY_is_a(pkey, "EC"))
		jwk = pkey_ec_jwk(pkey);
	else
		return NULL;
	if (jwk == NULL || (len = i2d_PUBKEY(pkey, &der)) <= 0) {
		json_decref(jwk);
		return NULL;
	}
	sha256(der, (size_t)len, digest);
	OPENSSL_free(der);
	kid = b64url_encode(digest, sizeof(digest));
	json_object_set_new(jwk, "kid", json_string(kid));
	free(kid);
	return jwk;
}

/* Add every PEM public key of a file; -1 with err set if none is usable. */
static int
keyset_add_pem(struct jwt_keyset *ks, const char *data, size_t len,
    char *err, size_t errlen)
{
	EVP_PKEY	*pkey;
	json_t		*jwk;
	BIO		*bio;
	const char	*skip;
	int		 n = 0, r;

	bio = BIO_new_mem_buf(data, (int)len);
	while ((pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) != NULL) {
		jwk = pkey_jwk(pkey);
		EVP_PKEY_free(pkey);
		if (jwk == NULL) {
			snprintf(err, errlen, "key %d: not an RSA key or an "
			    "EC key on P-256, P-384 or P-521", n + 1);
			goto fail;
		}
		skip = NULL;
		r = keyset_add_jwk(ks, jwk, &skip);
		json_decref(jwk);
		if (r != 1) {
			snprintf(err, errlen, "key %d: %s", n + 1,
			    r < 0 ? "too many keys" : skip);
			goto fail;
		}
		n++;
	}
	BIO_free(bio);
	if (n == 0) {
		snprintf(err, errlen, "no PEM public key (\"BEGIN PUBLIC "
		    "KEY\") in the file");
		return -1;
	}
	return 0;
fail:
	BIO_free(bio);
	return -1;
}

/* ---------------------------------------------------------------- config */

static int
conf_bool(const char *s, int *out)
{
	if (strcmp(s, "yes") == 0 || strcmp(s, "true") == 0 ||
	    strcmp(s, "on") == 0 || strcmp(s, "1") == 0)
		*out = 1;
	else if (strcmp(s, "no") == 0 || strcmp(s, "false") == 0 ||
	    strcmp(s, "off") == 0 || strcmp(s, "0") == 0)
		*out = 0;
	else
		return -1;
	return 0;
}

static void
issuer_free(struct jwt_issuer *is)
{
	size_t	i;

	if (is == NULL)
		return;
	free(is->name);
	free(is->issuer);
	free_words(is->audiences);
	free(is->username_claim);
	free(is->username_prefix);
	free(is->username_template);
	free(is->groups_claim);
	free(is->groups_prefix);
	free(is->uid_claim);
	free_words(is->required);
	for (i = 0; i < is->nextra; i++) {
		free(is->extra[i].key);
		free(is->extra[i].claim);
	}
	free(is->extra);
	free_words(is->key_files);
	keyset_unref(is->keys);
	free(is);
}

/* What the parse of one section needs to report errors. */
struct jwt_conf {
	const struct config	*conf;
	struct conf_section	*sec;
	struct jwt_issuer	*is;
	char			*err;
	size_t			 errlen;
};

static char *
conf_string(struct jwt_conf *jc, const char *key, const char *def)
{
	struct conf_kv	*kv;

	if ((kv = conf_get(jc->sec, key)) != NULL)
		return xstrdup(kv->value);
	return def != NULL ? xstrdup(def) : NULL;
}

static int
conf_algorithms(struct jwt_conf *jc, struct conf_kv *kv)
{
	char	**w;
	size_t	  n, i, a;
	int	  r = -1;

	w = split_words(kv->value, &n);
	jc->is->algs = 0;
	for (i = 0; i < n; i++) {
		for (a = 0; a < JWT_NALGS; a++) {
			if (strcmp(w[i], jwt_algs[a].name) == 0)
				break;
		}
		if (a == JWT_NALGS) {
			conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
			    "\"%s\" is not allowed (RS256 RS384 RS512 PS256 "
			    "PS384 PS512 ES256 ES384 ES512)", w[i]);
			goto out;
		}
		jc->is->algs |= 1u << a;
	}
	if (jc->is->algs == 0) {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
		    "no algorithm listed");
		goto out;
	}
	r = 0;
out:
	free_words(w);
	return r;
}

/* "claim=value" words, both sides non-empty. */
static int
conf_required(struct jwt_conf *jc, struct conf_kv *kv)
{
	char	*eq;
	size_t	 i;

	jc->is->required = split_words(kv->value, &jc->is->nrequired);
	for (i = 0; i < jc->is->nrequired; i++) {
		eq = strchr(jc->is->required[i], '=');
		if (eq == NULL || eq == jc->is->required[i]) {
			conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
			    "\"%s\": want claim=value", jc->is->required[i]);
			return -1;
		}
	}
	return 0;
}

/*
 * extra.KEY = claim.  Keys follow kube-apiserver's rules for extra: a
 * lower-case, domain-prefixed path, not under kubernetes.io or k8s.io.
 */
static int
conf_extra(struct jwt_conf *jc, struct conf_kv *kv)
{
	const char	*key = kv->key + strlen("extra."), *slash, *p;
	size_t		 dlen;

	slash = strchr(key, '/');
	for (p = key; *p != '\0'; p++) {
		if (isupper((unsigned char)*p) || isspace((unsigned char)*p))
			break;
	}
	if (slash == NULL || slash == key || slash[1] == '\0' || *p != '\0') {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen, "the "
		    "extra key must be a lower-case, domain-prefixed path "
		    "such as example.org/tenant");
		return -1;
	}
	dlen = (size_t)(slash - key);
	if ((dlen >= 14 && memcmp(slash - 14, "kubernetes.io", 13) == 0 &&
	    (dlen == 13 || slash[-14] == '.')) || (dlen == 13 &&
	    memcmp(key, "kubernetes.io", 13) == 0) || (dlen == 7 &&
	    memcmp(key, "k8s.io", 6) == 0) || (dlen > 7 &&
	    memcmp(slash - 7, ".k8s.io", 7) == 0)) {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
		    "extra keys under kubernetes.io and k8s.io are reserved");
		return -1;
	}
	jc->is->extra = xreallocarray(jc->is->extra, jc->is->nextra + 1,
	    sizeof(*jc->is->extra));
	jc->is->extra[jc->is->nextra].key = xstrdup(key);
	jc->is->extra[jc->is->nextra++].claim = xstrdup(kv->value);
	return 0;
}

/* "{claim}" placeholders must be closed and name a claim. */
static int
conf_template(struct jwt_conf *jc, struct conf_kv *kv)
{
	const char	*p = kv->value, *close;

	for (; (p = strchr(p, '{')) != NULL; p = close + 1) {
		close = strchr(p, '}');
		if (close == NULL || close == p + 1 ||
		    memchr(p + 1, '{', (size_t)(close - p - 1)) != NULL) {
			conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
			    "want text with {claim} placeholders, as in "
			    "oidc:{email}");
			return -1;
		}
	}
	if (strchr(kv->value, '{') == NULL) {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
		    "no {claim} placeholder");
		return -1;
	}
	jc->is->username_template = xstrdup(kv->value);
	return 0;
}

/* Read one key file into the issuer's key set. */
static int
conf_key_file(struct jwt_conf *jc, struct conf_kv *kv, const char *path,
    int jwks)
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
	if (jwks)
		r = keyset_add_jwks(jc->is->keys, data, len, why, sizeof(why));
	else
		r = keyset_add_pem(jc->is->keys, data, len, why, sizeof(why));
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
conf_keys(struct jwt_conf *jc)
{
	static const char *const keys[] = { "jwks_file", "public_key_file" };
	struct conf_kv	*kv;
	char		**w;
	size_t		  n, i, k;
	int		  r = 0;

	jc->is->keys = xcalloc(1, sizeof(*jc->is->keys));
	jc->is->keys->refs = 1;
	for (k = 0; k < 2 && r == 0; k++) {
		if ((kv = conf_get(jc->sec, keys[k])) == NULL)
			continue;
		w = split_words(kv->value, &n);
		for (i = 0; i < n && r == 0; i++)
			r = conf_key_file(jc, kv, w[i], k == 0);
		free_words(w);
	}
	if (r != 0)
		return -1;
	if (jc->is->nkey_files == 0) {
		conf_error(jc->conf, jc->sec, NULL, jc->err, jc->errlen,
		    "jwks_file or public_key_file is required");
		return -1;
	}
	if (jc->is->keys->nkeys == 0) {
		conf_error(jc->conf, jc->sec, conf_get(jc->sec, "jwks_file"),
		    jc->err, jc->errlen, "no usable signing key");
		return -1;
	}
	return 0;
}

/* type, issuer, audiences: what every issuer needs. */
static int
conf_identity(struct jwt_conf *jc)
{
	struct jwt_issuer	*is = jc->is;
	struct conf_kv		*kv;

	if ((kv = conf_get(jc->sec, "type")) != NULL) {
		if (strcmp(kv->value, "oidc") == 0)
			is->type = JWT_OIDC;
		else if (strcmp(kv->value, "serviceaccount") == 0)
			is->type = JWT_SERVICEACCOUNT;
		else {
			conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
			    "want oidc or serviceaccount");
			return -1;
		}
	}
	if ((kv = conf_get(jc->sec, "issuer")) == NULL || *kv->value == '\0') {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
		    "issuer is required");
		return -1;
	}
	is->issuer = xstrdup(kv->value);
	if ((kv = conf_get(jc->sec, "audiences")) != NULL)
		is->audiences = split_words(kv->value, &is->naudiences);
	if (is->naudiences == 0) {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
		    "audiences is required");
		return -1;
	}
	if ((kv = conf_get(jc->sec, "audience_aware")) != NULL &&
	    (conf_bool(kv->value, &is->audience_aware) != 0 ||
	    (is->audience_aware && is->type != JWT_SERVICEACCOUNT))) {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
		    is->type != JWT_SERVICEACCOUNT ? "only for type = "
		    "serviceaccount" : "want yes or no");
		return -1;
	}
	return 0;
}

static int
conf_limits(struct jwt_conf *jc)
{
	struct conf_kv	*kv;

	jc->is->algs = JWT_DEFAULT_ALGS;
	if ((kv = conf_get(jc->sec, "algorithms")) != NULL &&
	    conf_algorithms(jc, kv) != 0)
		return -1;
	jc->is->skew = JWT_DEFAULT_SKEW;
	if ((kv = conf_get(jc->sec, "clock_skew")) != NULL &&
	    (parse_duration(kv->value, &jc->is->skew) != 0 ||
	    jc->is->skew > 3600 * 1000)) {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
		    "want a duration of at most 1h");
		return -1;
	}
	jc->is->max_token = JWT_DEFAULT_MAX_TOKEN;
	if ((kv = conf_get(jc->sec, "max_token_size")) != NULL &&
	    (parse_size(kv->value, &jc->is->max_token) != 0 ||
	    jc->is->max_token < 64 || jc->is->max_token > TR_MAX_TOKEN)) {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
		    "want a size from 64 to %d", TR_MAX_TOKEN);
		return -1;
	}
	if ((kv = conf_get(jc->sec, "required_claims")) != NULL &&
	    conf_required(jc, kv) != 0)
		return -1;
	return 0;
}

/* Claim mappings; a service-account issuer has fixed ones. */
static int
conf_mappings(struct jwt_conf *jc)
{
	static const char *const oidc_only[] = { "username_claim",
	    "username_prefix", "username_template", "groups_claim",
	    "groups_prefix", "uid_claim" };
	struct jwt_issuer	*is = jc->is;
	struct conf_kv		*kv;
	size_t			 i;

	for (i = 0; is->type == JWT_SERVICEACCOUNT && i < 6; i++) {
		if ((kv = conf_get(jc->sec, oidc_only[i])) != NULL) {
			conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
			    "not used with type = serviceaccount");
			return -1;
		}
	}
	is->username_claim = conf_string(jc, "username_claim", "sub");
	if ((kv = conf_get(jc->sec, "username_prefix")) != NULL)
		is->username_prefix = xstrdup(strcmp(kv->value, "-") == 0 ?
		    "" : kv->value);
	else if (strcmp(is->username_claim, "email") != 0)
		xasprintf(&is->username_prefix, "%s#", is->issuer);
	else
		is->username_prefix = xstrdup("");
	if ((kv = conf_get(jc->sec, "username_template")) != NULL &&
	    conf_template(jc, kv) != 0)
		return -1;
	is->groups_claim = conf_string(jc, "groups_claim", NULL);
	is->groups_prefix = conf_string(jc, "groups_prefix", "");
	is->uid_claim = conf_string(jc, "uid_claim", NULL);
	for (i = 0; i < jc->sec->nkv; i++) {
		kv = &jc->sec->kv[i];
		if (strncmp(kv->key, "extra.", 6) != 0)
			continue;
		kv->used = 1;
		if (is->type == JWT_SERVICEACCOUNT) {
			conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
			    "not used with type = serviceaccount");
			return -1;
		}
		if (conf_extra(jc, kv) != 0)
			return -1;
	}
	return 0;
}

static struct jwt_issuer *
issuer_load(const struct config *conf, struct conf_section *sec, char *err,
    size_t errlen)
{
	struct jwt_conf	 jc;
	struct conf_kv	*kv;

	memset(&jc, 0, sizeof(jc));
	jc.conf = conf;
	jc.sec = sec;
	jc.err = err;
	jc.errlen = errlen;
	jc.is = xcalloc(1, sizeof(*jc.is));
	if (sec->label == NULL) {
		conf_error(conf, sec, NULL, err, errlen, "an issuer section "
		    "needs a name: [jwt \"NAME\"]");
		goto fail;
	}
	jc.is->name = xstrdup(sec->label);
	if (conf_identity(&jc) != 0 || conf_limits(&jc) != 0 ||
	    conf_mappings(&jc) != 0 || conf_keys(&jc) != 0)
		goto fail;
	if ((kv = conf_unused(sec)) != NULL) {
		conf_error(conf, sec, kv, err, errlen, "unknown key");
		goto fail;
	}
	return jc.is;
fail:
	issuer_free(jc.is);
	return NULL;
}

static void
jwt_unload(void *shared)
{
	struct jwt_shared	*js = shared;
	size_t			 i;

	if (js == NULL)
		return;
	for (i = 0; i < js->nissuers; i++)
		issuer_free(js->issuers[i]);
	free(js->issuers);
	free(js);
}

static int
jwt_load(const struct config *conf, void **shared, char *err, size_t errlen)
{
	struct jwt_shared	*js;
	struct jwt_issuer	*is;
	size_t			 i, j;

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
		if ((is = issuer_load(conf, &conf->sections[i], err,
		    errlen)) == NULL)
			goto fail;
		for (j = 0; j < js->nissuers; j++) {
			if (strcmp(js->issuers[j]->issuer, is->issuer) != 0)
				continue;
			conf_error(conf, &conf->sections[i],
			    conf_get(&conf->sections[i], "issuer"), err,
			    errlen, "issuer also used by [jwt \"%s\"]",
			    js->issuers[j]->name);
			issuer_free(is);
			goto fail;
		}
		js->issuers = xreallocarray(js->issuers, js->nissuers + 1,
		    sizeof(*js->issuers));
		js->issuers[js->nissuers++] = is;
		log_msg(LL_INFO, "jwt_issuer", "issuer %s (%s): %zu keys",
		    is->name, is->issuer, is->keys->nkeys);
	}
	if (js->nissuers == 0) {
		snprintf(err, errlen, "%s: the chain names \"jwt\" but there "
		    "is no [jwt \"NAME\"] section", conf->path);
		goto fail;
	}
	*shared = js;
	return 0;
fail:
	jwt_unload(js);
	return -1;
}

/* ---------------------------------------------------------------- tokens */

/*
 * A token split into its parts, with the header and the unverified
 * payload decoded.  The payload serves only to route the token; claims
 * are read from what the signature check returns.
 */
struct jwt_token {
	const char	*s;
	size_t		 len;
	json_t		*header;
	json_t		*unverified;
};

static json_t *
part_json(const char *s, size_t n)
{
	unsigned char	*raw;
	json_t		*j;
	size_t		 len;

	if ((raw = b64url_decode(s, n, &len)) == NULL)
		return NULL;
	j = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES, NULL);
	free(raw);
	if (j != NULL && !json_is_object(j)) {
		json_decref(j);
		j = NULL;
	}
	return j;
}

/*
 * Three base64url parts (the signature may be empty: alg none must reach
 * the allow-list to be refused with a reason), header and payload JSON
 * objects.  0 if it is such a token, -1 if it is not a JWT.
 */
static int
token_split(struct jwt_token *t, const char *s, size_t len)
{
	const char	*d1, *d2;

	memset(t, 0, sizeof(*t));
	if ((d1 = memchr(s, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - s))) == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - s)) != NULL ||
	    d1 == s || d2 == d1 + 1)
		return -1;
	/*
	 * libcjose asserts (aborts) on a base64url part whose length is 1
	 * mod 4: the signature is checked here, the others by part_json().
	 */
	if (!b64url_valid(d2 + 1, len - (size_t)(d2 + 1 - s)))
		return -1;
	t->s = s;
	t->len = len;
	if ((t->header = part_json(s, (size_t)(d1 - s))) == NULL ||
	    (t->unverified = part_json(d1 + 1, (size_t)(d2 - d1 - 1))) ==
	    NULL) {
		json_decref(t->header);
		t->header = NULL;
		return -1;
	}
	return 0;
}

static void
token_clear(struct jwt_token *t)
{
	json_decref(t->header);
	json_decref(t->unverified);
	memset(t, 0, sizeof(*t));
}

static const struct jwt_issuer *
route(const struct jwt_shared *js, const char *iss)
{
	size_t	i;

	for (i = 0; iss != NULL && i < js->nissuers; i++) {
		if (strcmp(js->issuers[i]->issuer, iss) == 0)
			return js->issuers[i];
	}
	return NULL;
}

/* The allowed algorithm of the header, or NULL with why set. */
static const struct jwt_alg *
check_header(const struct jwt_issuer *is, json_t *header, char *why,
    size_t len)
{
	const char	*alg;
	size_t		 a;

	if ((alg = json_str(header, "alg")) == NULL) {
		snprintf(why, len, "no alg in the token header");
		return NULL;
	}
	if (json_object_get(header, "crit") != NULL) {
		snprintf(why, len, "unsupported crit header");
		return NULL;
	}
	for (a = 0; a < JWT_NALGS; a++) {
		if (strcmp(alg, jwt_algs[a].name) == 0 &&
		    (is->algs & (1u << a)) != 0)
			return &jwt_algs[a];
	}
	snprintf(why, len, "algorithm %.20s not allowed", alg);
	return NULL;
}

/* The key fits the algorithm: type, curve, and the JWK's own alg. */
static int
key_fits(const struct jwt_key *k, const struct jwt_alg *alg)
{
	if (k->kty != alg->kty)
		return 0;
	if (alg->crv != NULL && (k->crv == NULL || strcmp(k->crv, alg->crv)))
		return 0;
	return k->alg == NULL || strcmp(k->alg, alg->name) == 0;
}

/*
 * Check the signature with the keys named by the kid (all keys without
 * one) that fit the algorithm.  Returns the verified claims, or NULL with
 * why set; *unknown_kid tells that no key had the token's kid.
 */
static json_t *
verify(const struct jwt_keyset *ks, const struct jwt_token *t,
    const struct jwt_alg *alg, int *unknown_kid, char *why, size_t len)
{
	const char	*kid = json_str(t->header, "kid");
	cjose_jws_t	*jws;
	cjose_err	 cerr;
	uint8_t		*plain;
	size_t		 i, plen, named = 0, tried = 0;
	json_t		*claims = NULL;

	*unknown_kid = 0;
	if ((jws = cjose_jws_import(t->s, t->len, &cerr)) == NULL) {
		snprintf(why, len, "malformed signed token");
		return NULL;
	}
	for (i = 0; i < ks->nkeys && claims == NULL; i++) {
		if (kid != NULL && (ks->keys[i].kid == NULL ||
		    strcmp(kid, ks->keys[i].kid) != 0))
			continue;
		named++;
		if (!key_fits(&ks->keys[i], alg))
			continue;
		tried++;
		if (!cjose_jws_verify(jws, ks->keys[i].jwk, &cerr) ||
		    !cjose_jws_get_plaintext(jws, &plain, &plen, &cerr))
			continue;
		claims = json_loadb((const char *)plain, plen,
		    JSON_REJECT_DUPLICATES, NULL);
		if (claims == NULL)
			snprintf(why, len, "claims are not JSON");
	}
	cjose_jws_release(jws);
	if (claims != NULL)
		return claims;
	if (tried > 0) {
		if (why[0] == '\0')
			snprintf(why, len, "signature does not verify");
	} else if (named == 0) {
		*unknown_kid = kid != NULL;
		snprintf(why, len, kid != NULL ? "unknown key id" :
		    "no signing key");
	} else
		snprintf(why, len, "key type does not match alg %s", alg->name);
	return NULL;
}

/* Token audiences as a list; -1 if aud is missing or malformed. */
static int
claim_audiences(json_t *claims, struct strlist *out)
{
	json_t	*aud, *v;
	size_t	 i;

	aud = json_object_get(claims, "aud");
	if (json_is_string(aud)) {
		strlist_add(out, xstrdup(json_string_value(aud)));
		return 0;
	}
	if (!json_is_array(aud) || json_array_size(aud) == 0)
		return -1;
	json_array_foreach(aud, i, v) {
		if (!json_is_string(v))
			return -1;
		strlist_add(out, xstrdup(json_string_value(v)));
	}
	return 0;
}

static int
in_list(char *const *list, size_t n, const char *s)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (strcmp(list[i], s) == 0)
			return 1;
	}
	return 0;
}

/*
 * The audience check.  An OIDC issuer, and a service-account issuer that
 * is not audience-aware, accept a token whose aud holds one of the
 * configured audiences and answer without status.audiences.  An
 * audience-aware issuer intersects aud with the review's audiences (the
 * configured ones when the review names none) and answers with the
 * intersection; an empty one is "not for this audience" (AUTH_DENY).
 */
static enum auth_rv
check_audiences(const struct jwt_issuer *is, json_t *claims,
    const struct auth_req *req, struct auth_result *res, char *why,
    size_t len)
{
	struct strlist	 aud = { NULL, 0, 0 };
	json_t		*inter = NULL;
	char		*const *want = is->audiences;
	size_t		 nwant = is->naudiences, i;
	enum auth_rv	 rv = AUTH_ERROR;

	if (claim_audiences(claims, &aud) != 0) {
		snprintf(why, len, "aud missing or not a string or list of "
		    "strings");
		goto out;
	}
	if (is->audience_aware && req->naudiences > 0) {
		want = req->audiences;
		nwant = req->naudiences;
	}
	inter = json_array();
	for (i = 0; i < aud.n; i++) {
		if (in_list(want, nwant, aud.v[i]))
			json_array_append_new(inter, json_string(aud.v[i]));
	}
	if (json_array_size(inter) == 0) {
		snprintf(why, len, "token audience not accepted");
		rv = is->audience_aware ? AUTH_DENY : AUTH_ERROR;
		goto out;
	}
	if (is->audience_aware && req->naudiences > 0)
		res->audiences_json = json_dumps(inter, JSON_COMPACT);
	rv = AUTH_OK;
out:
	json_decref(inter);
	strlist_clear(&aud);
	return rv;
}

/* A numeric date claim: 1 if present and a number, 0 absent, -1 bad. */
static int
claim_time(json_t *claims, const char *name, double *t)
{
	json_t	*v;

	if ((v = json_object_get(claims, name)) == NULL)
		return 0;
	if (!json_is_number(v))
		return -1;
	*t = json_number_value(v);
	return 1;
}

/*
 * exp is required: no leeway for OIDC (kube-apiserver's OIDC rule),
 * clock_skew for service accounts.  nbf may be clock_skew ahead; iat is
 * checked for service accounts only, as kube-apiserver does.
 */
static int
check_times(const struct jwt_issuer *is, json_t *claims, double now,
    double *exp, char *why, size_t len)
{
	double	skew = (double)is->skew / 1000, t;
	int	r;

	if (claim_time(claims, "exp", exp) != 1) {
		snprintf(why, len, "exp missing or not a number");
		return -1;
	}
	if (now > *exp + (is->type == JWT_SERVICEACCOUNT ? skew : 0)) {
		snprintf(why, len, "token expired");
		return -1;
	}
	if ((r = claim_time(claims, "nbf", &t)) < 0 || (r == 1 &&
	    t > now + skew)) {
		snprintf(why, len, r < 0 ? "nbf is not a number" :
		    "token not valid yet (nbf)");
		return -1;
	}
	if (is->type == JWT_SERVICEACCOUNT &&
	    ((r = claim_time(claims, "iat", &t)) < 0 ||
	    (r == 1 && t > now + skew))) {
		snprintf(why, len, r < 0 ? "iat is not a number" :
		    "token issued in the future (iat)");
		return -1;
	}
	return 0;
}

static int
check_required(const struct jwt_issuer *is, json_t *claims, char *why,
    size_t len)
{
	const char	*eq, *v;
	char		*name;
	size_t		 i;
	int		 ok;

	for (i = 0; i < is->nrequired; i++) {
		eq = strchr(is->required[i], '=');
		name = xstrndup(is->required[i],
		    (size_t)(eq - is->required[i]));
		v = json_str(claims, name);
		ok = v != NULL && strcmp(v, eq + 1) == 0;
		if (!ok)
			snprintf(why, len, "required claim %.40s missing or "
			    "not the required value", name);
		free(name);
		if (!ok)
			return -1;
	}
	return 0;
}

/* ---------------------------------------------------------------- mapping */

/* A user under construction. */
struct jwt_user {
	char		*username;
	char		*uid;
	struct strlist	 groups;
	struct strlist	 extra_keys;
	char		***extra_values;	/* NULL-terminated lists */
	size_t		 nextra;
};

static void
user_add_extra(struct jwt_user *u, const char *key, struct strlist *vals)
{
	strlist_add(&u->extra_keys, xstrdup(key));
	u->extra_values = xreallocarray(u->extra_values, u->nextra + 2,
	    sizeof(*u->extra_values));
	u->extra_values[u->nextra++] = vals->v;
	u->extra_values[u->nextra] = NULL;
	memset(vals, 0, sizeof(*vals));
}

static void
user_add_extra1(struct jwt_user *u, const char *key, const char *val)
{
	struct strlist	l = { NULL, 0, 0 };

	strlist_add(&l, xstrdup(val));
	user_add_extra(u, key, &l);
}

static void
user_clear(struct jwt_user *u)
{
	size_t	i, j;

	free(u->username);
	free(u->uid);
	strlist_clear(&u->groups);
	strlist_clear(&u->extra_keys);
	for (i = 0; i < u->nextra; i++) {
		for (j = 0; u->extra_values[i][j] != NULL; j++)
			free(u->extra_values[i][j]);
		free(u->extra_values[i]);
	}
	free(u->extra_values);
}

/* A string or a list of strings, each prefixed; -1 on another type. */
static int
claim_strings(json_t *v, const char *prefix, struct strlist *out)
{
	json_t	*e;
	size_t	 i;
	char	*s;

	if (json_is_string(v)) {
		xasprintf(&s, "%s%s", prefix, json_string_value(v));
		strlist_add(out, s);
		return 0;
	}
	if (!json_is_array(v))
		return -1;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return -1;
		if (*json_string_value(e) == '\0')
			continue;
		xasprintf(&s, "%s%s", prefix, json_string_value(e));
		strlist_add(out, s);
	}
	return 0;
}

/* kube-apiserver: email_verified, when present, must be boolean true. */
static int
check_email(json_t *claims, char *why, size_t len)
{
	json_t	*v = json_object_get(claims, "email_verified");

	if (v != NULL && !json_is_true(v)) {
		snprintf(why, len, "email not verified");
		return -1;
	}
	return 0;
}

static int
map_template(const struct jwt_issuer *is, json_t *claims,
    struct jwt_user *u, char *why, size_t len)
{
	struct evbuffer	*b = evbuffer_new();
	const char	*p = is->username_template, *open, *close, *v;
	char		*name;
	int		 r = -1;

	while ((open = strchr(p, '{')) != NULL) {
		close = strchr(open, '}');
		evbuffer_add(b, p, (size_t)(open - p));
		name = xstrndup(open + 1, (size_t)(close - open - 1));
		v = json_str(claims, name);
		if (v == NULL)
			snprintf(why, len, "claim %.40s missing or not a "
			    "string", name);
		else if (strcmp(name, "email") == 0 &&
		    check_email(claims, why, len) != 0)
			v = NULL;
		free(name);
		if (v == NULL)
			goto out;
		evbuffer_add(b, v, strlen(v));
		p = close + 1;
	}
	evbuffer_add(b, p, strlen(p) + 1);
	u->username = xstrdup((const char *)evbuffer_pullup(b, -1));
	r = 0;
out:
	evbuffer_free(b);
	return r;
}

static int
map_username(const struct jwt_issuer *is, json_t *claims,
    struct jwt_user *u, char *why, size_t len)
{
	const char	*v;

	if (is->username_template != NULL) {
		if (map_template(is, claims, u, why, len) != 0)
			return -1;
	} else {
		if ((v = json_str(claims, is->username_claim)) == NULL) {
			snprintf(why, len, "username claim %.40s missing or "
			    "not a string", is->username_claim);
			return -1;
		}
		if (strcmp(is->username_claim, "email") == 0 &&
		    check_email(claims, why, len) != 0)
			return -1;
		xasprintf(&u->username, "%s%s", is->username_prefix, v);
	}
	if (*u->username == '\0') {
		snprintf(why, len, "empty username");
		return -1;
	}
	return 0;
}

static int
map_oidc(const struct jwt_issuer *is, json_t *claims, struct jwt_user *u,
    char *why, size_t len)
{
	struct strlist	 vals = { NULL, 0, 0 };
	json_t		*v;
	size_t		 i;

	if (map_username(is, claims, u, why, len) != 0)
		return -1;
	if (is->groups_claim != NULL &&
	    (v = json_object_get(claims, is->groups_claim)) != NULL &&
	    claim_strings(v, is->groups_prefix, &u->groups) != 0) {
		snprintf(why, len, "groups claim %.40s is not a string or "
		    "list of strings", is->groups_claim);
		return -1;
	}
	if (is->uid_claim != NULL) {
		if (json_str(claims, is->uid_claim) == NULL) {
			snprintf(why, len, "uid claim %.40s missing or not a "
			    "string", is->uid_claim);
			return -1;
		}
		u->uid = xstrdup(json_str(claims, is->uid_claim));
	}
	for (i = 0; i < is->nextra; i++) {
		if ((v = json_object_get(claims, is->extra[i].claim)) == NULL)
			continue;
		if (claim_strings(v, "", &vals) != 0) {
			strlist_clear(&vals);
			snprintf(why, len, "extra claim %.40s is not a string "
			    "or list of strings", is->extra[i].claim);
			return -1;
		}
		if (vals.n > 0)
			user_add_extra(u, is->extra[i].key, &vals);
		strlist_clear(&vals);
	}
	return 0;
}

/* "kubernetes.io".<obj>.<key> as a non-empty string, or NULL. */
static const char *
k8s_claim(json_t *claims, const char *obj, const char *key)
{
	json_t		*k = json_object_get(claims, "kubernetes.io");
	const char	*s;

	if (obj != NULL)
		k = json_object_get(k, obj);
	s = json_str(k, key);
	return s != NULL && *s != '\0' ? s : NULL;
}

/* The identity kube-apiserver gives a bound service-account token. */
static int
map_serviceaccount(json_t *claims, struct jwt_user *u, char *why,
    size_t len)
{
	const char	*ns, *name, *uid, *sub, *pn, *pu, *nn, *nu;
	char		*group;

	ns = k8s_claim(claims, NULL, "namespace");
	name = k8s_claim(claims, "serviceaccount", "name");
	uid = k8s_claim(claims, "serviceaccount", "uid");
	if (ns == NULL || name == NULL || uid == NULL) {
		snprintf(why, len, "not a bound service-account token "
		    "(kubernetes.io claims missing)");
		return -1;
	}
	xasprintf(&u->username, JWT_SA_PREFIX "%s:%s", ns, name);
	if ((sub = json_str(claims, "sub")) != NULL &&
	    strcmp(sub, u->username) != 0) {
		snprintf(why, len, "sub does not match the service account");
		return -1;
	}
	u->uid = xstrdup(uid);
	strlist_add(&u->groups, xstrdup("system:serviceaccounts"));
	xasprintf(&group, "system:serviceaccounts:%s", ns);
	strlist_add(&u->groups, group);
	pn = k8s_claim(claims, "pod", "name");
	pu = k8s_claim(claims, "pod", "uid");
	if (pn != NULL && pu != NULL) {
		user_add_extra1(u, "authentication.kubernetes.io/pod-name", pn);
		user_add_extra1(u, "authentication.kubernetes.io/pod-uid", pu);
	}
	nn = k8s_claim(claims, "node", "name");
	nu = k8s_claim(claims, "node", "uid");
	if (nn != NULL) {
		user_add_extra1(u, "authentication.kubernetes.io/node-name",
		    nn);
		if (nu != NULL)
			user_add_extra1(u,
			    "authentication.kubernetes.io/node-uid", nu);
	}
	return 0;
}

/* ---------------------------------------------------------------- review */

/* Everything after the signature; AUTH_OK fills res. */
static enum auth_rv
check_claims(const struct jwt_issuer *is, json_t *claims,
    const struct auth_req *req, struct auth_result *res, char *why,
    size_t len)
{
	struct jwt_user	 u;
	enum auth_rv	 rv;
	double		 now = (double)time(NULL), exp;
	const char	*jti;
	char		*cred;
	long long	 ttl;

	memset(&u, 0, sizeof(u));
	if (json_str(claims, "iss") == NULL ||
	    strcmp(json_str(claims, "iss"), is->issuer) != 0) {
		snprintf(why, len, "iss does not match");
		return AUTH_ERROR;
	}
	if ((rv = check_audiences(is, claims, req, res, why, len)) != AUTH_OK)
		return rv;
	rv = AUTH_ERROR;
	if (check_times(is, claims, now, &exp, why, len) != 0 ||
	    check_required(is, claims, why, len) != 0)
		goto out;
	if (is->type == JWT_SERVICEACCOUNT ?
	    map_serviceaccount(claims, &u, why, len) != 0 :
	    map_oidc(is, claims, &u, why, len) != 0)
		goto out;
	if ((jti = json_str(claims, "jti")) != NULL && *jti != '\0') {
		xasprintf(&cred, "JTI=%s", jti);
		user_add_extra1(&u, JWT_CRED_ID, cred);
		free(cred);
	}
	res->username = xstrdup(u.username);
	res->user_json = auth_user_json(u.username, u.uid, u.groups.v,
	    u.extra_keys.v, (char *const *const *)u.extra_values);
	/* Cached no longer than the token lives; at least 1 ms. */
	ttl = (long long)((exp - now) * 1000);
	res->max_ttl = ttl > 0 ? ttl : 1;
	rv = AUTH_OK;
out:
	user_clear(&u);
	return rv;
}

static enum auth_rv
check_token(const struct jwt_issuer *is, const struct jwt_token *t,
    const struct auth_req *req, struct auth_result *res, char *why,
    size_t len)
{
	const struct jwt_alg	*alg;
	struct jwt_keyset	*ks;
	json_t			*claims;
	enum auth_rv		 rv;
	int			 unknown_kid;

	if (t->len > is->max_token) {
		snprintf(why, len, "token larger than %zu bytes",
		    is->max_token);
		return AUTH_ERROR;
	}
	if ((alg = check_header(is, t->header, why, len)) == NULL)
		return AUTH_ERROR;
	ks = __atomic_load_n(&is->keys, __ATOMIC_ACQUIRE);
	claims = verify(ks, t, alg, &unknown_kid, why, len);
	if (claims == NULL)
		return AUTH_ERROR;
	rv = check_claims(is, claims, req, res, why, len);
	json_decref(claims);
	return rv;
}

static void
count(const struct jwt_issuer *is, enum auth_rv rv)
{
	uint64_t	*c;

	c = rv == AUTH_OK ? (uint64_t *)&is->n_ok : rv == AUTH_DENY ?
	    (uint64_t *)&is->n_rejected : (uint64_t *)&is->n_invalid;
	__atomic_fetch_add(c, 1, __ATOMIC_RELAXED);
}

static enum auth_rv
jwt_authenticate(void *inst, struct auth_req *req, struct auth_result *res,
    auth_done_cb done)
{
	struct jwt_shared	*js = inst;
	const struct jwt_issuer	*is;
	struct jwt_token	 t;
	enum auth_rv		 rv;
	char			 why[JWT_REASONLEN];

	if (js == NULL || req->token_len > TR_MAX_TOKEN ||
	    token_split(&t, req->token, req->token_len) != 0)
		return AUTH_DENY;
	if ((is = route(js, json_str(t.unverified, "iss"))) == NULL) {
		__atomic_fetch_add(&js->n_foreign, 1, __ATOMIC_RELAXED);
		log_msg(LL_VERBOSE, "jwt_deny", "token %s: JWT of an issuer "
		    "not configured", req->token_fp);
		token_clear(&t);
		return AUTH_DENY;
	}
	why[0] = '\0';
	rv = check_token(is, &t, req, res, why, sizeof(why));
	token_clear(&t);
	count(is, rv);
	if (rv == AUTH_ERROR) {
		auth_result_clear(res);
		xasprintf(&res->error, "%s: %s", is->name, why);
	} else if (rv == AUTH_DENY) {
		auth_result_clear(res);
		log_msg(LL_INFO, "jwt_deny", "token %s: issuer %s: %s",
		    req->token_fp, is->name, why);
	} else
		res->backend = "jwt";
	return rv;
}

/* Keys are immutable and nothing is ever pending: workers share it all. */
static int
jwt_init(void *shared, struct event_base *base, void **inst)
{
	*inst = shared;
	return 0;
}

static void
jwt_cancel(void *inst, struct auth_req *req)
{
}

static void
jwt_free(void *inst)
{
}

static int
jwt_ready(void *shared)
{
	struct jwt_shared	*js = shared;
	size_t			 i;

	for (i = 0; js != NULL && i < js->nissuers; i++) {
		if (js->issuers[i]->keys == NULL ||
		    js->issuers[i]->keys->nkeys == 0)
			return 0;
	}
	return 1;
}

/* An issuer name as a Prometheus label value. */
static void
metrics_label(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			evbuffer_add_printf(out, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

static void
jwt_metrics(void *shared, struct evbuffer *out)
{
	static const char *const results[] = { "ok", "invalid", "rejected" };
	struct jwt_shared	*js = shared;
	struct jwt_issuer	*is;
	size_t			 i, r;
	uint64_t		 v;

	if (js == NULL)
		return;
	evbuffer_add_printf(out, "# HELP tokenreviewd_jwt_verifications_total "
	    "JWT reviews by issuer and result.\n"
	    "# TYPE tokenreviewd_jwt_verifications_total counter\n");
	for (i = 0; i < js->nissuers; i++) {
		is = js->issuers[i];
		for (r = 0; r < 3; r++) {
			v = __atomic_load_n(r == 0 ? &is->n_ok : r == 1 ?
			    &is->n_invalid : &is->n_rejected,
			    __ATOMIC_RELAXED);
			evbuffer_add_printf(out,
			    "tokenreviewd_jwt_verifications_total{issuer=\"");
			metrics_label(out, is->name);
			evbuffer_add_printf(out, "\",result=\"%s\"} %llu\n",
			    results[r], (unsigned long long)v);
		}
	}
	evbuffer_add_printf(out, "tokenreviewd_jwt_verifications_total"
	    "{issuer=\"\",result=\"unknown_issuer\"} %llu\n",
	    (unsigned long long)__atomic_load_n(&js->n_foreign,
	    __ATOMIC_RELAXED));
	evbuffer_add_printf(out, "# HELP tokenreviewd_jwt_keys Signing keys "
	    "known per issuer.\n# TYPE tokenreviewd_jwt_keys gauge\n");
	for (i = 0; i < js->nissuers; i++) {
		evbuffer_add_printf(out, "tokenreviewd_jwt_keys{issuer=\"");
		metrics_label(out, js->issuers[i]->name);
		evbuffer_add_printf(out, "\"} %zu\n",
		    js->issuers[i]->keys->nkeys);
	}
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

const struct auth_backend auth_jwt_backend = {
	.name = "jwt",
	.load = jwt_load,
	.unload = jwt_unload,
	.init = jwt_init,
	.authenticate = jwt_authenticate,
	.cancel = jwt_cancel,
	.free = jwt_free,
	.ready = jwt_ready,
	.metrics = jwt_metrics,
	.watch = jwt_watch,
};
