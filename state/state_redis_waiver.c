/*
 * state_redis_waiver.c - waivers in the Redis backend (keyspace in
 * state_redis.h): P wvr holds one field per identity, kind and name, the
 * waiver in force for it; P wvr:old keeps the ones that ended, by number.
 *
 * A grant and an expiry go through the COMMIT script like a suspension:
 * the audit record and the change of the P wvr field commit atomically,
 * only while the field still holds what was read (retried on a conflict),
 * and bump P ver, so every milter of the fleet rereads its waivers within
 * a second. The ended copy is written to P wvr:old after the commit: it
 * serves `waivers --all` only (the audit log is the record), so losing it
 * to a crash between the two loses no history the chain does not hold.
 *
 * Value encoding, one string: "1 WID CREATED UNTIL ENDED N:id N:kind
 * N:name N:by N:approver N:ticket N:reason" (N: the byte length of what
 * follows the colon). Memory: arrays handed back are malloc'ed for the
 * caller. Untrusted input: stored values (decoded with bounds; one that
 * does not decode is an error, never a guess).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_redis.h"
#include "base/util.h"

#define WVR_ENC_MAX (128 + STATE_ID_MAX + STATE_NAME_MAX * 3 + STATE_TEXT_MAX + 64)
#define WVR_FIELD_MAX (STATE_ID_MAX + STATE_WAIVER_KIND_MAX + STATE_WAIVER_NAME_MAX + 4)

/* Encode w; false when it does not fit (cannot with checked lengths). */
static bool
encode(char *buf, size_t len, const struct state_waiver *w)
{
	int n =
	    snprintf(buf, len, "1 %lld %lld %lld %lld %zu:%s%zu:%s%zu:%s%zu:%s%zu:%s%zu:%s%zu:%s",
		     w->wid, w->created, w->until, w->ended, strlen(w->id), w->id, strlen(w->kind),
		     w->kind, strlen(w->name), w->name, strlen(w->by), w->by, strlen(w->approver),
		     w->approver, strlen(w->ticket), w->ticket, strlen(w->reason), w->reason);
	return n > 0 && (size_t)n < len;
}

/* A decimal number followed by one blank. */
static bool
num(const char **p, const char *e, long long *out)
{
	char *end;
	*out = strtoll(*p, &end, 10);
	if (end == *p || end >= e || *end != ' ')
		return false;
	*p = end + 1;
	return true;
}

static bool
decode(const char *v, size_t len, struct state_waiver *w)
{
	const char *e = v + len, *p = v + 2;
	memset(w, 0, sizeof(*w));
	if (len < 2 || v[0] != '1' || v[1] != ' ')
		return false;
	return num(&p, e, &w->wid) && num(&p, e, &w->created) && num(&p, e, &w->until) &&
	       num(&p, e, &w->ended) && state_redis_take_field(&p, e, w->id, sizeof(w->id)) &&
	       state_redis_take_field(&p, e, w->kind, sizeof(w->kind)) &&
	       state_redis_take_field(&p, e, w->name, sizeof(w->name)) &&
	       state_redis_take_field(&p, e, w->by, sizeof(w->by)) &&
	       state_redis_take_field(&p, e, w->approver, sizeof(w->approver)) &&
	       state_redis_take_field(&p, e, w->ticket, sizeof(w->ticket)) &&
	       state_redis_take_field(&p, e, w->reason, sizeof(w->reason)) && p == e;
}

/* The P wvr field of an identity, kind and name. */
static void
field_of(char buf[WVR_FIELD_MAX], const char *id, const char *kind, const char *name)
{
	snprintf(buf, WVR_FIELD_MAX, "%s %s %s", id, kind, name); /* bounded by the checks */
}

/* The audit head and the raw value of P wvr field f ("" when absent), in
 * one round trip. */
static int
read_head(struct redis_state *rs, const char *f, long long *seq, char *hash, char *cur,
	  size_t curlen)
{
	char khead[REDIS_KEY_MAX], kw[REDIS_KEY_MAX];
	redisReply *r[2] = {NULL, NULL};
	int rc = 0;
	if (!state_redis_key(rs, khead, "audit:head") || !state_redis_key(rs, kw, "wvr") ||
	    state_redis_conn(rs) == NULL)
		return -1;
	redisAppendCommand(rs->c, "HMGET %s seq hash", khead);
	redisAppendCommand(rs->c, "HGET %s %s", kw, f);
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
	if (r[1]->type == REDIS_REPLY_STRING) {
		if (r[1]->len >= curlen) {
			state_set_error(&rs->base, "a stored waiver is too long");
			rc = -1;
		} else {
			memcpy(cur, r[1]->str, r[1]->len);
			cur[r[1]->len] = '\0';
		}
	}
	freeReplyObject(r[0]);
	freeReplyObject(r[1]);
	return rc;
}

