/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the JWT backend with keys from files: tokens are signed
 * here with OpenSSL (RS256, PS256, ES256, and the forged kinds: HS256 with
 * the issuer's public key as the secret, alg none, tampered parts, wrong
 * key type, unknown kid) and reviewed through the backend's load and
 * authenticate.  Covers the OIDC and service-account conformance cases
 * 37-50 at unit level, the claim mappings, every refusal, groups and user
 * names in the system: namespace (names.c's rules, allow_system_names),
 * and the config errors of [jwt "NAME"] sections.  jwt-verify.c's pure
 * functions are also called directly, at a fixed time: algorithm
 * refusal, audience lists, exp, nbf and iat with their leeway, the
 * claim mappings, and the signature check of every algorithm (RS, PS and
 * ES at 256, 384 and 512) with good and altered signatures, ES signatures
 * of the wrong length or in DER, PSS salts of other lengths, and keys of
 * another type or curve than the algorithm's.  The built-in issuer of
 * [login]: its keys under their RFC 7638 kids (jwt_keys_add_pkey()),
 * previous keys, uid and extra as signed, and the config errors of its
 * issuer URL and name.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "tokenreviewd.h"
#include "jwt-int.h"
#include "login.h"
#include "tap.h"

static char		 dir[] = "/tmp/tokenreviewd-jwt.XXXXXX";
static EVP_PKEY		*rsa1, *rsa2, *ec1, *ec384, *ec521, *sakey;
static void		*shared, *inst;
static struct config	*conf;
static long long	 now;
static const char	*hmac_secret = "secret";
static int		 pss_saltlen = RSA_PSS_SALTLEN_DIGEST;
static int		 ecdsa_der;	/* ES signatures left in DER */

/* ---------------------------------------------------------------- helpers */

static char *
b64url(const unsigned char *in, size_t n)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	char			*out = xmalloc(n * 4 / 3 + 4);
	unsigned int		 acc = 0;
	size_t			 i, o = 0;
	int			 bits = 0;

	for (i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		for (bits += 8; bits >= 6; bits -= 6)
			out[o++] = tab[(acc >> (bits - 6)) & 63];
	}
	if (bits > 0)
		out[o++] = tab[(acc << (6 - bits)) & 63];
	out[o] = '\0';
	return out;
}

static void
write_file(const char *name, const char *data)
{
	char	path[256];
	int	fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd == -1 || write(fd, data, strlen(data)) != (ssize_t)strlen(data))
		fatal("write %s", path);
	close(fd);
}

static EVP_PKEY *
gen_rsa(void)
{
	EVP_PKEY	*k = EVP_RSA_gen(2048);

	if (k == NULL)
		fatalx("RSA keygen");
	return k;
}

static EVP_PKEY *
gen_ec(const char *curve)
{
	EVP_PKEY	*k = EVP_EC_gen(curve);

	if (k == NULL)
		fatalx("EC keygen");
	return k;
}

static char *
bn_param(EVP_PKEY *k, const char *name, int pad)
{
	unsigned char	 buf[600];
	BIGNUM		*bn = NULL;
	int		 n;

	if (!EVP_PKEY_get_bn_param(k, name, &bn))
		fatalx("param %s", name);
	n = BN_bn2binpad(bn, buf, pad > 0 ? pad : BN_num_bytes(bn));
	BN_free(bn);
	return b64url(buf, (size_t)n);
}

/* A public JWK of key k with kid and (optional) alg. */
static json_t *
jwk_of(EVP_PKEY *k, const char *kid, const char *alg)
{
	json_t	*j;
	char	*a, *b;

	if (EVP_PKEY_is_a(k, "RSA")) {
		a = bn_param(k, OSSL_PKEY_PARAM_RSA_N, 0);
		b = bn_param(k, OSSL_PKEY_PARAM_RSA_E, 0);
		j = json_pack("{s:s,s:s,s:s,s:s}", "kty", "RSA", "n", a,
		    "e", b, "kid", kid);
	} else {
		int	bits = EVP_PKEY_get_bits(k), size = (bits + 7) / 8;

		a = bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, size);
		b = bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, size);
		j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "kty", "EC", "crv",
		    bits == 256 ? "P-256" : bits == 384 ? "P-384" : "P-521",
		    "x", a, "y", b, "kid", kid);
	}
	if (alg != NULL)
		json_object_set_new(j, "alg", json_string(alg));
	free(a);
	free(b);
	return j;
}

static char *
pub_pem(EVP_PKEY *k)
{
	BIO	*bio = BIO_new(BIO_s_mem());
	char	*p, *s;
	long	 n;

	PEM_write_bio_PUBKEY(bio, k);
	n = BIO_get_mem_data(bio, &p);
	s = xstrndup(p, (size_t)n);
	BIO_free(bio);
	return s;
}

/* Raw r||s of an ECDSA DER signature, as JWS wants it. */
static size_t
ecdsa_raw(const unsigned char *der, size_t len, unsigned char *out, int half)
{
	ECDSA_SIG	*sig = d2i_ECDSA_SIG(NULL, &der, (long)len);
	const BIGNUM	*r, *s;

	ECDSA_SIG_get0(sig, &r, &s);
	BN_bn2binpad(r, out, half);
	BN_bn2binpad(s, out + half, half);
	ECDSA_SIG_free(sig);
	return (size_t)(2 * half);
}

/* Sign input with alg and key (or the HMAC secret); signature to sig. */
static size_t
sign_input(const char *alg, EVP_PKEY *key, const char *secret,
    const char *input, unsigned char *sig)
{
	unsigned char	 der[1024];
	unsigned int	 hlen;
	size_t		 len = sizeof(der);
	EVP_MD_CTX	*md;
	EVP_PKEY_CTX	*pctx;

	if (strcmp(alg, "none") == 0)
		return 0;
	if (strcmp(alg, "HS256") == 0) {
		HMAC(EVP_sha256(), secret, (int)strlen(secret),
		    (const unsigned char *)input, strlen(input), sig, &hlen);
		return hlen;
	}
	md = EVP_MD_CTX_new();
	EVP_DigestSignInit(md, &pctx, strcmp(alg + 2, "384") == 0 ?
	    EVP_sha384() : strcmp(alg + 2, "512") == 0 ? EVP_sha512() :
	    EVP_sha256(), NULL, key);
	if (alg[0] == 'P') {
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, pss_saltlen);
	}
	if (EVP_DigestSign(md, alg[0] == 'E' ? der : sig, &len,
	    (const unsigned char *)input, strlen(input)) != 1)
		fatalx("sign %s", alg);
	EVP_MD_CTX_free(md);
	if (alg[0] == 'E' && !ecdsa_der)
		len = ecdsa_raw(der, len, sig, strcmp(alg, "ES384") == 0 ?
		    48 : strcmp(alg, "ES512") == 0 ? 66 : 32);
	else if (alg[0] == 'E')
		memcpy(sig, der, len);
	return len;
}

/* A compact JWS over claims (taken) with the given header fields. */
static char *
sign(const char *alg, EVP_PKEY *key, const char *kid, json_t *claims)
{
	json_t		*hdr;
	char		*h, *p, *hs, *ps, *input, *ss, *tok;
	unsigned char	 sig[1024];
	size_t		 n;

	hdr = json_pack("{s:s,s:s}", "alg", alg, "typ", "JWT");
	if (kid != NULL)
		json_object_set_new(hdr, "kid", json_string(kid));
	h = json_dumps(hdr, JSON_COMPACT);
	p = json_dumps(claims, JSON_COMPACT);
	hs = b64url((unsigned char *)h, strlen(h));
	ps = b64url((unsigned char *)p, strlen(p));
	xasprintf(&input, "%s.%s", hs, ps);
	n = sign_input(alg, key, hmac_secret, input, sig);
	ss = b64url(sig, n);
	xasprintf(&tok, "%s.%s", input, ss);
	free(h);
	free(p);
	free(hs);
	free(ps);
	free(input);
	free(ss);
	json_decref(hdr);
	json_decref(claims);
	return tok;
}

/* Claims: base with changes applied (a null value removes the claim). */
static json_t *
claims(const char *base, const char *changes)
{
	json_t	*c, *d, *v;
	const char *k;

	c = json_loads(base, 0, NULL);
	if (changes != NULL) {
		if ((d = json_loads(changes, 0, NULL)) == NULL)
			fatalx("bad test JSON %s", changes);
		json_object_foreach(d, k, v) {
			if (json_is_null(v))
				json_object_del(c, k);
			else
				json_object_set(c, k, v);
		}
		json_decref(d);
	}
	return c;
}

/* J(): the fixture's OIDC claims (conformance list), with changes. */
static json_t *
J(const char *changes)
{
	char	base[256];

	snprintf(base, sizeof(base), "{\"iss\":\"https://idp.test\","
	    "\"aud\":\"kubernetes\",\"exp\":%lld,\"tenant\":\"blue\","
	    "\"email\":\"jane@test\",\"sub\":\"u1\"}", now + 300);
	return claims(base, changes);
}

/* S(): a bound service-account token of payments/api on pod api-1. */
static json_t *
S(const char *iss, const char *changes)
{
	char	base[1024];

	snprintf(base, sizeof(base), "{\"iss\":\"%s\","
	    "\"aud\":[\"https://kubernetes.default.svc\"],"
	    "\"exp\":%lld,\"iat\":%lld,\"nbf\":%lld,"
	    "\"jti\":\"6f1d0c3e\",\"sub\":\"system:serviceaccount:payments:api\","
	    "\"kubernetes.io\":{\"namespace\":\"payments\","
	    "\"serviceaccount\":{\"name\":\"api\",\"uid\":\"sa-uid\"},"
	    "\"pod\":{\"name\":\"api-1\",\"uid\":\"pod-uid\"}}}",
	    iss, now + 3600, now, now);
	return claims(base, changes);
}

static struct auth_result res;

/* Review a token (freed) with NULL or a NULL-terminated audience list. */
static enum auth_rv
review_auds(char *tok, char **auds)
{
	struct auth_req	req;
	enum auth_rv	rv;

	auth_result_clear(&res);
	memset(&req, 0, sizeof(req));
	req.token = tok;
	req.token_len = strlen(tok);
	req.audiences = auds;
	for (req.naudiences = 0; auds != NULL && auds[req.naudiences];)
		req.naudiences++;
	strlcpy(req.token_fp, "test", sizeof(req.token_fp));
	rv = auth_jwt_backend.authenticate(inst, &req, &res, NULL);
	free(tok);
	return rv;
}

