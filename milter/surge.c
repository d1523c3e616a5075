/*
 * surge.c - volume surges at the relay (see surge.h for the baseline and
 * why).
 *
 * One entry per identity (a hash table keyed by id, bounded by the
 * registry's identities; an entry of an identity removed by a reload
 * stays until exit, a few hundred bytes). The entry holds its hour, the
 * baseline taken for it, the store's count at that time, what this milter
 * counted since and whether the hour has surged. Store calls (the
 * baseline, the audit record, a suspension) go through the module's one
 * handle under its own mutex, never under the table's.
 *
 * Untrusted input: none (ids come from the registry; counts from the
 * store are numbers).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "base/hash.h"
#include "base/json.h"
#include "base/util.h"
#include "log/eventlog.h"
#include "milter/surge.h"

#define OPEN_BACKOFF_MS 500
#define WEEK (7LL * 86400)

struct entry {
	char id[STATE_ID_MAX + 1];
	long long hour;	     /* the hour below is for; 0: none yet */
	bool have;	     /* a baseline exists */
	bool failed;	     /* the baseline could not be read (retried next message) */
	double baseline;     /* mean messages in this hour of the week */
	uint64_t base_count; /* the store's count of the hour when read */
	uint64_t local;	     /* messages counted here since */
	bool surged;	     /* the hour crossed: acted once */
};

struct surge {
	struct registry *reg;
	pthread_mutex_t lock; /* the table and entries */
	struct bw_hash table; /* id -> struct entry */
	pthread_mutex_t st_lock;
	struct state *st;
	long long next_open_ms;
};

struct surge *
surge_new(struct registry *r, char *err, size_t errlen)
{
	struct surge *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->reg = registry_retain(r);
	bw_hash_init(&s->table);
	pthread_mutex_init(&s->lock, NULL);
	pthread_mutex_init(&s->st_lock, NULL);
	return s;
}

void
surge_free(struct surge *s)
{
	size_t pos = 0;
	const char *k;
	void *v;
	if (s == NULL)
		return;
	while (bw_hash_next(&s->table, &pos, &k, &v))
		free(v);
	bw_hash_free(&s->table);
	state_close(s->st);
	pthread_mutex_destroy(&s->st_lock);
	pthread_mutex_destroy(&s->lock);
	registry_release(s->reg);
	free(s);
}

int
surge_baseline(struct state *st, const char *id, long long hour, unsigned baseline_days, bool *have,
	       double *baseline)
{
	struct state_counts c;
	long long weeks = baseline_days / 7 > 0 ? baseline_days / 7 : 1;
	uint64_t sum = 0;
	*have = false;
	*baseline = 0;
	/* the history must reach the oldest week of the window */
	if (state_counters_sum(st, id, hour - weeks * WEEK, hour - (weeks - 1) * WEEK, &c) != 0)
		return -1;
	if (c.messages == 0)
		return 0;
	for (long long w = 1; w <= weeks; w++) {
		if (state_counters_sum(st, id, hour - w * WEEK, hour - w * WEEK + 3600, &c) != 0)
			return -1;
		sum += c.messages;
	}
	*have = true;
	*baseline = (double)sum / (double)weeks;
	return 0;
}

/* The store handle, opened on first use (st_lock held); NULL with why. */
static struct state *
handle(struct surge *s, char *why, size_t len)
{
	char err[STATE_TEXT_MAX];
	if (s->st != NULL)
		return s->st;
	if (bw_mono_ms() < s->next_open_ms) {
		snprintf(why, len, "state store unreachable");
		return NULL;
	}
	if ((s->st = state_open(&s->reg->set, err, sizeof(err))) == NULL) {
		s->next_open_ms = bw_mono_ms() + OPEN_BACKOFF_MS;
		snprintf(why, len, "%s", err);
		return NULL;
	}
	state_set_origin(s->st, "bulkwarden");
	return s->st;
}

/* Read the baseline and the hour's count for e's new hour (no lock of the
 * table held). 0, or -1 with why. */
