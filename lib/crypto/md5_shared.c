/*
 * md5_shared: flat combining of MD5 updates.  See md5_shared.h.
 *
 * The queue is FIFO: a round takes the first `lanes` requests, hashes at
 * most `slice` bytes of each, and completes those that have nothing left;
 * the others stay at the head for the next round.  Only the combiner (busy)
 * touches a request's pointer and length, and only without the lock while
 * the request is in its round; its owner sleeps until `done`.
 */
#include "md5_shared.h"
#include "util/err.h"

#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdlib.h>

#define LANES_MAX     64u
#define GATHER_YIELDS 2 /* times a combiner yields for more streams before a thin round */

struct md5_req {
	struct md5_req *next;
	struct md5_mb_state *st;
	const uint8_t *p;
	size_t left;
	pthread_cond_t cv;
	bool done;
};

struct md5_shared {
	pthread_mutex_t mu;
	struct md5_req *head, *tail;
	unsigned queued; /* requests in the queue */
	bool busy;
	unsigned lanes;
	size_t slice;
	struct md5_shared_stats stats;
};

int
md5_shared_new(struct md5_shared **out, unsigned lanes, size_t slice)
{
	struct md5_shared *c;

	*out = NULL;
	if (lanes < 1 || lanes > LANES_MAX || slice < 64 || slice % 64 != 0)
		return CS_EINVAL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return CS_ENOMEM;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return CS_ENOMEM;
	}
	c->lanes = lanes;
	c->slice = slice;
	*out = c;
	return 0;
}

void
md5_shared_free(struct md5_shared *c)
{
	if (c == NULL)
		return;
	pthread_mutex_destroy(&c->mu);
	free(c);
}

/* combine_round: hash one round of the queue's head; called with the lock
 * held and busy set, returns with the lock held. */
static void
combine_round(struct md5_shared *c)
{
	struct md5_mb_job jobs[LANES_MAX];
	struct md5_req *in[LANES_MAX], *r, *prev = NULL, *next;
	size_t n = 0, bytes = 0;

	for (r = c->head; r != NULL && n < c->lanes; r = r->next) {
		in[n] = r;
		jobs[n].st = r->st;
		jobs[n].data = r->p;
		jobs[n].len = r->left < c->slice ? r->left : c->slice;
		bytes += jobs[n].len;
		n++;
	}
	pthread_mutex_unlock(&c->mu);
	md5_mb_update_many(jobs, n);
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < n; i++) {
		in[i]->p += jobs[i].len;
		in[i]->left -= jobs[i].len;
	}
	/* Unlink the finished ones (they are among the first n) and wake them. */
	for (size_t seen = 0; seen < n && (r = prev != NULL ? prev->next : c->head) != NULL;
	     seen++) {
		if (r->left != 0) {
			prev = r;
			continue;
		}
		next = r->next;
		if (prev != NULL)
			prev->next = next;
		else
			c->head = next;
		if (c->tail == r)
			c->tail = prev;
		r->done = true;
		c->queued--;
		pthread_cond_signal(&r->cv);
	}
	c->stats.rounds++;
	c->stats.lane_jobs += n;
	c->stats.bytes += bytes;
}

void
md5_shared_update(struct md5_shared *c, struct md5_mb_state *st, const void *data, size_t len)
{
	struct md5_req me = {.st = st, .p = data, .left = len};

	if (len == 0)
		return;
	pthread_cond_init(&me.cv, NULL);
	pthread_mutex_lock(&c->mu);
	if (c->tail != NULL)
		c->tail->next = &me;
	else
		c->head = &me;
	c->tail = &me;
	c->queued++;
	while (!me.done) {
		unsigned waits = 0;

		if (c->busy) {
			pthread_cond_wait(&me.cv, &c->mu);
			continue;
		}
		c->busy = true;
		while (!me.done) {
			/* A round of few lanes costs nearly what a full one does:
			 * let the other runnable uploads reach the queue first. */
			if (c->queued < c->lanes / 2 && waits < GATHER_YIELDS) {
				waits++;
				pthread_mutex_unlock(&c->mu);
				sched_yield();
				pthread_mutex_lock(&c->mu);
				continue;
			}
			waits = 0;
			combine_round(c);
		}
		c->busy = false;
		if (c->head != NULL) {
			c->stats.handoffs++;
			pthread_cond_signal(&c->head->cv);
		}
	}
	pthread_mutex_unlock(&c->mu);
	pthread_cond_destroy(&me.cv);
}

void
md5_shared_stats(struct md5_shared *c, struct md5_shared_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->stats;
	pthread_mutex_unlock(&c->mu);
}
