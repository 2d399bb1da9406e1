/*
 * cli: the subcommands' shared machinery (see cli.h).
 */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "creds.h"

static const struct cli_opt common_opts[] = {
	{"endpoint", 0, "URL", CLI_OPT_ENDPOINT}, {"region", 0, "REGION", CLI_OPT_REGION},
	{"profile", 0, "NAME", CLI_OPT_PROFILE},  {"quiet", 'q', NULL, CLI_OPT_QUIET},
	{"help", 'h', NULL, CLI_OPT_HELP},        {NULL, 0, NULL, 0},
};

const char *
cli_common_help(void)
{
	return "  --endpoint URL          server (default $AWS_ENDPOINT_URL, the profile's\n"
	       "                          endpoint_url, or " CREDS_DEFAULT_ENDPOINT ")\n"
	       "  --region REGION         signing region (default $AWS_REGION, "
	       "$AWS_DEFAULT_REGION,\n"
	       "                          the profile's region, or " CREDS_DEFAULT_REGION ")\n"
	       "  --profile NAME          profile of ~/.aws/credentials and ~/.aws/config\n"
	       "  -q, --quiet             no progress bar\n"
	       "  -h, --help              this help\n";
}

int
cli_usage(const struct cli_verb *v, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "cryptstore%s%s: ", v ? " " : "", v ? v->name : "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	if (v != NULL)
		fprintf(stderr, "usage: cryptstore %s\nTry 'cryptstore %s --help'.\n", v->usage,
			v->name);
	else
		fprintf(stderr, "usage: cryptstore [options] VERB [options] ARGS...\n"
				"Try 'cryptstore --help'.\n");
	return CLI_EXIT_USAGE;
}

void
cli_help(const struct cli_verb *v)
{
	printf("usage: cryptstore %s\n\n%s\nCommon options:\n%s", v->usage, v->help,
	       cli_common_help());
}

static const struct cli_opt *
opt_find(const struct cli_opt *t, const char *name, size_t n, char short_name)
{
	for (; t != NULL && t->name != NULL; t++) {
		if (short_name != 0 ? t->short_name == short_name
				    : strlen(t->name) == n && strncmp(t->name, name, n) == 0)
			return t;
	}
	return NULL;
}

static void
common_apply(struct cli_common *c, int id, const char *value)
{
	switch (id) {
	case CLI_OPT_ENDPOINT:
		c->endpoint = value;
		break;
	case CLI_OPT_REGION:
		c->region = value;
		break;
	case CLI_OPT_PROFILE:
		c->profile = value;
		break;
	case CLI_OPT_QUIET:
		c->quiet = true;
		break;
	case CLI_OPT_HELP:
		c->help = true;
		break;
	default:
		break;
	}
}

/*
 * one_option(v, argc, argv, i, o, value): recognise the option at argv[*i]
 * ("--name", "--name=value", "--name value", "-x", "-x value") among the
 * common options and v's.  Returns 0 with *o and *value set, or
 * CLI_EXIT_USAGE.  Short flags cannot be bundled: every verb has few.
 */
static int
one_option(const struct cli_verb *v, int argc, char **argv, int *i, const struct cli_opt **o,
	   const char **value)
{
	const char *s = argv[*i], *eq = NULL;
	size_t n;

	*value = NULL;
	if (s[1] == '-') {
		s += 2;
		eq = strchr(s, '=');
		n = eq != NULL ? (size_t)(eq - s) : strlen(s);
		*o = opt_find(common_opts, s, n, 0);
		if (*o == NULL && v != NULL)
			*o = opt_find(v->opts, s, n, 0);
	} else {
		if (s[2] != '\0')
			return cli_usage(v, "unknown option '%s'", s);
		*o = opt_find(common_opts, NULL, 0, s[1]);
		if (*o == NULL && v != NULL)
			*o = opt_find(v->opts, NULL, 0, s[1]);
	}
	if (*o == NULL)
		return cli_usage(v, "unknown option '%s'", argv[*i]);
	if ((*o)->arg == NULL) {
		if (eq != NULL)
			return cli_usage(v, "option '--%s' takes no value", (*o)->name);
		return 0;
	}
	if (eq != NULL) {
		*value = eq + 1;
		return 0;
	}
	if (*i + 1 >= argc)
		return cli_usage(v, "option '%s' needs a value (%s)", argv[*i], (*o)->arg);
	*value = argv[++*i];
	return 0;
}

