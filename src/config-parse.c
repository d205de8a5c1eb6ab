/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Reading the configuration file: its lines into sections of raw keys,
 * each with the line it came from, for config.c and the token sources to
 * interpret.  inih does not tell its handler the line number, so lines
 * reach it through our own reader, which counts them, records section
 * headers (inih reports neither empty sections nor repeated ones), checks
 * the syntax of each line so that the first error in the file is the one
 * reported, and splits the lines too long for inih's fixed buffer itself.
 */

#include <sys/types.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "tokenreviewd.h"

#define CONF_MAX_LINE	65536
#define CONF_NAMECHARS	"abcdefghijklmnopqrstuvwxyz" \
			"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"

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
	if (*label != NULL && config_core_section(*type)) {
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

/*
 * Read conf->path into conf->sections, every section as raw keys with
 * their lines.  0, or -1 with err set.
 */
int
config_parse_file(struct config *conf, char *err, size_t errlen)
{
	struct conf_parse	 p;
	int			 rv, r = -1;

	memset(&p, 0, sizeof(p));
	if ((p.f = fopen(conf->path, "re")) == NULL) {
		snprintf(err, errlen, "%s: %s", conf->path, strerror(errno));
		return -1;
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
			snprintf(err, errlen, "%s:%d: syntax error",
			    conf->path, rv);
		else
			snprintf(err, errlen, "%s: cannot parse", conf->path);
		goto out;
	}
	r = 0;
out:
	fclose(p.f);
	free(p.buf);
	free(p.long_key);
	free(p.long_value);
	return r;
}