static int
take_baseline(struct surge *s, const char *id, long long hour, unsigned days, bool *have,
	      double *baseline, uint64_t *count, char *why, size_t len)
{
	struct state_counts c;
	int rc = -1;
	pthread_mutex_lock(&s->st_lock);
	struct state *st = handle(s, why, len);
	if (st != NULL && surge_baseline(st, id, hour, days, have, baseline) == 0 &&
	    state_counters_sum(st, id, hour, hour + 3600, &c) == 0) {
		*count = c.messages;
		rc = 0;
	} else if (st != NULL) {
		snprintf(why, len, "%s", state_error(st));
	}
	pthread_mutex_unlock(&s->st_lock);
	return rc;
}

/* The entry of id (created), table lock held; NULL out of memory. */
static struct entry *
entry_of(struct surge *s, const char *id)
{
	struct entry *e = bw_hash_get(&s->table, id);
	if (e != NULL)
		return e;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return NULL;
	bw_strlcpy(e->id, id, sizeof(e->id));
	if (bw_hash_put(&s->table, e->id, e, NULL) != 0) {
		free(e);
		return NULL;
	}
	return e;
}

int
surge_count(struct surge *s, const struct bw_settings *set, const char *id, long long now,
	    struct surge_result *out)
{
	return surge_count_with(s, set, set->surge_factor, set->surge_min_messages, id, now, out);
}

int
surge_count_with(struct surge *s, const struct bw_settings *set, double factor,
		 unsigned min_messages, const char *id, long long now, struct surge_result *out)
{
	if (factor <= 0)
		factor = set->surge_factor;
	if (min_messages == 0)
		min_messages = set->surge_min_messages;
	long long hour = now - now % 3600;
	char why[STATE_TEXT_MAX] = "";
	memset(out, 0, sizeof(*out));
	out->hour = hour;
	out->factor = factor;
	out->min_messages = min_messages;
	pthread_mutex_lock(&s->lock);
	struct entry *e = entry_of(s, id);
	if (e == NULL) {
		pthread_mutex_unlock(&s->lock);
		return -1;
	}
	if (e->hour != hour || e->failed) {
		/* a new hour: read the baseline outside the table's lock (messages of
		 * other identities go on); two threads may both read it, the second
		 * write wins and counts are kept */
		pthread_mutex_unlock(&s->lock);
		bool have = false;
		double base = 0;
		uint64_t count = 0;
		int rc = take_baseline(s, id, hour, set->surge_baseline_days, &have, &base, &count,
				       why, sizeof(why));
		pthread_mutex_lock(&s->lock);
		if (e->hour != hour) {
			e->hour = hour;
			e->local = 0;
			e->surged = false;
		}
		e->failed = rc != 0;
		e->have = have;
		e->baseline = base;
		e->base_count = count;
	}
	e->local++;
	out->count = e->base_count + e->local;
	out->baseline = e->baseline;
	out->threshold = e->baseline * factor;
	if (e->failed) {
		out->verdict = SURGE_ERROR;
		snprintf(out->detail, sizeof(out->detail), "baseline not read: %.120s", why);
	} else if (!e->have) {
		out->verdict = SURGE_NO_BASELINE;
		snprintf(out->detail, sizeof(out->detail),
			 "no baseline yet (history shorter than %u days): no surge verdict",
			 set->surge_baseline_days);
	} else if (out->count >= min_messages && (double)out->count > out->threshold) {
		out->verdict = SURGE_OVER;
		out->first = !e->surged;
		e->surged = true;
		snprintf(out->detail, sizeof(out->detail),
			 "%llu messages this hour, baseline %.1f (x%.1f = %.1f, min %u): surge",
			 (unsigned long long)out->count, out->baseline, factor,
			 out->threshold, min_messages);
	} else {
		out->verdict = SURGE_BELOW;
		snprintf(out->detail, sizeof(out->detail),
			 "%llu messages this hour, baseline %.1f (x%.1f = %.1f, min %u)",
			 (unsigned long long)out->count, out->baseline, factor,
			 out->threshold, min_messages);
	}
	pthread_mutex_unlock(&s->lock);
	return 0;
}

