/*
 * state_redis_feedback.c - feedback counts, Redis backend (state.h
 * state_feedback_*). Keyspace under state.redis.prefix (P):
 *   P fbk             zset  report key scored by when it was recorded
 *   P fb:HOUR:ID      hash  c h s dm df: complaints, hard and soft bounces,
 *                           DMARC aggregate messages and failures
 *   P fbi:ID          zset  HOUR scored by HOUR (one identity's hours)
 *   P fbi             zset  "HOUR:ID" scored by HOUR (every hour, export)
 * A record is one script run on the primary (so two relays ingesting the
 * same report count it once): ZADD NX the key, and only when it was new,
 * add the deltas. Everything is kept REDIS_COUNTER_TTL_S (hashes expire,
 * the indexes are trimmed on each record). The script is sent with EVAL
 * each time (ingest is not on the message path).
 * Untrusted input: stored values (parsed as integers, negatives read as 0).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_redis.h"

#define FB_FIELDS 5
#define FB_BATCH 256

/* KEYS: fbk, fbi, then per delta: its hash, its fbi:ID
 * ARGV: ts, report key, oldest score kept, ttl, then per delta: hour,
 *       "HOUR:ID", five counts
 * returns 1 recorded, 0 seen before (report key "": add, remember nothing) */
static const char record_lua[] =
    "if ARGV[2] ~= '' and redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2]) == 0 then\n"
    "  return 0\n"
    "end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[3])\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])\n"
    "local n = (#KEYS - 2) / 2\n"
    "local f = {'c', 'h', 's', 'dm', 'df'}\n"
    "for i = 1, n do\n"
    "  local k, ki, b = KEYS[1 + 2 * i], KEYS[2 + 2 * i], 5 + (i - 1) * 7\n"
    "  for j = 1, 5 do redis.call('HINCRBY', k, f[j], ARGV[b + 1 + j]) end\n"
    "  redis.call('EXPIRE', k, ARGV[4])\n"
    "  redis.call('ZADD', ki, ARGV[b], ARGV[b])\n"
    "  redis.call('ZREMRANGEBYSCORE', ki, '-inf', '(' .. ARGV[3])\n"
    "  redis.call('EXPIRE', ki, ARGV[4])\n"
    "  redis.call('ZADD', KEYS[2], ARGV[b], ARGV[b + 1])\n"
    "end\n"
    "return 1\n";

static uint64_t *
fb_at(struct state_feedback *f, int i)
{
	uint64_t *v[FB_FIELDS] = {&f->complaints, &f->hard_bounces, &f->soft_bounces,
				  &f->dmarc_messages, &f->dmarc_failures};
	return v[i];
}

/* Strings of one script call: keys and args in one allocation each. */
struct call {
	char **v;
	size_t n, cap;
};

static bool call_add(struct call *c, const char *fmt, ...) BW_PRINTF(2, 3);

static bool
call_add(struct call *c, const char *fmt, ...)
{
	va_list ap;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 32;
		char **v = realloc(c->v, cap * sizeof(*v));
		if (v == NULL)
			return false;
		c->v = v;
		c->cap = cap;
	}
	va_start(ap, fmt);
	int r = vasprintf(&c->v[c->n], fmt, ap);
	va_end(ap);
	if (r < 0)
		return false;
	c->n++;
	return true;
}

static void
call_free(struct call *c)
{
	for (size_t i = 0; i < c->n; i++)
		free(c->v[i]);
	free(c->v);
}

