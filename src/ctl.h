/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Subcommands of tokenreviewctl that live in files of their own, called
 * from the dispatch in ctl.c.
 */

#ifndef CTL_H
#define CTL_H

/* ctl-init.c */
int	 ctl_init(int, char **);
void	 ctl_init_usage(FILE *);

#endif /* CTL_H */
