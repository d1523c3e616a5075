/*
 * preflight.h - SPF and DMARC as receivers will judge our mail, for the
 * policy's env callbacks: a resolver and an SPF checker per configuration
 * snapshot (dns.nameservers/timeout/cache_ttl), shared by every thread.
 */
#ifndef BW_PREFLIGHT_H
#define BW_PREFLIGHT_H

#include "dns/resolver.h"
#include "policy/policy.h"

struct preflight;

/* NULL with err filled when the resolver cannot be set up. */
struct preflight *preflight_new(const struct bw_settings *set, char *err, size_t errlen);
void preflight_free(struct preflight *p);

/* Start budget b for one SMTP stage: every lookup made with it shares one
 * dns.timeout. The caller owns b (the message context holds it). */
void preflight_budget_start(struct preflight *p, struct resolver_budget *b);
/* SPF and DMARC within budget b (NULL: each call a timeout of its own). */
void preflight_spf(struct preflight *p, const struct resolver_budget *b, const char *domain,
		   const char *ip, struct policy_spf *out);
void preflight_dmarc(struct preflight *p, const struct resolver_budget *b, const char *from_domain,
		     const char *const *dkim_domains, size_t n_dkim, const char *mail_domain,
		     bool spf_pass, enum bw_dmarc_p min, struct policy_dmarc *out);

#endif