static enum auth_rv
review(char *tok)
{
	return review_auds(tok, NULL);
}

#define is_ok(tok, user, ...) do {					\
	enum auth_rv r_ = review(tok);					\
	ok(r_ == AUTH_OK, __VA_ARGS__);					\
	if (r_ != AUTH_OK)						\
		diag("rv %d error %s", r_, res.error ? res.error : "-"); \
	is_str(res.user_json, user, "  user");				\
} while (0)

#define is_err(tok, why, ...) do {					\
	enum auth_rv r_ = review(tok);					\
	ok(r_ == AUTH_ERROR && res.error != NULL &&			\
	    strstr(res.error, why) != NULL && res.user_json == NULL,	\
	    __VA_ARGS__);						\
	if (r_ != AUTH_ERROR || res.error == NULL ||			\
	    strstr(res.error, why) == NULL)				\
		diag("rv %d error %s, want %s", r_,			\
		    res.error ? res.error : "-", why);			\
} while (0)

#define JANE	"{\"username\":\"jane@test\"}"

/* ---------------------------------------------------------------- setup */

static void
setup_keys(void)
{
	json_t	*jwks;
	char	*s, *pem;

	rsa1 = gen_rsa();
	rsa2 = gen_rsa();
	ec1 = gen_ec("P-256");
	ec384 = gen_ec("P-384");
	ec521 = gen_ec("P-521");
	sakey = gen_ec("P-256");
	jwks = json_pack("{s:[o,o,o,{s:s,s:s,s:s}]}", "keys",
	    jwk_of(rsa1, "rsa1", NULL), jwk_of(ec1, "ec1", "ES256"),
	    jwk_of(ec384, "ec384", NULL), "kty", "oct", "kid", "hmac",
	    "k", "c2VjcmV0");
	s = json_dumps(jwks, JSON_INDENT(1));
	write_file("jwks.json", s);
	free(s);
	json_decref(jwks);
	pem = pub_pem(sakey);
	write_file("sa.pem", pem);
	free(pem);
	write_file("rsa1.pem", (pem = pub_pem(rsa1)));
	free(pem);
	write_file("garbage.json", "{\"keys\": 7}");
}

static const char *conf_text =
	"[server]\ntls_cert = /x\ntls_key = /x\n\n"
	"[jwt \"idp\"]\n"
	"issuer = https://idp.test\n"
	"audiences = kubernetes\n"
	"algorithms = RS256 ES256 PS256\n"
	"username_claim = email\n"
	"groups_claim = groups\n"
	"groups_prefix = oidc:\n"
	"required_claims = tenant=blue\n"
	"jwks_file = %1$s/jwks.json\n\n"
	"[jwt \"idp2\"]\n"
	"type = oidc\n"
	"issuer = https://idp2.test\n"
	"audiences = k8s other\n"
	"username_template = oidc:{email}/{sub}\n"
	"uid_claim = sub\n"
	"extra.example.org/tenant = tenant\n"
	"max_token_size = 1k\n"
	"jwks_file = %1$s/jwks.json\n\n"
	"[jwt \"idp3\"]\n"
	"issuer = https://idp3.test\n"
	"audiences = kubernetes\n"
	"groups_claim = roles\n"
	"public_key_file = %1$s/rsa1.pem\n\n"
	"[jwt \"idp4\"]\n"
	"issuer = https://idp4.test\n"
	"audiences = kubernetes\n"
	"username_claim = sub\n"
	"username_prefix = -\n"
	"groups_claim = groups\n"
	"allow_system_names = yes\n"
	"public_key_file = %1$s/rsa1.pem\n\n"
	"[jwt \"cluster-b\"]\n"
	"type = serviceaccount\n"
	"issuer = https://cluster-b.test\n"
	"audiences = https://kubernetes.default.svc\n"
	"public_key_file = %1$s/sa.pem\n\n"
	"[jwt \"cluster-c\"]\n"
	"type = serviceaccount\n"
	"issuer = https://cluster-c.test\n"
	"audiences = x\n"
	"audience_aware = yes\n"
	"clock_skew = 10s\n"
	"public_key_file = %1$s/sa.pem\n";

/* Load text (a format with %1$s for the directory) as a config. */
static int
load(const char *text, void **out, char *err, size_t errlen)
{
	char		 path[256], *body;
	struct config	*c;
	int		 r;

	snprintf(path, sizeof(path), "%s/tokenreviewd.conf", dir);
	xasprintf(&body, text, dir);
	write_file("tokenreviewd.conf", body);
	free(body);
	if ((c = config_load(path, err, errlen)) == NULL)
		return -1;
	r = auth_jwt_backend.load(c, out, err, errlen);
	if (out == &shared)
		conf = c;
	else
		config_free(c);
	return r;
}

/* ---------------------------------------------------------------- tests */

static void
test_oidc(void)
{
	char	*key;

	is_ok(sign("RS256", rsa1, "rsa1", J("{\"groups\":[\"dev\"]}")),
	    "{\"username\":\"jane@test\",\"groups\":[\"oidc:dev\"]}",
	    "case 37: RS256 J(groups [dev]) -> jane@test, oidc:dev");
	ok(res.max_ttl > 290000 && res.max_ttl <= 300000,
	    "cached at most until exp (%lld ms)", res.max_ttl);
	ok(res.audiences_json == NULL, "case 37: no status.audiences");
	is_ok(sign("ES256", ec1, "ec1", J("{\"groups\":[\"dev\",\"ops\"]}")),
	    "{\"username\":\"jane@test\",\"groups\":[\"oidc:dev\","
	    "\"oidc:ops\"]}", "ES256 accepted");
	is_ok(sign("PS256", rsa1, "rsa1", J(NULL)), JANE,
	    "PS256 accepted where allowed");
	is_ok(sign("RS256", rsa1, NULL, J(NULL)), JANE,
	    "no kid: every key is tried");
	is_ok(sign("RS256", rsa1, "rsa1", J("{\"groups\":\"dev\"}")),
	    "{\"username\":\"jane@test\",\"groups\":[\"oidc:dev\"]}",
	    "case 38: groups as a string");
	is_err(sign("RS256", rsa1, "rsa1", J("{\"groups\":7}")),
	    "groups claim", "case 38: groups 7 -> error");
	is_ok(sign("RS256", rsa1, "rsa1", J("{\"groups\":null}")), JANE,
	    "no groups claim: no groups");

	xasprintf(&key, "{\"exp\":%lld}", now - 1);
	is_err(sign("RS256", rsa1, "rsa1", J(key)), "expired",
	    "case 39: exp now-1 -> error (no leeway)");
	free(key);
	is_err(sign("RS256", rsa1, "rsa1", J("{\"exp\":null}")),
	    "exp missing or not a number", "case 39: no exp -> error");
	is_err(sign("RS256", rsa1, "rsa1", J("{\"exp\":\"soon\"}")),
	    "exp missing or not a number", "exp a string -> error");
	xasprintf(&key, "{\"nbf\":%lld}", now + 30);
	is_ok(sign("RS256", rsa1, "rsa1", J(key)), JANE, "case 40: nbf now+30");
	free(key);
	xasprintf(&key, "{\"nbf\":%lld}", now + 90);
	is_err(sign("RS256", rsa1, "rsa1", J(key)), "nbf",
	    "case 40: nbf now+90 -> error");
	free(key);
	xasprintf(&key, "{\"iat\":%lld}", now + 900);
	is_ok(sign("RS256", rsa1, "rsa1", J(key)), JANE,
	    "iat is not checked for OIDC");
	free(key);
}

static void
test_routing(void)
{
	ok(review(sign("RS256", rsa1, "rsa1",
	    J("{\"iss\":\"https://other.test\"}"))) == AUTH_DENY &&
	    res.error == NULL, "case 41: unconfigured iss -> NO, no error");
	ok(review(sign("RS256", rsa1, "rsa1", J("{\"iss\":null}"))) ==
	    AUTH_DENY, "no iss -> NO");
	ok(review(sign("RS256", rsa1, "rsa1",
	    J("{\"iss\":\"https://idp.test/\"}"))) == AUTH_DENY,
	    "iss must match exactly (trailing slash) -> NO");
	ok(review(xstrdup("tokA")) == AUTH_DENY, "opaque token -> NO");
	ok(review(xstrdup("q8z1xk.4m0vaqgd7l2n9s1e")) == AUTH_DENY,
	    "bootstrap-shaped token -> NO");
	ok(review(xstrdup("a.b.c")) == AUTH_DENY, "three junk parts -> NO");
	ok(review(xstrdup("eyJhbGciOiJSUzI1NiJ9.e30.x.y")) == AUTH_DENY,
	    "four parts -> NO");
	ok(review(xstrdup("eyJhbGciOiJSUzI1NiJ9..x")) == AUTH_DENY,
	    "empty payload -> NO");
	ok(review(xstrdup("eyJhbGc+OiJSUzI1NiJ9.e30.x")) == AUTH_DENY,
	    "standard base64 -> NO");
	ok(review(xstrdup("WzFd.WzFd.x")) == AUTH_DENY,
	    "parts that are JSON but not objects -> NO");
}

/*
 * A token signed by rsa1 with a part changed: the signature (one
 * character), or the payload swapped for that of another signed token.
 */
static char *
tampered(int part)
{
	char	*t, *o, *p, *q, *r;

	t = sign("RS256", rsa1, "rsa1", J(NULL));
	if (part == 2) {
		p = strrchr(t, '.');
		p[10] = p[10] == 'A' ? 'B' : 'A';
		return t;
	}
	o = sign("RS256", rsa1, "rsa1", J("{\"email\":\"mallory@test\"}"));
	p = strchr(t, '.');
	q = strchr(o, '.');
	*strrchr(q + 1, '.') = '\0';
	*p = '\0';
	xasprintf(&r, "%s.%s%s", t, q + 1, strrchr(p + 1, '.'));
	free(t);
	free(o);
	return r;
}

