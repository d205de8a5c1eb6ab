/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * What the two halves of a worker share: server.c runs the threads, the
 * listeners and the connections' lifecycle, server-request.c answers
 * what a connection asks for.  Private to them; include it after
 * tokenreviewd.h and http.h.
 */

#ifndef SERVER_H
#define SERVER_H

/* A worker's hold on one runtime: the backends' per-worker instances. */
struct server_view {
	int			 refs;	/* worker thread only */
	struct runtime		*rt;
	struct auth_chain	*chain;
	SLIST_ENTRY(server_view) dead;
};
SLIST_HEAD(server_view_list, server_view);

struct server_conn;
TAILQ_HEAD(server_conn_list, server_conn);

/* One worker thread: its loop, its listeners and its connections. */
struct server_worker {
	struct server		*srv;
	int			 id;
	pthread_t		 thread;
	struct event_base	*base;
	struct evconnlistener	*lev[3 * TR_MAX_LISTEN];
	enum listener_kind	 levkind[3 * TR_MAX_LISTEN];
	size_t			 nlev;
	struct wake		*ctl_wake;
	struct event		*resume_ev;
	struct event		*stop_ev;
	struct event		*flush_ev;
	struct event		*reap_ev;
	struct metrics		*m;
	struct server_view	*view;
	struct server_view_list	 dead;	/* views to free from the loop */
	struct http_limits	 lim;
	struct http_limits	 health_lim;	/* lim, never warm */
	struct http_warm	 warm;
	struct server_conn_list	 conns;	/* oldest first */
	int			 nconns;	/* of all listeners */
	int			 nkind[LISTENER_MAX];
	int			 maxconns[LISTENER_MAX];
	int			 paused[LISTENER_MAX];
	int			 perclient;	/* max_connections_per_client */
	int			 full[LISTENER_MAX];	/* at the cap, logged */
	uint64_t		 evicted[LISTENER_MAX]; /* ... and since then */
	uint64_t		 refused[LISTENER_MAX];
	int			 draining;

	pthread_mutex_t		 mtx;	/* guards the two below */
	struct runtime		*next_rt;
	int			 drain_req;
};

/* One review in progress. */
struct sreq_review {
	struct server_conn	*sc;
	struct server_view	*view;
	struct review_request	 rr;
	struct auth_req		 areq;
	double			 start;
};

/*
 * Where a connection stands with the per-client limit (connlimit.c): it
 * holds a slot there until its caller has proven itself.
 */
enum server_conn_standing {
	SCS_UNPROVEN,	/* caller not proven, no slot held */
	SCS_COUNTED,	/* caller not proven, holding a slot */
	SCS_PROVEN,	/* proven, but with no credential: earns no trust */
	SCS_TRUSTED,	/* proven with a credential, trusted in connlimit */
};

/* One accepted connection, on its worker's list. */
struct server_conn {
	struct server_worker	*w;
	struct http_conn	*hc;
	enum listener_kind	 kind;		/* of its listener */
	struct sreq_review	*review;
	struct login_req	*login;		/* a POST /login in flight */
	char			 client[INET6_ADDRSTRLEN]; /* for limits */
	struct connlimit_addr	 addr;
	enum server_conn_standing standing;
	unsigned int		 nreq;		/* requests received */
	TAILQ_ENTRY(server_conn) entry;
};

/* server.c */
/* Drop a reference to a view; the last one frees it from the loop. */
void	server_view_unref(struct server_worker *, struct server_view *);
/* A request on a connection not proven yet: has its caller proven itself? */
void	server_conn_prove(struct server_conn *);

/* server-request.c */
/* http_callbacks.request of every connection; arg is its server_conn. */
void	sreq_request_cb(struct http_conn *, void *arg);
/* The shared bearer token, if one is set, is on the request. */
int	sreq_client_token_ok(struct server_conn *, struct runtime *);
/* The connection is going away: cancel and free its review, if any. */
void	sreq_drop(struct server_conn *);

/* login.c */
/* A request on the login listener. */
void	login_request(struct server_conn *);
/* The connection is going away: cancel and free its login, if any. */
void	login_drop(struct server_conn *);

#endif /* SERVER_H */
