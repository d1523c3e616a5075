/*
 * msg.h - one message's context in the milter: the verdict, the pinned
 * runtime snapshot, the DKIM handle, the DNS budget of the current stage,
 * and what the event needs (ids, size). It lives inside the connection
 * context (no allocation per message) and is reset explicitly for each
 * message by msg_reset(); msg_cleanup() is the one place that releases what
 * a message holds (called from eom, abort, close and refusals).
 */
#ifndef BW_MSG_H
#define BW_MSG_H

#include <stdbool.h>

#include "dkim/bwdkim.h"
#include "dns/resolver.h"
#include "milter/runtime.h"
#include "policy/policy.h"

#define MSG_EVENT_ID_BYTES 12 /* 96 random bits, 24 hex digits */
#define MSG_QUEUE_ID_MAX 64

/*
 * The verdict comes first: msg_reset() resets it with
 * policy_verdict_reset() and zeroes every byte after it, so a field added
 * below is cleared for each message without further code
 * (tests/unit/test_reset.c).
 */
struct msgctx {
	struct verdict v;
	struct runtime *rt; /* pinned for the whole message; NULL: no message open */
	struct policy_env env;
	struct resolver_budget budget; /* the current stage's DNS lookups */
	struct bwdkim_msg *dkim;       /* signing or verifying, identities with keys */
	unsigned client_feedback;      /* client copies of headers only we write */
	long long size;
	long long t0_us; /* CLOCK_MONOTONIC at msg_open, for the latency metric */
	bool failed_alloc;
	char event_id[2 * MSG_EVENT_ID_BYTES + 1];
	char queue_id[MSG_QUEUE_ID_MAX];
	unsigned res_msgs, res_rcpts; /* what limits_reserve took (given back if not sent) */
	long long res_when;
#ifdef BW_TEST_SENTINEL
	unsigned long test_sentinel; /* a field added last: reset must clear it */
#endif
};

/* Every field at its reset value (no message open). */
void msg_reset(struct msgctx *m);
/* Open a message pinning rt (the caller's reference moves to m). */
void msg_open(struct msgctx *m, struct runtime *rt);
/* Release what m holds (DKIM handle, verdict memory, the runtime), then
 * msg_reset(). Safe on a reset context. */
void msg_cleanup(struct msgctx *m);
/* true while a message is open. */
bool msg_is_open(const struct msgctx *m);

#endif
