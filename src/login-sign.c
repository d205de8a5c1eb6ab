/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * What the login listener hands out, as text: the JWT it signs for a
 * person the directory accepted (a JWS in compact form, signed with
 * OpenSSL's EVP interface by [login]'s first key), the ExecCredential
 * kubectl takes as it is, and the issuer's public documents (OpenID
 * discovery and the JWKS with every key, the previous ones too) that let
 * other verifiers check the tokens.  Pure functions of a login_conf, so
 * that the unit tests can check them without a listener.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "tokenreviewd.h"
#include "login.h"

/* The claims of a user: the answer's user object, mapped to JWT names. */
static json_t *
login_sign_claims(const struct login_conf *lc, const char *user_json,
    int64_t now, const char *jti)
{
	json_t	*user, *claims, *groups, *v;

	if ((user = json_loads(user_json, 0, NULL)) == NULL ||
	    !json_is_string(json_object_get(user, "username"))) {
		json_decref(user);
		return NULL;
	}
	/* No groups: an empty list, so that every token has the claim. */
	groups = json_object_get(user, "groups");
	groups = json_is_array(groups) ? json_incref(groups) : json_array();
	claims = json_pack("{s:s, s:s, s:O, s:o, s:I, s:I, s:I, s:s}",
	    "iss", lc->issuer, "aud", lc->audience,
	    "sub", json_object_get(user, "username"), "groups", groups,
	    "iat", (json_int_t)now, "nbf", (json_int_t)now,
	    "exp", (json_int_t)(now + lc->token_ttl / 1000), "jti", jti);
	if ((v = json_object_get(user, "uid")) != NULL)
		json_object_set(claims, "uid", v);
	if ((v = json_object_get(user, "extra")) != NULL)
		json_object_set(claims, "extra", v);
	json_decref(user);
	return claims;
}

/* ECDSA's DER signature as JWS wants it: r and s, each size bytes. */
static unsigned char *
login_sign_ecdsa_raw(const unsigned char *der, size_t len, int size,
    size_t *outlen)
{
	const unsigned char	*p = der;
	const BIGNUM		*r, *s;
	ECDSA_SIG		*sig;
	unsigned char		*out = NULL;

	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
		return NULL;
	ECDSA_SIG_get0(sig, &r, &s);
	out = xmalloc(2 * (size_t)size);
	if (BN_bn2binpad(r, out, size) != size ||
	    BN_bn2binpad(s, out + size, size) != size) {
		free(out);
		out = NULL;
	} else
		*outlen = 2 * (size_t)size;
	ECDSA_SIG_free(sig);
	return out;
}

/* The signature of input by the key, base64url; NULL on failure. */
static char *
login_sign_bytes(const struct login_key *k, const char *input)
{
	const EVP_MD	*md = EVP_sha256();
	EVP_MD_CTX	*ctx;
	unsigned char	*sig = NULL, *raw = NULL;
	size_t		 len = 0, rawlen = 0;
	char		*out = NULL;
	int		 size = 0;

	if (strcmp(k->alg, "ES384") == 0)
		md = EVP_sha384(), size = 48;
	else if (strcmp(k->alg, "ES512") == 0)
		md = EVP_sha512(), size = 66;
	else if (strcmp(k->alg, "ES256") == 0)
		size = 32;
	if ((ctx = EVP_MD_CTX_new()) == NULL)
		return NULL;
	if (EVP_DigestSignInit(ctx, NULL, md, NULL, k->pkey) != 1 ||
	    EVP_DigestSign(ctx, NULL, &len, (const unsigned char *)input,
	    strlen(input)) != 1)
		goto out;
	sig = xmalloc(len);
	if (EVP_DigestSign(ctx, sig, &len, (const unsigned char *)input,
	    strlen(input)) != 1)
		goto out;
	if (size == 0)
		out = base64url_encode(sig, len);
	else if ((raw = login_sign_ecdsa_raw(sig, len, size, &rawlen)) != NULL)
		out = base64url_encode(raw, rawlen);
out:
	free(sig);
	free(raw);
	EVP_MD_CTX_free(ctx);
	return out;
}

