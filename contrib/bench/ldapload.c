/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The directory's own rate for the operations of a review, so that
 * ldap.sh can print tokenreviewd's rate as a share of it.  A closed loop
 * keeps a fixed number of reviews in flight, each one the operations
 * tokenreviewd sends for an uncached review: in bind mode the user
 * search, a simple bind as the user on a bind connection (one bind at a
 * time per connection, as the daemon does) and the group search; in
 * attribute mode the search by token hash and the group search.
 * Searches are pipelined on the search connections, all sent with
 * libldap's asynchronous calls and drained with poll(2), one thread.
 * Built by ldap.sh with cc; not installed.
 *
 *   ldapload -H URI [-Z] -D DN -y PWFILE -m bind|attribute -i FILE
 *       -b USERBASE [-u FILTER] [-a ATTRS] [-B GROUPBASE] [-g FILTER]
 *       [-G ATTR] [-s SEARCHCONNS] [-n BINDCONNS] [-c INFLIGHT]
 *       [-w WARMUP] [-d SECONDS]
 *
 * FILE holds one review a line: "login:password" in bind mode, the hex
 * SHA-256 of a token in attribute mode; lines are drawn at random.
 * Filters take %s, the login or the hash, and %u, the user's name (the
 * first value of the first of ATTRS); the CA comes from LDAPTLS_CACERT.
 * Prints one line: "ldapload MODE reviews/s R searches/s S binds/s B
 * errors E".
 */

#include <sys/types.h>

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <ldap.h>

#define LL_SLOTS	4096	/* operations in flight per connection */
#define LL_MAXCONN	256
#define LL_MAXATTRS	8

enum ll_mode {
	LLM_BIND,
	LLM_ATTRIBUTE,
};

enum ll_step {
	LLS_USER,
	LLS_BIND,
	LLS_GROUPS,
};

struct ll_review {
	enum ll_step	 step;
	size_t		 line;
	char		*dn;
	char		*name;
	struct ll_review *next;		/* waiting for a bind connection */
};

struct ll_conn {
	LDAP		 *ld;
	int		  fd;
	int		  bind;		/* a bind connection */
	size_t		  nops;
	struct ll_review *slot[LL_SLOTS];	/* by msgid */
};

struct ll {
	enum ll_mode	 mode;
	const char	*uri;
	int		 starttls;
	const char	*bind_dn;
	struct berval	 bind_pw;
	const char	*user_base;
	const char	*user_filter;
	char		*attrs[LL_MAXATTRS + 1];
	const char	*group_base;
	const char	*group_filter;
	char		*group_attrs[2];
	char		**lines;
	size_t		 nlines;
	size_t		 nsearch, nbind, inflight;
	double		 warmup, duration;
	struct ll_conn	 conns[LL_MAXCONN];
	size_t		 nconns, next_search;
	struct ll_review *bindq, **bindq_tail;
	int		 counting;
	unsigned long	 reviews, searches, binds, errors;
	uint64_t	 rng;
};

static void	ll_step(struct ll *, struct ll_review *);

static void
ll_fatal(const char *what, const char *why)
{
	fprintf(stderr, "ldapload: %s: %s\n", what, why);
	exit(1);
}

static double
ll_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
ll_random(struct ll *l)
{
	l->rng ^= l->rng << 13;
	l->rng ^= l->rng >> 7;
	l->rng ^= l->rng << 17;
	return l->rng;
}

/* A filter with %s and %u replaced by escaped values. */
static char *
ll_filter(const char *tmpl, const char *s, const char *u)
{
	static const char	 hex[] = "0123456789abcdef";
	char			*out, *p;
	const char		*v;
	size_t			 cap;

	/* Each % may become the longer value, each byte escaped. */
	cap = strlen(tmpl) + 1;
	for (v = tmpl; (v = strchr(v, '%')) != NULL; v++)
		cap += 3 * (strlen(s) + (u != NULL ? strlen(u) : 0));
	out = p = malloc(cap);
	if (out == NULL)
		ll_fatal("malloc", strerror(errno));
	for (; *tmpl != '\0'; tmpl++) {
		if (*tmpl != '%' || (tmpl[1] != 's' && tmpl[1] != 'u')) {
			*p++ = *tmpl;
			continue;
		}
		v = *++tmpl == 's' ? s : u != NULL ? u : "";
		for (; *v != '\0'; v++) {
			if (strchr("*()\\", *v) == NULL) {
				*p++ = *v;
				continue;
			}
			*p++ = '\\';
			*p++ = hex[(unsigned char)*v >> 4];
			*p++ = hex[*v & 0xf];
		}
	}
	*p = '\0';
	return out;
}

/* ------------------------------------------------------------ setup */

