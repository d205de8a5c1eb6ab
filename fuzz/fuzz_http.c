/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: the bytes a client sends on one HTTP connection, fed
 * to a real http_conn (src/http.c) over a socket pair, as a worker of
 * server.c serves them on either port.  The input is
 *
 *	byte 0	mode: MODE_* bits below
 *	byte 1	seed of the write sizes
 *	rest	what the client sends, in writes of sizes drawn from the seed
 *
 * so that a seed file is a raw request behind two bytes.  The request
 * callback routes as server.c does (the health port serves only the GET
 * endpoints; the review port also reviews, behind a bearer check) and
 * answers at once or from a zero-delay event on the loop, as a review
 * waiting on a source does.  Every request handed over must be one the
 * parser's contract allows: a token for a method, a visible target, field
 * values without control bytes, a body of the announced length.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "tokenreviewd.h"
#include "http.h"

#define MODE_HEALTH	0x01	/* the health port, else the review port */
#define MODE_DEFER	0x02	/* answer from the loop, else at once */
#define MODE_CLOSE	0x04	/* the client closes after its last write */
#define MODE_DRAIN	0x08	/* a reload drains the connection */
#define MODE_SMALL	0x10	/* small header and body limits */

struct fconn {
	struct http_conn	*hc;
	struct event		*later;
	int			 mode;
	int			 closed;
	int			 code;
	const char		*extra;
	char			*body;
	size_t			 len;
};

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

static struct event_base	*base;

static void
check_text(const char *s, int field)
{
	const unsigned char	*p;

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (field ? (*p < 0x20 && *p != '\t') || *p == 0x7f :
		    *p <= 0x20 || *p >= 0x7f)
			abort();
	}
	if (field && *s != '\0' && (s[0] == ' ' || s[0] == '\t' ||
	    p[-1] == ' ' || p[-1] == '\t'))
		abort();
}

/* What the parser promises about a request it hands over. */
static void
check_request(struct http_conn *hc)
{
	static const char *const names[] = {
		"host", "content-type", "content-length", "authorization",
		"transfer-encoding", "connection", "expect", "x-a",
	};
	const char	*v, *body;
	size_t		 i, len;

	if (http_method(hc) == NULL || http_path(hc) == NULL ||
	    http_path(hc)[0] != '/' || http_method(hc)[0] == '\0')
		abort();
	check_text(http_method(hc), 0);
	check_text(http_path(hc), 0);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if ((v = http_header(hc, names[i])) != NULL)
			check_text(v, 1);
	}
	body = http_body(hc, &len);
	if (body[len] != '\0')
		abort();
	if ((v = http_header(hc, "content-length")) != NULL &&
	    strtoull(v, NULL, 10) != len)
		abort();
	if (http_header(hc, "content-length") != NULL &&
	    http_header(hc, "transfer-encoding") != NULL)
		abort();
}

static void
answer_status(struct fconn *fc, int code, const char *msg)
{
	fc->code = code;
	fc->body = review_status_encode(code, "Fuzz", msg, &fc->len);
}

static int
is_review_path(const char *path)
{
	return strcmp(path, "/tokenreview") == 0 ||
	    strcmp(path, "/apis/authentication.k8s.io/v1/tokenreviews") == 0 ||
	    strcmp(path, "/apis/authentication.k8s.io/v1beta1/tokenreviews") ==
	    0;
}

/* As handle_review() in server.c, without the sources. */
static void
route_review(struct fconn *fc)
{
	struct review_request	 rr;
	const char		*auth, *ct, *body;
	char			 err[TR_ERRLEN];
	size_t			 len;

	if (strcmp(http_method(fc->hc), "POST") != 0) {
		answer_status(fc, 405, "only POST");
		fc->extra = "Allow: POST\r\n";
		return;
	}
	auth = http_header(fc->hc, "authorization");
	if (auth == NULL || strcmp(auth, "Bearer fuzz") != 0) {
		answer_status(fc, 401, "caller not authenticated");
		fc->extra = "WWW-Authenticate: Bearer realm=\"fuzz\"\r\n";
		return;
	}
	ct = http_header(fc->hc, "content-type");
	if (ct != NULL && strncasecmp(ct, "application/json", 16) != 0) {
		answer_status(fc, 415, "not JSON");
		return;
	}
	body = http_body(fc->hc, &len);
	if (review_decode(body, len, &rr, err, sizeof(err)) != 0) {
		answer_status(fc, 400, err);
		return;
	}
	review_request_clear(&rr);
	fc->code = 200;
	fc->body = xstrdup("{\"kind\":\"TokenReview\"}");
	fc->len = strlen(fc->body);
}

/* As request_cb() in server.c. */
static void
route(struct fconn *fc)
{
	const char	*path = http_path(fc->hc), *m = http_method(fc->hc);

	fc->extra = NULL;
	if (!(fc->mode & MODE_HEALTH) && is_review_path(path))
		route_review(fc);
	else if (strcmp(path, "/healthz") == 0 || strcmp(path, "/livez") == 0 ||
	    strcmp(path, "/readyz") == 0 || strcmp(path, "/metrics") == 0) {
		if (strcmp(m, "GET") != 0 && strcmp(m, "HEAD") != 0) {
			answer_status(fc, 405, "only GET and HEAD");
			fc->extra = "Allow: GET, HEAD\r\n";
		} else {
			fc->code = 200;
			fc->body = xstrdup("ok\n");
			fc->len = 3;
		}
	} else
		answer_status(fc, 404, "no such path");
}