static int
record(struct redis_state *rs, const char *key, long long now, const struct state_feedback_delta *d,
       size_t n)
{
	struct call k = {0}, a = {0};
	char kb[REDIS_KEY_MAX];
	int rc = -1;
	bool ok = state_redis_key(rs, kb, "fbk") && call_add(&k, "%s", kb) &&
		  state_redis_key(rs, kb, "fbi") && call_add(&k, "%s", kb) &&
		  call_add(&a, "%lld", now) && call_add(&a, "%s", key) &&
		  call_add(&a, "%lld", now - REDIS_COUNTER_TTL_S) &&
		  call_add(&a, "%lld", REDIS_COUNTER_TTL_S);
	for (size_t i = 0; ok && i < n; i++) {
		long long hour = d[i].hour - (((d[i].hour % 3600) + 3600) % 3600);
		struct state_feedback f = d[i].fb;
		ok = state_redis_key(rs, kb, "fb:%lld:%s", hour, d[i].id) &&
		     call_add(&k, "%s", kb) && state_redis_key(rs, kb, "fbi:%s", d[i].id) &&
		     call_add(&k, "%s", kb) && call_add(&a, "%lld", hour) &&
		     call_add(&a, "%lld:%s", hour, d[i].id);
		for (int j = 0; ok && j < FB_FIELDS; j++) {
			uint64_t v = *fb_at(&f, j);
			ok = call_add(&a, "%lld",
				      v > (uint64_t)INT64_MAX ? INT64_MAX : (long long)v);
		}
	}
	if (!ok) {
		if (rs->base.err[0] == '\0')
			state_set_error(&rs->base, "out of memory");
		goto out;
	}
	size_t total = 3 + k.n + a.n;
	const char **argv = malloc(total * sizeof(*argv));
	size_t *lens = malloc(total * sizeof(*lens));
	char nk[16];
	if (argv == NULL || lens == NULL) {
		free(argv);
		free(lens);
		state_set_error(&rs->base, "out of memory");
		goto out;
	}
	snprintf(nk, sizeof(nk), "%zu", k.n);
	size_t m = 0;
	argv[m++] = "EVAL";
	argv[m++] = record_lua;
	argv[m++] = nk;
	for (size_t i = 0; i < k.n; i++)
		argv[m++] = k.v[i];
	for (size_t i = 0; i < a.n; i++)
		argv[m++] = a.v[i];
	for (size_t i = 0; i < m; i++)
		lens[i] = strlen(argv[i]);
	redisReply *r = state_redis_cmd(rs, (int)m, argv, lens);
	free(argv);
	free(lens);
	if (r == NULL)
		goto out;
	if (r->type != REDIS_REPLY_INTEGER) {
		state_set_error(&rs->base, "unexpected reply recording a feedback report");
	} else if (r->integer == 0) {
		rc = 1;
	} else {
		rc = state_redis_wait(rs) == 0 ? 0 : -1;
	}
	freeReplyObject(r);
out:
	call_free(&k);
	call_free(&a);
	return rc;
}

int
state_redis_feedback_record(struct state *s, const char *key, long long now,
			    const struct state_feedback_delta *d, size_t n)
{
	return record(RS(s), key, now, d, n);
}

int
state_redis_feedback_seen(struct state *s, const char *key)
{
	struct redis_state *rs = RS(s);
	char kb[REDIS_KEY_MAX];
	if (!state_redis_key(rs, kb, "fbk"))
		return -1;
	redisReply *r = state_redis_cmdf(rs, "ZSCORE %s %s", kb, key);
	if (r == NULL)
		return -1;
	int seen = r->type == REDIS_REPLY_STRING;
	freeReplyObject(r);
	return seen;
}

/* HMGET the hashes of hours[] for id (n of them); fn sees each. */
static int
read_hours(struct redis_state *rs, const char *id, const long long *hours, size_t n,
	   int (*fn)(const char *id, long long hour, const struct state_feedback *f, void *arg),
	   void *arg)
{
	redisReply *r[FB_BATCH];
	char kb[REDIS_KEY_MAX];
	for (size_t b = 0; b < n; b += FB_BATCH) {
		size_t m = n - b < FB_BATCH ? n - b : FB_BATCH;
		if (state_redis_conn(rs) == NULL)
			return -1;
		for (size_t i = 0; i < m; i++) {
			if (!state_redis_key(rs, kb, "fb:%lld:%s", hours[b + i], id)) {
				state_redis_drop(rs, "key too long");
				return -1;
			}
			redisAppendCommand(rs->c, "HMGET %s c h s dm df", kb);
			r[i] = NULL;
		}
		if (state_redis_collect(rs, r, m) != 0)
			return -1;
		int stop = 0;
		for (size_t i = 0; i < m; i++) {
			struct state_feedback f;
			memset(&f, 0, sizeof(f));
			bool any = false;
			if (r[i]->type == REDIS_REPLY_ARRAY && r[i]->elements == FB_FIELDS)
				for (int j = 0; j < FB_FIELDS; j++)
					if (r[i]->element[j]->type == REDIS_REPLY_STRING) {
						long long v =
						    strtoll(r[i]->element[j]->str, NULL, 10);
						any = true;
						if (v > 0)
							*fb_at(&f, j) = (uint64_t)v;
					}
			if (!stop && any)
				stop = fn(id, hours[b + i], &f, arg);
			freeReplyObject(r[i]);
		}
		if (stop)
			return 0;
	}
	return 0;
}

