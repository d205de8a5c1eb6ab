/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Kubernetes' own user and group names, and what a token source that
 * reads names from elsewhere may do with them.  The system: namespace
 * belongs to the cluster: the group system:masters is its administrators,
 * and the API server adds system:authenticated to every user unless the
 * answer already holds it or system:unauthenticated.  A directory or an
 * identity provider is run by people who are not cluster administrators,
 * so the LDAP and JWT sources drop the groups and refuse the user names
 * they read in that namespace, unless the operator configured a prefix
 * (the names are then no longer in it) or allowed them for that source.
 * system:authenticated and system:unauthenticated are never returned by
 * such a source, allowed or not.  Sources whose names the operator wrote
 * (the token file, the token database) and the identities the
 * service-account mode builds itself do not come here.
 *
 * A dropped name is logged once per loaded source, not once per review: a
 * set of the names already logged, bounded, shared by the workers.
 */

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tokenreviewd.h"

#define NAMES_PREFIX		"system:"
#define NAMES_ONCE_MAX		256	/* names remembered per source */
#define NAMES_ONCE_SLOTS	512	/* a power of two, twice the above */

struct names_once {
	pthread_mutex_t	 mtx;
	char		*slot[NAMES_ONCE_SLOTS];
	size_t		 n;
	int		 full;		/* the overflow was logged */
};

enum names_kind
names_kind(const char *name)
{
	if (strncmp(name, NAMES_PREFIX, sizeof(NAMES_PREFIX) - 1) != 0)
		return NAMES_PLAIN;
	if (strcmp(name, "system:authenticated") == 0 ||
	    strcmp(name, "system:unauthenticated") == 0)
		return NAMES_IMPLIED;
	return NAMES_SYSTEM;
}

int
names_prefix_reserved(const char *prefix)
{
	return names_kind(prefix) != NAMES_PLAIN;
}

size_t
names_filter_groups(char **groups, int allow_system,
    void (*dropped)(const char *, enum names_kind, void *), void *arg)
{
	enum names_kind	 k;
	size_t		 i, o, n = 0;

	for (i = o = 0; groups != NULL && groups[i] != NULL; i++) {
		k = names_kind(groups[i]);
		if (k == NAMES_PLAIN || (k == NAMES_SYSTEM && allow_system)) {
			groups[o++] = groups[i];
			continue;
		}
		if (dropped != NULL)
			dropped(groups[i], k, arg);
		free(groups[i]);
		n++;
	}
	if (groups != NULL)
		groups[o] = NULL;
	return n;
}

struct names_once *
names_once_new(void)
{
	struct names_once	*no;

	no = xcalloc(1, sizeof(*no));
	pthread_mutex_init(&no->mtx, NULL);
	return no;
}

void
names_once_free(struct names_once *no)
{
	size_t	i;

	if (no == NULL)
		return;
	for (i = 0; i < NAMES_ONCE_SLOTS; i++)
		free(no->slot[i]);
	pthread_mutex_destroy(&no->mtx);
	free(no);
}

/*
 * Once the set is full, new names are counted by the caller's metric but
 * no longer logged: a directory with endless system: names must not fill
 * the log.  That is said once.
 */
enum names_once_rv
names_once(struct names_once *no, const char *what, const char *name)
{
	enum names_once_rv	 r = NAMES_ONCE_AGAIN;
	char			*key;
	size_t			 i;

	/* What is remembered is bounded: names are cut where logs cut them. */
	xasprintf(&key, "%s\n%.100s", what, name);
	pthread_mutex_lock(&no->mtx);
	i = (size_t)fnv1a64(key) & (NAMES_ONCE_SLOTS - 1);
	while (no->slot[i] != NULL && strcmp(no->slot[i], key) != 0)
		i = (i + 1) & (NAMES_ONCE_SLOTS - 1);
	if (no->slot[i] != NULL)
		r = NAMES_ONCE_AGAIN;
	else if (no->n < NAMES_ONCE_MAX) {
		no->slot[i] = key;
		key = NULL;
		no->n++;
		r = NAMES_ONCE_FIRST;
	} else if (!no->full) {
		no->full = 1;
		r = NAMES_ONCE_FULL;
	}
	pthread_mutex_unlock(&no->mtx);
	free(key);
	return r;
}

void
names_log(struct names_once *no, const char *source, const char *what,
    const char *name, enum names_kind kind, const char *hint,
    const char *token_fp)
{
	enum names_once_rv	r = names_once(no, what, name);
	int			user = strcmp(what, "group") != 0;

	if (r == NAMES_ONCE_FULL)
		log_msg(LL_WARN, "system_name", "%s more than %d distinct "
		    "names in the system: namespace; further ones are "
		    "counted, not logged", source, NAMES_ONCE_MAX);
	if (r != NAMES_ONCE_FIRST)
		return;
	if (kind == NAMES_IMPLIED && !user)
		log_msg(LL_WARN, "system_name_dropped", "%s %s \"%.100s\" "
		    "dropped: the API server adds it itself; no token source "
		    "may (token %s)", source, what, name, token_fp);
	else
		log_msg(LL_WARN, user ? "system_name_refused" :
		    "system_name_dropped", "%s %s \"%.100s\" %s: the "
		    "system: namespace is the cluster's own (set %s, or "
		    "allow_system_names = yes) (token %s)", source, what, name,
		    user ? "refused" : "dropped", hint, token_fp);
}
