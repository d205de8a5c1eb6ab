/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The LDAP backend.  Each [ldap "NAME"] section is one directory; the
 * directories are asked in file order.  In bind mode the token is
 * base64("user:password"): the user is searched with the service account
 * and then bound as with the password.  In attribute mode the entry holds
 * the hex SHA-256 of the token in a configured attribute.  Groups come
 * from memberOf or a group search, optionally followed up nested groups.
 *
 * Nothing here blocks a worker: every worker has its own small pools of
 * connections per directory, opened lazily with a non-blocking connect(2)
 * and handed to libldap with ldap_init_fd(); StartTLS and all operations
 * are sent with libldap's asynchronous calls, the socket is watched by the
 * worker's event loop, and results are drained with a zero timeout and
 * dispatched by message id.  TLS is OpenSSL's, not libldap's own (whose
 * handshake waits on the socket): the handshake is stepped by the event
 * loop like everything else, and libldap then reads and writes through an
 * lber I/O layer over the SSL.  Host names in URIs are resolved with
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
 * first one's cookie.  Most group searches fit in one answer and share
 * the search connections.
 *
 * In bind mode, failed logins are counted per user name (limit.c): past
 * bind_failure_limit within bind_failure_window, the name's reviews fail
 * with an error for bind_lockout without a search or a bind, so that
 * guessing never reaches the directory's own account lockout.  Binds are
 * counted by the entry's DN too: the directory may fold names that differ
 * here (the case of non-ASCII letters) to one account.  A bind in flight
 * holds a place among the failures, and a bind sent without an answer
 * counts as failed.
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

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <ldap.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tokenreviewd.h"

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
#define LDAP_BACKOFF_MIN	500	/* ms a failed URI is skipped, doubling */
#define LDAP_BUSY_OPS		16	/* open another search connection */
#define LDAP_MAX_EXTRA		16	/* extra attributes */
#ifndef nitems
#define nitems(a)		(sizeof(a) / sizeof((a)[0]))
#endif
#define LDAP_MAX_VALUES		64	/* values per extra attribute */

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

static const char *const optype_names[OT_MAX] = {
	"connect", "starttls", "bind", "search"
};
static const char *const opres_names[OR_MAX] = {
	"success", "rejected", "error", "timeout"
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
	char	*uri;
	int	 tls;		/* 0 none, 1 ldaps, 2 StartTLS */
	int	 ipc;
	char	*host;		/* host, or socket path for ldapi */
	int	 port;
};

/* One [ldap "NAME"] section, immutable once loaded. */
struct ldap_dir {
	char		*name;
	char		*mname;		/* name as a Prometheus label value */
	struct ldap_uri	 uris[LDAP_MAX_URIS];
	size_t		 nuris;
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
	LK_MAX,
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
	TAILQ_HEAD(, lop)	 ops;
	size_t			 nops;
	int			 dispatching;
	TAILQ_ENTRY(lconn)	 entry;
};
TAILQ_HEAD(lconn_list, lconn);

/*
 * Called for each entry of a search (last 0) and for the final result
 * (last 1, rc its result code), or with msg NULL when the operation
 * failed: last is then -1 (connection lost) or -2 (timed out).
 */
typedef void	 (*lop_cb)(struct lreq *, LDAP *, LDAPMessage *, int last,
		    int rc);

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
	unsigned		 fails[LDAP_MAX_URIS];
	int			 probing;	/* a paused URI is tried */
	int			 opening;	/* inside conn_open() */
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

/* One review, walking the directories in order. */
struct lreq {
	struct ldap_inst	*li;
	struct auth_req		*req;
	struct auth_result	*res;
	auth_done_cb		 done;
	size_t			 dir;
	char			*errors;
	int			 any_error;
	int			 loud;		/* an error to log per review */
	int			 bind_began;	/* holds a place in the lockout */

	enum lreq_step		 step;
	int			 retries;
	char			*login;
	char			*password;
	size_t			 password_len;
	char			*dn;
	char			*username;
	char			*uid;
	size_t			 nentries;
	char			**names;	/* group names */
	size_t			 nnames;
	char			**gdns;		/* group DNs seen (cycles) */
	size_t			 ngdns;
	size_t			*gset;		/* hash set: index + 1 in gdns */
	size_t			 gcap;
	size_t			 cursor;	/* next group DN to expand */
	size_t			 chunk_end;	/* end of the chunk asked for */
	size_t			 level_end;
	int			 overflow;	/* more than max_groups */
	int			 paged;		/* ask this search in pages */
	char			*gfilter;	/* of the paged search */
	struct berval		 cookie;	/* its next page */
	struct lconn		*held;		/* its connection */
	int			 depth;
	char			*error;		/* of this directory */
	int			 rejected;

	char			*rawname;	/* username value, no prefix */
	char			**extra[LDAP_MAX_EXTRA];	/* values */
	int			 sync;		/* inside authenticate() */
	int			 finished;
	enum auth_rv		 final;

	struct lop		*op;
	int			 waiting;	/* -1 or the pool kind */
	struct event		*wait_tmo;	/* bounds the wait */
	TAILQ_ENTRY(lreq)	 wentry;
	TAILQ_ENTRY(lreq)	 aentry;
};

static void	lr_next_dir(struct lreq *);
static void	lr_run(struct lreq *);
static void	lr_dir_done(struct lreq *, enum auth_rv);
static void	lr_error(struct lreq *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	conn_fail(struct lconn *, const char *, int);
static void	wd_kick(struct ldap_wdir *);
static struct lconn *conn_open(struct ldap_wdir *, enum lconn_kind, unsigned);
static struct lconn *conn_start(struct ldap_wdir *, enum lconn_kind, size_t);

/* ------------------------------------------------------------ helpers */

/*
 * RFC 4515: in an assertion value, '*', '(', ')', '\' and NUL are written
 * as a backslash and two hex digits.  Everything else passes unchanged;
 * the value is bytes, so non-ASCII names stay UTF-8.
 */
char *
auth_ldap_filter_escape(const char *s, size_t len)
{
	static const char	 hex[] = "0123456789abcdef";
	char			*out, *p;
	size_t			 i;

	out = p = xmalloc(3 * len + 1);
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '*' || c == '(' || c == ')' || c == '\\' || c == 0) {
			*p++ = '\\';
			*p++ = hex[c >> 4];
			*p++ = hex[c & 0xf];
		} else
			*p++ = (char)c;
	}
	*p = '\0';
	return out;
}

/*
 * Expand a filter template: %s is the (escaped) value, %u the (escaped)
 * user name, %% a percent sign.  NULL if the template holds another %
 * sequence or uses a value that is NULL.
 */
char *
auth_ldap_filter_expand(const char *tmpl, const char *value, const char *user)
{
	struct evbuffer	*b;
	char		*ev = NULL, *out = NULL;
	const char	*p, *v;
	size_t		 n;

	b = evbuffer_new();
	for (p = tmpl; *p != '\0'; p++) {
		if (*p != '%') {
			evbuffer_add(b, p, 1);
			continue;
		}
		p++;
		if (*p == '%') {
			evbuffer_add(b, "%", 1);
			continue;
		}
		if (*p == 's')
			v = value;
		else if (*p == 'u')
			v = user;
		else
			goto out;
		if (v == NULL)
			goto out;
		ev = auth_ldap_filter_escape(v, strlen(v));
		evbuffer_add(b, ev, strlen(ev));
		free(ev);
	}
	n = evbuffer_get_length(b);
	out = xmalloc(n + 1);
	evbuffer_remove(b, out, n);
	out[n] = '\0';
out:
	evbuffer_free(b);
	return out;
}

/*
 * Decode a bind-mode token, base64("user:password") with or without '='
 * padding, into two NUL-terminated strings the caller frees (the
 * password is wiped with OPENSSL_cleanse before).  0, or -1 when the
 * token does not have that shape: not base64, no colon, an empty or too
 * long user, an empty password, a NUL, or a user that is not UTF-8 or
 * holds control characters.
 */
int
auth_ldap_decode_basic(const char *tok, size_t len, char **user,
    char **password, size_t *password_len)
{
	unsigned char	*buf;
	size_t		 i, n, ulen, k;
	int		 r = -1;
	char		*colon;

	*user = *password = NULL;
	*password_len = 0;
	while (len > 0 && tok[len - 1] == '=')
		len--;
	if (len == 0 || len > LDAP_MAX_BASIC ||
	    (buf = base64_decode(tok, len, 0, &n)) == NULL)
		return -1;
	if (memchr(buf, 0, n) != NULL ||
	    (colon = memchr(buf, ':', n)) == NULL)
		goto out;
	ulen = (size_t)(colon - (char *)buf);
	if (ulen == 0 || ulen > LDAP_MAX_LOGIN || ulen + 1 == n)
		goto out;
	for (i = 0; i < ulen; i += k) {
		if (buf[i] < 0x20 || buf[i] == 0x7f ||
		    (k = utf8_seq_len(buf + i, ulen - i)) == 0)
			goto out;
	}
	*user = xstrndup((char *)buf, ulen);
	*password_len = n - ulen - 1;
	*password = xstrndup(colon + 1, *password_len);
	r = 0;
out:
	OPENSSL_cleanse(buf, n);
	free(buf);
	return r;
}

static int
valid_text(const struct berval *bv)
{
	const unsigned char	*u = (const unsigned char *)bv->bv_val;
	size_t			 i, k;

	for (i = 0; i < bv->bv_len; i += k) {
		if (u[i] == 0 || (k = utf8_seq_len(u + i, bv->bv_len - i)) == 0)
			return 0;
	}
	return 1;
}

/*
 * Active Directory's objectGUID as Windows writes it: the first three
 * fields are stored little-endian, the last two as bytes in order.
 */