/* The hours of zset zk with from <= score < to (malloc'ed). */
static int
hours_in(struct redis_state *rs, const char *zk, long long from, long long to, long long **out,
	 size_t *n)
{
	*out = NULL;
	*n = 0;
	redisReply *r = state_redis_cmdf(rs, "ZRANGEBYSCORE %s %lld (%lld", zk, from, to);
	if (r == NULL)
		return -1;
	if (r->type == REDIS_REPLY_ARRAY && r->elements > 0) {
		*out = calloc(r->elements, sizeof(**out));
		if (*out == NULL) {
			freeReplyObject(r);
			state_set_error(&rs->base, "out of memory");
			return -1;
		}
		for (size_t i = 0; i < r->elements; i++)
			if (r->element[i]->type == REDIS_REPLY_STRING)
				(*out)[(*n)++] = strtoll(r->element[i]->str, NULL, 10);
	}
	freeReplyObject(r);
	return 0;
}

static int
add_to(const char *id, long long hour, const struct state_feedback *f, void *arg)
{
	struct state_feedback *sum = arg;
	(void)id;
	(void)hour;
	sum->complaints += f->complaints;
	sum->hard_bounces += f->hard_bounces;
	sum->soft_bounces += f->soft_bounces;
	sum->dmarc_messages += f->dmarc_messages;
	sum->dmarc_failures += f->dmarc_failures;
	return 0;
}

int
state_redis_feedback_sum(struct state *s, const char *id, long long from, long long to,
			 struct state_feedback *sum)
{
	struct redis_state *rs = RS(s);
	char zk[REDIS_KEY_MAX];
	long long *hours;
	size_t n;
	if (!state_redis_key(rs, zk, "fbi:%s", id) || hours_in(rs, zk, from, to, &hours, &n) != 0)
		return -1;
	int rc = read_hours(rs, id, hours, n, add_to, sum);
	free(hours);
	return rc;
}

int
state_redis_feedback_rows(struct state *s,
			  int (*fn)(const char *id, long long hour, const struct state_feedback *f,
				    void *arg),
			  void *arg)
{
	struct redis_state *rs = RS(s);
	char zk[REDIS_KEY_MAX];
	if (!state_redis_key(rs, zk, "fbi"))
		return -1;
	redisReply *r = state_redis_cmdf(rs, "ZRANGE %s 0 -1", zk);
	if (r == NULL)
		return -1;
	int rc = 0;
	for (size_t i = 0; rc == 0 && r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
		const redisReply *e = r->element[i];
		char *colon;
		if (e->type != REDIS_REPLY_STRING || (colon = strchr(e->str, ':')) == NULL)
			continue;
		long long hour = strtoll(e->str, NULL, 10);
		rc = read_hours(rs, colon + 1, &hour, 1, fn, arg);
	}
	freeReplyObject(r);
	return rc;
}

int
state_redis_feedback_keys(struct state *s, int (*fn)(const char *key, long long ts, void *arg),
			  void *arg)
{
	struct redis_state *rs = RS(s);
	char zk[REDIS_KEY_MAX];
	if (!state_redis_key(rs, zk, "fbk"))
		return -1;
	redisReply *r = state_redis_cmdf(rs, "ZRANGE %s 0 -1 WITHSCORES", zk);
	if (r == NULL)
		return -1;
	for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i + 1 < r->elements; i += 2) {
		const redisReply *k = r->element[i], *sc = r->element[i + 1];
		if (k->type != REDIS_REPLY_STRING || k->len > STATE_FEEDBACK_KEY_MAX)
			continue;
		long long ts = sc->type == REDIS_REPLY_STRING ? strtoll(sc->str, NULL, 10) : 0;
		if (fn(k->str, ts, arg) != 0)
			break;
	}
	freeReplyObject(r);
	return 0;
}

int
state_redis_import_feedback(struct state *s, const char *id, long long hour,
			    const struct state_feedback *f)
{
	struct state_feedback_delta d = {.id = id, .hour = hour, .fb = *f};
	int rc = record(RS(s), "", hour, &d, 1); /* no report key: added as is */
	return rc < 0 ? -1 : 0;
}

int
state_redis_import_feedback_key(struct state *s, const char *key, long long ts)
{
	int rc = record(RS(s), key, ts, NULL, 0);
	return rc < 0 ? -1 : 0;
}
