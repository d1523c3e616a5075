/*
 * resolver_wire.c - the DNS wire format for the stub resolver: encoding
 * names and queries, matching answers to queries, decoding answers into
 * struct resolver_answer. I/O-free (see resolver_int.h).
 *
 * Untrusted input: every answer byte. Decoding uses libresolv's
 * ns_initparse()/ns_parserr()/ns_name_uncompress(), which are bounded by
 * the message length; TXT character-strings are validated against RDLENGTH
 * before any copy. Records are copied into one growable block capped at
 * RESOLVER_ANSWER_MAX bytes and RESOLVER_MAX_RR records (the rest is
 * dropped); a CNAME chain inside the answer is followed at most
 * RESOLVER_CNAME_HOPS times.
 *
 * Memory: resolver_wire_parse() allocates out->rr and out->data (freed by
 * resolver_answer_free()); on failure it frees what it took.
 */
#include "config.h"

#include <arpa/nameser.h>
#include <ctype.h>
#include <resolv.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dns/resolver.h"
#include "dns/resolver_int.h"
#include "base/util.h"

/* Growable output block for decoded records. */
struct obuf {
	unsigned char *p;
	size_t len, cap;
	bool full;
};

/* Encode name (presentation, no escapes) into wire labels at out; returns
 * the wire length or -1 when the name is not askable. */
int
resolver_wire_name(const char *name, unsigned char *out, size_t outlen)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > RESOLVER_NAME_MAX || len + 2 > outlen)
		return -1;
	size_t o = 0, start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '.') {
			size_t ll = i - start;
			if (ll == 0 || ll > 63)
				return -1;
			out[o++] = (unsigned char)ll;
			memcpy(out + o, name + start, ll);
			o += ll;
			start = i + 1;
		} else if (name[i] == '\\' || (unsigned char)name[i] < 0x21 ||
			   (unsigned char)name[i] > 0x7e) {
			return -1; /* no escapes, spaces or 8-bit: A-labels only */
		}
	}
	out[o++] = 0;
	return (int)o;
}

/* Build the query; returns its length, qsec_len gets the question size. */
size_t
resolver_wire_query(unsigned char *q, uint16_t id, const unsigned char *qname, size_t qname_len,
		    uint16_t type, bool edns, size_t *qsec_len)
{
	size_t o = 0;
	q[o++] = (unsigned char)(id >> 8);
	q[o++] = (unsigned char)id;
	q[o++] = 0x01; /* RD */
	q[o++] = 0x00;
	q[o++] = 0;
	q[o++] = 1; /* QDCOUNT */
	q[o++] = 0;
	q[o++] = 0; /* ANCOUNT */
	q[o++] = 0;
	q[o++] = 0; /* NSCOUNT */
	q[o++] = 0;
	q[o++] = edns ? 1 : 0; /* ARCOUNT */
	memcpy(q + o, qname, qname_len);
	o += qname_len;
	q[o++] = (unsigned char)(type >> 8);
	q[o++] = (unsigned char)type;
	q[o++] = 0;
	q[o++] = 1; /* class IN */
	*qsec_len = qname_len + 4;
	if (edns) {
		q[o++] = 0; /* root */
		q[o++] = 0;
		q[o++] = 41; /* OPT */
		q[o++] = (unsigned char)(RESOLVER_UDP_PAYLOAD >> 8);
		q[o++] = (unsigned char)(RESOLVER_UDP_PAYLOAD & 0xff);
		q[o++] = 0;
		q[o++] = 0;
		q[o++] = 0;
		q[o++] = 0; /* ext rcode, version, flags */
		q[o++] = 0;
		q[o++] = 0; /* rdlen */
	}
	return o;
}

/* The answer echoes our ID and question and is a response. */
bool
resolver_wire_matches(const unsigned char *q, size_t qsec_len, const unsigned char *a, size_t alen)
{
	if (alen < 12 + qsec_len)
		return false;
	if (a[0] != q[0] || a[1] != q[1] || (a[2] & 0x80) == 0 || (a[2] & 0x78) != 0)
		return false;
	if (a[4] != 0 || a[5] != 1)
		return false;
	for (size_t i = 0; i < qsec_len; i++)
		if (tolower(a[12 + i]) != tolower(q[12 + i]))
			return false;
	return true;
}

