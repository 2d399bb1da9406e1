/*
 * catalog: buckets and per-bucket object indexes.  See catalog.h.
 *
 * The bucket record is one sealed object that every change rewrites whole,
 * and with store = rados several front-ends change it.  So a change is a
 * read-modify-write of the record as it is in the store, not of this
 * front-end's copy, under the store-wide lock CATALOG_LOCK (store_lock():
 * a lease lock on RADOS): take the lock, read the record, apply the one
 * change, renew the lock and commit, release.  Two front-ends creating
 * buckets at the same moment then take turns and neither bucket is lost.
 * The in-memory list gets only this front-end's own change; the others'
 * arrive by their announcements (catalog_refresh_buckets).  A lock rather
 * than a compare-and-swap of the record: it needs nothing of the store but
 * two small calls, works the same on the local filesystem, and nobody
 * retries a whole change under contention.  Its lease bounds how long a
 * front-end that died holding it blocks the others (lock_lease seconds);
 * the renewal right before the commit keeps a holder that stalled past its
 * lease from writing over a newer record (it fails instead).
 *
 * Lock order: the store lock before c->lock, never the other way round.
 */
#include "catalog.h"
#include "keystore/keystore.h"
#include "objio.h"
#include "store/store.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/secmem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#define SYS_SPACE    "sys"
#define CATALOG_OBJ  "catalog"
#define CATALOG_LOCK "catalog" /* the store_lock() around changes of CATALOG_OBJ */
#define CATALOG_MAX  (1u << 24)
#define REFRESH_MAX  16 /* catalog_refresh_buckets() reads again at most this often */

struct entry {
	char *name;
	uint64_t size;
	int64_t mtime_ms;
	char etag[CATALOG_ETAG_MAX + 1];
	char ctype[CATALOG_CTYPE_MAX + 1];
};

struct bucket {
	struct cat_bucket b;
	struct entry *e; /* sorted by name (byte order) */
	size_t n, cap;
};

#define KEY_LOCKS 64

struct catalog {
	pthread_rwlock_t lock;
	pthread_mutex_t key_locks[KEY_LOCKS];
	struct store *st;
	struct keystore *ks;
	struct engine *e;  /* catalog_open's, again for catalog_refresh_*() */
	struct bucket *bk; /* sorted by name */
	size_t nb;
	/* Bucket changes made here: catalog_refresh_buckets() reads the record
	 * again if one came between its read and its swap. */
	uint64_t gen;
	/* Told of every change made here (catalog_set_notify); NULL: none. */
	void (*notify)(void *arg, const char *bucket, const char *name);
	void *notify_arg;
};

/* best_effort: a clean-up whose failure only leaves an unused, empty or
 * unreadable store space behind; nothing else depends on it. */
static void
best_effort(int rc)
{
	(void)rc;
}

/* tell: report a change made here to whoever catalog_set_notify() named. */
static void
tell(struct catalog *c, const char *bucket, const char *name)
{
	if (c->notify != NULL)
		c->notify(c->notify_arg, bucket, name);
}

bool
catalog_bucket_name_ok(const char *name)
{
	size_t n = strnlen(name, CATALOG_BUCKET_MAX + 1);

	if (n < 3 || n > CATALOG_BUCKET_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
			return false;
	}
	/* Starts and ends with a letter or digit; no "..". */
	if (name[0] == '.' || name[0] == '-' || name[n - 1] == '.' || name[n - 1] == '-' ||
	    strstr(name, "..") != NULL)
		return false;
	return true;
}

