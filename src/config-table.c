/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Section config from a declarative table, for the core's own sections
 * and for every token source's: each option names its key, its type,
 * where the value goes, its range and its default, and conf_read_section()
 * does the rest (typed parsing, range checks, unknown and required keys),
 * so that every message reads "FILE:LINE: [sect] key: ..." the same way
 * whichever section it is about.  The typed getters (conf_get_int() and
 * the others) share the parsing and the wording, for readers that are not
 * table-driven yet.
 */

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tokenreviewd.h"

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
	char		lo[32], hi[32];
	long long	min = o->min, max = o->max;

	/* No bounds: what the field can hold. */
	if (min == 0 && max == 0)
		max = o->type == CONF_INT ? INT_MAX : LLONG_MAX;
	if (v >= min && v <= max)
		return 0;
	if (o->type == CONF_DURATION) {
		conf_fmt_ms(min, lo, sizeof(lo));
		conf_fmt_ms(max, hi, sizeof(hi));
	} else if (o->type == CONF_SIZE) {
		conf_fmt_size(min, lo, sizeof(lo));
		conf_fmt_size(max, hi, sizeof(hi));
	} else {
		snprintf(lo, sizeof(lo), "%lld", min);
		snprintf(hi, sizeof(hi), "%lld", max);
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


/* The option of the table that takes key: its own, else a prefix one. */
static const struct conf_option *
conf_option_find(const struct conf_option *t, size_t n, const char *key)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if (!(t[i].flags & CONF_PREFIX) && strcmp(t[i].key, key) == 0)
			return &t[i];
	}
	for (i = 0; i < n; i++) {
		if ((t[i].flags & CONF_PREFIX) &&
		    strncmp(t[i].key, key, strlen(t[i].key)) == 0)
			return &t[i];
	}
	return NULL;
}

static int
conf_choice_value(const struct config *conf, const struct conf_section *s,
    const struct conf_kv *kv, const struct conf_option *o, int *out,
    char *err, size_t errlen)
{
	char	list[TR_ERRLEN] = "";
	size_t	i;

	for (i = 0; o->choices[i] != NULL; i++) {
		if (strcmp(kv->value, o->choices[i]) == 0) {
			*out = (int)i;
			return 0;
		}
	}
	for (i = 0; o->choices[i] != NULL; i++) {
		if (i > 0)
			strlcat(list, o->choices[i + 1] == NULL ? " or " :
			    ", ", sizeof(list));
		strlcat(list, o->choices[i], sizeof(list));
	}
	conf_error(conf, s, kv, err, errlen, "unknown value \"%s\" (%s)",
	    kv->value, list);
	return -1;
}

