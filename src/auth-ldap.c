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
 * A directory with reviews = no answers no token; it serves the login
 * flow only, whose tokens' users are looked up again without a bind
 * (auth_ldap_recheck()).
 *
 * This file is the source as the chain sees it: the backend's table, a
 * review's walk over the directories (each one's verdict, the errors
 * gathered on the way, the answer), the text helpers the other LDAP
 * files share, and the metrics.  The [ldap] sections are read in
 * ldap-conf.c, each worker's connections are kept in ldap-pool.c (TLS
 * under them in ldap-tls.c), and the user search, the bind and the group
 * searches are made in ldap-search.c; ldap-int.h holds what they share.
 * Nothing here blocks a worker: a review waits for its operations in the
 * worker's event loop and is answered from there.  POST /login asks one
 * directory the way bind mode does (auth_ldap_login()), on the same walk.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/crypto.h>

#include "tokenreviewd.h"
#include "ldap-int.h"

static const char *const auth_ldap_optype_names[OT_MAX] = {
	"connect", "starttls", "bind", "search"
};
static const char *const auth_ldap_opres_names[OR_MAX] = {
	"success", "rejected", "error", "timeout"
};

static void	lreq_next_dir(struct lreq *);

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

/* What b holds, as a string the caller frees; b is left empty. */
char *
auth_ldap_buf_take(struct evbuffer *b)
{
	size_t	 n = evbuffer_get_length(b);
	char	*out;

	out = xmalloc(n + 1);
	evbuffer_remove(b, out, n);
	out[n] = '\0';
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
	out = auth_ldap_buf_take(b);
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

/*
 * Active Directory's objectGUID as Windows writes it: the first three
 * fields are stored little-endian, the last two as bytes in order.
 */
static char *
auth_ldap_guid_text(const uint8_t *g)
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
auth_ldap_sid_text(const uint8_t *b, size_t len)
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
	char		*s;

	if (strcasecmp(attr, "objectGUID") == 0 && len == 16)
		return auth_ldap_guid_text(b);
	if (strcasecmp(attr, "objectSid") == 0 &&
	    (s = auth_ldap_sid_text(b, len)) != NULL)
		return s;
	if (utf8_text_valid(val, len))
		return xstrndup(val, len);
	s = xmalloc(2 * len + 1);
	hex_encode(b, len, s);
	return s;
}

/* Result codes that mean "no" rather than "could not check". */
int
auth_ldap_rejected(int rc)
{
	return rc == LDAP_INVALID_CREDENTIALS ||
	    rc == LDAP_INAPPROPRIATE_AUTH || rc == LDAP_UNWILLING_TO_PERFORM ||
	    rc == LDAP_CONSTRAINT_VIOLATION || rc == LDAP_NO_SUCH_OBJECT;
}

void
auth_ldap_stats_op(struct ldap_dir *d, enum ldap_optype t, enum ldap_opres r,
    double start)
{
	uint64_t	us = (uint64_t)((monotonic_sec() - start) * 1e6);

	__atomic_add_fetch(&d->stats.ops[t][r], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&d->stats.usec_sum[t], us, __ATOMIC_RELAXED);
}

