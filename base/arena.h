/*
 * arena.h - bump allocator for the immutable configuration snapshot.
 *
 * Everything a snapshot owns (strings, identity records, index tables) is
 * carved from one arena and freed in one call when the last reference goes.
 * Allocation failure is fatal: arenas are used only while loading config.
 */
#ifndef BW_ARENA_H
#define BW_ARENA_H

#include <stddef.h>

struct arena;

struct arena *arena_new(void);
void arena_free(struct arena *a);
void *arena_alloc(struct arena *a, size_t n); /* zeroed, 16-byte aligned */
char *arena_strdup(struct arena *a, const char *s);
char *arena_strndup(struct arena *a, const char *s, size_t n);
size_t arena_used(const struct arena *a);

#endif
