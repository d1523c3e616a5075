/*
 * fuzz_addr.c - libFuzzer harness for policy/addr.c: feeds the input to
 * addr_parse_from() exactly as received (not NUL terminated, so ASan sees
 * any read past len) and, NUL terminated, to addr_parse_path(), then checks
 * the result invariants and that an accepted mailbox parses back to itself.
 * Built with gcc and tests/fuzz/seeds_main.c it replays the seed corpus.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Crash loudly so the fuzzer records the input. */
static void
die(const char *what)
{
	fprintf(stderr, "fuzz_addr: invariant broken: %s\n", what);
	abort();
}

/* Invariants every result keeps, whatever the input. */
static void
check_result(enum addr_status st, const struct addr_result *r)
{
	if (st != r->status || (unsigned)st > ADDR_HIDDEN)
		die("status");
	if (r->why == NULL || r->why[0] == '\0')
		die("why");
	if (memchr(r->mbox.local, '\0', sizeof(r->mbox.local)) == NULL ||
	    memchr(r->mbox.domain, '\0', sizeof(r->mbox.domain)) == NULL)
		die("unterminated mailbox");
	if (st == ADDR_OK &&
	    (r->count != 1 || r->mbox.local[0] == '\0' || r->mbox.domain[0] == '\0'))
		die("ok without a mailbox");
	if (st == ADDR_MULTIPLE && r->count < 2)
		die("multiple with count < 2");
	if (st == ADDR_EMPTY && r->count != 0)
		die("empty with a count");
	if ((st == ADDR_SYNTAX || st == ADDR_TOOLONG || st == ADDR_EMPTY) &&
	    (r->mbox.local[0] != '\0' || r->mbox.domain[0] != '\0'))
		die("mailbox left set on failure");
}

/* An accepted mailbox, written back as local@domain, must parse to itself. */
static void
check_roundtrip(const struct addr_mailbox *m)
{
	char buf[ADDR_LOCAL_MAX + ADDR_DOMAIN_MAX + 2];
	struct addr_result r;
	int n = snprintf(buf, sizeof(buf), "%s@%s", m->local, m->domain);

	if (n < 0 || (size_t)n >= sizeof(buf))
		die("roundtrip length");
	if (addr_parse_from(buf, (size_t)n, &r) != ADDR_OK)
		die("roundtrip status");
	if (strcmp(r.mbox.local, m->local) != 0 || strcmp(r.mbox.domain, m->domain) != 0)
		die("roundtrip mailbox");
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct addr_result r;
	enum addr_status st;
	char *s;

	st = addr_parse_from((const char *)data, size, &r);
	check_result(st, &r);
	if (st == ADDR_OK)
		check_roundtrip(&r.mbox);

	if ((s = malloc(size + 1)) == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	st = addr_parse_path(s, &r);
	check_result(st, &r);
	if (st == ADDR_OK)
		check_roundtrip(&r.mbox); /* RFC 5321 syntax is a subset of RFC 5322 */
	free(s);
	return 0;
}
