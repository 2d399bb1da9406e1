/*
 * cmd_stat: "cryptstore stat s3://BUCKET[/KEY]...": an object's size, ETag,
 * Content-Type, Last-Modified and metadata (HEAD), or whether a bucket
 * exists and its region.
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>

static int
stat_object(struct s3conn *c, const struct cli_s3addr *a, struct s3err *e)
{
	struct s3_req rq = {.method = "HEAD", .bucket = a->bucket, .key = a->key};
	struct s3_resp rs;
	char shown[S3_MAX_KEY + 80];

	if (s3client_do(c, &rq, &rs, e) != 0) {
		s3client_resp_free(&rs);
		return -1;
	}
	printf("Object: %s\n", cli_s3addr_str(a, shown, sizeof(shown)));
	printf("Size: %lld\n", (long long)rs.content_length);
	printf("ETag: %s\n", rs.etag);
	printf("Content-Type: %s\n", rs.content_type);
	printf("Last-Modified: %s\n", rs.last_modified);
	for (size_t i = 0; i < rs.nmeta; i++) {
		const char *n, *v;

		s3client_resp_meta(&rs, i, &n, &v);
		printf("Metadata: %s=%s\n", n, v);
	}
	s3client_resp_free(&rs);
	return 0;
}

static int
stat_bucket(struct s3conn *c, const struct cli_s3addr *a, struct s3err *e)
{
	struct s3_req rq = {.method = "HEAD", .bucket = a->bucket};
	struct s3_resp rs;
	char loc[64] = "";

	if (s3client_do(c, &rq, &rs, e) != 0) {
		s3client_resp_free(&rs);
		return -1;
	}
	s3client_resp_free(&rs);
	rq = (struct s3_req){.method = "GET", .bucket = a->bucket, .query = "location="};
	if (s3client_do(c, &rq, &rs, e) != 0) {
		s3client_resp_free(&rs);
		return -1;
	}
	if (rs.body == NULL ||
	    s3client_xml_get(rs.body, rs.body_len, "LocationConstraint", loc, sizeof(loc)) < 0)
		loc[0] = '\0';
	s3client_resp_free(&rs);
	printf("Bucket: %s\n", a->bucket);
	/* An empty LocationConstraint is us-east-1, as in S3. */
	printf("Region: %s\n", loc[0] ? loc : "us-east-1");
	return 0;
}

static int
stat_run(const struct cli_verb *v, const struct cli_args *a)
{
	struct s3client *cl = NULL;
	struct s3conn *c;
	int rc, result = CLI_EXIT_OK;

	if (a->npos == 0)
		return cli_usage(v, "expected s3://BUCKET[/KEY]");
	for (size_t i = 0; i < a->npos; i++) {
		struct cli_s3addr addr;

		if ((rc = cli_s3addr_parse(v, a->pos[i], &addr)) != 0)
			return rc;
		if (addr.bucket[0] == '\0')
			return cli_usage(v, "'%s': expected s3://BUCKET[/KEY]", a->pos[i]);
	}
	if ((rc = cli_connect(v, &a->common, &cl)) != 0)
		return rc;
	if ((c = s3client_conn_new(cl)) == NULL) {
		s3client_free(cl);
		fprintf(stderr, "cryptstore: stat: out of memory\n");
		return CLI_EXIT_LOCAL;
	}
	for (size_t i = 0; i < a->npos; i++) {
		struct cli_s3addr addr;
		struct s3err e = {0};
		char shown[S3_MAX_KEY + 80];

		if (cli_s3addr_parse(v, a->pos[i], &addr) != 0)
			continue;
		if (i > 0)
			printf("\n");
		rc = addr.key[0] ? stat_object(c, &addr, &e) : stat_bucket(c, &addr, &e);
		if (rc != 0) {
			int code =
				cli_fail(v->name, cli_s3addr_str(&addr, shown, sizeof(shown)), &e);

			if (result == CLI_EXIT_OK)
				result = code;
		}
	}
	if (fflush(stdout) != 0 && result == CLI_EXIT_OK) {
		perror("cryptstore: stat: writing to stdout");
		result = CLI_EXIT_LOCAL;
	}
	s3client_conn_free(c);
	s3client_free(cl);
	return result;
}

const struct cli_verb cmd_stat = {
	.name = "stat",
	.summary = "show an object's size, ETag, type, date and metadata",
	.usage = "stat [options] s3://BUCKET[/KEY]...",
	.help = "For each object, print its Size, ETag, Content-Type, Last-Modified and user\n"
		"metadata (one 'Metadata: NAME=VALUE' line each).  For a bucket, print its\n"
		"name and region if this key may read it.\n",
	.opts = NULL,
	.run = stat_run,
};
