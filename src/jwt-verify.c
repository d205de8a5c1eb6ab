/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Verification of a JWT and the mapping of its claims to a user, as pure
 * code: given a token, its issuer's settings, a key set and the time, it
 * returns the user or why not.  No event loop, no thread, no global
 * state: auth-jwt.c brings the keys and counts and logs what it is told,
 * and the unit test and fuzz target call it directly.
 *
 * A token is checked the way kube-apiserver's OIDC and service-account
 * authenticators check it: algorithm allow-list, key type and curve,
 * signature (OpenSSL EVP with the key set's EVP_PKEYs), iss, aud, exp,
 * nbf, iat and required claims; only after the signature verified are
 * the claims read.  Claims are then mapped to a user: username claim,
 * prefix or template, groups, uid and extra for OIDC, and the fixed
 * system:serviceaccount identity for service-account issuers.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "tokenreviewd.h"
#include "json.h"
#include "jwt-int.h"

/*
 * The largest signature: RSA at OpenSSL's largest modulus (16384 bits).
 * A longer one verifies with no key.
 */
#define JWT_VERIFY_MAX_SIG	2048
/* DER of an ECDSA signature: SEQUENCE of two INTEGERs of up to 67 bytes */
#define JWT_VERIFY_MAX_DER	(3 + 2 * (2 + 67))

const struct jwt_alg jwt_algs[JWT_NALGS] = {
	[JWT_RS256] = { "RS256", JWT_KTY_RSA, NULL, JWT_SIG_PKCS1, "SHA256",
	    0 },
	[JWT_RS384] = { "RS384", JWT_KTY_RSA, NULL, JWT_SIG_PKCS1, "SHA384",
	    0 },
	[JWT_RS512] = { "RS512", JWT_KTY_RSA, NULL, JWT_SIG_PKCS1, "SHA512",
	    0 },
	[JWT_PS256] = { "PS256", JWT_KTY_RSA, NULL, JWT_SIG_PSS, "SHA256", 0 },
	[JWT_PS384] = { "PS384", JWT_KTY_RSA, NULL, JWT_SIG_PSS, "SHA384", 0 },
	[JWT_PS512] = { "PS512", JWT_KTY_RSA, NULL, JWT_SIG_PSS, "SHA512", 0 },
	[JWT_ES256] = { "ES256", JWT_KTY_EC, "P-256", JWT_SIG_ECDSA, "SHA256",
	    32 },
	[JWT_ES384] = { "ES384", JWT_KTY_EC, "P-384", JWT_SIG_ECDSA, "SHA384",
	    48 },
	[JWT_ES512] = { "ES512", JWT_KTY_EC, "P-521", JWT_SIG_ECDSA, "SHA512",
	    66 },
};

/* What the signature check reads: the signed input, the signature. */
struct jwt_verify_sig {
	const unsigned char	*input;		/* header.payload */
	size_t			 inlen;
	unsigned char		 sig[JWT_VERIFY_MAX_SIG];
	size_t			 siglen;
	int			 toolong;	/* verifies with no key */
};

/* What a numeric date claim holds. */
enum jwt_verify_time {
	JWT_TIME_ABSENT,
	JWT_TIME_NUMBER,
	JWT_TIME_BAD,
};

/* A user under construction. */
struct jwt_user {
	char			*username;
	char			*uid;
	struct strvec		 groups;
	struct strvec		 extra_keys;
	char			***extra_values;  /* NULL-terminated lists */
	size_t			 nextra;
};

const char *
jwt_json_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

/* ---------------------------------------------------------------- tokens */

/*
 * Whether n is a length an encoding has and the last digit's unused low
 * bits are zero, so that one token has one spelling (and a cached answer
 * cannot be reached by a variant).
 */
static int
jwt_verify_b64url_tail(const char *s, size_t n)
{
	return n % 4 == 0 || (n % 4 != 1 && (base64_digit((unsigned char)
	    s[n - 1], 1) & (n % 4 == 2 ? 0xf : 0x3)) == 0);
}

/* Whether s is unpadded, canonical base64url. */
static int
jwt_verify_b64url_valid(const char *s, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (base64_digit((unsigned char)s[i], 1) < 0)
			return 0;
	}
	return jwt_verify_b64url_tail(s, n);
}

