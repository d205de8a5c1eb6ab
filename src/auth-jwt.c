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
 * Keys come from a JWKS file or PEM public key files read at load, or
 * from the issuer's discovery document and JWKS, fetched by one thread
 * off the request path (see "fetching" below).  A key set is immutable
 * and reference-counted; a new one replaces it whole.
 */

#include <sys/queue.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
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
#define JWT_MAX_CACHE_S		(24LL * 3600)	/* [cache] ttl's maximum */

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
	int			 allow_system_names;
	struct names_once	*system_logged;	/* names.c */
	char			**required;	/* "claim=value" */
	size_t			 nrequired;
	struct jwt_extra	*extra;
	size_t			 nextra;
	char			**key_files;	/* watched for reloads */
	size_t			 nkey_files;
	struct jwt_keyset	*keys;		/* from files, or NULL */
	struct jwt_source	*src;		/* fetched keys, or NULL */

	/* counters, written with relaxed atomics by any worker */
	uint64_t		 n_ok;
	uint64_t		 n_invalid;
	uint64_t		 n_rejected;	/* valid, other audience */
	uint64_t		 n_system_groups; /* dropped (names.c) */
	uint64_t		 n_system_users;  /* tokens refused for it */
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
		if ((v = base64_digit((unsigned char)s[i], 1)) < 0)
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
	if (!b64url_valid(s, n))
		return NULL;
	return base64_decode(s, n, 1, outlen);
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

/* ---------------------------------------------------------------- fetching */

/*
 * Keys fetched over HTTPS.  One fetcher thread per process serves every
 * issuer without a key file: it fetches the discovery document and the
 * JWKS with libcurl (blocking calls, but only that thread waits on them)
 * and publishes a new immutable key set under the source's mutex.  A
 * failed fetch keeps the last good keys.  Sources outlive a reload: a new
 * generation's issuer with the same URLs, CA file and limits finds the
 * existing source and keeps its keys.  A worker that needs a fetch (an
 * unknown kid, no keys yet) asks for one, at most one per refetch_interval,
 * joins the fetch in flight, and waits for it without blocking: the
 * fetcher wakes it through a pipe its event loop watches.
 */

struct jwt_inst;

struct jwt_source {
	TAILQ_ENTRY(jwt_source)	 entry;
	int			 refs;		/* under fetch_mtx */
	char			*name;		/* the first section's */
	char			*id;		/* everything that tells apart */
	char			*issuer;
	char			*discovery_url;
	char			*jwks_url;	/* NULL: from discovery */
	char			*ca;
	long long		 refresh;	/* ms */
	long long		 retry;
	long long		 refetch;
	long long		 timeout;
	size_t			 max_response;

	/* under fetch_mtx */
	int			 busy;
	int			 fetch_now;
	uint64_t		 next_fetch;	/* monotonic ms */
	uint64_t		 last_start;
	uint64_t		 gen;		/* fetches done; atomic reads */
	struct jwt_inst		**waiters;
	size_t			 nwaiters;

	pthread_mutex_t		 keys_mtx;
	struct jwt_keyset	*keys;		/* under keys_mtx; NULL: none */

	uint64_t		 n_fetch_ok;	/* atomic */
	uint64_t		 n_fetch_error;	/* atomic */
	int64_t			 last_ok;	/* atomic, wall clock; 0: never */
};

static pthread_mutex_t	fetch_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	fetch_cv = PTHREAD_COND_INITIALIZER;
static TAILQ_HEAD(, jwt_source) sources = TAILQ_HEAD_INITIALIZER(sources);
static pthread_once_t	curl_once = PTHREAD_ONCE_INIT;
static pthread_once_t	fetcher_once = PTHREAD_ONCE_INIT;

/*
 * The fetcher thread is joined before the process exits: OpenSSL's
 * exit-time cleanup frees its locks and tables, and a thread still inside
 * libcurl's TLS code then crashes the process.  Its transfers run on
 * fetch_multi, which fetcher_exit() wakes from another thread.
 */
#define JWT_EXIT_WAIT		5		/* s to wait for the fetcher */
static pthread_t	fetcher_thread;
static CURLM		*fetch_multi;
static int		fetch_stop;		/* atomic */

struct jwt_inst {
	struct jwt_shared	*js;
	struct event_base	*base;
	int			 fds[2];	/* fetcher -> worker wake-ups */
	struct event		*wake;
	TAILQ_HEAD(, jwt_wait)	 waits;
};

static void
source_free(struct jwt_source *src)
{
	free(src->name);
	free(src->id);
	free(src->issuer);
	free(src->discovery_url);
	free(src->jwks_url);
	free(src->ca);
	free(src->waiters);
	keyset_unref(src->keys);
	pthread_mutex_destroy(&src->keys_mtx);
	free(src);
}

static void
source_unref(struct jwt_source *src)
{
	if (src == NULL)
		return;
	pthread_mutex_lock(&fetch_mtx);
	if (--src->refs > 0) {
		pthread_mutex_unlock(&fetch_mtx);
		return;
	}
	TAILQ_REMOVE(&sources, src, entry);
	pthread_mutex_unlock(&fetch_mtx);
	source_free(src);
}

/* The source with src's identity if one is live (src is then freed). */
static struct jwt_source *
source_share(struct jwt_source *src)
{
	struct jwt_source	*s;

	pthread_mutex_lock(&fetch_mtx);
	TAILQ_FOREACH(s, &sources, entry) {
		if (strcmp(s->id, src->id) == 0)
			break;
	}
	if (s != NULL) {
		s->refs++;
		pthread_mutex_unlock(&fetch_mtx);
		source_free(src);
		return s;
	}
	src->refs = 1;
	TAILQ_INSERT_TAIL(&sources, src, entry);
	pthread_mutex_unlock(&fetch_mtx);
	return src;
}

