/*
 * state_redis_ops.c - the state store operations of the Redis backend:
 * suspensions, expiry, the change counter and the audit log (keyspace in
 * state_redis.h, scripts in state_redis_lua.c; counters and use counts in
 * state_redis_count.c; reading the audit log back in state_redis_audit.c).
 *
 * Writes that carry an audit record go through the COMMIT script with the
 * head and suspension the caller read, retried on a conflict, then wait for
 * a replica when the handle is durable (Sentinel). Counter and use-count
 * flushes are one MULTI/EXEC pipeline (all or none, one round trip).
 * Memory: arrays handed back are malloc'ed for the caller; replies are
 * freed before returning. Untrusted input: stored values (decoded with
 * bounds; a value that does not decode is reported, never guessed).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_redis.h"
#include "base/util.h"

#define SUSP_ENC_MAX (64 + STATE_NAME_MAX * 2 + STATE_TEXT_MAX + 32)

/* ---- suspension values: "1 SINCE UNTIL N:by N:ticket N:reason" --------- */

/* Encode a suspension; false when it does not fit (cannot happen with the
 * checked argument lengths). */
static bool
susp_encode(char *buf, size_t len, long long since, long long until, const char *by,
	    const char *ticket, const char *reason)
{
	int n = snprintf(buf, len, "1 %lld %lld %zu:%s%zu:%s%zu:%s", since, until, strlen(by), by,
			 strlen(ticket), ticket, strlen(reason), reason);
	return n > 0 && (size_t)n < len;
}

/* Read "N:bytes" at *p (end e) into dst (bounded copy);
 * the field reader of every stored value (state_redis.h). */
bool
state_redis_take_field(const char **p, const char *e, char *dst, size_t cap)
{
	char *end;
	unsigned long long n = strtoull(*p, &end, 10);
	if (end == *p || end >= e || *end != ':' || n > (unsigned long long)(e - end - 1))
		return false;
	size_t k = n < cap - 1 ? (size_t)n : cap - 1;
	memcpy(dst, end + 1, k);
	dst[k] = '\0';
	*p = end + 1 + n;
	return true;
}

