/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Key sets of the JWT source: the signing keys of one issuer, read from a
 * JWKS document (a file, or the body the fetcher got) or from PEM public
 * key files.  A PEM key becomes a JWK whose kid is the one kube-apiserver
 * gives its own keys, so that tokens naming it find it; the keys of
 * [login] keep the kid they are published under.  Keys that cannot
 * verify a signature we accept are skipped with a reason, not refused: a
 * JWKS may hold encryption keys or key types newer than this build.  A
 * key set is immutable once built and reference-counted, so that the
 * fetcher can replace an issuer's keys while workers still verify with
 * the old ones.  libcjose checks a JWK as it always did; each key's
 * EVP_PKEY is then built here from the same parameters, once, for
 * jwt-verify.c to verify with.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <cjose/cjose.h>

#include "tokenreviewd.h"
#include "jwt-int.h"
#include "login.h"

enum jwt_keys_added {
	JWT_KEYS_ADDED,
	JWT_KEYS_SKIPPED,		/* not a signing key we can use */
	JWT_KEYS_FULL,			/* JWT_MAX_KEYS already */
};

struct jwt_keyset *
jwt_keys_new(void)
{
	struct jwt_keyset	*ks;

	ks = xcalloc(1, sizeof(*ks));
	ks->refs = 1;
	return ks;
}

struct jwt_keyset *
jwt_keys_ref(struct jwt_keyset *ks)
{
	if (ks != NULL)
		__atomic_add_fetch(&ks->refs, 1, __ATOMIC_RELAXED);
	return ks;
}

void
jwt_keys_unref(struct jwt_keyset *ks)
{
	size_t	i, a;

	if (ks == NULL || __atomic_sub_fetch(&ks->refs, 1,
	    __ATOMIC_ACQ_REL) != 0)
		return;
	for (i = 0; i < ks->nkeys; i++) {
		for (a = 0; a < JWT_NALGS; a++)
			EVP_MD_CTX_free(ks->keys[i].verify[a]);
		jwt_sig_free(ks->keys[i].sig);
		EVP_PKEY_free(ks->keys[i].pkey);
		free(ks->keys[i].kid);
		free(ks->keys[i].crv);
		free(ks->keys[i].alg);
	}
	free(ks->keys);
	free(ks);
}

/* A JWK parameter, base64url, as a number; NULL if absent or bad. */
static BIGNUM *
jwt_keys_bn(json_t *jwk, const char *name)
{
	const char	*s = jwt_json_str(jwk, name);
	unsigned char	*raw;
	BIGNUM		*bn;
	size_t		 len;

	if (s == NULL || (raw = base64_decode(s, strlen(s), 1, &len)) ==
	    NULL)
		return NULL;
	bn = BN_bin2bn(raw, (int)len, NULL);
	free(raw);
	return bn;
}

