/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Logging: one JSON object per line on stderr, written with one write(2)
 * so that lines of several threads never interleave.  Every string value
 * is escaped (control characters, quotes, invalid UTF-8), so nothing a
 * client sends can forge a line.  Tokens and passwords are never passed
 * here: callers log fingerprint() instead.
 */

#include <sys/time.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "tokenreviewd.h"

static int	log_level = LL_INFO;

/* Writers take this, so batches of lines never interleave on a pipe. */
static pthread_mutex_t	log_mtx = PTHREAD_MUTEX_INITIALIZER;

#define LOG_BUFSIZE	(64 * 1024)

static __thread char	*tbuf;		/* this thread's batch, or NULL */
static __thread size_t	 tbuf_len;

static const char *const level_names[] = {
	"fatal", "error", "warn", "info", "verbose", "debug"
};

void
log_init(int level)
{
	log_level = level;
}

void
log_set_level(int level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

int
log_get_level(void)
{
	return __atomic_load_n(&log_level, __ATOMIC_RELAXED);
}

int
log_level_parse(const char *s)
{
	size_t	i;

	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(s, level_names[i]) == 0)
			return (int)i;
	}
	if (strcmp(s, "warning") == 0)
		return LL_WARN;
	return -1;
}

static void
line_raw(struct log_line *l, const char *s, size_t n)
{
	/* Keep room for the closing "}\n". */
	if (l->overflow || l->len + n + 2 > sizeof(l->buf)) {
		l->overflow = 1;
		return;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

/*
 * A value as a JSON string, whole or not at all.  It is measured first
 * only when its longest form (each byte a six-byte escape, and the
 * quotes) might not fit.
 */
static void
line_escaped(struct log_line *l, const char *value, size_t n)
{
	size_t	need;

	if (!l->overflow && n < sizeof(l->buf) / 6 &&
	    l->len + 6 * n + 2 + 2 <= sizeof(l->buf)) {
		l->len += json_quote(value, n, l->buf + l->len);
		return;
	}
	need = json_quote(value, n, NULL);
	if (l->overflow || l->len + need + 2 > sizeof(l->buf)) {
		l->overflow = 1;
		return;
	}
	l->len += json_quote(value, n, l->buf + l->len);
}

static void
line_key(struct log_line *l, const char *key)
{
	line_raw(l, ",\"", 2);
	line_raw(l, key, strlen(key));
	line_raw(l, "\":", 2);
}

/*
 * The "2026-11-28T12:47:19" part of the time, redone only when the second
 * changes: audit lines are written for every review.
 */
static size_t
time_prefix(char *out, const struct timeval *tv)
{
	static __thread time_t	 cached_sec = -1;
	static __thread char	 cached[24];
	static __thread size_t	 cached_len;
	struct tm		 tm;

	if (tv->tv_sec != cached_sec) {
		gmtime_r(&tv->tv_sec, &tm);
		cached_len = strftime(cached, sizeof(cached),
		    "%Y-%m-%dT%H:%M:%S", &tm);
		cached_sec = tv->tv_sec;
	}
	memcpy(out, cached, cached_len);
	return cached_len;
}

/* Decimal digits of v into out; returns their count. */
static size_t
format_uint(char *out, unsigned long long v, size_t min_digits)
{
	char	tmp[24];
	size_t	n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0 || n < min_digits);
	for (i = 0; i < n; i++)
		out[i] = tmp[n - 1 - i];
	return n;
}

int
log_line_begin(struct log_line *l, int level, const char *event)
{
	struct timeval	tv;
	char		ts[40];
	size_t		n;

	if ((level & LL_ALWAYS) == 0 && level > log_get_level())
		return 0;
	level &= ~LL_ALWAYS;
	l->len = 0;
	l->overflow = 0;
	l->level = level;
	gettimeofday(&tv, NULL);
	n = time_prefix(ts, &tv);
	ts[n++] = '.';
	n += format_uint(ts + n, (unsigned long long)tv.tv_usec / 1000, 3);
	ts[n++] = 'Z';
	line_raw(l, "{\"time\":\"", 9);
	line_raw(l, ts, n);
	line_raw(l, "\",\"level\":\"", 11);
	line_raw(l, level_names[level], strlen(level_names[level]));
	line_raw(l, "\"", 1);
	log_line_str(l, "event", event);
	return 1;
}

void
log_line_strn(struct log_line *l, const char *key, const char *value,
    size_t len)
{
	line_key(l, key);
	if (value == NULL)
		line_raw(l, "null", 4);
	else
		line_escaped(l, value, len);
}

void
log_line_str(struct log_line *l, const char *key, const char *value)
{
	log_line_strn(l, key, value, value == NULL ? 0 : strlen(value));
}

void
log_line_int(struct log_line *l, const char *key, long long value)
{
	char	num[32];
	size_t	n = 0;

	line_key(l, key);
	if (value < 0)
		num[n++] = '-';
	n += format_uint(num + n, value < 0 ? -(unsigned long long)value :
	    (unsigned long long)value, 1);
	line_raw(l, num, n);
}

/* Six decimals, without printf's floating point machinery. */
void
log_line_double(struct log_line *l, const char *key, double value)
{
	unsigned long long	 micro;
	char			 num[48];
	size_t			 n = 0;

	line_key(l, key);
	if (!(value > -1e12 && value < 1e12)) {
		line_raw(l, "null", 4);
		return;
	}
	if (value < 0) {
		num[n++] = '-';
		value = -value;
	}
	micro = (unsigned long long)(value * 1e6 + 0.5);
	n += format_uint(num + n, micro / 1000000, 1);
	num[n++] = '.';
	n += format_uint(num + n, micro % 1000000, 6);
	line_raw(l, num, n);
}

static void
write_all(const char *buf, size_t len)
{
	size_t	off = 0;
	ssize_t	n;

	pthread_mutex_lock(&log_mtx);
	while (off < len) {
		n = write(STDERR_FILENO, buf + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	pthread_mutex_unlock(&log_mtx);
}

void
log_flush(void)
{
	if (tbuf != NULL && tbuf_len > 0) {
		write_all(tbuf, tbuf_len);
		tbuf_len = 0;
	}
}

void
log_buffer(int on)
{
	if (on && tbuf == NULL) {
		tbuf = xmalloc(LOG_BUFSIZE);
		tbuf_len = 0;
	} else if (!on && tbuf != NULL) {
		log_flush();
		free(tbuf);
		tbuf = NULL;
	}
}

void
log_line_end(struct log_line *l)
{
	static const char cut[] = ",\"truncated\":true";

	if (l->overflow) {
		/* Cut back to the last complete field and say so. */
		while (l->len > 0 && (l->buf[l->len - 1] != '"' ||
		    l->len + sizeof(cut) + 1 > sizeof(l->buf)))
			l->len--;
		memcpy(l->buf + l->len, cut, sizeof(cut) - 1);
		l->len += sizeof(cut) - 1;
	}
	l->buf[l->len++] = '}';
	l->buf[l->len++] = '\n';
	if (tbuf != NULL && l->level >= LL_INFO) {
		if (tbuf_len + l->len > LOG_BUFSIZE)
			log_flush();
		memcpy(tbuf + tbuf_len, l->buf, l->len);
		tbuf_len += l->len;
		return;
	}
	log_flush();
	write_all(l->buf, l->len);
}

static void
log_vmsg(int level, const char *event, const char *fmt, va_list ap)
{
	struct log_line	l;
	char		msg[2048];

	if (!log_line_begin(&l, level, event))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_line_str(&l, "msg", msg);
	log_line_end(&l);
}

void
log_msg(int level, const char *event, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(level, event, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	char	msg[1024];
	int	saved = errno;
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(LL_FATAL, "fatal", "%s: %s", msg, strerror(saved));
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	log_vmsg(LL_FATAL, "fatal", fmt, ap);
	va_end(ap);
	exit(1);
}

static void
libevent_log_cb(int severity, const char *msg)
{
	int	level;

	switch (severity) {
	case EVENT_LOG_DEBUG:
		level = LL_DEBUG;
		break;
	case EVENT_LOG_MSG:
		level = LL_VERBOSE;
		break;
	case EVENT_LOG_WARN:
		level = LL_WARN;
		break;
	default:
		level = LL_ERROR;
		break;
	}
	log_msg(level, "libevent", "%s", msg);
}

void
log_route_libevent(void)
{
	event_set_log_callback(libevent_log_cb);
}
