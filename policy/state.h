/*
 * state.h - the runtime state store seen by the milter: the suspension
 * overlay now, counters and the audit log as backends grow (SPEC §6).
 *
 * The interface is backend-neutral: state.c dispatches to a backend chosen
 * by state.backend. Lookups on the message path must not touch the disk;
 * a backend keeps a memory view it refreshes in the background.
 */
#ifndef BW_STATE_H
#define BW_STATE_H

#include <stddef.h>

#include "policy/registry.h"

struct state;

struct state_ops {
	const char *name;
	/* 1 suspended (reason copied), 0 not, -1 store unavailable. */
	int (*suspended)(struct state *s, const char *id, char *reason, size_t len);
	void (*close)(struct state *s);
};

struct state {
	const struct state_ops *ops;
	void *priv;
};

/* Open the backend named in the settings; NULL and a message in err when
 * it cannot be opened. */
struct state *state_open(const struct bw_settings *set, char *err, size_t errlen);
int state_suspended(struct state *s, const char *id, char *reason, size_t len);
void state_close(struct state *s);

#endif
