/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * tokenreviewd: arguments, the first load of the configuration (before any
 * socket is opened), privilege drop, and the main thread's loop, which owns
 * the signals and the file watch.  SIGHUP or a change of a watched file
 * builds a new runtime; only a complete one replaces the running one.
 * SIGTERM and SIGINT stop accepting, let the requests in flight finish and
 * exit 0.
 */

#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "tokenreviewd.h"
#include "login.h"

#define MAX_WATCH	32

/*
 * GnuTLS comes in with libldap and librtmp (through libcurl) but the
 * daemon never uses it: LDAP TLS is ldap-tls.c over OpenSSL.  Its library
 * constructor still initialises it at load unless this variable is set,
 * which costs about half a MiB of resident memory for nothing.
 */
#define NO_GNUTLS_INIT_ENV	"GNUTLS_NO_IMPLICIT_INIT"

struct watch {
	const char	*path;
	dev_t		 dev;
	ino_t		 ino;
	off_t		 size;
	struct timespec	 mtime;
	int		 exists;
};

static struct {
	const char	*config_path;
	struct runtime	*rt;
	struct server	*srv;
	struct event_base *base;
	struct event	*watch_ev;
	struct watch	 watch[MAX_WATCH];
	size_t		 nwatch;
	int		 debug;
} g;

/*
 * The constructors have run by the time main() starts, so the variable
 * only helps a new image: set it and execute ourselves again, once, with
 * the same arguments and environment.  An environment that already has
 * it (the unit file, the image, or this second start) is left alone; if
 * the exec fails (no /proc), the daemon runs on as it is.  Nothing has
 * been read or allocated yet that the new image would miss.
 */
static void
reexec_without_gnutls_init(char **argv)
{
	if (getenv(NO_GNUTLS_INIT_ENV) != NULL)
		return;
	if (setenv(NO_GNUTLS_INIT_ENV, "1", 1) != 0)
		return;
	execv("/proc/self/exe", argv);
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: tokenreviewd [-dnv] [-c config]\n"
	    "  -c, --config FILE  configuration (default %s)\n"
	    "  -n, --check        check the configuration and exit\n"
	    "  -d, --debug        log at debug level\n"
	    "  -v, --version      print the version and exit\n",
	    SYSCONFDIR "/tokenreviewd/tokenreviewd.conf");
}

static void
watch_stat(struct watch *w)
{
	struct stat	st;

	/* stat() follows symlinks: a Kubernetes Secret update swaps one. */
	w->exists = stat(w->path, &st) == 0;
	if (!w->exists)
		return;
	w->dev = st.st_dev;
	w->ino = st.st_ino;
	w->size = st.st_size;
	w->mtime = st.st_mtim;
}

static void
watch_setup(void)
{
	const char	*paths[MAX_WATCH];
	size_t		 i;

	g.nwatch = runtime_watch_paths(g.rt, paths, MAX_WATCH);
	for (i = 0; i < g.nwatch; i++) {
		g.watch[i].path = paths[i];
		watch_stat(&g.watch[i]);
	}
}

static int
watch_changed(void)
{
	struct watch	now;
	size_t		i;
	int		changed = 0;

	for (i = 0; i < g.nwatch; i++) {
		now = g.watch[i];
		watch_stat(&now);
		if (now.exists != g.watch[i].exists || (now.exists &&
		    (now.dev != g.watch[i].dev || now.ino != g.watch[i].ino ||
		    now.size != g.watch[i].size ||
		    now.mtime.tv_sec != g.watch[i].mtime.tv_sec ||
		    now.mtime.tv_nsec != g.watch[i].mtime.tv_nsec))) {
			log_msg(LL_INFO, "file_changed", "%s changed",
			    g.watch[i].path);
			changed = 1;
		}
		g.watch[i] = now;
	}
	return changed;
}

/*
 * Key token fingerprints with the configuration's key, or with the random
 * key of this process; say which when it changes, never what it is.
 */
