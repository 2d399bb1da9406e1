/*
 * seal_shared: small seals of many threads, sealed together.
 *
 * The multi-buffer engine seals up to 16 records at once, but an object of
 * one chunk (or the last, partial batch of any object) gives a connection
 * thread only one or a few records, and CBC encryption of one record is one
 * serial chain: a single lane runs at a fraction of the engine's speed.
 * When many connections finish small objects at once, their records are
 * independent (an engine_key may be used by any engine and thread), so this
 * module gathers them, as md5_shared does for MD5 updates: a caller queues
 * its records; if nobody is sealing, it becomes the combiner and seals, with
 * its own engine, its records together with whatever others have queued (up
 * to `max` records a round, whole requests only), until its own are done;
 * then it hands the role to the oldest waiter.  A lone caller seals alone.
 *
 * Thread safety: seal_shared_seal() may be called from any thread, each
 * with its own engine; the records must stay untouched until it returns.
 */
#ifndef CS_SEAL_SHARED_H
#define CS_SEAL_SHARED_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

struct seal_shared;

/* What combiners have done, for tests and benchmarks. */
struct seal_shared_stats {
	uint64_t rounds;   /* engine_seal calls */
	uint64_t requests; /* requests in them: requests / rounds = mean callers per call */
	uint64_t records;  /* records sealed */
};

/*
 * seal_shared_new(out, max): a combiner sealing at most max (1..64) records
 * per engine call.  0, CS_EINVAL or CS_ENOMEM.
 */
int seal_shared_new(struct seal_shared **out, unsigned max) __attribute__((warn_unused_result));
void seal_shared_free(struct seal_shared *s);

/*
 * seal_shared_seal(s, e, recs, n): engine_seal(e, recs, n), possibly in one
 * engine call with other threads' records, possibly by another thread's
 * engine.  Same result: every record sealed, each with its status and
 * length; returns 0 or the first failing status among these n.  A request
 * of more than max records is sealed alone.
 */
int seal_shared_seal(struct seal_shared *s, struct engine *e, struct engine_rec *recs, size_t n)
	__attribute__((warn_unused_result));

void seal_shared_stats(struct seal_shared *s, struct seal_shared_stats *out);

#endif /* CS_SEAL_SHARED_H */
