/*
 * state_sqlite_paths.c - sending paths in the SQLite backend (see
 * state.h, "Sending paths").
 *
 * Table paths (id, path) -> first_seen, pending, approved_at, approved_by,
 * ticket. It is created on first write (CREATE TABLE IF NOT EXISTS inside
 * the write transaction) rather than by a schema version step, so a store
 * written before it needs no migration; a store without it has no paths.
 * Learning is one BEGIN IMMEDIATE transaction: read the row, and only when
 * there is none insert it and append the audit record, so processes
 * racing on one path write one record. Untrusted input: stored rows
 * (copied bounded).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_sqlite.h"
#include "base/util.h"

static const char create_sql[] = "CREATE TABLE IF NOT EXISTS paths ("
				 " id TEXT NOT NULL,"
				 " path TEXT NOT NULL,"
				 " first_seen INTEGER NOT NULL,"
				 " pending INTEGER NOT NULL DEFAULT 0,"
				 " approved_at INTEGER NOT NULL DEFAULT 0,"
				 " approved_by TEXT NOT NULL DEFAULT '',"
				 " ticket TEXT NOT NULL DEFAULT '',"
				 " PRIMARY KEY (id, path)) WITHOUT ROWID";

#define PATH_COLS "id, path, first_seen, pending, approved_at, approved_by, ticket"

/* Read one row of PATH_COLS. */
static void
read_row(sqlite3_stmt *q, struct state_path *p)
{
	memset(p, 0, sizeof(*p));
	state_sqlite_col_copy(q, 0, p->id, sizeof(p->id));
	state_sqlite_col_copy(q, 1, p->path, sizeof(p->path));
	p->first_seen = sqlite3_column_int64(q, 2);
	p->pending = sqlite3_column_int(q, 3) != 0;
	p->approved_at = sqlite3_column_int64(q, 4);
	state_sqlite_col_copy(q, 5, p->approved_by, sizeof(p->approved_by));
	state_sqlite_col_copy(q, 6, p->ticket, sizeof(p->ticket));
}

/* Inside a write transaction: the table exists. */
static int
ensure_table(struct sqlite_state *ss)
{
	char *msg = NULL;
	int rc = sqlite3_exec(ss->db, create_sql, NULL, NULL, &msg);
	sqlite3_free(msg);
	return rc == SQLITE_OK ? 0 : state_sqlite_fail(ss, rc, "create the paths table");
}

/* id's row for path: 1 found (in *out), 0 none, -1 error. */
static int
get_row(struct sqlite_state *ss, const char *id, const char *path, struct state_path *out)
{
	sqlite3_stmt *q =
	    state_sqlite_fresh(ss, "SELECT " PATH_COLS " FROM paths WHERE id = ?1 AND path = ?2");
	if (q == NULL)
		return -1;
	state_sqlite_bind_text(q, 1, id);
	state_sqlite_bind_text(q, 2, path);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		read_row(q, out);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return state_sqlite_fail(ss, rc, "read the sending path");
	return rc == SQLITE_ROW;
}

/* Run one write statement with its text and integer arguments (?1 id,
 * ?2 path, ?3 ?4 numbers, ?5 ?6 texts; a statement may use fewer: binding
 * a parameter it does not have is a no-op). */
static int
put_row(struct sqlite_state *ss, const char *sql, const char *id, const char *path, long long a,
	long long b, const char *by, const char *ticket)
{
	sqlite3_stmt *q = state_sqlite_fresh(ss, sql);
	if (q == NULL)
		return -1;
	state_sqlite_bind_text(q, 1, id);
	state_sqlite_bind_text(q, 2, path);
	sqlite3_bind_int64(q, 3, a);
	sqlite3_bind_int64(q, 4, b);
	state_sqlite_bind_text(q, 5, by);
	state_sqlite_bind_text(q, 6, ticket);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, "store the sending path");
}

int
state_sqlite_path_learn(struct state *s, const char *id, const char *path, bool pending,
			long long now, struct state_audit *rec, struct state_path *out)
{
	struct sqlite_state *ss = SS(s);
	int rc;
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if (ensure_table(ss) != 0 || (rc = get_row(ss, id, path, out)) < 0)
		return state_sqlite_abort(ss);
	if (rc == 1) { /* known: nothing to write */
		state_sqlite_exec(ss, ST_ROLLBACK, "rollback");
		return 0;
	}
	if (put_row(ss, "INSERT INTO paths (id, path, first_seen, pending) VALUES (?1, ?2, ?3, ?4)",
		    id, path, now, pending ? 1 : 0, "", "") != 0 ||
	    state_sqlite_append_locked(ss, rec) != 0)
		return state_sqlite_abort(ss);
	if (state_sqlite_commit(ss) != 0)
		return -1;
	memset(out, 0, sizeof(*out));
	bw_strlcpy(out->id, id, sizeof(out->id));
	bw_strlcpy(out->path, path, sizeof(out->path));
	out->first_seen = now;
	out->pending = pending;
	return 1;
}

