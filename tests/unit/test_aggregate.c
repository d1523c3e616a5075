/*
 * test_aggregate.c - ingest/ DMARC aggregate reports: the form sniffer,
 * gzip unpacking (several members, a cut stream), the SAX parse of a table
 * of reports (each accepted with its row count or refused for its reason),
 * and row attribution against a registry loaded from a file: by
 * header_from, by a vendor's own egress IP, and shadow senders apart.
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
#include <unistd.h>

#include <zlib.h>

#include "base/util.h"
#include "ingest/aggregate.h"
#include "ingest/aggtally.h"
#include "ingest/unpack.h"
#include "registry/conf.h"

#define META                                                                                       \
	"<report_metadata><org_name>o</org_name><report_id>r</report_id><date_range><begin>1</"    \
	"begin>"                                                                                   \
	"<end>2</end></date_range></report_metadata><policy_published><domain>example.com</"       \
	"domain>"                                                                                  \
	"</policy_published>"
#define ROW(ip, n, from, dkim, spf)                                                                \
	"<record><row><source_ip>" ip "</source_ip><count>" n                                      \
	"</count><policy_evaluated><dkim>" dkim "</dkim><spf>" spf                                 \
	"</spf></policy_evaluated></row><identifiers><header_from>" from                           \
	"</header_from></identifiers></record>"

static void
test_sniff(void **state BW_UNUSED)
{
	static const struct {
		const char *in;
		size_t len;
		enum agg_wrap want;
	} rows[] = {
	    {"\x1f\x8b\x08", 3, AGG_WRAP_GZIP},
	    {"PK\003\004", 4, AGG_WRAP_ZIP},
	    {"<?xml", 5, AGG_WRAP_XML},
	    {"\xef\xbb\xbf  \n<f", 7, AGG_WRAP_XML},
	    {"\xff\xfe<\0", 4, AGG_WRAP_XML},
	    {"From: a@b\n", 10, AGG_WRAP_NONE},
	    {"", 0, AGG_WRAP_NONE},
	    {"PK\003", 3, AGG_WRAP_NONE},
	};
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
		assert_int_equal(agg_sniff((const unsigned char *)rows[i].in, rows[i].len),
				 rows[i].want);
}

/* gzip of s appended to out at *n (a whole member). */
static void
gzip_member(unsigned char *out, size_t cap, size_t *n, const char *s)
{
	z_stream z;
	memset(&z, 0, sizeof(z));
	assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	z.next_in = (unsigned char *)s;
	z.avail_in = (uInt)strlen(s);
	z.next_out = out + *n;
	z.avail_out = (uInt)(cap - *n);
	assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
	*n = cap - z.avail_out;
	deflateEnd(&z);
}

static void
test_gunzip(void **state BW_UNUSED)
{
	unsigned char gz[1024];
	size_t n = 0, len;
	char *xml, why[256];
	enum agg_wrap w;
	gzip_member(gz, sizeof(gz), &n, "<feedback>");
	gzip_member(gz, sizeof(gz), &n, "</feedback>");
	assert_int_equal(agg_unpack(gz, n, &xml, &len, &w, why, sizeof(why)), 0);
	assert_int_equal(w, AGG_WRAP_GZIP);
	assert_string_equal(xml, "<feedback></feedback>"); /* both members */
	assert_int_equal(len, 21);
	free(xml);
	assert_int_equal(agg_unpack(gz, n - 5, &xml, &len, &w, why, sizeof(why)), -1);
	assert_null(xml);
	assert_non_null(strstr(why, "truncated"));
	assert_int_equal(
	    agg_unpack((const unsigned char *)"hello", 5, &xml, &len, &w, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "neither XML, gzip nor zip"));
}

static int
count_rows(const struct agg_row *r, void *arg, char *why, size_t whylen)
{
	(void)r, (void)why, (void)whylen;
	(*(int *)arg)++;
	return 0;
}

