/*
 * cmd_cp: "cryptstore cp SRC DST": copy between local files (or stdin and
 * stdout) and objects, in either direction, or from object to object.  put
 * and get are cp with the direction fixed; they share cmd_cp_copy().
 */
#include "cmd.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static const struct cli_opt cp_opts[] = {
	{"part-size", 0, "SIZE", CLI_OPT_PART_SIZE},
	{"parts-parallel", 0, "N", CLI_OPT_PARALLEL},
	{"content-type", 0, "TYPE", CLI_OPT_CONTENT_TYPE},
	{"meta", 0, "NAME=VALUE", CLI_OPT_META},
	{NULL, 0, NULL, 0},
};

int
cmd_cp_options(const struct cli_verb *v, const struct cli_args *a, struct cli_xfer *x)
{
	for (size_t i = 0; i < a->nopts; i++) {
		int rc = cli_xfer_option(v, x, &a->opts[i]);

		if (rc == 1)
			return cli_usage(v, "option not handled");
		if (rc != 0)
			return rc;
	}
	return 0;
}

/* dest_key(v, dst, name): a destination key that is empty or ends in '/'
 * names a "directory": the source's name goes after it. */
static int
dest_key(const struct cli_verb *v, struct cli_s3addr *dst, const char *name)
{
	size_t kl = strlen(dst->key), nl = strlen(name);

	if (kl > 0 && dst->key[kl - 1] != '/')
		return 0;
	if (nl == 0 || strcmp(name, "-") == 0)
		return cli_usage(v, "give the destination key in full (s3://%s/KEY)", dst->bucket);
	if (kl + nl > S3_MAX_KEY)
		return cli_usage(v, "key longer than %d bytes", S3_MAX_KEY);
	memcpy(dst->key + kl, name, nl + 1);
	return 0;
}

/* one(v, cl, src, d0, dst, x): copy one source; d0 is the parsed destination
 * when it is s3://, else NULL and dst names the local one.  Returns an exit code. */
static int
one(const struct cli_verb *v, struct s3client *cl, const char *src, const struct cli_s3addr *d0,
    const char *dst, struct cli_xfer *x)
{
	struct cli_s3addr s, d;
	struct s3err e = {0};
	char shown[sizeof(x->label)];
	int rc;

	if (cli_is_s3(src) && (rc = cli_s3addr_parse(v, src, &s)) != 0)
		return rc;
	if (d0 != NULL) {
		d = *d0;
		if ((rc = dest_key(v, &d,
				   cli_is_s3(src) ? transfer_basename(s.key)
						  : transfer_basename(src))) != 0)
			return rc;
	}
	if (cli_is_s3(src) && d0 != NULL) {
		cli_s3addr_str(&d, x->label, sizeof(x->label));
		rc = transfer_copy(cl, s.bucket, s.key, d.bucket, d.key, &x->t, &e);
		cli_s3addr_str(&s, shown, sizeof(shown));
	} else if (d0 != NULL) {
		cli_s3addr_str(&d, x->label, sizeof(x->label));
		rc = transfer_upload(cl, src, d.bucket, d.key, &x->t, &e);
		snprintf(shown, sizeof(shown), "%s", x->label);
	} else {
		cli_s3addr_str(&s, x->label, sizeof(x->label));
		rc = transfer_download(cl, s.bucket, s.key, dst, &x->t, &e);
		snprintf(shown, sizeof(shown), "%s", x->label);
	}
	return rc == 0 ? CLI_EXIT_OK : cli_fail(v->name, shown, &e);
}

int
cmd_cp_copy(const struct cli_verb *v, const struct cli_args *a, char *const *srcs, size_t nsrc,
	    const char *dst, struct cli_xfer *x)
{
	struct cli_s3addr d;
	struct s3client *cl = NULL;
	struct stat st;
	bool s3dst = cli_is_s3(dst);
	size_t dl = strlen(dst);
	int rc, result = CLI_EXIT_OK;

	/* Check every operand before the first byte moves. */
	if (s3dst && (rc = cli_s3addr_parse(v, dst, &d)) != 0)
		return rc;
	if (s3dst && d.bucket[0] == '\0')
		return cli_usage(v, "'%s': expected s3://BUCKET/KEY", dst);
	if (nsrc > 1 && s3dst && d.key[0] != '\0' && d.key[strlen(d.key) - 1] != '/')
		return cli_usage(v, "with several sources, the destination must end in '/'");
	if (nsrc > 1 && !s3dst && strcmp(dst, "-") != 0 && (dl == 0 || dst[dl - 1] != '/') &&
	    !(stat(dst, &st) == 0 && S_ISDIR(st.st_mode)))
		return cli_usage(v, "with several sources, the destination must be a directory");
	if (!s3dst && (x->t.content_type != NULL || x->nmeta > 0))
		return cli_usage(v, "--content-type and --meta apply to uploads only");
	for (size_t i = 0; i < nsrc; i++) {
		struct cli_s3addr s;

		if (!cli_is_s3(srcs[i]) && !s3dst)
			return cli_usage(v, "one of SRC and DST must be an s3:// address");
		if (!cli_is_s3(srcs[i]))
			continue;
		if ((rc = cli_s3addr_parse(v, srcs[i], &s)) != 0)
			return rc;
		if (s.bucket[0] == '\0' || s.key[0] == '\0')
			return cli_usage(v, "'%s': expected s3://BUCKET/KEY", srcs[i]);
	}
	if ((rc = cli_connect(v, &a->common, &cl)) != 0)
		return rc;
	for (size_t i = 0; i < nsrc && !s3client_cancelled(); i++) {
		/* Each failure is reported; the first one decides the exit code. */
		rc = one(v, cl, srcs[i], s3dst ? &d : NULL, dst, x);
		if (rc != CLI_EXIT_OK && result == CLI_EXIT_OK)
			result = rc;
	}
	if (s3client_cancelled() && result == CLI_EXIT_OK)
		result = CLI_EXIT_INTR;
	s3client_free(cl);
	return result;
}

static int
cp_run(const struct cli_verb *v, const struct cli_args *a)
{
	struct cli_xfer x;
	int rc;

	if (a->npos < 2)
		return cli_usage(v, "expected SRC and DST");
	cli_xfer_init(&x, &a->common);
	if ((rc = cmd_cp_options(v, a, &x)) != 0)
		return rc;
	return cmd_cp_copy(v, a, a->pos, a->npos - 1, a->pos[a->npos - 1], &x);
}

const struct cli_verb cmd_cp = {
	.name = "cp",
	.summary = "copy between local files, stdin/stdout and objects",
	.usage = "cp [options] SRC... DST",
	.help = "Copy SRC to DST, where each is a local path, '-' (stdin as SRC, stdout as\n"
		"DST) or s3://BUCKET/KEY, and at least one is s3://.  With several SRCs, DST is\n"
		"a directory or a prefix ending in '/'.  Local to s3 is put, s3 to\n"
		"local is get (see their help).  s3 to s3 goes through this client, the server\n"
		"having no CopyObject: ranged GETs of the source feed a parallel multipart\n"
		"upload, and the source's Content-Type and metadata are kept unless\n"
		"--content-type or --meta replace them.\n"
		"\n"
		"Options:\n" CLI_XFER_HELP CLI_UPLOAD_HELP,
	.opts = cp_opts,
	.run = cp_run,
};
