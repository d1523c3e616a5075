/*
 * state_redis.c - the fleet state store: one Redis (a primary, or a primary
 * with replicas behind Redis Sentinel) shared by every milter and
 * bulkwardenctl of a pool of relays (SPEC §8). This file holds the
 * connection; the operations are in state_redis_ops.c, the keyspace is
 * described in state_redis.h.
 *
 * Connecting: with state.redis.sentinels, ask each sentinel in turn for
 * the address of state.redis.master, connect there and check with ROLE that
 * it is the primary (a sentinel may lag a failover); without, connect to
 * host:port. Then AUTH (Redis 6 ACL username when set, password from
 * password_file) and SELECT db. Every connect and command is bounded by
 * timeout_ms. After an I/O error, or a READONLY reply (the node we talk to
 * was demoted), the connection is dropped and the next call reconnects,
 * rediscovering the primary; a failed attempt waits a backoff (100 ms
 * doubling to 1 s) during which calls fail at once instead of each waiting
 * for the timeout.
 *
 * Durability: with Sentinel, a change bulkwardenctl reports done has been
 * acknowledged by a replica (WAIT 1), so it survives the failover of the
 * primary. A handle is one connection: one thread at a time.
 *
 * Untrusted input: every server reply (types checked, lengths bounded), the
 * password file (first line only, bounded).
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "state/state_redis.h"
#include "base/strbuf.h"
#include "base/util.h"

bool
state_redis_key(struct redis_state *rs, char *buf, const char *fmt, ...)
{
	struct bw_sbuf b;
	va_list ap;
	bw_sbuf_init(&b, buf, REDIS_KEY_MAX);
	bool ok = bw_sbuf_printf(&b, "%s", rs->prefix);
	va_start(ap, fmt);
	ok = bw_sbuf_vprintf(&b, fmt, ap) && ok;
	va_end(ap);
	if (!ok) {
		state_set_error(&rs->base, "Redis key name too long");
		return false;
	}
	return true;
}

/* Split "host:port" (the last colon; [v6]:port too). */
static bool
split_hostport(const char *hp, char *host, size_t hlen, int *port)
{
	const char *colon = strrchr(hp, ':');
	if (colon == NULL || colon == hp)
		return false;
	size_t n = (size_t)(colon - hp);
	if (hp[0] == '[' && n >= 2 && hp[n - 1] == ']') {
		hp++;
		n -= 2;
	}
	if (n >= hlen)
		return false;
	memcpy(host, hp, n);
	host[n] = '\0';
	char *end;
	long v = strtol(colon + 1, &end, 10);
	if (*end != '\0' || v < 1 || v > 65535)
		return false;
	*port = (int)v;
	return true;
}

/* Open a TCP connection with the handle's timeouts; NULL with why filled. */
static redisContext *
dial(struct redis_state *rs, const char *host, int port, char *why, size_t len)
{
	struct timeval tv = {.tv_sec = rs->timeout_ms / 1000,
			     .tv_usec = (rs->timeout_ms % 1000) * 1000};
	redisContext *c = redisConnectWithTimeout(host, port, tv);
	if (c == NULL) {
		snprintf(why, len, "%s:%d: out of memory", host, port);
		return NULL;
	}
	if (c->err) {
		snprintf(why, len, "%s:%d: %s", host, port, c->errstr);
		redisFree(c);
		return NULL;
	}
	redisSetTimeout(c, tv);
	redisEnableKeepAlive(c);
	return c;
}

/* Ask the sentinels where the primary is: 0 with host/port set, -1. */
static int
discover(struct redis_state *rs, char *host, size_t hlen, int *port, char *why, size_t len)
{
	char one[STATE_ERR_MAX] = "no sentinel answered";
	for (size_t i = 0; i < rs->n_sentinels; i++) {
		redisContext *c =
		    dial(rs, rs->sentinel_host[i], rs->sentinel_port[i], one, sizeof(one));
		if (c == NULL)
			continue;
		redisReply *r = redisCommand(c, "SENTINEL get-master-addr-by-name %s", rs->master);
		if (r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
		    r->element[0]->type == REDIS_REPLY_STRING &&
		    r->element[1]->type == REDIS_REPLY_STRING && r->element[0]->len < hlen) {
			bw_strlcpy(host, r->element[0]->str, hlen);
			*port = atoi(r->element[1]->str);
			freeReplyObject(r);
			redisFree(c);
			if (*port > 0 && *port <= 65535)
				return 0;
			snprintf(one, sizeof(one), "sentinel gave a bad port");
			continue;
		}
		snprintf(one, sizeof(one), "sentinel %s:%d does not know master \"%s\"%s%s",
			 rs->sentinel_host[i], rs->sentinel_port[i], rs->master,
			 r && r->type == REDIS_REPLY_ERROR ? ": " : "",
			 r && r->type == REDIS_REPLY_ERROR ? r->str : "");
		if (r == NULL)
			snprintf(one, sizeof(one), "sentinel %s:%d: %s", rs->sentinel_host[i],
				 rs->sentinel_port[i], c->errstr);
		freeReplyObject(r);
		redisFree(c);
	}
	snprintf(why, len, "no sentinel named the primary of \"%s\" (%s)", rs->master, one);
	return -1;
}

