/*
 * admin: the control plane of cryptstored.  A Unix stream socket (mode
 * 0600; a peer must be root or the server's own user, checked with
 * SO_PEERCRED) that takes one request per connection in the wire format of
 * docs/ADMIN.md and streams back output lines and one final status line.
 * `cryptstore admin` is its client.  Verbs change keys, levels, buckets,
 * users and access keys, shred, rewrap, report status and verify the audit
 * log; each change is an audit event.
 */
#ifndef CS_ADMIN_H
#define CS_ADMIN_H

#include <stddef.h>
#include <sys/types.h>

struct server;

/*
 * admin_listen(srv, owner, group, why, whylen): create the control socket
 * at srv->cfg.admin_socket (its directory too, 0700, if missing), owned by
 * owner:group when they are not -1 (the user the server will drop to).
 * Refuses a path held by a running server.  Returns the listening fd or -1.
 */
int admin_listen(struct server *srv, uid_t owner, gid_t group, char *why, size_t whylen);

/* admin_start(srv, fd): serve the socket from a thread of its own until
 * srv->stopping.  Returns 0 or -1. */
int admin_start(struct server *srv, int fd);

/* admin_stop(srv): wait for the admin thread and remove the socket. */
void admin_stop(struct server *srv);

#endif /* CS_ADMIN_H */