/* A label value, escaped as every metric's (metrics_escape()). */
char *
auth_ldap_label(const char *s)
{
	struct evbuffer	*b;
	char		*out;

	if ((b = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	metrics_escape(b, s);
	out = auth_ldap_buf_take(b);
	evbuffer_free(b);
	return out;
}

/* ------------------------------------------------------------ reviews */

/*
 * Forget what one directory found, before the next one is asked: what
 * the state owns is freed (the password wiped), then it is zeroed whole.
 */
static void
lreq_reset(struct lreq *lr)
{
	struct lreq_dir	*ds = &lr->ds;

	/* Cancelled with the bind sent: it may have failed there. */
	if (ds->bind_began)
		lsearch_lockout_end(lr, LO_FAILED);
	lsearch_release(lr);
	if (lr->wait_tmo != NULL)
		evtimer_del(lr->wait_tmo);
	free(ds->login);
	if (ds->password != NULL)
		OPENSSL_cleanse(ds->password, ds->password_len);
	free(ds->password);
	free(ds->dn);
	free(ds->uid);
	free(ds->rawname);
	free(ds->error);
	lsearch_extra_free(ds);
	strvec_free(&ds->names);
	strvec_free(&ds->gdns);
	free(ds->gset);
	memset(ds, 0, sizeof(*ds));
}

static void
lreq_free(struct lreq *lr)
{
	if (lr == NULL)
		return;
	lreq_reset(lr);
	if (lr->wait_tmo != NULL)
		event_free(lr->wait_tmo);
	free(lr->errors);
	TAILQ_REMOVE(&lr->li->active, lr, aentry);
	free(lr);
}

/*
 * A login refused by the user name's lockout is a refusal with the time
 * left, not an error: /login answers 429 with Retry-After.
 */
static void
lreq_login_locked(struct lreq *lr, enum auth_rv *rv)
{
	free(lr->errors);
	lr->errors = NULL;
	lr->res->error = xstrdup("too many failed logins");
	lr->res->max_ttl = lr->lockout_left;
	*rv = AUTH_DENY;
}

/* The review is decided: tell the chain (unless still in authenticate). */
static void
lreq_finish(struct lreq *lr, enum auth_rv rv)
{
	struct auth_req	*req = lr->req;
	auth_done_cb	 done = lr->done;

	if (lr->login && rv != AUTH_OK && lr->lockout_left > 0)
		lreq_login_locked(lr, &rv);
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
	lreq_free(lr);
	done(req, rv);
}

void
lreq_error(struct lreq *lr, const char *fmt, ...)
{
	va_list	ap;
	char	msg[TR_ERRLEN];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	free(lr->ds.error);
	lr->ds.error = xstrdup(msg);
	lr->loud = 1;
	lreq_dir_done(lr, AUTH_ERROR);
}

/* Run the request's current step on a connection of the right kind. */
void
lreq_run(struct lreq *lr)
{
	struct lreq_dir		*ds = &lr->ds;
	struct ldap_wdir	*wd = &lr->li->wd[lr->dir];
	struct ldap_dir		*d = wd->dir;
	struct lconn		*c;
	enum lconn_kind		 kind;

	/* memberOf gave the direct groups: only nested ones are searched. */
	if (ds->step == LR_GROUPS && d->memberof_attribute != NULL) {
		lsearch_groups_next(lr);
		return;
	}
	if (ds->step == LR_GROUPS && d->group_base == NULL) {
		lreq_dir_done(lr, AUTH_OK);
		return;
	}
	if (ds->step == LR_BIND)
		kind = LK_BIND;
	else if (ds->step != LR_USER && ds->paged)
		kind = LK_PAGED;
	else
		kind = LK_SEARCH;
	if (lpool_acquire(wd, lr, kind, &c) != 0) {
		lreq_error(lr, "%s: directory unreachable (no server "
		    "answered)", d->name);
		return;
	}
	if (c == NULL)
		return;		/* queued */
	if (lr->wait_tmo != NULL)
		evtimer_del(lr->wait_tmo);
	switch (ds->step) {
	case LR_USER:
		lsearch_user(lr, c);
		break;
	case LR_BIND:
		lsearch_bind(lr, c);
		break;
	case LR_GROUPS:
	case LR_NESTED:
		lsearch_groups(lr, c);
		break;
	}
}

/* A group of the system: namespace left out: counted, logged once. */
static void
lreq_system_group(const char *name, enum names_kind kind, void *arg)
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
lreq_system_user(struct lreq *lr)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	enum names_kind	 kind;
	char		*name, src[128];

	xasprintf(&name, "%s%s", d->username_prefix, lr->ds.rawname);
	if ((kind = names_kind(name)) == NAMES_PLAIN ||
	    d->allow_system_names) {
		free(name);
		return 0;
	}
	__atomic_add_fetch(&d->stats.system_users, 1, __ATOMIC_RELAXED);
	snprintf(src, sizeof(src), "[ldap \"%s\"]", d->name);
	names_log(d->system_logged, src, "user name", name, kind,
	    "username_prefix", lr->req->token_fp);
	lreq_error(lr, "%s: user name \"%.64s\" is in the system: namespace",
	    d->name, name);
	free(name);
	return 1;
}

/* The user as the chain wants it. */
static void
lreq_result(struct lreq *lr)
{
	struct lreq_dir	*ds = &lr->ds;
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	char		*name, *keys[LDAP_MAX_EXTRA + 1];
	char		**vals[LDAP_MAX_EXTRA + 1];
	size_t		 i, n;

	ds->names.n -= names_filter_groups(ds->names.v, d->allow_system_names,
	    lreq_system_group, lr);
	xasprintf(&name, "%s%s", d->username_prefix, ds->rawname);
	lr->res->backend = "ldap";
	/* Only attributes the entry has become extra keys. */
	for (i = n = 0; i < d->nextra; i++) {
		if (ds->extra[i] == NULL || ds->extra[i][0] == NULL)
			continue;
		keys[n] = d->extra_keys[i];
		vals[n++] = ds->extra[i];
	}
	keys[n] = NULL;
	vals[n] = NULL;
	lr->res->user_json = auth_user_json(name, ds->uid, ds->names.v, keys,
	    (char *const *const *)vals);
	lr->res->username = name;
}

void
lreq_dir_done(struct lreq *lr, enum auth_rv rv)
{
	struct lreq_dir	*ds = &lr->ds;
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	char		*s;

	if (rv == AUTH_OK && lreq_system_user(lr))
		return;
	if (rv == AUTH_OK) {
		lreq_result(lr);
		lreq_finish(lr, AUTH_OK);
		return;
	}
	if (rv == AUTH_ERROR) {
		if (lr->errors == NULL)
			lr->errors = xstrdup(ds->error ? ds->error : d->name);
		else {
			xasprintf(&s, "%s; %s", lr->errors, ds->error ?
			    ds->error : d->name);
			free(lr->errors);
			lr->errors = s;
		}
	}
	lr->dir++;
	lreq_next_dir(lr);
}

/* Ask the next directory, or give the verdict when none is left. */
static void
lreq_next_dir(struct lreq *lr)
{
	struct lreq_dir	*ds = &lr->ds;
	struct ldap_dir	*d;

	lreq_reset(lr);
	/* A recheck asks its one directory: that verdict is the answer. */
	for (; !lr->recheck && lr->dir < lr->li->ls->ndirs; lr->dir++) {
		d = &lr->li->ls->dirs[lr->dir];
		if (lr->login && lr->dir != lr->login_dir)
			break;		/* a login asks its directory only */
		if (!lr->login && !d->reviews)
			continue;	/* [ldap] reviews = no */
		if (lreq_binds(lr, d) && auth_ldap_decode_basic(
		    lr->req->token, lr->req->token_len, &ds->login,
		    &ds->password, &ds->password_len) != 0)
			continue;	/* not a user:password token */
		if (lreq_binds(lr, d) && lsearch_locked_out(lr))
			return;
		ds->step = LR_USER;
		lreq_run(lr);
		return;
	}
	lreq_finish(lr, AUTH_DENY);
}

/* ------------------------------------------------------------ backend */

/* A review's walk of the directories, on the active list. */
static struct lreq *
lreq_new(struct ldap_inst *li, struct auth_req *req, struct auth_result *res,
    auth_done_cb done)
{
	struct lreq	*lr;

	lr = xcalloc(1, sizeof(*lr));
	lr->li = li;
	lr->req = req;
	lr->res = res;
	lr->done = done;
	lr->waiting = LK_NONE;
	lr->sync = 1;
	TAILQ_INSERT_TAIL(&li->active, lr, aentry);
	return lr;
}

/* After lr's first steps: its answer if it has one, else AUTH_PENDING. */
static enum auth_rv
lreq_started(struct lreq *lr)
{
	enum auth_rv	rv;

	lr->sync = 0;
	if (!lr->finished)
		return AUTH_PENDING;
	rv = lr->final;
	lreq_free(lr);
	return rv;
}

static enum auth_rv
auth_ldap_authenticate(void *inst, struct auth_req *req,
    struct auth_result *res, auth_done_cb done)
{
	struct ldap_inst	*li = inst;
	struct lreq		*lr;

	if (req->token_len == 0 || req->token_len > TR_MAX_TOKEN)
		return AUTH_DENY;
	lr = lreq_new(li, req, res, done);
	lreq_next_dir(lr);
	return lreq_started(lr);
}

/* The directory named dir, or NULL. */
static struct ldap_dir *
auth_ldap_dir(struct ldap_inst *li, const char *dir, size_t *idx)
{
	size_t	i;

	for (i = 0; li != NULL && i < li->ls->ndirs; i++) {
		if (strcmp(li->ls->dirs[i].name, dir) == 0) {
			*idx = i;
			return &li->ls->dirs[i];
		}
	}
	return NULL;
}

/*
 * The user of a self-issued token looked up again in one directory (its
 * other reviews skipped), searched as bind mode searches a login, and
 * never bound: the flag recheck stops the walk after the user's groups.
 */
enum auth_rv
auth_ldap_recheck(void *inst, const char *dir, const char *username,
    struct auth_req *req, struct auth_result *res, auth_done_cb done)
{
	struct ldap_inst	*li = inst;
	struct ldap_dir		*d;
	struct lreq		*lr;
	size_t			 i, plen;

	if ((d = auth_ldap_dir(li, dir, &i)) == NULL) {
		xasprintf(&res->error, "no directory [ldap \"%.64s\"] here",
		    dir);
		return AUTH_ERROR;
	}
	plen = strlen(d->username_prefix);
	if (strncmp(username, d->username_prefix, plen) != 0 ||
	    username[plen] == '\0' || strlen(username + plen) > LDAP_MAX_LOGIN)
		return AUTH_DENY;
	lr = lreq_new(li, req, res, done);
	lr->recheck = 1;
	lr->dir = i;
	lr->ds.login = xstrdup(username + plen);
	lr->ds.step = LR_USER;
	lreq_run(lr);
	return lreq_started(lr);
}

enum auth_rv
auth_ldap_login(void *inst, const char *dir, struct auth_req *req,
    struct auth_result *res, auth_done_cb done)
{
	struct ldap_inst	*li = inst;
	struct lreq		*lr;
	size_t			 i;

	if (auth_ldap_dir(li, dir, &i) == NULL) {
		xasprintf(&res->error, "no directory [ldap \"%.64s\"] here",
		    dir);
		return AUTH_ERROR;
	}
	if (req->token_len == 0 || req->token_len > TR_MAX_TOKEN)
		return AUTH_DENY;
	lr = lreq_new(li, req, res, done);
	lr->login = 1;
	lr->dir = lr->login_dir = i;
	lreq_next_dir(lr);
	return lreq_started(lr);
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
	if (lr->waiting != LK_NONE)
		TAILQ_REMOVE(&li->wd[lr->dir].waiting[lr->waiting], lr, wentry);
	if (lr->op != NULL) {
		lr->op->lr = NULL;
		lconn_op_abandon(lr->op);
	}
	lreq_free(lr);
}

static int
auth_ldap_init(void *shared, struct event_base *base, void **instp)
{
	struct ldap_shared	*ls = shared;
	struct ldap_inst	*li;
	size_t			 i;

	li = xcalloc(1, sizeof(*li));
	li->ls = ls;
	li->base = base;
	TAILQ_INIT(&li->active);
	li->wd = xcalloc(ls->ndirs, sizeof(*li->wd));
	for (i = 0; i < ls->ndirs; i++)
		lpool_init(&li->wd[i], li, &ls->dirs[i]);
	*instp = li;
	return 0;
}

static void
auth_ldap_free(void *inst)
{
	struct ldap_inst	*li = inst;
	struct lreq		*lr;
	size_t			 i;

	if (li == NULL)
		return;
	/* The chain cancels what is pending first; this is belt and braces. */
	while ((lr = TAILQ_FIRST(&li->active)) != NULL)
		auth_ldap_cancel(li, lr->req);
	for (i = 0; i < li->ls->ndirs; i++)
		lpool_close(&li->wd[i]);
	free(li->wd);
	free(li);
}

/* ------------------------------------------------------------ metrics */

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

/* The labels directory="NAME" and more, already escaped; freed by caller. */
static char *
auth_ldap_labels(const struct ldap_dir *d, const char *fmt, const char *a,
    const char *b)
{
	char	*extra = NULL, *labels;

	if (fmt != NULL)
		xasprintf(&extra, fmt, a, b);
	xasprintf(&labels, "directory=\"%s\"%s%s", d->mname,
	    extra != NULL ? "," : "", extra != NULL ? extra : "");
	free(extra);
	return labels;
}

/* A counter family with one sample per directory: the field at off. */
static void
auth_ldap_dir_counter(struct ldap_shared *ls, struct evbuffer *out,
    const char *name, const char *help, size_t off)
{
	char		*labels;
	uint64_t	*v;
	size_t		 i;

	metrics_family(out, name, "counter", help);
	for (i = 0; i < ls->ndirs; i++) {
		v = (uint64_t *)(void *)((char *)&ls->dirs[i].stats + off);
		labels = auth_ldap_labels(&ls->dirs[i], NULL, NULL, NULL);
		metrics_counter(out, name, labels,
		    __atomic_load_n(v, __ATOMIC_RELAXED));
		free(labels);
	}
}

/* Open connections per URI: which servers the workers use now. */
static void
auth_ldap_uri_metrics(struct ldap_shared *ls, struct evbuffer *out)
{
	const char	*m = "tokenreviewd_ldap_uri_connections";
	struct ldap_dir	*d;
	char		*u, *labels;
	size_t		 i, j;

	metrics_family(out, m, "gauge", "Open LDAP connections by URI.");
	for (i = 0; i < ls->ndirs; i++) {
		d = &ls->dirs[i];
		for (j = 0; j < d->nuris; j++) {
			u = auth_ldap_label(d->uris[j].uri);
			labels = auth_ldap_labels(d, "uri=\"%s\"%s", u, "");
			metrics_gauge(out, m, labels, (long long)
			    __atomic_load_n(&d->stats.uri_connections[j],
			    __ATOMIC_RELAXED));
			free(labels);
			free(u);
		}
	}
}

/* Names of the system: namespace kept out of answers (names.c). */
static void
auth_ldap_system_metrics(struct ldap_shared *ls, struct evbuffer *out)
{
	const char	*m = "tokenreviewd_ldap_system_names_dropped_total";
	struct ldap_dir	*d;
	char		*labels;
	size_t		 i;

	metrics_family(out, m, "counter", "Groups in the system: namespace "
	    "dropped, and answers refused for such a user name.");
	for (i = 0; i < ls->ndirs; i++) {
		d = &ls->dirs[i];
		labels = auth_ldap_labels(d, "kind=\"%s\"%s", "group", "");
		metrics_counter(out, m, labels, __atomic_load_n(
		    &d->stats.system_groups, __ATOMIC_RELAXED));
		free(labels);
		labels = auth_ldap_labels(d, "kind=\"%s\"%s", "user", "");
		metrics_counter(out, m, labels, __atomic_load_n(
		    &d->stats.system_users, __ATOMIC_RELAXED));
		free(labels);
	}
}

/* Operations by type and result, and the time spent in them. */
static void
auth_ldap_op_metrics(struct ldap_shared *ls, struct evbuffer *out)
{
	const char	*m = "tokenreviewd_ldap_operations_total";
	const char	*s = "tokenreviewd_ldap_operation_seconds_sum";
	struct ldap_dir	*d;
	char		*labels;
	size_t		 i, t, r;

	metrics_family(out, m, "counter", "LDAP operations by type and "
	    "result.");
	for (i = 0; i < ls->ndirs; i++) {
		d = &ls->dirs[i];
		for (t = 0; t < OT_MAX; t++) {
			for (r = 0; r < OR_MAX; r++) {
				labels = auth_ldap_labels(d,
				    "op=\"%s\",result=\"%s\"",
				    auth_ldap_optype_names[t],
				    auth_ldap_opres_names[r]);
				metrics_counter(out, m, labels,
				    __atomic_load_n(&d->stats.ops[t][r],
				    __ATOMIC_RELAXED));
				free(labels);
			}
		}
	}
	metrics_family(out, s, "counter", "Time spent in LDAP operations.");
	for (i = 0; i < ls->ndirs; i++) {
		d = &ls->dirs[i];
		for (t = 0; t < OT_MAX; t++)
			evbuffer_add_printf(out, "%s{directory=\"%s\","
			    "op=\"%s\"} %.6f\n", s, d->mname,
			    auth_ldap_optype_names[t], (double)__atomic_load_n(
			    &d->stats.usec_sum[t], __ATOMIC_RELAXED) / 1e6);
	}
}

static void
auth_ldap_metrics(void *shared, struct evbuffer *out)
{
	const char		*m = "tokenreviewd_ldap_connections";
	struct ldap_shared	*ls = shared;
	char			*labels;
	size_t			 i;

	if (ls == NULL)
		return;
	auth_ldap_op_metrics(ls, out);
	metrics_family(out, m, "gauge", "Open LDAP connections.");
	for (i = 0; i < ls->ndirs; i++) {
		labels = auth_ldap_labels(&ls->dirs[i], NULL, NULL, NULL);
		metrics_gauge(out, m, labels, (long long)__atomic_load_n(
		    &ls->dirs[i].stats.connections, __ATOMIC_RELAXED));
		free(labels);
	}
	auth_ldap_dir_counter(ls, out, "tokenreviewd_ldap_failovers_total",
	    "Connections opened to a URI other than the first.",
	    offsetof(struct ldap_stats, failovers));
	auth_ldap_dir_counter(ls, out, "tokenreviewd_ldap_lockouts_total",
	    "User names locked out after bind_failure_limit failed logins.",
	    offsetof(struct ldap_stats, lockouts));
	auth_ldap_dir_counter(ls, out,
	    "tokenreviewd_ldap_lockout_refused_total", "Reviews of a "
	    "locked-out user name, refused without asking the directory.",
	    offsetof(struct ldap_stats, lockout_refused));
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
	.load = lconf_load,
	.unload = lconf_unload,
	.init = auth_ldap_init,
	.authenticate = auth_ldap_authenticate,
	.cancel = auth_ldap_cancel,
	.free = auth_ldap_free,
	.ready = auth_ldap_ready,
	.metrics = auth_ldap_metrics,
	.watch = auth_ldap_watch,
};
