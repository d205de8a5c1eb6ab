/*
 * Copyright 2026 The tokenreviewd Authors
 * SPDX-License-Identifier: Apache-2.0
 *
 * TLS under libldap, with OpenSSL.  libldap's own TLS waits on the
 * socket during the handshake, which would block a worker; here the
 * handshake (of ldaps, or after StartTLS was accepted) is stepped by the
 * event loop like everything else, and libldap then reads and writes
 * through an lber I/O layer over the SSL.
 */

#include <sys/types.h>
#include <sys/queue.h>

#include <errno.h>
#include <limits.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "tokenreviewd.h"
#include "ldap-int.h"

/*
 * The lber I/O layer over an SSL: libldap reads and writes through it,
 * and asks it whether decrypted data waits (no socket event would say
 * so).  The SSL is freed with the layer, when libldap closes.
 */
static int
ltls_sbio_setup(Sockbuf_IO_Desc *sbiod, void *arg)
{
	sbiod->sbiod_pvt = arg;
	return 0;
}

static int
ltls_sbio_remove(Sockbuf_IO_Desc *sbiod)
{
	SSL_free(sbiod->sbiod_pvt);
	sbiod->sbiod_pvt = NULL;
	return 0;
}

/*
 * Data is ready when the SSL holds bytes (decrypted, or records read
 * ahead) or the socket woke the loop and was not read since: libldap then
 * reads at once instead of polling the socket first.
 */
static int
ltls_sbio_ctrl(Sockbuf_IO_Desc *sbiod, int opt, void *arg)
{
	SSL		*ssl = sbiod->sbiod_pvt;
	struct lconn	*c = SSL_get_app_data(ssl);

	if (opt == LBER_SB_OPT_DATA_READY &&
	    (SSL_has_pending(ssl) || (c != NULL && c->unread)))
		return 1;
	return LBER_SBIOD_CTRL_NEXT(sbiod, opt, arg);
}

/* An SSL_read() or SSL_write() result as read(2) or write(2) gives it. */
static ber_slen_t
ltls_sbio_result(SSL *ssl, int n)
{
	int	e;

	if (n > 0)
		return n;
	e = SSL_get_error(ssl, n);
	ERR_clear_error();
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		errno = EWOULDBLOCK;
		return -1;
	}
	if (e == SSL_ERROR_ZERO_RETURN)
		return 0;
	errno = ECONNRESET;
	return -1;
}

static ber_slen_t
ltls_sbio_read(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	struct lconn	*c = SSL_get_app_data(sbiod->sbiod_pvt);

	if (c != NULL)
		c->unread = 0;	/* what the socket has is read ahead now */
	ERR_clear_error();
	return ltls_sbio_result(sbiod->sbiod_pvt, SSL_read(sbiod->sbiod_pvt,
	    buf, len > INT_MAX ? INT_MAX : (int)len));
}

/*
 * Send what the layer gathered.  A full socket is waited for; the SSL is
 * then given the same bytes again, or more of them.
 */
static void
ltls_flush_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lconn	*c = arg;
	size_t		 n;
	int		 r, e;

	while ((n = evbuffer_get_length(c->wbuf)) > 0) {
		ERR_clear_error();
		r = SSL_write(c->tls, evbuffer_pullup(c->wbuf, -1),
		    n > INT_MAX ? INT_MAX : (int)n);
		if (r > 0) {
			evbuffer_drain(c->wbuf, (size_t)r);
			continue;
		}
		e = SSL_get_error(c->tls, r);
		ERR_clear_error();
		if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) {
			lconn_fail(c, "connection lost", 1);
			return;
		}
		event_assign(c->flushev, c->wd->li->base, c->fd,
		    e == SSL_ERROR_WANT_WRITE ? EV_WRITE : EV_READ,
		    ltls_flush_cb, c);
		event_add(c->flushev, NULL);
		return;
	}
}

/*
 * libldap's writes are gathered and sent once the loop is done with
 * what it is running: the requests sent while a batch of answers is
 * dispatched leave in one record and one write(2).  A connection being
 * closed writes at once.
 */