/* Append len bytes plus a NUL; returns the offset or (size_t)-1 when the
 * answer cap is reached or memory runs out. */
static size_t
obuf_add(struct obuf *o, const void *p, size_t len)
{
	if (o->full || len + 1 > RESOLVER_ANSWER_MAX - o->len) {
		o->full = true;
		return (size_t)-1;
	}
	if (o->len + len + 1 > o->cap) {
		size_t cap = o->cap ? o->cap : 1024;
		while (cap < o->len + len + 1)
			cap *= 2;
		unsigned char *np = realloc(o->p, cap);
		if (np == NULL) {
			o->full = true;
			return (size_t)-1;
		}
		o->p = np;
		o->cap = cap;
	}
	size_t off = o->len;
	if (len > 0 && p != NULL) /* NULL: reserve, the caller fills it */
		memcpy(o->p + off, p, len);
	o->p[off + len] = '\0';
	o->len += len + 1;
	return off;
}

/* Two presentation names are equal, ignoring case and a trailing dot. */
static bool
name_eq(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	if (la > 0 && a[la - 1] == '.')
		la--;
	if (lb > 0 && b[lb - 1] == '.')
		lb--;
	return la == lb && strncasecmp(a, b, la) == 0;
}

/* Decode one record's RDATA of the asked type into o; returns the data
 * offset, or (size_t)-1 (malformed or out of room), len in *len. */
static size_t
decode_rdata(const ns_msg *msg, const ns_rr *rr, uint16_t type, struct obuf *o, size_t *len,
	     uint16_t *pref)
{
	const unsigned char *rd = ns_rr_rdata(*rr);
	size_t rdlen = ns_rr_rdlen(*rr);
	char name[NS_MAXDNAME];
	*pref = 0;
	switch (type) {
	case RESOLVER_T_A:
	case RESOLVER_T_AAAA:
		if (rdlen != (type == RESOLVER_T_A ? 4u : 16u))
			return (size_t)-1;
		*len = rdlen;
		return obuf_add(o, rd, rdlen);
	case RESOLVER_T_TXT: {
		/* validate the character-strings, then copy them side by side */
		size_t t = 0, i = 0;
		while (i < rdlen) {
			size_t sl = rd[i++];
			if (sl > rdlen - i)
				return (size_t)-1;
			t += sl;
			i += sl;
		}
		size_t off = obuf_add(o, NULL, t);
		if (off == (size_t)-1)
			return off;
		for (i = 0, t = 0; i < rdlen; i += 1 + rd[i]) {
			memcpy(o->p + off + t, rd + i + 1, rd[i]);
			t += rd[i];
		}
		*len = t;
		return off;
	}
	case RESOLVER_T_MX:
		if (rdlen < 3)
			return (size_t)-1;
		*pref = (uint16_t)(rd[0] << 8 | rd[1]);
		rd += 2;
		/* fall through */
	case RESOLVER_T_PTR:
	case RESOLVER_T_CNAME:
		if (ns_name_uncompress(ns_msg_base(*msg), ns_msg_end(*msg), rd, name,
				       sizeof(name)) < 0)
			return (size_t)-1;
		*len = strlen(name);
		return obuf_add(o, name, *len);
	default:
		*len = rdlen;
		return obuf_add(o, rd, rdlen);
	}
}

/* The negative-caching TTL from an SOA in the authority section. */
static uint32_t
negative_ttl(ns_msg *msg)
{
	ns_rr rr;
	int n = ns_msg_count(*msg, ns_s_ns);
	for (int i = 0; i < n; i++) {
		if (ns_parserr(msg, ns_s_ns, i, &rr) != 0 || ns_rr_type(rr) != ns_t_soa)
			continue;
		const unsigned char *p = ns_rr_rdata(rr), *end = p + ns_rr_rdlen(rr);
		for (int k = 0; k < 2; k++) { /* MNAME, RNAME */
			int s = dn_skipname(p, ns_msg_end(*msg));
			if (s < 0 || p + s > end)
				return RESOLVER_NEG_TTL;
			p += s;
		}
		if (end - p < 20)
			return RESOLVER_NEG_TTL;
		uint32_t minimum =
		    (uint32_t)p[16] << 24 | (uint32_t)p[17] << 16 | (uint32_t)p[18] << 8 | p[19];
		uint32_t ttl = ns_rr_ttl(rr);
		return ttl < minimum ? ttl : minimum;
	}
	return RESOLVER_NEG_TTL;
}

