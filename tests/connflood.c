/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * The attacker of tests/conns.sh: opens many connections from one source
 * address and leaves them silent, plain TCP (no ClientHello) or after a
 * TLS handshake without a certificate, for a bounded time; with -r it
 * reopens the ones the server closes, at a bounded rate, as an attacker
 * holding slots would.  It reports how the server dealt with them:
 *
 *	opened=N	connections established
 *	fast=N		closed by the server within 1 s (refused at accept)
 *	slow=N		closed by the server later
 *	life_min=S life_max=S	seconds the slow ones lived
 *	tls=N		TLS handshakes completed
 *	open=N		still open when it stopped
 *	open_max=N	most open at once
 *
 * in the status file (-s) every 200 ms while it runs and at the end,
 * replaced atomically; without -s, on standard output at the end.
 *
 * usage: connflood -b SRC -p PORT -n N -d SECONDS [-t] [-r RATE] [-s FILE]
 *
 * SIGTERM ends it early, with the report.
 */

#include <sys/types.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT	24
#endif

enum slot_state {
	S_FREE,
	S_CONNECTING,
	S_HANDSHAKE,
	S_HOLD,
};

struct slot {
	enum slot_state	 state;
	int		 fd;
	SSL		*ssl;
	double		 since;		/* established */
};

struct flood {
	struct sockaddr_in	 src, dst;
	int			 tls;
	SSL_CTX			*ctx;
	int			 ep;
	struct slot		*s;
	int			 n;
	long			 opened, fast, slow, tlsdone, failed;
	int			 open, open_max;
	double			 life_min, life_max;
};

static volatile sig_atomic_t stop;

static void
stop_cb(int sig)
{
	stop = 1;
}

static double
now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void
slot_close(struct flood *f, struct slot *s, int by_server)
{
	double	life;

	if (s->state == S_HANDSHAKE || s->state == S_HOLD) {
		f->open--;
		if (by_server) {
			life = now() - s->since;
			if (life < 1)
				f->fast++;
			else {
				f->slow++;
				if (f->slow == 1 || life < f->life_min)
					f->life_min = life;
				if (life > f->life_max)
					f->life_max = life;
			}
		}
	} else if (by_server)
		f->failed++;
	SSL_free(s->ssl);
	s->ssl = NULL;
	close(s->fd);
	s->fd = -1;
	s->state = S_FREE;
}

static void
slot_watch(struct flood *f, struct slot *s, int op, unsigned int ev)
{
	struct epoll_event	e;

	memset(&e, 0, sizeof(e));
	e.events = ev | EPOLLRDHUP;
	e.data.ptr = s;
	if (epoll_ctl(f->ep, op, s->fd, &e) == -1) {
		perror("epoll_ctl");
		exit(2);
	}
}

static int
slot_open(struct flood *f, struct slot *s)
{
	int	fd, one = 1;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one,
	    sizeof(one));
	if (bind(fd, (struct sockaddr *)&f->src, sizeof(f->src)) == -1 ||
	    (connect(fd, (struct sockaddr *)&f->dst, sizeof(f->dst)) == -1 &&
	    errno != EINPROGRESS)) {
		close(fd);
		return -1;
	}
	s->fd = fd;
	s->state = S_CONNECTING;
	slot_watch(f, s, EPOLL_CTL_ADD, EPOLLOUT);
	return 0;
}

/* Drive a handshake; 0 going on or done, -1 failed. */
static int
slot_tls(struct flood *f, struct slot *s)
{
	int	r;

	r = SSL_do_handshake(s->ssl);
	if (r == 1) {
		f->tlsdone++;
		s->state = S_HOLD;
		slot_watch(f, s, EPOLL_CTL_MOD, EPOLLIN);
		return 0;
	}
	switch (SSL_get_error(s->ssl, r)) {
	case SSL_ERROR_WANT_READ:
		slot_watch(f, s, EPOLL_CTL_MOD, EPOLLIN);
		return 0;
	case SSL_ERROR_WANT_WRITE:
		slot_watch(f, s, EPOLL_CTL_MOD, EPOLLOUT);
		return 0;
	default:
		ERR_clear_error();
		return -1;
	}
}

/* Something happened on a held connection: EOF is the server closing. */
static int
slot_read(struct slot *s)
{
	char	buf[4096];
	ssize_t	n;
	int	r;

	if (s->ssl == NULL) {
		while ((n = read(s->fd, buf, sizeof(buf))) > 0)
			;
		return n == -1 && errno == EAGAIN ? 0 : -1;
	}
	while ((r = SSL_read(s->ssl, buf, sizeof(buf))) > 0)
		;
	r = SSL_get_error(s->ssl, r);
	ERR_clear_error();
	return r == SSL_ERROR_WANT_READ || r == SSL_ERROR_WANT_WRITE ? 0 : -1;
}