static ber_slen_t
ltls_sbio_write(Sockbuf_IO_Desc *sbiod, void *buf, ber_len_t len)
{
	struct lconn	*c = SSL_get_app_data(sbiod->sbiod_pvt);

	if (c != NULL && c->state != LS_DEAD && c->wbuf != NULL) {
		if (evbuffer_add(c->wbuf, buf, len) != 0) {
			errno = ENOMEM;
			return -1;
		}
		if (!event_pending(c->flushev, EV_READ | EV_WRITE, NULL))
			event_active(c->flushev, EV_WRITE, 1);
		return (ber_slen_t)len;
	}
	ERR_clear_error();
	return ltls_sbio_result(sbiod->sbiod_pvt, SSL_write(sbiod->sbiod_pvt,
	    buf, len > INT_MAX ? INT_MAX : (int)len));
}

static Sockbuf_IO ltls_sbio = {
	ltls_sbio_setup, ltls_sbio_remove, ltls_sbio_ctrl, ltls_sbio_read,
	ltls_sbio_write, NULL
};

/* The handshake is done: libldap reads and writes through the SSL. */
static void
ltls_done(struct lconn *c)
{
	Sockbuf	*sb = NULL;

	SSL_set_app_data(c->ssl, c);
	SSL_set_mode(c->ssl, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	c->wbuf = evbuffer_new();
	c->flushev = event_new(c->wd->li->base, c->fd, EV_WRITE, ltls_flush_cb,
	    c);
	if (c->wbuf == NULL || c->flushev == NULL)
		fatalx("ldap: out of memory");
	if (ldap_get_option(c->ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS ||
	    ber_sockbuf_add_io(sb, &ltls_sbio, LBER_SBIOD_LEVEL_TRANSPORT,
	    c->ssl) != 0) {
		lconn_fail(c, "could not set up libldap", 0);
		return;
	}
	c->tls = c->ssl;
	c->ssl = NULL;			/* libldap's now */
	c->tls_layer = 1;
	event_add(c->ev, NULL);
	lconn_service_bind(c);
}

/* Step the handshake on each readiness of the socket, then go on. */
static void
ltls_handshake_cb(evutil_socket_t fd, short events, void *arg)
{
	struct lconn	*c = arg;
	char		 err[TR_ERRLEN];
	enum tls_step	 step;

	step = tls_client_handshake(c->ssl, err, sizeof(err));
	if (step == TLS_STEP_WANT_READ || step == TLS_STEP_WANT_WRITE) {
		event_assign(c->tlsev, c->wd->li->base, c->fd,
		    step == TLS_STEP_WANT_READ ? EV_READ : EV_WRITE,
		    ltls_handshake_cb, c);
		event_add(c->tlsev, NULL);
		return;
	}
	auth_ldap_stats_op(c->wd->dir, OT_STARTTLS, step == TLS_STEP_DONE ?
	    OR_SUCCESS : OR_ERROR, c->setup_start);
	if (step == TLS_STEP_FAILED) {
		lconn_fail(c, err, 1);
		return;
	}
	ltls_done(c);
}

/* ldaps, or StartTLS accepted: the handshake, in the event loop. */
void
ltls_start(struct lconn *c)
{
	struct ldap_dir	*d = c->wd->dir;

	event_del(c->ev);	/* libldap reads nothing until it is done */
	c->state = LS_TLS;
	c->setup_start = monotonic_sec();
	if ((c->ssl = tls_client_new(d->tls_ctx, c->fd,
	    d->uris[c->uri].host)) == NULL) {
		lconn_fail(c, "could not set up TLS", 0);
		return;
	}
	/* One read(2) takes every record the socket has, not one each. */
	SSL_set_read_ahead(c->ssl, 1);
	c->tlsev = event_new(c->wd->li->base, c->fd, EV_WRITE,
	    ltls_handshake_cb, c);
	event_add(c->tlsev, NULL);
}

/* What the layer gathered goes with the connection. */
void
ltls_free(struct lconn *c)
{
	if (c->flushev != NULL)
		event_free(c->flushev);
	if (c->wbuf != NULL)
		evbuffer_free(c->wbuf);
	c->flushev = NULL;
	c->wbuf = NULL;
}
