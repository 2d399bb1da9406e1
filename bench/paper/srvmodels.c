/*
 * srvmodels: the original paper's "filemover" server in its models, for the
 * server-model table of docs/PAPER.md (bench/paper/models.sh builds it with a
 * plain cc into a temporary directory and drives it with bench/loadgen).
 *
 * The paper's server received a stream from one client and wrote it to a RAM
 * disk, plainly or encrypting every received buffer first; its models were a
 * single process, a multithreaded server that started a thread for every I/O
 * request, and a forked server that forked a process for every I/O request.
 * This program keeps those models and adds the per-connection variants a
 * server of today would use:
 *
 *   single       one process, one thread, one connection at a time; no encryption
 *   single-enc   the same, encrypting each record before writing it
 *   thread-io    one connection at a time; every record is encrypted and written
 *                by a new thread (the paper's multithreaded server)
 *   fork-io      one connection at a time; every record is encrypted and written
 *                by a new process (the paper's forked server)
 *   thread-conn  a thread per connection, encrypting
 *   fork-conn    a process per connection, encrypting
 *
 * The wire protocol is the least HTTP/1.1 that bench/loadgen --mode http
 * speaks: "PUT /KEY", Content-Length, a 201 answer and Connection: close (one
 * request per connection, as the paper's client copied one file per
 * connection).  The body is cut into records of --record bytes (64 KiB by
 * default: the paper's largest I/O request); a record is encrypted on its own
 * with AES-256-CBC (OpenSSL EVP, PKCS#7 padding) under the server's random key
 * and an IV made of a random base and the record's number, and written with
 * pwrite() at record * (record size + 16), so every model writes the same
 * layout to DIR/KEY.  Not a storage format: a benchmark of where the work
 * runs.  Invariants: the network controls no allocation (records are fixed
 * size, the head is bounded), and every model answers only after the body's
 * last record is on the file.
 *
 * Exit status: 0 on SIGTERM/SIGINT, 1 on a setup error, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define HEAD_MAX   8192       /* bytes of one request head */
#define KEY_MAX    200        /* bytes of one object key */
#define REC_MIN    4096       /* --record bounds */
#define REC_MAX    (16 << 20) /* */
#define REC_DEF    (64 << 10) /* the paper's largest I/O request */
#define INFLIGHT   64         /* records in flight per connection (thread-io, fork-io) */
#define CBC_PAD    16         /* PKCS#7 adds at most one block */
#define THR_STACK  (256 << 10)
#define ANSWER_OK  "HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#define ANSWER_BAD "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
#define ANSWER_ERR                                                                                 \
	"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"

enum model { M_SINGLE, M_SINGLE_ENC, M_THREAD_IO, M_FORK_IO, M_THREAD_CONN, M_FORK_CONN };

static const char *const model_names[] = {"single",  "single-enc",  "thread-io",
					  "fork-io", "thread-conn", "fork-conn"};

static enum model opt_model = M_SINGLE;
static size_t opt_record = REC_DEF;
static int dir_fd = -1;
static EVP_CIPHER *cbc;           /* fetched once, shared by every thread */
static unsigned char aes_key[32]; /* the server's key for this run */
static unsigned char iv_base[16]; /* random; the record number is added to it */
static volatile sig_atomic_t stop;

/* One record of one body, and what is needed to encrypt and write it anywhere. */
struct record {
	int fd;             /* the object's file */
	uint64_t index;     /* record number in the body */
	size_t len;         /* plaintext bytes in buf */
	unsigned char *buf; /* opt_record + CBC_PAD bytes */
};

/* In-flight records of one connection in the thread-io model. */
struct flight {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned busy;
	bool failed;
};

struct io_job {
	struct record rec;
	struct flight *fl;
};

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: srvmodels --model MODEL --dir DIR [--port P] [--port-file FILE]\n"
		"                 [--record BYTES]\n"
		"\n"
		"The original paper's filemover server in its models: receives HTTP PUT bodies\n"
		"(bench/loadgen --mode http) on 127.0.0.1 and writes each to DIR/KEY.\n"
		"\n"
		"Models:\n"
		"  single       one process, one connection at a time, no encryption\n"
		"  single-enc   the same, AES-256-CBC (OpenSSL EVP) on every record\n"
		"  thread-io    one connection at a time, a new thread encrypts and writes each\n"
		"               record (the paper's multithreaded server)\n"
		"  fork-io      one connection at a time, a new process encrypts and writes\n"
		"               each record (the paper's forked server)\n"
		"  thread-conn  a thread per connection, encrypting\n"
		"  fork-conn    a process per connection, encrypting\n"
		"\n"
		"Options:\n"
		"  --model M         one of the above (default single)\n"
		"  --dir DIR         where the objects go (a tmpfs: the paper's RAM disk)\n"
		"  --port P          TCP port on 127.0.0.1 (default 0: any free port)\n"
		"  --port-file FILE  write the bound port there once listening\n"
		"  --record BYTES    record size, %d..%d (default %d)\n"
		"  -h, --help        this text\n"
		"\n"
		"Every record (<= --record bytes of the body) is encrypted on its own with\n"
		"AES-256-CBC and PKCS#7 padding and written with pwrite() at\n"
		"record * (--record + 16); thread-io and fork-io keep at most %d records of one\n"
		"connection in flight.  One request per connection (Connection: close).\n"
		"Exit status: 0 stopped by SIGTERM or SIGINT, 1 setup error, 2 bad usage.\n",
		REC_MIN, REC_MAX, REC_DEF, INFLIGHT);
}

