/*
 * test_event.c - JSON escaping and bounds: nothing from the wire can end the
 * line, close a string or forge a field; a full line still parses.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "policy/event.h"

struct esc_row {
	const char *in;
	size_t len;
	const char *want; /* the whole line */
};

#define ROW(s, w) {s, sizeof(s) - 1, w}

static const struct esc_row esc_rows[] = {
	ROW("plain", "{\"k\":\"plain\"}\n"),
	ROW("a\"b", "{\"k\":\"a\\\"b\"}\n"),
	ROW("a\\b", "{\"k\":\"a\\\\b\"}\n"),
	ROW("line\r\nX-Forged: 1", "{\"k\":\"line\\u000d\\u000aX-Forged: 1\"}\n"),
	ROW("nul\0byte", "{\"k\":\"nul\\u0000byte\"}\n"),
	ROW("tab\tdel\x7f", "{\"k\":\"tab\\u0009del\\u007f\"}\n"),
	ROW("caf\xc3\xa9", "{\"k\":\"caf\xc3\xa9\"}\n"),             /* valid UTF-8 kept */
	ROW("bad\xc3", "{\"k\":\"bad\\u00c3\"}\n"),                  /* truncated sequence */
	ROW("\xc0\xaf", "{\"k\":\"\\u00c0\\u00af\"}\n"),             /* overlong */
	ROW("\xed\xa0\x80", "{\"k\":\"\\u00ed\\u00a0\\u0080\"}\n"),  /* surrogate */
	ROW("\xf4\x90\x80\x80", "{\"k\":\"\\u00f4\\u0090\\u0080\\u0080\"}\n"), /* > U+10FFFF */
	ROW("\xf0\x9f\x93\xa7", "{\"k\":\"\xf0\x9f\x93\xa7\"}\n"),   /* emoji kept */
	ROW("\",\"event.action\":\"accept", "{\"k\":\"\\\",\\\"event.action\\\":\\\"accept\"}\n"),
};

static void
test_escaping(void **unused)
{
	static struct jbuf j;
	for (size_t i = 0; i < sizeof(esc_rows) / sizeof(esc_rows[0]); i++) {
		jbuf_begin(&j);
		jbuf_strn(&j, "k", esc_rows[i].in, esc_rows[i].len);
		jbuf_end(&j);
		print_message("row %zu\n", i);
		assert_string_equal(j.buf, esc_rows[i].want);
	}
}

static void
test_types(void **unused)
{
	static struct jbuf j;
	jbuf_begin(&j);
	jbuf_num(&j, "n", -42);
	jbuf_bool(&j, "b", true);
	jbuf_array_begin(&j, "a");
	jbuf_object_begin(&j, NULL);
	jbuf_str(&j, "id", "x");
	jbuf_object_end(&j);
	jbuf_object_begin(&j, NULL);
	jbuf_object_end(&j);
	jbuf_array_end(&j);
	jbuf_str(&j, "s", NULL);
	jbuf_end(&j);
	assert_string_equal(j.buf, "{\"n\":-42,\"b\":true,\"a\":[{\"id\":\"x\"},{}],\"s\":\"\"}\n");
	/* jbuf_raw: a prebuilt value, as a member and as an array element */
	jbuf_begin(&j);
	jbuf_raw(&j, "d", "{\"m\":1}", 7);
	jbuf_array_begin(&j, "a");
	jbuf_raw(&j, NULL, "2", 1);
	jbuf_raw(&j, NULL, "{}", 2);
	jbuf_array_end(&j);
	jbuf_end(&j);
	assert_string_equal(j.buf, "{\"d\":{\"m\":1},\"a\":[2,{}]}\n");
	jbuf_begin(&j);
	jbuf_timestamp(&j, "@timestamp", 1768435200LL, 7);
	jbuf_end(&j);
	assert_string_equal(j.buf, "{\"@timestamp\":\"2026-01-15T00:00:00.007Z\"}\n");
	/* the per-second cache: same second, another millisecond; then the next
	 * second; out-of-range milliseconds are clamped */
	static const struct {
		long long sec;
		long msec;
		const char *want;
	} ts[] = {
	    {1768435200LL, 999, "{\"t\":\"2026-01-15T00:00:00.999Z\"}\n"},
	    {1768435201LL, 0, "{\"t\":\"2026-01-15T00:00:01.000Z\"}\n"},
	    {1768435201LL, 1000, "{\"t\":\"2026-01-15T00:00:01.999Z\"}\n"},
	    {1772323199LL, -5, "{\"t\":\"2026-02-28T23:59:59.000Z\"}\n"},
	    {1768435200LL, 42, "{\"t\":\"2026-01-15T00:00:00.042Z\"}\n"},
	};
	for (size_t i = 0; i < sizeof(ts) / sizeof(ts[0]); i++) {
		jbuf_begin(&j);
		jbuf_timestamp(&j, "t", ts[i].sec, ts[i].msec);
		jbuf_end(&j);
		assert_string_equal(j.buf, ts[i].want);
	}
	/* integers without printf, the extremes included */
	static const struct {
		long long v;
		const char *want;
	} nums[] = {
	    {0, "{\"n\":0}\n"},
	    {7, "{\"n\":7}\n"},
	    {-1, "{\"n\":-1}\n"},
	    {1000000, "{\"n\":1000000}\n"},
	    {9223372036854775807LL, "{\"n\":9223372036854775807}\n"},
	    {-9223372036854775807LL - 1, "{\"n\":-9223372036854775808}\n"},
	};
	for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++) {
		jbuf_begin(&j);
		jbuf_num(&j, "n", nums[i].v);
		jbuf_end(&j);
		assert_string_equal(j.buf, nums[i].want);
	}
}

