/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Keys of the JWT source fetched over HTTPS.  One fetcher thread per
 * process serves every issuer without a key file: it fetches the
 * discovery document and the JWKS with libcurl (blocking calls, but only
 * that thread waits on them) and publishes a new immutable key set under
 * the source's mutex.  A failed fetch keeps the last good keys.  Sources
 * outlive a reload: a new generation's issuer with the same URLs, CA file
 * and limits finds the existing source and keeps its keys.  A worker that
 * needs a fetch (an unknown kid, no keys yet) asks for one, at most one
 * per refetch_interval, joins the fetch in flight, and waits for it
 * without blocking: the fetcher wakes its event loop through the
 * worker's struct wake (wake.c, auth-jwt.c).
 */

#include <sys/queue.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "tokenreviewd.h"
#include "jwt-int.h"

static pthread_mutex_t	jwt_fetch_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t	jwt_fetch_cv = PTHREAD_COND_INITIALIZER;
static TAILQ_HEAD(, jwt_source) jwt_fetch_sources =
    TAILQ_HEAD_INITIALIZER(jwt_fetch_sources);
static pthread_once_t	jwt_fetch_curl_once = PTHREAD_ONCE_INIT;
static pthread_once_t	jwt_fetch_thread_once = PTHREAD_ONCE_INIT;

/*
 * The fetcher thread is joined before the process exits: OpenSSL's
 * exit-time cleanup frees its locks and tables, and a thread still inside
 * libcurl's TLS code then crashes the process.  Its transfers run on
 * jwt_fetch_multi, which jwt_fetch_exit() wakes from another thread.
 */
#define JWT_EXIT_WAIT		5		/* s to wait for the fetcher */
static pthread_t	jwt_fetch_thread;
static CURLM		*jwt_fetch_multi;
static int		jwt_fetch_stop;		/* atomic */

/* A body being received, up to max bytes. */
struct jwt_fetch_buf {
	char	*data;
	size_t	 len;
	size_t	 max;
	int	 toobig;
};

struct jwt_source *
jwt_fetch_source_new(const char *name, const char *issuer)
{
	struct jwt_source	*src;

	src = xcalloc(1, sizeof(*src));
	pthread_mutex_init(&src->keys_mtx, NULL);
	src->name = xstrdup(name);
	src->issuer = xstrdup(issuer);
	return src;
}

void
jwt_fetch_source_free(struct jwt_source *src)
{
	free(src->name);
	free(src->id);
	free(src->issuer);
	free(src->discovery_url);
	free(src->jwks_url);
	free(src->ca);
	free(src->waiters);
	jwt_keys_unref(src->keys);
	pthread_mutex_destroy(&src->keys_mtx);
	free(src);
}

void
jwt_fetch_unref(struct jwt_source *src)
{
	if (src == NULL)
		return;
	pthread_mutex_lock(&jwt_fetch_mtx);
	if (--src->refs > 0) {
		pthread_mutex_unlock(&jwt_fetch_mtx);
		return;
	}
	TAILQ_REMOVE(&jwt_fetch_sources, src, entry);
	pthread_mutex_unlock(&jwt_fetch_mtx);
	jwt_fetch_source_free(src);
}

static void
jwt_fetch_curl_start(void)
{
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		fatalx("curl_global_init failed");
}

struct jwt_source *
jwt_fetch_share(struct jwt_source *src)
{
	struct jwt_source	*s;

	pthread_once(&jwt_fetch_curl_once, jwt_fetch_curl_start);
	pthread_mutex_lock(&jwt_fetch_mtx);
	TAILQ_FOREACH(s, &jwt_fetch_sources, entry) {
		if (strcmp(s->id, src->id) == 0)
			break;
	}
	if (s != NULL) {
		s->refs++;
		pthread_mutex_unlock(&jwt_fetch_mtx);
		jwt_fetch_source_free(src);
		return s;
	}
	src->refs = 1;
	TAILQ_INSERT_TAIL(&jwt_fetch_sources, src, entry);
	pthread_mutex_unlock(&jwt_fetch_mtx);
	return src;
}

struct jwt_keyset *
jwt_fetch_keys(struct jwt_source *src)
{
	struct jwt_keyset	*ks;

	pthread_mutex_lock(&src->keys_mtx);
	ks = jwt_keys_ref(src->keys);
	pthread_mutex_unlock(&src->keys_mtx);
	return ks;
}

uint64_t
jwt_fetch_gen(const struct jwt_source *src)
{
	return __atomic_load_n(&src->gen, __ATOMIC_ACQUIRE);
}

