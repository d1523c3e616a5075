/*
 * test_surge.c - volume surges (milter/surge.c) with a pinned clock: the
 * same-hour-of-week baseline read from a real SQLite store's counters, no
 * verdict without history, min_messages and factor, one first-surge per
 * identity-hour, the next hour starting afresh, and the store's count of
 * the hour (other relays) added to what this milter counts.
 *
 * Time is pinned by passing `now` (the module never reads the clock for
 * its windows); the history is written with state_counters_add at hours
 * relative to it.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "milter/surge.h"
#include "registry/registry.h"
#include "state/state.h"

#define H (3600LL)
#define W (7LL * 86400)
/* Tuesday 2026-01-20 09:00:00Z plus 10 minutes */
#define NOW (1768899600LL + 600)
#define HOUR (NOW - NOW % H)

static char dir[256];
static char dbpath[300];
static struct registry *reg;

static int
setup(void **unused)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/bw-surge.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(dbpath, sizeof(dbpath), "%s/state.db", dir);
	reg = registry_new();
	reg->set.state_backend = "sqlite";
	reg->set.state_path = dbpath;
	reg->set.surge_factor = 5.0;
	reg->set.surge_min_messages = 20;
	reg->set.surge_baseline_days = 14;
	reg->set.surge_action = BW_SURGE_ALERT;
	return 0;
}

