/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the [login] reader and its keys (login-conf.c): the
 * defaults, each key type with the algorithm it implies (and the ones
 * refused), the kid against RFC 7638's own example, the public JWK, a
 * public-only previous key, private keys that others may read refused,
 * issuers that are not https URLs, a missing [ldap "NAME"], sessions
 * without a [tokendb], and a listen address [server] has too.  Keys are
 * made here with OpenSSL and written to a temporary directory.  Then
 * login-sign.c: tokens signed with each key type and verified here with
 * OpenSSL (the JWS r||s turned back into DER), their claims, the
 * ExecCredential and the issuer's documents.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "tokenreviewd.h"
#include "login.h"
#include "tap.h"

static char	dir[] = "/tmp/tokenreviewd-login.XXXXXX";

/* RFC 7638 section 3.1: an RSA public key and its thumbprint. */
static const char rfc7638_n[] = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiA"
    "FbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3o"
    "knjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW"
    "2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08"
    "qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44"
    "-csFCur-kEgU8awapJzKnqDKgw";
static const char rfc7638_kid[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";

/* ---------------------------------------------------------------- helpers */

static void
write_file(const char *name, const char *data, size_t len, mode_t mode)
{
	char	path[256];
	int	fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd == -1 || write(fd, data, len) != (ssize_t)len)
		fatal("write %s", path);
	if (fchmod(fd, mode) != 0)
		fatal("chmod %s", path);
	close(fd);
}

/* The key as PEM (private, or its public part) in dir/name. */
static void
write_key(const char *name, EVP_PKEY *pkey, int private_key, mode_t mode)
{
	BIO	*bio = BIO_new(BIO_s_mem());
	char	*data;
	long	 len;

	if (private_key)
		PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL);
	else
		PEM_write_bio_PUBKEY(bio, pkey);
	len = BIO_get_mem_data(bio, &data);
	write_file(name, data, (size_t)len, mode);
	BIO_free(bio);
}

static void
gen_key(const char *name, EVP_PKEY *pkey)
{
	char	pub[64];

	if (pkey == NULL)
		bail_out("cannot make key %s", name);
	write_key(name, pkey, 1, 0600);
	snprintf(pub, sizeof(pub), "pub-%s", name);
	write_key(pub, pkey, 0, 0644);
	EVP_PKEY_free(pkey);
}

static int
has_private(EVP_PKEY *pkey)
{
	BIGNUM	*bn = NULL;
	int	 r;

	r = EVP_PKEY_get_bn_param(pkey, EVP_PKEY_is_a(pkey, "EC") ?
	    OSSL_PKEY_PARAM_PRIV_KEY : OSSL_PKEY_PARAM_RSA_D, &bn);
	BN_clear_free(bn);
	return r == 1;
}

/* RFC 7638's example key, as a public PEM file. */
static void
gen_rfc7638(void)
{
	OSSL_PARAM_BLD	*bld = OSSL_PARAM_BLD_new();
	OSSL_PARAM	*params;
	EVP_PKEY_CTX	*ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY	*pkey = NULL;
	unsigned char	*n;
	BIGNUM		*bn, *be;
	size_t		 len;

	n = base64_decode(rfc7638_n, strlen(rfc7638_n), 1, &len);
	bn = BN_bin2bn(n, (int)len, NULL);
	be = BN_new();
	BN_set_word(be, 65537);
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn);
	OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be);
	params = OSSL_PARAM_BLD_to_param(bld);
	if (EVP_PKEY_fromdata_init(ctx) <= 0 || EVP_PKEY_fromdata(ctx, &pkey,
	    EVP_PKEY_PUBLIC_KEY, params) <= 0)
		bail_out("cannot make the RFC 7638 key");
	write_key("rfc7638.pem", pkey, 0, 0644);
	EVP_PKEY_free(pkey);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	EVP_PKEY_CTX_free(ctx);
	BN_free(bn);
	BN_free(be);
	free(n);
}

static const char base_conf[] =
    "[server]\n"
    "listen = 127.0.0.1:8443\n"
    "tls_cert = %1$s/cert.pem\n"
    "tls_key = %1$s/key.pem\n\n"
    "[ldap \"corp\"]\n"
    "uri = ldap://127.0.0.1\n\n"
    "%2$s"
    "[login]\n"
    "%3$s";

