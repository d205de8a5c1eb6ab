/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Signature checks that cost less than OpenSSL's general ones, for the
 * two kinds nearly every issuer signs with.  What they need of a key is
 * worked out once, when its key set is built (jwt-keys.c):
 *
 * - RSASSA-PKCS1-v1_5 (RS256, RS384, RS512) as RFC 8017 section 8.2.2
 *   has it, by encoding and comparing: s^e mod n, with the key's
 *   Montgomery context kept, is compared whole with the one block the
 *   digest may give.  Nothing of the block is parsed, so no padding can
 *   be misread.  A review saves OpenSSL's per-call set-up around the
 *   same arithmetic, and the conversion out of Montgomery form: about a
 *   fifth of an RS256 check.
 * - ECDSA on P-256 (ES256).  OpenSSL computes u1.G from a table of
 *   multiples of the curve's generator, and u2.Q, for the key Q, from
 *   multiples it works out anew for each signature, most of the time of
 *   a check.  Here Q gets such a table too, as the generator of a copy
 *   of the curve (EC_GROUP_precompute_mult, 148 KiB a key): a check then
 *   costs about half.  A table is shared by every key set that holds
 *   its key, so that a reload or a fetch of the same keys builds none
 *   anew; tables are limited in number across the process
 *   (JWT_SIG_MAX_TABLES), so that a JWKS of many keys cannot make memory
 *   grow by a table each, and a key past the limit verifies through EVP.
 *
 * Every other algorithm, and a key whose form here cannot be built,
 * verifies through EVP as before.  Nothing here takes constant time, as
 * OpenSSL's verification does not: the key is public, and the time of a
 * check tells its sender nothing about a token it does not hold.  The
 * numbers made from a token live in a BN_CTX that is freed, and wiped
 * (wipe.c), with the check.  test_jwtsig and fuzz_jwtsig hold these
 * paths against EVP on the same inputs.
 */

/* EC_GROUP_precompute_mult(): deprecated in 3.0, kept in every 3.x. */
#define OPENSSL_API_COMPAT	10101

#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>

#include "tokenreviewd.h"
#include "jwt-int.h"

/* The largest modulus served here: 8192 bits; larger ones go to EVP. */
#define JWT_SIG_MAX_RSA		1024
#define JWT_SIG_P256		32	/* bytes of r, s and the digest */

/* A P-256 key's table, shared by the key sets that hold the key. */
struct jwt_sig_table {
	unsigned char		 pub[1 + 2 * JWT_SIG_P256];	/* 04 x y */
	EC_GROUP		*keyed;	/* P-256, the key as generator */
	int			 refs;
	LIST_ENTRY(jwt_sig_table) entry;
};

struct jwt_sigkey {
	enum jwt_sig		 kind;	/* JWT_SIG_PKCS1 or JWT_SIG_ECDSA */
	BIGNUM			*n, *e;	/* RSA */
	BN_MONT_CTX		*mont;
	size_t			 k;	/* n's length in bytes */
	EC_GROUP		*curve;	/* P-256 */
	struct jwt_sig_table	*table;
};

/* The DER DigestInfo before the digest (RFC 8017 section 9.2, note 1). */
struct jwt_sig_digest {
	unsigned char		 prefix[19];
	size_t			 len;
};

/* RS256, RS384 and RS512, in the order of enum jwt_alg_id. */
static const struct jwt_sig_digest jwt_sig_digests[] = {
	{ { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48,
	    0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 }, 32 },
	{ { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48,
	    0x01, 0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 }, 48 },
	{ { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48,
	    0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 }, 64 },
};

/* Every table, under the lock: made and dropped with key sets only. */
static LIST_HEAD(, jwt_sig_table) jwt_sig_tables =
    LIST_HEAD_INITIALIZER(jwt_sig_tables);
static int		jwt_sig_ntables;
static pthread_mutex_t	jwt_sig_mtx = PTHREAD_MUTEX_INITIALIZER;

int
jwt_sig_tables_left(void)
{
	int	n;

	pthread_mutex_lock(&jwt_sig_mtx);
	n = JWT_SIG_MAX_TABLES - jwt_sig_ntables;
	pthread_mutex_unlock(&jwt_sig_mtx);
	return n;
}

