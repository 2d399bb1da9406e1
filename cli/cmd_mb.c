/*
 * cmd_mb: "cryptstore mb s3://BUCKET...": create buckets.  The server
 * labels a new bucket with the session level of the key that creates it;
 * an administrator may ask for another label with --label.
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

enum { OPT_MB_LABEL = CLI_OPT_VERB };

static const struct cli_opt mb_opts[] = {
	{"label", 0, "LABEL", OPT_MB_LABEL},
	{NULL, 0, NULL, 0},
};

static int
mb_run(const struct cli_verb *v, const struct cli_args *a)
{
	struct s3client *cl = NULL;
	struct s3conn *c;
	const char *label = NULL;
	char body[256];
	int rc, result = CLI_EXIT_OK;

	for (size_t i = 0; i < a->nopts; i++)
		if (a->opts[i].id == OPT_MB_LABEL)
			label = a->opts[i].value;
	if (label != NULL && (label[0] == '\0' || strlen(label) > 255 || strpbrk(label, "\r\n")))
		return cli_usage(v, "--label: expected an MLS label such as s2:c1,c3");
	if (a->npos == 0)
		return cli_usage(v, "expected s3://BUCKET");
	for (size_t i = 0; i < a->npos; i++) {
		struct cli_s3addr addr;

		if ((rc = cli_s3addr_parse(v, a->pos[i], &addr)) != 0)
			return rc;
		if (addr.bucket[0] == '\0' || addr.key[0] != '\0')
			return cli_usage(v, "'%s': expected s3://BUCKET", a->pos[i]);
	}
	if ((rc = cli_connect(v, &a->common, &cl)) != 0)
		return rc;
	if ((c = s3client_conn_new(cl)) == NULL) {
		s3client_free(cl);
		fprintf(stderr, "cryptstore: mb: out of memory\n");
		return CLI_EXIT_LOCAL;
	}
	/* S3 wants the region named in the body everywhere but us-east-1. */
	body[0] = '\0';
	if (strcmp(s3client_region(cl), "us-east-1") != 0)
		snprintf(body, sizeof(body),
			 "<CreateBucketConfiguration><LocationConstraint>%s</LocationConstraint>"
			 "</CreateBucketConfiguration>",
			 s3client_region(cl));
	for (size_t i = 0; i < a->npos && !s3client_cancelled(); i++) {
		struct cli_s3addr addr;
		struct s3_hdr h[1] = {{"x-cryptstore-label", label}};
		struct s3_req rq = {.method = "PUT",
				    .hdrs = h,
				    .nhdrs = label ? 1 : 0,
				    .body = body,
				    .body_len = strlen(body)};
		struct s3_resp rs;
		struct s3err e = {0};
		char shown[S3_MAX_KEY + 80];

		if (cli_s3addr_parse(v, a->pos[i], &addr) != 0)
			continue;
		rq.bucket = addr.bucket;
		rc = s3client_do(c, &rq, &rs, &e);
		s3client_resp_free(&rs);
		if (rc != 0) {
			int code =
				cli_fail(v->name, cli_s3addr_str(&addr, shown, sizeof(shown)), &e);

			if (result == CLI_EXIT_OK)
				result = code;
		}
	}
	s3client_conn_free(c);
	s3client_free(cl);
	return result;
}

const struct cli_verb cmd_mb = {
	.name = "mb",
	.summary = "create buckets",
	.usage = "mb [options] s3://BUCKET...",
	.help = "Create each bucket.  It is labelled with the session level of the access key\n"
		"used: only keys at that level can write it, keys at or above it can read it.\n"
		"\n"
		"Options:\n"
		"  --label LABEL           label the bucket LABEL instead (administrators only)\n",
	.opts = mb_opts,
	.run = mb_run,
};
