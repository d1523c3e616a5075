/*
 * state_sqlite_ops.c - the state store operations of the SQLite backend:
 * suspensions, expiry, the change counter, the audit log and counters.
 * Connection handling, transactions and the locking rules are in
 * state_sqlite.c.
 *
 * Every write is one BEGIN IMMEDIATE transaction; an audit record is
 * appended inside the transaction of the change it records, chained to the
 * head the store keeps (state.c describes the hash). Memory: arrays handed
 * back (suspensions, expired records) are malloc'ed for the caller.
 * Untrusted input: stored rows (verified byte for byte, copied bounded).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_sqlite.h"
#include "base/util.h"

/* Read (seq, hash) from a cached one-row query: 1 found, 0 none, -1 error. */
static int
read_seq_hash(struct sqlite_state *ss, enum stmt_id id, long long *seq, char *hash)
{
	sqlite3_stmt *q = state_sqlite_stmt(ss, id);
	if (q == NULL)
		return -1;
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*seq = sqlite3_column_int64(q, 0);
		state_sqlite_col_copy(q, 1, hash, STATE_HASH_HEX + 1);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return state_sqlite_fail(ss, rc, "read the audit head");
	return rc == SQLITE_ROW;
}

/*
 * Append rec (seq, prev_hash, hash filled here) inside an open write
 * transaction: chain to the head, insert the row, move the head. The head
 * is what bulkwarden last wrote; if rows were removed or added behind its
 * back the new record still chains to the head (so verification keeps
 * pointing at the break) and takes the next free seq (so a forged row can
 * not block suspensions).
 */
static int
append_locked(struct sqlite_state *ss, struct state_audit *rec)
{
	sqlite3_stmt *q;
	long long last = 0, row_seq = 0;
	char prev[STATE_HASH_HEX + 1], row_hash[STATE_HASH_HEX + 1];
	struct state_audit_raw raw;
	int head, rows, rc;

	bw_strlcpy(prev, STATE_ZERO_HASH, sizeof(prev));
	if ((head = read_seq_hash(ss, ST_HEAD_GET, &last, prev)) < 0 ||
	    (rows = read_seq_hash(ss, ST_LAST_GET, &row_seq, row_hash)) < 0)
		return -1;
	if (head == 0 && rows == 1) /* no head (older file): chain to the last row */
		bw_strlcpy(prev, row_hash, sizeof(prev));
	if (row_seq > last)
		last = row_seq;

	rec->seq = last + 1;
	bw_strlcpy(rec->prev_hash, prev, sizeof(rec->prev_hash));
	state_audit_raw_of(rec, &raw);
	if (state_audit_hash(&raw, rec->prev_hash, rec->hash) != 0) {
		state_set_error(&ss->base, "cannot compute the audit hash (SHA-256)");
		return -1;
	}
	if ((q = state_sqlite_stmt(ss, ST_AUDIT_PUT)) == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, rec->seq);
	sqlite3_bind_int64(q, 2, rec->ts);
	state_sqlite_bind_text(q, 3, rec->action);
	state_sqlite_bind_text(q, 4, rec->actor);
	state_sqlite_bind_text(q, 5, rec->identity);
	state_sqlite_bind_text(q, 6, rec->reason);
	state_sqlite_bind_text(q, 7, rec->ticket);
	state_sqlite_bind_text(q, 8, rec->detail);
	state_sqlite_bind_text(q, 9, rec->prev_hash);
	state_sqlite_bind_text(q, 10, rec->hash);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return state_sqlite_fail(ss, rc, "append the audit record");
	if ((q = state_sqlite_stmt(ss, ST_HEAD_PUT)) == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, rec->seq);
	state_sqlite_bind_text(q, 2, rec->hash);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE)
		return state_sqlite_fail(ss, rc, "move the audit head");
	return 0;
}