static void
fingerprint_key_use(const struct runtime *rt, int first)
{
	if (!fingerprint_set_key(rt->fp_key, rt->fp_key_len) && !first)
		return;
	if (rt->fp_key_len == 0)
		log_msg(LL_INFO | LL_ALWAYS, "fingerprint_key", "no [log] "
		    "fingerprint_key_file: token fingerprints use a random key "
		    "of this process, so replicas and restarts show other "
		    "fingerprints for the same token");
	else
		log_msg(LL_INFO, "fingerprint_key", "token fingerprints use "
		    "the key of %s", rt->conf->fingerprint_key_file);
}

/* 1 when the login listener's addresses differ between two loads. */
static int
listen_login_changed(const struct login_conf *a, const struct login_conf *b)
{
	size_t	i;

	if (a == NULL || b == NULL)
		return a != b;
	if (a->nlisten != b->nlisten)
		return 1;
	for (i = 0; i < a->nlisten; i++) {
		if (strcmp(a->listen[i], b->listen[i]) != 0)
			return 1;
	}
	return 0;
}

static void
reload(const char *why)
{
	struct runtime	*rt;
	char		 err[TR_ERRLEN];

	log_msg(LL_INFO, "reload", "reloading (%s)", why);
	if ((rt = runtime_load(g.config_path, 0, err, sizeof(err))) == NULL) {
		metrics_reload(0);
		log_msg(LL_ERROR, "reload_failed", "reload failed, keeping "
		    "the running configuration: %s", err);
		return;
	}
	if (rt->conf->workers != g.rt->conf->workers ||
	    rt->conf->nlisten != g.rt->conf->nlisten)
		log_msg(LL_WARN, "reload", "listen and workers changes take "
		    "effect only after a restart");
	if (listen_login_changed(g.rt->login, rt->login))
		log_msg(LL_WARN, "reload", "a change of [login] listen (or "
		    "of [login] itself) takes effect only after a restart");
	if (!g.debug)
		log_set_level(rt->conf->log_level);
	if (rt->conf->core_dumps != g.rt->conf->core_dumps)
		log_msg(LL_WARN, "reload", "a core_dumps change takes effect "
		    "only after a restart");
	fingerprint_key_use(rt, 0);
	server_swap(g.srv, rt);
	runtime_unref(g.rt);
	g.rt = rt;
	trim_after_load();
	/* Watch what the new configuration names, from its current state. */
	watch_setup();
	metrics_reload(1);
	log_msg(LL_INFO, "reloaded", "configuration generation %llu in use",
	    (unsigned long long)rt->generation);
}

static void
watch_cb(evutil_socket_t fd, short events, void *arg)
{
	if (watch_changed())
		reload("a watched file changed");
}

static void
signal_cb(evutil_socket_t sig, short events, void *arg)
{
	if (sig == SIGHUP) {
		reload("SIGHUP");
		return;
	}
	log_msg(LL_INFO, "shutdown", "signal %d: finishing requests in "
	    "flight, then exiting", (int)sig);
	event_base_loopbreak(g.base);
}

/*
 * The review port, and the health port on a second line if there is one;
 * with a login listener, its port on a third line (the second 0 when
 * there is no health port).
 */
static void
write_port_file(const char *path, uint16_t port, uint16_t health,
    uint16_t login)
{
	char	tmp[4096], buf[32];
	int	fd, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (login != 0)
		n = snprintf(buf, sizeof(buf), "%u\n%u\n%u\n", port, health,
		    login);
	else if (health != 0)
		n = snprintf(buf, sizeof(buf), "%u\n%u\n", port, health);
	else
		n = snprintf(buf, sizeof(buf), "%u\n", port);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1 || write(fd, buf, (size_t)n) != n || close(fd) != 0 ||
	    rename(tmp, path) != 0)
		fatal("port_file %s", path);
}

/* Started as root with [server] user: become that user for good. */
static void
drop_privileges(const char *user)
{
	struct passwd	*pw;

	if (geteuid() != 0) {
		log_msg(LL_WARN, "privileges", "not root: [server] user = %s "
		    "ignored", user);
		return;
	}
	if ((pw = getpwnam(user)) == NULL)
		fatalx("[server] user: no such user %s", user);
	if (setgroups(1, &pw->pw_gid) == -1 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) == -1 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) == -1)
		fatal("dropping privileges to %s", user);
	if (setuid(0) != -1 || seteuid(0) != -1)
		fatalx("could regain root after dropping privileges");
	log_msg(LL_INFO, "privileges", "running as %s (uid %u)", user,
	    (unsigned)pw->pw_uid);
}

