/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests of the config file parser: every key of the core sections,
 * the defaults, raw backend sections, and the text of every error, which
 * must name the file, the line, the section and the key.  Ends with random
 * input that must give either a config or an error, never a crash.
 */

#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenreviewd.h"
#include "tap.h"

static char	tmpdir[64];
static char	path[128];
static char	err[TR_ERRLEN];

/* Minimal [server] lines that make a config valid. */
#define TLS	"tls_cert = /etc/t/tls.crt\ntls_key = /etc/t/tls.key\n"

static const char *
write_conf(const char *text, size_t len)
{
	FILE	*f;

	snprintf(path, sizeof(path), "%s/test.conf", tmpdir);
	if ((f = fopen(path, "w")) == NULL) {
		diag("%s: %s", path, strerror(errno));
		exit(1);
	}
	if (fwrite(text, 1, len, f) != len || fclose(f) != 0) {
		diag("%s: write failed", path);
		exit(1);
	}
	return path;
}

static struct config *
load(const char *text)
{
	struct config	*conf;

	err[0] = '\0';
	conf = config_load(write_conf(text, strlen(text)), err, sizeof(err));
	if (conf == NULL)
		diag("error: %s", err);
	return conf;
}

/* The config must fail with "PATH:want". */
static void
load_fails(const char *text, const char *want, const char *what)
{
	struct config	*conf;
	char		 full[TR_ERRLEN + 256];

	err[0] = '\0';
	conf = config_load(write_conf(text, strlen(text)), err, sizeof(err));
	ok(conf == NULL, "%s: refused", what);
	snprintf(full, sizeof(full), "%s:%s", path, want);
	is_str(err, full, "%s: message", what);
	config_free(conf);
}

static void
test_full(void)
{
	struct config	*conf;

	conf = load(
	    "; every key of the core sections\n"
	    "[server]\n"
	    "listen = 127.0.0.1:0 [::1]:8444  0.0.0.0:65535\n"
	    "tls_cert = /etc/t/tls.crt\n"
	    "tls_key = /etc/t/tls.key\n"
	    "client_ca = /etc/t/ca.crt\n"
	    "client_names = kube-apiserver  apiserver.example.org\n"
	    "client_token_file = /etc/t/client.token\n"
	    "review_path = /authenticate/v1\n"
	    "workers = 3\n"
	    "max_body = 128k\n"
	    "max_header = 1m\n"
	    "max_connections = 77\n"
	    "idle_timeout = 5m\n"
	    "read_timeout = 250ms\n"
	    "write_timeout = 3\n"
	    "review_timeout = 1h\n"
	    "shutdown_timeout = 0\n"
	    "watch_interval = 0s\n"
	    "port_file = /run/t/port\n"
	    "user = nobody\n"
	    "chain = static tokendb ldap ; inline comment\n"
	    "[cache]\n"
	    "ttl = 2m\n"
	    "negative_ttl = 500ms\n"
	    "max_entries = 0\n"
	    "[log]\n"
	    "level = debug\n"
	    "audit = off\n");
	ok(conf != NULL, "full config loads");
	if (conf == NULL) {
		skip(33, "no config");
		return;
	}
	is_str(conf->path, path, "path");
	is_int(conf->nlisten, 3, "three listen addresses");
	is_str(conf->listen[0], "127.0.0.1:0", "listen[0]");
	is_str(conf->listen[1], "[::1]:8444", "listen[1]");
	is_str(conf->listen[2], "0.0.0.0:65535", "listen[2]");
	ok(conf->listen[3] == NULL, "listen is NULL-terminated");
	is_str(conf->tls_cert, "/etc/t/tls.crt", "tls_cert");
	is_str(conf->tls_key, "/etc/t/tls.key", "tls_key");
	is_str(conf->client_ca, "/etc/t/ca.crt", "client_ca");
	is_int(conf->nclient_names, 2, "two client names");
	is_str(conf->client_names[1], "apiserver.example.org", "client_names");
	is_str(conf->client_token_file, "/etc/t/client.token",
	    "client_token_file");
	is_str(conf->review_path, "/authenticate/v1", "review_path");
	is_int(conf->workers, 3, "workers");
	is_int(conf->max_body, 128 * 1024, "max_body");
	is_int(conf->max_header, 1024 * 1024, "max_header");
	is_int(conf->max_connections, 77, "max_connections");
	is_int(conf->idle_timeout, 5 * 60 * 1000, "idle_timeout");
	is_int(conf->read_timeout, 250, "read_timeout");
	is_int(conf->write_timeout, 3000, "write_timeout, bare seconds");
	is_int(conf->review_timeout, 3600 * 1000, "review_timeout");
	is_int(conf->shutdown_timeout, 0, "shutdown_timeout");
	is_int(conf->watch_interval, 0, "watch_interval");
	is_str(conf->port_file, "/run/t/port", "port_file");
	is_str(conf->user, "nobody", "user");
	is_int(conf->nchain, 3, "chain has three names");
	is_str(conf->chain[2], "ldap", "chain without the comment");
	is_int(conf->cache_ttl, 120 * 1000, "cache ttl");
	is_int(conf->cache_negative_ttl, 500, "cache negative_ttl");
	is_int(conf->cache_max_entries, 0, "cache max_entries");
	is_int(conf->log_level, LL_DEBUG, "log level");
	is_int(conf->log_audit, 0, "log audit");
	is_int(conf->nsections, 0, "no raw sections");
	config_free(conf);
}

