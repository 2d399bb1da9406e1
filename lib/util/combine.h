/*
 * combine: flat combining, the protocol shared by md5_shared (MD5 updates
 * of many uploads in SIMD lanes) and seal_shared (small seals of many
 * uploads in one engine call).
 *
 * Threads queue requests.  The first that finds nobody combining becomes
 * the combiner: it runs rounds over the queue's head (the caller's round
 * function, which may serve other threads' requests too) until its own
 * request is done, then hands the role to the oldest waiter.  A waiter
 * sleeps on its own condition variable, woken when its request is done or
 * when the role is handed to it.  A round of few requests costs nearly what
 * a full one does, so before a round with fewer than `gather` units queued
 * the combiner yields the CPU (at most COMBINE_GATHER_YIELDS times in a
 * row), letting other runnable threads queue theirs.  A lone caller runs
 * its round alone.
 *
 * Thread safety: combine_run() may be called from any thread.  Round
 * functions run with the combiner's mutex held; they may drop it around
 * their work (the requests in a round are the combiner's until it marks
 * them done: their owners sleep).
 */
#ifndef CS_COMBINE_H
#define CS_COMBINE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define COMBINE_GATHER_YIELDS 2

/* A request: embed it in the caller's request (combine_run sets it up). */
struct combine_req {
	struct combine_req *next;
	size_t units; /* what it adds to `queued` (records, or 1) */
	pthread_cond_t cv;
	bool done;
};

struct combiner {
	pthread_mutex_t mu;
	struct combine_req *head, *tail;
	size_t queued;     /* units in the queue */
	size_t gather;     /* fewer queued units than this: yield before a round */
	uint64_t handoffs; /* the role passed to a waiter */
	bool busy;
};

/* combine_init(c, gather): 0 or CS_ENOMEM.  combine_destroy: no request may be queued. */
int combine_init(struct combiner *c, size_t gather) __attribute__((warn_unused_result));
void combine_destroy(struct combiner *c);

/* A round: called with c->mu held and the combiner's role; returns with it
 * held, having completed (combine_complete) at least one request. */
typedef void (*combine_round_fn)(struct combiner *c, void *arg);

/* combine_run(c, r, units, round, arg): queue r and return when it is done
 * (by this thread's rounds or another's). */
void combine_run(struct combiner *c, struct combine_req *r, size_t units, combine_round_fn round,
		 void *arg);

/* combine_complete(c, prev, r): in a round, r is done: unlink it (prev is
 * the request before it, NULL if r is the head) and wake its owner. */
void combine_complete(struct combiner *c, struct combine_req *prev, struct combine_req *r);

#endif /* CS_COMBINE_H */
