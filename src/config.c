/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The configuration file: an INI file read with inih into a fresh struct
 * config, validated before anything uses it, so that a reload either swaps
 * in a complete new configuration or keeps the old one.  The core sections
 * [server], [cache] and [log] are turned into fields here; every other
 * section is kept as raw key/value pairs, with line numbers, for the
 * backend that owns it.  Every error names the file, the line, the section
 * and the key.
 *
 * inih does not tell its handler the line number, so lines reach it through
 * our own reader, which counts them, records section headers (inih reports
 * neither empty sections nor repeated ones), checks the syntax of each line
 * so that the first error in the file is the one reported, and splits the
 * lines too long for inih's fixed buffer itself.
 */

#include <sys/types.h>
#include <sys/socket.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ini.h>

#include "tokenreviewd.h"

#define CONF_DAY_MS	(24LL * 3600 * 1000)
#define CONF_MAX_LINE	65536
#define CONF_NAMECHARS	"abcdefghijklmnopqrstuvwxyz" \
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

enum conf_type {
	CONF_STRING,		/* char * */
	CONF_LIST,		/* char **, NULL-terminated, and a size_t */
	CONF_DURATION,		/* long long, milliseconds */
	CONF_SIZE,		/* size_t, bytes, k and m suffixes */
	CONF_INT,		/* int */
	CONF_COUNT,		/* size_t */
	CONF_BOOL,		/* int, 0 or 1 */
	CONF_LEVEL,		/* int, a log level */
};

typedef int	 conf_check_cb(struct config *, const struct conf_section *,
		    const struct conf_kv *, char *, size_t);

/* One key of a core section: where its value goes and what it may be. */
struct conf_option {
	const char	*section;
	const char	*key;
	enum conf_type	 type;
	size_t		 off;
	size_t		 count_off;	/* CONF_LIST: offset of the count */
	long long	 min;
	long long	 max;
	int		 empty_ok;
	conf_check_cb	*check;		/* more checks once the value is set */
};

/* State shared by the reader and the handler while inih runs. */
struct conf_parse {
	struct config	*conf;
	FILE		*f;
	char		*buf;		/* getline() buffer */
	size_t		 bufsize;
	int		 line;		/* of the line inih is looking at */
	ssize_t		 cur;		/* index in conf->sections, -1: none */
	char		*long_key;	/* of a line too long for inih */
	char		*long_value;
	int		 failed;
	char		*err;
	size_t		 errlen;
};

static conf_check_cb conf_check_listen;
static conf_check_cb conf_check_health_listen;
static conf_check_cb conf_check_review_path;
static conf_check_cb conf_check_chain;
static conf_check_cb conf_check_tls_ciphers;
static conf_check_cb conf_check_tls_ciphersuites;

