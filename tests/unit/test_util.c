/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of src/util.c: the duration, size and number parsers the
 * config relies on, word splitting, hashing and fingerprints, constant-time
 * comparison, and read_file()'s refusal of secret files others can read.
 */

#include <sys/stat.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenreviewd.h"
#include "tap.h"

static const struct {
	const char	*in;
	int		 ok;
	long long	 ms;
} durations[] = {
	{ "250ms", 1, 250 },
	{ "10s", 1, 10000 },
	{ "5m", 1, 300000 },
	{ "1h", 1, 3600000 },
	{ "30", 1, 30000 },		/* bare number: seconds */
	{ "0", 1, 0 },
	{ "0ms", 1, 0 },
	{ "007s", 1, 7000 },
	{ "9223372036854775807ms", 1, LLONG_MAX },
	{ "3x", 0, 0 },
	{ "", 0, 0 },
	{ "-1", 0, 0 },
	{ "-1s", 0, 0 },
	{ "+1s", 0, 0 },
	{ "s", 0, 0 },
	{ "ms", 0, 0 },
	{ " 5s", 0, 0 },
	{ "5s ", 0, 0 },
	{ "5 s", 0, 0 },
	{ "1.5s", 0, 0 },
	{ "5sec", 0, 0 },
	{ "1h30m", 0, 0 },
	{ "99999999999999999999", 0, 0 },	/* beyond long long */
	{ "9223372036854775807", 0, 0 },	/* seconds * 1000 overflows */
	{ "3000000000000000h", 0, 0 },
	{ "9223372036854775808ms", 0, 0 },
};

static const struct {
	const char	*in;
	int		 ok;
	size_t		 size;
} sizes[] = {
	{ "64k", 1, 65536 },
	{ "64K", 1, 65536 },
	{ "1m", 1, 1048576 },
	{ "1M", 1, 1048576 },
	{ "100", 1, 100 },
	{ "0", 1, 0 },
	{ "65536", 1, 65536 },
	{ "", 0, 0 },
	{ "k", 0, 0 },
	{ "1g", 0, 0 },
	{ "1kb", 0, 0 },
	{ "-1", 0, 0 },
	{ "1.5k", 0, 0 },
	{ "64 k", 0, 0 },
	{ "9007199254740993m", 0, 0 },	/* overflows when scaled */
};

static const struct {
	const char	*in;
	long long	 min, max;
	int		 ok;
	long long	 v;
} numbers[] = {
	{ "42", 0, 100, 1, 42 },
	{ "0", 0, 100, 1, 0 },
	{ "100", 0, 100, 1, 100 },
	{ "101", 0, 100, 0, 0 },
	{ "4", 5, 100, 0, 0 },
	{ "-1", 0, 100, 0, 0 },
	{ "+4", 0, 100, 0, 0 },
	{ " 4", 0, 100, 0, 0 },
	{ "4 ", 0, 100, 0, 0 },
	{ "4x", 0, 100, 0, 0 },
	{ "", 0, 100, 0, 0 },
	{ "0x10", 0, 100, 0, 0 },
	{ "9223372036854775807", 0, LLONG_MAX, 1, LLONG_MAX },
	{ "9223372036854775808", 0, LLONG_MAX, 0, 0 },
	{ NULL, 0, 100, 0, 0 },
};

