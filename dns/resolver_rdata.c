/*
 * resolver_rdata.c - what stays ours of DNS decoding: turning the RDATA
 * that libunbound returns (one blob per record, already taken out of a
 * parsed and, with dns.dnssec, validated message) into struct
 * resolver_answer records, and checking a name before it is asked.
 *
 * Untrusted input: every RDATA byte (unbound checks the message format,
 * not what a TXT or MX says). Bounds: a TXT character-string must fit in
 * the RDATA; a name in MX/PTR/CNAME RDATA is read label by label inside
 * the RDATA (no compression pointers: unbound stores names uncompressed),
 * at most 255 wire bytes, label bytes printable ASCII other than '.' and
 * '\\'; a record that breaks a rule is skipped, not truncated. At most
 * RESOLVER_MAX_RR records and RESOLVER_ANSWER_MAX decoded bytes are kept.
 * Fuzzed by tests/fuzz/fuzz_rdata.c.
 *
 * Memory: resolver_rdata_decode() allocates out->rr and out->data (freed
 * by resolver_answer_free()); on failure it frees what it took.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "dns/resolver_int.h"

/* Growable output block for decoded records. */
struct obuf {
	unsigned char *p;
	size_t len, cap;
};

/* Reserve n more bytes (+1 for a NUL); false when over the cap or out of
 * memory (*oom says which). */
static bool
obuf_room(struct obuf *b, size_t n, bool *oom)
{
	if (b->len + n + 1 > RESOLVER_ANSWER_MAX)
		return false;
	if (b->len + n + 1 <= b->cap)
		return true;
	size_t cap = b->cap ? b->cap : 512;
	while (cap < b->len + n + 1)
		cap *= 2;
	if (cap > RESOLVER_ANSWER_MAX)
		cap = RESOLVER_ANSWER_MAX;
	unsigned char *p = realloc(b->p, cap);
	if (p == NULL) {
		*oom = true;
		return false;
	}
	b->p = p;
	b->cap = cap;
	return true;
}

/* Release an answer's records; the answer may be reused. */
void
resolver_answer_free(struct resolver_answer *a)
{
	if (a == NULL)
		return;
	free(a->rr);
	free(a->data);
	a->rr = NULL;
	a->data = NULL;
	a->n = 0;
	a->data_len = 0;
}

/* A name may be asked: see resolver_int.h. */
bool
resolver_name_ok(const char *name)
{
	size_t len = strlen(name);
	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > RESOLVER_NAME_MAX)
		return false;
	size_t start = 0;
	for (size_t i = 0; i <= len; i++) {
		if (i == len || name[i] == '.') {
			if (i - start == 0 || i - start > 63)
				return false;
			start = i + 1;
		} else if (name[i] == '\\' || (unsigned char)name[i] < 0x21 ||
			   (unsigned char)name[i] > 0x7e) {
			return false; /* no escapes, spaces or 8-bit: A-labels only */
		}
	}
	return true;
}

/* Decode the wire name at p[0..len) into presentation form (no trailing
 * dot; the root is "."), appended to b. Returns the bytes written, or -1
 * for a malformed name or no room. */
static long
put_name(struct obuf *b, const unsigned char *p, size_t len, bool *oom)
{
	size_t i = 0, wire = 0, start = b->len;
	if (!obuf_room(b, RESOLVER_NAME_MAX + 2, oom))
		return -1;
	for (;;) {
		if (i >= len)
			return -1;
		size_t ll = p[i++];
		wire += ll + 1;
		if (ll == 0)
			break;
		if (ll > 63 || wire > 255 || ll > len - i)
			return -1;
		if (b->len > start)
			b->p[b->len++] = '.';
		for (size_t k = 0; k < ll; k++) {
			unsigned char c = p[i + k];
			if (c < 0x21 || c > 0x7e || c == '.' || c == '\\')
				return -1;
			b->p[b->len++] = c;
		}
		i += ll;
	}
	if (i != len)
		return -1; /* trailing bytes after the name */
	if (b->len == start)
		b->p[b->len++] = '.';
	return (long)(b->len - start);
}

/* Decode one record's RDATA into b; returns its length or -1 to skip it. */
static long
decode_one(uint16_t type, const unsigned char *p, size_t len, struct resolver_rr *rr,
	   struct obuf *b, bool *oom)
{
	size_t start = b->len;
	switch (type) {
	case RESOLVER_T_TXT: {
		if (len == 0 || !obuf_room(b, len, oom))
			return -1;
		for (size_t i = 0; i < len;) {
			size_t sl = p[i++];
			if (sl > len - i)
				return -1;
			memcpy(b->p + b->len, p + i, sl);
			b->len += sl;
			i += sl;
		}
		return (long)(b->len - start);
	}
	case RESOLVER_T_A:
	case RESOLVER_T_AAAA:
		if (len != (type == RESOLVER_T_A ? 4u : 16u) || !obuf_room(b, len, oom))
			return -1;
		memcpy(b->p + b->len, p, len);
		b->len += len;
		return (long)len;
	case RESOLVER_T_MX:
		if (len < 3)
			return -1;
		rr->pref = (uint16_t)(p[0] << 8 | p[1]);
		return put_name(b, p + 2, len - 2, oom);
	case RESOLVER_T_PTR:
	case RESOLVER_T_CNAME:
		return put_name(b, p, len, oom);
	default:
		if (!obuf_room(b, len, oom))
			return -1;
		memcpy(b->p + b->len, p, len);
		b->len += len;
		return (long)len;
	}
}

/* Decode unbound's RDATA blobs into out: see resolver_int.h. */
int
resolver_rdata_decode(uint16_t type, char *const *data, const int *len, size_t n, uint32_t ttl,
		      struct resolver_answer *out)
{
	struct obuf b = {0};
	bool oom = false;
	if (n > RESOLVER_MAX_RR)
		n = RESOLVER_MAX_RR;
	out->n = 0;
	if (n == 0)
		return 0;
	out->rr = calloc(n, sizeof(*out->rr));
	if (out->rr == NULL)
		return -1;
	for (size_t i = 0; i < n && data[i] != NULL; i++) {
		struct resolver_rr *rr = &out->rr[out->n];
		size_t mark = b.len;
		if (len[i] < 0)
			continue;
		memset(rr, 0, sizeof(*rr));
		long l =
		    decode_one(type, (const unsigned char *)data[i], (size_t)len[i], rr, &b, &oom);
		if (oom)
			goto fail;
		if (l < 0) {
			b.len = mark; /* skip the record */
			continue;
		}
		b.p[b.len++] = '\0';
		rr->type = type;
		rr->ttl = ttl;
		rr->off = mark;
		rr->len = (size_t)l;
		out->n++;
	}
	out->data = b.p;
	out->data_len = b.len;
	for (size_t i = 0; i < out->n; i++)
		out->rr[i].data = out->data + out->rr[i].off;
	return 0;
fail:
	free(b.p);
	free(out->rr);
	out->rr = NULL;
	out->n = 0;
	return -1;
}
