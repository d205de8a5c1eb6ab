/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The private types and prototypes of the LDAP source, shared by its
 * files and by nothing else: auth-ldap.c (the backend, a review's walk
 * over the directories, metrics), ldap-conf.c (the [ldap] sections),
 * ldap-pool.c (each worker's connections, failover and return),
 * ldap-tls.c (TLS under libldap) and ldap-search.c (the user search, the
 * bind and the group searches).  Include after tokenreviewd.h.
 */

#ifndef TR_LDAP_INT_H
#define TR_LDAP_INT_H

#include <regex.h>

#include <ldap.h>

/* Exported by libldap and documented in ldap_open(3), not in ldap.h. */
#ifndef LDAP_PROTO_TCP
#define LDAP_PROTO_TCP	1
#define LDAP_PROTO_IPC	3
int	ldap_init_fd(ber_socket_t, int, const char *, LDAP **);
#endif

#define LDAP_MAX_URIS		8
#define LDAP_MAX_LOGIN		256	/* bytes of a user name in a token */
#define LDAP_MAX_BASIC		1024	/* longest bind-mode token */
#define LDAP_MAX_GROUPS		10000	/* highest max_groups */
#define LDAP_MAX_OR		32	/* group DNs per nested search */
#define LDAP_BACKOFF_MIN	500	/* ms a failed URI waits, doubling */
#define LDAP_BUSY_OPS		16	/* open another search connection */
#define LDAP_MAX_EXTRA		16	/* extra attributes */
#define LDAP_MAX_VALUES		64	/* values per extra attribute */
#define LDAP_LOCKED_ATTR	"pwdAccountLockedTime"	/* ppolicy's lock */
#ifndef nitems
#define nitems(a)		(sizeof(a) / sizeof((a)[0]))
#endif

enum ldap_mode {
	LM_BIND,
	LM_ATTRIBUTE,
};

enum ldap_optype {
	OT_CONNECT,
	OT_STARTTLS,
	OT_BIND,
	OT_SEARCH,
	OT_MAX,
};

enum ldap_opres {
	OR_SUCCESS,
	OR_REJECTED,	/* the server said no (bad password, no such user) */
	OR_ERROR,
	OR_TIMEOUT,
	OR_MAX,
};

/* How a URI's connections are protected. */
enum ltls_mode {
	LTLS_NONE,
	LTLS_LDAPS,	/* TLS from the first byte */
	LTLS_STARTTLS,	/* the StartTLS operation, then TLS */
};

/* Counters shared by all workers; updated with relaxed atomics. */
struct ldap_stats {
	uint64_t	ops[OT_MAX][OR_MAX];
	uint64_t	usec_sum[OT_MAX];
	int64_t		connections;
	int64_t		uri_connections[LDAP_MAX_URIS];
	uint64_t	failovers;
	uint64_t	lockouts;	/* user names locked out */
	uint64_t	lockout_refused; /* reviews refused meanwhile */
	int		unreachable;	/* the last attempt found no URI */
	uint64_t	system_groups;	/* groups dropped (names.c) */
	uint64_t	system_users;	/* answers refused for the user name */
};

struct ldap_uri {
	char		*uri;
	enum ltls_mode	 tls;
	int		 ipc;
	char		*host;		/* host, or socket path for ldapi */
	int		 port;
};

/* One [ldap "NAME"] section, immutable once loaded. */
struct ldap_dir {
	char		*name;
	char		*mname;		/* name as a Prometheus label value */
	struct ldap_uri	 uris[LDAP_MAX_URIS];
	size_t		 nuris;
	int		 insecure;	/* ldap:// without StartTLS */
	char		*ca;
	char		*cert;
	char		*key;
	void		*tls_ctx;	/* SSL_CTX *, when a URI uses TLS */
	char		*bind_dn;
	char		*bind_password;
	size_t		 bind_password_len;
	char		*bind_password_file;
	enum ldap_mode	 mode;
	char		*user_base;
	char		*user_filter;
	char		*token_attribute;
	char		*username_attribute;
	char		*username_prefix;
	char		*uid_attribute;
	char		**extra_attrs;	/* NULL-terminated */
	char		**extra_keys;	/* extra_keys[i] from extra_attrs[i] */
	size_t		 nextra;
	char		*memberof_attribute;
	char		*group_base;
	char		*group_filter;
	char		*group_name_attribute;
	char		*group_prefix;
	int		 allow_system_names;
	struct names_once *system_logged;
	int		 nested_depth;
	int		 has_allow;
	int		 has_deny;
	regex_t		 group_allow;
	regex_t		 group_deny;
	long long	 timeout;
	long long	 connect_timeout;
	long long	 backoff_max;
	int		 pool_size;
	int		 page_size;	/* 0: group searches are not paged */
	int		 max_groups;
	struct lockout_conf lockout;	/* failed binds per user name */
	int		 reviews;	/* asked by reviews of tokens */
	struct ldap_stats stats;
};

struct ldap_shared {
	struct ldap_dir	*dirs;
	size_t		 ndirs;
};

/*
 * Search connections are shared; bind and paged connections serve one
 * request at a time (a bind changes the identity of its connection, and
 * slapd keeps the state of one paged search per connection).
 */
enum lconn_kind {
	LK_SEARCH,
	LK_BIND,
	LK_PAGED,
	LK_MAX,		/* the number of pools */
	LK_NONE = LK_MAX, /* a request not queued for any pool */
};

enum lconn_state {
	LS_CONNECTING,
	LS_STARTTLS,
	LS_TLS,		/* TLS handshake */
	LS_SVCBIND,
	LS_READY,
	LS_DEAD,
};

struct lop;
struct lreq;
struct ldap_wdir;

struct lconn {
	struct ldap_wdir	*wd;
	enum lconn_kind		 kind;
	enum lconn_state	 state;
	size_t			 uri;
	int			 fd;
	LDAP			*ld;
	struct event		*ev;
	struct event		*tmo;	/* setup deadline */
	void			*ssl;	/* SSL * until libldap owns it */
	struct event		*tlsev;	/* a handshake step's wait */
	int			 setup_msgid;
	double			 setup_start;
	int			 probe;		/* to a paused URI */
	struct lreq		*holder;	/* paged search between pages */
	int			 retiring;	/* close when idle */
	int			 tls_layer;	/* libldap reads through ltls */
	int			 unread;	/* the socket woke, not read */
	void			*tls;		/* that layer's SSL, libldap's */
	struct evbuffer		*wbuf;		/* written, not yet sent */
	struct event		*flushev;	/* sends wbuf */
	TAILQ_HEAD(, lop)	 ops;
	size_t			 nops;
	int			 dispatching;
	TAILQ_ENTRY(lconn)	 entry;
};
TAILQ_HEAD(lconn_list, lconn);

/* What an operation's callback is told. */
enum lop_event {
	LOP_ENTRY,	/* an entry (or reference) of a search */
	LOP_RESULT,	/* the final result; rc is its result code */
	LOP_LOST,	/* msg NULL: the connection was lost */
	LOP_TIMEOUT,	/* msg NULL: no answer in time */
};

typedef void	 (*lop_cb)(struct lreq *, LDAP *, LDAPMessage *,
		    enum lop_event, int rc);

struct lop {
	struct lconn		*conn;
	int			 msgid;
	enum ldap_optype	 type;
	struct event		*timer;
	double			 start;
	struct lreq		*lr;
	lop_cb			 cb;
	TAILQ_ENTRY(lop)	 entry;
};

/* One directory in one worker: its pools and the health of its URIs. */
struct ldap_wdir {
	struct ldap_inst	*li;
	struct ldap_dir		*dir;
	struct lconn_list	 conns[LK_MAX];
	size_t			 nconns[LK_MAX];
	TAILQ_HEAD(, lreq)	 waiting[LK_MAX];
	uint64_t		 down_until[LDAP_MAX_URIS];
	struct backoff		 backoff[LDAP_MAX_URIS]; /* per URI */
	int			 probing;	/* a paused URI is tried */
	int			 opening;	/* inside lconn_open() */
	int			 unreachable[LK_MAX]; /* fail the waiters */
	unsigned		 round[LK_MAX];	/* URIs failed for waiters */
	size_t			 nretiring[LK_MAX];
	struct event		*kick;
	struct event		*back;		/* probe an earlier URI */
};

struct ldap_inst {
	struct ldap_shared	*ls;
	struct event_base	*base;
	struct ldap_wdir	*wd;
	TAILQ_HEAD(, lreq)	 active;
};

enum lreq_step {
	LR_USER,
	LR_BIND,
	LR_GROUPS,
	LR_NESTED,
};

/*
 * What a review found in the directory it is asking.  Zero is its state
 * before the first step; lreq_reset() frees what it owns and zeroes it
 * as a whole before the next directory.
 */
struct lreq_dir {
	enum lreq_step		 step;
	int			 retries;
	int			 bind_began;	/* has a place in the lockout */
	char			*login;
	char			*password;
	size_t			 password_len;
	char			*dn;
	char			*rawname;	/* username value, no prefix */
	char			*uid;
	char			**extra[LDAP_MAX_EXTRA];	/* values */
	size_t			 nentries;
	int			 locked;	/* LDAP_LOCKED_ATTR is set */
	char			*error;		/* of this directory */

	struct strvec		 names;		/* group names */
	struct strvec		 gdns;		/* group DNs seen (cycles) */
	size_t			*gset;		/* hash set: gdns index + 1 */
	size_t			 gcap;
	size_t			 cursor;	/* next group DN to expand */
	size_t			 chunk_end;	/* end of the chunk asked for */
	size_t			 level_end;
	int			 depth;
	int			 overflow;	/* more than max_groups */

	int			 paged;		/* ask this search in pages */
	char			*gfilter;	/* of the paged search */
	struct berval		 cookie;	/* its next page */
	struct lconn		*held;		/* its connection */
};

/* One review, walking the directories in order. */
struct lreq {
	struct ldap_inst	*li;
	struct auth_req		*req;
	struct auth_result	*res;
	auth_done_cb		 done;
	size_t			 dir;
	struct lreq_dir		 ds;		/* in dirs[dir] */
	char			*errors;
	int			 loud;		/* an error to log per review */
	int			 sync;		/* inside authenticate() */
	int			 finished;
	enum auth_rv		 final;
	int			 recheck;	/* auth_ldap_recheck(): no bind */
	int			 login;		/* auth_ldap_login(): only
						   dirs[login_dir], binding */
	size_t			 login_dir;
	long long		 lockout_left;	/* ms, the name locked out */

	struct lop		*op;
	enum lconn_kind		 waiting;	/* LK_NONE or the pool's */
	struct event		*wait_tmo;	/* bounds the wait */
	TAILQ_ENTRY(lreq)	 wentry;
	TAILQ_ENTRY(lreq)	 aentry;
};

/* Whether the request binds as the user here: bind mode, or a /login. */
/* Does this request bind as its user in d?  Never a recheck. */
#define lreq_binds(lr, d)	(!(lr)->recheck && \
				 ((lr)->login || (d)->mode == LM_BIND))

