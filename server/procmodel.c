/*
 * procmodel: a process per connection (model = process).  See procmodel.h.
 */
#include "procmodel.h"
#include "audit/audit.h"
#include "catalog.h"
#include "conn.h"
#include "identity.h"
#include "keystore/keystore.h"
#include "label/label.h"
#include "log.h"
#include "s3api.h"
#include "server.h"
#include "util/err.h"
#include "util/workq.h"

#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The change log: 4096 entries of ~1.4 KiB, 5.6 MiB of shared memory,
 * touched as it fills.  A process that falls further behind than that
 * cannot tell what it missed (children: 503 and close; parent: re-index). */
#define RING            4096
#define APPLY_MAX       16          /* entries copied out per lock */
#define MSG_MAX         (16u << 10) /* a channel message, either way */
#define STOP_WAIT_MS    5000
#define REPLY_NEW_LEVEL 1 /* a bucket request's answer: a level key was created */

struct pm_entry {
	uint64_t seq;
	pid_t pid;   /* the process that made the change (it skips its own) */
	bool bucket; /* a bucket created or deleted; else one object */
	bool gone;   /* bucket: deleted */
	char bname[CATALOG_BUCKET_MAX + 1];
	char name[CATALOG_KEY_MAX + 1];
	struct cat_bucket b; /* bucket && !gone: its record */
};

struct pm_shared {
	pthread_mutex_t mu; /* process-shared, robust: a child may die holding it */
	uint64_t head;      /* the next entry's sequence number, from 1 */
	struct pm_entry e[RING];
};

struct pm_child {
	pid_t pid;
	int ctl;     /* the parent's end of the child's channel */
	bool reaped; /* waited for by an admin thread; the loop closes ctl */
};

struct procmodel {
	struct pm_shared *sh;
	struct engine *e; /* the parent's, for re-indexing */
	pid_t parent;     /* the only process that may log bucket changes */
	char *msg;        /* MSG_MAX + 1 bytes: a child's message, in the parent */
	uint64_t seen;    /* the last entry applied (or skipped) here */
	/* parent */
	pthread_rwlock_t fork_lock; /* admin commands (read) against fork (write) */
	pthread_mutex_t mu;         /* kids */
	struct pm_child *kids;
	unsigned nkids, cap;
	/* child */
	bool child, bound;
	int ctl;
	char akid[IDENTITY_AKID_LEN + 1];
	struct label level;
};

/* A child's state for its signal handler. */
static struct server *child_srv;
static volatile sig_atomic_t child_busy;
static int child_fd = -1;

static void
sh_lock(struct pm_shared *sh)
{
	if (pthread_mutex_lock(&sh->mu) == EOWNERDEAD)
		pthread_mutex_consistent(&sh->mu); /* entries are whole: head moves last */
}

/* ---- the change log ------------------------------------------------------ */

/* on_change: the catalogue's notification, in every process: log it. */
static void
on_change(void *arg, const char *bucket, const char *name)
{
	struct server *srv = arg;
	struct pm_shared *sh = srv->proc->sh;
	struct cat_bucket b;
	struct pm_entry *e;
	bool gone = false;

	if (name == NULL)
		gone = catalog_bucket_get(srv->cat, bucket, &b) != 0;
	sh_lock(sh);
	e = &sh->e[sh->head % RING];
	e->seq = sh->head;
	e->pid = getpid();
	e->bucket = name == NULL;
	e->gone = gone;
	snprintf(e->bname, sizeof(e->bname), "%s", bucket);
	snprintf(e->name, sizeof(e->name), "%s", name != NULL ? name : "");
	if (name == NULL && !gone)
		e->b = b;
	sh->head++;
	pthread_mutex_unlock(&sh->mu);
}

