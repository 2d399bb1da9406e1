/*
 * s3client: the CLI's S3 client: libcurl for HTTP, lib/s3/sigv4 for the
 * signatures (the very code path the server verifies with), and the little
 * XML reading that S3 responses need.
 *
 * A struct s3client holds what every request needs (endpoint, region,
 * access key, the secret in secure memory) and is read-only once made, so
 * that any number of threads can share it (its pool of idle connections
 * has a lock of its own).  A struct s3conn is one libcurl handle with its
 * kept-alive connection; it belongs to one thread at a time.
 *
 * Every request is path-style ("/BUCKET/KEY", the key percent-encoded with
 * sigv4_uri_encode), signs every header it sets, and carries the body's
 * SHA-256 for small bodies or UNSIGNED-PAYLOAD for large ones (callers add
 * Content-MD5 so that the server still checks what it received).  Failures
 * come back as a struct s3err: the S3 error code and message from the error
 * XML, or what went wrong locally or on the network.
 */
#ifndef CS_CLI_S3CLIENT_H
#define CS_CLI_S3CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "creds.h"

#define S3_MAX_KEY       1024 /* bytes of an object key (the server's limit) */
#define S3_MAX_BUCKET    63
#define S3_SMALL_BODY    (1u << 20)  /* bodies up to this are signed with their SHA-256 */
#define S3_MAX_XML_BODY  (64u << 20) /* largest response kept in memory */
#define S3_MAX_ATTEMPTS  4           /* tries of one request on a transient failure */
#define S3_MAX_META_TEXT 8192        /* bytes of x-amz-meta-* kept from a response */

/* What kind of failure; the CLI maps each to one exit code. */
enum s3err_kind {
	S3E_OK = 0,
	S3E_SERVER, /* the server answered with an S3 error (or an invalid answer) */
	S3E_LOCAL,  /* a local file, pipe or memory failure */
	S3E_NET,    /* no connection, or the connection broke */
	S3E_AUTH,   /* authentication or authorisation refused, or no credentials */
	S3E_USAGE,  /* the command line asked for something impossible */
	S3E_INTR,   /* interrupted (SIGINT, SIGTERM) */
};

struct s3err {
	enum s3err_kind kind;
	long status;       /* HTTP status, 0 when there was no answer */
	char code[64];     /* S3 error code ("NoSuchKey"), or "" */
	char message[512]; /* human-readable, never empty on failure */
};

