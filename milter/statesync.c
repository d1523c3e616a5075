/*
 * statesync.c - background synchronisation between the state store and the
 * overlay (see statesync.h).
 *
 * The thread owns its store handle (a handle is used by one thread at a
 * time). Loop, every STATESYNC_TICK_MS: if the store's version changed,
 * reread the active suspensions into the overlay. Every STATESYNC_FLUSH_MS:
 * lift expired suspensions, flush counter deltas. Audit records other
 * threads hand in (statesync_audit) are appended as soon as the thread wakes
 * for them, and the caller waits for the outcome: a record is never dropped,
 * and a change whose record cannot be written does not happen (SPEC §5).
 * Every counters_interval seconds: one counters event per identity that
 * sent anything.
 *
 * Failure: a store that cannot be read for STATESYNC_STALE_MS makes the
 * overlay stale, so messages get the state-error action (fail closed)
 * instead of being judged on an old suspension set. Counter deltas that
 * could not be flushed go back to the overlay and are retried.
 *
 * Crash bound: counters are flushed at least every STATESYNC_FLUSH_MS, so a
 * kill -9 loses at most the last second of counts (plus messages in flight).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <syslog.h>
#include <time.h>

#include "base/ecs.h"
#include "log/eventlog.h"
#include "metrics/metrics.h"
#include "milter/statesync.h"
#include "base/util.h"
#include "registry/settings.h"

#define AUDIT_QUEUE_MAX 16 /* callers waiting at once; more wait for room */

/* One caller's record, on the caller's stack until it is done. */
struct audit_req {
	struct state_audit rec;
	int rc;
	bool done;
};

struct statesync {
	struct state *st;
	struct overlay *ov;
	pthread_t tid;
	pthread_mutex_t lock; /* queue, interval, stop */
	pthread_cond_t cond;
	pthread_cond_t audit_done; /* a request finished, or room in the queue */
	bool stop;
	unsigned interval;
	struct audit_req *queue[AUDIT_QUEUE_MAX];
	size_t queued;
	/* thread-private */
	uint64_t version;
	bool have_version;
	long long last_ok_ms;
	long long last_flush_ms;
	long long interval_start;
	bool store_down_logged;
};

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Write the event for an appended record. */
static void
log_audit(const struct state_audit *rec, void *arg BW_UNUSED)
{
	struct jbuf *j = malloc(sizeof(*j));
	char evid[25];
	if (j == NULL)
		return;
	if (bw_random_hex(evid, 12) != 0)
		evid[0] = '\0';
	state_audit_event(j, rec, evid);
	eventlog_write(j->buf, j->len);
	free(j);
}

/* Reread suspensions when the store changed. */
static void
poll_suspensions(struct statesync *s, long long now)
{
	uint64_t v;
	struct state_suspension *list = NULL;
	size_t n = 0;

	if (state_version(s->st, &v) != 0)
		goto fail;
	if (s->have_version && v == s->version) {
		metrics_store(true, now);
		s->last_ok_ms = now_ms();
		return;
	}
	if (state_suspensions(s->st, now, &list, &n) != 0)
		goto fail;
	metrics_store(true, now);
	metrics_suspended((long)n);
	if (overlay_set_suspensions(s->ov, list, n) == 0) {
		s->version = v;
		s->have_version = true;
	}
	free(list);
	s->last_ok_ms = now_ms();
	if (s->store_down_logged) {
		diag(LOG_INFO, "state store readable again");
		s->store_down_logged = false;
	}
	return;
fail:
	metrics_store(false, now);
	if (now_ms() - s->last_ok_ms >= STATESYNC_STALE_MS) {
		overlay_set_stale(s->ov);
		s->have_version = false;
		if (!s->store_down_logged) {
			diag(LOG_ERR, "state store unreadable: %s (messages get state-error)",
			     state_error(s->st));
			s->store_down_logged = true;
		}
	}
}

/* Flush counter deltas in one transaction; on failure they go back to the
 * overlay whole and are retried on the next flush. */
