/*
 * cmd_admin: "cryptstore admin [--socket PATH] [--yes] VERB...": the client
 * of the server's admin plane, a Unix stream socket (docs/ADMIN.md).
 *
 * The client is thin: it sends its words as one CSADM/1 request line and
 * prints the lines the server streams back until a final K or E line.  The
 * server owns the verbs and parses their options; the client knows only
 * which verbs shred data, so that it asks first.  It keeps one promise: a
 * shred verb reaches the server with "--yes" only if the operator gave
 * --yes or typed the level name (object key) at the terminal.
 */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define ADMIN_DEFAULT_SOCKET "/run/cryptstore/admin.sock"
#define ADMIN_SOCKET_ENV     "CRYPTSTORE_ADMIN_SOCKET"
#define ADMIN_MAGIC          "CSADM/1"
#define ADMIN_MAX_REQUEST    65536         /* bytes of the request line, its newline included */
#define ADMIN_MAX_LINE       (1024 * 1024) /* bytes of a reply line, its newline excluded */
#define ADMIN_READ_FIRST     8192          /* the reply buffer's first size; it doubles */

/* What the command line asks for. */
struct admin_cmd {
	const char *socket; /* NULL: the environment's or the default */
	bool yes;           /* --yes before or after VERB */
	bool quiet;
	bool help;
	char **words; /* VERB and its words without any "--yes"; borrowed from argv */
	size_t nwords;
};

/* Where the reply's lines go. */
struct admin_out {
	bool quiet;
	bool tty; /* stderr is a terminal: progress lines overwrite each other */
};

/*
 * For the signal handler: whether the request is on its way, and whether
 * stderr's cursor sits mid-line (after the prompt or a progress line), so
 * that the message starts on a line of its own.
 */
static volatile sig_atomic_t admin_sent, admin_midline;

static void
admin_on_signal(int sig)
{
	static const char before[] = "cryptstore admin: interrupted; nothing was sent\n";
	static const char after[] = "cryptstore admin: interrupted; the server finishes or "
				    "aborts the operation on its own\n";
	ssize_t r;

	(void)sig;
	if (admin_midline)
		r = write(STDERR_FILENO, "\n", 1);
	if (admin_sent)
		r = write(STDERR_FILENO, after, sizeof(after) - 1);
	else
		r = write(STDERR_FILENO, before, sizeof(before) - 1);
	(void)r;
	_exit(CLI_EXIT_INTR);
}

/* SIGINT and SIGTERM end the client at once (exit 130); SIGPIPE is ignored. */
static void
admin_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = admin_on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static void
admin_help(FILE *f, const struct cli_verb *v)
{
	fprintf(f, "usage: cryptstore %s\n\n%s", v->usage, v->help);
}

/*
 * put_clean(f, s, n): write n bytes of s, each control character but tab
 * shown as '?', so that no line of the server's (which may quote names
 * that S3 users chose) moves the cursor or sends terminal escapes.
 */
static void
put_clean(FILE *f, const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if ((c >= 0x20 && c != 0x7f) || c == '\t')
			continue;
		fwrite(s + run, 1, i - run, f);
		fputc('?', f);
		run = i + 1;
	}
	fwrite(s + run, 1, n - run, f);
}

/*
 * admin_parse(v, a, cmd): the client's options (up to VERB or "--"), then
 * VERB and its words, every "--yes" among them taken out.  Returns 0 or
 * CLI_EXIT_USAGE after printing why.
 */
