/*
 * state_redis_move.c - whole-store export and import for the Redis backend
 * (bulkwardenctl state export / import): counter and use-count rows read
 * through their indexes (the counter zset; SCAN for the use counts, which
 * expire by themselves), audit records written verbatim with the head in
 * one MULTI/EXEC, then acknowledged by a replica when durable.
 * Untrusted input: stored values and key names (parsed with bounds).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_redis.h"
#include "base/util.h"

#define ROWS_BATCH 256

/* Read a non-negative integer reply element. */
static uint64_t
u64_of(const redisReply *e)
{
	if (e->type != REDIS_REPLY_STRING)
		return 0;
	long long v = strtoll(e->str, NULL, 10);
	return v > 0 ? (uint64_t)v : 0;
}

int
state_redis_counters_rows(struct state *s,
			  int (*fn)(const char *id, long long hour, const struct state_counts *c,
				    void *arg),
			  void *arg)
{
	struct redis_state *rs = RS(s);
	char zk[REDIS_KEY_MAX], k[REDIS_KEY_MAX];
	redisReply *r[ROWS_BATCH];
	if (!state_redis_key(rs, zk, "cnti"))
		return -1;
	redisReply *m = state_redis_cmdf(rs, "ZRANGE %s 0 -1", zk);
	if (m == NULL)
		return -1;
	int rc = 0;
	size_t n = m->type == REDIS_REPLY_ARRAY ? m->elements : 0;
	for (size_t b = 0; b < n && rc == 0; b += ROWS_BATCH) {
		size_t cnt = n - b < ROWS_BATCH ? n - b : ROWS_BATCH;
		if (state_redis_conn(rs) == NULL) {
			rc = -1;
			break;
		}
		for (size_t i = 0; i < cnt; i++) {
			r[i] = NULL;
			const redisReply *e = m->element[b + i];
			if (e->type != REDIS_REPLY_STRING ||
			    !state_redis_key(rs, k, "cnt:%s", e->str))
				bw_strlcpy(k, "-", sizeof(k));
			redisAppendCommand(rs->c, REDIS_CNT_HMGET, k);
		}
		if (state_redis_collect(rs, r, cnt) != 0) {
			rc = -1;
			break;
		}
		for (size_t i = 0; i < cnt; i++) {
			const redisReply *e = m->element[b + i];
			const char *colon =
			    e->type == REDIS_REPLY_STRING ? strchr(e->str, ':') : NULL;
			struct state_counts c;
			memset(&c, 0, sizeof(c));
			if (rc == 0 && colon != NULL && r[i]->type == REDIS_REPLY_ARRAY &&
			    r[i]->elements == REDIS_CNT_FIELDS &&
			    r[i]->element[0]->type == REDIS_REPLY_STRING) {
				for (int f = 0; f < REDIS_CNT_FIELDS; f++)
					*state_redis_cnt_field(&c, f) = u64_of(r[i]->element[f]);
				if (fn(colon + 1, strtoll(e->str, NULL, 10), &c, arg) != 0)
					rc = 1;
			}
			freeReplyObject(r[i]);
		}
	}
	freeReplyObject(m);
	return rc < 0 ? -1 : 0;
}

/* Parse "use:h:START:ID" (after the prefix) into win, start and id. */
static bool
parse_use_key(const char *k, int *win, long long *start, char *id, size_t idlen)
{
	if (strncmp(k, "use:", 4) != 0 || (k[4] != 'h' && k[4] != 'd') || k[5] != ':')
		return false;
	*win = k[4] == 'd';
	char *end;
	*start = strtoll(k + 6, &end, 10);
	if (*end != ':' || end[1] == '\0' || strlen(end + 1) >= idlen)
		return false;
	bw_strlcpy(id, end + 1, idlen);
	return true;
}

int
state_redis_usage_rows(struct state *s,
		       int (*fn)(const char *id, int win, long long start, uint64_t msgs,
				 uint64_t rcpts, void *arg),
		       void *arg)
{
	struct redis_state *rs = RS(s);
	char pat[REDIS_KEY_MAX], cursor[32] = "0", id[STATE_ID_MAX + 1];
	size_t plen = strlen(rs->prefix);
	if (!state_redis_key(rs, pat, "use:*"))
		return -1;
	do {
		redisReply *r = state_redis_cmdf(rs, "SCAN %s MATCH %s COUNT 500", cursor, pat);
		if (r == NULL)
			return -1;
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
		    r->element[0]->type != REDIS_REPLY_STRING) {
			freeReplyObject(r);
			state_set_error(s, "unexpected SCAN reply");
			return -1;
		}
		bw_strlcpy(cursor, r->element[0]->str, sizeof(cursor));
		const redisReply *keys = r->element[1];
		for (size_t i = 0; keys->type == REDIS_REPLY_ARRAY && i < keys->elements; i++) {
			const redisReply *k = keys->element[i];
			int win;
			long long start;
			if (k->type != REDIS_REPLY_STRING || k->len <= plen ||
			    !parse_use_key(k->str + plen, &win, &start, id, sizeof(id)))
				continue;
			redisReply *v = state_redis_cmdf(rs, "HMGET %s m r", k->str);
			if (v == NULL) {
				freeReplyObject(r);
				return -1;
			}
			int stop = 0;
			if (v->type == REDIS_REPLY_ARRAY && v->elements == 2)
				stop = fn(id, win, start, u64_of(v->element[0]),
					  u64_of(v->element[1]), arg);
			freeReplyObject(v);
			if (stop) {
				freeReplyObject(r);
				return 0;
			}
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	return 0;
}

int
state_redis_import_audit(struct state *s, const struct state_audit *rec)
{
	struct redis_state *rs = RS(s);
	char kr[REDIS_KEY_MAX], kh[REDIS_KEY_MAX], sseq[24], sts[24];
	redisReply *r[4] = {NULL, NULL, NULL, NULL};
	if (!state_redis_key(rs, kr, "audit:%lld", rec->seq) ||
	    !state_redis_key(rs, kh, "audit:head") || state_redis_conn(rs) == NULL)
		return -1;
	snprintf(sseq, sizeof(sseq), "%lld", rec->seq);
	snprintf(sts, sizeof(sts), "%lld", rec->ts);
	const char *argv[] = {"HSET",	kr,	     "seq",	 sseq,
			      "ts",	sts,	     "action",	 rec->action,
			      "actor",	rec->actor,  "identity", rec->identity,
			      "reason", rec->reason, "ticket",	 rec->ticket,
			      "detail", rec->detail, "prev",	 rec->prev_hash,
			      "hash",	rec->hash};
	redisAppendCommand(rs->c, "MULTI");
	redisAppendCommandArgv(rs->c, (int)(sizeof(argv) / sizeof(argv[0])), argv, NULL);
	redisAppendCommand(rs->c, "HSET %s seq %s hash %s", kh, sseq, rec->hash);
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
	return 0;
}

int
state_redis_import_usage(struct state *s, const char *id, int win, long long start, uint64_t msgs,
			 uint64_t rcpts)
{
	struct redis_state *rs = RS(s);
	char k[REDIS_KEY_MAX];
	if (!state_redis_key(rs, k, "use:%c:%lld:%s", win ? 'd' : 'h', start, id))
		return -1;
	redisReply *r = state_redis_cmdf(rs, "HSET %s m %llu r %llu", k, (unsigned long long)msgs,
					 (unsigned long long)rcpts);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	r = state_redis_cmdf(rs, "EXPIRE %s %lld", k, win ? STATE_USAGE_KEEP_S : 3600LL + 600);
	if (r == NULL)
		return -1;
	freeReplyObject(r);
	return 0;
}
