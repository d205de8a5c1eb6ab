/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the HTTP/1.1 request parser (src/http-parse.c): the
 * request line, header fields, the framing decision and chunked bodies,
 * with every byte that RFC 9112 forbids put where it is forbidden.  Each
 * head is copied into a buffer of its own exact size, so that a read past
 * its end shows under AddressSanitizer.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http-parse.h"
#include "tap.h"

#define MAX_BODY	65536

static struct http_request	req;
static const char		*why;
static char			*last;	/* the head req points into */

/* Parse len bytes of s as a head; the status (0: accepted). */
static int
head_n(const char *s, size_t len, size_t max_body)
{
	char	*buf;
	int	 code;

	buf = malloc(len + 1);
	memcpy(buf, s, len);
	code = http_parse_head(buf, len, max_body, &req, &why);
	free(last);
	last = buf;
	return code;
}

static int
head(const char *s)
{
	return head_n(s, strlen(s), MAX_BODY);
}

/* A head: request line, then the given field lines, then the empty line. */
static int
head_with(const char *line, const char *fields)
{
	char	buf[4096];

	snprintf(buf, sizeof(buf), "%s\r\n%s\r\n", line, fields);
	return head(buf);
}

static void
test_valid(void)
{
	is_int(head("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"), 0,
	    "a plain GET is accepted");
	is_str(req.method, "GET", "its method");
	is_str(req.path, "/healthz", "its path");
	ok(req.http11 && req.keepalive && !req.is_head,
	    "HTTP/1.1, keep-alive by default, not HEAD");
	is_int(req.framing, HTTP_FRAME_LENGTH, "no body: length framing");
	is_int(req.clen, 0, "no body: length 0");
	is_int(head("POST /tokenreview?timeout=30s HTTP/1.1\r\n"
	    "Host: x\r\nContent-Type:  application/json \t\r\n"
	    "Content-Length: 42\r\nAuthorization: Bearer a b\r\n\r\n"), 0,
	    "a review as kube-apiserver sends it is accepted");
	is_str(req.path, "/tokenreview", "case 6: the query is not in the path");
	is_int(req.clen, 42, "Content-Length 42");
	is_str(http_request_header(&req, "CONTENT-TYPE"), "application/json",
	    "field names match in any case; white space around values goes");
	is_str(http_request_header(&req, "authorization"), "Bearer a b",
	    "white space inside a value stays");
	ok(http_request_header(&req, "x-none") == NULL,
	    "an absent field is NULL");
	is_int(head("HEAD / HTTP/1.1\r\nX-Tab: a\tb\r\nX-Obs: \xc3\xa9\r\n"
	    "X-Empty:\r\n\r\n"), 0,
	    "HTAB, obs-text and an empty value are allowed in a field value");
	ok(req.is_head, "HEAD is seen as HEAD");
	is_str(http_request_header(&req, "x-empty"), "", "an empty value");
	is_int(head("get /#frag HTTP/1.1\r\n\r\n"), 0,
	    "a lower-case method is a token (the server answers 405)");
	is_str(req.path, "/", "a fragment is not in the path");
}

/* Every byte of a valid head replaced by NUL, one at a time: 400 each. */
static void
test_nul_anywhere(void)
{
	const char	*valid = "POST /tokenreview HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: Bearer sekrit\r\nContent-Length: 5\r\n\r\n";
	char		 buf[256];
	size_t		 len = strlen(valid), i, bad = 0;

	is_int(head(valid), 0, "the head used below is valid");
	for (i = 0; i < len; i++) {
		memcpy(buf, valid, len);
		buf[i] = '\0';
		if (head_n(buf, len, MAX_BODY) != 400) {
			diag("NUL at %zu: %d", i, head_n(buf, len, MAX_BODY));
			bad++;
		}
	}
	is_int(bad, 0, "issue case: a NUL at any of the %zu positions -> 400",
	    len);
	is_int(head_n("GET /healthz\0 HTTP/1.1\r\n\r\n", 27, MAX_BODY), 400,
	    "the NUL before the CRLF that crashed the daemon -> 400");
	is_str(why, "NUL byte in request", "and the reason says NUL");
}

