/*
 * preflight.c - maps dns/spf.c and dns/dmarc.c results onto the policy's
 * pass / fail / DNS-error vocabulary. Owns the resolver and SPF checker of
 * one configuration snapshot; both are thread-safe, so one instance serves
 * every message thread.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dns/dmarc.h"
#include "milter/preflight.h"
#include "dns/resolver.h"
#include "dns/spf.h"
#include "metrics/metrics.h"
#include "base/util.h"
#include "base/strbuf.h"

/* Bounded detail text; a cut is marked with '~' rather than hidden. */
static void BW_PRINTF(3, 4)
detail(char *buf, size_t len, const char *fmt, ...)
{
	struct bw_sbuf b;
	va_list ap;
	bw_sbuf_init(&b, buf, len);
	va_start(ap, fmt);
	bw_sbuf_vprintf(&b, fmt, ap);
	va_end(ap);
	bw_sbuf_mark_cut(&b, "~");
}

struct preflight {
	struct resolver *res;
	struct spf_checker *spf;
};

struct preflight *
preflight_new(const struct bw_settings *set, char *err, size_t errlen)
{
	struct preflight *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	/* no nameservers configured: the system's (resolv.conf) */
	const struct resolver_conf rconf = {
	    .nameservers = set->nameservers,
	    .n_nameservers = set->n_nameservers,
	    .timeout_s = set->dns_timeout,
	    .cache_ttl = set->dns_cache_ttl,
	    .dnssec = set->dns_dnssec,
	    .trust_anchor = set->dns_trust_anchor,
	};
	p->res = resolver_new(&rconf, err, errlen);
	if (p->res == NULL) {
		free(p);
		return NULL;
	}
	p->spf = spf_new(p->res);
	if (p->spf == NULL) {
		snprintf(err, errlen, "cannot set up libspf2");
		resolver_free(p->res);
		free(p);
		return NULL;
	}
	return p;
}

void
preflight_free(struct preflight *p)
{
	if (p == NULL)
		return;
	spf_free(p->spf);
	resolver_free(p->res);
	free(p);
}

/* A stage's budget: now + dns.timeout. */
void
preflight_budget_start(struct preflight *p, struct resolver_budget *b)
{
	resolver_budget_start(b, p->res);
}

/* SPF for (domain, ip) as the policy's pass / fail / DNS error. */
void
preflight_spf(struct preflight *p, const struct resolver_budget *b, const char *domain,
	      const char *ip, struct policy_spf *out)
{
	struct spf_result r;
	memset(&r, 0, sizeof(r));
	if (spf_check_within(p->spf, b, domain, ip, &r) != 0) {
		out->verdict = POLICY_AUTH_FAIL;
		bw_strlcpy(out->result, "permerror", sizeof(out->result));
		detail(out->detail, sizeof(out->detail), "cannot evaluate: %s", r.explanation);
		return;
	}
	metrics_dns(r.class != SPF_CLASS_DNS, (long long)time(NULL));
	bw_strlcpy(out->result, spf_res_name(r.result), sizeof(out->result));
	if (r.dnssec != SPF_DNSSEC_OFF)
		bw_strlcpy(out->dnssec, spf_dnssec_name(r.dnssec), sizeof(out->dnssec));
	out->verdict = r.class == SPF_CLASS_PASS  ? POLICY_AUTH_PASS
		       : r.class == SPF_CLASS_DNS ? POLICY_AUTH_DNSERR
						  : POLICY_AUTH_FAIL;
	detail(out->detail, sizeof(out->detail), "%s; %u lookups", r.explanation, r.lookups);
}

/* DMARC record, minimum policy and predicted alignment for from_domain. */
void
preflight_dmarc(struct preflight *p, const struct resolver_budget *b, const char *from_domain,
		const char *const *dkim_domains, size_t n_dkim, const char *mail_domain,
		bool spf_pass, enum bw_dmarc_p min, struct policy_dmarc *out)
{
	struct dmarc_record *rec = malloc(sizeof(*rec));
	char why[256];
	if (rec == NULL) {
		out->verdict = POLICY_AUTH_DNSERR;
		detail(out->detail, sizeof(out->detail), "out of memory");
		return;
	}
	enum dmarc_status st = dmarc_lookup_within(p->res, b, from_domain, rec);
	metrics_dns(st != DMARC_DNS_ERROR, (long long)time(NULL));
	if (resolver_dnssec(p->res))
		bw_strlcpy(out->dnssec,
			   rec->bogus			 ? "bogus"
			   : st == DMARC_FOUND		 ? (rec->record_secure ? "signed" : "unsigned")
			   : rec->secure == rec->queries ? "signed"
							 : "unsigned",
			   sizeof(out->dnssec));
	if (st == DMARC_DNS_ERROR) {
		out->verdict = POLICY_AUTH_DNSERR;
		detail(out->detail, sizeof(out->detail), "lookup failed: %s", rec->detail);
		goto done;
	}
	if (st != DMARC_FOUND) {
		out->verdict = POLICY_AUTH_FAIL;
		detail(out->detail, sizeof(out->detail), "no DMARC record");
		goto done;
	}
	out->found = true;
	bw_strlcpy(out->domain, rec->domain, sizeof(out->domain));
	bw_strlcpy(out->method, dmarc_method_name(rec->method), sizeof(out->method));
	bw_strlcpy(out->policy,
		   dmarc_policy_name(dmarc_effective_policy(rec, from_domain, why, sizeof(why))),
		   sizeof(out->policy));
	out->meets = dmarc_policy_meets(rec, from_domain, (enum dmarc_policy)min, why, sizeof(why));
	if (!out->meets) {
		out->verdict = POLICY_AUTH_FAIL;
		detail(out->detail, sizeof(out->detail), "policy too weak: %s", why);
		goto done;
	}
	out->aligned = dmarc_aligned(rec, from_domain, dkim_domains, n_dkim, mail_domain, spf_pass,
				     why, sizeof(why));
	if (!out->aligned) {
		out->verdict = POLICY_AUTH_FAIL;
		detail(out->detail, sizeof(out->detail), "would not align: %s", why);
		goto done;
	}
	out->verdict = POLICY_AUTH_PASS;
	detail(out->detail, sizeof(out->detail), "%s", why);
done:
	free(rec);
}
