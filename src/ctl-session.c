/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * tokenreviewctl session: the login sessions of the token database named
 * by the config's [tokendb].  /login writes one row per token it signs;
 * here the operator lists them, revokes one or all of a user's (every
 * replica refuses the token within the database's cache bound) and
 * deletes the expired ones.  Sessions are only ever added by the daemon.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "tokenreviewd.h"
#include "ctl.h"
#include "tokendb.h"

/* What session list shows and how. */
struct ctl_session_opts {
	const char	*user;		/* NULL: everyone's */
	int		 json;
};

void
ctl_session_usage(FILE *f)
{
	fprintf(f, "usage: tokenreviewctl [-c config] session list "
	    "[--user NAME] [-o json]\n"
	    "       tokenreviewctl [-c config] session revoke JTI|--user NAME\n"
	    "       tokenreviewctl [-c config] session prune\n");
}

static const char *
ctl_session_state(const struct tokendb_session *s, int64_t now)
{
	if (s->revoked)
		return "revoked";
	if (s->expires <= now)
		return "expired";
	return "active";
}

/* Text from the directory, with control characters shown as '?'. */
static void
ctl_session_print_field(const char *s, int width)
{
	int	n = 0;

	for (; *s != '\0'; s++, n++)
		putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
	for (; n < width; n++)
		putchar(' ');
}

static void
ctl_session_row(const struct tokendb_session *s, int64_t now)
{
	char	issued[32], expires[32];

	printf("%-22s  ", s->jti);
	ctl_session_print_field(s->username, 16);
	printf("  %-20s  %-20s  ", ctl_time(s->issued, issued,
	    sizeof(issued)), ctl_time(s->expires, expires, sizeof(expires)));
	ctl_session_print_field(s->client, 15);
	printf("  %s\n", ctl_session_state(s, now));
}

static json_t *
ctl_session_json(const struct tokendb_session *s, int64_t now)
{
	json_t	*o;
	char	 issued[32], expires[32];

	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "jti", s->jti,
	    "username", s->username,
	    "issued", ctl_time(s->issued, issued, sizeof(issued)),
	    "expires", ctl_time(s->expires, expires, sizeof(expires)),
	    "client", s->client, "state", ctl_session_state(s, now));
	if (o == NULL)
		fatalx("json_pack failed");
	return o;
}

static int
ctl_session_print_json(const struct tokendb_session *v, size_t n,
    int64_t now)
{
	json_t	*a = json_array();
	size_t	 i;
	int	 r = 0;

	for (i = 0; i < n; i++)
		json_array_append_new(a, ctl_session_json(&v[i], now));
	if (json_dumpf(a, stdout, JSON_INDENT(2)) != 0)
		r = 1;
	else
		printf("\n");
	json_decref(a);
	return r;
}

static int
ctl_session_list(struct tokendb *db, const struct ctl_session_opts *o)
{
	struct tokendb_session	*v;
	char			 err[TR_ERRLEN];
	int64_t			 now = (int64_t)time(NULL);
	size_t			 i, n;
	int			 r = 0;

	if (tokendb_session_list(db, o->user, &v, &n, err, sizeof(err)) != 0) {
		fprintf(stderr, "tokenreviewctl: %s\n", err);
		return 1;
	}
	if (o->json)
		r = ctl_session_print_json(v, n, now);
	else {
		printf("%-22s  %-16s  %-20s  %-20s  %-15s  %s\n", "JTI",
		    "USER", "ISSUED", "EXPIRES", "CLIENT", "STATE");
		for (i = 0; i < n; i++)
			ctl_session_row(&v[i], now);
	}
	tokendb_sessions_free(v, n);
	return r;
}

/* revoke JTI, or revoke --user NAME when user is set. */
static int
ctl_session_revoke(struct tokendb *db, const char *jti, const char *user)
{
	char	err[TR_ERRLEN];
	int	n;

	if (jti != NULL && !tokendb_valid_jti(jti)) {
		fprintf(stderr, "tokenreviewctl: bad session id: a jti is 1 "
		    "to %d characters A-Z, a-z, 0-9, - and _\n",
		    TOKENDB_JTI_MAX);
		return 1;
	}
	if (jti != NULL)
		n = tokendb_session_revoke(db, jti, err, sizeof(err));
	else
		n = tokendb_session_revoke_user(db, user, err, sizeof(err));
	if (n < 0) {
		fprintf(stderr, "tokenreviewctl: %s\n", err);
		return 1;
	}
	if (n == 0 && jti != NULL) {
		fprintf(stderr, "tokenreviewctl: no active session %s\n", jti);
		return 1;
	}
	printf("%d session%s ended\n", n, n == 1 ? "" : "s");
	return 0;
}

static int
ctl_session_prune(struct tokendb *db)
{
	char	err[TR_ERRLEN];
	int	n;

	if ((n = tokendb_session_prune(db, (int64_t)time(NULL), err,
	    sizeof(err))) < 0) {
		fprintf(stderr, "tokenreviewctl: %s\n", err);
		return 1;
	}
	printf("%d expired session%s deleted\n", n, n == 1 ? "" : "s");
	return 0;
}

/* The options of list: 0, or -1 for a usage error. */
static int
ctl_session_list_opts(int argc, char **argv, struct ctl_session_opts *o)
{
	int	i;

	memset(o, 0, sizeof(*o));
	for (i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			return -1;
		if (strcmp(argv[i], "--user") == 0 && o->user == NULL)
			o->user = argv[i + 1];
		else if (strcmp(argv[i], "-o") == 0 &&
		    strcmp(argv[i + 1], "json") == 0)
			o->json = 1;
		else
			return -1;
	}
	return 0;
}

/* The command line names a subcommand with the arguments it takes. */
static int
ctl_session_args_ok(int argc, char **argv, struct ctl_session_opts *o)
{
	const char	*cmd = argc > 1 ? argv[1] : "";

	if (strcmp(cmd, "list") == 0)
		return ctl_session_list_opts(argc, argv, o) == 0;
	if (strcmp(cmd, "prune") == 0)
		return argc == 2;
	if (strcmp(cmd, "revoke") == 0 && argc == 3)
		return strcmp(argv[2], "--user") != 0;
	if (strcmp(cmd, "revoke") == 0 && argc == 4)
		return strcmp(argv[2], "--user") == 0;
	return 0;
}

int
ctl_session(const char *path, int argc, char **argv)
{
	struct ctl_session_opts	 o;
	struct tokendb		*db;
	int			 r;

	if (!ctl_session_args_ok(argc, argv, &o)) {
		ctl_session_usage(stderr);
		return 2;
	}
	if ((db = ctl_tokendb_open(path)) == NULL)
		return 1;
	if (strcmp(argv[1], "list") == 0)
		r = ctl_session_list(db, &o);
	else if (strcmp(argv[1], "prune") == 0)
		r = ctl_session_prune(db);
	else if (argc == 4)
		r = ctl_session_revoke(db, NULL, argv[3]);
	else
		r = ctl_session_revoke(db, argv[2], NULL);
	tokendb_close(db);
	return r;
}
