/*
 * objio: reading and writing one stored object: the object format over the
 * store, with the keystore's level keys, computing the MD5 (for the ETag)
 * and, when asked, the SHA-256 of the plaintext as it streams through.
 *
 * A write is invisible until objio_commit(); a failure anywhere before that
 * leaves the old object (if any) untouched.
 */
#ifndef CS_OBJIO_H
#define CS_OBJIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "catalog.h"
#include "crypto/suite.h"
#include "objmeta.h"

struct store;
struct keystore;
struct engine;
struct md5_shared;
struct seal_shared;

/* What every object operation needs; owned by the caller. */
struct objio_ctx {
	struct store *st;
	struct keystore *ks;
	struct engine *e; /* this thread's engine */
	const struct suite_info *suite;
	uint32_t chunk;
	struct workq *q;          /* sealing workers for uploads; NULL: seal on this thread */
	struct md5_shared *md5;   /* MD5s hashed with other uploads'; NULL: OpenSSL's, alone */
	struct seal_shared *seal; /* last batches sealed with other uploads'; NULL: alone */
};

struct objio_rd;
struct objio_wr;

/*
 * objio_open(x, b, okey, out): open the object stored under okey in bucket
 * b.  Returns 0, CS_ENOENT (no such object), CS_EAUTH (it does not verify,
 * or its level key is gone: objio_key_destroyed() tells which), CS_EIO.
 */
int objio_open(const struct objio_ctx *x, const struct cat_bucket *b, const char *okey,
	       struct objio_rd **out) __attribute__((warn_unused_result));

/* objio_key_destroyed(x, b, okey): true if okey's object exists but was
 * sealed under a KEK version that the keystore has destroyed. */
bool objio_key_destroyed(const struct objio_ctx *x, const struct cat_bucket *b, const char *okey);

/*
 * objio_header_kek(x, b, okey, id, idsz, version): the KEK id and version
 * okey's header names (unverified, for scans and explanations).
 */
int objio_header_kek(const struct objio_ctx *x, const struct cat_bucket *b, const char *okey,
		     char *id, size_t idsz, uint32_t *version) __attribute__((warn_unused_result));

/*
 * objio_rewrap(x, b, okey, from): re-seal okey's DEK under the active KEK of
 * b's level, rewriting only its header, in place and crash-safe.  *from is
 * the version it was sealed under.  Returns 0 (rewrapped), 1 (already under
 * the active version), CS_EEXIST (replaced meanwhile: the new object is
 * current anyway), CS_EAUTH (does not open), CS_ENOENT, CS_EIO.
 */
int objio_rewrap(const struct objio_ctx *x, const struct cat_bucket *b, const char *okey,
		 uint32_t *from) __attribute__((warn_unused_result));

/*
 * objio_shred(x, b, okey): destroy okey's sealed DEK by overwriting it in
 * place with random bytes (durably); the object can never be opened again,
 * whatever keys survive.  The caller deletes it afterwards.
 */
int objio_shred(const struct objio_ctx *x, const struct cat_bucket *b, const char *okey)
	__attribute__((warn_unused_result));

/* Accessors of an open object. */
uint64_t objio_size(const struct objio_rd *r);
const struct objmeta *objio_meta(const struct objio_rd *r);
/* objio_etag(r, out): the quoted ETag, e.g. "\"9e10...\"" or "\"...-3\"". */
void objio_etag(const struct objio_rd *r, char out[CATALOG_ETAG_MAX + 1]);

/* objio_read(x, r, off, len, out, arg): verified plaintext [off, off+len). */
int objio_read(const struct objio_ctx *x, struct objio_rd *r, uint64_t off, uint64_t len,
	       int (*out)(void *arg, const uint8_t *data, size_t n), void *arg)
	__attribute__((warn_unused_result));

/* objio_readv(): objio_read() with one outv() call per batch of chunks. */
int objio_readv(const struct objio_ctx *x, struct objio_rd *r, uint64_t off, uint64_t len,
		int (*outv)(void *arg, const struct iovec *iov, int n), void *arg)
	__attribute__((warn_unused_result));
