/*
 * creds: where the CLI's access key, secret, region and endpoint come from,
 * in the order aws-cli uses:
 *
 *   access key and secret: with --profile, that profile only; else
 *       AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY, else the profile
 *       AWS_PROFILE (or "default") of the credentials file
 *       (AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials), then of the
 *       config file (AWS_CONFIG_FILE, ~/.aws/config, "[profile NAME]");
 *   region: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile's
 *       "region", us-east-1;
 *   endpoint: --endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the
 *       profile's "endpoint_url", http://127.0.0.1:9000.
 *
 * The secret is kept in secure memory (lib/util/secmem) and every buffer a
 * credentials file passed through is wiped.
 */
#ifndef CS_CLI_CREDS_H
#define CS_CLI_CREDS_H

#include <stddef.h>
#include <stdint.h>

#include "s3/sigv4.h"

#define CREDS_DEFAULT_ENDPOINT "http://127.0.0.1:9000"
#define CREDS_DEFAULT_REGION   "us-east-1"
#define CREDS_MAX_ENDPOINT     1024
#define CREDS_MAX_FILE         (1u << 20) /* larger credentials or config files are refused */

/* What the command line said; NULL for what it did not. */
struct creds_opts {
	const char *profile;
	const char *region;
	const char *endpoint;
};

struct creds {
	char akid[SIGV4_MAX_AKID + 1];
	uint8_t *secret; /* secure memory, secret_len bytes; NULL before creds_load() */
	size_t secret_len;
	char region[SIGV4_MAX_REGION + 1];
	char endpoint[CREDS_MAX_ENDPOINT];
	char source[4200]; /* where the keys came from, for messages */
};

/* How creds_load() fails. */
enum creds_err {
	CREDS_ENOKEYS = -1, /* no usable keys: none set, a named profile missing, malformed */
	CREDS_EBAD = -2,    /* a malformed setting: profile name, region, endpoint */
	CREDS_EIO = -3,     /* a credentials or config file cannot be read */
};

/*
 * creds_load(o, c, why, whysz): resolve everything above into *c.  Returns 0
 * or an enum creds_err with a message in why.  Release *c with
 * creds_clear() in either case.
 */
int creds_load(const struct creds_opts *o, struct creds *c, char *why, size_t whysz)
	__attribute__((warn_unused_result));

/* creds_clear(c): wipe and free the secret and zero *c.  NULL is a no-op. */
void creds_clear(struct creds *c);

#endif /* CS_CLI_CREDS_H */