static void
test_forgeries(void)
{
	char	*pem;

	is_err(sign("none", NULL, "rsa1", J(NULL)), "not allowed",
	    "case 42: alg none -> error");
	is_err(sign("none", NULL, NULL, J(NULL)), "not allowed",
	    "case 42: alg none without kid -> error");
	/* HS256 keyed with the public key: the classic confusion. */
	pem = pub_pem(rsa1);
	hmac_secret = pem;
	is_err(sign("HS256", NULL, "rsa1", J(NULL)), "not allowed",
	    "case 42: HS256 keyed with the issuer's public key -> error");
	hmac_secret = "secret";
	free(pem);
	is_err(tampered(2), "signature", "case 42: bad signature -> error");
	is_err(tampered(1), "signature",
	    "case 42: payload of another token -> error");
	ok(review(xstrdup("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJodHRwczovL2lkcC50"
	    "ZXN0In0.abcde")) == AUTH_DENY,
	    "signature of a length libcjose would abort on -> NO");
	is_err(sign("ES256", ec1, "rsa1", J(NULL)), "key type",
	    "ES256 with the kid of an RSA key -> key type error");
	is_err(sign("ES384", ec384, "ec384", J(NULL)), "not allowed",
	    "ES384 not in the allow-list");
	is_err(sign("RS256", rsa2, "rsa2", J(NULL)), "unknown key id",
	    "unknown kid -> error");
	is_err(sign("RS256", rsa2, "rsa1", J(NULL)), "signature",
	    "right kid, other key -> error");
	is_err(sign("RS256", rsa2, NULL, J(NULL)), "signature",
	    "no kid, no key verifies -> error");
	is_err(sign("RS256", rsa1, "hmac", J(NULL)), "unknown key id",
	    "a symmetric JWK is never used");
	is_err(sign("PS256", rsa1, "rsa1",
	    J("{\"iss\":\"https://idp2.test\",\"aud\":\"k8s\"}")),
	    "not allowed", "PS256 refused where not listed (default RS256 "
	    "ES256)");
}

static void
test_claims(void)
{
	char	big[2000], *c;

	is_err(sign("RS256", rsa1, "rsa1", J("{\"email_verified\":false}")),
	    "email not verified", "case 43: email_verified false -> error");
	is_err(sign("RS256", rsa1, "rsa1", J("{\"email_verified\":\"true\"}")),
	    "email not verified", "case 43: email_verified \"true\" -> error");
	is_ok(sign("RS256", rsa1, "rsa1", J("{\"email_verified\":true}")),
	    JANE, "case 43: email_verified true -> OK");
	is_err(sign("RS256", rsa1, "rsa1", J("{\"tenant\":\"red\"}")),
	    "tenant", "case 44: tenant red -> error");
	is_err(sign("RS256", rsa1, "rsa1", J("{\"tenant\":null}")),
	    "tenant", "case 44: tenant missing -> error");
	is_err(sign("RS256", rsa1, "rsa1", J("{\"tenant\":[\"blue\"]}")),
	    "tenant", "required claim must be a string");
	is_ok(sign("RS256", rsa1, "rsa1", J("{\"jti\":\"abc\"}")),
	    "{\"username\":\"jane@test\",\"extra\":{\"authentication."
	    "kubernetes.io/credential-id\":[\"JTI=abc\"]}}",
	    "case 46: jti -> credential-id extra");
	is_err(sign("RS256", rsa1, "rsa1", J("{\"email\":7}")),
	    "username claim", "username claim not a string -> error");
	is_err(sign("RS256", rsa1, "rsa1", J("{\"email\":\"\"}")),
	    "empty username", "empty username -> error");
	is_err(sign("RS256", rsa1, "rsa1", J("{\"aud\":\"other\"}")),
	    "audience", "case 47: aud other -> error");
	is_err(sign("RS256", rsa1, "rsa1", J("{\"aud\":null}")),
	    "aud", "no aud -> error");
	is_err(sign("RS256", rsa1, "rsa1", J("{\"aud\":[1]}")),
	    "aud", "aud [1] -> error");
	is_ok(sign("RS256", rsa1, "rsa1",
	    J("{\"aud\":[\"x\",\"kubernetes\"]}")), JANE,
	    "aud list with a configured audience -> OK");
	{
		char	*auds[] = { (char *)"https://kubernetes.default.svc",
		    NULL };

		ok(review_auds(sign("RS256", rsa1, "rsa1", J(NULL)), auds) ==
		    AUTH_OK && res.audiences_json == NULL,
		    "case 47: review audiences play no part for OIDC; no "
		    "status.audiences");
	}
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	xasprintf(&c, "{\"iss\":\"https://idp2.test\",\"aud\":\"k8s\","
	    "\"pad\":\"%s\"}", big);
	is_err(sign("RS256", rsa1, "rsa1", J(c)), "larger than 1024",
	    "oversized token (max_token_size) -> error");
	free(c);
}

static void
test_mappings(void)
{
	is_ok(sign("RS256", rsa1, "rsa1",
	    J("{\"iss\":\"https://idp2.test\",\"aud\":[\"other\"],"
	    "\"jti\":\"j1\"}")),
	    "{\"username\":\"oidc:jane@test/u1\",\"uid\":\"u1\",\"extra\":"
	    "{\"example.org/tenant\":[\"blue\"],\"authentication.kubernetes.io"
	    "/credential-id\":[\"JTI=j1\"]}}",
	    "username_template, uid_claim, extra.KEY, jti");
	is_err(sign("RS256", rsa1, "rsa1",
	    J("{\"iss\":\"https://idp2.test\",\"aud\":\"k8s\","
	    "\"email_verified\":false}")), "email not verified",
	    "template using {email} applies the email_verified rule");
	is_err(sign("RS256", rsa1, "rsa1",
	    J("{\"iss\":\"https://idp2.test\",\"aud\":\"k8s\","
	    "\"sub\":null}")), "sub",
	    "template claim missing -> error");
	is_err(sign("RS256", rsa1, "rsa1",
	    J("{\"iss\":\"https://idp2.test\",\"aud\":\"k8s\","
	    "\"tenant\":{}}")), "extra claim",
	    "extra claim of another type -> error");
	is_ok(sign("RS256", rsa1, "rsa1",
	    J("{\"iss\":\"https://idp2.test\",\"aud\":\"k8s\","
	    "\"tenant\":null}")),
	    "{\"username\":\"oidc:jane@test/u1\",\"uid\":\"u1\"}",
	    "extra claim absent -> key left out");
	is_ok(sign("RS256", rsa1, NULL,
	    J("{\"iss\":\"https://idp3.test\",\"roles\":[\"a\",\"\",\"b\"],"
	    "\"email_verified\":false}")),
	    "{\"username\":\"https://idp3.test#u1\",\"groups\":[\"a\",\"b\"]}",
	    "default: sub with the ISSUER# prefix, empty groups dropped; "
	    "key from a PEM file");
	is_ok(sign("RS256", rsa1, NULL,
	    J("{\"iss\":\"https://idp3.test\",\"tenant\":\"red\"}")),
	    "{\"username\":\"https://idp3.test#u1\"}",
	    "no required claims configured: tenant is free");
}

#define SA_USER "{\"username\":\"system:serviceaccount:payments:api\"," \
	"\"uid\":\"sa-uid\",\"groups\":[\"system:serviceaccounts\"," \
	"\"system:serviceaccounts:payments\"],\"extra\":{" \
	"\"authentication.kubernetes.io/pod-name\":[\"api-1\"]," \
	"\"authentication.kubernetes.io/pod-uid\":[\"pod-uid\"]," \
	"\"authentication.kubernetes.io/credential-id\":[\"JTI=6f1d0c3e\"]}}"

static void
test_serviceaccount(void)
{
	const char	*b = "https://cluster-b.test";
	char		*c;

	is_ok(sign("ES256", sakey, NULL, S(b, NULL)), SA_USER,
	    "case 48: S() -> system:serviceaccount:payments:api");
	xasprintf(&c, "{\"exp\":%lld}", now - 30);
	is_ok(sign("ES256", sakey, NULL, S(b, c)), SA_USER,
	    "case 49: exp now-30 -> OK (60 s leeway)");
	ok(res.max_ttl == 1, "expired within leeway: cached 1 ms at most");
	free(c);
	xasprintf(&c, "{\"exp\":%lld}", now - 90);
	is_err(sign("ES256", sakey, NULL, S(b, c)), "expired",
	    "case 49: exp now-90 -> error");
	free(c);
	xasprintf(&c, "{\"iat\":%lld}", now + 90);
	is_err(sign("ES256", sakey, NULL, S(b, c)), "iat",
	    "case 49: iat now+90 -> error");
	free(c);
	is_ok(sign("ES256", sakey, NULL, S(b, "{\"kubernetes.io\":"
	    "{\"namespace\":\"payments\",\"serviceaccount\":{\"name\":\"api\","
	    "\"uid\":\"sa-uid\"},\"node\":{\"name\":\"w3\",\"uid\":\"n-uid\"}},"
	    "\"jti\":null}")),
	    "{\"username\":\"system:serviceaccount:payments:api\","
	    "\"uid\":\"sa-uid\",\"groups\":[\"system:serviceaccounts\","
	    "\"system:serviceaccounts:payments\"],\"extra\":{"
	    "\"authentication.kubernetes.io/node-name\":[\"w3\"],"
	    "\"authentication.kubernetes.io/node-uid\":[\"n-uid\"]}}",
	    "node-bound token: node extras, no jti");
	is_err(sign("ES256", sakey, NULL, S(b, "{\"kubernetes.io\":null}")),
	    "kubernetes.io", "no kubernetes.io claims -> error");
	is_err(sign("ES256", sakey, NULL,
	    S(b, "{\"sub\":\"system:serviceaccount:x:y\"}")), "sub",
	    "sub and claims disagree -> error");
	is_err(sign("ES256", sakey, NULL, S(b, "{\"aud\":[\"other\"]}")),
	    "audience", "SA aud not configured -> error");
	is_err(sign("RS256", rsa1, NULL, S(b, NULL)), "key type",
	    "SA token signed by a key not in the key file -> error");
}

