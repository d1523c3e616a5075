/*
 * cidr.c - address and prefix parsing, and the prefix map behind
 * network attribution.
 *
 * The map keeps one open-addressing hash table per prefix length in use
 * (typically a handful: /32, /24, /16 ...). A lookup masks the address to
 * each length and probes once per table, so the cost does not grow with the
 * number of identities. Tables live in the registry arena; the build-phase
 * list is malloc'ed and freed by cidr_map_finish().
 *
 * Untrusted input: addresses from the MTA ({client_addr}, connect address).
 */
#include "config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/hash.h"
#include "base/util.h"
#include "registry/cidr.h"

#define CIDR_TEXT_MAX 64

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool
cidr_parse_addr(const char *s, struct cidr_addr *out)
{
	char buf[CIDR_TEXT_MAX];
	struct in_addr a4;

	if (strncasecmp(s, "IPv6:", 5) == 0)
		s += 5;
	if (bw_strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
		return false;
	/* strip brackets "[::1]" */
	char *p = buf;
	size_t n = strlen(p);
	if (n >= 2 && p[0] == '[' && p[n - 1] == ']') {
		p[n - 1] = '\0';
		p++;
	}
	if (inet_pton(AF_INET, p, &a4) == 1) {
		memcpy(out->b, v4mapped, 12);
		memcpy(out->b + 12, &a4, 4);
		return true;
	}
	return inet_pton(AF_INET6, p, out->b) == 1;
}

/* Zero every bit past len. */
static void
mask(struct cidr_addr *a, unsigned len)
{
	for (unsigned i = 0; i < 16; i++) {
		unsigned bit = i * 8;
		if (bit >= len)
			a->b[i] = 0;
		else if (len - bit < 8)
			a->b[i] &= (uint8_t)(0xff << (8 - (len - bit)));
	}
}

bool
cidr_parse(const char *s, struct cidr *out)
{
	char buf[CIDR_TEXT_MAX];
	if (bw_strlcpy(buf, s, sizeof(buf)) >= sizeof(buf))
		return false;
	char *slash = strchr(buf, '/');
	long len = -1;
	if (slash) {
		*slash++ = '\0';
		char *end;
		if (*slash < '0' || *slash > '9')
			return false;
		len = strtol(slash, &end, 10);
		if (*end != '\0' || len > 128)
			return false;
	}
	if (!cidr_parse_addr(buf, &out->addr))
		return false;
	bool v4 = memcmp(out->addr.b, v4mapped, 12) == 0 && strchr(buf, ':') == NULL;
	if (len < 0)
		len = 128;
	else if (v4) {
		if (len > 32)
			return false;
		len += 96;
	}
	out->len = (unsigned)len;
	mask(&out->addr, out->len);
	return true;
}

bool
cidr_contains(const struct cidr *net, const struct cidr_addr *a)
{
	struct cidr_addr m = *a;
	mask(&m, net->len);
	return memcmp(m.b, net->addr.b, 16) == 0;
}

void
cidr_addr_format(const struct cidr_addr *a, char *buf, size_t len)
{
	if (memcmp(a->b, v4mapped, 12) == 0)
		inet_ntop(AF_INET, a->b + 12, buf, (socklen_t)len);
	else
		inet_ntop(AF_INET6, a->b, buf, (socklen_t)len);
}

struct slot {
	struct cidr_addr key;
	const void *value; /* NULL: empty */
};

struct table {
	unsigned len;  /* prefix length */
	size_t cap;    /* power of two */
	struct slot *slots;
};

struct pending {
	struct cidr net;
	const void *value;
};

struct cidr_map {
	struct arena *arena;
	struct pending *pend; /* build phase */
	size_t n_pend, cap_pend;
	struct table tables[129];
	unsigned n_tables;
};

/* The 16 address bytes through base/hash (the same hash as every table). */
static uint64_t
hash_addr(const struct cidr_addr *a)
{
	return bw_hash_mem(a->b, sizeof(a->b));
}

struct cidr_map *
cidr_map_new(struct arena *a)
{
	struct cidr_map *m = arena_alloc(a, sizeof(*m));
	m->arena = a;
	return m;
}

void
cidr_map_insert(struct cidr_map *m, const struct cidr *net, const void *value)
{
	if (m->n_pend == m->cap_pend) {
		m->cap_pend = m->cap_pend ? m->cap_pend * 2 : 64;
		m->pend = xrealloc(m->pend, m->cap_pend * sizeof(*m->pend));
	}
	m->pend[m->n_pend].net = *net;
	m->pend[m->n_pend].value = value;
	m->n_pend++;
}

void
cidr_map_finish(struct cidr_map *m)
{
	size_t count[129] = {0};
	for (size_t i = 0; i < m->n_pend; i++)
		count[m->pend[i].net.len]++;
	/* longest prefixes first: most specific matches come out first */
	m->n_tables = 0;
	for (int len = 128; len >= 0; len--) {
		if (count[len] == 0)
			continue;
		struct table *t = &m->tables[m->n_tables++];
		t->len = (unsigned)len;
		t->cap = 8;
		while (t->cap < count[len] * 2)
			t->cap <<= 1;
		t->slots = arena_alloc(m->arena, t->cap * sizeof(struct slot));
		for (size_t i = 0; i < m->n_pend; i++) {
			if (m->pend[i].net.len != (unsigned)len)
				continue;
			size_t j = hash_addr(&m->pend[i].net.addr) & (t->cap - 1);
			while (t->slots[j].value != NULL)
				j = (j + 1) & (t->cap - 1);
			t->slots[j].key = m->pend[i].net.addr;
			t->slots[j].value = m->pend[i].value;
		}
	}
	free(m->pend);
	m->pend = NULL;
	m->n_pend = m->cap_pend = 0;
}

size_t
cidr_map_match(const struct cidr_map *m, const struct cidr_addr *a, const void **out, size_t max)
{
	size_t found = 0;
	for (unsigned ti = 0; ti < m->n_tables; ti++) {
		const struct table *t = &m->tables[ti];
		struct cidr_addr k = *a;
		mask(&k, t->len);
		size_t j = hash_addr(&k) & (t->cap - 1);
		while (t->slots[j].value != NULL) {
			if (memcmp(t->slots[j].key.b, k.b, 16) == 0) {
				if (found < max)
					out[found] = t->slots[j].value;
				found++;
			}
			j = (j + 1) & (t->cap - 1);
		}
	}
	return found;
}
