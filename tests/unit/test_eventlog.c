/*
 * test_eventlog.c - the event sink: a line written to an idle sink is in the
 * file when eventlog_write() returns; under concurrent load lines are
 * batched but every one lands whole, none is lost or duplicated, each
 * thread's lines keep their order; a reopen (log rotation) in the middle of
 * the load splits the lines between the two files without losing any;
 * close writes what is still queued; and event ids are distinct hex.
 * Hostile files: a symlink, a hard link or a file of another user at the
 * log path is refused, never written through. A failing disk: every line
 * whose write returned 0 is in the file, and every other one returned -1
 * (under concurrent, batched load), so the milter can fail the message.
 * Refusal lines (eventlog_write_queued): one written to an idle sink is in
 * the file when the call returns; under concurrent load (queued behind the
 * thread writing them) the same whole, once, in order, across a rotation;
 * close writes the queue; a failing disk reports the lines lost.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
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

static int queued_mode; /* the writers use eventlog_write_queued() */

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
		if ((queued_mode ? eventlog_write_queued(line, (size_t)n)
				 : eventlog_write(line, (size_t)n)) != 0)
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
test_queued_lines_whole_ordered_across_rotation(void **unused)
{
	queued_mode = 1;
	run_load(-1);
	run_load(LINES / 3);
	queued_mode = 0;
}

/* A refusal line to an idle sink is on disk when the call returns. */
static void
test_queued_idle_line_is_written_at_once(void **unused)
{
	char *p = path_of("queued-idle.jsonl");
	unlink(p);
	assert_int_equal(eventlog_open("file", p, NULL), 0);
	static const char l1[] = "{\"q\":1}\n";
	assert_int_equal(eventlog_write_queued(l1, sizeof(l1) - 1), 0);
	size_t len;
	char *b = slurp(p, &len);
	assert_int_equal(len, sizeof(l1) - 1);
	assert_memory_equal(b, l1, len);
	free(b);
	eventlog_close();
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

static void
test_hostile_paths_refused(void **unused)
{
	char *victim = path_of("victim");
	char *lnk = path_of("link.jsonl");
	int fd = open(victim, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	close(fd);
	/* a symlink to a file the log must never write */
	assert_int_equal(symlink(victim, lnk), 0);
	assert_int_equal(eventlog_open("file", lnk, NULL), -1);
	unlink(lnk);
	/* a hard link to it */
	assert_int_equal(link(victim, lnk) == 0 || errno == EPERM, 1);
	if (access(lnk, F_OK) == 0)
		assert_int_equal(eventlog_open("file", lnk, NULL), -1);
	unlink(lnk);
	/* a file owned by someone else (only testable as root) */
	if (geteuid() == 0) {
		fd = open(lnk, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_true(fd >= 0);
		assert_int_equal(fchown(fd, 4242, 4242), 0);
		close(fd);
		assert_int_equal(eventlog_open("file", lnk, NULL), -1);
		eventlog_trust_uid(4242); /* the milter's user may own it */
		assert_int_equal(eventlog_open("file", lnk, NULL), 0);
		eventlog_close();
		eventlog_trust_uid((uid_t)-1);
		unlink(lnk);
	}
	/* nothing reached the victim */
	struct stat st;
	assert_int_equal(stat(victim, &st), 0);
	assert_int_equal(st.st_size, 0);
}

#define FULL_LIMIT (64 * 1024) /* bytes the "disk" takes */
#define FULL_LINES 4000	       /* per thread: far more than fit */

static int full_ok[THREADS];

static void *
write_until_full(void *arg)
{
	int t = (int)(intptr_t)arg;
	char line[64];
	for (int i = 0; i < FULL_LINES; i++) {
		int n = snprintf(line, sizeof(line), "{\"t\":%d,\"i\":%d}\n", t, i);
		/* odd threads write refusal lines beside them: a queued line's
		 * failure is the event log's to report, so only the others count */
		if (t % 2)
			(void)eventlog_write_queued(line, (size_t)n);
		else if (eventlog_write(line, (size_t)n) == 0)
			full_ok[t]++;
	}
	return NULL;
}

static void
test_full_disk_reports_every_lost_line(void **unused)
{
	char *p = path_of("full.jsonl");
	struct rlimit old, lim;
	unlink(p);
	signal(SIGXFSZ, SIG_IGN); /* write(2) then fails with EFBIG */
	getrlimit(RLIMIT_FSIZE, &old);
	lim = old;
	lim.rlim_cur = FULL_LIMIT;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(eventlog_open("file", p, NULL), 0);
	pthread_t tid[THREADS];
	for (int t = 0; t < THREADS; t++)
		assert_int_equal(
		    pthread_create(&tid[t], NULL, write_until_full, (void *)(intptr_t)t), 0);
	for (int t = 0; t < THREADS; t++)
		pthread_join(tid[t], NULL);
	eventlog_close();
	setrlimit(RLIMIT_FSIZE, &old);
	size_t len;
	char *b = slurp(p, &len);
	size_t whole = 0;
	for (char *q = b; (q = strchr(q, '\n')) != NULL; q++)
		whole++;
	free(b);
	int ok = 0;
	for (int t = 0; t < THREADS; t++)
		ok += full_ok[t];
	assert_true(len <= FULL_LIMIT);
	assert_true(ok > 0);
	assert_true(ok < (THREADS / 2) * FULL_LINES);
	/* every line reported written is there (a failed batch may have left
	 * a few whole lines before the limit, which were reported lost) */
	if ((size_t)ok > whole)
		fail_msg("%d lines reported written, %zu in the file", ok, whole);
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
	    cmocka_unit_test(test_queued_idle_line_is_written_at_once),
	    cmocka_unit_test(test_queued_lines_whole_ordered_across_rotation),
	    cmocka_unit_test(test_random_ids),
	    cmocka_unit_test(test_hostile_paths_refused),
	    cmocka_unit_test(test_full_disk_reports_every_lost_line),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
