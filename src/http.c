/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * HTTP/1.1 on one TLS connection, server side, just as much of it as a
 * TokenReview webhook needs: requests with Content-Length or chunked
 * bodies, keep-alive and pipelining (answered in order, one at a time),
 * "Expect: 100-continue", and hard limits everywhere.
 *
 * libevent's evhttp (2.1) cannot refuse an over-long body with our own
 * status body before reading it, has one timeout that a client resets with
 * every byte it trickles in, and no connection cap, so the protocol is
 * done here on a bufferevent_openssl.  One timer per connection enforces
 * the deadlines: the handshake and each request must arrive whole within
 * read_timeout of their start (slow clients cannot stretch it), a reply
 * must leave within write_timeout, and an idle keep-alive connection lives
 * idle_timeout.  A second one bounds what a connection costs before it is
 * any use: its handshake and whole first request must arrive within
 * handshake_timeout of the accept, so that sockets opened and left silent
 * are closed after seconds, not after idle_timeout.  When the deadline
 * finds bytes of the peer not read yet, the lateness is the loop's (a
 * burst of handshakes), not the peer's; and a handshake that moved on
 * during the period is a loaded peer, not a silent one: either gets
 * another period, and the first timer (read_timeout) still bounds the
 * handshake as a whole.
 *
 * The bufferevent must be made with BEV_OPT_DEFER_CALLBACKS: a reply may be
 * written, and the connection freed by its write callback, only from the
 * event loop, never from inside http_reply() on the caller's stack.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tokenreviewd.h"
#include "http.h"
#include "http-parse.h"

enum http_conn_state {
	HCS_HANDSHAKE,	/* TLS handshake running */
	HCS_IDLE,	/* between requests */
	HCS_HEAD,	/* reading a request line and headers */
	HCS_BODY,	/* reading a Content-Length body */
	HCS_CHUNKED,	/* reading a chunked body */
	HCS_BUSY,	/* request handed to the server, no reply yet */
	HCS_WRITE,	/* reply being sent, then the next request */
	HCS_CLOSING,	/* last reply being sent, then close */
	HCS_LINGER,	/* refused a request mid-stream: read and drop */
};

/*
 * After refusing a request that was still arriving (413, 431), closing at
 * once would make the kernel reset the connection over the unread bytes,
 * and the client might never see our answer.  Read and drop for this long.
 */
#define HTTP_LINGER_MS		2000

/* What one step of reading a request came to. */
enum http_read {
	HTTP_READ_WAIT,		/* wait for more bytes */
	HTTP_READ_ON,		/* go on reading */
	HTTP_READ_DONE,		/* the request is whole */
	HTTP_READ_REFUSED,	/* refused: the answer is on its way */
};

struct http_conn {
	struct bufferevent	*bev;
	struct event		*timer;
	struct event		*deadline;	/* until the first request */
	uint64_t		 deadline_seen;	/* bytes read at its last run */
	struct http_limits	 lim;
	struct http_callbacks	 cb;
	enum http_conn_state	 state;
	char			 peer[INET6_ADDRSTRLEN + 8];
	int			 draining;
	int			 linger;	/* HCS_LINGER after the reply */

	/*
	 * The request being read or served: head holds the strings of req.
	 * All three buffers may hold secrets (the bearer token, the token
	 * under review) and are wiped before they are freed or reused.
	 */
	char			*head;
	size_t			 head_len;
	struct http_request	 req;
	struct evbuffer		*body;
	char			*body_flat;
	size_t			 body_flat_len;
	struct http_chunked	 ck;
	void			*data;
};

static void	http_process(struct http_conn *);
static void	http_free(struct http_conn *);
static void	http_error(struct http_conn *, int, const char *);
static void	http_refuse(struct http_conn *, int, const char *);

static const char *
http_status_text(int code)
{
	switch (code) {
	case 100: return "Continue";
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	default: return "Unknown";
	}
}

static void
http_timer(struct http_conn *c, long long ms)
{
	struct timeval	tv;

	ms_to_timeval(ms, &tv);
	evtimer_add(c->timer, &tv);
}

/* Overwrite the bytes of an evbuffer in place, then drop them. */
static void
http_wipe_evbuffer(struct evbuffer *buf)
{
	struct evbuffer_iovec	 v[16];
	struct evbuffer_ptr	 pos;
	int			 i, n;

	if (buf == NULL)
		return;
	evbuffer_ptr_set(buf, &pos, 0, EVBUFFER_PTR_SET);
	while ((n = evbuffer_peek(buf, -1, &pos, v, 16)) > 0) {
		for (i = 0; i < n && i < 16; i++) {
			OPENSSL_cleanse(v[i].iov_base, v[i].iov_len);
			evbuffer_ptr_set(buf, &pos, v[i].iov_len,
			    EVBUFFER_PTR_ADD);
		}
		if (n <= 16)
			break;
	}
	evbuffer_drain(buf, evbuffer_get_length(buf));
}

