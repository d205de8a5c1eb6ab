/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The workers.  Each worker thread has its own event loop and its own
 * SO_REUSEPORT listening socket per listen address, so the kernel spreads
 * connections and no lock is taken on the request path.  This file runs
 * the threads, the listeners and each connection's life from accept to
 * close, and shutdown; what the connections ask for (the review paths,
 * /healthz, /readyz and /metrics) is answered in server-request.c, what
 * the login listener's ask for in login.c.  A
 * worker swaps in a new runtime when the main thread reloads: requests in
 * flight keep the view they started with.
 *
 * Connections are capped per listener kind (max_connections for the
 * review port, health_max_connections for the health port), so that one
 * port filling up never stops the other, and per client address while
 * they have not proven their caller (connlimit.c).  A listener at its cap
 * makes room by closing its oldest connection that has sent nothing, else
 * its oldest without a request yet, else its oldest idle keep-alive one;
 * only when every connection is busy does it stop accepting, until one
 * closes.  So sockets opened and left silent cost the API server, at
 * worst, one of its idle connections.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tokenreviewd.h"
#include "http.h"
#include "server.h"
#include "login.h"

/* A listener at its cap retries this often while nothing can make room. */
#define SERVER_FULL_RETRY_MS	250
/* Open files beyond the connection caps: listeners, upstreams, files. */
#define SERVER_NOFILE_SPARE	1024

static const char *const server_kind_names[LISTENER_MAX] = {
	"review", "health", "login"
};

struct server {
	struct runtime		*rt;
	struct server_worker	*w;
	int			 nw;
	uint16_t		 port;
	uint16_t		 health_port;
	uint16_t		 login_port;
};

static void
server_view_reap(struct server_worker *w)
{
	struct server_view	*v;

	while ((v = SLIST_FIRST(&w->dead)) != NULL) {
		SLIST_REMOVE_HEAD(&w->dead, dead);
		auth_chain_free(v->chain);
		runtime_unref(v->rt);
		free(v);
	}
}

static void
server_reap_cb(evutil_socket_t fd, short events, void *arg)
{
	server_view_reap(arg);
}

/*
 * The last review of an old generation often ends inside a callback of
 * one of its sources (a database's answer, an LDAP result), which goes on
 * using its connection afterwards: the chain is freed from the loop, once
 * that callback has returned.
 */
void
server_view_unref(struct server_worker *w, struct server_view *v)
{
	if (v == NULL || --v->refs > 0)
		return;
	SLIST_INSERT_HEAD(&w->dead, v, dead);
	event_active(w->reap_ev, 0, 0);
}

/* Stop or resume accepting on the listeners of one kind only. */
static void
server_worker_pause(struct server_worker *w, enum listener_kind kind, int pause)
{
	size_t	i;

	if (w->paused[kind] == pause || w->draining)
		return;
	for (i = 0; i < w->nlev; i++) {
		if (w->levkind[i] != kind)
			continue;
		if (pause)
			evconnlistener_disable(w->lev[i]);
		else
			evconnlistener_enable(w->lev[i]);
	}
	w->paused[kind] = pause;
}

/* The connection's slot in the per-client table is given back. */
static void
server_conn_release(struct server_conn *sc, int proved)
{
	sc->standing = SCS_UNPROVEN;
	connlimit_release(&sc->addr, sc->kind, proved, monotonic_ms());
}

/*
 * Has the caller proven itself?  The first request on the review port of
 * a daemon with client_ca came over a handshake that accepted a client
 * certificate; with client_token_file, a request must carry the token.
 * Without either anyone is a caller: the first request ends the count
 * but earns no trust.  Nothing on the health port proves anything.
 */
void
server_conn_prove(struct server_conn *sc)
{
	struct runtime	*rt = sc->w->view->rt;
	int		 auth;

	if (sc->kind != LISTENER_REVIEW)
		return;
	if (rt->conf->client_ca != NULL)
		auth = 1;
	else if (rt->has_client_token) {
		if (!(auth = sreq_client_token_ok(sc, rt)))
			return;
	} else
		auth = 0;
	if (sc->standing == SCS_COUNTED)
		server_conn_release(sc, 1);
	sc->standing = auth ? SCS_TRUSTED : SCS_PROVEN;
	if (auth)
		connlimit_trust(&sc->addr, monotonic_ms());
}

