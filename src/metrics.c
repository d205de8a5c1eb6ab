/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Prometheus metrics.  Each worker thread owns one struct metrics and is
 * the only writer of it, so counting a request costs a relaxed atomic add
 * on a cache line no other thread writes: no lock and no false sharing on
 * the request path.  A scrape, on any worker, sums every registered block
 * with relaxed atomic loads (a scrape may see one counter a request ahead
 * of another, which Prometheus tolerates) and renders the text format
 * 0.0.4.  Process-wide events (reloads) are plain global atomics.
 *
 * The helpers of the text format live here too, for the token sources as
 * much as for the core: one label escaper, family headers, samples and a
 * histogram with labels.
 */

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "tokenreviewd.h"

#ifdef PACKAGE_VERSION
#define METRICS_VERSION	PACKAGE_VERSION
#else
#define METRICS_VERSION	"dev"
#endif

/* Workers plus the main thread and one spare. */
#define METRICS_MAX_BLOCKS	(TR_MAX_WORKERS + 2)

static pthread_mutex_t	 metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct metrics	*metrics_blocks[METRICS_MAX_BLOCKS];
static size_t		 metrics_nblocks;

static uint64_t		 reloads_ok;
static uint64_t		 reloads_failed;
static int64_t		 reload_last_ok_ms;	/* 0 = never */

/* HTTP status codes counted on their own; the last slot is "other". */
static const int	 metrics_codes[] = {
	200, 400, 401, 404, 405, 408, 411, 413, 415, 431, 500, 503
};
#define METRICS_NCODES	(sizeof(metrics_codes) / sizeof(metrics_codes[0]))

static const char *const metrics_paths[MP_MAX] = {
	"review", "healthz", "readyz", "metrics", "login", "other"
};

static const char *const metrics_outcomes[RO_MAX] = {
	"authenticated", "unauthenticated", "error"
};

/* Buckets of the latency histogram: 13 bounds and +Inf. */
#define METRICS_NBUCKETS	14

/* Upper bounds of the latency buckets, in seconds; the last is +Inf. */
static const double	 metrics_bounds[METRICS_NBUCKETS - 1] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5
};
static const char *const metrics_le[METRICS_NBUCKETS] = {
	"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1",
	"0.25", "0.5", "1", "2.5", "5", "+Inf"
};

struct metrics *
metrics_register(void)
{
	struct metrics	*m;
	size_t		 size;

	/* Round up so the next block never shares this one's last line. */
	size = (sizeof(*m) + 63) & ~(size_t)63;
	if (posix_memalign((void **)&m, 64, size) != 0)
		fatalx("posix_memalign %zu", size);
	memset(m, 0, size);
	metrics_hist_init(&m->latency);

	pthread_mutex_lock(&metrics_lock);
	if (metrics_nblocks == METRICS_MAX_BLOCKS) {
		pthread_mutex_unlock(&metrics_lock);
		fatalx("metrics: more than %d blocks", METRICS_MAX_BLOCKS);
	}
	metrics_blocks[metrics_nblocks++] = m;
	pthread_mutex_unlock(&metrics_lock);
	return m;
}

static size_t
metrics_code_index(int code)
{
	size_t	i;

	for (i = 0; i < METRICS_NCODES; i++) {
		if (metrics_codes[i] == code)
			return i;
	}
	return METRICS_NCODES;
}

static void
metrics_add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

void
metrics_request(struct metrics *m, enum metrics_path path, int code)
{
	if (m == NULL)
		return;
	if ((unsigned int)path >= MP_MAX)
		path = MP_OTHER;
	metrics_add(&m->requests[path][metrics_code_index(code)], 1);
}

void
metrics_login(struct metrics *m, enum metrics_login outcome)
{
	if (m != NULL && (unsigned int)outcome < ML_MAX)
		metrics_add(&m->logins[outcome], 1);
}

static size_t
metrics_hist_index(const double *bounds, size_t nbounds, double seconds)
{
	size_t	i;

	for (i = 0; i < nbounds; i++) {
		if (seconds <= bounds[i])
			break;
	}
	return i;
}

