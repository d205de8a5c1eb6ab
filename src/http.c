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

#include <ctype.h>
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

#define HTTP_MAX_HEADERS	100
#define HTTP_MAX_CHUNK_LINE	64

enum conn_state {
	CS_HANDSHAKE,	/* TLS handshake running */
	CS_IDLE,	/* between requests */
	CS_HEAD,	/* reading a request line and headers */
	CS_BODY,	/* reading a Content-Length body */
	CS_CHUNKED,	/* reading a chunked body */
	CS_BUSY,	/* request handed to the server, no reply yet */
	CS_WRITE,	/* reply being sent, then the next request */
	CS_CLOSING,	/* last reply being sent, then close */
	CS_LINGER,	/* refused a request mid-stream: read and drop */
};

/*
 * After refusing a request that was still arriving (413, 431), closing at
 * once would make the kernel reset the connection over the unread bytes,
 * and the client might never see our answer.  Read and drop for this long.
 */
#define HTTP_LINGER_MS		2000

enum chunk_state {
	CK_SIZE,	/* expecting "hex[;ext]\r\n" */
	CK_DATA,	/* chunk bytes */
	CK_DATA_END,	/* the CRLF after the data */
	CK_TRAILER,	/* trailer lines until an empty one */
};

struct http_header {
	const char	*name;
	const char	*value;
};

struct http_conn {
	struct bufferevent	*bev;
	struct event		*timer;
	struct event		*deadline;	/* until the first request */
	uint64_t		 deadline_seen;	/* bytes read at its last run */
	struct http_limits	 lim;
	struct http_callbacks	 cb;
	enum conn_state		 state;
	char			 peer[INET6_ADDRSTRLEN + 8];
	int			 draining;
	int			 linger;	/* CS_LINGER after the reply */

	/* the request being read or served; head holds the strings */
	char			*head;
	const char		*method;
	const char		*path;
	struct http_header	 hdr[HTTP_MAX_HEADERS];
	size_t			 nhdr;
	int			 keepalive;
	int			 is_head;
	size_t			 clen;
	struct evbuffer		*body;
	char			*body_flat;
	enum chunk_state	 chunk;
	size_t			 chunk_left;
	void			*data;
};

static void	conn_process(struct http_conn *);
static void	conn_free(struct http_conn *);
static void	conn_error(struct http_conn *, int, const char *);

static const char *
status_text(int code)
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
conn_timer(struct http_conn *c, long long ms)
{
	struct timeval	tv;

	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(c->timer, &tv);
}

/* Forget the current request, keeping the connection. */
static void
request_reset(struct http_conn *c)
{
	const char	*auth;

	/* The Authorization header may carry a bearer secret. */
	if ((auth = http_header(c, "authorization")) != NULL)
		OPENSSL_cleanse((char *)auth, strlen(auth));
	free(c->head);
	c->head = NULL;
	free(c->body_flat);
	c->body_flat = NULL;
	if (c->body != NULL)
		evbuffer_drain(c->body, evbuffer_get_length(c->body));
	c->method = c->path = NULL;
	c->nhdr = 0;
	c->keepalive = 0;
	c->is_head = 0;
	c->clen = 0;
	c->chunk = CK_SIZE;
	c->chunk_left = 0;
	c->data = NULL;
}

static void
conn_free(struct http_conn *c)
{
	if (c->cb.closed != NULL)
		c->cb.closed(c, c->cb.arg);
	request_reset(c);
	if (c->body != NULL)
		evbuffer_free(c->body);
	event_free(c->timer);
	event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
}

static void
timer_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_conn	*c = arg;

	switch (c->state) {
	case CS_HEAD:
	case CS_BODY:
	case CS_CHUNKED:
		log_msg(LL_VERBOSE, "http_timeout", "%s: request not "
		    "complete within read_timeout", c->peer);
		conn_error(c, 408, "request not received in time");
		break;
	case CS_HANDSHAKE:
		log_msg(LL_VERBOSE, "tls_timeout", "%s: TLS handshake not "
		    "complete within read_timeout", c->peer);
		conn_free(c);
		break;
	case CS_BUSY:
		/* The review owns its own deadline. */
		break;
	default:
		conn_free(c);
		break;
	}
}