/* Run one setup command on a fresh context; false with why filled. */
static bool
setup_cmd(redisContext *c, char *why, size_t len, const char *what, redisReply *r)
{
	if (r == NULL) {
		snprintf(why, len, "%s: %s", what, c->errstr);
		return false;
	}
	bool ok = r->type != REDIS_REPLY_ERROR;
	if (!ok)
		snprintf(why, len, "%s refused: %.*s", what, (int)r->len, r->str);
	freeReplyObject(r);
	return ok;
}

/* Connect, authenticate, select the db, check the role: 0 or -1 (why). */
static int
connect_now(struct redis_state *rs, char *why, size_t len)
{
	char host[REDIS_HOST_MAX];
	int port = rs->port;
	bw_strlcpy(host, rs->host, sizeof(host));
	if (rs->n_sentinels > 0 && discover(rs, host, sizeof(host), &port, why, len) != 0)
		return -1;
	redisContext *c = dial(rs, host, port, why, len);
	if (c == NULL)
		return -1;
	if (rs->have_password) {
		redisReply *r = rs->username[0]
				    ? redisCommand(c, "AUTH %s %s", rs->username, rs->password)
				    : redisCommand(c, "AUTH %s", rs->password);
		if (!setup_cmd(c, why, len, "AUTH", r))
			goto fail;
	}
	if (rs->db != 0 && !setup_cmd(c, why, len, "SELECT", redisCommand(c, "SELECT %d", rs->db)))
		goto fail;
	if (rs->n_sentinels > 0) {
		redisReply *r = redisCommand(c, "ROLE");
		bool master = r != NULL && r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
			      r->element[0]->type == REDIS_REPLY_STRING &&
			      strcmp(r->element[0]->str, "master") == 0;
		freeReplyObject(r);
		if (!master) {
			snprintf(why, len, "%s:%d is not the primary yet (failover in progress)",
				 host, port);
			goto fail;
		}
	}
	bw_strlcpy(rs->host, host, sizeof(rs->host));
	rs->port = port;
	rs->c = c;
	return 0;
fail:
	redisFree(c);
	return -1;
}

redisContext *
state_redis_conn(struct redis_state *rs)
{
	if (rs->c != NULL)
		return rs->c;
	long long now = bw_mono_ms();
	if (now < rs->next_try_ms) {
		state_set_error(&rs->base, "Redis unreachable: %s (next attempt in %lld ms)",
				rs->last_err, rs->next_try_ms - now);
		return NULL;
	}
	char why[STATE_ERR_MAX];
	if (connect_now(rs, why, sizeof(why)) == 0) {
		rs->backoff_ms = 0;
		rs->next_try_ms = 0;
		return rs->c;
	}
	rs->backoff_ms = rs->backoff_ms ? rs->backoff_ms * 2 : REDIS_BACKOFF_MIN_MS;
	if (rs->backoff_ms > REDIS_BACKOFF_MAX_MS)
		rs->backoff_ms = REDIS_BACKOFF_MAX_MS;
	rs->next_try_ms = bw_mono_ms() + rs->backoff_ms;
	bw_strlcpy(rs->last_err, why, sizeof(rs->last_err));
	state_set_error(&rs->base, "Redis unreachable: %s", why);
	return NULL;
}

void
state_redis_drop(struct redis_state *rs, const char *why)
{
	if (rs->c != NULL)
		redisFree(rs->c);
	rs->c = NULL;
	rs->subscribed = false;
	bw_strlcpy(rs->last_err, why, sizeof(rs->last_err));
}

