/*
 * test_eventlog.c - the event sink: a line written to an idle sink is in the
 * file when eventlog_write() returns; under concurrent load lines are
 * batched but every one lands whole, none is lost or duplicated, each
 * thread's lines keep their order; a reopen (log rotation) in the middle of
 * the load splits the lines between the two files without losing any;
 * close writes what is still queued; and event ids are distinct hex.
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
#include <unistd.h>

#include "log/eventlog.h"
#include "base/util.h"

#define THREADS 8
#define LINES 20000 /* per thread */

static char dir[] = "/tmp/bw-test-eventlog.XXXXXX";

static char *
path_of(const char *name)
{
	static char p[2][256];
	static int k;
	k ^= 1;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

/* Read a whole file into a NUL-terminated buffer (caller frees). */
static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		*len = 0;
		return calloc(1, 1);
	}
	size_t cap = 1 << 20, n = 0;
	char *b = malloc(cap + 1);
	size_t r;
	while ((r = fread(b + n, 1, cap - n, f)) > 0) {
		n += r;
		if (n == cap)
			b = realloc(b, (cap *= 2) + 1);
	}
	fclose(f);
	b[n] = '\0';
	*len = n;
	return b;
}

static void
test_idle_line_is_written_at_once(void **unused)
{
	char *p = path_of("idle.jsonl");
	assert_int_equal(eventlog_open("file", p, NULL), 0);
	static const char line[] = "{\"n\":1}\n";
	assert_int_equal(eventlog_write(line, sizeof(line) - 1), 0);
	size_t n;
	char *b = slurp(p, &n); /* no close, no sleep: it is on disk already */
	assert_int_equal(n, sizeof(line) - 1);
	assert_memory_equal(b, line, n);
	free(b);
	eventlog_close();
}

struct writer {
	int id;
	int reopen_at; /* thread 0 rotates the log after this many lines, or -1 */
	const char *rotated;
	const char *live;
};

static void *
write_lines(void *arg)
{
	struct writer *w = arg;
	char line[160];
	for (int i = 0; i < LINES; i++) {
		int n = snprintf(line, sizeof(line), "{\"t\":%d,\"i\":%d,\"pad\":\"%.*s\"}\n",
				 w->id, i, (i * 7) % 80 + 1,
				 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
				 "xxxxxxxxxxxxxxx");
		if (eventlog_write(line, (size_t)n) != 0)
			fail_msg("write failed");
		if (i == w->reopen_at) {
			if (rename(w->live, w->rotated) != 0 || eventlog_reopen() != 0)
				fail_msg("rotate failed");
		}
	}
	return NULL;
}

/* Every line whole, once; per thread in order. Returns lines seen. */
static size_t
check_lines(char *b, int *next)
{
	size_t count = 0;
	for (char *l = b, *e; *l != '\0'; l = e + 1) {
		e = strchr(l, '\n');
		assert_non_null(e);
		*e = '\0';
		int t, i, len = 0;
		if (sscanf(l, "{\"t\":%d,\"i\":%d,\"pad\":\"%*[x]\"}%n", &t, &i, &len) != 2 ||
		    len != (int)strlen(l))
			fail_msg("line torn or mixed: %s", l);
		assert_true(t >= 0 && t < THREADS);
		if (i != next[t])
			fail_msg("thread %d: line %d where %d was due", t, i, next[t]);
		next[t]++;
		count++;
	}
	return count;
}

static void
run_load(int reopen_at)
{
	char *live = path_of("load.jsonl");
	char rotated[256];
	snprintf(rotated, sizeof(rotated), "%s/load.jsonl.1", dir);
	unlink(live);
	unlink(rotated);
	assert_int_equal(eventlog_open("file", live, NULL), 0);
	pthread_t tid[THREADS];
	struct writer w[THREADS];
	for (int t = 0; t < THREADS; t++) {
		w[t] = (struct writer){t, t == 0 ? reopen_at : -1, rotated, live};
		assert_int_equal(pthread_create(&tid[t], NULL, write_lines, &w[t]), 0);
	}
	for (int t = 0; t < THREADS; t++)
		pthread_join(tid[t], NULL);
	eventlog_close(); /* writes what is still queued */

	int next[THREADS] = {0};
	size_t n1 = 0, n2 = 0, len;
	if (reopen_at >= 0) {
		char *b = slurp(rotated, &len);
		n1 = check_lines(b, next);
		free(b);
		assert_true(n1 > (size_t)reopen_at); /* thread 0's first lines at least */
	}
	char *b = slurp(live, &len);
	n2 = check_lines(b, next);
	free(b);
	assert_int_equal(n1 + n2, (size_t)THREADS * LINES);
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(next[t], LINES);
	if (reopen_at >= 0)
		assert_true(n2 > 0);
}

static void
test_concurrent_lines_whole_and_ordered(void **unused)
{
	run_load(-1);
}

static void
test_reopen_under_load_loses_nothing(void **unused)
{
	run_load(LINES / 2);
}

static void
test_random_ids(void **unused)
{
	/* more ids than one pool refill holds, all distinct lowercase hex */
	enum { N = 2000 };
	static char ids[N][25];
	for (int i = 0; i < N; i++) {
		assert_int_equal(bw_random_hex(ids[i], 12), 0);
		assert_int_equal(strlen(ids[i]), 24);
		assert_int_equal(strspn(ids[i], "0123456789abcdef"), 24);
	}
	for (int i = 0; i < N; i++)
		for (int k = i + 1; k < N; k++)
			if (strcmp(ids[i], ids[k]) == 0)
				fail_msg("id %d repeats id %d: %s", k, i, ids[i]);
}

static int
setup(void **unused)
{
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **unused)
{
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_idle_line_is_written_at_once),
	    cmocka_unit_test(test_concurrent_lines_whole_and_ordered),
	    cmocka_unit_test(test_reopen_under_load_loses_nothing),
	    cmocka_unit_test(test_random_ids),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
