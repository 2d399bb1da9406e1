/*
 * evloop: the event loops that receive upload bodies (one per four cores).
 *
 * A connection's thread parses the request, authenticates it and opens the
 * object; the body of a plain-TCP upload of announced length is then
 * received by a loop instead (conn_body_direct()): the thread hands the body
 * over as a job and sleeps until it is complete.  Each loop waits on all its
 * jobs' sockets in one epoll set and serves them in rounds: every job whose
 * socket has bytes receives once (straight into its object's record
 * buffers, up to 16 records), then the round's MD5 updates of all those
 * jobs are hashed together in the AVX2 lanes (md5_mb_update_many, a lane
 * per upload), then each job accepts what it received, which hands full
 * batches to the sealing workers.  So a hundred uploads cost a loop per
 * core and a wake-up per round, not a hundred threads each waking per
 * piece, and their MD5s share the vector lanes without a combiner.
 *
 * A job whose writer has no free slot (both batches still with the
 * workers) is not waited for: its socket leaves the set until a worker
 * gives a slot back and kicks the loop (format_writer_set_notify).  A job
 * that receives nothing for its timeout fails (body_timeout).
 *
 * Thread safety: evloop_run() from any thread, each job on one thread at a
 * time; evloop_kick() from any thread; start and stop from main only.
 */
#ifndef CS_EVLOOP_H
#define CS_EVLOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define EVLOOP_IOV 16

/* What a job's recv and advance return besides 0 and errors. */
#define EVLOOP_GOT      1 /* recv: bytes received (iov, niov, got) */
#define EVLOOP_WAIT     2 /* recv: no room until evloop_kick() */
#define EVLOOP_DONE     3 /* advance: the body is complete */
#define EVLOOP_TIMEDOUT 4 /* evloop_run: nothing arrived for timeout_ms */

struct evloop;
struct md5_mb_state;

struct evloop_job {
	/* Set by the caller. */
	int fd;                   /* the socket the bytes come from */
	unsigned timeout_ms;      /* the longest pause between bytes */
	struct md5_mb_state *md5; /* NULL, or the loop hashes what is received into it */
	/*
	 * recv(j): receive what has arrived into j->iov[0..j->niov), j->got
	 * bytes: EVLOOP_GOT; CS_EAGAIN (nothing there: wait for the socket);
	 * EVLOOP_WAIT (no room now: wait for a kick); or a negative error (the
	 * job ends with it).
	 */
	int (*recv)(struct evloop_job *j);
	/* advance(j): take the received bytes (hashed into md5 by now): 0 for
	 * more, EVLOOP_DONE at the end of the body, or a negative error. */
	int (*advance)(struct evloop_job *j);
	struct iovec iov[EVLOOP_IOV];
	int niov;
	size_t got;
	/* The loop's. */
	struct evloop_job *prev, *next;
	int64_t deadline_ms;
	uint64_t round;
	bool waiting, pending, done;
	int rc;
	pthread_mutex_t mu; /* done and rc, for the waiting thread */
	pthread_cond_t cv;
};

/* evloop_start(n): start n loops (0: one per four CPUs, at least one).
 * 0 or CS_ENOMEM/CS_EIO. */
int evloop_start(unsigned n) __attribute__((warn_unused_result));

/* evloop_stop(): end the loops (a job still running ends with CS_EIO) and
 * wait for them.  evloop_count(): how many run (0 before start). */
void evloop_stop(void);
unsigned evloop_count(void);

/* evloop_stats(bodies, bytes): bodies the loops received whole so far, and
 * the bytes they received. */
void evloop_stats(uint64_t *bodies, uint64_t *bytes);

/* evloop_pick(): the loop for the next job (round robin), or NULL if none runs. */
struct evloop *evloop_pick(void);

/*
 * evloop_run(l, j): run job j on loop l until it ends; returns 0 (advance
 * said EVLOOP_DONE), EVLOOP_TIMEDOUT, the negative error of recv or
 * advance, or CS_EIO if the loops are stopping.
 */
int evloop_run(struct evloop *l, struct evloop_job *j) __attribute__((warn_unused_result));

/* evloop_kick(l): a job on loop l that waited for room may have it now
 * (a format_writer notify hook: l is the struct evloop *). */
void evloop_kick(void *l);

#endif /* CS_EVLOOP_H */
