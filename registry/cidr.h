/*
 * cidr.h - IPv4/IPv6 addresses and prefixes: parsing, containment, and a
 * prefix map answering "which values' prefixes contain this address".
 *
 * IPv4 is stored as IPv4-mapped IPv6 (::ffff:a.b.c.d/96+len) so one trie
 * serves both families. Parsers take untrusted text and never overrun.
 */
#ifndef BW_CIDR_H
#define BW_CIDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cidr_addr {
	uint8_t b[16];
};

struct cidr {
	struct cidr_addr addr; /* masked */
	unsigned len;          /* 0..128 in the mapped space */
};

/* "10.20.0.5", "::1", "IPv6:2001:db8::1" (Postfix/Sendmail form). */
bool cidr_parse_addr(const char *s, struct cidr_addr *out);
/* "10.20.0.0/24", "2001:db8::/32", or a bare address (host prefix). */
bool cidr_parse(const char *s, struct cidr *out);
bool cidr_contains(const struct cidr *net, const struct cidr_addr *a);
/* Render to text (for events); buf at least 64 bytes. */
void cidr_addr_format(const struct cidr_addr *a, char *buf, size_t len);

struct arena;
struct cidr_map;

/* Build phase: new, insert any number of times, then finish. */
struct cidr_map *cidr_map_new(struct arena *a);
/* Associates value with the prefix; several values per prefix allowed. */
void cidr_map_insert(struct cidr_map *m, const struct cidr *net, const void *value);
/* Freeze into per-prefix-length hash tables (arena memory). */
void cidr_map_finish(struct cidr_map *m);
/* Every value whose prefix contains a, at most max stored in out; returns
 * the total count. Cost: one hash probe per distinct prefix length. */
size_t cidr_map_match(const struct cidr_map *m, const struct cidr_addr *a, const void **out,
		      size_t max);

#endif
