/*
 * cache.h - the one TTL + LRU cache of the tree: string key -> an opaque
 * value the cache owns, each entry fresh until its own expiry time, at
 * most max entries.
 *
 * Time is the caller's: any monotonic unit (seconds, milliseconds), passed
 * in as now; an entry with expires <= now is stale, never returned, and
 * removed when met. When a put finds the cache full, the first stale entry
 * among the CACHE_EVICT_SCAN least recently used goes, else the least
 * recently used one. A hit makes the entry the most recently used.
 *
 * Thread-safe: one mutex per cache, held for a hash probe, a list splice
 * and the copy callback. The callback runs under that mutex: it must copy
 * what it needs out of the value and must not call into the same cache.
 * Values are freed (with the free function given at creation) on
 * replacement, eviction, flush and bw_cache_free(), under the mutex.
 */
#ifndef BW_CACHE_H
#define BW_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CACHE_EVICT_SCAN 8

struct bw_cache;

/* Copy what is needed out of a fresh value; non-zero: treat as a miss. */
typedef int (*bw_cache_copy_fn)(const void *val, uint64_t expires, void *arg);

/* A cache of at most max (>= 1) entries; val_free (may be NULL) frees a
 * value. NULL on allocation failure. */
struct bw_cache *bw_cache_new(size_t max, void (*val_free)(void *val));
/* Free the cache and every value (no other thread may be using it). */
void bw_cache_free(struct bw_cache *c);
/* On a fresh hit, copy(val, expires, arg) and true if it returned 0. */
bool bw_cache_get(struct bw_cache *c, const char *key, uint64_t now, bw_cache_copy_fn copy,
		  void *arg);
/* Store val under key until expires, replacing any entry for key. The
 * cache owns val from the call on, also when it fails (-1: out of memory,
 * val freed). */
int bw_cache_put(struct bw_cache *c, const char *key, void *val, uint64_t expires, uint64_t now);
/* Drop every entry. */
void bw_cache_flush(struct bw_cache *c);
/* Entries held (fresh or not yet met stale). */
size_t bw_cache_count(struct bw_cache *c);

#endif
