/*
 * cryptstored: the encrypted multi-level S3 object server.
 *
 * Start-up order: settings, secure memory (locked while still privileged)
 * and no core dumps, the crypto self-test (the server refuses to start if
 * it fails), the root key (file or passphrase), the listening and control
 * sockets; then, when started as root with `user`, privileges are dropped;
 * then keystore, store, identities, catalogue and audit log.  Each accepted
 * connection is served by its own thread (conn.c) up to max_conns; beyond
 * that a client gets 503 SlowDown at once.
 */
#include "admin.h"
#include "audit/audit.h"
#include "catalog.h"
#include "cluster.h"
#include "sandbox.h"
#include "config.h"
#include "conn.h"
#include "crypto/md5_shared.h"
#include "crypto/seal_shared.h"
#include "crypto/selftest.h"
#include "evloop.h"
#include "identity.h"
#include "keystore/keystore.h"
#include "log.h"
#include "procmodel.h"
#include "server.h"
#include "tls.h"
#include "store/store.h"
#include "util/err.h"
#include "util/secmem.h"
#include "util/workq.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#define VERSION      "0.1.0"
#define THREAD_STACK (512u << 10)
#define PASS_MAX     1024

static volatile sig_atomic_t stopping;

static void
on_signal(int sig)
{
	(void)sig;
	stopping = 1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: cryptstored [--config FILE] [--SETTING VALUE ...]\n"
		   "       cryptstored --selftest | --version | --help\n\n"
		   "Encrypted multi-level S3-compatible object server.  Settings come from the\n"
		   "defaults, then FILE (`key = value` lines), then flags.  Settings [default]:\n");
	config_usage(f);
	fprintf(f, "\nExit status: 0 after a clean shutdown (SIGINT/SIGTERM), 1 if it cannot "
		   "start,\n2 for bad usage, 3 if the crypto self-test fails.\n");
}

/* ---- the root key and privileges ------------------------------------------ */

/* read_passphrase: from the terminal (echo off) or a file descriptor. */
static int
read_passphrase(const char *how, char *buf, size_t size, size_t *len)
{
	struct termios t0, t1;
	bool tty = strcmp(how, "tty") == 0;
	int fd = -1;
	size_t n = 0;

	if (tty) {
		if ((fd = open("/dev/tty", O_RDWR | O_CLOEXEC)) < 0) {
			log_error("root-passphrase tty: no terminal: %s", strerror(errno));
			return -1;
		}
		if (write(fd, "cryptstored root passphrase: ", 29) != 29 || tcgetattr(fd, &t0) != 0)
			goto fail;
		t1 = t0;
		t1.c_lflag &= ~(tcflag_t)ECHO;
		(void)tcsetattr(fd, TCSAFLUSH, &t1);
	} else if (strncmp(how, "fd:", 3) == 0) {
		char *end;
		long v = strtol(how + 3, &end, 10);

		if (*end != '\0' || v < 0 || v > 65535) {
			log_error("root-passphrase: '%s' is neither 'tty' nor 'fd:N'", how);
			return -1;
		}
		fd = (int)v;
	} else {
		log_error("root-passphrase: '%s' is neither 'tty' nor 'fd:N'", how);
		return -1;
	}
	while (n < size - 1) {
		ssize_t k = read(fd, buf + n, 1);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0 || buf[n] == '\n')
			break;
		n++;
	}
	if (tty) {
		(void)tcsetattr(fd, TCSAFLUSH, &t0);
		if (write(fd, "\n", 1) != 1) {
			/* cosmetic */
		}
		close(fd);
	} else {
		close(fd);
	}
	*len = n;
	if (n == size - 1) {
		log_error("root passphrase: longer than %zu bytes", size - 2);
		return -1;
	}
	if (n == 0) {
		log_error("root passphrase: empty");
		return -1;
	}
	return 0;
fail:
	close(fd);
	log_error("root-passphrase tty: %s", strerror(errno));
	return -1;
}

/* own_dir: make dir (0700) for the unprivileged user, or check it is theirs. */
static int
own_dir(const char *dir, const struct passwd *pw)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0) {
		if (chown(dir, pw->pw_uid, pw->pw_gid) != 0) {
			log_error("cannot chown %s to %s: %s", dir, pw->pw_name, strerror(errno));
			return -1;
		}
		return 0;
	}
	if (errno != EEXIST || lstat(dir, &st) != 0) {
		log_error("cannot create %s: %s", dir, strerror(errno));
		return -1;
	}
	if (st.st_uid != pw->pw_uid) {
		log_error(
			"%s belongs to uid %u, but the server runs as %s (uid %u) after start-up; "
			"fix: chown -R %s: '%s'",
			dir, (unsigned)st.st_uid, pw->pw_name, (unsigned)pw->pw_uid, pw->pw_name,
			dir);
		return -1;
	}
	return 0;
}