void objio_close(struct objio_rd *r);

/*
 * objio_create(x, b, okey, m, size_hint, want_sha256, out): start writing an
 * object with metadata m under the active KEK of b's level.  Returns 0,
 * CS_ENOENT (the level has no active key), CS_EINVAL (metadata too large),
 * CS_EIO (errno says why, e.g. ENOSPC), CS_ENOMEM.
 */
#define OBJIO_MD5    1u /* compute the plaintext's MD5 (the S3 ETag) */
#define OBJIO_SHA256 2u /* compute its SHA-256 */
int objio_create(const struct objio_ctx *x, const struct cat_bucket *b, const char *okey,
		 const struct objmeta *m, uint64_t size_hint, unsigned digests,
		 struct objio_wr **out) __attribute__((warn_unused_result));

/* objio_write(w, data, n): append plaintext. */
int objio_write(struct objio_wr *w, const void *data, size_t n) __attribute__((warn_unused_result));

/*
 * objio_space(w, iov, max): room for the next plaintext in the object's own
 * record buffers, for a caller that receives it there (no copy); as
 * format_writer_space(): only when more plaintext follows.  Returns the
 * number of iovecs filled (>= 1) or a negative error.
 * objio_advance(w, iov, niov, n): the first n bytes of those iovecs now hold
 * plaintext: digest them and accept them.
 */
int objio_space(struct objio_wr *w, struct iovec *iov, int max) __attribute__((warn_unused_result));
int objio_advance(struct objio_wr *w, const struct iovec *iov, int niov, size_t n)
	__attribute__((warn_unused_result));

/*
 * For an event loop that receives many uploads (server/evloop):
 * objio_set_notify(w, fn, arg): format_writer_set_notify() of w's writer:
 * objio_space() returns CS_EAGAIN instead of waiting for a sealing worker,
 * and fn(arg) says when to try again.  objio_md5_state(w): the MD5 lane
 * state objio_advance() updates through the shared combiner, or NULL (no MD5,
 * or hashed alone); a caller that hashes several uploads' pieces together
 * (md5_mb_update_many) updates it itself and then calls
 * objio_advance_hashed(), which is objio_advance() without that update.
 */
void objio_set_notify(struct objio_wr *w, void (*fn)(void *arg), void *arg);
struct md5_mb_state *objio_md5_state(struct objio_wr *w);
/* objio_serial_digests(w): objio_advance_hashed() itself hashes (OpenSSL's
 * MD5 without lanes, or a SHA-256): one chain per upload, which a loop serving
 * many uploads would run one after another on one core. */
bool objio_serial_digests(const struct objio_wr *w);
int objio_advance_hashed(struct objio_wr *w, const struct iovec *iov, int niov, size_t n)
	__attribute__((warn_unused_result));

/*
 * objio_finish(w, parts, md5_in, md5, sha256, len): seal the end of the
 * object.  The trailer's digest is md5_in when given (multipart: MD5 of the
 * parts' MD5s) else the MD5 of the plaintext; parts is 0 for a single PUT.
 * md5 and sha256 (may be NULL) receive the plaintext digests; len its size.
 */
int objio_finish(struct objio_wr *w, uint32_t parts, const uint8_t *md5_in, uint8_t md5[16],
		 uint8_t sha256[32], uint64_t *len) __attribute__((warn_unused_result));

/* objio_commit(w): make it durable and visible (replacing any old object)
 * and release w, on failure too. */
int objio_commit(struct objio_wr *w) __attribute__((warn_unused_result));

/* objio_abort(w): discard and release; NULL is a no-op. */
void objio_abort(struct objio_wr *w);

/* objio_etag_text(md5, parts, out): "\"<hex>\"" or "\"<hex>-<parts>\"". */
void objio_etag_text(const uint8_t md5[16], uint32_t parts, char out[CATALOG_ETAG_MAX + 1]);

#endif /* CS_OBJIO_H */