/* pm_sync: apply the entries logged since the last call, others' only. */
static int
pm_sync(struct server *srv)
{
	struct procmodel *pm = srv->proc;
	struct pm_entry *batch = malloc(APPLY_MAX * sizeof(*batch));
	pid_t self = getpid();

	if (batch == NULL)
		return CS_ENOMEM;
	for (;;) {
		uint64_t head, n = 0;

		sh_lock(pm->sh);
		head = pm->sh->head;
		if (head - pm->seen - 1 > RING) {
			pthread_mutex_unlock(&pm->sh->mu);
			free(batch);
			return CS_ERANGE;
		}
		for (uint64_t s = pm->seen + 1; s < head && n < APPLY_MAX; s++)
			batch[n++] = pm->sh->e[s % RING];
		pthread_mutex_unlock(&pm->sh->mu);
		if (n == 0)
			break;
		for (uint64_t i = 0; i < n; i++) {
			const struct pm_entry *e = &batch[i];
			int rc;

			pm->seen = e->seq;
			if (e->pid == self)
				continue;
			if (e->bucket && e->pid != pm->parent) {
				/* Children never change buckets themselves (the parent
				 * does it for them): such an entry is forged. */
				log_error(
					"process model: ignoring a bucket change logged by process "
					"%d",
					(int)e->pid);
				continue;
			}
			rc = e->bucket ? catalog_bucket_apply(srv->cat, e->bname,
							      e->gone ? NULL : &e->b)
				       : catalog_refresh_object(srv->cat, e->bname, e->name);
			if (rc != 0 && rc != CS_ENOENT)
				log_warn("process model: cannot take in a change of bucket %s: %s",
					 e->bname, err_str(rc));
		}
	}
	free(batch);
	return 0;
}

/* parent_sync: pm_sync(); behind by more than the log, re-index from the store. */
static void
parent_sync(struct server *srv)
{
	struct catalog *fresh = NULL, *old;
	char why[256];
	uint64_t head;

	if (pm_sync(srv) != CS_ERANGE)
		return;
	log_warn("process model: more than %u catalogue changes since the last look: "
		 "re-indexing the store",
		 RING);
	pthread_rwlock_wrlock(&srv->proc->fork_lock); /* no admin command uses the catalogue */
	sh_lock(srv->proc->sh);
	head = srv->proc->sh->head;
	pthread_mutex_unlock(&srv->proc->sh->mu);
	old = srv->cat;
	if (catalog_open(&fresh, srv->st, srv->ks, srv->proc->e, NULL, why, sizeof(why)) != 0) {
		log_error("process model: re-indexing failed (%s); keeping the old index", why);
	} else {
		catalog_set_notify(fresh, on_change, srv);
		srv->cat = fresh;
		catalog_close(old);
	}
	srv->proc->seen = head - 1;
	pthread_rwlock_unlock(&srv->proc->fork_lock);
}

static void drain(struct server *srv, pid_t child, int ctl, bool alive);

/* on_identities: a user or key changed (admin command, parent): children
 * hold copies of the table, so they go; clients reconnect to new ones. */
static void
on_identities(void *arg)
{
	unsigned n = procmodel_stop_children(arg);

	if (n > 0)
		log_info("identities changed: %u connection process(es) stopped", n);
}

/* ---- set-up -------------------------------------------------------------- */

int
procmodel_init(struct server *srv, struct engine *e)
{
	struct procmodel *pm = calloc(1, sizeof(*pm));
	pthread_mutexattr_t ma;
	int rc = 0;

	if (pm == NULL || (pm->msg = malloc(MSG_MAX + 1)) == NULL) {
		free(pm);
		return CS_ENOMEM;
	}
	pm->sh = mmap(NULL, sizeof(*pm->sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
		      0);
	if (pm->sh == MAP_FAILED) {
		free(pm->msg);
		free(pm);
		return CS_ENOMEM;
	}
	pthread_mutexattr_init(&ma);
	if (pthread_mutexattr_setpshared(&ma, PTHREAD_PROCESS_SHARED) != 0 ||
	    pthread_mutexattr_setrobust(&ma, PTHREAD_MUTEX_ROBUST) != 0 ||
	    pthread_mutex_init(&pm->sh->mu, &ma) != 0)
		rc = CS_EIO;
	pthread_mutexattr_destroy(&ma);
	if (rc != 0) {
		munmap(pm->sh, sizeof(*pm->sh));
		free(pm->msg);
		free(pm);
		return rc;
	}
	pm->sh->head = 1;
	pm->ctl = -1;
	pm->e = e;
	pm->parent = getpid();
	{
		/* Writers first: a stream of admin commands must not starve fork. */
		pthread_rwlockattr_t ra;

		pthread_rwlockattr_init(&ra);
		pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&pm->fork_lock, &ra);
		pthread_rwlockattr_destroy(&ra);
	}
	pthread_mutex_init(&pm->mu, NULL);
	srv->proc = pm;
	catalog_set_notify(srv->cat, on_change, srv);
	identity_set_notify(srv->ids, on_identities, srv);
	return 0;
}