/* Keep an ended waiver for `waivers --all` (after its commit). */
static void
keep_ended(struct redis_state *rs, const struct state_waiver *w)
{
	char k[REDIS_KEY_MAX], val[WVR_ENC_MAX];
	if (!state_redis_key(rs, k, "wvr:old") || !encode(val, sizeof(val), w))
		return;
	redisReply *r = state_redis_cmdf(rs, "HSET %s %lld %s", k, w->wid, val);
	if (r != NULL)
		freeReplyObject(r);
}

/* Expire one waiver whose raw value (field f) was read as raw: 1 its
 * record was written (rec), 0 someone else changed it first, -1 error. */
static int
expire_one(struct state *s, const char *f, const char *raw, struct state_waiver *w, long long now,
	   struct state_audit *rec)
{
	struct redis_state *rs = RS(s);
	char head[STATE_HASH_HEX + 1], cur[WVR_ENC_MAX], t1[STATE_TIME_MAX], t2[STATE_TIME_MAX];
	long long seq;
	for (int t = 0; t < REDIS_RETRIES; t++) {
		if (read_head(rs, f, &seq, head, cur, sizeof(cur)) != 0)
			return -1;
		if (strcmp(cur, raw) != 0)
			return 0; /* expired or replaced by someone else meanwhile */
		memset(rec, 0, sizeof(*rec));
		rec->ts = now;
		bw_strlcpy(rec->action, "waiver-expired", sizeof(rec->action));
		bw_strlcpy(rec->actor, "bulkwarden", sizeof(rec->actor));
		bw_strlcpy(rec->identity, w->id, sizeof(rec->identity));
		snprintf(rec->reason, sizeof(rec->reason), "waiver %lld of %s %s until %s expired",
			 w->wid, w->kind, w->name, state_time_str(w->until, t1));
		bw_strlcpy(rec->ticket, w->ticket, sizeof(rec->ticket));
		state_detail(s, rec->detail, "granted %s by %s, approved by %s: %s",
			     state_time_str(w->created, t2), w->by, w->approver, w->reason);
		int c = state_redis_commit(rs, "wvr", rec, seq, head, "del", f, raw, NULL);
		if (c != 0) {
			if (c == 1) {
				w->ended = now;
				keep_ended(rs, w);
			}
			return c;
		}
	}
	state_set_error(s, "the state changed %d times while writing: too busy, try again",
			REDIS_RETRIES);
	return -1;
}

/* Every stored waiver of hash P kind, with its field and raw value. */
struct wlist {
	struct state_waiver *v;
	char (*field)[WVR_FIELD_MAX];
	char **raw;
	size_t n;
};

