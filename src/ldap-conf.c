/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The [ldap "NAME"] sections: each is read into one struct ldap_dir
 * through the core's option table (conf_read_section()), checked whole
 * before the daemon starts (URIs, the service account's password file,
 * filter templates that libldap can encode, regular expressions, TLS
 * files), and then shared read-only by the workers.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <regex.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "tokenreviewd.h"
#include "ldap-int.h"

/* A section being read, and where its errors go. */
struct lconf_dir {
	const struct config	*conf;
	struct conf_section	*sec;
	struct ldap_dir		*d;
	char			*err;
	size_t			 errlen;
};

static conf_check_cb	lconf_check_regex;
static conf_check_cb	lconf_check_extra;

static const char *const lconf_modes[] = { "bind", "attribute", NULL };

/*
 * The keys of a section.  uri is parsed once insecure is known, and the
 * checks that tie keys together (the password file, the TLS files, the
 * filters, the system: namespace) run once the table is read.  Empty
 * values are left to each type or check, as they always were.  The
 * lockout's defaults stay below common directory lockouts (Active
 * Directory, ppolicy): 5 failures in 5 minutes lock the name out here
 * for 5 minutes.
 */
#define F(f)	offsetof(struct ldap_dir, f)
#define E	CONF_EMPTY_OK
#define MS	(600 * 1000)
#define DAY	(86400 * 1000LL)
static const struct conf_option lconf_options[] = {
	{ "uri", CONF_RAW, 0, 0, 0, 0, NULL, CONF_REQUIRED | E, NULL, NULL },
	{ "insecure", CONF_BOOL, F(insecure), 0, 0, 0, "no", E, NULL, NULL },
	{ "bind_dn", CONF_STRING, F(bind_dn), 0, 0, 0, NULL, E, NULL, NULL },
	{ "bind_password_file", CONF_PATH, F(bind_password_file), 0, 0, 0,
	  NULL, E, NULL, NULL },
	{ "mode", CONF_CHOICE, F(mode), 0, 0, 0, "bind", E, lconf_modes,
	  NULL },
	{ "token_attribute", CONF_STRING, F(token_attribute), 0, 0, 0, NULL,
	  E, NULL, NULL },
	{ "ca", CONF_PATH, F(ca), 0, 0, 0, NULL, E, NULL, NULL },
	{ "cert", CONF_PATH, F(cert), 0, 0, 0, NULL, E, NULL, NULL },
	{ "key", CONF_PATH, F(key), 0, 0, 0, NULL, E, NULL, NULL },
	{ "user_base", CONF_STRING, F(user_base), 0, 0, 0, NULL,
	  CONF_REQUIRED | E, NULL, NULL },
	{ "user_filter", CONF_STRING, F(user_filter), 0, 0, 0, "(uid=%s)", E,
	  NULL, NULL },
	{ "group_filter", CONF_STRING, F(group_filter), 0, 0, 0,
	  "(member=%s)", E, NULL, NULL },
	{ "group_allow", CONF_RAW, 0, 0, 0, 0, NULL, E, NULL,
	  lconf_check_regex },
	{ "group_deny", CONF_RAW, 0, 0, 0, 0, NULL, E, NULL,
	  lconf_check_regex },
	{ "timeout", CONF_DURATION, F(timeout), 0, 1, MS, "5s", E, NULL,
	  NULL },
	{ "connect_timeout", CONF_DURATION, F(connect_timeout), 0, 1, MS,
	  "2s", E, NULL, NULL },
	{ "backoff_max", CONF_DURATION, F(backoff_max), 0, 1, MS, "30s", E,
	  NULL, NULL },
	{ "pool_size", CONF_INT, F(pool_size), 0, 1, 64, "2", E, NULL, NULL },
	{ "page_size", CONF_INT, F(page_size), 0, 0, 100000, "500", E, NULL,
	  NULL },
	{ "max_groups", CONF_INT, F(max_groups), 0, 1, LDAP_MAX_GROUPS,
	  "1024", E, NULL, NULL },
	{ "nested_depth", CONF_INT, F(nested_depth), 0, 0, 32, "0", E, NULL,
	  NULL },
	{ "bind_failure_limit", CONF_INT, F(lockout.limit), 0, 0, 1000, "5",
	  E, NULL, NULL },
	{ "bind_failure_window", CONF_DURATION, F(lockout.window), 0, 1000,
	  DAY, "5m", E, NULL, NULL },
	{ "bind_lockout", CONF_DURATION, F(lockout.duration), 0, 1000, DAY,
	  "5m", E, NULL, NULL },
	{ "username_attribute", CONF_STRING, F(username_attribute), 0, 0, 0,
	  "uid", E, NULL, NULL },
	{ "username_prefix", CONF_STRING, F(username_prefix), 0, 0, 0, "", E,
	  NULL, NULL },
	{ "uid_attribute", CONF_STRING, F(uid_attribute), 0, 0, 0, NULL, E,
	  NULL, NULL },
	{ "extra_attributes", CONF_RAW, 0, 0, 0, 0, NULL, E, NULL,
	  lconf_check_extra },
	{ "memberof_attribute", CONF_STRING, F(memberof_attribute), 0, 0, 0,
	  NULL, E, NULL, NULL },
	{ "group_base", CONF_STRING, F(group_base), 0, 0, 0, NULL, E, NULL,
	  NULL },
	{ "group_name_attribute", CONF_STRING, F(group_name_attribute), 0, 0,
	  0, "cn", E, NULL, NULL },
	{ "group_prefix", CONF_STRING, F(group_prefix), 0, 0, 0, "", E, NULL,
	  NULL },
	{ "allow_system_names", CONF_BOOL, F(allow_system_names), 0, 0, 0,
	  "no", E, NULL, NULL },
	{ "reviews", CONF_BOOL, F(reviews), 0, 0, 0, "yes", E, NULL, NULL },
};
#undef F
#undef E
#undef MS
#undef DAY