int
cli_parse_common(int argc, char **argv, struct cli_common *c, int *used)
{
	int i;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1] != '\0'; i++) {
		const struct cli_opt *o;
		const char *value;
		int rc;

		if (strcmp(argv[i], "--") == 0) {
			i++;
			break;
		}
		if (strcmp(argv[i], "--version") == 0 || strcmp(argv[i], "-V") == 0)
			break; /* the caller handles it */
		if ((rc = one_option(NULL, argc, argv, &i, &o, &value)) != 0)
			return rc;
		common_apply(c, o->id, value);
	}
	*used = i - 1;
	return 0;
}

int
cli_parse(const struct cli_verb *v, int argc, char **argv, struct cli_args *a)
{
	bool options = true;

	a->pos = calloc((size_t)argc, sizeof(a->pos[0]));
	a->opts = calloc((size_t)argc, sizeof(a->opts[0]));
	a->npos = a->nopts = 0;
	if (a->pos == NULL || a->opts == NULL) {
		fprintf(stderr, "cryptstore: out of memory\n");
		return CLI_EXIT_LOCAL;
	}
	for (int i = 1; i < argc; i++) {
		const struct cli_opt *o;
		const char *value;
		int rc;

		if (!options || argv[i][0] != '-' || argv[i][1] == '\0') {
			a->pos[a->npos++] = argv[i];
			continue;
		}
		if (strcmp(argv[i], "--") == 0) {
			options = false;
			continue;
		}
		if ((rc = one_option(v, argc, argv, &i, &o, &value)) != 0)
			return rc;
		if (o->id < CLI_OPT_PART_SIZE) {
			common_apply(&a->common, o->id, value);
			continue;
		}
		a->opts[a->nopts++] = (struct cli_optval){o->id, value};
	}
	return 0;
}

void
cli_args_free(struct cli_args *a)
{
	free(a->pos);
	free(a->opts);
	a->pos = NULL;
	a->opts = NULL;
}

int
cli_exit_code(enum s3err_kind kind)
{
	switch (kind) {
	case S3E_OK:
		return CLI_EXIT_OK;
	case S3E_SERVER:
		return CLI_EXIT_S3;
	case S3E_LOCAL:
		return CLI_EXIT_LOCAL;
	case S3E_NET:
		return CLI_EXIT_NET;
	case S3E_AUTH:
		return CLI_EXIT_AUTH;
	case S3E_USAGE:
		return CLI_EXIT_USAGE;
	case S3E_INTR:
		return CLI_EXIT_INTR;
	default:
		return CLI_EXIT_S3;
	}
}

int
cli_fail(const char *verb, const char *target, const struct s3err *e)
{
	fprintf(stderr, "cryptstore: %s%s%s: %s%s%s\n", verb, target ? " " : "",
		target ? target : "", e->code, e->code[0] ? ": " : "",
		e->message[0] ? e->message : "failed");
	return cli_exit_code(e->kind);
}

int
cli_connect(const struct cli_verb *v, const struct cli_common *c, struct s3client **out)
{
	struct creds_opts o = {c->profile, c->region, c->endpoint};
	struct creds cr;
	struct s3err e = {0};
	char why[512];
	int rc;

	if ((rc = creds_load(&o, &cr, why, sizeof(why))) != 0) {
		creds_clear(&cr);
		fprintf(stderr, "cryptstore: %s: %s\n", v->name, why);
		return rc == CREDS_EBAD  ? CLI_EXIT_USAGE
		       : rc == CREDS_EIO ? CLI_EXIT_LOCAL
					 : CLI_EXIT_AUTH;
	}
	rc = s3client_new(&cr, out, &e);
	creds_clear(&cr);
	if (rc != 0)
		return cli_fail(v->name, NULL, &e);
	return 0;
}

bool
cli_is_s3(const char *s)
{
	return strncmp(s, "s3://", 5) == 0;
}

