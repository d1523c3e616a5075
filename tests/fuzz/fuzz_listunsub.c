/*
 * fuzz_listunsub.c - libFuzzer harness for policy/listunsub.c: feeds the
 * input as a List-Unsubscribe value (not NUL terminated, so ASan sees any
 * read past len) and checks the result invariants: a refusal always says
 * why, and an accepted value has a bracketed URI and no control character.
 * Built with gcc and tests/fuzz/seeds_main.c it replays the corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/listunsub.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Crash loudly so the fuzzer records the input. */
static void
die(const char *what)
{
	fprintf(stderr, "fuzz_listunsub: invariant broken: %s\n", what);
	abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why = NULL;
	bool ok = listunsub_https((const char *)data, size, &why);

	if (!ok && (why == NULL || why[0] == '\0'))
		die("refused without a reason");
	if (ok) {
		for (size_t i = 0; i < size; i++)
			if ((data[i] < 0x20 && data[i] != '\t' && data[i] != '\r' &&
			     data[i] != '\n') ||
			    data[i] == 0x7f)
				die("accepted a control character");
		if (size < 10 || memchr(data, '<', size) == NULL)
			die("accepted without a bracketed URI");
	}
	return 0;
}
