/*
 * statesync.h - the milter's background thread between the state store and
 * the in-memory overlay: picks up suspensions within a second, lifts
 * expired ones, flushes counters every second and at shutdown, appends
 * audit records other threads hand in, and writes counter and audit
 * events. Once a minute, a few identities per tick: the feedback signals
 * for /metrics (metrics.listen set) and the daily dormant audit record.
 */
#ifndef BW_STATESYNC_H
#define BW_STATESYNC_H

#include "state/overlay.h"
#include "state/state.h"
#include "policy/event.h"

#define STATESYNC_TICK_MS 250     /* suspension poll period */
#define STATESYNC_FLUSH_MS 1000   /* counter flush and expiry period */
#define STATESYNC_PASS_MS 60000   /* identity pass (signal gauges, dormancy): at most this often */
#define STATESYNC_SLICE 16        /* identities of the pass per tick */

struct statesync;

struct limits;

/* Read the suspension set and start the thread. watch (may be NULL): a
 * second handle to wait on for change announcements. lim (may be NULL): the
 * limits whose queued use deltas the thread flushes. The overlay goes stale
 * when the store has been unreadable for stale_after seconds. */
struct statesync *statesync_start(struct state *st, struct state *watch, struct overlay *ov,
				  struct limits *lim, unsigned counters_interval,
				  unsigned stale_after, char *err, size_t errlen);
/* Append an audit record through the thread (any other thread) and wait
 * for it: 0 when it is in the store (and its event written), -1 when it
 * could not be written; the caller then must not make the change. */
int statesync_audit(struct statesync *s, const struct state_audit *rec);
/* Set the interval of counter events (reload). */
void statesync_set_interval(struct statesync *s, unsigned counters_interval);
/* Stop: final flush of counters and queued audit records, then join. */
void statesync_stop(struct statesync *s);

#endif
