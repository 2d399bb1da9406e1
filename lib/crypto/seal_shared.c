/*
 * seal_shared: flat combining of small seals.  See seal_shared.h.
 *
 * The queue is FIFO (lib/util/combine); a round takes whole requests from
 * its head while they fit in `max` records, copies their records into one
 * array, seals it with the combiner's engine without the lock, copies the
 * results back and completes those requests.  Only the combiner touches a
 * queued request's records, and only while its owner sleeps.
 */
#include "seal_shared.h"
#include "util/combine.h"
#include "util/err.h"
#include "util/secmem.h"

#include <stdlib.h>
#include <string.h>

#define MAX_RECS 64u

struct seal_req {
	struct combine_req cr; /* first: a combine_req is a seal_req */
	struct engine_rec *recs;
	size_t n;
	int rc;
};

struct seal_shared {
	struct combiner c; /* queued counts records */
	unsigned max;
	struct seal_shared_stats stats; /* under c.mu */
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
	/* A round of one lane costs nearly what a full one does. */
	if (combine_init(&s->c, max / 2) != 0) {
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
	combine_destroy(&s->c);
	free(s);
}

/* round_: seal the whole requests at the queue's head that fit in max
 * records (at least the first) with the combiner's engine (arg). */
static void
round_(struct combiner *c, void *arg)
{
	struct seal_shared *s = (struct seal_shared *)c; /* c is its first member */
	struct engine *e = arg;
	struct engine_rec all[MAX_RECS];
	struct seal_req *in[MAX_RECS];
	struct combine_req *cr;
	size_t nreq = 0, nrec = 0;

	for (cr = c->head; cr != NULL; cr = cr->next) {
		struct seal_req *r = (struct seal_req *)cr;

		if (nrec + r->n > s->max)
			break;
		memcpy(all + nrec, r->recs, r->n * sizeof(*all));
		nrec += r->n;
		in[nreq++] = r;
	}
	pthread_mutex_unlock(&c->mu);
	if (engine_seal(e, all, nrec) != 0) {
		/* each record carries its own status: the requests read theirs */
	}
	pthread_mutex_lock(&c->mu);
	nrec = 0;
	/* They are still the first nreq of the queue: each is the head in turn. */
	for (size_t i = 0; i < nreq; i++) {
		struct seal_req *r = in[i];

		memcpy(r->recs, all + nrec, r->n * sizeof(*all));
		nrec += r->n;
		r->rc = 0;
		for (size_t k = 0; k < r->n && r->rc == 0; k++)
			r->rc = r->recs[k].status;
		combine_complete(c, NULL, &r->cr);
	}
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
	combine_run(&s->c, &me.cr, n, round_, e);
	return me.rc;
}

void
seal_shared_stats(struct seal_shared *s, struct seal_shared_stats *out)
{
	pthread_mutex_lock(&s->c.mu);
	*out = s->stats;
	pthread_mutex_unlock(&s->c.mu);
}