/* Section, key, type, field, count field, min, max, empty ok, check. */
#define F(field)	offsetof(struct config, field)
static const struct conf_option conf_options[] = {
	{ "server", "listen", CONF_LIST, F(listen), F(nlisten), 0, 0, 0,
	  conf_check_listen },
	{ "server", "health_listen", CONF_LIST, F(health_listen),
	  F(nhealth_listen), 0, 0, 1, conf_check_health_listen },
	{ "server", "tls_cert", CONF_STRING, F(tls_cert), 0, 0, 0, 0, NULL },
	{ "server", "tls_key", CONF_STRING, F(tls_key), 0, 0, 0, 0, NULL },
	{ "server", "tls_ciphers", CONF_STRING, F(tls_ciphers), 0, 0, 0, 0,
	  conf_check_tls_ciphers },
	{ "server", "tls_ciphersuites", CONF_STRING, F(tls_ciphersuites), 0,
	  0, 0, 0, conf_check_tls_ciphersuites },
	{ "server", "client_ca", CONF_STRING, F(client_ca), 0, 0, 0, 0, NULL },
	{ "server", "client_names", CONF_LIST, F(client_names),
	  F(nclient_names), 0, 0, 0, NULL },
	{ "server", "client_token_file", CONF_STRING, F(client_token_file), 0,
	  0, 0, 0, NULL },
	{ "server", "review_path", CONF_STRING, F(review_path), 0, 0, 0, 0,
	  conf_check_review_path },
	{ "server", "workers", CONF_INT, F(workers), 0, 0, TR_MAX_WORKERS, 0,
	  NULL },
	{ "server", "max_body", CONF_SIZE, F(max_body), 0, 1024,
	  16 * 1024 * 1024, 0, NULL },
	{ "server", "max_header", CONF_SIZE, F(max_header), 0, 1024,
	  1024 * 1024, 0, NULL },
	{ "server", "max_connections", CONF_INT, F(max_connections), 0, 1,
	  1000000, 0, NULL },
	{ "server", "health_max_connections", CONF_INT,
	  F(health_max_connections), 0, 1, 1000000, 0, NULL },
	{ "server", "max_connections_per_client", CONF_INT,
	  F(max_connections_per_client), 0, 0, 1000000, 0, NULL },
	{ "server", "handshake_timeout", CONF_DURATION, F(handshake_timeout),
	  0, 1, CONF_DAY_MS, 0, NULL },
	{ "server", "idle_timeout", CONF_DURATION, F(idle_timeout), 0, 1,
	  CONF_DAY_MS, 0, NULL },
	{ "server", "read_timeout", CONF_DURATION, F(read_timeout), 0, 1,
	  CONF_DAY_MS, 0, NULL },
	{ "server", "write_timeout", CONF_DURATION, F(write_timeout), 0, 1,
	  CONF_DAY_MS, 0, NULL },
	{ "server", "review_timeout", CONF_DURATION, F(review_timeout), 0, 1,
	  CONF_DAY_MS, 0, NULL },
	{ "server", "shutdown_timeout", CONF_DURATION, F(shutdown_timeout), 0,
	  0, CONF_DAY_MS, 0, NULL },
	{ "server", "watch_interval", CONF_DURATION, F(watch_interval), 0, 0,
	  CONF_DAY_MS, 0, NULL },
	{ "server", "port_file", CONF_STRING, F(port_file), 0, 0, 0, 0, NULL },
	{ "server", "user", CONF_STRING, F(user), 0, 0, 0, 0, NULL },
	{ "server", "chain", CONF_LIST, F(chain), F(nchain), 0, 0, 1,
	  conf_check_chain },
	{ "server", "failed_review_rate", CONF_INT, F(failed_review_rate), 0,
	  0, 1000000, 0, NULL },
	{ "server", "failed_review_burst", CONF_INT, F(failed_review_burst),
	  0, 1, 1000000, 0, NULL },
	{ "server", "core_dumps", CONF_BOOL, F(core_dumps), 0, 0, 0, 0, NULL },

	{ "cache", "ttl", CONF_DURATION, F(cache_ttl), 0, 0, CONF_DAY_MS, 0,
	  NULL },
	{ "cache", "negative_ttl", CONF_DURATION, F(cache_negative_ttl), 0, 0,
	  CONF_DAY_MS, 0, NULL },
	{ "cache", "max_entries", CONF_COUNT, F(cache_max_entries), 0, 0,
	  10000000, 0, NULL },

	{ "log", "level", CONF_LEVEL, F(log_level), 0, 0, 0, 0, NULL },
	{ "log", "audit", CONF_BOOL, F(log_audit), 0, 0, 0, 0, NULL },
	{ "log", "flush_interval", CONF_DURATION, F(log_flush_interval), 0, 0,
	  10 * 1000, 0, NULL },
	{ "log", "fingerprint_key_file", CONF_STRING, F(fingerprint_key_file),
	  0, 0, 0, 0, NULL },
};
#undef F

static const char *const conf_core[] = { "server", "cache", "log" };

static const char *const conf_reserved_paths[] = {
	"/healthz", "/livez", "/readyz", "/metrics"
};

static int
conf_is_core(const char *type)
{
	size_t	i;

	for (i = 0; i < sizeof(conf_core) / sizeof(conf_core[0]); i++) {
		if (strcmp(type, conf_core[i]) == 0)
			return 1;
	}
	return 0;
}

static const struct conf_option *
conf_option_find(const char *section, const char *key)
{
	const struct conf_option	*o;
	size_t				 i;

	for (i = 0; i < sizeof(conf_options) / sizeof(conf_options[0]); i++) {
		o = &conf_options[i];
		if (strcmp(o->section, section) == 0 &&
		    strcmp(o->key, key) == 0)
			return o;
	}
	return NULL;
}

