/*
 * state_sqlite_waiver.c - waivers in the SQLite backend (table waivers,
 * WAIVER_SQL in state_sqlite.h): grant, list, expire, import.
 *
 * Every write is one BEGIN IMMEDIATE transaction holding the change and
 * its audit record (state_sqlite_append), as for suspensions. Statements
 * are prepared per call (state_sqlite_fresh): the milter reads waivers only
 * when the store's version changed and looks for expired ones once a
 * second, so a prepare per call costs nothing that matters and keeps the
 * shared statement table of state_sqlite.c untouched.
 *
 * Memory: arrays handed back are malloc'ed for the caller. Untrusted input:
 * stored rows (copied bounded).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_sqlite.h"
#include "base/util.h"

#define W_COLS "wid, id, kind, name, reason, requested_by, approver, ticket, created, until, ended"
#define W_OPEN "ended = 0 AND until > ?1"

/* Read one row of W_COLS. */
static void
read_row(sqlite3_stmt *q, struct state_waiver *w)
{
	memset(w, 0, sizeof(*w));
	w->wid = sqlite3_column_int64(q, 0);
	state_sqlite_col_copy(q, 1, w->id, sizeof(w->id));
	state_sqlite_col_copy(q, 2, w->kind, sizeof(w->kind));
	state_sqlite_col_copy(q, 3, w->name, sizeof(w->name));
	state_sqlite_col_copy(q, 4, w->reason, sizeof(w->reason));
	state_sqlite_col_copy(q, 5, w->by, sizeof(w->by));
	state_sqlite_col_copy(q, 6, w->approver, sizeof(w->approver));
	state_sqlite_col_copy(q, 7, w->ticket, sizeof(w->ticket));
	w->created = sqlite3_column_int64(q, 8);
	w->until = sqlite3_column_int64(q, 9);
	w->ended = sqlite3_column_int64(q, 10);
}

static void
read_row_any(sqlite3_stmt *q, void *row)
{
	read_row(q, row);
}

/* Every row of q (bound by the caller) into a malloc'ed array; finalizes q. */
static int
collect(struct sqlite_state *ss, sqlite3_stmt *q, struct state_waiver **out, size_t *n)
{
	return state_sqlite_collect(ss, q, true, sizeof(**out), read_row_any, (void **)out, n,
				    "the waivers");
}

/* Insert w (wid 0: a new number) inside an open transaction; sets w->wid. */
static int
insert(struct sqlite_state *ss, struct state_waiver *w)
{
	sqlite3_stmt *q = state_sqlite_fresh(
	    ss, "INSERT INTO waivers (wid, id, kind, name, reason, requested_by, approver, ticket, "
		"created, until, ended) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)");
	if (q == NULL)
		return -1;
	if (w->wid > 0)
		sqlite3_bind_int64(q, 1, w->wid);
	else
		sqlite3_bind_null(q, 1);
	state_sqlite_bind_text(q, 2, w->id);
	state_sqlite_bind_text(q, 3, w->kind);
	state_sqlite_bind_text(q, 4, w->name);
	state_sqlite_bind_text(q, 5, w->reason);
	state_sqlite_bind_text(q, 6, w->by);
	state_sqlite_bind_text(q, 7, w->approver);
	state_sqlite_bind_text(q, 8, w->ticket);
	sqlite3_bind_int64(q, 9, w->created);
	sqlite3_bind_int64(q, 10, w->until);
	sqlite3_bind_int64(q, 11, w->ended);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return state_sqlite_fail(ss, rc, "store the waiver");
	w->wid = sqlite3_last_insert_rowid(ss->db);
	return 0;
}

/* End waiver wid at now (expiry or replacement). */
static int
end_one(struct sqlite_state *ss, long long wid, long long now)
{
	sqlite3_stmt *q = state_sqlite_fresh(ss, "UPDATE waivers SET ended = ?2 WHERE wid = ?1");
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, wid);
	sqlite3_bind_int64(q, 2, now > 0 ? now : 1);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, "end the waiver");
}

/*
 * Grant w: a waiver in force for the same identity, kind and name ends now
 * (the grant's record names it), the new row and its "waiver" record
 * commit together.
 */
int
state_sqlite_waiver_grant(struct state *s, struct state_waiver *w, long long now,
			  struct state_audit *rec)
{
	struct sqlite_state *ss = SS(s);
	struct state_waiver *old = NULL;
	char t1[STATE_TIME_MAX], t2[STATE_TIME_MAX], prev[STATE_TEXT_MAX] = "";
	size_t n = 0;