/* The keys [login] needs, each unless the test gives its own. */
static const char *const base_keys[] = {
	"listen = 127.0.0.1:8444\n",
	"issuer = https://login.example.org\n",
	"ldap = corp\n",
	"signing_key = %1$s/ec256.pem\n",
};

/* keys, with each of base_keys it does not set. */
static char *
with_base_keys(const char *keys)
{
	char	*out = xstrdup(keys), *t, name[64];
	size_t	 i, n;

	for (i = 0; i < sizeof(base_keys) / sizeof(base_keys[0]); i++) {
		n = strcspn(base_keys[i], " ");
		snprintf(name, sizeof(name), "\n%.*s =", (int)n, base_keys[i]);
		if (strncmp(keys, name + 1, n + 2) == 0 ||
		    strstr(keys, name) != NULL)
			continue;
		xasprintf(&t, "%s%s", out, base_keys[i]);
		free(out);
		out = t;
	}
	return out;
}

/*
 * Load the base config with extra text before [login] (other sections)
 * and inside it (keys, "%1$s" for the directory).  The result of
 * login_conf_load(); *out and err as it left them.
 */
static int
load(const char *before, const char *keys, struct login_conf **out,
    char *err, size_t errlen)
{
	struct config	*c;
	char		 path[256], *body, *k;
	int		 r;

	*out = NULL;
	body = with_base_keys(keys);
	xasprintf(&k, body, dir);
	free(body);
	xasprintf(&body, base_conf, dir, before, k);
	write_file("tokenreviewd.conf", body, strlen(body), 0600);
	free(body);
	free(k);
	snprintf(path, sizeof(path), "%s/tokenreviewd.conf", dir);
	if ((c = config_load(path, err, errlen)) == NULL)
		bail_out("config_load: %s", err);
	r = login_conf_load(c, out, err, errlen);
	config_free(c);
	return r;
}

/* 1 if loading fails with an error that contains want. */
static int
load_fails(const char *before, const char *keys, const char *want)
{
	struct login_conf	*lc;
	char			 err[TR_ERRLEN] = "";

	if (load(before, keys, &lc, err, sizeof(err)) == 0) {
		login_conf_free(lc);
		diag("loaded, expected an error with \"%s\"", want);
		return 0;
	}
	if (lc != NULL || strstr(err, want) == NULL) {
		diag("error \"%s\", expected one with \"%s\"", err, want);
		return 0;
	}
	return 1;
}

/* ------------------------------------------------------------------ tests */

static void
test_defaults(void)
{
	struct login_conf	*lc;
	char			 err[TR_ERRLEN];

	ok(load("", "", &lc, err, sizeof(err)) == 0 && lc != NULL,
	    "a minimal [login] loads");
	if (lc == NULL) {
		diag("%s", err);
		return;
	}
	is_int(lc->nlisten, 1, "one listen address");
	is_str(lc->listen[0], "127.0.0.1:8444", "the listen address");
	is_str(lc->issuer, "https://login.example.org", "issuer");
	is_str(lc->audience, "kubernetes", "audience defaults to kubernetes");
	is_str(lc->ldap, "corp", "ldap");
	ok(lc->token_ttl == 8LL * 3600 * 1000, "token_ttl defaults to 8h");
	is_int(lc->recheck, 1, "recheck defaults to yes");
	is_int(lc->sessions, LOGIN_SESSIONS_NO, "sessions auto, no "
	    "[tokendb]: no");
	ok(lc->failure_rate == 0.1, "failure_rate defaults to 0.1");
	ok(lc->failure_burst == 10, "failure_burst defaults to 10");
	ok(lc->failure_delay == 1000, "failure_delay defaults to 1s");
	is_int(lc->max_connections, 256, "max_connections defaults to 256");
	is_int(lc->nkeys, 1, "one key");
	ok(lc->line > 0, "the section's line");
	login_conf_free(lc);
}

