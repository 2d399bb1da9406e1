/*
 * md5_shared: the MD5 updates of many threads' streams, hashed together.
 *
 * MD5 is one dependent chain per message, so one upload's ETag digest runs
 * at the chain's latency (~0.65 GB/s per core), the largest CPU cost of a
 * PUT.  When many uploads run at once, their updates are independent:
 * md5_mb hashes up to sixteen of them in lock-step in AVX2 lanes.  This
 * module gathers them.  A thread that calls md5_shared_update() queues its
 * update; if no other thread is hashing, it becomes the combiner and hashes
 * its own update together with whatever others have queued (a slice of
 * each at a time, so late arrivals join the next round), until its own is
 * done; then it hands the role to the oldest waiter.  A waiter sleeps on
 * its own condition variable, woken when its update is complete or when it
 * is handed the role.  A lone caller hashes alone, on the scalar path.
 *
 * Thread safety: md5_shared_update() may be called from any thread; each
 * state must be updated by one thread at a time.
 */
#ifndef CS_MD5_SHARED_H
#define CS_MD5_SHARED_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "md5_mb.h"

struct md5_shared;

/* What a combiner has done, for tests and benchmarks. */
struct md5_shared_stats {
	uint64_t rounds;    /* md5_mb_update_many calls */
	uint64_t lane_jobs; /* jobs in them: lane_jobs / rounds = mean lanes */
	uint64_t bytes;     /* bytes hashed */
	uint64_t handoffs;  /* the combiner role passed to a waiter */
};

/*
 * md5_shared_new(out, lanes, slice): a combiner hashing at most `lanes`
 * (1..64) updates per round and at most `slice` bytes (a multiple of 64,
 * >= 64) of each.  0, CS_EINVAL or CS_ENOMEM.
 */
int md5_shared_new(struct md5_shared **out, unsigned lanes, size_t slice)
	__attribute__((warn_unused_result));

/* md5_shared_free(c): free c (no update may be running); NULL is a no-op. */
void md5_shared_free(struct md5_shared *c);

/* md5_shared_update(c, st, data, len): append data[0..len) to *st, hashed
 * together with other threads' updates; returns when it is done. */
void md5_shared_update(struct md5_shared *c, struct md5_mb_state *st, const void *data, size_t len);

/* md5_shared_updatev(c, st, iov, niov, len): the same for the first len
 * bytes of the pieces iov[0..niov), in order, as one request (one turn in
 * the queue, however many pieces). */
void md5_shared_updatev(struct md5_shared *c, struct md5_mb_state *st, const struct iovec *iov,
			int niov, size_t len);

/* md5_shared_stats(c, out): the counters so far. */
void md5_shared_stats(struct md5_shared *c, struct md5_shared_stats *out);

#endif /* CS_MD5_SHARED_H */
