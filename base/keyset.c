/*
 * keyset.c - the open-addressing set of 16-byte random keys (keyset.h says
 * why the sizes and the reduction are what they are).
 *
 * Memory: one malloc'ed array, replaced whole when the set grows or
 * shrinks (the old one is freed after every member moved). Untrusted
 * input: none; keys are HMAC outputs computed by the caller.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "base/keyset.h"

static const unsigned char zero_key[KEYSET_KEY];

/* The slot count for n members at the middle of the load range. */
static size_t
cap_for(size_t n)
{
	double want = (double)n / ((KEYSET_LOAD_MIN + KEYSET_LOAD_MAX) / 2.0);
	size_t cap = (size_t)want + 16;
	return cap;
}

/* Home slot: multiply-shift of the key's first 64 bits into [0, cap). */
static size_t
home(const unsigned char *key, size_t cap)
{
	uint64_t h;
	memcpy(&h, key, sizeof(h));
	return (size_t)(((unsigned __int128)h * cap) >> 64);
}

static bool
is_zero(const unsigned char *key)
{
	return memcmp(key, zero_key, KEYSET_KEY) == 0;
}

void
keyset_init(struct keyset *ks)
{
	memset(ks, 0, sizeof(*ks));
}

void
keyset_free(struct keyset *ks)
{
	free(ks->slot);
	keyset_init(ks);
}

size_t
keyset_count(const struct keyset *ks)
{
	return ks->used + (ks->has_zero ? 1 : 0);
}

size_t
keyset_bytes(const struct keyset *ks)
{
	return ks->cap * KEYSET_KEY;
}

/* Insert a non-zero key known to be absent into a table with room. */
static void
put(unsigned char *slot, size_t cap, const unsigned char *key)
{
	size_t i = home(key, cap);
	while (!is_zero(slot + i * KEYSET_KEY))
		if (++i == cap)
			i = 0;
	memcpy(slot + i * KEYSET_KEY, key, KEYSET_KEY);
}

/* Move every member into a table of cap slots. */
static int
rehash(struct keyset *ks, size_t cap)
{
	unsigned char *ns = calloc(cap, KEYSET_KEY);
	if (ns == NULL)
		return -1;
	for (size_t i = 0; i < ks->cap; i++)
		if (!is_zero(ks->slot + i * KEYSET_KEY))
			put(ns, cap, ks->slot + i * KEYSET_KEY);
	free(ks->slot);
	ks->slot = ns;
	ks->cap = cap;
	return 0;
}

int
keyset_reserve(struct keyset *ks, size_t n)
{
	if (n > ks->used && (double)n > (double)ks->cap * KEYSET_LOAD_MAX)
		return rehash(ks, cap_for(n));
	return 0;
}

/* Index of key's slot, or cap when absent. */
static size_t
find(const struct keyset *ks, const unsigned char *key)
{
	if (ks->cap == 0)
		return 0;
	size_t i = home(key, ks->cap);
	for (;;) {
		const unsigned char *s = ks->slot + i * KEYSET_KEY;
		if (memcmp(s, key, KEYSET_KEY) == 0)
			return i;
		if (is_zero(s))
			return ks->cap;
		if (++i == ks->cap)
			i = 0;
	}
}

bool
keyset_has(const struct keyset *ks, const unsigned char key[KEYSET_KEY])
{
	if (is_zero(key))
		return ks->has_zero;
	return ks->cap > 0 && find(ks, key) != ks->cap;
}

int
keyset_add(struct keyset *ks, const unsigned char key[KEYSET_KEY])
{
	if (is_zero(key)) {
		bool was = ks->has_zero;
		ks->has_zero = true;
		return was ? 0 : 1;
	}
	if (ks->cap > 0 && find(ks, key) != ks->cap)
		return 0;
	if ((double)(ks->used + 1) > (double)ks->cap * KEYSET_LOAD_MAX &&
	    rehash(ks, cap_for(ks->used + 1)) != 0)
		return -1;
	put(ks->slot, ks->cap, key);
	ks->used++;
	return 1;
}

/* Is slot j's member at home in the cyclic range (i, j]? Then it must not
 * move into the hole at i. */
static bool
home_between(size_t i, size_t h, size_t j)
{
	if (i <= j)
		return i < h && h <= j;
	return i < h || h <= j;
}

int
keyset_del(struct keyset *ks, const unsigned char key[KEYSET_KEY])
{
	if (is_zero(key)) {
		bool was = ks->has_zero;
		ks->has_zero = false;
		return was ? 1 : 0;
	}
	size_t i = find(ks, key);
	if (ks->cap == 0 || i == ks->cap)
		return 0;
	/* backward shift: pull later members of the run into the hole */
	size_t j = i;
	for (;;) {
		if (++j == ks->cap)
			j = 0;
		unsigned char *sj = ks->slot + j * KEYSET_KEY;
		if (is_zero(sj))
			break;
		if (home_between(i, home(sj, ks->cap), j))
			continue;
		memcpy(ks->slot + i * KEYSET_KEY, sj, KEYSET_KEY);
		i = j;
	}
	memset(ks->slot + i * KEYSET_KEY, 0, KEYSET_KEY);
	ks->used--;
	/* shrink back into the range (a small table is left alone) */
	if (ks->cap > 1024 && (double)ks->used < (double)ks->cap * KEYSET_LOAD_MIN)
		(void)rehash(ks, cap_for(ks->used)); /* out of memory: keep the larger one */
	return 1;
}
