/*
 * cmd_put: "cryptstore put LOCAL|- s3://BUCKET/KEY": upload a file, or
 * standard input, as one object (several files: under one prefix).
 */
#include "cmd.h"

static const struct cli_opt put_opts[] = {
	{"part-size", 0, "SIZE", CLI_OPT_PART_SIZE},
	{"parts-parallel", 0, "N", CLI_OPT_PARALLEL},
	{"content-type", 0, "TYPE", CLI_OPT_CONTENT_TYPE},
	{"meta", 0, "NAME=VALUE", CLI_OPT_META},
	{NULL, 0, NULL, 0},
};

static int
put_run(const struct cli_verb *v, const struct cli_args *a)
{
	struct cli_xfer x;
	int rc;

	if (a->npos < 2)
		return cli_usage(v, "expected a local file (or -) and an s3:// address");
	for (size_t i = 0; i + 1 < a->npos; i++)
		if (cli_is_s3(a->pos[i]))
			return cli_usage(v, "the sources must be local files or '-'; for s3 to s3 "
					    "use cp");
	if (!cli_is_s3(a->pos[a->npos - 1]))
		return cli_usage(v, "the destination must be an s3:// address");
	cli_xfer_init(&x, &a->common);
	if ((rc = cmd_cp_options(v, a, &x)) != 0)
		return rc;
	return cmd_cp_copy(v, a, a->pos, a->npos - 1, a->pos[a->npos - 1], &x);
}

const struct cli_verb cmd_put = {
	.name = "put",
	.summary = "upload a local file or stdin to an object",
	.usage = "put [options] LOCAL|-... s3://BUCKET/KEY",
	.help = "Upload the file LOCAL, or standard input for '-', to s3://BUCKET/KEY.  A KEY\n"
		"that is empty or ends in '/' gets the file's name appended (several files:\n"
		"the destination must end in '/').  Files larger\n"
		"than one part, and input that fills one part, go up as a multipart upload\n"
		"with parts sent in parallel; every part carries its MD5, and the ETag the\n"
		"server answers is checked against it.  A failed upload is aborted.\n"
		"\n"
		"Options:\n" CLI_XFER_HELP CLI_UPLOAD_HELP,
	.opts = put_opts,
	.run = put_run,
};
