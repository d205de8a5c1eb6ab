/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * tokenreviewctl: the operator's tool.  check-config loads a configuration
 * exactly as the daemon would (certificates, token files and all) and says
 * what is wrong; review runs one token through the same chain the daemon
 * uses and prints the TokenReview it would answer.
 */

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "tokenreviewd.h"

static void
usage(FILE *f)
{
	fprintf(f, "usage: tokenreviewctl [-c config] check-config\n"
	    "       tokenreviewctl [-c config] review [-a audience]... "
	    "[--v1beta1] TOKEN|-\n"
	    "  review exits 0 if the token is authenticated, 1 if not, "
	    "2 on error;\n"
	    "  '-' reads the token from standard input, keeping it out of "
	    "ps(1).\n");
}

static int
cmd_check_config(const char *path)
{
	struct runtime	*rt;
	char		 err[TR_ERRLEN];
	size_t		 i;

	if ((rt = runtime_load(path, 0, err, sizeof(err))) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	printf("%s: configuration OK; token sources:", path);
	for (i = 0; i < rt->nbackends; i++)
		printf(" %s", rt->backends[i]->name);
	printf("\n");
	runtime_unref(rt);
	return 0;
}

/* The token from stdin: one line, without its line end. */
static char *
read_token_stdin(size_t *len)
{
	char	*line = NULL;
	size_t	 cap = 0;
	ssize_t	 n;

	if ((n = getline(&line, &cap, stdin)) < 0) {
		free(line);
		return NULL;
	}
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
		line[--n] = '\0';
	*len = (size_t)n;
	return line;
}

static void
review_finish(struct auth_req *req, void *arg)
{
	*(int *)arg = 1;
}

static int
cmd_review(const char *path, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "audience", required_argument, NULL, 'a' },
		{ "v1beta1", no_argument, NULL, 'b' },
		{ NULL, 0, NULL, 0 }
	};
	struct runtime		*rt = NULL;
	struct event_base	*base = NULL;
	struct auth_chain	*chain = NULL;
	struct auth_req		 req;
	enum review_version	 version = REVIEW_V1;
	char			*auds[TR_MAX_AUDIENCES + 1], *token = NULL;
	char			 err[TR_ERRLEN], *out;
	size_t			 naud = 0, len = 0;
	int			 ch, done = 0, r = 2;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "a:", longopts, NULL)) != -1) {
		if (ch == 'a' && naud < TR_MAX_AUDIENCES)
			auds[naud++] = optarg;
		else if (ch == 'b')
			version = REVIEW_V1BETA1;
		else {
			usage(stderr);
			return 2;
		}
	}
	auds[naud] = NULL;
	if (optind + 1 != argc) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[optind], "-") == 0)
		token = read_token_stdin(&len);
	else {
		token = xstrdup(argv[optind]);
		len = strlen(token);
	}
	if (token == NULL || len == 0) {
		fprintf(stderr, "tokenreviewctl: empty token\n");
		goto out;
	}
	if ((rt = runtime_load(path, RUNTIME_NO_TLS, err, sizeof(err))) ==
	    NULL) {
		fprintf(stderr, "%s\n", err);
		goto out;
	}
	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	chain = auth_chain_new(rt, base);
	memset(&req, 0, sizeof(req));
	req.token = token;
	req.token_len = len;
	req.audiences = naud > 0 ? auds : NULL;
	req.naudiences = naud;
	req.base = base;
	auth_review(chain, &req, review_finish, &done);
	while (!done && event_base_loop(base, EVLOOP_ONCE) == 0)
		;
	out = review_encode(version, &req.result, &len);
	printf("%s\n", out);
	free(out);
	fprintf(stderr, "token %s: %s%s%s\n", req.token_fp,
	    req.result.rv == AUTH_OK ? "authenticated by " :
	    req.result.rv == AUTH_ERROR ? "error: " : "not authenticated",
	    req.result.rv == AUTH_OK ? req.result.backend : "",
	    req.result.rv == AUTH_ERROR ? req.result.error : "");
	r = req.result.rv == AUTH_OK ? 0 : req.result.rv == AUTH_ERROR ? 2 : 1;
	auth_req_clear(&req);
out:
	auth_chain_free(chain);
	if (base != NULL)
		event_base_free(base);
	runtime_unref(rt);
	if (token != NULL) {
		OPENSSL_cleanse(token, strlen(token));
		free(token);
	}
	return r;
}

int
main(int argc, char **argv)
{
	const char	*path = SYSCONFDIR "/tokenreviewd/tokenreviewd.conf";
	int		 ch;

	log_init(LL_WARN);
	while ((ch = getopt(argc, argv, "+c:hv")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'v':
			printf("tokenreviewctl %s\n", PACKAGE_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[0], "check-config") == 0 && argc == 1)
		return cmd_check_config(path);
	if (strcmp(argv[0], "review") == 0)
		return cmd_review(path, argc, argv);
	usage(stderr);
	return 2;
}