static void
test_values(void)
{
	struct login_conf	*lc;
	char			 err[TR_ERRLEN];

	ok(load("[tokendb]\nfile = /nonexistent/x.db\n\n",
	    "issuer = https://login.example.org/tenant/a//\n"
	    "audience = aud1\n"
	    "token_ttl = 1h\n"
	    "recheck = no\n"
	    "failure_rate = 2.5\n"
	    "failure_burst = 3\n"
	    "failure_delay = 250ms\n"
	    "max_connections = 10\n", &lc, err, sizeof(err)) == 0 &&
	    lc != NULL, "every key set");
	if (lc == NULL) {
		diag("%s", err);
		return;
	}
	is_str(lc->issuer, "https://login.example.org/tenant/a",
	    "trailing slashes dropped from the issuer");
	is_str(lc->audience, "aud1", "audience");
	ok(lc->token_ttl == 3600 * 1000, "token_ttl");
	is_int(lc->recheck, 0, "recheck");
	is_int(lc->sessions, LOGIN_SESSIONS_YES, "sessions auto, a "
	    "[tokendb]: yes");
	ok(lc->failure_rate == 2.5, "failure_rate");
	ok(lc->failure_burst == 3, "failure_burst");
	ok(lc->failure_delay == 250, "failure_delay");
	is_int(lc->max_connections, 10, "max_connections");
	login_conf_free(lc);

	ok(load("", "sessions = no\n", &lc, err, sizeof(err)) == 0 &&
	    lc != NULL && lc->sessions == LOGIN_SESSIONS_NO, "sessions = no");
	login_conf_free(lc);
}

static void
test_none(void)
{
	struct login_conf	*lc = (struct login_conf *)1;
	struct config		*c;
	char			 path[256], err[TR_ERRLEN];
	const char		*text = "[server]\ntls_cert = c\ntls_key = k\n"
	    "[ldap \"corp\"]\nuri = ldap://127.0.0.1\n";

	write_file("none.conf", text, strlen(text), 0600);
	snprintf(path, sizeof(path), "%s/none.conf", dir);
	if ((c = config_load(path, err, sizeof(err))) == NULL)
		bail_out("config_load: %s", err);
	ok(login_conf_load(c, &lc, err, sizeof(err)) == 0 && lc == NULL,
	    "no [login]: 0 and NULL");
	config_free(c);
}

/* Each key type: the algorithm, a kid, and the JWK's members. */
static void
test_key_type(const char *file, const char *alg, const char *kty)
{
	struct login_conf	*lc;
	json_t			*jwk;
	char			 err[TR_ERRLEN], keys[256];

	snprintf(keys, sizeof(keys), "signing_key = %%1$s/%s\n", file);
	if (load("", keys, &lc, err, sizeof(err)) != 0 || lc == NULL) {
		ok(0, "%s loads: %s", file, err);
		return;
	}
	is_str(lc->keys[0].alg, alg, "%s signs with %s", file, alg);
	ok(lc->keys[0].kid != NULL && strlen(lc->keys[0].kid) == 43,
	    "%s: a 43-character kid", file);
	ok(has_private(lc->keys[0].pkey), "%s: the private key", file);
	jwk = json_loads(lc->keys[0].jwk_json, 0, NULL);
	ok(jwk != NULL && strcmp(json_string_value(json_object_get(jwk,
	    "kty")), kty) == 0 && strcmp(json_string_value(json_object_get(
	    jwk, "alg")), alg) == 0 && strcmp(json_string_value(
	    json_object_get(jwk, "use")), "sig") == 0 &&
	    strcmp(json_string_value(json_object_get(jwk, "kid")),
	    lc->keys[0].kid) == 0, "%s: JWK kty, alg, use and kid", file);
	ok(jwk != NULL && json_object_get(jwk, "d") == NULL &&
	    json_object_get(jwk, "p") == NULL, "%s: no private member in "
	    "the JWK", file);
	json_decref(jwk);
	login_conf_free(lc);
}

