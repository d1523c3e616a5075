/*
 * state_redis_lua.c - the server-side scripts of the Redis backend and how
 * they are called (EVALSHA; EVAL once when the server does not have the
 * script yet, e.g. after a restart or a failover). A script runs
 * atomically on the primary and is replicated as its effects, so two
 * writers never interleave inside one.
 *
 * COMMIT: append one audit record and apply the suspension change it
 * records, only if the audit head and the suspension are still what the
 * caller read (optimistic concurrency: the caller computes the SHA-256
 * chain hash, which Lua cannot, then retries on a conflict). Two writers
 * can therefore never fork the chain, and a record is never written
 * without its change or the other way round.
 *   KEYS: head, record, susp hash, ver
 *   ARGV: head seq, head hash, op (none|put|del), id, expected susp value
 *         ("*" any), new susp value, channel, new seq, new hash, then the
 *         record's field/value pairs
 *   returns 1 written, 0 conflict (re-read and retry), -1 a record already
 *   has that seq (the log was changed behind bulkwarden's back)
 *
 * RESERVE: check and add in one step, so relays together never grant more
 * than a limit. A window's key gets its expiry when the script creates it
 * (the common case, an existing window, is two HMGETs and two HINCRBYs).
 *   KEYS: hour use, day use
 *   ARGV: msgs, rcpts, limit msgs/hour, msgs/day, rcpts/hour, rcpts/day,
 *         ttl hour, ttl day
 *   returns {over (0 none, 1..4 as enum state_over), msgs hour, msgs day,
 *            rcpts hour, rcpts day}
 *
 * COUNTERS: a counter flush applied once per batch id (a marker key kept a
 * day), so a retry after a lost reply does not count twice.
 *   KEYS: marker, counter index, then per delta: counter hash, its id index
 *   ARGV: marker ttl, counter ttl, oldest hour kept, then per delta: hour,
 *         index member, the seven counts
 *   returns 1 applied, 0 already applied
 *
 * SUPPRESS: add or remove one suppression entry with its audit record,
 * like COMMIT (the same head check and chain), numbering the change from
 * the list's own counter so readers follow changes by number.
 *   KEYS: head, record, supp, supp:log, supp:seq, supp:count, ver
 *   ARGV: head seq, head hash, field "ID:HEX", id, add ("1"/"0"), now,
 *         channel, new seq, new hash, then the record's field/value pairs
 *   returns 1 written, 0 conflict, 2 nothing to do (already in that
 *   state), -1 a record already has that seq
 *
 * Untrusted input: replies (checked by the callers).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/sha.h>

#include "state/state_redis.h"

const char *const state_redis_lua[LUA__COUNT] = {
    [LUA_COMMIT] = "local h = redis.call('HMGET', KEYS[1], 'seq', 'hash')\n"
		   "if (h[1] or '0') ~= ARGV[1] or (h[2] or '') ~= ARGV[2] then return 0 end\n"
		   "if ARGV[5] ~= '*' then\n"
		   "  local cur = redis.call('HGET', KEYS[3], ARGV[4]) or ''\n"
		   "  if cur ~= ARGV[5] then return 0 end\n"
		   "end\n"
		   "if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end\n"
		   "redis.call('HSET', KEYS[2], unpack(ARGV, 10))\n"
		   "redis.call('HSET', KEYS[1], 'seq', ARGV[8], 'hash', ARGV[9])\n"
		   "if ARGV[3] == 'put' then redis.call('HSET', KEYS[3], ARGV[4], ARGV[6])\n"
		   "elseif ARGV[3] == 'del' then redis.call('HDEL', KEYS[3], ARGV[4]) end\n"
		   "if ARGV[3] ~= 'none' then\n"
		   "  local v = redis.call('INCR', KEYS[4])\n"
		   "  redis.call('PUBLISH', ARGV[7], v)\n"
		   "end\n"
		   "return 1\n",
    [LUA_RESERVE] = "local h = redis.call('HMGET', KEYS[1], 'm', 'r')\n"
		    "local d = redis.call('HMGET', KEYS[2], 'm', 'r')\n"
		    "local hm, hr = tonumber(h[1] or '0'), tonumber(h[2] or '0')\n"
		    "local dm, dr = tonumber(d[1] or '0'), tonumber(d[2] or '0')\n"
		    "local nm, nr = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
		    "local lmh, lmd = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
		    "local lrh, lrd = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
		    "local over = 0\n"
		    "if lmh > 0 and hm + nm > lmh then over = 1\n"
		    "elseif lmd > 0 and dm + nm > lmd then over = 2\n"
		    "elseif lrh > 0 and hr + nr > lrh then over = 3\n"
		    "elseif lrd > 0 and dr + nr > lrd then over = 4 end\n"
		    "if over == 0 then\n"
		    "  hm = redis.call('HINCRBY', KEYS[1], 'm', nm)\n"
		    "  dm = redis.call('HINCRBY', KEYS[2], 'm', nm)\n"
		    "  if nr ~= 0 then\n"
		    "    hr = redis.call('HINCRBY', KEYS[1], 'r', nr)\n"
		    "    dr = redis.call('HINCRBY', KEYS[2], 'r', nr)\n"
		    "  end\n"
		    "  if h[1] == false then redis.call('EXPIRE', KEYS[1], ARGV[7]) end\n"
		    "  if d[1] == false then redis.call('EXPIRE', KEYS[2], ARGV[8]) end\n"
		    "end\n"
		    "return {over, hm, dm, hr, dr}\n",
    [LUA_COUNTERS] =
	"if not redis.call('SET', KEYS[1], '1', 'NX', 'EX', ARGV[1]) then return 0 end\n"
	"local f = {'messages', 'recipients', 'bytes', 'accepted', 'rejected', 'quarantined',\n"
	"           'tempfailed', 'auth_failed'}\n"
	"local n = (#KEYS - 2) / 2\n"
	"for i = 0, n - 1 do\n"
	"  local ck, ik, a = KEYS[3 + 2 * i], KEYS[4 + 2 * i], 4 + 10 * i\n"
	"  for k = 1, 8 do\n"
	"    local v = tonumber(ARGV[a + 1 + k])\n"
	"    if v ~= 0 then redis.call('HINCRBY', ck, f[k], v) end\n"
	"  end\n"
	"  redis.call('EXPIRE', ck, ARGV[2])\n"
	"  redis.call('ZADD', KEYS[2], ARGV[a], ARGV[a + 1])\n"
	"  redis.call('ZADD', ik, ARGV[a], ARGV[a])\n"
	"end\n"
	"redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[3])\n"
	"return 1\n",
    [LUA_SUPPRESS] = "local h = redis.call('HMGET', KEYS[1], 'seq', 'hash')\n"
		     "if (h[1] or '0') ~= ARGV[1] or (h[2] or '') ~= ARGV[2] then return 0 end\n"
		     "local cur = redis.call('HGET', KEYS[3], ARGV[3])\n"
		     "local live = cur and string.sub(cur, 1, 1) == '1'\n"
		     "if (ARGV[5] == '1') == (live == true) then return 2 end\n"
		     "if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end\n"
		     "redis.call('HSET', KEYS[2], unpack(ARGV, 10))\n"
		     "redis.call('HSET', KEYS[1], 'seq', ARGV[8], 'hash', ARGV[9])\n"
		     "local s = redis.call('INCR', KEYS[5])\n"
		     "redis.call('HSET', KEYS[3], ARGV[3], ARGV[5] .. ':' .. ARGV[6] .. ':' .. s)\n"
		     "redis.call('ZADD', KEYS[4], s, ARGV[3])\n"
		     "redis.call('HINCRBY', KEYS[6], ARGV[4], ARGV[5] == '1' and 1 or -1)\n"
		     "local v = redis.call('INCR', KEYS[7])\n"
		     "redis.call('PUBLISH', ARGV[7], v)\n"
		     "return 1\n",
};

/* SHA-1 hex of a script (what EVALSHA names it by). */
static void
script_sha(int script, char out[2 * SHA_DIGEST_LENGTH + 1])
{
	unsigned char md[SHA_DIGEST_LENGTH];
	const char *src = state_redis_lua[script];
	SHA1((const unsigned char *)src, strlen(src), md);
	for (int i = 0; i < SHA_DIGEST_LENGTH; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

redisReply *
state_redis_eval(struct redis_state *rs, int script, int nkeys, const char **keys, int nargs,
		 const char **args, const size_t *arglens)
{
	size_t total = 3 + (size_t)nkeys + (size_t)nargs;
	const char **argv = malloc(total * sizeof(*argv));
	size_t *lens = malloc(total * sizeof(*lens));
	char sha[2 * SHA_DIGEST_LENGTH + 1], nk[16];
	int n = 0;

	if (argv == NULL || lens == NULL) {
		free(argv);
		free(lens);
		state_set_error(&rs->base, "out of memory");
		return NULL;
	}
	script_sha(script, sha);
	snprintf(nk, sizeof(nk), "%d", nkeys);
	argv[n++] = "EVALSHA";
	argv[n++] = sha;
	argv[n++] = nk;
	for (int i = 0; i < nkeys; i++)
		argv[n++] = keys[i];
	for (int i = 0; i < nargs; i++)
		argv[n++] = args[i];
	for (int i = 0; i < n; i++)
		lens[i] = strlen(argv[i]);
	for (int i = 0; i < nargs; i++)
		if (arglens != NULL)
			lens[3 + nkeys + i] = arglens[i];
	if (state_redis_conn(rs) == NULL) {
		free(argv);
		free(lens);
		return NULL;
	}
	redisReply *r = redisCommandArgv(rs->c, n, argv, lens);
	if (r != NULL && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0) {
		freeReplyObject(r);
		argv[0] = "EVAL";
		argv[1] = state_redis_lua[script];
		lens[0] = 4;
		lens[1] = strlen(argv[1]);
		r = redisCommandArgv(rs->c, n, argv, lens);
	}
	free(argv);
	free(lens);
	return state_redis_check(rs, r);
}

void
state_redis_rec_args(const struct state_audit *rec, struct state_redis_recnum *num,
		     const char **args)
{
	static const char *const names[STATE_REDIS_REC_FIELDS] = {
	    "seq",    "ts",	"action", "actor", "identity",
	    "reason", "ticket", "detail", "prev",  "hash"};
	snprintf(num->seq, sizeof(num->seq), "%lld", rec->seq);
	snprintf(num->ts, sizeof(num->ts), "%lld", rec->ts);
	const char *vals[STATE_REDIS_REC_FIELDS] = {
	    num->seq,	 num->ts,     rec->action, rec->actor,	   rec->identity,
	    rec->reason, rec->ticket, rec->detail, rec->prev_hash, rec->hash};
	for (int i = 0; i < STATE_REDIS_REC_FIELDS; i++) {
		args[2 * i] = names[i];
		args[2 * i + 1] = vals[i];
	}
}

int
state_redis_commit_reply(struct redis_state *rs, redisReply *r, const struct state_audit *rec,
			 long long max, const char *script)
{
	if (r == NULL)
		return -1;
	long long v = r->type == REDIS_REPLY_INTEGER ? r->integer : -2;
	freeReplyObject(r);
	if (v == -1) {
		state_set_error(&rs->base,
				"audit record %lld already exists beyond the head: the audit log "
				"was changed outside bulkwarden (run bulkwardenctl audit --verify)",
				rec->seq);
		return -1;
	}
	if (v < 0 || v > max) {
		state_set_error(&rs->base, "unexpected reply from the %s script", script);
		return -1;
	}
	return (int)v;
}
