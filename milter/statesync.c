/*
 * statesync.c - background synchronisation between the state store and the
 * overlay (see statesync.h).
 *
 * The thread owns its store handle (a handle is used by one thread at a
 * time). With a backend that announces changes (Redis pub/sub), a second
 * thread waits on a second handle and wakes this one at once; the version
 * poll every tick remains the fallback. Loop, every STATESYNC_TICK_MS: if the store's version
 * changed, reread the active suspensions and waivers into the overlay. Every STATESYNC_FLUSH_MS:
 * lift expired suspensions, end expired waivers, flush counter deltas. Audit records other threads
 * hand in (statesync_audit) are appended as soon as the thread wakes for them, and the caller waits
 * for the outcome: a record is never dropped, and a change whose record cannot be written does not
 * happen (SPEC §5). Every counters_interval seconds: one counters event per identity that sent
 * anything.
 *
 * Failure: a store that cannot be read for state.stale_after seconds makes the
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
#include <unistd.h>

#include "base/ecs.h"
#include "log/eventlog.h"
#include "milter/limits.h"
#include "metrics/metrics.h"
#include "milter/paths.h"
#include "milter/runtime.h"
#include "milter/statesync.h"
#include "milter/suppress_set.h"
#include "state/signals.h"
#include "base/util.h"
#include "registry/settings.h"

#define AUDIT_QUEUE_MAX 16     /* callers waiting at once; more wait for room */
#define DORMANT_RECHECK_S 3600 /* an identity found awake is asked again an hour later */
#define DORMANT_PENDING_MAX 64 /* claimed dormant records waiting for the store */

/* One caller's record, on the caller's stack until it is done. */
struct audit_req {
	struct state_audit rec;
	int rc;
	bool done;
};

struct statesync {
	struct state *st;
	struct state *watch; /* subscribed handle (Redis) or NULL: polling only */
	pthread_t watch_tid;
	bool watching;
	struct overlay *ov;
	struct limits *lim;
	long long stale_ms;
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
	struct overlay_delta *retry; /* a counter batch to try again, as it is */
	size_t n_retry;
	char retry_id[32];
	/* the identity pass: signal gauges for /metrics and the daily dormant
	 * records, STATESYNC_SLICE identities per tick, a pass at most every
	 * STATESYNC_PASS_MS */
	bool pass_running;
	size_t pass_pos;
	long long next_pass_ms;
	char pass_rev[65]; /* the registry the pass walks (revision) */
	struct metrics_signal *sig;
	size_t n_sig, cap_sig;
	char dorm_rev[65];    /* the registry dorm_next is indexed by */
	long long *dorm_next; /* per identity: unix time to judge it again */
	size_t n_dorm;
	struct state_audit dpend[DORMANT_PENDING_MAX]; /* claimed, not yet appended */
	size_t n_dpend;
};

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
	struct state_waiver *wlist = NULL;
	size_t n = 0, nw = 0;

	if (state_version(s->st, &v) != 0)
		goto fail;
	if (s->lim != NULL)
		limits_store_ok(s->lim);
	if (s->have_version && v == s->version) {
		metrics_store(true, now);
		s->last_ok_ms = bw_mono_ms();
		return;
	}
	if (state_suspensions(s->st, now, &list, &n) != 0)
		goto fail;
	if (state_has_waivers(s->st) && state_waivers(s->st, NULL, now, false, &wlist, &nw) != 0) {
		free(list);
		goto fail;
	}
	metrics_store(true, now);
	const char **ids = n ? malloc(n * sizeof(*ids)) : NULL;
	if (ids != NULL || n == 0) {
		for (size_t i = 0; i < n; i++)
			ids[i] = list[i].id;
		if (metrics_suspended_ids(ids, n) != 0)
			metrics_suspended((long)n);
		free(ids);
	} else {
		metrics_suspended((long)n);
	}
	/* both sets read at one version: it counts as seen only when both
	 * are in the overlay (else the next tick reads again) */
	if (overlay_set_suspensions(s->ov, list, n) == 0 &&
	    overlay_set_waivers(s->ov, wlist, nw) == 0) {
		s->version = v;
		s->have_version = true;
	}
	free(list);
	free(wlist);
	s->last_ok_ms = bw_mono_ms();
	if (s->store_down_logged) {
		diag(LOG_INFO, "state store readable again");
		s->store_down_logged = false;
	}
	return;
fail:
	metrics_store(false, now);
	if (bw_mono_ms() - s->last_ok_ms >= s->stale_ms) {
		overlay_set_stale(s->ov);
		s->have_version = false;
		if (!s->store_down_logged) {
			diag(LOG_ERR, "state store unreadable: %s (messages get state-error)",
			     state_error(s->st));
			s->store_down_logged = true;
		}
	}
}

