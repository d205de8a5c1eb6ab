/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * tokenreviewctl init: everything an operator needs to put tokenreviewd
 * behind kube-apiserver, written into one directory in one step.  A CA
 * (EC P-256) signs the serving certificate, whose subject alternative
 * names are the names and addresses the API server dials, and the API
 * server's client certificate, whose common name goes into client_names.
 * Around them: a tokenreviewd.conf naming those files, a token file with
 * one token to check the setup with, a fingerprint key, the webhook
 * kubeconfig the API server reads (the CA and its client certificate
 * inline), and Kubernetes Secret manifests holding the daemon's files.
 *
 * Files are created with O_EXCL and never replaced: a second run keeps
 * every file it finds, and makes only the missing ones (from the files
 * that exist, so a deleted manifest is rebuilt from the current token
 * file).  Keys are created 0600.  The CA key is needed only to sign a
 * missing certificate and may be moved away afterwards.
 */

#include <sys/stat.h>
#include <sys/types.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tokenreviewd.h"
#include "ctl.h"

#define INIT_MAX_NAMES		32
#define INIT_MAX_FILE		(1024 * 1024)
#define INIT_CA_DAYS		3650
#define INIT_LEAF_DAYS		825
#define INIT_BACKDATE		300	/* seconds, for clocks behind ours */
#define INIT_TOKEN_BYTES	24
#define INIT_FPKEY_BYTES	32

enum init_source {
	INIT_SOURCE_STATIC,
	INIT_SOURCE_TOKENDB,
	INIT_SOURCE_LDAP
};

enum init_kind {
	INIT_KIND_CA,
	INIT_KIND_SERVER,
	INIT_KIND_CLIENT
};

/* What one file write did. */
enum init_wrote {
	INIT_ERROR = -1,
	INIT_CREATED,
	INIT_KEPT
};

struct init {
	const char		*dir;
	int			 dirfd;
	const char		*names[INIT_MAX_NAMES];
	size_t			 nnames;
	const char		*ips[INIT_MAX_NAMES];
	size_t			 nips;
	const char		*client_name;
	enum init_source	 source;
	const char		*listen;
	const char		*health_listen;
	const char		*confdir;
	const char		*namespace;
	unsigned int		 port;
	EVP_PKEY		*cakey;
	X509			*cacert;
};

static const char *const init_source_names[] = {
	[INIT_SOURCE_STATIC] = "static",
	[INIT_SOURCE_TOKENDB] = "tokendb",
	[INIT_SOURCE_LDAP] = "ldap",
};

void
ctl_init_usage(FILE *f)
{
	fprintf(f, "usage: tokenreviewctl init [--name DNS]... [--ip ADDR]... "
	    "[--client-name CN]\n"
	    "           [--source static|tokendb|ldap] [--listen ADDR:PORT] "
	    "[--health-listen ADDR:PORT]\n"
	    "           [--config-dir DIR] [--namespace NS] DIR\n");
}

/* ------------------------------------------------------------ arguments */

static int
init_check_dns(const char *s)
{
	size_t	 i, label = 0, len = strlen(s);

	if (len == 0 || len > 253 || s[0] == '.' || s[len - 1] == '.')
		return -1;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (label == 0 || s[i - 1] == '-')
				return -1;
			label = 0;
			continue;
		}
		if (s[i] == '-' && label == 0)
			return -1;
		if (!(s[i] >= 'a' && s[i] <= 'z') && !(s[i] >= '0' &&
		    s[i] <= '9') && s[i] != '-')
			return -1;
		if (++label > 63)
			return -1;
	}
	return s[len - 1] == '-' ? -1 : 0;
}

static int
init_check_ip(const char *s)
{
	unsigned char	 buf[sizeof(struct in6_addr)];

	if (inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1)
		return 0;
	return -1;
}

/* A client_names entry: printable ASCII, no space (the list separator). */
static int
init_check_cn(const char *s)
{
	size_t	 i, len = strlen(s);

	if (len == 0 || len > 64)
		return -1;
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return -1;
	return 0;
}

