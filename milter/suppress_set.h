/*
 * suppress_set.h - the milter's copy of the suppression list (SPEC §9): one
 * set of the 16-byte keyed hashes of every identity (base/keyset.h; the
 * identity is inside each hash), looked up at RCPT in O(1) without touching
 * the store, and kept up to date by the state thread from the store's
 * change sequence (incremental: only entries changed since the last
 * number applied are read).
 *
 * Memory: the set and the site key, process-wide, freed by
 * suppress_set_stop(). Threads: lookups (any milter thread) take a read
 * lock; the state thread takes the write lock per batch of changes.
 */
#ifndef BW_SUPPRESS_SET_H
#define BW_SUPPRESS_SET_H

#include <stddef.h>

#include "registry/registry.h"
#include "state/state.h"

/* Load the site key (if there is one) and every entry: 0, or -1 with err
 * (the daemon does not start on a list it cannot read). */
int suppress_set_start(const struct bw_settings *set, struct state *st, char *err, size_t errlen);
/* Apply what changed in the store since the last call (state thread). */
void suppress_set_poll(struct state *st);
/* Is rcpt (RCPT TO argument) on id's list? 1 yes, 0 no, -1 cannot tell
 * (entries exist but the key is missing or is not the fleet's). */
int suppress_set_check(const char *id, const char *rcpt);
/* Entries held. */
size_t suppress_set_count(void);
void suppress_set_stop(void);

#endif
