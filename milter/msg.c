/*
 * msg.c - reset and cleanup of the per-message context (see msg.h).
 *
 * Memory: the context is embedded in the connection context; it owns the
 * DKIM handle, the verdict's From copy and one runtime reference while a
 * message is open, all released by msg_cleanup(). Input: none here.
 */
#include "config.h"

#include <stddef.h>
#include <string.h>
#include <time.h>

#include "milter/msg.h"

/* The verdict by its own reset; every byte after it zeroed. */
void
msg_reset(struct msgctx *m)
{
	size_t after = offsetof(struct msgctx, v) + sizeof(m->v);
	policy_verdict_reset(&m->v);
	memset((char *)m + after, 0, sizeof(*m) - after);
}

/* Start a message on a reset context. */
void
msg_open(struct msgctx *m, struct runtime *rt)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	m->rt = rt;
	m->t0_us = (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Whether a message holds the context. */
bool
msg_is_open(const struct msgctx *m)
{
	return m->rt != NULL;
}

/* Release, then reset. */
void
msg_cleanup(struct msgctx *m)
{
	bwdkim_free(m->dkim);
	policy_end(&m->v);
	runtime_release(m->rt);
	msg_reset(m);
}
