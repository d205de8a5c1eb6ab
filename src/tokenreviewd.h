/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Shared types and prototypes of tokenreviewd and tokenreviewctl, grouped
 * under one comment per source file.  Everything a backend needs to plug
 * into the chain is declared here: struct auth_backend, struct auth_req and
 * struct auth_result.
 */

#ifndef TOKENREVIEWD_H
#define TOKENREVIEWD_H

#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <pthread.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

struct event;
struct event_base;
struct evbuffer;

#define TR_SHA256_LEN		32
#define TR_FINGERPRINT_LEN	12	/* hex digits of HMAC-SHA-256 in logs */
#define TR_BOOTSTRAP_ID_LEN	6	/* public part of "<id>.<secret>" */
#define TR_FP_KEY_MIN		32	/* bytes of [log] fingerprint_key_file */
#define TR_MAX_TOKEN		(16 * 1024)	/* longest token we look at */
#define TR_MAX_AUDIENCES	64
#define TR_MAX_LISTEN		16
#define TR_MAX_WORKERS		256
#define TR_ERRLEN		512

/* log.c */
enum log_level {
	LL_FATAL,
	LL_ERROR,
	LL_WARN,
	LL_INFO,
	LL_VERBOSE,
	LL_DEBUG,
};
#define LL_ALWAYS	0x100	/* or'd into a level: write whatever the
				   configured level (audit lines) */

/*
 * A log line under construction: one JSON object, written to stderr with a
 * single write(2) by log_line_end().  Values are escaped as they are added.
 */
struct log_line {
	char	buf[4096];
	size_t	len;
	int	level;
	int	overflow;
};

void	 log_init(int level);
void	 log_set_level(int level);
int	 log_get_level(void);
int	 log_level_parse(const char *);	/* -1 if unknown */
int	 log_line_begin(struct log_line *, int level, const char *event);
void	 log_line_str(struct log_line *, const char *key, const char *value);
void	 log_line_strn(struct log_line *, const char *key, const char *value,
	    size_t len);
