/*
 * cluster: several cryptstored front-ends on one Ceph RADOS cluster
 * (store = rados).  Gives the keystore its home in the cluster and keeps
 * each front-end's in-memory state (bucket list, object index, identities,
 * level keys) in step with what the others change, through RADOS
 * watch/notify on one object of the pool ("cs.events").
 *
 * A change made here is announced after it is durable in the cluster; a
 * front-end that receives an announcement re-reads what changed from the
 * cluster and only then acknowledges it.  Key changes (rotate, destroy,
 * shred) wait for every watching front-end's acknowledgement and report
 * the ones that did not give it; data changes (objects, buckets,
 * identities) wait at most a short time.  Announcements are sealed under
 * the keystore (they carry bucket and object names).  A front-end whose
 * watch was lost re-reads everything when it watches again.
 *
 * Every front-end registers itself (name "host:port", its RADOS client id)
 * in the omap of "cs.events" while it runs, so that a key change can name
 * a registered front-end that did not acknowledge (it died without
 * stopping, or cannot reach the cluster).
 */
#ifndef CS_CLUSTER_H
#define CS_CLUSTER_H

#include <stddef.h>

struct cluster;
struct config;
struct server;
struct keystore_files;

/*
 * cluster_open(out, cfg, why, whylen): connect to the cluster of cfg's
 * rados-* settings and open the pool (and namespace).  Returns 0, CS_EIO
 * (unreachable, refused: why says), CS_ENOMEM, CS_ENOTSUP (no librados).
 */
int cluster_open(struct cluster **out, const struct config *cfg, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* cluster_keystore_files(c, out): the keystore's files in the cluster
 * (the omap of "cs.keystore"); valid until cluster_close(c). */
int cluster_keystore_files(struct cluster *c, struct keystore_files *out)
	__attribute__((warn_unused_result));

/*
 * cluster_start(c, srv, why, whylen): register this front-end, watch
 * "cs.events", start the thread that applies the others' changes, and
 * hook the catalogue and identities so that their changes are announced.
 * srv->ks, srv->cat, srv->ids must be open; srv->cfg.port bound.
 */
int cluster_start(struct cluster *c, struct server *srv, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/*
 * cluster_key_changed(c, level, report, reportlen): announce that level's
 * keys changed (rotated, destroyed, shredded) and wait until every
 * watching front-end has re-read them (and wiped destroyed keys).
 * Returns 0 if every watcher and every registered front-end acknowledged;
 * otherwise CS_EIO with report naming the ones that did not.  report gets
 * a one-line summary in both cases.
 */
int cluster_key_changed(struct cluster *c, const char *level, char *report, size_t reportlen)
	__attribute__((warn_unused_result));

/* cluster_close(c): unregister, stop watching, disconnect; NULL is a no-op. */
void cluster_close(struct cluster *c);

#endif /* CS_CLUSTER_H */
