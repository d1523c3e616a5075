/*
 * state_sqlite_suppress.c - the suppression list in the SQLite store.
 *
 * Tables, created by the first change (CREATE TABLE IF NOT EXISTS inside
 * its write transaction, so files of every schema version gain them and
 * read-only openers never need them: a store without the table lists
 * nothing):
 *   suppressions (id, h, seq, live, since): one row per (identity, hash),
 *     h the 16-byte keyed hash as a BLOB; seq the number of the row's last
 *     change (max + 1, under the write lock); live 0 is a removal kept as a
 *     tombstone so readers can follow changes by seq (index on seq);
 *   suppress_meta (one, keycheck): the site key's check value.
 * A change and its audit record commit in one transaction.
 *
 * Memory: nothing kept. Untrusted input: stored rows (a BLOB of another
 * length is skipped).
 */
#include "config.h"

#include <string.h>

#include "state/state_sqlite.h"
#include "base/util.h"

static const char supp_sql[] =
    "CREATE TABLE IF NOT EXISTS suppressions ("
    " id TEXT NOT NULL,"
    " h BLOB NOT NULL,"
    " seq INTEGER NOT NULL,"
    " live INTEGER NOT NULL,"
    " since INTEGER NOT NULL,"
    " PRIMARY KEY (id, h)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS suppressions_by_seq ON suppressions (seq);"
    "CREATE TABLE IF NOT EXISTS suppress_meta ("
    " one INTEGER PRIMARY KEY CHECK (one = 1),"
    " keycheck BLOB NOT NULL);";

/* Create the tables inside the open write transaction. */
static int
ensure_tables(struct sqlite_state *ss)
{
	char *msg = NULL;
	int rc = sqlite3_exec(ss->db, supp_sql, NULL, NULL, &msg);
	sqlite3_free(msg);
	return rc == SQLITE_OK ? 0 : state_sqlite_fail(ss, rc, "create the suppression tables");
}

/* 1 when the named table exists, 0 not, -1 error. */
static int
table_exists(struct sqlite_state *ss, const char *name)
{
	sqlite3_stmt *q = state_sqlite_fresh(
	    ss, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
	if (q == NULL)
		return -1;
	state_sqlite_bind_text(q, 1, name);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return state_sqlite_fail(ss, rc, "read the schema");
	return rc == SQLITE_ROW;
}

/* Run a one-row statement with (id, h) bound, reading an integer column 0. */
static int
row_live(struct sqlite_state *ss, const char *id, const unsigned char *h, int *live)
{
	sqlite3_stmt *q =
	    state_sqlite_fresh(ss, "SELECT live FROM suppressions WHERE id = ?1 AND h = ?2");
	if (q == NULL)
		return -1;
	state_sqlite_bind_text(q, 1, id);
	sqlite3_bind_blob(q, 2, h, STATE_SUPP_BYTES, SQLITE_TRANSIENT);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*live = sqlite3_column_int(q, 0);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return state_sqlite_fail(ss, rc, "read the suppression list");
	return rc == SQLITE_ROW;
}

int
state_sqlite_supp_change(struct state *s, const char *id, const unsigned char *h, bool add,
			 long long now, struct state_audit *rec)
{
	struct sqlite_state *ss = SS(s);
	int live = 0, found;
	if (state_sqlite_check_file(ss) != 0 || state_sqlite_begin(ss) != 0)
		return -1;
	if (ensure_tables(ss) != 0 || (found = row_live(ss, id, h, &live)) < 0)
		return state_sqlite_abort(ss);
	if ((add && found && live) || (!add && !(found && live))) {
		state_sqlite_abort(ss);
		state_set_error(s, "%s", add ? "already suppressed" : "not suppressed");
		return 1;
	}
	sqlite3_stmt *q = state_sqlite_fresh(
	    ss, "INSERT INTO suppressions (id, h, seq, live, since) VALUES (?1, ?2, "
		"(SELECT coalesce(max(seq), 0) + 1 FROM suppressions), ?3, ?4) "
		"ON CONFLICT (id, h) DO UPDATE SET seq = excluded.seq, live = excluded.live, "
		"since = excluded.since");
	if (q == NULL)
		return state_sqlite_abort(ss);
	state_sqlite_bind_text(q, 1, id);
	sqlite3_bind_blob(q, 2, h, STATE_SUPP_BYTES, SQLITE_TRANSIENT);
	sqlite3_bind_int(q, 3, add ? 1 : 0);
	sqlite3_bind_int64(q, 4, now);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		state_sqlite_fail(ss, rc, "change the suppression list");
		return state_sqlite_abort(ss);
	}
	if (state_sqlite_append_locked(ss, rec) != 0)
		return state_sqlite_abort(ss);
	return state_sqlite_commit(ss);
}

