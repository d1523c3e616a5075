/*
 * limits.c - the milter's side of the fleet-wide limits (see limits.h).
 *
 * Pool: up to LIMITS_POOL_MAX store handles (Redis; one for SQLite, whose
 * writers are serialised anyway), each used by one message thread at a
 * time (a handle is single-threaded); a thread that finds them all busy
 * waits for one. A handle whose store call failed is kept (the
 * Redis backend reconnects with backoff by itself); a handle that could
 * not be opened is retried after a backoff, so a store that is down costs
 * a message no more than one timeout per backoff period.
 *
 * Offline view: per identity, the counts of its hour and day as the store
 * last reported them, plus what was granted offline since. Deltas (releases
 * and offline grants) wait in a list merged by (id, hour) until
 * limits_flush adds them to the store; a failed flush keeps them.
 *
 * Memory: the handle pool, the view table and the delta list belong to
 * struct limits; everything is under one mutex except the store calls
 * themselves. Untrusted input: none (ids come from the registry).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>

#include "milter/limits.h"
#include "base/hash.h"
#include "base/util.h"

#define VIEW_MAX 4096	    /* identities in the offline view (oldest replaced) */
#define DELTA_MAX 4096	    /* pending deltas (merged by id and hour) */
#define OPEN_BACKOFF_MS 500 /* after a handle could not be opened */

struct view {
	char id[STATE_ID_MAX + 1];
	long long hour, day;
	struct state_usage use;
};

struct pdelta {
	char id[STATE_ID_MAX + 1];
	long long hour;
	long long msgs, rcpts;
};

struct limits {
	struct registry *reg;	       /* retained: its settings open the handles */
	const struct bw_settings *set; /* &reg->set */
	pthread_mutex_t lock;
	pthread_cond_t freed;
	struct state *pool[LIMITS_POOL_MAX];
	bool busy[LIMITS_POOL_MAX];
	int pool_max; /* LIMITS_POOL_MAX for Redis; 1 for SQLite (one writer at a time anyway) */
	long long next_open_ms;
	long long last_ok_ms;
	unsigned stale_ms;
	struct view *views;
	size_t n_views;
	struct pdelta *deltas;
	size_t n_deltas;
};

struct limits *
limits_new(struct registry *r, char *err, size_t errlen)
{
	const struct bw_settings *set = &r->set;
	struct limits *l = calloc(1, sizeof(*l));
	if (l == NULL || (l->views = calloc(VIEW_MAX, sizeof(struct view))) == NULL ||
	    (l->deltas = calloc(DELTA_MAX, sizeof(struct pdelta))) == NULL) {
		if (l)
			free(l->views);
		free(l);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* SQLite serialises writers: in-process waiters queue on our condition
	 * variable instead of sleeping in SQLite's busy handler */
	l->pool_max = strcmp(set->state_backend, "redis") == 0 ? LIMITS_POOL_MAX : 1;
	l->reg = registry_retain(r);
	l->set = set;
	l->stale_ms = set->state_stale_after * 1000;
	l->last_ok_ms = bw_mono_ms();
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->freed, NULL);
	return l;
}

void
limits_free(struct limits *l)
{
	if (l == NULL)
		return;
	for (int i = 0; i < LIMITS_POOL_MAX; i++)
		state_close(l->pool[i]);
	pthread_cond_destroy(&l->freed);
	pthread_mutex_destroy(&l->lock);
	free(l->views);
	free(l->deltas);
	registry_release(l->reg);
	free(l);
}