void
conf_error(const struct config *conf, const struct conf_section *s,
    const struct conf_kv *kv, char *err, size_t errlen, const char *fmt, ...)
{
	char	 msg[TR_ERRLEN], where[32], *sect = NULL;
	va_list	 ap;
	int	 line;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	line = kv != NULL ? kv->line : (s != NULL ? s->line : 0);
	if (line > 0)
		snprintf(where, sizeof(where), ":%d", line);
	else
		where[0] = '\0';
	if (s != NULL && s->label != NULL)
		xasprintf(&sect, "[%s \"%s\"]", s->type, s->label);
	else if (s != NULL)
		xasprintf(&sect, "[%s]", s->type);

	/* "FILE:LINE: [type "label"] key: msg", leaving out what is unknown. */
	snprintf(err, errlen, "%s%s: %s%s%s%s%s", conf->path, where,
	    sect != NULL ? sect : "",
	    sect != NULL && kv != NULL ? " " : "",
	    kv != NULL ? kv->key : "",
	    sect != NULL || kv != NULL ? ": " : "", msg);
	free(sect);
}

struct conf_kv *
conf_get(struct conf_section *s, const char *key)
{
	size_t	i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < s->nkv; i++) {
		if (strcmp(s->kv[i].key, key) == 0) {
			s->kv[i].used = 1;
			return &s->kv[i];
		}
	}
	return NULL;
}

struct conf_kv *
conf_unused(struct conf_section *s)
{
	size_t	i;

	if (s == NULL)
		return NULL;
	for (i = 0; i < s->nkv; i++) {
		if (!s->kv[i].used)
			return &s->kv[i];
	}
	return NULL;
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
	free(conf->path);
	free_words(conf->listen);
	free_words(conf->health_listen);
	free(conf->tls_cert);
	free(conf->tls_key);
	free(conf->tls_ciphers);
	free(conf->tls_ciphersuites);
	free(conf->client_ca);
	free_words(conf->client_names);
	free(conf->client_token_file);
	free(conf->fingerprint_key_file);
	free(conf->review_path);
	free(conf->port_file);
	free(conf->user);
	free_words(conf->chain);
	for (i = 0; i < conf->nsections; i++)
		conf_section_clear(&conf->sections[i]);
	free(conf->sections);
	free(conf);
}

static struct config *
config_new(const char *path)
{
	struct config	*conf;

	conf = xcalloc(1, sizeof(*conf));
	conf->path = xstrdup(path);
	conf->listen = split_words("127.0.0.1:8443", &conf->nlisten);
	conf->client_names = split_words("", &conf->nclient_names);
	conf->health_listen = split_words("", &conf->nhealth_listen);
	conf->review_path = xstrdup("/tokenreview");
	conf->workers = 0;
	conf->max_body = 64 * 1024;
	conf->max_header = 16 * 1024;
	conf->max_connections = 4096;
	conf->health_max_connections = 256;
	conf->max_connections_per_client = 64;
	conf->handshake_timeout = 5 * 1000;
	conf->idle_timeout = 120 * 1000;
	conf->read_timeout = 10 * 1000;
	conf->write_timeout = 10 * 1000;
	conf->review_timeout = 10 * 1000;
	conf->shutdown_timeout = 15 * 1000;
	conf->watch_interval = 2 * 1000;
	conf->chain = split_words("", &conf->nchain);
	conf->failed_review_rate = 100;
	conf->failed_review_burst = 1000;
	conf->cache_ttl = 60 * 1000;
	conf->cache_negative_ttl = 10 * 1000;
	conf->cache_max_entries = 100000;
	conf->log_level = LL_INFO;
	conf->log_audit = 1;
	conf->log_flush_interval = 100;
	return conf;
}

/* "16m", "1k" or bytes: limits in messages read like the values. */
static void
conf_fmt_size(long long v, char *buf, size_t len)
{
	if (v != 0 && v % (1024 * 1024) == 0)
		snprintf(buf, len, "%lldm", v / (1024 * 1024));
	else if (v != 0 && v % 1024 == 0)
		snprintf(buf, len, "%lldk", v / 1024);
	else
		snprintf(buf, len, "%lld", v);
}

