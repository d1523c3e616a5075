/*
 * fuzz_aggregate.c - libFuzzer harness for the DMARC aggregate report path
 * of ingest/: the input is what `bulkwardenctl ingest --kind dmarc` would
 * read (XML, gzip, zip, or a message carrying one): agg_attachment(),
 * agg_unpack() and agg_parse() as ctl/ingest_agg.c chains them. Checks the
 * invariants: decompressed output within AGG_XML_MAX and NUL-terminated,
 * every field NUL-terminated within its bound, every row's source_ip an
 * address, its count within AGG_COUNT_MAX, records numbered 1..n and never
 * more than AGG_ROWS_MAX. Built with gcc and tests/fuzz/seeds_main.c it
 * replays the seed corpus (tests/feedback/corpus) in make check:
 *   clang -g -fsanitize=fuzzer,address -I. -I_build tests/fuzz/fuzz_aggregate.c \
 *     ingest/aggregate.c ingest/attach.c ingest/unpack.c base/util.c \
 *     $(pkg-config --cflags --libs gmime-3.0 libxml-2.0 libzip zlib) -o fuzz_aggregate
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/aggregate.h"
#include "ingest/attach.h"
#include "ingest/unpack.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_aggregate: invariant broken: %s\n", what);
	abort();
}

#define BOUNDED(f) (memchr((f), '\0', sizeof(f)) != NULL)

/* agg_row_fn: the row's invariants. */
static int
check_row(const struct agg_row *r, void *arg, char *why, size_t whylen)
{
	size_t *n = arg;
	unsigned char a[16];
	(void)why, (void)whylen;
	if (r->n != ++*n || r->n > AGG_ROWS_MAX)
		die("record numbering");
	if (!BOUNDED(r->source_ip) || !BOUNDED(r->disposition) || !BOUNDED(r->dkim) ||
	    !BOUNDED(r->spf) || !BOUNDED(r->header_from) || !BOUNDED(r->envelope_from) ||
	    !BOUNDED(r->dkim_domain) || !BOUNDED(r->dkim_selector) || !BOUNDED(r->dkim_result) ||
	    !BOUNDED(r->spf_domain) || !BOUNDED(r->spf_result))
		die("row field bound");
	if (inet_pton(AF_INET, r->source_ip, a) != 1 && inet_pton(AF_INET6, r->source_ip, a) != 1)
		die("source_ip not an address");
	if (r->count > AGG_COUNT_MAX)
		die("count bound");
	if (r->header_from[0] == '\0')
		die("row without header_from");
	for (const char *p = r->header_from; *p; p++)
		if ((unsigned char)*p < 0x20)
			die("control character kept");
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct agg_meta meta;
	char why[512], ct[AGG_CTYPE_MAX];
	unsigned char *att = NULL;
	const unsigned char *raw = data;
	size_t raw_len = size, xml_len = 0, rows = 0;
	char *xml = NULL;
	enum agg_wrap wrap;

	if (agg_sniff(data, size) == AGG_WRAP_NONE) {
		int f = agg_attachment((const char *)data, size, &att, &raw_len, ct, sizeof(ct),
				       why, sizeof(why));
		if (f < 0 && !BOUNDED(why))
			die("why");
		if (f != 1)
			return 0;
		if (!BOUNDED(ct) || raw_len > size)
			die("attachment bound");
		raw = att;
	}
	if (agg_unpack(raw, raw_len, &xml, &xml_len, &wrap, why, sizeof(why)) == 0) {
		if (xml_len > AGG_XML_MAX || xml[xml_len] != '\0')
			die("unpacked bound");
		long n = agg_parse(xml, xml_len, &meta, check_row, &rows, why, sizeof(why));
		if (n >= 0 && (size_t)n != rows)
			die("record count");
		if (n < 0 && !BOUNDED(why))
			die("why");
		if (!BOUNDED(meta.org_name) || !BOUNDED(meta.report_id) || !BOUNDED(meta.domain) ||
		    !BOUNDED(meta.email) || !BOUNDED(meta.p) || !BOUNDED(meta.sp))
			die("meta bound");
		if (n >= 0 && (meta.end < meta.begin || meta.org_name[0] == '\0'))
			die("usable report without metadata");
	} else if (!BOUNDED(why) || xml != NULL) {
		die("failed unpack");
	}
	free(xml);
	free(att);
	return 0;
}
