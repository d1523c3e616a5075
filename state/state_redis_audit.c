/*
 * state_redis_audit.c - reading the Redis backend's hash-chained audit log
 * back: every record in order (bulkwardenctl audit, state export) and the
 * chain check (audit --verify). Writing it is state_redis_ops.c's COMMIT.
 *
 * Records are read in pipelined batches of AUDIT_BATCH HMGETs, past the
 * head until the first missing seq (records added behind bulkwarden's back
 * show up and fail the check). Memory: replies are freed batch by batch;
 * the raw fields handed to a callback are valid during the call only.
 * Untrusted input: stored values (bounded copies; the chain check decides
 * whether they are what bulkwarden wrote).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "state/state_redis.h"

#define AUDIT_BATCH 128 /* records per pipelined read */
#define REC_FIELDS STATE_REDIS_REC_FIELDS

/*
 * Walk the stored records 1, 2, ... in batches, past the head until the
 * first missing seq beyond it (records added behind our back show up);
 * records missing below the head are skipped (the verifier names the gap).
 * fn gets each raw record; non-zero stops. head_seq/head_hash: the head.
 */
static int
walk(struct redis_state *rs, long long *head_seq, char *head_hash,
     int (*fn)(const struct state_audit_raw *raw, void *arg), void *arg)
{
	char k[REDIS_KEY_MAX];
	redisReply *r[AUDIT_BATCH];
	if (state_redis_read_head(rs, NULL, head_seq, head_hash, NULL, 0) != 0)
		return -1;
	for (long long base = 1;; base += AUDIT_BATCH) {
		if (state_redis_conn(rs) == NULL)
			return -1;
		for (int i = 0; i < AUDIT_BATCH; i++) {
			if (!state_redis_key(rs, k, "audit:%lld", base + i))
				return -1;
			redisAppendCommand(rs->c,
					   "HMGET %s seq ts action actor identity reason "
					   "ticket detail prev hash",
					   k);
			r[i] = NULL;
		}
		if (state_redis_collect(rs, r, AUDIT_BATCH) != 0)
			return -1;
		bool stop = false;
		for (int i = 0; i < AUDIT_BATCH && !stop; i++) {
			redisReply *x = r[i];
			bool present = x->type == REDIS_REPLY_ARRAY && x->elements == REC_FIELDS &&
				       x->element[0]->type == REDIS_REPLY_STRING;
			if (!present) {
				if (base + i > *head_seq)
					stop = true;
				continue;
			}
			struct state_audit_raw raw;
			memset(&raw, 0, sizeof(raw));
			raw.seq = strtoll(x->element[0]->str, NULL, 10);
			raw.ts = x->element[1]->type == REDIS_REPLY_STRING
				     ? strtoll(x->element[1]->str, NULL, 10)
				     : 0;
			for (int f = 0; f < STATE_AUDIT_FIELDS; f++) {
				redisReply *e = x->element[2 + f];
				raw.field[f] = e->type == REDIS_REPLY_STRING ? e->str : "";
				raw.len[f] = e->type == REDIS_REPLY_STRING ? e->len : 0;
			}
			raw.prev_hash =
			    x->element[8]->type == REDIS_REPLY_STRING ? x->element[8]->str : "";
			raw.prev_len =
			    x->element[8]->type == REDIS_REPLY_STRING ? x->element[8]->len : 0;
			raw.hash =
			    x->element[9]->type == REDIS_REPLY_STRING ? x->element[9]->str : "";
			raw.hash_len =
			    x->element[9]->type == REDIS_REPLY_STRING ? x->element[9]->len : 0;
			if (fn(&raw, arg) != 0)
				stop = true;
		}
		for (int i = 0; i < AUDIT_BATCH; i++)
			freeReplyObject(r[i]);
		if (stop)
			return 0;
	}
}

struct foreach_arg {
	int (*fn)(const struct state_audit *rec, void *arg);
	void *arg;
	struct state_audit rec;
};

/* Copy a raw field into a bounded string. */
static void
copy_raw(char *dst, size_t cap, const char *p, size_t n)
{
	size_t k = n < cap - 1 ? n : cap - 1;
	memcpy(dst, p, k);
	dst[k] = '\0';
}

/* One raw record into a struct state_audit for the caller's fn. */
static int
foreach_one(const struct state_audit_raw *raw, void *arg)
{
	struct foreach_arg *fa = arg;
	struct state_audit *rec = &fa->rec;
	char *dst[STATE_AUDIT_FIELDS] = {rec->action, rec->actor,  rec->identity,
					 rec->reason, rec->ticket, rec->detail};
	size_t cap[STATE_AUDIT_FIELDS] = {sizeof(rec->action),	 sizeof(rec->actor),
					  sizeof(rec->identity), sizeof(rec->reason),
					  sizeof(rec->ticket),	 sizeof(rec->detail)};
	rec->seq = raw->seq;
	rec->ts = raw->ts;
	for (int i = 0; i < STATE_AUDIT_FIELDS; i++)
		copy_raw(dst[i], cap[i], raw->field[i], raw->len[i]);
	copy_raw(rec->prev_hash, sizeof(rec->prev_hash), raw->prev_hash, raw->prev_len);
	copy_raw(rec->hash, sizeof(rec->hash), raw->hash, raw->hash_len);
	return fa->fn(rec, fa->arg);
}

/* Each stored record, in order, to fn (struct state_ops.audit_foreach). */
int
state_redis_audit_foreach(struct state *s, int (*fn)(const struct state_audit *rec, void *arg),
			  void *arg)
{
	struct foreach_arg *fa = malloc(sizeof(*fa));
	long long hs;
	char hh[STATE_HASH_HEX + 1];
	if (fa == NULL) {
		state_set_error(s, "out of memory");
		return -1;
	}
	fa->fn = fn;
	fa->arg = arg;
	int rc = walk(RS(s), &hs, hh, foreach_one, fa);
	free(fa);
	return rc;
}

/* One raw record through the chain check. */
static int
verify_one(const struct state_audit_raw *raw, void *arg)
{
	return state_audit_check_step(arg, raw);
}

/* Check the stored chain (struct state_ops.audit_verify). */
int
state_redis_audit_verify(struct state *s, struct state_audit_check *chk)
{
	long long hs;
	char hh[STATE_HASH_HEX + 1];
	if (walk(RS(s), &hs, hh, verify_one, chk) != 0)
		return -1;
	return state_audit_check_end(chk, hs, hh);
}