/* A JSON object as base64url of its compact text. */
static char *
login_sign_part(const json_t *o)
{
	char	*s, *b;

	if ((s = json_dumps(o, JSON_COMPACT)) == NULL)
		return NULL;
	b = base64url_encode(s, strlen(s));
	free(s);
	return b;
}

char *
login_sign(const struct login_conf *lc, const char *user_json, int64_t now,
    char jti[LOGIN_JTI_LEN + 1])
{
	const struct login_key	*k = &lc->keys[0];
	unsigned char		 rnd[16];
	json_t			*header, *claims = NULL;
	char			*h = NULL, *c = NULL, *input = NULL, *sig = NULL;
	char			*jwt = NULL, *id;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return NULL;
	id = base64url_encode(rnd, sizeof(rnd));
	strlcpy(jti, id, LOGIN_JTI_LEN + 1);
	free(id);
	header = json_pack("{s:s, s:s, s:s}", "alg", k->alg, "typ", "JWT",
	    "kid", k->kid);
	if ((claims = login_sign_claims(lc, user_json, now, jti)) == NULL)
		goto out;
	if ((h = login_sign_part(header)) == NULL ||
	    (c = login_sign_part(claims)) == NULL)
		goto out;
	xasprintf(&input, "%s.%s", h, c);
	if ((sig = login_sign_bytes(k, input)) == NULL)
		goto out;
	xasprintf(&jwt, "%s.%s", input, sig);
out:
	json_decref(header);
	json_decref(claims);
	free(h);
	free(c);
	free(input);
	free(sig);
	return jwt;
}

/* A document's compact text; the caller frees it. */
static char *
login_sign_dump(json_t *o, size_t *len)
{
	char	*s;

	if (o == NULL || (s = json_dumps(o, JSON_COMPACT |
	    JSON_PRESERVE_ORDER)) == NULL)
		fatalx("cannot encode a login document");
	json_decref(o);
	*len = strlen(s);
	return s;
}

char *
login_exec_credential(const char *token, int64_t exp, size_t *len)
{
	struct tm	tm;
	time_t		t = (time_t)exp;
	char		when[32];

	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return login_sign_dump(json_pack("{s:s, s:s, s:{s:b}, s:{s:s, s:s}}",
	    "kind", "ExecCredential",
	    "apiVersion", "client.authentication.k8s.io/v1",
	    "spec", "interactive", 0,
	    "status", "token", token, "expirationTimestamp", when), len);
}

const char *
login_issuer_path(const struct login_conf *lc)
{
	const char	*p = strchr(lc->issuer + strlen("https://"), '/');

	return p != NULL ? p : "";
}

char *
login_discovery(const struct login_conf *lc, size_t *len)
{
	json_t	*algs, *doc;
	char	*jwks;
	size_t	 i, j;

	algs = json_array();
	for (i = 0; i < lc->nkeys; i++) {
		for (j = 0; j < i; j++) {
			if (strcmp(lc->keys[j].alg, lc->keys[i].alg) == 0)
				break;
		}
		if (j == i)
			json_array_append_new(algs,
			    json_string(lc->keys[i].alg));
	}
	xasprintf(&jwks, "%s" LOGIN_JWKS_PATH, lc->issuer);
	doc = json_pack("{s:s, s:s, s:[s], s:[s], s:o}",
	    "issuer", lc->issuer, "jwks_uri", jwks,
	    "response_types_supported", "id_token",
	    "subject_types_supported", "public",
	    "id_token_signing_alg_values_supported", algs);
	free(jwks);
	return login_sign_dump(doc, len);
}

char *
login_jwks(const struct login_conf *lc, size_t *len)
{
	json_t	*keys;
	size_t	 i;

	keys = json_array();
	for (i = 0; i < lc->nkeys; i++)
		json_array_append_new(keys, json_loads(lc->keys[i].jwk_json, 0,
		    NULL));
	return login_sign_dump(json_pack("{s:o}", "keys", keys), len);
}
