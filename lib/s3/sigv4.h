/*
 * sigv4: AWS Signature Version 4 for S3, the server's verifier and the
 * client's signer, sharing one canonical-request code path.
 *
 * The verifier takes a request as the HTTP layer received it (method, raw
 * request-target, header list, the current time) and answers with one
 * outcome per S3 error code.  It handles the Authorization header
 * ("AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...") and
 * presigned URLs (X-Amz-Algorithm, X-Amz-Credential, X-Amz-Date,
 * X-Amz-Expires, X-Amz-SignedHeaders, X-Amz-Signature).
 *
 * The canonical request follows AWS's rules for S3:
 *   - the path is used exactly as the client sent it (S3 neither normalizes
 *     nor double-encodes it);
 *   - every query parameter is percent-decoded and re-encoded (unreserved
 *     A-Z a-z 0-9 - _ . ~ kept, every other byte %XX in uppercase; a raw '+'
 *     is a literal plus and becomes %2B), then sorted by encoded name and
 *     encoded value; a parameter without '=' gets an empty value, empty
 *     '&&' segments carry nothing and are skipped, and X-Amz-Signature is
 *     always left out;
 *   - each signed header is "name:value" with the values of every header of
 *     that name (in arrival order) trimmed, inner whitespace runs collapsed
 *     to one space, and joined with ','.
 *
 * Policy (where AWS leaves room, the strict choice):
 *   - SignedHeaders must be lowercase, strictly ascending and include host;
 *     every header it names must be present.
 *   - Every x-amz-* header in the request must be signed (AccessDenied
 *     otherwise, as S3 does), except x-amz-date and x-amz-content-sha256,
 *     which are bound through the string to sign anyway.  An unsigned
 *     x-amz-copy-source or x-amz-meta-* could otherwise be added by anyone
 *     who holds a presigned URL or replays a captured request.
 *   - Session tokens (X-Amz-Security-Token, x-amz-security-token) are not
 *     supported: AccessDenied.
 *   - Header auth: x-amz-date (or, without it, an IMF-fixdate Date header)
 *     must lie within max_skew of now; the credential date must be its date.
 *   - Presigned URLs: 1 <= X-Amz-Expires <= 604800; the payload is always
 *     UNSIGNED-PAYLOAD; an X-Amz-Date more than max_skew in the future is
 *     "not valid yet"; after X-Amz-Date + X-Amz-Expires the URL has expired.
 *
 * Every length the network controls is checked before use, nothing is
 * allocated by size from the request, and no input given with a length is
 * assumed to be NUL-terminated.  Secrets and derived keys on the stack are
 * wiped on every path; signatures are compared in constant time.
 */
#ifndef CS_SIGV4_H
#define CS_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIGV4_MAX_SECRET       128   /* bytes of a secret access key */
#define SIGV4_MAX_AKID         128   /* bytes of an access key id */
#define SIGV4_MAX_REGION       63    /* bytes of a region name */
#define SIGV4_MAX_SERVICE      32    /* bytes of a service name */
#define SIGV4_MAX_SCOPE        128   /* "date/region/service/aws4_request", NUL excluded */
#define SIGV4_AMZ_DATE_LEN     16    /* "YYYYMMDDTHHMMSSZ" */
#define SIGV4_MAX_TARGET       65536 /* request-target bytes */
#define SIGV4_MAX_HEADER_VALUE 65536 /* bytes of one header value */
#define SIGV4_MAX_HEADER_NAME  256   /* bytes of one header name */
#define SIGV4_MAX_HEADERS      256   /* headers in one request */
#define SIGV4_MAX_PARAMS       128   /* query parameters in one request */
#define SIGV4_MAX_SIGNED       64    /* names in SignedHeaders */
#define SIGV4_MAX_SIGNED_LEN   2048  /* bytes of SignedHeaders */
#define SIGV4_MAX_EXPIRES      604800
#define SIGV4_DEFAULT_SKEW     900 /* seconds: 15 minutes */