/*
 * A base64url part holding a JSON object, or NULL.  The decoder checks
 * the digits; the last one's spare bits are checked here.
 */
static json_t *
jwt_verify_part_json(const char *s, size_t n)
{
	unsigned char	*raw;
	json_t		*j;
	size_t		 len;

	if (!jwt_verify_b64url_tail(s, n) ||
	    (raw = base64_decode(s, n, 1, &len)) == NULL)
		return NULL;
	j = json_parse_object(raw, len);
	wipe_free(raw);
	return j;
}

/*
 * The signature may be empty: alg none must reach the allow-list to be
 * refused with a reason.
 */
int
jwt_verify_split(struct jwt_token *t, const char *s, size_t len)
{
	const char	*d1, *d2;

	memset(t, 0, sizeof(*t));
	if ((d1 = memchr(s, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - s))) == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - s)) != NULL ||
	    d1 == s || d2 == d1 + 1)
		return -1;
	/*
	 * The signature is canonical base64url like the other parts (those
	 * are checked by jwt_verify_part_json()): one token, one spelling.
	 */
	if (!jwt_verify_b64url_valid(d2 + 1, len - (size_t)(d2 + 1 - s)))
		return -1;
	t->s = s;
	t->len = len;
	t->signed_len = (size_t)(d2 - s);
	if ((t->header = jwt_verify_part_json(s, (size_t)(d1 - s))) == NULL ||
	    (t->unverified = jwt_verify_part_json(d1 + 1,
	    (size_t)(d2 - d1 - 1))) == NULL) {
		json_decref(t->header);
		t->header = NULL;
		return -1;
	}
	return 0;
}

void
jwt_verify_token_clear(struct jwt_token *t)
{
	json_decref(t->header);
	json_decref(t->unverified);
	memset(t, 0, sizeof(*t));
}

const struct jwt_alg *
jwt_verify_header(const struct jwt_issuer *is, json_t *header, char *why,
    size_t len)
{
	const char	*alg;
	size_t		 a;

	if ((alg = jwt_json_str(header, "alg")) == NULL) {
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

int
jwt_verify_key_fits(const struct jwt_key *k, const struct jwt_alg *alg)
{
	if (k->kty != alg->kty)
		return 0;
	if (alg->crv != NULL && (k->crv == NULL || strcmp(k->crv, alg->crv)))
		return 0;
	return k->alg == NULL || strcmp(k->alg, alg->name) == 0;
}

/*
 * The signed input and the decoded signature of a split token (whose
 * parts are canonical base64url); -1 if the signature does not decode.
 */
static int
jwt_verify_sig_init(struct jwt_verify_sig *vs, const struct jwt_token *t)
{
	const char	*p = t->s + t->signed_len + 1;
	size_t		 n = t->len - t->signed_len - 1;
	ssize_t		 len;

	vs->input = (const unsigned char *)t->s;
	vs->inlen = t->signed_len;
	vs->siglen = 0;
	if ((vs->toolong = n * 3 / 4 > sizeof(vs->sig)))
		return 0;
	if ((len = base64_decode_to(p, n, 1, vs->sig)) < 0)
		return -1;
	vs->siglen = (size_t)len;
	return 0;
}

/* The DER INTEGER of the unsigned big-endian number p of n bytes. */
static size_t
jwt_verify_der_int(unsigned char *out, const unsigned char *p, size_t n)
{
	size_t	o = 0;
	int	pad;

	while (n > 1 && *p == 0) {
		p++;
		n--;
	}
	pad = (*p & 0x80) != 0;
	out[o++] = 0x02;
	out[o++] = (unsigned char)(n + (size_t)pad);
	if (pad)
		out[o++] = 0;
	memcpy(out + o, p, n);
	return o + n;
}

/*
 * The JWS form of an ECDSA signature, r || s of half bytes each, as the
 * DER SEQUENCE OpenSSL verifies.
 */
static size_t
jwt_verify_ecdsa_der(const unsigned char *sig, size_t half,
    unsigned char *der)
{
	unsigned char	body[JWT_VERIFY_MAX_DER];
	size_t		n, o = 0;

	n = jwt_verify_der_int(body, sig, half);
	n += jwt_verify_der_int(body + n, sig + half, half);
	der[o++] = 0x30;
	if (n >= 0x80)
		der[o++] = 0x81;
	der[o++] = (unsigned char)n;
	memcpy(der + o, body, n);
	return o + n;
}

/* RSASSA-PSS as JWS has it: MGF1 with the digest, salt as long as it. */
static int
jwt_verify_pss(EVP_PKEY_CTX *pctx, const struct jwt_alg *alg)
{
	return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) ==
	    1 && EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
	    RSA_PSS_SALTLEN_DIGEST) == 1 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md_name(pctx, alg->md, NULL) == 1;
}