/*
 * The connection to close to make room on a full listener: the oldest
 * that has sent nothing at all (what a flood of idle sockets is made of),
 * else the oldest that has not sent a whole request yet, else the oldest
 * idle keep-alive one.  NULL when every connection is busy.  A caller
 * that is only slow to finish its handshake thus outlives any number of
 * silent sockets.
 */
static struct server_conn *
server_worker_victim(struct server_worker *w, enum listener_kind kind)
{
	struct server_conn	*sc, *fresh = NULL, *idle = NULL;

	TAILQ_FOREACH(sc, &w->conns, entry) {
		if (sc->kind != kind)
			continue;
		if (sc->nreq == 0 && http_conn_silent(sc->hc))
			return sc;
		if (fresh == NULL && sc->nreq == 0)
			fresh = sc;
		else if (idle == NULL && sc->nreq > 0 && sc->review == NULL &&
		    http_conn_idle(sc->hc))
			idle = sc;
	}
	return fresh != NULL ? fresh : idle;
}

/* One log line when a listener reaches its cap, one when it is left. */
static void
server_worker_full(struct server_worker *w, enum listener_kind kind, int full)
{
	if (full && !w->full[kind]) {
		w->full[kind] = 1;
		log_msg(LL_WARN, "conn_full", "worker %d: the %s listener is "
		    "at its cap of %d connections; closing idle and "
		    "unauthenticated ones to make room", w->id,
		    server_kind_names[kind], w->maxconns[kind]);
	} else if (!full && w->full[kind]) {
		w->full[kind] = 0;
		log_msg(LL_INFO, "conn_full", "worker %d: the %s listener is "
		    "below its cap again; %llu connections were closed to "
		    "make room, %llu refused", w->id, server_kind_names[kind],
		    (unsigned long long)w->evicted[kind],
		    (unsigned long long)w->refused[kind]);
		w->evicted[kind] = w->refused[kind] = 0;
	}
}

/*
 * A listener at its cap keeps accepting while it has a connection to
 * close for the next one; else it pauses and looks again in a while (a
 * busy connection may have gone idle meanwhile).
 */
static void
server_worker_check(struct server_worker *w, enum listener_kind kind)
{
	struct timeval	tv = { 0, SERVER_FULL_RETRY_MS * 1000 };

	if (w->nkind[kind] < w->maxconns[kind] ||
	    server_worker_victim(w, kind) != NULL) {
		server_worker_pause(w, kind, 0);
		return;
	}
	server_worker_full(w, kind, 1);
	server_worker_pause(w, kind, 1);
	if (!evtimer_pending(w->resume_ev, NULL))
		evtimer_add(w->resume_ev, &tv);
}

static void
server_closed_cb(struct http_conn *hc, void *arg)
{
	struct server_conn	*sc = arg;
	struct server_worker	*w = sc->w;
	enum listener_kind	 kind = sc->kind;

	sreq_drop(sc);
	if (sc->standing == SCS_COUNTED)
		server_conn_release(sc, 0);
	else if (sc->standing == SCS_TRUSTED)
		connlimit_untrust(&sc->addr, monotonic_ms());
	TAILQ_REMOVE(&w->conns, sc, entry);
	free(sc);
	w->nconns--;
	w->nkind[kind]--;
	__atomic_store_n(&w->m->connections_open, w->nconns,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&w->m->listener_open[kind], w->nkind[kind],
	    __ATOMIC_RELAXED);
	if (w->nkind[kind] < w->maxconns[kind])
		server_worker_pause(w, kind, 0);
	/* Well below the cap: the episode is over. */
	if (w->nkind[kind] <= w->maxconns[kind] * 3 / 4)
		server_worker_full(w, kind, 0);
	if (w->draining && w->nconns == 0)
		event_base_loopexit(w->base, NULL);
}

static void
server_handshake_failed_cb(struct http_conn *hc, int client_auth, void *arg)
{
	struct server_conn	*sc = arg;

	if (client_auth) {
		__atomic_fetch_add(&sc->w->m->client_auth_failures, 1,
		    __ATOMIC_RELAXED);
		log_msg(LL_WARN, "client_auth", "%s: client certificate "
		    "missing or not accepted", http_peer(hc));
	} else {
		__atomic_fetch_add(&sc->w->m->tls_handshake_failures, 1,
		    __ATOMIC_RELAXED);
		log_msg(LL_VERBOSE, "tls_handshake", "%s: TLS handshake "
		    "failed", http_peer(hc));
	}
}

