/*
 * state_sqlite_usage.c - the use counts behind the limits, SQLite backend:
 * how many messages and recipients each identity has been granted in the
 * current UTC hour and day, shared by every process on the file.
 *
 * A reservation is one BEGIN IMMEDIATE transaction (read both windows,
 * check, add), so two milter processes on one file can never grant more
 * than a limit between them. Its commit runs with synchronous=NORMAL: in
 * WAL mode that survives a crash of any process and loses at most the last
 * reservations on power loss, and it saves an fsync per message; every
 * other write keeps synchronous=FULL. A reservation first checks that the
 * file at state.path is still the one open (state_sqlite_check_file: a
 * stat), as the version poll does. Untrusted input: none (ids were
 * checked by state.c; stored counts are clamped at 0).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "state/state_sqlite.h"

/* Read one window's counts into m and r (0 when there is no row). */
static int
use_get(struct sqlite_state *ss, const char *id, int win, long long start, uint64_t *m, uint64_t *r)
{
	sqlite3_stmt *q = state_sqlite_stmt(ss, ST_USE_GET);
	if (q == NULL)
		return -1;
	state_sqlite_bind_text(q, 1, id);
	sqlite3_bind_int(q, 2, win);
	sqlite3_bind_int64(q, 3, start);
	int rc = sqlite3_step(q);
	*m = *r = 0;
	if (rc == SQLITE_ROW) {
		sqlite3_int64 a = sqlite3_column_int64(q, 0), b = sqlite3_column_int64(q, 1);
		*m = a > 0 ? (uint64_t)a : 0;
		*r = b > 0 ? (uint64_t)b : 0;
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return state_sqlite_fail(ss, rc, "read the use counts");
	return 0;
}

/* Add (m, r), clamped at 0, to one window. */
static int
use_add(struct sqlite_state *ss, const char *id, int win, long long start, long long m, long long r)
{
	sqlite3_stmt *q = state_sqlite_stmt(ss, ST_USE_ADD);
	if (q == NULL)
		return -1;
	state_sqlite_bind_text(q, 1, id);
	sqlite3_bind_int(q, 2, win);
	sqlite3_bind_int64(q, 3, start);
	sqlite3_bind_int64(q, 4, m);
	sqlite3_bind_int64(q, 5, r);
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, "add to the use counts");
}

/* Both windows' counts, inside the caller's transaction. */
static int
read_both(struct sqlite_state *ss, const char *id, long long hour, long long day,
	  struct state_usage *use)
{
	if (use_get(ss, id, 0, hour, &use->msg_hour, &use->rcpt_hour) != 0 ||
	    use_get(ss, id, 1, day, &use->msg_day, &use->rcpt_day) != 0)
		return -1;
	return 0;
}

int
state_sqlite_reserve(struct state *s, const char *id, long long hour, long long day, unsigned msgs,
		     unsigned rcpts, const struct state_limits *lim, struct state_usage *use,
		     enum state_over *over)
{
	struct sqlite_state *ss = SS(s);
	int rc = -1;
	/* this handle is the milter's second one (milter/limits.c): it must
	 * follow a replaced file as the state thread's does, or it would grant
	 * from a file nobody else counts in (a removed one: an error) */
	if (state_sqlite_check_file(ss) != 0)
		return -1;
	/* outside a transaction: SQLite ignores the setting inside one */
	if (state_sqlite_exec(ss, ST_SYNC_NORMAL, "synchronous") != 0)
		return -1;
	if (state_sqlite_begin(ss) != 0)
		goto out;
	if (read_both(ss, id, hour, day, use) != 0) {
		state_sqlite_abort(ss);
		goto out;
	}
	*over = state_usage_check(use, lim, msgs, rcpts);
	if (*over != STATE_OVER_NONE) {
		state_sqlite_exec(ss, ST_ROLLBACK, "rollback"); /* nothing written */
		rc = 1;
		goto out;
	}
	if (use_add(ss, id, 0, hour, msgs, rcpts) != 0 ||
	    use_add(ss, id, 1, day, msgs, rcpts) != 0) {
		state_sqlite_abort(ss);
		goto out;
	}
	rc = state_sqlite_commit(ss);
out:
	state_sqlite_exec(ss, ST_SYNC_FULL, "synchronous");
	if (rc != 0)
		return rc;
	use->msg_hour += msgs;
	use->msg_day += msgs;
	use->rcpt_hour += rcpts;
	use->rcpt_day += rcpts;
	return 0;
}

int
state_sqlite_usage_add(struct state *s, const struct state_usage_delta *d, size_t n)
{
	struct sqlite_state *ss = SS(s);
	long long newest = 0;
	if (state_sqlite_begin(ss) != 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		long long hour = d[i].hour - (((d[i].hour % 3600) + 3600) % 3600);
		long long day = d[i].hour - (((d[i].hour % 86400) + 86400) % 86400);
		if (use_add(ss, d[i].id, 0, hour, d[i].msgs, d[i].rcpts) != 0 ||
		    use_add(ss, d[i].id, 1, day, d[i].msgs, d[i].rcpts) != 0)
			return state_sqlite_abort(ss);
		if (hour > newest)
			newest = hour;
	}
	/* windows nobody reads any more */
	sqlite3_stmt *q = state_sqlite_stmt(ss, ST_USE_PRUNE);
	if (q == NULL)
		return state_sqlite_abort(ss);
	sqlite3_bind_int64(q, 1, newest - STATE_USAGE_KEEP_S);
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		state_sqlite_fail(ss, rc, "prune the use counts");
		return state_sqlite_abort(ss);
	}
	return state_sqlite_commit(ss);
}

int
state_sqlite_usage_get(struct state *s, const char *id, long long hour, long long day,
		       struct state_usage *use)
{
	return read_both(SS(s), id, hour, day, use);
}
