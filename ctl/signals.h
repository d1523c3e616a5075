/*
 * signals.h - the feedback signals of an identity (SPEC §9), computed
 * from the state store, and what bulkwardenctl does when one crosses its
 * thresholds (ctl/signals.c): `bulkwardenctl signals` shows them, and
 * `bulkwardenctl ingest` evaluates the identities a report counted for.
 */
#ifndef BW_CTL_SIGNALS_H
#define BW_CTL_SIGNALS_H

#include <stdbool.h>
#include <stdint.h>

#include "ctl/verbs.h"
#include "registry/registry.h"
#include "state/state.h"

enum signal_state { SIGNAL_OK, SIGNAL_WARN, SIGNAL_SUSPEND, SIGNAL_INSUFFICIENT };

/* One signal of one identity over its window [from, to). */
struct signal_value {
	enum bw_signal sig;
	struct bw_threshold thr; /* the identity's effective thresholds */
	long long from, to;	 /* whole hours: to is the end of the current hour */
	uint64_t num, den;	 /* value = num / den */
	double value;		 /* 0 when den is 0 */
	enum signal_state state;
	bool waived; /* a waiver covers it (it is still evaluated and shown) */
	long long waiver_id, waiver_until; /* the covering waiver, when waived */
	char waiver_ticket[STATE_NAME_MAX];
};

/* The signals of id at now:
 * complaint_rate   = complaints / accepted messages of the identity,
 * hard_bounce_rate = hard bounces / accepted messages,
 * dmarc_fail_rate  = DMARC aggregate failures / aggregate messages,
 * each over its window_hours; insufficient-data while the denominator is
 * below min_messages. 0, or -1 (state_error(st) says why). */
int signals_compute(struct state *st, const struct bw_identity *id, long long now,
		    struct signal_value out[BW_SIG__COUNT]);

const char *signal_state_name(enum signal_state s); /* ok warn suspend insufficient-data */

/* After a report counted for id: a signal at suspend suspends it
 * (state_auto_suspend: never shortens one in force), one at warn writes a
 * threshold-warning record once per identity, signal and window. Each
 * audit record written is passed to emit (may be NULL). 0, or -1 with why
 * (the store failed: the caller answers EX_TEMPFAIL). */
int signals_enforce(struct state *st, const struct bw_identity *id, long long now,
		    void (*emit)(const struct state_audit *rec, void *arg), void *arg, char *why,
		    size_t whylen);

/* `bulkwardenctl signals [ID] [--json]` */
int ctl_signals(struct ctl *c, int argc, char **argv);

#endif
