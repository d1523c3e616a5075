/*
 * test_addr.c - table-driven tests for policy/addr.c: From field bodies
 * (RFC 5322 §3.4, §4 obsolete forms, RFC 6532 UTF-8, hostile input, hidden
 * addresses) and SMTP envelope paths.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "policy/addr.h"

#define L(s) s, sizeof(s) - 1 /* literal with explicit length (may hold NUL) */

struct from_case {
	const char *in;
	size_t len;
	enum addr_status want;
	const char *local; /* expected when want is OK (or MULTIPLE/HIDDEN: the first/real) */
	const char *domain;
	size_t count;
};

/* Report a failing row and go on, so one run shows every broken row. */
#define BAD_ROW(...) (print_error(__VA_ARGS__), print_error("\n"), bad++)

/* clang-format off */
#define OK(s, l, d) {L(s), ADDR_OK, l, d, 1}
#define BAD(s, st) {L(s), st, NULL, NULL, (size_t)-1}

static const struct from_case from_cases[] = {
    /* plain forms */
    OK("a@b.c", "a", "b.c"),
    OK("user@example.com", "user", "example.com"),
    OK("Name <a@b.c>", "a", "b.c"),
    OK("<a@b.c>", "a", "b.c"),
    OK("\"Quoted, Name\" <a@b.c>", "a", "b.c"),
    OK("\"Quoted \\\"Name\\\"\" <a@b.c>", "a", "b.c"),
    OK("first.last+tag@sub.example.org", "first.last+tag", "sub.example.org"),
    OK("!#$%&'*+-/=?^_`{|}~@example.com", "!#$%&'*+-/=?^_`{|}~", "example.com"),
    OK("Mixed.Case@Example.COM", "Mixed.Case", "Example.COM"),
    OK("  a@b.c  ", "a", "b.c"),
    OK("Joe <joe@xn--bcher-kva.example>", "joe", "xn--bcher-kva.example"),
    OK("a@b-c.d-e.f", "a", "b-c.d-e.f"),
    OK("a@localhost", "a", "localhost"),
    /* comments */
    OK("(comment) a@b.c", "a", "b.c"),
    OK("a@b.c (comment)", "a", "b.c"),
    OK("Name (c) <a(c)@(c)b.c(c)> (c)", "a", "b.c"),
    OK("a@b.c (nested (comment (with \\) pair)))", "a", "b.c"),
    OK("a@b.c (ctl \x01 ok in comment)", "a", "b.c"),
    /* folding */
    OK("Name\r\n <a@b.c>", "a", "b.c"),
    OK("Name\n\t<a@b.c>", "a", "b.c"),
    OK("\"Folded\r\n Name\" <a@b.c>", "a", "b.c"),
    OK("a@b.c\r\n", "a", "b.c"),
    OK("Long Name\r\n (with comment\r\n  folded) <a@b.c>", "a", "b.c"),
    /* obsolete syntax */
    OK("John Q. Public <JQB@public.example>", "JQB", "public.example"),
    OK("a . b @ c . d", "a.b", "c.d"),
    OK("a(x).(y)b@c.d", "a.b", "c.d"),
    OK("<@x.y:a@b.c>", "a", "b.c"),
    OK("Name <@x.y,@z.w:a@b.c>", "a", "b.c"),
    OK("Name <,@x.y,,@z.w:a@b.c>", "a", "b.c"),
    OK("\"quoted\".atom@b.c", "\"quoted\".atom", "b.c"),
    OK("\"a b\"@b.c", "\"a b\"", "b.c"),
    OK("\"a\\\"b\"@b.c", "\"a\\\"b\"", "b.c"),
    /* domain literals */
    OK("a@[192.0.2.1]", "a", "[192.0.2.1]"),
    OK("a@[IPv6:2001:db8::1]", "a", "[IPv6:2001:db8::1]"),
    OK("a@[ 192.0.2.1 ]", "a", "[192.0.2.1]"),
    /* groups and lists */
    {L("Undisclosed:;"), ADDR_EMPTY, "", "", 0},
    {L("Undisclosed recipients: ;"), ADDR_EMPTY, "", "", 0},
    {L("Team: a@b.c;"), ADDR_OK, "a", "b.c", 1},
    {L("Team: Name <a@b.c>;"), ADDR_OK, "a", "b.c", 1},
    {L("Team: , a@b.c, ;"), ADDR_OK, "a", "b.c", 1},
    {L("Team: a@b.c, d@e.f;"), ADDR_MULTIPLE, "a", "b.c", 2},
    {L("a@b.c, d@e.f"), ADDR_MULTIPLE, "a", "b.c", 2},
    {L("A <a@b.c>, \"D\" <d@e.f>, g@h.i"), ADDR_MULTIPLE, "a", "b.c", 3},
    {L("Team: a@b.c;, d@e.f"), ADDR_MULTIPLE, "a", "b.c", 2},
    OK("a@b.c,", "a", "b.c"),
    OK(", ,a@b.c, ,", "a", "b.c"),
    {L(""), ADDR_EMPTY, "", "", 0},
    {L("   "), ADDR_EMPTY, "", "", 0},
    {L(" (only a comment) "), ADDR_EMPTY, "", "", 0},
    {L(",,"), ADDR_EMPTY, "", "", 0},
    /* UTF-8 (RFC 6532) */
    OK("J\xc3\xbcrgen <j@b.c>", "j", "b.c"),
    OK("\"\xe5\xbc\xa0\xe4\xb8\x89\" <a@b.c>", "a", "b.c"),
    OK("\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\x85\xac\xe5\x8f\xb8",
       "\xe7\x94\xa8\xe6\x88\xb7", "\xe4\xbe\x8b\xe5\xad\x90.\xe5\x85\xac\xe5\x8f\xb8"),
    OK("a@b\xc3\xbc" "cher.example", "a", "b\xc3\xbc" "cher.example"),
    OK("=?utf-8?q?J=C3=BCrgen?= <j@b.c>", "j", "b.c"),
    BAD("J\xc3 <a@b.c>", ADDR_SYNTAX),          /* truncated sequence */
    BAD("J\xc0\xaf <a@b.c>", ADDR_SYNTAX),      /* overlong */
    BAD("a\xed\xa0\x80@b.c", ADDR_SYNTAX),      /* surrogate */
    BAD("a@b\xff.c", ADDR_SYNTAX),
    BAD("\xc2\x85Name <a@b.c>", ADDR_SYNTAX),   /* C1 control NEL */
    /* bytes that never belong */
    BAD("a@b.c\0", ADDR_SYNTAX),
    BAD("a\0@b.c", ADDR_SYNTAX),
    BAD("\"x\0y\" <a@b.c>", ADDR_SYNTAX),
    BAD("a@b.c (x\0y)", ADDR_SYNTAX),
    BAD("Name\r <a@b.c>", ADDR_SYNTAX),
    BAD("Name\r\n<a@b.c>", ADDR_SYNTAX),         /* line break without WSP */
    BAD("a@b.c\r\nBcc: x@y.z", ADDR_SYNTAX),     /* header injection */
    BAD("Na\x01me <a@b.c>", ADDR_SYNTAX),
    BAD("\"Na\x1bme\" <a@b.c>", ADDR_SYNTAX),
    BAD("a@b.c\x7f", ADDR_SYNTAX),
    /* hostile structure */
    BAD("\"unterminated <a@b.c>", ADDR_SYNTAX),
    BAD("a@b.c (unterminated", ADDR_SYNTAX),
    BAD("a@b.c )", ADDR_SYNTAX),
    BAD("Name <a@b.c", ADDR_SYNTAX),
    BAD("Name a@b.c>", ADDR_SYNTAX),
    BAD("<<a@b.c>>", ADDR_SYNTAX),
    BAD("<>", ADDR_SYNTAX),
    BAD("Name <>", ADDR_SYNTAX),
    BAD("a@b@c", ADDR_SYNTAX),
    BAD("<a@b@c.d>", ADDR_SYNTAX),
    BAD("@b.c", ADDR_SYNTAX),
    BAD("a@", ADDR_SYNTAX),
    BAD("a@.b", ADDR_SYNTAX),
    BAD("a@b..c", ADDR_SYNTAX),
    BAD("a@b.c.", ADDR_SYNTAX),
    BAD(".a@b.c", ADDR_SYNTAX),
    BAD("a..b@c.d", ADDR_SYNTAX),
    BAD("a.@b.c", ADDR_SYNTAX),
    BAD("a", ADDR_SYNTAX),
    BAD("Just A Name", ADDR_SYNTAX),
    BAD("a@-b.c", ADDR_SYNTAX),
    BAD("a@b-.c", ADDR_SYNTAX),
    BAD("a@b.c-", ADDR_SYNTAX),
    BAD("a@b!c.d", ADDR_SYNTAX),
    BAD("a@[]", ADDR_SYNTAX),
    BAD("a@[1.2[3]", ADDR_SYNTAX),
    BAD("a@[1.2.3.4", ADDR_SYNTAX),
    BAD("a b@c.d", ADDR_SYNTAX),
    BAD("a@b.c d@e.f", ADDR_SYNTAX),
    BAD("Name <a@b.c> junk", ADDR_SYNTAX),
    BAD("Team: a@b.c", ADDR_SYNTAX),            /* unterminated group */
    BAD("A: B: a@b.c;;", ADDR_SYNTAX),           /* nested group */
    BAD(":;", ADDR_SYNTAX),
    BAD("a@b.c;", ADDR_SYNTAX),
    BAD("Team: a@b.c; d@e.f", ADDR_SYNTAX),
    BAD("<@:a@b.c>", ADDR_SYNTAX),
    BAD("<@x.y a@b.c>", ADDR_SYNTAX),
    BAD(".Name <a@b.c>", ADDR_SYNTAX),
    BAD("Name [x] <a@b.c>", ADDR_SYNTAX),
    BAD("a\\b@c.d", ADDR_SYNTAX),
    BAD("a@b.c]", ADDR_SYNTAX),
    BAD("a@b.c (x\\", ADDR_SYNTAX),
    BAD("\"x\\", ADDR_SYNTAX),
    /* length caps */
    OK("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.c",
       "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "b.c"),
    BAD("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.c", ADDR_TOOLONG),
    BAD("\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"@b.c", ADDR_TOOLONG),
    OK("a@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.c", "a",
       "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.c"),
    BAD("a@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.c", ADDR_TOOLONG),
    BAD("a@b.c ((((((((((((((((((((((((((((((((()))))))))))))))))))))))))))))))))", ADDR_SYNTAX),
    OK("a@b.c (((((((((((((((((((((((((((((((())))))))))))))))))))))))))))))))", "a", "b.c"),
    /* hidden addresses */
    BAD("\"ceo@bank.example\" <attacker@evil.example>", ADDR_HIDDEN),
    BAD("ceo@bank.example <attacker@evil.example>", ADDR_HIDDEN),
    BAD("CEO (ceo@bank.example) <attacker@evil.example>", ADDR_HIDDEN),
    BAD("attacker@evil.example (ceo@bank.example)", ADDR_HIDDEN),
    BAD("\"Bank Support support@bank.example\" <x@evil.example>", ADDR_HIDDEN),
    BAD("\"ceo\\@bank.example\" <x@evil.example>", ADDR_HIDDEN),
    BAD("=?utf-8?q?ceo=40bank.example?= <x@evil.example>", ADDR_HIDDEN),
    BAD("=?utf-8?B?Y2VvQGJhbmsuZXhhbXBsZQ==?= <x@evil.example>", ADDR_HIDDEN),
    BAD("=?utf-8?q?ceo?= =?utf-8?q?=40bank.example?= <x@evil.example>", ADDR_HIDDEN),
    BAD("\"ceo\xef\xbc\xa0" "bank.example\" <x@evil.example>", ADDR_HIDDEN), /* full-width @ */
    BAD("\"a@b.c\" <a@b.c> (d@e.fg)", ADDR_HIDDEN),
    {L("a@b.c (d@e.f)"), ADDR_OK, "a", "b.c", 1}, /* one-letter TLD: not address-shaped */
    BAD("\"Mail ceo@bank.example.\" <x@evil.example>", ADDR_HIDDEN),
    BAD("\"ceo@bank.example\": x@evil.example;", ADDR_HIDDEN),
    {L("\"a@b.c\" <a@b.c>"), ADDR_OK, "a", "b.c", 1},
    {L("\"A@B.C\" <a@b.c>"), ADDR_OK, "a", "b.c", 1},
    {L("a@b.c (a@b.c)"), ADDR_OK, "a", "b.c", 1},
    {L("\"Sales @ ACME\" <a@b.c>"), ADDR_OK, "a", "b.c", 1},
    {L("\"user@localhost\" <a@b.c>"), ADDR_OK, "a", "b.c", 1}, /* no TLD: not address-shaped */
    BAD("a@b <c@d.e>", ADDR_SYNTAX),            /* '@' in phrase, nothing address-shaped */
    BAD("a@b.c <a@b.c>", ADDR_SYNTAX),          /* same address but not a valid phrase */
    /* what a reader shows: encoded-words in their own charset, look-alikes
     * of '@' and '.', bidirectional controls */
    BAD("=?UTF-16BE?B?AGMAZQBvAEAAYgBhAG4AawAuAGUAeABhAG0AcABsAGU=?= <x@evil.example>", ADDR_HIDDEN), /* UTF-16BE encoded-word */
    BAD("=?UTF-16LE?B?YwBlAG8AQABiAGEAbgBrAC4AZQB4AGEAbQBwAGwAZQA=?= <x@evil.example>", ADDR_HIDDEN), /* UTF-16LE */
    BAD("=?UTF-16?B?//5jAGUAbwBAAGIAYQBuAGsALgBlAHgAYQBtAHAAbABlAA==?= <x@evil.example>", ADDR_HIDDEN), /* UTF-16 with a BOM */
    BAD("=?UTF-7?Q?ceo+AEA-bank.example?= <x@evil.example>", ADDR_HIDDEN), /* UTF-7 '@' */
    BAD("=?utf-7?B?Y2VvK0FFQS1iYW5rK0FDNC1leGFtcGxl?= <x@evil.example>", ADDR_HIDDEN), /* UTF-7 '@' and '.', base64 */
    BAD("=?ISO-2022-JP?B?Y2VvGyRCIXcbKEJiYW5rLmV4YW1wbGU=?= <x@evil.example>", ADDR_HIDDEN), /* ISO-2022-JP full-width '@' */
    BAD("=?ISO-2022-JP?Q?ceo=1B$B!w=1B=28Bbank.example?= <x@evil.example>", ADDR_HIDDEN), /* the same, Q-encoded */
    BAD("x@evil.example (ceo\x1b" "$B!w\x1b" "\\(Bbank.example)", ADDR_HIDDEN), /* raw ISO-2022-JP in a comment */
    BAD("=?utf-8*en?q?ceo=40bank.example?= <x@evil.example>", ADDR_HIDDEN), /* RFC 2231 language tag */
    BAD("=?utf-8?q?ceo=EF=B9=ABbank.example?= <x@evil.example>", ADDR_HIDDEN), /* small '@' encoded */
    BAD("\"ceo\xef" "\xb9" "\xab" "bank.example\" <x@evil.example>", ADDR_HIDDEN), /* U+FE6B small '@' */
    BAD("ceo\xef" "\xb9" "\xab" "bank.example <x@evil.example>", ADDR_HIDDEN), /* small '@' in an atom */
    BAD("\"ceo@bank\xe2" "\x80" "\xa4" "example\" <x@evil.example>", ADDR_HIDDEN), /* U+2024 one dot leader */
    BAD("\"ceo@bank\xc2" "\xb7" "example\" <x@evil.example>", ADDR_HIDDEN), /* U+00B7 middle dot */
    BAD("\"ceo\xe2" "\x93" "\x90" "bank\xef" "\xbc" "\x8e" "example\" <x@evil.example>", ADDR_HIDDEN), /* circled a, full-width dot */
    BAD("\"\xe2" "\x80" "\xae" "elpmaxe.knab@oec\xe2" "\x80" "\xac" "\" <x@evil.example>", ADDR_HIDDEN), /* RLO reverses the text */
    BAD("\"\xe2" "\x80" "\xae" "elpmaxe.knab\" <x@evil.example>", ADDR_HIDDEN), /* any bidi control in a display name */
    BAD("News\xe2" "\x80" "\x8f" " <x@evil.example>", ADDR_HIDDEN), /* RLM */
    BAD("\"News\xe2" "\x81" "\xa7" "\" <x@evil.example>", ADDR_HIDDEN), /* RLI */
    BAD("x@evil.example (\xe2" "\x80" "\xae" ")", ADDR_HIDDEN), /* bidi control in a comment */
    BAD("=?utf-8?q?=E2=80=AEelpmaxe.knab=40oec?= <x@evil.example>", ADDR_HIDDEN), /* encoded RLO */
    BAD("\"\xe2" "\x80" "\xae" "abc\"@news.example", ADDR_HIDDEN), /* bidi control in the local part */
    BAD("=?x-no-such-charset?q?ceo=40bank.example?= <x@evil.example>", ADDR_SYNTAX), /* unknown charset: refused, not guessed */
    BAD("=?UTF-16BE?B?AGNl?= <x@evil.example>", ADDR_SYNTAX), /* odd UTF-16 bytes do not decode */
    BAD("=?ISO-2022-JP?B?Gy?= <x@evil.example>", ADDR_SYNTAX), /* broken escape */
    BAD("x@evil.example (\x1b" "$B\xc3" "\xbf" "\x1b" "\\(B)", ADDR_SYNTAX), /* undecodable escape text in a comment */
    OK("=?ISO-8859-1?Q?Caf=E9?= <a@b.c>", "a", "b.c"), /* Latin-1 display name */
    OK("=?UTF-16BE?B?AEMAYQBmAOkAIABOAGUAdwBz?= <a@b.c>", "a", "b.c"), /* UTF-16 display name, no address */
    OK("=?UTF-16BE?B?AGEAQABiAC4AYw==?= <a@b.c>", "a", "b.c"), /* UTF-16 display name showing the mailbox itself */
    OK("=?ISO-2022-JP?B?GyRCRnxLXBsoQg==?= <a@b.c>", "a", "b.c"), /* Japanese display name */
    OK("\"News \xc2" "\xb7" " Weekly\" <a@b.c>", "a", "b.c"), /* middle dot with no address around it */
    OK("\"Caf\xc3" "\xa9" "\xe2" "\x80" "\x8d" "\" <a@b.c>", "a", "b.c"), /* a joiner is not a bidi control */
};
/* clang-format on */

/* Run every From case. */
static void
test_from_table(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(from_cases) / sizeof(from_cases[0]); i++) {
		const struct from_case *c = &from_cases[i];
		struct addr_result r;
		enum addr_status st = addr_parse_from(c->in, c->len, &r);
		if (st != c->want || r.status != st)
			BAD_ROW("case %zu [%s]: got %s (%s), want %s", i, c->in,
				addr_status_name(st), r.why, addr_status_name(c->want));
		assert_non_null(r.why);
		if (c->local != NULL) {
			if (strcmp(r.mbox.local, c->local) != 0 ||
			    strcmp(r.mbox.domain, c->domain) != 0)
				BAD_ROW("case %zu [%s]: got <%s@%s>, want <%s@%s>", i, c->in,
					r.mbox.local, r.mbox.domain, c->local, c->domain);
		}
		if (c->count != (size_t)-1 && r.count != c->count)
			BAD_ROW("case %zu [%s]: count %zu, want %zu", i, c->in, r.count, c->count);
		if ((st == ADDR_SYNTAX || st == ADDR_TOOLONG || st == ADDR_EMPTY) &&
		    r.mbox.local[0])
			BAD_ROW("case %zu: mailbox left set", i);
	}
	assert_int_equal(bad, 0);
}

struct path_case {
	const char *in;
	enum addr_status want;
	const char *local, *domain;
};

/* clang-format off */
static const struct path_case path_cases[] = {
    {"<user@example.com>", ADDR_OK, "user", "example.com"},
    {"user@example.com", ADDR_OK, "user", "example.com"},
    {" <user@example.com> ", ADDR_OK, "user", "example.com"},
    {"<>", ADDR_EMPTY, "", ""},
    {"", ADDR_EMPTY, "", ""},
    {NULL, ADDR_EMPTY, "", ""},
    {"<@a.example,@b.example:user@c.example>", ADDR_OK, "user", "c.example"},
    {"<\"john doe\"@example.com>", ADDR_OK, "\"john doe\"", "example.com"},
    {"<\"a\\\"b\"@example.com>", ADDR_OK, "\"a\\\"b\"", "example.com"},
    {"<bounce+123=x@bounce.example.com>", ADDR_OK, "bounce+123=x", "bounce.example.com"},
    {"<u@[192.0.2.1]>", ADDR_OK, "u", "[192.0.2.1]"},
    {"<\xc3\xbc@b\xc3\xbc" "cher.example>", ADDR_OK, "\xc3\xbc", "b\xc3\xbc" "cher.example"},
    {"<user@example.com", ADDR_SYNTAX, NULL, NULL},
    {"user@example.com>", ADDR_SYNTAX, NULL, NULL},
    {"<<user@example.com>>", ADDR_SYNTAX, NULL, NULL},
    {"<user>", ADDR_SYNTAX, NULL, NULL},
    {"<@example.com>", ADDR_SYNTAX, NULL, NULL},
    {"<user@>", ADDR_SYNTAX, NULL, NULL},
    {"<a@b@c.d>", ADDR_SYNTAX, NULL, NULL},
    {"<a..b@c.d>", ADDR_SYNTAX, NULL, NULL},
    {"<.a@c.d>", ADDR_SYNTAX, NULL, NULL},
    {"<a.@c.d>", ADDR_SYNTAX, NULL, NULL},
    {"<a b@c.d>", ADDR_SYNTAX, NULL, NULL},
    {"<Name a@b.c>", ADDR_SYNTAX, NULL, NULL},
    {"<a@-b.c>", ADDR_SYNTAX, NULL, NULL},
    {"<a@b..c>", ADDR_SYNTAX, NULL, NULL},
    {"<a@b.c.>", ADDR_SYNTAX, NULL, NULL},
    {"<a@b.c (x)>", ADDR_SYNTAX, NULL, NULL},
    {"<\"a\x01\"@b.c>", ADDR_SYNTAX, NULL, NULL},
    {"<a\xc3@b.c>", ADDR_SYNTAX, NULL, NULL},
    {"<\"unterminated@b.c>", ADDR_SYNTAX, NULL, NULL},
    {"<@a.example:>", ADDR_SYNTAX, NULL, NULL},
    {"<@a.example,user@c.example>", ADDR_SYNTAX, NULL, NULL},
    {"<a@[1.2.3.4>", ADDR_SYNTAX, NULL, NULL},
    {"<\xe2\x80\x8fr@example.com>", ADDR_SYNTAX, NULL, NULL}, /* RLM: refused as in From */
    {"<aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@b.c>", ADDR_TOOLONG, NULL,
     NULL},
    {"<a@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.c>", ADDR_TOOLONG, NULL,
     NULL},
};
/* clang-format on */

/* Run every envelope path case. */
static void
test_path_table(void **state)
{
	int bad = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		struct addr_result r;
		enum addr_status st = addr_parse_path(c->in, &r);
		if (st != c->want || r.status != st)
			BAD_ROW("path %zu [%s]: got %s (%s), want %s", i, c->in ? c->in : "(null)",
				addr_status_name(st), r.why, addr_status_name(c->want));
		assert_non_null(r.why);
		if (c->local != NULL &&
		    (strcmp(r.mbox.local, c->local) != 0 || strcmp(r.mbox.domain, c->domain) != 0))
			BAD_ROW("path %zu [%s]: got <%s@%s>", i, c->in, r.mbox.local,
				r.mbox.domain);
	}
	assert_int_equal(bad, 0);
}

