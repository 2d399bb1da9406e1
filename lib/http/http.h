/*
 * http: HTTP/1.1 server-side request framing, as a pure state machine.
 *
 * The grammar, chunked decoding and keep-alive rules are those of
 * libhttp_parser (2.9.x); this module adds what a server on the open network
 * needs on top of it: limits on every dimension of a request head enforced
 * before the bytes are stored, refusal of ambiguous framing (Content-Length
 * with Transfer-Encoding, repeated Content-Length, obsolete line folding), a
 * body-size limit applied the moment Content-Length is seen, the strict
 * checks that a non-strict build of the library (Debian's) leaves out (bare
 * CR taken for CRLF, spaces in header names, controls and 8-bit bytes in the
 * target), and an event interface that never does I/O, never buffers a body
 * and lets the caller stop after every event (pipelining, backpressure).
 * Upgrade headers are ignored (the request is served as HTTP/1.1); CONNECT is
 * refused.
 *
 * Usage, per connection (one thread at a time):
 *
 *	http_conn_new(&c, NULL);
 *	on bytes p[0..n) from the socket (appended to what was left over):
 *		for (;;) {
 *			if (http_feed(c, p, n, &used, &ev) != 0)
 *				<bug>;
 *			p += used, n -= used;
 *			switch (ev.type) {
 *			case HTTP_EV_MORE:  keep nothing (n is 0); read more;
 *			case HTTP_EV_HEAD:  route http_conn_request(c); maybe send
 *			                    HTTP_100_CONTINUE; continue;
 *			case HTTP_EV_BODY:  consume ev.data/ev.len; continue, or
 *			                    keep p/n and come back when ready;
 *			case HTTP_EV_DONE:  respond; http_next(c) (or close) and
 *			                    continue with p/n;
 *			case HTTP_EV_ERROR: respond http_err_status(ev.err) with
 *			                    "Connection: close", then close;
 *			}
 *		}
 *
 * Every http_feed() call returns at most one event and consumes only the
 * bytes up to that event, so the caller sets the pace: it need not feed again
 * until it is ready for the next body piece, and the next pipelined request
 * is not looked at before http_next().  Events other than HTTP_EV_MORE may be
 * followed by a queued one even when no bytes are left, so call again after
 * them (with n possibly 0) until HTTP_EV_MORE.
 *
 * When a request has several defects, which one is reported can depend on
 * how the bytes were fragmented; that it is refused does not.
 *
 * Memory: one allocation per connection made by http_conn_new(), of
 * http_conn_size(limits) bytes = sizeof the connection state (about 440
 * bytes) + max_headers * sizeof(struct http_header) (32 on LP64) + max_head;
 * with the defaults 440 + 3200 + 16384 = 20024 bytes (19.6 KiB).  The
 * request-target and the header names and values are copied into that fixed
 * arena (each NUL-terminated); there is no other allocation, and none per
 * header.  Body bytes are never copied.
 */
#ifndef CS_HTTP_H
#define CS_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Defaults for struct http_limits. */
#define HTTP_DEFAULT_MAX_HEAD    16384u        /* request line + headers, bytes */
#define HTTP_DEFAULT_MAX_TARGET  8192u         /* request-target, bytes */
#define HTTP_DEFAULT_MAX_HEADERS 100u          /* header fields */
#define HTTP_DEFAULT_MAX_NAME    256u          /* one header name, bytes */
#define HTTP_DEFAULT_MAX_VALUE   8192u         /* one header value, bytes */
#define HTTP_DEFAULT_MAX_BODY    (5ull << 30)  /* 5 GiB: the S3 single-PUT limit */
#define HTTP_MAX_HEAD_CEILING    (80u * 1024u) /* libhttp_parser's own header limit */

/*
 * Per-connection limits.  Every field must be nonzero; max_head is at most
 * HTTP_MAX_HEAD_CEILING and max_target, max_name and max_value at most
 * max_head; max_headers at most 10000.
 *
 * max_head	bytes from the first byte of a request to the end of the empty
 *		line that ends its head (request line, headers, all CRLFs,
 *		leading empty lines).  Over: HTTP_E_URI_TOO_LONG (414) while
 *		still in the request line, else HTTP_E_HEAD_TOO_LARGE (431).
 *		Also the total size of the trailer fields of a chunked body.
 * max_target	bytes of the request-target.  Over: HTTP_E_URI_TOO_LONG (414).
 * max_headers	number of header fields (and of trailer fields).  Over:
 *		HTTP_E_TOO_MANY_HEADERS (431).
 * max_name	bytes of one header name.  Over: HTTP_E_FIELD_TOO_LARGE (431).
 * max_value	bytes of one header value.  Over: HTTP_E_FIELD_TOO_LARGE (431).
 * max_body	bytes of a body, by Content-Length (checked when that header
 *		line ends, before any body byte) or by the sum of the chunk
 *		sizes (checked at each chunk header).  Over: HTTP_E_TOO_LARGE
 *		(413, S3 EntityTooLarge).
 */