static void
test_audience_aware(void)
{
	const char	*c = "https://cluster-c.test";
	char		*yz[] = { (char *)"y", (char *)"z", NULL };
	char		*z[] = { (char *)"z", NULL };
	char		*e;

	ok(review_auds(sign("ES256", sakey, NULL,
	    S(c, "{\"aud\":[\"x\",\"y\"]}")), yz) == AUTH_OK,
	    "case 50: aud [x,y], review [y,z] -> OK");
	is_str(res.audiences_json, "[\"y\"]",
	    "case 50: status.audiences [y]");
	ok(review_auds(sign("ES256", sakey, NULL,
	    S(c, "{\"aud\":[\"x\",\"y\"]}")), z) == AUTH_DENY &&
	    res.error == NULL, "case 50: review [z] -> NO");
	ok(review(sign("ES256", sakey, NULL,
	    S(c, "{\"aud\":[\"x\",\"y\"]}"))) == AUTH_OK &&
	    res.audiences_json == NULL,
	    "no review audiences: the configured ones; no status.audiences");
	ok(review(sign("ES256", sakey, NULL,
	    S(c, "{\"aud\":[\"y\"]}"))) == AUTH_DENY,
	    "no review audiences, aud not configured -> NO");
	xasprintf(&e, "{\"aud\":\"x\",\"exp\":%lld}", now - 30);
	is_err(sign("ES256", sakey, NULL, S(c, e)), "expired",
	    "clock_skew 10s: exp now-30 -> error");
	free(e);
}

/* The value of the metric line that starts with prefix, or -1. */
static long long
metric(const char *prefix)
{
	struct evbuffer	*b = evbuffer_new();
	const char	*s, *p;
	long long	 v = -1;

	auth_jwt_backend.metrics(shared, b);
	evbuffer_add(b, "", 1);
	s = (const char *)evbuffer_pullup(b, -1);
	for (p = s; p != NULL; p = (p = strchr(p, '\n')) ? p + 1 : NULL) {
		if (strncmp(p, prefix, strlen(prefix)) == 0 &&
		    p[strlen(prefix)] == ' ') {
			v = strtoll(p + strlen(prefix) + 1, NULL, 10);
			break;
		}
	}
	evbuffer_free(b);
	return v;
}

#define SYSN	"tokenreviewd_jwt_system_names_dropped_total"

/* names.c's rules on OIDC claims; service accounts keep theirs (48). */
static void
test_system_names(void)
{
	const char	*g3 = SYSN "{issuer=\"idp3\",kind=\"group\"}";
	const char	*u1 = SYSN "{issuer=\"idp\",kind=\"user\"}";
	const char	*g4 = SYSN "{issuer=\"idp4\",kind=\"group\"}";

	is_int(metric(g3), 0, "metrics: no system: group dropped yet");
	is_ok(sign("RS256", rsa1, NULL, J("{\"iss\":\"https://idp3.test\","
	    "\"roles\":[\"system:masters\",\"dev\",\"system:authenticated\","
	    "\"system:unauthenticated\",\"system:nodes\"]}")),
	    "{\"username\":\"https://idp3.test#u1\",\"groups\":[\"dev\"]}",
	    "no groups_prefix: system: groups dropped, dev kept");
	is_int(metric(g3), 4, "metrics: the 4 dropped groups counted");
	is_ok(sign("RS256", rsa1, NULL, J("{\"iss\":\"https://idp3.test\","
	    "\"roles\":\"system:masters\"}")),
	    "{\"username\":\"https://idp3.test#u1\"}",
	    "system:masters as a string claim: dropped too");
	is_ok(sign("RS256", rsa1, "rsa1", J("{\"groups\":[\"system:masters\","
	    "\"system:authenticated\"]}")),
	    "{\"username\":\"jane@test\",\"groups\":[\"oidc:system:masters\","
	    "\"oidc:system:authenticated\"]}",
	    "case 37: groups_prefix oidc: puts them outside system: (kept)");
	is_err(sign("RS256", rsa1, "rsa1", J("{\"email\":\"system:admin\"}")),
	    "user name \"system:admin\" is in the system: namespace",
	    "user name in system: -> error, not renamed");
	is_err(sign("RS256", rsa1, "rsa1",
	    J("{\"email\":\"system:unauthenticated\"}")),
	    "user name \"system:unauthenticated\" is in the system: namespace",
	    "user name system:unauthenticated -> error");
	is_int(metric(u1), 2, "metrics: the 2 refused user names counted");
	is_ok(sign("RS256", rsa1, NULL, J("{\"iss\":\"https://idp4.test\","
	    "\"sub\":\"system:admin\",\"groups\":[\"system:masters\","
	    "\"system:authenticated\",\"dev\",\"system:unauthenticated\"]}")),
	    "{\"username\":\"system:admin\",\"groups\":[\"system:masters\","
	    "\"dev\"]}", "allow_system_names = yes: system: names pass, "
	    "but never system:authenticated or system:unauthenticated");
	is_int(metric(g4), 2, "metrics: ... those 2 dropped and counted");
	is_int(metric(SYSN "{issuer=\"cluster-b\",kind=\"group\"}"), -1,
	    "metrics: no such line for a service-account issuer");
}

static void
test_metrics(void)
{
	struct evbuffer	*b = evbuffer_new();
	char		*s;
	const char	*paths[16];

	auth_jwt_backend.metrics(shared, b);
	evbuffer_add(b, "", 1);
	s = (char *)evbuffer_pullup(b, -1);
	ok(strstr(s, "tokenreviewd_jwt_verifications_total{issuer=\"idp\","
	    "result=\"ok\"}") != NULL, "metrics: verifications by issuer");
	ok(strstr(s, "tokenreviewd_jwt_keys{issuer=\"idp\"} 3") != NULL,
	    "metrics: 3 usable keys for idp (the oct key skipped)");
	evbuffer_free(b);
	/* test_routing's three tokens of issuers that are not configured. */
	is_int(metric("tokenreviewd_jwt_verifications_total{issuer=\"\","
	    "result=\"unknown_issuer\"}"), 3,
	    "metrics: tokens of unknown issuers counted");
	ok(auth_jwt_backend.ready(shared) == 1, "ready with keys");
	is_int(auth_jwt_backend.watch(shared, paths, 16), 6,
	    "key files are watched");
}

static void
test_config_errors(void)
{
	static const struct {
		const char	*text;
		const char	*want;
	} cases[] = {
		{ "algorithms = none\n", "algorithms: \"none\" is not allowed" },
		{ "algorithms = RS256 HS256\n", "\"HS256\" is not allowed" },
		{ "algorithms = \n", "no algorithm" },
		{ "type = saml\n", "type: want oidc or serviceaccount" },
		{ "audience_aware = yes\n", "only for type = serviceaccount" },
		{ "type = serviceaccount\nusername_claim = email\n",
		    "username_claim: not used with type = serviceaccount" },
		{ "extra.kubernetes.io/x = a\n", "reserved" },
		{ "extra.foo.k8s.io/x = a\n", "reserved" },
		{ "extra.Example.org/x = a\n", "lower-case" },
		{ "extra.tenant = a\n", "domain-prefixed" },
		{ "username_template = oidc:{email\n", "placeholders" },
		{ "username_template = plain\n", "no {claim}" },
		{ "required_claims = tenant\n", "want claim=value" },
		{ "clock_skew = 2h\n", "clock_skew: \"2h\" is out of range (0s to 1h)" },
		{ "max_token_size = 1m\n", "max_token_size: \"1m\" is out of range (64 to 16k)" },
		{ "colour = blue\n", "colour: unknown key" },
		{ "ca = /etc/hostname\n",
		    "ca: not used with jwks_file or public_key_file" },
		{ "groups_prefix = system:\n",
		    "groups_prefix: in the system: namespace" },
		{ "username_claim = sub\nusername_prefix = system:\n",
		    "username_prefix: in the system: namespace" },
		{ "username_template = system:{sub}\n",
		    "username_template: in the system: namespace" },
		{ "type = serviceaccount\nallow_system_names = yes\n",
		    "allow_system_names: not used with type = serviceaccount" },
		{ "allow_system_names = perhaps\n", "allow_system_names: " },
	};
	char	text[1024], err[TR_ERRLEN];
	void	*sh;
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(text, sizeof(text), "[server]\ntls_cert = /x\n"
		    "tls_key = /x\n[jwt \"a\"]\nissuer = https://a.test\n"
		    "audiences = k\njwks_file = %%1$s/jwks.json\n%s",
		    cases[i].text);
		sh = NULL;
		err[0] = '\0';
		ok(load(text, &sh, err, sizeof(err)) != 0 && sh == NULL &&
		    strstr(err, cases[i].want) != NULL &&
		    strstr(err, "[jwt \"a\"]") != NULL,
		    "config error: %s", cases[i].want);
		if (strstr(err, cases[i].want) == NULL)
			diag("got: %s", err);
	}
}

/* Errors that need a section of their own. */
static void
test_config_sections(void)
{
	char	err[TR_ERRLEN];
	void	*sh = NULL;

	ok(load("[server]\ntls_cert = /x\ntls_key = /x\n[jwt \"a\"]\n"
	    "audiences = k\njwks_file = %1$s/jwks.json\n", &sh, err,
	    sizeof(err)) != 0 && strstr(err, "issuer is required") != NULL,
	    "config error: issuer is required");
	ok(load("[server]\ntls_cert = /x\ntls_key = /x\n[jwt \"a\"]\n"
	    "issuer = i\njwks_file = %1$s/jwks.json\n", &sh, err,
	    sizeof(err)) != 0 && strstr(err, "audiences is required") != NULL,
	    "config error: audiences is required");
	ok(load("[server]\ntls_cert = /x\ntls_key = /x\n[jwt \"a\"]\n"
	    "issuer = i\naudiences = k\n", &sh, err, sizeof(err)) != 0 &&
	    strstr(err, "jwks_file or public_key_file") != NULL,
	    "config error: no key source");
	ok(load("[server]\ntls_cert = /x\ntls_key = /x\n[jwt \"a\"]\n"
	    "issuer = https://a.test\naudiences = k\n"
	    "jwks_url = http://a.test/keys\n", &sh, err, sizeof(err)) != 0 &&
	    strstr(err, "jwks_url: want an https:// URL") != NULL,
	    "config error: jwks_url must be https");
	ok(load("[server]\ntls_cert = /x\ntls_key = /x\n[jwt \"a\"]\n"
	    "issuer = https://a.test\naudiences = k\nfetch_timeout = 1h\n",
	    &sh, err, sizeof(err)) != 0 &&
	    strstr(err, "fetch_timeout: \"1h\" is out of range (100ms to 2m)") != NULL,
	    "config error: fetch_timeout out of range");
	ok(load("[server]\ntls_cert = /x\ntls_key = /x\n[jwt \"a\"]\n"
	    "issuer = https://a.test\naudiences = k\nca = %1$s/none\n",
	    &sh, err, sizeof(err)) != 0 && strstr(err, "ca: ") != NULL,
	    "config error: missing ca file");
	sh = NULL;
	ok(load("[server]\ntls_cert = /x\ntls_key = /x\n[jwt \"a\"]\n"
	    "issuer = https://a.test/\naudiences = k\n", &sh, err,
	    sizeof(err)) == 0 && auth_jwt_backend.ready(sh) == 0,
	    "discovery issuer loads; not ready before its keys are fetched");
	auth_jwt_backend.unload(sh);
	ok(load("[server]\ntls_cert = /x\ntls_key = /x\n[jwt \"a\"]\n"
	    "issuer = i\naudiences = k\njwks_file = %1$s/garbage.json\n", &sh,
	    err, sizeof(err)) != 0 && strstr(err, "not a JWKS") != NULL &&
	    strstr(err, ":7: [jwt \"a\"] jwks_file:") != NULL,
	    "config error: bad JWKS names file, line and key");
	ok(load("[server]\ntls_cert = /x\ntls_key = /x\n[jwt \"a\"]\n"
	    "issuer = i\naudiences = k\npublic_key_file = %1$s/jwks.json\n",
	    &sh, err, sizeof(err)) != 0 && strstr(err, "no PEM") != NULL,
	    "config error: public_key_file without a PEM key");
	ok(load("[server]\ntls_cert = /x\ntls_key = /x\n[jwt \"a\"]\n"
	    "issuer = i\naudiences = k\njwks_file = %1$s/nonexistent\n", &sh,
	    err, sizeof(err)) != 0 && strstr(err, "nonexistent") != NULL,
	    "config error: missing key file");
	ok(load("[server]\ntls_cert = /x\ntls_key = /x\n[jwt \"a\"]\n"
	    "issuer = i\naudiences = k\njwks_file = %1$s/jwks.json\n"
	    "[jwt \"b\"]\nissuer = i\naudiences = k\n"
	    "jwks_file = %1$s/jwks.json\n", &sh, err, sizeof(err)) != 0 &&
	    strstr(err, "issuer also used by [jwt \"a\"]") != NULL,
	    "config error: two sections with one issuer");
	ok(load("[server]\ntls_cert = /x\ntls_key = /x\n[jwt]\n"
	    "issuer = i\naudiences = k\njwks_file = %1$s/jwks.json\n", &sh,
	    err, sizeof(err)) != 0 && strstr(err, "needs a name") != NULL,
	    "config error: [jwt] without a name");
}

