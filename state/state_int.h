/*
 * state_int.h - what state/state.c shares with the state backends
 * (state_sqlite.c now, state_redis.c later): the operations table, the
 * common head of every backend handle, and the backend-neutral audit hash
 * chain (serialization, hashing, verification steps).
 *
 * A backend allocates its own handle whose first member is struct state,
 * fills ops, and frees everything in ops->close. Arguments reaching the ops
 * have already been checked by state.c (ids, lengths, required fields).
 */
#ifndef BW_STATE_INT_H
#define BW_STATE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "state/state.h"
#include "base/util.h"

#define STATE_ERR_MAX 512    /* bytes of the last error message */
#define STATE_ORIGIN_MAX 160 /* bytes of the origin note (state_set_origin) */
#define STATE_TIME_MAX 32    /* bytes of an ISO 8601 UTC time */
#define STATE_AUDIT_FIELDS 6 /* action, actor, identity, reason, ticket, detail */
#define STATE_ZERO_HASH "0000000000000000000000000000000000000000000000000000000000000000"
#define STATE_WHY_MAX 256 /* bytes of a verification failure description */

/* Progress of one audit chain verification (see state_audit_check_*). */
struct state_audit_check {
	long long n;		       /* records seen */
	long long expect_seq;	       /* seq the next record must have */
	char prev[STATE_HASH_HEX + 1]; /* hash the next record must chain to */
	bool broken;
	long long bad_seq;
	char why[STATE_WHY_MAX];
};

struct state_ops {
	const char *name;
	void (*close)(struct state *s);
	int (*suspend)(struct state *s, const char *id, const char *reason, const char *by,
		       const char *ticket, long long until, long long now, struct state_audit *rec);
	int (*reinstate)(struct state *s, const char *id, const char *reason, const char *by,
			 const char *ticket, long long now, struct state_audit *rec);
	int (*expire)(struct state *s, long long now, struct state_audit **recs, size_t *n);
	int (*suspensions)(struct state *s, long long now, struct state_suspension **out,
			   size_t *n);
	int (*version)(struct state *s, uint64_t *version);
	int (*audit_append)(struct state *s, struct state_audit *rec);
	int (*audit_foreach)(struct state *s, int (*fn)(const struct state_audit *rec, void *arg),
			     void *arg);
	int (*audit_verify)(struct state *s, struct state_audit_check *chk);
	int (*counters_add)(struct state *s, const struct state_counter_delta *d, size_t n);
	/* NULL: counters_add is all or nothing with a known outcome (SQLite) */
	int (*counters_add_once)(struct state *s, const char *batch,
				 const struct state_counter_delta *d, size_t n);
	int (*counters_sum)(struct state *s, const char *id, long long from, long long to,
			    struct state_counts *sum);
	int (*counters_foreach)(struct state *s, long long from, long long to,
				int (*fn)(const char *id, const struct state_counts *sum,
					  void *arg),
				void *arg);
	/* Optional: state_last_changes() (absent: one pass over audit_foreach). */
	int (*last_changes)(struct state *s, int (*fn)(const char *id, long long ts, void *arg),
			    void *arg);
	/* Optional: every bucket with from <= hour < to, in one pass, any
	 * order (state_counters_daily falls back to a foreach per day); the
	 * messages and outcome counters only (recipients and bytes 0). */
	int (*counters_each_bucket)(struct state *s, long long from, long long to,
				    int (*fn)(const char *id, long long hour,
					      const struct state_counts *c, void *arg),
				    void *arg);
	int (*reserve)(struct state *s, const char *id, long long hour, long long day,
		       unsigned msgs, unsigned rcpts, const struct state_limits *lim,
		       struct state_usage *use, enum state_over *over);
	int (*usage_add)(struct state *s, const struct state_usage_delta *d, size_t n);
	int (*usage_get)(struct state *s, const char *id, long long hour, long long day,
			 struct state_usage *use);
	int (*wait_change)(struct state *s, unsigned timeout_ms); /* NULL: no notification */
	/* export / import */
	int (*counters_rows)(struct state *s,
			     int (*fn)(const char *id, long long hour, const struct state_counts *c,
				       void *arg),
			     void *arg);
	int (*usage_rows)(struct state *s,
			  int (*fn)(const char *id, int win, long long start, uint64_t msgs,
				    uint64_t rcpts, void *arg),
			  void *arg);
	int (*import_audit)(struct state *s, const struct state_audit *rec);
	int (*import_suspension)(struct state *s, const struct state_suspension *sp);
	int (*import_usage)(struct state *s, const char *id, int win, long long start,
			    uint64_t msgs, uint64_t rcpts);
	/* feedback (state_feedback_*), NULL in a backend without them */
	int (*feedback_record)(struct state *s, const char *key, long long now,
			       const struct state_feedback_delta *d, size_t n);
	int (*feedback_seen)(struct state *s, const char *key);
	int (*feedback_sum)(struct state *s, const char *id, long long from, long long to,
			    struct state_feedback *sum);
	int (*feedback_rows)(struct state *s,
			     int (*fn)(const char *id, long long hour,
				       const struct state_feedback *f, void *arg),
			     void *arg);
	int (*feedback_keys)(struct state *s, int (*fn)(const char *key, long long ts, void *arg),
			     void *arg);
	int (*import_feedback)(struct state *s, const char *id, long long hour,
			       const struct state_feedback *f);
	int (*import_feedback_key)(struct state *s, const char *key, long long ts);
	/* waivers (state_waiver.c checks the arguments); NULL: not supported */
	int (*waiver_grant)(struct state *s, struct state_waiver *w, long long now,
			    struct state_audit *rec);
	int (*waivers)(struct state *s, const char *id, long long now, bool all,
		       struct state_waiver **out, size_t *n);
	int (*waiver_expire)(struct state *s, long long now, struct state_audit **recs,
			     size_t *n);
	int (*import_waiver)(struct state *s, const struct state_waiver *w);
	/* sending paths (state/state_paths.c) */
	int (*path_learn)(struct state *s, const char *id, const char *path, bool pending,
			  long long now, struct state_audit *rec, struct state_path *out);
	int (*paths)(struct state *s, const char *id, struct state_path **out, size_t *n);
	int (*path_approve)(struct state *s, const char *id, const char *path, const char *by,
			    const char *ticket, long long now, struct state_audit *rec);
	int (*import_path)(struct state *s, const struct state_path *p);
	/* the suppression list (NULL: the backend has none; state.c says so).
	 * rec arrives filled but for seq/ts/hashes; append it in the same
	 * transaction as the change. */
	int (*supp_change)(struct state *s, const char *id, const unsigned char *h, bool add,
			   long long now, struct state_audit *rec);
	int (*supp_changes)(struct state *s, long long since,
			    int (*fn)(const struct state_supp *e, void *arg), void *arg);
	int (*supp_count)(struct state *s, const char *id, uint64_t *n);
	int (*supp_keycheck)(struct state *s, const unsigned char *check);
	int (*supp_import)(struct state *s, const struct state_supp *e);
};