static void
answer(struct fconn *fc)
{
	http_reply(fc->hc, fc->code, "application/json", fc->body, fc->len,
	    fc->extra);
	free(fc->body);
	fc->body = NULL;
}

static void
later_cb(evutil_socket_t fd, short events, void *arg)
{
	answer(arg);
}

static void
request_cb(struct http_conn *hc, void *arg)
{
	struct fconn		*fc = arg;
	const struct timeval	 zero = { 0, 0 };

	check_request(hc);
	route(fc);
	if (fc->mode & MODE_DRAIN)
		http_conn_drain(hc);
	if (fc->mode & MODE_DEFER)
		evtimer_add(fc->later, &zero);
	else
		answer(fc);
}

static void
closed_cb(struct http_conn *hc, void *arg)
{
	struct fconn	*fc = arg;

	/* As server.c drops a review whose client left. */
	evtimer_del(fc->later);
	free(fc->body);
	fc->body = NULL;
	fc->closed = 1;
}

/* Run what is ready on the loop, zero-delay events included. */
static void
run_loop(void)
{
	int	i, j;

	for (j = 0; j < 3; j++) {
		i = 0;
		do {
			event_base_loop(base, EVLOOP_NONBLOCK);
		} while (event_base_get_num_events(base,
		    EVENT_BASE_COUNT_ACTIVE) > 0 && ++i < 100);
	}
}

static size_t
next_size(unsigned *rng, size_t left)
{
	static const size_t	sizes[] = { 1, 2, 3, 5, 8, 17, 64, 509 };
	size_t			n;

	*rng = *rng * 1103515245 + 12345;
	n = (*rng >> 16) & 8 ? left : sizes[(*rng >> 16) & 7];
	return n < left ? n : left;
}

/* What the client got: how much, and its first bytes. */
struct fout {
	size_t	n;
	char	head[9];
};

/* Take what the daemon side wrote, so that its writes never block. */
static void
client_read(int fd, struct fout *o)
{
	char	buf[4096];
	ssize_t	r;

	while ((r = read(fd, buf, sizeof(buf))) > 0) {
		if (o->n < sizeof(o->head))
			memcpy(o->head + o->n, buf, (size_t)r <
			    sizeof(o->head) - o->n ? (size_t)r :
			    sizeof(o->head) - o->n);
		o->n += (size_t)r;
	}
}

/* Every answer starts with a status line. */
static void
check_output(const struct fout *o)
{
	if (o->n > 0 && (o->n < 9 || memcmp(o->head, "HTTP/1.1 ", 9) != 0))
		abort();
}

static void
client_write(int fd, const uint8_t *p, size_t n)
{
	ssize_t	w;

	while (n > 0 && (w = write(fd, p, n)) > 0) {
		p += w;
		n -= (size_t)w;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	static const struct http_callbacks base_cb = {
		request_cb, closed_cb, NULL, NULL
	};
	struct http_callbacks	 cb = base_cb;
	/* A cap of one: inputs meet the warm connection and the cap. */
	static struct http_warm	 warm = { 0, 1, NULL };
	struct http_limits	 lim = {
		16384, 65536, 60000, 60000, 60000, 60000, &warm
	};
	struct sockaddr_in	 sin;
	struct fconn		*fc;
	struct fout		 out;
	unsigned		 rng;
	size_t			 pos, n;
	int			 sv[2];

	if (base == NULL) {
		log_init(LL_WARN);
		if ((base = event_base_new()) == NULL)
			abort();
	}
	if (len < 2)
		return 0;
	fc = xcalloc(1, sizeof(*fc));
	fc->mode = data[0];
	rng = data[1];
	data += 2;
	len -= 2;
	if (fc->mode & MODE_SMALL) {
		lim.max_header = 256;
		lim.max_body = 512;
	}
	memset(&out, 0, sizeof(out));
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 ||
	    evutil_make_socket_nonblocking(sv[0]) != 0 ||
	    evutil_make_socket_nonblocking(sv[1]) != 0 ||
	    (fc->later = evtimer_new(base, later_cb, fc)) == NULL)
		abort();
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(40000);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cb.arg = fc;
	fc->hc = http_conn_new(base, sv[0], NULL, (struct sockaddr *)&sin,
	    sizeof(sin), &lim, &cb);
	for (pos = 0; pos < len && !fc->closed; pos += n) {
		n = next_size(&rng, len - pos);
		client_write(sv[1], data + pos, n);
		run_loop();
		client_read(sv[1], &out);
	}
	if ((fc->mode & MODE_CLOSE) && !fc->closed) {
		/* The client hangs up, maybe in the middle of a request. */
		shutdown(sv[1], SHUT_WR);
		run_loop();
	}
	client_read(sv[1], &out);
	check_output(&out);
	if (!fc->closed)
		http_conn_close(fc->hc);
	close(sv[1]);
	event_free(fc->later);
	free(fc->body);
	free(fc);
	run_loop();
	/* A closed connection is warm no longer, whatever it went through. */
	if (warm.n != 0)
		abort();
	return 0;
}