/* Random bytes and mangled tokens must never crash or be accepted. */
static void
test_random(void)
{
	char	*good, *t;
	size_t	 i, n, len, bad = 0;

	good = sign("RS256", rsa1, "rsa1", J(NULL));
	len = strlen(good);
	srandom(7);
	for (i = 0; i < 3000; i++) {
		t = xstrdup(good);
		for (n = 0; n < 1 + (size_t)random() % 3; n++)
			t[(size_t)random() % len] = "A._-=x/{"[random() % 8];
		if (strcmp(t, good) == 0)
			free(t);
		else if (review(t) == AUTH_OK)
			bad++;
	}
	free(good);
	is_int(bad, 0, "3000 mangled tokens: none accepted");
}

/*
 * Date claims at the ends of what JSON can carry: a validly signed token
 * may say exp = 9.3e15 or INT64_MAX, where (exp - now) * 1000 does not fit
 * in 64 bits.  The sanitizer build aborts on such an overflow.  Cases 39,
 * 40 and 49 at the limits.
 */
static void
test_huge_times(void)
{
	static const char *const far[] = {
		"9300000000000000", "9223372036854775807", "9.3e18",
		"1e300", "1.7976931348623157e308",
	};
	const char	*b = "https://cluster-b.test";
	const long long	 day = 24LL * 3600 * 1000;
	char		*c;
	size_t		 i;

	for (i = 0; i < sizeof(far) / sizeof(far[0]); i++) {
		xasprintf(&c, "{\"exp\":%s}", far[i]);
		is_ok(sign("RS256", rsa1, "rsa1", J(c)), JANE,
		    "case 39: OIDC exp %s -> OK", far[i]);
		ok(res.max_ttl == day, "  cached 24 h at most (%lld ms)",
		    res.max_ttl);
		is_ok(sign("ES256", sakey, NULL, S(b, c)), SA_USER,
		    "case 49: SA exp %s -> OK", far[i]);
		ok(res.max_ttl == day, "  cached 24 h at most (%lld ms)",
		    res.max_ttl);
		free(c);
		xasprintf(&c, "{\"exp\":-%s}", far[i]);
		is_err(sign("RS256", rsa1, "rsa1", J(c)), "expired",
		    "case 39: OIDC exp -%s -> expired", far[i]);
		is_err(sign("ES256", sakey, NULL, S(b, c)), "expired",
		    "case 49: SA exp -%s -> expired", far[i]);
		free(c);
		xasprintf(&c, "{\"nbf\":%s,\"iat\":-%s}", far[i], far[i]);
		is_err(sign("RS256", rsa1, "rsa1", J(c)), "nbf",
		    "case 40: nbf %s -> not valid yet", far[i]);
		free(c);
		xasprintf(&c, "{\"iat\":%s}", far[i]);
		is_err(sign("ES256", sakey, NULL, S(b, c)), "iat",
		    "case 49: SA iat %s -> issued in the future", far[i]);
		free(c);
		xasprintf(&c, "{\"iat\":-%s,\"nbf\":-%s}", far[i], far[i]);
		is_ok(sign("ES256", sakey, NULL, S(b, c)), SA_USER,
		    "case 49: SA iat and nbf -%s -> OK", far[i]);
		free(c);
	}
	ok(auth_jwt_cache_ms(9.3e15, (double)now) == day &&
	    auth_jwt_cache_ms(HUGE_VAL, 0) == day &&
	    auth_jwt_cache_ms(NAN, 0) == 1 &&
	    auth_jwt_cache_ms(-HUGE_VAL, 0) == 1 &&
	    auth_jwt_cache_ms(0, 9.3e15) == 1 &&
	    auth_jwt_cache_ms((double)now + 300, (double)now) == 300000 &&
	    auth_jwt_cache_ms((double)now, (double)now) == 1,
	    "cache lifetime: clamped to [1 ms, 24 h], NaN and infinities too");
}

/* ---------------------------------------------------------------- pure */

/*
 * jwt-verify.c's functions called directly, on issuers built here and at
 * a fixed time: no config, no worker, no clock.
 */
#define V_NOW		1000000.0	/* the time of the checks below */

static char		*v_auds[] = { "kubernetes", "other", NULL };
static char		*v_required[] = { "tenant=blue", NULL };
static struct jwt_extra	 v_extra[] = { { "example.org/tenant", "tenant" } };

/* OIDC: email with groups, uid, extra and a required claim. */
static struct jwt_issuer v_oidc = {
	.name = "v-oidc", .type = JWT_OIDC, .issuer = "https://v.test",
	.audiences = v_auds, .naudiences = 2, .algs = JWT_DEFAULT_ALGS,
	.skew = 60000, .max_token = 8192, .username_claim = "email",
	.username_prefix = "", .groups_claim = "groups",
	.groups_prefix = "", .uid_claim = "sub", .required = v_required,
	.nrequired = 1, .extra = v_extra, .nextra = 1,
};

static char		*v_sa_auds[] = { "x", NULL };

/* An audience-aware service-account issuer with 10 s of skew. */
static struct jwt_issuer v_sa = {
	.name = "v-sa", .type = JWT_SERVICEACCOUNT,
	.issuer = "https://v-sa.test", .audiences = v_sa_auds,
	.naudiences = 1, .audience_aware = 1, .algs = JWT_DEFAULT_ALGS,
	.skew = 10000, .max_token = 8192,
};

static int	v_groups_dropped, v_users_refused;

static void
v_names_cb(enum jwt_name_role role, const char *name, enum names_kind kind,
    void *arg)
{
	if (role == JWT_NAME_GROUP)
		v_groups_dropped++;
	else
		v_users_refused++;
}

static struct jwt_check
v_check(const struct jwt_issuer *is, char **auds)
{
	struct jwt_check	c;

	memset(&c, 0, sizeof(c));
	c.is = is;
	c.audiences = auds;
	for (c.naudiences = 0; auds != NULL && auds[c.naudiences];)
		c.naudiences++;
	c.now = V_NOW;
	c.names_cb = v_names_cb;
	return c;
}

static void
test_verify_header(void)
{
	static const struct {
		const char	*header;
		int		 alg;		/* jwt_alg_id, -1: none */
		const char	*why;
	} t[] = {
		{ "{\"alg\":\"RS256\"}", JWT_RS256, NULL },
		{ "{\"alg\":\"ES256\",\"kid\":\"k\"}", JWT_ES256, NULL },
		{ "{\"alg\":\"PS256\"}", -1, "algorithm PS256 not allowed" },
		{ "{\"alg\":\"ES384\"}", -1, "algorithm ES384 not allowed" },
		{ "{\"alg\":\"none\"}", -1, "algorithm none not allowed" },
		{ "{\"alg\":\"HS256\"}", -1, "algorithm HS256 not allowed" },
		{ "{\"alg\":\"rs256\"}", -1, "algorithm rs256 not allowed" },
		{ "{\"alg\":7}", -1, "no alg in the token header" },
		{ "{\"typ\":\"JWT\"}", -1, "no alg in the token header" },
		{ "{\"alg\":\"RS256\",\"crit\":[\"exp\"]}", -1,
		    "unsupported crit header" },
	};
	const struct jwt_alg	*alg;
	json_t			*h;
	char			 why[JWT_REASONLEN];
	size_t			 i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		why[0] = '\0';
		h = json_loads(t[i].header, 0, NULL);
		alg = jwt_verify_header(&v_oidc, h, why, sizeof(why));
		json_decref(h);
		if (t[i].alg >= 0)
			ok(alg == &jwt_algs[t[i].alg], "header %s: allowed",
			    t[i].header);
		else
			ok(alg == NULL && strcmp(why, t[i].why) == 0,
			    "header %s: refused (%s)", t[i].header, why);
	}
}

/* One aud check: rv, and the audiences answered (NULL: none). */
static void
v_aud(const struct jwt_issuer *is, char **auds, const char *claims,
    enum jwt_verify_rv want, const char *want_json)
{
	struct jwt_check	 c = v_check(is, auds);
	json_t			*j = json_loads(claims, 0, NULL);
	char			 why[JWT_REASONLEN], *got;
	enum jwt_verify_rv	 rv;

