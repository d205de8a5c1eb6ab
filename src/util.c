/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Small helpers used everywhere: allocation that never returns NULL,
 * hashing and constant-time comparison, parsing of the config's number,
 * size and duration forms, and reading secret files safely.  The pieces
 * of the toolkit every token source shares live here too (toolkit.h):
 * text validation, JSON string quoting, the string vector, timer
 * conversions and the backoff, so that no source writes its own.
 */

/* SHA256_Init() and its kin without deprecation warnings: see below. */
#define OPENSSL_API_COMPAT	10101

#include <sys/stat.h>
#include <sys/time.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "tokenreviewd.h"

void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL)
		fatal("malloc %zu", size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		fatal("calloc %zu x %zu", n, size);
	return p;
}

void *
xreallocarray(void *old, size_t n, size_t size)
{
	void	*p;

	if (n == 0 || size == 0)
		n = size = 1;
	if (SIZE_MAX / n < size)
		fatalx("reallocarray: %zu x %zu overflows", n, size);
	if ((p = realloc(old, n * size)) == NULL)
		fatal("realloc %zu x %zu", n, size);
	return p;
}

char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("strdup");
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char	*p;

	if ((p = strndup(s, n)) == NULL)
		fatal("strndup");
	return p;
}

char *
xstrcat2(const char *a, const char *b)
{
	size_t	 la = strlen(a), lb = strlen(b);
	char	*s = xmalloc(la + lb + 1);

	memcpy(s, a, la);
	memcpy(s + la, b, lb + 1);
	return s;
}

int
xasprintf(char **out, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(out, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("vasprintf");
	return n;
}

/*
 * SHA-256 runs several times per review.  OpenSSL 3's EVP interface
 * dispatches through a provider and allocates on every init, more than
 * twice the cost of hashing a token; the SHA256_* functions hash in place
 * on a context we own.  They are deprecated in OpenSSL 3.0 but kept in
 * every 3.x, and OPENSSL_API_COMPAT at the top of this file declares them
 * without the warning.  Each thread has one context for the incremental
 * form; SHA256_Final() wipes the block it buffered.
 */
static __thread SHA256_CTX	sha_ctx;

/*
 * pthread_create() with every signal blocked in the new thread, so that
 * signals go to the main thread.  A signal's frame holds the interrupted
 * thread's registers, vector registers too, which hold whatever was last
 * copied (a request with its token); written on a worker's stack it would
 * stay there.  Returns pthread_create()'s result.
 */
int
thread_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	sigset_t	all, old;
	int		e;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	e = pthread_create(t, NULL, fn, arg);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return e;
}

void *
sha256_begin(void)
{
	SHA256_Init(&sha_ctx);
	return &sha_ctx;
}

void
sha256_update(void *ctx, const void *data, size_t len)
{
	SHA256_Update(ctx, data, len);
}

void
sha256_end(void *ctx, uint8_t out[TR_SHA256_LEN])
{
	SHA256_Final(out, ctx);
}

void
sha256(const void *data, size_t len, uint8_t out[TR_SHA256_LEN])
{
	SHA256_CTX	c;

	SHA256_Init(&c);
	SHA256_Update(&c, data, len);
	SHA256_Final(out, &c);
	OPENSSL_cleanse(&c, sizeof(c));
}

