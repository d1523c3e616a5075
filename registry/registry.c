/*
 * registry.c - indexes over an immutable snapshot, lifecycle evaluation and
 * its reference count (the milter's runtime snapshot, milter/runtime.c,
 * holds the process-wide "current" pointer).
 *
 * Index tables (login -> identity, id -> identity, networks) are built once
 * per load in the snapshot's arena: base/hash tables over arena slots at
 * load factor <= 0.5, so a lookup is one hash and a short probe whatever
 * the registry size. Readers never lock the tables. The reference count
 * is atomic.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/arena.h"
#include "base/hash.h"
#include "base/util.h"
#include "registry/registry.h"

struct registry_index {
	struct bw_hash by_login; /* login -> identity, slots in the arena */
	struct bw_hash by_id;	 /* id -> identity */
	struct cidr_map *nets;
};

/* A fixed table in the arena, sized for n keys. */
static void
tab_init(struct arena *a, struct bw_hash *t, size_t n)
{
	size_t cap = bw_hash_cap_for(n);
	bw_hash_init_fixed(t, arena_alloc(a, cap * sizeof(struct bw_hash_slot)), cap);
}

/* Insert; returns the identity already holding key, or NULL if inserted. */
static const struct bw_identity *
tab_put(struct bw_hash *t, const char *key, const struct bw_identity *id)
{
	void *old = NULL;
	if (bw_hash_put(t, key, (void *)id, &old) != 0)
		return old; /* sized for every key: only a duplicate lands here */
	return NULL;
}

struct registry *
registry_new(void)
{
	struct arena *a = arena_new();
	struct registry *r = arena_alloc(a, sizeof(*r));
	r->arena = a;
	r->refcnt = 1;
	return r;
}

int
registry_index_build(struct registry *r, char *err, size_t errlen)
{
	struct registry_index *x = arena_alloc(r->arena, sizeof(*x));
	size_t n_logins = 0;
	for (size_t i = 0; i < r->n_ids; i++)
		n_logins += r->ids[i].n_logins;
	tab_init(r->arena, &x->by_login, n_logins);
	tab_init(r->arena, &x->by_id, r->n_ids);
	x->nets = cidr_map_new(r->arena);

	for (size_t i = 0; i < r->n_ids; i++) {
		const struct bw_identity *id = &r->ids[i];
		const struct bw_identity *prev = tab_put(&x->by_id, id->id, id);
		if (prev != NULL) {
			snprintf(err, errlen, "%s:%d: id: duplicate identity \"%s\" (first at %s:%d)",
				 id->file, id->line, id->id, prev->file, prev->line);
			return -1;
		}
		for (size_t j = 0; j < id->n_logins; j++) {
			prev = tab_put(&x->by_login, id->logins[j], id);
			if (prev != NULL) {
				snprintf(err, errlen,
					 "%s:%d: credentials.logins: login \"%s\" is listed by \"%s\" "
					 "and \"%s\" (credentials are never shared)",
					 id->file, id->line, id->logins[j], prev->id, id->id);
				return -1;
			}
		}
		for (size_t j = 0; j < id->n_networks; j++)
			cidr_map_insert(x->nets, &id->networks[j], id);
	}
	cidr_map_finish(x->nets);
	r->index = x;
	return 0;
}

const struct bw_identity *
registry_by_login(const struct registry *r, const char *login)
{
	return bw_hash_get(&r->index->by_login, login);
}

const struct bw_identity *
registry_by_id(const struct registry *r, const char *id)
{
	return bw_hash_get(&r->index->by_id, id);
}

size_t
registry_by_network(const struct registry *r, const struct cidr_addr *addr,
		    const struct bw_identity **out, size_t max)
{
	return cidr_map_match(r->index->nets, addr, (const void **)out, max);
}

#define DAY 86400LL

/* By UTC day, as the changed-since-approval finding counts. */
bool
registry_changed_since_approval(const struct bw_identity *id, long long changed_at)
{
	return changed_at > 0 && changed_at / DAY > id->approval_date / DAY;
}

/* Keep the latest change; pending with its reason when re-approval is due. */
void
registry_note_change(struct registry *r, const char *idname, long long when)
{
	const struct bw_identity *c = registry_by_id(r, idname);
	if (c == NULL || when <= 0)
		return;
	struct bw_identity *id = &r->ids[c - r->ids]; /* not shared yet: ours to fill */
	if (when > id->changed_at)
		id->changed_at = when;
	if (!r->set.require_reapproval || id->pending_why != NULL ||
	    !registry_changed_since_approval(id, id->changed_at))
		return;
	char why[80], date[16];
	time_t t = (time_t)id->approval_date;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d", &tm);
	snprintf(why, sizeof(why), "changed since approval on %s, re-approval required", date);
	id->pending_why = arena_strdup(r->arena, why);
}

enum bw_life
registry_lifecycle(const struct bw_identity *id, long long now, const char **why)
{
	const char *dummy;
	if (why == NULL)
		why = &dummy;
	if (id->decommission != 0 && now >= id->decommission) {
		*why = "past its decommission date";
		return BW_LIFE_RETIRED;
	}
	if (id->pending_why != NULL) {
		*why = id->pending_why;
		return BW_LIFE_PENDING;
	}
	if (id->activate != 0 && now < id->activate) {
		*why = "before its activation date";
		return BW_LIFE_PENDING;
	}
	*why = "";
	return BW_LIFE_ACTIVE;
}

const char *
registry_life_name(enum bw_life l)
{
	static const char *const n[] = {"pending", "active", "retired"};
	return n[l];
}

const char *
registry_class_name(enum bw_class c)
{
	static const char *const n[] = {"marketing", "transactional", "notification"};
	return n[c];
}

struct registry *
registry_retain(struct registry *r)
{
	__atomic_add_fetch(&r->refcnt, 1, __ATOMIC_RELAXED);
	return r;
}

void
registry_release(struct registry *r)
{
	if (r == NULL)
		return;
	/* release ordering: every use of the snapshot happens before its free */
	if (__atomic_sub_fetch(&r->refcnt, 1, __ATOMIC_ACQ_REL) == 0) {
		struct arena *a = r->arena;
		arena_free(a); /* r itself lives in its arena */
	}
}

const char *
registry_signal_name(enum bw_signal g)
{
	static const char *const n[BW_SIG__COUNT] = {"complaint_rate", "hard_bounce_rate",
						     "dmarc_fail_rate"};
	return n[g];
}
