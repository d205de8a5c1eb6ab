/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: JWT headers and claims past the signature check.  The
 * input is the header JSON, a newline, and the claims JSON (a leading '!'
 * adds the audiences "x" and "kubernetes" to the review); the harness
 * signs header.claims with ES256 under a key of its own that every issuer
 * of its configuration trusts, so that whatever the header allows reaches
 * the claim checks and the mappings: OIDC with username claim, prefix and
 * template, groups, uid, extra and required claims, and service-account
 * issuers, one of them audience-aware.  The token is split, routed and
 * verified by jwt-verify.c's pure functions at a fixed time, not through
 * the source's review path.  An accepted token must give a user as a JSON
 * object; a refused one a reason.
 */

#include <sys/stat.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "tokenreviewd.h"
#include "jwt-int.h"

/* The time tokens are checked at: 2025-06-15, before the seeds' exp. */
#define FUZZ_JWT_NOW	1750000000.0

int	LLVMFuzzerInitialize(int *, char ***);
int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static char		 dir[] = "/tmp/tokenreviewd-fuzz-jwt.XXXXXX";
static EVP_PKEY		*key;
static struct config	*conf;
static void		*shared;

static const char *conf_text =
	"[server]\ntls_cert = /x\ntls_key = /x\n\n"
	"[jwt \"idp\"]\n"
	"issuer = https://idp.test\n"
	"audiences = kubernetes other\n"
	"algorithms = ES256 RS256\n"
	"username_claim = email\n"
	"username_prefix = oidc:\n"
	"groups_claim = groups\n"
	"groups_prefix = oidc:\n"
	"uid_claim = sub\n"
	"extra.example.org/tenant = tenant\n"
	"extra.example.org/roles = roles\n"
	"required_claims = tenant=blue\n"
	"public_key_file = %1$s/key.pem\n\n"
	"[jwt \"tmpl\"]\n"
	"issuer = https://tmpl.test\n"
	"audiences = kubernetes\n"
	"algorithms = ES256\n"
	"username_template = tmpl:{email}/{sub}\n"
	"groups_claim = roles\n"
	"max_token_size = 4k\n"
	"public_key_file = %1$s/key.pem\n\n"
	"[jwt \"sa\"]\n"
	"type = serviceaccount\n"
	"issuer = https://sa.test\n"
	"audiences = https://kubernetes.default.svc\n"
	"algorithms = ES256\n"
	"public_key_file = %1$s/key.pem\n\n"
	"[jwt \"sa-aware\"]\n"
	"type = serviceaccount\n"
	"issuer = https://sa-aware.test\n"
	"audiences = x\n"
	"audience_aware = yes\n"
	"clock_skew = 10s\n"
	"public_key_file = %1$s/key.pem\n";

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

static void
remove_files(void)
{
	char	path[256];

	snprintf(path, sizeof(path), "%s/key.pem", dir);
	unlink(path);
	snprintf(path, sizeof(path), "%s/tokenreviewd.conf", dir);
	unlink(path);
	rmdir(dir);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char	path[256], err[TR_ERRLEN], *text, *pem;
	BIO	*bio;
	long	n;

	log_init(LL_FATAL);
	err[0] = '\0';
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	atexit(remove_files);
	if ((key = EVP_EC_gen("P-256")) == NULL)
		fatalx("EVP_EC_gen");
	bio = BIO_new(BIO_s_mem());
	if (PEM_write_bio_PUBKEY(bio, key) != 1 ||
	    (n = BIO_get_mem_data(bio, &pem)) <= 0)
		fatalx("PEM_write_bio_PUBKEY");
	text = xstrndup(pem, (size_t)n);
	BIO_free(bio);
	write_file("key.pem", text);
	free(text);
	xasprintf(&text, conf_text, dir);
	write_file("tokenreviewd.conf", text);
	free(text);
	snprintf(path, sizeof(path), "%s/tokenreviewd.conf", dir);
	if ((conf = config_load(path, err, sizeof(err))) == NULL ||
	    jwt_conf_load(conf, &shared, err, sizeof(err)) != 0)
		fatalx("%s", err);
	return 0;
}

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