/* auth-ldap.c */
int		 auth_ldap_rejected(int rc);
void		 auth_ldap_stats_op(struct ldap_dir *, enum ldap_optype,
		    enum ldap_opres, double start);
/* What the buffer holds, as a string the caller frees. */
char		*auth_ldap_buf_take(struct evbuffer *);
/* A Prometheus label value, escaped; the caller frees it. */
char		*auth_ldap_label(const char *);
/* The review's current step, on a connection of the right kind. */
void		 lreq_run(struct lreq *);
/* This directory's verdict: the next directory, or the review's end. */
void		 lreq_dir_done(struct lreq *, enum auth_rv);
/* This directory fails with an error (logged with the review). */
void		 lreq_error(struct lreq *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

/* ldap-conf.c */
int		 lconf_load(const struct config *, void **shared, char *err,
		    size_t errlen);
void		 lconf_unload(void *shared);

/* ldap-pool.c */
void		 lpool_init(struct ldap_wdir *, struct ldap_inst *,
		    struct ldap_dir *);
void		 lpool_close(struct ldap_wdir *);
int		 lpool_acquire(struct ldap_wdir *, struct lreq *,
		    enum lconn_kind, struct lconn **);
void		 lpool_kick(struct ldap_wdir *);
void		 lconn_fail(struct lconn *, const char *, int uri_fault);
void		 lconn_idle_check(struct lconn *);
void		 lconn_service_bind(struct lconn *);
struct lop	*lconn_op_new(struct lconn *, struct lreq *, enum ldap_optype,
		    int msgid, lop_cb);
void		 lconn_op_abandon(struct lop *);

/* ldap-tls.c */
void		 ltls_start(struct lconn *);
void		 ltls_free(struct lconn *);

/* ldap-search.c */
void		 lsearch_user(struct lreq *, struct lconn *);
void		 lsearch_bind(struct lreq *, struct lconn *);
void		 lsearch_groups(struct lreq *, struct lconn *);
void		 lsearch_groups_next(struct lreq *);
void		 lsearch_release(struct lreq *);
void		 lsearch_extra_free(struct lreq_dir *);
int		 lsearch_locked_out(struct lreq *);
void		 lsearch_lockout_end(struct lreq *, enum lockout_outcome);

#endif /* TR_LDAP_INT_H */
