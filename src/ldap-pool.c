/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Each worker's connections to each directory, and the choice of URI.
 * Every worker has its own small pools of connections per directory,
 * opened lazily with a non-blocking connect(2) and handed to libldap with
 * ldap_init_fd(); StartTLS and all operations are sent with libldap's
 * asynchronous calls, the socket is watched by the worker's event loop,
 * and results are drained with a zero timeout and dispatched by message
 * id to the operation's callback.  Host names in URIs are resolved with
 * getaddrinfo(3); give addresses or names in /etc/hosts where resolver
 * latency matters.
 *
 * Searches share "search" connections (bound as the service account,
 * many operations in flight).  User binds go to "bind" connections, one
 * bind at a time each, since a bind changes the identity of its
 * connection.  A group search that the server cuts short at its size
 * limit is asked again in pages (RFC 2696) on a "paged" connection, held
 * by that search from its first page to its last: slapd keeps one paged
 * search per connection, and a second one started on it would void the
 * first one's cookie.  A request that finds no free connection waits in
 * its pool's queue, for at most the operation timeout.
 *
 * A URI that fails is skipped for a backoff period; when every URI is
 * down the review fails at once with an error.  Connections made to a
 * later URI move back to an earlier one once it answers again: it is
 * probed as its pause ends, and the later connections retire when idle.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "tokenreviewd.h"
#include "ldap-int.h"

static struct lconn *lconn_open(struct ldap_wdir *, enum lconn_kind,
		    unsigned);
static struct lconn *lconn_start(struct ldap_wdir *, enum lconn_kind,
		    size_t);
static void	lconn_read_cb(evutil_socket_t, short, void *);

/* ------------------------------------------------------------ URIs */

/* Arm ev to fire in ms milliseconds. */
static void
lpool_timer_add(struct event *ev, long long ms)
{
	struct timeval	tv;

	ms_to_timeval(ms, &tv);
	evtimer_add(ev, &tv);
}

/*
 * A URI failed: skip it for a while, doubling the pause with each
 * failure up to backoff_max.  Several connections failing together
 * (a server going away) count once.
 */
static void
lpool_uri_failed(struct ldap_wdir *wd, size_t i, int probe)
{
	uint64_t	now = monotonic_ms();

	if (wd->down_until[i] > now && !probe)
		return;
	wd->down_until[i] = now + (uint64_t)backoff_next(&wd->backoff[i]);
}

/*
 * The first URI in order that is not paused.  When all are, the one
 * whose pause ends first is probed, one probe at a time: a directory
 * that comes back is found at once, and a dead one costs one connection
 * attempt at a time rather than one per review.  -1: nothing to try.
 */
static ssize_t
lpool_pick_uri(struct ldap_wdir *wd, unsigned tried)
{
	uint64_t	now = monotonic_ms();
	ssize_t		best = -1;
	size_t		i;

	for (i = 0; i < wd->dir->nuris; i++) {
		if (tried & (1U << i))
			continue;
		if (wd->down_until[i] <= now)
			return (ssize_t)i;
		if (best == -1 || wd->down_until[i] < wd->down_until[best])
			best = (ssize_t)i;
	}
	if (wd->probing)
		return -1;
	return best;
}

/* ------------------------------------------------------------ connections */

static void
lconn_free(struct lconn *c)
{
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->tmo != NULL)
		event_free(c->tmo);
	if (c->tlsev != NULL)
		event_free(c->tlsev);
	ltls_free(c);
	SSL_free(c->ssl);
	if (c->ld != NULL)
		ldap_unbind_ext(c->ld, NULL, NULL);	/* closes fd */
	else if (c->fd != -1)
		close(c->fd);
	free(c);
}

static void
lconn_op_free(struct lop *op)
{
	if (op->timer != NULL)
		event_free(op->timer);
	free(op);
}

/* Detach an operation from its connection and request. */
static void
lconn_op_detach(struct lop *op)
{
	struct lconn	*c = op->conn;

	TAILQ_REMOVE(&c->ops, op, entry);
	c->nops--;
	if (op->lr != NULL && op->lr->op == op)
		op->lr->op = NULL;
}

