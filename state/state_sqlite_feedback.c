/*
 * state_sqlite_feedback.c - feedback counts, SQLite backend (state.h
 * state_feedback_*). Two tables, created on the first write (CREATE TABLE
 * IF NOT EXISTS inside the write transaction; no schema version bump, so
 * a file with them still opens everywhere):
 *   feedback_keys (key PRIMARY KEY, ts): every report recorded
 *   feedback (id, hour, complaints, hard_bounces, soft_bounces,
 *             dmarc_messages, dmarc_failures): per identity-hour sums
 * A record is one BEGIN IMMEDIATE transaction: insert the key (a conflict
 * means "already recorded": roll back, nothing added), then add the
 * deltas. Readers of a file without the tables see zeros.
 * Untrusted input: none (keys and ids were checked by state_feedback.c).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "state/state_sqlite.h"

static const char fb_schema[] = "CREATE TABLE IF NOT EXISTS feedback_keys ("
				" key TEXT PRIMARY KEY NOT NULL,"
				" ts INTEGER NOT NULL) WITHOUT ROWID;"
				"CREATE TABLE IF NOT EXISTS feedback ("
				" id TEXT NOT NULL,"
				" hour INTEGER NOT NULL,"
				" complaints INTEGER NOT NULL DEFAULT 0,"
				" hard_bounces INTEGER NOT NULL DEFAULT 0,"
				" soft_bounces INTEGER NOT NULL DEFAULT 0,"
				" dmarc_messages INTEGER NOT NULL DEFAULT 0,"
				" dmarc_failures INTEGER NOT NULL DEFAULT 0,"
				" PRIMARY KEY (id, hour)) WITHOUT ROWID;";

#define FB_ADD_SQL                                                                                 \
	"INSERT INTO feedback (id, hour, complaints, hard_bounces, soft_bounces, dmarc_messages, " \
	"dmarc_failures) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (id, hour) DO UPDATE "    \
	"SET "                                                                                     \
	"complaints = complaints + ?3, hard_bounces = hard_bounces + ?4, soft_bounces = "          \
	"soft_bounces + ?5, dmarc_messages = dmarc_messages + ?6, dmarc_failures = "               \
	"dmarc_failures + ?7"

static long long
clamp(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (long long)v;
}

/* Whether the tables exist (a reader of an old file sees zeros). */
static int
have_tables(struct sqlite_state *ss)
{
	sqlite3_stmt *q = state_sqlite_fresh(
	    ss, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'feedback'");
	if (q == NULL)
		return -1;
	int rc = sqlite3_step(q), n = rc == SQLITE_ROW ? sqlite3_column_int(q, 0) : 0;
	sqlite3_finalize(q);
	if (rc != SQLITE_ROW)
		return state_sqlite_fail(ss, rc, "look for the feedback tables");
	return n > 0;
}

/* Inside a write transaction: create the tables when missing. */
static int
ensure_tables(struct sqlite_state *ss)
{
	char *msg = NULL;
	int rc = sqlite3_exec(ss->db, fb_schema, NULL, NULL, &msg);
	sqlite3_free(msg);
	return rc == SQLITE_OK ? 0 : state_sqlite_fail(ss, rc, "create the feedback tables");
}

/* Run one fresh statement with its binds done by the caller, no rows. */
static int
step_done(struct sqlite_state *ss, sqlite3_stmt *q, const char *what)
{
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, what);
}

static int
add_delta(struct sqlite_state *ss, const char *id, long long hour, const struct state_feedback *f)
{
	sqlite3_stmt *q = state_sqlite_fresh(ss, FB_ADD_SQL);
	if (q == NULL)
		return -1;
	hour -= ((hour % 3600) + 3600) % 3600;
	state_sqlite_bind_text(q, 1, id);
	sqlite3_bind_int64(q, 2, hour);
	sqlite3_bind_int64(q, 3, clamp(f->complaints));
	sqlite3_bind_int64(q, 4, clamp(f->hard_bounces));
	sqlite3_bind_int64(q, 5, clamp(f->soft_bounces));
	sqlite3_bind_int64(q, 6, clamp(f->dmarc_messages));
	sqlite3_bind_int64(q, 7, clamp(f->dmarc_failures));
	return step_done(ss, q, "add feedback counts");
}

