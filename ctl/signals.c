/*
 * signals.c - the `signals` verb, automatic suspension and threshold
 * warnings after an ingested report (signals.h, SPEC §9). The figures
 * come from signals_compute() (state/signals.c), shared with the milter's
 * /metrics.
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