	if (state_sqlite_begin(ss) != 0)
		return -1;
	sqlite3_stmt *q = state_sqlite_fresh(ss, "SELECT " W_COLS " FROM waivers WHERE " W_OPEN
						 " AND id = ?2 AND kind = ?3 AND name = ?4");
	if (q == NULL)
		return state_sqlite_abort(ss);
	sqlite3_bind_int64(q, 1, now);
	state_sqlite_bind_text(q, 2, w->id);
	state_sqlite_bind_text(q, 3, w->kind);
	state_sqlite_bind_text(q, 4, w->name);
	if (collect(ss, q, &old, &n) != 0)
		return state_sqlite_abort(ss);
	for (size_t i = 0; i < n; i++) {
		if (end_one(ss, old[i].wid, now) != 0) {
			free(old);
			return state_sqlite_abort(ss);
		}
	}
	if (n > 0)
		snprintf(prev, sizeof(prev), "; replaces waiver %lld (until %s, ticket %s)",
			 old[0].wid, state_time_str(old[0].until, t2),
			 old[0].ticket); /* truncation acceptable */
	free(old);
	if (insert(ss, w) != 0)
		return state_sqlite_abort(ss);
	memset(rec, 0, sizeof(*rec));
	rec->ts = now;
	bw_strlcpy(rec->action, "waiver", sizeof(rec->action));
	bw_strlcpy(rec->actor, w->by, sizeof(rec->actor));
	bw_strlcpy(rec->identity, w->id, sizeof(rec->identity));
	bw_strlcpy(rec->reason, w->reason, sizeof(rec->reason));
	bw_strlcpy(rec->ticket, w->ticket, sizeof(rec->ticket));
	state_detail(s, rec->detail, "waiver %lld: %s %s until %s, approved by %s%s", w->wid,
		     w->kind, w->name, state_time_str(w->until, t1), w->approver, prev);
	if (state_sqlite_append(ss, rec) != 0)
		return state_sqlite_abort(ss);
	return state_sqlite_commit(ss);
}

int
state_sqlite_waivers(struct state *s, const char *id, long long now, bool all,
		     struct state_waiver **out, size_t *n)
{
	struct sqlite_state *ss = SS(s);
	sqlite3_stmt *q = state_sqlite_fresh(
	    ss, all ? "SELECT " W_COLS " FROM waivers WHERE (?2 IS NULL OR id = ?2) "
		      "ORDER BY id, kind, name, wid"
		    : "SELECT " W_COLS " FROM waivers WHERE " W_OPEN " AND (?2 IS NULL OR id = ?2) "
		      "ORDER BY id, kind, name, wid");
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, now);
	if (id != NULL)
		state_sqlite_bind_text(q, 2, id);
	else
		sqlite3_bind_null(q, 2);
	return collect(ss, q, out, n);
}

/*
 * End expired waivers, one "waiver-expired" record each. The common case
 * (nothing expired) is one read on the (ended, until) index without the
 * write lock; the rows are read again under the lock, so two processes
 * expiring at once write each record once.
 */
int
state_sqlite_waiver_expire(struct state *s, long long now, struct state_audit **recs, size_t *nrecs)
{
	struct sqlite_state *ss = SS(s);
	struct state_waiver *v = NULL;
	struct state_audit *r = NULL;
	char t1[STATE_TIME_MAX], t2[STATE_TIME_MAX];
	size_t n = 0;
	int rc;

	*recs = NULL;
	*nrecs = 0;
	sqlite3_stmt *q =
	    state_sqlite_fresh(ss, "SELECT 1 FROM waivers WHERE ended = 0 AND until <= ?1 LIMIT 1");
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, now);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return state_sqlite_fail(ss, rc, "look for expired waivers");

	if (state_sqlite_begin(ss) != 0)
		return -1;
	q = state_sqlite_fresh(ss, "SELECT " W_COLS " FROM waivers WHERE ended = 0 AND until <= ?1 "
				   "ORDER BY until, wid");
	if (q == NULL)
		return state_sqlite_abort(ss);
	sqlite3_bind_int64(q, 1, now);
	if (collect(ss, q, &v, &n) != 0)
		return state_sqlite_abort(ss);
	if (n > 0 && (r = calloc(n, sizeof(*r))) == NULL) {
		free(v);
		state_set_error(s, "out of memory");
		return state_sqlite_abort(ss);
	}
	for (size_t i = 0; i < n; i++) {
		r[i].ts = now;
		bw_strlcpy(r[i].action, "waiver-expired", sizeof(r[i].action));
		bw_strlcpy(r[i].actor, "bulkwarden", sizeof(r[i].actor));
		bw_strlcpy(r[i].identity, v[i].id, sizeof(r[i].identity));
		snprintf(r[i].reason, sizeof(r[i].reason), "waiver %lld of %s %s until %s expired",
			 v[i].wid, v[i].kind, v[i].name, state_time_str(v[i].until, t1));
		bw_strlcpy(r[i].ticket, v[i].ticket, sizeof(r[i].ticket));
		state_detail(s, r[i].detail, "granted %s by %s, approved by %s: %s",
			     state_time_str(v[i].created, t2), v[i].by, v[i].approver, v[i].reason);
		if (end_one(ss, v[i].wid, now) != 0 || state_sqlite_append(ss, &r[i]) != 0) {
			free(v);
			free(r);
			return state_sqlite_abort(ss);
		}
	}
	free(v);
	if (state_sqlite_commit(ss) != 0) {
		free(r);
		return -1;
	}
	*recs = r;
	*nrecs = n;
	return 0;
}

int
state_sqlite_import_waiver(struct state *s, const struct state_waiver *w)
{
	struct sqlite_state *ss = SS(s);
	struct state_waiver copy = *w;
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if (insert(ss, &copy) != 0)
		return state_sqlite_abort(ss);
	return state_sqlite_commit(ss);
}
