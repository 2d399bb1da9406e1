/*
 * s3xml: reading the two XML request bodies the S3 subset takes:
 * CompleteMultipartUpload (parts and their ETags) and DeleteObjects (keys).
 * A small, strict scanner, not a general XML parser: elements, text with
 * the five predefined entities and numeric character references, an
 * optional XML declaration; no DTDs, no CDATA, no processing instructions
 * besides the declaration.  Anything else is MalformedXML.
 */
#ifndef CS_S3XML_H
#define CS_S3XML_H

#include <stdbool.h>
#include <stddef.h>

#define S3XML_MAX_BODY  (1u << 20) /* larger bodies are refused before parsing */
#define S3XML_MAX_ITEMS 10000      /* parts or keys */

struct s3xml_part {
	unsigned number;
	char etag[80]; /* without quotes */
};

/* s3xml_complete(body, n, parts, nparts): parse CompleteMultipartUpload.
 * *parts is malloc'ed.  Returns 0 or CS_EINVAL (MalformedXML). */
int s3xml_complete(const char *body, size_t n, struct s3xml_part **parts, size_t *nparts)
	__attribute__((warn_unused_result));

/* s3xml_delete(body, n, keys, nkeys, quiet): parse Delete.  *keys is an
 * array of malloc'ed strings (free each, then the array). */
int s3xml_delete(const char *body, size_t n, char ***keys, size_t *nkeys, bool *quiet)
	__attribute__((warn_unused_result));

#endif /* CS_S3XML_H */
