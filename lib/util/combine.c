/*
 * combine: flat combining.  See combine.h.
 */
#include "combine.h"
#include "err.h"

#include <sched.h>

int
combine_init(struct combiner *c, size_t gather)
{
	*c = (struct combiner){.gather = gather};
	return pthread_mutex_init(&c->mu, NULL) == 0 ? 0 : CS_ENOMEM;
}

void
combine_destroy(struct combiner *c)
{
	pthread_mutex_destroy(&c->mu);
}

void
combine_complete(struct combiner *c, struct combine_req *prev, struct combine_req *r)
{
	if (prev != NULL)
		prev->next = r->next;
	else
		c->head = r->next;
	if (c->tail == r)
		c->tail = prev;
	c->queued -= r->units;
	r->done = true;
	pthread_cond_signal(&r->cv);
}

void
combine_run(struct combiner *c, struct combine_req *r, size_t units, combine_round_fn round,
	    void *arg)
{
	r->next = NULL;
	r->units = units;
	r->done = false;
	pthread_cond_init(&r->cv, NULL);
	pthread_mutex_lock(&c->mu);
	if (c->tail != NULL)
		c->tail->next = r;
	else
		c->head = r;
	c->tail = r;
	c->queued += units;
	while (!r->done) {
		/* Yields per turn as the combiner, not per round: once it has
		 * waited for company, its later rounds take who is there. */
		unsigned waits = 0;

		if (c->busy) {
			pthread_cond_wait(&r->cv, &c->mu);
			continue;
		}
		c->busy = true;
		while (!r->done) {
			if (c->queued < c->gather && waits < COMBINE_GATHER_YIELDS) {
				waits++;
				pthread_mutex_unlock(&c->mu);
				sched_yield();
				pthread_mutex_lock(&c->mu);
				continue;
			}
			round(c, arg);
		}
		c->busy = false;
		if (c->head != NULL) {
			c->handoffs++;
			pthread_cond_signal(&c->head->cv);
		}
	}
	pthread_mutex_unlock(&c->mu);
	pthread_cond_destroy(&r->cv);
}
