/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The login flow: people trade their directory password for a short-lived
 * JWT that tokenreviewd signs itself.  This header is shared by the
 * [login] reader and its keys (login-conf.c), the login listener's request
 * handling (login.c), the signing and the public documents (login-sign.c),
 * and the JWT source, which verifies the tokens as a built-in issuer.
 * Include after tokenreviewd.h.
 */

#ifndef TR_LOGIN_H
#define TR_LOGIN_H

#include <stdint.h>

#include <jansson.h>
#include <openssl/evp.h>

struct config;

enum login_sessions {
	LOGIN_SESSIONS_AUTO,
	LOGIN_SESSIONS_YES,
	LOGIN_SESSIONS_NO,
};

/* One key of signing_key or previous_keys. */
struct login_key {
	EVP_PKEY	*pkey;		/* private for the signing key, may be
					   public for previous ones */
	char		*kid;		/* RFC 7638 JWK thumbprint, base64url */
	const char	*alg;		/* "ES256", "ES384", "ES512", "RS256" */
	char		*jwk_json;	/* the public JWK as a JSON object text,
					   with kid, alg, use "sig" */
};

struct login_conf {
	char		**listen;
	size_t		  nlisten;
	char		 *issuer;	/* no trailing slash */
	char		 *audience;
	char		 *ldap;		/* [ldap "NAME"] name */
	char		 *signing_key;	/* path */
	char		**previous_keys;
	size_t		  nprevious;
	long long	  token_ttl;	/* ms */
	int		  recheck;
	enum login_sessions sessions;	/* AUTO resolved at load: YES when
					   [tokendb] exists, else NO */
	double		  failure_rate;
	double		  failure_burst;
	long long	  failure_delay;	/* ms */
	int		  max_connections;
	struct login_key *keys;		/* keys[0] signs; then previous_keys */
	size_t		  nkeys;
	int		  line;		/* of the section, for messages */
};

#define LOGIN_MAX_KEYFILE	(64 * 1024)
#define LOGIN_MAX_KEYS		16
#define LOGIN_JTI_LEN		22	/* 16 random bytes, base64url */
#define LOGIN_PATH		"/login"
#define LOGIN_DISCOVERY_PATH	"/.well-known/openid-configuration"
#define LOGIN_JWKS_PATH		"/openid/v1/jwks"

/* login-conf.c */
/*
 * Parse [login] (and load its key files) from a parsed config.  0 with
 * *out NULL when there is no [login] section; 0 with *out set; -1 with
 * "FILE:LINE: [login] key: ..." in err.  Checks that [ldap "<ldap>"]
 * exists and that sessions = yes has a [tokendb].  Pure: may be called by
 * several loaders of one generation (runtime and the JWT source each call
 * it).  The caller frees *out with login_conf_free().
 */
int	 login_conf_load(const struct config *, struct login_conf **out,
	    char *err, size_t errlen);
void	 login_conf_free(struct login_conf *);
/*
 * The public JWK (kty and its members, no kid) of an EC key on P-256,
 * P-384 or P-521 or of an RSA key, and the algorithm it signs with
 * (alg may be NULL).  NULL with the reason in why for any other key.
 */
json_t	*login_public_jwk(EVP_PKEY *, const char **alg, char *why,
	    size_t len);

/* login-sign.c; every result is text the caller frees. */
/*
 * A JWT for the user of an answer (auth_result's user_json), issued at
 * now (unix seconds) and signed by keys[0]: header alg, typ, kid; claims
 * iss, aud, sub (the user name), groups, uid and extra when the user has
 * them, iat, nbf = iat, exp = iat + token_ttl, and jti (16 random bytes,
 * also written to jti).  NULL when the user JSON or signing fails.
 */
char	*login_sign(const struct login_conf *, const char *user_json,
	    int64_t now, char jti[LOGIN_JTI_LEN + 1]);
/* The ExecCredential of a token that expires at exp (unix seconds). */
char	*login_exec_credential(const char *token, int64_t exp, size_t *len);
/* The path part of the issuer URL, "" when it has none (not a copy). */
const char *login_issuer_path(const struct login_conf *);
/* The OpenID discovery document and the JWKS of the issuer. */
char	*login_discovery(const struct login_conf *, size_t *len);
char	*login_jwks(const struct login_conf *, size_t *len);

#endif /* TR_LOGIN_H */
