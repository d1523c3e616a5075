/*
 * state_redis.h - private to the Redis backend (state_redis.c: the
 * connection, Sentinel discovery, reconnection with backoff, errors;
 * state_redis_lua.c: the server-side scripts; state_redis_ops.c: the
 * store operations; state_redis_audit.c: reading the audit log back).
 *
 * Keyspace, every key under state.redis.prefix (P):
 *   P ver              change counter: INCR on every suspension/waiver change
 *   P chg              pub/sub channel: the new ver after each such change
 *   P susp             hash  id -> encoded suspension (state_redis_ops.c)
 *   P audit:head       hash  seq, hash: the last record bulkwarden wrote
 *   P audit:SEQ        hash  ts action actor identity reason ticket detail prev hash
 *   P cnt:HOUR:ID      hash  the seven counters of one identity-hour
 *   P cnti             zset  "HOUR:ID" scored by HOUR (counters by time)
 *   P cnti:ID          zset  HOUR scored by HOUR (one identity's counters)
 *   P flush:BATCH      string  a counter flush already applied (kept a day)
 *   P use:h:HOUR:ID    hash  m r: messages and recipients granted this hour
 *   P use:d:DAY:ID     hash  m r: the same for the UTC day
 *   P fbk, P fb:HOUR:ID, P fbi, P fbi:ID  feedback (state_redis_feedback.c)
 *   P paths            hash  "ID PATH" -> a sending path (state_redis_paths.c)
 * Later kinds (waivers, suppressions) take their own P KIND hash and bump
 *   P wvr              hash  "ID KIND NAME" -> encoded waiver in force (or
 *                            expired, until its waiver-expired record)
 *   P wvr:old          hash  WID -> encoded waiver that ended (for waivers --all)
 *   P wvr:seq          string  the last waiver number given (INCR)
 * Later kinds (suppressions) take their own P KIND hash and bump
 *   P supp             hash  "ID:HEX32" -> "LIVE:SINCE:SEQ" (the suppression list)
 *   P supp:log         zset  "ID:HEX32" scored by the SEQ of its last change
 *   P supp:seq         string  the suppression change counter
 *   P supp:count       hash  id -> listed entries
 *   P supp:check       string  hex of the site key's check value
 * Later kinds (waivers) take their own P KIND hash and bump
 * P ver the same way, so the milter's one version poll covers them.
 */
#ifndef BW_STATE_REDIS_H
#define BW_STATE_REDIS_H

#include <stdbool.h>
#include <stdint.h>

#include <hiredis/hiredis.h>

#include "state/state_int.h"

#define REDIS_KEY_MAX 256      /* bytes of one key name (prefix + suffix) */
#define REDIS_PREFIX_MAX 64    /* bytes of state.redis.prefix */
#define REDIS_HOST_MAX 256     /* bytes of a host name */
#define REDIS_SECRET_MAX 512   /* bytes of the password file's first line */
#define REDIS_SENTINELS_MAX 16 /* sentinels tried per discovery */
#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 1000	    /* below state.stale_after's default */
#define REDIS_RETRIES 16		    /* optimistic write attempts before "busy" */
#define REDIS_WAIT_MS 1000		    /* how long a change waits for a replica's ack */
#define REDIS_COUNTER_TTL_S (400LL * 86400) /* counters kept about 13 months */

struct redis_state {
	struct state base; /* first: the handle is cast to and from struct state */
	redisContext *c;
	/* where to connect */
	char host[REDIS_HOST_MAX]; /* the configured primary, or the last one Sentinel named */
	int port;
	char sentinel_host[REDIS_SENTINELS_MAX][REDIS_HOST_MAX];
	int sentinel_port[REDIS_SENTINELS_MAX];
	size_t n_sentinels;
	char master[REDIS_HOST_MAX];
	char username[REDIS_HOST_MAX];
	char password[REDIS_SECRET_MAX];
	bool have_password;
	int db;
	unsigned timeout_ms;
	char prefix[REDIS_PREFIX_MAX];
	/* reconnection */
	long long next_try_ms; /* no attempt before this (monotonic) */
	unsigned backoff_ms;
	char last_err[STATE_ERR_MAX];
	/* scripts: SHA-1 hex of each, EVAL once on NOSCRIPT */
	bool durable;	 /* sentinels: a change waits for a replica's acknowledgement */
	bool subscribed; /* c is subscribed to P chg (state_wait_change) */
};

static inline struct redis_state *
RS(struct state *s)
{
	return (struct redis_state *)s;
}

