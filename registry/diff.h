/*
 * diff.h - what changed between two registry snapshots, per identity: the
 * change-control record a reload writes to the audit log (SPEC §10).
 *
 * Security-relevant fields are the ones that change who may send what as
 * the identity: logins, networks, envelope and From domains, DKIM keys
 * (domain, selector, file, algorithm and the key itself), owners, limits,
 * mode, dkim_mode and platform. An approval change is reported too, as
 * "approval", and is not itself a security change.
 */
#ifndef BW_REGISTRY_DIFF_H
#define BW_REGISTRY_DIFF_H

#include <stdbool.h>
#include <stddef.h>

#include "registry/registry.h"

#define REGISTRY_DIFF_TEXT 480 /* one identity's change text; "..." when cut */

/* One identity's change: text like "+login svc-new; -network 10.0.0.0/8;
 * dkim nl@example.com key changed"; "added" or "removed" for a whole
 * identity. security is false when only the approval changed. */
typedef void (*registry_diff_fn)(const char *id, const char *text, bool security, void *arg);

/* Call fn for every identity added, removed or changed from old to new, in
 * new's order then the removed ones in old's. Returns the count. */
size_t registry_diff(const struct registry *old, const struct registry *new, registry_diff_fn fn,
		     void *arg);

#endif
