/*
 * server: the state every connection of cryptstored shares.  Created by
 * main.c at start-up; read-only afterwards except through the modules'
 * own locks (catalog, identity, keystore) and the atomic counters.
 */
#ifndef CS_SERVER_H
#define CS_SERVER_H

#include <stdatomic.h>
#include <stdint.h>

#include "config.h"
#include "crypto/engine.h"
#include "crypto/suite.h"
#include "http/http.h"

struct store;
struct keystore;
struct catalog;
struct identity;

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
};

#endif /* CS_SERVER_H */