/* Over max_connections_per_client: refused, told once an episode. */
static void
server_refuse_client(struct server_worker *w, enum listener_kind kind,
    const struct connlimit_addr *addr, int first)
{
	char	who[INET6_ADDRSTRLEN + 4];

	__atomic_fetch_add(&w->m->conns_refused_client[kind], 1,
	    __ATOMIC_RELAXED);
	if (!first)
		return;
	connlimit_format(addr, who, sizeof(who));
	log_msg(LL_WARN, "conn_limit", "%s: %d connections not yet "
	    "authenticated on the %s listener (max_connections_per_client): "
	    "refusing more", who, w->perclient, server_kind_names[kind]);
}

/*
 * May a new connection of addr come in?  Takes its slot in the
 * per-client table (*counted) and makes room on a full listener.
 */
static int
server_admit(struct server_worker *w, enum listener_kind kind,
    const struct connlimit_addr *addr, int *counted)
{
	struct server_conn	*victim;
	int			 first;

	*counted = 0;
	if (w->perclient > 0) {
		if (connlimit_take(addr, kind, w->perclient, monotonic_ms(),
		    &first) != 0) {
			server_refuse_client(w, kind, addr, first);
			return 0;
		}
		*counted = 1;
	}
	if (w->nkind[kind] < w->maxconns[kind])
		return 1;
	server_worker_full(w, kind, 1);
	if ((victim = server_worker_victim(w, kind)) != NULL) {
		__atomic_fetch_add(&w->m->conns_evicted[kind], 1,
		    __ATOMIC_RELAXED);
		w->evicted[kind]++;
		log_msg(LL_VERBOSE, "conn_evicted", "%s: closed to make room "
		    "on the %s listener (%s)", http_peer(victim->hc),
		    server_kind_names[kind], victim->nreq > 0 ? "idle" :
		    "no request yet");
		http_conn_close(victim->hc);
		return 1;
	}
	/* Accepted before the listener paused: every slot is busy. */
	__atomic_fetch_add(&w->m->conns_refused_full[kind], 1,
	    __ATOMIC_RELAXED);
	w->refused[kind]++;
	if (*counted)
		connlimit_release(addr, kind, 0, monotonic_ms());
	*counted = 0;
	server_worker_check(w, kind);
	return 0;
}

/*
 * The connection's TLS state, on the review and login ports (*sslp stays
 * NULL on the health port); -1 if there is none to be had.  The login
 * port's context never asks for a client certificate.
 */
static int
server_tls(struct server_worker *w, evutil_socket_t fd,
    enum listener_kind kind, SSL **sslp)
{
	struct runtime		*rt = w->view->rt;
	SSL_CTX			*ctx;

	*sslp = NULL;
	if (kind == LISTENER_HEALTH)
		return 0;
	ctx = kind == LISTENER_LOGIN ? rt->login_ssl_ctx : rt->ssl_ctx;
	if (ctx == NULL) {
		/* [login] is gone since a reload: nothing to serve. */
		log_msg(LL_VERBOSE, "accept", "no [login] section: closing "
		    "a connection to the login listener");
		return -1;
	}
	if ((*sslp = SSL_new(ctx)) == NULL || SSL_set_fd(*sslp, fd) != 1) {
		log_msg(LL_ERROR, "accept", "cannot set up TLS on a "
		    "connection");
		SSL_free(*sslp);
		*sslp = NULL;
		ERR_clear_error();
		return -1;
	}
	return 0;
}

/* A new connection, last in the worker's list and in its counts. */
static struct server_conn *
server_conn_new(struct server_worker *w, enum listener_kind kind,
    const struct connlimit_addr *addr, int counted)
{
	struct server_conn	*sc;

	sc = xcalloc(1, sizeof(*sc));
	sc->w = w;
	sc->kind = kind;
	sc->addr = *addr;
	sc->standing = counted ? SCS_COUNTED : SCS_UNPROVEN;
	TAILQ_INSERT_TAIL(&w->conns, sc, entry);
	w->nconns++;
	w->nkind[kind]++;
	__atomic_fetch_add(&w->m->connections_total, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&w->m->connections_open, w->nconns,
	    __ATOMIC_RELAXED);
	__atomic_store_n(&w->m->listener_open[kind], w->nkind[kind],
	    __ATOMIC_RELAXED);
	return sc;
}