static size_t
jwt_fetch_write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct jwt_fetch_buf	*b = arg;
	size_t			 len = size * n;

	if (len > b->max - b->len) {
		b->toobig = 1;
		return 0;	/* libcurl ends the transfer */
	}
	b->data = xreallocarray(b->data, b->len + len + 1, 1);
	memcpy(b->data + b->len, p, len);
	b->len += len;
	b->data[b->len] = '\0';
	return len;
}

static int
jwt_fetch_stopping(void)
{
	return __atomic_load_n(&jwt_fetch_stop, __ATOMIC_ACQUIRE);
}

/*
 * Run one transfer on the fetcher's multi handle, so that
 * jwt_fetch_exit() can interrupt it at once (curl_multi_wakeup) instead
 * of waiting for a slow issuer until fetch_timeout.
 */
static CURLcode
jwt_fetch_perform(CURL *c)
{
	CURLMsg		*msg;
	CURLcode	 rc = CURLE_ABORTED_BY_CALLBACK;
	int		 running = 1, left;

	if (curl_multi_add_handle(jwt_fetch_multi, c) != CURLM_OK)
		return CURLE_FAILED_INIT;
	while (running > 0 && !jwt_fetch_stopping()) {
		if (curl_multi_perform(jwt_fetch_multi, &running) !=
		    CURLM_OK) {
			rc = CURLE_FAILED_INIT;
			break;
		}
		if (running > 0 && curl_multi_poll(jwt_fetch_multi, NULL, 0,
		    1000, NULL) != CURLM_OK) {
			rc = CURLE_FAILED_INIT;
			break;
		}
	}
	while ((msg = curl_multi_info_read(jwt_fetch_multi, &left)) != NULL) {
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == c)
			rc = msg->data.result;
	}
	curl_multi_remove_handle(jwt_fetch_multi, c);
	return rc;
}

/* An easy handle that GETs url over https only, into b. */
static CURL *
jwt_fetch_easy(const struct jwt_source *src, const char *url,
    struct jwt_fetch_buf *b, char *errbuf)
{
	CURL	*c;

	if ((c = curl_easy_init()) == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(c, CURLOPT_MAXREDIRS, 3L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)src->lim.timeout);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, jwt_fetch_write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_USERAGENT, PACKAGE_NAME "/"
	    PACKAGE_VERSION);
	if (src->ca != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, src->ca);
	return c;
}

/*
 * GET an https URL; the body (NUL-terminated, the caller frees it) if the
 * answer is 200 within the time and size limits, else NULL and why.
 * libcurl honours the https_proxy and no_proxy environment variables.
 */
