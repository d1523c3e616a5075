/*
 * state_redis_paths.c - sending paths in the Redis backend (see state.h,
 * "Sending paths"), so a path one relay learned is known to every relay
 * of the fleet.
 *
 * Keys (under the prefix P): P paths, a hash "ID PATH" -> "1 FIRST
 * PENDING APPROVED_AT N:by N:ticket" (a path holds no blank: state.h).
 * Learning and approving go through the COMMIT script (state_redis_lua.c)
 * with this hash in place of the suspensions: the record is appended and
 * the field set only while the field is still what was read (absent, when
 * learning), so relays racing on one path write one record; the loser
 * re-reads and finds the path known. COMMIT also bumps P ver and
 * publishes it, which wakes every milter's state thread.
 * Untrusted input: stored values (decoded with bounds; a value that does
 * not decode is reported, never guessed).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_redis.h"
#include "base/util.h"

#define PATH_ENC_MAX (96 + 2 * STATE_NAME_MAX)
#define FIELD_MAX (STATE_ID_MAX + 1 + STATE_PATH_MAX)

/* Encode a path's value. */
static bool
enc(char *buf, size_t len, const struct state_path *p)
{
	int n = snprintf(buf, len, "1 %lld %d %lld %zu:%s%zu:%s", p->first_seen, p->pending ? 1 : 0,
			 p->approved_at, strlen(p->approved_by), p->approved_by, strlen(p->ticket),
			 p->ticket);
	return n > 0 && (size_t)n < len;
}

/* Decode a value of len bytes into p (id and path are the caller's). */
static bool
dec(const char *v, size_t len, struct state_path *p)
{
	const char *e = v + len, *q;
	char *end;
	if (len < 2 || v[0] != '1' || v[1] != ' ')
		return false;
	p->first_seen = strtoll(v + 2, &end, 10);
	if (end >= e || *end != ' ')
		return false;
	long pend = strtol(end + 1, &end, 10);
	if (end >= e || *end != ' ' || (pend != 0 && pend != 1))
		return false;
	p->pending = pend == 1;
	p->approved_at = strtoll(end + 1, &end, 10);
	if (end >= e || *end != ' ')
		return false;
	q = end + 1;
	return state_redis_take_field(&q, e, p->approved_by, sizeof(p->approved_by)) &&
	       state_redis_take_field(&q, e, p->ticket, sizeof(p->ticket)) && q == e;
}

/* The audit head and the path's raw value (cur, "" when none) in one round
 * trip. */
static int
read_head(struct redis_state *rs, const char *field, long long *seq, char *hash, char *cur,
	  size_t curlen)
{
	char khead[REDIS_KEY_MAX], kpaths[REDIS_KEY_MAX];
	redisReply *r[2] = {NULL, NULL};
	int rc = -1;
	if (!state_redis_key(rs, khead, "audit:head") || !state_redis_key(rs, kpaths, "paths") ||
	    state_redis_conn(rs) == NULL)
		return -1;
	redisAppendCommand(rs->c, "HMGET %s seq hash", khead);
	redisAppendCommand(rs->c, "HGET %s %s", kpaths, field);
	if (state_redis_collect(rs, r, 2) != 0)
		return -1;
	*seq = 0;
	hash[0] = '\0';
	cur[0] = '\0';
	if (r[0]->type == REDIS_REPLY_ARRAY && r[0]->elements == 2 &&
	    r[0]->element[0]->type == REDIS_REPLY_STRING &&
	    r[0]->element[1]->type == REDIS_REPLY_STRING) {
		*seq = strtoll(r[0]->element[0]->str, NULL, 10);
		bw_strlcpy(hash, r[0]->element[1]->str, STATE_HASH_HEX + 1);
	}
	if (r[1]->type == REDIS_REPLY_STRING && r[1]->len >= curlen)
		state_set_error(&rs->base, "stored sending path %s is too long", field);
	else {
		if (r[1]->type == REDIS_REPLY_STRING) {
			memcpy(cur, r[1]->str, r[1]->len);
			cur[r[1]->len] = '\0';
		}
		rc = 0;
	}
	freeReplyObject(r[0]);
	freeReplyObject(r[1]);
	return rc;
}