/* A new connection: TLS on listen and [login] listen, plain HTTP on
 * health_listen. */
static void
server_accept(struct server_worker *w, evutil_socket_t fd, struct sockaddr *sa,
    int salen, enum listener_kind kind)
{
	static const struct http_callbacks base_cb = {
		sreq_request_cb, server_closed_cb,
		server_handshake_failed_cb, NULL
	};
	struct http_callbacks	 cb = base_cb;
	struct connlimit_addr	 addr;
	struct server_conn	*sc;
	SSL			*ssl;
	int			 one = 1, counted;

	connlimit_addr(sa, &addr);
	if (w->draining || !server_admit(w, kind, &addr, &counted)) {
		close(fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (evutil_make_socket_nonblocking(fd) != 0 ||
	    server_tls(w, fd, kind, &ssl) != 0) {
		close(fd);
		if (counted)
			connlimit_release(&addr, kind, 0, monotonic_ms());
		return;
	}
	sc = server_conn_new(w, kind, &addr, counted);
	cb.arg = sc;
	sc->hc = http_conn_new(w->base, fd, ssl, sa, (socklen_t)salen,
	    kind == LISTENER_HEALTH ? &w->health_lim : &w->lim, &cb);
	limit_client(http_peer(sc->hc), sc->client, sizeof(sc->client));
	if (w->nkind[kind] >= w->maxconns[kind])
		server_worker_check(w, kind);
}

static void
server_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	server_accept(arg, fd, sa, salen, LISTENER_REVIEW);
}

static void
server_health_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	server_accept(arg, fd, sa, salen, LISTENER_HEALTH);
}

static void
server_login_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	server_accept(arg, fd, sa, salen, LISTENER_LOGIN);
}

static void
server_resume_cb(evutil_socket_t fd, short events, void *arg)
{
	struct server_worker	*w = arg;
	int			 k;

	for (k = 0; k < LISTENER_MAX; k++)
		server_worker_check(w, (enum listener_kind)k);
}

/* accept() failed, most likely EMFILE: stop accepting for a second. */
static void
server_accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct server_worker	*w = arg;
	struct timeval		 tv = { 1, 0 };
	int			 k;

	log_msg(LL_ERROR, "accept", "accept: %s; pausing for 1 s",
	    strerror(EVUTIL_SOCKET_ERROR()));
	for (k = 0; k < LISTENER_MAX; k++)
		server_worker_pause(w, (enum listener_kind)k, 1);
	evtimer_del(w->resume_ev);
	evtimer_add(w->resume_ev, &tv);
}

static void
server_worker_use(struct server_worker *w, struct runtime *rt)
{
	const struct config	*conf = rt->conf;
	struct server_view	*v;
	int			 k;

	v = xcalloc(1, sizeof(*v));
	v->refs = 1;
	v->rt = rt;		/* takes the caller's reference */
	v->chain = auth_chain_new(rt, w->base);
	server_view_unref(w, w->view);
	w->view = v;
	w->lim.max_header = conf->max_header;
	w->lim.max_body = conf->max_body;
	w->lim.idle_timeout = conf->idle_timeout;
	w->lim.read_timeout = conf->read_timeout;
	w->lim.write_timeout = conf->write_timeout;
	w->lim.handshake_timeout = conf->handshake_timeout;
	w->lim.warm = &w->warm;
	/* Anyone may use the health port: its connections take no warm
	 * place from the API server's. */
	w->health_lim = w->lim;
	w->health_lim.warm = NULL;
	w->maxconns[LISTENER_REVIEW] = (conf->max_connections +
	    w->srv->nw - 1) / w->srv->nw;
	w->maxconns[LISTENER_HEALTH] = (conf->health_max_connections +
	    w->srv->nw - 1) / w->srv->nw;
	/* [login] max_connections is per worker; kept if [login] goes. */
	if (rt->login != NULL)
		w->maxconns[LISTENER_LOGIN] = rt->login->max_connections;
	else if (w->maxconns[LISTENER_LOGIN] == 0)
		w->maxconns[LISTENER_LOGIN] = 1;
	w->perclient = conf->max_connections_per_client;
	for (k = 0; k < LISTENER_MAX; k++) {
		if (w->paused[k])
			server_worker_check(w, (enum listener_kind)k);
	}
}