/* Take a handle slot (waiting while all are busy); -1 none can be opened. */
static int
take(struct limits *l, char *why, size_t len)
{
	pthread_mutex_lock(&l->lock);
	for (;;) {
		int empty = -1;
		for (int i = 0; i < l->pool_max; i++) {
			if (!l->busy[i] && l->pool[i] != NULL) {
				l->busy[i] = true;
				pthread_mutex_unlock(&l->lock);
				return i;
			}
			if (!l->busy[i] && l->pool[i] == NULL && empty < 0)
				empty = i;
		}
		if (empty >= 0) {
			if (bw_mono_ms() < l->next_open_ms) {
				pthread_mutex_unlock(&l->lock);
				snprintf(why, len, "state store unreachable");
				return -1;
			}
			l->busy[empty] = true;
			pthread_mutex_unlock(&l->lock);
			char err[STATE_TEXT_MAX];
			struct state *st = state_open(l->set, err, sizeof(err));
			pthread_mutex_lock(&l->lock);
			if (st == NULL) {
				l->busy[empty] = false;
				l->next_open_ms = bw_mono_ms() + OPEN_BACKOFF_MS;
				pthread_mutex_unlock(&l->lock);
				snprintf(why, len, "%s", err);
				return -1;
			}
			state_set_origin(st, "bulkwarden");
			l->pool[empty] = st;
			pthread_mutex_unlock(&l->lock);
			return empty;
		}
		pthread_cond_wait(&l->freed, &l->lock);
	}
}

static void
give(struct limits *l, int i)
{
	pthread_mutex_lock(&l->lock);
	l->busy[i] = false;
	pthread_cond_signal(&l->freed);
	pthread_mutex_unlock(&l->lock);
}

/* The view of id (created, replacing a slot by hash, when missing). */
static struct view *
view_of(struct limits *l, const char *id)
{
	struct view *v = &l->views[bw_hash_str(id) % VIEW_MAX];
	if (strcmp(v->id, id) != 0) {
		memset(v, 0, sizeof(*v));
		bw_strlcpy(v->id, id, sizeof(v->id));
	}
	return v;
}

/* Queue a use delta, merged with one for the same id and hour. */
static void
queue_delta(struct limits *l, const char *id, long long hour, long long msgs, long long rcpts)
{
	for (size_t i = 0; i < l->n_deltas; i++)
		if (l->deltas[i].hour == hour && strcmp(l->deltas[i].id, id) == 0) {
			l->deltas[i].msgs += msgs;
			l->deltas[i].rcpts += rcpts;
			return;
		}
	if (l->n_deltas == DELTA_MAX) {
		diag(LOG_ERR, "limits: %d pending use deltas, dropping one for %s", DELTA_MAX, id);
		return;
	}
	struct pdelta *d = &l->deltas[l->n_deltas++];
	bw_strlcpy(d->id, id, sizeof(d->id));
	d->hour = hour;
	d->msgs = msgs;
	d->rcpts = rcpts;
}

/* Decide from the last view while the store is away (lock held). */
static int
offline(struct limits *l, const struct bw_identity *id, const struct state_limits *lim,
	unsigned msgs, unsigned rcpts, long long now, char *why, size_t len)
{
	if (bw_mono_ms() - l->last_ok_ms >= (long long)l->stale_ms)
		return -1; /* why already says what failed */
	long long hour = now - now % 3600, day = now - now % 86400;
	struct view *v = view_of(l, id->id);
	if (v->hour != hour) {
		v->hour = hour;
		v->use.msg_hour = v->use.rcpt_hour = 0;
	}
	if (v->day != day) {
		v->day = day;
		v->use.msg_day = v->use.rcpt_day = 0;
	}
	enum state_over o = state_usage_check(&v->use, lim, msgs, rcpts);
	if (o != STATE_OVER_NONE) {
		snprintf(why, len, "limit of %s reached (store unreachable, last view)",
			 state_over_name(o));
		return 1;
	}
	v->use.msg_hour += msgs;
	v->use.msg_day += msgs;
	v->use.rcpt_hour += rcpts;
	v->use.rcpt_day += rcpts;
	queue_delta(l, id->id, hour, msgs, rcpts);
	return 0;
}