	why[0] = '\0';
	rv = jwt_verify_audiences(&c, j, &got, why, sizeof(why));
	ok(rv == want && (want_json == NULL ? got == NULL : got != NULL &&
	    strcmp(got, want_json) == 0) && (rv == JWT_VERIFY_OK) ==
	    (why[0] == '\0'), "aud %s of %s (%zu review audiences): rv %d",
	    claims, is->name, c.naudiences, want);
	if (rv != want)
		diag("rv %d why %s", rv, why);
	free(got);
	json_decref(j);
}

static void
test_verify_audiences(void)
{
	char	*ab[] = { "a", "b", NULL }, *x[] = { "x", NULL };

	v_aud(&v_oidc, NULL, "{\"aud\":\"kubernetes\"}", JWT_VERIFY_OK, NULL);
	v_aud(&v_oidc, NULL, "{\"aud\":[\"x\",\"other\"]}", JWT_VERIFY_OK,
	    NULL);
	v_aud(&v_oidc, ab, "{\"aud\":\"other\"}", JWT_VERIFY_OK, NULL);
	v_aud(&v_oidc, NULL, "{\"aud\":[\"x\"]}", JWT_VERIFY_INVALID, NULL);
	v_aud(&v_oidc, NULL, "{\"aud\":[]}", JWT_VERIFY_INVALID, NULL);
	v_aud(&v_oidc, NULL, "{\"aud\":[\"other\",1]}", JWT_VERIFY_INVALID,
	    NULL);
	v_aud(&v_oidc, NULL, "{\"aud\":{}}", JWT_VERIFY_INVALID, NULL);
	v_aud(&v_oidc, NULL, "{}", JWT_VERIFY_INVALID, NULL);
	v_aud(&v_sa, NULL, "{\"aud\":[\"x\",\"y\"]}", JWT_VERIFY_OK, NULL);
	v_aud(&v_sa, ab, "{\"aud\":[\"b\",\"c\",\"a\"]}", JWT_VERIFY_OK,
	    "[\"b\",\"a\"]");
	v_aud(&v_sa, x, "{\"aud\":\"x\"}", JWT_VERIFY_OK, "[\"x\"]");
	v_aud(&v_sa, ab, "{\"aud\":[\"x\"]}", JWT_VERIFY_AUDIENCE, NULL);
	v_aud(&v_sa, NULL, "{\"aud\":\"y\"}", JWT_VERIFY_AUDIENCE, NULL);
	v_aud(&v_sa, ab, "{\"aud\":7}", JWT_VERIFY_INVALID, NULL);
}

static void
test_verify_times(void)
{
	static const struct {
		const struct jwt_issuer	*is;
		const char		*claims;
		const char		*why;	/* NULL: valid */
	} t[] = {
		{ &v_oidc, "{\"exp\":1000000}", NULL },
		{ &v_oidc, "{\"exp\":999999.5}", "token expired" },
		{ &v_oidc, "{\"exp\":999999}", "token expired" },
		{ &v_oidc, "{}", "exp missing or not a number" },
		{ &v_oidc, "{\"exp\":\"2000000\"}", "exp missing or not a" },
		{ &v_oidc, "{\"exp\":2000000,\"nbf\":1000060}", NULL },
		{ &v_oidc, "{\"exp\":2000000,\"nbf\":1000061}",
		    "token not valid yet (nbf)" },
		{ &v_oidc, "{\"exp\":2000000,\"nbf\":null}",
		    "nbf is not a number" },
		{ &v_oidc, "{\"exp\":2000000,\"iat\":9000000}", NULL },
		{ &v_sa, "{\"exp\":999990}", NULL },
		{ &v_sa, "{\"exp\":999989}", "token expired" },
		{ &v_sa, "{\"exp\":2000000,\"nbf\":1000010}", NULL },
		{ &v_sa, "{\"exp\":2000000,\"nbf\":1000011}",
		    "token not valid yet (nbf)" },
		{ &v_sa, "{\"exp\":2000000,\"iat\":1000010}", NULL },
		{ &v_sa, "{\"exp\":2000000,\"iat\":1000011}",
		    "token issued in the future (iat)" },
		{ &v_sa, "{\"exp\":2000000,\"iat\":\"0\"}",
		    "iat is not a number" },
	};
	struct jwt_check	 c;
	json_t			*j;
	char			 why[JWT_REASONLEN];
	double			 exp = 0;
	size_t			 i;
	int			 r;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		c = v_check(t[i].is, NULL);
		j = json_loads(t[i].claims, 0, NULL);
		why[0] = '\0';
		r = jwt_verify_times(&c, j, &exp, why, sizeof(why));
		json_decref(j);
		if (t[i].why == NULL)
			ok(r == 0, "%s at %.0f: valid for %s", t[i].claims,
			    V_NOW, t[i].is->name);
		else
			ok(r == -1 && strncmp(why, t[i].why,
			    strlen(t[i].why)) == 0, "%s at %.0f: %s for %s",
			    t[i].claims, V_NOW, why, t[i].is->name);
	}
}

/* Verified claims of is to a verdict: its user, or its reason. */
static void
v_claims(const struct jwt_issuer *is, char **auds, const char *claims,
    enum jwt_verify_rv want, const char *want_s, const char *name)
{
	struct jwt_check	 c = v_check(is, auds);
	struct jwt_verdict	 v;
	json_t			*j;

	if ((j = json_loads(claims, 0, NULL)) == NULL)
		fatalx("bad test JSON %s", claims);
	jwt_verify_claims(&c, j, &v);
	json_decref(j);
	if (want == JWT_VERIFY_OK) {
		ok(v.rv == want && v.user_json != NULL &&
		    strcmp(v.user_json, want_s) == 0, "%s", name);
		if (v.rv != want || v.user_json == NULL ||
		    strcmp(v.user_json, want_s) != 0)
			diag("rv %d: %s", v.rv, v.rv == JWT_VERIFY_OK ?
			    v.user_json : v.why);
	} else
		ok(v.rv == want && v.user_json == NULL &&
		    strstr(v.why, want_s) != NULL, "%s (%s)", name, v.why);
	jwt_verify_verdict_clear(&v);
}

#define V_J	"\"iss\":\"https://v.test\",\"aud\":\"kubernetes\"," \
		"\"exp\":1000300,\"tenant\":\"blue\",\"sub\":\"u1\""
#define V_S	"\"iss\":\"https://v-sa.test\",\"aud\":[\"x\"]," \
		"\"exp\":1000300,\"kubernetes.io\":{\"namespace\":\"ns\"," \
		"\"serviceaccount\":{\"name\":\"sa\",\"uid\":\"sa-uid\"}"

static void
test_verify_claims(void)
{
	char			*b[] = { "b", NULL };
	struct jwt_check	 c = v_check(&v_oidc, NULL);
	struct jwt_verdict	 v;
	json_t			*j;

	v_claims(&v_oidc, NULL, "{" V_J ",\"email\":\"jane@test\","
	    "\"groups\":[\"dev\",\"\",\"system:masters\"],\"jti\":\"j1\"}",
	    JWT_VERIFY_OK, "{\"username\":\"jane@test\",\"uid\":\"u1\","
	    "\"groups\":[\"dev\"],\"extra\":{\"example.org/tenant\":"
	    "[\"blue\"],\"" JWT_CRED_ID "\":[\"JTI=j1\"]}}",
	    "OIDC: email, groups (system: dropped), uid, extra, jti");
	ok(v_groups_dropped == 1 && v_users_refused == 0,
	    "  the dropped group told to the caller");
	v_claims(&v_oidc, NULL, "{" V_J ",\"email\":\"system:admin\"}",
	    JWT_VERIFY_INVALID, "is in the system: namespace",
	    "OIDC: a user name in system: refused");
	ok(v_users_refused == 1, "  the refused user told to the caller");
	v_claims(&v_oidc, NULL, "{" V_J ",\"email\":\"j@t\","
	    "\"email_verified\":\"yes\"}", JWT_VERIFY_INVALID,
	    "email not verified", "OIDC: email_verified not true");
	v_claims(&v_oidc, NULL, "{" V_J ",\"email\":\"j@t\","
	    "\"tenant\":\"red\"}", JWT_VERIFY_INVALID, "required claim tenant",
	    "OIDC: required claim of another value");
	v_claims(&v_oidc, NULL, "{" V_J ",\"email\":\"j@t\","
	    "\"iss\":\"https://v.test/\"}", JWT_VERIFY_INVALID,
	    "iss does not match", "OIDC: iss of another spelling");
	v_claims(&v_sa, NULL, "{" V_S ",\"node\":{\"name\":\"w3\"}}}",
	    JWT_VERIFY_OK, "{\"username\":\"system:serviceaccount:ns:sa\","
	    "\"uid\":\"sa-uid\",\"groups\":[\"system:serviceaccounts\","
	    "\"system:serviceaccounts:ns\"],\"extra\":{\"authentication."
	    "kubernetes.io/node-name\":[\"w3\"]}}",
	    "SA: fixed identity, node name without uid");
	v_claims(&v_sa, b, "{" V_S "},\"aud\":\"y\"}", JWT_VERIFY_AUDIENCE,
	    "token audience not accepted", "SA: another audience -> not ours");
	v_claims(&v_sa, NULL, "{" V_S "},\"sub\":\"system:serviceaccount:"
	    "ns:other\"}", JWT_VERIFY_INVALID, "sub does not match",
	    "SA: sub of another account");
	j = json_loads("{" V_J ",\"email\":\"j@t\",\"aud\":[\"other\"]}", 0,
	    NULL);
	jwt_verify_claims(&c, j, &v);
	ok(v.rv == JWT_VERIFY_OK && v.max_ttl == 300000 &&
	    strcmp(v.username, "j@t") == 0 && v.audiences_json == NULL,
	    "OIDC: cached until exp (%lld ms)", v.max_ttl);
	jwt_verify_verdict_clear(&v);
	json_decref(j);
}

