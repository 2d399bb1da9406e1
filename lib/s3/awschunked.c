/*
 * awschunked: a byte-driven state machine over the aws-chunked framing.  See
 * awschunked.h for the format and for why data is released before its chunk
 * signature is checked.
 *
 * Invariants: lines (chunk-size lines and trailers) are collected into a
 * fixed buffer whose limit is checked before every byte is stored; data is
 * never copied, only hashed and passed on; total never exceeds
 * decoded_length when one was given, because every chunk size is checked
 * against what is left before its data is accepted; the signing key lives in
 * secure memory and is wiped by awschunked_free().
 */
#include "awschunked.h"
#include "sigv4.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/secmem.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

enum state {
	ST_LINE,    /* in a chunk-size line */
	ST_DATA,    /* in chunk data, remaining bytes to go */
	ST_DATA_CR, /* the CR after the data */
	ST_DATA_LF, /* the LF after the data */
	ST_TRAILER, /* in a trailer line (or the final blank line) */
	ST_DONE,
	ST_FAILED,
};

struct awschunked {
	enum awschunked_mode mode;
	uint64_t max_chunk;
	int64_t expect; /* decoded_length, or -1 */
	awschunked_data_fn on_data;
	awschunked_trailer_fn on_trailer;
	void *arg;
	uint8_t *key;     /* signing key, 32 bytes of secure memory (signed mode) */
	uint8_t prev[32]; /* the previous signature: the seed, then each chunk's */
	uint8_t sig[32];  /* the current chunk's claimed signature */
	char amz_date[SIGV4_AMZ_DATE_LEN];
	char scope[SIGV4_MAX_SCOPE];
	size_t scope_len;
	EVP_MD_CTX *md; /* SHA-256 of the current chunk's data (signed mode) */
	enum state st;
	int err;
	const char *why;
	char line[AWSCHUNKED_MAX_TRAILER_LINE];
	size_t line_len;
	bool cr; /* the line so far ended with CR */
	uint64_t remaining, total;
	unsigned ntrailers;
};

static const char why_none[] = "";

static int
fail(struct awschunked *d, int err, const char *why)
{
	d->st = ST_FAILED;
	d->err = err;
	d->why = why;
	return err;
}

static bool
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* verify_chunk(d): the data hash so far against the chunk's claimed signature. */
static int
verify_chunk(struct awschunked *d)
{
	uint8_t h[32], mine[32];
	int rc;

	if (EVP_DigestFinal_ex(d->md, h, NULL) != 1)
		return fail(d, CS_ECRYPTO, "SHA-256 failed");
	rc = sigv4_chunk_signature(d->key, d->amz_date, d->scope, d->scope_len, d->prev, h, mine);
	if (rc != 0)
		return fail(d, rc, "chunk signing failed");
	if (!secmem_eq(mine, d->sig, sizeof(mine)))
		return fail(d, CS_EAUTH, "chunk signature does not match");
	memcpy(d->prev, d->sig, sizeof(d->prev));
	return 0;
}

/* size_line(d): act on a complete chunk-size line. */
static int
size_line(struct awschunked *d)
{
	static const char ext[] = ";chunk-signature=";
	const size_t extlen = sizeof(ext) - 1;
	const char *l = d->line;
	size_t n = d->line_len, i = 0;
	uint64_t size = 0;

	/* max_chunk <= 2^30, so size stays below 2^35 until it is refused. */
	for (; i < n && hex_value((unsigned char)l[i]) >= 0; i++) {
		size = size * 16 + (uint64_t)hex_value((unsigned char)l[i]);
		if (size > d->max_chunk)
			return fail(d, CS_ERANGE, "chunk larger than the limit");
	}
	if (i == 0)
		return fail(d, CS_EINVAL, "chunk size missing");
	if (d->mode == AWSCHUNKED_SIGNED) {
		if (n - i != extlen + 64 || memcmp(l + i, ext, extlen) != 0 ||
		    hex_decode(d->sig, sizeof(d->sig), l + i + extlen, 64) != 32)
			return fail(d, CS_EINVAL, "chunk-signature missing or malformed");
		if (EVP_DigestInit_ex(d->md, EVP_sha256(), NULL) != 1)
			return fail(d, CS_ECRYPTO, "SHA-256 failed");
	} else if (i != n) {
		return fail(d, CS_EINVAL, "unexpected chunk extension");
	}
	if (d->expect >= 0 && size > (uint64_t)d->expect - d->total)
		return fail(d, CS_ERANGE, "more data than x-amz-decoded-content-length");
	if (size > 0) {
		d->remaining = size;
		d->st = ST_DATA;
		return 0;
	}
	d->st = ST_TRAILER;
	return d->mode == AWSCHUNKED_SIGNED ? verify_chunk(d) : 0;
}

