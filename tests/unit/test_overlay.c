/*
 * test_overlay.c - the milter's in-memory runtime view: suspension set and
 * staleness, volume reservations against hourly/daily limits with window
 * rollover, outcome counting, and store deltas (spill across hours, give
 * back after a failed flush).
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

#include "state/overlay.h"

#define T0 1780000000LL /* a fixed instant, 1600 s into its hour */
#define HOUR0 (T0 - T0 % 3600)

static void
test_suspensions(void **unused)
{
	struct overlay *o = overlay_new();
	char why[64];
	assert_int_equal(overlay_suspended(o, "news", why, sizeof(why)), -1); /* never read */
	struct state_suspension s[2] = {{.id = "news", .reason = "phish", .by = "soc"},
					{.id = "promo", .reason = "x", .by = "y"}};
	assert_int_equal(overlay_set_suspensions(o, s, 2), 0);
	assert_int_equal(overlay_suspended(o, "news", why, sizeof(why)), 1);
	assert_string_equal(why, "phish (by soc)");
	assert_int_equal(overlay_suspended(o, "receipts", why, sizeof(why)), 0);
	/* a new set replaces the old one: news reinstated */
	assert_int_equal(overlay_set_suspensions(o, s + 1, 1), 0);
	assert_int_equal(overlay_suspended(o, "news", why, sizeof(why)), 0);
	assert_int_equal(overlay_suspended(o, "promo", why, sizeof(why)), 1);
	overlay_set_stale(o);
	assert_int_equal(overlay_suspended(o, "promo", why, sizeof(why)), -1);
	assert_int_equal(overlay_suspended(o, "news", why, sizeof(why)), -1);
	overlay_free(o);
}

struct limit_row {
	const char *name;
	uint64_t per_hour, per_day;
	uint64_t seed_hour, seed_day;
	int sends;            /* reservations that must succeed */
	long long retry_after; /* seconds later, one more must succeed (0: none) */
};

static const struct limit_row limit_rows[] = {
	{"hourly limit", 3, 0, 0, 0, 3, 3600},
	{"daily limit survives the hour", 0, 2, 0, 0, 2, 0},
	{"seeded from the store", 5, 0, 4, 4, 1, 3600},
	{"no limits", 0, 0, 0, 0, 50, 0},
	{"day seed counts toward the day only", 10, 3, 0, 2, 1, 86400},
};

static void
test_limits(void **unused)
{
	for (size_t i = 0; i < sizeof(limit_rows) / sizeof(limit_rows[0]); i++) {
		const struct limit_row *t = &limit_rows[i];
		struct overlay *o = overlay_new();
		char why[128];
		print_message("row: %s\n", t->name);
		if (t->seed_hour || t->seed_day)
			overlay_seed(o, "news", T0, t->seed_hour, t->seed_day);
		for (int k = 0; k < t->sends; k++)
			assert_int_equal(overlay_reserve(o, "news", t->per_hour, t->per_day, T0, why,
							 sizeof(why)), 0);
		if (t->per_hour || t->per_day) {
			assert_int_equal(overlay_reserve(o, "news", t->per_hour, t->per_day, T0 + 1,
							 why, sizeof(why)), 1);
			assert_non_null(strstr(why, "limit"));
		}
		if (t->per_day && !t->per_hour) /* the next hour does not reset a day */
			assert_int_equal(overlay_reserve(o, "news", t->per_hour, t->per_day,
							 T0 + 3600, why, sizeof(why)), 1);
		if (t->retry_after)
			assert_int_equal(overlay_reserve(o, "news", t->per_hour, t->per_day,
							 T0 + t->retry_after, why, sizeof(why)), 0);
		overlay_free(o);
	}
}