EVP_MD_CTX *
jwt_verify_ctx_new(EVP_PKEY *pkey, const struct jwt_alg *alg)
{
	EVP_PKEY_CTX	*pctx = NULL;
	EVP_MD_CTX	*md;

	if ((md = EVP_MD_CTX_new()) == NULL)
		fatalx("EVP_MD_CTX_new failed");
	if (EVP_DigestVerifyInit_ex(md, &pctx, alg->md, NULL, NULL, pkey,
	    NULL) != 1 || (alg->sig == JWT_SIG_PSS &&
	    !jwt_verify_pss(pctx, alg))) {
		EVP_MD_CTX_free(md);
		ERR_clear_error();
		return NULL;
	}
	return md;
}

/*
 * Whether the signature verifies with key k, which fits alg: through
 * jwt-sig.c where the key has a faster form for alg, else through EVP.
 * An ECDSA signature must be exactly as long as the curve says.
 */
static int
jwt_verify_with(const struct jwt_key *k, const struct jwt_alg *alg,
    const struct jwt_verify_sig *vs)
{
	unsigned char		 der[JWT_VERIFY_MAX_DER];
	const unsigned char	*sig = vs->sig;
	const EVP_MD_CTX	*tmpl = k->verify[alg - jwt_algs];
	size_t			 siglen = vs->siglen;
	EVP_MD_CTX		*md;
	int			 ok;

	if (tmpl == NULL || vs->toolong)
		return 0;
	if ((ok = jwt_sig_verify(k->sig, alg, vs->sig, vs->siglen, vs->input,
	    vs->inlen)) >= 0)
		goto out;
	if (alg->sig == JWT_SIG_ECDSA) {
		if (siglen != 2 * alg->half)
			return 0;
		siglen = jwt_verify_ecdsa_der(vs->sig, alg->half, der);
		sig = der;
	}
	if ((md = EVP_MD_CTX_new()) == NULL)
		fatalx("EVP_MD_CTX_new failed");
	ok = EVP_MD_CTX_copy_ex(md, tmpl) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, vs->input, vs->inlen) == 1;
	EVP_MD_CTX_free(md);
out:
	/* A failed check leaves errors behind, where TLS would read them. */
	if (!ok)
		ERR_clear_error();
	return ok;
}

/*
 * Check the signature with the keys named by the kid (all keys without
 * one) that fit the algorithm.  Returns the verified claims (a reference
 * to the token's payload, whose bytes were signed), or NULL with why
 * set; *unknown_kid tells that no key had the token's kid.
 */
static json_t *
jwt_verify_signature(const struct jwt_keyset *ks, const struct jwt_token *t,
    const struct jwt_alg *alg, int *unknown_kid, char *why, size_t len)
{
	const char		*kid = jwt_json_str(t->header, "kid");
	struct jwt_verify_sig	 vs;
	size_t			 i, named = 0, tried = 0;
	int			 verified = 0;

	*unknown_kid = 0;
	if (jwt_verify_sig_init(&vs, t) != 0) {
		snprintf(why, len, "malformed signed token");
		return NULL;
	}
	for (i = 0; i < ks->nkeys && !verified; i++) {
		if (kid != NULL && (ks->keys[i].kid == NULL ||
		    strcmp(kid, ks->keys[i].kid) != 0))
			continue;
		named++;
		if (!jwt_verify_key_fits(&ks->keys[i], alg))
			continue;
		tried++;
		verified = jwt_verify_with(&ks->keys[i], alg, &vs);
	}
	if (verified && json_is_object(t->unverified))
		return json_incref(t->unverified);
	if (verified)
		snprintf(why, len, "claims are not JSON");
	else if (tried > 0)
		snprintf(why, len, "signature does not verify");
	else if (named == 0) {
		*unknown_kid = kid != NULL;
		snprintf(why, len, kid != NULL ? "unknown key id" :
		    "no signing key");
	} else
		snprintf(why, len, "key type does not match alg %s", alg->name);
	return NULL;
}