static void
conf_fmt_ms(long long v, char *buf, size_t len)
{
	if (v != 0 && v % (3600 * 1000) == 0)
		snprintf(buf, len, "%lldh", v / (3600 * 1000));
	else if (v != 0 && v % (60 * 1000) == 0)
		snprintf(buf, len, "%lldm", v / (60 * 1000));
	else if (v % 1000 == 0)
		snprintf(buf, len, "%llds", v / 1000);
	else
		snprintf(buf, len, "%lldms", v);
}

static int
conf_range(const struct config *conf, const struct conf_section *s,
    const struct conf_kv *kv, const struct conf_option *o, long long v,
    char *err, size_t errlen)
{
	char	lo[32], hi[32];

	if (v >= o->min && v <= o->max)
		return 0;
	if (o->type == CONF_DURATION) {
		conf_fmt_ms(o->min, lo, sizeof(lo));
		conf_fmt_ms(o->max, hi, sizeof(hi));
	} else if (o->type == CONF_SIZE) {
		conf_fmt_size(o->min, lo, sizeof(lo));
		conf_fmt_size(o->max, hi, sizeof(hi));
	} else {
		snprintf(lo, sizeof(lo), "%lld", o->min);
		snprintf(hi, sizeof(hi), "%lld", o->max);
	}
	conf_error(conf, s, kv, err, errlen,
	    "\"%s\" is out of range (%s to %s)", kv->value, lo, hi);
	return -1;
}

int
conf_parse_bool(const char *s)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t			 i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	}
	return -1;
}

/* Parse a number-like value (duration, size, count) into v. */
static int
conf_parse_scalar(const struct config *conf, const struct conf_section *s,
    const struct conf_kv *kv, const struct conf_option *o, long long *v,
    char *err, size_t errlen)
{
	size_t	size;

	switch (o->type) {
	case CONF_DURATION:
		if (parse_duration(kv->value, v) == 0)
			return conf_range(conf, s, kv, o, *v, err, errlen);
		conf_error(conf, s, kv, err, errlen, "bad duration \"%s\" "
		    "(a number with ms, s, m or h)", kv->value);
		return -1;
	case CONF_SIZE:
		if (parse_size(kv->value, &size) == 0) {
			/* parse_size() never goes past LLONG_MAX. */
			*v = (long long)size;
			return conf_range(conf, s, kv, o, *v, err, errlen);
		}
		conf_error(conf, s, kv, err, errlen, "bad size \"%s\" "
		    "(bytes, or a number with k or m)", kv->value);
		return -1;
	default:
		if (parse_number(kv->value, 0, LLONG_MAX, v) == 0)
			return conf_range(conf, s, kv, o, *v, err, errlen);
		conf_error(conf, s, kv, err, errlen, "bad number \"%s\"",
		    kv->value);
		return -1;
	}
}

/*
 * The typed getters of the token sources' sections: the value of key
 * (marked used) read and range-checked as the core keys are, with the same
 * messages; def when the key is absent.
 */
static int
conf_get_scalar(const struct config *conf, struct conf_section *s,
    const char *key, enum conf_type type, long long min, long long max,
    long long *v, char *err, size_t errlen)
{
	struct conf_option	 o;
	struct conf_kv		*kv;

	if ((kv = conf_get(s, key)) == NULL)
		return 0;
	memset(&o, 0, sizeof(o));
	o.key = key;
	o.type = type;
	o.min = min;
	o.max = max;
	return conf_parse_scalar(conf, s, kv, &o, v, err, errlen);
}

int
conf_get_duration(const struct config *conf, struct conf_section *s,
    const char *key, long long def, long long min, long long max,
    long long *out, char *err, size_t errlen)
{
	long long	v = def;

	if (conf_get_scalar(conf, s, key, CONF_DURATION, min, max, &v, err,
	    errlen) != 0)
		return -1;
	*out = v;
	return 0;
}

int
conf_get_size(const struct config *conf, struct conf_section *s,
    const char *key, size_t def, size_t min, size_t max, size_t *out,
    char *err, size_t errlen)
{
	long long	v = (long long)def;

	if (conf_get_scalar(conf, s, key, CONF_SIZE, (long long)min,
	    (long long)max, &v, err, errlen) != 0)
		return -1;
	*out = (size_t)v;
	return 0;
}

int
conf_get_int(const struct config *conf, struct conf_section *s,
    const char *key, int def, int min, int max, int *out, char *err,
    size_t errlen)
{
	long long	v = def;

	if (conf_get_scalar(conf, s, key, CONF_INT, min, max, &v, err,
	    errlen) != 0)
		return -1;
	*out = (int)v;
	return 0;
}