/* Turn a matched answer into out (status OK / NODATA / NXDOMAIN, or
 * SERVFAIL when it does not parse). */
void
resolver_wire_parse(const unsigned char *resp, size_t len, const char *qname, uint16_t type,
		    struct resolver_answer *out)
{
	ns_msg msg;
	ns_rr rr;
	struct obuf o = {0};
	char target[NS_MAXDNAME];
	uint32_t ttl = UINT32_MAX;
	struct resolver_rr *rrs = NULL;

	if (ns_initparse(resp, (int)len, &msg) != 0) {
		out->status = RESOLVER_SERVFAIL;
		bw_strlcpy(out->detail, "malformed answer", sizeof(out->detail));
		return;
	}
	out->rcode = ns_msg_getflag(msg, ns_f_rcode);
	int an = ns_msg_count(msg, ns_s_an);

	bw_strlcpy(target, qname, sizeof(target));
	for (int hop = 0; hop < RESOLVER_CNAME_HOPS && type != RESOLVER_T_CNAME; hop++) {
		bool moved = false;
		for (int i = 0; i < an; i++) {
			if (ns_parserr(&msg, ns_s_an, i, &rr) != 0)
				goto malformed;
			if (ns_rr_type(rr) != ns_t_cname || !name_eq(ns_rr_name(rr), target))
				continue;
			char next[NS_MAXDNAME];
			if (ns_name_uncompress(ns_msg_base(msg), ns_msg_end(msg), ns_rr_rdata(rr),
					       next, sizeof(next)) < 0)
				goto malformed;
			if (ns_rr_ttl(rr) < ttl)
				ttl = ns_rr_ttl(rr);
			bw_strlcpy(target, next, sizeof(target));
			moved = true;
			break;
		}
		if (!moved)
			break;
	}

	size_t n = 0;
	for (int i = 0; i < an && n < RESOLVER_MAX_RR; i++) {
		if (ns_parserr(&msg, ns_s_an, i, &rr) != 0)
			goto malformed;
		if (ns_rr_type(rr) != type || ns_rr_class(rr) != ns_c_in ||
		    !name_eq(ns_rr_name(rr), target))
			continue;
		size_t dlen = 0;
		uint16_t pref;
		size_t off = decode_rdata(&msg, &rr, type, &o, &dlen, &pref);
		if (off == (size_t)-1) {
			if (o.full)
				break; /* keep what fits */
			goto malformed;
		}
		if (n % 16 == 0) {
			struct resolver_rr *nr = realloc(rrs, (n + 16) * sizeof(*rrs));
			if (nr == NULL) {
				free(rrs);
				free(o.p);
				out->status = RESOLVER_ERROR;
				bw_strlcpy(out->detail, "out of memory", sizeof(out->detail));
				return;
			}
			rrs = nr;
		}
		rrs[n] = (struct resolver_rr){
		    .type = type, .pref = pref, .ttl = ns_rr_ttl(rr), .len = dlen, .off = off};
		if (ns_rr_ttl(rr) < ttl)
			ttl = ns_rr_ttl(rr);
		n++;
	}
	for (size_t i = 0; i < n; i++)
		rrs[i].data = o.p + rrs[i].off;
	out->rr = rrs;
	out->n = n;
	out->data = o.p;
	out->data_len = o.len;
	if (n > 0) {
		out->status = RESOLVER_OK;
		out->ttl = ttl;
	} else {
		out->status = out->rcode == ns_r_nxdomain ? RESOLVER_NXDOMAIN : RESOLVER_NODATA;
		uint32_t neg = negative_ttl(&msg);
		out->ttl = ttl < neg ? ttl : neg;
	}
	return;
malformed:
	free(rrs);
	free(o.p);
	out->status = RESOLVER_SERVFAIL;
	bw_strlcpy(out->detail, "malformed answer section", sizeof(out->detail));
}