static void
jwt_sig_table_drop(struct jwt_sig_table *t)
{
	pthread_mutex_lock(&jwt_sig_mtx);
	if (--t->refs > 0)
		t = NULL;
	else {
		LIST_REMOVE(t, entry);
		jwt_sig_ntables--;
	}
	pthread_mutex_unlock(&jwt_sig_mtx);
	if (t != NULL) {
		EC_GROUP_free(t->keyed);
		free(t);
	}
}

/* The table of a point, with one more reference; NULL if there is none. */
static struct jwt_sig_table *
jwt_sig_table_find(const unsigned char *pub)
{
	struct jwt_sig_table	*t;

	LIST_FOREACH(t, &jwt_sig_tables, entry) {
		if (memcmp(t->pub, pub, sizeof(t->pub)) == 0) {
			t->refs++;
			return t;
		}
	}
	return NULL;
}

/*
 * A table for the key's point, the one already made or a new one; NULL
 * past the limit or if the point is not on the curve.  A new one takes
 * tens of milliseconds to build, done outside the lock: a worker takes
 * it when it drops the last reference to a key set.
 */
static struct jwt_sig_table *
jwt_sig_table_get(const EC_GROUP *curve, const unsigned char *pub,
    size_t len, BN_CTX *ctx)
{
	struct jwt_sig_table	*t, *had;
	EC_POINT		*q = NULL;
	int			 ok;

	if (len != sizeof(t->pub))
		return NULL;
	pthread_mutex_lock(&jwt_sig_mtx);
	if ((t = jwt_sig_table_find(pub)) != NULL ||
	    jwt_sig_ntables == JWT_SIG_MAX_TABLES) {
		pthread_mutex_unlock(&jwt_sig_mtx);
		return t;
	}
	jwt_sig_ntables++;		/* its place, while it is built */
	pthread_mutex_unlock(&jwt_sig_mtx);

	t = xcalloc(1, sizeof(*t));
	memcpy(t->pub, pub, len);
	t->refs = 1;
	ok = (t->keyed = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)) !=
	    NULL && (q = EC_POINT_new(t->keyed)) != NULL &&
	    EC_POINT_oct2point(t->keyed, q, pub, len, ctx) &&
	    !EC_POINT_is_at_infinity(t->keyed, q) &&
	    EC_GROUP_set_generator(t->keyed, q, EC_GROUP_get0_order(curve),
	    EC_GROUP_get0_cofactor(curve)) &&
	    EC_GROUP_precompute_mult(t->keyed, ctx);
	EC_POINT_free(q);

	pthread_mutex_lock(&jwt_sig_mtx);
	had = ok ? jwt_sig_table_find(pub) : NULL;	/* built meanwhile */
	if (ok && had == NULL)
		LIST_INSERT_HEAD(&jwt_sig_tables, t, entry);
	else
		jwt_sig_ntables--;
	pthread_mutex_unlock(&jwt_sig_mtx);
	if (ok && had == NULL)
		return t;
	EC_GROUP_free(t->keyed);
	free(t);
	return had;
}

void
jwt_sig_free(struct jwt_sigkey *sk)
{
	if (sk == NULL)
		return;
	BN_free(sk->n);
	BN_free(sk->e);
	BN_MONT_CTX_free(sk->mont);
	EC_GROUP_free(sk->curve);
	if (sk->table != NULL)
		jwt_sig_table_drop(sk->table);
	free(sk);
}

/*
 * An RSA key's modulus, exponent and Montgomery context.  Only what
 * Montgomery and the loop of jwt_sig_modexp() take: an odd modulus, an
 * odd exponent of at least 3 below it.
 */
static int
jwt_sig_rsa_new(struct jwt_sigkey *sk, EVP_PKEY *pkey, BN_CTX *ctx)
{
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &sk->n) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &sk->e))
		return -1;
	sk->k = (size_t)BN_num_bytes(sk->n);
	if (sk->k > JWT_SIG_MAX_RSA || !BN_is_odd(sk->n) ||
	    !BN_is_odd(sk->e) || BN_num_bits(sk->e) < 2 ||
	    BN_cmp(sk->e, sk->n) >= 0)
		return -1;
	if ((sk->mont = BN_MONT_CTX_new()) == NULL ||
	    !BN_MONT_CTX_set(sk->mont, sk->n, ctx))
		return -1;
	sk->kind = JWT_SIG_PKCS1;
	return 0;
}

