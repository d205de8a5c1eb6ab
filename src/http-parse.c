/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * HTTP/1.1 request syntax (RFC 9112), strictly: the request line, the
 * header fields, how the body is framed, and the lines of a chunked body.
 *
 * Every scan is bounded by a length, never by a NUL: a client chooses the
 * bytes, and a NUL before the CRLF must be an error, not the end of a
 * string.  Whatever RFC 9112 lets a server refuse is refused rather than
 * repaired, because a request that two parsers read differently is how
 * requests are smuggled past a proxy: NUL and other control bytes, a bare
 * CR or a bare LF, obs-fold, white space before a colon, a repeated
 * Content-Length (even with the same value), Content-Length together with
 * Transfer-Encoding, a transfer coding other than "chunked" (501), and a
 * repeated Host.  A missing Host is let through: nothing here depends on
 * it, and simple health probes leave it out.
 */

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "http-parse.h"

#define IS_DIGIT(ch)	((ch) >= '0' && (ch) <= '9')
#define IS_WS(ch)	((ch) == ' ' || (ch) == '\t')

/* RFC 9110 5.6.2: the characters of a token. */
static int
is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    IS_DIGIT(ch))
		return 1;
	switch (ch) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '.': case '^': case '_':
	case '`': case '|': case '~':
		return 1;
	default:
		return 0;
	}
}

/* RFC 9110 5.5: field-vchar, SP and HTAB; no control byte, no DEL. */
static int
is_field_char(unsigned char ch)
{
	return ch == '\t' || (ch >= 0x20 && ch != 0x7f);
}