/* Take a connection out of its pool and stop its events. */
static void
lconn_unlink(struct lconn *c)
{
	struct ldap_wdir	*wd = c->wd;

	if (c->probe) {
		wd->probing = 0;
		c->probe = 0;
	}
	if (c->holder != NULL) {
		c->holder->ds.held = NULL;
		c->holder = NULL;
	}
	c->state = LS_DEAD;
	TAILQ_REMOVE(&wd->conns[c->kind], c, entry);
	wd->nconns[c->kind]--;
	if (c->retiring)
		wd->nretiring[c->kind]--;
	__atomic_sub_fetch(&wd->dir->stats.connections, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&wd->dir->stats.uri_connections[c->uri], 1,
	    __ATOMIC_RELAXED);
	if (c->ev != NULL)
		event_del(c->ev);
	if (c->tmo != NULL)
		event_del(c->tmo);
	if (c->tlsev != NULL)
		event_del(c->tlsev);
	if (c->flushev != NULL)
		event_del(c->flushev);
}

/* Fail the operations of an unlinked connection, then free it. */
static void
lconn_finish(struct lconn *c)
{
	struct lop	*op;
	struct lreq	*lr;

	while ((op = TAILQ_FIRST(&c->ops)) != NULL) {
		lconn_op_detach(op);
		lr = op->lr;
		if (op->cb != NULL && lr != NULL)
			op->cb(lr, NULL, NULL, LOP_LOST, LDAP_SERVER_DOWN);
		lconn_op_free(op);
	}
	if (c->dispatching == 0)
		lconn_free(c);
}

/* Connections of a kind that take new work (not retiring). */
static size_t
lpool_live(struct ldap_wdir *wd, enum lconn_kind kind)
{
	return wd->nconns[kind] - wd->nretiring[kind];
}

/* A retiring connection is closed once nothing runs on it. */
void
lconn_idle_check(struct lconn *c)
{
	if (c->retiring && c->state == LS_READY && c->nops == 0 &&
	    c->holder == NULL)
		lconn_fail(c, "moved back to an earlier URI", 0);
}

/*
 * URI uri answers: connections to later URIs take no new operation and
 * are closed once idle, so that new ones go to the earlier URI; what is
 * in flight on them finishes.
 */
static void
lpool_retire(struct ldap_wdir *wd, size_t uri)
{
	struct lconn	*c, *next;
	int		 k, n = 0;

	for (k = LK_SEARCH; k < LK_MAX; k++) {
		for (c = TAILQ_FIRST(&wd->conns[k]); c != NULL; c = next) {
			next = TAILQ_NEXT(c, entry);
			if (c->uri <= uri || c->retiring)
				continue;
			c->retiring = 1;
			wd->nretiring[k]++;
			n++;
			lconn_idle_check(c);
		}
	}
	if (n > 0)
		log_msg(LL_INFO, "ldap_return", "[ldap \"%s\"] %s answers: "
		    "connections move back to it", wd->dir->name,
		    wd->dir->uris[uri].uri);
}

/*
 * The URI to try so that connections move back towards the first URI,
 * and in *when the time its pause ends.  -1 when every connection uses
 * the best URI that answers, or a connection to an earlier URI is on
 * its way (its end decides).
 */
static ssize_t
lpool_return_uri(struct ldap_wdir *wd, uint64_t *when)
{
	struct lconn	*c;
	uint64_t	 now = monotonic_ms();
	size_t		 worst = 0, setup = LDAP_MAX_URIS, i, best = 0;
	int		 k;

	for (k = LK_SEARCH; k < LK_MAX; k++) {
		TAILQ_FOREACH(c, &wd->conns[k], entry) {
			if (c->retiring)
				continue;
			if (c->state != LS_READY && c->uri < setup)
				setup = c->uri;
			else if (c->state == LS_READY && c->uri > worst)
				worst = c->uri;
		}
	}
	if (worst == 0 || setup < worst)
		return -1;
	for (i = 0; i < worst; i++) {
		if (wd->down_until[i] <= now) {
			*when = now;
			return (ssize_t)i;
		}
		if (wd->down_until[i] < wd->down_until[best])
			best = i;
	}
	*when = wd->down_until[best];
	return (ssize_t)best;
}