/* trailer_line(d): act on a complete trailer line, or the final blank line. */
static int
trailer_line(struct awschunked *d)
{
	char *l = d->line;
	size_t n = d->line_len, name_len, vs, ve;
	const char *colon;
	int rc;

	if (n == 0) {
		if (d->expect >= 0 && d->total != (uint64_t)d->expect)
			return fail(d, CS_ERANGE, "less data than x-amz-decoded-content-length");
		d->st = ST_DONE;
		return 0;
	}
	if (d->mode == AWSCHUNKED_SIGNED)
		return fail(d, CS_EINVAL, "trailer in a signed stream");
	if (++d->ntrailers > AWSCHUNKED_MAX_TRAILERS)
		return fail(d, CS_EINVAL, "too many trailers");
	colon = memchr(l, ':', n);
	if (colon == NULL || colon == l)
		return fail(d, CS_EINVAL, "malformed trailer");
	name_len = (size_t)(colon - l);
	for (size_t i = 0; i < name_len; i++) {
		unsigned char c = (unsigned char)l[i];

		if (!is_tchar(c))
			return fail(d, CS_EINVAL, "malformed trailer name");
		if (c >= 'A' && c <= 'Z')
			l[i] = (char)(c - 'A' + 'a');
	}
	vs = name_len + 1;
	ve = n;
	while (vs < ve && (l[vs] == ' ' || l[vs] == '\t'))
		vs++;
	while (ve > vs && (l[ve - 1] == ' ' || l[ve - 1] == '\t'))
		ve--;
	for (size_t i = vs; i < ve; i++) {
		unsigned char c = (unsigned char)l[i];

		if ((c < 0x21 || c > 0x7e) && c != ' ' && c != '\t')
			return fail(d, CS_EINVAL, "malformed trailer value");
	}
	if (d->on_trailer == NULL)
		return 0;
	rc = d->on_trailer(d->arg, l, name_len, l + vs, ve - vs);
	if (rc != 0)
		return fail(d, rc < 0 ? rc : CS_EINVAL, "the trailer callback failed");
	return 0;
}

/* line_byte(d, c): one byte of a chunk-size or trailer line. */
static int
line_byte(struct awschunked *d, unsigned char c)
{
	size_t limit = d->st == ST_LINE ? AWSCHUNKED_MAX_LINE : AWSCHUNKED_MAX_TRAILER_LINE;
	int rc;

	if (d->cr) {
		if (c != '\n')
			return fail(d, CS_EINVAL, "CR without LF");
		rc = d->st == ST_LINE ? size_line(d) : trailer_line(d);
		d->line_len = 0;
		d->cr = false;
		return rc;
	}
	if (c == '\r') {
		d->cr = true;
		return 0;
	}
	if (c == '\n')
		return fail(d, CS_EINVAL, "LF without CR");
	if (d->line_len >= limit)
		return fail(d, CS_EINVAL, "line too long");
	d->line[d->line_len++] = (char)c;
	return 0;
}

/* data_bytes(d, p, n): up to n bytes of chunk data; returns how many it took or an error. */
static long
data_bytes(struct awschunked *d, const uint8_t *p, size_t n)
{
	size_t take = n < d->remaining ? n : (size_t)d->remaining;
	int rc;

	if (d->mode == AWSCHUNKED_SIGNED && EVP_DigestUpdate(d->md, p, take) != 1)
		return fail(d, CS_ECRYPTO, "SHA-256 failed");
	d->remaining -= take;
	d->total += take;
	if (d->on_data != NULL && (rc = d->on_data(d->arg, p, take)) != 0)
		return fail(d, rc < 0 ? rc : CS_EINVAL, "the data callback failed");
	if (d->remaining == 0) {
		d->st = ST_DATA_CR;
		if (d->mode == AWSCHUNKED_SIGNED && (rc = verify_chunk(d)) != 0)
			return rc;
	}
	return (long)take;
}