/* Fill an audit record's text fields. */
static void
fill_rec(struct state_audit *rec, const char *action, const char *actor, const char *id,
	 const char *reason, const char *ticket, long long ts)
{
	memset(rec, 0, sizeof(*rec));
	rec->ts = ts;
	bw_strlcpy(rec->action, action, sizeof(rec->action));
	bw_strlcpy(rec->actor, actor, sizeof(rec->actor));
	bw_strlcpy(rec->identity, id, sizeof(rec->identity));
	bw_strlcpy(rec->reason, reason, sizeof(rec->reason));
	bw_strlcpy(rec->ticket, ticket ? ticket : "", sizeof(rec->ticket));
}

/* Read one suspension row (columns from the first, in SUSP_GET order). */
static void
read_susp(sqlite3_stmt *q, int first, struct state_suspension *out)
{
	state_sqlite_col_copy(q, first, out->reason, sizeof(out->reason));
	state_sqlite_col_copy(q, first + 1, out->by, sizeof(out->by));
	state_sqlite_col_copy(q, first + 2, out->ticket, sizeof(out->ticket));
	out->since = sqlite3_column_int64(q, first + 3);
	out->until = sqlite3_column_int64(q, first + 4);
}

/* The current suspension of id: 1 found (in *out), 0 none, -1 error. */
static int
susp_get(struct sqlite_state *ss, const char *id, struct state_suspension *out)
{
	sqlite3_stmt *q = state_sqlite_stmt(ss, ST_SUSP_GET);
	if (q == NULL)
		return -1;
	state_sqlite_bind_text(q, 1, id);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		memset(out, 0, sizeof(*out));
		bw_strlcpy(out->id, id, sizeof(out->id));
		read_susp(q, 0, out);
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return state_sqlite_fail(ss, rc, "read the suspension");
	return rc == SQLITE_ROW;
}

/* Delete id's suspension row. */
static int
susp_del(struct sqlite_state *ss, const char *id)
{
	sqlite3_stmt *q = state_sqlite_stmt(ss, ST_SUSP_DEL);
	if (q == NULL)
		return -1;
	state_sqlite_bind_text(q, 1, id);
	int rc = sqlite3_step(q);
	sqlite3_reset(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, "delete the suspension");
}

/* Does a suspension ending at until (0: never) outlast one ending at old? */
static bool
outlasts(long long until, long long old)
{
	return old != 0 && (until == 0 || until > old);
}

/*
 * Suspend id. A suspension in force is never shortened or lifted here
 * (SPEC §6): a new one that ends later (or never) extends it, keeping who
 * suspended it, since when and why (the reinstate rule and the record of
 * the first decision stay as they were; the extension is its own audit
 * record); one that ends no later changes nothing and returns 1.
 */