static void
test_parse(void **state BW_UNUSED)
{
	static const struct {
		const char *name, *xml;
		long want; /* records, or -1 */
		const char *why;
	} rows[] = {
	    {"one row",
	     "<feedback>" META ROW("192.0.2.1", "3", "a.example", "pass", "fail") "</feedback>", 1,
	     NULL},
	    {"namespaced, extensions",
	     "<f:feedback xmlns:f=\"urn:x\"><x><y/></x>" META ROW("2001:db8::1", "0", "a.example",
								  "fail", "fail") "</f:feedback>",
	     1, NULL},
	    {"no records", "<feedback>" META "</feedback>", 0, NULL},
	    {"no metadata", "<feedback>" ROW("192.0.2.1", "1", "a", "pass", "pass") "</feedback>",
	     -1, "org_name"},
	    {"count past the bound",
	     "<feedback>" META ROW("192.0.2.1", "1000000001", "a", "pass", "pass") "</feedback>",
	     -1, "no valid count"},
	    {"count not a number",
	     "<feedback>" META ROW("192.0.2.1", "-1", "a", "pass", "pass") "</feedback>", -1,
	     "no valid count"},
	    {"no header_from",
	     "<feedback>" META ROW("192.0.2.1", "1", "", "pass", "pass") "</feedback>", -1,
	     "header_from"},
	    {"entity", "<!DOCTYPE feedback [<!ENTITY e \"x\">]><feedback>" META "</feedback>", -1,
	     "declares an entity"},
	    {"parameter entity",
	     "<!DOCTYPE feedback [<!ENTITY % p SYSTEM \"file:///etc/passwd\"> %p;]>"
	     "<feedback/>",
	     -1, "declares an entity"},
	    {"bare DOCTYPE is fine", "<!DOCTYPE feedback><feedback>" META "</feedback>", 0, NULL},
	    {"undeclared entity", "<feedback>" META "&e;</feedback>", -1, "not well-formed"},
	    {"wrong root", "<html/>", -1, "root element <html>"},
	    {"not closed", "<feedback>" META, -1, "not well-formed"},
	    {"end before begin",
	     "<feedback><report_metadata><org_name>o</org_name><report_id>r"
	     "</report_id><date_range><begin>5</begin><end>2</end></date_range></report_metadata>"
	     "<policy_published><domain>d</domain></policy_published></feedback>",
	     -1, "date_range"},
	};
	struct agg_meta meta;
	char why[512];
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		int n = 0;
		why[0] = '\0';
		long got = agg_parse(rows[i].xml, strlen(rows[i].xml), &meta, count_rows, &n, why,
				     sizeof(why));
		if (got != rows[i].want || (rows[i].why && !strstr(why, rows[i].why)))
			fail_msg("%s: got %ld (%s), want %ld (%s)", rows[i].name, got, why,
				 rows[i].want, rows[i].why ? rows[i].why : "");
		if (got >= 0)
			assert_int_equal(n, got);
	}
}

static void
test_tally(void **state BW_UNUSED)
{
	char dir[] = "/tmp/bw-test-aggregate.XXXXXX", path[64];
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/m.conf", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs("relay = { egress_ips = [\"203.0.113.7\"]; };\n"
	      "identities = (\n"
	      " { id = \"news\"; description = \"n\"; class = \"notification\";\n"
	      "   credentials = { networks = [\"10.1.0.0/24\"]; }; envelope_domains = "
	      "[\"news.example.com\"]; },\n"
	      " { id = \"shop\"; description = \"s\"; class = \"transactional\";\n"
	      "   credentials = { networks = [\"10.2.0.0/24\"]; }; envelope_domains = "
	      "[\"shop.example.com\"];\n"
	      "   egress_ips = [\"198.51.100.25\"]; }\n"
	      ");\n",
	      f);
	fclose(f);
	struct conf_errors errs;
	struct registry *r = conf_load(path, 1700000000, &errs);
	if (r == NULL)
		fail_msg("registry: %s", errs.n ? errs.msg[0] : "?");
	static const char xml[] =
	    "<feedback>" META ROW("203.0.113.7", "10", "news.example.com", "pass", "pass")
		ROW("203.0.113.7", "2", "NEWS.example.com", "fail", "fail")
		    ROW("198.51.100.25", "5", "shop.example.com", "pass", "fail")
			ROW("198.51.100.25", "1", "elsewhere.example.org", "pass", "pass")
			    ROW("203.0.113.7", "4", "elsewhere.example.org", "pass", "pass")
				ROW("192.0.2.9", "7", "news.example.com", "fail", "fail")
				    ROW("192.0.2.9", "1", "news.example.com", "fail", "fail")
					ROW("192.0.2.10", "2", "spoof.example.net", "fail",
					    "fail") "</feedback>";
	struct agg_tally *t = malloc(sizeof(*t));
	struct agg_meta meta;
	char why[256];
	assert_non_null(t);
	agg_tally_init(t, r);
	assert_int_equal(agg_parse(xml, strlen(xml), &meta, agg_tally_row, t, why, sizeof(why)), 8);
	assert_int_equal(t->all.rows, 8);
	assert_int_equal(t->all.messages, 32);
	assert_int_equal(t->n_ids, 2);
	assert_string_equal(t->ids[0].id->id, "news"); /* by From, case folded */
	assert_true(t->ids[0].by_from);
	assert_int_equal(t->ids[0].c.messages, 12);
	assert_int_equal(t->ids[0].c.dmarc_fail, 2);
	assert_string_equal(t->ids[1].id->id, "shop");
	assert_true(t->ids[1].by_from && t->ids[1].by_ip); /* own domain, then own IP */
	assert_int_equal(t->ids[1].c.messages, 6);
	assert_int_equal(t->ids[1].c.spf_fail, 5);
	assert_int_equal(t->ids[1].c.dmarc_fail, 0);
	assert_int_equal(t->unattributed.messages, 4); /* the relay's IP, no identity's domain */
	assert_int_equal(t->shadow.rows, 3);
	assert_int_equal(t->shadow.messages, 10);
	assert_int_equal(t->shadow_pairs, 2);
	assert_int_equal(t->n_shadows, 2);
	assert_string_equal(t->shadows[0].ip, "192.0.2.9");
	assert_string_equal(t->shadows[0].domain, "news.example.com");
	assert_ptr_equal(t->shadows[0].owner, t->ids[0].id);
	assert_int_equal(t->shadows[0].messages, 8);
	assert_null(t->shadows[1].owner);
	free(t);
	registry_release(r);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_sniff),
	    cmocka_unit_test(test_gunzip),
	    cmocka_unit_test(test_parse),
	    cmocka_unit_test(test_tally),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