static void
test_parsers(void)
{
	long long	v;
	size_t		s, i;
	int		r;

	for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		v = -7;
		r = parse_duration(durations[i].in, &v);
		if (durations[i].ok)
			ok(r == 0 && v == durations[i].ms,
			    "parse_duration \"%s\" = %lld", durations[i].in,
			    durations[i].ms);
		else
			ok(r == -1 && v == -7, "parse_duration \"%s\" refused",
			    durations[i].in);
	}
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		s = 7;
		r = parse_size(sizes[i].in, &s);
		if (sizes[i].ok)
			ok(r == 0 && s == sizes[i].size, "parse_size \"%s\" = "
			    "%zu", sizes[i].in, sizes[i].size);
		else
			ok(r == -1 && s == 7, "parse_size \"%s\" refused",
			    sizes[i].in);
	}
	for (i = 0; i < sizeof(numbers) / sizeof(numbers[0]); i++) {
		v = -7;
		r = parse_number(numbers[i].in, numbers[i].min, numbers[i].max,
		    &v);
		if (numbers[i].ok)
			ok(r == 0 && v == numbers[i].v, "parse_number \"%s\" "
			    "in [%lld, %lld]", numbers[i].in, numbers[i].min,
			    numbers[i].max);
		else
			ok(r == -1 && v == -7, "parse_number \"%s\" in [%lld, "
			    "%lld] refused", numbers[i].in ? numbers[i].in :
			    "(null)", numbers[i].min, numbers[i].max);
	}
}

static void
test_split(void)
{
	char	**w;
	size_t	  n = 99;

	w = split_words("a b\tc", &n);
	ok(n == 3 && strcmp(w[0], "a") == 0 && strcmp(w[1], "b") == 0 &&
	    strcmp(w[2], "c") == 0 && w[3] == NULL, "split_words: three words");
	free_words(w);

	w = split_words("  127.0.0.1:8443 \t [::1]:8443\t ", &n);
	ok(n == 2 && strcmp(w[0], "127.0.0.1:8443") == 0 &&
	    strcmp(w[1], "[::1]:8443") == 0 && w[2] == NULL,
	    "split_words: leading, trailing and mixed blanks");
	free_words(w);

	w = split_words("", &n);
	ok(w != NULL && n == 0 && w[0] == NULL, "split_words: empty string");
	free_words(w);

	w = split_words(" \t \t", &n);
	ok(w != NULL && n == 0 && w[0] == NULL, "split_words: only blanks");
	free_words(w);

	w = split_words("one", NULL);
	ok(strcmp(w[0], "one") == 0 && w[1] == NULL,
	    "split_words: one word, no count wanted");
	free_words(w);
	/* A crash here ends the program before its plan: a failure. */
	free_words(NULL);
}

static void
test_hashes(void)
{
	uint8_t	md[TR_SHA256_LEN];
	char	hex[2 * TR_SHA256_LEN + 1], fp[TR_FINGERPRINT_LEN + 1];

	sha256("abc", 3, md);
	hex_encode(md, sizeof(md), hex);
	is_str(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad", "sha256 \"abc\"");
	fingerprint("abc", 3, fp);
	ok(strcmp(fp, "ba7816bf8f01") != 0, "fingerprint \"abc\" is not a "
	    "prefix of its SHA-256");
	is_int(strlen(fp), TR_FINGERPRINT_LEN, "fingerprint length");

	ok(ct_equal("abcdef", "abcdef", 6), "ct_equal: same");
	ok(!ct_equal("abcdef", "xbcdef", 6), "ct_equal: first byte differs");
	ok(!ct_equal("abcdef", "abcdex", 6), "ct_equal: last byte differs");
	ok(ct_equal("a", "b", 0), "ct_equal: zero length");
}