/* Wake up when an earlier URI may be tried again (backoff). */
static void
lpool_arm_return(struct ldap_wdir *wd)
{
	uint64_t	when, now = monotonic_ms();

	if (lpool_return_uri(wd, &when) == -1)
		return;
	lpool_timer_add(wd->back, when > now ? (long long)(when - now) : 0);
}

/*
 * Probe an earlier URI with a search connection.  When it is ready, the
 * connections to later URIs retire (lconn_ready); when it fails, the URI
 * is paused for longer and the next probe waits for that.
 */
static void
lpool_back_cb(evutil_socket_t fd, short events, void *arg)
{
	struct ldap_wdir	*wd = arg;
	uint64_t		 when;
	ssize_t			 i;

	if ((i = lpool_return_uri(wd, &when)) == -1)
		return;
	if (when > monotonic_ms()) {
		lpool_arm_return(wd);
		return;
	}
	wd->opening++;
	(void)lconn_start(wd, LK_SEARCH, (size_t)i);
	wd->opening--;
	lpool_arm_return(wd);
}

/*
 * End a connection: every operation on it fails (its request may retry
 * elsewhere).  When the server is at fault its URI is paused, and the
 * other connections to it go too, before any request retries: a server
 * that went away took them all, and a retry must not land on one.
 * Freed at once unless results are being dispatched from it.
 */
void
lconn_fail(struct lconn *c, const char *why, int uri_fault)
{
	struct ldap_wdir	*wd = c->wd;
	struct lconn		*o, *next, *gone[LK_MAX * 64];
	size_t			 ngone = 0, i;
	int			 setup, k;

	if (c->state == LS_DEAD)
		return;
	if (uri_fault) {
		lpool_uri_failed(wd, c->uri, c->probe);
		log_msg(LL_WARN, "ldap_connection", "[ldap \"%s\"] %s: %s",
		    wd->dir->name, wd->dir->uris[c->uri].uri, why);
	}
	setup = c->state != LS_READY;
	lconn_unlink(c);
	for (k = LK_SEARCH; uri_fault && !setup && k < LK_MAX; k++) {
		for (o = TAILQ_FIRST(&wd->conns[k]); o != NULL; o = next) {
			next = TAILQ_NEXT(o, entry);
			if (o->uri != c->uri || ngone == nitems(gone))
				continue;
			lconn_unlink(o);
			gone[ngone++] = o;
		}
	}
	/*
	 * Requests wait for this connection: try the other URIs, and when
	 * none is left let them fail rather than wait for their deadline.
	 */
	if (setup)
		wd->round[c->kind] |= 1U << c->uri;
	if (setup && lpool_live(wd, c->kind) == 0 && !wd->opening &&
	    !TAILQ_EMPTY(&wd->waiting[c->kind]) &&
	    lconn_open(wd, c->kind, wd->round[c->kind]) == NULL) {
		wd->unreachable[c->kind] = 1;
		wd->round[c->kind] = 0;
	}
	lpool_kick(wd);
	lconn_finish(c);
	for (i = 0; i < ngone; i++)
		lconn_finish(gone[i]);
	lpool_arm_return(wd);
}

static void
lconn_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lconn		*c = arg;
	enum ldap_optype	 t = OT_CONNECT;

	if (c->state == LS_STARTTLS || c->state == LS_TLS)
		t = OT_STARTTLS;
	else if (c->state == LS_SVCBIND)
		t = OT_BIND;
	auth_ldap_stats_op(c->wd->dir, t, OR_TIMEOUT, c->setup_start);
	lconn_fail(c, "timed out setting up the connection", 1);
}

