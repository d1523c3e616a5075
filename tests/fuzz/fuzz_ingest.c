/*
 * fuzz_ingest.c - libFuzzer harness for ingest/feedback.c: the input is
 * one report as an MTA would hand it to `bulkwardenctl ingest`. Checks the
 * parse's invariants: every copied field NUL-terminated within its bound,
 * recipient counts consistent, a usable report is ARF or DSN. Built with
 * gcc and tests/fuzz/seeds_main.c it replays the seed corpora
 * (tests/feedback/corpus and tests/fuzz/corpus/ingest) in make check.
 * libFuzzer build (registry_by_id, used only by ingest_attribute, stubbed):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -DBW_FUZZ_STUB_REGISTRY \
 *     -I. -I_build tests/fuzz/fuzz_ingest.c ingest/feedback.c registry/domain.c \
 *     base/util.c $(pkg-config --cflags --libs gmime-3.0 libpsl libidn2) -o fuzz_ingest
 *   ./fuzz_ingest -max_len=65536 -rss_limit_mb=2048 WORKDIR tests/feedback/corpus \
 *     tests/fuzz/corpus/ingest
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/feedback.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#ifdef BW_FUZZ_STUB_REGISTRY /* the libFuzzer build links no registry */
const struct bw_identity *
registry_by_id(const struct registry *r, const char *id)
{
	(void)r;
	(void)id;
	return NULL;
}
#endif

static void
die(const char *what)
{
	fprintf(stderr, "fuzz_ingest: invariant broken: %s\n", what);
	abort();
}

#define BOUNDED(f) (memchr((f), '\0', sizeof(f)) != NULL)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ingest_report rep;
	char why[256];
	int rc = ingest_parse((const char *)data, size, INGEST_UNKNOWN, &rep, why, sizeof(why));
	if (rc == 0 && rep.kind != INGEST_ARF && rep.kind != INGEST_DSN)
		die("usable report of no kind");
	if (rc != 0 && !BOUNDED(why))
		die("why");
	if (!BOUNDED(rep.feedback_type) || !BOUNDED(rep.feedback_id) || !BOUNDED(rep.dkim_d) ||
	    !BOUNDED(rep.dkim_s) || !BOUNDED(rep.mail_from_domain) || !BOUNDED(rep.from_domain) ||
	    !BOUNDED(rep.original_rcpt) || !BOUNDED(rep.source_ip) || !BOUNDED(rep.digest))
		die("field bound");
	if (rep.n_rcpt > INGEST_RCPT_MAX || rep.n_rcpt > rep.n_hard + rep.n_soft)
		die("recipient count");
	for (size_t i = 0; i < rep.n_rcpt; i++)
		if (!BOUNDED(rep.rcpt[i].addr) || !BOUNDED(rep.rcpt[i].status))
			die("recipient bound");
	for (const char *p = rep.feedback_id; *p; p++)
		if ((unsigned char)*p < 0x20)
			die("control character kept");
	return 0;
}