static void
test_defaults(void)
{
	struct config	*conf;

	conf = load("[server]\n" TLS);
	ok(conf != NULL, "minimal config loads");
	if (conf == NULL) {
		skip(25, "no config");
		return;
	}
	is_int(conf->nlisten, 1, "one default listen address");
	is_str(conf->listen[0], "127.0.0.1:8443", "default listen");
	ok(conf->client_ca == NULL, "no client_ca");
	is_int(conf->nclient_names, 0, "no client_names");
	ok(conf->client_names != NULL && conf->client_names[0] == NULL,
	    "client_names is an empty list");
	ok(conf->client_token_file == NULL, "no client_token_file");
	is_str(conf->review_path, "/tokenreview", "default review_path");
	ok(conf->workers >= 1 && conf->workers <= TR_MAX_WORKERS,
	    "workers resolved to %d", conf->workers);
	is_int(conf->max_body, 64 * 1024, "default max_body");
	is_int(conf->max_header, 16 * 1024, "default max_header");
	is_int(conf->max_connections, 4096, "default max_connections");
	is_int(conf->health_max_connections, 256,
	    "default health_max_connections");
	is_int(conf->max_connections_per_client, 64,
	    "default max_connections_per_client");
	is_int(conf->handshake_timeout, 5000, "default handshake_timeout");
	is_int(conf->idle_timeout, 120000, "default idle_timeout");
	is_int(conf->read_timeout, 10000, "default read_timeout");
	is_int(conf->write_timeout, 10000, "default write_timeout");
	is_int(conf->review_timeout, 10000, "default review_timeout");
	is_int(conf->shutdown_timeout, 15000, "default shutdown_timeout");
	is_int(conf->watch_interval, 2000, "default watch_interval");
	ok(conf->port_file == NULL && conf->user == NULL,
	    "no port_file, no user");
	is_int(conf->nchain, 0, "empty chain");
	ok(conf->chain != NULL && conf->chain[0] == NULL,
	    "chain is an empty list");
	is_int(conf->cache_ttl, 60000, "default ttl");
	is_int(conf->cache_negative_ttl, 10000, "default negative_ttl");
	is_int(conf->cache_max_entries, 100000, "default max_entries");
	is_int(conf->log_level, LL_INFO, "default level");
	is_int(conf->log_audit, 1, "default audit");
	config_free(conf);
}

