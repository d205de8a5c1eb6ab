/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of jwt-sig.c, the faster signature checks, each answer
 * compared with OpenSSL's EVP verification of the same signature, input
 * and key.  RS256, RS384 and RS512: good signatures, flipped bits, the
 * wrong input, lengths off by one, another digest or PSS, the signature
 * plus the modulus (the same value modulo n), and blocks made with the
 * private key and no padding: the right one, and wrong ones (00 02, the
 * digest followed by garbage, a DigestInfo without its NULL, a digest of
 * another algorithm, too few FF bytes); keys whose exponent is 3, or has
 * bits set between its first and last.  ES256: good and flipped
 * signatures, s and n - s, r and s of 0 and of the order, r and s
 * swapped, random signatures.  Which keys get a faster form, the limit
 * on P-256 tables, tables shared by the holders of one key, and that a
 * key set carries them.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "tokenreviewd.h"
#include "jwt-int.h"
#include "tap.h"

#define MAXSIG	512

static EVP_PKEY	*rsa, *ec, *ec384;

static const struct jwt_alg *
alg_named(const char *name)
{
	size_t	i;

	for (i = 0; i < JWT_NALGS; i++)
		if (strcmp(jwt_algs[i].name, name) == 0)
			return &jwt_algs[i];
	fatalx("no algorithm %s", name);
}

static const EVP_MD *
md_of(const struct jwt_alg *alg)
{
	return strcmp(alg->md, "SHA384") == 0 ? EVP_sha384() :
	    strcmp(alg->md, "SHA512") == 0 ? EVP_sha512() : EVP_sha256();
}

/* EVP's answer, as jwt-verify.c asked it before jwt-sig.c: 1 or 0. */
static int
evp_verify(EVP_PKEY *k, const struct jwt_alg *alg, const unsigned char *sig,
    size_t len, const char *in)
{
	unsigned char	 der[MAXSIG], *p = der;
	ECDSA_SIG	*es;
	EVP_MD_CTX	*md = EVP_MD_CTX_new();
	int		 r, dlen;

	if (alg->sig == JWT_SIG_ECDSA) {
		if (len != 2 * alg->half)
			return 0;
		es = ECDSA_SIG_new();
		ECDSA_SIG_set0(es, BN_bin2bn(sig, (int)alg->half, NULL),
		    BN_bin2bn(sig + alg->half, (int)alg->half, NULL));
		dlen = i2d_ECDSA_SIG(es, &p);
		ECDSA_SIG_free(es);
		sig = der;
		len = (size_t)dlen;
	}
	r = EVP_DigestVerifyInit(md, NULL, md_of(alg), NULL, k) == 1 &&
	    EVP_DigestVerify(md, sig, len, (const unsigned char *)in,
	    strlen(in)) == 1;
	EVP_MD_CTX_free(md);
	return r;
}

static size_t
sign(EVP_PKEY *k, const char *algname, const char *in, unsigned char *sig)
{
	const struct jwt_alg	*alg = alg_named(algname);
	unsigned char		 der[MAXSIG];
	const unsigned char	*p = der;
	size_t			 len = sizeof(der);
	EVP_MD_CTX		*md = EVP_MD_CTX_new();
	EVP_PKEY_CTX		*pctx;
	ECDSA_SIG		*es;

	EVP_DigestSignInit(md, &pctx, md_of(alg), NULL, k);
	if (alg->sig == JWT_SIG_PSS)
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING);
	if (EVP_DigestSign(md, der, &len, (const unsigned char *)in,
	    strlen(in)) != 1)
		fatalx("sign %s", algname);
	EVP_MD_CTX_free(md);
	if (alg->sig != JWT_SIG_ECDSA) {
		memcpy(sig, der, len);
		return len;
	}
	es = d2i_ECDSA_SIG(NULL, &p, (long)len);
	BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, (int)alg->half);
	BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + alg->half, (int)alg->half);
	ECDSA_SIG_free(es);
	return 2 * alg->half;
}

/*
 * The faster check and EVP's agree on sig: both verify it (want 1) or
 * both refuse it (want 0).
 */