void
procmodel_free(struct server *srv)
{
	struct procmodel *pm = srv->proc;

	if (pm == NULL)
		return;
	catalog_set_notify(srv->cat, NULL, NULL);
	identity_set_notify(srv->ids, NULL, NULL);
	for (unsigned i = 0; i < pm->nkids; i++) {
		drain(srv, pm->kids[i].pid, pm->kids[i].ctl, false);
		close(pm->kids[i].ctl);
	}
	free(pm->kids);
	free(pm->msg);
	pthread_mutex_destroy(&pm->sh->mu);
	munmap(pm->sh, sizeof(*pm->sh));
	pthread_rwlock_destroy(&pm->fork_lock);
	pthread_mutex_destroy(&pm->mu);
	free(pm);
	srv->proc = NULL;
}

bool
procmodel_child(const struct server *srv)
{
	return srv->proc != NULL && srv->proc->child;
}

/* ---- the child ----------------------------------------------------------- */

static void
on_child_term(int sig)
{
	(void)sig;
	/* Close after this request; between requests, now: shutdown() wakes
	 * the read, the connection ends and child_main wipes the keys. */
	atomic_store(&child_srv->stopping, true);
	if (!child_busy && child_fd >= 0)
		shutdown(child_fd, SHUT_RDWR);
}

/* close_sockets: every inherited socket but the client's and the channel
 * (listening sockets, admin connections, the siblings' channels); stdio
 * stays, whatever it is. */
static void
close_sockets(int keep1, int keep2)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int dfd = d != NULL ? dirfd(d) : -1;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct stat st;
		int fd = atoi(de->d_name);

		if (fd <= 2 || fd == keep1 || fd == keep2 || fd == dfd)
			continue;
		if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode))
			close(fd);
	}
	closedir(d);
}

static void __attribute__((noreturn))
child_main(struct server *srv, const struct procmodel_hooks *hooks, int fd, int ctl,
	   const char *peer)
{
	struct procmodel *pm = srv->proc;
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	child_srv = srv;
	child_fd = fd;
	sa.sa_handler = on_child_term;
	sigaction(SIGTERM, &sa, NULL);
	/* Ctrl-C reaches the whole process group: the parent stops the
	 * children in order (SIGTERM), they do not die mid-request. */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGINT, &sa, NULL);
	pm->child = true;
	pm->ctl = ctl;
	/* The parent's books are not ours. */
	free(pm->kids);
	pm->kids = NULL;
	pm->nkids = pm->cap = 0;
	close_sockets(fd, ctl);
	srv->admin_fd = -1;
	/* Audit events go to the parent: no chain key, no log file here. */
	audit_close(srv->audit);
	srv->audit = NULL;
	identity_set_notify(srv->ids, NULL, NULL);
	atomic_store(&srv->nconn, 1);
	if (hooks->child_init(srv) != 0)
		_exit(1);
	conn_serve(srv, fd, peer);
	/* Keys out of memory before the process goes (its pages are freed
	 * unwiped otherwise). */
	workq_free(srv->sealq);
	srv->sealq = NULL;
	identity_close(srv->ids);
	keystore_close(srv->ks);
	_exit(0);
}

