/*
 * transfer: moving object data between local files (or stdin/stdout) and
 * the server, in parallel where that helps, and checking that what arrived
 * is what was sent.
 *
 *   upload:   a file larger than one part, and any stream that fills its
 *             first part, goes up as a multipart upload whose parts are
 *             read and sent by parallel workers; every part (and a single
 *             PUT) carries Content-MD5, so the server refuses damaged data,
 *             and the ETag it answers is checked against our MD5.  A failed
 *             upload is aborted so that no parts are left behind.
 *   download: an object larger than one part going to a regular file is
 *             fetched as parallel Range GETs into a temporary file next to
 *             the destination, which is renamed into place only once the
 *             length and, for a single-part ETag, the MD5 have been checked.
 *             Streams (stdout, pipes, devices) get one sequential GET.
 *   copy:     s3 to s3 through this client (the server has no CopyObject):
 *             ranged GETs of the source feed the parts of the upload.
 */
#ifndef CS_CLI_TRANSFER_H
#define CS_CLI_TRANSFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3client.h"

#define TRANSFER_MIN_PART      (5ull << 20) /* S3: every part but the last */
#define TRANSFER_MAX_PART      (5ull << 30)
#define TRANSFER_DEFAULT_PART  (8ull << 20)
#define TRANSFER_MAX_PARTS     10000
#define TRANSFER_DEFAULT_PAR   4
#define TRANSFER_MAX_PAR       64
#define TRANSFER_MAX_META_HDRS 16

struct transfer_opts {
	uint64_t part_size; /* bytes per part or range */
	int parallel;       /* parts in flight at once */
	bool quiet;         /* no progress bar */
	const char *label;  /* the progress bar's label */
	/* Uploads only.  NULL / 0: guess the type from the file name (uploads),
	 * keep the source's type and metadata (copies). */
	const char *content_type;
	const struct s3_hdr *meta; /* "x-amz-meta-NAME" headers, names lowercase */
	size_t nmeta;
};

/*
 * transfer_upload(cl, path, bucket, key, o, e): upload the local file path,
 * or standard input when path is "-".  Returns 0, or -1 with *e filled.
 */
int transfer_upload(struct s3client *cl, const char *path, const char *bucket, const char *key,
		    const struct transfer_opts *o, struct s3err *e)
	__attribute__((warn_unused_result));

/*
 * transfer_download(cl, bucket, key, path, o, e): download the object to
 * path ("-": standard output; an existing directory or a path ending in '/':
 * the key's last segment in it).  Returns 0, or -1 with *e filled; on
 * failure a regular destination file is left as it was.
 */
int transfer_download(struct s3client *cl, const char *bucket, const char *key, const char *path,
		      const struct transfer_opts *o, struct s3err *e)
	__attribute__((warn_unused_result));

/*
 * transfer_copy(cl, sbucket, skey, dbucket, dkey, o, e): copy an object
 * (data, type and metadata unless o replaces them).  Returns 0 or -1.
 */
int transfer_copy(struct s3client *cl, const char *sbucket, const char *skey, const char *dbucket,
		  const char *dkey, const struct transfer_opts *o, struct s3err *e)
	__attribute__((warn_unused_result));

/* transfer_basename(key): the part of key after its last '/' (may be ""). */
const char *transfer_basename(const char *key);

#endif /* CS_CLI_TRANSFER_H */
