/*
 * test_reset.c - the per-message reset leaves nothing of one message for
 * the next. Built with BW_TEST_SENTINEL, which adds a member at the end of
 * struct verdict, struct hdr_facts and struct msgctx (as a developer adding
 * a field would); each struct is poisoned with 0xA5, reset, and every byte
 * is checked: zero, or inside a buffer the reset table lists (a string
 * there is emptied), or a field whose reset value is not zero.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "milter/msg.h"
#include "policy/policy.h"

#ifndef BW_TEST_SENTINEL
#error "test_reset needs -DBW_TEST_SENTINEL"
#endif

#define POISON 0xA5

/* true when byte i of a verdict lies in a listed buffer; *first when it is
 * the first byte of a string buffer (reset empties it). */
static bool
in_buffer(size_t i, bool *first)
{
	size_t off, len;
	bool string;
	*first = false;
	for (size_t k = 0; policy_verdict_buf(k, &off, &len, &string); k++)
		if (i >= off && i < off + len) {
			*first = string && i == off;
			return true;
		}
	return false;
}

/* Every byte of *v at its reset value. */
static void
check_verdict(const struct verdict *v)
{
	const unsigned char *p = (const unsigned char *)v;
	size_t dec = offsetof(struct verdict, decider);
	assert_int_equal(v->would, BW_ACT_ACCEPT);
	assert_int_equal(v->decider, BW_CHK__COUNT);
	assert_int_equal(v->test_sentinel, 0);
	assert_int_equal(v->hdrs.test_sentinel, 0);
	assert_null(v->hdrs.from);
	for (size_t i = 0; i < sizeof(*v); i++) {
		bool first;
		if (i >= dec && i < dec + sizeof(v->decider))
			continue;
		if (in_buffer(i, &first)) {
			if (first)
				assert_int_equal(p[i], 0);
			continue;
		}
		if (p[i] != 0)
			fail_msg("verdict byte %zu not reset (0x%02x)", i, p[i]);
	}
}

/* The reset table: ascending, inside the struct, not overlapping. */
static void
test_table(void **unused)
{
	size_t off, len, at = 0;
	bool string;
	(void)unused;
	for (size_t k = 0; policy_verdict_buf(k, &off, &len, &string); k++) {
		assert_true(off >= at);
		at = off + len;
		assert_true(at <= sizeof(struct verdict));
	}
	/* the fields added last are outside every listed buffer */
	bool first;
	assert_false(in_buffer(offsetof(struct verdict, test_sentinel), &first));
	assert_false(in_buffer(offsetof(struct verdict, hdrs.test_sentinel), &first));
}

/* A poisoned verdict comes out of policy_verdict_reset() clean. */
static void
test_verdict(void **unused)
{
	(void)unused;
	struct verdict *v = malloc(sizeof(*v));
	assert_non_null(v);
	memset(v, POISON, sizeof(*v));
	policy_verdict_reset(v);
	check_verdict(v);
	assert_int_equal(v->n_checks, 0);
	assert_string_equal(v->login, "");
	assert_string_equal(v->hdrs.from_domain, "");
	free(v);
}

/* A poisoned message context comes out of msg_reset() clean: the verdict
 * as above, every byte after it zero (no message open). */
static void
test_msg(void **unused)
{
	(void)unused;
	struct msgctx *m = malloc(sizeof(*m));
	assert_non_null(m);
	memset(m, POISON, sizeof(*m));
	msg_reset(m);
	check_verdict(&m->v);
	assert_false(msg_is_open(m));
	assert_int_equal(m->test_sentinel, 0);
	assert_null(m->dkim);
	assert_string_equal(m->queue_id, "");
	const unsigned char *p = (const unsigned char *)m;
	for (size_t i = offsetof(struct msgctx, v) + sizeof(m->v); i < sizeof(*m); i++)
		if (p[i] != 0)
			fail_msg("msgctx byte %zu not reset (0x%02x)", i, p[i]);
	/* cleanup of a reset context is a no-op, and resets again */
	msg_cleanup(m);
	check_verdict(&m->v);
	free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_table),
	    cmocka_unit_test(test_verdict),
	    cmocka_unit_test(test_msg),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