static void
warn_insecure(const struct config *conf)
{
	if (conf->client_ca != NULL || conf->client_token_file != NULL)
		return;
	log_msg(LL_WARN, "insecure", "NO CLIENT AUTHENTICATION: anyone who "
	    "can connect may test tokens; set [server] client_ca (mTLS) or "
	    "client_token_file");
}

/* Apply [log] level before the first load logs anything. */
static void
initial_log_level(void)
{
	struct config	*conf;
	char		 err[TR_ERRLEN];

	if (g.debug || (conf = config_load(g.config_path, err,
	    sizeof(err))) == NULL)
		return;
	log_set_level(conf->log_level);
	config_free(conf);
}

static void
run(void)
{
	struct event	*sig[3];
	struct timeval	 tv;
	char		 err[TR_ERRLEN];
	int		 signals[3] = { SIGHUP, SIGTERM, SIGINT }, i;

	if ((g.srv = server_new(g.rt, err, sizeof(err))) == NULL)
		fatalx("%s", err);
	if (g.rt->conf->port_file != NULL)
		write_port_file(g.rt->conf->port_file, server_port(g.srv),
		    server_health_port(g.srv), server_login_port(g.srv));
	if (g.rt->conf->user != NULL)
		drop_privileges(g.rt->conf->user);
	/* After the drop, which resets the dumpable flag. */
	wipe_core_dumps(g.rt->conf->core_dumps);
	fingerprint_key_use(g.rt, 1);
	warn_insecure(g.rt->conf);
	if ((g.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	for (i = 0; i < 3; i++) {
		sig[i] = evsignal_new(g.base, signals[i], signal_cb, NULL);
		evsignal_add(sig[i], NULL);
	}
	watch_setup();
	if (g.rt->conf->watch_interval > 0) {
		g.watch_ev = event_new(g.base, -1, EV_PERSIST, watch_cb, NULL);
		ms_to_timeval(g.rt->conf->watch_interval, &tv);
		event_add(g.watch_ev, &tv);
	}
	/* Last, after everything the start-up runs: trim.c says why. */
	trim_after_load();
	server_start(g.srv);
	log_msg(LL_INFO, "started", "tokenreviewd %s ready, configuration "
	    "generation %llu", PACKAGE_VERSION,
	    (unsigned long long)g.rt->generation);
	event_base_dispatch(g.base);

	server_drain(g.srv, g.rt->conf->shutdown_timeout);
	server_free(g.srv);
	for (i = 0; i < 3; i++)
		event_free(sig[i]);
	if (g.watch_ev != NULL)
		event_free(g.watch_ev);
	event_base_free(g.base);
	log_msg(LL_INFO, "stopped", "all requests answered; exiting");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check", no_argument, NULL, 'n' },
		{ "debug", no_argument, NULL, 'd' },
		{ "version", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	char	err[TR_ERRLEN];
	int	ch, check = 0;

	reexec_without_gnutls_init(argv);
	g.config_path = SYSCONFDIR "/tokenreviewd/tokenreviewd.conf";
	while ((ch = getopt_long(argc, argv, "c:dnvh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			g.config_path = optarg;
			break;
		case 'd':
			g.debug = 1;
			break;
		case 'n':
			check = 1;
			break;
		case 'v':
			printf("tokenreviewd %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	/* Before libevent, OpenSSL or jansson allocates anything. */
	wipe_install();
	wipe_core_off();
	signal(SIGPIPE, SIG_IGN);
	wake_init();
	log_init(g.debug ? LL_DEBUG : LL_INFO);
	log_route_libevent();

	initial_log_level();
#ifdef HAVE_TOKENDB
	/* Checking a config must leave no database file behind. */
	auth_tokendb_may_create(!check);
#endif
	if ((g.rt = runtime_load(g.config_path, 0, err, sizeof(err))) == NULL) {
		if (check) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		fatalx("%s", err);
	}
	if (check) {
		printf("%s: configuration OK\n", g.config_path);
		runtime_unref(g.rt);
		return 0;
	}
	run();
	runtime_unref(g.rt);
	return 0;
}
