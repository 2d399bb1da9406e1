/*
 * format: the encrypted object container, version 1 (docs/FORMAT.md has the
 * byte-by-byte description; this header is the programming interface).
 *
 *   header   magic, version, suite, chunk size, object id, KEK id+version,
 *            label, bucket, the sealed DEK, the sealed metadata record, and
 *            an HMAC over all of it
 *   chunks   record i at header_len + i * stride: iv | ciphertext | tag;
 *            every chunk but the last holds exactly chunk_size bytes of
 *            plaintext, so any chunk's offset is computable and chunks can
 *            be sealed in parallel and written out of order
 *   trailer  plaintext length, chunk count, a 16-byte caller digest and a
 *            32-bit caller value (the server's MD5 ETag and part count, known
 *            only when the body has ended), with an HMAC
 *
 * Each chunk's AAD binds the object id, the chunk index and a final-chunk
 * flag; the trailer and the stored size bind the count.  So reordering,
 * duplication, dropping, truncation and splicing from another object all
 * fail to verify.  Every failure to open or read an object is the one code
 * CS_EAUTH, including a KEK the key source does not have (the reference to
 * it is not authentic until the header verifies); format_peek_kek() lets a
 * caller explain such a failure, e.g. as a destroyed level key.
 *
 * Two layers:
 *   - format_obj: an object's identity, keys and geometry, and the AAD of
 *     each record; the caller moves the bytes and drives an engine.  This is
 *     what a server batching records across connections uses.
 *   - format_writer / format_read: streaming helpers on top, with a
 *     positional sink/source (pwritev/preadv-shaped callbacks).
 */
#ifndef CS_FORMAT_H
#define CS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "crypto/engine.h"
#include "crypto/suite.h"

#define FORMAT_VERSION       1
#define FORMAT_AAD_LEN       32 /* bytes of AAD in front of every record */
#define FORMAT_PREFIX_LEN    16 /* enough of a header to learn its length */
#define FORMAT_TRAILER_LEN   80
#define FORMAT_DIGEST_LEN    16    /* a caller digest kept in the trailer (e.g. MD5) */
#define FORMAT_HEADER_MAX    65536 /* no header is longer */
#define FORMAT_META_MAX      16384 /* plaintext metadata limit */
#define FORMAT_STR_MAX       4096  /* label, bucket, KEK id */
#define FORMAT_CHUNK_MIN     16
#define FORMAT_CHUNK_MAX     ENGINE_MAX_TEXT
#define FORMAT_CHUNK_DEFAULT 32768 /* see docs/FORMAT.md for why */
#define FORMAT_DEK_LEN       32
#define FORMAT_OBJID_LEN     16
#define FORMAT_ALIGN_MIN     512
#define FORMAT_ALIGN_MAX     4096

/* A key-encryption key: the level's key that seals object DEKs. */
struct format_kek {
	const char *id;     /* the key's name, e.g. the level label */
	uint32_t version;   /* its version */
	const uint8_t *key; /* 32 bytes */
};

/*
 * The KEK source used when opening an object: copy the 32-byte key named
 * (id, version) into key (secure memory, 32 bytes).  Return 0, or CS_ENOENT
 * if that key does not exist (destroyed, or never existed); format_open()
 * then fails with CS_EAUTH.
 */
typedef int (*format_kek_fn)(void *arg, const char *id, uint32_t version, uint8_t key[32]);

/* What a new object will be. */
struct format_params {
	const struct suite_info *suite; /* NULL: the default suite */
	uint32_t chunk_size;            /* 0: FORMAT_CHUNK_DEFAULT */
	const char *label;              /* canonical label text of the bucket */
	const char *bucket;
	struct format_kek kek;
	const uint8_t *meta; /* opaque metadata (object name, user metadata, ...) */
	size_t meta_len;     /* <= FORMAT_META_MAX */
	/*
	 * For writes that bypass the page cache (O_DIRECT): 0, or a power of
	 * two from FORMAT_ALIGN_MIN to FORMAT_ALIGN_MAX.  When the suite allows
	 * it (CBC: iv + tag = 48 bytes, a multiple of 16), the chunk becomes the
	 * largest multiple of 16 not above chunk_size whose stride is a multiple
	 * of align (32,720 at the default), the header is padded to a multiple
	 * of align, and the writer's buffers put every full record at an
	 * aligned address: each full batch then reaches the sink as aligned
	 * iovecs at an aligned offset.  GCM (iv + tag = 28) cannot have such a
	 * stride: its objects are written as with 0.
	 */
	uint32_t align;
};

