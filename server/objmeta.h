/*
 * objmeta: the metadata sealed inside every object's header (format's
 * metadata record): object name, content type, ETag, modification time and
 * the user's x-amz-meta-* pairs.  Encoded as tagged, length-prefixed fields
 * so that fields can be added without a format change; decoding checks every
 * length and rejects unknown magic.
 */
#ifndef CS_OBJMETA_H
#define CS_OBJMETA_H

#include <stddef.h>
#include <stdint.h>

#define OBJMETA_PAIRS_MAX 64
#define OBJMETA_MAX       16384 /* = FORMAT_META_MAX */

struct objmeta_pair {
	char *key; /* lowercase, without the x-amz-meta- prefix */
	char *value;
};

struct objmeta {
	char *name;
	char *ctype; /* may be NULL */
	char *etag;  /* quoted */
	int64_t mtime_ms;
	size_t npairs;
	struct objmeta_pair pairs[OBJMETA_PAIRS_MAX];
};

/*
 * objmeta_encode(m, out, outlen): serialise m into a malloc'ed buffer.
 * Returns 0, CS_ERANGE if it exceeds OBJMETA_MAX (S3's 2 KiB user metadata
 * limit is enforced by the caller), or CS_ENOMEM.
 */
int objmeta_encode(const struct objmeta *m, uint8_t **out, size_t *outlen)
	__attribute__((warn_unused_result));

/* objmeta_decode(b, n, m): parse into m (strings malloc'ed; objmeta_clear()
 * releases them).  CS_EINVAL for malformed input. */
int objmeta_decode(const uint8_t *b, size_t n, struct objmeta *m)
	__attribute__((warn_unused_result));

/* objmeta_clear(m): free m's strings and zero it. */
void objmeta_clear(struct objmeta *m);

#endif /* CS_OBJMETA_H */