/* Control bytes in each part of the request line and of a field. */
static void
test_control_bytes(void)
{
	static const char *const fmt[] = {
		"G%cT / HTTP/1.1\r\n\r\n",
		"GET /a%cb HTTP/1.1\r\n\r\n",
		"GET / HTTP/1%c1\r\n\r\n",
		"GET /%c HTTP/1.1\r\n\r\n",
		"GET / HTTP/1.1\r\nX-%c: v\r\n\r\n",
		"GET / HTTP/1.1\r\nX-A: a%cb\r\n\r\n",
		"GET / HTTP/1.1\r\nX-A: ab%c\r\n\r\n",
		"GET / HTTP/1.1\r\n%cX-A: ab\r\n\r\n",
	};
	char	buf[128];
	size_t	i, bad = 0, n = 0;
	int	ch, len;

	for (i = 0; i < sizeof(fmt) / sizeof(fmt[0]); i++) {
		for (ch = 0; ch <= 0x7f; ch++) {
			if (ch >= 0x20 && ch < 0x7f)
				continue;
			/* HTAB is white space inside a value. */
			if (ch == '\t' && (i == 5 || i == 6))
				continue;
			/* %c writes a NUL too, and len counts it. */
			len = snprintf(buf, sizeof(buf), fmt[i], ch);
			n++;
			if (head_n(buf, (size_t)len, MAX_BODY) != 400) {
				diag("control 0x%02x in form %zu accepted", ch,
				    i);
				bad++;
			}
		}
	}
	is_int(bad, 0, "every control byte and DEL in the request line, a "
	    "field name or a value -> 400 (%zu heads)", n);
	is_int(head("GET /\x80 HTTP/1.1\r\n\r\n"), 400,
	    "a byte above 0x7e in the target -> 400");
	is_int(head("GET / HTTP/1.1\r\nX-\xc3\xa9: v\r\n\r\n"), 400,
	    "a byte above 0x7e in a field name -> 400");
}

static void
test_cr_lf(void)
{
	is_int(head_with("GET / HTTP/1.1", "X-A: a\rb\r\n"), 400,
	    "issue 9 defect 6: a bare CR inside a field value -> 400");
	is_str(why, "bare CR in request", "and the reason says bare CR");
	is_int(head_with("GET / HTTP/1.1", "X-A: ab\r\r\n"), 400,
	    "a CR before the CRLF -> 400");
	is_int(head_with("GET /\r HTTP/1.1", ""), 400,
	    "a bare CR in the request line -> 400");
	is_int(head_with("GET / HTTP/1.1", "X-A\r: b\r\n"), 400,
	    "a bare CR in a field name -> 400");
	is_int(head("GET / HTTP/1.1\nHost: x\r\n\r\n"), 400,
	    "a request line ended by a bare LF -> 400");
	is_int(head("GET / HTTP/1.1\r\nHost: x\n\r\n"), 400,
	    "a field line ended by a bare LF -> 400");
	is_int(head("GET / HTTP/1.1\r\nX-A: a\nb\r\n\r\n"), 400,
	    "a bare LF inside a value -> 400");
	is_int(head("GET / HTTP/1.1\r\n"), 400,
	    "a head without its empty line -> 400");
	is_int(head("GET / HTTP/1.1\r\n\r\nX"), 400,
	    "bytes after the empty line -> 400");
	is_int(head("\r\n"), 400, "an empty request line -> 400");
}

static void
test_field_syntax(void)
{
	is_int(head_with("GET / HTTP/1.1", "X-A: a\r\n b\r\n"), 400,
	    "obs-fold (SP) -> 400");
	is_str(why, "obsolete line folding", "and the reason says so");
	is_int(head_with("GET / HTTP/1.1", "X-A: a\r\n\tb\r\n"), 400,
	    "obs-fold (HTAB) -> 400");
	is_int(head_with("GET / HTTP/1.1", "Host : x\r\n"), 400,
	    "white space before the colon -> 400");
	is_int(head_with("GET / HTTP/1.1", ": x\r\n"), 400,
	    "an empty field name -> 400");
	is_int(head_with("GET / HTTP/1.1", "X-A x\r\n"), 400,
	    "a field line without a colon -> 400");
	is_int(head_with("GET / HTTP/1.1", "X(A): x\r\n"), 400,
	    "a separator in a field name -> 400");
	is_int(head_with("GET / HTTP/1.1", "Host: a\r\nHost: a\r\n"), 400,
	    "a repeated Host -> 400");
}