static void
server_stop_cb(evutil_socket_t fd, short events, void *arg)
{
	struct server_worker	*w = arg;

	log_msg(LL_WARN, "shutdown", "worker %d: %d connections still open "
	    "after shutdown_timeout; closing them", w->id, w->nconns);
	event_base_loopexit(w->base, NULL);
}

static void
server_worker_drain(struct server_worker *w)
{
	struct server_conn	*sc, *next;
	struct timeval		 tv;
	size_t			 i;

	for (i = 0; i < w->nlev; i++)
		evconnlistener_free(w->lev[i]);
	w->nlev = 0;
	w->draining = 1;
	/* Idle connections close now, busy ones after their answer. */
	for (sc = TAILQ_FIRST(&w->conns); sc != NULL; sc = next) {
		next = TAILQ_NEXT(sc, entry);
		http_conn_drain(sc->hc);
	}
	if (w->nconns == 0) {
		event_base_loopexit(w->base, NULL);
		return;
	}
	ms_to_timeval(w->view->rt->conf->shutdown_timeout, &tv);
	evtimer_add(w->stop_ev, &tv);
}

/* The main thread has news: a new runtime, or drain. */
static void
server_ctl_cb(void *arg)
{
	struct server_worker	*w = arg;
	struct runtime		*rt;
	int			 drain;

	pthread_mutex_lock(&w->mtx);
	rt = w->next_rt;
	w->next_rt = NULL;
	drain = w->drain_req;
	w->drain_req = 0;
	pthread_mutex_unlock(&w->mtx);
	if (rt != NULL)
		server_worker_use(w, rt);
	if (drain && !w->draining)
		server_worker_drain(w);
}

/* Write the audit lines gathered since the last tick in one go. */
static void
server_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	struct server_worker	*w = arg;
	long long		 ms = w->view->rt->conf->log_flush_interval;
	struct timeval		 tv;

	log_buffer(ms > 0);
	log_flush();
	if (ms == 0)
		ms = 1000;	/* look again: a reload may turn it on */
	ms_to_timeval(ms, &tv);
	evtimer_add(w->flush_ev, &tv);
}

static void *
server_worker_main(void *arg)
{
	struct server_worker	*w = arg;

	server_ctl_cb(w);
	server_flush_cb(-1, 0, w);
	event_base_dispatch(w->base);
	log_buffer(0);
	return NULL;
}

/* A listening socket of its own for one worker, sharing the port. */
static int
server_listen_socket(struct sockaddr *sa, socklen_t salen, char *err,
    size_t errlen, const char *spec)
{
	int	fd, one = 1;

	fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)))
		goto fail;
	if (sa->sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6,
	    IPV6_V6ONLY, &one, sizeof(one)))
		goto fail;
	if (bind(fd, sa, salen) == -1 || listen(fd, 1024) == -1)
		goto fail;
	return fd;
fail:
	snprintf(err, errlen, "listen %s: %s", spec, strerror(errno));
	if (fd != -1)
		close(fd);
	return -1;
}

/* A numeric HOST:PORT or [HOST]:PORT as a socket address; -1 if not. */
static int
server_listen_addr(const char *spec, struct sockaddr_storage *ss,
    socklen_t *sslen)
{
	struct addrinfo	 hints, *ai = NULL;
	char		 host[256], *port;
	int		 r = -1;

	strlcpy(host, spec[0] == '[' ? spec + 1 : spec, sizeof(host));
	if ((port = strrchr(host, ':')) == NULL)
		return -1;
	*port++ = '\0';
	if (spec[0] == '[' && (port < host + 2 || port[-2] != ']'))
		return -1;
	if (spec[0] == '[')
		port[-2] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) == 0 && ai != NULL) {
		memcpy(ss, ai->ai_addr, ai->ai_addrlen);
		*sslen = ai->ai_addrlen;
		r = 0;
	}
	if (ai != NULL)
		freeaddrinfo(ai);
	return r;
}