int
limits_reserve(struct limits *l, const struct bw_identity *id, unsigned msgs, unsigned rcpts,
	       long long now, char *why, size_t len)
{
	struct state_limits lim = {id->per_hour, id->per_day, id->rcpt_per_hour, id->rcpt_per_day};
	struct state_usage use;
	enum state_over over;
	int rc = -1;
	int i = take(l, why, len);
	if (i >= 0) {
		rc = state_reserve(l->pool[i], id->id, now, msgs, rcpts, &lim, &use, &over);
		if (rc < 0)
			snprintf(why, len, "%s", state_error(l->pool[i]));
		give(l, i);
	}
	pthread_mutex_lock(&l->lock);
	if (rc >= 0) {
		struct view *v = view_of(l, id->id);
		v->hour = now - now % 3600;
		v->day = now - now % 86400;
		v->use = use;
		l->last_ok_ms = bw_mono_ms();
		if (rc == 1) {
			uint64_t have = over == STATE_OVER_MSG_HOUR    ? use.msg_hour
					: over == STATE_OVER_MSG_DAY   ? use.msg_day
					: over == STATE_OVER_RCPT_HOUR ? use.rcpt_hour
								       : use.rcpt_day;
			uint64_t lm = over == STATE_OVER_MSG_HOUR    ? lim.msg_hour
				      : over == STATE_OVER_MSG_DAY   ? lim.msg_day
				      : over == STATE_OVER_RCPT_HOUR ? lim.rcpt_hour
								     : lim.rcpt_day;
			snprintf(why, len, "%llu %s across the fleet, limit %llu",
				 (unsigned long long)have, state_over_name(over),
				 (unsigned long long)lm);
		}
	} else {
		rc = offline(l, id, &lim, msgs, rcpts, now, why, len);
	}
	pthread_mutex_unlock(&l->lock);
	return rc;
}

void
limits_release(struct limits *l, const char *id, unsigned msgs, unsigned rcpts, long long when)
{
	pthread_mutex_lock(&l->lock);
	queue_delta(l, id, when - when % 3600, -(long long)msgs, -(long long)rcpts);
	struct view *v = view_of(l, id);
	if (v->hour == when - when % 3600) {
		v->use.msg_hour -= v->use.msg_hour >= msgs ? msgs : v->use.msg_hour;
		v->use.rcpt_hour -= v->use.rcpt_hour >= rcpts ? rcpts : v->use.rcpt_hour;
	}
	pthread_mutex_unlock(&l->lock);
}

void
limits_store_ok(struct limits *l)
{
	pthread_mutex_lock(&l->lock);
	l->last_ok_ms = bw_mono_ms();
	pthread_mutex_unlock(&l->lock);
}

void
limits_flush(struct limits *l, struct state *st)
{
	struct pdelta *d;
	struct state_usage_delta *sd;
	size_t n;
	pthread_mutex_lock(&l->lock);
	n = l->n_deltas;
	if (n == 0) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	d = malloc(n * sizeof(*d));
	sd = malloc(n * sizeof(*sd));
	if (d == NULL || sd == NULL) {
		pthread_mutex_unlock(&l->lock);
		free(d);
		free(sd);
		return;
	}
	memcpy(d, l->deltas, n * sizeof(*d));
	l->n_deltas = 0;
	pthread_mutex_unlock(&l->lock);
	for (size_t i = 0; i < n; i++) {
		sd[i].id = d[i].id;
		sd[i].hour = d[i].hour;
		sd[i].msgs = d[i].msgs;
		sd[i].rcpts = d[i].rcpts;
	}
	if (state_usage_add(st, sd, n) != 0) {
		diag(LOG_WARNING, "use-count flush failed: %s (retrying)", state_error(st));
		pthread_mutex_lock(&l->lock);
		for (size_t i = 0; i < n; i++)
			queue_delta(l, d[i].id, d[i].hour, d[i].msgs, d[i].rcpts);
		pthread_mutex_unlock(&l->lock);
	}
	free(d);
	free(sd);
}