/* Forget the current request, keeping the connection. */
static void
http_reset(struct http_conn *c)
{
	/* The head holds the Authorization header, the body the token. */
	if (c->head != NULL)
		OPENSSL_cleanse(c->head, c->head_len);
	free(c->head);
	c->head = NULL;
	c->head_len = 0;
	if (c->body_flat != NULL)
		OPENSSL_cleanse(c->body_flat, c->body_flat_len);
	free(c->body_flat);
	c->body_flat = NULL;
	c->body_flat_len = 0;
	http_wipe_evbuffer(c->body);
	memset(&c->req, 0, sizeof(c->req));
	memset(&c->ck, 0, sizeof(c->ck));
	c->data = NULL;
}

static void
http_free(struct http_conn *c)
{
	if (c->cb.closed != NULL)
		c->cb.closed(c, c->cb.arg);
	http_reset(c);
	if (c->body != NULL)
		evbuffer_free(c->body);
	event_free(c->timer);
	event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
}

static void
http_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_conn	*c = arg;

	switch (c->state) {
	case HCS_HEAD:
	case HCS_BODY:
	case HCS_CHUNKED:
		log_msg(LL_VERBOSE, "http_timeout", "%s: request not "
		    "complete within read_timeout", c->peer);
		http_error(c, 408, "request not received in time");
		break;
	case HCS_HANDSHAKE:
		log_msg(LL_VERBOSE, "tls_timeout", "%s: TLS handshake not "
		    "complete within read_timeout", c->peer);
		http_free(c);
		break;
	case HCS_BUSY:
		/* The review owns its own deadline. */
		break;
	default:
		http_free(c);
		break;
	}
}

/* Has the peer sent bytes that the loop has not got to yet? */
static int
http_pending(const struct http_conn *c)
{
	int	n = 0;

	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		return 1;
	return ioctl(bufferevent_getfd(c->bev), FIONREAD, &n) == 0 && n > 0;
}

static void
http_deadline_add(struct http_conn *c)
{
	struct timeval	tv;

	ms_to_timeval(c->lim.handshake_timeout, &tv);
	evtimer_add(c->deadline, &tv);
}

/* Has the handshake read anything since the deadline last looked? */
static int
http_progressed(struct http_conn *c)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(c->bev);
	uint64_t	 n;

	if (ssl == NULL || SSL_get_rbio(ssl) == NULL)
		return 0;
	n = BIO_number_read(SSL_get_rbio(ssl));
	if (n == c->deadline_seen)
		return 0;
	c->deadline_seen = n;
	return 1;
}

/* The handshake or the first request took longer than handshake_timeout. */
static void
http_deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_conn	*c = arg;

	if (c->state == HCS_HANDSHAKE && http_progressed(c)) {
		http_deadline_add(c);
		return;
	}
	switch (c->state) {
	case HCS_HEAD:
	case HCS_BODY:
	case HCS_CHUNKED:
		if (http_pending(c))
			http_deadline_add(c);
		else {
			log_msg(LL_VERBOSE, "http_timeout", "%s: first request "
			    "not complete within handshake_timeout", c->peer);
			http_error(c, 408, "request not received in time");
		}
		break;
	case HCS_HANDSHAKE:
	case HCS_IDLE:
		if (http_pending(c))
			http_deadline_add(c);
		else {
			log_msg(LL_VERBOSE, "handshake_timeout", "%s: %s "
			    "within handshake_timeout", c->peer,
			    c->state == HCS_HANDSHAKE ?
			    "TLS handshake not complete" : "no request");
			http_free(c);
		}
		break;
	default:
		/* Being answered or closed: the other timer sees to it. */
		break;
	}
}

const char *
http_header(const struct http_conn *c, const char *name)
{
	return http_request_header(&c->req, name);
}

static void
http_send_continue(struct http_conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	const char	  *expect;

	expect = http_header(c, "expect");
	if (expect != NULL && strcasecmp(expect, "100-continue") == 0 &&
	    (c->state == HCS_CHUNKED || c->req.clen > 0))
		bufferevent_write(c->bev, cont, sizeof(cont) - 1);
}