/* The ES256 signature of input, as JWS wants it (r and s, 32 bytes each). */
static char *
sign(const char *input)
{
	unsigned char	 der[128], raw[64];
	const unsigned char *p = der;
	const BIGNUM	*r, *s;
	ECDSA_SIG	*sig;
	EVP_MD_CTX	*md;
	size_t		 len = sizeof(der);

	md = EVP_MD_CTX_new();
	if (EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(md, der, &len, (const unsigned char *)input,
	    strlen(input)) != 1)
		fatalx("EVP_DigestSign");
	EVP_MD_CTX_free(md);
	if ((sig = d2i_ECDSA_SIG(NULL, &p, (long)len)) == NULL)
		fatalx("d2i_ECDSA_SIG");
	ECDSA_SIG_get0(sig, &r, &s);
	BN_bn2binpad(r, raw, 32);
	BN_bn2binpad(s, raw + 32, 32);
	ECDSA_SIG_free(sig);
	return b64url(raw, sizeof(raw));
}

/* Only names of the system: namespace may be kept out of an answer. */
static void
names_cb(enum jwt_name_role role, const char *name, enum names_kind kind,
    void *arg)
{
	if (name == NULL || kind == NAMES_PLAIN || names_kind(name) != kind ||
	    (role != JWT_NAME_GROUP && role != JWT_NAME_USER))
		abort();
}

/* What a verdict must hold, by its outcome. */
static void
verdict_check(const struct jwt_issuer *is, const struct jwt_verdict *v)
{
	json_t	*user;

	if (v->rv == JWT_VERIFY_OK) {
		if (v->user_json == NULL || v->username == NULL ||
		    v->max_ttl < 1 || (user = json_loads(v->user_json, 0,
		    NULL)) == NULL || !json_is_object(user))
			abort();
		json_decref(user);
		return;
	}
	if (v->rv != JWT_VERIFY_INVALID && v->rv != JWT_VERIFY_NO_KEY &&
	    v->rv != JWT_VERIFY_AUDIENCE)
		abort();
	if (v->rv == JWT_VERIFY_AUDIENCE && !is->audience_aware)
		abort();
	if (v->why[0] == '\0' || v->user_json != NULL ||
	    v->username != NULL || v->audiences_json != NULL)
		abort();
}

static void
verify(char *token, int with_audiences)
{
	static char		*auds[] = { "x", "kubernetes", NULL };
	const struct jwt_issuer	*is;
	struct jwt_token	 t;
	struct jwt_check	 c;
	struct jwt_verdict	 v;

	if (jwt_verify_split(&t, token, strlen(token)) != 0)
		return;
	if ((is = jwt_conf_issuer(shared, jwt_json_str(t.unverified,
	    "iss"))) == NULL) {
		jwt_verify_token_clear(&t);
		return;
	}
	memset(&c, 0, sizeof(c));
	c.is = is;
	c.ks = is->keys;
	if (with_audiences) {
		c.audiences = auds;
		c.naudiences = 2;
	}
	c.now = FUZZ_JWT_NOW;
	c.names_cb = names_cb;
	jwt_verify(&c, &t, &v);
	/* To see what the seeds reach: FUZZ_JWT_VERBOSE=1. */
	if (getenv("FUZZ_JWT_VERBOSE") != NULL)
		fprintf(stderr, "rv %d: %s\n", v.rv, v.rv == JWT_VERIFY_OK ?
		    v.user_json : v.why);
	verdict_check(is, &v);
	jwt_verify_verdict_clear(&v);
	jwt_verify_token_clear(&t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	const char	*nl;
	char		*hs, *cs, *input, *sig, *token;
	int		 with_audiences = 0;

	if (len > 0 && data[0] == '!') {
		with_audiences = 1;
		data++;
		len--;
	}
	if ((nl = memchr(data, '\n', len)) == NULL)
		return 0;
	hs = b64url(data, (size_t)(nl - (const char *)data));
	cs = b64url((const unsigned char *)nl + 1,
	    len - (size_t)(nl - (const char *)data) - 1);
	xasprintf(&input, "%s.%s", hs, cs);
	sig = sign(input);
	xasprintf(&token, "%s.%s", input, sig);
	verify(token, with_audiences);
	free(token);
	free(sig);
	free(input);
	free(cs);
	free(hs);
	return 0;
}