/* What an object being opened must be. */
struct format_expect {
	const char *label;  /* NULL: not checked */
	const char *bucket; /* NULL: not checked */
};

struct format_obj;

/*
 * format_create(out, p, e): make a new object: random object id and DEK, the
 * DEK sealed under p->kek, the metadata sealed with engine e, and the
 * complete header.  Returns 0, CS_EINVAL (a parameter out of range),
 * CS_ENOMEM or CS_ECRYPTO.  Free with format_free().
 */
int format_create(struct format_obj **out, const struct format_params *p, struct engine *e)
	__attribute__((warn_unused_result));

/*
 * format_header_len(prefix, n, hlen): read the total header length from the
 * first n (>= FORMAT_PREFIX_LEN) stored bytes.  Returns 0, or CS_EAUTH if
 * they are not a version-1 header of a sane length.
 */
int format_header_len(const uint8_t *prefix, size_t n, size_t *hlen)
	__attribute__((warn_unused_result));

/*
 * format_open(out, hdr, hlen, trailer, stored_size, exp, kek, arg, e): open
 * a stored object from its header bytes, its FORMAT_TRAILER_LEN trailer
 * bytes and its total stored size.  Verifies the header MAC, the expected
 * label and bucket, the metadata record, the trailer MAC and that the
 * stored size matches the geometry.  Returns 0, CS_EAUTH for any damage,
 * mismatch or unavailable KEK, or CS_ENOMEM.
 */
int format_open(struct format_obj **out, const uint8_t *hdr, size_t hlen,
		const uint8_t trailer[FORMAT_TRAILER_LEN], uint64_t stored_size,
		const struct format_expect *exp, format_kek_fn kek, void *arg, struct engine *e)
	__attribute__((warn_unused_result));

/*
 * format_peek_kek(hdr, hlen, id, idsz, version): the KEK id and version a
 * header names, WITHOUT verifying anything: only for explaining a failed
 * format_open() (e.g. "sealed under s2 version 3, which was destroyed").
 * Returns 0, CS_EAUTH if the header is malformed, CS_ERANGE if idsz is too
 * small.
 */
int format_peek_kek(const uint8_t *hdr, size_t hlen, char *id, size_t idsz, uint32_t *version)
	__attribute__((warn_unused_result));

/*
 * format_rewrap(o, kek): re-seal o's DEK under another version of the same
 * KEK (kek->id must be o's KEK id) and recompute the header MAC.  The new
 * header (format_header()) has the same length as the old one, and the
 * chunks and the trailer stay valid: it can be written over the old header
 * in place.  Returns 0, CS_EINVAL or CS_ECRYPTO.
 */
int format_rewrap(struct format_obj *o, const struct format_kek *kek)
	__attribute__((warn_unused_result));

/*
 * format_dek_span(hdr, hlen, off, len): where the sealed DEK lies in a
 * header, WITHOUT verifying anything: for destroying one object's key by
 * overwriting those bytes (object shred), which needs no key.  Returns 0 or
 * CS_EAUTH if the header is malformed.
 */
int format_dek_span(const uint8_t *hdr, size_t hlen, size_t *off, size_t *len)
	__attribute__((warn_unused_result));

/* format_free(o): wipe the object's keys and release it; NULL is a no-op. */
void format_free(struct format_obj *o);

/* Accessors.  Strings and buffers are owned by the object. */
const uint8_t *format_header(const struct format_obj *o, size_t *len);
const struct suite_info *format_suite(const struct format_obj *o);
uint32_t format_chunk_size(const struct format_obj *o);
const uint8_t *format_object_id(const struct format_obj *o);
const char *format_label(const struct format_obj *o);
const char *format_bucket(const struct format_obj *o);
const char *format_kek_id(const struct format_obj *o);
uint32_t format_kek_version(const struct format_obj *o);
const uint8_t *format_meta(const struct format_obj *o, size_t *len);
/* Opened objects only: plaintext length and chunk count from the trailer. */
uint64_t format_length(const struct format_obj *o);
uint64_t format_nchunks(const struct format_obj *o);

