/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of src/metrics.c: counters of several workers are summed,
 * the histogram is cumulative, backend names come from the runtime, a
 * backend's own lines are appended, and every line of the output follows
 * the Prometheus text format (a # TYPE line before each family's samples).
 * A hand-made struct runtime stands in for a loaded configuration.
 */

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>

#include "tokenreviewd.h"
#include "tap.h"

#define NTHREADS	4
#define NPERTHREAD	100000
#define REQ		"tokenreviewd_http_requests_total"
#define REV		"tokenreviewd_reviews_total"
#define DUR		"tokenreviewd_review_duration_seconds"

static int	fake_marker;

static void
fake_metrics(void *shared, struct evbuffer *buf)
{
	evbuffer_add_printf(buf, "# TYPE tokenreviewd_fake_up gauge\n"
	    "tokenreviewd_fake_up %d\n", shared == &fake_marker);
}

static const struct auth_backend fake_static = { .name = "static" };
static const struct auth_backend fake_ldap = {
	.name = "ldap",
	.metrics = fake_metrics,
};

/* Render into a NUL-terminated string that starts with '\n'. */
static char *
render(struct runtime *rt)
{
	struct evbuffer	*buf;
	size_t		 len;
	char		*s;

	if ((buf = evbuffer_new()) == NULL)
		fatalx("evbuffer_new");
	metrics_render(buf, rt);
	len = evbuffer_get_length(buf);
	s = xmalloc(len + 2);
	s[0] = '\n';
	evbuffer_remove(buf, s + 1, len);
	s[len + 1] = '\0';
	evbuffer_free(buf);
	return s;
}

static int
has_line(const char *text, const char *line)
{
	char	*want;
	int	 found;

	xasprintf(&want, "\n%s\n", line);
	found = strstr(text, want) != NULL;
	if (!found)
		diag("missing line: %s", line);
	free(want);
	return found;
}

/*
 * Each sample line is "name{labels} value" or "name value", and its
 * family (the name without _bucket/_sum/_count) has had a # TYPE line.
 */
static int
check_format(const char *text)
{
	char	 types[8192] = " ", *copy, *line, *sp, *end, fam[256];
	size_t	 n, len;

	copy = xstrdup(text);
	for (line = strtok(copy, "\n"); line != NULL;
	    line = strtok(NULL, "\n")) {
		if (strncmp(line, "# TYPE ", 7) == 0) {
			n = strcspn(line + 7, " ");
			len = strlen(types);
			snprintf(types + len, sizeof(types) - len, "%.*s ",
			    (int)n, line + 7);
			continue;
		}
		if (strncmp(line, "# HELP ", 7) == 0)
			continue;
		n = strcspn(line, "{ ");
		sp = strrchr(line, ' ');
		if (n == 0 || sp == NULL || (line[n] == '{' &&
		    sp[-1] != '}') || (strtod(sp + 1, &end), *end != '\0'))
			goto bad;
		snprintf(fam, sizeof(fam), " %.*s ", (int)n, line);
		if (strstr(types, fam) != NULL)
			continue;
		/* Histogram samples belong to the family without the suffix. */
		if ((sp = strstr(fam, "_bucket ")) != NULL ||
		    (sp = strstr(fam, "_sum ")) != NULL ||
		    (sp = strstr(fam, "_count ")) != NULL)
			memcpy(sp, " ", 2);
		if (strstr(types, fam) == NULL)
			goto bad;
	}
	free(copy);
	return 1;
bad:
	diag("bad line: %s", line);
	free(copy);
	return 0;
}

static void
test_empty(struct runtime *rt)
{
	char	*s;

	s = render(NULL);
	ok(has_line(s, REQ "{path=\"review\","
	    "code=\"200\"} 0"), "review 200 series exists before traffic");
	ok(has_line(s, REV "{backend=\"none\","
	    "outcome=\"error\"} 0"), "NULL runtime: only the none backend");
	ok(has_line(s, "tokenreviewd_cache_entries 0"),
	    "NULL runtime: no cache entries");
	ok(check_format(s), "empty output follows the text format");
	free(s);
}

static void
fill(struct metrics *m1, struct metrics *m2)
{
	int	i;

	for (i = 0; i < 3; i++)
		metrics_request(m1, MP_REVIEW, 200);
	metrics_request(m2, MP_REVIEW, 200);
	metrics_request(m2, MP_REVIEW, 200);
	metrics_request(m2, MP_REVIEW, 400);
	metrics_request(m2, MP_HEALTHZ, 200);
	metrics_request(m1, MP_OTHER, 404);
	metrics_request(m1, MP_METRICS, 299);

	metrics_review(m1, 0, RO_AUTHENTICATED, 0.0003, 0);	/* 0.0005 */
	metrics_review(m2, 0, RO_AUTHENTICATED, 0.0005, 1);	/* 0.0005 */
	metrics_review(m1, 1, RO_UNAUTHENTICATED, 0.003, 0);	/* 0.005 */
	metrics_review(m2, -1, RO_ERROR, 10.0, 0);		/* +Inf */
	metrics_review(m2, 99, RO_ERROR, 0.2, 0);		/* 0.25 */

	m1->connections_open = 3;
	m2->connections_open = -1;
	m1->connections_total = 10;
	m2->connections_total = 5;
	m2->tls_handshake_failures = 2;
	m1->client_auth_failures = 1;
	m1->listener_open[LISTENER_REVIEW] = 2;
	m2->listener_open[LISTENER_HEALTH] = 4;
	m1->conns_refused_client[LISTENER_HEALTH] = 6;
	m2->conns_refused_client[LISTENER_HEALTH] = 1;
	m2->conns_refused_full[LISTENER_REVIEW] = 3;
	m1->conns_evicted[LISTENER_REVIEW] = 8;

	metrics_reload(0);
	metrics_reload(1);
	metrics_reload(0);
}

static void
test_counts(struct runtime *rt)
{
	static const char *const lines[] = {
		REQ "{path=\"review\",code=\"200\"} 5",
		REQ "{path=\"review\",code=\"400\"} 1",
		REQ "{path=\"healthz\",code=\"200\"} 1",
		REQ "{path=\"other\",code=\"404\"} 1",
		REQ "{path=\"metrics\",code=\"other\"} 1",
		REV "{backend=\"static\",outcome=\"authenticated\"} 2",
		REV "{backend=\"ldap\",outcome=\"unauthenticated\"} 1",
		REV "{backend=\"ldap\",outcome=\"authenticated\"} 0",
		REV "{backend=\"none\",outcome=\"error\"} 2",
		DUR "_bucket{le=\"0.0005\"} 2",
		DUR "_bucket{le=\"0.001\"} 2",
		DUR "_bucket{le=\"0.005\"} 3",
		DUR "_bucket{le=\"0.1\"} 3",
		DUR "_bucket{le=\"0.25\"} 4",
		DUR "_bucket{le=\"5\"} 4",
		DUR "_bucket{le=\"+Inf\"} 5",
		DUR "_sum 10.2038",
		DUR "_count 5",
		"tokenreviewd_cache_hits_total 1",
		"tokenreviewd_cache_misses_total 4",
		"tokenreviewd_reloads_total{result=\"success\"} 1",
		"tokenreviewd_reloads_total{result=\"failure\"} 2",
		"tokenreviewd_connections_open 2",
		"tokenreviewd_connections_total 15",
		"tokenreviewd_tls_handshake_failures_total 2",
		"tokenreviewd_client_auth_failures_total 1",
		"tokenreviewd_listener_connections_open{listener=\"review\"} 2",
		"tokenreviewd_listener_connections_open{listener=\"health\"} 4",
		"tokenreviewd_connections_refused_total{listener=\"health\","
		    "reason=\"per_client\"} 7",
		"tokenreviewd_connections_refused_total{listener=\"review\","
		    "reason=\"full\"} 3",
		"tokenreviewd_connections_refused_total{listener=\"review\","
		    "reason=\"per_client\"} 0",
		"tokenreviewd_connections_evicted_total{listener=\"review\"} 8",
		"tokenreviewd_connections_evicted_total{listener=\"health\"} 0",
		"tokenreviewd_config_generation 7",
		"# TYPE tokenreviewd_review_duration_seconds histogram",
		"# TYPE tokenreviewd_http_requests_total counter",
		"# TYPE tokenreviewd_cache_entries gauge",
		"tokenreviewd_fake_up 1",
	};
	char	*s, *p;
	double	 ts;
	size_t	 i;

	s = render(rt);
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		ok(has_line(s, lines[i]), "line %s", lines[i]);
	ok(strstr(s, "code=\"401\"") == NULL, "zero series are left out");
	ok(has_line(s, "tokenreviewd_build_info{version=\"" PACKAGE_VERSION
	    "\"} 1"), "build_info names version " PACKAGE_VERSION);
	p = strstr(s, "\ntokenreviewd_last_reload_success_timestamp_seconds ");
	ts = p ? strtod(strchr(p + 1, ' ') + 1, NULL) : 0;
	ok(ts > (double)time(NULL) - 60 && ts < (double)time(NULL) + 60,
	    "last reload timestamp is now (%.3f)", ts);
	ok(check_format(s), "output follows the text format");
	if (tap_failed)
		diag("%s", s);
	free(s);
}

static void *
worker(void *arg)
{
	struct metrics	*m = metrics_register();
	int		 i;

	for (i = 0; i < NPERTHREAD; i++) {
		metrics_request(m, MP_HEALTHZ, 503);
		if (i % 1000 == 0)
			free(render(arg));
	}
	return NULL;
}

static void
test_threads(struct runtime *rt)
{
	pthread_t	 t[NTHREADS];
	char		*s, line[128];
	int		 i;

	for (i = 0; i < NTHREADS; i++)
		pthread_create(&t[i], NULL, worker, rt);
	for (i = 0; i < NTHREADS; i++)
		pthread_join(t[i], NULL);
	s = render(rt);
	snprintf(line, sizeof(line), "tokenreviewd_http_requests_total"
	    "{path=\"healthz\",code=\"503\"} %d", NTHREADS * NPERTHREAD);
	ok(has_line(s, line), "%d threads counting and scraping at once",
	    NTHREADS);
	free(s);
}

int
main(void)
{
	const struct auth_backend	*backends[] = {
		&fake_static, &fake_ldap
	};
	void				*shared[] = { NULL, &fake_marker };
	struct runtime			 rt;
	struct metrics			*m1, *m2;

	memset(&rt, 0, sizeof(rt));
	rt.generation = 7;
	rt.backends = backends;
	rt.shared = shared;
	rt.nbackends = 2;
	rt.cache = NULL;

	test_empty(&rt);
	m1 = metrics_register();
	m2 = metrics_register();
	ok(((uintptr_t)m1 & 63) == 0 && ((uintptr_t)m2 & 63) == 0,
	    "blocks are 64-byte aligned");
	ok(m1->latency.bucket[0] == 0 && m1->requests[0][0] == 0,
	    "blocks start zeroed");
	/*
	 * A NULL block is ignored: a write through it crashes the program
	 * before its plan, and test_counts() finds no stray count.
	 */
	metrics_request(NULL, MP_REVIEW, 200);
	metrics_review(NULL, 0, RO_ERROR, 1, 0);
	fill(m1, m2);
	test_counts(&rt);
	test_threads(&rt);
	return done_testing();
}
