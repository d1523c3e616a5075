/*
 * signals.c - the feedback signals of an identity (signals.h, SPEC §9).
 *
 * Denominators: complaint_rate and hard_bounce_rate divide by the
 * identity's "accepted" counter (messages it sent that the relay let
 * through: only those can be complained about or bounce); dmarc_fail_rate
 * adds two sources: the failures of DMARC aggregate reports plus the
 * identity's messages whose spf, dkim or dmarc check failed at submission
 * (the auth_failed counter, waived failures included), over the messages
 * those reports counted plus every message of the identity the relay
 * judged (the messages counter).
 *
 * Untrusted input: none beyond stored counts (numbers) and identity ids
 * (the registry's).
 */
#include <string.h>

#include "base/util.h"
#include "state/signals.h"

const char *
signal_state_name(enum signal_state s)
{
	static const char *const n[] = {"ok", "warn", "suspend", "insufficient-data"};
	return n[s];
}

/* The waiver column: whether an active waiver of kind "signal" covers
 * v's signal of id at now (state_waiver_find). A waived signal is still
 * evaluated and shown, but suspends nobody and warns nobody. 0, or -1 on
 * a store error. */
static int
signal_waived(struct state *st, const struct bw_identity *id, struct signal_value *v, long long now)
{
	struct state_waiver w;
	int rc = state_waiver_find(st, id->id, "signal", registry_signal_name(v->sig), now, &w);
	if (rc < 0)
		return -1;
	v->waived = rc == 0;
	if (v->waived) {
		v->waiver_id = w.wid;
		v->waiver_until = w.until;
		bw_strlcpy(v->waiver_ticket, w.ticket, sizeof(v->waiver_ticket));
	}
	return 0;
}

int
signals_compute(struct state *st, const struct bw_identity *id, long long now,
		struct signal_value out[BW_SIG__COUNT])
{
	long long to = now - now % 3600 + 3600;
	for (int i = 0; i < BW_SIG__COUNT; i++) {
		struct signal_value *v = &out[i];
		struct state_counts cnt;
		struct state_feedback fb;
		memset(v, 0, sizeof(*v));
		v->sig = (enum bw_signal)i;
		v->thr = id->thresholds[i];
		v->to = to;
		v->from = to - (long long)v->thr.window_hours * 3600;
		if (state_feedback_sum(st, id->id, v->from, v->to, &fb) != 0)
			return -1;
		if (state_counters_sum(st, id->id, v->from, v->to, &cnt) != 0)
			return -1;
		switch (v->sig) {
		case BW_SIG_COMPLAINT_RATE:
			v->num = fb.complaints;
			v->den = cnt.accepted;
			break;
		case BW_SIG_HARD_BOUNCE_RATE:
			v->num = fb.hard_bounces;
			v->den = cnt.accepted;
			break;
		default:
			v->num = fb.dmarc_failures + cnt.auth_failed;
			v->den = fb.dmarc_messages + cnt.messages;
			break;
		}
		v->value = v->den ? (double)v->num / (double)v->den : 0.0;
		if (v->den < v->thr.min_messages)
			v->state = SIGNAL_INSUFFICIENT;
		else if (v->value >= v->thr.suspend)
			v->state = SIGNAL_SUSPEND;
		else if (v->value >= v->thr.warn)
			v->state = SIGNAL_WARN;
		else
			v->state = SIGNAL_OK;
		if (signal_waived(st, id, v, now) != 0)
			return -1;
	}
	return 0;
}
