/*
 * state_suppress.c - the backend-neutral half of the suppression list:
 * argument checks, the audit record of a change, and dispatch to the
 * backend's supp_* operations (state_int.h).
 *
 * The audit record never holds the address, nor the whole entry: its
 * detail names the first SUPPRESS_SHOW_HEX hex digits of the hash, enough
 * to find the entry in `bulkwardenctl suppressions ID`, not to test
 * guesses offline. Memory: none kept. Untrusted input: reason, actor and
 * ticket from the command line or a complaint report (checked, bounded).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "state/state_int.h"
#include "state/suppress.h"
#include "base/util.h"

/* The backend has a suppression list, else the error is set. */
static bool
has_supp(struct state *s)
{
	if (s->ops->supp_change != NULL)
		return true;
	state_set_error(s, "the %s state backend has no suppression list", s->ops->name);
	return false;
}

int
state_suppress(struct state *s, const char *id, const unsigned char h[STATE_SUPP_BYTES], bool add,
	       const char *reason, const char *by, const char *ticket, long long now,
	       struct state_audit *rec)
{
	struct state_audit local;
	char hex[SUPPRESS_HEX + 1];
	if (rec == NULL)
		rec = &local;
	if (!state_check_id(s, id) ||
	    !state_check_text(s, "reason", reason, true, STATE_TEXT_MAX) ||
	    !state_check_text(s, "actor", by, true, STATE_NAME_MAX) ||
	    !state_check_text(s, "ticket", ticket, false, STATE_NAME_MAX) || !has_supp(s))
		return -1;
	memset(rec, 0, sizeof(*rec));
	rec->ts = now;
	bw_strlcpy(rec->action, add ? "suppress" : "unsuppress", sizeof(rec->action));
	bw_strlcpy(rec->actor, by, sizeof(rec->actor));
	bw_strlcpy(rec->identity, id, sizeof(rec->identity));
	bw_strlcpy(rec->reason, reason, sizeof(rec->reason));
	bw_strlcpy(rec->ticket, ticket ? ticket : "", sizeof(rec->ticket));
	suppress_hex(h, SUPPRESS_SHOW_HEX / 2, hex);
	state_detail(s, rec->detail, "recipient hmac %s", hex);
	return s->ops->supp_change(s, id, h, add, now, rec);
}

int
state_supp_changes(struct state *s, long long since,
		   int (*fn)(const struct state_supp *e, void *arg), void *arg)
{
	if (s->ops->supp_changes == NULL)
		return 0; /* no list: nothing listed */
	return s->ops->supp_changes(s, since < 0 ? 0 : since, fn, arg);
}

int
state_supp_count(struct state *s, const char *id, uint64_t *n)
{
	*n = 0;
	if (id != NULL && !state_check_id(s, id))
		return -1;
	if (s->ops->supp_count == NULL)
		return 0;
	return s->ops->supp_count(s, id, n);
}

int
state_supp_keycheck(struct state *s, const unsigned char check[STATE_SUPP_BYTES])
{
	if (!has_supp(s))
		return -1;
	return s->ops->supp_keycheck(s, check);
}

int
state_import_supp(struct state *s, const struct state_supp *e)
{
	if (!state_check_id(s, e->id) || !has_supp(s))
		return -1;
	return s->ops->supp_import(s, e);
}
