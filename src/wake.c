/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The one way another thread wakes a worker's event loop: the main thread
 * handing over a new configuration, a fetcher thread with new keys, a
 * writer thread that is done.  In the daemon libevent is made thread-safe
 * first (wake_init()), and a wake-up is event_active() on an event of the
 * worker's base.  A program that never calls wake_init() (tokenreviewctl)
 * gets a non-blocking pipe per wake object instead, whose read end the
 * loop watches.  Either way many signals before the loop runs call the
 * callback once: the callback looks at shared state, not at a count.
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "tokenreviewd.h"

struct wake {
	struct event	*ev;
	int		 fds[2];	/* the pipe, or -1: event_active() */
	void		(*cb)(void *);
	void		*arg;
};

static int	wake_threads;		/* set once, before any thread */

void
wake_init(void)
{
	if (evthread_use_pthreads() != 0)
		fatalx("evthread_use_pthreads failed");
	wake_threads = 1;
}

static void
wake_event_cb(evutil_socket_t fd, short events, void *arg)
{
	struct wake	*w = arg;

	w->cb(w->arg);
}

/* Empty the pipe first: signals after this read wake the loop again. */
static void
wake_pipe_cb(evutil_socket_t fd, short events, void *arg)
{
	struct wake	*w = arg;
	char		 buf[64];

	while (read(w->fds[0], buf, sizeof(buf)) > 0)
		;
	w->cb(w->arg);
}

struct wake *
wake_new(struct event_base *base, void (*cb)(void *), void *arg)
{
	struct wake	*w;

	w = xcalloc(1, sizeof(*w));
	w->cb = cb;
	w->arg = arg;
	w->fds[0] = w->fds[1] = -1;
	if (wake_threads)
		w->ev = event_new(base, -1, 0, wake_event_cb, w);
	else {
		if (pipe2(w->fds, O_NONBLOCK | O_CLOEXEC) != 0)
			fatal("pipe2");
		w->ev = event_new(base, w->fds[0], EV_READ | EV_PERSIST,
		    wake_pipe_cb, w);
		if (w->ev != NULL)
			event_add(w->ev, NULL);
	}
	if (w->ev == NULL)
		fatalx("event_new failed");
	return w;
}

void
wake_signal(struct wake *w)
{
	ssize_t	n;

	if (w->fds[1] == -1) {
		event_active(w->ev, EV_READ, 0);
		return;
	}
	/* A full pipe already holds a wake-up. */
	do {
		n = write(w->fds[1], "", 1);
	} while (n == -1 && errno == EINTR);
}

void
wake_free(struct wake *w)
{
	if (w == NULL)
		return;
	event_free(w->ev);
	if (w->fds[0] != -1) {
		close(w->fds[0]);
		close(w->fds[1]);
	}
	free(w);
}