static char *
guid_text(const uint8_t *g)
{
	char	*s;

	xasprintf(&s, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
	    "%02x%02x%02x%02x%02x%02x", g[3], g[2], g[1], g[0], g[5], g[4],
	    g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
	return s;
}

/*
 * An objectSid as S-R-A-S1-S2...: revision, a 48-bit big-endian
 * authority, then little-endian 32-bit sub-authorities.  NULL if the
 * bytes are not a SID.
 */
static char *
sid_text(const uint8_t *b, size_t len)
{
	char		*s, *t;
	uint64_t	 auth = 0;
	uint32_t	 sub;
	size_t		 i, n;

	if (len < 8 || b[0] != 1 || (n = b[1]) > 15 || len != 8 + 4 * n)
		return NULL;
	for (i = 2; i < 8; i++)
		auth = auth << 8 | b[i];
	xasprintf(&s, "S-%u-%llu", b[0], (unsigned long long)auth);
	for (i = 0; i < n; i++) {
		sub = (uint32_t)b[8 + 4 * i] | (uint32_t)b[9 + 4 * i] << 8 |
		    (uint32_t)b[10 + 4 * i] << 16 | (uint32_t)b[11 + 4 * i] << 24;
		xasprintf(&t, "%s-%u", s, sub);
		free(s);
		s = t;
	}
	return s;
}

char *
auth_ldap_value_text(const char *attr, const char *val, size_t len)
{
	const uint8_t	*b = (const uint8_t *)val;
	struct berval	 bv;
	char		*s;

	if (strcasecmp(attr, "objectGUID") == 0 && len == 16)
		return guid_text(b);
	if (strcasecmp(attr, "objectSid") == 0 &&
	    (s = sid_text(b, len)) != NULL)
		return s;
	bv.bv_val = (char *)val;
	bv.bv_len = len;
	if (valid_text(&bv))
		return xstrndup(val, len);
	s = xmalloc(2 * len + 1);
	hex_encode(b, len, s);
	return s;
}

/* The value of the first RDN of a DN (libldap parses it), or NULL. */
static char *
dn_first_value(const char *dnstr)
{
	LDAPDN	 dn = NULL;
	char	*s = NULL;

	if (ldap_str2dn(dnstr, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
	    dn == NULL || dn[0] == NULL || dn[0][0] == NULL)
		goto out;
	if (valid_text(&dn[0][0]->la_value))
		s = xstrndup(dn[0][0]->la_value.bv_val,
		    dn[0][0]->la_value.bv_len);
out:
	if (dn != NULL)
		ldap_dnfree(dn);
	return s;
}

static uint64_t
now_ms(void)
{
	return monotonic_ms();
}

static void
stats_op(struct ldap_dir *d, enum ldap_optype t, enum ldap_opres r,
    double start)
{
	uint64_t	us = (uint64_t)((monotonic_sec() - start) * 1e6);

	__atomic_add_fetch(&d->stats.ops[t][r], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&d->stats.usec_sum[t], us, __ATOMIC_RELAXED);
}

static void
ms_to_tv(long long ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

/* ------------------------------------------------------------ connections */

/*
 * A URI failed: skip it for a while, doubling the pause with each
 * failure up to backoff_max.  Several connections failing together
 * (a server going away) count once.
 */
static void
wd_uri_failed(struct ldap_wdir *wd, size_t i, int probe)
{
	long long	pause = LDAP_BACKOFF_MIN;
	uint64_t	now = now_ms();
	unsigned	n;

	if (wd->down_until[i] > now && !probe)
		return;
	for (n = 0; n < wd->fails[i] && pause < wd->dir->backoff_max; n++)
		pause *= 2;
	if (pause > wd->dir->backoff_max)
		pause = wd->dir->backoff_max;
	wd->fails[i]++;
	wd->down_until[i] = now + (uint64_t)pause;
}

/*
 * The first URI in order that is not paused.  When all are, the one
 * whose pause ends first is probed, one probe at a time: a directory
 * that comes back is found at once, and a dead one costs one connection
 * attempt at a time rather than one per review.  -1: nothing to try.
 */
static ssize_t
wd_pick_uri(struct ldap_wdir *wd, unsigned tried)
{
	uint64_t	now = now_ms();
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

static void
conn_free(struct lconn *c)
{
	if (c->ev != NULL)
		event_free(c->ev);
	if (c->tmo != NULL)
		event_free(c->tmo);
	if (c->tlsev != NULL)
		event_free(c->tlsev);
	SSL_free(c->ssl);
	if (c->ld != NULL)
		ldap_unbind_ext(c->ld, NULL, NULL);	/* closes fd */
	else if (c->fd != -1)
		close(c->fd);
	free(c);
}

static void
op_free(struct lop *op)
{
	if (op->timer != NULL)
		event_free(op->timer);
	free(op);
}

/* Detach an operation from its connection and request. */
static void
op_detach(struct lop *op)
{
	struct lconn	*c = op->conn;

	TAILQ_REMOVE(&c->ops, op, entry);
	c->nops--;
	if (op->lr != NULL && op->lr->op == op)
		op->lr->op = NULL;
}

/* Take a connection out of its pool and stop its events. */
static void
conn_unlink(struct lconn *c)
{
	struct ldap_wdir	*wd = c->wd;

	if (c->probe) {
		wd->probing = 0;
		c->probe = 0;
	}
	if (c->holder != NULL) {
		c->holder->held = NULL;
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
}

/* Fail the operations of an unlinked connection, then free it. */
static void
conn_finish(struct lconn *c)
{
	struct lop	*op;
	struct lreq	*lr;

	while ((op = TAILQ_FIRST(&c->ops)) != NULL) {
		op_detach(op);
		lr = op->lr;
		if (op->cb != NULL && lr != NULL)
			op->cb(lr, NULL, NULL, -1, LDAP_SERVER_DOWN);
		op_free(op);
	}
	if (c->dispatching == 0)
		conn_free(c);
}

/* Connections of a kind that take new work (not retiring). */
static size_t
wd_live(struct ldap_wdir *wd, enum lconn_kind kind)
{
	return wd->nconns[kind] - wd->nretiring[kind];
}

/* A retiring connection is closed once nothing runs on it. */
static void
conn_idle_check(struct lconn *c)
{
	if (c->retiring && c->state == LS_READY && c->nops == 0 &&
	    c->holder == NULL)
		conn_fail(c, "moved back to an earlier URI", 0);
}

/*
 * URI uri answers: connections to later URIs take no new operation and
 * are closed once idle, so that new ones go to the earlier URI; what is
 * in flight on them finishes.
 */
static void
wd_retire(struct ldap_wdir *wd, size_t uri)
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
			conn_idle_check(c);
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
wd_return_uri(struct ldap_wdir *wd, uint64_t *when)
{
	struct lconn	*c;
	uint64_t	 now = now_ms();
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
wd_arm_return(struct ldap_wdir *wd)
{
	struct timeval	tv;
	uint64_t	when, now = now_ms();

	if (wd_return_uri(wd, &when) == -1)
		return;
	ms_to_tv(when > now ? (long long)(when - now) : 0, &tv);
	evtimer_add(wd->back, &tv);
}

/*
 * Probe an earlier URI with a search connection.  When it is ready, the
 * connections to later URIs retire (conn_ready); when it fails, the URI
 * is paused for longer and the next probe waits for that.
 */
static void
wd_back_cb(evutil_socket_t fd, short events, void *arg)
{
	struct ldap_wdir	*wd = arg;
	uint64_t		 when;
	ssize_t			 i;

	if ((i = wd_return_uri(wd, &when)) == -1)
		return;
	if (when > now_ms()) {
		wd_arm_return(wd);
		return;
	}
	wd->opening++;
	(void)conn_start(wd, LK_SEARCH, (size_t)i);
	wd->opening--;
	wd_arm_return(wd);
}

/*
 * End a connection: every operation on it fails (its request may retry
 * elsewhere).  When the server is at fault its URI is paused, and the
 * other connections to it go too, before any request retries: a server
 * that went away took them all, and a retry must not land on one.
 * Freed at once unless results are being dispatched from it.
 */
static void
conn_fail(struct lconn *c, const char *why, int uri_fault)
{
	struct ldap_wdir	*wd = c->wd;
	struct lconn		*o, *next, *gone[LK_MAX * 64];
	size_t			 ngone = 0, i;
	int			 setup, k;

	if (c->state == LS_DEAD)
		return;
	if (uri_fault) {
		wd_uri_failed(wd, c->uri, c->probe);
		log_msg(LL_WARN, "ldap_connection", "[ldap \"%s\"] %s: %s",
		    wd->dir->name, wd->dir->uris[c->uri].uri, why);
	}
	setup = c->state != LS_READY;
	conn_unlink(c);
	for (k = LK_SEARCH; uri_fault && !setup && k < LK_MAX; k++) {
		for (o = TAILQ_FIRST(&wd->conns[k]); o != NULL; o = next) {
			next = TAILQ_NEXT(o, entry);
			if (o->uri != c->uri || ngone == nitems(gone))
				continue;
			conn_unlink(o);
			gone[ngone++] = o;
		}
	}
	/*
	 * Requests wait for this connection: try the other URIs, and when
	 * none is left let them fail rather than wait for their deadline.
	 */
	if (setup)
		wd->round[c->kind] |= 1U << c->uri;
	if (setup && wd_live(wd, c->kind) == 0 && !wd->opening &&
	    !TAILQ_EMPTY(&wd->waiting[c->kind]) &&
	    conn_open(wd, c->kind, wd->round[c->kind]) == NULL) {
		wd->unreachable[c->kind] = 1;
		wd->round[c->kind] = 0;
	}
	wd_kick(wd);
	conn_finish(c);
	for (i = 0; i < ngone; i++)
		conn_finish(gone[i]);
	wd_arm_return(wd);
}

static void
conn_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lconn		*c = arg;
	enum ldap_optype	 t = OT_CONNECT;

	if (c->state == LS_STARTTLS || c->state == LS_TLS)
		t = OT_STARTTLS;
	else if (c->state == LS_SVCBIND)
		t = OT_BIND;
	stats_op(c->wd->dir, t, OR_TIMEOUT, c->setup_start);
	conn_fail(c, "timed out setting up the connection", 1);
}

static void
conn_ready(struct lconn *c)
{
	struct ldap_wdir	*wd = c->wd;

	c->state = LS_READY;
	event_del(c->tmo);
	wd->round[c->kind] = 0;
	if (c->probe) {
		wd->probing = 0;
		c->probe = 0;
	}
	wd->fails[c->uri] = 0;
	wd->down_until[c->uri] = 0;
	__atomic_store_n(&wd->dir->stats.unreachable, 0, __ATOMIC_RELAXED);
	wd_kick(wd);
	if (c->retiring) {
		conn_idle_check(c);
		return;
	}
	wd_retire(wd, c->uri);
	wd_arm_return(wd);
}

/* The service bind of a search connection, when a bind_dn is set. */
static void
conn_service_bind(struct lconn *c)
{
	struct ldap_dir	*d = c->wd->dir;
	struct berval	 cred;
	int		 rc;

	if (c->kind == LK_BIND || d->bind_dn == NULL) {
		conn_ready(c);
		return;
	}
	cred.bv_val = d->bind_password;
	cred.bv_len = d->bind_password_len;
	c->setup_start = monotonic_sec();
	rc = ldap_sasl_bind(c->ld, d->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL,
	    NULL, &c->setup_msgid);
	if (rc != LDAP_SUCCESS) {
		conn_fail(c, ldap_err2string(rc), 1);
		return;
	}
	c->state = LS_SVCBIND;
}

/*
 * The lber I/O layer over an SSL: libldap reads and writes through it,
 * and asks it whether decrypted data waits (no socket event would say
 * so).  The SSL is freed with the layer, when libldap closes.
 */
static int
sbio_setup(Sockbuf_IO_Desc *sbiod, void *arg)
{
	sbiod->sbiod_pvt = arg;
	return 0;
}

static int
sbio_remove(Sockbuf_IO_Desc *sbiod)
{
	SSL_free(sbiod->sbiod_pvt);
	sbiod->sbiod_pvt = NULL;
	return 0;
}

static int
sbio_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	if (opt == LBER_SB_OPT_DATA_READY && SSL_pending(sbiod->sbiod_pvt) > 0)
		return 1;
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

/* An SSL_read() or SSL_write() result as read(2) or write(2) gives it. */
static ber_slen_t
sbio_result(SSL *ssl, int n)
{
	int	e;

	if (n > 0)
		return n;
	e = SSL_get_error(ssl, n);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		errno = EWOULDBLOCK;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	errno = ECONNRESET;
	return -1;
}

static ber_slen_t
sbio_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	ERR_clear_error();
	return sbio_result(sbiod->sbiod_pvt, SSL_read(sbiod->sbiod_pvt, buf,
	    len > INT_MAX ? INT_MAX : (int)len));
}

static ber_slen_t
sbio_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	ERR_clear_error();
	return sbio_result(sbiod->sbiod_pvt, SSL_write(sbiod->sbiod_pvt, buf,
	    len > INT_MAX ? INT_MAX : (int)len));
}

static Sockbuf_IO sbio_ssl = {
	sbio_setup, sbio_remove, sbio_ctrl, sbio_read, sbio_write, NULL
};

static void	conn_service_bind(struct lconn *);

/* Step the handshake on each readiness of the socket, then go on. */
static void
conn_tls_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lconn	*c = arg;
	Sockbuf		*sb = NULL;
	char		 err[TR_ERRLEN];
	int		 r;

	if ((r = tls_client_handshake(c->ssl, err, sizeof(err))) > 0) {
		event_assign(c->tlsev, c->wd->li->base, c->fd, r == 1 ?
		    EV_READ : EV_WRITE, conn_tls_cb, c);
		event_add(c->tlsev, NULL);
		return;
	}
	stats_op(c->wd->dir, OT_STARTTLS, r == 0 ? OR_SUCCESS : OR_ERROR,
	    c->setup_start);
	if (r < 0) {
		conn_fail(c, err, 1);
		return;
	}
	if (ldap_get_option(c->ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS ||
	    ber_sockbuf_add_io(sb, &sbio_ssl, LBER_SBIOD_LEVEL_TRANSPORT,
	    c->ssl) != 0) {
		conn_fail(c, "could not set up libldap", 0);
		return;
	}
	c->ssl = NULL;			/* libldap's now */
	event_add(c->ev, NULL);
	conn_service_bind(c);
}

/* ldaps, or StartTLS accepted: the handshake, in the event loop. */
static void
conn_tls(struct lconn *c)
{
	struct ldap_dir	*d = c->wd->dir;

	event_del(c->ev);	/* libldap reads nothing until it is done */
	c->state = LS_TLS;
	c->setup_start = monotonic_sec();
	if ((c->ssl = tls_client_new(d->tls_ctx, c->fd,
	    d->uris[c->uri].host)) == NULL) {
		conn_fail(c, "could not set up TLS", 0);
		return;
	}
	c->tlsev = event_new(c->wd->li->base, c->fd, EV_WRITE, conn_tls_cb,
	    c);
	event_add(c->tlsev, NULL);
}

static void	conn_read_cb(evutil_socket_t, short, void *);

static int
conn_set_options(struct lconn *c)
{
	struct ldap_dir	*d = c->wd->dir;
	struct timeval	 tv;
	int		 v3 = LDAP_VERSION3;

	ms_to_tv(d->connect_timeout, &tv);
	if (ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3) ||
	    ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) ||
	    ldap_set_option(c->ld, LDAP_OPT_NETWORK_TIMEOUT, &tv))
		return -1;
	return 0;
}

/* TCP (or the local socket) is up: hand it to libldap, start TLS. */
static void
conn_connected(struct lconn *c)
{
	struct ldap_dir	*d = c->wd->dir;
	struct ldap_uri	*u = &d->uris[c->uri];
	int		 rc, fd = c->fd;

	stats_op(d, OT_CONNECT, OR_SUCCESS, c->setup_start);
	rc = ldap_init_fd(fd, u->ipc ? LDAP_PROTO_IPC : LDAP_PROTO_TCP,
	    u->uri, &c->ld);
	if (rc != LDAP_SUCCESS || conn_set_options(c) != 0) {
		conn_fail(c, "could not set up libldap", 0);
		return;
	}
	event_free(c->ev);
	c->ev = event_new(c->wd->li->base, fd, EV_READ | EV_PERSIST,
	    conn_read_cb, c);
	if (u->tls == 1) {
		conn_tls(c);
		return;
	}
	event_add(c->ev, NULL);
	if (u->tls == 2) {
		c->setup_start = monotonic_sec();
		rc = ldap_start_tls(c->ld, NULL, NULL, &c->setup_msgid);
		if (rc != LDAP_SUCCESS) {
			conn_fail(c, ldap_err2string(rc), 1);
			return;
		}
		c->state = LS_STARTTLS;
		return;
	}
	conn_service_bind(c);
}

static void
conn_connect_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lconn	*c = arg;
	socklen_t	 len = sizeof(int);
	int		 err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err != 0) {
		stats_op(c->wd->dir, OT_CONNECT, OR_ERROR, c->setup_start);
		conn_fail(c, strerror(err), 1);
		return;
	}
	conn_connected(c);
}