static void
agree(const struct jwt_sigkey *sk, EVP_PKEY *k, const char *algname,
    const unsigned char *sig, size_t len, const char *in, int want,
    const char *what)
{
	const struct jwt_alg	*alg = alg_named(algname);
	int			 fast, evp;

	fast = jwt_sig_verify(sk, alg, sig, len, (const unsigned char *)in,
	    strlen(in));
	evp = evp_verify(k, alg, sig, len, in);
	ok(fast == want && evp == want, "%s %s: %s", algname, what,
	    want ? "verifies" : "refused");
	if (fast != want || evp != want)
		diag("jwt-sig.c %d, EVP %d", fast, evp);
}

/* The private key's raw operation on a block of RSA_size bytes. */
static size_t
rsa_raw(const unsigned char *block, size_t k, unsigned char *sig)
{
	EVP_PKEY_CTX	*ctx = EVP_PKEY_CTX_new(rsa, NULL);
	size_t		 len = MAXSIG;

	if (EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_NO_PADDING) != 1 ||
	    EVP_PKEY_sign(ctx, sig, &len, block, k) != 1)
		fatalx("raw RSA");
	EVP_PKEY_CTX_free(ctx);
	return len;
}

/*
 * An EMSA-PKCS1-v1_5 block of k bytes for the SHA-256 of in, altered:
 * bt the block type, ff the number of FF bytes (the rest after the
 * digest is garbage), null whether the DigestInfo has its NULL, md the
 * digest whose OID it names (1 SHA-256, 2 SHA-384).
 */
static size_t
rsa_block(const char *in, size_t k, int bt, size_t ff, int null, int oid,
    unsigned char *sig)
{
	unsigned char	 b[MAXSIG], *p = b;
	unsigned char	 info[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
	    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
	    0x20 };
	size_t		 ilen = sizeof(info);

	info[14] = (unsigned char)oid;
	if (!null) {
		/* 30 2f 30 0b 06 09 OID 04 20 */
		info[1] = 0x2f;
		info[3] = 0x0b;
		memmove(info + 15, info + 17, 2);
		ilen -= 2;
	}
	memset(b, 0xa5, sizeof(b));
	*p++ = 0x00;
	*p++ = (unsigned char)bt;
	memset(p, 0xff, ff);
	p += ff;
	*p++ = 0x00;
	memcpy(p, info, ilen);
	p += ilen;
	sha256((const unsigned char *)in, strlen(in), p);
	if (p + TR_SHA256_LEN > b + k)
		fatalx("block too short");
	return rsa_raw(b, k, sig);
}