/* ---------------------------------------------------------------- claims */

/* Token audiences as a list; -1 if aud is missing or malformed. */
static int
jwt_verify_aud_list(json_t *claims, struct strvec *out)
{
	json_t	*aud, *v;
	size_t	 i;

	aud = json_object_get(claims, "aud");
	if (json_is_string(aud)) {
		strvec_add(out, json_string_value(aud));
		return 0;
	}
	if (!json_is_array(aud) || json_array_size(aud) == 0)
		return -1;
	json_array_foreach(aud, i, v) {
		if (!json_is_string(v))
			return -1;
		strvec_add(out, json_string_value(v));
	}
	return 0;
}

static int
jwt_verify_in_list(char *const *list, size_t n, const char *s)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (strcmp(list[i], s) == 0)
			return 1;
	}
	return 0;
}

/*
 * An OIDC issuer, and a service-account issuer that is not
 * audience-aware, accept a token whose aud holds one of the configured
 * audiences and answer without status.audiences.  An audience-aware
 * issuer intersects aud with the review's audiences (the configured ones
 * when the review names none) and answers with the intersection; an
 * empty one is "not for this audience".
 */
enum jwt_verify_rv
jwt_verify_audiences(const struct jwt_check *c, json_t *claims,
    char **audiences_json, char *why, size_t len)
{
	const struct jwt_issuer	*is = c->is;
	struct strvec		 aud = STRVEC_INITIALIZER;
	json_t			*inter = NULL;
	char			*const *want = is->audiences;
	size_t			 nwant = is->naudiences, i;
	enum jwt_verify_rv	 rv = JWT_VERIFY_INVALID;

	*audiences_json = NULL;
	if (jwt_verify_aud_list(claims, &aud) != 0) {
		snprintf(why, len, "aud missing or not a string or list of "
		    "strings");
		goto out;
	}
	if (is->audience_aware && c->naudiences > 0) {
		want = c->audiences;
		nwant = c->naudiences;
	}
	inter = json_array();
	for (i = 0; i < aud.n; i++) {
		if (jwt_verify_in_list(want, nwant, aud.v[i]))
			json_array_append_new(inter, json_string(aud.v[i]));
	}
	if (json_array_size(inter) == 0) {
		snprintf(why, len, "token audience not accepted");
		rv = is->audience_aware ? JWT_VERIFY_AUDIENCE :
		    JWT_VERIFY_INVALID;
		goto out;
	}
	if (is->audience_aware && c->naudiences > 0)
		*audiences_json = json_dumps(inter, JSON_COMPACT);
	rv = JWT_VERIFY_OK;
out:
	json_decref(inter);
	strvec_free(&aud);
	return rv;
}

static enum jwt_verify_time
jwt_verify_claim_time(json_t *claims, const char *name, double *t)
{
	json_t	*v;

	if ((v = json_object_get(claims, name)) == NULL)
		return JWT_TIME_ABSENT;
	if (!json_is_number(v))
		return JWT_TIME_BAD;
	*t = json_number_value(v);
	return JWT_TIME_NUMBER;
}

/*
 * exp is required: no leeway for OIDC (kube-apiserver's OIDC rule),
 * clock_skew for service accounts.  nbf may be clock_skew ahead; iat is
 * checked for service accounts only, as kube-apiserver does.
 */
int
jwt_verify_times(const struct jwt_check *c, json_t *claims, double *exp,
    char *why, size_t len)
{
	const struct jwt_issuer	*is = c->is;
	enum jwt_verify_time	 r;
	double			 skew = (double)is->skew / 1000, t;

	if (jwt_verify_claim_time(claims, "exp", exp) != JWT_TIME_NUMBER) {
		snprintf(why, len, "exp missing or not a number");
		return -1;
	}
	if (c->now > *exp + (is->type == JWT_SERVICEACCOUNT ? skew : 0)) {
		snprintf(why, len, "token expired");
		return -1;
	}
	if ((r = jwt_verify_claim_time(claims, "nbf", &t)) == JWT_TIME_BAD ||
	    (r == JWT_TIME_NUMBER && t > c->now + skew)) {
		snprintf(why, len, r == JWT_TIME_BAD ? "nbf is not a number" :
		    "token not valid yet (nbf)");
		return -1;
	}
	if (is->type == JWT_SERVICEACCOUNT &&
	    ((r = jwt_verify_claim_time(claims, "iat", &t)) == JWT_TIME_BAD ||
	    (r == JWT_TIME_NUMBER && t > c->now + skew))) {
		snprintf(why, len, r == JWT_TIME_BAD ? "iat is not a number" :
		    "token issued in the future (iat)");
		return -1;
	}
	return 0;
}

