/*
 * test_registry.c - addresses and prefixes, domain normalization and
 * matching, registry indexes (login, id, network), lifecycle, a large
 * registry's lookups, the per-identity diff and the re-approval rule
 * (registry_note_change, and milter/reapproval.c's carry over a reload).
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

#include "base/arena.h"
#include "base/util.h"
#include "registry/cidr.h"
#include "registry/diff.h"
#include "registry/domain.h"
#include "milter/reapproval.h"
#include "registry/registry.h"
#include "tests/unit/fixture.h"

struct cidr_row {
	const char *net, *addr;
	bool parses, contains;
};

static const struct cidr_row cidr_rows[] = {
	{"10.20.0.0/24", "10.20.0.5", true, true},
	{"10.20.0.0/24", "10.20.1.5", true, false},
	{"10.20.0.7/24", "10.20.0.200", true, true}, /* host bits masked */
	{"10.20.0.5", "10.20.0.5", true, true},
	{"10.20.0.5", "10.20.0.6", true, false},
	{"0.0.0.0/0", "192.0.2.1", true, true},
	{"0.0.0.0/0", "2001:db8::1", true, false}, /* v4 /0 is not all of v6 */
	{"2001:db8::/32", "2001:db8:ffff::1", true, true},
	{"2001:db8::/32", "2001:db9::1", true, false},
	{"2001:db8::/32", "IPv6:2001:db8::1", true, true}, /* Postfix/Sendmail form */
	{"::ffff:10.0.0.0/104", "10.1.2.3", true, true},
	{"10.0.0.0/33", "10.0.0.1", false, false},
	{"10.0.0.0/-1", "10.0.0.1", false, false},
	{"10.0.0.0/", "10.0.0.1", false, false},
	{"10.0.0.256/8", "10.0.0.1", false, false},
	{"not-an-address", "10.0.0.1", false, false},
	{"2001:db8::/129", "2001:db8::1", false, false},
	{"10.0.0.0/8x", "10.0.0.1", false, false},
};