/*
 * Bind one address in every worker; port 0 becomes the first one's port.
 * The review and login ports speak TLS, a health port plain HTTP.
 */
static int
server_listen(struct server *srv, const char *spec, enum listener_kind kind,
    char *err, size_t errlen)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct server_worker	*w;
	uint16_t		 bound;
	int			 i, fd;
	static const char *const what[LISTENER_MAX] = {
		"TLS", "plain HTTP, health only", "TLS, login"
	};
	static evconnlistener_cb const cbs[LISTENER_MAX] = {
		server_accept_cb, server_health_accept_cb,
		server_login_accept_cb
	};

	if (server_listen_addr(spec, &ss, &sslen) != 0) {
		snprintf(err, errlen, "listen %s: not a numeric HOST:PORT",
		    spec);
		return -1;
	}
	for (i = 0; i < srv->nw; i++) {
		w = &srv->w[i];
		if ((fd = server_listen_socket((struct sockaddr *)&ss, sslen,
		    err, errlen, spec)) == -1)
			return -1;
		/* Port 0: the others must join the port the first got. */
		if (i == 0 && getsockname(fd, (struct sockaddr *)&ss,
		    &sslen) == -1)
			fatal("getsockname");
		w->lev[w->nlev] = evconnlistener_new(w->base, cbs[kind], w,
		    LEV_OPT_CLOSE_ON_FREE, 0, fd);
		if (w->lev[w->nlev] == NULL)
			fatalx("evconnlistener_new failed");
		evconnlistener_set_error_cb(w->lev[w->nlev],
		    server_accept_error_cb);
		w->levkind[w->nlev] = kind;
		w->nlev++;
	}
	bound = ntohs(ss.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&ss)->sin6_port :
	    ((struct sockaddr_in *)&ss)->sin_port);
	if (kind == LISTENER_REVIEW && srv->port == 0)
		srv->port = bound;
	if (kind == LISTENER_HEALTH && srv->health_port == 0)
		srv->health_port = bound;
	if (kind == LISTENER_LOGIN && srv->login_port == 0)
		srv->login_port = bound;
	log_msg(LL_INFO, "listen", "listening on %s (%s, port %u, %d "
	    "workers)", spec, what[kind], bound, srv->nw);
	return 0;
}

/*
 * With the epoll changelist, the write event a reply adds and removes
 * within one loop turn costs no epoll_ctl() at all.
 */
static struct event_base *
server_worker_base(void)
{
	struct event_config	*cfg;
	struct event_base	*base;

	if ((cfg = event_config_new()) == NULL)
		fatalx("event_config_new failed");
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	if ((base = event_base_new_with_config(cfg)) == NULL)
		fatalx("event_base_new failed");
	event_config_free(cfg);
	return base;
}

/*
 * Every connection is a file descriptor: make sure the caps can be
 * reached before the process runs out of them (EMFILE pauses every
 * listener).  The soft limit is raised as far as the hard one allows.
 */
static void
server_nofile(const struct config *conf, const struct login_conf *login)
{
	struct rlimit	rl;
	rlim_t		want;

	want = (rlim_t)conf->max_connections +
	    (rlim_t)conf->health_max_connections + SERVER_NOFILE_SPARE;
	if (login != NULL)
		want += (rlim_t)login->max_connections * (rlim_t)conf->workers;
	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur >= want)
		return;
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ?
	    want : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
		getrlimit(RLIMIT_NOFILE, &rl);
	if (rl.rlim_cur < want)
		log_msg(LL_WARN, "nofile", "open files are limited to %llu, "
		    "fewer than max_connections and health_max_connections "
		    "need (%llu); raise the limit (ulimit -n, LimitNOFILE=) "
		    "or lower the caps", (unsigned long long)rl.rlim_cur,
		    (unsigned long long)want);
}