void
metrics_hist_init(struct metrics_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->bounds = metrics_bounds;
	h->le = metrics_le;
	h->nbounds = METRICS_NBUCKETS - 1;
}

void
metrics_hist_observe(struct metrics_hist *h, double seconds)
{
	double	sum;

	metrics_add(&h->bucket[metrics_hist_index(h->bounds, h->nbounds,
	    seconds)], 1);
	/* Only this thread writes the sum: load, add, store is enough. */
	__atomic_load(&h->sum, &sum, __ATOMIC_RELAXED);
	sum += seconds;
	__atomic_store(&h->sum, &sum, __ATOMIC_RELAXED);
}

void
metrics_hist_add(struct metrics_hist *dst, const struct metrics_hist *src)
{
	double	sum;
	size_t	i;

	for (i = 0; i <= src->nbounds; i++)
		dst->bucket[i] += __atomic_load_n(&src->bucket[i],
		    __ATOMIC_RELAXED);
	__atomic_load(&src->sum, &sum, __ATOMIC_RELAXED);
	dst->sum += sum;
}

void
metrics_review(struct metrics *m, int backend, enum review_outcome outcome,
    double seconds, int cached)
{
	size_t	b;

	if (m == NULL || (unsigned int)outcome >= RO_MAX)
		return;
	/* Chains longer than the table count as "none" rather than overflow. */
	b = METRICS_MAX_BACKENDS;
	if (backend >= 0 && backend < METRICS_MAX_BACKENDS)
		b = (size_t)backend;
	metrics_add(&m->reviews[b][outcome], 1);

	metrics_hist_observe(&m->latency, seconds);
	metrics_add(cached ? &m->cache_hits : &m->cache_misses, 1);
}