/* A reference to the source's current keys, or NULL. */
static struct jwt_keyset *
source_keys(struct jwt_source *src)
{
	struct jwt_keyset	*ks;

	pthread_mutex_lock(&src->keys_mtx);
	if ((ks = src->keys) != NULL)
		__atomic_add_fetch(&ks->refs, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&src->keys_mtx);
	return ks;
}

struct fetch_buf {
	char	*data;
	size_t	 len;
	size_t	 max;
	int	 toobig;
};

static size_t
fetch_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fetch_buf	*b = arg;
	size_t			 len = size * n;

	if (len > b->max - b->len) {
		b->toobig = 1;
		return 0;	/* libcurl ends the transfer */
	}
	b->data = xreallocarray(b->data, b->len + len + 1, 1);
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

static int
fetch_stopping(void)
{
	return __atomic_load_n(&fetch_stop, __ATOMIC_ACQUIRE);
}

/*
 * Run one transfer on the fetcher's multi handle, so that fetcher_exit()
 * can interrupt it at once (curl_multi_wakeup) instead of waiting for a
 * slow issuer until fetch_timeout.
 */
static CURLcode
http_perform(CURL *c)
{
	CURLMsg		*msg;
	CURLcode	 rc = CURLE_ABORTED_BY_CALLBACK;
	int		 running = 1, left;

	if (curl_multi_add_handle(fetch_multi, c) != CURLM_OK)
		return CURLE_FAILED_INIT;
	while (running > 0 && !fetch_stopping()) {
		if (curl_multi_perform(fetch_multi, &running) != CURLM_OK) {
			rc = CURLE_FAILED_INIT;
			break;
		}
		if (running > 0 && curl_multi_poll(fetch_multi, NULL, 0, 1000,
		    NULL) != CURLM_OK) {
			rc = CURLE_FAILED_INIT;
			break;
		}
	}
	while ((msg = curl_multi_info_read(fetch_multi, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c)
			rc = msg->data.result;
	}
	curl_multi_remove_handle(fetch_multi, c);
	return rc;
}

/*
 * GET an https URL; the body (NUL-terminated, the caller frees it) if the
 * answer is 200 within the time and size limits, else NULL and why.
 * libcurl honours the https_proxy and no_proxy environment variables.
 */
static char *
http_get(const struct jwt_source *src, const char *url, size_t *len,
    char *why, size_t whylen)
{
	struct fetch_buf	 b = { NULL, 0, src->max_response, 0 };
	char			 errbuf[CURL_ERROR_SIZE] = "";
	CURL			*c;
	CURLcode		 rc;
	long			 code = 0;

	if ((c = curl_easy_init()) == NULL) {
		snprintf(why, whylen, "%s: libcurl failed to start", url);
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)src->timeout);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, fetch_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_USERAGENT, PACKAGE_NAME "/"
	    PACKAGE_VERSION);
	if (src->ca != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, src->ca);
	rc = http_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (b.toobig)
		snprintf(why, whylen, "%s: response larger than %zu bytes",
		    url, src->max_response);
	else if (rc != CURLE_OK)
		snprintf(why, whylen, "%s: %s", url, errbuf[0] != '\0' ?
		    errbuf : curl_easy_strerror(rc));
	else if (code != 200)
		snprintf(why, whylen, "%s: HTTP status %ld", url, code);
	if (b.toobig || rc != CURLE_OK || code != 200) {
		free(b.data);
		return NULL;
	}
	*len = b.len;
	return b.data != NULL ? b.data : xstrdup("");
}

