/*
 * aggregate.h - DMARC aggregate reports (RFC 7489 §7.2, appendix C), read
 * from their XML by libxml2's streaming (SAX2) parser: the report's
 * metadata and policy once, then each <record> handed to a callback as it
 * ends, so a report of any row count is read in constant memory.
 *
 * The parse is safe on hostile XML: no network (XML_PARSE_NONET), no
 * external DTD or entity is loaded and no entity is substituted; a
 * DOCTYPE that declares an entity or names an external subset stops the
 * parse. Records past AGG_ROWS_MAX, nesting past AGG_DEPTH_MAX and text
 * past each field's bound are refused or cut, never held.
 */
#ifndef BW_INGEST_AGGREGATE_H
#define BW_INGEST_AGGREGATE_H

#include <stddef.h>
#include <stdint.h>

#define AGG_ROWS_MAX 100000	 /* <record>s per report; more is unusable input */
#define AGG_COUNT_MAX 1000000000 /* a row's <count> above this is not believed */
#define AGG_DEPTH_MAX 8		 /* element nesting followed (deeper is skipped) */
#define AGG_TEXT_MAX 256	 /* bytes kept of one element's text */
#define AGG_IP_MAX 64

struct agg_meta {
	char org_name[AGG_TEXT_MAX];
	char email[AGG_TEXT_MAX];
	char report_id[AGG_TEXT_MAX];
	long long begin, end;	   /* date_range, unix seconds */
	char domain[AGG_TEXT_MAX]; /* policy_published */
	char p[16], sp[16], adkim[4], aspf[4];
	int pct; /* -1: not given */
};

struct agg_row {
	size_t n; /* 1-based record number in the report */
	char source_ip[AGG_IP_MAX];
	uint64_t count;
	char disposition[16];	/* policy_evaluated: none | quarantine | reject */
	char dkim[16], spf[16]; /* policy_evaluated: pass | fail (aligned) */
	char header_from[AGG_TEXT_MAX];
	char envelope_from[AGG_TEXT_MAX];
	char dkim_domain[AGG_TEXT_MAX], dkim_selector[64],
	    dkim_result[16];			       /* first auth_results/dkim */
	char spf_domain[AGG_TEXT_MAX], spf_result[16]; /* first auth_results/spf */
};

/* Called at the end of each record, in report order, with a row whose
 * source_ip, count and header_from have been checked. Non-zero stops
 * the parse (agg_parse then fails with the callback's why). */
typedef int (*agg_row_fn)(const struct agg_row *row, void *arg, char *why, size_t whylen);

/* Parse the XML of one aggregate report. Returns the number of records,
 * or -1 with why: not well-formed, not a <feedback> report, a DOCTYPE with
 * entities, missing metadata, a bad record, too many records, or the
 * callback's refusal. Rows already passed to fn before a failure are the
 * caller's to discard. */
long agg_parse(const char *xml, size_t len, struct agg_meta *meta, agg_row_fn fn, void *arg,
	       char *why, size_t whylen);

#endif
