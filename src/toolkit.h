/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The toolkit the core offers every token source, so that none writes its
 * own: section config from a declarative option table, Prometheus metric
 * helpers with one label escaper, timer conversions, one backoff, text
 * validation, JSON string quoting, a string vector and one way to wake a
 * worker's event loop from another thread.  Included by tokenreviewd.h
 * before its metrics.c section, so everything it names is declared there.
 */

#ifndef TOOLKIT_H
#define TOOLKIT_H

#include <stddef.h>
#include <stdint.h>

struct timeval;
struct timespec;

/*
 * config-table.c: a section read from a table of options.  Each option
 * says where its value goes in an object (offsetof), its type, its range
 * and its default; conf_read_section() applies the table to a parsed
 * section, with every message worded "FILE:LINE: [sect] key: ..." in one
 * place.
 */
enum conf_type {
	CONF_STRING,		/* char * */
	CONF_PATH,		/* char *, a file name */
	CONF_INT,		/* int */
	CONF_COUNT,		/* size_t */
	CONF_DURATION,		/* long long, milliseconds */
	CONF_SIZE,		/* size_t, bytes, k and m suffixes */
	CONF_BOOL,		/* int, 0 or 1 */
	CONF_CHOICE,		/* int, the index of the value in choices */
	CONF_LIST,		/* char **, NULL-terminated words, with a
				   size_t count at count_offset unless 0 */
	CONF_RAW,		/* nothing stored: check does it all */
};

#define CONF_REQUIRED	0x1	/* "KEY is required" when absent */
#define CONF_EMPTY_OK	0x2	/* an empty value is no error */
#define CONF_PREFIX	0x4	/* key is a prefix of the keys it takes */

/*
 * More checks once the value is stored (for CONF_RAW: the parser); obj
 * is the object the table fills.  0, or -1 with err set by conf_error().
 * Also called for the default of a CONF_RAW option, with line 0.
 */
typedef int	 conf_check_cb(void *obj, const struct config *,
		    const struct conf_section *, const struct conf_kv *,
		    char *err, size_t errlen);

struct conf_option {
	const char		*key;
	enum conf_type		 type;
	size_t			 offset;	/* of the value in obj */
	size_t			 count_offset;	/* count, or 0 */
	long long		 min;		/* numbers; both 0: */
	long long		 max;		/* what the type holds */
	const char		*def;		/* default as text */
	int			 flags;		/* CONF_REQUIRED... */
	const char *const	*choices;	/* NULL-terminated */
	conf_check_cb		*check;		/* or NULL */
};

#define CONF_NOPTIONS(t)	(sizeof(t) / sizeof((t)[0]))

/*
 * Set every option of the table in obj to its default, read each key of
 * sec (NULL: none) into obj and check the required ones are there.  An
 * unknown key is an error.  0, or -1 with err set; what was stored is
 * released by conf_table_free() either way.
 */
int	 conf_read_section(const struct conf_option *, size_t n, void *obj,
	    const struct config *, struct conf_section *sec, char *err,
	    size_t errlen);
/* The three steps of conf_read_section(), for a reader that interleaves. */
void	 conf_table_defaults(const struct conf_option *, size_t n,
	    void *obj);
int	 conf_read_keys(const struct conf_option *, size_t n, void *obj,
	    const struct config *, struct conf_section *sec, char *err,
	    size_t errlen);
int	 conf_check_required(const struct conf_option *, size_t n,
	    const struct config *, const struct conf_section *sec, char *err,
	    size_t errlen);
/* Free the strings and lists the table stored in obj, and NULL them. */
void	 conf_table_free(const struct conf_option *, size_t n, void *obj);

/*
 * metrics.c: the Prometheus text format.  metrics_escape() is the one
 * label value escaper; a family is its HELP and TYPE lines, then its
 * samples.  labels are "NAME=\"VALUE\"" text already escaped, or NULL.
 */
#define METRICS_HIST_MAX	16	/* buckets of a struct metrics_hist */

