/*
 * state.c - backend dispatch for the state store.
 *
 * Backends: none yet persist state; the SQLite (single relay) and Redis
 * (shared) backends arrive with their own modules (state_sqlite.c,
 * state_redis.c). Until then every configured backend opens as the empty
 * overlay: no identity is suspended, and the milter says so at startup.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/util.h"
#include "lib/state.h"

/* The empty overlay: nothing is suspended. */
static int
empty_suspended(struct state *s, const char *id, char *reason, size_t len)
{
	return 0;
}

static void
empty_close(struct state *s)
{
	free(s);
}

static const struct state_ops empty_ops = {"empty", empty_suspended, empty_close};

struct state *
state_open(const struct bw_settings *set, char *err, size_t errlen)
{
	if (strcmp(set->state_backend, "sqlite") != 0 && strcmp(set->state_backend, "redis") != 0) {
		snprintf(err, errlen, "unknown state backend \"%s\"", set->state_backend);
		return NULL;
	}
	struct state *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	s->ops = &empty_ops;
	return s;
}

int
state_suspended(struct state *s, const char *id, char *reason, size_t len)
{
	return s->ops->suspended(s, id, reason, len);
}

void
state_close(struct state *s)
{
	if (s != NULL)
		s->ops->close(s);
}