/* Start a non-blocking connect to a URI; -1 if it failed at once. */
static int
conn_socket(struct lconn *c, const struct ldap_uri *u)
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
 * Start one connection of a kind to URI i.  NULL when the connect failed
 * at once (the URI is then paused).
 */
static struct lconn *
conn_start(struct ldap_wdir *wd, enum lconn_kind kind, size_t i)
{
	struct lconn	*c;
	struct timeval	 tv;
	int		 err;

	c = xcalloc(1, sizeof(*c));
	c->wd = wd;
	c->kind = kind;
	c->uri = i;
	c->fd = -1;
	c->state = LS_CONNECTING;
	if (wd->down_until[i] > now_ms()) {
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
	c->tmo = evtimer_new(wd->li->base, conn_timeout_cb, c);
	ms_to_tv(wd->dir->connect_timeout, &tv);
	evtimer_add(c->tmo, &tv);
	if (conn_socket(c, &wd->dir->uris[i]) == 0) {
		c->ev = event_new(wd->li->base, c->fd, EV_WRITE,
		    conn_connect_cb, c);
		/* Held, so that a failure inside cannot free it. */
		c->dispatching++;
		conn_connected(c);
		if (--c->dispatching == 0 && c->state == LS_DEAD) {
			conn_free(c);
			return NULL;
		}
		return c;
	}
	if (c->fd != -1 && errno == EINPROGRESS) {
		c->ev = event_new(wd->li->base, c->fd, EV_WRITE,
		    conn_connect_cb, c);
		event_add(c->ev, NULL);
		return c;
	}
	err = errno;
	stats_op(wd->dir, OT_CONNECT, OR_ERROR, c->setup_start);
	conn_fail(c, strerror(err), 1);
	return NULL;
}

/*
 * Open one connection of a kind to the first healthy URI.  NULL when
 * every URI is paused or the connect failed at once (then the URI is
 * paused and the next one tried).
 */
static struct lconn *
conn_open(struct ldap_wdir *wd, enum lconn_kind kind, unsigned tried)
{
	struct lconn	*c = NULL;
	ssize_t		 i;

	/* Each URI at most once: one that fails at once is paused. */
	wd->opening++;
	while (c == NULL && (i = wd_pick_uri(wd, tried)) != -1) {
		tried |= 1U << i;
		c = conn_start(wd, kind, (size_t)i);
	}
	wd->opening--;
	if (c == NULL)
		__atomic_store_n(&wd->dir->stats.unreachable, 1,
		    __ATOMIC_RELAXED);
	return c;
}

/* The answer to StartTLS or to the service bind. */
static void
conn_setup_result(struct lconn *c, LDAPMessage *msg)
{
	enum ldap_optype	 t;
	int			 rc, err = LDAP_OTHER;

	t = c->state == LS_STARTTLS ? OT_STARTTLS : OT_BIND;
	rc = ldap_parse_result(c->ld, msg, &err, NULL, NULL, NULL, NULL, 0);
	if (rc != LDAP_SUCCESS || err != LDAP_SUCCESS) {
		stats_op(c->wd->dir, t, OR_ERROR, c->setup_start);
		conn_fail(c, t == OT_STARTTLS ? "StartTLS refused" :
		    "service bind (bind_dn) refused", 1);
		return;
	}
	if (t == OT_BIND) {
		stats_op(c->wd->dir, t, OR_SUCCESS, c->setup_start);
		conn_ready(c);
		return;
	}
	conn_tls(c);
}

/* Result codes that mean "no" rather than "could not check". */
static int
auth_ldap_rejected(int rc)
{
	return rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_INAPPROPRIATE_AUTH ||
	    rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_CONSTRAINT_VIOLATION ||
	    rc == LDAP_NO_SUCH_OBJECT;
}

static void
conn_dispatch(struct lconn *c, LDAPMessage *msg)
{
	struct lop	*op;
	int		 id = ldap_msgid(msg), last, rc;

	if ((c->state == LS_STARTTLS || c->state == LS_SVCBIND) &&
	    id == c->setup_msgid) {
		conn_setup_result(c, msg);
		return;
	}
	TAILQ_FOREACH(op, &c->ops, entry) {
		if (op->msgid == id)
			break;
	}
	if (op == NULL)
		return;		/* abandoned */
	last = ldap_msgtype(msg) != LDAP_RES_SEARCH_ENTRY &&
	    ldap_msgtype(msg) != LDAP_RES_SEARCH_REFERENCE &&
	    ldap_msgtype(msg) != LDAP_RES_INTERMEDIATE;
	if (!last) {
		if (op->lr != NULL)
			op->cb(op->lr, c->ld, msg, 0, LDAP_SUCCESS);
		return;
	}
	if (ldap_parse_result(c->ld, msg, &rc, NULL, NULL, NULL, NULL, 0) !=
	    LDAP_SUCCESS)
		rc = LDAP_OTHER;
	stats_op(c->wd->dir, op->type, rc == LDAP_SUCCESS ? OR_SUCCESS :
	    auth_ldap_rejected(rc) ? OR_REJECTED : OR_ERROR, op->start);
	op_detach(op);
	if (c->kind != LK_SEARCH)
		wd_kick(c->wd);		/* free for the next request */
	if (op->lr != NULL)
		op->cb(op->lr, c->ld, msg, 1, rc);
	op_free(op);
	conn_idle_check(c);
}

/*
 * Read everything libldap has: with TLS, decrypted data may wait in
 * libldap's buffers without the socket being readable again, so drain
 * until ldap_result() has nothing (zero timeout: never waits).
 */
static void
conn_read_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lconn	*c = arg;
	struct timeval	 zero = { 0, 0 };
	LDAPMessage	*msg;
	int		 rc;

	c->dispatching++;
	/* After StartTLS the bytes are the handshake's, not libldap's. */
	while (c->state != LS_DEAD && c->state != LS_TLS) {
		msg = NULL;
		rc = ldap_result(c->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero, &msg);
		if (rc == 0)
			break;
		if (rc < 0) {
			/*
			 * An idle connection closed by the server (its idle
			 * timeout) says nothing about the server's health.
			 */
			conn_fail(c, "connection lost", c->nops > 0 ||
			    c->state != LS_READY);
			break;
		}
		conn_dispatch(c, msg);
		ldap_msgfree(msg);
	}
	if (--c->dispatching == 0 && c->state == LS_DEAD)
		conn_free(c);
}

/* ------------------------------------------------------------ operations */

static void
op_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lop	*op = arg;
	struct lconn	*c = op->conn;
	struct lreq	*lr = op->lr;
	lop_cb		 cb = op->cb;

	stats_op(c->wd->dir, op->type, OR_TIMEOUT, op->start);
	op_detach(op);
	ldap_abandon_ext(c->ld, op->msgid, NULL, NULL);
	op_free(op);
	/*
	 * A server that does not answer in time is taken as stuck: the
	 * connection goes and its URI is paused.  The other operations on
	 * it are retried elsewhere; this one fails (no second wait).
	 */
	conn_fail(c, "operation timed out", 1);
	if (lr != NULL)
		cb(lr, NULL, NULL, -2, LDAP_TIMEOUT);
}

static struct lop *
op_new(struct lconn *c, struct lreq *lr, enum ldap_optype type, int msgid,
    lop_cb cb)
{
	struct lop	*op;
	struct timeval	 tv;

	op = xcalloc(1, sizeof(*op));
	op->conn = c;
	op->msgid = msgid;
	op->type = type;
	op->lr = lr;
	op->cb = cb;
	op->start = monotonic_sec();
	op->timer = evtimer_new(c->wd->li->base, op_timeout_cb, op);
	ms_to_tv(c->wd->dir->timeout, &tv);
	evtimer_add(op->timer, &tv);
	TAILQ_INSERT_TAIL(&c->ops, op, entry);
	c->nops++;
	lr->op = op;
	return op;
}

/* The request gave up on its operation (cancelled). */
static void
op_abandon(struct lop *op)
{
	struct lconn	*c = op->conn;

	op_detach(op);
	ldap_abandon_ext(c->ld, op->msgid, NULL, NULL);
	op_free(op);
	/*
	 * A bind connection in the middle of a bind has no known identity,
	 * and a paged search abandoned between pages may leave its state on
	 * the server: neither connection is used again.
	 */
	if (c->kind != LK_SEARCH)
		conn_fail(c, "operation abandoned", 0);
	else
		conn_idle_check(c);
}

/* A ready connection of a kind that can take an operation, or NULL. */
static struct lconn *
wd_get_conn(struct ldap_wdir *wd, enum lconn_kind kind)
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
wd_connecting(struct ldap_wdir *wd, enum lconn_kind kind)
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
lr_wait_timeout_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lreq		*lr = arg;
	struct ldap_wdir	*wd = &lr->li->wd[lr->dir];

	if (lr->waiting == -1)
		return;
	TAILQ_REMOVE(&wd->waiting[lr->waiting], lr, wentry);
	lr->waiting = -1;
	lr_error(lr, "%s: no connection to the directory was free in time",
	    wd->dir->name);
}

/* Queue a request for a connection; its wait is bounded once. */
static void
wd_queue(struct ldap_wdir *wd, struct lreq *lr, enum lconn_kind kind)
{
	struct timeval	tv;

	lr->waiting = (int)kind;
	TAILQ_INSERT_TAIL(&wd->waiting[kind], lr, wentry);
	if (lr->wait_tmo == NULL)
		lr->wait_tmo = evtimer_new(wd->li->base, lr_wait_timeout_cb,
		    lr);
	if (!evtimer_pending(lr->wait_tmo, NULL)) {
		ms_to_tv(wd->dir->timeout, &tv);
		evtimer_add(lr->wait_tmo, &tv);
	}
}

/*
 * A connection for the request's next operation: a ready one, or NULL
 * with the request queued until one is ready.  Opens connections up to
 * pool_size.  -1 when the directory is unreachable.
 */
