/*
 * signals.c - feedback signals (signals.h, SPEC §9): computed from the
 * feedback counts and the volume counters of the state store, so every
 * relay of a fleet sees the same; the `signals` verb; automatic suspension
 * and threshold warnings after an ingested report.
 *
 * Denominators: complaint_rate and hard_bounce_rate divide by the
 * identity's "accepted" counter (messages it sent that the relay let
 * through: only those can be complained about or bounce); dmarc_fail_rate
 * divides the failures of DMARC aggregate reports by the messages those
 * reports counted for the identity. The submission-time spf/dkim/dmarc
 * checks are not counted per check by the store yet, so they are not in
 * dmarc_fail_rate.
 *
 * Untrusted input: none beyond stored counts (numbers) and identity ids
 * (the registry's).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "ctl/signals.h"
#include "log/eventlog.h"

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
	long long to = out_hour(now) + 3600;
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
		if (i != BW_SIG_DMARC_FAIL_RATE &&
		    state_counters_sum(st, id->id, v->from, v->to, &cnt) != 0)
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
			v->num = fb.dmarc_failures;
			v->den = fb.dmarc_messages;
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

/* "complaint_rate 0.0040 >= 0.003 over 24h (8/2000)" */
static void
figures(char *buf, size_t len, const struct signal_value *v, double thr)
{
	snprintf(buf, len, "%s %.4f >= %g over %uh (%llu/%llu)", registry_signal_name(v->sig),
		 v->value, thr, v->thr.window_hours, (unsigned long long)v->num,
		 (unsigned long long)v->den);
}

int
signals_enforce(struct state *st, const struct bw_identity *id, long long now,
		void (*emit)(const struct state_audit *rec, void *arg), void *arg, char *why,
		size_t whylen)
{
	struct signal_value v[BW_SIG__COUNT];
	struct state_audit rec;
	char reason[STATE_TEXT_MAX], key[STATE_FEEDBACK_KEY_MAX + 1];
	/* the expiry pass every change runs first (as bulkwardenctl's verbs
	 * do): a lapsed waiver is ended with its waiver-expired record before
	 * it could be taken to cover a signal, a lapsed suspension with its
	 * expire record */
	if (state_expire(st, now, emit, arg) < 0 || state_waiver_expire(st, now, emit, arg) < 0) {
		snprintf(why, whylen, "state store: %s", state_error(st));
		return -1;
	}
	if (signals_compute(st, id, now, v) != 0) {
		snprintf(why, whylen, "state store: %s", state_error(st));
		return -1;
	}
	for (int i = 0; i < BW_SIG__COUNT; i++) {
		if (v[i].waived || (v[i].state != SIGNAL_SUSPEND && v[i].state != SIGNAL_WARN))
			continue;
		if (v[i].state == SIGNAL_SUSPEND) {
			figures(reason, sizeof(reason), &v[i], v[i].thr.suspend);
			int rc = state_auto_suspend(st, id->id, reason, now, &rec);
			if (rc < 0) {
				snprintf(why, whylen, "state store: %s", state_error(st));
				return -1;
			}
			if (rc == 0 && emit != NULL)
				emit(&rec, arg);
			/* rc 1: already suspended, never shortened: nothing written */
			continue;
		}
		/* warn: once per identity, signal and window (a marker in the
		 * feedback keys, numbered by the window the warning falls in) */
		long long span = (long long)v[i].thr.window_hours * 3600;
		snprintf(key, sizeof(key), "warn:%s:%s:%lld", id->id,
			 registry_signal_name(v[i].sig), now / span);
		int seen = state_feedback_seen(st, key);
		if (seen < 0) {
			snprintf(why, whylen, "state store: %s", state_error(st));
			return -1;
		}
		if (seen)
			continue;
		memset(&rec, 0, sizeof(rec));
		rec.ts = now;
		bw_strlcpy(rec.action, "threshold-warning", sizeof(rec.action));
		bw_strlcpy(rec.actor, "bulkwarden", sizeof(rec.actor));
		bw_strlcpy(rec.identity, id->id, sizeof(rec.identity));
		figures(reason, sizeof(reason), &v[i], v[i].thr.warn);
		bw_strlcpy(rec.reason, reason, sizeof(rec.reason));
		snprintf(rec.detail, sizeof(rec.detail), "signal=%s warn=%g suspend=%g",
			 registry_signal_name(v[i].sig), v[i].thr.warn, v[i].thr.suspend);
		/* the record first: a lost marker warns twice, never zero times */
		if (state_audit_append(st, &rec) != 0 ||
		    state_feedback_record(st, key, now, NULL, 0) < 0) {
			snprintf(why, whylen, "state store: %s", state_error(st));
			return -1;
		}
		if (emit != NULL)
			emit(&rec, arg);
	}
	return 0;
}

