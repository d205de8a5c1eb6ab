/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The configuration: the file, read by config-parse.c into a fresh
 * struct config, validated before anything uses it, so that a reload
 * either swaps in a complete new configuration or keeps the old one.  The
 * core sections [server], [cache] and [log] are turned into fields here,
 * each by its option table (config-table.c); every other section is kept
 * as raw key/value pairs, with line numbers, for the backend that owns it.
 * Every error names the file, the line, the section and the key.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenreviewd.h"

#define CONF_DAY_MS	(24LL * 3600 * 1000)

static conf_check_cb conf_check_listen;
static conf_check_cb conf_check_health_listen;
static conf_check_cb conf_check_review_path;
static conf_check_cb conf_check_chain;
static conf_check_cb conf_check_tls_ciphers;
static conf_check_cb conf_check_tls_ciphersuites;
static conf_check_cb conf_check_level;

/*
 * Key, type, field, count field, min, max, default, flags, choices,
 * check.  tls_cert and tls_key are required, but only once every core
 * section is read (conf_check_server()), so that an error in a later
 * section is not hidden by them.
 */
#define F(field)	offsetof(struct config, field)
static const struct conf_option conf_server_options[] = {
	{ "listen", CONF_LIST, F(listen), F(nlisten), 0, 0, "127.0.0.1:8443",
	  0, NULL, conf_check_listen },
	{ "health_listen", CONF_LIST, F(health_listen), F(nhealth_listen), 0,
	  0, NULL, CONF_EMPTY_OK, NULL, conf_check_health_listen },
	{ "tls_cert", CONF_PATH, F(tls_cert), 0, 0, 0, NULL, CONF_REQUIRED,
	  NULL, NULL },
	{ "tls_key", CONF_PATH, F(tls_key), 0, 0, 0, NULL, CONF_REQUIRED,
	  NULL, NULL },
	{ "tls_ciphers", CONF_STRING, F(tls_ciphers), 0, 0, 0, NULL, 0, NULL,
	  conf_check_tls_ciphers },
	{ "tls_ciphersuites", CONF_STRING, F(tls_ciphersuites), 0, 0, 0, NULL,
	  0, NULL, conf_check_tls_ciphersuites },
	{ "client_ca", CONF_PATH, F(client_ca), 0, 0, 0, NULL, 0, NULL, NULL },
	{ "client_names", CONF_LIST, F(client_names), F(nclient_names), 0, 0,
	  NULL, 0, NULL, NULL },
	{ "client_token_file", CONF_PATH, F(client_token_file), 0, 0, 0, NULL,
	  0, NULL, NULL },
	{ "review_path", CONF_STRING, F(review_path), 0, 0, 0, "/tokenreview",
	  0, NULL, conf_check_review_path },
	{ "workers", CONF_INT, F(workers), 0, 0, TR_MAX_WORKERS, NULL, 0,
	  NULL, NULL },
	{ "max_body", CONF_SIZE, F(max_body), 0, 1024, 16 * 1024 * 1024,
	  "64k", 0, NULL, NULL },
	{ "max_header", CONF_SIZE, F(max_header), 0, 1024, 1024 * 1024,
	  "16k", 0, NULL, NULL },
	{ "max_connections", CONF_INT, F(max_connections), 0, 1, 1000000,
	  "4096", 0, NULL, NULL },
	{ "health_max_connections", CONF_INT, F(health_max_connections), 0, 1,
	  1000000, "256", 0, NULL, NULL },
	{ "max_connections_per_client", CONF_INT,
	  F(max_connections_per_client), 0, 0, 1000000, "64", 0, NULL, NULL },
	{ "handshake_timeout", CONF_DURATION, F(handshake_timeout), 0, 1,
	  CONF_DAY_MS, "5s", 0, NULL, NULL },
	{ "idle_timeout", CONF_DURATION, F(idle_timeout), 0, 1, CONF_DAY_MS,
	  "120s", 0, NULL, NULL },
	{ "read_timeout", CONF_DURATION, F(read_timeout), 0, 1, CONF_DAY_MS,
	  "10s", 0, NULL, NULL },
	{ "write_timeout", CONF_DURATION, F(write_timeout), 0, 1, CONF_DAY_MS,
	  "10s", 0, NULL, NULL },
	{ "review_timeout", CONF_DURATION, F(review_timeout), 0, 1,
	  CONF_DAY_MS, "10s", 0, NULL, NULL },
	{ "shutdown_timeout", CONF_DURATION, F(shutdown_timeout), 0, 0,
	  CONF_DAY_MS, "15s", 0, NULL, NULL },
	{ "watch_interval", CONF_DURATION, F(watch_interval), 0, 0,
	  CONF_DAY_MS, "2s", 0, NULL, NULL },
	{ "port_file", CONF_PATH, F(port_file), 0, 0, 0, NULL, 0, NULL, NULL },
	{ "user", CONF_STRING, F(user), 0, 0, 0, NULL, 0, NULL, NULL },
	{ "chain", CONF_LIST, F(chain), F(nchain), 0, 0, NULL, CONF_EMPTY_OK,
	  NULL, conf_check_chain },
	{ "failed_review_rate", CONF_INT, F(failed_review_rate), 0, 0,
	  1000000, "100", 0, NULL, NULL },
	{ "failed_review_burst", CONF_INT, F(failed_review_burst), 0, 1,
	  1000000, "1000", 0, NULL, NULL },
	{ "core_dumps", CONF_BOOL, F(core_dumps), 0, 0, 0, NULL, 0, NULL,
	  NULL },
};