static void
test_layout(void)
{
	struct config	*conf;

	conf = load("\xef\xbb\xbf; BOM, CRLF, indentation, comments\r\n"
	    "# hash comment\r\n"
	    "[server]   ; the server\r\n"
	    "    tls_cert = /a\r\n"
	    "\ttls_key: /b\r\n"
	    "    chain =\r\n"
	    "  [log]\r\n"
	    "  audit = TRUE\r\n");
	ok(conf != NULL, "BOM, CRLF, indented keys and ':' are accepted");
	if (conf != NULL) {
		is_str(conf->tls_cert, "/a", "indented key not a continuation");
		is_str(conf->tls_key, "/b", "name: value form");
		is_int(conf->nchain, 0, "empty chain allowed");
		is_int(conf->log_audit, 1, "TRUE is true");
	} else
		skip(4, "no config");
	config_free(conf);
}

/*
 * Lines longer than inih's buffer are split by config.c itself: the
 * result must be what inih gives for the same line when it is short.
 */
static void
test_long_lines(void)
{
	static const char *const lines[] = {
		"k = v ; comment", "k =;v", "k = a;b ; c", "k: v", "k=v=w",
		"k = v\t;c", "k = ", "  k   =   v  ",
	};
	struct config	*conf;
	char		 text[1024], pad[400], listen[700], *want;
	const char	*c;
	size_t		 i, off;

	memset(pad, ' ', 300);
	pad[300] = '\0';
	for (i = 0; i < sizeof(lines) / sizeof(lines[0]); i++) {
		snprintf(text, sizeof(text), "[server]\n" TLS "[static]\n%s\n",
		    lines[i]);
		conf = load(text);
		want = xstrdup(conf != NULL && conf->nsections == 1 &&
		    conf->sections[0].nkv == 1 ?
		    conf->sections[0].kv[0].value : "?");
		config_free(conf);

		/* 300 more blanks: before a comment, or at the end. */
		c = strrchr(lines[i], ';');
		if (c == NULL || c == lines[i] ||
		    !isblank((unsigned char)c[-1]))
			c = lines[i] + strlen(lines[i]);
		snprintf(text, sizeof(text), "[server]\n" TLS "[static]\n"
		    "%.*s%s%s\n", (int)(c - lines[i]), lines[i], pad, c);
		conf = load(text);
		ok(conf != NULL && conf->sections[0].nkv == 1 &&
		    strcmp(conf->sections[0].kv[0].key, "k") == 0 &&
		    strcmp(conf->sections[0].kv[0].value, want) == 0,
		    "long line %zu gives \"%s\"", i, want);
		config_free(conf);
		free(want);
	}

	off = (size_t)snprintf(listen, sizeof(listen), "listen =");
	for (i = 0; i < TR_MAX_LISTEN && off < sizeof(listen); i++) {
		off += (size_t)snprintf(listen + off, sizeof(listen) - off,
		    " [2001:db8::%zx]:%zu", i + 1, 8440 + i);
	}
	snprintf(text, sizeof(text), "[server]\n" TLS "%s ; all of them\n",
	    listen);
	conf = load(text);
	ok(conf != NULL && conf->nlisten == TR_MAX_LISTEN &&
	    strcmp(conf->listen[15], "[2001:db8::10]:8455") == 0,
	    "16 IPv6 addresses on a %zu-character line", strlen(listen));
	config_free(conf);
}