void
hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t		  i;

	for (i = 0; i < len; i++) {
		out[2 * i] = hex[in[i] >> 4];
		out[2 * i + 1] = hex[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/*
 * The value of each byte as a base64 digit, -1 for a byte that is none:
 * a table, since a JWT review reads some 600 digits three times.
 */
const signed char base64_std_digits[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

const signed char base64_url_digits[256] = {
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1,
	52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -1, -1, -1,
	-1,  0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14,
	15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, 63,
	-1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
	41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
	-1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

/* FNV-1a, 64 bits: a quick hash of a string, not one for secrets. */
uint64_t
fnv1a64(const char *s)
{
	uint64_t	h = 14695981039346656037ULL;

	for (; *s != '\0'; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

char *
base64url_encode(const void *data, size_t n)
{
	static const char	 tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const unsigned char	*in = data;
	char			*out;
	unsigned int		 acc = 0;
	size_t			 i, o = 0;
	int			 bits = 0;

	out = xmalloc(n / 3 * 4 + 5);
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

ssize_t
base64_decode_to(const char *s, size_t n, int url, unsigned char *out)
{
	const signed char	*tab = url ? base64_url_digits :
	    base64_std_digits;
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i, o = 0;
	uint32_t		 v;
	int			 a, b, c, d;

	if (n % 4 == 1)
		return -1;
	/* Four digits at a time: one test of their signs for all four. */
	for (i = 0; i + 4 <= n; i += 4) {
		a = tab[p[i]];
		b = tab[p[i + 1]];
		c = tab[p[i + 2]];
		d = tab[p[i + 3]];
		if ((a | b | c | d) < 0)
			return -1;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 |
		    (uint32_t)d;
		out[o++] = (unsigned char)(v >> 16);
		out[o++] = (unsigned char)(v >> 8);
		out[o++] = (unsigned char)v;
	}
	if (i < n) {
		a = tab[p[i]];
		b = tab[p[i + 1]];
		c = i + 2 < n ? tab[p[i + 2]] : 0;
		if ((a | b | c) < 0)
			return -1;
		v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6;
		out[o++] = (unsigned char)(v >> 16);
		if (i + 2 < n)
			out[o++] = (unsigned char)(v >> 8);
	}
	return (ssize_t)o;
}

unsigned char *
base64_decode(const char *s, size_t n, int url, size_t *outlen)
{
	unsigned char	*out;
	ssize_t		 o;

	if (n % 4 == 1)
		return NULL;
	out = xmalloc(n * 3 / 4 + 1);
	if ((o = base64_decode_to(s, n, url, out)) < 0) {
		OPENSSL_cleanse(out, n * 3 / 4);
		free(out);
		return NULL;
	}
	out[o] = '\0';
	*outlen = (size_t)o;
	return out;
}

/*
 * Token fingerprints are keyed (HMAC-SHA-256): a log reader can match two
 * lines of the same token, but cannot test guesses (an LDAP password in a
 * bind-mode token) against a line without the key.  A published key is
 * immutable; a new one replaces the pointer, and the ones it replaced stay
 * allocated until exit because a worker may still be hashing with them.
 * The key is kept as the two hash states after its padded blocks (RFC
 * 2104), so a fingerprint hashes only the token and the inner digest.
 */
#define FP_BLOCK	64		/* SHA-256 block size */
#define FP_RANDOM_LEN	32

struct fp_key {
	SHA256_CTX	 inner;		/* after the key ^ ipad block */
	SHA256_CTX	 outer;		/* after the key ^ opad block */
	struct fp_key	*prev;		/* the one this replaced */
};

static struct fp_key	*fp_current;	/* NULL: fp_random */
static struct fp_key	 fp_random;
static pthread_once_t	 fp_once = PTHREAD_ONCE_INIT;

static void
fp_key_init(struct fp_key *k, const void *key, size_t len)
{
	uint8_t	block[FP_BLOCK], pad[FP_BLOCK];
	size_t	i;

	memset(block, 0, sizeof(block));
	if (len > FP_BLOCK)
		sha256(key, len, block);
	else if (len > 0)
		memcpy(block, key, len);
	for (i = 0; i < FP_BLOCK; i++)
		pad[i] = block[i] ^ 0x36;
	SHA256_Init(&k->inner);
	SHA256_Update(&k->inner, pad, sizeof(pad));
	for (i = 0; i < FP_BLOCK; i++)
		pad[i] = block[i] ^ 0x5c;
	SHA256_Init(&k->outer);
	SHA256_Update(&k->outer, pad, sizeof(pad));
	OPENSSL_cleanse(block, sizeof(block));
	OPENSSL_cleanse(pad, sizeof(pad));
}

static void
fp_random_init(void)
{
	uint8_t	key[FP_RANDOM_LEN];

	if (RAND_bytes(key, sizeof(key)) != 1)
		fatalx("no random bytes for the fingerprint key");
	fp_key_init(&fp_random, key, sizeof(key));
	OPENSSL_cleanse(key, sizeof(key));
}

static const struct fp_key *
fp_key_get(void)
{
	struct fp_key	*k;

	if ((k = __atomic_load_n(&fp_current, __ATOMIC_ACQUIRE)) != NULL)
		return k;
	pthread_once(&fp_once, fp_random_init);
	return &fp_random;
}

int
fingerprint_set_key(const void *key, size_t len)
{
	static struct fp_key	*retired;
	const struct fp_key	*old = fp_key_get();
	struct fp_key		*k;

	if (key == NULL || len == 0) {
		if (old == &fp_random)
			return 0;
		k = &fp_random;
	} else {
		k = xcalloc(1, sizeof(*k));
		fp_key_init(k, key, len);
		if (memcmp(&k->inner, &old->inner, sizeof(k->inner)) == 0) {
			OPENSSL_cleanse(k, sizeof(*k));
			free(k);
			return 0;
		}
		k->prev = retired;
		retired = k;
	}
	__atomic_store_n(&fp_current, k, __ATOMIC_RELEASE);
	return 1;
}

/* kube-apiserver's bootstrap token shape: [a-z0-9]{6} "." [a-z0-9]{16}. */
static int
fp_bootstrap_shaped(const char *s, size_t len)
{
	size_t	i;

	if (len != TR_BOOTSTRAP_ID_LEN + 1 + 16 ||
	    s[TR_BOOTSTRAP_ID_LEN] != '.')
		return 0;
	for (i = 0; i < len; i++) {
		if (i != TR_BOOTSTRAP_ID_LEN && !((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9')))
			return 0;
	}
	return 1;
}

void
fingerprint(const void *data, size_t len, char out[TR_FINGERPRINT_LEN + 1])
{
	const struct fp_key	*k;
	uint8_t			 md[TR_SHA256_LEN];
	SHA256_CTX		 c;

	if (fp_bootstrap_shaped(data, len)) {
		/* The id is public by design; the secret stays out. */
		snprintf(out, TR_FINGERPRINT_LEN + 1, "id:%.*s",
		    TR_BOOTSTRAP_ID_LEN, (const char *)data);
		return;
	}
	k = fp_key_get();
	c = k->inner;
	SHA256_Update(&c, data, len);
	SHA256_Final(md, &c);
	c = k->outer;
	SHA256_Update(&c, md, sizeof(md));
	SHA256_Final(md, &c);
	hex_encode(md, TR_FINGERPRINT_LEN / 2, out);
	OPENSSL_cleanse(md, sizeof(md));
	OPENSSL_cleanse(&c, sizeof(c));
}

size_t
utf8_seq_len(const unsigned char *s, size_t n)
{
	size_t		need, i;
	unsigned int	cp;

	if (n == 0)
		return 0;
	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 2;
		cp = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 3;
		cp = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n < need)
		return 0;
	for (i = 1; i < need; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates and code points past U+10FFFF. */
	if ((need == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (need == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return need;
}

int
utf8_text_valid(const char *s, size_t n)
{
	const unsigned char	*u = (const unsigned char *)s;
	size_t			 i, k;

	for (i = 0; i < n; i += k) {
		if (u[i] == 0 || (k = utf8_seq_len(u + i, n - i)) == 0)
			return 0;
	}
	return 1;
}

/*
 * One character of s as JSON writes it: *src and *n get the bytes to
 * write, the return value how many bytes of s they stand for.  Control
 * characters (DEL too, for terminals reading logs) are \u escapes, and a
 * byte that starts no valid UTF-8 sequence is U+FFFD.
 */
static size_t
json_quote_char(const unsigned char *p, size_t left, char e[8],
    const char **src, size_t *n)
{
	static const char	hex[] = "0123456789abcdef";
	size_t			k;

	*src = (const char *)p;
	*n = 1;
	if (*p == '"' || *p == '\\') {
		e[0] = '\\';
		e[1] = (char)*p;
		*src = e;
		*n = 2;
	} else if (*p < 0x20 || *p == 0x7f) {
		memcpy(e, "\\u00", 4);
		e[4] = hex[*p >> 4];
		e[5] = hex[*p & 0xf];
		*src = e;
		*n = 6;
	} else if (*p >= 0x80) {
		if ((k = utf8_seq_len(p, left)) != 0) {
			*n = k;
			return k;
		}
		*src = "\\ufffd";
		*n = 6;
	}
	return 1;
}

/* A byte that stands for itself in a JSON string, as we write them. */
static int
json_plain(unsigned char c)
{
	return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

size_t
json_quote(const char *s, size_t len, char *out)
{
	const unsigned char	*p = (const unsigned char *)s;
	const char		*src;
	char			 e[8];
	size_t			 i, j, n, olen = 0;

	if (out != NULL)
		out[olen] = '"';
	olen++;
	for (i = 0; i < len; ) {
		/* A run of plain bytes in one copy, then one other. */
		for (j = i; j < len && json_plain(p[j]); j++)
			;
		if (out != NULL)
			memcpy(out + olen, s + i, j - i);
		olen += j - i;
		if ((i = j) == len)
			break;
		i += json_quote_char(p + i, len - i, e, &src, &n);
		if (out != NULL)
			memcpy(out + olen, src, n);
		olen += n;
	}
	if (out != NULL)
		out[olen] = '"';
	return olen + 1;
}

/*
 * The one comparison of secrets (tokens, their hashes and digests, cache
 * keys made from them): its time does not depend on where a and b differ.
 * tests/compare.sh refuses any other comparison of such values in src/,
 * and tests/unit/test_ct checks under valgrind that no branch depends on
 * the bytes.
 */
int
ct_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}

int
parse_number(const char *s, long long min, long long max, long long *out)
{
	char		*end;
	long long	 v;

	if (s == NULL || !isdigit((unsigned char)*s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A whole number and one of the suffixes; *out is it times that scale. */
static int
parse_scaled(const char *s, const char *const *suffixes,
    const long long *scales, long long *out)
{
	char		 num[32];
	size_t		 n, i;
	long long	 v;

	if (s == NULL)
		return -1;
	for (n = 0; isdigit((unsigned char)s[n]); n++)
		;
	if (n == 0 || n >= sizeof(num))
		return -1;
	memcpy(num, s, n);
	num[n] = '\0';
	if (parse_number(num, 0, LLONG_MAX, &v) != 0)
		return -1;
	for (i = 0; suffixes[i] != NULL; i++) {
		if (strcmp(s + n, suffixes[i]) != 0)
			continue;
		if (v > LLONG_MAX / scales[i])
			return -1;
		*out = v * scales[i];
		return 0;
	}
	return -1;
}

int
parse_duration(const char *s, long long *ms)
{
	static const char *const suffixes[] = {
		"", "ms", "s", "m", "h", NULL
	};
	static const long long scales[] = {
		1000, 1, 1000, 60 * 1000, 3600 * 1000
	};

	return parse_scaled(s, suffixes, scales, ms);
}

int
parse_size(const char *s, size_t *size)
{
	static const char *const suffixes[] = {
		"", "k", "K", "m", "M", NULL
	};
	static const long long scales[] = {
		1, 1024, 1024, 1024 * 1024, 1024 * 1024
	};
	long long	 v;

	if (parse_scaled(s, suffixes, scales, &v) != 0 ||
	    (unsigned long long)v > SIZE_MAX)
		return -1;
	*size = (size_t)v;
	return 0;
}

void
strvec_add_take(struct strvec *sv, char *s)
{
	if (sv->n + 2 > sv->cap) {
		sv->cap = sv->cap == 0 ? 4 : sv->cap * 2;
		sv->v = xreallocarray(sv->v, sv->cap, sizeof(*sv->v));
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void
strvec_add(struct strvec *sv, const char *s)
{
	strvec_add_take(sv, xstrdup(s));
}

size_t
strvec_count(const struct strvec *sv)
{
	return sv->n;
}

char **
strvec_take(struct strvec *sv)
{
	char	**v = sv->v;

	if (v == NULL)
		v = xcalloc(1, sizeof(*v));
	memset(sv, 0, sizeof(*sv));
	return v;
}

void
strvec_free(struct strvec *sv)
{
	size_t	i;

	for (i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

char **
split_words(const char *s, size_t *n)
{
	struct strvec	 sv = STRVEC_INITIALIZER;
	size_t		 len;

	for (;;) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		len = strcspn(s, " \t");
		strvec_add_take(&sv, xstrndup(s, len));
		s += len;
	}
	if (n != NULL)
		*n = strvec_count(&sv);
	return strvec_take(&sv);
}

void
free_words(char **words)
{
	size_t	i;

	if (words == NULL)
		return;
	for (i = 0; words[i] != NULL; i++)
		free(words[i]);
	free(words);
}

static int
in_group(gid_t gid)
{
	gid_t	groups[256];
	int	n, i;

	if (getegid() == gid)
		return 1;
	if ((n = getgroups(256, groups)) < 0)
		return 0;
	for (i = 0; i < n; i++) {
		if (groups[i] == gid)
			return 1;
	}
	return 0;
}

/*
 * May a file with secrets have this mode?  Nothing for others, no group
 * write, and group read only when root owns the file and its group is one
 * of ours, not root's: that is how Kubernetes mounts a Secret for a pod
 * with an fsGroup (root:fsGroup, 0440), and no one outside the daemon's
 * group can read it.
 */
static int
private_mode(const struct stat *st)
{
	if (st->st_mode & (S_IRWXO | S_IWGRP | S_IXGRP))
		return 0;
	if ((st->st_mode & S_IRGRP) == 0)
		return 1;
	return st->st_uid == 0 && st->st_gid != 0 && in_group(st->st_gid);
}

int
open_file(const char *path, size_t max, int private_file, char *err,
    size_t errlen)
{
	struct stat	 st;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if (private_file && !private_mode(&st)) {
		snprintf(err, errlen, "%s: mode %04o gives group or others "
		    "access; chmod 600 it (group read is allowed only for a "
		    "file of root's in a group of ours)", path,
		    (unsigned)(st.st_mode & 07777));
		goto fail;
	}
	if ((size_t)st.st_size > max) {
		snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

char *
read_file(const char *path, size_t max, int private_file, size_t *lenp,
    char *err, size_t errlen)
{
	struct stat	 st;
	char		*buf = NULL;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open_file(path, max, private_file, err, errlen)) == -1)
		return NULL;
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	buf = xmalloc((size_t)st.st_size + 1);
	while (len < (size_t)st.st_size) {
		n = read(fd, buf + len, (size_t)st.st_size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fd);
	if (lenp != NULL)
		*lenp = len;
	return buf;
fail:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
	}
	close(fd);
	return NULL;
}

static uint64_t
clock_ms(clockid_t id)
{
	struct timespec	ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
monotonic_ms(void)
{
	return clock_ms(CLOCK_MONOTONIC);
}

uint64_t
monotonic_ms_coarse(void)
{
	return clock_ms(CLOCK_MONOTONIC_COARSE);
}

double
monotonic_sec(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void
ms_to_timeval(long long ms, struct timeval *tv)
{
	if (ms < 0)
		ms = 0;
	tv->tv_sec = (time_t)(ms / 1000);
	tv->tv_usec = (suseconds_t)((ms % 1000) * 1000);
}

void
ms_to_abstime(long long ms, struct timespec *ts)
{
	if (ms < 0)
		ms = 0;
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

void
backoff_init(struct backoff *b, long long min, long long max, int jitter)
{
	memset(b, 0, sizeof(*b));
	b->min = min > 0 ? min : 1;
	b->max = max > b->min ? max : b->min;
	b->jitter = jitter < 0 ? 0 : jitter > 100 ? 100 : jitter;
}

/*
 * The pause after one more failure: min, then doubled each time up to
 * max.  With jitter, up to that many percent is taken off at random, so
 * that workers failing together do not retry together; the result stays
 * in [min, max] either way.
 */
long long
backoff_next(struct backoff *b)
{
	long long	pause, cut = 0;
	uint32_t	r;

	pause = b->cur == 0 ? b->min : b->cur > b->max / 2 ? b->max :
	    b->cur * 2;
	b->cur = pause;
	b->failures++;
	if (b->jitter == 0)
		return pause;
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) == 1)
		cut = (long long)(r % 1000) * (pause * b->jitter / 100) / 1000;
	return pause - cut < b->min ? b->min : pause - cut;
}

void
backoff_reset(struct backoff *b)
{
	b->cur = 0;
	b->failures = 0;
}

#ifndef HAVE_STRLCPY
/* Copy with truncation; returns strlen(src) so callers can detect it. */
size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t	len = strlen(src);

	if (size > 0) {
		size_t n = len < size - 1 ? len : size - 1;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return len;
}
#endif

#ifndef HAVE_STRLCAT
size_t
strlcat(char *dst, const char *src, size_t size)
{
	size_t	dlen = strnlen(dst, size);

	if (dlen == size)
		return size + strlen(src);
	return dlen + strlcpy(dst + dlen, src, size - dlen);
}
#endif