/* jwt_verify() whole: size, split, keys, signature, then the claims. */
static void
test_verify_token(void)
{
	struct jwt_check	 c = v_check(&v_oidc, NULL);
	struct jwt_keyset	*ks = jwt_keys_new();
	struct jwt_verdict	 v;
	struct jwt_token	 t;
	char			*pem, err[TR_ERRLEN], *tok;

	pem = pub_pem(rsa1);
	ok(jwt_keys_add_pem(ks, pem, strlen(pem), err, sizeof(err)) == 0 &&
	    ks->nkeys == 1, "a PEM key read into a key set");
	free(pem);
	tok = sign("RS256", rsa1, NULL, claims("{" V_J ",\"email\":\"j@t\"}",
	    NULL));
	ok(jwt_verify_split(&t, tok, strlen(tok)) == 0, "token split");
	jwt_verify(&c, &t, &v);
	ok(v.rv == JWT_VERIFY_NO_KEY && strstr(v.why, "no signing keys"),
	    "no key set: a fetch may tell (%s)", v.why);
	jwt_verify_verdict_clear(&v);
	c.ks = ks;
	jwt_verify(&c, &t, &v);
	ok(v.rv == JWT_VERIFY_OK && strcmp(v.username, "j@t") == 0 &&
	    v.max_ttl == 300000, "signed by the key: OK, user j@t");
	jwt_verify_verdict_clear(&v);
	c.now = V_NOW + 301;
	jwt_verify(&c, &t, &v);
	ok(v.rv == JWT_VERIFY_INVALID && strcmp(v.why, "token expired") == 0,
	    "the same token 301 s later: expired");
	jwt_verify_verdict_clear(&v);
	jwt_verify_token_clear(&t);
	free(tok);
	tok = sign("RS256", rsa1, "nope", claims("{" V_J "}", NULL));
	ok(jwt_verify_split(&t, tok, strlen(tok)) == 0, "token split");
	jwt_verify(&c, &t, &v);
	ok(v.rv == JWT_VERIFY_NO_KEY && strcmp(v.why, "unknown key id") == 0,
	    "unknown kid: a fetch may tell");
	jwt_verify_verdict_clear(&v);
	jwt_verify_token_clear(&t);
	free(tok);
	ok(jwt_verify_split(&t, "a.b", 3) == -1 &&
	    jwt_verify_split(&t, "e30.e30.A", 9) == -1 &&
	    jwt_verify_split(&t, "e30.e30.", 8) == 0,
	    "split: two dots, canonical base64url; empty signature passes");
	jwt_verify_token_clear(&t);
	jwt_keys_unref(ks);
}

/* ---------------------------------------------------------------- login */

/* A private key in PEM, written to name (0600). */
static void
write_private(const char *name, EVP_PKEY *k)
{
	BIO	*bio = BIO_new(BIO_s_mem());
	char	*p, *s;
	long	 n;

	PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL);
	n = BIO_get_mem_data(bio, &p);
	s = xstrndup(p, (size_t)n);
	write_file(name, s);
	free(s);
	BIO_free(bio);
}

/* RFC 7638: the thumbprint of a P-256 or RSA public key, base64url. */
static char *
thumbprint(EVP_PKEY *k)
{
	json_t		*j = jwk_of(k, "x", NULL), *m;
	unsigned char	 d[TR_SHA256_LEN];
	char		*s, *t;

	if (EVP_PKEY_is_a(k, "RSA"))
		m = json_pack("{s:O,s:s,s:O}", "e", json_object_get(j, "e"),
		    "kty", "RSA", "n", json_object_get(j, "n"));
	else
		m = json_pack("{s:s,s:s,s:O,s:O}", "crv", "P-256", "kty", "EC",
		    "x", json_object_get(j, "x"), "y", json_object_get(j, "y"));
	s = json_dumps(m, JSON_COMPACT | JSON_SORT_KEYS);
	sha256(s, strlen(s), d);
	t = b64url(d, sizeof(d));
	free(s);
	json_decref(m);
	json_decref(j);
	return t;
}

static const char *login_conf_text =
	"[server]\ntls_cert = /x\ntls_key = /x\n\n"
	"[ldap \"corp\"]\nuri = ldaps://127.0.0.1\nuser_base = dc=x\n\n"
	"[login]\nlisten = 127.0.0.1:8444\n"
	"issuer = https://login.test/\n"
	"ldap = corp\nsigning_key = %1$s/login.key\n"
	"previous_keys = %1$s/old.key\n"
	"recheck = %2$s\n%3$s";

/* A config with [login] (recheck yes or no), and more text after it. */
static int
load_login(const char *recheck, const char *more, void **sh, char *err,
    size_t errlen)
{
	char	*text;
	int	 r;

	/* load() puts the directory in for %1$s; the rest goes in now. */
	xasprintf(&text, login_conf_text, "%1$s", recheck, more);
	r = load(text, sh, err, errlen);
	free(text);
	return r;
}

/* Review tok (freed) with the instance of another loaded config. */
static enum auth_rv
review_with(void *in, char *tok)
{
	void	*saved = inst;
	enum auth_rv rv;

	inst = in;
	rv = review(tok);
	inst = saved;
	return rv;
}

#define LOGIN_CLAIMS(extra) "{\"iss\":\"https://login.test\"," \
	"\"aud\":\"kubernetes\",\"sub\":\"alice\",\"groups\":[\"dev\"]," \
	"\"jti\":\"j1\",\"exp\":%lld" extra "}"

static char *
login_token(const char *alg, EVP_PKEY *k, const char *changes)
{
	char	base[512], *kid = thumbprint(k), *tok;

	snprintf(base, sizeof(base), LOGIN_CLAIMS(""), now + 600);
	tok = sign(alg, k, kid, claims(base, changes));
	free(kid);
	return tok;
}

static void
test_login_issuer(void)
{
	EVP_PKEY	*lk = gen_ec("P-256"), *prev = gen_rsa();
	void		*sh = NULL, *in = NULL;
	char		 err[TR_ERRLEN], base[512], *kid;

	write_private("login.key", lk);
	write_private("old.key", prev);
	err[0] = '\0';
	ok(load_login("no", "", &sh, err, sizeof(err)) == 0,
	    "[login] alone: the built-in issuer loads");
	if (sh == NULL) {
		diag("%s", err);
		goto out;
	}
	auth_jwt_backend.init(sh, NULL, &in);
	ok(review_with(in, login_token("ES256", lk, "{\"uid\":\"1001\","
	    "\"extra\":{\"example.org/mail\":[\"a@x\"]}}")) == AUTH_OK,
	    "a token of the signing key, under its RFC 7638 kid -> OK");
	is_str(res.user_json, "{\"username\":\"alice\",\"uid\":\"1001\","
	    "\"groups\":[\"dev\"],\"extra\":{\"example.org/mail\":[\"a@x\"],"
	    "\"authentication.kubernetes.io/credential-id\":[\"JTI=j1\"]}}",
	    "  sub, groups, uid and extra as signed, no prefix, the jti");
	ok(res.max_ttl > 0 && res.max_ttl <= 600 * 1000,
	    "  cached no longer than exp (%lld ms)", res.max_ttl);
	ok(review_with(in, login_token("RS256", prev, NULL)) == AUTH_OK &&
	    strcmp(res.user_json, "{\"username\":\"alice\",\"groups\":"
	    "[\"dev\"],\"extra\":{\"authentication.kubernetes.io/"
	    "credential-id\":[\"JTI=j1\"]}}") == 0,
	    "a token of a previous key (RS256), no uid -> OK");
	kid = thumbprint(lk);
	snprintf(base, sizeof(base), LOGIN_CLAIMS(""), now + 600);
	ok(review_with(in, sign("RS256", prev, kid, claims(base, NULL))) ==
	    AUTH_ERROR && strstr(res.error, "key type does not match") != NULL,
	    "RS256 under the EC signing key's kid -> error");
	free(kid);
	ok(review_with(in, login_token("ES256", lk, "{\"uid\":7}")) ==
	    AUTH_ERROR && strstr(res.error, "uid claim") != NULL,
	    "uid not a string -> error");
	ok(review_with(in, login_token("ES256", lk, "{\"extra\":[\"a\"]}")) ==
	    AUTH_ERROR && strstr(res.error, "extra claim") != NULL,
	    "extra not an object -> error");
	ok(review_with(in, login_token("ES256", lk, "{\"extra\":{\"k/x\":7}}"))
	    == AUTH_ERROR && strstr(res.error, "extra k/x") != NULL,
	    "an extra value not a string -> error");
	auth_jwt_backend.free(in);
	auth_jwt_backend.unload(sh);
	sh = in = NULL;
	ok(load_login("yes", "", &sh, err, sizeof(err)) == 0,
	    "recheck = yes loads");
	auth_jwt_backend.init(sh, NULL, &in);
	ok(review_with(in, login_token("ES256", lk, NULL)) == AUTH_ERROR &&
	    strstr(res.error, "the ldap source does not run") != NULL,
	    "recheck without the LDAP source in the chain -> error");
	auth_jwt_backend.free(in);
	auth_jwt_backend.unload(sh);
	sh = NULL;
	ok(load_login("no", "[jwt \"x\"]\nissuer = https://login.test\n"
	    "audiences = k\njwks_file = %1$s/jwks.json\n", &sh, err,
	    sizeof(err)) != 0 && strstr(err, ":9: [login]: ") != NULL &&
	    strstr(err, "clashes with [jwt \"x\"]") != NULL,
	    "a [jwt] section with the issuer of [login] -> error");
	ok(load_login("no", "[jwt \"login\"]\nissuer = https://l.test\n"
	    "audiences = k\njwks_file = %1$s/jwks.json\n", &sh, err,
	    sizeof(err)) != 0 && strstr(err, "clashes with [jwt \"login\"]")
	    != NULL, "a [jwt \"login\"] section -> error");
out:
	auth_jwt_backend.unload(sh);
	EVP_PKEY_free(lk);
	EVP_PKEY_free(prev);
}

/* jwt_keys_add_pkey(): the public part, under the kid and alg given. */
static void
test_keys_add_pkey(void)
{
	struct jwt_keyset	*ks = jwt_keys_new();
	EVP_PKEY		*ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char			 err[TR_ERRLEN];

	ok(jwt_keys_add_pkey(ks, ec1, "k1", "ES256", err, sizeof(err)) == 0 &&
	    ks->nkeys == 1 && strcmp(ks->keys[0].kid, "k1") == 0 &&
	    strcmp(ks->keys[0].alg, "ES256") == 0 &&
	    strcmp(ks->keys[0].crv, "P-256") == 0,
	    "jwt_keys_add_pkey: a private EC key's public part, kid, alg");
	ok(jwt_keys_add_pkey(ks, rsa1, "k2", "RS256", err, sizeof(err)) == 0 &&
	    ks->nkeys == 2 && ks->keys[1].kty == JWT_KTY_RSA,
	    "jwt_keys_add_pkey: an RSA key");
	ok(jwt_keys_add_pkey(ks, ed, "k3", "EdDSA", err, sizeof(err)) != 0 &&
	    strstr(err, "want EC (P-256, P-384, P-521) or RSA") != NULL && ks->nkeys == 2,
	    "jwt_keys_add_pkey: an Ed25519 key refused");
	EVP_PKEY_free(ed);
	jwt_keys_unref(ks);
}

