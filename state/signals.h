/*
 * signals.h - the feedback signals of an identity (SPEC §9), computed from
 * the feedback counts and the volume counters of the state store, so every
 * relay of a fleet and bulkwardenctl see the same figures. Shared by
 * bulkwardenctl (ctl/signals.c: the `signals` verb, auto-suspension) and
 * the milter's state thread (milter/statesync.c: the signal gauges of
 * /metrics). Pure arithmetic over store reads: no events, no writes.
 */
#ifndef BW_STATE_SIGNALS_H
#define BW_STATE_SIGNALS_H

#include <stdbool.h>
#include <stdint.h>

#include "registry/registry.h"
#include "state/state.h"

enum signal_state { SIGNAL_OK, SIGNAL_WARN, SIGNAL_SUSPEND, SIGNAL_INSUFFICIENT };
#define SIGNAL__STATES 4

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
 * dmarc_fail_rate  = (DMARC aggregate failures + messages whose spf, dkim
 *                    or dmarc check failed at submission) / (aggregate
 *                    messages + messages of the identity),
 * each over its window_hours; insufficient-data while the denominator is
 * below min_messages. About eight store reads. 0, or -1 (state_error(st)
 * says why). */
int signals_compute(struct state *st, const struct bw_identity *id, long long now,
		    struct signal_value out[BW_SIG__COUNT]);

const char *signal_state_name(enum signal_state s); /* ok warn suspend insufficient-data */

#endif
