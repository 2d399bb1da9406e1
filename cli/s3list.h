/*
 * s3list: the listings, page by page: ListBuckets, and ListObjectsV2 with
 * continuation tokens (so any number of keys), keys and prefixes asked for
 * URL-encoded so that a key with characters XML cannot carry still comes
 * back intact.  Entries of one page reach the callback in key order,
 * objects and common prefixes merged.
 */
#ifndef CS_CLI_S3LIST_H
#define CS_CLI_S3LIST_H

#include <stdbool.h>
#include <stdint.h>

#include "s3client.h"

struct s3list_entry {
	const char *name;          /* key, common prefix, or bucket name */
	bool is_prefix;            /* a common prefix (a "directory") */
	uint64_t size;             /* objects */
	const char *last_modified; /* objects: LastModified; buckets: CreationDate */
	const char *etag;          /* objects */
};

/* Called for each entry; return 0 to go on, or -1 (with *e filled) to stop. */
typedef int (*s3list_fn)(void *arg, const struct s3list_entry *ent, struct s3err *e);

/*
 * s3list_objects(c, bucket, prefix, delimiter, fn, arg, e): list the keys of
 * bucket under prefix ("" for all); with a delimiter ("/"), keys past it
 * are rolled up into common prefixes.  Returns 0 or -1 with *e filled.
 */
int s3list_objects(struct s3conn *c, const char *bucket, const char *prefix, const char *delimiter,
		   s3list_fn fn, void *arg, struct s3err *e) __attribute__((warn_unused_result));

/* s3list_buckets(c, fn, arg, e): the buckets the session may read. */
int s3list_buckets(struct s3conn *c, s3list_fn fn, void *arg, struct s3err *e)
	__attribute__((warn_unused_result));

#endif /* CS_CLI_S3LIST_H */
