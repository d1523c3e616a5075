/*
 * test_cache.c - base/cache: TTL expiry, replacement, LRU eviction (a
 * stale entry near the old end first), flush, ownership of values (each
 * freed exactly once), and concurrent use from several threads (the TSan
 * pass of contrib/run-tests runs this too).
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/cache.h"
#include "base/util.h"

static int n_live; /* values allocated and not yet freed */

static void
val_free(void *v)
{
	__atomic_sub_fetch(&n_live, 1, __ATOMIC_RELAXED);
	free(v);
}

static int *
val_new(int x)
{
	int *v = malloc(sizeof(*v));
	assert_non_null(v);
	*v = x;
	__atomic_add_fetch(&n_live, 1, __ATOMIC_RELAXED);
	return v;
}

static int
copy_int(const void *val, uint64_t expires BW_UNUSED, void *arg)
{
	*(int *)arg = *(const int *)val;
	return 0;
}

enum op { PUT, GET, FLUSH };

struct step {
	enum op op;
	const char *key;
	int val;	  /* PUT: value stored; GET: expected, 0 = miss */
	uint64_t expires; /* PUT */
	uint64_t now;
	size_t count; /* entries after the step */
};

struct scenario {
	const char *name;
	size_t max;
	struct step steps[12];
	size_t n;
};

static const struct scenario scenarios[] = {
    {"fresh until expiry",
     4,
     {{PUT, "a", 1, 100, 0, 1},
      {GET, "a", 1, 0, 99, 1},
      {GET, "a", 0, 0, 100, 0},
      {GET, "a", 0, 0, 101, 0}},
     4},
    {"replace keeps one entry",
     4,
     {{PUT, "a", 1, 100, 0, 1}, {PUT, "a", 2, 200, 10, 1}, {GET, "a", 2, 0, 150, 1}},
     3},
    {"full: least recently used goes",
     2,
     {{PUT, "a", 1, 100, 0, 1},
      {PUT, "b", 2, 100, 0, 2},
      {GET, "a", 1, 0, 1, 2},
      {PUT, "c", 3, 100, 2, 2},
      {GET, "b", 0, 0, 3, 2},
      {GET, "a", 1, 0, 3, 2},
      {GET, "c", 3, 0, 3, 2}},
     7},
    {"full: a stale entry goes before the lru",
     3,
     {{PUT, "a", 1, 100, 0, 1},
      {PUT, "b", 2, 10, 0, 2},
      {PUT, "c", 3, 100, 0, 3},
      {PUT, "d", 4, 100, 20, 3},
      {GET, "a", 1, 0, 21, 3},
      {GET, "b", 0, 0, 21, 3},
      {GET, "c", 3, 0, 21, 3},
      {GET, "d", 4, 0, 21, 3}},
     8},
    {"flush drops all",
     4,
     {{PUT, "a", 1, 100, 0, 1},
      {PUT, "b", 2, 100, 0, 2},
      {FLUSH, NULL, 0, 0, 0, 0},
      {GET, "a", 0, 0, 1, 0}},
     4},
    {"max 1",
     1,
     {{PUT, "a", 1, 100, 0, 1},
      {PUT, "b", 2, 100, 0, 1},
      {GET, "a", 0, 0, 1, 1},
      {GET, "b", 2, 0, 1, 1}},
     4},
};

static void
test_scenarios(void **state BW_UNUSED)
{
	for (size_t i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]); i++) {
		const struct scenario *sc = &scenarios[i];
		struct bw_cache *c = bw_cache_new(sc->max, val_free);
		assert_non_null(c);
		print_message("scenario: %s\n", sc->name);
		for (size_t k = 0; k < sc->n; k++) {
			const struct step *s = &sc->steps[k];
			int got = 0;
			switch (s->op) {
			case PUT:
				assert_int_equal(
				    bw_cache_put(c, s->key, val_new(s->val), s->expires, s->now),
				    0);
				break;
			case GET:
				assert_int_equal(bw_cache_get(c, s->key, s->now, copy_int, &got),
						 s->val != 0);
				assert_int_equal(got, s->val);
				break;
			case FLUSH:
				bw_cache_flush(c);
				break;
			}
			assert_int_equal(bw_cache_count(c), s->count);
			assert_int_equal(n_live, (int)s->count);
		}
		bw_cache_free(c);
		assert_int_equal(n_live, 0);
	}
}

/* A copy callback that refuses: the hit counts as a miss, the entry stays. */
static int
copy_refuse(const void *val BW_UNUSED, uint64_t expires BW_UNUSED, void *arg BW_UNUSED)
{
	return -1;
}

static void
test_copy_refused(void **state BW_UNUSED)
{
	struct bw_cache *c = bw_cache_new(4, val_free);
	assert_int_equal(bw_cache_put(c, "a", val_new(1), 100, 0), 0);
	assert_false(bw_cache_get(c, "a", 1, copy_refuse, NULL));
	assert_int_equal(bw_cache_count(c), 1);
	bw_cache_free(c);
	assert_int_equal(n_live, 0);
}

#define THREADS 4
#define ROUNDS 20000

/* Many threads putting and getting overlapping keys. */
static void *
worker(void *arg)
{
	struct bw_cache *c = arg;
	char key[16];
	unsigned seed = (unsigned)(uintptr_t)&key;
	for (int i = 0; i < ROUNDS; i++) {
		int k = (int)(rand_r(&seed) % 64), got = 0;
		snprintf(key, sizeof(key), "k%d", k);
		if (i % 3 == 0)
			bw_cache_put(c, key, val_new(k + 1), (uint64_t)i + 50, (uint64_t)i);
		else if (bw_cache_get(c, key, (uint64_t)i, copy_int, &got))
			assert_int_equal(got, k + 1);
	}
	return NULL;
}

static void
test_threads(void **state BW_UNUSED)
{
	struct bw_cache *c = bw_cache_new(32, val_free);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker, c), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	assert_true(bw_cache_count(c) <= 32);
	bw_cache_free(c);
	assert_int_equal(n_live, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_scenarios),
	    cmocka_unit_test(test_copy_refused),
	    cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