static int
hex_value(unsigned char ch)
{
	if (IS_DIGIT(ch))
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/*
 * "name: value" in the len bytes at p: the name's length and the value's
 * bounds without its leading and trailing white space.  -1 if it is no
 * valid field line (obs-fold, space before the colon, a control byte).
 */
static int
field_split(const char *p, size_t len, size_t *nlen, size_t *vs, size_t *ve)
{
	size_t	i, s, e;

	for (i = 0; i < len && is_tchar((unsigned char)p[i]); i++)
		;
	if (i == 0 || i == len || p[i] != ':')
		return -1;
	*nlen = i;
	for (s = i + 1; s < len && IS_WS(p[s]); s++)
		;
	for (e = len; e > s && IS_WS(p[e - 1]); e--)
		;
	for (i = s; i < e; i++) {
		if (!is_field_char((unsigned char)p[i]))
			return -1;
	}
	*vs = s;
	*ve = e;
	return 0;
}

/*
 * The next line of [*p, end): its length without the CRLF, and *p moved
 * past it.  -1 when no LF follows or the LF has no CR before it.
 */
static int
next_line(char **p, const char *end, size_t *len)
{
	char	*lf;

	lf = memchr(*p, '\n', (size_t)(end - *p));
	if (lf == NULL || lf == *p || lf[-1] != '\r')
		return -1;
	*len = (size_t)(lf - 1 - *p);
	*p = lf + 1;
	return 0;
}

/* method SP request-target SP HTTP-version, NUL-terminated in place. */
static int
parse_request_line(char *line, size_t len, struct http_request *r,
    const char **why)
{
	char	*target, *version;
	size_t	 i, t;

	*why = "malformed request line";
	for (i = 0; i < len && is_tchar((unsigned char)line[i]); i++)
		;
	if (i == 0 || i == len || line[i] != ' ')
		return 400;
	line[i] = '\0';
	target = line + ++i;
	/* Visible ASCII only: no space, no control byte, no obs-text. */
	for (t = i; i < len && (unsigned char)line[i] > 0x20 &&
	    (unsigned char)line[i] < 0x7f; i++)
		;
	if (i == t || i == len || line[i] != ' ' || *target != '/')
		return 400;
	line[i] = '\0';
	version = line + ++i;
	if (len - i != 8 || memcmp(version, "HTTP/", 5) != 0 ||
	    !IS_DIGIT(version[5]) || version[6] != '.' ||
	    !IS_DIGIT(version[7]))
		return 400;
	if (memcmp(version + 5, "1.1", 3) == 0)
		r->http11 = 1;
	else if (memcmp(version + 5, "1.0", 3) == 0)
		r->http11 = 0;
	else {
		*why = "HTTP version not supported";
		return 505;
	}
	/* kube-apiserver appends ?timeout=30s: the path alone counts. */
	target[strcspn(target, "?#")] = '\0';
	r->method = line;
	r->path = target;
	r->is_head = strcmp(line, "HEAD") == 0;
	return 0;
}

static int
parse_field_line(char *line, size_t len, struct http_request *r,
    const char **why)
{
	size_t	nlen, vs, ve;

	if (len > 0 && IS_WS(line[0])) {
		*why = "obsolete line folding";
		return 400;
	}
	if (field_split(line, len, &nlen, &vs, &ve) != 0) {
		*why = "malformed header field";
		return 400;
	}
	if (r->nhdr == HTTP_MAX_HEADERS) {
		*why = "too many header fields";
		return 431;
	}
	line[nlen] = '\0';
	line[ve] = '\0';
	r->hdr[r->nhdr].name = line;
	r->hdr[r->nhdr].value = line + vs;
	r->hdr[r->nhdr].name_len = nlen;
	r->nhdr++;
	return 0;
}

/* Is f named name, of len bytes?  The lengths rule out most at once. */
static int
field_is(const struct http_field *f, const char *name, size_t len)
{
	return f->name_len == len && strcasecmp(f->name, name) == 0;
}

/* How many fields have this name. */
static size_t
field_count(const struct http_request *r, const char *name)
{
	size_t	i, n = 0, len = strlen(name);

	for (i = 0; i < r->nhdr; i++) {
		if (field_is(&r->hdr[i], name, len))
			n++;
	}
	return n;
}

/*
 * Whether a comma-separated list in any field of that name has item, an
 * HTTP list element such as "close".
 */
static int
field_has_item(const struct http_request *r, const char *name,
    const char *item)
{
	const char	*p, *e;
	size_t		 i, n = strlen(item), len = strlen(name);

	for (i = 0; i < r->nhdr; i++) {
		if (!field_is(&r->hdr[i], name, len))
			continue;
		for (p = r->hdr[i].value; *p != '\0'; p = e) {
			while (*p == ',' || IS_WS(*p))
				p++;
			for (e = p; *e != '\0' && *e != ','; e++)
				;
			while (e > p && IS_WS(e[-1]))
				e--;
			if ((size_t)(e - p) == n && strncasecmp(p, item, n) == 0)
				return 1;
			while (*e != '\0' && *e != ',')
				e++;
		}
	}
	return 0;
}

/* 1*DIGIT up to HTTP_MAX_CLEN; no sign, no space, no list. */
static int
parse_content_length(const char *s, size_t max_body, size_t *out,
    const char **why)
{
	unsigned long long	v = 0;

	*why = "bad Content-Length";
	if (*s == '\0')
		return 400;
	for (; *s != '\0'; s++) {
		if (!IS_DIGIT(*s))
			return 400;
		v = v * 10 + (unsigned long long)(*s - '0');
		if (v > HTTP_MAX_CLEN)
			return 400;
	}
	if (v > max_body) {
		*why = "request body too large";
		return 413;
	}
	*out = (size_t)v;
	return 0;
}

/* RFC 9112 6.1-6.3: chunked, Content-Length or nothing; else refuse. */
static int
parse_framing(struct http_request *r, size_t max_body, const char **why)
{
	const char	*te, *cl;

	if (field_count(r, "host") > 1) {
		*why = "repeated Host";
		return 400;
	}
	if (r->http11)
		r->keepalive = !field_has_item(r, "connection", "close");
	else
		r->keepalive = field_has_item(r, "connection", "keep-alive") &&
		    !field_has_item(r, "connection", "close");
	te = http_request_header(r, "transfer-encoding");
	cl = http_request_header(r, "content-length");
	if (te != NULL) {
		/* Both framings at once is how requests get smuggled. */
		if (cl != NULL || !r->http11) {
			*why = cl != NULL ? "Transfer-Encoding with "
			    "Content-Length" : "Transfer-Encoding in HTTP/1.0";
			return 400;
		}
		if (field_count(r, "transfer-encoding") != 1 ||
		    strcasecmp(te, "chunked") != 0) {
			*why = "unsupported Transfer-Encoding";
			return 501;
		}
		r->framing = HTTP_FRAME_CHUNKED;
		return 0;
	}
	r->framing = HTTP_FRAME_LENGTH;
	r->clen = 0;
	if (cl == NULL)
		return 0;
	if (field_count(r, "content-length") != 1) {
		*why = "repeated Content-Length";
		return 400;
	}
	return parse_content_length(cl, max_body, &r->clen, why);
}

int
http_parse_head(char *buf, size_t len, size_t max_body,
    struct http_request *r, const char **why)
{
	char		*p = buf, *line;
	const char	*end = buf + len;
	size_t		 n, i;
	int		 code;

	HTTP_REQUEST_RESET(r);
	*why = "malformed request";
	for (line = p; ; line = p) {
		if (next_line(&p, end, &n) != 0) {
			*why = "line not ended by CRLF";
			return 400;
		}
		/* A NUL or a bare CR anywhere is refused, before any split. */
		for (i = 0; i < n; i++) {
			if (line[i] == '\0' || line[i] == '\r') {
				*why = line[i] == '\0' ? "NUL byte in request" :
				    "bare CR in request";
				return 400;
			}
		}
		if (line == buf)
			code = parse_request_line(line, n, r, why);
		else if (n == 0)
			break;
		else
			code = parse_field_line(line, n, r, why);
		if (code != 0)
			return code;
	}
	if (p != end) {
		*why = "bytes after the end of the header";
		return 400;
	}
	return parse_framing(r, max_body, why);
}

int
http_head_length(const char *buf, size_t len, size_t max_header,
    size_t *hlen)
{
	const char	*p;
	size_t		 n = len < max_header ? len : max_header;

	p = n < 4 ? NULL : memmem(buf, n, "\r\n\r\n", 4);
	if (p != NULL) {
		*hlen = (size_t)(p - buf) + 4;
		return 0;
	}
	return len >= max_header ? 431 : HTTP_HEAD_MORE;
}

const char *
http_request_header(const struct http_request *r, const char *name)
{
	size_t	i, len = strlen(name);

	for (i = 0; i < r->nhdr; i++) {
		if (field_is(&r->hdr[i], name, len))
			return r->hdr[i].value;
	}
	return NULL;
}

/* Skip white space from *i; returns the byte there, or -1 at the end. */
static int
skip_ws(const char *s, size_t len, size_t *i)
{
	while (*i < len && IS_WS(s[*i]))
		(*i)++;
	return *i < len ? (unsigned char)s[*i] : -1;
}

/* RFC 9110 5.6.4: a quoted-string at s[*i] == '"'; -1 if malformed. */
static int
skip_quoted(const char *s, size_t len, size_t *i)
{
	unsigned char	ch;

	for ((*i)++; *i < len; (*i)++) {
		ch = (unsigned char)s[*i];
		if (ch == '"') {
			(*i)++;
			return 0;
		}
		if (ch == '\\' && ++(*i) == len)
			return -1;
		if (!is_field_char((unsigned char)s[*i]))
			return -1;
	}
	return -1;
}

/*
 * RFC 9112 7.1.1: *( BWS ";" BWS name [ BWS "=" BWS value ] ).  They mean
 * nothing to us, but they are read to the letter all the same.
 */
static int
check_chunk_ext(const char *s, size_t len, size_t i)
{
	size_t	t;

	while (skip_ws(s, len, &i) == ';') {
		i++;
		skip_ws(s, len, &i);
		for (t = i; i < len && is_tchar((unsigned char)s[i]); i++)
			;
		if (i == t)
			return -1;
		if (skip_ws(s, len, &i) != '=')
			continue;
		i++;
		if (skip_ws(s, len, &i) == '"') {
			if (skip_quoted(s, len, &i) != 0)
				return -1;
			continue;
		}
		for (t = i; i < len && is_tchar((unsigned char)s[i]); i++)
			;
		if (i == t)
			return -1;
	}
	return i == len ? 0 : -1;
}

int
http_parse_chunk_size(const char *line, size_t len, size_t max,
    size_t *size)
{
	unsigned long long	v = 0;
	size_t			i;
	int			d, big = 0;

	for (i = 0; i < len && (d = hex_value((unsigned char)line[i])) >= 0;
	    i++) {
		v = v * 16 + (unsigned long long)d;
		if (v > max) {
			big = 1;
			v = 0;	/* no overflow; the answer is 413 anyway */
		}
	}
	if (i == 0 || check_chunk_ext(line, len, i) != 0)
		return 400;
	if (big)
		return 413;
	*size = (size_t)v;
	return 0;
}

void
http_chunked_init(struct http_chunked *ck, size_t max_body,
    size_t max_trailer)
{
	memset(ck, 0, sizeof(*ck));
	ck->state = HTTP_CK_SIZE;
	ck->max_body = max_body;
	ck->max_trailer = max_trailer;
}

/* A size or trailer line of n bytes without the CRLF. */
static int
chunk_line(struct http_chunked *ck, const char *line, size_t n,
    const char **why)
{
	size_t	size, nlen, vs, ve;
	int	code;

	if (ck->state == HTTP_CK_SIZE) {
		code = http_parse_chunk_size(line, n, ck->max_body - ck->body,
		    &size);
		if (code != 0) {
			*why = code == 413 ? "request body too large" :
			    "bad chunk size line";
			return code;
		}
		ck->body += size;
		ck->left = size;
		ck->state = size == 0 ? HTTP_CK_TRAILER : HTTP_CK_DATA;
		return HTTP_CHUNK_SKIP;
	}
	if (n == 0) {
		ck->state = HTTP_CK_DONE;
		return HTTP_CHUNK_DONE;
	}
	ck->trailer += n + 2;
	if (ck->trailer > ck->max_trailer) {
		*why = "trailer too large";
		return 431;
	}
	if (IS_WS(line[0]) || field_split(line, n, &nlen, &vs, &ve) != 0) {
		*why = "malformed trailer field";
		return 400;
	}
	return HTTP_CHUNK_SKIP;
}

int
http_chunked_step(struct http_chunked *ck, const char *peek, size_t npeek,
    size_t avail, size_t *n, const char **why)
{
	const char	*lf;

	*n = 0;
	*why = "bad chunk";
	switch (ck->state) {
	case HTTP_CK_DATA:
		if (avail == 0)
			return HTTP_CHUNK_MORE;
		*n = avail < ck->left ? avail : ck->left;
		ck->left -= *n;
		if (ck->left == 0)
			ck->state = HTTP_CK_DATA_END;
		return HTTP_CHUNK_DATA;
	case HTTP_CK_DATA_END:
		if ((npeek > 0 && peek[0] != '\r') ||
		    (npeek > 1 && peek[1] != '\n')) {
			*why = "chunk data not followed by CRLF";
			return 400;
		}
		if (npeek < 2)
			return HTTP_CHUNK_MORE;
		*n = 2;
		ck->state = HTTP_CK_SIZE;
		return HTTP_CHUNK_SKIP;
	case HTTP_CK_SIZE:
	case HTTP_CK_TRAILER:
		break;
	default:
		return HTTP_CHUNK_MORE;
	}
	if ((lf = memchr(peek, '\n', npeek)) == NULL) {
		if (npeek >= HTTP_CHUNK_PEEK) {
			*why = "chunk line too long";
			return 400;
		}
		return HTTP_CHUNK_MORE;
	}
	if (lf == peek || lf[-1] != '\r') {
		*why = "chunk line not ended by CRLF";
		return 400;
	}
	*n = (size_t)(lf - peek) + 1;
	return chunk_line(ck, peek, *n - 2, why);
}
