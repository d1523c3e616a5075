/*
 * cache.c - TTL + LRU cache over base/hash (see cache.h).
 *
 * Layout: each entry is one block (links, expiry, value pointer, key
 * bytes); the hash table maps the key, which lives in the entry, to the
 * entry; a doubly linked list orders entries from least (lru) to most
 * (mru) recently used. Memory: the cache owns entries and, through
 * val_free, values. Untrusted input: keys may come from the wire; they
 * are copied whole (the caller bounds their length) and only compared.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "base/cache.h"
#include "base/hash.h"

struct cent {
	struct cent *less, *more; /* toward the lru and the mru end */
	uint64_t expires;
	void *val;
	char key[];
};

struct bw_cache {
	pthread_mutex_t lock;
	struct bw_hash tab;
	struct cent *lru, *mru;
	size_t max;
	void (*val_free)(void *val);
};

/* New empty cache. */
struct bw_cache *
bw_cache_new(size_t max, void (*val_free)(void *val))
{
	struct bw_cache *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return NULL;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return NULL;
	}
	bw_hash_init(&c->tab);
	c->max = max ? max : 1;
	c->val_free = val_free;
	return c;
}

/* Take e out of the age list (lock held). */
static void
unlink_locked(struct bw_cache *c, struct cent *e)
{
	if (e->less)
		e->less->more = e->more;
	else
		c->lru = e->more;
	if (e->more)
		e->more->less = e->less;
	else
		c->mru = e->less;
	e->less = e->more = NULL;
}

/* Put e at the mru end (lock held, e unlinked). */
static void
push_mru_locked(struct bw_cache *c, struct cent *e)
{
	e->less = c->mru;
	e->more = NULL;
	if (c->mru)
		c->mru->more = e;
	else
		c->lru = e;
	c->mru = e;
}

/* Remove e from table and list and free it (lock held). */
static void
drop_locked(struct bw_cache *c, struct cent *e)
{
	bw_hash_del(&c->tab, e->key);
	unlink_locked(c, e);
	if (c->val_free != NULL)
		c->val_free(e->val);
	free(e);
}

/* Free everything. */
void
bw_cache_free(struct bw_cache *c)
{
	if (c == NULL)
		return;
	bw_cache_flush(c);
	bw_hash_free(&c->tab);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* Lookup; a stale entry is dropped, a fresh one moves to the mru end. */
bool
bw_cache_get(struct bw_cache *c, const char *key, uint64_t now, bw_cache_copy_fn copy, void *arg)
{
	bool hit = false;
	pthread_mutex_lock(&c->lock);
	struct cent *e = bw_hash_get(&c->tab, key);
	if (e != NULL && e->expires <= now) {
		drop_locked(c, e);
		e = NULL;
	}
	if (e != NULL) {
		unlink_locked(c, e);
		push_mru_locked(c, e);
		hit = copy(e->val, e->expires, arg) == 0;
	}
	pthread_mutex_unlock(&c->lock);
	return hit;
}

/* Make room for one entry: a stale one near the lru end, else the lru. */
static void
evict_locked(struct bw_cache *c, uint64_t now)
{
	struct cent *victim = c->lru;
	struct cent *e = c->lru;
	for (int i = 0; e != NULL && i < CACHE_EVICT_SCAN; i++, e = e->more)
		if (e->expires <= now) {
			victim = e;
			break;
		}
	if (victim != NULL)
		drop_locked(c, victim);
}

/* Insert or replace; the cache owns val whatever happens. */
int
bw_cache_put(struct bw_cache *c, const char *key, void *val, uint64_t expires, uint64_t now)
{
	size_t kl = strlen(key);
	struct cent *e = malloc(sizeof(*e) + kl + 1);
	if (e == NULL) {
		if (c->val_free != NULL)
			c->val_free(val);
		return -1;
	}
	memcpy(e->key, key, kl + 1);
	e->val = val;
	e->expires = expires;
	e->less = e->more = NULL;

	pthread_mutex_lock(&c->lock);
	struct cent *old = bw_hash_get(&c->tab, key);
	if (old != NULL)
		drop_locked(c, old);
	while (c->tab.used >= c->max && c->lru != NULL)
		evict_locked(c, now);
	int rc = bw_hash_put(&c->tab, e->key, e, NULL);
	if (rc == 0)
		push_mru_locked(c, e);
	pthread_mutex_unlock(&c->lock);
	if (rc != 0) {
		if (c->val_free != NULL)
			c->val_free(val);
		free(e);
		return -1;
	}
	return 0;
}

/* Drop every entry. */
void
bw_cache_flush(struct bw_cache *c)
{
	pthread_mutex_lock(&c->lock);
	while (c->lru != NULL)
		drop_locked(c, c->lru);
	pthread_mutex_unlock(&c->lock);
}

/* Number of entries. */
size_t
bw_cache_count(struct bw_cache *c)
{
	pthread_mutex_lock(&c->lock);
	size_t n = c->tab.used;
	pthread_mutex_unlock(&c->lock);
	return n;
}