/* Read the request line and headers. */
static enum http_read
http_read_head(struct http_conn *c, struct evbuffer *in)
{
	const char	*why = NULL;
	size_t		 avail, hlen, n;
	int		 code;

	avail = evbuffer_get_length(in);
	if (c->state == HCS_IDLE) {
		/* Stray CRLFs between requests are allowed (RFC 9112). */
		while (avail >= 2 && memcmp(evbuffer_pullup(in, 2), "\r\n",
		    2) == 0) {
			evbuffer_drain(in, 2);
			avail -= 2;
		}
		if (avail == 0)
			return HTTP_READ_WAIT;
		c->state = HCS_HEAD;
		http_timer(c, c->lim.read_timeout);
	}
	n = avail < c->lim.max_header ? avail : c->lim.max_header;
	code = http_head_length((const char *)evbuffer_pullup(in,
	    (ev_ssize_t)n), avail, c->lim.max_header, &hlen);
	if (code == HTTP_HEAD_MORE)
		return HTTP_READ_WAIT;
	if (code != 0) {
		http_refuse(c, code, "request header too large");
		return HTTP_READ_REFUSED;
	}
	c->head = xmalloc(hlen + 1);
	c->head_len = hlen + 1;
	evbuffer_remove(in, c->head, hlen);
	c->head[hlen] = '\0';
	if ((code = http_parse_head(c->head, hlen, c->lim.max_body, &c->req,
	    &why)) != 0) {
		http_refuse(c, code, why);
		return HTTP_READ_REFUSED;
	}
	if (c->req.framing == HTTP_FRAME_CHUNKED) {
		c->state = HCS_CHUNKED;
		http_chunked_init(&c->ck, c->lim.max_body, c->lim.max_header);
	} else
		c->state = HCS_BODY;
	http_send_continue(c);
	return HTTP_READ_ON;
}

/* Move up to n bytes of body; 413 if the body would grow too large. */
static int
http_take_body(struct http_conn *c, struct evbuffer *in, size_t n)
{
	if (evbuffer_get_length(c->body) + n > c->lim.max_body) {
		http_refuse(c, 413, "request body too large");
		return -1;
	}
	evbuffer_remove_buffer(in, c->body, n);
	return 0;
}

/* One step of a chunked body. */
static enum http_read
http_read_chunk(struct http_conn *c, struct evbuffer *in)
{
	const char	*peek, *why;
	size_t		 n, avail = evbuffer_get_length(in), npeek;
	int		 r;

	/* A line is looked at whole: at most HTTP_CHUNK_PEEK bytes. */
	npeek = avail < HTTP_CHUNK_PEEK ? avail : HTTP_CHUNK_PEEK;
	if (c->ck.state == HTTP_CK_DATA)
		npeek = 0;
	peek = npeek == 0 ? "" :
	    (const char *)evbuffer_pullup(in, (ev_ssize_t)npeek);
	r = http_chunked_step(&c->ck, peek, npeek, avail, &n, &why);
	switch (r) {
	case HTTP_CHUNK_MORE:
		return HTTP_READ_WAIT;
	case HTTP_CHUNK_DATA:
		return http_take_body(c, in, n) == 0 ? HTTP_READ_ON :
		    HTTP_READ_REFUSED;
	case HTTP_CHUNK_SKIP:
		evbuffer_drain(in, n);
		return HTTP_READ_ON;
	case HTTP_CHUNK_DONE:
		evbuffer_drain(in, n);
		return HTTP_READ_DONE;
	default:
		http_refuse(c, r, why);
		return HTTP_READ_REFUSED;
	}
}

static void
http_dispatch(struct http_conn *c)
{
	evtimer_del(c->timer);
	evtimer_del(c->deadline);
	c->state = HCS_BUSY;
	c->cb.request(c, c->cb.arg);
}

static void
http_process(struct http_conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	size_t		 need, avail;
	enum http_read	 r;

	for (;;) {
		switch (c->state) {
		case HCS_IDLE:
		case HCS_HEAD:
			if (http_read_head(c, in) != HTTP_READ_ON)
				return;
			break;
		case HCS_BODY:
			need = c->req.clen - evbuffer_get_length(c->body);
			avail = evbuffer_get_length(in);
			if (http_take_body(c, in, avail < need ? avail :
			    need) != 0)
				return;
			if (avail < need)
				return;
			http_dispatch(c);
			return;
		case HCS_CHUNKED:
			while ((r = http_read_chunk(c, in)) == HTTP_READ_ON)
				;
			if (r == HTTP_READ_DONE)
				http_dispatch(c);
			return;
		default:
			/* Pipelined data waits until this reply is out. */
			if (evbuffer_get_length(in) > c->lim.max_header +
			    c->lim.max_body)
				bufferevent_disable(c->bev, EV_READ);
			return;
		}
	}
}