void	 log_line_int(struct log_line *, const char *key, long long value);
void	 log_line_double(struct log_line *, const char *key, double value);
void	 log_line_end(struct log_line *);
void	 log_msg(int level, const char *event, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
void	 log_route_libevent(void);
/*
 * Buffer this thread's info and debug lines (audit lines above all) and
 * write them in batches with log_flush(); warnings and errors flush at once.
 */
void	 log_buffer(int on);
void	 log_flush(void);
__attribute__((noreturn)) void fatal(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void fatalx(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
#define log_error(...)	log_msg(LL_ERROR, "error", __VA_ARGS__)
#define log_warn(...)	log_msg(LL_WARN, "warning", __VA_ARGS__)
#define log_info(...)	log_msg(LL_INFO, "info", __VA_ARGS__)
#define log_debug(...)	log_msg(LL_DEBUG, "debug", __VA_ARGS__)

/* wipe.c */
/*
 * Give libevent, OpenSSL and jansson an allocator that wipes what it frees;
 * call first thing in main(), before any of them is used.
 */
void	 wipe_install(void);
/* free() that first wipes the whole block: for one that held a secret. */
void	 wipe_free(void *);
/* realloc() that wipes the old block when it moves; NULL when out of memory. */
void	*wipe_realloc(void *, size_t);
/* No core dumps from now on (the limit and the dumpable flag). */
void	 wipe_core_off(void);
/* After wipe_core_off(): allow (the limit as it was) or forbid for good. */
void	 wipe_core_dumps(int allow);

/* trim.c */
/*
 * Give back the freed heap pages and the resident library code that a
 * load of the configuration left; from the main thread, after a load.
 */
void	 trim_after_load(void);

/* util.c */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
char	*xstrndup(const char *, size_t);
/* a and b in one new string: what "%s%s" gives, without printf. */
char	*xstrcat2(const char *a, const char *b);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 sha256(const void *, size_t, uint8_t out[TR_SHA256_LEN]);
/* pthread_create() of a thread that blocks every signal. */
int	 thread_start(pthread_t *, void *(*)(void *), void *);
/* Incremental SHA-256 on this thread's context: begin, update..., end. */
void	*sha256_begin(void);
void	 sha256_update(void *, const void *, size_t);
void	 sha256_end(void *, uint8_t out[TR_SHA256_LEN]);
/*
 * What logs and tokenreviewctl show for a token: "id:" and the public id
 * of a bootstrap-shaped token, else the first TR_FINGERPRINT_LEN hex
 * digits of HMAC-SHA-256(key, token).  NUL-terminated.
 */
void	 fingerprint(const void *, size_t, char out[TR_FINGERPRINT_LEN + 1]);
/*
 * Key fingerprint() from now on with key (NULL: a random key made once per
 * process).  Main thread only; returns 1 when the key changed.
 */
int	 fingerprint_set_key(const void *key, size_t len);
void	 hex_encode(const uint8_t *, size_t, char *out);	/* 2n+1 bytes */
extern const signed char base64_std_digits[256], base64_url_digits[256];

/* A byte's value as a base64 digit (url: base64url), or -1. */
static inline int
base64_digit(int c, int url)
{
	return (url ? base64_url_digits : base64_std_digits)[c & 0xff];
}

/*
 * Decode base64 without '=' padding into a new NUL-terminated buffer of
 * *outlen bytes; NULL on a character outside the alphabet or a length no
 * encoding has.
 */
unsigned char *base64_decode(const char *, size_t, int url, size_t *outlen);
/*
 * The same into out, which has room for n * 3 / 4 bytes: the length
 * written, or -1 (out then holds part of the bytes).
 */
ssize_t	 base64_decode_to(const char *, size_t n, int url,
	    unsigned char *out);
/* n bytes as unpadded base64url text; the caller frees it. */
char	*base64url_encode(const void *, size_t n);
uint64_t	 fnv1a64(const char *);
int	 ct_equal(const void *, const void *, size_t);
/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
size_t	 utf8_seq_len(const unsigned char *s, size_t n);
/* "250ms", "10s", "5m", "1h"; a bare number means seconds. -1 if bad. */
int	 parse_duration(const char *, long long *ms);
/* "65536", "64k", "1m" (1024-based). -1 if bad. */
int	 parse_size(const char *, size_t *);
/* Unsigned decimal number (no sign) in [min, max]. -1 if bad. */
int	 parse_number(const char *, long long min, long long max, long long *);
/* Split on spaces and tabs into a NULL-terminated array; *n gets the count. */
char	**split_words(const char *, size_t *n);
void	 free_words(char **);
/*
 * Read a whole file of at most max bytes; the result is NUL-terminated and
 * the caller frees it.  With private_file set, a file that group or others
 * may read is refused (the check is made on the open descriptor).
 * NULL and a message in err on failure.
 */
char	*read_file(const char *path, size_t max, int private_file, size_t *len,
	    char *err, size_t errlen);
/*
 * Open a file for reading with the checks of read_file(): a regular file
 * of at most max bytes, private if asked.  The descriptor, or -1 and a
 * message in err.
 */
int	 open_file(const char *path, size_t max, int private_file, char *err,
	    size_t errlen);
uint64_t monotonic_ms(void);
/* The same clock as of the last kernel tick (a few ms behind), at a fifth
 * of the cost: for deadlines of seconds, set several times a request. */
uint64_t monotonic_ms_coarse(void);
#ifndef HAVE_STRLCPY
size_t	 strlcpy(char *, const char *, size_t);
#endif
#ifndef HAVE_STRLCAT
size_t	 strlcat(char *, const char *, size_t);
#endif
double	 monotonic_sec(void);

/* config.c */
/*
 * A section the core does not interpret itself ([static], [tokendb],
 * [ldap "NAME"], [jwt "NAME"], ...): its keys, with the line each came from,
 * for the backend that reads it.
 */
struct conf_kv {
	char	*key;
	char	*value;
	int	 line;
	int	 used;		/* set by conf_get(); unused keys are errors */
};

struct conf_section {
	char		*type;		/* "ldap" */
	char		*label;		/* "corp", or NULL for [static] */
	int		 line;
	struct conf_kv	*kv;
	size_t		 nkv;
};

struct config {
	char		*path;

	/* [server] */
	char		**listen;		/* "127.0.0.1:8443", "[::1]:8443" */
	size_t		 nlisten;
	char		**health_listen;	/* plain HTTP, health only */
	size_t		 nhealth_listen;
	char		*tls_cert;
	char		*tls_key;
	char		*tls_ciphers;		/* TLS 1.2, NULL: AEAD + ECDHE */
	char		*tls_ciphersuites;	/* TLS 1.3, NULL: OpenSSL's */
	char		*client_ca;
	char		**client_names;
	size_t		 nclient_names;
	char		*client_token_file;
	char		*review_path;
	int		 workers;		/* resolved: >= 1 */
	size_t		 max_body;
	size_t		 max_header;
	int		 max_connections;	/* whole process */
	int		 health_max_connections; /* whole process */
	int		 max_connections_per_client; /* unproven, 0 = off */
	long long	 handshake_timeout;	/* ms, handshake + 1st request */
	long long	 idle_timeout;		/* ms, keep-alive idle */
	long long	 read_timeout;		/* ms, handshake or one request */
	long long	 write_timeout;		/* ms */
	long long	 review_timeout;	/* ms, one review in the chain */
	long long	 shutdown_timeout;	/* ms, drain on SIGTERM */
	long long	 watch_interval;	/* ms, 0 = no file watching */
	char		*port_file;
	char		*user;
	char		**chain;		/* backend names, in order */
	size_t		 nchain;
	int		 chain_line;		/* for messages */
	int		 failed_review_rate;	/* a second per client, 0 = off */
	int		 failed_review_burst;
	int		 core_dumps;		/* 0: none (the default) */

	/* [cache] */
	long long	 cache_ttl;		/* ms, 0 = no positive caching */
	long long	 cache_negative_ttl;	/* ms, 0 = no negative caching */
	size_t		 cache_max_entries;

	/* [log] */
	int		 log_level;
	int		 log_audit;
	long long	 log_flush_interval;	/* ms, 0 = unbuffered */
	char		*fingerprint_key_file;	/* NULL: a random key */

	/* every other section, in file order */
	struct conf_section *sections;
	size_t		 nsections;
};

/*
 * Parse and validate a config file.  On error returns NULL with err set to
 * "FILE:LINE: [section] key: what is wrong".  The caller frees the result
 * with config_free().
 */
struct config	*config_load(const char *path, char *err, size_t errlen);
void		 config_free(struct config *);
/* The section [type] or [type "label"] (label NULL: unlabelled), or NULL. */
struct conf_section *config_find_section(const struct config *,
		    const char *type, const char *label);
/* Look up a key of a section and mark it used; NULL if absent. */
struct conf_kv	*conf_get(struct conf_section *, const char *key);
/* Error text for a key of a section: "FILE:LINE: [type "label"] key: msg". */
void		 conf_error(const struct config *, const struct conf_section *,
		    const struct conf_kv *, char *err, size_t errlen,
		    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
/* yes/true/on/1 -> 1, no/false/off/0 -> 0 (any case), else -1. */
int		 conf_parse_bool(const char *);
/*
 * Typed values of a section's keys, checked and worded as the core keys
 * are: def when the key is absent, -1 with a FILE:LINE message in err on
 * a bad value.  conf_get_str() returns a copy of the value or of def.
 */
int		 conf_get_duration(const struct config *, struct conf_section *,
		    const char *key, long long def, long long min,
		    long long max, long long *out, char *err, size_t errlen);
int		 conf_get_size(const struct config *, struct conf_section *,
		    const char *key, size_t def, size_t min, size_t max,
		    size_t *out, char *err, size_t errlen);
int		 conf_get_int(const struct config *, struct conf_section *,
		    const char *key, int def, int min, int max, int *out,
		    char *err, size_t errlen);
int		 conf_get_bool(const struct config *, struct conf_section *,
		    const char *key, int def, int *out, char *err,
		    size_t errlen);
char		*conf_get_str(struct conf_section *, const char *key,
		    const char *def);
/* The first key of a section no conf_get() asked for, or NULL. */
struct conf_kv	*conf_unused(struct conf_section *);
/*
 * A listen list (kv's value, split in list): at most TR_MAX_LISTEN numeric
 * "HOST:PORT" or "[V6]:PORT" addresses, none twice.  0, or -1 with err.
 */
int		 conf_check_addresses(const struct config *,
		    const struct conf_section *, const struct conf_kv *,
		    char **list, size_t n, char *err, size_t errlen);
/* 1 for [server], [cache] and [log], which config.c reads itself. */
int		 config_core_section(const char *type);

/* config-parse.c */
/*
 * Read conf->path into conf->sections: every section, in file order, as
 * raw keys with their lines.  0, or -1 with "FILE:LINE: ..." in err.
 */
int		 config_parse_file(struct config *, char *err, size_t errlen);

/* review.c */
enum review_version {
	REVIEW_V1,
	REVIEW_V1BETA1,
};

struct review_request {
	enum review_version	 version;
	char			*token;		/* NUL-terminated, may be "" */
	size_t			 token_len;
	char			**audiences;	/* NULL-terminated, may be NULL */
	size_t			 naudiences;
};

/*
 * Decode a TokenReview request body.  Returns 0 and fills req, or -1 with a
 * message for a 400 answer in err (the message never contains the token).
 * The caller releases req with review_request_clear(), which wipes the
 * token.
 */
int	 review_decode(const char *body, size_t len, struct review_request *,
	    char *err, size_t errlen);
void	 review_request_clear(struct review_request *);
struct auth_result;
/*
 * Encode the TokenReview answer for a result in the given apiVersion.
 * Returns a malloc'd NUL-terminated string (caller frees), *len its length.
 */
char	*review_encode(enum review_version, const struct auth_result *,
	    size_t *len);
/* A Kubernetes Status object for an HTTP error (400, 404, ...). */
char	*review_status_encode(int code, const char *reason, const char *message,
	    size_t *len);
const char *review_api_version(enum review_version);
/*
 * s as a JSON string with its quotes, invalid UTF-8 as U+FFFD.  With out
 * NULL only counts.  Returns the length (no NUL is written).
 */
size_t	 review_json_quote(const char *s, char *out);

/* auth.c */
enum auth_rv {
	AUTH_DENY,		/* not mine, or not valid: next backend */
	AUTH_OK,		/* authenticated */
	AUTH_ERROR,		/* could not check: next backend, remember */
	AUTH_PENDING,		/* the backend calls done() later, once */
};			/* zero is AUTH_DENY: a cleared result accepts no one */

/*
 * The outcome of one review.  A backend fills it on AUTH_OK (username and
 * user_json required) or AUTH_ERROR (error required).  All strings are
 * owned by the result and released by auth_result_clear().
 */
struct auth_result {
	enum auth_rv	 rv;
	const char	*backend;	/* static: the backend's name */
	char		*username;
	char		*user_json;	/* {"username":...,"uid":...,...} */
	char		*audiences_json; /* ["aud",...] or NULL: leave out */
	char		*error;		/* short reason, never a secret */
	long long	 max_ttl;	/* ms a cache may keep it, 0 = no cap,
				   < 0 = never cache it */
	int		 quiet;		/* error logged by the backend already
				   (once an episode), not per review */
	void		*cache_ref;	/* the strings are a cache entry's,
					   held by this reference (cache.c);
					   NULL: they are the result's own */
};

struct auth_req;
typedef void	 (*auth_done_cb)(struct auth_req *, enum auth_rv);

struct auth_req {
	/* set by the caller of auth_review() */
	const char	*token;
	size_t		 token_len;
	char		**audiences;	/* NULL-terminated or NULL */
	size_t		 naudiences;
	struct event_base *base;
	int		 limited;	/* the caller is over its limit: ask
					   only in-memory backends */

	/* set by auth_review() */
	uint8_t		 token_hash[TR_SHA256_LEN];	/* SHA-256(token) */
	char		 token_fp[TR_FINGERPRINT_LEN + 1];
	struct auth_result result;	/* the final answer */
	int		 cached;	/* answered from the cache */
	int		 joined;	/* answered by an identical review */
	int		 refused;	/* limited, and not accepted */

	/* private to auth.c */
	struct auth_chain *chain;
	size_t		 cursor;
	struct auth_result cur;		/* the running backend's result */
	char		*errors;	/* errors of earlier backends */
	uint8_t		 cache_key[TR_SHA256_LEN];
	int		 keyed;		/* cache_key is made */
	void		(*finish)(struct auth_req *, void *);
	void		*finish_arg;
	struct event	*deadline;
	int		 pending;
	int		 in_flight;	/* on the chain's list of lookups */
	struct auth_req	*leader;	/* whose lookup this one waits on */
	TAILQ_HEAD(, auth_req) waiters;	/* reviews waiting on this one */
	TAILQ_ENTRY(auth_req) entry;	/* in flights, or in waiters */
};

/*
 * A token source.  load() runs in the main thread at start and on every
 * reload: it reads the backend's config section(s) and files into immutable
 * shared data, or fails with "FILE:LINE: ..." in err, in which case the old
 * state keeps serving.  init() runs once per worker thread and per loaded
 * generation: per-worker state such as connection pools lives there.
 * authenticate() returns at once, or AUTH_PENDING and later calls
 * done(req, rv) exactly once from the worker's loop, unless cancel() was
 * called first.  A new backend is one file and one line in the table in
 * auth.c.
 */
struct auth_backend {
	const char	*name;		/* chain name and config section type */
	int		 (*load)(const struct config *, void **shared,
			    char *err, size_t errlen);
	void		 (*unload)(void *shared);
	int		 (*init)(void *shared, struct event_base *, void **inst);
	enum auth_rv	 (*authenticate)(void *inst, struct auth_req *,
			    struct auth_result *, auth_done_cb done);
	void		 (*cancel)(void *inst, struct auth_req *);
	void		 (*free)(void *inst);
	/* optional: 1 when the backend can answer (for /readyz) */
	int		 (*ready)(void *shared);
	/* optional: append Prometheus text lines */
	void		 (*metrics)(void *shared, struct evbuffer *);
	/* optional: files whose change triggers a reload */
	size_t		 (*watch)(void *shared, const char **paths, size_t max);
	/*
	 * 1: answers from memory at once, at no cost to anyone; asked even
	 * for a caller over its limit on failed reviews.
	 */
	int		 in_memory;
};

struct runtime;
struct auth_chain;
struct login_conf;

const struct auth_backend *auth_backend_find(const char *name);
const struct auth_backend *const *auth_backends(size_t *n);
/* Per-worker instances of every backend in the runtime's chain. */
struct auth_chain *auth_chain_new(struct runtime *, struct event_base *);
void	 auth_chain_free(struct auth_chain *);
/*
 * This worker's instance of the backend name (for another part of the
 * daemon that asks a source directly, as /login asks LDAP), or NULL when
 * the backend is not in the chain or did not start in this worker.
 */
void	*auth_chain_instance(struct auth_chain *, const char *name);
/*
 * Review req->token: cache, then each backend in order.  finish(req, arg)
 * is called exactly once with req->result set, possibly before
 * auth_review() returns.
 */
void	 auth_review(struct auth_chain *, struct auth_req *,
	    void (*finish)(struct auth_req *, void *), void *arg);
/* The client went away: cancel what is pending; finish is not called. */
void	 auth_cancel(struct auth_req *);
/* Release what a finished review holds (results, error text). */
void	 auth_req_clear(struct auth_req *);
void	 auth_result_clear(struct auth_result *);
void	 auth_result_move(struct auth_result *dst, struct auth_result *src);
void	 auth_result_copy(struct auth_result *dst, const struct auth_result *);
/*
 * Serialise a user for auth_result.user_json.  groups and extra values are
 * NULL-terminated arrays; extra_keys[i] pairs with extra_values[i]; uid and
 * extra may be NULL.  Empty group names are dropped.
 */
char	*auth_user_json(const char *username, const char *uid,
	    char *const *groups, char *const *extra_keys,
	    char *const *const *extra_values);
/* 1 if g is system:authenticated or system:unauthenticated. */
int	 auth_group_implied(const char *g);

/* names.c */
enum names_kind {
	NAMES_PLAIN,		/* outside the system: namespace */
	NAMES_SYSTEM,		/* in it: dropped unless allowed */
	NAMES_IMPLIED,		/* system:authenticated, system:unauthenticated:
				   the API server's, never from a source */
};
enum names_kind	 names_kind(const char *name);
/* 1 if every name with this prefix would be in the system: namespace. */
int		 names_prefix_reserved(const char *prefix);
/*
 * Remove from the NULL-terminated list groups (freeing them) the names a
 * directory or identity provider may not give: NAMES_IMPLIED ones always,
 * NAMES_SYSTEM ones unless allow_system.  The rest keep their order.
 * dropped (may be NULL) sees each name before it is freed.  Returns how
 * many were removed.
 */
size_t		 names_filter_groups(char **groups, int allow_system,
		    void (*dropped)(const char *, enum names_kind, void *),
		    void *arg);
struct names_once;
struct names_once *names_once_new(void);
void		 names_once_free(struct names_once *);
/* What names_once() makes of what/name.  Thread-safe. */
enum names_once_rv {
	NAMES_ONCE_AGAIN,	/* seen before, or new once the set is full */
	NAMES_ONCE_FIRST,	/* the first time: log it */
	NAMES_ONCE_FULL,	/* new, and the bounded set is full: once */
};
enum names_once_rv names_once(struct names_once *, const char *what,
		    const char *name);
/*
 * Warn, once per what/name, that source (as "[ldap \"corp\"]") dropped
 * the group (what "group") or refused the user name (what "user name");
 * hint names the key that would put it outside the namespace.
 */
void		 names_log(struct names_once *, const char *source,
		    const char *what, const char *name, enum names_kind,
		    const char *hint, const char *token_fp);

/* auth-static.c */
struct static_table;
typedef void	 (*static_warn_cb)(const char *msg, void *arg);
/*
 * Parse a token file in kube-apiserver's --token-auth-file format.  name is
 * used in messages ("FILE:LINE: ...").  Warnings (duplicate token, ignored
 * columns, empty token) go to warn.  NULL with err set on a fatal error.
 */
struct static_table *static_table_parse(const char *data, size_t len,
		    const char *name, static_warn_cb warn, void *arg,
		    char *err, size_t errlen);
/*
 * The same from an open file, read a window at a time up to its end, and
 * refused if it passes max bytes.  The caller closes fd.
 */
struct static_table *static_table_read(int fd, size_t max, const char *name,
		    static_warn_cb warn, void *arg, char *err, size_t errlen);
void		 static_table_free(struct static_table *);
size_t		 static_table_count(const struct static_table *);
/*
 * 1 if the token is in the table, with *record (owned by the table) set to
 * its user: the username, then the uid and the groups, for
 * static_record_json().  Looked up by SHA-256, compared in constant time.
 */
int		 static_table_lookup(const struct static_table *,
		    const char *token, size_t len, const char **record);
int		 static_table_lookup_digest(const struct static_table *,
		    const uint8_t digest[TR_SHA256_LEN], const char **record);
/* The user JSON for auth_result.user_json; the caller frees it. */
char		*static_record_json(const char *record);
extern const struct auth_backend auth_static_backend;

/*
 * tokendb.c, tokendb-rules.c, tokendb-csv.c: the token database, in
 * tokendb.h; its engines and pgpool.c have private headers.
 */

/* auth-tokendb.c */
extern const struct auth_backend auth_tokendb_backend;
/*
 * Let load() create a missing SQLite file: the daemon does; tokenreviewd
 * -n, tokenreviewctl check-config and review (the default) only say that
 * the file will be created on first start.
 */
void		 auth_tokendb_may_create(int);

/*
 * auth-tokendb-session.c: login sessions, for the login flow, on the
 * worker's instance of the tokendb source (auth_chain_instance(chain,
 * "tokendb")).  A check answers TDSESS_ACTIVE for a row that is there,
 * not revoked and not expired at now, TDSESS_ENDED otherwise, and
 * TDSESS_ERROR (why: the cause) when the database cannot say; an add
 * answers TDSESS_ACTIVE once the row is written.  With SQLite cb runs
 * before the call returns, which then returns NULL; with PostgreSQL it
 * runs once, later, from the worker's loop, unless the returned op is
 * cancelled first.  Ops must end (answered or cancelled) before the
 * instance is freed.  The session is copied: the caller keeps its own.
 */
struct tokendb_session;
struct tdsrc_sess_op;
enum tdsrc_session_rv {
	TDSESS_ACTIVE,
	TDSESS_ENDED,
	TDSESS_ERROR,
};
typedef void	 (*tdsrc_session_cb)(void *arg, enum tdsrc_session_rv,
		    const char *why);
struct tdsrc_sess_op *tdsrc_session_check(void *inst, const char *jti,
		    int64_t now, tdsrc_session_cb cb, void *arg);
struct tdsrc_sess_op *tdsrc_session_add(void *inst,
		    const struct tokendb_session *, tdsrc_session_cb cb,
		    void *arg);
/* Forget an op: its cb is not called.  NULL is a no-op. */
void		 tdsrc_session_cancel(struct tdsrc_sess_op *);
/*
 * The instance's cache_ttl (ms, 0: none): how long a review may keep an
 * answer that a revocation in the token database must end.
 */
long long	 tdsrc_session_cache_ttl(void *inst);

/* auth-ldap.c */
/* RFC 4515 escaping of an assertion value; the caller frees the result. */
char		*auth_ldap_filter_escape(const char *, size_t);
/*
 * A filter from a template: %s is value, %u is user (both escaped), %%
 * is %.  NULL if the template has another % sequence or uses a NULL
 * value.  The caller frees the result.
 */
char		*auth_ldap_filter_expand(const char *tmpl, const char *value,
		    const char *user);
/*
 * Split a bind-mode token, base64("user:password"), into user and
 * password (the caller frees both, wiping the password).  -1 when the
 * token has another shape or either part is empty.
 */
int		 auth_ldap_decode_basic(const char *, size_t, char **user,
		    char **password, size_t *password_len);
/*
 * An attribute's value as text: objectGUID as Windows writes a GUID,
 * objectSid as S-1-5-21-..., other UTF-8 text as is, anything else in
 * lowercase hex.  The caller frees the result.
 */
char		*auth_ldap_value_text(const char *attr, const char *val,
		    size_t len);
/*
 * Recheck: the user named username looked up in the directory dir
 * without a bind, as bind mode searches a login (whatever the
 * directory's mode, also with reviews = no).  username is the name as
 * answered: the directory's username_prefix is taken off before the
 * search, and a name without it is not the directory's.  AUTH_OK with
 * the user as it is now (groups, uid, extra) in res, AUTH_DENY when the
 * entry is gone, is another user's or is locked (ppolicy's
 * pwdAccountLockedTime set), AUTH_ERROR when the directory cannot be
 * asked.  Like authenticate(): at once, or AUTH_PENDING and done(req, rv)
 * later; cancelled with auth_ldap_backend.cancel(inst, req).
 */
enum auth_rv	 auth_ldap_recheck(void *inst, const char *dir,
		    const char *username, struct auth_req *req,
		    struct auth_result *res, auth_done_cb done);
extern const struct auth_backend auth_ldap_backend;
/*
 * /login: the Basic credential in req->token checked by the directory dir
 * exactly as bind mode checks a token (that directory only, whatever its
 * mode).  Like authenticate(): returns at once or AUTH_PENDING and calls
 * done(req, rv) later; cancelled with auth_ldap_backend.cancel(inst, req).
 * A locked-out user name: AUTH_DENY with res->error "too many failed
 * logins" and res->max_ttl = the lockout's remaining ms (for
 * Retry-After).  Unreachable: AUTH_ERROR.
 */
enum auth_rv	 auth_ldap_login(void *inst, const char *dir,
		    struct auth_req *req, struct auth_result *res,
		    auth_done_cb done);

/* auth-jwt.c; the rest of the JWT source is in jwt-int.h */
extern const struct auth_backend auth_jwt_backend;
/*
 * jwt-verify.c: how long a token verified at now with this exp may be
 * cached, in ms.
 */
long long	 auth_jwt_cache_ms(double exp, double now);

/* cache.c */
struct cache;
struct cache	*cache_new(size_t max_entries);
void		 cache_free(struct cache *);
/*
 * 1 and the stored result on a hit, its strings shared with the entry
 * until auth_result_clear(out) drops the reference; 0 on a miss or
 * expiry.
 */
int		 cache_get(struct cache *, const uint8_t key[TR_SHA256_LEN],
		    struct auth_result *out);
/* Store a copy of res for ttl ms (0: nothing stored). */
void		 cache_put(struct cache *, const uint8_t key[TR_SHA256_LEN],
		    const struct auth_result *res, long long ttl);
size_t		 cache_count(struct cache *);
/* Drop the reference a result of cache_get() holds (auth_result_clear()). */
void		 cache_ref_drop(void *);
/* The key of a review: SHA-256 over SHA-256(token), then each audience. */
void		 cache_key_digest(const uint8_t token_hash[TR_SHA256_LEN],
		    char *const *auds, size_t naud, uint8_t out[TR_SHA256_LEN]);
/* The same from the token itself. */
void		 cache_key(const char *token, size_t len, char *const *auds,
		    size_t naud, uint8_t out[TR_SHA256_LEN]);

/* runtime.c */
/*
 * Everything one loaded configuration gives: the config, the TLS context,
 * the backends' shared data and the result cache.  Immutable once built
 * (the cache locks itself); reference-counted, so requests in flight keep
 * the generation they started with while a reload swaps in a new one.
 */
struct runtime {
	int			 refs;		/* atomic */
	uint64_t		 generation;
	struct config		*conf;
	void			*ssl_ctx;	/* SSL_CTX *, NULL for ctl */
	void			*login_ssl_ctx;	/* the same without client
						   certificates, for [login] */
	int			 has_client_token;
	uint8_t			 client_token_hash[TR_SHA256_LEN];
	char			*fp_key;	/* [log] fingerprint_key_file */
	size_t			 fp_key_len;	/* 0: none, a random key */
	const struct auth_backend **backends;	/* chain order */
	void			**shared;
	size_t			 nbackends;
	struct cache		*cache;
	struct login_conf	*login;		/* [login], or NULL */
};

#define RUNTIME_NO_TLS	0x1	/* tokenreviewctl review: skip TLS files */
struct runtime	*runtime_load(const char *path, int flags, char *err,
		    size_t errlen);
void		 runtime_ref(struct runtime *);
void		 runtime_unref(struct runtime *);
int		 runtime_ready(struct runtime *, char *why, size_t len);
/* Files whose change should trigger a reload; returns the count. */
size_t		 runtime_watch_paths(struct runtime *, const char **paths,
		    size_t max);

/* tls.c */
/* Build the server SSL_CTX from the [server] section. NULL + err on error. */
void	*tls_ctx_new(const struct config *, char *err, size_t errlen);
/*
 * Would OpenSSL take this cipher list (TLS 1.2, tls13 0) or list of
 * suites (TLS 1.3, tls13 1)?  0, or -1 and err says why.
 */
int	 tls_check_ciphers(const char *list, int tls13, char *err,
	    size_t errlen);
/*
 * The same for the login listener: the certificate, protocols and ciphers
 * of [server], but never a request for a client certificate.
 */
void	*tls_ctx_new_login(const struct config *, char *err, size_t errlen);
void	 tls_ctx_free(void *);
/*
 * A client SSL_CTX for outgoing connections: TLS 1.2 and later, the peer
 * verified against the PEM file ca (the system's trust store when NULL),
 * a client certificate when cert and key are set (the key file must be
 * private).  NULL + err on error; freed with tls_ctx_free().
 */
void	*tls_client_ctx_new(const char *ca, const char *cert,
	    const char *key, char *err, size_t errlen);
/*
 * An SSL on a connected socket whose certificate must name host (a DNS
 * name, also sent as SNI, or an IP address).  NULL on error.
 */
void	*tls_client_new(void *ctx, int fd, const char *host);
/*
 * What one step of the client handshake came to.  The values are those
 * the function returned as plain integers before, so that a caller that
 * still tests "> 0" or "< 0" reads them the same way.
 */
enum tls_step {
	TLS_STEP_FAILED = -1,	/* err says why */
	TLS_STEP_DONE = 0,
	TLS_STEP_WANT_READ = 1,	/* step again when the socket is readable */
	TLS_STEP_WANT_WRITE = 2	/* ... writable */
};
/*
 * One step of the client handshake on a non-blocking socket.  On
 * TLS_STEP_FAILED err says why: the certificate's verification error
 * when it was not accepted.
 */
enum tls_step	 tls_client_handshake(void *ssl, char *err, size_t errlen);

/* limit.c */
/* Which failures a limit counts: each scope is a table of its own. */
enum limit_scope {
	LIMIT_REVIEWS,		/* failed reviews (the zero value) */
	LIMIT_LOGINS,		/* failed logins on the login listener */
	LIMIT_NSCOPES,
};
struct limit_conf {
	double	rate;		/* failed reviews a second, <= 0: no limit */
	double	burst;		/* failed reviews in a row */
	enum limit_scope scope;
};
/* The address part of http_peer()'s "addr:port" or "[addr]:port". */
void	 limit_client(const char *peer, char *out, size_t outlen);
/* 0 while client's failures are over the limit at now (ms), else 1. */
int	 limit_allowed(const struct limit_conf *, const char *client,
	    uint64_t now);
/*
 * Count a failed review; 1 when it used up the client's last one for the
 * first time since its bucket was last full.
 */
int	 limit_failed(const struct limit_conf *, const char *client,
	    uint64_t now);
/* ms until client may fail once more at now: 0 when it may now. */
long long limit_retry_ms(const struct limit_conf *, const char *client,
	    uint64_t now);
/* Forget every client (tests). */
void	 limit_reset(void);

/* connlimit.c */
enum listener_kind {
	LISTENER_REVIEW,	/* listen: TLS, reviews */
	LISTENER_HEALTH,	/* health_listen: plain HTTP */
	LISTENER_LOGIN,		/* [login] listen: TLS, people logging in */
	LISTENER_MAX,
};

/* A client as the connection limit sees it: an IPv4 address, an IPv6 /64. */
struct connlimit_addr {
	uint8_t		b[16];
};

void	 connlimit_addr(const struct sockaddr *, struct connlimit_addr *);
/* "192.0.2.1" or "2001:db8::/64". */
void	 connlimit_format(const struct connlimit_addr *, char *, size_t);
/*
 * One more connection of addr on a listener that has not proven its
 * caller yet.  0, or -1 when addr has had max such connections (max <= 0:
 * no limit) for a second in which none of them proved itself, or was
 * refused in the last minute; on the review listener an address that
 * proved itself lately is not held to max.  *first is set when a refusal
 * starts an episode (for one log line).
 */
int	 connlimit_take(const struct connlimit_addr *, enum listener_kind,
	    int max, uint64_t now, int *first);
/* A connection taken above closed, or proved itself (proved). */
void	 connlimit_release(const struct connlimit_addr *, enum listener_kind,
	    int proved, uint64_t now);
/* A connection of addr authenticated its caller; until it closes (and
 * for a while after), addr is trusted on the review listener. */
void	 connlimit_trust(const struct connlimit_addr *, uint64_t now);
void	 connlimit_untrust(const struct connlimit_addr *, uint64_t now);
/* Addresses in the table (tests), and forget them all (tests). */
size_t	 connlimit_count(void);
void	 connlimit_reset(void);
/*
 * Failed logins per user name (LDAP bind mode).  scope is the source's
 * name; names are compared as lockout_name() writes them.  limit <= 0
 * turns it off: nothing is ever refused.
 */
#define LOCKOUT_NAME_MAX	512
struct lockout_conf {
	int		 limit;		/* failures in window that lock out */
	long long	 window;	/* ms */
	long long	 duration;	/* ms a name stays locked out */
};
enum lockout_outcome {
	LO_SUCCEEDED,	/* the password was right: failures forgotten */
	LO_FAILED,	/* wrong password, or no such user */
	LO_UNKNOWN,	/* not sent, or neither yes nor no: not counted */
};
/* The name as a directory compares it (case, spaces) into out. */
void	 lockout_name(const char *name, char *out, size_t outlen);
/* ms the name stays locked out at now, or 0 when it may be tried. */
long long lockout_check(const struct lockout_conf *, const char *scope,
	    const char *name, uint64_t now);
/*
 * Before a bind: 0 when it may be sent, and then it holds a place among
 * the failures until lockout_end(..., began 1, ...); else > 0 (ms, or 1
 * while binds in flight may use the last places up).
 */
long long lockout_begin(const struct lockout_conf *, const char *scope,
	    const char *name, uint64_t now);
/*
 * The outcome of a login of name; began: it went through lockout_begin().
 * 1 when this failure locked the name out (once per episode).
 */
int	 lockout_end(const struct lockout_conf *, const char *scope,
	    const char *name, int began, enum lockout_outcome, uint64_t now);
/* Forget every name (tests). */
void	 lockout_reset(void);

/*
 * The toolkit of the token sources: config tables, metrics, timers, ...
 * Here, not at the end, because struct metrics holds a struct metrics_hist.
 */
#include "toolkit.h"

/* metrics.c */
enum metrics_path {
	MP_REVIEW,
	MP_HEALTHZ,
	MP_READYZ,
	MP_METRICS,
	MP_LOGIN,
	MP_OTHER,
	MP_MAX,
};

enum review_outcome {
	RO_AUTHENTICATED,
	RO_UNAUTHENTICATED,
	RO_ERROR,
	RO_MAX,
};

#define METRICS_MAX_BACKENDS	16

/* How a POST /login ended, for tokenreviewd_logins_total{outcome}. */
enum metrics_login {
	ML_SUCCESS,
	ML_FAILURE,		/* wrong password, unknown user: 401 */
	ML_LOCKED_OUT,		/* the user name's lockout: 429 */
	ML_LIMITED,		/* the client address's limit: 429 */
	ML_ERROR,		/* the directory could not answer: 503 */
	ML_BAD_REQUEST,		/* no Basic credential: 400 */
	ML_MAX,
};

/*
 * Counters of one worker.  Only that worker writes them (relaxed atomic
 * stores); the /metrics handler of any worker sums them.
 */
struct metrics {
	uint64_t	requests[MP_MAX][16];	/* by path, by code index */
	uint64_t	reviews[METRICS_MAX_BACKENDS + 1][RO_MAX];
	struct metrics_hist latency;		/* of reviews */
	uint64_t	cache_hits;
	uint64_t	cache_misses;
	uint64_t	connections_total;
	int64_t		connections_open;
	int64_t		connections_warm;	/* keeping their buffers */
	int64_t		listener_open[LISTENER_MAX];
	/* by listener: refused over the per-client limit, refused with no
	 * slot to free, closed to make room */
	uint64_t	conns_refused_client[LISTENER_MAX];
	uint64_t	conns_refused_full[LISTENER_MAX];
	uint64_t	conns_evicted[LISTENER_MAX];
	uint64_t	tls_handshake_failures;
	uint64_t	client_auth_failures;
	uint64_t	reviews_limited;	/* over failed_review_rate */
	uint64_t	logins[ML_MAX];
	char		pad[64];
};

struct metrics	*metrics_register(void);	/* one per worker */
void		 metrics_request(struct metrics *, enum metrics_path, int code);
/* backend: index in the chain, or -1 when no backend decided. */
void		 metrics_review(struct metrics *, int backend,
		    enum review_outcome, double seconds, int cached);
void		 metrics_reload(int ok);
void		 metrics_login(struct metrics *, enum metrics_login);
/* Render everything in the Prometheus text format. */
void		 metrics_render(struct evbuffer *, struct runtime *);

/* server.c */
struct server;
struct server	*server_new(struct runtime *, char *err, size_t errlen);
int		 server_start(struct server *);	/* spawn the workers */
void		 server_swap(struct server *, struct runtime *);
void		 server_drain(struct server *, long long timeout_ms);
void		 server_free(struct server *);
uint16_t	 server_port(struct server *);	/* first bound port */
uint16_t	 server_health_port(struct server *);	/* or 0 */
uint16_t	 server_login_port(struct server *);	/* or 0 */

#endif /* TOKENREVIEWD_H */
