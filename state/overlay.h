/*
 * overlay.h - the milter's in-memory view of runtime state: which
 * identities are suspended, and per-identity message volume for the
 * current hour and day. The message path reads and updates only this view
 * (never the store); milter/statesync.c keeps it in step with the store from a
 * background thread.
 *
 * Thread-safe: one mutex guards the table; every call holds it for a hash
 * probe and a few additions.
 */
#ifndef BW_OVERLAY_H
#define BW_OVERLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "state/state.h"
#include "registry/check.h"

struct overlay;

/* A pending counter change for the store: one identity, one hour. */
struct overlay_delta {
	char id[STATE_ID_MAX + 1];
	long long hour;
	struct state_counts counts;
};

struct overlay *overlay_new(void);
void overlay_free(struct overlay *o);

/* 1 suspended (reason copied), 0 not, -1 the view is unknown or stale. */
int overlay_suspended(struct overlay *o, const char *id, char *reason, size_t len);
/* Replace the whole suspension set, marking the view fresh. */
int overlay_set_suspensions(struct overlay *o, const struct state_suspension *s, size_t n);
/* Mark the view stale (store unreachable): lookups answer -1. */
void overlay_set_stale(struct overlay *o);

/* Replace the set of waivers in force (state_waivers), copied; -1 out of
 * memory (the old set stays). */
int overlay_set_waivers(struct overlay *o, const struct state_waiver *w, size_t n);
/* Copy into out (at most max) the waivers of id and kind ("check",
 * "signal") still in force at now (until > now: a waiver stops applying at
 * its time even before the store records the expiry). Returns the count. */
size_t overlay_waivers(struct overlay *o, const char *id, const char *kind, long long now,
		       struct state_waiver *out, size_t max);

/* Reserve one message against the limits (0 = none). Returns 0 and counts
 * the message in flight, or 1 (not counted) with why filled when it would
 * exceed a limit. Windows are the UTC clock hour and day. */
int overlay_reserve(struct overlay *o, const char *id, uint64_t per_hour, uint64_t per_day,
		    long long now, char *why, size_t len);
/* The message ended: drop its reservation (if any, taken at reserved_at:
 * the `now` given to overlay_reserve) and count its outcome. */
void overlay_finish(struct overlay *o, const char *id, bool reserved, long long reserved_at,
		    enum bw_action outcome, unsigned rcpts, uint64_t bytes, long long now);
/* As overlay_finish, also counting the message in auth_failed when its
 * spf, dkim or dmarc check failed (policy_auth_failed). */
void overlay_finish_auth(struct overlay *o, const char *id, bool reserved, long long reserved_at,
			 enum bw_action outcome, unsigned rcpts, uint64_t bytes, bool auth_failed,
			 long long now);
/* The transaction was abandoned: drop its reservation (taken at
 * reserved_at), count nothing. */
void overlay_release(struct overlay *o, const char *id, long long reserved_at, long long now);
/* Seed the counts from the store (startup): messages counted toward the
 * limits in the current hour and day. */
void overlay_seed(struct overlay *o, const char *id, long long now, uint64_t hour_sent,
		  uint64_t day_sent);

/* Move pending store deltas out (malloc'ed array). */
int overlay_take_deltas(struct overlay *o, struct overlay_delta **out, size_t *n);
/* Give deltas back after a failed flush, so nothing is lost. */
void overlay_return_deltas(struct overlay *o, const struct overlay_delta *d, size_t n);
/* Per-identity counts since the last call (for counter events), reset. */
int overlay_take_interval(struct overlay *o, struct overlay_delta **out, size_t *n);

#endif
