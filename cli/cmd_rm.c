/*
 * cmd_rm: "cryptstore rm s3://BUCKET/KEY...": delete objects, or with
 * --recursive every object under a prefix (DeleteObjects, 1000 keys a
 * request).
 */
#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "s3list.h"

#define RM_BATCH    1000
#define RM_BODY_MAX (1u << 20) /* the server's limit on a DeleteObjects body */

enum { OPT_RM_RECURSIVE = CLI_OPT_RECURSIVE };

static const struct cli_opt rm_opts[] = {
	{"recursive", 'r', NULL, OPT_RM_RECURSIVE},
	{NULL, 0, NULL, 0},
};

struct batch {
	struct s3conn *c;
	const char *bucket;
	const char *verb;
	char *body;
	size_t len, n;
	bool partial;       /* some key could not be deleted */
	struct s3err first; /* the first such key's error */
};

/* xml_escape(b, s): append s with the XML specials and control bytes escaped. */
static void
xml_escape(struct batch *b, const char *s)
{
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		switch (c) {
		case '&':
			b->len += (size_t)sprintf(b->body + b->len, "&amp;");
			break;
		case '<':
			b->len += (size_t)sprintf(b->body + b->len, "&lt;");
			break;
		case '>':
			b->len += (size_t)sprintf(b->body + b->len, "&gt;");
			break;
		case '"':
			b->len += (size_t)sprintf(b->body + b->len, "&quot;");
			break;
		case '\'':
			b->len += (size_t)sprintf(b->body + b->len, "&apos;");
			break;
		default:
			if (c < 0x20 || c == 0x7f)
				b->len += (size_t)sprintf(b->body + b->len, "&#x%X;", c);
			else
				b->body[b->len++] = (char)c;
			break;
		}
	}
}

/* flush(b, e): one DeleteObjects for the keys collected so far. */
static int
flush(struct batch *b, struct s3err *e)
{
	uint8_t md5[16];
	char b64[25];
	struct s3_hdr h[1];
	struct s3_req rq = {0};
	struct s3_resp rs;
	struct s3err le;
	const char *v;
	size_t vl, pos = 0;
	int rc;

	if (b->n == 0)
		return 0;
	b->len += (size_t)sprintf(b->body + b->len, "</Delete>");
	if (s3client_md5_b64(b->body, b->len, md5, b64) != 0)
		return s3err_set(e, S3E_LOCAL, NULL, "MD5 failed");
	h[0] = (struct s3_hdr){"content-md5", b64};
	rq = (struct s3_req){.method = "POST",
			     .bucket = b->bucket,
			     .query = "delete=",
			     .hdrs = h,
			     .nhdrs = 1,
			     .body = b->body,
			     .body_len = b->len};
	if ((rc = s3client_do(b->c, &rq, &rs, &le)) != 0)
		*e = le;
	while (rc == 0 && rs.body != NULL &&
	       s3client_xml_next(rs.body, rs.body_len, "Error", &pos, &v, &vl)) {
		char key[S3_MAX_KEY + 1], code[64], msg[256], target[S3_MAX_KEY + 80];

		if (s3client_xml_get(v, vl, "Key", key, sizeof(key)) < 0)
			snprintf(key, sizeof(key), "?");
		if (s3client_xml_get(v, vl, "Code", code, sizeof(code)) < 0)
			code[0] = '\0';
		if (s3client_xml_get(v, vl, "Message", msg, sizeof(msg)) < 0)
			msg[0] = '\0';
		snprintf(target, sizeof(target), "s3://%s/%s", b->bucket, key);
		fprintf(stderr, "cryptstore: %s %s: %s: %s\n", b->verb, target, code, msg);
		if (!b->partial)
			s3err_set(&b->first, S3E_SERVER, code, "some keys were not deleted");
		b->partial = true;
	}
	s3client_resp_free(&rs);
	b->n = 0;
	b->len = (size_t)sprintf(b->body, "<Delete><Quiet>true</Quiet>");
	return rc;
}

