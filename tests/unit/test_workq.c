/*
 * Unit tests for workq: every job runs exactly once, on a worker with its
 * own context; free runs what is queued; bad arguments are refused.
 */
#include "testutil.h"
#include "util/err.h"
#include "util/workq.h"

#include <pthread.h>
#include <stdatomic.h>

static atomic_int ctx_made, ctx_freed;

static void *
ctx_new(void *arg)
{
	int *c = malloc(sizeof(*c));

	(void)arg;
	if (c != NULL)
		*c = atomic_fetch_add(&ctx_made, 1);
	return c;
}

static void
ctx_free(void *c)
{
	atomic_fetch_add(&ctx_freed, 1);
	free(c);
}

struct tally {
	atomic_int runs[1000];
	atomic_int per_ctx[8];
};

struct job {
	struct tally *t;
	int i;
};

static void
job_fn(void *arg, void *ctx)
{
	struct job *j = arg;

	atomic_fetch_add(&j->t->runs[j->i], 1);
	atomic_fetch_add(&j->t->per_ctx[*(int *)ctx], 1);
}

static void
test_every_job_once(void **state)
{
	static struct tally t;
	static struct job jobs[1000];
	struct workq *q;
	int total = 0;

	(void)state;
	assert_int_equal(workq_new(&q, 3, ctx_new, ctx_free, NULL), 0);
	assert_int_equal(workq_threads(q), 3);
	assert_int_equal(atomic_load(&ctx_made), 3);
	for (int i = 0; i < 1000; i++) {
		jobs[i] = (struct job){&t, i};
		assert_int_equal(workq_submit(q, job_fn, &jobs[i]), 0);
	}
	workq_free(q); /* runs what is still queued */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(atomic_load(&t.runs[i]), 1);
	for (int c = 0; c < 3; c++)
		total += atomic_load(&t.per_ctx[c]);
	assert_int_equal(total, 1000);
	assert_int_equal(atomic_load(&ctx_freed), 3);
}

static void *
ctx_fail(void *arg)
{
	(void)arg;
	return NULL;
}

static void
test_bad_args_and_failed_context(void **state)
{
	struct workq *q = (struct workq *)1;

	(void)state;
	assert_int_equal(workq_new(&q, 0, NULL, NULL, NULL), CS_EINVAL);
	assert_null(q);
	assert_int_equal(workq_new(&q, 257, NULL, NULL, NULL), CS_EINVAL);
	assert_int_equal(workq_new(&q, 2, ctx_fail, NULL, NULL), CS_EIO);
	assert_null(q);
	workq_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_job_once),
		cmocka_unit_test(test_bad_args_and_failed_context),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
