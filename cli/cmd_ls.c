/*
 * cmd_ls: "cryptstore ls [s3://BUCKET[/PREFIX]]": list buckets, or the keys
 * of a bucket (one level, or --recursive), following continuation tokens
 * through any number of keys.
 */
#include "cmd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "s3list.h"

enum { OPT_LS_RECURSIVE = CLI_OPT_RECURSIVE };

static const struct cli_opt ls_opts[] = {
	{"recursive", 'r', NULL, OPT_LS_RECURSIVE},
	{NULL, 0, NULL, 0},
};

struct ls_ctx {
	bool tty; /* stdout is a terminal: show control characters as '?' */
};

/* when(s, out): "2024-05-01T12:00:00.000Z" as "2024-05-01 12:00:00". */
static const char *
when(const char *s, char out[20])
{
	if (strlen(s) < 19 || s[10] != 'T') {
		snprintf(out, 20, "%-19.19s", s);
		return out;
	}
	memcpy(out, s, 19);
	out[10] = ' ';
	out[19] = '\0';
	return out;
}

static void
put_name(const struct ls_ctx *x, const char *s)
{
	for (; *s != '\0'; s++)
		putchar(x->tty && ((unsigned char)*s < 0x20 || *s == 0x7f) ? '?' : *s);
	putchar('\n');
}

static int
print_entry(void *arg, const struct s3list_entry *ent, struct s3err *e)
{
	const struct ls_ctx *x = arg;
	char t[20];

	if (ent->is_prefix)
		printf("%19s %10s ", "", "PRE");
	else
		printf("%s %10llu ", when(ent->last_modified, t), (unsigned long long)ent->size);
	put_name(x, ent->name);
	if (ferror(stdout)) {
		errno = errno ? errno : EIO;
		return s3err_sys(e, "writing to stdout");
	}
	return 0;
}

static int
print_bucket(void *arg, const struct s3list_entry *ent, struct s3err *e)
{
	const struct ls_ctx *x = arg;
	char t[20];

	printf("%s ", when(ent->last_modified, t));
	put_name(x, ent->name);
	if (ferror(stdout)) {
		errno = errno ? errno : EIO;
		return s3err_sys(e, "writing to stdout");
	}
	return 0;
}

static int
ls_run(const struct cli_verb *v, const struct cli_args *a)
{
	struct ls_ctx x = {isatty(STDOUT_FILENO) == 1};
	struct cli_s3addr addr = {"", ""};
	struct s3client *cl = NULL;
	struct s3conn *c = NULL;
	struct s3err e = {0};
	bool recursive = false;
	char shown[S3_MAX_KEY + 80];
	int rc;

	for (size_t i = 0; i < a->nopts; i++)
		if (a->opts[i].id == OPT_LS_RECURSIVE)
			recursive = true;
	if (a->npos > 1)
		return cli_usage(v, "expected at most one s3://BUCKET[/PREFIX]");
	if (a->npos == 1 && strcmp(a->pos[0], "s3://") != 0 &&
	    (rc = cli_s3addr_parse(v, a->pos[0], &addr)) != 0)
		return rc;
	if ((rc = cli_connect(v, &a->common, &cl)) != 0)
		return rc;
	if ((c = s3client_conn_new(cl)) == NULL) {
		s3err_set(&e, S3E_LOCAL, NULL, "out of memory");
		rc = -1;
	} else if (addr.bucket[0] == '\0') {
		rc = s3list_buckets(c, print_bucket, &x, &e);
	} else {
		rc = s3list_objects(c, addr.bucket, addr.key, recursive ? NULL : "/", print_entry,
				    &x, &e);
	}
	if (fflush(stdout) != 0 && rc == 0)
		rc = s3err_sys(&e, "writing to stdout");
	s3client_conn_free(c);
	s3client_free(cl);
	if (rc == 0)
		return CLI_EXIT_OK;
	return cli_fail(v->name,
			addr.bucket[0] ? cli_s3addr_str(&addr, shown, sizeof(shown)) : NULL, &e);
}

const struct cli_verb cmd_ls = {
	.name = "ls",
	.summary = "list buckets, or the objects under a prefix",
	.usage = "ls [options] [s3://BUCKET[/PREFIX]]",
	.help = "Without an address, list the buckets this key may read (creation date, name).\n"
		"With one, list the keys that start with PREFIX (date, size, key; keys are\n"
		"shown in full), rolling up what lies past the next '/' into 'PRE' lines\n"
		"unless --recursive.  Listings of any length are followed page by page.\n"
		"\n"
		"Options:\n"
		"  -r, --recursive         every key under the prefix, no 'PRE' roll-up\n",
	.opts = ls_opts,
	.run = ls_run,
};