static int
admin_parse(const struct cli_verb *v, const struct cli_args *a, struct admin_cmd *cmd)
{
	size_t i = 0;

	cmd->quiet = a->common.quiet;
	for (; i < a->npos; i++) {
		const char *w = a->pos[i];

		if (strcmp(w, "--") == 0) {
			i++;
			break;
		}
		if (w[0] != '-' || w[1] == '\0')
			break;
		if (strcmp(w, "--yes") == 0) {
			cmd->yes = true;
		} else if (strcmp(w, "-q") == 0 || strcmp(w, "--quiet") == 0) {
			cmd->quiet = true;
		} else if (strcmp(w, "-h") == 0 || strcmp(w, "--help") == 0) {
			cmd->help = true;
		} else if (strcmp(w, "--socket") == 0) {
			if (i + 1 >= a->npos)
				return cli_usage(v, "option '--socket' needs a value (PATH)");
			cmd->socket = a->pos[++i];
		} else if (strncmp(w, "--socket=", 9) == 0) {
			cmd->socket = w + 9;
		} else {
			return cli_usage(v,
					 "unknown option '%s' (the server's own options go after "
					 "VERB)",
					 w);
		}
	}
	if (cmd->socket != NULL && cmd->socket[0] == '\0')
		return cli_usage(v, "--socket: expected the path of the admin socket");
	cmd->words = calloc(a->npos - i + 1, sizeof(cmd->words[0]));
	if (cmd->words == NULL) {
		fprintf(stderr, "cryptstore admin: out of memory\n");
		return CLI_EXIT_LOCAL;
	}
	for (; i < a->npos; i++) {
		if (a->pos[i][0] == '\0')
			return cli_usage(v, "empty argument (argument %zu after 'admin')", i + 1);
		if (strcmp(a->pos[i], "--yes") == 0)
			cmd->yes = true;
		else
			cmd->words[cmd->nwords++] = a->pos[i];
	}
	return 0;
}

/*
 * admin_operands(cmd, from, out, max): the words from index from on that
 * are not options ("--name", as the server has them; "-k" is an operand,
 * since object keys may start with '-').  Returns how many there are; the
 * first max are stored in out.
 */
static size_t
admin_operands(const struct admin_cmd *cmd, size_t from, const char **out, size_t max)
{
	size_t n = 0;

	for (size_t i = from; i < cmd->nwords; i++) {
		if (strncmp(cmd->words[i], "--", 2) == 0)
			continue;
		if (n < max)
			out[n] = cmd->words[i];
		n++;
	}
	return n;
}

static bool
admin_is(const struct admin_cmd *cmd, const char *w0, const char *w1)
{
	return cmd->nwords >= 2 && strcmp(cmd->words[0], w0) == 0 && strcmp(cmd->words[1], w1) == 0;
}

/*
 * admin_confirm(v, cmd): for the verbs that destroy data, make sure the
 * operator means it: --yes, or the level name (object key) typed back at
 * the terminal.  Sets cmd->yes when confirmed.  Returns 0 to go on, or an
 * exit code after printing why not.
 */
static int
admin_confirm(const struct cli_verb *v, struct admin_cmd *cmd)
{
	const char *ops[2] = {NULL, NULL}, *want;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	bool ok, level = admin_is(cmd, "key", "shred");

	if (level) {
		if (cmd->yes)
			return 0;
		if (admin_operands(cmd, 2, ops, 2) != 1)
			return cli_usage(v, "expected key shred LEVEL");
	} else if (admin_is(cmd, "object", "shred")) {
		if (cmd->yes)
			return 0;
		if (admin_operands(cmd, 2, ops, 2) != 2)
			return cli_usage(v, "expected object shred BUCKET KEY");
	} else {
		return 0;
	}
	if (!isatty(STDIN_FILENO)) {
		fprintf(stderr,
			"cryptstore admin: refusing to shred without confirmation: stdin is "
			"not a terminal; pass --yes\n");
		return CLI_EXIT_USAGE;
	}
	if (level) {
		want = ops[0];
		fputs("This destroys every key of level ", stderr);
		put_clean(stderr, want, strlen(want));
		fputs(": all its objects become unreadable, forever. ", stderr);
		fputs("Type the level name to confirm: ", stderr);
	} else {
		want = ops[1];
		fputs("This destroys the key of object ", stderr);
		put_clean(stderr, want, strlen(want));
		fputs(" in bucket ", stderr);
		put_clean(stderr, ops[0], strlen(ops[0]));
		fputs(", then deletes it: its data becomes unreadable, forever. ", stderr);
		fputs("Type the object key to confirm: ", stderr);
	}
	fflush(stderr);
	admin_midline = 1;
	n = getline(&line, &cap, stdin);
	admin_midline = 0;
	if (n < 0)
		fputc('\n', stderr); /* end of input: end the prompt's line */
	if (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	ok = n >= 0 && strcmp(line, want) == 0;
	free(line);
	if (!ok) {
		fprintf(stderr, "cryptstore admin: not confirmed; nothing was destroyed\n");
		return CLI_EXIT_S3;
	}
	cmd->yes = true;
	return 0;
}

static bool
admin_plain(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("-._~:,/=@+", c) != NULL);
}