static int
sq_suspend(struct state *s, const char *id, const char *reason, const char *by, const char *ticket,
	   long long until, long long now, struct state_audit *rec)
{
	struct sqlite_state *ss = SS(s);
	struct state_suspension old;
	char t1[STATE_TIME_MAX], t2[STATE_TIME_MAX], prev[STATE_TEXT_MAX] = "";
	sqlite3_stmt *q;
	bool extend = false;
	int rc;

	if (state_sqlite_begin(ss) != 0)
		return -1;
	if ((rc = susp_get(ss, id, &old)) < 0)
		return state_sqlite_abort(ss);
	if (rc == 1 && (old.until == 0 || old.until > now)) {
		if (!outlasts(until, old.until)) {
			state_sqlite_exec(ss, ST_ROLLBACK, "rollback");
			state_set_error(
			    s,
			    "%s is already suspended %s%s (since %s by %s); a suspension is "
			    "never shortened: only reinstate lifts it",
			    id, old.until ? "until " : "until reinstated",
			    old.until ? state_time_str(old.until, t1) : "",
			    state_time_str(old.since, t2), old.by);
			return 1;
		}
		extend = true;
		snprintf(prev, sizeof(prev), "; extends the suspension since %s by %s (until %s)",
			 state_time_str(old.since, t2), old.by,
			 state_time_str(old.until, t1)); /* truncation acceptable */
	}
	if ((q = state_sqlite_stmt(ss, ST_SUSP_PUT)) == NULL)
		return state_sqlite_abort(ss);
	state_sqlite_bind_text(q, 1, id);
	state_sqlite_bind_text(q, 2, extend ? old.reason : reason);
	state_sqlite_bind_text(q, 3, extend ? old.by : by);
	state_sqlite_bind_text(q, 4, extend ? old.ticket : ticket);
	sqlite3_bind_int64(q, 5, extend ? old.since : now);
	sqlite3_bind_int64(q, 6, until);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc != SQLITE_DONE) {
		state_sqlite_fail(ss, rc, "store the suspension");
		return state_sqlite_abort(ss);
	}
	fill_rec(rec, state_suspend_action(s), by, id, reason, ticket, now);
	if (until != 0)
		state_detail(s, rec->detail, "until %s%s", state_time_str(until, t1), prev);
	else
		state_detail(s, rec->detail, "until reinstated%s", prev);
	if (append_locked(ss, rec) != 0)
		return state_sqlite_abort(ss);
	return state_sqlite_commit(ss);
}

static int
sq_reinstate(struct state *s, const char *id, const char *reason, const char *by,
	     const char *ticket, long long now, struct state_audit *rec)
{
	struct sqlite_state *ss = SS(s);
	struct state_suspension old;
	char t[STATE_TIME_MAX];
	int rc;

	if (state_sqlite_begin(ss) != 0)
		return -1;
	if ((rc = susp_get(ss, id, &old)) < 0)
		return state_sqlite_abort(ss);
	if (rc == 0 || (old.until != 0 && old.until <= now)) {
		state_sqlite_exec(ss, ST_ROLLBACK,
				  "rollback"); /* nothing to lift (expiry does it) */
		return 0;
	}
	if (state_same_actor(by, old.by)) {
		state_sqlite_exec(ss, ST_ROLLBACK, "rollback");
		state_set_error(s, "%s was suspended by %s: someone else must reinstate it", id,
				old.by);
		return -1;
	}
	if (susp_del(ss, id) != 0)
		return state_sqlite_abort(ss);
	fill_rec(rec, "reinstate", by, id, reason, ticket, now);
	state_detail(s, rec->detail, "lifts the suspension since %s by %s",
		     state_time_str(old.since, t), old.by);
	if (append_locked(ss, rec) != 0)
		return state_sqlite_abort(ss);
	return state_sqlite_commit(ss) == 0 ? 1 : -1;
}

/* One row of an id-first suspension query (state_sqlite_collect). */
static void
read_id_susp(sqlite3_stmt *q, void *row)
{
	struct state_suspension *v = row;
	state_sqlite_col_copy(q, 0, v->id, sizeof(v->id));
	read_susp(q, 1, v);
}

/* Collect every row of an id-first suspension query (q cached: reset). */
static int
collect_susp(struct sqlite_state *ss, sqlite3_stmt *q, struct state_suspension **out, size_t *n)
{
	return state_sqlite_collect(ss, q, false, sizeof(**out), read_id_susp, (void **)out, n,
				    "the suspensions");
}

/*
 * Lift expired suspensions. Called by the milter every few hundred
 * milliseconds, so the common case (nothing expired) is one read of the
 * small suspensions table without the write lock; the expired rows are read again under the lock,
 * so two processes expiring at once write each record only once.
 */