/* Bounds: the size cap, an unterminated buffer, a long display name, deep nesting. */
static void
test_bounds(void **state)
{
	struct addr_result r;
	size_t big = ADDR_FIELD_MAX + 1;
	char *buf = malloc(big);
	char *domain = malloc(300);

	(void)state;
	assert_non_null(buf);
	assert_non_null(domain);

	/* longer than the cap, even if it would parse */
	memset(buf, ' ', big);
	memcpy(buf, "a@b.c", 5);
	assert_int_equal(addr_parse_from(buf, big, &r), ADDR_TOOLONG);
	/* exactly at the cap is parsed */
	assert_int_equal(addr_parse_from(buf, ADDR_FIELD_MAX, &r), ADDR_OK);

	/* a display name filling the whole field, with the spoof at its end */
	memset(buf, 'x', ADDR_FIELD_MAX);
	memcpy(buf + ADDR_FIELD_MAX - 40, " ceo@bank.example\" <a@evil.example>", 35);
	buf[0] = '"';
	assert_int_equal(addr_parse_from(buf, ADDR_FIELD_MAX - 5, &r), ADDR_HIDDEN);

	/* the length is honoured: "a@b.c" inside "a@b.cXXX" */
	assert_int_equal(addr_parse_from("a@b.c, d@e.f", 5, &r), ADDR_OK);
	assert_string_equal(r.mbox.domain, "b.c");

	/* domain over 255 octets, with valid labels */
	memset(domain, 0, 300);
	for (size_t i = 0; i < 256; i += 2)
		memcpy(domain + i, "a.", 2);
	memcpy(domain + 256, "cc", 2);
	snprintf(buf, big, "x@%s", domain);
	assert_int_equal(addr_parse_from(buf, strlen(buf), &r), ADDR_TOOLONG);
	snprintf(buf, big, "<x@%s>", domain);
	assert_int_equal(addr_parse_path(buf, &r), ADDR_TOOLONG);
	/* exactly 255 */
	domain[255] = '\0';
	domain[254] = 'c';
	snprintf(buf, big, "x@%s", domain);
	assert_int_equal(addr_parse_from(buf, strlen(buf), &r), ADDR_OK);
	assert_int_equal(strlen(r.mbox.domain), 255);

	/* many mailboxes */
	buf[0] = '\0';
	for (int i = 0; i < 12; i++)
		strcat(buf, "a@b.c,");
	assert_int_equal(addr_parse_from(buf, strlen(buf), &r), ADDR_MULTIPLE);
	assert_int_equal(r.count, 12);
	assert_non_null(strstr(r.why, "more than"));
	assert_int_equal(addr_parse_from(buf, 12, &r), ADDR_MULTIPLE);
	assert_string_equal(r.why, "From holds 2 addresses");

	/* deep nesting is refused, not recursed */
	memset(buf, '(', ADDR_FIELD_MAX);
	assert_int_equal(addr_parse_from(buf, ADDR_FIELD_MAX, &r), ADDR_SYNTAX);

	free(domain);
	free(buf);
}

/* Names of statuses. */
static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(addr_status_name(ADDR_OK), "ok");
	assert_string_equal(addr_status_name(ADDR_EMPTY), "empty");
	assert_string_equal(addr_status_name(ADDR_MULTIPLE), "multiple");
	assert_string_equal(addr_status_name(ADDR_SYNTAX), "syntax");
	assert_string_equal(addr_status_name(ADDR_TOOLONG), "toolong");
	assert_string_equal(addr_status_name(ADDR_HIDDEN), "hidden");
	assert_string_equal(addr_status_name((enum addr_status)99), "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_from_table),
	    cmocka_unit_test(test_path_table),
	    cmocka_unit_test(test_bounds),
	    cmocka_unit_test(test_names),
	};

	printf("addr: %zu From rows, %zu path rows\n", sizeof(from_cases) / sizeof(from_cases[0]),
	       sizeof(path_cases) / sizeof(path_cases[0]));
	return cmocka_run_group_tests(tests, NULL, NULL);
}
