/*
 * state_redis_count.c - volume in the Redis backend: the per-identity
 * hourly counters (stats, counter events) and the use counts behind the
 * fleet-wide limits (keyspace in state_redis.h).
 *
 * A counter flush and a use-count flush are each one MULTI/EXEC pipeline:
 * all or none, one round trip. A reservation is one call of the RESERVE
 * script (check and add atomically on the primary). Counter hashes expire
 * after REDIS_COUNTER_TTL_S; the time index is trimmed on each flush.
 * Memory: arrays built here are freed before returning. Untrusted input:
 * stored values (parsed as integers, negatives read as 0).
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_redis.h"
#include "base/util.h"

#define CNT_BATCH 256 /* counter hashes per pipelined read */

const char *const state_redis_cnt_fields[REDIS_CNT_FIELDS] = {
    "messages", "recipients",  "bytes",	     "accepted",
    "rejected", "quarantined", "tempfailed", "auth_failed"};

/* The counters of a struct in field order. */
uint64_t *
state_redis_cnt_field(struct state_counts *c, int i)
{
	uint64_t *f[] = {&c->messages, &c->recipients,	&c->bytes,	&c->accepted,
			 &c->rejected, &c->quarantined, &c->tempfailed, &c->auth_failed};
	return f[i];
}

int
state_redis_counters_add(struct state *s, const struct state_counter_delta *d, size_t n)
{
	struct redis_state *rs = RS(s);
	char k[REDIS_KEY_MAX], ki[REDIS_KEY_MAX], kid[REDIS_KEY_MAX];
	size_t cmds = 0;
	if (state_redis_conn(rs) == NULL)
		return -1;
	if (!state_redis_key(rs, ki, "cnti"))
		return -1;
	redisAppendCommand(rs->c, "MULTI");
	cmds++;
	for (size_t i = 0; i < n; i++) {
		long long hour = d[i].hour - (((d[i].hour % 3600) + 3600) % 3600);
		struct state_counts c = d[i].counts;
		if (!state_redis_key(rs, k, "cnt:%lld:%s", hour, d[i].id) ||
		    !state_redis_key(rs, kid, "cnti:%s", d[i].id)) {
			state_redis_drop(rs, "key too long"); /* abandons the MULTI */
			return -1;
		}
		for (int f = 0; f < REDIS_CNT_FIELDS; f++) {
			uint64_t v = *state_redis_cnt_field(&c, f);
			if (v == 0)
				continue;
			redisAppendCommand(rs->c, "HINCRBY %s %s %llu", k,
					   state_redis_cnt_fields[f],
					   (unsigned long long)(v > INT64_MAX ? INT64_MAX : v));
			cmds++;
		}
		redisAppendCommand(rs->c, "EXPIRE %s %lld", k, REDIS_COUNTER_TTL_S);
		redisAppendCommand(rs->c, "ZADD %s %lld %lld:%s", ki, hour, hour, d[i].id);
		redisAppendCommand(rs->c, "ZADD %s %lld %lld", kid, hour, hour);
		cmds += 3;
	}
	long long oldest = d[0].hour - REDIS_COUNTER_TTL_S;
	redisAppendCommand(rs->c, "ZREMRANGEBYSCORE %s -inf (%lld", ki, oldest);
	redisAppendCommand(rs->c, "EXEC");
	cmds += 2;
	redisReply **r = calloc(cmds, sizeof(*r));
	if (r == NULL) {
		state_redis_drop(rs, "out of memory"); /* replies pending: drop the connection */
		state_set_error(s, "out of memory");
		return -1;
	}
	int rc = state_redis_collect(rs, r, cmds);
	if (rc == 0 && (r[cmds - 1]->type != REDIS_REPLY_ARRAY)) {
		state_set_error(s, "Redis: the counter transaction was not executed");
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < cmds; i++)
		freeReplyObject(r[i]);
	free(r);
	return rc;
}