/* One received header: name and value as they came, neither NUL-terminated. */
struct sigv4_header {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/*
 * A request as the HTTP layer received it.  target is the raw
 * request-target in origin form: the percent-encoded path and, after the
 * first '?', the raw query string.  now is the server's clock in seconds
 * since the epoch (used by the verifier only).
 */
struct sigv4_request {
	const char *method;
	size_t method_len;
	const char *target;
	size_t target_len;
	const struct sigv4_header *headers;
	size_t nheaders;
	int64_t now;
};

/*
 * sigv4_lookup_fn(arg, akid, secret, secret_size, secret_len): copy the
 * secret of access key id akid (NUL-terminated) into secret, which holds
 * secret_size (SIGV4_MAX_SECRET) bytes, and set *secret_len.  Return 0,
 * CS_ENOENT for an unknown key, or another CS_E* code for a failure.  The
 * verifier wipes the copy when it is done.
 */
typedef int (*sigv4_lookup_fn)(void *arg, const char *akid, uint8_t *secret, size_t secret_size,
			       size_t *secret_len);

struct sigv4_config {
	const char *region; /* NULL: accept any region (it is reported in the result) */
	int64_t max_skew;   /* seconds; <= 0 means SIGV4_DEFAULT_SKEW */
	sigv4_lookup_fn lookup;
	void *lookup_arg;
};

/* Outcomes, one per S3 error code; see sigv4_result_code(). */
enum sigv4_result {
	SIGV4_OK = 0,
	SIGV4_ACCESS_DENIED,            /* expired or not-yet-valid URL, token, unsigned x-amz-* */
	SIGV4_SIGNATURE_DOES_NOT_MATCH, /* wrong signature, or a signed header is absent */
	SIGV4_INVALID_ACCESS_KEY_ID,    /* the lookup does not know the key */
	SIGV4_REQUEST_TIME_TOO_SKEWED,  /* header auth outside now +- max_skew */
	SIGV4_AUTH_HEADER_MALFORMED,    /* Authorization or its credential scope */
	SIGV4_AUTH_QUERY_ERROR,         /* the X-Amz-* query parameters */
	SIGV4_MISSING_SECURITY_HEADER,  /* no authentication at all: an anonymous request */
	SIGV4_INVALID_ARGUMENT,         /* bad request shape, payload hash, both auth kinds */
	SIGV4_INTERNAL_ERROR,           /* the lookup or the crypto library failed */
};

/* How the caller must treat the body of an authenticated request. */
enum sigv4_payload {
	SIGV4_PAYLOAD_UNSIGNED = 0,           /* UNSIGNED-PAYLOAD (always for presigned URLs) */
	SIGV4_PAYLOAD_SHA256,                 /* body must hash to payload_sha256 */
	SIGV4_PAYLOAD_STREAMING_SIGNED,       /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
	SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRL, /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
};

/*
 * The verifier's answer.  Fields are filled as far as parsing got, so that a
 * failure can still be logged with its key id and region.  signing_key is set
 * (in secure memory) only for SIGV4_PAYLOAD_STREAMING_SIGNED on success; it,
 * seed_signature, amz_date and scope are what awschunked needs.  Release
 * with sigv4_auth_clear().
 */
struct sigv4_auth {
	enum sigv4_result result;
	const char *detail; /* static, human-readable, never NULL */
	bool presigned;
	char access_key[SIGV4_MAX_AKID + 1];
	char region[SIGV4_MAX_REGION + 1];
	char amz_date[SIGV4_AMZ_DATE_LEN + 1];
	char scope[SIGV4_MAX_SCOPE + 1];
	int64_t request_time; /* seconds since the epoch */
	int64_t expires_at;   /* presigned: last valid second; else 0 */
	enum sigv4_payload payload;
	uint8_t payload_sha256[32];   /* SIGV4_PAYLOAD_SHA256 */
	int64_t decoded_length;       /* streaming: x-amz-decoded-content-length, or -1 */
	uint8_t seed_signature[32];   /* the request's signature */
	uint8_t canonical_sha256[32]; /* hash of the canonical request, once computed */
	bool have_canonical;
	uint8_t *signing_key; /* 32 bytes of secure memory, or NULL */
};

/*
 * sigv4_verify(cfg, req, auth): authenticate req.  Fills *auth (always, also
 * on failure) and returns auth->result.  auth holds copies, no pointers into
 * req; release it with sigv4_auth_clear().  The checks run in this order, so
 * that the secret is looked up only for a well-formed, timely request:
 * request shape, mechanism, Authorization or X-Amz-* syntax, credential
 * scope and SignedHeaders, time (skew, expiry), payload form, unsigned
 * x-amz-* headers, absent signed headers, then the key lookup and the
 * signature.  A clock (req->now) outside 1970..9999 is SIGV4_INTERNAL_ERROR.
 */
enum sigv4_result sigv4_verify(const struct sigv4_config *cfg, const struct sigv4_request *req,
			       struct sigv4_auth *auth) __attribute__((warn_unused_result));

/* sigv4_auth_clear(auth): wipe and free the signing key and reset *auth.  NULL is a no-op. */
void sigv4_auth_clear(struct sigv4_auth *auth);

/* sigv4_result_code(r): the S3 error code ("SignatureDoesNotMatch", ...; "OK" for SIGV4_OK). */
const char *sigv4_result_code(enum sigv4_result r);

/* sigv4_result_status(r): the HTTP status S3 answers r with (200, 400, 403 or 500). */
int sigv4_result_status(enum sigv4_result r);

/*
 * What the signer needs beyond the request: the SignedHeaders list
 * ("host;x-amz-date", lowercase, ascending), the payload line of the
 * canonical request (a hex SHA-256 or one of the UNSIGNED/STREAMING
 * constants), the timestamp (SIGV4_AMZ_DATE_LEN chars) and the scope
 * ("YYYYMMDD/region/service/aws4_request").  None need NUL termination.
 */
struct sigv4_sign_params {
	const char *signed_headers;
	size_t signed_headers_len;
	const char *payload;
	size_t payload_len;
	const char *amz_date;
	const char *scope;
	size_t scope_len;
};

/*
 * sigv4_signing_key(secret, secret_len, date, region, service, out): the
 * HMAC-SHA-256 chain "AWS4"+secret -> date -> region -> service ->
 * "aws4_request".  date ("YYYYMMDD"), region and service are NUL-terminated.
 * out (32 bytes) is a secret: wipe it.  Returns 0, CS_EINVAL or CS_ECRYPTO.
 */
int sigv4_signing_key(const uint8_t *secret, size_t secret_len, const char *date,
		      const char *region, const char *service, uint8_t out[32])
	__attribute__((warn_unused_result));

/*
 * sigv4_canonical_request(req, p, out, outsz, outlen): write the canonical
 * request of req (NUL-terminated) to out and its length to *outlen.  Returns
 * 0; CS_EINVAL for a malformed target, query or SignedHeaders list; CS_ENOENT
 * when a signed header is absent; CS_ERANGE when out is too small (*outlen is
 * then the length needed) or the request exceeds the limits above.
 */
int sigv4_canonical_request(const struct sigv4_request *req, const struct sigv4_sign_params *p,
			    char *out, size_t outsz, size_t *outlen)
	__attribute__((warn_unused_result));

/*
 * sigv4_signature(req, p, key, sig): the 32-byte signature of req under the
 * signing key (from sigv4_signing_key()).  The verifier calls this very
 * function.  Returns 0 or the codes of sigv4_canonical_request(), or
 * CS_ECRYPTO.
 */
int sigv4_signature(const struct sigv4_request *req, const struct sigv4_sign_params *p,
		    const uint8_t key[32], uint8_t sig[32]) __attribute__((warn_unused_result));

/*
 * sigv4_chunk_signature(key, amz_date, scope, scope_len, prev, data_sha256,
 * sig): the signature of one aws-chunked chunk: HMAC(key,
 * "AWS4-HMAC-SHA256-PAYLOAD\n" amz_date "\n" scope "\n" hex(prev) "\n"
 * hex(SHA-256("")) "\n" hex(data_sha256)).  prev is the previous chunk's
 * signature, or the request's (seed) signature for the first chunk.
 * Returns 0, CS_EINVAL or CS_ECRYPTO.
 */
int sigv4_chunk_signature(const uint8_t key[32], const char *amz_date, const char *scope,
			  size_t scope_len, const uint8_t prev[32], const uint8_t data_sha256[32],
			  uint8_t sig[32]) __attribute__((warn_unused_result));

/*
 * sigv4_uri_encode(out, outsz, in, inlen, keep_slash): percent-encode inlen
 * bytes the AWS way (unreserved kept, all else %XX uppercase; '/' kept when
 * keep_slash, for paths).  Writes a NUL-terminated string and returns its
 * length, or CS_ERANGE if out (outsz bytes) is too small.
 */
long sigv4_uri_encode(char *out, size_t outsz, const void *in, size_t inlen, bool keep_slash)
	__attribute__((warn_unused_result));

/*
 * sigv4_amz_date(t, out): format t (seconds since the epoch, years
 * 1970..9999) as "YYYYMMDDTHHMMSSZ" plus NUL into out.  Returns 0 or
 * CS_ERANGE.
 */
int sigv4_amz_date(int64_t t, char out[SIGV4_AMZ_DATE_LEN + 1]) __attribute__((warn_unused_result));

#endif /* CS_SIGV4_H */