static int
sq_expire(struct state *s, long long now, struct state_audit **recs, size_t *nrecs)
{
	struct sqlite_state *ss = SS(s);
	sqlite3_stmt *q = state_sqlite_stmt(ss, ST_SUSP_ANY_EXPIRED);
	struct state_suspension *v = NULL;
	struct state_audit *r = NULL;
	char t1[STATE_TIME_MAX], t2[STATE_TIME_MAX], reason[STATE_TEXT_MAX];
	size_t n = 0;
	int rc;

	*recs = NULL;
	*nrecs = 0;
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, now);
	rc = sqlite3_step(q);
	sqlite3_reset(q);
	if (rc == SQLITE_DONE)
		return 0;
	if (rc != SQLITE_ROW)
		return state_sqlite_fail(ss, rc, "look for expired suspensions");

	if (state_sqlite_begin(ss) != 0)
		return -1;
	if ((q = state_sqlite_stmt(ss, ST_SUSP_EXPIRED)) == NULL)
		return state_sqlite_abort(ss);
	sqlite3_bind_int64(q, 1, now);
	if (collect_susp(ss, q, &v, &n) != 0)
		return state_sqlite_abort(ss);
	if (n > 0 && (r = calloc(n, sizeof(*r))) == NULL) {
		free(v);
		state_set_error(s, "out of memory");
		return state_sqlite_abort(ss);
	}
	for (size_t i = 0; i < n; i++) {
		snprintf(reason, sizeof(reason), "suspension until %s expired",
			 state_time_str(v[i].until, t1));
		fill_rec(&r[i], "expire", "bulkwarden", v[i].id, reason, v[i].ticket, now);
		state_detail(s, r[i].detail, "suspended since %s by %s: %s",
			     state_time_str(v[i].since, t2), v[i].by, v[i].reason);
		if (susp_del(ss, v[i].id) != 0 || append_locked(ss, &r[i]) != 0) {
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

static int
sq_suspensions(struct state *s, long long now, struct state_suspension **out, size_t *n)
{
	struct sqlite_state *ss = SS(s);
	sqlite3_stmt *q = state_sqlite_stmt(ss, ST_SUSP_LIST);
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, now);
	return collect_susp(ss, q, out, n);
}

/*
 * PRAGMA data_version changes when another connection commits; our own
 * commits are counted in ss->writes. Both only grow, so their sum changes
 * on every commit by anyone. Cost: no table is read.
 */
static int
sq_version(struct state *s, uint64_t *version)
{
	struct sqlite_state *ss = SS(s);
	if (state_sqlite_check_file(ss) != 0) /* replaced under us: reopen or fail */
		return -1;
	sqlite3_stmt *q = state_sqlite_stmt(ss, ST_DATA_VERSION);
	if (q == NULL)
		return -1;
	int rc = sqlite3_step(q);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(q);
		return state_sqlite_fail(ss, rc, "read data_version");
	}
	*version = (uint64_t)sqlite3_column_int64(q, 0) + ss->writes + (ss->reopens << 40);
	sqlite3_reset(q);
	return 0;
}

static int
sq_audit_append(struct state *s, struct state_audit *rec)
{
	struct sqlite_state *ss = SS(s);
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if (append_locked(ss, rec) != 0)
		return state_sqlite_abort(ss);
	return state_sqlite_commit(ss);
}