/* recv_some(fd, buf, len): up to len bytes, retrying EINTR; 0 at EOF, -1 on error. */
static ssize_t
recv_some(int fd, void *buf, size_t len)
{
	ssize_t n;

	do {
		n = recv(fd, buf, len, 0);
	} while (n < 0 && errno == EINTR && !stop);
	return n;
}

static int
send_all(int fd, const char *s)
{
	size_t len = strlen(s), off = 0;
	ssize_t n;

	while (off < len) {
		n = send(fd, s + off, len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

/* record_write(rec, enc): encrypt rec (if enc) and pwrite it at its place; 0 or -1. */
static int
record_write(struct record *rec, bool enc)
{
	size_t out = rec->len, off = 0;
	unsigned char iv[16];
	uint64_t carry = rec->index;
	EVP_CIPHER_CTX *ctx = NULL;
	int l1 = 0, l2 = 0;
	ssize_t n;

	if (enc) {
		/* IV = iv_base + index, big-endian. */
		memcpy(iv, iv_base, sizeof(iv));
		for (int i = 15; i >= 0 && carry != 0; i--) {
			carry += iv[i];
			iv[i] = (unsigned char)carry;
			carry >>= 8;
		}
		if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
			goto err0;
		if (EVP_EncryptInit_ex2(ctx, cbc, aes_key, iv, NULL) != 1 ||
		    EVP_EncryptUpdate(ctx, rec->buf, &l1, rec->buf, (int)rec->len) != 1 ||
		    EVP_EncryptFinal_ex(ctx, rec->buf + l1, &l2) != 1)
			goto err1;
		EVP_CIPHER_CTX_free(ctx);
		out = (size_t)l1 + (size_t)l2;
	}
	while (off < out) {
		n = pwrite(rec->fd, rec->buf + off, out - off,
			   (off_t)(rec->index * (opt_record + CBC_PAD) + off));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto err0;
		off += (size_t)n;
	}
	return 0;

err1:
	EVP_CIPHER_CTX_free(ctx);
err0:
	return -1;
}

/* ---- thread-io: a thread per record ---------------------------------------------------------- */

static void *
io_thread(void *arg)
{
	struct io_job *job = arg;
	struct flight *fl = job->fl;
	int rc = record_write(&job->rec, true);

	free(job->rec.buf);
	free(job);
	pthread_mutex_lock(&fl->mu);
	if (rc != 0)
		fl->failed = true;
	fl->busy--;
	pthread_cond_signal(&fl->cv);
	pthread_mutex_unlock(&fl->mu);
	return NULL;
}

/* ---- the request -------------------------------------------------------------------------------
 */

/* key_char(c): whether c may appear in an object key. */
static bool
key_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

/*
 * parse_head(head, len, key, &clen): a "PUT /KEY HTTP/1.1" head with a Content-Length;
 * KEY must be [A-Za-z0-9._-]{1,KEY_MAX} and not start with a dot.  0 or -1.
 */
static int
parse_head(char *head, size_t len, char key[KEY_MAX + 1], uint64_t *clen)
{
	char *p = head, *end = head + len, *eol, *v;
	size_t k = 0;
	bool have_len = false;

	if (len < 6 || memcmp(p, "PUT /", 5) != 0)
		return -1;
	for (p += 5; p < end && *p != ' '; p++) {
		if (k == KEY_MAX || !key_char(*p))
			return -1;
		key[k++] = *p;
	}
	key[k] = '\0';
	if (k == 0 || key[0] == '.')
		return -1;
	while ((eol = memmem(p, (size_t)(end - p), "\r\n", 2)) != NULL && eol != p) {
		*eol = '\0';
		if (strncasecmp(p, "Content-Length:", 15) == 0) {
			v = p + 15;
			while (*v == ' ' || *v == '\t')
				v++;
			errno = 0;
			*clen = strtoull(v, &v, 10);
			if (errno != 0 || *v != '\0')
				return -1;
			have_len = true;
		}
		p = eol + 2;
	}
	return have_len ? 0 : -1;
}

/* serve(cfd): one request on connection cfd, answered; the connection is left to the caller. */
static void
serve(int cfd)
{
	char head[HEAD_MAX + 1], key[KEY_MAX + 1];
	size_t hlen = 0, left, have, extra = 0;
	char *eoh = NULL;
	uint64_t clen = 0, index = 0;
	struct record rec = {.fd = -1};
	struct flight fl = {.busy = 0, .failed = false};
	bool enc = opt_model != M_SINGLE, ok = false;
	ssize_t n;
	pid_t kids[INFLIGHT];
	unsigned nkids = 0;
	int st;

	while (eoh == NULL) {
		if (hlen == HEAD_MAX)
			goto bad;
		if ((n = recv_some(cfd, head + hlen, HEAD_MAX - hlen)) <= 0)
			return;
		hlen += (size_t)n;
		head[hlen] = '\0';
		eoh = memmem(head, hlen, "\r\n\r\n", 4);
	}
	if (parse_head(head, (size_t)(eoh - head) + 2, key, &clen) != 0)
		goto bad;
	extra = hlen - (size_t)(eoh + 4 - head);
	if (extra > clen)
		goto bad;
	rec.fd = openat(dir_fd, key, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (rec.fd < 0)
		goto fail;
	pthread_mutex_init(&fl.mu, NULL);
	pthread_cond_init(&fl.cv, NULL);
	left = clen;
	while (left > 0 || (clen == 0 && index == 0)) {
		if ((rec.buf = malloc(opt_record + CBC_PAD)) == NULL)
			goto drain;
		have = 0;
		if (extra > 0) {
			have = extra < opt_record ? extra : opt_record;
			memcpy(rec.buf, eoh + 4, have);
			memmove(eoh + 4, eoh + 4 + have, extra - have);
			extra -= have;
		}
		while (have < opt_record && have < left) {
			size_t want = opt_record - have;

			if (want > left - have)
				want = left - have;
			if ((n = recv_some(cfd, rec.buf + have, want)) <= 0)
				goto drain;
			have += (size_t)n;
		}
		rec.len = have;
		rec.index = index++;
		left -= have;
		switch (opt_model) {
		case M_THREAD_IO: {
			struct io_job *job = malloc(sizeof(*job));
			pthread_attr_t at;
			pthread_t t;

			if (job == NULL)
				goto drain;
			job->rec = rec;
			job->fl = &fl;
			pthread_mutex_lock(&fl.mu);
			while (fl.busy >= INFLIGHT)
				pthread_cond_wait(&fl.cv, &fl.mu);
			fl.busy++;
			pthread_mutex_unlock(&fl.mu);
			pthread_attr_init(&at);
			pthread_attr_setstacksize(&at, THR_STACK);
			pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
			if (pthread_create(&t, &at, io_thread, job) != 0) {
				pthread_attr_destroy(&at);
				free(job);
				pthread_mutex_lock(&fl.mu);
				fl.busy--;
				pthread_mutex_unlock(&fl.mu);
				goto drain;
			}
			pthread_attr_destroy(&at);
			rec.buf = NULL; /* the thread owns it */
			break;
		}
		case M_FORK_IO: {
			pid_t pid;

			if (nkids == INFLIGHT) {
				if (waitpid(kids[0], &st, 0) < 0 || !WIFEXITED(st) ||
				    WEXITSTATUS(st) != 0)
					fl.failed = true;
				memmove(kids, kids + 1, (INFLIGHT - 1) * sizeof(kids[0]));
				nkids--;
			}
			if ((pid = fork()) < 0)
				goto drain;
			if (pid == 0)
				_exit(record_write(&rec, true) == 0 ? 0 : 1);
			kids[nkids++] = pid;
			free(rec.buf);
			rec.buf = NULL;
			break;
		}
		default:
			if (record_write(&rec, enc) != 0)
				fl.failed = true;
			free(rec.buf);
			rec.buf = NULL;
			break;
		}
		if (clen == 0)
			break;
	}
	ok = true;
drain:
	free(rec.buf);
	while (nkids > 0) {
		if (waitpid(kids[--nkids], &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
			fl.failed = true;
	}
	pthread_mutex_lock(&fl.mu);
	while (fl.busy > 0)
		pthread_cond_wait(&fl.cv, &fl.mu);
	pthread_mutex_unlock(&fl.mu);
	pthread_cond_destroy(&fl.cv);
	pthread_mutex_destroy(&fl.mu);
	close(rec.fd);
	if (!ok)
		return; /* the client went away mid-body */
	if (!fl.failed) {
		(void)send_all(cfd, ANSWER_OK);
		return;
	}
fail:
	(void)send_all(cfd, ANSWER_ERR);
	return;
bad:
	(void)send_all(cfd, ANSWER_BAD);
}

/* ---- connections -------------------------------------------------------------------------------
 */

static void *
conn_thread(void *arg)
{
	int cfd = (int)(intptr_t)arg;

	serve(cfd);
	close(cfd);
	return NULL;
}

static void
on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

/* Reap the children of fork-conn, so that their CPU time counts as the server's (cutime). */
static void
on_child(int sig)
{
	int e = errno;

	(void)sig;
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	errno = e;
}

static int
listen_on(int port, const char *port_file)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t sl = sizeof(sa);
	int fd, one = 1;
	FILE *f;

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		goto err0;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(fd, 1024) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &sl) != 0)
		goto err1;
	if (port_file != NULL) {
		if ((f = fopen(port_file, "w")) == NULL)
			goto err1;
		fprintf(f, "%u\n", ntohs(sa.sin_port));
		if (fclose(f) != 0)
			goto err1;
	}
	return fd;

err1:
	close(fd);
err0:
	perror("srvmodels: listen");
	return -1;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {{"model", required_argument, NULL, 'm'},
					   {"dir", required_argument, NULL, 'd'},
					   {"port", required_argument, NULL, 'p'},
					   {"port-file", required_argument, NULL, 'f'},
					   {"record", required_argument, NULL, 'r'},
					   {"help", no_argument, NULL, 'h'},
					   {NULL, 0, NULL, 0}};
	const char *dir = NULL, *port_file = NULL;
	struct sigaction sa = {.sa_handler = on_stop};
	int port = 0, lfd, cfd, c, one = 1;
	char *end;
	long v;
	size_t i;

	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'm':
			for (i = 0; i < sizeof(model_names) / sizeof(model_names[0]); i++)
				if (strcmp(optarg, model_names[i]) == 0)
					break;
			if (i == sizeof(model_names) / sizeof(model_names[0])) {
				fprintf(stderr, "srvmodels: unknown model %s\n", optarg);
				return 2;
			}
			opt_model = (enum model)i;
			break;
		case 'd':
			dir = optarg;
			break;
		case 'p':
		case 'r':
			errno = 0;
			v = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' ||
			    (c == 'p' ? v < 0 || v > 65535 : v < REC_MIN || v > REC_MAX)) {
				fprintf(stderr, "srvmodels: bad value for --%s: %s\n",
					c == 'p' ? "port" : "record", optarg);
				return 2;
			}
			if (c == 'p')
				port = (int)v;
			else
				opt_record = (size_t)v;
			break;
		case 'f':
			port_file = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (dir == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if ((dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		perror(dir);
		return 1;
	}
	if ((cbc = EVP_CIPHER_fetch(NULL, "AES-256-CBC", NULL)) == NULL ||
	    RAND_bytes(aes_key, sizeof(aes_key)) != 1 ||
	    RAND_bytes(iv_base, sizeof(iv_base)) != 1) {
		fprintf(stderr, "srvmodels: OpenSSL setup failed\n");
		return 1;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (opt_model == M_FORK_CONN) {
		struct sigaction sc = {.sa_handler = on_child, .sa_flags = SA_RESTART};

		sigaction(SIGCHLD, &sc, NULL);
	}
	if ((lfd = listen_on(port, port_file)) < 0)
		return 1;
	while (!stop) {
		if ((cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE)
				continue;
			perror("srvmodels: accept");
			break;
		}
		(void)setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		switch (opt_model) {
		case M_THREAD_CONN: {
			pthread_attr_t at;
			pthread_t t;

			pthread_attr_init(&at);
			pthread_attr_setstacksize(&at, THR_STACK);
			pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
			if (pthread_create(&t, &at, conn_thread, (void *)(intptr_t)cfd) != 0)
				close(cfd);
			pthread_attr_destroy(&at);
			break;
		}
		case M_FORK_CONN: {
			pid_t pid = fork();

			if (pid == 0) {
				close(lfd);
				serve(cfd);
				close(cfd);
				_exit(0);
			}
			close(cfd);
			break;
		}
		default:
			serve(cfd);
			close(cfd);
			break;
		}
	}
	close(lfd);
	EVP_CIPHER_free(cbc);
	OPENSSL_cleanse(aes_key, sizeof(aes_key));
	return 0;
}