/* The jwks_uri of a discovery document whose issuer is ours. */
static char *
discovery_jwks_uri(const struct jwt_source *src, const char *doc,
    size_t len, char *why, size_t whylen)
{
	json_t		*j;
	const char	*iss, *uri;
	char		*r = NULL;

	if ((j = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL || !json_is_object(j)) {
		snprintf(why, whylen, "%s: not a JSON object",
		    src->discovery_url);
		goto out;
	}
	iss = json_str(j, "issuer");
	uri = json_str(j, "jwks_uri");
	if (iss == NULL || strcmp(iss, src->issuer) != 0)
		snprintf(why, whylen, "%s: its issuer is not %s",
		    src->discovery_url, src->issuer);
	else if (uri == NULL || strncmp(uri, "https://", 8) != 0)
		snprintf(why, whylen, "%s: no https jwks_uri",
		    src->discovery_url);
	else
		r = xstrdup(uri);
out:
	json_decref(j);
	return r;
}

/* The keys at the source's JWKS URL, or NULL and why. */
static struct jwt_keyset *
fetch_keys(const struct jwt_source *src, char *why, size_t whylen)
{
	struct jwt_keyset	*ks = NULL;
	char			*doc = NULL, *uri = NULL, msg[200];
	size_t			 len;

	msg[0] = '\0';
	if (src->jwks_url == NULL) {
		if ((doc = http_get(src, src->discovery_url, &len, why,
		    whylen)) == NULL || (uri = discovery_jwks_uri(src, doc,
		    len, why, whylen)) == NULL)
			goto out;
		free(doc);
	} else
		uri = xstrdup(src->jwks_url);
	if ((doc = http_get(src, uri, &len, why, whylen)) == NULL)
		goto out;
	ks = xcalloc(1, sizeof(*ks));
	ks->refs = 1;
	if (keyset_add_jwks(ks, doc, len, msg, sizeof(msg)) != 0 ||
	    ks->nkeys == 0) {
		snprintf(why, whylen, "%.200s: %s", uri, msg[0] == '\0' ?
		    "no usable signing key" : msg);
		keyset_unref(ks);
		ks = NULL;
	}
out:
	free(doc);
	free(uri);
	return ks;
}

/* One fetch; publishes the keys on success.  1 if it succeeded. */
static int
fetch_source(struct jwt_source *src)
{
	struct jwt_keyset	*ks, *old;
	char			 why[TR_ERRLEN];
	size_t			 nold;

	why[0] = '\0';
	if ((ks = fetch_keys(src, why, sizeof(why))) == NULL) {
		if (fetch_stopping())
			return 0;
		__atomic_add_fetch(&src->n_fetch_error, 1, __ATOMIC_RELAXED);
		old = source_keys(src);
		nold = old != NULL ? old->nkeys : 0;
		keyset_unref(old);
		log_msg(LL_WARN, "jwt_fetch", "issuer %s: key fetch failed, "
		    "keeping the %zu last good keys: %s", src->name, nold,
		    why);
		return 0;
	}
	pthread_mutex_lock(&src->keys_mtx);
	old = src->keys;
	src->keys = ks;
	pthread_mutex_unlock(&src->keys_mtx);
	keyset_unref(old);
	__atomic_add_fetch(&src->n_fetch_ok, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&src->last_ok, (int64_t)time(NULL), __ATOMIC_RELAXED);
	log_msg(LL_INFO, "jwt_fetch", "issuer %s: %zu signing keys fetched",
	    src->name, ks->nkeys);
	return 1;
}

/* The next source to fetch, or NULL; under fetch_mtx. */
static struct jwt_source *
fetch_due(uint64_t now)
{
	struct jwt_source	*src;

	TAILQ_FOREACH(src, &sources, entry) {
		if (!src->busy && (src->fetch_now || now >= src->next_fetch))
			return src;
	}
	return NULL;
}

/* A fetch ended: wake every worker waiting on it; under fetch_mtx. */
static void
fetch_wake(struct jwt_source *src)
{
	size_t	i;
	ssize_t	n;

	__atomic_add_fetch(&src->gen, 1, __ATOMIC_RELEASE);
	for (i = 0; i < src->nwaiters; i++) {
		/* A full pipe already holds a wake-up. */
		n = write(src->waiters[i]->fds[1], "", 1);
		(void)n;
	}
	src->nwaiters = 0;
}

/*
 * Sleep until the next fetch is due (at most a second) or a worker asks
 * for one; under fetch_mtx.
 */
static void
fetch_sleep(void)
{
	struct jwt_source	*src;
	struct timespec		 ts;
	uint64_t		 now = monotonic_ms(), ms = 1000;

	TAILQ_FOREACH(src, &sources, entry) {
		if (!src->busy && src->next_fetch > now &&
		    src->next_fetch - now < ms)
			ms = src->next_fetch - now;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts.tv_nsec >= 1000000000) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000;
	}
	pthread_cond_timedwait(&fetch_cv, &fetch_mtx, &ts);
}

static void *
fetcher_main(void *arg)
{
	struct jwt_source	*src;
	int			 ok;

	pthread_mutex_lock(&fetch_mtx);
	while (!fetch_stopping()) {
		if ((src = fetch_due(monotonic_ms())) == NULL) {
			fetch_sleep();
			continue;
		}
		src->busy = 1;
		src->fetch_now = 0;
		src->refs++;
		src->last_start = monotonic_ms();
		pthread_mutex_unlock(&fetch_mtx);
		ok = fetch_source(src);
		pthread_mutex_lock(&fetch_mtx);
		src->busy = 0;
		src->next_fetch = monotonic_ms() +
		    (uint64_t)(ok ? src->refresh : src->retry);
		fetch_wake(src);
		pthread_mutex_unlock(&fetch_mtx);
		source_unref(src);
		pthread_mutex_lock(&fetch_mtx);
	}
	pthread_mutex_unlock(&fetch_mtx);
	return NULL;
}

/*
 * At exit (main returned, or a fatal error): interrupt the fetch in
 * progress and join the fetcher.  Registered after libcurl initialised
 * OpenSSL, so it runs before OpenSSL's own exit handler.  The thread ends
 * within one pass of libcurl's loop; should it not within JWT_EXIT_WAIT,
 * it is left behind with a warning rather than hang the exit.
 */
static void
fetcher_exit(void)
{
	struct timespec	dl;
	int		e;

	if (pthread_equal(pthread_self(), fetcher_thread))
		return;		/* a fatal error in the fetcher itself */
	pthread_mutex_lock(&fetch_mtx);
	__atomic_store_n(&fetch_stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&fetch_cv);
	pthread_mutex_unlock(&fetch_mtx);
	curl_multi_wakeup(fetch_multi);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += JWT_EXIT_WAIT;
	if ((e = pthread_timedjoin_np(fetcher_thread, NULL, &dl)) != 0) {
		log_msg(LL_WARN, "jwt_fetch", "the key fetcher did not stop "
		    "within %d s: %s", JWT_EXIT_WAIT, strerror(e));
		return;
	}
	curl_multi_cleanup(fetch_multi);
	fetch_multi = NULL;
	log_msg(LL_VERBOSE, "jwt_fetch", "key fetcher stopped");
}