static void
test_rsa(void)
{
	static const char	*algs[] = { "RS256", "RS384", "RS512" };
	const char		*in = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJqYW5lIn0";
	unsigned char		 sig[MAXSIG], sig2[MAXSIG + 1];
	struct jwt_sigkey	*sk = jwt_sig_new(rsa, JWT_KTY_RSA, NULL);
	BIGNUM			*n = NULL, *s;
	size_t			 i, len, k = (size_t)EVP_PKEY_get_size(rsa);
	char			 what[64], in2[80];
	int			 tries;

	ok(sk != NULL, "an RSA key has a faster form");
	for (i = 0; i < JWT_NITEMS(algs); i++) {
		len = sign(rsa, algs[i], in, sig);
		agree(sk, rsa, algs[i], sig, len, in, 1, "a good signature");
		sig[0] ^= 0x01;
		agree(sk, rsa, algs[i], sig, len, in, 0, "first bit flipped");
		sig[0] ^= 0x01;
		sig[len / 2] ^= 0x40;
		agree(sk, rsa, algs[i], sig, len, in, 0, "a middle bit "
		    "flipped");
		sig[len / 2] ^= 0x40;
		sig[len - 1] ^= 0x80;
		agree(sk, rsa, algs[i], sig, len, in, 0, "last bit flipped");
		sig[len - 1] ^= 0x80;
		agree(sk, rsa, algs[i], sig, len, "eyJ.other", 0, "another "
		    "input");
		agree(sk, rsa, algs[i], sig, len - 1, in, 0, "a byte short");
		sig2[0] = 0;
		memcpy(sig2 + 1, sig, len);
		agree(sk, rsa, algs[i], sig2, len + 1, in, 0, "a zero byte "
		    "before");
	}
	len = sign(rsa, "RS384", in, sig);
	agree(sk, rsa, "RS256", sig, len, in, 0, "an RS384 signature");
	len = sign(rsa, "PS256", in, sig);
	agree(sk, rsa, "RS256", sig, len, in, 0, "a PS256 signature");
	ok(jwt_sig_verify(sk, alg_named("PS256"), sig, len,
	    (const unsigned char *)in, strlen(in)) == -1,
	    "PS256 has no faster form: EVP checks it");

	/* s + n is s modulo n: refused for not being less than n. */
	EVP_PKEY_get_bn_param(rsa, OSSL_PKEY_PARAM_RSA_N, &n);
	s = BN_new();
	for (tries = 0; tries < 200; tries++) {
		snprintf(in2, sizeof(in2), "%s%d", in, tries);
		len = sign(rsa, "RS256", in2, sig);
		BN_bin2bn(sig, (int)len, s);
		BN_add(s, s, n);
		if ((size_t)BN_num_bytes(s) == k)
			break;
	}
	BN_bn2binpad(s, sig, (int)k);
	agree(sk, rsa, "RS256", sig, k, in2, 0, "signature plus the modulus");
	BN_bn2binpad(n, sig, (int)k);
	agree(sk, rsa, "RS256", sig, k, in, 0, "the modulus");
	memset(sig, 0, k);
	agree(sk, rsa, "RS256", sig, k, in, 0, "zero");
	sig[k - 1] = 1;
	agree(sk, rsa, "RS256", sig, k, in, 0, "one");
	BN_free(s);
	BN_free(n);

	len = rsa_block(in, k, 1, k - 3 - 51, 1, 1, sig);
	agree(sk, rsa, "RS256", sig, len, in, 1, "the block made by hand");
	len = rsa_block(in, k, 2, k - 3 - 51, 1, 1, sig);
	agree(sk, rsa, "RS256", sig, len, in, 0, "block type 02");
	len = rsa_block(in, k, 1, k - 3 - 51 - 20, 1, 1, sig);
	agree(sk, rsa, "RS256", sig, len, in, 0, "20 FF short, garbage after "
	    "the digest");
	len = rsa_block(in, k, 1, 8, 1, 1, sig);
	agree(sk, rsa, "RS256", sig, len, in, 0, "8 FF bytes, garbage after "
	    "the digest");
	len = rsa_block(in, k, 1, k - 3 - 49, 0, 1, sig);
	agree(sk, rsa, "RS256", sig, len, in, 0, "DigestInfo without NULL");
	len = rsa_block(in, k, 1, k - 3 - 51, 1, 2, sig);
	agree(sk, rsa, "RS256", sig, len, in, 0, "the OID of SHA-384");
	for (i = 0; i < 20; i++) {
		RAND_bytes(sig, (int)k);
		sig[0] &= 0x3f;
		snprintf(what, sizeof(what), "random signature %zu", i);
		agree(sk, rsa, "RS256", sig, k, in, 0, what);
	}
	jwt_sig_free(sk);
}

/* x as 32 bytes at p. */
static void
put32(unsigned char *p, const BIGNUM *x)
{
	BN_bn2binpad(x, p, 32);
}

/* An RSA key with public exponent e. */
static EVP_PKEY *
rsa_with(unsigned long e)
{
	EVP_PKEY_CTX	*ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	EVP_PKEY	*k = NULL;
	BIGNUM		*bn = BN_new();

	BN_set_word(bn, e);
	if (EVP_PKEY_keygen_init(ctx) != 1 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(ctx, 2048) != 1 ||
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx, bn) != 1 ||
	    EVP_PKEY_generate(ctx, &k) != 1)
		fatalx("RSA key with e = %lu", e);
	EVP_PKEY_CTX_free(ctx);
	BN_free(bn);
	return k;
}

/* Exponents other than 65537, whose middle bits are all clear. */
static void
test_rsa_exponents(void)
{
	static const unsigned long	 es[] = { 3, 0x1000b, 0x7fffffff };
	const char			*in = "eyJ.eyJzdWIiOiJqb2UifQ";
	unsigned char			 sig[MAXSIG];
	struct jwt_sigkey		*sk;
	EVP_PKEY			*k;
	char				 what[64];
	size_t				 i, len;

	for (i = 0; i < JWT_NITEMS(es); i++) {
		k = rsa_with(es[i]);
		sk = jwt_sig_new(k, JWT_KTY_RSA, NULL);
		snprintf(what, sizeof(what), "e = %#lx, a good signature",
		    es[i]);
		len = sign(k, "RS256", in, sig);
		agree(sk, k, "RS256", sig, len, in, 1, what);
		sig[len - 2] ^= 0x10;
		snprintf(what, sizeof(what), "e = %#lx, a bit flipped", es[i]);
		agree(sk, k, "RS256", sig, len, in, 0, what);
		jwt_sig_free(sk);
		EVP_PKEY_free(k);
	}
}

