/*
 * report.h - `bulkwardenctl report` (SPEC §10): the evidence an auditor
 * reads, gathered once (report.c) from the registry snapshot and the state
 * store, then written as JSON (report.c; schema man/bulkwarden-report.schema.json),
 * Markdown (report_md.c) or one self-contained HTML file with inline SVG
 * charts (report_html.c).
 *
 * Memory: everything hangs off struct report and is freed by
 * report_free(). Per-identity daily counts are 20 bytes a day, so 100,000
 * identities over 30 days take 60 MB.
 */
#ifndef BW_CTL_REPORT_H
#define BW_CTL_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "ctl/dnscheck.h"
#include "ctl/findings.h"
#include "state/state.h"

#define REPORT_DAYS_DEFAULT 30
#define REPORT_DAYS_MAX 366
#define REPORT_SCHEMA_VERSION 1
#define REPORT_CHART_IDS 10 /* identities drawn in the per-identity charts */

struct report_day {
	uint32_t messages, accepted, rejected, quarantined, tempfailed;
};

/* One domain the registry names, with who uses it and how. */
#define REPORT_USE_ENVELOPE 1u
#define REPORT_USE_FROM 2u
#define REPORT_USE_DKIM 4u
struct report_domain {
	const char *name;
	unsigned uses;	 /* REPORT_USE_* */
	size_t first, n; /* its identities: report.dom_ids[first .. first + n) */
	long long last_seen;
	struct dns_posture posture; /* report --dns; .checked false otherwise */
};

struct report {
	const struct registry *r;
	const char *conf_path;
	long long now;
	long long from; /* start of the first day (UTC) */
	int days;
	int pre_days; /* days read before the period, for activity only */
	struct report_day *daily;  /* n_ids * days, row-major by identity */
	struct report_day *totals; /* days: all identities */
	struct report_day *sum;	   /* n_ids: the whole period */
	struct finding_activity *act;
	struct state_suspension *susp;
	size_t n_susp;
	struct state_waiver *wvr; /* waivers in force, by identity */
	size_t n_wvr;
	struct state_audit *audit; /* records of the period, oldest first */
	size_t n_audit, cap_audit;
	long long audit_total; /* every record in the store */
	int audit_intact;      /* state_audit_verify: 0 intact, 1 broken */
	long long audit_bad_seq;
	struct finding_list findings;
	struct report_domain *domains; /* sorted by name */
	size_t n_domains;
	size_t *dom_ids; /* identity indexes, grouped per domain */
	size_t *chart_ids; /* up to REPORT_CHART_IDS indexes, by volume */
	size_t n_chart_ids;
};

/* Gather everything for the days ending today. 0, or -1 with err. */
int report_collect(struct report *rep, const struct registry *r, struct state *st,
		   const char *conf_path, long long now, int days, char *err, size_t errlen);
void report_free(struct report *rep);
/* report --dns: the DNS posture of every domain (dnscheck_domain(), one
 * dns.timeout budget each), and a domain-dns-posture finding for each bad
 * one. 0, or -1 with err (the resolver cannot be made, out of memory). */
int report_dns(struct report *rep, char *err, size_t errlen);

void report_write_json(const struct report *rep, FILE *f);
void report_write_md(const struct report *rep, FILE *f);
void report_write_html(const struct report *rep, FILE *f);

/* Shared by the writers. */
const struct report_day *report_daily(const struct report *rep, size_t id, int day);
/* "YYYY-MM-DD" of day index d of the period. */
const char *report_day_name(const struct report *rep, int d, char buf[16]);
/* Days until decommission (negative: past), or INT64_MIN without a date. */
long long report_days_to(const struct report *rep, long long when);
/* "role=addr" of the owners, comma-separated, into buf. */
const char *report_owners(const struct bw_identity *id, char *buf, size_t len);

/* Member "owners": the distinct owner addresses of d's identities. */
void report_domain_owners(const struct report *rep, const struct report_domain *d,
			  struct jbuf *j);
/* "10.20.0.0/24" */
const char *report_net(const struct cidr *c, char *buf, size_t len);

/* The verb: report [--format html|json|md] [--out FILE] [--days N] [--dns]. */
struct ctl;
int ctl_report(struct ctl *c, int argc, char **argv);

#endif