static int
wd_acquire(struct ldap_wdir *wd, struct lreq *lr, enum lconn_kind kind,
    struct lconn **cp)
{
	struct lconn	*c;

	*cp = NULL;
	c = wd_get_conn(wd, kind);
	if (c != NULL && (kind != LK_SEARCH || c->nops < LDAP_BUSY_OPS ||
	    wd_live(wd, kind) >= (size_t)wd->dir->pool_size)) {
		*cp = c;
		return 0;
	}
	if (wd_live(wd, kind) < (size_t)wd->dir->pool_size &&
	    !wd_connecting(wd, kind) && conn_open(wd, kind, 0) == NULL &&
	    wd_live(wd, kind) == 0)
		return -1;
	if (c != NULL) {
		*cp = c;
		return 0;
	}
	if (wd_live(wd, kind) == 0)
		return -1;
	wd_queue(wd, lr, kind);
	return 0;
}

/* Give waiting requests the connections that became ready or free. */
static void
wd_kick_cb(evutil_socket_t fd, short events, void *arg)
{
	struct ldap_wdir	*wd = arg;
	struct lreq		*lr;
	int			 k;

	size_t			 n;

	/*
	 * A request may go back to the end of the queue (no connection after
	 * all); taking at most as many as were queued keeps this finite.
	 */
	for (k = LK_SEARCH; k < LK_MAX; k++) {
		if (wd->unreachable[k]) {
			wd->unreachable[k] = 0;
			while ((lr = TAILQ_FIRST(&wd->waiting[k])) != NULL) {
				TAILQ_REMOVE(&wd->waiting[k], lr, wentry);
				lr->waiting = -1;
				lr_error(lr, "%s: directory unreachable (no "
				    "server answered)", wd->dir->name);
			}
		}
		n = 0;
		TAILQ_FOREACH(lr, &wd->waiting[k], wentry)
			n++;
		while (n-- > 0 && (lr = TAILQ_FIRST(&wd->waiting[k])) != NULL) {
			if (wd_get_conn(wd, k) == NULL &&
			    (wd_connecting(wd, k) || wd_live(wd, k) >=
			    (size_t)wd->dir->pool_size))
				break;
			TAILQ_REMOVE(&wd->waiting[k], lr, wentry);
			lr->waiting = -1;
			lr_run(lr);
		}
	}
}

static void
wd_kick(struct ldap_wdir *wd)
{
	event_active(wd->kick, EV_TIMEOUT, 1);
}

/* ------------------------------------------------------------ reviews */

static void
strv_free(char **v, size_t n)
{
	size_t	i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
lr_extra_free(struct lreq *lr)
{
	size_t	i, j;

	for (i = 0; i < LDAP_MAX_EXTRA; i++) {
		for (j = 0; lr->extra[i] != NULL && lr->extra[i][j] != NULL;
		    j++)
			free(lr->extra[i][j]);
		free(lr->extra[i]);
		lr->extra[i] = NULL;
	}
}

/*
 * A paged search is over: its connection goes back to the pool, and is
 * closed there if it was retired meanwhile.
 */
static void
lr_release(struct lreq *lr)
{
	struct lconn	*c = lr->held;

	free(lr->gfilter);
	lr->gfilter = NULL;
	ber_memfree(lr->cookie.bv_val);
	lr->cookie.bv_val = NULL;
	lr->cookie.bv_len = 0;
	if (c == NULL)
		return;
	lr->held = NULL;
	c->holder = NULL;
	wd_kick(c->wd);
	conn_idle_check(c);
}

static void	lr_lockout_end(struct lreq *, enum lockout_outcome);

/* Forget what one directory found, before the next one is asked. */
static void
lr_reset(struct lreq *lr)
{
	/* Cancelled with the bind sent: it may have failed there. */
	if (lr->bind_began)
		lr_lockout_end(lr, LO_FAILED);
	lr_release(lr);
	if (lr->wait_tmo != NULL)
		evtimer_del(lr->wait_tmo);
	free(lr->login);
	if (lr->password != NULL)
		OPENSSL_cleanse(lr->password, lr->password_len);
	free(lr->password);
	free(lr->dn);
	free(lr->username);
	free(lr->uid);
	free(lr->rawname);
	free(lr->error);
	lr_extra_free(lr);
	strv_free(lr->names, lr->nnames);
	strv_free(lr->gdns, lr->ngdns);
	free(lr->gset);
	lr->gset = NULL;
	lr->gcap = 0;
	lr->login = lr->password = lr->dn = lr->username = lr->uid = NULL;
	lr->rawname = lr->error = NULL;
	lr->names = lr->gdns = NULL;
	lr->nnames = lr->ngdns = lr->nentries = lr->cursor = 0;
	lr->level_end = lr->chunk_end = 0;
	lr->overflow = lr->paged = 0;
	lr->password_len = 0;
	lr->depth = lr->retries = lr->rejected = 0;
}

static void
lr_free(struct lreq *lr)
{
	if (lr == NULL)
		return;
	lr_reset(lr);
	if (lr->wait_tmo != NULL)
		event_free(lr->wait_tmo);
	free(lr->errors);
	TAILQ_REMOVE(&lr->li->active, lr, aentry);
	free(lr);
}

/* The review is decided: tell the chain (unless still in authenticate). */
static void
lr_finish(struct lreq *lr, enum auth_rv rv)
{
	struct auth_req	*req = lr->req;
	auth_done_cb	 done = lr->done;

	if (rv != AUTH_OK && lr->errors != NULL) {
		rv = AUTH_ERROR;
		lr->res->error = lr->errors;
		lr->errors = NULL;
		/* Lockouts alone: logged once an episode, not per review. */
		lr->res->quiet = !lr->loud;
	}
	lr->res->rv = rv;
	if (lr->sync) {
		lr->finished = 1;
		lr->final = rv;
		return;
	}
	lr_free(lr);
	done(req, rv);
}

static void __attribute__((format(printf, 2, 3)))
lr_error(struct lreq *lr, const char *fmt, ...)
{
	va_list	ap;
	char	msg[TR_ERRLEN];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(lr->error);
	lr->error = xstrdup(msg);
	lr->loud = 1;
	lr_dir_done(lr, AUTH_ERROR);
}

/* The scope of a directory's entries in the lockout: apart from names. */
static char *
lr_dn_scope(struct lreq *lr)
{
	char	*scope;

	xasprintf(&scope, "%s\ndn", lr->li->ls->dirs[lr->dir].name);
	return scope;
}

/*
 * The end of a login of lr->login for the lockout: a bind's answer
 * (releasing the places it held, under the name and the entry's DN), or
 * no such user (the name alone).  The name and the entry usually lock out
 * together: one episode, told once.
 */
static void
lr_lockout_end(struct lreq *lr, enum lockout_outcome outcome)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	char		*scope, name[LOCKOUT_NAME_MAX];
	const char	*what = "user name", *key = lr->login;
	int		 began = lr->bind_began, locked, entry = 0;

	lr->bind_began = 0;
	if (outcome == LO_UNKNOWN && !began)
		return;
	locked = lockout_end(&d->lockout, d->name, lr->login, began, outcome,
	    now_ms());
	if (began && lr->dn != NULL) {
		scope = lr_dn_scope(lr);
		entry = lockout_end(&d->lockout, scope, lr->dn, 1, outcome,
		    now_ms());
		free(scope);
	}
	if (!locked && !entry)
		return;
	if (!locked) {
		what = "entry";
		key = lr->dn;
	}
	__atomic_add_fetch(&d->stats.lockouts, 1, __ATOMIC_RELAXED);
	lockout_name(key, name, sizeof(name));
	log_msg(LL_WARN, "ldap_lockout", "[ldap \"%s\"] %s \"%s\": %d "
	    "failed logins within %lld s; its reviews fail without asking "
	    "the directory for %lld s", d->name, what, name,
	    d->lockout.limit, d->lockout.window / 1000,
	    d->lockout.duration / 1000);
}

/* Refuse a locked-out name's review in this directory, unseen there. */
static void
lr_lockout_refuse(struct lreq *lr, long long left)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];

	__atomic_add_fetch(&d->stats.lockout_refused, 1, __ATOMIC_RELAXED);
	free(lr->error);
	xasprintf(&lr->error, "%s: too many failed logins for this user "
	    "name; retry in %lld s", d->name, (left + 999) / 1000);
	lr_dir_done(lr, AUTH_ERROR);
}

/* 1 when lr->login is locked out here: the review is refused. */
static int
lr_locked_out(struct lreq *lr)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	long long	 left;

	left = lockout_check(&d->lockout, d->name, lr->login, now_ms());
	if (left <= 0)
		return 0;
	lr_lockout_refuse(lr, left);
	return 1;
}

/* The operation did not complete: retry once on another connection. */
static void
lr_op_failed(struct lreq *lr, int err)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];

	if (err == -1 && lr->retries++ < 1) {
		lr_run(lr);
		return;
	}
	lr_error(lr, "%s: directory %s", d->name, err == -2 ?
	    "did not answer in time" : "connection lost");
}

static char *
entry_first(LDAP *ld, LDAPMessage *e, const char *attr)
{
	struct berval	**vals;
	char		 *s = NULL;

	if (attr == NULL)
		return NULL;
	vals = ldap_get_values_len(ld, e, attr);
	if (vals != NULL && vals[0] != NULL)
		s = auth_ldap_value_text(attr, vals[0]->bv_val,
		    vals[0]->bv_len);
	ldap_value_free_len(vals);
	return s;
}

/* FNV-1a of a DN without case, as strcasecmp() compares them. */
static uint64_t
dn_hash(const char *s)
{
	uint64_t	h = 14695981039346656037ULL;

	for (; *s != '\0'; s++) {
		h ^= (uint64_t)tolower((unsigned char)*s);
		h *= 1099511628211ULL;
	}
	return h;
}

/* The slot of dn in the set of DNs seen: its own, or the empty one. */
static size_t
gset_slot(const struct lreq *lr, const char *dn)
{
	size_t	i = (size_t)dn_hash(dn) & (lr->gcap - 1);

	while (lr->gset[i] != 0 &&
	    strcasecmp(lr->gdns[lr->gset[i] - 1], dn) != 0)
		i = (i + 1) & (lr->gcap - 1);
	return i;
}

/*
 * Room for one more DN, the set at most half full, so that a user with
 * many groups does not cost a comparison with every group seen.
 */
static void
gset_reserve(struct lreq *lr)
{
	size_t	i;

	if (2 * (lr->ngdns + 1) <= lr->gcap)
		return;
	lr->gcap = lr->gcap == 0 ? 64 : 2 * lr->gcap;
	free(lr->gset);
	lr->gset = xcalloc(lr->gcap, sizeof(*lr->gset));
	for (i = 0; i < lr->ngdns; i++)
		lr->gset[gset_slot(lr, lr->gdns[i])] = i + 1;
}

/* Add a group by DN (and name); 0 if it was seen before (a cycle). */
static int
lr_add_group(struct lreq *lr, const char *dn, char *name)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	size_t		 slot;

	if (lr->overflow) {
		free(name);
		return 0;
	}
	gset_reserve(lr);
	slot = gset_slot(lr, dn);
	if (lr->gset[slot] != 0) {
		free(name);
		return 0;
	}
	/* The rest of the search is drained and dropped, then it fails. */
	if (lr->ngdns >= (size_t)d->max_groups) {
		lr->overflow = 1;
		free(name);
		return 0;
	}
	lr->gdns = xreallocarray(lr->gdns, lr->ngdns + 1, sizeof(char *));
	lr->gdns[lr->ngdns++] = xstrdup(dn);
	lr->gset[slot] = lr->ngdns;
	if (name == NULL)
		return 1;
	if ((d->has_allow && regexec(&d->group_allow, name, 0, NULL, 0) != 0) ||
	    (d->has_deny && regexec(&d->group_deny, name, 0, NULL, 0) == 0)) {
		free(name);
		return 1;
	}
	lr->names = xreallocarray(lr->names, lr->nnames + 2, sizeof(char *));
	xasprintf(&lr->names[lr->nnames++], "%s%s", d->group_prefix, name);
	lr->names[lr->nnames] = NULL;
	free(name);
	return 1;
}