static void
test_cidr(void **unused)
{
	for (size_t i = 0; i < sizeof(cidr_rows) / sizeof(cidr_rows[0]); i++) {
		const struct cidr_row *t = &cidr_rows[i];
		struct cidr n;
		struct cidr_addr a;
		print_message("row: %s %s\n", t->net, t->addr);
		assert_int_equal(cidr_parse(t->net, &n), t->parses);
		if (!t->parses)
			continue;
		assert_true(cidr_parse_addr(t->addr, &a));
		assert_int_equal(cidr_contains(&n, &a), t->contains);
	}
	struct cidr_addr a;
	assert_false(cidr_parse_addr("", &a));
	assert_false(cidr_parse_addr("10.0.0.1 ", &a));
	char big[200];
	memset(big, '1', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_false(cidr_parse_addr(big, &a));
	char out[64];
	assert_true(cidr_parse_addr("[2001:DB8::1]", &a));
	cidr_addr_format(&a, out, sizeof(out));
	assert_string_equal(out, "2001:db8::1");
	assert_true(cidr_parse_addr("10.9.8.7", &a));
	cidr_addr_format(&a, out, sizeof(out));
	assert_string_equal(out, "10.9.8.7");
}

struct dom_row {
	const char *in;
	const char *out; /* NULL: invalid */
};

static const struct dom_row dom_rows[] = {
	{"Example.COM", "example.com"},
	{"example.com.", "example.com"},
	{"b\xc3\xbc" "cher.example", "xn--bcher-kva.example"},
	{"xn--bcher-kva.example", "xn--bcher-kva.example"},
	{"B\xc3\x9c" "CHER.example", "xn--bcher-kva.example"},
	{"a_b.example", "a_b.example"},
	{"[192.0.2.1]", "[192.0.2.1]"},
	{"", NULL},
	{".", NULL},
	{"a..b", NULL},
	{".a.b", NULL},
	{"-a.b", NULL},
	{"a-.b", NULL},
	{"a b.example", NULL},
	{"a\"b.example", NULL},
	{"\xff\xfe.example", NULL},
	{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", NULL}, /* 64 */
};

static void
test_domain(void **unused)
{
	char out[DOMAIN_MAX + 1];
	for (size_t i = 0; i < sizeof(dom_rows) / sizeof(dom_rows[0]); i++) {
		const struct dom_row *t = &dom_rows[i];
		print_message("row: %s\n", t->in);
		bool ok = domain_normalize(t->in, strlen(t->in), out);
		assert_int_equal(ok, t->out != NULL);
		if (ok)
			assert_string_equal(out, t->out);
	}
	/* 256 octets is one too many */
	char longname[300];
	size_t n = 0;
	while (n < 256) {
		memcpy(longname + n, "abcdefg.", 8);
		n += 8;
	}
	longname[256] = '\0';
	longname[255] = 'x';
	assert_false(domain_normalize(longname, 256, out));
	/* embedded NUL */
	assert_false(domain_normalize("a\0b.example", 11, out));

	assert_true(domain_normalize_pattern("*.Bounce.Example.com", out));
	assert_string_equal(out, "*.bounce.example.com");
	assert_false(domain_normalize_pattern("*bounce.example.com", out));
	assert_false(domain_normalize_pattern("[1.2.3.4]", out));
	assert_true(domain_match("*.b.example", "a.b.example"));
	assert_true(domain_match("*.b.example", "x.a.b.example"));
	assert_false(domain_match("*.b.example", "b.example"));
	assert_false(domain_match("*.b.example", "ab.example"));
	assert_true(domain_match("b.example", "b.example"));
	assert_false(domain_match("b.example", "a.b.example"));
}

static long long jun2026;

static void
test_lookups(void **unused)
{
	struct registry *r = fixture_load(fixture_conf);
	assert_non_null(r);
	assert_string_equal(registry_by_login(r, "svc-news")->id, "newsletter");
	assert_null(registry_by_login(r, "svc-News"));
	assert_null(registry_by_login(r, ""));
	assert_string_equal(registry_by_id(r, "receipts")->id, "receipts");
	assert_null(registry_by_id(r, "nope"));

	const struct bw_identity *out[8];
	struct cidr_addr a;
	assert_true(cidr_parse_addr("10.30.0.9", &a));
	size_t n = registry_by_network(r, &a, out, 8);
	assert_int_equal(n, 2); /* receipts /24 and billing /16 */
	/* most specific first */
	assert_string_equal(out[0]->id, "receipts");
	assert_string_equal(out[1]->id, "billing");
	assert_true(cidr_parse_addr("10.30.200.1", &a));
	assert_int_equal(registry_by_network(r, &a, out, 8), 1);
	assert_true(cidr_parse_addr("192.0.2.1", &a));
	assert_int_equal(registry_by_network(r, &a, out, 8), 0);
	/* max bounds what is stored, not what is counted */
	assert_true(cidr_parse_addr("10.30.0.9", &a));
	assert_int_equal(registry_by_network(r, &a, out, 1), 2);
	assert_string_equal(out[0]->id, "receipts");

	const char *why;
	assert_int_equal(registry_lifecycle(registry_by_id(r, "newsletter"), jun2026, &why),
			 BW_LIFE_ACTIVE);
	assert_int_equal(registry_lifecycle(registry_by_id(r, "old"), jun2026, &why),
			 BW_LIFE_RETIRED);
	assert_int_equal(registry_lifecycle(registry_by_id(r, "unowned"), jun2026, &why),
			 BW_LIFE_PENDING);
	assert_non_null(strstr(why, "compliance"));
	assert_int_equal(registry_lifecycle(registry_by_id(r, "future"), jun2026, &why),
			 BW_LIFE_PENDING);
	long long feb2027;
	assert_true(bw_parse_date("2027-02-01", &feb2027));
	assert_int_equal(registry_lifecycle(registry_by_id(r, "newsletter"), feb2027, &why),
			 BW_LIFE_RETIRED);
	long long jan2026;
	assert_true(bw_parse_date("2026-01-19", &jan2026));
	assert_int_equal(registry_lifecycle(registry_by_id(r, "newsletter"), jan2026, &why),
			 BW_LIFE_PENDING);
	assert_int_equal(strlen(r->revision), 64);
	registry_release(r);
}

/* A large registry: every login and network resolves to its identity. */
static void
test_many_identities(void **unused)
{
	const int n = 20000;
	size_t cap = (size_t)n * 400 + 4096;
	char *text = malloc(cap);
	assert_non_null(text);
	size_t off = (size_t)snprintf(text, cap, "log = { target = \"stdout\"; };\nidentities = (\n");
	for (int i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, cap - off,
					"{ id = \"id%d\"; description = \"d\"; class = \"transactional\";"
					" credentials = { logins = [\"svc%d\"]; networks = [\"10.%d.%d.0/24\"]; };"
					" envelope_domains = [\"d%d.example\"]; }%s\n",
					i, i, i / 256, i % 256, i, i + 1 < n ? "," : "");
	snprintf(text + off, cap - off, ");\n");
	struct registry *r = fixture_load(text);
	free(text);
	assert_non_null(r);
	assert_int_equal(r->n_ids, (size_t)n);
	char login[32], ip[32], id[32];
	for (int i = 0; i < n; i += 97) {
		snprintf(login, sizeof(login), "svc%d", i);
		snprintf(id, sizeof(id), "id%d", i);
		snprintf(ip, sizeof(ip), "10.%d.%d.77", i / 256, i % 256);
		assert_string_equal(registry_by_login(r, login)->id, id);
		struct cidr_addr a;
		const struct bw_identity *out[4];
		assert_true(cidr_parse_addr(ip, &a));
		assert_int_equal(registry_by_network(r, &a, out, 4), 1);
		assert_string_equal(out[0]->id, id);
	}
	registry_release(r);
}

static void
test_dates(void **unused)
{
	long long t;
	assert_true(bw_parse_date("1970-01-01", &t));
	assert_int_equal(t, 0);
	assert_true(bw_parse_date("2026-01-15", &t));
	assert_int_equal(t, 1768435200LL);
	assert_true(bw_parse_date("2024-02-29T12:30:00Z", &t));
	assert_int_equal(t, 1709209800LL);
	assert_false(bw_parse_date("2025-02-29", &t));
	assert_false(bw_parse_date("2026-13-01", &t));
	assert_false(bw_parse_date("2026-1-01", &t));
	assert_false(bw_parse_date("2026-01-01x", &t));
	assert_false(bw_parse_date("", &t));
	assert_false(bw_parse_date("yesterday", &t));
}

/* Change control: each identity's change text between two snapshots. */
struct diff_seen {
	char text[8][REGISTRY_DIFF_TEXT];
	char id[8][BW_ID_MAX + 1];
	bool security[8];
	size_t n;
};

static void
diff_cb(const char *id, const char *text, bool security, void *arg)
{
	struct diff_seen *d = arg;
	assert_true(d->n < 8);
	bw_strlcpy(d->id[d->n], id, sizeof(d->id[0]));
	bw_strlcpy(d->text[d->n], text, sizeof(d->text[0]));
	d->security[d->n++] = security;
}

#define DIFF_HEAD \
	"identities = (\n"
#define DIFF_ID(id, extra) \
	"{ id = \"" id "\"; description = \"d\"; class = \"transactional\";\n" \
	"  owners = { dns = \"dns@example.com\"; platform = \"p@example.com\"; compliance = \"c@example.com\"; };\n" \
	extra "}"

static void
test_diff(void **state)
{
	(void)state;
	struct registry *a = fixture_load(
	    DIFF_HEAD DIFF_ID("same", "approval = { by = \"ciso@example.com\"; date = \"2026-01-15\"; ticket = \"T1\"; };\n"
				      "credentials = { logins = [\"svc-s\"]; networks = [\"10.1.0.0/24\"]; };\n"
				      "envelope_domains = [\"s.example.com\"];\n") ",\n"
	    DIFF_ID("moved", "approval = { by = \"ciso@example.com\"; date = \"2026-01-15\"; ticket = \"T2\"; };\n"
				     "credentials = { logins = [\"svc-a\", \"svc-b\"]; networks = [\"10.2.0.0/24\"]; };\n"
				     "envelope_domains = [\"m.example.com\"]; limits = { per_hour = 10; };\n") ",\n"
	    DIFF_ID("reapproved", "approval = { by = \"ciso@example.com\"; date = \"2026-01-15\"; ticket = \"T3\"; };\n"
					  "credentials = { networks = [\"10.3.0.0/24\"]; };\n"
					  "envelope_domains = [\"r.example.com\"];\n") ",\n"
	    DIFF_ID("gone", "approval = { by = \"ciso@example.com\"; date = \"2026-01-15\"; ticket = \"T4\"; };\n"
				    "credentials = { networks = [\"10.4.0.0/24\"]; };\n"
				    "envelope_domains = [\"g.example.com\"];\n") ");\n");
	assert_non_null(a);
	struct registry *b = fixture_load(
	    DIFF_HEAD DIFF_ID("same", "approval = { by = \"ciso@example.com\"; date = \"2026-01-15\"; ticket = \"T1\"; };\n"
				      "credentials = { logins = [\"svc-s\"]; networks = [\"10.1.0.0/24\"]; };\n"
				      "envelope_domains = [\"s.example.com\"];\n") ",\n"
	    DIFF_ID("moved", "approval = { by = \"ciso@example.com\"; date = \"2026-01-15\"; ticket = \"T2\"; };\n"
				     "credentials = { logins = [\"svc-a\", \"svc-c\"]; networks = [\"10.9.0.0/16\"]; };\n"
				     "envelope_domains = [\"m.example.com\"]; limits = { per_hour = 1000; };\n") ",\n"
	    DIFF_ID("reapproved", "approval = { by = \"ciso@example.com\"; date = \"2026-06-01\"; ticket = \"T33\"; };\n"
					  "credentials = { networks = [\"10.3.0.0/24\"]; };\n"
					  "envelope_domains = [\"r.example.com\"];\n") ",\n"
	    DIFF_ID("new", "approval = { by = \"ciso@example.com\"; date = \"2026-01-15\"; ticket = \"T5\"; };\n"
				   "credentials = { networks = [\"10.5.0.0/24\"]; };\n"
				   "envelope_domains = [\"n.example.com\"];\n") ");\n");
	assert_non_null(b);
	struct diff_seen d = {.n = 0};
	assert_int_equal(registry_diff(a, b, diff_cb, &d), 4);
	assert_string_equal(d.id[0], "moved");
	assert_string_equal(d.text[0], "+login svc-c; -login svc-b; +network 10.9.0.0/16; "
				       "-network 10.2.0.0/24; per_hour 10 -> 1000");
	assert_true(d.security[0]);
	assert_string_equal(d.id[1], "reapproved");
	assert_string_equal(d.text[1], "approval ciso@example.com T33");
	assert_false(d.security[1]); /* a renewed approval is not a security change */
	assert_string_equal(d.id[2], "new");
	assert_string_equal(d.text[2], "added");
	assert_false(d.security[2]);
	assert_string_equal(d.id[3], "gone");
	assert_string_equal(d.text[3], "removed");
	registry_release(a);
	registry_release(b);
}

/* The re-approval rule (SPEC §10): a security-relevant change on a later day
 * than the approval makes the identity pending when policy.require_reapproval
 * is true, not when false; an approval dated the day of the change covers it. */
#define REAPPROVAL_CONF(flag, date)                                                                \
	"policy = { require_reapproval = " flag "; };\n" DIFF_HEAD DIFF_ID(                            \
	    "nl", "approval = { by = \"ciso@example.com\"; date = \"" date "\"; ticket = \"T1\"; };\n"   \
		  "credentials = { logins = [\"svc-nl\"]; };\n"                                       \
		  "envelope_domains = [\"nl.example.com\"];\n") ");\n"

struct reapproval_row {
	const char *conf;
	const char *change; /* date of the change */
	enum bw_life life;
	const char *why;
};

static const struct reapproval_row reapproval_rows[] = {
    {REAPPROVAL_CONF("true", "2026-01-15"), "2026-02-01", BW_LIFE_PENDING,
     "changed since approval on 2026-01-15, re-approval required"},
    {REAPPROVAL_CONF("false", "2026-01-15"), "2026-02-01", BW_LIFE_ACTIVE, ""},
    {REAPPROVAL_CONF("true", "2026-02-01"), "2026-02-01", BW_LIFE_ACTIVE, ""}, /* same day */
    {REAPPROVAL_CONF("true", "2026-03-01"), "2026-02-01", BW_LIFE_ACTIVE, ""}, /* renewed */
    {REAPPROVAL_CONF("true", "2026-01-15"), NULL, BW_LIFE_ACTIVE, ""},	  /* no change */
};

static void
test_reapproval(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(reapproval_rows) / sizeof(reapproval_rows[0]); i++) {
		const struct reapproval_row *row = &reapproval_rows[i];
		struct registry *r = fixture_load(row->conf);
		long long when = 0, now;
		const char *why;
		assert_non_null(r);
		bw_parse_date("2026-04-01", &now);
		if (row->change != NULL) {
			bw_parse_date(row->change, &when);
			registry_note_change(r, "nl", when + 3600);
			registry_note_change(r, "nl", when - 86400 * 30); /* older: kept the latest */
			registry_note_change(r, "nobody", when);	  /* unknown: ignored */
		}
		const struct bw_identity *id = registry_by_id(r, "nl");
		assert_int_equal(id->changed_at, row->change ? when + 3600 : 0);
		if (registry_lifecycle(id, now, &why) != row->life || strcmp(why, row->why) != 0)
			fail_msg("row %zu: %s \"%s\"", i, registry_life_name(registry_lifecycle(id, now, &why)),
				 why);
		registry_release(r);
	}
	/* not a boolean: an error naming the key */
	assert_null(fixture_load("policy = { require_reapproval = \"yes\"; };\n"));
}

/* A reload carries the previous snapshot's change times over and adds the
 * security-relevant changes of its own diff (milter/reapproval.c). */
static void
test_reapproval_reload(void **state)
{
	(void)state;
	long long now;
	bw_parse_date("2026-04-01", &now);
	struct registry *a = fixture_load(REAPPROVAL_CONF("true", "2026-01-15"));
	struct registry *b = fixture_load(
	    "policy = { require_reapproval = true; };\n" DIFF_HEAD DIFF_ID(
		"nl", "approval = { by = \"ciso@example.com\"; date = \"2026-01-15\"; ticket = \"T1\"; };\n"
		      "credentials = { logins = [\"svc-nl\", \"svc-more\"]; };\n"
		      "envelope_domains = [\"nl.example.com\"];\n") ");\n");
	struct registry *c = fixture_load(REAPPROVAL_CONF("true", "2026-04-01"));
	struct registry *d = fixture_load(REAPPROVAL_CONF("true", "2026-01-15"));
	assert_true(a && b && c && d);
	reapproval_reload(b, a, now); /* +login: pending */
	assert_int_equal(registry_by_id(b, "nl")->changed_at, now);
	assert_int_equal(registry_lifecycle(registry_by_id(b, "nl"), now, NULL), BW_LIFE_PENDING);
	reapproval_reload(c, b, now); /* -login and re-approved the same day: active */
	assert_int_equal(registry_by_id(c, "nl")->changed_at, now);
	assert_int_equal(registry_lifecycle(registry_by_id(c, "nl"), now, NULL), BW_LIFE_ACTIVE);
	reapproval_reload(d, c, now + 86400); /* approval date back: the carried change counts */
	assert_int_equal(registry_by_id(d, "nl")->changed_at, now);
	assert_int_equal(registry_lifecycle(registry_by_id(d, "nl"), now, NULL), BW_LIFE_PENDING);
	registry_release(a);
	registry_release(b);
	registry_release(c);
	registry_release(d);
}

int
main(void)
{
	bw_parse_date("2026-06-01", &jun2026);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cidr),
		cmocka_unit_test(test_domain),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_many_identities),
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_diff),
		cmocka_unit_test(test_reapproval),
		cmocka_unit_test(test_reapproval_reload),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	fixture_cleanup();
	return rc;
}
