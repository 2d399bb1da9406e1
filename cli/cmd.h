/*
 * cmd: the subcommands, one file each (cmd_put.c defines cmd_put, ...),
 * and the few helpers one subcommand lends another.  cryptstore.c lists
 * them in its dispatch table.
 */
#ifndef CS_CLI_CMD_H
#define CS_CLI_CMD_H

#include "cli.h"

extern const struct cli_verb cmd_put;
extern const struct cli_verb cmd_get;
extern const struct cli_verb cmd_cp;
extern const struct cli_verb cmd_ls;
extern const struct cli_verb cmd_rm;
extern const struct cli_verb cmd_stat;
extern const struct cli_verb cmd_mb;
extern const struct cli_verb cmd_rb;

/*
 * cmd_admin takes its words unparsed: the server owns the admin verbs and
 * their options.  cryptstore.c hands it every word after "admin" as an
 * operand in a->pos (no a->opts), and the common options given before the
 * verb in a->common (only --quiet counts).  It needs no libcurl and sets
 * its own signal handling: SIGINT and SIGTERM exit 130 at once.
 */
extern const struct cli_verb cmd_admin;

/*
 * cmd_cp_copy(v, a, srcs, nsrc, dst, x): copy each source to dst; each is
 * a local path, "-" or an s3:// address, and a local source needs an s3://
 * dst.  With several sources dst is a directory or a prefix ending in '/'.
 * Used by put, get and cp.  Returns an exit code (the first failure's;
 * every failure is printed).
 */
int cmd_cp_copy(const struct cli_verb *v, const struct cli_args *a, char *const *srcs, size_t nsrc,
		const char *dst, struct cli_xfer *x) __attribute__((warn_unused_result));

/*
 * cmd_cp_options(v, a, x): apply a's verb options to x.  Returns 0 or an
 * exit code.
 */
int cmd_cp_options(const struct cli_verb *v, const struct cli_args *a, struct cli_xfer *x)
	__attribute__((warn_unused_result));

/*
 * cmd_rm_prefix(c, bucket, prefix, verb, e): delete every key under prefix
 * ("" for all) with DeleteObjects, 1000 at a time.  Keys the server could
 * not delete are reported on stderr; the result is -1 then too.  Returns 0
 * or -1 with *e filled.
 */
int cmd_rm_prefix(struct s3conn *c, const char *bucket, const char *prefix, const char *verb,
		  struct s3err *e) __attribute__((warn_unused_result));

#endif /* CS_CLI_CMD_H */