static char *
jwt_fetch_get(const struct jwt_source *src, const char *url, size_t *len,
    char *why, size_t whylen)
{
	struct jwt_fetch_buf	 b = { NULL, 0, src->lim.max_response, 0 };
	char			 errbuf[CURL_ERROR_SIZE] = "";
	CURL			*c;
	CURLcode		 rc;
	long			 code = 0;

	if ((c = jwt_fetch_easy(src, url, &b, errbuf)) == NULL) {
		snprintf(why, whylen, "%s: libcurl failed to start", url);
		return NULL;
	}
	rc = jwt_fetch_perform(c);
	if (rc == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	curl_easy_cleanup(c);
	if (b.toobig)
		snprintf(why, whylen, "%s: response larger than %zu bytes",
		    url, src->lim.max_response);
	else if (rc != CURLE_OK)
		snprintf(why, whylen, "%s: %s", url, errbuf[0] != '\0' ?
		    errbuf : curl_easy_strerror(rc));
	else if (code != 200)
		snprintf(why, whylen, "%s: HTTP status %ld", url, code);
	if (b.toobig || rc != CURLE_OK || code != 200) {
		free(b.data);
		return NULL;
	}
	*len = b.len;
	return b.data != NULL ? b.data : xstrdup("");
}

/* The jwks_uri of a discovery document whose issuer is ours. */
static char *
jwt_fetch_jwks_uri(const struct jwt_source *src, const char *doc,
    size_t len, char *why, size_t whylen)
{
	json_t		*j;
	const char	*iss, *uri;
	char		*r = NULL;

	if ((j = json_loadb(doc, len, JSON_REJECT_DUPLICATES, NULL)) ==
	    NULL || !json_is_object(j)) {
		snprintf(why, whylen, "%s: not a JSON object",
		    src->discovery_url);
		goto out;
	}
	iss = jwt_json_str(j, "issuer");
	uri = jwt_json_str(j, "jwks_uri");
	if (iss == NULL || strcmp(iss, src->issuer) != 0)
		snprintf(why, whylen, "%s: its issuer is not %s",
		    src->discovery_url, src->issuer);
	else if (uri == NULL || strncmp(uri, "https://", 8) != 0)
		snprintf(why, whylen, "%s: no https jwks_uri",
		    src->discovery_url);
	else
		r = xstrdup(uri);
out:
	json_decref(j);
	return r;
}

/* The keys at the source's JWKS URL, or NULL and why. */
static struct jwt_keyset *
jwt_fetch_keyset(const struct jwt_source *src, char *why, size_t whylen)
{
	struct jwt_keyset	*ks = NULL;
	char			*doc = NULL, *uri = NULL, msg[200];
	size_t			 len;

	msg[0] = '\0';
	if (src->jwks_url == NULL) {
		if ((doc = jwt_fetch_get(src, src->discovery_url, &len, why,
		    whylen)) == NULL || (uri = jwt_fetch_jwks_uri(src, doc,
		    len, why, whylen)) == NULL)
			goto out;
		free(doc);
	} else
		uri = xstrdup(src->jwks_url);
	if ((doc = jwt_fetch_get(src, uri, &len, why, whylen)) == NULL)
		goto out;
	ks = jwt_keys_new();
	if (jwt_keys_add_jwks(ks, doc, len, msg, sizeof(msg)) != 0 ||
	    ks->nkeys == 0) {
		snprintf(why, whylen, "%.200s: %s", uri, msg[0] == '\0' ?
		    "no usable signing key" : msg);
		jwt_keys_unref(ks);
		ks = NULL;
	}
out:
	free(doc);
	free(uri);
	return ks;
}

/* One fetch; publishes the keys on success.  1 if it succeeded. */
static int
jwt_fetch_once(struct jwt_source *src)
{
	struct jwt_keyset	*ks, *old;
	char			 why[TR_ERRLEN];
	size_t			 nold;

	why[0] = '\0';
	if ((ks = jwt_fetch_keyset(src, why, sizeof(why))) == NULL) {
		if (jwt_fetch_stopping())
			return 0;
		__atomic_add_fetch(&src->n_fetch_error, 1, __ATOMIC_RELAXED);
		old = jwt_fetch_keys(src);
		nold = old != NULL ? old->nkeys : 0;
		jwt_keys_unref(old);
		log_msg(LL_WARN, "jwt_fetch", "issuer %s: key fetch failed, "
		    "keeping the %zu last good keys: %s", src->name, nold,
		    why);
		return 0;
	}
	pthread_mutex_lock(&src->keys_mtx);
	old = src->keys;
	src->keys = ks;
	pthread_mutex_unlock(&src->keys_mtx);
	jwt_keys_unref(old);
	__atomic_add_fetch(&src->n_fetch_ok, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&src->last_ok, (int64_t)time(NULL), __ATOMIC_RELAXED);
	log_msg(LL_INFO, "jwt_fetch", "issuer %s: %zu signing keys fetched",
	    src->name, ks->nkeys);
	return 1;
}

/* The next source to fetch, or NULL; under jwt_fetch_mtx. */
static struct jwt_source *
jwt_fetch_due(uint64_t now)
{
	struct jwt_source	*src;

	TAILQ_FOREACH(src, &jwt_fetch_sources, entry) {
		if (src->state == JWT_FETCH_ASKED ||
		    (src->state == JWT_FETCH_IDLE && now >= src->next_fetch))
			return src;
	}
	return NULL;
}

/* A fetch ended: wake every worker waiting on it; under jwt_fetch_mtx. */
static void
jwt_fetch_wake(struct jwt_source *src)
{
	size_t	i;

	__atomic_add_fetch(&src->gen, 1, __ATOMIC_RELEASE);
	for (i = 0; i < src->nwaiters; i++)
		wake_signal(src->waiters[i]);
	src->nwaiters = 0;
}

/*
 * Sleep until the next fetch is due (at most a second) or a worker asks
 * for one; under jwt_fetch_mtx.
 */
static void
jwt_fetch_sleep(void)
{
	struct jwt_source	*src;
	struct timespec		 ts;
	uint64_t		 now = monotonic_ms(), ms = 1000;

	TAILQ_FOREACH(src, &jwt_fetch_sources, entry) {
		if (src->state != JWT_FETCH_BUSY && src->next_fetch > now &&
		    src->next_fetch - now < ms)
			ms = src->next_fetch - now;
	}
	ms_to_abstime((long long)ms, &ts);
	pthread_cond_timedwait(&jwt_fetch_cv, &jwt_fetch_mtx, &ts);
}

static void *
jwt_fetch_main(void *arg)
{
	struct jwt_source	*src;
	int			 ok;

	pthread_mutex_lock(&jwt_fetch_mtx);
	while (!jwt_fetch_stopping()) {
		if ((src = jwt_fetch_due(monotonic_ms())) == NULL) {
			jwt_fetch_sleep();
			continue;
		}
		src->state = JWT_FETCH_BUSY;
		src->refs++;
		src->last_start = monotonic_ms();
		pthread_mutex_unlock(&jwt_fetch_mtx);
		ok = jwt_fetch_once(src);
		pthread_mutex_lock(&jwt_fetch_mtx);
		src->state = JWT_FETCH_IDLE;
		src->next_fetch = monotonic_ms() +
		    (uint64_t)(ok ? src->lim.refresh : src->lim.retry);
		jwt_fetch_wake(src);
		pthread_mutex_unlock(&jwt_fetch_mtx);
		jwt_fetch_unref(src);
		pthread_mutex_lock(&jwt_fetch_mtx);
	}
	pthread_mutex_unlock(&jwt_fetch_mtx);
	return NULL;
}

/*
 * At exit (main returned, or a fatal error): interrupt the fetch in
 * progress and join the fetcher.  Registered after libcurl initialised
 * OpenSSL, so it runs before OpenSSL's own exit handler.  The thread ends
 * within one pass of libcurl's loop; should it not within JWT_EXIT_WAIT,
 * it is left behind with a warning rather than hang the exit.
 */
static void
jwt_fetch_exit(void)
{
	struct timespec	dl;
	int		e;

	if (pthread_equal(pthread_self(), jwt_fetch_thread))
		return;		/* a fatal error in the fetcher itself */
	pthread_mutex_lock(&jwt_fetch_mtx);
	__atomic_store_n(&jwt_fetch_stop, 1, __ATOMIC_RELEASE);
	pthread_cond_broadcast(&jwt_fetch_cv);
	pthread_mutex_unlock(&jwt_fetch_mtx);
	curl_multi_wakeup(jwt_fetch_multi);
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += JWT_EXIT_WAIT;
	if ((e = pthread_timedjoin_np(jwt_fetch_thread, NULL, &dl)) != 0) {
		log_msg(LL_WARN, "jwt_fetch", "the key fetcher did not stop "
		    "within %d s: %s", JWT_EXIT_WAIT, strerror(e));
		return;
	}
	curl_multi_cleanup(jwt_fetch_multi);
	jwt_fetch_multi = NULL;
	log_msg(LL_VERBOSE, "jwt_fetch", "key fetcher stopped");
}

/* Started once, by the first worker; it blocks every signal. */
static void
jwt_fetch_thread_start(void)
{
	if ((jwt_fetch_multi = curl_multi_init()) == NULL)
		fatalx("curl_multi_init failed");
	if (thread_start(&jwt_fetch_thread, jwt_fetch_main, NULL) != 0)
		fatalx("cannot start the JWKS fetcher thread");
	if (atexit(jwt_fetch_exit) != 0)
		fatalx("cannot register the key fetcher's exit handler");
}

void
jwt_fetch_start(void)
{
	pthread_once(&jwt_fetch_thread_once, jwt_fetch_thread_start);
}

int
jwt_fetch_request(struct jwt_source *src, struct wake *wake, uint64_t *gen)
{
	uint64_t	now = monotonic_ms();
	size_t		i;

	pthread_mutex_lock(&jwt_fetch_mtx);
	if (src->state == JWT_FETCH_IDLE && src->last_start != 0 &&
	    now - src->last_start < (uint64_t)src->lim.refetch &&
	    now < src->next_fetch) {
		pthread_mutex_unlock(&jwt_fetch_mtx);
		return -1;
	}
	if (src->state != JWT_FETCH_BUSY) {
		src->state = JWT_FETCH_ASKED;
		pthread_cond_signal(&jwt_fetch_cv);
	}
	for (i = 0; i < src->nwaiters && src->waiters[i] != wake; i++)
		;
	if (i == src->nwaiters) {
		src->waiters = xreallocarray(src->waiters, src->nwaiters + 1,
		    sizeof(*src->waiters));
		src->waiters[src->nwaiters++] = wake;
	}
	*gen = src->gen;
	pthread_mutex_unlock(&jwt_fetch_mtx);
	return 0;
}

void
jwt_fetch_forget(struct wake *wake)
{
	struct jwt_source	*src;
	size_t			 i;

	pthread_mutex_lock(&jwt_fetch_mtx);
	TAILQ_FOREACH(src, &jwt_fetch_sources, entry) {
		for (i = 0; i < src->nwaiters; i++) {
			if (src->waiters[i] != wake)
				continue;
			src->waiters[i] = src->waiters[--src->nwaiters];
			break;
		}
	}
	pthread_mutex_unlock(&jwt_fetch_mtx);
}