static void
lr_memberof(struct lreq *lr, LDAP *ld, LDAPMessage *e)
{
	struct ldap_dir	 *d = &lr->li->ls->dirs[lr->dir];
	struct berval	**vals;
	char		 *dn;
	size_t		  i;

	if (d->memberof_attribute == NULL)
		return;
	vals = ldap_get_values_len(ld, e, d->memberof_attribute);
	for (i = 0; vals != NULL && vals[i] != NULL; i++) {
		if (!valid_text(vals[i]))
			continue;
		dn = xstrndup(vals[i]->bv_val, vals[i]->bv_len);
		lr_add_group(lr, dn, dn_first_value(dn));
		free(dn);
	}
	ldap_value_free_len(vals);
}

/* The values of the attributes mapped to extra keys (text only). */
static void
lr_extra(struct lreq *lr, LDAP *ld, LDAPMessage *e)
{
	struct ldap_dir	 *d = &lr->li->ls->dirs[lr->dir];
	struct berval	**vals;
	size_t		  i, j, n;

	for (i = 0; i < d->nextra; i++) {
		vals = ldap_get_values_len(ld, e, d->extra_attrs[i]);
		lr->extra[i] = xcalloc(LDAP_MAX_VALUES + 1, sizeof(char *));
		for (j = n = 0; vals != NULL && vals[j] != NULL &&
		    n < LDAP_MAX_VALUES; j++) {
			if (valid_text(vals[j]))
				lr->extra[i][n++] = xstrndup(vals[j]->bv_val,
				    vals[j]->bv_len);
		}
		ldap_value_free_len(vals);
	}
}

/* The user's entry: DN, names, direct groups from memberOf. */
static void
lr_user_entry(struct lreq *lr, LDAP *ld, LDAPMessage *e)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	char		*dn;

	if (++lr->nentries > 1 || (dn = ldap_get_dn(ld, e)) == NULL)
		return;
	lr->dn = xstrdup(dn);
	ldap_memfree(dn);
	lr->rawname = entry_first(ld, e, d->username_attribute);
	lr->uid = entry_first(ld, e, d->uid_attribute);
	lr_memberof(lr, ld, e);
	lr_extra(lr, ld, e);
}

static void	lr_groups_next(struct lreq *);

/* A user in more groups than max_groups: an error, not a partial list. */
static void
lr_too_many_groups(struct lreq *lr)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];

	log_msg(LL_WARN, "ldap_max_groups", "[ldap \"%s\"] a user has more "
	    "than %d groups; raise max_groups (token %s)", d->name,
	    d->max_groups, lr->req->token_fp);
	lr_error(lr, "%s: the user has more than %d groups (max_groups)",
	    d->name, d->max_groups);
}

static void
lr_user_cb(struct lreq *lr, LDAP *ld, LDAPMessage *msg, int last,
    int rc)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];

	if (msg == NULL) {
		lr_op_failed(lr, last);
		return;
	}
	if (!last) {
		if (ldap_msgtype(msg) == LDAP_RES_SEARCH_ENTRY)
			lr_user_entry(lr, ld, msg);
		return;
	}
	if (lr->nentries > 1 || rc == LDAP_SIZELIMIT_EXCEEDED) {
		log_msg(LL_WARN, "ldap_ambiguous", "[ldap \"%s\"] more than "
		    "one entry matches (token %s)", d->name, lr->req->token_fp);
		lr_error(lr, "%s: more than one entry matches", d->name);
		return;
	}
	if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
		lr_error(lr, "%s: user search failed: %s", d->name,
		    ldap_err2string(rc));
		return;
	}
	if (lr->nentries == 0 || lr->rawname == NULL) {
		/* As a wrong password: a lockout tells nothing of who exists. */
		if (d->mode == LM_BIND)
			lr_lockout_end(lr, LO_FAILED);
		lr_dir_done(lr, AUTH_DENY);
		return;
	}
	lr->retries = 0;
	lr->step = d->mode == LM_BIND ? LR_BIND : LR_GROUPS;
	lr_run(lr);
}

static void
lr_bind_cb(struct lreq *lr, LDAP *ld, LDAPMessage *msg, int last,
    int rc)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];

	if (msg == NULL) {
		/* Sent, and no answer: it may have failed there. */
		if (lr->bind_began)
			lr_lockout_end(lr, LO_FAILED);
		lr_op_failed(lr, last);
		return;
	}
	if (lr->bind_began)
		lr_lockout_end(lr, rc == LDAP_SUCCESS ? LO_SUCCEEDED :
		    auth_ldap_rejected(rc) ? LO_FAILED : LO_UNKNOWN);
	switch (rc) {
	case LDAP_SUCCESS:
		lr->retries = 0;
		lr->step = LR_GROUPS;
		lr_run(lr);
		return;
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_UNWILLING_TO_PERFORM:
	case LDAP_CONSTRAINT_VIOLATION:
		/* Wrong password, locked or disabled: a plain no. */
		log_msg(LL_INFO, "ldap_bind_refused", "[ldap \"%s\"] bind "
		    "refused: %s (token %s)", d->name, ldap_err2string(rc),
		    lr->req->token_fp);
		lr_dir_done(lr, AUTH_DENY);
		return;
	default:
		lr_error(lr, "%s: bind failed: %s", d->name,
		    ldap_err2string(rc));
		return;
	}
}

/*
 * Keep the cookie of a paged search's next page from the result of the
 * last one; 1 when there is a next page.  A server that ignored the
 * control sent everything at once.
 */
static int
lr_page_cookie(struct lreq *lr, LDAP *ld, LDAPMessage *msg)
{
	LDAPControl	**ctrls = NULL, *pc;
	struct berval	  cookie = { 0, NULL };
	ber_int_t	  count;
	int		  err, more = 0;

	ber_memfree(lr->cookie.bv_val);
	lr->cookie = cookie;
	if (lr->held == NULL || ldap_parse_result(ld, msg, &err, NULL, NULL,
	    NULL, &ctrls, 0) != LDAP_SUCCESS)
		return 0;
	pc = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, ctrls, NULL);
	if (pc != NULL && ldap_parse_pageresponse_control(ld, pc, &count,
	    &cookie) == LDAP_SUCCESS) {
		lr->cookie = cookie;
		more = cookie.bv_len > 0;
	}
	ldap_controls_free(ctrls);
	return more;
}

static void	lr_group_page(struct lreq *, struct lconn *);

static void
lr_group_cb(struct lreq *lr, LDAP *ld, LDAPMessage *msg, int last,
    int rc)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	char		*dn;

	if (msg == NULL) {
		lr_op_failed(lr, last);
		return;
	}
	if (!last) {
		if (ldap_msgtype(msg) != LDAP_RES_SEARCH_ENTRY ||
		    (dn = ldap_get_dn(ld, msg)) == NULL)
			return;
		lr_add_group(lr, dn, entry_first(ld, msg,
		    d->group_name_attribute));
		ldap_memfree(dn);
		return;
	}
	if (rc == LDAP_SUCCESS && !lr->overflow && lr_page_cookie(lr, ld,
	    msg)) {
		lr_group_page(lr, lr->held);
		return;
	}
	lr_release(lr);
	if (lr->overflow)
		lr_too_many_groups(lr);
	else if (rc == LDAP_SIZELIMIT_EXCEEDED && !lr->paged &&
	    d->page_size > 0) {
		lr->paged = 1;		/* the same search again, in pages */
		lr_run(lr);
	} else if (rc == LDAP_SIZELIMIT_EXCEEDED)
		lr_error(lr, "%s: the group search reached the server's size "
		    "limit%s", d->name, d->page_size == 0 ? " (page_size "
		    "pages it)" : "");
	else if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT)
		lr_error(lr, "%s: group search failed: %s", d->name,
		    ldap_err2string(rc));
	else {
		if (lr->step == LR_NESTED)
			lr->cursor = lr->chunk_end;
		lr->retries = lr->paged = 0;
		lr_groups_next(lr);
	}
}

/* Send a search on a ready connection; its failures go to cb. */
static void
lr_search(struct lreq *lr, struct lconn *c, const char *base,
    const char *filter, char **attrs, int sizelimit, LDAPControl **ctrls,
    lop_cb cb)
{
	int	msgid, rc;

	rc = ldap_search_ext(c->ld, base, LDAP_SCOPE_SUBTREE, filter, attrs,
	    0, ctrls, NULL, NULL, sizelimit, &msgid);
	if (rc != LDAP_SUCCESS) {
		conn_fail(c, ldap_err2string(rc), 1);
		cb(lr, NULL, NULL, -1, rc);
		return;
	}
	op_new(c, lr, OT_SEARCH, msgid, cb);
}

static void
lr_search_user(struct lreq *lr, struct lconn *c)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	char		*attrs[4 + LDAP_MAX_EXTRA], *filter;
	char		 hex[2 * TR_SHA256_LEN + 1];
	size_t		 n = 0, i;

	attrs[n++] = d->username_attribute;
	if (d->uid_attribute != NULL)
		attrs[n++] = d->uid_attribute;
	if (d->memberof_attribute != NULL)
		attrs[n++] = d->memberof_attribute;
	for (i = 0; i < d->nextra; i++)
		attrs[n++] = d->extra_attrs[i];
	attrs[n] = NULL;
	lr->nentries = 0;
	free(lr->dn);
	free(lr->rawname);
	free(lr->uid);
	lr->dn = lr->rawname = lr->uid = NULL;
	lr_extra_free(lr);
	if (d->mode == LM_BIND)
		filter = auth_ldap_filter_expand(d->user_filter, lr->login,
		    lr->login);
	else {
		hex_encode(lr->req->token_hash, TR_SHA256_LEN, hex);
		xasprintf(&filter, "(%s=%s)", d->token_attribute, hex);
	}
	lr_search(lr, c, d->user_base, filter, attrs, 2, NULL, lr_user_cb);
	free(filter);
}

static void
lr_bind(struct lreq *lr, struct lconn *c)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	struct berval	 cred;
	char		*scope;
	long long	 left;
	int		 msgid, rc;

	/*
	 * Binds in flight may have used the last tries up meanwhile, and
	 * other names of the same entry may have.
	 */
	left = lockout_begin(&d->lockout, d->name, lr->login, now_ms());
	if (left == 0 && lr->dn != NULL) {
		scope = lr_dn_scope(lr);
		left = lockout_begin(&d->lockout, scope, lr->dn, now_ms());
		free(scope);
		if (left > 0)
			lockout_end(&d->lockout, d->name, lr->login, 1,
			    LO_UNKNOWN, now_ms());
	}
	if (left > 0) {
		wd_kick(c->wd);		/* the connection stays free */
		lr_lockout_refuse(lr, left);
		return;
	}
	lr->bind_began = d->lockout.limit > 0;
	cred.bv_val = lr->password;
	cred.bv_len = lr->password_len;
	rc = ldap_sasl_bind(c->ld, lr->dn, LDAP_SASL_SIMPLE, &cred, NULL,
	    NULL, &msgid);
	if (rc != LDAP_SUCCESS) {
		lr_lockout_end(lr, LO_UNKNOWN);		/* not sent */
		conn_fail(c, ldap_err2string(rc), 1);
		lr_bind_cb(lr, NULL, NULL, -1, rc);
		return;
	}
	op_new(c, lr, OT_BIND, msgid, lr_bind_cb);
}

/*
 * The next group search: the direct groups of the user, or one chunk of
 * the groups found at the last level, ORed ("groups that have one of
 * these groups as a member").  NULL when there is nothing left to ask.
 */
static char *
lr_group_filter(struct lreq *lr)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	struct evbuffer	*b;
	char		*f, *out = NULL;
	size_t		 i, n, end;

	if (lr->step == LR_GROUPS)
		return auth_ldap_filter_expand(d->group_filter, lr->dn,
		    lr->rawname);
	end = lr->cursor + LDAP_MAX_OR;
	if (end > lr->level_end)
		end = lr->level_end;
	b = evbuffer_new();
	evbuffer_add(b, "(|", 2);
	for (i = lr->cursor; i < end; i++) {
		if ((f = auth_ldap_filter_expand(d->group_filter, lr->gdns[i],
		    NULL)) == NULL)
			goto out;
		evbuffer_add(b, f, strlen(f));
		free(f);
	}
	evbuffer_add(b, ")", 1);
	lr->chunk_end = end;	/* the cursor moves once it is answered */
	n = evbuffer_get_length(b);
	out = xmalloc(n + 1);
	evbuffer_remove(b, out, n);
	out[n] = '\0';
