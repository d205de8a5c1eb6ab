/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * A tiny header-only helper for unit tests that speak TAP (the Test
 * Anything Protocol read by build-aux/tap-driver.sh).  Include it in exactly
 * one file per test program.  Typical use:
 *
 *	plan(3);		(or nothing, and done_testing() at the end)
 *	ok(x == 1, "x is one");
 *	is_int(f(), 2, "f() gives %d", 2);
 *	is_str(s, "abc", "case %d", 7);
 *	return done_testing();
 *
 * done_testing() prints the plan if none was given, and returns the exit
 * status: non-zero when a test failed or the plan was not met.
 */

#ifndef TAP_H
#define TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TAP_UNUSED	__attribute__((unused))
#define TAP_PRINTF(a, b) __attribute__((format(printf, a, b)))

static int	tap_planned = -1;	/* -1: no plan yet */
static int	tap_run;
static int	tap_failed;

static TAP_UNUSED void
plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
	fflush(stdout);
}

/* Skip the whole program: nothing here can run (a missing tool, ...). */
static TAP_UNUSED void
skip_all(const char *reason)
{
	printf("1..0 # SKIP %s\n", reason);
	fflush(stdout);
	exit(0);
}

/*
 * Stop the program: a step every later test needs has failed (a temporary
 * directory, a fixture).  The harness counts it as an error, so the tests
 * that cannot run are never silently left out.
 */
static TAP_UNUSED TAP_PRINTF(1, 2) void
bail_out(const char *fmt, ...)
{
	va_list	ap;

	printf("Bail out! ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	exit(255);
}

static TAP_UNUSED TAP_PRINTF(1, 2) void
diag(const char *fmt, ...)
{
	char	line[2048], *p, *nl;
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);

	/* Every line of a diagnostic must start with '#' to stay a comment. */
	p = line;
	do {
		if ((nl = strchr(p, '\n')) != NULL)
			*nl++ = '\0';
		printf("# %s\n", p);
		p = nl;
	} while (p != NULL && *p != '\0');
	fflush(stdout);
}

static TAP_UNUSED void
tap_vresult(int pass, const char *file, int line, const char *fmt,
    va_list ap)
{
	char	desc[1024], *p;

	vsnprintf(desc, sizeof desc, fmt, ap);
	/* A '#' would turn the rest of the description into a directive. */
	for (p = desc; *p != '\0'; p++) {
		if (*p == '#' || *p == '\n')
			*p = ' ';
	}
	tap_run++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - %s\n", pass ? "" : "not ", tap_run, desc);
	fflush(stdout);
	if (!pass)
		diag("  failed test at %s line %d", file, line);
}

static TAP_UNUSED TAP_PRINTF(4, 5) int
tap_ok(int pass, const char *file, int line, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	tap_vresult(pass, file, line, fmt, ap);
	va_end(ap);
	return pass;
}

static TAP_UNUSED TAP_PRINTF(5, 6) int
tap_is_int(long long got, long long want, const char *file, int line,
    const char *fmt, ...)
{
	va_list	ap;
	int	pass = (got == want);

	va_start(ap, fmt);
	tap_vresult(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass)
		diag("       got: %lld\n  expected: %lld", got, want);
	return pass;
}

static TAP_UNUSED TAP_PRINTF(5, 6) int
tap_is_str(const char *got, const char *want, const char *file, int line,
    const char *fmt, ...)
{
	va_list	ap;
	int	pass;

	if (got == NULL || want == NULL)
		pass = (got == want);
	else
		pass = (strcmp(got, want) == 0);
	va_start(ap, fmt);
	tap_vresult(pass, file, line, fmt, ap);
	va_end(ap);
	if (!pass) {
		diag("       got: %s%s%s", got ? "'" : "", got ? got : "NULL",
		    got ? "'" : "");
		diag("  expected: %s%s%s", want ? "'" : "",
		    want ? want : "NULL", want ? "'" : "");
	}
	return pass;
}

#define ok(cond, ...) \
	tap_ok(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define is_int(got, want, ...) \
	tap_is_int((long long)(got), (long long)(want), __FILE__, __LINE__, \
	    __VA_ARGS__)
#define is_str(got, want, ...) \
	tap_is_str((got), (want), __FILE__, __LINE__, __VA_ARGS__)

/* Count n tests as skipped, e.g. when a file or tool is missing. */
static TAP_UNUSED void
skip(int n, const char *reason)
{
	while (n-- > 0) {
		tap_run++;
		printf("ok %d # skip %s\n", tap_run, reason);
	}
	fflush(stdout);
}

/*
 * Finish: print the plan if none was given and return the exit status for
 * main(), non-zero if any test failed or the count does not match the plan.
 */
static TAP_UNUSED int
done_testing(void)
{
	if (tap_planned < 0)
		printf("1..%d\n", tap_run);
	else if (tap_planned != tap_run) {
		diag("planned %d tests but ran %d", tap_planned, tap_run);
		fflush(stdout);
		return 255;
	}
	if (tap_failed != 0)
		diag("failed %d of %d tests", tap_failed, tap_run);
	fflush(stdout);
	return tap_failed == 0 ? 0 : 1;
}

#endif /* TAP_H */