static void
wlist_free(struct wlist *l)
{
	for (size_t i = 0; l->raw != NULL && i < l->n; i++)
		free(l->raw[i]);
	free(l->raw);
	free(l->field);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

static int
read_hash(struct redis_state *rs, const char *kind, struct wlist *l)
{
	char k[REDIS_KEY_MAX];
	memset(l, 0, sizeof(*l));
	if (!state_redis_key(rs, k, "%s", kind))
		return -1;
	redisReply *r = state_redis_cmdf(rs, "HGETALL %s", k);
	if (r == NULL)
		return -1;
	size_t m = r->type == REDIS_REPLY_ARRAY ? r->elements / 2 : 0;
	if (m > 0) {
		l->v = calloc(m, sizeof(*l->v));
		l->field = calloc(m, sizeof(*l->field));
		l->raw = calloc(m, sizeof(*l->raw));
		if (l->v == NULL || l->field == NULL || l->raw == NULL) {
			wlist_free(l);
			freeReplyObject(r);
			state_set_error(&rs->base, "out of memory");
			return -1;
		}
	}
	for (size_t i = 0; i < m; i++) {
		redisReply *f = r->element[2 * i], *val = r->element[2 * i + 1];
		if (f->type != REDIS_REPLY_STRING || val->type != REDIS_REPLY_STRING ||
		    f->len >= WVR_FIELD_MAX || !decode(val->str, val->len, &l->v[l->n])) {
			wlist_free(l);
			freeReplyObject(r);
			state_set_error(&rs->base, "a stored waiver does not decode");
			return -1;
		}
		memcpy(l->field[l->n], f->str, f->len);
		l->field[l->n][f->len] = '\0';
		if ((l->raw[l->n] = strndup(val->str, val->len)) == NULL) {
			wlist_free(l);
			freeReplyObject(r);
			state_set_error(&rs->base, "out of memory");
			return -1;
		}
		l->n++;
	}
	freeReplyObject(r);
	return 0;
}

int
state_redis_waiver_expire(struct state *s, long long now, struct state_audit **recs, size_t *nrecs)
{
	struct redis_state *rs = RS(s);
	struct wlist l;
	struct state_audit *r = NULL;
	size_t k = 0;
	int rc = 0;
	*recs = NULL;
	*nrecs = 0;
	if (read_hash(rs, "wvr", &l) != 0)
		return -1;
	for (size_t i = 0; i < l.n && rc == 0; i++) {
		if (l.v[i].until > now)
			continue;
		if (r == NULL && (r = calloc(l.n, sizeof(*r))) == NULL) {
			state_set_error(s, "out of memory");
			rc = -1;
			break;
		}
		int c = expire_one(s, l.field[i], l.raw[i], &l.v[i], now, &r[k]);
		if (c < 0)
			rc = -1;
		else if (c == 1)
			k++;
	}
	wlist_free(&l);
	if (rc == 0 && k > 0 && state_redis_wait(rs) != 0)
		rc = -1; /* written; the caller logs the error */
	if (k == 0) {
		free(r);
		r = NULL;
	}
	*recs = r;
	*nrecs = k;
	return rc;
}

/*
 * Grant w. A waiver of the same field still stored is replaced when in
 * force (the record says so) and expired first, with its own record, when
 * its time has come.
 */
int
state_redis_waiver_grant(struct state *s, struct state_waiver *w, long long now,
			 struct state_audit *rec)
{
	struct redis_state *rs = RS(s);
	char f[WVR_FIELD_MAX], head[STATE_HASH_HEX + 1], cur[WVR_ENC_MAX], val[WVR_ENC_MAX];
	char t1[STATE_TIME_MAX], t2[STATE_TIME_MAX], prev[STATE_TEXT_MAX], k[REDIS_KEY_MAX];
	struct state_audit *exp = NULL;
	size_t nexp = 0;
	long long seq;

	/* the expired one first: its waiver-expired record precedes the grant */
	if (state_redis_waiver_expire(s, now, &exp, &nexp) != 0)
		return -1;
	free(exp);
	if (!state_redis_key(rs, k, "wvr:seq"))
		return -1;
	redisReply *r = state_redis_cmdf(rs, "INCR %s", k);
	if (r == NULL)
		return -1;
	w->wid = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
	freeReplyObject(r);
	if (w->wid < 1) {
		state_set_error(s, "Redis: no waiver number");
		return -1;
	}
	field_of(f, w->id, w->kind, w->name);
	if (!encode(val, sizeof(val), w)) {
		state_set_error(s, "waiver too long to store");
		return -1;
	}
	for (int i = 0; i < REDIS_RETRIES; i++) {
		struct state_waiver old;
		if (read_head(rs, f, &seq, head, cur, sizeof(cur)) != 0)
			return -1;
		prev[0] = '\0';
		if (cur[0] != '\0') {
			if (!decode(cur, strlen(cur), &old)) {
				state_set_error(s, "a stored waiver of %s does not decode", w->id);
				return -1;
			}
			snprintf(prev, sizeof(prev), "; replaces waiver %lld (until %s, ticket %s)",
				 old.wid, state_time_str(old.until, t2),
				 old.ticket); /* truncation acceptable */
		}
		memset(rec, 0, sizeof(*rec));
		rec->ts = now;
		bw_strlcpy(rec->action, "waiver", sizeof(rec->action));
		bw_strlcpy(rec->actor, w->by, sizeof(rec->actor));
		bw_strlcpy(rec->identity, w->id, sizeof(rec->identity));
		bw_strlcpy(rec->reason, w->reason, sizeof(rec->reason));
		bw_strlcpy(rec->ticket, w->ticket, sizeof(rec->ticket));
		state_detail(s, rec->detail, "waiver %lld: %s %s until %s, approved by %s%s",
			     w->wid, w->kind, w->name, state_time_str(w->until, t1), w->approver,
			     prev);
		int c = state_redis_commit(rs, "wvr", rec, seq, head, "put", f, cur, val);
		if (c < 0)
			return -1;
		if (c == 1) {
			if (cur[0] != '\0') {
				old.ended = now;
				keep_ended(rs, &old);
			}
			return state_redis_wait(rs);
		}
	}
	state_set_error(s, "the state changed %d times while writing: too busy, try again",
			REDIS_RETRIES);
	return -1;
}

static int
cmp_waiver(const void *a, const void *b)
{
	const struct state_waiver *x = a, *y = b;
	int c = strcmp(x->id, y->id);
	if (c == 0)
		c = strcmp(x->kind, y->kind);
	if (c == 0)
		c = strcmp(x->name, y->name);
	return c != 0 ? c : (x->wid > y->wid) - (x->wid < y->wid);
}

/* Append the entries of l that pass the filter to *v (n, cap). */
static int
take_some(struct state *s, struct wlist *l, const char *id, long long now, bool all,
	  struct state_waiver **v, size_t *n, size_t *cap)
{
	for (size_t i = 0; i < l->n; i++) {
		const struct state_waiver *w = &l->v[i];
		if ((id != NULL && strcmp(w->id, id) != 0) ||
		    (!all && (w->ended != 0 || w->until <= now)))
			continue;
		if (*n == *cap) {
			size_t nc = *cap ? *cap * 2 : 8;
			struct state_waiver *nv = realloc(*v, nc * sizeof(**v));
			if (nv == NULL) {
				state_set_error(s, "out of memory");
				return -1;
			}
			*v = nv;
			*cap = nc;
		}
		(*v)[(*n)++] = *w;
	}
	return 0;
}

int
state_redis_waivers(struct state *s, const char *id, long long now, bool all,
		    struct state_waiver **out, size_t *n)
{
	struct redis_state *rs = RS(s);
	struct wlist cur, old;
	struct state_waiver *v = NULL;
	size_t k = 0, cap = 0;
	memset(&old, 0, sizeof(old));
	if (read_hash(rs, "wvr", &cur) != 0)
		return -1;
	if (all && read_hash(rs, "wvr:old", &old) != 0) {
		wlist_free(&cur);
		return -1;
	}
	int rc = take_some(s, &cur, id, now, all, &v, &k, &cap);
	if (rc == 0 && all)
		rc = take_some(s, &old, id, now, all, &v, &k, &cap);
	wlist_free(&cur);
	wlist_free(&old);
	if (rc != 0) {
		free(v);
		return -1;
	}
	if (k > 1)
		qsort(v, k, sizeof(*v), cmp_waiver);
	*out = v;
	*n = k;
	return 0;
}

/* Store a waiver as exported (no audit record: the imported chain holds
 * its grant), keep the number counter past it, and tell the milters. */
int
state_redis_import_waiver(struct state *s, const struct state_waiver *w)
{
	struct redis_state *rs = RS(s);
	char f[WVR_FIELD_MAX], val[WVR_ENC_MAX], kw[REDIS_KEY_MAX], ko[REDIS_KEY_MAX],
	    ks[REDIS_KEY_MAX], kv[REDIS_KEY_MAX];
	redisReply *r[5] = {NULL, NULL, NULL, NULL, NULL};
	if (!encode(val, sizeof(val), w)) {
		state_set_error(s, "waiver too long to store");
		return -1;
	}
	field_of(f, w->id, w->kind, w->name);
	if (!state_redis_key(rs, kw, "wvr") || !state_redis_key(rs, ko, "wvr:old") ||
	    !state_redis_key(rs, ks, "wvr:seq") || !state_redis_key(rs, kv, "ver") ||
	    state_redis_conn(rs) == NULL)
		return -1;
	redisAppendCommand(rs->c, "MULTI");
	if (w->ended == 0)
		redisAppendCommand(rs->c, "HSET %s %s %s", kw, f, val);
	else
		redisAppendCommand(rs->c, "HSET %s %lld %s", ko, w->wid, val);
	/* the counter only grows: an import in any order leaves it at the max */
	redisAppendCommand(rs->c, "EVAL %s 1 %s %lld",
			   "local c = tonumber(redis.call('GET', KEYS[1]) or '0') "
			   "if tonumber(ARGV[1]) > c then redis.call('SET', KEYS[1], ARGV[1]) end "
			   "return 1",
			   ks, w->wid);
	redisAppendCommand(rs->c, "INCR %s", kv);
	redisAppendCommand(rs->c, "EXEC");
	if (state_redis_collect(rs, r, 5) != 0)
		return -1;
	int ok = r[4]->type == REDIS_REPLY_ARRAY;
	for (int i = 0; i < 5; i++)
		freeReplyObject(r[i]);
	if (!ok) {
		state_set_error(s, "Redis: the import transaction was not executed");
		return -1;
	}
	return state_redis_wait(rs);
}