int
state_sqlite_feedback_record(struct state *s, const char *key, long long now,
			     const struct state_feedback_delta *d, size_t n)
{
	struct sqlite_state *ss = SS(s);
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if (ensure_tables(ss) != 0)
		return state_sqlite_abort(ss);
	sqlite3_stmt *q =
	    state_sqlite_fresh(ss, "INSERT OR IGNORE INTO feedback_keys (key, ts) VALUES (?1, ?2)");
	if (q == NULL)
		return state_sqlite_abort(ss);
	state_sqlite_bind_text(q, 1, key);
	sqlite3_bind_int64(q, 2, now);
	if (step_done(ss, q, "record a feedback report") != 0)
		return state_sqlite_abort(ss);
	if (sqlite3_changes(ss->db) == 0) { /* seen before */
		state_sqlite_abort(ss);
		return 1;
	}
	for (size_t i = 0; i < n; i++)
		if (add_delta(ss, d[i].id, d[i].hour, &d[i].fb) != 0)
			return state_sqlite_abort(ss);
	return state_sqlite_commit(ss);
}

int
state_sqlite_feedback_seen(struct state *s, const char *key)
{
	struct sqlite_state *ss = SS(s);
	int t = have_tables(ss);
	if (t <= 0)
		return t;
	sqlite3_stmt *q = state_sqlite_fresh(ss, "SELECT 1 FROM feedback_keys WHERE key = ?1");
	if (q == NULL)
		return -1;
	state_sqlite_bind_text(q, 1, key);
	int rc = sqlite3_step(q);
	sqlite3_finalize(q);
	if (rc == SQLITE_ROW)
		return 1;
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, "look up a feedback report");
}

static void
read_fb(sqlite3_stmt *q, int first, struct state_feedback *f)
{
	uint64_t *v[] = {&f->complaints, &f->hard_bounces, &f->soft_bounces, &f->dmarc_messages,
			 &f->dmarc_failures};
	for (int i = 0; i < 5; i++) {
		double x = sqlite3_column_double(q, first + i);
		*v[i] = x > 0 ? (uint64_t)x : 0;
	}
}

int
state_sqlite_feedback_sum(struct state *s, const char *id, long long from, long long to,
			  struct state_feedback *sum)
{
	struct sqlite_state *ss = SS(s);
	int t = have_tables(ss);
	if (t <= 0)
		return t;
	sqlite3_stmt *q = state_sqlite_fresh(
	    ss, "SELECT total(complaints), total(hard_bounces), total(soft_bounces), "
		"total(dmarc_messages), total(dmarc_failures) FROM feedback "
		"WHERE id = ?1 AND hour >= ?2 AND hour < ?3");
	if (q == NULL)
		return -1;
	state_sqlite_bind_text(q, 1, id);
	sqlite3_bind_int64(q, 2, from);
	sqlite3_bind_int64(q, 3, to);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		read_fb(q, 0, sum);
	sqlite3_finalize(q);
	return rc == SQLITE_ROW ? 0 : state_sqlite_fail(ss, rc, "sum feedback counts");
}

int
state_sqlite_feedback_rows(struct state *s,
			   int (*fn)(const char *id, long long hour, const struct state_feedback *f,
				     void *arg),
			   void *arg)
{
	struct sqlite_state *ss = SS(s);
	struct state_feedback f;
	char id[STATE_ID_MAX + 1];
	int t = have_tables(ss), rc;
	if (t <= 0)
		return t;
	sqlite3_stmt *q = state_sqlite_fresh(
	    ss, "SELECT id, hour, complaints, hard_bounces, soft_bounces, dmarc_messages, "
		"dmarc_failures FROM feedback ORDER BY hour, id");
	if (q == NULL)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		state_sqlite_col_copy(q, 0, id, sizeof(id));
		read_fb(q, 2, &f);
		if (fn(id, sqlite3_column_int64(q, 1), &f, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, "read feedback counts");
}

int
state_sqlite_feedback_keys(struct state *s, int (*fn)(const char *key, long long ts, void *arg),
			   void *arg)
{
	struct sqlite_state *ss = SS(s);
	char key[STATE_FEEDBACK_KEY_MAX + 1];
	int t = have_tables(ss), rc;
	if (t <= 0)
		return t;
	sqlite3_stmt *q =
	    state_sqlite_fresh(ss, "SELECT key, ts FROM feedback_keys ORDER BY ts, key");
	if (q == NULL)
		return -1;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		state_sqlite_col_copy(q, 0, key, sizeof(key));
		if (fn(key, sqlite3_column_int64(q, 1), arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, "read feedback report keys");
}

int
state_sqlite_import_feedback(struct state *s, const char *id, long long hour,
			     const struct state_feedback *f)
{
	struct sqlite_state *ss = SS(s);
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if (ensure_tables(ss) != 0 || add_delta(ss, id, hour, f) != 0)
		return state_sqlite_abort(ss);
	return state_sqlite_commit(ss);
}

int
state_sqlite_import_feedback_key(struct state *s, const char *key, long long ts)
{
	struct state_feedback_delta none;
	memset(&none, 0, sizeof(none));
	int rc = state_sqlite_feedback_record(s, key, ts, &none, 0);
	return rc < 0 ? -1 : 0;
}