/* Try the batch waiting for a retry, with its batch id. */
static bool
flush_batch(struct statesync *s)
{
	struct state_counter_delta *sd = malloc(s->n_retry * sizeof(*sd));
	if (sd == NULL) {
		diag(LOG_WARNING, "counter flush failed: out of memory (retrying)");
		return false;
	}
	for (size_t i = 0; i < s->n_retry; i++) {
		sd[i].id = s->retry[i].id;
		sd[i].hour = s->retry[i].hour;
		sd[i].counts = s->retry[i].counts;
	}
	bool ok = state_counters_add_batch(s->st, s->retry_id, sd, s->n_retry) == 0;
	if (!ok) {
		metrics_store(false, (long long)time(NULL));
		diag(LOG_WARNING, "counter flush failed: %s (retrying)", state_error(s->st));
	}
	free(sd);
	if (ok) {
		free(s->retry);
		s->retry = NULL;
		s->n_retry = 0;
	}
	return ok;
}

/*
 * Flush counter deltas in one transaction. A batch that fails is kept and
 * retried as it is, under the same batch id, before anything newer: the
 * store applies a batch id once, so a flush whose reply was lost (it may
 * have been applied) never counts twice. Newer counts wait in the overlay.
 */
static void
flush_counters(struct statesync *s)
{
	if (s->retry != NULL && !flush_batch(s))
		return;
	if (overlay_take_deltas(s->ov, &s->retry, &s->n_retry) != 0 || s->n_retry == 0) {
		free(s->retry);
		s->retry = NULL;
		s->n_retry = 0;
		return;
	}
	if (bw_random_hex(s->retry_id, 12) != 0)
		snprintf(s->retry_id, sizeof(s->retry_id), "%lx-%llx", (unsigned long)getpid(),
			 (unsigned long long)bw_mono_ms());
	flush_batch(s);
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

/* Append the dormant records whose key this relay claimed (oldest
 * first); one the store refuses stays for the next tick. */
static void
dormant_flush(struct statesync *s)
{
	size_t done = 0;
	while (done < s->n_dpend) {
		if (state_audit_append(s->st, &s->dpend[done]) != 0) {
			diag(LOG_ERR, "dormant record of %s not written yet: %s (retrying)",
			     s->dpend[done].identity, state_error(s->st));
			break;
		}
		log_audit(&s->dpend[done], NULL);
		done++;
	}
	memmove(s->dpend, s->dpend + done, (s->n_dpend - done) * sizeof(s->dpend[0]));
	s->n_dpend -= done;
}

/*
 * The daily dormant record of id (issue 15): an active identity, approved
 * or activated dormant_days ago, that sent before but nothing in the last
 * dormant_days (paths_dormancy, as the relay's dormant: path) gets one
 * audit record "dormant" by bulkwarden per UTC day, fleet-wide: the key
 * dormant:ID:YYYY-MM-DD is claimed first with state_feedback_record (an
 * atomic insert-if-new on SQLite and Redis); only the relay that claimed it
 * writes the record, retried from memory until the store takes it. *next:
 * when to judge id again (tomorrow, or in an hour when it is awake).
 */
static void
dormant_check(struct statesync *s, const struct registry *r, const struct bw_identity *id,
	      long long now, long long *next)
{
	long long days = r->set.dormant_days, day = now - now % 86400;
	long long since = id->activate > id->approval_date ? id->activate : id->approval_date;
	char path[STATE_PATH_MAX], why[STATE_TEXT_MAX] = "", key[STATE_FEEDBACK_KEY_MAX + 1];
	char dayname[16];
	*next = now + DORMANT_RECHECK_S;
	if (days <= 0 || registry_lifecycle(id, now, NULL) != BW_LIFE_ACTIVE ||
	    since > now - days * 86400)
		return;
	if (s->n_dpend >= DORMANT_PENDING_MAX) {
		*next = 0; /* the store is away: judged again once it takes records */
		return;
	}
	if (paths_dormancy(s->st, id->id, now, (unsigned)days, path, sizeof(path), why,
			   sizeof(why)) != 0) {
		metrics_store(false, now);
		diag(LOG_WARNING, "dormancy of %s not judged: %s", id->id, why);
		*next = 0;
		return;
	}
	if (path[0] == '\0')
		return;
	struct tm tm;
	time_t t = (time_t)day;
	gmtime_r(&t, &tm);
	strftime(dayname, sizeof(dayname), "%Y-%m-%d", &tm);
	snprintf(key, sizeof(key), "dormant:%s:%s", id->id, dayname);
	int rc = state_feedback_record(s->st, key, now, NULL, 0);
	if (rc < 0) {
		metrics_store(false, now);
		diag(LOG_WARNING, "dormant record of %s: %s (asked again)", id->id,
		     state_error(s->st));
		*next = 0;
		return;
	}
	*next = day + 86400;
	if (rc == 1) /* this relay or another wrote today's record */
		return;
	struct state_audit *rec = &s->dpend[s->n_dpend++];
	memset(rec, 0, sizeof(*rec));
	rec->ts = now;
	bw_strlcpy(rec->action, "dormant", sizeof(rec->action));
	bw_strlcpy(rec->actor, "bulkwarden", sizeof(rec->actor));
	bw_strlcpy(rec->identity, id->id, sizeof(rec->identity));
	const char *last = strchr(path, ':') + 1;
	if (strcmp(last, "never") == 0)
		snprintf(rec->reason, sizeof(rec->reason), "no message in %lld days", days);
	else
		snprintf(rec->reason, sizeof(rec->reason),
			 "no message in %lld days (last on %s); its next message is the new "
			 "sending path %s",
			 days, last, path);
	snprintf(rec->detail, sizeof(rec->detail), "dormant_days=%lld path=%s day=%s", days, path,
		 dayname);
	dormant_flush(s);
}

/* Stop the identity pass; the next starts after STATESYNC_PASS_MS. */
static void
pass_end(struct statesync *s)
{
	s->pass_running = false;
	s->n_sig = 0;
}

/*
 * One slice of the identity pass (never on the message path: the state
 * thread, STATESYNC_SLICE identities per tick, at most one pass every
 * STATESYNC_PASS_MS): with metrics.listen set, the signals of each
 * identity (signals_compute, the figures `bulkwardenctl signals` shows)
 * for /metrics, published whole at the end of the pass; and the daily
 * dormant record. A reload during a pass starts it over on the new
 * registry. A store error ends the pass (the gauges keep the last one).
 */
static void
identity_pass(struct statesync *s, long long now)
{
	if (s->n_dpend > 0)
		dormant_flush(s);
	if (!s->pass_running && bw_mono_ms() < s->next_pass_ms)
		return;
	/* none before the first registry is published (the thread starts
	 * before it): the pass waits for it, tick by tick */
	struct runtime *rt = runtime_current();
	if (rt == NULL)
		return;
	if (!s->pass_running) {
		s->pass_running = true;
		s->pass_pos = 0;
		s->n_sig = 0;
		s->pass_rev[0] = '\0';
		s->next_pass_ms = bw_mono_ms() + STATESYNC_PASS_MS;
	}
	const struct registry *r = rt->reg;
	if (strcmp(s->pass_rev, r->revision) != 0) {
		bw_strlcpy(s->pass_rev, r->revision, sizeof(s->pass_rev));
		s->pass_pos = 0;
		s->n_sig = 0;
	}
	if (strcmp(s->dorm_rev, r->revision) != 0) {
		long long *d = r->n_ids ? calloc(r->n_ids, sizeof(*d)) : NULL;
		if (d != NULL || r->n_ids == 0) {
			free(s->dorm_next);
			s->dorm_next = d;
			s->n_dorm = r->n_ids;
			bw_strlcpy(s->dorm_rev, r->revision, sizeof(s->dorm_rev));
		}
	}
	bool want_sig = r->set.metrics_listen != NULL;
	if (want_sig && s->cap_sig < r->n_ids * BW_SIG__COUNT) {
		struct metrics_signal *g = realloc(s->sig, r->n_ids * BW_SIG__COUNT * sizeof(*g));
		if (g == NULL) { /* no partial table: this pass ends, the next tries again */
			diag(LOG_WARNING, "signal gauges: out of memory");
			pass_end(s);
			runtime_release(rt);
			return;
		} else {
			s->sig = g;
			s->cap_sig = r->n_ids * BW_SIG__COUNT;
		}
	}
	for (unsigned k = 0; k < STATESYNC_SLICE && s->pass_pos < r->n_ids; k++, s->pass_pos++) {
		const struct bw_identity *id = &r->ids[s->pass_pos];
		if (want_sig) {
			struct signal_value v[BW_SIG__COUNT];
			if (signals_compute(s->st, id, now, v) != 0) {
				metrics_store(false, now);
				diag(LOG_WARNING, "signal gauges of %s: %s", id->id,
				     state_error(s->st));
				pass_end(s);
				runtime_release(rt);
				return;
			}
			for (int i = 0; i < BW_SIG__COUNT; i++) {
				struct metrics_signal *m = &s->sig[s->n_sig++];
				memset(m, 0, sizeof(*m));
				bw_strlcpy(m->identity, id->id, sizeof(m->identity));
				m->signal = (int)v[i].sig;
				m->state = (int)v[i].state;
				m->waived = v[i].waived;
				m->value = v[i].value;
				m->warn = v[i].thr.warn;
				m->suspend = v[i].thr.suspend;
			}
		}
		if (s->dorm_next != NULL && s->n_dorm == r->n_ids &&
		    s->dorm_next[s->pass_pos] <= now)
			dormant_check(s, r, id, now, &s->dorm_next[s->pass_pos]);
	}
	if (s->pass_pos >= r->n_ids) {
		if (want_sig && metrics_signals(s->sig, s->n_sig, now) != 0)
			diag(LOG_WARNING, "signal gauges: out of memory");
		pass_end(s);
	}
	runtime_release(rt);
}

/* The watcher: wake the state thread as soon as a change is announced
 * (pub/sub); polling the version every tick stays as the fallback. */
static void *
watch_run(void *arg)
{
	struct statesync *s = arg;
	for (;;) {
		pthread_mutex_lock(&s->lock);
		bool stop = s->stop;
		pthread_mutex_unlock(&s->lock);
		if (stop)
			break;
		int r = state_wait_change(s->watch, STATESYNC_TICK_MS);
		if (r > 0) {
			pthread_mutex_lock(&s->lock);
			pthread_cond_signal(&s->cond);
			pthread_mutex_unlock(&s->lock);
		} else if (r < 0) {
			struct timespec d = {0, STATESYNC_TICK_MS * 1000000L};
			nanosleep(&d, NULL); /* the store is away: the poll notices too */
		}
	}
	return NULL;
}

static void *
run(void *arg)
{
	struct statesync *s = arg;
	long long last_counters = bw_mono_ms();

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
		long long ms = bw_mono_ms();
		if (stop || ms - s->last_flush_ms >= STATESYNC_FLUSH_MS) {
			s->last_flush_ms = ms;
			if (state_expire(s->st, now, log_audit, NULL) < 0)
				diag(LOG_WARNING, "expiring suspensions: %s", state_error(s->st));
			if (state_waiver_expire(s->st, now, log_audit, NULL) < 0)
				diag(LOG_WARNING, "expiring waivers: %s", state_error(s->st));
			flush_counters(s);
			if (s->lim != NULL)
				limits_flush(s->lim, s->st);
			drain_audit(s);
		}
		poll_suspensions(s, now);
		suppress_set_poll(s->st);
		if (!stop)
			identity_pass(s, now);
		if (stop || ms - last_counters >= (long long)interval * 1000) {
			emit_counters(s, now);
			last_counters = ms;
		}
		if (stop)
			break;
	}
	return NULL;
}

