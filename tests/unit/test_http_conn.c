/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * What a connection of src/http.c leaves behind once a request is done:
 * the input buffer and the head (with the caller's bearer secret) and the
 * body (with the token under review) must be wiped before their memory is
 * freed.  A review goes over a socket pair in plain HTTP; every block
 * freed (linked with -Wl,--wrap=free) is searched for the secrets.
 */

#include <sys/types.h>
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

int
main(void)
{
	struct http_limits	 lim = {
		16384, 65536, 60000, 60000, 60000, 60000
	};
	struct http_callbacks	 cb = { request_cb, closed_cb, NULL, NULL };
	struct event_base	*base;
	struct http_conn	*hc;
	struct sockaddr_in	 sin;
	char			 head[256], got[256], *p;
	const char		*body = "{\"spec\":{\"token\":\"" TOKEN "\"}}";
	size_t			 n;
	ssize_t			 r;
	int			 closed = 0, sv[2];

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

	ok(seen > 0, "frees were searched (%zu)", seen);
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

	http_conn_close(hc);
	ok(closed, "closing calls closed()");
	ok(read(sv[1], got, sizeof(got)) == 0, "and closes the socket");
	close(sv[1]);
	run(base);
	event_base_free(base);
	return done_testing();
}
