/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer target: configuration files.  Errors must name the file.
 */

#include <sys/mman.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenreviewd.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t len)
{
	struct config	*conf;
	char		 path[64], err[TR_ERRLEN];
	int		 fd;

	if ((fd = memfd_create("fuzz.conf", 0)) == -1)
		abort();
	if (write(fd, data, len) != (ssize_t)len)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	err[0] = '\0';
	conf = config_load(path, err, sizeof(err));
	if (conf == NULL && strncmp(err, path, strlen(path)) != 0)
		abort();
	config_free(conf);
	close(fd);
	return 0;
}