int
state_sqlite_supp_changes(struct state *s, long long since,
			  int (*fn)(const struct state_supp *e, void *arg), void *arg)
{
	struct sqlite_state *ss = SS(s);
	struct state_supp e;
	int t;
	if (state_sqlite_check_file(ss) != 0 || (t = table_exists(ss, "suppressions")) < 0)
		return -1;
	if (t == 0)
		return 0;
	/* everything: one pass in table order (reading 10 million rows through
	 * the seq index costs a random lookup each, minutes instead of seconds);
	 * what changed since a number: the index, in order */
	sqlite3_stmt *q = state_sqlite_fresh(
	    ss, since == 0 ? "SELECT id, h, seq, live, since FROM suppressions WHERE live = 1 "
			     "AND +seq > ?1" /* "+": not through the seq index */
			   : "SELECT id, h, seq, live, since FROM suppressions WHERE seq > ?1 "
			     "ORDER BY seq");
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, since);
	int rc;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(q, 1);
		if (b == NULL || sqlite3_column_bytes(q, 1) != STATE_SUPP_BYTES)
			continue; /* not ours: skipped */
		memset(&e, 0, sizeof(e));
		state_sqlite_col_copy(q, 0, e.id, sizeof(e.id));
		memcpy(e.h, b, STATE_SUPP_BYTES);
		e.seq = sqlite3_column_int64(q, 2);
		e.live = sqlite3_column_int(q, 3) != 0;
		e.since = sqlite3_column_int64(q, 4);
		if (fn(&e, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE)
		return state_sqlite_fail(ss, rc, "read the suppression list");
	return 0;
}

int
state_sqlite_supp_count(struct state *s, const char *id, uint64_t *n)
{
	struct sqlite_state *ss = SS(s);
	int t;
	*n = 0;
	if ((t = table_exists(ss, "suppressions")) <= 0)
		return t;
	sqlite3_stmt *q = state_sqlite_fresh(
	    ss, id ? "SELECT count(*) FROM suppressions WHERE live = 1 AND id = ?1"
		   : "SELECT count(*) FROM suppressions WHERE live = 1");
	if (q == NULL)
		return -1;
	if (id != NULL)
		state_sqlite_bind_text(q, 1, id);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		*n = (uint64_t)sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW)
		return state_sqlite_fail(ss, rc, "count the suppression list");
	return 0;
}

int
state_sqlite_supp_keycheck(struct state *s, const unsigned char *check)
{
	struct sqlite_state *ss = SS(s);
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if (ensure_tables(ss) != 0)
		return state_sqlite_abort(ss);
	sqlite3_stmt *q =
	    state_sqlite_fresh(ss, "SELECT keycheck FROM suppress_meta WHERE one = 1");
	if (q == NULL)
		return state_sqlite_abort(ss);
	int rc = sqlite3_step(q), same = -1;
	if (rc == SQLITE_ROW) {
		const void *b = sqlite3_column_blob(q, 0);
		same = b != NULL && sqlite3_column_bytes(q, 0) == STATE_SUPP_BYTES &&
		       memcmp(b, check, STATE_SUPP_BYTES) == 0;
	}
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		state_sqlite_fail(ss, rc, "read the suppression key check");
		return state_sqlite_abort(ss);
	}
	if (rc == SQLITE_ROW) {
		state_sqlite_abort(ss);
		return same ? 0 : 1;
	}
	q = state_sqlite_fresh(ss, "INSERT INTO suppress_meta (one, keycheck) VALUES (1, ?1)");
	if (q == NULL)
		return state_sqlite_abort(ss);
	sqlite3_bind_blob(q, 1, check, STATE_SUPP_BYTES, SQLITE_TRANSIENT);
	rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		state_sqlite_fail(ss, rc, "store the suppression key check");
		return state_sqlite_abort(ss);
	}
	return state_sqlite_commit(ss);
}

int
state_sqlite_supp_import(struct state *s, const struct state_supp *e)
{
	struct sqlite_state *ss = SS(s);
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if (ensure_tables(ss) != 0)
		return state_sqlite_abort(ss);
	sqlite3_stmt *q = state_sqlite_fresh(
	    ss, "INSERT OR REPLACE INTO suppressions (id, h, seq, live, since) VALUES (?1, ?2, "
		"(SELECT coalesce(max(seq), 0) + 1 FROM suppressions), 1, ?3)");
	if (q == NULL)
		return state_sqlite_abort(ss);
	state_sqlite_bind_text(q, 1, e->id);
	sqlite3_bind_blob(q, 2, e->h, STATE_SUPP_BYTES, SQLITE_TRANSIENT);
	sqlite3_bind_int64(q, 3, e->since);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc != SQLITE_DONE) {
		state_sqlite_fail(ss, rc, "import a suppression");
		return state_sqlite_abort(ss);
	}
	return state_sqlite_commit(ss);
}
