/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Subcommands of tokenreviewctl that live in files of their own, called
 * from the dispatch in ctl.c.
 */

#ifndef CTL_H
#define CTL_H

/* ctl.c */
struct tokendb;
/*
 * The database of the config's [tokendb] section, created if missing;
 * NULL once the reason is printed.
 */
struct tokendb	*ctl_tokendb_open(const char *path);
/* "2026-05-01T12:00:00Z" into buf; "-" for 0. */
const char	*ctl_time(long long, char *buf, size_t len);

/* ctl-session.c */
int	 ctl_session(const char *path, int, char **);
void	 ctl_session_usage(FILE *);

/* ctl-init.c */
int	 ctl_init(int, char **);
void	 ctl_init_usage(FILE *);

#endif /* CTL_H */
