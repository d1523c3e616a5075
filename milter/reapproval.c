/*
 * reapproval.c - change times noted into a registry snapshot at load
 * (reapproval.h). Runs in the main thread before the snapshot is published
 * (a reload) or before the state thread starts (start, -n), so the store
 * handle and the snapshot are its alone.
 *
 * Memory: nothing of its own; registry_note_change() allocates the pending
 * reason in the snapshot's arena. Untrusted input: identity ids read from
 * the store are looked up in the registry, never used as indexes.
 */
#include "config.h"

#include <stdio.h>
#include <syslog.h>

#include "base/util.h"
#include "milter/reapproval.h"
#include "registry/diff.h"

/* One identity's last change from the store. */
static int
load_cb(const char *id, long long ts, void *arg)
{
	registry_note_change(arg, id, ts);
	return 0;
}

/* Say (syslog) that id is pending until re-approved, when it is. */
static void
say_pending(const struct registry *r, const char *idname)
{
	const struct bw_identity *id = registry_by_id(r, idname);
	if (id != NULL && r->set.require_reapproval && id->pending_why != NULL &&
	    registry_changed_since_approval(id, id->changed_at))
		diag(LOG_WARNING, "identity %s is pending: %s", id->id, id->pending_why);
}

int
reapproval_load(struct registry *r, struct state *st, char *err, size_t errlen)
{
	if (state_last_changes(st, load_cb, r) != 0) {
		snprintf(err, errlen, "configuration changes: %s", state_error(st));
		return -1;
	}
	return 0;
}

void
reapproval_log(const struct registry *r)
{
	for (size_t i = 0; i < r->n_ids; i++)
		say_pending(r, r->ids[i].id);
}

struct reload_ctx {
	struct registry *r;
	long long now;
};

/* One identity the reload changed. */
static void
diff_cb(const char *id, const char *text BW_UNUSED, bool security, void *arg)
{
	struct reload_ctx *x = arg;
	if (security) {
		registry_note_change(x->r, id, x->now);
		say_pending(x->r, id); /* pending from this reload on */
	}
}

void
reapproval_reload(struct registry *r, const struct registry *old, long long now)
{
	struct reload_ctx x = {r, now};
	if (old == NULL)
		return;
	for (size_t i = 0; i < old->n_ids; i++) /* few have a change: look those up */
		if (old->ids[i].changed_at != 0)
			registry_note_change(r, old->ids[i].id, old->ids[i].changed_at);
	registry_diff(old, r, diff_cb, &x);
}
