/*
 * test_strbuf.c - base/strbuf: appends keep what fits, always end in NUL,
 * report a cut, drop everything after one, and mark it when asked.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "base/strbuf.h"

struct row {
	const char *name;
	size_t size;
	const char *parts[4]; /* appended with bw_sbuf_join(", ") */
	const char *mark;     /* NULL: none */
	const char *want;
	bool cut;
};

static const struct row rows[] = {
    {"fits", 32, {"a", "b", "c"}, "...", "a, b, c", false},
    {"exactly full", 8, {"abc", "de"}, "...", "abc, de", false},
    {"one byte over", 7, {"abc", "de"}, NULL, "abc, d", true},
    {"cut then marked", 7, {"abc", "de"}, "...", "abc...", true},
    {"nothing after a cut", 6, {"abcdefgh", "x"}, NULL, "abcde", true},
    {"tilde mark", 4, {"abcdef"}, "~", "ab~", true},
    {"mark longer than buffer: unmarked", 3, {"abcdef"}, "...", "ab", true},
    {"size 1", 1, {"a"}, "~", "", true},
    {"empty parts add no separator", 8, {"", "", "a"}, NULL, "a", false},
};

static void
test_rows(void **state BW_UNUSED)
{
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		char buf[64];
		struct bw_sbuf b;
		print_message("row: %s\n", r->name);
		memset(buf, 'Z', sizeof(buf));
		bw_sbuf_init(&b, buf, r->size);
		bool all = true;
		for (size_t k = 0; k < 4 && r->parts[k] != NULL; k++)
			all &= bw_sbuf_join(&b, ", ", r->parts[k]);
		if (r->mark != NULL)
			bw_sbuf_mark_cut(&b, r->mark);
		assert_string_equal(buf, r->want);
		assert_int_equal(b.len, strlen(buf));
		assert_int_equal(b.cut, r->cut);
		assert_int_equal(all, !r->cut);
		assert_int_equal(buf[r->size], 'Z'); /* not a byte past the bound */
	}
}

static void
test_fmt(void **state BW_UNUSED)
{
	char buf[8];
	assert_true(bw_fmt(buf, sizeof(buf), "%d-%s", 42, "ok"));
	assert_string_equal(buf, "42-ok");
	assert_false(bw_fmt(buf, sizeof(buf), "%s", "0123456789"));
	assert_string_equal(buf, "0123456");
	struct bw_sbuf b;
	bw_sbuf_init(&b, buf, 0); /* no room at all: every append is a cut */
	assert_false(bw_sbuf_printf(&b, "x"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rows),
	    cmocka_unit_test(test_fmt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