static void
test_too_many_fields(void)
{
	char	fields[4096];
	size_t	i, n = 0;

	for (i = 0; i < HTTP_MAX_HEADERS; i++)
		n += (size_t)snprintf(fields + n, sizeof(fields) - n,
		    "X-%zu: v\r\n", i);
	is_int(head_with("GET / HTTP/1.1", fields), 0,
	    "%d fields are accepted", HTTP_MAX_HEADERS);
	snprintf(fields + n, sizeof(fields) - n, "X-last: v\r\n");
	is_int(head_with("GET / HTTP/1.1", fields), 431,
	    "one more field -> 431");
	is_str(why, "too many header fields", "and the reason says so");
}

static void
test_content_length(void)
{
	static const char *const bad[] = {
		"+5", "-1", "5a", "a5", "", "0x5", "5 5", "5,5", "5, 5",
		"1.0", "18446744073709551616", "99999999999999999999999999",
		"1125899906842625",
	};
	char	f[128];
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(f, sizeof(f), "Content-Length: %s\r\n", bad[i]);
		is_int(head_with("POST / HTTP/1.1", f), 400,
		    "Content-Length '%s' -> 400", bad[i]);
	}
	is_int(head_with("POST / HTTP/1.1", "Content-Length: 1125899906842624"
	    "\r\n"), 413, "case 13: Content-Length 2^50 -> 413");
	is_int(head_with("POST / HTTP/1.1", "Content-Length: 65537\r\n"), 413,
	    "case 13: Content-Length max_body + 1 -> 413");
	is_int(head_with("POST / HTTP/1.1", "Content-Length: 65536\r\n"), 0,
	    "Content-Length max_body is accepted");
	is_int(req.clen, 65536, "and read as such");
	is_int(head_with("POST / HTTP/1.1", "Content-Length: 007\r\n"), 0,
	    "leading zeros are allowed");
	is_int(req.clen, 7, "and read as decimal");
	is_int(head_with("POST / HTTP/1.1", "Content-Length: 5\r\n"
	    "Content-Length: 6\r\n"), 400,
	    "issue 9 defect 6: two different Content-Lengths -> 400");
	is_str(why, "repeated Content-Length", "and the reason says so");
	is_int(head_with("POST / HTTP/1.1", "Content-Length: 5\r\n"
	    "content-length: 5\r\n"), 400,
	    "two equal Content-Lengths are refused too (documented)");
}

static void
test_transfer_encoding(void)
{
	is_int(head_with("POST / HTTP/1.1", "Transfer-Encoding: chunked\r\n"),
	    0, "Transfer-Encoding: chunked is accepted");
	is_int(req.framing, HTTP_FRAME_CHUNKED, "and framed as chunked");
	is_int(head_with("POST / HTTP/1.1", "Transfer-Encoding: CHUNKED\r\n"),
	    0, "the coding's name in any case");
	is_int(head_with("POST / HTTP/1.1", "Transfer-Encoding: chunked\r\n"
	    "Content-Length: 5\r\n"), 400,
	    "issue 14: Content-Length with Transfer-Encoding -> 400");
	is_int(head_with("POST / HTTP/1.1", "Content-Length: 5\r\n"
	    "Transfer-Encoding: gzip\r\n"), 400,
	    "Content-Length with any Transfer-Encoding -> 400");
	is_int(head_with("POST / HTTP/1.1", "Transfer-Encoding: gzip\r\n"),
	    501, "issue 14: Transfer-Encoding gzip -> 501");
	is_int(head_with("POST / HTTP/1.1", "Transfer-Encoding: gzip, "
	    "chunked\r\n"), 501, "gzip, chunked -> 501");
	is_int(head_with("POST / HTTP/1.1", "Transfer-Encoding: chunked\r\n"
	    "Transfer-Encoding: chunked\r\n"), 501,
	    "two Transfer-Encoding fields -> 501");
	is_int(head_with("POST / HTTP/1.1", "Transfer-Encoding: chunked, "
	    "identity\r\n"), 501, "chunked, identity -> 501");
	is_int(head_with("POST / HTTP/1.0", "Transfer-Encoding: chunked\r\n"),
	    400, "Transfer-Encoding in HTTP/1.0 -> 400");
}