/* format_align(o): the alignment o's writer keeps (0: none; see format_params). */
uint32_t format_align(const struct format_obj *o);

/* format_stride(o): stored bytes of every non-final chunk. */
size_t format_stride(const struct format_obj *o);

/* format_chunk_offset(o, i): where chunk i starts in the stored object. */
uint64_t format_chunk_offset(const struct format_obj *o, uint64_t i);

/* format_chunk_count(o, len): chunks of an object of len plaintext bytes (>= 1). */
uint64_t format_chunk_count(const struct format_obj *o, uint64_t len);

/* format_stored_size(o, len): stored bytes of an object of len plaintext bytes. */
uint64_t format_stored_size(const struct format_obj *o, uint64_t len);

/* format_rec_size(o): bytes a record buffer needs (AAD, IV, a full chunk,
 * padding and tag), rounded up to 64. */
size_t format_rec_size(const struct format_obj *o);

/*
 * format_rec_init(o, r, buf, index, final, len): prepare r to seal or open
 * chunk index of o in buf (format_rec_size(o) bytes): writes the AAD and
 * sets r's fields.  Sealing: put len plaintext bytes at
 * format_rec_text(o, buf) first.  Opening: put the stored record at
 * buf + FORMAT_AAD_LEN and pass len = stored length - iv - tag.
 */
void format_rec_init(const struct format_obj *o, struct engine_rec *r, uint8_t *buf, uint64_t index,
		     bool final, size_t len);

/* format_rec_text(o, buf): where a record's text starts in buf. */
uint8_t *format_rec_text(const struct format_obj *o, uint8_t *buf);

/* format_rec_stored(o, r): stored length of a sealed record r. */
size_t format_rec_stored(const struct format_obj *o, const struct engine_rec *r);

/*
 * format_trailer(o, len, digest, aux, out): the trailer of o holding len
 * plaintext bytes, with the caller's digest (FORMAT_DIGEST_LEN bytes, or
 * NULL for zeros) and aux value.
 */
void format_trailer(const struct format_obj *o, uint64_t len, const uint8_t *digest, uint32_t aux,
		    uint8_t out[FORMAT_TRAILER_LEN]);

/* format_digest(o, aux): an opened object's trailer digest and aux value. */
const uint8_t *format_digest(const struct format_obj *o, uint32_t *aux);

/* Positional I/O for the streaming helpers: like pwritev/preadv.  Return 0
 * (sink) or the bytes read (source, which must fill the iovecs unless the
 * object is shorter), or a negative CS_E* code. */
typedef int (*format_sink_fn)(void *arg, uint64_t off, const struct iovec *iov, int iovcnt);
typedef long (*format_source_fn)(void *arg, uint64_t off, const struct iovec *iov, int iovcnt);

/*
 * format_writer: stream plaintext into a new object.  Records are sealed
 * in batches of FORMAT_BATCH through one engine call and handed to the
 * sink in order, one sink call per batch.
 */
#define FORMAT_BATCH 16
struct format_writer;
struct workq;
struct seal_shared;

/* format_writer_new(out, o, e, sink, arg): a writer for the new object o
 * (not taken over); writes the header through the sink at once. */
int format_writer_new(struct format_writer **out, struct format_obj *o, struct engine *e,
		      format_sink_fn sink, void *arg) __attribute__((warn_unused_result));

/*
 * format_writer_new_async(out, o, e, sink, arg, q): the same, but full
 * batches are sealed and sunk by q's workers (each with its own engine as
 * its context) while the caller goes on filling the next batch; at most
 * two batches are in flight, so the caller waits when it gets ahead.  The
 * sink is then called from several threads at once, at distinct offsets.
 * Errors of a worker come back from the next write or finish.
 */
int format_writer_new_async(struct format_writer **out, struct format_obj *o, struct engine *e,
			    format_sink_fn sink, void *arg, struct workq *q)
	__attribute__((warn_unused_result));

