/*
 * catalog: the server's knowledge of buckets and objects.
 *
 *   buckets  name -> MLS label, store space id, creation time; persisted as
 *            one record sealed under the keystore ("catalog") in the
 *            store's "sys" space, rewritten atomically on every change;
 *   objects  per bucket, an in-memory sorted index name -> size, ETag,
 *            time, content type; rebuilt at start-up from the objects
 *            themselves (their encrypted metadata), so it cannot disagree
 *            with what is stored.
 *
 * An object's store key is a keyed hash of (bucket space, name) under the
 * keystore's name key: names never reach the store, and the same name
 * always maps to the same key, so an overwrite is the store's atomic
 * replace.
 *
 * Thread safety: every function takes the catalogue's lock.
 */
#ifndef CS_CATALOG_H
#define CS_CATALOG_H

#include <stdbool.h>
#include <stdint.h>

#include "label/label.h"

#define CATALOG_BUCKET_MAX 63
#define CATALOG_KEY_MAX    1024
#define CATALOG_SPACE_LEN  32
#define CATALOG_OKEY_LEN   64
#define CATALOG_ETAG_MAX   48
#define CATALOG_CTYPE_MAX  256

struct store;
struct keystore;
struct engine;
struct catalog;

struct cat_bucket {
	char name[CATALOG_BUCKET_MAX + 1];
	char label_text[LABEL_STR_MAX];
	struct label label;
	char space[CATALOG_SPACE_LEN + 1];
	int64_t created; /* seconds since the epoch */
};

/* What the index keeps of an object (the rest is in its encrypted metadata). */
struct cat_object {
	const char *name; /* owned by the catalogue */
	uint64_t size;
	int64_t mtime_ms;
	char etag[CATALOG_ETAG_MAX + 1]; /* quoted, as sent in HTTP */
	char ctype[CATALOG_CTYPE_MAX + 1];
};

/*
 * catalog_open(out, st, ks, e, why, whylen): load the bucket catalogue and
 * rebuild every bucket's object index (opening each object's header with
 * engine e).  Objects that do not open (destroyed level keys, damage) are
 * counted in *unreadable (may be NULL) and left out of the index.
 */
int catalog_open(struct catalog **out, struct store *st, struct keystore *ks, struct engine *e,
		 uint64_t *unreadable, char *why, size_t whylen)
	__attribute__((warn_unused_result));

void catalog_close(struct catalog *c);

/* catalog_bucket_name_ok(name): S3's bucket naming rules (3-63 of a-z 0-9 . -). */
bool catalog_bucket_name_ok(const char *name);

/* catalog_bucket_create(c, name, label_text): CS_EEXIST if it exists. */
int catalog_bucket_create(struct catalog *c, const char *name, const char *label_text)
	__attribute__((warn_unused_result));

/* catalog_bucket_delete(c, name): CS_ENOENT, or CS_EEXIST if not empty. */
int catalog_bucket_delete(struct catalog *c, const char *name) __attribute__((warn_unused_result));

/* catalog_bucket_get(c, name, out): CS_ENOENT if there is no such bucket. */
int catalog_bucket_get(struct catalog *c, const char *name, struct cat_bucket *out)
	__attribute__((warn_unused_result));

/* catalog_buckets(c, cb, arg): every bucket in name order. */
void catalog_buckets(struct catalog *c, void (*cb)(void *arg, const struct cat_bucket *b),
		     void *arg);

/* catalog_object_key(c, b, name, out): the store key of name in bucket b. */
void catalog_object_key(struct catalog *c, const struct cat_bucket *b, const char *name,
			char out[CATALOG_OKEY_LEN + 1]);

/* catalog_object_get(c, bucket, name, out): copy an index entry (out->name
 * is set to NULL); CS_ENOENT if absent. */
int catalog_object_get(struct catalog *c, const char *bucket, const char *name,
		       struct cat_object *out) __attribute__((warn_unused_result));