static void
lconn_ready(struct lconn *c)
{
	struct ldap_wdir	*wd = c->wd;

	c->state = LS_READY;
	event_del(c->tmo);
	wd->round[c->kind] = 0;
	if (c->probe) {
		wd->probing = 0;
		c->probe = 0;
	}
	backoff_reset(&wd->backoff[c->uri]);
	wd->down_until[c->uri] = 0;
	__atomic_store_n(&wd->dir->stats.unreachable, 0, __ATOMIC_RELAXED);
	lpool_kick(wd);
	if (c->retiring) {
		lconn_idle_check(c);
		return;
	}
	lpool_retire(wd, c->uri);
	lpool_arm_return(wd);
}

/* The service bind of a search connection, when a bind_dn is set. */
void
lconn_service_bind(struct lconn *c)
{
	struct ldap_dir	*d = c->wd->dir;
	struct berval	 cred;
	int		 rc;

	if (c->kind == LK_BIND || d->bind_dn == NULL) {
		lconn_ready(c);
		return;
	}
	cred.bv_val = d->bind_password;
	cred.bv_len = d->bind_password_len;
	c->setup_start = monotonic_sec();
	rc = ldap_sasl_bind(c->ld, d->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL,
	    NULL, &c->setup_msgid);
	if (rc != LDAP_SUCCESS) {
		lconn_fail(c, ldap_err2string(rc), 1);
		return;
	}
	c->state = LS_SVCBIND;
}

static int
lconn_set_options(struct lconn *c)
{
	struct ldap_dir	*d = c->wd->dir;
	struct timeval	 tv;
	int		 v3 = LDAP_VERSION3;

	ms_to_timeval(d->connect_timeout, &tv);
	if (ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3) ||
	    ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) ||
	    ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv))
		return -1;
	return 0;
}

/* TCP (or the local socket) is up: hand it to libldap, start TLS. */
static void
lconn_connected(struct lconn *c)
{
	struct ldap_dir	*d = c->wd->dir;
	struct ldap_uri	*u = &d->uris[c->uri];
	int		 rc, fd = c->fd;

	auth_ldap_stats_op(d, OT_CONNECT, OR_SUCCESS, c->setup_start);
	rc = ldap_init_fd(fd, u->ipc ? LDAP_PROTO_IPC : LDAP_PROTO_TCP,
	    u->uri, &c->ld);
	if (rc != LDAP_SUCCESS || lconn_set_options(c) != 0) {
		lconn_fail(c, "could not set up libldap", 0);
		return;
	}
	event_free(c->ev);
	c->ev = event_new(c->wd->li->base, fd, EV_READ | EV_PERSIST,
	    lconn_read_cb, c);
	if (u->tls == LTLS_LDAPS) {
		ltls_start(c);
		return;
	}
	event_add(c->ev, NULL);
	if (u->tls == LTLS_STARTTLS) {
		c->setup_start = monotonic_sec();
		rc = ldap_start_tls(c->ld, NULL, NULL, &c->setup_msgid);
		if (rc != LDAP_SUCCESS) {
			lconn_fail(c, ldap_err2string(rc), 1);
			return;
		}
		c->state = LS_STARTTLS;
		return;
	}
	lconn_service_bind(c);
}

static void
lconn_connect_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lconn	*c = arg;
	socklen_t	 len = sizeof(int);
	int		 err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		auth_ldap_stats_op(c->wd->dir, OT_CONNECT, OR_ERROR,
		    c->setup_start);
		lconn_fail(c, strerror(err), 1);
		return;
	}
	lconn_connected(c);
}

