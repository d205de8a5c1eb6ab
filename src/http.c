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
 * done here.  One timer per connection enforces the deadlines: the
 * handshake and each request must arrive whole within read_timeout of
 * their start (slow clients cannot stretch it), a reply must leave within
 * write_timeout, and an idle keep-alive connection lives idle_timeout.  A
 * second one bounds what a connection costs before it is any use: its
 * handshake and whole first request must arrive within handshake_timeout
 * of the accept, so that sockets opened and left silent are closed after
 * seconds, not after idle_timeout.  When the deadline finds bytes of the
 * peer not read yet, the lateness is the loop's (a burst of handshakes),
 * not the peer's; and a handshake that moved on during the period is a
 * loaded peer, not a silent one: either gets another period, and the
 * first timer (read_timeout) still bounds the handshake as a whole.
 *
 * The bytes move through OpenSSL (or the socket, on the health port)
 * directly, not through a bufferevent: a read event stays registered for
 * the connection's life and a write event only while a reply is held up
 * by a full socket, so that a review costs one read and one write system
 * call, no change of the epoll set, and no buffer chunk allocated and
 * wiped.  OpenSSL reads ahead, a whole record or more per read(2); what it
 * holds is drained before the loop is asked again.  A reply is written,
 * and the connection freed after its last reply, only from the loop
 * (http_io_cb()), never inside http_reply() on the caller's stack; a
 * connection freed while its own callback runs is only marked, and freed
 * when the callback returns.
 *
 * Replies leave in batches.  The loop finds many connections readable
 * at once under load; a reply written at once wakes its client, and a
 * client on the same machine (or the kernel's work on its behalf) then
 * takes the worker's CPU in the middle of the next review.  So a reply
 * made while reading is sent from a second callback, queued behind the
 * connections that were ready together: each batch is read and answered,
 * then written, in one pass of the loop.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

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

/*
 * A connection that answers requests back to back stays warm: it keeps
 * its buffers, OpenSSL's record buffers (17 KiB to read, 5 KiB to write:
 * tls.c sends records of 4 KiB) and its own for input, head, body and
 * output (4 KiB together for a review), wiped after each request instead
 * of freed.  Allocating, wiping and freeing them for every request cost a
 * tenth of a static review.  Its buffers go back once it has been idle
 * this long, and at once after each request when HTTP_WARM_MAX of the
 * worker's connections are warm already, so that they hold at most about
 * 3.5 MiB a worker whoever opens connections.  A connection that has
 * answered nothing (a handshake alone) keeps none, and OpenSSL's go back
 * whenever a connection waits for anything else: the rest of a request,
 * a review's answer.
 */
#define HTTP_BUFFERS_IDLE_MS	1000

/*
 * A buffer's first size (it doubles for more), and the room one read asks
 * for: a review's head, body and answer take a few hundred bytes each.
 */
#define HTTP_BUF_FIRST		512
#define HTTP_READ_ROOM		2048

/* What one step of reading a request came to. */
enum http_read {
	HTTP_READ_WAIT,		/* wait for more bytes */
	HTTP_READ_ON,		/* go on reading */
	HTTP_READ_DONE,		/* the request is whole */
	HTTP_READ_REFUSED,	/* refused: the answer is on its way */
};

/* What a read or write on the connection came to. */
enum http_io {
	HTTP_IO_DONE,		/* all there was, or all of it sent */
	HTTP_IO_AGAIN,		/* wait for the socket */
	HTTP_IO_CLOSED,		/* end of stream or an error: close */
};

/*
 * Bytes in transit: [off, len) are held, [len, cap) never hold anything
 * (whatever left them is wiped), so wiping [0, len) wipes all.
 */
struct http_buf {
	char	*p;
	size_t	 off;
	size_t	 len;
	size_t	 cap;
};

struct http_conn {
	evutil_socket_t		 fd;
	SSL			*ssl;		/* NULL: plain HTTP */
	struct event		*rev;		/* readable, persistent */
	struct event		*wev;		/* writable, while needed */
	int			 rev_on, wev_on;
	int			 want_write;	/* handshake or read blocked */
	int			 send_blocked;	/* the socket took no more */
	int			 in_full;	/* input at its bound */
	int			 nest;		/* in http_io_cb() */
	int			 dead;		/* freed inside it */
	struct http_buf		 in, out;
	struct event		*timer;
	uint64_t		 due;		/* the timer's monotonic ms;
						   0: none */
	uint64_t		 armed;		/* when libevent fires it */
	struct event		*deadline;	/* until the first request */
	int			 deadline_on;
	uint64_t		 deadline_seen;	/* bytes read at its last run */
	struct http_limits	 lim;
	struct http_callbacks	 cb;
	enum http_conn_state	 state;
	char			 peer[INET6_ADDRSTRLEN + 8];
	int			 draining;
	int			 linger;	/* HCS_LINGER after the reply */
	int			 warm;		/* counted in lim.warm */
	int			 idle_stage;	/* the idle timer ends at the
						   buffers' return */

	/*
	 * The request being read or served: head holds the strings of req
	 * (NUL-terminated).  Both buffers may hold secrets (the bearer
	 * token, the token under review) and are wiped before they are freed
	 * or reused.
	 */
	struct http_buf		 head;
	struct http_request	 req;
	struct http_buf		 body;		/* NUL-terminated */
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
http_timer_arm(struct http_conn *c, uint64_t now)
{
	struct timeval	tv;

	ms_to_timeval((long long)(c->due - now), &tv);
	evtimer_add(c->timer, &tv);
	c->armed = c->due;
}

/*
 * The connection's one deadline from now on.  A review on a keep-alive
 * connection sets three (the request, the reply, the idle time), each
 * later than the one before; moving libevent's timer for each would cost
 * three timer changes under the loop's lock.  So the timer is moved only
 * when it would fire after the new deadline, and when it fires early it
 * is set again for what is left (http_timer_cb()).
 */
static void
http_timer(struct http_conn *c, long long ms)
{
	uint64_t	now = monotonic_ms_coarse();

	c->due = now + (ms > 0 ? (uint64_t)ms : 0);
	c->idle_stage = 0;
	if (c->armed == 0 || c->armed > c->due)
		http_timer_arm(c, now);
}

static size_t
http_buf_avail(const struct http_buf *b)
{
	return b->len - b->off;
}

static void
http_buf_free(struct http_buf *b)
{
	if (b->p != NULL)
		OPENSSL_cleanse(b->p, b->len);
	free(b->p);
	memset(b, 0, sizeof(*b));
}

/* Drop what the buffer holds, wiped; its block stays for the next use. */
static void
http_buf_wipe(struct http_buf *b)
{
	if (b->p != NULL)
		OPENSSL_cleanse(b->p, b->len);
	b->off = b->len = 0;
}

/* Drop n held bytes from the front, wiping them once none is left. */
static void
http_buf_consume(struct http_buf *b, size_t n)
{
	b->off += n;
	if (b->off < b->len)
		return;
	OPENSSL_cleanse(b->p, b->len);
	b->off = b->len = 0;
}

/*
 * Room for at least want more bytes after the held ones (want <= bound -
 * held), moving them to the front or into a larger block; the old bytes
 * are wiped, never left behind by realloc().  Returns the room.
 */
static size_t
http_buf_room(struct http_buf *b, size_t want)
{
	size_t	 held = http_buf_avail(b), cap;
	char	*p;

	if (b->cap - b->len >= want)
		return b->cap - b->len;
	if (b->off > 0 && b->cap - held >= want) {
		memmove(b->p, b->p + b->off, held);
		OPENSSL_cleanse(b->p + held, b->len - held);
		b->off = 0;
		b->len = held;
		return b->cap - b->len;
	}
	for (cap = b->cap > 0 ? b->cap : HTTP_BUF_FIRST; cap - held < want;
	    cap *= 2)
		;
	p = xmalloc(cap);
	if (held > 0)
		memcpy(p, b->p + b->off, held);
	http_buf_free(b);
	b->p = p;
	b->len = held;
	b->cap = cap;
	return cap - held;
}

static void
http_buf_add(struct http_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return;
	http_buf_room(b, n);
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static void
http_warm_set(struct http_conn *c, int warm)
{
	struct http_warm	*w = c->lim.warm;

	if (c->warm == warm)
		return;
	c->warm = warm;
	w->n = warm ? w->n + 1 : w->n - 1;
	if (w->gauge != NULL)
		__atomic_store_n(w->gauge, (int64_t)w->n, __ATOMIC_RELAXED);
}

/* A connection's buffers go back, ours and OpenSSL's. */
static void
http_shed(struct http_conn *c)
{
	http_buf_free(&c->head);
	http_buf_free(&c->body);
	http_buf_free(&c->out);
	if (http_buf_avail(&c->in) == 0)
		http_buf_free(&c->in);
	if (c->ssl != NULL)
		SSL_free_buffers(c->ssl);
	http_warm_set(c, 0);
}

/*
 * Between requests (answered says whether one was): warm if it may be,
 * with a timer that sheds the buffers first and closes the connection at
 * idle_timeout; else the buffers go now.
 */
static void
http_idle(struct http_conn *c, int answered)
{
	struct http_warm	*w = c->lim.warm;

	if (answered && w != NULL &&
	    c->lim.idle_timeout > HTTP_BUFFERS_IDLE_MS &&
	    (c->warm || w->n < w->max)) {
		http_warm_set(c, 1);
		http_timer(c, HTTP_BUFFERS_IDLE_MS);
		c->idle_stage = 1;
		return;
	}
	http_shed(c);
	http_timer(c, c->lim.idle_timeout);
}

/* Have ev registered or not, as want says; *on is what it is now. */
static void
http_io_want(struct event *ev, int *on, int want)
{
	if (want == *on)
		return;
	if (want)
		event_add(ev, NULL);
	else
		event_del(ev);
	*on = want;
}

/* Register for the events the connection waits for now, and no others. */
static void
http_io_update(struct http_conn *c)
{
	http_io_want(c->rev, &c->rev_on, !c->in_full && !c->want_write);
	http_io_want(c->wev, &c->wev_on, c->want_write || c->send_blocked);
}

/* What an SSL call that returned r <= 0 means for the connection. */
static enum http_io
http_ssl_result(struct http_conn *c, int r)
{
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return HTTP_IO_AGAIN;
	case SSL_ERROR_WANT_WRITE:
		c->want_write = 1;
		return HTTP_IO_AGAIN;
	default:
		ERR_clear_error();
		return HTTP_IO_CLOSED;
	}
}

/*
 * The most input held at once: a head, a body, and a chunk line that the
 * chunk parser must see whole.
 */
static size_t
http_in_bound(const struct http_conn *c)
{
	return c->lim.max_header + c->lim.max_body + HTTP_CHUNK_PEEK;
}

/* Read what has arrived, up to the input's bound. */
static enum http_io
http_recv(struct http_conn *c)
{
	size_t	 bound = http_in_bound(c), room;
	ssize_t	 n;
	int	 r;

	c->want_write = 0;
	for (;;) {
		if (http_buf_avail(&c->in) >= bound) {
			c->in_full = 1;
			return HTTP_IO_DONE;
		}
		/* Room for a good part of a record, never past the bound. */
		room = bound - http_buf_avail(&c->in);
		room = http_buf_room(&c->in, room < HTTP_READ_ROOM ? room :
		    HTTP_READ_ROOM);
		if (room > bound - http_buf_avail(&c->in))
			room = bound - http_buf_avail(&c->in);
		if (c->ssl == NULL) {
			n = read(c->fd, c->in.p + c->in.len, room);
			if (n > 0) {
				c->in.len += (size_t)n;
				return HTTP_IO_DONE;
			}
			if (n < 0 && (errno == EAGAIN || errno == EINTR))
				return HTTP_IO_AGAIN;
			return HTTP_IO_CLOSED;
		}
		r = SSL_read(c->ssl, c->in.p + c->in.len,
		    room > INT_MAX ? INT_MAX : (int)room);
		if (r <= 0)
			return http_ssl_result(c, r);
		c->in.len += (size_t)r;
		/* Level-triggered: the loop says when the socket has more. */
		if (!SSL_has_pending(c->ssl))
			return HTTP_IO_DONE;
	}
}

/* Send what the output holds. */
static enum http_io
http_send(struct http_conn *c)
{
	size_t	 n;
	ssize_t	 w;
	int	 r;

	c->send_blocked = 0;
	while ((n = http_buf_avail(&c->out)) > 0) {
		if (c->ssl == NULL) {
			w = send(c->fd, c->out.p + c->out.off, n, MSG_NOSIGNAL);
			if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
				c->send_blocked = 1;
				return HTTP_IO_AGAIN;
			}
			if (w <= 0)
				return HTTP_IO_CLOSED;
			http_buf_consume(&c->out, (size_t)w);
			continue;
		}
		r = SSL_write(c->ssl, c->out.p + c->out.off,
		    n > INT_MAX ? INT_MAX : (int)n);
		if (r <= 0) {
			/* A write waits for the socket to take more. */
			if (SSL_get_error(c->ssl, r) == SSL_ERROR_WANT_WRITE) {
				c->send_blocked = 1;
				return HTTP_IO_AGAIN;
			}
			return http_ssl_result(c, r);
		}
		http_buf_consume(&c->out, (size_t)r);
	}
	return HTTP_IO_DONE;
}

/* Have the output sent from the loop, at the end of http_io_cb(). */
static void
http_queue(struct http_conn *c, const void *p, size_t n)
{
	http_buf_add(&c->out, p, n);
	if (c->nest == 0)
		event_active(c->wev, EV_WRITE, 1);
}

/* Forget the current request, keeping the connection. */
static void
http_reset(struct http_conn *c)
{
	/* The head holds the Authorization header, the body the token. */
	http_buf_wipe(&c->head);
	http_buf_wipe(&c->body);
	HTTP_REQUEST_RESET(&c->req);
	memset(&c->ck, 0, sizeof(c->ck));
	c->data = NULL;
}

static void
http_free(struct http_conn *c)
{
	if (c->dead)
		return;
	c->dead = 1;
	http_warm_set(c, 0);
	http_reset(c);
	http_buf_free(&c->head);
	http_buf_free(&c->body);
	http_buf_free(&c->in);
	http_buf_free(&c->out);
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->timer);
	event_free(c->deadline);
	c->rev = c->wev = c->timer = c->deadline = NULL;
	SSL_free(c->ssl);
	c->ssl = NULL;
	close(c->fd);
	/*
	 * Told last, once the secrets the connection held are wiped: the
	 * owner's count of open connections (and the gauge that shows it)
	 * must never say a connection is gone while its bytes are not.
	 */
	if (c->cb.closed != NULL)
		c->cb.closed(c, c->cb.arg);
	if (c->nest == 0)
		free(c);
}

