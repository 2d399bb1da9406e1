/*
 * cmd_rb: "cryptstore rb s3://BUCKET...": delete buckets, which must be
 * empty unless --force deletes their objects first.
 */
#include "cmd.h"

#include <stdio.h>

enum { OPT_RB_FORCE = CLI_OPT_VERB };

static const struct cli_opt rb_opts[] = {
	{"force", 'f', NULL, OPT_RB_FORCE},
	{NULL, 0, NULL, 0},
};

static int
rb_run(const struct cli_verb *v, const struct cli_args *a)
{
	struct s3client *cl = NULL;
	struct s3conn *c;
	bool force = false;
	int rc, result = CLI_EXIT_OK;

	for (size_t i = 0; i < a->nopts; i++)
		if (a->opts[i].id == OPT_RB_FORCE)
			force = true;
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
		fprintf(stderr, "cryptstore: rb: out of memory\n");
		return CLI_EXIT_LOCAL;
	}
	for (size_t i = 0; i < a->npos && !s3client_cancelled(); i++) {
		struct cli_s3addr addr;
		struct s3_req rq = {.method = "DELETE"};
		struct s3_resp rs;
		struct s3err e = {0};
		char shown[S3_MAX_KEY + 80];

		if (cli_s3addr_parse(v, a->pos[i], &addr) != 0)
			continue;
		rq.bucket = addr.bucket;
		rc = force ? cmd_rm_prefix(c, addr.bucket, "", v->name, &e) : 0;
		if (rc == 0) {
			rc = s3client_do(c, &rq, &rs, &e);
			s3client_resp_free(&rs);
		}
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

const struct cli_verb cmd_rb = {
	.name = "rb",
	.summary = "delete empty buckets",
	.usage = "rb [options] s3://BUCKET...",
	.help = "Delete each bucket.  A bucket that still holds objects is refused\n"
		"(BucketNotEmpty) unless --force; its open multipart uploads go with it.\n"
		"\n"
		"Options:\n"
		"  -f, --force             delete every object in the bucket first\n",
	.opts = rb_opts,
	.run = rb_run,
};
