/*
 * hash.h - the one string hash and the one hash table of the tree.
 *
 * bw_hash_str()/bw_hash_mem(): FNV-1a 64 with a final avalanche (the
 * murmur3 finalizer), so the low bits used as a table index depend on
 * every input byte. Not keyed: do not use it where an attacker chooses
 * many keys and a worst case matters more than speed; every table here is
 * bounded by the registry or by a cache's entry cap.
 *
 * struct bw_hash: string key -> pointer, open addressing with linear
 * probing at load factor <= 1/2, deletion by backward shift (no
 * tombstones). The table never copies or frees keys or values: a key must
 * stay valid and unchanged while its entry is in the table (point it into
 * the value). Storage is either malloc'ed and grown on demand
 * (bw_hash_init) or fixed, given by the caller (bw_hash_init_fixed, e.g.
 * from an arena, sized with bw_hash_cap_for()); a fixed table refuses an
 * insert past its load factor instead of growing.
 *
 * Not thread-safe: the owner locks, or builds the table once and then
 * only reads it (lookups do not write).
 */
#ifndef BW_HASH_H
#define BW_HASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct bw_hash_slot {
	const char *key; /* NULL: empty */
	void *val;
	uint64_t h;
};

struct bw_hash {
	struct bw_hash_slot *slot;
	size_t cap; /* a power of two, or 0 before the first insert */
	size_t used;
	bool fixed; /* storage belongs to the caller: never grown or freed */
};

uint64_t bw_hash_mem(const void *p, size_t n);
uint64_t bw_hash_str(const char *s);

/* Slots needed (a power of two, at least 16) to hold n keys at load <= 1/2. */
size_t bw_hash_cap_for(size_t n);
/* An empty growable table (no allocation until the first insert). */
void bw_hash_init(struct bw_hash *t);
/* An empty table over the caller's zeroed slots (cap a power of two). */
void bw_hash_init_fixed(struct bw_hash *t, struct bw_hash_slot *slots, size_t cap);
/* Free a growable table's slots (not keys or values); t is empty after. */
void bw_hash_free(struct bw_hash *t);

/* The value for key, or NULL. */
void *bw_hash_get(const struct bw_hash *t, const char *key);
/* Insert key -> val. 0 inserted; 1 key already present (nothing changed,
 * *old, if old is not NULL, is its value); -1 out of memory or a fixed
 * table full. */
int bw_hash_put(struct bw_hash *t, const char *key, void *val, void **old);
/* Remove key; its value, or NULL when absent. */
void *bw_hash_del(struct bw_hash *t, const char *key);
/* Iterate: start with *pos = 0; false when done. Do not insert or delete
 * while iterating. */
bool bw_hash_next(const struct bw_hash *t, size_t *pos, const char **key, void **val);

#endif
