/*
 * s3api: the S3 operations cryptstored serves (docs/PROTOCOL.md), with
 * Signature V4 authentication and the MLS policy:
 *   read (GET, HEAD, list)  needs the session level to dominate the bucket's label;
 *   write (PUT, DELETE, multipart)  needs the session level to equal it;
 *   ListBuckets shows only buckets the session may read.
 * Every denial answers AccessDenied and is logged with "DENY".
 */
#ifndef CS_S3API_H
#define CS_S3API_H

#include <stdbool.h>

struct conn;
struct server;

/* s3api_handle(c): authenticate, authorise and serve the request of c. */
void s3api_handle(struct conn *c);

/*
 * s3api_bucket_create(srv, name, label, new_level): create the level's key if
 * it has none (*new_level says so), then the bucket (CS_EEXIST if it exists).
 * s3api_bucket_delete(srv, name): CS_ENOENT, or CS_EEXIST if not empty.  Called by the S3
 * operations, and by the parent of the process model for its children.
 */
int s3api_bucket_create(struct server *srv, const char *name, const char *label, bool *new_level)
	__attribute__((warn_unused_result));
int s3api_bucket_delete(struct server *srv, const char *name) __attribute__((warn_unused_result));

#endif /* CS_S3API_H */
