/*
 * reapproval.h - change control at load (SPEC §10,
 * policy.require_reapproval): the time of each identity's last
 * security-relevant change, noted into a registry snapshot before it is
 * published, so that an identity changed since its approval loads as
 * pending when re-approval is required (registry_note_change()).
 *
 * Where the times come from: at start (and for `bulkwarden -n`), the state
 * store's audit log (state_last_changes()); on a reload, the previous
 * snapshot's times carried over plus the reload's own diff (the same diff
 * that writes the config-change records).
 */
#ifndef BW_REAPPROVAL_H
#define BW_REAPPROVAL_H

#include <stddef.h>

#include "registry/registry.h"
#include "state/state.h"

/* Note every identity's last change recorded in the store into r. Returns
 * 0, or -1 with err filled (the store could not be read). */
int reapproval_load(struct registry *r, struct state *st, char *err, size_t errlen);

/* Log (diag) every identity of r pending until re-approved. */
void reapproval_log(const struct registry *r);

/* A reload from old to r at time now: carry old's change times over and
 * note every identity the diff finds changed in a security-relevant way
 * (logging each one this makes pending). */
void reapproval_reload(struct registry *r, const struct registry *old, long long now);

#endif
