/*
 * seal_shared: flat combining of small seals.  See seal_shared.h.
 *
 * The queue is FIFO; a round takes whole requests from its head while they
 * fit in `max` records, copies their records into one array, seals it with
 * the combiner's engine without the lock, copies the results back and wakes
 * the finished requests.  Only the combiner touches a queued request's
 * records, and only while its owner sleeps.
 */
#include "seal_shared.h"
#include "util/err.h"
#include "util/secmem.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RECS      64u
#define GATHER_YIELDS 2 /* times a combiner yields for more records before a thin round */

struct seal_req {
	struct seal_req *next;
	struct engine_rec *recs;
	size_t n;
	int rc;
	pthread_cond_t cv;
	bool done;
};

struct seal_shared {
	pthread_mutex_t mu;
	struct seal_req *head, *tail;
	size_t queued; /* records in the queue */
	bool busy;
	unsigned max;
	struct seal_shared_stats stats;
};

int
seal_shared_new(struct seal_shared **out, unsigned max)
{
	struct seal_shared *s;

	*out = NULL;
	if (max < 1 || max > MAX_RECS)
		return CS_EINVAL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CS_ENOMEM;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		return CS_ENOMEM;
	}
	s->max = max;
	*out = s;
	return 0;
}

void
seal_shared_free(struct seal_shared *s)
{
	if (s == NULL)
		return;
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* round: seal the whole requests at the queue's head that fit in max
 * records (at least the first); called and returns with the lock held and
 * busy set. */
static void
round_(struct seal_shared *s, struct engine *e)
{
	struct engine_rec all[MAX_RECS];
	struct seal_req *in[MAX_RECS], *r;
	size_t nreq = 0, nrec = 0;

	for (r = s->head; r != NULL && nrec + r->n <= s->max; r = r->next) {
		memcpy(all + nrec, r->recs, r->n * sizeof(*all));
		nrec += r->n;
		in[nreq++] = r;
	}
	pthread_mutex_unlock(&s->mu);
	if (engine_seal(e, all, nrec) != 0) {
		/* each record carries its own status: the requests read theirs */
	}
	pthread_mutex_lock(&s->mu);
	nrec = 0;
	for (size_t i = 0; i < nreq; i++) {
		r = in[i];
		memcpy(r->recs, all + nrec, r->n * sizeof(*all));
		nrec += r->n;
		r->rc = 0;
		for (size_t k = 0; k < r->n && r->rc == 0; k++)
			r->rc = r->recs[k].status;
		r->done = true;
		pthread_cond_signal(&r->cv);
	}
	/* They were the first nreq of the queue. */
	for (size_t i = 0; i < nreq; i++)
		s->head = s->head->next;
	s->queued -= nrec;
	if (s->head == NULL)
		s->tail = NULL;
	s->stats.rounds++;
	s->stats.requests += nreq;
	s->stats.records += nrec;
	secmem_wipe(all, nrec * sizeof(*all)); /* the engines' scratch tags */
}

int
seal_shared_seal(struct seal_shared *s, struct engine *e, struct engine_rec *recs, size_t n)
{
	struct seal_req me = {.recs = recs, .n = n};

	if (n == 0)
		return 0;
	if (n > s->max)
		return engine_seal(e, recs, n);
	pthread_cond_init(&me.cv, NULL);
	pthread_mutex_lock(&s->mu);
	if (s->tail != NULL)
		s->tail->next = &me;
	else
		s->head = &me;
	s->tail = &me;
	s->queued += n;
	while (!me.done) {
		unsigned waits = 0;

		if (s->busy) {
			pthread_cond_wait(&me.cv, &s->mu);
			continue;
		}
		s->busy = true;
		while (!me.done) {
			/* A round of one lane costs nearly what a full one does: let
			 * the other runnable uploads queue their records first. */
			if (s->queued < s->max / 2 && waits < GATHER_YIELDS) {
				waits++;
				pthread_mutex_unlock(&s->mu);
				sched_yield();
				pthread_mutex_lock(&s->mu);
				continue;
			}
			waits = 0;
			round_(s, e);
		}
		s->busy = false;
		if (s->head != NULL)
			pthread_cond_signal(&s->head->cv);
	}
	pthread_mutex_unlock(&s->mu);
	pthread_cond_destroy(&me.cv);
	return me.rc;
}

void
seal_shared_stats(struct seal_shared *s, struct seal_shared_stats *out)
{
	pthread_mutex_lock(&s->mu);
	*out = s->stats;
	pthread_mutex_unlock(&s->mu);
}