/* Start a non-blocking connect to a URI; -1 if it failed at once. */
static int
lconn_socket(struct lconn *c, const struct ldap_uri *u)
{
	struct addrinfo		 hints, *ai = NULL;
	struct sockaddr_un	 sun;
	char			 port[16];
	int			 r = -1;

	if (u->ipc) {
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		if (strlcpy(sun.sun_path, u->host, sizeof(sun.sun_path)) >=
		    sizeof(sun.sun_path))
			return -1;
		c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (c->fd == -1)
			return -1;
		return connect(c->fd, (struct sockaddr *)&sun, sizeof(sun));
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%d", u->port);
	if (getaddrinfo(u->host, port, &hints, &ai) != 0 || ai == NULL)
		goto out;
	c->fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (c->fd == -1)
		goto out;
	r = connect(c->fd, ai->ai_addr, ai->ai_addrlen);
out:
	if (ai != NULL)
		freeaddrinfo(ai);
	return r;
}

/*
 * A new connection of a kind to URI i, in its pool and counted, its setup
 * deadline running.
 */
static struct lconn *
lconn_new(struct ldap_wdir *wd, enum lconn_kind kind, size_t i)
{
	struct lconn	*c;

	c = xcalloc(1, sizeof(*c));
	c->wd = wd;
	c->kind = kind;
	c->uri = i;
	c->fd = -1;
	c->state = LS_CONNECTING;
	if (wd->down_until[i] > monotonic_ms()) {
		c->probe = 1;
		wd->probing = 1;
	}
	TAILQ_INIT(&c->ops);
	TAILQ_INSERT_TAIL(&wd->conns[kind], c, entry);
	wd->nconns[kind]++;
	__atomic_add_fetch(&wd->dir->stats.connections, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&wd->dir->stats.uri_connections[i], 1,
	    __ATOMIC_RELAXED);
	if (i > 0)
		__atomic_add_fetch(&wd->dir->stats.failovers, 1,
		    __ATOMIC_RELAXED);
	c->setup_start = monotonic_sec();
	c->tmo = evtimer_new(wd->li->base, lconn_timeout_cb, c);
	lpool_timer_add(c->tmo, wd->dir->connect_timeout);
	return c;
}

/*
 * Start one connection of a kind to URI i.  NULL when the connect failed
 * at once (the URI is then paused).
 */
static struct lconn *
lconn_start(struct ldap_wdir *wd, enum lconn_kind kind, size_t i)
{
	struct lconn	*c;
	int		 err;

	c = lconn_new(wd, kind, i);
	if (lconn_socket(c, &wd->dir->uris[i]) == 0) {
		c->ev = event_new(wd->li->base, c->fd, EV_WRITE,
		    lconn_connect_cb, c);
		/* Held, so that a failure inside cannot free it. */
		c->dispatching++;
		lconn_connected(c);
		if (--c->dispatching == 0 && c->state == LS_DEAD) {
			lconn_free(c);
			return NULL;
		}
		return c;
	}
	if (c->fd != -1 && errno == EINPROGRESS) {
		c->ev = event_new(wd->li->base, c->fd, EV_WRITE,
		    lconn_connect_cb, c);
		event_add(c->ev, NULL);
		return c;
	}
	err = errno;
	auth_ldap_stats_op(wd->dir, OT_CONNECT, OR_ERROR, c->setup_start);
	lconn_fail(c, strerror(err), 1);
	return NULL;
}

/*
 * Open one connection of a kind to the first healthy URI.  NULL when
 * every URI is paused or the connect failed at once (then the URI is
 * paused and the next one tried).
 */
static struct lconn *
lconn_open(struct ldap_wdir *wd, enum lconn_kind kind, unsigned tried)
{
	struct lconn	*c = NULL;
	ssize_t		 i;

	/* Each URI at most once: one that fails at once is paused. */
	wd->opening++;
	while (c == NULL && (i = lpool_pick_uri(wd, tried)) != -1) {
		tried |= 1U << i;
		c = lconn_start(wd, kind, (size_t)i);
	}
	wd->opening--;
	if (c == NULL)
		__atomic_store_n(&wd->dir->stats.unreachable, 1,
		    __ATOMIC_RELAXED);
	return c;
}

/* The answer to StartTLS or to the service bind. */
static void
lconn_setup_result(struct lconn *c, LDAPMessage *msg)
{
	enum ldap_optype	 t;
	int			 rc, err = LDAP_OTHER;

	t = c->state == LS_STARTTLS ? OT_STARTTLS : OT_BIND;
	rc = ldap_parse_result(c->ld, msg, &err, NULL, NULL, NULL, NULL, 0);
	if (rc != LDAP_SUCCESS || err != LDAP_SUCCESS) {
		auth_ldap_stats_op(c->wd->dir, t, OR_ERROR, c->setup_start);
		lconn_fail(c, t == OT_STARTTLS ? "StartTLS refused" :
		    "service bind (bind_dn) refused", 1);
		return;
	}
	if (t == OT_BIND) {
		auth_ldap_stats_op(c->wd->dir, t, OR_SUCCESS, c->setup_start);
		lconn_ready(c);
		return;
	}
	ltls_start(c);
}

static void
lconn_dispatch(struct lconn *c, LDAPMessage *msg)
{
	struct lop	*op;
	int		 id = ldap_msgid(msg), rc;

	if ((c->state == LS_STARTTLS || c->state == LS_SVCBIND) &&
	    id == c->setup_msgid) {
		lconn_setup_result(c, msg);
		return;
	}
	TAILQ_FOREACH(op, &c->ops, entry) {
		if (op->msgid == id)
			break;
	}
	if (op == NULL)
		return;		/* abandoned */
	if (ldap_msgtype(msg) == LDAP_RES_SEARCH_ENTRY ||
	    ldap_msgtype(msg) == LDAP_RES_SEARCH_REFERENCE ||
	    ldap_msgtype(msg) == LDAP_RES_INTERMEDIATE) {
		if (op->lr != NULL)
			op->cb(op->lr, c->ld, msg, LOP_ENTRY, LDAP_SUCCESS);
		return;
	}
	if (ldap_parse_result(c->ld, msg, &rc, NULL, NULL, NULL, NULL, 0) !=
	    LDAP_SUCCESS)
		rc = LDAP_OTHER;
	auth_ldap_stats_op(c->wd->dir, op->type, rc == LDAP_SUCCESS ?
	    OR_SUCCESS : auth_ldap_rejected(rc) ? OR_REJECTED : OR_ERROR,
	    op->start);
	lconn_op_detach(op);
	if (c->kind != LK_SEARCH)
		lpool_kick(c->wd);		/* free for the next request */
	if (op->lr != NULL)
		op->cb(op->lr, c->ld, msg, LOP_RESULT, rc);
	lconn_op_free(op);
	lconn_idle_check(c);
}

/*
 * Whether libldap may have a message without the socket waking the loop
 * again.  Through the TLS layer: while the SSL holds records read ahead,
 * or the socket woke and was not read yet (ldap-tls.c tells libldap the
 * same, so that it reads without polling first); once that is drained,
 * the next readiness of the socket comes back here.  A plain connection
 * is asked until ldap_result() has nothing.
 */
static int
lconn_data_ready(struct lconn *c)
{
	Sockbuf	*sb = NULL;

	if (!c->tls_layer)
		return 1;
	if (ldap_get_option(c->ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS)
		return 1;
	return ber_sockbuf_ctrl(sb, LBER_SB_OPT_DATA_READY, NULL) != 0;
}

/*
 * Read everything libldap has: with TLS, decrypted data may wait in
 * libldap's buffers without the socket being readable again, so drain
 * until ldap_result() has nothing (zero timeout: never waits).
 */
static void
lconn_read_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lconn	*c = arg;
	struct timeval	 zero = { 0, 0 };
	LDAPMessage	*msg;
	int		 rc;

	c->dispatching++;
	c->unread = 1;
	/* After StartTLS the bytes are the handshake's, not libldap's. */
	while (c->state != LS_DEAD && c->state != LS_TLS &&
	    lconn_data_ready(c)) {
		msg = NULL;
		rc = ldap_result(c->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero,
		    &msg);
		if (rc == 0)
			break;
		if (rc < 0) {
			/*
			 * An idle connection closed by the server (its idle
			 * timeout) says nothing about the server's health.
			 */
			lconn_fail(c, "connection lost", c->nops > 0 ||
			    c->state != LS_READY);
			break;
		}
		lconn_dispatch(c, msg);
		ldap_msgfree(msg);
	}
	if (--c->dispatching == 0 && c->state == LS_DEAD)
		lconn_free(c);
}

/* ------------------------------------------------------------ operations */

static void
lconn_op_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lop	*op = arg;
	struct lconn	*c = op->conn;
	struct lreq	*lr = op->lr;
	lop_cb		 cb = op->cb;

	auth_ldap_stats_op(c->wd->dir, op->type, OR_TIMEOUT, op->start);
	lconn_op_detach(op);
	ldap_abandon_ext(c->ld, op->msgid, NULL, NULL);
	lconn_op_free(op);
	/*
	 * A server that does not answer in time is taken as stuck: the
	 * connection goes and its URI is paused.  The other operations on
	 * it are retried elsewhere; this one fails (no second wait).
	 */
	lconn_fail(c, "operation timed out", 1);
	if (lr != NULL)
		cb(lr, NULL, NULL, LOP_TIMEOUT, LDAP_TIMEOUT);
}