/* Started once, by the first worker; it blocks every signal. */
static void
fetcher_start(void)
{
	sigset_t	all, old;

	if ((fetch_multi = curl_multi_init()) == NULL)
		fatalx("curl_multi_init failed");
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	if (pthread_create(&fetcher_thread, NULL, fetcher_main, NULL) != 0)
		fatalx("cannot start the JWKS fetcher thread");
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (atexit(fetcher_exit) != 0)
		fatalx("cannot register the key fetcher's exit handler");
}

static void
curl_start(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("curl_global_init failed");
}

/*
 * Ask for a fetch on behalf of a worker and register it for the wake-up.
 * -1 when the refetch rate limit says no and no fetch is coming.
 */
static int
fetch_request(struct jwt_inst *ji, struct jwt_source *src, uint64_t *gen)
{
	uint64_t	now = monotonic_ms();
	size_t		i;

	pthread_mutex_lock(&fetch_mtx);
	if (!src->busy && !src->fetch_now && src->last_start != 0 &&
	    now - src->last_start < (uint64_t)src->refetch &&
	    now < src->next_fetch) {
		pthread_mutex_unlock(&fetch_mtx);
		return -1;
	}
	if (!src->busy) {
		src->fetch_now = 1;
		pthread_cond_signal(&fetch_cv);
	}
	for (i = 0; i < src->nwaiters && src->waiters[i] != ji; i++)
		;
	if (i == src->nwaiters) {
		src->waiters = xreallocarray(src->waiters, src->nwaiters + 1,
		    sizeof(*src->waiters));
		src->waiters[src->nwaiters++] = ji;
	}
	*gen = src->gen;
	pthread_mutex_unlock(&fetch_mtx);
	return 0;
}

/* A worker instance goes away: no wake-up may reach it any more. */
static void
fetch_forget(struct jwt_inst *ji)
{
	struct jwt_source	*src;
	size_t			 i;

	pthread_mutex_lock(&fetch_mtx);
	TAILQ_FOREACH(src, &sources, entry) {
		for (i = 0; i < src->nwaiters; i++) {
			if (src->waiters[i] != ji)
				continue;
			src->waiters[i] = src->waiters[--src->nwaiters];
			break;
		}
	}
	pthread_mutex_unlock(&fetch_mtx);
}

/* ---------------------------------------------------------------- config */

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
	names_once_free(is->system_logged);
	free_words(is->required);
	for (i = 0; i < is->nextra; i++) {
		free(is->extra[i].key);
		free(is->extra[i].claim);
	}
	free(is->extra);
	free_words(is->key_files);
	keyset_unref(is->keys);
	source_unref(is->src);
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

/* Network keys: discovery and JWKS URLs, CA file, intervals, limits. */
static const struct {
	const char	*key;
	long long	 def;		/* ms */
	long long	 min;
	long long	 max;
} jwt_durations[] = {
	{ "refresh_interval", 3600 * 1000, 1000, 24 * 3600 * 1000 },
	{ "retry_interval", 10 * 1000, 100, 3600 * 1000 },
	{ "refetch_interval", 10 * 1000, 100, 3600 * 1000 },
	{ "fetch_timeout", 10 * 1000, 100, 120 * 1000 },
};

static int
conf_url(struct jwt_conf *jc, const char *key, char **out)
{
	struct conf_kv	*kv;

	if ((kv = conf_get(jc->sec, key)) == NULL)
		return 0;
	if (strncmp(kv->value, "https://", 8) != 0 || kv->value[8] == '\0') {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
		    "want an https:// URL");
		return -1;
	}
	*out = xstrdup(kv->value);
	return 0;
}

static int
conf_fetch_limits(struct jwt_conf *jc, struct jwt_source *src)
{
	long long	*dst[] = { &src->refresh, &src->retry, &src->refetch,
	    &src->timeout };
	size_t		 i;

	for (i = 0; i < 4; i++) {
		if (conf_get_duration(jc->conf, jc->sec, jwt_durations[i].key,
		    jwt_durations[i].def, jwt_durations[i].min,
		    jwt_durations[i].max, dst[i], jc->err, jc->errlen) != 0)
			return -1;
	}
	return conf_get_size(jc->conf, jc->sec, "max_response", 1024 * 1024,
	    1024, 16 * 1024 * 1024, &src->max_response, jc->err, jc->errlen);
}

/* The issuer's keys come from its discovery document and JWKS URL. */
static int
conf_network(struct jwt_conf *jc)
{
	struct jwt_source	*src;
	struct conf_kv		*kv;
	size_t			 n;

	src = xcalloc(1, sizeof(*src));
	pthread_mutex_init(&src->keys_mtx, NULL);
	src->name = xstrdup(jc->is->name);
	src->issuer = xstrdup(jc->is->issuer);
	if (strncmp(src->issuer, "https://", 8) != 0) {
		conf_error(jc->conf, jc->sec, conf_get(jc->sec, "issuer"),
		    jc->err, jc->errlen, "keys are fetched from an https:// "
		    "issuer; give jwks_file or public_key_file otherwise");
		goto fail;
	}
	if (conf_url(jc, "discovery_url", &src->discovery_url) != 0 ||
	    conf_url(jc, "jwks_url", &src->jwks_url) != 0 ||
	    conf_fetch_limits(jc, src) != 0)
		goto fail;
	if (src->discovery_url == NULL) {
		n = strlen(src->issuer);
		while (n > 8 && src->issuer[n - 1] == '/')
			n--;
		xasprintf(&src->discovery_url, "%.*s/.well-known/"
		    "openid-configuration", (int)n, src->issuer);
	}
	if ((kv = conf_get(jc->sec, "ca")) != NULL) {
		if (access(kv->value, R_OK) != 0) {
			conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
			    "%s: %s", kv->value, strerror(errno));
			goto fail;
		}
		src->ca = xstrdup(kv->value);
	}
	xasprintf(&src->id, "%s\n%s\n%s\n%s\n%lld %lld %lld %lld %zu",
	    src->issuer, src->discovery_url, src->jwks_url ? src->jwks_url :
	    "", src->ca ? src->ca : "", src->refresh, src->retry,
	    src->refetch, src->timeout, src->max_response);
	pthread_once(&curl_once, curl_start);
	jc->is->src = source_share(src);
	return 0;
