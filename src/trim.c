/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Resident memory that loading the configuration touched and serving
 * reviews does not need, given back once a load is done.  Two kinds:
 *
 * Freed heap pages.  Building a token table frees most of a MiB (its
 * duplicate index, line numbers, read window) below blocks still in
 * use, where malloc's own trim, which only shrinks the top of the heap,
 * does not reach; malloc_trim() returns those pages too.
 *
 * Library code.  Parsing the configuration, loading keys and
 * certificates and setting up OpenSSL's providers run code of libcrypto,
 * libssl, libc and the source libraries that a review never runs again,
 * and the kernel maps every page it faults in together with its
 * neighbours (fault-around), so most of libcrypto's text ends up
 * resident: about 10 MiB of the process is library files.  Dropping the
 * page table entries of the executable, never written mappings (the
 * pages stay in the page cache) lets the request path map back only
 * what it runs: about 2 MiB less at the peak of a benchmark.  Only
 * mappings the process cannot have changed are touched: private,
 * read-and-execute, backed by a file; data, relocated and anonymous
 * mappings keep their contents.
 */

#include <sys/mman.h>

#include <malloc.h>
#include <stdio.h>
#include <string.h>

#include "tokenreviewd.h"

/* Drop the resident pages of one line of /proc/self/maps if it is code. */
static void
trim_code_mapping(const char *line)
{
	unsigned long	lo, hi;
	char		perm[8];
	int		n = 0;

	if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %n", &lo, &hi, perm,
	    &n) != 3 || n == 0)
		return;
	/* A file's path; not [vdso], [vsyscall] or an anonymous mapping. */
	if (strcmp(perm, "r-xp") != 0 || line[n] != '/' || hi <= lo)
		return;
	(void)madvise((void *)lo, hi - lo, MADV_DONTNEED);
}

void
trim_after_load(void)
{
	FILE	*f;
	char	 line[4096];

	malloc_trim(0);
	/* Without /proc the daemon runs as it is, only larger. */
	if ((f = fopen("/proc/self/maps", "re")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strchr(line, '\n') == NULL) {
			/* A path too long for line: skip the rest of it. */
			while (fgets(line, sizeof(line), f) != NULL &&
			    strchr(line, '\n') == NULL)
				;
			continue;
		}
		trim_code_mapping(line);
	}
	fclose(f);
}
