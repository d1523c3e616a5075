/*
 * keyset.h - a set of 16-byte keys that are already uniformly random (keyed
 * hashes: the suppression list, state/suppress.h), built for ten million
 * members: open addressing with linear probing in one flat array of the
 * keys themselves (16 bytes a slot, no pointers, no per-entry allocation),
 * deletion by backward shift (no tombstones).
 *
 * Size. The slot count is not a power of two: it is chosen so the load
 * stays between KEYSET_LOAD_MIN and KEYSET_LOAD_MAX (0.55..0.85), and a
 * key's home slot is the multiply-shift reduction of its first 8 bytes
 * (Lemire's fastrange), so memory is 16 / load bytes a member: 18.8 to 29
 * bytes, never more than 32, whatever the count (a power-of-two table would
 * reach 43 bytes just past a doubling). A lookup is O(1): expected probes
 * at 0.85 load are about 3.3 for a hit and 22 for a miss, each within the
 * same or the next cache lines.
 *
 * The all-zero key marks an empty slot; the one real key that is all zeros
 * (probability 2^-128) is kept in a flag beside the table.
 *
 * Keys must be uniformly distributed (HMAC output): the table is not keyed
 * against chosen inputs. Not thread-safe: the owner locks (milter/suppress.c
 * holds a rwlock). Allocation failures return -1 and leave the set as it
 * was.
 */
#ifndef BW_KEYSET_H
#define BW_KEYSET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYSET_KEY 16
#define KEYSET_LOAD_MIN 0.55
#define KEYSET_LOAD_MAX 0.85

struct keyset {
	unsigned char *slot; /* cap * KEYSET_KEY bytes; NULL when cap is 0 */
	size_t cap;
	size_t used; /* members in slots (the zero key not counted) */
	bool has_zero;
};

void keyset_init(struct keyset *ks);
void keyset_free(struct keyset *ks);
/* Members. */
size_t keyset_count(const struct keyset *ks);
/* Make room for n members without growing later: 0 or -1 (out of memory). */
int keyset_reserve(struct keyset *ks, size_t n);
/* 1 added, 0 already there, -1 out of memory (set unchanged). */
int keyset_add(struct keyset *ks, const unsigned char key[KEYSET_KEY]);
/* 1 removed, 0 was not there. Never allocates. */
int keyset_del(struct keyset *ks, const unsigned char key[KEYSET_KEY]);
bool keyset_has(const struct keyset *ks, const unsigned char key[KEYSET_KEY]);
/* Bytes of the table (what the set costs beside its struct). */
size_t keyset_bytes(const struct keyset *ks);

#endif