fail:
	source_free(src);
	return -1;
}

/* Whether a section has a key, without marking it used. */
static int
conf_has(const struct conf_section *sec, const char *key)
{
	size_t	i;

	for (i = 0; i < sec->nkv; i++) {
		if (strcmp(sec->kv[i].key, key) == 0)
			return 1;
	}
	return 0;
}

static int
conf_is_network_key(const char *key)
{
	static const char *const keys[] = { "discovery_url", "jwks_url", "ca",
	    "refresh_interval", "retry_interval", "refetch_interval",
	    "fetch_timeout", "max_response" };
	size_t	i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(key, keys[i]) == 0)
			return 1;
	}
	return 0;
}

/*
 * Keys from files (jwks_file, public_key_file), read now; or else from
 * the network, fetched by the fetcher thread.
 */
static int
conf_keys(struct jwt_conf *jc)
{
	static const char *const keys[] = { "jwks_file", "public_key_file" };
	struct conf_kv	*kv;
	char		**w;
	size_t		  n, i, k;
	int		  r = 0;

	if (!conf_has(jc->sec, keys[0]) && !conf_has(jc->sec, keys[1]))
		return conf_network(jc);
	for (i = 0; i < jc->sec->nkv; i++) {
		if (!conf_is_network_key(jc->sec->kv[i].key))
			continue;
		conf_error(jc->conf, jc->sec, &jc->sec->kv[i], jc->err,
		    jc->errlen, "not used with jwks_file or public_key_file");
		return -1;
	}
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
	if (conf_get_bool(jc->conf, jc->sec, "audience_aware", 0,
	    &is->audience_aware, jc->err, jc->errlen) != 0)
		return -1;
	if (is->audience_aware && is->type != JWT_SERVICEACCOUNT) {
		conf_error(jc->conf, jc->sec, conf_get(jc->sec,
		    "audience_aware"), jc->err, jc->errlen, "only for type = "
		    "serviceaccount");
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
	if (conf_get_duration(jc->conf, jc->sec, "clock_skew",
	    JWT_DEFAULT_SKEW, 0, 3600 * 1000, &jc->is->skew, jc->err,
	    jc->errlen) != 0 ||
	    conf_get_size(jc->conf, jc->sec, "max_token_size",
	    JWT_DEFAULT_MAX_TOKEN, 64, TR_MAX_TOKEN, &jc->is->max_token,
	    jc->err, jc->errlen) != 0)
		return -1;
	if ((kv = conf_get(jc->sec, "required_claims")) != NULL &&
	    conf_required(jc, kv) != 0)
		return -1;
	return 0;
}

/*
 * allow_system_names, for OIDC issuers (a service-account issuer builds
 * its system:serviceaccount names itself).  Without it, a prefix in the
 * system: namespace would drop every group or refuse every user: an
 * error now rather than at the first review.
 */
static int
conf_system_names(struct jwt_conf *jc)
{
	struct jwt_issuer	*is = jc->is;
	struct conf_kv		*kv;
	const char		*key = NULL;

	if ((kv = conf_get(jc->sec, "allow_system_names")) != NULL &&
	    is->type == JWT_SERVICEACCOUNT) {
		conf_error(jc->conf, jc->sec, kv, jc->err, jc->errlen,
		    "not used with type = serviceaccount");
		return -1;
	}
	if (conf_get_bool(jc->conf, jc->sec, "allow_system_names", 0,
	    &is->allow_system_names, jc->err, jc->errlen) != 0)
		return -1;
	if (is->allow_system_names || is->type == JWT_SERVICEACCOUNT)
		key = NULL;
	else if (is->username_template != NULL &&
	    names_prefix_reserved(is->username_template))
		key = "username_template";
	else if (is->username_template == NULL &&
	    names_prefix_reserved(is->username_prefix))
		key = "username_prefix";
	else if (names_prefix_reserved(is->groups_prefix))
		key = "groups_prefix";
	if (key != NULL) {
		conf_error(jc->conf, jc->sec, conf_get(jc->sec, key), jc->err,
		    jc->errlen, "in the system: namespace, which an identity "
		    "provider may not give; set allow_system_names = yes to "
		    "mean it");
		return -1;
	}
	is->system_logged = names_once_new();
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
	is->username_claim = conf_get_str(jc->sec, "username_claim", "sub");
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
	is->groups_claim = conf_get_str(jc->sec, "groups_claim", NULL);
	is->groups_prefix = conf_get_str(jc->sec, "groups_prefix", "");
	is->uid_claim = conf_get_str(jc->sec, "uid_claim", NULL);
	if (conf_system_names(jc) != 0)
		return -1;
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

static const struct jwt_issuer *route(const struct jwt_shared *,
		    const char *);

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
	const struct jwt_issuer	*other;
	size_t			 i;

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
		if ((other = route(js, is->issuer)) != NULL) {
			conf_error(conf, &conf->sections[i],
			    conf_get(&conf->sections[i], "issuer"), err,
			    errlen, "issuer also used by [jwt \"%s\"]",
			    other->name);
			issuer_free(is);
			goto fail;
		}
		js->issuers = xreallocarray(js->issuers, js->nissuers + 1,
		    sizeof(*js->issuers));
		js->issuers[js->nissuers++] = is;
		if (is->src != NULL)
			log_msg(LL_INFO, "jwt_issuer", "issuer %s (%s): keys "
			    "from %s", is->name, is->issuer,
			    is->src->jwks_url != NULL ? is->src->jwks_url :
			    is->src->discovery_url);
		else
			log_msg(LL_INFO, "jwt_issuer", "issuer %s (%s): %zu "
			    "keys from files", is->name, is->issuer,
			    is->keys->nkeys);
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

struct jwt_drop {
	const struct jwt_issuer	*is;
	const char		*token_fp;
};

/* A group of the system: namespace left out: counted, logged once. */
static void
map_system_group(const char *name, enum names_kind kind, void *arg)
{
	struct jwt_drop	*jd = arg;
	char		 src[128];

	__atomic_fetch_add((uint64_t *)&jd->is->n_system_groups, 1,
	    __ATOMIC_RELAXED);
	snprintf(src, sizeof(src), "[jwt \"%s\"]", jd->is->name);
	names_log(jd->is->system_logged, src, "group", name, kind,
	    "groups_prefix", jd->token_fp);
}

/*
 * The names.c rules on an OIDC user: groups in the system: namespace are
 * dropped; a user name in it refuses the token with an error (as
 * kube-apiserver's userValidationRules would), never a silent rename.
 */
static int
map_system_names(const struct jwt_issuer *is, struct jwt_user *u,
    const char *token_fp, char *why, size_t len)
{
	struct jwt_drop	 jd = { is, token_fp };
	enum names_kind	 kind;
	char		 src[128];

	if ((kind = names_kind(u->username)) != NAMES_PLAIN &&
	    !is->allow_system_names) {
		__atomic_fetch_add((uint64_t *)&is->n_system_users, 1,
		    __ATOMIC_RELAXED);
		snprintf(src, sizeof(src), "[jwt \"%s\"]", is->name);
		names_log(is->system_logged, src, "user name", u->username,
		    kind, is->username_template != NULL ?
		    "username_template" : "username_prefix", token_fp);
		snprintf(why, len, "user name \"%.64s\" is in the system: "
		    "namespace", u->username);
		return -1;
	}
	u->groups.n -= names_filter_groups(u->groups.v,
	    is->allow_system_names, map_system_group, &jd);
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
	    (map_oidc(is, claims, &u, why, len) != 0 ||
	    map_system_names(is, &u, req->token_fp, why, len) != 0))
		goto out;
	if ((jti = json_str(claims, "jti")) != NULL && *jti != '\0') {
		xasprintf(&cred, "JTI=%s", jti);
		user_add_extra1(&u, JWT_CRED_ID, cred);
		free(cred);
	}
	res->username = xstrdup(u.username);
	res->user_json = auth_user_json(u.username, u.uid, u.groups.v,
	    u.extra_keys.v, (char *const *const *)u.extra_values);
	res->max_ttl = auth_jwt_cache_ms(exp, now);
	rv = AUTH_OK;
out:
	user_clear(&u);
	return rv;
}

/* The keys to check a token with (a reference), or NULL. */
static struct jwt_keyset *
issuer_keys(const struct jwt_issuer *is)
{
	if (is->src != NULL)
		return source_keys(is->src);
	__atomic_add_fetch(&is->keys->refs, 1, __ATOMIC_RELAXED);
	return is->keys;
}

/*
 * Every check of a routed token.  *need_keys is set when the keys at hand
 * cannot tell (no keys yet, or none with the token's kid): a fetch may.
 */
static enum auth_rv
check_token(const struct jwt_issuer *is, const struct jwt_token *t,
    const struct auth_req *req, struct auth_result *res, char *why,
    size_t len, int *need_keys)
{
	const struct jwt_alg	*alg;
	struct jwt_keyset	*ks;
	json_t			*claims;
	enum auth_rv		 rv;

	*need_keys = 0;
	if (t->len > is->max_token) {
		snprintf(why, len, "token larger than %zu bytes",
		    is->max_token);
		return AUTH_ERROR;
	}
	if ((alg = check_header(is, t->header, why, len)) == NULL)
		return AUTH_ERROR;
	if ((ks = issuer_keys(is)) == NULL || ks->nkeys == 0) {
		snprintf(why, len, "no signing keys for this issuer yet");
		*need_keys = 1;
		keyset_unref(ks);
		return AUTH_ERROR;
	}
	claims = verify(ks, t, alg, need_keys, why, len);
	keyset_unref(ks);
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

/* A review waiting for a key fetch, in its worker. */
struct jwt_wait {
	TAILQ_ENTRY(jwt_wait)	 entry;
	struct jwt_inst		*ji;
	struct auth_req		*req;
	struct auth_result	*res;
	auth_done_cb		 done;
	struct jwt_source	*src;
	uint64_t		 gen;		/* the fetch count it waits past */
	struct event		*timer;
};

static void	wait_timeout_cb(evutil_socket_t, short, void *);

/* Wait for a fetch of the issuer's keys; -1 if none may be made now. */
static int
wait_keys(struct jwt_inst *ji, const struct jwt_issuer *is,
    struct auth_req *req, struct auth_result *res, auth_done_cb done)
{
	struct jwt_wait	*w;
	struct timeval	 tv;
	uint64_t	 gen;
	long long	 ms;

	if (is->src == NULL || ji->wake == NULL || done == NULL ||
	    fetch_request(ji, is->src, &gen) != 0)
		return -1;
	w = xcalloc(1, sizeof(*w));
	w->ji = ji;
	w->req = req;
	w->res = res;
	w->done = done;
	w->src = is->src;
	w->gen = gen;
	/* Discovery and JWKS, each within fetch_timeout, and some slack. */
	ms = 2 * is->src->timeout + 1000;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	w->timer = evtimer_new(ji->base, wait_timeout_cb, w);
	evtimer_add(w->timer, &tv);
	TAILQ_INSERT_TAIL(&ji->waits, w, entry);
	return 0;
}

/* Turn the verdict into the result and the log line. */
static enum auth_rv
review_end(const struct jwt_issuer *is, struct auth_req *req,
    struct auth_result *res, enum auth_rv rv, const char *why)
{
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

/*
 * Review a token; with done set, a token that needs keys not at hand may
 * wait for a fetch (AUTH_PENDING).
 */
static enum auth_rv
review(struct jwt_inst *ji, struct auth_req *req, struct auth_result *res,
    auth_done_cb done)
{
	const struct jwt_issuer	*is;
	struct jwt_token	 t;
	enum auth_rv		 rv;
	char			 why[JWT_REASONLEN];
	int			 need_keys;

	if (req->token_len > TR_MAX_TOKEN ||
	    token_split(&t, req->token, req->token_len) != 0)
		return AUTH_DENY;
	if ((is = route(ji->js, json_str(t.unverified, "iss"))) == NULL) {
		__atomic_fetch_add(&ji->js->n_foreign, 1, __ATOMIC_RELAXED);
		log_msg(LL_VERBOSE, "jwt_deny", "token %s: JWT of an issuer "
		    "not configured", req->token_fp);
		token_clear(&t);
		return AUTH_DENY;
	}
	why[0] = '\0';
	rv = check_token(is, &t, req, res, why, sizeof(why), &need_keys);
	token_clear(&t);
	if (rv == AUTH_ERROR && need_keys &&
	    wait_keys(ji, is, req, res, done) == 0) {
		auth_result_clear(res);
		return AUTH_PENDING;
	}
	return review_end(is, req, res, rv, why);
}

static void
wait_free(struct jwt_wait *w)
{
	TAILQ_REMOVE(&w->ji->waits, w, entry);
	event_free(w->timer);
	free(w);
}

/* The fetch ended: check the token again with what it brought. */
static void
wait_finish(struct jwt_wait *w)
{
	struct auth_req		*req = w->req;
	struct auth_result	*res = w->res;
	auth_done_cb		 done = w->done;
	enum auth_rv		 rv;

	rv = review(w->ji, req, res, NULL);
	wait_free(w);
	done(req, rv);
}

static void
wait_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct jwt_wait		*w = arg;
	struct auth_req		*req = w->req;
	struct auth_result	*res = w->res;
	auth_done_cb		 done = w->done;

	auth_result_clear(res);
	xasprintf(&res->error, "%s: key fetch did not finish in time",
	    w->src->name);
	wait_free(w);
	done(req, AUTH_ERROR);
}

/*
 * The fetcher wrote to our pipe.  done() may start other reviews on this
 * instance, so the list is searched afresh after each one.
 */
static void
wake_cb(evutil_socket_t fd, short events, void *arg)
{
	struct jwt_inst	*ji = arg;
	struct jwt_wait	*w;
	char		 buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	for (;;) {
		TAILQ_FOREACH(w, &ji->waits, entry) {
			if (__atomic_load_n(&w->src->gen, __ATOMIC_ACQUIRE) !=
			    w->gen)
				break;
		}
		if (w == NULL)
			break;
		wait_finish(w);
	}
}

static enum auth_rv
jwt_authenticate(void *inst, struct auth_req *req, struct auth_result *res,
    auth_done_cb done)
{
	if (inst == NULL)
		return AUTH_DENY;
	return review(inst, req, res, done);
}

static int
has_sources(const struct jwt_shared *js)
{
	size_t	i;

	for (i = 0; i < js->nissuers; i++) {
		if (js->issuers[i]->src != NULL)
			return 1;
	}
	return 0;
}

/*
 * Per worker: the wake-up pipe, when some issuer fetches its keys.  The
 * first worker starts the fetcher thread.
 */
static int
jwt_init(void *shared, struct event_base *base, void **inst)
{
	struct jwt_inst	*ji;

	ji = xcalloc(1, sizeof(*ji));
	ji->js = shared;
	ji->base = base;
	ji->fds[0] = ji->fds[1] = -1;
	TAILQ_INIT(&ji->waits);
	if (base != NULL && has_sources(ji->js)) {
		if (pipe2(ji->fds, O_NONBLOCK | O_CLOEXEC) != 0) {
			log_msg(LL_ERROR, "jwt", "pipe: %s", strerror(errno));
			free(ji);
			return -1;
		}
		ji->wake = event_new(base, ji->fds[0], EV_READ | EV_PERSIST,
		    wake_cb, ji);
		event_add(ji->wake, NULL);
		pthread_once(&fetcher_once, fetcher_start);
	}
	*inst = ji;
	return 0;
}

static void
jwt_cancel(void *inst, struct auth_req *req)
{
	struct jwt_inst	*ji = inst;
	struct jwt_wait	*w;

	TAILQ_FOREACH(w, &ji->waits, entry) {
		if (w->req == req) {
			wait_free(w);
			return;
		}
	}
}

static void
jwt_free(void *inst)
{
	struct jwt_inst	*ji = inst;

	if (ji == NULL)
		return;
	fetch_forget(ji);
	while (!TAILQ_EMPTY(&ji->waits))
		wait_free(TAILQ_FIRST(&ji->waits));
	if (ji->wake != NULL)
		event_free(ji->wake);
	if (ji->fds[0] != -1) {
		close(ji->fds[0]);
		close(ji->fds[1]);
	}
	free(ji);
}

static int
jwt_ready(void *shared)
{
	struct jwt_shared	*js = shared;
	struct jwt_keyset	*ks;
	size_t			 i;
	int			 ok;

	for (i = 0; js != NULL && i < js->nissuers; i++) {
		ks = issuer_keys(js->issuers[i]);
		ok = ks != NULL && ks->nkeys > 0;
		keyset_unref(ks);
		if (!ok)
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

/* name{issuer="NAME"<labels>} value */
static void
metrics_line(struct evbuffer *out, const char *name, const char *issuer,
    const char *labels, unsigned long long v)
{
	evbuffer_add_printf(out, "%s{issuer=\"", name);
	metrics_label(out, issuer);
	evbuffer_add_printf(out, "\"%s} %llu\n", labels, v);
}

static void
metrics_verifications(const struct jwt_shared *js, struct evbuffer *out)
{
	const char	*m = "tokenreviewd_jwt_verifications_total";
	size_t		 i;

	evbuffer_add_printf(out, "# HELP %s JWT reviews by issuer and "
	    "result.\n# TYPE %s counter\n", m, m);
	for (i = 0; i < js->nissuers; i++) {
		metrics_line(out, m, js->issuers[i]->name, ",result=\"ok\"",
		    __atomic_load_n(&js->issuers[i]->n_ok, __ATOMIC_RELAXED));
		metrics_line(out, m, js->issuers[i]->name,
		    ",result=\"invalid\"", __atomic_load_n(
		    &js->issuers[i]->n_invalid, __ATOMIC_RELAXED));
		metrics_line(out, m, js->issuers[i]->name,
		    ",result=\"rejected\"", __atomic_load_n(
		    &js->issuers[i]->n_rejected, __ATOMIC_RELAXED));
	}
	metrics_line(out, m, "", ",result=\"unknown_issuer\"",
	    __atomic_load_n(&js->n_foreign, __ATOMIC_RELAXED));
}

/* OIDC names of the system: namespace kept out of answers (names.c). */
static void
metrics_system_names(const struct jwt_shared *js, struct evbuffer *out)
{
	const char	*m = "tokenreviewd_jwt_system_names_dropped_total";
	size_t		 i;

	evbuffer_add_printf(out, "# HELP %s Groups in the system: namespace "
	    "dropped, and tokens refused for such a user name.\n"
	    "# TYPE %s counter\n", m, m);
	for (i = 0; i < js->nissuers; i++) {
		if (js->issuers[i]->type == JWT_SERVICEACCOUNT)
			continue;
		metrics_line(out, m, js->issuers[i]->name, ",kind=\"group\"",
		    __atomic_load_n(&js->issuers[i]->n_system_groups,
		    __ATOMIC_RELAXED));
		metrics_line(out, m, js->issuers[i]->name, ",kind=\"user\"",
		    __atomic_load_n(&js->issuers[i]->n_system_users,
		    __ATOMIC_RELAXED));
	}
}

static void
metrics_fetches(const struct jwt_shared *js, struct evbuffer *out)
{
	const char		*m = "tokenreviewd_jwt_jwks_fetches_total";
	const char		*a = "tokenreviewd_jwt_jwks_last_success_age_seconds";
	struct jwt_source	*src;
	int64_t			 last;
	size_t			 i;

	evbuffer_add_printf(out, "# HELP %s Key fetches (discovery and "
	    "JWKS) by issuer and result.\n# TYPE %s counter\n", m, m);
	for (i = 0; i < js->nissuers; i++) {
		if ((src = js->issuers[i]->src) == NULL)
			continue;
		metrics_line(out, m, js->issuers[i]->name, ",result=\"ok\"",
		    __atomic_load_n(&src->n_fetch_ok, __ATOMIC_RELAXED));
		metrics_line(out, m, js->issuers[i]->name,
		    ",result=\"error\"", __atomic_load_n(&src->n_fetch_error,
		    __ATOMIC_RELAXED));
	}
	evbuffer_add_printf(out, "# HELP %s Seconds since the last "
	    "successful key fetch.\n# TYPE %s gauge\n", a, a);
	for (i = 0; i < js->nissuers; i++) {
		if ((src = js->issuers[i]->src) == NULL ||
		    (last = __atomic_load_n(&src->last_ok,
		    __ATOMIC_RELAXED)) == 0)
			continue;
		metrics_line(out, a, js->issuers[i]->name, "",
		    (unsigned long long)(time(NULL) > last ?
		    time(NULL) - last : 0));
	}
}

static void
jwt_metrics(void *shared, struct evbuffer *out)
{
	struct jwt_shared	*js = shared;
	struct jwt_keyset	*ks;
	size_t			 i;

	if (js == NULL)
		return;
	metrics_verifications(js, out);
	metrics_system_names(js, out);
	metrics_fetches(js, out);
	evbuffer_add_printf(out, "# HELP tokenreviewd_jwt_keys Signing keys "
	    "known per issuer.\n# TYPE tokenreviewd_jwt_keys gauge\n");
	for (i = 0; i < js->nissuers; i++) {
		ks = issuer_keys(js->issuers[i]);
		metrics_line(out, "tokenreviewd_jwt_keys",
		    js->issuers[i]->name, "", ks != NULL ? ks->nkeys : 0);
		keyset_unref(ks);
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