/* s3err_set(e, kind, code, fmt, ...): fill *e; code may be NULL.  Returns -1. */
int s3err_set(struct s3err *e, enum s3err_kind kind, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* s3err_sys(e, what): a local error from errno: "what: strerror(errno)".  Returns -1. */
int s3err_sys(struct s3err *e, const char *what);

struct s3client;
struct s3conn;
struct progress;

/*
 * Where a successful response body goes.  write returns 0, or -1 with errno
 * set (a local failure).  rewind, when not NULL, restarts the sink so that
 * a request can be retried after some of its body arrived; it returns 0 or
 * -1 with errno set.
 */
struct s3_sink {
	int (*write)(void *arg, const void *p, size_t n);
	int (*rewind)(void *arg);
	void *arg;
	const char *name; /* what it writes to, for messages ("stdout", a path), or NULL */
};

/* One request header.  Names are lowercase; every one is signed. */
struct s3_hdr {
	const char *name;
	const char *value;
};

struct s3_req {
	const char *method; /* "GET", "HEAD", "PUT", "POST", "DELETE" */
	const char *bucket; /* NULL: the service (ListBuckets) */
	const char *key;    /* NULL: the bucket itself */
	const char *query;  /* already percent-encoded "a=b&c=d", or NULL */
	const struct s3_hdr *hdrs;
	size_t nhdrs;
	const void *body; /* request body (kept by the caller), or NULL */
	size_t body_len;
	struct s3_sink *sink;      /* 2xx body; NULL: kept in s3_resp.body */
	struct progress *progress; /* body bytes sent or received, or NULL */
	bool progress_total;       /* a 2xx Content-Length is the progress bar's total */
	bool cleanup;              /* runs even after s3client_cancel() (aborting an upload) */
};

struct s3_resp {
	long status;
	int64_t content_length; /* -1 when absent */
	char etag[128];         /* as sent, quotes included */
	char content_type[256];
	char last_modified[64];
	char content_range[128];
	/* x-amz-meta-* headers as "name\0value\0" pairs, names without the prefix */
	char meta[S3_MAX_META_TEXT];
	size_t meta_len;
	size_t nmeta;
	char *body; /* malloc'ed, NUL-terminated, when the request had no sink */
	size_t body_len;
	uint64_t received; /* body bytes given to the sink */
};

/*
 * s3client_global_init(): initialise libcurl and the secure heap once per
 * process, before any thread starts.  Returns 0 or -1.
 */
int s3client_global_init(void) __attribute__((warn_unused_result));

/* s3client_global_cleanup(): undo s3client_global_init(). */
void s3client_global_cleanup(void);

/*
 * s3client_new(c, out, e): a client for the endpoint, region and keys in c.
 * The secret is copied into secure memory; c may be cleared right after.
 * Returns 0 or -1 with *e filled (S3E_USAGE for a bad endpoint URL).
 */
int s3client_new(const struct creds *c, struct s3client **out, struct s3err *e)
	__attribute__((warn_unused_result));

/* s3client_free(cl): close its connections, wipe the secret and free cl.
 * No connection of cl may be in use.  NULL is a no-op. */
void s3client_free(struct s3client *cl);

/* s3client_endpoint(cl): the endpoint URL, for messages. */
const char *s3client_endpoint(const struct s3client *cl);

/* s3client_region(cl): the region requests are signed for. */
const char *s3client_region(const struct s3client *cl);

/* s3client_conn_new(cl): a connection of cl (one libcurl handle): an idle
 * one given back earlier, or a new one; NULL when out of memory.  Thread-safe. */
struct s3conn *s3client_conn_new(struct s3client *cl) __attribute__((warn_unused_result));

/* s3client_conn_free(c): give the connection back to its client, which
 * keeps it open for reuse until s3client_free().  NULL is a no-op. */
void s3client_conn_free(struct s3conn *c);

/*
 * s3client_do(c, rq, rs, e): perform rq, retrying transient failures
 * (connection resets, 502, 503, 504) up to S3_MAX_ATTEMPTS times when the body
 * can be sent again and the sink restarted.  *rs is filled in either case;
 * release it with s3client_resp_free().  Returns 0 for a 2xx answer, else
 * -1 with *e filled.  A HEAD that fails is asked again as a one-byte GET so
 * that *e names the S3 error code, which a HEAD answer has no body for.
 */
int s3client_do(struct s3conn *c, const struct s3_req *rq, struct s3_resp *rs, struct s3err *e)
	__attribute__((warn_unused_result));

/* s3client_resp_free(rs): free rs->body.  Safe on a zeroed or freed rs. */
void s3client_resp_free(struct s3_resp *rs);

/* s3client_resp_meta(rs, i, name, value): the i-th x-amz-meta-* pair of rs. */
void s3client_resp_meta(const struct s3_resp *rs, size_t i, const char **name, const char **value);

/* s3client_cancel(): make every transfer stop soon (async-signal-safe). */
void s3client_cancel(void);

/* s3client_cancelled(): true once s3client_cancel() was called. */
bool s3client_cancelled(void);

/*
 * s3client_xml_next(xml, n, tag, pos, val, vlen): find the next element
 * <tag> (or <tag ...>, or <tag/>) at or after *pos in xml (n bytes) and
 * point *val and *vlen at its raw content; *pos moves past its end tag.
 * Returns true if found.  Elements are not nested with their own name in
 * any S3 response, so the first matching end tag closes the element.
 */
bool s3client_xml_next(const char *xml, size_t n, const char *tag, size_t *pos, const char **val,
		       size_t *vlen) __attribute__((warn_unused_result));

/*
 * s3client_xml_text(raw, n, out, outsz): the text of raw XML content (the
 * five entities and numeric references decoded) into out, NUL-terminated.
 * Returns its length, or -1 if it does not fit, has a bad entity or would
 * contain a NUL byte.
 */
long s3client_xml_text(const char *raw, size_t n, char *out, size_t outsz)
	__attribute__((warn_unused_result));

/*
 * s3client_xml_get(xml, n, tag, out, outsz): the text of the first <tag>
 * in xml.  Returns its length, or -1 when absent or invalid.
 */
long s3client_xml_get(const char *xml, size_t n, const char *tag, char *out, size_t outsz)
	__attribute__((warn_unused_result));

/*
 * s3client_url_decode(s): decode %XX escapes of the NUL-terminated s in
 * place (for encoding-type=url listings).  Returns 0, or -1 for a bad
 * escape or an escaped NUL.
 */
int s3client_url_decode(char *s) __attribute__((warn_unused_result));

/*
 * s3client_query_add(q, qsz, name, value): append "name=value" (value
 * percent-encoded; "&" first unless q is empty) to the query q.  Returns 0
 * or -1 if it does not fit.
 */
int s3client_query_add(char *q, size_t qsz, const char *name, const char *value)
	__attribute__((warn_unused_result));

/* s3client_md5_b64(p, n, md5, b64): MD5 of p into md5 and its base64 (for
 * Content-MD5, 25 bytes with the NUL) into b64.  Returns 0 or -1. */
int s3client_md5_b64(const void *p, size_t n, uint8_t md5[16], char b64[25])
	__attribute__((warn_unused_result));

/* s3client_etag_is_md5(etag, md5): true if etag (quoted or not) is the plain
 * hex MD5 of a single-part upload, which is then decoded into md5. */
bool s3client_etag_is_md5(const char *etag, uint8_t md5[16]);

#endif /* CS_CLI_S3CLIENT_H */