/* COMMIT rec with "field = newval" in P paths, valid while the field is
 * still expect ("" absent). 1 written, 0 conflict, -1 error. */
static int
commit(struct redis_state *rs, struct state_audit *rec, long long head_seq, const char *head_hash,
       const char *field, const char *expect, const char *newval)
{
	char khead[REDIS_KEY_MAX], krec[REDIS_KEY_MAX], kpaths[REDIS_KEY_MAX], kver[REDIS_KEY_MAX],
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
	    !state_redis_key(rs, kpaths, "paths") || !state_redis_key(rs, kver, "ver") ||
	    !state_redis_key(rs, chan, "chg"))
		return -1;
	snprintf(hseq, sizeof(hseq), "%lld", head_seq);
	struct state_redis_recnum num;
	const char *keys[] = {khead, krec, kpaths, kver};
	const char *args[9 + STATE_REDIS_REC_ARGS] = {hseq,   head_hash, "put",	  field,    expect,
						      newval, chan,	 num.seq, rec->hash};
	state_redis_rec_args(rec, &num, args + 9);
	redisReply *r =
	    state_redis_eval(rs, LUA_COMMIT, 4, keys, 9 + STATE_REDIS_REC_ARGS, args, NULL);
	return state_redis_commit_reply(rs, r, rec, 1, "commit");
}

/* "ID PATH" into buf (FIELD_MAX). */
static void
field_of(char *buf, const char *id, const char *path)
{
	snprintf(buf, FIELD_MAX, "%s %s", id, path); /* both bounded by the checks */
}

int
state_redis_path_learn(struct state *s, const char *id, const char *path, bool pending,
		       long long now, struct state_audit *rec, struct state_path *out)
{
	struct redis_state *rs = RS(s);
	char field[FIELD_MAX], cur[PATH_ENC_MAX], val[PATH_ENC_MAX], head[STATE_HASH_HEX + 1];
	long long seq;
	field_of(field, id, path);
	memset(out, 0, sizeof(*out));
	bw_strlcpy(out->id, id, sizeof(out->id));
	bw_strlcpy(out->path, path, sizeof(out->path));
	for (int i = 0; i < REDIS_RETRIES; i++) {
		if (read_head(rs, field, &seq, head, cur, sizeof(cur)) != 0)
			return -1;
		if (cur[0] != '\0') {
			if (!dec(cur, strlen(cur), out)) {
				state_set_error(s, "stored sending path %s does not decode", field);
				return -1;
			}
			return 0;
		}
		out->first_seen = now;
		out->pending = pending;
		if (!enc(val, sizeof(val), out)) {
			state_set_error(s, "sending path too long to store");
			return -1;
		}
		int rc = commit(rs, rec, seq, head, field, "", val);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return state_redis_wait(rs) == 0 ? 1 : -1;
	}
	state_set_error(s, "the state changed %d times while writing: too busy, try again",
			REDIS_RETRIES);
	return -1;
}