/* admin_put_word(out, len, w): append " " and w percent-encoded at out + *len. */
static void
admin_put_word(char *out, size_t *len, const char *w)
{
	static const char hex[] = "0123456789ABCDEF";

	out[(*len)++] = ' ';
	for (const unsigned char *p = (const unsigned char *)w; *p != '\0'; p++) {
		if (admin_plain(*p)) {
			out[(*len)++] = (char)*p;
			continue;
		}
		out[(*len)++] = '%';
		out[(*len)++] = hex[*p >> 4];
		out[(*len)++] = hex[*p & 15];
	}
}

/* admin_word_len(w): the bytes w takes in a request line, its space included. */
static size_t
admin_word_len(const char *w)
{
	size_t n = 1;

	for (const unsigned char *p = (const unsigned char *)w; *p != '\0'; p++)
		n += admin_plain(*p) ? 1 : 3;
	return n;
}

/*
 * admin_request(v, cmd, out, outlen): the request line, newline included,
 * in a new buffer (free it).  Returns 0, or an exit code after printing why.
 */
static int
admin_request(const struct cli_verb *v, const struct admin_cmd *cmd, char **out, size_t *outlen)
{
	size_t len = strlen(ADMIN_MAGIC) + 1, n = 0;
	char *buf;

	for (size_t i = 0; i < cmd->nwords; i++) {
		len += admin_word_len(cmd->words[i]);
		if (len > ADMIN_MAX_REQUEST)
			break;
	}
	if (cmd->yes)
		len += admin_word_len("--yes");
	if (len > ADMIN_MAX_REQUEST)
		return cli_usage(v, "the request is longer than %d bytes once encoded",
				 ADMIN_MAX_REQUEST);
	if ((buf = malloc(len)) == NULL) {
		fprintf(stderr, "cryptstore admin: out of memory\n");
		return CLI_EXIT_LOCAL;
	}
	memcpy(buf, ADMIN_MAGIC, strlen(ADMIN_MAGIC));
	n = strlen(ADMIN_MAGIC);
	for (size_t i = 0; i < cmd->nwords; i++)
		admin_put_word(buf, &n, cmd->words[i]);
	if (cmd->yes)
		admin_put_word(buf, &n, "--yes");
	buf[n++] = '\n';
	*out = buf;
	*outlen = n;
	return 0;
}

/*
 * admin_connect(v, path, fd): connect to the admin socket.  Returns 0 with
 * *fd open, or an exit code after printing why (with a hint for the usual
 * causes).
 */