static void
test_release(void **unused)
{
	struct overlay *o = overlay_new();
	char why[128];
	assert_int_equal(overlay_reserve(o, "news", 1, 0, T0, why, sizeof(why)), 0);
	/* refused later (end of headers): the slot comes back */
	overlay_finish(o, "news", true, T0, BW_ACT_REJECT, 1, 100, T0);
	assert_int_equal(overlay_reserve(o, "news", 1, 0, T0, why, sizeof(why)), 0);
	/* abandoned transaction: slot comes back, nothing counted */
	overlay_release(o, "news", T0, T0);
	assert_int_equal(overlay_reserve(o, "news", 1, 0, T0, why, sizeof(why)), 0);
	/* quarantined counts as sent */
	overlay_finish(o, "news", true, T0, BW_ACT_QUARANTINE, 2, 100, T0);
	assert_int_equal(overlay_reserve(o, "news", 1, 0, T0, why, sizeof(why)), 1);
	overlay_free(o);
}

/*
 * The hour boundary: reservations taken in hour H and given back in H+1
 * must not come off H+1's count. per_hour = 2: two in flight at the end of
 * H, two taken in H+1, then the two of H refused or abandoned: H+1 is
 * full, not open for two more (4 accepted in one hour before the fix).
 * The same for the day.
 */
static void
test_release_across_windows(void **unused)
{
	const long long end_h = HOUR0 + 3599, h1 = HOUR0 + 3600;
	const long long end_d = T0 - T0 % 86400 + 86399, d1 = end_d + 1;
	char why[128];
	for (int abandon = 0; abandon < 2; abandon++) {
		struct overlay *o = overlay_new();
		print_message("%s\n", abandon ? "abandoned" : "refused");
		for (int k = 0; k < 2; k++)
			assert_int_equal(overlay_reserve(o, "news", 2, 0, end_h, why, sizeof(why)),
					 0);
		for (int k = 0; k < 2; k++)
			assert_int_equal(overlay_reserve(o, "news", 2, 0, h1 + 1, why, sizeof(why)),
					 0);
		for (int k = 0; k < 2; k++) {
			if (abandon)
				overlay_release(o, "news", end_h, h1 + 2);
			else
				overlay_finish(o, "news", true, end_h, BW_ACT_REJECT, 1, 10,
					       h1 + 2);
		}
		assert_int_equal(overlay_reserve(o, "news", 2, 0, h1 + 3, why, sizeof(why)), 1);
		assert_non_null(strstr(why, "2 messages this hour, limit 2"));
		/* one of H+1 given back: room for exactly one */
		overlay_finish(o, "news", true, h1 + 1, BW_ACT_TEMPFAIL, 1, 10, h1 + 4);
		assert_int_equal(overlay_reserve(o, "news", 2, 0, h1 + 5, why, sizeof(why)), 0);
		assert_int_equal(overlay_reserve(o, "news", 2, 0, h1 + 6, why, sizeof(why)), 1);
		overlay_free(o);
	}
	/* per_day = 2 across midnight */
	struct overlay *o = overlay_new();
	for (int k = 0; k < 2; k++)
		assert_int_equal(overlay_reserve(o, "news", 0, 2, end_d, why, sizeof(why)), 0);
	for (int k = 0; k < 2; k++)
		assert_int_equal(overlay_reserve(o, "news", 0, 2, d1, why, sizeof(why)), 0);
	for (int k = 0; k < 2; k++)
		overlay_release(o, "news", end_d, d1 + 1);
	assert_int_equal(overlay_reserve(o, "news", 0, 2, d1 + 2, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "2 messages today, limit 2"));
	overlay_free(o);
}