struct http_limits {
	uint32_t max_head;
	uint32_t max_target;
	uint32_t max_headers;
	uint32_t max_name;
	uint32_t max_value;
	uint64_t max_body;
};

/* http_limits_init(l): fill l with the HTTP_DEFAULT_* values. */
void http_limits_init(struct http_limits *l);

/*
 * Protocol errors.  Each maps to the status the server should answer with
 * (http_err_status) before closing the connection.
 */
enum http_err {
	HTTP_E_NONE = 0,
	HTTP_E_SYNTAX,           /* 400 malformed request line, header or target */
	HTTP_E_HOST,             /* 400 Host missing (HTTP/1.1), repeated, or unlike the target's */
	HTTP_E_LENGTH,           /* 400 malformed or repeated Content-Length */
	HTTP_E_FRAMING,          /* 400 Transfer-Encoding with Content-Length, or in HTTP/1.0 */
	HTTP_E_CHUNK,            /* 400 malformed chunked encoding */
	HTTP_E_TRUNCATED,        /* 400 connection closed in the middle of a request */
	HTTP_E_TOO_LARGE,        /* 413 body larger than max_body */
	HTTP_E_URI_TOO_LONG,     /* 414 request-target or request line too long */
	HTTP_E_HEAD_TOO_LARGE,   /* 431 head (or trailer) larger than max_head */
	HTTP_E_TOO_MANY_HEADERS, /* 431 more than max_headers fields */
	HTTP_E_FIELD_TOO_LARGE,  /* 431 a header name or value over its limit */
	HTTP_E_METHOD,           /* 501 unknown method, or CONNECT */
	HTTP_E_TE,               /* 501 Transfer-Encoding other than exactly "chunked" */
	HTTP_E_VERSION,          /* 505 anything but HTTP/1.0 and HTTP/1.1 */
	HTTP_E_COUNT
};

/* http_err_status(e): the HTTP status code for e (400 for HTTP_E_NONE and unknown values). */
int http_err_status(enum http_err e);

/* http_err_str(e): a short, static, human-readable reason for e. */
const char *http_err_str(enum http_err e);

/* A header field; name and value are NUL-terminated (the lengths exclude it). */
struct http_header {
	const char *name;
	size_t name_len;
	const char *value; /* leading and trailing spaces and tabs removed */
	size_t value_len;
};

/*
 * A request-target split into its parts, without any decoding.  The pointers
 * point into the target (path may point to a static "/" when an absolute-form
 * target has an empty path).
 */
struct http_url {
	const char *authority; /* absolute-form only ("host[:port]"), else NULL */
	size_t authority_len;
	const char *path; /* starts with '/' */
	size_t path_len;
	const char *query; /* after the '?', or NULL when there is no '?' */
	size_t query_len;
};

/*
 * http_url_parse(target, len, u): split the request-target target[0..len)
 * into u.  Accepted: origin-form ("/path?query") and absolute-form with
 * scheme http or https ("http://host[:port]/path?query"); the grammar is
 * libhttp_parser's.  Refused (CS_EINVAL): asterisk- and authority-form,
 * other schemes, userinfo, fragments, anything the URL grammar rejects.
 * Returns 0, CS_EINVAL, or CS_ERANGE when len > 65535.
 */
int http_url_parse(const char *target, size_t len, struct http_url *u)
	__attribute__((warn_unused_result));

/* Flags for http_pct_decode(). */
#define HTTP_PCT_NO_NUL 0x1 /* refuse %00 */
#define HTTP_PCT_PLUS   0x2 /* decode '+' as a space (form encoding) */

/*
 * http_pct_decode(out, outsz, in, inlen, flags, outlen): decode the
 * percent-escapes of in[0..inlen) into out, NUL-terminate it and store the
 * decoded length (excluding the NUL) in *outlen.  out may equal in (decoding
 * in place); otherwise they must not overlap.  Returns 0, CS_EINVAL for a
 * '%' not followed by two hex digits or (with HTTP_PCT_NO_NUL) a decoded NUL
 * byte, or CS_ERANGE if out cannot hold the result and its NUL.  On failure
 * out is unspecified.
 */
