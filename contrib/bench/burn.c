/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * For benchmarks only, never installed: an LD_PRELOAD library that makes
 * each SSL_write() of the process first burn BURN_NS nanoseconds of its
 * thread's CPU time.  jwt.sh loads it into a daemon that serves the
 * static token file, where every reply is one SSL_write(): each review
 * then costs a static review plus, to the nanosecond of CPU, one
 * signature verification as openssl speed measured it, with none of a
 * JWT's own work.  That daemon's rate is what the machine lets a review
 * made of those two parts reach, with the load generator on the same
 * cores; the bound of jwt.sh adds the two costs as if nothing else
 * happened.
 *
 *   cc -O2 -shared -fPIC -o burn.so burn.c -ldl
 *   BURN_NS=62000 LD_PRELOAD=./burn.so tokenreviewd -c static.conf
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>

typedef struct ssl_st SSL;

static long long
burn_thread_ns(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int	(*real_write)(SSL *, const void *, int);
static long long burn;

/* Read once, before any thread runs. */
__attribute__((constructor)) static void
burn_init(void)
{
	const char	*s;

	real_write = (int (*)(SSL *, const void *, int))dlsym(RTLD_NEXT,
	    "SSL_write");
	if ((s = getenv("BURN_NS")) != NULL)
		burn = atoll(s);
}

int
SSL_write(SSL *ssl, const void *buf, int num)
{
	long long	end;

	if (real_write == NULL)
		abort();
	/* Spent on this thread only: time it waits for a core is not. */
	end = burn_thread_ns() + burn;
	while (burn_thread_ns() < end)
		;
	return real_write(ssl, buf, num);
}
