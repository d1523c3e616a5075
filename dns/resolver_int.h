/*
 * resolver_int.h - internals of the resolver shared by resolver.c (the
 * unbound glue) and resolver_rdata.c (decoding the RDATA unbound hands
 * back), and by the fuzz harness of the decoder. Not for other modules:
 * they use resolver.h.
 *
 * Everything here is I/O-free and bounded by the lengths passed in.
 */
#ifndef BW_RESOLVER_INT_H
#define BW_RESOLVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/resolver.h"

/* The name can be asked: A-labels (printable ASCII, no spaces, no
 * escapes), labels of 1..63 bytes, at most RESOLVER_NAME_MAX bytes without
 * the optional trailing dot. */
bool resolver_name_ok(const char *name);

/* Decode the n RDATA blobs (data[i], len[i]) of type into out (zeroed by
 * the caller): TXT character-strings concatenated, A/AAAA bytes, MX/PTR/
 * CNAME targets in presentation form (MX preference in pref), other types
 * raw. A malformed RDATA is skipped; at most RESOLVER_MAX_RR records and
 * RESOLVER_ANSWER_MAX bytes are kept. Sets out->n, out->rr, out->data
 * (rr[i].data pointers included). Returns 0, or -1 when memory runs out
 * (out is then left empty). */
int resolver_rdata_decode(uint16_t type, char *const *data, const int *len, size_t n, uint32_t ttl,
			  struct resolver_answer *out);

#endif
