/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the token sources' toolkit (toolkit.h): the option table
 * with each type, its ranges, required and unknown keys; the metric
 * helpers' escaping and histogram text; the backoff's bounds; the string
 * vector; text validation, JSON quoting and the timer conversions.
 */

#include <sys/time.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "tokenreviewd.h"
#include "tap.h"

struct tk_obj {
	char		*name;
	char		*file;
	int		 n;
	size_t		 count;
	long long	 ms;
	size_t		 size;
	int		 flag;
	int		 mode;
	char		**words;
	size_t		 nwords;
	int		 raw_seen;
	int		 nextra;
};

static const char *const tk_modes[] = { "search", "bind", NULL };

static int
tk_check_raw(void *obj, const struct config *conf,
    const struct conf_section *s, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	struct tk_obj	*o = obj;

	if (strcmp(kv->value, "bad") == 0) {
		conf_error(conf, s, kv, err, errlen, "raw refused");
		return -1;
	}
	o->raw_seen++;
	return 0;
}

static int
tk_check_extra(void *obj, const struct config *conf,
    const struct conf_section *s, const struct conf_kv *kv, char *err,
    size_t errlen)
{
	((struct tk_obj *)obj)->nextra++;
	return 0;
}

#define F(f)	offsetof(struct tk_obj, f)
static const struct conf_option tk_options[] = {
	{ "name", CONF_STRING, F(name), 0, 0, 0, "anon", 0, NULL, NULL },
	{ "file", CONF_PATH, F(file), 0, 0, 0, NULL, CONF_REQUIRED, NULL,
	  NULL },
	{ "n", CONF_INT, F(n), 0, 1, 10, "3", 0, NULL, NULL },
	{ "count", CONF_COUNT, F(count), 0, 0, 0, NULL, 0, NULL, NULL },
	{ "timeout", CONF_DURATION, F(ms), 0, 1, 60000, "5s", 0, NULL, NULL },
	{ "max", CONF_SIZE, F(size), 0, 1024, 1024 * 1024, "64k", 0, NULL,
	  NULL },
	{ "flag", CONF_BOOL, F(flag), 0, 0, 0, "no", 0, NULL, NULL },
	{ "mode", CONF_CHOICE, F(mode), 0, 0, 0, "bind", 0, tk_modes, NULL },
	{ "words", CONF_LIST, F(words), F(nwords), 0, 0, NULL, CONF_EMPTY_OK,
	  NULL, NULL },
	{ "raw", CONF_RAW, 0, 0, 0, 0, NULL, 0, NULL, tk_check_raw },
	{ "extra_", CONF_RAW, 0, 0, 0, 0, NULL, CONF_PREFIX, NULL,
	  tk_check_extra },
};
#undef F

