/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * A review's operations in one directory: the search for the user's
 * entry, the bind as the user (bind mode), and the group searches, the
 * direct groups first, then level by level the groups of those groups
 * (nested_depth), a chunk of DNs ORed in each search.  A group search
 * that meets the server's size limit is asked again in pages (RFC 2696)
 * on a connection it holds until its last page.  Groups are kept by DN
 * in a hash set, which ends cycles and bounds the count (max_groups).
 *
 * In bind mode, failed logins are counted per user name (limit.c): past
 * bind_failure_limit within bind_failure_window, the name's reviews fail
 * with an error for bind_lockout without a search or a bind, so that
 * guessing never reaches the directory's own account lockout.  Binds are
 * counted by the entry's DN too: the directory may fold names that differ
 * here (the case of non-ASCII letters) to one account.  A bind in flight
 * holds a place among the failures, and a bind sent without an answer
 * counts as failed.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "tokenreviewd.h"
#include "ldap-int.h"

static void	lsearch_group_page(struct lreq *, struct lconn *);

/* ------------------------------------------------------------ lockout */

/* The scope of a directory's entries in the lockout: apart from names. */
static char *
lsearch_dn_scope(struct lreq *lr)
{
	char	*scope;

	xasprintf(&scope, "%s\ndn", lr->li->ls->dirs[lr->dir].name);
	return scope;
}

/*
 * The end of a login of the review's user name for the lockout: a bind's answer
 * (releasing the places it held, under the name and the entry's DN), or
 * no such user (the name alone).  The name and the entry usually lock out
 * together: one episode, told once.
 */
void
lsearch_lockout_end(struct lreq *lr, enum lockout_outcome outcome)
{
	struct lreq_dir	*ds = &lr->ds;
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	char		*scope, name[LOCKOUT_NAME_MAX];
	const char	*what = "user name", *key = ds->login;
	int		 began = ds->bind_began, locked, entry = 0;

	ds->bind_began = 0;
	if (outcome == LO_UNKNOWN && !began)
		return;
	locked = lockout_end(&d->lockout, d->name, ds->login, began, outcome,
	    monotonic_ms());
	if (began && ds->dn != NULL) {
		scope = lsearch_dn_scope(lr);
		entry = lockout_end(&d->lockout, scope, ds->dn, 1, outcome,
		    monotonic_ms());
		free(scope);
	}
	if (!locked && !entry)
		return;
	if (!locked) {
		what = "entry";
		key = ds->dn;
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
lsearch_lockout_refuse(struct lreq *lr, long long left)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];

	__atomic_add_fetch(&d->stats.lockout_refused, 1, __ATOMIC_RELAXED);
	lr->lockout_left = left;
	free(lr->ds.error);
	xasprintf(&lr->ds.error, "%s: too many failed logins for this user "
	    "name; retry in %lld s", d->name, (left + 999) / 1000);
	lreq_dir_done(lr, AUTH_ERROR);
}

/* 1 when the user name is locked out here: the review is refused. */
int
lsearch_locked_out(struct lreq *lr)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	long long	 left;

	left = lockout_check(&d->lockout, d->name, lr->ds.login,
	    monotonic_ms());
	if (left <= 0)
		return 0;
	lsearch_lockout_refuse(lr, left);
	return 1;
}

/* ------------------------------------------------------------ answers */

/* Drop the values of the extra attributes found so far. */
void
lsearch_extra_free(struct lreq_dir *ds)
{
	size_t	i, j;

	for (i = 0; i < LDAP_MAX_EXTRA; i++) {
		for (j = 0; ds->extra[i] != NULL && ds->extra[i][j] != NULL;
		    j++)
			free(ds->extra[i][j]);
		free(ds->extra[i]);
		ds->extra[i] = NULL;
	}
}

/*
 * A paged search is over: its connection goes back to the pool, and is
 * closed there if it was retired meanwhile.
 */
void
lsearch_release(struct lreq *lr)
{
	struct lreq_dir	*ds = &lr->ds;
	struct lconn	*c = ds->held;

	free(ds->gfilter);
	ds->gfilter = NULL;
	ber_memfree(ds->cookie.bv_val);
	ds->cookie.bv_val = NULL;
	ds->cookie.bv_len = 0;
	if (c == NULL)
		return;
	ds->held = NULL;
	c->holder = NULL;
	lpool_kick(c->wd);
	lconn_idle_check(c);
}