int
procmodel_request_begin(struct server *srv)
{
	if (!procmodel_child(srv))
		return 0;
	child_busy = 1;
	return pm_sync(srv);
}

void
procmodel_request_end(struct server *srv)
{
	if (procmodel_child(srv))
		child_busy = 0;
}

static bool
keep_level(void *arg, const char *id)
{
	const struct label *session = arg;
	struct label l;

	return label_parse(id, strlen(id), &l, NULL) == 0 && label_dominates(session, &l);
}

int
procmodel_bind(struct server *srv, const struct ident_session *s)
{
	struct procmodel *pm = srv->proc;
	int rc;

	if (!procmodel_child(srv))
		return 0;
	if (pm->bound)
		return strcmp(pm->akid, s->akid) == 0 ? 0
						      : CS_EPERM; // ct-ok: key ids are not secret
	pm->level = s->level;
	if ((rc = keystore_restrict(srv->ks, keep_level, &pm->level)) != 0 ||
	    (rc = identity_keep_only(srv->ids, s->akid)) != 0) {
		log_error("process model: cannot drop the keys this session may not use: %s",
			  err_str(rc));
		_exit(1); /* half-restricted: no further request */
	}
	snprintf(pm->akid, sizeof(pm->akid), "%s", s->akid);
	pm->bound = true;
	log_debug("process %d: bound to %s (user %s, level %s)", (int)getpid(), s->akid, s->user,
		  s->level_text);
	return 0;
}

bool
procmodel_bound_other(const struct server *srv, const char *akid)
{
	return procmodel_child(srv) && srv->proc->bound && akid != NULL && akid[0] != '\0' &&
	       strcmp(srv->proc->akid, akid) != 0;
}

/* msg_put: append a NUL-terminated string to a message; false if full. */
static bool
msg_put(char *m, size_t *n, const char *s)
{
	size_t l = strlen(s) + 1;

	if (*n + l > MSG_MAX)
		return false;
	memcpy(m + *n, s, l);
	*n += l;
	return true;
}

int
procmodel_bucket(struct server *srv, bool create, const char *name, const char *label)
{
	struct procmodel *pm = srv->proc;
	char m[CATALOG_BUCKET_MAX + LABEL_STR_MAX + 8];
	size_t n = 1;
	int32_t reply[2];
	ssize_t k;

	m[0] = create ? 'C' : 'D';
	if (!msg_put(m, &n, name) || !msg_put(m, &n, create ? label : ""))
		return CS_EINVAL;
	if (send(pm->ctl, m, n, MSG_NOSIGNAL) != (ssize_t)n)
		return CS_EIO;
	do
		k = recv(pm->ctl, reply, sizeof(reply), 0);
	while (k < 0 && errno == EINTR);
	if (k != (ssize_t)sizeof(reply))
		return CS_EIO;
	/* A new level's key is not in this process (it dropped the keystore's
	 * sealing key): close after this answer, the next connection is a
	 * process that has it.  Likewise when this one's index is stale. */
	if (reply[0] == 0 && (pm_sync(srv) == CS_ERANGE || (reply[1] & REPLY_NEW_LEVEL)))
		atomic_store(&srv->stopping, true);
	return reply[0];
}

bool
procmodel_audit(struct server *srv, const char *event, const char *const *kv, size_t n)
{
	char *m;
	size_t len = 1;
	bool whole = true;

	if (!procmodel_child(srv))
		return false;
	if ((m = malloc(MSG_MAX)) == NULL) {
		log_error("AUDIT: out of memory for event %s", event);
		return true;
	}
	m[0] = 'A';
	whole = msg_put(m, &len, event);
	for (size_t i = 0; whole && i < n; i++)
		whole = msg_put(m, &len, kv[i] != NULL ? kv[i] : "");
	if (!whole)
		log_error("AUDIT: event %s too long for the parent's channel", event);
	else if (send(srv->proc->ctl, m, len, MSG_NOSIGNAL) != (ssize_t)len)
		log_error("AUDIT: cannot hand event %s to the parent: %s", event, strerror(errno));
	free(m);
	return true;
}