static void
slot_event(struct flood *f, struct slot *s, unsigned int ev)
{
	int		err = 0;
	socklen_t	len = sizeof(err);

	if (s->state == S_CONNECTING) {
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len) ==
		    -1 || err != 0) {
			slot_close(f, s, 1);
			return;
		}
		f->opened++;
		s->since = now();
		if (++f->open > f->open_max)
			f->open_max = f->open;
		if (!f->tls) {
			s->state = S_HOLD;
			slot_watch(f, s, EPOLL_CTL_MOD, EPOLLIN);
			return;
		}
		if ((s->ssl = SSL_new(f->ctx)) == NULL) {
			fprintf(stderr, "SSL_new failed\n");
			exit(2);
		}
		SSL_set_fd(s->ssl, s->fd);
		SSL_set_connect_state(s->ssl);
		s->state = S_HANDSHAKE;
	}
	if (s->state == S_HANDSHAKE) {
		if (slot_tls(f, s) != 0)
			slot_close(f, s, 1);
		return;
	}
	if (slot_read(s) != 0 || (ev & (EPOLLHUP | EPOLLERR)))
		slot_close(f, s, 1);
}

static void
report(struct flood *f, FILE *out)
{
	fprintf(out, "opened=%ld fast=%ld slow=%ld life_min=%.2f "
	    "life_max=%.2f tls=%ld open=%d open_max=%d failed=%ld\n",
	    f->opened, f->fast, f->slow, f->life_min, f->life_max,
	    f->tlsdone, f->open, f->open_max, f->failed);
}

static void
status(struct flood *f, const char *path)
{
	char	tmp[4096];
	FILE	*fp;

	if (path == NULL)
		return;
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if ((fp = fopen(tmp, "w")) == NULL)
		return;
	report(f, fp);
	if (fclose(fp) == 0)
		rename(tmp, path);
}

/* Open free slots: all at once at the start, then at most rate a second. */
static void
refill(struct flood *f, double rate, double *credit, int first)
{
	int	i;

	for (i = 0; i < f->n; i++) {
		if (f->s[i].state != S_FREE)
			continue;
		if (!first && *credit < 1)
			break;
		if (slot_open(f, &f->s[i]) != 0)
			break;
		if (!first)
			*credit -= 1;
	}
}

static void
usage(void)
{
	fprintf(stderr, "usage: connflood -b SRC -p PORT -n N -d SECONDS "
	    "[-t] [-r RATE] [-s FILE]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct epoll_event	 ev[256];
	struct flood		 f;
	const char		*statusfile = NULL;
	double			 dur = 0, rate = 0, credit = 0, start, last,
				 tick = 0, t;
	int			 c, i, k;

	memset(&f, 0, sizeof(f));
	f.src.sin_family = f.dst.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &f.dst.sin_addr);
	while ((c = getopt(argc, argv, "b:p:n:d:tr:s:")) != -1) {
		switch (c) {
		case 'b':
			if (inet_pton(AF_INET, optarg, &f.src.sin_addr) != 1)
				usage();
			break;
		case 'p':
			f.dst.sin_port = htons((unsigned short)atoi(optarg));
			break;
		case 'n':
			f.n = atoi(optarg);
			break;
		case 'd':
			dur = atof(optarg);
			break;
		case 't':
			f.tls = 1;
			break;
		case 'r':
			rate = atof(optarg);
			break;
		case 's':
			statusfile = optarg;
			break;
		default:
			usage();
		}
	}
	if (f.n <= 0 || dur <= 0 || f.dst.sin_port == 0)
		usage();
	if ((f.s = calloc((size_t)f.n, sizeof(*f.s))) == NULL ||
	    (f.ep = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		perror("connflood");
		return 2;
	}
	if (f.tls) {
		f.ctx = SSL_CTX_new(TLS_client_method());
		if (f.ctx == NULL)
			return 2;
		SSL_CTX_set_verify(f.ctx, SSL_VERIFY_NONE, NULL);
	}
	signal(SIGPIPE, SIG_IGN);
	signal(SIGTERM, stop_cb);
	signal(SIGINT, stop_cb);
	start = last = now();
	refill(&f, rate, &credit, 1);
	while (!stop && (t = now()) - start < dur) {
		k = epoll_wait(f.ep, ev, 256, 50);
		for (i = 0; i < k; i++)
			slot_event(&f, ev[i].data.ptr, ev[i].events);
		t = now();
		if (rate > 0) {
			credit += (t - last) * rate;
			if (credit > rate)
				credit = rate;
			refill(&f, rate, &credit, 0);
		}
		last = t;
		if (t - tick >= 0.2) {
			status(&f, statusfile);
			tick = t;
		}
	}
	/* Counted while still open, then let go. */
	if (statusfile != NULL)
		status(&f, statusfile);
	else
		report(&f, stdout);
	for (i = 0; i < f.n; i++) {
		if (f.s[i].state != S_FREE)
			slot_close(&f, &f.s[i], 0);
	}
	SSL_CTX_free(f.ctx);
	free(f.s);
	return 0;
}