static const struct conf_option conf_cache_options[] = {
	{ "ttl", CONF_DURATION, F(cache_ttl), 0, 0, CONF_DAY_MS, "60s", 0,
	  NULL, NULL },
	{ "negative_ttl", CONF_DURATION, F(cache_negative_ttl), 0, 0,
	  CONF_DAY_MS, "10s", 0, NULL, NULL },
	{ "max_entries", CONF_COUNT, F(cache_max_entries), 0, 0, 10000000,
	  "100000", 0, NULL, NULL },
};

static const struct conf_option conf_log_options[] = {
	{ "level", CONF_RAW, F(log_level), 0, 0, 0, "info", 0, NULL,
	  conf_check_level },
	{ "audit", CONF_BOOL, F(log_audit), 0, 0, 0, "yes", 0, NULL, NULL },
	{ "flush_interval", CONF_DURATION, F(log_flush_interval), 0, 0,
	  10 * 1000, "100ms", 0, NULL, NULL },
	{ "fingerprint_key_file", CONF_PATH, F(fingerprint_key_file), 0, 0, 0,
	  NULL, 0, NULL, NULL },
};
#undef F

/* The core sections, each with its table. */
static const struct {
	const char			*type;
	const struct conf_option	*options;
	size_t				 n;
} conf_core[] = {
	{ "server", conf_server_options, CONF_NOPTIONS(conf_server_options) },
	{ "cache", conf_cache_options, CONF_NOPTIONS(conf_cache_options) },
	{ "log", conf_log_options, CONF_NOPTIONS(conf_log_options) },
};

static const char *const conf_reserved_paths[] = {
	"/healthz", "/livez", "/readyz", "/metrics"
};

/* The index of a core section in conf_core, or -1. */
static int
conf_core_index(const char *type)
{
	size_t	i;

	for (i = 0; i < sizeof(conf_core) / sizeof(conf_core[0]); i++) {
		if (strcmp(type, conf_core[i].type) == 0)
			return (int)i;
	}
	return -1;
}

int
config_core_section(const char *type)
{
	return conf_core_index(type) != -1;
}

struct conf_section *
config_find_section(const struct config *conf, const char *type,
    const char *label)
{
	struct conf_section	*s;
	size_t			 i;

	for (i = 0; i < conf->nsections; i++) {
		s = &conf->sections[i];
		if (strcmp(s->type, type) != 0)
			continue;
		if (label == NULL ? s->label == NULL :
		    s->label != NULL && strcmp(s->label, label) == 0)
			return s;
	}
	return NULL;
}

static void
conf_section_clear(struct conf_section *s)
{
	size_t	i;

	for (i = 0; i < s->nkv; i++) {
		free(s->kv[i].key);
		free(s->kv[i].value);
	}
	free(s->kv);
	free(s->type);
	free(s->label);
	memset(s, 0, sizeof(*s));
}

void
config_free(struct config *conf)
{
	size_t	i;

	if (conf == NULL)
		return;
	for (i = 0; i < sizeof(conf_core) / sizeof(conf_core[0]); i++)
		conf_table_free(conf_core[i].options, conf_core[i].n, conf);
	free(conf->path);
	for (i = 0; i < conf->nsections; i++)
		conf_section_clear(&conf->sections[i]);
	free(conf->sections);
	free(conf);
}