/* Parse kv as o says into its field of obj. */
static int
conf_set_value(void *obj, const struct config *conf,
    const struct conf_section *s, const struct conf_kv *kv,
    const struct conf_option *o, char *err, size_t errlen)
{
	char		*dst = (char *)obj + o->offset;
	long long	 v;

	switch (o->type) {
	case CONF_STRING:
	case CONF_PATH:
		free(*(char **)dst);
		*(char **)dst = xstrdup(kv->value);
		return 0;
	case CONF_LIST:
		free_words(*(char ***)dst);
		*(char ***)dst = split_words(kv->value, o->count_offset == 0 ?
		    NULL : (size_t *)((char *)obj + o->count_offset));
		return 0;
	case CONF_BOOL:
		return conf_bool_value(conf, s, kv, (int *)dst, err, errlen);
	case CONF_CHOICE:
		return conf_choice_value(conf, s, kv, o, (int *)dst, err,
		    errlen);
	case CONF_RAW:
		return 0;
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

/* One key of a section: look it up, parse it, check it. */
static int
conf_read_key(const struct conf_option *t, size_t n, void *obj,
    const struct config *conf, const struct conf_section *s,
    struct conf_kv *kv, char *err, size_t errlen)
{
	const struct conf_option	*o;

	kv->used = 1;
	if ((o = conf_option_find(t, n, kv->key)) == NULL) {
		conf_error(conf, s, kv, err, errlen, "unknown key");
		return -1;
	}
	if (*kv->value == '\0' && !(o->flags & CONF_EMPTY_OK)) {
		conf_error(conf, s, kv, err, errlen, "empty value");
		return -1;
	}
	if (conf_set_value(obj, conf, s, kv, o, err, errlen) != 0)
		return -1;
	if (o->check != NULL)
		return o->check(obj, conf, s, kv, err, errlen);
	return 0;
}

int
conf_read_keys(const struct conf_option *t, size_t n, void *obj,
    const struct config *conf, struct conf_section *s, char *err,
    size_t errlen)
{
	size_t	i;

	if (s == NULL)
		return 0;
	for (i = 0; i < s->nkv; i++) {
		if (conf_read_key(t, n, obj, conf, s, &s->kv[i], err,
		    errlen) != 0)
			return -1;
	}
	return 0;
}

/* 1 if the section has key (or, for a prefix option, a key it takes). */
static int
conf_has_key(const struct conf_section *s, const struct conf_option *o)
{
	size_t	i, len = strlen(o->key);

	for (i = 0; s != NULL && i < s->nkv; i++) {
		if ((o->flags & CONF_PREFIX) ?
		    strncmp(s->kv[i].key, o->key, len) == 0 :
		    strcmp(s->kv[i].key, o->key) == 0)
			return 1;
	}
	return 0;
}

int
conf_check_required(const struct conf_option *t, size_t n,
    const struct config *conf, const struct conf_section *s, char *err,
    size_t errlen)
{
	size_t	i;

	for (i = 0; i < n; i++) {
		if ((t[i].flags & CONF_REQUIRED) && !conf_has_key(s, &t[i])) {
			conf_error(conf, s, NULL, err, errlen,
			    "%s is required", t[i].key);
			return -1;
		}
	}
	return 0;
}

/*
 * Defaults are written by the table's authors: one that does not parse
 * is a bug, caught by the first run of any test.
 */
void
conf_table_defaults(const struct conf_option *t, size_t n, void *obj)
{
	struct conf_section	 s = { .type = (char *)"default" };
	struct config		 conf = { .path = (char *)"default" };
	struct conf_kv		 kv;
	char			 err[TR_ERRLEN];
	size_t			 i;

	for (i = 0; i < n; i++) {
		if (t[i].type == CONF_LIST && t[i].def == NULL) {
			free_words(*(char ***)((char *)obj + t[i].offset));
			*(char ***)((char *)obj + t[i].offset) =
			    split_words("", t[i].count_offset == 0 ? NULL :
			    (size_t *)((char *)obj + t[i].count_offset));
		}
		if (t[i].def == NULL)
			continue;
		memset(&kv, 0, sizeof(kv));
		kv.key = (char *)t[i].key;
		kv.value = (char *)t[i].def;
		if (conf_set_value(obj, &conf, &s, &kv, &t[i], err,
		    sizeof(err)) != 0 || (t[i].type == CONF_RAW &&
		    t[i].check(obj, &conf, &s, &kv, err, sizeof(err)) != 0))
			fatalx("%s", err);
	}
}

int
conf_read_section(const struct conf_option *t, size_t n, void *obj,
    const struct config *conf, struct conf_section *s, char *err,
    size_t errlen)
{
	conf_table_defaults(t, n, obj);
	if (conf_read_keys(t, n, obj, conf, s, err, errlen) != 0)
		return -1;
	return conf_check_required(t, n, conf, s, err, errlen);
}

void
conf_table_free(const struct conf_option *t, size_t n, void *obj)
{
	char	*dst;
	size_t	 i;

	if (obj == NULL)
		return;
	for (i = 0; i < n; i++) {
		dst = (char *)obj + t[i].offset;
		if (t[i].type == CONF_STRING || t[i].type == CONF_PATH) {
			free(*(char **)dst);
			*(char **)dst = NULL;
		} else if (t[i].type == CONF_LIST) {
			free_words(*(char ***)dst);
			*(char ***)dst = NULL;
		}
	}
}