static void
http_read_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);

	if (c->state == HCS_LINGER || c->state == HCS_CLOSING)
		evbuffer_drain(in, evbuffer_get_length(in));
	else
		http_process(c);
}

static void
http_write_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn	*c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (c->state == HCS_CLOSING && c->linger) {
		c->state = HCS_LINGER;
		http_timer(c, HTTP_LINGER_MS);
		bufferevent_enable(c->bev, EV_READ);
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	if (c->state == HCS_CLOSING) {
		http_free(c);
		return;
	}
	if (c->state != HCS_WRITE)
		return;
	c->state = HCS_IDLE;
	http_reset(c);
	http_timer(c, c->lim.idle_timeout);
	bufferevent_enable(c->bev, EV_READ);
	http_process(c);
}

static int
http_cert_reason(unsigned long e)
{
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return 0;
	return ERR_GET_REASON(e) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ||
	    ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

/*
 * Was the handshake refused because of the client's certificate?  A
 * wrong certificate leaves a verify result; a missing one leaves only an
 * error code, and bufferevent_openssl has already moved the thread's
 * OpenSSL errors into its own queue, so that one is read too.  (The first
 * entry there is SSL_get_error()'s small code, not a packed error: its
 * library is 0 and http_cert_reason() skips it.)
 */
static int
http_client_cert_failed(struct http_conn *c)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(c->bev);
	unsigned long	 e;
	int		 found = 0;

	while ((e = bufferevent_get_openssl_error(c->bev)) != 0)
		found |= http_cert_reason(e);
	while ((e = ERR_get_error()) != 0)
		found |= http_cert_reason(e);
	return found || SSL_get_verify_result(ssl) != X509_V_OK;
}

static void
http_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn	*c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		c->state = HCS_IDLE;
		http_timer(c, c->lim.idle_timeout);
		/* A request may have come in with the end of the handshake. */
		http_process(c);
		return;
	}
	if (c->state == HCS_HANDSHAKE && c->cb.handshake_failed != NULL)
		c->cb.handshake_failed(c, http_client_cert_failed(c),
		    c->cb.arg);
	ERR_clear_error();
	http_free(c);
}

struct http_conn *
http_conn_new(struct event_base *base, struct bufferevent *bev, int tls,
    const struct sockaddr *sa, socklen_t salen,
    const struct http_limits *lim, const struct http_callbacks *cb)
{
	struct http_conn	*c;
	char			 host[INET6_ADDRSTRLEN];
	int			 port = 0;

	c = xcalloc(1, sizeof(*c));
	c->bev = bev;
	c->lim = *lim;
	c->cb = *cb;
	c->state = HCS_HANDSHAKE;
	c->body = evbuffer_new();
	c->timer = evtimer_new(base, http_timer_cb, c);
	c->deadline = evtimer_new(base, http_deadline_cb, c);
	if (c->body == NULL || c->timer == NULL || c->deadline == NULL)
		fatalx("out of memory");
	host[0] = '\0';
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    host, sizeof(host));
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
		snprintf(c->peer, sizeof(c->peer), "%s:%d", host, port);
	} else if (sa->sa_family == AF_INET6) {
		inet_ntop(AF_INET6,
		    &((const struct sockaddr_in6 *)sa)->sin6_addr, host,
		    sizeof(host));
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
		snprintf(c->peer, sizeof(c->peer), "[%s]:%d", host, port);
	} else
		strlcpy(c->peer, "unknown", sizeof(c->peer));
	if (tls)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	else
		c->state = HCS_IDLE;
	bufferevent_setcb(bev, http_read_cb, http_write_cb, http_event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	http_timer(c, tls ? c->lim.read_timeout : c->lim.idle_timeout);
	http_deadline_add(c);
	return c;
}

void
http_conn_close(struct http_conn *c)
{
	http_free(c);
}

void
http_conn_drain(struct http_conn *c)
{
	c->draining = 1;
	if (c->state == HCS_IDLE || c->state == HCS_HANDSHAKE)
		http_free(c);
}

int
http_conn_idle(const struct http_conn *c)
{
	return c->state == HCS_IDLE;
}

