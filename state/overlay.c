/*
 * overlay.c - in-memory suspension set and volume counters (see overlay.h).
 *
 * One base/hash table of entries keyed by identity id (the key lives in
 * the entry), under one mutex. Entries are malloc'ed on first use and live
 * until overlay_free(): there is one per identity that ever sent or was
 * suspended, bounded by the registry size.
 *
 * Counting: hour_sent/day_sent are messages counted toward the limits
 * (accepted or quarantined, plus reservations in flight) in the current
 * UTC hour and day; they reset when the window rolls over. A reservation
 * given back (the message was refused or abandoned) comes off the windows
 * it was taken in only: one taken at 10:59:59 and released at 11:00:01
 * leaves 11:00's count alone, or each hour boundary would let in-flight
 * messages open room beyond the limit. Store deltas
 * accumulate per entry for the current hour; a delta still pending when its
 * hour ends moves to the spill list so it is flushed under the right hour.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/overlay.h"
#include "base/hash.h"
#include "base/util.h"

#define REASON_MAX 256

struct entry {
	char id[STATE_ID_MAX + 1]; /* the table key */
	bool suspended;
	char reason[REASON_MAX];
	long long hour, day;       /* window starts */
	uint64_t hour_sent, day_sent;
	struct state_counts pending; /* for the store, hour `pending_hour` */
	long long pending_hour;
	struct state_counts interval; /* for the next counters event */
};

struct overlay {
	pthread_mutex_t lock;
	struct bw_hash tab; /* id -> struct entry */
	bool stale;
	struct overlay_delta *spill;
	size_t n_spill, cap_spill;
	struct state_waiver *waivers; /* in force when read (overlay_set_waivers) */
	size_t n_waivers;
};

struct overlay *
overlay_new(void)
{
	struct overlay *o = calloc(1, sizeof(*o));
	if (o == NULL)
		return NULL;
	bw_hash_init(&o->tab);
	o->stale = true; /* nothing read from the store yet */
	pthread_mutex_init(&o->lock, NULL);
	return o;
}

void
overlay_free(struct overlay *o)
{
	if (o == NULL)
		return;
	pthread_mutex_destroy(&o->lock);
	size_t pos = 0;
	void *e;
	while (bw_hash_next(&o->tab, &pos, NULL, &e))
		free(e);
	bw_hash_free(&o->tab);
	free(o->spill);
	free(o->waivers);
	free(o);
}

/* Entry for id, created if missing (NULL: out of memory or bad id). */
static struct entry *
get(struct overlay *o, const char *id, bool create)
{
	if (id[0] == '\0' || strlen(id) > STATE_ID_MAX)
		return NULL;
	struct entry *e = bw_hash_get(&o->tab, id);
	if (e != NULL || !create)
		return e;
	e = calloc(1, sizeof(*e));
	if (e == NULL)
		return NULL;
	bw_strlcpy(e->id, id, sizeof(e->id));
	if (bw_hash_put(&o->tab, e->id, e, NULL) != 0) {
		free(e);
		return NULL;
	}
	return e;
}

/* Move the entry's windows forward to now (clock hour and day, UTC). */
static void
roll(struct overlay *o, struct entry *e, long long now)
{
	long long hour = now - now % 3600, day = now - now % 86400;
	if (e->hour != hour) {
		e->hour = hour;
		e->hour_sent = 0;
	}
	if (e->day != day) {
		e->day = day;
		e->day_sent = 0;
	}
	if (e->pending_hour != hour && e->pending.messages + e->pending.recipients != 0) {
		/* the hour ended before its counts were flushed: spill them */
		if (o->n_spill == o->cap_spill) {
			size_t nc = o->cap_spill ? o->cap_spill * 2 : 16;
			struct overlay_delta *ns = realloc(o->spill, nc * sizeof(*ns));
			if (ns == NULL)
				return; /* keep pending under the old hour; retried next call */
			o->spill = ns;
			o->cap_spill = nc;
		}
		struct overlay_delta *d = &o->spill[o->n_spill++];
		bw_strlcpy(d->id, e->id, sizeof(d->id));
		d->hour = e->pending_hour;
		d->counts = e->pending;
		memset(&e->pending, 0, sizeof(e->pending));
	}
	e->pending_hour = hour;
}

int
overlay_suspended(struct overlay *o, const char *id, char *reason, size_t len)
{
	int r;
	pthread_mutex_lock(&o->lock);
	if (o->stale) {
		r = -1;
	} else {
		struct entry *e = get(o, id, false);
		r = e != NULL && e->suspended;
		if (r)
			bw_strlcpy(reason, e->reason, len);
	}
	pthread_mutex_unlock(&o->lock);
	return r;
}

