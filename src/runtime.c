/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * A runtime is one loaded generation of the configuration: the parsed
 * config, the server's TLS context, each backend's shared data and the
 * result cache.  It is built whole in the main thread and is immutable
 * afterwards, so a reload that fails anywhere leaves the running
 * generation untouched, and one that succeeds is swapped in while requests
 * in flight finish on the old one (each holds a reference).
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "tokenreviewd.h"
#include "login.h"

static uint64_t	next_generation = 1;

static int
has_section(const struct config *conf, const char *type)
{
	size_t	i;

	for (i = 0; i < conf->nsections; i++) {
		if (strcmp(conf->sections[i].type, type) == 0)
			return 1;
	}
	return 0;
}

/* Every section must belong to a backend this build has. */
static int
runtime_check_sections(const struct config *conf, char *err, size_t errlen)
{
	const struct conf_section	*sec;
	size_t				 i;

	for (i = 0; i < conf->nsections; i++) {
		sec = &conf->sections[i];
		if (auth_backend_find(sec->type) != NULL)
			continue;
		if (strcmp(sec->type, "login") == 0 && sec->label == NULL)
			continue;
		conf_error(conf, sec, NULL, err, errlen, "unknown section "
		    "(no such token source in this build)");
		return -1;
	}
	return 0;
}

/*
 * [login] needs the jwt source, which reviews its tokens, and the ldap
 * source, which checks passwords and rechecks users: in the default
 * chain, jwt is there for [login] alone; a chain without them is an
 * error.
 */
static int
runtime_chain_login(const struct config *conf, char *err, size_t errlen)
{
	static const char *const needed[] = { "jwt", "ldap" };
	const struct conf_section	*sec = NULL;
	size_t				 i, j;

	for (i = 0; sec == NULL && i < conf->nsections; i++) {
		if (strcmp(conf->sections[i].type, "login") == 0)
			sec = &conf->sections[i];
	}
	for (i = 0; sec != NULL && i < sizeof(needed) / sizeof(needed[0]);
	    i++) {
		for (j = 0; j < conf->nchain; j++) {
			if (strcmp(conf->chain[j], needed[i]) == 0)
				break;
		}
		if (auth_backend_find(needed[i]) == NULL)
			conf_error(conf, sec, NULL, err, errlen, "needs the %s "
			    "token source, which this build lacks", needed[i]);
		else if (conf->nchain > 0 && j == conf->nchain)
			conf_error(conf, sec, NULL, err, errlen, "needs \"%s\" "
			    "in [server] chain (line %d)", needed[i],
			    conf->chain_line);
		else
			continue;
		return -1;
	}
	return 0;
}

/* The chain: the configured names, or every backend that has a section. */
static int
runtime_chain(struct runtime *rt, char *err, size_t errlen)
{
	const struct config		 *conf = rt->conf;
	const struct auth_backend	 *be;
	const struct auth_backend *const *all;
	size_t				  i, n;

	all = auth_backends(&n);
	rt->backends = xcalloc(n + conf->nchain, sizeof(*rt->backends));
	for (i = 0; i < conf->nchain; i++) {
		if ((be = auth_backend_find(conf->chain[i])) == NULL) {
			snprintf(err, errlen, "%s:%d: [server] chain: unknown "
			    "token source \"%s\"", conf->path, conf->chain_line,
			    conf->chain[i]);
			return -1;
		}
		rt->backends[rt->nbackends++] = be;
	}
	for (i = 0; conf->nchain == 0 && i < n; i++) {
		if (has_section(conf, all[i]->name) ||
		    (strcmp(all[i]->name, "jwt") == 0 &&
		    has_section(conf, "login")))
			rt->backends[rt->nbackends++] = all[i];
	}
	if (rt->nbackends == 0) {
		snprintf(err, errlen, "%s: no token source configured: add a "
		    "[static] section naming a token file", conf->path);
		return -1;
	}
	return 0;
}

static int
runtime_client_token(struct runtime *rt, char *err, size_t errlen)
{
	char	*buf;
	size_t	 len;

	if (rt->conf->client_token_file == NULL)
		return 0;
	buf = read_file(rt->conf->client_token_file, 64 * 1024, 1, &len,
	    err, errlen);
	if (buf == NULL)
		return -1;
	/* Files written by editors and kubectl end in a newline. */
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len == 0) {
		snprintf(err, errlen, "%s: empty client token",
		    rt->conf->client_token_file);
		free(buf);
		return -1;
	}
	sha256(buf, len, rt->client_token_hash);
	rt->has_client_token = 1;
	OPENSSL_cleanse(buf, len);
	free(buf);
	return 0;
}

/*
 * The fingerprint key: read at every load, so that a reload or a change of
 * the file picks up a new one, and refused when others may read it (its
 * holder can test token guesses against the logs).
 */
