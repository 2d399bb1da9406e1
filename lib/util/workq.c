/*
 * workq: worker threads over one FIFO of jobs.  See workq.h.
 */
#include "workq.h"
#include "err.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

struct job {
	workq_fn fn;
	void *arg;
};

struct workq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct job *ring;
	size_t cap, head, n;
	bool stop;
	unsigned nth, started, failed;
	pthread_t *th;
	void *(*ctx_new)(void *arg);
	void (*ctx_free)(void *ctx);
	void *ctx_arg;
};

static void *
workq_main(void *p)
{
	struct workq *q = p;
	void *ctx = NULL;

	if (q->ctx_new != NULL && (ctx = q->ctx_new(q->ctx_arg)) == NULL) {
		pthread_mutex_lock(&q->mu);
		q->failed++;
		q->started++;
		pthread_cond_broadcast(&q->cv);
		pthread_mutex_unlock(&q->mu);
		return NULL;
	}
	pthread_mutex_lock(&q->mu);
	q->started++;
	pthread_cond_broadcast(&q->cv);
	for (;;) {
		struct job j;

		while (q->n == 0 && !q->stop)
			pthread_cond_wait(&q->cv, &q->mu);
		if (q->n == 0)
			break; /* stopping, and nothing left */
		j = q->ring[q->head];
		q->head = (q->head + 1) % q->cap;
		q->n--;
		pthread_mutex_unlock(&q->mu);
		j.fn(j.arg, ctx);
		pthread_mutex_lock(&q->mu);
	}
	pthread_mutex_unlock(&q->mu);
	if (ctx != NULL && q->ctx_free != NULL)
		q->ctx_free(ctx);
	return NULL;
}

int
workq_new(struct workq **out, unsigned nthreads, void *(*ctx_new)(void *arg),
	  void (*ctx_free)(void *ctx), void *ctx_arg)
{
	struct workq *q;

	*out = NULL;
	if (nthreads == 0 || nthreads > 256)
		return CS_EINVAL;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return CS_ENOMEM;
	pthread_mutex_init(&q->mu, NULL);
	pthread_cond_init(&q->cv, NULL);
	q->ctx_new = ctx_new;
	q->ctx_free = ctx_free;
	q->ctx_arg = ctx_arg;
	q->cap = 64;
	if ((q->ring = calloc(q->cap, sizeof(*q->ring))) == NULL ||
	    (q->th = calloc(nthreads, sizeof(*q->th))) == NULL) {
		workq_free(q);
		return CS_ENOMEM;
	}
	for (; q->nth < nthreads; q->nth++)
		if (pthread_create(&q->th[q->nth], NULL, workq_main, q) != 0)
			break;
	pthread_mutex_lock(&q->mu);
	while (q->started < q->nth)
		pthread_cond_wait(&q->cv, &q->mu);
	pthread_mutex_unlock(&q->mu);
	if (q->nth < nthreads || q->failed > 0) {
		workq_free(q);
		return CS_EIO;
	}
	*out = q;
	return 0;
}

int
workq_submit(struct workq *q, workq_fn fn, void *arg)
{
	pthread_mutex_lock(&q->mu);
	if (q->n == q->cap) {
		size_t cap = 2 * q->cap;
		struct job *r = malloc(cap * sizeof(*r));

		if (r == NULL) {
			pthread_mutex_unlock(&q->mu);
			return CS_ENOMEM;
		}
		for (size_t i = 0; i < q->n; i++)
			r[i] = q->ring[(q->head + i) % q->cap];
		free(q->ring);
		q->ring = r;
		q->cap = cap;
		q->head = 0;
	}
	q->ring[(q->head + q->n) % q->cap] = (struct job){fn, arg};
	q->n++;
	pthread_cond_signal(&q->cv);
	pthread_mutex_unlock(&q->mu);
	return 0;
}

unsigned
workq_threads(const struct workq *q)
{
	return q->nth;
}

void
workq_free(struct workq *q)
{
	if (q == NULL)
		return;
	pthread_mutex_lock(&q->mu);
	q->stop = true;
	pthread_cond_broadcast(&q->cv);
	pthread_mutex_unlock(&q->mu);
	for (unsigned i = 0; i < q->nth; i++)
		pthread_join(q->th[i], NULL);
	pthread_mutex_destroy(&q->mu);
	pthread_cond_destroy(&q->cv);
	free(q->th);
	free(q->ring);
	free(q);
}
