/*
 * signals.h - the feedback signals of an identity (SPEC §9), computed
 * from the state store, and what bulkwardenctl does when one crosses its
 * thresholds (ctl/signals.c): `bulkwardenctl signals` shows them, and
 * `bulkwardenctl ingest` evaluates the identities a report counted for.
 */
#ifndef BW_CTL_SIGNALS_H
#define BW_CTL_SIGNALS_H

#include <stdbool.h>
#include <stdint.h>

#include "ctl/verbs.h"
#include "registry/registry.h"
#include "state/signals.h"
#include "state/state.h"

/* After a report counted for id: a signal at suspend suspends it
 * (state_auto_suspend: never shortens one in force), one at warn writes a
 * threshold-warning record once per identity, signal and window. Each
 * audit record written is passed to emit (may be NULL). 0, or -1 with why
 * (the store failed: the caller answers EX_TEMPFAIL). */
int signals_enforce(struct state *st, const struct bw_identity *id, long long now,
		    void (*emit)(const struct state_audit *rec, void *arg), void *arg, char *why,
		    size_t whylen);

/* `bulkwardenctl signals [ID] [--json]` */
int ctl_signals(struct ctl *c, int argc, char **argv);

#endif
