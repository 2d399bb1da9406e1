/*
 * cmd_get: "cryptstore get s3://BUCKET/KEY [LOCAL|-]": download an object
 * to a file, or to standard output.
 */
#include "cmd.h"

static const struct cli_opt get_opts[] = {
	{"part-size", 0, "SIZE", CLI_OPT_PART_SIZE},
	{"parts-parallel", 0, "N", CLI_OPT_PARALLEL},
	{NULL, 0, NULL, 0},
};

static int
get_run(const struct cli_verb *v, const struct cli_args *a)
{
	struct cli_xfer x;
	int rc;

	if (a->npos < 1 || a->npos > 2)
		return cli_usage(v, "expected an s3:// address and a local file (or -)");
	if (!cli_is_s3(a->pos[0]))
		return cli_usage(v, "the source must be an s3:// address");
	if (a->npos == 2 && cli_is_s3(a->pos[1]))
		return cli_usage(v, "the destination must be a local file or '-'; for s3 to s3 "
				    "use cp");
	cli_xfer_init(&x, &a->common);
	if ((rc = cmd_cp_options(v, a, &x)) != 0)
		return rc;
	return cmd_cp_copy(v, a, a->pos, 1, a->npos == 2 ? a->pos[1] : ".", &x);
}

const struct cli_verb cmd_get = {
	.name = "get",
	.summary = "download an object to a local file or stdout",
	.usage = "get [options] s3://BUCKET/KEY [LOCAL|-]",
	.help = "Download s3://BUCKET/KEY to the file LOCAL (default: the key's last segment\n"
		"in the current directory; into LOCAL when it is a directory), or to standard\n"
		"output for '-'.  Objects larger than one part are fetched as parallel Range\n"
		"requests into a temporary file that replaces LOCAL only once complete.  The\n"
		"length is checked against Content-Length, and the data against the ETag when\n"
		"that is a plain MD5 (objects not uploaded in parts).\n"
		"\n"
		"Options:\n" CLI_XFER_HELP,
	.opts = get_opts,
	.run = get_run,
};