static void
test_keys(void)
{
	struct login_conf	*lc;
	char			 err[TR_ERRLEN];

	test_key_type("ec256.pem", "ES256", "EC");
	test_key_type("ec384.pem", "ES384", "EC");
	test_key_type("ec521.pem", "ES512", "EC");
	test_key_type("rsa2048.pem", "RS256", "RSA");

	ok(load_fails("", "signing_key = %1$s/rsa1024.pem\n",
	    "1024 bits"), "an RSA key under 2048 bits refused");
	ok(load_fails("", "signing_key = %1$s/ed25519.pem\n",
	    "ED25519 key"), "an Ed25519 key refused");
	ok(load_fails("", "signing_key = %1$s/ec-k256.pem\n",
	    "want P-256, P-384 or P-521"), "a secp256k1 key refused");
	ok(load_fails("", "signing_key = %1$s/pub-ec256.pem\n",
	    "no private key"), "a public signing_key refused");
	ok(load_fails("", "signing_key = %1$s/nonexistent.pem\n",
	    "[login] signing_key: "), "a missing signing_key named");
	ok(load_fails("", "signing_key = %1$s/garbage.pem\n",
	    "no private key"), "a file without a key refused");

	/* A public previous key, and RFC 7638's example thumbprint. */
	ok(load("", "previous_keys = %1$s/pub-ec384.pem %1$s/rfc7638.pem "
	    "%1$s/rsa2048.pem\n", &lc, err, sizeof(err)) == 0 && lc != NULL,
	    "previous_keys: public and private");
	if (lc == NULL) {
		diag("%s", err);
		return;
	}
	is_int(lc->nkeys, 4, "four keys");
	is_str(lc->keys[0].alg, "ES256", "keys[0] is the signing key");
	is_str(lc->keys[1].alg, "ES384", "a public previous key");
	ok(!has_private(lc->keys[1].pkey), "it has no private part");
	is_str(lc->keys[2].kid, rfc7638_kid, "the kid is the RFC 7638 "
	    "thumbprint");
	ok(strstr(lc->keys[2].jwk_json, "\"e\":\"AQAB\"") != NULL,
	    "the RSA JWK has e");
	is_str(lc->keys[3].alg, "RS256", "a private previous key");
	login_conf_free(lc);

	ok(load_fails("", "previous_keys = %1$s/pub-ec256.pem\n",
	    "the same key is listed twice"), "the signing key again as a "
	    "previous key refused");
}

static void
test_modes(void)
{
	ok(load_fails("", "signing_key = %1$s/open.pem\n",
	    "gives group or others access"), "a signing key others may read "
	    "refused");
	ok(load_fails("", "previous_keys = %1$s/open.pem\n",
	    "gives group or others access"), "a private previous key others "
	    "may read refused");
}

static void
test_errors(void)
{
	ok(load_fails("", "issuer = http://login.example.org\n",
	    "[login] issuer: want an https:// URL"), "an http issuer refused");
	ok(load_fails("", "issuer = https://login.example.org/?a=b\n",
	    "[login] issuer"), "an issuer with a query refused");
	ok(load_fails("", "issuer = https://login.example.org/#f\n",
	    "[login] issuer"), "an issuer with a fragment refused");
	ok(load_fails("", "issuer = https:///path\n", "[login] issuer"),
	    "an issuer without a host refused");
	ok(load_fails("", "issuer = https://\n", "[login] issuer"),
	    "an issuer of only https:// refused");
	ok(load_fails("", "ldap = nosuch\n",
	    "[login] ldap: there is no [ldap \"nosuch\"] section"),
	    "a missing [ldap] named");
	ok(load_fails("", "sessions = yes\n",
	    "[login] sessions: sessions are kept in the token database"),
	    "sessions = yes without [tokendb] refused");
	ok(load_fails("", "sessions = maybe\n", "unknown value \"maybe\""),
	    "a bad sessions value refused");
	ok(load_fails("", "listen = 127.0.0.1:8443\n",
	    "is a [server] listen address too"), "the review port refused");
	ok(load_fails("", "listen = localhost:8444\n", "[login] listen"),
	    "a host name refused");
	ok(load_fails("", "token_ttl = 30s\n", "out of range"),
	    "token_ttl under a minute refused");
	ok(load_fails("", "token_ttl = 169h\n", "out of range"),
	    "token_ttl over 7 days refused");
	ok(load_fails("", "failure_rate = -1\n", "[login] failure_rate"),
	    "a negative failure_rate refused");
	ok(load_fails("", "failure_burst = 0\n", "[login] failure_burst"),
	    "failure_burst 0 refused");
	ok(load_fails("", "failure_rate = fast\n", "bad number"),
	    "a failure_rate that is no number refused");
	ok(load_fails("", "colour = blue\n", "[login] colour: unknown key"),
	    "an unknown key refused");
	ok(load_fails("", "ldap =\n", "[login] ldap: empty value"),
	    "an empty ldap refused");
}

/* Part n (0, 1, 2) of a JWT, decoded. */
static unsigned char *
jwt_part(const char *jwt, int n, size_t *len)
{
	const char	*p = jwt, *end;

	while (n-- > 0)
		p = strchr(p, '.') + 1;
	end = strchr(p, '.');
	return base64_decode(p, end != NULL ? (size_t)(end - p) : strlen(p),
	    1, len);
}