/* ADDRESS:PORT or [ADDRESS]:PORT, numeric; the port into *port. */
static int
init_check_listen(const char *s, unsigned int *port)
{
	char		 addr[INET6_ADDRSTRLEN + 2];
	const char	*colon;
	char		*end;
	size_t		 alen;
	long		 p;

	if ((colon = strrchr(s, ':')) == NULL ||
	    (alen = (size_t)(colon - s)) == 0 || alen >= sizeof(addr))
		return -1;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (addr[0] == '[') {
		if (alen < 3 || addr[alen - 1] != ']')
			return -1;
		addr[alen - 1] = '\0';
		if (strchr(addr + 1, ':') == NULL || init_check_ip(addr + 1))
			return -1;
	} else {
		unsigned char	 buf[sizeof(struct in_addr)];

		if (inet_pton(AF_INET, addr, buf) != 1)
			return -1;
	}
	if (colon[1] < '0' || colon[1] > '9')
		return -1;
	errno = 0;
	p = strtol(colon + 1, &end, 10);
	if (errno != 0 || *end != '\0' || p < 1 || p > 65535)
		return -1;
	if (port != NULL)
		*port = (unsigned int)p;
	return 0;
}

static int
init_add(const char **list, size_t *n, const char *s, const char *what)
{
	if (*n == INIT_MAX_NAMES) {
		fprintf(stderr, "tokenreviewctl: more than %d %ss\n",
		    INIT_MAX_NAMES, what);
		return -1;
	}
	list[(*n)++] = s;
	return 0;
}

static int
init_option(struct init *in, int ch, const char *arg)
{
	size_t	 i;

	switch (ch) {
	case 'n':
		if (init_check_dns(arg) != 0)
			goto bad;
		return init_add(in->names, &in->nnames, arg, "--name");
	case 'i':
		if (init_check_ip(arg) != 0)
			goto bad;
		return init_add(in->ips, &in->nips, arg, "--ip");
	case 'C':
		if (init_check_cn(arg) != 0)
			goto bad;
		in->client_name = arg;
		return 0;
	case 's':
		for (i = 0; i < sizeof(init_source_names) /
		    sizeof(init_source_names[0]); i++)
			if (strcmp(arg, init_source_names[i]) == 0) {
				in->source = (enum init_source)i;
				return 0;
			}
		goto bad;
	case 'l':
		if (init_check_listen(arg, &in->port) != 0)
			goto bad;
		in->listen = arg;
		return 0;
	case 'H':
		if (init_check_listen(arg, NULL) != 0)
			goto bad;
		in->health_listen = arg;
		return 0;
	case 'd':
		if (arg[0] != '/' || strpbrk(arg, " \t\n\r;#\"") != NULL)
			goto bad;
		in->confdir = arg;
		return 0;
	case 'N':
		if (init_check_dns(arg) != 0 || strchr(arg, '.') != NULL)
			goto bad;
		in->namespace = arg;
		return 0;
	}
	ctl_init_usage(stderr);
	return -1;
bad:
	fprintf(stderr, "tokenreviewctl: init: bad argument \"%s\"\n", arg);
	return -1;
}

static int
init_parse(struct init *in, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "name", required_argument, NULL, 'n' },
		{ "ip", required_argument, NULL, 'i' },
		{ "client-name", required_argument, NULL, 'C' },
		{ "source", required_argument, NULL, 's' },
		{ "listen", required_argument, NULL, 'l' },
		{ "health-listen", required_argument, NULL, 'H' },
		{ "config-dir", required_argument, NULL, 'd' },
		{ "namespace", required_argument, NULL, 'N' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	in->client_name = "kube-apiserver";
	in->listen = "0.0.0.0:8443";
	in->port = 8443;
	in->health_listen = "0.0.0.0:8080";
	in->confdir = "/etc/tokenreviewd";
	in->namespace = "auth";
	optind = 1;
	while ((ch = getopt_long(argc, argv, "", longopts, NULL)) != -1)
		if (init_option(in, ch, optarg) != 0)
			return -1;
	if (optind + 1 != argc) {
		ctl_init_usage(stderr);
		return -1;
	}
	if (in->nnames == 0 && in->nips == 0) {
		fprintf(stderr, "tokenreviewctl: init: give the names the API "
		    "server dials: --ip (the Service's clusterIP) and/or "
		    "--name\n");
		return -1;
	}
	in->dir = argv[optind];
	return 0;
}

/* ---------------------------------------------------------------- files */