/*
 * A P-256 key's table: a copy of the curve whose generator is the key's
 * point (of the curve's prime order, as every point but infinity is).
 */
static int
jwt_sig_ec_new(struct jwt_sigkey *sk, EVP_PKEY *pkey, BN_CTX *ctx)
{
	unsigned char	 pub[1 + 2 * JWT_SIG_P256];
	size_t		 len;

	if (!EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY,
	    pub, sizeof(pub), &len) ||
	    (sk->curve = EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1)) ==
	    NULL || (sk->table = jwt_sig_table_get(sk->curve, pub, len,
	    ctx)) == NULL)
		return -1;
	sk->kind = JWT_SIG_ECDSA;
	return 0;
}

struct jwt_sigkey *
jwt_sig_new(EVP_PKEY *pkey, enum jwt_kty kty, const char *crv)
{
	struct jwt_sigkey	*sk;
	BN_CTX			*ctx;
	int			 r = -1;

	if (pkey == NULL || (kty == JWT_KTY_EC && (crv == NULL ||
	    strcmp(crv, "P-256") != 0)))
		return NULL;
	if ((ctx = BN_CTX_new()) == NULL)
		fatalx("BN_CTX_new failed");
	sk = xcalloc(1, sizeof(*sk));
	r = kty == JWT_KTY_RSA ? jwt_sig_rsa_new(sk, pkey, ctx) :
	    jwt_sig_ec_new(sk, pkey, ctx);
	BN_CTX_free(ctx);
	if (r != 0) {
		jwt_sig_free(sk);
		ERR_clear_error();
		return NULL;
	}
	return sk;
}

/*
 * m = s^e mod n, squaring and multiplying in Montgomery form (sm is s.R):
 * for each bit of e after its first, a square, and a product with sm if
 * the bit is set.  The last bit (e is odd) multiplies by s itself, which
 * leaves the form (m.R times s, over R): no conversion back, which costs
 * more than a product.
 */
static int
jwt_sig_modexp(const struct jwt_sigkey *sk, BIGNUM *m, const BIGNUM *s,
    BIGNUM *sm, BN_CTX *ctx)
{
	int	i;

	if (!BN_to_montgomery(sm, s, sk->mont, ctx) || BN_copy(m, sm) == NULL)
		return 0;
	for (i = BN_num_bits(sk->e) - 2; i >= 1; i--) {
		if (!BN_mod_mul_montgomery(m, m, m, sk->mont, ctx) ||
		    (BN_is_bit_set(sk->e, i) &&
		    !BN_mod_mul_montgomery(m, m, sm, sk->mont, ctx)))
			return 0;
	}
	return BN_mod_mul_montgomery(m, m, m, sk->mont, ctx) &&
	    BN_mod_mul_montgomery(m, m, s, sk->mont, ctx);
}

static int
jwt_sig_digest(const struct jwt_sig_digest *d, const unsigned char *in,
    size_t inlen, unsigned char *out)
{
	if (d->len == TR_SHA256_LEN) {
		sha256(in, inlen, out);
		return 1;
	}
	return EVP_Digest(in, inlen, out, NULL, d->len == 48 ? EVP_sha384() :
	    EVP_sha512(), NULL);
}

/*
 * EMSA-PKCS1-v1_5: 00 01, FF bytes, 00, DigestInfo, as long as n; the
 * signature as long as n too, and less than it.
 */
static int
jwt_sig_pkcs1(const struct jwt_sigkey *sk, const struct jwt_sig_digest *d,
    const unsigned char *sig, size_t siglen, const unsigned char *in,
    size_t inlen)
{
	unsigned char	 want[JWT_SIG_MAX_RSA], got[JWT_SIG_MAX_RSA];
	size_t		 k = sk->k, t = sizeof(d->prefix) + d->len;
	BN_CTX		*ctx;
	BIGNUM		*s, *sm, *m;
	int		 ok;

	if (siglen != k || k < t + 11)
		return 0;
	want[0] = 0x00;
	want[1] = 0x01;
	memset(want + 2, 0xff, k - t - 3);
	want[k - t - 1] = 0x00;
	memcpy(want + k - t, d->prefix, sizeof(d->prefix));
	if (!jwt_sig_digest(d, in, inlen, want + k - d->len))
		return 0;
	if ((ctx = BN_CTX_new()) == NULL)
		fatalx("BN_CTX_new failed");
	BN_CTX_start(ctx);
	s = BN_CTX_get(ctx);
	sm = BN_CTX_get(ctx);
	m = BN_CTX_get(ctx);
	ok = m != NULL && BN_bin2bn(sig, (int)siglen, s) != NULL &&
	    BN_cmp(s, sk->n) < 0 && jwt_sig_modexp(sk, m, s, sm, ctx) &&
	    BN_bn2binpad(m, got, (int)k) == (int)k &&
	    CRYPTO_memcmp(got, want, k) == 0;
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return ok;
}