/* Append s to buf as a label value: backslash, quote and newline escaped. */
void	 metrics_escape(struct evbuffer *, const char *s);
void	 metrics_family(struct evbuffer *, const char *name,
	    const char *type, const char *help);
void	 metrics_counter(struct evbuffer *, const char *name,
	    const char *labels, uint64_t value);
void	 metrics_gauge(struct evbuffer *, const char *name,
	    const char *labels, long long value);

/*
 * A histogram with fixed bucket bounds (seconds, increasing; +Inf is
 * added), kept by one writer and read by anyone with relaxed atomics.
 */
struct metrics_hist {
	const double	*bounds;
	const char *const *le;		/* the bounds as "le" labels */
	size_t		 nbounds;	/* < METRICS_HIST_MAX */
	uint64_t	 bucket[METRICS_HIST_MAX];	/* not cumulative */
	double		 sum;
};

/* The review latency's bounds: 0.5 ms to 5 s. */
void	 metrics_hist_init(struct metrics_hist *);
/* Count an observation; only the one writer calls this. */
void	 metrics_hist_observe(struct metrics_hist *, double seconds);
/* Add the counts of src into dst (both with the same bounds). */
void	 metrics_hist_add(struct metrics_hist *dst,
	    const struct metrics_hist *src);
/* The histogram family NAME, its samples labelled with labels too. */
void	 metrics_hist_print(struct evbuffer *, const char *name,
	    const char *help, const char *labels, const struct metrics_hist *);

/* util.c: timers, in milliseconds; a negative ms counts as 0. */
void	 ms_to_timeval(long long ms, struct timeval *);
/* The CLOCK_REALTIME time ms from now, for pthread_cond_timedwait(). */
void	 ms_to_abstime(long long ms, struct timespec *);

/*
 * util.c: the pause before retrying something that failed, in ms: min
 * after the first failure, doubling up to max; jitter (percent) takes a
 * random part off each pause, never below min.
 */
struct backoff {
	long long	min;
	long long	max;
	int		jitter;
	long long	cur;		/* the last pause, 0: none yet */
	unsigned	failures;	/* since the last reset */
};
void	 backoff_init(struct backoff *, long long min, long long max,
	    int jitter);
long long backoff_next(struct backoff *);
void	 backoff_reset(struct backoff *);

/*
 * util.c: text.  utf8_text_valid(): s is valid UTF-8 without NUL bytes
 * (what JSON carries as is).  json_quote(): s as a JSON string with its
 * quotes, control characters as \u escapes and invalid UTF-8 as U+FFFD;
 * with out NULL it only counts.  Returns the length (no NUL written).
 */
int	 utf8_text_valid(const char *s, size_t n);
size_t	 json_quote(const char *s, size_t n, char *out);

/*
 * util.c: a growing vector of strings it owns, NULL-terminated as soon as
 * it holds one (v is NULL while empty).  strvec_take() hands over the
 * array (never NULL) and leaves the vector empty.
 */
struct strvec {
	char	**v;
	size_t	  n;
	size_t	  cap;
};
#define STRVEC_INITIALIZER	{ NULL, 0, 0 }
void	 strvec_add(struct strvec *, const char *);	/* a copy */
void	 strvec_add_take(struct strvec *, char *);
size_t	 strvec_count(const struct strvec *);
char	**strvec_take(struct strvec *);
void	 strvec_free(struct strvec *);

/*
 * wake.c: another thread wakes a worker's event loop, which then calls
 * cb(arg) once for any number of wake_signal() calls before it runs.
 * wake_init() makes libevent thread-safe (the daemon, first thing); a
 * process without it (tokenreviewctl) gets a pipe per wake object.
 */
struct wake;
void	 wake_init(void);
struct wake *wake_new(struct event_base *, void (*cb)(void *), void *arg);
void	 wake_signal(struct wake *);		/* any thread */
void	 wake_free(struct wake *);

#endif /* TOOLKIT_H */