int
awschunked_feed(struct awschunked *d, const void *p, size_t n)
{
	const uint8_t *b = p;
	long took;
	int rc;

	if (d == NULL || (b == NULL && n > 0))
		return CS_EINVAL;
	while (n > 0) {
		switch (d->st) {
		case ST_LINE:
		case ST_TRAILER:
			rc = line_byte(d, *b);
			b++;
			n--;
			if (rc != 0)
				return rc;
			break;
		case ST_DATA:
			if ((took = data_bytes(d, b, n)) < 0)
				return (int)took;
			b += took;
			n -= (size_t)took;
			break;
		case ST_DATA_CR:
		case ST_DATA_LF:
			if (*b != (d->st == ST_DATA_CR ? '\r' : '\n'))
				return fail(d, CS_EINVAL, "chunk data not followed by CRLF");
			d->st = d->st == ST_DATA_CR ? ST_DATA_LF : ST_LINE;
			b++;
			n--;
			break;
		case ST_DONE:
			return fail(d, CS_EINVAL, "data after the end of the body");
		case ST_FAILED:
		default:
			return d->err;
		}
	}
	return d->st == ST_FAILED ? d->err : 0;
}

int
awschunked_finish(struct awschunked *d)
{
	if (d == NULL)
		return CS_EINVAL;
	switch (d->st) {
	case ST_DONE:
		return 0;
	case ST_FAILED:
		return d->err;
	default:
		return fail(d, CS_EINVAL, "the body ended before the final chunk");
	}
}

bool
awschunked_done(const struct awschunked *d)
{
	return d != NULL && d->st == ST_DONE;
}

uint64_t
awschunked_decoded(const struct awschunked *d)
{
	return d != NULL ? d->total : 0;
}

const char *
awschunked_why(const struct awschunked *d)
{
	return d != NULL && d->why != NULL ? d->why : why_none;
}

int
awschunked_new(const struct awschunked_config *cfg, struct awschunked **out)
{
	struct awschunked *d;
	size_t scope_len = 0;

	if (out == NULL)
		return CS_EINVAL;
	*out = NULL;
	if (cfg == NULL || cfg->max_chunk > AWSCHUNKED_LIMIT_MAX_CHUNK || cfg->decoded_length < -1)
		return CS_EINVAL;
	switch (cfg->mode) {
	case AWSCHUNKED_SIGNED:
		if (cfg->signing_key == NULL || cfg->seed_signature == NULL ||
		    cfg->amz_date == NULL || cfg->scope == NULL ||
		    strnlen(cfg->amz_date, SIGV4_AMZ_DATE_LEN + 1) != SIGV4_AMZ_DATE_LEN)
			return CS_EINVAL;
		scope_len = strnlen(cfg->scope, SIGV4_MAX_SCOPE + 1);
		if (scope_len == 0 || scope_len > SIGV4_MAX_SCOPE)
			return CS_EINVAL;
		break;
	case AWSCHUNKED_UNSIGNED_TRAILER:
		break;
	default:
		return CS_EINVAL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return CS_ENOMEM;
	d->mode = cfg->mode;
	d->max_chunk = cfg->max_chunk != 0 ? cfg->max_chunk : AWSCHUNKED_DEFAULT_MAX_CHUNK;
	d->expect = cfg->decoded_length;
	d->on_data = cfg->on_data;
	d->on_trailer = cfg->on_trailer;
	d->arg = cfg->arg;
	d->st = ST_LINE;
	d->why = why_none;
	if (cfg->mode == AWSCHUNKED_SIGNED) {
		if ((d->key = secmem_alloc(32)) == NULL)
			goto err1;
		if ((d->md = EVP_MD_CTX_new()) == NULL)
			goto err1;
		memcpy(d->key, cfg->signing_key, 32);
		memcpy(d->prev, cfg->seed_signature, sizeof(d->prev));
		memcpy(d->amz_date, cfg->amz_date, SIGV4_AMZ_DATE_LEN);
		memcpy(d->scope, cfg->scope, scope_len);
		d->scope_len = scope_len;
	}
	*out = d;
	return 0;

err1:
	awschunked_free(d);
	return CS_ENOMEM;
}

void
awschunked_free(struct awschunked *d)
{
	if (d == NULL)
		return;
	secmem_free(d->key, 32);
	EVP_MD_CTX_free(d->md);
	secmem_wipe(d, sizeof(*d));
	free(d);
}