/* The attribute=key pairs of extra_attributes. */
static void
lconf_extra_free(struct ldap_dir *d)
{
	size_t	i;

	for (i = 0; i < d->nextra; i++) {
		free(d->extra_attrs[i]);
		free(d->extra_keys[i]);
	}
	free(d->extra_attrs);
	free(d->extra_keys);
	d->extra_attrs = d->extra_keys = NULL;
	d->nextra = 0;
}

static int
lconf_uri(struct lconf_dir *dl, struct conf_kv *kv, const char *s,
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
		u->tls = strcasecmp(lud->lud_scheme, "ldaps") == 0 ?
		    LTLS_LDAPS : insecure ? LTLS_NONE : LTLS_STARTTLS;
		u->port = lud->lud_port != 0 ? lud->lud_port :
		    u->tls == LTLS_LDAPS ? 636 : 389;
	}
	r = 0;
out:
	if (lud != NULL)
		ldap_free_urldesc(lud);
	return r;
}

static int
lconf_uris(struct lconf_dir *dl)
{
	struct ldap_dir	*d = dl->d;
	struct conf_kv	*kv = conf_get(dl->sec, "uri");
	char		**w;
	size_t		 n, i;
	int		 r = -1;

	w = split_words(kv->value, &n);
	if (n == 0 || n > LDAP_MAX_URIS) {
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
		    "one to %d URIs", LDAP_MAX_URIS);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if (lconf_uri(dl, kv, w[i], &d->uris[i], d->insecure) != 0)
			goto out;
		d->nuris++;
	}
	r = 0;
out:
	free_words(w);
	return r;
}

/* bind_dn and bind_password_file, and the password the file holds. */
static int
lconf_password(struct lconf_dir *dl)
{
	struct ldap_dir	*d = dl->d;
	struct conf_kv	*kv = conf_get(dl->sec, "bind_password_file");
	char		 why[TR_ERRLEN];
	size_t		 len;

	if (d->bind_dn == NULL && kv == NULL)
		return 0;
	if (d->bind_dn == NULL || kv == NULL) {
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
		    "bind_dn and bind_password_file go together");
		return -1;
	}
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
lconf_filter_encodes(const char *filter)
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
lconf_filter(struct lconf_dir *dl, const char *key, const char *filter)
{
	struct conf_kv	*kv = conf_get(dl->sec, key);
	const char	*why = NULL;
	char		*t, *u;

	t = auth_ldap_filter_expand(filter, "x", "x");
	u = auth_ldap_filter_expand(filter, "y", "y");
	if (t != NULL && u != NULL && strcmp(t, u) == 0)
		why = "the filter needs %s or %u";
	else if (t == NULL || *filter != '(' ||
	    filter[strlen(filter) - 1] != ')')
		why = "a filter in parentheses; %s and %u are the only "
		    "placeholders (%% for a percent sign)";
	else if (!lconf_filter_encodes(t))
		why = "not a valid LDAP search filter (RFC 4515)";
	free(t);
	free(u);
	if (why == NULL)
		return 0;
	conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen, "%s", why);
	return -1;
}

/* group_allow and group_deny: extended regular expressions. */
static int
lconf_check_regex(void *obj, const struct config *conf,
    const struct conf_section *sec, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct ldap_dir	*d = obj;
	regex_t		*re = &d->group_allow;
	int		*has = &d->has_allow;
	char		 why[256];
	int		 rc;

	if (strcmp(kv->key, "group_deny") == 0) {
		re = &d->group_deny;
		has = &d->has_deny;
	}
	if (*has)
		regfree(re);
	*has = 0;
	if ((rc = regcomp(re, kv->value, REG_EXTENDED | REG_NOSUB)) != 0) {
		regerror(rc, re, why, sizeof(why));
		conf_error(conf, sec, kv, err, errlen, "%s", why);
		return -1;
	}
	*has = 1;
	return 0;
}