/* The head of every backend handle. */
struct state {
	const struct state_ops *ops;
	char err[STATE_ERR_MAX];
	char origin[STATE_ORIGIN_MAX]; /* state_set_origin(), "" when unset */
	/* the audit action of the suspend op's record: "suspend", or
	 * "auto-suspend" inside state_auto_suspend() */
	const char *suspend_action;
};

/* The suspend op's audit action (never NULL). */
static inline const char *
state_suspend_action(const struct state *s)
{
	return s->suspend_action ? s->suspend_action : "suspend";
}

/* Argument checks shared by state.c and state_fleet.c: false with the
 * error set. */
bool state_check_id(struct state *s, const char *id);
bool state_check_text(struct state *s, const char *what, const char *v, bool required, size_t max);

/* The exception path (SPEC §6), which every backend's suspend and
 * reinstate keep inside their transaction: suspending a suspended identity
 * only extends the suspension in force (returns 1, nothing written, when it
 * would not end later); reinstate refuses (-1) an actor that
 * state_same_actor() finds equal to whoever suspended it. */
bool state_same_actor(const char *a, const char *b);

/* Record why the last call failed (newlines are replaced by spaces). */
void state_set_error(struct state *s, const char *fmt, ...) BW_PRINTF(2, 3);
/* Format an audit record's detail into buf (STATE_TEXT_MAX bytes), followed
 * by "; via ORIGIN" when the handle has an origin. Truncates. */
void state_detail(const struct state *s, char *buf, const char *fmt, ...) BW_PRINTF(3, 4);
/* "YYYY-MM-DDTHH:MM:SSZ" for t (UTC) into buf; returns buf. */
char *state_time_str(long long t, char buf[STATE_TIME_MAX]);

/* One audit record as raw stored bytes: what the verifier hashes. The
 * fields need not be NUL-terminated and may hold any byte. */
struct state_audit_raw {
	long long seq, ts;
	const char *field[STATE_AUDIT_FIELDS];
	size_t len[STATE_AUDIT_FIELDS];
	const char *prev_hash, *hash;
	size_t prev_len, hash_len;
};

/* Fill raw so that it points into rec. */
void state_audit_raw_of(const struct state_audit *rec, struct state_audit_raw *raw);
/* SHA-256 hex of prev_hash and the canonical serialization of raw (see
 * state.c); out receives STATE_HASH_HEX digits and a NUL. */
int state_audit_hash(const struct state_audit_raw *raw, const char *prev_hash,
		     char out[STATE_HASH_HEX + 1]);

/*
 * Incremental verification: the backend feeds the records in ascending seq
 * order to state_audit_check_step(), then calls state_audit_check_end()
 * with the head it keeps (last seq and hash, or 0 and "" when it keeps no
 * head). Both return 0 while the chain is intact, 1 once it is broken
 * (chk->bad_seq and chk->why say where; later steps are ignored).
 */
void state_audit_check_begin(struct state_audit_check *chk);
int state_audit_check_step(struct state_audit_check *chk, const struct state_audit_raw *raw);
int state_audit_check_end(struct state_audit_check *chk, long long head_seq, const char *head_hash);

/* state_last_changes() read through ops->audit_foreach (the backends
 * without a query of their own: Redis). */
int state_last_changes_walk(struct state *s, int (*fn)(const char *id, long long ts, void *arg),
			    void *arg);

/* Backends. */
struct state *state_sqlite_open(const struct bw_settings *set, char *err, size_t errlen);
/* state_open_existing() for SQLite. */
struct state *state_sqlite_open_existing(const struct bw_settings *set, char *err, size_t errlen);
/* Whether state_sqlite_open would succeed, without creating anything. */
int state_sqlite_probe(const struct bw_settings *set, char *err, size_t errlen);
struct state *state_redis_open(const struct bw_settings *set, char *err, size_t errlen);

/* The use-count windows: how long a window's counts are kept after it
 * starts (a day's are read for the whole day, then by export). */
#define STATE_USAGE_KEEP_S (2LL * 86400)

#endif