/* Key P+fmt into buf (REDIS_KEY_MAX); false (error set) when too long. */
bool state_redis_key(struct redis_state *rs, char *buf, const char *fmt, ...) BW_PRINTF(3, 4);
/* A connected context (connecting, through Sentinel when configured, with
 * backoff after a failure); NULL with the error set. */
redisContext *state_redis_conn(struct redis_state *rs);
/* Drop the connection after an I/O or role error (the next call reconnects). */
void state_redis_drop(struct redis_state *rs, const char *why);
/* Run one command (argv form): the reply, or NULL with the error set and,
 * on an I/O error, the connection dropped. An error reply is returned as
 * NULL too. Free the reply with freeReplyObject. */
redisReply *state_redis_cmd(struct redis_state *rs, int argc, const char **argv,
			    const size_t *argvlen);
/* Check a reply: NULL (an I/O error: the connection is dropped) or an
 * error reply (freed; READONLY drops the connection) give NULL with the
 * error set; anything else is returned. */
redisReply *state_redis_check(struct redis_state *rs, redisReply *r);
/* Format-string command (hiredis redisCommand): as state_redis_cmd. */
redisReply *state_redis_cmdf(struct redis_state *rs, const char *fmt, ...);
/* Pipeline: append with redisAppendCommand*, then collect n replies into
 * out (NULL-initialised by the caller); -1 with the error set. */
int state_redis_collect(struct redis_state *rs, redisReply **out, size_t n);
/* After a change: WAIT for one replica when durable. -1 with a clear error
 * when no replica acknowledged it in time. */
int state_redis_wait(struct redis_state *rs);
/* Evaluate script id with keys and args: reply or NULL (error set). */
redisReply *state_redis_eval(struct redis_state *rs, int script, int nkeys, const char **keys,
			     int nargs, const char **args, const size_t *arglens);

enum { LUA_COMMIT, LUA_RESERVE, LUA_COUNTERS, LUA_SUPPRESS, LUA__COUNT };
extern const char *const state_redis_lua[LUA__COUNT];

/* An audit record as the commit scripts take it: STATE_REDIS_REC_ARGS
 * arguments, field name then value (seq ts action actor identity reason
 * ticket detail prev hash). num holds the printed seq and ts, which args
 * point into. */
#define STATE_REDIS_REC_FIELDS 10
#define STATE_REDIS_REC_ARGS (2 * STATE_REDIS_REC_FIELDS)
struct state_redis_recnum {
	char seq[24], ts[24];
};
void state_redis_rec_args(const struct state_audit *rec, struct state_redis_recnum *num,
			  const char **args);
/* A commit script's reply r (freed here; NULL: the error is set): its
 * integer when within 0..max; -1 with the error set when the script found
 * rec's seq already taken beyond the head (the log was changed outside
 * bulkwarden) or answered anything else (script names it). */
int state_redis_commit_reply(struct redis_state *rs, redisReply *r, const struct state_audit *rec,
			     long long max, const char *script);

/* The audit head (seq, hash) and, id != NULL, id's raw suspension value
 * (cur, "" when none) in one round trip (state_redis_ops.c). */
int state_redis_read_head(struct redis_state *rs, const char *id, long long *seq, char *hash,
			  char *cur, size_t curlen);
/* Reading the audit log back (state_redis_audit.c), as in struct state_ops. */
int state_redis_audit_foreach(struct state *s, int (*fn)(const struct state_audit *rec, void *arg),
			      void *arg);
int state_redis_audit_verify(struct state *s, struct state_audit_check *chk);
/* Counters and use counts (state_redis_count.c), as in struct state_ops. */
int state_redis_counters_add(struct state *s, const struct state_counter_delta *d, size_t n);
int state_redis_counters_add_once(struct state *s, const char *batch,
				  const struct state_counter_delta *d, size_t n);
int state_redis_counters_sum(struct state *s, const char *id, long long from, long long to,
			     struct state_counts *sum);
int state_redis_counters_foreach(struct state *s, long long from, long long to,
				 int (*fn)(const char *id, const struct state_counts *sum,
					   void *arg),
				 void *arg);
int state_redis_reserve(struct state *s, const char *id, long long hour, long long day,
			unsigned msgs, unsigned rcpts, const struct state_limits *lim,
			struct state_usage *use, enum state_over *over);
int state_redis_usage_add(struct state *s, const struct state_usage_delta *d, size_t n);
int state_redis_usage_get(struct state *s, const char *id, long long hour, long long day,
			  struct state_usage *use);