static void
test_raw_sections(void)
{
	struct config		*conf;
	struct conf_section	*s;
	struct conf_kv		*kv;

	conf = load("[static]\n"			/* 1 */
	    "file = /etc/t/tokens.csv\n"		/* 2 */
	    "\n"					/* 3 */
	    "[ldap \"corp\"]\n"				/* 4 */
	    "uri = ldaps://a ldaps://b\n"		/* 5 */
	    "user_filter = (uid=%s)\n"			/* 6 */
	    "[server]\n"				/* 7 */
	    TLS						/* 8, 9 */
	    "[jwt   \"corp-idp\" ]  ; issuer\n"		/* 10 */
	    "required_claims = tenant=blue\n"		/* 11 */
	    "[ldap \"other dir\"]\n"			/* 12 */
	    "[tokendb]\n");				/* 13 */
	ok(conf != NULL, "raw sections load");
	if (conf == NULL) {
		skip(27, "no config");
		return;
	}
	is_int(conf->nsections, 5, "five raw sections, core ones left out");
	is_str(conf->sections[0].type, "static", "first is static");
	ok(conf->sections[0].label == NULL, "static has no label");
	is_int(conf->sections[0].line, 1, "static at line 1");
	is_str(conf->sections[1].type, "ldap", "second is ldap");
	is_str(conf->sections[1].label, "corp", "label without quotes");
	is_int(conf->sections[1].line, 4, "ldap at line 4");
	is_int(conf->sections[1].nkv, 2, "ldap has two keys");
	is_str(conf->sections[1].kv[1].key, "user_filter", "keys in order");
	is_str(conf->sections[1].kv[1].value, "(uid=%s)", "raw value");
	is_int(conf->sections[1].kv[1].line, 6, "key line");
	is_str(conf->sections[2].label, "corp-idp", "jwt label");
	is_int(conf->sections[2].line, 10, "jwt at line 10");
	is_str(conf->sections[2].kv[0].value, "tenant=blue",
	    "value keeps its '='");
	is_str(conf->sections[3].label, "other dir", "label with a space");
	is_int(conf->sections[4].nkv, 0, "empty section kept");
	is_int(conf->sections[4].line, 13, "empty section line");

	s = config_find_section(conf, "ldap", "corp");
	ok(s == &conf->sections[1], "find [ldap \"corp\"]");
	ok(config_find_section(conf, "ldap", NULL) == NULL,
	    "no unlabelled [ldap]");
	ok(config_find_section(conf, "static", NULL) == &conf->sections[0],
	    "find [static]");
	ok(config_find_section(conf, "server", NULL) == NULL,
	    "core sections are not raw");
	kv = conf_get(s, "uri");
	ok(kv != NULL && kv->used, "conf_get finds and marks uri");
	ok(conf_get(s, "nope") == NULL, "conf_get of a missing key");
	kv = conf_unused(s);
	ok(kv != NULL && strcmp(kv->key, "user_filter") == 0,
	    "conf_unused gives user_filter");
	conf_error(conf, s, kv, err, sizeof(err), "unknown key %d", 7);
	ok(strstr(err, ":6: [ldap \"corp\"] user_filter: unknown key 7") !=
	    NULL && strncmp(err, path, strlen(path)) == 0,
	    "conf_error with a key: %s", err);
	conf_error(conf, s, NULL, err, sizeof(err), "no uri");
	ok(strstr(err, ":4: [ldap \"corp\"]: no uri") != NULL,
	    "conf_error without a key: %s", err);
	conf_get(s, "user_filter");
	ok(conf_unused(s) == NULL, "all keys used");
	config_free(conf);
}

struct err_case {
	const char	*text;
	const char	*want;		/* after "PATH:" */
};