static void
ll_connect(struct ll *l, struct ll_conn *c, int bind)
{
	int	v3 = LDAP_VERSION3, rc;

	if ((rc = ldap_initialize(&c->ld, l->uri)) != LDAP_SUCCESS)
		ll_fatal(l->uri, ldap_err2string(rc));
	ldap_set_option(c->ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(c->ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	if (l->starttls &&
	    (rc = ldap_start_tls_s(c->ld, NULL, NULL)) != LDAP_SUCCESS)
		ll_fatal("StartTLS", ldap_err2string(rc));
	if (!bind && (rc = ldap_sasl_bind_s(c->ld, l->bind_dn,
	    LDAP_SASL_SIMPLE, &l->bind_pw, NULL, NULL, NULL)) != LDAP_SUCCESS)
		ll_fatal("service bind", ldap_err2string(rc));
	if (ldap_get_option(c->ld, LDAP_OPT_DESC, &c->fd) != LDAP_OPT_SUCCESS)
		ll_fatal("LDAP_OPT_DESC", "no socket");
	c->bind = bind;
}

static char *
ll_read_file(const char *path, size_t *lenp)
{
	FILE	*f;
	char	*buf = NULL;
	size_t	 cap = 0, len = 0, n;

	if ((f = fopen(path, "r")) == NULL)
		ll_fatal(path, strerror(errno));
	do {
		if (len + 4096 + 1 > cap) {
			cap = 2 * cap + 8192;
			if ((buf = realloc(buf, cap)) == NULL)
				ll_fatal("realloc", strerror(errno));
		}
		n = fread(buf + len, 1, 4096, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	*lenp = len;
	return buf;
}

static void
ll_load_lines(struct ll *l, const char *path)
{
	char	*buf, *p, *nl;
	size_t	 len, cap = 0;

	buf = ll_read_file(path, &len);
	for (p = buf; *p != '\0'; p = nl + 1) {
		if ((nl = strchr(p, '\n')) == NULL)
			nl = p + strlen(p) - 1;
		else
			*nl = '\0';
		if (*p == '\0')
			continue;
		if (l->nlines == cap) {
			cap = 2 * cap + 1024;
			l->lines = realloc(l->lines, cap * sizeof(*l->lines));
			if (l->lines == NULL)
				ll_fatal("realloc", strerror(errno));
		}
		l->lines[l->nlines++] = p;
		if (l->mode == LLM_BIND && strchr(p, ':') == NULL)
			ll_fatal(path, "a line is not login:password");
	}
	if (l->nlines == 0)
		ll_fatal(path, "no lines");
}

/* ------------------------------------------------------------ operations */

static void
ll_track(struct ll_conn *c, int msgid, struct ll_review *r)
{
	if (c->slot[msgid % LL_SLOTS] != NULL)
		ll_fatal("ldapload", "too many operations in flight");
	c->slot[msgid % LL_SLOTS] = r;
	c->nops++;
}

static void
ll_search(struct ll *l, struct ll_review *r, const char *base,
    const char *filter, char **attrs, int sizelimit)
{
	struct ll_conn	*c = &l->conns[l->next_search++ % l->nsearch];
	int		 msgid, rc;

	rc = ldap_search_ext(c->ld, base, LDAP_SCOPE_SUBTREE, filter, attrs,
	    0, NULL, NULL, NULL, sizelimit, &msgid);
	if (rc != LDAP_SUCCESS)
		ll_fatal("search", ldap_err2string(rc));
	ll_track(c, msgid, r);
}

/* A free bind connection, or NULL. */
static struct ll_conn *
ll_bind_conn(struct ll *l)
{
	size_t	i;

	for (i = l->nsearch; i < l->nconns; i++) {
		if (l->conns[i].nops == 0)
			return &l->conns[i];
	}
	return NULL;
}

static void
ll_bind(struct ll *l, struct ll_review *r, struct ll_conn *c)
{
	const char	*line = l->lines[r->line];
	struct berval	 cred;
	int		 msgid, rc;

	cred.bv_val = strchr(line, ':') + 1;
	cred.bv_len = strlen(cred.bv_val);
	rc = ldap_sasl_bind(c->ld, r->dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL,
	    &msgid);
	if (rc != LDAP_SUCCESS)
		ll_fatal("bind", ldap_err2string(rc));
	ll_track(c, msgid, r);
}

/* Send the review's current step. */
static void
ll_step(struct ll *l, struct ll_review *r)
{
	struct ll_conn	*c;
	char		*f, login[512];
	const char	*line = l->lines[r->line];

	switch (r->step) {
	case LLS_USER:
		snprintf(login, sizeof(login), "%.*s", (int)strcspn(line, ":"),
		    line);
		f = ll_filter(l->user_filter, login, NULL);
		ll_search(l, r, l->user_base, f, l->attrs, 2);
		free(f);
		break;
	case LLS_BIND:
		if ((c = ll_bind_conn(l)) != NULL) {
			ll_bind(l, r, c);
			break;
		}
		r->next = NULL;
		*l->bindq_tail = r;
		l->bindq_tail = &r->next;
		break;
	case LLS_GROUPS:
		f = ll_filter(l->group_filter, r->dn, r->name);
		ll_search(l, r, l->group_base, f, l->group_attrs, 0);
		free(f);
		break;
	}
}

/* A review starts over with another line. */
static void
ll_restart(struct ll *l, struct ll_review *r)
{
	free(r->dn);
	free(r->name);
	r->dn = r->name = NULL;
	r->line = (size_t)(ll_random(l) % l->nlines);
	r->step = LLS_USER;
	ll_step(l, r);
}

/* ------------------------------------------------------------ answers */

static void
ll_entry(struct ll *l, struct ll_review *r, LDAP *ld, LDAPMessage *e)
{
	struct berval	**vals;
	char		 *dn;
	const char	 *attr = r->step == LLS_USER ? l->attrs[0] :
			    l->group_attrs[0];

	if ((dn = ldap_get_dn(ld, e)) == NULL)
		return;
	vals = ldap_get_values_len(ld, e, attr);
	if (r->step == LLS_USER && r->dn == NULL) {
		r->dn = strdup(dn);
		if (vals != NULL && vals[0] != NULL)
			r->name = strndup(vals[0]->bv_val, vals[0]->bv_len);
	}
	ldap_value_free_len(vals);
	ldap_memfree(dn);
}

/* The result of the review's operation: its next step, or its end. */
static void
ll_result(struct ll *l, struct ll_review *r, int rc)
{
	int	ok = rc == LDAP_SUCCESS;

	if (r->step == LLS_BIND)
		l->binds += l->counting;
	else
		l->searches += l->counting;
	if (r->step == LLS_USER && r->dn == NULL)
		ok = 0;
	if (!ok)
		l->errors += l->counting;
	if (ok && r->step == LLS_USER && l->mode == LLM_BIND)
		r->step = LLS_BIND;
	else if (ok && r->step != LLS_GROUPS && l->group_base != NULL)
		r->step = LLS_GROUPS;
	else {
		l->reviews += l->counting && ok;
		ll_restart(l, r);
		return;
	}
	ll_step(l, r);
}

static void
ll_message(struct ll *l, struct ll_conn *c, LDAPMessage *msg)
{
	struct ll_review	*r, **slot;
	int			 rc = LDAP_OTHER, type = ldap_msgtype(msg);

	slot = &c->slot[ldap_msgid(msg) % LL_SLOTS];
	if ((r = *slot) == NULL)
		return;
	if (type == LDAP_RES_SEARCH_ENTRY) {
		ll_entry(l, r, c->ld, msg);
		return;
	}
	if (type == LDAP_RES_SEARCH_REFERENCE)
		return;
	*slot = NULL;
	c->nops--;
	if (ldap_parse_result(c->ld, msg, &rc, NULL, NULL, NULL, NULL, 0) !=
	    LDAP_SUCCESS)
		rc = LDAP_OTHER;
	ll_result(l, r, rc);
	if (c->bind && c->nops == 0 && (r = l->bindq) != NULL) {
		if ((l->bindq = r->next) == NULL)
			l->bindq_tail = &l->bindq;
		ll_bind(l, r, c);
	}
}

static void
ll_drain(struct ll *l, struct ll_conn *c)
{
	struct timeval	 zero = { 0, 0 };
	LDAPMessage	*msg;
	int		 rc;

	for (;;) {
		msg = NULL;
		rc = ldap_result(c->ld, LDAP_RES_ANY, LDAP_MSG_ONE, &zero, &msg);
		if (rc == 0)
			return;
		if (rc < 0)
			ll_fatal("ldap_result", "connection lost");
		ll_message(l, c, msg);
		ldap_msgfree(msg);
	}
}

static void
ll_loop(struct ll *l, double until)
{
	struct pollfd	pfd[LL_MAXCONN];
	size_t		i;

	for (i = 0; i < l->nconns; i++) {
		pfd[i].fd = l->conns[i].fd;
		pfd[i].events = POLLIN;
	}
	while (ll_now() < until) {
		if (poll(pfd, l->nconns, 100) < 0 && errno != EINTR)
			ll_fatal("poll", strerror(errno));
		for (i = 0; i < l->nconns; i++) {
			if (pfd[i].revents != 0)
				ll_drain(l, &l->conns[i]);
		}
	}
}

/* ------------------------------------------------------------ main */

static void
ll_usage(void)
{
	fprintf(stderr, "usage: ldapload -H URI [-Z] -D DN -y PWFILE "
	    "-m bind|attribute -i FILE -b USERBASE [-u FILTER] [-a ATTRS]\n"
	    "    [-B GROUPBASE] [-g FILTER] [-G ATTR] [-s SEARCHCONNS] "
	    "[-n BINDCONNS]\n    [-c INFLIGHT] [-w WARMUP] [-d SECONDS]\n");
	exit(2);
}

static void
ll_attrs(struct ll *l, char *list)
{
	char	*a;
	size_t	 n = 0;

	while ((a = strsep(&list, ",")) != NULL && n < LL_MAXATTRS) {
		if (*a != '\0')
			l->attrs[n++] = a;
	}
	l->attrs[n] = NULL;
	if (n == 0)
		ll_usage();
}

static void
ll_options(struct ll *l, int argc, char **argv)
{
	const char	*pwfile = NULL, *input = NULL;
	char		*pw;
	size_t		 len;
	int		 ch;

	while ((ch = getopt(argc, argv, "a:B:b:c:D:d:G:g:H:i:m:n:s:u:w:y:Z"))
	    != -1) {
		switch (ch) {
		case 'a': ll_attrs(l, optarg); break;
		case 'B': l->group_base = optarg; break;
		case 'b': l->user_base = optarg; break;
		case 'c': l->inflight = strtoul(optarg, NULL, 10); break;
		case 'D': l->bind_dn = optarg; break;
		case 'd': l->duration = strtod(optarg, NULL); break;
		case 'G': l->group_attrs[0] = optarg; break;
		case 'g': l->group_filter = optarg; break;
		case 'H': l->uri = optarg; break;
		case 'i': input = optarg; break;
		case 'm':
			if (strcmp(optarg, "bind") == 0)
				l->mode = LLM_BIND;
			else if (strcmp(optarg, "attribute") == 0)
				l->mode = LLM_ATTRIBUTE;
			else
				ll_usage();
			break;
		case 'n': l->nbind = strtoul(optarg, NULL, 10); break;
		case 's': l->nsearch = strtoul(optarg, NULL, 10); break;
		case 'u': l->user_filter = optarg; break;
		case 'w': l->warmup = strtod(optarg, NULL); break;
		case 'y': pwfile = optarg; break;
		case 'Z': l->starttls = 1; break;
		default: ll_usage();
		}
	}
	if (l->uri == NULL || l->bind_dn == NULL || pwfile == NULL ||
	    input == NULL || l->user_base == NULL || l->nsearch == 0 ||
	    l->inflight == 0 || l->duration <= 0 ||
	    l->nsearch + l->nbind > LL_MAXCONN ||
	    (l->mode == LLM_BIND && l->nbind == 0))
		ll_usage();
	pw = ll_read_file(pwfile, &len);
	len = strcspn(pw, "\n");
	pw[len] = '\0';
	l->bind_pw.bv_val = pw;
	l->bind_pw.bv_len = len;
	ll_load_lines(l, input);
}

int
main(int argc, char **argv)
{
	static struct ll	 ll;
	struct ll		*l = &ll;
	struct ll_review	*reviews;
	double			 t0;
	size_t			 i;

	l->user_filter = "(uid=%s)";
	l->group_filter = "(&(objectClass=posixGroup)(memberUid=%u))";
	l->group_attrs[0] = "cn";
	l->attrs[0] = "uid";
	l->nsearch = 4;
	l->inflight = 64;
	l->duration = 10;
	l->rng = 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	ll_options(l, argc, argv);
	if (l->mode == LLM_ATTRIBUTE)
		l->nbind = 0;
	for (i = 0; i < l->nsearch + l->nbind; i++)
		ll_connect(l, &l->conns[l->nconns++], i >= l->nsearch);
	l->bindq_tail = &l->bindq;
	if ((reviews = calloc(l->inflight, sizeof(*reviews))) == NULL)
		ll_fatal("calloc", strerror(errno));
	for (i = 0; i < l->inflight; i++)
		ll_restart(l, &reviews[i]);
	ll_loop(l, ll_now() + l->warmup);
	l->counting = 1;
	t0 = ll_now();
	ll_loop(l, t0 + l->duration);
	t0 = ll_now() - t0;
	printf("ldapload %s reviews/s %.0f searches/s %.0f binds/s %.0f "
	    "errors %lu\n", l->mode == LLM_BIND ? "bind" : "attribute",
	    l->reviews / t0, l->searches / t0, l->binds / t0, l->errors);
	return l->errors > 0;
}
