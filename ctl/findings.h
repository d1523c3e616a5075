/*
 * findings.h - governance findings over the registry and the store's
 * traffic (SPEC §10), each with a severity and the controls it bears on
 * (OWASP Non-Human Identities Top 10 2025, NIST CSF 2.0, OWASP Top 10 for
 * Agentic Applications 2026). Used by `bulkwardenctl check` and `report`.
 *
 * The rule table (findings.c) is the single source of the mapping: the
 * manual's mapping table is checked against it by tests/report/run.sh.
 */
#ifndef BW_CTL_FINDINGS_H
#define BW_CTL_FINDINGS_H

#include <stdbool.h>
#include <stddef.h>

#include "registry/registry.h"
#include "state/state.h"

/* Fixed until the settings table carries them (policy.governance.dormant_days
 * does: struct bw_settings dormant_days). */
#define FINDING_KEY_MAX_AGE_DAYS 365 /* DKIM key file older than this */
#define FINDING_REVIEW_DAYS 365	     /* approval older than this */
#define FINDING_DECOMMISSION_SOON_DAYS 30
#define FINDING_WAIVER_SOON_DAYS 7 /* a waiver ending within this many days */
#define FINDING_WIDE_V4_PREFIX 16 /* an IPv4 network wider than /16 */
#define FINDING_WIDE_V6_PREFIX 48
#define FINDING_SUBJECT_MAX 256
#define FINDING_DETAIL_MAX 512

enum finding_sev { SEV_INFO, SEV_LOW, SEV_MEDIUM, SEV_HIGH };

struct finding_rule {
	const char *id;
	enum finding_sev sev;
	const char *title;
	const char *nhi;     /* OWASP NHI Top 10 2025 identifiers, ";"-separated */
	const char *csf;     /* NIST CSF 2.0 subcategories */
	const char *agentic; /* OWASP Agentic Applications 2026, or "" */
};

struct finding {
	const struct finding_rule *rule;
	char identity[BW_ID_MAX + 1]; /* "" for registry-wide findings */
	char subject[FINDING_SUBJECT_MAX]; /* what it is about: a key, a domain */
	char detail[FINDING_DETAIL_MAX];
};

/* What the store says about one identity (index = registry ids[] index). */
struct finding_activity {
	long long last_seen; /* start of the last hour with a message; 0: none known */
	long long last_change; /* last security-relevant config-change record; 0: none */
};

struct finding_list {
	struct finding *v;
	size_t n, cap;
	size_t by_sev[4];
};

extern const struct finding_rule finding_rules[];
extern const size_t finding_n_rules;

const char *finding_sev_name(enum finding_sev s);

/* Evaluate every rule at time now. act (may be NULL: the store was not
 * read, so no activity findings) has r->n_ids entries. Returns 0, -1 when
 * out of memory. Findings are sorted by severity, then identity. */
int findings_eval(const struct registry *r, const struct finding_activity *act, long long now,
		  struct finding_list *out);
void findings_free(struct finding_list *l);
/* Add the waiver findings (waiver-near-expiry) for the n waivers in force
 * w at now, keeping the list sorted. 0, -1 out of memory. */
int findings_waivers(struct finding_list *l, const struct state_waiver *w, size_t n, long long now);

/* Add a domain-dns-posture finding (report --dns) for domain, whose
 * published records disagree with the registry as detail says. */
int findings_domain_posture(struct finding_list *l, const char *domain, const char *detail);

#endif