static void
flush_counters(struct statesync *s)
{
	struct overlay_delta *d;
	struct state_counter_delta *sd;
	size_t n;
	if (overlay_take_deltas(s->ov, &d, &n) != 0 || n == 0)
		return;
	sd = malloc(n * sizeof(*sd));
	if (sd != NULL) {
		for (size_t i = 0; i < n; i++) {
			sd[i].id = d[i].id;
			sd[i].hour = d[i].hour;
			sd[i].counts = d[i].counts;
		}
	}
	if (sd == NULL || state_counters_add_many(s->st, sd, n) != 0) {
		metrics_store(false, (long long)time(NULL));
		diag(LOG_WARNING, "counter flush failed: %s (retrying)",
		     sd ? state_error(s->st) : "out of memory");
		overlay_return_deltas(s->ov, d, n);
	}
	free(sd);
	free(d);
}

/* Append the audit records other threads handed in; each caller learns
 * whether its record was written. */
static void
drain_audit(struct statesync *s)
{
	struct audit_req *q[AUDIT_QUEUE_MAX];
	size_t n;
	pthread_mutex_lock(&s->lock);
	n = s->queued;
	memcpy(q, s->queue, n * sizeof(q[0]));
	s->queued = 0;
	pthread_mutex_unlock(&s->lock);
	for (size_t i = 0; i < n; i++) {
		int rc = state_audit_append(s->st, &q[i]->rec);
		if (rc != 0)
			diag(LOG_ERR, "audit append failed: %s (action %s refused)",
			     state_error(s->st), q[i]->rec.action);
		else
			log_audit(&q[i]->rec, NULL);
		pthread_mutex_lock(&s->lock);
		q[i]->rc = rc;
		q[i]->done = true;
		pthread_cond_broadcast(&s->audit_done);
		pthread_mutex_unlock(&s->lock);
	}
}

/* One counters event per identity with traffic in the interval. */
static void
emit_counters(struct statesync *s, long long now)
{
	struct overlay_delta *d;
	size_t n;
	if (overlay_take_interval(s->ov, &d, &n) != 0)
		return;
	struct jbuf *j = malloc(sizeof(*j));
	for (size_t i = 0; j != NULL && i < n; i++) {
		struct timeval tv;
		gettimeofday(&tv, NULL);
		const struct state_counts *c = &d[i].counts;
		jbuf_begin(j);
		jbuf_timestamp(j, "@timestamp", tv.tv_sec, tv.tv_usec / 1000);
		jbuf_str(j, "event.kind", "metric");
		jbuf_str(j, "event.dataset", "bulkwarden.counters");
		jbuf_timestamp(j, "event.start", s->interval_start, 0);
		jbuf_timestamp(j, "event.end", now, 0);
		jbuf_str(j, "bulkwarden.identity.id", d[i].id);
		state_counts_json(j, "bulkwarden.counters.", c);
		ecs_common(j, "email", NULL, "info", NULL);
		jbuf_end(j);
		eventlog_write(j->buf, j->len);
	}
	free(j);
	free(d);
	s->interval_start = now;
}

static void *
run(void *arg)
{
	struct statesync *s = arg;
	long long last_counters = now_ms();

	for (;;) {
		pthread_mutex_lock(&s->lock);
		if (!s->stop && s->queued == 0) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_nsec += STATESYNC_TICK_MS * 1000000L;
			until.tv_sec += until.tv_nsec / 1000000000L;
			until.tv_nsec %= 1000000000L;
			pthread_cond_timedwait(&s->cond, &s->lock, &until);
		}
		bool stop = s->stop;
		unsigned interval = s->interval;
		bool audits = s->queued > 0;
		pthread_mutex_unlock(&s->lock);
		if (audits)
			drain_audit(s);

		long long now = (long long)time(NULL);
		long long ms = now_ms();
		if (stop || ms - s->last_flush_ms >= STATESYNC_FLUSH_MS) {
			s->last_flush_ms = ms;
			if (state_expire(s->st, now, log_audit, NULL) < 0)
				diag(LOG_WARNING, "expiring suspensions: %s", state_error(s->st));
			flush_counters(s);
			drain_audit(s);
		}
		poll_suspensions(s, now);
		if (stop || ms - last_counters >= (long long)interval * 1000) {
			emit_counters(s, now);
			last_counters = ms;
		}
		if (stop)
			break;
	}
	return NULL;
}