static void
test_keepalive(void)
{
	is_int(head("GET / HTTP/1.0\r\n\r\n"), 0, "HTTP/1.0 is accepted");
	ok(!req.http11 && !req.keepalive, "HTTP/1.0 closes by default");
	head_with("GET / HTTP/1.0", "Connection: keep-alive\r\n");
	ok(req.keepalive, "HTTP/1.0 with Connection: keep-alive stays open");
	head_with("GET / HTTP/1.0", "Connection: TE, Keep-Alive\r\n");
	ok(req.keepalive, "keep-alive in a list, in any case");
	head_with("GET / HTTP/1.0", "Connection: keep-alive-x\r\n");
	ok(!req.keepalive, "a longer token is not keep-alive");
	head_with("GET / HTTP/1.0", "Connection: keep-alive, close\r\n");
	ok(!req.keepalive, "close wins over keep-alive");
	head_with("GET / HTTP/1.1", "Connection: close\r\n");
	ok(!req.keepalive, "HTTP/1.1 with Connection: close closes");
	head_with("GET / HTTP/1.1", "Connection: foo\r\nConnection: close\r\n");
	ok(!req.keepalive, "close in a second Connection field counts");
	head_with("GET / HTTP/1.1", "Connection: closed\r\n");
	ok(req.keepalive, "'closed' is not close");
}

static void
test_request_line(void)
{
	static const char *const bad[] = {
		" / HTTP/1.1", "GET  / HTTP/1.1", "GET /  HTTP/1.1",
		"GET / HTTP/1.1 ", "GET /", "GET / ", "GET", "GET * HTTP/1.1",
		"GET http://x/ HTTP/1.1", "GET x HTTP/1.1", "GET / http/1.1",
		"GET / HTTP/1.1x", "GET / HTTP/11", "GE(T / HTTP/1.1",
		"GET\t/ HTTP/1.1", "GET / HTTP/1.1\t", "GET / HTTP/1.",
	};
	size_t	i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(head_with(bad[i], ""), 400, "request line '%s' -> 400",
		    bad[i]);
	is_int(head_with("GET / HTTP/2.0", ""), 505, "HTTP/2.0 -> 505");
	is_int(head_with("GET / HTTP/0.9", ""), 505, "HTTP/0.9 -> 505");
	is_int(head_with("OPTIONS /a/b;c=d?x=%20&y HTTP/1.1", ""), 0,
	    "a target with a query and parameters");
	is_str(req.path, "/a/b;c=d", "the path ends at '?'");
	is_str(req.method, "OPTIONS", "any token is a method");
}

static void
test_head_length(void)
{
	const char	*h = "GET / HTTP/1.1\r\n\r\nGET";
	size_t		 n = 0;

	is_int(http_head_length(h, strlen(h), 100, &n), 0,
	    "a head's end is found");
	is_int(n, 18, "its length includes the empty line");
	is_int(http_head_length(h, 17, 100, &n), HTTP_HEAD_MORE,
	    "a head not yet ended: wait");
	is_int(http_head_length(h, 18, 18, &n), 0,
	    "a head of exactly max_header bytes is accepted");
	is_int(http_head_length(h, 18, 17, &n), 431,
	    "over-long head: one byte more than max_header -> 431");
	is_int(http_head_length("GET / HTTP/1.1\r\nX: aaaa", 23, 20, &n), 431,
	    "over-long head: no end within max_header -> 431 at once");
	is_int(http_head_length("GET / HTTP/1.1\r\nX: a", 20, 20, &n), 431,
	    "over-long head: max_header bytes without an end -> 431");
	is_int(http_head_length("\r\n\r", 3, 100, &n), HTTP_HEAD_MORE,
	    "three bytes: wait");
}

