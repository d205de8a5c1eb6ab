/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * What a connection of src/http.c leaves behind once a request is done:
 * the head (with the caller's bearer secret), the flattened body and the
 * body's evbuffer (with the token under review) must be wiped before
 * their memory is freed.  A review goes over a bufferevent pair; every
 * block freed by our code (linked with -Wl,--wrap=free) and every block
 * libevent frees (event_set_mem_functions) is searched for the secrets.
 *
 * libevent's own copies (the input buffer the head was read from) are
 * not http.c's to wipe, so libevent's frees are searched only for the
 * token, which reaches no libevent buffer but the body's: it is written
 * after the head has been read, and moves as a whole chain.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "tokenreviewd.h"
#include "http.h"
#include "tap.h"

#define SECRET	"Bsecret-of-the-caller-0123456789"
#define TOKEN	"Tthe-token-under-review-987654321"

void	*__real_free(void *);
void	 __wrap_free(void *);

static size_t	 seen_ours, seen_ev;	/* blocks searched */
static size_t	 left_secret, left_token, left_ev_token;
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
		seen_ours++;
		left_secret += holds(p, n, SECRET);
		left_token += holds(p, n, TOKEN);
	}
	__real_free(p);
}

static void
ev_free(void *p)
{
	if (p != NULL) {
		seen_ev++;
		left_ev_token += holds(p, malloc_usable_size(p), TOKEN);
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
	struct bufferevent	*pair[2];
	struct http_conn	*hc;
	struct sockaddr_in	 sin;
	struct evbuffer		*in;
	char			 head[256], *p;
	const char		*body = "{\"spec\":{\"token\":\"" TOKEN "\"}}";
	size_t			 n;
	int			 closed = 0;

	event_set_mem_functions(malloc, realloc, ev_free);
	log_init(LL_ERROR);
	if ((base = event_base_new()) == NULL ||
	    bufferevent_pair_new(base, BEV_OPT_DEFER_CALLBACKS, pair) != 0)
		return 1;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	cb.arg = &closed;
	hc = http_conn_new(base, pair[0], 0, (struct sockaddr *)&sin,
	    sizeof(sin), &lim, &cb);
	bufferevent_enable(pair[1], EV_READ | EV_WRITE);

	snprintf(head, sizeof(head), "POST /tokenreview HTTP/1.1\r\nHost: x\r\n"
	    "Authorization: Bearer %s\r\nContent-Length: %zu\r\n\r\n", SECRET,
	    strlen(body));
	bufferevent_write(pair[1], head, strlen(head));
	run(base);
	is_int(requests, 0, "the head alone is no request yet");
	bufferevent_write(pair[1], body, strlen(body));
	run(base);
	is_int(requests, 1, "the body completes the request");
	is_str(body_seen, body, "the server saw the body");
	in = bufferevent_get_input(pair[1]);
	p = (char *)evbuffer_pullup(in, -1);
	ok(evbuffer_get_length(in) > 12 && memcmp(p, "HTTP/1.1 200", 12) == 0,
	    "and the client its answer");
	ok(!closed, "the connection is kept for the next request");

	ok(seen_ours > 0 && seen_ev > 0, "frees were searched (%zu of ours, "
	    "%zu of libevent)", seen_ours, seen_ev);
	is_int(left_secret, 0, "the head with the bearer secret was wiped "
	    "before it was freed");
	is_int(left_token, 0, "the flattened body was wiped before it was "
	    "freed");
	is_int(left_ev_token, 0, "the body's evbuffer was wiped before "
	    "libevent freed it");

	/* The checks above can see a secret: one freed unwiped is found. */
	n = left_secret + left_token;
	p = xstrdup("x " SECRET " " TOKEN);
	free(p);
	is_int(left_secret + left_token, n + 2,
	    "a block freed with the secret in it is found");

	http_conn_close(hc);
	ok(closed, "closing calls closed()");
	bufferevent_free(pair[1]);
	run(base);
	event_base_free(base);
	return done_testing();
}
