/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The pure part of the HTTP/1.1 server (http-parse.c): a request head
 * and the decision how its body is framed, and the lines of a chunked
 * body.  Nothing here touches a socket or a buffer of libevent, so it is
 * tested on its own (tests/unit/test_http.c).
 */

#ifndef HTTP_PARSE_H
#define HTTP_PARSE_H

#include <stddef.h>
#include <string.h>

#define HTTP_MAX_HEADERS	100
/* A chunk size line with its extensions, or one trailer line, no CRLF. */
#define HTTP_MAX_CHUNK_LINE	1024
/* The largest Content-Length that is a number at all (2^50). */
#define HTTP_MAX_CLEN		(1ULL << 50)

struct http_field {
	const char	*name;
	const char	*value;
	size_t		 name_len;
};

enum http_framing {
	HTTP_FRAME_LENGTH,	/* Content-Length, or no body */
	HTTP_FRAME_CHUNKED,
};

/* A parsed head; every string points into the caller's head buffer. */
struct http_request {
	const char		*method;
	const char		*path;		/* the target up to '?' */
	size_t			 nhdr;
	int			 http11;
	int			 keepalive;
	int			 is_head;
	enum http_framing	 framing;
	size_t			 clen;
	/* Last: nothing reads past hdr[nhdr - 1], so resets stop here. */
	struct http_field	 hdr[HTTP_MAX_HEADERS];
};

/* Clear a request but for its fields, which nhdr = 0 leaves unread. */
#define HTTP_REQUEST_RESET(r)	\
	memset((r), 0, offsetof(struct http_request, hdr))

/*
 * Parse the len bytes at buf, a request line and header fields each ended
 * by CRLF, then the empty line, in place: buf must have room for len + 1
 * bytes.  Returns 0, or the HTTP status to refuse the request with and
 * the reason in *why.  Whatever the bytes, nothing is read outside buf.
 */
int		 http_parse_head(char *buf, size_t len, size_t max_body,
		    struct http_request *, const char **why);
/*
 * Where the head ends in the len bytes that have arrived (buf holds the
 * first min(len, max_header) of them): 0 and its length with the empty
 * line in *hlen, HTTP_HEAD_MORE to wait for more, or 431 when no head of
 * at most max_header bytes can end there.
 */
#define HTTP_HEAD_MORE		1
int		 http_head_length(const char *buf, size_t len,
		    size_t max_header, size_t *hlen);
/* The first field of that name (any case), or NULL. */
const char	*http_request_header(const struct http_request *,
		    const char *name);

/*
 * A chunked body, one step at a time.  The caller shows the next bytes of
 * the stream (npeek of them at peek, at least HTTP_CHUNK_PEEK when that
 * many have arrived) and how many there are in all (avail).
 */
#define HTTP_CHUNK_PEEK		(HTTP_MAX_CHUNK_LINE + 2)

enum http_chunk_state {
	HTTP_CK_SIZE,		/* expecting "hex[;ext]\r\n" */
	HTTP_CK_DATA,		/* chunk bytes */
	HTTP_CK_DATA_END,	/* the CRLF after the data */
	HTTP_CK_TRAILER,	/* trailer lines until an empty one */
	HTTP_CK_DONE,
};

struct http_chunked {
	enum http_chunk_state	 state;
	size_t			 left;		/* of the current chunk */
	size_t			 body;		/* announced so far */
	size_t			 trailer;	/* trailer bytes so far */
	size_t			 max_body;
	size_t			 max_trailer;
};

/* What http_chunked_step() found (statuses >= 400 are refusals). */
#define HTTP_CHUNK_MORE		0	/* wait for more bytes */
#define HTTP_CHUNK_DATA		1	/* *n body bytes come next: take them */
#define HTTP_CHUNK_SKIP		2	/* *n framing bytes: drop them */
#define HTTP_CHUNK_DONE		3	/* *n bytes end the body: drop them */

void	 http_chunked_init(struct http_chunked *, size_t max_body,
	    size_t max_trailer);
int	 http_chunked_step(struct http_chunked *, const char *peek,
	    size_t npeek, size_t avail, size_t *n, const char **why);
/* A chunk size line without its CRLF: 0, 400 or 413 (size above max). */
int	 http_parse_chunk_size(const char *line, size_t len, size_t max,
	    size_t *size);

#endif /* HTTP_PARSE_H */