/* Read a section of "key=value" pairs; returns conf_read_section()'s. */
static int
tk_read(struct tk_obj *o, const char *const *pairs, char *err,
    size_t errlen)
{
	struct config		conf = { .path = (char *)"t.conf" };
	struct conf_section	s = { .type = (char *)"tk", .line = 1 };
	struct conf_kv		kv[16];
	const char		*eq;
	size_t			i;
	int			r;

	memset(o, 0, sizeof(*o));
	memset(kv, 0, sizeof(kv));
	for (i = 0; pairs[i] != NULL; i++) {
		eq = strchr(pairs[i], '=');
		kv[i].key = xstrndup(pairs[i], (size_t)(eq - pairs[i]));
		kv[i].value = xstrdup(eq + 1);
		kv[i].line = (int)i + 2;
	}
	s.kv = kv;
	s.nkv = i;
	err[0] = '\0';
	r = conf_read_section(tk_options, CONF_NOPTIONS(tk_options), o, &conf,
	    &s, err, errlen);
	for (i = 0; i < s.nkv; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	return r;
}

static void
test_table_types(void)
{
	static const char *const all[] = { "name=x", "file=/f", "n=10",
	    "count=12345", "timeout=250ms", "max=1m", "flag=yes", "mode=search",
	    "words=a b  c", "raw=r", "extra_a=1", "extra_b=2", NULL };
	static const char *const min[] = { "file=/f", NULL };
	struct tk_obj	 o;
	char		 err[TR_ERRLEN];

	ok(tk_read(&o, all, err, sizeof(err)) == 0, "every type reads");
	is_str(o.name, "x", "string");
	is_str(o.file, "/f", "path");
	is_int(o.n, 10, "int at its maximum");
	is_int(o.count, 12345, "count without bounds");
	is_int(o.ms, 250, "duration in ms");
	is_int(o.size, 1024 * 1024, "size with a suffix");
	is_int(o.flag, 1, "bool");
	is_int(o.mode, 0, "choice: the index");
	ok(o.nwords == 3 && strcmp(o.words[2], "c") == 0 &&
	    o.words[3] == NULL, "list, NULL-terminated, with its count");
	is_int(o.raw_seen, 1, "raw: the check callback ran");
	is_int(o.nextra, 2, "prefix: both keys went to its callback");
	conf_table_free(tk_options, CONF_NOPTIONS(tk_options), &o);
	ok(o.name == NULL && o.file == NULL && o.words == NULL,
	    "conf_table_free() clears what it frees");

	ok(tk_read(&o, min, err, sizeof(err)) == 0, "defaults only");
	is_str(o.name, "anon", "string default");
	is_int(o.n, 3, "int default");
	is_int(o.ms, 5000, "duration default");
	is_int(o.size, 65536, "size default");
	is_int(o.flag, 0, "bool default");
	is_int(o.mode, 1, "choice default");
	ok(o.words != NULL && o.words[0] == NULL && o.nwords == 0,
	    "a list without a default is empty, not NULL");
	conf_table_free(tk_options, CONF_NOPTIONS(tk_options), &o);
}

static const struct {
	const char	*pair;
	const char	*err;
} tk_bad[] = {
	{ "n=0", "t.conf:3: [tk] n: \"0\" is out of range (1 to 10)" },
	{ "n=11", "t.conf:3: [tk] n: \"11\" is out of range (1 to 10)" },
	{ "n=x", "t.conf:3: [tk] n: bad number \"x\"" },
	{ "timeout=2m", "t.conf:3: [tk] timeout: \"2m\" is out of range "
	  "(1ms to 1m)" },
	{ "timeout=1d", "t.conf:3: [tk] timeout: bad duration \"1d\" (a "
	  "number with ms, s, m or h)" },
	{ "max=512", "t.conf:3: [tk] max: \"512\" is out of range (1k to "
	  "1m)" },
	{ "max=1g", "t.conf:3: [tk] max: bad size \"1g\" (bytes, or a number "
	  "with k or m)" },
	{ "flag=maybe", "t.conf:3: [tk] flag: bad boolean \"maybe\" (yes or "
	  "no)" },
	{ "mode=x", "t.conf:3: [tk] mode: unknown value \"x\" (search or "
	  "bind)" },
	{ "name=", "t.conf:3: [tk] name: empty value" },
	{ "raw=bad", "t.conf:3: [tk] raw: raw refused" },
	{ "nosuch=1", "t.conf:3: [tk] nosuch: unknown key" },
	{ "extra=1", "t.conf:3: [tk] extra: unknown key" },
};

static void
test_table_errors(void)
{
	static const char *const none[] = { "name=x", NULL };
	const char	*pairs[3];
	struct tk_obj	 o;
	char		 err[TR_ERRLEN];
	size_t		 i;

	for (i = 0; i < sizeof(tk_bad) / sizeof(tk_bad[0]); i++) {
		pairs[0] = "file=/f";
		pairs[1] = tk_bad[i].pair;
		pairs[2] = NULL;
		ok(tk_read(&o, pairs, err, sizeof(err)) == -1, "%s refused",
		    tk_bad[i].pair);
		is_str(err, tk_bad[i].err, "%s: message", tk_bad[i].pair);
		conf_table_free(tk_options, CONF_NOPTIONS(tk_options), &o);
	}
	ok(tk_read(&o, none, err, sizeof(err)) == -1, "required key missing");
	is_str(err, "t.conf:1: [tk]: file is required", "required: message");
	conf_table_free(tk_options, CONF_NOPTIONS(tk_options), &o);
}

static char *
tk_text(struct evbuffer *b)
{
	size_t	 n = evbuffer_get_length(b);
	char	*s = xmalloc(n + 1);

	evbuffer_remove(b, s, n);
	s[n] = '\0';
	return s;
}

static void
test_metrics_text(void)
{
	struct evbuffer		*b = evbuffer_new();
	struct metrics_hist	 h;
	char			*s;

	metrics_escape(b, "a\\b\"c\nd");
	s = tk_text(b);
	is_str(s, "a\\\\b\\\"c\\nd", "label escaping");
	free(s);
	metrics_family(b, "x_total", "counter", "Xs.");
	metrics_counter(b, "x_total", "k=\"v\"", 3);
	metrics_gauge(b, "y", NULL, -2);
	s = tk_text(b);
	is_str(s, "# HELP x_total Xs.\n# TYPE x_total counter\n"
	    "x_total{k=\"v\"} 3\ny -2\n", "family, counter and gauge");
	free(s);

	metrics_hist_init(&h);
	metrics_hist_observe(&h, 0.0001);
	metrics_hist_observe(&h, 0.003);
	metrics_hist_observe(&h, 100);
	metrics_hist_print(b, "d", "D.", "s=\"a\"", &h);
	s = tk_text(b);
	ok(strstr(s, "# TYPE d histogram\n") != NULL, "histogram type");
	ok(strstr(s, "d_bucket{s=\"a\",le=\"0.0005\"} 1\n") != NULL,
	    "first bucket, labelled");
	ok(strstr(s, "d_bucket{s=\"a\",le=\"0.005\"} 2\n") != NULL,
	    "buckets are cumulative");
	ok(strstr(s, "d_bucket{s=\"a\",le=\"5\"} 2\n") != NULL,
	    "last finite bucket");
	ok(strstr(s, "d_bucket{s=\"a\",le=\"+Inf\"} 3\n") != NULL,
	    "+Inf bucket");
	ok(strstr(s, "d_sum{s=\"a\"} 100.0031\n") != NULL, "sum");
	ok(strstr(s, "d_count{s=\"a\"} 3\n") != NULL, "count");
	free(s);
	metrics_hist_print(b, "e", "E.", NULL, &h);
	s = tk_text(b);
	ok(strstr(s, "e_bucket{le=\"+Inf\"} 3\ne_sum 100.0031\ne_count 3\n") !=
	    NULL, "unlabelled histogram");
	free(s);
	evbuffer_free(b);
}

static void
test_backoff(void)
{
	struct backoff	b;
	long long	p, want[] = { 250, 500, 1000, 2000, 4000, 4000 };
	size_t		i;
	int		in = 1;

	backoff_init(&b, 250, 4000, 0);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		is_int(backoff_next(&b), want[i], "pause %zu", i + 1);
	backoff_reset(&b);
	is_int(backoff_next(&b), 250, "reset: min again");
	backoff_init(&b, 100, 1000, 50);
	for (i = 0; i < 1000; i++) {
		if (i % 8 == 0)
			backoff_reset(&b);
		p = backoff_next(&b);
		if (p < 100 || p > 1000 || p < b.cur / 2)
			in = 0;
	}
	ok(in, "with jitter every pause is in [min, max] and at least half");
}

static void
test_strvec(void)
{
	struct strvec	  sv = STRVEC_INITIALIZER;
	char		**v;
	size_t		  i;

	is_int(strvec_count(&sv), 0, "empty");
	for (i = 0; i < 100; i++)
		strvec_add(&sv, i % 2 ? "odd" : "even");
	strvec_add_take(&sv, xstrdup("last"));
	is_int(strvec_count(&sv), 101, "count");
	ok(sv.v[101] == NULL && strcmp(sv.v[100], "last") == 0 &&
	    strcmp(sv.v[1], "odd") == 0, "NULL-terminated, in order");
	v = strvec_take(&sv);
	ok(sv.v == NULL && strvec_count(&sv) == 0 && v[101] == NULL,
	    "take empties the vector");
	free_words(v);
	v = strvec_take(&sv);
	ok(v != NULL && v[0] == NULL, "take of an empty vector");
	free(v);
	strvec_add(&sv, "x");
	strvec_free(&sv);
	ok(sv.v == NULL && sv.n == 0, "free");
}

static void
test_text(void)
{
	char	out[64];
	size_t	n;

	ok(utf8_text_valid("abc", 3), "ASCII is text");
	ok(utf8_text_valid("\xc3\xa9t\xc3\xa9", 5), "UTF-8 is text");
	ok(utf8_text_valid("", 0), "empty is text");
	ok(!utf8_text_valid("a\0b", 3), "a NUL is not");
	ok(!utf8_text_valid("\xc3", 1), "a cut sequence is not");
	ok(!utf8_text_valid("\xc0\xaf", 2), "an overlong form is not");
	ok(!utf8_text_valid("\xed\xa0\x80", 3), "a surrogate is not");

	n = json_quote("a\"b\\c\n\x01\x7f\xc3\xa9\xff", 11, out);
	out[n] = '\0';
	is_str(out, "\"a\\\"b\\\\c\\u000a\\u0001\\u007f\xc3\xa9\\ufffd\"",
	    "JSON quoting");
	is_int(json_quote("a\"b\\c\n\x01\x7f\xc3\xa9\xff", 11, NULL), n,
	    "counting agrees with writing");
	n = json_quote("a\0b", 3, out);
	out[n] = '\0';
	is_str(out, "\"a\\u0000b\"", "a NUL inside the length");
	is_int(json_quote("", 0, NULL), 2, "empty string: its quotes");
}

static void
test_timers(void)
{
	struct timeval	tv;
	struct timespec	ts, now;

	ms_to_timeval(1500, &tv);
	ok(tv.tv_sec == 1 && tv.tv_usec == 500000, "1500 ms");
	ms_to_timeval(999, &tv);
	ok(tv.tv_sec == 0 && tv.tv_usec == 999000, "999 ms");
	ms_to_timeval(-5, &tv);
	ok(tv.tv_sec == 0 && tv.tv_usec == 0, "negative is 0");
	ms_to_timeval(86400000LL * 3, &tv);
	ok(tv.tv_sec == 3 * 86400 && tv.tv_usec == 0, "days");

	clock_gettime(CLOCK_REALTIME, &now);
	ms_to_abstime(2999, &ts);
	ok(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000, "nsec normalised");
	ok(ts.tv_sec >= now.tv_sec + 2 && ts.tv_sec <= now.tv_sec + 4,
	    "about 3 s from now");
}

static void
test_wake_cb(void *arg)
{
	(*(int *)arg)++;
}

static void
test_wake(void)
{
	struct event_base	*base = event_base_new();
	struct wake		*w;
	int			 n = 0;

	/* No wake_init() here: the pipe of tokenreviewctl. */
	w = wake_new(base, test_wake_cb, &n);
	wake_signal(w);
	wake_signal(w);
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(n, 1, "two signals, one call");
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(n, 1, "no signal, no call");
	wake_signal(w);
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(n, 2, "signalled again");
	wake_free(w);
	wake_free(NULL);
	event_base_free(base);
}

/*
 * Audit line fields are whole or left out: a value whose escaped form
 * still fits is written even when its worst case would not, and one that
 * does not fit sets overflow and leaves the line as it was.
 */
static void
test_log_line_fields(void)
{
	struct log_line	 l;
	char		 ctl[600], plain[1200], want[8];
	size_t		 len0, len1;

	memset(ctl, '\x01', sizeof(ctl));
	memset(plain, 'p', sizeof(plain));
	ok(log_line_begin(&l, LL_INFO | LL_ALWAYS, "test"),
	    "log line: begun");
	len0 = l.len;
	log_line_strn(&l, "a", ctl, sizeof(ctl));
	is_int(l.len, len0 + 5 + 6 * sizeof(ctl) + 2,
	    "log line: 600 control bytes as 3600 bytes of escapes");
	memcpy(want, "\\u0001", 6);
	ok(memcmp(l.buf + len0 + 5 + 1 + 6 * 599, want, 6) == 0 &&
	    l.buf[l.len - 1] == '"', "log line: ... the last one escaped, "
	    "and the quote");
	len1 = l.len;
	log_line_strn(&l, "b", plain, 300);
	is_int(l.len, len1 + 5 + 300 + 2, "log line: 300 plain bytes fit "
	    "whole where their worst case would not");
	is_int(l.overflow, 0, "log line: ... and nothing overflowed");
	len1 = l.len;
	log_line_strn(&l, "c", plain, sizeof(plain));
	is_int(l.len, len1 + 5, "log line: 1200 bytes that do not fit leave "
	    "only the key");
	is_int(l.overflow, 1, "log line: ... and mark the line cut");
}

int
main(void)
{
	log_init(LL_ERROR);
	test_table_types();
	test_table_errors();
	test_metrics_text();
	test_backoff();
	test_strvec();
	test_text();
	test_timers();
	test_wake();
	test_log_line_fields();
	return done_testing();
}
