/*
 * test_mta.c - table-driven tests for milter/mta.c: which MTA sent the
 * connect macros, and which address fields Sendmail writes out unchanged
 * (the shapes measured with Sendmail 8.17.1.9 in tests/sendmail/).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>

#include "milter/mta.h"

struct keep_case {
	const char *value;
	bool keeps;
};

static const struct keep_case keep_cases[] = {
    {" r1@example.net", true},
    {"r1@example.net", true},
    {" a@example.net, b@example.net", true},
    {" a@example.net,\r\n\tb@example.net", true}, /* folded after the comma */
    {" News <c1@news.example.com>", true},
    {" Alice<alice@example.net>", true},
    {" \"Doe, Jane\" <jane@example.net>, bob@example.net", true},
    {" carol@example.net (Carol)", true},
    {" <bare@example.net>", true},
    {" =?utf-8?q?J=C3=B6rg?= <j@example.net>", true},
    /* what Sendmail rewrites */
    {" a@example.net,b@example.net", false}, /* -> "a@example.net, b@example.net" */
    {" someone", false},		     /* -> someone@<its host name> */
    {" x@example.net, y , \"Z\" <z@example.net>", false},
    {" a@example.net ,b@example.net", false},
    {" J. Doe <j@example.net>", false},	  /* MustQuoteChars: quoted */
    {" undisclosed-recipients:;", false}, /* group: left alone, not analysed */
    {" a@localhost", false},		  /* may be canonified */
    {" \"quoted local\"@example.net", false},
    {" <@route.example:a@example.net>", false},
    {" a@example.net,", false},
    {" ", false},
    {"", false},
    {" J\xc3\xb6rg <j@example.net>", false}, /* 8-bit */
    {" a@example.net (nested (comment))", false},
    {" a@[192.0.2.1]", false},
};

static void
test_keeps(void **state)
{
	int bad = 0;
	for (size_t i = 0; i < sizeof(keep_cases) / sizeof(keep_cases[0]); i++) {
		bool got = mta_sendmail_keeps(keep_cases[i].value);
		if (got != keep_cases[i].keeps) {
			print_error("row %zu \"%s\": got %d want %d\n", i, keep_cases[i].value, got,
				    keep_cases[i].keeps);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

static void
test_detect(void **state)
{
	assert_int_equal(mta_detect("8.17.1.9"), MTA_SENDMAIL);
	assert_int_equal(mta_detect("8.15.2/8.15.2"), MTA_SENDMAIL);
	assert_int_equal(mta_detect("Postfix 3.7.11"), MTA_POSTFIX);
	assert_int_equal(mta_detect(""), MTA_UNKNOWN);
	assert_int_equal(mta_detect(NULL), MTA_UNKNOWN);
	assert_int_equal(mta_detect("42"), MTA_UNKNOWN);
}

static void
test_rewrites(void **state)
{
	assert_true(mta_sendmail_rewrites("To"));
	assert_true(mta_sendmail_rewrites("cc"));
	assert_true(mta_sendmail_rewrites("Reply-To"));
	assert_true(mta_sendmail_rewrites("Resent-To"));
	assert_true(mta_sendmail_rewrites("From"));
	assert_false(mta_sendmail_rewrites("Subject"));
	assert_false(mta_sendmail_rewrites("Message-ID"));
	assert_false(mta_sendmail_rewrites("List-Unsubscribe"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_keeps),
	    cmocka_unit_test(test_detect),
	    cmocka_unit_test(test_rewrites),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