static void
test_chunk_size(void)
{
	static const char *const bad[] = {
		"", "g", "0x5", "+5", "-1", " 5", "5;", "5;=x", "5;a=",
		"5;a=\"x", "5;a=\"x\\", "5;a b", "5 x", "5;a=b c", "5;a=\"\x01\"",
		"5;a\x01", "5;a=\x7f",
	};
	const char	*ext = "5 ; a = b ;c=\"q\\\"x\";d";
	size_t		 i, size = 0;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		is_int(http_parse_chunk_size(bad[i], strlen(bad[i]), 100,
		    &size), 400, "chunk size line '%s' -> 400", bad[i]);
	is_int(http_parse_chunk_size("5\0", 2, 100, &size), 400,
	    "a NUL after the size -> 400");
	is_int(http_parse_chunk_size("5\r", 2, 100, &size), 400,
	    "a bare CR after the size -> 400");
	is_int(http_parse_chunk_size("1A", 2, 100, &size), 0, "hex size");
	is_int(size, 26, "read as hex");
	is_int(http_parse_chunk_size(ext, strlen(ext), 100, &size), 0, "extensions with BWS, a quoted value and no value");
	is_int(size, 5, "and the size before them");
	is_int(http_parse_chunk_size("0000000000000000000000001", 25, 100,
	    &size), 0, "many leading zeros");
	is_int(http_parse_chunk_size("65", 2, 100, &size), 413,
	    "a size above the limit -> 413");
	is_int(http_parse_chunk_size("ffffffffffffffffffffffff", 24, 100,
	    &size), 413, "a size that overflows -> 413");
}

/*
 * Run a chunked body through the decoder, step bytes arriving at a time
 * (0: all at once).  Returns HTTP_CHUNK_DONE, HTTP_CHUNK_MORE when the
 * body never ended, or the refusal; the body is left in out.
 */
static int
chunked(const char *s, size_t len, size_t step, size_t max_body,
    char *out, size_t outsize)
{
	struct http_chunked	 ck;
	const char		*w;
	size_t			 pos = 0, fed, n, npeek, got = 0;
	int			 r;

	http_chunked_init(&ck, max_body, 64);
	fed = step == 0 ? len : (step < len ? step : len);
	for (;;) {
		npeek = fed - pos < HTTP_CHUNK_PEEK ? fed - pos :
		    HTTP_CHUNK_PEEK;
		r = http_chunked_step(&ck, s + pos, npeek, fed - pos, &n, &w);
		switch (r) {
		case HTTP_CHUNK_MORE:
			if (fed == len) {
				out[got] = '\0';
				return r;
			}
			fed = fed + step < len ? fed + step : len;
			break;
		case HTTP_CHUNK_DATA:
			if (got + n < outsize) {
				memcpy(out + got, s + pos, n);
				got += n;
			}
			pos += n;
			break;
		case HTTP_CHUNK_SKIP:
			pos += n;
			break;
		case HTTP_CHUNK_DONE:
			out[got] = '\0';
			return pos + n == len ? r : -1;
		default:
			why = w;
			out[got] = '\0';
			return r;
		}
	}
}

/* The same body all at once and one byte at a time: the same answer. */
static void
chunk_case(const char *s, int want, const char *body, const char *desc)
{
	char	out1[2048], out2[2048];
	int	r1, r2;

	r1 = chunked(s, strlen(s), 0, 100, out1, sizeof(out1));
	r2 = chunked(s, strlen(s), 1, 100, out2, sizeof(out2));
	if (!is_int(r1, want, "%s", desc))
		diag("reason: %s", why);
	is_int(r2, want, "%s (byte by byte)", desc);
	if (body != NULL)
		ok(strcmp(out1, body) == 0 && strcmp(out2, body) == 0,
		    "%s: the body is '%s'", desc, body);
}