static int
jwt_verify_required(const struct jwt_issuer *is, json_t *claims, char *why,
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
		v = jwt_json_str(claims, name);
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

/* Take the strings of vals as the values of extra key. */
static void
jwt_verify_user_extra(struct jwt_user *u, const char *key,
    struct strvec *vals)
{
	strvec_add(&u->extra_keys, key);
	u->extra_values = xreallocarray(u->extra_values, u->nextra + 2,
	    sizeof(*u->extra_values));
	u->extra_values[u->nextra++] = strvec_take(vals);
	u->extra_values[u->nextra] = NULL;
}

static void
jwt_verify_user_extra1(struct jwt_user *u, const char *key, const char *val)
{
	struct strvec	l = STRVEC_INITIALIZER;

	strvec_add(&l, val);
	jwt_verify_user_extra(u, key, &l);
}

static void
jwt_verify_user_clear(struct jwt_user *u)
{
	size_t	i, j;

	free(u->username);
	free(u->uid);
	strvec_free(&u->groups);
	strvec_free(&u->extra_keys);
	for (i = 0; i < u->nextra; i++) {
		for (j = 0; u->extra_values[i][j] != NULL; j++)
			free(u->extra_values[i][j]);
		free(u->extra_values[i]);
	}
	free(u->extra_values);
}

/* A string or a list of strings, each prefixed; -1 on another type. */
static int
jwt_verify_claim_strings(json_t *v, const char *prefix,
    struct strvec *out)
{
	json_t	*e;
	size_t	 i;

	if (json_is_string(v)) {
		strvec_add_take(out, xstrcat2(prefix, json_string_value(v)));
		return 0;
	}
	if (!json_is_array(v))
		return -1;
	json_array_foreach(v, i, e) {
		if (!json_is_string(e))
			return -1;
		if (*json_string_value(e) == '\0')
			continue;
		strvec_add_take(out, xstrcat2(prefix, json_string_value(e)));
	}
	return 0;
}

/* kube-apiserver: email_verified, when present, must be boolean true. */
static int
jwt_verify_email(json_t *claims, char *why, size_t len)
{
	json_t	*v = json_object_get(claims, "email_verified");

	if (v != NULL && !json_is_true(v)) {
		snprintf(why, len, "email not verified");
		return -1;
	}
	return 0;
}

/* Append n bytes of p to the NUL-terminated string *s of length *len. */
static void
jwt_verify_append(char **s, size_t *len, const char *p, size_t n)
{
	*s = xreallocarray(*s, *len + n + 1, 1);
	memcpy(*s + *len, p, n);
	*len += n;
	(*s)[*len] = '\0';
}

/* The user name of username_template; its {claim}s are well-formed. */
static int
jwt_verify_template(const struct jwt_issuer *is, json_t *claims,
    struct jwt_user *u, char *why, size_t len)
{
	const char	*p = is->username_template, *open, *close, *v;
	char		*name, *s = NULL;
	size_t		 slen = 0;

	jwt_verify_append(&s, &slen, "", 0);
	while ((open = strchr(p, '{')) != NULL) {
		close = strchr(open, '}');
		jwt_verify_append(&s, &slen, p, (size_t)(open - p));
		name = xstrndup(open + 1, (size_t)(close - open - 1));
		v = jwt_json_str(claims, name);
		if (v == NULL)
			snprintf(why, len, "claim %.40s missing or not a "
			    "string", name);
		else if (strcmp(name, "email") == 0 &&
		    jwt_verify_email(claims, why, len) != 0)
			v = NULL;
		free(name);
		if (v == NULL) {
			free(s);
			return -1;
		}
		jwt_verify_append(&s, &slen, v, strlen(v));
		p = close + 1;
	}
	jwt_verify_append(&s, &slen, p, strlen(p));
	u->username = s;
	return 0;
}

static int
jwt_verify_username(const struct jwt_issuer *is, json_t *claims,
    struct jwt_user *u, char *why, size_t len)
{
	const char	*v;

	if (is->username_template != NULL) {
		if (jwt_verify_template(is, claims, u, why, len) != 0)
			return -1;
	} else {
		if ((v = jwt_json_str(claims, is->username_claim)) == NULL) {
			snprintf(why, len, "username claim %.40s missing or "
			    "not a string", is->username_claim);
			return -1;
		}
		if (strcmp(is->username_claim, "email") == 0 &&
		    jwt_verify_email(claims, why, len) != 0)
			return -1;
		u->username = xstrcat2(is->username_prefix, v);
	}
	if (*u->username == '\0') {
		snprintf(why, len, "empty username");
		return -1;
	}
	return 0;
}

/* The extra.KEY = claim mappings of an OIDC issuer. */
static int
jwt_verify_extra(const struct jwt_issuer *is, json_t *claims,
    struct jwt_user *u, char *why, size_t len)
{
	struct strvec		 vals = STRVEC_INITIALIZER;
	json_t			*v;
	size_t			 i;

	for (i = 0; i < is->nextra; i++) {
		if ((v = json_object_get(claims, is->extra[i].claim)) == NULL)
			continue;
		if (jwt_verify_claim_strings(v, "", &vals) != 0) {
			strvec_free(&vals);
			snprintf(why, len, "extra claim %.40s is not a string "
			    "or list of strings", is->extra[i].claim);
			return -1;
		}
		if (vals.n > 0)
			jwt_verify_user_extra(u, is->extra[i].key, &vals);
		strvec_free(&vals);
	}
	return 0;
}

/*
 * The uid and extra of a token of the built-in issuer, as its signer
 * wrote them: "uid" when the directory gave one, "extra" an object of
 * strings or lists of strings.
 */
static int
jwt_verify_login_user(json_t *claims, struct jwt_user *u, char *why,
    size_t len)
{
	struct strvec	 vals = STRVEC_INITIALIZER;
	json_t		*uid, *extra, *v;
	const char	*key;

	if ((uid = json_object_get(claims, "uid")) != NULL) {
		if (!json_is_string(uid)) {
			snprintf(why, len, "uid claim is not a string");
			return -1;
		}
		u->uid = xstrdup(json_string_value(uid));
	}
	if ((extra = json_object_get(claims, "extra")) == NULL)
		return 0;
	if (!json_is_object(extra)) {
		snprintf(why, len, "extra claim is not an object");
		return -1;
	}
	json_object_foreach(extra, key, v) {
		if (strcmp(key, JWT_CRED_ID) == 0)
			continue;	/* the jti's, below */
		if (jwt_verify_claim_strings(v, "", &vals) != 0) {
			strvec_free(&vals);
			snprintf(why, len, "extra %.40s is not a string or "
			    "list of strings", key);
			return -1;
		}
		if (vals.n > 0)
			jwt_verify_user_extra(u, key, &vals);
		strvec_free(&vals);
	}
	return 0;
}

static int
jwt_verify_oidc(const struct jwt_issuer *is, json_t *claims,
    struct jwt_user *u, char *why, size_t len)
{
	json_t	*v;

	if (jwt_verify_username(is, claims, u, why, len) != 0)
		return -1;
	if (is->groups_claim != NULL &&
	    (v = json_object_get(claims, is->groups_claim)) != NULL &&
	    jwt_verify_claim_strings(v, is->groups_prefix, &u->groups) != 0) {
		snprintf(why, len, "groups claim %.40s is not a string or "
		    "list of strings", is->groups_claim);
		return -1;
	}
	if (is->login != NULL)
		return jwt_verify_login_user(claims, u, why, len);
	if (is->uid_claim != NULL) {
		if (jwt_json_str(claims, is->uid_claim) == NULL) {
			snprintf(why, len, "uid claim %.40s missing or not a "
			    "string", is->uid_claim);
			return -1;
		}
		u->uid = xstrdup(jwt_json_str(claims, is->uid_claim));
	}
	return jwt_verify_extra(is, claims, u, why, len);
}

/* A group of the system: namespace left out: the caller is told. */
static void
jwt_verify_group_dropped(const char *name, enum names_kind kind, void *arg)
{
	const struct jwt_check	*c = arg;

	c->names_cb(JWT_NAME_GROUP, name, kind, c->arg);
}

/*
 * The names.c rules on an OIDC user: groups in the system: namespace are
 * dropped; a user name in it refuses the token with an error (as
 * kube-apiserver's userValidationRules would), never a silent rename.
 */
static int
jwt_verify_system_names(const struct jwt_check *c, struct jwt_user *u,
    char *why, size_t len)
{
	const struct jwt_issuer	*is = c->is;
	enum names_kind		 kind;

	if ((kind = names_kind(u->username)) != NAMES_PLAIN &&
	    !is->allow_system_names) {
		if (c->names_cb != NULL)
			c->names_cb(JWT_NAME_USER, u->username, kind, c->arg);
		snprintf(why, len, "user name \"%.64s\" is in the system: "
		    "namespace", u->username);
		return -1;
	}
	u->groups.n -= names_filter_groups(u->groups.v,
	    is->allow_system_names, c->names_cb != NULL ?
	    jwt_verify_group_dropped : NULL, (void *)c);
	return 0;
}

/* "kubernetes.io".<obj>.<key> as a non-empty string, or NULL. */
static const char *
jwt_verify_k8s_claim(json_t *claims, const char *obj, const char *key)
{
	json_t		*k = json_object_get(claims, "kubernetes.io");
	const char	*s;

	if (obj != NULL)
		k = json_object_get(k, obj);
	s = jwt_json_str(k, key);
	return s != NULL && *s != '\0' ? s : NULL;
}

/* The pod and node a bound service-account token names, as extra. */
static void
jwt_verify_sa_extra(json_t *claims, struct jwt_user *u)
{
	const char	*pn, *pu, *nn, *nu;

	pn = jwt_verify_k8s_claim(claims, "pod", "name");
	pu = jwt_verify_k8s_claim(claims, "pod", "uid");
	if (pn != NULL && pu != NULL) {
		jwt_verify_user_extra1(u,
		    "authentication.kubernetes.io/pod-name", pn);
		jwt_verify_user_extra1(u,
		    "authentication.kubernetes.io/pod-uid", pu);
	}
	nn = jwt_verify_k8s_claim(claims, "node", "name");
	nu = jwt_verify_k8s_claim(claims, "node", "uid");
	if (nn != NULL) {
		jwt_verify_user_extra1(u,
		    "authentication.kubernetes.io/node-name", nn);
		if (nu != NULL)
			jwt_verify_user_extra1(u,
			    "authentication.kubernetes.io/node-uid", nu);
	}
}

/* The identity kube-apiserver gives a bound service-account token. */
static int
jwt_verify_serviceaccount(json_t *claims, struct jwt_user *u, char *why,
    size_t len)
{
	const char	*ns, *name, *uid, *sub;
	char		*group;

	ns = jwt_verify_k8s_claim(claims, NULL, "namespace");
	name = jwt_verify_k8s_claim(claims, "serviceaccount", "name");
	uid = jwt_verify_k8s_claim(claims, "serviceaccount", "uid");
	if (ns == NULL || name == NULL || uid == NULL) {
		snprintf(why, len, "not a bound service-account token "
		    "(kubernetes.io claims missing)");
		return -1;
	}
	xasprintf(&u->username, JWT_SA_PREFIX "%s:%s", ns, name);
	if ((sub = jwt_json_str(claims, "sub")) != NULL &&
	    strcmp(sub, u->username) != 0) {
		snprintf(why, len, "sub does not match the service account");
		return -1;
	}
	u->uid = xstrdup(uid);
	strvec_add(&u->groups, "system:serviceaccounts");
	xasprintf(&group, "system:serviceaccounts:%s", ns);
	strvec_add_take(&u->groups, group);
	jwt_verify_sa_extra(claims, u);
	return 0;
}

/* ---------------------------------------------------------------- verdict */

/*
 * How long a verified token may be cached: no longer than it lives, at
 * least 1 ms.  exp is any number the signer chose (9.3e15 or 1e300 are
 * valid JSON): the lifetime is clamped in seconds, to JWT_MAX_CACHE_S,
 * before it is turned into milliseconds, which would overflow.
 */
long long
auth_jwt_cache_ms(double exp, double now)
{
	double	s = exp - now;

	if (!(s > 0.001))		/* also NaN */
		return 1;
	if (s > (double)JWT_MAX_CACHE_S)
		s = (double)JWT_MAX_CACHE_S;
	return (long long)(s * 1000);
}

/* The user of verified claims, by the issuer's type. */
static int
jwt_verify_map(const struct jwt_check *c, json_t *claims,
    struct jwt_user *u, char *why, size_t len)
{
	const char	*jti;
	char		*cred;

	if (c->is->type == JWT_SERVICEACCOUNT ?
	    jwt_verify_serviceaccount(claims, u, why, len) != 0 :
	    (jwt_verify_oidc(c->is, claims, u, why, len) != 0 ||
	    jwt_verify_system_names(c, u, why, len) != 0))
		return -1;
	if ((jti = jwt_json_str(claims, "jti")) != NULL && *jti != '\0') {
		cred = xstrcat2("JTI=", jti);
		jwt_verify_user_extra1(u, JWT_CRED_ID, cred);
		free(cred);
	}
	return 0;
}

void
jwt_verify_claims(const struct jwt_check *c, json_t *claims,
    struct jwt_verdict *v)
{
	struct jwt_user	 u;
	const char	*iss;
	double		 exp;

	memset(v, 0, sizeof(*v));
	memset(&u, 0, sizeof(u));
	v->rv = JWT_VERIFY_INVALID;
	if ((iss = jwt_json_str(claims, "iss")) == NULL ||
	    strcmp(iss, c->is->issuer) != 0) {
		snprintf(v->why, sizeof(v->why), "iss does not match");
		return;
	}
	if ((v->rv = jwt_verify_audiences(c, claims, &v->audiences_json,
	    v->why, sizeof(v->why))) != JWT_VERIFY_OK)
		return;
	v->rv = JWT_VERIFY_INVALID;
	if (jwt_verify_times(c, claims, &exp, v->why, sizeof(v->why)) != 0 ||
	    jwt_verify_required(c->is, claims, v->why, sizeof(v->why)) != 0 ||
	    jwt_verify_map(c, claims, &u, v->why, sizeof(v->why)) != 0) {
		free(v->audiences_json);
		v->audiences_json = NULL;
		goto out;
	}
	v->username = xstrdup(u.username);
	v->user_json = auth_user_json(u.username, u.uid, u.groups.v,
	    u.extra_keys.v, (char *const *const *)u.extra_values);
	v->max_ttl = auth_jwt_cache_ms(exp, c->now);
	v->rv = JWT_VERIFY_OK;
out:
	jwt_verify_user_clear(&u);
}

void
jwt_verify(const struct jwt_check *c, const struct jwt_token *t,
    struct jwt_verdict *v)
{
	const struct jwt_alg	*alg;
	json_t			*claims;
	int			 unknown_kid;

	memset(v, 0, sizeof(*v));
	v->rv = JWT_VERIFY_INVALID;
	if (t->len > c->is->max_token) {
		snprintf(v->why, sizeof(v->why), "token larger than %zu bytes",
		    c->is->max_token);
		return;
	}
	if ((alg = jwt_verify_header(c->is, t->header, v->why,
	    sizeof(v->why))) == NULL)
		return;
	if (c->ks == NULL || c->ks->nkeys == 0) {
		snprintf(v->why, sizeof(v->why), "no signing keys for this "
		    "issuer yet");
		v->rv = JWT_VERIFY_NO_KEY;
		return;
	}
	if ((claims = jwt_verify_signature(c->ks, t, alg, &unknown_kid,
	    v->why, sizeof(v->why))) == NULL) {
		if (unknown_kid)
			v->rv = JWT_VERIFY_NO_KEY;
		return;
	}
	jwt_verify_claims(c, claims, v);
	json_decref(claims);
}

void
jwt_verify_verdict_clear(struct jwt_verdict *v)
{
	free(v->username);
	free(v->user_json);
	free(v->audiences_json);
	memset(v, 0, sizeof(*v));
}
