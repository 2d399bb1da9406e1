/*
 * objio: one object through format + store + keystore.
 */
#include "objio.h"
#include "crypto/md5_shared.h"
#include "format/format.h"
#include "keystore/keystore.h"
#include "store/store.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/secmem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

struct objio_rd {
	struct store_rd *rd;
	struct format_obj *fo;
	struct objmeta meta;
};

struct objio_wr {
	struct store_wr *sw;
	struct format_obj *fo;
	struct format_writer *fw;
	EVP_MD_CTX *md5, *sha;
	/* Instead of md5, with a combiner: the state it updates. */
	struct md5_shared *md5c;
	struct md5_mb_state *md5s;
	uint64_t size;
	/* errno of the first failed store write.  Sealing workers write, and
	 * errno is per thread: the caller gets it back from here (ENOSPC must
	 * stay ENOSPC). */
	int sink_errno;
};

static long
rd_source(void *arg, uint64_t off, const struct iovec *iov, int n)
{
	return store_rd_read(arg, off, iov, n);
}

static int
wr_sink(void *arg, uint64_t off, const struct iovec *iov, int n)
{
	struct objio_wr *w = arg;
	int rc = store_wr_write(w->sw, off, iov, n), none = 0;

	if (rc != 0)
		(void)__atomic_compare_exchange_n(&w->sink_errno, &none, errno != 0 ? errno : EIO,
						  false, __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	return rc;
}

/* wr_errno: a failed write's result, with the errno of the failed store
 * write (which may have happened on a sealing worker). */
static int
wr_errno(struct objio_wr *w, int rc)
{
	int e = __atomic_load_n(&w->sink_errno, __ATOMIC_RELAXED);

	if (rc != 0 && e != 0)
		errno = e;
	return rc;
}

/* objio_load: read header and trailer of an open store object and open it. */
static int
objio_load(const struct objio_ctx *x, const struct cat_bucket *b, struct store_rd *rd,
	   struct format_obj **fo)
{
	struct format_expect exp = {b->label_text, b->name};
	uint8_t prefix[FORMAT_PREFIX_LEN], trailer[FORMAT_TRAILER_LEN], *hdr;
	uint64_t size = store_rd_size(rd);
	struct iovec iov;
	size_t hlen;
	int rc;

	if (size < FORMAT_PREFIX_LEN + FORMAT_TRAILER_LEN)
		return CS_EAUTH;
	iov.iov_base = prefix;
	iov.iov_len = sizeof(prefix);
	if (store_rd_read(rd, 0, &iov, 1) != (long)sizeof(prefix))
		return CS_EIO;
	if ((rc = format_header_len(prefix, sizeof(prefix), &hlen)) != 0)
		return rc;
	if (hlen > size - FORMAT_TRAILER_LEN)
		return CS_EAUTH;
	if ((hdr = malloc(hlen)) == NULL)
		return CS_ENOMEM;
	iov.iov_base = hdr;
	iov.iov_len = hlen;
	if (store_rd_read(rd, 0, &iov, 1) != (long)hlen) {
		free(hdr);
		return CS_EIO;
	}
	iov.iov_base = trailer;
	iov.iov_len = sizeof(trailer);
	if (store_rd_read(rd, size - FORMAT_TRAILER_LEN, &iov, 1) != (long)sizeof(trailer)) {
		free(hdr);
		return CS_EIO;
	}
	rc = format_open(fo, hdr, hlen, trailer, size, &exp, keystore_kek, x->ks, x->e);
	free(hdr);
	return rc;
}

int
objio_open(const struct objio_ctx *x, const struct cat_bucket *b, const char *okey,
	   struct objio_rd **out)
{
	struct objio_rd *r;
	const uint8_t *m;
	size_t mlen;
	int rc;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return CS_ENOMEM;
	if ((rc = store_get(x->st, b->space, okey, &r->rd)) != 0)
		goto err;
	if ((rc = objio_load(x, b, r->rd, &r->fo)) != 0)
		goto err;
	m = format_meta(r->fo, &mlen);
	if (objmeta_decode(m, mlen, &r->meta) != 0) {
		rc = CS_EAUTH;
		goto err;
	}
	*out = r;
	return 0;
err:
	objio_close(r);
	return rc;
}

/* objio_head: the header bytes of okey, unverified (malloc'ed). */
static int
objio_head(const struct objio_ctx *x, const struct cat_bucket *b, const char *okey, uint8_t **hdr,
	   size_t *hlen)
{
	uint8_t prefix[FORMAT_PREFIX_LEN];
	struct store_rd *rd = NULL;
	struct iovec iov = {prefix, sizeof(prefix)};
	int rc;

	*hdr = NULL;
	if ((rc = store_get(x->st, b->space, okey, &rd)) != 0)
		return rc;
	rc = CS_EAUTH;
	if (store_rd_read(rd, 0, &iov, 1) == (long)sizeof(prefix) &&
	    format_header_len(prefix, sizeof(prefix), hlen) == 0 && *hlen <= store_rd_size(rd)) {
		rc = CS_ENOMEM;
		if ((*hdr = malloc(*hlen)) != NULL) {
			iov.iov_base = *hdr;
			iov.iov_len = *hlen;
			rc = store_rd_read(rd, 0, &iov, 1) == (long)*hlen ? 0 : CS_EIO;
		}
	}
	store_rd_close(rd);
	if (rc != 0) {
		free(*hdr);
		*hdr = NULL;
	}
	return rc;
}

int
objio_header_kek(const struct objio_ctx *x, const struct cat_bucket *b, const char *okey, char *id,
		 size_t idsz, uint32_t *version)
{
	uint8_t *hdr;
	size_t hlen;
	int rc;

	if ((rc = objio_head(x, b, okey, &hdr, &hlen)) != 0)
		return rc;
	rc = format_peek_kek(hdr, hlen, id, idsz, version);
	free(hdr);
	return rc;
}

bool
objio_key_destroyed(const struct objio_ctx *x, const struct cat_bucket *b, const char *okey)
{
	char id[FORMAT_STR_MAX + 1];
	uint32_t version;

	if (objio_header_kek(x, b, okey, id, sizeof(id), &version) != 0)
		return false;
	return keystore_kek_state(x->ks, id, version) == KEYSTORE_DESTROYED ||
	       (strcmp(id, b->label_text) == 0 && !keystore_level_exists(x->ks, id) &&
		keystore_kek_state(x->ks, id, version) == 0);
}

int
objio_rewrap(const struct objio_ctx *x, const struct cat_bucket *b, const char *okey,
	     uint32_t *from)
{
	struct format_kek k = {b->label_text, 0, NULL};
	struct store_rd *rd = NULL;
	struct format_obj *fo = NULL;
	const uint8_t *h;
	uint8_t *kek = NULL;
	size_t hlen;
	int rc;

	*from = 0;
	if ((kek = secmem_alloc(KEYSTORE_KEY_LEN)) == NULL)
		return CS_ENOMEM;
	if ((rc = keystore_active(x->ks, b->label_text, &k.version, kek)) != 0)
		goto out;
	k.key = kek;
	if ((rc = store_get(x->st, b->space, okey, &rd)) != 0 ||
	    (rc = objio_load(x, b, rd, &fo)) != 0)
		goto out;
	*from = format_kek_version(fo);
	if (*from == k.version) {
		rc = 1; /* already current */
		goto out;
	}
	if ((rc = format_rewrap(fo, &k)) != 0)
		goto out;
	h = format_header(fo, &hlen);
	/* In place, only if the stored object is still this one (same id). */
	rc = store_rewrite(x->st, b->space, okey, 0, h, hlen, 24, format_object_id(fo),
			   FORMAT_OBJID_LEN);
out:
	format_free(fo);
	store_rd_close(rd);
	secmem_free(kek, KEYSTORE_KEY_LEN);
	return rc;
}

int
objio_shred(const struct objio_ctx *x, const struct cat_bucket *b, const char *okey)
{
	uint8_t *hdr, rnd[64];
	size_t hlen, off, n;
	int rc;

	if ((rc = objio_head(x, b, okey, &hdr, &hlen)) != 0)
		return rc;
	if ((rc = format_dek_span(hdr, hlen, &off, &n)) == 0 && n <= sizeof(rnd)) {
		rc = RAND_bytes(rnd, (int)n) == 1 ? 0 : CS_ECRYPTO;
		if (rc == 0)
			rc = store_rewrite(x->st, b->space, okey, off, rnd, n, 24, hdr + 24,
					   FORMAT_OBJID_LEN);
	}
	free(hdr);
	return rc;
}

uint64_t
objio_size(const struct objio_rd *r)
{
	return format_length(r->fo);
}

const struct objmeta *
objio_meta(const struct objio_rd *r)
{
	return &r->meta;
}

void
objio_etag_text(const uint8_t md5[16], uint32_t parts, char out[CATALOG_ETAG_MAX + 1])
{
	char hx[33];

	hex_encode(hx, md5, 16);
	if (parts > 0)
		snprintf(out, CATALOG_ETAG_MAX + 1, "\"%s-%u\"", hx, parts);
	else
		snprintf(out, CATALOG_ETAG_MAX + 1, "\"%s\"", hx);
}

void
objio_etag(const struct objio_rd *r, char out[CATALOG_ETAG_MAX + 1])
{
	uint32_t parts;
	const uint8_t *d = format_digest(r->fo, &parts);

	objio_etag_text(d, parts, out);
}

int
objio_read(const struct objio_ctx *x, struct objio_rd *r, uint64_t off, uint64_t len,
	   int (*out)(void *arg, const uint8_t *data, size_t n), void *arg)
{
	return format_read_async(r->fo, x->e, rd_source, r->rd, off, len, out, arg, x->q);
}

int
objio_readv(const struct objio_ctx *x, struct objio_rd *r, uint64_t off, uint64_t len,
	    int (*outv)(void *arg, const struct iovec *iov, int n), void *arg)
{
	return format_read_v(r->fo, x->e, rd_source, r->rd, off, len, outv, arg, x->q);
}

void
objio_close(struct objio_rd *r)
{
	if (r == NULL)
		return;
	objmeta_clear(&r->meta);
	format_free(r->fo);
	store_rd_close(r->rd);
	free(r);
}

int
objio_create(const struct objio_ctx *x, const struct cat_bucket *b, const char *okey,
	     const struct objmeta *m, uint64_t size_hint, unsigned digests, struct objio_wr **out)
{
	struct format_params p;
	struct objio_wr *w;
	uint8_t *kek = NULL, *meta = NULL;
	size_t mlen = 0;
	uint32_t version = 0;
	int rc;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return CS_ENOMEM;
	rc = CS_ENOMEM;
	if ((digests & OBJIO_MD5) && x->md5 != NULL) {
		if ((w->md5s = malloc(sizeof(*w->md5s))) == NULL)
			goto err;
		md5_mb_init(w->md5s);
		w->md5c = x->md5;
	} else if ((digests & OBJIO_MD5) && ((w->md5 = EVP_MD_CTX_new()) == NULL ||
					     EVP_DigestInit_ex(w->md5, EVP_md5(), NULL) != 1)) {
		goto err;
	}
	if ((digests & OBJIO_SHA256) && ((w->sha = EVP_MD_CTX_new()) == NULL ||
					 EVP_DigestInit_ex(w->sha, EVP_sha256(), NULL) != 1))
		goto err;
	if ((kek = secmem_alloc(KEYSTORE_KEY_LEN)) == NULL)
		goto err;
	if ((rc = keystore_active(x->ks, b->label_text, &version, kek)) != 0)
		goto err;
	if ((rc = objmeta_encode(m, &meta, &mlen)) != 0) {
		rc = rc == CS_ERANGE ? CS_EINVAL : rc;
		goto err;
	}
	memset(&p, 0, sizeof(p));
	p.suite = x->suite;
	p.chunk_size = x->chunk;
	p.label = b->label_text;
	p.bucket = b->name;
	p.kek.id = b->label_text;
	p.kek.version = version;
	p.kek.key = kek;
	p.meta = meta;
	p.meta_len = mlen;
	/* Aligned for O_DIRECT (store_fs_direct) when a batch can go that way:
	 * an object of one batch or less is written from its final batch only,
	 * and one of unknown size (0) is most often small (an upload's marker). */
	if (size_hint > (uint64_t)FORMAT_BATCH * x->chunk)
		p.align = store_write_align(x->st);
	if ((rc = format_create(&w->fo, &p, x->e)) != 0)
		goto err;
	if ((rc = store_put_begin(x->st, b->space, okey,
				  size_hint > 0 ? format_stored_size(w->fo, size_hint) : 0,
				  &w->sw)) != 0)
		goto err;
	if ((rc = format_writer_new_async(&w->fw, w->fo, x->e, wr_sink, w, x->q)) != 0)
		goto err;
	format_writer_set_combiner(w->fw, x->seal);
	secmem_free(kek, KEYSTORE_KEY_LEN);
	free(meta);
	*out = w;
	return 0;
err:
	secmem_free(kek, KEYSTORE_KEY_LEN);
	free(meta);
	objio_abort(w);
	return rc;
}

int
objio_write(struct objio_wr *w, const void *data, size_t n)
{
	if (w->md5s != NULL)
		md5_shared_update(w->md5c, w->md5s, data, n);
	if ((w->md5 != NULL && EVP_DigestUpdate(w->md5, data, n) != 1) ||
	    (w->sha != NULL && EVP_DigestUpdate(w->sha, data, n) != 1))
		return CS_ECRYPTO;
	return wr_errno(w, format_writer_write(w->fw, data, n));
}

int
objio_space(struct objio_wr *w, struct iovec *iov, int max)
{
	return wr_errno(w, format_writer_space(w->fw, iov, max));
}

void
objio_set_notify(struct objio_wr *w, void (*fn)(void *arg), void *arg)
{
	format_writer_set_notify(w->fw, fn, arg);
}

struct md5_mb_state *
objio_md5_state(struct objio_wr *w)
{
	return w->md5s;
}

bool
objio_serial_digests(const struct objio_wr *w)
{
	return w->md5 != NULL || w->sha != NULL;
}

int
objio_advance(struct objio_wr *w, const struct iovec *iov, int niov, size_t n)
{
	/* The shared MD5 takes all the pieces as one request: one turn.  More
	 * than the space given fails in format_writer_advance(), and the write
	 * with it, so the digests need no check of their own. */
	if (w->md5s != NULL)
		md5_shared_updatev(w->md5c, w->md5s, iov, niov, n);
	return objio_advance_hashed(w, iov, niov, n);
}

int
objio_advance_hashed(struct objio_wr *w, const struct iovec *iov, int niov, size_t n)
{
	size_t left = n;

	for (int i = 0; i < niov && left > 0; i++) {
		size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;

		if ((w->md5 != NULL && EVP_DigestUpdate(w->md5, iov[i].iov_base, k) != 1) ||
		    (w->sha != NULL && EVP_DigestUpdate(w->sha, iov[i].iov_base, k) != 1))
			return CS_ECRYPTO;
		left -= k;
	}
	return wr_errno(w, format_writer_advance(w->fw, n));
}

int
objio_finish(struct objio_wr *w, uint32_t parts, const uint8_t *md5_in, uint8_t md5[16],
	     uint8_t sha256[32], uint64_t *len)
{
	uint8_t d[16], s[32];
	unsigned int n = 0;

	/* Without MD5 the ETag is the object's random id: new for every write. */
	if (w->md5s != NULL)
		md5_mb_final(w->md5s, d);
	else if (w->md5 == NULL)
		memcpy(d, format_object_id(w->fo), 16);
	else if (EVP_DigestFinal_ex(w->md5, d, &n) != 1)
		return CS_ECRYPTO;
	if (w->sha != NULL && EVP_DigestFinal_ex(w->sha, s, &n) != 1)
		return CS_ECRYPTO;
	if (md5 != NULL)
		memcpy(md5, d, 16);
	if (sha256 != NULL && w->sha != NULL)
		memcpy(sha256, s, 32);
	return wr_errno(w, format_writer_finish(w->fw, md5_in != NULL ? md5_in : d, parts, len));
}

int
objio_commit(struct objio_wr *w)
{
	int rc = store_wr_commit(w->sw);

	w->sw = NULL;
	objio_abort(w);
	return rc;
}

void
objio_abort(struct objio_wr *w)
{
	if (w == NULL)
		return;
	/* The writer first: freeing it waits for the sealing workers, which
	 * still write through w->sw. */
	format_writer_free(w->fw);
	store_wr_abort(w->sw);
	format_free(w->fo);
	EVP_MD_CTX_free(w->md5);
	EVP_MD_CTX_free(w->sha);
	free(w->md5s);
	free(w);
}
