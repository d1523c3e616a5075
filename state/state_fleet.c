/*
 * state_fleet.c - the backend-neutral half of what a fleet needs from the
 * state store: the limits' use counts (state_reserve and the pure check
 * behind it), change notification, and moving a whole store (export rows,
 * verbatim imports). Dispatch over struct state_ops as in state.c.
 *
 * Memory: arrays handed back are malloc'ed for the caller. Untrusted
 * input: ids and rows to import (checked here before any backend sees
 * them).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_int.h"

enum state_over
state_usage_check(const struct state_usage *u, const struct state_limits *lim, unsigned msgs,
		  unsigned rcpts)
{
	if (lim->msg_hour != 0 && u->msg_hour + msgs > lim->msg_hour)
		return STATE_OVER_MSG_HOUR;
	if (lim->msg_day != 0 && u->msg_day + msgs > lim->msg_day)
		return STATE_OVER_MSG_DAY;
	if (lim->rcpt_hour != 0 && u->rcpt_hour + rcpts > lim->rcpt_hour)
		return STATE_OVER_RCPT_HOUR;
	if (lim->rcpt_day != 0 && u->rcpt_day + rcpts > lim->rcpt_day)
		return STATE_OVER_RCPT_DAY;
	return STATE_OVER_NONE;
}

const char *
state_over_name(enum state_over o)
{
	switch (o) {
	case STATE_OVER_MSG_HOUR:
		return "messages this hour";
	case STATE_OVER_MSG_DAY:
		return "messages today";
	case STATE_OVER_RCPT_HOUR:
		return "recipients this hour";
	case STATE_OVER_RCPT_DAY:
		return "recipients today";
	default:
		return "none";
	}
}

int
state_reserve(struct state *s, const char *id, long long now, unsigned msgs, unsigned rcpts,
	      const struct state_limits *lim, struct state_usage *use, enum state_over *over)
{
	if (!state_check_id(s, id))
		return -1;
	long long hour = now - now % 3600, day = now - now % 86400;
	memset(use, 0, sizeof(*use));
	*over = STATE_OVER_NONE;
	return s->ops->reserve(s, id, hour, day, msgs, rcpts, lim, use, over);
}

int
state_usage_add(struct state *s, const struct state_usage_delta *d, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!state_check_id(s, d[i].id))
			return -1;
	return n == 0 ? 0 : s->ops->usage_add(s, d, n);
}

int
state_usage_get(struct state *s, const char *id, long long now, struct state_usage *use)
{
	if (!state_check_id(s, id))
		return -1;
	memset(use, 0, sizeof(*use));
	return s->ops->usage_get(s, id, now - now % 3600, now - now % 86400, use);
}

int
state_counters_rows(struct state *s,
		    int (*fn)(const char *id, long long hour, const struct state_counts *c,
			      void *arg),
		    void *arg)
{
	return s->ops->counters_rows(s, fn, arg);
}

int
state_usage_rows(struct state *s,
		 int (*fn)(const char *id, int win, long long start, uint64_t msgs, uint64_t rcpts,
			   void *arg),
		 void *arg)
{
	return s->ops->usage_rows(s, fn, arg);
}

int
state_suspensions_all(struct state *s, struct state_suspension **out, size_t *n)
{
	return s->ops->suspensions(s, 0, out, n); /* until > 0 holds for every dated one */
}

int
state_import_audit(struct state *s, const struct state_audit *rec)
{
	if (rec->seq < 1 || strlen(rec->hash) != STATE_HASH_HEX ||
	    strlen(rec->prev_hash) != STATE_HASH_HEX) {
		state_set_error(s, "audit record %lld: bad seq or hash", rec->seq);
		return -1;
	}
	return s->ops->import_audit(s, rec);
}

int
state_import_suspension(struct state *s, const struct state_suspension *sp)
{
	if (!state_check_id(s, sp->id) ||
	    !state_check_text(s, "reason", sp->reason, true, STATE_TEXT_MAX) ||
	    !state_check_text(s, "actor", sp->by, true, STATE_NAME_MAX))
		return -1;
	return s->ops->import_suspension(s, sp);
}

int
state_import_usage(struct state *s, const char *id, int win, long long start, uint64_t msgs,
		   uint64_t rcpts)
{
	if (!state_check_id(s, id) || (win != 0 && win != 1)) {
		state_set_error(s, "bad use-count row");
		return -1;
	}
	return s->ops->import_usage(s, id, win, start, msgs, rcpts);
}

/* Stop at the first row. */
static int
any_audit(const struct state_audit *rec, void *arg)
{
	(void)rec;
	*(bool *)arg = true;
	return 1;
}

static int
any_counter(const char *id, long long hour, const struct state_counts *c, void *arg)
{
	(void)id, (void)hour, (void)c;
	*(bool *)arg = true;
	return 1;
}

int
state_is_empty(struct state *s)
{
	bool any = false;
	struct state_suspension *v = NULL;
	size_t n = 0;
	if (state_audit_foreach(s, any_audit, &any) != 0 ||
	    state_counters_rows(s, any_counter, &any) != 0 || state_suspensions_all(s, &v, &n) != 0)
		return -1;
	free(v);
	return !any && n == 0;
}

int
state_wait_change(struct state *s, unsigned timeout_ms)
{
	if (s->ops->wait_change == NULL) {
		state_set_error(s, "the %s backend has no change notification", s->ops->name);
		return -1;
	}
	return s->ops->wait_change(s, timeout_ms);
}

bool
state_has_notify(const struct state *s)
{
	return s->ops->wait_change != NULL;
}