static int
sq_audit_foreach(struct state *s, int (*fn)(const struct state_audit *rec, void *arg), void *arg)
{
	struct sqlite_state *ss = SS(s);
	struct state_audit *rec = malloc(sizeof(*rec));
	sqlite3_stmt *q = state_sqlite_fresh(ss, AUDIT_ALL_SQL);
	int rc = SQLITE_DONE;
	if (rec == NULL || q == NULL) {
		if (rec == NULL)
			state_set_error(s, "out of memory");
		free(rec);
		sqlite3_finalize(q);
		return -1;
	}
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		rec->seq = sqlite3_column_int64(q, 0);
		rec->ts = sqlite3_column_int64(q, 1);
		state_sqlite_col_copy(q, 2, rec->action, sizeof(rec->action));
		state_sqlite_col_copy(q, 3, rec->actor, sizeof(rec->actor));
		state_sqlite_col_copy(q, 4, rec->identity, sizeof(rec->identity));
		state_sqlite_col_copy(q, 5, rec->reason, sizeof(rec->reason));
		state_sqlite_col_copy(q, 6, rec->ticket, sizeof(rec->ticket));
		state_sqlite_col_copy(q, 7, rec->detail, sizeof(rec->detail));
		state_sqlite_col_copy(q, 8, rec->prev_hash, sizeof(rec->prev_hash));
		state_sqlite_col_copy(q, 9, rec->hash, sizeof(rec->hash));
		if (fn(rec, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(q);
	free(rec);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, "read the audit log");
}

/*
 * Verify from the raw column bytes (any length, any byte), head and rows
 * from one read snapshot, so a concurrent append cannot look like a break.
 */
static int
sq_audit_verify(struct state *s, struct state_audit_check *chk)
{
	struct sqlite_state *ss = SS(s);
	sqlite3_stmt *q = NULL;
	long long head_seq = 0;
	char head_hash[STATE_HASH_HEX + 1] = "";
	struct state_audit_raw raw;
	int rc;

	if (state_sqlite_exec(ss, ST_BEGIN_READ, "begin") != 0)
		return -1;
	if ((q = state_sqlite_stmt(ss, ST_HEAD_GET)) == NULL)
		goto fail;
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		head_seq = sqlite3_column_int64(q, 0);
		state_sqlite_col_copy(q, 1, head_hash, sizeof(head_hash));
	}
	sqlite3_reset(q);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		state_sqlite_fail(ss, rc, "read the audit head");
		goto fail;
	}
	if ((q = state_sqlite_fresh(ss, AUDIT_ALL_SQL)) == NULL)
		goto fail;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		raw.seq = sqlite3_column_int64(q, 0);
		raw.ts = sqlite3_column_int64(q, 1);
		for (int i = 0; i < STATE_AUDIT_FIELDS; i++) {
			raw.field[i] = (const char *)sqlite3_column_text(q, 2 + i);
			raw.len[i] = (size_t)sqlite3_column_bytes(q, 2 + i);
		}
		raw.prev_hash = (const char *)sqlite3_column_text(q, 8);
		raw.prev_len = (size_t)sqlite3_column_bytes(q, 8);
		raw.hash = (const char *)sqlite3_column_text(q, 9);
		raw.hash_len = (size_t)sqlite3_column_bytes(q, 9);
		for (int i = 0; i < STATE_AUDIT_FIELDS; i++)
			if (raw.field[i] == NULL)
				raw.field[i] = "";
		if (state_audit_check_step(chk, &raw) != 0)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		state_sqlite_fail(ss, rc, "read the audit log");
		goto fail;
	}
	sqlite3_finalize(q);
	state_sqlite_exec(ss, ST_COMMIT, "end read");
	return state_audit_check_end(chk, head_seq, head_hash);
fail:
	sqlite3_finalize(q);
	return state_sqlite_abort(ss);
}

/* Clamp a counter to SQLite's signed 64-bit integers. */
static sqlite3_int64
clamp(uint64_t v)
{
	return v > (uint64_t)INT64_MAX ? INT64_MAX : (sqlite3_int64)v;
}

