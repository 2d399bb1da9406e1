/*
 * tls: the server's TLS listener through OpenSSL's libssl.
 *
 * With tls_cert and tls_key configured, cryptstored speaks HTTPS only on its
 * port: there is no plaintext listener beside it to reach by mistake.  The
 * context is built once at start-up, while the process may still read the
 * key file (before the privilege drop and the sandbox); connections then
 * hold one SSL object each, driven over a non-blocking socket with the
 * connection's own deadlines (so a slow handshake is a slowloris like any
 * other and is cut off at header_timeout).
 *
 * TLS 1.3 is the default minimum (tls_min_version 1.2 allows TLS 1.2 with
 * forward-secret AEAD suites only).  Mutual TLS: with tls_client_ca set, a
 * client must present a certificate issued by that CA (tls_client_auth =
 * require, the default) or may (optional); the certificate's subject
 * commonName names a cryptstore user, and every request on that connection
 * must then be signed with one of that user's access keys: the certificate
 * binds the connection to an identity, the signature still chooses the key
 * and so the session level (docs/SECURITY.md, "TLS").
 */
#ifndef CS_TLS_H
#define CS_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "identity.h"

#define TLS_USER_MAX IDENTITY_NAME_MAX

struct config;
struct tls_ctx;
struct tls_conn;

/*
 * tls_ctx_new(out, cfg, why, whylen): the server context from cfg (tls_cert,
 * tls_key, tls_client_ca, tls_client_auth, tls_min_version).  *out is NULL
 * when TLS is not configured (no tls_cert): that is success.  Errors say
 * which file or setting is wrong.
 */
int tls_ctx_new(struct tls_ctx **out, const struct config *cfg, char *why, size_t whylen)
	__attribute__((warn_unused_result));
void tls_ctx_free(struct tls_ctx *t);

/* tls_ctx_describe(t): e.g. "TLSv1.3+, client certificates required". */
const char *tls_ctx_describe(const struct tls_ctx *t);

/*
 * tls_accept(out, t, fd, deadline_ms, user, peer): handshake on the
 * connected socket fd (made non-blocking) before the CLOCK_MONOTONIC
 * deadline.  On success *out drives the connection and user holds the
 * verified client certificate's commonName, or "" when the client sent none
 * (allowed only with tls_client_auth = optional).  Failures are logged at
 * info with the peer and what went wrong; the caller closes fd.
 */
int tls_accept(struct tls_conn **out, struct tls_ctx *t, int fd, int64_t deadline_ms,
	       char user[TLS_USER_MAX + 1], const char *peer) __attribute__((warn_unused_result));

/*
 * tls_read(c, buf, n): up to n bytes of application data.  Returns > 0, 0 at
 * the end of the stream, TLS_AGAIN_READ / TLS_AGAIN_WRITE when the socket
 * must become readable / writable first, or CS_EIO.
 * tls_write(c, buf, n, done): write; *done says how many bytes went out,
 * the return is as tls_read's (0 when all n went).
 * tls_pending(c): decrypted bytes buffered inside OpenSSL (the socket will
 * not signal them).
 */
#define TLS_AGAIN_READ  (-1000)
#define TLS_AGAIN_WRITE (-1001)
long tls_read(struct tls_conn *c, void *buf, size_t n);
int tls_write(struct tls_conn *c, const void *buf, size_t n, size_t *done);
bool tls_pending(const struct tls_conn *c);

/* tls_conn_free(c): send close_notify if the socket takes it, free; NULL is a no-op. */
void tls_conn_free(struct tls_conn *c);

#endif /* CS_TLS_H */