static int
conf_bool_value(const struct config *conf, const struct conf_section *s,
    const struct conf_kv *kv, int *out, char *err, size_t errlen)
{
	int	b;

	if ((b = conf_parse_bool(kv->value)) == -1) {
		conf_error(conf, s, kv, err, errlen, "bad boolean \"%s\" "
		    "(yes or no)", kv->value);
		return -1;
	}
	*out = b;
	return 0;
}

int
conf_get_bool(const struct config *conf, struct conf_section *s,
    const char *key, int def, int *out, char *err, size_t errlen)
{
	struct conf_kv	*kv;

	*out = def;
	if ((kv = conf_get(s, key)) == NULL)
		return 0;
	return conf_bool_value(conf, s, kv, out, err, errlen);
}

char *
conf_get_str(struct conf_section *s, const char *key, const char *def)
{
	struct conf_kv	*kv;

	if ((kv = conf_get(s, key)) != NULL)
		return xstrdup(kv->value);
	return def != NULL ? xstrdup(def) : NULL;
}

static int
conf_set_value(struct config *conf, const struct conf_section *s,
    const struct conf_kv *kv, const struct conf_option *o, char *err,
    size_t errlen)
{
	char		*dst = (char *)conf + o->off;
	long long	 v;
	int		 b;

	switch (o->type) {
	case CONF_STRING:
		free(*(char **)dst);
		*(char **)dst = xstrdup(kv->value);
		return 0;
	case CONF_LIST:
		free_words(*(char ***)dst);
		*(char ***)dst = split_words(kv->value,
		    (size_t *)((char *)conf + o->count_off));
		return 0;
	case CONF_BOOL:
		return conf_bool_value(conf, s, kv, (int *)dst, err, errlen);
	case CONF_LEVEL:
		if ((b = log_level_parse(kv->value)) != -1) {
			*(int *)dst = b;
			return 0;
		}
		conf_error(conf, s, kv, err, errlen, "unknown level \"%s\" "
		    "(fatal, error, warn, info, verbose or debug)", kv->value);
		return -1;
	default:
		break;
	}
	if (conf_parse_scalar(conf, s, kv, o, &v, err, errlen) != 0)
		return -1;
	if (o->type == CONF_DURATION)
		*(long long *)dst = v;
	else if (o->type == CONF_INT)
		*(int *)dst = (int)v;
	else
		*(size_t *)dst = (size_t)v;
	return 0;
}

/* One key of a core section: look it up, parse it, check it. */
static int
conf_set(struct config *conf, const struct conf_section *s,
    struct conf_kv *kv, char *err, size_t errlen)
{
	const struct conf_option	*o;