out:
	evbuffer_free(b);
	return out;
}

/*
 * Ask for one page of the group search (the first when the cookie is
 * empty) on the connection the request holds, or for everything at once
 * when the search is not paged; then the server stops after max_groups.
 */
static void
lr_group_page(struct lreq *lr, struct lconn *c)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	LDAPControl	*ctrls[2] = { NULL, NULL };
	char		*attrs[2];

	attrs[0] = d->group_name_attribute;
	attrs[1] = NULL;
	if (lr->held != NULL && ldap_create_page_control(c->ld, d->page_size,
	    lr->cookie.bv_len > 0 ? &lr->cookie : NULL, 0, &ctrls[0]) !=
	    LDAP_SUCCESS) {
		lr_release(lr);
		lr_error(lr, "%s: could not make a paged search", d->name);
		return;
	}
	lr_search(lr, c, d->group_base, lr->gfilter, attrs, ctrls[0] != NULL ?
	    0 : d->max_groups + 1, ctrls[0] != NULL ? ctrls : NULL,
	    lr_group_cb);
	if (ctrls[0] != NULL)
		ldap_control_free(ctrls[0]);
}

/*
 * Start a group search: at once on a shared connection, or, when that
 * met the server's size limit, in pages on a paged connection that the
 * search keeps to itself until its last page (slapd knows one paged
 * search per connection).
 */
static void
lr_search_groups(struct lreq *lr, struct lconn *c)
{
	lr_release(lr);
	if ((lr->gfilter = lr_group_filter(lr)) == NULL) {
		lr_dir_done(lr, AUTH_OK);
		return;
	}
	if (c->kind == LK_PAGED) {
		lr->held = c;
		c->holder = lr;
	}
	lr_group_page(lr, c);
}

/*
 * After a group search: go one level deeper while nested_depth allows
 * and new groups were found (groups seen before are not expanded again,
 * which ends cycles), else the user is complete.
 */
static void
lr_groups_next(struct lreq *lr)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];

	/* Checked after the bind: no answer tells about a user before. */
	if (lr->overflow) {
		lr_too_many_groups(lr);
		return;
	}

	if (lr->step == LR_GROUPS) {
		lr->step = LR_NESTED;
		lr->cursor = 0;
		lr->level_end = lr->ngdns;
		lr->depth = 1;
	} else if (lr->cursor >= lr->level_end) {
		lr->level_end = lr->ngdns;
		lr->depth++;
	}
	if (d->group_base == NULL || lr->depth > d->nested_depth ||
	    lr->cursor >= lr->level_end ||
	    strstr(d->group_filter, "%u") != NULL) {
		lr_dir_done(lr, AUTH_OK);
		return;
	}
	lr_run(lr);
}

/* Run the request's current step on a connection of the right kind. */
static void
lr_run(struct lreq *lr)
{
	struct ldap_wdir	*wd = &lr->li->wd[lr->dir];
	struct ldap_dir		*d = wd->dir;
	struct lconn		*c;
	enum lconn_kind		 kind;

	/* memberOf gave the direct groups: only nested ones are searched. */
	if (lr->step == LR_GROUPS && d->memberof_attribute != NULL) {
		lr_groups_next(lr);
		return;
	}
	if (lr->step == LR_GROUPS && d->group_base == NULL) {
		lr_dir_done(lr, AUTH_OK);
		return;
	}
	if (lr->step == LR_BIND)
		kind = LK_BIND;
	else if (lr->step != LR_USER && lr->paged)
		kind = LK_PAGED;
	else
		kind = LK_SEARCH;
	if (wd_acquire(wd, lr, kind, &c) != 0) {
		lr_error(lr, "%s: directory unreachable (no server "
		    "answered)", d->name);
		return;
	}
	if (c == NULL)
		return;		/* queued */
	if (lr->wait_tmo != NULL)
		evtimer_del(lr->wait_tmo);
	switch (lr->step) {
	case LR_USER:
		lr_search_user(lr, c);
		break;
	case LR_BIND:
		lr_bind(lr, c);
		break;
	case LR_GROUPS:
	case LR_NESTED:
		lr_search_groups(lr, c);
		break;
	}
}

/* A group of the system: namespace left out: counted, logged once. */
static void
lr_system_group(const char *name, enum names_kind kind, void *arg)
{
	struct lreq	*lr = arg;
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	char		 src[128];

	__atomic_add_fetch(&d->stats.system_groups, 1, __ATOMIC_RELAXED);
	snprintf(src, sizeof(src), "[ldap \"%s\"]", d->name);
	names_log(d->system_logged, src, "group", name, kind, "group_prefix",
	    lr->req->token_fp);
}

/*
 * A user name in the system: namespace is refused with an error rather
 * than renamed or passed on: the directory cannot vouch for the cluster's
 * own identities.  1 if refused.
 */
static int
lr_system_user(struct lreq *lr)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	enum names_kind	 kind;
	char		*name, src[128];

	xasprintf(&name, "%s%s", d->username_prefix, lr->rawname);
	if ((kind = names_kind(name)) == NAMES_PLAIN ||
	    d->allow_system_names) {
		free(name);
		return 0;
	}
	__atomic_add_fetch(&d->stats.system_users, 1, __ATOMIC_RELAXED);
	snprintf(src, sizeof(src), "[ldap \"%s\"]", d->name);
	names_log(d->system_logged, src, "user name", name, kind,
	    "username_prefix", lr->req->token_fp);
	lr_error(lr, "%s: user name \"%.64s\" is in the system: namespace",
	    d->name, name);
	free(name);
	return 1;
}

/* The user as the chain wants it. */
static void
lr_result(struct lreq *lr)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	char		*name, *keys[LDAP_MAX_EXTRA + 1];
	char		**vals[LDAP_MAX_EXTRA + 1];
	size_t		 i, n;

	lr->nnames -= names_filter_groups(lr->names, d->allow_system_names,
	    lr_system_group, lr);
	xasprintf(&name, "%s%s", d->username_prefix, lr->rawname);
	lr->res->backend = "ldap";
	/* Only attributes the entry has become extra keys. */
	for (i = n = 0; i < d->nextra; i++) {
		if (lr->extra[i] == NULL || lr->extra[i][0] == NULL)
			continue;
		keys[n] = d->extra_keys[i];
		vals[n++] = lr->extra[i];
	}
	keys[n] = NULL;
	vals[n] = NULL;
	lr->res->user_json = auth_user_json(name, lr->uid, lr->names, keys,
	    (char *const *const *)vals);
	lr->res->username = name;
}

static void
lr_dir_done(struct lreq *lr, enum auth_rv rv)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	char		*s;

	if (rv == AUTH_OK && lr_system_user(lr))
		return;
	if (rv == AUTH_OK) {
		lr_result(lr);
		lr_finish(lr, AUTH_OK);
		return;
	}
	if (rv == AUTH_ERROR) {
		if (lr->errors == NULL)
			lr->errors = xstrdup(lr->error ? lr->error : d->name);
		else {
			xasprintf(&s, "%s; %s", lr->errors, lr->error ?
			    lr->error : d->name);
			free(lr->errors);
			lr->errors = s;
		}
	}
	lr->dir++;
	lr_next_dir(lr);
}

/* Ask the next directory, or give the verdict when none is left. */
static void
lr_next_dir(struct lreq *lr)
{
	struct ldap_dir	*d;

	lr_reset(lr);
	for (; lr->dir < lr->li->ls->ndirs; lr->dir++) {
		d = &lr->li->ls->dirs[lr->dir];
		if (d->mode == LM_BIND && auth_ldap_decode_basic(
		    lr->req->token, lr->req->token_len, &lr->login,
		    &lr->password, &lr->password_len) != 0)
			continue;	/* not a user:password token */
		if (d->mode == LM_BIND && lr_locked_out(lr))
			return;
		lr->step = LR_USER;
		lr_run(lr);
		return;
	}
	lr_finish(lr, AUTH_DENY);
}

/* ------------------------------------------------------------ backend */

static enum auth_rv
auth_ldap_authenticate(void *inst, struct auth_req *req, struct auth_result *res,
    auth_done_cb done)
{
	struct ldap_inst	*li = inst;
	struct lreq		*lr;
	enum auth_rv		 rv;

	if (req->token_len == 0 || req->token_len > TR_MAX_TOKEN)
		return AUTH_DENY;
	lr = xcalloc(1, sizeof(*lr));
	lr->li = li;
	lr->req = req;
	lr->res = res;
	lr->done = done;
	lr->waiting = -1;
	lr->sync = 1;
	TAILQ_INSERT_TAIL(&li->active, lr, aentry);
	lr_next_dir(lr);
	lr->sync = 0;
	if (!lr->finished)
		return AUTH_PENDING;
	rv = lr->final;
	lr_free(lr);
	return rv;
}

/* The review gave up (deadline or client gone): drop its work quietly. */
static void
auth_ldap_cancel(void *inst, struct auth_req *req)
{
	struct ldap_inst	*li = inst;
	struct lreq		*lr;

	TAILQ_FOREACH(lr, &li->active, aentry) {
		if (lr->req == req)
			break;
	}
	if (lr == NULL)
		return;
	if (lr->waiting != -1)
		TAILQ_REMOVE(&li->wd[lr->dir].waiting[lr->waiting], lr, wentry);
	if (lr->op != NULL) {
		lr->op->lr = NULL;
		op_abandon(lr->op);
	}
	lr_free(lr);
}

static int
auth_ldap_init(void *shared, struct event_base *base, void **instp)
{
	struct ldap_shared	*ls = shared;
	struct ldap_inst	*li;
	struct ldap_wdir	*wd;
	size_t			 i;
	int			 k;

	li = xcalloc(1, sizeof(*li));
	li->ls = ls;
	li->base = base;
	TAILQ_INIT(&li->active);
	li->wd = xcalloc(ls->ndirs, sizeof(*li->wd));
	for (i = 0; i < ls->ndirs; i++) {
		wd = &li->wd[i];
		wd->li = li;
		wd->dir = &ls->dirs[i];
		for (k = LK_SEARCH; k < LK_MAX; k++) {
			TAILQ_INIT(&wd->conns[k]);
			TAILQ_INIT(&wd->waiting[k]);
		}
		wd->kick = event_new(base, -1, 0, wd_kick_cb, wd);
		wd->back = evtimer_new(base, wd_back_cb, wd);
	}
	*instp = li;
	return 0;
}

static void
auth_ldap_free(void *inst)
{
	struct ldap_inst	*li = inst;
	struct ldap_wdir	*wd;
	struct lreq		*lr;
	struct lconn		*c;
	size_t			 i;
	int			 k;

	if (li == NULL)
		return;
	/* The chain cancels what is pending first; this is belt and braces. */
	while ((lr = TAILQ_FIRST(&li->active)) != NULL)
		auth_ldap_cancel(li, lr->req);
	for (i = 0; i < li->ls->ndirs; i++) {
		wd = &li->wd[i];
		for (k = LK_SEARCH; k < LK_MAX; k++) {
			while ((c = TAILQ_FIRST(&wd->conns[k])) != NULL)
				conn_fail(c, "shutting down", 0);
		}
		event_free(wd->kick);
		event_free(wd->back);
	}
	free(li->wd);
	free(li);
}

/* ------------------------------------------------------------ config */

struct dir_load {
	const struct config	*conf;
	struct conf_section	*sec;
	struct ldap_dir		*d;
	char			*err;
	size_t			 errlen;
};

/* Durations and numbers, with the ranges of every directory. */
static int
dl_duration(struct dir_load *dl, const char *key, long long def,
    long long *out)
{
	return conf_get_duration(dl->conf, dl->sec, key, def, 1, 600 * 1000,
	    out, dl->err, dl->errlen);
}

static int
dl_number(struct dir_load *dl, const char *key, int min, int max, int def,
    int *out)
{
	return conf_get_int(dl->conf, dl->sec, key, def, min, max, out,
	    dl->err, dl->errlen);
}

/*
 * The lockout of failed binds per user name.  The defaults stay below
 * common directory lockouts (Active Directory, ppolicy): 5 failures in
 * 5 minutes lock the name out here for 5 minutes.
 */