struct seed {
	struct overlay *ov;
	long long now;
	bool hour;
};

/* Seed one identity's hour or day volume (messages that were sent). */
static int
seed_one(const char *id, const struct state_counts *sum, void *arg)
{
	struct seed *sd = arg;
	uint64_t sent = sum->accepted + sum->quarantined;
	if (sd->hour)
		overlay_seed(sd->ov, id, sd->now, sent, 0);
	else
		overlay_seed(sd->ov, id, sd->now, 0, sent);
	return 0;
}

struct statesync *
statesync_start(struct state *st, struct overlay *ov, unsigned counters_interval, char *err,
		size_t errlen)
{
	struct statesync *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->st = st;
	s->ov = ov;
	s->interval = counters_interval ? counters_interval : (unsigned)setting(S_LOG_COUNTERS_INTERVAL)->idef;
	s->interval_start = (long long)time(NULL);
	s->last_ok_ms = now_ms();
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_cond_init(&s->audit_done, NULL);

	/* limits hold across restarts: seed this hour's and today's volume */
	long long now = (long long)time(NULL);
	long long hour = now - now % 3600, day = now - now % 86400;
	struct seed sd = {ov, now, false};
	if (state_counters_foreach(st, day, day + 86400, seed_one, &sd) != 0) {
		snprintf(err, errlen, "reading counters: %s", state_error(st));
		goto fail;
	}
	sd.hour = true;
	if (state_counters_foreach(st, hour, hour + 3600, seed_one, &sd) != 0) {
		snprintf(err, errlen, "reading counters: %s", state_error(st));
		goto fail;
	}
	/* the suspension set must be known before the first message */
	s->last_ok_ms = now_ms() - STATESYNC_STALE_MS; /* a failure now is final */
	poll_suspensions(s, now);
	if (!s->have_version) {
		snprintf(err, errlen, "reading suspensions: %s", state_error(st));
		goto fail;
	}
	if (pthread_create(&s->tid, NULL, run, s) != 0) {
		snprintf(err, errlen, "cannot start the state thread: %s", strerror(errno));
		goto fail;
	}
	return s;
fail:
	pthread_cond_destroy(&s->audit_done);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
	return NULL;
}

int
statesync_audit(struct statesync *s, const struct state_audit *rec)
{
	struct audit_req *r = malloc(sizeof(*r));
	if (r == NULL) {
		diag(LOG_ERR, "out of memory: %s audit record not written", rec->action);
		return -1;
	}
	r->rec = *rec;
	r->rc = -1;
	r->done = false;
	pthread_mutex_lock(&s->lock);
	while (s->queued >= AUDIT_QUEUE_MAX && !s->stop)
		pthread_cond_wait(&s->audit_done, &s->lock);
	if (s->stop) {
		pthread_mutex_unlock(&s->lock);
		free(r);
		diag(LOG_ERR, "state thread stopped: %s audit record not written", rec->action);
		return -1;
	}
	s->queue[s->queued++] = r;
	pthread_cond_signal(&s->cond);
	while (!r->done)
		pthread_cond_wait(&s->audit_done, &s->lock);
	pthread_mutex_unlock(&s->lock);
	int rc = r->rc;
	free(r);
	return rc;
}

void
statesync_set_interval(struct statesync *s, unsigned counters_interval)
{
	pthread_mutex_lock(&s->lock);
	s->interval = counters_interval ? counters_interval : (unsigned)setting(S_LOG_COUNTERS_INTERVAL)->idef;
	pthread_mutex_unlock(&s->lock);
}

void
statesync_stop(struct statesync *s)
{
	if (s == NULL)
		return;
	pthread_mutex_lock(&s->lock);
	s->stop = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->tid, NULL);
	pthread_cond_destroy(&s->audit_done);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
