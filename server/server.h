/*
 * server: the state every connection of cryptstored shares.  Created by
 * main.c at start-up; read-only afterwards except through the modules'
 * own locks (catalog, identity, keystore) and the atomic counters.
 */
#ifndef CS_SERVER_H
#define CS_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "crypto/engine.h"
#include "crypto/suite.h"
#include "http/http.h"

struct store;
struct keystore;
struct catalog;
struct identity;
struct audit;
struct workq;
struct md5_shared;
struct seal_shared;
struct tls_ctx;
struct cluster;
struct procmodel;

struct server {
	struct config cfg;
	struct store *st;
	struct keystore *ks;
	struct catalog *cat;
	struct identity *ids;
	const struct suite_info *suite;
	enum engine_kind engine;
	struct http_limits limits;
	atomic_uint nconn;
	atomic_bool stopping; /* set once at shutdown: idle connections close */
	atomic_uint_fast64_t requests, bytes_in, bytes_out;
	struct audit *audit;       /* NULL: no audit log (unit tests) */
	struct workq *sealq;       /* sealing workers, one per core (NULL: none) */
	struct md5_shared *md5c;   /* uploads' MD5 updates hashed together (NULL: alone) */
	struct seal_shared *sealc; /* uploads' last batches sealed together (NULL: alone) */
	struct tls_ctx *tls;       /* NULL: plain HTTP */
	struct cluster *cluster;   /* the other front-ends (store = rados); NULL: none */
	struct procmodel *proc;    /* model = process (procmodel.h); NULL: threads */
	struct timespec started;   /* CLOCK_MONOTONIC at start-up */
	time_t started_wall;
	pthread_t admin_thread;
	int admin_fd; /* -1 when there is no control socket */
};

/*
 * server_audit(srv, event, kv, n): append an audit event with n/2 key/value
 * pairs; a failure to write it is logged as an error (never silently lost).
 * AUDIT(srv, "event", "k1", v1, "k2", v2, ...) is the usual spelling.
 */
void server_audit(struct server *srv, const char *event, const char *const *kv, size_t n);

#define AUDIT(srv, ev, ...)                                                                        \
	server_audit((srv), (ev), (const char *const[]){__VA_ARGS__},                              \
		     sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

#endif /* CS_SERVER_H */