/* The JWS signature checked with the key's public part. */
static int
jws_verify(const struct login_key *k, const char *jwt)
{
	const EVP_MD	*md = EVP_sha256();
	EVP_MD_CTX	*ctx = EVP_MD_CTX_new();
	ECDSA_SIG	*es;
	unsigned char	*sig, *der = NULL;
	size_t		 len, half;
	int		 dlen, r;

	if (strcmp(k->alg, "ES384") == 0)
		md = EVP_sha384();
	else if (strcmp(k->alg, "ES512") == 0)
		md = EVP_sha512();
	if ((sig = jwt_part(jwt, 2, &len)) == NULL) {
		EVP_MD_CTX_free(ctx);
		return 0;
	}
	if (k->alg[0] == 'E') {
		half = len / 2;
		es = ECDSA_SIG_new();
		ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)half, NULL),
		    BN_bin2bn(sig + half, (int)half, NULL));
		dlen = i2d_ECDSA_SIG(es, &der);
		ECDSA_SIG_free(es);
		free(sig);
		sig = xmalloc((size_t)dlen);
		memcpy(sig, der, (size_t)dlen);
		OPENSSL_free(der);
		len = (size_t)dlen;
	}
	r = EVP_DigestVerifyInit(ctx, NULL, md, NULL, k->pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, len, (const unsigned char *)jwt,
	    (size_t)(strrchr(jwt, '.') - jwt)) == 1;
	EVP_MD_CTX_free(ctx);
	free(sig);
	return r;
}

static void
test_sign_key(const char *file, const char *alg, size_t siglen)
{
	struct login_conf	*lc;
	char			 err[TR_ERRLEN], keys[256], jti[LOGIN_JTI_LEN + 1];
	char			*jwt;
	unsigned char		*part;
	json_t			*h, *c;
	size_t			 len;

	snprintf(keys, sizeof(keys), "signing_key = %%1$s/%s\n"
	    "token_ttl = 2h\n", file);
	if (load("", keys, &lc, err, sizeof(err)) != 0) {
		ok(0, "%s loads: %s", file, err);
		return;
	}
	jwt = login_sign(lc, "{\"username\":\"ldap:alice\",\"uid\":\"1001\","
	    "\"groups\":[\"g1\",\"g2\"],\"extra\":{\"a.org/k\":[\"v\"]}}",
	    1700000000, jti);
	ok(jwt != NULL, "%s: signed", file);
	if (jwt == NULL) {
		login_conf_free(lc);
		return;
	}
	ok(jws_verify(&lc->keys[0], jwt), "%s: the %s signature verifies",
	    file, alg);
	part = jwt_part(jwt, 2, &len);
	is_int(len, siglen, "%s: a %zu-byte signature", file, siglen);
	free(part);
	/* Another letter of the alphabet, so that the text still decodes. */
	len = strlen(jwt) - 2;
	jwt[len] = jwt[len] == 'A' ? 'B' : 'A';
	ok(!jws_verify(&lc->keys[0], jwt), "%s: a changed signature does "
	    "not", file);
	part = jwt_part(jwt, 0, &len);
	h = json_loadb((char *)part, len, 0, NULL);
	free(part);
	ok(h != NULL && strcmp(json_string_value(json_object_get(h, "alg")),
	    alg) == 0 && strcmp(json_string_value(json_object_get(h, "typ")),
	    "JWT") == 0 && strcmp(json_string_value(json_object_get(h,
	    "kid")), lc->keys[0].kid) == 0, "%s: header alg, typ, kid", file);
	part = jwt_part(jwt, 1, &len);
	c = json_loadb((char *)part, len, 0, NULL);
	free(part);
	ok(c != NULL && json_integer_value(json_object_get(c, "iat")) ==
	    1700000000 && json_integer_value(json_object_get(c, "nbf")) ==
	    1700000000 && json_integer_value(json_object_get(c, "exp")) ==
	    1700000000 + 7200 && strcmp(json_string_value(json_object_get(c,
	    "sub")), "ldap:alice") == 0 && strcmp(json_string_value(
	    json_object_get(c, "uid")), "1001") == 0 &&
	    json_array_size(json_object_get(c, "groups")) == 2 &&
	    json_is_object(json_object_get(c, "extra")) &&
	    strcmp(json_string_value(json_object_get(c, "jti")), jti) == 0 &&
	    strcmp(json_string_value(json_object_get(c, "iss")),
	    "https://login.example.org") == 0 && strcmp(json_string_value(
	    json_object_get(c, "aud")), "kubernetes") == 0,
	    "%s: claims iss, aud, sub, uid, groups, extra, iat, nbf, exp, "
	    "jti", file);
	is_int(strlen(jti), LOGIN_JTI_LEN, "%s: a 22-character jti", file);
	json_decref(h);
	json_decref(c);
	free(jwt);
	login_conf_free(lc);
}