static void
read_row_any(sqlite3_stmt *q, void *row)
{
	read_row(q, row);
}

int
state_sqlite_paths(struct state *s, const char *id, struct state_path **out, size_t *n)
{
	struct sqlite_state *ss = SS(s);
	int rc;
	sqlite3_stmt *q;
	*out = NULL;
	*n = 0;
	/* no table yet: no paths (a reader must not create it) */
	q = state_sqlite_fresh(ss, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND "
				   "name = 'paths'");
	if (q == NULL)
		return -1;
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return state_sqlite_fail(ss, rc, "look for the paths table");
	q = state_sqlite_fresh(ss, id ? "SELECT " PATH_COLS " FROM paths WHERE id = ?1"
				      : "SELECT " PATH_COLS " FROM paths");
	if (q == NULL)
		return -1;
	if (id)
		state_sqlite_bind_text(q, 1, id);
	return state_sqlite_collect(ss, q, true, sizeof(**out), read_row_any, (void **)out, n,
				    "the sending paths");
}

int
state_sqlite_path_approve(struct state *s, const char *id, const char *path, const char *by,
			  const char *ticket, long long now, struct state_audit *rec)
{
	struct sqlite_state *ss = SS(s);
	struct state_path cur;
	char t[STATE_TIME_MAX];
	int rc;
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if (ensure_table(ss) != 0 || (rc = get_row(ss, id, path, &cur)) < 0)
		return state_sqlite_abort(ss);
	if (rc == 0) {
		state_sqlite_exec(ss, ST_ROLLBACK, "rollback");
		state_set_error(s, "%s has no sending path %s", id, path);
		return -1;
	}
	if (!cur.pending) {
		state_sqlite_exec(ss, ST_ROLLBACK, "rollback");
		return 0;
	}
	if (put_row(ss,
		    "UPDATE paths SET pending = 0, approved_at = ?3, approved_by = ?5, "
		    "ticket = ?6 WHERE id = ?1 AND path = ?2",
		    id, path, now, 0, by, ticket) != 0)
		return state_sqlite_abort(ss);
	memset(rec, 0, sizeof(*rec));
	rec->ts = now;
	bw_strlcpy(rec->action, "path-approve", sizeof(rec->action));
	bw_strlcpy(rec->actor, by, sizeof(rec->actor));
	bw_strlcpy(rec->identity, id, sizeof(rec->identity));
	snprintf(rec->reason, sizeof(rec->reason), "sending path %s approved", path);
	bw_strlcpy(rec->ticket, ticket, sizeof(rec->ticket));
	state_detail(s, rec->detail, "path=%s first_seen=%s", path,
		     state_time_str(cur.first_seen, t));
	if (state_sqlite_append_locked(ss, rec) != 0)
		return state_sqlite_abort(ss);
	return state_sqlite_commit(ss) == 0 ? 1 : -1;
}

int
state_sqlite_import_path(struct state *s, const struct state_path *p)
{
	struct sqlite_state *ss = SS(s);
	sqlite3_stmt *q;
	int rc;
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if (ensure_table(ss) != 0)
		return state_sqlite_abort(ss);
	q = state_sqlite_fresh(ss, "INSERT OR REPLACE INTO paths (" PATH_COLS
				   ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
	if (q == NULL)
		return state_sqlite_abort(ss);
	state_sqlite_bind_text(q, 1, p->id);
	state_sqlite_bind_text(q, 2, p->path);
	sqlite3_bind_int64(q, 3, p->first_seen);
	sqlite3_bind_int(q, 4, p->pending ? 1 : 0);
	sqlite3_bind_int64(q, 5, p->approved_at);
	state_sqlite_bind_text(q, 6, p->approved_by);
	state_sqlite_bind_text(q, 7, p->ticket);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		state_sqlite_fail(ss, rc, "import the sending path");
		return state_sqlite_abort(ss);
	}
	return state_sqlite_commit(ss);
}
