/*
 * arena.c - bump allocator backing one configuration snapshot. Chunks grow
 * geometrically (64 KiB up to 4 MiB) so a 100,000-identity registry costs a
 * few hundred mallocs, and freeing the snapshot is one walk of the chunk list.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/util.h"

#define ARENA_MIN_CHUNK (64u * 1024)
#define ARENA_MAX_CHUNK (4u * 1024 * 1024)

struct chunk {
	struct chunk *next;
	size_t size, used;
	_Alignas(16) unsigned char data[];
};

struct arena {
	struct chunk *head;
	size_t next_size;
	size_t total;
};

struct arena *
arena_new(void)
{
	struct arena *a = xcalloc(1, sizeof(*a));
	a->next_size = ARENA_MIN_CHUNK;
	return a;
}

void
arena_free(struct arena *a)
{
	if (a == NULL)
		return;
	struct chunk *c = a->head;
	while (c) {
		struct chunk *n = c->next;
		free(c);
		c = n;
	}
	free(a);
}

/* n bytes (rounded up to 16), not cleared. */
static void *
alloc_raw(struct arena *a, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (n == 0)
		n = 16;
	struct chunk *c = a->head;
	if (c == NULL || c->size - c->used < n) {
		size_t sz = a->next_size;
		if (sz < n)
			sz = n;
		c = xmalloc(sizeof(*c) + sz);
		c->size = sz;
		c->used = 0;
		c->next = a->head;
		a->head = c;
		if (a->next_size < ARENA_MAX_CHUNK)
			a->next_size *= 2;
	}
	void *p = c->data + c->used;
	c->used += n;
	a->total += n;
	return p;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	size_t r = (n + 15) & ~(size_t)15;
	void *p = alloc_raw(a, n);
	memset(p, 0, r ? r : 16);
	return p;
}

char *
arena_strndup(struct arena *a, const char *s, size_t n)
{
	char *p = alloc_raw(a, n + 1); /* every byte written below: no clearing */
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *
arena_strdup(struct arena *a, const char *s)
{
	return arena_strndup(a, s, strlen(s));
}

size_t
arena_used(const struct arena *a)
{
	return a->total;
}