struct statesync *
statesync_start(struct state *st, struct state *watch, struct overlay *ov, struct limits *lim,
		unsigned counters_interval, unsigned stale_after, char *err, size_t errlen)
{
	struct statesync *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->st = st;
	s->watch = watch;
	s->ov = ov;
	s->lim = lim;
	s->stale_ms = (long long)stale_after * 1000;
	s->interval = counters_interval ? counters_interval
					: (unsigned)setting(S_LOG_COUNTERS_INTERVAL)->idef;
	s->interval_start = (long long)time(NULL);
	s->last_ok_ms = bw_mono_ms();
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	pthread_cond_init(&s->audit_done, NULL);

	long long now = (long long)time(NULL);
	/* the suspension set must be known before the first message */
	s->last_ok_ms = bw_mono_ms() - s->stale_ms; /* a failure now is final */
	poll_suspensions(s, now);
	if (!s->have_version) {
		snprintf(err, errlen, "reading suspensions: %s", state_error(st));
		goto fail;
	}
	if (pthread_create(&s->tid, NULL, run, s) != 0) {
		snprintf(err, errlen, "cannot start the state thread: %s", strerror(errno));
		goto fail;
	}
	if (watch != NULL && pthread_create(&s->watch_tid, NULL, watch_run, s) == 0)
		s->watching = true;
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
	s->interval = counters_interval ? counters_interval
					: (unsigned)setting(S_LOG_COUNTERS_INTERVAL)->idef;
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
	if (s->watching)
		pthread_join(s->watch_tid, NULL);
	if (s->retry != NULL)
		diag(LOG_ERR, "exiting with %zu counter rows the store did not take", s->n_retry);
	if (s->n_dpend > 0)
		dormant_flush(s);
	if (s->n_dpend > 0)
		diag(LOG_ERR, "exiting with %zu dormant records the store did not take",
		     s->n_dpend);
	free(s->retry);
	free(s->sig);
	free(s->dorm_next);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s);
}