static const struct err_case err_cases[] = {
	{ "[server]\n" TLS "idle_timeout = 3x\n",
	  "4: [server] idle_timeout: bad duration \"3x\" "
	  "(a number with ms, s, m or h)" },
	{ "[server]\n" TLS "idle_timeout = 0\n",
	  "4: [server] idle_timeout: \"0\" is out of range (1ms to 24h)" },
	{ "[cache]\nttl = -1s\n",
	  "2: [cache] ttl: bad duration \"-1s\" "
	  "(a number with ms, s, m or h)" },
	{ "[server]\n" TLS "max_body = 12q\n",
	  "4: [server] max_body: bad size \"12q\" "
	  "(bytes, or a number with k or m)" },
	{ "[server]\n" TLS "max_body = 512\n",
	  "4: [server] max_body: \"512\" is out of range (1k to 16m)" },
	{ "[server]\n" TLS "max_header = 99999999999999999999\n",
	  "4: [server] max_header: bad size \"99999999999999999999\" "
	  "(bytes, or a number with k or m)" },
	{ "[server]\n" TLS "workers = lots\n",
	  "4: [server] workers: bad number \"lots\"" },
	{ "[server]\n" TLS "workers = 1000\n",
	  "4: [server] workers: \"1000\" is out of range (0 to 256)" },
	{ "[server]\n" TLS "max_connections = 0\n",
	  "4: [server] max_connections: \"0\" is out of range (1 to 1000000)" },
	{ "[server]\n" TLS "health_max_connections = 0\n",
	  "4: [server] health_max_connections: \"0\" is out of range "
	  "(1 to 1000000)" },
	{ "[server]\n" TLS "max_connections_per_client = 1000001\n",
	  "4: [server] max_connections_per_client: \"1000001\" is out of "
	  "range (0 to 1000000)" },
	{ "[server]\n" TLS "handshake_timeout = 0\n",
	  "4: [server] handshake_timeout: \"0\" is out of range "
	  "(1ms to 24h)" },
	{ "[server]\n" TLS "listn = 127.0.0.1:1\n",
	  "4: [server] listn: unknown key" },
	{ "[log]\nlevel = loud\n",
	  "2: [log] level: unknown level \"loud\" "
	  "(fatal, error, warn, info, verbose or debug)" },
	{ "[log]\naudit = maybe\n",
	  "2: [log] audit: bad boolean \"maybe\" (yes or no)" },
	{ "[server]\n" TLS "review_path = tokenreview\n",
	  "4: [server] review_path: \"tokenreview\" does not start with '/'" },
	{ "[server]\n" TLS "review_path = /healthz\n",
	  "4: [server] review_path: \"/healthz\" is reserved for the "
	  "server's own endpoints" },
	{ "[server]\n" TLS "review_path = /a?b\n",
	  "4: [server] review_path: \"/a?b\" contains a space, a control "
	  "character, '?' or '#'" },
	{ "[server]\n" TLS "user = a\nuser = b\n",
	  "5: [server] user: duplicate key (first at line 4)" },
	{ "[ldap \"corp\"]\nuri = a\n\nuri = b\n",
	  "4: [ldap \"corp\"] uri: duplicate key (first at line 2)" },
	{ "[ldap \"corp\"]\n[static]\n[ldap \"corp\"]\n",
	  "3: [ldap \"corp\"]: duplicate section (first at line 1)" },
	{ "[server]\n" TLS "[cache]\n[server]\n",
	  "5: [server]: duplicate section (first at line 1)" },
	{ "[ldap corp]\n", "1: [ldap corp]: labels are quoted, as in "
	  "[ldap \"corp\"]" },
	{ "\n[ldap \"x]\n", "2: [ldap \"x]: unterminated quote" },
	{ "[ldap \"x\" y]\n", "1: [ldap \"x\" y]: unexpected text after the "
	  "label" },
	{ "[ldap \"\"]\n", "1: [ldap \"\"]: empty label" },
	{ "[]\n", "1: []: bad section name (letters, digits, '_' and '-')" },
	{ "[ld@p]\n", "1: [ld@p]: bad section name (letters, digits, '_' "
	  "and '-')" },
	{ "[server \"x\"]\n", "1: [server \"x\"]: section [server] takes no "
	  "label" },
	{ "[static] x\n", "1: [static]: unexpected text after ']'" },
	{ "[static\n", "1: [static: missing ']'" },
	{ "[server]\n" TLS "listen = localhost:8443\n",
	  "4: [server] listen: \"localhost:8443\": not a numeric IPv4 "
	  "address" },
	{ "[server]\n" TLS "listen = 127.0.0.1:1 1.2.3.4\n",
	  "4: [server] listen: \"1.2.3.4\": expected ADDRESS:PORT" },
	{ "[server]\n" TLS "listen = ::1:80\n",
	  "4: [server] listen: \"::1:80\": IPv6 addresses go in brackets, "
	  "as in [::1]:8443" },
	{ "[server]\n" TLS "listen = [::1]80\n",
	  "4: [server] listen: \"[::1]80\": expected [ADDRESS]:PORT" },
	{ "[server]\n" TLS "listen = [127.0.0.1]:80\n",
	  "4: [server] listen: \"[127.0.0.1]:80\": not a numeric IPv6 "
	  "address" },
	{ "[server]\n" TLS "listen = 127.0.0.1:65536\n",
	  "4: [server] listen: \"127.0.0.1:65536\": bad port (0 to 65535)" },
	{ "[server]\n" TLS "listen = :80\n",
	  "4: [server] listen: \":80\": missing or bad address" },
	{ "[server]\n" TLS "listen = 127.0.0.1:1 127.0.0.1:1\n",
	  "4: [server] listen: \"127.0.0.1:1\" listed twice" },
	{ "[server]\n" TLS "listen = 1.1.1.1:1 1.1.1.1:2 1.1.1.1:3 1.1.1.1:4 "
	  "1.1.1.1:5 1.1.1.1:6 1.1.1.1:7 1.1.1.1:8 1.1.1.1:9 1.1.1.1:10 "
	  "1.1.1.1:11 1.1.1.1:12 1.1.1.1:13 1.1.1.1:14 1.1.1.1:15 "
	  "1.1.1.1:16 1.1.1.1:17\n",
	  "4: [server] listen: more than 16 addresses" },
	{ "[server]\n" TLS "listen =\n",
	  "4: [server] listen: empty value" },
	{ "[server]\n" TLS "chain = static ldap static\n",
	  "4: [server] chain: \"static\" listed twice" },
	{ "[server]\n" TLS "client_names = kube-apiserver\n",
	  "4: [server] client_names: requires client_ca" },
	{ "[server]\ntls_key = /k\n", "1: [server]: tls_cert is required" },
	{ "[server]\ntls_cert = /c\n", "1: [server]: tls_key is required" },
	{ "[log]\nlevel = info\n", " [server]: tls_cert is required" },
	{ "[server]\ntls_cert =\n", "2: [server] tls_cert: empty value" },
	{ "key = value\n[server]\n", "1: key: not in any section" },
	{ "[static]\n= value\n", "2: [static]: missing key name" },
	{ "[server]\n" TLS "this line has no equals sign\nbad = 1\n",
	  "4: syntax error" },
	{ "[server]\n" TLS "bad ; = 1\n", "4: syntax error" },
};