/* Decode a stored suspension value of len bytes. */
static bool
susp_decode(const char *v, size_t len, struct state_suspension *out)
{
	const char *e = v + len, *p;
	char *end;
	if (len < 2 || v[0] != '1' || v[1] != ' ')
		return false;
	out->since = strtoll(v + 2, &end, 10);
	if (end >= e || *end != ' ')
		return false;
	out->until = strtoll(end + 1, &end, 10);
	if (end >= e || *end != ' ')
		return false;
	p = end + 1;
	return state_redis_take_field(&p, e, out->by, sizeof(out->by)) &&
	       state_redis_take_field(&p, e, out->ticket, sizeof(out->ticket)) &&
	       state_redis_take_field(&p, e, out->reason, sizeof(out->reason)) && p == e;
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

/* ---- the audit head and one-step commits ------------------------------- */

/*
 * Read the audit head and (id != NULL) id's suspension value in one round
 * trip. cur receives the raw value ("" when none).
 */
int
state_redis_read_head(struct redis_state *rs, const char *id, long long *seq, char *hash, char *cur,
		      size_t curlen)
{
	char khead[REDIS_KEY_MAX], ksusp[REDIS_KEY_MAX];
	redisReply *r[2] = {NULL, NULL};
	size_t n = id ? 2 : 1;
	if (!state_redis_key(rs, khead, "audit:head") || !state_redis_key(rs, ksusp, "susp") ||
	    state_redis_conn(rs) == NULL)
		return -1;
	redisAppendCommand(rs->c, "HMGET %s seq hash", khead);
	if (id)
		redisAppendCommand(rs->c, "HGET %s %s", ksusp, id);
	if (state_redis_collect(rs, r, n) != 0)
		return -1;
	*seq = 0;
	hash[0] = '\0';
	if (r[0]->type == REDIS_REPLY_ARRAY && r[0]->elements == 2 &&
	    r[0]->element[0]->type == REDIS_REPLY_STRING &&
	    r[0]->element[1]->type == REDIS_REPLY_STRING) {
		*seq = strtoll(r[0]->element[0]->str, NULL, 10);
		bw_strlcpy(hash, r[0]->element[1]->str, STATE_HASH_HEX + 1);
	}
	if (id) {
		cur[0] = '\0';
		if (r[1]->type == REDIS_REPLY_STRING) {
			if (r[1]->len >= curlen) {
				state_set_error(&rs->base, "stored suspension of %s is too long",
						id);
				freeReplyObject(r[0]);
				freeReplyObject(r[1]);
				return -1;
			}
			memcpy(cur, r[1]->str, r[1]->len);
			cur[r[1]->len] = '\0';
		}
	}
	freeReplyObject(r[0]);
	freeReplyObject(r[1]);
	return 0;
}

/*
 * Chain rec to the head read (seq, hash) and run COMMIT with the
 * suspension change op ("none", "put", "del") for id, valid only while id's
 * value is still expect ("*": any). 1 written, 0 conflict, -1 error.
 */
static int
commit(struct redis_state *rs, struct state_audit *rec, long long head_seq, const char *head_hash,
       const char *op, const char *id, const char *expect, const char *newval)
{
	return state_redis_commit(rs, "susp", rec, head_seq, head_hash, op, id, expect, newval);
}

/* commit() on the field of any hash P kind (waivers: P wvr). */
int
state_redis_commit(struct redis_state *rs, const char *kind, struct state_audit *rec,
		   long long head_seq, const char *head_hash, const char *op, const char *id,
		   const char *expect, const char *newval)
{
	char khead[REDIS_KEY_MAX], krec[REDIS_KEY_MAX], ksusp[REDIS_KEY_MAX], kver[REDIS_KEY_MAX],
	    chan[REDIS_KEY_MAX];
	char hseq[24];
	struct state_audit_raw raw;

	rec->seq = head_seq + 1;
	bw_strlcpy(rec->prev_hash, head_hash[0] ? head_hash : STATE_ZERO_HASH,
		   sizeof(rec->prev_hash));
	state_audit_raw_of(rec, &raw);
	if (state_audit_hash(&raw, rec->prev_hash, rec->hash) != 0) {
		state_set_error(&rs->base, "cannot compute the audit hash (SHA-256)");
		return -1;
	}
	if (!state_redis_key(rs, khead, "audit:head") ||
	    !state_redis_key(rs, krec, "audit:%lld", rec->seq) ||
	    !state_redis_key(rs, ksusp, "%s", kind) || !state_redis_key(rs, kver, "ver") ||
	    !state_redis_key(rs, chan, "chg"))
		return -1;
	snprintf(hseq, sizeof(hseq), "%lld", head_seq);
	struct state_redis_recnum num;
	const char *keys[] = {khead, krec, ksusp, kver};
	const char *args[9 + STATE_REDIS_REC_ARGS] = {hseq,	    head_hash, op,
						      id ? id : "", expect,    newval ? newval : "",
						      chan,	    num.seq,   rec->hash};
	state_redis_rec_args(rec, &num, args + 9);
	redisReply *r =
	    state_redis_eval(rs, LUA_COMMIT, 4, keys, 9 + STATE_REDIS_REC_ARGS, args, NULL);
	return state_redis_commit_reply(rs, r, rec, 1, "commit");
}

/* After REDIS_RETRIES conflicts. */
static int
busy(struct redis_state *rs)
{
	state_set_error(&rs->base, "the state changed %d times while writing: too busy, try again",
			REDIS_RETRIES);
	return -1;
}

/* Does a suspension ending at until (0: never) outlast one ending at old? */
static bool
outlasts(long long until, long long old)
{
	return old != 0 && (until == 0 || until > old);
}

/*
 * Suspend id, by the rules state_sqlite_ops.c keeps (SPEC §6): a
 * suspension in force is never shortened or lifted here; one that ends
 * later (or never) extends it, keeping who suspended it, since when, why
 * and the ticket (the extension is its own audit record); one that ends no
 * later changes nothing and returns 1. The value read is the COMMIT
 * script's expectation, so a concurrent change makes us read and decide
 * again.
 */
static int
rd_suspend(struct state *s, const char *id, const char *reason, const char *by, const char *ticket,
	   long long until, long long now, struct state_audit *rec)
{
	struct redis_state *rs = RS(s);
	char cur[SUSP_ENC_MAX], val[SUSP_ENC_MAX], head[STATE_HASH_HEX + 1];
	char t1[STATE_TIME_MAX], t2[STATE_TIME_MAX], prev[STATE_TEXT_MAX];
	long long seq;

	for (int i = 0; i < REDIS_RETRIES; i++) {
		struct state_suspension old;
		bool extend = false;
		memset(&old, 0, sizeof(old));
		if (state_redis_read_head(rs, id, &seq, head, cur, sizeof(cur)) != 0)
			return -1;
		prev[0] = '\0';
		if (cur[0] != '\0' && !susp_decode(cur, strlen(cur), &old)) {
			state_set_error(s, "stored suspension of %s does not decode", id);
			return -1;
		}
		if (cur[0] != '\0' && (old.until == 0 || old.until > now)) {
			if (!outlasts(until, old.until)) {
				state_set_error(
				    s,
				    "%s is already suspended %s%s (since %s by %s); a suspension "
				    "is never shortened: only reinstate lifts it",
				    id, old.until ? "until " : "until reinstated",
				    old.until ? state_time_str(old.until, t1) : "",
				    state_time_str(old.since, t2), old.by);
				return 1;
			}
			extend = true;
			snprintf(prev, sizeof(prev),
				 "; extends the suspension since %s by %s (until %s)",
				 state_time_str(old.since, t2), old.by,
				 state_time_str(old.until, t1)); /* truncation acceptable */
		}
		if (!susp_encode(val, sizeof(val), extend ? old.since : now, until,
				 extend ? old.by : by, extend ? old.ticket : ticket,
				 extend ? old.reason : reason)) {
			state_set_error(s, "suspension too long to store");
			return -1;
		}
		fill_rec(rec, state_suspend_action(s), by, id, reason, ticket, now);
		if (until != 0)
			state_detail(s, rec->detail, "until %s%s", state_time_str(until, t1), prev);
		else
			state_detail(s, rec->detail, "until reinstated%s", prev);
		int rc = commit(rs, rec, seq, head, "put", id, cur, val);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return state_redis_wait(rs);
	}
	return busy(rs);
}

/* Reinstate id: needs an actor other than whoever suspended it (the
 * ticket is checked by state_reinstate()); 0 when nothing is in force. */
static int
rd_reinstate(struct state *s, const char *id, const char *reason, const char *by,
	     const char *ticket, long long now, struct state_audit *rec)
{
	struct redis_state *rs = RS(s);
	char cur[SUSP_ENC_MAX], head[STATE_HASH_HEX + 1], t[STATE_TIME_MAX];
	long long seq;

	for (int i = 0; i < REDIS_RETRIES; i++) {
		struct state_suspension old;
		memset(&old, 0, sizeof(old));
		if (state_redis_read_head(rs, id, &seq, head, cur, sizeof(cur)) != 0)
			return -1;
		if (cur[0] == '\0')
			return 0;
		if (!susp_decode(cur, strlen(cur), &old)) {
			state_set_error(s, "stored suspension of %s does not decode", id);
			return -1;
		}
		if (old.until != 0 && old.until <= now)
			return 0; /* nothing to lift (expiry does it) */
		if (state_same_actor(by, old.by)) {
			state_set_error(s, "%s was suspended by %s: someone else must reinstate it",
					id, old.by);
			return -1;
		}
		fill_rec(rec, "reinstate", by, id, reason, ticket, now);
		state_detail(s, rec->detail, "lifts the suspension since %s by %s",
			     state_time_str(old.since, t), old.by);
		int rc = commit(rs, rec, seq, head, "del", id, cur, NULL);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return state_redis_wait(rs) == 0 ? 1 : -1;
	}
	return busy(rs);
}

/* Every stored suspension (HGETALL P susp) into a malloc'ed array;
 * undecodable values are reported. raw (may be NULL) receives copies of the
 * stored values, in the same order, for the expiry's conditional delete. */
static int
read_all(struct redis_state *rs, struct state_suspension **out, size_t *n, char ***raw)
{
	char k[REDIS_KEY_MAX];
	*out = NULL;
	*n = 0;
	if (raw)
		*raw = NULL;
	if (!state_redis_key(rs, k, "susp"))
		return -1;
	redisReply *r = state_redis_cmdf(rs, "HGETALL %s", k);
	if (r == NULL)
		return -1;
	size_t m = r->type == REDIS_REPLY_ARRAY ? r->elements / 2 : 0;
	struct state_suspension *v = m ? calloc(m, sizeof(*v)) : NULL;
	char **rv = raw && m ? calloc(m, sizeof(char *)) : NULL;
	if (m && (v == NULL || (raw && rv == NULL))) {
		free(v);
		free(rv);
		freeReplyObject(r);
		state_set_error(&rs->base, "out of memory");
		return -1;
	}
	size_t k2 = 0;
	for (size_t i = 0; i < m; i++) {
		redisReply *kid = r->element[2 * i], *val = r->element[2 * i + 1];
		if (kid->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING ||
		    kid->len > STATE_ID_MAX || !susp_decode(val->str, val->len, &v[k2])) {
			state_set_error(&rs->base, "a stored suspension does not decode");
			for (size_t j = 0; rv && j < k2; j++)
				free(rv[j]);
			free(rv);
			free(v);
			freeReplyObject(r);
			return -1;
		}
		memcpy(v[k2].id, kid->str, kid->len);
		v[k2].id[kid->len] = '\0';
		if (rv && (rv[k2] = strndup(val->str, val->len)) == NULL) {
			state_set_error(&rs->base, "out of memory");
			for (size_t j = 0; j < k2; j++)
				free(rv[j]);
			free(rv);
			free(v);
			freeReplyObject(r);
			return -1;
		}
		k2++;
	}
	freeReplyObject(r);
	*out = v;
	*n = k2;
	if (raw)
		*raw = rv;
	return 0;
}

static int
cmp_susp(const void *a, const void *b)
{
	return strcmp(((const struct state_suspension *)a)->id,
		      ((const struct state_suspension *)b)->id);
}

static int
rd_suspensions(struct state *s, long long now, struct state_suspension **out, size_t *n)
{
	struct state_suspension *v;
	size_t m, k = 0;
	if (read_all(RS(s), &v, &m, NULL) != 0)
		return -1;
	for (size_t i = 0; i < m; i++)
		if (v[i].until == 0 || v[i].until > now)
			v[k++] = v[i];
	if (k > 1)
		qsort(v, k, sizeof(*v), cmp_susp);
	if (k == 0) {
		free(v);
		v = NULL;
	}
	*out = v;
	*n = k;
	return 0;
}

/* Lift expired suspensions; each delete is conditional on the value read,
 * so two milters expiring at once write each record once. */
static int
rd_expire(struct state *s, long long now, struct state_audit **recs, size_t *nrecs)
{
	struct redis_state *rs = RS(s);
	struct state_suspension *v;
	struct state_audit *r = NULL;
	char **raw;
	size_t m, k = 0;
	char t1[STATE_TIME_MAX], t2[STATE_TIME_MAX], reason[STATE_TEXT_MAX];
	char head[STATE_HASH_HEX + 1], cur[SUSP_ENC_MAX];
	long long seq;
	int rc = 0;

	*recs = NULL;
	*nrecs = 0;
	if (read_all(rs, &v, &m, &raw) != 0)
		return -1;
	for (size_t i = 0; i < m && rc == 0; i++) {
		if (v[i].until == 0 || v[i].until > now)
			continue;
		if (r == NULL && (r = calloc(m, sizeof(*r))) == NULL) {
			state_set_error(s, "out of memory");
			rc = -1;
			break;
		}
		for (int t = 0; t < REDIS_RETRIES; t++) {
			if (state_redis_read_head(rs, v[i].id, &seq, head, cur, sizeof(cur)) != 0) {
				rc = -1;
				break;
			}
			if (strcmp(cur, raw[i]) != 0)
				break; /* changed meanwhile: someone else expired or replaced it */
			snprintf(reason, sizeof(reason), "suspension until %s expired",
				 state_time_str(v[i].until, t1));
			fill_rec(&r[k], "expire", "bulkwarden", v[i].id, reason, v[i].ticket, now);
			state_detail(s, r[k].detail, "suspended since %s by %s: %s",
				     state_time_str(v[i].since, t2), v[i].by, v[i].reason);
			int c = commit(rs, &r[k], seq, head, "del", v[i].id, raw[i], NULL);
			if (c < 0)
				rc = -1;
			if (c == 1)
				k++;
			if (c != 0)
				break;
		}
	}
	for (size_t i = 0; i < m; i++)
		free(raw[i]);
	free(raw);
	free(v);
	if (rc == 0 && k > 0 && state_redis_wait(rs) != 0)
		rc = -1; /* the records were written; the caller logs the error */
	if (k == 0) {
		free(r);
		r = NULL;
	}
	*recs = r;
	*nrecs = k;
	return rc;
}

static int
rd_version(struct state *s, uint64_t *version)
{
	struct redis_state *rs = RS(s);
	char k[REDIS_KEY_MAX];
	if (!state_redis_key(rs, k, "ver"))
		return -1;
	redisReply *r = state_redis_cmdf(rs, "GET %s", k);
	if (r == NULL)
		return -1;
	*version = r->type == REDIS_REPLY_STRING ? strtoull(r->str, NULL, 10) : 0;
	freeReplyObject(r);
	return 0;
}

static int
rd_audit_append(struct state *s, struct state_audit *rec)
{
	struct redis_state *rs = RS(s);
	char head[STATE_HASH_HEX + 1];
	long long seq;
	for (int i = 0; i < REDIS_RETRIES; i++) {
		if (state_redis_read_head(rs, NULL, &seq, head, NULL, 0) != 0)
			return -1;
		int rc = commit(rs, rec, seq, head, "none", NULL, "*", NULL);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return state_redis_wait(rs);
	}
	return busy(rs);
}

/* Store a suspension as it was exported (no audit record: the imported
 * chain holds the one that created it) and tell the milters. */
static int
rd_import_suspension(struct state *s, const struct state_suspension *sp)
{
	struct redis_state *rs = RS(s);
	char val[SUSP_ENC_MAX], ks[REDIS_KEY_MAX], kv[REDIS_KEY_MAX];
	redisReply *r[4] = {NULL, NULL, NULL, NULL};
	if (!susp_encode(val, sizeof(val), sp->since, sp->until, sp->by, sp->ticket, sp->reason)) {
		state_set_error(s, "suspension too long to store");
		return -1;
	}
	if (!state_redis_key(rs, ks, "susp") || !state_redis_key(rs, kv, "ver") ||
	    state_redis_conn(rs) == NULL)
		return -1;
	redisAppendCommand(rs->c, "MULTI");
	redisAppendCommand(rs->c, "HSET %s %s %s", ks, sp->id, val);
	redisAppendCommand(rs->c, "INCR %s", kv);
	redisAppendCommand(rs->c, "EXEC");
	if (state_redis_collect(rs, r, 4) != 0)
		return -1;
	int ok = r[3]->type == REDIS_REPLY_ARRAY;
	for (int i = 0; i < 4; i++)
		freeReplyObject(r[i]);
	if (!ok) {
		state_set_error(s, "Redis: the import transaction was not executed");
		return -1;
	}
	return state_redis_wait(rs);
}

const struct state_ops state_redis_ops = {
    .name = "redis",
    .close = state_redis_close,
    .suspend = rd_suspend,
    .reinstate = rd_reinstate,
    .expire = rd_expire,
    .suspensions = rd_suspensions,
    .version = rd_version,
    .audit_append = rd_audit_append,
    .audit_foreach = state_redis_audit_foreach,
    .audit_verify = state_redis_audit_verify,
    .counters_add = state_redis_counters_add,
    .counters_add_once = state_redis_counters_add_once,
    .counters_sum = state_redis_counters_sum,
    .counters_foreach = state_redis_counters_foreach,
    .reserve = state_redis_reserve,
    .usage_add = state_redis_usage_add,
    .usage_get = state_redis_usage_get,
    .counters_rows = state_redis_counters_rows,
    .usage_rows = state_redis_usage_rows,
    .import_audit = state_redis_import_audit,
    .import_suspension = rd_import_suspension,
    .import_usage = state_redis_import_usage,
    .path_learn = state_redis_path_learn,
    .paths = state_redis_paths,
    .path_approve = state_redis_path_approve,
    .import_path = state_redis_import_path,
    .wait_change = state_redis_wait_change,
    .feedback_record = state_redis_feedback_record,
    .feedback_seen = state_redis_feedback_seen,
    .feedback_sum = state_redis_feedback_sum,
    .feedback_rows = state_redis_feedback_rows,
    .feedback_keys = state_redis_feedback_keys,
    .import_feedback = state_redis_import_feedback,
    .import_feedback_key = state_redis_import_feedback_key,
    .waiver_grant = state_redis_waiver_grant,
    .waivers = state_redis_waivers,
    .waiver_expire = state_redis_waiver_expire,
    .import_waiver = state_redis_import_waiver,
    .supp_change = state_redis_supp_change,
    .supp_changes = state_redis_supp_changes,
    .supp_count = state_redis_supp_count,
    .supp_keycheck = state_redis_supp_keycheck,
    .supp_import = state_redis_supp_import,
};
