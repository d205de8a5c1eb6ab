/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The JWT source's private header, shared by its files and nothing else
 * but its unit test and fuzz target: the issuer settings read by
 * jwt-conf.c, the key sets of jwt-keys.c, the fetched-key sources of
 * jwt-fetch.c, and the pure verification of jwt-verify.c that auth-jwt.c
 * runs on the request path.  Who owns what: an issuer owns its settings,
 * holds a reference to its key set or its source; a key set is immutable
 * and freed with its last reference.
 */

#ifndef JWT_INT_H
#define JWT_INT_H

#include <sys/queue.h>

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <cjose/cjose.h>

#include "tokenreviewd.h"

#define JWT_MAX_ISSUERS		64
#define JWT_MAX_KEYFILE		(1024 * 1024)
#define JWT_MAX_KEYS		256
#define JWT_REASONLEN		160
#define JWT_CRED_ID		"authentication.kubernetes.io/credential-id"
#define JWT_SA_PREFIX		"system:serviceaccount:"
#define JWT_MAX_CACHE_S		(24LL * 3600)	/* [cache] ttl's maximum */
#define JWT_NITEMS(a)		(sizeof(a) / sizeof((a)[0]))

enum jwt_type {
	JWT_OIDC,
	JWT_SERVICEACCOUNT,
};

enum jwt_kty {
	JWT_KTY_RSA,
	JWT_KTY_EC,
};

/* Every algorithm an issuer may allow; never "none" nor HMAC. */
enum jwt_alg_id {
	JWT_RS256,
	JWT_RS384,
	JWT_RS512,
	JWT_PS256,
	JWT_PS384,
	JWT_PS512,
	JWT_ES256,
	JWT_ES384,
	JWT_ES512,
	JWT_NALGS
};
/* algorithms' default in jwt-conf.c's table, as bits */
#define JWT_DEFAULT_ALGS	((1u << JWT_RS256) | (1u << JWT_ES256))

/* How a signature is checked (RFC 7518 section 3). */
enum jwt_sig {
	JWT_SIG_PKCS1,			/* RSASSA-PKCS1-v1_5 */
	JWT_SIG_PSS,			/* RSASSA-PSS, MGF1, salt = digest */
	JWT_SIG_ECDSA,			/* r || s, each half bytes */
};

struct jwt_alg {
	const char	*name;
	enum jwt_kty	 kty;
	const char	*crv;		/* EC: the curve the key must be on */
	enum jwt_sig	 sig;
	const char	*md;		/* the digest's OpenSSL name */
	size_t		 half;		/* ECDSA: the length of r and of s */
};
/* Indexed by enum jwt_alg_id (jwt-verify.c). */
extern const struct jwt_alg jwt_algs[JWT_NALGS];

/* ---------------------------------------------------------------- keys */

/*
 * A signing key, its EVP_PKEY built once with the key set so that a
 * token costs one verification and no key import.
 */
struct jwt_key {
	EVP_PKEY	*pkey;		/* NULL: a curve of no algorithm */
	/*
	 * For each algorithm the key fits, a context initialised to
	 * verify with it: each token works on a copy, which costs less
	 * than an initialisation.  Only ever read once the set is built.
	 */
	EVP_MD_CTX	*verify[JWT_NALGS];
	/* What jwt-sig.c verifies with, faster than EVP; or NULL. */
	struct jwt_sigkey *sig;
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

/* jwt-keys.c */
/* An empty key set with one reference, the caller's. */
struct jwt_keyset *jwt_keys_new(void);
/* Another reference to ks (NULL: none); jwt_keys_unref() drops it. */
struct jwt_keyset *jwt_keys_ref(struct jwt_keyset *ks);
void		 jwt_keys_unref(struct jwt_keyset *);
/* Add the keys of a JWKS document; -1 with err set if it is not one. */
int		 jwt_keys_add_jwks(struct jwt_keyset *, const char *data,
		    size_t len, char *err, size_t errlen);
/* Add every PEM public key of a file; -1 with err set if none is usable. */
int		 jwt_keys_add_pem(struct jwt_keyset *, const char *data,
		    size_t len, char *err, size_t errlen);
/*
 * Add the public part of a key (public or private) under the given kid,
 * for alg only; -1 with err set if it is not an RSA key or an EC key on
 * P-256, P-384 or P-521.
 */
int		 jwt_keys_add_pkey(struct jwt_keyset *, EVP_PKEY *,
		    const char *kid, const char *alg, char *err,
		    size_t errlen);

/* jwt-sig.c */
/* P-256 keys with a table of their multiples, at most (148 KiB each). */
#define JWT_SIG_MAX_TABLES	16
/*
 * What a key needs for jwt_sig_verify(): RSA keys, and P-256 keys while
 * tables are left (a key that has one already shares it); NULL for any
 * other key, which verifies through EVP.
 */
struct jwt_sigkey *jwt_sig_new(EVP_PKEY *, enum jwt_kty, const char *crv);
void		 jwt_sig_free(struct jwt_sigkey *);
/* How many more P-256 keys would get a table. */
int		 jwt_sig_tables_left(void);
/*
 * Whether sig is the key's signature of in, for alg (which the key
 * fits): 1 if it is, 0 if not, -1 if the key has no faster form for alg.
 */
int		 jwt_sig_verify(const struct jwt_sigkey *,
		    const struct jwt_alg *, const unsigned char *sig,
		    size_t siglen, const unsigned char *in, size_t inlen);

/* ---------------------------------------------------------------- fetching */

/* How often and how a source fetches, from its issuer's section. */
struct jwt_fetch_limits {
	long long	 refresh;	/* ms */
	long long	 retry;
	long long	 refetch;
	long long	 timeout;
	size_t		 max_response;
};

enum jwt_fetch_state {
	JWT_FETCH_IDLE,
	JWT_FETCH_ASKED,		/* a worker wants a fetch now */
	JWT_FETCH_BUSY,			/* the fetcher is at it */
};

/*
 * The keys of an issuer without key files, fetched over HTTPS by the
 * fetcher thread.  Sources with the same identity (id) are shared, so
 * that they outlive a reload with their keys.
 */
struct jwt_source {
	TAILQ_ENTRY(jwt_source)	 entry;
	int			 refs;		/* under the fetch mutex */
	char			*name;		/* the first section's */
	char			*id;		/* what tells sources apart */
	char			*issuer;
	char			*discovery_url;
	char			*jwks_url;	/* NULL: from discovery */
	char			*ca;
	struct jwt_fetch_limits	 lim;

