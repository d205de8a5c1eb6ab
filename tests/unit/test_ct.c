/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Unit test: comparing a secret takes the same path whatever its bytes
 * (conformance case 32: the time must not tell where a guess differs).
 * Every comparison of secrets goes through ct_equal() (tests/compare.sh
 * checks that none bypasses it); this program checks ct_equal() itself.
 *
 * It runs itself under valgrind's memcheck and marks the secret
 * undefined: memcheck then reports every branch and every memory index
 * that depends on the secret's bytes.  A plain byte loop and memcmp() are
 * reported (which shows the method works here); ct_equal() must not be.
 * Skipped when valgrind is not installed, and in sanitizer builds, which
 * valgrind cannot run.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenreviewd.h"
#include "tap.h"

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#define CT_MEMCHECK	1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define CT_SANITIZED	1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define CT_SANITIZED	1
#endif
#endif

#define CT_LEN		TR_SHA256_LEN

#if defined(CT_MEMCHECK) && !defined(CT_SANITIZED)

typedef int	(*ct_cmp)(const void *, const void *, size_t);

/* What ct_equal() must not be: it stops at the first difference. */
static int __attribute__((noinline))
ct_naive(const void *a, const void *b, size_t len)
{
	const volatile unsigned char	*p = a, *q = b;
	size_t				 i;

	for (i = 0; i < len; i++) {
		if (p[i] != q[i])
			return 0;
	}
	return 1;
}

static int __attribute__((noinline))
ct_libc(const void *a, const void *b, size_t len)
{
	return memcmp(a, b, len) == 0;
}

/*
 * Compare a secret (marked undefined for the call) with a guess that
 * differs at byte at (none if at >= CT_LEN).  *reports gets how many
 * errors memcheck reported during the call; the result is declassified
 * before it is returned, as an answer must be.
 */
static int
ct_try(ct_cmp cmp, size_t at, unsigned int *reports)
{
	unsigned char	secret[CT_LEN], guess[CT_LEN];
	volatile int	r;
	unsigned int	before;
	size_t		i;

	for (i = 0; i < CT_LEN; i++)
		secret[i] = guess[i] = (unsigned char)(0x5a ^ (i * 37));
	if (at < CT_LEN)
		guess[at] ^= 0x01;
	before = VALGRIND_COUNT_ERRORS;
	(void)VALGRIND_MAKE_MEM_UNDEFINED(secret, sizeof(secret));
	r = cmp(secret, guess, sizeof(secret));
	(void)VALGRIND_MAKE_MEM_DEFINED((void *)&r, sizeof(r));
	*reports = VALGRIND_COUNT_ERRORS - before;
	(void)VALGRIND_MAKE_MEM_DEFINED(secret, sizeof(secret));
	return r;
}

static void
ct_tests(void)
{
	static const struct {
		size_t		 at;
		const char	*what;
	} cases[] = {
		{ CT_LEN, "equal" },
		{ 0, "first byte differs" },
		{ CT_LEN / 2, "middle byte differs" },
		{ CT_LEN - 1, "last byte differs" },
	};
	unsigned int	n;
	size_t		i;
	int		r;

	diag("memcheck reports for the byte loop and memcmp() below are "
	    "expected: they show that a branch on the secret is seen");
	r = ct_try(ct_naive, 0, &n);
	ok(r == 0 && n > 0, "a byte loop that stops at the first difference "
	    "is reported (%u reports)", n);
	r = ct_try(ct_libc, 0, &n);
	ok(r == 0 && n > 0, "memcmp() is reported (%u reports)", n);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = ct_try(ct_equal, cases[i].at, &n);
		is_int(r, cases[i].at >= CT_LEN, "ct_equal, %s: right answer",
		    cases[i].what);
		is_int(n, 0, "ct_equal, %s: no branch or index depends on "
		    "the secret", cases[i].what);
	}
}

/* Run this program again under memcheck; returns only on failure. */
static void
ct_reexec(void)
{
	char	*args[8], self[4096];
	ssize_t	 len;
	int	 n = 0;

	/* Our own path now: under valgrind, /proc/self/exe is valgrind. */
	if ((len = readlink("/proc/self/exe", self, sizeof(self) - 1)) < 0)
		bail_out("readlink /proc/self/exe: %s", strerror(errno));
	self[len] = '\0';
	args[n++] = "valgrind";
	args[n++] = "--tool=memcheck";
	args[n++] = "--quiet";
	args[n++] = "--leak-check=no";
	args[n++] = self;
	args[n] = NULL;
	fflush(stdout);
	execvp(args[0], args);
	if (errno != ENOENT)
		bail_out("cannot run valgrind: %s", strerror(errno));
	if (getenv("CI") != NULL && strcmp(getenv("CI"), "true") == 0)
		bail_out("valgrind not installed (CI=true: nothing may be "
		    "skipped)");
	skip_all("valgrind not installed: constant-time compares unchecked");
}

int
main(void)
{
	if (!RUNNING_ON_VALGRIND)
		ct_reexec();
	log_init(LL_ERROR);
	ct_tests();
	return done_testing();
}

#else

int
main(void)
{
#ifdef CT_SANITIZED
	skip_all("a sanitizer build, which valgrind cannot run");
#else
	skip_all("built without valgrind/memcheck.h: install valgrind");
#endif
	return 0;
}

#endif