/* A public key of type name ("RSA", "EC") from params, or NULL. */
static EVP_PKEY *
jwt_keys_fromdata(const char *name, OSSL_PARAM_BLD *bld)
{
	EVP_PKEY_CTX	*ctx;
	OSSL_PARAM	*params;
	EVP_PKEY	*pkey = NULL;

	if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		return NULL;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, name, NULL)) != NULL &&
	    EVP_PKEY_fromdata_init(ctx) == 1 &&
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static EVP_PKEY *
jwt_keys_rsa_pkey(json_t *jwk)
{
	OSSL_PARAM_BLD	*bld;
	BIGNUM		*n, *e;
	EVP_PKEY	*pkey = NULL;

	n = jwt_keys_bn(jwk, "n");
	e = jwt_keys_bn(jwk, "e");
	if (n != NULL && e != NULL && (bld = OSSL_PARAM_BLD_new()) != NULL) {
		if (OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
		    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
			pkey = jwt_keys_fromdata("RSA", bld);
		OSSL_PARAM_BLD_free(bld);
	}
	BN_free(n);
	BN_free(e);
	return pkey;
}

/*
 * The curve of a JWK crv: OpenSSL's name and the length of a coordinate;
 * -1 for a curve no algorithm of ours uses.
 */
static int
jwt_keys_curve(const char *crv, const char **group, int *size)
{
	size_t	a;

	for (a = 0; a < JWT_NALGS && crv != NULL; a++) {
		if (jwt_algs[a].crv != NULL &&
		    strcmp(jwt_algs[a].crv, crv) == 0) {
			*size = (int)jwt_algs[a].half;
			*group = *size == 32 ? "prime256v1" : *size == 48 ?
			    "secp384r1" : "secp521r1";
			return 0;
		}
	}
	return -1;
}

/*
 * An EC public key from crv, x and y.  OpenSSL checks that the point is
 * on the curve.
 */
static EVP_PKEY *
jwt_keys_ec_pkey(json_t *jwk)
{
	unsigned char	 pub[1 + 2 * 66];
	const char	*group;
	OSSL_PARAM_BLD	*bld;
	BIGNUM		*x, *y;
	EVP_PKEY	*pkey = NULL;
	int		 size;

	if (jwt_keys_curve(jwt_json_str(jwk, "crv"), &group, &size) != 0)
		return NULL;
	x = jwt_keys_bn(jwk, "x");
	y = jwt_keys_bn(jwk, "y");
	pub[0] = POINT_CONVERSION_UNCOMPRESSED;
	if (x != NULL && y != NULL &&
	    BN_bn2binpad(x, pub + 1, size) == size &&
	    BN_bn2binpad(y, pub + 1 + size, size) == size &&
	    (bld = OSSL_PARAM_BLD_new()) != NULL) {
		if (OSSL_PARAM_BLD_push_utf8_string(bld,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
		    OSSL_PARAM_BLD_push_octet_string(bld,
		    OSSL_PKEY_PARAM_PUB_KEY, pub, 1 + 2 * (size_t)size))
			pkey = jwt_keys_fromdata("EC", bld);
		OSSL_PARAM_BLD_free(bld);
	}
	BN_free(x);
	BN_free(y);
	return pkey;
}

/*
 * The EVP_PKEY of a JWK libcjose imported: 0, with *pkey NULL for an EC
 * key on a curve no algorithm of ours uses (kept, never tried, as
 * before: its kid still names a key); -1 if it cannot be built.
 */
static int
jwt_keys_pkey(json_t *jwk, const char *kty, EVP_PKEY **pkey)
{
	const char	*group;
	int		 size;

	*pkey = NULL;
	if (strcmp(kty, "RSA") == 0)
		*pkey = jwt_keys_rsa_pkey(jwk);
	else if (jwt_keys_curve(jwt_json_str(jwk, "crv"), &group, &size) != 0)
		return 0;
	else
		*pkey = jwt_keys_ec_pkey(jwk);
	return *pkey != NULL ? 0 : -1;
}

/*
 * Add one JWK (a JSON object) to a key set.  Keys that cannot serve to
 * verify a signature we accept are skipped (why in skip).
 */
static enum jwt_keys_added
jwt_keys_add_jwk(struct jwt_keyset *ks, json_t *jwk, const char **skip)
{
	struct jwt_key	*k;
	const char	*kty, *use;
	cjose_jwk_t	*cj;
	cjose_err	 cerr;
	EVP_PKEY	*pkey;
	size_t		 a;

	kty = jwt_json_str(jwk, "kty");
	use = jwt_json_str(jwk, "use");
	if (kty == NULL || (strcmp(kty, "RSA") != 0 &&
	    strcmp(kty, "EC") != 0)) {
		*skip = "key type not usable for signatures";
		return JWT_KEYS_SKIPPED;
	}
	if (use != NULL && strcmp(use, "sig") != 0) {
		*skip = "key use is not \"sig\"";
		return JWT_KEYS_SKIPPED;
	}
	if (ks->nkeys == JWT_MAX_KEYS)
		return JWT_KEYS_FULL;
	if ((cj = cjose_jwk_import_json((cjose_header_t *)jwk, &cerr)) ==
	    NULL) {
		*skip = "key does not import";
		return JWT_KEYS_SKIPPED;
	}
	cjose_jwk_release(cj);
	if (jwt_keys_pkey(jwk, kty, &pkey) != 0) {
		*skip = "key does not import";
		return JWT_KEYS_SKIPPED;
	}
	ks->keys = xreallocarray(ks->keys, ks->nkeys + 1, sizeof(*ks->keys));
	k = &ks->keys[ks->nkeys++];
	memset(k, 0, sizeof(*k));
	k->pkey = pkey;
	k->kty = strcmp(kty, "RSA") == 0 ? JWT_KTY_RSA : JWT_KTY_EC;
	if (jwt_json_str(jwk, "kid") != NULL)
		k->kid = xstrdup(jwt_json_str(jwk, "kid"));
	if (k->kty == JWT_KTY_EC && jwt_json_str(jwk, "crv") != NULL)
		k->crv = xstrdup(jwt_json_str(jwk, "crv"));
	if (jwt_json_str(jwk, "alg") != NULL)
		k->alg = xstrdup(jwt_json_str(jwk, "alg"));
	for (a = 0; a < JWT_NALGS && pkey != NULL; a++) {
		if (jwt_verify_key_fits(k, &jwt_algs[a]))
			k->verify[a] = jwt_verify_ctx_new(pkey, &jwt_algs[a]);
	}
	k->sig = jwt_sig_new(pkey, k->kty, k->crv);
	if (k->sig == NULL && pkey != NULL && k->crv != NULL &&
	    strcmp(k->crv, "P-256") == 0)
		log_msg(LL_VERBOSE, "jwt_key_untabled", "P-256 key (kid %s) "
		    "verifies without a table of its multiples (at most %d "
		    "keys have one)", k->kid != NULL ? k->kid : "none",
		    JWT_SIG_MAX_TABLES);
	return JWT_KEYS_ADDED;
}

int
jwt_keys_add_jwks(struct jwt_keyset *ks, const char *data, size_t len,
    char *err, size_t errlen)
{
	json_t		*doc, *keys, *k;
	json_error_t	 jerr;
	const char	*skip, *kid;
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
		if (jwt_keys_add_jwk(ks, k, &skip) == JWT_KEYS_FULL) {
			snprintf(err, errlen, "more than %d keys",
			    JWT_MAX_KEYS);
			goto out;
		}
		kid = jwt_json_str(k, "kid");
		if (skip != NULL)
			log_msg(LL_VERBOSE, "jwt_key_skipped", "JWKS key %zu "
			    "(kid %s) skipped: %s", i, kid != NULL ? kid :
			    "none", skip);
	}
	r = 0;
out:
	json_decref(doc);
	return r;
}

/*
 * A PEM public key as a JWK whose kid is base64url(SHA-256(DER
 * SubjectPublicKeyInfo)), the kid kube-apiserver gives its own keys.
 */
static json_t *
jwt_keys_pkey_jwk(EVP_PKEY *pkey, char *why, size_t whylen)
{
	unsigned char	*der = NULL, digest[TR_SHA256_LEN];
	json_t		*jwk;
	char		*kid;
	int		 len;

	jwk = login_public_jwk(pkey, NULL, why, whylen);
	if (jwk == NULL || (len = i2d_PUBKEY(pkey, &der)) <= 0) {
		json_decref(jwk);
		return NULL;
	}
	sha256(der, (size_t)len, digest);
	OPENSSL_free(der);
	kid = base64url_encode(digest, sizeof(digest));
	json_object_set_new(jwk, "kid", json_string(kid));
	free(kid);
	return jwk;
}

int
jwt_keys_add_pem(struct jwt_keyset *ks, const char *data, size_t len,
    char *err, size_t errlen)
{
	enum jwt_keys_added	 added;
	EVP_PKEY		*pkey;
	json_t			*jwk;
	BIO			*bio;
	const char		*skip;
	char			 why[128];
	int			 n = 0;

	bio = BIO_new_mem_buf(data, (int)len);
	while ((pkey = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL)) != NULL) {
		jwk = jwt_keys_pkey_jwk(pkey, why, sizeof(why));
		EVP_PKEY_free(pkey);
		if (jwk == NULL) {
			snprintf(err, errlen, "key %d: %s", n + 1, why);
			goto fail;
		}
		skip = NULL;
		added = jwt_keys_add_jwk(ks, jwk, &skip);
		json_decref(jwk);
		if (added != JWT_KEYS_ADDED) {
			snprintf(err, errlen, "key %d: %s", n + 1,
			    added == JWT_KEYS_FULL ? "too many keys" : skip);
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

int
jwt_keys_add_pkey(struct jwt_keyset *ks, EVP_PKEY *pkey, const char *kid,
    const char *alg, char *err, size_t errlen)
{
	enum jwt_keys_added	 added;
	json_t			*jwk;
	const char		*skip = NULL;

	if ((jwk = login_public_jwk(pkey, NULL, err, errlen)) == NULL)
		return -1;
	json_object_set_new(jwk, "kid", json_string(kid));
	json_object_set_new(jwk, "alg", json_string(alg));
	json_object_set_new(jwk, "use", json_string("sig"));
	added = jwt_keys_add_jwk(ks, jwk, &skip);
	json_decref(jwk);
	if (added != JWT_KEYS_ADDED) {
		snprintf(err, errlen, "%s", added == JWT_KEYS_FULL ?
		    "too many keys" : skip);
		return -1;
	}
	return 0;
}