static int
runtime_fp_key(struct runtime *rt, char *err, size_t errlen)
{
	const char	*path = rt->conf->fingerprint_key_file;
	char		*buf;
	size_t		 len;

	if (path == NULL)
		return 0;
	if ((buf = read_file(path, 4096, 1, &len, err, errlen)) == NULL)
		return -1;
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		len--;
	if (len < TR_FP_KEY_MIN) {
		snprintf(err, errlen, "%s: [log] fingerprint_key_file must hold "
		    "at least %d bytes (openssl rand -hex 32 makes one)", path,
		    TR_FP_KEY_MIN);
		OPENSSL_cleanse(buf, len);
		free(buf);
		return -1;
	}
	rt->fp_key = buf;
	rt->fp_key_len = len;
	return 0;
}

struct runtime *
runtime_load(const char *path, int flags, char *err, size_t errlen)
{
	struct runtime	*rt;
	size_t		 i;

	rt = xcalloc(1, sizeof(*rt));
	rt->refs = 1;
	if ((rt->conf = config_load(path, err, errlen)) == NULL)
		goto fail;
	if (runtime_check_sections(rt->conf, err, errlen) != 0 ||
	    runtime_chain_login(rt->conf, err, errlen) != 0 ||
	    runtime_chain(rt, err, errlen) != 0 ||
	    runtime_fp_key(rt, err, errlen) != 0)
		goto fail;
	if ((flags & RUNTIME_NO_TLS) == 0) {
		if ((rt->ssl_ctx = tls_ctx_new(rt->conf, err, errlen)) == NULL)
			goto fail;
		if (runtime_client_token(rt, err, errlen) != 0)
			goto fail;
	}
	if (login_conf_load(rt->conf, &rt->login, err, errlen) != 0)
		goto fail;
	if (rt->login != NULL && (flags & RUNTIME_NO_TLS) == 0 &&
	    (rt->login_ssl_ctx = tls_ctx_new_login(rt->conf, err,
	    errlen)) == NULL)
		goto fail;
	rt->shared = xcalloc(rt->nbackends, sizeof(*rt->shared));
	for (i = 0; i < rt->nbackends; i++) {
		if (rt->backends[i]->load(rt->conf, &rt->shared[i], err,
		    errlen) != 0)
			goto fail;
	}
	/* With both TTLs 0 nothing would ever be kept: no cache at all. */
	if (rt->conf->cache_max_entries > 0 && (rt->conf->cache_ttl > 0 ||
	    rt->conf->cache_negative_ttl > 0))
		rt->cache = cache_new(rt->conf->cache_max_entries);
	rt->generation = __atomic_fetch_add(&next_generation, 1,
	    __ATOMIC_RELAXED);
	return rt;
fail:
	runtime_unref(rt);
	return NULL;
}

void
runtime_ref(struct runtime *rt)
{
	__atomic_add_fetch(&rt->refs, 1, __ATOMIC_RELAXED);
}

void
runtime_unref(struct runtime *rt)
{
	size_t	i;

	if (rt == NULL || __atomic_sub_fetch(&rt->refs, 1,
	    __ATOMIC_ACQ_REL) != 0)
		return;
	for (i = 0; rt->shared != NULL && i < rt->nbackends; i++) {
		if (rt->shared[i] != NULL)
			rt->backends[i]->unload(rt->shared[i]);
	}
	free(rt->shared);
	free(rt->backends);
	login_conf_free(rt->login);
	cache_free(rt->cache);
	tls_ctx_free(rt->ssl_ctx);
	tls_ctx_free(rt->login_ssl_ctx);
	config_free(rt->conf);
	OPENSSL_cleanse(rt->client_token_hash, sizeof(rt->client_token_hash));
	if (rt->fp_key != NULL) {
		OPENSSL_cleanse(rt->fp_key, rt->fp_key_len);
		free(rt->fp_key);
	}
	free(rt);
}

int
runtime_ready(struct runtime *rt, char *why, size_t len)
{
	size_t	i;

	for (i = 0; i < rt->nbackends; i++) {
		if (rt->backends[i]->ready != NULL &&
		    !rt->backends[i]->ready(rt->shared[i])) {
			snprintf(why, len, "token source %s is not ready",
			    rt->backends[i]->name);
			return 0;
		}
	}
	return 1;
}

size_t
runtime_watch_paths(struct runtime *rt, const char **paths, size_t max)
{
	const struct config	*conf = rt->conf;
	const char		*mine[6];
	size_t			 n = 0, i;

	mine[0] = conf->path;
	mine[1] = conf->tls_cert;
	mine[2] = conf->tls_key;
	mine[3] = conf->client_ca;
	mine[4] = conf->client_token_file;
	mine[5] = conf->fingerprint_key_file;
	for (i = 0; i < 6 && n < max; i++) {
		if (mine[i] != NULL)
			paths[n++] = mine[i];
	}
	if (rt->login != NULL && n < max)
		paths[n++] = rt->login->signing_key;
	for (i = 0; rt->login != NULL && i < rt->login->nprevious &&
	    n < max; i++)
		paths[n++] = rt->login->previous_keys[i];
	for (i = 0; i < rt->nbackends; i++) {
		if (rt->backends[i]->watch != NULL && n < max)
			n += rt->backends[i]->watch(rt->shared[i], paths + n,
			    max - n);
	}
	return n;
}