/* tok (freed) with its signature's bytes changed: one flipped, or cut. */
static char *
v_resign(char *tok, int flip, int cut)
{
	char		*dot = strrchr(tok, '.'), *ss, *r;
	unsigned char	*raw, buf[1100];
	size_t		 len;

	if ((raw = base64_decode(dot + 1, strlen(dot + 1), 1, &len)) == NULL ||
	    len + 1 > sizeof(buf))
		fatalx("bad test signature");
	memcpy(buf, raw, len);
	free(raw);
	if (flip)
		buf[len / 2] ^= 0x01;
	if (cut < 0)
		buf[len++] = buf[0];
	else
		len -= (size_t)cut;
	ss = b64url(buf, len);
	*dot = '\0';
	xasprintf(&r, "%s.%s", tok, ss);
	free(ss);
	free(tok);
	return r;
}

/*
 * Verify tok (freed) with ks for an issuer of every algorithm: whether
 * it is accepted (why NULL) or refused for why.
 */
static int
v_sig_check(const struct jwt_keyset *ks, char *tok, const char *why)
{
	struct jwt_issuer	 all = v_oidc;
	struct jwt_check	 c;
	struct jwt_verdict	 v;
	struct jwt_token	 t;
	int			 good;

	all.algs = (1u << JWT_NALGS) - 1;
	c = v_check(&all, NULL);
	c.ks = ks;
	memset(&v, 0, sizeof(v));
	if (jwt_verify_split(&t, tok, strlen(tok)) == 0)
		jwt_verify(&c, &t, &v);
	if (why == NULL)
		good = v.rv == JWT_VERIFY_OK && v.username != NULL &&
		    strcmp(v.username, "j@t") == 0;
	else
		good = v.rv == JWT_VERIFY_INVALID && strcmp(v.why, why) == 0;
	if (!good)
		diag("rv %d why %s", v.rv, v.why);
	jwt_verify_verdict_clear(&v);
	jwt_verify_token_clear(&t);
	free(tok);
	return good;
}

static void
v_sig(const struct jwt_keyset *ks, char *tok, const char *why,
    const char *name)
{
	ok(v_sig_check(ks, tok, why), "%s", name);
}

#define V_SIGNED(alg, key, kid)						\
	sign(alg, key, kid, claims("{" V_J ",\"email\":\"j@t\"}", NULL))
#define V_BADSIG	"signature does not verify"

/* Keys that do not fit the algorithm, PSS salts, keys from PEM files. */
static void
test_verify_keys(const struct jwt_keyset *ks, struct jwt_keyset *pem_ks)
{
	char	err[TR_ERRLEN], *pem;

	v_sig(ks, V_SIGNED("ES256", ec384, "e384"),
	    "key type does not match alg ES256", "ES256 naming a P-384 key: "
	    "a key on another curve is refused");
	v_sig(ks, V_SIGNED("ES384", ec1, "e256"),
	    "key type does not match alg ES384", "ES384 naming a P-256 key");
	v_sig(ks, V_SIGNED("ES512", ec384, "e384"),
	    "key type does not match alg ES512", "ES512 naming a P-384 key");
	v_sig(ks, V_SIGNED("ES256", ec384, NULL), V_BADSIG,
	    "ES256 by a P-384 key without kid: only P-256 keys tried");
	v_sig(ks, V_SIGNED("ES256", ec1, "r"),
	    "key type does not match alg ES256", "an RSA key for ES256");
	v_sig(ks, V_SIGNED("RS256", rsa1, "e256"),
	    "key type does not match alg RS256", "an EC key for RS256");
	v_sig(ks, V_SIGNED("PS256", rsa1, "e256"),
	    "key type does not match alg PS256", "an EC key for PS256");
	pss_saltlen = RSA_PSS_SALTLEN_MAX;
	v_sig(ks, V_SIGNED("PS256", rsa1, "r"), V_BADSIG,
	    "PS256 with a salt longer than the digest");
	pss_saltlen = 0;
	v_sig(ks, V_SIGNED("PS384", rsa1, "r"), V_BADSIG,
	    "PS384 with an empty salt");
	pss_saltlen = RSA_PSS_SALTLEN_DIGEST;
	v_sig(ks, V_SIGNED("RS256", rsa2, "r"), V_BADSIG,
	    "RS256 by another RSA key");
	v_sig(ks, V_SIGNED("ES256", sakey, "e256"), V_BADSIG,
	    "ES256 by another P-256 key");

	pem = pub_pem(ec521);
	ok(jwt_keys_add_pem(pem_ks, pem, strlen(pem), err, sizeof(err)) == 0,
	    "a P-521 PEM key");
	free(pem);
	pem = pub_pem(ec384);
	ok(jwt_keys_add_pem(pem_ks, pem, strlen(pem), err, sizeof(err)) == 0,
	    "a P-384 PEM key");
	free(pem);
	v_sig(pem_ks, V_SIGNED("ES512", ec521, NULL), NULL,
	    "ES512 with a key from a PEM file");
	v_sig(pem_ks, V_SIGNED("ES384", ec384, NULL), NULL,
	    "ES384 with a key from a PEM file");
	v_sig(pem_ks, V_SIGNED("RS256", rsa1, NULL), "key type does not "
	    "match alg RS256", "RS256 with EC keys only");
}

/* Every algorithm, each key type and curve, with good and bad signatures. */
static void
test_verify_algs(void)
{
	static const struct {
		const char	*alg;
		EVP_PKEY	**key;
		const char	*kid;
	} t[] = {
		{ "RS256", &rsa1, "r" }, { "RS384", &rsa1, "r" },
		{ "RS512", &rsa1, "r" }, { "PS256", &rsa1, "r" },
		{ "PS384", &rsa1, "r" }, { "PS512", &rsa1, "r" },
		{ "ES256", &ec1, "e256" }, { "ES384", &ec384, "e384" },
		{ "ES512", &ec521, "e521" },
	};
	struct jwt_keyset	*ks = jwt_keys_new(), *pem_ks = jwt_keys_new();
	char			 err[TR_ERRLEN], name[80], *s;
	json_t			*jwks;
	size_t			 i;
	int			 n, all;

	jwks = json_pack("{s:[o,o,o,o]}", "keys", jwk_of(rsa1, "r", NULL),
	    jwk_of(ec1, "e256", NULL), jwk_of(ec384, "e384", NULL),
	    jwk_of(ec521, "e521", NULL));
	s = json_dumps(jwks, 0);
	ok(jwt_keys_add_jwks(ks, s, strlen(s), err, sizeof(err)) == 0 &&
	    ks->nkeys == 4, "JWKS of RSA, P-256, P-384 and P-521 keys");
	free(s);
	json_decref(jwks);
	for (i = 0; i < JWT_NITEMS(t); i++) {
		snprintf(name, sizeof(name), "%s: a good signature", t[i].alg);
		v_sig(ks, V_SIGNED(t[i].alg, *t[i].key, t[i].kid), NULL, name);
		snprintf(name, sizeof(name), "%s: no kid, the fitting keys "
		    "tried", t[i].alg);
		v_sig(ks, V_SIGNED(t[i].alg, *t[i].key, NULL), NULL, name);
		snprintf(name, sizeof(name), "%s: a bit flipped", t[i].alg);
		v_sig(ks, v_resign(V_SIGNED(t[i].alg, *t[i].key, t[i].kid), 1,
		    0), V_BADSIG, name);
		snprintf(name, sizeof(name), "%s: a byte short", t[i].alg);
		v_sig(ks, v_resign(V_SIGNED(t[i].alg, *t[i].key, t[i].kid), 0,
		    1), V_BADSIG, name);
		snprintf(name, sizeof(name), "%s: a byte long", t[i].alg);
		v_sig(ks, v_resign(V_SIGNED(t[i].alg, *t[i].key, t[i].kid), 0,
		    -1), V_BADSIG, name);
	}
	for (i = 6; i < JWT_NITEMS(t); i++) {
		ecdsa_der = 1;
		snprintf(name, sizeof(name), "%s: a DER signature, not r || s",
		    t[i].alg);
		v_sig(ks, V_SIGNED(t[i].alg, *t[i].key, t[i].kid), V_BADSIG,
		    name);
		ecdsa_der = 0;
		/* r and s with the high bit set, or leading zero bytes */
		for (n = 0, all = 1; n < 32; n++) {
			s = V_SIGNED(t[i].alg, *t[i].key, t[i].kid);
			all &= v_sig_check(ks, s, NULL);
		}
		ok(all, "%s: 32 more signatures verify", t[i].alg);
	}
	test_verify_keys(ks, pem_ks);
	jwt_keys_unref(ks);
	jwt_keys_unref(pem_ks);
}

static void
cleanup(void)
{
	char	cmd[300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
}

int
main(void)
{
	char	err[TR_ERRLEN];

	log_init(LL_ERROR);
	now = (long long)time(NULL);
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	setup_keys();
	if (load(conf_text, &shared, err, sizeof(err)) != 0) {
		diag("%s", err);
		ok(0, "load the test configuration");
		cleanup();
		return done_testing();
	}
	ok(auth_jwt_backend.init(shared, NULL, &inst) == 0, "init");
	test_oidc();
	test_routing();
	test_forgeries();
	test_claims();
	test_mappings();
	test_serviceaccount();
	test_audience_aware();
	test_system_names();
	test_metrics();
	test_config_errors();
	test_config_sections();
	test_random();
	test_huge_times();
	test_verify_header();
	test_verify_audiences();
	test_verify_times();
	test_verify_claims();
	test_verify_token();
	test_keys_add_pkey();
	test_login_issuer();
	test_verify_algs();
	auth_result_clear(&res);
	auth_jwt_backend.free(inst);
	auth_jwt_backend.unload(shared);
	config_free(conf);
	EVP_PKEY_free(rsa1);
	EVP_PKEY_free(rsa2);
	EVP_PKEY_free(ec1);
	EVP_PKEY_free(ec384);
	EVP_PKEY_free(ec521);
	EVP_PKEY_free(sakey);
	cleanup();
	return done_testing();
}