/* HMAC-SHA-256 vectors of RFC 4231 (cases 1, 2, 6), first 48 bits. */
static void
test_fingerprint_hmac(void)
{
	char	key1[20], key6[131], fp[TR_FINGERPRINT_LEN + 1];
	char	random1[TR_FINGERPRINT_LEN + 1];
	const char *data6 = "Test Using Larger Than Block-Size Key - Hash Key "
	    "First";

	memset(key1, 0x0b, sizeof(key1));
	memset(key6, 0xaa, sizeof(key6));
	fingerprint("abc", 3, random1);
	ok(fingerprint_set_key(key1, sizeof(key1)) == 1,
	    "fingerprint key: a new key changes it");
	ok(fingerprint_set_key(key1, sizeof(key1)) == 0,
	    "fingerprint key: the same key again changes nothing");
	fingerprint("Hi There", 8, fp);
	is_str(fp, "b0344c61d8db", "fingerprint: RFC 4231 case 1");
	fingerprint_set_key("Jefe", 4);
	fingerprint("what do ya want for nothing?", 28, fp);
	is_str(fp, "5bdcc146bf60", "fingerprint: RFC 4231 case 2");
	fingerprint_set_key(key6, sizeof(key6));
	fingerprint(data6, strlen(data6), fp);
	is_str(fp, "60e431591ee0", "fingerprint: RFC 4231 case 6 (key "
	    "longer than a block)");
	ok(fingerprint_set_key(NULL, 0) == 1,
	    "fingerprint key: back to the random one");
	fingerprint("abc", 3, fp);
	is_str(fp, random1, "fingerprint: the random key stays the same");
	ok(fingerprint_set_key(NULL, 0) == 0,
	    "fingerprint key: the random one again changes nothing");
}

/* Bootstrap-shaped tokens show their public id, never the secret. */
static void
test_fingerprint_bootstrap(void)
{
	static const struct {
		const char	*token;
		const char	*fp;		/* NULL: a keyed hash */
	} t[] = {
		{ "abcdef.0123456789abcdef", "id:abcdef" },
		{ "07x9zq.zzzzzzzzzzzzzzzz", "id:07x9zq" },
		{ "ABCDEF.0123456789abcdef", NULL },
		{ "abcdef.0123456789abcdeF", NULL },
		{ "abcdef.0123456789abcde", NULL },
		{ "abcdef.0123456789abcdef0", NULL },
		{ "abcdef_0123456789abcdef", NULL },
		{ "abcde.0123456789abcdefg", NULL },
	};
	char	fp[TR_FINGERPRINT_LEN + 1], hex[TR_FINGERPRINT_LEN + 1];
	size_t	i, j;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		fingerprint(t[i].token, strlen(t[i].token), fp);
		if (t[i].fp != NULL) {
			is_str(fp, t[i].fp, "fingerprint of %s", t[i].token);
			continue;
		}
		for (j = 0; fp[j] != '\0' && strchr("0123456789abcdef",
		    fp[j]) != NULL; j++)
			;
		ok(j == TR_FINGERPRINT_LEN && fp[j] == '\0',
		    "fingerprint of %s is a keyed hash (%s)", t[i].token, fp);
	}
	/* The hash covers the whole token, not only its id. */
	fingerprint("abcdef.0123456789abcdeF", 23, fp);
	fingerprint("abcdef.0123456789abcdeG", 23, hex);
	ok(strcmp(fp, hex) != 0, "fingerprints of tokens differing in "
	    "their last byte differ");
}

/* Write data to dir/name with the given mode; returns the path. */
static char *
make_file(const char *dir, const char *name, const char *data, size_t len,
    mode_t mode)
{
	char	*path;
	FILE	*f;

	xasprintf(&path, "%s/%s", dir, name);
	if ((f = fopen(path, "w")) == NULL)
		fatal("fopen %s", path);
	if (len > 0 && fwrite(data, 1, len, f) != len)
		fatal("fwrite %s", path);
	fclose(f);
	if (chmod(path, mode) != 0)
		fatal("chmod %s", path);
	return path;
}

