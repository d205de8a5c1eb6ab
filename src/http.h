/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The HTTP/1.1 server side of one TLS connection (http.c), as used by the
 * workers in server.c.
 */

#ifndef HTTP_H
#define HTTP_H

struct http_conn;
struct ssl_st;

/*
 * A worker's connections that keep their buffers between requests (see
 * http.c): how many do now, how many may, and the gauge that shows it.
 */
#define HTTP_WARM_MAX	128	/* a worker's warm connections */

struct http_warm {
	unsigned	 n;
	unsigned	 max;
	int64_t		*gauge;		/* or NULL */
};

struct http_limits {
	size_t		max_header;
	size_t		max_body;
	long long	idle_timeout;	/* ms */
	long long	read_timeout;	/* ms */
	long long	write_timeout;	/* ms */
	long long	handshake_timeout; /* ms, handshake + first request */
	struct http_warm *warm;		/* the worker's, or NULL: none */
};

struct http_callbacks {
	/* A whole request has arrived: answer it with http_reply(), now or
	 * later.  No further request of the connection is read before. */
	void	(*request)(struct http_conn *, void *arg);
	/* The connection is going away; a pending request must be dropped
	 * (http_reply() may not be called on it any more). */
	void	(*closed)(struct http_conn *, void *arg);
	/* The TLS handshake failed; client_auth says it was the client
	 * certificate. */
	void	(*handshake_failed)(struct http_conn *, int client_auth,
		    void *arg);
	void	*arg;
};

/*
 * A connection on the non-blocking socket fd, closed with it; ssl is NULL
 * for plain HTTP, else a TLS server connection on fd still before its
 * handshake, freed with it.
 */
struct http_conn *http_conn_new(struct event_base *, int fd,
		    struct ssl_st *ssl, const struct sockaddr *, socklen_t,
		    const struct http_limits *, const struct http_callbacks *);
/* Close at once, dropping any pending request (closed() is called). */
void		 http_conn_close(struct http_conn *);
/* Reply and close after this request; idle connections close now. */
void		 http_conn_drain(struct http_conn *);
int		 http_conn_idle(const struct http_conn *);
/* Nothing has come from the peer yet, not even a ClientHello. */
int		 http_conn_silent(const struct http_conn *);

const char	*http_method(const struct http_conn *);
const char	*http_path(const struct http_conn *);	/* no query */
const char	*http_header(const struct http_conn *, const char *name);
const char	*http_peer(const struct http_conn *);
const char	*http_body(const struct http_conn *, size_t *len);
void		 http_set_data(struct http_conn *, void *);
void		*http_get_data(const struct http_conn *);

/*
 * Send the answer to the current request.  extra_headers is NULL or
 * complete "Name: value\r\n" lines.  The body is copied.
 */
void		 http_reply(struct http_conn *, int code, const char *ctype,
		    const char *body, size_t len, const char *extra_headers);

#endif /* HTTP_H */