/* The deadline runs until the first request is whole. */
int
http_conn_silent(const struct http_conn *c)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(c->bev);

	if (http_pending(c))
		return 0;
	/* SSL_in_before() turns false at the first attempt, data or not. */
	if (ssl != NULL)
		return c->state == HCS_HANDSHAKE &&
		    SSL_get_state(ssl) == TLS_ST_BEFORE;
	return c->state == HCS_IDLE && evtimer_pending(c->deadline, NULL);
}

const char *
http_method(const struct http_conn *c)
{
	return c->req.method;
}

const char *
http_path(const struct http_conn *c)
{
	return c->req.path;
}

const char *
http_peer(const struct http_conn *c)
{
	return c->peer;
}

const char *
http_body(const struct http_conn *c, size_t *len)
{
	struct http_conn	*mc = (struct http_conn *)c;
	size_t			 n = evbuffer_get_length(c->body);

	if (mc->body_flat == NULL) {
		mc->body_flat = xmalloc(n + 1);
		mc->body_flat_len = n + 1;
		evbuffer_copyout(c->body, mc->body_flat, n);
		mc->body_flat[n] = '\0';
	}
	*len = n;
	return mc->body_flat;
}

void
http_set_data(struct http_conn *c, void *data)
{
	c->data = data;
}

void *
http_get_data(const struct http_conn *c)
{
	return c->data;
}

/* Append s to buf at *n, leaving room for the header's end; -1 if full. */
static int
http_head_add(char *buf, size_t size, size_t *n, const char *s, size_t len)
{
	if (*n + len + 3 > size)
		return -1;
	memcpy(buf + *n, s, len);
	*n += len;
	return 0;
}

void
http_reply(struct http_conn *c, int code, const char *ctype,
    const char *body, size_t len, const char *extra_headers)
{
	struct evbuffer	*out = bufferevent_get_output(c->bev);
	const char	*text = http_status_text(code);
	char		 head[512], num[24];
	size_t		 n = 0, v = len;
	int		 keep, k;

	/* No printf here: this runs for every review. */
	keep = c->req.keepalive && !c->draining && c->state == HCS_BUSY;
	num[0] = (char)('0' + code / 100);
	num[1] = (char)('0' + code / 10 % 10);
	num[2] = (char)('0' + code % 10);
	if (http_head_add(head, sizeof(head), &n, "HTTP/1.1 ", 9) != 0 ||
	    http_head_add(head, sizeof(head), &n, num, 3) != 0 ||
	    http_head_add(head, sizeof(head), &n, " ", 1) != 0 ||
	    http_head_add(head, sizeof(head), &n, text, strlen(text)) != 0 ||
	    http_head_add(head, sizeof(head), &n, "\r\nContent-Type: ",
	    16) != 0 ||
	    http_head_add(head, sizeof(head), &n, ctype, strlen(ctype)) != 0 ||
	    http_head_add(head, sizeof(head), &n, "\r\nContent-Length: ",
	    18) != 0)
		fatalx("http_reply: header too long");
	k = sizeof(num);
	do {
		num[--k] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	if (http_head_add(head, sizeof(head), &n, num + k,
	    sizeof(num) - k) != 0 ||
	    http_head_add(head, sizeof(head), &n, "\r\n", 2) != 0 ||
	    (!keep && http_head_add(head, sizeof(head), &n,
	    "Connection: close\r\n", 19) != 0) ||
	    (extra_headers != NULL && http_head_add(head, sizeof(head), &n,
	    extra_headers, strlen(extra_headers)) != 0))
		fatalx("http_reply: header too long");
	memcpy(head + n, "\r\n", 2);
	n += 2;
	c->state = keep ? HCS_WRITE : HCS_CLOSING;
	http_timer(c, c->lim.write_timeout);
	evbuffer_add(out, head, n);
	if (!c->req.is_head)
		evbuffer_add(out, body, len);
}

/* Refuse the request being read with a Status body and close. */
static void
http_error(struct http_conn *c, int code, const char *why)
{
	char	*body;
	size_t	 len;

	body = review_status_encode(code, http_status_text(code), why, &len);
	c->req.keepalive = 0;
	c->linger = 1;
	c->state = HCS_BUSY;
	http_reply(c, code, "application/json", body, len, NULL);
	free(body);
}

/* Refuse a request that breaks the protocol or a limit, with a log line. */
static void
http_refuse(struct http_conn *c, int code, const char *why)
{
	log_msg(LL_VERBOSE, "http_bad_request", "%s: %d %s", c->peer, code,
	    why);
	http_error(c, code, why);
}