/* r or s of a signature: 1 <= x < the order. */
static int
jwt_sig_scalar(BIGNUM *x, const unsigned char *p, const BIGNUM *order)
{
	return BN_bin2bn(p, JWT_SIG_P256, x) != NULL && !BN_is_zero(x) &&
	    BN_cmp(x, order) < 0;
}

/*
 * ECDSA (SEC 1 section 4.1.4): with w = 1/s, the x of u1.G + u2.Q, where
 * u1 = e.w and u2 = r.w, must be r modulo the order.  u1.G uses the
 * curve's table, u2.Q the key's.
 */
static int
jwt_sig_ecdsa(const struct jwt_sigkey *sk, const unsigned char *sig,
    size_t siglen, const unsigned char *in, size_t inlen)
{
	unsigned char	 h[TR_SHA256_LEN];
	const BIGNUM	*order = EC_GROUP_get0_order(sk->curve);
	EC_POINT	*p = NULL, *pq = NULL;
	BN_CTX		*ctx;
	BIGNUM		*r, *s, *e, *w, *u1, *u2, *x;
	int		 ok;

	if (siglen != 2 * JWT_SIG_P256)
		return 0;
	sha256(in, inlen, h);
	if ((ctx = BN_CTX_new()) == NULL)
		fatalx("BN_CTX_new failed");
	BN_CTX_start(ctx);
	r = BN_CTX_get(ctx);
	s = BN_CTX_get(ctx);
	e = BN_CTX_get(ctx);
	w = BN_CTX_get(ctx);
	u1 = BN_CTX_get(ctx);
	u2 = BN_CTX_get(ctx);
	x = BN_CTX_get(ctx);
	ok = x != NULL && (p = EC_POINT_new(sk->curve)) != NULL &&
	    (pq = EC_POINT_new(sk->table->keyed)) != NULL &&
	    jwt_sig_scalar(r, sig, order) &&
	    jwt_sig_scalar(s, sig + JWT_SIG_P256, order) &&
	    BN_bin2bn(h, sizeof(h), e) != NULL &&
	    BN_mod_inverse(w, s, order, ctx) != NULL &&
	    BN_mod_mul(u1, e, w, order, ctx) &&
	    BN_mod_mul(u2, r, w, order, ctx) &&
	    EC_POINT_mul(sk->curve, p, u1, NULL, NULL, ctx) &&
	    EC_POINT_mul(sk->table->keyed, pq, u2, NULL, NULL, ctx) &&
	    EC_POINT_add(sk->curve, p, p, pq, ctx) &&
	    !EC_POINT_is_at_infinity(sk->curve, p) &&
	    EC_POINT_get_affine_coordinates(sk->curve, p, x, NULL, ctx) &&
	    BN_nnmod(x, x, order, ctx) && BN_cmp(x, r) == 0;
	EC_POINT_free(p);
	EC_POINT_free(pq);
	BN_CTX_end(ctx);
	BN_CTX_free(ctx);
	return ok;
}

int
jwt_sig_verify(const struct jwt_sigkey *sk, const struct jwt_alg *alg,
    const unsigned char *sig, size_t siglen, const unsigned char *in,
    size_t inlen)
{
	size_t	i = (size_t)(alg - jwt_algs) - JWT_RS256;

	if (sk == NULL || alg->sig != sk->kind)
		return -1;
	if (sk->kind == JWT_SIG_ECDSA)
		return alg->half == JWT_SIG_P256 ? jwt_sig_ecdsa(sk, sig,
		    siglen, in, inlen) : -1;
	if (i >= JWT_NITEMS(jwt_sig_digests))
		return -1;
	return jwt_sig_pkcs1(sk, &jwt_sig_digests[i], sig, siglen, in, inlen);
}