static void
test_errors(void)
{
	char	what[64];
	size_t	i;

	for (i = 0; i < sizeof(err_cases) / sizeof(err_cases[0]); i++) {
		snprintf(what, sizeof(what), "error case %zu", i);
		load_fails(err_cases[i].text, err_cases[i].want, what);
	}
}

static void
test_file_errors(void)
{
	struct config	*conf;
	char		 full[TR_ERRLEN + 256], *big;

	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	conf = config_load(path, err, sizeof(err));
	snprintf(full, sizeof(full), "%s: No such file or directory", path);
	ok(conf == NULL, "missing file refused");
	is_str(err, full, "missing file message");

	conf = config_load(tmpdir, err, sizeof(err));
	snprintf(full, sizeof(full), "%s: Is a directory", tmpdir);
	ok(conf == NULL, "directory refused");
	is_str(err, full, "directory message");

	big = xmalloc(70000);
	memset(big, 'a', 70000);
	memcpy(big, "[static]\nk = ", 13);
	big[69999] = '\0';
	conf = config_load(write_conf(big, strlen(big)), err, sizeof(err));
	ok(conf == NULL && strstr(err, ":2: line longer than 65536 bytes") !=
	    NULL, "huge line refused: %s", err);
	free(big);

	conf = config_load(write_conf("[static]\nk = a\0b\n", 17), err,
	    sizeof(err));
	ok(conf == NULL && strstr(err, ":2: syntax error (NUL byte)") != NULL,
	    "NUL byte refused: %s", err);

	/* Truncation of the message is safe. */
	conf = config_load(write_conf("[log]\nlevel = x\n", 16), err, 8);
	ok(conf == NULL && strlen(err) == 7, "error message truncated");
	/* A crash here ends the program before its plan: a failure. */
	config_free(NULL);
}