/* The operation did not complete: retry once on another connection. */
static void
lsearch_op_failed(struct lreq *lr, enum lop_event ev)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];

	if (ev == LOP_LOST && lr->ds.retries++ < 1) {
		lreq_run(lr);
		return;
	}
	lreq_error(lr, "%s: directory %s", d->name, ev == LOP_TIMEOUT ?
	    "did not answer in time" : "connection lost");
}

/* The value of the first RDN of a DN (libldap parses it), or NULL. */
static char *
lsearch_dn_first_value(const char *dnstr)
{
	LDAPDN	 dn = NULL;
	char	*s = NULL;

	if (ldap_str2dn(dnstr, &dn, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS ||
	    dn == NULL || dn[0] == NULL || dn[0][0] == NULL)
		goto out;
	if (utf8_text_valid(dn[0][0]->la_value.bv_val,
	    dn[0][0]->la_value.bv_len))
		s = xstrndup(dn[0][0]->la_value.bv_val,
		    dn[0][0]->la_value.bv_len);
out:
	if (dn != NULL)
		ldap_dnfree(dn);
	return s;
}

static char *
lsearch_entry_first(LDAP *ld, LDAPMessage *e, const char *attr)
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
lsearch_dn_hash(const char *s)
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
lsearch_gset_slot(const struct lreq_dir *ds, const char *dn)
{
	size_t	i = (size_t)lsearch_dn_hash(dn) & (ds->gcap - 1);

	while (ds->gset[i] != 0 &&
	    strcasecmp(ds->gdns.v[ds->gset[i] - 1], dn) != 0)
		i = (i + 1) & (ds->gcap - 1);
	return i;
}

/*
 * Room for one more DN, the set at most half full, so that a user with
 * many groups does not cost a comparison with every group seen.
 */
static void
lsearch_gset_reserve(struct lreq_dir *ds)
{
	size_t	i;

	if (2 * (strvec_count(&ds->gdns) + 1) <= ds->gcap)
		return;
	ds->gcap = ds->gcap == 0 ? 64 : 2 * ds->gcap;
	free(ds->gset);
	ds->gset = xcalloc(ds->gcap, sizeof(*ds->gset));
	for (i = 0; i < strvec_count(&ds->gdns); i++)
		ds->gset[lsearch_gset_slot(ds, ds->gdns.v[i])] = i + 1;
}

/* Add a group by DN (and name); 0 if it was seen before (a cycle). */
static int
lsearch_add_group(struct lreq *lr, const char *dn, char *name)
{
	struct lreq_dir	*ds = &lr->ds;
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	char		*prefixed;
	size_t		 slot;

	if (ds->overflow) {
		free(name);
		return 0;
	}
	lsearch_gset_reserve(ds);
	slot = lsearch_gset_slot(ds, dn);
	if (ds->gset[slot] != 0) {
		free(name);
		return 0;
	}
	/* The rest of the search is drained and dropped, then it fails. */
	if (strvec_count(&ds->gdns) >= (size_t)d->max_groups) {
		ds->overflow = 1;
		free(name);
		return 0;
	}
	strvec_add(&ds->gdns, dn);
	ds->gset[slot] = strvec_count(&ds->gdns);
	if (name == NULL)
		return 1;
	if ((d->has_allow && regexec(&d->group_allow, name, 0, NULL, 0) != 0) ||
	    (d->has_deny && regexec(&d->group_deny, name, 0, NULL, 0) == 0)) {
		free(name);
		return 1;
	}
	xasprintf(&prefixed, "%s%s", d->group_prefix, name);
	strvec_add_take(&ds->names, prefixed);
	free(name);
	return 1;
}

static void
lsearch_memberof(struct lreq *lr, LDAP *ld, LDAPMessage *e)
{
	struct ldap_dir	 *d = &lr->li->ls->dirs[lr->dir];
	struct berval	**vals;
	char		 *dn;
	size_t		  i;

	if (d->memberof_attribute == NULL)
		return;
	vals = ldap_get_values_len(ld, e, d->memberof_attribute);
	for (i = 0; vals != NULL && vals[i] != NULL; i++) {
		if (!utf8_text_valid(vals[i]->bv_val, vals[i]->bv_len))
			continue;
		dn = xstrndup(vals[i]->bv_val, vals[i]->bv_len);
		lsearch_add_group(lr, dn, lsearch_dn_first_value(dn));
		free(dn);
	}
	ldap_value_free_len(vals);
}

/* The values of the attributes mapped to extra keys (text only). */
static void
lsearch_extra(struct lreq *lr, LDAP *ld, LDAPMessage *e)
{
	struct ldap_dir	 *d = &lr->li->ls->dirs[lr->dir];
	struct berval	**vals;
	size_t		  i, j, n;

	for (i = 0; i < d->nextra; i++) {
		vals = ldap_get_values_len(ld, e, d->extra_attrs[i]);
		lr->ds.extra[i] = xcalloc(LDAP_MAX_VALUES + 1, sizeof(char *));
		for (j = n = 0; vals != NULL && vals[j] != NULL &&
		    n < LDAP_MAX_VALUES; j++) {
			if (utf8_text_valid(vals[j]->bv_val, vals[j]->bv_len))
				lr->ds.extra[i][n++] = xstrndup(vals[j]->bv_val,
				    vals[j]->bv_len);
		}
		ldap_value_free_len(vals);
	}
}

/* The user's entry: DN, names, direct groups from memberOf. */
static void
lsearch_user_entry(struct lreq *lr, LDAP *ld, LDAPMessage *e)
{
	struct lreq_dir	 *ds = &lr->ds;
	struct ldap_dir	 *d = &lr->li->ls->dirs[lr->dir];
	struct berval	**vals;
	char		 *dn;

	if (++ds->nentries > 1 || (dn = ldap_get_dn(ld, e)) == NULL)
		return;
	ds->dn = xstrdup(dn);
	ldap_memfree(dn);
	ds->rawname = lsearch_entry_first(ld, e, d->username_attribute);
	ds->uid = lsearch_entry_first(ld, e, d->uid_attribute);
	lsearch_memberof(lr, ld, e);
	lsearch_extra(lr, ld, e);
	if (lr->recheck) {
		vals = ldap_get_values_len(ld, e, LDAP_LOCKED_ATTR);
		ds->locked = vals != NULL && vals[0] != NULL;
		ldap_value_free_len(vals);
	}
}

/* A user in more groups than max_groups: an error, not a partial list. */
static void
lsearch_too_many_groups(struct lreq *lr)
{
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];

	log_msg(LL_WARN, "ldap_max_groups", "[ldap \"%s\"] a user has more "
	    "than %d groups; raise max_groups (token %s)", d->name,
	    d->max_groups, lr->req->token_fp);
	lreq_error(lr, "%s: the user has more than %d groups (max_groups)",
	    d->name, d->max_groups);
}

