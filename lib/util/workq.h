/*
 * workq: a fixed team of worker threads running jobs from one FIFO queue.
 * Each worker owns a context made by the caller's constructor when the
 * worker starts (e.g. its own crypto engine), passed to every job it runs,
 * so jobs need no locking for per-thread state.
 *
 * Used to seal the chunk batches of one upload on every core while the
 * connection's thread keeps receiving (lib/format's asynchronous writer).
 *
 * Thread safety: workq_submit() may be called from any thread.
 */
#ifndef CS_WORKQ_H
#define CS_WORKQ_H

#include <stddef.h>

struct workq;

typedef void (*workq_fn)(void *arg, void *ctx);

/*
 * workq_new(out, nthreads, ctx_new, ctx_free, ctx_arg): start nthreads
 * (1..256) workers; each calls ctx_new(ctx_arg) first (NULL ctx_new: no
 * context) and ctx_free(ctx) when the queue is freed.  Returns 0, CS_EINVAL,
 * CS_ENOMEM, or CS_EIO if a thread or a context cannot be created.
 */
int workq_new(struct workq **out, unsigned nthreads, void *(*ctx_new)(void *arg),
	      void (*ctx_free)(void *ctx), void *ctx_arg) __attribute__((warn_unused_result));

/* workq_submit(q, fn, arg): queue fn(arg, ctx) for some worker.  0 or CS_ENOMEM. */
int workq_submit(struct workq *q, workq_fn fn, void *arg) __attribute__((warn_unused_result));

/* workq_threads(q): the number of workers. */
unsigned workq_threads(const struct workq *q);

/* workq_free(q): run what is queued, stop the workers, free q; NULL is a no-op. */
void workq_free(struct workq *q);

#endif /* CS_WORKQ_H */