/* A config with every core key at its default. */
static struct config *
config_new(const char *path)
{
	struct config	*conf;
	size_t		 i;

	conf = xcalloc(1, sizeof(*conf));
	conf->path = xstrdup(path);
	for (i = 0; i < sizeof(conf_core) / sizeof(conf_core[0]); i++)
		conf_table_defaults(conf_core[i].options, conf_core[i].n, conf);
	return conf;
}

/*
 * "HOST:PORT" or "[V6]:PORT" with a numeric address; why gets the reason
 * it is not.  getaddrinfo() with AI_NUMERICHOST never touches DNS.
 */
static int
conf_address(const char *addr, char *why, size_t whylen)
{
	struct addrinfo	 hints, *res;
	char		 host[128];
	const char	*h = addr, *port, *end;
	size_t		 hlen;
	long long	 n;

	memset(&hints, 0, sizeof(hints));
	if (*addr == '[') {
		if ((end = strchr(addr, ']')) == NULL || end[1] != ':') {
			snprintf(why, whylen, "expected [ADDRESS]:PORT");
			return -1;
		}
		h = addr + 1;
		hlen = (size_t)(end - h);
		port = end + 2;
		hints.ai_family = AF_INET6;
	} else {
		if ((port = strrchr(addr, ':')) == NULL) {
			snprintf(why, whylen, "expected ADDRESS:PORT");
			return -1;
		}
		hlen = (size_t)(port - addr);
		port++;
		hints.ai_family = AF_INET;
		if (memchr(addr, ':', hlen) != NULL) {
			snprintf(why, whylen, "IPv6 addresses go in brackets, "
			    "as in [::1]:8443");
			return -1;
		}
	}
	if (hlen == 0 || hlen >= sizeof(host)) {
		snprintf(why, whylen, "missing or bad address");
		return -1;
	}
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	if (parse_number(port, 0, 65535, &n) != 0) {
		snprintf(why, whylen, "bad port (0 to 65535)");
		return -1;
	}
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		snprintf(why, whylen, "not a numeric %s address",
		    hints.ai_family == AF_INET6 ? "IPv6" : "IPv4");
		return -1;
	}
	freeaddrinfo(res);
	return 0;
}

/* 1 if a word of a list appears twice; *dup gets it. */
static int
conf_has_duplicate(char **words, size_t n, const char **dup)
{
	size_t	i, j;

	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++) {
			if (strcmp(words[i], words[j]) == 0) {
				*dup = words[i];
				return 1;
			}
		}
	}
	return 0;
}

int
conf_check_addresses(const struct config *conf, const struct conf_section *s,
    const struct conf_kv *kv, char **list, size_t n, char *err,
    size_t errlen)
{
	const char	*dup;
	char		 why[128];
	size_t		 i;

	if (n > TR_MAX_LISTEN) {
		conf_error(conf, s, kv, err, errlen, "more than %d addresses",
		    TR_MAX_LISTEN);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if (conf_address(list[i], why, sizeof(why)) != 0) {
			conf_error(conf, s, kv, err, errlen, "\"%s\": %s",
			    list[i], why);
			return -1;
		}
	}
	if (conf_has_duplicate(list, n, &dup)) {
		conf_error(conf, s, kv, err, errlen, "\"%s\" listed twice",
		    dup);
		return -1;
	}
	return 0;
}

static int
conf_check_listen(void *obj, const struct config *conf,
    const struct conf_section *s, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct config	*c = obj;

	return conf_check_addresses(conf, s, kv, c->listen, c->nlisten, err,
	    errlen);
}

static int
conf_check_health_listen(void *obj, const struct config *conf,
    const struct conf_section *s, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct config	*c = obj;

	return conf_check_addresses(conf, s, kv, c->health_listen,
	    c->nhealth_listen, err, errlen);
}

/* A cipher list OpenSSL would refuse fails here, with its line. */
static int
conf_check_tls_list(const struct config *conf, const struct conf_section *s,
    const struct conf_kv *kv, const char *list, int tls13, char *err,
    size_t errlen)
{
	char	why[TR_ERRLEN];

	if (tls_check_ciphers(list, tls13, why, sizeof(why)) == 0)
		return 0;
	conf_error(conf, s, kv, err, errlen, "%s", why);
	return -1;
}

static int
conf_check_tls_ciphers(void *obj, const struct config *conf,
    const struct conf_section *s, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct config	*c = obj;

	return conf_check_tls_list(conf, s, kv, c->tls_ciphers, 0, err,
	    errlen);
}