static int
collect(void *arg, const struct s3list_entry *ent, struct s3err *e)
{
	struct batch *b = arg;

	/* A key escapes to at most 6 bytes a byte (&#x1F;), plus the tags. */
	if (b->n == RM_BATCH || b->len + strlen(ent->name) * 6 + 64 > RM_BODY_MAX)
		if (flush(b, e) != 0)
			return -1;
	b->len += (size_t)sprintf(b->body + b->len, "<Object><Key>");
	xml_escape(b, ent->name);
	b->len += (size_t)sprintf(b->body + b->len, "</Key></Object>");
	b->n++;
	return 0;
}

int
cmd_rm_prefix(struct s3conn *c, const char *bucket, const char *prefix, const char *verb,
	      struct s3err *e)
{
	struct batch b = {c, bucket, verb, malloc(RM_BODY_MAX + 64), 0, 0, false, {0}};
	int rc;

	if (b.body == NULL)
		return s3err_set(e, S3E_LOCAL, NULL, "out of memory");
	b.len = (size_t)sprintf(b.body, "<Delete><Quiet>true</Quiet>");
	rc = s3list_objects(c, bucket, prefix, NULL, collect, &b, e);
	if (rc == 0)
		rc = flush(&b, e);
	if (rc == 0 && b.partial) {
		*e = b.first;
		rc = -1;
	}
	free(b.body);
	return rc;
}

static int
rm_run(const struct cli_verb *v, const struct cli_args *a)
{
	struct s3client *cl = NULL;
	struct s3conn *c;
	bool recursive = false;
	int rc, result = CLI_EXIT_OK;

	for (size_t i = 0; i < a->nopts; i++)
		if (a->opts[i].id == OPT_RM_RECURSIVE)
			recursive = true;
	if (a->npos == 0)
		return cli_usage(v, "expected s3://BUCKET/KEY");
	for (size_t i = 0; i < a->npos; i++) {
		struct cli_s3addr addr;

		if ((rc = cli_s3addr_parse(v, a->pos[i], &addr)) != 0)
			return rc;
		if (addr.bucket[0] == '\0' || (!recursive && addr.key[0] == '\0'))
			return cli_usage(v, "'%s': expected s3://BUCKET/KEY%s", a->pos[i],
					 recursive ? "" : " (or --recursive for a prefix)");
	}
	if ((rc = cli_connect(v, &a->common, &cl)) != 0)
		return rc;
	if ((c = s3client_conn_new(cl)) == NULL) {
		s3client_free(cl);
		fprintf(stderr, "cryptstore: rm: out of memory\n");
		return CLI_EXIT_LOCAL;
	}
	for (size_t i = 0; i < a->npos && !s3client_cancelled(); i++) {
		struct cli_s3addr addr;
		struct s3err e = {0};
		char shown[S3_MAX_KEY + 80];

		if (cli_s3addr_parse(v, a->pos[i], &addr) != 0)
			continue; /* checked above */
		if (recursive) {
			rc = cmd_rm_prefix(c, addr.bucket, addr.key, v->name, &e);
		} else {
			struct s3_req rq = {
				.method = "DELETE", .bucket = addr.bucket, .key = addr.key};
			struct s3_resp rs;

			rc = s3client_do(c, &rq, &rs, &e);
			s3client_resp_free(&rs);
		}
		/* The first failure decides the exit code; the others are reported too. */
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

const struct cli_verb cmd_rm = {
	.name = "rm",
	.summary = "delete objects (or everything under a prefix)",
	.usage = "rm [options] s3://BUCKET/KEY...",
	.help = "Delete each object named.  Deleting a key that does not exist succeeds, as\n"
		"in S3.  With --recursive, each address is a prefix and every key under it is\n"
		"deleted (s3://BUCKET alone: every key in the bucket).\n"
		"\n"
		"Options:\n"
		"  -r, --recursive         delete every key under each prefix\n",
	.opts = rm_opts,
	.run = rm_run,
};