/* Export and import (state_redis_move.c), as in struct state_ops. */
int state_redis_counters_rows(struct state *s,
			      int (*fn)(const char *id, long long hour,
					const struct state_counts *c, void *arg),
			      void *arg);
int state_redis_usage_rows(struct state *s,
			   int (*fn)(const char *id, int win, long long start, uint64_t msgs,
				     uint64_t rcpts, void *arg),
			   void *arg);
int state_redis_import_audit(struct state *s, const struct state_audit *rec);
int state_redis_import_usage(struct state *s, const char *id, int win, long long start,
			     uint64_t msgs, uint64_t rcpts);
/* The counters of a struct in the order of state_redis_cnt_fields (hash
 * fields of a "cnt:" key; a hash written before auth_failed lacks it: 0). */
#define REDIS_CNT_FIELDS 8
#define REDIS_CNT_HMGET                                                                            \
	"HMGET %s messages recipients bytes accepted rejected quarantined tempfailed auth_failed"
uint64_t *state_redis_cnt_field(struct state_counts *c, int i);
extern const char *const state_redis_cnt_fields[REDIS_CNT_FIELDS];

/* Feedback counts (state_redis_feedback.c), as in struct state_ops. */
int state_redis_feedback_record(struct state *s, const char *key, long long now,
				const struct state_feedback_delta *d, size_t n);
int state_redis_feedback_seen(struct state *s, const char *key);
int state_redis_feedback_sum(struct state *s, const char *id, long long from, long long to,
			     struct state_feedback *sum);
int state_redis_feedback_rows(struct state *s,
			      int (*fn)(const char *id, long long hour,
					const struct state_feedback *f, void *arg),
			      void *arg);
int state_redis_feedback_keys(struct state *s, int (*fn)(const char *key, long long ts, void *arg),
			      void *arg);
int state_redis_import_feedback(struct state *s, const char *id, long long hour,
				const struct state_feedback *f);
int state_redis_import_feedback_key(struct state *s, const char *key, long long ts);

/* state_wait_change: SUBSCRIBE P chg on first use, then wait. */
int state_redis_wait_change(struct state *s, unsigned timeout_ms);

/* Sending paths (state_redis_paths.c), as in struct state_ops. */
int state_redis_path_learn(struct state *s, const char *id, const char *path, bool pending,
			   long long now, struct state_audit *rec, struct state_path *out);
int state_redis_paths(struct state *s, const char *id, struct state_path **out, size_t *n);
int state_redis_path_approve(struct state *s, const char *id, const char *path, const char *by,
			     const char *ticket, long long now, struct state_audit *rec);
int state_redis_import_path(struct state *s, const struct state_path *p);
/* The suppression list (state_redis_suppress.c), as in struct state_ops. */
int state_redis_supp_change(struct state *s, const char *id, const unsigned char *h, bool add,
			    long long now, struct state_audit *rec);
int state_redis_supp_changes(struct state *s, long long since,
			     int (*fn)(const struct state_supp *e, void *arg), void *arg);
int state_redis_supp_count(struct state *s, const char *id, uint64_t *n);
int state_redis_supp_keycheck(struct state *s, const unsigned char *check);
int state_redis_supp_import(struct state *s, const struct state_supp *e);

void state_redis_close(struct state *s);

/* The COMMIT script on field id of hash P kind (state_redis_ops.c): chain
 * rec to the head read, apply op (none|put|del) only while the field still
 * holds expect ("*": any, "": absent), bump P ver and publish. 1 written,
 * 0 conflict, -1 error. */
int state_redis_commit(struct redis_state *rs, const char *kind, struct state_audit *rec,
		       long long head_seq, const char *head_hash, const char *op, const char *id,
		       const char *expect, const char *newval);

/* Waivers (state_redis_waiver.c), as in struct state_ops. */
int state_redis_waiver_grant(struct state *s, struct state_waiver *w, long long now,
			     struct state_audit *rec);
int state_redis_waivers(struct state *s, const char *id, long long now, bool all,
			struct state_waiver **out, size_t *n);
int state_redis_waiver_expire(struct state *s, long long now, struct state_audit **recs, size_t *n);
int state_redis_import_waiver(struct state *s, const struct state_waiver *w);

extern const struct state_ops state_redis_ops;

/* Read one "N:bytes" field of a stored value at *p (end e) into dst,
 * truncated to cap - 1 bytes; false when malformed (state_redis_ops.c). */
bool state_redis_take_field(const char **p, const char *e, char *dst, size_t cap);

#endif
