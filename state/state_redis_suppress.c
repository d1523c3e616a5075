/*
 * state_redis_suppress.c - the suppression list in Redis, shared by every
 * relay of a fleet (keys in state_redis.h: P supp, P supp:log, P supp:seq,
 * P supp:count, P supp:check).
 *
 * A change runs the SUPPRESS script (state_redis_lua.c): the audit record
 * chained to the head read, the entry, its change number, the log and the
 * count, in one atomic step, retried on a conflict like a suspension; it
 * bumps P ver and publishes on P chg so the milters' state threads wake
 * at once. Readers follow P supp:log by change number in batches
 * (ZRANGEBYSCORE, then HMGET of the entries), so the milter reads only
 * what changed since its last number. With Sentinel the change waits for a
 * replica (state_redis_wait) before it is reported done.
 *
 * Memory: replies are freed here. Untrusted input: replies (fields of the
 * wrong shape are skipped).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_redis.h"
#include "state/suppress.h"
#include "base/util.h"

#define SUPP_BATCH 10000 /* entries read per round trip pair */
#define FIELD_MAX (STATE_ID_MAX + 2 + SUPPRESS_HEX)

/* Chain rec to the head and run SUPPRESS: 1 written, 0 conflict, 2 nothing
 * to do, -1 error. */
static int
run_change(struct redis_state *rs, struct state_audit *rec, long long head_seq,
	   const char *head_hash, const char *field, const char *id, bool add, long long now)
{
	char khead[REDIS_KEY_MAX], krec[REDIS_KEY_MAX], ksupp[REDIS_KEY_MAX], klog[REDIS_KEY_MAX],
	    kseq[REDIS_KEY_MAX], kcount[REDIS_KEY_MAX], kver[REDIS_KEY_MAX], chan[REDIS_KEY_MAX];
	char hseq[24], snow[24];
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
	    !state_redis_key(rs, ksupp, "supp") || !state_redis_key(rs, klog, "supp:log") ||
	    !state_redis_key(rs, kseq, "supp:seq") || !state_redis_key(rs, kcount, "supp:count") ||
	    !state_redis_key(rs, kver, "ver") || !state_redis_key(rs, chan, "chg"))
		return -1;
	snprintf(hseq, sizeof(hseq), "%lld", head_seq);
	struct state_redis_recnum num;
	snprintf(snow, sizeof(snow), "%lld", now);
	const char *keys[] = {khead, krec, ksupp, klog, kseq, kcount, kver};
	const char *args[9 + STATE_REDIS_REC_ARGS] = {
	    hseq, head_hash, field, id, add ? "1" : "0", snow, chan, num.seq, rec->hash};
	state_redis_rec_args(rec, &num, args + 9);
	redisReply *r =
	    state_redis_eval(rs, LUA_SUPPRESS, 7, keys, 9 + STATE_REDIS_REC_ARGS, args, NULL);
	return state_redis_commit_reply(rs, r, rec, 2, "suppression");
}

int
state_redis_supp_change(struct state *s, const char *id, const unsigned char *h, bool add,
			long long now, struct state_audit *rec)
{
	struct redis_state *rs = RS(s);
	char field[FIELD_MAX + 1], hex[SUPPRESS_HEX + 1], head[STATE_HASH_HEX + 1];
	long long seq;
	snprintf(field, sizeof(field), "%s:%s", id, suppress_hex(h, SUPPRESS_HASH_BYTES, hex));
	for (int i = 0; i < REDIS_RETRIES; i++) {
		if (state_redis_read_head(rs, NULL, &seq, head, NULL, 0) != 0)
			return -1;
		int rc = run_change(rs, rec, seq, head, field, id, add, now);
		if (rc < 0)
			return -1;
		if (rc == 2) {
			state_set_error(s, "%s", add ? "already suppressed" : "not suppressed");
			return 1;
		}
		if (rc == 1)
			return state_redis_wait(rs);
	}
	state_set_error(s, "the state changed %d times while writing: too busy, try again",
			REDIS_RETRIES);
	return -1;
}

/* Parse "ID:HEX32" and "LIVE:SINCE:SEQ" into e; false when malformed. */
static bool
parse_entry(const redisReply *f, const redisReply *v, struct state_supp *e)
{
	char buf[FIELD_MAX + 1];
	if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || f->len > FIELD_MAX)
		return false;
	memcpy(buf, f->str, f->len);
	buf[f->len] = '\0';
	char *colon = strrchr(buf, ':');
	if (colon == NULL || (size_t)(colon - buf) > STATE_ID_MAX ||
	    !suppress_unhex(colon + 1, e->h))
		return false;
	*colon = '\0';
	bw_strlcpy(e->id, buf, sizeof(e->id));
	long long since, seq;
	int live;
	char val[96];
	if (v->len >= sizeof(val))
		return false;
	memcpy(val, v->str, v->len);
	val[v->len] = '\0';
	if (sscanf(val, "%d:%lld:%lld", &live, &since, &seq) != 3)
		return false;
	e->live = live == 1;
	e->since = since;
	e->seq = seq;
	return true;
}

