/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: jwt-sig.c's signature checks against OpenSSL's EVP
 * verification of the same signature, input and key; any disagreement
 * aborts.  The first byte chooses the algorithm (RS256, RS384, RS512 or
 * ES256 under keys made at start) and whether the signature is taken
 * from the input as it is or made by the harness over the input and then
 * XORed with the fuzzer's bytes, which reaches signatures that are good
 * or nearly so; the second byte moves the signature's length around the
 * right one.  The rest is the signed input.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>

#include "tokenreviewd.h"
#include "jwt-int.h"

#define FUZZ_MAXSIG	512

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static EVP_PKEY			*rsa, *ec;
static struct jwt_sigkey	*rsa_sk, *ec_sk;
static const enum jwt_alg_id	 fuzz_algs[] = { JWT_RS256, JWT_RS384,
    JWT_RS512, JWT_ES256 };

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	log_init(LL_ERROR);
	if ((rsa = EVP_RSA_gen(2048)) == NULL ||
	    (ec = EVP_EC_gen("P-256")) == NULL ||
	    (rsa_sk = jwt_sig_new(rsa, JWT_KTY_RSA, NULL)) == NULL ||
	    (ec_sk = jwt_sig_new(ec, JWT_KTY_EC, "P-256")) == NULL)
		fatalx("fuzz_jwtsig: keys");
	return 0;
}

static const EVP_MD *
fuzz_md(const struct jwt_alg *alg)
{
	return strcmp(alg->md, "SHA384") == 0 ? EVP_sha384() :
	    strcmp(alg->md, "SHA512") == 0 ? EVP_sha512() : EVP_sha256();
}

/* r || s as DER, for EVP; 0 if the halves do not make one. */
static size_t
fuzz_der(const unsigned char *sig, unsigned char *der)
{
	ECDSA_SIG	*es = ECDSA_SIG_new();
	unsigned char	*p = der;
	int		 len;

	ECDSA_SIG_set0(es, BN_bin2bn(sig, 32, NULL),
	    BN_bin2bn(sig + 32, 32, NULL));
	len = i2d_ECDSA_SIG(es, &p);
	ECDSA_SIG_free(es);
	return len > 0 ? (size_t)len : 0;
}

static int
fuzz_evp(EVP_PKEY *k, const struct jwt_alg *alg, const unsigned char *sig,
    size_t siglen, const unsigned char *in, size_t inlen)
{
	unsigned char	 der[FUZZ_MAXSIG];
	EVP_MD_CTX	*md;
	int		 ok;

	if (alg->sig == JWT_SIG_ECDSA) {
		if (siglen != 64 || (siglen = fuzz_der(sig, der)) == 0)
			return 0;
		sig = der;
	}
	md = EVP_MD_CTX_new();
	ok = EVP_DigestVerifyInit(md, NULL, fuzz_md(alg), NULL, k) == 1 &&
	    EVP_DigestVerify(md, sig, siglen, in, inlen) == 1;
	EVP_MD_CTX_free(md);
	return ok;
}

/* The harness's own signature over in, r || s for ECDSA. */
static size_t
fuzz_sign(EVP_PKEY *k, const struct jwt_alg *alg, const unsigned char *in,
    size_t inlen, unsigned char *sig)
{
	unsigned char		 der[FUZZ_MAXSIG];
	const unsigned char	*p = der;
	size_t			 len = sizeof(der);
	EVP_MD_CTX		*md = EVP_MD_CTX_new();
	ECDSA_SIG		*es;

	if (EVP_DigestSignInit(md, NULL, fuzz_md(alg), NULL, k) != 1 ||
	    EVP_DigestSign(md, der, &len, in, inlen) != 1)
		fatalx("fuzz_jwtsig: sign");
	EVP_MD_CTX_free(md);
	if (alg->sig != JWT_SIG_ECDSA) {
		memcpy(sig, der, len);
		return len;
	}
	es = d2i_ECDSA_SIG(NULL, &p, (long)len);
	BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32);
	BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32);
	ECDSA_SIG_free(es);
	return 64;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	unsigned char			 sig[FUZZ_MAXSIG];
	const struct jwt_alg		*alg;
	const struct jwt_sigkey		*sk;
	EVP_PKEY			*k;
	size_t				 siglen, want, i, n;
	int				 fast, evp;

	if (len < 2)
		return 0;
	alg = &jwt_algs[fuzz_algs[data[0] % JWT_NITEMS(fuzz_algs)]];
	k = alg->sig == JWT_SIG_ECDSA ? ec : rsa;
	sk = alg->sig == JWT_SIG_ECDSA ? ec_sk : rsa_sk;
	want = alg->sig == JWT_SIG_ECDSA ? 64 : (size_t)EVP_PKEY_get_size(k);
	siglen = want + (size_t)(data[1] % 5) - 2;
	data += 2;
	len -= 2;
	memset(sig, 0, sizeof(sig));
	if (data[-2] & 0x80) {
		/* XOR the fuzzer's first bytes into a good signature. */
		fuzz_sign(k, alg, data, len, sig);
		n = len < siglen ? len : siglen;
		for (i = 0; i < n; i++)
			sig[i] ^= data[i];
	} else {
		n = len < siglen ? len : siglen;
		memcpy(sig, data, n);
		data += n;
		len -= n;
	}
	fast = jwt_sig_verify(sk, alg, sig, siglen, data, len);
	evp = fuzz_evp(k, alg, sig, siglen, data, len);
	if (fast != evp) {
		fprintf(stderr, "fuzz_jwtsig: %s: jwt-sig.c %d, EVP %d\n",
		    alg->name, fast, evp);
		abort();
	}
	return 0;
}