static int
dl_lockout(struct dir_load *dl)
{
	struct lockout_conf	*lc = &dl->d->lockout;

	if (dl_number(dl, "bind_failure_limit", 0, 1000, 5, &lc->limit) != 0 ||
	    conf_get_duration(dl->conf, dl->sec, "bind_failure_window",
	    300 * 1000, 1000, 86400 * 1000LL, &lc->window, dl->err,
	    dl->errlen) != 0 ||
	    conf_get_duration(dl->conf, dl->sec, "bind_lockout", 300 * 1000,
	    1000, 86400 * 1000LL, &lc->duration, dl->err, dl->errlen) != 0)
		return -1;
	return 0;
}

static int
dl_uri(struct dir_load *dl, struct conf_kv *kv, const char *s,
    struct ldap_uri *u, int insecure)
{
	LDAPURLDesc	*lud = NULL;
	int		 r = -1;

	if (ldap_url_parse(s, &lud) != LDAP_URL_SUCCESS) {
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
		    "%s: not an LDAP URI", s);
		goto out;
	}
	u->uri = xstrdup(s);
	if (strcasecmp(lud->lud_scheme, "ldapi") == 0) {
		u->ipc = 1;
		u->host = xstrdup(lud->lud_host != NULL && *lud->lud_host ?
		    lud->lud_host : "/var/run/slapd/ldapi");
	} else if (lud->lud_host == NULL || *lud->lud_host == '\0') {
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
		    "%s: no host", s);
		goto out;
	} else {
		u->host = xstrdup(lud->lud_host);
		u->tls = strcasecmp(lud->lud_scheme, "ldaps") == 0 ? 1 :
		    insecure ? 0 : 2;
		u->port = lud->lud_port != 0 ? lud->lud_port :
		    u->tls == 1 ? 636 : 389;
	}
	r = 0;
out:
	if (lud != NULL)
		ldap_free_urldesc(lud);
	return r;
}

static int
dl_uris(struct dir_load *dl)
{
	struct ldap_dir	*d = dl->d;
	struct conf_kv	*kv;
	char		**w = NULL;
	size_t		 n, i;
	int		 insecure, r = -1;

	if (conf_get_bool(dl->conf, dl->sec, "insecure", 0, &insecure,
	    dl->err, dl->errlen) != 0)
		return -1;
	if ((kv = conf_get(dl->sec, "uri")) == NULL) {
		conf_error(dl->conf, dl->sec, NULL, dl->err, dl->errlen,
		    "uri is required");
		return -1;
	}
	w = split_words(kv->value, &n);
	if (n == 0 || n > LDAP_MAX_URIS) {
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
		    "one to %d URIs", LDAP_MAX_URIS);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (dl_uri(dl, kv, w[i], &d->uris[i], insecure) != 0)
			goto out;
		d->nuris++;
	}
	r = 0;
out:
	free_words(w);
	return r;
}

static int
dl_password(struct dir_load *dl)
{
	struct ldap_dir	*d = dl->d;
	struct conf_kv	*kv;
	char		 why[TR_ERRLEN];
	size_t		 len;

	d->bind_dn = conf_get_str(dl->sec, "bind_dn", NULL);
	kv = conf_get(dl->sec, "bind_password_file");
	if (d->bind_dn == NULL && kv == NULL)
		return 0;
	if (d->bind_dn == NULL || kv == NULL) {
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
		    "bind_dn and bind_password_file go together");
		return -1;
	}
	d->bind_password_file = xstrdup(kv->value);
	d->bind_password = read_file(kv->value, 4096, 1, &len, why,
	    sizeof(why));
	if (d->bind_password == NULL) {
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen, "%s",
		    why);
		return -1;
	}
	while (len > 0 && (d->bind_password[len - 1] == '\n' ||
	    d->bind_password[len - 1] == '\r'))
		d->bind_password[--len] = '\0';
	d->bind_password_len = len;
	/* An empty password would be an anonymous bind in disguise. */
	if (len == 0) {
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
		    "the file is empty");
		return -1;
	}
	return 0;
}

/*
 * Whether libldap can encode filter: a search is built on a handle whose
 * connection is one end of a socket pair, so nothing leaves the process.
 * Without the check a broken template would fail every search at run
 * time and look like a directory fault.  1 also when it cannot tell.
 */
static int
filter_encodes(const char *filter)
{
	LDAP	*ld = NULL;
	int	 sv[2], msgid, rc;

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
		return 1;
	if (ldap_init_fd(sv[0], LDAP_PROTO_TCP, NULL, &ld) != LDAP_SUCCESS) {
		close(sv[0]);
		close(sv[1]);
		return 1;
	}
	rc = ldap_search_ext(ld, "", LDAP_SCOPE_BASE, filter, NULL, 0, NULL,
	    NULL, NULL, 0, &msgid);
	ldap_unbind_ext(ld, NULL, NULL);
	close(sv[1]);
	return rc != LDAP_FILTER_ERROR;
}

/*
 * A filter template: parenthesised, only %s, %u and %% in it, at least
 * one placeholder (a filter without one would match the same entries for
 * everyone), and a filter libldap can encode once they are filled in.
 */
static int
dl_filter(struct dir_load *dl, const char *key, const char *def, char **out)
{
	struct conf_kv	*kv = conf_get(dl->sec, key);
	char		*t, *u;
	int		 same;

	*out = xstrdup(kv != NULL ? kv->value : def);
	t = auth_ldap_filter_expand(*out, "x", "x");
	u = auth_ldap_filter_expand(*out, "y", "y");
	same = t != NULL && u != NULL && strcmp(t, u) == 0;
	free(u);
	if (same) {
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
		    "the filter needs %%s or %%u");
		free(t);
		return -1;
	}
	if (t == NULL || **out != '(' || (*out)[strlen(*out) - 1] != ')') {
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
		    "a filter in parentheses; %%s and %%u are the only "
		    "placeholders (%%%% for a percent sign)");
		free(t);
		return -1;
	}
	if (!filter_encodes(t)) {
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
		    "not a valid LDAP search filter (RFC 4515)");
		free(t);
		return -1;
	}
	free(t);
	return 0;
}

static int
dl_regex(struct dir_load *dl, const char *key, regex_t *re, int *has)
{
	struct conf_kv	*kv;
	char		 why[256];
	int		 rc;

	*has = 0;
	if ((kv = conf_get(dl->sec, key)) == NULL)
		return 0;
	if ((rc = regcomp(re, kv->value, REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rc, re, why, sizeof(why));
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
		    "%s", why);
		return -1;
	}
	*has = 1;
	return 0;
}

static int
dl_mode(struct dir_load *dl)
{
	struct ldap_dir	*d = dl->d;
	struct conf_kv	*kv;

	d->mode = LM_BIND;
	if ((kv = conf_get(dl->sec, "mode")) != NULL) {
		if (strcmp(kv->value, "attribute") == 0)
			d->mode = LM_ATTRIBUTE;
		else if (strcmp(kv->value, "bind") != 0) {
			conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
			    "bind or attribute");
			return -1;
		}
	}
	d->token_attribute = conf_get_str(dl->sec, "token_attribute", NULL);
	if (d->mode == LM_ATTRIBUTE && d->token_attribute == NULL) {
		conf_error(dl->conf, dl->sec, NULL, dl->err, dl->errlen,
		    "token_attribute is required with mode = attribute");
		return -1;
	}
	return 0;
}

/* extra_attributes = attr=key ...: attribute values as user.extra[key]. */
static int
dl_extra(struct dir_load *dl)
{
	struct ldap_dir	*d = dl->d;
	struct conf_kv	*kv;
	char		**w, *eq;
	size_t		 n, i;
	int		 r = -1;

	if ((kv = conf_get(dl->sec, "extra_attributes")) == NULL)
		return 0;
	w = split_words(kv->value, &n);
	if (n > LDAP_MAX_EXTRA) {
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
		    "at most %d attributes", LDAP_MAX_EXTRA);
		goto out;
	}
	d->extra_attrs = xcalloc(n + 1, sizeof(char *));
	d->extra_keys = xcalloc(n + 1, sizeof(char *));
	for (i = 0; i < n; i++) {
		if ((eq = strchr(w[i], '=')) == NULL || eq == w[i] ||
		    eq[1] == '\0') {
			conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
			    "%s: want attribute=key, as in "
			    "mail=example.org/mail", w[i]);
			goto out;
		}
		d->extra_attrs[i] = xstrndup(w[i], (size_t)(eq - w[i]));
		d->extra_keys[i] = xstrdup(eq + 1);
		d->nextra++;
	}
	r = 0;
out:
	free_words(w);
	return r;
}

/* The TLS context of a directory that has a TLS URI, built once. */
static int
dl_tls(struct dir_load *dl)
{
	struct ldap_dir	*d = dl->d;
	char		 err[TR_ERRLEN];
	size_t		 i;

	for (i = 0; i < d->nuris && d->uris[i].tls == 0; i++)
		;
	if (i == d->nuris)
		return 0;
	if ((d->tls_ctx = tls_client_ctx_new(d->ca, d->cert, d->key, err,
	    sizeof(err))) == NULL) {
		conf_error(dl->conf, dl->sec, NULL, dl->err, dl->errlen, "%s",
		    err);
		return -1;
	}
	return 0;
}

/*
 * allow_system_names; without it, a prefix that puts every name in the
 * system: namespace would drop every group or refuse every user: say so
 * now rather than at the first review.
 */
static int
dl_system_names(struct dir_load *dl)
{
	struct ldap_dir	*d = dl->d;
	const char	*key = NULL;

	if (conf_get_bool(dl->conf, dl->sec, "allow_system_names", 0,
	    &d->allow_system_names, dl->err, dl->errlen) != 0)
		return -1;
	if (!d->allow_system_names && names_prefix_reserved(d->username_prefix))
		key = "username_prefix";
	else if (!d->allow_system_names &&
	    names_prefix_reserved(d->group_prefix))
		key = "group_prefix";
	if (key != NULL) {
		conf_error(dl->conf, dl->sec, conf_get(dl->sec, key), dl->err,
		    dl->errlen, "in the system: namespace, which a directory "
		    "may not give; set allow_system_names = yes to mean it");
		return -1;
	}
	d->system_logged = names_once_new();
	return 0;
}

static int
dl_all(struct dir_load *dl)
{
	struct ldap_dir	*d = dl->d;
	long long	 depth;
	int		 n;

	if (dl_uris(dl) != 0 || dl_password(dl) != 0 || dl_mode(dl) != 0)
		return -1;
	d->ca = conf_get_str(dl->sec, "ca", NULL);
	d->cert = conf_get_str(dl->sec, "cert", NULL);
	d->key = conf_get_str(dl->sec, "key", NULL);
	if ((d->cert == NULL) != (d->key == NULL)) {
		conf_error(dl->conf, dl->sec, NULL, dl->err, dl->errlen,
		    "cert and key go together");
		return -1;
	}
	if (dl_tls(dl) != 0)
		return -1;
	if ((d->user_base = conf_get_str(dl->sec, "user_base", NULL)) == NULL) {
		conf_error(dl->conf, dl->sec, NULL, dl->err, dl->errlen,
		    "user_base is required");
		return -1;
	}
	if (dl_filter(dl, "user_filter", "(uid=%s)", &d->user_filter) != 0 ||
	    dl_filter(dl, "group_filter", "(member=%s)", &d->group_filter) ||
	    dl_regex(dl, "group_allow", &d->group_allow, &d->has_allow) ||
	    dl_regex(dl, "group_deny", &d->group_deny, &d->has_deny) ||
	    dl_duration(dl, "timeout", 5000, &d->timeout) != 0 ||
	    dl_duration(dl, "connect_timeout", 2000, &d->connect_timeout) ||
	    dl_duration(dl, "backoff_max", 30000, &d->backoff_max) != 0 ||
	    dl_number(dl, "pool_size", 1, 64, 2, &d->pool_size) != 0 ||
	    dl_number(dl, "page_size", 0, 100000, 500, &d->page_size) != 0 ||
	    dl_number(dl, "max_groups", 1, LDAP_MAX_GROUPS, 1024,
	    &d->max_groups) != 0 ||
	    dl_number(dl, "nested_depth", 0, 32, 0, &n) != 0 ||
	    dl_lockout(dl) != 0)
		return -1;
	depth = n;
	d->nested_depth = (int)depth;
	d->username_attribute = conf_get_str(dl->sec, "username_attribute",
	    "uid");
	d->username_prefix = conf_get_str(dl->sec, "username_prefix", "");
	d->uid_attribute = conf_get_str(dl->sec, "uid_attribute", NULL);
	if (dl_extra(dl) != 0)
		return -1;
	d->memberof_attribute = conf_get_str(dl->sec, "memberof_attribute",
	    NULL);
	d->group_base = conf_get_str(dl->sec, "group_base", NULL);
	d->group_name_attribute = conf_get_str(dl->sec, "group_name_attribute",
	    "cn");
	d->group_prefix = conf_get_str(dl->sec, "group_prefix", "");
	return dl_system_names(dl);
}