/* Has the peer sent bytes that the loop has not got to yet? */
static int
conn_pending(const struct http_conn *c)
{
	int	n = 0;

	if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		return 1;
	return ioctl(bufferevent_getfd(c->bev), FIONREAD, &n) == 0 && n > 0;
}

static void
deadline_add(struct http_conn *c)
{
	struct timeval	tv;

	tv.tv_sec = c->lim.handshake_timeout / 1000;
	tv.tv_usec = (c->lim.handshake_timeout % 1000) * 1000;
	evtimer_add(c->deadline, &tv);
}

/* Has the handshake read anything since the deadline last looked? */
static int
conn_progressed(struct http_conn *c)
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
deadline_cb(evutil_socket_t fd, short events, void *arg)
{
	struct http_conn	*c = arg;

	if (c->state == CS_HANDSHAKE && conn_progressed(c)) {
		deadline_add(c);
		return;
	}
	switch (c->state) {
	case CS_HEAD:
	case CS_BODY:
	case CS_CHUNKED:
		if (conn_pending(c))
			deadline_add(c);
		else {
			log_msg(LL_VERBOSE, "http_timeout", "%s: first request "
			    "not complete within handshake_timeout", c->peer);
			conn_error(c, 408, "request not received in time");
		}
		break;
	case CS_HANDSHAKE:
	case CS_IDLE:
		if (conn_pending(c))
			deadline_add(c);
		else {
			log_msg(LL_VERBOSE, "handshake_timeout", "%s: %s "
			    "within handshake_timeout", c->peer,
			    c->state == CS_HANDSHAKE ?
			    "TLS handshake not complete" : "no request");
			conn_free(c);
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
	size_t	i;

	for (i = 0; i < c->nhdr; i++) {
		if (strcasecmp(c->hdr[i].name, name) == 0)
			return c->hdr[i].value;
	}
	return NULL;
}

static int
is_tchar(int ch)
{
	return isalnum(ch) || (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Split "Name: value" in place; -1 if it is not a valid header line. */
static int
parse_header_line(struct http_conn *c, char *line)
{
	char	*colon, *v, *end;

	if (c->nhdr == HTTP_MAX_HEADERS)
		return -1;
	for (colon = line; is_tchar((unsigned char)*colon); colon++)
		;
	if (colon == line || *colon != ':')
		return -1;
	*colon = '\0';
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	end = v + strlen(v);
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		*--end = '\0';
	c->hdr[c->nhdr].name = line;
	c->hdr[c->nhdr].value = v;
	c->nhdr++;
	return 0;
}

static int
parse_request_line(struct http_conn *c, char *line, int *http11)
{
	char	*target, *version, *q;

	if ((target = strchr(line, ' ')) == NULL)
		return -1;
	*target++ = '\0';
	if ((version = strchr(target, ' ')) == NULL)
		return -1;
	*version++ = '\0';
	if (*line == '\0' || *target != '/')
		return -1;
	for (q = line; *q != '\0'; q++) {
		if (!is_tchar((unsigned char)*q))
			return -1;
	}
	if (strcmp(version, "HTTP/1.1") == 0)
		*http11 = 1;
	else if (strcmp(version, "HTTP/1.0") == 0)
		*http11 = 0;
	else
		return -1;
	/* kube-apiserver appends ?timeout=30s: the path alone counts. */
	if ((q = strpbrk(target, "?#")) != NULL)
		*q = '\0';
	c->method = line;
	c->path = target;
	c->is_head = strcmp(line, "HEAD") == 0;
	return 0;
}

static int
token_in_list(const char *list, const char *token)
{
	size_t	n = strlen(token);

	while (list != NULL && *list != '\0') {
		while (*list == ' ' || *list == ',' || *list == '\t')
			list++;
		if (strncasecmp(list, token, n) == 0 &&
		    (list[n] == '\0' || list[n] == ',' || list[n] == ' '))
			return 1;
		list += strcspn(list, ",");
	}
	return 0;
}

/*
 * Parse the header block and decide how the body is framed.  Returns 0,
 * or an HTTP status to refuse the request with.
 */
static int
parse_head(struct http_conn *c, const char **why)
{
	const char	*cl, *te, *conn;
	char		*line, *next;
	long long	 v;
	int		 http11 = 1;

	line = c->head;
	next = strstr(line, "\r\n");
	*next = '\0';
	if (parse_request_line(c, line, &http11) != 0) {
		*why = "malformed request line";
		return 400;
	}
	for (line = next + 2; *line != '\0'; line = next + 2) {
		next = strstr(line, "\r\n");
		*next = '\0';
		if (*line == '\0')
			break;
		if (parse_header_line(c, line) != 0) {
			*why = c->nhdr == HTTP_MAX_HEADERS ?
			    "too many header fields" : "malformed header field";
			return c->nhdr == HTTP_MAX_HEADERS ? 431 : 400;
		}
	}
	conn = http_header(c, "connection");
	if (http11)
		c->keepalive = !token_in_list(conn, "close");
	else
		c->keepalive = token_in_list(conn, "keep-alive");
	cl = http_header(c, "content-length");
	te = http_header(c, "transfer-encoding");
	if (te != NULL) {
		/* Both framings at once is how requests get smuggled. */
		if (cl != NULL || strcasecmp(te, "chunked") != 0) {
			*why = "unsupported Transfer-Encoding";
			return cl != NULL ? 400 : 501;
		}
		c->state = CS_CHUNKED;
		return 0;
	}
	if (cl != NULL) {
		if (parse_number(cl, 0, 1LL << 50, &v) != 0) {
			*why = "bad Content-Length";
			return 400;
		}
		c->clen = (size_t)v;
		if (c->clen > c->lim.max_body) {
			*why = "request body too large";
			return 413;
		}
	}
	c->state = CS_BODY;
	return 0;
}

static void
send_continue(struct http_conn *c)
{
	static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
	const char	  *expect;

	expect = http_header(c, "expect");
	if (expect != NULL && strcasecmp(expect, "100-continue") == 0 &&
	    (c->state == CS_CHUNKED || c->clen > 0))
		bufferevent_write(c->bev, cont, sizeof(cont) - 1);
}

/* Read the request line and headers.  1: go on, 0: wait for more data. */
static int
read_head(struct http_conn *c, struct evbuffer *in)
{
	struct evbuffer_ptr	 end;
	const char		*why = NULL;
	size_t			 avail, hlen;
	int			 code;

	avail = evbuffer_get_length(in);
	if (c->state == CS_IDLE) {
		/* Stray CRLFs between requests are allowed (RFC 9112). */
		while (avail >= 2 && memcmp(evbuffer_pullup(in, 2), "\r\n",
		    2) == 0) {
			evbuffer_drain(in, 2);
			avail -= 2;
		}
		if (avail == 0)
			return 0;
		c->state = CS_HEAD;
		conn_timer(c, c->lim.read_timeout);
	}
	end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
	if (end.pos < 0 || (size_t)end.pos + 4 > c->lim.max_header) {
		if (avail > c->lim.max_header || (end.pos >= 0))
			conn_error(c, 431, "request header too large");
		return 0;
	}
	hlen = (size_t)end.pos + 4;
	c->head = xmalloc(hlen + 1);
	evbuffer_remove(in, c->head, hlen);
	c->head[hlen] = '\0';
	if ((code = parse_head(c, &why)) != 0) {
		log_msg(LL_VERBOSE, "http_bad_request", "%s: %s", c->peer,
		    why);
		conn_error(c, code, why);
		return 0;
	}
	send_continue(c);
	return 1;
}

/* Move up to n bytes of body; 413 if the body would grow too large. */
static int
take_body(struct http_conn *c, struct evbuffer *in, size_t n)
{
	if (evbuffer_get_length(c->body) + n > c->lim.max_body) {
		conn_error(c, 413, "request body too large");
		return -1;
	}
	evbuffer_remove_buffer(in, c->body, n);
	return 0;
}

/* One step of a chunked body.  1: go on, 0: wait, -1: answered. */
static int
read_chunk(struct http_conn *c, struct evbuffer *in)
{
	char		*line, *end;
	size_t		 n, avail = evbuffer_get_length(in);
	unsigned long	 size;

	if (c->chunk == CK_DATA) {
		n = avail < c->chunk_left ? avail : c->chunk_left;
		if (n == 0)
			return 0;
		if (take_body(c, in, n) != 0)
			return -1;
		c->chunk_left -= n;
		if (c->chunk_left == 0)
			c->chunk = CK_DATA_END;
		return 1;
	}
	line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF_STRICT);
	if (line == NULL) {
		if (avail > HTTP_MAX_CHUNK_LINE + c->lim.max_header) {
			conn_error(c, 400, "chunk line too long");
			return -1;
		}
		return 0;
	}
	switch (c->chunk) {
	case CK_SIZE:
		size = strtoul(line, &end, 16);
		if (end == line || (*end != '\0' && *end != ';') ||
		    !isxdigit((unsigned char)*line) || size > c->lim.max_body) {
			free(line);
			conn_error(c, size > c->lim.max_body ? 413 : 400,
			    "bad chunk");
			return -1;
		}
		c->chunk_left = size;
		c->chunk = size == 0 ? CK_TRAILER : CK_DATA;
		break;
	case CK_DATA_END:
		c->chunk = CK_SIZE;
		if (n != 0) {
			free(line);
			conn_error(c, 400, "bad chunk end");
			return -1;
		}
		break;
	default:
		if (n == 0) {
			free(line);
			return 2;	/* body complete */
		}
		break;
	}
	free(line);
	return 1;
}

static void
dispatch(struct http_conn *c)
{
	evtimer_del(c->timer);
	evtimer_del(c->deadline);
	c->state = CS_BUSY;
	c->cb.request(c, c->cb.arg);
}

static void
conn_process(struct http_conn *c)
{
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	size_t		 need, avail;
	int		 r;

	for (;;) {
		switch (c->state) {
		case CS_IDLE:
		case CS_HEAD:
			if (!read_head(c, in))
				return;
			break;
		case CS_BODY:
			need = c->clen - evbuffer_get_length(c->body);
			avail = evbuffer_get_length(in);
			if (take_body(c, in, avail < need ? avail : need) != 0)
				return;
			if (avail < need)
				return;
			dispatch(c);
			return;
		case CS_CHUNKED:
			while ((r = read_chunk(c, in)) == 1)
				;
			if (r == 2)
				dispatch(c);
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
read_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn	*c = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);

	if (c->state == CS_LINGER || c->state == CS_CLOSING)
		evbuffer_drain(in, evbuffer_get_length(in));
	else
		conn_process(c);
}

static void
write_cb(struct bufferevent *bev, void *arg)
{
	struct http_conn	*c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (c->state == CS_CLOSING && c->linger) {
		c->state = CS_LINGER;
		conn_timer(c, HTTP_LINGER_MS);
		bufferevent_enable(c->bev, EV_READ);
		evbuffer_drain(bufferevent_get_input(bev),
		    evbuffer_get_length(bufferevent_get_input(bev)));
		return;
	}
	if (c->state == CS_CLOSING) {
		conn_free(c);
		return;
	}
	if (c->state != CS_WRITE)
		return;
	c->state = CS_IDLE;
	request_reset(c);
	conn_timer(c, c->lim.idle_timeout);
	bufferevent_enable(c->bev, EV_READ);
	conn_process(c);
}

/* Was the handshake refused because of the client's certificate? */
static int
client_cert_failed(struct http_conn *c)
{
	SSL		*ssl = bufferevent_openssl_get_ssl(c->bev);
	unsigned long	 e;
	int		 reason = 0;

	while ((e = ERR_get_error()) != 0)
		reason = ERR_GET_REASON(e);
	return SSL_get_verify_result(ssl) != X509_V_OK ||
	    reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE ||
	    reason == SSL_R_CERTIFICATE_VERIFY_FAILED;
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct http_conn	*c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		c->state = CS_IDLE;
		conn_timer(c, c->lim.idle_timeout);
		/* A request may have come in with the end of the handshake. */
		conn_process(c);
		return;
	}
	if (c->state == CS_HANDSHAKE && c->cb.handshake_failed != NULL)
		c->cb.handshake_failed(c, client_cert_failed(c), c->cb.arg);
	ERR_clear_error();
	conn_free(c);
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
	c->state = CS_HANDSHAKE;
	c->body = evbuffer_new();
	c->timer = evtimer_new(base, timer_cb, c);
	c->deadline = evtimer_new(base, deadline_cb, c);
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
		c->state = CS_IDLE;
	bufferevent_setcb(bev, read_cb, write_cb, event_cb, c);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	conn_timer(c, tls ? c->lim.read_timeout : c->lim.idle_timeout);
	deadline_add(c);
	return c;
}

void
http_conn_close(struct http_conn *c)
{
	conn_free(c);
}

void
http_conn_drain(struct http_conn *c)
{
	c->draining = 1;
	if (c->state == CS_IDLE || c->state == CS_HANDSHAKE)
		conn_free(c);
}

int
http_conn_idle(const struct http_conn *c)
{
	return c->state == CS_IDLE;
}

/* The deadline runs until the first request is whole. */
int
http_conn_silent(const struct http_conn *c)
{
	SSL	*ssl = bufferevent_openssl_get_ssl(c->bev);

	if (conn_pending(c))
		return 0;
	/* SSL_in_before() turns false at the first attempt, data or not. */
	if (ssl != NULL)
		return c->state == CS_HANDSHAKE &&
		    SSL_get_state(ssl) == TLS_ST_BEFORE;
	return c->state == CS_IDLE && evtimer_pending(c->deadline, NULL);
}

const char *
http_method(const struct http_conn *c)
{
	return c->method;
}

const char *
http_path(const struct http_conn *c)
{
	return c->path;
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
head_add(char *buf, size_t size, size_t *n, const char *s, size_t len)
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
	const char	*text = status_text(code);
	char		 head[512], num[24];
	size_t		 n = 0, v = len;
	int		 keep, k;

	/* No printf here: this runs for every review. */
	keep = c->keepalive && !c->draining && c->state == CS_BUSY;
	num[0] = (char)('0' + code / 100);
	num[1] = (char)('0' + code / 10 % 10);
	num[2] = (char)('0' + code % 10);
	if (head_add(head, sizeof(head), &n, "HTTP/1.1 ", 9) != 0 ||
	    head_add(head, sizeof(head), &n, num, 3) != 0 ||
	    head_add(head, sizeof(head), &n, " ", 1) != 0 ||
	    head_add(head, sizeof(head), &n, text, strlen(text)) != 0 ||
	    head_add(head, sizeof(head), &n, "\r\nContent-Type: ", 16) != 0 ||
	    head_add(head, sizeof(head), &n, ctype, strlen(ctype)) != 0 ||
	    head_add(head, sizeof(head), &n, "\r\nContent-Length: ", 18) != 0)
		fatalx("http_reply: header too long");
	k = sizeof(num);
	do {
		num[--k] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	if (head_add(head, sizeof(head), &n, num + k, sizeof(num) - k) != 0 ||
	    head_add(head, sizeof(head), &n, "\r\n", 2) != 0 ||
	    (!keep && head_add(head, sizeof(head), &n,
	    "Connection: close\r\n", 19) != 0) ||
	    (extra_headers != NULL && head_add(head, sizeof(head), &n,
	    extra_headers, strlen(extra_headers)) != 0))
		fatalx("http_reply: header too long");
	memcpy(head + n, "\r\n", 2);
	n += 2;
	c->state = keep ? CS_WRITE : CS_CLOSING;
	conn_timer(c, c->lim.write_timeout);
	evbuffer_add(out, head, n);
	if (!c->is_head)
		evbuffer_add(out, body, len);
}

/* Refuse the request being read with a Status body and close. */
static void
conn_error(struct http_conn *c, int code, const char *why)
{
	char	*body;
	size_t	 len;

	body = review_status_encode(code, status_text(code), why, &len);
	c->keepalive = 0;
	c->linger = 1;
	c->state = CS_BUSY;
	http_reply(c, code, "application/json", body, len, NULL);
	free(body);
}