	/* under the fetch mutex */
	enum jwt_fetch_state	 state;
	uint64_t		 next_fetch;	/* monotonic ms */
	uint64_t		 last_start;
	uint64_t		 gen;		/* fetches done; atomic reads */
	struct wake		**waiters;	/* of workers waiting */
	size_t			 nwaiters;

	pthread_mutex_t		 keys_mtx;
	struct jwt_keyset	*keys;		/* under keys_mtx; NULL: none */

	uint64_t		 n_fetch_ok;	/* atomic */
	uint64_t		 n_fetch_error;	/* atomic */
	int64_t			 last_ok;	/* atomic, wall clock, or 0 */
};

/* jwt-fetch.c */
/* A new source, not yet shared; jwt_fetch_source_free() if unused. */
struct jwt_source *jwt_fetch_source_new(const char *name,
		    const char *issuer);
void		 jwt_fetch_source_free(struct jwt_source *);
/*
 * Take src: the live source with its identity (src is then freed), or
 * src itself, now live.  Initialises libcurl once.
 */
struct jwt_source *jwt_fetch_share(struct jwt_source *src);
void		 jwt_fetch_unref(struct jwt_source *);
/* A reference to the source's current keys, or NULL. */
struct jwt_keyset *jwt_fetch_keys(struct jwt_source *);
/* The number of fetches done, to wait past. */
uint64_t	 jwt_fetch_gen(const struct jwt_source *);
/*
 * Ask for a fetch and register wake to be signalled when it ends; *gen
 * is the fetch count to wait past.  -1 when the refetch rate limit says
 * no and no fetch is coming.
 */
int		 jwt_fetch_request(struct jwt_source *, struct wake *wake,
		    uint64_t *gen);
/* No wake-up may reach wake any more. */
void		 jwt_fetch_forget(struct wake *wake);
/* Start the fetcher thread, once per process. */
void		 jwt_fetch_start(void);

/* ---------------------------------------------------------------- config */

/* What only the built-in "login" issuer of [login] has (jwt-login.c). */
struct jwt_login {
	char			*ldap;		/* [login] ldap */
	int			 recheck;	/* [login] recheck */
	int			 sessions;	/* [login] sessions resolved
						   to yes */
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
	unsigned int		 algs;		/* bits of enum jwt_alg_id */
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
	struct jwt_fetch_limits	 fetch;		/* for src */
	struct jwt_source	*src;		/* fetched keys, or NULL */
	struct jwt_login	*login;		/* the built-in issuer, or NULL:
						   uid and extra as signed */

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

/* jwt-conf.c */
/* The auth_backend load and unload of the source. */
int		 jwt_conf_load(const struct config *, void **shared,
		    char *err, size_t errlen);
void		 jwt_conf_unload(void *shared);
/* The issuer with exactly the URL iss (NULL: none), or NULL. */
const struct jwt_issuer *jwt_conf_issuer(const struct jwt_shared *,
		    const char *iss);
/*
 * An issuer from a section, without its keys (the built-in issuer's
 * come from [login]), or NULL with err set.  jwt_conf_issuer_free().
 */
struct jwt_issuer *jwt_conf_issuer_read(const struct config *,
		    struct conf_section *, char *err, size_t errlen);
void		 jwt_conf_issuer_free(struct jwt_issuer *);

/* ---------------------------------------------------------------- login */

/* A worker's instance of the source. */
struct jwt_inst {
	struct jwt_shared	*js;
	struct event_base	*base;
	struct wake		*wake;		/* fetcher -> worker */
	TAILQ_HEAD(, jwt_wait)	 waits;
	TAILQ_HEAD(, jwt_recheck) rechecks;	/* jwt-login.c */
};

/* jwt-login.c */
/*
 * The built-in issuer of [login] in *out (NULL when there is no [login]
 * section): 0, or -1 with err set.
 */
int		 jwt_login_issuer(const struct config *,
		    struct jwt_issuer **out, char *err, size_t errlen);
void		 jwt_login_free(struct jwt_login *);
/*
 * What follows a valid token of the built-in issuer, whose user is in
 * res: with sessions, its session still open in the token database; with
 * recheck, the user as the directory has it now.  AUTH_OK,
 * AUTH_ERROR with res->error, or AUTH_PENDING and done(req, rv) later.
 */
enum auth_rv	 jwt_login_review(struct jwt_inst *,
		    const struct jwt_issuer *, struct auth_req *,
		    struct auth_result *, auth_done_cb done);
/* The review gave up: end its check (1), or 0 if it has none. */
int		 jwt_login_cancel(struct jwt_inst *, struct auth_req *);
/* The worker stops: forget every recheck (the chain cancelled them). */
void		 jwt_login_forget(struct jwt_inst *);

/* ---------------------------------------------------------------- verify */

/*
 * A token split into its parts, with the header and the unverified
 * payload decoded.  The payload routes the token; it is read as claims
 * only once the signature over its bytes verified.
 */
struct jwt_token {
	const char	*s;
	size_t		 len;
	size_t		 signed_len;	/* header.payload, what is signed */
	json_t		*header;
	json_t		*unverified;
};

enum jwt_verify_rv {
	JWT_VERIFY_OK,
	JWT_VERIFY_INVALID,	/* a check failed: an error, with why */
	JWT_VERIFY_NO_KEY,	/* invalid, no key at hand: a fetch may tell */
	JWT_VERIFY_AUDIENCE,	/* valid, for another audience: not ours */
};

enum jwt_name_role {
	JWT_NAME_GROUP,		/* dropped from the answer */
	JWT_NAME_USER,		/* the token is refused for it */
};

/* Told of each name of the system: namespace kept out of an answer. */
typedef void	(*jwt_verify_names_cb)(enum jwt_name_role, const char *name,
		    enum names_kind, void *arg);

/* What a token is checked against, besides itself. */
struct jwt_check {
	const struct jwt_issuer	*is;
	const struct jwt_keyset	*ks;		/* NULL: none yet */
	char *const		*audiences;	/* the review's */
	size_t			 naudiences;
	double			 now;		/* wall clock, s */
	jwt_verify_names_cb	 names_cb;	/* or NULL */
	void			*arg;
};

/* The outcome: a user on JWT_VERIFY_OK, else why not. */
struct jwt_verdict {
	enum jwt_verify_rv	 rv;
	char			 why[JWT_REASONLEN];
	char			*username;
	char			*user_json;	/* auth_user_json()'s */
	char			*audiences_json; /* audience-aware, or NULL */
	long long		 max_ttl;	/* ms it may be cached */
};

/* jwt-verify.c */
const char	*jwt_json_str(const json_t *, const char *key);
/* The key fits the algorithm: type, curve, and the JWK's own alg. */
int		 jwt_verify_key_fits(const struct jwt_key *,
		    const struct jwt_alg *);
/*
 * A context initialised to verify signatures of alg with pkey, for
 * tokens to copy; NULL if OpenSSL refuses.  EVP_MD_CTX_free() frees it.
 */
EVP_MD_CTX	*jwt_verify_ctx_new(EVP_PKEY *pkey, const struct jwt_alg *alg);
/*
 * Three base64url parts with header and payload JSON objects: 0, and t
 * to be cleared; -1 if it is not a JWT.  t points into s.
 */
int		 jwt_verify_split(struct jwt_token *t, const char *s,
		    size_t len);
void		 jwt_verify_token_clear(struct jwt_token *);
/*
 * Every check of a routed token against its issuer's settings and keys:
 * size, header, signature, claims; then the mapping to a user.  Nothing
 * but c->names_cb is called and nothing global is touched.  The caller
 * clears v.
 */
void		 jwt_verify(const struct jwt_check *c,
		    const struct jwt_token *t, struct jwt_verdict *v);
/* The checks and mappings after the signature, on verified claims. */
void		 jwt_verify_claims(const struct jwt_check *c, json_t *claims,
		    struct jwt_verdict *v);
void		 jwt_verify_verdict_clear(struct jwt_verdict *);
/* The allowed algorithm of the header, or NULL with why set. */
const struct jwt_alg *jwt_verify_header(const struct jwt_issuer *,
		    json_t *header, char *why, size_t len);
/*
 * The aud check; an audience-aware issuer's answer in *audiences_json
 * (the caller frees it).  JWT_VERIFY_AUDIENCE: valid for no audience we
 * serve.
 */
enum jwt_verify_rv jwt_verify_audiences(const struct jwt_check *,
		    json_t *claims, char **audiences_json, char *why,
		    size_t len);
/* exp, nbf, iat at c->now: 0, or -1 with why set. */
int		 jwt_verify_times(const struct jwt_check *, json_t *claims,
		    double *exp, char *why, size_t len);

#endif /* JWT_INT_H */
