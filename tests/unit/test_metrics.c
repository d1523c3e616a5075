/*
 * test_metrics.c - the metrics tables: decisions land under their identity,
 * outcome and check; the identity table is bounded (ids past
 * METRICS_ID_SLOTS count under "_other"); per_identity = false drops the
 * label; the latency histogram is cumulative with +Inf equal to the count;
 * threads counting at once lose nothing; the suspension and signal gauges
 * (per identity bounded to METRICS_ID_SLOTS identities, counts per signal
 * state over all, no identity label with per_identity = false, hostile
 * ids from the store left out).
 */
#include "config.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"

/* The rendered text (freed by the caller). */
static char *
render(void)
{
	size_t len = 0;
	char *t = metrics_render(&len);
	assert_non_null(t);
	assert_int_equal(strlen(t), len);
	return t;
}

/* One decision per (identity, outcome, check) row of a table. */
static void
test_labels(void **state)
{
	(void)state;
	static const struct {
		int outcome;
		enum bw_check check;
		const char *id, *stage, *line;
	} rows[] = {
	    {0, BW_CHK__COUNT, "news", "eom",
	     "bulkwarden_decisions_total{identity=\"news\",outcome=\"accept\",check=\"none\"} 1\n"},
	    {3, BW_CHK_UNREGISTERED, NULL, "mail",
	     "bulkwarden_decisions_total{identity=\"_unattributed\",outcome=\"reject\","
	     "check=\"unregistered\"} 1\n"},
	    {2, BW_CHK_RATE_LIMIT, "alerts", "mail",
	     "bulkwarden_decisions_total{identity=\"alerts\",outcome=\"tempfail\","
	     "check=\"rate-limit\"} 1\n"},
	    {4, BW_CHK__COUNT, "news", "abort",
	     "bulkwarden_decisions_total{identity=\"news\",outcome=\"abort\",check=\"none\"} 1\n"},
	};
	metrics_reset();
	metrics_registry("0123456789abcdef0123", 1700000000, true);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		metrics_decision(rows[i].outcome, rows[i].check, rows[i].id, rows[i].stage, 1500);
	char *t = render();
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		if (strstr(t, rows[i].line) == NULL)
			fail_msg("missing %s in\n%s", rows[i].line, t);
	assert_non_null(strstr(t, "bulkwarden_registry_info{revision=\"0123456789abcdef\"} 1\n"));
	/* 1.5 ms: not in the 1 ms bucket, in the 5 ms one; +Inf = count */
	assert_non_null(strstr(t, "latency_seconds_bucket{stage=\"mail\",le=\"0.001\"} 0\n"));
	assert_non_null(strstr(t, "latency_seconds_bucket{stage=\"mail\",le=\"0.005\"} 2\n"));
	assert_non_null(strstr(t, "latency_seconds_bucket{stage=\"mail\",le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(t, "latency_seconds_count{stage=\"mail\"} 2\n"));
	free(t);
}

/* More identities than slots: the rest count under _other, nothing lost. */
static void
test_bounded(void **state)
{
	(void)state;
	char id[32];
	metrics_reset();
	for (int i = 0; i < METRICS_ID_SLOTS + 50; i++) {
		snprintf(id, sizeof(id), "id%d", i);
		metrics_decision(0, BW_CHK__COUNT, id, "eom", 10);
	}
	metrics_decision(0, BW_CHK__COUNT, "id0", "eom", 10); /* still its own slot */
	char *t = render();
	assert_non_null(strstr(t, "{identity=\"_other\",outcome=\"accept\",check=\"none\"} 50\n"));
	assert_non_null(strstr(t, "{identity=\"id0\",outcome=\"accept\",check=\"none\"} 2\n"));
	size_t series = 0;
	for (const char *p = t; (p = strstr(p, "\nbulkwarden_decisions_total{")) != NULL; p++)
		series++;
	assert_int_equal(series, METRICS_ID_SLOTS + 1);
	free(t);
}

/* per_identity = false: one series per (outcome, check), no identity label. */
static void
test_no_identity(void **state)
{
	(void)state;
	metrics_reset();
	metrics_registry("ab", 1, false);
	metrics_decision(0, BW_CHK__COUNT, "a", "eom", 10);
	metrics_decision(0, BW_CHK__COUNT, "b", "eom", 10);
	char *t = render();
	assert_non_null(strstr(t, "bulkwarden_decisions_total{outcome=\"accept\",check=\"none\"} 2\n"));
	assert_null(strstr(t, "identity="));
	free(t);
	metrics_registry("ab", 1, true);
}

#define THREADS 4
#define PER_THREAD 20000

/* Count PER_THREAD decisions over 8 identities. */
static void *
hammer(void *arg)
{
	(void)arg;
	static const char *const ids[] = {"a", "b", "c", "d", "e", "f", "g", "h"};
	for (int i = 0; i < PER_THREAD; i++)
		metrics_decision(i % 2, BW_CHK__COUNT, ids[i % 8], "eom", i);
	return NULL;
}

/* Threads at once: every decision counted. */
static void
test_threads(void **state)
{
	(void)state;
	pthread_t t[THREADS];
	metrics_reset();
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, hammer, NULL), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	char *txt = render();
	char want[128];
	snprintf(want, sizeof(want), "latency_seconds_count{stage=\"eom\"} %d\n",
		 THREADS * PER_THREAD);
	assert_non_null(strstr(txt, want));
	snprintf(want, sizeof(want), "{identity=\"a\",outcome=\"accept\",check=\"none\"} %d\n",
		 THREADS * PER_THREAD / 8);
	assert_non_null(strstr(txt, want));
	free(txt);
}