/* format_writer_write(w, data, len): append plaintext. */
int format_writer_write(struct format_writer *w, const void *data, size_t len)
	__attribute__((warn_unused_result));

/*
 * format_writer_space(w, iov, max): where the next plaintext goes, for a
 * caller that produces it in place (receives a body straight into the
 * records) instead of handing it to format_writer_write().  Fills up to max
 * iovecs with the free text of the current batch's records, in order, and
 * returns how many (>= 1) or a negative error.  Call it only when at least
 * one more byte of plaintext follows: a full chunk is sealed as not the last
 * on the strength of it.  Then format_writer_advance(w, n) accepts the first
 * n bytes placed there (n at most the space given); nothing else may be
 * called on w in between.  The two may be mixed with format_writer_write().
 */
int format_writer_space(struct format_writer *w, struct iovec *iov, int max)
	__attribute__((warn_unused_result));
int format_writer_advance(struct format_writer *w, size_t n) __attribute__((warn_unused_result));

/*
 * format_writer_set_notify(w, fn, arg): for an event loop that must not
 * block.  While fn is set, format_writer_space() of an async writer does not
 * wait for a slot the workers still hold: it returns CS_EAGAIN, nothing
 * taken, and fn(arg) is called whenever a worker gives a slot back (on the
 * worker's thread, with w's lock held: fn must not call into w; waking a
 * loop is what it is for); format_writer_write() then fails with CS_EINVAL.
 * fn = NULL: wait again, as by default; once this returns, fn is not called
 * any more.
 */
void format_writer_set_notify(struct format_writer *w, void (*fn)(void *arg), void *arg);

/*
 * format_writer_set_combiner(w, ss): seal the last batch (the one
 * format_writer_finish() seals on the caller's thread: all of a small
 * object) through ss, together with other threads' small seals; NULL: alone.
 */
void format_writer_set_combiner(struct format_writer *w, struct seal_shared *ss);

/* format_writer_finish(w, digest, aux, total): seal the last chunk and write
 * the trailer with digest (or NULL) and aux; total (may be NULL) receives the
 * plaintext length. */
int format_writer_finish(struct format_writer *w, const uint8_t *digest, uint32_t aux,
			 uint64_t *total) __attribute__((warn_unused_result));

/* format_writer_free(w): release w (wiping its buffers); NULL is a no-op. */
void format_writer_free(struct format_writer *w);

/*
 * format_read(o, e, source, sarg, off, len, out, oarg): verify and decrypt
 * plaintext bytes [off, off+len) of the opened object o, reading records
 * through source and passing plaintext to out in order.  A chunk's
 * plaintext is passed on only after that chunk verified.  Returns 0,
 * CS_ERANGE if the range is outside the object, CS_EAUTH if any chunk fails,
 * or the first error of source or out.
 */
typedef int (*format_out_fn)(void *arg, const uint8_t *data, size_t len);
int format_read(struct format_obj *o, struct engine *e, format_source_fn source, void *sarg,
		uint64_t off, uint64_t len, format_out_fn out, void *oarg)
	__attribute__((warn_unused_result));

/*
 * format_read_async(..., q): format_read(), with the next batch read and
 * opened by q's workers (each with its own engine as its context) while
 * out() runs for the current one on the caller's thread; out() still sees
 * the plaintext strictly in order and only after it verified.  The source
 * is then called from other threads (at distinct offsets).
 */
int format_read_async(struct format_obj *o, struct engine *e, format_source_fn source, void *sarg,
		      uint64_t off, uint64_t len, format_out_fn out, void *oarg, struct workq *q)
	__attribute__((warn_unused_result));

/*
 * format_read_v(..., outv, oarg, q): the same with one outv() call per batch
 * (an iovec per chunk piece, up to FORMAT_BATCH), so that a caller sending
 * to a socket makes one sendmsg per batch instead of one send per chunk.
 */
typedef int (*format_outv_fn)(void *arg, const struct iovec *iov, int n);
int format_read_v(struct format_obj *o, struct engine *e, format_source_fn source, void *sarg,
		  uint64_t off, uint64_t len, format_outv_fn outv, void *oarg, struct workq *q)
	__attribute__((warn_unused_result));

#endif /* CS_FORMAT_H */
