/*
 * procmodel: the original design's server model, `model = process`: a
 * process per client connection, forked by a parent that only accepts,
 * keeps the books and does what needs the root key's stand-ins.
 *
 *   parent      accept -> fork; reads its children's channels (audit events,
 *               bucket creation and deletion, which need the sealing key);
 *               the admin socket; stops every child when keys or identities
 *               change (they hold copies).
 *   child       serves one connection with its own small team of sealing
 *               workers.  At its first authenticated request it keeps only
 *               the KEKs of the levels its session dominates and the one
 *               access key it was signed with: every other key is wiped
 *               (keystore_restrict, identity_keep_only).  Later requests
 *               on the connection must use the same access key.
 *
 * The processes share one thing, a change log in shared memory: every
 * change of the catalogue (object written or deleted, bucket created or
 * deleted) is appended before its request is answered, and every process
 * applies the others' changes before it serves a request (children) or
 * forks (parent), so read-after-write holds across connections.
 *
 * Not with store = rados (librados does not survive fork).
 */
#ifndef CS_PROCMODEL_H
#define CS_PROCMODEL_H

#include <signal.h>
#include <stdbool.h>

struct server;
struct engine;
struct ident_session;

/* What main.c lends the model: its refusal, and a child's set-up after the
 * fork (its sealing workers, the sandbox). */
struct procmodel_hooks {
	void (*refuse)(int fd, bool tls);
	int (*child_init)(struct server *srv);
};

/*
 * procmodel_init(srv, e): the change log and the parent's side, before the
 * admin socket starts (srv->proc is set; e is the catalogue's engine, for
 * re-indexing).  procmodel_run(srv, lfd, hooks,
 * stopping): the parent's loop until *stopping; then every child is asked
 * to finish (SIGTERM: an idle one exits at once, a busy one after its
 * request) and killed after 5 s.  procmodel_free(srv): after the loop.
 */
int procmodel_init(struct server *srv, struct engine *e) __attribute__((warn_unused_result));
void procmodel_run(struct server *srv, int lfd, const struct procmodel_hooks *hooks,
		   volatile sig_atomic_t *stopping);
void procmodel_free(struct server *srv);

/* procmodel_child(srv): this process serves one connection. */
bool procmodel_child(const struct server *srv);

/*
 * procmodel_request_begin(srv): in a child, before a request is served:
 * apply the other processes' changes.  CS_ERANGE if this process fell more
 * than the log's length behind (answer 503 and close: a new connection is
 * a fresh process).  procmodel_request_end(srv): after it.  No-ops (0)
 * outside a child.
 */
int procmodel_request_begin(struct server *srv) __attribute__((warn_unused_result));
void procmodel_request_end(struct server *srv);

/*
 * procmodel_bind(srv, s): in a child, at each authenticated request: the
 * first binds the process to s's access key and drops every key s may not
 * use; later ones must come with the same access key (CS_EPERM if not).
 * procmodel_bound_other(srv, akid): the process is bound to another key
 * than akid (for a clear refusal of a signature it can no longer check).
 */
int procmodel_bind(struct server *srv, const struct ident_session *s)
	__attribute__((warn_unused_result));
bool procmodel_bound_other(const struct server *srv, const char *akid);

/*
 * procmodel_bucket(srv, create, name, label): in a child, have the parent
 * create (at label) or delete bucket name, and take the change in; the
 * return value is the parent's (s3api_bucket_create/_delete).
 */
int procmodel_bucket(struct server *srv, bool create, const char *name, const char *label)
	__attribute__((warn_unused_result));

/* procmodel_audit(srv, event, kv, n): in a child, hand an audit event to the
 * parent (which adds the child's pid) and return true; false elsewhere. */
bool procmodel_audit(struct server *srv, const char *event, const char *const *kv, size_t n);

/*
 * procmodel_admin_begin(srv) / _end(srv): around an admin command, so that
 * no fork happens in the middle of one (a child must not inherit half a
 * change, or a lock held).  procmodel_stop_children(srv): in the parent,
 * after keys or identities changed: SIGKILL every child and wait for them;
 * returns how many were stopped.
 */
void procmodel_admin_begin(struct server *srv);
void procmodel_admin_end(struct server *srv);
unsigned procmodel_stop_children(struct server *srv);

#endif /* CS_PROCMODEL_H */
