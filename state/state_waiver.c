/*
 * state_waiver.c - the backend-neutral half of waivers (SPEC §9, state.h):
 * which checks and signals may be waived, the argument checks every
 * backend relies on, and dispatch over struct state_ops.
 *
 * A waiver never lifts a suspension (SPEC §6: reinstate is the only way
 * back) and never admits a sender the registry does not vouch for, so the
 * attribution, lifecycle and store checks are not waivable; the rule lives
 * here so that no caller (bulkwardenctl, import, a later API) can skip it.
 *
 * Memory: arrays handed back are malloc'ed for the caller. Untrusted
 * input: every string of a grant (the command line) and imported rows.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "state/state_int.h"
#include "registry/check.h"

const char *const state_waiver_signals[] = {
    "complaint_rate", "hard_bounce_rate", "dmarc_fail_rate",
    "volume_surge",   "new_sending_path", NULL,
};

bool
state_waiver_name_ok(const char *kind, const char *name, const char **why)
{
	if (kind == NULL || name == NULL) {
		*why = "a waiver needs a kind and a name";
		return false;
	}
	if (strcmp(kind, "signal") == 0) {
		for (size_t i = 0; state_waiver_signals[i] != NULL; i++)
			if (strcmp(name, state_waiver_signals[i]) == 0)
				return true;
		*why = "unknown signal (complaint_rate, hard_bounce_rate, dmarc_fail_rate, "
		       "volume_surge, new_sending_path)";
		return false;
	}
	if (strcmp(kind, "check") != 0) {
		*why = "a waiver's kind is check or signal";
		return false;
	}
	switch (check_by_name(name)) {
	case -1:
		*why = "unknown check id";
		return false;
	case BW_CHK_SUSPENDED:
		*why = "a suspension cannot be waived: only reinstate lifts it";
		return false;
	case BW_CHK_UNREGISTERED:
		*why = "an unregistered sender cannot be waived: register the identity";
		return false;
	case BW_CHK_NOT_ACTIVE:
		*why = "a pending or retired identity cannot be waived: approve or renew it";
		return false;
	case BW_CHK_STATE_ERROR:
	case BW_CHK_INTERNAL_ERROR:
		*why = "a failure of bulkwarden itself cannot be waived";
		return false;
	default:
		return true;
	}
}

/* The waiver's text fields: present and bounded (all four are required). */
static bool
check_waiver(struct state *s, const struct state_waiver *w)
{
	const char *why;
	if (!state_check_id(s, w->id))
		return false;
	if (memchr(w->kind, '\0', sizeof(w->kind)) == NULL ||
	    memchr(w->name, '\0', sizeof(w->name)) == NULL ||
	    !state_waiver_name_ok(w->kind, w->name, &why)) {
		state_set_error(s, "%s", memchr(w->name, '\0', sizeof(w->name)) ? why : "bad name");
		return false;
	}
	return state_check_text(s, "reason",
				memchr(w->reason, '\0', sizeof(w->reason)) ? w->reason : NULL, true,
				STATE_TEXT_MAX) &&
	       state_check_text(s, "requester", memchr(w->by, '\0', sizeof(w->by)) ? w->by : NULL,
				true, STATE_NAME_MAX) &&
	       state_check_text(s, "approver",
				memchr(w->approver, '\0', sizeof(w->approver)) ? w->approver : NULL,
				true, STATE_NAME_MAX) &&
	       state_check_text(s, "ticket",
				memchr(w->ticket, '\0', sizeof(w->ticket)) ? w->ticket : NULL, true,
				STATE_NAME_MAX);
}

/* Whether the backend keeps waivers (every built one does; a NULL op is a
 * backend written before them). */
static bool
supported(struct state *s)
{
	if (s->ops->waivers == NULL) {
		state_set_error(s, "the %s backend does not keep waivers", s->ops->name);
		return false;
	}
	return true;
}

int
state_waiver_grant(struct state *s, struct state_waiver *w, long long now, struct state_audit *rec)
{
	struct state_audit local;
	if (!supported(s) || !check_waiver(s, w))
		return -1;
	if (state_same_actor(w->by, w->approver)) {
		state_set_error(s, "the approver must be someone other than the requester (%s)",
				w->by);
		return -1;
	}
	if (w->until <= now) {
		state_set_error(s, "a waiver must end in the future");
		return -1;
	}
	w->created = now;
	w->ended = 0;
	w->wid = 0;
	return s->ops->waiver_grant(s, w, now, rec ? rec : &local);
}

int
state_waivers(struct state *s, const char *id, long long now, bool all, struct state_waiver **out,
	      size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!supported(s) || (id != NULL && !state_check_id(s, id)))
		return -1;
	return s->ops->waivers(s, id, now, all, out, n);
}

int
state_waiver_find(struct state *s, const char *id, const char *kind, const char *name,
		  long long now, struct state_waiver *out)
{
	struct state_waiver *v;
	size_t n;
	int found = 1;
	if (kind == NULL || name == NULL) {
		state_set_error(s, "a waiver needs a kind and a name");
		return -1;
	}
	if (state_waivers(s, id, now, false, &v, &n) != 0)
		return -1;
	for (size_t i = 0; i < n && found; i++) {
		if (strcmp(v[i].kind, kind) == 0 && strcmp(v[i].name, name) == 0) {
			if (out != NULL)
				*out = v[i];
			found = 0;
		}
	}
	free(v);
	return found;
}

int
state_waiver_expire(struct state *s, long long now,
		    void (*fn)(const struct state_audit *rec, void *arg), void *arg)
{
	struct state_audit *recs = NULL;
	size_t n = 0;
	if (s->ops->waiver_expire == NULL)
		return 0; /* a backend without waivers has none to end */
	if (s->ops->waiver_expire(s, now, &recs, &n) != 0)
		return -1;
	for (size_t i = 0; fn != NULL && i < n; i++)
		fn(&recs[i], arg);
	free(recs);
	return (int)n;
}

int
state_import_waiver(struct state *s, const struct state_waiver *w)
{
	if (!supported(s) || !check_waiver(s, w))
		return -1;
	if (w->wid < 1 || w->created < 0 || w->until <= 0 || w->ended < 0) {
		state_set_error(s, "waiver %lld: bad number or times", w->wid);
		return -1;
	}
	return s->ops->import_waiver(s, w);
}

bool
state_has_waivers(const struct state *s)
{
	return s->ops->waivers != NULL;
}