/* Write the audit event of a record the store appended. */
static void
log_audit(const struct state_audit *rec)
{
	struct jbuf *j = malloc(sizeof(*j));
	char evid[25];
	if (j == NULL) {
		diag(LOG_ERR, "out of memory: event of audit record %lld (%s) not written",
		     rec->seq, rec->action);
		return;
	}
	if (bw_random_hex(evid, 12) != 0)
		evid[0] = '\0';
	state_audit_event(j, rec, evid);
	if (eventlog_write(j->buf, j->len) != 0)
		diag(LOG_ERR, "cannot write the event of audit record %lld (%s)", rec->seq,
		     rec->action);
	free(j);
}

static const char *const action_words[] = {"alert", "tempfail", "suspend", "off"};

/* The first surge of an identity-hour: its audit record, and with
 * action suspend (not in monitor mode) the suspension. */
static void
act(struct surge *s, const struct registry *r, const struct verdict *v,
    const struct surge_result *res, const char *queue_id, long long now)
{
	const char *id = v->identity->id;
	enum bw_surge_action a = r->set.surge_action;
	char why[STATE_TEXT_MAX], t[32];
	time_t ht = (time_t)res->hour;
	struct tm tm;
	if (gmtime_r(&ht, &tm) == NULL || strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(t, sizeof(t), "%lld", res->hour);
	struct state_audit rec;
	memset(&rec, 0, sizeof(rec));
	rec.ts = now;
	bw_strlcpy(rec.action, "volume-surge", sizeof(rec.action));
	bw_strlcpy(rec.actor, "bulkwarden", sizeof(rec.actor));
	bw_strlcpy(rec.identity, id, sizeof(rec.identity));
	snprintf(rec.reason, sizeof(rec.reason),
		 "volume surge: %llu messages in the hour from %s, baseline %.1f per hour "
		 "(factor %.1f: %.1f, min_messages %u); action %s%s",
		 (unsigned long long)res->count, t, res->baseline, res->factor,
		 res->threshold, res->min_messages, action_words[a],
		 v->monitor && a == BW_SURGE_SUSPEND ? " (monitor mode: not suspended)" : "");
	snprintf(rec.detail, sizeof(rec.detail),
		 "count=%llu baseline=%.1f factor=%.1f min_messages=%u baseline_days=%u hour=%lld "
		 "queue=%.64s",
		 (unsigned long long)res->count, res->baseline, res->factor,
		 res->min_messages, r->set.surge_baseline_days, res->hour, queue_id);
	pthread_mutex_lock(&s->st_lock);
	struct state *st = handle(s, why, sizeof(why));
	if (st != NULL && state_audit_append(st, &rec) == 0)
		log_audit(&rec);
	else
		diag(LOG_ERR, "%s: volume-surge audit record of %s not written: %s", queue_id, id,
		     st ? state_error(st) : why);
	if (st != NULL && a == BW_SURGE_SUSPEND && !v->monitor) {
		struct state_audit srec;
		int rc = state_suspend(st, id, rec.reason, "bulkwarden", "", 0, now, &srec);
		if (rc == 0)
			log_audit(&srec);
		else if (rc < 0)
			diag(LOG_ERR, "%s: cannot suspend %s after its volume surge: %s", queue_id,
			     id, state_error(st));
	}
	pthread_mutex_unlock(&s->st_lock);
}

void
surge_mail(struct surge *s, const struct registry *r, struct verdict *v, const char *queue_id,
	   long long now)
{
	struct surge_result res;
	if (s == NULL || v->identity == NULL || r->set.surge_action == BW_SURGE_OFF)
		return;
	if (surge_count_with(s, &r->set, v->identity->surge_factor,
			     v->identity->surge_min_messages, v->identity->id, now, &res) != 0) {
		policy_pass(r, v, BW_CHK_VOLUME_SURGE, "not judged: out of memory");
		return;
	}
	if (res.verdict != SURGE_OVER) {
		policy_pass(r, v, BW_CHK_VOLUME_SURGE, res.detail);
		return;
	}
	if (res.first)
		act(s, r, v, &res, queue_id, now);
	/* alert: the mail goes on, named in its event; tempfail and suspend
	 * defer the rest of the hour (a suspension refuses from the next
	 * message the overlay sees) */
	enum bw_action a = r->set.surge_action == BW_SURGE_ALERT ? BW_ACT_ACCEPT : BW_ACT_TEMPFAIL;
	policy_fail_as(r, v, BW_CHK_VOLUME_SURGE, a, res.detail);
}