static const char *const pieces[] = {
	"[", "]", "\"", "=", ":", ";", " ;", "#", " ", "\t", "\n", "\r\n",
	"\0", "\xef\xbb\xbf", "\xff", "server", "cache", "log", "ldap",
	"static", "listen", "tls_cert", "tls_key", "level", "chain", "ttl",
	"review_path", "workers", "/x", "127.0.0.1:0", "[::1]:1", "10s", "3x",
	"64k", "debug", "yes", "corp", "a", "0", "99999999999999999999",
};

static void
test_random(void)
{
	struct config	*conf;
	char		 buf[2048];
	size_t		 len, n, i, np = sizeof(pieces) / sizeof(pieces[0]);
	int		 iter, loaded = 0, bad = 0;

	srandom(1234);
	for (iter = 0; iter < 3000; iter++) {
		len = 0;
		n = (size_t)(random() % 60);
		for (i = 0; i < n; i++) {
			const char	*p = pieces[random() % np];
			size_t		 pl = *p == '\0' ? 1 : strlen(p);

			if (random() % 8 == 0)
				p = "\n[server]\n" TLS;
			pl = *p == '\0' ? 1 : strlen(p);
			if (len + pl >= sizeof(buf))
				break;
			memcpy(buf + len, p, pl);
			len += pl;
		}
		err[0] = '\0';
		conf = config_load(write_conf(buf, len), err, sizeof(err));
		if (conf != NULL)
			loaded++;
		else if (strncmp(err, path, strlen(path)) != 0) {
			if (bad++ == 0)
				diag("bad message: %s", err);
		}
		config_free(conf);
	}
	ok(bad == 0, "random input: every error names the file");
	diag("random input: %d of 3000 loaded", loaded);
}

/* Random byte edits of a valid file: more of them get past the parser. */
static void
test_mutations(void)
{
	static const char base[] = "[server]\n" TLS
	    "listen = 127.0.0.1:0 [::1]:0\nworkers = 2\nmax_body = 64k\n"
	    "idle_timeout = 30s\nchain = static ldap\nclient_ca = /ca\n"
	    "client_names = a b\n[cache]\nttl = 1m\n[log]\nlevel = info\n"
	    "[ldap \"corp\"]\nuri = ldaps://x\n[static]\nfile = /t.csv\n";
	static const char bytes[] = "[]\"=:; #\n\t\r\0a0/";
	struct config	*conf;
	char		 buf[sizeof(base) + 64];
	size_t		 len, at, k;
	int		 iter, loaded = 0, bad = 0;

	srandom(4321);
	for (iter = 0; iter < 3000; iter++) {
		memcpy(buf, base, sizeof(base) - 1);
		len = sizeof(base) - 1;
		for (k = (size_t)(random() % 4) + 1; k > 0; k--) {
			at = (size_t)random() % len;
			switch (random() % 3) {
			case 0:		/* replace */
				buf[at] = bytes[random() % (sizeof(bytes) - 1)];
				break;
			case 1:		/* delete */
				memmove(buf + at, buf + at + 1, len - at - 1);
				len--;
				break;
			default:	/* insert */
				memmove(buf + at + 1, buf + at, len - at);
				buf[at] = bytes[random() % (sizeof(bytes) - 1)];
				len++;
				break;
			}
		}
		conf = config_load(write_conf(buf, len), err, sizeof(err));
		if (conf != NULL)
			loaded++;
		else if (strncmp(err, path, strlen(path)) != 0 && bad++ == 0)
			diag("bad message: %s", err);
		config_free(conf);
	}
	ok(bad == 0, "mutated input: every error names the file");
	ok(loaded > 0, "mutated input: %d of 3000 loaded", loaded);
}

int
main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	test_full();
	test_defaults();
	test_layout();
	test_long_lines();
	test_raw_sections();
	test_errors();
	test_file_errors();
	test_random();
	test_mutations();

	snprintf(path, sizeof(path), "%s/test.conf", tmpdir);
	unlink(path);
	rmdir(tmpdir);
	return done_testing();
}
