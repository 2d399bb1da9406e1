/*
 * awschunked: incremental decoder of "Content-Encoding: aws-chunked" request
 * bodies, the framing S3 clients use for streaming uploads:
 *
 *	chunk   := hex-size [";chunk-signature=" 64hex] CRLF data CRLF
 *	body    := chunk* final trailer* CRLF
 *	final   := "0" [";chunk-signature=" 64hex] CRLF
 *	trailer := name ":" value CRLF		(e.g. x-amz-checksum-crc32:...)
 *
 * Two variants, chosen by the request's x-amz-content-sha256 (see sigv4):
 *   AWSCHUNKED_SIGNED (STREAMING-AWS4-HMAC-SHA256-PAYLOAD): every chunk,
 *	the final one included, carries a signature chained from the request's
 *	seed signature: HMAC(signing key, "AWS4-HMAC-SHA256-PAYLOAD\n" date
 *	"\n" scope "\n" previous-signature "\n" hex(SHA-256("")) "\n"
 *	hex(SHA-256(data))).  Trailers are refused: nothing would authenticate
 *	them.
 *   AWSCHUNKED_UNSIGNED_TRAILER (STREAMING-UNSIGNED-PAYLOAD-TRAILER): no
 *	signatures and no extensions; trailers are handed to the caller, which
 *	checks the checksum they name against the data.
 *
 * Release decision: data is passed to the caller as it arrives, BEFORE the
 * signature of its chunk has been checked.  Holding a chunk back until its
 * signature verifies would cost up to max_chunk (16 MiB by default) of
 * buffer per connection, which does not scale to hundreds of concurrent
 * uploads.  The data is therefore tentative until the body has ended: the
 * caller must stage it (the object writer writes to a temporary object) and
 * commit only when awschunked_finish() returns 0, and must discard
 * everything on any error.  The decoder guarantees that finish() returns 0
 * only when every chunk signature verified, the framing ended with the final
 * chunk and its blank line, and the decoded length equals
 * x-amz-decoded-content-length when that was given.
 *
 * Limits: a chunk-size line is at most AWSCHUNKED_MAX_LINE bytes and its size
 * is accumulated digit by digit against max_chunk, so no number of digits can
 * overflow; trailer lines and their count are bounded too.  Nothing is
 * allocated by a size from the body.  After the first error the decoder is
 * dead and keeps returning that error.
 */
#ifndef CS_AWSCHUNKED_H
#define CS_AWSCHUNKED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AWSCHUNKED_DEFAULT_MAX_CHUNK (16u << 20) /* bytes of data in one chunk */
#define AWSCHUNKED_LIMIT_MAX_CHUNK   (1u << 30)  /* the largest max_chunk accepted */
#define AWSCHUNKED_MAX_LINE          128         /* a chunk-size line, CRLF excluded */
#define AWSCHUNKED_MAX_TRAILER_LINE  256         /* a trailer line, CRLF excluded */
#define AWSCHUNKED_MAX_TRAILERS      8

enum awschunked_mode {
	AWSCHUNKED_SIGNED,
	AWSCHUNKED_UNSIGNED_TRAILER,
};

/*
 * awschunked_data_fn(arg, data, len): len (> 0) more bytes of decoded data,
 * not yet verified (see above).  Return 0, or a negative CS_E* code to stop
 * the decoder with that code.
 */
typedef int (*awschunked_data_fn)(void *arg, const uint8_t *data, size_t len);

/*
 * awschunked_trailer_fn(arg, name, name_len, value, value_len): one trailer,
 * its name lowercased, its value without surrounding blanks; neither is
 * NUL-terminated.  Return 0 or a negative CS_E* code to stop.
 */
typedef int (*awschunked_trailer_fn)(void *arg, const char *name, size_t name_len,
				     const char *value, size_t value_len);

struct awschunked_config {
	enum awschunked_mode mode;
	size_t max_chunk;       /* 0: AWSCHUNKED_DEFAULT_MAX_CHUNK */
	int64_t decoded_length; /* x-amz-decoded-content-length, or -1 if not given */
	/* AWSCHUNKED_SIGNED only (from struct sigv4_auth); all are copied: */
	const uint8_t *signing_key;       /* 32 bytes, kept in secure memory */
	const uint8_t *seed_signature;    /* 32 bytes */
	const char *amz_date;             /* "YYYYMMDDTHHMMSSZ", NUL-terminated */
	const char *scope;                /* "YYYYMMDD/region/s3/aws4_request", NUL-terminated */
	awschunked_data_fn on_data;       /* may be NULL: data is dropped */
	awschunked_trailer_fn on_trailer; /* may be NULL: trailers are dropped */
	void *arg;
};

struct awschunked;

/*
 * awschunked_new(cfg, out): a decoder for one body.  Returns 0, CS_EINVAL for
 * a bad configuration, or CS_ENOMEM.  Free with awschunked_free().
 */
int awschunked_new(const struct awschunked_config *cfg, struct awschunked **out)
	__attribute__((warn_unused_result));

/*
 * awschunked_feed(d, p, n): decode the next n bytes of the body (any split is
 * fine, down to one byte at a time).  Returns 0, or:
 *	CS_EINVAL  malformed framing (bad size line, missing CRLF, bad
 *		   extension or trailer, bytes after the end, line too long);
 *	CS_EAUTH   a chunk signature does not match;
 *	CS_ERANGE  a chunk larger than max_chunk, or more data than
 *		   decoded_length;
 *	or the negative code a callback returned.
 */
int awschunked_feed(struct awschunked *d, const void *p, size_t n)
	__attribute__((warn_unused_result));

/*
 * awschunked_finish(d): the body has ended.  Returns 0 if it was complete and
 * verified; CS_EINVAL if it ended early; CS_ERANGE if the decoded length
 * differs from decoded_length; or the error that stopped the decoder.
 */
int awschunked_finish(struct awschunked *d) __attribute__((warn_unused_result));

/* awschunked_done(d): the final chunk and its blank line have been decoded. */
bool awschunked_done(const struct awschunked *d);

/* awschunked_decoded(d): bytes of data passed to on_data so far. */
uint64_t awschunked_decoded(const struct awschunked *d);

/* awschunked_why(d): a static description of the last error, or "" if none. */
const char *awschunked_why(const struct awschunked *d);

/* awschunked_free(d): wipe the signing key and free d.  NULL is a no-op. */
void awschunked_free(struct awschunked *d);

#endif /* CS_AWSCHUNKED_H */