static int
sq_counters_add(struct state *s, const struct state_counter_delta *d, size_t n)
{
	struct sqlite_state *ss = SS(s);
	sqlite3_stmt *q;
	if (state_sqlite_begin(ss) != 0)
		return -1;
	if ((q = state_sqlite_stmt(ss, ST_CNT_ADD)) == NULL)
		return state_sqlite_abort(ss);
	for (size_t i = 0; i < n; i++) {
		const struct state_counts *c = &d[i].counts;
		long long hour = d[i].hour - (((d[i].hour % 3600) + 3600) % 3600);
		state_sqlite_bind_text(q, 1, d[i].id);
		sqlite3_bind_int64(q, 2, hour);
		sqlite3_bind_int64(q, 3, clamp(c->messages));
		sqlite3_bind_int64(q, 4, clamp(c->recipients));
		sqlite3_bind_int64(q, 5, clamp(c->bytes));
		sqlite3_bind_int64(q, 6, clamp(c->accepted));
		sqlite3_bind_int64(q, 7, clamp(c->rejected));
		sqlite3_bind_int64(q, 8, clamp(c->quarantined));
		sqlite3_bind_int64(q, 9, clamp(c->tempfailed));
		sqlite3_bind_int64(q, 10, clamp(c->auth_failed));
		int rc = sqlite3_step(q);
		sqlite3_reset(q);
		if (rc != SQLITE_DONE) {
			state_sqlite_fail(ss, rc, "add counters");
			return state_sqlite_abort(ss);
		}
	}
	return state_sqlite_commit(ss);
}

/* Read eight counter sums starting at column first. total() is a double:
 * exact up to 2^53, far beyond any hourly count. */
static void
read_counts(sqlite3_stmt *q, int first, struct state_counts *c)
{
	uint64_t *f[] = {&c->messages, &c->recipients,	&c->bytes,	&c->accepted,
			 &c->rejected, &c->quarantined, &c->tempfailed, &c->auth_failed};
	for (int i = 0; i < 8; i++) {
		double v = sqlite3_column_double(q, first + i);
		*f[i] = v > 0 ? (uint64_t)v : 0;
	}
}

/* The five counters of a bucket row (messages and outcomes, as CNT_BUCKETS_SQL
 * selects them: integers as stored, no total(), no conversion through
 * double), negative ones read as 0; recipients, bytes and auth_failed are
 * not read (the daily report needs none of them). */
static void
read_counts_int(sqlite3_stmt *q, int first, struct state_counts *c)
{
	uint64_t *f[] = {&c->messages, &c->accepted, &c->rejected, &c->quarantined, &c->tempfailed};
	c->recipients = c->bytes = c->auth_failed = 0;
	for (int i = 0; i < 5; i++) {
		sqlite3_int64 v = sqlite3_column_int64(q, first + i);
		*f[i] = v > 0 ? (uint64_t)v : 0;
	}
}

static int
sq_counters_sum(struct state *s, const char *id, long long from, long long to,
		struct state_counts *sum)
{
	struct sqlite_state *ss = SS(s);
	sqlite3_stmt *q = state_sqlite_stmt(ss, ST_CNT_SUM);
	if (q == NULL)
		return -1;
	state_sqlite_bind_text(q, 1, id);
	sqlite3_bind_int64(q, 2, from);
	sqlite3_bind_int64(q, 3, to);
	int rc = sqlite3_step(q);
	if (rc == SQLITE_ROW)
		read_counts(q, 0, sum);
	sqlite3_reset(q);
	return rc == SQLITE_ROW ? 0 : state_sqlite_fail(ss, rc, "sum counters");
}

static int
sq_counters_foreach(struct state *s, long long from, long long to,
		    int (*fn)(const char *id, const struct state_counts *sum, void *arg), void *arg)
{
	struct sqlite_state *ss = SS(s);
	sqlite3_stmt *q = state_sqlite_fresh(ss, CNT_EACH_SQL);
	struct state_counts c;
	char id[STATE_ID_MAX + 1];
	int rc;
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, from);
	sqlite3_bind_int64(q, 2, to);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		state_sqlite_col_copy(q, 0, id, sizeof(id));
		read_counts(q, 1, &c);
		if (fn(id, &c, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, "read counters");
}