static int
conf_check_tls_ciphersuites(void *obj, const struct config *conf,
    const struct conf_section *s, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct config	*c = obj;

	return conf_check_tls_list(conf, s, kv, c->tls_ciphersuites, 1, err,
	    errlen);
}

static int
conf_check_review_path(void *obj, const struct config *conf,
    const struct conf_section *s, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	const char	*p = ((struct config *)obj)->review_path;
	size_t		 i;

	if (*p != '/') {
		conf_error(conf, s, kv, err, errlen, "\"%s\" does not start "
		    "with '/'", p);
		return -1;
	}
	if (strlen(p) > 256) {
		conf_error(conf, s, kv, err, errlen, "longer than 256 bytes");
		return -1;
	}
	for (i = 0; p[i] != '\0'; i++) {
		/* The server matches the path exactly, without a query. */
		if ((unsigned char)p[i] <= ' ' || p[i] == 0x7f ||
		    p[i] == '?' || p[i] == '#') {
			conf_error(conf, s, kv, err, errlen, "\"%s\" contains "
			    "a space, a control character, '?' or '#'", p);
			return -1;
		}
	}
	for (i = 0; i < sizeof(conf_reserved_paths) /
	    sizeof(conf_reserved_paths[0]); i++) {
		if (strcmp(p, conf_reserved_paths[i]) == 0) {
			conf_error(conf, s, kv, err, errlen, "\"%s\" is "
			    "reserved for the server's own endpoints", p);
			return -1;
		}
	}
	return 0;
}

static int
conf_check_chain(void *obj, const struct config *conf,
    const struct conf_section *s, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct config	*c = obj;
	const char	*dup;

	if (conf_has_duplicate(c->chain, c->nchain, &dup)) {
		conf_error(conf, s, kv, err, errlen, "\"%s\" listed twice",
		    dup);
		return -1;
	}
	c->chain_line = kv->line;
	return 0;
}

/* [log] level: its parser, so CONF_RAW. */
static int
conf_check_level(void *obj, const struct config *conf,
    const struct conf_section *s, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	int	level;

	if ((level = log_level_parse(kv->value)) != -1) {
		((struct config *)obj)->log_level = level;
		return 0;
	}
	conf_error(conf, s, kv, err, errlen, "unknown level \"%s\" "
	    "(fatal, error, warn, info, verbose or debug)", kv->value);
	return -1;
}

/* What a complete [server] section needs, checked once all keys are in. */
static int
conf_check_server(struct config *conf, struct conf_section *s, char *err,
    size_t errlen)
{
	struct conf_section	 none = { .type = (char *)"server" };
	struct conf_kv		*kv;
	long			 n;

	if (s == NULL)
		s = &none;
	if (conf_check_required(conf_server_options,
	    CONF_NOPTIONS(conf_server_options), conf, s, err, errlen) != 0)
		return -1;
	if (conf->nclient_names > 0 && conf->client_ca == NULL) {
		kv = conf_get(s, "client_names");
		conf_error(conf, s, kv, err, errlen, "requires client_ca");
		return -1;
	}
	if (conf->workers == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		if (n < 1)
			n = 1;
		conf->workers = n > TR_MAX_WORKERS ? TR_MAX_WORKERS : (int)n;
	}
	return 0;
}

/*
 * Turn the core sections into fields, in file order, and keep the others,
 * in file order too, in conf->sections.
 */
static int
conf_apply(struct config *conf, char *err, size_t errlen)
{
	struct conf_section	*all = conf->sections, *server = NULL;
	size_t			 n = conf->nsections, i;
	int			 k, r = -1;

	conf->sections = xcalloc(n, sizeof(*conf->sections));
	conf->nsections = 0;
	for (i = 0; i < n; i++) {
		if ((k = conf_core_index(all[i].type)) == -1) {
			conf->sections[conf->nsections++] = all[i];
			memset(&all[i], 0, sizeof(all[i]));
			continue;
		}
		if (strcmp(all[i].type, "server") == 0)
			server = &all[i];
		if (conf_read_keys(conf_core[k].options, conf_core[k].n, conf,
		    conf, &all[i], err, errlen) != 0)
			goto out;
	}
	r = conf_check_server(conf, server, err, errlen);
out:
	for (i = 0; i < n; i++)
		conf_section_clear(&all[i]);
	free(all);
	return r;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config	*conf;

	conf = config_new(path);
	if (config_parse_file(conf, err, errlen) != 0 ||
	    conf_apply(conf, err, errlen) != 0) {
		config_free(conf);
		return NULL;
	}
	return conf;
}