int
state_redis_counters_add_once(struct state *s, const char *batch,
			      const struct state_counter_delta *d, size_t n)
{
	struct redis_state *rs = RS(s);
	size_t nkeys = 2 + 2 * n, nargs = 3 + (2 + REDIS_CNT_FIELDS) * n;
	char **keys = calloc(nkeys, sizeof(char *)), **args = calloc(nargs, sizeof(char *));
	int rc = -1;
	if (keys == NULL || args == NULL) {
		state_set_error(s, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < nkeys; i++)
		if ((keys[i] = malloc(REDIS_KEY_MAX)) == NULL)
			goto oom;
	for (size_t i = 0; i < nargs; i++)
		if ((args[i] = malloc(REDIS_KEY_MAX)) == NULL)
			goto oom;
	if (!state_redis_key(rs, keys[0], "flush:%s", batch) ||
	    !state_redis_key(rs, keys[1], "cnti"))
		goto out;
	snprintf(args[0], REDIS_KEY_MAX, "%d", 86400);
	snprintf(args[1], REDIS_KEY_MAX, "%lld", REDIS_COUNTER_TTL_S);
	snprintf(args[2], REDIS_KEY_MAX, "%lld", d[0].hour - REDIS_COUNTER_TTL_S);
	for (size_t i = 0; i < n; i++) {
		long long hour = d[i].hour - (((d[i].hour % 3600) + 3600) % 3600);
		struct state_counts c = d[i].counts;
		if (!state_redis_key(rs, keys[2 + 2 * i], "cnt:%lld:%s", hour, d[i].id) ||
		    !state_redis_key(rs, keys[3 + 2 * i], "cnti:%s", d[i].id))
			goto out;
		char **a = &args[3 + (2 + REDIS_CNT_FIELDS) * i];
		snprintf(a[0], REDIS_KEY_MAX, "%lld", hour);
		snprintf(a[1], REDIS_KEY_MAX, "%lld:%s", hour, d[i].id);
		for (int f = 0; f < REDIS_CNT_FIELDS; f++) {
			uint64_t v = *state_redis_cnt_field(&c, f);
			snprintf(a[2 + f], REDIS_KEY_MAX, "%llu",
				 (unsigned long long)(v > INT64_MAX ? INT64_MAX : v));
		}
	}
	redisReply *r = state_redis_eval(rs, LUA_COUNTERS, (int)nkeys, (const char **)keys,
					 (int)nargs, (const char **)args, NULL);
	if (r != NULL) {
		rc = 0; /* 1 applied now, 0 applied by an earlier try */
		freeReplyObject(r);
	}
	goto out;
oom:
	state_set_error(s, "out of memory");
out:
	for (size_t i = 0; keys && i < nkeys; i++)
		free(keys[i]);
	for (size_t i = 0; args && i < nargs; i++)
		free(args[i]);
	free(keys);
	free(args);
	return rc;
}

/* Add the HMGET reply of the counters to sum. */
static void
add_reply(struct state_counts *sum, const redisReply *x)
{
	if (x->type != REDIS_REPLY_ARRAY || x->elements != REDIS_CNT_FIELDS)
		return;
	for (int f = 0; f < REDIS_CNT_FIELDS; f++)
		if (x->element[f]->type == REDIS_REPLY_STRING) {
			long long v = strtoll(x->element[f]->str, NULL, 10);
			if (v > 0)
				*state_redis_cnt_field(sum, f) += (uint64_t)v;
		}
}

/* HMGET the counter hashes named by keys (n of them) into the callback. */
static int
read_counts(struct redis_state *rs, char **keys, size_t n,
	    void (*fn)(size_t i, const redisReply *x, void *arg), void *arg)
{
	redisReply *r[CNT_BATCH];
	for (size_t b = 0; b < n; b += CNT_BATCH) {
		size_t m = n - b < CNT_BATCH ? n - b : CNT_BATCH;
		if (state_redis_conn(rs) == NULL)
			return -1;
		for (size_t i = 0; i < m; i++) {
			redisAppendCommand(rs->c, REDIS_CNT_HMGET, keys[b + i]);
			r[i] = NULL;
		}
		if (state_redis_collect(rs, r, m) != 0)
			return -1;
		for (size_t i = 0; i < m; i++) {
			fn(b + i, r[i], arg);
			freeReplyObject(r[i]);
		}
	}
	return 0;
}

/* Free an array of n strings. */
static void
free_strs(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Members of a zset with from <= score < to, as counter key names built by
 * mk; malloc'ed arrays (names, and the members themselves in *members). */
static int
index_range(struct redis_state *rs, const char *zkey, long long from, long long to, const char *id,
	    char ***keys, char ***members, size_t *n)
{
	char k[REDIS_KEY_MAX];
	*keys = *members = NULL;
	*n = 0;
	redisReply *r = state_redis_cmdf(rs, "ZRANGEBYSCORE %s %lld (%lld", zkey, from, to);
	if (r == NULL)
		return -1;
	size_t m = r->type == REDIS_REPLY_ARRAY ? r->elements : 0;
	char **kv = calloc(m ? m : 1, sizeof(char *)), **mv = calloc(m ? m : 1, sizeof(char *));
	if (kv == NULL || mv == NULL)
		goto oom;
	for (size_t i = 0; i < m; i++) {
		redisReply *e = r->element[i];
		if (e->type != REDIS_REPLY_STRING)
			continue;
		/* per identity: member "HOUR"; global: "HOUR:ID" */
		bool ok = id ? state_redis_key(rs, k, "cnt:%s:%s", e->str, id)
			     : state_redis_key(rs, k, "cnt:%s", e->str);
		if (!ok)
			continue;
		if ((kv[*n] = strdup(k)) == NULL || (mv[*n] = strdup(e->str)) == NULL) {
			free(kv[*n]);
			goto oom;
		}
		(*n)++;
	}
	freeReplyObject(r);
	*keys = kv;
	*members = mv;
	return 0;
oom:
	if (kv)
		free_strs(kv, *n);
	if (mv)
		free_strs(mv, *n);
	*n = 0;
	freeReplyObject(r);
	state_set_error(&rs->base, "out of memory");
	return -1;
}

static void
sum_one(size_t i, const redisReply *x, void *arg)
{
	(void)i;
	add_reply(arg, x);
}

int
state_redis_counters_sum(struct state *s, const char *id, long long from, long long to,
			 struct state_counts *sum)
{
	struct redis_state *rs = RS(s);
	char zk[REDIS_KEY_MAX];
	char **keys, **members;
	size_t n;
	memset(sum, 0, sizeof(*sum));
	if (!state_redis_key(rs, zk, "cnti:%s", id) ||
	    index_range(rs, zk, from, to, id, &keys, &members, &n) != 0)
		return -1;
	int rc = read_counts(rs, keys, n, sum_one, sum);
	free_strs(keys, n);
	free_strs(members, n);
	return rc;
}

struct per_id {
	char id[STATE_ID_MAX + 1];
	struct state_counts c;
};

static void
each_one(size_t i, const redisReply *x, void *arg)
{
	add_reply(&((struct per_id *)arg)[i].c, x);
}

static int
cmp_per_id(const void *a, const void *b)
{
	return strcmp(((const struct per_id *)a)->id, ((const struct per_id *)b)->id);
}

int
state_redis_counters_foreach(struct state *s, long long from, long long to,
			     int (*fn)(const char *id, const struct state_counts *sum, void *arg),
			     void *arg)
{
	struct redis_state *rs = RS(s);
	char zk[REDIS_KEY_MAX];
	char **keys, **members;
	size_t n;
	if (!state_redis_key(rs, zk, "cnti") ||
	    index_range(rs, zk, from, to, NULL, &keys, &members, &n) != 0)
		return -1;
	struct per_id *v = calloc(n ? n : 1, sizeof(*v));
	int rc = -1;
	if (v == NULL) {
		state_set_error(s, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const char *colon = strchr(members[i], ':');
		bw_strlcpy(v[i].id, colon ? colon + 1 : "", sizeof(v[i].id));
	}
	if (read_counts(rs, keys, n, each_one, v) != 0)
		goto out;
	qsort(v, n, sizeof(*v), cmp_per_id);
	rc = 0;
	for (size_t i = 0; i < n;) {
		struct state_counts c;
		memset(&c, 0, sizeof(c));
		size_t j = i;
		for (; j < n && strcmp(v[j].id, v[i].id) == 0; j++)
			for (int f = 0; f < REDIS_CNT_FIELDS; f++)
				*state_redis_cnt_field(&c, f) += *state_redis_cnt_field(&v[j].c, f);
		if (v[i].id[0] != '\0' && fn(v[i].id, &c, arg) != 0)
			break;
		i = j;
	}
out:
	free(v);
	free_strs(keys, n);
	free_strs(members, n);
	return rc;
}

/* ---- use counts (limits) ----------------------------------------------- */

int
state_redis_reserve(struct state *s, const char *id, long long hour, long long day, unsigned msgs,
		    unsigned rcpts, const struct state_limits *lim, struct state_usage *use,
		    enum state_over *over)
{
	struct redis_state *rs = RS(s);
	char kh[REDIS_KEY_MAX], kd[REDIS_KEY_MAX];
	char a[8][24];
	if (!state_redis_key(rs, kh, "use:h:%lld:%s", hour, id) ||
	    !state_redis_key(rs, kd, "use:d:%lld:%s", day, id))
		return -1;
	snprintf(a[0], sizeof(a[0]), "%u", msgs);
	snprintf(a[1], sizeof(a[1]), "%u", rcpts);
	snprintf(a[2], sizeof(a[2]), "%" PRIu64, lim->msg_hour);
	snprintf(a[3], sizeof(a[3]), "%" PRIu64, lim->msg_day);
	snprintf(a[4], sizeof(a[4]), "%" PRIu64, lim->rcpt_hour);
	snprintf(a[5], sizeof(a[5]), "%" PRIu64, lim->rcpt_day);
	snprintf(a[6], sizeof(a[6]), "%d", 3600 + 600);
	snprintf(a[7], sizeof(a[7]), "%lld", STATE_USAGE_KEEP_S);
	const char *keys[] = {kh, kd};
	const char *args[] = {a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]};
	redisReply *r = state_redis_eval(rs, LUA_RESERVE, 2, keys, 8, args, NULL);
	if (r == NULL)
		return -1;
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 5) {
		freeReplyObject(r);
		state_set_error(s, "unexpected reply from the reserve script");
		return -1;
	}
	long long x[5];
	for (int i = 0; i < 5; i++)
		x[i] = r->element[i]->type == REDIS_REPLY_INTEGER ? r->element[i]->integer : 0;
	freeReplyObject(r);
	*over = (enum state_over)(x[0] >= 0 && x[0] <= 4 ? x[0] : 0);
	use->msg_hour = x[1] > 0 ? (uint64_t)x[1] : 0;
	use->msg_day = x[2] > 0 ? (uint64_t)x[2] : 0;
	use->rcpt_hour = x[3] > 0 ? (uint64_t)x[3] : 0;
	use->rcpt_day = x[4] > 0 ? (uint64_t)x[4] : 0;
	return *over == STATE_OVER_NONE ? 0 : 1;
}

int
state_redis_usage_add(struct state *s, const struct state_usage_delta *d, size_t n)
{
	struct redis_state *rs = RS(s);
	char kh[REDIS_KEY_MAX], kd[REDIS_KEY_MAX];
	size_t cmds = 2 + 6 * n;
	if (state_redis_conn(rs) == NULL)
		return -1;
	redisReply **r = calloc(cmds, sizeof(*r));
	if (r == NULL) {
		state_set_error(s, "out of memory");
		return -1;
	}
	redisAppendCommand(rs->c, "MULTI");
	for (size_t i = 0; i < n; i++) {
		long long hour = d[i].hour - (((d[i].hour % 3600) + 3600) % 3600);
		long long day = d[i].hour - (((d[i].hour % 86400) + 86400) % 86400);
		if (!state_redis_key(rs, kh, "use:h:%lld:%s", hour, d[i].id) ||
		    !state_redis_key(rs, kd, "use:d:%lld:%s", day, d[i].id)) {
			state_redis_drop(rs, "key too long"); /* abandons the MULTI */
			free(r);
			return -1;
		}
		redisAppendCommand(rs->c, "HINCRBY %s m %lld", kh, d[i].msgs);
		redisAppendCommand(rs->c, "HINCRBY %s r %lld", kh, d[i].rcpts);
		redisAppendCommand(rs->c, "EXPIRE %s %d", kh, 3600 + 600);
		redisAppendCommand(rs->c, "HINCRBY %s m %lld", kd, d[i].msgs);
		redisAppendCommand(rs->c, "HINCRBY %s r %lld", kd, d[i].rcpts);
		redisAppendCommand(rs->c, "EXPIRE %s %lld", kd, STATE_USAGE_KEEP_S);
	}
	redisAppendCommand(rs->c, "EXEC");
	int rc = state_redis_collect(rs, r, cmds);
	if (rc == 0 && r[cmds - 1]->type != REDIS_REPLY_ARRAY) {
		state_set_error(s, "Redis: the use-count transaction was not executed");
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && i < cmds; i++)
		freeReplyObject(r[i]);
	free(r);
	return rc;
}

/* One window's counts from an HMGET m r reply. */
static void
read_mr(const redisReply *x, uint64_t *m, uint64_t *r)
{
	*m = *r = 0;
	if (x->type != REDIS_REPLY_ARRAY || x->elements != 2)
		return;
	if (x->element[0]->type == REDIS_REPLY_STRING) {
		long long v = strtoll(x->element[0]->str, NULL, 10);
		*m = v > 0 ? (uint64_t)v : 0;
	}
	if (x->element[1]->type == REDIS_REPLY_STRING) {
		long long v = strtoll(x->element[1]->str, NULL, 10);
		*r = v > 0 ? (uint64_t)v : 0;
	}
}

int
state_redis_usage_get(struct state *s, const char *id, long long hour, long long day,
		      struct state_usage *use)
{
	struct redis_state *rs = RS(s);
	char kh[REDIS_KEY_MAX], kd[REDIS_KEY_MAX];
	redisReply *r[2] = {NULL, NULL};
	if (!state_redis_key(rs, kh, "use:h:%lld:%s", hour, id) ||
	    !state_redis_key(rs, kd, "use:d:%lld:%s", day, id) || state_redis_conn(rs) == NULL)
		return -1;
	redisAppendCommand(rs->c, "HMGET %s m r", kh);
	redisAppendCommand(rs->c, "HMGET %s m r", kd);
	if (state_redis_collect(rs, r, 2) != 0)
		return -1;
	read_mr(r[0], &use->msg_hour, &use->rcpt_hour);
	read_mr(r[1], &use->msg_day, &use->rcpt_day);
	freeReplyObject(r[0]);
	freeReplyObject(r[1]);
	return 0;
}