redisReply *
state_redis_check(struct redis_state *rs, redisReply *r)
{
	if (r == NULL) {
		char why[STATE_ERR_MAX];
		const char *e = rs->c && rs->c->errstr[0] ? rs->c->errstr : "connection lost";
		if (strstr(e, "temporarily unavailable") != NULL) /* the socket timeout */
			snprintf(why, sizeof(why),
				 "%s:%d: no reply within %u ms (state.redis.timeout_ms)", rs->host,
				 rs->port, rs->timeout_ms);
		else
			snprintf(why, sizeof(why), "%s:%d: %s", rs->host, rs->port, e);
		state_set_error(&rs->base, "Redis: %s", why);
		state_redis_drop(rs, why);
		return NULL;
	}
	if (r->type == REDIS_REPLY_ERROR) {
		state_set_error(&rs->base, "Redis %s:%d: %.*s", rs->host, rs->port, (int)r->len,
				r->str);
		if (strncmp(r->str, "READONLY", 8) == 0 || strncmp(r->str, "LOADING", 7) == 0 ||
		    strncmp(r->str, "MASTERDOWN", 10) == 0)
			state_redis_drop(rs, r->str); /* demoted or not ready: rediscover */
		freeReplyObject(r);
		return NULL;
	}
	return r;
}

redisReply *
state_redis_cmd(struct redis_state *rs, int argc, const char **argv, const size_t *argvlen)
{
	if (state_redis_conn(rs) == NULL)
		return NULL;
	return state_redis_check(rs, redisCommandArgv(rs->c, argc, argv, argvlen));
}

redisReply *
state_redis_cmdf(struct redis_state *rs, const char *fmt, ...)
{
	va_list ap;
	if (state_redis_conn(rs) == NULL)
		return NULL;
	va_start(ap, fmt);
	redisReply *r = redisvCommand(rs->c, fmt, ap);
	va_end(ap);
	return state_redis_check(rs, r);
}

int
state_redis_collect(struct redis_state *rs, redisReply **out, size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		void *r = NULL;
		if (rs->c == NULL || redisGetReply(rs->c, &r) != REDIS_OK) {
			state_redis_check(rs, NULL);
			for (size_t j = 0; j < i; j++) {
				freeReplyObject(out[j]);
				out[j] = NULL;
			}
			return -1;
		}
		out[i] = r;
		if (out[i]->type == REDIS_REPLY_ERROR && rc == 0) {
			state_set_error(&rs->base, "Redis %s:%d: %.*s", rs->host, rs->port,
					(int)out[i]->len, out[i]->str);
			rc = -1;
		}
	}
	if (rc != 0)
		for (size_t i = 0; i < n; i++) {
			freeReplyObject(out[i]);
			out[i] = NULL;
		}
	return rc;
}

int
state_redis_wait(struct redis_state *rs)
{
	if (!rs->durable)
		return 0;
	if (state_redis_conn(rs) == NULL)
		return -1;
	/* WAIT may block for REDIS_WAIT_MS: longer than a command may take */
	unsigned ms = rs->timeout_ms + REDIS_WAIT_MS;
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
	redisSetTimeout(rs->c, tv);
	redisReply *r = state_redis_cmdf(rs, "WAIT 1 %d", REDIS_WAIT_MS);
	if (rs->c != NULL) {
		tv.tv_sec = rs->timeout_ms / 1000;
		tv.tv_usec = (rs->timeout_ms % 1000) * 1000;
		redisSetTimeout(rs->c, tv);
	}
	if (r == NULL)
		return -1;
	long long acks = r->type == REDIS_REPLY_INTEGER ? r->integer : 0;
	freeReplyObject(r);
	if (acks < 1) {
		state_set_error(
		    &rs->base,
		    "the change is on the Redis primary %s:%d but no replica acknowledged "
		    "it within %d ms: it may not survive a failover (check the "
		    "replicas, then check the state and repeat the command if needed)",
		    rs->host, rs->port, REDIS_WAIT_MS);
		return -1;
	}
	return 0;
}

/*
 * Wait for a change announcement on the subscribed connection. A blocking
 * hiredis read that times out leaves the context unusable, so the wait is
 * a poll(2) on the socket, and a reply is read only once bytes are there
 * (or already buffered). Any message on the channel counts as a change.
 */