static void
test_ecdsa(void)
{
	const char		*in = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJqYW5lIn0";
	unsigned char		 sig[64], bad[64];
	struct jwt_sigkey	*sk = jwt_sig_new(ec, JWT_KTY_EC, "P-256");
	EC_GROUP		*g = EC_GROUP_new_by_curve_name(
	    NID_X9_62_prime256v1);
	const BIGNUM		*order = EC_GROUP_get0_order(g);
	BIGNUM			*s = BN_new();
	char			 what[64];
	int			 i, all;

	ok(sk != NULL, "a P-256 key has a faster form");
	sign(ec, "ES256", in, sig);
	agree(sk, ec, "ES256", sig, 64, in, 1, "a good signature");
	for (i = 0, all = 1; i < 40; i++) {
		sign(ec, "ES256", in, bad);
		all &= jwt_sig_verify(sk, alg_named("ES256"), bad, 64,
		    (const unsigned char *)in, strlen(in)) == 1;
	}
	ok(all, "ES256: 40 more signatures verify");
	agree(sk, ec, "ES256", sig, 64, "eyJ.other", 0, "another input");
	for (i = 0; i < 64; i += 9) {
		memcpy(bad, sig, 64);
		bad[i] ^= (unsigned char)(1u << (i % 8));
		snprintf(what, sizeof(what), "bit %d of byte %d flipped",
		    i % 8, i);
		agree(sk, ec, "ES256", bad, 64, in, 0, what);
	}
	memcpy(bad, sig, 64);
	BN_bin2bn(sig + 32, 32, s);
	BN_sub(s, order, s);
	put32(bad + 32, s);
	agree(sk, ec, "ES256", bad, 64, in, 1, "r and n - s");
	memcpy(bad, sig + 32, 32);
	memcpy(bad + 32, sig, 32);
	agree(sk, ec, "ES256", bad, 64, in, 0, "s and r swapped");
	memcpy(bad, sig, 64);
	memset(bad, 0, 32);
	agree(sk, ec, "ES256", bad, 64, in, 0, "r = 0");
	put32(bad, order);
	agree(sk, ec, "ES256", bad, 64, in, 0, "r = n");
	memcpy(bad, sig, 64);
	memset(bad + 32, 0, 32);
	agree(sk, ec, "ES256", bad, 64, in, 0, "s = 0");
	put32(bad + 32, order);
	agree(sk, ec, "ES256", bad, 64, in, 0, "s = n");
	ok(jwt_sig_verify(sk, alg_named("ES256"), sig, 63,
	    (const unsigned char *)in, strlen(in)) == 0 &&
	    jwt_sig_verify(sk, alg_named("ES256"), sig, 65,
	    (const unsigned char *)in, strlen(in)) == 0,
	    "ES256: 63 and 65 bytes refused");
	for (i = 0; i < 10; i++) {
		RAND_bytes(bad, 64);
		snprintf(what, sizeof(what), "random signature %d", i);
		agree(sk, ec, "ES256", bad, 64, in, 0, what);
	}
	ok(jwt_sig_verify(sk, alg_named("RS256"), sig, 64,
	    (const unsigned char *)in, strlen(in)) == -1 &&
	    jwt_sig_verify(sk, alg_named("ES384"), sig, 64,
	    (const unsigned char *)in, strlen(in)) == -1,
	    "a P-256 key's form serves ES256 only");
	BN_free(s);
	EC_GROUP_free(g);
	jwt_sig_free(sk);
}