int http_pct_decode(char *out, size_t outsz, const char *in, size_t inlen, int flags,
		    size_t *outlen) __attribute__((warn_unused_result));

/* Methods the server distinguishes; anything else is HTTP_M_OTHER. */
enum http_method_id {
	HTTP_M_OTHER = 0,
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_PUT,
	HTTP_M_POST,
	HTTP_M_DELETE,
	HTTP_M_OPTIONS,
};

/* How a message body is delimited. */
enum http_body_kind {
	HTTP_BODY_NONE = 0, /* no body (neither Content-Length nor Transfer-Encoding) */
	HTTP_BODY_LENGTH,   /* Content-Length: content_length bytes (maybe 0) */
	HTTP_BODY_CHUNKED,  /* Transfer-Encoding: chunked */
};

/*
 * A parsed request head.  Everything it points to lives in the connection's
 * arena and stays valid until http_next() or http_conn_free().
 */
struct http_request {
	enum http_method_id method_id;
	const char *method; /* static, e.g. "PUT" */
	const char *target; /* raw request-target, NUL-terminated */
	size_t target_len;
	struct http_url url;                   /* target split (points into target) */
	unsigned version_major, version_minor; /* 1.0 or 1.1 */
	const struct http_header *headers;     /* in arrival order */
	size_t nheaders;
	const char *host; /* Host value, or the absolute-form authority; NULL if neither */
	size_t host_len;
	enum http_body_kind body;
	uint64_t content_length; /* HTTP_BODY_LENGTH only */
	int keep_alive;          /* may serve another request; final at HTTP_EV_DONE */
	int expect_continue;     /* HTTP/1.1 and "Expect: 100-continue" (other expectations: 0) */
};

struct http_conn;

/*
 * http_conn_new(cp, limits): allocate a connection state machine with the
 * given limits (NULL: defaults) and store it in *cp.  Free it with
 * http_conn_free().  Returns 0, CS_EINVAL, CS_ERANGE (a limit out of range)
 * or CS_ENOMEM.
 */
int http_conn_new(struct http_conn **cp, const struct http_limits *limits)
	__attribute__((warn_unused_result));

/* http_conn_free(c): free c; NULL is a no-op. */
void http_conn_free(struct http_conn *c);

/* http_conn_size(limits): the bytes http_conn_new() allocates for limits (NULL: defaults). */
size_t http_conn_size(const struct http_limits *limits);

/* Events returned by http_feed(). */
enum http_ev {
	HTTP_EV_MORE = 0, /* all input consumed (*consumed == len); feed more */
	HTTP_EV_HEAD,     /* request head complete: see http_conn_request() */
	HTTP_EV_BODY,     /* data/len: the next piece of the (de-chunked) body */
	HTTP_EV_DONE,     /* request complete; call http_next() before feeding on */
	HTTP_EV_ERROR,    /* err: protocol error; answer it and close */
};

struct http_event {
	enum http_ev type;
	const uint8_t *data; /* HTTP_EV_BODY: points into the buffer passed to http_feed */
	size_t len;
	enum http_err err; /* HTTP_EV_ERROR */
};

/*
 * http_feed(c, buf, len, consumed, ev): parse bytes buf[0..len) received on
 * the connection, in any fragmentation (down to one byte per call), up to and
 * including the next event, which is stored in *ev; the number of bytes used
 * is stored in *consumed.  The caller passes the bytes after *consumed to the
 * next call (now or, for backpressure, whenever it is ready).  A body piece
 * lies within the consumed bytes, so it stays valid as long as the caller
 * keeps that part of its buffer.
 *
 * A queued event (HTTP_EV_DONE right after the last HTTP_EV_BODY or after the
 * HTTP_EV_HEAD of a request without body) is returned with *consumed == 0,
 * even when len is 0.  After HTTP_EV_ERROR every call returns the same error.
 *
 * Returns 0, or CS_EINVAL for a NULL argument or a call between HTTP_EV_DONE
 * and http_next().
 */
int http_feed(struct http_conn *c, const void *buf, size_t len, size_t *consumed,
	      struct http_event *ev) __attribute__((warn_unused_result));

