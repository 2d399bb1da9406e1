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

struct conn;

/* s3api_handle(c): authenticate, authorise and serve the request of c. */
void s3api_handle(struct conn *c);

#endif /* CS_S3API_H */