/* A label value: backslash, quote and newline escaped. */
static char *
metric_label(const char *s)
{
	char	*out, *p;

	out = p = xmalloc(2 * strlen(s) + 1);
	for (; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"' || *s == '\n')
			*p++ = '\\';
		*p++ = *s == '\n' ? 'n' : *s;
	}
	*p = '\0';
	return out;
}

static void
auth_ldap_dir_clear(struct ldap_dir *d)
{
	size_t	i;

	for (i = 0; i < d->nuris; i++) {
		free(d->uris[i].uri);
		free(d->uris[i].host);
	}
	if (d->bind_password != NULL)
		OPENSSL_cleanse(d->bind_password, d->bind_password_len);
	free(d->bind_password);
	free(d->bind_password_file);
	free(d->name);
	free(d->mname);
	free(d->ca);
	free(d->cert);
	free(d->key);
	tls_ctx_free(d->tls_ctx);
	free(d->bind_dn);
	free(d->user_base);
	free(d->user_filter);
	free(d->token_attribute);
	free(d->username_attribute);
	free(d->username_prefix);
	free(d->uid_attribute);
	for (i = 0; i < d->nextra; i++) {
		free(d->extra_attrs[i]);
		free(d->extra_keys[i]);
	}
	free(d->extra_attrs);
	free(d->extra_keys);
	free(d->memberof_attribute);
	free(d->group_base);
	free(d->group_filter);
	free(d->group_name_attribute);
	free(d->group_prefix);
	names_once_free(d->system_logged);
	if (d->has_allow)
		regfree(&d->group_allow);
	if (d->has_deny)
		regfree(&d->group_deny);
}

static void
auth_ldap_unload(void *shared)
{
	struct ldap_shared	*ls = shared;
	size_t			 i;

	if (ls == NULL)
		return;
	for (i = 0; i < ls->ndirs; i++)
		auth_ldap_dir_clear(&ls->dirs[i]);
	free(ls->dirs);
	free(ls);
}

static int
auth_ldap_load(const struct config *conf, void **shared, char *err, size_t errlen)
{
	struct ldap_shared	*ls;
	struct dir_load		 dl;
	struct conf_section	*sec;
	struct conf_kv		*unused;
	size_t			 i;
	int			 v;

	*shared = NULL;
	/*
	 * libldap sets up its global defaults on first use; do it here, in
	 * the main thread, before workers make handles concurrently.
	 */
	ldap_get_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &v);
	ls = xcalloc(1, sizeof(*ls));
	ls->dirs = xcalloc(conf->nsections + 1, sizeof(*ls->dirs));
	for (i = 0; i < conf->nsections; i++) {
		sec = &conf->sections[i];
		if (strcmp(sec->type, "ldap") != 0)
			continue;
		memset(&dl, 0, sizeof(dl));
		dl.conf = conf;
		dl.sec = sec;
		dl.d = &ls->dirs[ls->ndirs++];
		dl.d->name = xstrdup(sec->label != NULL ? sec->label : "ldap");
		dl.d->mname = metric_label(dl.d->name);
		dl.err = err;
		dl.errlen = errlen;
		if (dl_all(&dl) != 0)
			goto fail;
		if ((unused = conf_unused(sec)) != NULL) {
			conf_error(conf, sec, unused, err, errlen,
			    "unknown key");
			goto fail;
		}
	}
	if (ls->ndirs == 0) {
		snprintf(err, errlen, "%s: the chain names \"ldap\" but there "
		    "is no [ldap \"NAME\"] section", conf->path);
		goto fail;
	}
	*shared = ls;
	return 0;
fail:
	auth_ldap_unload(ls);
	return -1;
}

/* Ready unless the last attempt of some worker found no server. */
static int
auth_ldap_ready(void *shared)
{
	struct ldap_shared	*ls = shared;
	size_t			 i;

	for (i = 0; ls != NULL && i < ls->ndirs; i++) {
		if (__atomic_load_n(&ls->dirs[i].stats.unreachable,
		    __ATOMIC_RELAXED))
			return 0;
	}
	return 1;
}

/* Open connections per URI: which servers the workers use now. */
static void
auth_ldap_uri_metrics(struct ldap_shared *ls, struct evbuffer *out)
{
	struct ldap_dir	*d;
	char		*u;
	size_t		 i, j;

	evbuffer_add_printf(out,
	    "# HELP tokenreviewd_ldap_uri_connections Open LDAP connections "
	    "by URI.\n"
	    "# TYPE tokenreviewd_ldap_uri_connections gauge\n");
	for (i = 0; i < ls->ndirs; i++) {
		d = &ls->dirs[i];
		for (j = 0; j < d->nuris; j++) {
			u = metric_label(d->uris[j].uri);
			evbuffer_add_printf(out, "tokenreviewd_ldap_uri_"
			    "connections{directory=\"%s\",uri=\"%s\"} %lld\n",
			    d->mname, u, (long long)__atomic_load_n(
			    &d->stats.uri_connections[j], __ATOMIC_RELAXED));
			free(u);
		}
	}
}

/* Names of the system: namespace kept out of answers (names.c). */
static void
auth_ldap_system_metrics(struct ldap_shared *ls, struct evbuffer *out)
{
	const char	*m = "tokenreviewd_ldap_system_names_dropped_total";
	size_t		 i;

	evbuffer_add_printf(out, "# HELP %s Groups in the system: namespace "
	    "dropped, and answers refused for such a user name.\n"
	    "# TYPE %s counter\n", m, m);
	for (i = 0; i < ls->ndirs; i++) {
		evbuffer_add_printf(out, "%s{directory=\"%s\",kind=\"group\"} "
		    "%llu\n", m, ls->dirs[i].mname, (unsigned long long)
		    __atomic_load_n(&ls->dirs[i].stats.system_groups,
		    __ATOMIC_RELAXED));
		evbuffer_add_printf(out, "%s{directory=\"%s\",kind=\"user\"} "
		    "%llu\n", m, ls->dirs[i].mname, (unsigned long long)
		    __atomic_load_n(&ls->dirs[i].stats.system_users,
		    __ATOMIC_RELAXED));
	}
}

static void
auth_ldap_lockout_metrics(struct ldap_shared *ls, struct evbuffer *out)
{
	size_t	i;

	evbuffer_add_printf(out,
	    "# HELP tokenreviewd_ldap_lockouts_total User names locked out "
	    "after bind_failure_limit failed logins.\n"
	    "# TYPE tokenreviewd_ldap_lockouts_total counter\n");
	for (i = 0; i < ls->ndirs; i++)
		evbuffer_add_printf(out, "tokenreviewd_ldap_lockouts_total"
		    "{directory=\"%s\"} %llu\n", ls->dirs[i].mname,
		    (unsigned long long)__atomic_load_n(
		    &ls->dirs[i].stats.lockouts, __ATOMIC_RELAXED));
	evbuffer_add_printf(out,
	    "# HELP tokenreviewd_ldap_lockout_refused_total Reviews of a "
	    "locked-out user name, refused without asking the directory.\n"
	    "# TYPE tokenreviewd_ldap_lockout_refused_total counter\n");
	for (i = 0; i < ls->ndirs; i++)
		evbuffer_add_printf(out, "tokenreviewd_ldap_lockout_refused_"
		    "total{directory=\"%s\"} %llu\n", ls->dirs[i].mname,
		    (unsigned long long)__atomic_load_n(
		    &ls->dirs[i].stats.lockout_refused, __ATOMIC_RELAXED));
}

static void
auth_ldap_metrics(void *shared, struct evbuffer *out)
{
	struct ldap_shared	*ls = shared;
	struct ldap_stats	*st;
	const char		*n;
	size_t			 i, t, r;

	if (ls == NULL)
		return;
	evbuffer_add_printf(out,
	    "# HELP tokenreviewd_ldap_operations_total LDAP operations by "
	    "type and result.\n"
	    "# TYPE tokenreviewd_ldap_operations_total counter\n");
	for (i = 0; i < ls->ndirs; i++) {
		st = &ls->dirs[i].stats;
		n = ls->dirs[i].mname;
		for (t = 0; t < OT_MAX; t++) {
			for (r = 0; r < OR_MAX; r++)
				evbuffer_add_printf(out, "tokenreviewd_ldap_"
				    "operations_total{directory=\"%s\",op=\"%s\","
				    "result=\"%s\"} %llu\n", n, optype_names[t],
				    opres_names[r], (unsigned long long)
				    __atomic_load_n(&st->ops[t][r],
				    __ATOMIC_RELAXED));
		}
	}
	evbuffer_add_printf(out,
	    "# HELP tokenreviewd_ldap_operation_seconds_sum Time spent in "
	    "LDAP operations.\n"
	    "# TYPE tokenreviewd_ldap_operation_seconds_sum counter\n");
	for (i = 0; i < ls->ndirs; i++) {
		for (t = 0; t < OT_MAX; t++)
			evbuffer_add_printf(out, "tokenreviewd_ldap_operation_"
			    "seconds_sum{directory=\"%s\",op=\"%s\"} %.6f\n",
			    ls->dirs[i].mname, optype_names[t],
			    (double)__atomic_load_n(&ls->dirs[i].stats.
			    usec_sum[t], __ATOMIC_RELAXED) / 1e6);
	}
	evbuffer_add_printf(out,
	    "# HELP tokenreviewd_ldap_connections Open LDAP connections.\n"
	    "# TYPE tokenreviewd_ldap_connections gauge\n");
	for (i = 0; i < ls->ndirs; i++)
		evbuffer_add_printf(out, "tokenreviewd_ldap_connections"
		    "{directory=\"%s\"} %lld\n", ls->dirs[i].mname, (long long)
		    __atomic_load_n(&ls->dirs[i].stats.connections,
		    __ATOMIC_RELAXED));
	evbuffer_add_printf(out,
	    "# HELP tokenreviewd_ldap_failovers_total Connections opened to "
	    "a URI other than the first.\n"
	    "# TYPE tokenreviewd_ldap_failovers_total counter\n");
	for (i = 0; i < ls->ndirs; i++)
		evbuffer_add_printf(out, "tokenreviewd_ldap_failovers_total"
		    "{directory=\"%s\"} %llu\n", ls->dirs[i].mname,
		    (unsigned long long)__atomic_load_n(
		    &ls->dirs[i].stats.failovers, __ATOMIC_RELAXED));
	auth_ldap_lockout_metrics(ls, out);
	auth_ldap_system_metrics(ls, out);
	auth_ldap_uri_metrics(ls, out);
}

static size_t
auth_ldap_watch(void *shared, const char **paths, size_t max)
{
	struct ldap_shared	*ls = shared;
	size_t			 i, n = 0;

	for (i = 0; ls != NULL && i < ls->ndirs; i++) {
		if (ls->dirs[i].bind_password_file != NULL && n < max)
			paths[n++] = ls->dirs[i].bind_password_file;
		if (ls->dirs[i].ca != NULL && n < max)
			paths[n++] = ls->dirs[i].ca;
		if (ls->dirs[i].cert != NULL && n + 1 < max) {
			paths[n++] = ls->dirs[i].cert;
			paths[n++] = ls->dirs[i].key;
		}
	}
	return n;
}

const struct auth_backend auth_ldap_backend = {
	.name = "ldap",
	.load = auth_ldap_load,
	.unload = auth_ldap_unload,
	.init = auth_ldap_init,
	.authenticate = auth_ldap_authenticate,
	.cancel = auth_ldap_cancel,
	.free = auth_ldap_free,
	.ready = auth_ldap_ready,
	.metrics = auth_ldap_metrics,
	.watch = auth_ldap_watch,
};
