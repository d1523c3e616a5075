/*
 * state_feedback.c - the feedback counts of the state store (state.h,
 * SPEC §9): argument checks, then the backend. Untrusted input: report
 * keys are derived by the caller from hostile reports, so they are checked
 * here ([A-Za-z0-9:._-], bounded) before any backend builds a key or a
 * statement from them.
 */
#include "config.h"

#include <string.h>

#include "state/state_int.h"

static bool
check_key(struct state *s, const char *key)
{
	size_t n = key ? strlen(key) : 0;
	if (n == 0 || n > STATE_FEEDBACK_KEY_MAX)
		goto bad;
	for (size_t i = 0; i < n; i++) {
		char ch = key[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == ':' || ch == '.' || ch == '_' || ch == '-'))
			goto bad;
	}
	return true;
bad:
	state_set_error(s, "invalid feedback report key");
	return false;
}

static bool
supported(struct state *s)
{
	if (s->ops->feedback_record == NULL) {
		state_set_error(s, "the %s backend keeps no feedback counts", s->ops->name);
		return false;
	}
	return true;
}

int
state_feedback_record(struct state *s, const char *key, long long now,
		      const struct state_feedback_delta *d, size_t n)
{
	if (!supported(s) || !check_key(s, key))
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!state_check_id(s, d[i].id))
			return -1;
	return s->ops->feedback_record(s, key, now, d, n);
}

int
state_feedback_seen(struct state *s, const char *key)
{
	if (!supported(s) || !check_key(s, key))
		return -1;
	return s->ops->feedback_seen(s, key);
}

int
state_feedback_sum(struct state *s, const char *id, long long from, long long to,
		   struct state_feedback *sum)
{
	memset(sum, 0, sizeof(*sum));
	if (!supported(s) || !state_check_id(s, id))
		return -1;
	return s->ops->feedback_sum(s, id, from, to, sum);
}

int
state_feedback_rows(struct state *s,
		    int (*fn)(const char *id, long long hour, const struct state_feedback *f,
			      void *arg),
		    void *arg)
{
	if (!supported(s))
		return -1;
	return s->ops->feedback_rows(s, fn, arg);
}

int
state_feedback_keys(struct state *s, int (*fn)(const char *key, long long ts, void *arg), void *arg)
{
	if (!supported(s))
		return -1;
	return s->ops->feedback_keys(s, fn, arg);
}

int
state_import_feedback(struct state *s, const char *id, long long hour,
		      const struct state_feedback *f)
{
	if (!supported(s) || !state_check_id(s, id))
		return -1;
	return s->ops->import_feedback(s, id, hour, f);
}

int
state_import_feedback_key(struct state *s, const char *key, long long ts)
{
	if (!supported(s) || !check_key(s, key))
		return -1;
	return s->ops->import_feedback_key(s, key, ts);
}
