/*
 * cli: what the subcommands of the cryptstore CLI share: exit codes, the
 * table-driven option parser, s3:// addresses, the transfer options,
 * error reports, and the client built from the common options.
 *
 * Every subcommand is a struct cli_verb (one per cmd_*.c file) listed in
 * cryptstore.c's table.  Options may come before, between or after the
 * operands; "--" ends them; a lone "-" is an operand (stdin or stdout).
 */
#ifndef CS_CLI_CLI_H
#define CS_CLI_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "s3client.h"
#include "transfer.h"

/* Exit codes; cryptstore --help and the comment atop cryptstore.c list them. */
enum cli_exit {
	CLI_EXIT_OK = 0,
	CLI_EXIT_S3 = 1,    /* the server answered with an S3 error, or data failed to verify */
	CLI_EXIT_USAGE = 2, /* bad command line */
	CLI_EXIT_LOCAL = 3, /* local file or stream error */
	CLI_EXIT_NET = 4,   /* could not connect, or the connection broke */
	CLI_EXIT_AUTH = 5,  /* authentication or authorisation refused, or no credentials */
	CLI_EXIT_INTR = 130 /* interrupted by SIGINT or SIGTERM */
};

/* Option ids shared by several verbs; each verb numbers its own from CLI_OPT_VERB. */
enum {
	CLI_OPT_ENDPOINT = 1,
	CLI_OPT_REGION,
	CLI_OPT_PROFILE,
	CLI_OPT_QUIET,
	CLI_OPT_HELP,
	CLI_OPT_PART_SIZE,
	CLI_OPT_PARALLEL,
	CLI_OPT_CONTENT_TYPE,
	CLI_OPT_META,
	CLI_OPT_RECURSIVE,
	CLI_OPT_VERB = 100
};

struct cli_opt {
	const char *name; /* long name, without "--"; NULL ends a table */
	char short_name;  /* or 0 */
	const char *arg;  /* the value's placeholder, or NULL for a flag */
	int id;
};

/* The options every verb takes. */
struct cli_common {
	const char *endpoint;
	const char *region;
	const char *profile;
	bool quiet;
	bool help;
};

struct cli_optval {
	int id;
	const char *value; /* NULL for flags */
};

struct cli_args {
	struct cli_common common;
	char **pos; /* operands */
	size_t npos;
	struct cli_optval *opts; /* the verb's own options, in order */
	size_t nopts;
};

struct cli_verb {
	const char *name;
	const char *summary;        /* one line for "cryptstore --help" */
	const char *usage;          /* the synopsis after "cryptstore " */
	const char *help;           /* what it does, and its own options */
	const struct cli_opt *opts; /* its own options, or NULL */
	int (*run)(const struct cli_verb *v, const struct cli_args *a);
};

/* An s3://BUCKET/KEY address; key "" when absent. */
struct cli_s3addr {
	char bucket[S3_MAX_BUCKET + 1];
	char key[S3_MAX_KEY + 1];
};

/* The transfer options of put, get and cp, and storage for --meta. */
struct cli_xfer {
	struct transfer_opts t;
	struct s3_hdr meta[TRANSFER_MAX_META_HDRS];
	char meta_names[TRANSFER_MAX_META_HDRS][80];
	size_t nmeta;
	char label[S3_MAX_KEY + 80];
};

/* The lines cli_help() prints for the transfer options (for verb help texts). */
#define CLI_XFER_HELP                                                                              \
	"  --part-size SIZE        bytes per part of a multipart upload or ranged download\n"      \
	"                          (suffixes K, M, G; 5M..5G; default 8M)\n"                       \
	"  --parts-parallel N      parts in flight at once (1..64; default 4)\n"

#define CLI_UPLOAD_HELP                                                                            \
	"  --content-type TYPE     the object's Content-Type (default: from the file name)\n"      \
	"  --meta NAME=VALUE       user metadata (x-amz-meta-NAME); repeatable\n"

/*
 * cli_parse(v, argc, argv, a): parse argv[1..argc-1] (argv[0] is the verb)
 * into *a, which starts from the common options given before the verb.
 * Returns 0, or CLI_EXIT_USAGE after printing why.  Free with cli_args_free().
 */
int cli_parse(const struct cli_verb *v, int argc, char **argv, struct cli_args *a)
	__attribute__((warn_unused_result));

/* cli_parse_common(argc, argv, c, used): the common options before the verb;
 * *used is how many arguments they took.  Returns 0 or CLI_EXIT_USAGE. */
int cli_parse_common(int argc, char **argv, struct cli_common *c, int *used)
	__attribute__((warn_unused_result));

void cli_args_free(struct cli_args *a);

/* cli_usage(v, fmt, ...): print the complaint and a pointer to --help on
 * stderr.  Returns CLI_EXIT_USAGE. */
int cli_usage(const struct cli_verb *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* cli_help(v): the verb's full help on stdout. */
void cli_help(const struct cli_verb *v);

/* cli_common_help(): the lines describing the common options. */
const char *cli_common_help(void);

/* cli_exit_code(kind): the exit code for a failure of that kind. */
int cli_exit_code(enum s3err_kind kind);

/*
 * cli_fail(verb, target, e): print "cryptstore: VERB TARGET: CODE: MESSAGE"
 * on stderr and return the exit code for e.
 */
int cli_fail(const char *verb, const char *target, const struct s3err *e);

/*
 * cli_connect(v, c, out): resolve credentials and endpoint and make a
 * client.  Returns 0, or an exit code after printing why.
 */
int cli_connect(const struct cli_verb *v, const struct cli_common *c, struct s3client **out)
	__attribute__((warn_unused_result));

/* cli_is_s3(s): s starts with "s3://". */
bool cli_is_s3(const char *s);

/* cli_s3addr_parse(v, s, a): parse an s3:// address.  Returns 0 or
 * CLI_EXIT_USAGE after printing why. */
int cli_s3addr_parse(const struct cli_verb *v, const char *s, struct cli_s3addr *a)
	__attribute__((warn_unused_result));

/* cli_s3addr_str(a, out, outsz): "s3://bucket/key" for messages. */
const char *cli_s3addr_str(const struct cli_s3addr *a, char *out, size_t outsz);

/* cli_xfer_init(x): the defaults. */
void cli_xfer_init(struct cli_xfer *x, const struct cli_common *c);

/*
 * cli_xfer_option(v, x, ov): apply a transfer option.  Returns 0 (applied),
 * 1 (not a transfer option), or CLI_EXIT_USAGE after printing why.
 */
int cli_xfer_option(const struct cli_verb *v, struct cli_xfer *x, const struct cli_optval *ov)
	__attribute__((warn_unused_result));

/* cli_signals(): SIGINT and SIGTERM cancel transfers (a second one kills);
 * SIGPIPE is ignored so that a closed stdout is an error, not a death. */
void cli_signals(void);

#endif /* CS_CLI_CLI_H */
