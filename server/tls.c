/*
 * tls: see tls.h.  One SSL_CTX for the process, one SSL per connection,
 * always over a non-blocking socket so that every wait is a poll() with the
 * connection's deadline and never a read blocked inside OpenSSL.
 */
#include "tls.h"
#include "config.h"
#include "log.h"
#include "util/err.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

struct tls_ctx {
	SSL_CTX *ctx;
	char desc[96];
};

struct tls_conn {
	SSL *ssl;
};

static const unsigned char sid_ctx[] = "cryptstore";

/* ssl_why: the first queued OpenSSL error as text (and clear the queue). */
static void
ssl_why(char *why, size_t whylen, const char *what, const char *arg)
{
	unsigned long e = ERR_get_error();
	char buf[256];

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "%s", errno != 0 ? strerror(errno) : "unknown error");
	snprintf(why, whylen, "%s %s: %s", what, arg, buf);
	ERR_clear_error();
}

/* key_file_ok: the private key must not be readable by group or others. */
static int
key_file_ok(const char *path, char *why, size_t whylen)
{
	struct stat st;

	if (stat(path, &st) != 0) {
		snprintf(why, whylen, "tls_key %s: %s", path, strerror(errno));
		return CS_EINVAL;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(why, whylen,
			 "tls_key %s: mode %03o lets others read the private key (chmod 600 %s)",
			 path, (unsigned)(st.st_mode & 0777), path);
		return CS_EPERM;
	}
	return 0;
}