/* Signals of n identities "idN": complaint_rate warn for id0, the rest ok. */
static struct metrics_signal *
signals_of(size_t n)
{
	struct metrics_signal *v = calloc(n * 3, sizeof(*v));
	assert_non_null(v);
	for (size_t i = 0; i < n * 3; i++) {
		snprintf(v[i].identity, sizeof(v[i].identity), "id%zu", i / 3);
		v[i].signal = (int)(i % 3);
		v[i].state = i == 0 ? 1 : 0;
		v[i].value = i == 0 ? 0.002 : 0.0;
		v[i].warn = 0.001;
		v[i].suspend = 0.003;
	}
	return v;
}

static void
test_signals(void **state)
{
	(void)state;
	metrics_reset();
	metrics_registry("0123456789abcdef0123", 1700000000, true);
	struct metrics_signal *v = signals_of(METRICS_ID_SLOTS + 10);
	assert_int_equal(metrics_signals(v, (METRICS_ID_SLOTS + 10) * 3, 1700000100), 0);
	const char *susp[] = {"id1", "bad\"id", "gone"};
	assert_int_equal(metrics_suspended_ids(susp, 3), 0);
	char *t = render();
	assert_non_null(strstr(t, "bulkwarden_signal_value{identity=\"id0\",signal=\"complaint_rate\"} "
				  "0.002\n"));
	assert_non_null(strstr(t, "bulkwarden_signal_threshold{identity=\"id0\",signal=\"complaint_"
				  "rate\",level=\"suspend\"} 0.003\n"));
	assert_non_null(strstr(t, "bulkwarden_identity_suspended{identity=\"id1\"} 1\n"));
	assert_non_null(strstr(t, "bulkwarden_identity_suspended{identity=\"gone\"} 1\n"));
	assert_non_null(strstr(t, "bulkwarden_identity_suspended{identity=\"id0\"} 0\n"));
	assert_null(strstr(t, "bad\"id"));
	assert_null(strstr(t, "bulkwarden_identity_suspended{identity=\"id1\"} 0\n"));
	assert_non_null(strstr(t, "bulkwarden_suspended_identities 3\n"));
	/* per-identity series stop at METRICS_ID_SLOTS identities; counts cover all */
	char last[96];
	snprintf(last, sizeof(last), "{identity=\"id%d\",signal=\"complaint_rate\"}",
		 METRICS_ID_SLOTS - 1);
	assert_non_null(strstr(t, last));
	snprintf(last, sizeof(last), "{identity=\"id%d\",signal=\"complaint_rate\"}",
		 METRICS_ID_SLOTS);
	assert_null(strstr(t, last));
	size_t n = 0;
	for (const char *p = t; (p = strstr(p, "bulkwarden_identity_suspended{")) != NULL; p++)
		n++;
	assert_int_equal(n, METRICS_ID_SLOTS);
	char want[128];
	snprintf(want, sizeof(want),
		 "bulkwarden_signal_identities{signal=\"complaint_rate\",state=\"ok\"} %d\n",
		 METRICS_ID_SLOTS + 9);
	assert_non_null(strstr(t, want));
	assert_non_null(strstr(
	    t, "bulkwarden_signal_identities{signal=\"complaint_rate\",state=\"warn\"} 1\n"));
	assert_non_null(strstr(t, "bulkwarden_signals_timestamp_seconds 1700000100\n"));
	free(t);
	/* per_identity = false: counts only */
	metrics_registry("0123456789abcdef0123", 1700000000, false);
	t = render();
	assert_null(strstr(t, "identity=\""));
	assert_non_null(strstr(
	    t, "bulkwarden_signal_identities{signal=\"complaint_rate\",state=\"warn\"} 1\n"));
	free(t);
	free(v);
	metrics_reset();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_labels),
	    cmocka_unit_test(test_bounded),
	    cmocka_unit_test(test_no_identity),
	    cmocka_unit_test(test_threads),
	    cmocka_unit_test(test_signals),
	};
	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
