/*
 * state_sqlite.h - private to the SQLite backend (state_sqlite.c: the
 * connection, errors, statement cache, transactions and opening;
 * state_sqlite_ops.c: the store operations; state_sqlite_changes.c: the
 * change-control query).
 */
#ifndef BW_STATE_SQLITE_H
#define BW_STATE_SQLITE_H

#include <stdint.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "state/state_int.h"

#define SQLITE_BUSY_MS 5000 /* longest wait for another process's lock */
#define SQLITE_PATH_MAX 4096

enum stmt_id {
	ST_BEGIN,
	ST_BEGIN_READ,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_DATA_VERSION,
	ST_SUSP_GET,
	ST_SUSP_PUT,
	ST_SUSP_DEL,
	ST_SUSP_LIST,
	ST_SUSP_ANY_EXPIRED,
	ST_SUSP_EXPIRED,
	ST_HEAD_GET,
	ST_LAST_GET,
	ST_HEAD_PUT,
	ST_AUDIT_PUT,
	ST_CNT_ADD,
	ST_CNT_SUM,
	ST_USE_GET,
	ST_USE_ADD,
	ST_USE_PRUNE,
	ST_SYNC_NORMAL,
	ST_SYNC_FULL,
	ST__COUNT
};

#define AUDIT_COLS "seq, ts, action, actor, identity, reason, ticket, detail, prev_hash, hash"
#define AUDIT_ALL_SQL "SELECT " AUDIT_COLS " FROM audit ORDER BY seq"
/* One pass in table order: "+hour" keeps SQLite off the hour index, whose
 * random lookups into the table cost 3-5 times a scan for a report's
 * month of buckets (bench/report). */
#define CNT_BUCKETS_SQL                                                                            \
	"SELECT id, hour, messages, accepted, rejected, quarantined, tempfailed "                  \
	"FROM counters WHERE +hour >= ?1 AND +hour < ?2"
#define CNT_EACH_SQL                                                                               \
	"SELECT id, total(messages), total(recipients), total(bytes), total(accepted), "           \
	"total(rejected), total(quarantined), total(tempfailed), total(auth_failed) "              \
	"FROM counters WHERE hour >= ?1 AND hour < ?2 GROUP BY id ORDER BY id"

struct sqlite_state {
	struct state base; /* first: the handle is cast to and from struct state */
	sqlite3 *db;
	sqlite3_stmt *st[ST__COUNT];
	char path[SQLITE_PATH_MAX];
	uint64_t writes;  /* commits through this connection (data_version misses them) */
	uint64_t reopens; /* times the file was replaced and reopened */
	dev_t dev;	  /* the file the connection is on */
	ino_t ino;
};

/* The backend handle behind s. */
static inline struct sqlite_state *
SS(struct state *s)
{
	return (struct sqlite_state *)s;
}

/* Record an SQLite failure on the handle as an operator-readable message;
 * returns -1. */
int state_sqlite_fail(struct sqlite_state *ss, int rc, const char *what);
/* The cached statement, prepared on first use; NULL with the error set. */
sqlite3_stmt *state_sqlite_stmt(struct sqlite_state *ss, enum stmt_id id);
/* Run a cached statement whose rows (if any) are not needed. */
int state_sqlite_exec(struct sqlite_state *ss, enum stmt_id id, const char *what);
/* BEGIN IMMEDIATE (waits at most SQLITE_BUSY_MS for the write lock). */
int state_sqlite_begin(struct sqlite_state *ss);
/* Roll back if a transaction is open, keeping the recorded error; -1. */
int state_sqlite_abort(struct sqlite_state *ss);
/* Commit (rolling back on failure) and count it for state_version(). */
int state_sqlite_commit(struct sqlite_state *ss);
/* A fresh (uncached) statement: iterators use one so that their callbacks
 * may use the cache. NULL with the error set. */
sqlite3_stmt *state_sqlite_fresh(struct sqlite_state *ss, const char *sql);
/* Bind text (NULL binds ""). */
void state_sqlite_bind_text(sqlite3_stmt *q, int i, const char *v);
/* Copy a text column into a bounded buffer. */
void state_sqlite_col_copy(sqlite3_stmt *q, int i, char *dst, size_t len);
/* Step q (bound by the caller) to its end: each row, zeroed, filled by
 * read_row, into a malloc'ed array of elem-byte rows (*out, *n; NULL, 0
 * when none). Then q is finalized (a fresh statement) or reset (a cached
 * one). 0, or -1 with the error set (what: "the waivers", ...). */
int state_sqlite_collect(struct sqlite_state *ss, sqlite3_stmt *q, bool finalize, size_t elem,
			 void (*read_row)(sqlite3_stmt *q, void *row), void **out, size_t *n,
			 const char *what);
/* Finalize the statements, close the connection, free the handle. */
void state_sqlite_close(struct state *s);
/* Reopen when the file at the path was replaced; -1 (error set) when it
 * was and cannot be reopened. */
int state_sqlite_check_file(struct sqlite_state *ss);