static void
lsearch_user_cb(struct lreq *lr, LDAP *ld, LDAPMessage *msg,
    enum lop_event ev, int rc)
{
	struct lreq_dir	*ds = &lr->ds;
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];

	if (msg == NULL) {
		lsearch_op_failed(lr, ev);
		return;
	}
	if (ev == LOP_ENTRY) {
		if (ldap_msgtype(msg) == LDAP_RES_SEARCH_ENTRY)
			lsearch_user_entry(lr, ld, msg);
		return;
	}
	if (ds->nentries > 1 || rc == LDAP_SIZELIMIT_EXCEEDED) {
		log_msg(LL_WARN, "ldap_ambiguous", "[ldap \"%s\"] more than "
		    "one entry matches (token %s)", d->name, lr->req->token_fp);
		lreq_error(lr, "%s: more than one entry matches", d->name);
		return;
	}
	if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT) {
		lreq_error(lr, "%s: user search failed: %s", d->name,
		    ldap_err2string(rc));
		return;
	}
	if (ds->nentries == 0 || ds->rawname == NULL) {
		/* As a wrong password: the lockout hides who exists. */
		if (lreq_binds(lr, d))
			lsearch_lockout_end(lr, LO_FAILED);
		lreq_dir_done(lr, AUTH_DENY);
		return;
	}
	/* A recheck: the same user, still allowed to log in. */
	if (lr->recheck && (ds->locked || strcmp(ds->rawname,
	    ds->login) != 0)) {
		lreq_dir_done(lr, AUTH_DENY);
		return;
	}
	ds->retries = 0;
	ds->step = lreq_binds(lr, d) ? LR_BIND : LR_GROUPS;
	lreq_run(lr);
}