struct lop *
lconn_op_new(struct lconn *c, struct lreq *lr, enum ldap_optype type,
    int msgid, lop_cb cb)
{
	struct lop	*op;

	op = xcalloc(1, sizeof(*op));
	op->conn = c;
	op->msgid = msgid;
	op->type = type;
	op->lr = lr;
	op->cb = cb;
	op->start = monotonic_sec();
	op->timer = evtimer_new(c->wd->li->base, lconn_op_timeout_cb, op);
	lpool_timer_add(op->timer, c->wd->dir->timeout);
	TAILQ_INSERT_TAIL(&c->ops, op, entry);
	c->nops++;
	lr->op = op;
	return op;
}

/* The request gave up on its operation (cancelled). */
void
lconn_op_abandon(struct lop *op)
{
	struct lconn	*c = op->conn;

	lconn_op_detach(op);
	ldap_abandon_ext(c->ld, op->msgid, NULL, NULL);
	lconn_op_free(op);
	/*
	 * A bind connection in the middle of a bind has no known identity,
	 * and a paged search abandoned between pages may leave its state on
	 * the server: neither connection is used again.
	 */
	if (c->kind != LK_SEARCH)
		lconn_fail(c, "operation abandoned", 0);
	else
		lconn_idle_check(c);
}

/* ------------------------------------------------------------ pools */