static void
test_chunked(void)
{
	char	big[1200];

	chunk_case("5\r\nhello\r\n0\r\n\r\n", HTTP_CHUNK_DONE, "hello",
	    "one chunk");
	chunk_case("2\r\nhe\r\n3;x=y\r\nllo\r\n0\r\nX-T: v\r\n\r\n",
	    HTTP_CHUNK_DONE, "hello", "two chunks, an extension, a trailer");
	chunk_case("5\r\nhelloX\r\n0\r\n\r\n", 400, NULL,
	    "missing CRLF after the chunk data -> 400");
	is_str(why, "chunk data not followed by CRLF", "and the reason says so");
	chunk_case("5\r\nhello\n0\r\n\r\n", 400, NULL,
	    "a bare LF after the chunk data -> 400");
	chunk_case("5\r\nhello\r0\r\n\r\n", 400, NULL,
	    "a bare CR after the chunk data -> 400");
	chunk_case("5\nhello\r\n0\r\n\r\n", 400, NULL,
	    "a size line ended by a bare LF -> 400");
	is_str(why, "chunk line not ended by CRLF", "and the reason says so");
	chunk_case("5\r\nhello\r\n0\r\nX: v\n\r\n", 400, NULL,
	    "a trailer line ended by a bare LF -> 400");
	chunk_case("5\r\r\nhello\r\n0\r\n\r\n", 400, NULL,
	    "a bare CR in a size line -> 400");
	chunk_case("z\r\n", 400, NULL, "a size that is no hex -> 400");
	chunk_case("0x5\r\nhello\r\n0\r\n\r\n", 400, NULL,
	    "a 0x prefix -> 400");
	chunk_case("5;\x01\r\nhello\r\n0\r\n\r\n", 400, NULL,
	    "a control byte in an extension -> 400");
	chunk_case("65\r\n", 413, NULL, "a chunk above max_body -> 413");
	chunk_case("40\r\n0000000000000000000000000000000000000000000000000000"
	    "000000000000\r\n40\r\n", 413, NULL,
	    "chunks that add up above max_body -> 413");
	chunk_case("5\r\nhello\r\n0\r\n X: v\r\n\r\n", 400, NULL,
	    "an obs-fold trailer -> 400");
	chunk_case("5\r\nhello\r\n0\r\nX v\r\n\r\n", 400, NULL,
	    "a trailer without a colon -> 400");
	chunk_case("5\r\nhello\r\n0\r\nX-Big: 0123456789012345678901234567890"
	    "12345678901234567890123456789\r\n\r\n", 431, NULL,
	    "trailers above their limit -> 431");
	chunk_case("5\r\nhel", HTTP_CHUNK_MORE, NULL,
	    "a body cut short waits for more");
	memset(big, 'a', sizeof(big));
	memcpy(big, "1;a=", 4);
	memcpy(big + sizeof(big) - 3, "\r\n", 3);
	chunk_case(big, 400, NULL, "a chunk line over HTTP_MAX_CHUNK_LINE "
	    "-> 400");
	big[HTTP_MAX_CHUNK_LINE] = '\r';
	big[HTTP_MAX_CHUNK_LINE + 1] = '\n';
	big[HTTP_MAX_CHUNK_LINE + 2] = '\0';
	chunk_case(big, HTTP_CHUNK_MORE, NULL,
	    "a chunk line of exactly HTTP_MAX_CHUNK_LINE is read");
	is_int(chunked("5\r\nhello\r\n0\r\n\r\nX", 16, 0, 100, big,
	    sizeof(big)), -1, "the body ends right after its last CRLF");
}

/*
 * RFC 9110 5.6.2: each printable byte in a field name, accepted exactly
 * when it is a token character; and lookups among names of one length.
 */
static void
test_name_chars(void)
{
	static const char	tchars[] = "!#$%&'*+-.^_`|~";
	char			buf[64];
	size_t			bad = 0;
	int			ch, want;

	for (ch = 0x21; ch < 0x7f; ch++) {
		if (ch == ':')
			continue;	/* "X:Y: v" is the field X */
		want = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || strchr(tchars, ch) != NULL ?
		    0 : 400;
		snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nX%cY: v\r\n\r\n",
		    ch);
		if (head(buf) != want) {
			diag("name byte 0x%02x: %d, not %d", ch, head(buf), want);
			bad++;
		}
	}
	is_int(bad, 0, "a field name byte is accepted exactly when it is a "
	    "token character (93 printable bytes)");
	is_int(head("GET / HTTP/1.1\r\nAccept: a\r\nExpect: e\r\n"
	    "X-One: 1\r\nX-Two: 2\r\n\r\n"), 0, "four fields, two "
	    "pairs of one length");
	ok(strcmp(http_request_header(&req, "expect"), "e") == 0 &&
	    strcmp(http_request_header(&req, "ACCEPT"), "a") == 0 &&
	    strcmp(http_request_header(&req, "x-two"), "2") == 0 &&
	    http_request_header(&req, "x-on") == NULL &&
	    http_request_header(&req, "x-one1") == NULL,
	    "each is found by its own name in any case, none by a prefix or "
	    "a longer name");
}

int
main(void)
{
	test_valid();
	test_nul_anywhere();
	test_control_bytes();
	test_cr_lf();
	test_field_syntax();
	test_name_chars();
	test_too_many_fields();
	test_content_length();
	test_transfer_encoding();
	test_keepalive();
	test_request_line();
	test_head_length();
	test_chunk_size();
	test_chunked();
	return done_testing();
}