static void
http_timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_conn	*c = arg;
	uint64_t		 now = monotonic_ms_coarse();

	c->armed = 0;
	if (c->due == 0)
		return;
	if (now < c->due) {
		http_timer_arm(c, now);
		return;
	}
	c->due = 0;
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
	case HCS_IDLE:
		if (c->idle_stage) {
			http_shed(c);
			http_timer(c, c->lim.idle_timeout -
			    HTTP_BUFFERS_IDLE_MS);
		} else
			http_free(c);
		break;
	case HCS_WRITE:
	case HCS_CLOSING:
		log_msg(LL_VERBOSE, "http_timeout", "%s: reply not taken "
		    "within write_timeout", c->peer);
		http_free(c);
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

	if (http_buf_avail(&c->in) > 0 ||
	    (c->ssl != NULL && SSL_has_pending(c->ssl)))
		return 1;
	return ioctl(c->fd, FIONREAD, &n) == 0 && n > 0;
}

static void
http_deadline_add(struct http_conn *c)
{
	struct timeval	tv;

	ms_to_timeval(c->lim.handshake_timeout, &tv);
	evtimer_add(c->deadline, &tv);
	c->deadline_on = 1;
}

/* Has the handshake read anything since the deadline last looked? */
static int
http_progressed(struct http_conn *c)
{
	uint64_t	 n;

	if (c->ssl == NULL || SSL_get_rbio(c->ssl) == NULL)
		return 0;
	n = BIO_number_read(SSL_get_rbio(c->ssl));
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

	c->deadline_on = 0;
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
		http_queue(c, cont, sizeof(cont) - 1);
}

