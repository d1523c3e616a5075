/*
 * hash.c - FNV-1a string hash and the open-addressing table (see hash.h).
 *
 * Memory: a growable table owns its slot array only; a fixed table owns
 * nothing. Keys and values belong to the caller. Untrusted input: keys may
 * be wire data (DNS names, identity ids); they are only hashed and
 * compared, and a table's size is bounded by its owner.
 *
 * Invariant: every key sits in the probe run that starts at its home slot
 * (h & (cap - 1)) with no empty slot in between; bw_hash_del() keeps it by
 * shifting later members of the run back instead of leaving tombstones.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "base/hash.h"

#define HASH_MIN_CAP 16

/* Mix the FNV state so that the low bits depend on every input bit. */
static uint64_t
avalanche(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return h;
}

/* FNV-1a 64 of n bytes, avalanched. */
uint64_t
bw_hash_mem(const void *p, size_t n)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return avalanche(h);
}

/* FNV-1a 64 of a NUL-terminated string, avalanched. */
uint64_t
bw_hash_str(const char *s)
{
	return bw_hash_mem(s, strlen(s));
}

/* Smallest power of two >= 2n, at least HASH_MIN_CAP. */
size_t
bw_hash_cap_for(size_t n)
{
	size_t cap = HASH_MIN_CAP;
	while (cap < n * 2)
		cap <<= 1;
	return cap;
}

/* An empty growable table. */
void
bw_hash_init(struct bw_hash *t)
{
	memset(t, 0, sizeof(*t));
}

/* An empty table over caller storage. */
void
bw_hash_init_fixed(struct bw_hash *t, struct bw_hash_slot *slots, size_t cap)
{
	t->slot = slots;
	t->cap = cap;
	t->used = 0;
	t->fixed = true;
}

/* Release a growable table's slot array. */
void
bw_hash_free(struct bw_hash *t)
{
	if (!t->fixed)
		free(t->slot);
	t->slot = NULL;
	t->cap = t->used = 0;
}

/* Index of key's slot, or of the empty slot where it would go (cap > 0). */
static size_t
find(const struct bw_hash *t, const char *key, uint64_t h)
{
	size_t mask = t->cap - 1, j = h & mask;
	while (t->slot[j].key != NULL && !(t->slot[j].h == h && strcmp(t->slot[j].key, key) == 0))
		j = (j + 1) & mask;
	return j;
}

/* Rehash into twice the slots; -1 when out of memory (table unchanged). */
static int
grow(struct bw_hash *t)
{
	size_t ncap = t->cap ? t->cap * 2 : HASH_MIN_CAP;
	struct bw_hash_slot *ns = calloc(ncap, sizeof(*ns));
	if (ns == NULL)
		return -1;
	for (size_t i = 0; i < t->cap; i++) {
		if (t->slot[i].key == NULL)
			continue;
		size_t j = t->slot[i].h & (ncap - 1);
		while (ns[j].key != NULL)
			j = (j + 1) & (ncap - 1);
		ns[j] = t->slot[i];
	}
	free(t->slot);
	t->slot = ns;
	t->cap = ncap;
	return 0;
}

/* Lookup. */
void *
bw_hash_get(const struct bw_hash *t, const char *key)
{
	if (t->cap == 0)
		return NULL;
	size_t j = find(t, key, bw_hash_str(key));
	return t->slot[j].key != NULL ? t->slot[j].val : NULL;
}

/* Insert unless present; grows a growable table to keep load <= 1/2. */
int
bw_hash_put(struct bw_hash *t, const char *key, void *val, void **old)
{
	uint64_t h = bw_hash_str(key);
	if (t->cap > 0) {
		size_t j = find(t, key, h);
		if (t->slot[j].key != NULL) {
			if (old != NULL)
				*old = t->slot[j].val;
			return 1;
		}
	}
	if ((t->used + 1) * 2 > t->cap) {
		if (t->fixed || grow(t) != 0)
			return -1;
	}
	size_t j = find(t, key, h);
	t->slot[j].key = key;
	t->slot[j].val = val;
	t->slot[j].h = h;
	t->used++;
	return 0;
}

/* Delete with backward shift: each later member of the probe run whose
 * home slot does not lie cyclically in (hole, its slot] moves into the hole. */
void *
bw_hash_del(struct bw_hash *t, const char *key)
{
	if (t->cap == 0)
		return NULL;
	size_t mask = t->cap - 1;
	size_t hole = find(t, key, bw_hash_str(key));
	if (t->slot[hole].key == NULL)
		return NULL;
	void *val = t->slot[hole].val;
	for (size_t j = (hole + 1) & mask; t->slot[j].key != NULL; j = (j + 1) & mask) {
		size_t home = t->slot[j].h & mask;
		/* distance home->j and home->hole along the probe direction */
		if (((j - home) & mask) >= ((j - hole) & mask)) {
			t->slot[hole] = t->slot[j];
			hole = j;
		}
	}
	memset(&t->slot[hole], 0, sizeof(t->slot[hole]));
	t->used--;
	return val;
}

/* Next occupied slot at or after *pos. */
bool
bw_hash_next(const struct bw_hash *t, size_t *pos, const char **key, void **val)
{
	for (; *pos < t->cap; (*pos)++) {
		if (t->slot[*pos].key != NULL) {
			if (key != NULL)
				*key = t->slot[*pos].key;
			if (val != NULL)
				*val = t->slot[*pos].val;
			(*pos)++;
			return true;
		}
	}
	return false;
}
