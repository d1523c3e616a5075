/*
 * limits.h - fleet-wide exact volume limits for the milter: each
 * reservation is an atomic check-and-add in the state store (one Redis
 * script call, or one SQLite transaction) through a small pool of store
 * handles, so relays and processes sharing the store never grant more than
 * a limit between them. While the store is unreachable the milter decides
 * from its last view of the counts for state.stale_after seconds, keeping
 * what it grants meanwhile to add to the store when it is back; after
 * that, reservations fail (state-error).
 */
#ifndef BW_LIMITS_H
#define BW_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

#include "registry/registry.h"
#include "state/state.h"

#define LIMITS_POOL_MAX 16 /* store handles for message threads */

struct limits;

/* A pool for the store named by r's settings (handles opened on first
 * use); r is retained until limits_free. */
struct limits *limits_new(struct registry *r, char *err, size_t errlen);
void limits_free(struct limits *l);
/* Reserve msgs messages and rcpts recipients for id: 0 taken, 1 over a
 * limit (why says which), -1 no decision possible (why says why). */
int limits_reserve(struct limits *l, const struct bw_identity *id, unsigned msgs, unsigned rcpts,
		   long long now, char *why, size_t len);
/* Give back a reservation taken at time `when` (the message was not sent);
 * applied to the store by limits_flush. */
void limits_release(struct limits *l, const char *id, unsigned msgs, unsigned rcpts,
		    long long when);
/* Apply queued releases and offline reservations (background thread). */
void limits_flush(struct limits *l, struct state *st);
/* The background thread reached the store just now. */
void limits_store_ok(struct limits *l);

#endif