/* ---- the parent ---------------------------------------------------------- */

void
procmodel_admin_begin(struct server *srv)
{
	if (srv->proc != NULL)
		pthread_rwlock_rdlock(&srv->proc->fork_lock);
}

void
procmodel_admin_end(struct server *srv)
{
	if (srv->proc != NULL)
		pthread_rwlock_unlock(&srv->proc->fork_lock);
}

/* stop_except: SIGKILL every child but keep (0: none) and wait for them.
 * No fork can happen meanwhile (the callers hold the fork lock or are the
 * forking thread), and a pid is only reused after it was waited for:
 * waitpid either reaps our child or finds the loop did (ECHILD).  Their
 * channels are drained by the loop's next reap(). */
static unsigned
stop_except(struct procmodel *pm, pid_t keep)
{
	unsigned n = 0;

	pthread_mutex_lock(&pm->mu);
	for (unsigned i = 0; i < pm->nkids; i++)
		if (!pm->kids[i].reaped && pm->kids[i].pid != keep &&
		    kill(pm->kids[i].pid, SIGKILL) == 0)
			n++;
	for (unsigned i = 0; i < pm->nkids; i++) {
		if (pm->kids[i].reaped || pm->kids[i].pid == keep)
			continue;
		while (waitpid(pm->kids[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
		pm->kids[i].reaped = true;
	}
	pthread_mutex_unlock(&pm->mu);
	return n;
}

unsigned
procmodel_stop_children(struct server *srv)
{
	if (srv->proc == NULL || srv->proc->child)
		return 0;
	return stop_except(srv->proc, 0);
}

/* signal_child: signal pid if it is a child not yet waited for (never a
 * pid the system may have given to another process since). */
static void
signal_child(struct procmodel *pm, pid_t pid, int sig)
{
	pthread_mutex_lock(&pm->mu);
	for (unsigned i = 0; i < pm->nkids; i++)
		if (pm->kids[i].pid == pid && !pm->kids[i].reaped)
			kill(pid, sig);
	pthread_mutex_unlock(&pm->mu);
}

/* serve_msg: one message of a child's channel; alive: the child may still
 * want an answer (a dead one's queued audit events are still recorded). */
static void
serve_msg(struct server *srv, pid_t child, int ctl, char *m, size_t n, bool alive)
{
	const char *s[2 + 2 * 64];
	size_t ns = 0;
	char pid[16];
	int32_t reply[2] = {0, 0};
	bool made = false;

	m[n] = '\0';
	for (size_t off = 1; off < n && ns < sizeof(s) / sizeof(s[0]) - 2;) {
		s[ns++] = m + off;
		off += strlen(m + off) + 1;
	}
	if (m[0] == 'A' && ns >= 1 && ns % 2 == 1) {
		snprintf(pid, sizeof(pid), "%d", (int)child);
		s[ns++] = "pid";
		s[ns++] = pid;
		server_audit(srv, s[0], s + 1, ns - 1);
		return;
	}
	if ((m[0] == 'C' || m[0] == 'D') && ns == 2) {
		if (!alive)
			return;   /* nobody waits for the answer */
		parent_sync(srv); /* the emptiness check needs the children's objects */
		pthread_rwlock_rdlock(&srv->proc->fork_lock);
		reply[0] = m[0] == 'C' ? s3api_bucket_create(srv, s[0], s[1], &made)
				       : s3api_bucket_delete(srv, s[0]);
		pthread_rwlock_unlock(&srv->proc->fork_lock);
		if (made) {
			/* A new level's key: the other children lack it and cannot
			 * load it (restricted), so they go, as for `level add`. */
			unsigned k = stop_except(srv->proc, child);

			reply[1] = REPLY_NEW_LEVEL;
			log_info("level %s created for a bucket: %u other connection process(es) "
				 "stopped",
				 s[1], k);
		}
		/* Never block on a child: one that does not read is stopped. */
		if (send(ctl, reply, sizeof(reply), MSG_NOSIGNAL | MSG_DONTWAIT) !=
		    (ssize_t)sizeof(reply)) {
			log_warn("process model: child %d does not take its answer; stopping it",
				 (int)child);
			signal_child(srv->proc, child, SIGKILL);
		}
		return;
	}
	log_error("process model: child %d sent a malformed message (%zu bytes); stopping it",
		  (int)child, n);
	if (alive)
		signal_child(srv->proc, child, SIGKILL);
}

/* drain: serve what a child's channel holds now. */
static void
drain(struct server *srv, pid_t child, int ctl, bool alive)
{
	ssize_t got;

	while ((got = recv(ctl, srv->proc->msg, MSG_MAX, MSG_DONTWAIT)) > 0)
		serve_msg(srv, child, ctl, srv->proc->msg, (size_t)got, alive);
}

/* reap: forget children that exited (waited for here or by stop_except),
 * after serving what they sent before they went; returns how many are left. */
static unsigned
reap(struct server *srv)
{
	struct procmodel *pm = srv->proc;
	struct pm_child dead[64];
	unsigned left, nd = 0;
	pid_t pid;

	pthread_mutex_lock(&pm->mu);
	while ((pid = waitpid(-1, NULL, WNOHANG)) > 0)
		for (unsigned i = 0; i < pm->nkids; i++)
			if (pm->kids[i].pid == pid)
				pm->kids[i].reaped = true;
	for (unsigned i = 0; i < pm->nkids && nd < sizeof(dead) / sizeof(dead[0]);) {
		if (pm->kids[i].reaped) {
			dead[nd++] = pm->kids[i];
			pm->kids[i] = pm->kids[--pm->nkids];
			atomic_fetch_sub(&srv->nconn, 1); /* as `status` counts connections */
		} else {
			i++;
		}
	}
	left = pm->nkids;
	pthread_mutex_unlock(&pm->mu);
	for (unsigned i = 0; i < nd; i++) {
		drain(srv, dead[i].pid, dead[i].ctl, false);
		close(dead[i].ctl);
	}
	return left;
}

static void
spawn(struct server *srv, const struct procmodel_hooks *hooks, int fd, const char *peer)
{
	struct procmodel *pm = srv->proc;
	struct pm_child *grown;
	int sv[2];
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		log_error("process model: socketpair: %s", strerror(errno));
		hooks->refuse(fd, srv->tls != NULL);
		return;
	}
	pthread_mutex_lock(&pm->mu);
	if (pm->nkids == pm->cap) {
		unsigned cap = pm->cap ? 2 * pm->cap : 64;

		if ((grown = realloc(pm->kids, cap * sizeof(*grown))) == NULL) {
			pthread_mutex_unlock(&pm->mu);
			close(sv[0]);
			close(sv[1]);
			hooks->refuse(fd, srv->tls != NULL);
			return;
		}
		pm->kids = grown;
		pm->cap = cap;
	}
	pthread_mutex_unlock(&pm->mu);
	/* No admin command half done, no lock of one held, while we fork; the
	 * child is on the books before the next command can stop children. */
	pthread_rwlock_wrlock(&pm->fork_lock);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		child_main(srv, hooks, fd, sv[1], peer);
	}
	if (pid > 0) {
		pthread_mutex_lock(&pm->mu);
		pm->kids[pm->nkids++] = (struct pm_child){.pid = pid, .ctl = sv[0]};
		atomic_fetch_add(&srv->nconn, 1);
		pthread_mutex_unlock(&pm->mu);
	}
	pthread_rwlock_unlock(&pm->fork_lock);
	close(sv[1]);
	if (pid < 0) {
		log_error("process model: fork: %s", strerror(errno));
		close(sv[0]);
		hooks->refuse(fd, srv->tls != NULL);
		return;
	}
	close(fd);
}

/* stop_all: at shutdown, SIGTERM (idle children exit, busy ones finish
 * their request), then SIGKILL after STOP_WAIT_MS. */
static void
stop_all(struct server *srv)
{
	struct procmodel *pm = srv->proc;
	struct timespec t0, t;
	struct pm_child *k;
	unsigned n;

	pthread_mutex_lock(&pm->mu);
	for (unsigned i = 0; i < pm->nkids; i++)
		if (!pm->kids[i].reaped)
			kill(pm->kids[i].pid, SIGTERM);
	pthread_mutex_unlock(&pm->mu);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((n = reap(srv)) > 0) {
		/* Busy children may still log events or wait for a bucket answer. */
		pthread_mutex_lock(&pm->mu);
		k = malloc(pm->nkids * sizeof(*k));
		if (k != NULL)
			memcpy(k, pm->kids, pm->nkids * sizeof(*k));
		n = k != NULL ? pm->nkids : 0;
		pthread_mutex_unlock(&pm->mu);
		for (unsigned i = 0; i < n; i++)
			if (!k[i].reaped)
				drain(srv, k[i].pid, k[i].ctl, true);
		free(k);
		clock_gettime(CLOCK_MONOTONIC, &t);
		if ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 >
		    STOP_WAIT_MS)
			break;
		usleep(10000);
	}
	pthread_mutex_lock(&pm->mu);
	if (pm->nkids > 0)
		log_warn("%u connection process(es) still busy after %d s: killed", pm->nkids,
			 STOP_WAIT_MS / 1000);
	for (unsigned i = 0; i < pm->nkids; i++)
		if (!pm->kids[i].reaped)
			kill(pm->kids[i].pid, SIGKILL);
	pthread_mutex_unlock(&pm->mu);
	while (reap(srv) > 0)
		usleep(1000);
}

