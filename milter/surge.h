/*
 * surge.h - volume surges at the relay (SPEC §9, issue 15): an identity's
 * messages in the current UTC hour against its own baseline, with
 * policy.governance.volume_surge = { factor; min_messages; baseline_days;
 * action; }.
 *
 * Baseline: the mean of the identity's messages in the same hour of the
 * week over the whole weeks of baseline_days (14 days: two samples), read
 * from the store's hourly counters. Why not an EWMA of hourly counts:
 * bulk senders run weekly schedules (the Tuesday 09:00 newsletter), and an
 * EWMA over all hours smears a weekly campaign hour into the quiet ones,
 * so every regular campaign would look like a surge; the same hour of the
 * week expects it. An identity whose history does not reach back to the
 * start of the window (no message in its oldest week) has no baseline
 * yet: no surge verdict, and the event says so.
 *
 * Cost: the baseline is computed at most once per identity and hour (a
 * few counter sums in the store, on the first message of the hour); every
 * other message is a hash probe and an addition under a mutex. The hour's
 * count is the store's fleet-wide count when the baseline was taken plus
 * what this milter saw since (other relays' later messages count from the
 * next hour's read).
 */
#ifndef BW_SURGE_H
#define BW_SURGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/policy.h"
#include "registry/registry.h"
#include "state/state.h"

#define SURGE_DETAIL_MAX 160

struct surge;

enum surge_verdict {
	SURGE_NO_BASELINE, /* history too short: no verdict */
	SURGE_BELOW,	   /* within factor x baseline, or under min_messages */
	SURGE_OVER,	   /* a surge */
	SURGE_ERROR,	   /* the baseline could not be read (said in detail) */
};

struct surge_result {
	enum surge_verdict verdict;
	uint64_t count;	  /* messages of the hour, this one included */
	double baseline;  /* mean messages in the same hour of the week */
	double threshold; /* factor x baseline */
	double factor;	  /* the factor and min_messages judged with */
	unsigned min_messages;
	bool first;	  /* the first surge verdict of this identity-hour */
	long long hour;	  /* the UTC hour */
	char detail[SURGE_DETAIL_MAX];
};

/* Surges against the store named by r's settings (one handle, opened on
 * first use); r is retained until surge_free. */
struct surge *surge_new(struct registry *r, char *err, size_t errlen);
void surge_free(struct surge *s);

/* Count one message of identity id at now and judge its hour with the
 * settings of set (the message's snapshot). 0, or -1 out of memory. */
int surge_count(struct surge *s, const struct bw_settings *set, const char *id, long long now,
		struct surge_result *out);
/* The same with the identity's own factor and min_messages (its
 * identity.governance.volume_surge, at most the baseline's; 0: set's). */
int surge_count_with(struct surge *s, const struct bw_settings *set, double factor,
		     unsigned min_messages, const char *id, long long now,
		     struct surge_result *out);

/* The baseline of id for the hour starting at hour (pure store reads):
 * *have false when the history does not cover the window. 0 or -1 (the
 * store's error). */
int surge_baseline(struct state *st, const char *id, long long hour, unsigned baseline_days,
		   bool *have, double *baseline);

/* MAIL FROM for the attributed identity: count, judge, record the
 * volume-surge check in v, and act once per identity-hour (the
 * volume-surge audit record; suspend: the suspension, actor bulkwarden,
 * figures in the reason). The caller applies policy_effective(). */
void surge_mail(struct surge *s, const struct registry *r, struct verdict *v, const char *queue_id,
		long long now);

#endif