/* catalog_object_put(c, bucket, o): insert or replace an index entry. */
int catalog_object_put(struct catalog *c, const char *bucket, const struct cat_object *o)
	__attribute__((warn_unused_result));

/* catalog_object_del(c, bucket, name): remove an index entry; CS_ENOENT if absent. */
int catalog_object_del(struct catalog *c, const char *bucket, const char *name)
	__attribute__((warn_unused_result));

/*
 * catalog_list(c, bucket, prefix, delimiter, after, max, cb, arg): S3
 * listing semantics.  Walks names > after (byte order) that start with
 * prefix; with a delimiter, names containing it after the prefix roll up
 * into one common prefix each.  Calls cb(arg, o, NULL) for each object and
 * cb(arg, NULL, common_prefix) for each common prefix, at most max entries
 * in all.  *truncated says whether more remain; *next is the last name or
 * prefix returned (malloc'ed; free it), for a continuation token.
 */
int catalog_list(struct catalog *c, const char *bucket, const char *prefix, const char *delimiter,
		 const char *after, unsigned max,
		 void (*cb)(void *arg, const struct cat_object *o, const char *common_prefix),
		 void *arg, bool *truncated, char **next) __attribute__((warn_unused_result));

/*
 * catalog_lock_key(c, okey) / catalog_unlock_key(c, okey): serialise the
 * store commit or delete of one object with its index update, so that when
 * two requests race on a key the index ends up describing the object the
 * store ends up holding.  Striped: unrelated keys rarely share a lock.
 */
void catalog_lock_key(struct catalog *c, const char *okey);
void catalog_unlock_key(struct catalog *c, const char *okey);

/* catalog_object_count(c, bucket): objects in the index of bucket. */
uint64_t catalog_object_count(struct catalog *c, const char *bucket);

/* catalog_bucket_usage(c, bucket, bytes): objects in the index of bucket,
 * and their plaintext bytes in *bytes. */
uint64_t catalog_bucket_usage(struct catalog *c, const char *bucket, uint64_t *bytes);

/*
 * Several front-ends on one store (store = rados): each changes its own
 * index and tells the others (cluster.c), which then re-read what changed.
 *
 * catalog_set_notify(c, fn, arg): call fn(arg, bucket, name) after every
 * change made through this catalogue: an object's entry put or deleted
 * (name set) or a bucket created or deleted (name NULL).  fn runs on the
 * changing thread with no catalogue lock held.
 */
void catalog_set_notify(struct catalog *c,
			void (*fn)(void *arg, const char *bucket, const char *name), void *arg);

/*
 * catalog_refresh_buckets(c): re-read the bucket record from the store:
 * buckets new to this front-end are indexed from the store, deleted ones
 * are dropped, the others keep their index.  On failure c is unchanged.
 * Uses catalog_open's engine: call it from one thread only (the cluster
 * thread), like catalog_refresh_object.
 */
int catalog_refresh_buckets(struct catalog *c) __attribute__((warn_unused_result));

/*
 * catalog_bucket_apply(c, name, b): take in a bucket change that another
 * process of this server made and saved (model = process), without reading
 * the sealed record: b NULL drops bucket name; otherwise b is added (or
 * replaces a bucket of that name in another space) and indexed from the
 * store; a bucket known with the same space keeps its index.  On failure c
 * is unchanged.  Uses catalog_open's engine, like catalog_refresh_object.
 */
int catalog_bucket_apply(struct catalog *c, const char *name, const struct cat_bucket *b)
	__attribute__((warn_unused_result));

/*
 * catalog_refresh_object(c, bucket, name): re-read one object's index entry
 * from the store: inserted or replaced if the object is there and opens,
 * removed if it is gone or does not open.  CS_ENOENT if no such bucket.
 */
int catalog_refresh_object(struct catalog *c, const char *bucket, const char *name)
	__attribute__((warn_unused_result));

#endif /* CS_CATALOG_H */