/*
 * http_conn_request(c): the current request head, valid from HTTP_EV_HEAD to
 * http_next(); NULL before HTTP_EV_HEAD.
 */
const struct http_request *http_conn_request(const struct http_conn *c);

/*
 * http_next(c): after HTTP_EV_DONE, forget the request and get ready to parse
 * the next one on the same connection.  Returns 0, CS_EINVAL if the current
 * request is not complete, or CS_EPERM if it was not keep-alive (the caller
 * must close the connection after responding).
 */
int http_next(struct http_conn *c) __attribute__((warn_unused_result));

/*
 * http_conn_eof(c): the peer closed its side.  Returns HTTP_E_NONE if that
 * happened between requests, HTTP_E_TRUNCATED if in the middle of one, or the
 * error the connection already failed with.
 */
enum http_err http_conn_eof(const struct http_conn *c);

/*
 * http_header_find(r, name): the first header of r named name (ASCII
 * case-insensitive), or NULL.  http_header_next(r, name, prev): the next one
 * after prev (prev NULL: the first; otherwise a header of r), to iterate over
 * a repeated header.
 */
const struct http_header *http_header_find(const struct http_request *r, const char *name);
const struct http_header *http_header_next(const struct http_request *r, const char *name,
					   const struct http_header *prev);

/* Fixed protocol strings. */
#define HTTP_100_CONTINUE "HTTP/1.1 100 Continue\r\n\r\n"
#define HTTP_CHUNK_TAIL   "\r\n"      /* follows the data of every chunk */
#define HTTP_CHUNK_LAST   "0\r\n\r\n" /* last chunk, no trailers */

/* Length of an IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), without NUL. */
#define HTTP_DATE_LEN 29

/*
 * http_date(buf, bufsz, t): write t as an RFC 7231 IMF-fixdate plus NUL
 * (HTTP_DATE_LEN + 1 bytes).  Returns 0, CS_ERANGE (buffer too small, or a
 * year outside 0..9999) or CS_EINVAL.
 */
int http_date(char *buf, size_t bufsz, time_t t) __attribute__((warn_unused_result));

/* http_reason(status): the standard reason phrase of status, or "" if none. */
const char *http_reason(int status);

/*
 * A response head to format.  body says how the body is delimited:
 * HTTP_BODY_LENGTH writes Content-Length, HTTP_BODY_CHUNKED writes
 * Transfer-Encoding: chunked (refused when http10 is set: an HTTP/1.0 peer
 * cannot decode it), HTTP_BODY_NONE writes neither (for 204 and 304, or a
 * body delimited by closing the connection: keep_alive must then be 0).
 * Content-Length is refused for 204.  Extra headers may not redefine Date,
 * Server, Content-Length, Transfer-Encoding or Connection.
 */
struct http_response {
	int status; /* 200..599 (send HTTP_100_CONTINUE for 100) */
	enum http_body_kind body;
	uint64_t content_length;           /* HTTP_BODY_LENGTH */
	int keep_alive;                    /* "Connection: keep-alive", else "close" */
	int http10;                        /* the request was HTTP/1.0 */
	time_t date;                       /* for the Date header, usually time(NULL) */
	const struct http_header *headers; /* extra headers (lengths are used) */
	size_t nheaders;
};

/*
 * http_response_head(buf, bufsz, r, len): format the head of r into buf:
 * "HTTP/1.1 <status> <reason>", Date, Server: cryptstore, the extra headers,
 * Content-Length or Transfer-Encoding, Connection, and the empty line; then a
 * NUL.  *len gets the length without the NUL.  Returns 0, CS_ERANGE if buf is
 * too small, or CS_EINVAL for a bad status, a combination refused above, or
 * an extra header whose name is not a token or whose value contains CR, LF
 * or another control character (response splitting).
 */
int http_response_head(char *buf, size_t bufsz, const struct http_response *r, size_t *len)
	__attribute__((warn_unused_result));

/*
 * http_chunk_head(buf, bufsz, n, len): write the header of a chunk of n
 * bytes ("<hex n>\r\n"); the caller then sends the n bytes and
 * HTTP_CHUNK_TAIL.  n == 0 writes the last chunk, HTTP_CHUNK_LAST, instead.
 * NUL-terminates; *len excludes the NUL.  Returns 0 or CS_ERANGE.
 */
int http_chunk_head(char *buf, size_t bufsz, uint64_t n, size_t *len)
	__attribute__((warn_unused_result));

#endif /* CS_HTTP_H */
