/*
 * event.h - the decision event (SPEC §5): a verdict and what the milter
 * knows of the message, written as one JSON line with base/json.h.
 * Pure code: building an event does no I/O.
 */
#ifndef BW_EVENT_H
#define BW_EVENT_H

#include <stdbool.h>
#include <stddef.h>

#include "base/json.h"
#include "policy/policy.h"

/* What the milter knows about the message beyond the verdict. */
struct event_msg {
	const char *event_id;
	const char *queue_id;   /* "" when unknown */
	const char *client_ip;
	const char *stage;      /* mail | rcpt | eoh | eom | abort */
	enum policy_outcome outcome; /* the action applied, or abort */
	const char *xcode;      /* enhanced status code sent, "" for accept */
	long long size;         /* body bytes seen */
	long long ts_sec;
	long ts_msec;
};

/* Build the decision event for a message into j. */
void event_decision(struct jbuf *j, const struct registry *r, const struct verdict *v,
		    const struct event_msg *m);

#endif
