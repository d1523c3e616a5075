/*
 * test_statesync.c - the milter's state thread against a real SQLite store:
 * a suspension written by another handle reaches the overlay within a
 * second; counters reach the store within a second and at stop; expiry
 * lifts a suspension with an audit record; a store that cannot be read
 * makes the overlay stale (fail closed) and recovery clears it; a kill -9
 * loses at most the last second of counts.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log/eventlog.h"
#include "state/overlay.h"
#include "state/state_int.h"
#include "milter/statesync.h"

static char dir[256];
static struct bw_settings set;

/* A wrapper backend that fails reads on demand, delegating otherwise. */
static const struct state_ops *real_ops;
static struct state_ops flaky_ops;
static int flaky; /* read by the sync thread: __atomic accesses */

static int
flaky_version(struct state *s, uint64_t *v)
{
	if (__atomic_load_n(&flaky, __ATOMIC_RELAXED)) {
		state_set_error(s, "injected failure");
		return -1;
	}
	return real_ops->version(s, v);
}

static int
flaky_suspensions(struct state *s, long long now, struct state_suspension **out, size_t *n)
{
	if (__atomic_load_n(&flaky, __ATOMIC_RELAXED)) {
		state_set_error(s, "injected failure");
		return -1;
	}
	return real_ops->suspensions(s, now, out, n);
}

static long long
ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll overlay_suspended(id) until it returns want; elapsed ms or -1. */
static long long
wait_suspended(struct overlay *o, const char *id, int want, long long max_ms)
{
	char why[256];
	long long t0 = ms_now();
	while (ms_now() - t0 <= max_ms) {
		if (overlay_suspended(o, id, why, sizeof(why)) == want)
			return ms_now() - t0;
		usleep(20000);
	}
	return -1;
}

static struct state *
open_store(void)
{
	char err[512];
	struct state *s = state_open(&set, err, sizeof(err));
	if (s == NULL)
		fail_msg("state_open: %s", err);
	return s;
}

static uint64_t
stored_messages(struct state *s, const char *id)
{
	struct state_counts c;
	long long now = time(NULL);
	assert_int_equal(state_counters_sum(s, id, now - 7200, now + 3600, &c), 0);
	return c.messages;
}

static void
test_sync(void **unused)
{
	struct state *st = open_store(), *ctl = open_store();
	real_ops = st->ops;
	flaky_ops = *st->ops;
	flaky_ops.version = flaky_version;
	flaky_ops.suspensions = flaky_suspensions;
	st->ops = &flaky_ops;

	struct overlay *ov = overlay_new();
	char err[256];
	struct statesync *sync = statesync_start(st, NULL, ov, NULL, 1, 3, err, sizeof(err));
	assert_non_null(sync);
	assert_true(wait_suspended(ov, "news", 0, 100) >= 0); /* known at start */

	/* a suspension by another handle (bulkwardenctl) within one second */
	long long now = time(NULL);
	assert_int_equal(state_suspend(ctl, "news", "phish", "soc", "T-1", 0, now, NULL), 0);
	long long ms = wait_suspended(ov, "news", 1, 1000);
	print_message("suspension seen after %lld ms\n", ms);
	assert_true(ms >= 0);
	assert_int_equal(state_reinstate(ctl, "news", "ok", "ciso", "T-1", now, NULL), 1);
	assert_true(wait_suspended(ov, "news", 0, 1000) >= 0);

	/* counters reach the store within a flush period */
	for (int i = 0; i < 5; i++)
		overlay_finish(ov, "news", false, 0, BW_ACT_ACCEPT, 2, 100, time(NULL));
	long long t0 = ms_now();
	while (stored_messages(ctl, "news") < 5 && ms_now() - t0 < 2500)
		usleep(50000);
	assert_int_equal(stored_messages(ctl, "news"), 5);

	/* expiry lifts a suspension, with an "expire" audit record */
	assert_int_equal(state_suspend(ctl, "promo", "cooldown", "soc", "", time(NULL) + 2,
				       time(NULL), NULL), 0);
	assert_true(wait_suspended(ov, "promo", 1, 1000) >= 0);
	assert_true(wait_suspended(ov, "promo", 0, 4500) >= 0);

	/* store unreadable: stale (fail closed) after 3000 (stale_after 3), then back */
	__atomic_store_n(&flaky, 1, __ATOMIC_RELAXED);
	ms = wait_suspended(ov, "news", -1, 3000 + 1500);
	print_message("stale after %lld ms of failures\n", ms);
	assert_true(ms >= 3000 - 500);
	__atomic_store_n(&flaky, 0, __ATOMIC_RELAXED);
	assert_true(wait_suspended(ov, "news", 0, 1000) >= 0);

	/* queued audit records are appended; counts pending at stop are flushed */
	struct state_audit rec = {.ts = time(NULL), .action = "config-reload", .actor = "bulkwarden",
				  .reason = "test", .detail = "revision x"};
	statesync_audit(sync, &rec);
	overlay_finish(ov, "news", false, 0, BW_ACT_REJECT, 1, 10, time(NULL));
	statesync_stop(sync);
	assert_int_equal(stored_messages(ctl, "news"), 6);
	long long n, bad;
	char why[256];
	assert_int_equal(state_audit_verify(ctl, &n, &bad, why, sizeof(why)), 0);
	assert_true(n >= 4); /* suspend, reinstate, suspend, expire, config-reload */
	st->ops = real_ops;
	state_close(st);
	state_close(ctl);
	overlay_free(ov);
}

/* kill -9 loses at most the last flush period of counts */
static void
test_crash_bound(void **unused)
{
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];
		struct state *st = state_open(&set, err, sizeof(err));
		struct overlay *ov = overlay_new();
		if (st == NULL || ov == NULL || statesync_start(st, NULL, ov, NULL, 60, 3, err, sizeof(err)) == NULL)
			_exit(2);
		for (int i = 0; i < 100; i++)
			overlay_finish(ov, "crash", false, 0, BW_ACT_ACCEPT, 1, 1, time(NULL));
		usleep((STATESYNC_FLUSH_MS + 300) * 1000); /* at least one flush */
		if (write(p[1], "x", 1) != 1)
			_exit(3);
		for (int i = 0; i < 100; i++)
			overlay_finish(ov, "crash", false, 0, BW_ACT_ACCEPT, 1, 1, time(NULL));
		pause();
		_exit(0);
	}
	char c;
	assert_int_equal(read(p[0], &c, 1), 1);
	usleep(50000);
	kill(pid, SIGKILL);
	int status;
	waitpid(pid, &status, 0);
	assert_true(WIFSIGNALED(status));
	struct state *st = open_store();
	uint64_t got = stored_messages(st, "crash");
	print_message("after kill -9: %llu of 200 counted\n", (unsigned long long)got);
	assert_true(got >= 100 && got <= 200);
	long long n, bad;
	char why[256];
	assert_int_equal(state_audit_verify(st, &n, &bad, why, sizeof(why)), 0);
	state_close(st);
	close(p[0]);
	close(p[1]);
}

static int
setup(void **unused)
{
	static char path[300];
	snprintf(dir, sizeof(dir), "%s/bwsync.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/state.db", dir);
	set.state_backend = "sqlite";
	set.state_path = path;
	eventlog_open("stdout", NULL, NULL);
	return 0;
}

static int
teardown(void **unused)
{
	char cmd[400];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sync),
		cmocka_unit_test(test_crash_bound),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
