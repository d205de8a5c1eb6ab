/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The server's TLS context: TLS 1.2 and later only, and in TLS 1.2 only
 * suites with forward secrecy and an AEAD cipher unless the configuration
 * widens the list; certificate chain and key from PEM files (the key file
 * must be private), and, when a client CA is configured, a required client
 * certificate whose subject CN or a DNS subjectAltName must be on the
 * allowed list.  ALPN offers http/1.1 and nothing else: kube-apiserver
 * switches to HTTP/2 when a server selects h2, and we speak HTTP/1.1.
 *
 * Also the client side for outgoing connections that the caller drives on
 * a non-blocking socket (the LDAP source): a context per set of CA and
 * client certificate, and the peer's name checked on every connection.
 */

#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "tokenreviewd.h"

/*
 * TLS 1.2 suites offered by default: ECDHE key exchange (forward secrecy)
 * with AES-GCM or ChaCha20-Poly1305, for ECDSA and RSA keys.  No CBC
 * suites (SHA-1 MACs, Lucky 13), no static RSA or finite-field DHE key
 * exchange.  TLS 1.3 suites all qualify: OpenSSL's own list stays.
 */
#define TLS_CIPHERS	"ECDHE+AESGCM:ECDHE+CHACHA20"
#define TLS_SEND_FRAGMENT	4096	/* bytes of plaintext a record */

/* The allowed client names, kept with the SSL_CTX and freed with it. */
struct tls_names {
	char	**names;
	size_t	  n;
};

static int	tls_names_index = -1;

static void
tls_names_free_cb(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
	struct tls_names	*tn = ptr;

	if (tn == NULL)
		return;
	free_words(tn->names);
	free(tn);
}

static void
tls_error(char *err, size_t errlen, const char *what, const char *path)
{
	char		 ossl[256] = "unknown error";
	unsigned long	 e;

	if ((e = ERR_peek_last_error()) != 0)
		ERR_error_string_n(e, ossl, sizeof(ossl));
	ERR_clear_error();
	snprintf(err, errlen, "%s: %s: %s", path, what, ossl);
}

static int
tls_name_allowed(const struct tls_names *tn, const char *name, size_t len)
{
	size_t	i;

	for (i = 0; i < tn->n; i++) {
		if (strlen(tn->names[i]) == len &&
		    memcmp(tn->names[i], name, len) == 0)
			return 1;
	}
	return 0;
}

/* Does the leaf certificate carry an allowed CN or DNS name? */
static int
tls_cert_name_allowed(const struct tls_names *tn, X509 *cert)
{
	GENERAL_NAMES		*sans;
	const GENERAL_NAME	*gn;
	X509_NAME		*subject;
	X509_NAME_ENTRY		*entry;
	ASN1_STRING		*data;
	int			 i, ok = 0;

	sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	for (i = 0; sans != NULL && i < sk_GENERAL_NAME_num(sans) && !ok;
	    i++) {
		gn = sk_GENERAL_NAME_value(sans, i);
		if (gn->type != GEN_DNS)
			continue;
		data = gn->d.dNSName;
		ok = tls_name_allowed(tn,
		    (const char *)ASN1_STRING_get0_data(data),
		    (size_t)ASN1_STRING_length(data));
	}
	GENERAL_NAMES_free(sans);
	subject = X509_get_subject_name(cert);
	i = -1;
	while (!ok && (i = X509_NAME_get_index_by_NID(subject, NID_commonName,
	    i)) >= 0) {
		entry = X509_NAME_get_entry(subject, i);
		data = X509_NAME_ENTRY_get_data(entry);
		ok = tls_name_allowed(tn,
		    (const char *)ASN1_STRING_get0_data(data),
		    (size_t)ASN1_STRING_length(data));
	}
	return ok;
}

static int
tls_verify_cb(int preverify_ok, X509_STORE_CTX *store)
{
	SSL			*ssl;
	const struct tls_names	*tn;

	if (!preverify_ok || X509_STORE_CTX_get_error_depth(store) != 0)
		return preverify_ok;
	ssl = X509_STORE_CTX_get_ex_data(store,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	tn = SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), tls_names_index);
	if (tn == NULL || tn->n == 0)
		return 1;
	if (tls_cert_name_allowed(tn, X509_STORE_CTX_get_current_cert(store)))
		return 1;
	X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
	return 0;
}