static int
init_exists(struct init *in, const char *name)
{
	struct stat	 st;

	return fstatat(in->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static void
init_report(struct init *in, const char *name, enum init_wrote w)
{
	printf("%s %s/%s\n", w == INIT_CREATED ? "created" : "kept",
	    in->dir, name);
}

/* Creates name (mode, O_EXCL) holding data; an existing file is kept. */
static enum init_wrote
init_write(struct init *in, const char *name, mode_t mode, const void *data,
    size_t len)
{
	const char	*p = data;
	ssize_t		 n;
	int		 fd;

	fd = openat(in->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, mode);
	if (fd == -1 && errno == EEXIST) {
		init_report(in, name, INIT_KEPT);
		return INIT_KEPT;
	}
	if (fd == -1)
		goto fail;
	while (len > 0) {
		if ((n = write(fd, p, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		p += n;
		len -= (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	init_report(in, name, INIT_CREATED);
	return INIT_CREATED;
fail:
	fprintf(stderr, "tokenreviewctl: %s/%s: %s\n", in->dir, name,
	    strerror(errno));
	if (fd != -1) {
		close(fd);
		unlinkat(in->dirfd, name, 0);
	}
	return INIT_ERROR;
}

/* Writes the contents of a memory BIO, then wipes them. */
static enum init_wrote
init_write_bio(struct init *in, const char *name, mode_t mode, BIO *b)
{
	enum init_wrote	 w;
	char		*data;
	long		 len;

	len = BIO_get_mem_data(b, &data);
	w = init_write(in, name, mode, data, len > 0 ? (size_t)len : 0);
	if (len > 0)
		OPENSSL_cleanse(data, (size_t)len);
	return w;
}

/* The whole file, NUL-terminated, in *len bytes; the caller frees. */
static char *
init_slurp(struct init *in, const char *name, size_t *len)
{
	struct stat	 st;
	char		*buf = NULL;
	ssize_t		 n;
	size_t		 got = 0;
	int		 fd;

	if ((fd = openat(in->dirfd, name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC)) == -1 || fstat(fd, &st) != 0)
		goto fail;
	if (!S_ISREG(st.st_mode) || st.st_size > INIT_MAX_FILE) {
		errno = EFBIG;
		goto fail;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	errno = 0;
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return buf;
fail:
	fprintf(stderr, "tokenreviewctl: %s/%s: %s\n", in->dir, name,
	    errno == 0 ? "short read" : strerror(errno));
	if (fd != -1)
		close(fd);
	free(buf);
	return NULL;
}

static void
init_free_secret(char *buf, size_t len)
{
	if (buf != NULL)
		OPENSSL_cleanse(buf, len);
	free(buf);
}

/* base64 without line breaks; the caller frees. */
static char *
init_b64(const char *data, size_t len)
{
	char	*out;

	out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, (const unsigned char *)data,
	    (int)len);
	return out;
}

/* ----------------------------------------------------- keys, certificates */

static EVP_PKEY *
init_key_load(struct init *in, const char *name)
{
	EVP_PKEY	*key = NULL;
	BIO		*b;
	char		*pem;
	size_t		 len;

	if ((pem = init_slurp(in, name, &len)) == NULL)
		return NULL;
	if ((b = BIO_new_mem_buf(pem, (int)len)) != NULL)
		key = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
	BIO_free(b);
	init_free_secret(pem, len);
	if (key == NULL)
		fprintf(stderr, "tokenreviewctl: %s/%s: not a PEM private "
		    "key\n", in->dir, name);
	return key;
}

/* The key in name, made (EC P-256, mode 0600) when the file is missing. */
static EVP_PKEY *
init_key(struct init *in, const char *name)
{
	EVP_PKEY	*key;
	BIO		*b;
	int		 ok;

	if (init_exists(in, name)) {
		init_report(in, name, INIT_KEPT);
		return init_key_load(in, name);
	}
	if ((key = EVP_EC_gen("P-256")) == NULL)
		fatalx("cannot generate an EC P-256 key");
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		fatalx("BIO_new");
	ok = PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) &&
	    init_write_bio(in, name, 0600, b) == INIT_CREATED;
	BIO_free(b);
	if (!ok) {
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

static X509 *
init_cert_load(struct init *in, const char *name)
{
	X509	*x = NULL;
	BIO	*b;
	char	*pem;
	size_t	 len;

	if ((pem = init_slurp(in, name, &len)) == NULL)
		return NULL;
	if ((b = BIO_new_mem_buf(pem, (int)len)) != NULL)
		x = PEM_read_bio_X509(b, NULL, NULL, NULL);
	BIO_free(b);
	free(pem);
	if (x == NULL)
		fprintf(stderr, "tokenreviewctl: %s/%s: not a PEM "
		    "certificate\n", in->dir, name);
	return x;
}

static int
init_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX	 ctx;
	X509_EXTENSION	*ext;
	int		 ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	if ((ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value)) == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* "DNS:a,DNS:b,IP:c" from --name and --ip; the caller frees. */
static char *
init_san(struct init *in)
{
	char	*s;
	size_t	 i, len = 1, off = 0;

	for (i = 0; i < in->nnames; i++)
		len += strlen(in->names[i]) + 5;
	for (i = 0; i < in->nips; i++)
		len += strlen(in->ips[i]) + 4;
	s = xmalloc(len);
	s[0] = '\0';
	for (i = 0; i < in->nnames; i++)
		off += (size_t)snprintf(s + off, len - off, "%sDNS:%s",
		    off > 0 ? "," : "", in->names[i]);
	for (i = 0; i < in->nips; i++)
		off += (size_t)snprintf(s + off, len - off, "%sIP:%s",
		    off > 0 ? "," : "", in->ips[i]);
	return s;
}

/* The X509v3 extensions of each kind of certificate. */
static int
init_cert_exts(struct init *in, X509 *x, X509 *issuer, enum init_kind kind)
{
	char	*san;
	int	 r = -1;

	if (init_ext(x, issuer, NID_subject_key_identifier, "hash") != 0 ||
	    init_ext(x, issuer, NID_authority_key_identifier,
	    "keyid:always") != 0)
		return -1;
	switch (kind) {
	case INIT_KIND_CA:
		return init_ext(x, issuer, NID_basic_constraints,
		    "critical,CA:TRUE,pathlen:0") != 0 ||
		    init_ext(x, issuer, NID_key_usage,
		    "critical,keyCertSign,cRLSign") != 0 ? -1 : 0;
	case INIT_KIND_SERVER:
		san = init_san(in);
		r = init_ext(x, issuer, NID_subject_alt_name, san);
		free(san);
		if (r != 0 || init_ext(x, issuer, NID_ext_key_usage,
		    "serverAuth") != 0)
			return -1;
		break;
	case INIT_KIND_CLIENT:
		if (init_ext(x, issuer, NID_ext_key_usage, "clientAuth") != 0)
			return -1;
		break;
	}
	return init_ext(x, issuer, NID_basic_constraints,
	    "critical,CA:FALSE") != 0 || init_ext(x, issuer, NID_key_usage,
	    "critical,digitalSignature") != 0 ? -1 : 0;
}

/* A certificate for key with common name cn, signed by the CA (or self). */
static X509 *
init_cert_new(struct init *in, EVP_PKEY *key, const char *cn,
    enum init_kind kind)
{
	X509		*x, *issuer;
	EVP_PKEY	*signer;
	BIGNUM		*bn;
	long		 days;

	if ((x = X509_new()) == NULL || (bn = BN_new()) == NULL)
		fatalx("out of memory");
	issuer = kind == INIT_KIND_CA ? x : in->cacert;
	signer = kind == INIT_KIND_CA ? key : in->cakey;
	days = kind == INIT_KIND_CA ? INIT_CA_DAYS : INIT_LEAF_DAYS;
	if (!X509_set_version(x, 2) ||
	    !BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL ||
	    X509_gmtime_adj(X509_getm_notBefore(x), -INIT_BACKDATE) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), (int)days, 0,
	    NULL) == NULL ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN",
	    MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(issuer)) ||
	    !X509_set_pubkey(x, key) ||
	    init_cert_exts(in, x, issuer, kind) != 0 ||
	    X509_sign(x, signer, EVP_sha256()) == 0) {
		fprintf(stderr, "tokenreviewctl: cannot make the certificate "
		    "of %s\n", cn);
		X509_free(x);
		x = NULL;
	}
	BN_free(bn);
	return x;
}

static int
init_cert_write(struct init *in, const char *name, X509 *x)
{
	BIO	*b;
	int	 ok;

	if ((b = BIO_new(BIO_s_mem())) == NULL)
		fatalx("BIO_new");
	ok = PEM_write_bio_X509(b, x) &&
	    init_write_bio(in, name, 0644, b) == INIT_CREATED;
	BIO_free(b);
	return ok ? 0 : -1;
}

/* The CA: its certificate, and its key when a certificate is to be signed. */
static int
init_ca(struct init *in)
{
	if (init_exists(in, "ca.crt")) {
		init_report(in, "ca.crt", INIT_KEPT);
		if ((in->cacert = init_cert_load(in, "ca.crt")) == NULL)
			return -1;
		if (!init_exists(in, "ca.key"))
			return 0;
		return (in->cakey = init_key(in, "ca.key")) ? 0 : -1;
	}
	if ((in->cakey = init_key(in, "ca.key")) == NULL ||
	    (in->cacert = init_cert_new(in, in->cakey, "tokenreviewd CA",
	    INIT_KIND_CA)) == NULL)
		return -1;
	return init_cert_write(in, "ca.crt", in->cacert);
}

/* A kept serving certificate must still name what the API server dials. */
static int
init_check_kept(struct init *in, const char *crt)
{
	X509	*x;
	size_t	 i;
	int	 r = 0;

	if ((x = init_cert_load(in, crt)) == NULL)
		return -1;
	for (i = 0; i < in->nnames; i++)
		if (X509_check_host(x, in->names[i], 0,
		    X509_CHECK_FLAG_NO_WILDCARDS, NULL) != 1) {
			fprintf(stderr, "tokenreviewctl: %s/%s does not name "
			    "%s\n", in->dir, crt, in->names[i]);
			r = -1;
		}
	for (i = 0; i < in->nips; i++)
		if (X509_check_ip_asc(x, in->ips[i], 0) != 1) {
			fprintf(stderr, "tokenreviewctl: %s/%s does not name "
			    "%s\n", in->dir, crt, in->ips[i]);
			r = -1;
		}
	if (r != 0)
		fprintf(stderr, "tokenreviewctl: remove %s/%s and %s/%s to "
		    "make new ones\n", in->dir, crt, in->dir, "secrets.yaml");
	X509_free(x);
	return r;
}

static int
init_leaf(struct init *in, const char *crt, const char *keyname,
    const char *cn, enum init_kind kind)
{
	EVP_PKEY	*key;
	X509		*x;
	int		 r;

	if (init_exists(in, crt)) {
		init_report(in, crt, INIT_KEPT);
		return kind == INIT_KIND_SERVER ? init_check_kept(in, crt) : 0;
	}
	if (in->cakey == NULL) {
		fprintf(stderr, "tokenreviewctl: %s/ca.key is missing: cannot "
		    "sign %s\n", in->dir, crt);
		return -1;
	}
	if ((key = init_key(in, keyname)) == NULL)
		return -1;
	x = init_cert_new(in, key, cn, kind);
	r = x != NULL ? init_cert_write(in, crt, x) : -1;
	X509_free(x);
	EVP_PKEY_free(key);
	return r;
}

/* -------------------------------------------------------- generated text */

/* A file of random bytes as hex: a token line or the fingerprint key. */
static int
init_random_file(struct init *in, const char *name, size_t nbytes,
    const char *prefix, const char *suffix)
{
	unsigned char	 raw[64];
	char		 hex[2 * sizeof(raw) + 1], line[512];
	size_t		 i;
	int		 n, r;

	if (init_exists(in, name)) {
		init_report(in, name, INIT_KEPT);
		return 0;
	}
	if (nbytes > sizeof(raw) || RAND_bytes(raw, (int)nbytes) != 1)
		fatalx("RAND_bytes");
	for (i = 0; i < nbytes; i++)
		snprintf(hex + 2 * i, 3, "%02x", raw[i]);
	n = snprintf(line, sizeof(line), "%s%s%s\n", prefix, hex, suffix);
	if (n < 0 || (size_t)n >= sizeof(line))
		fatalx("%s: line too long", name);
	r = init_write(in, name, 0600, line, (size_t)n) == INIT_ERROR ? -1 : 0;
	OPENSSL_cleanse(raw, sizeof(raw));
	OPENSSL_cleanse(hex, sizeof(hex));
	OPENSSL_cleanse(line, sizeof(line));
	return r;
}

static void
init_conf_source(struct init *in, BIO *b)
{
	switch (in->source) {
	case INIT_SOURCE_STATIC:
		break;
	case INIT_SOURCE_TOKENDB:
		BIO_printf(b, "\n; The token database, shared by the replicas; "
		    "its password comes\n; from PGPASSWORD (the Secret "
		    "tokenreviewd-postgresql).\n"
		    "[tokendb]\nurl = postgresql://tokenreviewd@"
		    "postgresql.%s.svc:5432/tokens\n", in->namespace);
		break;
	case INIT_SOURCE_LDAP:
		BIO_printf(b, "\n; Edit for your directory; every key is in "
		    "tokenreviewd.conf(5).\n[ldap \"directory\"]\n"
		    "uri = ldaps://ldap.example.org\nmode = bind\n"
		    "user_base = ou=people,dc=example,dc=org\n"
		    "user_filter = (uid=%%s)\nusername_prefix = ldap:\n"
		    "group_base = ou=groups,dc=example,dc=org\n"
		    "group_filter = (member=%%s)\ngroup_prefix = ldap:\n");
		break;
	}
}

static int
init_conf(struct init *in)
{
	const char	*d = in->confdir;
	BIO		*b;
	int		 r;

	if (init_exists(in, "tokenreviewd.conf")) {
		init_report(in, "tokenreviewd.conf", INIT_KEPT);
		return 0;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		fatalx("BIO_new");
	BIO_printf(b, "; Written by tokenreviewctl init; every key is in "
	    "tokenreviewd.conf(5).\n\n[server]\nlisten = %s\n"
	    "health_listen = %s\ntls_cert = %s/tls.crt\ntls_key = %s/tls.key\n"
	    "client_ca = %s/ca.crt\nclient_names = %s\n"
	    "review_path = /tokenreview\n"
	    "; Threads: by default one per CPU of the node, not of the pod.\n"
	    "workers = 2\nchain = static%s%s\n\n"
	    "[cache]\nttl = 60s\nnegative_ttl = 10s\n\n"
	    "[log]\nlevel = info\naudit = yes\n"
	    "fingerprint_key_file = %s/fingerprint.key\n\n"
	    "[static]\nfile = %s/tokens.csv\n", in->listen, in->health_listen,
	    d, d, d, in->client_name,
	    in->source == INIT_SOURCE_STATIC ? "" : " ",
	    in->source == INIT_SOURCE_STATIC ? "" :
	    init_source_names[in->source], d, d);
	init_conf_source(in, b);
	r = init_write_bio(in, "tokenreviewd.conf", 0644, b) == INIT_ERROR ?
	    -1 : 0;
	BIO_free(b);
	return r;
}

/* Prints "  key: base64 of the file\n"; -1 if it cannot be read. */
static int
init_yaml_file(struct init *in, BIO *b, const char *indent, const char *key,
    const char *name)
{
	char	*data, *enc;
	size_t	 len;

	if ((data = init_slurp(in, name, &len)) == NULL)
		return -1;
	enc = init_b64(data, len);
	BIO_printf(b, "%s%s: %s\n", indent, key, enc);
	init_free_secret(enc, strlen(enc));
	init_free_secret(data, len);
	return 0;
}

/* The file of kube-apiserver's --authentication-token-webhook-config-file. */
static int
init_kubeconfig(struct init *in)
{
	const char	*name = "webhook-kubeconfig.yaml", *host;
	BIO		*b;
	int		 r = -1, v6;

	if (init_exists(in, name)) {
		init_report(in, name, INIT_KEPT);
		return 0;
	}
	host = in->nips > 0 ? in->ips[0] : in->names[0];
	v6 = strchr(host, ':') != NULL;
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		fatalx("BIO_new");
	BIO_printf(b, "# For kube-apiserver "
	    "--authentication-token-webhook-config-file,\n"
	    "# with --authentication-token-webhook-version=v1.\n"
	    "apiVersion: v1\nkind: Config\nclusters:\n- name: tokenreviewd\n"
	    "  cluster:\n    server: https://%s%s%s:%u/tokenreview\n",
	    v6 ? "[" : "", host, v6 ? "]" : "", in->port);
	if (init_yaml_file(in, b, "    ", "certificate-authority-data",
	    "ca.crt") != 0)
		goto out;
	BIO_printf(b, "users:\n- name: %s\n  user:\n", in->client_name);
	if (init_yaml_file(in, b, "    ", "client-certificate-data",
	    "apiserver.crt") != 0 || init_yaml_file(in, b, "    ",
	    "client-key-data", "apiserver.key") != 0)
		goto out;
	BIO_printf(b, "contexts:\n- name: webhook\n  context:\n"
	    "    cluster: tokenreviewd\n    user: %s\n"
	    "current-context: webhook\n", in->client_name);
	r = init_write_bio(in, name, 0600, b) == INIT_ERROR ? -1 : 0;
out:
	BIO_free(b);
	return r;
}

static void
init_yaml_secret(struct init *in, BIO *b, const char *name, const char *type)
{
	BIO_printf(b, "---\napiVersion: v1\nkind: Secret\nmetadata:\n"
	    "  name: %s\n  namespace: %s\n  labels:\n"
	    "    app.kubernetes.io/name: tokenreviewd\ntype: %s\ndata:\n",
	    name, in->namespace, type);
}

/*
 * The Secrets the Deployment mounts, after the Namespace they live in, so
 * that the file applies on a fresh cluster before or after the manifests.
 */
static int
init_secrets(struct init *in)
{
	const char	*name = "secrets.yaml";
	BIO		*b;
	int		 r = -1;

	if (init_exists(in, name)) {
		init_report(in, name, INIT_KEPT);
		return 0;
	}
	if ((b = BIO_new(BIO_s_mem())) == NULL)
		fatalx("BIO_new");
	/* As contrib/kubernetes/namespace.yaml: either may be applied last. */
	BIO_printf(b, "# Written by tokenreviewctl init: kubectl apply -f "
	    "this file.\napiVersion: v1\nkind: Namespace\nmetadata:\n"
	    "  name: %s\n  labels:\n    app.kubernetes.io/name: tokenreviewd\n"
	    "    pod-security.kubernetes.io/enforce: restricted\n",
	    in->namespace);
	init_yaml_secret(in, b, "tokenreviewd-tls", "kubernetes.io/tls");
	if (init_yaml_file(in, b, "  ", "tls.crt", "tls.crt") != 0 ||
	    init_yaml_file(in, b, "  ", "tls.key", "tls.key") != 0)
		goto out;
	init_yaml_secret(in, b, "tokenreviewd-client-ca", "Opaque");
	if (init_yaml_file(in, b, "  ", "ca.crt", "ca.crt") != 0)
		goto out;
	init_yaml_secret(in, b, "tokenreviewd-secrets", "Opaque");
	if (init_yaml_file(in, b, "  ", "tokens.csv", "tokens.csv") != 0 ||
	    init_yaml_file(in, b, "  ", "fingerprint.key",
	    "fingerprint.key") != 0)
		goto out;
	r = init_write_bio(in, name, 0600, b) == INIT_ERROR ? -1 : 0;
out:
	BIO_free(b);
	return r;
}

/* ----------------------------------------------------------------- main */

static int
init_run(struct init *in)
{
	if (init_ca(in) != 0 ||
	    init_leaf(in, "tls.crt", "tls.key", in->nnames > 0 ?
	    in->names[0] : "tokenreviewd", INIT_KIND_SERVER) != 0 ||
	    init_leaf(in, "apiserver.crt", "apiserver.key", in->client_name,
	    INIT_KIND_CLIENT) != 0 ||
	    init_random_file(in, "tokens.csv", INIT_TOKEN_BYTES, "",
	    ",tokenreviewd:check,tokenreviewd-check,") != 0 ||
	    init_random_file(in, "fingerprint.key", INIT_FPKEY_BYTES, "",
	    "") != 0 ||
	    init_conf(in) != 0 || init_kubeconfig(in) != 0 ||
	    init_secrets(in) != 0)
		return 1;
	return 0;
}

int
ctl_init(int argc, char **argv)
{
	struct init	 in;
	int		 r;

	memset(&in, 0, sizeof(in));
	in.dirfd = -1;
	if (init_parse(&in, argc, argv) != 0)
		return 2;
	if (mkdir(in.dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "tokenreviewctl: %s: %s\n", in.dir,
		    strerror(errno));
		return 1;
	}
	if ((in.dirfd = open(in.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) ==
	    -1) {
		fprintf(stderr, "tokenreviewctl: %s: %s\n", in.dir,
		    strerror(errno));
		return 1;
	}
	r = init_run(&in);
	EVP_PKEY_free(in.cakey);
	X509_free(in.cacert);
	close(in.dirfd);
	return r;
}