static int
admin_connect(const struct cli_verb *v, const char *path, int *fd)
{
	struct sockaddr_un sa;
	int s, err;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa.sun_path))
		return cli_usage(v, "socket path longer than %zu bytes: %s",
				 sizeof(sa.sun_path) - 1, path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	if ((s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		fprintf(stderr, "cryptstore admin: socket: %s\n", strerror(errno));
		return CLI_EXIT_NET;
	}
	if (s <= STDERR_FILENO) {
		/* stdin, stdout or stderr is closed: keep our output out of the socket. */
		int high = fcntl(s, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);

		close(s);
		if ((s = high) < 0) {
			fprintf(stderr, "cryptstore admin: socket: %s\n", strerror(errno));
			return CLI_EXIT_NET;
		}
	}
	err = connect(s, (const struct sockaddr *)&sa, sizeof(sa)) == 0 ? 0 : errno;
	if (err == EINTR) {
		/* The connection goes on without us: wait for it to be made or refused. */
		struct pollfd p = {.fd = s, .events = POLLOUT};
		socklen_t el = sizeof(err);
		int r;

		while ((r = poll(&p, 1, -1)) < 0 && errno == EINTR)
			;
		if (r < 0)
			err = errno;
		else if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
			err = errno;
	}
	if (err != 0) {
		close(s);
		fprintf(stderr, "cryptstore admin: cannot connect to %s: %s\n", path,
			strerror(err));
		if (err == ENOENT || err == ECONNREFUSED)
			fprintf(stderr,
				"cryptstore admin: is cryptstored running with --admin-socket "
				"%s?\n",
				path);
		else if (err == EACCES || err == EPERM)
			fprintf(stderr, "cryptstore admin: the admin socket is for root or the "
					"server's user\n");
		return CLI_EXIT_NET;
	}
	*fd = s;
	return 0;
}

/* admin_send(fd, buf, len): write all of buf.  Returns 0 or an errno value. */
static int
admin_send(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/* admin_end_line(): end the prompt's or a progress line before other output. */
static void
admin_end_line(void)
{
	if (admin_midline) {
		fputc('\n', stderr);
		admin_midline = 0;
	}
}

static int
admin_protocol_error(const char *what)
{
	admin_end_line();
	fprintf(stderr, "cryptstore admin: protocol error: %s\n", what);
	return CLI_EXIT_NET;
}

/*
 * admin_line(o, s, n): act on one reply line (n bytes, no newline).
 * Returns -1 to read on, or the exit code once the reply is final or broken.
 */
static int
admin_line(struct admin_out *o, const char *s, size_t n)
{
	const char *text;
	size_t tn;
	int code = 0;

	if (n == 0)
		return admin_protocol_error("an empty line");
	if (n > 1 && s[1] != ' ')
		return admin_protocol_error("a line type longer than one character");
	text = n > 1 ? s + 2 : s + n;
	tn = n > 1 ? n - 2 : 0;
	switch (s[0]) {
	case 'I':
		admin_end_line();
		put_clean(stdout, text, tn);
		fputc('\n', stdout);
		return -1;
	case 'P':
		if (o->quiet)
			return -1;
		if (o->tty) {
			fputc('\r', stderr);
			put_clean(stderr, text, tn);
			fputs("\033[K", stderr); /* clear what a longer line left */
			admin_midline = 1;
		} else {
			put_clean(stderr, text, tn);
			fputc('\n', stderr);
		}
		return -1;
	case 'W':
		admin_end_line();
		fputs("cryptstore admin: warning: ", stderr);
		put_clean(stderr, text, tn);
		fputc('\n', stderr);
		return -1;
	case 'K':
		admin_end_line();
		if (tn > 0) {
			put_clean(stdout, text, tn);
			fputc('\n', stdout);
		}
		return CLI_EXIT_OK;
	case 'E': {
		size_t i = 0;

		while (i < tn && i < 4 && text[i] >= '0' && text[i] <= '9')
			code = code * 10 + (text[i++] - '0');
		if (i == 0 || i > 3 || code < 1 || code > 125 || (i < tn && text[i] != ' '))
			return admin_protocol_error("an E line without an exit code 1..125");
		text += i < tn ? i + 1 : i;
		tn -= i < tn ? i + 1 : i;
		admin_end_line();
		fputs("cryptstore admin: ", stderr);
		if (tn > 0)
			put_clean(stderr, text, tn);
		else
			fprintf(stderr, "the server reported a failure (exit code %d)", code);
		fputc('\n', stderr);
		return code;
	}
	default:
		return admin_protocol_error("a line of unknown type");
	}
}

/* admin_flush(): push the output so far out.  Returns 0 or CLI_EXIT_LOCAL. */
static int
admin_flush(void)
{
	if (fflush(stdout) == 0 && !ferror(stdout))
		return 0;
	admin_end_line();
	fprintf(stderr, "cryptstore admin: writing to standard output: %s\n",
		errno != 0 ? strerror(errno) : "failed");
	return CLI_EXIT_LOCAL;
}

/*
 * admin_reply(fd, o, send_err): read and act on the reply until its final
 * line.  send_err is the errno value the request failed to go out with (0:
 * it went), which names the failure when no answer comes.  Returns the
 * exit code.
 */
static int
admin_reply(int fd, struct admin_out *o, int send_err)
{
	size_t cap = ADMIN_READ_FIRST, len = 0, scanned = 0;
	char *buf = malloc(cap);
	bool out_failed = false;
	int rc = -1;

	if (buf == NULL) {
		fprintf(stderr, "cryptstore admin: out of memory\n");
		return CLI_EXIT_LOCAL;
	}
	while (rc < 0) {
		char *nl;
		size_t start = 0;
		ssize_t n;

		/* Act on the complete lines held, then keep the partial one. */
		while (rc < 0 && (nl = memchr(buf + scanned, '\n', len - scanned)) != NULL) {
			rc = admin_line(o, buf + start, (size_t)(nl - (buf + start)));
			start = scanned = (size_t)(nl - buf) + 1;
		}
		if (rc >= 0)
			break;
		memmove(buf, buf + start, len - start);
		len -= start;
		scanned = len;
		if (len > ADMIN_MAX_LINE) {
			rc = admin_protocol_error("a line longer than 1 MiB");
			break;
		}
		if (len == cap) {
			char *p;

			cap = cap * 2 > ADMIN_MAX_LINE + 1 ? ADMIN_MAX_LINE + 1 : cap * 2;
			if ((p = realloc(buf, cap)) == NULL) {
				fprintf(stderr, "cryptstore admin: out of memory\n");
				rc = CLI_EXIT_LOCAL;
				break;
			}
			buf = p;
		}
		/* Stream: what was printed goes out before we wait for more. */
		if (admin_flush() != 0) {
			out_failed = true;
			rc = CLI_EXIT_LOCAL;
			break;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && send_err == 0 && errno != ECONNRESET) {
			admin_end_line();
			fprintf(stderr, "cryptstore admin: reading the answer: %s\n",
				strerror(errno));
			rc = CLI_EXIT_NET;
			break;
		}
		if (n <= 0) {
			admin_end_line();
			if (send_err != 0)
				fprintf(stderr, "cryptstore admin: cannot send the request: %s\n",
					strerror(send_err));
			else
				fprintf(stderr,
					"cryptstore admin: the server closed the connection "
					"before answering\n");
			rc = CLI_EXIT_NET;
			break;
		}
		len += (size_t)n;
	}
	free(buf);
	if (!out_failed && admin_flush() != 0 && rc == CLI_EXIT_OK)
		rc = CLI_EXIT_LOCAL;
	return rc;
}

static int
admin_run(const struct cli_verb *v, const struct cli_args *a)
{
	struct admin_cmd cmd = {0};
	struct admin_out o = {0};
	const char *path;
	char *req = NULL;
	size_t reqlen = 0;
	int fd = -1, rc;

	admin_signals();
	if ((rc = admin_parse(v, a, &cmd)) != 0)
		goto err0;
	if (cmd.help) {
		admin_help(stdout, v);
		goto err0;
	}
	if (cmd.nwords == 0) {
		fprintf(stderr, "cryptstore admin: expected a VERB\n");
		admin_help(stderr, v);
		rc = CLI_EXIT_USAGE;
		goto err0;
	}
	path = cmd.socket;
	if (path == NULL && (path = getenv(ADMIN_SOCKET_ENV)) != NULL && path[0] == '\0')
		path = NULL;
	if (path == NULL)
		path = ADMIN_DEFAULT_SOCKET;
	if ((rc = admin_confirm(v, &cmd)) != 0)
		goto err0;
	if ((rc = admin_request(v, &cmd, &req, &reqlen)) != 0)
		goto err0;
	if ((rc = admin_connect(v, path, &fd)) != 0)
		goto err1;
	o.quiet = cmd.quiet;
	o.tty = isatty(STDERR_FILENO);
	admin_sent = 1;
	rc = admin_reply(fd, &o, admin_send(fd, req, reqlen));
	close(fd);
err1:
	free(req);
err0:
	free(cmd.words);
	return rc;
}

const struct cli_verb cmd_admin = {
	.name = "admin",
	.summary = "administer the server over its admin socket (levels, keys, users...)",
	.usage = "admin [--socket PATH] [--yes] VERB...",
	.help = "Run VERB on the server's admin plane, a Unix socket that only root and the\n"
		"server's own user may use.  The words after the options below go to the server\n"
		"verbatim (its options such as --label included); it prints what the server\n"
		"answers.  The verbs are the server's: it answers 'admin help' with its own\n"
		"list, which may be longer than this one.\n"
		"\n"
		"Verbs:\n"
		"  level add LEVEL                 "
		"create a security level (e.g. s2, s3:c1,c4) and its first key\n"
		"  level list                      "
		"levels with their key versions, states and object counts\n"
		"  key rotate LEVEL                "
		"new active key version; older versions become decrypt-only\n"
		"  key rewrap LEVEL                "
		"re-seal every object key of LEVEL under the newest version "
		"(headers only; resumable)\n"
		"  key destroy LEVEL VERSION       "
		"destroy one decrypt-only version "
		"(refused while objects still use it)\n"
		"  key shred LEVEL                 "
		"cryptographic erase: destroy every key version of LEVEL\n"
		"  object shred BUCKET KEY         "
		"destroy one object's key, then delete it\n"
		"  bucket create NAME --label L    "
		"create a bucket at level L\n"
		"  user add NAME --clearance RANGE [--admin]\n"
		"  user list\n"
		"  user disable NAME\n"
		"  accesskey create USER --level L "
		"prints a new access key id and secret\n"
		"  accesskey revoke AKID\n"
		"  status                          "
		"uptime, connections, throughput, objects and bytes per level\n"
		"  audit verify                    "
		"check the audit log's HMAC chain\n"
		"\n"
		"Options (before VERB):\n"
		"  --socket PATH           the admin socket (default $" ADMIN_SOCKET_ENV ", else\n"
		"                          " ADMIN_DEFAULT_SOCKET ")\n"
		"  --yes                   shred without asking (also accepted after VERB)\n"
		"  -q, --quiet             no progress lines\n"
		"  -h, --help              this help\n"
		"\n"
		"key shred and object shred destroy data irreversibly.  Without --yes the client\n"
		"asks you to type the level name (the object key) on the terminal, and refuses\n"
		"when stdin is not a terminal.\n"
		"\n"
		"Exit codes: 0 done; 1 the verb failed, or a shred was not confirmed; 2 bad\n"
		"usage; 3 local I/O error; 4 cannot reach the server, the connection broke, or\n"
		"the server broke the protocol; 5 refused; 130 interrupted (the server finishes\n"
		"or aborts the operation on its own).  A failed verb exits with the code the\n"
		"server chose (1..125).  See docs/ADMIN.md.\n",
	.opts = NULL,
	.run = admin_run,
};