static void
test_tables(void)
{
	EVP_PKEY		*keys[JWT_SIG_MAX_TABLES + 1];
	struct jwt_sigkey	*sk[JWT_SIG_MAX_TABLES + 1], *twin, *again;
	struct jwt_keyset	*ks = jwt_keys_new();
	unsigned char		 sig[64];
	const char		*in = "a.b";
	char			 err[TR_ERRLEN];
	int			 i, all = 1;

	ok(jwt_sig_tables_left() == JWT_SIG_MAX_TABLES,
	    "no table before the first key");
	ok(jwt_sig_new(ec384, JWT_KTY_EC, "P-384") == NULL,
	    "a P-384 key has no faster form");
	for (i = 0; i <= JWT_SIG_MAX_TABLES; i++)
		if ((keys[i] = EVP_EC_gen("P-256")) == NULL)
			fatalx("EVP_EC_gen");
	for (i = 0; i < JWT_SIG_MAX_TABLES; i++)
		all &= (sk[i] = jwt_sig_new(keys[i], JWT_KTY_EC, "P-256")) !=
		    NULL;
	ok(all && jwt_sig_tables_left() == 0, "%d P-256 keys get tables",
	    JWT_SIG_MAX_TABLES);
	ok(jwt_sig_new(keys[JWT_SIG_MAX_TABLES], JWT_KTY_EC, "P-256") ==
	    NULL, "one more key gets none");
	twin = jwt_sig_new(keys[5], JWT_KTY_EC, "P-256");
	ok(twin != NULL && jwt_sig_tables_left() == 0,
	    "a key that has a table shares it, past the limit too");
	ok((sk[JWT_SIG_MAX_TABLES] = jwt_sig_new(rsa, JWT_KTY_RSA, NULL)) !=
	    NULL, "an RSA key still has its faster form: it has no table");
	jwt_sig_free(sk[JWT_SIG_MAX_TABLES]);
	sign(keys[5], "ES256", in, sig);
	jwt_sig_free(sk[5]);
	ok(jwt_sig_tables_left() == 0 && jwt_sig_verify(twin,
	    alg_named("ES256"), sig, 64, (const unsigned char *)in, 3) == 1,
	    "the shared table outlives one of its holders");
	jwt_sig_free(twin);
	ok(jwt_sig_tables_left() == 1, "and goes with the last");
	again = jwt_sig_new(keys[JWT_SIG_MAX_TABLES], JWT_KTY_EC, "P-256");
	ok(again != NULL, "a freed table makes room for another key");
	sign(keys[JWT_SIG_MAX_TABLES], "ES256", in, sig);
	ok(jwt_sig_verify(again, alg_named("ES256"), sig, 64,
	    (const unsigned char *)in, 3) == 1 && jwt_sig_verify(sk[3],
	    alg_named("ES256"), sig, 64, (const unsigned char *)in, 3) == 0,
	    "each key's table verifies its own signatures only");
	jwt_sig_free(again);
	for (i = 0; i < JWT_SIG_MAX_TABLES; i++)
		if (i != 5)
			jwt_sig_free(sk[i]);
	for (i = 0; i <= JWT_SIG_MAX_TABLES; i++)
		EVP_PKEY_free(keys[i]);
	ok(jwt_sig_tables_left() == JWT_SIG_MAX_TABLES, "all given back");

	ok(jwt_keys_add_pkey(ks, rsa, "r", "RS256", err, sizeof(err)) == 0 &&
	    jwt_keys_add_pkey(ks, ec, "e", "ES256", err, sizeof(err)) == 0 &&
	    jwt_keys_add_pkey(ks, ec384, "e3", "ES384", err,
	    sizeof(err)) == 0 && ks->nkeys == 3, "a key set of three keys");
	ok(ks->keys[0].sig != NULL && ks->keys[1].sig != NULL &&
	    ks->keys[2].sig == NULL, "its RSA and P-256 keys carry faster "
	    "forms, its P-384 key none");
	ok(jwt_sig_tables_left() == JWT_SIG_MAX_TABLES - 1,
	    "the key set holds one table");
	jwt_keys_unref(ks);
	ok(jwt_sig_tables_left() == JWT_SIG_MAX_TABLES,
	    "and gives it back when freed");
}

int
main(void)
{
	log_init(LL_ERROR);
	rsa = EVP_RSA_gen(2048);
	ec = EVP_EC_gen("P-256");
	ec384 = EVP_EC_gen("P-384");
	if (rsa == NULL || ec == NULL || ec384 == NULL)
		fatalx("key generation");
	test_tables();
	test_rsa();
	test_rsa_exponents();
	test_ecdsa();
	EVP_PKEY_free(rsa);
	EVP_PKEY_free(ec);
	EVP_PKEY_free(ec384);
	return done_testing();
}
