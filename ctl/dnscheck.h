/*
 * dnscheck.h - the lookups of `bulkwardenctl dns-check` (dnscheck.c) for
 * other verbs: `report --dns` asks them per domain of its inventory and
 * keeps a posture (SPF, DKIM, DMARC, DNSSEC) per domain.
 *
 * Every answer is untrusted; the posture holds fixed words and one detail
 * line (bounded, to be escaped by its writer). One domain's lookups share
 * one budget of dns.timeout: a dead server costs that, once per domain.
 */
#ifndef BW_CTL_DNSCHECK_H
#define BW_CTL_DNSCHECK_H

#include <stdbool.h>
#include <stddef.h>

#include "registry/registry.h"

#define DNS_POSTURE_DETAIL_MAX 320

struct dns_posture {
	bool checked;		  /* false: not asked (no --dns, or a wildcard) */
	const char *spf;	  /* pass fail none error */
	const char *dkim;	  /* ok mismatch missing error; none: no key registered */
	const char *dmarc;	  /* found none error */
	const char *dmarc_policy; /* none quarantine reject; "" without a record */
	const char *dnssec;	  /* signed unsigned bogus; unknown without dns.dnssec */
	bool bad;		  /* a finding: see dnscheck_domain() */
	char detail[DNS_POSTURE_DETAIL_MAX]; /* the first problem, or "" */
};

struct dnscheck;

/* The resolver, SPF checker and PSL of the registry's dns.* settings.
 * NULL with err on failure. set must outlive the handle. */
struct dnscheck *dnscheck_open(const struct bw_settings *set, char *err, size_t errlen);
void dnscheck_close(struct dnscheck *dc);

/* The posture of domain, used by the identities r->ids[ids[0..n_ids)]
 * (the first that uses it as envelope domain gives the egress IPs, the
 * first that uses it as From domain the required DMARC policy; every DKIM
 * key of theirs at domain is checked). All lookups share one budget of
 * dns.timeout. out->bad: SPF not pass for an envelope domain, a DKIM key
 * mismatch/missing/error, no DMARC record, an error or a policy below the
 * required one for a From domain, or DNSSEC bogus. */
void dnscheck_domain(struct dnscheck *dc, const struct registry *r, const char *domain,
		     const size_t *ids, size_t n_ids, struct dns_posture *out);

/* "SPF pass, DKIM ok, DMARC reject, DNSSEC unsigned" into buf. */
const char *dns_posture_text(const struct dns_posture *p, char *buf, size_t len);

#endif