/* A ready connection of a kind that can take an operation, or NULL. */
static struct lconn *
lpool_get_conn(struct ldap_wdir *wd, enum lconn_kind kind)
{
	struct lconn	*c, *best = NULL;

	TAILQ_FOREACH(c, &wd->conns[kind], entry) {
		if (c->state != LS_READY || c->retiring)
			continue;
		if (kind != LK_SEARCH && (c->nops > 0 || c->holder != NULL))
			continue;
		if (best == NULL || c->nops < best->nops)
			best = c;
	}
	return best;
}

/* Whether a connection of the kind is on its way. */
static int
lpool_connecting(struct ldap_wdir *wd, enum lconn_kind kind)
{
	struct lconn	*c;

	TAILQ_FOREACH(c, &wd->conns[kind], entry) {
		if (c->state != LS_READY && !c->retiring)
			return 1;
	}
	return 0;
}

/* A queued request got no connection within the operation timeout. */
static void
lpool_wait_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lreq		*lr = arg;
	struct ldap_wdir	*wd = &lr->li->wd[lr->dir];

	if (lr->waiting == LK_NONE)
		return;
	TAILQ_REMOVE(&wd->waiting[lr->waiting], lr, wentry);
	lr->waiting = LK_NONE;
	lreq_error(lr, "%s: no connection to the directory was free in time",
	    wd->dir->name);
}

/* Queue a request for a connection; its wait is bounded once. */
static void
lpool_queue(struct ldap_wdir *wd, struct lreq *lr, enum lconn_kind kind)
{
	lr->waiting = kind;
	TAILQ_INSERT_TAIL(&wd->waiting[kind], lr, wentry);
	if (lr->wait_tmo == NULL)
		lr->wait_tmo = evtimer_new(wd->li->base, lpool_wait_timeout_cb,
		    lr);
	if (!evtimer_pending(lr->wait_tmo, NULL))
		lpool_timer_add(lr->wait_tmo, wd->dir->timeout);
}

/*
 * A connection for the request's next operation: a ready one, or NULL
 * with the request queued until one is ready.  Opens connections up to
 * pool_size.  -1 when the directory is unreachable.
 */