static int
tls_alpn_cb(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char http11[] = "http/1.1";
	unsigned int		   i;

	for (i = 0; i < inlen; i += 1 + in[i]) {
		if (in[i] == 8 && i + 9 <= inlen &&
		    memcmp(in + i + 1, http11, 8) == 0) {
			*out = in + i + 1;
			*outlen = 8;
			return SSL_TLSEXT_ERR_OK;
		}
	}
	/* Only h2 offered: go on without ALPN rather than pretend. */
	return SSL_TLSEXT_ERR_NOACK;
}

/* The cipher lists: [server] tls_ciphers and tls_ciphersuites. */
static int
tls_set_ciphers(SSL_CTX *ctx, const char *ciphers, const char *suites,
    char *err, size_t errlen)
{
	const char	*why;
	const char	*bad = NULL;

	ERR_clear_error();
	if (SSL_CTX_set_cipher_list(ctx, ciphers) != 1)
		bad = ciphers;
	else if (suites != NULL && SSL_CTX_set_ciphersuites(ctx, suites) != 1)
		bad = suites;
	if (bad == NULL)
		return 0;
	if ((why = ERR_reason_error_string(ERR_peek_last_error())) == NULL)
		why = "unknown error";
	ERR_clear_error();
	snprintf(err, errlen, "\"%s\" not accepted by OpenSSL: %s", bad, why);
	return -1;
}

int
tls_check_ciphers(const char *list, int tls13, char *err, size_t errlen)
{
	SSL_CTX	*ctx;
	int	 r;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("SSL_CTX_new failed");
	r = tls_set_ciphers(ctx, tls13 ? TLS_CIPHERS : list,
	    tls13 ? list : NULL, err, errlen);
	SSL_CTX_free(ctx);
	return r;
}

static int
tls_load_key(SSL_CTX *ctx, const char *path, char *err, size_t errlen)
{
	EVP_PKEY	*key;
	BIO		*bio;
	char		*pem;
	size_t		 len;
	int		 r = -1;

	if ((pem = read_file(path, 1024 * 1024, 1, &len, err, errlen)) == NULL)
		return -1;
	bio = BIO_new_mem_buf(pem, (int)len);
	key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (key == NULL)
		tls_error(err, errlen, "cannot read private key", path);
	else if (SSL_CTX_use_PrivateKey(ctx, key) != 1)
		tls_error(err, errlen, "cannot use private key", path);
	else if (SSL_CTX_check_private_key(ctx) != 1)
		tls_error(err, errlen, "key does not match the certificate",
		    path);
	else
		r = 0;
	EVP_PKEY_free(key);
	BIO_free(bio);
	OPENSSL_cleanse(pem, len);
	free(pem);
	return r;
}

static int
tls_client_ca(SSL_CTX *ctx, const struct config *conf, char *err,
    size_t errlen)
{
	STACK_OF(X509_NAME)	*cas;
	struct tls_names	*tn;
	size_t			 i;

	if (SSL_CTX_load_verify_locations(ctx, conf->client_ca, NULL) != 1) {
		tls_error(err, errlen, "cannot load client CA",
		    conf->client_ca);
		return -1;
	}
	if ((cas = SSL_load_client_CA_file(conf->client_ca)) == NULL) {
		tls_error(err, errlen, "no certificate in client CA file",
		    conf->client_ca);
		return -1;
	}
	SSL_CTX_set_client_CA_list(ctx, cas);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT, tls_verify_cb);
	SSL_CTX_set_verify_depth(ctx, 8);
	tn = xcalloc(1, sizeof(*tn));
	tn->names = xcalloc(conf->nclient_names + 1, sizeof(*tn->names));
	for (i = 0; i < conf->nclient_names; i++)
		tn->names[i] = xstrdup(conf->client_names[i]);
	tn->n = conf->nclient_names;
	SSL_CTX_set_ex_data(ctx, tls_names_index, tn);
	return 0;
}

/*
 * The server context of [server]; client_auth: with client_ca, ask for
 * and check client certificates.  The session ID context differs, so
 * that a session of one listener never resumes on the other.
 */