static int
sq_counters_each_bucket(struct state *s, long long from, long long to,
			int (*fn)(const char *id, long long hour, const struct state_counts *c,
				  void *arg),
			void *arg)
{
	struct sqlite_state *ss = SS(s);
	sqlite3_stmt *q = state_sqlite_fresh(ss, CNT_BUCKETS_SQL);
	struct state_counts c;
	char id[STATE_ID_MAX + 1];
	int rc;
	if (q == NULL)
		return -1;
	sqlite3_bind_int64(q, 1, from);
	sqlite3_bind_int64(q, 2, to);
	id[0] = '\0';
	size_t idlen = 0;
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		/* rows come by (id, hour): copy the id only when it changes */
		const unsigned char *t = sqlite3_column_text(q, 0);
		size_t n = (size_t)sqlite3_column_bytes(q, 0);
		if (t == NULL)
			t = (const unsigned char *)"", n = 0;
		if (n != idlen || memcmp(t, id, n) != 0) {
			bw_strlcpy(id, (const char *)t, sizeof(id));
			idlen = strlen(id);
		}
		read_counts_int(q, 2, &c);
		if (fn(id, sqlite3_column_int64(q, 1), &c, arg) != 0) {
			rc = SQLITE_DONE;
			break;
		}
	}
	sqlite3_finalize(q);
	return rc == SQLITE_DONE ? 0 : state_sqlite_fail(ss, rc, "read counters");
}

/* append_locked() for the other files of the backend (state_sqlite_paths.c). */
/* append_locked() for the other files of the backend (the suppression
 * list appends its records inside its own transactions). */
int
state_sqlite_append_locked(struct sqlite_state *ss, struct state_audit *rec)
{
	return append_locked(ss, rec);
}

const struct state_ops state_sqlite_ops = {
    .name = "sqlite",
    .close = state_sqlite_close,
    .suspend = sq_suspend,
    .reinstate = sq_reinstate,
    .expire = sq_expire,
    .suspensions = sq_suspensions,
    .version = sq_version,
    .audit_append = sq_audit_append,
    .audit_foreach = sq_audit_foreach,
    .audit_verify = sq_audit_verify,
    .counters_add = sq_counters_add,
    .counters_sum = sq_counters_sum,
    .counters_foreach = sq_counters_foreach,
    .counters_each_bucket = sq_counters_each_bucket,
    .last_changes = state_sqlite_last_changes,
    .reserve = state_sqlite_reserve,
    .usage_add = state_sqlite_usage_add,
    .usage_get = state_sqlite_usage_get,
    .counters_rows = state_sqlite_counters_rows,
    .usage_rows = state_sqlite_usage_rows,
    .import_audit = state_sqlite_import_audit,
    .import_suspension = state_sqlite_import_suspension,
    .import_usage = state_sqlite_import_usage,
    .feedback_record = state_sqlite_feedback_record,
    .feedback_seen = state_sqlite_feedback_seen,
    .feedback_sum = state_sqlite_feedback_sum,
    .feedback_rows = state_sqlite_feedback_rows,
    .feedback_keys = state_sqlite_feedback_keys,
    .import_feedback = state_sqlite_import_feedback,
    .import_feedback_key = state_sqlite_import_feedback_key,
    .waiver_grant = state_sqlite_waiver_grant,
    .waivers = state_sqlite_waivers,
    .waiver_expire = state_sqlite_waiver_expire,
    .import_waiver = state_sqlite_import_waiver,
    .path_learn = state_sqlite_path_learn,
    .paths = state_sqlite_paths,
    .path_approve = state_sqlite_path_approve,
    .import_path = state_sqlite_import_path,
    .supp_change = state_sqlite_supp_change,
    .supp_changes = state_sqlite_supp_changes,
    .supp_count = state_sqlite_supp_count,
    .supp_keycheck = state_sqlite_supp_keycheck,
    .supp_import = state_sqlite_supp_import,
};

/* append_locked() for the other files of the backend (waivers). */
int
state_sqlite_append(struct sqlite_state *ss, struct state_audit *rec)
{
	return append_locked(ss, rec);
}
