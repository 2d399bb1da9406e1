/*
 * cryptstore: the command-line client of cryptstored (and of any S3
 * server that speaks the same subset).
 *
 *   cryptstore [common options] VERB [options] ARGS...
 *
 * Verbs are dispatched through the table below, one file per verb
 * (cmd_put.c ...); each takes --help.  Requests are signed with the
 * library's own SigV4 code, the very code the server verifies with.
 * "admin" is the odd one: it speaks to the server's admin socket, not
 * S3, and takes its words unparsed, because the server owns those verbs.
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
 *
 * "admin" passes through the exit code the server chose for a failed verb
 * (1..125); its own failures use the codes above.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cmd.h"
#include "version.h"

static const struct cli_verb *const verbs[] = {
	&cmd_put, &cmd_get, &cmd_cp, &cmd_ls, &cmd_rm, &cmd_stat, &cmd_mb, &cmd_rb, &cmd_admin,
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
	"  130  interrupted\n"
	"admin passes through the server's exit code for a failed verb (1..125).\n";

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

/*
 * verb_raw(v): v parses its own words; it gets them all, unparsed, as
 * operands.  Only admin, whose words (options included) are the server's.
 */
static bool
verb_raw(const struct cli_verb *v)
{
	return v == &cmd_admin;
}

/* raw_run(v, argc, argv, a): run a raw verb on argv[0..argc-1]. */
static int
raw_run(const struct cli_verb *v, int argc, char **argv, struct cli_args *a)
{
	a->pos = calloc((size_t)argc + 1, sizeof(a->pos[0]));
	if (a->pos == NULL) {
		fprintf(stderr, "cryptstore: out of memory\n");
		return CLI_EXIT_LOCAL;
	}
	for (int i = 0; i < argc; i++)
		a->pos[a->npos++] = argv[i];
	return v->run(v, a);
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
		return cli_usage(
			NULL, "expected a verb (put, get, cp, ls, rm, stat, mb, rb, admin, help)");
	if (strcmp(argv[1], "help") == 0) {
		if (argc == 2) {
			main_help();
			return CLI_EXIT_OK;
		}
		if ((v = verb_find(argv[2])) == NULL)
			return cli_usage(NULL, "no verb '%s'", argv[2]);
		if (verb_raw(v)) {
			static char help_word[] = "--help";
			char *words[] = {help_word};

			rc = raw_run(v, 1, words, &a);
			goto out;
		}
		cli_help(v);
		return CLI_EXIT_OK;
	}
	if ((v = verb_find(argv[1])) == NULL)
		return cli_usage(NULL, "no verb '%s'", argv[1]);
	if (verb_raw(v)) {
		rc = raw_run(v, argc - 2, argv + 2, &a);
		goto out;
	}

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
