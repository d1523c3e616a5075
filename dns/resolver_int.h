/*
 * resolver_int.h - internals of the stub resolver shared by resolver.c
 * (transport, cache) and resolver_wire.c (the DNS wire format), and by
 * tests and fuzz harnesses of the parser. Not for other modules: they use
 * resolver.h.
 *
 * Everything here is I/O-free and bounded by the buffer lengths passed in.
 */
#ifndef BW_RESOLVER_INT_H
#define BW_RESOLVER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dns/resolver.h"

#define RESOLVER_MSG_MAX 65535 /* largest DNS message (TCP length field) */
#define RESOLVER_QUERY_MAX 512 /* header + 255-byte name + 4 + OPT */
#define RESOLVER_CNAME_HOPS 8  /* CNAMEs followed inside one answer */

/* Encode name (presentation form, A-labels, no escapes, optional trailing
 * dot) as wire labels into out; returns the wire length, or -1 when the
 * name cannot be asked (empty, label > 63, name > RESOLVER_NAME_MAX). */
int resolver_wire_name(const char *name, unsigned char *out, size_t outlen);

/* Build a query (RD set, class IN, an EDNS0 OPT advertising
 * RESOLVER_UDP_PAYLOAD when edns) into q[RESOLVER_QUERY_MAX]; returns its
 * length and sets *qsec_len to the question section's length. */
size_t resolver_wire_query(unsigned char *q, uint16_t id, const unsigned char *qname,
			   size_t qname_len, uint16_t type, bool edns, size_t *qsec_len);

/* The message a (alen bytes) answers query q: same ID, QR set, opcode
 * QUERY, one question equal to ours ignoring ASCII case. */
bool resolver_wire_matches(const unsigned char *q, size_t qsec_len, const unsigned char *a,
			   size_t alen);

/* Decode a matched answer to (qname, type) into out: status OK / NODATA /
 * NXDOMAIN with the records (CNAMEs followed), or SERVFAIL when it does not
 * parse, ERROR when memory runs out. out must be zeroed by the caller. */
void resolver_wire_parse(const unsigned char *resp, size_t len, const char *qname, uint16_t type,
			 struct resolver_answer *out);

#endif