int
cli_s3addr_parse(const struct cli_verb *v, const char *s, struct cli_s3addr *a)
{
	const char *b, *slash;
	size_t bl;

	if (!cli_is_s3(s))
		return cli_usage(v, "'%s' is not an s3://BUCKET/KEY address", s);
	b = s + 5;
	slash = strchr(b, '/');
	bl = slash != NULL ? (size_t)(slash - b) : strlen(b);
	if (bl > S3_MAX_BUCKET)
		return cli_usage(v, "bucket name longer than %d characters in '%s'", S3_MAX_BUCKET,
				 s);
	for (size_t i = 0; i < bl; i++) {
		char c = b[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return cli_usage(v, "invalid bucket name in '%s'", s);
	}
	memcpy(a->bucket, b, bl);
	a->bucket[bl] = '\0';
	a->key[0] = '\0';
	if (slash != NULL) {
		if (strlen(slash + 1) > S3_MAX_KEY)
			return cli_usage(v, "key longer than %d bytes", S3_MAX_KEY);
		memcpy(a->key, slash + 1, strlen(slash + 1) + 1);
	}
	return 0;
}

const char *
cli_s3addr_str(const struct cli_s3addr *a, char *out, size_t outsz)
{
	snprintf(out, outsz, "s3://%s%s%s", a->bucket, a->key[0] ? "/" : "", a->key);
	return out;
}

void
cli_xfer_init(struct cli_xfer *x, const struct cli_common *c)
{
	memset(x, 0, sizeof(*x));
	x->t.part_size = TRANSFER_DEFAULT_PART;
	x->t.parallel = TRANSFER_DEFAULT_PAR;
	x->t.quiet = c->quiet;
	x->t.label = x->label;
	x->t.meta = x->meta;
}

/* parse_size(s, out): "123", "8M", "8MiB", "1G"...  Returns 0 or -1. */
static int
parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0, mul = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	switch (*p) {
	case '\0':
		break;
	case 'k':
	case 'K':
		mul = 1ull << 10;
		break;
	case 'm':
	case 'M':
		mul = 1ull << 20;
		break;
	case 'g':
	case 'G':
		mul = 1ull << 30;
		break;
	default:
		return -1;
	}
	if (*p != '\0') {
		p++;
		if (strcmp(p, "") != 0 && strcmp(p, "i") != 0 && strcmp(p, "iB") != 0 &&
		    strcmp(p, "B") != 0)
			return -1;
	}
	if (v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int
cli_xfer_option(const struct cli_verb *v, struct cli_xfer *x, const struct cli_optval *ov)
{
	switch (ov->id) {
	case CLI_OPT_PART_SIZE: {
		uint64_t ps;

		if (parse_size(ov->value, &ps) != 0 || ps < TRANSFER_MIN_PART ||
		    ps > TRANSFER_MAX_PART)
			return cli_usage(v, "--part-size '%s': expected 5M to 5G", ov->value);
		x->t.part_size = ps;
		return 0;
	}
	case CLI_OPT_PARALLEL: {
		char *end;
		long n;

		errno = 0;
		n = strtol(ov->value, &end, 10);
		if (errno != 0 || end == ov->value || *end != '\0' || n < 1 || n > TRANSFER_MAX_PAR)
			return cli_usage(v, "--parts-parallel '%s': expected 1 to %d", ov->value,
					 TRANSFER_MAX_PAR);
		x->t.parallel = (int)n;
		return 0;
	}
	case CLI_OPT_CONTENT_TYPE:
		for (const char *p = ov->value; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return cli_usage(v, "--content-type: control characters");
		if (ov->value[0] == '\0' || strlen(ov->value) > 255)
			return cli_usage(v, "--content-type: 1 to 255 characters");
		x->t.content_type = ov->value;
		return 0;
	case CLI_OPT_META: {
		const char *eq = strchr(ov->value, '=');
		size_t nl = eq != NULL ? (size_t)(eq - ov->value) : 0;
		char *name;

		if (x->nmeta == TRANSFER_MAX_META_HDRS)
			return cli_usage(v, "at most %d --meta options", TRANSFER_MAX_META_HDRS);
		if (eq == NULL || nl == 0 || nl > 64 || eq[1] == '\0')
			return cli_usage(v, "--meta '%s': expected NAME=VALUE", ov->value);
		name = x->meta_names[x->nmeta];
		snprintf(name, sizeof(x->meta_names[0]), "x-amz-meta-%.*s", (int)nl, ov->value);
		for (char *p = name + 11; *p; p++) {
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
			      *p == '_'))
				return cli_usage(v,
						 "--meta '%s': NAME may hold letters, digits, "
						 "'-' and '_'",
						 ov->value);
		}
		for (const char *p = eq + 1; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return cli_usage(v, "--meta '%s': control characters in VALUE",
						 ov->value);
		x->meta[x->nmeta] = (struct s3_hdr){name, eq + 1};
		x->nmeta++;
		x->t.nmeta = x->nmeta;
		return 0;
	}
	default:
		return 1;
	}
}

static void
on_signal(int sig)
{
	int saved = errno;

	s3client_cancel();
	errno = saved;
}

void
cli_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESETHAND; /* a second signal takes the default action */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}
