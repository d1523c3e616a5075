/*
 * test_listunsub.c - table-driven tests for policy/listunsub.c: the
 * List-Unsubscribe field (RFC 2369 list, RFC 3986 URIs) as the RFC 8058
 * one-click check reads it, hostile and malformed values included.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "policy/listunsub.h"

struct lu_row {
	const char *in;
	size_t len;
	bool ok;
	const char *why; /* substring of the reason when !ok */
};

#define L(s) s, sizeof(s) - 1

/* clang-format off */
#define OK(s) {L(s), true, NULL}
#define BAD(s, w) {L(s), false, w}
static const struct lu_row rows[] = {
    OK("<https://news.example.com/u/1>"),
    OK("<https://news.example.com>"),
    OK("<HTTPS://News.Example.COM/u?id=1&t=a%2Fb#top>"),
    OK("<https://news.example.com:8443/u/1>"),
    OK("<mailto:u@news.example.com?subject=unsubscribe>, <https://news.example.com/u/1>"),
    OK("<https://news.example.com/u/1>,<mailto:u@news.example.com>"),
    OK("  <https://news.example.com/u/1>  "),
    OK("<https://news.example.com/u/1> (one click),\r\n\t<mailto:u@news.example.com>"),
    OK("<https://a.example/!$&'()*+,;=:@-._~/x>"),
    OK("<https://xn--bcher-kva.example/u>"),
    /* the bypasses: no host, an unclosed bracket swallowing the next */
    BAD("<https:// >", "space or control"),
    BAD("<https://x <mailto:a@b>", "unbalanced angle brackets"),
    BAD("<https://>", "without a host"),
    BAD("<https:///path>", "without a host"),
    BAD("<https://x>", "not a host name"),
    BAD("<https://-x.example/>", "not a host name"),
    BAD("<https://x-.example/>", "not a host name"),
    BAD("<https://a..example/>", "not a host name"),
    BAD("<https://192.0.2.1/u>", "not a host name"),
    BAD("<https://[2001:db8::1]/u>", "not a host name"),
    BAD("<https://b%61nk.example/u>", "not a host name"),
    BAD("<https://bank.example@evil.example/u>", "user information"),
    BAD("<https://news.example.com:0/u>", "bad port"),
    BAD("<https://news.example.com:99999/u>", "bad port"),
    BAD("<https://news.example.com:/u>", "bad port"),
    BAD("<https://news.example.com:8x/u>", "bad port"),
    BAD("<https:news.example.com/u>", "without \"//\""),
    BAD("<https://news.example.com/u 1>", "space or control"),
    BAD("<https://news.example.com/u\t1>", "space or control"),
    BAD("<https://news.example.com/u\r\n 1>", "space or control"),
    BAD("<https://news.example.com/\x01>", "space or control"),
    BAD("<https://news.example.com/caf\xc3\xa9>", "non-ASCII"),
    BAD("<https://news.example.com/%zz>", "percent-encoding"),
    BAD("<https://news.example.com/%4>", "percent-encoding"),
    BAD("<https://news.example.com/a#b#c>", "two '#'"),
    BAD("<https://news.example.com/\"x\">", "not allowed"),
    BAD("<https://news.example.com/{x}>", "not allowed"),
    BAD("<https://news.example.com/[x]>", "'[' or ']'"),
    BAD("<https://news.example.com/u>>", "text outside angle brackets"),
    BAD("<https://news.example.com/u", "unbalanced angle brackets"),
    BAD("https://news.example.com/u", "text outside angle brackets"),
    BAD("<<https://news.example.com/u>>", "unbalanced angle brackets"),
    BAD("<https://news.example.com/u> <mailto:u@x.example>", "not separated by ','"),
    BAD("<https://news.example.com/u> junk", "text outside angle brackets"),
    BAD("<https://news.example.com/u>,", "',' without a URI"),
    BAD(", <https://news.example.com/u>", "text outside angle brackets"),
    BAD("<https://news.example.com/u>, , <mailto:u@x.example>", "text outside angle brackets"),
    BAD("<>", "empty URI"),
    BAD("<//news.example.com/u>", "without a scheme"),
    BAD("<news.example.com/u>", "without a scheme"),
    BAD("<1https://news.example.com/u>", "without a scheme"),
    BAD("<mailto:>", "nothing after its scheme"),
    BAD("<mailto:u@news.example.com>", "no https URI"),
    BAD("<http://news.example.com/u>", "no https URI"),
    BAD("<httpsx://news.example.com/u>", "no https URI"),
    BAD("", "no URI"),
    BAD("   ", "no URI"),
    BAD("<https://news.example.com/u> (unterminated", "unterminated comment"),
    BAD("<https://news.example.com/u> ((((((((((deep))))))))))", "nested too deep"),
    BAD("<https://news.example.com/u\0x>", "space or control"),
    BAD("<https://news.example.com/u> (a\0b)", "control character in a comment"),
    BAD("<https://news.example.com/u> (a\\\0b)", "control character in a comment"),
    OK("<https://news.example.com/u> (caf\xc3\xa9 \\) \\( )"),
};
/* clang-format on */

static void
test_rows(void **unused)
{
	int bad = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct lu_row *t = &rows[i];
		const char *why = NULL;
		bool ok = listunsub_https(t->in, t->len, &why);
		if (ok != t->ok || (!ok && (why == NULL || strstr(why, t->why) == NULL))) {
			print_error("row %zu \"%.*s\": got %s (%s), want %s (%s)\n", i, (int)t->len,
				    t->in, ok ? "ok" : "refused", why ? why : "-",
				    t->ok ? "ok" : "refused", t->why ? t->why : "-");
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* More URIs than LISTUNSUB_URIS_MAX are refused; the bound itself passes. */
static void
test_bound(void **unused)
{
	char buf[LISTUNSUB_URIS_MAX * 40 + 64];
	size_t n = 0;
	const char *why;
	for (int i = 0; i < LISTUNSUB_URIS_MAX; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s<https://a.example/%d>",
				      i ? "," : "", i);
	assert_true(listunsub_https(buf, n, &why));
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",<https://a.example/x>");
	assert_false(listunsub_https(buf, n, &why));
	assert_string_equal(why, "too many URIs");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