int
overlay_set_suspensions(struct overlay *o, const struct state_suspension *s, size_t n)
{
	int rc = 0;
	pthread_mutex_lock(&o->lock);
	size_t pos = 0;
	void *v;
	while (bw_hash_next(&o->tab, &pos, NULL, &v))
		((struct entry *)v)->suspended = false;
	for (size_t i = 0; i < n; i++) {
		struct entry *e = get(o, s[i].id, true);
		if (e == NULL) {
			rc = -1;
			continue;
		}
		e->suspended = true;
		if (snprintf(e->reason, sizeof(e->reason), "%s (by %s)", s[i].reason, s[i].by) >=
		    (int)sizeof(e->reason))
			e->reason[sizeof(e->reason) - 2] = '~'; /* mark the cut in the event */
	}
	/* a set we could not store whole must not pass for a fresh one */
	o->stale = rc != 0;
	pthread_mutex_unlock(&o->lock);
	return rc;
}

void
overlay_set_stale(struct overlay *o)
{
	pthread_mutex_lock(&o->lock);
	o->stale = true;
	pthread_mutex_unlock(&o->lock);
}

int
overlay_reserve(struct overlay *o, const char *id, uint64_t per_hour, uint64_t per_day,
		long long now, char *why, size_t len)
{
	int r = 0;
	pthread_mutex_lock(&o->lock);
	struct entry *e = get(o, id, true);
	if (e == NULL) {
		snprintf(why, len, "out of memory counting volume");
		r = -1;
	} else {
		roll(o, e, now);
		if (per_hour != 0 && e->hour_sent >= per_hour) {
			snprintf(why, len, "%llu messages this hour, limit %llu",
				 (unsigned long long)e->hour_sent, (unsigned long long)per_hour);
			r = 1;
		} else if (per_day != 0 && e->day_sent >= per_day) {
			snprintf(why, len, "%llu messages today, limit %llu",
				 (unsigned long long)e->day_sent, (unsigned long long)per_day);
			r = 1;
		} else {
			e->hour_sent++;
			e->day_sent++;
		}
	}
	pthread_mutex_unlock(&o->lock);
	return r;
}

/* Add one message's outcome to a counts record. */
static void
count(struct state_counts *c, enum bw_action outcome, unsigned rcpts, uint64_t bytes,
      bool auth_failed)
{
	c->messages++;
	if (auth_failed)
		c->auth_failed++;
	c->recipients += rcpts;
	c->bytes += bytes;
	switch (outcome) {
	case BW_ACT_ACCEPT:
		c->accepted++;
		break;
	case BW_ACT_QUARANTINE:
		c->quarantined++;
		break;
	case BW_ACT_TEMPFAIL:
		c->tempfailed++;
		break;
	case BW_ACT_REJECT:
		c->rejected++;
		break;
	}
}

/* Give back a reservation taken at `at` to the windows (already rolled to
 * now) that counted it; a window that has rolled over since forgot it. */
static void
give_back(struct entry *e, long long at)
{
	if (at - at % 3600 == e->hour && e->hour_sent > 0)
		e->hour_sent--;
	if (at - at % 86400 == e->day && e->day_sent > 0)
		e->day_sent--;
}

void
overlay_finish(struct overlay *o, const char *id, bool reserved, long long reserved_at,
	       enum bw_action outcome, unsigned rcpts, uint64_t bytes, long long now)
{
	overlay_finish_auth(o, id, reserved, reserved_at, outcome, rcpts, bytes, false, now);
}

void
overlay_finish_auth(struct overlay *o, const char *id, bool reserved, long long reserved_at,
		    enum bw_action outcome, unsigned rcpts, uint64_t bytes, bool auth_failed,
		    long long now)
{
	pthread_mutex_lock(&o->lock);
	struct entry *e = get(o, id, true);
	if (e != NULL) {
		roll(o, e, now);
		bool sent = outcome == BW_ACT_ACCEPT || outcome == BW_ACT_QUARANTINE;
		if (reserved && !sent)
			give_back(e, reserved_at);
		count(&e->pending, outcome, rcpts, bytes, auth_failed);
		count(&e->interval, outcome, rcpts, bytes, auth_failed);
	}
	pthread_mutex_unlock(&o->lock);
}

void
overlay_release(struct overlay *o, const char *id, long long reserved_at, long long now)
{
	pthread_mutex_lock(&o->lock);
	struct entry *e = get(o, id, false);
	if (e != NULL) {
		roll(o, e, now);
		give_back(e, reserved_at);
	}
	pthread_mutex_unlock(&o->lock);
}