static int
teardown(void **unused)
{
	char cmd[400];
	registry_release(reg);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct state *
open_ok(void)
{
	char err[512];
	struct state *s = state_open(&reg->set, err, sizeof(err));
	if (s == NULL)
		fail_msg("state_open: %s", err);
	return s;
}

/* msgs messages of id in the hour starting at hour. */
static void
add(struct state *st, const char *id, long long hour, uint64_t msgs)
{
	struct state_counts c = {.messages = msgs, .accepted = msgs};
	assert_int_equal(state_counters_add(st, id, hour, &c), 0);
}

static struct surge *
new_surge(void)
{
	char err[256];
	struct surge *s = surge_new(reg, err, sizeof(err));
	assert_non_null(s);
	return s;
}

static void
test_baseline(void **unused)
{
	struct state *st = open_ok();
	bool have = true;
	double b = -1;
	/* nothing stored: no baseline */
	assert_int_equal(surge_baseline(st, "news", HOUR, 14, &have, &b), 0);
	assert_false(have);
	/* history only in the last week: still none (the window is two weeks) */
	add(st, "news", HOUR - W, 10);
	assert_int_equal(surge_baseline(st, "news", HOUR, 14, &have, &b), 0);
	assert_false(have);
	/* a message in the oldest week (another hour) makes the baseline: the
	 * same hour of the week, two weeks: (10 + 0) / 2 */
	add(st, "news", HOUR - 2 * W + 5 * H, 3);
	assert_int_equal(surge_baseline(st, "news", HOUR, 14, &have, &b), 0);
	assert_true(have);
	assert_true(b > 4.99 && b < 5.01);
	add(st, "news", HOUR - 2 * W, 30);
	assert_int_equal(surge_baseline(st, "news", HOUR, 14, &have, &b), 0);
	assert_true(b > 19.99 && b < 20.01); /* (10 + 30) / 2 */
	/* other hours and identities do not count */
	add(st, "news", HOUR - W + H, 1000);
	add(st, "other", HOUR - W, 1000);
	assert_int_equal(surge_baseline(st, "news", HOUR, 14, &have, &b), 0);
	assert_true(b > 19.99 && b < 20.01);
	/* 21 days: three samples */
	assert_int_equal(surge_baseline(st, "news", HOUR, 21, &have, &b), 0);
	assert_false(have); /* nothing three weeks back */
	add(st, "news", HOUR - 3 * W, 20);
	assert_int_equal(surge_baseline(st, "news", HOUR, 21, &have, &b), 0);
	assert_true(have);
	assert_true(b > 19.99 && b < 20.01); /* (10 + 30 + 20) / 3 */
	state_close(st);
}

static void
test_no_baseline(void **unused)
{
	struct surge *s = new_surge();
	struct surge_result r;
	/* a new identity: thousands of messages, never a verdict */
	for (int i = 0; i < 500; i++)
		assert_int_equal(surge_count(s, &reg->set, "fresh", NOW + i, &r), 0);
	assert_int_equal(r.verdict, SURGE_NO_BASELINE);
	assert_int_equal(r.count, 500);
	assert_non_null(strstr(r.detail, "no baseline yet"));
	surge_free(s);
}

static void
test_surge_once_per_hour(void **unused)
{
	struct state *st = open_ok();
	add(st, "news", HOUR - W, 4);
	add(st, "news", HOUR - 2 * W, 2); /* baseline 3/h: threshold 15, min 20 */
	state_close(st);
	struct surge *s = new_surge();
	struct surge_result r;
	int firsts = 0;
	for (int i = 1; i <= 19; i++) {
		assert_int_equal(surge_count(s, &reg->set, "news", NOW + i, &r), 0);
		assert_int_equal(r.verdict, SURGE_BELOW); /* 16..19 > 15 but < min 20 */
	}
	assert_true(r.baseline > 2.99 && r.baseline < 3.01);
	assert_true(r.threshold > 14.99 && r.threshold < 15.01);
	for (int i = 20; i <= 40; i++) {
		assert_int_equal(surge_count(s, &reg->set, "news", NOW + i, &r), 0);
		assert_int_equal(r.verdict, SURGE_OVER);
		firsts += r.first;
	}
	assert_int_equal(firsts, 1);
	assert_non_null(strstr(r.detail, "surge"));
	/* the next hour starts afresh: counted from the store (nothing flushed
	 * in this test) and judged against its own hour of the week */
	assert_int_equal(surge_count(s, &reg->set, "news", HOUR + H + 1, &r), 0);
	assert_int_equal(r.count, 1);
	assert_int_equal(r.verdict, SURGE_BELOW);
	surge_free(s);
}

static void
test_fleet_count_and_factor(void **unused)
{
	struct state *st = open_ok();
	add(st, "news", HOUR - W, 100);
	add(st, "news", HOUR - 2 * W, 100); /* baseline 100/h: threshold 500 */
	add(st, "news", HOUR, 495);	    /* other relays already sent 495 */
	state_close(st);
	struct surge *s = new_surge();
	struct surge_result r;
	for (int i = 1; i <= 5; i++) {
		assert_int_equal(surge_count(s, &reg->set, "news", NOW + i, &r), 0);
		assert_int_equal(r.verdict, SURGE_BELOW);
	}
	assert_int_equal(r.count, 500); /* 500 is not more than 5 x 100 */
	assert_int_equal(surge_count(s, &reg->set, "news", NOW + 6, &r), 0);
	assert_int_equal(r.verdict, SURGE_OVER);
	assert_true(r.first);
	/* a larger factor (a reload) judges the same hour again */
	reg->set.surge_factor = 10.0;
	assert_int_equal(surge_count(s, &reg->set, "news", NOW + 7, &r), 0);
	assert_int_equal(r.verdict, SURGE_BELOW);
	surge_free(s);
}

/* An identity's own factor and min_messages (identity.governance.
 * volume_surge) judge its hour; 0 falls back on the settings'. */
static void
test_identity_factor(void **unused)
{
	struct state *st = open_ok();
	add(st, "news", HOUR - W, 4);
	add(st, "news", HOUR - 2 * W, 2); /* baseline 3/h */
	add(st, "tight", HOUR - W, 4);
	add(st, "tight", HOUR - 2 * W, 2);
	state_close(st);
	struct surge *s = new_surge();
	struct surge_result r;
	/* factor 2, min 7: threshold 6, the 7th message is a surge */
	for (int i = 1; i <= 6; i++) {
		assert_int_equal(surge_count_with(s, &reg->set, 2.0, 7, "tight", NOW + i, &r), 0);
		assert_int_equal(r.verdict, SURGE_BELOW);
	}
	assert_int_equal(surge_count_with(s, &reg->set, 2.0, 7, "tight", NOW + 7, &r), 0);
	assert_int_equal(r.verdict, SURGE_OVER);
	assert_true(r.factor == 2.0);
	assert_int_equal(r.min_messages, 7);
	assert_true(r.threshold > 5.99 && r.threshold < 6.01);
	assert_non_null(strstr(r.detail, "x2.0 = 6.0, min 7"));
	/* 0 and 0: the settings' (factor 5, min 20): 7 messages are below */
	for (int i = 1; i <= 7; i++)
		assert_int_equal(surge_count_with(s, &reg->set, 0, 0, "news", NOW + i, &r), 0);
	assert_int_equal(r.verdict, SURGE_BELOW);
	assert_true(r.factor == reg->set.surge_factor);
	assert_int_equal(r.min_messages, reg->set.surge_min_messages);
	surge_free(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_baseline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_baseline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_surge_once_per_hour, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_fleet_count_and_factor, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_identity_factor, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