/* One identity's signals: table lines, or an object of arr. */
static int
show_one(struct ctl *c, struct state *st, const struct bw_identity *id, long long now, int w,
	 struct out_array *arr, struct jbuf *j)
{
	struct signal_value v[BW_SIG__COUNT];
	char t1[CTL_TIME_MAX], t2[CTL_TIME_MAX], frac[48], val[24], wh[16];
	if (signals_compute(st, id, now, v) != 0) {
		ctl_err("state store: %s", state_error(st));
		return -1;
	}
	if (c->json) {
		jbuf_begin(j);
		jbuf_str(j, "id", id->id);
		jbuf_array_begin(j, "signals");
	}
	for (int i = 0; i < BW_SIG__COUNT; i++) {
		const struct signal_value *s = &v[i];
		if (c->json) {
			jbuf_object_begin(j, NULL);
			jbuf_str(j, "signal", registry_signal_name(s->sig));
			jbuf_num(j, "window_hours", s->thr.window_hours);
			jbuf_str(j, "from", out_time(s->from, t1));
			jbuf_str(j, "to", out_time(s->to, t2));
			jbuf_num(j, "numerator", (long long)s->num);
			jbuf_num(j, "denominator", (long long)s->den);
			jbuf_double(j, "value", s->value);
			jbuf_double(j, "warn", s->thr.warn);
			jbuf_double(j, "suspend", s->thr.suspend);
			jbuf_num(j, "min_messages", s->thr.min_messages);
			jbuf_str(j, "state", signal_state_name(s->state));
			jbuf_bool(j, "waived", s->waived);
			if (s->waived) {
				jbuf_object_begin(j, "waiver");
				jbuf_num(j, "id", s->waiver_id);
				jbuf_str(j, "ticket", s->waiver_ticket);
				jbuf_str(j, "until", out_time(s->waiver_until, t1));
				jbuf_object_end(j);
			}
			jbuf_object_end(j);
			continue;
		}
		snprintf(frac, sizeof(frac), "%llu/%llu", (unsigned long long)s->num,
			 (unsigned long long)s->den);
		snprintf(val, sizeof(val), "%.4f", s->value);
		snprintf(wh, sizeof(wh), "%uh", s->thr.window_hours);
		char wv[CTL_ESC_MAX + 64], esc[CTL_ESC_MAX];
		if (s->waived)
			snprintf(wv, sizeof(wv), "waived #%lld %s until %s", s->waiver_id,
				 out_esc(s->waiver_ticket, esc, sizeof(esc)),
				 out_time(s->waiver_until, t1));
		else
			bw_strlcpy(wv, "-", sizeof(wv));
		printf("%-*s  %-16s %6s %15s %8s %8g %8g %8u  %-17s %s\n", w, id->id,
		       registry_signal_name(s->sig), wh, frac, val, s->thr.warn, s->thr.suspend,
		       s->thr.min_messages, signal_state_name(s->state), wv);
	}
	if (c->json) {
		jbuf_array_end(j);
		jbuf_end(j);
		out_array_add(arr, j);
	}
	return 0;
}

int
ctl_signals(struct ctl *c, int argc, char **argv)
{
	struct ctl_args a;
	static struct jbuf j;
	char esc[128], t[CTL_TIME_MAX];
	int rc = ctl_args_parse(c, argc, argv, "j", 1, &a);
	long long now = ctl_now();
	if (rc != CTL_OK)
		return rc < 0 ? CTL_OK : rc;
	const struct registry *r = ctl_registry(c);
	const struct bw_identity *only = NULL;
	if (a.npos == 1 && (only = registry_by_id(r, a.pos[0])) == NULL) {
		ctl_err("no identity \"%s\" in %s", out_esc(a.pos[0], esc, sizeof(esc)),
			c->conf_path);
		return CTL_FAIL;
	}
	struct state *st = ctl_state(c);
	int w = 2;
	for (size_t i = 0; i < r->n_ids; i++)
		if ((only == NULL || &r->ids[i] == only) && (int)strlen(r->ids[i].id) > w)
			w = (int)strlen(r->ids[i].id);
	struct out_array arr;
	if (c->json) {
		printf("{\"now\":\"%s\",\"identities\":", out_time(now, t));
		out_array_begin(&arr);
	} else {
		printf("%-*s  %-16s %6s %15s %8s %8s %8s %8s  %-17s %s\n", w, "ID", "SIGNAL",
		       "WINDOW", "NUM/DEN", "VALUE", "WARN", "SUSPEND", "MIN", "STATE", "WAIVER");
	}
	for (size_t i = 0; i < r->n_ids; i++) {
		if (only != NULL && &r->ids[i] != only)
			continue;
		if (show_one(c, st, &r->ids[i], now, w, &arr, &j) != 0)
			return CTL_FAIL;
	}
	if (c->json) {
		out_array_end(&arr);
		printf("}\n");
	}
	return CTL_OK;
}