struct server *
server_new(struct runtime *rt, char *err, size_t errlen)
{
	struct server		*srv;
	struct server_worker	*w;
	size_t			 i;
	int			 k;

	server_nofile(rt->conf, rt->login);
	srv = xcalloc(1, sizeof(*srv));
	srv->nw = rt->conf->workers;
	srv->w = xcalloc((size_t)srv->nw, sizeof(*srv->w));
	srv->rt = rt;
	runtime_ref(rt);
	for (k = 0; k < srv->nw; k++) {
		w = &srv->w[k];
		w->srv = srv;
		w->id = k;
		TAILQ_INIT(&w->conns);
		pthread_mutex_init(&w->mtx, NULL);
		w->base = server_worker_base();
		w->ctl_wake = wake_new(w->base, server_ctl_cb, w);
		w->resume_ev = evtimer_new(w->base, server_resume_cb, w);
		w->stop_ev = evtimer_new(w->base, server_stop_cb, w);
		w->flush_ev = evtimer_new(w->base, server_flush_cb, w);
		w->reap_ev = event_new(w->base, -1, 0, server_reap_cb, w);
		SLIST_INIT(&w->dead);
		w->m = metrics_register();
		w->warm.max = HTTP_WARM_MAX;
		w->warm.gauge = &w->m->connections_warm;
		w->next_rt = rt;
		runtime_ref(rt);
	}
	for (i = 0; i < rt->conf->nlisten + rt->conf->nhealth_listen; i++) {
		if (server_listen(srv, i < rt->conf->nlisten ?
		    rt->conf->listen[i] :
		    rt->conf->health_listen[i - rt->conf->nlisten],
		    i < rt->conf->nlisten ? LISTENER_REVIEW : LISTENER_HEALTH,
		    err, errlen) != 0) {
			server_free(srv);
			return NULL;
		}
	}
	for (i = 0; rt->login != NULL && i < rt->login->nlisten; i++) {
		if (server_listen(srv, rt->login->listen[i], LISTENER_LOGIN,
		    err, errlen) != 0) {
			server_free(srv);
			return NULL;
		}
	}
	return srv;
}

int
server_start(struct server *srv)
{
	int	k;

	for (k = 0; k < srv->nw; k++) {
		if (thread_start(&srv->w[k].thread, server_worker_main,
		    &srv->w[k]) != 0)
			fatalx("pthread_create failed");
	}
	return 0;
}

uint16_t
server_port(struct server *srv)
{
	return srv->port;
}

uint16_t
server_health_port(struct server *srv)
{
	return srv->health_port;
}

uint16_t
server_login_port(struct server *srv)
{
	return srv->login_port;
}

void
server_swap(struct server *srv, struct runtime *rt)
{
	struct server_worker	*w;
	int			 k;

	server_nofile(rt->conf, rt->login);
	for (k = 0; k < srv->nw; k++) {
		w = &srv->w[k];
		runtime_ref(rt);
		pthread_mutex_lock(&w->mtx);
		if (w->next_rt != NULL)
			runtime_unref(w->next_rt);
		w->next_rt = rt;
		pthread_mutex_unlock(&w->mtx);
		wake_signal(w->ctl_wake);
	}
	runtime_ref(rt);
	runtime_unref(srv->rt);
	srv->rt = rt;
}

void
server_drain(struct server *srv, long long timeout_ms)
{
	struct server_worker	*w;
	int			 k;

	for (k = 0; k < srv->nw; k++) {
		w = &srv->w[k];
		pthread_mutex_lock(&w->mtx);
		w->drain_req = 1;
		pthread_mutex_unlock(&w->mtx);
		wake_signal(w->ctl_wake);
	}
	for (k = 0; k < srv->nw; k++)
		pthread_join(srv->w[k].thread, NULL);
}

void
server_free(struct server *srv)
{
	struct server_worker	*w;
	size_t			 i;
	int			 k;

	if (srv == NULL)
		return;
	for (k = 0; k < srv->nw; k++) {
		w = &srv->w[k];
		while (!TAILQ_EMPTY(&w->conns))
			http_conn_close(TAILQ_FIRST(&w->conns)->hc);
		for (i = 0; i < w->nlev; i++)
			evconnlistener_free(w->lev[i]);
		server_view_unref(w, w->view);
		server_view_reap(w);
		event_free(w->reap_ev);
		runtime_unref(w->next_rt);
		wake_free(w->ctl_wake);
		event_free(w->resume_ev);
		event_free(w->stop_ev);
		event_free(w->flush_ev);
		event_base_free(w->base);
		pthread_mutex_destroy(&w->mtx);
	}
	runtime_unref(srv->rt);
	free(srv->w);
	free(srv);
}