	kv->used = 1;
	if ((o = conf_option_find(s->type, kv->key)) == NULL) {
		conf_error(conf, s, kv, err, errlen, "unknown key");
		return -1;
	}
	if (*kv->value == '\0' && !o->empty_ok) {
		conf_error(conf, s, kv, err, errlen, "empty value");
		return -1;
	}
	if (conf_set_value(conf, s, kv, o, err, errlen) != 0)
		return -1;
	if (o->check != NULL)
		return o->check(conf, s, kv, err, errlen);
	return 0;
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

static int
conf_check_addresses(struct config *conf, const struct conf_section *s,
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
conf_check_listen(struct config *conf, const struct conf_section *s,
    const struct conf_kv *kv, char *err, size_t errlen)
{
	return conf_check_addresses(conf, s, kv, conf->listen, conf->nlisten,
	    err, errlen);
}

static int
conf_check_health_listen(struct config *conf, const struct conf_section *s,
    const struct conf_kv *kv, char *err, size_t errlen)
{
	return conf_check_addresses(conf, s, kv, conf->health_listen,
	    conf->nhealth_listen, err, errlen);
}

/* A cipher list OpenSSL would refuse fails here, with its line. */
static int
conf_check_tls_list(struct config *conf, const struct conf_section *s,
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
conf_check_tls_ciphers(struct config *conf, const struct conf_section *s,
    const struct conf_kv *kv, char *err, size_t errlen)
{
	return conf_check_tls_list(conf, s, kv, conf->tls_ciphers, 0, err,
	    errlen);
}

static int
conf_check_tls_ciphersuites(struct config *conf,
    const struct conf_section *s, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	return conf_check_tls_list(conf, s, kv, conf->tls_ciphersuites, 1,
	    err, errlen);
}

static int
conf_check_review_path(struct config *conf, const struct conf_section *s,
    const struct conf_kv *kv, char *err, size_t errlen)
{
	const char	*p = conf->review_path;
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
conf_check_chain(struct config *conf, const struct conf_section *s,
    const struct conf_kv *kv, char *err, size_t errlen)
{
	const char	*dup;

	if (conf_has_duplicate(conf->chain, conf->nchain, &dup)) {
		conf_error(conf, s, kv, err, errlen, "\"%s\" listed twice",
		    dup);
		return -1;
	}
	conf->chain_line = kv->line;
	return 0;
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
	if (conf->tls_cert == NULL) {
		conf_error(conf, s, NULL, err, errlen, "tls_cert is required");
		return -1;
	}
	if (conf->tls_key == NULL) {
		conf_error(conf, s, NULL, err, errlen, "tls_key is required");
		return -1;
	}
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
 * Turn the core sections into fields and keep the others, in file order,
 * in conf->sections.
 */
static int
conf_apply(struct config *conf, char *err, size_t errlen)
{
	struct conf_section	*all = conf->sections, *server = NULL;
	size_t			 n = conf->nsections, i, j;
	int			 r = -1;

	conf->sections = xcalloc(n, sizeof(*conf->sections));
	conf->nsections = 0;
	for (i = 0; i < n; i++) {
		if (!conf_is_core(all[i].type)) {
			conf->sections[conf->nsections++] = all[i];
			memset(&all[i], 0, sizeof(all[i]));
			continue;
		}
		if (strcmp(all[i].type, "server") == 0)
			server = &all[i];
		for (j = 0; j < all[i].nkv; j++) {
			if (conf_set(conf, &all[i], &all[i].kv[j], err,
			    errlen) != 0)
				goto out;
		}
	}
	r = conf_check_server(conf, server, err, errlen);
out:
	for (i = 0; i < n; i++)
		conf_section_clear(&all[i]);
	free(all);
	return r;
}

static void
conf_parse_fail(struct conf_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "FILE:LINE: msg" for the line being read; the first error wins. */
static void
conf_parse_fail(struct conf_parse *p, const char *fmt, ...)
{
	char	msg[TR_ERRLEN];
	va_list	ap;

	if (p->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "%s:%d: %s", p->conf->path, p->line, msg);
	p->failed = 1;
}

/* The label of a header, from just after the opening quote. */
static int
conf_header_label(struct conf_parse *p, const char *raw, const char *q,
    char **label)
{
	const char	*close, *c;

	if ((close = strchr(q, '"')) == NULL) {
		conf_parse_fail(p, "[%s]: unterminated quote", raw);
		return -1;
	}
	if (close == q) {
		conf_parse_fail(p, "[%s]: empty label", raw);
		return -1;
	}
	for (c = q; c < close; c++) {
		if ((unsigned char)*c < ' ' || *c == 0x7f) {
			conf_parse_fail(p, "[%s]: control character in label",
			    raw);
			return -1;
		}
	}
	for (c = close + 1; *c == ' ' || *c == '\t'; c++)
		;
	if (*c != '\0') {
		conf_parse_fail(p, "[%s]: unexpected text after the label",
		    raw);
		return -1;
	}
	*label = xstrndup(q, (size_t)(close - q));
	return 0;
}

/* Split "type" or "type "label"" (the text between the brackets). */
static int
conf_header_split(struct conf_parse *p, const char *raw, char **type,
    char **label)
{
	const char	*t, *q;
	size_t		 tlen;

	for (t = raw; *t == ' ' || *t == '\t'; t++)
		;
	tlen = strspn(t, CONF_NAMECHARS);
	q = t + tlen;
	if (tlen == 0 || (*q != '\0' && *q != ' ' && *q != '\t')) {
		conf_parse_fail(p, "[%s]: bad section name (letters, digits, "
		    "'_' and '-')", raw);
		return -1;
	}
	while (*q == ' ' || *q == '\t')
		q++;
	if (*q != '\0' && *q != '"') {
		conf_parse_fail(p, "[%s]: labels are quoted, as in "
		    "[ldap \"corp\"]", raw);
		return -1;
	}
	if (*q == '"' && conf_header_label(p, raw, q + 1, label) != 0)
		return -1;
	*type = xstrndup(t, tlen);
	if (*label != NULL && conf_is_core(*type)) {
		conf_parse_fail(p, "[%s]: section [%s] takes no label", raw,
		    *type);
		return -1;
	}
	return 0;
}

/* Record a new section; a repeated type and label is an error. */
static int
conf_section_add(struct conf_parse *p, char *type, char *label)
{
	struct config		*conf = p->conf;
	struct conf_section	*s, *old;

	if ((old = config_find_section(conf, type, label)) != NULL) {
		conf_error(conf, &(struct conf_section){ .type = type,
		    .label = label, .line = p->line }, NULL, p->err,
		    p->errlen, "duplicate section (first at line %d)",
		    old->line);
		p->failed = 1;
		return -1;
	}
	conf->sections = xreallocarray(conf->sections, conf->nsections + 1,
	    sizeof(*conf->sections));
	s = &conf->sections[conf->nsections];
	memset(s, 0, sizeof(*s));
	s->type = type;
	s->label = label;
	s->line = p->line;
	p->cur = (ssize_t)conf->nsections++;
	return 0;
}

/* A line starting with '[': a section header, maybe with a comment. */
static int
conf_header(struct conf_parse *p, const char *line)
{
	const char	*end, *c;
	char		*raw, *type = NULL, *label = NULL;
	int		 r = -1;

	if ((end = strchr(line, ']')) == NULL) {
		conf_parse_fail(p, "%s: missing ']'", line);
		return -1;
	}
	raw = xstrndup(line + 1, (size_t)(end - line - 1));
	for (c = end + 1; *c == ' ' || *c == '\t'; c++)
		;
	if (*c != '\0' && *c != ';' && *c != '#') {
		conf_parse_fail(p, "[%s]: unexpected text after ']'", raw);
		goto out;
	}
	if (conf_header_split(p, raw, &type, &label) != 0)
		goto out;
	if (conf_section_add(p, type, label) != 0)
		goto out;
	type = label = NULL;
	r = 0;
out:
	free(raw);
	free(type);
	free(label);
	return r;
}

/*
 * Where a key line splits: its first '=' or ':', unless an inline comment
 * (a ';' after a blank) comes first, as inih decides.  NULL when the line
 * has no separator, a syntax error; checked here so that the error is
 * reported at its own line even when inih, which keeps going, would reach
 * a later error first.
 */
static const char *
conf_key_split(const char *s)
{
	int	was_space = 0;

	for (; *s != '\0'; s++) {
		if (*s == '=' || *s == ':')
			return s;
		if (was_space && *s == ';')
			return NULL;
		was_space = isspace((unsigned char)*s);
	}
	return NULL;
}

static char *
conf_strip(const char *s, size_t len)
{
	while (len > 0 && isspace((unsigned char)*s)) {
		s++;
		len--;
	}
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	return xstrndup(s, len);
}

/*
 * inih's line buffer is small (199 characters on Debian).  A longer key
 * line is split here by inih's own rules and the handler takes the key
 * and value from p instead of from inih, which is given a stand-in line.
 */
static void
conf_long_line(struct conf_parse *p, const char *s, const char *sep)
{
	const char	*v = sep + 1, *end;
	int		 was_space = 0;

	for (end = v; *end != '\0'; end++) {
		if (was_space && *end == ';')
			break;
		was_space = isspace((unsigned char)*end);
	}
	p->long_key = conf_strip(s, (size_t)(sep - s));
	p->long_value = conf_strip(v, (size_t)(end - v));
}

/*
 * Leading blanks are removed before inih sees a line: inih would take an
 * indented line for the continuation of the previous value, and indented
 * keys are a common way to lay out a file.
 */
static int
conf_read_line(struct conf_parse *p, char **linep, size_t *lenp)
{
	ssize_t	 n;
	char	*s;

	errno = 0;
	if ((n = getline(&p->buf, &p->bufsize, p->f)) == -1) {
		if (ferror(p->f)) {
			snprintf(p->err, p->errlen, "%s: %s", p->conf->path,
			    strerror(errno != 0 ? errno : EIO));
			p->failed = 1;
		}
		return -1;
	}
	p->line++;
	s = p->buf;
	if (strlen(s) != (size_t)n) {
		conf_parse_fail(p, "syntax error (NUL byte)");
		return -1;
	}
	if (n > CONF_MAX_LINE) {
		conf_parse_fail(p, "line longer than %d bytes", CONF_MAX_LINE);
		return -1;
	}
	while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	if (p->line == 1 && strncmp(s, "\xef\xbb\xbf", 3) == 0)
		s += 3;
	while (*s == ' ' || *s == '\t')
		s++;
	*linep = s;
	*lenp = strlen(s);
	return 0;
}

/*
 * Hand inih one line at a time, so p->line is the line of every handler
 * call.  Section headers and syntax are dealt with here; what inih gets
 * is a line it parses the same way we would.
 */
static char *
conf_reader_cb(char *str, int num, void *arg)
{
	struct conf_parse	*p = arg;
	const char		*sep;
	char			*s;
	size_t			 len;

	free(p->long_key);
	free(p->long_value);
	p->long_key = p->long_value = NULL;
	if (p->failed)
		return NULL;
	if (num < 16) {
		conf_parse_fail(p, "inih's line buffer is too small");
		return NULL;
	}
	if (conf_read_line(p, &s, &len) != 0)
		return NULL;
	if (*s == '\0' || *s == ';' || *s == '#')
		s = (char *)"";
	else if (*s == '[') {
		if (conf_header(p, s) != 0)
			return NULL;
		s = (char *)"[]";
	} else if ((sep = conf_key_split(s)) == NULL) {
		conf_parse_fail(p, "syntax error");
		return NULL;
	} else if (len >= (size_t)num) {
		conf_long_line(p, s, sep);
		s = (char *)"long=line";
	}
	/* Every line that gets here is shorter than num. */
	memcpy(str, s, strlen(s) + 1);
	return str;
}

static int
conf_handler_cb(void *arg, const char *section, const char *name,
    const char *value)
{
	struct conf_parse	*p = arg;
	struct conf_section	*s;
	struct conf_kv		*kv, key = { .key = NULL };
	size_t			 i;

	if (p->failed)
		return 1;
	if (p->long_key != NULL) {
		name = p->long_key;
		value = p->long_value;
	}
	key.key = (char *)name;
	key.line = p->line;
	if (p->cur == -1) {
		conf_error(p->conf, NULL, &key, p->err, p->errlen,
		    "not in any section");
		p->failed = 1;
		return 1;
	}
	s = &p->conf->sections[p->cur];
	if (*name == '\0') {
		conf_error(p->conf, &(struct conf_section){ .type = s->type,
		    .label = s->label, .line = p->line }, NULL, p->err,
		    p->errlen, "missing key name");
		p->failed = 1;
		return 1;
	}
	for (i = 0; i < s->nkv; i++) {
		if (strcmp(s->kv[i].key, name) == 0) {
			conf_error(p->conf, s, &key, p->err, p->errlen,
			    "duplicate key (first at line %d)", s->kv[i].line);
			p->failed = 1;
			return 1;
		}
	}
	s->kv = xreallocarray(s->kv, s->nkv + 1, sizeof(*s->kv));
	kv = &s->kv[s->nkv++];
	kv->key = xstrdup(name);
	kv->value = xstrdup(value != NULL ? value : "");
	kv->line = p->line;
	kv->used = 0;
	return 1;
}

struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct conf_parse	 p;
	struct config		*conf, *ret = NULL;
	int			 rv;

	memset(&p, 0, sizeof(p));
	conf = config_new(path);
	if ((p.f = fopen(path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	p.conf = conf;
	p.cur = -1;
	p.err = err;
	p.errlen = errlen;
	rv = ini_parse_stream(conf_reader_cb, &p, conf_handler_cb, &p);
	if (p.failed)
		goto out;
	if (rv != 0) {
		/* The reader checks what inih would reject; a fallback. */
		if (rv > 0)
			snprintf(err, errlen, "%s:%d: syntax error", path, rv);
		else
			snprintf(err, errlen, "%s: cannot parse", path);
		goto out;
	}
	if (conf_apply(conf, err, errlen) != 0)
		goto out;
	ret = conf;
	conf = NULL;
out:
	if (p.f != NULL)
		fclose(p.f);
	free(p.buf);
	free(p.long_key);
	free(p.long_value);
	config_free(conf);
	return ret;
}