int
state_redis_paths(struct state *s, const char *id, struct state_path **out, size_t *n)
{
	struct redis_state *rs = RS(s);
	char k[REDIS_KEY_MAX];
	*out = NULL;
	*n = 0;
	if (!state_redis_key(rs, k, "paths"))
		return -1;
	redisReply *r = state_redis_cmdf(rs, "HGETALL %s", k);
	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
		freeReplyObject(r);
		state_set_error(s, "unexpected reply reading the sending paths");
		return -1;
	}
	struct state_path *v = calloc(r->elements / 2 + 1, sizeof(*v));
	if (v == NULL) {
		freeReplyObject(r);
		state_set_error(s, "out of memory");
		return -1;
	}
	for (size_t i = 0; i + 1 < r->elements; i += 2) {
		const redisReply *f = r->element[i], *val = r->element[i + 1];
		if (f->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING)
			continue;
		const char *sp = memchr(f->str, ' ', f->len);
		struct state_path *p = &v[*n];
		memset(p, 0, sizeof(*p));
		if (sp == NULL || (size_t)(sp - f->str) > STATE_ID_MAX ||
		    f->len - (size_t)(sp - f->str) - 1 >= STATE_PATH_MAX ||
		    !dec(val->str, val->len, p)) {
			free(v);
			freeReplyObject(r);
			state_set_error(s, "stored sending path does not decode");
			return -1;
		}
		memcpy(p->id, f->str, (size_t)(sp - f->str));
		memcpy(p->path, sp + 1, f->len - (size_t)(sp - f->str) - 1);
		if (id == NULL || strcmp(p->id, id) == 0)
			(*n)++;
	}
	freeReplyObject(r);
	*out = v;
	return 0;
}

int
state_redis_path_approve(struct state *s, const char *id, const char *path, const char *by,
			 const char *ticket, long long now, struct state_audit *rec)
{
	struct redis_state *rs = RS(s);
	char field[FIELD_MAX], cur[PATH_ENC_MAX], val[PATH_ENC_MAX], head[STATE_HASH_HEX + 1];
	char t[STATE_TIME_MAX];
	long long seq;
	field_of(field, id, path);
	for (int i = 0; i < REDIS_RETRIES; i++) {
		struct state_path p;
		memset(&p, 0, sizeof(p));
		if (read_head(rs, field, &seq, head, cur, sizeof(cur)) != 0)
			return -1;
		if (cur[0] == '\0') {
			state_set_error(s, "%s has no sending path %s", id, path);
			return -1;
		}
		if (!dec(cur, strlen(cur), &p)) {
			state_set_error(s, "stored sending path %s does not decode", field);
			return -1;
		}
		if (!p.pending)
			return 0;
		p.pending = false;
		p.approved_at = now;
		bw_strlcpy(p.approved_by, by, sizeof(p.approved_by));
		bw_strlcpy(p.ticket, ticket, sizeof(p.ticket));
		if (!enc(val, sizeof(val), &p)) {
			state_set_error(s, "sending path too long to store");
			return -1;
		}
		memset(rec, 0, sizeof(*rec));
		rec->ts = now;
		bw_strlcpy(rec->action, "path-approve", sizeof(rec->action));
		bw_strlcpy(rec->actor, by, sizeof(rec->actor));
		bw_strlcpy(rec->identity, id, sizeof(rec->identity));
		snprintf(rec->reason, sizeof(rec->reason), "sending path %s approved", path);
		bw_strlcpy(rec->ticket, ticket, sizeof(rec->ticket));
		state_detail(s, rec->detail, "path=%s first_seen=%s", path,
			     state_time_str(p.first_seen, t));
		int rc = commit(rs, rec, seq, head, field, cur, val);
		if (rc < 0)
			return -1;
		if (rc == 1)
			return state_redis_wait(rs) == 0 ? 1 : -1;
	}
	state_set_error(s, "the state changed %d times while writing: too busy, try again",
			REDIS_RETRIES);
	return -1;
}

int
state_redis_import_path(struct state *s, const struct state_path *p)
{
	struct redis_state *rs = RS(s);
	char k[REDIS_KEY_MAX], field[FIELD_MAX], val[PATH_ENC_MAX];
	field_of(field, p->id, p->path);
	if (!enc(val, sizeof(val), p)) {
		state_set_error(s, "sending path too long to store");
		return -1;
	}
	if (!state_redis_key(rs, k, "paths"))
		return -1;
	redisReply *r = state_redis_cmdf(rs, "HSET %s %s %s", k, field, val);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}