int
state_redis_supp_changes(struct state *s, long long since,
			 int (*fn)(const struct state_supp *e, void *arg), void *arg)
{
	struct redis_state *rs = RS(s);
	char klog[REDIS_KEY_MAX], ksupp[REDIS_KEY_MAX], from[32], lim[16];
	if (!state_redis_key(rs, klog, "supp:log") || !state_redis_key(rs, ksupp, "supp"))
		return -1;
	snprintf(lim, sizeof(lim), "%d", SUPP_BATCH);
	for (;;) {
		snprintf(from, sizeof(from), "(%lld", since);
		const char *zargv[] = {"ZRANGEBYSCORE", klog,	 from, "+inf",
				       "WITHSCORES",	"LIMIT", "0",  lim};
		redisReply *z = state_redis_cmd(rs, 8, zargv, NULL);
		if (z == NULL)
			return -1;
		if (z->type != REDIS_REPLY_ARRAY || z->elements % 2 != 0) {
			freeReplyObject(z);
			state_set_error(s, "unexpected reply reading the suppression log");
			return -1;
		}
		size_t n = z->elements / 2;
		if (n == 0) {
			freeReplyObject(z);
			return 0;
		}
		const char **argv = malloc((n + 2) * sizeof(*argv));
		size_t *lens = malloc((n + 2) * sizeof(*lens));
		if (argv == NULL || lens == NULL) {
			free(argv);
			free(lens);
			freeReplyObject(z);
			state_set_error(s, "out of memory");
			return -1;
		}
		argv[0] = "HMGET";
		lens[0] = 5;
		argv[1] = ksupp;
		lens[1] = strlen(ksupp);
		for (size_t i = 0; i < n; i++) {
			argv[2 + i] = z->element[2 * i]->str;
			lens[2 + i] = z->element[2 * i]->len;
		}
		redisReply *v = state_redis_cmd(rs, (int)(n + 2), argv, lens);
		free(argv);
		free(lens);
		if (v == NULL || v->type != REDIS_REPLY_ARRAY || v->elements != n) {
			if (v != NULL) {
				freeReplyObject(v);
				state_set_error(s, "unexpected reply reading the suppression list");
			}
			freeReplyObject(z);
			return -1;
		}
		int stop = 0;
		for (size_t i = 0; i < n && !stop; i++) {
			struct state_supp e;
			memset(&e, 0, sizeof(e));
			const redisReply *sc = z->element[2 * i + 1];
			long long score =
			    sc->type == REDIS_REPLY_STRING ? strtoll(sc->str, NULL, 10) : since + 1;
			if (score > since)
				since = score;
			if (!parse_entry(z->element[2 * i], v->element[i], &e))
				continue; /* not ours: skipped */
			e.seq = score;
			stop = fn(&e, arg);
		}
		freeReplyObject(v);
		freeReplyObject(z);
		if (stop || n < SUPP_BATCH)
			return 0;
	}
}

int
state_redis_supp_count(struct state *s, const char *id, uint64_t *n)
{
	struct redis_state *rs = RS(s);
	char kcount[REDIS_KEY_MAX];
	*n = 0;
	if (!state_redis_key(rs, kcount, "supp:count"))
		return -1;
	const char *argv[] = {id ? "HGET" : "HVALS", kcount, id};
	redisReply *r = state_redis_cmd(rs, id ? 3 : 2, argv, NULL);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_STRING)
		*n = strtoull(r->str, NULL, 10);
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
		if (r->element[i]->type == REDIS_REPLY_STRING)
			*n += strtoull(r->element[i]->str, NULL, 10);
	freeReplyObject(r);
	return 0;
}

int
state_redis_supp_keycheck(struct state *s, const unsigned char *check)
{
	struct redis_state *rs = RS(s);
	char kcheck[REDIS_KEY_MAX], hex[SUPPRESS_HEX + 1];
	if (!state_redis_key(rs, kcheck, "supp:check"))
		return -1;
	suppress_hex(check, SUPPRESS_HASH_BYTES, hex);
	const char *set[] = {"SET", kcheck, hex, "NX"};
	redisReply *r = state_redis_cmd(rs, 4, set, NULL);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	const char *get[] = {"GET", kcheck};
	if ((r = state_redis_cmd(rs, 2, get, NULL)) == NULL)
		return -1;
	int rc = r->type == REDIS_REPLY_STRING && r->len == SUPPRESS_HEX &&
			 memcmp(r->str, hex, SUPPRESS_HEX) == 0
		     ? 0
		     : 1;
	freeReplyObject(r);
	return rc;
}

int
state_redis_supp_import(struct state *s, const struct state_supp *e)
{
	struct redis_state *rs = RS(s);
	char ksupp[REDIS_KEY_MAX], klog[REDIS_KEY_MAX], kseq[REDIS_KEY_MAX], kcount[REDIS_KEY_MAX];
	char field[FIELD_MAX + 1], hex[SUPPRESS_HEX + 1], val[96], sseq[24];
	if (!state_redis_key(rs, ksupp, "supp") || !state_redis_key(rs, klog, "supp:log") ||
	    !state_redis_key(rs, kseq, "supp:seq") || !state_redis_key(rs, kcount, "supp:count"))
		return -1;
	const char *incr[] = {"INCR", kseq};
	redisReply *r = state_redis_cmd(rs, 2, incr, NULL);
	if (r == NULL)
		return -1;
	long long seq = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
	freeReplyObject(r);
	if (seq <= 0) {
		state_set_error(s, "unexpected reply from INCR");
		return -1;
	}
	snprintf(field, sizeof(field), "%s:%s", e->id,
		 suppress_hex(e->h, SUPPRESS_HASH_BYTES, hex));
	snprintf(val, sizeof(val), "1:%lld:%lld", e->since, seq);
	snprintf(sseq, sizeof(sseq), "%lld", seq);
	const char *hset[] = {"HSET", ksupp, field, val};
	const char *zadd[] = {"ZADD", klog, sseq, field};
	const char *cnt[] = {"HINCRBY", kcount, e->id, "1"};
	if ((r = state_redis_cmd(rs, 4, hset, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	if ((r = state_redis_cmd(rs, 4, zadd, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	if ((r = state_redis_cmd(rs, 4, cnt, NULL)) == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}
