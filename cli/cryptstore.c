/*
 * cryptstore: the command-line client of cryptstored (and of any S3
 * server that speaks the same subset).
 *
 *   cryptstore [common options] VERB [options] ARGS...
 *
 * Verbs are dispatched through the table below, one file per verb
 * (cmd_put.c ...); each takes --help.  Requests are signed with the
 * library's own SigV4 code, the very code the server verifies with.
 *
 * Exit codes:
 *   0    success
 *   1    the server answered with an S3 error (NoSuchKey, BucketNotEmpty,
 *        InternalError, ...), or the data received failed its length or MD5
 *        check
 *   2    bad usage (unknown verb or option, wrong arguments, a malformed
 *        region, endpoint URL or profile name)
 *   3    local I/O error (a file cannot be read or written, stdout closed,
 *        an unreadable credentials or config file)
 *   4    network error (cannot connect, connection broken or timed out)
 *   5    authentication or authorisation error (AccessDenied,
 *        SignatureDoesNotMatch, InvalidAccessKeyId, RequestTimeTooSkewed,
 *        ...), or no usable credentials
 *   130  interrupted by SIGINT or SIGTERM (an open multipart upload is aborted)
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "version.h"

static const struct cli_verb *const verbs[] = {
	&cmd_put, &cmd_get, &cmd_cp, &cmd_ls, &cmd_rm, &cmd_stat, &cmd_mb, &cmd_rb,
};

#define NVERBS (sizeof(verbs) / sizeof(verbs[0]))

static const char exit_codes_help[] =
	"Exit codes:\n"
	"  0    success\n"
	"  1    S3 error from the server (NoSuchKey, BucketNotEmpty, ...), or the data\n"
	"       received failed its length or MD5 check\n"
	"  2    bad usage (also a malformed region, endpoint or profile name)\n"
	"  3    local I/O error (reading or writing a file or stream)\n"
	"  4    network error (cannot connect, connection broken)\n"
	"  5    authentication or authorisation error (AccessDenied,\n"
	"       SignatureDoesNotMatch, InvalidAccessKeyId, ...), or no credentials\n"
	"  130  interrupted\n";

static void
main_help(void)
{
	printf("usage: cryptstore [options] VERB [options] ARGS...\n"
	       "\n"
	       "Client of the cryptstore encrypted object server (S3-compatible).\n"
	       "Addresses: s3://BUCKET/KEY for objects, s3://BUCKET/PREFIX for listings, a\n"
	       "local path, or '-' for standard input or output.\n"
	       "\n"
	       "Verbs:\n");
	for (size_t i = 0; i < NVERBS; i++)
		printf("  %-6s %s\n", verbs[i]->name, verbs[i]->summary);
	printf("  %-6s %s\n", "help", "this help, or 'help VERB' for a verb's");
	printf("\nCommon options (before or after the verb):\n%s"
	       "  --version               print the version\n"
	       "\n"
	       "Credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile\n"
	       "(--profile, AWS_PROFILE, 'default') of ~/.aws/credentials\n"
	       "(AWS_SHARED_CREDENTIALS_FILE) and ~/.aws/config (AWS_CONFIG_FILE).\n"
	       "Region: --region, AWS_REGION, AWS_DEFAULT_REGION, the profile, us-east-1.\n"
	       "Endpoint: --endpoint, AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, the profile's\n"
	       "endpoint_url, http://127.0.0.1:9000.  AWS_CA_BUNDLE: CA file for https.\n"
	       "\n%s",
	       cli_common_help(), exit_codes_help);
}

static const struct cli_verb *
verb_find(const char *name)
{
	for (size_t i = 0; i < NVERBS; i++)
		if (strcmp(verbs[i]->name, name) == 0)
			return verbs[i];
	return NULL;
}

int
main(int argc, char **argv)
{
	struct cli_args a = {0};
	const struct cli_verb *v;
	int used = 0, rc;

	if ((rc = cli_parse_common(argc, argv, &a.common, &used)) != 0)
		return rc;
	argc -= used;
	argv += used;
	if (argc > 1 && (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)) {
		printf("cryptstore %s\n", CRYPTSTORE_VERSION);
		return CLI_EXIT_OK;
	}
	if (a.common.help) {
		main_help();
		return CLI_EXIT_OK;
	}
	if (argc < 2)
		return cli_usage(NULL,
				 "expected a verb (put, get, cp, ls, rm, stat, mb, rb, help)");
	if (strcmp(argv[1], "help") == 0) {
		if (argc == 2) {
			main_help();
			return CLI_EXIT_OK;
		}
		if ((v = verb_find(argv[2])) == NULL)
			return cli_usage(NULL, "no verb '%s'", argv[2]);
		cli_help(v);
		return CLI_EXIT_OK;
	}
	if ((v = verb_find(argv[1])) == NULL)
		return cli_usage(NULL, "no verb '%s'", argv[1]);

	if ((rc = cli_parse(v, argc - 1, argv + 1, &a)) != 0)
		goto out;
	if (a.common.help) {
		cli_help(v);
		rc = CLI_EXIT_OK;
		goto out;
	}
	if (s3client_global_init() != 0) {
		fprintf(stderr, "cryptstore: cannot initialise libcurl or the secure heap\n");
		rc = CLI_EXIT_LOCAL;
		goto out;
	}
	cli_signals();
	rc = v->run(v, &a);
	s3client_global_cleanup();
out:
	cli_args_free(&a);
	return rc;
}
