/*
 * test_outcome.c - the decisions that used to sit in the milter glue, now
 * in policy/: how a message ended (abort is its own outcome, not a string
 * that fails to parse), which reply a whole-message refusal gets, what an
 * internal error without a message does under milter.on_internal_error,
 * how DKIM results become the dkim check, and that a refused quarantine
 * never turns into an accept. Table-driven.
 */
#include "config.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"
#include "tests/unit/fixture.h"

/* A registry whose milter.on_internal_error is act ("" : the default). */
static struct registry *
load_with(const char *act, const char *mode)
{
	char text[512];
	snprintf(text, sizeof(text),
		 "%s%s%s policy = { mode = \"%s\"; actions = { dkim = \"reject\"; }; };\n",
		 act[0] ? "milter = { on_internal_error = \"" : "", act, act[0] ? "\"; };\n" : "",
		 mode);
	struct registry *r = fixture_load(text);
	assert_non_null(r);
	return r;
}

static void
test_outcome_names(void **unused)
{
	(void)unused;
	static const struct {
		enum policy_outcome o;
		const char *name;
	} rows[] = {
	    {POLICY_OUT_ACCEPT, "accept"},     {POLICY_OUT_QUARANTINE, "quarantine"},
	    {POLICY_OUT_TEMPFAIL, "tempfail"}, {POLICY_OUT_REJECT, "reject"},
	    {POLICY_OUT_ABORT, "abort"},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_string_equal(policy_outcome_name(rows[i].o), rows[i].name);
	/* every action is an outcome of the same value */
	assert_int_equal((int)POLICY_OUT_REJECT, (int)BW_ACT_REJECT);
	assert_true(policy_refuses(BW_ACT_REJECT));
	assert_true(policy_refuses(BW_ACT_TEMPFAIL));
	assert_false(policy_refuses(BW_ACT_QUARANTINE));
	assert_false(policy_refuses(BW_ACT_ACCEPT));
}

/* No check decided (an internal failure): the reply is internal-error's. */
static void
test_refusal_reply(void **unused)
{
	(void)unused;
	struct registry *r = load_with("", "enforce");
	struct verdict v;
	const char *rc, *xc;
	char text[256];
	policy_verdict_reset(&v);
	policy_refusal(&v, BW_ACT_TEMPFAIL, "ref1", &rc, &xc, text, sizeof(text));
	assert_string_equal(rc, "451");
	assert_string_equal(xc, "4.3.0");
	assert_non_null(strstr(text, "[internal-error]"));
	assert_non_null(strstr(text, "(ref ref1)"));
	policy_fail(r, &v, BW_CHK_RFC5322, "no From");
	policy_refusal(&v, policy_effective(&v), "ref2", &rc, &xc, text, sizeof(text));
	assert_string_equal(rc, "550");
	assert_non_null(strstr(text, "[rfc5322]"));
	policy_end(&v);
	registry_release(r);
}

/* milter.on_internal_error without a message; no snapshot: tempfail. */
static void
test_internal(void **unused)
{
	(void)unused;
	static const struct {
		const char *setting;
		enum bw_action want;
		const char *rcode;
	} rows[] = {
	    {"", BW_ACT_TEMPFAIL, "451"},
	    {"tempfail", BW_ACT_TEMPFAIL, "451"},
	    {"reject", BW_ACT_REJECT, "550"},
	    {"accept", BW_ACT_ACCEPT, NULL},
	};
	const char *rc, *xc, *text;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct registry *r = load_with(rows[i].setting, "enforce");
		assert_int_equal(policy_internal(r, &rc, &xc, &text), rows[i].want);
		if (rows[i].rcode != NULL)
			assert_string_equal(rc, rows[i].rcode);
		assert_non_null(strstr(text, "[internal-error]"));
		registry_release(r);
	}
	assert_int_equal(policy_internal(NULL, &rc, &xc, &text), BW_ACT_TEMPFAIL);
	assert_string_equal(rc, "451");
}

/* DKIM results onto the dkim check (its action here: reject). */
static void
test_dkim(void **unused)
{
	(void)unused;
	static const struct {
		enum policy_dkim d;
		bool failed;
		enum bw_action want;
	} rows[] = {
	    {POLICY_DKIM_SIGNED, false, BW_ACT_ACCEPT},
	    {POLICY_DKIM_VERIFIED, false, BW_ACT_ACCEPT},
	    {POLICY_DKIM_SETUP_FAILED, true, BW_ACT_REJECT},
	    {POLICY_DKIM_SIGN_FAILED, true, BW_ACT_REJECT},
	    {POLICY_DKIM_UNVERIFIED, true, BW_ACT_REJECT},
	    {POLICY_DKIM_MTA_REFUSED, true, BW_ACT_REJECT},  /* at least tempfail */
	    {POLICY_DKIM_VERIFY_ERROR, true, BW_ACT_REJECT}, /* at least tempfail */
	};
	struct registry *r = load_with("", "enforce");
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		struct verdict v;
		policy_verdict_reset(&v);
		assert_int_equal(policy_dkim(r, &v, rows[i].d, "why"), rows[i].want);
		assert_int_equal(v.n_checks, 1);
		assert_int_equal(v.checks[0].id, BW_CHK_DKIM);
		assert_int_equal(v.checks[0].failed, rows[i].failed);
		policy_end(&v);
	}
	/* signatures kept for the event, bounded */
	struct verdict v;
	policy_verdict_reset(&v);
	for (int i = 0; i < VERDICT_MAX_SIGS + 3; i++)
		policy_dkim_sig(&v, "d.example", NULL, "rsa-sha256", 2048, "signed");
	assert_int_equal(v.n_sigs, VERDICT_MAX_SIGS);
	assert_string_equal(v.sigs[0].selector, "");
	assert_int_equal(v.sigs[0].bits, 2048);
	policy_end(&v);
	registry_release(r);
}

/* The MTA refuses to quarantine: at least tempfail, in every mode. */
static void
test_quarantine_refused(void **unused)
{
	(void)unused;
	static const char *const modes[] = {"enforce", "monitor"};
	for (size_t i = 0; i < 2; i++) {
		struct registry *r = load_with("accept", modes[i]);
		struct verdict v;
		policy_verdict_reset(&v);
		enum bw_action a = policy_quarantine_refused(r, &v);
		assert_true(policy_refuses(a));
		assert_int_equal(v.checks[0].id, BW_CHK_INTERNAL_ERROR);
		policy_end(&v);
		registry_release(r);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_outcome_names),      cmocka_unit_test(test_refusal_reply),
	    cmocka_unit_test(test_internal),	       cmocka_unit_test(test_dkim),
	    cmocka_unit_test(test_quarantine_refused),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	fixture_cleanup();
	return rc;
}
