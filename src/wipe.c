/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * Keeping secrets out of freed memory and out of core files.  Tokens and
 * the caller's bearer secret pass through OpenSSL's record buffers and
 * jansson's parser (and the connection's own buffers, which http.c wipes
 * itself); without help they stay in freed heap blocks until reused,
 * where a core image or a read of the process's memory finds them long
 * after the review.  wipe_install() gives those libraries, and libevent,
 * an allocator that wipes every block it frees or moves.
 *
 * OpenSSL's record buffers are the exception.  Two of about 17 KiB a
 * connection are freed whenever it gives its buffers back (http.c), and
 * wiping them whole here was most of the cost of all this;
 * SSL_OP_CLEANSE_PLAINTEXT (tls.c) wipes the part of the read buffer that
 * held plaintext as soon as it is read, which also covers a connection
 * that keeps its buffers, and the write buffer holds our answers only,
 * encrypted in place.  So OpenSSL's blocks of WIPE_CRYPTO_MAX bytes or
 * more are freed as they are.
 *
 * The block's size comes from malloc_usable_size(), not from a header of
 * ours: the blocks stay plain malloc() blocks, so a pointer that one of
 * the libraries hands out and its caller releases with free() (the result
 * of evbuffer_readln() or json_dumps(), say) or the other way round is
 * still freed correctly, only without the wipe.
 *
 * Core dumps are turned off from the start, before any secret is read;
 * [server] core_dumps turns them back on for debugging.
 */

#include <sys/prctl.h>
#include <sys/resource.h>

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <jansson.h>
#include <openssl/crypto.h>

#include "tokenreviewd.h"

#define WIPE_CRYPTO_MAX	8192

static struct rlimit	wipe_core_saved;

void
wipe_free(void *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

/*
 * realloc() may move the block and free the old one unwiped: copy into a
 * new block instead, unless the old one is already large enough.
 */
void *
wipe_realloc(void *p, size_t n)
{
	size_t	 have;
	void	*q;

	if (p == NULL)
		return malloc(n);
	have = malloc_usable_size(p);
	if (n <= have && n > 0)
		return p;
	if ((q = malloc(n > 0 ? n : 1)) == NULL)
		return NULL;
	memcpy(q, p, n < have ? n : have);
	wipe_free(p);
	return q;
}

static void *
wipe_crypto_malloc(size_t n, const char *file, int line)
{
	return malloc(n);
}

static void *
wipe_crypto_realloc(void *p, size_t n, const char *file, int line)
{
	return wipe_realloc(p, n);
}

static void
wipe_crypto_free(void *p, const char *file, int line)
{
	if (p != NULL && malloc_usable_size(p) >= WIPE_CRYPTO_MAX)
		free(p);
	else
		wipe_free(p);
}

void
wipe_install(void)
{
	/* OpenSSL refuses once it has allocated anything. */
	if (CRYPTO_set_mem_functions(wipe_crypto_malloc, wipe_crypto_realloc,
	    wipe_crypto_free) != 1)
		fatalx("cannot install OpenSSL's allocator: OpenSSL was used "
		    "before");
	/*
	 * No OpenSSL cleanup at exit: a thread still inside a TLS call
	 * when the wait at exit gives up on it (a key fetch, a token
	 * database write to a server that hangs) would crash in freed
	 * state.  The process is ending; the kernel takes the rest.
	 */
	OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
	event_set_mem_functions(malloc, wipe_realloc, wipe_free);
	json_set_alloc_funcs(malloc, wipe_free);
}

void
wipe_core_off(void)
{
	struct rlimit	rl;

	if (getrlimit(RLIMIT_CORE, &wipe_core_saved) == -1)
		fatal("getrlimit RLIMIT_CORE");
	rl.rlim_cur = 0;
	rl.rlim_max = wipe_core_saved.rlim_max;
	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		fatal("setrlimit RLIMIT_CORE");
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) == -1)
		fatal("prctl PR_SET_DUMPABLE");
}

void
wipe_core_dumps(int allow)
{
	struct rlimit	rl;

	rl.rlim_cur = rl.rlim_max = 0;
	if (allow)
		rl = wipe_core_saved;
	if (setrlimit(RLIMIT_CORE, &rl) == -1)
		fatal("setrlimit RLIMIT_CORE");
	if (prctl(PR_SET_DUMPABLE, allow ? 1 : 0, 0, 0, 0) == -1)
		fatal("prctl PR_SET_DUMPABLE");
}