static void
lsearch_bind_cb(struct lreq *lr, LDAP *ld, LDAPMessage *msg,
    enum lop_event ev, int rc)
{
	struct lreq_dir	*ds = &lr->ds;
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];

	if (msg == NULL) {
		/* Sent, and no answer: it may have failed there. */
		if (ds->bind_began)
			lsearch_lockout_end(lr, LO_FAILED);
		lsearch_op_failed(lr, ev);
		return;
	}
	if (ds->bind_began)
		lsearch_lockout_end(lr, rc == LDAP_SUCCESS ? LO_SUCCEEDED :
		    auth_ldap_rejected(rc) ? LO_FAILED : LO_UNKNOWN);
	switch (rc) {
	case LDAP_SUCCESS:
		ds->retries = 0;
		ds->step = LR_GROUPS;
		lreq_run(lr);
		return;
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_UNWILLING_TO_PERFORM:
	case LDAP_CONSTRAINT_VIOLATION:
		/* Wrong password, locked or disabled: a plain no. */
		log_msg(LL_INFO, "ldap_bind_refused", "[ldap \"%s\"] bind "
		    "refused: %s (token %s)", d->name, ldap_err2string(rc),
		    lr->req->token_fp);
		lreq_dir_done(lr, AUTH_DENY);
		return;
	default:
		lreq_error(lr, "%s: bind failed: %s", d->name,
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
lsearch_page_cookie(struct lreq *lr, LDAP *ld, LDAPMessage *msg)
{
	struct lreq_dir	 *ds = &lr->ds;
	LDAPControl	**ctrls = NULL, *pc;
	struct berval	  cookie = { 0, NULL };
	ber_int_t	  count;
	int		  err, more = 0;

	ber_memfree(ds->cookie.bv_val);
	ds->cookie = cookie;
	if (ds->held == NULL || ldap_parse_result(ld, msg, &err, NULL, NULL,
	    NULL, &ctrls, 0) != LDAP_SUCCESS)
		return 0;
	pc = ldap_control_find(LDAP_CONTROL_PAGEDRESULTS, ctrls, NULL);
	if (pc != NULL && ldap_parse_pageresponse_control(ld, pc, &count,
	    &cookie) == LDAP_SUCCESS) {
		ds->cookie = cookie;
		more = cookie.bv_len > 0;
	}
	ldap_controls_free(ctrls);
	return more;
}

static void
lsearch_group_cb(struct lreq *lr, LDAP *ld, LDAPMessage *msg,
    enum lop_event ev, int rc)
{
	struct lreq_dir	*ds = &lr->ds;
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	char		*dn;

	if (msg == NULL) {
		lsearch_op_failed(lr, ev);
		return;
	}
	if (ev == LOP_ENTRY) {
		if (ldap_msgtype(msg) != LDAP_RES_SEARCH_ENTRY ||
		    (dn = ldap_get_dn(ld, msg)) == NULL)
			return;
		lsearch_add_group(lr, dn, lsearch_entry_first(ld, msg,
		    d->group_name_attribute));
		ldap_memfree(dn);
		return;
	}
	if (rc == LDAP_SUCCESS && !ds->overflow && lsearch_page_cookie(lr, ld,
	    msg)) {
		lsearch_group_page(lr, ds->held);
		return;
	}
	lsearch_release(lr);
	if (ds->overflow)
		lsearch_too_many_groups(lr);
	else if (rc == LDAP_SIZELIMIT_EXCEEDED && !ds->paged &&
	    d->page_size > 0) {
		ds->paged = 1;		/* the same search again, in pages */
		lreq_run(lr);
	} else if (rc == LDAP_SIZELIMIT_EXCEEDED)
		lreq_error(lr, "%s: the group search reached the server's size "
		    "limit%s", d->name, d->page_size == 0 ? " (page_size "
		    "pages it)" : "");
	else if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT)
		lreq_error(lr, "%s: group search failed: %s", d->name,
		    ldap_err2string(rc));
	else {
		if (ds->step == LR_NESTED)
			ds->cursor = ds->chunk_end;
		ds->retries = ds->paged = 0;
		lsearch_groups_next(lr);
	}
}

/* ------------------------------------------------------------ requests */

/* Send a search on a ready connection; its failures go to cb. */
static void
lsearch_send(struct lreq *lr, struct lconn *c, const char *base,
    const char *filter, char **attrs, int sizelimit, LDAPControl **ctrls,
    lop_cb cb)
{
	int	msgid, rc;

	rc = ldap_search_ext(c->ld, base, LDAP_SCOPE_SUBTREE, filter, attrs,
	    0, ctrls, NULL, NULL, sizelimit, &msgid);
	if (rc != LDAP_SUCCESS) {
		lconn_fail(c, ldap_err2string(rc), 1);
		cb(lr, NULL, NULL, LOP_LOST, rc);
		return;
	}
	lconn_op_new(c, lr, OT_SEARCH, msgid, cb);
}

void
lsearch_user(struct lreq *lr, struct lconn *c)
{
	struct lreq_dir	*ds = &lr->ds;
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	char		*attrs[5 + LDAP_MAX_EXTRA], *filter;
	char		 hex[2 * TR_SHA256_LEN + 1];
	size_t		 n = 0, i;

	attrs[n++] = d->username_attribute;
	if (d->uid_attribute != NULL)
		attrs[n++] = d->uid_attribute;
	if (d->memberof_attribute != NULL)
		attrs[n++] = d->memberof_attribute;
	for (i = 0; i < d->nextra; i++)
		attrs[n++] = d->extra_attrs[i];
	if (lr->recheck)
		attrs[n++] = LDAP_LOCKED_ATTR;	/* operational: asked by name */
	attrs[n] = NULL;
	ds->nentries = 0;
	ds->locked = 0;
	free(ds->dn);
	free(ds->rawname);
	free(ds->uid);
	ds->dn = ds->rawname = ds->uid = NULL;
	lsearch_extra_free(ds);
	if (lreq_binds(lr, d) || lr->recheck)
		filter = auth_ldap_filter_expand(d->user_filter, ds->login,
		    ds->login);
	else {
		hex_encode(lr->req->token_hash, TR_SHA256_LEN, hex);
		xasprintf(&filter, "(%s=%s)", d->token_attribute, hex);
	}
	lsearch_send(lr, c, d->user_base, filter, attrs, 2, NULL,
	    lsearch_user_cb);
	free(filter);
}

void
lsearch_bind(struct lreq *lr, struct lconn *c)
{
	struct lreq_dir	*ds = &lr->ds;
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	struct berval	 cred;
	char		*scope;
	long long	 left;
	int		 msgid, rc;

	/*
	 * Binds in flight may have used the last tries up meanwhile, and
	 * other names of the same entry may have.
	 */
	left = lockout_begin(&d->lockout, d->name, ds->login, monotonic_ms());
	if (left == 0 && ds->dn != NULL) {
		scope = lsearch_dn_scope(lr);
		left = lockout_begin(&d->lockout, scope, ds->dn,
		    monotonic_ms());
		free(scope);
		if (left > 0)
			lockout_end(&d->lockout, d->name, ds->login, 1,
			    LO_UNKNOWN, monotonic_ms());
	}
	if (left > 0) {
		lpool_kick(c->wd);		/* the connection stays free */
		lsearch_lockout_refuse(lr, left);
		return;
	}
	ds->bind_began = d->lockout.limit > 0;
	cred.bv_val = ds->password;
	cred.bv_len = ds->password_len;
	rc = ldap_sasl_bind(c->ld, ds->dn, LDAP_SASL_SIMPLE, &cred, NULL,
	    NULL, &msgid);
	if (rc != LDAP_SUCCESS) {
		lsearch_lockout_end(lr, LO_UNKNOWN);		/* not sent */
		lconn_fail(c, ldap_err2string(rc), 1);
		lsearch_bind_cb(lr, NULL, NULL, LOP_LOST, rc);
		return;
	}
	lconn_op_new(c, lr, OT_BIND, msgid, lsearch_bind_cb);
}

/*
 * The next group search: the direct groups of the user, or one chunk of
 * the groups found at the last level, ORed ("groups that have one of
 * these groups as a member").  NULL when there is nothing left to ask.
 */
static char *
lsearch_group_filter(struct lreq *lr)
{
	struct lreq_dir	*ds = &lr->ds;
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	struct evbuffer	*b;
	char		*f, *out = NULL;
	size_t		 i, end;

	if (ds->step == LR_GROUPS)
		return auth_ldap_filter_expand(d->group_filter, ds->dn,
		    ds->rawname);
	end = ds->cursor + LDAP_MAX_OR;
	if (end > ds->level_end)
		end = ds->level_end;
	b = evbuffer_new();
	evbuffer_add(b, "(|", 2);
	for (i = ds->cursor; i < end; i++) {
		if ((f = auth_ldap_filter_expand(d->group_filter, ds->gdns.v[i],
		    NULL)) == NULL)
			goto out;
		evbuffer_add(b, f, strlen(f));
		free(f);
	}
	evbuffer_add(b, ")", 1);
	ds->chunk_end = end;	/* the cursor moves once it is answered */
	out = auth_ldap_buf_take(b);
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
lsearch_group_page(struct lreq *lr, struct lconn *c)
{
	struct lreq_dir	*ds = &lr->ds;
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];
	LDAPControl	*ctrls[2] = { NULL, NULL };
	char		*attrs[2];

	attrs[0] = d->group_name_attribute;
	attrs[1] = NULL;
	if (ds->held != NULL && ldap_create_page_control(c->ld, d->page_size,
	    ds->cookie.bv_len > 0 ? &ds->cookie : NULL, 0, &ctrls[0]) !=
	    LDAP_SUCCESS) {
		lsearch_release(lr);
		lreq_error(lr, "%s: could not make a paged search", d->name);
		return;
	}
	lsearch_send(lr, c, d->group_base, ds->gfilter, attrs,
	    ctrls[0] != NULL ? 0 : d->max_groups + 1,
	    ctrls[0] != NULL ? ctrls : NULL, lsearch_group_cb);
	if (ctrls[0] != NULL)
		ldap_control_free(ctrls[0]);
}

/*
 * Start a group search: at once on a shared connection, or, when that
 * met the server's size limit, in pages on a paged connection that the
 * search keeps to itself until its last page (slapd knows one paged
 * search per connection).
 */
void
lsearch_groups(struct lreq *lr, struct lconn *c)
{
	lsearch_release(lr);
	if ((lr->ds.gfilter = lsearch_group_filter(lr)) == NULL) {
		lreq_dir_done(lr, AUTH_OK);
		return;
	}
	if (c->kind == LK_PAGED) {
		lr->ds.held = c;
		c->holder = lr;
	}
	lsearch_group_page(lr, c);
}

/*
 * After a group search: go one level deeper while nested_depth allows
 * and new groups were found (groups seen before are not expanded again,
 * which ends cycles), else the user is complete.
 */
void
lsearch_groups_next(struct lreq *lr)
{
	struct lreq_dir	*ds = &lr->ds;
	struct ldap_dir	*d = &lr->li->ls->dirs[lr->dir];

	/* Checked after the bind: no answer tells about a user before. */
	if (ds->overflow) {
		lsearch_too_many_groups(lr);
		return;
	}

	if (ds->step == LR_GROUPS) {
		ds->step = LR_NESTED;
		ds->cursor = 0;
		ds->level_end = strvec_count(&ds->gdns);
		ds->depth = 1;
	} else if (ds->cursor >= ds->level_end) {
		ds->level_end = strvec_count(&ds->gdns);
		ds->depth++;
	}
	if (d->group_base == NULL || ds->depth > d->nested_depth ||
	    ds->cursor >= ds->level_end ||
	    strstr(d->group_filter, "%u") != NULL) {
		lreq_dir_done(lr, AUTH_OK);
		return;
	}
	lreq_run(lr);
}