/*
 * drop_privileges: become pw for good (groups, gid, uid), with
 * no-new-privileges, and check that root cannot be regained.
 */
static int
drop_privileges(const struct passwd *pw)
{
	if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0) {
		log_error("cannot drop privileges to %s: %s", pw->pw_name, strerror(errno));
		return -1;
	}
	if (setuid(0) == 0) {
		log_error("privileges were not dropped: setuid(0) still works");
		return -1;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		log_warn("cannot set no-new-privileges: %s", strerror(errno));
	if (secmem_no_core_dumps() != 0)
		log_warn("cannot disable core dumps: %s", strerror(errno));
	log_info("dropped privileges to %s (uid %u, gid %u)", pw->pw_name, (unsigned)pw->pw_uid,
		 (unsigned)pw->pw_gid);
	return 0;
}

/* The sealing workers' context: an engine of their own. */
static void *
seal_ctx_new(void *arg)
{
	struct server *srv = arg;
	struct engine *e = NULL;

	return engine_new(&e, srv->engine) == 0 ? e : NULL;
}

static void
seal_ctx_free(void *ctx)
{
	engine_free(ctx);
}

/* start_seal_workers: the sealing workers of srv (one per CPU by default). */
static int
start_seal_workers(struct server *srv)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	unsigned n = srv->cfg.seal_workers != 0 ? srv->cfg.seal_workers
		     : ncpu > 0 && ncpu <= 256  ? (unsigned)ncpu
						: 1;
	int rc;

	if ((rc = workq_new(&srv->sealq, n, seal_ctx_new, seal_ctx_free, srv)) != 0) {
		log_error("cannot start %u sealing workers: %s", n, err_str(rc));
		return -1;
	}
	return 0;
}

/* child_init: a connection process of model = process, after the fork:
 * its own team of sealing workers, then the sandbox. */
static int
child_init(struct server *srv)
{
	char why[256];
	int rc;

	if (start_seal_workers(srv) != 0)
		return -1;
	if (!srv->cfg.sandbox)
		return 0;
	rc = sandbox_enter(why, sizeof(why));
	if (rc != 0 && rc != CS_ENOTSUP) {
		log_error("sandbox: %s (set sandbox = false to run without it)", why);
		return -1;
	}
	return 0;
}

struct conn_arg {
	struct server *srv;
	int fd;
	char peer[64];
};

static void *
conn_thread(void *arg)
{
	struct conn_arg *a = arg;

	conn_serve(a->srv, a->fd, a->peer); /* gives back its nconn count */
	free(a);
	return NULL;
}

/* refuse: answer 503 SlowDown without a thread, then close.  A TLS client
 * cannot read a plaintext answer and a handshake per refusal would be the
 * flood's work done for it: it sees the connection closed. */
