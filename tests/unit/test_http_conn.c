/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * What a connection of src/http.c leaves behind once a request is done:
 * the input buffer and the head (with the caller's bearer secret) and the
 * body (with the token under review) must be wiped before their memory is
 * freed.  A review goes over a socket pair in plain HTTP; every block
 * freed (linked with -Wl,--wrap=free) is searched for the secrets.
 * A connection that answered stays warm (keeps its buffers, wiped, for
 * the next request) until it has been idle a second, and a worker keeps
 * no more warm connections than its cap.  Replies to requests read in
 * one pass of the loop are written together, after all of them.
 */

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "tokenreviewd.h"
#include "http.h"
#include "tap.h"

#define SECRET	"Bsecret-of-the-caller-0123456789"
#define TOKEN	"Tthe-token-under-review-987654321"

void	*__real_free(void *);
void	 __wrap_free(void *);

static size_t	 seen;			/* blocks searched */
static size_t	 left_secret, left_token;
static int	 requests;
static char	 body_seen[256];

static int
holds(const void *p, size_t n, const char *s)
{
	return memmem(p, n, s, strlen(s)) != NULL;
}

void
__wrap_free(void *p)
{
	size_t	n;

	if (p != NULL) {
		n = malloc_usable_size(p);
		seen++;
		left_secret += holds(p, n, SECRET);
		left_token += holds(p, n, TOKEN);
	}
	__real_free(p);
}

static void
request_cb(struct http_conn *hc, void *arg)
{
	const char	*body;
	size_t		 len;

	requests++;
	body = http_body(hc, &len);
	strlcpy(body_seen, body, sizeof(body_seen));
	http_reply(hc, 200, "text/plain", "ok\n", 3, NULL);
}

/*
 * Batches: arg is the other connection's client socket.  The second
 * request of a pass notes whether the first one's reply has been written.
 */
static int	 batch_requests;
static int	 batch_other_had;	/* bytes the other client could read */

static void
batch_request_cb(struct http_conn *hc, void *arg)
{
	int	n = 0;

	if (batch_requests++ == 1 && ioctl(*(int *)arg, FIONREAD, &n) == 0)
		batch_other_had = n;
	http_reply(hc, 200, "text/plain", "ok\n", 3, NULL);
}

/*
 * Two connections whose requests the loop finds ready together: both are
 * read and answered before either reply is written, and one pass of the
 * loop writes both.
 */
static void
test_batch(struct event_base *base, const struct http_limits *lim)
{
	struct http_callbacks	 cb = { batch_request_cb, NULL, NULL, NULL };
	struct http_conn	*hc[2];
	struct sockaddr_in	 sin;
	const char		*req = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
	char			 got[256];
	int			 sv[2][2], i, answered = 0;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	for (i = 0; i < 2; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv[i]) != 0 ||
		    evutil_make_socket_nonblocking(sv[i][0]) != 0)
			exit(1);
	}
	for (i = 0; i < 2; i++) {
		cb.arg = &sv[1 - i][1];
		hc[i] = http_conn_new(base, sv[i][0], NULL,
		    (struct sockaddr *)&sin, sizeof(sin), lim, &cb);
		if (write(sv[i][1], req, strlen(req)) != (ssize_t)strlen(req))
			exit(1);
	}
	event_base_loop(base, EVLOOP_ONCE);
	is_int(batch_requests, 2, "batch: one pass of the loop reads both "
	    "requests");
	is_int(batch_other_had, 0, "batch: the first reply is not written "
	    "before the second request is answered");
	for (i = 0; i < 2; i++)
		answered += read(sv[i][1], got, sizeof(got)) > 12 &&
		    memcmp(got, "HTTP/1.1 200", 12) == 0;
	is_int(answered, 2, "batch: ... and the same pass writes both replies");
	for (i = 0; i < 2; i++) {
		http_conn_close(hc[i]);
		close(sv[i][1]);
	}
}

static void
closed_cb(struct http_conn *hc, void *arg)
{
	*(int *)arg = 1;
}