static void
test_deltas(void **unused)
{
	struct overlay *o = overlay_new();
	struct overlay_delta *d;
	size_t n;
	overlay_finish(o, "news", false, 0, BW_ACT_ACCEPT, 3, 1000, T0);
	overlay_finish(o, "news", false, 0, BW_ACT_REJECT, 1, 10, T0);
	overlay_finish(o, "promo", false, 0, BW_ACT_TEMPFAIL, 1, 5, T0);
	/* next hour for news: its pending counts spill under the old hour */
	overlay_finish(o, "news", false, 0, BW_ACT_QUARANTINE, 2, 50, T0 + 3600);
	assert_int_equal(overlay_take_deltas(o, &d, &n), 0);
	assert_int_equal(n, 3);
	struct state_counts news0 = {0}, news1 = {0}, promo = {0};
	for (size_t i = 0; i < n; i++) {
		if (strcmp(d[i].id, "promo") == 0) {
			assert_int_equal(d[i].hour, HOUR0);
			promo = d[i].counts;
		} else if (d[i].hour == HOUR0) {
			news0 = d[i].counts;
		} else {
			assert_int_equal(d[i].hour, HOUR0 + 3600);
			news1 = d[i].counts;
		}
	}
	assert_int_equal(news0.messages, 2);
	assert_int_equal(news0.recipients, 4);
	assert_int_equal(news0.bytes, 1010);
	assert_int_equal(news0.accepted, 1);
	assert_int_equal(news0.rejected, 1);
	assert_int_equal(news1.quarantined, 1);
	assert_int_equal(promo.tempfailed, 1);
	/* a failed flush gives them back: nothing is lost */
	overlay_return_deltas(o, d, n);
	free(d);
	assert_int_equal(overlay_take_deltas(o, &d, &n), 0);
	uint64_t msgs = 0;
	for (size_t i = 0; i < n; i++)
		msgs += d[i].counts.messages;
	assert_int_equal(msgs, 4);
	free(d);
	assert_int_equal(overlay_take_deltas(o, &d, &n), 0);
	assert_int_equal(n, 0);
	/* interval counts are separate from store deltas */
	assert_int_equal(overlay_take_interval(o, &d, &n), 0);
	msgs = 0;
	for (size_t i = 0; i < n; i++)
		msgs += d[i].counts.messages;
	assert_int_equal(msgs, 4);
	free(d);
	overlay_free(o);
}

static void
test_many(void **unused)
{
	struct overlay *o = overlay_new();
	char id[32], why[64];
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "id%d", i);
		assert_int_equal(overlay_reserve(o, id, 1, 0, T0, why, sizeof(why)), 0);
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(id, sizeof(id), "id%d", i);
		assert_int_equal(overlay_reserve(o, id, 1, 0, T0, why, sizeof(why)), 1);
	}
	overlay_free(o);
}

/* The waiver set: replaced whole, read per identity and kind, a waiver no
 * longer applying at its until (before the store records the expiry). */
static void
test_waivers(void **unused)
{
	struct overlay *o = overlay_new();
	struct state_waiver w[3], got[4];
	memset(w, 0, sizeof(w));
	const char *ids[] = {"news", "news", "shop"}, *kinds[] = {"check", "signal", "check"};
	for (int i = 0; i < 3; i++) {
		w[i].wid = i + 1;
		strcpy(w[i].id, ids[i]);
		strcpy(w[i].kind, kinds[i]);
		strcpy(w[i].name, i == 1 ? "complaint_rate" : "from-domain");
		w[i].until = 1000 + i;
	}
	assert_int_equal(overlay_set_waivers(o, w, 3), 0);
	assert_int_equal(overlay_waivers(o, "news", "check", 999, got, 4), 1);
	assert_int_equal(got[0].wid, 1);
	assert_int_equal(overlay_waivers(o, "news", "signal", 999, got, 4), 1);
	assert_string_equal(got[0].name, "complaint_rate");
	assert_int_equal(overlay_waivers(o, "other", "check", 999, got, 4), 0);
	assert_int_equal(overlay_waivers(o, "news", "check", 1000, got, 4), 0); /* at until */
	assert_int_equal(overlay_waivers(o, "shop", "check", 1001, got, 0), 0); /* max 0 */
	assert_int_equal(overlay_set_waivers(o, NULL, 0), 0);
	assert_int_equal(overlay_waivers(o, "shop", "check", 999, got, 4), 0);
	overlay_free(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_suspensions), cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_release),	cmocka_unit_test(test_release_across_windows),
	    cmocka_unit_test(test_deltas),	cmocka_unit_test(test_many),
	    cmocka_unit_test(test_waivers),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
