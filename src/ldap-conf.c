/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The [ldap "NAME"] sections: each is read into one struct ldap_dir,
 * checked whole before the daemon starts (URIs, the service account's
 * password file, filter templates that libldap can encode, regular
 * expressions, TLS files), and then shared read-only by the workers.
 */

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <regex.h>
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

/* Durations and numbers, with the ranges of every directory. */
static int
lconf_duration(struct lconf_dir *dl, const char *key, long long def,
    long long *out)
{
	return conf_get_duration(dl->conf, dl->sec, key, def, 1, 600 * 1000,
	    out, dl->err, dl->errlen);
}

static int
lconf_number(struct lconf_dir *dl, const char *key, int min, int max, int def,
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
lconf_lockout(struct lconf_dir *dl)
{
	struct lockout_conf	*lc = &dl->d->lockout;

	if (lconf_number(dl, "bind_failure_limit", 0, 1000, 5,
	    &lc->limit) != 0 ||
	    conf_get_duration(dl->conf, dl->sec, "bind_failure_window",
	    300 * 1000, 1000, 86400 * 1000LL, &lc->window, dl->err,
	    dl->errlen) != 0 ||
	    conf_get_duration(dl->conf, dl->sec, "bind_lockout", 300 * 1000,
	    1000, 86400 * 1000LL, &lc->duration, dl->err, dl->errlen) != 0)
		return -1;
	return 0;
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
		if (lconf_uri(dl, kv, w[i], &d->uris[i], insecure) != 0)
			goto out;
		d->nuris++;
	}
	r = 0;
out:
	free_words(w);
	return r;
}

static int
lconf_password(struct lconf_dir *dl)
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
lconf_filter(struct lconf_dir *dl, const char *key, const char *def, char **out)
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
	if (!lconf_filter_encodes(t)) {
		conf_error(dl->conf, dl->sec, kv, dl->err, dl->errlen,
		    "not a valid LDAP search filter (RFC 4515)");
		free(t);
		return -1;
	}
	free(t);
	return 0;
}

static int
lconf_regex(struct lconf_dir *dl, const char *key, regex_t *re, int *has)
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
lconf_mode(struct lconf_dir *dl)
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
lconf_extra(struct lconf_dir *dl)
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
 * allow_system_names; without it, a prefix that puts every name in the
 * system: namespace would drop every group or refuse every user: say so
 * now rather than at the first review.
 */
static int
lconf_system_names(struct lconf_dir *dl)
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

/* ca, cert and key, and the TLS context they make. */
static int
lconf_tls_files(struct lconf_dir *dl)
{
	struct ldap_dir	*d = dl->d;

	d->ca = conf_get_str(dl->sec, "ca", NULL);
	d->cert = conf_get_str(dl->sec, "cert", NULL);
	d->key = conf_get_str(dl->sec, "key", NULL);
	if ((d->cert == NULL) != (d->key == NULL)) {
		conf_error(dl->conf, dl->sec, NULL, dl->err, dl->errlen,
		    "cert and key go together");
		return -1;
	}
	return lconf_tls(dl);
}

/* The filters, group patterns, timeouts, sizes and the lockout. */
static int
lconf_search(struct lconf_dir *dl)
{
	struct ldap_dir	*d = dl->d;

	if (lconf_filter(dl, "user_filter", "(uid=%s)", &d->user_filter) != 0 ||
	    lconf_filter(dl, "group_filter", "(member=%s)", &d->group_filter) ||
	    lconf_regex(dl, "group_allow", &d->group_allow, &d->has_allow) ||
	    lconf_regex(dl, "group_deny", &d->group_deny, &d->has_deny) ||
	    lconf_duration(dl, "timeout", 5000, &d->timeout) != 0 ||
	    lconf_duration(dl, "connect_timeout", 2000,
	    &d->connect_timeout) != 0 ||
	    lconf_duration(dl, "backoff_max", 30000, &d->backoff_max) != 0 ||
	    lconf_number(dl, "pool_size", 1, 64, 2, &d->pool_size) != 0 ||
	    lconf_number(dl, "page_size", 0, 100000, 500,
	    &d->page_size) != 0 ||
	    lconf_number(dl, "max_groups", 1, LDAP_MAX_GROUPS, 1024,
	    &d->max_groups) != 0 ||
	    lconf_number(dl, "nested_depth", 0, 32, 0,
	    &d->nested_depth) != 0 ||
	    lconf_lockout(dl) != 0)
		return -1;
	return 0;
}

static int
lconf_all(struct lconf_dir *dl)
{
	struct ldap_dir	*d = dl->d;

	if (lconf_uris(dl) != 0 || lconf_password(dl) != 0 ||
	    lconf_mode(dl) != 0 || lconf_tls_files(dl) != 0)
		return -1;
	if ((d->user_base = conf_get_str(dl->sec, "user_base", NULL)) == NULL) {
		conf_error(dl->conf, dl->sec, NULL, dl->err, dl->errlen,
		    "user_base is required");
		return -1;
	}
	if (lconf_search(dl) != 0)
		return -1;
	d->username_attribute = conf_get_str(dl->sec, "username_attribute",
	    "uid");
	d->username_prefix = conf_get_str(dl->sec, "username_prefix", "");
	d->uid_attribute = conf_get_str(dl->sec, "uid_attribute", NULL);
	if (lconf_extra(dl) != 0)
		return -1;
	d->memberof_attribute = conf_get_str(dl->sec, "memberof_attribute",
	    NULL);
	d->group_base = conf_get_str(dl->sec, "group_base", NULL);
	d->group_name_attribute = conf_get_str(dl->sec, "group_name_attribute",
	    "cn");
	d->group_prefix = conf_get_str(dl->sec, "group_prefix", "");
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
	struct lconf_dir		 dl;
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
		dl.d->mname = auth_ldap_label(dl.d->name);
		dl.err = err;
		dl.errlen = errlen;
		if (lconf_all(&dl) != 0)
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
	lconf_unload(ls);
	return -1;
}