static void
test_read_file_modes(const char *dir)
{
	char	 err[TR_ERRLEN], *path, *buf;
	size_t	 len = 99;

	path = make_file(dir, "private", "secret\n", 7, 0600);
	buf = read_file(path, 1024, 1, &len, err, sizeof(err));
	ok(buf != NULL && len == 7 && strcmp(buf, "secret\n") == 0,
	    "read_file: mode 600 private file is read");
	free(buf);
	buf = read_file(path, 7, 1, &len, err, sizeof(err));
	ok(buf != NULL && len == 7, "read_file: size equal to the cap is read");
	free(buf);
	err[0] = '\0';
	buf = read_file(path, 6, 1, &len, err, sizeof(err));
	ok(buf == NULL && strstr(err, "larger than 6") != NULL,
	    "read_file: size cap (%s)", err);
	free(path);

	path = make_file(dir, "public", "secret\n", 7, 0644);
	err[0] = '\0';
	buf = read_file(path, 1024, 1, &len, err, sizeof(err));
	ok(buf == NULL && strstr(err, "chmod") != NULL &&
	    strstr(err, path) != NULL, "read_file: mode 644 refused (%s)", err);
	buf = read_file(path, 1024, 0, &len, err, sizeof(err));
	ok(buf != NULL && len == 7,
	    "read_file: mode 644 is fine when not private");
	free(buf);
	free(path);

	path = make_file(dir, "group", "x", 1, 0640);
	err[0] = '\0';
	buf = read_file(path, 1024, 1, &len, err, sizeof(err));
	ok(buf == NULL && strstr(err, "chmod") != NULL,
	    "read_file: mode 640 refused for a private file");
	free(path);
}

static void
test_read_file_other(const char *dir)
{
	char	 err[TR_ERRLEN], *path, *buf;
	size_t	 len = 99;

	path = make_file(dir, "empty", "", 0, 0600);
	buf = read_file(path, 1024, 1, &len, err, sizeof(err));
	ok(buf != NULL && len == 0 && buf[0] == '\0',
	    "read_file: empty file");
	free(buf);
	free(path);

	path = make_file(dir, "nul", "a\0b", 3, 0600);
	buf = read_file(path, 1024, 1, &len, err, sizeof(err));
	ok(buf != NULL && len == 3 && memcmp(buf, "a\0b", 4) == 0,
	    "read_file: length covers NUL bytes");
	free(buf);
	free(path);

	xasprintf(&path, "%s/missing", dir);
	err[0] = '\0';
	buf = read_file(path, 1024, 1, &len, err, sizeof(err));
	ok(buf == NULL && strstr(err, path) != NULL &&
	    strstr(err, "No such file") != NULL,
	    "read_file: missing file (%s)", err);
	free(path);

	err[0] = '\0';
	buf = read_file(dir, 1024, 0, &len, err, sizeof(err));
	ok(buf == NULL && strstr(err, "not a regular file") != NULL,
	    "read_file: directory refused (%s)", err);
}

static void
test_misc(void)
{
	uint64_t	 a, b;
	char		*s;

	a = monotonic_ms();
	b = monotonic_ms();
	ok(b >= a && monotonic_sec() > 0, "monotonic clock goes forward");
	is_int(xasprintf(&s, "%s-%d", "x", 42), 4, "xasprintf length");
	is_str(s, "x-42", "xasprintf text");
	free(s);
	s = xstrndup("abcdef", 3);
	is_str(s, "abc", "xstrndup");
	free(s);
}