static void
refuse(int fd, bool tls)
{
	static const char body[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SlowDown</Code>"
		"<Message>Too many connections.</Message></Error>\n";
	char msg[320], junk[4096];
	int n = snprintf(msg, sizeof(msg),
			 "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
			 "Connection: close\r\nContent-Length: %zu\r\n\r\n%s",
			 sizeof(body) - 1, body);

	if (!tls && n > 0 && (size_t)n < sizeof(msg) &&
	    send(fd, msg, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0) {
		/* best effort */
	}
	/* Closing with unread bytes sends a reset, which can reach the client
	 * before it reads the 503: take what it sent already. */
	shutdown(fd, SHUT_WR);
	while (recv(fd, junk, sizeof(junk), MSG_DONTWAIT) > 0)
		;
	close(fd);
}

static int
listen_on(struct server *srv)
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int fd, one = 1;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)srv->cfg.port);
	if (inet_pton(AF_INET, srv->cfg.listen, &a.sin_addr) != 1) {
		log_error("listen: '%s' is not an IPv4 address", srv->cfg.listen);
		return -1;
	}
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1024) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &al) != 0) {
		log_error("cannot listen on %s:%u: %s", srv->cfg.listen, srv->cfg.port,
			  strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	srv->cfg.port = ntohs(a.sin_port);
	return fd;
}

/* write_port_file: last step of start-up, so a test that sees the file
 * finds the server listening and the credentials written. */
static int
write_port_file(const struct server *srv)
{
	char tmp[600];
	FILE *f;

	if (srv->cfg.port_file[0] == '\0')
		return 0;
	snprintf(tmp, sizeof(tmp), "%s.tmp", srv->cfg.port_file);
	if ((f = fopen(tmp, "w")) == NULL || fprintf(f, "%u\n", srv->cfg.port) < 0 ||
	    fclose(f) != 0 || rename(tmp, srv->cfg.port_file) != 0) {
		log_error("cannot write %s", srv->cfg.port_file);
		return -1;
	}
	return 0;
}

/* rados: true if the objects live in a Ceph pool rather than data_dir. */
static bool
rados(const struct server *srv)
{
	return strcmp(srv->cfg.store, "rados") == 0;
}

/* open_store: the object store the settings name. */
static int
open_store(struct server *srv)
{
	char why[512] = "";
	int rc;

	if (rados(srv)) {
		const struct config *c = &srv->cfg;
		struct store_rados_cfg rcfg = {
			.conf = c->rados_conf[0] != '\0' ? c->rados_conf : NULL,
			.user = c->rados_user[0] != '\0' ? c->rados_user : NULL,
			.keyring = c->rados_keyring[0] != '\0' ? c->rados_keyring : NULL,
			.pool = c->rados_pool,
			.nspace = c->rados_namespace[0] != '\0' ? c->rados_namespace : NULL,
			.op_timeout = (int)c->rados_op_timeout,
		};

		if ((rc = store_rados_open(&srv->st, &rcfg, why, sizeof(why))) != 0) {
			log_error("store: Ceph pool %s as %s: %s (is the cluster up and the "
				  "rados-* settings right?)",
				  c->rados_pool, c->rados_user[0] ? c->rados_user : "client.admin",
				  why);
			return -1;
		}
		return 0;
	}
	if ((rc = store_fs_open(&srv->st, srv->cfg.data_dir,
				srv->cfg.sync ? STORE_SYNC_FULL : STORE_SYNC_NONE)) != 0) {
		log_error("store %s: %s (%s)", srv->cfg.data_dir, err_str(rc), strerror(errno));
		return -1;
	}
	if (srv->cfg.direct_io) {
		/* Not an error (tmpfs, for one): the writes then go through the page cache. */
		if (store_fs_direct(srv->st, why, sizeof(why)) != 0)
			log_info("direct_io: off for %s: %s; writing through the page cache",
				 srv->cfg.data_dir, why);
		else
			log_info("direct_io: upload batches go to %s with O_DIRECT (aligned to %u "
				 "bytes)",
				 srv->cfg.data_dir, store_write_align(srv->st));
	}
	return 0;
}

/*
 * The demo credentials go out with write(2) from buffers wiped right after:
 * stdio would keep them in its buffers (stdout's, and the credentials
 * FILE's after fclose), and with model = process every connection process
 * would inherit them, keys it must not hold.
 */
struct banner {
	struct server *srv;
	int n;
	int fd; /* the credentials file, or -1 */
	bool fd_failed;
	char level[64], akid[IDENTITY_AKID_LEN + 1],
		secret[IDENTITY_SECRET_LEN + 1]; /* the first */
};

/* write_secret: all of line (which holds a secret) to fd, then wipe it. */
static bool
write_secret(int fd, char *line, size_t size)
{
	size_t n = strnlen(line, size), off = 0;

	while (off < n) {
		ssize_t k = write(fd, line + off, n - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	secmem_wipe(line, size);
	return off == n;
}

static void
banner_key(void *arg, const char *akid, const char *user, const char *level)
{
	struct banner *b = arg;
	uint8_t secret[64];
	char line[LABEL_STR_MAX + IDENTITY_AKID_LEN + 128];
	size_t sl = 0;

	if (strcmp(user, "demo") != 0 ||
	    identity_lookup(b->srv->ids, akid, secret, sizeof(secret), &sl) != 0)
		return;
	snprintf(line, sizeof(line), "  %-6s  AWS_ACCESS_KEY_ID=%s  AWS_SECRET_ACCESS_KEY=%.*s\n",
		 level, akid, (int)sl, (const char *)secret);
	(void)write_secret(STDOUT_FILENO, line, sizeof(line));
	if (b->fd >= 0) {
		snprintf(line, sizeof(line), "%s %s %.*s\n", level, akid, (int)sl,
			 (const char *)secret);
		if (!write_secret(b->fd, line, sizeof(line)))
			b->fd_failed = true;
	}
	if (b->n == 0 && sl <= IDENTITY_SECRET_LEN) {
		snprintf(b->level, sizeof(b->level), "%.63s", level);
		snprintf(b->akid, sizeof(b->akid), "%s", akid);
		memcpy(b->secret, secret, sl);
		b->secret[sl] = '\0';
	}
	secmem_wipe(secret, sizeof(secret));
	b->n++;
}

/* first_start: levels, and in demo mode buckets and a test identity. */
static int
first_start(struct server *srv)
{
	char levels[sizeof(srv->cfg.init_levels)], *save = NULL, *lv;
	char akid[IDENTITY_AKID_LEN + 1], secret[IDENTITY_SECRET_LEN + 1];
	int rc;

	snprintf(levels, sizeof(levels), "%s", srv->cfg.init_levels);
	for (lv = strtok_r(levels, ",", &save); lv != NULL; lv = strtok_r(NULL, ",", &save)) {
		struct label l;
		char canon[LABEL_STR_MAX];

		if (label_parse(lv, strlen(lv), &l, NULL) != 0 ||
		    label_format(&l, canon, sizeof(canon)) < 0) {
			log_error("init-levels: '%s' is not a label", lv);
			return -1;
		}
		if (!keystore_level_exists(srv->ks, canon)) {
			/* CS_EEXIST: a shredded level keeps its tombstone; it is
			 * revived only by an explicit `key rotate`. */
			if ((rc = keystore_level_add(srv->ks, canon)) == CS_EEXIST) {
				log_info("level %s was shredded; it stays so", canon);
				continue;
			}
			if (rc != 0) {
				log_error("cannot create the key of level %s: %s", canon,
					  err_str(rc));
				return -1;
			}
			log_info("created the key of level %s", canon);
		}
		if (srv->cfg.init_demo && identity_count(srv->ids) == 0) {
			char bucket[80];

			snprintf(bucket, sizeof(bucket), "level-%.60s", canon);
			for (char *p = bucket; *p; p++)
				if (*p == ':' || *p == ',' || *p == '_')
					*p = '-';
			rc = catalog_bucket_create(srv->cat, bucket, canon);
			if (rc != 0 && rc != CS_EEXIST && rc != CS_EINVAL) {
				log_error("cannot create bucket %s: %s", bucket, err_str(rc));
				return -1;
			}
		}
	}
	if (srv->cfg.init_demo && identity_count(srv->ids) == 0) {
		char clearance[LABEL_RANGE_STR_MAX], last[64] = "s0";

		/* The demo user is cleared from s0 up to the last initial level. */
		snprintf(levels, sizeof(levels), "%s", srv->cfg.init_levels);
		save = NULL;
		for (lv = strtok_r(levels, ",", &save); lv != NULL; lv = strtok_r(NULL, ",", &save))
			snprintf(last, sizeof(last), "%.63s", lv);
		last[strcspn(last, ":")] = '\0';
		snprintf(clearance, sizeof(clearance), "s0-%s:c0.c1023", last);
		if ((rc = identity_user_add(srv->ids, "demo", clearance, true)) != 0) {
			log_error("cannot create the demo user: %s", err_str(rc));
			return -1;
		}
		snprintf(levels, sizeof(levels), "%s", srv->cfg.init_levels);
		save = NULL;
		for (lv = strtok_r(levels, ",", &save); lv != NULL; lv = strtok_r(NULL, ",", &save))
			if ((rc = identity_key_create(srv->ids, "demo", lv, akid, secret)) != 0) {
				log_error("cannot create a demo key at %s: %s", lv, err_str(rc));
				return -1;
			}
		secmem_wipe(secret, sizeof(secret));
	}
	return 0;
}

static void
print_banner(struct server *srv)
{
	const char *scheme = srv->tls != NULL ? "https" : "http";
	struct banner b;

	if (!srv->cfg.init_demo)
		return;
	memset(&b, 0, sizeof(b));
	b.srv = srv;
	b.fd = -1;
	if (srv->cfg.credentials_file[0] != '\0') {
		(void)unlink(srv->cfg.credentials_file);
		b.fd = open(srv->cfg.credentials_file,
			    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (b.fd < 0)
			log_warn("cannot write %s: %s", srv->cfg.credentials_file, strerror(errno));
	}
	printf("\ncryptstored %s listening on %s://%s:%u (region %s)\n", VERSION, scheme,
	       srv->cfg.listen, srv->cfg.port, srv->cfg.region);
	printf("Test identity 'demo' (clearance s0-s3): one access key per session level.\n"
	       "A key reads buckets at or below its level and writes only at its level.\n");
	fflush(stdout); /* what follows is written past stdio */
	identity_keys(srv->ids, banner_key, &b);
	if (b.fd >= 0 && (b.fd_failed || fsync(b.fd) != 0 || close(b.fd) != 0))
		log_warn("cannot write %s", srv->cfg.credentials_file);
	if (b.n > 0) {
		char bucket[80], try[1024];

		snprintf(bucket, sizeof(bucket), "level-%s", b.level);
		for (char *p = bucket; *p; p++)
			if (*p == ':' || *p == ',' || *p == '_')
				*p = '-';
		snprintf(try, sizeof(try),
			 "\nTry it with the %s key (paste these lines into a shell):\n"
			 "  export AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s "
			 "AWS_DEFAULT_REGION=%s\n"
			 "  aws --endpoint-url %s://%s:%u s3 cp /etc/hostname s3://%s/hello.txt\n"
			 "  aws --endpoint-url %s://%s:%u s3 ls s3://%s/\n\n",
			 b.level, b.akid, b.secret, srv->cfg.region, scheme, srv->cfg.listen,
			 srv->cfg.port, bucket, scheme, srv->cfg.listen, srv->cfg.port, bucket);
		(void)write_secret(STDOUT_FILENO, try, sizeof(try));
	}
	secmem_wipe(b.secret, sizeof(b.secret));
}

int
main(int argc, char **argv)
{
	static struct server srv;
	char why[1024] = "";
	struct engine *e = NULL;
	pthread_attr_t attr;
	uint64_t unreadable = 0;
	uint8_t *root = NULL;
	char *pass = NULL;
	size_t passlen = 0;
	struct passwd *pw = NULL;
	int lfd = -1, afd = -1, rc, status = 1;
	bool parker = false, process;

	/* Buffers of 128 KiB and more (connection input, batch slots, engines)
	 * go back to the system when freed, so a burst of requests does not
	 * leave the heap at its peak (a test saw 526 MiB kept after 1000 GETs). */
	mallopt(M_MMAP_THRESHOLD, 128 << 10);
	config_defaults(&srv.cfg);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
		if (strcmp(argv[i], "--version") == 0) {
			printf("cryptstored %s\n", VERSION);
			return 0;
		}
		if (strcmp(argv[i], "--selftest") == 0) {
			rc = selftest_run(why, sizeof(why));
			printf("selftest: %s%s%s (ipsec-mb: %s)\n",
			       rc == 0 ? "ok" : "FAILED: ", rc == 0 ? "" : why, "",
			       engine_ipsecmb_arch());
			return rc == 0 ? 0 : 3;
		}
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
			if (config_load(&srv.cfg, argv[++i], why, sizeof(why)) != 0) {
				fprintf(stderr, "cryptstored: %s\n", why);
				return 2;
			}
			continue;
		}
		if (strncmp(argv[i], "--", 2) == 0 && i + 1 < argc) {
			if (config_set(&srv.cfg, argv[i] + 2, argv[i + 1], why, sizeof(why)) != 0) {
				fprintf(stderr, "cryptstored: %s\n", why);
				return 2;
			}
			i++;
			continue;
		}
		fprintf(stderr, "cryptstored: unexpected argument '%s' (try --help)\n", argv[i]);
		return 2;
	}
	log_set_level(strcmp(srv.cfg.log_level, "debug") == 0   ? LOG_DEBUG
		      : strcmp(srv.cfg.log_level, "warn") == 0  ? LOG_WARN
		      : strcmp(srv.cfg.log_level, "error") == 0 ? LOG_ERROR
								: LOG_INFO);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	if ((rc = secmem_init(SECMEM_DEFAULT_HEAP)) < 0) {
		log_error("cannot create the secure heap");
		return 1;
	}
	if (rc == 1)
		log_warn("secure heap is not locked in memory (RLIMIT_MEMLOCK too low?): keys "
			 "could be swapped; fine for development, not for production");
	if (secmem_no_core_dumps() != 0)
		log_warn("cannot disable core dumps: %s", strerror(errno));
	if (selftest_run(why, sizeof(why)) != 0) {
		log_error("crypto self-test FAILED, refusing to start: %s", why);
		return 3;
	}
	if ((srv.suite = suite_by_name(srv.cfg.suite)) == NULL) {
		log_error("suite '%s' unknown (aes-256-cbc-hmac-sha256 or aes-256-gcm)",
			  srv.cfg.suite);
		return 2;
	}
	if (engine_kind_parse(srv.cfg.engine, &srv.engine) != 0) {
		log_error("engine '%s' unknown (auto, evp or ipsec-mb)", srv.cfg.engine);
		return 2;
	}
	if (srv.cfg.chunk_size < 16 || srv.cfg.chunk_size > ENGINE_MAX_TEXT ||
	    srv.cfg.chunk_size % 16 != 0) {
		log_error("chunk-size must be a multiple of 16 from 16 to %u", ENGINE_MAX_TEXT);
		return 2;
	}
	if (strcmp(srv.cfg.store, "fs") != 0 && !rados(&srv)) {
		log_error("store '%s' unknown (fs or rados)", srv.cfg.store);
		return 2;
	}
	if (rados(&srv) && srv.cfg.rados_pool[0] == '\0') {
		log_error("store = rados needs rados-pool");
		return 2;
	}
	if (rados(&srv) && (srv.cfg.rados_op_timeout < 1 || srv.cfg.rados_op_timeout > 3600)) {
		log_error("rados-op-timeout must be 1..3600 seconds");
		return 2;
	}
	if (strcmp(srv.cfg.model, "thread") != 0 && strcmp(srv.cfg.model, "process") != 0) {
		log_error("model '%s' unknown (thread or process)", srv.cfg.model);
		return 2;
	}
	process = strcmp(srv.cfg.model, "process") == 0;
	if (process && rados(&srv)) {
		log_error("model = process needs store = fs (librados does not survive fork)");
		return 2;
	}
	if (engine_new(&e, srv.engine) != 0) {
		log_error("crypto engine '%s' is not usable on this machine", srv.cfg.engine);
		return 1;
	}
	http_limits_init(&srv.limits);
	srv.limits.max_body = srv.cfg.max_object + (srv.cfg.max_object >> 3) + (1u << 20);
	srv.admin_fd = -1;
	clock_gettime(CLOCK_MONOTONIC, &srv.started);
	srv.started_wall = time(NULL);

	/* While still privileged: the root key, the sockets, the run-as user. */
	if ((root = secmem_alloc(KEYSTORE_KEY_LEN)) == NULL ||
	    (pass = secmem_alloc(PASS_MAX)) == NULL) {
		log_error("out of secure memory");
		goto out;
	}
	if (srv.cfg.root_passphrase[0] != '\0') {
		if (read_passphrase(srv.cfg.root_passphrase, pass, PASS_MAX, &passlen) != 0)
			goto out;
	} else if (keystore_read_root(srv.cfg.root_key, true, root, why, sizeof(why)) != 0) {
		log_error("root key: %s", why);
		goto out;
	}
	if (tls_ctx_new(&srv.tls, &srv.cfg, why, sizeof(why)) != 0) {
		log_error("TLS: %s", why);
		goto out;
	}
	if (srv.cfg.user[0] != '\0' && geteuid() == 0) {
		if ((pw = getpwnam(srv.cfg.user)) == NULL) {
			log_error("user '%s' does not exist (create it, e.g. useradd --system "
				  "--no-create-home %s)",
				  srv.cfg.user, srv.cfg.user);
			goto out;
		}
		if (pw->pw_uid == 0) {
			log_error("user '%s' is root: choose an unprivileged user", srv.cfg.user);
			goto out;
		}
		if ((!rados(&srv) && own_dir(srv.cfg.data_dir, pw) != 0) ||
		    own_dir(srv.cfg.keys_dir, pw) != 0 || own_dir(srv.cfg.audit_dir, pw) != 0)
			goto out;
	} else if (srv.cfg.user[0] != '\0') {
		log_warn("user '%s': not started as root, so there are no privileges to drop",
			 srv.cfg.user);
	} else if (geteuid() == 0) {
		log_warn("running as root: set `user` to an unprivileged account so that the "
			 "network-facing process holds no root powers (fine for development)");
	} else {
		log_warn("running unprivileged (uid %u): there is no privilege separation, the "
			 "serving process can read the root key file; fine for development, for "
			 "production start as root with `user` (docs/SECURITY.md)",
			 (unsigned)geteuid());
	}
	if ((lfd = listen_on(&srv)) < 0)
		goto out;
	if (srv.cfg.admin_socket[0] != '\0' &&
	    (afd = admin_listen(&srv, pw ? pw->pw_uid : (uid_t)-1, pw ? pw->pw_gid : (gid_t)-1, why,
				sizeof(why))) < 0) {
		log_error("admin socket: %s", why);
		goto out;
	}
	if (pw != NULL && drop_privileges(pw) != 0)
		goto out;

	if (passlen > 0) {
		if (keystore_passphrase_root(srv.cfg.keys_dir, pass, passlen, srv.cfg.scrypt_logn,
					     true, root, why, sizeof(why)) != 0) {
			log_error("root passphrase: %s", why);
			goto out;
		}
		secmem_wipe(pass, PASS_MAX);
	}
	if (rados(&srv)) {
		/* The keystore lives in the cluster, shared by every front-end;
		 * only the root key (or the passphrase's salt) is local. */
		struct keystore_files files;

		if (cluster_open(&srv.cluster, &srv.cfg, why, sizeof(why)) != 0) {
			log_error("cluster: %s", why);
			goto out;
		}
		rc = cluster_keystore_files(srv.cluster, &files);
		if (rc == 0)
			rc = keystore_open_files(&srv.ks, &files, root, true, why, sizeof(why));
		else
			snprintf(why, sizeof(why), "%s", err_str(rc));
	} else {
		rc = keystore_open_root(&srv.ks, srv.cfg.keys_dir, root, true, why, sizeof(why));
	}
	secmem_free(root, KEYSTORE_KEY_LEN);
	root = NULL;
	if (rc != 0) {
		log_error("keystore: %s%s", why,
			  rc == CS_EAUTH && passlen > 0 ? " (wrong passphrase?)" : "");
		goto out;
	}
	if (open_store(&srv) != 0)
		goto out;
	if (identity_open(&srv.ids, srv.ks, why, sizeof(why)) != 0) {
		log_error("identities: %s", why);
		goto out;
	}
	if (catalog_open(&srv.cat, srv.st, srv.ks, e, &unreadable, why, sizeof(why)) != 0) {
		log_error("catalogue: %s", why);
		goto out;
	}
	if (srv.cluster != NULL && cluster_start(srv.cluster, &srv, why, sizeof(why)) != 0) {
		log_error("cluster: %s", why);
		goto out;
	}
	if (unreadable > 0)
		log_warn("%llu stored objects cannot be read (destroyed level keys or damage); "
			 "they are not listed",
			 (unsigned long long)unreadable);
	{
		uint8_t *ak = secmem_alloc(AUDIT_KEY_LEN);

		rc = ak == NULL ? CS_ENOMEM
				: keystore_derive(srv.ks, "cryptstore v1 audit chain", ak);
		if (rc == 0)
			rc = audit_open(&srv.audit, srv.cfg.audit_dir, ak, srv.cfg.audit_rotate,
					srv.cfg.sync, why, sizeof(why));
		secmem_free(ak, AUDIT_KEY_LEN);
		if (rc != 0) {
			log_error("audit log %s: %s", srv.cfg.audit_dir, why);
			goto out;
		}
		if (audit_resume_warning(srv.audit) != NULL) {
			log_error("AUDIT: the audit log's end is damaged: %s",
				  audit_resume_warning(srv.audit));
			/* Into the chain too, so the damage report is itself protected. */
			AUDIT(&srv, "audit_damaged", "why", audit_resume_warning(srv.audit));
		}
	}
	/* model = process: each connection process starts its own (child_init). */
	if (!process && start_seal_workers(&srv) != 0)
		goto out;
	/* Sixteen AVX2 lanes (two registers); 64 KiB slices let a late upload
	 * join within a round of ~0.2 ms. */
	if (!process && srv.cfg.md5_batch &&
	    (rc = md5_shared_new(&srv.md5c, MD5_MB_LANES, 64u << 10)) != 0) {
		log_error("cannot set up MD5 batching: %s", err_str(rc));
		goto out;
	}
	/* The last batch of each upload (all of a small object) on the
	 * connection's thread: up to 16 records of several uploads a call. */
	if (!process && srv.cfg.seal_batch && (rc = seal_shared_new(&srv.sealc, 16)) != 0) {
		log_error("cannot set up seal batching: %s", err_str(rc));
		goto out;
	}
	if (first_start(&srv) != 0)
		goto out;
	if (process && (rc = procmodel_init(&srv, e)) != 0) {
		log_error("process model: cannot set up the shared change log: %s", err_str(rc));
		goto out;
	}
	log_info("cryptstored %s on %s:%u: TLS %s, suite %s, engine %s (%s), chunk %u, data %s, "
		 "keys %s, admin %s, audit %s",
		 VERSION, srv.cfg.listen, srv.cfg.port, tls_ctx_describe(srv.tls), srv.suite->name,
		 engine_name(e), engine_ipsecmb_arch(), srv.cfg.chunk_size, srv.cfg.data_dir,
		 srv.cfg.keys_dir, afd >= 0 ? srv.cfg.admin_socket : "(none)", srv.cfg.audit_dir);
	{
		char port[16], pid[16];

		snprintf(port, sizeof(port), "%u", srv.cfg.port);
		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		AUDIT(&srv, "server_start", "version", VERSION, "port", port, "pid", pid, "uid",
		      pw ? pw->pw_name : "unchanged");
	}
	if (afd >= 0) {
		if (admin_start(&srv, afd) != 0) {
			log_error("cannot start the admin thread");
			goto out;
		}
		afd = -1;
	}
	if (!process && srv.cfg.event_loop && srv.cfg.pipeline &&
	    (rc = evloop_start(srv.cfg.event_loops)) != 0) {
		log_error("cannot start the event loops: %s", err_str(rc));
		goto out;
	}
	if (evloop_count() > 0)
		log_info("%u event loop(s) receive plain-HTTP upload bodies", evloop_count());
	if (!process && conn_parker_start(&srv) != 0) {
		log_error("cannot start the idle-connection parker");
		goto out;
	}
	parker = !process;
	print_banner(&srv);
	if (srv.cfg.sandbox && process) {
		log_info("sandbox: each connection process installs the seccomp allow-list "
			 "(the parent, which forks, runs without it)");
	} else if (srv.cfg.sandbox && rados(&srv)) {
		/* librados opens connections to monitors and OSDs whenever the
		 * cluster map changes: socket() and connect() must stay allowed. */
		log_warn("sandbox: not with store = rados (librados connects to the cluster at "
			 "any time); running without the seccomp allow-list");
	} else if (srv.cfg.sandbox) {
		rc = sandbox_enter(why, sizeof(why));
		if (rc == CS_ENOTSUP) {
			log_warn("sandbox: %s: running without the seccomp allow-list", why);
		} else if (rc != 0) {
			log_error("sandbox: %s (set sandbox = false to run without it)", why);
			goto out;
		} else {
			log_info("sandbox: seccomp allow-list installed, no-new-privileges set");
		}
	}
	if (write_port_file(&srv) != 0)
		goto out;
	if (process) {
		static const struct procmodel_hooks hooks = {refuse, child_init};

		procmodel_run(&srv, lfd, &hooks, &stopping);
	}
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	while (!process && !stopping) {
		struct pollfd p = {lfd, POLLIN, 0};
		struct sockaddr_in peer;
		socklen_t pl = sizeof(peer);
		struct conn_arg *a;
		pthread_t t;
		int fd, one = 1;

		if (poll(&p, 1, 500) <= 0)
			continue;
		if ((fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC)) < 0)
			continue;
		if (atomic_fetch_add(&srv.nconn, 1) >= srv.cfg.max_conns ||
		    (a = calloc(1, sizeof(*a))) == NULL) {
			atomic_fetch_sub(&srv.nconn, 1);
			refuse(fd, srv.tls != NULL);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		a->srv = &srv;
		a->fd = fd;
		{
			char ip[INET_ADDRSTRLEN];

			snprintf(a->peer, sizeof(a->peer), "%s:%u",
				 inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip)) ? ip : "?",
				 ntohs(peer.sin_port));
		}
		/* Plain HTTP: no thread until its first head is in. */
		if (conn_accept(&srv, fd, a->peer)) {
			free(a);
			continue;
		}
		if (pthread_create(&t, &attr, conn_thread, a) != 0) {
			atomic_fetch_sub(&srv.nconn, 1);
			free(a);
			refuse(fd, srv.tls != NULL);
		}
	}
	atomic_store(&srv.stopping, true);
	close(lfd);
	lfd = -1;
	admin_stop(&srv);
	if (parker)
		conn_parker_stop(); /* closes the parked connections */
	parker = false;
	log_info("shutting down: waiting for %u connection(s)", atomic_load(&srv.nconn));
	for (int i = 0; i < 100 && atomic_load(&srv.nconn) > 0; i++)
		usleep(50000);
	status = 0;
	if (atomic_load(&srv.nconn) > 0) {
		/* Threads still serve slow clients: leave the shared state alone. */
		log_warn("%u connection(s) still open at exit", atomic_load(&srv.nconn));
		AUDIT(&srv, "server_stop", "open_connections", "some");
		engine_free(e);
		return 0;
	}
	AUDIT(&srv, "server_stop", "open_connections", "0");
out:
	if (lfd >= 0)
		close(lfd);
	if (afd >= 0) {
		close(afd);
		(void)unlink(srv.cfg.admin_socket);
	}
	admin_stop(&srv);
	if (parker) {
		atomic_store(&srv.stopping, true);
		conn_parker_stop();
	}
	secmem_free(root, KEYSTORE_KEY_LEN);
	secmem_free(pass, PASS_MAX);
	procmodel_free(&srv);
	evloop_stop(); /* no connection is left to hand it a body */
	workq_free(srv.sealq);
	md5_shared_free(srv.md5c);
	seal_shared_free(srv.sealc);
	audit_close(srv.audit);
	cluster_close(srv.cluster); /* first: its thread uses what follows */
	catalog_close(srv.cat);
	identity_close(srv.ids);
	store_close(srv.st);
	keystore_close(srv.ks);
	tls_ctx_free(srv.tls);
	engine_free(e);
	return status;
}
