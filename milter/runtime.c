/*
 * runtime.c - the milter-side runtime snapshot (see runtime.h).
 *
 * Memory: a struct runtime is malloc'ed by runtime_new() and freed by the
 * last runtime_release(), which also releases its registry reference. The
 * current pointer is read and swapped under a rwlock; the count itself is
 * atomic, so retaining is one read lock and one atomic add per message and
 * releasing one atomic subtract (the same cost as pinning a registry).
 * Input: none from the wire.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <syslog.h>

#include "base/util.h"
#include "dkim/bwdkey.h"
#include "milter/runtime.h"

static pthread_rwlock_t current_lock = PTHREAD_RWLOCK_INITIALIZER;
static struct runtime *current;

/* Free what rt owns, then rt. */
static void
runtime_free(struct runtime *rt)
{
	if (rt->keys)
		bwdkey_registry_unload(rt->reg);
	preflight_free(rt->pf);
	registry_release(rt->reg);
	free(rt);
}

/* DKIM keys parsed once per snapshot, never per message; then the resolver. */
struct runtime *
runtime_new(struct registry *r, char *err, size_t errlen)
{
	struct runtime *rt = calloc(1, sizeof(*rt));
	if (rt == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	rt->refcnt = 1;
	rt->reg = registry_retain(r);
	if (bwdkey_registry_load(r, err, errlen) != 0) {
		runtime_free(rt);
		return NULL;
	}
	rt->keys = true;
	if (!bwdkey_key_cache_active())
		diag(LOG_ERR, "DKIM: libopendkim bypasses bulkwarden's parsed-key cache "
			      "(PEM_read_bio_PrivateKey not interposed): every RSA signature "
			      "decodes its key again; check how bulkwarden was linked");
	rt->pf = preflight_new(&r->set, err, errlen);
	if (rt->pf == NULL) {
		runtime_free(rt);
		return NULL;
	}
	return rt;
}

/* One more reference. */
struct runtime *
runtime_retain(struct runtime *rt)
{
	__atomic_add_fetch(&rt->refcnt, 1, __ATOMIC_RELAXED);
	return rt;
}

/* One reference less; the last frees (release ordering: every use of the
 * runtime happens before its free). */
void
runtime_release(struct runtime *rt)
{
	if (rt != NULL && __atomic_sub_fetch(&rt->refcnt, 1, __ATOMIC_ACQ_REL) == 0)
		runtime_free(rt);
}

/* Swap the current runtime; the old one goes when its last message ends. */
void
runtime_publish(struct runtime *rt)
{
	pthread_rwlock_wrlock(&current_lock);
	struct runtime *old = current;
	current = rt;
	pthread_rwlock_unlock(&current_lock);
	runtime_release(old);
}

/* A retained reference to the current runtime, or NULL. */
struct runtime *
runtime_current(void)
{
	pthread_rwlock_rdlock(&current_lock);
	struct runtime *rt = current != NULL ? runtime_retain(current) : NULL;
	pthread_rwlock_unlock(&current_lock);
	return rt;
}