void
overlay_seed(struct overlay *o, const char *id, long long now, uint64_t hour_sent,
	     uint64_t day_sent)
{
	pthread_mutex_lock(&o->lock);
	struct entry *e = get(o, id, true);
	if (e != NULL) {
		roll(o, e, now);
		e->hour_sent += hour_sent;
		e->day_sent += day_sent;
	}
	pthread_mutex_unlock(&o->lock);
}

/* Collect non-empty per-entry counts (pending or interval) plus extra. */
static int
take(struct overlay *o, bool interval, struct overlay_delta **out, size_t *n)
{
	size_t cnt = interval ? 0 : o->n_spill, k = 0, pos = 0;
	void *v;
	while (bw_hash_next(&o->tab, &pos, NULL, &v)) {
		struct entry *e = v;
		if ((interval ? e->interval : e->pending).messages != 0)
			cnt++;
	}
	*out = NULL;
	*n = 0;
	if (cnt == 0)
		return 0;
	struct overlay_delta *d = malloc(cnt * sizeof(*d));
	if (d == NULL)
		return -1;
	if (!interval && o->n_spill > 0) {
		memcpy(d, o->spill, o->n_spill * sizeof(*d));
		k = o->n_spill;
		o->n_spill = 0;
	}
	for (pos = 0; bw_hash_next(&o->tab, &pos, NULL, &v);) {
		struct entry *e = v;
		struct state_counts *c = interval ? &e->interval : &e->pending;
		if (c->messages == 0)
			continue;
		bw_strlcpy(d[k].id, e->id, sizeof(d[k].id));
		d[k].hour = interval ? e->hour : e->pending_hour;
		d[k].counts = *c;
		memset(c, 0, sizeof(*c));
		k++;
	}
	*out = d;
	*n = k;
	return 0;
}

int
overlay_take_deltas(struct overlay *o, struct overlay_delta **out, size_t *n)
{
	pthread_mutex_lock(&o->lock);
	int r = take(o, false, out, n);
	pthread_mutex_unlock(&o->lock);
	return r;
}

int
overlay_take_interval(struct overlay *o, struct overlay_delta **out, size_t *n)
{
	pthread_mutex_lock(&o->lock);
	int r = take(o, true, out, n);
	pthread_mutex_unlock(&o->lock);
	return r;
}

/* Add b into a. */
static void
add_counts(struct state_counts *a, const struct state_counts *b)
{
	a->messages += b->messages;
	a->recipients += b->recipients;
	a->bytes += b->bytes;
	a->accepted += b->accepted;
	a->rejected += b->rejected;
	a->quarantined += b->quarantined;
	a->tempfailed += b->tempfailed;
	a->auth_failed += b->auth_failed;
}

void
overlay_return_deltas(struct overlay *o, const struct overlay_delta *d, size_t n)
{
	pthread_mutex_lock(&o->lock);
	for (size_t i = 0; i < n; i++) {
		struct entry *e = get(o, d[i].id, true);
		if (e != NULL && e->pending_hour == d[i].hour) {
			add_counts(&e->pending, &d[i].counts);
			continue;
		}
		/* another hour (or no memory for an entry): to the spill list */
		if (o->n_spill == o->cap_spill) {
			size_t nc = o->cap_spill ? o->cap_spill * 2 : 16;
			struct overlay_delta *ns = realloc(o->spill, nc * sizeof(*ns));
			if (ns == NULL)
				break; /* lost: logged by the caller's failed flush already */
			o->spill = ns;
			o->cap_spill = nc;
		}
		o->spill[o->n_spill++] = d[i];
	}
	pthread_mutex_unlock(&o->lock);
}

int
overlay_set_waivers(struct overlay *o, const struct state_waiver *w, size_t n)
{
	struct state_waiver *copy = NULL;
	if (n > 0) {
		copy = malloc(n * sizeof(*copy));
		if (copy == NULL)
			return -1; /* the old set stays: better than none */
		memcpy(copy, w, n * sizeof(*copy));
	}
	pthread_mutex_lock(&o->lock);
	free(o->waivers);
	o->waivers = copy;
	o->n_waivers = n;
	pthread_mutex_unlock(&o->lock);
	return 0;
}

/* A linear scan: waivers in force are few (each one is a signed-off
 * exception), and a message reads them once, at MAIL FROM. */
size_t
overlay_waivers(struct overlay *o, const char *id, const char *kind, long long now,
		struct state_waiver *out, size_t max)
{
	size_t k = 0;
	pthread_mutex_lock(&o->lock);
	for (size_t i = 0; i < o->n_waivers && k < max; i++) {
		const struct state_waiver *w = &o->waivers[i];
		if (w->until > now && strcmp(w->id, id) == 0 && strcmp(w->kind, kind) == 0)
			out[k++] = *w;
	}
	pthread_mutex_unlock(&o->lock);
	return k;
}
