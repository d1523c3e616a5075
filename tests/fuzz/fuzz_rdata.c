/*
 * fuzz_rdata.c - libFuzzer harness for dns/resolver_rdata.c, the part of
 * DNS decoding that stays ours over libunbound: the RDATA of TXT, A,
 * AAAA, MX, PTR, CNAME and other records, and the check of a name before
 * it is asked.
 *
 * Input: byte 0 picks the type; then records as a 2-byte big-endian
 * length and that many bytes (each record copied into its own heap block
 * of exactly that size, so ASan sees any read past it). The rest of the
 * input, NUL terminated, goes to resolver_name_ok(). Checked: the
 * decoded records stay inside the data block, are NUL terminated at their
 * length, A/AAAA have 4/16 bytes, names are printable and askable.
 * Built with gcc and tests/fuzz/seeds_main.c it replays the seed corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dns/resolver_int.h"

#define FUZZ_RECORDS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Crash loudly so the fuzzer records the input. */
static void
die(const char *what)
{
	fprintf(stderr, "fuzz_rdata: invariant broken: %s\n", what);
	abort();
}

/* Invariants of a decoded answer. */
static void
check(uint16_t type, const struct resolver_answer *a, size_t n_in)
{
	if (a->n > n_in || a->n > RESOLVER_MAX_RR)
		die("more records than given");
	if (a->data_len > RESOLVER_ANSWER_MAX)
		die("data over the cap");
	for (size_t i = 0; i < a->n; i++) {
		const struct resolver_rr *rr = &a->rr[i];
		if (rr->off + rr->len + 1 > a->data_len || rr->data != a->data + rr->off)
			die("record outside the data block");
		if (rr->data[rr->len] != '\0')
			die("record not NUL terminated");
		if (rr->type != type)
			die("type");
		if (type == RESOLVER_T_A && rr->len != 4)
			die("A length");
		if (type == RESOLVER_T_AAAA && rr->len != 16)
			die("AAAA length");
		if (type == RESOLVER_T_MX || type == RESOLVER_T_PTR || type == RESOLVER_T_CNAME) {
			if (strlen((const char *)rr->data) != rr->len)
				die("NUL inside a name");
			if (strcmp((const char *)rr->data, ".") != 0 &&
			    !resolver_name_ok((const char *)rr->data))
				die("decoded name not askable");
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint16_t types[] = {RESOLVER_T_TXT,
					 RESOLVER_T_A,
					 RESOLVER_T_AAAA,
					 RESOLVER_T_MX,
					 RESOLVER_T_PTR,
					 RESOLVER_T_CNAME,
					 99 /* SPF: raw */};
	char *blobs[FUZZ_RECORDS + 1] = {0};
	int lens[FUZZ_RECORDS + 1] = {0};
	size_t n = 0, i = 1;

	if (size < 1)
		return 0;
	uint16_t type = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	while (n < FUZZ_RECORDS && i + 2 <= size) {
		size_t l = (size_t)data[i] << 8 | data[i + 1];
		i += 2;
		if (l > size - i)
			break;
		blobs[n] = malloc(l ? l : 1);
		if (blobs[n] == NULL)
			abort();
		memcpy(blobs[n], data + i, l);
		lens[n++] = (int)l;
		i += l;
	}
	struct resolver_answer a;
	memset(&a, 0, sizeof(a));
	if (resolver_rdata_decode(type, blobs, lens, n, 60, &a) == 0)
		check(type, &a, n);
	resolver_answer_free(&a);
	for (size_t k = 0; k < n; k++)
		free(blobs[k]);

	/* the rest, as a name to ask */
	char *name = malloc(size - i + 1);
	if (name == NULL)
		abort();
	memcpy(name, data + i, size - i);
	name[size - i] = '\0';
	(void)resolver_name_ok(name);
	free(name);
	return 0;
}