/* state_last_changes() (state_sqlite_changes.c). */
int state_sqlite_last_changes(struct state *s, int (*fn)(const char *id, long long ts, void *arg),
			      void *arg);

/* The use counts (state_sqlite_usage.c). */
int state_sqlite_reserve(struct state *s, const char *id, long long hour, long long day,
			 unsigned msgs, unsigned rcpts, const struct state_limits *lim,
			 struct state_usage *use, enum state_over *over);
int state_sqlite_usage_add(struct state *s, const struct state_usage_delta *d, size_t n);
int state_sqlite_usage_get(struct state *s, const char *id, long long hour, long long day,
			   struct state_usage *use);

/* Export and import (state_sqlite_move.c). */
int state_sqlite_counters_rows(struct state *s,
			       int (*fn)(const char *id, long long hour,
					 const struct state_counts *c, void *arg),
			       void *arg);
int state_sqlite_usage_rows(struct state *s,
			    int (*fn)(const char *id, int win, long long start, uint64_t msgs,
				      uint64_t rcpts, void *arg),
			    void *arg);
int state_sqlite_import_audit(struct state *s, const struct state_audit *rec);
int state_sqlite_import_suspension(struct state *s, const struct state_suspension *sp);
int state_sqlite_import_usage(struct state *s, const char *id, int win, long long start,
			      uint64_t msgs, uint64_t rcpts);

/* Feedback counts (state_sqlite_feedback.c), as in struct state_ops. */
int state_sqlite_feedback_record(struct state *s, const char *key, long long now,
				 const struct state_feedback_delta *d, size_t n);
int state_sqlite_feedback_seen(struct state *s, const char *key);
int state_sqlite_feedback_sum(struct state *s, const char *id, long long from, long long to,
			      struct state_feedback *sum);
int state_sqlite_feedback_rows(struct state *s,
			       int (*fn)(const char *id, long long hour,
					 const struct state_feedback *f, void *arg),
			       void *arg);
int state_sqlite_feedback_keys(struct state *s, int (*fn)(const char *key, long long ts, void *arg),
			       void *arg);
int state_sqlite_import_feedback(struct state *s, const char *id, long long hour,
				 const struct state_feedback *f);
int state_sqlite_import_feedback_key(struct state *s, const char *key, long long ts);
/* Append rec to the audit chain inside an open write transaction
 * (state_sqlite_ops.c). */
int state_sqlite_append(struct sqlite_state *ss, struct state_audit *rec);

/* Waivers (state_sqlite_waiver.c), as in struct state_ops. */
#define WAIVER_SQL                                                                                 \
	"CREATE TABLE IF NOT EXISTS waivers ("                                                     \
	" wid INTEGER PRIMARY KEY,"                                                                \
	" id TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,"                               \
	" reason TEXT NOT NULL, requested_by TEXT NOT NULL, approver TEXT NOT NULL,"               \
	" ticket TEXT NOT NULL, created INTEGER NOT NULL, until INTEGER NOT NULL,"                 \
	" ended INTEGER NOT NULL DEFAULT 0);" /* 0: in force until `until` */                      \
	"CREATE INDEX IF NOT EXISTS waivers_open ON waivers (ended, until);"
int state_sqlite_waiver_grant(struct state *s, struct state_waiver *w, long long now,
			      struct state_audit *rec);
int state_sqlite_waivers(struct state *s, const char *id, long long now, bool all,
			 struct state_waiver **out, size_t *n);
int state_sqlite_waiver_expire(struct state *s, long long now, struct state_audit **recs,
			       size_t *n);
int state_sqlite_import_waiver(struct state *s, const struct state_waiver *w);
/* Append an audit record inside an open write transaction (state_sqlite_ops.c). */
int state_sqlite_append_locked(struct sqlite_state *ss, struct state_audit *rec);

/* Sending paths (state_sqlite_paths.c). */
int state_sqlite_path_learn(struct state *s, const char *id, const char *path, bool pending,
			    long long now, struct state_audit *rec, struct state_path *out);
int state_sqlite_paths(struct state *s, const char *id, struct state_path **out, size_t *n);
int state_sqlite_path_approve(struct state *s, const char *id, const char *path, const char *by,
			      const char *ticket, long long now, struct state_audit *rec);
int state_sqlite_import_path(struct state *s, const struct state_path *p);
/* Append an audit record inside an open write transaction. */
int state_sqlite_append_locked(struct sqlite_state *ss, struct state_audit *rec);

/* The suppression list (state_sqlite_suppress.c). */
int state_sqlite_supp_change(struct state *s, const char *id, const unsigned char *h, bool add,
			     long long now, struct state_audit *rec);
int state_sqlite_supp_changes(struct state *s, long long since,
			      int (*fn)(const struct state_supp *e, void *arg), void *arg);
int state_sqlite_supp_count(struct state *s, const char *id, uint64_t *n);
int state_sqlite_supp_keycheck(struct state *s, const unsigned char *check);
int state_sqlite_supp_import(struct state *s, const struct state_supp *e);

extern const struct state_ops state_sqlite_ops;

#endif
