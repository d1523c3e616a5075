/*
 * state_sqlite_move.c - whole-store export and import for the SQLite
 * backend (bulkwardenctl state export / import): every counter and use-count
 * row, and audit records and suspensions written verbatim (no audit record
 * of their own: the imported chain is the history). Each import call is one
 * transaction. Untrusted input: the rows to import were parsed and bounded
 * by the caller (ctl/state.c); the chain is verified after the import.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "state/state_sqlite.h"

#define CNT_ROWS_SQL                                                                               \
	"SELECT id, hour, messages, recipients, bytes, accepted, rejected, quarantined, "          \
	"tempfailed, auth_failed FROM counters ORDER BY hour, id"
#define USE_ROWS_SQL                                                                               \
	"SELECT id, win, start, messages, recipients FROM usage ORDER BY start, id, win"

/* A non-negative integer column. */
static uint64_t
col_u64(sqlite3_stmt *q, int i)
{
	sqlite3_int64 v = sqlite3_column_int64(q, i);
	return v > 0 ? (uint64_t)v : 0;
}

int
state_sqlite_counters_rows(struct state *s,
			   int (*fn)(const char *id, long long hour, const struct state_counts *c,
				     void *arg),
			   void *arg)
{
	struct sqlite_state *ss = SS(s);
	sqlite3_stmt *q = state_sqlite_fresh(ss, CNT_ROWS_SQL);
	char id[STATE_ID_MAX + 1];
	int rc;
	if (q == NULL)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct state_counts c = {col_u64(q, 2), col_u64(q, 3), col_u64(q, 4),
					 col_u64(q, 5), col_u64(q, 6), col_u64(q, 7),
					 col_u64(q, 8), col_u64(q, 9)};
		state_sqlite_col_copy(q, 0, id, sizeof(id));
		if (fn(id, sqlite3_column_int64(q, 1), &c, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, "read counters");
}

int
state_sqlite_usage_rows(struct state *s,
			int (*fn)(const char *id, int win, long long start, uint64_t msgs,
				  uint64_t rcpts, void *arg),
			void *arg)
{
	struct sqlite_state *ss = SS(s);
	sqlite3_stmt *q = state_sqlite_fresh(ss, USE_ROWS_SQL);
	char id[STATE_ID_MAX + 1];
	int rc;
	if (q == NULL)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		state_sqlite_col_copy(q, 0, id, sizeof(id));
		if (fn(id, sqlite3_column_int(q, 1), sqlite3_column_int64(q, 2), col_u64(q, 3),
		       col_u64(q, 4), arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, "read the use counts");
}

/* Run one fresh statement with text/int binds given by a callback. */
static int
run(struct sqlite_state *ss, const char *sql, void (*bind)(sqlite3_stmt *q, const void *arg),
    const void *arg, const char *what)
{
	sqlite3_stmt *q = state_sqlite_fresh(ss, sql);
	if (q == NULL)
		return -1;
	bind(q, arg);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, what);
}

static void
bind_audit(sqlite3_stmt *q, const void *arg)
{
	const struct state_audit *r = arg;
	sqlite3_bind_int64(q, 1, r->seq);
	sqlite3_bind_int64(q, 2, r->ts);
	state_sqlite_bind_text(q, 3, r->action);
	state_sqlite_bind_text(q, 4, r->actor);
	state_sqlite_bind_text(q, 5, r->identity);
	state_sqlite_bind_text(q, 6, r->reason);
	state_sqlite_bind_text(q, 7, r->ticket);
	state_sqlite_bind_text(q, 8, r->detail);
	state_sqlite_bind_text(q, 9, r->prev_hash);
	state_sqlite_bind_text(q, 10, r->hash);
}

static void
bind_head(sqlite3_stmt *q, const void *arg)
{
	const struct state_audit *r = arg;
	sqlite3_bind_int64(q, 1, r->seq);
	state_sqlite_bind_text(q, 2, r->hash);
}

int
state_sqlite_import_audit(struct state *s, const struct state_audit *rec)
{
	struct sqlite_state *ss = SS(s);
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if (run(ss,
		"INSERT INTO audit (seq, ts, action, actor, identity, reason, ticket, detail, "
		"prev_hash, hash) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
		bind_audit, rec, "import an audit record") != 0 ||
	    run(ss,
		"INSERT INTO audit_head (one, seq, hash) VALUES (1, ?1, ?2) ON CONFLICT (one) DO "
		"UPDATE SET seq = excluded.seq, hash = excluded.hash WHERE excluded.seq > seq",
		bind_head, rec, "move the audit head") != 0)
		return state_sqlite_abort(ss);
	return state_sqlite_commit(ss);
}

static void
bind_susp(sqlite3_stmt *q, const void *arg)
{
	const struct state_suspension *sp = arg;
	state_sqlite_bind_text(q, 1, sp->id);
	state_sqlite_bind_text(q, 2, sp->reason);
	state_sqlite_bind_text(q, 3, sp->by);
	state_sqlite_bind_text(q, 4, sp->ticket);
	sqlite3_bind_int64(q, 5, sp->since);
	sqlite3_bind_int64(q, 6, sp->until);
}

int
state_sqlite_import_suspension(struct state *s, const struct state_suspension *sp)
{
	struct sqlite_state *ss = SS(s);
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if (run(ss,
		"INSERT OR REPLACE INTO suspensions (id, reason, suspended_by, ticket, since, "
		"until) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
		bind_susp, sp, "import a suspension") != 0)
		return state_sqlite_abort(ss);
	return state_sqlite_commit(ss);
}

struct use_row {
	const char *id;
	int win;
	long long start;
	uint64_t m, r;
};

static void
bind_use(sqlite3_stmt *q, const void *arg)
{
	const struct use_row *u = arg;
	state_sqlite_bind_text(q, 1, u->id);
	sqlite3_bind_int(q, 2, u->win);
	sqlite3_bind_int64(q, 3, u->start);
	sqlite3_bind_int64(q, 4, u->m > INT64_MAX ? INT64_MAX : (sqlite3_int64)u->m);
	sqlite3_bind_int64(q, 5, u->r > INT64_MAX ? INT64_MAX : (sqlite3_int64)u->r);
}

int
state_sqlite_import_usage(struct state *s, const char *id, int win, long long start, uint64_t msgs,
			  uint64_t rcpts)
{
	struct sqlite_state *ss = SS(s);
	struct use_row u = {id, win, start, msgs, rcpts};
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if (run(ss,
		"INSERT OR REPLACE INTO usage (id, win, start, messages, recipients) VALUES (?1, "
		"?2, ?3, ?4, ?5)",
		bind_use, &u, "import a use count") != 0)
		return state_sqlite_abort(ss);
	return state_sqlite_commit(ss);
}
