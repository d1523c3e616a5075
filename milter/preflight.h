/*
 * preflight.h - SPF and DMARC as receivers will judge our mail, for the
 * policy's env callbacks: a resolver and an SPF checker per configuration
 * snapshot (dns.nameservers/timeout/cache_ttl), shared by every thread.
 */
#ifndef BW_PREFLIGHT_H
#define BW_PREFLIGHT_H

#include "policy/policy.h"

struct preflight;

/* NULL with err filled when the resolver cannot be set up. */
struct preflight *preflight_new(const struct bw_settings *set, char *err, size_t errlen);
void preflight_free(struct preflight *p);

/* All lookups of one SMTP stage share one dns.timeout (resolver budget). */
void preflight_spf(struct preflight *p, const char *domain, const char *ip, struct policy_spf *out);
void preflight_dmarc(struct preflight *p, const char *from_domain, const char *const *dkim_domains,
		     size_t n_dkim, const char *mail_domain, bool spf_pass, enum bw_dmarc_p min,
		     struct policy_dmarc *out);
/* Open / close the stage's shared time budget (per thread). */
void preflight_stage_begin(struct preflight *p);
void preflight_stage_end(void);

#endif
