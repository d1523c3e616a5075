/*
 * runtime.h - the milter-side runtime snapshot: one registry snapshot plus
 * what the milter builds for it (the parsed DKIM keys, the DNS preflight's
 * resolver and SPF checker). Immutable once published, reference counted,
 * swapped whole on reload; each message pins the one current at MAIL FROM
 * and releases it in msg_cleanup(), so a reload never changes the rules,
 * keys or resolver under a message in flight (OpenDMARC/OpenARC conf_refcnt).
 *
 * registry/ knows nothing of this: the snapshot holds a registry reference,
 * not the other way round.
 */
#ifndef BW_RUNTIME_H
#define BW_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>

#include "milter/preflight.h"
#include "registry/registry.h"

struct runtime {
	unsigned refcnt;      /* __atomic builtins only */
	struct registry *reg; /* one reference, dropped with the runtime */
	struct preflight *pf; /* SPF and DMARC lookups for this snapshot */
	bool keys;	      /* bwdkey_registry_load() succeeded for reg */
};

/* Build the runtime for r (takes a reference of its own on r): DKIM keys
 * proven usable, resolver set up. NULL with err filled on failure (the
 * caller keeps its reference to r either way). refcnt 1. */
struct runtime *runtime_new(struct registry *r, char *err, size_t errlen);

/* Reference counting: retain returns rt; release frees on the last one
 * (wiping the snapshot's private key bytes and freeing the resolver). */
struct runtime *runtime_retain(struct runtime *rt);
void runtime_release(struct runtime *rt);

/* The process-wide current runtime, swapped atomically. publish takes
 * ownership of one reference (NULL clears); current returns a retained
 * reference or NULL. */
void runtime_publish(struct runtime *rt);
struct runtime *runtime_current(void);

#endif
