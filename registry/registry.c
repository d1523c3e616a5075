/*
 * registry.c - indexes over an immutable snapshot, lifecycle evaluation and
 * its reference count (the milter's runtime snapshot, milter/runtime.c,
 * holds the process-wide "current" pointer).
 *
 * Index tables (login -> identity, id -> identity, networks) are built once
 * per load in the snapshot's arena: open addressing at load factor <= 0.5,
 * so a lookup is one hash and a short probe whatever the registry size.
 * Readers never lock the tables. The reference count is atomic.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/util.h"
#include "registry/registry.h"

struct strslot {
	const char *key; /* NULL: empty */
	const struct bw_identity *id;
};

struct strtab {
	size_t cap; /* power of two */
	struct strslot *slots;
};

struct registry_index {
	struct strtab by_login;
	struct strtab by_id;
	struct cidr_map *nets;
};

/* FNV-1a 64 with a final avalanche: keys are short ASCII names. */
static uint64_t
hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL;
	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 0x100000001b3ULL;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

static void
strtab_init(struct arena *a, struct strtab *t, size_t n)
{
	t->cap = 16;
	while (t->cap < n * 2)
		t->cap <<= 1;
	t->slots = arena_alloc(a, t->cap * sizeof(struct strslot));
}

/* Insert; returns the identity already holding key, or NULL if inserted. */
static const struct bw_identity *
strtab_put(struct strtab *t, const char *key, const struct bw_identity *id)
{
	size_t j = hash_str(key) & (t->cap - 1);
	while (t->slots[j].key != NULL) {
		if (strcmp(t->slots[j].key, key) == 0)
			return t->slots[j].id;
		j = (j + 1) & (t->cap - 1);
	}
	t->slots[j].key = key;
	t->slots[j].id = id;
	return NULL;
}

static const struct bw_identity *
strtab_get(const struct strtab *t, const char *key)
{
	if (t->cap == 0)
		return NULL;
	size_t j = hash_str(key) & (t->cap - 1);
	while (t->slots[j].key != NULL) {
		if (strcmp(t->slots[j].key, key) == 0)
			return t->slots[j].id;
		j = (j + 1) & (t->cap - 1);
	}
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
	strtab_init(r->arena, &x->by_login, n_logins);
	strtab_init(r->arena, &x->by_id, r->n_ids);
	x->nets = cidr_map_new(r->arena);

	for (size_t i = 0; i < r->n_ids; i++) {
		const struct bw_identity *id = &r->ids[i];
		const struct bw_identity *prev = strtab_put(&x->by_id, id->id, id);
		if (prev != NULL) {
			snprintf(err, errlen, "%s:%d: id: duplicate identity \"%s\" (first at %s:%d)",
				 id->file, id->line, id->id, prev->file, prev->line);
			return -1;
		}
		for (size_t j = 0; j < id->n_logins; j++) {
			prev = strtab_put(&x->by_login, id->logins[j], id);
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
	return strtab_get(&r->index->by_login, login);
}

const struct bw_identity *
registry_by_id(const struct registry *r, const char *id)
{
	return strtab_get(&r->index->by_id, id);
}

size_t
registry_by_network(const struct registry *r, const struct cidr_addr *addr,
		    const struct bw_identity **out, size_t max)
{
	return cidr_map_match(r->index->nets, addr, (const void **)out, max);
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