void
procmodel_run(struct server *srv, int lfd, const struct procmodel_hooks *hooks,
	      volatile sig_atomic_t *stopping)
{
	struct procmodel *pm = srv->proc;
	struct pollfd *p = NULL;
	struct pm_child *k = NULL;
	unsigned cap = 0;

	while (!*stopping) {
		unsigned n;

		reap(srv);
		parent_sync(srv);
		pthread_mutex_lock(&pm->mu);
		n = pm->nkids;
		if (n + 1 > cap) {
			struct pollfd *np = realloc(p, (n + 1) * sizeof(*p));
			struct pm_child *nk = realloc(k, (n + 1) * sizeof(*k));

			if (np != NULL)
				p = np;
			if (nk != NULL)
				k = nk;
			if (np == NULL || nk == NULL) {
				pthread_mutex_unlock(&pm->mu);
				usleep(100000);
				continue;
			}
			cap = n + 1;
		}
		memcpy(k, pm->kids, n * sizeof(*k));
		pthread_mutex_unlock(&pm->mu);
		p[0] = (struct pollfd){lfd, POLLIN, 0};
		for (unsigned i = 0; i < n; i++)
			p[i + 1] = (struct pollfd){k[i].reaped ? -1 : k[i].ctl, POLLIN, 0};
		if (poll(p, n + 1, 100) <= 0)
			continue;
		for (unsigned i = 0; i < n; i++)
			if (p[i + 1].revents & POLLIN)
				drain(srv, k[i].pid, k[i].ctl, true);
		if (p[0].revents & POLLIN) {
			struct sockaddr_in peer;
			socklen_t pl = sizeof(peer);
			char ip[INET_ADDRSTRLEN], name[64];
			int fd, one = 1;

			if ((fd = accept4(lfd, (struct sockaddr *)&peer, &pl, SOCK_CLOEXEC)) < 0)
				continue;
			if (n >= srv->cfg.max_conns) {
				hooks->refuse(fd, srv->tls != NULL);
				continue;
			}
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			snprintf(name, sizeof(name), "%s:%u",
				 inet_ntop(AF_INET, &peer.sin_addr, ip, sizeof(ip)) ? ip : "?",
				 ntohs(peer.sin_port));
			parent_sync(srv); /* the child starts from an index this fresh */
			spawn(srv, hooks, fd, name);
		}
	}
	free(p);
	free(k);
	stop_all(srv);
}