/* The escaper's contract, one byte at a time (no fast paths). */
static size_t
ref_escape(const unsigned char *in, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0, k;
	for (size_t i = 0; i < n;) {
		unsigned char c = in[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
			i++;
		} else if (c >= 0x20 && c < 0x7f) {
			out[o++] = (char)c;
			i++;
		} else if (c >= 0x80 && (k = bw_utf8_len(in + i, n - i)) != 0) {
			memcpy(out + o, in + i, k);
			o += k;
			i += k;
		} else {
			o += (size_t)sprintf(out + o, "\\u00%c%c", hex[c >> 4], hex[c & 15]);
			i++;
		}
	}
	return o;
}

/* The word-at-a-time scan agrees with the byte-at-a-time contract on
 * random strings dense in bytes that need escaping, at every alignment. */
static void
test_escaping_random(void **unused)
{
	static struct jbuf j;
	static const unsigned char special[] = {'"', '\\', 0, '\n', 0x1f, 0x20, 0x7e, 0x7f, 0x80,
						0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0xff};
	unsigned char in[160];
	char want[160 * 6 + 16];
	srand(20261201);
	for (int round = 0; round < 20000; round++) {
		size_t n = (size_t)(rand() % 150);
		for (size_t i = 0; i < n; i++)
			in[i] = rand() % 4 == 0 ? special[rand() % sizeof(special)]
						: (unsigned char)('a' + rand() % 26);
		jbuf_begin(&j);
		jbuf_strn(&j, "k", (const char *)in, n);
		jbuf_end(&j);
		size_t w = 0;
		w += (size_t)sprintf(want, "{\"k\":\"");
		w += ref_escape(in, n, want + w);
		w += (size_t)sprintf(want + w, "\"}\n");
		if (j.len != w || memcmp(j.buf, want, w) != 0)
			fail_msg("round %d (length %zu): got %.*s want %.*s", round, n, (int)j.len,
				 j.buf, (int)w, want);
	}
}

/* Count unescaped structure to check a line is balanced and single. */
static void
assert_balanced(const char *s, size_t len)
{
	int depth = 0;
	bool in_str = false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
			else
				assert_true((unsigned char)c >= 0x20);
			continue;
		}
		if (c == '"')
			in_str = true;
		else if (c == '{' || c == '[')
			depth++;
		else if (c == '}' || c == ']')
			depth--;
		else if (c == '\n')
			assert_int_equal(i, len - 1);
	}
	assert_false(in_str);
	assert_int_equal(depth, 0);
	assert_int_equal(s[len - 1], '\n');
}

static void
test_truncation(void **unused)
{
	static struct jbuf j;
	size_t big = EVENT_LINE_MAX * 2;
	char *v = malloc(big);
	assert_non_null(v);
	memset(v, '"', big); /* worst case: every byte doubles */
	jbuf_begin(&j);
	jbuf_str(&j, "first", "kept");
	jbuf_array_begin(&j, "checks");
	jbuf_object_begin(&j, NULL);
	jbuf_strn(&j, "detail", v, big);
	jbuf_str(&j, "after", "dropped");
	jbuf_object_end(&j);
	jbuf_array_end(&j);
	jbuf_str(&j, "last", "dropped too");
	size_t n = jbuf_end(&j);
	assert_true(n < EVENT_LINE_MAX);
	assert_true(j.truncated);
	assert_balanced(j.buf, n);
	assert_non_null(strstr(j.buf, "\"first\":\"kept\""));
	assert_non_null(strstr(j.buf, "\"event.truncated\":true"));
	assert_null(strstr(j.buf, "dropped"));

	/* many small members: the line fills up member by member */
	jbuf_begin(&j);
	for (int i = 0; i < 5000; i++)
		jbuf_strn(&j, "k", "\n\n\n\n", 4);
	n = jbuf_end(&j);
	assert_true(j.truncated);
	assert_balanced(j.buf, n);
	free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_escaping_random),
		cmocka_unit_test(test_types),
		cmocka_unit_test(test_truncation),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