static void
test_sign(void)
{
	struct login_conf	*lc;
	char			 err[TR_ERRLEN], jti[LOGIN_JTI_LEN + 1];
	char			 jti2[LOGIN_JTI_LEN + 1], *s, *t;
	json_t			*o;
	size_t			 len;

	test_sign_key("ec256.pem", "ES256", 64);
	test_sign_key("ec384.pem", "ES384", 96);
	test_sign_key("ec521.pem", "ES512", 132);
	test_sign_key("rsa2048.pem", "RS256", 256);

	if (load("", "issuer = https://login.example.org/a/b/\n"
	    "previous_keys = %1$s/pub-ec384.pem %1$s/pub-rsa2048.pem\n", &lc,
	    err, sizeof(err)) != 0) {
		ok(0, "a config with previous keys: %s", err);
		return;
	}
	s = login_sign(lc, "{\"username\":\"bob\"}", 1700000000, jti);
	t = login_sign(lc, "{\"username\":\"bob\"}", 1700000000, jti2);
	ok(s != NULL && strstr(s, ".") != NULL, "a user without groups");
	ok(strcmp(jti, jti2) != 0, "two tokens, two jti");
	free(s);
	free(t);
	ok(login_sign(lc, "not json", 0, jti) == NULL, "bad user JSON: NULL");
	is_str(login_issuer_path(lc), "/a/b", "the issuer's path");
	s = login_discovery(lc, &len);
	o = json_loads(s, 0, NULL);
	ok(o != NULL && strlen(s) == len && strcmp(json_string_value(
	    json_object_get(o, "jwks_uri")),
	    "https://login.example.org/a/b/openid/v1/jwks") == 0 &&
	    json_array_size(json_object_get(o,
	    "id_token_signing_alg_values_supported")) == 3,
	    "discovery: jwks_uri and the three algorithms");
	json_decref(o);
	free(s);
	s = login_jwks(lc, &len);
	o = json_loads(s, 0, NULL);
	ok(o != NULL && json_array_size(json_object_get(o, "keys")) == 3 &&
	    strstr(s, "\"d\"") == NULL, "JWKS: three public keys");
	json_decref(o);
	free(s);
	s = login_exec_credential("a.b.c", 1700007200, &len);
	is_str(s, "{\"kind\":\"ExecCredential\",\"apiVersion\":"
	    "\"client.authentication.k8s.io/v1\",\"spec\":{\"interactive\":"
	    "false},\"status\":{\"token\":\"a.b.c\",\"expirationTimestamp\":"
	    "\"2023-11-15T00:13:20Z\"}}", "the ExecCredential");
	free(s);
	login_conf_free(lc);
	ok(load("", "", &lc, err, sizeof(err)) == 0 &&
	    strcmp(login_issuer_path(lc), "") == 0, "an issuer without a "
	    "path: \"\"");
	login_conf_free(lc);
}

static void
setup(void)
{
	EVP_PKEY	*open_key;

	if (mkdtemp(dir) == NULL)
		bail_out("mkdtemp");
	gen_key("ec256.pem", EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256"));
	gen_key("ec384.pem", EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384"));
	gen_key("ec521.pem", EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-521"));
	gen_key("ec-k256.pem", EVP_PKEY_Q_keygen(NULL, NULL, "EC",
	    "secp256k1"));
	gen_key("rsa2048.pem", EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	    (size_t)2048));
	gen_key("rsa1024.pem", EVP_PKEY_Q_keygen(NULL, NULL, "RSA",
	    (size_t)1024));
	gen_key("ed25519.pem", EVP_PKEY_Q_keygen(NULL, NULL, "ED25519"));
	if ((open_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		bail_out("keygen");
	write_key("open.pem", open_key, 1, 0644);
	EVP_PKEY_free(open_key);
	write_file("garbage.pem", "hello\n", 6, 0600);
	gen_rfc7638();
}

static void
cleanup(void)
{
	char	cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
}

int
main(void)
{
	log_init(LL_ERROR);
	setup();
	test_none();
	test_defaults();
	test_values();
	test_keys();
	test_modes();
	test_errors();
	test_sign();
	cleanup();
	return done_testing();
}