/* Every byte's digit, both alphabets, against the alphabets themselves. */
static void
test_base64_digits(void)
{
	static const char	 std[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	static const char	 url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789-_";
	const char		*p;
	int			 c, bad_std = 0, bad_url = 0, want;

	for (c = 0; c < 256; c++) {
		p = c != 0 ? strchr(std, c) : NULL;
		want = p != NULL ? (int)(p - std) : -1;
		bad_std += base64_digit(c, 0) != want;
		p = c != 0 ? strchr(url, c) : NULL;
		want = p != NULL ? (int)(p - url) : -1;
		bad_url += base64_digit(c, 1) != want;
	}
	is_int(bad_std, 0, "every byte's base64 digit is its place in the "
	    "alphabet, or -1");
	is_int(bad_url, 0, "every byte's base64url digit is its place in the "
	    "alphabet, or -1");
}

/*
 * base64_decode_to() against base64url_encode() for every length up to
 * 64 (whole groups of four and both tails), and a non-digit at every
 * place of the text.
 */
static void
test_base64_lengths(void)
{
	unsigned char	 in[64], out[64];
	char		*text;
	size_t		 n, i, tl;
	int		 round = 0, refused = 0, cases = 0;
	ssize_t		 len;

	for (n = 0; n <= sizeof(in); n++) {
		for (i = 0; i < n; i++)
			in[i] = (unsigned char)(n * 37 + i * 101 + 7);
		text = base64url_encode(in, n);
		tl = strlen(text);
		len = base64_decode_to(text, tl, 1, out);
		round += len == (ssize_t)n && memcmp(in, out, n) == 0;
		for (i = 0; i < tl; i++) {
			char	c = text[i];

			text[i] = i % 2 ? '=' : '+';
			refused += base64_decode_to(text, tl, 1, out) == -1;
			cases++;
			text[i] = c;
		}
		free(text);
	}
	is_int(round, 65, "lengths 0 to 64 decode back to their bytes");
	is_int(refused, cases, "a non-digit at any place is refused (%d "
	    "places)", cases);
	ok(base64_decode_to("QUJD", 4, 0, out) == 3 &&
	    memcmp(out, "ABC", 3) == 0 && base64_decode_to("QUJDRA", 6, 0,
	    out) == 4 && base64_decode_to("QUJDREU", 7, 0, out) == 5 &&
	    memcmp(out, "ABCDE", 5) == 0 && base64_decode_to("QUJDR", 5, 0,
	    out) == -1, "ABC, ABCD, ABCDE; and a length of 4k+1 refused");
}

static void
test_strcat2(void)
{
	char	*s = xstrcat2("oidc:", "dev");

	is_str(s, "oidc:dev", "xstrcat2 joins its two strings");
	free(s);
	s = xstrcat2("", "");
	is_str(s, "", "xstrcat2 of two empty strings is empty");
	free(s);
}

static void
test_base64(void)
{
	unsigned char	*out;
	size_t		 n;

	out = base64_decode("YWxpY2U6cHc", 11, 0, &n);
	ok(out != NULL && n == 8 && memcmp(out, "alice:pw", 9) == 0,
	    "base64 without padding decodes");
	free(out);
	out = base64_decode("-_8", 3, 1, &n);
	ok(out != NULL && n == 2 && out[0] == 0xfb && out[1] == 0xff,
	    "base64url: - and _ are 62 and 63");
	free(out);
	ok(base64_decode("-_8", 3, 0, &n) == NULL,
	    "- is not standard base64");
	ok(base64_decode("+/8", 3, 1, &n) == NULL, "+ is not base64url");
	ok(base64_decode("YWxpY", 5, 0, &n) == NULL,
	    "a length of 4k+1 is no encoding");
	out = base64_decode("", 0, 0, &n);
	ok(out != NULL && n == 0 && out[0] == '\0', "empty input, empty output");
	free(out);
	test_base64_digits();
	test_base64_lengths();
	test_strcat2();
}

static void
test_fnv(void)
{
	/* The published FNV-1a 64-bit values. */
	ok(fnv1a64("") == 0xcbf29ce484222325ULL, "FNV-1a of the empty string");
	ok(fnv1a64("a") == 0xaf63dc4c8601ec8cULL, "FNV-1a of \"a\"");
	ok(fnv1a64("foobar") == 0x85944171f73967e8ULL,
	    "FNV-1a of \"foobar\"");
}

int
main(void)
{
	char	 dir[] = "/tmp/test_util.XXXXXX";
	char	*cmd;

	log_init(LL_ERROR);
	test_parsers();
	test_split();
	test_hashes();
	test_fingerprint_hmac();
	test_fingerprint_bootstrap();
	test_misc();
	test_base64();
	test_fnv();
	if (mkdtemp(dir) == NULL)
		fatal("mkdtemp");
	test_read_file_modes(dir);
	test_read_file_other(dir);
	xasprintf(&cmd, "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	free(cmd);
	return done_testing();
}