int
tls_ctx_new(struct tls_ctx **out, const struct config *cfg, char *why, size_t whylen)
{
	struct tls_ctx *t;
	bool tls12;
	int rc = CS_EINVAL;

	*out = NULL;
	if (cfg->tls_cert[0] == '\0' && cfg->tls_key[0] == '\0') {
		if (cfg->tls_client_ca[0] != '\0') {
			snprintf(why, whylen, "tls_client_ca needs tls_cert and tls_key");
			return CS_EINVAL;
		}
		return 0;
	}
	if (cfg->tls_cert[0] == '\0' || cfg->tls_key[0] == '\0') {
		snprintf(why, whylen, "TLS needs both tls_cert and tls_key");
		return CS_EINVAL;
	}
	if (strcmp(cfg->tls_min_version, "1.3") != 0 && strcmp(cfg->tls_min_version, "1.2") != 0) {
		snprintf(why, whylen, "tls_min_version '%s': use 1.3 or 1.2", cfg->tls_min_version);
		return CS_EINVAL;
	}
	if (strcmp(cfg->tls_client_auth, "require") != 0 &&
	    strcmp(cfg->tls_client_auth, "optional") != 0) {
		snprintf(why, whylen, "tls_client_auth '%s': use require or optional",
			 cfg->tls_client_auth);
		return CS_EINVAL;
	}
	if ((rc = key_file_ok(cfg->tls_key, why, whylen)) != 0)
		return rc;
	rc = CS_EINVAL;
	tls12 = strcmp(cfg->tls_min_version, "1.2") == 0;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return CS_ENOMEM;
	ERR_clear_error();
	errno = 0;
	if ((t->ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		ssl_why(why, whylen, "SSL_CTX_new", "");
		goto err1;
	}
	/* Forward-secret AEAD suites only; no renegotiation, no compression. A
	 * peer that vanishes without close_notify is an EOF: HTTP's own framing
	 * (Content-Length, chunk sizes) catches a truncated message. */
	if (SSL_CTX_set_min_proto_version(t->ctx, tls12 ? TLS1_2_VERSION : TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(t->ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
		ssl_why(why, whylen, "tls_min_version", cfg->tls_min_version);
		goto err1;
	}
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					    SSL_OP_CIPHER_SERVER_PREFERENCE |
					    SSL_OP_IGNORE_UNEXPECTED_EOF);
	/* Idle connections keep no record buffers; the writer may retry a
	 * partial write with the rest of its data (conn.c's iovec walk). */
	SSL_CTX_set_mode(t->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
					 SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate_chain_file(t->ctx, cfg->tls_cert) != 1) {
		ssl_why(why, whylen, "tls_cert", cfg->tls_cert);
		goto err1;
	}
	if (SSL_CTX_use_PrivateKey_file(t->ctx, cfg->tls_key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(t->ctx) != 1) {
		if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH ||
		    ERR_peek_last_error() == 0) {
			snprintf(why, whylen, "tls_key %s does not match tls_cert %s", cfg->tls_key,
				 cfg->tls_cert);
			ERR_clear_error();
		} else {
			ssl_why(why, whylen, "tls_key", cfg->tls_key);
		}
		goto err1;
	}
	if (SSL_CTX_set_session_id_context(t->ctx, sid_ctx, sizeof(sid_ctx) - 1) != 1) {
		ssl_why(why, whylen, "session id context", "");
		goto err1;
	}
	if (cfg->tls_client_ca[0] != '\0') {
		STACK_OF(X509_NAME) * names;
		bool require = strcmp(cfg->tls_client_auth, "require") == 0;

		if (SSL_CTX_load_verify_locations(t->ctx, cfg->tls_client_ca, NULL) != 1 ||
		    (names = SSL_load_client_CA_file(cfg->tls_client_ca)) == NULL) {
			ssl_why(why, whylen, "tls_client_ca", cfg->tls_client_ca);
			goto err1;
		}
		SSL_CTX_set_client_CA_list(t->ctx, names);
		SSL_CTX_set_verify(
			t->ctx, SSL_VERIFY_PEER | (require ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
			NULL);
		SSL_CTX_set_verify_depth(t->ctx, 4);
		snprintf(t->desc, sizeof(t->desc), "TLSv%s+, client certificates %s",
			 cfg->tls_min_version, require ? "required" : "optional");
	} else {
		snprintf(t->desc, sizeof(t->desc), "TLSv%s+", cfg->tls_min_version);
	}
	*out = t;
	return 0;
err1:
	SSL_CTX_free(t->ctx);
	free(t);
	return rc;
}

void
tls_ctx_free(struct tls_ctx *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t);
}

const char *
tls_ctx_describe(const struct tls_ctx *t)
{
	return t != NULL ? t->desc : "off";
}

static int64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* peer_user: the verified client certificate's commonName into user; 0 with
 * "" when there is no certificate, CS_EPERM when it names no valid user. */
static int
peer_user(SSL *ssl, char user[TLS_USER_MAX + 1], const char *peer)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	X509_NAME *subj;
	const X509_NAME_ENTRY *ent;
	const ASN1_STRING *cn;
	int i;

	user[0] = '\0';
	if (cert == NULL)
		return 0;
	/* The handshake already failed on a bad chain; this is belt and braces. */
	if (SSL_get_verify_result(ssl) != X509_V_OK) {
		log_info("%s: TLS client certificate not verified", peer);
		return CS_EPERM;
	}
	if ((subj = X509_get_subject_name(cert)) != NULL &&
	    (i = X509_NAME_get_index_by_NID(subj, NID_commonName, -1)) >= 0 &&
	    X509_NAME_get_index_by_NID(subj, NID_commonName, i) < 0 &&
	    (ent = X509_NAME_get_entry(subj, i)) != NULL &&
	    (cn = X509_NAME_ENTRY_get_data(ent)) != NULL && ASN1_STRING_length(cn) > 0 &&
	    ASN1_STRING_length(cn) <= TLS_USER_MAX) {
		/* An embedded NUL ends the copy early and the name then fails below. */
		memcpy(user, ASN1_STRING_get0_data(cn), (size_t)ASN1_STRING_length(cn));
		user[ASN1_STRING_length(cn)] = '\0';
		if (strlen(user) == (size_t)ASN1_STRING_length(cn) && identity_name_ok(user))
			return 0;
	}
	user[0] = '\0';
	log_info("%s: TLS client certificate has no single commonName that is a user name", peer);
	return CS_EPERM;
}

int
tls_accept(struct tls_conn **out, struct tls_ctx *t, int fd, int64_t deadline_ms,
	   char user[TLS_USER_MAX + 1], const char *peer)
{
	struct tls_conn *c;
	int fl, r;

	*out = NULL;
	user[0] = '\0';
	if ((fl = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return CS_EIO;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return CS_ENOMEM;
	ERR_clear_error();
	if ((c->ssl = SSL_new(t->ctx)) == NULL || SSL_set_fd(c->ssl, fd) != 1) {
		log_error("%s: cannot set up TLS: out of memory", peer);
		goto err1;
	}
	for (;;) {
		struct pollfd p = {fd, 0, 0};
		int64_t wait;
		int e;

		ERR_clear_error();
		if ((r = SSL_accept(c->ssl)) == 1)
			break;
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			p.events = POLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			p.events = POLLOUT;
		else {
			unsigned long le = ERR_peek_error();
			char buf[200];

			if (le != 0)
				ERR_error_string_n(le, buf, sizeof(buf));
			else
				snprintf(buf, sizeof(buf), "connection closed");
			log_info("%s: TLS handshake failed: %s", peer, buf);
			goto err1;
		}
		if ((wait = deadline_ms - mono_ms()) <= 0) {
			log_info("%s: TLS handshake timed out", peer);
			goto err1;
		}
		r = poll(&p, 1, wait > 0x7fffffff ? 0x7fffffff : (int)wait);
		if (r < 0 && errno != EINTR)
			goto err1;
	}
	if (peer_user(c->ssl, user, peer) != 0)
		goto err1;
	ERR_clear_error();
	*out = c;
	return 0;
err1:
	ERR_clear_error();
	SSL_free(c->ssl);
	free(c);
	return CS_EIO;
}

/* again: map an SSL_get_error() result. */
static int
again(struct tls_conn *c, int r)
{
	int e = SSL_get_error(c->ssl, r);

	switch (e) {
	case SSL_ERROR_WANT_READ:
		return TLS_AGAIN_READ;
	case SSL_ERROR_WANT_WRITE:
		return TLS_AGAIN_WRITE;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		ERR_clear_error();
		return CS_EIO;
	}
}

long
tls_read(struct tls_conn *c, void *buf, size_t n)
{
	size_t got = 0;
	int r;

	ERR_clear_error();
	if ((r = SSL_read_ex(c->ssl, buf, n, &got)) == 1)
		return (long)got;
	return again(c, r);
}

int
tls_write(struct tls_conn *c, const void *buf, size_t n, size_t *done)
{
	int r;

	*done = 0;
	ERR_clear_error();
	if ((r = SSL_write_ex(c->ssl, buf, n, done)) == 1)
		return 0;
	r = again(c, r);
	return r == 0 ? CS_EIO : r; /* the peer closed: a write cannot finish */
}

bool
tls_pending(const struct tls_conn *c)
{
	return SSL_has_pending(c->ssl) == 1;
}

void
tls_conn_free(struct tls_conn *c)
{
	if (c == NULL)
		return;
	/* One non-blocking try: a peer that does not read gets no more time. */
	ERR_clear_error();
	(void)SSL_shutdown(c->ssl);
	ERR_clear_error();
	SSL_free(c->ssl);
	free(c);
}