int
state_redis_wait_change(struct state *s, unsigned timeout_ms)
{
	struct redis_state *rs = RS(s);
	char chan[REDIS_KEY_MAX];
	void *reply = NULL;
	if (!state_redis_key(rs, chan, "chg") || state_redis_conn(rs) == NULL)
		return -1;
	if (!rs->subscribed) {
		redisReply *r = state_redis_cmdf(rs, "SUBSCRIBE %s", chan);
		if (r == NULL)
			return -1;
		freeReplyObject(r);
		rs->subscribed = true;
		return 1; /* changes before the subscription are unknown: read now */
	}
	if (redisGetReplyFromReader(rs->c, &reply) != REDIS_OK) {
		state_redis_check(rs, NULL);
		return -1;
	}
	if (reply == NULL) {
		struct pollfd p = {.fd = rs->c->fd, .events = POLLIN};
		int n = poll(&p, 1, (int)timeout_ms);
		if (n == 0)
			return 0;
		if (n < 0)
			return errno == EINTR ? 0 : -1;
		if (redisGetReply(rs->c, &reply) != REDIS_OK) {
			state_redis_check(rs, NULL);
			return -1;
		}
	}
	freeReplyObject(reply);
	return 1;
}

void
state_redis_close(struct state *s)
{
	struct redis_state *rs = RS(s);
	if (rs->c != NULL)
		redisFree(rs->c);
	explicit_bzero(rs->password, sizeof(rs->password));
	free(rs);
}

/* Read the first line of the password file. */
static int
read_password(struct redis_state *rs, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		snprintf(err, errlen, "state.redis.password_file %s: %s", path, strerror(errno));
		return -1;
	}
	char *ok = fgets(rs->password, sizeof(rs->password), f);
	fclose(f);
	if (ok == NULL) {
		snprintf(err, errlen, "state.redis.password_file %s is empty", path);
		return -1;
	}
	rs->password[strcspn(rs->password, "\r\n")] = '\0';
	rs->have_password = rs->password[0] != '\0';
	return 0;
}

struct state *
state_redis_open(const struct bw_settings *set, char *err, size_t errlen)
{
	struct redis_state *rs = calloc(1, sizeof(*rs));
	if (rs == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rs->base.ops = &state_redis_ops;
	rs->timeout_ms = set->redis_timeout_ms ? set->redis_timeout_ms : 200;
	rs->db = set->redis_db;
	rs->port = set->redis_port ? set->redis_port : 6379;
	if (bw_strlcpy(rs->host, set->redis_host ? set->redis_host : "127.0.0.1",
		       sizeof(rs->host)) >= sizeof(rs->host) ||
	    bw_strlcpy(rs->prefix, set->redis_prefix ? set->redis_prefix : "bw:",
		       sizeof(rs->prefix)) >= sizeof(rs->prefix)) {
		snprintf(err, errlen, "state.redis.host or prefix is too long");
		goto fail;
	}
	if (set->redis_username != NULL &&
	    bw_strlcpy(rs->username, set->redis_username, sizeof(rs->username)) >=
		sizeof(rs->username)) {
		snprintf(err, errlen, "state.redis.username is too long");
		goto fail;
	}
	if (set->redis_password_file != NULL &&
	    read_password(rs, set->redis_password_file, err, errlen) != 0)
		goto fail;
	for (size_t i = 0; i < set->n_redis_sentinels && i < REDIS_SENTINELS_MAX; i++) {
		if (!split_hostport(set->redis_sentinels[i], rs->sentinel_host[rs->n_sentinels],
				    REDIS_HOST_MAX, &rs->sentinel_port[rs->n_sentinels])) {
			snprintf(err, errlen, "state.redis.sentinels: \"%s\" is not host:port",
				 set->redis_sentinels[i]);
			goto fail;
		}
		rs->n_sentinels++;
	}
	if (rs->n_sentinels > 0) {
		if (set->redis_master == NULL ||
		    bw_strlcpy(rs->master, set->redis_master, sizeof(rs->master)) >=
			sizeof(rs->master)) {
			snprintf(err, errlen, "state.redis.sentinels needs state.redis.master");
			goto fail;
		}
		rs->durable = true;
	}
	if (state_redis_conn(rs) == NULL) {
		bw_strlcpy(err, rs->base.err, errlen);
		goto fail;
	}
	return &rs->base;
fail:
	state_redis_close(&rs->base);
	return NULL;
}