int
lpool_acquire(struct ldap_wdir *wd, struct lreq *lr, enum lconn_kind kind,
    struct lconn **cp)
{
	struct lconn	*c;

	*cp = NULL;
	c = lpool_get_conn(wd, kind);
	if (c != NULL && (kind != LK_SEARCH || c->nops < LDAP_BUSY_OPS ||
	    lpool_live(wd, kind) >= (size_t)wd->dir->pool_size)) {
		*cp = c;
		return 0;
	}
	if (lpool_live(wd, kind) < (size_t)wd->dir->pool_size &&
	    !lpool_connecting(wd, kind) && lconn_open(wd, kind, 0) == NULL &&
	    lpool_live(wd, kind) == 0)
		return -1;
	if (c != NULL) {
		*cp = c;
		return 0;
	}
	if (lpool_live(wd, kind) == 0)
		return -1;
	lpool_queue(wd, lr, kind);
	return 0;
}

/* Give waiting requests the connections that became ready or free. */
static void
lpool_kick_cb(evutil_socket_t fd, short events, void *arg)
{
	struct ldap_wdir	*wd = arg;
	struct lreq		*lr;
	size_t			 n;
	int			 k;

	/*
	 * A request may go back to the end of the queue (no connection after
	 * all); taking at most as many as were queued keeps this finite.
	 */
	for (k = LK_SEARCH; k < LK_MAX; k++) {
		if (wd->unreachable[k]) {
			wd->unreachable[k] = 0;
			while ((lr = TAILQ_FIRST(&wd->waiting[k])) != NULL) {
				TAILQ_REMOVE(&wd->waiting[k], lr, wentry);
				lr->waiting = LK_NONE;
				lreq_error(lr, "%s: directory unreachable (no "
				    "server answered)", wd->dir->name);
			}
		}
		n = 0;
		TAILQ_FOREACH(lr, &wd->waiting[k], wentry)
			n++;
		while (n-- > 0 && (lr = TAILQ_FIRST(&wd->waiting[k])) != NULL) {
			if (lpool_get_conn(wd, k) == NULL &&
			    (lpool_connecting(wd, k) || lpool_live(wd, k) >=
			    (size_t)wd->dir->pool_size))
				break;
			TAILQ_REMOVE(&wd->waiting[k], lr, wentry);
			lr->waiting = LK_NONE;
			lreq_run(lr);
		}
	}
}

void
lpool_kick(struct ldap_wdir *wd)
{
	event_active(wd->kick, EV_TIMEOUT, 1);
}

/* Set up the pools of one directory in a worker; nothing is opened yet. */
void
lpool_init(struct ldap_wdir *wd, struct ldap_inst *li, struct ldap_dir *dir)
{
	long long	min;
	size_t		i;
	int		k;

	wd->li = li;
	wd->dir = dir;
	/*
	 * LDAP_BACKOFF_MIN, doubling up to backoff_max; a backoff_max below
	 * it is every pause.
	 */
	min = dir->backoff_max < LDAP_BACKOFF_MIN ? dir->backoff_max :
	    LDAP_BACKOFF_MIN;
	for (i = 0; i < LDAP_MAX_URIS; i++)
		backoff_init(&wd->backoff[i], min, dir->backoff_max, 0);
	for (k = LK_SEARCH; k < LK_MAX; k++) {
		TAILQ_INIT(&wd->conns[k]);
		TAILQ_INIT(&wd->waiting[k]);
	}
	wd->kick = event_new(li->base, -1, 0, lpool_kick_cb, wd);
	wd->back = evtimer_new(li->base, lpool_back_cb, wd);
}

/* Close every connection of the pools; no request waits any more. */
void
lpool_close(struct ldap_wdir *wd)
{
	struct lconn	*c;
	int		 k;

	for (k = LK_SEARCH; k < LK_MAX; k++) {
		while ((c = TAILQ_FIRST(&wd->conns[k])) != NULL)
			lconn_fail(c, "shutting down", 0);
	}
	event_free(wd->kick);
	event_free(wd->back);
}
