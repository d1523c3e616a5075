/*
 * fuzz_dmarc.c - libFuzzer harness for dmarc_parse() (dns/dmarc.c): our
 * layer (record selection, bounds, np/psd/t, p=none by rua) and the
 * libopendmarc parse under it (see dns/dmarc.h for which part is whose).
 * The input is one TXT record as received, copied into a
 * heap block of exactly its size (not NUL terminated, so ASan sees any
 * read past len). Checked: the result code is one of three, the kept
 * text fields are NUL terminated and printable, values are in range.
 * Also runs dmarc_effective_policy() and dmarc_aligned() on the result.
 * Built with gcc and tests/fuzz/seeds_main.c it replays the seed corpus.
 * libFuzzer build: the .c files of libopendmarc 1.4.2's libopendmarc
 * directory compiled from source with the same sanitizers into objects
 * ODMOBJS (so ASan sees its stack buffers; a minimal build-config.h with
 * the HAVE_..._H it tests):
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -I_build \
 *     tests/fuzz/fuzz_dmarc.c dns/dmarc.c ODMOBJS, the _build libraries
 *     of BW_LIBS in order and BW_DEP_LIBS without -lopendmarc, plus
 *     -lresolv -lbsd
 *   ./fuzz_dmarc -max_len=4200 WORKDIR tests/fuzz/corpus/dmarc
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/dmarc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Crash loudly so the fuzzer records the input. */
static void
die(const char *what)
{
	fprintf(stderr, "fuzz_dmarc: invariant broken: %s\n", what);
	abort();
}

/* A fixed-size text field is terminated and printable ASCII. */
static void
check_text(const char *s, size_t cap, const char *what)
{
	const char *end = memchr(s, '\0', cap);
	if (end == NULL)
		die(what);
	for (const char *p = s; p < end; p++)
		if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e)
			die(what);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *txt = malloc(size ? size : 1);
	struct dmarc_record r;
	char why[256];
	if (txt == NULL)
		abort();
	memcpy(txt, data, size);
	memset(&r, 0, sizeof(r));
	enum dmarc_parse_rc rc = dmarc_parse(txt, size, &r);
	if (rc != DMARC_PARSE_OK && rc != DMARC_PARSE_NOT_DMARC && rc != DMARC_PARSE_NO_POLICY)
		die("rc");
	check_text(r.rua, sizeof(r.rua), "rua");
	check_text(r.text, sizeof(r.text), "text");
	if (rc == DMARC_PARSE_OK) {
		if (r.pct > 100 || (unsigned)r.p > DMARC_P_REJECT ||
		    (unsigned)r.sp > DMARC_P_REJECT || (unsigned)r.np > DMARC_P_REJECT ||
		    (unsigned)r.psd > DMARC_PSD_N)
			die("value out of range");
		if (r.p_implied && (r.p != DMARC_P_NONE || r.n_rua == 0))
			die("implied p=none without rua");
		r.status = DMARC_FOUND;
		r.method = DMARC_METHOD_EXACT;
		memcpy(r.domain, "example.com", 12);
		memcpy(r.org_domain, "example.com", 12);
		(void)dmarc_effective_policy(&r, "mail.example.com", why, sizeof(why));
		const char *dk[1] = {"example.com"};
		(void)dmarc_aligned(&r, "mail.example.com", dk, 1, "bounce.example.com", true, why,
				    sizeof(why));
	}
	free(txt);
	return 0;
}