static void *
tls_ctx_make(const struct config *conf, int client_auth, char *err,
    size_t errlen)
{
	static const unsigned char sid[] = "tokenreviewd";
	static const unsigned char login_sid[] = "tokenreviewd-login";
	SSL_CTX			  *ctx;

	if (tls_names_index == -1)
		tls_names_index = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
		    tls_names_free_cb);
	if (conf->tls_cert == NULL || conf->tls_key == NULL) {
		snprintf(err, errlen, "%s: [server] tls_cert and tls_key are "
		    "required", conf->path);
		return NULL;
	}
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		fatalx("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
	/*
	 * Received plaintext (tokens, bearer secrets) is wiped once read.
	 * The record buffers stay with a connection in use: http.c gives
	 * them back (SSL_free_buffers(), which wipes the read buffer) when
	 * it waits, not after every read and write.
	 */
	SSL_CTX_set_options(ctx, SSL_OP_CLEANSE_PLAINTEXT);
	/*
	 * Records of at most 4 KiB: an answer fits in one, and a connection
	 * that keeps its write buffer keeps 4 KiB, not 16.
	 */
	SSL_CTX_set_max_send_fragment(ctx, TLS_SEND_FRAGMENT);
	if (client_auth)
		SSL_CTX_set_session_id_context(ctx, sid, sizeof(sid) - 1);
	else
		SSL_CTX_set_session_id_context(ctx, login_sid,
		    sizeof(login_sid) - 1);
	SSL_CTX_set_alpn_select_cb(ctx, tls_alpn_cb, NULL);
	if (tls_set_ciphers(ctx, conf->tls_ciphers != NULL ? conf->tls_ciphers :
	    TLS_CIPHERS, conf->tls_ciphersuites, err, errlen) != 0)
		goto fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, conf->tls_cert) != 1) {
		tls_error(err, errlen, "cannot load certificate",
		    conf->tls_cert);
		goto fail;
	}
	if (tls_load_key(ctx, conf->tls_key, err, errlen) != 0)
		goto fail;
	if (client_auth && conf->client_ca != NULL &&
	    tls_client_ca(ctx, conf, err, errlen) != 0)
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void *
tls_ctx_new(const struct config *conf, char *err, size_t errlen)
{
	return tls_ctx_make(conf, 1, err, errlen);
}

void *
tls_ctx_new_login(const struct config *conf, char *err, size_t errlen)
{
	return tls_ctx_make(conf, 0, err, errlen);
}

void
tls_ctx_free(void *ctx)
{
	SSL_CTX_free(ctx);
}

void *
tls_client_ctx_new(const char *ca, const char *cert, const char *key,
    char *err, size_t errlen)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		fatalx("SSL_CTX_new failed");
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	/* As write(2) does, for the LDAP library's buffered writes. */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS |
	    SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_verify_depth(ctx, 8);
	if (ca != NULL ? SSL_CTX_load_verify_locations(ctx, ca, NULL) != 1 :
	    SSL_CTX_set_default_verify_paths(ctx) != 1) {
		tls_error(err, errlen, "cannot load CA certificates",
		    ca != NULL ? ca : "the system's trust store");
		goto fail;
	}
	if (cert != NULL &&
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_error(err, errlen, "cannot load certificate", cert);
		goto fail;
	}
	if (key != NULL && tls_load_key(ctx, key, err, errlen) != 0)
		goto fail;
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

void *
tls_client_new(void *ctx, int fd, const char *host)
{
	SSL		*ssl;
	unsigned char	 addr[16];
	int		 ip;

	ERR_clear_error();
	if ((ssl = SSL_new(ctx)) == NULL || SSL_set_fd(ssl, fd) != 1)
		goto fail;
	ip = inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1;
	if (ip) {
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl),
		    host) != 1)
			goto fail;
	} else if (SSL_set1_host(ssl, host) != 1 ||
	    SSL_set_tlsext_host_name(ssl, host) != 1)
		goto fail;
	SSL_set_connect_state(ssl);
	return ssl;
fail:
	ERR_clear_error();
	SSL_free(ssl);
	return NULL;
}

enum tls_step
tls_client_handshake(void *ssl, char *err, size_t errlen)
{
	unsigned long	e;
	long		verify;
	int		r;

	ERR_clear_error();
	if ((r = SSL_do_handshake(ssl)) == 1)
		return TLS_STEP_DONE;
	switch (SSL_get_error(ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return TLS_STEP_WANT_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_STEP_WANT_WRITE;
	}
	e = ERR_peek_last_error();
	if ((verify = SSL_get_verify_result(ssl)) != X509_V_OK)
		snprintf(err, errlen, "certificate not accepted: %s",
		    X509_verify_cert_error_string(verify));
	else
		snprintf(err, errlen, "TLS handshake failed: %s", e != 0 ?
		    ERR_reason_error_string(e) : "connection closed");
	ERR_clear_error();
	return TLS_STEP_FAILED;
}