/* extra_attributes = attr=key ...: attribute values as user.extra[key]. */
static int
lconf_check_extra(void *obj, const struct config *conf,
    const struct conf_section *sec, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct ldap_dir	*d = obj;
	struct strvec	 attrs = STRVEC_INITIALIZER, keys = STRVEC_INITIALIZER;
	char		**w, *eq;
	size_t		 n, i;
	int		 r = -1;

	lconf_extra_free(d);
	w = split_words(kv->value, &n);
	if (n > LDAP_MAX_EXTRA) {
		conf_error(conf, sec, kv, err, errlen,
		    "at most %d attributes", LDAP_MAX_EXTRA);
		goto out;
	}
	for (i = 0; i < n; i++) {
		if ((eq = strchr(w[i], '=')) == NULL || eq == w[i] ||
		    eq[1] == '\0') {
			conf_error(conf, sec, kv, err, errlen,
			    "%s: want attribute=key, as in "
			    "mail=example.org/mail", w[i]);
			goto out;
		}
		strvec_add_take(&attrs, xstrndup(w[i], (size_t)(eq - w[i])));
		strvec_add(&keys, eq + 1);
	}
	r = 0;
out:
	d->nextra = strvec_count(&attrs);
	d->extra_attrs = strvec_take(&attrs);
	d->extra_keys = strvec_take(&keys);
	free_words(w);
	return r;
}

/* The TLS context of a directory that has a TLS URI, built once. */
static int
lconf_tls(struct lconf_dir *dl)
{
	struct ldap_dir	*d = dl->d;
	char		 err[TR_ERRLEN];
	size_t		 i;

	for (i = 0; i < d->nuris && d->uris[i].tls == LTLS_NONE; i++)
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
 * Without allow_system_names, a prefix that puts every name in the
 * system: namespace would drop every group or refuse every user: say so
 * now rather than at the first review.
 */
static int
lconf_system_names(struct lconf_dir *dl)
{
	struct ldap_dir	*d = dl->d;
	const char	*key = NULL;

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

/* The checks that tie keys together, once the table is read. */
static int
lconf_all(struct lconf_dir *dl)
{
	struct ldap_dir	*d = dl->d;

	if (conf_read_section(lconf_options, CONF_NOPTIONS(lconf_options), d,
	    dl->conf, dl->sec, dl->err, dl->errlen) != 0 ||
	    lconf_uris(dl) != 0 || lconf_password(dl) != 0)
		return -1;
	if (d->mode == LM_ATTRIBUTE && d->token_attribute == NULL) {
		conf_error(dl->conf, dl->sec, NULL, dl->err, dl->errlen,
		    "token_attribute is required with mode = attribute");
		return -1;
	}
	if ((d->cert == NULL) != (d->key == NULL)) {
		conf_error(dl->conf, dl->sec, NULL, dl->err, dl->errlen,
		    "cert and key go together");
		return -1;
	}
	if (lconf_tls(dl) != 0 ||
	    lconf_filter(dl, "user_filter", d->user_filter) != 0 ||
	    lconf_filter(dl, "group_filter", d->group_filter) != 0)
		return -1;
	return lconf_system_names(dl);
}

static void
lconf_dir_clear(struct ldap_dir *d)
{
	size_t	i;

	for (i = 0; i < d->nuris; i++) {
		free(d->uris[i].uri);
		free(d->uris[i].host);
	}
	if (d->bind_password != NULL)
		OPENSSL_cleanse(d->bind_password, d->bind_password_len);
	free(d->bind_password);
	free(d->name);
	free(d->mname);
	tls_ctx_free(d->tls_ctx);
	lconf_extra_free(d);
	conf_table_free(lconf_options, CONF_NOPTIONS(lconf_options), d);
	names_once_free(d->system_logged);
	if (d->has_allow)
		regfree(&d->group_allow);
	if (d->has_deny)
		regfree(&d->group_deny);
}

void
lconf_unload(void *shared)
{
	struct ldap_shared	*ls = shared;
	size_t			 i;

	if (ls == NULL)
		return;
	for (i = 0; i < ls->ndirs; i++)
		lconf_dir_clear(&ls->dirs[i]);
	free(ls->dirs);
	free(ls);
}

int
lconf_load(const struct config *conf, void **shared, char *err, size_t errlen)
{
	struct ldap_shared	*ls;
	struct lconf_dir	 dl;
	struct conf_section	*sec;
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
		dl.d->mname = auth_ldap_label(dl.d->name);
		dl.err = err;
		dl.errlen = errlen;
		if (lconf_all(&dl) != 0)
			goto fail;
	}
	if (ls->ndirs == 0) {
		snprintf(err, errlen, "%s: the chain names \"ldap\" but there "
		    "is no [ldap \"NAME\"] section", conf->path);
		goto fail;
	}
	*shared = ls;
	return 0;
fail:
	lconf_unload(ls);
	return -1;
}