/* Read the request line and headers. */
static enum http_read
http_read_head(struct http_conn *c, struct http_buf *in)
{
	const char	*why = NULL;
	size_t		 avail, hlen;
	int		 code;

	avail = http_buf_avail(in);
	if (c->state == HCS_IDLE) {
		/* Stray CRLFs between requests are allowed (RFC 9112). */
		while (avail >= 2 && memcmp(in->p + in->off, "\r\n", 2) == 0) {
			http_buf_consume(in, 2);
			avail -= 2;
		}
		if (avail == 0)
			return HTTP_READ_WAIT;
		c->state = HCS_HEAD;
		http_timer(c, c->lim.read_timeout);
	}
	code = http_head_length(in->p + in->off, avail, c->lim.max_header,
	    &hlen);
	if (code == HTTP_HEAD_MORE)
		return HTTP_READ_WAIT;
	if (code != 0) {
		http_refuse(c, code, "request header too large");
		return HTTP_READ_REFUSED;
	}
	http_buf_room(&c->head, hlen + 1);
	memcpy(c->head.p, in->p + in->off, hlen);
	c->head.p[hlen] = '\0';
	c->head.len = hlen + 1;
	http_buf_consume(in, hlen);
	if ((code = http_parse_head(c->head.p, hlen, c->lim.max_body, &c->req,
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
http_take_body(struct http_conn *c, struct http_buf *in, size_t n)
{
	if (http_buf_avail(&c->body) + n > c->lim.max_body) {
		http_refuse(c, 413, "request body too large");
		return -1;
	}
	/* One byte more for the NUL of http_body(). */
	http_buf_room(&c->body, n + 1);
	memcpy(c->body.p + c->body.len, in->p + in->off, n);
	c->body.len += n;
	c->body.p[c->body.len] = '\0';
	http_buf_consume(in, n);
	return 0;
}

/* One step of a chunked body. */
static enum http_read
http_read_chunk(struct http_conn *c, struct http_buf *in)
{
	const char	*peek, *why;
	size_t		 n, avail = http_buf_avail(in), npeek;
	int		 r;

	/* A line is looked at whole: at most HTTP_CHUNK_PEEK bytes. */
	npeek = avail < HTTP_CHUNK_PEEK ? avail : HTTP_CHUNK_PEEK;
	if (c->ck.state == HTTP_CK_DATA)
		npeek = 0;
	peek = npeek == 0 ? "" : in->p + in->off;
	r = http_chunked_step(&c->ck, peek, npeek, avail, &n, &why);
	switch (r) {
	case HTTP_CHUNK_MORE:
		return HTTP_READ_WAIT;
	case HTTP_CHUNK_DATA:
		return http_take_body(c, in, n) == 0 ? HTTP_READ_ON :
		    HTTP_READ_REFUSED;
	case HTTP_CHUNK_SKIP:
		http_buf_consume(in, n);
		return HTTP_READ_ON;
	case HTTP_CHUNK_DONE:
		http_buf_consume(in, n);
		return HTTP_READ_DONE;
	default:
		http_refuse(c, r, why);
		return HTTP_READ_REFUSED;
	}
}

/* The review owns its own deadline: the timer, if it fires, finds none. */
static void
http_dispatch(struct http_conn *c)
{
	c->due = 0;
	if (c->deadline_on) {
		evtimer_del(c->deadline);
		c->deadline_on = 0;
	}
	c->state = HCS_BUSY;
	c->cb.request(c, c->cb.arg);
}

static void
http_process(struct http_conn *c)
{
	struct http_buf	*in = &c->in;
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
			need = c->req.clen - http_buf_avail(&c->body);
			avail = http_buf_avail(in);
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
			return;
		}
	}
}

static int
http_reading(const struct http_conn *c)
{
	return c->state == HCS_IDLE || c->state == HCS_HEAD ||
	    c->state == HCS_BODY || c->state == HCS_CHUNKED;
}

/*
 * Read what has arrived and go on with the request it belongs to.  Input
 * that stopped at its bound is read on once the request took its bytes:
 * what OpenSSL holds already would wake no one.
 */
static void
http_input(struct http_conn *c)
{
	size_t	held;

	do {
		c->in_full = 0;
		if (http_recv(c) == HTTP_IO_CLOSED) {
			http_free(c);
			return;
		}
		held = http_buf_avail(&c->in);
		if (c->state == HCS_LINGER || c->state == HCS_CLOSING)
			http_buf_consume(&c->in, held);
		else
			http_process(c);
		/* A request that took nothing of a full input waits for its
		 * timer (408), reading no more. */
	} while (!c->dead && c->in_full && http_reading(c) &&
	    http_buf_avail(&c->in) < held);
}

/* The output is out: on to the next request, the linger or the close. */
static void
http_written(struct http_conn *c)
{
	if (c->state == HCS_CLOSING && c->linger) {
		c->state = HCS_LINGER;
		http_timer(c, HTTP_LINGER_MS);
		c->in_full = 0;
		http_buf_consume(&c->in, http_buf_avail(&c->in));
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
	http_idle(c, 1);
	if (c->in_full || (c->ssl != NULL && SSL_has_pending(c->ssl)))
		http_input(c);
	else if (http_buf_avail(&c->in) > 0)
		http_process(c);
}

static enum http_io
http_flush(struct http_conn *c)
{
	enum http_io	r;

	switch ((r = http_send(c))) {
	case HTTP_IO_AGAIN:
		break;
	case HTTP_IO_CLOSED:
		http_free(c);
		break;
	case HTTP_IO_DONE:
		http_written(c);
		break;
	}
	return r;
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
 * wrong certificate leaves a verify result, a missing one only an error
 * code.
 */
static int
http_client_cert_failed(struct http_conn *c)
{
	unsigned long	 e;
	int		 found = 0;

	while ((e = ERR_get_error()) != 0)
		found |= http_cert_reason(e);
	return found || SSL_get_verify_result(c->ssl) != X509_V_OK;
}

static void
http_handshake(struct http_conn *c)
{
	int	r;

	c->want_write = 0;
	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		c->state = HCS_IDLE;
		http_idle(c, 0);
		/* A request may have come in with the end of the handshake. */
		if (SSL_has_pending(c->ssl))
			http_input(c);
		return;
	}
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		return;
	case SSL_ERROR_WANT_WRITE:
		c->want_write = 1;
		return;
	default:
		break;
	}
	if (c->cb.handshake_failed != NULL)
		c->cb.handshake_failed(c, http_client_cert_failed(c),
		    c->cb.arg);
	ERR_clear_error();
	http_free(c);
}

/*
 * Everything the connection does runs from here: the loop found it
 * readable or writable, or http_reply() asked for its output to leave.
 * Replies made while it runs leave at its end, one after the other.
 */
static void
http_io_cb(evutil_socket_t fd, short what, void *arg)
{
	struct http_conn	*c = arg;

	/*
	 * SSL_get_error() reads the thread's queue: start it empty.  Whoever
	 * fails clears it, so it is empty already; ERR_clear_error() wipes
	 * every slot, seven times the cost of looking.
	 */
	if (ERR_peek_error() != 0)
		ERR_clear_error();
	c->nest++;
	if (c->state == HCS_HANDSHAKE)
		http_handshake(c);
	else if ((what & EV_READ) || (c->want_write && (what & EV_WRITE))) {
		http_input(c);
		/* A reply made just now leaves with the others of the batch. */
		if (!c->dead && (what & EV_READ) && !c->send_blocked &&
		    http_buf_avail(&c->out) > 0) {
			c->nest--;
			event_active(c->wev, EV_WRITE, 1);
			return;
		}
	}
	while (!c->dead && http_buf_avail(&c->out) > 0 &&
	    http_flush(c) == HTTP_IO_DONE)
		;
	c->nest--;
	if (c->dead) {
		if (c->nest == 0)
			free(c);
		return;
	}
	/* Nothing held back (OpenSSL keeps what is): they are not needed. */
	if (c->ssl != NULL && c->state != HCS_IDLE &&
	    c->state != HCS_HANDSHAKE)
		SSL_free_buffers(c->ssl);
	http_io_update(c);
}

struct http_conn *
http_conn_new(struct event_base *base, evutil_socket_t fd, SSL *ssl,
    const struct sockaddr *sa, socklen_t salen,
    const struct http_limits *lim, const struct http_callbacks *cb)
{
	struct http_conn	*c;
	char			 host[INET6_ADDRSTRLEN];
	int			 port = 0;

	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	c->ssl = ssl;
	c->lim = *lim;
	c->cb = *cb;
	c->state = ssl != NULL ? HCS_HANDSHAKE : HCS_IDLE;
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, http_io_cb, c);
	c->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, http_io_cb, c);
	c->timer = evtimer_new(base, http_timer_cb, c);
	c->deadline = evtimer_new(base, http_deadline_cb, c);
	if (c->rev == NULL || c->wev == NULL || c->timer == NULL ||
	    c->deadline == NULL)
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
	if (ssl != NULL) {
		/* Writes may be cut, and retried from another address. */
		SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
		    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
		SSL_set_read_ahead(ssl, 1);
		SSL_set_accept_state(ssl);
	}
	http_io_update(c);
	http_timer(c, ssl != NULL ? c->lim.read_timeout : c->lim.idle_timeout);
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
	if (http_pending(c))
		return 0;
	/* SSL_in_before() turns false at the first attempt, data or not. */
	if (c->ssl != NULL)
		return c->state == HCS_HANDSHAKE &&
		    SSL_get_state(c->ssl) == TLS_ST_BEFORE;
	return c->state == HCS_IDLE && c->deadline_on;
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
	*len = http_buf_avail(&c->body);
	return c->body.p != NULL ? c->body.p : "";
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
	http_buf_room(&c->out, n + len);
	http_buf_add(&c->out, head, n);
	http_queue(c, body, c->req.is_head ? 0 : len);
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
