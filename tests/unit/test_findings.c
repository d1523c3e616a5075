/*
 * test_findings.c - governance findings (ctl/findings.c) that depend on the
 * settings table: policy.governance.dormant_days decides which identities
 * are dormant and which domains unused; the changed-since-approval finding
 * counts by UTC day.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "base/util.h"
#include "ctl/findings.h"
#include "registry/registry.h"
#include "tests/unit/fixture.h"

#define DAY 86400LL

#define ID(id, dom)                                                                                \
	"{ id = \"" id "\"; description = \"d\"; class = \"transactional\";\n"                     \
	"  owners = { dns = \"dns@example.com\"; platform = \"p@example.com\"; compliance = "      \
	"\"c@example.com\"; };\n"                                                                  \
	"  approval = { by = \"ciso@example.com\"; date = \"2026-01-15\"; ticket = \"T\"; };\n"    \
	"  lifecycle = { decommission = \"2099-01-01\"; };\n"                                      \
	"  credentials = { networks = [\"10.1.0.0/24\"]; };\n"                                     \
	"  envelope_domains = [\"" dom "\"]; }"

/* The findings of rule rid, as "identity/subject" joined by spaces. */
static const char *
which(const struct finding_list *l, const char *rid, char *buf, size_t len)
{
	size_t o = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].rule->id, rid) == 0 && o < len) {
			int n = snprintf(buf + o, len - o, "%s%s/%s", o ? " " : "",
					 l->v[i].identity, l->v[i].subject);
			o += n > 0 ? (size_t)n : 0;
		}
	return buf;
}

/* dormant_days = 10: an identity idle for 11 days is dormant, one idle for
 * 9 days is not; the same for their domains. The default is 90. */
static void
test_dormant_days(void **state)
{
	(void)state;
	char buf[256];
	long long now;
	bw_parse_date("2026-06-01", &now);
	now += 12 * 3600;
	struct registry *r = fixture_load("policy = { governance = { dormant_days = 10; }; };\n"
					  "identities = (" ID("idle11", "a.example.com") ",\n" ID(
					      "idle9", "b.example.com") ");\n");
	assert_non_null(r);
	assert_int_equal(r->set.dormant_days, 10);
	struct finding_activity act[2] = {{.last_seen = now - 11 * DAY},
					  {.last_seen = now - 9 * DAY}};
	struct finding_list fl;
	assert_int_equal(findings_eval(r, act, now, &fl), 0);
	assert_string_equal(which(&fl, "dormant", buf, sizeof(buf)), "idle11/");
	assert_string_equal(which(&fl, "domain-unused", buf, sizeof(buf)), "/a.example.com");
	for (size_t i = 0; i < fl.n; i++)
		if (strcmp(fl.v[i].rule->id, "domain-unused") == 0)
			assert_string_equal(fl.v[i].detail,
					    "no message for a.example.com in 10 days");
	findings_free(&fl);
	registry_release(r);

	/* the default: neither is dormant */
	r = fixture_load("identities = (" ID("idle11", "a.example.com") ",\n" ID(
	    "idle9", "b.example.com") ");\n");
	assert_non_null(r);
	assert_int_equal(r->set.dormant_days, 90);
	assert_int_equal(findings_eval(r, act, now, &fl), 0);
	assert_string_equal(which(&fl, "dormant", buf, sizeof(buf)), "");
	assert_string_equal(which(&fl, "domain-unused", buf, sizeof(buf)), "");
	findings_free(&fl);
	registry_release(r);

	/* bounds: 0 and 3651 are refused */
	assert_null(fixture_load("policy = { governance = { dormant_days = 0; }; };\n"));
	assert_null(fixture_load("policy = { governance = { dormant_days = 3651; }; };\n"));
	assert_null(fixture_load("policy = { governance = { bogus = 1; }; };\n"));
}

/* changed-since-approval: a change on the approval day is covered, one on
 * a later day is a finding. */
static void
test_changed_since_approval(void **state)
{
	(void)state;
	char buf[256];
	long long now, appr;
	bw_parse_date("2026-06-01", &now);
	bw_parse_date("2026-01-15", &appr);
	struct registry *r = fixture_load("identities = (" ID("sameday", "a.example.com") ",\n" ID(
	    "later", "b.example.com") ");\n");
	assert_non_null(r);
	struct finding_activity act[2] = {{.last_seen = now, .last_change = appr + 23 * 3600},
					  {.last_seen = now, .last_change = appr + DAY}};
	struct finding_list fl;
	assert_int_equal(findings_eval(r, act, now, &fl), 0);
	assert_string_equal(which(&fl, "changed-since-approval", buf, sizeof(buf)), "later/");
	findings_free(&fl);
	registry_release(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_dormant_days),
	    cmocka_unit_test(test_changed_since_approval),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	fixture_cleanup();
	return rc;
}