static void
run(struct event_base *base)
{
	int	i;

	for (i = 0; i < 20; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
}

/* One review over fd, answered: whether the answer was a 200. */
static int
review(struct event_base *base, int fd, const char *head, const char *body)
{
	char	got[256];
	ssize_t	r;

	if (write(fd, head, strlen(head)) != (ssize_t)strlen(head) ||
	    write(fd, body, strlen(body)) != (ssize_t)strlen(body))
		return 0;
	run(base);
	r = read(fd, got, sizeof(got) - 1);
	return r > 12 && memcmp(got, "HTTP/1.1 200", 12) == 0;
}

int
main(void)
{
	struct http_warm	 warm = { 0, 1, NULL };
	struct http_limits	 lim = {
		16384, 65536, 60000, 60000, 60000, 60000, &warm
	};
	struct http_callbacks	 cb = { request_cb, closed_cb, NULL, NULL };
	struct event_base	*base;
	struct http_conn	*hc, *hc2;
	struct sockaddr_in	 sin;
	char			 head[256], got[256], *p;
	const char		*body = "{\"spec\":{\"token\":\"" TOKEN "\"}}";
	size_t			 n;
	ssize_t			 r;
	int			 closed = 0, closed2 = 0, sv[2], sv2[2];
	size_t			 seen0;
	int			 i;

	log_init(LL_ERROR);
	if ((base = event_base_new()) == NULL ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 ||
	    evutil_make_socket_nonblocking(sv[0]) != 0)
		return 1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	cb.arg = &closed;
	hc = http_conn_new(base, sv[0], NULL, (struct sockaddr *)&sin,
	    sizeof(sin), &lim, &cb);

	snprintf(head, sizeof(head), "POST /tokenreview HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: Bearer %s\r\nContent-Length: %zu\r\n\r\n", SECRET,
	    strlen(body));
	if (write(sv[1], head, strlen(head)) != (ssize_t)strlen(head))
		return 1;
	run(base);
	is_int(requests, 0, "the head alone is no request yet");
	if (write(sv[1], body, strlen(body)) != (ssize_t)strlen(body))
		return 1;
	run(base);
	is_int(requests, 1, "the body completes the request");
	is_str(body_seen, body, "the server saw the body");
	r = read(sv[1], got, sizeof(got) - 1);
	ok(r > 12 && memcmp(got, "HTTP/1.1 200", 12) == 0,
	    "and the client its answer");
	ok(!closed, "the connection is kept for the next request");
	is_int(warm.n, 1, "and stays warm: it keeps its buffers");

	is_int(seen, 0, "nothing was freed yet: it keeps its buffers");
	is_int(left_secret, 0, "the input and the head with the bearer "
	    "secret were wiped before they were freed");
	is_int(left_token, 0, "the input and the body were wiped before "
	    "they were freed");

	/* The checks above can see a secret: one freed unwiped is found. */
	n = left_secret + left_token;
	p = xstrdup("x " SECRET " " TOKEN);
	free(p);
	is_int(left_secret + left_token, n + 2,
	    "a block freed with the secret in it is found");

	/* Idle for a second, the connection gives its buffers back. */
	seen0 = seen;
	for (i = 0; i < 10 && warm.n > 0; i++)
		event_base_loop(base, EVLOOP_ONCE);
	is_int(warm.n, 0, "idle for a second, it is warm no longer");
	ok(seen > seen0, "its buffers were freed (%zu)", seen - seen0);
	is_int(left_secret + left_token, n + 2, "with no secret in them");
	ok(!closed, "and the connection stays open");
	ok(review(base, sv[1], head, body), "a second review on it is "
	    "answered");
	is_int(warm.n, 1, "and it is warm again");

	/* The worker's cap is 1: a second connection is not kept warm. */
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv2) != 0 ||
	    evutil_make_socket_nonblocking(sv2[0]) != 0)
		return 1;
	cb.arg = &closed2;
	hc2 = http_conn_new(base, sv2[0], NULL, (struct sockaddr *)&sin,
	    sizeof(sin), &lim, &cb);
	seen0 = seen;
	ok(review(base, sv2[1], head, body), "a review on a second "
	    "connection is answered");
	is_int(warm.n, 1, "which is not warm, the worker being at its cap");
	ok(seen > seen0, "its buffers were freed after the review (%zu)",
	    seen - seen0);
	is_int(left_secret + left_token, n + 2, "with no secret in them");
	http_conn_close(hc2);
	close(sv2[1]);

	http_conn_close(hc);
	ok(closed, "closing calls closed()");
	ok(read(sv[1], got, sizeof(got)) == 0, "and closes the socket");
	is_int(warm.n, 0, "a closed connection is warm no longer");
	is_int(left_secret + left_token, n + 2, "nothing freed at the close "
	    "held a secret");
	close(sv[1]);
	run(base);
	test_batch(base, &lim);
	run(base);
	event_base_free(base);
	return done_testing();
}