void
metrics_reload(int ok)
{
	struct timespec	ts;
	int64_t		ms;

	if (!ok) {
		metrics_add(&reloads_failed, 1);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	__atomic_store_n(&reload_last_ok_ms, ms, __ATOMIC_RELAXED);
	metrics_add(&reloads_ok, 1);
}

static uint64_t
ld(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

/* Add one worker's block into the running total. */
static void
metrics_sum_one(struct metrics *t, struct metrics *m)
{
	size_t	i, j;

	for (i = 0; i < MP_MAX; i++) {
		for (j = 0; j <= METRICS_NCODES; j++)
			t->requests[i][j] += ld(&m->requests[i][j]);
	}
	for (i = 0; i <= METRICS_MAX_BACKENDS; i++) {
		for (j = 0; j < RO_MAX; j++)
			t->reviews[i][j] += ld(&m->reviews[i][j]);
	}
	metrics_hist_add(&t->latency, &m->latency);
	t->cache_hits += ld(&m->cache_hits);
	t->cache_misses += ld(&m->cache_misses);
	t->connections_total += ld(&m->connections_total);
	t->connections_open += __atomic_load_n(&m->connections_open,
	    __ATOMIC_RELAXED);
	t->connections_warm += __atomic_load_n(&m->connections_warm,
	    __ATOMIC_RELAXED);
	for (i = 0; i < LISTENER_MAX; i++) {
		t->listener_open[i] += __atomic_load_n(&m->listener_open[i],
		    __ATOMIC_RELAXED);
		t->conns_refused_client[i] += ld(&m->conns_refused_client[i]);
		t->conns_refused_full[i] += ld(&m->conns_refused_full[i]);
		t->conns_evicted[i] += ld(&m->conns_evicted[i]);
	}
	for (i = 0; i < ML_MAX; i++)
		t->logins[i] += ld(&m->logins[i]);
	t->tls_handshake_failures += ld(&m->tls_handshake_failures);
	t->client_auth_failures += ld(&m->client_auth_failures);
	t->reviews_limited += ld(&m->reviews_limited);
}

static void
metrics_sum(struct metrics *t)
{
	struct metrics	*blocks[METRICS_MAX_BLOCKS];
	size_t		 i, n;

	/* Blocks are never freed, so the lock only guards the list. */
	pthread_mutex_lock(&metrics_lock);
	n = metrics_nblocks;
	memcpy(blocks, metrics_blocks, n * sizeof(*blocks));
	pthread_mutex_unlock(&metrics_lock);

	memset(t, 0, sizeof(*t));
	metrics_hist_init(&t->latency);
	for (i = 0; i < n; i++)
		metrics_sum_one(t, blocks[i]);
}

void
metrics_escape(struct evbuffer *buf, const char *s)
{
	size_t	n;

	while (*s != '\0') {
		n = strcspn(s, "\\\"\n");
		evbuffer_add(buf, s, n);
		s += n;
		if (*s == '\n')
			evbuffer_add(buf, "\\n", 2);
		else if (*s != '\0')
			evbuffer_add_printf(buf, "\\%c", *s);
		else
			break;
		s++;
	}
}

void
metrics_family(struct evbuffer *buf, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(buf, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

void
metrics_counter(struct evbuffer *buf, const char *name, const char *labels,
    uint64_t value)
{
	evbuffer_add_printf(buf, "%s%s%s%s %llu\n", name,
	    labels != NULL ? "{" : "", labels != NULL ? labels : "",
	    labels != NULL ? "}" : "", (unsigned long long)value);
}

void
metrics_gauge(struct evbuffer *buf, const char *name, const char *labels,
    long long value)
{
	evbuffer_add_printf(buf, "%s%s%s%s %lld\n", name,
	    labels != NULL ? "{" : "", labels != NULL ? labels : "",
	    labels != NULL ? "}" : "", value);
}

/* A family with one unlabelled counter or gauge. */
static void
metrics_one(struct evbuffer *buf, const char *name, const char *type,
    const char *help, unsigned long long value)
{
	metrics_family(buf, name, type, help);
	metrics_counter(buf, name, NULL, value);
}

static void
render_requests(struct evbuffer *buf, const struct metrics *t)
{
	char		 code[16], labels[64];
	uint64_t	 v;
	size_t		 i, j;

	metrics_family(buf, "tokenreviewd_http_requests_total", "counter",
	    "HTTP requests answered, by path and status code.");
	for (i = 0; i < MP_MAX; i++) {
		for (j = 0; j <= METRICS_NCODES; j++) {
			v = t->requests[i][j];
			/* Review 200 always exists, so rate() works. */
			if (v == 0 && !(i == MP_REVIEW && j == 0))
				continue;
			if (j == METRICS_NCODES)
				snprintf(code, sizeof(code), "other");
			else
				snprintf(code, sizeof(code), "%d",
				    metrics_codes[j]);
			snprintf(labels, sizeof(labels),
			    "path=\"%s\",code=\"%s\"", metrics_paths[i], code);
			metrics_counter(buf, "tokenreviewd_http_requests_total",
			    labels, v);
		}
	}
}

static void
render_review_row(struct evbuffer *buf, const char *name,
    const uint64_t *row)
{
	char	labels[128];
	size_t	j;

	for (j = 0; j < RO_MAX; j++) {
		snprintf(labels, sizeof(labels),
		    "backend=\"%s\",outcome=\"%s\"", name,
		    metrics_outcomes[j]);
		metrics_counter(buf, "tokenreviewd_reviews_total", labels,
		    row[j]);
	}
}

/*
 * Backend names are the fixed names of the backend table ("static",
 * "ldap", ...), so they need no label escaping.  Slots are chain indexes
 * of the generation being rendered.
 */
static void
render_reviews(struct evbuffer *buf, const struct metrics *t,
    const struct runtime *rt)
{
	size_t	i, n = 0;

	if (rt != NULL && rt->backends != NULL)
		n = rt->nbackends;
	if (n > METRICS_MAX_BACKENDS)
		n = METRICS_MAX_BACKENDS;
	metrics_family(buf, "tokenreviewd_reviews_total", "counter",
	    "TokenReviews answered, by deciding backend and outcome.");
	for (i = 0; i < n; i++)
		render_review_row(buf, rt->backends[i]->name, t->reviews[i]);
	render_review_row(buf, "none", t->reviews[METRICS_MAX_BACKENDS]);
}

void
metrics_hist_print(struct evbuffer *buf, const char *name, const char *help,
    const char *labels, const struct metrics_hist *h)
{
	const char	*l = labels != NULL ? labels : "";
	const char	*sep = labels != NULL ? "," : "";
	uint64_t	 cum = 0;
	size_t		 i;

	metrics_family(buf, name, "histogram", help);
	for (i = 0; i <= h->nbounds; i++) {
		cum += __atomic_load_n(&h->bucket[i], __ATOMIC_RELAXED);
		evbuffer_add_printf(buf, "%s_bucket{%s%sle=\"%s\"} %llu\n",
		    name, l, sep, i < h->nbounds ? h->le[i] : "+Inf",
		    (unsigned long long)cum);
	}
	evbuffer_add_printf(buf, "%s_sum%s%s%s %.9g\n", name,
	    labels != NULL ? "{" : "", l, labels != NULL ? "}" : "", h->sum);
	/* The count is the +Inf bucket, so the two always agree. */
	evbuffer_add_printf(buf, "%s_count%s%s%s %llu\n", name,
	    labels != NULL ? "{" : "", l, labels != NULL ? "}" : "",
	    (unsigned long long)cum);
}

static void
render_latency(struct evbuffer *buf, const struct metrics *t)
{
	metrics_hist_print(buf, "tokenreviewd_review_duration_seconds",
	    "Time to answer a TokenReview, from decoded request to answer.",
	    NULL, &t->latency);
}

static void
render_cache(struct evbuffer *buf, const struct metrics *t,
    struct runtime *rt)
{
	size_t	entries = 0;

	if (rt != NULL && rt->cache != NULL)
		entries = cache_count(rt->cache);
	metrics_one(buf, "tokenreviewd_cache_hits_total", "counter",
	    "Reviews answered from the result cache.", t->cache_hits);
	metrics_one(buf, "tokenreviewd_cache_misses_total", "counter",
	    "Reviews not found in the result cache.", t->cache_misses);
	metrics_one(buf, "tokenreviewd_cache_entries", "gauge",
	    "Results held in the cache.", entries);
}

static void
render_reloads(struct evbuffer *buf)
{
	int64_t	ms;

	metrics_family(buf, "tokenreviewd_reloads_total", "counter",
	    "Configuration reloads, by result.");
	metrics_counter(buf, "tokenreviewd_reloads_total",
	    "result=\"success\"", ld(&reloads_ok));
	metrics_counter(buf, "tokenreviewd_reloads_total",
	    "result=\"failure\"", ld(&reloads_failed));
	ms = __atomic_load_n(&reload_last_ok_ms, __ATOMIC_RELAXED);
	metrics_family(buf,
	    "tokenreviewd_last_reload_success_timestamp_seconds",
	    "gauge", "Wall-clock time of the last successful reload.");
	evbuffer_add_printf(buf, "tokenreviewd_last_reload_success_timestamp_"
	    "seconds %lld.%03lld\n", (long long)(ms / 1000),
	    (long long)(ms % 1000));
}

static const char *const metrics_listeners[LISTENER_MAX] = {
	"review", "health", "login"
};

/* Per listener: open now, refused at accept and closed to make room. */
static void
render_listeners(struct evbuffer *buf, const struct metrics *t, size_t n)
{
	char	l[64], lr[96];
	size_t	i;

	metrics_family(buf, "tokenreviewd_listener_connections_open", "gauge",
	    "Client connections open now, by listener.");
	for (i = 0; i < n; i++) {
		snprintf(l, sizeof(l), "listener=\"%s\"", metrics_listeners[i]);
		metrics_gauge(buf, "tokenreviewd_listener_connections_open", l,
		    t->listener_open[i]);
	}
	metrics_family(buf, "tokenreviewd_connections_refused_total", "counter",
	    "Connections closed at accept, by listener and reason: per_client "
	    "(over max_connections_per_client) or full (every slot busy).");
	for (i = 0; i < n; i++) {
		snprintf(lr, sizeof(lr),
		    "listener=\"%s\",reason=\"per_client\"",
		    metrics_listeners[i]);
		metrics_counter(buf, "tokenreviewd_connections_refused_total",
		    lr, t->conns_refused_client[i]);
		snprintf(lr, sizeof(lr), "listener=\"%s\",reason=\"full\"",
		    metrics_listeners[i]);
		metrics_counter(buf, "tokenreviewd_connections_refused_total",
		    lr, t->conns_refused_full[i]);
	}
	metrics_family(buf, "tokenreviewd_connections_evicted_total", "counter",
	    "Idle or unauthenticated connections closed to make room on a "
	    "full listener.");
	for (i = 0; i < n; i++) {
		snprintf(l, sizeof(l), "listener=\"%s\"", metrics_listeners[i]);
		metrics_counter(buf, "tokenreviewd_connections_evicted_total",
		    l, t->conns_evicted[i]);
	}
}

/* The login listener's lines only where there is one. */
static void
render_connections(struct evbuffer *buf, const struct metrics *t,
    const struct runtime *rt)
{
	metrics_family(buf, "tokenreviewd_connections_open", "gauge",
	    "Client connections open now.");
	metrics_gauge(buf, "tokenreviewd_connections_open", NULL,
	    t->connections_open);
	metrics_one(buf, "tokenreviewd_connections_total", "counter",
	    "Client connections accepted.", t->connections_total);
	metrics_family(buf, "tokenreviewd_connections_warm", "gauge",
	    "Client connections keeping their TLS and HTTP buffers between "
	    "requests (until idle for a second).");
	metrics_gauge(buf, "tokenreviewd_connections_warm", NULL,
	    t->connections_warm);
	metrics_one(buf, "tokenreviewd_tls_handshake_failures_total",
	    "counter", "TLS handshakes that failed.",
	    t->tls_handshake_failures);
	metrics_one(buf, "tokenreviewd_client_auth_failures_total", "counter",
	    "Requests refused because the client was not authenticated.",
	    t->client_auth_failures);
	metrics_one(buf, "tokenreviewd_reviews_limited_total", "counter",
	    "Reviews refused: the client, not authenticated, was over "
	    "failed_review_rate and neither the cache nor the static file "
	    "knew the token.", t->reviews_limited);
	render_listeners(buf, t, rt != NULL && rt->login != NULL ?
	    LISTENER_MAX : LISTENER_LOGIN);
}

static void
render_logins(struct evbuffer *buf, const struct metrics *t,
    const struct runtime *rt)
{
	static const char *const outcomes[ML_MAX] = {
		"success", "failure", "locked_out", "limited", "error",
		"bad_request"
	};
	char	l[64];
	size_t	i;

	if (rt == NULL || rt->login == NULL)
		return;
	metrics_family(buf, "tokenreviewd_logins_total", "counter",
	    "POST /login requests, by outcome.");
	for (i = 0; i < ML_MAX; i++) {
		snprintf(l, sizeof(l), "outcome=\"%s\"", outcomes[i]);
		metrics_counter(buf, "tokenreviewd_logins_total", l,
		    t->logins[i]);
	}
}

void
metrics_render(struct evbuffer *buf, struct runtime *rt)
{
	struct metrics	*t;
	size_t		 i;

	/* Big enough not to want it on a worker's stack. */
	t = xmalloc(sizeof(*t));
	metrics_sum(t);
	render_requests(buf, t);
	render_reviews(buf, t, rt);
	render_latency(buf, t);
	render_cache(buf, t, rt);
	render_reloads(buf);
	render_connections(buf, t, rt);
	render_logins(buf, t, rt);
	free(t);

	metrics_one(buf, "tokenreviewd_config_generation", "gauge",
	    "Generation of the configuration in use.",
	    rt != NULL ? rt->generation : 0);
	metrics_family(buf, "tokenreviewd_build_info", "gauge",
	    "Build information; the value is always 1.");
	evbuffer_add_printf(buf, "tokenreviewd_build_info{version=\"");
	metrics_escape(buf, METRICS_VERSION);
	evbuffer_add_printf(buf, "\"} 1\n");

	if (rt == NULL || rt->backends == NULL)
		return;
	for (i = 0; i < rt->nbackends; i++) {
		if (rt->backends[i]->metrics != NULL)
			rt->backends[i]->metrics(rt->shared != NULL ?
			    rt->shared[i] : NULL, buf);
	}
}