static struct bucket *
find_bucket(struct catalog *c, const char *name)
{
	size_t lo = 0, hi = c->nb;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = strcmp(c->bk[mid].b.name, name);

		if (r == 0)
			return &c->bk[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* find_entry: index of name in b, or of where it would go; *hit if present. */
static size_t
find_entry(const struct bucket *b, const char *name, bool *hit)
{
	size_t lo = 0, hi = b->n;

	*hit = false;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int r = strcmp(b->e[mid].name, name);

		if (r == 0) {
			*hit = true;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* ---- persistence of the bucket list ------------------------------------- */

/*
 * catalog_save(c, bk, nb, lk): write the record of the nb buckets bk.
 * Lines: "bucket\t<name>\t<label>\t<space>\t<created>\n".  lk is the
 * CATALOG_LOCK, renewed right before the commit: if its lease ran out,
 * nothing is written.
 */
static int
catalog_save(struct catalog *c, const struct bucket *bk, size_t nb, struct store_lock *lk)
{
	size_t cap = 64, n = 0;
	char *txt = malloc(cap);
	uint8_t *sealed = NULL;
	size_t sl = 0;
	struct store_wr *w = NULL;
	struct iovec iov;
	int rc;

	if (txt == NULL)
		return CS_ENOMEM;
	for (size_t i = 0; i < nb; i++) {
		const struct cat_bucket *b = &bk[i].b;
		size_t need = strlen(b->name) + strlen(b->label_text) + 96;

		if (n + need > cap) {
			char *nt = realloc(txt, (n + need) * 2);

			if (nt == NULL) {
				free(txt);
				return CS_ENOMEM;
			}
			txt = nt;
			cap = (n + need) * 2;
		}
		n += (size_t)snprintf(txt + n, cap - n, "bucket\t%s\t%s\t%s\t%lld\n", b->name,
				      b->label_text, b->space, (long long)b->created);
	}
	rc = keystore_seal(c->ks, "catalog", (const uint8_t *)txt, n, &sealed, &sl);
	free(txt);
	if (rc != 0)
		return rc;
	iov.iov_base = sealed;
	iov.iov_len = sl;
	if ((rc = store_put_begin(c->st, SYS_SPACE, CATALOG_OBJ, sl, &w)) == 0 &&
	    (rc = store_wr_write(w, 0, &iov, 1)) == 0 && (rc = store_lock_renew(lk)) == 0)
		rc = store_wr_commit(w);
	else
		store_wr_abort(w);
	free(sealed);
	return rc;
}

static int
catalog_load(struct catalog *c, char *why, size_t whylen)
{
	struct store_rd *rd;
	uint8_t *sealed, *plain = NULL;
	size_t pl = 0;
	uint64_t size;
	struct iovec iov;
	char *line, *save = NULL;
	int rc = store_get(c->st, SYS_SPACE, CATALOG_OBJ, &rd);

	if (rc == CS_ENOENT)
		return 0; /* a new server */
	if (rc != 0)
		return err_why(why, whylen, rc, "cannot read the bucket catalogue");
	size = store_rd_size(rd);
	if (size > CATALOG_MAX || (sealed = malloc(size + 1)) == NULL) {
		store_rd_close(rd);
		return err_why(why, whylen, CS_ERANGE, "bucket catalogue too large");
	}
	iov.iov_base = sealed;
	iov.iov_len = size;
	if (store_rd_read(rd, 0, &iov, 1) != (long)size) {
		store_rd_close(rd);
		free(sealed);
		return err_why(why, whylen, CS_EIO, "cannot read the bucket catalogue");
	}
	store_rd_close(rd);
	rc = keystore_unseal(c->ks, "catalog", sealed, size, &plain, &pl);
	free(sealed);
	if (rc != 0)
		return err_why(why, whylen, CS_EAUTH,
			       "the bucket catalogue does not unseal under this keystore");
	for (line = strtok_r((char *)plain, "\n", &save); line != NULL;
	     line = strtok_r(NULL, "\n", &save)) {
		char *f[5], *s2 = NULL, *tok = strtok_r(line, "\t", &s2);
		struct bucket *nb;
		struct cat_bucket b;
		int k = 0;

		for (; tok != NULL && k < 5; tok = strtok_r(NULL, "\t", &s2))
			f[k++] = tok;
		memset(&b, 0, sizeof(b));
		if (k != 5 || strcmp(f[0], "bucket") != 0 || !catalog_bucket_name_ok(f[1]) ||
		    strlen(f[2]) >= sizeof(b.label_text) || strlen(f[3]) != CATALOG_SPACE_LEN ||
		    label_parse(f[2], strlen(f[2]), &b.label, NULL) != 0) {
			rc = err_why(why, whylen, CS_EINVAL, "the bucket catalogue is malformed");
			break;
		}
		snprintf(b.name, sizeof(b.name), "%s", f[1]);
		snprintf(b.label_text, sizeof(b.label_text), "%s", f[2]);
		snprintf(b.space, sizeof(b.space), "%s", f[3]);
		b.created = strtoll(f[4], NULL, 10);
		if ((nb = realloc(c->bk, (c->nb + 1) * sizeof(*nb))) == NULL) {
			rc = CS_ENOMEM;
			break;
		}
		c->bk = nb;
		memset(&c->bk[c->nb], 0, sizeof(c->bk[c->nb]));
		c->bk[c->nb++].b = b;
	}
	free(plain);
	return rc;
}

static int cmp_bucket(const void *a, const void *b);
static void bucket_free(struct bucket *b);

/* buckets_free: the buckets of a record_read(). */
static void
buckets_free(struct catalog *rec)
{
	for (size_t i = 0; i < rec->nb; i++)
		bucket_free(&rec->bk[i]);
	free(rec->bk);
	rec->bk = NULL;
	rec->nb = 0;
}

/*
 * record_read(c, rec): the bucket record as the store holds it now, sorted
 * by name, into rec (only its st, ks, bk and nb are set; buckets_free()
 * it).  On failure rec holds nothing.
 */
static int
record_read(struct catalog *c, struct catalog *rec)
{
	char why[256];
	int rc;

	memset(rec, 0, sizeof(*rec));
	rec->st = c->st;
	rec->ks = c->ks;
	if ((rc = catalog_load(rec, why, sizeof(why))) != 0) {
		buckets_free(rec);
		return rc;
	}
	if (rec->nb > 1) /* qsort of a NULL array, even empty, is undefined */
		qsort(rec->bk, rec->nb, sizeof(*rec->bk), cmp_bucket);
	return 0;
}

/* ---- index rebuild ------------------------------------------------------- */

static int
entry_insert(struct bucket *b, const struct cat_object *o)
{
	bool hit;
	size_t i = find_entry(b, o->name, &hit);
	struct entry *e;

	if (!hit) {
		if (b->n == b->cap) {
			size_t cap = b->cap ? b->cap * 2 : 16;
			struct entry *ne = realloc(b->e, cap * sizeof(*ne));

			if (ne == NULL)
				return CS_ENOMEM;
			b->e = ne;
			b->cap = cap;
		}
		memmove(&b->e[i + 1], &b->e[i], (b->n - i) * sizeof(*b->e));
		memset(&b->e[i], 0, sizeof(b->e[i]));
		if ((b->e[i].name = strdup(o->name)) == NULL) {
			memmove(&b->e[i], &b->e[i + 1], (b->n - i) * sizeof(*b->e));
			return CS_ENOMEM;
		}
		b->n++;
	}
	e = &b->e[i];
	e->size = o->size;
	e->mtime_ms = o->mtime_ms;
	snprintf(e->etag, sizeof(e->etag), "%s", o->etag);
	snprintf(e->ctype, sizeof(e->ctype), "%s", o->ctype);
	return 0;
}

struct rebuild {
	struct catalog *c;
	struct bucket *b;
	struct objio_ctx x;
	uint64_t unreadable;
};

static int
rebuild_cb(void *arg, const char *key, uint64_t size)
{
	struct rebuild *rb = arg;
	struct objio_rd *r;
	struct cat_object o;
	char okey[CATALOG_OKEY_LEN + 1];

	(void)size;
	if (strlen(key) != CATALOG_OKEY_LEN)
		return 0; /* multipart parts and other records */
	if (objio_open(&rb->x, &rb->b->b, key, &r) != 0) {
		rb->unreadable++;
		return 0;
	}
	/* Only an object stored under its own name's key is that object. */
	catalog_object_key(rb->c, &rb->b->b, objio_meta(r)->name, okey);
	if (strcmp(okey, key) != 0) {
		rb->unreadable++;
		objio_close(r);
		return 0;
	}
	memset(&o, 0, sizeof(o));
	o.name = objio_meta(r)->name;
	o.size = objio_size(r);
	o.mtime_ms = objio_meta(r)->mtime_ms;
	objio_etag(r, o.etag);
	snprintf(o.ctype, sizeof(o.ctype), "%s",
		 objio_meta(r)->ctype ? objio_meta(r)->ctype : "binary/octet-stream");
	if (entry_insert(rb->b, &o) != 0) {
		objio_close(r);
		return CS_ENOMEM;
	}
	objio_close(r);
	return 0;
}

static int
cmp_bucket(const void *a, const void *b)
{
	return strcmp(((const struct bucket *)a)->b.name, ((const struct bucket *)b)->b.name);
}

int
catalog_open(struct catalog **out, struct store *st, struct keystore *ks, struct engine *e,
	     uint64_t *unreadable, char *why, size_t whylen)
{
	struct catalog *c;
	struct rebuild rb;
	int rc;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return CS_ENOMEM;
	pthread_rwlock_init(&c->lock, NULL);
	for (size_t i = 0; i < KEY_LOCKS; i++)
		pthread_mutex_init(&c->key_locks[i], NULL);
	c->st = st;
	c->ks = ks;
	c->e = e;
	if ((rc = store_space_create(st, SYS_SPACE)) != 0 && rc != CS_EEXIST) {
		err_why(why, whylen, rc, "cannot create the store's system space");
		goto err;
	}
	if ((rc = catalog_load(c, why, whylen)) != 0)
		goto err;
	if (c->nb > 1) /* qsort of a NULL array, even empty, is undefined */
		qsort(c->bk, c->nb, sizeof(*c->bk), cmp_bucket);
	memset(&rb, 0, sizeof(rb));
	rb.c = c;
	rb.x.st = st;
	rb.x.ks = ks;
	rb.x.e = e;
	for (size_t i = 0; i < c->nb; i++) {
		rb.b = &c->bk[i];
		rc = store_list(st, rb.b->b.space, rebuild_cb, &rb);
		if (rc == CS_ENOENT) /* created in the catalogue, space lost: recreate */
			rc = store_space_create(st, rb.b->b.space);
		if (rc != 0) {
			err_why(why, whylen, rc, "cannot index bucket %s", rb.b->b.name);
			goto err;
		}
	}
	if (unreadable != NULL)
		*unreadable = rb.unreadable;
	*out = c;
	return 0;
err:
	catalog_close(c);
	return rc;
}

static void
bucket_free(struct bucket *b)
{
	for (size_t i = 0; i < b->n; i++)
		free(b->e[i].name);
	free(b->e);
}

void
catalog_close(struct catalog *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->nb; i++)
		bucket_free(&c->bk[i]);
	free(c->bk);
	for (size_t i = 0; i < KEY_LOCKS; i++)
		pthread_mutex_destroy(&c->key_locks[i]);
	pthread_rwlock_destroy(&c->lock);
	free(c);
}

/* ---- buckets ------------------------------------------------------------- */

int
catalog_bucket_create(struct catalog *c, const char *name, const char *label_text)
{
	struct store_lock *lk = NULL;
	struct catalog rec;
	struct cat_bucket b;
	struct bucket *nb;
	uint8_t rnd[CATALOG_SPACE_LEN / 2];
	bool known;
	int rc;

	if (!catalog_bucket_name_ok(name))
		return CS_EINVAL;
	memset(&b, 0, sizeof(b));
	if (strlen(label_text) >= sizeof(b.label_text) ||
	    label_parse(label_text, strlen(label_text), &b.label, NULL) != 0)
		return CS_EINVAL;
	snprintf(b.name, sizeof(b.name), "%s", name);
	if (label_format(&b.label, b.label_text, sizeof(b.label_text)) < 0)
		return CS_EINVAL;
	b.created = (int64_t)time(NULL);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return CS_ECRYPTO;
	hex_encode(b.space, rnd, sizeof(rnd));
	pthread_rwlock_rdlock(&c->lock);
	known = find_bucket(c, name) != NULL;
	pthread_rwlock_unlock(&c->lock);
	if (known)
		return CS_EEXIST;
	/* The space first (a random id: nobody else's), so that a bucket on
	 * record always has one. */
	if ((rc = store_space_create(c->st, b.space)) != 0)
		return rc;
	if ((rc = store_lock(c->st, CATALOG_LOCK, 0, &lk)) != 0)
		goto out0;
	if ((rc = record_read(c, &rec)) != 0)
		goto out1;
	if (find_bucket(&rec, name) != NULL) { /* made on another front-end */
		rc = CS_EEXIST;
		goto out2;
	}
	if ((nb = realloc(rec.bk, (rec.nb + 1) * sizeof(*nb))) == NULL) {
		rc = CS_ENOMEM;
		goto out2;
	}
	rec.bk = nb;
	memset(&rec.bk[rec.nb], 0, sizeof(rec.bk[rec.nb]));
	rec.bk[rec.nb++].b = b;
	qsort(rec.bk, rec.nb, sizeof(*rec.bk), cmp_bucket);
	pthread_rwlock_wrlock(&c->lock);
	/* Room first: once the record is written, the bucket is in memory too. */
	if (find_bucket(c, name) != NULL) {
		rc = CS_EEXIST;
	} else if ((nb = realloc(c->bk, (c->nb + 1) * sizeof(*nb))) == NULL) {
		rc = CS_ENOMEM;
	} else {
		c->bk = nb;
		if ((rc = catalog_save(c, rec.bk, rec.nb, lk)) == 0) {
			memset(&c->bk[c->nb], 0, sizeof(c->bk[c->nb]));
			c->bk[c->nb++].b = b;
			qsort(c->bk, c->nb, sizeof(*c->bk), cmp_bucket);
			c->gen++;
		}
	}
	pthread_rwlock_unlock(&c->lock);
out2:
	buckets_free(&rec);
out1:
	best_effort(store_unlock(lk));
out0:
	if (rc != 0)
		best_effort(store_space_remove(c->st, b.space));
	else
		tell(c, name, NULL);
	return rc;
}

int
catalog_bucket_delete(struct catalog *c, const char *name)
{
	struct store_lock *lk = NULL;
	struct catalog rec;
	struct bucket *b, *rb, saved;
	char space[CATALOG_SPACE_LEN + 1];
	size_t i;
	int rc;

	pthread_rwlock_rdlock(&c->lock);
	if ((b = find_bucket(c, name)) == NULL)
		rc = CS_ENOENT;
	else if (b->n > 0)
		rc = CS_EEXIST;
	else
		rc = 0;
	if (b != NULL)
		snprintf(space, sizeof(space), "%s", b->b.space);
	pthread_rwlock_unlock(&c->lock);
	if (rc != 0)
		return rc;
	if ((rc = store_lock(c->st, CATALOG_LOCK, 0, &lk)) != 0)
		return rc;
	if ((rc = record_read(c, &rec)) != 0)
		goto out1;
	if ((rb = find_bucket(&rec, name)) == NULL) {
		rc = CS_ENOENT; /* deleted on another front-end */
		goto out2;
	}
	if (strcmp(rb->b.space, space) != 0) {
		/* Deleted and made again on another front-end, and not indexed
		 * here yet: it may hold objects, so it is left alone. */
		rc = CS_EEXIST;
		goto out2;
	}
	i = (size_t)(rb - rec.bk);
	memmove(&rec.bk[i], &rec.bk[i + 1], (rec.nb - i - 1) * sizeof(*rec.bk));
	rec.nb--;
	pthread_rwlock_wrlock(&c->lock);
	/* Again: an object may have been put meanwhile, or the bucket
	 * dropped by a refresh. */
	if ((b = find_bucket(c, name)) == NULL || strcmp(b->b.space, space) != 0) {
		rc = CS_ENOENT;
	} else if (b->n > 0) {
		rc = CS_EEXIST;
	} else if ((rc = catalog_save(c, rec.bk, rec.nb, lk)) == 0) {
		saved = *b;
		i = (size_t)(b - c->bk);
		memmove(&c->bk[i], &c->bk[i + 1], (c->nb - i - 1) * sizeof(*c->bk));
		c->nb--;
		c->gen++;
	}
	pthread_rwlock_unlock(&c->lock);
out2:
	buckets_free(&rec);
out1:
	best_effort(store_unlock(lk));
	if (rc != 0)
		return rc;
	/* Unreadable leftovers (e.g. of a shredded level) and parts go with it. */
	best_effort(store_space_purge(c->st, saved.b.space));
	bucket_free(&saved);
	tell(c, name, NULL);
	return 0;
}

int
catalog_bucket_get(struct catalog *c, const char *name, struct cat_bucket *out)
{
	struct bucket *b;
	int rc = CS_ENOENT;

	pthread_rwlock_rdlock(&c->lock);
	if ((b = find_bucket(c, name)) != NULL) {
		*out = b->b;
		rc = 0;
	}
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

void
catalog_buckets(struct catalog *c, void (*cb)(void *arg, const struct cat_bucket *b), void *arg)
{
	pthread_rwlock_rdlock(&c->lock);
	for (size_t i = 0; i < c->nb; i++)
		cb(arg, &c->bk[i].b);
	pthread_rwlock_unlock(&c->lock);
}

/* ---- objects ------------------------------------------------------------- */

void
catalog_object_key(struct catalog *c, const struct cat_bucket *b, const char *name,
		   char out[CATALOG_OKEY_LEN + 1])
{
	uint8_t key[KEYSTORE_KEY_LEN], mac[32];
	unsigned int n = 0;

	if (keystore_syskey(c->ks, KEYSTORE_NAME_KEY, key) != 0)
		memset(key, 0, sizeof(key));
	{
		/* HMAC-SHA-256(name key, space || 0x00 || name) */
		size_t sl = strlen(b->space), nl = strlen(name);
		uint8_t *msg = malloc(sl + 1 + nl);

		if (msg == NULL) {
			memset(out, '0', CATALOG_OKEY_LEN);
			out[CATALOG_OKEY_LEN] = '\0';
			secmem_wipe(key, sizeof(key));
			return;
		}
		memcpy(msg, b->space, sl);
		msg[sl] = 0;
		memcpy(msg + sl + 1, name, nl);
		HMAC(EVP_sha256(), key, sizeof(key), msg, sl + 1 + nl, mac, &n);
		free(msg);
	}
	secmem_wipe(key, sizeof(key));
	hex_encode(out, mac, 32);
}

int
catalog_object_get(struct catalog *c, const char *bucket, const char *name, struct cat_object *out)
{
	struct bucket *b;
	bool hit = false;
	size_t i;
	int rc = CS_ENOENT;

	pthread_rwlock_rdlock(&c->lock);
	if ((b = find_bucket(c, bucket)) != NULL) {
		i = find_entry(b, name, &hit);
		if (hit) {
			out->name = NULL;
			out->size = b->e[i].size;
			out->mtime_ms = b->e[i].mtime_ms;
			memcpy(out->etag, b->e[i].etag, sizeof(out->etag));
			memcpy(out->ctype, b->e[i].ctype, sizeof(out->ctype));
			rc = 0;
		}
	}
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

int
catalog_object_put(struct catalog *c, const char *bucket, const struct cat_object *o)
{
	struct bucket *b;
	int rc = CS_ENOENT;

	pthread_rwlock_wrlock(&c->lock);
	if ((b = find_bucket(c, bucket)) != NULL)
		rc = entry_insert(b, o);
	pthread_rwlock_unlock(&c->lock);
	if (rc == 0)
		tell(c, bucket, o->name);
	return rc;
}

int
catalog_object_del(struct catalog *c, const char *bucket, const char *name)
{
	struct bucket *b;
	bool hit = false;
	size_t i;
	int rc = CS_ENOENT;

	pthread_rwlock_wrlock(&c->lock);
	if ((b = find_bucket(c, bucket)) != NULL) {
		i = find_entry(b, name, &hit);
		if (hit) {
			free(b->e[i].name);
			memmove(&b->e[i], &b->e[i + 1], (b->n - i - 1) * sizeof(*b->e));
			b->n--;
			rc = 0;
		}
	}
	pthread_rwlock_unlock(&c->lock);
	/* Also when this index did not have it: another front-end's may. */
	if (b != NULL)
		tell(c, bucket, name);
	return rc;
}

uint64_t
catalog_object_count(struct catalog *c, const char *bucket)
{
	struct bucket *b;
	uint64_t n = 0;

	pthread_rwlock_rdlock(&c->lock);
	if ((b = find_bucket(c, bucket)) != NULL)
		n = b->n;
	pthread_rwlock_unlock(&c->lock);
	return n;
}

uint64_t
catalog_bucket_usage(struct catalog *c, const char *bucket, uint64_t *bytes)
{
	struct bucket *b;
	uint64_t n = 0, sum = 0;

	pthread_rwlock_rdlock(&c->lock);
	if ((b = find_bucket(c, bucket)) != NULL) {
		n = b->n;
		for (size_t i = 0; i < b->n; i++)
			sum += b->e[i].size;
	}
	pthread_rwlock_unlock(&c->lock);
	*bytes = sum;
	return n;
}

int
catalog_list(struct catalog *c, const char *bucket, const char *prefix, const char *delimiter,
	     const char *after, unsigned max,
	     void (*cb)(void *arg, const struct cat_object *o, const char *common_prefix),
	     void *arg, bool *truncated, char **next)
{
	size_t pl = prefix ? strlen(prefix) : 0, dl = delimiter ? strlen(delimiter) : 0, i;
	char *last = NULL;
	struct bucket *b;
	unsigned count = 0;
	bool hit;
	int rc = 0;

	*truncated = false;
	*next = NULL;
	pthread_rwlock_rdlock(&c->lock);
	if ((b = find_bucket(c, bucket)) == NULL) {
		pthread_rwlock_unlock(&c->lock);
		return CS_ENOENT;
	}
	i = after != NULL && after[0] != '\0' ? find_entry(b, after, &hit) : 0;
	if (after != NULL && after[0] != '\0' && hit)
		i++;
	if (pl > 0 && (after == NULL || strcmp(after, prefix) < 0))
		i = i > find_entry(b, prefix, &hit) ? i : find_entry(b, prefix, &hit);
	/* Continuing after a common prefix: skip every name under it. */
	if (dl > 0 && after != NULL && strlen(after) >= dl &&
	    strcmp(after + strlen(after) - dl, delimiter) == 0)
		while (i < b->n && strncmp(b->e[i].name, after, strlen(after)) == 0)
			i++;
	for (; i < b->n; i++) {
		const struct entry *e = &b->e[i];
		const char *rest, *d;

		if (pl > 0 && strncmp(e->name, prefix, pl) != 0) {
			if (strcmp(e->name, prefix) > 0)
				break; /* sorted: no later name has the prefix */
			continue;
		}
		if (count == max) {
			*truncated = true;
			break;
		}
		rest = e->name + pl;
		if (dl > 0 && (d = strstr(rest, delimiter)) != NULL) {
			size_t cpl = (size_t)(d - e->name) + dl;
			char *cp = malloc(cpl + 1);

			if (cp == NULL) {
				rc = CS_ENOMEM;
				break;
			}
			memcpy(cp, e->name, cpl);
			cp[cpl] = '\0';
			cb(arg, NULL, cp);
			count++;
			free(last);
			last = cp;
			/* Skip every name under this common prefix. */
			while (i + 1 < b->n && strncmp(b->e[i + 1].name, cp, cpl) == 0)
				i++;
			continue;
		}
		{
			struct cat_object o;

			o.name = e->name;
			o.size = e->size;
			o.mtime_ms = e->mtime_ms;
			memcpy(o.etag, e->etag, sizeof(o.etag));
			memcpy(o.ctype, e->ctype, sizeof(o.ctype));
			cb(arg, &o, NULL);
		}
		count++;
		free(last);
		if ((last = strdup(e->name)) == NULL) {
			rc = CS_ENOMEM;
			break;
		}
	}
	pthread_rwlock_unlock(&c->lock);
	if (rc != 0 || !*truncated)
		free(last);
	else
		*next = last;
	return rc;
}

/* key_lock: the stripe of okey (a hex string: its first two digits). */
static pthread_mutex_t *
key_lock(struct catalog *c, const char *okey)
{
	int hi = hex_value(okey[0]), lo = okey[0] ? hex_value(okey[1]) : -1;

	return &c->key_locks[(size_t)((hi < 0 ? 0 : hi) * 16 + (lo < 0 ? 0 : lo)) % KEY_LOCKS];
}

void
catalog_lock_key(struct catalog *c, const char *okey)
{
	pthread_mutex_lock(key_lock(c, okey));
}

void
catalog_unlock_key(struct catalog *c, const char *okey)
{
	pthread_mutex_unlock(key_lock(c, okey));
}

/* ---- other front-ends' changes ------------------------------------------- */

void
catalog_set_notify(struct catalog *c, void (*fn)(void *arg, const char *bucket, const char *name),
		   void *arg)
{
	pthread_rwlock_wrlock(&c->lock);
	c->notify = fn;
	c->notify_arg = arg;
	pthread_rwlock_unlock(&c->lock);
}

int
catalog_refresh_buckets(struct catalog *c)
{
	struct catalog fresh;
	struct rebuild rb;
	uint64_t gen;
	int rc, tries = 0;

again:
	pthread_rwlock_rdlock(&c->lock);
	gen = c->gen;
	pthread_rwlock_unlock(&c->lock);
	if ((rc = record_read(c, &fresh)) != 0)
		return rc;
	memset(&rb, 0, sizeof(rb));
	rb.c = c;
	rb.x.st = c->st;
	rb.x.ks = c->ks;
	rb.x.e = c->e;
	pthread_rwlock_wrlock(&c->lock);
	/* A bucket created or deleted here after our read: the record we hold
	 * may predate it, and swapping it in would undo it in memory. */
	if (c->gen != gen && ++tries < REFRESH_MAX) {
		pthread_rwlock_unlock(&c->lock);
		buckets_free(&fresh);
		goto again;
	}
	/* A bucket known here (same name and space) keeps its index; a new one
	 * is indexed from the store; one gone from the record is dropped. */
	for (size_t i = 0; rc == 0 && i < fresh.nb; i++) {
		struct bucket *old = find_bucket(c, fresh.bk[i].b.name);

		if (old != NULL && strcmp(old->b.space, fresh.bk[i].b.space) == 0) {
			fresh.bk[i].e = old->e;
			fresh.bk[i].n = old->n;
			fresh.bk[i].cap = old->cap;
			old->e = NULL;
			old->n = old->cap = 0;
			continue;
		}
		rb.b = &fresh.bk[i];
		rc = store_list(c->st, rb.b->b.space, rebuild_cb, &rb);
		if (rc == CS_ENOENT) /* its creator has not made the space yet */
			rc = 0;
	}
	if (rc != 0) {
		/* Give the moved indexes back: c stays as it was. */
		for (size_t i = 0; i < fresh.nb; i++) {
			struct bucket *old = find_bucket(c, fresh.bk[i].b.name);

			if (old != NULL && old->e == NULL && old->n == 0 &&
			    strcmp(old->b.space, fresh.bk[i].b.space) == 0) {
				old->e = fresh.bk[i].e;
				old->n = fresh.bk[i].n;
				old->cap = fresh.bk[i].cap;
				fresh.bk[i].e = NULL;
				fresh.bk[i].n = fresh.bk[i].cap = 0;
			}
		}
		buckets_free(&fresh);
	} else {
		for (size_t i = 0; i < c->nb; i++)
			bucket_free(&c->bk[i]);
		free(c->bk);
		c->bk = fresh.bk;
		c->nb = fresh.nb;
	}
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

int
catalog_bucket_apply(struct catalog *c, const char *name, const struct cat_bucket *b)
{
	struct bucket fresh, *old, *nb;
	struct rebuild rb;
	int rc = 0;

	memset(&fresh, 0, sizeof(fresh));
	pthread_rwlock_wrlock(&c->lock);
	old = find_bucket(c, name);
	if (b != NULL && old != NULL && strcmp(old->b.space, b->space) == 0)
		goto out; /* known already, with its index */
	if (b != NULL) {
		/* Index it first: on failure nothing here has changed. */
		memset(&rb, 0, sizeof(rb));
		rb.c = c;
		rb.x.st = c->st;
		rb.x.ks = c->ks;
		rb.x.e = c->e;
		fresh.b = *b;
		rb.b = &fresh;
		rc = store_list(c->st, b->space, rebuild_cb, &rb);
		if (rc == CS_ENOENT)
			rc = 0;
		if (rc == 0 && old == NULL &&
		    (nb = realloc(c->bk, (c->nb + 1) * sizeof(*nb))) == NULL)
			rc = CS_ENOMEM;
		else if (rc == 0 && old == NULL)
			c->bk = nb;
		if (rc != 0) {
			bucket_free(&fresh);
			goto out;
		}
	}
	if (old != NULL) {
		size_t i = (size_t)(old - c->bk);

		bucket_free(old);
		memmove(old, old + 1, (c->nb - i - 1) * sizeof(*old));
		c->nb--;
	}
	if (b != NULL) {
		c->bk[c->nb++] = fresh;
		qsort(c->bk, c->nb, sizeof(*c->bk), cmp_bucket);
	}
	c->gen++;
out:
	pthread_rwlock_unlock(&c->lock);
	return rc;
}

int
catalog_refresh_object(struct catalog *c, const char *bucket, const char *name)
{
	struct objio_ctx x;
	struct objio_rd *r = NULL;
	struct cat_bucket b;
	struct cat_object o;
	struct bucket *bk;
	char okey[CATALOG_OKEY_LEN + 1];
	bool hit;
	int rc;

	if ((rc = catalog_bucket_get(c, bucket, &b)) != 0)
		return rc;
	memset(&x, 0, sizeof(x));
	x.st = c->st;
	x.ks = c->ks;
	x.e = c->e;
	catalog_object_key(c, &b, name, okey);
	/* The store is read and the entry set under the write lock, not the
	 * key's lock (a local request may hold that while it waits for this
	 * front-end's ack): a local change of the key commits to the store
	 * before it takes this lock to set its entry, so whichever order the
	 * two take it in, the entry ends up describing the store's object. */
	pthread_rwlock_wrlock(&c->lock);
	rc = objio_open(&x, &b, okey, &r);
	if (rc == 0 && strcmp(objio_meta(r)->name, name) != 0)
		rc = CS_EAUTH; /* not stored under its own name's key */
	if ((bk = find_bucket(c, bucket)) == NULL || strcmp(bk->b.space, b.space) != 0) {
		rc = CS_ENOENT;
	} else if (rc == 0) {
		memset(&o, 0, sizeof(o));
		o.name = objio_meta(r)->name;
		o.size = objio_size(r);
		o.mtime_ms = objio_meta(r)->mtime_ms;
		objio_etag(r, o.etag);
		snprintf(o.ctype, sizeof(o.ctype), "%s",
			 objio_meta(r)->ctype ? objio_meta(r)->ctype : "binary/octet-stream");
		rc = entry_insert(bk, &o);
	} else if (rc == CS_ENOENT || rc == CS_EAUTH) {
		/* Gone, or unreadable as at start-up: not listed. */
		size_t i = find_entry(bk, name, &hit);

		if (hit) {
			free(bk->e[i].name);
			memmove(&bk->e[i], &bk->e[i + 1], (bk->n - i - 1) * sizeof(*bk->e));
			bk->n--;
		}
		rc = 0;
	}
	pthread_rwlock_unlock(&c->lock);
	objio_close(r);
	return rc;
}
